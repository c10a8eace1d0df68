/* SPDX-License-Identifier: MIT */
/* test_attn.c: the blocked window attention of attn.h against a naive dense
 * reference, in double precision.
 *
 * The reference loops over query t, key j and head n with an explicit mask
 * (key position pk in [p − w + 1, p], all pk ≤ p when w = 0) and computes the
 * backward from the textbook formulas (softmax: dS = P⊙(dP − Σ_j P·dP), not
 * the kernel's Σ dO·O shortcut). The reference backward is itself checked by
 * central finite differences, and so is the blocked kernel, directly.
 *
 * Tolerances. Kernel vs reference: max |a − b| ≤ 1e-12·max |b|; both are
 * double, and differ only by summation order over ≤ 100 terms and a 1-ulp
 * exp (errors ~1e-15). Finite differences: L = Σ R⊙o, h = 1e-5, accept
 * |fd − g| ≤ 1e-6·max(|fd|, |g|) + 1e-8 (truncation ~h² ≈ 1e-10, rounding
 * ~eps·|L|/h ≈ 1e-10). Splits of [0, T) on the block grid and thread counts 1
 * and 2 must give bit-identical results.
 *
 * SWAT_TEST_QUICK=1 (set by tests/run_valgrind.sh only): the finite-difference
 * checks probe every FD_QUICK_STRIDE-th entry of q, k, v instead of all of
 * them (every case, row, halo and part still probed; ~1/11 of the time, which
 * is most of this test's). Every other check runs in full.
 *
 * Layout as in the model: q, k, v live in one [nh+T][3d] buffer (ldq = ldkv =
 * 3d, the first nh rows are the halo and only their k, v are used), o and
 * dout are [T][d], and dq, dk, dv live in a [nh+T][3d] gradient buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swat/attn.h"
#include "swat/config.h"
#include "swat/gemm.h"

#ifndef SWAT_DOUBLE
#error "test_attn checks gradients in double precision: link swat64"
#endif

#define FD_STEP 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8
#define REF_RTOL 1e-12
#define CANARY 64
#define FD_QUICK_STRIDE 11 /* divides no ld = 3·H·dh of the cases: probes move across columns */

/* SWAT_TEST_QUICK set and not "0": the reduced mode for valgrind */
static int quick_mode(void)
{
    const char *e = getenv("SWAT_TEST_QUICK");
    return e && e[0] && strcmp(e, "0") != 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static swat_real *vec(int64_t n)
{
    swat_real *v = swat_malloc(sizeof(swat_real) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = (swat_real)urand();
    return v;
}

static swat_real *copy_of(const swat_real *x, int64_t n)
{
    swat_real *v = swat_malloc(sizeof(swat_real) * (size_t)n);
    memcpy(v, x, sizeof(swat_real) * (size_t)n);
    return v;
}

static double rel_err(const swat_real *a, const swat_real *b, int64_t n)
{
    double e = 0, m = 1e-300;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= e)) e = d != d ? INFINITY : d;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return e / m;
}

/* ---- one problem ------------------------------------------------------------ */

typedef struct {
    int64_t T, w, H, dh, nh, p0;
    int kind, alibi;
    double bias;
    int mags; /* swat_alibi_magnitudes; 0 = auto */
} tcase;

typedef struct {
    tcase c;
    int64_t d, ld, rows; /* d = H·dh, ld = 3d, rows = nh + T */
    swat_real slopes[8];
    swat_attn_desc a;
    swat_real *qkv;  /* [rows][3d]: q (rows ≥ nh) | k | v */
    swat_real *R;    /* [T][d] weights of the loss L = Σ R⊙o */
    swat_real *dout; /* [T][d] = R */
} prob;

static void prob_init(prob *p, tcase c, int64_t block, uint64_t seed)
{
    rng_seed(seed);
    p->c = c;
    p->d = c.H * c.dh, p->ld = 3 * p->d, p->rows = c.nh + c.T;
    swat_attn_slopes(p->slopes, c.H, c.alibi, c.mags);
    p->a = (swat_attn_desc){.H = c.H,
                            .dh = c.dh,
                            .w = c.w,
                            .kind = c.kind,
                            .slopes = p->slopes,
                            .bias = c.bias,
                            .block = block};
    p->qkv = vec(p->rows * p->ld);
    /* larger q, k so that scores spread over the sigmoid's curve */
    for (int64_t i = 0; i < p->rows * p->ld; i++) p->qkv[i] *= 1.5;
    p->R = vec(c.T * p->d);
    p->dout = p->R;
}

