/* SPDX-License-Identifier: MIT */
/* gemm.c: the one GEMM wrapper (BLIS typed API with explicit strides and a
 * per-call runtime object that fixes the thread count), and the policy that
 * chooses a rank's thread count (swat_gemm_plan_threads): the node's ranks
 * and CPUs come in as numbers (comm.c counts them), so this file needs no
 * MPI.
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

static void setup_once(void)
{
    select_kernels();
    bli_init(); /* BLIS reads BLIS_ARCH_TYPE here; its queries need it done */
}

void swat_gemm_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, setup_once);
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
}

int swat_gemm_threads(void) { return rank_threads; }

/* A positive integer environment variable, else 0. */
static int env_count(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' && v > 0 && v <= 1 << 20 ? (int)v : 0;
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

void swat_gemm_plan_threads(swat_thread_plan *p, int set, const char *set_by, int node_ranks,
                            int node_cpus, int rank_cpus)
{
    SWAT_ASSERT(p != NULL && set >= 0 && node_ranks >= 1);
    memset(p, 0, sizeof *p);
    if (node_cpus < 1) node_cpus = 1;
    if (rank_cpus < 1 || rank_cpus > node_cpus) rank_cpus = node_cpus;
    p->node_ranks = node_ranks;
    p->node_cpus = node_cpus;
    p->rank_cpus = rank_cpus;
    /* the most threads that fit: the node's CPUs shared among its ranks, and
     * never more than the CPUs this rank is bound to */
    int fit = node_cpus / node_ranks;
    if (fit > rank_cpus) fit = rank_cpus;
    if (fit < 1) fit = 1;
    int asked;
    const char *from;
    if (set > 0) {
        p->origin = SWAT_THREADS_SET, asked = set, from = set_by ? set_by : "set";
    } else if ((asked = env_count("SLURM_CPUS_PER_TASK")) > 0) {
        p->origin = SWAT_THREADS_SLURM, from = "SLURM_CPUS_PER_TASK";
    } else if ((asked = env_count("OMP_NUM_THREADS")) > 0) {
        p->origin = SWAT_THREADS_OMP, from = "OMP_NUM_THREADS";
    } else {
        p->origin = SWAT_THREADS_AUTO, asked = fit, from = "automatic";
    }
    p->asked = asked;
    p->threads = p->origin == SWAT_THREADS_SET || asked <= fit ? asked : fit;

    /* one policy, one line: the node's ranks together, or one rank alone,
     * with more threads than CPUs */
    int node_over = node_ranks * asked > node_cpus, rank_over = asked > rank_cpus;
    if (!node_over && !rank_over) return;
    char what[128], outcome[96], fix[192];
    if (node_over)
        snprintf(what, sizeof what, "%d rank%s on this node x %d thread%s (%s) = %d threads on %d CPU%s",
                 node_ranks, plural(node_ranks), asked, plural(asked), from, node_ranks * asked,
                 node_cpus, plural(node_cpus));
    else
        snprintf(what, sizeof what, "%d threads per rank (%s), but a rank is bound to %d CPU%s",
                 asked, from, rank_cpus, plural(rank_cpus));
    int still = node_ranks * p->threads > node_cpus || p->threads > rank_cpus;
    if (p->origin == SWAT_THREADS_SET)
        snprintf(outcome, sizeof outcome, "kept as set, expect a several-fold slowdown");
    else if (p->threads < asked)
        snprintf(outcome, sizeof outcome, "lowered to %d thread%s per rank%s", p->threads,
                 plural(p->threads), still ? ", still oversubscribed" : "");
    else
        snprintf(outcome, sizeof outcome, "one thread per rank is the least");
    if (node_ranks > node_cpus)
        snprintf(fix, sizeof fix, "start at most %d rank%s per node", node_cpus, plural(node_cpus));
    else if (!node_over)
        snprintf(fix, sizeof fix, "bind each rank to %d CPUs (mpirun --bind-to none or --map-by "
                 "slot:PE=%d, srun --cpus-per-task=%d) or use %d thread%s", asked, asked, asked,
                 fit, plural(fit));
    else if (p->origin == SWAT_THREADS_SET)
        snprintf(fix, sizeof fix, "%s%s%d, or fewer ranks per node", from,
                 from[0] == '[' ? " = " : " ", fit);
    else
        snprintf(fix, sizeof fix, "%s=%d, or fewer ranks per node",
                 p->origin == SWAT_THREADS_SLURM ? "--cpus-per-task" : from, fit);
    snprintf(p->warning, sizeof p->warning, "oversubscribed: %s; %s; fix: %s", what, outcome, fix);
}

int swat_gemm_setup_threads(int set, const char *set_by, int node_ranks, int node_cpus,
                            char *warning)
{
    swat_thread_plan p;
    swat_gemm_plan_threads(&p, set, set_by, node_ranks, node_cpus, affinity_cpus());
    swat_gemm_set_threads(p.threads);
    snprintf(warning, SWAT_ERR_LEN, "%s", p.warning);
    return p.threads;
}

int swat_gemm_auto_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int cpus = affinity_cpus();
    swat_thread_plan p;
    swat_gemm_plan_threads(&p, 0, NULL, 1, cpus > 0 ? cpus : online > 0 ? (int)online : 1, cpus);
    return p.threads;
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

/* ---- operands ------------------------------------------------------------------ */

void swat_operand_store(swat_operand t, void *dst, int64_t ldd, const swat_real *src, int64_t lds,
                        int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const swat_real *s = src + r * lds;
        if (t == SWAT_OPERAND_BF16) {
            swat_bf16 *d = (swat_bf16 *)dst + r * ldd;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) d[c] = swat_bf16_from_float((float)s[c]);
        } else if (t == SWAT_OPERAND_ROUNDED) {
            swat_real *d = (swat_real *)dst + r * ldd;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) d[c] = swat_bf16_round(s[c]);
        } else {
            memcpy((swat_real *)dst + r * ldd, s, sizeof(swat_real) * (size_t)cols);
        }
    }
}

