/* SPDX-License-Identifier: MIT */
/* ckpt.h: the checkpoint file format (docs/checkpoint-format.md). All HDF5
 * calls of swat live in ckpt.c; the run directory around the files (names,
 * atomic publish, pruning, which file to resume from) is rundir.h's.
 *
 * A checkpoint is one file written by every rank together through parallel
 * HDF5 (MPI-IO, collective transfers). The flat parameter buffer and the
 * moments are split into contiguous shards [lo, hi) of the flat index (one
 * per world rank); each rank writes exactly the intersection of its shard with
 * every tensor, so no rank gathers the model. Reading is the same by shards,
 * which is why a checkpoint resumes on any other layout. */
#ifndef SWAT_CKPT_H
#define SWAT_CKPT_H

#include "swat/comm.h"
#include "swat/common.h"
#include "swat/config.h"
#include "swat/model.h"
#include "swat/tokenizer.h"

/* The largest step a checkpoint may carry (8 digits in its file name). */
#define SWAT_CKPT_MAX_STEP 99999999LL

/* What an exact resume needs beyond tensors (/train/… and root attributes). */
typedef struct swat_ckpt_state {
    int64_t step;         /* updates done */
    int64_t samples_seen; /* step·B */
    int64_t tokens_seen;  /* step·B·T */
    int64_t world_size, sp;
    /* saving only: the bytes of the [data] tokenizer's .model file, stored as
     * /tokenizer/model (uint8, attributes type = "sentencepiece" and crc32);
     * NULL: none */
    const void *tokenizer;
    size_t tokenizer_bytes;
} swat_ckpt_state;

/* The shard of world rank r: [lo, hi) of a flat buffer of n_pad elements
 * split evenly (n_pad is a multiple of world). */
void swat_ckpt_shard(size_t n_pad, int world, int rank, size_t *lo, size_t *hi);

/* Collective. Creates the file `path` (replacing one of that name) and
 * writes model params (from the full buffer `params`, only the shard [lo,hi)
 * of it) and, when m and v are not NULL, the moments of the shard (m, v point
 * at element lo); cfg is stored as INI text. The ranks' shards must tile the
 * flat buffer in rank order. Every dataset gets its crc32 attribute (zlib
 * CRC-32 of its little-endian raw data), each rank checksumming its shard.
 * Returns 0, or −1 with err set on every rank: the file is then incomplete
 * (emptied when it could be created) and the caller removes it. */
int swat_ckpt_write(swat_comm *c, const char *path, const swat_config *cfg,
                    const swat_model *model, const swat_real *params, const swat_real *m,
                    const swat_real *v, size_t lo, size_t hi, const swat_ckpt_state *st, char *err);

/* One rank, no MPI: 0 if path opens as HDF5 and carries format =
 * "swat-checkpoint" and a supported format_version; else −1 with err naming
 * the file and why (the quick test of which file a run may resume from). */
int swat_ckpt_probe(const char *path, char *err);

/* Reads the config attribute (INI text) into cfg (defaults first). Runs on one
 * rank, no MPI needed (swat-eval, and the check before a collective load). */
int swat_ckpt_read_config(const char *path, swat_config *cfg, char *err);

/* What swat_ckpt_load returns when the file reads but the data of a dataset
 * does not match its crc32 attribute: the checkpoint is damaged (a resume
 * falls back to an older one; other callers refuse it). */
#define SWAT_CKPT_CORRUPT (-2)

/* The tokenizer a checkpoint carries: the bytes of /tokenizer/model in *bytes
 * (malloc'ed, *n of them). Returns 0; 1 when the checkpoint carries none; −1
 * when the dataset is not uint8 [n] with type = "sentencepiece", its data
 * does not match its crc32 (when it has one) or the file is not a
 * checkpoint, naming file and dataset. One rank, no MPI. */
int swat_ckpt_read_tokenizer(const char *path, void **bytes, size_t *n, char *err);
/* The same, loaded: *tok is NULL when the checkpoint carries none; −1 also
 * when its bytes are not a SentencePiece model ("FILE: /tokenizer/model: …"). */
int swat_ckpt_tokenizer(const char *path, swat_tok **tok, char *err);

/* Collective. Checks format, version and every tensor's shape and type
 * against the model, then reads params [lo,hi) into params+lo and, when m and
 * v are not NULL, the moments of the shard (optimizer datasets must exist).
 * Every dataset read that carries a crc32 attribute is verified against its
 * data (the ranks checksum their own ranges; datasets without the attribute,
 * as h5py writes them, are read unchecked). st may be NULL. Returns 0, −1
 * (err names the file and what is wrong) or SWAT_CKPT_CORRUPT (err names the
 * dataset), the same on every rank. The caller all-gathers params. */
int swat_ckpt_load(swat_comm *c, const char *path, const swat_model *model, swat_real *params,
                   swat_real *m, swat_real *v, size_t lo, size_t hi, swat_ckpt_state *st,
                   char *err);

#endif
