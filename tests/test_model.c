/* SPDX-License-Identifier: MIT */
/* test_model.c: the whole model's gradient against central finite
 * differences, in double precision (linked against the swat64 build), for
 * every attention variant of docs/model.md; plus the invariants the trainer relies
 * on (micro-batches add up, the forward-only plan gives the same loss, the
 * per-row losses sum to the loss).
 *
 * Tolerance: with h = 1e-5 the central difference of a smooth double
 * function is exact to ~1e-10 relative; 1e-6 relative (+1e-9 absolute for
 * gradients that are ~0) leaves room for nothing but a real error.
 *
 * SWAT_TEST_QUICK=1 (set by tests/run_valgrind.sh only): the gradient checks
 * probe every QUICK_STRIDE-th entry of each tensor (and its last) instead of
 * all of them, on the same models and sequences; every tensor and every other
 * check is unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/model.h"
#include "swat/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUICK_STRIDE 7

/* SWAT_TEST_QUICK set and not "0": the reduced mode for valgrind */
static int quick_mode(void)
{
    const char *e = getenv("SWAT_TEST_QUICK");
    return e && e[0] && strcmp(e, "0") != 0;
}

static swat_model_config base_config(void)
{
    return (swat_model_config){.vocab_size = 32,
                               .hidden_size = 8,
                               .num_hidden_layers = 2,
                               .num_heads = 2,
                               .intermediate_size = 12,
                               .window_size = 4,
                               .rope_theta = 10000,
                               .rope = 1,
                               .norm_eps = 1e-6,
                               .tie_word_embeddings = 1,
                               .attention = SWAT_ATTN_SIGMOID,
                               .alibi = SWAT_ALIBI_BALANCED,
                               .sigmoid_bias = 0,
                               .initializer_range = 0.35};
}

static void fill_tokens(int32_t *x, int64_t n, int64_t V, uint64_t seed)
{
    swat_rng r;
    swat_rng_seed(&r, seed, 99);
    for (int64_t i = 0; i < n; i++) x[i] = (int32_t)swat_rng_below(&r, (uint64_t)V);
}

static void plan(swat_model *m, int64_t mb, int64_t T, int forward_only, int recompute)
{
    swat_plan p = {.mb = mb, .Tc = T, .forward_only = forward_only, .recompute = recompute};
    swat_model_plan(m, &p);
}

/* Scaled loss at the current parameters (backward off). */
static double loss_at(swat_model *m, const int32_t *tok, const int32_t *tgt, double scale)
{
    return scale * swat_model_step(m, NULL, tok, tgt, 0, scale, 0, NULL);
}

static void gradcheck(swat_model_config mc, int64_t mb, int64_t T, const char *what)
{
    swat_model *m = swat_model_create(&mc, 1);
    swat_model_init_params(m, 11);
    /* norms away from 1 so their gradients are exercised at a generic point */
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++)
                m->params[m->tensors[i].offset + j] = 1.0 + 0.1 * sin((double)(i * 31 + (int)j));
    plan(m, mb, T, 0, 0);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(mb * T));
    int32_t *tgt = malloc(sizeof(int32_t) * (size_t)(mb * T));
    fill_tokens(tok, mb * T, m->V, 1);
    fill_tokens(tgt, mb * T, m->V, 2);
    double scale = 1.0 / (double)(mb * T);

    memset(m->grads, 0, sizeof(swat_real) * m->nparams_pad);
    double l0 = swat_model_step(m, NULL, tok, tgt, 0, scale, 1, NULL);
    assert_true(isfinite(l0) && l0 > 0);

    const double h = 1e-5;
    double worst = 0;
    const char *worst_name = "";
    size_t stride = quick_mode() ? QUICK_STRIDE : 1, probed = 0;
    for (int ti = 0; ti < m->ntensors; ti++) {
        const swat_tensor *t = &m->tensors[ti];
        for (size_t j = 0; j < t->numel; j++) {
            /* quick: a different offset per tensor, and always the last entry */
            if ((j + (size_t)ti) % stride && j + 1 < t->numel) continue;
            probed++;
            size_t i = t->offset + j;
            double keep = m->params[i];
            m->params[i] = keep + h;
            double lp = loss_at(m, tok, tgt, scale);
            m->params[i] = keep - h;
            double lm = loss_at(m, tok, tgt, scale);
            m->params[i] = keep;
            double num = (lp - lm) / (2 * h), ana = m->grads[i];
            double err = fabs(num - ana) / (fabs(num) + fabs(ana) + 1e-3);
            if (err > worst) worst = err, worst_name = t->name;
            if (fabs(num - ana) > 1e-6 * (fabs(num) + fabs(ana)) + 1e-9) {
                fprintf(stderr, "%s: %s[%zu]: analytic %.12g numeric %.12g\n", what, t->name, j, ana,
                        num);
                fail();
            }
        }
    }
    printf("  %-28s loss %.6f, %zu parameters, worst relative error %.2e (%s)\n", what,
           l0 * scale, m->nparams, worst, worst_name);
    if (stride > 1) printf("  quick: %zu of %zu parameters probed\n", probed, m->nparams);
    free(tok);
    free(tgt);
    swat_model_free(m);
}