void swat_operand_load(swat_operand t, swat_real *dst, int64_t ldd, const void *src, int64_t lds,
                       int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        swat_real *d = dst + r * ldd;
        if (t == SWAT_OPERAND_BF16) {
            const swat_bf16 *s = (const swat_bf16 *)src + r * lds;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) d[c] = swat_bf16_to_float(s[c]);
        } else {
            memcpy(d, (const swat_real *)src + r * lds, sizeof(swat_real) * (size_t)cols);
        }
    }
}

/* ---- oneDNN: bf16 products --------------------------------------------------------
 *
 * One matmul primitive per shape, created on first use and kept. Each thread
 * has its own cache, stream and scratchpad: the attention calls products from
 * inside OpenMP parallel regions, and a oneDNN primitive with a user-managed
 * scratchpad may run on several threads at once only with one scratchpad each
 * (a cache per thread also lets oneDNN tune a primitive to the threads it
 * will run with: one inside a parallel region, the rank's outside). Operands
 * keep their strides: a transpose is a memory descriptor with swapped strides.
 * alpha is an output scale, beta = 1 a sum post-op. */
#if defined(SWAT_ONEDNN) && !defined(SWAT_DOUBLE)
#include <oneapi/dnnl/dnnl.h>

#define DNNL_CHECK(call)                                                                      \
    do {                                                                                      \
        dnnl_status_t st_ = (call);                                                           \
        if (st_ != dnnl_success) swat_die(1, "oneDNN: %s failed (status %d)", #call, (int)st_); \
    } while (0)

enum { CACHE_SLOTS = 512 }; /* per thread, open addressing; a full cache starts over */

typedef struct {
    int64_t M, N, K, lda, ldb, ldc;
    float alpha;
    int transa, transb, accumulate, in_parallel;
} mm_key;

typedef struct {
    mm_key key;
    int used;
    dnnl_primitive_t prim; /* NULL: oneDNN refused the shape; widen and use BLIS */
    dnnl_memory_t a, b, c;
    size_t scratch_bytes;
} mm_entry;

typedef struct thread_cache {
    mm_entry slot[CACHE_SLOTS];
    int count;
    dnnl_stream_t stream;
    dnnl_memory_t scratch_mem;
    void *scratch;
    size_t scratch_cap;
    struct thread_cache *next;
} thread_cache;

static dnnl_engine_t dnnl_cpu_engine;
static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t caches_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_cache *all_caches; /* freed at exit, so leak checkers see none */
static _Thread_local thread_cache *my_cache;

static void cache_clear(thread_cache *tc)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        mm_entry *e = &tc->slot[i];
        if (!e->used) continue;
        if (e->prim) {
            dnnl_primitive_destroy(e->prim);
            dnnl_memory_destroy(e->a);
            dnnl_memory_destroy(e->b);
            dnnl_memory_destroy(e->c);
        }
        e->used = 0;
    }
    tc->count = 0;
}

