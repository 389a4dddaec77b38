/*
 * tests/mpi/threads_check.c: libcompcoll under MPI_THREAD_MULTIPLE and with
 * nonblocking calls, against the same calls made one after the other.
 *
 * A plain MPI program (the library comes by LD_PRELOAD).  Every
 * communicator's compressed calls depend only on that communicator's own
 * state (its leader rotation and memories), so a sequence of calls made
 * from a thread, or started as nonblocking calls, must give the same bits
 * as the same sequence made by one thread with MPI_Allreduce on a fresh
 * communicator: that replay is the oracle (tests/mpi/scalecom_check.c
 * checks the blocking calls against the method itself).  Each output must
 * also be compressed: exactly k = ceil(n / COMPCOLL_RATIO) nonzero sums.
 *
 *   --mode dup   T threads, each with its own MPI_Comm_dup, blocking sums
 *   --mode bg    one background thread makes every sum while the main
 *                thread makes small passthrough sums of its own (the shape
 *                of Horovod and of PyTorch's MPI process group)
 *   --mode nb    nonblocking sums started per step, a blocking one among
 *                them, completed by MPI_Waitall, MPI_Waitany, MPI_Test and
 *                MPI_Request_free
 *   --threads T  (dup; default 2)   --steps S (default 4)
 *   --count N    elements of the first tensor (default 20000)
 *   --release R  how each job's communicator goes at the end: free
 *                (MPI_Comm_free, default) or disconnect (one more
 *                nonblocking sum started on it, MPI_Comm_disconnect, which
 *                must let it finish, then MPI_Wait: it must be compressed)
 *   --disconnects N[,M]  with --release disconnect: the library must
 *                disconnect its own communicators of the job's as well:
 *                PMPI_Comm_disconnect, which this program defines to count
 *                the calls, is called N (or M) times in all on each rank
 *                (the user's call, the library's control duplicate, the
 *                MPI transport's, a hierarchical node's and leaders'; the
 *                UCX transport holds none)
 *
 * Built with STUB_DEVICE it is threads_stub_check (tests/gpu): every sum's
 * buffers come from an arena that the stand-in CUDA driver
 * ($TEST_STUB_LIBCUDA, tests/gpu/stub_cuda.c) reports as device memory,
 * so that the library's device path (its device memories, its staging
 * buffers) runs under the same threads.
 *
 * Exit status 0 when every rank agrees everything matched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#ifdef STUB_DEVICE
#include "../gpu/stub_arena.h"
#endif

#define NT 3 /* tensors per step */

static int  nthreads = 2, steps = 4, count = 20000, ratio = 100;
static char mode[16] = "dup", release[16] = "free";
static int  disconnects_want[2] = {2, 2}; /* --disconnects */
static int  world_rank;

/* The sums' buffers, zeroed: malloc'd, or from the stand-in device's arena
 * (tests/gpu/stub_arena.h). */
#ifdef STUB_DEVICE
static void buf_setup(void)
{
    const char *why = stub_arena_open();

    if (why != NULL) {
        fprintf(stderr, "# threads_stub_check: %s\n", why);
        exit(3);
    }
}

static void *buf_alloc(size_t bytes)
{
    void *p = stub_arena_alloc(bytes);

    if (p == NULL) {
        fprintf(stderr, "# threads_stub_check: the arena is full\n");
        abort();
    }
    return p;
}

static void buf_free(void *p)
{
    (void)p;
}
#else
static void buf_setup(void)
{
}

static void *buf_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);

    if (p == NULL) {
        abort();
    }
    return p;
}

static void buf_free(void *p)
{
    free(p);
}
#endif

typedef struct {
    MPI_Comm comm;
    int      id;        /* whose gradients */
    float   *out;       /* steps * NT * n_max outputs */
    int      rc;
} job_t;

static int tensor_count(int j)
{
    return count + 17 * j; /* three different counts */
}

