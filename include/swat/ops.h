/* SPDX-License-Identifier: MIT */
/* ops.h: the pointwise and row-wise kernels of the model (RMSNorm, RoPE,
 * SwiGLU, embedding, the fused output layer + cross-entropy).
 *
 * Conventions: outputs first, then inputs, then sizes. Every matrix is
 * row-major; `n` is a number of rows (tokens). Backward kernels ACCUMULATE
 * (+=) into the gradients of their inputs and parameters unless the comment
 * says "written". Results do not depend on the thread count (reductions over
 * rows are done in a fixed order). The kernels know nothing of MPI or files.
 *
 * Outputs that only matrix products read (the normalised rows, the SwiGLU
 * output and its gradient) are written in the model's operand type t
 * (gemm.h): swat_real, or rounded to bfloat16 in a bf16 run. */
#ifndef SWAT_OPS_H
#define SWAT_OPS_H

#include "swat/common.h"
#include "swat/gemm.h"

/* ---- RMSNorm: y = x / sqrt(mean(x²) + eps) · g ---------------------------- */
/* y [n][d] (operand type t) written, rstd [n] written (1/sqrt(mean(x²)+eps),
 * kept for backward). */
void swat_rmsnorm_forward(swat_operand t, void *y, swat_real *rstd, const swat_real *x,
                          const swat_real *g, int64_t n, int64_t d, double eps);
/* dx [n][d] += ∂L/∂x, dg [d] += ∂L/∂g, given dy [n][d], x, g, rstd. */
void swat_rmsnorm_backward(swat_real *dx, swat_real *dg, const swat_real *dy, const swat_real *x,
                           const swat_real *g, const swat_real *rstd, int64_t n, int64_t d);

/* ---- RoPE, non-interleaved "rotate half" over each head ------------------- */
/* cos, sin [n][dh/2] written for positions p0 … p0+n−1: angle p·θ^(−2i/dh),
 * computed in double. */
void swat_rope_table(swat_real *cos_t, swat_real *sin_t, int64_t p0, int64_t n, int64_t dh,
                     double theta);
/* In place on x [n][ldx] holding `heads` heads of dh at columns h·dh…:
 * (x_i, x_{i+dh/2}) → (x_i·c − x_{i+dh/2}·s, x_{i+dh/2}·c + x_i·s). */
void swat_rope_forward(swat_real *x, int64_t ldx, const swat_real *cos_t, const swat_real *sin_t,
                       int64_t n, int64_t heads, int64_t dh);
/* In place: turns ∂L/∂(rotated x) into ∂L/∂x (the inverse rotation). */
void swat_rope_backward(swat_real *dx, int64_t ldx, const swat_real *cos_t, const swat_real *sin_t,
                        int64_t n, int64_t heads, int64_t dh);
/* One head of one row: dst [dh] (operand type t) = src [dh] rotated by the
 * row's cos_r, sin_r [dh/2]; sign −1 applies the inverse rotation. dst may
 * be src when t is REAL. */
void swat_rope_head(swat_operand t, void *dst, const swat_real *src, const swat_real *cos_r,
                    const swat_real *sin_r, int64_t dh, swat_real sign);

/* ---- SwiGLU: out = silu(gate) ⊙ up, silu(u) = u·σ(u) ----------------------- */
/* gu [n][2f]: gate in columns 0…f−1, up in f…2f−1 (one GEMM makes both).
 * out [n][f] (operand type t) written. */
void swat_swiglu_forward(swat_operand t, void *out, const swat_real *gu, int64_t n, int64_t f);
/* dgu [n][2f] (operand type t) written (both halves), given dout [n][f] and gu. */
void swat_swiglu_backward(swat_operand t, void *dgu, const swat_real *dout, const swat_real *gu,
                          int64_t n, int64_t f);

/* ---- Embedding ------------------------------------------------------------ */
/* h [n][d] written = E[tokens[i]], E [V][d] of operand type t (converted
 * exactly: the fp32 table, or its bf16 operand copy). */
void swat_embedding_forward(swat_operand t, swat_real *h, const void *E, const int32_t *tokens,
                            int64_t n, int64_t d);
/* dE [V][d] += rows of dh scattered by token (rows in order: deterministic). */
void swat_embedding_backward(swat_real *dE, const swat_real *dh, const int32_t *tokens, int64_t n,
                             int64_t d);

/* ---- Output layer fused with the cross-entropy ---------------------------- */
/* For rows y [n][d] and the output matrix W [V][d] (both operand type t):
 * logits = y Wᵀ, loss_i = logsumexp(logits_i) − logits_i[target_i].
 * Processes `chunk` rows at a time in logits [chunk][V], so no [n][V] buffer
 * exists. Returns Σ_i loss_i in double. If row_loss is not NULL it gets
 * loss_i. If dy is not NULL, the backward is done in the same pass with
 * ∂L/∂logits = scale·(softmax − onehot): dy [n][d] WRITTEN, dW [V][d] +=;
 * dlogits [chunk][V] (type t) holds ∂L/∂logits as a product input when t is
 * not REAL (unused, may be NULL, otherwise). */
double swat_classifier(swat_operand t, swat_real *dy, swat_real *dW, double *row_loss,
                       const void *y, const void *W, const int32_t *targets, int64_t n, int64_t d,
                       int64_t V, swat_real scale, swat_real *logits, void *dlogits, int64_t chunk);

#endif