static void prob_free(prob *p)
{
    swat_free(p->qkv);
    swat_free(p->R);
}

static const swat_real *Q(const prob *p) { return p->qkv + p->c.nh * p->ld; }
static const swat_real *K(const prob *p) { return p->qkv + p->d; }
static const swat_real *V(const prob *p) { return p->qkv + 2 * p->d; }

/* Scratch for the current thread count, NaN-filled, with a canary after it. */
static swat_real *scratch_new(const prob *p, size_t *n)
{
    *n = swat_attn_scratch_bytes(&p->a, p->c.T, swat_gemm_threads()) / sizeof(swat_real);
    swat_real *s = swat_malloc(sizeof(swat_real) * (*n + CANARY));
    for (size_t i = 0; i < *n; i++) s[i] = NAN;
    for (size_t i = 0; i < CANARY; i++) s[*n + i] = 12345;
    return s;
}

static void scratch_free(swat_real *s, size_t n)
{
    for (size_t i = 0; i < CANARY; i++) assert_true(s[n + i] == 12345);
    swat_free(s);
}

/* The heads of a row-major [rows][ld] buffer, side by side: head n at column n·dh. */
static swat_heads rowwise(const prob *p, const swat_real *x, int64_t ld)
{
    return (swat_heads){x, ld, p->c.dh};
}

static void kern_fwd(const prob *p, swat_real *o, swat_real *lse, int64_t t0, int64_t t1)
{
    size_t n;
    swat_real *s = scratch_new(p, &n);
    swat_attn_forward(&p->a, rowwise(p, o, p->d), lse, rowwise(p, Q(p), p->ld),
                      rowwise(p, K(p), p->ld), rowwise(p, V(p), p->ld), p->c.T, p->c.nh, p->c.p0,
                      t0, t1, s);
    scratch_free(s, n);
}

static void kern_bwd(const prob *p, swat_real *dqkv, const swat_real *lse,
                     int64_t t0, int64_t t1)
{
    size_t n;
    swat_real *s = scratch_new(p, &n);
    swat_attn_backward(&p->a, rowwise(p, dqkv + p->c.nh * p->ld, p->ld),
                       rowwise(p, dqkv + p->d, p->ld), rowwise(p, dqkv + 2 * p->d, p->ld),
                       rowwise(p, p->dout, p->d), rowwise(p, Q(p), p->ld), rowwise(p, K(p), p->ld),
                       rowwise(p, V(p), p->ld), lse, p->c.T, p->c.nh, p->c.p0, t0, t1, s);
    scratch_free(s, n);
}

/* ---- the naive reference ---------------------------------------------------- */

static int visible(const tcase *c, int64_t t, int64_t j)
{
    int64_t p = c->p0 + t, pk = c->p0 - c->nh + j;
    return pk <= p && (c->w == 0 || pk >= p - c->w + 1);
}

/* P [T][rows] of head n (0 where masked); returns nothing, fills lse [T] too */
static void ref_probs(const prob *p, int64_t n, double *P, double *lse)
{
    const tcase *c = &p->c;
    for (int64_t t = 0; t < c->T; t++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < p->rows; j++) {
            P[t * p->rows + j] = 0;
            if (!visible(c, t, j)) continue;
            double s = 0;
            for (int64_t i = 0; i < c->dh; i++)
                s += Q(p)[t * p->ld + n * c->dh + i] * K(p)[j * p->ld + n * c->dh + i];
            s = s / sqrt((double)c->dh) + p->slopes[n] * (double)(t + c->nh - j);
            if (c->kind == SWAT_ATTN_SIGMOID) {
                s += c->bias;
                P[t * p->rows + j] = 1 / (1 + exp(-s));
            } else {
                P[t * p->rows + j] = s;
                mx = fmax(mx, s);
            }
        }
        if (c->kind == SWAT_ATTN_SOFTMAX) {
            double sum = 0;
            for (int64_t j = 0; j < p->rows; j++)
                if (visible(c, t, j)) sum += exp(P[t * p->rows + j] - mx);
            for (int64_t j = 0; j < p->rows; j++)
                if (visible(c, t, j)) P[t * p->rows + j] = exp(P[t * p->rows + j] - mx) / sum;
            lse[t] = mx + log(sum);
        }
    }
}

