/* SPDX-License-Identifier: MIT */
/*
 * test_queue_races.c: interleavings of recovery that need a pause at an
 * exact step, made deterministic by interposing the system calls the
 * library makes there. The test binary links the library statically, so
 * its own open() and fcntl() are the ones the library calls; both forward
 * to the real ones unless the test arms a hook, which then runs other
 * processes' steps at that moment.
 *
 * The interleaving of issue 8, defect 11: recoverer R2 judges producer D
 * dead; before R2 reads D's intents, recoverer R1 repairs D and frees its
 * slot, and a new producer N joins into that slot and reserves a cell. R2
 * must not take N's intent for D's and turn N's live cell into a hole.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/queue.h"
#include "test.h"

/* ---- the hook ----------------------------------------------------------- */

static pid_t hook_pid;       /* the process whose calls are watched */
static pid_t hook_dead_pid;  /* the participant being judged */
static void (*hook_fn)(void);
static int hook_fired;

/* Runs the hook once, in the watched process only. */
static void hook_maybe(void)
{
  if (!hook_fn || getpid() != hook_pid)
    return;
  void (*fn)(void) = hook_fn;
  hook_fn = NULL;
  hook_fired++;
  fn();
}

/* A liveness test of the dead participant through /proc (how the library
 * judged liveness before it used slot locks). */
static void hook_if_proc_of_dead(const char *path)
{
  char want[64];
  snprintf(want, sizeof want, "/proc/%d/", (int)hook_dead_pid);
  if (hook_fn && hook_dead_pid > 0 && strncmp(path, want, strlen(want)) == 0)
    hook_maybe();
}

int open(const char *path, int flags, ...)
{
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  hook_if_proc_of_dead(path);
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
  return real(path, flags, mode);
}

/* Taking a slot's claim lock: the first step of a recovery since the
 * library uses slot locks. */
int fcntl(int fd, int cmd, ...)
{
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (cmd == F_OFD_SETLK && ((struct flock *)arg)->l_type == F_WRLCK)
    hook_maybe();
  int (*real)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
  return real(fd, cmd, arg);
}

/* ---- helpers --------------------------------------------------------------- */

/* A child that runs commands from the parent, one byte each, and answers
 * each with an int. */
struct agent {
  pid_t pid;
  int cmd, ack;
};

static struct agent agent_start(int (*run)(char cmd, void *arg), void *arg)
{
  int c[2], a[2];
  struct agent ag = {.pid = -1};
  if (pipe(c) != 0 || pipe(a) != 0)
    return ag;
  ag.pid = ft_fork();
  if (ag.pid == 0) {
    close(c[1]);
    close(a[0]);
    char cmd;
    while (read(c[0], &cmd, 1) == 1) {
      int r = run(cmd, arg);
      if (write(a[1], &r, sizeof r) != sizeof r)
        break;
    }
    ft_child_exit();
  }
  close(c[0]);
  close(a[1]);
  ag.cmd = c[1];
  ag.ack = a[0];
  return ag;
}

/* Sends a command and returns the answer (INT_MIN if the agent is gone). */
static int agent_do(struct agent *ag, char cmd)
{
  int r = -999999;
  if (write(ag->cmd, &cmd, 1) != 1 || read(ag->ack, &r, sizeof r) != sizeof r)
    return -999999;
  return r;
}

static void agent_stop(struct agent *ag)
{
  close(ag->cmd);
  ft_wait_ok(ag->pid, 10000);
  close(ag->ack);
}

/* Waits until the region shows `dead` participants: the kernel drops a
 * killed process's locks a moment after waitpid() can return. */
static void wait_dead(ferry_region *r, uint32_t dead)
{
  int64_t end = ft_ms() + 10000;
  ferry_region_info info;
  while (ferry_region_info_get(r, &info) == 0 && info.dead != dead && ft_ms() < end)
    usleep(1000);
  CHECK_EQ(info.dead, dead);
}

/* ---- defect 11 --------------------------------------------------------------- */

static char qname[64];

/* R1: a consumer that recovers on command. */
static int r1_run(char cmd, void *arg)
{
  ferry_queue **q = arg;
  switch (cmd) {
  case 'o':
    return ferry_queue_open(qname, FERRY_ROLE_CONSUMER, NULL, q);
  case 'r':
    return ferry_queue_recover(*q);
  case 'c':
    ferry_queue_close(*q);
    return 0;
  }
  return -EINVAL;
}

