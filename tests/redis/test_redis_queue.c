/* SPDX-License-Identifier: MIT */
/*
 * test_redis_queue.c: the Redis queue's contract, quick tier, through the
 * backend's own entry points: names (strict, -EINVAL changing nothing),
 * FIFO, sizes, timeouts, roles, batches in one round trip, capacity,
 * shutdown and end of stream (producers closing and dying), the copy-based
 * zero-copy calls, at-least-once delivery across a SIGKILL within lease +
 * 1 s, no false redelivery during a task of 10 leases, the dead-letter
 * stream after max_deliveries, flat memory (acked entries deleted), the
 * no-lease list mode, network errors and reconnection, and handles
 * inherited through fork.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtest.h"

struct rs_server srv;

static ferry_queue_options qopts(uint32_t cap, uint32_t max_msg, uint32_t role)
{
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.role = role;
  return o;
}

static ferry_redis_options ropts(int64_t lease_ms, uint32_t maxd, uint32_t flags)
{
  ferry_redis_options o;
  ferry_redis_options_init(&o);
  o.lease_ns = lease_ms * FERRY_MSEC;
  o.max_deliveries = maxd;
  o.flags = flags;
  return o;
}

#define BOTH (FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER)

static ferry__rq *mkq(const char *name, uint32_t cap, uint32_t max_msg, int64_t lease_ms,
                      uint32_t maxd, uint32_t flags)
{
  ferry_queue_options o = qopts(cap, max_msg, BOTH);
  ferry_redis_options ro = ropts(lease_ms, maxd, flags);
  ferry__rq *q = NULL;
  int rc = ferry__rq_create(name, &o, &ro, &q);
  if (rc)
    ft_fail(__FILE__, __LINE__, "create %s: %s", name, ferry_strerror(rc));
  return q;
}

static long long xlen(const char *objname, const char *suffix)
{
  char key[400];
  snprintf(key, sizeof key, "ferry:{%s}:%s", objname, suffix);
  const char *argv[] = {"XLEN", key, NULL};
  return rs_int(&srv, argv);
}

/* The object name part of a URL. */
static const char *base(const char *url) { return strrchr(url, '/') + 1; }

/* ---- names ---------------------------------------------------------------- */

static void test_names(void)
{
  static const char *const bad[] = {
      "redis://",
      "redis:///jobs",
      "redis://host",
      "redis://host/",
      "redis://host:0/jobs",
      "redis://host:65536/jobs",
      "redis://host:06379/jobs",
      "redis://host:/jobs",
      "redis://host:12a/jobs",
      "redis://ho_st/jobs",
      "redis://host/a/b",
      "redis://host/jo bs",
      "redis://host/..",
      "redis://user@host/jobs",
      "redis://host/jobs?x=1",
      "redis://[::1/jobs",
      "redis://[zz::1]/jobs",
      "redis://-host/jobs",
      "unix://relative/redis.sock/jobs",
      "unix:///tmp/redis.sock/",
      "unix:///jobs",
      "unix:///tmp//redis.sock/jobs",
      "unix:///tmp/redis.sock/{jobs}",
      "unix:///aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x.sock/jobs",
      "http://host/jobs",
      "jobs",
  };
  long long keys = rs_dbsize(&srv);
  ferry_queue_options o = qopts(16, 64, BOTH);
  ferry_redis_options ro = ropts(1000, 5, 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ferry__rq *q = (ferry__rq *)&o; /* must stay untouched */
    int rc = ferry__rq_create(bad[i], &o, &ro, &q);
    if (rc != -EINVAL)
      ft_fail(__FILE__, __LINE__, "create(\"%s\") = %d, want -EINVAL", bad[i], rc);
    CHECK(q == (ferry__rq *)&o);
    CHECK_RC(ferry__rq_open(bad[i], BOTH, NULL, &q), -EINVAL);
  }
  CHECK_EQ(rs_dbsize(&srv), keys);

  struct ferry__raddr a;
  char nm[FERRY_NAME_MAX + 1];
  CHECK_OK(ferry__redis_parse_name("redis://10.0.0.5:6380/jobs", &a, nm));
  CHECK(a.kind == FERRY__RADDR_TCP && a.port == 6380 && !strcmp(a.host, "10.0.0.5"));
  CHECK(!strcmp(nm, "jobs"));
  CHECK_OK(ferry__redis_parse_name("redis://cache.example/jobs.v2", &a, nm));
  CHECK(a.port == 6379 && !strcmp(a.host, "cache.example") && !strcmp(nm, "jobs.v2"));
  CHECK_OK(ferry__redis_parse_name("redis://[::1]:7000/q", &a, nm));
  CHECK(a.port == 7000 && !strcmp(a.host, "::1"));
  CHECK_OK(ferry__redis_parse_name("unix:///run/redis/redis.sock/jobs", &a, nm));
  CHECK(a.kind == FERRY__RADDR_UNIX && !strcmp(a.path, "/run/redis/redis.sock"));
  CHECK_OK(ferry__redis_parse_server("redis://localhost:6379", &a));
  CHECK_OK(ferry__redis_parse_server("redis://localhost/", &a));
  CHECK_OK(ferry__redis_parse_server("unix:///run/redis.sock", &a));
  CHECK_RC(ferry__redis_parse_server("redis://localhost/jobs", &a), -EINVAL);
}