/* o [T][d], lse [H][T] (softmax) */
static void ref_fwd(const prob *p, swat_real *o, swat_real *lse)
{
    const tcase *c = &p->c;
    double *P = swat_malloc(sizeof(double) * (size_t)(c->T * p->rows));
    double *l = swat_malloc(sizeof(double) * (size_t)c->T);
    for (int64_t n = 0; n < c->H; n++) {
        ref_probs(p, n, P, l);
        for (int64_t t = 0; t < c->T; t++) {
            if (lse) lse[n * c->T + t] = l[t];
            for (int64_t i = 0; i < c->dh; i++) {
                double s = 0;
                for (int64_t j = 0; j < p->rows; j++)
                    s += P[t * p->rows + j] * V(p)[j * p->ld + n * c->dh + i];
                o[t * p->d + n * c->dh + i] = s;
            }
        }
    }
    swat_free(P);
    swat_free(l);
}

/* dqkv [rows][3d] += ∂L/∂(q, k, v) for L = Σ dout⊙o */
static void ref_bwd(const prob *p, swat_real *dqkv)
{
    const tcase *c = &p->c;
    int64_t dh = c->dh, ld = p->ld;
    double sc = 1 / sqrt((double)dh);
    double *P = swat_malloc(sizeof(double) * (size_t)(c->T * p->rows));
    double *dS = swat_malloc(sizeof(double) * (size_t)p->rows);
    double *l = swat_malloc(sizeof(double) * (size_t)c->T);
    for (int64_t n = 0; n < c->H; n++) {
        ref_probs(p, n, P, l);
        for (int64_t t = 0; t < c->T; t++) {
            const swat_real *dO = p->dout + t * p->d + n * dh;
            double sumPdP = 0;
            for (int64_t j = 0; j < p->rows; j++) {
                double dP = 0;
                for (int64_t i = 0; i < dh; i++) dP += dO[i] * V(p)[j * ld + n * dh + i];
                dS[j] = dP;
                sumPdP += P[t * p->rows + j] * dP;
            }
            for (int64_t j = 0; j < p->rows; j++) {
                double Pj = P[t * p->rows + j];
                if (!visible(c, t, j)) continue;
                dS[j] = c->kind == SWAT_ATTN_SIGMOID ? dS[j] * Pj * (1 - Pj) : Pj * (dS[j] - sumPdP);
                for (int64_t i = 0; i < dh; i++) {
                    dqkv[(c->nh + t) * ld + n * dh + i] += sc * dS[j] * K(p)[j * ld + n * dh + i];
                    dqkv[j * ld + p->d + n * dh + i] += sc * dS[j] * Q(p)[t * ld + n * dh + i];
                    dqkv[j * ld + 2 * p->d + n * dh + i] += Pj * dO[i];
                }
            }
        }
    }
    swat_free(P);
    swat_free(dS);
    swat_free(l);
}

/* ---- finite differences ----------------------------------------------------- */

typedef struct {
    prob *p;
    int use_kernel;
    swat_real *o, *lse;
} loss_ctx;

static double loss_of(loss_ctx *x)
{
    prob *p = x->p;
    if (x->use_kernel)
        kern_fwd(p, x->o, x->lse, 0, p->c.T);
    else
        ref_fwd(p, x->o, x->lse);
    double L = 0;
    for (int64_t i = 0; i < p->c.T * p->d; i++) L += p->R[i] * x->o[i];
    return L;
}