static void gradient(float *g, int n, int id, int step, int j)
{
    uint64_t s = ((uint64_t)world_rank << 40) ^ ((uint64_t)id << 24) ^
                 ((uint64_t)step << 8) ^ (uint64_t)j;
    int      i;

    for (i = 0; i < n; i++) {
        s += 0x9e3779b97f4a7c15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        g[i] = (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        if (g[i] == 0.0f) {
            g[i] = 0.5f;
        }
    }
}

static float *slot(job_t *jb, int step, int j)
{
    return jb->out + ((size_t)step * NT + j) * (size_t)tensor_count(NT);
}

/* The sequence, blocking, on jb->comm. */
static void *run_blocking(void *arg)
{
    job_t *jb = arg;
    float *g  = buf_alloc((size_t)tensor_count(NT) * sizeof(float));
    int    step, j;

    for (step = 0; step < steps && jb->rc == MPI_SUCCESS; step++) {
        for (j = 0; j < NT && jb->rc == MPI_SUCCESS; j++) {
            gradient(g, tensor_count(j), jb->id, step, j);
            jb->rc = MPI_Allreduce(g, slot(jb, step, j), tensor_count(j),
                                   MPI_FLOAT, MPI_SUM, jb->comm);
        }
    }
    buf_free(g);
    return NULL;
}

/* The sequence with nonblocking calls: per step, tensor 0 and 2 start
 * nonblocking, tensor 1 is blocking in between; completion varies. */
static void run_nonblocking(job_t *jb)
{
    float      *g[NT];
    MPI_Request req[NT];
    MPI_Status  st[NT];
    int         step, j, idx, done;

    for (j = 0; j < NT; j++) {
        g[j] = buf_alloc((size_t)tensor_count(j) * sizeof(float));
    }
    for (step = 0; step < steps && jb->rc == MPI_SUCCESS; step++) {
        for (j = 0; j < NT; j++) {
            gradient(g[j], tensor_count(j), jb->id, step, j);
        }
        jb->rc = MPI_Iallreduce(g[0], slot(jb, step, 0), tensor_count(0),
                                MPI_FLOAT, MPI_SUM, jb->comm, &req[0]);
        jb->rc |= MPI_Allreduce(g[1], slot(jb, step, 1), tensor_count(1),
                                MPI_FLOAT, MPI_SUM, jb->comm);
        jb->rc |= MPI_Iallreduce_c(g[2], slot(jb, step, 2),
                                   (MPI_Count)tensor_count(2), MPI_FLOAT,
                                   MPI_SUM, jb->comm, &req[2]);
        switch (step % 3) {
        case 0:
            req[1] = MPI_REQUEST_NULL;
            jb->rc |= MPI_Waitall(NT, req, st); /* (MPI_STATUSES_IGNORE
                                                  * draws a false alarm) */
            break;
        case 1:
            jb->rc |= MPI_Waitany(1, &req[2], &idx, MPI_STATUS_IGNORE);
            for (done = 0; !done && jb->rc == MPI_SUCCESS;) {
                jb->rc |= MPI_Test(&req[0], &done, MPI_STATUS_IGNORE);
            }
            break;
        default:
            /* freed before completion: a later blocking call on the
             * communicator still comes after it */
            jb->rc |= MPI_Request_free(&req[0]);
            jb->rc |= MPI_Wait(&req[2], MPI_STATUS_IGNORE);
            jb->rc |= PMPI_Barrier(jb->comm);
            break;
        }
    }
    if (jb->rc == MPI_SUCCESS && steps % 3 == 0) {
        /* the last step freed a request: one more blocking call orders it */
        float one = 1.0f, sum;

        jb->rc = MPI_Allreduce(&one, &sum, 1, MPI_FLOAT, MPI_SUM, jb->comm);
    }
    for (j = 0; j < NT; j++) {
        buf_free(g[j]);
    }
}

/* The main thread's own traffic while a background thread sums. */
static void *run_background(void *arg)
{
    return run_blocking(arg);
}

static job_t job_new(MPI_Comm base, int id)
{
    job_t jb;

    memset(&jb, 0, sizeof(jb));
    jb.id  = id;
    jb.out = buf_alloc((size_t)steps * NT * (size_t)tensor_count(NT) *
                       sizeof(float));
    MPI_Comm_dup(base, &jb.comm);
    return jb;
}

/* The nonzero sums of an output of n, and how many a compressed one has. */
static int nonzeros(const float *a, int n)
{
    int i, nz = 0;

    for (i = 0; i < n; i++) {
        nz += (a[i] != 0.0f);
    }
    return nz;
}

static int want_k(int n)
{
    return (n + ratio - 1) / ratio;
}

static int compare(job_t *got, job_t *want, const char *what)
{
    int step, j, i, nz;

    if (got->rc != MPI_SUCCESS || want->rc != MPI_SUCCESS) {
        printf("# rank %d %s: a call returned %d / %d\n", world_rank, what,
               got->rc, want->rc);
        return 0;
    }
    for (step = 0; step < steps; step++) {
        for (j = 0; j < NT; j++) {
            const int    n = tensor_count(j);
            const float *a = slot(got, step, j), *b = slot(want, step, j);

            if (memcmp(a, b, (size_t)n * sizeof(float)) != 0) {
                for (i = 0; i < n && memcmp(&a[i], &b[i], 4) == 0; i++) {
                }
                printf("# rank %d %s: step %d tensor %d differs from the "
                       "one-thread blocking replay at %d (%.9g, want %.9g)\n",
                       world_rank, what, step, j, i, a[i], b[i]);
                return 0;
            }
            nz = nonzeros(a, n);
            if (nz != want_k(n)) {
                printf("# rank %d %s: step %d tensor %d has %d nonzero sums, "
                       "want k = %d (not compressed?)\n",
                       world_rank, what, step, j, nz, want_k(n));
                return 0;
            }
        }
    }
    return 1;
}

/*
 * This process's PMPI_Comm_disconnect calls, the preloaded library's
 * included: the executable's definition (exported, tests/Makefile.am)
 * comes first in the lookup, before the MPI library's, which it calls.
 */
static int disconnects;

int PMPI_Comm_disconnect(MPI_Comm *comm)
{
    static int (*next)(MPI_Comm *);

    if (next == NULL) {
        *(void **)&next = dlsym(RTLD_NEXT, "PMPI_Comm_disconnect");
        if (next == NULL) {
            fprintf(stderr, "threads_check: no PMPI_Comm_disconnect after "
                            "this program's\n");
            abort();
        }
    }
    __atomic_add_fetch(&disconnects, 1, __ATOMIC_RELAXED);
    return next(comm);
}

/* The end of a job's communicator (--release); 1 when it went as it
 * should. */
static int release_comm(job_t *jb)
{
    const int   n = tensor_count(0);
    float      *g, *out;
    MPI_Request req;
    int         rc, nz, ok, seen;

    if (strcmp(release, "disconnect") != 0) {
        return MPI_Comm_free(&jb->comm) == MPI_SUCCESS;
    }
    g   = buf_alloc((size_t)n * sizeof(float));
    out = buf_alloc((size_t)n * sizeof(float));
    gradient(g, n, jb->id, steps, 0);
    rc = MPI_Iallreduce(g, out, n, MPI_FLOAT, MPI_SUM, jb->comm, &req);
    seen = __atomic_load_n(&disconnects, __ATOMIC_RELAXED);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Comm_disconnect(&jb->comm);
    }
    /* the user's, and at least the library's control duplicate */
    seen = __atomic_load_n(&disconnects, __ATOMIC_RELAXED) - seen;
    if (rc == MPI_SUCCESS) {
        rc = MPI_Wait(&req, MPI_STATUS_IGNORE);
    }
    nz = nonzeros(out, n);
    ok = (rc == MPI_SUCCESS && jb->comm == MPI_COMM_NULL && nz == want_k(n));
    if (!ok) {
        printf("# rank %d: a sum pending at MPI_Comm_disconnect: return %d, "
               "communicator %s, %d nonzero sums (want k = %d)\n",
               world_rank, rc, jb->comm == MPI_COMM_NULL ? "null" : "left",
               nz, want_k(n));
    }
    if (seen != disconnects_want[0] && seen != disconnects_want[1]) {
        printf("# rank %d: MPI_Comm_disconnect made %d PMPI_Comm_disconnect "
               "calls, want %d or %d: the library's own communicators of "
               "it are not all disconnected\n", world_rank, seen,
               disconnects_want[0], disconnects_want[1]);
        ok = 0;
    }
    buf_free(out);
    buf_free(g);
    return ok;
}

