/* SPDX-License-Identifier: MIT */
/*
 * test_queue.c: the queue's contract, quick tier. Copy and zero-copy paths,
 * batches, sizes (-EMSGSIZE with nothing written), timeouts, roles, bad
 * input with nothing left behind, shutdown, end of stream when producers
 * close and when they die, a consumer dying with a message held, a producer
 * dying inside a reservation (a hole, never a torn message), statistics,
 * validate, and a small forked N x M run with per-producer sequence
 * numbers and checksums. The long and chaos runs are in
 * tests/stress/stress_queue.c.
 */
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/queue.h"
#include "fixtures.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------- */

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static ferry_queue_options opts(uint32_t cap, uint32_t max_msg, uint32_t role)
{
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.role = role;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  o.spin_ns = 2000;
  return o;
}

/* ---- basics ------------------------------------------------------------------- */

static void test_put_get_fifo(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(8, 64, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  char buf[64];
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN);
  for (int round = 0; round < 5; round++) { /* wraps the ring several times */
    for (int i = 0; i < 8; i++) {
      snprintf(buf, sizeof buf, "m%d-%d", round, i);
      CHECK_OK(ferry_queue_put(q, buf, strlen(buf), 0));
    }
    CHECK_EQ(ferry_queue_depth(q), 8);
    CHECK_RC(ferry_queue_put(q, "x", 1, 0), -EAGAIN);
    CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
    for (int i = 0; i < 8; i++) {
      char want[64];
      snprintf(want, sizeof want, "m%d-%d", round, i);
      ssize_t n = ferry_queue_get(q, buf, sizeof buf, 0);
      CHECK_EQ(n, (ssize_t)strlen(want));
      CHECK(n > 0 && memcmp(buf, want, (size_t)n) == 0);
    }
    CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  }
  /* empty messages are messages */
  CHECK_OK(ferry_queue_put(q, NULL, 0, 0));
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 0);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.puts, 41);
  CHECK_EQ(s.gets, 41);
  CHECK_EQ(s.bytes_put, s.bytes_got);
  CHECK_EQ(s.capacity, 8);
  CHECK_EQ(s.producers, 1);
  CHECK_EQ(s.consumers, 1);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void test_odd_capacity(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  for (uint32_t cap = 2; cap <= 5; cap++) {
    ferry_queue_options o = opts(cap, 16, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
    ferry_queue *q;
    REQUIRE_OK(ferry_queue_create(name, &o, &q));
    for (uint32_t k = 0; k < 4 * cap + 3; k++) {
      uint32_t v = k, got = 0;
      CHECK_OK(ferry_queue_put(q, &v, sizeof v, 0));
      if (k % 2 == 0) {
        CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
      }
      CHECK_EQ(ferry_queue_get(q, &got, sizeof got, 0), sizeof got);
      CHECK_EQ(got, k);
    }
    CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
    ferry_queue_close(q);
    CHECK_OK(ferry_unlink(name));
  }
}

static void test_sizes_and_timeouts(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(2, 100, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  char big[200];
  memset(big, 7, sizeof big);
  CHECK_RC(ferry_queue_put(q, big, 101, FERRY_FOREVER), -EMSGSIZE);
  CHECK_EQ(ferry_queue_depth(q), 0);
  CHECK_OK(ferry_queue_put(q, big, 100, 0));
  char small[10];
  CHECK_RC(ferry_queue_get(q, small, sizeof small, 0), -EMSGSIZE);
  CHECK_EQ(ferry_queue_depth(q), 1); /* still there */
  CHECK_EQ(ferry_queue_get(q, big, sizeof big, 0), 100);
  CHECK_RC(ferry_queue_put(q, big, 1, -1), -EINVAL);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_queue_get(q, big, sizeof big, 30 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 29);
  CHECK_OK(ferry_queue_put(q, big, 1, 0));
  CHECK_OK(ferry_queue_put(q, big, 1, 0));
  CHECK_RC(ferry_queue_put(q, big, 1, 0), -EAGAIN);
  CHECK_RC(ferry_queue_put(q, big, 1, 20 * FERRY_MSEC), -ETIMEDOUT);
  ferry_queue_vec v[3] = {{big, 1}, {big, 1}, {big, 200}};
  CHECK_RC(ferry_queue_put_many(q, v, 3, 0), -EMSGSIZE);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK(s.get_waits >= 1);
  CHECK(s.put_waits >= 1);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void test_zero_copy_and_batches(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(4, 256, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  void *p;
  CHECK_RC(ferry_queue_reserve(q, 257, &p, 0), -EMSGSIZE);
  CHECK_RC(ferry_queue_commit(q, 1), -EINVAL);
  REQUIRE_OK(ferry_queue_reserve(q, 200, &p, 0));
  CHECK_RC(ferry_queue_reserve(q, 1, &p, 0), -EBUSY);
  CHECK_RC(ferry_queue_put(q, "x", 1, 0), -EBUSY);
  memcpy(p, "hello", 5);
  CHECK_RC(ferry_queue_commit(q, 201), -EMSGSIZE);
  CHECK_OK(ferry_queue_commit(q, 5));
  REQUIRE_OK(ferry_queue_reserve(q, 10, &p, 0));
  CHECK_OK(ferry_queue_cancel(q)); /* a hole: skipped by consumers */
  CHECK_OK(ferry_queue_put(q, "world", 5, 0));
  const void *d;
  size_t len;
  REQUIRE_OK(ferry_queue_peek(q, &d, &len, 0));
  CHECK_EQ(len, 5);
  CHECK(memcmp(d, "hello", 5) == 0);
  char buf[256];
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EBUSY);
  CHECK_OK(ferry_queue_release(q));
  CHECK_RC(ferry_queue_release(q), -EINVAL);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 5);
  CHECK(memcmp(buf, "world", 5) == 0);

  /* batches */
  char a[4][8] = {"a", "bb", "ccc", "dddd"};
  ferry_queue_vec in[6];
  for (int i = 0; i < 6; i++)
    in[i] = (ferry_queue_vec){a[i % 4], strlen(a[i % 4])};
  CHECK_EQ(ferry_queue_put_many(q, in, 6, 0), 4); /* room for 4 */
  char out[6][8];
  ferry_queue_vec ov[6];
  for (int i = 0; i < 6; i++)
    ov[i] = (ferry_queue_vec){out[i], sizeof out[i]};
  ov[2].len = 1; /* too small for "ccc": the batch stops before it */
  CHECK_EQ(ferry_queue_get_many(q, ov, 6, 0), 2);
  CHECK_EQ(ov[0].len, 1);
  CHECK_EQ(ov[1].len, 2);
  CHECK(memcmp(out[1], "bb", 2) == 0);
  for (int i = 0; i < 6; i++)
    ov[i] = (ferry_queue_vec){out[i], sizeof out[i]};
  CHECK_EQ(ferry_queue_get_many(q, ov, 6, 0), 2);
  CHECK(ov[0].len == 3 && memcmp(out[0], "ccc", 3) == 0);
  CHECK(ov[1].len == 4 && memcmp(out[1], "dddd", 4) == 0);
  CHECK_RC(ferry_queue_get_many(q, ov, 6, 0), -EAGAIN);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.holes, 1);
  CHECK_EQ(s.puts, 6);
  CHECK_EQ(s.gets, 6);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void test_bad_input(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue *q = NULL;
  ferry_queue_options o = opts(4, 16, FERRY_ROLE_PRODUCER);
  CHECK_RC(ferry_queue_create("bad/name", &o, &q), -EINVAL);
  CHECK_RC(ferry_queue_create("", &o, &q), -EINVAL);
  o.capacity = 0;
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o.capacity = 1; /* see FERRY_QUEUE_MIN_CAPACITY */
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o = opts(4, 0, FERRY_ROLE_PRODUCER);
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o = opts(4, 16, FERRY_ROLE_PRODUCER);
  o.spin_ns = -1;
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o = opts(4, 16, FERRY_ROLE_PUBLISHER);
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o = opts(4, 16, FERRY_ROLE_PRODUCER);
  o.reserved32 = 1; /* [abi-growth]: room for a later option */
  CHECK_RC(ferry_queue_create(name, &o, &q), -EINVAL);
  o = opts(FERRY_QUEUE_MAX_CAPACITY, FERRY_QUEUE_MAX_MSG, FERRY_ROLE_PRODUCER);
  int rc = ferry_queue_create(name, &o, &q); /* 2^54 bytes: the system says no */
  CHECK(rc == -EOVERFLOW || rc == -ENOSPC || rc == -ENOMEM || rc == -EFBIG);
  CHECK(q == NULL);
  CHECK(!shm_exists(name));

  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q), -ENOENT);
  /* wrong kind */
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q), FERRY_EKIND);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));

  o = opts(4, 16, FERRY_ROLE_PRODUCER);
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  ferry_queue *q2 = NULL;
  CHECK_RC(ferry_queue_create(name, &o, &q2), -EEXIST);
  CHECK_RC(ferry_queue_open(name, 0, NULL, &q2), -EINVAL);
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_WRITER, NULL, &q2), -EINVAL);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, &oo, &q2), -EINVAL);
  CHECK(q2 == NULL);
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q2));
  char buf[16];
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EPERM); /* producer only */
  CHECK_RC(ferry_queue_put(q2, "x", 1, 0), -EPERM);           /* consumer only */
  CHECK_RC(ferry_queue_get(q2, buf, sizeof buf, 0), -EAGAIN);
  ferry_region_info info;
  CHECK_OK(ferry_region_info_get(ferry_queue_region(q2), &info));
  CHECK_EQ(info.kind, FERRY_KIND_QUEUE);
  CHECK_EQ(info.live, 2);
  ferry_queue_close(q2);
  ferry_queue_close(q);
  ferry_queue_close(NULL);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
}

