/* SPDX-License-Identifier: MIT */
/*
 * test_pool.c: the process pool (ferry/pool.h), option by option and error
 * path by error path, across real processes: function workers that crash,
 * hang, hog memory or print; exec workers (this binary run again with
 * --lines or --frames) that break the protocol in every way; per-task
 * commands; stops, signals, the owner's death, the stats region.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/pool.h"
#include "fixtures.h"
#include "test.h"

static char self_exe[4096];

/* Shared with every worker: mapped before any pool is created, so the
 * fork servers (and so the workers) share it. */
struct shared {
  _Atomic uint32_t runs[4096];
  _Atomic uint32_t out_lines;
  _Atomic int32_t lingerer; /* the worker whose main thread ended */
};
static struct shared *sh;

static void msleep(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

static void *volatile hog_keep;

static void *linger(void *arg)
{
  (void)arg;
  for (;;)
    pause();
  return NULL;
}

/* ---- the function workers' task function ---------------------------------------- */

static ssize_t task_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  char t[256];
  size_t n = len < sizeof t - 1 ? len : sizeof t - 1;
  memcpy(t, task, n);
  t[n] = '\0';
  unsigned id = 0;
  if (sscanf(t, "%*[^:]:%u", &id) == 1 && id < 4096)
    atomic_fetch_add(&sh->runs[id], 1);
  if (strncmp(t, "echo:", 5) == 0) {
    memcpy(out, t + 5, n - 5);
    return (ssize_t)(n - 5);
  }
  if (strncmp(t, "sleep:", 6) == 0) {
    msleep(atoi(t + 6));
    return snprintf(out, cap, "slept %d", getpid());
  }
  if (strncmp(t, "kill1:", 6) == 0) { /* dies on its first run only */
    if (atomic_load(&sh->runs[id]) == 1)
      raise(SIGKILL);
    return snprintf(out, cap, "survived");
  }
  if (strncmp(t, "mainexit:", 9) == 0) { /* on its first run, only the main thread ends */
    pthread_t th;
    if (atomic_load(&sh->runs[id]) == 1 && pthread_create(&th, NULL, linger, NULL) == 0) {
      atomic_store(&sh->lingerer, getpid());
      syscall(SYS_exit, 0);
    }
    return snprintf(out, cap, "survived");
  }
  if (strcmp(t, "scribble") == 0) { /* garbage over all the shared memory it can reach */
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int hit = 0;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    while (f && fgets(line, sizeof line, f)) {
      unsigned long lo, hi;
      char perms[8];
      /* a MAP_SHARED anonymous mapping of two pages or more, but the
       * test's own bookkeeping */
      if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strcmp(perms, "rw-s") == 0 &&
          strstr(line, "/dev/zero") && hi - lo >= 2 * pg &&
          !((uintptr_t)sh >= lo && (uintptr_t)sh < hi)) {
        memset((void *)lo, 0xff, hi - lo);
        hit++;
      }
    }
    if (f)
      fclose(f);
    return snprintf(out, cap, "%d", hit);
  }
  if (strncmp(t, "die:", 4) == 0)
    raise(SIGKILL);
  if (strncmp(t, "exit3:", 6) == 0)
    _exit(3);
  if (strcmp(t, "err") == 0)
    return -EIO;
  if (strcmp(t, "big") == 0)
    return (ssize_t)cap + 1;
  if (strncmp(t, "hog:", 4) == 0) {
    size_t mb = (size_t)atoi(t + 4) << 20;
    char *m = malloc(mb);
    if (m)
      memset(m, 1, mb);
    hog_keep = m; /* kept: the worker's RSS stays up */
    return snprintf(out, cap, "%d", getpid());
  }
  if (strcmp(t, "print") == 0) {
    printf("hello from stdout\n");
    fflush(stdout);
    fprintf(stderr, "hello from stderr\n");
    return snprintf(out, cap, "printed");
  }
  if (strncmp(t, "ignterm:", 8) == 0) {
    signal(SIGTERM, SIG_IGN);
    msleep(atoi(t + 8));
    return 0;
  }
  if (strcmp(t, "pid") == 0)
    return snprintf(out, cap, "%d", getpid());
  return 0;
}

/* ---- exec workers: this binary with --lines or --frames --------------------------- */

static int worker_lines(void)
{
  char line[1 << 17];
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, "exit") == 0)
      exit(0);
    if (strcmp(line, "kill") == 0)
      raise(SIGKILL);
    if (strcmp(line, "close") == 0) {
      fclose(stdout);
      msleep(3000);
      exit(0);
    }
    if (strcmp(line, "flood") == 0) {
      static char junk[1 << 20];
      memset(junk, 'x', sizeof junk);
      for (size_t i = 0; i < sizeof junk; i += 100)
        junk[i] = '\n';
      fwrite(junk, 1, sizeof junk, stderr);
    }
    if (strcmp(line, "big") == 0) {
      for (int i = 0; i < 70000; i++)
        putchar('b');
    }
    if (strcmp(line, "unasked") == 0)
      printf("one\n");
    if (strncmp(line, "sleep:", 6) == 0)
      msleep(atoi(line + 6));
    if (strcmp(line, "env") == 0) {
      const char *s = getenv("FERRY_POOL_SLOT"), *x = getenv("POOLTEST");
      printf("%s,%s\n", s ? s : "-", x ? x : "-");
    } else
      printf("%s\n", line);
    fflush(stdout);
  }
  return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
  char *b = buf;
  while (len) {
    ssize_t n = read(fd, b, len);
    if (n <= 0)
      return -1;
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

static int worker_frames(void)
{
  static char buf[1 << 17];
  for (;;) {
    uint8_t h[4];
    if (read_full(0, h, 4))
      return 0;
    uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                   (uint32_t)h[3] << 24;
    if (len > sizeof buf || read_full(0, buf, len))
      return 1;
    uint32_t out = len;
    if (len == 3 && memcmp(buf, "err", 3) == 0)
      out |= UINT32_C(0x80000000);
    if (len == 3 && memcmp(buf, "big", 3) == 0)
      out = 1u << 20;
    uint8_t o[4] = {(uint8_t)out, (uint8_t)(out >> 8), (uint8_t)(out >> 16), (uint8_t)(out >> 24)};
    if (write(1, o, 4) != 4 || write(1, buf, len) != (ssize_t)len)
      return 1;
  }
}

/* ---- helpers ------------------------------------------------------------------------ */

static void opts(ferry_pool_options *o, uint32_t workers)
{
  ferry_pool_options_init(o);
  o->workers = workers;
  o->fn = task_fn;
  o->grace_ns = 300 * FERRY_MSEC;
  o->backoff_ns = FERRY_MSEC;
  o->backoff_max_ns = 20 * FERRY_MSEC;
}

struct rec {
  int seen;
  uint32_t outcome, attempts;
  int error, exit_code, sig;
  pid_t pid;
  char data[128];
  char msg[200];
};

/* Submits tasks[0..n), stops (drain) and takes every result into rec[id].
 * Returns the order of ids as they came, in order[] (may be NULL). */
static int run_all(ferry_pool *p, const char *const *tasks, size_t n, struct rec *rec,
                   uint64_t *order)
{
  size_t sub = 0, got = 0;
  int64_t t0 = ft_ms();
  while (ft_ms() - t0 < 30000) {
    while (sub < n) {
      int rc = ferry_pool_submit(p, tasks[sub], strlen(tasks[sub]), NULL, 0, NULL);
      if (rc == -EAGAIN)
        break;
      CHECK_OK(rc);
      sub++;
    }
    if (sub == n)
      ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
    ferry_pool_result r;
    int rc = ferry_pool_next(p, &r, 20 * FERRY_MSEC);
    if (rc == -EPIPE)
      break;
    if (rc == -ETIMEDOUT)
      continue;
    CHECK_OK(rc);
    if (rc || r.id >= n)
      continue;
    struct rec *x = &rec[r.id];
    x->seen++;
    x->outcome = r.outcome;
    x->attempts = r.attempts;
    x->error = r.error;
    x->exit_code = r.exit_code;
    x->sig = r.signal;
    x->pid = r.pid;
    snprintf(x->data, sizeof x->data, "%.*s", (int)(r.len < 127 ? r.len : 127),
             r.data ? (const char *)r.data : "");
    snprintf(x->msg, sizeof x->msg, "%s", r.message);
    if (order)
      order[got] = r.id;
    got++;
  }
  CHECK_EQ(got, n);
  return (int)got;
}

/* Processes whose parent is us, and members of group pgid (if > 0). */
static int count_procs(pid_t pgid, int *zombies)
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
      if (st == 'Z')
        (*zombies)++;
    }
  }
  closedir(d);
  return n;
}

