/* The engine's random numbers: splitmix64 (a 64-bit state, so a checkpoint stores it in one
 * integer), explicit seeds, identical on every platform and thread count. */
#ifndef TEELM_MODEL_RNG_H
#define TEELM_MODEL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s;
} tl_rng;

static inline tl_rng tl_rng_seed(uint64_t seed)
{
    tl_rng r = {seed};
    return r;
}

static inline uint64_t tl_rng_u64(tl_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 24 (float) or 53 (double) random bits */
static inline float tl_rng_float(tl_rng *r) { return (float)(tl_rng_u64(r) >> 40) * 0x1.0p-24f; }
static inline double tl_rng_double(tl_rng *r) { return (double)(tl_rng_u64(r) >> 11) * 0x1.0p-53; }

/* uniform integer in [0, n), unbiased (rejection), n > 0 */
static inline uint64_t tl_rng_below(tl_rng *r, uint64_t n)
{
    uint64_t lim = -n % n; /* 2^64 mod n */
    for (;;) {
        uint64_t x = tl_rng_u64(r);
        if (x >= lim)
            return x % n;
    }
}

/* standard normal (Box-Muller, one value per call) */
double tl_rng_normal(tl_rng *r);

#endif
