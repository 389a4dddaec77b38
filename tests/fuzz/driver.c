/*
 * The deterministic fuzz driver (fuzz.h): `make check` runs each target
 * program with no arguments.
 *
 *   fuzz_X [-n INPUTS] [-s SEED]     TAP: the seeds, one line per property,
 *                                    and that both outcomes were reached
 *   fuzz_X --corpus DIR [COUNT]      write COUNT valid inputs (default 64)
 *                                    into DIR, a seed corpus for libFuzzer
 *   fuzz_X --replay FILE...          run the target on files (a libFuzzer
 *                                    crash input, say) and report
 *
 * FUZZ_INPUTS in the environment sets INPUTS too.  Every input is copied
 * into a buffer of exactly its length, so that the sanitizer build catches
 * a read one byte past it.  The first input that breaks a property is
 * printed in hex with the seed and its number: `-s SEED` reproduces the run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

typedef struct {
    unsigned long n;         /* inputs that broke it */
    unsigned long first;     /* the first of them: its number */
    size_t        len;       /* and its bytes */
    uint8_t      *bytes;
} prop_tally_t;

static int run_one(const fuzz_target_t *t, const uint8_t *in, size_t len,
                   unsigned *broken)
{
    uint8_t *copy = malloc(len ? len : 1);
    int      res;

    if (copy == NULL) {
        fprintf(stderr, "fuzz: out of memory\n");
        exit(99);
    }
    memcpy(copy, in, len);
    *broken = 0;
    res     = t->one(copy, len, broken);
    free(copy);
    return res;
}

static void show_bytes(const uint8_t *b, size_t len)
{
    size_t i;

    for (i = 0; i < len && i < 96; i++) {
        printf("%s%02x", i % 32 == 0 ? (i ? "\n#     " : "#     ") : " ",
               b[i]);
    }
    printf("%s\n", len > 96 ? " ..." : "");
}

static void note(prop_tally_t *tally, unsigned broken, unsigned long at,
                 const uint8_t *in, size_t len)
{
    unsigned p;

    for (p = 0; p < FUZZ_MAX_PROPS; p++) {
        if (broken & (1u << p)) {
            if (tally[p].n++ == 0) {
                tally[p].first = at;
                tally[p].len   = len;
                tally[p].bytes = malloc(len ? len : 1);
                if (tally[p].bytes != NULL) {
                    memcpy(tally[p].bytes, in, len);
                }
            }
        }
    }
}

static int write_corpus(const fuzz_target_t *t, uint64_t seed, const char *dir,
                        unsigned long count)
{
    fuzz_rng_t    rng = {seed};
    uint8_t      *buf = malloc(t->max_len);
    unsigned long i;
    int           bad = 0;

    for (i = 0; i < count && buf != NULL; i++) {
        char   path[4096];
        size_t len = t->seed(&rng, buf, t->max_len, &bad);
        FILE  *f;

        snprintf(path, sizeof(path), "%s/seed-%04lu", dir, i);
        f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", path,
                    strerror(errno));
            free(buf);
            return 1;
        }
    }
    free(buf);
    printf("wrote %lu valid inputs to %s%s\n", i, dir,
           bad ? " (some did not round-trip: run the harness)" : "");
    return buf == NULL;
}

static int replay(const fuzz_target_t *t, int nfiles, char **files)
{
    int i, failed = 0;

    for (i = 0; i < nfiles; i++) {
        FILE    *f   = fopen(files[i], "rb");
        uint8_t *buf = malloc(t->max_len + 1);
        size_t   len;
        unsigned broken, p;
        int      res;

        if (f == NULL || buf == NULL) {
            fprintf(stderr, "fuzz: cannot read %s\n", files[i]);
            return 2;
        }
        len = fread(buf, 1, t->max_len + 1, f);
        fclose(f);
        if (len > t->max_len) {
            printf("%s: longer than %zu bytes, not run\n", files[i],
                   t->max_len);
            free(buf);
            continue;
        }
        res = run_one(t, buf, len, &broken);
        printf("%s: %zu bytes, %s", files[i], len,
               res == FUZZ_ACCEPTED ? "accepted" : "rejected");
        for (p = 0; t->props[p] != NULL; p++) {
            if (broken & (1u << p)) {
                printf("; breaks: %s", t->props[p]);
                failed |= t->todo[p] == NULL;
            }
        }
        printf("\n");
        free(buf);
    }
    return failed;
}

