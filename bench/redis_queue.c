/* SPDX-License-Identifier: MIT */
/*
 * redis_queue.c: ferry-bench-redis, what `ferry bench queue --backend
 * redis` runs. One run, side by side, on the same Redis server:
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
 * temporary directory (no persistence) and stops it at the end. Output: a
 * table, or with --json the JSON Lines of bench/README.md (a machine line,
 * then one result line per implementation).
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/ferry.h"

#define MAX_PROCS 16
#define MAX_BATCH 1024
#define MAX_SIZE (1u << 20)
#define HDR_BYTES 12 /* producer (4), sequence (8) */

static const char help[] =
    "usage: ferry bench queue --backend redis [--redis-url URL] [--seconds S]\n"
    "                         [--warmup S] [--size B] [--batch N]\n"
    "                         [--producers N] [--consumers N] [--clients N]\n"
    "                         [--impl a,b] [--json]\n"
    "\n"
    "ferry's queue on a Redis server against the raw server, side by side:\n"
    "  redis-benchmark-P16  redis-benchmark -P 16 -t lpush,lpop (a message is\n"
    "                       one LPUSH and one LPOP)\n"
    "  hiredis-loop         a plain hiredis loop: pipelined LPUSHes, then RPOPs\n"
    "  ferry-redis-batch    ferry's queue with leases (at least once),\n"
    "                       put_many/get_many\n"
    "  ferry-redis-nolease  ferry's queue without leases (at most once)\n"
    "Goals: ferry-redis-batch >= 0.5x redis-benchmark-P16,\n"
    "ferry-redis-nolease >= 1x hiredis-loop.\n"
    "\n"
    "Options:\n"
    "  --redis-url URL  the server: redis://HOST[:PORT] or unix:///path.sock\n"
    "                   (default: start a private redis-server for the run)\n"
    "  --seconds S      measured length of each case (default 1)\n"
    "  --warmup S       unmeasured lead-in (default 0.2)\n"
    "  --size B         message bytes, 12..1048576 (default 64)\n"
    "  --batch N        messages per batch call, 1..1024 (default 64)\n"
    "  --producers N    ferry's producer processes (default 1)\n"
    "  --consumers N    ferry's consumer processes (default 1)\n"
    "  --clients N      redis-benchmark's connections (default 50)\n"
    "  --impl a,b       only these implementations\n"
    "  --json           JSON Lines instead of the table\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 done, 1 a case failed, 2 bad command line.\n";

