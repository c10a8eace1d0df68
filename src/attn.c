/* SPDX-License-Identifier: MIT */
/* attn.c: causal sliding-window attention over the band, block by block
 * (attn.h), sigmoid (SWAT) or softmax, with ALiBi slopes (signs and sizes of
 * every mode: docs/model.md).
 *
 * A block of query rows [r0, r1) reaches key rows [r0−w+1, r1−1] (shifted by
 * the halo, clipped): at most bq+w−1 of them. Per (head, block), forward:
 *     S = Qblk·Krngᵀ/sqrt(dh)                     one GEMM   [bq][W]
 *     P = σ(S + slope·dist + bias) on the band,   one fused pass (softmax:
 *         0 off it                                exp(s − rowmax), row sums)
 *     Oblk = P·Vrng                               one GEMM
 * Backward recomputes S and P (no stored probabilities; softmax keeps lse):
 *     dP = dOblk·Vrngᵀ                            GEMM
 *     G = dP⊙P⊙(1−P)/sqrt(dh)  or                 fused pass: G is the
 *         P⊙(dP − Σ_band P⊙dP)/sqrt(dh)           gradient of Q·Kᵀ itself
 *     dQblk = G·Krng  (written)                   GEMM
 *     dKrng += Gᵀ·Qblk, dVrng += Pᵀ·dOblk         two GEMMs
 * so nearly every flop runs in BLIS; the price is the two triangles of each
 * S block outside the band (the useful share is about w/(bq+w−1)).
 *
 * Determinism. Block boundaries lie on a grid anchored at row nh (…, nh−bq,
 * nh, nh+bq, …), not at the call's t0, so the model's split of [0, T) at nh
 * (halo-free rows first) produces exactly the blocks of a single call. The
 * forward runs (head, block) pairs in parallel: they write disjoint outputs.
 * The backward runs heads in parallel, each thread walking its head's blocks
 * in ascending order, so every dK/dV row receives its contributions in the
 * same order for any thread count, and for calls [0, t) then [t, T) when t is
 * on the grid. GEMMs inside the parallel regions run single-threaded
 * (swat_gemm). Scratch is carved per thread from the caller's buffer.
 *
 * Precision. The pointwise passes run in swat_real on S and dP; in a bf16 run
 * their results are then stored as products' inputs (P → Pop, G → Gop,
 * rounded to bfloat16) before the GEMMs that read them. With fp32 operands
 * Pop and Gop are S and dP themselves. G carries the 1/sqrt(dh) of the
 * scores because it is the incoming gradient of the product Q·Kᵀ, which a
 * bf16 run rounds as such; and softmax's row term is Σ P⊙dP over the band,
 * the gradient of the softmax itself, rather than the equal (in exact
 * arithmetic) Σ dO⊙O, which would make the backward depend on how the
 * forward's P·V product rounded P. */
#include "swat/attn.h"

#include "swat/gemm.h"
#include "swat/vexp.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Head n's sign comes from the mode and its place i in its sign group
 * (balanced: heads [0, H/2) negative, [H/2, H) positive; negative and
 * positive: one group of all H heads); its size from i alone: 2^-(i+1)
 * (halving) or 2^(-8(i+1)/H) with H the model's head count (alibi). The
 * halving sizes are exact powers of two (ldexp), so a config that asks for
 * them gets the same bits on every machine. */
void swat_attn_slopes(swat_real *slopes, int64_t H, int alibi, int magnitudes)
{
    int mags = swat_alibi_magnitudes_resolve(alibi, magnitudes);
    SWAT_ASSERT(mags == SWAT_ALIBI_MAG_HALVING || mags == SWAT_ALIBI_MAG_ALIBI);
    SWAT_ASSERT(alibi != SWAT_ALIBI_BALANCED || H % 2 == 0);
    for (int64_t n = 0; n < H; n++) {
        int64_t i = n;
        double sign = 0;
        switch (alibi) {
        case SWAT_ALIBI_BALANCED:
            sign = n < H / 2 ? -1 : 1;
            i = n < H / 2 ? n : n - H / 2;
            break;
        case SWAT_ALIBI_NEGATIVE: sign = -1; break;
        case SWAT_ALIBI_POSITIVE: sign = 1; break;
        case SWAT_ALIBI_NONE: sign = 0; break;
        default: SWAT_ASSERT(!"unknown alibi kind");
        }
        /* beyond 2^-1100 a double is 0 anyway; the cap keeps the int exponent sane */
        double mag = mags == SWAT_ALIBI_MAG_HALVING ? ldexp(1.0, -(int)(i < 1100 ? i + 1 : 1100))
                                                    : pow(2.0, -8.0 * (double)(i + 1) / (double)H);
        slopes[n] = (swat_real)(sign * mag);
    }
}

