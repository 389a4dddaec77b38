/*
 * libcompcoll: the clock and how a wait backs off, one of each for every
 * layer (the methods' pipeline and the transports poll the same way).
 */
#ifndef COMPCOLL_CLOCK_H
#define COMPCOLL_CLOCK_H

/* Monotonic seconds. */
double compcoll_time(void);

/*
 * One idle round of a polling loop (*idle counts them; the caller sets it
 * to 0 whenever progress was made): the first rounds only poll, as the peer
 * is often there already; after that another rank may need this core (more
 * ranks than cores), so yield, then sleep 1 us, 2 us, ... up to 64 us.  The
 * yields go on for a millisecond or two: a sleep lasts at least the
 * kernel's timer slack (50 us by default) whatever it asks for, which a
 * call that waits a few tens of microseconds for its peer (a leader that
 * selected before the others took their values) would otherwise pay in
 * full.
 */
void compcoll_backoff(unsigned *idle);

#endif