/* Compares g [rows][3d] (q part of halo rows ignored) with central differences. */
static void check_fd(prob *p, const swat_real *g, int use_kernel, const char *who)
{
    loss_ctx x = {.p = p, .use_kernel = use_kernel};
    x.o = vec(p->c.T * p->d), x.lse = vec(p->c.H * p->c.T);
    static const char *part[3] = {"dq", "dk", "dv"};
    int64_t stride = quick_mode() ? FD_QUICK_STRIDE : 1, probed = 0, all = 0;
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t col = 0; col < p->ld; col++) {
            if (r < p->c.nh && col < p->d) continue;
            if (all++ % stride) continue;
            probed++;
            swat_real *e = p->qkv + r * p->ld + col, e0 = *e;
            *e = e0 + FD_STEP;
            double lp = loss_of(&x);
            *e = e0 - FD_STEP;
            double lm = loss_of(&x);
            *e = e0;
            double fd = (lp - lm) / (2 * FD_STEP), an = g[r * p->ld + col];
            if (!(fabs(fd - an) <= FD_RTOL * fmax(fabs(fd), fabs(an)) + FD_ATOL)) {
                print_error("%s %s row %lld col %lld: analytic %.12g, finite difference %.12g\n",
                            who, part[col / p->d], (long long)r, (long long)(col % p->d), an, fd);
                fail();
            }
        }
    if (stride > 1)
        printf("  quick: %s finite differences at %lld of %lld entries (T=%lld nh=%lld)\n", who,
               (long long)probed, (long long)all, (long long)p->c.T, (long long)p->c.nh);
    swat_free(x.o);
    swat_free(x.lse);
}

/* ---- the cases -------------------------------------------------------------- */

enum { SIG = SWAT_ATTN_SIGMOID, SMX = SWAT_ATTN_SOFTMAX };
enum { BAL = SWAT_ALIBI_BALANCED, NEG = SWAT_ALIBI_NEGATIVE, POS = SWAT_ALIBI_POSITIVE,
       NONE = SWAT_ALIBI_NONE };
enum { AUTO = SWAT_ALIBI_MAG_AUTO, HALVING = SWAT_ALIBI_MAG_HALVING, CLASSIC = SWAT_ALIBI_MAG_ALIBI };

/* T, w, H, dh, nh, p0, kind, alibi, bias, magnitudes */
static const tcase cases[] = {
    {37, 8, 2, 4, 0, 0, SIG, BAL, 0, AUTO},      /* window does not divide T */
    {64, 16, 4, 16, 0, 0, SMX, NEG, 0, AUTO},    /* window divides T */
    {37, 8, 3, 6, 0, 0, SMX, POS, 0, AUTO},      /* odd head count */
    {20, 32, 2, 8, 0, 0, SIG, NONE, -1.5, AUTO}, /* w ≥ T, bias */
    {29, 0, 2, 8, 0, 0, SMX, BAL, 0, AUTO},      /* full causal */
    {29, 0, 4, 4, 0, 0, SIG, NEG, 0.7, AUTO},    /* full causal, bias */
    {37, 8, 2, 4, 7, 100, SIG, BAL, -1, AUTO},   /* halo nh = w − 1, p0 > 0 */
    {64, 16, 4, 10, 15, 64, SMX, NEG, 0, AUTO},  /* halo, softmax */
    {20, 8, 2, 6, 3, 3, SIG, POS, 0.3, AUTO},    /* near the sequence start: nh = p0 < w − 1 */
    {16, 32, 2, 4, 20, 20, SMX, BAL, 0, AUTO},   /* w ≥ T with a halo */
    {10, 1, 2, 4, 0, 5, SIG, BAL, 0.2, AUTO},    /* w = 1: each query sees itself */
    {37, 8, 4, 4, 7, 100, SIG, BAL, -1, CLASSIC}, /* balanced, the authors' sizes, halo */
    {40, 8, 4, 6, 0, 0, SMX, POS, 0, HALVING},    /* positive, the paper's halving sizes */
    {29, 0, 4, 4, 0, 0, SIG, NEG, 0.5, HALVING},  /* negative halving, full causal */
};
#define NCASES (sizeof cases / sizeof cases[0])

static void blocks_of(int64_t *blk, const tcase *c)
{
    int64_t w = c->w > 0 ? c->w : 8;
    blk[0] = 1, blk[1] = 3, blk[2] = w, blk[3] = w + 5, blk[4] = 0; /* 0: the default */
}

/* Exact expected slope of head n (signs per mode, sizes per family). */
static double want_slope(int64_t H, int64_t n, int alibi, int mags)
{
    int64_t i = alibi == SWAT_ALIBI_BALANCED && n >= H / 2 ? n - H / 2 : n;
    double mag = mags == HALVING ? pow(2, -(double)(i + 1)) : pow(2, -8.0 * (double)(i + 1) / (double)H);
    if (alibi == SWAT_ALIBI_NONE) return 0;
    return (alibi == SWAT_ALIBI_NEGATIVE || (alibi == SWAT_ALIBI_BALANCED && n < H / 2)) ? -mag
                                                                                        : mag;
}

