/*
 * tests/gpu/maps.h: is a shared object mapped into this process?  Reads
 * /proc/self/maps (header-only, for the test programs).
 */
#ifndef COMPCOLL_TEST_MAPS_H
#define COMPCOLL_TEST_MAPS_H

#include <stdio.h>
#include <string.h>

/* 1 when a mapped file's name contains `what`, 0 when none does, -1 when
 * /proc/self/maps cannot be read. */
static inline int maps_has(const char *what)
{
    char  line[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    int   found = 0;

    if (f == NULL) {
        return -1;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        const char *name = strchr(line, '/');

        found = name != NULL && strstr(name, what) != NULL;
    }
    fclose(f);
    return found;
}

#endif
