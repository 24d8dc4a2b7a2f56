/* SPDX-License-Identifier: MIT */
/*
 * test_list.c: the list's contract, quick tier. Append, extend, insert,
 * get, set, pop (end and middle), replace_all, clear and copy against a
 * model; -ERANGE, -EMSGSIZE and -ENOSPC with nothing changed; bad options
 * and names with nothing left behind; lock timeouts (a try, a bounded wait,
 * a dead holder taken over); the wrong kind; a corrupted state
 * word, index entry, slot length or header is FERRY_ECORRUPT and never a
 * crash; forked writers appending at once with nothing lost or torn; a
 * process dying holding the lock at each step of an append, a set and an
 * insert (whole or absent, and the next locker repairs); and a short kill
 * -9 run. The long kill -9 run is tests/stress/stress_list.c.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/list.h"
#include "ferry/queue.h"
#include "list_layout.h"
#include "fixtures.h"
#include "region_internal.h"
#include "test.h"

/* Every wait of these tests is bounded. */
#define T (10 * FERRY_SEC)

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static ferry_list_options opts(uint64_t cap, uint32_t max_item)
{
  ferry_list_options o;
  ferry_list_options_init(&o);
  o.capacity = cap;
  o.max_item = max_item;
  return o;
}

static struct ferry__list_hdr *hdr(ferry_list *l)
{
  return ferry_region_data(ferry_list_region(l));
}

/* Checks the list holds exactly want[0..n) (ints). */
static void check_ints(ferry_list *l, const int *want, size_t n)
{
  CHECK_EQ(ferry_list_len(l), n);
  for (size_t i = 0; i < n; i++) {
    int v = -12345;
    CHECK_EQ(ferry_list_get(l, i, &v, sizeof v, T), sizeof v);
    CHECK_EQ(v, want[i]);
  }
  CHECK_OK(ferry_list_validate(l, T));
}

static void test_operations_against_model(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  ferry_list_options o = opts(64, 16);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  int model[64];
  size_t n = 0;
  uint64_t rng = 7;
  for (int step = 0; step < 3000; step++) {
    int op = (int)(ft_rand(&rng) % 7), v = (int)(ft_rand(&rng) % 100000);
    if (op == 0 && n < 64) {
      CHECK_OK(ferry_list_append(l, &v, sizeof v, T));
      model[n++] = v;
    } else if (op == 1 && n < 64) {
      uint64_t pos = ft_rand(&rng) % (n + 1);
      CHECK_OK(ferry_list_insert(l, pos, &v, sizeof v, T));
      memmove(model + pos + 1, model + pos, (n - pos) * sizeof *model);
      model[pos] = v;
      n++;
    } else if (op == 2 && n) {
      uint64_t pos = ft_rand(&rng) % n;
      CHECK_OK(ferry_list_set(l, pos, &v, sizeof v, T));
      model[pos] = v;
    } else if (op == 3 && n) {
      uint64_t pos = ft_rand(&rng) % 4 == 0 ? n - 1 : ft_rand(&rng) % n;
      int got = -1;
      CHECK_EQ(ferry_list_pop(l, pos, &got, sizeof got, T), sizeof got);
      CHECK_EQ(got, model[pos]);
      memmove(model + pos, model + pos + 1, (n - pos - 1) * sizeof *model);
      n--;
    } else if (op == 4 && n + 3 <= 64) {
      int vs[3] = {v, v + 1, v + 2};
      ferry_list_item it[3] = {{&vs[0], 4}, {&vs[1], 4}, {&vs[2], 4}};
      CHECK_OK(ferry_list_extend(l, it, 3, T));
      for (int i = 0; i < 3; i++)
        model[n++] = vs[i];
    } else if (op == 5 && ft_rand(&rng) % 20 == 0) {
      size_t k = (size_t)(ft_rand(&rng) % 65);
      int vs[64];
      ferry_list_item it[64];
      for (size_t i = 0; i < k; i++) {
        vs[i] = v + (int)i;
        it[i].data = &vs[i];
        it[i].len = sizeof vs[i];
      }
      CHECK_OK(ferry_list_replace_all(l, it, k, T));
      memcpy(model, vs, k * sizeof *model);
      n = k;
    } else if (op == 6 && ft_rand(&rng) % 50 == 0) {
      CHECK_OK(ferry_list_clear(l, T));
      n = 0;
    }
    if (step % 97 == 0)
      check_ints(l, model, n);
  }
  check_ints(l, model, n);
  /* copy: a snapshot of a range, as (length, bytes) records */
  uint8_t buf[64 * 8];
  uint64_t count = 99;
  ssize_t got = ferry_list_copy(l, 1, 5, buf, sizeof buf, &count, T);
  size_t want_n = n > 1 ? (n - 1 < 5 ? n - 1 : 5) : 0;
  CHECK_EQ(count, want_n);
  CHECK_EQ(got, (ssize_t)(want_n * 8));
  for (size_t i = 0; i < want_n; i++) {
    uint32_t len;
    int v;
    memcpy(&len, buf + i * 8, 4);
    memcpy(&v, buf + i * 8 + 4, 4);
    CHECK_EQ(len, 4);
    CHECK_EQ(v, model[1 + i]);
  }
  if (n > 2)
    CHECK_EQ(ferry_list_copy(l, 0, 3, buf, 10, NULL, T), -ENOBUFS);
  ferry_list_stats st;
  CHECK_OK(ferry_list_stats_get(l, &st));
  CHECK_EQ(st.len, n);
  CHECK_EQ(st.capacity, 64);
  CHECK_EQ(st.max_item, 16);
  CHECK(st.changes > 1000);
  CHECK_EQ(st.repairs, 0);

  /* another handle (another process would do the same) sees it all */
  ferry_list *l2;
  REQUIRE_OK(ferry_list_open(name, NULL, &l2));
  check_ints(l2, model, n);
  ferry_list_close(l2);
  ferry_list_close(l);
  CHECK_OK(ferry_unlink(name));
}

