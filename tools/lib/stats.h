/* SPDX-License-Identifier: MIT */
/*
 * stats.h: the float32 statistics kernel and the test-pattern generator
 * that `ferry demo` and `ferry bench bus` share.
 *
 * stats_f32() is the analysis of the large-array scenario (mean, std and
 * max of an array, as numpy's mean(), std() and max() define them:
 * population std) in one pass over memory, written with GCC vector
 * extensions so that it runs at memory speed at -O2 on any target (SSE2 on
 * x86-64).
 *
 * stats_pattern_fill() writes a cheap deterministic pattern, different for
 * every (batch, array), straight into its destination; stats_pattern_expect()
 * gives that pattern's statistics exactly, without reading the array, so a
 * producer can check a consumer's kernel against an independent answer.
 *
 * Used by ferry-demo and ferry-bench only; not part of the library.
 */
#ifndef FERRY_TOOLS_STATS_H
#define FERRY_TOOLS_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats_f32 {
  double mean; /* arithmetic mean */
  double std;  /* population standard deviation (numpy's default, ddof 0) */
  float max;   /* exact largest element; -INFINITY for an empty array */
};

/*
 * stats_f32: mean, std and max of x[0..n). Single pass: the sums of
 * x - x[0] and of its square are kept in float lanes for blocks of
 * STATS_BLOCK elements and added up in double per block, so the relative
 * error of mean and std stays near 1e-7 for data of moderate range (the
 * shift by x[0] keeps the variance from cancelling). NaNs are not
 * special-cased. x need not be aligned. Reads x only; thread-safe.
 */
void stats_f32(const float *x, size_t n, struct stats_f32 *out);

/* The pattern of one array in one batch: x[i] = scale * ((a*i + c) mod 256)
 * + offset, with a odd, so every 256 consecutive elements hold each of
 * 0..255 once (scaled and shifted). Every value is exact in float32. */
struct stats_pattern {
  uint32_t a, c;
  float scale, offset;
};

/* The pattern of array `index` in batch `batch`. Consecutive batches differ
 * in offset (16 apart, period 16) and scale (period 3), so a stale or torn
 * read changes the mean or std. */
struct stats_pattern stats_pattern_of(uint64_t batch, size_t index);

/* Writes the pattern into x[0..n) (vectorised stores, one pass). */
void stats_pattern_fill(float *x, size_t n, const struct stats_pattern *p);

/* The exact statistics of the pattern over n elements, computed from the
 * pattern alone (at most 255 elements are looked at one by one). */
struct stats_f32 stats_pattern_expect(size_t n, const struct stats_pattern *p);

#endif /* FERRY_TOOLS_STATS_H */
