/* SPDX-License-Identifier: MIT */
/* model.h: the SWAT decoder (docs/model.md): one table of parameter tensors laid
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
 * `pad_to` so it splits evenly into optimizer shards.
 *
 * Precision (swat_plan.precision): every tensor that only matrix products
 * read is stored in the plan's operand type (gemm.h) — the normalised rows,
 * q/k/v, the SwiGLU output, the final rows, and a copy of the parameters
 * (`wop`) made again after they change. In fp32 those are swat_real (and wop
 * is params itself); in bf16 they hold bfloat16 values, so a bf16 run keeps
 * about half the activation bytes of an fp32 one.
 *
 * The programs (src/tools/) see swat_model as an opaque type: they are built
 * with SWAT_MODEL_OPAQUE, which hides the struct's body, and learn what they
 * need through swat_model_describe and swat_model_timers. The library's
 * modules and the white-box tests see the body. */
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

/* Activations of one layer for n = mb·Tc rows ("op": the plan's operand type). */
typedef struct swat_layer_acts {
    swat_real *x;     /* [n][d] layer input (residual stream) */
    swat_real *rstd1; /* [n] */
    void *a;          /* op [n][d] rmsnorm(x)·g_attn */
    void *qkv;        /* op [mb][3][H][nhalo+Tc][dh]: q, k, v one head after the
                       * other, halo rows first, post-RoPE q and k */
    swat_real *o;     /* [n][d] attention output, heads concatenated */
    void *o_op;       /* op [n][d] o as a product input (== o in fp32) */
    swat_real *lse;   /* [mb][H][Tc] softmax only */
    swat_real *hmid;  /* [n][d] x + o Woᵀ */
    swat_real *rstd2; /* [n] */
    void *m;          /* op [n][d] rmsnorm(hmid)·g_mlp */
    swat_real *gu;    /* [n][2f] */
    void *s;          /* op [n][f] silu(gate)⊙up */
} swat_layer_acts;

/* How activations are kept for the passes that follow (swat_model_plan). */
typedef struct swat_plan {
    int64_t mb, Tc;   /* sequences per pass, rows per sequence */
    int forward_only; /* evaluation: one layer's activations at a time, no backward */
    int recompute;    /* keep each layer's input only; recompute the layer in backward */
    swat_precision precision; /* inputs of the matrix products: fp32 or bf16 */
} swat_plan;

/* Where the time of a pass goes, when m->timing is on (swat_model_timers). */
typedef enum {
    SWAT_T_GEMM,       /* the layers' linear products */
    SWAT_T_ATTENTION,  /* the band attention (its block products included) */
    SWAT_T_POINTWISE,  /* norms, RoPE, SwiGLU, embedding, operand stores, copies */
    SWAT_T_OUTPUT,     /* output layer + cross-entropy */
    SWAT_T_HALO,       /* waiting for the neighbour's halo */
    SWAT_T_WEIGHTS,    /* remaking the operand copy of the parameters */
    SWAT_T_HOOKS,      /* inside the hooks: waiting for parameters, starting and
                        * polling the update's collectives (swat_model_hooks) */
    SWAT_T_COUNT
} swat_model_timer;

/* Hooks of a distributed update (train.c), all optional, called by
 * swat_model_step on the calling thread. Units are the parameter table's
 * contiguous groups in forward order (swat_model_unit_range): 0 the
 * embedding, 1 + l layer l, L + 1 the final norm (and lm_head when untied).
 *   params_needed(u)  forward: before the pass first reads unit u's
 *                     parameters or their operand copy (u = 0, 1, …, L + 1;
 *                     a tied output layer reads unit 0's, needed first);
 *   grads_done(u)     backward: every gradient of unit u of this pass has been
 *                     added to m->grads (u = L + 1, L, …, 1, then 0: a tied
 *                     embedding gets its output-layer part first, and is done
 *                     only after the lookup's backward, last);
 *   progress()        between the products of a layer, so that transfers in
 *                     flight can advance while the rank computes. */
typedef struct swat_model_hooks {
    void *ctx;
    void (*params_needed)(void *ctx, int unit);
    void (*grads_done)(void *ctx, int unit);
    void (*progress)(void *ctx);
} swat_model_hooks;

typedef struct swat_model swat_model;

#ifndef SWAT_MODEL_OPAQUE
struct swat_model {
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

    /* set by swat_model_plan */
    swat_plan plan;
    int64_t mb, Tc, nhalo; /* sequences per pass, rows per sequence, halo rows (w−1 or 0) */
    swat_operand op;       /* type of the products' inputs (gemm.h) */
    void *wop;             /* op [nparams_pad]: the parameters as product inputs (== params in fp32) */
    int wop_stale;         /* params changed since wop was made */
    swat_layer_acts *acts; /* [L] */
    swat_real *xf, *rstdf; /* final residual [n][d], rstd [n] */
    void *y;               /* op [n][d] final normed rows */
    swat_real *rope_cos, *rope_sin; /* [Tc][dh/2], for the chunk's positions */
    int64_t rope_p0;
    swat_real *stage;      /* [n][3d] q|k|v rows of the GEMM, before RoPE */
    /* backward and scratch buffers */
    swat_real *dres, *dbuf, *ds, *logits;
    swat_real *dqkv;       /* [mb][3][H][nhalo+Tc][dh] gradients of q, k, v (as qkv) */
    void *dres_op;         /* op [n][d] dres as a product input (== dres in fp32) */
    void *dgu;             /* op [n][2f] */
    void *dout_op;         /* op [mb][H][Tc][dh] ∂L/∂o by head, the attention's input */
    void *dqkv_op;         /* op [n][3d] (== stage in fp32) */
    void *dlogits;         /* op [chunk][V] (unused in fp32) */
    void *scratch;         /* attention scratch */
    void *halo_send;       /* [mb][2][H][nhalo][dh] packed k, v tails (op), or their grads (real) */
    void *halo_recv;
    size_t arena_bytes;
    void *arena;