/* ---- end of stream ------------------------------------------------------------ */

static void test_shutdown(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(8, 16, FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  pid_t c = ft_fork();
  if (c == 0) { /* a consumer blocked forever is released by shutdown */
    ferry_queue *cq;
    CHECK_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &cq));
    char b[16];
    int got = 0;
    ssize_t n;
    while ((n = ferry_queue_get(cq, b, sizeof b, FERRY_FOREVER)) >= 0)
      got++;
    CHECK_RC(n, -EPIPE);
    CHECK_EQ(got, 3);
    ferry_queue_close(cq);
    ft_child_exit();
  }
  ferry_queue *p;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  usleep(20000);
  for (int i = 0; i < 3; i++)
    CHECK_OK(ferry_queue_put(p, "abc", 3, 0));
  /* wait for the child to drain before shutting down */
  for (int i = 0; i < 2000 && ferry_queue_depth(q) > 0; i++)
    usleep(1000);
  CHECK_OK(ferry_queue_shutdown(p));
  CHECK_RC(ferry_queue_put(p, "abc", 3, FERRY_FOREVER), -EPIPE);
  ft_wait_ok(c, 10000);
  char b[16];
  CHECK_RC(ferry_queue_get(q, b, sizeof b, FERRY_FOREVER), -EPIPE);
  ferry_queue_close(p);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void test_shutdown_drains_first(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(8, 16, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  CHECK_OK(ferry_queue_put(q, "1", 1, 0));
  CHECK_OK(ferry_queue_put(q, "2", 1, 0));
  CHECK_OK(ferry_queue_shutdown(q));
  CHECK_OK(ferry_queue_shutdown(q));
  char b[4];
  CHECK_EQ(ferry_queue_get(q, b, sizeof b, 0), 1);
  CHECK_EQ(ferry_queue_get(q, b, sizeof b, 0), 1);
  CHECK_RC(ferry_queue_get(q, b, sizeof b, 0), -EPIPE);
  /* Calls that may wait check the end on their armed look instead of the
   * first one: still -EPIPE, never -ETIMEDOUT, also with a timeout far
   * shorter than the spin. */
  int64_t timeouts[] = {1, 1000, 50 * FERRY_MSEC, FERRY_FOREVER};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    CHECK_RC(ferry_queue_get(q, b, sizeof b, timeouts[i]), -EPIPE);
    ferry_queue_vec v = {b, sizeof b};
    CHECK_RC(ferry_queue_get_many(q, &v, 1, timeouts[i]), -EPIPE);
    const void *d;
    size_t len;
    CHECK_RC(ferry_queue_peek(q, &d, &len, timeouts[i]), -EPIPE);
  }
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK(s.shutdown);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* Layout 4.0 packs cells to 16 bytes up to 1 KiB messages, whole lines
 * above [queue-stride]: the cells are where the rule says, their payloads
 * 16-byte aligned, and full-length messages in neighbouring cells (which
 * now share cache lines) never overlap, over two laps of an odd and a
 * power-of-two capacity. */
static void test_packed_cells(void)
{
  static const uint32_t sizes[] = {1, 15, 16, 17, 48, 63, 64, 65, 1000, 1024, 1025, 4000};
  static const uint32_t caps[] = {5, 4};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    for (size_t ci = 0; ci < 2; ci++) {
      uint32_t m = sizes[si], cap = caps[ci];
      uint64_t a = m > 1024 ? 64 : 16, stride = (16 + m + a - 1) / a * a;
      char name[64];
      ft_name(name, sizeof name, "qpack");
      ferry_queue_options o = opts(cap, m, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER);
      ferry_queue *q;
      REQUIRE_OK(ferry_queue_create(name, &o, &q));
      unsigned char *buf = malloc(m), *want = malloc(m);
      REQUIRE(buf && want);
      uint8_t *prev = NULL;
      for (uint32_t lap = 0; lap < 2; lap++) {
        for (uint32_t i = 0; i < cap; i++) {
          void *d;
          REQUIRE_OK(ferry_queue_reserve(q, m, &d, 0));
          CHECK_EQ((uintptr_t)d % 16, 0);
          if (prev && i > 0)
            CHECK_EQ((uint64_t)((uint8_t *)d - prev), stride);
          prev = d;
          memset(d, (int)(lap * cap + i + 1), m);
          CHECK_OK(ferry_queue_commit(q, m));
        }
        CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
        for (uint32_t i = 0; i < cap; i++) {
          memset(want, (int)(lap * cap + i + 1), m);
          CHECK_EQ(ferry_queue_get(q, buf, m, 0), (ssize_t)m);
          CHECK(memcmp(buf, want, m) == 0);
        }
      }
      CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
      free(buf);
      free(want);
      ferry_queue_close(q);
      CHECK_OK(ferry_unlink(name));
    }
  }
}

