/* SPDX-License-Identifier: MIT */
/* rundir.c: the run directory (see rundir.h): checkpoint names, atomic
 * publish, pruning, the newest usable checkpoint, metrics.jsonl on resume.
 *
 * Why it is shaped so:
 *   - The format of one file (ckpt.c, the only HDF5 code) and the life of
 *     files in a directory are separate concerns: a save here is "write the
 *     file under a temporary name (ckpt.c, collective), then publish it (rank
 *     0, POSIX)", and the search for a checkpoint to resume walks names here
 *     and asks ckpt.c only whether one file is usable.
 *   - Every rank takes the same decisions from the same arguments (names,
 *     step bounds); only rank 0 touches the directory, and its outcome is
 *     agreed on by all (swat_comm_agree) before anyone goes on, so a failure
 *     seen by rank 0 is the failure of every rank.
 *   - Publish (Redis rdbSave): the temporary file is fsynced, renamed to its
 *     final name and the directory fsynced; if the directory fsync fails the
 *     final name is removed again, so nothing is taken for good that might
 *     not survive a crash. Pruning comes after and only warns: the new
 *     checkpoint is already safe.
 *   - Names are exactly ckpt-<8 digits>.h5: anything else in the directory
 *     (the user's files, other tools' output) is never listed or removed. */
#include "swat/rundir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_NAME_LEN 16 /* strlen("ckpt-00000000.h5") */

/* ---- names -------------------------------------------------------------------------- */

typedef struct ckpt_entry {
    long long step;
    char name[CKPT_NAME_LEN + 1];
} ckpt_entry;

/* Step of a name that is exactly ckpt-<8 digits>.h5, else -1. */
static long long ckpt_name_step(const char *name)
{
    if (strlen(name) != CKPT_NAME_LEN || strncmp(name, "ckpt-", 5) != 0 ||
        strcmp(name + 13, ".h5") != 0)
        return -1;
    long long step = 0;
    for (int i = 5; i < 13; i++) {
        if (!isdigit((unsigned char)name[i])) return -1;
        step = step * 10 + (name[i] - '0');
    }
    return step;
}

/* 1 if name is exactly .ckpt-<8 digits>.h5.tmp (left by a save that died). */
static int is_stale_tmp(const char *name)
{
    if (strlen(name) != CKPT_NAME_LEN + 5 || name[0] != '.' ||
        strcmp(name + CKPT_NAME_LEN + 1, ".tmp") != 0)
        return 0;
    char base[CKPT_NAME_LEN + 1];
    memcpy(base, name + 1, CKPT_NAME_LEN);
    base[CKPT_NAME_LEN] = '\0';
    return ckpt_name_step(base) >= 0;
}

static int entry_newer_first(const void *pa, const void *pb)
{
    const ckpt_entry *a = pa, *b = pb;
    return a->step < b->step ? 1 : a->step > b->step ? -1 : 0;
}

/* Checkpoint names in dir, newest first, in *out (malloc'ed). Returns the
 * count (0 when dir does not exist), or -1 with errno set. */
static int list_checkpoints(const char *dir, ckpt_entry **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    int n = 0, cap = 0;
    ckpt_entry *e = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long long step = ckpt_name_step(de->d_name);
        if (step < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ckpt_entry *grown = swat_malloc(sizeof *grown * (size_t)cap);
            if (n) memcpy(grown, e, sizeof *e * (size_t)n);
            swat_free(e);
            e = grown;
        }
        e[n].step = step;
        memcpy(e[n].name, de->d_name, CKPT_NAME_LEN + 1);
        n++;
    }
    closedir(d);
    if (n > 1) qsort(e, (size_t)n, sizeof *e, entry_newer_first);
    *out = e;
    return n;
}

/* ---- the directory ------------------------------------------------------------------ */

static int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Rank 0, after the collective close: makes the temporary file durable and
 * gives it its final name. On failure nothing is left under the final name. */
