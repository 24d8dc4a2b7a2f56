/* SPDX-License-Identifier: MIT */
/*
 * test.c: the test harness; see test.h.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

int ft_failures;
static int passed, failed, skipped;
static bool skip_current;
static const char *current = "?";

void ft_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "FAIL [%s] %s:%d: ", current, file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  ft_failures++;
}

void ft_run(const char *name, void (*fn)(void))
{
  current = name;
  ft_failures = 0;
  skip_current = false;
  int64_t t0 = ft_ms();
  fn();
  if (skip_current && !ft_failures) {
    skipped++;
    printf("skip    %s\n", name);
  } else if (ft_failures) {
    failed++;
    printf("not ok  %s\n", name);
  } else {
    passed++;
    printf("ok      %s (%lld ms)\n", name, (long long)(ft_ms() - t0));
  }
  fflush(stdout);
}

/* Regions this process created through ft_name() that still exist. */
static int leftover_regions(void)
{
  char prefix[64];
  snprintf(prefix, sizeof prefix, "ferry.t-");
  char mine[32];
  snprintf(mine, sizeof mine, "-%d-", (int)getpid());
  DIR *d = opendir("/dev/shm");
  if (!d)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, mine)) {
      fprintf(stderr, "FAIL: region left behind: /dev/shm/%s\n", e->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

int ft_done(void)
{
  if (leftover_regions())
    failed++;
  if (skipped)
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    printf("%d passed, %d failed\n", passed, failed);
  if (failed)
    return 1;
  return skipped ? FT_SKIP_CODE : 0;
}

void ft_skip(const char *why)
{
  printf("skip: %s: %s\n", current, why);
  skip_current = true;
}

const char *ft_name(char *buf, size_t cap, const char *tag)
{
  static int counter;
  snprintf(buf, cap, "t-%s-%d-%d", tag, (int)getpid(), counter++);
  return buf;
}

pid_t ft_fork(void)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    ft_failures = 0;
    alarm(300);
  }
  return pid;
}

void ft_child_exit(void) { _exit(ft_failures ? 1 : 0); }

int ft_wait(pid_t pid, int timeout_ms)
{
  int64_t end = ft_ms() + timeout_ms;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0) {
      ft_fail(__FILE__, __LINE__, "waitpid(%d): %s", (int)pid, strerror(errno));
      return -1;
    }
    if (ft_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ft_fail(__FILE__, __LINE__, "child %d did not finish within %d ms", (int)pid, timeout_ms);
      return -1;
    }
    usleep(1000);
  }
}

void ft_wait_ok(pid_t pid, int timeout_ms)
{
  int st = ft_wait(pid, timeout_ms);
  if (st == -1)
    return;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    ft_fail(__FILE__, __LINE__, "child %d failed: status 0x%x", (int)pid, st);
}

int64_t ft_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ft_stress_seconds(double def)
{
  const char *s = getenv("FERRY_STRESS_SECONDS");
  if (s && *s) {
    double v = atof(s);
    if (v > 0)
      return v;
  }
  return def;
}

bool ft_in_futex(pid_t pid)
{
  char path[64], buf[64] = {0};
  snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strncmp(buf, "futex", 5) == 0;
}

uint64_t ft_rand(uint64_t *state)
{
  uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1du;
}