static void check_no_leftovers(pid_t pgid)
{
  int z = 0, n = -1;
  for (int i = 0; i < 200; i++) { /* the kernel may lag a moment */
    n = count_procs(pgid, &z);
    if (n == 0)
      break;
    msleep(10);
  }
  CHECK_EQ(n, 0);
  CHECK_EQ(z, 0);
}

static ferry_pool *make(ferry_pool_options *o, char *name, size_t cap)
{
  ft_name(name, cap, "pool");
  ferry_pool *p = NULL;
  int rc = ferry_pool_create(name, o, &p);
  CHECK_OK(rc);
  return rc ? NULL : p;
}

/* ---- options and input ------------------------------------------------------------ */

static void test_bad_options(void)
{
  char name[64];
  ft_name(name, sizeof name, "pool");
  ferry_pool *p = (ferry_pool *)0x1;
  ferry_pool_options o;
  const char *argv[] = {"cat", NULL};
#define BAD(field, value)                                                                      \
  do {                                                                                         \
    opts(&o, 1);                                                                               \
    o.field = value;                                                                           \
    CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);                                        \
  } while (0)
  BAD(kind, 3);
  BAD(framing, 2);
  BAD(flags, 1u << 7);
  BAD(prefetch, 2);
  BAD(fn, NULL);
  BAD(workers, FERRY_POOL_MAX_WORKERS + 1);
  BAD(queue_size, 0);
  BAD(queue_size, FERRY_POOL_MAX_QUEUE + 1);
  BAD(max_msg, 0);
  BAD(max_msg, FERRY_POOL_MAX_MSG + 1);
  BAD(task_timeout_ns, -1);
  BAD(grace_ns, -1);
  BAD(backoff_ns, -1);
  BAD(backoff_max_ns, 0);
  BAD(breaker_deaths, 0);
  BAD(breaker_cooldown_ns, -5);
  BAD(spin_ns, 2 * FERRY_SEC);
  BAD(spares, FERRY_POOL_MAX_SPARES + 1);
  opts(&o, 4);
  o.window = 3; /* below workers */
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  opts(&o, 1);
  o.kind = FERRY_POOL_EXEC; /* no argv */
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  const char *empty[] = {NULL};
  o.argv = empty;
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  o.kind = FERRY_POOL_EXEC_EACH;
  o.argv = argv;
  o.prefetch = 1;
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  o.prefetch = 0;
  o.spares = 1;
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  opts(&o, 1);
  CHECK_RC(ferry_pool_create("bad/name", &o, &p), -EINVAL);
  char longname[FERRY_POOL_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  CHECK_RC(ferry_pool_create(longname, &o, &p), -EINVAL);
  CHECK(p == (ferry_pool *)0x1); /* untouched on error */
  /* a name in use */
  ferry_pool *a = make(&o, name, sizeof name);
  REQUIRE(a);
  CHECK_RC(ferry_pool_create(name, &o, &p), -EEXIST);
  ferry_pool_close(a);
  CHECK_RC(ferry_unlink(name), -ENOENT); /* close removed the stats region */
  /* defaults: NULL name, workers = CPUs */
  opts(&o, 0);
  REQUIRE_OK(ferry_pool_create(NULL, &o, &a));
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(a, &s));
  CHECK(s.workers >= 1 && s.workers <= FERRY_POOL_DEFAULT_MAX_WORKERS);
  CHECK(strncmp(ferry_pool_name(a), "pool-", 5) == 0);
  ferry_pool_close(a);
  ferry_pool_close(NULL);
#undef BAD
}

static void test_bad_submit(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.max_msg = 16;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  char big[17] = {0};
  CHECK_RC(ferry_pool_submit(p, big, sizeof big, NULL, 0, NULL), -EMSGSIZE);
  CHECK_RC(ferry_pool_submit(p, "x", 1, NULL, -1, NULL), -EINVAL);
  ferry_pool_result r;
  CHECK_RC(ferry_pool_next(p, &r, -2), -EINVAL);
  CHECK_RC(ferry_pool_next(p, &r, 0), -EAGAIN);
  CHECK_RC(ferry_pool_next(p, &r, 10 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT, -1), -EINVAL);
  CHECK_RC(ferry_pool_stop(p, 7, 0), -EINVAL);
  CHECK_RC(ferry_pool_stop(p, FERRY_POOL_DRAIN, -1), -EINVAL);
  CHECK_OK(ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER));
  CHECK_RC(ferry_pool_submit(p, "x", 1, NULL, 0, NULL), -EPIPE);
  CHECK_RC(ferry_pool_next(p, &r, FERRY_SEC), -EPIPE);
  CHECK_EQ(ferry_pool_wait(p, 0, 0), FERRY_POOL_ENDED);
  ferry_pool_close(p);
  /* lines: no newline inside a task; each: no NUL */
  const char *cat[] = {"cat", NULL};
  opts(&o, 1);
  o.kind = FERRY_POOL_EXEC;
  o.argv = cat;
  REQUIRE((p = make(&o, name, sizeof name)));
  CHECK_RC(ferry_pool_submit(p, "a\nb", 3, NULL, 0, NULL), -EINVAL);
  ferry_pool_close(p);
  o.kind = FERRY_POOL_EXEC_EACH;
  REQUIRE((p = make(&o, name, sizeof name)));
  CHECK_RC(ferry_pool_submit(p, "a\0b", 3, NULL, 0, NULL), -EINVAL);
  ferry_pool_close(p);
}

/* ---- function workers ---------------------------------------------------------------- */

static void test_function_ordered(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 3);
  o.flags = FERRY_POOL_ORDERED;
  o.window = 8;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 300 };
  static char buf[N][32];
  const char *tasks[N];
  for (int i = 0; i < N; i++) {
    /* uneven durations so completion order differs from submit order */
    if (i % 7 == 0)
      snprintf(buf[i], sizeof buf[i], "sleep:%d", 1 + i % 5);
    else
      snprintf(buf[i], sizeof buf[i], "echo:v%d", i);
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  static uint64_t order[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, order);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(order[i], i);
    CHECK_EQ(rec[i].seen, 1);
    CHECK_EQ(rec[i].outcome, FERRY_POOL_DONE);
    CHECK_EQ(rec[i].attempts, 1);
    if (i % 7)
      CHECK(strcmp(rec[i].data, buf[i] + 5) == 0);
  }
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.submitted, N);
  CHECK_EQ(s.done, N);
  CHECK_EQ(s.failed, 0);
  CHECK_EQ(s.state, FERRY_POOL_STOPPED);
  pid_t g = ferry_pool_pgid(p);
  CHECK(g > 0);
  ferry_pool_close(p);
  check_no_leftovers(g);
}

static void test_completion_order_and_idle_only(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 40 };
  static char buf[N][32];
  const char *tasks[N];
  snprintf(buf[0], sizeof buf[0], "sleep:400");
  tasks[0] = buf[0];
  for (int i = 1; i < N; i++) {
    snprintf(buf[i], sizeof buf[i], "sleep:2");
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  uint64_t order[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, order);
  /* the long task comes last: nothing waited behind it (head of line) */
  CHECK_EQ(order[N - 1], 0);
  /* and no short task was queued behind it on its worker */
  for (int i = 1; i < N; i++)
    CHECK(rec[i].pid != rec[0].pid);
  ferry_pool_close(p);
}

