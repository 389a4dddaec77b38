/*
 * For the libFuzzer build of target_wire.c only (tests/Makefile.am,
 * libfuzzer_wire_FLAGS): clang (14 at least) knows no "f16c" for
 * __builtin_cpu_supports, which libcompcoll/codec/wire.c asks, so the build
 * maps the builtin to this function, which asks the CPU itself.
 */
#ifndef COMPCOLL_FUZZ_CLANG_CPU_H
#define COMPCOLL_FUZZ_CLANG_CPU_H

#include <cpuid.h>
#include <string.h>

static inline int fuzz_cpu_supports(const char *feature)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    if (strcmp(feature, "avx") == 0) {
        return (c & bit_AVX) != 0 && (c & bit_OSXSAVE) != 0;
    }
    if (strcmp(feature, "f16c") == 0) {
        return (c & bit_F16C) != 0;
    }
    return 0;
}

#endif
