/* SPDX-License-Identifier: MIT */
/* ops.c: the row-wise and pointwise kernels of the model (RMSNorm, RoPE,
 * SwiGLU, embedding, the output layer fused with the cross-entropy).
 *
 * Every kernel is one fused pass over its rows, parallel over rows with
 * OpenMP: rows are independent, so the thread count cannot change a result.
 * The two reductions over rows (dg of RMSNorm, dE of the embedding) are split
 * by COLUMNS instead: one thread sums a column block over all rows in row
 * order, so the result is the serial one for any thread count, and no partial
 * buffers (no allocation) are needed.
 *
 * Exponentials go through vexp, a range-reduced polynomial the compiler turns
 * into SIMD code (libm's exp is a scalar call; SwiGLU and the classifier need
 * n·f and n·V of them, which at scalar speed cost a sizeable share of the
 * GEMMs around them). Its error is a few ulp of swat_real.
 *
 * The classifier never holds more than [chunk][V] logits: per chunk, one GEMM
 * makes the logits, one fused pass per row turns them into the loss and, in
 * place, into ∂L/∂logits, and two GEMMs give dy and dW. */
#include "swat/ops.h"

#include "swat/gemm.h"
#include "swat/vexp.h"

#include <math.h>
#include <string.h>

/* Column block of the column-split reductions: 64 reals, whole cache lines. */
#define COL_BLOCK 64
/* Rows of a classifier chunk whose losses are buffered before the ordered sum. */
#define LOSS_BATCH 256

static inline swat_real sigmoid(swat_real x) { return 1 / (1 + vexp(-x)); }

/* ---- RMSNorm ---------------------------------------------------------------- */

void swat_rmsnorm_forward(swat_operand t, void *y, swat_real *rstd, const swat_real *x,
                          const swat_real *g, int64_t n, int64_t d, double eps)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const swat_real *xr = x + r * d; /* [d] */
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < d; i++) ss += (double)xr[i] * xr[i];
        swat_real rs = (swat_real)(1.0 / sqrt(ss / (double)d + eps));
        rstd[r] = rs;
        for (int64_t i = 0; i < d; i++) swat_operand_put(t, y, r * d + i, xr[i] * rs * g[i]);
    }
}

/* y = g·x·rs with rs = (mean(x²)+eps)^(−1/2), so
 * dx = rs·g·dy − x·rs³·(Σ g·dy·x)/d and dg = Σ_rows dy·x·rs. */
void swat_rmsnorm_backward(swat_real *dx, swat_real *dg, const swat_real *dy, const swat_real *x,
                           const swat_real *g, const swat_real *rstd, int64_t n, int64_t d)
{
    int64_t ncb = (d + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int64_t r = 0; r < n; r++) {
            const swat_real *xr = x + r * d, *dyr = dy + r * d; /* [d] */
            swat_real *dxr = dx + r * d;                        /* [d] */
            double dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int64_t i = 0; i < d; i++) dot += (double)(g[i] * dyr[i]) * xr[i];
            swat_real rs = rstd[r];
            swat_real c = (swat_real)((double)rs * rs * rs * dot / (double)d);
            for (int64_t i = 0; i < d; i++) dxr[i] += rs * g[i] * dyr[i] - c * xr[i];
        }
#pragma omp for schedule(static)
        for (int64_t cb = 0; cb < ncb; cb++) {
            int64_t c0 = cb * COL_BLOCK, nc = d - c0 < COL_BLOCK ? d - c0 : COL_BLOCK;
            double acc[COL_BLOCK] = {0};
            for (int64_t r = 0; r < n; r++) {
                const swat_real *xr = x + r * d + c0, *dyr = dy + r * d + c0;
                double rs = rstd[r];
                for (int64_t i = 0; i < nc; i++) acc[i] += (double)dyr[i] * xr[i] * rs;
            }
            for (int64_t i = 0; i < nc; i++) dg[c0 + i] += (swat_real)acc[i];
        }
    }
}

/* ---- RoPE ------------------------------------------------------------------- */

