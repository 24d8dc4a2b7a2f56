/* SPDX-License-Identifier: MIT */
/*
 * test_dict.c: the dict's contract, quick tier. get/set/set_nx/del/cas/
 * update/size/clear, size errors (-E2BIG keys, -EMSGSIZE values and short
 * buffers) with nothing changed, -ENOSPC and slot stealing between
 * stripes, bad input with nothing left behind, a counter that 4 processes
 * increment with compare-and-set (and with update) ending exact, growth
 * past the initial capacity under concurrent load, a cursor running while
 * others write (never torn, every stable key exactly once), a writer
 * killed inside its stripe's critical phase, and a short kill -9 chaos run.
 * Then what a peer may write into the region (the geometry, value lengths,
 * stripe lock words, counts: each an error, never an access outside it,
 * never a hang), a writer waiting under a periodic signal, and a handle
 * inherited through fork. The long chaos run is tests/stress/stress_dict.c.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dict_layout.h"
#include "ferry/dict.h"
#include "ferry/heap.h"
#include "region_internal.h"
#include "fixtures.h"
#include "region_lock.h"
#include "test.h"

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static ferry_dict_options opts(uint64_t cap, uint32_t max_key, uint32_t max_value)
{
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = cap;
  o.max_key = max_key;
  o.max_value = max_value;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  return o;
}

static size_t make_key(char *buf, size_t cap, uint32_t id)
{
  return (size_t)snprintf(buf, cap, "key-%u", id);
}

/* ---- basics ---------------------------------------------------------------------- */

