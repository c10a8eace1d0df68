/* SPDX-License-Identifier: MIT */
/* rundir.h: the run directory ([checkpoint] dir) of a training run: which
 * files live in it, how a checkpoint appears in it atomically and old ones
 * leave it, which checkpoint a run resumes from, and how metrics.jsonl is
 * cut back on resume. The HDF5 format of one checkpoint file is ckpt.h's;
 * this module only names, orders, publishes and removes files (POSIX calls,
 * no HDF5).
 *
 *   DIR/config.ini                   the resolved config of the last start
 *   DIR/metrics.jsonl                one JSON object a line (metrics.h)
 *   DIR/ckpt-<step, 8 digits>.h5     complete checkpoints, newest = highest step
 *   DIR/.ckpt-<step, 8 digits>.h5.tmp  a checkpoint being written
 *
 * Saving is write to the temporary name → close → fsync it → rename to the
 * final name → fsync DIR (Redis rdbSave), then the oldest beyond `keep` and
 * temporaries of saves that died are removed. A file under a final name is
 * therefore always complete; a crash at any moment leaves the previous
 * checkpoint or the new one. */
#ifndef SWAT_RUNDIR_H
#define SWAT_RUNDIR_H

#include "swat/ckpt.h"

#define SWAT_RUNDIR_METRICS "metrics.jsonl"

/* Collective. Saves checkpoint st->step of the run in dir (created if
 * needed): swat_ckpt_write to the temporary name, then rank 0 publishes it
 * and prunes to the newest `keep` (keep <= 0 keeps all; the new file is
 * never pruned). Arguments as swat_ckpt_write. Returns 0, or −1 with err set
 * on every rank and nothing left under the final name. */
int swat_rundir_save(swat_comm *c, const char *dir, const swat_config *cfg,
                     const swat_model *model, const swat_real *params, const swat_real *m,
                     const swat_real *v, size_t lo, size_t hi, const swat_ckpt_state *st,
                     int keep, char *err);

/* Path of the newest checkpoint in dir that opens and carries the right
 * format attributes (swat_ckpt_probe); 0 if found, 1 if the directory holds
 * none, −1 on error (no usable one: err lists each file and why). Newer
 * files passed over are reported in one warning line. One rank, no MPI. */
int swat_rundir_find_latest(const char *dir, char *path_out, size_t path_len, char *err);

/* Collective. Loads the newest usable checkpoint of dir (swat_ckpt_load
 * with these arguments) and puts its path in path_out: 0. A file that does
 * not probe, or whose data fails its crc32 check, is passed over for the
 * next older one, and rank 0 names each passed over in one warning line.
 * Returns 1 when dir holds no checkpoint (a fresh start), −1 on error
 * (none usable: err lists each file and why; or the usable one does not fit
 * the model), the same on every rank. */
int swat_rundir_resume(swat_comm *c, const char *dir, const swat_model *model,
                       swat_real *params, swat_real *m, swat_real *v, size_t lo, size_t hi,
                       swat_ckpt_state *st, char *path_out, size_t path_len, char *err);

/* Keeps the records of DIR/metrics.jsonl whose "step" is at most keep_upto
 * (a resumed run rewrites what was logged after its checkpoint); a missing
 * file is fine. One rank. */
int swat_rundir_trim_metrics(const char *dir, int64_t keep_upto, char *err);

#endif
