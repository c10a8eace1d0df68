/* SPDX-License-Identifier: MIT */
/* optim.c: AdamW exactly as torch.optim.AdamW (non-fused, no amsgrad),
 * the warmup + cosine/constant schedule and clip_grad_norm_'s factor.
 *
 * The arithmetic follows PyTorch's single-tensor path step by step so that
 * the rounding matches a float32 PyTorch run as closely as it can:
 *   p *= 1 − lr·wd;  m = β1·m + (1−β1)·g (lerp);  v = β2·v + (1−β2)·g²
 *   p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
 * The weight-decay flag is looked up per tensor from the parameter table. */
#include "swat/optim.h"

#include <math.h>

#ifdef SWAT_DOUBLE
#define REAL_SQRT sqrt
#else
#define REAL_SQRT sqrtf
#endif

double swat_lr_at(const swat_train_config *t, int64_t k)
{
    if (t->warmup_steps > 0 && k <= t->warmup_steps) return t->lr * (double)k / (double)t->warmup_steps;
    if (t->lr_schedule == SWAT_LR_CONSTANT) return t->lr;
    double min = t->lr * t->min_lr_ratio;
    int64_t span = t->steps - t->warmup_steps;
    if (span <= 0) return t->lr;
    double progress = (double)(k - t->warmup_steps) / (double)span;
    if (progress > 1) progress = 1; /* past the planned steps: stay at the floor */
    return min + 0.5 * (t->lr - min) * (1.0 + cos(M_PI * progress));
}

double swat_clip_factor(double norm, double clip)
{
    if (clip <= 0) return 1.0;
    double f = clip / (norm + 1e-6);
    return f < 1.0 ? f : 1.0;
}

double swat_sq_norm(const swat_real *g, size_t n)
{
    /* fixed-order partial sums: the same result for every thread count */
    enum { PARTS = 64 };
    double part[PARTS] = {0};
    size_t per = (n + PARTS - 1) / PARTS;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < PARTS; b++) {
        size_t lo = (size_t)b * per, hi = lo + per < n ? lo + per : n;
        double s = 0;
        /* vectorised: a fixed order for a given build, whatever the thread count */
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        part[b] = s;
    }
    double s = 0;
    for (int b = 0; b < PARTS; b++) s += part[b];
    return s;
}

static void adamw_range(swat_real *p, const swat_real *g, swat_real *m, swat_real *v, size_t n,
                        double lr, double wd, double b1, double b2, double eps, double bc1,
                        double bc2_sqrt, double gscale)
{
    const swat_real decay = (swat_real)(1.0 - lr * wd);
    const swat_real step = (swat_real)(lr / bc1);
    const swat_real sb2 = (swat_real)bc2_sqrt, e = (swat_real)eps;
    const swat_real c1 = (swat_real)(1.0 - b1), rb2 = (swat_real)b2, c2 = (swat_real)(1.0 - b2);
    const swat_real gs = (swat_real)gscale;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        swat_real gi = g[i] * gs;
        swat_real pi = wd > 0 ? p[i] * decay : p[i];
        swat_real mi = m[i] + (gi - m[i]) * c1; /* torch lerp_ */
        swat_real vi = v[i] * rb2 + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * (mi / (REAL_SQRT(vi) / sb2 + e));
    }
}

void swat_adamw_step(const swat_train_config *t, const swat_model *model, size_t lo, size_t hi,
                     swat_real *p, const swat_real *g, swat_real *m, swat_real *v, int64_t k,
                     double lr, double gscale)
{
    double bc1 = 1.0 - pow(t->beta1, (double)k);
    double bc2_sqrt = sqrt(1.0 - pow(t->beta2, (double)k));
    /* walk the tensors that intersect [lo, hi): decay is per tensor */
    for (int i = 0; i < model->ntensors; i++) {
        const swat_tensor *ts = &model->tensors[i];
        size_t a = ts->offset > lo ? ts->offset : lo;
        size_t b = ts->offset + ts->numel < hi ? ts->offset + ts->numel : hi;
        if (a >= b) continue;
        size_t r = a - lo;
        adamw_range(p + r, g + r, m + r, v + r, b - a, lr, ts->decay ? t->weight_decay : 0.0,
                    t->beta1, t->beta2, t->eps, bc1, bc2_sqrt, gscale);
    }
}