static void test_basic_ops(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 16, 32);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  char buf[64];
  CHECK_RC(ferry_dict_get(d, "a", 1, buf, sizeof buf), -ENOENT);
  CHECK_OK(ferry_dict_set(d, "a", 1, "one", 3, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 3);
  CHECK(memcmp(buf, "one", 3) == 0);
  CHECK_OK(ferry_dict_set(d, "a", 1, "uno!", 4, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 4);
  CHECK(memcmp(buf, "uno!", 4) == 0);
  CHECK_RC(ferry_dict_set_nx(d, "a", 1, "x", 1, FT_TIMEOUT), -EEXIST);
  CHECK_OK(ferry_dict_set_nx(d, "b", 1, "two", 3, FT_TIMEOUT));
  CHECK_OK(ferry_dict_set(d, "", 0, "", 0, FT_TIMEOUT)); /* empty key and value */
  CHECK_EQ(ferry_dict_get(d, "", 0, buf, sizeof buf), 0);
  CHECK_EQ(ferry_dict_size(d), 3);
  /* cas */
  CHECK_RC(ferry_dict_cas(d, "a", 1, "one", 3, "x", 1, FT_TIMEOUT), -EAGAIN);
  CHECK_OK(ferry_dict_cas(d, "a", 1, "uno!", 4, "eins", 4, FT_TIMEOUT));
  CHECK_RC(ferry_dict_cas(d, "zz", 2, "", 0, "x", 1, FT_TIMEOUT), -ENOENT);
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 4);
  CHECK(memcmp(buf, "eins", 4) == 0);
  /* sizes: nothing changes */
  char big[64];
  memset(big, 'k', sizeof big);
  CHECK_RC(ferry_dict_set(d, big, 17, "v", 1, FT_TIMEOUT), -E2BIG);
  CHECK_RC(ferry_dict_get(d, big, 17, buf, sizeof buf), -E2BIG);
  CHECK_RC(ferry_dict_del(d, big, 17, FT_TIMEOUT), -E2BIG);
  CHECK_RC(ferry_dict_set(d, "a", 1, big, 33, FT_TIMEOUT), -EMSGSIZE);
  CHECK_RC(ferry_dict_get(d, "a", 1, buf, 3), -EMSGSIZE);
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 4);
  CHECK_OK(ferry_dict_set(d, big, 16, big, 32, FT_TIMEOUT)); /* exactly the limits */
  CHECK_EQ(ferry_dict_get(d, big, 16, buf, sizeof buf), 32);
  /* del */
  CHECK_OK(ferry_dict_del(d, "b", 1, FT_TIMEOUT));
  CHECK_RC(ferry_dict_del(d, "b", 1, FT_TIMEOUT), -ENOENT);
  CHECK_RC(ferry_dict_get(d, "b", 1, buf, sizeof buf), -ENOENT);
  CHECK_EQ(ferry_dict_size(d), 3);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  CHECK_OK(ferry_dict_clear(d, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_size(d), 0);
  CHECK_RC(ferry_dict_get(d, "a", 1, buf, sizeof buf), -ENOENT);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  CHECK_OK(ferry_dict_set(d, "a", 1, "again", 5, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 5);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static int upd_incr(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                    size_t *out_len, void *arg)
{
  (void)arg;
  uint64_t v = 0;
  if (exists) {
    if (old_len != sizeof v)
      return -EINVAL;
    memcpy(&v, old, sizeof v);
  }
  v++;
  if (out_cap < sizeof v)
    return -EMSGSIZE;
  memcpy(out, &v, sizeof v);
  *out_len = sizeof v;
  return FERRY_DICT_SET;
}

static int upd_verdict(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                       size_t *out_len, void *arg)
{
  (void)old, (void)old_len, (void)exists, (void)out_cap;
  int v = *(int *)arg;
  if (v == FERRY_DICT_SET) {
    memset(out, 'z', out_cap);
    *out_len = out_cap + 8; /* claims more than fits: refused */
  }
  return v;
}

static void test_update(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(8, 16, 32);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  for (int i = 0; i < 5; i++)
    CHECK_RC(ferry_dict_update(d, "n", 1, upd_incr, NULL, FT_TIMEOUT), FERRY_DICT_SET);
  uint64_t v = 0;
  CHECK_EQ(ferry_dict_get(d, "n", 1, &v, sizeof v), sizeof v);
  CHECK_EQ(v, 5);
  int verdict = FERRY_DICT_KEEP;
  CHECK_RC(ferry_dict_update(d, "n", 1, upd_verdict, &verdict, FT_TIMEOUT), FERRY_DICT_KEEP);
  CHECK_RC(ferry_dict_update(d, "m", 1, upd_verdict, &verdict, FT_TIMEOUT), FERRY_DICT_KEEP);
  CHECK_RC(ferry_dict_get(d, "m", 1, &v, sizeof v), -ENOENT);
  verdict = -ECANCELED;
  CHECK_RC(ferry_dict_update(d, "n", 1, upd_verdict, &verdict, FT_TIMEOUT), -ECANCELED);
  verdict = FERRY_DICT_SET; /* claims 40 > 32 bytes: refused */
  CHECK_RC(ferry_dict_update(d, "n", 1, upd_verdict, &verdict, FT_TIMEOUT), -EMSGSIZE);
  CHECK_EQ(ferry_dict_get(d, "n", 1, &v, sizeof v), sizeof v);
  CHECK_EQ(v, 5);
  verdict = FERRY_DICT_DELETE;
  CHECK_RC(ferry_dict_update(d, "n", 1, upd_verdict, &verdict, FT_TIMEOUT), FERRY_DICT_DELETE);
  CHECK_RC(ferry_dict_get(d, "n", 1, &v, sizeof v), -ENOENT);
  CHECK_EQ(ferry_dict_size(d), 0);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static void test_capacity(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(100, 16, 16);
  o.flags = FERRY_DICT_FIXED;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  char k[16];
  for (uint32_t i = 0; i < 100; i++)
    CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, i), "v", 1, FT_TIMEOUT));
  CHECK_RC(ferry_dict_set(d, k, make_key(k, sizeof k, 100), "v", 1, FT_TIMEOUT), -ENOSPC);
  CHECK_EQ(ferry_dict_size(d), 100);
  CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, 5), "w", 1, FT_TIMEOUT)); /* replace: fine */
  /* free slots land in their stripes; new keys hash elsewhere: stealing */
  for (uint32_t i = 0; i < 50; i++)
    CHECK_OK(ferry_dict_del(d, k, make_key(k, sizeof k, i), FT_TIMEOUT));
  for (uint32_t i = 1000; i < 1050; i++)
    CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, i), "v", 1, FT_TIMEOUT));
  CHECK_RC(ferry_dict_set(d, k, make_key(k, sizeof k, 2000), "v", 1, FT_TIMEOUT), -ENOSPC);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.size, 100);
  CHECK_EQ(s.slots_used, 100);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static void test_bad_input(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict *d = NULL;
  ferry_dict_options o = opts(16, 16, 16);
  CHECK_RC(ferry_dict_create("bad/name", &o, &d), -EINVAL);
  CHECK_RC(ferry_dict_create("", &o, &d), -EINVAL);
  o.capacity = 0;
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(16, 0, 16);
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(16, 16, 0);
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(16, FERRY_DICT_MAX_KEY + 1, 16);
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(16, 16, 16);
  o.flags = 0x40;
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(16, 16, 16);
  o.max_capacity = 8;
  CHECK_RC(ferry_dict_create(name, &o, &d), -EINVAL);
  o = opts(FERRY_DICT_MAX_CAPACITY, FERRY_DICT_MAX_KEY, FERRY_DICT_MAX_VALUE);
  o.flags = FERRY_DICT_FIXED;
  int rc = ferry_dict_create(name, &o, &d); /* ~2^51 bytes */
  CHECK(rc == -EOVERFLOW || rc == -ENOSPC || rc == -ENOMEM || rc == -EFBIG);
  CHECK(d == NULL);
  CHECK(!shm_exists(name));
  CHECK_RC(ferry_dict_open(name, NULL, &d), -ENOENT);
  CHECK_RC(ferry_dict_open("a b", NULL, &d), -EINVAL);
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, NULL, &h));
  CHECK_RC(ferry_dict_open(name, NULL, &d), FERRY_EKIND);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
  o = opts(16, 16, 16);
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  ferry_dict *d2 = NULL;
  CHECK_RC(ferry_dict_create(name, &o, &d2), -EEXIST);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry_dict_open(name, &oo, &d2), -EINVAL);
  CHECK(d2 == NULL);
  REQUIRE_OK(ferry_dict_open(name, NULL, &d2));
  CHECK_OK(ferry_dict_set(d2, "k", 1, "v", 1, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_size(d), 1);
  ferry_dict_close(d2);
  ferry_dict_close(d);
  ferry_dict_close(NULL);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
}

