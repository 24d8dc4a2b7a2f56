/* SPDX-License-Identifier: MIT */
/*
 * conform_objects.c: one table of behaviours, run on both backends through
 * the public API: each test gets a way to make names, and runs once with
 * shared-memory names ("t-...") and once with Redis names
 * ("unix:///.../redis.sock/t-..."), which libferry hands to the backend it
 * loads with dlopen. Where the backends differ on purpose
 * (docs/design/redis.md), the test states the difference. Both keep
 * [abi-growth] (docs/design/abi.md) alike. Also checked:
 * without the backend, a Redis name is -ENOTSUP and ferry_redis_status()
 * says why.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "rserver.h"
#include "test.h"

static struct rs_server srv;

struct backend {
  const char *label;
  bool redis;
};

static const struct backend *be;

static const char *oname(char *buf, size_t cap, const char *tag)
{
  char n[64];
  ft_name(n, sizeof n, tag);
  if (!be->redis) {
    snprintf(buf, cap, "%s", n);
    return buf;
  }
  return rs_url(&srv, buf, cap, n);
}

#define BOTH (FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER)

/* Redis queues here use a lease of 3 s (producers count as present for as
 * long without a heartbeat), generous for a loaded machine; the producer
 * death test uses a short one. */
static int64_t lease_ms = 3000;

static ferry_queue *mkq(const char *name, uint32_t cap, uint32_t max_msg, uint32_t role)
{
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.role = role;
  o.region.liveness_ns = 200 * FERRY_MSEC;
  ferry_queue *q = NULL;
  int rc;
  if (be->redis) {
    ferry_redis_options ro;
    ferry_redis_options_init(&ro);
    ro.lease_ns = lease_ms * FERRY_MSEC;
    rc = ferry_redis_queue_create(name, &o, &ro, &q);
  } else {
    rc = ferry_queue_create(name, &o, &q);
  }
  if (rc)
    ft_fail(__FILE__, __LINE__, "queue create %s: %s", name, ferry_strerror(rc));
  return q;
}

/* ---- queue ------------------------------------------------------------------- */

static void q_fifo(void)
{
  char name[400], buf[64];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 128, 64, BOTH);
  REQUIRE(q);
  for (int i = 0; i < 100; i++) {
    int n = snprintf(buf, sizeof buf, "m%03d", i);
    CHECK_OK(ferry_queue_put(q, buf, (size_t)n, 0));
  }
  CHECK_EQ(ferry_queue_depth(q), 100);
  for (int i = 0; i < 100; i++) {
    char want[16];
    snprintf(want, sizeof want, "m%03d", i);
    CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 4);
    CHECK(!memcmp(buf, want, 4));
  }
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN);
  ferry_queue_stats st;
  CHECK_OK(ferry_queue_stats_get(q, &st));
  CHECK_EQ(st.puts, 100);
  CHECK_EQ(st.gets, 100);
  CHECK_EQ(st.capacity, 128);
  CHECK_EQ(st.max_msg_size, 64);
  ferry_queue_stats st2;
  CHECK_OK(ferry_queue_stat(name, &st2));
  CHECK_EQ(st2.puts, 100);
  CHECK_OK(ferry_queue_validate(q, 0));
  CHECK(be->redis ? ferry_queue_region(q) == NULL : ferry_queue_region(q) != NULL);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
  CHECK_RC(ferry_unlink(name), -ENOENT);
}

