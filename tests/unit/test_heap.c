/* SPDX-License-Identifier: MIT */
/*
 * test_heap.c: the heap's contract, quick tier. Order (min/max, int64 and
 * double keys), FIFO among equal keys, peek/size/clear, capacity growth,
 * -ENOSPC and -EMSGSIZE with nothing changed, bad input with nothing left
 * behind, blocking pop (timeout, woken by a push from another process),
 * forked workers popping and pushing back with no record lost or
 * duplicated, replace_all while poppers run (never a mixture), a process
 * killed holding the lock in mid-push, and a short kill -9 chaos run. Then
 * what a peer may write into the region (counts, indices, lengths, the
 * geometry, the lock word: each an error, never an access outside it, never
 * a hang), waits under a periodic signal, a popper that dies asleep, a lock
 * holder in another PID namespace, byte-string keys, generations, and a
 * handle inherited through fork. The long chaos run is
 * tests/stress/stress_heap.c.
 */
#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/heap.h"
#include "ferry/queue.h"
#include "heap_layout.h"
#include "region_internal.h"
#include "region_lock.h"
#include "fixtures.h"
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
    ferry_region *cr = ferry_heap_region(c);
    struct ferry__heap_hdr *hh = ferry_region_data(cr);
    int64_t dl = FERRY__DEADLINE_UNSET;
    if (ferry__rlock_lock(cr, &hh->lock, ferry__rlock_tag(cr), FERRY_SEC, &dl) != 0)
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

/* ---- byte-string keys ------------------------------------------------------------- */

struct bkey {
  uint8_t k[16];
  size_t len;
  int seq;
};

static int bkey_cmp(const void *pa, const void *pb)
{
  const struct bkey *a = pa, *b = pb;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->k, b->k, m);
  if (!c)
    c = (a->len > b->len) - (a->len < b->len);
  return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* A composite key, packed field by field, big-endian: (priority, name). */
static size_t pack(uint8_t *out, uint16_t prio, const char *name)
{
  out[0] = (uint8_t)(prio >> 8);
  out[1] = (uint8_t)prio;
  size_t n = strlen(name);
  memcpy(out + 2, name, n);
  return 2 + n;
}

