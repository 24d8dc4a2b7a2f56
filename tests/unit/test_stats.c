/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c: the float32 statistics kernel that `ferry demo` and
 * `ferry bench bus` run (tools/lib/stats.h), against a two-pass reference
 * in long double, on data chosen to break one-pass formulas: a large
 * offset with a small spread, an outlier as the first element (the
 * kernel's shift), values near FLT_MAX, constant arrays, every length
 * around the vector step and block size, unaligned starts. Then NaN and
 * infinities, as documented in stats.h [stats-nonfinite], and the test
 * pattern's exact statistics.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "test.h"

#define TOL 1e-9

static void reference(const float *x, size_t n, long double *mean, long double *std, float *max)
{
  long double s = 0;
  float m = x[0];
  for (size_t i = 0; i < n; i++) {
    s += x[i];
    if (x[i] > m)
      m = x[i];
  }
  long double mu = s / n, q = 0;
  for (size_t i = 0; i < n; i++)
    q += ((long double)x[i] - mu) * ((long double)x[i] - mu);
  *mean = mu;
  *std = sqrtl(q / n);
  *max = m;
}

static bool near(double got, long double want, long double scale)
{
  return fabsl((long double)got - want) <= TOL * scale;
}

/* Checks the kernel against the reference on x[0..n); returns false on a
 * mismatch (and says which). */
static bool check_against_reference(const char *what, const float *x, size_t n)
{
  struct stats_f32 st;
  stats_f32(x, n, &st);
  long double mean, std;
  float max;
  reference(x, n, &mean, &std, &max);
  long double scale = fabsl(mean) > std ? fabsl(mean) : std;
  bool ok = near(st.mean, mean, scale) && near(st.std, std, std) && st.max == max;
  if (!ok)
    fprintf(stderr, "%s, n %zu: mean %.17g (want %.17Lg), std %.17g (want %.17Lg), max %g (want %g)\n",
            what, n, st.mean, mean, st.std, std, (double)st.max, (double)max);
  return ok;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static double uniform(void) /* [0, 1) */
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

enum shape { UNIFORM, OFFSET, OUTLIER_FIRST, HUGE_VALUES, CONSTANT, ALTERNATING, SHAPES };
static const char *const shape_names[] = {"uniform 0..255", "1e6 + uniform 0..1", "1e30 first",
                                          "near FLT_MAX", "constant", "+-1e20 alternating"};

static void fill(float *x, size_t n, enum shape s)
{
  for (size_t i = 0; i < n; i++) {
    double u = uniform();
    switch (s) {
    case UNIFORM: x[i] = (float)(255 * u); break;
    case OFFSET: x[i] = (float)(1e6 + u); break;
    case OUTLIER_FIRST: x[i] = i == 0 ? 1e30f : (float)u; break;
    case HUGE_VALUES: x[i] = (float)((u * 2 - 1) * FLT_MAX); break;
    case CONSTANT: x[i] = 1234.5f; break;
    case ALTERNATING: x[i] = (float)((i & 1 ? -1e20 : 1e20) + u); break;
    default: break;
    }
  }
}

/* Every shape, every length around the step (16) and block (4096), and
 * starts at each of the first 4 floats: lanes and tails line up
 * differently each time. */
static void test_against_two_pass(void)
{
  static const size_t lengths[] = {1,    2,    3,    7,    15,   16,   17,    31,     33,
                                   4095, 4096, 4097, 8191, 8193, 12289, 100003, 1000000};
  float *buf = malloc((1000000 + 4) * sizeof(float));
  REQUIRE(buf);
  for (int s = 0; s < SHAPES; s++)
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++)
      for (size_t off = 0; off < 4; off++) {
        if (lengths[l] > 100003 && off > 0)
          continue; /* the longest once: the reference is slow */
        float *x = buf + off;
        fill(x, lengths[l], (enum shape)s);
        CHECK(check_against_reference(shape_names[s], x, lengths[l]));
      }
  free(buf);
}

/* A constant array's std is exactly 0; an array of one element too. */
static void test_exact_cases(void)
{
  float x[5000];
  for (size_t i = 0; i < 5000; i++)
    x[i] = 3.25f;
  struct stats_f32 st;
  stats_f32(x, 5000, &st);
  CHECK(st.mean == 3.25 && st.std == 0 && st.max == 3.25f);
  stats_f32(x, 1, &st);
  CHECK(st.mean == 3.25 && st.std == 0 && st.max == 3.25f);
  stats_f32(x, 0, &st);
  CHECK(isnan(st.mean) && isnan(st.std) && st.max == -INFINITY);
  /* the max is exact even where the sums are large */
  x[4321] = 3.2500002f;
  stats_f32(x, 5000, &st);
  CHECK(st.max == 3.2500002f);
}

/* [stats-nonfinite]: NaN, +inf and -inf at the start, in a vector lane,
 * in a later block and in the tail. */
static void test_nonfinite(void)
{
  static const size_t n = 9000, where[] = {0, 5, 4096 + 17, 8999};
  static float x[9000];
  for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
    struct stats_f32 st;
    for (size_t i = 0; i < n; i++)
      x[i] = (float)(i % 100);
    x[where[w]] = NAN;
    stats_f32(x, n, &st);
    CHECK(isnan(st.mean) && isnan(st.std) && isnan(st.max));

    x[where[w]] = INFINITY;
    stats_f32(x, n, &st);
    CHECK(st.mean == INFINITY && isnan(st.std) && st.max == INFINITY);

    x[where[w]] = -INFINITY;
    stats_f32(x, n, &st);
    CHECK(st.mean == -INFINITY && isnan(st.std) && st.max == 99.0f);

    x[(where[w] + 1) % n] = INFINITY;
    stats_f32(x, n, &st);
    CHECK(isnan(st.mean) && isnan(st.std) && st.max == INFINITY);

    x[(where[w] + 2) % n] = NAN;
    stats_f32(x, n, &st);
    CHECK(isnan(st.mean) && isnan(st.std) && isnan(st.max));
  }
  float all_neg[3] = {-INFINITY, -INFINITY, -INFINITY};
  struct stats_f32 st;
  stats_f32(all_neg, 3, &st);
  CHECK(st.mean == -INFINITY && isnan(st.std) && st.max == -INFINITY);
}

/* The pattern's exact statistics (what the demo checks consumers with)
 * agree with the kernel over whole and partial periods. */
static void test_pattern(void)
{
  static float x[1000003];
  for (uint64_t batch = 0; batch < 6; batch++)
    for (size_t idx = 0; idx < 3; idx++) {
      size_t n = batch % 2 ? 1000003 : 1000000;
      struct stats_pattern p = stats_pattern_of(batch, idx);
      stats_pattern_fill(x, n, &p);
      struct stats_f32 want = stats_pattern_expect(n, &p), got;
      stats_f32(x, n, &got);
      CHECK(fabs(got.mean - want.mean) <= TOL * (fabs(want.mean) + want.std));
      CHECK(fabs(got.std - want.std) <= TOL * want.std);
      CHECK(got.max == want.max);
    }
}

int main(void)
{
  /* Twice: the path this CPU picks (AVX2 on most x86-64), then the
   * portable one every CPU can run. */
  for (int portable = 0; portable <= 1; portable++) {
    stats_f32_force_portable(portable);
    RUN(test_against_two_pass);
    RUN(test_exact_cases);
    RUN(test_nonfinite);
    RUN(test_pattern);
  }
  return ft_done();
}