/* ---- concurrency -------------------------------------------------------------------- */

static void test_cas_counter(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 16, 16);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  uint64_t zero = 0;
  CHECK_OK(ferry_dict_set(d, "ctr", 3, &zero, sizeof zero, FT_TIMEOUT));
  enum { P = 4, M = 5000 };
  pid_t pids[P];
  for (int p = 0; p < P; p++) {
    if ((pids[p] = ft_fork()) == 0) {
      ferry_dict *c;
      if (ferry_dict_open(name, NULL, &c) != 0)
        _exit(2);
      for (int i = 0; i < M; i++) {
        for (;;) {
          uint64_t cur, next;
          CHECK_EQ(ferry_dict_get(c, "ctr", 3, &cur, sizeof cur), sizeof cur);
          next = cur + 1;
          int rc = ferry_dict_cas(c, "ctr", 3, &cur, sizeof cur, &next, sizeof next, FT_TIMEOUT);
          if (rc == 0)
            break;
          CHECK_RC(rc, -EAGAIN);
          if (rc != -EAGAIN)
            break;
        }
        CHECK_RC(ferry_dict_update(c, "upd", 3, upd_incr, NULL, FT_TIMEOUT), FERRY_DICT_SET);
      }
      ferry_dict_close(c);
      ft_child_exit();
    }
  }
  for (int p = 0; p < P; p++)
    ft_wait_ok(pids[p], 60000);
  uint64_t v = 0;
  CHECK_EQ(ferry_dict_get(d, "ctr", 3, &v, sizeof v), sizeof v);
  CHECK_EQ(v, (uint64_t)P * M);
  CHECK_EQ(ferry_dict_get(d, "upd", 3, &v, sizeof v), sizeof v);
  CHECK_EQ(v, (uint64_t)P * M);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* Inserts past the initial capacity from several processes while a reader
 * checks what it finds. */