static void free_caches(void)
{
    pthread_mutex_lock(&caches_lock);
    while (all_caches) {
        thread_cache *tc = all_caches;
        all_caches = tc->next;
        cache_clear(tc);
        if (tc->scratch_mem) dnnl_memory_destroy(tc->scratch_mem);
        dnnl_stream_destroy(tc->stream);
        swat_free(tc->scratch);
        swat_free(tc);
    }
    pthread_mutex_unlock(&caches_lock);
    dnnl_engine_destroy(dnnl_cpu_engine);
}

static void dnnl_init(void)
{
    DNNL_CHECK(dnnl_engine_create(&dnnl_cpu_engine, dnnl_cpu, 0));
    atexit(free_caches);
}

static thread_cache *this_thread_cache(void)
{
    if (my_cache) return my_cache;
    pthread_once(&dnnl_once, dnnl_init);
    thread_cache *tc = swat_calloc(sizeof *tc);
    DNNL_CHECK(dnnl_stream_create(&tc->stream, dnnl_cpu_engine, dnnl_stream_default_flags));
    pthread_mutex_lock(&caches_lock);
    tc->next = all_caches;
    all_caches = tc;
    pthread_mutex_unlock(&caches_lock);
    return my_cache = tc;
}

static uint64_t key_hash(const mm_key *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the fields */
    const int64_t v[10] = {k->M, k->N, k->K, k->lda, k->ldb, k->ldc, k->transa, k->transb,
                           k->accumulate * 2 + k->in_parallel, (int64_t)(k->alpha * 1e6f)};
    for (int i = 0; i < 10; i++) h = (h ^ (uint64_t)v[i]) * 1099511628211ull;
    return h;
}

static int key_equal(const mm_key *a, const mm_key *b)
{
    return a->M == b->M && a->N == b->N && a->K == b->K && a->lda == b->lda && a->ldb == b->ldb &&
           a->ldc == b->ldc && a->alpha == b->alpha && a->transa == b->transa &&
           a->transb == b->transb && a->accumulate == b->accumulate &&
           a->in_parallel == b->in_parallel;
}

static void make_primitive(mm_entry *e)
{
    const mm_key *k = &e->key;
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {k->M, k->K}, bd = {k->K, k->N}, cd = {k->M, k->N};
    dnnl_dims_t as = {k->transa ? 1 : k->lda, k->transa ? k->lda : 1};
    dnnl_dims_t bs = {k->transb ? 1 : k->ldb, k->transb ? k->ldb : 1};
    dnnl_dims_t cs = {k->ldc, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&a, 2, ad, dnnl_bf16, as));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&b, 2, bd, dnnl_bf16, bs));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&c, 2, cd, dnnl_f32, cs));
    dnnl_matmul_desc_t md;
    DNNL_CHECK(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c));
    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (k->alpha != 1.0f) DNNL_CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha));
    dnnl_post_ops_t po = NULL;
    if (k->accumulate) {
        DNNL_CHECK(dnnl_post_ops_create(&po));
        DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
        DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_primitive_desc_t pd = NULL;
    e->prim = NULL;
    if (dnnl_primitive_desc_create(&pd, &md, attr, dnnl_cpu_engine, NULL) == dnnl_success) {
        const dnnl_memory_desc_t *sd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        e->scratch_bytes = sd ? dnnl_memory_desc_get_size(sd) : 0;
        DNNL_CHECK(dnnl_primitive_create(&e->prim, pd));
        DNNL_CHECK(dnnl_memory_create(&e->a, &a, dnnl_cpu_engine, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&e->b, &b, dnnl_cpu_engine, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&e->c, &c, dnnl_cpu_engine, DNNL_MEMORY_NONE));
        dnnl_primitive_desc_destroy(pd);
    }
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
}