/* ---- basics ---------------------------------------------------------------- */

static void test_fifo_and_sizes(void)
{
  char name[400], buf[128];
  rname(name, sizeof name, "fifo");
  ferry__rq *q = mkq(name, 16, 64, 1000, 5, 0);
  REQUIRE(q);
  ferry__rq *dup;
  CHECK_RC(ferry__rq_create(name, &(ferry_queue_options){0}, &(ferry_redis_options){0}, &dup),
           -EINVAL);
  ferry_queue_options o = qopts(16, 64, BOTH);
  ferry_redis_options ro = ropts(1000, 5, 0);
  CHECK_RC(ferry__rq_create(name, &o, &ro, &dup), -EEXIST);
  for (int i = 0; i < 10; i++) {
    snprintf(buf, sizeof buf, "message %d", i);
    CHECK_OK(ferry__rq_put(q, buf, strlen(buf) + 1, 0));
  }
  CHECK_OK(ferry__rq_put(q, "", 0, 0)); /* empty messages are messages */
  char big[65];
  memset(big, 'x', sizeof big);
  CHECK_RC(ferry__rq_put(q, big, 65, 0), -EMSGSIZE);
  CHECK_EQ(ferry__rq_depth(q), 11);
  for (int i = 0; i < 10; i++) {
    char want[32];
    snprintf(want, sizeof want, "message %d", i);
    if (i == 3)
      CHECK_RC(ferry__rq_get(q, buf, 4, 0), -EMSGSIZE); /* left for the next get */
    ssize_t n = ferry__rq_get(q, buf, sizeof buf, 0);
    CHECK_EQ(n, (ssize_t)strlen(want) + 1);
    CHECK(n > 0 && !strcmp(buf, want));
  }
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 0);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EAGAIN);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, -1), -EINVAL);
  CHECK_RC(ferry__rq_put(q, "x", 1, -5), -EINVAL);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 150 * FERRY_MSEC), -ETIMEDOUT);
  int64_t dt = ft_ms() - t0;
  CHECK(dt >= 140 && dt < 1000);
  ferry_queue_stats st;
  CHECK_OK(ferry__rq_stats(q, &st));
  CHECK_EQ(st.capacity, 16);
  CHECK_EQ(st.max_msg_size, 64);
  CHECK_EQ(st.puts, 11);
  CHECK_EQ(st.gets, 11);
  CHECK_EQ(st.producers, 1);
  CHECK_EQ(st.consumers, 1);
  ferry__rq_close(q);
  /* Acknowledged messages are deleted: nothing grows. */
  CHECK_EQ(xlen(base(name), "q"), 0);
  CHECK_OK(ferry__redis_unlink(name));
  CHECK_RC(ferry__redis_unlink(name), -ENOENT);
  CHECK_RC(ferry__rq_open(name, BOTH, NULL, &dup), -ENOENT);
}

