/* SPDX-License-Identifier: MIT */
/* optim.h: AdamW with torch.optim.AdamW semantics (docs/training.md), the learning
 * rate schedule and the global-norm clipping factor.
 *
 * The update runs on a shard [lo, hi) of the flat buffer: p and g point at
 * element lo of the parameters and of the reduced gradients, m and v at this
 * rank's moments. Weight decay follows the parameter table (matrices only). */
#ifndef SWAT_OPTIM_H
#define SWAT_OPTIM_H

#include "swat/common.h"
#include "swat/config.h"
#include "swat/model.h"

/* Learning rate of update k (1-based). */
double swat_lr_at(const swat_train_config *t, int64_t k);

/* min(1, clip / (norm + 1e-6)) when clip > 0, else 1 (clip_grad_norm_). */
double swat_clip_factor(double norm, double clip);

/* Σ g² over [lo, hi) in double (this rank's share of the squared norm). */
double swat_sq_norm(const swat_real *g, size_t n);

/* One AdamW update of the shard: step k (1-based), gradients multiplied by
 * gscale first (the clip factor). */
void swat_adamw_step(const swat_train_config *t, const swat_model *model, size_t lo, size_t hi,
                     swat_real *p, const swat_real *g, swat_real *m, swat_real *v, int64_t k,
                     double lr, double gscale);

#endif
