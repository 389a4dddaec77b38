/*
 * cycle_check: COMPCOLL_KEY=auto learns one cycle of calls on every rank
 * when the ranks' allocators hand their buffers out differently
 * (libcompcoll(7), TENSOR IDENTITY AND MEMORY).
 *
 *   cycle_check [--steps N]
 *
 * A step is three calls: X (1000 floats), Y1 and Y2 (1500 each), in
 * buffers a, b, c that every rank reuses, except in step 1:
 *   rank 0  passes three new buffers (its buffers show nothing);
 *   rank 1  passes a new buffer for X and Y1 in c, Y2 in b (its buffers
 *           show two cycles in the window: Y1 and Y2 came back swapped);
 *   rank 2+ passes a, b, c (its buffers show the cycle's end at step 1).
 * The ranks must agree on a cycle of three calls: with two ranks at the
 * start of step 2 (rank 0's window of six calls, all in new buffers, could
 * be one cycle of six; rank 1's cannot), with three at the start of step 1.
 * Rank 0's memories then show it, in the statistics JSON it writes at
 * MPI_Finalize (COMPCOLL_STATS must name a .json file): with two ranks,
 * six tensors, X, Y1 and Y2 with every call but step 1's and the three of
 * step 1 with one call each (a cycle of six would give each of the six
 * half the calls); with three ranks, three tensors with every call.
 * Every call's output must also hold the same bits on every rank.
 * Gradients are random.  Prints a verdict line; exits 0 when all hold.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define N_X 1000
#define N_Y 1500

static float *xmalloc_floats(int n)
{
    return xmalloc((size_t)n * sizeof(float));
}

/* One call: buf gets this step's random gradient; the output, in out,
 * must hold the same bits on every rank. */
static void call(float *buf, float *out, int n, int step, int which)
{
    uint64_t s  = ((uint64_t)world_rank << 40) ^ ((uint64_t)step << 8) ^
                  (uint64_t)which;
    float   *lo = xmalloc_floats(n), *hi = xmalloc_floats(n);
    int      i;

    for (i = 0; i < n; i++) {
        buf[i] = (float)((double)(splitmix64(&s) >> 11) /
                             9007199254740992.0 -
                         0.5);
    }
    if (MPI_Allreduce(buf, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS) {
        fail("step %d, call %d: MPI_Allreduce failed", step, which);
    }
    PMPI_Allreduce(out, lo, n, MPI_UINT32_T, MPI_MIN, MPI_COMM_WORLD);
    PMPI_Allreduce(out, hi, n, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD);
    if (memcmp(lo, hi, (size_t)n * sizeof(float)) != 0) {
        fail("step %d, call %d: the ranks' outputs differ", step, which);
    }
    free(lo);
    free(hi);
}

/* The "count" and "calls" of each entry of the JSON's "tensors" array, in
 * order; the number of entries, or -1 when the file cannot be read. */
static int read_tensors(const char *path, long *count, long *calls, int max)
{
    FILE *f = fopen(path, "r");
    char *text, *p;
    long  len;
    int   n = 0;

    if (f == NULL) {
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (text = calloc(1, len + 1)) == NULL) {
        fclose(f);
        return -1;
    }
    if (fread(text, 1, len, f) != (size_t)len) {
        free(text);
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strstr(text, "\"tensors\"");
    while (p != NULL && n < max && (p = strstr(p, "\"count\":")) != NULL) {
        count[n] = strtol(p + 8, &p, 10);
        if ((p = strstr(p, "\"calls\":")) == NULL) {
            break;
        }
        calls[n++] = strtol(p + 8, &p, 10);
    }
    free(text);
    return n;
}

int main(int argc, char **argv)
{
    const char *json = getenv("COMPCOLL_STATS");
    int         steps = 6, step, i, all_ok, who;
    float      *a, *b, *c, *out, *fresh[3] = {NULL, NULL, NULL};

    check_name = "cycle_check";
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0) {
            steps = (int)arg_long(argc, argv, &i, 3, 1000);
        } else {
            die("unknown option %s", argv[i]);
        }
    }
    if (world_size < 2 || json == NULL || strlen(json) < 5 ||
        strcmp(json + strlen(json) - 5, ".json") != 0) {
        die("needs 2 or more ranks and COMPCOLL_STATS=FILE.json");
    }
    a   = xmalloc_floats(N_X);
    b   = xmalloc_floats(N_Y);
    c   = xmalloc_floats(N_Y);
    out = xmalloc_floats(N_Y);
    for (step = 0; step < steps; step++) {
        float *x = a, *y1 = b, *y2 = c;

        if (step == 1 && world_rank == 0) { /* kept: no address comes back */
            x  = fresh[0] = xmalloc_floats(N_X);
            y1 = fresh[1] = xmalloc_floats(N_Y);
            y2 = fresh[2] = xmalloc_floats(N_Y);
        } else if (step == 1 && world_rank == 1) {
            x  = fresh[0] = xmalloc_floats(N_X);
            y1 = c;
            y2 = b;
        }
        call(x, out, N_X, step, 0);
        call(y1, out, N_Y, step, 1);
        call(y2, out, N_Y, step, 2);
    }
    all_ok = check_verdict(&who);
    MPI_Finalize();
    for (i = 0; i < 3; i++) {
        free(fresh[i]);
    }
    free(a);
    free(b);
    free(c);
    free(out);
    if (world_rank != 0) {
        return all_ok ? 0 : 1;
    }
    if (all_ok) {
        /* rank 0's tensors, in the order it made them */
        const long two[6][2] = {{N_X, steps - 1}, {N_Y, steps - 1},
                                {N_Y, steps - 1}, {N_X, 1},
                                {N_Y, 1},         {N_Y, 1}};
        const long more[3][2] = {{N_X, steps}, {N_Y, steps}, {N_Y, steps}};
        const long (*want)[2] = world_size == 2 ? two : more;
        const int  nwant      = world_size == 2 ? 6 : 3;
        long       count[8], calls[8];
        int        n = read_tensors(json, count, calls, 8);

        if (n != nwant) {
            fail("rank 0's statistics list %d tensors where a cycle of "
                 "three calls gives %d", n, nwant);
        }
        for (i = 0; n_fail == 0 && i < n; i++) {
            if (count[i] != want[i][0] || calls[i] != want[i][1]) {
                fail("tensor %d of rank 0: %ld elements and %ld calls, "
                     "where a cycle of three gives %ld and %ld",
                     i, count[i], calls[i], want[i][0], want[i][1]);
            }
        }
        who    = 0;
        all_ok = (n_fail == 0);
    }
    if (all_ok) {
        printf("# cycle_check: ok: P=%d, %d steps: one cycle of three calls "
               "on every rank\n", world_size, steps);
    } else {
        printf("# cycle_check: FAILED (P=%d); first failure on rank %d: %s\n",
               world_size, who, first_fail);
    }
    return all_ok ? 0 : 1;
}
