/* SPDX-License-Identifier: MIT */
/* test_ops.c: the row-wise kernels of ops.h against naive formulas, and every
 * backward against central finite differences, in double precision.
 *
 * Finite differences: L = Σ R⊙out for a fixed random R, step h = 1e-5. The
 * central difference has truncation error ~h²·|L'''|/6 ≈ 1e-10 and rounding
 * error ~eps·|L|/h ≈ 1e-16·|L|/1e-5 ≈ 1e-10 for |L| ≤ 10, so a correct
 * gradient agrees to about 1e-9 absolute; we accept |fd − g| ≤ 1e-6·max(|fd|,
 * |g|) + 1e-8, while a wrong term (a missing factor, a transposed index) is off
 * by O(1) relative. Forward results are compared with naive loops to 1e-12
 * relative (only the summation order and a 1-ulp exp differ).
 *
 * Thread-count independence: each reduction (dg, dE, the classifier's loss
 * sum) is run with 1 and 2 threads and compared bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "swat/gemm.h"
#include "swat/ops.h"

#ifndef SWAT_DOUBLE
#error "test_ops checks gradients in double precision: link swat64"
#endif

#define FD_STEP 1e-5
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8
#define FWD_RTOL 1e-12

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

/* uniform in [−1, 1) */
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

static swat_real *vec(int64_t n)
{
    swat_real *v = swat_malloc(sizeof(swat_real) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = (swat_real)urand();
    return v;
}

static swat_real *copy_of(const swat_real *x, int64_t n)
{
    swat_real *v = swat_malloc(sizeof(swat_real) * (size_t)n);
    memcpy(v, x, sizeof(swat_real) * (size_t)n);
    return v;
}

static double dot(const swat_real *a, const swat_real *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* max |a − b| / max(max |b|, tiny) */
static double rel_err(const swat_real *a, const swat_real *b, int64_t n)
{
    double e = 0, m = 1e-300;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > e || d != d) e = d != d ? INFINITY : d;
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return e / m;
}

/* Checks analytic gradient g [n] of loss(ctx) w.r.t. x [n] (x perturbed in place). */
static void check_fd(const char *what, swat_real *x, const swat_real *g, int64_t n,
                     double (*loss)(void *), void *ctx)
{
    for (int64_t i = 0; i < n; i++) {
        swat_real x0 = x[i];
        x[i] = x0 + FD_STEP;
        double lp = loss(ctx);
        x[i] = x0 - FD_STEP;
        double lm = loss(ctx);
        x[i] = x0;
        double fd = (lp - lm) / (2 * FD_STEP);
        double err = fabs(fd - g[i]);
        double lim = FD_RTOL * fmax(fabs(fd), fabs(g[i])) + FD_ATOL;
        if (!(err <= lim)) {
            print_error("%s[%lld]: analytic %.12g, finite difference %.12g\n", what, (long long)i,
                        (double)g[i], fd);
            fail();
        }
    }
}

/* ---- RMSNorm ---------------------------------------------------------------- */

typedef struct {
    int64_t n, d;
    double eps;
    swat_real *x, *g, *R, *y, *rstd;
} rms_ctx;

static double rms_loss(void *p)
{
    rms_ctx *c = p;
    swat_rmsnorm_forward(SWAT_OPERAND_REAL, c->y, c->rstd, c->x, c->g, c->n, c->d, c->eps);
    return dot(c->R, c->y, c->n * c->d);
}

static void test_rmsnorm(void **state)
{
    (void)state;
    rng_seed(1);
    rms_ctx c = {.n = 5, .d = 12, .eps = 0.05};
    int64_t nd = c.n * c.d;
    c.x = vec(nd), c.g = vec(c.d), c.R = vec(nd), c.y = vec(nd), c.rstd = vec(c.n);
    swat_rmsnorm_forward(SWAT_OPERAND_REAL, c.y, c.rstd, c.x, c.g, c.n, c.d, c.eps);
    for (int64_t r = 0; r < c.n; r++) {
        double ms = 0;
        for (int64_t i = 0; i < c.d; i++) ms += c.x[r * c.d + i] * c.x[r * c.d + i];
        double rs = 1 / sqrt(ms / c.d + c.eps);
        assert_true(fabs(c.rstd[r] - rs) <= FWD_RTOL * rs);
        for (int64_t i = 0; i < c.d; i++) {
            double want = c.x[r * c.d + i] * rs * c.g[i];
            assert_true(fabs(c.y[r * c.d + i] - want) <= FWD_RTOL);
        }
    }
    /* backward accumulates: start from non-zero dx, dg */
    swat_real *dx0 = vec(nd), *dg0 = vec(c.d);
    swat_real *dx = copy_of(dx0, nd), *dg = copy_of(dg0, c.d);
    swat_rmsnorm_backward(dx, dg, c.R, c.x, c.g, c.rstd, c.n, c.d);
    for (int64_t i = 0; i < nd; i++) dx[i] -= dx0[i];
    for (int64_t i = 0; i < c.d; i++) dg[i] -= dg0[i];
    check_fd("rmsnorm dx", c.x, dx, nd, rms_loss, &c);
    check_fd("rmsnorm dg", c.g, dg, c.d, rms_loss, &c);
    swat_free(c.x), swat_free(c.g), swat_free(c.R), swat_free(c.y), swat_free(c.rstd);
    swat_free(dx0), swat_free(dg0), swat_free(dx), swat_free(dg);
}

static void test_rmsnorm_threads(void **state)
{
    (void)state;
    rng_seed(2);
    int64_t n = 97, d = 200; /* d not a multiple of the column block */
    swat_real *x = vec(n * d), *g = vec(d), *dy = vec(n * d), *y = vec(n * d), *rstd = vec(n);
    swat_real *dx[2], *dg[2], *yy[2];
    for (int t = 0; t < 2; t++) {
        swat_gemm_set_threads(t + 1);
        yy[t] = vec(n * d);
        swat_rmsnorm_forward(SWAT_OPERAND_REAL, yy[t], rstd, x, g, n, d, 1e-6);
        dx[t] = swat_calloc(sizeof(swat_real) * (size_t)(n * d));
        dg[t] = swat_calloc(sizeof(swat_real) * (size_t)d);
        swat_rmsnorm_backward(dx[t], dg[t], dy, x, g, rstd, n, d);
    }
    swat_gemm_set_threads(1);
    assert_memory_equal(yy[0], yy[1], sizeof(swat_real) * (size_t)(n * d));
    assert_memory_equal(dx[0], dx[1], sizeof(swat_real) * (size_t)(n * d));
    assert_memory_equal(dg[0], dg[1], sizeof(swat_real) * (size_t)d);
    for (int t = 0; t < 2; t++) swat_free(dx[t]), swat_free(dg[t]), swat_free(yy[t]);
    swat_free(x), swat_free(g), swat_free(dy), swat_free(y), swat_free(rstd);
}

/* ---- RoPE ------------------------------------------------------------------- */

static void test_rope_table(void **state)
{
    (void)state;
    int64_t p0 = 1000, n = 7, dh = 16;
    double theta = 10000;
    swat_real c[7 * 8], s[7 * 8];
    swat_rope_table(c, s, p0, n, dh, theta);
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < dh / 2; i++) {
            /* angle = p·θ^(−2i/dh), written another way */
            double ang = (double)(p0 + t) * exp(-(2.0 * i / dh) * log(theta));
            assert_true(fabs(c[t * dh / 2 + i] - cos(ang)) <= 1e-11);
            assert_true(fabs(s[t * dh / 2 + i] - sin(ang)) <= 1e-11);
        }
}

