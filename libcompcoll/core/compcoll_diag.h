/*
 * libcompcoll: COMPCOLL_DIAG_EVERY, the fidelity of ScaleCom's shared
 * indices measured now and then (diag.c).
 */
#ifndef COMPCOLL_DIAG_H
#define COMPCOLL_DIAG_H

#include <stddef.h>

#include "compcoll_registry.h"

/*
 * After a successful call on tensor t of cc (collective over cc, every
 * rank with the same call): when COMPCOLL_DIAG_EVERY says this call is
 * measured, the fraction of the global top-k's energy that the call's
 * indices captured goes into the statistics.  out is the call's output.
 */
void compcoll_diag(compcoll_comm_t *cc, compcoll_tensor_t *t,
                   const float *out, size_t n);

#endif
