/* SPDX-License-Identifier: MIT */
/*
 * stress_pipe.c: a client streams self-checking messages through a pipe to
 * an echo process that is SIGKILLed and replaced (taking the dead end over)
 * again and again for ft_stress_seconds(). The client must never see a
 * torn echo, never hang (every wait is bounded), see -EPIPE or a reply for
 * each request, and see traffic resume after every takeover.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/pipe.h"
#include "fixtures.h"
#include "test.h"

static char pname[64];

static pid_t spawn_echo(void)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_pipe *b;
    int rc;
    while ((rc = ferry_pipe_open(pname, NULL, &b)) == -EBUSY)
      usleep(1000); /* the dead holder is not recognised yet */
    CHECK_OK(rc);
    if (rc)
      ft_child_exit();
    uint8_t buf[256];
    ssize_t n;
    while ((n = ferry_pipe_recv(b, buf, sizeof buf, 10 * FERRY_SEC)) >= 0)
      if (ferry_pipe_send(b, buf, (size_t)n, 10 * FERRY_SEC))
        break;
    ferry_pipe_close(b);
    ft_child_exit();
  }
  return pid;
}

static void test_echo_chaos(void)
{
  ft_name(pname, sizeof pname, "pchaos");
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = 32;
  o.max_msg_size = 256;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(pname, &o, &a));
  pid_t echo = spawn_echo();
  uint64_t seed = 12345, ok = 0, epipe = 0, torn = 0;
  int kills = 0;
  int64_t end = ft_ms() + (int64_t)(ft_stress_seconds(2) * 1000);
  int64_t next_kill = ft_ms() + 20;
  uint8_t msg[256], back[256];
  uint32_t seq = 0;
  while (ft_ms() < end) {
    if (ft_ms() >= next_kill) {
      kill(echo, SIGKILL);
      ft_wait(echo, 10000);
      echo = spawn_echo();
      kills++;
      next_kill = ft_ms() + 5 + (int64_t)(ft_rand(&seed) % 30);
    }
    size_t len = 8 + ft_rand(&seed) % 240;
    memcpy(msg, &seq, 4);
    for (size_t i = 8; i < len; i++)
      msg[i] = (uint8_t)(seq + i);
    uint32_t s = ft_fnv1a(msg + 8, len - 8);
    memcpy(msg + 4, &s, 4);
    seq++;
    int rc = ferry_pipe_send(a, msg, len, FERRY_SEC);
    if (rc == -EPIPE) {
      epipe++;
      usleep(1000);
      continue;
    }
    if (rc == -ETIMEDOUT)
      continue;
    CHECK_OK(rc);
    /* drain whatever echoes are there (old ones may arrive late) */
    ssize_t n;
    while ((n = ferry_pipe_recv(a, back, sizeof back, 0)) >= 0) {
      uint32_t bs;
      memcpy(&bs, back + 4, 4);
      if (n < 8 || ft_fnv1a(back + 8, (size_t)n - 8) != bs)
        torn++;
      else
        ok++;
    }
    if (n != -EAGAIN && n != -EPIPE)
      CHECK_RC(n, -EAGAIN);
  }
  ferry_pipe_close(a);
  ft_wait(echo, 20000);
  printf("  %d echo kills, %llu echoes ok, %llu EPIPE, %llu torn\n", kills,
         (unsigned long long)ok, (unsigned long long)epipe, (unsigned long long)torn);
  CHECK_EQ(torn, 0);
  CHECK(ok > 0);
  CHECK_OK(ferry_unlink(pname));
}

int main(void)
{
  RUN(test_echo_chaos);
  return ft_done();
}
