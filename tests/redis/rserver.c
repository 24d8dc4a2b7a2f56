/* SPDX-License-Identifier: MIT */
/*
 * rserver.c: a private redis-server for the tests (see rserver.h).
 */
#include "rserver.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static const char *server_path(void)
{
  /* FERRY_TEST_REDIS_SERVER names another server binary (a missing one
   * tests the skip). */
  const char *env = getenv("FERRY_TEST_REDIS_SERVER");
  if (env && *env)
    return access(env, X_OK) == 0 ? env : NULL;
  static const char *const paths[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                      "/usr/sbin/redis-server"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (access(paths[i], X_OK) == 0)
      return paths[i];
  return NULL;
}

static int ping(const struct rs_server *s)
{
  struct timeval tv = {.tv_sec = 1};
  redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);
  if (!c || c->err) {
    if (c)
      redisFree(c);
    return -1;
  }
  redisReply *r = redisCommand(c, "PING");
  int ok = r && r->type == REDIS_REPLY_STATUS;
  if (r)
    freeReplyObject(r);
  redisFree(c);
  return ok ? 0 : -1;
}

static int spawn(struct rs_server *s)
{
  const char *bin = server_path();
  if (!bin)
    return -1;
  char log[300];
  snprintf(log, sizeof log, "%s/server.log", s->dir);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    /* Die with the test binary, whatever kills it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl(bin, bin, "--port", "0", "--unixsocket", s->sock, "--unixsocketperm", "700", "--dir",
          s->dir, "--save", "", "--appendonly", s->aof ? "yes" : "no", "--appendfsync", "always",
          "--daemonize", "no", "--databases", "1", (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 1000; i++) {
    if (ping(s) == 0)
      return 0;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      return -1;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  rs_kill(s);
  return -1;
}

int rs_start(struct rs_server *s, bool aof)
{
  memset(s, 0, sizeof *s);
  if (!server_path())
    return -1;
  snprintf(s->dir, sizeof s->dir, "/tmp/ferry-redis-test-XXXXXX");
  if (!mkdtemp(s->dir))
    return -1;
  snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
  s->aof = aof;
  if (spawn(s)) {
    rs_stop(s);
    return -1;
  }
  return 0;
}

int rs_restart(struct rs_server *s) { return spawn(s); }

void rs_kill(struct rs_server *s)
{
  if (!s->pid)
    return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

void rs_stop(struct rs_server *s)
{
  if (s->pid) {
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
      if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
        s->pid = 0;
        break;
      }
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    rs_kill(s);
  }
  if (s->dir[0]) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", s->dir);
    s->dir[0] = 0;
  }
}

const char *rs_url(const struct rs_server *s, char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "unix://%s/%s", s->sock, name);
  return buf;
}

/* One connection per server socket, kept between calls, made again after
 * an error or in a forked child. */
static redisContext *cached;
static char cached_sock[300];
static pid_t cached_pid;

static redisReply *command(const struct rs_server *s, const char *const *argv)
{
  if (cached && (strcmp(cached_sock, s->sock) != 0 || cached_pid != getpid() || cached->err)) {
    if (cached_pid == getpid())
      redisFree(cached);
    cached = NULL;
  }
  if (!cached) {
    struct timeval tv = {.tv_sec = 5};
    cached = redisConnectUnixWithTimeout(s->sock, tv);
    if (!cached || cached->err) {
      if (cached)
        redisFree(cached);
      cached = NULL;
      return NULL;
    }
    redisSetTimeout(cached, tv);
    snprintf(cached_sock, sizeof cached_sock, "%s", s->sock);
    cached_pid = getpid();
  }
  int argc = 0;
  while (argv[argc])
    argc++;
  redisReply *r = redisCommandArgv(cached, argc, (const char **)argv, NULL);
  if (!r) {
    redisFree(cached);
    cached = NULL;
  }
  return r;
}

long long rs_array_len(const struct rs_server *s, const char *const *argv)
{
  redisReply *r = command(s, argv);
  long long v = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
  if (r)
    freeReplyObject(r);
  return v;
}

long long rs_int(const struct rs_server *s, const char *const *argv)
{
  redisReply *r = command(s, argv);
  long long v = -1;
  if (r && r->type == REDIS_REPLY_INTEGER)
    v = r->integer;
  else if (r && r->type == REDIS_REPLY_STRING)
    v = strtoll(r->str, NULL, 10);
  if (r)
    freeReplyObject(r);
  return v;
}

long long rs_dbsize(const struct rs_server *s)
{
  const char *argv[] = {"DBSIZE", NULL};
  return rs_int(s, argv);
}

long long rs_used_memory(const struct rs_server *s)
{
  const char *argv[] = {"INFO", "memory", NULL};
  redisReply *r = command(s, argv);
  long long v = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    const char *p = strstr(r->str, "used_memory:");
    if (p)
      v = strtoll(p + strlen("used_memory:"), NULL, 10);
  }
  if (r)
    freeReplyObject(r);
  return v;
}

long long rs_calls(const struct rs_server *s, const char *cmd)
{
  const char *argv[] = {"INFO", "commandstats", NULL};
  redisReply *r = command(s, argv);
  long long v = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(r->str, key);
    v = p ? strtoll(p + strlen(key), NULL, 10) : 0;
  }
  if (r)
    freeReplyObject(r);
  return v;
}

static struct rs_server *registered;
static pid_t registered_by;

static void stop_at_exit(void)
{
  if (registered && getpid() == registered_by)
    rs_stop(registered);
}

void rs_require(struct rs_server *s, bool aof)
{
  if (rs_start(s, aof)) {
    printf("skip: redis-server is not installed or did not start: these tests need it "
           "(scripts/install-deps.sh test installs it)\n");
    exit(FT_SKIP_CODE);
  }
  registered = s;
  registered_by = getpid();
  atexit(stop_at_exit);
}
