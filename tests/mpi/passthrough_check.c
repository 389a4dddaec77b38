/*
 * tests/mpi/passthrough_check.c: calls libcompcoll must not touch are
 * bit-identical to PMPI_Allreduce.
 *
 * A plain MPI program that gets libcompcoll through LD_PRELOAD.  Every case
 * calls MPI_Allreduce (intercepted) and PMPI_Allreduce (not) on the same
 * inputs and compares the results byte for byte: other datatypes, other
 * ops, a user-defined op, a derived datatype, MPI_FLOAT/MPI_SUM below
 * COMPCOLL_MIN_COUNT (and count 0), MPI_IN_PLACE, and an
 * intercommunicator.  With --all, the library is expected to be disabled
 * (COMPCOLL_ENABLE=n or COMPCOLL_METHOD=none), so MPI_FLOAT/MPI_SUM at and
 * above COMPCOLL_MIN_COUNT must pass through as well.
 *
 * Rank 0 prints one "# ok"/"# FAILED" line per case; exit status 0 when
 * every case passed on every rank, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static int world_rank, world_size;
static int n_fail;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Inputs that differ per rank and per case; floats in [-1, 1]. */
static void fill(void *buf, int count, MPI_Datatype dt, int salt)
{
    uint64_t s = (uint64_t)(world_rank + 1) * 1000003u + (uint64_t)salt;
    int      i;

    for (i = 0; i < count; i++) {
        uint64_t x = splitmix64(&s);

        if (dt == MPI_DOUBLE) {
            ((double *)buf)[i] = 2.0 * (double)(x >> 11) * 0x1p-53 - 1.0;
        } else if (dt == MPI_INT) {
            ((int *)buf)[i] = (int)(x % 2000001) - 1000000;
        } else {
            ((float *)buf)[i] = (float)(2.0 * (double)(x >> 11) * 0x1p-53 - 1.0);
        }
    }
}

static void my_float_sum(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    int i;

    (void)dt;
    for (i = 0; i < *len; i++) {
        ((float *)inout)[i] += ((float *)in)[i];
    }
}

/*
 * One case: MPI_Allreduce against PMPI_Allreduce.  elem is the size of
 * one element of dt; the fill uses base (the element type underneath).
 */
static void check(const char *what, int count, MPI_Datatype dt,
                  MPI_Datatype base, size_t elem, MPI_Op op, MPI_Comm comm,
                  int inplace, int salt)
{
    size_t bytes = (size_t)count * elem;
    char  *in    = malloc(bytes + 1);
    char  *got   = malloc(bytes + 1);
    char  *want  = malloc(bytes + 1);
    int    rc, rc_pmpi, ok = 1, all_ok = 0;

    fill(in, count, base, salt);
    memcpy(got, in, bytes);
    memcpy(want, in, bytes);
    rc = MPI_Allreduce(inplace ? MPI_IN_PLACE : in, got, count, dt, op, comm);
    rc_pmpi =
        PMPI_Allreduce(inplace ? MPI_IN_PLACE : in, want, count, dt, op, comm);
    if (rc != MPI_SUCCESS || rc_pmpi != MPI_SUCCESS) {
        fprintf(stderr, "# rank %d: %s: MPI_Allreduce returned %d, "
                "PMPI_Allreduce %d\n", world_rank, what, rc, rc_pmpi);
        ok = 0;
    } else if (memcmp(got, want, bytes) != 0) {
        size_t b = 0;

        while (got[b] == want[b]) {
            b++;
        }
        fprintf(stderr, "# rank %d: %s: differs from PMPI_Allreduce, first "
                "at element %zu\n", world_rank, what, b / elem);
        ok = 0;
    }
    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (world_rank == 0) {
        printf("# %s %s\n", all_ok ? "ok" : "FAILED", what);
    }
    if (!all_ok) {
        n_fail++;
    }
    free(in);
    free(got);
    free(want);
}