static void test_errors_change_nothing(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  ferry_list_options o = opts(4, 8);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  int a[] = {1, 2, 3};
  for (int i = 0; i < 3; i++)
    CHECK_OK(ferry_list_append(l, &a[i], sizeof a[i], T));
  char big[9] = {0};
  CHECK_EQ(ferry_list_append(l, big, 9, T), -EMSGSIZE);
  CHECK_EQ(ferry_list_insert(l, 0, big, 9, T), -EMSGSIZE);
  CHECK_EQ(ferry_list_set(l, 0, big, 9, T), -EMSGSIZE);
  CHECK_EQ(ferry_list_insert(l, 4, a, 4, T), -ERANGE);
  CHECK_EQ(ferry_list_set(l, 3, a, 4, T), -ERANGE);
  int v;
  CHECK_EQ(ferry_list_get(l, 3, &v, sizeof v, T), -ERANGE);
  CHECK_EQ(ferry_list_pop(l, 7, &v, sizeof v, T), -ERANGE);
  char small[2];
  CHECK_EQ(ferry_list_get(l, 0, small, sizeof small, T), -EMSGSIZE);
  CHECK_EQ(ferry_list_pop(l, 0, small, sizeof small, T), -EMSGSIZE);
  ferry_list_item two[2] = {{a, 4}, {a, 4}};
  CHECK_EQ(ferry_list_extend(l, two, 2, T), -ENOSPC);
  ferry_list_item five[5] = {{a, 4}, {a, 4}, {a, 4}, {a, 4}, {a, 4}};
  CHECK_EQ(ferry_list_replace_all(l, five, 5, T), -ENOSPC);
  ferry_list_item bad[2] = {{a, 4}, {big, 9}};
  CHECK_EQ(ferry_list_replace_all(l, bad, 2, T), -EMSGSIZE);
  CHECK_EQ(ferry_list_extend(l, bad, 2, T), -EMSGSIZE);
  check_ints(l, a, 3);
  CHECK_OK(ferry_list_append(l, a, 4, T));
  CHECK_EQ(ferry_list_append(l, a, 4, T), -ENOSPC);
  CHECK_EQ(ferry_list_insert(l, 0, a, 4, T), -ENOSPC);
  int a4[] = {1, 2, 3, 1};
  check_ints(l, a4, 4);
  /* empty items are items */
  CHECK_OK(ferry_list_pop(l, 3, NULL, 0, T) >= 0 ? 0 : -1);
  CHECK_OK(ferry_list_append(l, NULL, 0, T));
  CHECK_EQ(ferry_list_get(l, 3, NULL, 0, T), 0);
  ferry_list_close(l);

  /* the wrong kind, and bad options, leave nothing behind */
  char qname[64];
  ft_name(qname, sizeof qname, "lq");
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(qname, NULL, &q));
  CHECK_EQ(ferry_list_open(qname, NULL, &l), FERRY_EKIND);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(qname));
  ferry_list *x = NULL;
  CHECK_EQ(ferry_list_open(name, &(ferry_open_options){.timeout_ns = FERRY_SEC,
                                                       .flags = FERRY_OPEN_OBSERVE},
                           &x),
           -EINVAL);
  char bname[64];
  ft_name(bname, sizeof bname, "lb");
  ferry_list_options b = opts(0, 8);
  CHECK_EQ(ferry_list_create(bname, &b, &x), -EINVAL);
  b = opts(FERRY_LIST_MAX_CAPACITY + 1, 8);
  CHECK_EQ(ferry_list_create(bname, &b, &x), -EINVAL);
  b = opts(4, FERRY_LIST_MAX_ITEM + 1);
  CHECK_EQ(ferry_list_create(bname, &b, &x), -EINVAL);
  b = opts(4, 8);
  b.reserved0 = 1;
  CHECK_EQ(ferry_list_create(bname, &b, &x), -EINVAL);
  b = opts(4, 8);
  b.reserved[FERRY_RESERVED_WORDS - 1] = 1;
  CHECK_EQ(ferry_list_create(bname, &b, &x), -EINVAL);
  CHECK_EQ(ferry_list_create("bad/name", NULL, &x), -EINVAL);
  CHECK_EQ(ferry_list_create(name, NULL, &x), -EEXIST);
  CHECK(x == NULL);
  CHECK(!shm_exists(bname));
  CHECK_OK(ferry_unlink(name));
}

