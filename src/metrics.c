/* SPDX-License-Identifier: MIT */
/* metrics.c: metrics.jsonl, one JSON object a line, flushed per record so
 * that `tail -f` and a preempted job both see every finished update. */
#include "swat/metrics.h"

#include "swat/rundir.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* JSON has no NaN/Infinity: a non-finite value is written as null. The
 * value is written as %.<digits>f, or %.<digits>e when sci is set (literal
 * formats, so the compiler checks them). */
static void put_num(FILE *f, const char *key, double x, int digits, int sci)
{
    fprintf(f, ",\"%s\":", key);
    if (!isfinite(x))
        fputs("null", f);
    else if (sci)
        fprintf(f, "%.*e", digits, x);
    else
        fprintf(f, "%.*f", digits, x);
}

int swat_metrics_open(swat_metrics *mt, const char *dir, int64_t keep_upto, char *err)
{
    char path[SWAT_PATH_LEN + 24];
    snprintf(path, sizeof path, "%s/" SWAT_RUNDIR_METRICS, dir);
    if (swat_rundir_trim_metrics(dir, keep_upto, err)) return -1;
    mt->f = fopen(path, "a");
    if (!mt->f) return swat_errf(err, "%s: %s", path, strerror(errno));
    return 0;
}

void swat_metrics_close(swat_metrics *mt)
{
    if (mt->f) fclose(mt->f);
    mt->f = NULL;
}

void swat_metrics_update(swat_metrics *mt, int64_t step, double loss, double lr, double grad_norm,
                         double tokens_per_s, double mfu, double seconds)
{
    if (!mt->f) return;
    fprintf(mt->f, "{\"step\":%lld", (long long)step);
    put_num(mt->f, "loss", loss, 6, 0);
    put_num(mt->f, "lr", lr, 6, 1);
    put_num(mt->f, "grad_norm", grad_norm, 6, 0);
    put_num(mt->f, "tokens_per_s", tokens_per_s, 1, 0);
    put_num(mt->f, "mfu", mfu, 4, 0);
    put_num(mt->f, "step_s", seconds, 4, 0);
    fputs("}\n", mt->f);
    fflush(mt->f);
}

void swat_metrics_eval(swat_metrics *mt, int64_t step, double val_loss, int64_t tokens)
{
    if (!mt->f) return;
    fprintf(mt->f, "{\"step\":%lld", (long long)step);
    put_num(mt->f, "val_loss", val_loss, 6, 0);
    fprintf(mt->f, ",\"val_tokens\":%lld}\n", (long long)tokens);
    fflush(mt->f);
}

void swat_format_duration(char *buf, size_t len, double seconds)
{
    if (!(seconds >= 0) || seconds > 1e8) {
        snprintf(buf, len, "?");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, len, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}