static void test_prefetch(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.prefetch = 1;
  o.window = 3; /* below workers * 2 */
  ferry_pool *p = NULL;
  ft_name(name, sizeof name, "pool");
  CHECK_RC(ferry_pool_create(name, &o, &p), -EINVAL);
  o.window = 0;
  o.flags = FERRY_POOL_ORDERED;
  REQUIRE((p = make(&o, name, sizeof name)));
  enum { N = 500 };
  static char buf[N][32];
  const char *tasks[N];
  for (int i = 0; i < N; i++) {
    snprintf(buf[i], sizeof buf[i], "echo:%d", i * 3);
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, NULL);
  for (int i = 0; i < N; i++) {
    if (rec[i].outcome != FERRY_POOL_DONE)
      printf("  task %d: %s: %s\n", i, ferry_pool_outcome_name(rec[i].outcome), rec[i].msg);
    CHECK_EQ(rec[i].outcome, FERRY_POOL_DONE);
    CHECK_EQ(atoi(rec[i].data), i * 3);
  }
  ferry_pool_close(p);
}

/* The caller does the dispatcher's work while it is inside a call, and the
 * workers then leave the dispatcher's doorbell alone; once the caller is
 * out, the doorbell must ring again, or tasks would wait for the caller's
 * next call. Here the caller submits and then stays away: every task must
 * still be done, one after the other on two workers, with nobody calling
 * next(). */
static void test_progress_without_caller(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.queue_size = 64;
  o.window = 64;
  o.flags = FERRY_POOL_ORDERED;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 40 };
  ferry_pool_stats s;
  /* both workers up, so the submits below give them tasks themselves */
  FT_WAIT_UNTIL(ferry_pool_stats_get(p, &s) == 0 && s.idle == 2, 5000);
  for (int i = 0; i < N; i++)
    CHECK_OK(ferry_pool_submit(p, "sleep:1", 7, NULL, FERRY_SEC, NULL));
  FT_WAIT_UNTIL(ferry_pool_stats_get(p, &s) == 0 && s.done == N, 5000);
  CHECK_EQ(s.done, N);
  CHECK_EQ(s.unread, N);
  for (int i = 0; i < N; i++) {
    ferry_pool_result r;
    CHECK_OK(ferry_pool_next(p, &r, 0));
    CHECK_EQ(r.id, (uint64_t)i);
    CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  }
  ferry_pool_close(p);
}

static void test_backpressure_and_window(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.queue_size = 4;
  o.window = 2;
  o.flags = FERRY_POOL_ORDERED;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  int accepted = 0, rc = 0;
  for (int i = 0; i < 20 && !rc; i++) {
    rc = ferry_pool_submit(p, "echo:x", 6, NULL, 0, NULL);
    if (!rc)
      accepted++;
    else
      CHECK_RC(rc, -EAGAIN);
    msleep(20); /* let the dispatcher take what it may */
  }
  /* nothing is read: window (2) admitted + queue_size (4) buffered */
  CHECK_EQ(accepted, 6);
  CHECK_RC(ferry_pool_submit(p, "echo:x", 6, NULL, 30 * FERRY_MSEC, NULL), -ETIMEDOUT);
  CHECK_EQ(ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT, 20 * FERRY_MSEC), 0);
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.queued, 4);
  CHECK_EQ(s.unread, 2);
  CHECK_EQ(ferry_pool_wait(p, FERRY_POOL_HAS_RESULT, FERRY_SEC), FERRY_POOL_HAS_RESULT);
  ferry_pool_result r;
  CHECK_OK(ferry_pool_next(p, &r, FERRY_SEC));
  CHECK_EQ(r.id, 0);
  /* one result taken: one more may be admitted, so the buffer has room */
  CHECK(ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT, FERRY_SEC) & FERRY_POOL_CAN_SUBMIT);
  ferry_pool_close(p); /* drops what was not taken */
}

static void test_retry_after_death(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.retries = 2;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 30 };
  static char buf[N][32];
  const char *tasks[N];
  for (int i = 0; i < N; i++) {
    atomic_store(&sh->runs[100 + i], 0);
    snprintf(buf[i], sizeof buf[i], i % 3 ? "echo:ok:%d" : "kill1:%d", 100 + i);
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, NULL);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(rec[i].seen, 1);
    CHECK_EQ(rec[i].outcome, FERRY_POOL_DONE);
    if (i % 3 == 0) {
      CHECK_EQ(rec[i].attempts, 2);
      CHECK_EQ(atomic_load(&sh->runs[100 + i]), 2);
      CHECK(strcmp(rec[i].data, "survived") == 0);
    }
  }
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.retried, 10);
  CHECK_EQ(s.deaths, 10);
  /* Every death is replaced while there is work; the last replacement may
   * start after the last result came back. A slot that died twice in a row
   * waits out a backoff, and a drain that ends meanwhile leaves it empty
   * (a stopped pool starts nothing): at most one such slot per worker. */
  FT_WAIT_UNTIL(ferry_pool_stats_get(p, &s) == 0 && s.respawned >= 10 - o.workers, 1000);
  CHECK(s.respawned <= 10);
  ferry_pool_close(p);
}

/* A worker whose main thread ends while another of its threads runs on
 * neither closes its doorbell nor turns its pidfd readable: only its life
 * lock tells the pool [pool-life]. Its task is retried, and what was left
 * of it is killed. */
static void test_main_thread_exits(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.retries = 1;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  atomic_store(&sh->runs[300], 0);
  atomic_store(&sh->lingerer, 0);
  CHECK_OK(ferry_pool_submit(p, "mainexit:300", 12, NULL, FERRY_SEC, NULL));
  ferry_pool_result r;
  CHECK_OK(ferry_pool_next(p, &r, 10 * FERRY_SEC));
  CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  CHECK_EQ(r.attempts, 2);
  CHECK(r.len == 8 && memcmp(r.data, "survived", 8) == 0);
  CHECK_EQ(atomic_load(&sh->runs[300]), 2);
  pid_t left = atomic_load(&sh->lingerer);
  CHECK(left > 0);
  FT_WAIT_UNTIL(kill(left, 0) == -1 && errno == ESRCH, 1000);
  ferry_pool_close(p);
}

static void test_retries_exhausted_and_task_errors(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.retries = 1;
  o.breaker_deaths = 100;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  atomic_store(&sh->runs[200], 0);
  atomic_store(&sh->runs[201], 0);
  const char *tasks[] = {"die:200", "exit3:201", "err", "big", "echo:fine"};
  struct rec rec[5];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, 5, rec, NULL);
  CHECK_EQ(rec[0].outcome, FERRY_POOL_DIED);
  CHECK_EQ(rec[0].attempts, 2);
  CHECK_EQ(atomic_load(&sh->runs[200]), 2);
  CHECK_EQ(rec[0].sig, SIGKILL);
  CHECK_EQ(rec[0].error, -ECHILD);
  CHECK(rec[0].pid > 0);
  CHECK(strstr(rec[0].msg, "possibly out of memory") != NULL);
  CHECK(strstr(rec[0].msg, "2 attempts") != NULL);
  CHECK_EQ(rec[1].outcome, FERRY_POOL_DIED);
  CHECK_EQ(rec[1].exit_code, 3);
  CHECK_EQ(atomic_load(&sh->runs[201]), 2);
  CHECK(strstr(rec[1].msg, "exited with status 3") != NULL);
  CHECK_EQ(rec[2].outcome, FERRY_POOL_FAILED);
  CHECK_EQ(rec[2].error, -EIO);
  CHECK_EQ(rec[2].attempts, 1); /* the task's own failure is not retried */
  CHECK_EQ(rec[3].outcome, FERRY_POOL_PROTOCOL);
  CHECK_EQ(rec[3].error, -EMSGSIZE);
  CHECK_EQ(rec[4].outcome, FERRY_POOL_DONE);
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.done, 1);
  CHECK_EQ(s.failed, 4);
  ferry_pool_close(p);
}

