/* SPDX-License-Identifier: MIT */
/*
 * test_heap.c: the heap's contract, quick tier. Order (min/max, int64 and
 * double keys), FIFO among equal keys, peek/size/clear, capacity growth,
 * -ENOSPC and -EMSGSIZE with nothing changed, bad input with nothing left
 * behind, blocking pop (timeout, woken by a push from another process),
 * forked workers popping and pushing back with no record lost or
 * duplicated, replace_all while poppers run (never a mixture), a process
 * killed holding the lock in mid-push, and a short kill -9 chaos run. The
 * long chaos run is tests/stress/stress_heap.c.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/heap.h"
#include "ferry/queue.h"
#include "heap_layout.h"
#include "region_internal.h"
#include "test.h"

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static ferry_heap_options opts(uint64_t cap, uint32_t max_payload)
{
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = cap;
  o.max_payload = max_payload;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  return o;
}

static ferry_heap_key ik(int64_t v)
{
  ferry_heap_key k;
  k.i64 = v;
  return k;
}

static ferry_heap_key dk(double v)
{
  ferry_heap_key k;
  k.f64 = v;
  return k;
}

/* Seed 003's record: a box whose volume is the key. */
struct rec {
  uint32_t id;
  uint32_t gen;
  uint32_t l, w, hgt;
  uint32_t check;
};

static uint32_t rec_check(const struct rec *r)
{
  return (r->id * 2654435761u) ^ (r->gen * 40503u) ^ (r->l << 20) ^ (r->w << 10) ^ r->hgt;
}

static struct rec make_rec(uint32_t id, uint32_t gen, uint64_t *rng)
{
  struct rec r = {id, gen, (uint32_t)(ft_rand(rng) % 10 + 1), (uint32_t)(ft_rand(rng) % 10 + 1),
                  (uint32_t)(ft_rand(rng) % 10 + 1), 0};
  r.check = rec_check(&r);
  return r;
}

static int64_t volume(const struct rec *r) { return (int64_t)r->l * r->w * r->hgt; }

/* ---- basics --------------------------------------------------------------------- */

