/* SPDX-License-Identifier: MIT */
/*
 * redis_queue.c: `ferry bench queue --backend redis`, built into
 * ferry-bench when hiredis is found. One run, side by side, on the same
 * Redis server:
 *
 *   redis-benchmark-P16    redis-benchmark -P 16 -t lpush,lpop: the raw
 *                          pipelined rate; a message costs one LPUSH and one
 *                          LPOP, so its figure is 1 / (1/lpush + 1/lpop)
 *   hiredis-loop           a plain hiredis program: one connection, a
 *                          pipeline of `batch` LPUSHes then `batch` RPOPs
 *   ferry-redis-batch      ferry's queue with leases (at least once):
 *                          put_many and get_many of `batch` messages,
 *                          producers and consumers in their own processes
 *   ferry-redis-nolease    the same without leases (FERRY_REDIS_NO_LEASE)
 *
 * Goals (docs/design/redis.md): ferry-redis-batch >= 0.5x
 * redis-benchmark-P16; ferry-redis-nolease >= 1x hiredis-loop. Every
 * consumer checks every message's producer and sequence number.
 *
 * Without --redis-url it starts its own redis-server on a Unix socket in a
 * temporary directory (no persistence) and stops it at the end. Results go
 * out through report.c, in the schema every benchmark shares (the case is
 * redis-<P>p<C>c-<size>B, so that it never mixes with the shared-memory
 * queue's cases in a chart); the goals go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_PROCS 16
#define MAX_BATCH 1024
#define MAX_SIZE (1u << 20)
#define HDR_BYTES 12 /* producer (4), sequence (8) */
#define MAX_CLIENTS 10000
#define MAX_RESULTS 6
#define MAX_ROUNDS 15

const char bench_help_redis[] =
    "usage: ferry bench queue --backend redis [--redis-url URL] [--seconds S]\n"
    "                         [--warmup S] [--size B] [--batch N]\n"
    "                         [--producers N] [--consumers N] [--clients N]\n"
    "                         [--rounds N] [--impl a,b] [--json]\n"
    "\n"
    "ferry's queue on a Redis server against the raw server, side by side:\n"
    "  redis-benchmark-P16  redis-benchmark -P 16 -t lpush,lpop (a message is\n"
    "                       one LPUSH and one LPOP)\n"
    "  hiredis-loop         a plain hiredis loop: pipelined LPUSHes, then RPOPs\n"
    "  ferry-redis-batch    ferry's queue with leases (at least once),\n"
    "                       put_many/get_many\n"
    "  ferry-redis-nolease  ferry's queue without leases (at most once)\n"
    "Goals, on stderr: ferry-redis-batch >= 0.5x redis-benchmark-P16,\n"
    "ferry-redis-nolease >= 1x hiredis-loop.\n"
    "\n"
    "Options:\n"
    "  --redis-url URL  the server: redis://HOST[:PORT] or unix:///PATH.sock\n"
    "                   (default: start a private redis-server for the run)\n"
    "  --seconds S      measured length of each case (default 1)\n"
    "  --warmup S       unmeasured lead-in (default 0.2)\n"
    "  --size B         message bytes, 12..1048576 (default 64)\n"
    "  --batch N        messages per batch call, 1..1024 (default 64)\n"
    "  --producers N    ferry's producer processes, 1..16 (default 1)\n"
    "  --consumers N    ferry's consumer processes, 1..16 (default 1)\n"
    "  --clients N      redis-benchmark's connections (default 50)\n"
    "  --rounds N       run every implementation N times, in turns, and report\n"
    "                   each one's median (1..15, default 1): on a busy machine\n"
    "                   the median of a few turns is steadier than one\n"
    "  --impl a,b       only these implementations\n"
    "  --json           one JSON object per line instead of the table\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 done, 1 a case failed (skipped cases are not failures),\n"
    "2 bad command line.\n";

struct opts {
  const char *url; /* server address; NULL: start one */
  double seconds, warmup;
  size_t size, batch;
  int producers, consumers, clients, rounds;
  const char *impls;
  bool json;
};

