/*
 * broken_check: after a call fails with a transport failure (run with
 * COMPCOLL_FAULT=transport:0:0), the communicator's calls pass through to
 * MPI; a nonblocking one, which the library's progress thread makes, must
 * not get in the way of the application's own collectives on the same
 * communicator.  Every rank starts an MPI_Iallreduce of float sums, then
 * makes a small MPI_Allreduce (passthrough) before waiting; the last rank
 * sleeps in between, so that the progress thread is well under way.  Both
 * sums must be exact on every rank.  Prints "# broken_check: ok" or FAILED;
 * exit 0 or 1.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const int n = 100000;
    int       provided, rank, size, i, rc, wrong = 0, ok, all_ok;
    float    *g, *out, one = 1.0f, small = 0.0f;
    MPI_Request req;

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g   = malloc((size_t)n * sizeof(float));
    out = malloc((size_t)n * sizeof(float));
    if (g == NULL || out == NULL) {
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (i = 0; i < n; i++) {
        g[i] = (float)(rank + 1) * 0.5f + (float)(i % 7);
    }
    /* call 0 fails (the injected fault); the communicator passes through */
    rc = MPI_Allreduce(g, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    ok = (rc != MPI_SUCCESS);
    rc = MPI_Iallreduce(g, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
    ok &= (rc == MPI_SUCCESS);
    if (rank == size - 1) {
        sleep(1);
    }
    ok &= (MPI_Allreduce(&one, &small, 1, MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD) == MPI_SUCCESS);
    ok &= (small == (float)size);
    ok &= (MPI_Wait(&req, MPI_STATUS_IGNORE) == MPI_SUCCESS);
    for (i = 0; i < n; i++) {
        /* sum over r of ((r + 1) / 2 + i % 7): exact in fp32 here */
        float want = (float)size * (float)(size + 1) * 0.25f +
                     (float)size * (float)(i % 7);

        wrong += (out[i] != want);
    }
    ok &= (wrong == 0);
    if (!ok) {
        printf("# rank %d: small sum %g (want %d), %d of %d wrong elements\n",
               rank, small, size, wrong, n);
    }
    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("# broken_check: %s (P=%d)\n", all_ok ? "ok" : "FAILED", size);
    }
    free(g);
    free(out);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