/* Every call that locks takes a timeout: a try, a bounded wait, and a
 * holder that dies is taken over. */
static void test_lock_timeouts(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  ferry_list_options o = opts(8, 8);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  int v = 1;
  CHECK_OK(ferry_list_append(l, &v, sizeof v, T));
  CHECK_EQ(ferry_list_append(l, &v, sizeof v, -1), -EINVAL);
  int pfd[2];
  REQUIRE(pipe(pfd) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_list *c;
    if (ferry_list_open(name, NULL, &c) != 0 || ferry_mutex_lock(&hdr(c)->lock, FERRY_SEC) != 0)
      _exit(2);
    (void)!write(pfd[1], "x", 1);
    pause(); /* holds the lock until killed */
    _exit(0);
  }
  char b;
  REQUIRE(read(pfd[0], &b, 1) == 1);
  CHECK_EQ(ferry_list_append(l, &v, sizeof v, 0), -EAGAIN);
  int64_t t0 = ft_ms();
  CHECK_EQ(ferry_list_get(l, 0, &v, sizeof v, 50 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 45);
  CHECK_EQ(ferry_list_clear(l, 0), -EAGAIN);
  CHECK_EQ(ferry_list_validate(l, 0), -EAGAIN);
  CHECK_EQ(ferry_list_len(l), 1); /* len takes no lock */
  kill(pid, SIGKILL);
  ft_wait(pid, 10000);
  CHECK_OK(ferry_list_append(l, &v, sizeof v, T)); /* taken over */
  CHECK_EQ(ferry_list_len(l), 2);
  ferry_list_stats st;
  CHECK_OK(ferry_list_stats_get(l, &st));
  CHECK_EQ(st.repairs, 1);
  close(pfd[0]);
  close(pfd[1]);
  ferry_list_close(l);
  CHECK_OK(ferry_unlink(name));
}

/* A peer scribbling over the shared words gets FERRY_ECORRUPT, never an
 * access outside the region. */
static void test_corruption_detected(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  ferry_list_options o = opts(8, 8);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  int v = 5;
  for (int i = 0; i < 4; i++)
    CHECK_OK(ferry_list_append(l, &v, sizeof v, T));
  struct ferry__list_hdr *h = hdr(l);
  uint64_t st = atomic_load(&h->state);

  atomic_store(&h->state, (st & FERRY__LIST_CUR_BIT) | 9); /* length > capacity */
  ferry_list_stats ls;
  CHECK_EQ(ferry_list_stat(name, &ls), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_get(l, 0, &v, sizeof v, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_append(l, &v, sizeof v, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_len(l), 0);
  CHECK_EQ(ferry_list_validate(l, T), FERRY_ECORRUPT);
  atomic_store(&h->state, st);
  CHECK_OK(ferry_list_validate(l, T));

  _Atomic uint32_t *idx = (_Atomic uint32_t *)((uint8_t *)h + h->index_offset);
  unsigned cur = (st & FERRY__LIST_CUR_BIT) ? 1 : 0;
  uint32_t saved = atomic_load(&idx[cur * 8 + 2]);
  atomic_store(&idx[cur * 8 + 2], 0xfffffff0u); /* a slot out of range */
  CHECK_EQ(ferry_list_get(l, 2, &v, sizeof v, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_set(l, 2, &v, sizeof v, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_insert(l, 0, &v, sizeof v, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_pop(l, 0, &v, sizeof v, T), FERRY_ECORRUPT);
  uint8_t buf[256];
  CHECK_EQ(ferry_list_copy(l, 0, 8, buf, sizeof buf, NULL, T), FERRY_ECORRUPT);
  atomic_store(&idx[cur * 8 + 2], atomic_load(&idx[cur * 8 + 1])); /* a slot twice */
  CHECK_EQ(ferry_list_validate(l, T), FERRY_ECORRUPT);
  atomic_store(&idx[cur * 8 + 2], saved);
  CHECK_OK(ferry_list_validate(l, T));

  struct ferry__list_slot *s0 =
      (struct ferry__list_slot *)((uint8_t *)h + h->slots_offset + saved * h->slot_stride);
  uint32_t len = s0->len;
  s0->len = 1u << 30; /* an item longer than max_item */
  CHECK_EQ(ferry_list_get(l, 2, buf, sizeof buf, T), FERRY_ECORRUPT);
  CHECK_EQ(ferry_list_validate(l, T), FERRY_ECORRUPT);
  s0->len = len;

  uint64_t hw = h->hw;
  h->hw = UINT64_MAX; /* a high-water mark past the slots */
  CHECK_EQ(ferry_list_append(l, &v, sizeof v, T), FERRY_ECORRUPT);
  h->hw = hw;
  uint64_t ft = h->free_top;
  h->free_top = hw + 5; /* a free stack deeper than what was handed out */
  CHECK_EQ(ferry_list_append(l, &v, sizeof v, T), FERRY_ECORRUPT);
  h->free_top = ft;
  CHECK_OK(ferry_list_validate(l, T));
  ferry_list_close(l);

  /* A corrupted immutable header, sealed with a fresh checksum so that
   * the geometry checks must catch it: open refuses. */
  ferry_region *r;
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_LIST, NULL, &r));
  struct ferry__list_hdr *rh = ferry_region_data(r);
  uint64_t so = rh->slots_offset;
  rh->slots_offset = so + 64;
  rh->checksum = ferry__list_hdr_checksum(rh);
  CHECK_EQ(ferry_list_open(name, NULL, &l), FERRY_ECORRUPT);
  rh->slots_offset = so;
  rh->nslots = 7;
  rh->checksum = ferry__list_hdr_checksum(rh);
  CHECK_EQ(ferry_list_open(name, NULL, &l), FERRY_ECORRUPT);
  rh->nslots = 16;
  rh->checksum = ferry__list_hdr_checksum(rh);
  REQUIRE_OK(ferry_list_open(name, NULL, &l));
  /* After open: a sealed max_item of the same slot stride passes every
   * check but the comparison with the handle; validate sees it. */
  rh->max_item = 7;
  rh->checksum = ferry__list_hdr_checksum(rh);
  CHECK_EQ(ferry_list_validate(l, T), FERRY_ECORRUPT);
  rh->max_item = 8;
  CHECK_EQ(ferry_list_validate(l, T), FERRY_ECORRUPT); /* the checksum no longer agrees */
  rh->checksum = ferry__list_hdr_checksum(rh);
  CHECK_OK(ferry_list_validate(l, T));
  ferry_list_close(l);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Forked writers append at once: every item lands once, whole, in each
 * writer's order. */
static void test_writers_no_loss(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  enum { W = 4, N = 500 };
  ferry_list_options o = opts(W * N, 8);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  pid_t pids[W];
  for (int w = 0; w < W; w++) {
    if ((pids[w] = ft_fork()) == 0) {
      ferry_list *c;
      if (ferry_list_open(name, NULL, &c) != 0)
        _exit(2);
      for (uint32_t i = 0; i < N; i++) {
        uint32_t rec[2] = {(uint32_t)w, i};
        if (ferry_list_append(c, rec, sizeof rec, T) != 0)
          _exit(3);
      }
      ferry_list_close(c);
      _exit(0);
    }
  }
  for (int w = 0; w < W; w++)
    ft_wait_ok(pids[w], 30000);
  CHECK_EQ(ferry_list_len(l), W * N);
  uint32_t next[W] = {0};
  for (size_t i = 0; i < W * N; i++) {
    uint32_t rec[2];
    REQUIRE(ferry_list_get(l, i, rec, sizeof rec, T) == sizeof rec);
    REQUIRE(rec[0] < W);
    CHECK_EQ(rec[1], next[rec[0]]);
    next[rec[0]] = rec[1] + 1;
  }
  CHECK_OK(ferry_list_validate(l, T));
  ferry_list_close(l);
  CHECK_OK(ferry_unlink(name));
}

/* ---- death -------------------------------------------------------------------- */

/* What a dying writer had done when it died, holding the lock. */
enum step {
  TOOK_SLOT,    /* took a slot off the stack */
  FILLED,       /* and filled it */
  INDEXED,      /* and wrote the index entry past the length */
  OTHER_BUILT,  /* (insert) built the other index array */
};
/* op: 0 append, 1 insert at 0, 2 set (dies before storing the entry) */

static void die_holding_lock(const char *name, int op, enum step at)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_list *c;
    if (ferry_list_open(name, NULL, &c) != 0)
      _exit(2);
    struct ferry__list_hdr *h = hdr(c);
    if (ferry_mutex_lock(&h->lock, FERRY_SEC) != 0)
      _exit(3);
    uint64_t st = atomic_load(&h->state);
    unsigned cur = (st & FERRY__LIST_CUR_BIT) ? 1 : 0;
    uint64_t len = st & FERRY__LIST_LEN_MASK;
    _Atomic uint32_t *idx = (_Atomic uint32_t *)((uint8_t *)h + h->index_offset);
    /* take a slot as take_slot() does */
    uint32_t s = h->free_top ? ((uint32_t *)((uint8_t *)h + h->free_offset))[--h->free_top]
                             : (uint32_t)h->hw++;
    struct ferry__list_slot *sl =
        (struct ferry__list_slot *)((uint8_t *)h + h->slots_offset + s * h->slot_stride);
    if (at >= FILLED) {
      int v = 666;
      memcpy(sl->data, &v, sizeof v);
      sl->len = sizeof v;
    }
    if (at >= INDEXED && op == 0)
      atomic_store(&idx[cur * h->capacity + len], s);
    if (at >= OTHER_BUILT && op == 1) {
      for (uint64_t i = 0; i < len; i++)
        atomic_store(&idx[(cur ^ 1) * h->capacity + i + 1], atomic_load(&idx[cur * h->capacity + i]));
      atomic_store(&idx[(cur ^ 1) * h->capacity], s);
    }
    _exit(0); /* dies holding the lock: nothing committed */
  }
  CHECK_EQ(ft_wait(pid, 10000), 0);
}

static void test_dies_at_each_step(void)
{
  int base[] = {10, 11, 12, 13};
  for (int op = 0; op < 3; op++) {
    for (int at = TOOK_SLOT; at <= OTHER_BUILT; at++) {
      char name[64];
      ft_name(name, sizeof name, "l");
      ferry_list_options o = opts(8, 8);
      ferry_list *l;
      REQUIRE_OK(ferry_list_create(name, &o, &l));
      for (int i = 0; i < 4; i++)
        CHECK_OK(ferry_list_append(l, &base[i], sizeof base[i], T));
      int v;
      CHECK_EQ(ferry_list_pop(l, 1, &v, sizeof v, T), sizeof v); /* a slot on the stack */
      CHECK_OK(ferry_list_insert(l, 1, &base[1], sizeof base[1], T));
      die_holding_lock(name, op, (enum step)at);
      /* the change is absent; the next locker repairs the free stack */
      check_ints(l, base, 4);
      ferry_list_stats st;
      CHECK_OK(ferry_list_stats_get(l, &st));
      CHECK_EQ(st.repairs, 1);
      /* and the list works on: every slot came back */
      for (int i = 0; i < 4; i++)
        CHECK_OK(ferry_list_append(l, &base[i], sizeof base[i], T));
      CHECK_EQ(ferry_list_append(l, &v, sizeof v, T), -ENOSPC);
      CHECK_OK(ferry_list_validate(l, T));
      ferry_list_close(l);
      CHECK_OK(ferry_unlink(name));
    }
  }
}

/* A child appending 0, 1, 2, ... is SIGKILLed at random instants, again
 * and again; after each kill the list is exactly 0..k-1: no torn, missing
 * or doubled item. */
static void test_kill9_appends_quick(void)
{
  char name[64];
  ft_name(name, sizeof name, "l");
  ferry_list_options o = opts(1 << 16, 64);
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  uint64_t rng = 5;
  int kills = 0;
  int64_t end = ft_ms() + 700;
  while (ft_ms() < end) {
    pid_t pid = ft_fork();
    if (pid == 0) {
      ferry_list *c;
      if (ferry_list_open(name, NULL, &c) != 0)
        _exit(2);
      uint32_t k = (uint32_t)ferry_list_len(c);
      for (;; k++) {
        uint32_t rec[16];
        for (int i = 0; i < 16; i++)
          rec[i] = k * 16 + (uint32_t)i;
        int rc = ferry_list_append(c, rec, sizeof rec, T);
        if (rc == -ENOSPC)
          pause();
        if (rc)
          _exit(3);
      }
    }
    usleep((useconds_t)(ft_rand(&rng) % 4000));
    kill(pid, SIGKILL);
    ft_wait(pid, 10000);
    kills++;
    size_t n = ferry_list_len(l);
    for (size_t i = 0; i < n; i += 1 + n / 64) {
      uint32_t rec[16];
      REQUIRE(ferry_list_get(l, i, rec, sizeof rec, T) == sizeof rec);
      for (int j = 0; j < 16; j++)
        CHECK_EQ(rec[j], i * 16 + (size_t)j);
    }
    CHECK_OK(ferry_list_validate(l, T));
  }
  ferry_list_stats st;
  CHECK_OK(ferry_list_stats_get(l, &st));
  printf("  kills=%d items=%zu repairs=%llu\n", kills, ferry_list_len(l),
         (unsigned long long)st.repairs);
  CHECK(kills > 5);
  ferry_list_close(l);
  CHECK_OK(ferry_unlink(name));
}

static int list_open_close(const char *name)
{
  ferry_list *x;
  int rc = ferry_list_open(name, NULL, &x);
  if (!rc)
    ferry_list_close(x);
  return rc;
}

/* A header rewritten with the geometry of a smaller list, which fits
 * inside the region, is refused: it is not the list that was made. So is
 * a scribble on a field that agrees with every other one: the checksum
 * sees it. */
static void test_rewritten_header(void)
{
  char big[64], small[64];
  ft_name(big, sizeof big, "lgb");
  ft_name(small, sizeof small, "lgs");
  ferry_list_options o = opts(64, 32);
  ferry_list *a, *b;
  REQUIRE_OK(ferry_list_create(big, &o, &a));
  o = opts(32, 32);
  REQUIRE_OK(ferry_list_create(small, &o, &b));
  CHECK_RC(ft_open_with_bytes(ferry_list_region(a), 0, ferry_region_data(ferry_list_region(b)),
                              FERRY__LIST_HDR_SIZE, list_open_close),
           FERRY_ECORRUPT);
  uint32_t max_item = 31; /* 31 and 32 both make 40-byte slots */
  CHECK_RC(ft_open_with_bytes(ferry_list_region(a), offsetof(struct ferry__list_hdr, max_item),
                              &max_item, sizeof max_item, list_open_close),
           FERRY_ECORRUPT);
  CHECK_OK(list_open_close(big)); /* its own header back: it opens */
  ferry_list_close(a);
  ferry_list_close(b);
  CHECK_OK(ferry_unlink(big));
  CHECK_OK(ferry_unlink(small));
}

/* An opener joins the participant table as every other object's does: it
 * shows among the participants, counts against max_participants, and the
 * last of the handles to close unlinks a list made to be unlinked then.
 * Openers used to stay out of the table: the file outlived them all when
 * the creator closed first. */
static void test_openers_are_participants(void)
{
  char name[64];
  ft_name(name, sizeof name, "list-join");
  ferry_list_options o = opts(4, 16);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  o.region.max_participants = 2;
  ferry_list *a, *b, *c;
  REQUIRE_OK(ferry_list_create(name, &o, &a));
  REQUIRE_OK(ferry_list_open(name, NULL, &b));
  CHECK_EQ(ferry_region_participants(ferry_list_region(a), NULL, 0), 2);
  CHECK_RC(ferry_list_open(name, NULL, &c), -EUSERS);
  /* Looking takes no slot and changes nothing: stat works on a full
   * table, and sees what the members see. */
  int v = 7;
  CHECK_OK(ferry_list_append(a, &v, sizeof v, T));
  ferry_list_stats seen, told;
  CHECK_OK(ferry_list_stat(name, &seen));
  CHECK_OK(ferry_list_stats_get(b, &told));
  CHECK_EQ(seen.len, 1);
  CHECK_EQ(seen.capacity, 4);
  CHECK_EQ(seen.max_item, 16);
  CHECK_EQ(seen.changes, told.changes);
  CHECK_EQ(seen.repairs, 0);
  CHECK_EQ(ferry_region_participants(ferry_list_region(a), NULL, 0), 2);
  ferry_list_close(a);
  CHECK(shm_exists(name));
  ferry_list_close(b);
  CHECK(!shm_exists(name));
  CHECK_RC(ferry_list_stat(name, &seen), -ENOENT);

  /* Another kind under the name is refused, not read as a list. */
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &qo, &q));
  CHECK_RC(ferry_list_stat(name, &seen), FERRY_EKIND);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  ferry_sync_set_liveness_ns(50 * FERRY_MSEC);
  RUN(test_operations_against_model);
  RUN(test_errors_change_nothing);
  RUN(test_lock_timeouts);
  RUN(test_corruption_detected);
  RUN(test_writers_no_loss);
  RUN(test_dies_at_each_step);
  RUN(test_kill9_appends_quick);
  RUN(test_rewritten_header);
  RUN(test_openers_are_participants);
  return ft_done();
}
