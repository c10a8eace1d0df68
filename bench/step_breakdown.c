/* SPDX-License-Identifier: MIT */
/* step_breakdown.c: where the time of one swat training update goes, op by
 * op, measured robustly on a busy machine.
 *
 *   swat-step-breakdown [--d 256] [--L 4] [--H 4] [--w 128] [--T 2048] [--V 256]
 *                       [--threads 2] [--reps 20] [--clock wall|cpu]
 *
 * Times (best of --reps, after one warm-up call) every operation one update
 * of swat-train runs, on the model's own buffers and through libswat's own
 * entry points, in the order and with the operand shapes/transposes of
 * src/model.c (layer_forward / layer_backward / swat_model_step) and
 * src/train.c (grad memset, squared norm, AdamW) as of commit 6691d5e:
 * GEMMs through swat_gemm, RMSNorm, RoPE, SwiGLU, attention, classifier,
 * embedding, memcpy/memset. Each op is short (≤ tens of ms), so its best
 * time is rarely hit by other processes even when the machine is shared.
 * Then it times the whole swat_model_step (forward + backward) and the
 * forward alone, best of --reps too: "sum of parts" vs "whole step" shows
 * the cost that lives between the ops (OpenMP region start-up, cache
 * misses across ops, imbalance).
 *
 * Prints one row per op: calls per update, best ms per call, ms per update,
 * share of the summed update, GFLOP/s and % of the sgemm peak (GEMMs and
 * attention; attention counts useful flops, 4·T·w·d forward, 8·T·w·d
 * backward), then the grouped totals. The peak is swat_gemm_peak_gflops
 * (1024³, the MFU peak of swat-train) with the same threads, best of the
 * measurements before and after. --clock cpu times everything (the peak
 * too) in process CPU time: with --threads 1 that is the work done even when
 * other processes take most of the core (more threads: it counts spinning). */
#include "swat/attn.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/model.h"
#include "swat/ops.h"
#include "swat/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

typedef struct {
    swat_model *m;
    swat_config cfg;
    int32_t *tokens, *targets;
    swat_real *adam_m, *adam_v;
    /* the current GEMM */
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    const swat_real *A, *B;
    swat_real *C;
    swat_real beta;
} ctx_t;

static ctx_t X;

static double best_of(void (*fn)(void), int reps, double *median)
{
    double t[1000];
    if (reps > 1000) reps = 1000;
    fn();
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        fn();
        t[i] = now() - t0;
    }
    for (int i = 1; i < reps; i++) /* insertion sort */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    if (median) *median = t[reps / 2];
    return t[0];
}

static void op_gemm(void)
{
    swat_gemm(X.ta, X.tb, X.M, X.N, X.K, 1, X.A, X.lda, X.B, X.ldb, X.beta, X.C, X.ldc);
}

/* layer 0's buffers stand for every layer (same shapes) */
#define M_ (X.m)
#define A0 (&X.m->acts[0])
#define W0 (&X.m->p.layers[0])
#define G0 (&X.m->g.layers[0])
#define N_ (X.m->mb * X.m->Tc)
#define QROWS (A0->qkv + X.m->nhalo * 3 * X.m->d)
#define DQROWS (X.m->dqkv + X.m->nhalo * 3 * X.m->d)

