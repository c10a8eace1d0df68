/* SPDX-License-Identifier: MIT */
/* bench/bench_util.h: the clock and the sgemm peak shared by the C bench
 * programs (attn_kernel.c, step_breakdown.c). Header-only: each program is
 * one translation unit. */
#ifndef SWAT_BENCH_UTIL_H
#define SWAT_BENCH_UTIL_H

#include "swat/common.h"
#include "swat/gemm.h"

#include <stdint.h>
#include <time.h>

/* From blis.h (not included: its inline helpers are noisy under -Wextra).
 * The kernel set BLIS picked for this CPU, or forced by BLIS_ARCH_TYPE. */
int bli_arch_query_id(void);
const char *bli_arch_string(int id);

/* The clock: wall (swat_now) or this process's CPU time (--clock cpu). With
 * one thread the CPU time is the work done, however much of the core other
 * processes take; with more threads it also counts spin-waiting. */
static int use_cpu_clock;

static double now(void)
{
    if (!use_cpu_clock) return swat_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* sgemm n^3 rate with the rank's threads, best of >= 3 calls and >= `seconds`
 * by the chosen clock (swat_gemm_peak_gflops with that clock). */
static double peak_gflops(int n, double seconds)
{
    float *a = swat_malloc(sizeof(float) * (size_t)n * n), *b = swat_malloc(sizeof(float) * (size_t)n * n);
    float *c = swat_malloc(sizeof(float) * (size_t)n * n);
    for (int64_t i = 0; i < (int64_t)n * n; i++) {
        a[i] = (float)((i * 7) % 13) * 0.01f;
        b[i] = (float)((i * 5) % 11) * 0.01f;
        c[i] = 0;
    }
    swat_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0, total = 0;
    for (int reps = 0; total < seconds || reps < 3; reps++) {
        double t0 = now(), w0 = swat_now();
        swat_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        double dt = now() - t0, rate = 2.0 * n * (double)n * n / dt * 1e-9;
        total += swat_now() - w0;
        if (rate > best) best = rate;
    }
    swat_free(a);
    swat_free(b);
    swat_free(c);
    return best;
}

#endif