/* ---- geometry --------------------------------------------------------------- */

/* Query rows per block. A block of bq rows computes bq·(bq+w−1) scores for
 * about bq·w useful ones, while its GEMMs get faster with bq (dK and dV have
 * K = bq) until S and dP ([bq][bq+w−1] each) fall out of L2. Modelling the
 * GEMM rate as bq/(bq+b0) puts the best bq near sqrt(b0·w); measured on
 * Zen 4 with BLIS zen3 sgemm (dh = 64, T = 1024…2048, one thread, min of many
 * runs on a shared, loaded machine), fwd+bwd rates for bq = 32…96 were within
 * a few % of each other at w = 128…1024 (bq = 16 was 20 % slower at w = 128),
 * and bq = 128 was 10–30 % slower from w = 512 on (S and dP reach 650 KB).
 * Hence 16·round(sqrt(16·w)/16) clamped to [32, 64] (48 at w = 128, 64 from
 * w = 256), with w = T for full attention. bf16 blocks on oneDNN pay a few µs
 * a call, so they take at least 64 rows (whole 16-row AMX tiles): measured
 * on Sapphire Rapids (bf16, dh = 64, T = 2048, 2 threads,
 * bench/attn_kernel.c --block), w = 128: bq 48 / 64 / 96 / 128 gave
 * fwd+bwd 4.42 / 3.76 / 3.92 / 4.32 ms; w = 256: bq 64 / 128 / 192 / 256
 * gave 27.2 / 27.9 / 28.7 / 34.2 ms. */
int64_t swat_attn_block_rows(const swat_attn_desc *a, int64_t T)
{
    int64_t bq = a->block;
    if (bq <= 0) {
        double we = a->w > 0 ? (double)a->w : (double)T;
        bq = 16 * (int64_t)floor(sqrt(16.0 * we) / 16 + 0.5);
        bq = bq < 32 ? 32 : bq > 64 ? 64 : bq;
        if (a->op == SWAT_OPERAND_BF16) bq = 64;
    }
    return bq < T ? bq : (T > 0 ? T : 1);
}

/* Widest key range of a block (the halo is at most w−1 rows; none when w = 0). */
static int64_t max_width(const swat_attn_desc *a, int64_t T, int64_t bq)
{
    if (a->w <= 0) return T;
    int64_t wd = bq + a->w - 1, cap = T + a->w - 1;
    return wd < cap ? wd : cap;
}

/* Scratch of one thread, in whole cache lines: S/P and dP/dS (swat_real)
 * and, unless the operands are swat_real, their operand copies Pop and Gop. */
typedef struct {
    swat_real *S, *dP;
    void *Pop, *Gop;
} attn_scratch;

static size_t lines(size_t bytes) { return (bytes + 63) / 64 * 64; }

static size_t thread_bytes(const swat_attn_desc *a, int64_t T, int64_t bq)
{
    size_t e = (size_t)bq * (size_t)max_width(a, T, bq);
    size_t b = 2 * lines(e * sizeof(swat_real));
    if (a->op != SWAT_OPERAND_REAL) b += 2 * lines(e * swat_operand_size(a->op));
    return b;
}

static attn_scratch thread_scratch(const swat_attn_desc *a, int64_t T, int64_t bq, void *scratch)
{
    size_t e = (size_t)bq * (size_t)max_width(a, T, bq);
    char *base = (char *)scratch + (size_t)omp_get_thread_num() * thread_bytes(a, T, bq);
    attn_scratch s = {.S = (swat_real *)base,
                      .dP = (swat_real *)(base + lines(e * sizeof(swat_real)))};
    s.Pop = s.S;
    s.Gop = s.dP;
    if (a->op != SWAT_OPERAND_REAL) {
        s.Pop = base + 2 * lines(e * sizeof(swat_real));
        s.Gop = (char *)s.Pop + lines(e * swat_operand_size(a->op));
    }
    return s;
}