static void test_min_order_fifo(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 32);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  char buf[32];
  ferry_heap_key k;
  CHECK_RC(ferry_heap_pop(h, &k, buf, sizeof buf, 0), -EAGAIN);
  CHECK_RC(ferry_heap_peek(h, &k, buf, sizeof buf), -EAGAIN);
  /* keys 5,1,3,1,5,1 with payloads naming their push order */
  int64_t keys[] = {5, 1, 3, 1, 5, 1, -7, INT64_MAX, INT64_MIN};
  for (int i = 0; i < 9; i++) {
    snprintf(buf, sizeof buf, "p%d", i);
    CHECK_OK(ferry_heap_push(h, ik(keys[i]), buf, strlen(buf), FT_TIMEOUT));
  }
  CHECK_EQ(ferry_heap_size(h), 9);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_peek(h, &k, buf, sizeof buf), 2);
  CHECK_EQ(k.i64, INT64_MIN);
  CHECK_EQ(ferry_heap_size(h), 9);
  const char *want[] = {"p8", "p6", "p1", "p3", "p5", "p2", "p0", "p4", "p7"};
  for (int i = 0; i < 9; i++) {
    ssize_t n = ferry_heap_pop(h, &k, buf, sizeof buf, 0);
    REQUIRE(n == 2);
    CHECK(memcmp(buf, want[i], 2) == 0);
  }
  CHECK_EQ(ferry_heap_size(h), 0);
  /* empty payloads; clear */
  CHECK_OK(ferry_heap_push(h, ik(1), NULL, 0, FT_TIMEOUT));
  CHECK_OK(ferry_heap_push(h, ik(2), "x", 1, FT_TIMEOUT));
  CHECK_OK(ferry_heap_clear(h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(h), 0);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_RC(ferry_heap_pop(h, &k, buf, sizeof buf, 0), -EAGAIN);
  CHECK_OK(ferry_heap_push(h, ik(3), NULL, 0, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_pop(h, &k, buf, sizeof buf, 0), 0);
  CHECK_EQ(k.i64, 3);
  /* many equal keys interleaved with others: FIFO per key */
  for (int i = 0; i < 16; i++)
    CHECK_OK(ferry_heap_push(h, ik(i % 2), &i, sizeof i, FT_TIMEOUT));
  int last[2] = {-1, -1};
  for (int i = 0; i < 16; i++) {
    int v;
    CHECK_EQ(ferry_heap_pop(h, &k, &v, sizeof v, 0), sizeof v);
    CHECK_EQ(k.i64, i < 8 ? 0 : 1);
    CHECK(v > last[v % 2]);
    last[v % 2] = v;
  }
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.pushes, s.pops + 2); /* the two cleared */
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static void test_max_double(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(8, 8);
  o.order = FERRY_HEAP_MAX;
  o.key_type = FERRY_HEAP_KEY_DOUBLE;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  double keys[] = {0.5, -2.25, 1e300, -0.0, 0.0, -1e-300, 3.0, -1e300};
  for (int i = 0; i < 8; i++)
    CHECK_OK(ferry_heap_push(h, dk(keys[i]), &i, sizeof i, FT_TIMEOUT));
  CHECK_RC(ferry_heap_push(h, dk(0.0 / 0.0), NULL, 0, FT_TIMEOUT), -EINVAL);
  double want[] = {1e300, 3.0, 0.5, 0.0, 0.0, -1e-300, -2.25, -1e300};
  int zeros[2], nz = 0;
  for (int i = 0; i < 8; i++) {
    ferry_heap_key k;
    int v;
    CHECK_EQ(ferry_heap_pop(h, &k, &v, sizeof v, 0), sizeof v);
    CHECK(k.f64 == want[i]);
    if (want[i] == 0.0)
      zeros[nz++] = v;
  }
  CHECK(nz == 2 && zeros[0] == 3 && zeros[1] == 4); /* -0.0 == 0.0, FIFO */
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static void test_capacity_and_sizes(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(4, 16);
  o.flags = FERRY_HEAP_FIXED;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  char big[32];
  memset(big, 1, sizeof big);
  CHECK_RC(ferry_heap_push(h, ik(1), big, 17, FT_TIMEOUT), -EMSGSIZE);
  CHECK_EQ(ferry_heap_size(h), 0);
  for (int i = 0; i < 4; i++)
    CHECK_OK(ferry_heap_push(h, ik(i), big, 16, FT_TIMEOUT));
  CHECK_RC(ferry_heap_push(h, ik(9), big, 1, FT_TIMEOUT), -ENOSPC);
  CHECK_EQ(ferry_heap_size(h), 4);
  char small[8];
  CHECK_RC(ferry_heap_pop(h, NULL, small, sizeof small, 0), -EMSGSIZE);
  CHECK_RC(ferry_heap_peek(h, NULL, small, sizeof small), -EMSGSIZE);
  CHECK_EQ(ferry_heap_size(h), 4); /* still there */
  CHECK_EQ(ferry_heap_pop(h, NULL, big, sizeof big, 0), 16);
  CHECK_OK(ferry_heap_push(h, ik(9), big, 1, FT_TIMEOUT));
  ferry_heap_record recs[5];
  for (int i = 0; i < 5; i++)
    recs[i] = (ferry_heap_record){ik(i), big, 1};
  CHECK_RC(ferry_heap_replace_all(h, recs, 5, FT_TIMEOUT), -ENOSPC);
  recs[1].len = 17;
  CHECK_RC(ferry_heap_replace_all(h, recs, 4, FT_TIMEOUT), -EMSGSIZE);
  CHECK_EQ(ferry_heap_size(h), 4);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_RC(ferry_heap_pop(h, NULL, big, sizeof big, -1), -EINVAL);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  /* growing: initial capacity 4, max 1000 */
  o = opts(4, 8);
  o.max_capacity = 1000;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  uint64_t rng = 42;
  for (int i = 0; i < 1000; i++) {
    int64_t key = (int64_t)(ft_rand(&rng) % 100);
    CHECK_OK(ferry_heap_push(h, ik(key), &i, sizeof i, FT_TIMEOUT));
  }
  CHECK_RC(ferry_heap_push(h, ik(0), NULL, 0, FT_TIMEOUT), -ENOSPC);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  int64_t prev = -1;
  for (int i = 0; i < 1000; i++) {
    ferry_heap_key k;
    int v;
    CHECK_EQ(ferry_heap_pop(h, &k, &v, sizeof v, 0), sizeof v);
    CHECK(k.i64 >= prev);
    prev = k.i64;
    if (i % 100 == 0)
      CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  }
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.capacity, 4);
  CHECK_EQ(s.max_capacity, 1000);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static void test_bad_input(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap *h = NULL;
  ferry_heap_options o = opts(4, 16);
  CHECK_RC(ferry_heap_create("bad/name", &o, &h), -EINVAL);
  CHECK_RC(ferry_heap_create("", &o, &h), -EINVAL);
  o.capacity = 0;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(4, FERRY_HEAP_MAX_PAYLOAD + 1);
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(4, 16);
  o.order = 7;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(4, 16);
  o.key_type = 9;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(4, 16);
  o.flags = 0x80;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(8, 16);
  o.max_capacity = 4;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o = opts(FERRY_HEAP_MAX_CAPACITY, FERRY_HEAP_MAX_PAYLOAD);
  o.flags = FERRY_HEAP_FIXED;
  int rc = ferry_heap_create(name, &o, &h); /* 2^47 bytes: the system says no */
  CHECK(rc == -EOVERFLOW || rc == -ENOSPC || rc == -ENOMEM || rc == -EFBIG);
  CHECK(h == NULL);
  CHECK(!shm_exists(name));
  CHECK_RC(ferry_heap_open(name, NULL, &h), -ENOENT);
  CHECK_RC(ferry_heap_open("bad name", NULL, &h), -EINVAL);
  /* wrong kind */
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, NULL, &q));
  CHECK_RC(ferry_heap_open(name, NULL, &h), FERRY_EKIND);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
  /* exists, observe refused */
  o = opts(4, 16);
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  ferry_heap *h2 = NULL;
  CHECK_RC(ferry_heap_create(name, &o, &h2), -EEXIST);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry_heap_open(name, &oo, &h2), -EINVAL);
  CHECK(h2 == NULL);
  REQUIRE_OK(ferry_heap_open(name, NULL, &h2));
  CHECK_OK(ferry_heap_push(h2, ik(1), "a", 1, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(h), 1);
  ferry_heap_close(h2);
  ferry_heap_close(h);
  ferry_heap_close(NULL);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
}