static void q_sizes_timeouts(void)
{
  char name[400], buf[64];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 16, 32, BOTH);
  REQUIRE(q);
  char big[33] = {0};
  CHECK_RC(ferry_queue_put(q, big, 33, 0), -EMSGSIZE);
  CHECK_OK(ferry_queue_put(q, big, 32, 0));
  CHECK_RC(ferry_queue_get(q, buf, 31, 0), -EMSGSIZE); /* left in the queue */
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 32);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, -1), -EINVAL);
  CHECK_RC(ferry_queue_put(q, buf, 1, -1), -EINVAL);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 100 * FERRY_MSEC), -ETIMEDOUT);
  int64_t dt = ft_ms() - t0;
  CHECK(dt >= 95 && dt < 1000);
  ferry_queue_vec v[3] = {{big, 1}, {big, 40}, {big, 2}};
  CHECK_RC(ferry_queue_put_many(q, v, 3, 0), -EMSGSIZE);
  CHECK_EQ(ferry_queue_depth(q), 0); /* nothing of the batch was put */
  v[1].len = 3;
  CHECK_EQ(ferry_queue_put_many(q, v, 3, 0), 3);
  char b[3][8];
  ferry_queue_vec g[3] = {{b[0], 8}, {b[1], 8}, {b[2], 8}};
  CHECK_EQ(ferry_queue_get_many(q, g, 3, 0), 3);
  CHECK(g[0].len == 1 && g[1].len == 3 && g[2].len == 2);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void q_capacity(void)
{
  char name[400], buf[16];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 4, 8, BOTH);
  REQUIRE(q);
  ferry_queue_vec v[6];
  for (int i = 0; i < 6; i++)
    v[i] = (ferry_queue_vec){"x", 1};
  CHECK_EQ(ferry_queue_put_many(q, v, 6, 0), 4);
  CHECK_RC(ferry_queue_put(q, "y", 1, 0), -EAGAIN);
  CHECK_RC(ferry_queue_put(q, "y", 1, 50 * FERRY_MSEC), -ETIMEDOUT);
  /* Two gets make room for at least one (on Redis a message counts until
   * the handle's next get acknowledges it). */
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 1);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 1);
  CHECK_OK(ferry_queue_put(q, "y", 1, 0));
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void q_roles_and_errors(void)
{
  char name[400], buf[16];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 16, 8, BOTH);
  REQUIRE(q);
  ferry_queue *dup;
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  CHECK_RC(ferry_queue_create(name, &o, &dup), -EEXIST);
  o.capacity = 1;
  char other[400];
  oname(other, sizeof other, "cq");
  CHECK_RC(ferry_queue_create(other, &o, &dup), -EINVAL);
  CHECK_RC(ferry_queue_open(other, BOTH, NULL, &dup), -ENOENT);
  ferry_queue *p, *c;
  CHECK_RC(ferry_queue_open(name, 0, NULL, &p), -EINVAL);
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &c));
  CHECK_RC(ferry_queue_get(p, buf, sizeof buf, 0), -EPERM);
  CHECK_RC(ferry_queue_put(c, "x", 1, 0), -EPERM);
  ferry_queue_close(p);
  ferry_queue_close(c);
  /* Another kind under the name. */
  ferry_heap *h;
  CHECK_RC(ferry_heap_open(name, NULL, &h), FERRY_EKIND);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void q_shutdown_eos(void)
{
  char name[400], buf[16];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 16, 8, FERRY_ROLE_CONSUMER);
  REQUIRE(q);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN); /* no producer yet */
  ferry_queue *p;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  CHECK_OK(ferry_queue_put(p, "a", 1, 0));
  ferry_queue_close(p);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 1); /* drained first */
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, FERRY_SEC), -EPIPE);
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p)); /* resumes */
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN);
  CHECK_OK(ferry_queue_put(p, "b", 1, 0));
  CHECK_OK(ferry_queue_shutdown(q));
  CHECK_RC(ferry_queue_put(p, "c", 1, 0), -EPIPE);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 1);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, FERRY_FOREVER), -EPIPE);
  ferry_queue_stats st;
  CHECK_OK(ferry_queue_stats_get(q, &st));
  CHECK(st.shutdown);
  ferry_queue_close(p);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* A producer killed: consumers see the end of the stream (shared memory:
 * within the liveness period; Redis: within the lease). */
static void q_producer_death(void)
{
  char name[400], buf[16];
  lease_ms = 500;
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 16, 8, FERRY_ROLE_CONSUMER);
  lease_ms = 3000;
  REQUIRE(q);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_queue *p;
    if (ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p) == 0)
      ferry_queue_put(p, "z", 1, 0);
    raise(SIGKILL);
  }
  ft_wait(pid, 5000);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, FERRY_SEC), 1);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 5 * FERRY_SEC), -EPIPE);
  CHECK(ft_ms() - t0 < 2500); /* liveness 200 ms; Redis: a lease of 500 ms */
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

static void q_zero_copy(void)
{
  char name[400], buf[16];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 16, 16, BOTH);
  REQUIRE(q);
  void *d;
  CHECK_RC(ferry_queue_reserve(q, 17, &d, 0), -EMSGSIZE);
  CHECK_RC(ferry_queue_commit(q, 0), -EINVAL);
  REQUIRE_OK(ferry_queue_reserve(q, 8, &d, 0));
  CHECK_RC(ferry_queue_reserve(q, 8, &d, 0), -EBUSY);
  memcpy(d, "reserved", 8);
  CHECK_RC(ferry_queue_commit(q, 9), -EMSGSIZE);
  CHECK_OK(ferry_queue_commit(q, 8));
  REQUIRE_OK(ferry_queue_reserve(q, 8, &d, 0));
  CHECK_OK(ferry_queue_cancel(q));
  const void *p;
  size_t len;
  CHECK_RC(ferry_queue_release(q), -EINVAL);
  REQUIRE_OK(ferry_queue_peek(q, &p, &len, 0));
  CHECK(len == 8 && !memcmp(p, "reserved", 8));
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EBUSY);
  CHECK_OK(ferry_queue_release(q));
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* 2 producers x 2 consumers in processes: every message exactly once,
 * each producer's messages in order for each consumer, checksums. */
