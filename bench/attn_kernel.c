/* SPDX-License-Identifier: MIT */
/* attn_kernel.c: GFLOP/s of swat_attn_forward / swat_attn_backward alone
 * (include/swat/attn.h), sigmoid, balanced ALiBi, one sequence chunk with no
 * halo, as a fraction of the BLIS sgemm peak measured in the same run with the
 * same threads.
 *
 *   swat-attn-bench [--T 4096] [--H 4] [--dh 64,128] [--w 128,256,512,1024]
 *                   [--threads N] [--block N] [--seconds 0.5] [--shapes] [--clock wall|cpu]
 *                   [--precision fp32|bf16]
 *
 * The layout is the model's: q, k, v (and their gradients, and dout's
 * operand copy) one head after the other, [H][T][dh]; o and dout [T][d].
 * With --precision bf16 the operands are what swat-train's bf16 run uses
 * (bfloat16 on oneDNN where the CPU has bf16 instructions) and the peak is
 * the bf16 GEMM peak.
 *
 * Build: see bench/README.md (gcc against build-perf/libswat.a, or the
 * bench/CMakeLists.txt snippet).
 *
 * FLOP counts, per call (all heads), T query rows, window w, head dim dh:
 *   useful forward  = 4·T·w·dh·H   (S = Q·Kᵀ and O = P·V over the band:
 *                                   2·dh flops per (query, key) pair each)
 *   useful backward = 8·T·w·dh·H   (dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q,
 *                                   dV = Pᵀ·dO over the band)
 * These are the nominal counts of docs/training.md (12·L·d·w per token = 4 + 8 per
 * layer), which count w keys for every query; the exact band has
 * Σ_t min(t+1, w) pairs, w(w−1)/2 fewer (printed as "band share", 0.98 for
 * T = 4096, w = 128; 0.88 for w = 1024). Not counted as useful: the backward's
 * recomputation of S (2·T·w·dh·H), the off-band triangles of every block's
 * key range, and the elementwise sigmoid / ALiBi work. "executed" is the
 * GEMM flops the kernel really issues (block geometry of attn.c: bq query
 * rows, key range W = min(bq + w − 1, …); forward 2 GEMMs, backward 5), so
 * "exe/bd" = executed / exact-band flops shows the overhead of the block layout.
 *
 * Each call is timed repeatedly (at least 3 times and --seconds of work);
 * best and median rates are printed. The peak (swat_gemm_peak_gflops, 1024³,
 * the figure swat-train's MFU uses) is measured before and after the
 * kernels; the fraction uses the higher of the two. --clock cpu times
 * everything (the peak too) in process CPU time: with --threads 1 that is the
 * work done even on a busy machine (with more threads it counts spinning).
 *
 * --shapes additionally times the single GEMMs of one block, on ONE thread,
 * against the one-thread peak: inside the kernel each thread runs its own
 * single-threaded calls on these small shapes. */
#include "swat/attn.h"
#include "swat/config.h"
#include "swat/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

static int parse_list(const char *s, int64_t *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s) break;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double best, median; /* seconds per call */
} timing;

#define MAX_REPS 10000

/* Times fn(ctx) until `seconds` of work and at least 3 calls (after one warm-up). */
static timing time_calls(void (*fn)(void *), void *ctx, double seconds)
{
    static double t[MAX_REPS];
    fn(ctx);
    int n = 0;
    double total = 0;
    while ((total < seconds || n < 3) && n < MAX_REPS) {
        double t0 = now();
        fn(ctx);
        t[n] = now() - t0;
        total += t[n++];
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    timing r = {t[0], n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2])};
    return r;
}

typedef struct {
    swat_attn_desc a;
    int64_t T, d;
    void *qkv, *dout_op, *scratch; /* operands: [3][H][T][dh], [H][T][dh] */
    swat_real *dqkv, *o, *dout;    /* [3][H][T][dh], [T][d], [T][d] */
} attn_ctx;

/* Component c (0 q, 1 k, 2 v) of a [3][H][T][dh] buffer of element type t. */
static swat_heads heads(const attn_ctx *c, swat_operand t, const void *buf, int comp)
{
    int64_t dh = c->a.dh, hs = c->T * dh;
    return (swat_heads){swat_operand_at(t, buf, comp * c->a.H * hs), dh, hs};
}