static void test_grad_sigmoid_balanced(void **s)
{
    (void)s;
    gradcheck(base_config(), 1, 12, "sigmoid balanced w=4 T=12");
}

static void test_grad_softmax(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    c.attention = SWAT_ATTN_SOFTMAX;
    c.alibi = SWAT_ALIBI_NEGATIVE;
    gradcheck(c, 1, 11, "softmax negative w=4 T=11");
}

static void test_grad_positive_bias_norope(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    c.alibi = SWAT_ALIBI_POSITIVE;
    c.sigmoid_bias = -1.25;
    c.rope = 0;
    gradcheck(c, 1, 10, "sigmoid positive bias norope");
}

static void test_grad_untied_none(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    c.tie_word_embeddings = 0;
    c.alibi = SWAT_ALIBI_NONE;
    c.window_size = 3;
    gradcheck(c, 2, 9, "untied none w=3 mb=2");
}

static void test_grad_full_and_wide(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    c.window_size = 0;
    gradcheck(c, 1, 9, "full causal w=0");
    c.attention = SWAT_ATTN_SOFTMAX;
    gradcheck(c, 1, 9, "softmax full causal");
    c.window_size = 16; /* w ≥ T */
    gradcheck(c, 1, 9, "softmax w=16 > T=9");
}

/* The two magnitude families on the signs that do not default to them. */
static void test_grad_magnitudes(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    c.num_heads = 4; /* two heads per sign group: sizes differ inside a group */
    c.alibi_magnitudes = SWAT_ALIBI_MAG_ALIBI;
    gradcheck(c, 1, 12, "sigmoid balanced alibi-sizes");
    c.attention = SWAT_ATTN_SOFTMAX;
    c.alibi = SWAT_ALIBI_POSITIVE;
    c.alibi_magnitudes = SWAT_ALIBI_MAG_HALVING;
    gradcheck(c, 1, 11, "softmax positive halving");
}

/* Two micro-batches of one sequence add up to one pass over both. */
static void test_microbatches_add_up(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    int64_t T = 12;
    swat_model *a = swat_model_create(&c, 1), *b = swat_model_create(&c, 1);
    swat_model_init_params(a, 5);
    swat_model_init_params(b, 5);
    plan(a, 2, T, 0, 0);
    plan(b, 1, T, 0, 0);
    int32_t tok[24], tgt[24];
    fill_tokens(tok, 24, c.vocab_size, 3);
    fill_tokens(tgt, 24, c.vocab_size, 4);
    double la = swat_model_step(a, NULL, tok, tgt, 0, 0.5, 1, NULL);
    double lb = swat_model_step(b, NULL, tok, tgt, 0, 0.5, 1, NULL);
    lb += swat_model_step(b, NULL, tok + T, tgt + T, 0, 0.5, 1, NULL);
    assert_float_equal(la, lb, 1e-12 * la);
    for (size_t i = 0; i < a->nparams; i++)
        assert_float_equal(a->grads[i], b->grads[i], 1e-12 + 1e-10 * fabs(a->grads[i]));
    swat_model_free(a);
    swat_model_free(b);
}