static void test_roles_and_kinds(void)
{
  char name[400], buf[16];
  rname(name, sizeof name, "roles");
  ferry__rq *q = mkq(name, 16, 64, 1000, 5, 0);
  REQUIRE(q);
  ferry__rq *p, *c;
  CHECK_RC(ferry__rq_open(name, 0, NULL, &p), -EINVAL);
  CHECK_RC(ferry__rq_open(name, FERRY_ROLE_PUBLISHER, NULL, &p), -EINVAL);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry__rq_open(name, FERRY_ROLE_CONSUMER, &oo, &p), -EINVAL);
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &c));
  CHECK_RC(ferry__rq_get(p, buf, sizeof buf, 0), -EPERM);
  CHECK_RC(ferry__rq_put(c, "x", 1, 0), -EPERM);
  CHECK_OK(ferry__rq_put(p, "x", 1, 0));
  CHECK_EQ(ferry__rq_get(c, buf, sizeof buf, 0), 1);
  ferry__rq_close(p);
  ferry__rq_close(c);
  ferry__rq_close(q);
  /* Another kind under the name: FERRY_EKIND. */
  char key[400];
  snprintf(key, sizeof key, "ferry:{%s}:meta", base(name));
  const char *argv[] = {"HSET", key, "kind", "dict", NULL};
  CHECK_EQ(rs_int(&srv, argv), 0);
  CHECK_RC(ferry__rq_open(name, BOTH, NULL, &p), FERRY_EKIND);
  const char *argv2[] = {"HSET", key, "kind", "queue", "layout", "9", NULL};
  rs_int(&srv, argv2);
  CHECK_RC(ferry__rq_open(name, BOTH, NULL, &p), FERRY_EVERSION);
  const char *argv3[] = {"HSET", key, "layout", "1", "capacity", "-4", NULL};
  rs_int(&srv, argv3);
  CHECK_RC(ferry__rq_open(name, BOTH, NULL, &p), FERRY_ECORRUPT);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- batches ---------------------------------------------------------------- */

static void test_batches_one_round_trip(void)
{
  char name[400];
  rname(name, sizeof name, "batch");
  ferry__rq *q = mkq(name, 4096, 64, 1000, 5, 0);
  REQUIRE(q);
  enum { N = 500 };
  static char data[N][16];
  ferry_queue_vec v[N];
  for (int i = 0; i < N; i++) {
    int n = snprintf(data[i], sizeof data[i], "m%d", i);
    v[i].data = data[i];
    v[i].len = (size_t)n;
  }
  v[7].len = 65;
  CHECK_RC(ferry__rq_put_many(q, v, N, 0), -EMSGSIZE); /* checked first: nothing put */
  CHECK_EQ(ferry__rq_depth(q), 0);
  v[7].len = 2;
  long long before = rt_calls("evalsha");
  CHECK_EQ(ferry__rq_put_many(q, v, N, 0), N);
  CHECK_EQ(rt_calls("evalsha") - before, 1); /* one script call, one round trip */
  static char out[N][16];
  ferry_queue_vec g[N];
  for (int i = 0; i < N; i++)
    g[i] = (ferry_queue_vec){.data = out[i], .len = sizeof out[i]};
  before = rt_calls("evalsha");
  long long reads = rt_calls("xreadgroup");
  CHECK_EQ(ferry__rq_get_many(q, g, N, 0), N);
  /* One write: the take script and a plain read behind it. */
  CHECK_EQ(rt_calls("evalsha") - before, 1);
  CHECK_EQ(rt_calls("xreadgroup") - reads, 1);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(g[i].len, v[i].len);
    CHECK(!memcmp(out[i], data[i], v[i].len));
  }
  /* The next take acknowledges the batch in the same call. */
  CHECK_RC(ferry__rq_get_many(q, g, N, 0), -EAGAIN);
  CHECK_EQ(xlen(base(name), "q"), 0);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_capacity(void)
{
  char name[400], buf[16];
  rname(name, sizeof name, "cap");
  ferry__rq *q = mkq(name, 4, 16, 1000, 5, 0);
  REQUIRE(q);
  ferry_queue_vec v[6];
  for (int i = 0; i < 6; i++)
    v[i] = (ferry_queue_vec){.data = "abc", .len = 3};
  CHECK_EQ(ferry__rq_put_many(q, v, 6, 0), 4);
  CHECK_RC(ferry__rq_put(q, "x", 1, 0), -EAGAIN);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry__rq_put(q, "x", 1, 100 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 90);
  /* Held messages count until acknowledged: a get alone frees no room. */
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 3);
  CHECK_RC(ferry__rq_put(q, "x", 1, 0), -EAGAIN);
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 3); /* acks the first */
  CHECK_OK(ferry__rq_put(q, "y", 1, 0));
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- end of stream ------------------------------------------------------------ */