static void test_timeout(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.task_timeout_ns = 150 * FERRY_MSEC;
  o.grace_ns = 100 * FERRY_MSEC;
  o.retries = 1;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  const char *tasks[] = {"sleep:5000", "ignterm:5000", "sleep:1"};
  struct rec rec[3];
  memset(rec, 0, sizeof rec);
  int64_t t0 = ft_ms();
  run_all(p, tasks, 3, rec, NULL);
  int64_t took = ft_ms() - t0;
  CHECK_EQ(rec[0].outcome, FERRY_POOL_TIMEDOUT);
  CHECK_EQ(rec[0].error, -ETIMEDOUT);
  CHECK_EQ(rec[0].attempts, 2);
  CHECK_EQ(rec[0].sig, SIGTERM);
  CHECK_EQ(rec[1].outcome, FERRY_POOL_TIMEDOUT);
  CHECK_EQ(rec[1].sig, SIGKILL); /* ignored SIGTERM: killed after grace */
  CHECK_EQ(rec[2].outcome, FERRY_POOL_DONE);
  CHECK(took < 3000);
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.timeouts, 4);
  ferry_pool_close(p);
}

static int distinct_pids(const struct rec *rec, int n)
{
  int k = 0;
  for (int i = 0; i < n; i++) {
    bool seen = false;
    for (int j = 0; j < i && !seen; j++)
      seen = rec[j].pid == rec[i].pid;
    k += !seen;
  }
  return k;
}

static void test_max_tasks_and_jitter(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.max_tasks = 5;
  o.max_tasks_jitter = 0;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 30 };
  const char *tasks[N];
  for (int i = 0; i < N; i++)
    tasks[i] = "pid";
  static struct rec rec[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, NULL);
  CHECK_EQ(distinct_pids(rec, N), 6);
  for (int i = 0; i < N; i++)
    CHECK_EQ(atoi(rec[i].data), rec[i].pid);
  ferry_pool_close(p);
  o.max_tasks_jitter = 5; /* 5..10 tasks per worker */
  REQUIRE((p = make(&o, name, sizeof name)));
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, NULL);
  int k = distinct_pids(rec, N);
  CHECK(k >= 3 && k <= 6);
  ferry_pool_close(p);
}

static void test_max_rss(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.max_rss = 40u << 20;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  /* each task leaves 64 MiB behind; the worker is replaced between tasks */
  const char *tasks[] = {"hog:64", "sleep:300", "hog:64", "sleep:300", "pid"};
  struct rec rec[5];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, 5, rec, NULL);
  for (int i = 0; i < 5; i++)
    CHECK_EQ(rec[i].outcome, FERRY_POOL_DONE);
  CHECK(rec[0].pid != rec[4].pid);
  CHECK(rec[2].pid != rec[4].pid);
  CHECK(distinct_pids(rec, 5) >= 3);
  ferry_pool_close(p);
}

struct evlog {
  _Atomic int spawned, exited, requeued, opened, closed, timedout, spawn_failed;
  char last_open[200];
};

static void on_event(void *arg, const ferry_pool_event *ev)
{
  struct evlog *l = arg;
  switch (ev->type) {
  case FERRY_POOL_EV_SPAWNED:
    l->spawned++;
    break;
  case FERRY_POOL_EV_EXITED:
    l->exited++;
    break;
  case FERRY_POOL_EV_REQUEUED:
    l->requeued++;
    break;
  case FERRY_POOL_EV_BREAKER_OPEN:
    l->opened++;
    snprintf(l->last_open, sizeof l->last_open, "%s", ev->message);
    break;
  case FERRY_POOL_EV_BREAKER_CLOSED:
    l->closed++;
    break;
  case FERRY_POOL_EV_TIMEDOUT:
    l->timedout++;
    break;
  case FERRY_POOL_EV_SPAWN_FAILED:
    l->spawn_failed++;
    break;
  }
}

static void test_breaker(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.retries = 1;
  o.breaker_deaths = 4;
  o.breaker_cooldown_ns = 200 * FERRY_MSEC;
  struct evlog ev;
  memset(&ev, 0, sizeof ev);
  o.on_event = on_event;
  o.event_arg = &ev;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 12 };
  static char buf[N][32];
  const char *tasks[N];
  for (int i = 0; i < N; i++) {
    snprintf(buf[i], sizeof buf[i], "die:%d", 300 + i);
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  memset(rec, 0, sizeof rec);
  int64_t t0 = ft_ms();
  run_all(p, tasks, N, rec, NULL);
  int refused = 0;
  for (int i = 0; i < N; i++) {
    CHECK(rec[i].outcome == FERRY_POOL_DIED || rec[i].outcome == FERRY_POOL_REFUSED);
    if (rec[i].outcome == FERRY_POOL_REFUSED) {
      refused++;
      CHECK_EQ(rec[i].error, -EAGAIN);
      CHECK(strstr(rec[i].msg, "workers keep dying") != NULL);
    }
    CHECK(rec[i].attempts <= 2);
  }
  CHECK(refused > 0);
  CHECK(ev.opened >= 1);
  CHECK(ft_ms() - t0 < 10000);
  /* after the cool-down, healthy tasks run again and close the breaker */
  ferry_pool_close(p);
  memset(&ev, 0, sizeof ev);
  REQUIRE((p = make(&o, name, sizeof name)));
  for (int i = 0; i < 6; i++)
    CHECK_OK(ferry_pool_submit(p, "die:399", 7, NULL, FERRY_SEC, NULL));
  ferry_pool_result r;
  for (int i = 0; i < 6; i++)
    CHECK_OK(ferry_pool_next(p, &r, 5 * FERRY_SEC));
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.breaker, FERRY_POOL_BREAKER_OPEN);
  msleep(300);
  CHECK_OK(ferry_pool_submit(p, "echo:back", 9, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_next(p, &r, 5 * FERRY_SEC));
  CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.breaker, FERRY_POOL_BREAKER_CLOSED);
  CHECK(ev.closed >= 1);
  ferry_pool_close(p);
}

/* A result's bytes as a number (results are not NUL-terminated). */
static int result_int(const ferry_pool_result *r)
{
  char b[32];
  snprintf(b, sizeof b, "%.*s", (int)(r->len < 31 ? r->len : 31), r->data ? (const char *)r->data : "");
  return atoi(b);
}

static _Atomic int spawned_n;
static pid_t spawned_pid[16];

static void on_spawn(void *arg, const ferry_pool_event *ev)
{
  (void)arg;
  if (ev->type == FERRY_POOL_EV_SPAWNED) {
    int i = spawned_n++;
    if (i < 16)
      spawned_pid[i] = ev->pid;
  }
}

/* A spare is started beside the worker; when the worker dies, the spare
 * takes its place at once and a new spare is started. */
static void test_spares(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.spares = 1;
  o.on_event = on_spawn;
  spawned_n = 0;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  ferry_pool_result r;
  CHECK_OK(ferry_pool_submit(p, "pid", 3, NULL, FERRY_SEC, NULL));
  REQUIRE(ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0);
  pid_t a = (pid_t)result_int(&r);
  ferry_pool_stats s;
  for (int i = 0; i < 200; i++) { /* both up and attached */
    CHECK_OK(ferry_pool_stats_get(p, &s));
    if (s.live == 2 && s.idle == 2)
      break;
    msleep(5);
  }
  CHECK_EQ(s.live, 2);
  CHECK_EQ(s.idle, 2);
  CHECK_EQ(spawned_n, 2);
  pid_t spare = spawned_pid[0] == a ? spawned_pid[1] : spawned_pid[0];
  CHECK(spare != a && spare > 0);
  kill(a, SIGKILL);
  int64_t t0 = ft_ms();
  CHECK_OK(ferry_pool_submit(p, "pid", 3, NULL, FERRY_SEC, NULL));
  REQUIRE(ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0);
  CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  CHECK_EQ(result_int(&r), spare); /* the spare took over */
  printf("  replaced by the spare and served in %lld ms\n", (long long)(ft_ms() - t0));
  /* The dead worker's teardown was moved out of the way [pool-respawn];
   * the spare that replaced it, and the new spare, keep the scheduling
   * every worker starts with. */
  CHECK_EQ(sched_getscheduler(spare), SCHED_OTHER);
  cpu_set_t mine, its;
  CHECK_OK(sched_getaffinity(0, sizeof mine, &mine));
  CHECK_OK(sched_getaffinity(spare, sizeof its, &its));
  CHECK(CPU_EQUAL(&mine, &its));
  for (int i = 0; i < 200 && spawned_n < 3; i++)
    msleep(5);
  CHECK_EQ(spawned_n, 3); /* a new spare behind it */
  if (spawned_n >= 3) {
    CHECK_EQ(sched_getscheduler(spawned_pid[2]), SCHED_OTHER);
    CHECK_OK(sched_getaffinity(spawned_pid[2], sizeof its, &its));
    CHECK(CPU_EQUAL(&mine, &its));
  }
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.respawned, 1);
  CHECK_EQ(s.deaths, 1);
  ferry_pool_close(p);
}