int main(int argc, char **argv)
{
    const char  *v         = getenv("COMPCOLL_MIN_COUNT");
    long         min_count = (v && *v) ? strtol(v, NULL, 10) : 8192;
    int          all       = argc > 1 && strcmp(argv[1], "--all") == 0;
    int          big       = min_count < 4096 ? 4096 : (int)min_count;
    int          below     = min_count > 1 ? (int)min_count - 1 : 0;
    MPI_Op       user_sum;
    MPI_Datatype contig;
    char         what[128];

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        return 2;
    }
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (min_count > (1 << 20)) { /* keep the buffers small */
        big   = 1 << 20;
        below = 1 << 20;
    }

    check("MPI_DOUBLE MPI_SUM", big, MPI_DOUBLE, MPI_DOUBLE, 8, MPI_SUM,
          MPI_COMM_WORLD, 0, 1);
    check("MPI_DOUBLE MPI_SUM in place", big, MPI_DOUBLE, MPI_DOUBLE, 8,
          MPI_SUM, MPI_COMM_WORLD, 1, 2);
    check("MPI_INT MPI_SUM", big, MPI_INT, MPI_INT, 4, MPI_SUM,
          MPI_COMM_WORLD, 0, 3);
    check("MPI_FLOAT MPI_MAX", big, MPI_FLOAT, MPI_FLOAT, 4, MPI_MAX,
          MPI_COMM_WORLD, 0, 4);
    check("MPI_FLOAT MPI_MIN in place", big, MPI_FLOAT, MPI_FLOAT, 4, MPI_MIN,
          MPI_COMM_WORLD, 1, 5);
    check("MPI_FLOAT MPI_PROD", big, MPI_FLOAT, MPI_FLOAT, 4, MPI_PROD,
          MPI_COMM_WORLD, 0, 6);

    MPI_Op_create(my_float_sum, 1, &user_sum);
    check("MPI_FLOAT user-defined sum op", big, MPI_FLOAT, MPI_FLOAT, 4,
          user_sum, MPI_COMM_WORLD, 0, 7);
    /* MPICH defines MPI_SUM on predefined types only: a user op again */
    MPI_Type_contiguous(1, MPI_FLOAT, &contig);
    MPI_Type_commit(&contig);
    check("contiguous(1, MPI_FLOAT) user-defined sum op", big, contig,
          MPI_FLOAT, 4, user_sum, MPI_COMM_WORLD, 0, 8);
    MPI_Type_free(&contig);
    MPI_Op_free(&user_sum);

    snprintf(what, sizeof(what), "MPI_FLOAT MPI_SUM count %d (< MIN_COUNT)",
             below);
    check(what, below, MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM, MPI_COMM_WORLD, 0, 9);
    snprintf(what, sizeof(what),
             "MPI_FLOAT MPI_SUM count %d (< MIN_COUNT) in place", below);
    check(what, below, MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM, MPI_COMM_WORLD, 1, 10);
    check("MPI_FLOAT MPI_SUM count 1", 1, MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM,
          MPI_COMM_WORLD, 0, 11);
    check("MPI_FLOAT MPI_SUM count 0", 0, MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM,
          MPI_COMM_WORLD, 0, 12);

    if (world_size >= 2) {
        /* even and odd world ranks, joined by an intercommunicator */
        MPI_Comm half, inter;
        int      color = world_rank % 2;

        PMPI_Comm_split(MPI_COMM_WORLD, color, world_rank, &half);
        PMPI_Intercomm_create(half, 0, MPI_COMM_WORLD, 1 - color, 99, &inter);
        check("MPI_FLOAT MPI_SUM on an intercommunicator", big, MPI_FLOAT,
              MPI_FLOAT, 4, MPI_SUM, inter, 0, 13);
        PMPI_Comm_free(&inter);
        PMPI_Comm_free(&half);
    }

    if (all) {
        check("MPI_FLOAT MPI_SUM at MIN_COUNT (library disabled)", big,
              MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM, MPI_COMM_WORLD, 0, 14);
        check("MPI_FLOAT MPI_SUM at MIN_COUNT in place (library disabled)",
              big, MPI_FLOAT, MPI_FLOAT, 4, MPI_SUM, MPI_COMM_WORLD, 1, 15);
    }

    MPI_Finalize();
    return n_fail ? 1 : 0;
}
