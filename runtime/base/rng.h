/* rng.h: the one deterministic random generator (xoshiro256**, seeded by splitmix64), so that
 * initialisation, shuffling and dropout are bit-identical on every machine for a seed. */
#ifndef SURGERY_RNG_H
#define SURGERY_RNG_H

#include <stdint.h>

/* Ownership: a plain value; no resources. */
typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
/* A generator for a named stream derived from a seed (e.g. seed + layer name), so that adding a
 * layer does not shift the random numbers another layer receives. */
void rng_seed_stream(rng *r, uint64_t seed, const char *stream);
uint64_t rng_next(rng *r);
double rng_uniform(rng *r);                 /* [0, 1) with 53 random bits */
double rng_normal(rng *r);                  /* standard normal (Box-Muller, no cached state) */
uint64_t rng_below(rng *r, uint64_t n);     /* uniform in [0, n), unbiased */
void rng_shuffle(rng *r, int64_t *items, int64_t n);   /* Fisher-Yates */

#endif
