/*
 * libcompcoll: numbers read and written in the "C" locale, whatever the
 * program chose with setlocale().  A program that runs under, say,
 * LC_ALL=de_DE.UTF-8 and calls setlocale(LC_ALL, "") before MPI_Init would
 * otherwise have COMPCOLL_BETA=0.5 rejected (strtod wants "0,5") and get a
 * statistics JSON with decimal commas.
 */
#ifndef COMPCOLL_LOCALE_H
#define COMPCOLL_LOCALE_H

/* What compcoll_c_numeric_begin replaced, for compcoll_c_numeric_end (a
 * locale_t, which only locale.c needs POSIX 2008 to name). */
typedef struct {
    void *saved; /* NULL: nothing was replaced */
} compcoll_c_numeric_t;

/*
 * From here to compcoll_c_numeric_end, this thread (only) formats and
 * parses numbers as the "C" locale does.  Where the "C" locale object
 * cannot be made (no memory), the thread keeps its locale.
 */
void compcoll_c_numeric_begin(compcoll_c_numeric_t *scope);
void compcoll_c_numeric_end(compcoll_c_numeric_t *scope);

#endif