static void test_bytes_keys(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(64, 16);
  o.key_type = FERRY_HEAP_KEY_BYTES;
  o.max_key = 16;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  /* Tuples sort field by field; a prefix before its extensions; keys that
   * share their first 8 bytes still sort by the rest; equal keys FIFO. */
  struct {
    uint16_t prio;
    const char *name;
  } in[] = {{2, "b"},         {1, "zz"},        {1, "ab"},      {2, "a"},
            {1, "abcdefghij"}, {1, "abcdefghi"}, {1, "abcdefgh"}, {1, "abcdefghia"},
            {1, "ab"},        {0, ""},          {300, "a"}};
  const int want[] = {9, 2, 8, 6, 5, 7, 4, 1, 3, 0, 10};
  enum { N = sizeof in / sizeof in[0] };
  uint8_t k[32];
  for (int i = 0; i < N; i++)
    CHECK_OK(ferry_heap_push_ex(h, k, pack(k, in[i].prio, in[i].name), &i, sizeof i,
                                FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  ferry_heap_stats st;
  CHECK_OK(ferry_heap_stats_get(h, &st));
  CHECK_EQ(st.key_type, FERRY_HEAP_KEY_BYTES);
  CHECK_EQ(st.order, FERRY_HEAP_MIN);
  CHECK_OK(ferry_heap_stat(name, &st)); /* as an observer sees it */
  CHECK_EQ(st.key_type, FERRY_HEAP_KEY_BYTES);
  CHECK_EQ(st.size, N);
  size_t kl = 0;
  int v = -1;
  CHECK_EQ(ferry_heap_peek_ex(h, k, sizeof k, &kl, &v, sizeof v, NULL), sizeof v);
  CHECK_EQ(v, 9);
  CHECK_EQ(kl, 2);
  for (int i = 0; i < N; i++) {
    uint8_t want_k[32];
    size_t want_len = pack(want_k, in[want[i]].prio, in[want[i]].name);
    CHECK_EQ(ferry_heap_pop_ex(h, k, sizeof k, &kl, &v, sizeof v, NULL, 0), sizeof v);
    CHECK_EQ(v, want[i]);
    CHECK(kl == want_len && memcmp(k, want_k, kl) == 0);
  }
  /* errors, nothing changed */
  uint8_t long_key[17] = {0};
  CHECK_RC(ferry_heap_push_ex(h, long_key, 17, "x", 1, FERRY_HEAP_GEN_ANY, FT_TIMEOUT), -E2BIG);
  CHECK_RC(ferry_heap_push(h, ik(1), "x", 1, FT_TIMEOUT), -EINVAL);
  CHECK_OK(ferry_heap_push_ex(h, "key", 3, "x", 1, FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  ferry_heap_key tk;
  char c;
  CHECK_RC(ferry_heap_pop(h, &tk, &c, 1, 0), -EINVAL);
  CHECK_RC(ferry_heap_pop_ex(h, k, 2, &kl, &c, 1, NULL, 0), -EMSGSIZE); /* key too long for kcap */
  CHECK_EQ(ferry_heap_size(h), 1);
  CHECK_EQ(ferry_heap_pop(h, NULL, &c, 1, 0), 1); /* the payload alone */
  ferry_heap_record tr = {ik(1), "x", 1};
  CHECK_RC(ferry_heap_replace_all(h, &tr, 1, FT_TIMEOUT), -EINVAL);

  /* Random keys from a small alphabet against a sort of the same. */
  enum { R = 60 };
  struct bkey ks[R];
  uint64_t rng = 5;
  for (int i = 0; i < R; i++) {
    ks[i].len = (size_t)(ft_rand(&rng) % 17);
    for (size_t j = 0; j < ks[i].len; j++)
      ks[i].k[j] = (uint8_t)("\x00\x01\x7f\x80\xff"[ft_rand(&rng) % 5]);
    ks[i].seq = i;
  }
  ferry_heap_record_ex rx[R];
  for (int i = 0; i < R; i++)
    rx[i] = (ferry_heap_record_ex){ks[i].k, ks[i].len, &ks[i].seq, sizeof ks[i].seq};
  CHECK_OK(ferry_heap_replace_all_ex(h, rx, R / 2, NULL, FT_TIMEOUT));
  for (int i = R / 2; i < R; i++) /* half built at once, half pushed */
    CHECK_OK(ferry_heap_push_ex(h, ks[i].k, ks[i].len, &ks[i].seq, sizeof ks[i].seq,
                                FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  qsort(ks, R, sizeof ks[0], bkey_cmp);
  for (int i = 0; i < R; i++) {
    CHECK_EQ(ferry_heap_pop_ex(h, k, sizeof k, &kl, &v, sizeof v, NULL, 0), sizeof v);
    CHECK_EQ(v, ks[i].seq);
  }
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  /* max order: the largest key first, FIFO among equals */
  o.order = FERRY_HEAP_MAX;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  const char *mk[] = {"b", "ab", "abc", "b", "", "ba"};
  for (int i = 0; i < 6; i++)
    CHECK_OK(ferry_heap_push_ex(h, mk[i], strlen(mk[i]), &i, sizeof i, FERRY_HEAP_GEN_ANY,
                                FT_TIMEOUT));
  const int mwant[] = {5, 0, 3, 2, 1, 4};
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(ferry_heap_pop_ex(h, NULL, 0, NULL, &v, sizeof v, NULL, 0), sizeof v);
    CHECK_EQ(v, mwant[i]);
  }
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  /* the _ex calls on an int64 heap: keys as their 8 bytes */
  o = opts(8, 8);
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  int64_t i64 = -5;
  CHECK_RC(ferry_heap_push_ex(h, &i64, 4, "x", 1, FERRY_HEAP_GEN_ANY, FT_TIMEOUT), -EINVAL);
  CHECK_OK(ferry_heap_push_ex(h, &i64, 8, "x", 1, FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  int64_t got = 0;
  CHECK_RC(ferry_heap_pop_ex(h, &got, 4, &kl, &c, 1, NULL, 0), -EMSGSIZE);
  CHECK_EQ(ferry_heap_pop_ex(h, &got, sizeof got, &kl, &c, 1, NULL, 0), 1);
  CHECK_EQ(got, -5);
  CHECK_EQ(kl, 8);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  /* bad options */
  o = opts(8, 8);
  o.key_type = FERRY_HEAP_KEY_BYTES;
  o.max_key = FERRY_HEAP_MAX_KEY + 1;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  o.key_type = 3;
  o.max_key = 0;
  CHECK_RC(ferry_heap_create(name, &o, &h), -EINVAL);
  CHECK(!shm_exists(name));
}

/* ---- order against a model, deep heaps ------------------------------------------- */

/* One record of the model: its key in each form, and its push order. */
struct mrec {
  int64_t i64;
  double f64;
  struct bkey b; /* b.seq: the record's id */
  uint64_t order;
};

enum mkind { M_INT_MIN, M_INT_MAX, M_DOUBLE_MIN, M_BYTES_MIN, M_BYTES_MAX };

/* <0 if a pops before b in a heap of kind k. */
static int mrec_cmp(enum mkind k, const struct mrec *a, const struct mrec *b)
{
  int c = 0;
  switch (k) {
  case M_INT_MIN:
  case M_INT_MAX:
    c = (a->i64 > b->i64) - (a->i64 < b->i64);
    break;
  case M_DOUBLE_MIN:
    c = (a->f64 > b->f64) - (a->f64 < b->f64); /* -0.0 == 0.0 */
    break;
  case M_BYTES_MIN:
  case M_BYTES_MAX: {
    size_t m = a->b.len < b->b.len ? a->b.len : b->b.len;
    c = memcmp(a->b.k, b->b.k, m);
    if (!c)
      c = (a->b.len > b->b.len) - (a->b.len < b->b.len);
    break;
  }
  }
  if (k == M_INT_MAX || k == M_BYTES_MAX)
    c = -c;
  return c ? c : (a->order > b->order) - (a->order < b->order);
}

static struct mrec mrec_new(enum mkind k, uint64_t *rng, int id, uint64_t order)
{
  struct mrec r;
  memset(&r, 0, sizeof r);
  /* Few distinct keys, so ties (and, for bytes, equal 8-byte prefixes)
   * are the rule. */
  r.i64 = (int64_t)(ft_rand(rng) % 64) - 32;
  static const double ds[] = {-1e300, -2.5, -0.0, 0.0, 1.0, 1.5, 1e-300, 7.0};
  r.f64 = ds[ft_rand(rng) % 8];
  (void)k;
  r.b.len = (size_t)(ft_rand(rng) % 13);
  for (size_t j = 0; j < r.b.len; j++)
    r.b.k[j] = (uint8_t)("\x00\x01\x7f\x80\xff"[ft_rand(rng) % (j < 8 ? 2 : 5)]);
  r.b.seq = id;
  r.order = order;
  return r;
}

static int mrec_push(ferry_heap *h, enum mkind k, const struct mrec *r)
{
  if (k == M_BYTES_MIN || k == M_BYTES_MAX)
    return ferry_heap_push_ex(h, r->b.k, r->b.len, &r->b.seq, sizeof r->b.seq, FERRY_HEAP_GEN_ANY,
                              FT_TIMEOUT);
  return ferry_heap_push(h, k == M_DOUBLE_MIN ? dk(r->f64) : ik(r->i64), &r->b.seq,
                         sizeof r->b.seq, FT_TIMEOUT);
}

/*
 * Every pop of a deep heap (thousands of entries: the sift loops' long
 * paths and their look-ahead near the end of the array) against a model
 * that scans for the minimum: the key and the record each time, in
 * pop-then-push rounds as workers do, with bursts of pushes and pops that
 * move the end of the array both ways.
 */
static void test_order_against_model(void)
{
  enum { CAP = 2600, FILL = 1500, OPS = 6000 };
  static struct mrec model[CAP];
  for (int kind = M_INT_MIN; kind <= M_BYTES_MAX; kind++) {
    enum mkind k = (enum mkind)kind;
    char name[64];
    ft_name(name, sizeof name, "hm");
    ferry_heap_options o = opts(CAP, sizeof(int));
    o.flags = FERRY_HEAP_FIXED;
    if (k == M_INT_MAX || k == M_BYTES_MAX)
      o.order = FERRY_HEAP_MAX;
    if (k == M_DOUBLE_MIN)
      o.key_type = FERRY_HEAP_KEY_DOUBLE;
    if (k == M_BYTES_MIN || k == M_BYTES_MAX) {
      o.key_type = FERRY_HEAP_KEY_BYTES;
      o.max_key = 16;
    }
    ferry_heap *h;
    REQUIRE_OK(ferry_heap_create(name, &o, &h));
    uint64_t rng = 11 + (uint64_t)kind, order = 0;
    int n = 0, next_id = 0, bad = 0;
    for (; n < FILL; n++) {
      model[n] = mrec_new(k, &rng, next_id++, order++);
      CHECK_OK(mrec_push(h, k, &model[n]));
    }
    for (int op = 0; op < OPS && !bad; op++) {
      uint64_t what = ft_rand(&rng) % 16;
      int pops = what == 0 ? 40 : 1, pushes = what == 1 ? 40 : what == 2 ? 0 : 1;
      for (int p = 0; p < pops && n > 0 && !bad; p++) {
        int best = 0;
        for (int i = 1; i < n; i++)
          if (mrec_cmp(k, &model[i], &model[best]) < 0)
            best = i;
        int id = -1;
        uint8_t kb[16];
        size_t kl = 0;
        ferry_heap_key tk;
        ssize_t got = k == M_BYTES_MIN || k == M_BYTES_MAX
                          ? ferry_heap_pop_ex(h, kb, sizeof kb, &kl, &id, sizeof id, NULL, 0)
                          : ferry_heap_pop(h, &tk, &id, sizeof id, 0);
        CHECK_EQ(got, (ssize_t)sizeof id);
        if (got != (ssize_t)sizeof id || id != model[best].b.seq) {
          ft_fail(__FILE__, __LINE__, "kind %d op %d: popped id %d, want %d", kind, op, id,
                  model[best].b.seq);
          bad = 1;
          break;
        }
        if (k == M_INT_MIN || k == M_INT_MAX)
          CHECK_EQ(tk.i64, model[best].i64);
        else if (k == M_DOUBLE_MIN)
          CHECK(tk.f64 == model[best].f64);
        else
          CHECK(kl == model[best].b.len && memcmp(kb, model[best].b.k, kl) == 0);
        model[best] = model[--n];
      }
      for (int p = 0; p < pushes && n < CAP; p++) {
        model[n] = mrec_new(k, &rng, next_id++, order++);
        CHECK_OK(mrec_push(h, k, &model[n]));
        n++;
      }
      if (op % 1000 == 0)
        CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
    }
    CHECK(!bad);
    CHECK_EQ(ferry_heap_size(h), n);
    CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
    ferry_heap_close(h);
    CHECK_OK(ferry_unlink(name));
  }
}

/* ---- generations ------------------------------------------------------------------ */

static void test_generations(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 8);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  uint64_t g = 0, g2 = 0;
  CHECK_OK(ferry_heap_generation(h, &g));
  CHECK_EQ(g, 1);
  int64_t key = 1;
  int v = 7;
  CHECK_OK(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, 1, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_pop_ex(h, &key, 8, NULL, &v, sizeof v, &g, 0), sizeof v);
  CHECK_EQ(g, 1);
  CHECK_OK(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  /* a new set: records popped from the old one stay out */
  CHECK_EQ(ferry_heap_pop_ex(h, &key, 8, NULL, &v, sizeof v, &g, 0), sizeof v);
  ferry_heap_record_ex rx = {&key, 8, &v, sizeof v};
  CHECK_OK(ferry_heap_replace_all_ex(h, &rx, 1, &g2, FT_TIMEOUT));
  CHECK(g2 > g);
  uint64_t now;
  CHECK_OK(ferry_heap_generation(h, &now));
  CHECK_EQ(now, g2);
  CHECK_RC(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, g, FT_TIMEOUT), -ESTALE);
  CHECK_EQ(ferry_heap_size(h), 1);
  CHECK_OK(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, g2, FT_TIMEOUT));
  CHECK_OK(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  /* clear starts a new set too */
  CHECK_OK(ferry_heap_clear(h, FT_TIMEOUT));
  CHECK_OK(ferry_heap_generation(h, &now));
  CHECK(now > g2);
  CHECK_RC(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, g2, FT_TIMEOUT), -ESTALE);
  CHECK_EQ(ferry_heap_size(h), 0);
  /* peek tells the generation too */
  CHECK_OK(ferry_heap_push_ex(h, &key, 8, &v, sizeof v, now, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_peek_ex(h, NULL, 0, NULL, &v, sizeof v, &g), sizeof v);
  CHECK_EQ(g, now);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* Seed 003's loop with the writer's periodic refresh: workers pop a
 * record, work on it and push it back with the generation they got; the
 * writer replaces the whole set meanwhile. After the last replace, the
 * heap holds the last set only: no record of an older set leaked back. */
static void test_replace_refuses_stale_pushes(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  enum { K = 64, SETS = 20, W = 3 };
  ferry_heap_options o = opts(4 * K, sizeof(struct rec));
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  _Atomic int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(shared != MAP_FAILED);
  _Atomic int *stop = &shared[0], *stale = &shared[1];
  pid_t pids[W];
  for (int w = 0; w < W; w++) {
    if ((pids[w] = ft_fork()) == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      while (!atomic_load(stop)) {
        struct rec r;
        int64_t key;
        uint64_t gen;
        ssize_t n = ferry_heap_pop_ex(c, &key, 8, NULL, &r, sizeof r, &gen, 5 * FERRY_MSEC);
        if (n < 0)
          continue;
        CHECK(n == sizeof r && r.check == rec_check(&r));
        usleep(100); /* the work, during which the set may be replaced */
        key += K;
        int rc = ferry_heap_push_ex(c, &key, 8, &r, sizeof r, gen, FT_TIMEOUT);
        CHECK(rc == 0 || rc == -ESTALE);
        if (rc == -ESTALE)
          atomic_fetch_add(stale, 1);
      }
      ferry_heap_close(c);
      ft_child_exit();
    }
  }
  static struct rec recs[K];
  static ferry_heap_record hr[K];
  for (uint32_t set = 1; set <= SETS; set++) {
    for (uint32_t i = 0; i < K; i++) {
      recs[i] = (struct rec){i, set, 1, 1, 1, 0};
      recs[i].check = rec_check(&recs[i]);
      hr[i] = (ferry_heap_record){ik(i), &recs[i], sizeof recs[i]};
    }
    CHECK_OK(ferry_heap_replace_all(h, hr, K, FT_TIMEOUT));
    usleep(3000);
  }
  atomic_store(stop, 1);
  for (int w = 0; w < W; w++)
    ft_wait_ok(pids[w], 30000);
  struct rec r;
  ssize_t n;
  int left = 0;
  while ((n = ferry_heap_pop(h, NULL, &r, sizeof r, 0)) == sizeof r) {
    CHECK_EQ(r.gen, SETS); /* the last set only */
    left++;
  }
  CHECK(left <= K);
  printf("  %d pushes refused as stale, %d records of the last set left\n", atomic_load(stale), left);
  CHECK(atomic_load(stale) > 0); /* the race did happen */
  munmap((void *)shared, 4096);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* ---- what a peer may write: issue-8 defects ------------------------------------------
 * The helpers below reach into the heap's mapping the way a hostile or
 * broken peer would. */

static struct ferry__heap_hdr *hdr_of(ferry_heap *h)
{
  return ferry_region_data(ferry_heap_region(h));
}

static uint8_t *area_of(ferry_heap *h, uint32_t ai)
{
  struct ferry__heap_hdr *hh = hdr_of(h);
  return (uint8_t *)hh + hh->areas_offset + ai * hh->area_size;
}

static struct ferry__heap_slot *slot_of(ferry_heap *h, uint32_t ai, uint64_t idx)
{
  struct ferry__heap_hdr *hh = hdr_of(h);
  uint64_t soff = (hh->max_capacity * 28 + 63) & ~(uint64_t)63;
  return (struct ferry__heap_slot *)(area_of(h, ai) + soff + idx * hh->slot_stride);
}

/* Takes the heap's lock through c and ends the process holding it. */
static void die_holding_lock(ferry_heap *c)
{
  ferry_region *cr = ferry_heap_region(c);
  int64_t dl = FERRY__DEADLINE_UNSET;
  if (ferry__rlock_lock(cr, &hdr_of(c)->lock, ferry__rlock_tag(cr), FERRY_SEC, &dl) != 0)
    _exit(3);
  _exit(0);
}

/* Writes the lock word of a holder that is this handle's participant. */
static void lock_word_name(ferry_heap *c)
{
  ferry_region *cr = ferry_heap_region(c);
  atomic_store(&hdr_of(c)->lock.word, ferry__rlock_tag(cr));
}

/* The result a child got from one call on a scribbled heap, in shared
 * memory; the child's death by a signal fails the case. */
enum scribble { SC_COUNT, SC_FREE_TOP, SC_FREE_ENTRY, SC_TOP_INDEX, SC_SLOT_LEN };

static ssize_t scribbled_call(const char *name, enum scribble what)
{
  ssize_t *res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED)
    return INT32_MIN;
  *res = INT32_MIN;
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    struct ferry__heap_hdr *hh = hdr_of(c);
    uint32_t ai = atomic_load(&hh->active) & 1;
    struct ferry__heap_area *a = &hh->area[ai];
    struct ferry__heap_entry *e = (struct ferry__heap_entry *)area_of(c, ai);
    uint32_t *fs = (uint32_t *)(area_of(c, ai) + hh->max_capacity * 24);
    static char big[1 << 16];
    switch (what) {
    case SC_COUNT: /* a pop reads entry n - 1, 2^36 entries on */
      atomic_store(&a->n, UINT64_C(1) << 36);
      *res = ferry_heap_pop(c, NULL, big, sizeof big, 0);
      break;
    case SC_FREE_TOP: /* a pop writes free_stack[free_top] */
      a->free_top = UINT64_C(1) << 33;
      *res = ferry_heap_pop(c, NULL, big, sizeof big, 0);
      break;
    case SC_FREE_ENTRY: /* a push writes the slot the stack names */
      fs[a->free_top - 1] = 0xfffffff0u;
      *res = ferry_heap_push(c, ik(1), "x", 1, FT_TIMEOUT);
      break;
    case SC_TOP_INDEX: /* a pop reads the slot entry 0 names */
      e[0].idx = 0xfffffff0u;
      *res = ferry_heap_pop(c, NULL, big, sizeof big, 0);
      break;
    case SC_SLOT_LEN: /* a pop copies slot.len bytes out */
      slot_of(c, ai, e[0].idx)->len = 40000;
      *res = ferry_heap_pop(c, NULL, big, sizeof big, 0);
      break;
    }
    _exit(0);
  }
  int st = ft_wait(pid, 10000);
  CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ssize_t got = *res;
  munmap(res, 4096);
  return got;
}

/* Defect 1: counts, free-stack entries, the top entry's index and a
 * slot's length are a peer's to write; each one out of range is
 * FERRY_ECORRUPT, never an access outside the heap. */
static void test_scribbled_indices(void)
{
  const enum scribble all[] = {SC_COUNT, SC_FREE_TOP, SC_FREE_ENTRY, SC_TOP_INDEX, SC_SLOT_LEN};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char name[64];
    ft_name(name, sizeof name, "h");
    ferry_heap_options o = opts(16, 16);
    o.flags = FERRY_HEAP_FIXED;
    ferry_heap *h;
    REQUIRE_OK(ferry_heap_create(name, &o, &h));
    for (int k = 0; k < 8; k++)
      CHECK_OK(ferry_heap_push(h, ik(k), &k, sizeof k, FT_TIMEOUT));
    int v;
    CHECK_EQ(ferry_heap_pop(h, NULL, &v, sizeof v, 0), sizeof v); /* one on the free stack */
    ssize_t got = scribbled_call(name, all[i]);
    if (got != FERRY_ECORRUPT)
      ft_fail(__FILE__, __LINE__, "scribble %zu: got %zd, want FERRY_ECORRUPT", i, got);
    ferry_heap_close(h);
    CHECK_OK(ferry_unlink(name));
  }
}

struct flipper {
  _Atomic uint32_t *field;
  uint32_t a, b;
  _Atomic int stop;
};

static void *flip(void *p)
{
  struct flipper *f = p;
  while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
    atomic_store_explicit(f->field, f->a, memory_order_relaxed);
    atomic_store_explicit(f->field, f->b, memory_order_relaxed);
  }
  return NULL;
}

/* Defect 3: a peer changes the header's geometry while others open. The
 * handle is built from the copy open validated, so its limits never come
 * from a value that did not pass the checks. */
static void test_geometry_read_once(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(8, 16);
  o.flags = FERRY_HEAP_FIXED;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  /* After open: the limits stay the ones open checked; validate sees the
   * change. */
  struct ferry__heap_hdr *hh = hdr_of(h);
  hh->max_capacity = 1u << 20;
  hh->capacity = 1u << 20;
  hh->max_payload = 1u << 16;
  static char big[4096];
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.capacity, 8);
  CHECK_EQ(s.max_capacity, 8);
  CHECK_EQ(s.max_payload, 16);
  CHECK_RC(ferry_heap_push(h, ik(1), big, sizeof big, FT_TIMEOUT), -EMSGSIZE);
  for (int i = 0; i < 8; i++)
    CHECK_OK(ferry_heap_push(h, ik(i), "a", 1, FT_TIMEOUT));
  CHECK_RC(ferry_heap_push(h, ik(9), "a", 1, FT_TIMEOUT), -ENOSPC);
  CHECK_RC(ferry_heap_validate(h, FT_TIMEOUT), FERRY_ECORRUPT);
  hh->max_capacity = 8;
  hh->capacity = 8;
  hh->max_payload = 16;
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  /* A max_payload of the same slot stride, sealed with a fresh checksum,
   * passes every check but the comparison with the handle. */
  hh->max_payload = 15;
  hh->checksum = ferry__heap_hdr_checksum(hh);
  CHECK_RC(ferry_heap_validate(h, FT_TIMEOUT), FERRY_ECORRUPT);
  hh->max_payload = 16;
  hh->checksum = ferry__heap_hdr_checksum(hh);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  /* During open: a peer flips a limit while others open. */
  struct flipper f = {(_Atomic uint32_t *)&hh->max_payload, FERRY_HEAP_MAX_PAYLOAD, 16, 0};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, flip, &f) == 0);
  int opened = 0, bad = 0;
  for (int64_t end = ft_ms() + 500; ft_ms() < end && !bad;) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      continue; /* caught mid-flip: a clear error */
    opened++;
    if (ferry_heap_push(c, ik(1), big, sizeof big, FT_TIMEOUT) != -EMSGSIZE)
      bad++;
    ferry_heap_close(c);
  }
  atomic_store(&f.stop, 1);
  pthread_join(t, NULL);
  printf("  %d opens, %d with a payload limit that never passed the checks\n", opened, bad);
  CHECK(opened > 0);
  CHECK_EQ(bad, 0);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static void on_alarm(int sig) { (void)sig; }

/* In a child: a 20 ms SIGALRM without SA_RESTART, as a profiler or a
 * supervisor's timers deliver. */
static void periodic_signal(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 20000}, {0, 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

/* Defect 12: a pusher and a popper that wait under a periodic signal
 * still take the lock over from a holder that died. */
static void test_waits_under_periodic_signal(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 16);
  o.region.liveness_ns = 100 * FERRY_MSEC;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  for (int k = 0; k < 4; k++)
    CHECK_OK(ferry_heap_push(h, ik(k), &k, sizeof k, FT_TIMEOUT));
  for (int round = 0; round < 2; round++) {
    pid_t holder = ft_fork();
    if (holder == 0) {
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      die_holding_lock(c);
    }
    CHECK_EQ(ft_wait(holder, 10000), 0);
    pid_t pid = ft_fork();
    if (pid == 0) {
      periodic_signal();
      ferry_heap *c;
      if (ferry_heap_open(name, NULL, &c) != 0)
        _exit(2);
      int v;
      if (round == 0)
        CHECK_OK(ferry_heap_push(c, ik(9), &round, sizeof round, FERRY_FOREVER));
      else
        CHECK_EQ(ferry_heap_pop(c, NULL, &v, sizeof v, FERRY_FOREVER), sizeof v);
      ferry_heap_close(c);
      ft_child_exit();
    }
    ft_wait_ok(pid, 5000); /* ten times what a take-over needs */
  }
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(h), 4);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* FUTEX_WAKE calls made while armed: the test binary's syscall() is the
 * one the statically linked library calls. */
static _Atomic int count_wakes, wakes;

long syscall(long n, ...)
{
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_futex && atomic_load(&count_wakes) && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAKE)
    atomic_fetch_add(&wakes, 1);
  static long (*real)(long, ...);
  if (!real)
    real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Defect 14: a popper killed while asleep leaves nothing that makes every
 * later push pay a system call. */
static void test_dead_sleeper_costs_nothing(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(256, 8);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    int v;
    ferry_heap_pop(c, NULL, &v, sizeof v, FERRY_FOREVER);
    _exit(0);
  }
  FT_WAIT_UNTIL(ft_in_futex(pid), 500);
  kill(pid, SIGKILL);
  ft_wait(pid, 10000);
  ferry_heap_stats st;
  CHECK_OK(ferry_heap_stats_get(h, &st));
  CHECK_EQ(st.waiters, 1); /* its announcement outlives it ... */
  atomic_store(&wakes, 0);
  atomic_store(&count_wakes, 1);
  for (int k = 0; k < 200; k++)
    CHECK_OK(ferry_heap_push(h, ik(k), &k, sizeof k, FT_TIMEOUT));
  atomic_store(&count_wakes, 0);
  printf("  200 pushes after a sleeper died: %d FUTEX_WAKE calls\n", atomic_load(&wakes));
  CHECK(atomic_load(&wakes) <= 1);
  CHECK_OK(ferry_heap_stats_get(h, &st));
  CHECK_EQ(st.waiters, 0); /* ... until the first push clears it */
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 22: every call that can wait is bounded. A lock word naming a
 * live participant makes callers time out; a word that names a thread id
 * (as the lock of version 1 held, here pid 1: alive) is no holder at all
 * and is taken over. Neither hangs anything. */
static void test_lock_word_scribbled(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 16);
  o.region.liveness_ns = 50 * FERRY_MSEC;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  for (int k = 0; k < 4; k++)
    CHECK_OK(ferry_heap_push(h, ik(k), &k, sizeof k, FT_TIMEOUT));
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t live = ft_fork();
  if (live == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    lock_word_name(c); /* a participant that stays alive, named as holder */
    char b = 'y';
    if (write(go[1], &b, 1) != 1)
      _exit(3);
    for (;;)
      pause();
  }
  char b = 0;
  CHECK(read(go[0], &b, 1) == 1 && b == 'y');
  int v = 0;
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_heap_validate(h, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_heap_push(h, ik(5), &v, sizeof v, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_heap_clear(h, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_heap_pop(h, NULL, &v, sizeof v, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_heap_pop(h, NULL, &v, sizeof v, 0), -ETIMEDOUT); /* a try: a few slices */
  CHECK_RC(ferry_heap_peek(h, NULL, &v, sizeof v), -ETIMEDOUT);
  CHECK(ft_ms() - t0 < 3000);
  kill(live, SIGKILL);
  ft_wait(live, 10000);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT)); /* its death frees the word */
  close(go[0]);
  close(go[1]);

  /* A thread id where the holder's name goes: taken over, no hang. */
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_heap *c;
    if (ferry_heap_open(name, NULL, &c) != 0)
      _exit(2);
    atomic_store((_Atomic uint32_t *)(void *)&hdr_of(c)->lock, 1);
    CHECK_OK(ferry_heap_validate(c, FT_TIMEOUT));
    CHECK_OK(ferry_heap_push(c, ik(5), &v, sizeof v, FT_TIMEOUT));
    ferry_heap_close(c);
    ft_child_exit();
  }
  ft_wait_ok(pid, 5000);
  CHECK_EQ(ferry_heap_size(h), 5);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 23: a count no heap can hold is an error, not a size. */
static void test_impossible_size(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(32, 8);
  o.flags = FERRY_HEAP_FIXED;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  CHECK_OK(ferry_heap_push(h, ik(1), "a", 1, FT_TIMEOUT));
  struct ferry__heap_area *a = &hdr_of(h)->area[atomic_load(&hdr_of(h)->active) & 1];
  const uint64_t bad[] = {UINT64_C(1) << 63, UINT64_MAX, 33};
  ferry_heap_stats s;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    atomic_store(&a->n, bad[i]);
    CHECK_RC(ferry_heap_size(h), FERRY_ECORRUPT);
    CHECK_RC(ferry_heap_stats_get(h, &s), FERRY_ECORRUPT);
  }
  atomic_store(&a->n, 32);
  CHECK_EQ(ferry_heap_size(h), 32); /* possible, though wrong: validate tells */
  CHECK_RC(ferry_heap_validate(h, FT_TIMEOUT), FERRY_ECORRUPT);
  atomic_store(&a->n, 1);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* The lock's holder is a participant, not a thread id: one in another PID
 * namespace (whose pid names nobody here) keeps its lock for as long as it
 * lives, and loses it when it dies. */
static void test_holder_in_other_pid_namespace(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(16, 16);
  o.region.liveness_ns = 50 * FERRY_MSEC;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  int ready[2], initp[2];
  REQUIRE(pipe(ready) == 0 && pipe(initp) == 0);
  pid_t outer = ft_fork();
  if (outer == 0) {
    if (unshare(CLONE_NEWPID) != 0) {
      char b = 's';
      if (write(ready[1], &b, 1) != 1)
        _exit(1);
      _exit(0);
    }
    pid_t init = fork();
    if (init == 0) {
      /* pid 1 of the new namespace; its child, pid 2, holds the lock */
      pid_t member = fork();
      if (member == 0) {
        ferry_heap *c;
        char b = 'n';
        if (ferry_heap_open(name, NULL, &c) == 0) {
          ferry_region *cr = ferry_heap_region(c);
          int64_t dl = FERRY__DEADLINE_UNSET;
          if (ferry__rlock_lock(cr, &hdr_of(c)->lock, ferry__rlock_tag(cr), FERRY_SEC, &dl) == 0)
            b = 'y';
        }
        if (write(ready[1], &b, 1) != 1)
          _exit(1);
        for (;;)
          pause();
      }
      waitpid(member, NULL, 0);
      _exit(0);
    }
    if (write(initp[1], &init, sizeof init) != (ssize_t)sizeof init)
      _exit(1);
    waitpid(init, NULL, 0);
    _exit(0);
  }
  char b = 0;
  pid_t init = 0;
  CHECK(read(ready[0], &b, 1) == 1);
  if (b == 's') {
    ft_wait_ok(outer, 10000);
    ft_skip("cannot create a PID namespace here");
  } else {
    CHECK_EQ(b, 'y');
    CHECK(read(initp[0], &init, sizeof init) == (ssize_t)sizeof init);
    /* Ten liveness periods: a locker that judged by thread id would have
     * taken over long before. */
    CHECK_RC(ferry_heap_push(h, ik(1), "a", 1, 500 * FERRY_MSEC), -ETIMEDOUT);
    CHECK(init > 0);
    if (init > 0)
      kill(init, SIGKILL); /* and with it the whole namespace */
    ft_wait_ok(outer, 10000);
    CHECK_OK(ferry_heap_push(h, ik(1), "a", 1, FT_TIMEOUT));
    CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
    ferry_heap_stats s;
    CHECK_OK(ferry_heap_stats_get(h, &s));
    CHECK_EQ(s.repairs, 1);
  }
  close(ready[0]);
  close(ready[1]);
  close(initp[0]);
  close(initp[1]);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* A handle inherited through fork belongs to the parent: every call in the
 * child is FERRY_EFORKED, and the child's close leaves the parent's heap
 * alone. */
static void test_inherited_handle(void)
{
  char name[64];
  ft_name(name, sizeof name, "h");
  ferry_heap_options o = opts(8, 8);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  CHECK_OK(ferry_heap_push(h, ik(1), "a", 1, FT_TIMEOUT));
  pid_t pid = ft_fork();
  if (pid == 0) {
    char c;
    uint64_t g;
    ferry_heap_stats st;
    int64_t key = 1;
    CHECK_RC(ferry_heap_push(h, ik(2), "b", 1, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_heap_push_ex(h, &key, 8, "b", 1, FERRY_HEAP_GEN_ANY, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_heap_pop(h, NULL, &c, 1, 0), FERRY_EFORKED);
    CHECK_RC(ferry_heap_pop_ex(h, NULL, 0, NULL, &c, 1, NULL, 0), FERRY_EFORKED);
    CHECK_RC(ferry_heap_peek(h, NULL, &c, 1), FERRY_EFORKED);
    CHECK_RC(ferry_heap_size(h), FERRY_EFORKED);
    CHECK_RC(ferry_heap_generation(h, &g), FERRY_EFORKED);
    CHECK_RC(ferry_heap_clear(h, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_heap_replace_all(h, NULL, 0, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_heap_stats_get(h, &st), FERRY_EFORKED);
    CHECK_RC(ferry_heap_validate(h, FT_TIMEOUT), FERRY_EFORKED);
    ferry_heap_close(h);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  CHECK_EQ(ferry_heap_size(h), 1);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static int heap_open_close(const char *name)
{
  ferry_heap *x;
  int rc = ferry_heap_open(name, NULL, &x);
  if (!rc)
    ferry_heap_close(x);
  return rc;
}

/* A header rewritten with the geometry of a smaller heap, which fits
 * inside the region, is refused: it is not the heap that was made. So is
 * a scribble on a field that agrees with every other one: the checksum
 * sees it. */
static void test_rewritten_header(void)
{
  char big[64], small[64];
  ft_name(big, sizeof big, "hgb");
  ft_name(small, sizeof small, "hgs");
  ferry_heap_options o = opts(32, 8);
  ferry_heap *a, *b;
  REQUIRE_OK(ferry_heap_create(big, &o, &a));
  o = opts(16, 8);
  REQUIRE_OK(ferry_heap_create(small, &o, &b));
  CHECK_RC(ft_open_with_bytes(ferry_heap_region(a), 0, ferry_region_data(ferry_heap_region(b)),
                              FERRY__HEAP_HDR_SIZE, heap_open_close),
           FERRY_ECORRUPT);
  uint64_t cap = 31; /* without FIXED, any capacity up to max_capacity */
  CHECK_RC(ft_open_with_bytes(ferry_heap_region(a), offsetof(struct ferry__heap_hdr, capacity),
                              &cap, sizeof cap, heap_open_close),
           FERRY_ECORRUPT);
  CHECK_OK(heap_open_close(big)); /* its own header back: it opens */
  ferry_heap_close(a);
  ferry_heap_close(b);
  CHECK_OK(ferry_unlink(big));
  CHECK_OK(ferry_unlink(small));
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
  RUN(test_scribbled_indices);
  RUN(test_geometry_read_once);
  RUN(test_waits_under_periodic_signal);
  RUN(test_dead_sleeper_costs_nothing);
  RUN(test_lock_word_scribbled);
  RUN(test_impossible_size);
  RUN(test_holder_in_other_pid_namespace);
  RUN(test_bytes_keys);
  RUN(test_order_against_model);
  RUN(test_generations);
  RUN(test_replace_refuses_stale_pushes);
  RUN(test_inherited_handle);
  RUN(test_rewritten_header);
  return ft_done();
}
