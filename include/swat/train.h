/* SPDX-License-Identifier: MIT */
/* train.h: one training run: the model, the data, the optimizer shard and
 * the loop's pieces (update, evaluation, save), shared by swat-train and the
 * test programs. Knows nothing of argument parsing.
 *
 * One update (docs/training.md): sample → forward/backward per micro-batch →
 * reduce-scatter of the flat gradient → global norm → AdamW on this rank's
 * shard → all-gather of the parameters. With [parallel] bucket_mb > 0 (the
 * default) the flat buffer is cut into buckets (comm.h: swat_buckets) and
 * this rank owns one slice of each: a bucket's reduce-scatter starts as the
 * last micro-batch's backward pass finishes its layers, and its all-gather
 * is waited for when the next forward pass reaches them. The checkpoint keeps
 * its contiguous shards [lo, hi): saving and resuming move the optimizer
 * state between the two layouts. */
#ifndef SWAT_TRAIN_H
#define SWAT_TRAIN_H

#include "swat/comm.h"
#include "swat/config.h"
#include "swat/data.h"
#include "swat/model.h"

#include <stdio.h>

/* A slice [lo, hi) of the flat buffer whose update this rank computes; its
 * AdamW moments are m[moff …], v[moff …]. */
typedef struct swat_owned {
    size_t lo, hi, moff;
} swat_owned;

typedef struct swat_trainer {
    swat_config cfg;
    swat_comm *comm;
    swat_model *model;
    swat_dataset *train_ds, *val_ds;
    swat_sampler sampler;

    int world, rank, sp, sp_rank, dp, dp_rank;
    int64_t T, Tc, B, mb, accum; /* seq_len, chunk, global batch, micro-batch, passes */
    size_t lo, hi;               /* this rank's checkpoint shard of the flat buffer */
    swat_owned *own;             /* the slices this rank updates [nown]: one per bucket,
                                  * or [lo, hi) without buckets */
    int nown;
    size_t nmom;                 /* elements of the owned slices */
    swat_real *m, *v;            /* AdamW moments [nmom] */
    swat_real *gshard;           /* reduced gradient of [lo, hi) without buckets (the grads
                                  * buffer on one rank); with buckets the slices of grads */
    /* the bucketed collectives ([parallel] bucket_mb > 0, more than one rank) */
    swat_buckets *zero;
    swat_bucket *bk;             /* [nbk], in flat order */
    int nbk;
    int *unit_bk;                /* [2·units]: first and last bucket of each model unit */
    int *bk_pending;             /* units of bucket j whose last backward is still to come */
    int *bk_fresh;               /* bucket j's parameters all-gathered and usable */
    int gathering;               /* all-gathers may be in flight */
    int last_pass;               /* the micro-batch in progress is the update's last */
    int64_t update;              /* the update in progress (k) */
    int32_t *tokens, *targets;   /* [mb][Tc] */
    double *row_loss;            /* [mb][Tc] evaluation */

    int64_t step;              /* updates done */
    double peak_gflops;        /* all ranks together, of the products' precision */
    char engine[200];          /* how the products run: "bf16 on oneDNN (avx512_core_amx)", … */
    const char *engine_tag;    /* the same in a word for progress lines: fp32, bf16, bf16-emul */
    double flops_per_token;
    char resumed_from[SWAT_PATH_LEN]; /* checkpoint path, "" for a fresh run */
    void *tokenizer;                  /* [tokenizer_bytes] the [data] tokenizer's .model, or NULL */
    size_t tokenizer_bytes;
} swat_trainer;

typedef struct swat_update_stats {
    double loss;      /* mean cross-entropy of the update's B·T targets */
    double grad_norm; /* before clipping */
    double lr;
    double seconds;
    /* parts of seconds: reading samples, forward/backward, gradient reduction and
     * parameter all-gather (with the norm), AdamW */
    double data_s, model_s, reduce_s, optim_s;
    int nonfinite; /* loss or gradient not finite: the update was not applied */
} swat_update_stats;

/* Opens the data, builds the model, and resumes from the newest checkpoint of
 * checkpoint.dir, or loads train.init_from, or initialises from the seed.
 * Collective; on a user error every rank returns −1 with the same err. */
int swat_trainer_init(swat_trainer *tr, const swat_config *cfg, swat_comm *comm, char *err);
void swat_trainer_free(swat_trainer *tr);

/* What the all-gather sends for the matrices, for a log line: "fp32",
 * "bf16" or "bf16, the embedding too" (param_wire, embed_wire). */
const char *swat_param_wire_label(const swat_parallel_config *pc);

/* Reads the chunk of sample `index` this rank owns into tokens/targets row
 * `slot`. Dies on a data error (only this rank may see it). */
void swat_trainer_load_sample(swat_trainer *tr, swat_dataset *ds, int64_t index, int64_t slot);

/* Update number step+1. Collective. */
void swat_trainer_update(swat_trainer *tr, swat_update_stats *st);

/* Mean cross-entropy over the first max_samples samples of ds (0 = all),
 * shuffle off; *tokens gets the number of targets scored. Collective. */
double swat_trainer_evaluate(swat_trainer *tr, swat_dataset *ds, int64_t max_samples,
                             int64_t *tokens);

/* Saves a checkpoint of the current step. Collective. */
int swat_trainer_save(swat_trainer *tr, char *err);

/* Completes the parameter all-gathers in flight and makes m->params current
 * on every rank (after bf16-wire updates only the owned slices are).
 * Collective. For tools that read the whole parameter buffer. */
void swat_trainer_sync_params(swat_trainer *tr);

/* The reduced gradient of the last update, whole, into out [nparams_pad] on
 * every rank. Collective; for test tools. */
void swat_trainer_gather_grads(swat_trainer *tr, swat_real *out);

#endif