static void q_processes(void)
{
  char name[400];
  ferry_queue *q = mkq(oname(name, sizeof name, "cq"), 64, 32, FERRY_ROLE_CONSUMER);
  REQUIRE(q);
  enum { PER = 2000 };
  int fds[2][2];
  pid_t pp[2], cp[2];
  for (int i = 0; i < 2; i++) {
    pp[i] = ft_fork();
    if (pp[i] == 0) {
      ferry_queue *p;
      if (ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &p)) {
        CHECK(!"producer open");
        ft_child_exit();
      }
      for (uint32_t s = 0; s < PER; s++) {
        uint32_t m[3] = {(uint32_t)i, s, (uint32_t)i * 2654435761u ^ s};
        CHECK_OK(ferry_queue_put(p, m, sizeof m, 10 * FERRY_SEC));
      }
      ferry_queue_close(p);
      ft_child_exit();
    }
  }
  for (int i = 0; i < 2; i++) {
    REQUIRE(pipe(fds[i]) == 0);
    cp[i] = ft_fork();
    if (cp[i] == 0) {
      ferry_queue *c;
      if (ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &c)) {
        CHECK(!"consumer open");
        ft_child_exit();
      }
      uint32_t counts[2] = {0, 0};
      int64_t last[2] = {-1, -1};
      for (;;) {
        uint32_t m[3];
        ssize_t n = ferry_queue_get(c, m, sizeof m, 10 * FERRY_SEC);
        if (n == -EPIPE)
          break;
        if (n != (ssize_t)sizeof m) {
          CHECK_EQ(n, (ssize_t)sizeof m);
          break;
        }
        CHECK(m[0] < 2 && m[2] == (m[0] * 2654435761u ^ m[1]));
        if (m[0] < 2) {
          CHECK((int64_t)m[1] > last[m[0]]);
          last[m[0]] = m[1];
          counts[m[0]]++;
        }
      }
      (void)!write(fds[i][1], counts, sizeof counts);
      ferry_queue_close(c);
      ft_child_exit();
    }
  }
  for (int i = 0; i < 2; i++)
    ft_wait_ok(pp[i], 60000);
  uint32_t total[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    ft_wait_ok(cp[i], 60000);
    uint32_t counts[2];
    CHECK(read(fds[i][0], counts, sizeof counts) == sizeof counts);
    total[0] += counts[0];
    total[1] += counts[1];
    close(fds[i][0]);
    close(fds[i][1]);
  }
  CHECK_EQ(total[0], PER);
  CHECK_EQ(total[1], PER);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* ---- heap -------------------------------------------------------------------- */

static ferry_heap *mkheap(const char *name, uint32_t order, uint32_t kt, uint64_t cap,
                          uint32_t flags)
{
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.order = order;
  o.key_type = kt;
  o.capacity = cap;
  o.flags = flags;
  o.max_payload = 16;
  ferry_heap *h = NULL;
  int rc = ferry_heap_create(name, &o, &h);
  if (rc)
    ft_fail(__FILE__, __LINE__, "heap create: %s", ferry_strerror(rc));
  return h;
}