/* Producers that close end the stream; a consumer that waits forever is
 * woken by the last close. */
static void test_eos_producers_close(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(16, 32, FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  char b[32];
  CHECK_RC(ferry_queue_get(q, b, sizeof b, 0), -EAGAIN); /* no producer yet: not ended */
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    if ((kids[k] = ft_fork()) == 0) {
      ferry_queue *p;
      CHECK_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
      usleep(30000);
      for (int i = 0; i < 20; i++)
        CHECK_OK(ferry_queue_put(p, "m", 1, FERRY_FOREVER));
      ferry_queue_close(p);
      ft_child_exit();
    }
  }
  int got = 0;
  ssize_t n;
  int64_t t0 = ft_ms();
  while ((n = ferry_queue_get(q, b, sizeof b, FERRY_FOREVER)) >= 0 || n == -EPIPE) {
    if (n == -EPIPE) {
      /* a child may not have registered yet: EOS is a state */
      if (got == 40)
        break;
      if (ft_ms() - t0 > 10000)
        break;
      usleep(1000);
      continue;
    }
    got++;
  }
  CHECK_EQ(got, 40);
  CHECK_RC(n, -EPIPE);
  for (int k = 0; k < 2; k++)
    ft_wait_ok(kids[k], 10000);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.puts, 40);
  CHECK_EQ(s.producers, 0);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* A producer that puts and leaves (closes or dies). */
