/* SPDX-License-Identifier: MIT */
/*
 * pipe.c: ping-pong over a duplex pipe. The parent creates the pipe and
 * takes one end; a forked child opens it by name and takes the other. The
 * parent sends "ping N", the child answers "pong N", 100 times; then the
 * parent closes its end and the child sees the end of the stream (-EPIPE).
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 100

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

/* The other end: answers every ping until the peer closes. */
static int ponger(const char *name)
{
  ferry_pipe *p;
  check(ferry_pipe_open(name, NULL, &p), "open");
  char buf[64], reply[64];
  ssize_t n;
  int answered = 0;
  while ((n = ferry_pipe_recv(p, buf, sizeof buf - 1, 10 * FERRY_SEC)) >= 0) {
    buf[n] = '\0';
    int len = snprintf(reply, sizeof reply, "pong %s", buf + strlen("ping "));
    check(ferry_pipe_send(p, reply, (size_t)len, 10 * FERRY_SEC), "send");
    answered++;
  }
  check(n == -EPIPE ? 0 : (int)n, "recv");
  printf("ponger: answered %d pings, then the peer closed\n", answered);
  ferry_pipe_close(p);
  return answered == ROUNDS ? 0 : 1;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-pipe-%d", (int)getpid());
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_pipe *p;
  check(ferry_pipe_create(name, &o, &p), "create");
  fflush(stdout);
  pid_t kid = fork();
  if (kid == 0)
    _exit(ponger(name));

  char msg[64], buf[64];
  for (int i = 0; i < ROUNDS; i++) {
    int len = snprintf(msg, sizeof msg, "ping %d", i);
    check(ferry_pipe_send(p, msg, (size_t)len, 10 * FERRY_SEC), "send");
    ssize_t n = ferry_pipe_recv(p, buf, sizeof buf - 1, 10 * FERRY_SEC);
    check((int)n, "recv");
    buf[n] = '\0';
    char want[64];
    snprintf(want, sizeof want, "pong %d", i);
    if (strcmp(buf, want) != 0) {
      fprintf(stderr, "got '%s', want '%s'\n", buf, want);
      return 1;
    }
  }
  printf("pinger: %d round trips\n", ROUNDS);
  ferry_pipe_close(p); /* the child's next recv gets -EPIPE */
  int status;
  waitpid(kid, &status, 0);
  return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}