/* ---- blocking --------------------------------------------------------------------- */

static void test_blocking_pop(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 16);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  char buf[16];
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_heap_pop(h, NULL, buf, sizeof buf, 30 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 29);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    usleep(50 * 1000);
    CHECK_OK(ferry_heap_push(c, ik(7), "wake", 4, FT_TIMEOUT));
    ferry_heap_close(c);
    ft_child_exit();
  }
  ferry_heap_key k;
  CHECK_EQ(ferry_heap_pop(h, &k, buf, sizeof buf, 10 * FERRY_SEC), 4);
  CHECK_EQ(k.i64, 7);
  ft_wait_ok(pid, 10000);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* ---- workers: pop, process, push back -------------------------------------------- */

#define NREC 2000

/* Pops a record, checks it, pushes it back with a new key. Returns the
 * number of round trips. */
static long worker_loop(ferry_heap *h, long iters, _Atomic int *stop, uint64_t seed)
{
  uint64_t rng = seed;
  long done = 0;
  while ((iters < 0 || done < iters) && !(stop && atomic_load(stop))) {
    struct rec r;
    ferry_heap_key k;
    ssize_t n = ferry_heap_pop(h, &k, &r, sizeof r, 20 * FERRY_MSEC);
    if (n == -ETIMEDOUT)
      continue;
    if (n != (ssize_t)sizeof r || r.check != rec_check(&r) || k.i64 != volume(&r)) {
      ft_fail(__FILE__, __LINE__, "bad record: n=%zd", n);
      return done;
    }
    struct rec nr = make_rec(r.id, r.gen, &rng);
    int rc = ferry_heap_push(h, ik(volume(&nr)), &nr, sizeof nr, FT_TIMEOUT);
    if (rc) {
      ft_fail(__FILE__, __LINE__, "push: %d", rc);
      return done;
    }
    done++;
  }
  return done;
}

