/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* A fixed-seed xorshift64 generator for tests and benchmarks: same runs every time. */
#ifndef PINGFOLD_TESTS_RNG_H
#define PINGFOLD_TESTS_RNG_H

#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static inline uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Uniform in [0, 1). */
static inline double rndf(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

#endif /* PINGFOLD_TESTS_RNG_H */