static void test_slopes(void **state)
{
    (void)state;
    swat_real s[12], a[12];
    const int modes[] = {BAL, NEG, POS, NONE};
    for (int64_t H = 2; H <= 12; H += 2)
        for (int k = 0; k < 4; k++) {
            int mode = modes[k];
            for (int mags = HALVING; mags <= CLASSIC; mags++) {
                swat_attn_slopes(s, H, mode, mags);
                for (int64_t n = 0; n < H; n++) {
                    double w = want_slope(H, n, mode, mags);
                    /* halving sizes are exact powers of two; alibi ones are
                     * libm's pow: within one ulp of a double */
                    assert_true(mags == HALVING ? s[n] == w : fabs(s[n] - w) <= 1e-15 * fabs(w));
                }
            }
            /* auto: halving for balanced (the paper's text), alibi otherwise,
             * bit for bit what the explicit family gives */
            swat_attn_slopes(a, H, mode, SWAT_ALIBI_MAG_AUTO);
            swat_attn_slopes(s, H, mode, mode == BAL ? HALVING : CLASSIC);
            assert_memory_equal(a, s, sizeof(swat_real) * (size_t)H);
        }
    /* the paper's 4 heads: -1/2, -1/4, +1/2, +1/4 */
    swat_attn_slopes(s, 4, BAL, SWAT_ALIBI_MAG_AUTO);
    assert_true(s[0] == -0.5 && s[1] == -0.25 && s[2] == 0.5 && s[3] == 0.25);
    /* the authors' code at H = 4 is +1/4, +1/16, -1/16, -1/4: in our head
     * order -1/4, -1/16, +1/4, +1/16 (H in the exponent is the model's 4,
     * not the group's 2) */
    swat_attn_slopes(s, 4, BAL, CLASSIC);
    assert_true(s[0] == -0.25 && s[1] == -0.0625 && s[2] == 0.25 && s[3] == 0.0625);
    /* classic ALiBi at H = 8: 1/2 ... 1/256; halving from 1/2 on every sign */
    swat_attn_slopes(s, 8, NEG, SWAT_ALIBI_MAG_AUTO);
    assert_true(s[0] == -0.5 && s[7] == -1.0 / 256);
    swat_attn_slopes(s, 8, POS, HALVING);
    assert_true(s[0] == 0.5 && s[7] == 1.0 / 256);
    swat_attn_slopes(s, 3, NEG, SWAT_ALIBI_MAG_AUTO);
    assert_true(fabs(s[2] + 1.0 / 256) < 1e-18);
}

/* The reference backward against finite differences of the reference forward. */
static void test_reference_fd(void **state)
{
    (void)state;
    const int pick[] = {0, 1, 3, 6, 8, 9, 11, 13};
    for (size_t k = 0; k < sizeof pick / sizeof pick[0]; k++) {
        tcase c = cases[pick[k]];
        if (c.T > 40) c.T = 40, c.dh = c.dh > 6 ? 6 : c.dh; /* keep it small */
        prob p;
        prob_init(&p, c, 0, 100 + k);
        swat_real *g = swat_calloc(sizeof(swat_real) * (size_t)(p.rows * p.ld));
        ref_bwd(&p, g);
        check_fd(&p, g, 0, "reference");
        swat_free(g);
        prob_free(&p);
    }
}