static void test_growth_under_load(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  enum { P = 4, PER = 3000 };
  ferry_dict_options o = opts(256, 16, 128);
  o.max_capacity = P * PER + 100;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  pid_t pids[P + 1];
  for (int p = 0; p < P; p++) {
    if ((pids[p] = ft_fork()) == 0) {
      ferry_dict *c;
      if (ferry_dict_open(name, NULL, &c) != 0)
        _exit(2);
      char k[16];
      uint8_t v[128];
      for (uint32_t i = 0; i < PER; i++) {
        uint32_t id = (uint32_t)p * PER + i;
        CHECK_OK(ferry_dict_set(c, k, make_key(k, sizeof k, id), v, ft_payload_make(v, sizeof v, id, 1), FT_TIMEOUT));
      }
      ferry_dict_close(c);
      ft_child_exit();
    }
  }
  if ((pids[P] = ft_fork()) == 0) { /* a reader */
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    uint64_t rng = 5;
    char k[16];
    uint8_t v[128];
    for (int i = 0; i < 200000 && ferry_dict_size(c) < (ssize_t)P * PER; i++) {
      uint32_t id = (uint32_t)(ft_rand(&rng) % (P * PER));
      ssize_t n = ferry_dict_get(c, k, make_key(k, sizeof k, id), v, sizeof v);
      if (n != -ENOENT)
        CHECK(n > 0 && ft_payload_is(v, (size_t)n, id));
    }
    ferry_dict_close(c);
    ft_child_exit();
  }
  for (int p = 0; p <= P; p++)
    ft_wait_ok(pids[p], 60000);
  CHECK_EQ(ferry_dict_size(d), P * PER);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  char k[16];
  uint8_t v[128];
  for (uint32_t id = 0; id < P * PER; id++) {
    ssize_t n = ferry_dict_get(d, k, make_key(k, sizeof k, id), v, sizeof v);
    CHECK(n > 0 && ft_payload_is(v, (size_t)n, id));
  }
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* Stable keys 0..S-1 (values rewritten by writers), churn keys S.. added and
 * removed; the cursor must return each stable key exactly once per pass and
 * never a torn entry. */
static void test_cursor_while_writing(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  enum { S = 1000, CHURN = 2000, W = 2 };
  ferry_dict_options o = opts(S + CHURN + 64, 16, 128);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  char k[16];
  uint8_t v[128];
  for (uint32_t id = 0; id < S; id++)
    CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, id), v, ft_payload_make(v, sizeof v, id, 0), FT_TIMEOUT));
  _Atomic int *stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(stop != MAP_FAILED);
  pid_t pids[W];
  for (int w = 0; w < W; w++) {
    if ((pids[w] = ft_fork()) == 0) {
      ferry_dict *c;
      if (ferry_dict_open(name, NULL, &c) != 0)
        _exit(2);
      uint64_t rng = 77 + (uint64_t)w;
      char kk[16];
      uint8_t vv[128];
      for (uint32_t ver = 1; !atomic_load(stop); ver++) {
        uint32_t id = (uint32_t)(ft_rand(&rng) % (S + CHURN));
        size_t kl = make_key(kk, sizeof kk, id);
        if (id >= S && ft_rand(&rng) % 2)
          ferry_dict_del(c, kk, kl, FT_TIMEOUT);
        else
          CHECK_OK(ferry_dict_set(c, kk, kl, vv, ft_payload_make(vv, sizeof vv, id, ver), FT_TIMEOUT));
      }
      ferry_dict_close(c);
      ft_child_exit();
    }
  }
  uint8_t *seen = calloc(S, 1);
  for (int pass = 0; pass < 20; pass++) {
    memset(seen, 0, S);
    uint64_t cur = 0;
    size_t kl, vl;
    int rc;
    char kk[17];
    while ((rc = ferry_dict_next(d, &cur, kk, 16, &kl, v, sizeof v, &vl)) == 1) {
      kk[kl] = 0;
      unsigned id;
      CHECK(sscanf(kk, "key-%u", &id) == 1);
      CHECK(ft_payload_is(v, vl, id));
      if (id < S) {
        CHECK(!seen[id]);
        seen[id] = 1;
      }
    }
    CHECK_RC(rc, 0);
    for (uint32_t id = 0; id < S; id++)
      if (!seen[id]) {
        ft_fail(__FILE__, __LINE__, "pass %d: stable key %u not seen", pass, id);
        break;
      }
  }
  free(seen);
  atomic_store(stop, 1);
  for (int w = 0; w < W; w++)
    ft_wait_ok(pids[w], 30000);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  munmap(stop, 4096);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* ---- death -------------------------------------------------------------------------- */

/* A child takes a stripe's lock, opens its seqlock phase, garbles the
 * bucket chain and dies; readers fall back to the lock, whose next holder
 * rebuilds the stripe from the slots. */
static void test_writer_dies_in_stripe(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 16, 32);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  char k[16];
  uint8_t v[32];
  for (uint32_t id = 0; id < 40; id++)
    CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, id), v, ft_payload_make(v, sizeof v, id, 0), FT_TIMEOUT));
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    struct ferry__dict_hdr *h = ferry_region_data(ferry_dict_region(c));
    struct ferry__dict_stripe *st = (struct ferry__dict_stripe *)((uint8_t *)h + h->stripes_offset);
    _Atomic uint32_t *bk = (_Atomic uint32_t *)((uint8_t *)h + h->buckets_offset);
    /* every stripe holding a bucket of key 0..39: take the first such */
    for (uint64_t b = 0; b < h->nbuckets; b++) {
      if (!atomic_load(&bk[b]))
        continue;
      uint32_t s = (uint32_t)(b & (h->nstripes - 1));
      ferry_region *cr = ferry_dict_region(c);
      int64_t dl = FERRY__DEADLINE_UNSET;
      if (ferry__rlock_lock(cr, &st[s].lock, ferry__rlock_tag(cr), FERRY_SEC, &dl) != 0)
        _exit(3);
      atomic_fetch_add(&st[s].seq, 1); /* odd: inside a write */
      atomic_store(&bk[b], 0);         /* chain cut */
      _exit(0);                        /* dies holding the stripe */
    }
    _exit(4);
  }
  CHECK_EQ(ft_wait(pid, 10000), 0);
  for (uint32_t id = 0; id < 40; id++) {
    ssize_t n = ferry_dict_get(d, k, make_key(k, sizeof k, id), v, sizeof v);
    CHECK(n > 0 && ft_payload_is(v, (size_t)n, id));
  }
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_size(d), 40);
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.repairs, 1);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static void chaos_worker(const char *name, uint64_t seed, uint32_t nkeys)
{
  ferry_dict *c;
  if (ferry_dict_open(name, NULL, &c) != 0)
    _exit(2);
  uint64_t rng = seed;
  char k[16];
  uint8_t v[128];
  for (uint32_t ver = 1;; ver++) {
    uint32_t id = (uint32_t)(ft_rand(&rng) % nkeys);
    size_t kl = make_key(k, sizeof k, id);
    switch (ft_rand(&rng) % 4) {
    case 0:
      ferry_dict_del(c, k, kl, FT_TIMEOUT);
      break;
    case 1: {
      ssize_t n = ferry_dict_get(c, k, kl, v, sizeof v);
      if (n >= 0 && !ft_payload_is(v, (size_t)n, id))
        _exit(5);
      break;
    }
    default:
      ferry_dict_set(c, k, kl, v, ft_payload_make(v, sizeof v, id, ver), FT_TIMEOUT);
    }
  }
}

