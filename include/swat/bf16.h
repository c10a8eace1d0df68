/* SPDX-License-Identifier: MIT */
/* bf16.h: bfloat16 numbers and the one rounding rule of swat.
 *
 * A bfloat16 is the upper half of an IEEE float32: sign, the same 8-bit
 * exponent, 7 mantissa bits. Rounding is to nearest, ties to even (what
 * PyTorch's .to(torch.bfloat16) and oneDNN's conversions do); a NaN stays a
 * (quiet) NaN, ±inf stays, and a finite value beyond the largest bfloat16
 * rounds to ±inf. Products of two bfloat16 numbers are exact in float32
 * (8 + 8 significant bits), which is why a float32 GEMM over rounded inputs
 * computes exactly what a bfloat16 GEMM with float32 accumulation computes,
 * up to the order of the additions.
 *
 * In the double-precision test build, swat_bf16_round rounds a double
 * straight to the nearest bfloat16 (not through float, which would round
 * twice), so the double build is a reference for the bf16 arithmetic. */
#ifndef SWAT_BF16_H
#define SWAT_BF16_H

#include "swat/common.h"

#include <math.h>
#include <string.h>

typedef uint16_t swat_bf16; /* the bits of a bfloat16 */

static inline swat_bf16 swat_bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (swat_bf16)((u >> 16) | 0x0040u); /* NaN, quieted */
    u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; overflow carries into inf */
    return (swat_bf16)(u >> 16);
}

static inline float swat_bf16_to_float(swat_bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* x rounded to the nearest bfloat16, as a swat_real. */
static inline swat_real swat_bf16_round(swat_real x)
{
#ifdef SWAT_DOUBLE
    if (!isfinite(x) || x == 0) return (swat_real)swat_bf16_to_float(swat_bf16_from_float((float)x));
    /* 8 significant bits at the binade of x (bf16 subnormals: a fixed 2^-133
     * step below 2^-126); nearbyint rounds ties to even in the default mode */
    int e;
    frexp(x, &e); /* |x| in [2^(e-1), 2^e) */
    int q = e - 8 < -133 ? -133 : e - 8;
    double r = ldexp(nearbyint(ldexp(x, -q)), q);
    return fabs(r) > 3.3895313892515355e38 ? copysign(INFINITY, x) : r;
#else
    return swat_bf16_to_float(swat_bf16_from_float(x));
#endif
}

#endif
