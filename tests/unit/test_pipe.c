/* SPDX-License-Identifier: MIT */
/*
 * test_pipe.c: the pipe's contract, quick tier: duplex traffic, sizes and
 * -EMSGSIZE with nothing written, timeouts, zero-copy, a third end
 * (-EBUSY), the peer closing or dying (-EPIPE after draining), takeover of
 * a dead end, bad input with nothing left behind, and a forked ping-pong
 * that prints its round-trip time (no timing assertion).
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/pipe.h"
#include "test.h"

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static ferry_pipe_options opts(uint32_t cap, uint32_t max_msg)
{
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  o.spin_ns = 5000;
  return o;
}

static void test_duplex(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe_options o = opts(4, 32);
  ferry_pipe *a, *b, *c = NULL;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  CHECK_EQ(ferry_pipe_end(a), 0);
  CHECK_EQ(ferry_pipe_end(b), 1);
  CHECK_RC(ferry_pipe_open(name, NULL, &c), -EBUSY);
  CHECK(c == NULL);
  char buf[64];
  CHECK_RC(ferry_pipe_recv(a, buf, sizeof buf, 0), -EAGAIN);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 4; i++) {
      snprintf(buf, sizeof buf, "a%d", i);
      CHECK_OK(ferry_pipe_send(a, buf, strlen(buf), 0));
      snprintf(buf, sizeof buf, "b%d", i);
      CHECK_OK(ferry_pipe_send(b, buf, strlen(buf), 0));
    }
    CHECK_RC(ferry_pipe_send(a, "x", 1, 0), -EAGAIN);
    CHECK_RC(ferry_pipe_send(a, "x", 1, 10 * FERRY_MSEC), -ETIMEDOUT);
    for (int i = 0; i < 4; i++) {
      char want[8];
      snprintf(want, sizeof want, "a%d", i);
      ssize_t n = ferry_pipe_recv(b, buf, sizeof buf, 0);
      CHECK(n == 2 && memcmp(buf, want, 2) == 0);
      snprintf(want, sizeof want, "b%d", i);
      n = ferry_pipe_recv(a, buf, sizeof buf, 0);
      CHECK(n == 2 && memcmp(buf, want, 2) == 0);
    }
  }
  char big[64] = {0};
  CHECK_RC(ferry_pipe_send(a, big, 33, 0), -EMSGSIZE);
  CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, 0), -EAGAIN); /* nothing written */
  CHECK_OK(ferry_pipe_send(a, big, 32, 0));
  CHECK_RC(ferry_pipe_recv(b, buf, 8, 0), -EMSGSIZE);
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, 0), 32);
  CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, 20 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_pipe_send(a, big, 1, -5), -EINVAL);

  /* zero-copy both ways */
  void *d;
  REQUIRE_OK(ferry_pipe_reserve(b, 16, &d, 0));
  CHECK_RC(ferry_pipe_send(b, "x", 1, 0), -EBUSY);
  memcpy(d, "zero", 4);
  CHECK_RC(ferry_pipe_commit(b, 17), -EMSGSIZE);
  CHECK_OK(ferry_pipe_commit(b, 4));
  CHECK_RC(ferry_pipe_commit(b, 4), -EINVAL);
  const void *pd;
  size_t len;
  REQUIRE_OK(ferry_pipe_peek(a, &pd, &len, 0));
  CHECK(len == 4 && memcmp(pd, "zero", 4) == 0);
  CHECK_RC(ferry_pipe_recv(a, buf, sizeof buf, 0), -EBUSY);
  CHECK_OK(ferry_pipe_release(a));
  CHECK_RC(ferry_pipe_release(a), -EINVAL);

  /* close: the peer drains, then -EPIPE; sends to it fail */
  CHECK_OK(ferry_pipe_send(a, "last", 4, 0));
  ferry_pipe_close(a);
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, 0), 4);
  CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, FERRY_FOREVER), -EPIPE);
  CHECK_RC(ferry_pipe_send(b, "x", 1, 0), -EPIPE);
  /* a closed end may be taken again: traffic resumes */
  REQUIRE_OK(ferry_pipe_open(name, NULL, &c));
  CHECK_EQ(ferry_pipe_end(c), 0);
  CHECK_OK(ferry_pipe_send(b, "hi", 2, 0));
  CHECK_EQ(ferry_pipe_recv(c, buf, sizeof buf, 0), 2);
  ferry_pipe_close(c);
  ferry_pipe_close(b);
  ferry_pipe_close(NULL);
  CHECK_OK(ferry_unlink(name));
}