static void h_order(void)
{
  char name[400], buf[16];
  ferry_heap *h = mkheap(oname(name, sizeof name, "ch"), FERRY_HEAP_MIN, FERRY_HEAP_KEY_INT64,
                         64, 0);
  REQUIRE(h);
  static const int64_t keys[] = {3, -1, 3, INT64_MIN, 7, 3, INT64_MAX};
  for (size_t i = 0; i < 7; i++)
    CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = keys[i]}, &i, sizeof i, FERRY_SEC));
  CHECK_EQ(ferry_heap_size(h), 7);
  static const size_t want[] = {3, 1, 0, 2, 5, 4, 6};
  ferry_heap_key k;
  CHECK_EQ(ferry_heap_peek(h, &k, buf, sizeof buf), sizeof(size_t));
  CHECK_EQ(k.i64, INT64_MIN);
  for (size_t i = 0; i < 7; i++) {
    size_t got;
    CHECK_EQ(ferry_heap_pop(h, &k, &got, sizeof got, 0), sizeof got);
    CHECK_EQ(got, want[i]);
    CHECK_EQ(k.i64, keys[want[i]]);
  }
  CHECK_RC(ferry_heap_pop(h, &k, buf, sizeof buf, 0), -EAGAIN);
  CHECK_RC(ferry_heap_pop(h, &k, buf, sizeof buf, 50 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_heap_pop(h, &k, buf, sizeof buf, -1), -EINVAL);
  char big[17] = {0};
  CHECK_RC(ferry_heap_push(h, (ferry_heap_key){.i64 = 0}, big, 17, FERRY_SEC), -EMSGSIZE);
  CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = 0}, big, 16, FERRY_SEC));
  CHECK_RC(ferry_heap_pop(h, &k, buf, 8, 0), -EMSGSIZE);
  CHECK_EQ(ferry_heap_size(h), 1);
  CHECK_OK(ferry_heap_validate(h, FERRY_SEC));
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  h = mkheap(oname(name, sizeof name, "ch"), FERRY_HEAP_MAX, FERRY_HEAP_KEY_DOUBLE, 64, 0);
  REQUIRE(h);
  static const double dk[] = {0.5, -0.0, 2.5, 0.0, -1e9};
  for (size_t i = 0; i < 5; i++)
    CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.f64 = dk[i]}, &i, sizeof i, FERRY_SEC));
  CHECK_RC(ferry_heap_push(h, (ferry_heap_key){.f64 = NAN}, "x", 1, FERRY_SEC), -EINVAL);
  static const size_t dw[] = {2, 0, 1, 3, 4};
  for (size_t i = 0; i < 5; i++) {
    size_t got;
    CHECK_EQ(ferry_heap_pop(h, &k, &got, sizeof got, 0), sizeof got);
    CHECK_EQ(got, dw[i]);
  }
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

static void h_replace_capacity(void)
{
  char name[400], buf[16];
  ferry_heap *h = mkheap(oname(name, sizeof name, "ch"), FERRY_HEAP_MIN, FERRY_HEAP_KEY_INT64,
                         3, FERRY_HEAP_FIXED);
  REQUIRE(h);
  for (int i = 0; i < 3; i++)
    CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = i}, "o", 1, FERRY_SEC));
  CHECK_RC(ferry_heap_push(h, (ferry_heap_key){.i64 = 9}, "o", 1, FERRY_SEC), -ENOSPC);
  ferry_heap_record r[4] = {{.key.i64 = 5, .data = "a", .len = 1},
                            {.key.i64 = 5, .data = "b", .len = 1},
                            {.key.i64 = 4, .data = "c", .len = 1},
                            {.key.i64 = 1, .data = "d", .len = 1}};
  CHECK_RC(ferry_heap_replace_all(h, r, 4, FERRY_SEC), -ENOSPC);
  CHECK_OK(ferry_heap_replace_all(h, r, 3, FERRY_SEC));
  ferry_heap_key k;
  const char *order = "cab";
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(ferry_heap_pop(h, &k, buf, sizeof buf, 0), 1);
    CHECK(buf[0] == order[i]);
  }
  CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = 1}, "p", 1, FERRY_SEC));
  CHECK_OK(ferry_heap_clear(h, FERRY_SEC));
  CHECK_EQ(ferry_heap_size(h), 0);
  ferry_heap_stats st;
  CHECK_OK(ferry_heap_stats_get(h, &st));
  CHECK_EQ(st.replaces, be->redis ? 2 : 1); /* Redis clears by replacing with nothing */
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
}

/* ---- dict --------------------------------------------------------------------- */

static ferry_dict *mkdict(const char *name, uint64_t cap, uint32_t flags)
{
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = cap;
  o.flags = flags;
  o.max_key = 8;
  o.max_value = 16;
  ferry_dict *d = NULL;
  int rc = ferry_dict_create(name, &o, &d);
  if (rc)
    ft_fail(__FILE__, __LINE__, "dict create: %s", ferry_strerror(rc));
  return d;
}