struct result {
  const char *impl;
  bool ok, skipped;
  char note[256];
  double rate; /* messages per second */
  double msgs, seconds;
  double extra; /* redis-benchmark: LPUSH and LPOP rates */
  double extra2;
  double lo, hi; /* over the rounds: the lowest and highest rate */
};

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_s(double s)
{
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static bool wanted(const struct opts *o, const char *impl)
{
  if (!o->impls)
    return true;
  size_t n = strlen(impl);
  for (const char *p = o->impls; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, impl, n))
      return true;
    if (!e)
      break;
    p = e + 1;
  }
  return false;
}

/* ---- the server ---------------------------------------------------------------- */

struct server {
  char dir[256], sock[300];
  pid_t pid;
  /* the address, for hiredis and redis-benchmark */
  bool unix_sock;
  char host[256];
  int port;
};

static redisContext *connect_to(const struct server *s)
{
  struct timeval tv = {.tv_sec = 5};
  redisContext *c = s->unix_sock ? redisConnectUnixWithTimeout(s->sock, tv)
                                 : redisConnectWithTimeout(s->host, s->port, tv);
  if (c && c->err) {
    redisFree(c);
    c = NULL;
  }
  return c;
}

static int server_start(struct server *s)
{
  snprintf(s->dir, sizeof s->dir, "/tmp/ferry-bench-redis-XXXXXX");
  if (!mkdtemp(s->dir))
    return -1;
  snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
  s->unix_sock = true;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    char log[300];
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", s->sock,
           "--unixsocketperm", "700", "--dir", s->dir, "--save", "", "--appendonly", "no",
           (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 500; i++) {
    redisContext *c = connect_to(s);
    if (c) {
      redisFree(c);
      return 0;
    }
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      s->pid = 0;
      return -1;
    }
    sleep_s(0.01);
  }
  return -1;
}