static pid_t producer_child(const char *name, int from, int count, bool die)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_queue *p;
    CHECK_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
    for (int i = from; i < from + count; i++)
      CHECK_OK(ferry_queue_put(p, &i, sizeof i, FT_TIMEOUT));
    if (die && !ft_failures)
      raise(SIGKILL);
    ferry_queue_close(p);
    ft_child_exit();
  }
  return pid;
}

/* The start gate: with expected_producers = 3, the stream does not end
 * while the first producers come and go (one closes, one dies) before the
 * last one opened; it ends once the third has opened and left, after the
 * drain. Without it, the first producer's close ends the stream. */
static void test_eos_expected_producers(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(32, 16, FERRY_ROLE_CONSUMER);
  o.expected_producers = 3;
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  int got[15] = {0}, n = 0, v;
  ft_wait_ok(producer_child(name, 0, 5, false), 10000); /* opens, puts, closes */
  pid_t dead = producer_child(name, 5, 5, true);        /* opens, puts, dies */
  int st = ft_wait(dead, 10000);
  CHECK(st != -1 && WIFSIGNALED(st));
  ssize_t r;
  while ((r = ferry_queue_get(q, &v, sizeof v, 0)) == (ssize_t)sizeof v)
    if (v >= 0 && v < 15 && n < 15)
      got[v]++, n++;
  CHECK_RC(r, -EAGAIN); /* drained, but two of three: not ended */
  CHECK_RC(ferry_queue_get(q, &v, sizeof v, 200 * FERRY_MSEC), -ETIMEDOUT); /* recovers the dead one */
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.expected_producers, 3);
  CHECK_EQ(s.producers_joined, 2);
  CHECK_EQ(s.producers, 0);
  CHECK_EQ(s.recovered, 1);
  ft_wait_ok(producer_child(name, 10, 5, false), 10000);
  while ((r = ferry_queue_get(q, &v, sizeof v, FT_TIMEOUT)) == (ssize_t)sizeof v)
    if (v >= 0 && v < 15 && n < 15)
      got[v]++, n++;
  CHECK_RC(r, -EPIPE); /* three opened, none left: ended, after the drain */
  CHECK_EQ(n, 15);
  for (int i = 0; i < 15; i++)
    CHECK_EQ(got[i], 1);
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.producers_joined, 3);
  /* A later producer resumes the stream (a state, not a latch). */
  ferry_queue *p;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  CHECK_RC(ferry_queue_get(q, &v, sizeof v, 0), -EAGAIN);
  ferry_queue_close(p);
  CHECK_RC(ferry_queue_get(q, &v, sizeof v, 0), -EPIPE);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));

  /* The default: the first producer's close ends the stream. */
  o.expected_producers = 0;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  CHECK_RC(ferry_queue_get(q, &v, sizeof v, 0), -EAGAIN); /* none yet */
  ft_wait_ok(producer_child(name, 0, 2, false), 10000);
  CHECK_EQ(ferry_queue_get(q, &v, sizeof v, 0), sizeof v);
  CHECK_EQ(ferry_queue_get(q, &v, sizeof v, 0), sizeof v);
  CHECK_RC(ferry_queue_get(q, &v, sizeof v, 0), -EPIPE);
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.expected_producers, 0);
  CHECK_EQ(s.producers_joined, 1);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* A producer killed with a reservation open: its cell becomes a hole, the
 * stream ends once it is recovered, and no torn message comes out. */
