/* SPDX-License-Identifier: MIT */
/* measure_reduce.c: the local memory bandwidth of a reduce-scatter's sums on
 * this machine, one thread: a[i] += b[i] over float arrays far larger than the
 * caches, 12 bytes of traffic per element (read a, read b, write a), best of
 * several passes. Prints GB/s; run_scaling.sh feeds it to swat_comm_model
 * --reduce-gbs.  cc -O3 -march=native -o measure_reduce measure_reduce.c */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    const size_t n = (size_t)16 << 20; /* 16 Mi floats = 64 MiB per array */
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) return 1;
    for (size_t i = 0; i < n; i++) { a[i] = 0.0f; b[i] = (float)(i & 1023) * 1e-6f; }
    double best = 1e30;
    for (int pass = 0; pass < 8; pass++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) a[i] += b[i];
        double t = now() - t0;
        if (t < best) best = t;
    }
    volatile float sink = a[n / 2]; /* keep the loop */
    (void)sink;
    printf("%.2f\n", 12.0 * (double)n / best / 1e9);
    free(a);
    free(b);
    return 0;
}