int main(int argc, char **argv)
{
    const fuzz_target_t *t      = &fuzz_target;
    unsigned long        inputs = t->inputs, i, seeds = 0, seeds_bad = 0;
    unsigned long        accepted = 0, rejected = 0;
    uint64_t             seed     = 1;
    prop_tally_t         tally[FUZZ_MAX_PROPS];
    fuzz_rng_t           rng;
    uint8_t             *base, *work;
    size_t               base_len = 0;
    unsigned             nprops, p;
    int                  a, failed = 0, n = 0;
    clock_t              start = clock();
    double               secs;

    if (getenv("FUZZ_INPUTS") != NULL) {
        inputs = strtoul(getenv("FUZZ_INPUTS"), NULL, 10);
    }
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-n") == 0 && a + 1 < argc) {
            inputs = strtoul(argv[++a], NULL, 10);
        } else if (strcmp(argv[a], "-s") == 0 && a + 1 < argc) {
            seed = strtoull(argv[++a], NULL, 0);
        } else if (strcmp(argv[a], "--corpus") == 0 && a + 1 < argc) {
            return write_corpus(t, seed, argv[a + 1],
                                a + 2 < argc ? strtoul(argv[a + 2], NULL, 10)
                                             : 64);
        } else if (strcmp(argv[a], "--replay") == 0) {
            return replay(t, argc - a - 1, argv + a + 1);
        } else {
            fprintf(stderr,
                    "usage: %s [-n INPUTS] [-s SEED] | --corpus DIR [COUNT] "
                    "| --replay FILE...\n",
                    argv[0]);
            return 2;
        }
    }

    for (nprops = 0; t->props[nprops] != NULL; nprops++) {
    }
    memset(tally, 0, sizeof(tally));
    rng  = (fuzz_rng_t){seed};
    base = malloc(t->max_len);
    work = malloc(t->max_len);
    if (base == NULL || work == NULL) {
        fprintf(stderr, "fuzz: out of memory\n");
        return 99;
    }

    for (i = 0; i < inputs; i++) {
        unsigned broken;
        size_t   len;

        if (i % t->per_seed == 0) {
            int bad = 0;

            base_len = t->seed(&rng, base, t->max_len, &bad);
            seeds++;
            /* a valid input is accepted and breaks nothing */
            if (bad || run_one(t, base, base_len, &broken) != FUZZ_ACCEPTED ||
                broken != 0) {
                if (seeds_bad++ == 0) {
                    printf("# valid input %lu (seed %llu) failed:\n", seeds - 1,
                           (unsigned long long)seed);
                    show_bytes(base, base_len);
                }
            }
        }
        memcpy(work, base, base_len);
        len = fuzz_mutate(&rng, work, base_len, t->max_len);
        if (run_one(t, work, len, &broken) == FUZZ_ACCEPTED) {
            accepted++;
        } else {
            rejected++;
        }
        note(tally, broken, i, work, len);
    }
    secs = (double)(clock() - start) / CLOCKS_PER_SEC;

    printf("1..%u\n", nprops + 2);
    printf("# %s: %lu mutated inputs from %lu valid ones, seed %llu, "
           "%.1f s CPU\n",
           t->name, inputs, seeds, (unsigned long long)seed, secs);
    if (t->summary != NULL) {
        t->summary();
    }
    printf("%sok %d - %s: %lu valid inputs accepted, unchanged by a round "
           "trip\n",
           seeds_bad ? "not " : "", ++n, t->name, seeds);
    failed |= seeds_bad != 0;
    for (p = 0; p < nprops; p++) {
        printf("%sok %d - %s: %s (%lu inputs)", tally[p].n ? "not " : "", ++n,
               t->name, t->props[p], inputs);
        if (t->todo[p] != NULL) {
            printf(" # TODO %s", t->todo[p]);
        } else {
            failed |= tally[p].n != 0;
        }
        printf("\n");
        if (tally[p].n) {
            printf("# broken by %lu inputs; the first, input %lu (-s %llu):\n",
                   tally[p].n, tally[p].first, (unsigned long long)seed);
            if (tally[p].bytes != NULL) {
                show_bytes(tally[p].bytes, tally[p].len);
            }
        }
        free(tally[p].bytes);
    }
    printf("%sok %d - %s: mutated inputs reach both outcomes (%lu accepted, "
           "%lu rejected)\n",
           accepted && rejected ? "" : "not ", ++n, t->name, accepted,
           rejected);
    failed |= !(accepted && rejected);
    free(base);
    free(work);
    return failed;
}