static void test_eos_producer_dies_mid_put(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(8, 64, FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  int sync[2];
  REQUIRE(pipe(sync) == 0);
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_queue *p;
    CHECK_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
    uint8_t m[64];
    size_t len = ft_payload_make(m, sizeof m, 1, 0);
    CHECK_OK(ferry_queue_put(p, m, len, 0));
    void *d;
    CHECK_OK(ferry_queue_reserve(p, 64, &d, 0));
    memset(d, 0xee, 10); /* half-written */
    if (write(sync[1], "x", 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  char x;
  REQUIRE(read(sync[0], &x, 1) == 1);
  /* a second producer puts behind the reservation */
  ferry_queue *p2;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p2));
  uint8_t m[64];
  size_t len = ft_payload_make(m, sizeof m, 2, 0);
  CHECK_OK(ferry_queue_put(p2, m, len, 0));
  ferry_queue_close(p2);
  kill(c, SIGKILL);
  ft_wait(c, 5000);
  close(sync[0]);
  close(sync[1]);
  uint8_t b[64];
  int got = 0;
  ssize_t n;
  while ((n = ferry_queue_get(q, b, sizeof b, 5 * FERRY_SEC)) >= 0) {
    CHECK(ft_payload_check(b, (size_t)n, NULL));
    got++;
  }
  CHECK_RC(n, -EPIPE);
  CHECK_EQ(got, 2);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.holes, 1);
  CHECK_EQ(s.recovered, 1);
  CHECK_EQ(s.puts, 2);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* A consumer killed holding a peeked message loses just that one, and a
 * blocked producer gets its cell back. */
static void test_consumer_dies_holding(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(2, 16, FERRY_ROLE_PRODUCER);
  ferry_queue *p;
  REQUIRE_OK(ferry_queue_create(name, &o, &p));
  CHECK_OK(ferry_queue_put(p, "a", 1, 0));
  CHECK_OK(ferry_queue_put(p, "b", 1, 0));
  int sync[2];
  REQUIRE(pipe(sync) == 0);
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_queue *cq;
    CHECK_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &cq));
    const void *d;
    size_t len;
    CHECK_OK(ferry_queue_peek(cq, &d, &len, 0));
    if (write(sync[1], "x", 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  char x;
  REQUIRE(read(sync[0], &x, 1) == 1);
  kill(c, SIGKILL);
  ft_wait(c, 5000);
  close(sync[0]);
  close(sync[1]);
  /* full: this waits until the dead consumer's cell is recovered */
  CHECK_OK(ferry_queue_put(p, "c", 1, 5 * FERRY_SEC));
  ferry_queue *cq;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &cq));
  char b[16];
  CHECK_EQ(ferry_queue_get(cq, b, sizeof b, 0), 1);
  CHECK_EQ(b[0], 'b');
  CHECK_EQ(ferry_queue_get(cq, b, sizeof b, 0), 1);
  CHECK_EQ(b[0], 'c');
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(p, &s));
  CHECK_EQ(s.lost, 1);
  CHECK_EQ(s.gets, 3); /* the dead consumer's peek counted, then folded */
  CHECK_OK(ferry_queue_validate(p, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(cq);
  ferry_queue_close(p);
  CHECK_OK(ferry_unlink(name));
}

/* Participant churn (issue 12): producers that open, put, reserve and are
 * killed, ten times as many as the table has slots, and nobody calls
 * ferry_queue_recover(): every open still succeeds, because a join that
 * finds the table full reclaims a dead producer's slot after repairing its
 * reservation. (A join reclaims one slot, the first dead one it finds, so
 * older dead producers' reservations can stay until a waiter's slice
 * repairs them: the producers here wait when the ring is full, the
 * consumer never does.) Nothing is lost. */
static void test_churn_without_recover(void)
{
  enum { TABLE = 4, KILLS = 10 * TABLE };
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(32, 16, FERRY_ROLE_CONSUMER);
  o.region.max_participants = TABLE;
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  int got[KILLS] = {0}, v;
  for (int i = 0; i < KILLS; i++) {
    int sync[2];
    REQUIRE(pipe(sync) == 0);
    pid_t pid = ft_fork();
    if (pid == 0) {
      ferry_queue *p;
      void *d;
      /* A put that finds the ring full waits, and its waits recover
       * the dead whose reservations block it. */
      char ok = ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p) == 0 &&
                        ferry_queue_put(p, &i, sizeof i, FT_TIMEOUT) == 0 &&
                        ferry_queue_reserve(p, sizeof i, &d, FT_TIMEOUT) == 0
                    ? 'y'
                    : 'n';
      if (write(sync[1], &ok, 1) != 1)
        _exit(1);
      for (;;)
        pause();
    }
    /* Take what is ready while the child works (it may wait for room);
     * never wait here (a wait would recover). */
    char ok = 0;
    int64_t end = ft_ms() + FT_TIMEOUT / FERRY_MSEC;
    struct pollfd pfd = {.fd = sync[0], .events = POLLIN};
    while (poll(&pfd, 1, 1) == 0 && ft_ms() < end)
      while (ferry_queue_get(q, &v, sizeof v, 0) == (ssize_t)sizeof v)
        if (v >= 0 && v < KILLS)
          got[v]++;
    CHECK(read(sync[0], &ok, 1) == 1 && ok == 'y'); /* its open worked */
    kill(pid, SIGKILL);
    ft_wait(pid, 5000);
    close(sync[0]);
    close(sync[1]);
    if (ok != 'y')
      break;
  }
  /* The last dead ones are reclaimed by the next joins: ours. */
  ferry_queue *extra[TABLE - 1];
  int n = 0;
  while (n < TABLE - 1 && ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &extra[n]) == 0)
    n++;
  CHECK_EQ(n, TABLE - 1);
  while (ferry_queue_get(q, &v, sizeof v, 0) == (ssize_t)sizeof v)
    if (v >= 0 && v < KILLS)
      got[v]++;
  for (int i = 0; i < KILLS; i++)
    if (got[i] != 1) {
      CHECK_EQ(got[i], 1);
      break;
    }
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.recovered, KILLS);
  CHECK_EQ(s.holes, KILLS);
  CHECK_EQ(s.puts, KILLS);
  CHECK_EQ(s.lost, 0);
  ferry_region_info info;
  CHECK_OK(ferry_region_info_get(ferry_queue_region(q), &info));
  CHECK_EQ(info.dead, 0);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  for (int i = 0; i < n; i++)
    ferry_queue_close(extra[i]);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* ---- many processes ------------------------------------------------------------ */

