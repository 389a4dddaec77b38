#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* newlocale, uselocale under -std=c11 */
#endif

#include "compcoll_locale.h"

#include <locale.h>
#include <pthread.h>

/* Made once, on first use, and kept for the life of the process. */
static pthread_once_t locale_once = PTHREAD_ONCE_INIT;
static locale_t       locale_c;

static void locale_make(void)
{
    locale_c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

void compcoll_c_numeric_begin(compcoll_c_numeric_t *scope)
{
    locale_t saved = (locale_t)0;

    pthread_once(&locale_once, locale_make);
    if (locale_c != (locale_t)0) {
        saved = uselocale(locale_c);
    }
    scope->saved = (void *)saved;
}

void compcoll_c_numeric_end(compcoll_c_numeric_t *scope)
{
    if (scope->saved != NULL) {
        uselocale((locale_t)scope->saved);
        scope->saved = NULL;
    }
}