void swat_rope_table(swat_real *cos_t, swat_real *sin_t, int64_t p0, int64_t n, int64_t dh,
                     double theta)
{
    SWAT_ASSERT(dh % 2 == 0);
    int64_t half = dh / 2;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < half; i++) {
            double angle = (double)(p0 + t) * pow(theta, -2.0 * (double)i / (double)dh);
            cos_t[t * half + i] = (swat_real)cos(angle);
            sin_t[t * half + i] = (swat_real)sin(angle);
        }
}

void swat_rope_head(swat_operand t, void *dst, const swat_real *src, const swat_real *cos_r,
                    const swat_real *sin_r, int64_t dh, swat_real sign)
{
    int64_t half = dh / 2;
#pragma omp simd
    for (int64_t i = 0; i < half; i++) {
        swat_real a = src[i], b = src[i + half], si = sign * sin_r[i];
        swat_operand_put(t, dst, i, a * cos_r[i] - b * si);
        swat_operand_put(t, dst, i + half, b * cos_r[i] + a * si);
    }
}

/* Rotates every head of every row in place; sign = +1 forward, −1 for the
 * inverse (the backward: a rotation's Jacobian is orthogonal, so its
 * transpose is the inverse). */
static void rope_rotate(swat_real *x, int64_t ldx, const swat_real *cos_t, const swat_real *sin_t,
                        int64_t n, int64_t heads, int64_t dh, swat_real sign)
{
    SWAT_ASSERT(dh % 2 == 0);
    int64_t half = dh / 2;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < n; t++)
        for (int64_t h = 0; h < heads; h++)
            swat_rope_head(SWAT_OPERAND_REAL, x + t * ldx + h * dh, x + t * ldx + h * dh,
                           cos_t + t * half, sin_t + t * half, dh, sign);
}

void swat_rope_forward(swat_real *x, int64_t ldx, const swat_real *cos_t, const swat_real *sin_t,
                       int64_t n, int64_t heads, int64_t dh)
{
    rope_rotate(x, ldx, cos_t, sin_t, n, heads, dh, 1);
}

void swat_rope_backward(swat_real *dx, int64_t ldx, const swat_real *cos_t, const swat_real *sin_t,
                        int64_t n, int64_t heads, int64_t dh)
{
    rope_rotate(dx, ldx, cos_t, sin_t, n, heads, dh, -1);
}

/* ---- SwiGLU ----------------------------------------------------------------- */

void swat_swiglu_forward(swat_operand t, void *out, const swat_real *gu, int64_t n, int64_t f)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const swat_real *gate = gu + r * 2 * f, *up = gate + f; /* [f] each */
#pragma omp simd
        for (int64_t i = 0; i < f; i++)
            swat_operand_put(t, out, r * f + i, gate[i] * sigmoid(gate[i]) * up[i]);
    }
}

/* out = u·g·σ(g): ∂/∂g = u·σ(g)·(1 + g·(1 − σ(g))), ∂/∂u = g·σ(g). */
void swat_swiglu_backward(swat_operand t, void *dgu, const swat_real *dout, const swat_real *gu,
                          int64_t n, int64_t f)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const swat_real *gate = gu + r * 2 * f, *up = gate + f; /* [f] each */
        const swat_real *dor = dout + r * f;                    /* [f] */
        int64_t dgate = r * 2 * f, dup = dgate + f;             /* [f] each, in dgu */
#pragma omp simd
        for (int64_t i = 0; i < f; i++) {
            swat_real s = sigmoid(gate[i]);
            swat_operand_put(t, dgu, dgate + i, dor[i] * up[i] * s * (1 + gate[i] * (1 - s)));
            swat_operand_put(t, dgu, dup + i, dor[i] * gate[i] * s);
        }
    }
}

/* ---- Embedding -------------------------------------------------------------- */

void swat_embedding_forward(swat_operand t, swat_real *h, const void *E, const int32_t *tokens,
                            int64_t n, int64_t d)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++)
        swat_operand_load(t, h + r * d, d, swat_operand_at(t, E, (int64_t)tokens[r] * d), d, 1, d);
}