#define NP 3
#define NC 2
#define PER 3000

static void test_mpmc_forked(void)
{
  char name[64];
  ft_name(name, sizeof name, "q");
  ferry_queue_options o = opts(16, 128, FERRY_ROLE_CONSUMER);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  /* seen[p][seq]: set by whoever consumes it, so duplicates show */
  _Atomic uint8_t *seen = mmap(NULL, NP * PER, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(seen != MAP_FAILED);
  /* Holds the stream open until every producer child has registered. */
  ferry_queue *hold;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &hold));
  pid_t kids[NP + NC];
  for (int k = 0; k < NC; k++) {
    if ((kids[k] = ft_fork()) == 0) {
      ferry_queue *cq;
      CHECK_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &cq));
      int64_t last[NP];
      for (int i = 0; i < NP; i++)
        last[i] = -1;
      uint8_t b[128];
      ssize_t n;
      for (;;) {
        n = ferry_queue_get(cq, b, sizeof b, 10 * FERRY_SEC);
        if (n < 0)
          break;
        if (!ft_payload_check(b, (size_t)n, NULL)) {
          CHECK(!"torn message");
          continue;
        }
        ft_payload_hdr m;
        memcpy(&m, b, sizeof m);
        if (m.id >= NP || m.seq >= PER) {
          CHECK(!"bad message");
          continue;
        }
        CHECK((int64_t)m.seq > last[m.id]); /* in order per producer */
        last[m.id] = m.seq;
        CHECK_EQ(atomic_fetch_add(&seen[m.id * PER + m.seq], 1), 0);
      }
      CHECK_RC(n, -EPIPE);
      ferry_queue_close(cq);
      ft_child_exit();
    }
  }
  for (int k = 0; k < NP; k++) {
    if ((kids[NC + k] = ft_fork()) == 0) {
      ferry_queue *p;
      CHECK_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
      uint8_t b[128];
      for (uint32_t s = 0; s < PER; s += 4) {
        if (s % 8 == 0) { /* alternate single puts and batches */
          for (uint32_t i = s; i < s + 4; i++) {
            size_t len = ft_payload_make(b, sizeof b, (uint32_t)k, i);
            CHECK_OK(ferry_queue_put(p, b, len, 10 * FERRY_SEC));
          }
        } else {
          uint8_t bb[4][128];
          ferry_queue_vec v[4];
          for (uint32_t i = 0; i < 4; i++)
            v[i] = (ferry_queue_vec){bb[i], ft_payload_make(bb[i], 128, (uint32_t)k, s + i)};
          CHECK_EQ(ferry_queue_put_many(p, v, 4, 10 * FERRY_SEC), 4);
        }
      }
      ferry_queue_close(p);
      ft_child_exit();
    }
  }
  for (int k = 0; k < NP; k++)
    ft_wait_ok(kids[NC + k], 60000);
  ferry_queue_close(hold);
  for (int k = 0; k < NC; k++)
    ft_wait_ok(kids[k], 60000);
  for (int i = 0; i < NP * PER; i++)
    if (atomic_load(&seen[i]) != 1) {
      CHECK_EQ(atomic_load(&seen[i]), 1);
      break;
    }
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.puts, NP * PER);
  CHECK_EQ(s.gets, NP * PER);
  CHECK_EQ(s.lost, 0);
  CHECK_EQ(s.holes, 0);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  munmap((void *)seen, NP * PER);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_put_get_fifo);
  RUN(test_odd_capacity);
  RUN(test_sizes_and_timeouts);
  RUN(test_zero_copy_and_batches);
  RUN(test_bad_input);
  RUN(test_shutdown);
  RUN(test_shutdown_drains_first);
  RUN(test_packed_cells);
  RUN(test_eos_producers_close);
  RUN(test_eos_producer_dies_mid_put);
  RUN(test_eos_expected_producers);
  RUN(test_consumer_dies_holding);
  RUN(test_churn_without_recover);
  RUN(test_mpmc_forked);
  return ft_done();
}
