/*
 * memcpy_bench: one host memory pass over a gradient, the yardstick of the
 * compressed call's host cost and the memory half of the emulated
 * cluster's floor.
 *
 *   memcpy_bench [-n ELEMENTS] [-r REPEATS]
 *
 * Copies ELEMENTS floats (default 25M = 100 MB) between two buffers that
 * were written beforehand (so no page faults are timed), REPEATS times
 * (default 10), and prints the median and the fastest seconds of one copy
 * and the rate of the fastest:
 *
 *   memcpy 100000000 bytes: 0.021300 s median, 0.019800 s min of 10 (5.05 GB/s copied)
 *
 * Built by the scripts with ${CC:-cc} -O2 when needed; no MPI.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long    n = 25000000, i;
    int     repeats = 10, r;
    float  *src, *dst;
    double *t, med, t0;
    size_t  bytes;

    for (r = 1; r < argc; r++) {
        if (strcmp(argv[r], "-n") == 0 && r + 1 < argc) {
            n = atol(argv[++r]);
        } else if (strcmp(argv[r], "-r") == 0 && r + 1 < argc) {
            repeats = atoi(argv[++r]);
        } else {
            fprintf(stderr, "usage: memcpy_bench [-n ELEMENTS] [-r REPEATS]\n");
            return 2;
        }
    }
    if (n < 1 || repeats < 1) {
        fprintf(stderr, "memcpy_bench: bad -n or -r\n");
        return 2;
    }
    bytes = (size_t)n * sizeof(float);
    src   = malloc(bytes);
    dst   = malloc(bytes);
    t     = malloc((size_t)repeats * sizeof(*t));
    if (src == NULL || dst == NULL || t == NULL) {
        fprintf(stderr, "memcpy_bench: out of memory\n");
        return 1;
    }
    for (i = 0; i < n; i++) {
        src[i] = (float)i;
    }
    memset(dst, 0, bytes);
    memcpy(dst, src, bytes); /* warm-up */
    for (r = 0; r < repeats; r++) {
        src[r % n] += 1.0f;
        t0   = now();
        memcpy(dst, src, bytes);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof(*t), cmp_double);
    med = (repeats % 2) ? t[repeats / 2]
                        : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
    printf("memcpy %zu bytes: %.6f s median, %.6f s min of %d (%.2f GB/s "
           "copied)\n",
           bytes, med, t[0], repeats, (double)bytes / t[0] * 1e-9);
    if (dst[n - 1] != src[n - 1]) {
        return 1;
    }
    free(src);
    free(dst);
    free(t);
    return 0;
}
