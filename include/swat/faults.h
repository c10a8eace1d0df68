/* SPDX-License-Identifier: MIT */
/* faults.h: test-only fault injection, gathered in one place.
 *
 * The production code calls a named hook at each point where a test wants a
 * fault to strike. Unless the build defines SWAT_FAULTS (cmake
 * -DSWAT_FAULTS=ON; on by default only together with SWAT_BUILD_TESTS), the
 * hooks are empty inline functions that the compiler removes: no environment
 * variable is read and no branch is left in the training step or the save.
 *
 * In a build with SWAT_FAULTS, each hook is driven by one environment
 * variable, read once (a malformed value stops the program: a test that
 * silently injects nothing would pass for the wrong reason):
 *   SWAT_FAULT_NONFINITE_STEP=S[:N]  world rank 0 poisons the gradient of
 *                                    updates S … S+N−1 (1-based; N = 1) with
 *                                    a NaN before the reduction;
 *   SWAT_FAULT_KILL_IN_SAVE=S:R      world rank R SIGKILLs itself while the
 *                                    checkpoint of step S is half written
 *                                    (after the parameters, before the
 *                                    moments).
 * tests/run_faults.sh uses both. */
#ifndef SWAT_FAULTS_H
#define SWAT_FAULTS_H

#include <stdint.h>

#ifdef SWAT_FAULTS
/* 1 if world rank `rank` is to poison the gradient of update number `update`. */
int swat_fault_nonfinite_update(int64_t update, int rank);
/* Called by every rank between the parameters and the moments of the save of
 * checkpoint `step`; kills the calling rank when so asked. */
void swat_fault_in_save(int64_t step, int rank);
#else
static inline int swat_fault_nonfinite_update(int64_t update, int rank)
{
    (void)update;
    (void)rank;
    return 0;
}
static inline void swat_fault_in_save(int64_t step, int rank)
{
    (void)step;
    (void)rank;
}
#endif

#endif