static void d_calls(void)
{
  char name[400], buf[32];
  ferry_dict *d = mkdict(oname(name, sizeof name, "cd"), 3, FERRY_DICT_FIXED);
  REQUIRE(d);
  CHECK_RC(ferry_dict_get(d, "k", 1, buf, sizeof buf), -ENOENT);
  CHECK_OK(ferry_dict_set(d, "k", 1, "v1", 2, FERRY_SEC));
  CHECK_OK(ferry_dict_set(d, "k", 1, "v2", 2, FERRY_SEC));
  CHECK_EQ(ferry_dict_get(d, "k", 1, buf, sizeof buf), 2);
  CHECK(!memcmp(buf, "v2", 2));
  CHECK_RC(ferry_dict_get(d, "k", 1, buf, 1), -EMSGSIZE);
  CHECK_RC(ferry_dict_set_nx(d, "k", 1, "x", 1, FERRY_SEC), -EEXIST);
  CHECK_RC(ferry_dict_set(d, "123456789", 9, "x", 1, FERRY_SEC), -E2BIG);
  CHECK_RC(ferry_dict_set(d, "j", 1, "12345678901234567", 17, FERRY_SEC), -EMSGSIZE);
  CHECK_RC(ferry_dict_cas(d, "zz", 2, "a", 1, "b", 1, FERRY_SEC), -ENOENT);
  CHECK_RC(ferry_dict_cas(d, "k", 1, "v1", 2, "v3", 2, FERRY_SEC), -EAGAIN);
  CHECK_OK(ferry_dict_cas(d, "k", 1, "v2", 2, "v3", 2, FERRY_SEC));
  CHECK_OK(ferry_dict_set(d, "a", 1, "", 0, FERRY_SEC));
  CHECK_OK(ferry_dict_set(d, "b", 1, "bb", 2, FERRY_SEC));
  CHECK_RC(ferry_dict_set(d, "c", 1, "cc", 2, FERRY_SEC), -ENOSPC);
  CHECK_EQ(ferry_dict_size(d), 3);
  CHECK_RC(ferry_dict_del(d, "c", 1, FERRY_SEC), -ENOENT);
  CHECK_OK(ferry_dict_del(d, "a", 1, FERRY_SEC));
  CHECK_EQ(ferry_dict_size(d), 2);
  uint64_t cur = 0;
  char key[8], val[16];
  size_t kl, vl;
  int seen = 0, rc;
  while ((rc = ferry_dict_next(d, &cur, key, sizeof key, &kl, val, sizeof val, &vl)) == 1)
    seen++;
  CHECK_EQ(rc, 0);
  CHECK_EQ(seen, 2);
  CHECK_OK(ferry_dict_validate(d, FERRY_SEC));
  CHECK_OK(ferry_dict_clear(d, FERRY_SEC));
  CHECK_EQ(ferry_dict_size(d), 0);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static int add_one(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                   size_t *out_len, void *arg)
{
  (void)arg;
  uint64_t v = 0;
  if (exists && old_len == sizeof v)
    memcpy(&v, old, sizeof v);
  v++;
  if (out_cap < sizeof v)
    return -ENOBUFS;
  memcpy(out, &v, sizeof v);
  *out_len = sizeof v;
  return FERRY_DICT_SET;
}

static void d_update_processes(void)
{
  char name[400];
  ferry_dict *d = mkdict(oname(name, sizeof name, "cd"), 16, 0);
  REQUIRE(d);
  enum { PROCS = 3, EACH = 200 };
  pid_t p[PROCS];
  for (int i = 0; i < PROCS; i++) {
    p[i] = ft_fork();
    if (p[i] == 0) {
      ferry_dict *c;
      if (ferry_dict_open(name, NULL, &c)) {
        CHECK(!"dict open");
        ft_child_exit();
      }
      for (int j = 0; j < EACH; j++)
        CHECK_EQ(ferry_dict_update(c, "n", 1, add_one, NULL, FERRY_SEC), FERRY_DICT_SET);
      ferry_dict_close(c);
      ft_child_exit();
    }
  }
  for (int i = 0; i < PROCS; i++)
    ft_wait_ok(p[i], 60000);
  uint64_t v = 0;
  CHECK_EQ(ferry_dict_get(d, "n", 1, &v, sizeof v), sizeof v);
  CHECK_EQ(v, PROCS * EACH);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

/* ---- bus ------------------------------------------------------------------------ */

static ferry_bus *mkbus(const char *name, uint32_t mode, uint32_t slots)
{
  ferry_array_spec specs[2] = {
      {.name = "img", .dtype = FERRY_DTYPE_F32, .ndim = 2, .shape = {4, 3}},
      {.name = "id", .dtype = FERRY_DTYPE_U64, .ndim = 1, .shape = {1}},
  };
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = mode;
  o.slots = slots;
  o.max_subscribers = 4;
  ferry_bus *b = NULL;
  int rc = ferry_bus_create(name, specs, 2, &o, &b);
  if (rc)
    ft_fail(__FILE__, __LINE__, "bus create: %s", ferry_strerror(rc));
  return b;
}

static int pub(ferry_bus *b, uint64_t id, int64_t timeout)
{
  ferry_frame *f;
  int rc = ferry_bus_loan(b, &f, timeout);
  if (rc)
    return rc;
  ferry_array a;
  if ((rc = ferry_frame_array(f, "img", &a)))
    return rc;
  for (size_t i = 0; i < a.count; i++)
    ((float *)a.data)[i] = (float)(id * 100 + i);
  if ((rc = ferry_frame_array(f, "id", &a)))
    return rc;
  *(uint64_t *)a.data = id;
  return ferry_bus_publish(b, f);
}

static void b_lockstep(void)
{
  char name[400];
  ferry_bus *b = mkbus(oname(name, sizeof name, "cb"), FERRY_BUS_LOCKSTEP, 2);
  REQUIRE(b);
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  const ferry_frame *f;
  ferry_bus_frame_info fi;
  CHECK_RC(ferry_bus_next(s, &f, &fi, 0), -EAGAIN);
  CHECK_OK(pub(b, 0, 0));
  CHECK_OK(pub(b, 1, 0));
  CHECK_RC(pub(b, 2, 0), -EAGAIN); /* two slots, nothing taken */
  ferry_frame *lf;
  CHECK_RC(ferry_bus_loan(b, &lf, 0), -EAGAIN);
  for (uint64_t i = 0; i < 2; i++) {
    REQUIRE_OK(ferry_bus_next(s, &f, &fi, 0));
    CHECK_RC(ferry_bus_next(s, &f, &fi, 0), -EBUSY);
    CHECK_EQ(fi.seq, i);
    CHECK_EQ(fi.skipped, 0);
    ferry_array a;
    REQUIRE_OK(ferry_frame_array(f, "img", &a));
    CHECK(a.dtype == FERRY_DTYPE_F32 && a.ndim == 2 && a.shape[0] == 4 && a.shape[1] == 3);
    CHECK(((const float *)a.data)[11] == (float)(i * 100 + 11));
    REQUIRE_OK(ferry_frame_array(f, "id", &a));
    CHECK_EQ(*(const uint64_t *)a.data, i);
    CHECK_RC(ferry_bus_release(s, NULL), -EINVAL);
    CHECK_OK(ferry_bus_release(s, f));
  }
  CHECK_OK(pub(b, 2, FERRY_SEC));
  CHECK_EQ(ferry_bus_seq(b), 3);
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.published, 3);
  CHECK_EQ(st.subscribers, 1);
  CHECK_EQ(st.mode, FERRY_BUS_LOCKSTEP);
  CHECK_OK(ferry_bus_shutdown(b));
  CHECK_RC(pub(b, 3, 0), -EPIPE);
  REQUIRE_OK(ferry_bus_next(s, &f, &fi, FERRY_SEC));
  CHECK_EQ(fi.seq, 2);
  CHECK_OK(ferry_bus_release(s, f));
  CHECK_RC(ferry_bus_next(s, &f, &fi, FERRY_SEC), -EPIPE);
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s), -EPIPE);
  CHECK_OK(ferry_unlink(name));
}