static void server_stop(struct server *s)
{
  if (s->pid) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
  if (s->dir[0]) {
    char p[400];
    snprintf(p, sizeof p, "%s/redis.sock", s->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/server.log", s->dir);
    unlink(p);
    rmdir(s->dir);
  }
}

/* Parses redis://HOST[:PORT] or unix:///path into s (address only). */
static int server_parse(struct server *s, const char *url)
{
  if (!strncmp(url, "unix://", 7) && url[7] == '/') {
    s->unix_sock = true;
    snprintf(s->sock, sizeof s->sock, "%s", url + 7);
    size_t n = strlen(s->sock);
    if (n > 1 && s->sock[n - 1] == '/')
      s->sock[n - 1] = 0;
    return 0;
  }
  if (!strncmp(url, "redis://", 8)) {
    snprintf(s->host, sizeof s->host, "%s", url + 8);
    size_t n = strlen(s->host);
    if (n && s->host[n - 1] == '/')
      s->host[--n] = 0;
    s->port = 6379;
    char *colon = strrchr(s->host, ':');
    if (colon && !strchr(s->host, ']')) {
      *colon = 0;
      s->port = atoi(colon + 1);
    }
    return n && s->port > 0 && s->port < 65536 ? 0 : -1;
  }
  return -1;
}

/* ---- redis-benchmark -P 16 ---------------------------------------------------------- */

static void run_redis_benchmark(const struct opts *o, const struct server *s, struct result *r)
{
  r->impl = "redis-benchmark-P16";
  char n[32], d[32], c[16], port[16];
  long requests = (long)(200000 * (o->seconds > 0.2 ? o->seconds : 0.2));
  snprintf(n, sizeof n, "%ld", requests);
  snprintf(d, sizeof d, "%zu", o->size);
  snprintf(c, sizeof c, "%d", o->clients);
  snprintf(port, sizeof port, "%d", s->port);
  int fds[2];
  if (pipe(fds)) {
    snprintf(r->note, sizeof r->note, "pipe: %s", strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, 2);
    if (s->unix_sock)
      execlp("redis-benchmark", "redis-benchmark", "-s", s->sock, "-P", "16", "-c", c, "-n", n,
             "-d", d, "-t", "lpush,lpop", "--csv", (char *)NULL);
    else
      execlp("redis-benchmark", "redis-benchmark", "-h", s->host, "-p", port, "-P", "16", "-c",
             c, "-n", n, "-d", d, "-t", "lpush,lpop", "--csv", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char out[8192];
  size_t len = 0;
  ssize_t k;
  while (len < sizeof out - 1 && (k = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
    len += (size_t)k;
  out[len] = 0;
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
    r->skipped = true;
    snprintf(r->note, sizeof r->note, "redis-benchmark not installed (redis-tools)");
    return;
  }
  double push = 0, pop = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    double v;
    if (sscanf(line, "\"LPUSH\",\"%lf\"", &v) == 1)
      push = v;
    else if (sscanf(line, "\"LPOP\",\"%lf\"", &v) == 1)
      pop = v;
  }
  if (push <= 0 || pop <= 0) {
    snprintf(r->note, sizeof r->note, "could not read redis-benchmark's output");
    return;
  }
  r->ok = true;
  r->rate = 1.0 / (1.0 / push + 1.0 / pop);
  r->extra = push;
  r->extra2 = pop;
  r->msgs = (double)requests;
  snprintf(r->note, sizeof r->note, "LPUSH %.0f/s, LPOP %.0f/s, %d clients", push, pop,
           o->clients);
}

/* ---- a plain hiredis loop --------------------------------------------------------------- */

static void run_hiredis(const struct opts *o, const struct server *s, struct result *r)
{
  r->impl = "hiredis-loop";
  redisContext *c = connect_to(s);
  if (!c) {
    snprintf(r->note, sizeof r->note, "cannot connect");
    return;
  }
  char key[64];
  snprintf(key, sizeof key, "ferry-bench:hiredis:%d", (int)getpid());
  char *msg = calloc(1, o->size);
  if (!msg) {
    redisFree(c);
    return;
  }
  const char *pa[3] = {"LPUSH", key, msg};
  size_t pl[3] = {5, strlen(key), o->size};
  const char *ra[2] = {"RPOP", key};
  size_t rl[2] = {4, strlen(key)};
  uint64_t seq = 0, got = 0, counted = 0;
  bool bad = false;
  int64_t t0 = now_ns(), start = t0 + (int64_t)(o->warmup * 1e9),
          end = start + (int64_t)(o->seconds * 1e9);
  int64_t t_start = 0;
  for (;;) {
    int64_t t = now_ns();
    if (!t_start && t >= start) {
      t_start = t;
      counted = got;
    }
    if (t >= end)
      break;
    for (size_t i = 0; i < o->batch; i++) {
      uint64_t v = seq + i;
      memcpy(msg, &v, sizeof v < o->size ? sizeof v : o->size);
      redisAppendCommandArgv(c, 3, pa, pl);
    }
    for (size_t i = 0; i < o->batch; i++)
      redisAppendCommandArgv(c, 2, ra, rl);
    for (size_t i = 0; i < 2 * o->batch; i++) {
      redisReply *rep;
      if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
        bad = true;
        break;
      }
      if (i >= o->batch) {
        uint64_t v = 0;
        if (rep->type != REDIS_REPLY_STRING || rep->len != o->size)
          bad = true;
        else
          memcpy(&v, rep->str, sizeof v < o->size ? sizeof v : o->size);
        if (o->size >= sizeof v && v != seq + (i - o->batch))
          bad = true;
      }
      freeReplyObject(rep);
    }
    if (bad)
      break;
    seq += o->batch;
    got += o->batch;
  }
  int64_t t_end = now_ns();
  redisReply *rep = redisCommand(c, "DEL %s", key);
  if (rep)
    freeReplyObject(rep);
  redisFree(c);
  free(msg);
  if (bad) {
    snprintf(r->note, sizeof r->note, "a reply was missing or out of order");
    return;
  }
  r->ok = true;
  r->msgs = (double)(got - counted);
  r->seconds = (double)(t_end - t_start) / 1e9;
  r->rate = r->msgs / r->seconds;
  snprintf(r->note, sizeof r->note, "1 connection, pipelines of %zu", o->batch);
}

/* ---- ferry ----------------------------------------------------------------------------- */

struct shared {
  _Atomic uint64_t received;
  _Atomic int stop;
  _Atomic int bad;
  _Atomic int errors;
};

static void producer(const char *name, const struct opts *o, struct shared *sh, uint32_t id)
{
  ferry_queue *q;
  if (ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &q)) {
    atomic_fetch_add(&sh->errors, 1);
    _exit(1);
  }
  uint8_t *buf = calloc(o->batch, o->size);
  ferry_queue_vec v[MAX_BATCH];
  uint64_t seq = 0;
  while (!atomic_load(&sh->stop)) {
    for (size_t i = 0; i < o->batch; i++) {
      uint8_t *m = buf + i * o->size;
      uint64_t s = seq + i;
      memcpy(m, &id, 4);
      memcpy(m + 4, &s, 8);
      v[i] = (ferry_queue_vec){m, o->size};
    }
    ssize_t n = ferry_queue_put_many(q, v, o->batch, 100 * FERRY_MSEC);
    if (n > 0)
      seq += (uint64_t)n;
    else if (n != -ETIMEDOUT && n != -EAGAIN)
      atomic_fetch_add(&sh->errors, 1);
  }
  ferry_queue_close(q);
  free(buf);
  _exit(0);
}

static void consumer(const char *name, const struct opts *o, struct shared *sh)
{
  ferry_queue *q;
  if (ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q)) {
    atomic_fetch_add(&sh->errors, 1);
    _exit(1);
  }
  uint8_t *buf = calloc(o->batch, o->size);
  ferry_queue_vec v[MAX_BATCH];
  int64_t next[MAX_PROCS];
  for (int i = 0; i < MAX_PROCS; i++)
    next[i] = -1;
  for (;;) {
    for (size_t i = 0; i < o->batch; i++)
      v[i] = (ferry_queue_vec){buf + i * o->size, o->size};
    ssize_t n = ferry_queue_get_many(q, v, o->batch, 100 * FERRY_MSEC);
    if (n == -EPIPE)
      break;
    if (n == -ETIMEDOUT || n == -EAGAIN) {
      if (atomic_load(&sh->stop) == 2)
        break;
      continue;
    }
    if (n < 0) {
      atomic_fetch_add(&sh->errors, 1);
      break;
    }
    for (ssize_t i = 0; i < n; i++) {
      uint32_t p;
      uint64_t s;
      memcpy(&p, v[i].data, 4);
      memcpy(&s, (uint8_t *)v[i].data + 4, 8);
      /* Each producer's messages arrive in order at each consumer. */
      if (p >= MAX_PROCS || v[i].len != o->size || (int64_t)s <= next[p])
        atomic_store(&sh->bad, 1);
      else
        next[p] = (int64_t)s;
    }
    atomic_fetch_add(&sh->received, (uint64_t)n);
  }
  ferry_queue_close(q);
  free(buf);
  _exit(0);
}

