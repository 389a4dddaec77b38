/*
 * Minimal TAP producer for the C tests (header-only).
 *
 *   tap_plan(n);  ok(cond, "fmt", ...);  skip("why", ...);
 *   tap_skip_all("why");
 *   return tap_done();   -> 0 when every test passed and the plan was met
 */
#ifndef COMPCOLL_TAP_H
#define COMPCOLL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    fflush(stdout);
    exit(77);
}

static inline void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static inline int ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_run++;
    if (!cond) {
        tap_failed++;
    }
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    return cond;
}

/* One test that cannot run here, counted as passed with the reason. */
static inline void skip(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline void skip(const char *fmt, ...)
{
    va_list ap;

    tap_run++;
    printf("ok %d # skip ", tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static inline int tap_done(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
    } else if (tap_planned != tap_run) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
        return 1;
    }
    return tap_failed ? 1 : 0;
}

#endif
