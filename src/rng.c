/* SPDX-License-Identifier: MIT */
/* rng.c: xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include "swat/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void swat_rng_seed(swat_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t swat_rng_next(swat_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t swat_rng_below(swat_rng *r, uint64_t n)
{
    /* rejection: draw until the value falls in the largest multiple of n */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = swat_rng_next(r);
    while (x >= limit);
    return x % n;
}

double swat_rng_uniform(swat_rng *r) { return (double)(swat_rng_next(r) >> 11) * 0x1.0p-53; }

double swat_rng_normal(swat_rng *r)
{
    /* Box–Muller; u1 in (0, 1] so log never sees 0. The second value is
     * dropped to keep the stream a pure function of the draw count. */
    double u1 = 1.0 - swat_rng_uniform(r);
    double u2 = swat_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