/* A worker that writes garbage over every shared mapping it has kills no
 * other worker: neither a sibling nor one of another pool. Each worker
 * maps its own life lock only, and a fork server only its own pool's
 * [pool-life]. */
static void test_stray_writes(void)
{
  char name_b[64], name_a[64];
  ferry_pool_options o;
  opts(&o, 1);
  ferry_pool *b = make(&o, name_b, sizeof name_b);
  opts(&o, 2);
  ferry_pool *a = make(&o, name_a, sizeof name_a);
  REQUIRE(a && b);
  ferry_pool_result r;
  CHECK_OK(ferry_pool_submit(b, "pid", 3, NULL, FERRY_SEC, NULL));
  REQUIRE(ferry_pool_next(b, &r, 5 * FERRY_SEC) == 0);
  pid_t pb = (pid_t)result_int(&r);
  ferry_pool_stats s;
  FT_WAIT_UNTIL(ferry_pool_stats_get(a, &s) == 0 && s.idle == 2, 1000);
  /* one worker of a scribbles while the other holds a long task */
  CHECK_OK(ferry_pool_submit(a, "sleep:300", 9, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_submit(a, "scribble", 8, NULL, FERRY_SEC, NULL));
  for (int i = 0; i < 2; i++) {
    REQUIRE(ferry_pool_next(a, &r, 5 * FERRY_SEC) == 0);
    CHECK_EQ(r.outcome, FERRY_POOL_DONE);
    CHECK_EQ(r.attempts, 1);
  }
  /* the watcher looks at every lock at least once a second: a misled one
   * would have acted by now */
  msleep(1200);
  CHECK_OK(ferry_pool_stats_get(a, &s));
  CHECK_EQ(s.deaths, 0);
  CHECK_OK(ferry_pool_stats_get(b, &s));
  CHECK_EQ(s.deaths, 0);
  CHECK_OK(ferry_pool_submit(b, "pid", 3, NULL, FERRY_SEC, NULL));
  REQUIRE(ferry_pool_next(b, &r, 5 * FERRY_SEC) == 0);
  CHECK_EQ(result_int(&r), pb);
  ferry_pool_close(a);
  ferry_pool_close(b);
}

/* The statistics region is written by the owner alone, but any process
 * that can open it can scribble on it (a worker has it mapped, inherited
 * from the owner): the owner must go on publishing within its own rows,
 * and observers must call it corrupt, not crash. */
static void test_stats_scribbled(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  ferry_pool_result r;
  CHECK_OK(ferry_pool_submit(p, "pid", 3, NULL, FERRY_SEC, NULL));
  REQUIRE(ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0);
  pid_t c = fork();
  REQUIRE(c >= 0);
  if (c == 0) {
    ferry_open_options oo;
    ferry_open_options_init(&oo);
    oo.role = FERRY_ROLE_WRITER;
    ferry_region *reg;
    if (ferry_region_open(name, FERRY_KIND_POOL, &oo, &reg) != 0)
      _exit(1);
    memset(ferry_region_data(reg), 0xff, ferry_region_data_size(reg)); /* offsets too */
    ferry_region_close(reg);
    _exit(0);
  }
  int st;
  REQUIRE(waitpid(c, &st, 0) == c);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* the dispatcher publishes after each pass */
  for (int i = 0; i < 20; i++) {
    CHECK_OK(ferry_pool_submit(p, "pid", 3, NULL, FERRY_SEC, NULL));
    REQUIRE(ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0);
    CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  }
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.done, 21);
  ferry_pool_worker_info w[2];
  CHECK_EQ(ferry_pool_stat(name, &s, w, 2), FERRY_ECORRUPT);
  ferry_pool_close(p);
}

/* With the owner out of descriptors, a worker the fork server started
 * reaches it without all its descriptors (some, or none at all), and the
 * pool cannot watch it: it must end it, through the pidfd if that came,
 * else through the fork server. It used to leave it running its task
 * unwatched, one more copy with each retry, until the pool closed. */
static void spawn_without_descriptors(bool none)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  const char *argv[] = {"sleep", NULL};
  o.kind = FERRY_POOL_EXEC_EACH;
  o.argv = argv;
  o.breaker_deaths = 3; /* then no more spawns: the count below is final */
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  pid_t g = ferry_pool_pgid(p);
  REQUIRE(g > 0);
  int used = 0;
  DIR *d = opendir("/proc/self/fd");
  REQUIRE(d);
  while (readdir(d))
    used++;
  closedir(d);
  used -= 3; /* ".", ".." and the directory's own descriptor */
  struct rlimit old, low;
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  /* at the count in use, the pidfd still arrives now and then as others
   * close; at 3 no descriptor can be received at all */
  low = (struct rlimit){none ? 3 : (rlim_t)used, old.rlim_max};
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  uint64_t id;
  CHECK_OK(ferry_pool_submit(p, "30", 2, NULL, FERRY_SEC, &id));
  ferry_pool_stats s;
  FT_WAIT_UNTIL(ferry_pool_stats_get(p, &s) == 0 && s.breaker == FERRY_POOL_BREAKER_OPEN, 1000);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
  /* only the fork server is left in the group (the ended ones may still
   * be zombies for a moment) */
  int z = 0, n = -1;
  for (int i = 0; i < 200 && n - z != 1; i++) {
    n = count_procs(g, &z);
    if (n - z != 1)
      msleep(10);
  }
  CHECK_EQ(n - z, 1);
  ferry_pool_result r;
  REQUIRE(ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0);
  CHECK_EQ(r.outcome, FERRY_POOL_REFUSED);
  ferry_pool_close(p);
}

static void test_spawn_without_descriptors(void)
{
  spawn_without_descriptors(false);
  spawn_without_descriptors(true);
}

static void test_events_and_output(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  struct evlog ev;
  memset(&ev, 0, sizeof ev);
  o.on_event = on_event;
  o.event_arg = &ev;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  atomic_store(&sh->runs[500], 0);
  const char *tasks[] = {"print", "kill1:500"};
  struct rec rec[2];
  memset(rec, 0, sizeof rec);
  /* output goes to the owner's stderr by default, tagged: just no crash */
  run_all(p, tasks, 2, rec, NULL);
  CHECK_EQ(rec[0].outcome, FERRY_POOL_DONE);
  CHECK_EQ(rec[1].outcome, FERRY_POOL_DONE);
  CHECK(ev.spawned >= 2);
  CHECK_EQ(ev.requeued, 1);
  ferry_pool_close(p);
  CHECK(ev.exited >= 2);
}

struct outlog {
  _Atomic int lines, mine;
  _Atomic long bytes;
  pid_t pids[4];
};

static void on_output(void *arg, uint32_t slot, pid_t pid, const char *line, size_t len)
{
  struct outlog *l = arg;
  l->lines++;
  l->bytes += (long)len;
  if (slot < 4 && pid > 0 && len >= 10 && memcmp(line, "hello from", 10) == 0)
    l->mine++;
}

static void test_output_callback(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  struct outlog l;
  memset(&l, 0, sizeof l);
  o.on_output = on_output;
  o.output_arg = &l;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  const char *tasks[] = {"print", "print", "print"};
  struct rec rec[3];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, 3, rec, NULL);
  ferry_pool_close(p); /* every output line has been handed over by now */
  CHECK_EQ(l.mine, 6);
}

/* ---- exec workers ----------------------------------------------------------------------- */

static void exec_opts(ferry_pool_options *o, uint32_t workers, const char **argv)
{
  opts(o, workers);
  o->kind = FERRY_POOL_EXEC;
  o->argv = argv;
}

