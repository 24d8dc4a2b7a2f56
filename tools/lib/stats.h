/* SPDX-License-Identifier: MIT */
/*
 * stats.h: the float32 statistics kernel and the test-pattern generator
 * that `ferry demo` and `ferry bench bus` share.
 *
 * stats_f32() is the analysis of the large-array scenario (mean, std and
 * max of an array, as numpy's mean(), std() and max() define them:
 * population std) in one pass over memory, at memory bandwidth: AVX2 where
 * the CPU has it (checked at run time), GCC vector extensions elsewhere.
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
 * stats_f32: mean, std and max of x[0..n), in one pass over memory at
 * memory bandwidth [stats-kernel in stats.c]. Sums are kept in double, per
 * block shifted by the block's first element and merged pairwise, so mean
 * and std agree with an exact two-pass computation to about 1e-12 of
 * max(std, |mean|) for any finite float32 data (any offset, any spread,
 * outliers included: tests/unit/test_stats.c holds it to 1e-9);
 * numpy's float32 mean() and std() accumulate in float32 and agree with it
 * to about 1e-6. The result does not depend on x's alignment; it can differ
 * in the last bits between CPUs with and without AVX2 (another order of
 * additions).
 *
 * NaN and infinities [stats-nonfinite], as numpy answers: any NaN makes
 * mean, std and max NaN; both infinities make mean NaN and max +inf;
 * +inf alone (no NaN, no -inf) makes mean +inf and max +inf; -inf alone
 * makes mean -inf and max the largest element; std is NaN whenever an
 * infinity is present. An empty array gives NaN, NaN, -inf. Such arrays
 * cost a second, scalar pass. Reads x only; thread-safe.
 */
void stats_f32(const float *x, size_t n, struct stats_f32 *out);

/* For tests: 1 makes stats_f32() use its portable vector code even where
 * the CPU has AVX2, 0 lets it choose again. Not thread-safe. */
void stats_f32_force_portable(int on);

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
