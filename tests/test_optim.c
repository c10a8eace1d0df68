/* SPDX-License-Identifier: MIT */
/* test_optim.c: AdamW, the schedule and the clip factor against values
 * computed by hand from docs/training.md (textbook form, in double). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static swat_train_config train_cfg(void)
{
    swat_train_config t;
    memset(&t, 0, sizeof t);
    t.lr = 1e-3;
    t.beta1 = 0.9;
    t.beta2 = 0.95;
    t.eps = 1e-8;
    t.weight_decay = 0.01;
    t.grad_clip = 1.0;
    t.warmup_steps = 10;
    t.lr_schedule = SWAT_LR_COSINE;
    t.min_lr_ratio = 0.1;
    t.steps = 110;
    return t;
}

static void test_schedule(void **state)
{
    (void)state;
    swat_train_config t = train_cfg();
    assert_float_equal(swat_lr_at(&t, 1), 1e-4, 1e-15);
    assert_float_equal(swat_lr_at(&t, 5), 5e-4, 1e-15);
    assert_float_equal(swat_lr_at(&t, 10), 1e-3, 1e-15);
    /* halfway through the cosine: min + (lr − min)/2 */
    assert_float_equal(swat_lr_at(&t, 60), 1e-4 + 0.5 * 0.9e-3, 1e-15);
    assert_float_equal(swat_lr_at(&t, 110), 1e-4, 1e-15);
    /* k = 35: progress 0.25 */
    assert_float_equal(swat_lr_at(&t, 35), 1e-4 + 0.5 * 0.9e-3 * (1 + cos(M_PI * 0.25)), 1e-15);
    t.warmup_steps = 0;
    assert_float_equal(swat_lr_at(&t, 1), 1e-4 + 0.5 * 0.9e-3 * (1 + cos(M_PI / 110)), 1e-15);
    t.lr_schedule = SWAT_LR_CONSTANT;
    assert_float_equal(swat_lr_at(&t, 77), 1e-3, 0);
    t.warmup_steps = 4;
    assert_float_equal(swat_lr_at(&t, 2), 5e-4, 1e-15);
}

static void test_clip(void **state)
{
    (void)state;
    assert_float_equal(swat_clip_factor(2.0, 1.0), 1.0 / (2.0 + 1e-6), 1e-15);
    assert_float_equal(swat_clip_factor(0.5, 1.0), 1.0, 0);
    assert_float_equal(swat_clip_factor(50.0, 0.0), 1.0, 0);
}

static void test_sq_norm(void **state)
{
    (void)state;
    enum { N = 1003 };
    swat_real g[N];
    double want = 0;
    for (int i = 0; i < N; i++) {
        g[i] = (swat_real)((i % 17) - 8) * 0.125f;
        want += (double)g[i] * g[i];
    }
    assert_float_equal(swat_sq_norm(g, N), want, 1e-9 * want);
}

/* Two AdamW updates on a tiny model's whole flat buffer, against the
 * textbook formulas element by element; norms must not be decayed. */
static void test_adamw(void **state)
{
    (void)state;
    swat_model_config mc = {.vocab_size = 8, .hidden_size = 4, .num_hidden_layers = 1,
                            .num_heads = 2, .intermediate_size = 8, .window_size = 2,
                            .rope_theta = 10000, .rope = 1, .norm_eps = 1e-6,
                            .tie_word_embeddings = 1, .attention = SWAT_ATTN_SIGMOID,
                            .alibi = SWAT_ALIBI_BALANCED, .initializer_range = 0.02};
    swat_model *m = swat_model_create(&mc, 1);
    size_t n = m->nparams;
    swat_real *mom = calloc(n, sizeof *mom), *vel = calloc(n, sizeof *vel);
    double *p = calloc(n, sizeof *p), *em = calloc(n, sizeof *em), *ev = calloc(n, sizeof *ev);
    swat_train_config t = train_cfg();
    double lr = 0.1, gscale = 0.5;
    for (size_t i = 0; i < n; i++) m->params[i] = (swat_real)(p[i] = 1.0 + 0.01 * (double)(i % 7));
    for (int k = 1; k <= 2; k++) {
        for (size_t i = 0; i < n; i++) m->grads[i] = (swat_real)(0.3 * sin((double)i + k));
        swat_adamw_step(&t, m, 0, n, m->params, m->grads, mom, vel, k, lr, gscale);
        for (int ti = 0; ti < m->ntensors; ti++) {
            const swat_tensor *ts = &m->tensors[ti];
            double wd = ts->decay ? t.weight_decay : 0.0;
            for (size_t i = ts->offset; i < ts->offset + ts->numel; i++) {
                double g = (double)m->grads[i] * gscale;
                p[i] *= 1 - lr * wd;
                em[i] = t.beta1 * em[i] + (1 - t.beta1) * g;
                ev[i] = t.beta2 * ev[i] + (1 - t.beta2) * g * g;
                double mh = em[i] / (1 - pow(t.beta1, k)), vh = ev[i] / (1 - pow(t.beta2, k));
                p[i] -= lr * mh / (sqrt(vh) + t.eps);
                /* float32 arithmetic on values near 1: a few ulps */
                assert_float_equal(m->params[i], p[i], 4e-7 * fabs(p[i]) + 1e-9);
                /* the lerp m + (g − m)(1 − β1) in float: relative to the terms */
                assert_float_equal(mom[i], em[i], 1e-6 * (fabs(em[i]) + fabs(g)) + 1e-12);
            }
        }
    }
    /* a norm weight moved by Adam alone: 1 − lr·(m̂/√v̂) with no decay factor */
    const swat_tensor *norm = swat_model_find(m, "model/norm/weight");
    assert_non_null(norm);
    assert_int_equal(norm->decay, 0);
    assert_int_equal(swat_model_find(m, "model/layers/0/attn/q_proj/weight")->decay, 1);
    free(mom), free(vel), free(p), free(em), free(ev);
    swat_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_sq_norm),
        cmocka_unit_test(test_adamw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