static void b_latest(void)
{
  char name[400];
  ferry_bus *b = mkbus(oname(name, sizeof name, "cb"), FERRY_BUS_LATEST, 3);
  REQUIRE(b);
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  for (uint64_t i = 0; i < 5; i++)
    CHECK_OK(pub(b, i, 0));
  const ferry_frame *f;
  ferry_bus_frame_info fi;
  REQUIRE_OK(ferry_bus_next(s, &f, &fi, 0));
  CHECK_EQ(fi.seq, 4);
  CHECK_EQ(fi.skipped, 4);
  ferry_array a;
  REQUIRE_OK(ferry_frame_array(f, "id", &a));
  CHECK_EQ(*(const uint64_t *)a.data, 4);
  CHECK_OK(ferry_bus_release(s, f));
  CHECK_RC(ferry_bus_next(s, &f, &fi, 0), -EAGAIN);
  ferry_bus_sub_stats ss;
  CHECK_OK(ferry_sub_stats_get(s, &ss));
  CHECK_EQ(ss.received, 1);
  CHECK_EQ(ss.skipped, 4);
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* ---- the table ------------------------------------------------------------------ */

/* ---- [abi-growth] -------------------------------------------------------------- */

/* Whether the reserved words w[0..n) are zero; zero_words(x.reserved)
 * takes the array's own length (a later field may have taken a word). */
static bool zero_words_n(const uint64_t *w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (w[i])
      return false;
  return true;
}
#define zero_words(a) zero_words_n((a), sizeof(a) / sizeof((a)[0]))

/* Options whose reserved words (or their region options') are not zero are
 * refused, creating nothing; statistics come back with theirs zero,
 * whatever was in them before. */
static void abi_reserved(void)
{
  char name[400];
  oname(name, sizeof name, "cabi");
  ferry_queue *q;
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.reserved[1] = 1;
  CHECK_RC(ferry_queue_create(name, &qo, &q), -EINVAL);
  ferry_queue_options_init(&qo);
  qo.region.reserved[0] = 1;
  CHECK_RC(ferry_queue_create(name, &qo, &q), -EINVAL);
  ferry_heap *h;
  ferry_heap_options ho;
  ferry_heap_options_init(&ho);
  ho.reserved[0] = 1;
  CHECK_RC(ferry_heap_create(name, &ho, &h), -EINVAL);
  ferry_dict *d;
  ferry_dict_options dopt;
  ferry_dict_options_init(&dopt);
  dopt.reserved[2] = 1;
  CHECK_RC(ferry_dict_create(name, &dopt, &d), -EINVAL);
  static const ferry_array_spec spec = {.name = "x", .dtype = FERRY_DTYPE_U8, .ndim = 1,
                                        .shape = {4}};
  ferry_bus *b;
  ferry_bus_options bo;
  ferry_bus_options_init(&bo);
  bo.reserved[0] = 1;
  CHECK_RC(ferry_bus_create(name, &spec, 1, &bo, &b), -EINVAL);
  if (be->redis) {
    ferry_redis_options ro;
    ferry_redis_options_init(&ro);
    CHECK(zero_words(ro.reserved));
    ro.reserved[3] = 1;
    CHECK_RC(ferry_redis_queue_create(name, NULL, &ro, &q), -EINVAL);
    CHECK_RC(ferry_redis_heap_create(name, NULL, &ro, &h), -EINVAL);
  }
  /* Nothing was created by any of them. */
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q), -ENOENT);

  q = mkq(name, 8, 64, BOTH);
  REQUIRE(q);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.reserved[2] = 1;
  ferry_queue *q2;
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, &oo, &q2), -EINVAL);
  CHECK_OK(ferry_queue_put(q, "m", 1, 0));
  ferry_queue_stats qs;
  memset(&qs, 0xff, sizeof qs);
  CHECK_OK(ferry_queue_stats_get(q, &qs));
  CHECK(zero_words(qs.reserved) && qs.depth == 1);
  memset(&qs, 0xff, sizeof qs);
  CHECK_OK(ferry_queue_stat(name, &qs));
  CHECK(zero_words(qs.reserved) && qs.depth == 1);
  if (be->redis) {
    ferry_redis_queue_info info;
    memset(&info, 0xff, sizeof info);
    CHECK_OK(ferry_redis_queue_info_get(name, &info));
    CHECK(zero_words(info.reserved) && info.depth == 1);
  }
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));

  REQUIRE_OK(ferry_heap_create(name, NULL, &h));
  ferry_heap_stats hs;
  memset(&hs, 0xff, sizeof hs);
  CHECK_OK(ferry_heap_stats_get(h, &hs));
  CHECK(zero_words(hs.reserved) && hs.size == 0);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  REQUIRE_OK(ferry_dict_create(name, NULL, &d));
  ferry_dict_stats ds;
  memset(&ds, 0xff, sizeof ds);
  CHECK_OK(ferry_dict_stats_get(d, &ds));
  CHECK(zero_words(ds.reserved) && ds.size == 0);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));

  b = mkbus(name, FERRY_BUS_LOCKSTEP, 2);
  REQUIRE(b);
  ferry_sub *sub;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &sub));
  ferry_bus_stats bs;
  ferry_bus_sub_stats ss[2];
  memset(&bs, 0xff, sizeof bs);
  CHECK_OK(ferry_bus_stats_get(b, &bs));
  CHECK(zero_words(bs.reserved));
  memset(ss, 0xff, sizeof ss);
  CHECK_OK(ferry_sub_stats_get(sub, &ss[0]));
  CHECK(zero_words(ss[0].reserved));
  memset(&bs, 0xff, sizeof bs);
  memset(ss, 0xff, sizeof ss);
  CHECK_EQ(ferry_bus_stat(name, &bs, ss, 2), 1);
  CHECK(zero_words(bs.reserved) && zero_words(ss[0].reserved));
  ferry_bus_unsubscribe(sub);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* What only shared memory has is refused on Redis with -ENOTSUP, creating
 * and changing nothing (docs/design/redis.md). */
