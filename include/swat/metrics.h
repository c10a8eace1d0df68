/* SPDX-License-Identifier: MIT */
/* metrics.h: the run directory's metrics.jsonl (docs/training.md) and the console
 * progress line. Only the rank that opened the file writes. */
#ifndef SWAT_METRICS_H
#define SWAT_METRICS_H

#include "swat/common.h"

#include <stdio.h>

typedef struct swat_metrics {
    FILE *f;
} swat_metrics;

/* Opens DIR/metrics.jsonl for appending. A resumed run first drops the
 * records of steps after `keep_upto` (logged after the checkpoint it resumes
 * from), so the file reads as one uninterrupted run. */
int swat_metrics_open(swat_metrics *mt, const char *dir, int64_t keep_upto, char *err);
void swat_metrics_close(swat_metrics *mt);

void swat_metrics_update(swat_metrics *mt, int64_t step, double loss, double lr, double grad_norm,
                         double tokens_per_s, double mfu, double seconds);
void swat_metrics_eval(swat_metrics *mt, int64_t step, double val_loss, int64_t tokens);

/* "1h02m" style duration into buf. */
void swat_format_duration(char *buf, size_t len, double seconds);

#endif