static void fill(ferry_heap *h, uint32_t nrec, uint32_t gen)
{
  uint64_t rng = 7;
  for (uint32_t i = 0; i < nrec; i++) {
    struct rec r = make_rec(i, gen, &rng);
    CHECK_OK(ferry_heap_push(h, ik(volume(&r)), &r, sizeof r, FT_TIMEOUT));
  }
}

/* Drains the heap and counts each id; returns ids missing, fails on dups. */
static uint32_t drain_and_count(ferry_heap *h, uint32_t nrec)
{
  uint8_t *seen = calloc(nrec, 1);
  int64_t prev = INT64_MIN;
  struct rec r;
  ferry_heap_key k;
  ssize_t n;
  while ((n = ferry_heap_pop(h, &k, &r, sizeof r, 0)) >= 0) {
    CHECK_EQ(n, sizeof r);
    CHECK(r.check == rec_check(&r));
    CHECK(k.i64 >= prev);
    prev = k.i64;
    CHECK(r.id < nrec);
    if (r.id < nrec) {
      CHECK(!seen[r.id]);
      seen[r.id] = 1;
    }
  }
  CHECK_RC(n, -EAGAIN);
  uint32_t missing = 0;
  for (uint32_t i = 0; i < nrec; i++)
    missing += !seen[i];
  free(seen);
  return missing;
}

static void test_workers_no_loss(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(NREC, sizeof(struct rec));
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  fill(h, NREC, 0);
  enum { W = 4, M = 20000 };
  pid_t pids[W];
  for (int w = 0; w < W; w++) {
    pids[w] = ft_fork();
    if (pids[w] == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      CHECK_EQ(worker_loop(c, M, NULL, 100 + (uint64_t)w), M);
      ferry_heap_close(c);
      ft_child_exit();
    }
  }
  for (int i = 0; i < 20; i++) { /* validate while they run */
    CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
    usleep(2000);
  }
  for (int w = 0; w < W; w++)
    ft_wait_ok(pids[w], 60000);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(h), NREC);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.pops, (uint64_t)W * M);
  CHECK_EQ(drain_and_count(h, NREC), 0);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* ---- replace_all while poppers run -------------------------------------------------- */

static void test_replace_all_no_mixture(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  enum { K = 500, GENS = 30, P = 3 };
  ferry_heap_options o = opts(K, sizeof(struct rec));
  o.flags = FERRY_HEAP_FIXED;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  _Atomic int *stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(stop != MAP_FAILED);
  pid_t pids[P];
  for (int p = 0; p < P; p++) {
    pids[p] = ft_fork();
    if (pids[p] == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      /* Keys within a generation are the ids 0..K-1, so one popper sees a
       * generation's ids increasing; a mixture would show an older
       * generation after a newer one. */
      uint32_t gen = 0, last_id = 0;
      bool any = false;
      while (!atomic_load(stop) || ferry_heap_size(c)) {
        struct rec r;
        ferry_heap_key k;
        ssize_t n = ferry_heap_pop(c, &k, &r, sizeof r, 5 * FERRY_MSEC);
        if (n < 0)
          continue;
        CHECK(r.check == rec_check(&r));
        CHECK(k.i64 == (int64_t)r.id);
        CHECK(!any || r.gen >= gen);
        if (any && r.gen == gen)
          CHECK(r.id > last_id);
        gen = r.gen;
        last_id = r.id;
        any = true;
      }
      ferry_heap_close(c);
      ft_child_exit();
    }
  }
  static struct rec recs[K];
  static ferry_heap_record hr[K];
  for (uint32_t g = 1; g <= GENS; g++) {
    for (uint32_t i = 0; i < K; i++) {
      recs[i] = (struct rec){i, g, 1, 1, 1, 0};
      recs[i].check = rec_check(&recs[i]);
      hr[i] = (ferry_heap_record){ik(i), &recs[i], sizeof recs[i]};
    }
    CHECK_OK(ferry_heap_replace_all(h, hr, K, FT_TIMEOUT));
    CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
    usleep(1000);
  }
  atomic_store(stop, 1);
  for (int p = 0; p < P; p++)
    ft_wait_ok(pids[p], 30000);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.replaces, GENS);
  munmap(stop, 4096);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* ---- death ------------------------------------------------------------------------- */

