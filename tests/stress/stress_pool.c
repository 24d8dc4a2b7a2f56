/* SPDX-License-Identifier: MIT */
/*
 * stress_pool.c: the pool's chaos test, across real processes.
 *
 * The test process forks an owner, which runs a pool; the test process
 * meanwhile SIGKILLs busy workers (found through the pool's stats region,
 * as another process would) and, in the signal rounds, sends the owner
 * SIGINT at random moments (a second one cancels). Exec workers (this
 * binary again, with --worker) exit mid-task, close their stdout, write
 * oversized lines, flood 1 MiB of stderr or overrun the timeout.
 *
 * Every round checks: the owner ends in bounded time (nothing hangs);
 * every task submitted ends exactly once, as done or failed; no task ran
 * more than retries + 1 times; after close no child of the owner and no
 * member of the pool's process group is left (no zombie, no orphan). It
 * prints the death-to-requeue latency (kill() to the pool's requeue
 * event), p50 and p99; the goal is p99 <= 50 ms, printed, not asserted.
 *
 * Quick tier: 10,000 function tasks with >= 100 kills, 2,000 exec tasks
 * with every misbehaviour and >= 30 kills, 6 signal rounds. Long tier
 * (FERRY_STRESS_SECONDS set): rounds of 50,000 tasks until the time is up.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/pool.h"
#include "test.h"

#define MAXT 200000
#define MAXK 8192
#define RETRIES 3

struct shm {
  _Atomic uint32_t runs[MAXT];
  _Atomic uint32_t results[MAXT];
  uint8_t outcome[MAXT];
  _Atomic uint32_t nkills;
  struct {
    int32_t pid;
    int64_t t;
  } kills[MAXK];
  _Atomic uint32_t nreq;
  struct {
    int32_t pid;
    int64_t t;
  } req[MAXK];
  _Atomic int32_t pgid;
  _Atomic int32_t leftover, zombies;
  _Atomic uint32_t submitted, unexpected;
  _Atomic int32_t owner_ok;
  _Atomic int32_t ready; /* the owner has its pool (and its signal handlers) */
  _Atomic uint32_t ok_timedout;
};

static struct shm *S;
static char self_exe[4096];
static char shm_path[256];
static long shm_off;

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static void usleep_ns(int64_t ns)
{
  struct timespec ts = {(time_t)(ns / FERRY_SEC), (long)(ns % FERRY_SEC)};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

/* ---- workers ----------------------------------------------------------------------- */

static ssize_t chaos_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)cap;
  uint32_t id, us;
  memcpy(&id, task, 4);
  memcpy(&us, (const uint8_t *)task + 4, 4);
  if (len != 8 || id >= MAXT)
    return -EINVAL;
  atomic_fetch_add(&S->runs[id], 1);
  usleep_ns((int64_t)us * 1000);
  memcpy(out, &id, 4);
  return 4;
}