static void test_rope_pairing(void **state)
{
    (void)state;
    /* one head of 4 at position 1: e_0 → (cos 1, 0, sin 1, 0) in rotate-half
     * form; an interleaved RoPE would put sin 1 in component 1 */
    swat_real c[2], s[2], x[4] = {1, 0, 0, 0};
    swat_rope_table(c, s, 1, 1, 4, 10000);
    swat_rope_forward(x, 4, c, s, 1, 1, 4);
    assert_true(fabs(x[0] - cos(1.0)) < 1e-15 && x[1] == 0);
    assert_true(fabs(x[2] - sin(1.0)) < 1e-15 && x[3] == 0);
    /* e_1 → second pair, angle 1·10000^(−1/2) = 0.01 */
    swat_real y[4] = {0, 1, 0, 0};
    swat_rope_forward(y, 4, c, s, 1, 1, 4);
    assert_true(fabs(y[1] - cos(0.01)) < 1e-15 && fabs(y[3] - sin(0.01)) < 1e-15);
    assert_true(y[0] == 0 && y[2] == 0);
}

typedef struct {
    int64_t n, heads, dh, ldx;
    swat_real *x, *c, *s, *R, *tmp;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *r = p;
    memcpy(r->tmp, r->x, sizeof(swat_real) * (size_t)(r->n * r->ldx));
    swat_rope_forward(r->tmp, r->ldx, r->c, r->s, r->n, r->heads, r->dh);
    return dot(r->R, r->tmp, r->n * r->ldx);
}

