/* SPDX-License-Identifier: MIT */
/*
 * stress_heap.c: long tier of the heap. Seed 003's workload: W workers pop a
 * record, "process" it and push it back with a new key, while a writer
 * periodically replaces the whole set and a chaos loop SIGKILLs workers (and
 * sometimes the writer) at random instants and replaces them. Duration:
 * ft_stress_seconds(2.0). At the end the heap must validate, every record
 * must be whole, no id may appear twice, and the survivors must still be
 * making progress. Prints pop+push pairs per second of a clean phase
 * (informational, not asserted).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/heap.h"
#include "test.h"

struct rec {
  uint32_t id, gen, l, w, h, check;
};

static uint32_t rec_check(const struct rec *r)
{
  return (r->id * 2654435761u) ^ (r->gen * 40503u) ^ (r->l << 20) ^ (r->w << 10) ^ r->h;
}

static int64_t volume(const struct rec *r) { return (int64_t)r->l * r->w * r->h; }

static struct rec make_rec(uint32_t id, uint32_t gen, uint64_t *rng)
{
  struct rec r = {id, gen, (uint32_t)(ft_rand(rng) % 10 + 1), (uint32_t)(ft_rand(rng) % 10 + 1),
                  (uint32_t)(ft_rand(rng) % 10 + 1), 0};
  r.check = rec_check(&r);
  return r;
}

enum { NREC = 20000, W = 4 };

struct shared {
  _Atomic uint64_t pairs[64];
  _Atomic int bad;
};

static void worker(const char *name, struct shared *sh, int w, uint64_t seed)
{
  ferry_heap *h;
  if (ferry_heap_open(name, NULL, &h) != 0)
    _exit(2);
  uint64_t rng = seed;
  for (;;) {
    struct rec r;
    ferry_heap_key k;
    ssize_t n = ferry_heap_pop(h, &k, &r, sizeof r, 20 * FERRY_MSEC);
    if (n == -ETIMEDOUT)
      continue;
    if (n != (ssize_t)sizeof r || r.check != rec_check(&r) || k.i64 != volume(&r)) {
      atomic_store(&sh->bad, 1);
      _exit(3);
    }
    struct rec nr = make_rec(r.id, r.gen, &rng);
    ferry_heap_key nk = {.i64 = volume(&nr)};
    if (ferry_heap_push(h, nk, &nr, sizeof nr, FT_TIMEOUT) != 0) {
      atomic_store(&sh->bad, 1);
      _exit(4);
    }
    atomic_fetch_add_explicit(&sh->pairs[w], 1, memory_order_relaxed);
  }
}

static void replace_set(ferry_heap *h, uint32_t gen)
{
  static struct rec recs[NREC];
  static ferry_heap_record hr[NREC];
  uint64_t rng = gen;
  for (uint32_t i = 0; i < NREC; i++) {
    recs[i] = make_rec(i, gen, &rng);
    hr[i].key.i64 = volume(&recs[i]);
    hr[i].data = &recs[i];
    hr[i].len = sizeof recs[i];
  }
  CHECK_OK(ferry_heap_replace_all(h, hr, NREC, FT_TIMEOUT));
}

static uint64_t total_pairs(struct shared *sh)
{
  uint64_t t = 0;
  for (int i = 0; i < W; i++)
    t += atomic_load(&sh->pairs[i]);
  return t;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_chaos(void)
{
  char name[64];
  ft_name(name, sizeof name, "hs");
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = NREC;
  /* room for records a worker held across a swap and pushes back into the
   * new set (at most one per worker per swap) */
  o.max_capacity = 2 * NREC;
  o.max_payload = sizeof(struct rec);
  o.region.max_participants = 32;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  replace_set(h, 1);
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(sh != MAP_FAILED);
  pid_t pids[W];
  for (int w = 0; w < W; w++)
    if ((pids[w] = ft_fork()) == 0)
      worker(name, sh, w, 100 + (uint64_t)w);

  /* clean phase: throughput */
  usleep(100 * 1000);
  uint64_t p0 = total_pairs(sh);
  int64_t t0 = ft_ms();
  usleep(500 * 1000);
  uint64_t p1 = total_pairs(sh);
  int64_t t1 = ft_ms();
  printf("  clean: %d workers, %.0f pop+push pairs/s\n", W,
         (double)(p1 - p0) * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));

  /* chaos phase */
  double secs = ft_stress_seconds(2.0);
  uint64_t rng = 17;
  int kills = 0;
  uint32_t gen = 1;
  int64_t end = ft_ms() + (int64_t)(secs * 1000);
  while (ft_ms() < end) {
    usleep((useconds_t)(ft_rand(&rng) % 5000));
    if (ft_rand(&rng) % 8 == 0) {
      /* a replacer that may die mid-build or mid-swap */
      pid_t rp = ft_fork();
      if (rp == 0) {
        ferry_heap *c;
        if (ferry_heap_open(name, NULL, &c) != 0)
          _exit(2);
        replace_set(c, ++gen);
        _exit(0);
      }
      if (ft_rand(&rng) % 2) { /* half die mid-build or mid-swap */
        usleep((useconds_t)(ft_rand(&rng) % 20000));
        kill(rp, SIGKILL);
      }
      ft_wait(rp, 10000);
      gen++;
    }
    int w = (int)(ft_rand(&rng) % W);
    kill(pids[w], SIGKILL);
    int st = ft_wait(pids[w], 10000);
    CHECK(WIFSIGNALED(st));
    kills++;
    if ((pids[w] = ft_fork()) == 0)
      worker(name, sh, w, 5000 + (uint64_t)kills);
  }
  /* survivors still make progress */
  uint64_t before = total_pairs(sh);
  int64_t wait_end = ft_ms() + 5000;
  while (total_pairs(sh) == before && ft_ms() < wait_end)
    usleep(1000);
  CHECK(total_pairs(sh) > before);
  for (int w = 0; w < W; w++) {
    kill(pids[w], SIGKILL);
    ft_wait(pids[w], 10000);
  }
  CHECK(!atomic_load(&sh->bad));
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  /* drain: whole records, no id twice, keys in order, one generation
   * except for records pushed back across a swap by a worker */
  uint64_t *ids = calloc(2 * NREC + 64, sizeof *ids);
  struct rec r;
  ferry_heap_key k;
  ssize_t n;
  int64_t prev = INT64_MIN;
  size_t count = 0;
  while ((n = ferry_heap_pop(h, &k, &r, sizeof r, 0)) >= 0) {
    CHECK(n == (ssize_t)sizeof r && r.check == rec_check(&r) && r.id < NREC);
    CHECK(k.i64 >= prev);
    prev = k.i64;
    if (count < 2 * NREC + 64)
      ids[count] = (uint64_t)r.gen << 32 | r.id;
    count++;
  }
  /* (generation, id) is unique: a record exists once per generation */
  qsort(ids, count, sizeof *ids, cmp_u64);
  for (size_t i = 1; i < count; i++)
    CHECK(ids[i] != ids[i - 1]);
  free(ids);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  printf("  chaos: %.1f s, kills=%d, records left=%zu, repairs=%llu, replaces=%llu\n", secs,
         kills, count, (unsigned long long)s.repairs, (unsigned long long)s.replaces);
  CHECK(count <= 2 * NREC);
  munmap(sh, sizeof *sh);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_chaos);
  return ft_done();
}
