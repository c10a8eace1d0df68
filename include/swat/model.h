/* SPDX-License-Identifier: MIT */
/* model.h: the SWAT decoder (SPEC §1): one table of parameter tensors laid
 * out in one flat buffer, an activation arena sized once, and the forward and
 * backward passes over one sequence chunk per rank.
 *
 * Flat layout, in table order (the checkpoint's dataset paths):
 *   model/embeddings/weight [V][d]
 *   per layer l: attn_norm [d], attn/q_proj, k_proj, v_proj, o_proj [d][d],
 *                mlp_norm [d], mlp/gate_proj, up_proj [f][d], down_proj [d][f]
 *   model/norm/weight [d]
 *   lm_head/weight [V][d]   (untied only)
 * q, k, v are adjacent, so they are one [3d][d] matrix to the GEMM; gate and
 * up likewise one [2f][d]. The buffer is padded with zeros to a multiple of
 * `pad_to` so it splits evenly into optimizer shards. */
#ifndef SWAT_MODEL_H
#define SWAT_MODEL_H

#include "swat/attn.h"
#include "swat/common.h"
#include "swat/config.h"

struct swat_comm;

#define SWAT_TENSOR_NAME_LEN 96

typedef struct swat_tensor {
    char name[SWAT_TENSOR_NAME_LEN]; /* dataset path without the leading '/' */
    int ndim;                        /* 1 or 2 */
    int64_t shape[2];
    size_t offset; /* first element in the flat buffer */
    size_t numel;
    int decay; /* AdamW weight decay applies (matrices, not norms) */
} swat_tensor;

/* Pointers into a flat buffer (parameters or gradients), by role. */
typedef struct swat_layer_view {
    swat_real *attn_norm; /* [d] */
    swat_real *wqkv;      /* [3d][d]: q_proj, k_proj, v_proj */
    swat_real *wo;        /* [d][d] */
    swat_real *mlp_norm;  /* [d] */
    swat_real *wgu;       /* [2f][d]: gate_proj, up_proj */
    swat_real *wdown;     /* [d][f] */
} swat_layer_view;

typedef struct swat_view {
    swat_real *emb;     /* [V][d] */
    swat_layer_view *layers; /* [L] */
    swat_real *norm;    /* [d] */
    swat_real *lm_head; /* [V][d]; == emb when tied */
} swat_view;

/* Activations of one layer for n = mb·Tc rows. */
typedef struct swat_layer_acts {
    swat_real *x;     /* [n][d] layer input (residual stream) */
    swat_real *rstd1; /* [n] */
    swat_real *a;     /* [n][d] rmsnorm(x)·g_attn */
    swat_real *qkv;   /* [mb][nhalo+Tc][3d]: halo rows first, post-RoPE q, k */
    swat_real *o;     /* [n][d] attention output, heads concatenated */
    swat_real *lse;   /* [mb][H][Tc] softmax only */
    swat_real *hmid;  /* [n][d] x + o Woᵀ */
    swat_real *rstd2; /* [n] */
    swat_real *m;     /* [n][d] rmsnorm(hmid)·g_mlp */
    swat_real *gu;    /* [n][2f] */
    swat_real *s;     /* [n][f] silu(gate)⊙up */
} swat_layer_acts;