/* Exec worker: tasks are "<kind> <id>". */
static int exec_worker(void)
{
  int fd = open(getenv("CHAOS_FILE"), O_RDWR);
  if (fd < 0)
    return 2;
  long off = atol(getenv("CHAOS_OFF"));
  void *m = mmap(NULL, (size_t)off + sizeof(struct shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    return 2;
  S = (struct shm *)((char *)m + off);
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    char kind[16];
    unsigned id;
    if (sscanf(line, "%15s %u", kind, &id) != 2 || id >= MAXT)
      return 3;
    atomic_fetch_add(&S->runs[id], 1);
    if (strcmp(kind, "exit") == 0)
      _exit(0);
    if (strcmp(kind, "close") == 0) {
      close(1);
      usleep_ns(2 * FERRY_SEC);
      _exit(0);
    }
    if (strcmp(kind, "flood") == 0) {
      static char junk[1 << 20];
      memset(junk, 'f', sizeof junk);
      for (size_t i = 80; i < sizeof junk; i += 81)
        junk[i] = '\n';
      fwrite(junk, 1, sizeof junk, stderr);
      fflush(stderr);
    }
    if (strcmp(kind, "bad") == 0) {
      for (int i = 0; i < 5000; i++)
        putchar('x');
    }
    if (strcmp(kind, "slow") == 0)
      usleep_ns(5 * FERRY_SEC);
    if (strcmp(kind, "ok") == 0)
      usleep_ns(200 * 1000);
    printf("%u\n", id);
    fflush(stdout);
  }
  return 0;
}

/* ---- the owner ------------------------------------------------------------------------- */

static void on_event(void *arg, const ferry_pool_event *ev)
{
  (void)arg;
  if (ev->type != FERRY_POOL_EV_REQUEUED)
    return;
  uint32_t i = atomic_fetch_add(&S->nreq, 1);
  if (i < MAXK) {
    S->req[i].pid = ev->pid;
    S->req[i].t = ev->time_ns;
  }
}

static long output_bytes;

static void on_output(void *arg, uint32_t slot, pid_t pid, const char *line, size_t len)
{
  (void)arg;
  (void)slot;
  (void)pid;
  (void)line;
  output_bytes += (long)len;
}

static int count_leftovers(pid_t pgid, int *zombies)
{
  int n = 0;
  *zombies = 0;
  DIR *d = opendir("/proc");
  if (!d)
    return -1;
  struct dirent *e;
  pid_t me = getpid();
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0)
      continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
      continue;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0)
      continue;
    buf[k] = '\0';
    char *rp = strrchr(buf, ')');
    char st;
    int ppid, pgrp;
    if (!rp || sscanf(rp + 1, " %c %d %d", &st, &ppid, &pgrp) != 3)
      continue;
    if (ppid == me || (pgid > 0 && pgrp == pgid)) {
      n++;
      *zombies += st == 'Z';
    }
  }
  closedir(d);
  return n;
}

enum { ROUND_FUNC, ROUND_EXEC, ROUND_SIGNAL };

static const char *exec_kind(uint32_t id)
{
  if (id % 200 == 17)
    return "slow";
  switch (id % 40) {
  case 3:
    return "exit";
  case 7:
    return "close";
  case 11:
    return "flood";
  case 13:
    return "bad";
  default:
    return "ok";
  }
}

