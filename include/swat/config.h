/* SPDX-License-Identifier: MIT */
/* config.h: the resolved configuration of a run (docs/config.md) and the one key
 * table that parses, validates, overrides (--set) and prints it.
 *
 * Every key lives in exactly one row of the table in config.c: section, name,
 * type, default, bounds, field offset, help. Integer keys are int64_t,
 * real-valued keys double, booleans and enums int, strings fixed char arrays. */
#ifndef SWAT_CONFIG_H
#define SWAT_CONFIG_H

#include "swat/attn.h"
#include "swat/common.h"
#include "swat/gemm.h"

#include <stdio.h>
typedef enum { SWAT_LR_COSINE = 0, SWAT_LR_CONSTANT = 1 } swat_lr_schedule;
typedef enum { SWAT_DATA_BYTES = 0, SWAT_DATA_LLMC = 1 } swat_data_format;
typedef enum { SWAT_NONFINITE_STOP = 0, SWAT_NONFINITE_SKIP = 1 } swat_nonfinite_policy;

typedef struct swat_model_config {
    int64_t vocab_size;        /* V */
    int64_t hidden_size;       /* d */
    int64_t num_hidden_layers; /* L */
    int64_t num_heads;         /* H, head_dim = d/H even */
    int64_t intermediate_size; /* f; 0 in the file means 256*ceil(floor(8d/3)/256) */
    int64_t window_size;       /* w; 0 = full causal */
    double rope_theta;
    int rope;
    double norm_eps;
    int tie_word_embeddings;
    int attention; /* swat_attn_kind (attn.h) */
    int alibi;     /* swat_alibi_kind (attn.h) */
    int alibi_magnitudes; /* swat_alibi_magnitudes (attn.h); never AUTO after finalize */
    double sigmoid_bias;
    double initializer_range;
} swat_model_config;

typedef struct swat_train_config {
    double lr, beta1, beta2, eps, weight_decay, grad_clip;
    int64_t warmup_steps;
    int lr_schedule; /* swat_lr_schedule */
    double min_lr_ratio;
    int64_t steps;       /* total updates (required for training) */
    int64_t seed;
    int64_t micro_batch; /* sequences per forward pass per data group; 0 = batch_size/dp */
    int64_t eval_every;  /* 0 = only after the last update */
    char init_from[SWAT_PATH_LEN];
    double peak_gflops;  /* per rank; 0 = measure BLIS sgemm at start-up */
    int64_t log_every;   /* console line every N updates */
    int recompute;       /* recompute layer activations in backward */
    int on_nonfinite;    /* swat_nonfinite_policy */
    int64_t max_skips;   /* skip: stop after this many non-finite updates in a row; 0 = never */
    int precision;       /* swat_precision (gemm.h): inputs of the matrix products fp32 or bf16 */
} swat_train_config;

typedef struct swat_data_config {
    char train[SWAT_PATH_LEN]; /* file or glob (required for training) */
    char val[SWAT_PATH_LEN];   /* optional */
    int format;                /* swat_data_format */
    int64_t seq_len;           /* T */
    int64_t batch_size;        /* B, global sequences per update */
    int shuffle;
    int64_t val_samples;       /* 0 = all */
    char tokenizer[SWAT_PATH_LEN]; /* SentencePiece .model the shards were made with; "" = none */
} swat_data_config;

/* How the bucketed collectives progress while the rank computes. */
typedef enum { SWAT_PROGRESS_POLL = 0, SWAT_PROGRESS_THREAD = 1 } swat_progress_mode;

typedef struct swat_parallel_config {
    int64_t sp;       /* sequence-parallel ranks per sequence */
    int64_t threads;  /* BLIS/OpenMP threads per rank; 0 = auto */
    double bucket_mb; /* MiB of gradient per bucket of the ZeRO-1 collectives;
                       * 0 = one unbucketed reduce-scatter and all-gather */
    int overlap;      /* buckets start during the passes (1) or around them (0) */
    int progress;     /* swat_progress_mode */
    int param_wire;   /* swat_wire (comm.h) of the matrices in the all-gather */
    int grad_wire;    /* swat_wire of the gradients in the reduce-scatter */
    int embed_wire;   /* swat_wire of the embedding in the all-gather (bf16: the lookup
                       * reads bf16-rounded rows; needs param_wire = bf16) */
} swat_parallel_config;

typedef struct swat_checkpoint_config {
    char dir[SWAT_PATH_LEN]; /* run directory (required for training) */
    int64_t every;
    int64_t keep;
    char mpiio_hints[256]; /* "name=value,…" for MPI-IO when writing; "" = none */
} swat_checkpoint_config;

typedef struct swat_config {
    swat_model_config model;
    swat_train_config train;
    swat_data_config data;
    swat_parallel_config parallel;
    swat_checkpoint_config checkpoint;
} swat_config;

/* What a program needs of the config beyond the model: training needs
 * data.train, seq_len, batch_size, steps and checkpoint.dir. */
typedef enum { SWAT_CONFIG_FOR_MODEL = 0, SWAT_CONFIG_FOR_TRAINING = 1 } swat_config_use;

/* Fills every key with its default (required keys get an "unset" marker). */
void swat_config_defaults(swat_config *cfg);

/* Parses an INI file over cfg. Refuses unknown sections/keys, bad types and
 * values out of bounds, naming "file:line: [section] key = value: why". */
int swat_config_load_file(swat_config *cfg, const char *path, char *err);

/* Parses INI text held in memory (the config attribute of a checkpoint);
 * `origin` names it in messages. */
int swat_config_load_string(swat_config *cfg, const char *text, const char *origin, char *err);

/* Applies one "section.key=value" override (--set). */
int swat_config_set(swat_config *cfg, const char *assignment, char *err);

/* Checks required keys and relations between keys (head_dim even, H even for
 * balanced ALiBi, vocab ≥ 256 for bytes, …) and resolves derived defaults
 * (intermediate_size, alibi_magnitudes = auto). Layout checks that need the world size live in
 * swat_config_check_layout. */
int swat_config_finalize(swat_config *cfg, swat_config_use use, char *err);

/* The layout's rules (docs/training.md): world divisible by sp, T/sp a multiple of w and ≥ w, batch
 * divisible by dp, micro_batch dividing batch/dp, no sp > 1 with w = 0. The
 * message says what would work. */
int swat_config_check_layout(const swat_config *cfg, int world_size, char *err);

/* Writes the resolved config as INI text (every key, all sections), the
 * same text swat_config_load_string reads back to an identical struct. */
void swat_config_write(const swat_config *cfg, FILE *out);

/* The same text in a malloc'ed string (for the checkpoint attribute). */
char *swat_config_to_string(const swat_config *cfg);

/* The value of one key, "section.key", as swat_config_write prints it (an
 * unset required key prints as ""). An unknown key is refused naming the
 * closest one. */
int swat_config_get(const swat_config *cfg, const char *key, char *out, size_t out_len, char *err);

/* The reference of every key (section, type, default, allowed values,
 * meaning), from the key table: plain text for a terminal, or the Markdown
 * tables of docs/config.md. */
typedef enum { SWAT_CONFIG_KEYS_TEXT = 0, SWAT_CONFIG_KEYS_MARKDOWN = 1 } swat_config_keys_format;
void swat_config_write_keys(FILE *out, swat_config_keys_format format);

/* 1 if the two configs describe the same model (every [model] key equal). On
 * a mismatch names the first differing key and both values in err. */
int swat_config_same_model(const swat_model_config *a, const swat_model_config *b, char *err);

#endif
