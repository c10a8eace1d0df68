/* SPDX-License-Identifier: MIT */
/* rng.h: the one random generator of swat (xoshiro256**, seeded through
 * splitmix64) and the normal draws of the initialiser. A stream is a pure
 * function of its seed words, so every rank and layout draws the same numbers. */
#ifndef SWAT_RNG_H
#define SWAT_RNG_H

#include <stdint.h>

typedef struct swat_rng {
    uint64_t s[4];
} swat_rng;

/* Seeds from two words (e.g. the run seed and an epoch or tensor index). */
void swat_rng_seed(swat_rng *r, uint64_t seed, uint64_t stream);
uint64_t swat_rng_next(swat_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t swat_rng_below(swat_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double swat_rng_uniform(swat_rng *r);
/* Standard normal (Box–Muller, one value per two uniforms). */
double swat_rng_normal(swat_rng *r);

#endif