static int publish(const char *tmp, const char *final, const char *dir, char *err)
{
    if (fsync_path(tmp, 0) != 0)
        return swat_errf(err, "fsync %s: %s", tmp, strerror(errno));
    if (rename(tmp, final) != 0)
        return swat_errf(err, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
    if (fsync_path(dir, 1) != 0) {
        int saved = errno;
        unlink(final);
        return swat_errf(err, "fsync of directory %s: %s", dir, strerror(saved));
    }
    return 0;
}

/* Rank 0, after a save of step `saved`: removes the oldest checkpoints beyond
 * `keep` (keep <= 0 keeps all) but never the one just written, and the
 * temporary files of saves that died. Failures only warn: the new
 * checkpoint is already safe. */
static void prune(const char *dir, int keep, long long saved)
{
    char path[SWAT_PATH_LEN + CKPT_NAME_LEN + 8];
    ckpt_entry *e;
    int n = list_checkpoints(dir, &e);
    for (int i = keep > 0 ? keep : n; i < n; i++) {
        if (e[i].step == saved) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e[i].name);
        if (unlink(path) != 0)
            swat_warn("cannot remove old checkpoint %s: %s", path, strerror(errno));
    }
    swat_free(e);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!is_stale_tmp(de->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) == 0)
            swat_warn("removed %s, left by a save that did not finish", path);
    }
    if (d) closedir(d);
}

/* Appends "name (reason)" for a checkpoint passed over to `tried`
 * (SWAT_ERR_LEN bytes, ", "-separated); `why` is "<path>: reason". */
static void note_unusable(char *tried, const char *path, const char *why)
{
    const char *reason = why, *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    size_t pre = strlen(path) + 2;
    if (strlen(why) > pre && strncmp(why, path, pre - 2) == 0 && why[pre - 2] == ':')
        reason = why + pre;
    size_t used = strlen(tried);
    if (used + 1 < SWAT_ERR_LEN)
        snprintf(tried + used, SWAT_ERR_LEN - used, "%s%s (%.160s)", used ? ", " : "", name,
                 reason);
}

/* The step in the name of a checkpoint path (…/ckpt-<8 digits>.h5). */
static long long step_of_path(const char *path)
{
    const char *name = strrchr(path, '/');
    long long step = ckpt_name_step(name ? name + 1 : path);
    SWAT_ASSERT(step >= 0);
    return step;
}

/* ---- public --------------------------------------------------------------------------- */

int swat_rundir_save(swat_comm *c, const char *dir, const swat_config *cfg,
                     const swat_model *model, const swat_real *params, const swat_real *m,
                     const swat_real *v, size_t lo, size_t hi, const swat_ckpt_state *st,
                     int keep, char *err)
{
    SWAT_ASSERT(st != NULL);
    int rank = swat_comm_rank(c, SWAT_SCOPE_WORLD);
    char tmp[SWAT_PATH_LEN] = "", final[SWAT_PATH_LEN] = "";
    int failed = 0, rc = -1;
    err[0] = '\0';

    /* every rank takes the same decisions from the same arguments */
    if (st->step < 0 || st->step > SWAT_CKPT_MAX_STEP)
        failed = swat_errf(err, "step %lld does not fit the 8-digit file name",
                           (long long)st->step);
    else if (snprintf(tmp, sizeof tmp, "%s/.ckpt-%08lld.h5.tmp", dir, (long long)st->step) >=
                 (int)sizeof tmp ||
             snprintf(final, sizeof final, "%s/ckpt-%08lld.h5", dir, (long long)st->step) >=
                 (int)sizeof final) {
        tmp[0] = '\0'; /* never unlink a truncated name */
        failed = swat_errf(err, "checkpoint path too long in %.80s…", dir);
    }
    if (!failed && rank == 0) failed = swat_mkdir_p(dir, err);
    if (swat_comm_agree(c, failed, err)) goto done;

    if (swat_ckpt_write(c, tmp, cfg, model, params, m, v, lo, hi, st, err)) goto done;
    if (rank == 0) failed = publish(tmp, final, dir, err);
    if (swat_comm_agree(c, failed, err)) goto done;
    if (rank == 0) prune(dir, keep, (long long)st->step);
    rc = 0;
done:
    if (rc != 0 && rank == 0 && tmp[0]) unlink(tmp);
    return rc;
}