int main(int argc, char **argv)
{
    job_t     jobs[16], replay;
    pthread_t th[16];
    int       provided, i, ok = 1, all_ok;
    const char *r = getenv("COMPCOLL_RATIO");

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0) {
            nthreads = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--count") == 0) {
            count = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--mode") == 0) {
            snprintf(mode, sizeof(mode), "%s", argv[i + 1]);
        } else if (strcmp(argv[i], "--disconnects") == 0) {
            const char *comma = strchr(argv[i + 1], ',');

            disconnects_want[0] = atoi(argv[i + 1]);
            disconnects_want[1] = comma ? atoi(comma + 1)
                                        : disconnects_want[0];
        } else if (strcmp(argv[i], "--release") == 0) {
            snprintf(release, sizeof(release), "%s", argv[i + 1]);
        }
    }
    if (nthreads < 1 || nthreads > 16) {
        nthreads = 2;
    }
    ratio = r ? atoi(r) : 100;
    buf_setup();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    if (provided != MPI_THREAD_MULTIPLE) {
        if (world_rank == 0) {
            printf("# MPI_THREAD_MULTIPLE not provided (%d)\n", provided);
        }
        MPI_Finalize();
        return 1;
    }
    if (strcmp(mode, "nb") == 0) {
        nthreads = 1;
        jobs[0]  = job_new(MPI_COMM_WORLD, 0);
        run_nonblocking(&jobs[0]);
    } else if (strcmp(mode, "bg") == 0) {
        float small[64], sum[64];
        int   k;

        nthreads = 1;
        jobs[0]  = job_new(MPI_COMM_WORLD, 0);
        pthread_create(&th[0], NULL, run_background, &jobs[0]);
        for (k = 0; k < 64; k++) {
            small[k] = (float)(world_rank + k);
        }
        for (k = 0; k < 20; k++) {
            MPI_Allreduce(small, sum, 64, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        }
        pthread_join(th[0], NULL);
    } else {
        for (i = 0; i < nthreads; i++) {
            jobs[i] = job_new(MPI_COMM_WORLD, i);
        }
        for (i = 0; i < nthreads; i++) {
            pthread_create(&th[i], NULL, run_blocking, &jobs[i]);
        }
        for (i = 0; i < nthreads; i++) {
            pthread_join(th[i], NULL);
        }
    }
    for (i = 0; i < nthreads; i++) {
        replay = job_new(MPI_COMM_WORLD, i);
        run_blocking(&replay);
        ok &= compare(&jobs[i], &replay, mode);
        ok &= release_comm(&jobs[i]);
        MPI_Comm_free(&replay.comm);
        buf_free(replay.out);
        buf_free(jobs[i].out);
    }
    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (world_rank == 0) {
        printf("# threads_check --mode %s: %s\n", mode,
               all_ok ? "every output equals the one-thread replay"
                      : "FAILED");
    }
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
