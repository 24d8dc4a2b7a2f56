/* SPDX-License-Identifier: MIT */
/*
 * stats.c: the statistics kernel and the test pattern of stats.h.
 *
 * The kernel [stats-kernel]. One pass over blocks of STATS_BLOCK elements.
 * Within a block, every element is widened to double and shifted by the
 * block's first element c; per-lane double sums of d = x - c and of d*d
 * give the block's mean and its sum of squared deviations
 * M2 = sum(d*d) - sum(d)^2 / n. The blocks are merged with the pairwise
 * update of Chan, Golub and LeVeque (all its terms are non-negative).
 * Why this is sound: c lies within the block's range R, so sum(d*d) is at
 * most n R^2 while M2 is at least R^2 / 2 (the block holds both ends of
 * R); the subtraction therefore loses at most a factor 2n (n = STATS_BLOCK)
 * of double's 1.1e-16, about 1e-12 relative, whatever the data's offset or
 * spread. Float32 inputs cannot overflow these double sums, so a
 * non-finite sum means a non-finite input: only then does a second, scalar
 * pass work out numpy's answer (stats.h).
 *
 * Speed: the element loop is the only hot part. On x86-64 CPUs with AVX2
 * and FMA (checked once at run time) it runs 16 floats per step in AVX
 * registers: two loads, a max, four widenings, four subtractions, two adds
 * and two FMAs per 64 bytes, well above memory bandwidth on one core.
 * Elsewhere the same steps are written with GCC vector extensions (SSE2 on
 * x86-64), which every optimisation level compiles to packed code (gcc's
 * cheap vectoriser cost model at -O2 would leave a plain reduction loop
 * scalar).
 */
#include "stats.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define STATS_HAVE_AVX2_PATH 1
#endif

typedef float stats_v4f __attribute__((vector_size(16)));
typedef float stats_v2f __attribute__((vector_size(8)));
typedef double stats_v2d __attribute__((vector_size(16)));
typedef int32_t stats_v4i __attribute__((vector_size(16)));
typedef uint32_t stats_v4u __attribute__((vector_size(16)));

/* Lanes per 16-byte vector; elements per step of the element loops;
 * elements per block [stats-kernel]. */
#define STATS_LANES 4
#define STATS_STEP 16
#define STATS_BLOCK 4096
/* Values of the pattern: 0..STATS_PERIOD-1 before scaling. */
#define STATS_PERIOD 256u

/* One block's sums: of d = x - shift, of d*d, and the block's max. */
struct stats_block {
  double s1, s2;
  float max;
};

static inline stats_v4f vload(const float *p)
{
  stats_v4f v;
  memcpy(&v, p, sizeof v); /* unaligned load */
  return v;
}

static inline stats_v4f vmax(stats_v4f a, stats_v4f b)
{
  stats_v4i gt = a > b;
  return (stats_v4f)(((stats_v4i)a & gt) | ((stats_v4i)b & ~gt));
}

static inline stats_v2d vload2d(const float *p)
{
  stats_v2f f;
  memcpy(&f, p, sizeof f); /* unaligned load of two floats, widened */
  return __builtin_convertvector(f, stats_v2d);
}

/* The sums of x[0..n) for shift c: portable vector code. Named
 * accumulators, not arrays: gcc keeps those in registers only when it
 * unrolls, which it does not at -O2. */
/* Ends a block: the elements i..n that no whole step covered, added to the
 * vector loop's sums a (of x - c), q (of its squares) and maximum mx. */
static inline void block_tail(const float *x, size_t i, size_t n, double c, double a, double q,
                              float mx, struct stats_block *out)
{
  for (; i < n; i++) {
    double d = (double)x[i] - c;
    a += d;
    q += d * d;
    mx = x[i] > mx ? x[i] : mx;
  }
  out->s1 = a;
  out->s2 = q;
  out->max = mx;
}

static void block_generic(const float *x, size_t n, double c, struct stats_block *out)
{
  const stats_v2d cv = {c, c};
  stats_v2d a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, q0 = a0, q1 = a0, q2 = a0, q3 = a0;
  stats_v4f m0 = {x[0], x[0], x[0], x[0]}, m1 = m0;
  size_t i = 0;
  for (; i + STATS_STEP / 2 <= n; i += STATS_STEP / 2) {
    m0 = vmax(vload(x + i), m0);
    m1 = vmax(vload(x + i + STATS_LANES), m1);
    stats_v2d d0 = vload2d(x + i) - cv, d1 = vload2d(x + i + 2) - cv;
    stats_v2d d2 = vload2d(x + i + 4) - cv, d3 = vload2d(x + i + 6) - cv;
    a0 += d0;
    a1 += d1;
    a2 += d2;
    a3 += d3;
    q0 += d0 * d0;
    q1 += d1 * d1;
    q2 += d2 * d2;
    q3 += d3 * d3;
  }
  stats_v2d t1 = (a0 + a1) + (a2 + a3), t2 = (q0 + q1) + (q2 + q3);
  double a = t1[0] + t1[1], q = t2[0] + t2[1];
  stats_v4f mm = vmax(m0, m1);
  float mx = mm[0];
  for (int l = 1; l < STATS_LANES; l++)
    mx = mm[l] > mx ? mm[l] : mx;
  block_tail(x, i, n, c, a, q, mx, out);
}

