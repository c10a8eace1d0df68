/* SPDX-License-Identifier: MIT */
/* bench/bench_util.h: the clock and the GEMM peak of the C bench programs.
 * Header-only: each program is one translation unit. */
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

/* n^3 GEMM rate on operands of type t with the rank's threads, best of >= 3
 * calls and >= `seconds` by the chosen clock (swat_gemm_peak_gflops_op with
 * that clock). */
static double peak_gflops(swat_operand t, int n, double seconds)
{
    size_t nn = (size_t)n * (size_t)n;
    swat_real *src = swat_malloc(sizeof(swat_real) * nn);
    void *a = swat_malloc(swat_operand_size(t) * nn), *b = swat_malloc(swat_operand_size(t) * nn);
    swat_real *c = swat_calloc(sizeof(swat_real) * nn);
    for (size_t i = 0; i < nn; i++) src[i] = (swat_real)((i * 7) % 13) * 0.01f;
    swat_operand_store(t, a, n, src, n, n, n);
    for (size_t i = 0; i < nn; i++) src[i] = (swat_real)((i * 5) % 11) * 0.01f;
    swat_operand_store(t, b, n, src, n, n, n);
    swat_free(src);
    swat_gemm_op(t, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0, total = 0;
    for (int reps = 0; total < seconds || reps < 3; reps++) {
        double t0 = now(), w0 = swat_now();
        swat_gemm_op(t, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
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