struct opts {
  const char *url; /* server address; NULL: start one */
  double seconds, warmup;
  size_t size, batch;
  int producers, consumers, clients;
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
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
  if (sh == MAP_FAILED) {
    ferry_queue_close(q);
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
    waitpid(pids[i], NULL, 0);
  atomic_store(&sh->stop, 2); /* producers are gone: consumers drain and stop */
  for (int i = 0; i < o->consumers; i++)
    waitpid(pids[i], NULL, 0);
  ferry_queue_close(q);
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

static void json_str(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void print_json(const struct opts *o, const struct result *r, size_t n)
{
  struct utsname u;
  uname(&u);
  time_t t = time(NULL);
  struct tm tm;
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  printf("{\"type\":\"machine\",\"bench\":\"queue\",\"backend\":\"redis\",\"nproc\":%ld,"
         "\"kernel\":",
         sysconf(_SC_NPROCESSORS_ONLN));
  char kernel[600];
  snprintf(kernel, sizeof kernel, "%s %s %s", u.sysname, u.release, u.machine);
  json_str(kernel);
  printf(",\"time\":\"%s\",\"seconds\":%g,\"warmup\":%g,\"batch\":%zu}\n", when, o->seconds,
         o->warmup, o->batch);
  for (size_t i = 0; i < n; i++) {
    printf("{\"type\":\"result\",\"bench\":\"queue\",\"backend\":\"redis\",\"case\":\"%dp%dc-%zuB\","
           "\"impl\":",
           o->producers, o->consumers, o->size);
    json_str(r[i].impl);
    printf(",\"status\":\"%s\",\"note\":", r[i].ok ? "ok" : r[i].skipped ? "skipped" : "failed");
    json_str(r[i].note);
    if (r[i].ok)
      printf(",\"value\":%.1f", r[i].rate);
    else
      printf(",\"value\":null");
    printf(",\"unit\":\"msgs/s\",\"better\":\"higher\",\"msg_bytes\":%zu,\"producers\":%d,"
           "\"consumers\":%d,\"batch\":%zu",
           o->size, o->producers, o->consumers, o->batch);
    if (r[i].ok)
      printf(",\"msgs\":%.0f,\"seconds\":%.3f", r[i].msgs, r[i].seconds);
    if (r[i].extra > 0)
      printf(",\"lpush_per_s\":%.1f,\"lpop_per_s\":%.1f", r[i].extra, r[i].extra2);
    printf("}\n");
  }
}

static const struct result *find(const struct result *r, size_t n, const char *impl)
{
  for (size_t i = 0; i < n; i++)
    if (!strcmp(r[i].impl, impl) && r[i].ok)
      return &r[i];
  return NULL;
}

static void goal_line(const struct opts *o, const struct result *r, size_t n, const char *mine,
                      const char *peer, double goal)
{
  const struct result *a = find(r, n, mine), *b = find(r, n, peer);
  if (!a || !b) {
    if (!o->json)
      printf("goal %s >= %.1fx %s: not measured\n", mine, goal, peer);
    return;
  }
  double ratio = a->rate / b->rate;
  if (o->json)
    printf("{\"type\":\"goal\",\"bench\":\"queue\",\"backend\":\"redis\",\"impl\":\"%s\","
           "\"peer\":\"%s\",\"goal\":%.2f,\"ratio\":%.3f,\"met\":%s}\n",
           mine, peer, goal, ratio, ratio >= goal ? "true" : "false");
  else
    printf("goal %s >= %.1fx %s: %.2fx, %s\n", mine, goal, peer, ratio,
           ratio >= goal ? "met" : "not met");
}

static int parse(int argc, char **argv, struct opts *o)
{
  *o = (struct opts){.seconds = 1, .warmup = 0.2, .size = 64, .batch = 64, .producers = 1,
                     .consumers = 1, .clients = 50};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                                   \
  do {                                                                                           \
    if (!v) {                                                                                    \
      fprintf(stderr, "ferry bench: %s needs a value\n", a);                                     \
      return 2;                                                                                  \
    }                                                                                            \
    i++;                                                                                         \
  } while (0)
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(help, stdout);
      exit(0);
    } else if (!strcmp(a, "--json")) {
      o->json = true;
    } else if (!strcmp(a, "--redis-url")) {
      NEED();
      o->url = v;
    } else if (!strcmp(a, "--seconds")) {
      NEED();
      o->seconds = atof(v);
    } else if (!strcmp(a, "--warmup")) {
      NEED();
      o->warmup = atof(v);
    } else if (!strcmp(a, "--size")) {
      NEED();
      o->size = (size_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--batch")) {
      NEED();
      o->batch = (size_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--producers")) {
      NEED();
      o->producers = atoi(v);
    } else if (!strcmp(a, "--consumers")) {
      NEED();
      o->consumers = atoi(v);
    } else if (!strcmp(a, "--clients")) {
      NEED();
      o->clients = atoi(v);
    } else if (!strcmp(a, "--impl")) {
      NEED();
      o->impls = v;
    } else if (!strcmp(a, "--backend")) {
      NEED();
      if (strcmp(v, "redis")) {
        fprintf(stderr, "ferry bench: this program measures --backend redis only\n");
        return 2;
      }
    } else if (!strcmp(a, "queue")) {
      /* the benchmark's name, as `ferry bench queue` passes it */
    } else {
      fprintf(stderr, "ferry bench: unknown option %s (try --help)\n", a);
      return 2;
    }
#undef NEED
  }
  if (o->seconds <= 0 || o->seconds > 3600 || o->warmup < 0 || o->warmup > 60 ||
      o->size < HDR_BYTES || o->size > MAX_SIZE || o->batch < 1 || o->batch > MAX_BATCH ||
      o->producers < 1 || o->producers > MAX_PROCS || o->consumers < 1 ||
      o->consumers > MAX_PROCS || o->clients < 1 || o->clients > 10000) {
    fprintf(stderr, "ferry bench: an option is out of range (try --help)\n");
    return 2;
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct opts o;
  int rc = parse(argc, argv, &o);
  if (rc)
    return rc;
  /* libferry looks for its Redis backend next to the program. */
  struct server s;
  memset(&s, 0, sizeof s);
  char url[400];
  if (o.url) {
    if (server_parse(&s, o.url)) {
      fprintf(stderr, "ferry bench: --redis-url wants redis://HOST[:PORT] or unix:///path.sock\n");
      return 2;
    }
    snprintf(url, sizeof url, "%s", o.url);
  } else {
    if (server_start(&s)) {
      fprintf(stderr, "ferry bench: could not start redis-server (is it installed?)\n");
      server_stop(&s);
      return 1;
    }
    snprintf(url, sizeof url, "unix://%s", s.sock);
  }
  struct result res[6];
  memset(res, 0, sizeof res);
  size_t n = 0;
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
  if (!o.url)
    server_stop(&s);
  if (o.json) {
    print_json(&o, res, n);
  } else {
    printf("queue on Redis (%s), %zu B messages, batches of %zu, %.1f s per case\n",
           o.url ? o.url : "a private redis-server on a Unix socket", o.size, o.batch, o.seconds);
    printf("%-22s %14s  %s\n", "impl", "msgs/s", "note");
    for (size_t i = 0; i < n; i++) {
      if (res[i].ok)
        printf("%-22s %14.0f  %s\n", res[i].impl, res[i].rate, res[i].note);
      else
        printf("%-22s %14s  %s\n", res[i].impl, res[i].skipped ? "skipped" : "FAILED",
               res[i].note);
    }
  }
  goal_line(&o, res, n, "ferry-redis-batch", "redis-benchmark-P16", 0.5);
  goal_line(&o, res, n, "ferry-redis-nolease", "hiredis-loop", 1.0);
  for (size_t i = 0; i < n; i++)
    if (!res[i].ok && !res[i].skipped)
      return 1;
  return 0;
}