static void test_bad_input(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe *p = NULL;
  ferry_pipe_options o = opts(0, 16);
  CHECK_RC(ferry_pipe_create(name, &o, &p), -EINVAL);
  o = opts(4, 0);
  CHECK_RC(ferry_pipe_create(name, &o, &p), -EINVAL);
  o = opts(4, 16);
  o.spin_ns = -1;
  CHECK_RC(ferry_pipe_create(name, &o, &p), -EINVAL);
  o = opts(4, 16);
  CHECK_RC(ferry_pipe_create("no/slash", &o, &p), -EINVAL);
  CHECK_RC(ferry_pipe_open(name, NULL, &p), -ENOENT);
  CHECK(p == NULL);
  CHECK(!shm_exists(name));
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  CHECK_RC(ferry_pipe_open(name, NULL, &p), FERRY_EKIND);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
}

/* The peer sends and dies: the survivor drains, then gets -EPIPE within
 * the liveness bound, and a new process can take the dead end. */
static void test_peer_dies(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe_options o = opts(8, 64);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_pipe *b;
    CHECK_OK(ferry_pipe_open(name, NULL, &b));
    for (int i = 0; i < 3; i++)
      CHECK_OK(ferry_pipe_send(b, "msg", 3, 0));
    void *d;
    CHECK_OK(ferry_pipe_reserve(b, 64, &d, 0));
    memset(d, 0xee, 30); /* killed half-way through a message */
    raise(SIGKILL);
  }
  int st = ft_wait(c, 10000);
  CHECK(WIFSIGNALED(st));
  char buf[64];
  int got = 0;
  ssize_t n;
  while ((n = ferry_pipe_recv(a, buf, sizeof buf, 5 * FERRY_SEC)) >= 0) {
    CHECK(n == 3 && memcmp(buf, "msg", 3) == 0);
    got++;
  }
  CHECK_RC(n, -EPIPE);
  CHECK_EQ(got, 3);
  CHECK_RC(ferry_pipe_send(a, "x", 1, 0), -EPIPE);
  /* takeover */
  ferry_pipe *b;
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  CHECK_EQ(ferry_pipe_end(b), 1);
  CHECK_OK(ferry_pipe_send(a, "again", 5, 0));
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, 0), 5);
  ferry_pipe_close(b);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* A live third party is refused while both holders live; a dead sender
 * blocked on a full ring is noticed by the receiver's side too. */
static void test_third_end_and_blocked_sender(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe_options o = opts(2, 16);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  int sync[2];
  REQUIRE(pipe(sync) == 0);
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_pipe *b;
    CHECK_OK(ferry_pipe_open(name, NULL, &b));
    if (write(sync[1], "x", 1) != 1)
      _exit(2);
    /* blocks: a never reads; ends when a closes */
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
      rc = ferry_pipe_send(b, "z", 1, 10 * FERRY_SEC);
    CHECK_RC(rc, -EPIPE);
    ferry_pipe_close(b);
    ft_child_exit();
  }
  char x;
  REQUIRE(read(sync[0], &x, 1) == 1);
  ferry_pipe *third = NULL;
  CHECK_RC(ferry_pipe_open(name, NULL, &third), -EBUSY);
  usleep(20000);
  ferry_pipe_close(a);
  ft_wait_ok(c, 10000);
  close(sync[0]);
  close(sync[1]);
  CHECK_OK(ferry_unlink(name));
}

/* A child that opens the pipe after `delay_ms`, echoes one message, then
 * closes ('c') or is killed ('k'). */
static pid_t late_peer(const char *name, int delay_ms, char end)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    usleep((useconds_t)delay_ms * 1000);
    ferry_pipe *b;
    CHECK_OK(ferry_pipe_open(name, NULL, &b));
    char buf[64];
    ssize_t n = ferry_pipe_recv(b, buf, sizeof buf, FT_TIMEOUT);
    CHECK(n >= 0);
    if (n >= 0)
      CHECK_OK(ferry_pipe_send(b, buf, (size_t)n, FT_TIMEOUT));
    if (end == 'k' && !ft_failures)
      raise(SIGKILL);
    ferry_pipe_close(b);
    ft_child_exit();
  }
  return pid;
}