size_t swat_attn_scratch_bytes(const swat_attn_desc *a, int64_t T, int nthreads)
{
    SWAT_ASSERT(nthreads >= 1);
    return thread_bytes(a, T, swat_attn_block_rows(a, T)) * (size_t)nthreads;
}

/* Element (head n, row r) of a view, as a pointer: operands of type t, or
 * swat_real (t = REAL) for o and the gradients. */
static inline const void *at(swat_heads x, swat_operand t, int64_t n, int64_t r)
{
    return swat_operand_at(t, x.p, n * x.hs + r * x.ld);
}
static inline swat_real *at_real(swat_heads x, int64_t n, int64_t r)
{
    return (swat_real *)(uintptr_t)x.p + n * x.hs + r * x.ld;
}

/* Block b of the grid anchored at nh, clipped to the call's rows [t0, t1):
 * query rows [r0, r1), key rows [jl, jl+W). */
typedef struct {
    int64_t r0, r1, jl, W;
} attn_block;

typedef struct {
    int64_t bq, off; /* block b covers rows [b·bq − off, (b+1)·bq − off) */
    int64_t b0, nb;  /* blocks of the call */
} attn_grid;

static attn_grid grid_of(int64_t bq, int64_t nh, int64_t t0, int64_t t1)
{
    attn_grid g = {.bq = bq, .off = (bq - nh % bq) % bq};
    g.b0 = (t0 + g.off) / bq;
    g.nb = (t1 - 1 + g.off) / bq + 1 - g.b0;
    return g;
}

static attn_block block_of(const attn_grid *g, int64_t b, int64_t w, int64_t nh, int64_t t0,
                           int64_t t1)
{
    attn_block B;
    int64_t s = b * g->bq - g->off, e = s + g->bq;
    B.r0 = s > t0 ? s : t0;
    B.r1 = e < t1 ? e : t1;
    int64_t jh = nh + B.r1 - 1, jl = w > 0 ? nh + B.r0 - w + 1 : 0;
    B.jl = jl > 0 ? jl : 0;
    B.W = jh - B.jl + 1;
    return B;
}

/* Row t of a block: its band is the columns [lo, hi] of the block's key range,
 * column c at distance hi − c from the query. */
static inline void band_of(int64_t *lo, int64_t *hi, int64_t t, int64_t nh, int64_t jl, int64_t w)
{
    *hi = nh + t - jl;
    *lo = w > 0 && *hi - w + 1 > 0 ? *hi - w + 1 : 0;
}

/* ---- fused passes over one row of a block ----------------------------------- */

/* row [W]: scores in, σ(score + slope·dist + bias) out on [lo, hi], 0 off it. */
static void sigmoid_row(swat_real *row, int64_t lo, int64_t hi, int64_t W, swat_real slope,
                        swat_real bias)
{
    for (int64_t c = 0; c < lo; c++) row[c] = 0;
#pragma omp simd
    for (int64_t c = lo; c <= hi; c++) {
        swat_real s = row[c] + slope * (swat_real)(hi - c) + bias;
        row[c] = 1 / (1 + vexp(-s));
    }
    for (int64_t c = hi + 1; c < W; c++) row[c] = 0;
}

/* row [W]: scores in, softmax over [lo, hi] out, 0 off it; returns the lse. */
static swat_real softmax_row(swat_real *row, int64_t lo, int64_t hi, int64_t W, swat_real slope)
{
    for (int64_t c = 0; c < lo; c++) row[c] = 0;
    swat_real mx = row[hi];
#pragma omp simd reduction(max : mx)
    for (int64_t c = lo; c <= hi; c++) {
        swat_real s = row[c] + slope * (swat_real)(hi - c);
        row[c] = s;
        mx = s > mx ? s : mx;
    }
    swat_real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = lo; c <= hi; c++) {
        swat_real e = vexp(row[c] - mx);
        row[c] = e;
        sum += e;
    }
    swat_real inv = 1 / sum;
#pragma omp simd
    for (int64_t c = lo; c <= hi; c++) row[c] *= inv;
    for (int64_t c = hi + 1; c < W; c++) row[c] = 0;
    return mx + (swat_real)log((double)sum);
}

/* Backward, sigmoid: s [W] scaled scores in, P out; dp [W] dP in, G = dS·scale
 * out (0 off band). */