static void not_on_redis(void)
{
  char name[400];
  oname(name, sizeof name, "cnr");
  ferry_heap_options ho;
  ferry_heap_options_init(&ho);
  ho.key_type = FERRY_HEAP_KEY_BYTES;
  ferry_heap *h;
  CHECK_RC(ferry_heap_create(name, &ho, &h), -ENOTSUP);
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.expected_producers = 2;
  ferry_queue *q;
  CHECK_RC(ferry_queue_create(name, &qo, &q), -ENOTSUP);
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q), -ENOENT);

  REQUIRE_OK(ferry_heap_create(name, NULL, &h));
  CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = 7}, "r", 1, FERRY_SEC));
  CHECK_RC(ferry_heap_push_ex(h, "k", 1, "x", 1, FERRY_HEAP_GEN_ANY, FERRY_SEC), -ENOTSUP);
  char kb[8], buf[8];
  size_t klen;
  uint64_t gen;
  CHECK_RC(ferry_heap_pop_ex(h, kb, sizeof kb, &klen, buf, sizeof buf, &gen, 0), -ENOTSUP);
  CHECK_RC(ferry_heap_peek_ex(h, kb, sizeof kb, &klen, buf, sizeof buf, &gen), -ENOTSUP);
  CHECK_RC(ferry_heap_generation(h, &gen), -ENOTSUP);
  ferry_heap_record_ex rec = {.key = "k", .klen = 1, .data = "x", .len = 1};
  CHECK_RC(ferry_heap_replace_all_ex(h, &rec, 1, &gen, FERRY_SEC), -ENOTSUP);
  CHECK_EQ(ferry_heap_size(h), 1); /* the record pushed before, and only it */
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  ferry_bus *b = mkbus(name, FERRY_BUS_LOCKSTEP, 2);
  REQUIRE(b);
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, 0), -ENOTSUP);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