/* The forward-only plan (one layer's activations) scores exactly as the
 * training plan, and the per-row losses add up to the returned sum. */
static void test_forward_only_plan(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    int64_t T = 13;
    swat_model *m = swat_model_create(&c, 1);
    swat_model_init_params(m, 8);
    int32_t tok[13], tgt[13];
    double rows[13];
    fill_tokens(tok, T, c.vocab_size, 5);
    fill_tokens(tgt, T, c.vocab_size, 6);
    plan(m, 1, T, 0, 0);
    double full = swat_model_step(m, NULL, tok, tgt, 0, 1.0, 0, NULL);
    plan(m, 1, T, 1, 0);
    double fwd = swat_model_step(m, NULL, tok, tgt, 0, 1.0, 0, rows);
    assert_true(full == fwd);
    double sum = 0;
    for (int t = 0; t < T; t++) sum += rows[t];
    assert_float_equal(sum, fwd, 1e-12 * fwd);
    swat_model_free(m);
}

/* Recomputing activations in the backward pass changes memory, not one bit
 * of the gradients (softmax too: its row statistics are recomputed alike). */
static void test_recompute_identical(void **s)
{
    (void)s;
    for (int kind = 0; kind < 2; kind++) {
        swat_model_config c = base_config();
        c.attention = kind ? SWAT_ATTN_SOFTMAX : SWAT_ATTN_SIGMOID;
        c.num_hidden_layers = 3;
        int64_t T = 12, mb = 2;
        swat_model *a = swat_model_create(&c, 1), *b = swat_model_create(&c, 1);
        swat_model_init_params(a, 9);
        swat_model_init_params(b, 9);
        plan(a, mb, T, 0, 0);
        plan(b, mb, T, 0, 1);
        assert_true(b->arena_bytes < a->arena_bytes);
        int32_t tok[24], tgt[24];
        fill_tokens(tok, 24, c.vocab_size, 7);
        fill_tokens(tgt, 24, c.vocab_size, 8);
        double la = swat_model_step(a, NULL, tok, tgt, 0, 0.25, 1, NULL);
        double lb = swat_model_step(b, NULL, tok, tgt, 0, 0.25, 1, NULL);
        assert_true(la == lb);
        assert_memory_equal(a->grads, b->grads, sizeof(swat_real) * a->nparams);
        swat_model_free(a);
        swat_model_free(b);
    }
}

static void test_flops_per_token(void **s)
{
    (void)s;
    swat_model_config c = base_config();
    swat_model *m = swat_model_create(&c, 1);
    /* 6·(L(4d² + 3fd) + Vd) + 12·L·d·w */
    double want = 6.0 * (2 * (4 * 64 + 3 * 12 * 8) + 32 * 8) + 12.0 * 2 * 8 * 4;
    assert_float_equal(swat_model_flops_per_token(m, 100), want, 0);
    swat_model_free(m);
    c.window_size = 0; /* full attention: w = T */
    m = swat_model_create(&c, 1);
    assert_float_equal(swat_model_flops_per_token(m, 100), want - 12.0 * 2 * 8 * 4 + 12.0 * 2 * 8 * 100, 0);
    swat_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_sigmoid_balanced),
        cmocka_unit_test(test_grad_softmax),
        cmocka_unit_test(test_grad_positive_bias_norope),
        cmocka_unit_test(test_grad_untied_none),
        cmocka_unit_test(test_grad_full_and_wide),
        cmocka_unit_test(test_grad_magnitudes),
        cmocka_unit_test(test_microbatches_add_up),
        cmocka_unit_test(test_forward_only_plan),
        cmocka_unit_test(test_recompute_identical),
        cmocka_unit_test(test_flops_per_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