static void test_exec_lines(void)
{
  char name[64];
  const char *argv[] = {self_exe, "--lines", NULL};
  ferry_pool_options o;
  exec_opts(&o, 3, argv);
  o.flags = FERRY_POOL_ORDERED;
  const char *envp[] = {"POOLTEST=yes", "PATH=/usr/bin:/bin", NULL};
  o.envp = envp;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  enum { N = 200 };
  static char buf[N][32];
  const char *tasks[N];
  for (int i = 0; i < N; i++) {
    snprintf(buf[i], sizeof buf[i], i == 7 ? "env" : "line %d", i);
    tasks[i] = buf[i];
  }
  static struct rec rec[N];
  uint64_t order[N];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, N, rec, order);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(order[i], i);
    CHECK_EQ(rec[i].outcome, FERRY_POOL_DONE);
    if (i != 7)
      CHECK(strcmp(rec[i].data, buf[i]) == 0);
  }
  int slot = -1;
  char env[16] = "";
  CHECK(sscanf(rec[7].data, "%d,%15s", &slot, env) == 2);
  CHECK(slot >= 0 && slot < 3);
  CHECK(strcmp(env, "yes") == 0);
  ferry_pool_close(p);
}

static void test_exec_protocol_errors(void)
{
  char name[64];
  const char *argv[] = {self_exe, "--lines", NULL};
  ferry_pool_options o;
  exec_opts(&o, 2, argv);
  o.max_msg = 65536;
  o.retries = 1;
  o.breaker_deaths = 100;
  struct outlog l;
  memset(&l, 0, sizeof l);
  o.on_output = on_output;
  o.output_arg = &l;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  const char *tasks[] = {"big", "close", "exit", "kill", "flood", "unasked", "after"};
  struct rec rec[7];
  memset(rec, 0, sizeof rec);
  int64_t t0 = ft_ms();
  run_all(p, tasks, 7, rec, NULL);
  CHECK(ft_ms() - t0 < 10000);
  CHECK_EQ(rec[0].outcome, FERRY_POOL_PROTOCOL); /* oversized line */
  CHECK_EQ(rec[0].error, -EMSGSIZE);
  CHECK_EQ(rec[1].outcome, FERRY_POOL_PROTOCOL); /* closed stdout, alive */
  CHECK_EQ(rec[1].error, -EPIPE);
  CHECK(strstr(rec[1].msg, "closed its output") != NULL);
  CHECK_EQ(rec[2].outcome, FERRY_POOL_DIED); /* exits mid-task, every time */
  CHECK_EQ(rec[2].attempts, 2);
  CHECK_EQ(rec[2].exit_code, 0);
  CHECK_EQ(rec[3].outcome, FERRY_POOL_DIED);
  CHECK_EQ(rec[3].sig, SIGKILL);
  CHECK_EQ(rec[4].outcome, FERRY_POOL_DONE); /* 1 MiB of stderr drained */
  CHECK(strcmp(rec[4].data, "flood") == 0);
  CHECK(rec[6].outcome == FERRY_POOL_DONE);
  ferry_pool_close(p);
  CHECK(l.bytes >= (1 << 20) - (1 << 20) / 100 - 100);
  /* "unasked" wrote two lines for one task: its result is the first, the
   * second has no task and the worker is replaced */
  CHECK_EQ(rec[5].outcome, FERRY_POOL_DONE);
}