static void op_rms_fwd(void) { swat_rmsnorm_forward(A0->a, A0->rstd1, A0->x, W0->attn_norm, N_, M_->d, 1e-6); }
static void op_rms_bwd(void)
{
    swat_rmsnorm_backward(M_->dres, G0->attn_norm, M_->dbuf, A0->x, W0->attn_norm, A0->rstd1, N_, M_->d);
}
static void op_rope_fwd(void)
{
    swat_rope_forward(QROWS, 3 * M_->d, M_->rope_cos, M_->rope_sin, M_->Tc, 2 * M_->H, M_->dh);
}
static void op_rope_bwd(void)
{
    swat_rope_backward(DQROWS, 3 * M_->d, M_->rope_cos, M_->rope_sin, M_->Tc, 2 * M_->H, M_->dh);
}
static void op_attn_fwd(void)
{
    int64_t d = M_->d;
    swat_attn_forward(&M_->attn, A0->o, d, NULL, QROWS, 3 * d, QROWS + d, QROWS + 2 * d, 3 * d, M_->Tc, 0,
                      0, 0, M_->Tc, M_->scratch);
}
static void op_attn_bwd(void)
{
    int64_t d = M_->d;
    swat_attn_backward(&M_->attn, DQROWS, 3 * d, DQROWS + d, DQROWS + 2 * d, 3 * d, M_->dbuf, d, QROWS, 3 * d,
                       QROWS + d, QROWS + 2 * d, 3 * d, A0->o, d, NULL, M_->Tc, 0, 0, 0, M_->Tc,
                       M_->scratch);
}
static void op_memcpy_nd(void) { memcpy(A0->hmid, A0->x, sizeof(swat_real) * (size_t)(N_ * M_->d)); }
static void op_memset_dqkv(void)
{
    memset(M_->dqkv, 0, sizeof(swat_real) * (size_t)(M_->mb * (M_->nhalo + M_->Tc) * 3 * M_->d));
}
static void op_swiglu_fwd(void) { swat_swiglu_forward(A0->s, A0->gu, N_, M_->f); }
static void op_swiglu_bwd(void) { swat_swiglu_backward(M_->dgu, M_->ds, A0->gu, N_, M_->f); }
static void op_embed_fwd(void) { swat_embedding_forward(A0->x, M_->p.emb, X.tokens, N_, M_->d); }
static void op_embed_bwd(void) { swat_embedding_backward(M_->g.emb, M_->dres, X.tokens, N_, M_->d); }
static void op_classifier(void)
{
    swat_classifier(M_->dbuf, M_->g.emb, NULL, M_->y, M_->p.lm_head, X.targets, N_, M_->d, M_->V,
                    (swat_real)(1.0 / (double)N_), M_->logits, 256);
}
static void op_memset_dres(void) { memset(M_->dres, 0, sizeof(swat_real) * (size_t)(N_ * M_->d)); }
static void op_memset_grads(void) { memset(M_->grads, 0, sizeof(swat_real) * M_->nparams_pad); }
static void op_sq_norm(void) { (void)swat_sq_norm(M_->grads, M_->nparams_pad); }
static void op_adamw(void)
{
    swat_adamw_step(&X.cfg.train, M_, 0, M_->nparams_pad, M_->params, M_->grads, X.adam_m, X.adam_v, 1,
                    1e-9, 1.0);
}
static void op_step(void) { swat_model_step(M_, NULL, X.tokens, X.targets, 0, 1.0 / (double)N_, 1, NULL); }
static void op_fwd(void) { swat_model_step(M_, NULL, X.tokens, X.targets, 0, 1.0 / (double)N_, 0, NULL); }

typedef struct {
    const char *group, *name;
    double calls, best, flops; /* flops per call (0: not a GEMM) */
} row_t;

int main(int argc, char **argv)
{
    int64_t d = 256, L = 4, H = 4, w = 128, T = 2048, V = 256;
    int threads = 2, reps = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--d")) d = atoll(v);
        else if (!strcmp(k, "--L")) L = atoll(v);
        else if (!strcmp(k, "--H")) H = atoll(v);
        else if (!strcmp(k, "--w")) w = atoll(v);
        else if (!strcmp(k, "--T")) T = atoll(v);
        else if (!strcmp(k, "--V")) V = atoll(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--clock")) use_cpu_clock = !strcmp(v, "cpu");
        else {
            fprintf(stderr, "step_breakdown: unknown argument %s\n", k);
            return 2;
        }
    }
    swat_gemm_set_threads(threads);
    char err[SWAT_ERR_LEN];
    swat_config_defaults(&X.cfg);
    X.cfg.model.vocab_size = V;
    X.cfg.model.hidden_size = d;
    X.cfg.model.num_hidden_layers = L;
    X.cfg.model.num_heads = H;
    X.cfg.model.window_size = w;
    if (swat_config_finalize(&X.cfg, SWAT_CONFIG_FOR_MODEL, err)) {
        fprintf(stderr, "step_breakdown: %s\n", err);
        return 2;
    }
    swat_model *m = X.m = swat_model_create(&X.cfg.model, 1);
    swat_model_init_params(m, 1234);
    swat_model_plan(m, 1, T, 0);
    int64_t f = m->f, n = T;
    X.tokens = swat_malloc(sizeof(int32_t) * (size_t)n);
    X.targets = swat_malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        X.tokens[i] = (int32_t)((i * 7919 + 13) % V);
        X.targets[i] = (int32_t)((i * 104729 + 7) % V);
    }
    X.adam_m = swat_calloc(sizeof(swat_real) * m->nparams_pad);
    X.adam_v = swat_calloc(sizeof(swat_real) * m->nparams_pad);
    /* one real step fills every activation with real values */
    op_step();
    double peak0 = peak_gflops(1024, 0.3);

    row_t rows[64];
    int nr = 0;
#define ROW(g, nm, c, fn, fl) \
    rows[nr++] = (row_t){g, nm, (double)(c), best_of(fn, reps, NULL), (double)(fl)}
