/* SPDX-License-Identifier: MIT */
/*
 * queue.c: producers and consumers on a bounded queue, stopped without
 * poison pills. The parent creates the queue and puts 1000 numbered
 * messages; two forked consumers open it by name and take messages until
 * the stream ends. The parent then shuts the queue down: the consumers
 * drain what is left and get -EPIPE, the end of the stream.
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MESSAGES 1000
#define CONSUMERS 2

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

/* A consumer: takes messages until the end of the stream. */
static int consume(const char *name, int id)
{
  ferry_queue *q;
  check(ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q), "open");
  long count = 0, sum = 0;
  char buf[64];
  ssize_t n;
  while ((n = ferry_queue_get(q, buf, sizeof buf - 1, 10 * FERRY_SEC)) >= 0) {
    buf[n] = '\0';
    sum += atol(buf);
    count++;
  }
  /* -EPIPE: shut down and drained. Anything else is an error. */
  check(n == -EPIPE ? 0 : (int)n, "get");
  printf("consumer %d: %ld messages, sum %ld\n", id, count, sum);
  ferry_queue_close(q);
  return 0;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-queue-%d", (int)getpid());
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 64;
  o.max_msg_size = 64;
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_queue *q;
  check(ferry_queue_create(name, &o, &q), "create");

  /* Children open the queue by name: a handle belongs to its process. */
  pid_t kids[CONSUMERS];
  fflush(stdout);
  for (int i = 0; i < CONSUMERS; i++)
    if ((kids[i] = fork()) == 0)
      _exit(consume(name, i + 1));

  for (int i = 1; i <= MESSAGES; i++) {
    char msg[32];
    int len = snprintf(msg, sizeof msg, "%d", i);
    check(ferry_queue_put(q, msg, (size_t)len, 10 * FERRY_SEC), "put");
  }
  check(ferry_queue_shutdown(q), "shutdown");

  int failed = 0;
  for (int i = 0; i < CONSUMERS; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  ferry_queue_stats s;
  check(ferry_queue_stats_get(q, &s), "stats");
  printf("queue: %llu put, %llu got\n", (unsigned long long)s.puts, (unsigned long long)s.gets);
  ferry_queue_close(q);
  return failed || s.gets != MESSAGES;
}
