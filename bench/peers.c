/* SPDX-License-Identifier: MIT */
/*
 * peers.c: running what ferry-bench measures against: peer programs built
 * by CMake and Python scripts, all found in one directory next to
 * ferry-bench (bench-peers/), run without a shell, stopped by a timeout,
 * and their result lines read with a JSON parser (never by searching the
 * text). Also iceoryx's RouDi daemon, which its peer needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define ROUDI "iox-roudi"
#define ROUDI_START_NS (INT64_C(700) * 1000000)

void bench_peers_dir(const char *override, char *out, size_t cap)
{
  if (override) {
    snprintf(out, cap, "%s", override);
    return;
  }
  char exe[PATH_MAX - 64];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[k > 0 ? k : 0] = 0;
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = 0;
  snprintf(out, cap, "%s/bench-peers", k > 0 ? exe : ".");
}

char *bench_run_capture(char *const argv[], double timeout_s, int *status)
{
  int p[2];
  if (pipe(p) != 0)
    return NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    execvp(argv[0], argv);
    fprintf(stderr, "ferry: bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  size_t len = 0, cap = 4096;
  char *out = malloc(cap);
  uint64_t until = bh_now_ns() + (uint64_t)(timeout_s * 1e9);
  bool killed = false, eof = false;
  *status = -1;
  while (out) {
    if (!eof) {
      if (len + 1024 > cap) {
        char *n = realloc(out, cap *= 2);
        if (!n)
          break;
        out = n;
      }
      ssize_t k = read(p[0], out + len, cap - len - 1);
      if (k > 0) {
        len += (size_t)k;
        continue;
      }
      if (k == 0)
        eof = true;
    }
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      break;
    if (!killed && bh_now_ns() > until) {
      kill(pid, SIGKILL);
      killed = true;
    }
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  if (!eof && out) {
    ssize_t k;
    while (len + 1 < cap && (k = read(p[0], out + len, cap - len - 1)) > 0)
      len += (size_t)k;
  }
  close(p[0]);
  if (out)
    out[len] = 0;
  if (killed)
    *status = -2;
  return out;
}

size_t bench_each_object(const char *out, void (*fn)(const cli_jobject *o, void *arg), void *arg)
{
  size_t n = 0;
  for (const char *p = out; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char *line = strndup(p, len);
    cli_jobject o;
    if (line && cli_jobject_parse(line, &o) == 0) {
      fn(&o, arg);
      cli_jobject_free(&o);
      n++;
    }
    free(line);
    p += len + (e != NULL);
  }
  return n;
}

/* ---- iceoryx's RouDi daemon, started and stopped by the bench ---- */

static pid_t roudi_pid = -1;

bool bench_roudi_start(const char *peers_dir)
{
  if (roudi_pid > 0)
    return true;
  char conf[PATH_MAX + 32];
  snprintf(conf, sizeof conf, "%s/roudi.toml", peers_dir);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execlp(ROUDI, ROUDI, "-c", conf, (char *)NULL);
    _exit(127);
  }
  struct timespec ts = {0, ROUDI_START_NS};
  nanosleep(&ts, NULL);
  int st;
  if (waitpid(pid, &st, WNOHANG) == pid)
    return false; /* it did not stay up (not installed, or already running) */
  roudi_pid = pid;
  return true;
}

void bench_roudi_stop(void)
{
  if (roudi_pid <= 0)
    return;
  kill(roudi_pid, SIGINT);
  for (int i = 0; i < 500; i++) {
    if (waitpid(roudi_pid, NULL, WNOHANG) == roudi_pid) {
      roudi_pid = -1;
      return;
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  kill(roudi_pid, SIGKILL);
  waitpid(roudi_pid, NULL, 0);
  roudi_pid = -1;
}