static void run_fwd(void *p)
{
    attn_ctx *c = p;
    swat_operand t = c->a.op;
    swat_heads o = {c->o, c->d, c->a.dh};
    swat_attn_forward(&c->a, o, NULL, heads(c, t, c->qkv, 0), heads(c, t, c->qkv, 1),
                      heads(c, t, c->qkv, 2), c->T, 0, 0, 0, c->T, c->scratch);
}

static void run_bwd(void *p)
{
    attn_ctx *c = p;
    swat_operand t = c->a.op, r = SWAT_OPERAND_REAL;
    /* the model zeroes dq|dk|dv before the call; not timed here (dk, dv
     * accumulate over the repetitions, which changes no timing) */
    swat_attn_backward(&c->a, heads(c, r, c->dqkv, 0), heads(c, r, c->dqkv, 1),
                       heads(c, r, c->dqkv, 2), heads(c, t, c->dout_op, 0), heads(c, t, c->qkv, 0),
                       heads(c, t, c->qkv, 1), heads(c, t, c->qkv, 2), NULL, c->T, 0, 0, 0, c->T,
                       c->scratch);
}

/* the block attn.c uses */
static int64_t default_block(int64_t w, int64_t T, int64_t block)
{
    swat_attn_desc a = {.w = w, .block = block};
    return swat_attn_block_rows(&a, T);
}

/* GEMM flops the kernel issues for one head (forward: 2 GEMMs of m·W·dh;
 * backward: 5), following block_of() of attn.c with nh = 0. */
static void executed_flops(int64_t T, int64_t w, int64_t dh, int64_t bq, double *fwd, double *bwd)
{
    double s = 0;
    for (int64_t r0 = 0; r0 < T; r0 += bq) {
        int64_t r1 = r0 + bq < T ? r0 + bq : T, jl = r0 - w + 1 > 0 ? r0 - w + 1 : 0;
        s += 2.0 * (double)(r1 - r0) * (double)(r1 - 1 - jl + 1) * (double)dh;
    }
    *fwd = 2 * s;
    *bwd = 5 * s;
}

typedef struct {
    int ta, tb;
    int64_t M, N, K;
    void *A, *B;
    swat_real *C;
    int64_t lda, ldb, ldc;
    swat_real beta;
    swat_operand t;
} gemm_ctx;

static void run_gemm(void *p)
{
    gemm_ctx *g = p;
    swat_gemm_op(g->t, g->ta, g->tb, g->M, g->N, g->K, 1, g->A, g->lda, g->B, g->ldb, g->beta, g->C,
                 g->ldc);
}