static void test_shutdown(void)
{
  char name[400], buf[16];
  rname(name, sizeof name, "shut");
  ferry__rq *q = mkq(name, 16, 16, 1000, 5, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "a", 1, 0));
  CHECK_OK(ferry__rq_put(q, "b", 1, 0));
  CHECK_OK(ferry__rq_shutdown(q));
  CHECK_OK(ferry__rq_shutdown(q));
  CHECK_RC(ferry__rq_put(q, "c", 1, 0), -EPIPE);
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 1);
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 1);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EPIPE);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, FERRY_FOREVER), -EPIPE);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_eos_producers(void)
{
  char name[400], buf[16];
  rname(name, sizeof name, "eos");
  ferry_queue_options o = qopts(16, 16, FERRY_ROLE_CONSUMER);
  ferry_redis_options ro = ropts(1000, 5, 0);
  ferry__rq *c;
  REQUIRE_OK(ferry__rq_create(name, &o, &ro, &c));
  /* No producer ever: an empty queue is just empty. */
  CHECK_RC(ferry__rq_get(c, buf, sizeof buf, 0), -EAGAIN);
  ferry__rq *p;
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  CHECK_OK(ferry__rq_put(p, "a", 1, 0));
  ferry__rq_close(p);
  CHECK_EQ(ferry__rq_get(c, buf, sizeof buf, 0), 1); /* drained first */
  CHECK_RC(ferry__rq_get(c, buf, sizeof buf, 0), -EPIPE);
  /* A producer that opens later resumes the stream. */
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  CHECK_RC(ferry__rq_get(c, buf, sizeof buf, 0), -EAGAIN);
  /* A producer killed: the stream ends within about a lease. */
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rq *pp;
    if (ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &pp) == 0)
      ferry__rq_put(pp, "b", 1, 0);
    raise(SIGKILL);
  }
  ft_wait(pid, 5000);
  ferry__rq_close(p);
  CHECK_EQ(ferry__rq_get(c, buf, sizeof buf, FERRY_SEC), 1);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry__rq_get(c, buf, sizeof buf, 5 * FERRY_SEC), -EPIPE);
  CHECK(ft_ms() - t0 < 1000 + 1000);
  ferry__rq_close(c);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- the copy-based zero-copy calls ------------------------------------------------ */

static void test_reserve_peek(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "zc");
  ferry__rq *q = mkq(name, 16, 32, 1000, 5, 0);
  REQUIRE(q);
  void *d;
  CHECK_RC(ferry__rq_reserve(q, 33, &d, 0), -EMSGSIZE);
  CHECK_RC(ferry__rq_commit(q, 1), -EINVAL);
  CHECK_RC(ferry__rq_cancel(q), -EINVAL);
  REQUIRE_OK(ferry__rq_reserve(q, 10, &d, 0));
  CHECK_RC(ferry__rq_reserve(q, 10, &d, 0), -EBUSY);
  CHECK_RC(ferry__rq_put(q, "x", 1, 0), -EBUSY);
  memcpy(d, "hello!!!!!", 10);
  CHECK_RC(ferry__rq_commit(q, 11), -EMSGSIZE);
  CHECK_OK(ferry__rq_commit(q, 5));
  REQUIRE_OK(ferry__rq_reserve(q, 4, &d, 0));
  CHECK_OK(ferry__rq_cancel(q));
  CHECK_OK(ferry__rq_put(q, "second", 6, 0));
  const void *p;
  size_t len;
  CHECK_RC(ferry__rq_release(q), -EINVAL);
  REQUIRE_OK(ferry__rq_peek(q, &p, &len, 0));
  CHECK(len == 5 && !memcmp(p, "hello", 5));
  CHECK_RC(ferry__rq_peek(q, &p, &len, 0), -EBUSY);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EBUSY);
  CHECK_OK(ferry__rq_release(q));
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 6);
  ferry__rq_close(q);
  CHECK_EQ(xlen(base(name), "q"), 0);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- at least once ---------------------------------------------------------------- */