#ifdef STATS_HAVE_AVX2_PATH
/* The same sums with AVX2 and FMA; called only where the CPU has both. */
__attribute__((target("avx2,fma"))) static void block_avx2(const float *x, size_t n, double c,
                                                           struct stats_block *out)
{
  const __m256d cv = _mm256_set1_pd(c);
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  __m256d q0 = a0, q1 = a0, q2 = a0, q3 = a0;
  __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0;
  size_t i = 0;
  for (; i + STATS_STEP <= n; i += STATS_STEP) {
    __m256 v = _mm256_loadu_ps(x + i), w = _mm256_loadu_ps(x + i + 8);
    m0 = _mm256_max_ps(m0, v);
    m1 = _mm256_max_ps(m1, w);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), cv);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), cv);
    __m256d d2 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(w)), cv);
    __m256d d3 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)), cv);
    a0 = _mm256_add_pd(a0, d0);
    a1 = _mm256_add_pd(a1, d1);
    a2 = _mm256_add_pd(a2, d2);
    a3 = _mm256_add_pd(a3, d3);
    q0 = _mm256_fmadd_pd(d0, d0, q0);
    q1 = _mm256_fmadd_pd(d1, d1, q1);
    q2 = _mm256_fmadd_pd(d2, d2, q2);
    q3 = _mm256_fmadd_pd(d3, d3, q3);
  }
  double sa[4], sq[4];
  float sm[8];
  _mm256_storeu_pd(sa, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
  _mm256_storeu_pd(sq, _mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3)));
  _mm256_storeu_ps(sm, _mm256_max_ps(m0, m1));
  double a = (sa[0] + sa[1]) + (sa[2] + sa[3]), q = (sq[0] + sq[1]) + (sq[2] + sq[3]);
  float mx = sm[0];
  for (int l = 1; l < 8; l++)
    mx = sm[l] > mx ? sm[l] : mx;
  block_tail(x, i, n, c, a, q, mx, out);
}

static bool use_avx2(void)
{
  /* Racy first use is harmless: every thread computes the same answer. */
  static _Atomic int known = -1;
  int k = known;
  if (k < 0) {
    __builtin_cpu_init();
    k = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    known = k;
  }
  return k != 0;
}
#endif

static int force_portable;

void stats_f32_force_portable(int on) { force_portable = on; }

/* numpy's answers where x holds a NaN or an infinity [stats-nonfinite]. */
static void stats_nonfinite(const float *x, size_t n, struct stats_f32 *out)
{
  bool nan = false, pinf = false, ninf = false;
  float mx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (isnan(x[i]))
      nan = true;
    else if (x[i] == INFINITY)
      pinf = true;
    else if (x[i] == -INFINITY)
      ninf = true;
    if (x[i] > mx)
      mx = x[i];
  }
  out->std = NAN; /* an infinity's deviation from the mean is inf - inf */
  if (nan || (pinf && ninf)) {
    out->mean = NAN;
    out->max = nan ? NAN : INFINITY;
  } else {
    out->mean = pinf ? INFINITY : -INFINITY;
    out->max = mx;
  }
}

void stats_f32(const float *x, size_t n, struct stats_f32 *out)
{
  if (n == 0) {
    *out = (struct stats_f32){NAN, NAN, -INFINITY};
    return;
  }
  void (*block)(const float *, size_t, double, struct stats_block *) = block_generic;
#ifdef STATS_HAVE_AVX2_PATH
  if (!force_portable && use_avx2())
    block = block_avx2;
#endif
  /* Running (count, mean, M2) of the blocks so far, merged pairwise. */
  double cnt = 0, mean = 0, m2 = 0;
  float mx = x[0];
  for (size_t i = 0; i < n; i += STATS_BLOCK) {
    size_t nb = n - i < STATS_BLOCK ? n - i : STATS_BLOCK;
    double c = x[i];
    struct stats_block b;
    block(x + i, nb, c, &b);
    double k = (double)nb, bmean = b.s1 / k, bm2 = b.s2 - b.s1 * bmean;
    if (bm2 < 0)
      bm2 = 0; /* rounding, never more than ~1e-12 of s2 */
    bmean += c;
    double tot = cnt + k, delta = bmean - mean;
    mean += delta * (k / tot);
    m2 += bm2 + delta * delta * (cnt * k / tot);
    cnt = tot;
    mx = b.max > mx ? b.max : mx;
  }
  if (!isfinite(mean) || !isfinite(m2)) {
    stats_nonfinite(x, n, out);
    return;
  }
  out->mean = mean;
  out->std = sqrt(m2 / cnt);
  out->max = mx;
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
