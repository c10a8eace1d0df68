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
 * Heads are concatenated along a row: head n uses columns n·dh … n·dh+dh−1
 * of q, k, v, o (and of their gradients).
 *
 * A call computes only query rows [t0, t1) so the model can do the rows that
 * need no halo while the halo is in flight. Results do not depend on the
 * thread count or on how [0, T) is split into calls, bit for bit when the
 * split points lie on the block grid (rows nh + k·block, so the split at nh
 * is one); elsewhere dk, dv differ by rounding (their sums are regrouped). */
#ifndef SWAT_ATTN_H
#define SWAT_ATTN_H

#include "swat/common.h"

typedef struct swat_attn_desc {
    int64_t H, dh;           /* heads and head dim (d = H·dh) */
    int64_t w;               /* window; 0 = full causal */
    int kind;                /* swat_attn_kind (config.h): sigmoid or softmax */
    const swat_real *slopes; /* [H] ALiBi slope per head */
    double bias;             /* added to every score in sigmoid mode */
    int64_t block;           /* query rows per block (≥ 1); 0 = the kernel's choice */
} swat_attn_desc;

/* Fills slopes [H] for an ALiBi mode (swat_alibi_kind), SPEC §1. */
void swat_attn_slopes(swat_real *slopes, int64_t H, int alibi);

/* Query rows per block for T rows: a->block, or the default of attn.c. */
int64_t swat_attn_block_rows(const swat_attn_desc *a, int64_t T);

/* Scratch elements one call needs for T query rows with `nthreads` threads
 * (a call runs swat_gemm_threads() threads: nthreads must be at least that). */
size_t swat_attn_scratch_elems(const swat_attn_desc *a, int64_t T, int nthreads);

/* o rows [t0, t1) written ([T][ldo]); lse [H][T] rows [t0, t1) written in
 * softmax mode (may be NULL in sigmoid mode). q [T][ldq]; k, v [nh+T][ldkv]. */
void swat_attn_forward(const swat_attn_desc *a, swat_real *o, int64_t ldo, swat_real *lse,
                       const swat_real *q, int64_t ldq, const swat_real *k, const swat_real *v,
                       int64_t ldkv, int64_t T, int64_t nh, int64_t p0, int64_t t0, int64_t t1,
                       swat_real *scratch);

/* Backward for query rows [t0, t1): dq rows [t0, t1) WRITTEN ([T][lddq]);
 * dk, dv [nh+T][lddkv] += for every key row those queries reach (halo rows
 * included). dout [T][lddo]; o and lse are the forward's outputs. */
void swat_attn_backward(const swat_attn_desc *a, swat_real *dq, int64_t lddq, swat_real *dk,
                        swat_real *dv, int64_t lddkv, const swat_real *dout, int64_t lddo,
                        const swat_real *q, int64_t ldq, const swat_real *k, const swat_real *v,
                        int64_t ldkv, const swat_real *o, int64_t ldo, const swat_real *lse,
                        int64_t T, int64_t nh, int64_t p0, int64_t t0, int64_t t1,
                        swat_real *scratch);

#endif
