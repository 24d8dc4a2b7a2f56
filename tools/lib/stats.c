/* SPDX-License-Identifier: MIT */
/*
 * stats.c: the statistics kernel and the test pattern of stats.h.
 *
 * Why vector extensions rather than plain loops: gcc 12 at -O2 uses its
 * "very cheap" vectoriser cost model, which leaves a reduction with an
 * unknown trip count scalar (and a 16-lane accumulator array ends up on the
 * stack). Explicit 4-wide vectors, four of them per step for independent
 * dependency chains, compile to packed SSE at any optimisation level, and
 * clang accepts the same code.
 */
#include "stats.h"

#include <math.h>
#include <string.h>

typedef float stats_v4f __attribute__((vector_size(16)));
typedef int32_t stats_v4i __attribute__((vector_size(16)));
typedef uint32_t stats_v4u __attribute__((vector_size(16)));

/* Lanes per vector, vectors per step, elements per float-accumulated block.
 * A block is short enough that a float lane sums 64 values of at most a few
 * hundred squared without losing more than ~1e-7 relative. */
#define STATS_LANES 4
#define STATS_UNROLL 4
#define STATS_STEP (STATS_LANES * STATS_UNROLL)
#define STATS_BLOCK 1024
/* Values of the pattern: 0..STATS_PERIOD-1 before scaling. */
#define STATS_PERIOD 256u

static inline stats_v4f vmax(stats_v4f a, stats_v4f b)
{
  stats_v4i gt = a > b;
  return (stats_v4f)(((stats_v4i)a & gt) | ((stats_v4i)b & ~gt));
}

static inline stats_v4f vload(const float *p)
{
  stats_v4f v;
  memcpy(&v, p, sizeof v); /* unaligned load */
  return v;
}

static double hsum(stats_v4f v) { return (double)v[0] + v[1] + v[2] + v[3]; }

void stats_f32(const float *x, size_t n, struct stats_f32 *out)
{
  if (n == 0) {
    *out = (struct stats_f32){NAN, NAN, -INFINITY};
    return;
  }
  const float shift = x[0];
  const stats_v4f sh = {shift, shift, shift, shift};
  stats_v4f m[STATS_UNROLL];
  for (int u = 0; u < STATS_UNROLL; u++)
    m[u] = sh;
  double sum = 0, sumsq = 0;
  float max = shift;
  size_t i = 0;
  for (; i + STATS_BLOCK <= n; i += STATS_BLOCK) {
    stats_v4f s[STATS_UNROLL] = {0}, q[STATS_UNROLL] = {0};
    for (size_t j = i; j < i + STATS_BLOCK; j += STATS_STEP)
      for (int u = 0; u < STATS_UNROLL; u++) {
        stats_v4f v = vload(x + j + (size_t)u * STATS_LANES);
        stats_v4f d = v - sh;
        s[u] += d;
        q[u] += d * d;
        m[u] = vmax(v, m[u]);
      }
    sum += hsum((s[0] + s[1]) + (s[2] + s[3]));
    sumsq += hsum((q[0] + q[1]) + (q[2] + q[3]));
  }
  for (; i < n; i++) {
    double d = (double)x[i] - shift;
    sum += d;
    sumsq += d * d;
    if (x[i] > max)
      max = x[i];
  }
  for (int u = 0; u < STATS_UNROLL; u++)
    for (int l = 0; l < STATS_LANES; l++)
      if (m[u][l] > max)
        max = m[u][l];
  double mu = sum / (double)n, var = sumsq / (double)n - mu * mu;
  out->mean = shift + mu;
  out->std = sqrt(var > 0 ? var : 0);
  out->max = max;
}

struct stats_pattern stats_pattern_of(uint64_t batch, size_t index)
{
  /* splitmix64's finaliser: a and c look unrelated from batch to batch. */
  uint64_t z = batch * 0x9e3779b97f4a7c15u + (uint64_t)index * 0xbf58476d1ce4e5b9u + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  static const float scales[3] = {0.5f, 1.0f, 2.0f};
  struct stats_pattern p;
  p.a = (uint32_t)z | 1u; /* odd: i -> a*i + c is a bijection mod 256 */
  p.c = (uint32_t)(z >> 32);
  p.scale = scales[batch % 3];
  p.offset = (float)(16 * (batch % 16));
  return p;
}

void stats_pattern_fill(float *x, size_t n, const struct stats_pattern *p)
{
  const uint32_t a = p->a, c = p->c;
  const stats_v4f scale = {p->scale, p->scale, p->scale, p->scale};
  const stats_v4f offset = {p->offset, p->offset, p->offset, p->offset};
  const stats_v4u low = {STATS_PERIOD - 1, STATS_PERIOD - 1, STATS_PERIOD - 1, STATS_PERIOD - 1};
  const stats_v4u step = {STATS_LANES * a, STATS_LANES * a, STATS_LANES * a, STATS_LANES * a};
  /* r = a*i + c mod 2^32 for the four lanes; the low 8 bits are the same
   * as mod 256. Stepped by addition: no vector multiply needed. */
  stats_v4u r = {c, c + a, c + 2 * a, c + 3 * a};
  size_t i = 0;
  for (; i + STATS_LANES <= n; i += STATS_LANES) {
    stats_v4f v = __builtin_convertvector((stats_v4i)(r & low), stats_v4f) * scale + offset;
    memcpy(x + i, &v, sizeof v);
    r += step;
  }
  for (; i < n; i++)
    x[i] = (float)(((uint32_t)i * a + c) & (STATS_PERIOD - 1)) * p->scale + p->offset;
}

struct stats_f32 stats_pattern_expect(size_t n, const struct stats_pattern *p)
{
  if (n == 0)
    return (struct stats_f32){NAN, NAN, -INFINITY};
  /* Whole periods hold each r in 0..255 once; the rest is summed here. */
  const double full = (double)(n / STATS_PERIOD);
  const double per = STATS_PERIOD;
  double sum = full * (per - 1) * per / 2;
  double sumsq = full * (per - 1) * per * (2 * per - 1) / 6;
  uint32_t rmax = n >= STATS_PERIOD ? STATS_PERIOD - 1 : 0;
  for (size_t i = n - n % STATS_PERIOD; i < n; i++) {
    uint32_t r = ((uint32_t)i * p->a + p->c) & (STATS_PERIOD - 1);
    sum += r;
    sumsq += (double)r * r;
    if (r > rmax)
      rmax = r;
  }
  double mu = sum / (double)n, var = sumsq / (double)n - mu * mu;
  struct stats_f32 s;
  s.mean = (double)p->offset + (double)p->scale * mu;
  s.std = (double)p->scale * sqrt(var > 0 ? var : 0);
  s.max = (float)rmax * p->scale + p->offset; /* the same float ops as fill */
  return s;
}
