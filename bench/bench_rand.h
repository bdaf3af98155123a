/* The benchmarks' random numbers: a fixed-seed xorshift64 so every run (and both sides of an A/B
 * comparison) sees the same inputs. Header-only: each bench is one .c file built by its script. */
#ifndef TEELM_BENCH_RAND_H
#define TEELM_BENCH_RAND_H

#include <stdint.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1). */
static inline float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

#endif