void swat_embedding_backward(swat_real *dE, const swat_real *dh, const int32_t *tokens, int64_t n,
                             int64_t d)
{
    int64_t ncb = (d + COL_BLOCK - 1) / COL_BLOCK;
    /* a token repeated in several rows gets its rows added in row order */
#pragma omp parallel for schedule(static)
    for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t c0 = cb * COL_BLOCK, nc = d - c0 < COL_BLOCK ? d - c0 : COL_BLOCK;
        for (int64_t r = 0; r < n; r++) {
            swat_real *e = dE + (int64_t)tokens[r] * d + c0;
            const swat_real *g = dh + r * d + c0;
            for (int64_t i = 0; i < nc; i++) e[i] += g[i];
        }
    }
}

/* ---- Output layer + cross-entropy ------------------------------------------- */

/* One row of logits l [V]: returns logsumexp(l) − l[target]. With backward,
 * scale·(softmax(l) − onehot(target)) goes to dl [V] in operand type t (l
 * itself when t is REAL); l is clobbered either way. */
static double xent_row(swat_real *l, int32_t target, int64_t V, swat_real scale, int backward,
                       swat_operand t, void *dl)
{
    swat_real lt = l[target], mx = l[0];
#pragma omp simd reduction(max : mx)
    for (int64_t c = 0; c < V; c++) mx = l[c] > mx ? l[c] : mx;
    /* the exponentials in one loop and their double sum in another: together
     * GCC vectorises neither */
#pragma omp simd
    for (int64_t c = 0; c < V; c++) l[c] = vexp(l[c] - mx);
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < V; c++) sum += (double)l[c];
    double loss = (double)mx + log(sum) - (double)lt;
    if (backward) {
        /* scaled, rounded and stored in one pass */
        swat_real f = (swat_real)((double)scale / sum), lt_grad = l[target] * f - scale;
#pragma omp simd
        for (int64_t c = 0; c < V; c++) swat_operand_put(t, dl, c, l[c] * f);
        swat_operand_put(t, dl, target, lt_grad);
    }
    return loss;
}

double swat_classifier(swat_operand t, swat_real *dy, swat_real *dW, double *row_loss,
                       const void *y, const void *W, const int32_t *targets, int64_t n, int64_t d,
                       int64_t V, swat_real scale, swat_real *logits, void *dlogits, int64_t chunk)
{
    SWAT_ASSERT(chunk >= 1 && V >= 1);
    int backward = dy != NULL;
    double total = 0;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        const void *yc = swat_operand_at(t, y, r0 * d); /* [rows][d] */
        swat_gemm_op(t, 0, 1, rows, V, d, 1, yc, d, W, d, 0, logits, V);
        for (int64_t s0 = 0; s0 < rows; s0 += LOSS_BATCH) {
            int64_t m = rows - s0 < LOSS_BATCH ? rows - s0 : LOSS_BATCH;
            double loss[LOSS_BATCH];
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < m; i++) {
                int32_t tg = targets[r0 + s0 + i];
                SWAT_ASSERT(tg >= 0 && tg < V);
                swat_real *l = logits + (s0 + i) * V;
                void *dl = t == SWAT_OPERAND_REAL ? (void *)l : swat_operand_at(t, dlogits, (s0 + i) * V);
                loss[i] = xent_row(l, tg, V, scale, backward, t, dl);
            }
            /* summed in row order whatever the thread count */
            for (int64_t i = 0; i < m; i++) {
                total += loss[i];
                if (row_loss) row_loss[r0 + s0 + i] = loss[i];
            }
        }
        if (backward) {
            /* ∂L/∂logits, an input of both products */
            const void *dl = t == SWAT_OPERAND_REAL ? (const void *)logits : dlogits;
            swat_gemm_op(t, 0, 0, rows, d, V, 1, dl, V, W, d, 0, dy + r0 * d, d);
            if (dW) swat_gemm_op(t, 1, 0, V, d, rows, 1, dl, V, yc, d, 1, dW, d);
        }
    }
    return total;
}
