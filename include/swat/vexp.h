/* SPDX-License-Identifier: MIT */
/* vexp.h: exp for the SIMD loops of the kernels (ops.c, attn.c), inline so
 * that each loop vectorises it. */
#ifndef SWAT_VEXP_H
#define SWAT_VEXP_H

#include "swat/common.h"

#include <stdint.h>
#include <string.h>

/* exp(x) for SIMD loops: x = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite split of
 * ln2), e^r by its Taylor series (degree 7 in float, truncation < 6e-9
 * relative; 13 in double, < 5e-18), times 2^n built in the exponent bits.
 * The clamp keeps 2^n a normal number; NaN propagates. */
static inline swat_real vexp(swat_real x)
{
#ifdef SWAT_DOUBLE
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    double n = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
    double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits = (int64_t)((int32_t)n + 1023) << 52;
    double s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
#else
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
#endif
}

#endif