/* A child takes the lock, half-does a push (slot written, not committed,
 * index garbled) and dies; the next locker repairs it. */
static void test_dies_holding_lock(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(64, 16);
  o.flags = FERRY_HEAP_FIXED;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  for (int i = 0; i < 10; i++)
    CHECK_OK(ferry_heap_push(h, ik(i), &i, sizeof i, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_pop(h, NULL, (int[1]){0}, sizeof(int), 0), sizeof(int)); /* a free slot */
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    struct ferry__heap_hdr *hh = ferry_region_data(ferry_heap_region(c));
    if (ferry_mutex_lock(&hh->lock, FERRY_SEC) != 0)
      _exit(3);
    struct ferry__heap_area *a = &hh->area[atomic_load(&hh->active)];
    a->free_top = 0;                 /* took the free slot ... */
    atomic_store(&a->n, a->n + 3);   /* ... and garbled the index */
    _exit(0);                        /* dies holding the lock */
  }
  CHECK_EQ(ft_wait(pid, 10000), 0);
  CHECK_OK(ferry_heap_push(h, ik(-1), (int[1]){-1}, sizeof(int), FT_TIMEOUT));
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(h), 10);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.repairs, 1);
  int want[] = {-1, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int i = 0; i < 10; i++) {
    int v;
    CHECK_EQ(ferry_heap_pop(h, NULL, &v, sizeof v, 0), sizeof v);
    CHECK_EQ(v, want[i]);
  }
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* Workers are SIGKILLed at random instants and replaced; the heap stays
 * valid, survivors keep running, and only records held by the dead (at
 * most one each) go missing. */
static void test_kill9_chaos_quick(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(NREC, sizeof(struct rec));
  o.region.max_participants = 16;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  fill(h, NREC, 0);
  enum { W = 3 };
  pid_t pids[W];
  uint64_t rng = 99;
  int kills = 0;
  for (int w = 0; w < W; w++) {
    if ((pids[w] = ft_fork()) == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      worker_loop(c, -1, NULL, 1000 + (uint64_t)w);
      _exit(0);
    }
  }
  int64_t end = ft_ms() + 600;
  while (ft_ms() < end) {
    usleep((useconds_t)(ft_rand(&rng) % 3000));
    int w = (int)(ft_rand(&rng) % W);
    kill(pids[w], SIGKILL);
    ft_wait(pids[w], 10000);
    kills++;
    if ((pids[w] = ft_fork()) == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      worker_loop(c, -1, NULL, 5000 + (uint64_t)kills);
      _exit(0);
    }
  }
  for (int w = 0; w < W; w++) {
    kill(pids[w], SIGKILL);
    ft_wait(pids[w], 10000);
    kills++;
  }
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  uint32_t missing = drain_and_count(h, NREC);
  CHECK((int)missing <= kills);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  printf("  kills=%d missing=%u repairs=%llu pops=%llu\n", kills, missing,
         (unsigned long long)s.repairs, (unsigned long long)s.pops);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_min_order_fifo);
  RUN(test_max_double);
  RUN(test_capacity_and_sizes);
  RUN(test_bad_input);
  RUN(test_blocking_pop);
  RUN(test_workers_no_loss);
  RUN(test_replace_all_no_mixture);
  RUN(test_dies_holding_lock);
  RUN(test_kill9_chaos_quick);
  return ft_done();
}