static void test_rope_strided(void **state)
{
    (void)state;
    rng_seed(3);
    /* q and k of H = 2 heads of 6 inside a [n][3d] qkv row, as the model stores
     * them: rope over 2H = 4 heads, v columns untouched */
    int64_t n = 5, H = 2, dh = 6, d = H * dh, ldx = 3 * d, half = dh / 2;
    rope_ctx r = {.n = n, .heads = 2 * H, .dh = dh, .ldx = ldx};
    r.x = vec(n * ldx), r.R = vec(n * ldx), r.tmp = vec(n * ldx);
    r.c = vec(n * half), r.s = vec(n * half);
    swat_rope_table(r.c, r.s, 37, n, dh, 500);
    swat_real *y = copy_of(r.x, n * ldx);
    swat_rope_forward(y, ldx, r.c, r.s, n, 2 * H, dh);
    for (int64_t t = 0; t < n; t++) {
        for (int64_t h = 0; h < 2 * H; h++)
            for (int64_t i = 0; i < half; i++) {
                const swat_real *x = r.x + t * ldx + h * dh;
                double cc = r.c[t * half + i], ss = r.s[t * half + i];
                assert_true(fabs(y[t * ldx + h * dh + i] - (x[i] * cc - x[i + half] * ss)) < 1e-15);
                assert_true(fabs(y[t * ldx + h * dh + i + half] - (x[i + half] * cc + x[i] * ss)) <
                            1e-15);
            }
        assert_memory_equal(y + t * ldx + 2 * d, r.x + t * ldx + 2 * d, sizeof(swat_real) * d);
    }
    /* backward: ∂L/∂x from ∂L/∂y = R */
    swat_real *g = copy_of(r.R, n * ldx);
    swat_rope_backward(g, ldx, r.c, r.s, n, 2 * H, dh);
    check_fd("rope dx", r.x, g, n * ldx, rope_loss, &r);
    /* and the backward is the inverse rotation */
    swat_rope_backward(y, ldx, r.c, r.s, n, 2 * H, dh);
    assert_true(rel_err(y, r.x, n * ldx) < 1e-14);
    swat_free(r.x), swat_free(r.R), swat_free(r.tmp), swat_free(r.c), swat_free(r.s);
    swat_free(y), swat_free(g);
}

/* ---- SwiGLU ----------------------------------------------------------------- */

typedef struct {
    int64_t n, f;
    swat_real *gu, *R, *out;
} swiglu_ctx;

static double swiglu_loss(void *p)
{
    swiglu_ctx *c = p;
    swat_swiglu_forward(SWAT_OPERAND_REAL, c->out, c->gu, c->n, c->f);
    return dot(c->R, c->out, c->n * c->f);
}

static void test_swiglu(void **state)
{
    (void)state;
    rng_seed(4);
    swiglu_ctx c = {.n = 4, .f = 19};
    int64_t n = c.n, f = c.f;
    c.gu = vec(n * 2 * f), c.R = vec(n * f), c.out = vec(n * f);
    for (int64_t i = 0; i < n * 2 * f; i++) c.gu[i] *= 6; /* reach the tails of σ */
    c.gu[0] = -800, c.gu[1] = 800;                        /* and exp's clamp */
    swat_swiglu_forward(SWAT_OPERAND_REAL, c.out, c.gu, n, f);
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < f; i++) {
            double g = c.gu[r * 2 * f + i], u = c.gu[r * 2 * f + f + i];
            double want = g / (1 + exp(-g)) * u;
            assert_true(fabs(c.out[r * f + i] - want) <= FWD_RTOL * fmax(1, fabs(want)));
        }
    /* FD rounding grows with |L|: keep the saturated entries moderate */
    c.gu[0] = -40, c.gu[1] = 40;
    swat_real *dgu = vec(n * 2 * f);
    for (int64_t i = 0; i < n * 2 * f; i++) dgu[i] = 1e30; /* must be overwritten */
    swat_swiglu_backward(SWAT_OPERAND_REAL, dgu, c.R, c.gu, n, f);
    check_fd("swiglu dgu", c.gu, dgu, n * 2 * f, swiglu_loss, &c);
    swat_free(c.gu), swat_free(c.R), swat_free(c.out), swat_free(dgu);
}

/* ---- Embedding -------------------------------------------------------------- */

typedef struct {
    int64_t n, d;
    const int32_t *tok;
    swat_real *E, *R, *h;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    swat_embedding_forward(SWAT_OPERAND_REAL, c->h, c->E, c->tok, c->n, c->d);
    return dot(c->R, c->h, c->n * c->d);
}

