/* rng.h - the one seeded random number generator of the toolkit.
 *
 * Promise: the same seed gives the same sequence on every machine and build (xoshiro256** seeded
 * through splitmix64; no libc rand()). Streams derived with rng_derive() are independent of each other
 * and of how many threads consume them, which keeps outputs independent of -j. */
#ifndef AUDIOCNN_RNG_H
#define AUDIOCNN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Rng { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);
/* A generator for item `stream` of a computation seeded with `seed` (e.g. per file, per epoch). */
void rng_derive(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(Rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double rng_uniform(Rng *r);
/* Fisher-Yates shuffle of n indices. */
void rng_shuffle_size(Rng *r, uint64_t *a, uint64_t n);
/* 64-bit FNV-1a of a string: stable across runs, for per-key decisions (e.g. which split a group goes to). */
uint64_t hash_string(const char *s);

#ifdef __cplusplus
}
#endif

#endif
