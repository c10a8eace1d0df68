/* SPDX-License-Identifier: MIT */
/* attn.h: causal sliding-window attention over the band only, block by block.
 *
 * For a block of query rows, the scores against the key rows the window
 * reaches are one GEMM, the output another; no [T][T] (nor [T][w] per head)
 * buffer exists. The backward pass recomputes each block's scores instead of
 * storing probabilities: sigmoid needs no row statistics; softmax keeps one
 * log-sum-exp per query row and head (lse [H][T]).
 *
 * One call covers one sequence chunk of T query rows at global positions
 * p0 … p0+T−1. Key/value row j (0 ≤ j < nh+T) sits at global position
 * p0 − nh + j: the first nh rows are the halo received from the left
 * neighbour (nh ≤ w−1, nh ≤ p0), the next T rows are the chunk's own. Query
 * at position p, head n, sees key positions max(0, p−w+1) … p (all ≤ p when
 * w = 0) with score
 *     s = q·k / sqrt(dh) + slope[n]·(p − pk)   (+ bias in sigmoid mode)
 * and weight σ(s) (sigmoid) or softmax over the window (softmax).
 * Every tensor is a swat_heads view: head n, row r starts at element
 * n·hs + r·ld, so the same kernel reads heads concatenated along a row
 * (hs = dh, ld = H·dh) or stored one after the other (hs = rows·ld, ld = dh).
 * The model keeps q, k, v (and their gradients, and dout's operand copy) one
 * head after the other: each block's operands are then dense matrices, which
 * oneDNN's AMX kernels need (padded views fall back to a slower path).
 *
 * Precision: q, k, v, dout and the probabilities and score gradients fed to
 * products are in the operand type a->op (gemm.h); o, lse, dq, dk, dv and
 * all the pointwise arithmetic are swat_real.
 *
 * A call computes only query rows [t0, t1) so the model can do the rows that
 * need no halo while the halo is in flight. Results do not depend on the
 * thread count or on how [0, T) is split into calls, bit for bit when the
 * split points lie on the block grid (rows nh + k·block, so the split at nh
 * is one); elsewhere dk, dv differ by rounding (their sums are regrouped). */
#ifndef SWAT_ATTN_H
#define SWAT_ATTN_H

#include "swat/common.h"
#include "swat/gemm.h"

/* The attention kinds and ALiBi modes ([model] attention, alibi; the config
 * maps its strings onto these values). */
typedef enum { SWAT_ATTN_SIGMOID = 0, SWAT_ATTN_SOFTMAX = 1 } swat_attn_kind;
typedef enum {
    SWAT_ALIBI_BALANCED = 0,
    SWAT_ALIBI_NEGATIVE = 1,
    SWAT_ALIBI_POSITIVE = 2,
    SWAT_ALIBI_NONE = 3
} swat_alibi_kind;
/* Sizes of the ALiBi slopes ([model] alibi_magnitudes; the signs come from
 * swat_alibi_kind): within each sign group, head i gets 2^-(i+1) (HALVING,
 * the paper's text) or 2^(-8(i+1)/H) (ALIBI, classic ALiBi and the authors'
 * released code); AUTO is HALVING for balanced, ALIBI otherwise. */
typedef enum {
    SWAT_ALIBI_MAG_AUTO = 0,
    SWAT_ALIBI_MAG_HALVING = 1,
    SWAT_ALIBI_MAG_ALIBI = 2
} swat_alibi_magnitudes;

/* The family AUTO stands for with ALiBi mode `alibi`; other values are
 * returned unchanged. */
static inline int swat_alibi_magnitudes_resolve(int alibi, int magnitudes)
{
    if (magnitudes != SWAT_ALIBI_MAG_AUTO) return magnitudes;
    return alibi == SWAT_ALIBI_BALANCED ? SWAT_ALIBI_MAG_HALVING : SWAT_ALIBI_MAG_ALIBI;
}

typedef struct swat_attn_desc {
    int64_t H, dh;           /* heads and head dim (d = H·dh) */
    int64_t w;               /* window; 0 = full causal */
    int kind;                /* swat_attn_kind: sigmoid or softmax */
    const swat_real *slopes; /* [H] ALiBi slope per head */
    double bias;             /* added to every score in sigmoid mode */
    int64_t block;           /* query rows per block (≥ 1); 0 = the kernel's choice */
    swat_operand op;         /* type of the products' inputs */
} swat_attn_desc;

/* H heads of rows of dh elements: head n, row r at element n·hs + r·ld. */
typedef struct swat_heads {
    const void *p;
    int64_t ld, hs;
} swat_heads;

/* Fills slopes [H] for an ALiBi mode (swat_alibi_kind) and magnitude family
 * (swat_alibi_magnitudes; AUTO resolved as config.h says): docs/model.md. */
void swat_attn_slopes(swat_real *slopes, int64_t H, int alibi, int magnitudes);

/* Query rows per block for T rows: a->block, or the default of attn.c. */
int64_t swat_attn_block_rows(const swat_attn_desc *a, int64_t T);

/* Scratch bytes one call needs for T query rows with `nthreads` threads
 * (a call runs swat_gemm_threads() threads: nthreads must be at least that). */
size_t swat_attn_scratch_bytes(const swat_attn_desc *a, int64_t T, int nthreads);

/* o rows [t0, t1) written (swat_real); lse [H][T] rows [t0, t1) written in
 * softmax mode (may be NULL in sigmoid mode). q: T rows; k, v: nh+T rows,
 * all of type a->op. */
void swat_attn_forward(const swat_attn_desc *a, swat_heads o, swat_real *lse, swat_heads q,
                       swat_heads k, swat_heads v, int64_t T, int64_t nh, int64_t p0, int64_t t0,
                       int64_t t1, void *scratch);

/* Backward for query rows [t0, t1): dq rows [t0, t1) WRITTEN; dk, dv (nh+T
 * rows) += for every key row those queries reach (halo rows included); all
 * three swat_real. dout: ∂L/∂o in type a->op (an input of the products); lse
 * (the forward's) is read in softmax mode only. */
void swat_attn_backward(const swat_attn_desc *a, swat_heads dq, swat_heads dk, swat_heads dv,
                        swat_heads dout, swat_heads q, swat_heads k, swat_heads v,
                        const swat_real *lse, int64_t T, int64_t nh, int64_t p0, int64_t t0,
                        int64_t t1, void *scratch);

#endif