int main(int argc, char **argv)
{
    int64_t T = 4096, H = 4, block = 0, dhs[8] = {64, 128}, ws[16] = {128, 256, 512, 1024};
    int ndh = 2, nw = 4, threads = 0, shapes = 0;
    swat_precision prec = SWAT_PREC_FP32;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--shapes")) {
            shapes = 1;
            continue;
        }
        if (!strcmp(argv[i], "--clock") && v) {
            use_cpu_clock = !strcmp(v, "cpu");
            i++;
            continue;
        }
        if (!v) {
            fprintf(stderr, "attn_kernel: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--T")) T = atoll(v);
        else if (!strcmp(argv[i], "--H")) H = atoll(v);
        else if (!strcmp(argv[i], "--dh")) ndh = parse_list(v, dhs, 8);
        else if (!strcmp(argv[i], "--w")) nw = parse_list(v, ws, 16);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(v);
        else if (!strcmp(argv[i], "--block")) block = atoll(v);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(v);
        else if (!strcmp(argv[i], "--precision") && (!strcmp(v, "fp32") || !strcmp(v, "bf16")))
            prec = strcmp(v, "bf16") ? SWAT_PREC_FP32 : SWAT_PREC_BF16;
        else {
            fprintf(stderr, "attn_kernel: unknown argument %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (threads <= 0) threads = swat_gemm_auto_threads();
    swat_gemm_set_threads(threads);
    char engine[200];
    swat_operand op = swat_gemm_operand(prec, engine, sizeof engine, NULL);
    double peak0 = peak_gflops(op, 1024, 0.3);
    printf("attention kernel: T %lld, H %lld, sigmoid, balanced ALiBi, %d threads, block %s, %s clock, %s\n",
           (long long)T, (long long)H, threads, block > 0 ? "given" : "default of attn.c",
           use_cpu_clock ? "CPU-time" : "wall", engine);
    printf("%4s %5s %4s %10s %9s %7s %9s %10s %9s %7s %9s %6s %6s\n", "dh", "w", "bq", "fwd ms",
           "fwd GF/s", "%peak", "median", "bwd ms", "bwd GF/s", "%peak", "median", "exe/bd", "band");
    char json[64][512];
    int nj = 0;
    for (int id = 0; id < ndh; id++)
        for (int iw = 0; iw < nw; iw++) {
            int64_t dh = dhs[id], w = ws[iw], d = H * dh;
            swat_real *slopes = swat_malloc(sizeof(swat_real) * (size_t)H);
            swat_attn_slopes(slopes, H, SWAT_ALIBI_BALANCED, SWAT_ALIBI_MAG_AUTO);
            attn_ctx c = {.a = {.H = H, .dh = dh, .w = w, .kind = SWAT_ATTN_SIGMOID, .slopes = slopes,
                                .bias = 0, .block = block, .op = op},
                          .T = T,
                          .d = d};
            size_t n3 = (size_t)(T * 3 * d), n1 = (size_t)(T * d), es = swat_operand_size(op);
            swat_real *tmp = swat_malloc(sizeof(swat_real) * n3);
            c.qkv = swat_malloc(es * n3);
            c.dout_op = swat_malloc(es * n1);
            c.dqkv = swat_calloc(sizeof(swat_real) * n3);
            c.o = swat_calloc(sizeof(swat_real) * n1);
            c.dout = swat_malloc(sizeof(swat_real) * n1);
            c.scratch = swat_malloc(swat_attn_scratch_bytes(&c.a, T, threads));
            uint64_t s = 12345;
            for (size_t i = 0; i < n3; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                tmp[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) * 2 - 1);
            }
            swat_operand_store(op, c.qkv, 0, tmp, 0, 1, (int64_t)n3);
            for (size_t i = 0; i < n1; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                c.dout[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) * 2 - 1) * 1e-3f;
            }
            swat_operand_store(op, c.dout_op, 0, c.dout, 0, 1, (int64_t)n1);
            swat_free(tmp);
            timing tf = time_calls(run_fwd, &c, seconds);
            timing tb = time_calls(run_bwd, &c, seconds);
            double uf = 4.0 * T * w * dh * H, ub = 8.0 * T * w * dh * H;
            double pairs = 0;
            for (int64_t t = 0; t < T; t++) pairs += (double)(t + 1 < w ? t + 1 : w);
            double band = pairs / ((double)T * w);
            int64_t bq = default_block(w, T, block);
            double ef, eb;
            executed_flops(T, w, dh, bq, &ef, &eb);
            double gf = uf / tf.best * 1e-9, gb = ub / tb.best * 1e-9;
            double gfm = uf / tf.median * 1e-9, gbm = ub / tb.median * 1e-9;
            printf("%4lld %5lld %4lld %10.2f %9.1f %6.1f%% %9.1f %10.2f %9.1f %6.1f%% %9.1f %6.2f %6.3f\n",
                   (long long)dh, (long long)w, (long long)bq, tf.best * 1e3, gf, 100 * gf / peak0, gfm,
                   tb.best * 1e3, gb, 100 * gb / peak0, gbm, (ef * H) / (uf * band), band);
            fflush(stdout);
            if (nj < 64)
                snprintf(json[nj++], sizeof json[0],
                         "{\"dh\":%lld,\"w\":%lld,\"T\":%lld,\"H\":%lld,\"threads\":%d,\"bq\":%lld,"
                         "\"fwd_ms_best\":%.3f,\"fwd_gflops_best\":%.2f,\"fwd_gflops_median\":%.2f,"
                         "\"bwd_ms_best\":%.3f,\"bwd_gflops_best\":%.2f,\"bwd_gflops_median\":%.2f,"
                         "\"fwd_executed_over_band\":%.3f,\"bwd_executed_over_band\":%.3f,"
                         "\"band_share\":%.4f,\"clock\":\"%s\"",
                         (long long)dh, (long long)w, (long long)T, (long long)H, threads, (long long)bq,
                         tf.best * 1e3, gf, gfm, tb.best * 1e3, gb, gbm, ef * H / (uf * band), eb * H / (ub * band), band,
                         use_cpu_clock ? "cpu" : "wall");
            swat_free(c.qkv);
            swat_free(c.dout_op);
            swat_free(c.dqkv);
            swat_free(c.o);
            swat_free(c.dout);
            swat_free(c.scratch);
            swat_free(slopes);
        }
    double peak1 = peak_gflops(op, 1024, 0.3);
    double peak = peak0 > peak1 ? peak0 : peak1;
    char kernels[200];
    printf("BLIS kernels: %s\n", swat_gemm_kernels(kernels, sizeof kernels));
    printf("GEMM peak 1024^3 (%s), %d threads: %.1f GFLOP/s before, %.1f after (%%peak above uses "
           "the one before; fractions below use %.1f)\n", engine, threads, peak0, peak1, peak);
    printf("(exe/bd: forward GEMM flops executed / flops of the exact band; the backward's is 1.25 times it "
           "(5 GEMMs for 8 useful units vs 2 for 4); band: exact band pairs / T·w, so exact-band "
           "rates = nominal rates / band)\n");
    for (int i = 0; i < nj; i++) {
        /* append the fractions against the higher peak */
        double gf, gb;
        const char *p = strstr(json[i], "\"fwd_gflops_best\":");
        sscanf(p, "\"fwd_gflops_best\":%lf", &gf);
        p = strstr(json[i], "\"bwd_gflops_best\":");
        sscanf(p, "\"bwd_gflops_best\":%lf", &gb);
        printf("%s,\"peak_gflops\":%.1f,\"fwd_frac\":%.4f,\"bwd_frac\":%.4f}\n", json[i], peak, gf / peak,
               gb / peak);
    }

    if (shapes) {
        /* one thread: the per-thread GEMMs of one block, vs the 1-thread peak */
        swat_gemm_set_threads(1);
        double p1 = peak_gflops(op, 1024, 0.3);
        printf("\nblock GEMMs on one thread (1-thread GEMM peak %.1f GFLOP/s); dense, ld = dh or W\n",
               p1);
        printf("%4s %5s %4s %5s  %-26s %8s %7s\n", "dh", "w", "bq", "W", "GEMM (M x N x K, op)", "GF/s",
               "%peak");
        for (int id = 0; id < ndh; id++)
            for (int iw = 0; iw < nw; iw++) {
                int64_t dh = dhs[id], w = ws[iw], d = H * dh, bq = default_block(w, T, block);
                int64_t W = bq + w - 1;
                size_t es = swat_operand_size(op);
                void *A = swat_calloc(es * (size_t)(W * d + 1)), *Bm = swat_calloc(es * (size_t)(W * d + 1));
                void *P = swat_calloc(es * (size_t)(bq * W));
                swat_real *S = swat_calloc(sizeof(swat_real) * (size_t)(bq * W));
                swat_real *C = swat_calloc(sizeof(swat_real) * (size_t)(W * d + 1));
                struct {
                    const char *name;
                    gemm_ctx g;
                } k[4] = {
                    {"S=Q.K^T  bq x W x dh NT", {0, 1, bq, W, dh, A, Bm, S, dh, dh, W, 0, op}},
                    {"O=P.V    bq x dh x W NN", {0, 0, bq, dh, W, P, Bm, C, W, dh, d, 0, op}},
                    {"dK+=dS^T.Q W x dh x bq TN", {1, 0, W, dh, bq, P, A, C, W, dh, dh, 1, op}},
                    {"dQ=dS.K  bq x dh x W NN", {0, 0, bq, dh, W, P, Bm, C, W, dh, dh, 0, op}},
                };
                for (int j = 0; j < 4; j++) {
                    timing t = time_calls(run_gemm, &k[j].g, 0.2);
                    double fl = 2.0 * k[j].g.M * k[j].g.N * k[j].g.K / t.best * 1e-9;
                    printf("%4lld %5lld %4lld %5lld  %-26s %8.1f %6.1f%%\n", (long long)dh, (long long)w,
                           (long long)bq, (long long)W, k[j].name, fl, 100 * fl / p1);
                }
                swat_free(A);
                swat_free(Bm);
                swat_free(P);
                swat_free(S);
                swat_free(C);
            }
    }
    return 0;
}