/* The hiredis loop's shape: one process, one handle with both roles,
 * put_many then get_many of one batch, the messages checked in order. */
static void run_ferry_loop(const struct opts *o, const char *server_url, bool lease,
                           struct result *r)
{
  r->impl = lease ? "ferry-redis-batch-loop" : "ferry-redis-nolease-loop";
  static int counter;
  char name[600];
  snprintf(name, sizeof name, "%s%sferry-bench-loop-%d-%d", server_url,
           server_url[strlen(server_url) - 1] == '/' ? "" : "/", (int)getpid(), counter++);
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.capacity = 65536;
  qo.max_msg_size = (uint32_t)o->size;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  if (!lease)
    ro.flags = FERRY_REDIS_NO_LEASE;
  ferry_queue *q;
  int rc = ferry_redis_queue_create(name, &qo, &ro, &q);
  if (rc) {
    snprintf(r->note, sizeof r->note, "create: %s", ferry_strerror(rc));
    r->skipped = rc == -ENOTSUP;
    return;
  }
  uint8_t *in = calloc(o->batch, o->size), *out = calloc(o->batch, o->size);
  ferry_queue_vec v[MAX_BATCH], g[MAX_BATCH];
  uint64_t seq = 0, counted = 0;
  bool bad = false;
  int64_t t0 = now_ns(), start = t0 + (int64_t)(o->warmup * 1e9),
          end = start + (int64_t)(o->seconds * 1e9), t_start = 0;
  while (!bad && in && out) {
    int64_t t = now_ns();
    if (!t_start && t >= start) {
      t_start = t;
      counted = seq;
    }
    if (t >= end)
      break;
    for (size_t i = 0; i < o->batch; i++) {
      uint64_t s = seq + i;
      memcpy(in + i * o->size + 4, &s, 8);
      v[i] = (ferry_queue_vec){in + i * o->size, o->size};
      g[i] = (ferry_queue_vec){out + i * o->size, o->size};
    }
    if (ferry_queue_put_many(q, v, o->batch, FERRY_SEC) != (ssize_t)o->batch ||
        ferry_queue_get_many(q, g, o->batch, FERRY_SEC) != (ssize_t)o->batch) {
      bad = true;
      break;
    }
    for (size_t i = 0; i < o->batch; i++) {
      uint64_t s;
      memcpy(&s, out + i * o->size + 4, 8);
      bad |= s != seq + i || g[i].len != o->size;
    }
    seq += o->batch;
  }
  int64_t t_end = now_ns();
  free(in);
  free(out);
  ferry_queue_close(q);
  ferry_unlink(name);
  if (bad || !t_start) {
    snprintf(r->note, sizeof r->note, "a batch was short, damaged or out of order");
    return;
  }
  r->ok = true;
  r->msgs = (double)(seq - counted);
  r->seconds = (double)(t_end - t_start) / 1e9;
  r->rate = r->msgs / r->seconds;
  snprintf(r->note, sizeof r->note, "1 process, put_many then get_many of %zu (the loop's shape)",
           o->batch);
}