/* A child takes one message and dies holding it: another consumer gets it
 * again within lease + 1 s of the death. */
static void test_redelivery_after_kill(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "kill");
  const int64_t lease = 400;
  ferry__rq *q = mkq(name, 16, 32, lease, 5, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "precious", 8, 0));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rq *c;
    char b[32];
    if (ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &c) == 0 &&
        ferry__rq_get(c, b, sizeof b, FERRY_SEC) == 8)
      (void)!write(fds[1], "g", 1);
    pause();
    _exit(0);
  }
  char g;
  CHECK(read(fds[0], &g, 1) == 1);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EAGAIN); /* held by the child */
  kill(pid, SIGKILL);
  int64_t t0 = ft_ms();
  ft_wait(pid, 5000);
  ssize_t n = ferry__rq_get(q, buf, sizeof buf, 5 * FERRY_SEC);
  int64_t dt = ft_ms() - t0;
  CHECK_EQ(n, 8);
  CHECK(!memcmp(buf, "precious", 8));
  CHECK(dt <= lease + 1000);
  printf("    redelivered %lld ms after the kill (lease %lld ms)\n", (long long)dt,
         (long long)lease);
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.reclaimed, 1);
  close(fds[0]);
  close(fds[1]);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* A consumer works on a message for 10 leases: the keeper renews it, and
 * a busy second consumer never sees it. */
static void test_long_task(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "long");
  const int64_t lease = 500;
  ferry__rq *q = mkq(name, 16, 32, lease, 5, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "slow", 4, 0));
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 4);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rq *c;
    char b[32];
    int got = 0;
    if (ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &c) == 0) {
      int64_t end = ft_ms() + 10 * lease;
      while (ft_ms() < end)
        if (ferry__rq_get(c, b, sizeof b, 50 * FERRY_MSEC) >= 0)
          got++;
      ferry__rq_close(c);
    }
    _exit(got ? 1 : 0);
  }
  ft_wait_ok(pid, 10 * lease + 5000); /* "working" meanwhile */
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.reclaimed, 0);
  CHECK_EQ(info.held, 1);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EAGAIN); /* acks it */
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.held, 0);
  CHECK_EQ(info.depth, 0);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* One consumer in a child: takes a message (waiting up to 4 leases) and
 * reports its first byte ('n' if nothing came). A message whose first
 * byte is in `poison` "crashes" the child: it dies without an ack. */
static char take_in_child(const char *name, int64_t lease, const char *poison)
{
  int fds[2];
  if (pipe(fds) != 0) {
    CHECK(!"pipe");
    return 'n';
  }
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rq *c;
    char b[32];
    ssize_t n = -1;
    if (ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &c) == 0)
      n = ferry__rq_get(c, b, sizeof b, 4 * lease * FERRY_MSEC);
    char r = n > 0 ? b[0] : 'n';
    (void)!write(fds[1], &r, 1);
    if (n > 0 && strchr(poison, r))
      raise(SIGKILL);
    ferry__rq_close(c);
    _exit(0);
  }
  char r = 0;
  CHECK(read(fds[0], &r, 1) == 1);
  ft_wait(pid, 5000);
  close(fds[0]);
  close(fds[1]);
  return r;
}

/* A poison message kills every consumer that takes it: after
 * max_deliveries it goes to the dead-letter stream, with its reason, and
 * is never delivered again. */
static void test_dead_letter(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "dlq");
  const int64_t lease = 150;
  ferry__rq *q = mkq(name, 16, 32, lease, 3, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "poison", 6, 0));
  CHECK_OK(ferry__rq_put(q, "fine", 4, 0));
  int deliveries = 0;
  for (int round = 0; round < 5; round++)
    deliveries += take_in_child(name, lease, "p") == 'p';
  CHECK_EQ(deliveries, 3);
  ferry_redis_dead_letter dl[4];
  char dbuf[256];
  CHECK_EQ(ferry__rq_dead(name, dl, dbuf, sizeof dbuf, 4), 1);
  CHECK(dl[0].len == 6 && !memcmp(dl[0].data, "poison", 6));
  CHECK_EQ(dl[0].deliveries, 3);
  CHECK(strstr(dl[0].reason, "max_deliveries 3") != NULL);
  printf("    dead letter: %s\n", dl[0].reason);
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 2 * lease * FERRY_MSEC), -ETIMEDOUT);
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.dead, 1);
  CHECK_EQ(info.depth, 0);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* A take that reclaims an expired message also reads a new one, and asked
 * for one: the new one goes back, its delivery uncounted [queue-give]. So
 * when every message kills its consumer, each is still seen exactly
 * max_deliveries times, never dead-lettered on a delivery nobody saw. */
