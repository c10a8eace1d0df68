/* SPDX-License-Identifier: MIT */
/* faults.c: the test-only fault hooks of faults.h, compiled only into
 * builds with SWAT_FAULTS (CMakeLists.txt adds this file to those alone).
 * Each variable is parsed once, on the hook's first call, and a value that
 * does not parse stops the program with a line naming it. */
#ifndef SWAT_FAULTS
#error "faults.c belongs to builds with SWAT_FAULTS only"
#endif
#include "swat/faults.h"

#include "swat/common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

/* A variable of the form A:B, or A alone when `b_optional` (*b keeps its
 * value then). 0 when unset, 1 when set; dies on anything else. */
static int read_pair(const char *name, int64_t *a, int64_t *b, int b_optional)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end, *end2;
    errno = 0;
    long long x = strtoll(s, &end, 10), y = 0;
    int ok = end != s && errno == 0;
    if (ok && *end == ':') {
        y = strtoll(end + 1, &end2, 10);
        ok = end2 != end + 1 && *end2 == '\0' && errno == 0;
    } else {
        ok = ok && *end == '\0' && b_optional;
    }
    if (!ok)
        swat_die(2, "%s=%s: expected %s (fault injection of a test build)", name, s,
                 b_optional ? "STEP or STEP:COUNT" : "STEP:RANK");
    *a = x;
    if (*end == ':') *b = y;
    return 1;
}

int swat_fault_nonfinite_update(int64_t update, int rank)
{
    static int loaded, set;
    static int64_t first, count = 1;
    if (!loaded) {
        set = read_pair("SWAT_FAULT_NONFINITE_STEP", &first, &count, 1);
        loaded = 1;
    }
    return set && rank == 0 && update >= first && update < first + count;
}

void swat_fault_in_save(int64_t step, int rank)
{
    static int loaded, set;
    static int64_t at_step, at_rank;
    if (!loaded) {
        set = read_pair("SWAT_FAULT_KILL_IN_SAVE", &at_step, &at_rank, 0);
        loaded = 1;
    }
    if (!set || step != at_step || rank != at_rank) return;
    swat_warn("SWAT_FAULT_KILL_IN_SAVE: rank %d kills itself saving step %lld", rank,
              (long long)step);
    raise(SIGKILL);
}