static void test_embedding(void **state)
{
    (void)state;
    rng_seed(5);
    const int32_t tok[9] = {3, 0, 3, 5, 3, 1, 0, 5, 2}; /* repeats; 4 unused */
    int64_t V = 6, d = 7, n = 9;
    emb_ctx c = {.n = n, .d = d, .tok = tok};
    c.E = vec(V * d), c.R = vec(n * d), c.h = vec(n * d);
    swat_embedding_forward(SWAT_OPERAND_REAL, c.h, c.E, tok, n, d);
    for (int64_t r = 0; r < n; r++)
        assert_memory_equal(c.h + r * d, c.E + tok[r] * d, sizeof(swat_real) * d);
    /* from a bf16 operand copy of the table: each row its bf16 values, exactly */
    swat_bf16 *Eb = swat_malloc(sizeof(swat_bf16) * (size_t)(V * d));
    swat_operand_store(SWAT_OPERAND_BF16, Eb, d, c.E, d, V, d);
    swat_embedding_forward(SWAT_OPERAND_BF16, c.h, Eb, tok, n, d);
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < d; i++)
            assert_true(c.h[r * d + i] == (swat_real)swat_bf16_to_float(Eb[tok[r] * d + i]));
    swat_free(Eb);
    swat_real *dE0 = vec(V * d), *dE = copy_of(dE0, V * d), *want = copy_of(dE0, V * d);
    swat_embedding_backward(dE, c.R, tok, n, d);
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < d; i++) want[tok[r] * d + i] += c.R[r * d + i];
    assert_true(rel_err(dE, want, V * d) < 1e-15);
    assert_memory_equal(dE + 4 * d, dE0 + 4 * d, sizeof(swat_real) * d); /* unused row */
    for (int64_t i = 0; i < V * d; i++) dE[i] -= dE0[i];
    check_fd("embedding dE", c.E, dE, V * d, emb_loss, &c);
    swat_free(c.E), swat_free(c.R), swat_free(c.h), swat_free(dE0), swat_free(dE), swat_free(want);
}

static void test_embedding_threads(void **state)
{
    (void)state;
    rng_seed(6);
    int64_t V = 13, d = 150, n = 301;
    int32_t *tok = swat_malloc(sizeof(int32_t) * n);
    for (int64_t r = 0; r < n; r++) tok[r] = (int32_t)((urand() + 1) * 0.5 * V) % (int32_t)V;
    swat_real *dh = vec(n * d), *dE[2];
    for (int t = 0; t < 2; t++) {
        swat_gemm_set_threads(t + 1);
        dE[t] = swat_calloc(sizeof(swat_real) * (size_t)(V * d));
        swat_embedding_backward(dE[t], dh, tok, n, d);
    }
    swat_gemm_set_threads(1);
    assert_memory_equal(dE[0], dE[1], sizeof(swat_real) * (size_t)(V * d));
    swat_free(tok), swat_free(dh), swat_free(dE[0]), swat_free(dE[1]);
}

/* ---- Classifier ------------------------------------------------------------- */

/* Σ_i logsumexp(y_i·Wᵀ) − y_i·W[target_i], naively; rl [n] gets each row. */
static double naive_xent(double *rl, const swat_real *y, const swat_real *W, const int32_t *tg,
                         int64_t n, int64_t d, int64_t V)
{
    double total = 0;
    for (int64_t r = 0; r < n; r++) {
        double mx = -INFINITY, l[64];
        for (int64_t v = 0; v < V; v++) {
            l[v] = dot(y + r * d, W + v * d, d);
            mx = fmax(mx, l[v]);
        }
        double s = 0;
        for (int64_t v = 0; v < V; v++) s += exp(l[v] - mx);
        rl[r] = mx + log(s) - l[tg[r]];
        total += rl[r];
    }
    return total;
}

typedef struct {
    int64_t n, d, V;
    const int32_t *tg;
    swat_real *y, *W, *scratch;
    double scale;
} cls_ctx;

static double cls_loss(void *p)
{
    cls_ctx *c = p;
    return c->scale *
           swat_classifier(SWAT_OPERAND_REAL, NULL, NULL, NULL, c->y, c->W, c->tg, c->n, c->d, c->V, 0, c->scratch, NULL, 3);
}