#define GEMM(g, nm, c, ta_, tb_, M__, N__, K__, A_, lda_, B_, ldb_, beta_, C_, ldc_)                    \
    do {                                                                                              \
        X.ta = ta_, X.tb = tb_, X.M = M__, X.N = N__, X.K = K__, X.A = A_, X.lda = lda_, X.B = B_,    \
        X.ldb = ldb_, X.beta = beta_, X.C = C_, X.ldc = ldc_;                                         \
        ROW(g, nm, c, op_gemm, 2.0 * (M__) * (N__) * (K__));                                          \
    } while (0)

    const swat_layer_acts *a = A0;
    const swat_layer_view *wv = W0;
    swat_layer_view *gv = G0;
    /* forward of a layer (model.c layer_forward) */
    ROW("fwd", "rmsnorm fwd (x2)", 2 * L, op_rms_fwd, 0);
    GEMM("fwd", "GEMM qkv = a.Wqkv^T", L, 0, 1, n, 3 * d, d, a->a, d, wv->wqkv, d, 0, QROWS, 3 * d);
    ROW("fwd", "rope fwd", L, op_rope_fwd, 0);
    ROW("fwd", "attention fwd", L, op_attn_fwd, 4.0 * T * w * d);
    ROW("fwd", "memcpy [n][d] (x2)", 2 * L, op_memcpy_nd, 0);
    GEMM("fwd", "GEMM hmid += o.Wo^T", L, 0, 1, n, d, d, a->o, d, wv->wo, d, 1, a->hmid, d);
    GEMM("fwd", "GEMM gu = m.Wgu^T", L, 0, 1, n, 2 * f, d, a->m, d, wv->wgu, d, 0, a->gu, 2 * f);
    ROW("fwd", "swiglu fwd", L, op_swiglu_fwd, 0);
    GEMM("fwd", "GEMM out += s.Wdown^T", L, 0, 1, n, d, f, a->s, f, wv->wdown, f, 1, m->acts[1 % L].x, d);
    /* backward of a layer (layer_backward) */
    GEMM("bwd", "GEMM dWdown += dres^T.s", L, 1, 0, d, f, n, m->dres, d, a->s, f, 1, gv->wdown, f);
    GEMM("bwd", "GEMM ds = dres.Wdown", L, 0, 0, n, f, d, m->dres, d, wv->wdown, f, 0, m->ds, f);
    ROW("bwd", "swiglu bwd", L, op_swiglu_bwd, 0);
    GEMM("bwd", "GEMM dWgu += dgu^T.m", L, 1, 0, 2 * f, d, n, m->dgu, 2 * f, a->m, d, 1, gv->wgu, d);
    GEMM("bwd", "GEMM dm = dgu.Wgu", L, 0, 0, n, d, 2 * f, m->dgu, 2 * f, wv->wgu, d, 0, m->dbuf, d);
    ROW("bwd", "rmsnorm bwd (x2)", 2 * L, op_rms_bwd, 0);
    GEMM("bwd", "GEMM dWo += dres^T.o", L, 1, 0, d, d, n, m->dres, d, a->o, d, 1, gv->wo, d);
    GEMM("bwd", "GEMM do = dres.Wo", L, 0, 0, n, d, d, m->dres, d, wv->wo, d, 0, m->dbuf, d);
    ROW("bwd", "memset dqkv", L, op_memset_dqkv, 0);
    ROW("bwd", "attention bwd", L, op_attn_bwd, 8.0 * T * w * d);
    ROW("bwd", "rope bwd", L, op_rope_bwd, 0);
    GEMM("bwd", "GEMM dWqkv += dqkv^T.a", L, 1, 0, 3 * d, d, n, DQROWS, 3 * d, a->a, d, 1, gv->wqkv, d);
    GEMM("bwd", "GEMM da = dqkv.Wqkv", L, 0, 0, n, d, 3 * d, DQROWS, 3 * d, wv->wqkv, d, 0, m->dbuf, d);
    /* once per update (swat_model_step, train.c) */
    ROW("once", "embedding fwd", 1, op_embed_fwd, 0);
    ROW("once", "classifier fwd+bwd (whole)", 1, op_classifier, 6.0 * n * V * d);
    ROW("once", "rmsnorm final fwd+bwd", 1, op_rms_fwd, 0);
    rows[nr - 1].best += best_of(op_rms_bwd, reps, NULL);
    ROW("once", "memset dres", 1, op_memset_dres, 0);
    ROW("once", "embedding bwd", 1, op_embed_bwd, 0);
    ROW("optim", "memset grads", 1, op_memset_grads, 0);
    ROW("optim", "squared norm", 1, op_sq_norm, 0);
    ROW("optim", "AdamW", 1, op_adamw, 0);

    double med_step, med_fwd;
    double t_step = best_of(op_step, reps < 5 ? reps : 5, &med_step);
    double t_fwd = best_of(op_fwd, reps < 5 ? reps : 5, &med_fwd);
    double peak1 = peak_gflops(1024, 0.3), peak = peak0 > peak1 ? peak0 : peak1;

    double total = 0, gemm = 0, attn = 0, fwd = 0, bwd = 0, once = 0, optim = 0, flops = 0;
    for (int i = 0; i < nr; i++) {
        double t = rows[i].calls * rows[i].best;
        total += t;
        if (!strncmp(rows[i].name, "GEMM", 4)) gemm += t;
        if (!strncmp(rows[i].name, "attention", 9)) attn += t;
        if (!strcmp(rows[i].group, "fwd")) fwd += t;
        if (!strcmp(rows[i].group, "bwd")) bwd += t;
        if (!strcmp(rows[i].group, "once")) once += t;
        if (!strcmp(rows[i].group, "optim")) optim += t;
        flops += rows[i].calls * rows[i].flops;
    }
    printf("step breakdown: d %lld L %lld H %lld w %lld T %lld V %lld f %lld, %d threads, best of %d, %s clock\n",
           (long long)d, (long long)L, (long long)H, (long long)w, (long long)T, (long long)V,
           (long long)f, threads, reps, use_cpu_clock ? "CPU-time" : "wall");
    printf("sgemm peak 1024^3: %.1f GFLOP/s (before %.1f, after %.1f); BLIS kernels %s (BLIS_ARCH_TYPE=%s)\n",
           peak, peak0, peak1, bli_arch_string(bli_arch_query_id()),
           getenv("BLIS_ARCH_TYPE") ? getenv("BLIS_ARCH_TYPE") : "unset");
    printf("%-5s %-30s %5s %9s %9s %6s %8s %6s\n", "group", "op", "calls", "ms/call", "ms/upd", "share",
           "GFLOP/s", "%peak");
    for (int i = 0; i < nr; i++) {
        double t = rows[i].calls * rows[i].best;
        double gf = rows[i].flops > 0 ? rows[i].flops / rows[i].best * 1e-9 : 0;
        printf("%-5s %-30s %5.0f %9.3f %9.2f %5.1f%%", rows[i].group, rows[i].name, rows[i].calls,
               rows[i].best * 1e3, t * 1e3, 100 * t / total);
        if (gf > 0) printf(" %8.1f %5.1f%%", gf, 100 * gf / peak);
        printf("\n");
    }
    double fpt = swat_model_flops_per_token(m, T) * (double)T;
    printf("sum of parts      %8.2f ms  (GEMMs %.1f%%, attention %.1f%%, other %.1f%%; fwd %.2f, bwd %.2f, "
           "once %.2f, optimizer %.2f ms)\n",
           total * 1e3, 100 * gemm / total, 100 * attn / total, 100 * (total - gemm - attn) / total,
           fwd * 1e3, bwd * 1e3, once * 1e3, optim * 1e3);
    printf("whole model step  %8.2f ms best, %.2f median (forward+backward, no optimizer); "
           "forward alone %.2f ms best\n", t_step * 1e3, med_step * 1e3, t_fwd * 1e3);
    double parts_step = total - optim;
    printf("step - parts      %8.2f ms (%.1f%% of the step: between-op cost)\n", (t_step - parts_step) * 1e3,
           100 * (t_step - parts_step) / t_step);
    printf("update estimate   %8.2f ms = step + optimizer -> %.0f tokens/s, MFU %.1f%% "
           "(model FLOPs %.2f G/update; counted GEMM+attention FLOPs %.2f G)\n",
           (t_step + optim) * 1e3, (double)T / (t_step + optim), 100 * fpt / (t_step + optim) / (peak * 1e9),
           fpt * 1e-9, flops * 1e-9);
    printf("{\"threads\":%d,\"T\":%lld,\"w\":%lld,\"d\":%lld,\"peak_gflops\":%.1f,\"parts_ms\":%.3f,"
           "\"gemm_ms\":%.3f,\"attn_ms\":%.3f,\"other_ms\":%.3f,\"optim_ms\":%.3f,\"step_ms\":%.3f,"
           "\"fwd_ms\":%.3f,\"update_est_ms\":%.3f,\"clock\":\"%s\"}\n",
           threads, (long long)T, (long long)w, (long long)d, peak, total * 1e3, gemm * 1e3, attn * 1e3,
           (total - gemm - attn) * 1e3, optim * 1e3, t_step * 1e3, t_fwd * 1e3, (t_step + optim) * 1e3,
           use_cpu_clock ? "cpu" : "wall");
    swat_free(X.adam_m);
    swat_free(X.adam_v);
    swat_free(X.tokens);
    swat_free(X.targets);
    swat_model_free(m);
    return 0;
}