/* Waits for child pid to exit, at most REAP_TIMEOUT_S (its calls all have
 * timeouts of their own), then kills it; false if it had to be killed or
 * failed. */
#define REAP_TIMEOUT_S 30.0
static bool reap(pid_t pid)
{
  int64_t until = now_ns() + (int64_t)(REAP_TIMEOUT_S * 1e9);
  int st = 0;
  pid_t got;
  while ((got = waitpid(pid, &st, WNOHANG)) == 0 && now_ns() < until)
    sleep_s(0.005);
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return false;
  }
  return got == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void run_ferry(const struct opts *o, const char *server_url, bool lease, struct result *r)
{
  r->impl = lease ? "ferry-redis-batch" : "ferry-redis-nolease";
  static int counter;
  char name[600];
  snprintf(name, sizeof name, "%s%sferry-bench-%d-%d", server_url,
           server_url[strlen(server_url) - 1] == '/' ? "" : "/", (int)getpid(), counter++);
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.capacity = 65536;
  qo.max_msg_size = (uint32_t)o->size;
  qo.region.role = FERRY_ROLE_CONSUMER;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  if (!lease)
    ro.flags = FERRY_REDIS_NO_LEASE;
  ferry_queue *q;
  int rc = ferry_redis_queue_create(name, &qo, &ro, &q);
  if (rc) {
    snprintf(r->note, sizeof r->note, "create: %s%s%s", ferry_strerror(rc),
             rc == -ENOTSUP ? ": " : "", rc == -ENOTSUP ? ferry_redis_status() : "");
    r->skipped = rc == -ENOTSUP;
    return;
  }
  /* The queue stays on the server; this process keeps no handle (and so
   * no lease keeper thread) across its forks: a child forked while another
   * thread holds a lock (malloc's, hiredis's) would inherit it held. */
  ferry_queue_close(q);
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
  if (sh == MAP_FAILED) {
    ferry_unlink(name);
    return;
  }
  memset(sh, 0, sizeof *sh);
  pid_t pids[2 * MAX_PROCS];
  int np = 0;
  for (int i = 0; i < o->consumers; i++)
    if ((pids[np] = fork()) == 0)
      consumer(name, o, sh);
    else
      np++;
  for (int i = 0; i < o->producers; i++)
    if ((pids[np] = fork()) == 0)
      producer(name, o, sh, (uint32_t)i);
    else
      np++;
  sleep_s(o->warmup);
  uint64_t a = atomic_load(&sh->received);
  int64_t t0 = now_ns();
  sleep_s(o->seconds);
  uint64_t b = atomic_load(&sh->received);
  int64_t t1 = now_ns();
  atomic_store(&sh->stop, 1);
  for (int i = o->consumers; i < np; i++)
    if (!reap(pids[i]))
      atomic_fetch_add(&sh->errors, 1);
  atomic_store(&sh->stop, 2); /* producers are gone: consumers drain and stop */
  for (int i = 0; i < o->consumers; i++)
    if (!reap(pids[i]))
      atomic_fetch_add(&sh->errors, 1);
  ferry_unlink(name);
  if (atomic_load(&sh->bad)) {
    snprintf(r->note, sizeof r->note, "a message arrived out of order or damaged");
  } else if (atomic_load(&sh->errors)) {
    snprintf(r->note, sizeof r->note, "%d calls failed", atomic_load(&sh->errors));
  } else {
    r->ok = true;
    r->msgs = (double)(b - a);
    r->seconds = (double)(t1 - t0) / 1e9;
    r->rate = r->msgs / r->seconds;
    snprintf(r->note, sizeof r->note, "%dP%dC, batches of %zu%s", o->producers, o->consumers,
             o->batch, lease ? ", leases renewed, acked on the next take" : "");
  }
  munmap(sh, sizeof *sh);
}