static void test_kill9_chaos_quick(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  enum { W = 3, NK = 500 };
  ferry_dict_options o = opts(NK + 200, 16, 128);
  o.flags = FERRY_DICT_FIXED;
  o.region.max_participants = 16;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  pid_t pids[W];
  for (int w = 0; w < W; w++)
    if ((pids[w] = ft_fork()) == 0)
      chaos_worker(name, 10 + (uint64_t)w, NK);
  uint64_t rng = 3;
  int kills = 0;
  int64_t end = ft_ms() + 600;
  while (ft_ms() < end) {
    usleep((useconds_t)(ft_rand(&rng) % 3000));
    int w = (int)(ft_rand(&rng) % W);
    kill(pids[w], SIGKILL);
    int st = ft_wait(pids[w], 10000);
    CHECK(WIFSIGNALED(st)); /* never exited on a torn read */
    kills++;
    if ((pids[w] = ft_fork()) == 0)
      chaos_worker(name, 1000 + (uint64_t)kills, NK);
  }
  for (int w = 0; w < W; w++) {
    kill(pids[w], SIGKILL);
    int st = ft_wait(pids[w], 10000);
    CHECK(WIFSIGNALED(st));
  }
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  uint64_t cur = 0;
  size_t kl, vl;
  char k[17];
  uint8_t v[128];
  size_t n = 0;
  int rc;
  while ((rc = ferry_dict_next(d, &cur, k, 16, &kl, v, sizeof v, &vl)) == 1) {
    k[kl] = 0;
    unsigned id;
    CHECK(sscanf(k, "key-%u", &id) == 1 && ft_payload_is(v, vl, id));
    n++;
  }
  CHECK_RC(rc, 0);
  CHECK_EQ(n, ferry_dict_size(d));
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  printf("  kills=%d size=%zu slots_used=%llu repairs=%llu\n", kills, n,
         (unsigned long long)s.slots_used, (unsigned long long)s.repairs);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* ---- what a peer may write: issue-8 defects ------------------------------------------ */

static struct ferry__dict_hdr *hdr_of(ferry_dict *d)
{
  return ferry_region_data(ferry_dict_region(d));
}

static struct ferry__dict_stripe *stripes_of(ferry_dict *d)
{
  return (struct ferry__dict_stripe *)((uint8_t *)hdr_of(d) + hdr_of(d)->stripes_offset);
}

/* Slot idx as the library lays it out (slot 0 is the first insert's). */
static struct ferry__dict_slot *slot_of(ferry_dict *d, uint64_t idx)
{
  struct ferry__dict_hdr *h = hdr_of(d);
  return (struct ferry__dict_slot *)((uint8_t *)h + h->slots_offset + idx * h->slot_stride);
}

/* The stripe key k falls in: found by taking each stripe lock in a child
 * would be slow; instead, the one whose bucket chain holds slot idx. */
static uint32_t stripe_of_slot(ferry_dict *d, uint64_t idx)
{
  return atomic_load(&slot_of(d, idx)->stripe) - 1;
}

/* Takes stripe s's lock through c and ends the process holding it. */
static void die_holding_stripe(ferry_dict *c, uint32_t s)
{
  ferry_region *cr = ferry_dict_region(c);
  int64_t dl = FERRY__DEADLINE_UNSET;
  if (ferry__rlock_lock(cr, &stripes_of(c)[s].lock, ferry__rlock_tag(cr), FERRY_SEC, &dl) != 0)
    _exit(3);
  _exit(0);
}

/* Writes stripe s's lock word naming this handle's participant. */
static void stripe_word_name(ferry_dict *c, uint32_t s)
{
  atomic_store(&stripes_of(c)[s].lock.word, ferry__rlock_tag(ferry_dict_region(c)));
}

/* Defect 3: after open, a peer rewrites the header's geometry; the
 * handle's limits stay the ones open checked, and validate sees it. */
static void test_geometry_read_once(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(8, 8, 8);
  o.flags = FERRY_DICT_FIXED;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  struct ferry__dict_hdr *h = hdr_of(d);
  h->capacity = h->max_capacity = 1u << 20;
  h->max_key = h->max_value = 1u << 12;
  char big[64] = {0};
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.capacity, 8);
  CHECK_EQ(s.max_capacity, 8);
  CHECK_EQ(s.max_key, 8);
  CHECK_EQ(s.max_value, 8);
  CHECK_RC(ferry_dict_set(d, "k", 1, big, sizeof big, FT_TIMEOUT), -EMSGSIZE);
  CHECK_RC(ferry_dict_set(d, big, sizeof big, "v", 1, FT_TIMEOUT), -E2BIG);
  CHECK_RC(ferry_dict_validate(d, FT_TIMEOUT), FERRY_ECORRUPT);
  h->capacity = h->max_capacity = 8;
  h->max_key = h->max_value = 8;
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  /* A max_key of the same slot stride, sealed with a fresh checksum,
   * passes every check but the comparison with the handle. */
  h->max_key = 7;
  h->checksum = ferry__dict_hdr_checksum(h);
  CHECK_RC(ferry_dict_validate(d, FT_TIMEOUT), FERRY_ECORRUPT);
  h->max_key = 8;
  h->checksum = ferry__dict_hdr_checksum(h);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static void on_alarm(int sig) { (void)sig; }

static void periodic_signal(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 20000}, {0, 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

/* Defect 12: a writer that waits for a stripe under a periodic signal
 * still takes it over from a holder that died. */
static void test_writer_under_periodic_signal(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 16, 16);
  o.region.liveness_ns = 100 * FERRY_MSEC;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  CHECK_OK(ferry_dict_set(d, "key", 3, "v1", 2, FT_TIMEOUT));
  uint32_t s = stripe_of_slot(d, 0);
  pid_t holder = ft_fork();
  if (holder == 0) {
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    die_holding_stripe(c, s);
  }
  CHECK_EQ(ft_wait(holder, 10000), 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    periodic_signal();
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    CHECK_OK(ferry_dict_set(c, "key", 3, "v2", 2, FERRY_FOREVER));
    ferry_dict_close(c);
    ft_child_exit();
  }
  ft_wait_ok(pid, 5000);
  char v[4];
  CHECK_EQ(ferry_dict_get(d, "key", 3, v, sizeof v), 2);
  CHECK(memcmp(v, "v2", 2) == 0);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static size_t seen_len;

static int record_len(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                      size_t *out_len, void *arg)
{
  (void)old, (void)exists, (void)out, (void)out_cap, (void)out_len, (void)arg;
  seen_len = old_len;
  return FERRY_DICT_KEEP;
}

/* Defect 17: a value length no writer could store never reaches an update
 * callback or a compare; an expected value longer than any value is a
 * size error. */
static void test_value_length_scribbled(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(16, 16, 32);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  CHECK_OK(ferry_dict_set(d, "key", 3, "value", 5, FT_TIMEOUT));
  struct ferry__dict_slot *sl = slot_of(d, 0); /* the first insert's */
  uint64_t good = atomic_load(&sl->vword);
  /* a length far past the slot */
  atomic_store(&sl->vword, (UINT64_C(1) << 40) << 1 | (good & 1));
  seen_len = 0;
  CHECK_RC(ferry_dict_update(d, "key", 3, record_len, NULL, FT_TIMEOUT), FERRY_ECORRUPT);
  CHECK_EQ(seen_len, 0);
  /* a compare whose expected length matches a scribbled one: the memcmp
   * would read past the value buffer into the next slot */
  static uint8_t expect[4096];
  size_t elen = 32 + 200;
  uint8_t *vbuf = (uint8_t *)sl + 48 + 16 + (good & 1) * 32;
  memcpy(expect, vbuf, elen); /* what lies there now */
  atomic_store(&sl->vword, (uint64_t)elen << 1 | (good & 1));
  CHECK_RC(ferry_dict_cas(d, "key", 3, expect, elen, "x", 1, FT_TIMEOUT), -EMSGSIZE);
  atomic_store(&sl->vword, good);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  CHECK_OK(ferry_dict_update(d, "key", 3, record_len, NULL, FT_TIMEOUT));
  CHECK_EQ(seen_len, 5);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 22: a stripe lock word that names a live participant makes
 * writers and validate time out and readers give up after their bounded
 * wait; a thread id in the word (pid 1: alive) is no holder, and is taken
 * over. Nothing hangs. */
static void test_stripe_word_scribbled(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 16, 16);
  o.region.liveness_ns = 50 * FERRY_MSEC;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  CHECK_OK(ferry_dict_set(d, "key", 3, "v1", 2, FT_TIMEOUT));
  uint32_t s = stripe_of_slot(d, 0);
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t live = ft_fork();
  if (live == 0) {
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    stripe_word_name(c, s);
    atomic_fetch_add(&stripes_of(c)[s].seq, 1); /* "inside a write": readers queue */
    char b = 'y';
    if (write(go[1], &b, 1) != 1)
      _exit(3);
    for (;;)
      pause();
  }
  char b = 0;
  CHECK(read(go[0], &b, 1) == 1 && b == 'y');
  char v[4];
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_dict_validate(d, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_dict_set(d, "key", 3, "v2", 2, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_dict_del(d, "key", 3, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_dict_clear(d, 200 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_dict_get(d, "key", 3, v, sizeof v), -ETIMEDOUT);
  CHECK(ft_ms() - t0 < 3000);
  kill(live, SIGKILL);
  ft_wait(live, 10000);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT)); /* its death frees the word */
  CHECK_EQ(ferry_dict_get(d, "key", 3, v, sizeof v), 2);
  close(go[0]);
  close(go[1]);

  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_dict *c;
    if (ferry_dict_open(name, NULL, &c) != 0)
      _exit(2);
    atomic_store((_Atomic uint32_t *)(void *)&stripes_of(c)[s].lock, 1);
    CHECK_OK(ferry_dict_validate(c, FT_TIMEOUT));
    CHECK_OK(ferry_dict_set(c, "key", 3, "v3", 2, FT_TIMEOUT));
    ferry_dict_close(c);
    ft_child_exit();
  }
  ft_wait_ok(pid, 5000);
  CHECK_EQ(ferry_dict_get(d, "key", 3, v, sizeof v), 2);
  CHECK(memcmp(v, "v3", 2) == 0);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 23: counts no dict can hold are an error, not a size. */
static void test_impossible_size(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(32, 8, 8);
  o.flags = FERRY_DICT_FIXED;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  CHECK_OK(ferry_dict_set(d, "k", 1, "v", 1, FT_TIMEOUT));
  struct ferry__dict_stripe *st = stripes_of(d);
  uint64_t c0 = atomic_load(&st[0].count), c1 = atomic_load(&st[1].count);
  ferry_dict_stats s;
  atomic_store(&st[0].count, UINT64_C(1) << 63); /* one stripe past any size */
  CHECK_RC(ferry_dict_size(d), FERRY_ECORRUPT);
  CHECK_RC(ferry_dict_stats_get(d, &s), FERRY_ECORRUPT);
  atomic_store(&st[0].count, 20); /* each possible, the sum not */
  atomic_store(&st[1].count, 20);
  CHECK_RC(ferry_dict_size(d), FERRY_ECORRUPT);
  atomic_store(&st[0].count, c0);
  atomic_store(&st[1].count, c1);
  atomic_store(&hdr_of(d)->hw, UINT64_C(1) << 40); /* slots handed out */
  CHECK_RC(ferry_dict_stats_get(d, &s), FERRY_ECORRUPT);
  CHECK_RC(ferry_dict_validate(d, FT_TIMEOUT), FERRY_ECORRUPT);
  atomic_store(&hdr_of(d)->hw, 1);
  CHECK_EQ(ferry_dict_size(d), 1);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* A handle inherited through fork belongs to the parent: every call in the
 * child is FERRY_EFORKED. */
static void test_inherited_handle(void)
{
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(16, 8, 8);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  CHECK_OK(ferry_dict_set(d, "k", 1, "v", 1, FT_TIMEOUT));
  pid_t pid = ft_fork();
  if (pid == 0) {
    char v[8];
    uint64_t cur = 0;
    size_t kl, vl;
    ferry_dict_stats st;
    CHECK_RC(ferry_dict_get(d, "k", 1, v, sizeof v), FERRY_EFORKED);
    CHECK_RC(ferry_dict_set(d, "k", 1, "w", 1, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_set_nx(d, "j", 1, "w", 1, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_cas(d, "k", 1, "v", 1, "w", 1, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_del(d, "k", 1, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_update(d, "k", 1, record_len, NULL, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_size(d), FERRY_EFORKED);
    CHECK_RC(ferry_dict_clear(d, FT_TIMEOUT), FERRY_EFORKED);
    CHECK_RC(ferry_dict_next(d, &cur, v, sizeof v, &kl, v, sizeof v, &vl), FERRY_EFORKED);
    CHECK_RC(ferry_dict_stats_get(d, &st), FERRY_EFORKED);
    CHECK_RC(ferry_dict_validate(d, FT_TIMEOUT), FERRY_EFORKED);
    ferry_dict_close(d);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  CHECK_EQ(ferry_dict_size(d), 1);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* The hash as the layout defines it (stored in every slot, checked by
 * validate): written the plain way, byte by byte into a zeroed tail word,
 * to pin the library's faster loads to the same values. */
static uint64_t reference_hash(const uint8_t *s, size_t n)
{
  uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (n * UINT64_C(0xff51afd7ed558ccd));
  for (; n >= 8; s += 8, n -= 8) {
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
      w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 32;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++)
    w |= (uint64_t)s[i] << (8 * i);
  h = (h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 29;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 32;
  return h;
}

/* Keys of every length from 1 to 40 bytes (the short-key loads of the
 * hash and the compare): each stored hash is the reference one, and keys
 * that differ from a stored one in a single byte, at any position, are
 * not found, while the stored ones are, whole. */
static void test_key_lengths(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  char name[64];
  ft_name(name, sizeof name, "d");
  ferry_dict_options o = opts(64, 40, 16);
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  uint8_t keys[41][40];
  for (size_t n = 1; n <= 40; n++) {
    for (size_t i = 0; i < n; i++)
      keys[n][i] = (uint8_t)(0x80 + 7 * n + 13 * i); /* high bits set: no sign games */
    uint64_t v = n;
    CHECK_OK(ferry_dict_set(d, keys[n], n, &v, sizeof v, FT_TIMEOUT));
  }
  for (uint64_t idx = 0; idx < 40; idx++) {
    struct ferry__dict_slot *sl = slot_of(d, idx);
    size_t n = sl->klen;
    CHECK(n >= 1 && n <= 40);
    CHECK_EQ(sl->hash, reference_hash(keys[n], n));
  }
  for (size_t n = 1; n <= 40; n++) {
    uint64_t v = 0;
    CHECK_EQ(ferry_dict_get(d, keys[n], n, &v, sizeof v), (ssize_t)sizeof v);
    CHECK_EQ(v, n);
    uint8_t k[40];
    for (size_t i = 0; i < n; i++) {
      memcpy(k, keys[n], n);
      k[i] ^= 1;
      CHECK_RC(ferry_dict_get(d, k, n, &v, sizeof v), -ENOENT);
    }
  }
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
#endif
}

static int dict_open_close(const char *name)
{
  ferry_dict *x;
  int rc = ferry_dict_open(name, NULL, &x);
  if (!rc)
    ferry_dict_close(x);
  return rc;
}

/* A header rewritten with the geometry of a smaller dict, which fits
 * inside the region, is refused: it is not the dict that was made. So is
 * a scribble on a field that agrees with every other one: the checksum
 * sees it. */
static void test_rewritten_header(void)
{
  char big[64], small[64];
  ft_name(big, sizeof big, "dgb");
  ft_name(small, sizeof small, "dgs");
  ferry_dict_options o = opts(64, 16, 16);
  ferry_dict *a, *b;
  REQUIRE_OK(ferry_dict_create(big, &o, &a));
  o = opts(32, 16, 16);
  REQUIRE_OK(ferry_dict_create(small, &o, &b));
  CHECK_RC(ft_open_with_bytes(ferry_dict_region(a), 0, ferry_region_data(ferry_dict_region(b)),
                              FERRY__DICT_HDR_SIZE, dict_open_close),
           FERRY_ECORRUPT);
  uint64_t cap = 63; /* without FIXED, any capacity up to max_capacity */
  CHECK_RC(ft_open_with_bytes(ferry_dict_region(a), offsetof(struct ferry__dict_hdr, capacity),
                              &cap, sizeof cap, dict_open_close),
           FERRY_ECORRUPT);
  CHECK_OK(dict_open_close(big)); /* its own header back: it opens */
  ferry_dict_close(a);
  ferry_dict_close(b);
  CHECK_OK(ferry_unlink(big));
  CHECK_OK(ferry_unlink(small));
}

int main(void)
{
  RUN(test_basic_ops);
  RUN(test_update);
  RUN(test_capacity);
  RUN(test_bad_input);
  RUN(test_cas_counter);
  RUN(test_growth_under_load);
  RUN(test_cursor_while_writing);
  RUN(test_writer_dies_in_stripe);
  RUN(test_kill9_chaos_quick);
  RUN(test_geometry_read_once);
  RUN(test_writer_under_periodic_signal);
  RUN(test_value_length_scribbled);
  RUN(test_stripe_word_scribbled);
  RUN(test_impossible_size);
  RUN(test_inherited_handle);
  RUN(test_key_lengths);
  RUN(test_rewritten_header);
  return ft_done();
}
