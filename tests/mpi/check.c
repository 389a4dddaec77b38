#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *check_name = "check";
int         world_rank, world_size;
int         n_fail;
char        first_fail[2048];

void fail(const char *fmt, ...)
{
    char    msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n_fail == 0) {
        snprintf(first_fail, sizeof(first_fail), "%s", msg);
    }
    if (n_fail < 4) {
        fprintf(stderr, "# rank %d: %s\n", world_rank, msg);
    }
    n_fail++;
}

void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "# rank %d: %s: ", world_rank, check_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    PMPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);

    if (p == NULL) {
        die("out of memory (%zu bytes)", bytes);
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL) {
        die("out of memory (%zu x %zu bytes)", n, size);
    }
    return p;
}

const char *env(const char *name)
{
    const char *v = getenv(name);

    return (v != NULL && *v != '\0') ? v : NULL;
}

long env_long(const char *name, long dflt)
{
    const char *v = env(name);

    return v ? strtol(v, NULL, 10) : dflt;
}

long check_k(long n, long calls)
{
    const long   ratio  = env_long("COMPCOLL_RATIO", 100);
    const long   warmup = env_long("COMPCOLL_WARMUP", 0);
    const long   ramp   = env_long("COMPCOLL_RAMP", 0);
    const long   c      = calls > warmup ? calls - warmup : 0;
    const double start  = ratio < 4 ? (double)ratio : 4.0;
    long         k;

    if (c >= ramp) {
        return (n + ratio - 1) / ratio;
    }
    k = (long)ceil((double)n /
                   (start * pow((double)ratio / start, (double)c / ramp)));
    return k < 1 ? 1 : k > n ? n : k;
}

long arg_long(int argc, char **argv, int *i, long lo, long hi)
{
    char *end;
    long  v;

    if (*i + 1 >= argc) {
        die("%s needs a value", argv[*i]);
    }
    errno = 0;
    v     = strtol(argv[*i + 1], &end, 10);
    if (errno || *end || v < lo || v > hi) {
        die("%s %s: expected an integer from %ld to %ld", argv[*i],
            argv[*i + 1], lo, hi);
    }
    (*i)++;
    return v;
}

uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const char *check_failed_alike(int rc, double dt, MPI_Comm comm, int *cls,
                               double *dt_max, char *why, size_t len)
{
    int mine = 0, lo, hi;

    if (rc != MPI_SUCCESS) {
        MPI_Error_class(rc, &mine);
    }
    PMPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, comm);
    PMPI_Allreduce(&mine, &hi, 1, MPI_INT, MPI_MAX, comm);
    PMPI_Allreduce(&dt, dt_max, 1, MPI_DOUBLE, MPI_MAX, comm);
    *cls = lo;
    if (lo == MPI_SUCCESS) {
        snprintf(why, len, "it was to fail on every rank; some rank got "
                 "MPI_SUCCESS (this one %d)", rc);
    } else if (lo != hi) {
        snprintf(why, len, "the failed call's error classes differ between "
                 "ranks (%d .. %d)", lo, hi);
    } else if (*dt_max > 10.0) {
        snprintf(why, len, "the failed call took %.1f s", *dt_max);
    } else {
        return NULL;
    }
    return why;
}

int check_verdict(int *who)
{
    int ok = (n_fail == 0), all_ok, j;

    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    j = ok ? world_size : world_rank;
    PMPI_Allreduce(&j, who, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok && *who != 0) {
        if (world_rank == *who) {
            PMPI_Send(first_fail, (int)sizeof(first_fail), MPI_CHAR, 0, 7,
                      MPI_COMM_WORLD);
        } else if (world_rank == 0) {
            PMPI_Recv(first_fail, (int)sizeof(first_fail), MPI_CHAR, *who, 7,
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
    }
    return all_ok;
}
