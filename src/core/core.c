/* SPDX-License-Identifier: MIT */
/*
 * core.c: clocks, futex calls, identity and thread liveness. See core.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

/* ---- clocks ---------------------------------------------------------------- */

static int64_t clock_ns(clockid_t c)
{
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

int64_t ferry__now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t ferry__wall_ns(void) { return clock_ns(CLOCK_REALTIME); }

int ferry__deadline(int64_t timeout_ns, int64_t *deadline)
{
  if (timeout_ns < 0)
    return -EINVAL;
  if (timeout_ns == FERRY_FOREVER) {
    *deadline = FERRY__NO_DEADLINE;
    return 0;
  }
  int64_t now = ferry__now_ns();
  *deadline = timeout_ns > FERRY__NO_DEADLINE - now ? FERRY__NO_DEADLINE : now + timeout_ns;
  return 0;
}

int64_t ferry__remaining_ns(int64_t deadline)
{
  if (deadline == FERRY__NO_DEADLINE)
    return FERRY_FOREVER;
  int64_t now = ferry__now_ns();
  return deadline > now ? deadline - now : 0;
}

int64_t ferry__slice_end(int64_t deadline, int64_t slice_ns)
{
  int64_t now = ferry__now_ns();
  if (slice_ns > FERRY__NO_DEADLINE - now)
    return deadline;
  return now + slice_ns < deadline ? now + slice_ns : deadline;
}

static struct timespec to_timespec(int64_t ns)
{
  struct timespec ts = {.tv_sec = ns / FERRY_SEC, .tv_nsec = ns % FERRY_SEC};
  return ts;
}

void ferry__sleep_until(int64_t until)
{
  struct timespec ts = to_timespec(until);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ---- futex ----------------------------------------------------------------- */

int ferry__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t until)
{
  struct timespec ts, *tsp = NULL;
  if (until != FERRY__NO_DEADLINE) {
    if (until <= ferry__now_ns())
      return -ETIMEDOUT;
    ts = to_timespec(until);
    tsp = &ts;
  }
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
   * signal that interrupts us does not stretch the wait. Shared futex: no
   * FUTEX_PRIVATE_FLAG (see core.h). */
  long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expect, tsp, NULL,
                   FUTEX_BITSET_MATCH_ANY);
  if (r == 0)
    return 0;
  switch (errno) {
  case EAGAIN:
    return -EAGAIN;
  case ETIMEDOUT:
    return -ETIMEDOUT;
  case EINTR:
    return -EINTR;
  default:
    return -errno;
  }
}

int ferry__futex_wake(_Atomic uint32_t *word, int n)
{
  long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
  return r < 0 ? -errno : (int)r;
}

/* ---- identity -------------------------------------------------------------- */

/* Per-thread cache; `valid` is cleared in a fork child, whose only thread is
 * the one that forked and whose ids all changed. */
static _Thread_local struct {
  bool valid;
  pid_t pid, tid;
  uint64_t pid_start, tid_start;
} self;

static void reset_self_after_fork(void) { self.valid = false; }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_self_after_fork); }

static void load_self(void)
{
  pthread_once(&atfork_once, install_atfork);
  char st;
  self.pid = getpid();
  self.tid = (pid_t)syscall(SYS_gettid);
  if (ferry__proc_stat(self.pid, &self.pid_start, &st) != 0)
    self.pid_start = 0;
  if (self.tid == self.pid)
    self.tid_start = self.pid_start;
  else if (ferry__proc_stat(self.tid, &self.tid_start, &st) != 0)
    self.tid_start = 0;
  self.valid = true;
}

pid_t ferry__pid(void)
{
  if (!self.valid)
    load_self();
  return self.pid;
}

pid_t ferry__tid(void)
{
  if (!self.valid)
    load_self();
  return self.tid;
}

uint64_t ferry__pid_start(void)
{
  if (!self.valid)
    load_self();
  return self.pid_start;
}

uint64_t ferry__tid_start(void)
{
  if (!self.valid)
    load_self();
  return self.tid_start;
}

/* ---- liveness -------------------------------------------------------------- */

int ferry__proc_stat(pid_t id, uint64_t *start, char *state)
{
  if (id <= 0)
    return -ESRCH;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)id);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? -ESRCH : -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int saved = errno;
  close(fd);
  if (n <= 0)
    return n == 0 ? -ESRCH : -saved;
  buf[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: fields
   * after it are counted from the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ')
    return -EIO;
  p += 2;
  *state = *p;
  /* p is at field 3 (state); starttime is field 22. */
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p)
      return -EIO;
    p++;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  if (end == p || errno)
    return -EIO;
  *start = v;
  return 0;
}

ferry__liveness ferry__alive(pid_t id, uint64_t start)
{
  if (id <= 0)
    return FERRY__DEAD;
  uint64_t s;
  char st;
  int r = ferry__proc_stat(id, &s, &st);
  if (r == 0) {
    if (st == 'Z' || st == 'X')
      return FERRY__DEAD;
    if (start != 0 && s != start)
      return FERRY__DEAD; /* the id was recycled */
    return FERRY__ALIVE;
  }
  /* /proc has no entry, or cannot tell. Under hidepid (or in another PID
   * namespace's view) a live task of another user has no visible entry
   * either: only the kernel's answer to kill(id, 0) decides "gone" (ESRCH);
   * EPERM means it exists. Its start time cannot be checked then. */
  if (kill(id, 0) == 0 || errno == EPERM)
    return FERRY__ALIVE;
  return FERRY__DEAD;
}

/* ---- misc ------------------------------------------------------------------ */

uint32_t ferry__fnv1a(const void *data, size_t len, uint32_t seed)
{
  const unsigned char *p = data;
  uint32_t h = seed;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT32_C(16777619);
  }
  return h;
}
