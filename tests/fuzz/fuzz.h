/*
 * Fuzz harnesses for the decoders that read bytes from other ranks.
 *
 * A target is one file (target_*.c) that defines `fuzz_target`: how to
 * make a valid input from a seeded generator, and what must hold when the
 * code under test is run on any input.  Two drivers run a target:
 *   driver.c     deterministic, in `make check`: valid inputs, each mutated
 *                by mutate.c into many, one TAP line per property;
 *   libfuzzer.c  LLVMFuzzerTestOneInput for clang's libFuzzer, by hand
 *                (tests/README.md): a broken property aborts.
 * Properties are checked by the target on every input; a crash or an
 * out-of-bounds access is the sanitizers' to catch (the driver hands the
 * target an input in a buffer of exactly its length).
 */
#ifndef COMPCOLL_FUZZ_H
#define COMPCOLL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ generator */

/* splitmix64: the same sequence on every machine for a given seed. */
typedef struct {
    uint64_t s;
} fuzz_rng_t;

uint64_t fuzz_rand(fuzz_rng_t *rng);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t fuzz_below(fuzz_rng_t *rng, uint64_t n);

/*
 * Mutate the len bytes of buf in place (buf has room for cap bytes) with
 * one to four stacked edits: bit flips, random or interesting bytes, 16-
 * and 32-bit interesting values, small additions, truncation, extension,
 * insertion, deletion, copies within.  Returns the new length (<= cap).
 */
size_t fuzz_mutate(fuzz_rng_t *rng, uint8_t *buf, size_t len, size_t cap);

/* ------------------------------------------------------------- targets */

enum {
    FUZZ_REJECTED = 0, /* the code under test refused the input */
    FUZZ_ACCEPTED = 1, /* it took the input (decoded it, ...) */
};

#define FUZZ_MAX_PROPS 8

typedef struct {
    /* what it fuzzes, one line */
    const char *name;
    /* the longest input the driver makes */
    size_t max_len;
    /* mutated inputs `make check` runs (driver -n overrides) */
    unsigned long inputs;
    /* mutated inputs made from each valid one before the next */
    unsigned per_seed;
    /* NULL-terminated: what holds for every input, one TAP line each */
    const char *props[FUZZ_MAX_PROPS + 1];
    /* where not NULL: the known bug that breaks props[i] today; the driver
     * reports it as TAP "# TODO" and libFuzzer does not stop on it (unless
     * FUZZ_STRICT is set) */
    const char *todo[FUZZ_MAX_PROPS];
    /*
     * A valid input, from rng, into buf (room for cap bytes); returns its
     * length.  Sets *bad when the code under test failed on it (a valid
     * input that does not round-trip): the driver reports that.
     */
    size_t (*seed)(fuzz_rng_t *rng, uint8_t *buf, size_t cap, int *bad);
    /*
     * Run the code under test on the len bytes at data (exactly len bytes
     * readable); sets bit i of *broken for each props[i] that failed.
     * Returns FUZZ_ACCEPTED or FUZZ_REJECTED.
     */
    int (*one)(const uint8_t *data, size_t len, unsigned *broken);
    /* optional: print what the inputs reached, as TAP comments ("# ...") */
    void (*summary)(void);
} fuzz_target_t;

/* Each target_*.c defines it; each fuzz program links one. */
extern const fuzz_target_t fuzz_target;

#endif