/* Every case, several block sizes: forward and backward equal the reference. */
static void test_vs_reference(void **state)
{
    (void)state;
    for (size_t k = 0; k < NCASES; k++) {
        const tcase *c = &cases[k];
        int64_t blk[5];
        blocks_of(blk, c);
        prob p;
        prob_init(&p, *c, 0, 200 + k);
        int64_t To = c->T * p.d, Tl = c->H * c->T, G = p.rows * p.ld;
        swat_real *o_ref = vec(To), *lse_ref = vec(Tl), *g_ref = vec(G);
        swat_real *g0 = copy_of(g_ref, G); /* dk, dv accumulate onto this */
        ref_fwd(&p, o_ref, lse_ref);
        ref_bwd(&p, g_ref);
        for (int64_t i = 0; i < p.rows; i++) /* dq is written: compare to the bare gradient */
            for (int64_t col = 0; col < p.d; col++)
                g_ref[i * p.ld + col] -= g0[i * p.ld + col];
        for (int b = 0; b < 5; b++) {
            p.a.block = blk[b];
            swat_real *o = vec(To), *lse = vec(Tl), *g = copy_of(g0, G);
            kern_fwd(&p, o, lse, 0, c->T);
            if (rel_err(o, o_ref, To) > REF_RTOL) {
                print_error("case %zu block %lld: o off by %g\n", k, (long long)blk[b],
                            rel_err(o, o_ref, To));
                fail();
            }
            if (c->kind == SMX) assert_true(rel_err(lse, lse_ref, Tl) <= REF_RTOL);
            for (int64_t i = 0; i < c->T; i++) /* dq must be written, not accumulated */
                for (int64_t col = 0; col < p.d; col++) g[(c->nh + i) * p.ld + col] = 1e30;
            kern_bwd(&p, g, lse, 0, c->T);
            /* halo rows' q part is no one's: restore it for the comparison */
            for (int64_t i = 0; i < c->nh; i++)
                for (int64_t col = 0; col < p.d; col++) g[i * p.ld + col] = g_ref[i * p.ld + col];
            if (rel_err(g, g_ref, G) > REF_RTOL) {
                print_error("case %zu block %lld: dq|dk|dv off by %g\n", k, (long long)blk[b],
                            rel_err(g, g_ref, G));
                fail();
            }
            swat_free(o), swat_free(lse), swat_free(g);
        }
        swat_free(o_ref), swat_free(lse_ref), swat_free(g_ref), swat_free(g0);
        prob_free(&p);
    }
}

/* The blocked backward against finite differences of the blocked forward. */
static void test_kernel_fd(void **state)
{
    (void)state;
    const int pick[] = {6, 7, 4, 8, 11, 12};
    const int64_t blk[] = {3, 5, 4, 0, 3, 0};
    for (size_t k = 0; k < sizeof pick / sizeof pick[0]; k++) {
        tcase c = cases[pick[k]];
        if (c.T > 40) c.T = 40, c.dh = 6;
        prob p;
        prob_init(&p, c, blk[k], 300 + k);
        swat_real *o = vec(c.T * p.d), *lse = vec(c.H * c.T);
        swat_real *g = swat_calloc(sizeof(swat_real) * (size_t)(p.rows * p.ld));
        kern_fwd(&p, o, lse, 0, c.T);
        kern_bwd(&p, g, lse, 0, c.T);
        check_fd(&p, g, 1, "kernel");
        swat_free(o), swat_free(lse), swat_free(g);
        prob_free(&p);
    }
}

/* [0, T) in one call vs [0, t) and [t, T); the model's orders: forward does
 * [nh, T) first, backward [0, nh) first. Bit-identical when t is on the block
 * grid (nh + k·block), to rounding elsewhere. */
static void split_case(const tcase *c, int64_t block, int64_t t, int exact)
{
    prob p;
    prob_init(&p, *c, block, 400 + (uint64_t)t);
    int64_t To = c->T * p.d, Tl = c->H * c->T, G = p.rows * p.ld;
    swat_real *o1 = vec(To), *l1 = vec(Tl), *o2 = copy_of(o1, To), *l2 = copy_of(l1, Tl);
    kern_fwd(&p, o1, l1, 0, c->T);
    kern_fwd(&p, o2, l2, t, c->T);
    kern_fwd(&p, o2, l2, 0, t);
    swat_real *g1 = vec(G), *g2 = copy_of(g1, G);
    kern_bwd(&p, g1, l1, 0, c->T);
    kern_bwd(&p, g2, l1, 0, t);
    kern_bwd(&p, g2, l1, t, c->T);
    if (exact) {
        assert_memory_equal(o1, o2, sizeof(swat_real) * (size_t)To);
        if (c->kind == SMX) assert_memory_equal(l1, l2, sizeof(swat_real) * (size_t)Tl);
        assert_memory_equal(g1, g2, sizeof(swat_real) * (size_t)G);
    } else {
        assert_true(rel_err(o2, o1, To) <= REF_RTOL);
        assert_true(rel_err(g2, g1, G) <= REF_RTOL);
    }
    swat_free(o1), swat_free(l1), swat_free(o2), swat_free(l2), swat_free(g1), swat_free(g2);
    prob_free(&p);
}

