/* SPDX-License-Identifier: MIT */
/* test_stream.c: the streaming forward (swat_model_stream_begin/step) against
 * one whole-sequence forward (swat_model_step, forward-only plan), in double
 * precision (swat64), for sigmoid and softmax, several windows, and chunkings
 * of every awkward kind: 1 row, fewer rows than the halo (w−1), exactly w−1,
 * w, 2w+1, sizes that do not divide T, the whole sequence at once, and
 * irregular pieces. Plus: a new sequence after another forgets the old one;
 * the arena does not grow with the sequence length; greedy generation with
 * the rolling cache sees the logits a whole forward over prompt + generated
 * tokens gives.
 *
 * Tolerance: 1e-12 relative (+1e-12 absolute). Both sides compute the same
 * sums in double; streaming only regroups them (GEMM and attention blocks of
 * other sizes), which moves results by ~1e-15. A halo row too many or too few,
 * a wrong position or a stale carry changes losses by 1e-3 or more with the
 * large initializer_range used here. */
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

#define TOL 1e-12

static swat_model_config base_config(int64_t w)
{
    return (swat_model_config){.vocab_size = 32,
                               .hidden_size = 8,
                               .num_hidden_layers = 2,
                               .num_heads = 2,
                               .intermediate_size = 12,
                               .window_size = w,
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

static swat_model *make_model(const swat_model_config *c)
{
    swat_model *m = swat_model_create(c, 1);
    swat_model_init_params(m, 17);
    /* norms away from 1, so a norm applied to the wrong rows shows */
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].ndim == 1)
            for (size_t j = 0; j < m->tensors[i].numel; j++)
                m->params[m->tensors[i].offset + j] = 1.0 + 0.1 * sin((double)(i * 7 + (int)j));
    return m;
}

static void plan_forward(swat_model *m, int64_t T)
{
    swat_plan p = {.mb = 1, .Tc = T, .forward_only = 1, .precision = SWAT_PREC_FP32};
    swat_model_plan(m, &p);
}

static int close_to(double a, double b) { return fabs(a - b) <= TOL * (1 + fabs(b)); }

/* Whole-sequence forward: per-row losses rows [T] and, if logits is not
 * NULL, the logits of every row ([T][V], from the final normed rows). */
static void whole_forward(swat_model *m, const int32_t *tok, const int32_t *tgt, int64_t T,
                          double *rows, double *logits)
{
    plan_forward(m, T);
    double sum = swat_model_step(m, NULL, tok, tgt, 0, 1.0, 0, rows);
    double check = 0;
    for (int64_t t = 0; t < T; t++) check += rows[t];
    assert_true(close_to(sum, check));
    if (!logits) return;
    for (int64_t t = 0; t < T; t++)
        for (int64_t v = 0; v < m->V; v++) {
            double z = 0;
            for (int64_t i = 0; i < m->d; i++)
                z += ((const swat_real *)m->y)[t * m->d + i] * m->p.lm_head[v * m->d + i];
            logits[t * m->V + v] = z;
        }
}

/* Streams tok[T] in pieces: sizes[k % nsizes] rows each (the last one cut to
 * what is left), each ≤ chunk. Returns the summed loss; rows [T] per row;
 * last [V] the last row's logits. */
static double stream(swat_model *m, int64_t chunk, const int64_t *sizes, int nsizes,
                     const int32_t *tok, const int32_t *tgt, int64_t T, double *rows,
                     swat_real *last)
{
    double sum = 0;
    int64_t p = 0;
    for (int k = 0; p < T; k++) {
        int64_t n = sizes[k % nsizes];
        if (n > T - p) n = T - p;
        assert_true(n >= 1 && n <= chunk);
        double l = swat_model_stream_step(m, tok + p, n, p, tgt + p, rows + p,
                                          p + n == T ? last : NULL);
        double check = 0;
        for (int64_t t = 0; t < n; t++) check += rows[p + t];
        assert_true(close_to(l, check));
        sum += l;
        p += n;
        assert_int_equal(m->stream_pos, p);
    }
    return sum;
}

static void compare(const char *what, const double *got, const double *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!close_to(got[i], want[i])) {
            fprintf(stderr, "%s: element %lld: stream %.17g, whole %.17g\n", what, (long long)i,
                    got[i], want[i]);
            fail();
        }
}

