/* SPDX-License-Identifier: MIT */
/*
 * corrupt_main.c: the random-corruption driver (see corrupt.h).
 *
 * Quick tier: CORRUPT_QUICK_ROUNDS rounds of CORRUPT_PER_ROUND corruptions
 * per scenario. Long tier (FERRY_STRESS_SECONDS): rounds go on until the
 * time is up. The total number of corruptions is printed.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corrupt.h"
#include "fixtures.h"

extern const struct corrupt_scenario *const __start_corrupt_scen[], *const __stop_corrupt_scen[];

#define CORRUPT_QUICK_ROUNDS 4
#define CORRUPT_PER_ROUND 500
/* An operator that makes no progress this long is hung. */
#define HANG_MS 10000

uint64_t corrupt_value(uint64_t *rng)
{
  static const uint64_t edges[] = {0,
                                   1,
                                   2,
                                   0xff,
                                   0xffff,
                                   0xffffffffu,
                                   UINT64_MAX,
                                   UINT64_MAX - 1,
                                   UINT64_C(1) << 31,
                                   UINT64_C(1) << 32,
                                   UINT64_C(1) << 33,
                                   UINT64_C(1) << 36,
                                   UINT64_C(1) << 55,
                                   UINT64_C(1) << 63,
                                   0xfffffff0u,
                                   0x7fffffff};
  uint64_t r = ft_rand(rng);
  if (r % 3 == 0)
    return edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
  return ft_rand(rng);
}

uint64_t corrupt_object_offset(ferry_region *r)
{
  ferry_region_info in;
  if (ferry_region_info_get(r, &in) != 0) {
    CHECK(!"ferry_region_info_get");
    return 0;
  }
  return in.total_size - in.object_size;
}

/* Writes one corruption: 1, 2, 4 or 8 bytes of a value at a random offset,
 * or a run of zeroes or 0xff. */
static void corrupt_once(const struct corrupt_ctx *c, uint8_t *base, size_t size, uint64_t *rng)
{
  uint64_t r = ft_rand(rng);
  size_t at = (size_t)(ft_rand(rng) % size);
  if (c->nhot > 0 && r % 8 == 7) { /* one in eight: a field the scenario named */
    at = (size_t)c->hot[(r >> 8) % (uint64_t)c->nhot];
    if (at + 8 <= size) {
      uint64_t v = corrupt_value(rng);
      memcpy(base + at, &v, 8);
      return;
    }
  }
  switch (r % 6) {
  case 0:
  case 1:
  case 2:
  case 3: {
    size_t width = (size_t)1 << (r % 4); /* 1, 2, 4, 8 */
    if (at + width > size)
      at = size - width;
    uint64_t v = corrupt_value(rng);
    at &= ~(width - 1); /* naturally aligned, like the fields */
    memcpy(base + at, &v, width);
    break;
  }
  case 4:
  case 5: {
    size_t len = 1 + (size_t)(ft_rand(rng) % 64);
    if (at + len > size)
      len = size - at;
    memset(base + at, r % 6 == 4 ? 0 : 0xff, len);
    break;
  }
  }
}

/* One round: returns the corruptions made. */
static long round_once(const struct corrupt_scenario *sc, struct corrupt_ctx *c, uint64_t seed,
                       int per_round)
{
  int before = ft_failures;
  atomic_store(c->progress, 0);
  sc->setup(c);
  if (ft_failures > before)
    return 0;
  pid_t pid = ft_fork();
  if (pid == 0) {
    uint64_t rng = seed ^ 0x5bd1e995u;
    for (;;) {
      sc->operate(c, &rng);
      if (ft_failures)
        ft_child_exit();
      atomic_fetch_add(c->progress, 1);
    }
  }
  /* Let it start on a sound object. */
  int64_t end = ft_ms() + HANG_MS;
  while (atomic_load(c->progress) < 3 && ft_ms() < end)
    usleep(1000);
  size_t size = 0;
  void *map = NULL;
  uint8_t *base = ft_map_object(c->name, &map, &size) ? map : NULL;
  CHECK(base != NULL);
  long made = 0;
  uint64_t rng = seed;
  uint64_t last = atomic_load(c->progress);
  int64_t last_ms = ft_ms();
  bool hung = false;
  for (int i = 0; base && i < per_round && !hung; i++) {
    corrupt_once(c, base, size, &rng);
    made++;
    /* Give the operator time to trip over it. */
    usleep(200 + (useconds_t)(ft_rand(&rng) % 800));
    uint64_t now = atomic_load(c->progress);
    if (now != last) {
      last = now;
      last_ms = ft_ms();
    } else if (ft_ms() - last_ms > HANG_MS) {
      hung = true;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      if (WIFSIGNALED(st))
        ft_fail(__FILE__, __LINE__, "%s: the operator died of signal %d (seed %llu)", sc->kind,
                WTERMSIG(st), (unsigned long long)seed);
      else
        ft_fail(__FILE__, __LINE__, "%s: the operator failed a check (seed %llu)", sc->kind,
                (unsigned long long)seed);
      pid = -1;
      break;
    }
  }
  if (hung)
    ft_fail(__FILE__, __LINE__, "%s: the operator made no progress for %d ms (seed %llu)",
            sc->kind, HANG_MS, (unsigned long long)seed);
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  if (base)
    munmap(base, size);
  sc->teardown(c);
  return made;
}

static void test_every_kind(void)
{
  _Atomic uint64_t *progress =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(progress != MAP_FAILED);
  const char *s = getenv("FERRY_STRESS_SECONDS");
  bool long_tier = s && *s;
  double seconds = ft_stress_seconds(0);
  size_t kinds = (size_t)(__stop_corrupt_scen - __start_corrupt_scen);
  uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15u;
  if (getenv("FERRY_CORRUPT_SEED"))
    seed = strtoull(getenv("FERRY_CORRUPT_SEED"), NULL, 0);
  printf("seed %llu (FERRY_CORRUPT_SEED repeats it)\n", (unsigned long long)seed);
  long total = 0;
  for (size_t k = 0; k < kinds; k++) {
    const struct corrupt_scenario *sc = __start_corrupt_scen[k];
    int64_t end = ft_ms() + (int64_t)(seconds * 1000 / (double)kinds);
    long made = 0;
    int rounds = 0;
    while (long_tier ? ft_ms() < end : rounds < CORRUPT_QUICK_ROUNDS) {
      struct corrupt_ctx c = {.progress = progress};
      int before = ft_failures;
      made += round_once(sc, &c, seed + (uint64_t)rounds * 7919 + k, CORRUPT_PER_ROUND);
      rounds++;
      if (ft_failures > before)
        break;
    }
    printf("  %-8s %ld corruptions in %d rounds\n", sc->kind, made, rounds);
    total += made;
  }
  printf("corruptions: %ld across %zu kinds\n", total, kinds);
  munmap((void *)progress, 4096);
}

int main(void)
{
  RUN(test_every_kind);
  return ft_done();
}