/* ---- output ------------------------------------------------------------------------------- */

static const struct result *find(const struct result *r, size_t n, const char *impl)
{
  for (size_t i = 0; i < n; i++)
    if (!strcmp(r[i].impl, impl) && r[i].ok)
      return &r[i];
  return NULL;
}

/* A goal on stderr: mine's rate at least `goal` times peer's. */
static void goal_line(const struct result *r, size_t n, const char *mine, const char *peer,
                      double goal)
{
  const struct result *a = find(r, n, mine), *b = find(r, n, peer);
  if (!a || !b) {
    fprintf(stderr, "goal %s >= %.1fx %s: not measured\n", mine, goal, peer);
    return;
  }
  double ratio = a->rate / b->rate;
  fprintf(stderr, "goal %s >= %.1fx %s: %.2fx, %s\n", mine, goal, peer, ratio,
          ratio >= goal ? "met" : "NOT met");
}

/* The results in the one schema (report.c). */
static void to_rows(const struct opts *o, const struct result *res, size_t n, bench_result *rows)
{
  for (size_t i = 0; i < n; i++) {
    bench_result *b = &rows[i];
    memset(b, 0, sizeof *b);
    b->bench = "queue";
    snprintf(b->kase, sizeof b->kase, "redis-%dp%dc-%zuB", o->producers, o->consumers, o->size);
    snprintf(b->impl, sizeof b->impl, "%s", res[i].impl);
    b->status = res[i].ok ? BH_OK : res[i].skipped ? BH_SKIPPED : BH_FAILED;
    /* A longer note is cut: the table and the JSON carry at most this. */
    snprintf(b->note, sizeof b->note, "%.*s", (int)sizeof b->note - 1, res[i].note);
    b->unit = "msgs/s";
    b->value = res[i].rate;
    bench_param(b, "msg_bytes", (double)o->size);
    bench_param(b, "producers", o->producers);
    bench_param(b, "consumers", o->consumers);
    bench_param(b, "batch", (double)o->batch);
    bench_metric(b, "msgs", res[i].msgs);
    if (res[i].seconds > 0)
      bench_metric(b, "seconds", res[i].seconds);
    if (res[i].extra > 0) {
      bench_metric(b, "lpush_per_s", res[i].extra);
      bench_metric(b, "lpop_per_s", res[i].extra2);
    }
    if (o->rounds > 1 && res[i].ok) {
      bench_metric(b, "rounds", o->rounds);
      bench_metric(b, "lowest", res[i].lo);
      bench_metric(b, "highest", res[i].hi);
    }
  }
}