static void sigmoid_row_bwd(swat_real *s, swat_real *dp, int64_t lo, int64_t hi, int64_t W,
                            swat_real slope, swat_real bias, swat_real scale)
{
    for (int64_t c = 0; c < lo; c++) s[c] = dp[c] = 0;
#pragma omp simd
    for (int64_t c = lo; c <= hi; c++) {
        swat_real p = 1 / (1 + vexp(-(s[c] + slope * (swat_real)(hi - c) + bias)));
        s[c] = p;
        dp[c] *= p * (1 - p) * scale;
    }
    for (int64_t c = hi + 1; c < W; c++) s[c] = dp[c] = 0;
}

/* Backward, softmax: P = exp(s − lse); G = P⊙(dP − D)·scale, D = Σ P⊙dP over
 * the band (summed in double). */
static void softmax_row_bwd(swat_real *s, swat_real *dp, int64_t lo, int64_t hi, int64_t W,
                            swat_real slope, swat_real lse, swat_real scale)
{
    for (int64_t c = 0; c < lo; c++) s[c] = dp[c] = 0;
    double D = 0;
#pragma omp simd reduction(+ : D)
    for (int64_t c = lo; c <= hi; c++) {
        swat_real p = vexp(s[c] + slope * (swat_real)(hi - c) - lse);
        s[c] = p;
        D += (double)p * dp[c];
    }
#pragma omp simd
    for (int64_t c = lo; c <= hi; c++) dp[c] = s[c] * (dp[c] - (swat_real)D) * scale;
    for (int64_t c = hi + 1; c < W; c++) s[c] = dp[c] = 0;
}

/* ---- one (head, block) ------------------------------------------------------ */

typedef struct {
    const swat_attn_desc *a;
    swat_real scale, bias;
    int64_t T, nh;
} attn_ctx;

static void block_forward(const attn_ctx *x, int64_t n, attn_block B, swat_heads o, swat_real *lse,
                          swat_heads q, swat_heads k, swat_heads v, attn_scratch sc)
{
    const swat_attn_desc *a = x->a;
    swat_operand t = a->op;
    int64_t dh = a->dh, m = B.r1 - B.r0, W = B.W;
    swat_real slope = a->slopes[n], *S = sc.S; /* [m][W] */
    swat_gemm_op(t, 0, 1, m, W, dh, x->scale, at(q, t, n, B.r0), q.ld, at(k, t, n, B.jl), k.ld, 0,
                 S, W);
    for (int64_t i = 0; i < m; i++) {
        int64_t r = B.r0 + i, lo, hi;
        band_of(&lo, &hi, r, x->nh, B.jl, a->w);
        if (a->kind == SWAT_ATTN_SOFTMAX)
            lse[n * x->T + r] = softmax_row(S + i * W, lo, hi, W, slope);
        else
            sigmoid_row(S + i * W, lo, hi, W, slope, x->bias);
    }
    if (t != SWAT_OPERAND_REAL) swat_operand_store(t, sc.Pop, W, S, W, m, W);
    swat_gemm_op(t, 0, 0, m, dh, W, 1, sc.Pop, W, at(v, t, n, B.jl), v.ld, 0, at_real(o, n, B.r0),
                 o.ld);
}

static void block_backward(const attn_ctx *x, int64_t n, attn_block B, swat_heads dq,
                           swat_heads dk, swat_heads dv, swat_heads dout_op, swat_heads q,
                           swat_heads k, swat_heads v, const swat_real *lse, attn_scratch sc)
{
    const swat_attn_desc *a = x->a;
    swat_operand t = a->op;
    int64_t dh = a->dh, m = B.r1 - B.r0, W = B.W;
    swat_real slope = a->slopes[n], *S = sc.S, *dP = sc.dP; /* [m][W] each */
    const void *qb = at(q, t, n, B.r0), *dob = at(dout_op, t, n, B.r0);
    const void *kr = at(k, t, n, B.jl), *vr = at(v, t, n, B.jl);
    swat_gemm_op(t, 0, 1, m, W, dh, x->scale, qb, q.ld, kr, k.ld, 0, S, W);
    swat_gemm_op(t, 0, 1, m, W, dh, 1, dob, dout_op.ld, vr, v.ld, 0, dP, W);
    for (int64_t i = 0; i < m; i++) {
        int64_t r = B.r0 + i, lo, hi;
        band_of(&lo, &hi, r, x->nh, B.jl, a->w);
        if (a->kind == SWAT_ATTN_SOFTMAX)
            softmax_row_bwd(S + i * W, dP + i * W, lo, hi, W, slope, lse[n * x->T + r], x->scale);
        else
            sigmoid_row_bwd(S + i * W, dP + i * W, lo, hi, W, slope, x->bias, x->scale);
    }
    if (t != SWAT_OPERAND_REAL) {
        swat_operand_store(t, sc.Pop, W, S, W, m, W);
        swat_operand_store(t, sc.Gop, W, dP, W, m, W);
    }
    swat_gemm_op(t, 0, 0, m, dh, W, 1, sc.Gop, W, kr, k.ld, 0, at_real(dq, n, B.r0), dq.ld);
    swat_gemm_op(t, 1, 0, W, dh, m, 1, sc.Gop, W, qb, q.ld, 1, at_real(dk, n, B.jl), dk.ld);
    swat_gemm_op(t, 1, 0, W, dh, m, 1, sc.Pop, W, dob, dout_op.ld, 1, at_real(dv, n, B.jl), dv.ld);
}