static mm_entry *find_primitive(thread_cache *tc, const mm_key *k)
{
    uint64_t i = key_hash(k) % CACHE_SLOTS;
    for (;; i = (i + 1) % CACHE_SLOTS) {
        mm_entry *e = &tc->slot[i];
        if (e->used && key_equal(&e->key, k)) return e;
        if (!e->used) break;
    }
    if (tc->count >= CACHE_SLOTS / 2) { /* keep probes short: start over */
        cache_clear(tc);
        return find_primitive(tc, k);
    }
    mm_entry *e = &tc->slot[i];
    e->key = *k;
    e->used = 1;
    tc->count++;
    make_primitive(e);
    return e;
}

/* The scratchpad memory of this thread, grown to `bytes` (the largest
 * primitive's need; allocation stops once every shape has been seen). */
static dnnl_memory_t thread_scratch(thread_cache *tc, size_t bytes)
{
    if (bytes > tc->scratch_cap || !tc->scratch_mem) {
        if (tc->scratch_mem) dnnl_memory_destroy(tc->scratch_mem);
        swat_free(tc->scratch);
        tc->scratch_cap = bytes > tc->scratch_cap ? bytes : tc->scratch_cap;
        tc->scratch = swat_malloc(tc->scratch_cap + 64);
        dnnl_memory_desc_t md;
        dnnl_dims_t dims = {(int64_t)tc->scratch_cap + 64};
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a));
        DNNL_CHECK(dnnl_memory_create(&tc->scratch_mem, &md, dnnl_cpu_engine, tc->scratch));
    }
    return tc->scratch_mem;
}

/* 0 if done; −1 if oneDNN has no primitive for this shape. */
static int onednn_gemm(int transa, int transb, int64_t M, int64_t N, int64_t K, float alpha,
                       const void *A, int64_t lda, const void *B, int64_t ldb, int accumulate,
                       float *C, int64_t ldc)
{
    thread_cache *tc = this_thread_cache();
    mm_key k = {.M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = alpha,
                .transa = transa, .transb = transb, .accumulate = accumulate,
                .in_parallel = omp_in_parallel()};
    mm_entry *e = find_primitive(tc, &k);
    if (!e->prim) return -1;
    DNNL_CHECK(dnnl_memory_set_data_handle(e->a, (void *)(uintptr_t)A));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->b, (void *)(uintptr_t)B));
    DNNL_CHECK(dnnl_memory_set_data_handle(e->c, C));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b},
                               {DNNL_ARG_DST, e->c}, {DNNL_ARG_SCRATCHPAD, NULL}};
    int nargs = 3;
    if (e->scratch_bytes > 0) args[nargs++].memory = thread_scratch(tc, e->scratch_bytes);
    DNNL_CHECK(dnnl_primitive_execute(e->prim, tc->stream, nargs, args));
    DNNL_CHECK(dnnl_stream_wait(tc->stream));
    return 0;
}

