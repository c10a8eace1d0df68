/* SPDX-License-Identifier: MIT */
/* ckpt.h: checkpoints in HDF5 (SPEC §5). All HDF5 calls of swat live in
 * ckpt.c.
 *
 * A checkpoint is one file written by every rank together through parallel
 * HDF5 (MPI-IO, collective transfers). The flat parameter buffer and the
 * moments are split into contiguous shards [lo, hi) of the flat index (one
 * per world rank); each rank writes exactly the intersection of its shard with
 * every tensor, so no rank gathers the model. Reading is the same by shards,
 * which is why a checkpoint resumes on any other layout.
 *
 * Saving is write to DIR/.ckpt-<step>.h5.tmp → close → rename to
 * DIR/ckpt-<step, 8 digits>.h5 → fsync DIR, then the oldest beyond `keep`
 * are removed. A file under a final name is always complete. */
#ifndef SWAT_CKPT_H
#define SWAT_CKPT_H

#include "swat/comm.h"
#include "swat/common.h"
#include "swat/config.h"
#include "swat/model.h"

/* What an exact resume needs beyond tensors (/train/… and root attributes). */
typedef struct swat_ckpt_state {
    int64_t step;         /* updates done */
    int64_t samples_seen; /* step·B */
    int64_t tokens_seen;  /* step·B·T */
    int64_t world_size, sp;
} swat_ckpt_state;

/* The shard of world rank r: [lo, hi) of a flat buffer of n_pad elements
 * split evenly (n_pad is a multiple of world). */
void swat_ckpt_shard(size_t n_pad, int world, int rank, size_t *lo, size_t *hi);

/* Collective. Writes model params (from the full buffer `params`, only the
 * shard [lo,hi) of it) and, when m and v are not NULL, the moments of the
 * shard (m, v point at element lo). cfg is stored as INI text. Returns 0, or
 * −1 with err set on every rank (the temporary file removed). */
int swat_ckpt_save(swat_comm *c, const char *dir, const swat_config *cfg, const swat_model *model,
                   const swat_real *params, const swat_real *m, const swat_real *v, size_t lo,
                   size_t hi, const swat_ckpt_state *st, int keep, char *err);

/* Path of the newest complete checkpoint in dir that opens and carries the
 * right format attributes; 0 if found, 1 if the directory holds none, −1 on
 * error. Unreadable newer files are reported with a warning and skipped. */
int swat_ckpt_find_latest(const char *dir, char *path_out, size_t path_len, char *err);

/* Reads the config attribute (INI text) into cfg (defaults first). Runs on one
 * rank, no MPI needed (swat-eval, and the check before a collective load). */
int swat_ckpt_read_config(const char *path, swat_config *cfg, char *err);

/* Collective. Checks format, version and every tensor's shape and type
 * against the model, then reads params [lo,hi) into params+lo and, when m and
 * v are not NULL, the moments of the shard (optimizer datasets must exist).
 * st may be NULL. The caller all-gathers params. */
int swat_ckpt_load(swat_comm *c, const char *path, const swat_model *model, swat_real *params,
                   swat_real *m, swat_real *v, size_t lo, size_t hi, swat_ckpt_state *st,
                   char *err);

#endif