static const struct {
  const char *name;
  void (*fn)(void);
} table[] = {
    {"queue: FIFO, statistics, unlink", q_fifo},
    {"queue: sizes, timeouts, batches", q_sizes_timeouts},
    {"queue: capacity", q_capacity},
    {"queue: roles, kinds, create and open errors", q_roles_and_errors},
    {"queue: shutdown and end of stream", q_shutdown_eos},
    {"queue: a producer's death ends the stream", q_producer_death},
    {"queue: reserve/commit/cancel, peek/release", q_zero_copy},
    {"queue: 2 producers x 2 consumers in processes", q_processes},
    {"heap: order, ties, errors", h_order},
    {"heap: replace_all, clear, capacity", h_replace_capacity},
    {"dict: every call, capacity, cursor", d_calls},
    {"dict: update from 3 processes", d_update_processes},
    {"bus: LOCKSTEP, frames by name, end of stream", b_lockstep},
    {"bus: LATEST skips", b_latest},
    {"[abi-growth]: reserved words of options and statistics", abi_reserved},
};

/* Without the backend a Redis name is -ENOTSUP, with a reason. Runs in a
 * child that has not loaded it yet. */
static void no_backend(void)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    setenv("FERRY_REDIS_BACKEND", "/nonexistent/libferry-redis.so.1", 1);
    ferry_queue *q;
    int rc = ferry_queue_open("redis://127.0.0.1:1/jobs", FERRY_ROLE_CONSUMER, NULL, &q);
    const char *why = ferry_redis_status();
    if (strstr(why, "loaded from")) {
      /* Installed system-wide or next to this program: nothing to test. */
      printf("    (a backend is installed: %s)\n", why);
      _exit(0);
    }
    CHECK_RC(rc, -ENOTSUP);
    CHECK(strstr(why, "not installed") != NULL);
    CHECK_RC(ferry_redis_load(), -ENOTSUP);
    printf("    %s\n", why);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
}

static void redis_missing(void)
{
  ft_skip("redis-server is not installed: the Redis half of the table needs it "
          "(scripts/install-deps.sh test installs it)");
}

int main(void)
{
  RUN(no_backend);
  bool have_server = rs_start(&srv, false) == 0;
  if (!have_server)
    RUN(redis_missing); /* the binary then exits 77: not a pass */
  static const struct backend backends[] = {{"shared memory", false}, {"redis", true}};
  for (size_t b = 0; b < 2; b++) {
    be = &backends[b];
    if (be->redis && !have_server)
      break;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
      char label[160];
      snprintf(label, sizeof label, "[%s] %s", be->label, table[i].name);
      ft_run(label, table[i].fn);
    }
  }
  if (have_server) {
    be = &backends[1];
    ft_run("[redis] what only shared memory has: -ENOTSUP", not_on_redis);
    printf("%s\n", ferry_redis_status());
    rs_stop(&srv);
  }
  return ft_done();
}