static void test_poison_seen_exactly(void)
{
  char name[400];
  rname(name, sizeof name, "exact");
  const int64_t lease = 150;
  ferry__rq *q = mkq(name, 16, 32, lease, 2, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "a", 1, 0));
  int seen[2] = {0, 0}, rounds = 0;
  char r;
  do {
    r = take_in_child(name, lease, "ab");
    if (r == 'a' || r == 'b')
      seen[r - 'a']++;
    else
      CHECK_EQ(r, 'n');
    if (++rounds == 1) { /* "a" is held by a dead consumer, expired; "b" is new */
      usleep((useconds_t)(lease + 100) * 1000);
      CHECK_OK(ferry__rq_put(q, "b", 1, 0));
    }
  } while (r != 'n' && rounds < 10);
  CHECK_EQ(seen[0], 2);
  CHECK_EQ(seen[1], 2);
  ferry_redis_dead_letter dl[4];
  char dbuf[256];
  CHECK_EQ(ferry__rq_dead(name, dl, dbuf, sizeof dbuf, 4), 2);
  CHECK_EQ(dl[0].deliveries, 2);
  CHECK_EQ(dl[1].deliveries, 2);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* close gives back what was taken but never handed out, at once. */
static void test_close_gives_back(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "back");
  ferry__rq *q = mkq(name, 16, 32, 5000, 5, 0);
  REQUIRE(q);
  CHECK_OK(ferry__rq_put(q, "1", 1, 0));
  CHECK_OK(ferry__rq_put(q, "22", 2, 0));
  ferry__rq *c;
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &c));
  ferry_queue_vec v[2] = {{buf, sizeof buf}, {buf + 16, 1}};
  CHECK_EQ(ferry__rq_get_many(c, v, 2, 0), 1); /* "22" does not fit its vec */
  ferry__rq_close(c);                           /* "1" done, "22" given back */
  int64_t t0 = ft_ms();
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 2 * FERRY_SEC), 2);
  CHECK(ft_ms() - t0 < 1000); /* not a lease of 5 s */
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- acknowledgements out of order ------------------------------------------------- */

/* Takes want messages from c (timeout 0), records their numbers in seen. */
static ssize_t take_nums(ferry__rq *c, size_t want, int seen[], int nmsg)
{
  char buf[8][16];
  ferry_queue_vec v[8];
  for (size_t i = 0; i < want; i++)
    v[i] = (ferry_queue_vec){buf[i], sizeof buf[i]};
  ssize_t n = ferry__rq_get_many(c, v, want, 0);
  for (ssize_t i = 0; i < n; i++) {
    int k = -1;
    if (v[i].len == 3 && sscanf(buf[i], "m%02d", &k) == 1 && k >= 0 && k < nmsg)
      seen[k]++;
    else
      CHECK(!"a damaged message");
  }
  return n;
}

/* A child that puts msg on queue `name` 100 ms from now, for a get that
 * blocks meanwhile; wait for it with ft_wait_ok(). */
static pid_t put_later(const char *name, const char *msg)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    usleep(100 * 1000);
    ferry__rq *p;
    if (ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &p) == 0) {
      ferry__rq_put(p, msg, strlen(msg), 0);
      ferry__rq_close(p);
    }
    _exit(0);
  }
  return pid;
}

/* Acknowledged messages leave the stream whether they are acknowledged in
 * the stream's order (the acknowledged prefix is trimmed) or ahead of an
 * older message another consumer still holds (deleted one by one): the
 * depth always counts exactly the messages waiting or held [queue-flat]. */
