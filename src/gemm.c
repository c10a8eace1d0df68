/* SPDX-License-Identifier: MIT */
/* gemm.c: the one GEMM wrapper (BLIS typed API with explicit strides and a
 * per-call runtime object that fixes the thread count).
 *
 * BLIS picks its kernel set from the CPU once, at its first call, and falls
 * back to an older set on CPUs it does not know (the AVX2 `haswell` kernels
 * on AVX-512 Xeons newer than its tables: 30% slower). swat_gemm_setup runs
 * before BLIS's first call and, unless the user set BLIS_ARCH_TYPE, points it
 * at the best set the CPU supports. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, setenv */
#include "swat/gemm.h"

#include <blis.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank_threads = 1;
static double flop_count;

/* CPUs this process may run on (its affinity mask; 0 if unknown). mpirun
 * binds each rank to one core by default when there are at most 2 ranks. */
static int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

/* ---- BLIS kernel set ------------------------------------------------------- */

static char kernel_why[160];

/* BLIS_ARCH_TYPE takes the numeric id of a configuration; the names come
 * from the library itself (bli_arch_string is a table lookup that does not
 * initialise BLIS), so no enum order is assumed. −1 if not built in. */
static int blis_arch_id(const char *name)
{
    for (int id = 0; id < BLIS_NUM_ARCHS; id++) {
        const char *s = bli_arch_string((arch_t)id);
        if (s && !strcmp(s, name)) return id;
    }
    return -1;
}

static void select_kernels(void)
{
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user && *user) {
        snprintf(kernel_why, sizeof kernel_why, "set by BLIS_ARCH_TYPE=%s", user);
        return;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    int skx = blis_arch_id("skx");
    if (skx >= 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        char id[16];
        snprintf(id, sizeof id, "%d", skx);
        setenv("BLIS_ARCH_TYPE", id, 1);
        snprintf(kernel_why, sizeof kernel_why,
                 "chosen by swat: the CPU has AVX-512 F/DQ/BW/VL; BLIS_ARCH_TYPE overrides");
        return;
    }
#endif
    snprintf(kernel_why, sizeof kernel_why, "BLIS's own choice for this CPU");
}

void swat_gemm_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, select_kernels);
}

const char *swat_gemm_kernels(char *buf, size_t n)
{
    swat_gemm_setup();
    snprintf(buf, n, "%s (%s)", bli_arch_string(bli_arch_query_id()), kernel_why);
    return buf;
}

/* ---- threads ---------------------------------------------------------------- */

void swat_gemm_set_threads(int nthreads)
{
    SWAT_ASSERT(nthreads >= 1);
    swat_gemm_setup();
    rank_threads = nthreads;
    omp_set_num_threads(nthreads);
    int cpus = affinity_cpus();
    if (cpus > 0 && nthreads > cpus)
        swat_warn("%d threads per rank, but this rank is bound to %d CPU%s, so they will "
                  "share it (several times slower): launch with `mpirun --bind-to none` or "
                  "`--map-by slot:PE=%d`, or `srun --cpus-per-task=%d`",
                  nthreads, cpus, cpus == 1 ? "" : "s", nthreads, nthreads);
}

int swat_gemm_threads(void) { return rank_threads; }

static int env_int(const char *name)
{
    const char *s = getenv(name);
    return s ? atoi(s) : 0;
}

int swat_gemm_auto_threads(void)
{
    int t = env_int("SLURM_CPUS_PER_TASK");
    if (t > 0) return t;
    t = env_int("OMP_NUM_THREADS");
    if (t > 0) return t;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int local = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
    long per = cores / (local > 0 ? local : 1);
    int cpus = affinity_cpus(); /* never more threads than the CPUs we are bound to */
    if (cpus > 0 && per > cpus) per = cpus;
    return per >= 1 ? (int)per : 1;
}

void swat_gemm_count_reset(void) { flop_count = 0; }
double swat_gemm_count_flops(void) { return flop_count; }

void swat_gemm(int transa, int transb, int64_t M, int64_t N, int64_t K, swat_real alpha,
               const swat_real *A, int64_t lda, const swat_real *B, int64_t ldb, swat_real beta,
               swat_real *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    swat_gemm_setup();
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    int in_parallel = omp_in_parallel();
    bli_rntm_set_num_threads(in_parallel ? 1 : rank_threads, &rntm);
    if (!in_parallel) flop_count += 2.0 * (double)M * (double)N * (double)K;
    /* BLIS reads the stored matrix through (rs, cs) and applies the transpose. */
    trans_t ta = transa ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    trans_t tb = transb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    swat_real a = alpha, b = beta;
    if (M == 1) {
        /* one row (generation, one token at a time): c = op(B)ᵀ·a as a gemv;
         * the gemm path would pack B for a single row, ~4x slower here */
        trans_t tv = transb ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE;
        dim_t rows = transb ? N : K, cols = transb ? K : N;
        inc_t incx = transa ? lda : 1;
#ifdef SWAT_DOUBLE
        bli_dgemv_ex(tv, BLIS_NO_CONJUGATE, rows, cols, &a, (double *)B, ldb, 1, (double *)A, incx,
                     &b, C, 1, NULL, &rntm);
#else
        bli_sgemv_ex(tv, BLIS_NO_CONJUGATE, rows, cols, &a, (float *)B, ldb, 1, (float *)A, incx,
                     &b, C, 1, NULL, &rntm);
#endif
        return;
    }
#ifdef SWAT_DOUBLE
    bli_dgemm_ex(ta, tb, M, N, K, &a, (double *)A, lda, 1, (double *)B, ldb, 1, &b, C, ldc, 1, NULL,
                 &rntm);
#else
    bli_sgemm_ex(ta, tb, M, N, K, &a, (float *)A, lda, 1, (float *)B, ldb, 1, &b, C, ldc, 1, NULL,
                 &rntm);
#endif
}

double swat_gemm_peak_gflops(int n, double seconds)
{
    swat_gemm_setup();
    float *a = swat_malloc(sizeof(float) * (size_t)n * n);
    float *b = swat_malloc(sizeof(float) * (size_t)n * n);
    float *c = swat_malloc(sizeof(float) * (size_t)n * n);
    for (int64_t i = 0; i < (int64_t)n * n; i++) {
        a[i] = (float)((i * 7) % 13) * 0.01f;
        b[i] = (float)((i * 5) % 11) * 0.01f;
        c[i] = 0;
    }
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(rank_threads, &rntm);
    float one = 1, zero = 0;
    /* one untimed call warms caches and BLIS's packing buffers */
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, n, n, &one, a, n, 1, b, n, 1, &zero, c, n,
                 1, NULL, &rntm);
    double best = 0, t_total = 0;
    int reps = 0;
    while (t_total < seconds || reps < 3) {
        double t0 = swat_now();
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, n, n, &one, a, n, 1, b, n, 1, &zero, c,
                     n, 1, NULL, &rntm);
        double dt = swat_now() - t0;
        t_total += dt;
        reps++;
        double rate = 2.0 * n * (double)n * n / dt * 1e-9;
        if (rate > best) best = rate;
    }
    swat_free(a);
    swat_free(b);
    swat_free(c);
    return best;
}
