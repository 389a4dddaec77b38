/*
 * The harness the method checks share (scalecom_check, sparse_check):
 * failure reporting, the verdict over ranks, allocation that cannot fail
 * quietly, reading the environment and options, and the generator of the
 * gradients' random numbers.
 */
#ifndef CHECK_H
#define CHECK_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

extern const char *check_name; /* the program, for messages */
extern int         world_rank, world_size;
extern int         n_fail;             /* failures on this rank */
extern char        first_fail[2048];   /* the first one's message */

/* A failed check: counted, the first kept, the first few printed. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A broken set-up: the job ends (exit 2). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
    __attribute__((noreturn));
void *xmalloc(size_t bytes);
void *xcalloc(size_t n, size_t size);

/* The variable's value, NULL when unset or empty (the library validates
 * it; a check only reads it back). */
const char *env(const char *name);
long        env_long(const char *name, long dflt);
/*
 * The k the library's scalecom and topk send for a call of n elements that
 * is the tensor's call number `calls` (counted from 0 over all its calls),
 * from COMPCOLL_RATIO, COMPCOLL_WARMUP and COMPCOLL_RAMP as libcompcoll(7)
 * specifies them: ceil(n / ratio), the ratio rising geometrically from
 * min(4, RATIO) to RATIO over the RAMP calls after the warm-up.
 */
long check_k(long n, long calls);
/* argv[*i + 1] as an integer in [lo, hi], *i moved past it. */
long arg_long(int argc, char **argv, int *i, long lo, long hi);

uint64_t splitmix64(uint64_t *s);

/*
 * Collective over comm, for a call that was to fail on every rank
 * (--fail-call): this rank's return code rc and its time dt.  NULL when it
 * failed on every rank with one error class within 10 s (*cls that class,
 * *dt_max the longest time); else why not, in why.
 */
const char *check_failed_alike(int rc, double dt, MPI_Comm comm, int *cls,
                               double *dt_max, char *why, size_t len);

/*
 * Collective over MPI_COMM_WORLD: whether every rank passed, and *who,
 * the lowest rank that did not (whose first failure is then in rank 0's
 * first_fail).
 */
int check_verdict(int *who);

#endif