/* Runs in the forked owner. Exit status 0: every check in it passed. */
static void owner(const char *name, int round, uint32_t n, uint64_t seed)
{
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = 4;
  o.retries = RETRIES;
  o.grace_ns = 100 * FERRY_MSEC;
  o.breaker_deaths = 1000;
  o.backoff_ns = FERRY_MSEC;
  o.backoff_max_ns = 10 * FERRY_MSEC;
  o.flags = seed & 1 ? FERRY_POOL_ORDERED : 0;
  o.prefetch = (seed >> 1) & 1;
  o.queue_size = 64;
  o.on_event = on_event;
  o.on_output = on_output;
  const char *argv[] = {self_exe, "--worker", NULL};
  char env_file[300], env_off[64];
  const char *envp[] = {env_file, env_off, "PATH=/usr/bin:/bin", NULL};
  if (round == ROUND_EXEC) {
    snprintf(env_file, sizeof env_file, "CHAOS_FILE=%s", shm_path);
    snprintf(env_off, sizeof env_off, "CHAOS_OFF=%ld", shm_off);
    o.kind = FERRY_POOL_EXEC;
    o.argv = argv;
    o.envp = envp;
    o.max_msg = 4096;
    o.task_timeout_ns = 500 * FERRY_MSEC;
    o.prefetch = 0;
  } else {
    o.fn = chaos_fn;
    o.max_tasks = seed & 4 ? 200 : 0;
  }
  ferry_pool *p;
  if (ferry_pool_create(name, &o, &p))
    _exit(10);
  if (round == ROUND_SIGNAL && ferry_pool_catch_signals(p, FERRY_FOREVER))
    _exit(11);
  S->pgid = ferry_pool_pgid(p);
  S->ready = 1;
  uint64_t rs = seed | 1;
  uint32_t sub = 0, got = 0;
  bool input_done = false;
  int64_t deadline = now_ns() + 120 * FERRY_SEC;
  while (now_ns() < deadline) {
    while (!input_done && sub < n) {
      int rc;
      if (round == ROUND_EXEC) {
        char t[32];
        int k = snprintf(t, sizeof t, "%s %u", exec_kind(sub), sub);
        rc = ferry_pool_submit(p, t, (size_t)k, NULL, 0, NULL);
      } else {
        uint32_t t[2] = {sub, (uint32_t)(100 + ft_rand(&rs) % 900)};
        rc = ferry_pool_submit(p, t, sizeof t, NULL, 0, NULL);
      }
      if (rc == -EAGAIN)
        break;
      if (rc == -EPIPE) { /* a signal stopped the input */
        input_done = true;
        break;
      }
      if (rc)
        _exit(12);
      sub++;
    }
    if (!input_done && sub == n) {
      ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
      input_done = true;
    }
    ferry_pool_result r;
    int rc = ferry_pool_next(p, &r, 50 * FERRY_MSEC);
    if (rc == -EPIPE)
      break;
    if (rc == -ETIMEDOUT || rc == -EAGAIN)
      continue;
    if (rc)
      _exit(13);
    if (r.id >= n)
      _exit(14);
    atomic_fetch_add(&S->results[r.id], 1);
    S->outcome[r.id] = (uint8_t)r.outcome;
    got++;
    if (r.outcome == FERRY_POOL_DONE && round != ROUND_EXEC &&
        (r.len != 4 || memcmp(r.data, &(uint32_t){(uint32_t)r.id}, 4) != 0))
      atomic_fetch_add(&S->unexpected, 1);
  }
  S->submitted = sub;
  if (got != sub)
    _exit(15); /* something did not end (or the 120 s bound hit) */
  pid_t g = ferry_pool_pgid(p);
  if (round == ROUND_SIGNAL) {
    /* A drain can end before the test's second signal comes; close puts
     * the default action back, which would kill this owner for a signal
     * meant for a pool that is gone. Hold such a late one until _exit. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
  }
  ferry_pool_close(p);
  int z = 0, left = -1;
  for (int i = 0; i < 200; i++) {
    left = count_leftovers(g, &z);
    if (left == 0)
      break;
    usleep_ns(10 * FERRY_MSEC);
  }
  S->leftover = left;
  S->zombies = z;
  if (round == ROUND_EXEC && output_bytes < (1 << 20))
    _exit(16); /* the floods were drained and handed over */
  S->owner_ok = 1;
  _exit(0);
}

/* ---- the test process ---------------------------------------------------------------------- */

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void reset_shm(void)
{
  memset(S, 0, sizeof *S);
}

/* Kills one busy worker of pool `name`; returns 1 if it sent a kill. */
static int kill_busy(const char *name, uint64_t *rs)
{
  ferry_pool_stats s;
  ferry_pool_worker_info w[8];
  ssize_t k = ferry_pool_stat(name, &s, w, 8);
  if (k <= 0)
    return 0;
  int busy[8], nb = 0;
  for (int i = 0; i < (int)k && i < 8; i++)
    if (w[i].state == FERRY_POOL_W_BUSY && w[i].pid > 0)
      busy[nb++] = i;
  if (!nb)
    return 0;
  pid_t pid = w[busy[ft_rand(rs) % (uint64_t)nb]].pid;
  if (pid == s.pgid || pid == s.owner_pid)
    return 0; /* never the fork server or the owner */
  uint32_t i = atomic_fetch_add(&S->nkills, 1);
  if (i >= MAXK)
    return 0;
  S->kills[i].pid = pid;
  S->kills[i].t = now_ns();
  kill(pid, SIGKILL);
  return 1;
}

static void check_round(int round, uint32_t n, bool all_submitted)
{
  CHECK_EQ(S->owner_ok, 1);
  uint32_t sub = S->submitted;
  if (all_submitted)
    CHECK_EQ(sub, n);
  uint32_t bad_once = 0, bad_runs = 0, done = 0, failed = 0;
  for (uint32_t i = 0; i < sub; i++) {
    bad_once += S->results[i] != 1;
    bad_runs += S->runs[i] > RETRIES + 1;
    if (S->outcome[i] == FERRY_POOL_DONE) {
      done++;
      bad_runs += S->runs[i] == 0;
    } else
      failed++;
    if (round == ROUND_EXEC) {
      const char *k = exec_kind(i);
      uint8_t oc = S->outcome[i];
      /* Any exec task may also time out: the timeout counts from the
       * hand-over, and a freshly started worker may still be starting up
       * (slowly, on a loaded machine or under a sanitizer). */
      bool ok = oc == FERRY_POOL_TIMEDOUT ||
                (strcmp(k, "exit") == 0    ? oc == FERRY_POOL_DIED
                 : strcmp(k, "close") == 0 ? oc == FERRY_POOL_PROTOCOL || oc == FERRY_POOL_DIED
                 : strcmp(k, "bad") == 0   ? oc == FERRY_POOL_PROTOCOL || oc == FERRY_POOL_DIED
                 : strcmp(k, "slow") == 0  ? oc == FERRY_POOL_DIED
                                           : oc == FERRY_POOL_DONE || oc == FERRY_POOL_DIED);
      if (strcmp(k, "ok") == 0 && oc == FERRY_POOL_TIMEDOUT)
        S->ok_timedout++;
      if (!ok) {
        printf("  task %u (%s): outcome %s, runs %u\n", i, k, ferry_pool_outcome_name(oc),
               (unsigned)S->runs[i]);
        CHECK(ok);
      }
    }
  }
  for (uint32_t i = sub; i < n && i < MAXT; i++)
    CHECK_EQ(S->results[i], 0);
  if (round == ROUND_EXEC) /* the well-behaved tasks mostly just work */
    CHECK(S->ok_timedout * 10 < sub);
  CHECK_EQ(bad_once, 0);
  CHECK_EQ(bad_runs, 0);
  CHECK_EQ(S->unexpected, 0);
  CHECK_EQ(S->leftover, 0);
  CHECK_EQ(S->zombies, 0);
  /* and from out here: nothing of the group survived the owner */
  int z = 0;
  if (S->pgid > 0) {
    CHECK_EQ(count_leftovers(S->pgid, &z), 0);
  }
  printf("  submitted %u: done %u, failed %u; kills %u, requeues %u\n", sub, done, failed,
         (unsigned)S->nkills, (unsigned)S->nreq);
}

/* Death-to-requeue latencies of this round, added to lat[]. */
static size_t collect_latency(int64_t *lat, size_t have, size_t cap)
{
  uint32_t nk = S->nkills < MAXK ? S->nkills : MAXK, nr = S->nreq < MAXK ? S->nreq : MAXK;
  for (uint32_t i = 0; i < nk && have < cap; i++) {
    int64_t best = -1;
    for (uint32_t j = 0; j < nr; j++)
      if (S->req[j].pid == S->kills[i].pid && S->req[j].t >= S->kills[i].t) {
        int64_t d = S->req[j].t - S->kills[i].t;
        if (best < 0 || d < best)
          best = d;
      }
    if (best >= 0)
      lat[have++] = best;
  }
  return have;
}

static int64_t lat[64 * MAXK];
static size_t nlat;

static void run_round(int round, uint32_t n, uint32_t min_kills, uint64_t seed)
{
  char name[64];
  ft_name(name, sizeof name, "chaos");
  reset_shm();
  int64_t t0 = ft_ms();
  pid_t c = ft_fork();
  if (c == 0) {
    owner(name, round, n, seed);
    _exit(99);
  }
  uint64_t rs = seed * 7919 + 1;
  uint32_t kills = 0, sigs = 0;
  int64_t sig_at = round == ROUND_SIGNAL ? (int64_t)(ft_rand(&rs) % 400) : -1;
  bool second = round == ROUND_SIGNAL && (seed & 2);
  int status = -1;
  for (;;) {
    pid_t w = waitpid(c, &status, WNOHANG);
    if (w == c)
      break;
    int64_t el = ft_ms() - t0;
    if (el > 150000) {
      kill(c, SIGKILL);
      waitpid(c, &status, 0);
      CHECK(!"owner hung");
      break;
    }
    /* enough kills to prove the point, spread over the run; more only
     * slow it down (every kill costs a respawn) */
    uint32_t cap = round == ROUND_SIGNAL ? 20 : min_kills + min_kills / 2;
    if (kills < cap)
      kills += (uint32_t)kill_busy(name, &rs);
    if (!S->ready) { /* no signal before the owner can take it */
      usleep_ns(FERRY_MSEC);
      continue;
    }
    if (sig_at >= 0 && el >= sig_at && sigs == 0) {
      kill(c, SIGINT);
      sigs++;
    } else if (second && sigs == 1 && el >= sig_at + 1 + (int64_t)(seed % 20)) {
      kill(c, SIGINT);
      sigs++;
    }
    usleep_ns((round == ROUND_EXEC ? 20 : 8) * FERRY_MSEC);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    printf("  owner status: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  check_round(round, n, round != ROUND_SIGNAL);
  if (round != ROUND_SIGNAL)
    CHECK(kills >= min_kills);
  nlat = collect_latency(lat, nlat, sizeof lat / sizeof lat[0]);
  printf("  round %s: %u tasks, %u kills, %u signals, %.1f s\n",
         round == ROUND_FUNC ? "function" : round == ROUND_EXEC ? "exec" : "signal", n, kills,
         sigs, (double)(ft_ms() - t0) / 1000.0);
  /* only if the owner died without closing (a failure above): its stats
   * region, and the pipes of workers that had not attached yet */
  ferry_region_gc(name, 0, NULL);
  for (int i = 0; i < 4; i++)
    for (int g = 1; g < 4; g++) {
      char pn[128];
      snprintf(pn, sizeof pn, "%s.w%d.%d", name, i, g);
      ferry_region_gc(pn, 0, NULL);
    }
}

static void print_latency(void)
{
  if (!nlat) {
    printf("  death-to-requeue: no samples\n");
    return;
  }
  qsort(lat, nlat, sizeof lat[0], cmp64);
  printf("  death-to-requeue latency over %zu kills: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
         "(goal p99 <= 50 ms)\n",
         nlat, (double)lat[nlat / 2] / 1e6, (double)lat[(nlat * 99) / 100] / 1e6,
         (double)lat[nlat - 1] / 1e6);
}

static char shm_name[64];

static void test_chaos_quick(void)
{
  run_round(ROUND_FUNC, 10000, 100, 0x5);
  run_round(ROUND_EXEC, 2000, 30, 0x2);
  for (uint64_t s = 0; s < 6; s++)
    run_round(ROUND_SIGNAL, 3000, 0, 0x10 + s * 5);
  print_latency();
}

static void test_chaos_long(void)
{
  double secs = ft_stress_seconds(0);
  int64_t end = ft_ms() + (int64_t)(secs * 1000);
  uint64_t seed = 100;
  nlat = 0;
  while (ft_ms() < end) {
    run_round(ROUND_FUNC, 50000, 200, seed++);
    run_round(ROUND_EXEC, 5000, 50, seed++);
    run_round(ROUND_SIGNAL, 20000, 0, seed++);
  }
  print_latency();
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return exec_worker();
  ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (k <= 0)
    return 1;
  self_exe[k] = '\0';
  ft_name(shm_name, sizeof shm_name, "chaosmem");
  ferry_region *r;
  if (ferry_region_create(shm_name, sizeof(struct shm), NULL, &r))
    return 1;
  S = ferry_region_data(r);
  ferry_region_info info;
  ferry_region_info_get(r, &info);
  shm_off = (long)(info.total_size - info.object_size);
  snprintf(shm_path, sizeof shm_path, "/dev/shm/ferry.%s", shm_name);
  RUN(test_chaos_quick);
  if (ft_stress_seconds(0) > 0) /* the long tier */
    RUN(test_chaos_long);
  ferry_region_close(r);
  ferry_unlink(shm_name);
  return ft_done();
}
