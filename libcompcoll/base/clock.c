#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */
#endif

#include "compcoll_clock.h"

#include <sched.h>
#include <time.h>

#define CLOCK_SPIN_ROUNDS  64u
#define CLOCK_YIELD_ROUNDS 2048u
#define CLOCK_SLEEP_MIN_NS 1000L
#define CLOCK_SLEEP_SHIFTS 6u /* 1 us .. 64 us */

double compcoll_time(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void compcoll_backoff(unsigned *idle)
{
    unsigned        n = (*idle)++;
    struct timespec ts;

    if (n < CLOCK_SPIN_ROUNDS) {
        return;
    }
    n -= CLOCK_SPIN_ROUNDS;
    if (n < CLOCK_YIELD_ROUNDS) {
        sched_yield();
        return;
    }
    n -= CLOCK_YIELD_ROUNDS;
    ts.tv_sec  = 0;
    ts.tv_nsec = CLOCK_SLEEP_MIN_NS
                 << (n < CLOCK_SLEEP_SHIFTS ? n : CLOCK_SLEEP_SHIFTS);
    nanosleep(&ts, NULL);
}
