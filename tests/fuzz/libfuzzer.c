/*
 * A fuzz target (fuzz.h) as a libFuzzer entry point: an input that breaks
 * a property aborts, so libFuzzer saves it (crash-*); the deterministic
 * driver's --replay runs it again.  Properties that wait for a known bug
 * (fuzz_target.todo) do not stop the run unless FUZZ_STRICT is set.
 * Built by `make -C tests fuzz-libfuzzer` (tests/README.md).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fuzz_target_t *t      = &fuzz_target;
    static int           strict = -1;
    unsigned             broken = 0, p;

    if (strict < 0) {
        strict = getenv("FUZZ_STRICT") != NULL;
    }
    if (size > t->max_len) {
        return -1; /* not added to the corpus */
    }
    t->one(data, size, &broken);
    for (p = 0; t->props[p] != NULL; p++) {
        if ((broken & (1u << p)) && (strict || t->todo[p] == NULL)) {
            fprintf(stderr, "fuzz %s: broken: %s\n", t->name, t->props[p]);
            abort();
        }
    }
    return 0;
}