static void test_ack_out_of_order(void)
{
  char name[400];
  rname(name, sizeof name, "ackorder");
  ferry__rq *q = mkq(name, 64, 16, 5000, 5, 0);
  REQUIRE(q);
  enum { N = 12 };
  for (int i = 0; i < N; i++) {
    char m[8];
    snprintf(m, sizeof m, "m%02d", i);
    CHECK_OK(ferry__rq_put(q, m, 3, 0));
  }
  ferry__rq *a, *b;
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &a));
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_CONSUMER, NULL, &b));
  int seen[N] = {0};
  CHECK_EQ(take_nums(a, 2, seen, N), 2); /* a holds 0, 1 */
  CHECK_EQ(take_nums(b, 3, seen, N), 3); /* b holds 2, 3, 4 */
  CHECK_EQ(ferry__rq_depth(q), N);
  CHECK_EQ(take_nums(b, 3, seen, N), 3); /* acks 2-4 ahead of 0, 1; holds 5-7 */
  CHECK_EQ(ferry__rq_depth(q), N - 3);
  CHECK_EQ(xlen(base(name), "q"), N - 3);
  CHECK_EQ(take_nums(a, 2, seen, N), 2); /* acks 0, 1: the prefix goes; holds 8, 9 */
  CHECK_EQ(ferry__rq_depth(q), N - 5);
  CHECK_EQ(take_nums(b, 2, seen, N), 2); /* acks 5-7; holds 10, 11 */
  CHECK_EQ(ferry__rq_depth(q), N - 8);
  CHECK_RC(take_nums(a, 2, seen, N), -EAGAIN); /* acks 8, 9 */
  CHECK_EQ(ferry__rq_depth(q), 2);
  CHECK_RC(take_nums(b, 2, seen, N), -EAGAIN); /* acks 10, 11 */
  CHECK_EQ(ferry__rq_depth(q), 0);
  CHECK_EQ(xlen(base(name), "q"), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ(seen[i], 1);
  /* Every message read was counted once it was acknowledged. */
  ferry_queue_stats st;
  CHECK_OK(ferry__rq_stats(q, &st));
  CHECK_EQ(st.gets, N);
  /* A message read by a blocking get counts too, at the consumer's next
   * call to the server at the latest (here: its close). */
  pid_t pid = put_later(name, "m00");
  CHECK_EQ(take_nums(a, 1, seen, N), -EAGAIN);
  char buf[16];
  CHECK_EQ(ferry__rq_get(a, buf, sizeof buf, 3 * FERRY_SEC), 3);
  ft_wait_ok(pid, 5000);
  ferry__rq_close(a);
  ferry__rq_close(b);
  CHECK_OK(ferry__rq_stats(q, &st));
  CHECK_EQ(st.gets, N + 1);
  CHECK_EQ(ferry__rq_depth(q), 0);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- no leases ---------------------------------------------------------------------- */

static void test_no_lease_list(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "list");
  ferry__rq *q = mkq(name, 8, 32, 1000, 5, FERRY_REDIS_NO_LEASE);
  REQUIRE(q);
  ferry_queue_vec v[10];
  char d[10][4];
  for (int i = 0; i < 10; i++) {
    snprintf(d[i], sizeof d[i], "%d", i);
    v[i] = (ferry_queue_vec){d[i], strlen(d[i])};
  }
  CHECK_EQ(ferry__rq_put_many(q, v, 10, 0), 8);
  for (int i = 0; i < 8; i++) {
    CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 0), 1);
    CHECK(buf[0] == '0' + i);
  }
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, 0), -EAGAIN);
  /* A blocked get wakes on a put. */
  pid_t pid = put_later(name, "late");
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, 3 * FERRY_SEC), 4);
  ft_wait_ok(pid, 5000);
  CHECK_OK(ferry__rq_shutdown(q));
  CHECK_RC(ferry__rq_get(q, buf, sizeof buf, FERRY_SEC), -EPIPE);
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.flags, FERRY_REDIS_NO_LEASE);
  CHECK_EQ(info.puts, 9);
  CHECK_EQ(info.gets, 9);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- network ------------------------------------------------------------------------ */