/* Every chunking of one config against the whole forward. */
static void check_config(swat_model_config c, int64_t T, const char *what)
{
    int64_t w = c.window_size, V = c.vocab_size;
    swat_model *whole = make_model(&c), *m = make_model(&c);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T), *tgt = malloc(sizeof(int32_t) * (size_t)T);
    double *ref = malloc(sizeof(double) * (size_t)T), *rows = malloc(sizeof(double) * (size_t)T);
    double *ref_logits = malloc(sizeof(double) * (size_t)(T * V)), got_last[64];
    swat_real last[64];
    assert_true(V <= 64);
    fill_tokens(tok, T, V, 1);
    fill_tokens(tgt, T, V, 2);
    whole_forward(whole, tok, tgt, T, ref, ref_logits);
    double ref_sum = 0;
    for (int64_t t = 0; t < T; t++) ref_sum += ref[t];

    int64_t chunks[] = {1, 3, w - 1, w, 2 * w + 1, 5, 7, T, T + 3};
    int ntried = 0;
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        int64_t ch = chunks[i];
        if (ch < 1) continue;
        swat_model_stream_begin(m, ch, SWAT_PREC_FP32);
        double sum = stream(m, ch, &ch, 1, tok, tgt, T, rows, last);
        char label[128];
        snprintf(label, sizeof label, "%s chunk %lld row loss", what, (long long)ch);
        compare(label, rows, ref, T);
        assert_true(close_to(sum, ref_sum));
        for (int64_t v = 0; v < V; v++) got_last[v] = last[v];
        snprintf(label, sizeof label, "%s chunk %lld last logits", what, (long long)ch);
        compare(label, got_last, ref_logits + (T - 1) * V, V);
        ntried++;
    }
    /* irregular pieces under one plan: 1 row, fewer rows than the halo, more */
    int64_t pieces[] = {1, 6, 2, 5, 3, 1, 1, 4};
    swat_model_stream_begin(m, 6, SWAT_PREC_FP32);
    stream(m, 6, pieces, 8, tok, tgt, T, rows, last);
    compare(what, rows, ref, T);
    printf("  %-36s T=%lld: %d chunkings + irregular pieces agree (loss %.6f)\n", what,
           (long long)T, ntried, ref_sum / (double)T);
    free(tok);
    free(tgt);
    free(ref);
    free(rows);
    free(ref_logits);
    swat_model_free(whole);
    swat_model_free(m);
}

static void test_sigmoid_windows(void **s)
{
    (void)s;
    check_config(base_config(4), 29, "sigmoid balanced w=4");
    check_config(base_config(3), 23, "sigmoid balanced w=3");
    check_config(base_config(8), 41, "sigmoid balanced w=8");
    check_config(base_config(40), 29, "sigmoid balanced w=40 > T");
}

static void test_softmax_windows(void **s)
{
    (void)s;
    swat_model_config c = base_config(4);
    c.attention = SWAT_ATTN_SOFTMAX;
    c.alibi = SWAT_ALIBI_NEGATIVE;
    check_config(c, 29, "softmax negative w=4");
    c.window_size = 7;
    c.tie_word_embeddings = 0;
    check_config(c, 31, "softmax untied w=7");
}

static void test_variants(void **s)
{
    (void)s;
    swat_model_config c = base_config(5);
    c.alibi = SWAT_ALIBI_POSITIVE;
    c.sigmoid_bias = -1.25;
    c.rope = 0;
    check_config(c, 27, "sigmoid positive bias norope w=5");
    c = base_config(1); /* no halo at all: the carry is empty */
    c.alibi = SWAT_ALIBI_NONE;
    check_config(c, 17, "sigmoid none w=1");
}

/* A new sequence (p0 = 0) after another one does not see the old carry. */
static void test_new_sequence_forgets(void **s)
{
    (void)s;
    swat_model_config c = base_config(4);
    int64_t T = 19, ch = 3;
    swat_model *whole = make_model(&c), *m = make_model(&c);
    int32_t a[19], b[19], tgt[19];
    double ref[19], rows[19];
    swat_real last[32];
    fill_tokens(a, T, c.vocab_size, 3);
    fill_tokens(b, T, c.vocab_size, 4);
    fill_tokens(tgt, T, c.vocab_size, 5);
    whole_forward(whole, b, tgt, T, ref, NULL);
    swat_model_stream_begin(m, ch, SWAT_PREC_FP32);
    stream(m, ch, &ch, 1, a, tgt, T, rows, last);
    stream(m, ch, &ch, 1, b, tgt, T, rows, last);
    compare("second sequence", rows, ref, T);
    swat_model_free(whole);
    swat_model_free(m);
}