/* ---- the calls -------------------------------------------------------------- */

static attn_ctx check_call(const swat_attn_desc *a, const swat_real *lse, int64_t T, int64_t nh,
                           int64_t p0, int64_t t0, int64_t t1)
{
    SWAT_ASSERT(a->H >= 1 && a->dh >= 1 && a->w >= 0 && a->slopes);
    SWAT_ASSERT(a->kind == SWAT_ATTN_SIGMOID || a->kind == SWAT_ATTN_SOFTMAX);
    SWAT_ASSERT(a->kind == SWAT_ATTN_SIGMOID || lse);
    SWAT_ASSERT(0 <= t0 && t0 <= t1 && t1 <= T);
    SWAT_ASSERT(0 <= nh && nh <= p0 && (a->w > 0 ? nh <= a->w - 1 : nh == 0));
    /* every key a query of the call sees must be present */
    int64_t need = a->w > 0 ? p0 + t0 - a->w + 1 : 0;
    SWAT_ASSERT(p0 - nh <= (need > 0 ? need : 0) || t0 == t1);
    attn_ctx x = {.a = a,
                  .scale = (swat_real)(1.0 / sqrt((double)a->dh)),
                  .bias = a->kind == SWAT_ATTN_SIGMOID ? (swat_real)a->bias : 0,
                  .T = T,
                  .nh = nh};
    return x;
}

void swat_attn_forward(const swat_attn_desc *a, swat_heads o, swat_real *lse, swat_heads q,
                       swat_heads k, swat_heads v, int64_t T, int64_t nh, int64_t p0, int64_t t0,
                       int64_t t1, void *scratch)
{
    attn_ctx x = check_call(a, lse, T, nh, p0, t0, t1);
    if (t0 == t1) return;
    int64_t bq = swat_attn_block_rows(a, T);
    attn_grid g = grid_of(bq, nh, t0, t1);
    int64_t ntask = g.nb * a->H;
#pragma omp parallel for schedule(dynamic) num_threads(swat_gemm_threads())
    for (int64_t task = 0; task < ntask; task++) {
        int64_t n = task % a->H, b = g.b0 + task / a->H;
        attn_block B = block_of(&g, b, a->w, nh, t0, t1);
        block_forward(&x, n, B, o, lse, q, k, v, thread_scratch(a, T, bq, scratch));
    }
}

void swat_attn_backward(const swat_attn_desc *a, swat_heads dq, swat_heads dk, swat_heads dv,
                        swat_heads dout_op, swat_heads q, swat_heads k, swat_heads v,
                        const swat_real *lse, int64_t T, int64_t nh, int64_t p0, int64_t t0,
                        int64_t t1, void *scratch)
{
    attn_ctx x = check_call(a, lse, T, nh, p0, t0, t1);
    if (t0 == t1) return;
    int64_t bq = swat_attn_block_rows(a, T);
    attn_grid g = grid_of(bq, nh, t0, t1);
    /* heads in parallel; within a head, blocks in ascending order (the dK/dV
     * summation order) */
#pragma omp parallel for schedule(dynamic) num_threads(swat_gemm_threads())
    for (int64_t n = 0; n < a->H; n++) {
        attn_scratch sc = thread_scratch(a, T, bq, scratch);
        for (int64_t b = g.b0; b < g.b0 + g.nb; b++) {
            attn_block B = block_of(&g, b, a->w, nh, t0, t1);
            block_backward(&x, n, B, dq, dk, dv, dout_op, q, k, v, lse, sc);
        }
    }
}