/* N: a producer that joins, reserves, and commits on command. */
static int n_run(char cmd, void *arg)
{
  ferry_queue **q = arg;
  void *d;
  int rc;
  switch (cmd) {
  case 'o':
    if ((rc = ferry_queue_open(qname, FERRY_ROLE_PRODUCER, NULL, q)))
      return rc;
    return ferry_region_slot(ferry_queue_region(*q));
  case 'v':
    if ((rc = ferry_queue_reserve(*q, 5, &d, 0)))
      return rc;
    memcpy(d, "N-msg", 5);
    return 0;
  case 'm':
    return ferry_queue_commit(*q, 5);
  case 'c':
    ferry_queue_close(*q);
    return 0;
  }
  return -EINVAL;
}

static struct agent r1, n;
static int n_slot;

/* Between R2's judgement of D and R2's reading of D's slot. */
static void meanwhile_r1_recovers_and_n_joins(void)
{
  CHECK_EQ(agent_do(&r1, 'r'), 1); /* R1 repairs D, frees its slot */
  n_slot = agent_do(&n, 'o');      /* N joins into that slot */
  CHECK_OK(agent_do(&n, 'v'));     /* and reserves a cell */
}

static void test_recovery_never_reads_a_newcomers_intents(void)
{
  ft_name(qname, sizeof qname, "qrace");
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 4;
  o.max_msg_size = 16;
  o.region.role = FERRY_ROLE_CONSUMER;
  o.region.max_participants = 3; /* R2, D, R1: N can only take D's slot */
  o.region.liveness_ns = 50 * FERRY_MSEC;
  ferry_queue *r2;
  REQUIRE_OK(ferry_queue_create(qname, &o, &r2));

  /* D: a producer that dies holding a reservation (slot 1). */
  int sync[2];
  REQUIRE(pipe(sync) == 0);
  pid_t d = ft_fork();
  if (d == 0) {
    ferry_queue *p;
    void *buf;
    if (ferry_queue_open(qname, FERRY_ROLE_PRODUCER, NULL, &p) != 0 ||
        ferry_queue_reserve(p, 5, &buf, 0) != 0)
      _exit(1);
    memset(buf, 0xdd, 5);
    if (write(sync[1], "x", 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  char x;
  REQUIRE(read(sync[0], &x, 1) == 1);
  close(sync[0]);
  close(sync[1]);
  ferry_queue *r1q = NULL, *nq = NULL;
  r1 = agent_start(r1_run, &r1q);
  n = agent_start(n_run, &nq);
  REQUIRE(r1.pid > 0 && n.pid > 0);
  CHECK_OK(agent_do(&r1, 'o')); /* slot 2: the table is full */
  kill(d, SIGKILL);
  ft_wait(d, 5000);
  wait_dead(ferry_queue_region(r2), 1);

  hook_dead_pid = d;
  hook_pid = getpid();
  hook_fn = meanwhile_r1_recovers_and_n_joins;
  int reaped = ferry_queue_recover(r2);
  hook_fn = NULL;
  CHECK_EQ(hook_fired, 1); /* the interleaving happened */
  CHECK_EQ(n_slot, 1);     /* in D's old slot */
  CHECK_EQ(reaped, 0);     /* R1 did it; N is alive */

  /* D's cell is a hole; N's is still N's. */
  char buf[16];
  CHECK_RC(ferry_queue_get(r2, buf, sizeof buf, 0), -EAGAIN);
  CHECK_OK(agent_do(&n, 'm'));
  CHECK_EQ(ferry_queue_get(r2, buf, sizeof buf, FERRY_SEC), 5);
  CHECK(memcmp(buf, "N-msg", 5) == 0);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(r2, &s));
  CHECK_EQ(s.holes, 1);
  CHECK_EQ(s.recovered, 1);
  CHECK_OK(ferry_queue_validate(r2, FERRY_QUEUE_VALIDATE_QUIESCENT));
  /* And the queue goes on working. */
  CHECK_OK(agent_do(&n, 'v'));
  CHECK_OK(agent_do(&n, 'm'));
  CHECK_EQ(ferry_queue_get(r2, buf, sizeof buf, FERRY_SEC), 5);
  CHECK_OK(agent_do(&n, 'c'));
  CHECK_OK(agent_do(&r1, 'c'));
  agent_stop(&n);
  agent_stop(&r1);
  CHECK_OK(ferry_queue_validate(r2, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(r2);
  CHECK_OK(ferry_unlink(qname));
}

int main(void)
{
  RUN(test_recovery_never_reads_a_newcomers_intents);
  return ft_done();
}