/* Rank 0. The newest checkpoint of dir older than step `below` that
 * swat_ckpt_probe accepts: 0 and its path, 1 when there is none (every file
 * passed over is appended to `tried` as "name (reason)"), −1 on error. */
static int newest_usable(const char *dir, long long below, char *path_out, size_t path_len,
                         char *tried, char *err)
{
    ckpt_entry *e;
    int n = list_checkpoints(dir, &e);
    if (n < 0) return swat_errf(err, "cannot read directory %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        if (e[i].step >= below) continue;
        char path[SWAT_PATH_LEN + CKPT_NAME_LEN + 2], why[SWAT_ERR_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, e[i].name);
        if (swat_ckpt_probe(path, why) == 0) {
            swat_free(e);
            if (strlen(path) >= path_len)
                return swat_errf(err, "checkpoint path too long: %.80s…", path);
            strcpy(path_out, path);
            return 0;
        }
        note_unusable(tried, path, why);
    }
    swat_free(e);
    return 1;
}

int swat_rundir_find_latest(const char *dir, char *path_out, size_t path_len, char *err)
{
    char tried[SWAT_ERR_LEN] = "";
    int rc = newest_usable(dir, LLONG_MAX, path_out, path_len, tried, err);
    if (rc < 0) return -1;
    if (rc == 1) return tried[0] ? swat_errf(err, "no usable checkpoint in %s: %s", dir, tried) : 1;
    /* one line for the newer files passed over; none when no file is usable,
     * since the error then lists them */
    if (tried[0]) swat_warn("skipping unusable newer checkpoint(s) in %s: %s", dir, tried);
    return 0;
}

int swat_rundir_resume(swat_comm *c, const char *dir, const swat_model *model,
                       swat_real *params, swat_real *m, swat_real *v, size_t lo, size_t hi,
                       swat_ckpt_state *st, char *path_out, size_t path_len, char *err)
{
    int rank = swat_comm_rank(c, SWAT_SCOPE_WORLD);
    char tried[SWAT_ERR_LEN] = "", path[SWAT_PATH_LEN];
    long long below = LLONG_MAX;
    err[0] = '\0';
    for (;;) {
        /* rank 0 picks the candidate (file names and a serial probe) … */
        int found = 0;
        path[0] = '\0';
        if (rank == 0) {
            found = newest_usable(dir, below, path, sizeof path, tried, err);
            if (found == 1 && tried[0])
                found = swat_errf(err, "no usable checkpoint in %s: %s", dir, tried);
        }
        if (swat_comm_agree(c, found < 0, err)) return -1;
        swat_comm_bcast(c, &found, sizeof found, 0);
        if (found == 1) return 1;
        swat_comm_bcast(c, path, sizeof path, 0);
        /* … and every rank loads it; damaged data sends them to an older one */
        int rc = swat_ckpt_load(c, path, model, params, m, v, lo, hi, st, err);
        if (rc == SWAT_CKPT_CORRUPT) {
            if (rank == 0) note_unusable(tried, path, err);
            below = step_of_path(path);
            continue;
        }
        if (rc != 0) return -1;
        if (strlen(path) >= path_len) return swat_errf(err, "checkpoint path too long: %.80s…", path);
        strcpy(path_out, path);
        if (rank == 0 && tried[0])
            swat_warn("skipping unusable newer checkpoint(s) in %s: %s", dir, tried);
        return 0;
    }
}

int swat_rundir_trim_metrics(const char *dir, int64_t keep_upto, char *err)
{
    char path[SWAT_PATH_LEN + 24], tmp[SWAT_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/" SWAT_RUNDIR_METRICS, dir);
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 0 : swat_errf(err, "%s: %s", path, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return swat_errf(err, "%s: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        const char *s = strstr(line, "\"step\":");
        if (s && strtoll(s + 7, NULL, 10) > keep_upto) continue;
        fputs(line, out);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0)
        return swat_errf(err, "%s: %s", path, strerror(errno));
    return 0;
}