static void test_exec_frames(void)
{
  char name[64];
  const char *argv[] = {self_exe, "--frames", NULL};
  ferry_pool_options o;
  exec_opts(&o, 2, argv);
  o.framing = FERRY_POOL_FRAMES;
  o.max_msg = 70000;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  static char bin[65536];
  for (size_t i = 0; i < sizeof bin; i++)
    bin[i] = (char)(i * 7); /* NULs and newlines included */
  CHECK_OK(ferry_pool_submit(p, bin, sizeof bin, (void *)1, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_submit(p, "err", 3, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_submit(p, "", 0, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_submit(p, "big", 3, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER));
  ferry_pool_result r;
  int n = 0;
  while (ferry_pool_next(p, &r, 5 * FERRY_SEC) == 0) {
    n++;
    if (r.id == 0) {
      CHECK_EQ(r.outcome, FERRY_POOL_DONE);
      CHECK_EQ(r.len, sizeof bin);
      CHECK(r.len == sizeof bin && memcmp(r.data, bin, sizeof bin) == 0);
      CHECK(r.tag == (void *)1);
    } else if (r.id == 1) {
      CHECK_EQ(r.outcome, FERRY_POOL_FAILED);
      CHECK(strcmp(r.message, "err") == 0);
    } else if (r.id == 2) {
      CHECK_EQ(r.outcome, FERRY_POOL_DONE);
      CHECK_EQ(r.len, 0);
    } else {
      CHECK_EQ(r.outcome, FERRY_POOL_PROTOCOL);
      CHECK_EQ(r.error, -EMSGSIZE);
    }
  }
  CHECK_EQ(n, 4);
  ferry_pool_close(p);
}

static void test_exec_cannot_run(void)
{
  char name[64];
  const char *argv[] = {"/nonexistent/ferry-no-such-command", NULL};
  ferry_pool_options o;
  exec_opts(&o, 2, argv);
  struct evlog ev;
  memset(&ev, 0, sizeof ev);
  o.on_event = on_event;
  o.event_arg = &ev;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  const char *tasks[] = {"a", "b", "c"};
  struct rec rec[3];
  memset(rec, 0, sizeof rec);
  int64_t t0 = ft_ms();
  run_all(p, tasks, 3, rec, NULL);
  CHECK(ft_ms() - t0 < 3000);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(rec[i].outcome, FERRY_POOL_REFUSED);
    CHECK_EQ(rec[i].attempts, 0);
    CHECK(strstr(rec[i].msg, "cannot run") != NULL);
    CHECK(strstr(rec[i].msg, "No such file") != NULL);
  }
  CHECK(ev.spawn_failed >= 1);
  ferry_pool_close(p);
}

static void test_exec_each(void)
{
  char name[64];
  const char *argv[] = {"sh", "-c",
                        "case $0 in fail*) echo bad; exit 3;; slow) sleep 5;; esac; "
                        "echo \"$0:$FERRY_POOL_TASK\"",
                        NULL};
  ferry_pool_options o;
  opts(&o, 3);
  o.kind = FERRY_POOL_EXEC_EACH;
  o.argv = argv;
  o.retries = 1;
  o.task_timeout_ns = 300 * FERRY_MSEC;
  o.flags = FERRY_POOL_ORDERED;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  const char *tasks[] = {"alpha", "fail1", "beta gamma", "slow", "delta"};
  struct rec rec[5];
  memset(rec, 0, sizeof rec);
  run_all(p, tasks, 5, rec, NULL);
  CHECK_EQ(rec[0].outcome, FERRY_POOL_DONE);
  CHECK(strcmp(rec[0].data, "alpha:0\n") == 0);
  CHECK_EQ(rec[0].exit_code, 0);
  CHECK_EQ(rec[1].outcome, FERRY_POOL_FAILED);
  CHECK_EQ(rec[1].exit_code, 3);
  CHECK_EQ(rec[1].attempts, 2); /* a failing command is retried, as in GNU parallel */
  CHECK(strcmp(rec[1].data, "bad\n") == 0);
  CHECK(strcmp(rec[2].data, "beta gamma:2\n") == 0);
  CHECK_EQ(rec[3].outcome, FERRY_POOL_TIMEDOUT);
  CHECK_EQ(rec[3].attempts, 2);
  CHECK_EQ(rec[4].outcome, FERRY_POOL_DONE);
  ferry_pool_close(p);
}

static void test_keep_fds(void)
{
  char name[64];
  int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: inheritable */
  REQUIRE(fd >= 0);
  char task[16];
  snprintf(task, sizeof task, "%d", fd);
  const char *argv[] = {"sh", "-c", "[ -e /proc/self/fd/$0 ] && echo yes || echo no", NULL};
  for (int keep = 0; keep < 2; keep++) {
    ferry_pool_options o;
    opts(&o, 1);
    o.kind = FERRY_POOL_EXEC_EACH;
    o.argv = argv;
    o.flags = keep ? FERRY_POOL_KEEP_FDS : 0;
    ferry_pool *p = make(&o, name, sizeof name);
    REQUIRE(p);
    const char *tasks[] = {task};
    struct rec rec[1];
    memset(rec, 0, sizeof rec);
    run_all(p, tasks, 1, rec, NULL);
    CHECK(strcmp(rec[0].data, keep ? "yes\n" : "no\n") == 0);
    ferry_pool_close(p);
  }
  close(fd);
}

/* ---- stopping ----------------------------------------------------------------------------- */

static void test_stop_drain(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  for (int i = 0; i < 10; i++)
    CHECK_OK(ferry_pool_submit(p, "sleep:20", 8, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER));
  CHECK_RC(ferry_pool_submit(p, "echo:x", 6, NULL, 0, NULL), -EPIPE);
  ferry_pool_result r;
  int n = 0, rc;
  while ((rc = ferry_pool_next(p, &r, 5 * FERRY_SEC)) == 0) {
    CHECK_EQ(r.outcome, FERRY_POOL_DONE);
    n++;
  }
  CHECK_RC(rc, -EPIPE);
  CHECK_EQ(n, 10);
  ferry_pool_stats s;
  CHECK_OK(ferry_pool_stats_get(p, &s));
  CHECK_EQ(s.state, FERRY_POOL_STOPPED);
  ferry_pool_close(p);
}

static void test_stop_cancel_and_deadline(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.grace_ns = 200 * FERRY_MSEC;
  for (int mode = 0; mode < 2; mode++) {
    ferry_pool *p = make(&o, name, sizeof name);
    REQUIRE(p);
    for (int i = 0; i < 6; i++)
      CHECK_OK(ferry_pool_submit(p, "sleep:10000", 11, NULL, FERRY_SEC, NULL));
    ferry_pool_stats s;
    for (int i = 0; i < 1000; i++) { /* two are running */
      CHECK_OK(ferry_pool_stats_get(p, &s));
      if (s.running == 2)
        break;
      msleep(5);
    }
    CHECK_EQ(s.running, 2);
    int64_t t0 = ft_ms();
    if (mode == 0)
      CHECK_OK(ferry_pool_stop(p, FERRY_POOL_CANCEL, 0));
    else
      CHECK_OK(ferry_pool_stop(p, FERRY_POOL_DRAIN, 100 * FERRY_MSEC)); /* then cancels */
    ferry_pool_result r;
    int n = 0, running = 0, rc;
    while ((rc = ferry_pool_next(p, &r, 5 * FERRY_SEC)) == 0) {
      CHECK_EQ(r.outcome, FERRY_POOL_CANCELLED);
      CHECK_EQ(r.error, -ECANCELED);
      running += r.attempts == 1;
      n++;
    }
    CHECK_RC(rc, -EPIPE);
    CHECK_EQ(n, 6);
    CHECK_EQ(running, 2);
    CHECK(ft_ms() - t0 < 2000);
    pid_t g = ferry_pool_pgid(p);
    ferry_pool_close(p);
    check_no_leftovers(g);
  }
}

static void test_catch_signals(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 1);
  o.grace_ns = 100 * FERRY_MSEC;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  ferry_pool *q = make(&o, name, sizeof name);
  REQUIRE(q);
  CHECK_RC(ferry_pool_catch_signals(p, -1), -EINVAL);
  CHECK_OK(ferry_pool_catch_signals(p, FERRY_FOREVER));
  CHECK_RC(ferry_pool_catch_signals(q, FERRY_FOREVER), -EBUSY);
  ferry_pool_close(q);
  for (int i = 0; i < 4; i++)
    CHECK_OK(ferry_pool_submit(p, "sleep:300", 9, NULL, FERRY_SEC, NULL));
  msleep(50);
  raise(SIGINT); /* first: drain */
  ferry_pool_stats s;
  for (int i = 0; i < 100; i++) {
    CHECK_OK(ferry_pool_stats_get(p, &s));
    if (s.state != FERRY_POOL_RUNNING)
      break;
    msleep(5);
  }
  CHECK_EQ(s.state, FERRY_POOL_DRAINING);
  CHECK_EQ(s.signals, 1);
  CHECK_RC(ferry_pool_submit(p, "echo:x", 6, NULL, 0, NULL), -EPIPE);
  ferry_pool_result r;
  CHECK_OK(ferry_pool_next(p, &r, 5 * FERRY_SEC));
  CHECK_EQ(r.outcome, FERRY_POOL_DONE); /* the running one finished */
  raise(SIGTERM); /* second: cancel */
  int cancelled = 0, rc;
  while ((rc = ferry_pool_next(p, &r, 5 * FERRY_SEC)) == 0)
    cancelled += r.outcome == FERRY_POOL_CANCELLED;
  CHECK_RC(rc, -EPIPE);
  CHECK(cancelled >= 2);
  ferry_pool_close(p);
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  CHECK(sa.sa_handler == SIG_DFL); /* given back */
}

/* The owner is SIGKILLed with busy workers: nothing of its pool survives. */
static void test_owner_killed(void)
{
  char name[64];
  ft_name(name, sizeof name, "pool");
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t c = ft_fork();
  if (c == 0) {
    close(fds[0]);
    ferry_pool_options o;
    opts(&o, 3);
    ferry_pool *p;
    if (ferry_pool_create(name, &o, &p))
      _exit(1);
    for (int i = 0; i < 3; i++)
      ferry_pool_submit(p, "sleep:30000", 11, NULL, FERRY_SEC, NULL);
    ferry_pool_stats s;
    for (int i = 0; i < 500; i++) {
      ferry_pool_stats_get(p, &s);
      if (s.running == 3)
        break;
      msleep(5);
    }
    pid_t g = ferry_pool_pgid(p);
    if (write(fds[1], &g, sizeof g) != sizeof g)
      _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  pid_t g = 0;
  CHECK_EQ(read(fds[0], &g, sizeof g), sizeof g);
  close(fds[0]);
  CHECK(g > 0);
  ferry_pool_stats s;
  ferry_pool_worker_info w[4];
  CHECK_EQ(ferry_pool_stat(name, &s, w, 4), 3);
  CHECK_EQ(s.running, 3);
  CHECK_EQ(w[0].state, FERRY_POOL_W_BUSY);
  kill(c, SIGKILL);
  ft_wait(c, 5000);
  int z = 0, n = -1;
  for (int i = 0; i < 300; i++) {
    n = count_procs(g, &z);
    if (n == 0)
      break;
    msleep(10);
  }
  CHECK_EQ(n, 0);
  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(name, 0, &st), 1); /* its stats region is an orphan */
  CHECK_EQ(st, FERRY_REGION_ORPHANED);
  /* pipes of workers that never attached could be left: none here */
}

/* The fork server dies: the pool starts another and goes on. */
static void test_fork_server_dies(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  o.retries = 3;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  CHECK_OK(ferry_pool_submit(p, "sleep:200", 9, NULL, FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_submit(p, "sleep:200", 9, NULL, FERRY_SEC, NULL));
  msleep(50);
  pid_t g = ferry_pool_pgid(p);
  REQUIRE(g > 0);
  kill(g, SIGKILL); /* the fork server only; its workers follow it */
  for (int i = 0; i < 20; i++)
    CHECK_OK(ferry_pool_submit(p, "echo:after", 10, NULL, 5 * FERRY_SEC, NULL));
  CHECK_OK(ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER));
  ferry_pool_result r;
  int done = 0, rc;
  while ((rc = ferry_pool_next(p, &r, 10 * FERRY_SEC)) == 0)
    done += r.outcome == FERRY_POOL_DONE;
  CHECK_RC(rc, -EPIPE);
  CHECK_EQ(done, 22);
  pid_t g2 = ferry_pool_pgid(p);
  CHECK(g2 > 0 && g2 != g);
  ferry_pool_close(p);
  check_no_leftovers(g);
  check_no_leftovers(g2);
}

struct exitlog {
  _Atomic int exited, clean;
};

static void on_exit_ev(void *arg, const ferry_pool_event *ev)
{
  struct exitlog *l = arg;
  if (ev->type == FERRY_POOL_EV_EXITED) {
    l->exited++;
    l->clean += ev->exit_code == 0;
  }
}

/* A fork of the owner: the pool is foreign there (FERRY_EFORKED), and the
 * child holds none of its descriptors, so a retired exec worker still sees
 * EOF on its stdin and exits by itself (no SIGTERM after the grace). */
static void test_forked_owner(void)
{
  char name[64];
  const char *cat[] = {"cat", NULL};
  ferry_pool_options o;
  exec_opts(&o, 1, cat);
  o.max_tasks = 1;
  o.max_tasks_jitter = 0;
  o.grace_ns = 10 * FERRY_SEC;
  struct exitlog l = {0};
  o.on_event = on_exit_ev;
  o.event_arg = &l;
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  ferry_pool_stats st;
  for (int i = 0; i < 400; i++) { /* the first worker is up before the fork */
    CHECK_OK(ferry_pool_stats_get(p, &st));
    if (st.idle == 1)
      break;
    msleep(5);
  }
  CHECK_EQ(st.idle, 1);
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t c = ft_fork();
  if (c == 0) {
    close(go[1]);
    ferry_pool_result r;
    CHECK_RC(ferry_pool_submit(p, "x", 1, NULL, 0, NULL), FERRY_EFORKED);
    CHECK_RC(ferry_pool_next(p, &r, 0), FERRY_EFORKED);
    CHECK_RC(ferry_pool_wait(p, FERRY_POOL_HAS_RESULT, 0), FERRY_EFORKED);
    CHECK_RC(ferry_pool_stop(p, FERRY_POOL_CANCEL, 0), FERRY_EFORKED);
    ferry_pool_stats s;
    CHECK_RC(ferry_pool_stats_get(p, &s), FERRY_EFORKED);
    CHECK_EQ(ferry_pool_pgid(p), 0);
    ferry_pool_close(p); /* frees the handle only */
    char b;
    CHECK_EQ(read(go[0], &b, 1), 0); /* stays alive until the parent is done */
    ft_child_exit();
  }
  close(go[0]);
  int64_t t0 = ft_ms();
  for (int i = 0; i < 3; i++) {
    CHECK_OK(ferry_pool_submit(p, "task", 4, NULL, FERRY_SEC, NULL));
    ferry_pool_result r;
    CHECK_OK(ferry_pool_next(p, &r, 5 * FERRY_SEC));
    CHECK_EQ(r.outcome, FERRY_POOL_DONE);
  }
  for (int i = 0; i < 400 && l.exited < 3; i++)
    msleep(5);
  CHECK(l.exited >= 3);
  CHECK_EQ(l.clean, l.exited); /* EOF reached them: exit 0, not SIGTERM */
  CHECK(ft_ms() - t0 < 5000);
  close(go[1]);
  ft_wait_ok(c, 5000);
  ferry_pool_close(p);
}

/* ---- the stats region -------------------------------------------------------------------- */

static void test_stat_region(void)
{
  char name[64];
  ferry_pool_options o;
  opts(&o, 2);
  ferry_pool *p = make(&o, name, sizeof name);
  REQUIRE(p);
  for (int i = 0; i < 5; i++)
    CHECK_OK(ferry_pool_submit(p, "echo:s", 6, NULL, FERRY_SEC, NULL));
  ferry_pool_result r;
  for (int i = 0; i < 5; i++)
    CHECK_OK(ferry_pool_next(p, &r, 5 * FERRY_SEC));
  CHECK_OK(ferry_pool_submit(p, "sleep:2000", 10, NULL, FERRY_SEC, NULL));
  msleep(100);
  /* another process reads it */
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_pool_stats s;
    ferry_pool_worker_info w[8];
    CHECK_EQ(ferry_pool_stat(name, &s, w, 8), 2);
    CHECK_EQ(s.submitted, 6);
    CHECK_EQ(s.done, 5);
    CHECK_EQ(s.running, 1);
    CHECK_EQ(s.workers, 2);
    CHECK_EQ(s.live, 2);
    CHECK_EQ(s.kind, FERRY_POOL_FUNCTION);
    CHECK_EQ(s.owner_pid, getppid());
    CHECK(s.pgid > 0);
    int busy = 0;
    for (int i = 0; i < 2; i++) {
      CHECK(w[i].pid > 0);
      if (w[i].state == FERRY_POOL_W_BUSY) {
        busy++;
        CHECK_EQ(w[i].task_id, 5);
      }
    }
    CHECK_EQ(busy, 1);
    CHECK_EQ(ferry_pool_stat(name, &s, NULL, 0), 2);
    ft_child_exit();
  }
  ft_wait_ok(c, 10000);
  CHECK_RC(ferry_pool_stat("t-no-such-pool", &(ferry_pool_stats){0}, NULL, 0), -ENOENT);
  /* corrupt the slot count in the file: a clear error, no read past the end */
  char path[128];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  int fd = open(path, O_RDWR);
  REQUIRE(fd >= 0);
  ferry_region_info info;
  CHECK_OK(ferry_region_stat(name, &info));
  off_t at = (off_t)(info.total_size - info.object_size) + 16;
  uint32_t good, bad = 100000;
  CHECK_EQ(pread(fd, &good, 4, at), 4);
  CHECK_EQ(good, 2);
  CHECK_EQ(pwrite(fd, &bad, 4, at), 4);
  ferry_pool_stats s;
  CHECK_RC(ferry_pool_stat(name, &s, NULL, 0), FERRY_ECORRUPT);
  CHECK_EQ(pwrite(fd, &good, 4, at), 4);
  uint64_t badmagic = 1;
  CHECK_EQ(pwrite(fd, &badmagic, 8, (off_t)(info.total_size - info.object_size)), 8);
  CHECK_RC(ferry_pool_stat(name, &s, NULL, 0), FERRY_ECORRUPT);
  close(fd);
  ferry_pool_close(p);
  CHECK_EQ(strcmp(ferry_kind_name(FERRY_KIND_POOL), "pool"), 0);
  CHECK_EQ(strcmp(ferry_pool_outcome_name(FERRY_POOL_REFUSED), "refused"), 0);
  CHECK_EQ(strcmp(ferry_pool_outcome_name(99), "unknown"), 0);
  CHECK_EQ(strcmp(ferry_pool_worker_state_name(FERRY_POOL_W_BUSY), "busy"), 0);
  CHECK_EQ(strcmp(ferry_pool_worker_state_name(99), "unknown"), 0);
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--lines") == 0)
    return worker_lines();
  if (argc > 1 && strcmp(argv[1], "--frames") == 0)
    return worker_frames();
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0)
    return 1;
  self_exe[n] = '\0';
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED)
    return 1;
  RUN(test_bad_options);
  RUN(test_bad_submit);
  RUN(test_function_ordered);
  RUN(test_completion_order_and_idle_only);
  RUN(test_prefetch);
  RUN(test_progress_without_caller);
  RUN(test_backpressure_and_window);
  RUN(test_retry_after_death);
  RUN(test_main_thread_exits);
  RUN(test_retries_exhausted_and_task_errors);
  RUN(test_timeout);
  RUN(test_max_tasks_and_jitter);
  RUN(test_max_rss);
  RUN(test_breaker);
  RUN(test_spares);
  RUN(test_stray_writes);
  RUN(test_stats_scribbled);
  RUN(test_spawn_without_descriptors);
  RUN(test_events_and_output);
  RUN(test_output_callback);
  RUN(test_exec_lines);
  RUN(test_exec_protocol_errors);
  RUN(test_exec_frames);
  RUN(test_exec_cannot_run);
  RUN(test_exec_each);
  RUN(test_keep_fds);
  RUN(test_stop_drain);
  RUN(test_stop_cancel_and_deadline);
  RUN(test_catch_signals);
  RUN(test_owner_killed);
  RUN(test_fork_server_dies);
  RUN(test_forked_owner);
  RUN(test_stat_region);
  return ft_done();
}