/* Waiting for a peer (issue 12): before the first one, after one that
 * closed, after one that died; the wait ends when a successor takes the
 * end, and traffic resumes. */
static void test_wait_peer(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe_options o = opts(4, 64);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  CHECK_RC(ferry_pipe_wait_peer(a, -1), -EINVAL);
  CHECK_RC(ferry_pipe_wait_peer(a, 0), -EAGAIN); /* never taken */
  CHECK_RC(ferry_pipe_wait_peer(a, 30 * FERRY_MSEC), -ETIMEDOUT);
  char buf[64];
  for (int round = 0; round < 3; round++) {
    /* round 0: a first peer, that closes; 1: a second one, that dies; 2: a
     * third, waited for while the second is dead and not noticed yet, and
     * that dies too. */
    pid_t b = late_peer(name, 100, round == 0 ? 'c' : 'k');
    int64_t t0 = ft_ms();
    CHECK_OK(ferry_pipe_wait_peer(a, FT_TIMEOUT));
    CHECK(ft_ms() - t0 >= 90); /* it did wait for the open */
    CHECK_OK(ferry_pipe_wait_peer(a, 0)); /* and a live peer is there */
    CHECK_OK(ferry_pipe_send(a, "echo", 4, 0));
    CHECK_EQ(ferry_pipe_recv(a, buf, sizeof buf, FT_TIMEOUT), 4);
    int st = ft_wait(b, 10000);
    if (round == 0) {
      CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
      CHECK_RC(ferry_pipe_recv(a, buf, sizeof buf, 0), -EPIPE); /* closed */
    } else {
      CHECK(st != -1 && WIFSIGNALED(st));
    }
  }
  /* A dead peer is recognised at the first look, not after a liveness
   * period (its lock may outlive waitpid() a moment), and its end marked
   * closed. */
  int rc;
  int64_t end = ft_ms() + 5000;
  while ((rc = ferry_pipe_wait_peer(a, 0)) == 0 && ft_ms() < end)
    usleep(1000);
  CHECK_RC(rc, -EAGAIN);
  CHECK_RC(ferry_pipe_recv(a, buf, sizeof buf, 0), -EPIPE);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

static void test_ping_pong(void)
{
  char name[64];
  ft_name(name, sizeof name, "p");
  ferry_pipe_options o = opts(16, 64);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  enum { ROUNDS = 20000 };
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_pipe *b;
    CHECK_OK(ferry_pipe_open(name, NULL, &b));
    char buf[64];
    ssize_t n;
    while ((n = ferry_pipe_recv(b, buf, sizeof buf, 10 * FERRY_SEC)) >= 0)
      CHECK_OK(ferry_pipe_send(b, buf, (size_t)n, 10 * FERRY_SEC));
    CHECK_RC(n, -EPIPE);
    ferry_pipe_close(b);
    ft_child_exit();
  }
  char buf[64] = {0};
  int64_t t0 = 0;
  for (uint32_t i = 0; i < ROUNDS; i++) {
    if (i == 1000)
      t0 = ft_ms();
    memcpy(buf, &i, sizeof i);
    CHECK_OK(ferry_pipe_send(a, buf, 64, 10 * FERRY_SEC));
    uint32_t back = ~0u;
    CHECK_EQ(ferry_pipe_recv(a, buf, sizeof buf, 10 * FERRY_SEC), 64);
    memcpy(&back, buf, sizeof back);
    if (back != i) {
      CHECK_EQ(back, i);
      break;
    }
  }
  printf("  ping-pong: %.2f us per 64-byte round trip (mean, noisy)\n",
         (double)(ft_ms() - t0) * 1000.0 / (ROUNDS - 1000));
  ferry_pipe_close(a);
  ft_wait_ok(c, 20000);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_duplex);
  RUN(test_bad_input);
  RUN(test_peer_dies);
  RUN(test_third_end_and_blocked_sender);
  RUN(test_wait_peer);
  RUN(test_ping_pong);
  return ft_done();
}
