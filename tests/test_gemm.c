/* SPDX-License-Identifier: MIT */
/* test_gemm.c: the bfloat16 rounding rule and the GEMM wrapper on every
 * operand type, against a double-precision reference.
 *
 * Built twice: against the float library (test_gemm: oneDNN where the CPU has
 * bfloat16 instructions) and the double one (test_gemm64: the emulated path
 * in double, the reference of the bf16 arithmetic). With
 * SWAT_TEST_EXPECT_EMULATED=1 (ctest runs it under ONEDNN_MAX_CPU_ISA=
 * AVX512_CORE) the engine must fall back to the emulated path and say why.
 *
 * Tolerance of a product. The operands are bfloat16 values, so every product
 * a·b is exact in float32 and the engines differ from the exact sum only by
 * the rounding of the additions: |C − C_exact| ≤ γ_K Σ_k |a_ik||b_kj| with
 * γ_K ≈ K·u, u = 2^−24 for float (Higham, Accuracy and Stability, §3.1); in
 * double u = 2^−53. The check uses 2·K·u plus the rounding of the final
 * alpha scale and beta addition, relative to Σ|a||b| + |C_old|. A transposed
 * or mis-strided operand gives errors of the order of Σ|a||b| itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/bf16.h"
#include "swat/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SWAT_DOUBLE
#define UNIT 0x1p-53
#else
#define UNIT 0x1p-24
#endif

static _Thread_local uint64_t rng_state = 88172645463325252ull;
static double uniform(void) /* xorshift64, [−1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1p-52 - 1.0;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_rounding(void **state)
{
    (void)state;
    assert_int_equal(swat_bf16_from_float(1.0f), 0x3f80);
    assert_int_equal(swat_bf16_from_float(-2.0f), 0xc000);
    /* ties go to the even mantissa: 1 + 2^-8 → 1; 1 + 3·2^-8 → 1 + 2^-6 */
    assert_int_equal(swat_bf16_from_float(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(swat_bf16_from_float(1.0f + 3 * 0x1p-8f), 0x3f82);
    /* just above a tie rounds up, just below down */
    assert_int_equal(swat_bf16_from_float(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(swat_bf16_from_float(from_bits(0x3f807fff)), 0x3f80);
    /* the largest float rounds to inf; inf and −0 stay; NaN stays a quiet NaN */
    assert_int_equal(swat_bf16_from_float(from_bits(0x7f7fffff)), 0x7f80);
    assert_int_equal(swat_bf16_from_float(INFINITY), 0x7f80);
    assert_int_equal(swat_bf16_from_float(-0.0f), 0x8000);
    swat_bf16 nan = swat_bf16_from_float(from_bits(0x7f800001)); /* signalling NaN */
    assert_true((nan & 0x7f80) == 0x7f80 && (nan & 0x007f) != 0 && (nan & 0x0040));
    /* a subnormal tie: 0x00018000 lies halfway between 0x0001 and 0x0002 → 0x0002 */
    assert_int_equal(swat_bf16_from_float(from_bits(0x00018000)), 0x0002);
    assert_true(swat_bf16_to_float(0x3f82) == 1.0f + 0x1p-6f);
}

/* swat_bf16_round against the definition: the nearer of the two bfloat16
 * neighbours, the even one on a tie. For float inputs both builds must give
 * the float conversion; the double build must also round doubles directly
 * (through float would round twice: 1 + 2^-8 + 2^-30 is above the tie, but
 * float rounds it to the tie, which then goes down). */
static void test_round_real(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        float x = (float)(uniform() * pow(2.0, (double)(i % 60) - 30));
        assert_true(swat_bf16_round((swat_real)x) == (swat_real)swat_bf16_to_float(swat_bf16_from_float(x)));
    }
#ifdef SWAT_DOUBLE
    assert_true(swat_bf16_round(1.0 + 0x1p-8 + 0x1p-30) == 1.0 + 0x1p-7);
    assert_true(swat_bf16_round(1.0 + 0x1p-8) == 1.0);
    assert_true(swat_bf16_round(-(1.0 + 3 * 0x1p-8)) == -(1.0 + 0x1p-6));
    for (int i = 0; i < 100000; i++) {
        double x = uniform() * pow(2.0, (double)(i % 40) - 20);
        double r = swat_bf16_round(x);
        /* neighbours: truncate the float toward zero, then one step up */
        float t = (float)x;
        if (fabs((double)t) > fabs(x)) t = nextafterf(t, 0.0f);
        uint32_t u;
        memcpy(&u, &t, sizeof u);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
        double dlo = (double)from_bits(lo), dhi = (double)from_bits(hi);
        double elo = fabs(x - dlo), ehi = fabs(dhi - x);
        double want = elo < ehi ? dlo : ehi < elo ? dhi : ((lo >> 16) & 1 ? dhi : dlo);
        assert_true(r == want);
    }
#endif
}

typedef struct {
    int64_t M, N, K;
    int ta, tb;
    double alpha, beta;
    int64_t pad; /* extra row stride beyond the stored columns */
} case_t;

/* Runs one product on operand type t and checks it against the exact sum of
 * the rounded operands; returns the worst error relative to the bound. */
static double check_case(swat_operand t, const case_t *c)
{
    int64_t ar = c->ta ? c->K : c->M, ac = c->ta ? c->M : c->K;
    int64_t br = c->tb ? c->N : c->K, bc = c->tb ? c->K : c->N;
    int64_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->N + c->pad;
    size_t na = (size_t)(ar > 0 ? ar : 1) * (size_t)lda, nb = (size_t)(br > 0 ? br : 1) * (size_t)ldb;
    swat_real *ra = malloc(sizeof(swat_real) * na), *rb = malloc(sizeof(swat_real) * nb);
    void *A = malloc(swat_operand_size(t) * na), *B = malloc(swat_operand_size(t) * nb);
    swat_real *C = malloc(sizeof(swat_real) * (size_t)(c->M * ldc + 1));
    double *old = malloc(sizeof(double) * (size_t)(c->M * ldc + 1));
    for (size_t i = 0; i < na; i++) ra[i] = swat_bf16_round((swat_real)(uniform() * 4));
    for (size_t i = 0; i < nb; i++) rb[i] = swat_bf16_round((swat_real)uniform());
    for (int64_t i = 0; i < c->M * ldc; i++) old[i] = C[i] = (swat_real)uniform();
    swat_operand_store(t, A, lda, ra, lda, ar, lda);
    swat_operand_store(t, B, ldb, rb, ldb, br, ldb);

    swat_gemm_op(t, c->ta, c->tb, c->M, c->N, c->K, (swat_real)c->alpha, A, lda, B, ldb,
                 (swat_real)c->beta, C, ldc);

    double worst = 0;
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = 0; j < c->N; j++) {
            double s = 0, mag = 0;
            for (int64_t k = 0; k < c->K; k++) {
                double a = (double)(c->ta ? ra[k * lda + i] : ra[i * lda + k]);
                double b = (double)(c->tb ? rb[j * ldb + k] : rb[k * ldb + j]);
                s += a * b;
                mag += fabs(a * b);
            }
            double want = c->alpha * s + c->beta * old[i * ldc + j];
            double bound = (2.0 * (double)(c->K + 2) * UNIT) *
                               (fabs(c->alpha) * mag + fabs(c->beta * old[i * ldc + j])) +
                           1e-300;
            double e = fabs((double)C[i * ldc + j] - want) / bound;
            if (e > worst) worst = e;
        }
    /* padding columns of C are never written */
    for (int64_t i = 0; i < c->M; i++)
        for (int64_t j = c->N; j < ldc; j++) assert_true(C[i * ldc + j] == (swat_real)old[i * ldc + j]);
    free(ra), free(rb), free(A), free(B), free(C), free(old);
    return worst;
}

static const case_t cases[] = {
    {37, 53, 70, 0, 0, 1, 0, 3},     {37, 53, 70, 1, 0, 1, 1, 0},    {37, 53, 70, 0, 1, 0.125, 0, 5},
    {37, 53, 70, 1, 1, 0.3, 1, 1},   {1, 300, 64, 0, 1, 1, 0, 0},    {300, 1, 64, 0, 0, 1, 1, 2},
    {64, 191, 64, 0, 1, 0.125, 0, 700}, {191, 64, 48, 1, 0, 1, 1, 700}, {64, 64, 191, 0, 0, 1, 0, 700},
    {256, 384, 200, 0, 1, 1, 0, 0},  {200, 96, 512, 1, 0, 1, 1, 0},  {7, 9, 1, 0, 0, 1, 0, 0},
    {7, 9, 0, 0, 0, 1, 1, 0},        {7, 9, 0, 1, 1, 1, 0, 1},
};

static void run_cases(swat_operand t)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e = check_case(t, &cases[i]);
        if (e > 1.0)
            fail_msg("operand type %d, case %zu (M %lld N %lld K %lld ta %d tb %d): error %.3g "
                     "of the bound", (int)t, i, (long long)cases[i].M, (long long)cases[i].N,
                     (long long)cases[i].K, cases[i].ta, cases[i].tb, e);
    }
}