int bench_queue_redis(int argc, char **argv)
{
  struct opts o = {.seconds = 1, .warmup = 0.2, .size = 64, .batch = 64, .producers = 1,
                   .consumers = 1, .clients = 50};
  const char *backend = NULL;
  uint64_t size = o.size, batch = o.batch;
  uint32_t producers = 1, consumers = 1, clients = 50, rounds = 1;
  cli_opt opts[] = {
      CLI_STRING("--backend", &backend),
      CLI_STRING("--redis-url", &o.url),
      CLI_DOUBLE("--seconds", &o.seconds, 0.001, 3600),
      CLI_DOUBLE("--warmup", &o.warmup, 0, 60),
      CLI_U64("--size", &size, HDR_BYTES, MAX_SIZE),
      CLI_U64("--batch", &batch, 1, MAX_BATCH),
      CLI_U32("--producers", &producers, 1, MAX_PROCS),
      CLI_U32("--consumers", &consumers, 1, MAX_PROCS),
      CLI_U32("--clients", &clients, 1, MAX_CLIENTS),
      CLI_U32("--rounds", &rounds, 1, MAX_ROUNDS),
      CLI_STRING("--impl", &o.impls),
      CLI_JSON(&o.json),
  };
  const cli_spec spec = {"bench queue", bench_help_redis, opts, sizeof opts / sizeof opts[0],
                         NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  if (!backend || strcmp(backend, "redis") != 0)
    return cli_usage_error("bench queue", "bad --backend '%s' (shm or redis)",
                           backend ? backend : "");
  o.size = (size_t)size;
  o.batch = (size_t)batch;
  o.producers = (int)producers;
  o.consumers = (int)consumers;
  o.clients = (int)clients;
  o.rounds = (int)rounds;
  struct server s;
  memset(&s, 0, sizeof s);
  char url[400];
  if (o.url) {
    if (server_parse(&s, o.url))
      return cli_usage_error("bench queue",
                             "bad --redis-url '%s' (want redis://HOST[:PORT] or "
                             "unix:///PATH.sock)",
                             o.url);
    snprintf(url, sizeof url, "%s", o.url);
  } else {
    if (server_start(&s)) {
      server_stop(&s);
      return cli_fail("bench queue", -ENOENT, "starting a private redis-server (Debian: "
                                              "redis-server)");
    }
    snprintf(url, sizeof url, "unix://%s", s.sock);
  }
  const bench_number params[] = {{"seconds", o.seconds},
                                 {"warmup", o.warmup},
                                 {"batch", (double)o.batch},
                                 {"rounds", o.rounds}};
  const size_t nparams = sizeof params / sizeof params[0];
  if (o.json)
    bench_print_machine("queue", params, nparams);
  /* Every implementation once per round, in turns, so that a busy spell
   * of the machine falls on all of them alike; each one's median round is
   * its result. */
  static struct result all[MAX_ROUNDS][MAX_RESULTS];
  memset(all, 0, sizeof all);
  size_t n = 0;
  for (int r = 0; r < o.rounds; r++) {
    struct result *res = all[r];
    n = 0;
    if (wanted(&o, "redis-benchmark-P16"))
      run_redis_benchmark(&o, &s, &res[n++]);
    if (wanted(&o, "hiredis-loop"))
      run_hiredis(&o, &s, &res[n++]);
    if (wanted(&o, "ferry-redis-batch"))
      run_ferry(&o, url, true, &res[n++]);
    if (wanted(&o, "ferry-redis-nolease"))
      run_ferry(&o, url, false, &res[n++]);
    if (wanted(&o, "ferry-redis-batch-loop"))
      run_ferry_loop(&o, url, true, &res[n++]);
    if (wanted(&o, "ferry-redis-nolease-loop"))
      run_ferry_loop(&o, url, false, &res[n++]);
  }
  struct result res[MAX_RESULTS];
  for (size_t i = 0; i < n; i++) {
    double rates[MAX_ROUNDS];
    size_t k = 0;
    int bad = -1;
    for (int r = 0; r < o.rounds; r++) {
      if (all[r][i].ok)
        rates[k++] = all[r][i].rate;
      else if (bad < 0)
        bad = r;
    }
    if (bad >= 0) { /* a failed (or skipped) round decides */
      res[i] = all[bad][i];
      continue;
    }
    bench_sort(rates, k);
    double median = rates[(k - 1) / 2]; /* the lower middle for an even count */
    res[i] = all[0][i];
    for (int r = 0; r < o.rounds; r++)
      if (all[r][i].rate == median) {
        res[i] = all[r][i];
        break;
      }
    res[i].lo = rates[0];
    res[i].hi = rates[k - 1];
  }
  if (!o.url)
    server_stop(&s);
  bench_result rows[MAX_RESULTS];
  to_rows(&o, res, n, rows);
  if (o.json) {
    for (size_t i = 0; i < n; i++)
      bench_print_json(&rows[i]);
  } else {
    printf("the queue on Redis (%s), %zu B messages, batches of %zu\n",
           o.url ? o.url : "a private redis-server on a Unix socket", o.size, o.batch);
    bench_print_table("queue", params, nparams, rows, n);
  }
  fflush(stdout);
  goal_line(res, n, "ferry-redis-batch", "redis-benchmark-P16", 0.5);
  goal_line(res, n, "ferry-redis-nolease", "hiredis-loop", 1.0);
  for (size_t i = 0; i < n; i++)
    if (!res[i].ok && !res[i].skipped)
      return CLI_FAIL;
  return CLI_OK;
}