static void test_classifier(void **state)
{
    (void)state;
    rng_seed(7);
    int64_t n = 13, d = 8, V = 11;
    int32_t tg[13];
    for (int64_t r = 0; r < n; r++) tg[r] = (int32_t)(r * 7 % V);
    cls_ctx c = {.n = n, .d = d, .V = V, .tg = tg, .scale = 0.37};
    c.y = vec(n * d), c.W = vec(V * d), c.scratch = vec(20 * V);
    for (int64_t i = 0; i < d; i++) c.y[2 * d + i] *= 400; /* logits in the hundreds */
    double want_rows[13];
    double want = naive_xent(want_rows, c.y, c.W, tg, n, d, V);

    const int64_t chunks[] = {13, 1, 4, 5, 20}; /* divides n or not, > n */
    swat_real *dW0 = vec(V * d), *ref_dy = NULL, *ref_dW = NULL;
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        double rows[13];
        double loss = swat_classifier(SWAT_OPERAND_REAL, NULL, NULL, rows, c.y, c.W, tg, n, d, V, 1, c.scratch, NULL, chunks[k]);
        assert_true(fabs(loss - want) <= FWD_RTOL * fabs(want));
        for (int64_t r = 0; r < n; r++)
            assert_true(fabs(rows[r] - want_rows[r]) <= FWD_RTOL * fmax(1, fabs(want_rows[r])));
        swat_real *dy = vec(n * d), *dW = copy_of(dW0, V * d);
        for (int64_t i = 0; i < n * d; i++) dy[i] = 1e30; /* written, not accumulated */
        double loss2 = swat_classifier(SWAT_OPERAND_REAL, dy, dW, NULL, c.y, c.W, tg, n, d, V, (swat_real)c.scale, c.scratch, NULL, chunks[k]);
        assert_true(fabs(loss2 - want) <= FWD_RTOL * fabs(want));
        for (int64_t i = 0; i < V * d; i++) dW[i] -= dW0[i];
        if (k == 0) {
            ref_dy = dy, ref_dW = dW;
            check_fd("classifier dy", c.y, dy, n * d, cls_loss, &c);
            check_fd("classifier dW", c.W, dW, V * d, cls_loss, &c);
        } else {
            /* other chunkings: same gradients up to the order of dW's sum */
            assert_true(rel_err(dy, ref_dy, n * d) < 1e-13);
            assert_true(rel_err(dW, ref_dW, V * d) < 1e-13);
            swat_free(dy), swat_free(dW);
        }
    }
    swat_free(ref_dy), swat_free(ref_dW), swat_free(dW0);
    swat_free(c.y), swat_free(c.W), swat_free(c.scratch);
}

static void test_classifier_threads(void **state)
{
    (void)state;
    rng_seed(8);
    int64_t n = 300, d = 16, V = 50, chunk = 280; /* > one loss batch per chunk */
    int32_t *tg = swat_malloc(sizeof(int32_t) * n);
    for (int64_t r = 0; r < n; r++) tg[r] = (int32_t)(r * 31 % V);
    swat_real *y = vec(n * d), *W = vec(V * d), *scratch = vec(chunk * V);
    swat_real *dy[2], *dW[2];
    double loss[2], *rl[2];
    for (int t = 0; t < 2; t++) {
        swat_gemm_set_threads(t + 1);
        dy[t] = vec(n * d);
        dW[t] = swat_calloc(sizeof(swat_real) * (size_t)(V * d));
        rl[t] = swat_malloc(sizeof(double) * n);
        loss[t] = swat_classifier(SWAT_OPERAND_REAL, dy[t], dW[t], rl[t], y, W, tg, n, d, V, 0.25, scratch, NULL, chunk);
    }
    swat_gemm_set_threads(1);
    assert_memory_equal(&loss[0], &loss[1], sizeof(double));
    assert_memory_equal(rl[0], rl[1], sizeof(double) * n);
    assert_memory_equal(dy[0], dy[1], sizeof(swat_real) * (size_t)(n * d));
    assert_memory_equal(dW[0], dW[1], sizeof(swat_real) * (size_t)(V * d));
    for (int t = 0; t < 2; t++) swat_free(dy[t]), swat_free(dW[t]), swat_free(rl[t]);
    swat_free(tg), swat_free(y), swat_free(W), swat_free(scratch);
}

int main(void)
{
    swat_gemm_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),        cmocka_unit_test(test_rmsnorm_threads),
        cmocka_unit_test(test_rope_table),     cmocka_unit_test(test_rope_pairing),
        cmocka_unit_test(test_rope_strided),   cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_embedding),      cmocka_unit_test(test_embedding_threads),
        cmocka_unit_test(test_classifier),     cmocka_unit_test(test_classifier_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