static int onednn_has_bf16(char *isa, size_t n)
{
    dnnl_cpu_isa_t got = dnnl_get_effective_cpu_isa();
    const char *name = got == dnnl_cpu_isa_avx512_core_amx    ? "avx512_core_amx"
                       : got == dnnl_cpu_isa_avx512_core_bf16 ? "avx512_core_bf16"
                       : got == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
                       : got == dnnl_cpu_isa_avx512_core      ? "avx512_core"
                       : got == dnnl_cpu_isa_avx2_vnni        ? "avx2_vnni"
                       : got == dnnl_cpu_isa_avx2             ? "avx2"
                                                              : "an older ISA";
    snprintf(isa, n, "%s", name);
    return (got & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}
#endif /* SWAT_ONEDNN */

/* Emulated bf16 on bf16 storage (a shape oneDNN refused): widen both
 * operands into per-thread scratch and run BLIS. */
static void widened_gemm(int transa, int transb, int64_t M, int64_t N, int64_t K, swat_real alpha,
                         const void *A, int64_t lda, const void *B, int64_t ldb, swat_real beta,
                         swat_real *C, int64_t ldc)
{
    static _Thread_local swat_real *buf;
    static _Thread_local size_t cap;
    int64_t ar = transa ? K : M, ac = transa ? M : K, br = transb ? N : K, bc = transb ? K : N;
    size_t need = (size_t)(ar * ac + br * bc);
    if (need > cap) {
        swat_free(buf);
        buf = swat_malloc(sizeof(swat_real) * need);
        cap = need;
    }
    swat_operand_load(SWAT_OPERAND_BF16, buf, ac, A, lda, ar, ac);
    swat_operand_load(SWAT_OPERAND_BF16, buf + ar * ac, bc, B, ldb, br, bc);
    swat_gemm(transa, transb, M, N, K, alpha, buf, ac, buf + ar * ac, bc, beta, C, ldc);
}

void swat_gemm_op(swat_operand t, int transa, int transb, int64_t M, int64_t N, int64_t K,
                  swat_real alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                  swat_real beta, swat_real *C, int64_t ldc)
{
    if (t != SWAT_OPERAND_BF16) {
        swat_gemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    SWAT_ASSERT(beta == 0 || beta == 1);
    if (M <= 0 || N <= 0) return;
    if (!omp_in_parallel()) flop_count += 2.0 * (double)M * (double)N * (double)K;
    if (K <= 0) {
        if (beta == 0)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, sizeof(swat_real) * (size_t)N);
        return;
    }
#if defined(SWAT_ONEDNN) && !defined(SWAT_DOUBLE)
    if (onednn_gemm(transa, transb, M, N, K, (float)alpha, A, lda, B, ldb, beta != 0, C, ldc) == 0)
        return;
#endif
    widened_gemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

swat_operand swat_gemm_operand(swat_precision p, char *why, size_t n, int *missing)
{
    char buf[200];
    if (!why) why = buf, n = sizeof buf;
    if (missing) *missing = 0;
    if (p == SWAT_PREC_FP32) {
        snprintf(why, n, "fp32 on BLIS");
        return SWAT_OPERAND_REAL;
    }
#if defined(SWAT_ONEDNN) && !defined(SWAT_DOUBLE)
    char isa[32];
    if (onednn_has_bf16(isa, sizeof isa)) {
        snprintf(why, n, "bf16 on oneDNN (%s)", isa);
        return SWAT_OPERAND_BF16;
    }
    snprintf(why, n,
             "bf16 emulated on BLIS: oneDNN finds no bfloat16 instructions on this CPU "
             "(AVX512-BF16 or AMX-BF16; it reports %s), so products take rounded inputs in fp32",
             isa);
#elif defined(SWAT_DOUBLE)
    snprintf(why, n, "bf16 emulated in double (test build)");
    return SWAT_OPERAND_ROUNDED;
#else
    snprintf(why, n,
             "bf16 emulated on BLIS: built without oneDNN (SWAT_ONEDNN=OFF), so products take "
             "rounded inputs in fp32");
#endif
    if (missing) *missing = 1;
    return SWAT_OPERAND_ROUNDED;
}

double swat_gemm_peak_gflops_op(swat_operand t, int n, double seconds)
{
    swat_gemm_setup();
    size_t nn = (size_t)n * (size_t)n;
    swat_real *src = swat_malloc(sizeof(swat_real) * nn);
    void *a = swat_malloc(swat_operand_size(t) * nn), *b = swat_malloc(swat_operand_size(t) * nn);
    swat_real *c = swat_calloc(sizeof(swat_real) * nn);
    for (size_t i = 0; i < nn; i++) src[i] = (swat_real)((i * 7) % 13) * (swat_real)0.01;
    swat_operand_store(t, a, n, src, n, n, n);
    for (size_t i = 0; i < nn; i++) src[i] = (swat_real)((i * 5) % 11) * (swat_real)0.01;
    swat_operand_store(t, b, n, src, n, n, n);
    /* one untimed call warms caches, packing buffers and oneDNN's primitive */
    swat_gemm_op(t, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0, t_total = 0;
    int reps = 0;
    while (t_total < seconds || reps < 3) {
        double t0 = swat_now();
        swat_gemm_op(t, 0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        double dt = swat_now() - t0;
        t_total += dt;
        reps++;
        double rate = 2.0 * n * (double)n * n / dt * 1e-9;
        if (rate > best) best = rate;
    }
    swat_free(src);
    swat_free(a);
    swat_free(b);
    swat_free(c);
    return best;
}

double swat_gemm_peak_gflops(int n, double seconds)
{
    return swat_gemm_peak_gflops_op(SWAT_OPERAND_REAL, n, seconds);
}