static void test_split(void **state)
{
    (void)state;
    for (size_t k = 0; k < NCASES; k++) {
        const tcase *c = &cases[k];
        int64_t blk[5];
        blocks_of(blk, c);
        for (int b = 0; b < 4; b++) {
            int64_t bq = blk[b], nh = c->nh < c->T ? c->nh : 0;
            /* on the grid: nh (the model's split), and nh + 2·block */
            if (nh == c->nh) split_case(c, bq, nh, 1);
            if (c->nh + 2 * bq < c->T) split_case(c, bq, c->nh + 2 * bq, 1);
            /* off the grid */
            if (bq > 1) split_case(c, bq, nh + 1, 0);
        }
    }
}

/* The rows [nh, T) the model computes before the halo arrives never read it. */
static void test_no_halo_read(void **state)
{
    (void)state;
    const int pick[] = {6, 7};
    for (size_t k = 0; k < 2; k++) {
        const tcase *c = &cases[pick[k]];
        for (int64_t bq = 1; bq <= 20; bq += 6) {
            prob p;
            prob_init(&p, *c, bq, 500 + k);
            int64_t To = c->T * p.d, Tl = c->H * c->T;
            swat_real *o1 = vec(To), *l1 = vec(Tl), *o2 = copy_of(o1, To), *l2 = copy_of(l1, Tl);
            kern_fwd(&p, o1, l1, c->nh, c->T);
            for (int64_t i = 0; i < c->nh * p.ld; i++) p.qkv[i] = NAN;
            kern_fwd(&p, o2, l2, c->nh, c->T);
            assert_memory_equal(o1, o2, sizeof(swat_real) * (size_t)To);
            assert_memory_equal(l1, l2, sizeof(swat_real) * (size_t)Tl);
            swat_free(o1), swat_free(l1), swat_free(o2), swat_free(l2);
            prob_free(&p);
        }
    }
}

/* 1 and 2 threads give the same bits. */
static void test_threads(void **state)
{
    (void)state;
    const tcase tc[] = {
        {96, 16, 4, 8, 15, 40, SIG, BAL, 0.1, AUTO},
        {80, 12, 3, 8, 0, 0, SMX, NEG, 0, AUTO},
        {50, 0, 2, 8, 0, 0, SIG, POS, 0, AUTO},
    };
    for (size_t k = 0; k < sizeof tc / sizeof tc[0]; k++)
        for (int64_t bq = 0; bq <= 7; bq += 7) {
            const tcase *c = &tc[k];
            prob p;
            prob_init(&p, *c, bq, 600 + k);
            int64_t To = c->T * p.d, Tl = c->H * c->T, G = p.rows * p.ld;
            swat_real *o[2], *l[2], *g[2];
            swat_real *g0 = vec(G);
            for (int t = 0; t < 2; t++) {
                swat_gemm_set_threads(t + 1);
                o[t] = vec(To), l[t] = vec(Tl), g[t] = copy_of(g0, G);
                kern_fwd(&p, o[t], l[t], 0, c->T);
                kern_bwd(&p, g[t], l[t], 0, c->T);
            }
            swat_gemm_set_threads(1);
            assert_memory_equal(o[0], o[1], sizeof(swat_real) * (size_t)To);
            if (c->kind == SMX) assert_memory_equal(l[0], l[1], sizeof(swat_real) * (size_t)Tl);
            assert_memory_equal(g[0], g[1], sizeof(swat_real) * (size_t)G);
            for (int t = 0; t < 2; t++) swat_free(o[t]), swat_free(l[t]), swat_free(g[t]);
            swat_free(g0);
            prob_free(&p);
        }
}

int main(void)
{
    swat_gemm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slopes),       cmocka_unit_test(test_reference_fd),
        cmocka_unit_test(test_vs_reference), cmocka_unit_test(test_kernel_fd),
        cmocka_unit_test(test_split),        cmocka_unit_test(test_no_halo_read),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