typedef struct swat_model {
    swat_model_config cfg; /* resolved */
    int64_t V, d, L, H, dh, f, w;

    swat_tensor *tensors; /* [ntensors] */
    int ntensors;
    size_t nparams;     /* elements of all tensors */
    size_t nparams_pad; /* flat buffer length (multiple of pad_to) */

    swat_real *params, *grads; /* flat [nparams_pad] */
    swat_view p, g;            /* views into params and grads */

    swat_real *slopes; /* [H] */
    swat_attn_desc attn;

    /* chunk geometry set by swat_model_plan */
    int64_t mb, Tc, nhalo; /* sequences per pass, rows per sequence, halo rows (w−1 or 0) */
    int forward_only;
    int recompute; /* set before swat_model_plan: keep only each layer's input and
                      recompute the rest in backward (activation memory ≈ L·n·d) */
    int planned_recompute;
    swat_layer_acts *acts; /* [L] */
    swat_real *xf, *rstdf, *y; /* final residual [n][d], rstd [n], normed [n][d] */
    swat_real *rope_cos, *rope_sin; /* [Tc][dh/2], for the chunk's positions */
    int64_t rope_p0;
    /* backward and scratch buffers */
    swat_real *dres, *dbuf, *dgu, *ds, *dqkv, *scratch, *logits;
    swat_real *halo_send; /* [mb][nhalo][2d] packed k,v tails (or their grads) */
    swat_real *halo_recv;
    size_t arena_bytes;
    void *arena;

    /* streaming (swat_model_stream_begin), outside the arena */
    swat_real *carry;     /* [L][nhalo][2d] last k|v rows (post-RoPE) seen by each layer;
                           * row r holds position stream_pos − nhalo + r (valid when ≥ 0) */
    int64_t stream_chunk; /* most rows one stream step takes; 0 = not streaming */
    int64_t stream_pos;   /* tokens fed since the sequence began */
} swat_model;

/* Builds the table for a resolved config and allocates params and grads
 * (zero). The buffer length is a multiple of pad_to (≥ 1). */
swat_model *swat_model_create(const swat_model_config *cfg, size_t pad_to);
void swat_model_free(swat_model *m);

/* SPEC init: matrices N(0, initializer_range²) from a generator seeded by
 * (seed, tensor index), norms 1. Same values on every rank and layout. */
void swat_model_init_params(swat_model *m, uint64_t seed);

/* Finds a tensor by dataset path; NULL if absent. */
const swat_tensor *swat_model_find(const swat_model *m, const char *name);

/* Sizes the activation arena for mb sequences of Tc rows each (once).
 * forward_only keeps one layer's activations (evaluation): memory then does
 * not grow with the number of layers, and backward is refused. */
void swat_model_plan(swat_model *m, int64_t mb, int64_t Tc, int forward_only);

/* Forward and (if `backward`) backward for mb sequences of Tc tokens each,
 * the chunk starting at global position p0 of its sequence. tokens and
 * targets [mb][Tc]. The loss is Σ cross-entropy · loss_scale; gradients of
 * that loss are ADDED to m->grads. comm may be NULL (one rank: no halo);
 * otherwise the halo is exchanged with the sequence-group neighbours.
 * Returns the unscaled sum of the cross-entropies of the chunk. If row_loss
 * is not NULL it receives each row's loss ([mb][Tc]). */
double swat_model_step(swat_model *m, struct swat_comm *comm, const int32_t *tokens,
                       const int32_t *targets, int64_t p0, double loss_scale, int backward,
                       double *row_loss);

/* Streaming forward of one sequence of any length (evaluation, generation).
 * Plans a forward-only arena for mb = 1 and `chunk` rows and allocates the
 * per-layer carry of the last w−1 keys/values; memory then depends on chunk
 * only, never on the sequence length. Needs window_size > 0 (asserted:
 * callers check first). Replaces any earlier plan. */
void swat_model_stream_begin(swat_model *m, int64_t chunk);

/* Feeds tokens [n] (1 ≤ n ≤ chunk) at global positions p0 … p0+n−1, where p0
 * is the number of tokens fed before (0 starts a new sequence). Each layer's
 * attention sees the carried w−1 rows before p0, so the rows get exactly the
 * values a whole-sequence forward gives them (up to rounding). With targets
 * [n], returns Σ cross-entropy of the n rows (row_loss [n] gets each, may be
 * NULL); without, returns 0. logits_last [V], if not NULL, receives the last
 * row's logits (for sampling). */
double swat_model_stream_step(swat_model *m, const int32_t *tokens, int64_t n, int64_t p0,
                              const int32_t *targets, double *row_loss, swat_real *logits_last);

/* FLOPs per trained token, SPEC §6: 6·N_matmul + 12·L·d·w (w = T when 0). */
double swat_model_flops_per_token(const swat_model *m, int64_t seq_len);

#endif