    /* streaming (swat_model_stream_begin), outside the arena */
    void *carry;          /* op [L][2][H][nhalo][dh] last k, v rows (post-RoPE) seen by each
                           * layer; row r holds position stream_pos − nhalo + r (valid when ≥ 0) */
    int64_t stream_chunk; /* most rows one stream step takes; 0 = not streaming */
    int64_t stream_pos;   /* tokens fed since the sequence began */

    swat_model_hooks hooks;        /* swat_model_set_hooks; all NULL by default */
    int params_partial;            /* some fp32 matrices are out of date (swat_model_params_partial) */
    int emb_operand;               /* the lookup reads the operand copy (swat_model_embedding_rounded) */

    int timing;                    /* accumulate time[] (off by default) */
    double time[SWAT_T_COUNT];     /* seconds per swat_model_timer */
};
#endif

/* What a program may know of a model: its shape, sizes and resolved config. */
typedef struct swat_model_info {
    swat_model_config cfg;  /* resolved */
    int64_t V, d, L, H, dh, f, w; /* w = window_size (0: full causal attention) */
    size_t nparams;         /* elements of all tensors */
    size_t nparams_pad;     /* length of the flat parameter buffer */
    size_t arena_bytes;     /* the activation arena of the current plan (0 before one) */
} swat_model_info;

swat_model_info swat_model_describe(const swat_model *m);

/* Builds the table for a resolved config and allocates params and grads
 * (zero). The buffer length is a multiple of pad_to (≥ 1). */
swat_model *swat_model_create(const swat_model_config *cfg, size_t pad_to);
void swat_model_free(swat_model *m);

/* Initialisation (docs/model.md): matrices N(0, initializer_range²) from a generator seeded by
 * (seed, tensor index), norms 1. Same values on every rank and layout. */
void swat_model_init_params(swat_model *m, uint64_t seed);

/* Finds a tensor by dataset path; NULL if absent. */
const swat_tensor *swat_model_find(const swat_model *m, const char *name);

/* Sizes the activation arena for a plan (again only when the plan changes).
 * forward_only keeps one layer's activations (evaluation): memory then does
 * not grow with the number of layers, and backward is refused. recompute
 * keeps each layer's input only (activation memory ≈ L·n·d) and recomputes
 * the layer in backward. */
void swat_model_plan(swat_model *m, const swat_plan *plan);

/* Tells the model its parameters were written (an optimizer step, a load):
 * the operand copy is made again before the next pass. */
void swat_model_params_changed(swat_model *m);

/* Units of the parameter table (see swat_model_hooks): how many (L + 2), and
 * the flat range [lo, hi) of unit u. */
int swat_model_units(const swat_model *m);
void swat_model_unit_range(const swat_model *m, int unit, size_t *lo, size_t *hi);

/* Installs the hooks of the passes (copied; NULL removes them). */
void swat_model_set_hooks(swat_model *m, const swat_model_hooks *h);

/* For a caller that keeps the operand copy current itself, range by range,
 * instead of swat_model_params_changed (the bucketed update of train.c):
 * swat_model_operands gives the copy's base (element i is parameter i, in
 * the operand type m->op; params itself in fp32), and
 * swat_model_operands_refresh remakes [lo, hi) of it from params now (the
 * caller vouches that params [lo, hi) are current). */
void *swat_model_operands(swat_model *m);
void swat_model_operands_refresh(swat_model *m, size_t lo, size_t hi);

/* partial = 1: the caller wrote parts of the operand copy directly (a bf16
 * all-gather) and the fp32 parameters of those parts are out of date, so
 * nothing may remake the copy from them (asserted) until the parameters are
 * whole again: swat_model_params_changed, or partial = 0. */
void swat_model_params_partial(swat_model *m, int partial);

/* on = 1: the training forward's embedding lookup reads the operand copy
 * (bf16-rounded rows in a bf16 run, as a model cast to bf16 would), so the
 * embedding may travel the all-gather in bf16 like the matrices; 0 (the
 * default): the fp32 rows. Streaming (swat-eval, swat-generate) reads fp32. */
void swat_model_embedding_rounded(swat_model *m, int on);

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
void swat_model_stream_begin(swat_model *m, int64_t chunk, swat_precision precision);

/* Feeds tokens [n] (1 ≤ n ≤ chunk) at global positions p0 … p0+n−1, where p0
 * is the number of tokens fed before (0 starts a new sequence). Each layer's
 * attention sees the carried w−1 rows before p0, so the rows get exactly the
 * values a whole-sequence forward gives them (up to rounding). With targets
 * [n], returns Σ cross-entropy of the n rows (row_loss [n] gets each, may be
 * NULL); without, returns 0. logits_last [V], if not NULL, receives the last
 * row's logits (for sampling). */
double swat_model_stream_step(swat_model *m, const int32_t *tokens, int64_t n, int64_t p0,
                              const int32_t *targets, double *row_loss, swat_real *logits_last);

/* Zeroes the timers and turns timing on or off. */
void swat_model_timers_reset(swat_model *m, int on);

/* Seconds per swat_model_timer accumulated since swat_model_timers_reset. */
void swat_model_timers(const swat_model *m, double seconds[SWAT_T_COUNT]);

/* FLOPs per trained token (docs/training.md): 6·N_matmul + 12·L·d·w (w = T when 0). */
double swat_model_flops_per_token(const swat_model *m, int64_t seq_len);

#endif