/* The arena is sized by the chunk alone: streaming 60 or 6000 tokens neither
 * grows nor moves it, it equals a forward-only plan of `chunk` rows, and the
 * long stream still matches the whole forward. */
static void test_memory_flat(void **s)
{
    (void)s;
    swat_model_config c = base_config(6);
    int64_t ch = 16, T = 6000;
    swat_model *m = make_model(&c), *plain = make_model(&c), *whole = make_model(&c);
    plan_forward(plain, ch);
    swat_model_stream_begin(m, ch, SWAT_PREC_FP32);
    size_t bytes = m->arena_bytes;
    void *arena = m->arena, *carry = m->carry;
    assert_int_equal(bytes, plain->arena_bytes);

    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T), *tgt = malloc(sizeof(int32_t) * (size_t)T);
    double *rows = malloc(sizeof(double) * (size_t)T), *ref = malloc(sizeof(double) * (size_t)T);
    swat_real last[32];
    fill_tokens(tok, T, c.vocab_size, 6);
    fill_tokens(tgt, T, c.vocab_size, 7);
    stream(m, ch, &ch, 1, tok, tgt, 60, rows, last);
    assert_true(m->arena == arena && m->carry == carry && m->arena_bytes == bytes);
    stream(m, ch, &ch, 1, tok, tgt, T, rows, last);
    assert_true(m->arena == arena && m->carry == carry && m->arena_bytes == bytes);
    whole_forward(whole, tok, tgt, T, ref, NULL);
    compare("T=6000 row loss", rows, ref, T);
    printf("  stream arena %zu bytes + carry %zu bytes for any T; whole forward of T=%lld: %zu bytes\n",
           bytes, sizeof(swat_real) * (size_t)(m->L * m->nhalo * 2 * m->d), (long long)T,
           whole->arena_bytes);
    assert_true(whole->arena_bytes > 50 * bytes);
    free(tok);
    free(tgt);
    free(rows);
    free(ref);
    swat_model_free(m);
    swat_model_free(plain);
    swat_model_free(whole);
}

static int64_t argmax(const swat_real *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy generation with the rolling cache: the prompt in chunks of 3, then
 * one token per step. Every step's logits equal the whole forward's logits
 * over prompt + generated tokens at that row, and the generated tokens are
 * that forward's argmaxes. */
static void generate_check(swat_model_config c, const char *what)
{
    enum { P = 7, G = 20, N = P + G, V = 32 };
    swat_model *m = make_model(&c), *whole = make_model(&c);
    int32_t seq[N], tgt[N] = {0};
    swat_real step_logits[G][V];
    fill_tokens(seq, P, V, 8);
    swat_model_stream_begin(m, 3, SWAT_PREC_FP32);
    int64_t p = 0;
    for (; p < P; p += 3) {
        int64_t n = P - p < 3 ? P - p : 3;
        assert_true(swat_model_stream_step(m, seq + p, n, p, NULL, NULL,
                                           p + n == P ? step_logits[0] : NULL) == 0);
    }
    for (int g = 0; g < G; g++) {
        seq[P + g] = (int32_t)argmax(step_logits[g], V);
        if (g + 1 < G) swat_model_stream_step(m, seq + P + g, 1, P + g, NULL, NULL, step_logits[g + 1]);
    }
    double rows[N], logits[N * V];
    whole_forward(whole, seq, tgt, N, rows, logits);
    for (int g = 0; g < G; g++) {
        double got[V];
        for (int v = 0; v < V; v++) got[v] = step_logits[g][v];
        char label[96];
        snprintf(label, sizeof label, "%s generated step %d logits", what, g);
        compare(label, got, logits + (P - 1 + g) * V, V);
    }
    printf("  %-36s %d greedy tokens:", what, G);
    for (int g = 0; g < G; g++) printf(" %d", seq[P + g]);
    printf("\n");
    swat_model_free(m);
    swat_model_free(whole);
}

static void test_generation_logits(void **s)
{
    (void)s;
    generate_check(base_config(4), "sigmoid balanced w=4");
    swat_model_config c = base_config(5);
    c.attention = SWAT_ATTN_SOFTMAX;
    c.alibi = SWAT_ALIBI_NEGATIVE;
    generate_check(c, "softmax negative w=5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_windows),
        cmocka_unit_test(test_softmax_windows),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_new_sequence_forgets),
        cmocka_unit_test(test_memory_flat),
        cmocka_unit_test(test_generation_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
