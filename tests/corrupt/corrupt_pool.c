/* SPDX-License-Identifier: MIT */
/*
 * corrupt_pool.c: random corruption of a pool's statistics region, the one
 * other processes read (`ferry info`, ferry_pool_stat). An owner process
 * runs a pool of two function workers that echo a stream of tasks, so the
 * region keeps changing; the operator reads it with ferry_pool_stat. Every
 * answer must be an error or a snapshot whose every enumerated field is in
 * range, with no row written beyond the pool's own.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corrupt.h"
#include "ferry/pool.h"

#define WORKERS 2
#define ROWS 8

static pid_t owner; /* the parent's: the pool's owner process this round */

static ssize_t echo(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  if (len > cap)
    return -EMSGSIZE;
  memcpy(out, task, len);
  return (ssize_t)len;
}

/* The owner: submits and collects until killed. */
static void run_owner(const char *name)
{
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = WORKERS;
  o.fn = echo;
  o.max_msg = 64;
  ferry_pool *p;
  if (ferry_pool_create(name, &o, &p) != 0)
    _exit(3);
  for (uint64_t i = 0;; i++) {
    ferry_pool_result r;
    if (ferry_pool_submit(p, &i, sizeof i, NULL, 0, NULL) == -EAGAIN)
      (void)ferry_pool_next(p, &r, 10 * FERRY_MSEC);
  }
}

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-pool");
  owner = ft_fork();
  if (owner == 0)
    run_owner(c->name);
  /* the operator's first reads must see a sound region */
  ferry_pool_stats st;
  int64_t end = ft_ms() + 10000;
  while (ferry_pool_stat(c->name, &st, NULL, 0) < 0 && ft_ms() < end)
    usleep(1000);
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  (void)rng;
  ferry_pool_stats st;
  ferry_pool_worker_info w[ROWS];
  memset(w, 0xa5, sizeof w);
  ssize_t n = ferry_pool_stat(c->name, &st, w, ROWS);
  if (n < 0)
    return; /* a clear error: the region does not check out, or kept changing */
  CHECK(n >= 1 && n <= FERRY_POOL_MAX_WORKERS);
  CHECK(st.kind <= FERRY_POOL_EXEC_EACH);
  CHECK(st.state <= FERRY_POOL_STOPPED);
  CHECK(st.breaker <= FERRY_POOL_BREAKER_HALF_OPEN);
  for (ssize_t i = 0; i < n && i < ROWS; i++)
    CHECK(w[i].state <= FERRY_POOL_W_STOPPING);
  for (ssize_t i = n; i < ROWS; i++)
    CHECK(w[i].state == 0xa5a5a5a5u); /* rows beyond the pool's are not written */
}

/* A killed owner leaves its stats region and the pipes of workers that
 * were still starting, orphaned (docs/design/pool.md): ferry gc removes
 * them, once the workers have followed their fork server out. */
static void teardown(struct corrupt_ctx *c)
{
  kill(owner, SIGKILL);
  CHECK(ft_wait(owner, 10000) >= 0);
  ferry_unlink(c->name);
  char prefix[80];
  snprintf(prefix, sizeof prefix, "ferry.%s.w", c->name);
  DIR *d = opendir("/dev/shm");
  REQUIRE(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    const char *name = e->d_name + strlen("ferry.");
    int64_t end = ft_ms() + 10000;
    int rc;
    while ((rc = ferry_region_gc(name, 0, NULL)) == 0 && ft_ms() < end)
      usleep(5000);
    CHECK_EQ(rc, 1);
  }
  closedir(d);
}

CORRUPT_SCENARIO(pool, .kind = "pool", .setup = setup, .operate = operate, .teardown = teardown);