static void test_network_errors(void)
{
  ferry_queue_options o = qopts(16, 16, BOTH);
  ferry_redis_options ro = ropts(1000, 5, 0);
  ferry__rq *q;
  char url[400];
  snprintf(url, sizeof url, "unix://%s/nobody-here.sock/jobs", srv.dir);
  CHECK_RC(ferry__rq_create(url, &o, &ro, &q), -ECONNREFUSED);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 0;
  CHECK_RC(ferry__rq_open(url, BOTH, &oo, &q), -ECONNREFUSED);
  /* A TCP port nobody listens on (bound, not listening). */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  REQUIRE(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
          getsockname(s, (struct sockaddr *)&sa, &sl) == 0);
  snprintf(url, sizeof url, "redis://127.0.0.1:%d/jobs", ntohs(sa.sin_port));
  CHECK_RC(ferry__rq_open(url, BOTH, &oo, &q), -ECONNREFUSED);
  close(s);
}

/* The server goes away and comes back: calls fail with a network errno
 * meanwhile, and the handle reconnects by itself. */
static void test_reconnect(void)
{
  struct rs_server own;
  if (rs_start(&own, true)) {
    ft_fail(__FILE__, __LINE__, "second server");
    return;
  }
  char name[400], buf[32];
  rs_url(&own, name, sizeof name, "re");
  ferry_queue_options o = qopts(16, 16, BOTH);
  ferry_redis_options ro = ropts(1000, 5, 0);
  ferry__rq *q;
  REQUIRE_OK(ferry__rq_create(name, &o, &ro, &q));
  CHECK_OK(ferry__rq_put(q, "a", 1, 0));
  rs_kill(&own);
  int rc = ferry__rq_put(q, "b", 1, 0);
  CHECK(rc == -ECONNREFUSED || rc == -ECONNRESET);
  int64_t t0 = ft_ms();
  rc = (int)ferry__rq_get(q, buf, sizeof buf, 200 * FERRY_MSEC);
  CHECK(rc == -ECONNREFUSED || rc == -ETIMEDOUT);
  CHECK(ft_ms() - t0 < 1500);
  REQUIRE(rs_restart(&own) == 0);
  CHECK_OK(ferry__rq_put(q, "c", 1, FERRY_SEC));
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, FERRY_SEC), 1);
  CHECK(buf[0] == 'a'); /* kept by the AOF */
  CHECK_EQ(ferry__rq_get(q, buf, sizeof buf, FERRY_SEC), 1);
  CHECK(buf[0] == 'c');
  ferry__rq_close(q);
  rs_stop(&own);
}

/* A forked child must open the queue itself. */
static void test_fork(void)
{
  char name[400];
  rname(name, sizeof name, "fork");
  ferry__rq *q = mkq(name, 16, 16, 1000, 5, 0);
  REQUIRE(q);
  pid_t pid = ft_fork();
  if (pid == 0) {
    char b[8];
    CHECK_RC(ferry__rq_put(q, "x", 1, 0), FERRY__REDIS_EFORKED);
    CHECK_RC(ferry__rq_get(q, b, sizeof b, 0), FERRY__REDIS_EFORKED);
    ferry__rq_close(q); /* only frees: the parent's handle lives on */
    ft_child_exit();
  }
  ft_wait_ok(pid, 5000);
  CHECK_OK(ferry__rq_put(q, "y", 1, 0));
  char b[8];
  CHECK_EQ(ferry__rq_get(q, b, sizeof b, 0), 1);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

/* Every test unlinked its queue: no key is left on the server. */
static void test_nothing_left(void) { CHECK_EQ(rs_dbsize(&srv), 0); }

int main(void)
{
  rs_require(&srv, false);
  RUN(test_names);
  RUN(test_fifo_and_sizes);
  RUN(test_roles_and_kinds);
  RUN(test_batches_one_round_trip);
  RUN(test_capacity);
  RUN(test_shutdown);
  RUN(test_eos_producers);
  RUN(test_reserve_peek);
  RUN(test_redelivery_after_kill);
  RUN(test_long_task);
  RUN(test_dead_letter);
  RUN(test_poison_seen_exactly);
  RUN(test_close_gives_back);
  RUN(test_ack_out_of_order);
  RUN(test_no_lease_list);
  RUN(test_network_errors);
  RUN(test_reconnect);
  RUN(test_fork);
  RUN(test_nothing_left);
  return ft_done();
}