static void test_gemm_real(void **state)
{
    (void)state;
    run_cases(SWAT_OPERAND_REAL);
}

static void test_gemm_rounded(void **state)
{
    (void)state;
    run_cases(SWAT_OPERAND_ROUNDED);
}

static void test_gemm_bf16(void **state)
{
    (void)state;
#ifndef SWAT_DOUBLE
    run_cases(SWAT_OPERAND_BF16);
#endif
}

/* Products called from inside a parallel region run on the calling thread,
 * each thread with its own primitives and scratchpad (the attention's use). */
static void test_gemm_threads(void **state)
{
    (void)state;
    swat_gemm_set_threads(2);
    swat_precision p = SWAT_PREC_BF16;
    swat_operand t = swat_gemm_operand(p, NULL, 0, NULL);
    int fails = 0;
#pragma omp parallel for schedule(dynamic) num_threads(2) reduction(+ : fails)
    for (int i = 0; i < 24; i++) {
        case_t c = {16 + i, 48 + 3 * i, 64, i % 2, (i / 2) % 2, i % 3 ? 1 : 0.125, (double)(i % 2), 4};
        fails += check_case(t, &c) > 1.0;
    }
    assert_int_equal(fails, 0);
    swat_gemm_set_threads(1);
}

/* The engine a bf16 run gets, and the reason given when it is emulated. */
static void test_engine(void **state)
{
    (void)state;
    char why[256];
    int missing = -1;
    assert_int_equal(swat_gemm_operand(SWAT_PREC_FP32, why, sizeof why, &missing), SWAT_OPERAND_REAL);
    assert_int_equal(missing, 0);
    swat_operand t = swat_gemm_operand(SWAT_PREC_BF16, why, sizeof why, &missing);
    printf("bf16 engine here: %s\n", why);
#if defined(SWAT_DOUBLE)
    assert_int_equal(t, SWAT_OPERAND_ROUNDED);
#elif !defined(SWAT_ONEDNN)
    assert_int_equal(t, SWAT_OPERAND_ROUNDED);
    assert_int_equal(missing, 1);
    assert_non_null(strstr(why, "SWAT_ONEDNN=OFF"));
#else
    const char *expect = getenv("SWAT_TEST_EXPECT_EMULATED");
    if (expect && !strcmp(expect, "1")) {
        assert_int_equal(t, SWAT_OPERAND_ROUNDED);
        assert_int_equal(missing, 1);
        assert_non_null(strstr(why, "AVX512-BF16 or AMX-BF16"));
    } else if (t == SWAT_OPERAND_ROUNDED) {
        /* only where the CPU really lacks the instructions */
        __builtin_cpu_init();
        assert_false(__builtin_cpu_supports("avx512bf16"));
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),     cmocka_unit_test(test_round_real),
        cmocka_unit_test(test_gemm_real),    cmocka_unit_test(test_gemm_rounded),
        cmocka_unit_test(test_gemm_bf16),    cmocka_unit_test(test_gemm_threads),
        cmocka_unit_test(test_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
