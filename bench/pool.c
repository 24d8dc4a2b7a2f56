/* SPDX-License-Identifier: MIT */
/*
 * pool.c: `ferry bench pool`: ferry's process pool against the tools
 * people use today, in one run, and the pool's goals.
 *
 * Cases:
 *   noop_ordered    no-op tasks, results in submit order, one task per
 *                   hand-over: ferry's function workers (prefetch 0 and 1)
 *                   against multiprocessing Pool.imap(chunksize=1),
 *                   ProcessPoolExecutor.map(chunksize=1) and joblib/loky
 *                   (pool_peers.py on /usr/bin/python3)
 *   exec_lines      a command per worker: ferry's exec workers speaking the
 *                   line protocol (cat) against a process per task: ferry
 *                   per-task workers, GNU parallel and xargs -P (true)
 *   head_of_line    one long task and many 1 ms tasks on 4 workers, results
 *                   as they finish: the makespan against the ideal
 *   respawn         SIGKILL of a worker to a task served by its replacement,
 *                   after the owner grew to --rss-mib MiB: with a spare,
 *                   without, and (for contrast) from a pool created after
 *                   the growth, whose fork server is as big; a worker that
 *                   crashes (SIGKILLs itself mid-task) to its task served
 *                   again, with a spare; and the floor under them all:
 *                   SIGKILL of a bare child to its exit
 *   backpressure    an endless task generator for --seconds: tasks/s and
 *                   the owner's RSS growth
 *   reorder_window  ordered, with a stuck first task: the most results
 *                   held (must not exceed the window)
 *
 * Results go out through report.c, in the schema every benchmark shares;
 * the goals go to stderr. Peers run without a shell (GNU parallel and
 * xargs get their input through a pipe). Uses the public API only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_ROWS 32
#define TASKS_MAX 100000000
#define WORKERS_MAX 256
#define RSS_MIB_MAX (1u << 20)
/* The window of the reorder_window case. */
#define REORDER_WINDOW 64
/* Longest a peer may run (seconds): a hung peer is killed, not waited on. */
#define PEER_TIMEOUT_S 600

const char bench_help_pool[] =
    "usage: ferry bench pool [--tasks N] [--workers N] [--seconds S] [--rss-mib N]\n"
    "                        [--impl a,b] [--case a,b] [--json] [--peers-dir DIR]\n"
    "\n"
    "ferry's process pool against multiprocessing Pool.imap and\n"
    "ProcessPoolExecutor.map (chunksize=1), joblib/loky, GNU parallel and\n"
    "xargs -P. Cases: noop_ordered (no-op tasks, results in submit order),\n"
    "exec_lines (exec workers on the line protocol against a process per\n"
    "task), head_of_line (one long task and many short ones: makespan\n"
    "against the ideal), respawn (SIGKILL of a worker, or its own crash, to a\n"
    "task served by its replacement, after the owner grew), backpressure\n"
    "(an endless input: tasks/s and the owner's RSS growth) and\n"
    "reorder_window (ordered, first task stuck: the most results held). The\n"
    "goals' ratios go to stderr.\n"
    "\n"
    "Options:\n"
    "  --tasks N        tasks per case (default 20000; a process per task gets\n"
    "                   a tenth)\n"
    "  --workers N      workers, 1 to 256 (default 2)\n"
    "  --seconds S      length of the endless input (default 2)\n"
    "  --rss-mib N      how much the owner grows before respawn (default 1024)\n"
    "  --impl a,b       only these implementations\n"
    "  --case a,b       only these cases (noop_ordered, exec_lines,\n"
    "                   head_of_line, respawn, backpressure; the last\n"
    "                   includes reorder_window)\n"
    "  --json           one JSON object per line instead of the table\n"
    "  --peers-dir DIR  where pool_peers.py is (default: bench-peers/ next\n"
    "                   to ferry-bench)\n"
    "  -h, --help\n"
    "Python runs on /usr/bin/python3.\n";

static bench_result rows[MAX_ROWS];
static size_t nrows;
static const char *only, *only_cases;

static bool wanted(const char *impl) { return cli_list_has(only, impl); }
static bool case_wanted(const char *kase) { return cli_list_has(only_cases, kase); }

/* A new row: status failed until the case says otherwise. */
static bench_result *add_row(const char *impl, const char *kase, const char *unit, bool lower)
{
  if (nrows >= MAX_ROWS)
    return NULL;
  bench_result *r = &rows[nrows++];
  memset(r, 0, sizeof *r);
  r->bench = "pool";
  snprintf(r->impl, sizeof r->impl, "%s", impl);
  snprintf(r->kase, sizeof r->kase, "%s", kase);
  r->unit = unit;
  r->lower_is_better = lower;
  r->status = BH_FAILED;
  return r;
}

/* A throughput row: tasks in secs (failed if secs <= 0). */
static bench_result *rate_row(const char *impl, const char *kase, uint32_t workers,
                              uint64_t tasks, double secs)
{
  bench_result *r = add_row(impl, kase, "tasks/s", false);
  if (!r)
    return NULL;
  bench_param(r, "workers", workers);
  bench_param(r, "tasks", (double)tasks);
  bench_metric(r, "seconds", secs > 0 ? secs : 0);
  if (secs > 0) {
    r->status = BH_OK;
    r->value = (double)tasks / secs;
  }
  return r;
}

static const bench_result *find(const char *impl, const char *kase)
{
  for (size_t i = 0; i < nrows; i++)
    if (strcmp(rows[i].impl, impl) == 0 && strcmp(rows[i].kase, kase) == 0 &&
        rows[i].status == BH_OK)
      return &rows[i];
  return NULL;
}

static double metric_of(const bench_result *r, const char *key)
{
  for (size_t i = 0; r && i < r->nmetrics; i++)
    if (strcmp(r->metric[i].key, key) == 0)
      return r->metric[i].value;
  return 0;
}

/* ---- ferry function workers ------------------------------------------------------- */

static int64_t sleep_us_for_task0;

static ssize_t noop_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)cap;
  memcpy(out, task, len);
  return (ssize_t)len;
}

/* Task = {u64 id, u32 sleep_us}: sleeps, answers the id. */
static ssize_t sleep_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)cap;
  if (len != 12)
    return -EINVAL;
  uint32_t us;
  memcpy(&us, (const uint8_t *)task + 8, 4);
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
  memcpy(out, task, 8);
  return 8;
}

/* Feeds n tasks (make(i, buf) builds task i) and takes every result;
 * returns seconds, or -1. */
static double drive(ferry_pool *p, uint64_t n, size_t (*make)(uint64_t, void *), bool check_order)
{
  uint8_t buf[64];
  uint64_t sub = 0, got = 0;
  int64_t t0 = cli_now_ns();
  while (got < n) {
    while (sub < n) {
      size_t len = make(sub, buf);
      int rc = ferry_pool_submit(p, buf, len, NULL, 0, NULL);
      if (rc == -EAGAIN)
        break;
      if (rc)
        return -1;
      sub++;
    }
    ferry_pool_result r;
    int rc = ferry_pool_next(p, &r, sub < n ? 0 : 10 * FERRY_SEC);
    if (rc == -EAGAIN) {
      ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT | FERRY_POOL_HAS_RESULT, FERRY_SEC);
      continue;
    }
    if (rc || r.outcome != FERRY_POOL_DONE || (check_order && r.id != got))
      return -1;
    got++;
  }
  return (double)(cli_now_ns() - t0) / 1e9;
}

static size_t make_noop(uint64_t i, void *buf)
{
  memcpy(buf, &i, 8);
  return 8;
}

static uint32_t hol_short_us = 1000;
static size_t make_hol(uint64_t i, void *buf)
{
  uint32_t us = i == 0 ? (uint32_t)sleep_us_for_task0 : hol_short_us;
  memcpy(buf, &i, 8);
  memcpy((uint8_t *)buf + 8, &us, 4);
  return 12;
}

static ferry_pool *function_pool(uint32_t workers, uint32_t prefetch, uint32_t flags,
                                 ferry_pool_fn fn, uint32_t max_tasks)
{
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = workers;
  o.fn = fn;
  o.prefetch = prefetch;
  o.flags = flags;
  o.max_msg = 64;
  o.max_tasks = max_tasks;
  o.max_tasks_jitter = 0;
  o.queue_size = 1024;
  o.window = 256 > workers * 2 ? 256 : workers * 2;
  ferry_pool *p;
  return ferry_pool_create(NULL, &o, &p) ? NULL : p;
}

static void case_noop(uint32_t workers, uint64_t tasks)
{
  for (uint32_t pf = 0; pf < 2; pf++) {
    const char *impl = pf ? "ferry-prefetch1" : "ferry";
    if (!wanted(impl))
      continue;
    ferry_pool *p = function_pool(workers, pf, FERRY_POOL_ORDERED, noop_fn, 0);
    double secs = -1;
    if (p) {
      drive(p, workers * 4, make_noop, true); /* warm-up: every worker up */
      ferry_pool_close(p);
      p = function_pool(workers, pf, FERRY_POOL_ORDERED, noop_fn, 0);
    }
    if (p) {
      cli_nap(50 * FERRY_MSEC); /* let the workers start */
      secs = drive(p, tasks, make_noop, true);
      ferry_pool_close(p);
    }
    rate_row(impl, "noop_ordered", workers, tasks, secs);
  }
}

/* ---- peers in Python ------------------------------------------------------------------- */

struct py_result {
  double seconds;
  const char *status;
  char note[BH_NOTE_MAX];
};

static void take_py(const cli_jobject *o, void *arg)
{
  struct py_result *p = arg;
  const char *st = cli_jobject_str(o, "status"), *note = cli_jobject_str(o, "note");
  p->seconds = cli_jobject_num(o, "seconds");
  p->status = st && strcmp(st, "skipped") == 0 ? "skipped" : "ok";
  if (note)
    snprintf(p->note, sizeof p->note, "%s", note);
}

static void case_python(const char *peers, uint32_t workers, uint64_t tasks)
{
  static const char *const impls[] = {"pool-imap", "executor-map", "joblib-loky"};
  char path[PATH_MAX + 32], w[16], n[32];
  snprintf(path, sizeof path, "%s/pool_peers.py", peers);
  snprintf(w, sizeof w, "%" PRIu32, workers);
  snprintf(n, sizeof n, "%" PRIu64, tasks);
  for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
    if (!wanted(impls[i]))
      continue;
    bench_result *r = rate_row(impls[i], "noop_ordered", workers, tasks, -1);
    if (!r)
      return;
    if (access(BENCH_PYTHON, X_OK) != 0 || access(path, R_OK) != 0) {
      r->status = BH_SKIPPED;
      snprintf(r->note, sizeof r->note, "%s or %.120s missing", BENCH_PYTHON, path);
      continue;
    }
    char *argv[] = {BENCH_PYTHON, path, "--impl", (char *)impls[i], "--workers", w,
                    "--tasks", n, NULL};
    int st;
    char *out = bench_run_capture(argv, PEER_TIMEOUT_S, &st);
    struct py_result pr = {.seconds = -1};
    bench_each_object(out ? out : "", take_py, &pr);
    free(out);
    if (pr.status && strcmp(pr.status, "skipped") == 0) {
      r->status = BH_SKIPPED;
      snprintf(r->note, sizeof r->note, "%s", pr.note);
    } else if (st == 0 && pr.seconds > 0) {
      r->status = BH_OK;
      r->value = (double)tasks / pr.seconds;
      r->metric[0].value = pr.seconds;
    } else {
      snprintf(r->note, sizeof r->note, "%s %.120s --impl %s failed", BENCH_PYTHON, path,
               impls[i]);
    }
  }
}

/* ---- exec workers and a process per task ---------------------------------------------- */

static size_t make_noop_line(uint64_t i, void *buf)
{
  return (size_t)snprintf(buf, 32, "%llu", (unsigned long long)i);
}

static double exec_pool(uint32_t workers, uint64_t tasks, bool each)
{
  const char *cat[] = {"cat", NULL}, *tru[] = {"true", NULL};
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = workers;
  o.kind = each ? FERRY_POOL_EXEC_EACH : FERRY_POOL_EXEC;
  o.argv = each ? tru : cat;
  o.flags = FERRY_POOL_ORDERED;
  o.queue_size = 1024;
  o.max_msg = 64;
  ferry_pool *p;
  if (ferry_pool_create(NULL, &o, &p))
    return -1;
  cli_nap(50 * FERRY_MSEC);
  double secs = drive(p, tasks, make_noop_line, true);
  ferry_pool_close(p);
  return secs;
}

/*
 * Runs argv (no shell) with the numbers 1..n, a line each, on its stdin and
 * its output thrown away. Returns the seconds it took, -1 if it failed,
 * or -2 if the program is not installed.
 */
static double run_fed(char *const argv[], uint64_t n)
{
  int p[2];
  if (pipe(p) != 0)
    return -1;
  fflush(NULL);
  int64_t t0 = cli_now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(p[0], STDIN_FILENO);
    close(p[0]);
    close(p[1]);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  close(p[0]);
  signal(SIGPIPE, SIG_IGN);
  FILE *f = fdopen(p[1], "w");
  for (uint64_t i = 1; f && i <= n; i++)
    if (fprintf(f, "%" PRIu64 "\n", i) < 0)
      break;
  if (f)
    fclose(f);
  else
    close(p[1]);
  int st;
  int64_t until = cli_now_ns() + (int64_t)PEER_TIMEOUT_S * FERRY_SEC;
  pid_t got;
  while ((got = waitpid(pid, &st, WNOHANG)) == 0 && cli_now_ns() < until)
    cli_nap(FERRY_MSEC);
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  double secs = (double)(cli_now_ns() - t0) / 1e9;
  if (got < 0 || !WIFEXITED(st))
    return -1;
  if (WEXITSTATUS(st) == 127)
    return -2;
  return WEXITSTATUS(st) == 0 ? secs : -1;
}

static void case_exec(uint32_t workers, uint64_t tasks, uint64_t proc_tasks)
{
  if (wanted("ferry-exec"))
    rate_row("ferry-exec", "exec_lines", workers, tasks, exec_pool(workers, tasks, false));
  if (wanted("ferry-per-task"))
    rate_row("ferry-per-task", "exec_lines", workers, proc_tasks,
             exec_pool(workers, proc_tasks, true));
  char w[16];
  snprintf(w, sizeof w, "%" PRIu32, workers);
  static const struct {
    const char *impl, *package;
  } tools[] = {{"gnu-parallel", "parallel"}, {"xargs-P", "findutils"}};
  for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
    if (!wanted(tools[i].impl))
      continue;
    char *parallel[] = {"parallel", "-j", w, "true", NULL};
    char *xargs[] = {"xargs", "-P", w, "-n", "1", "true", NULL};
    double secs = run_fed(i == 0 ? parallel : xargs, proc_tasks);
    bench_result *r = rate_row(tools[i].impl, "exec_lines", workers, proc_tasks, secs);
    if (r && secs == -2) {
      r->status = BH_SKIPPED;
      snprintf(r->note, sizeof r->note, "not installed (Debian: %s)", tools[i].package);
    }
  }
}

/* ---- head of line, respawn, backpressure ---------------------------------------------- */

static void case_head_of_line(uint64_t shorts, double long_s)
{
  if (!wanted("ferry"))
    return;
  sleep_us_for_task0 = (int64_t)(long_s * 1e6);
  uint32_t w = 4;
  ferry_pool *p = function_pool(w, 0, 0, sleep_fn, 0);
  double secs = -1;
  if (p) {
    cli_nap(50 * FERRY_MSEC);
    secs = drive(p, shorts + 1, make_hol, false);
    ferry_pool_close(p);
  }
  double ideal = (double)shorts * hol_short_us / 1e6 / w + long_s / w;
  if (ideal < long_s)
    ideal = long_s;
  bench_result *r = add_row("ferry", "head_of_line", "s", true);
  if (!r)
    return;
  bench_param(r, "workers", w);
  bench_param(r, "tasks", (double)(shorts + 1));
  bench_metric(r, "ideal_s", ideal);
  snprintf(r->note, sizeof r->note, "one %.2f s task + %" PRIu64 " x %" PRIu32 " us", long_s,
           shorts, hol_short_us);
  if (secs > 0) {
    r->status = BH_OK;
    r->value = secs;
  }
}

/* Shared with the respawn pools' workers (mapped before they are made): a
 * worker given task "c" while `armed` crashes, by SIGKILL, noting when. */
static struct crash_page {
  _Atomic int armed;
  _Atomic int64_t died_ns;
} *crash;

static ssize_t pid_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)cap;
  if (len == 1 && *(const char *)task == 'c' && crash && atomic_exchange(&crash->armed, 0)) {
    atomic_store(&crash->died_ns, cli_now_ns());
    raise(SIGKILL);
  }
  int32_t pid = (int32_t)getpid();
  memcpy(out, &pid, sizeof pid);
  return sizeof pid;
}

/* The median of v[0..n), or -1 if n is 0. Sorts v. */
static double median(double *v, int n)
{
  bench_sort(v, (size_t)n);
  return n ? v[n / 2] : -1;
}

static pid_t ask_pid(ferry_pool *p)
{
  ferry_pool_result r;
  int32_t pid = 0;
  if (ferry_pool_submit(p, "p", 1, NULL, FERRY_SEC, NULL) ||
      ferry_pool_next(p, &r, 10 * FERRY_SEC) ||
      r.outcome != FERRY_POOL_DONE || r.len != sizeof pid)
    return -1;
  memcpy(&pid, r.data, sizeof pid);
  return pid;
}

/* Median time from SIGKILL of the only worker to a task served by its
 * replacement, over `rounds` kills. */
static double respawn_median_us(ferry_pool *p, int rounds)
{
  double lat[64];
  int n = 0;
  for (int i = 0; i < rounds && i < 64; i++) {
    pid_t a = ask_pid(p);
    if (a <= 0)
      return -1;
    cli_nap(30 * FERRY_MSEC); /* a spare, if any, is up again */
    int64_t t0 = cli_now_ns();
    kill(a, SIGKILL);
    pid_t b = ask_pid(p);
    if (b <= 0 || b == a)
      return -1;
    lat[n++] = (double)(cli_now_ns() - t0) / 1e3;
  }
  return median(lat, n);
}

/* Median time from a worker's crash (it SIGKILLs itself in the middle of a
 * task) to that task served by the replacement, over `rounds` crashes. */
static double crash_median_us(ferry_pool *p, int rounds)
{
  double lat[64];
  int n = 0;
  for (int i = 0; i < rounds && i < 64; i++) {
    if (ask_pid(p) <= 0)
      return -1;
    cli_nap(30 * FERRY_MSEC); /* a spare, if any, is up again */
    atomic_store(&crash->armed, 1);
    ferry_pool_result r;
    if (ferry_pool_submit(p, "c", 1, NULL, FERRY_SEC, NULL) ||
        ferry_pool_next(p, &r, 10 * FERRY_SEC) || r.outcome != FERRY_POOL_DONE || r.attempts != 2)
      return -1;
    lat[n++] = (double)(cli_now_ns() - atomic_load(&crash->died_ns)) / 1e3;
  }
  return median(lat, n);
}

/* The floor under any respawn: median time from SIGKILL of a bare forked
 * child (sleeping, nothing mapped beyond what fork gave it) to its pidfd
 * turning readable, i.e. to the kernel saying it is gone. */
static double exit_floor_median_us(int rounds)
{
  double lat[64];
  int n = 0;
  for (int i = 0; i < rounds && i < 64; i++) {
    pid_t c = fork();
    if (c < 0)
      return -1;
    if (c == 0) {
      for (;;)
        pause();
    }
    int fd = (int)syscall(SYS_pidfd_open, c, 0);
    cli_nap(30 * FERRY_MSEC); /* asleep, as an idle worker is */
    int64_t t0 = cli_now_ns();
    kill(c, SIGKILL);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = fd >= 0 ? poll(&pf, 1, 5000) : -1;
    int64_t t1 = cli_now_ns();
    waitpid(c, NULL, 0);
    if (fd >= 0)
      close(fd);
    if (r != 1)
      return -1;
    lat[n++] = (double)(t1 - t0) / 1e3;
  }
  return median(lat, n);
}

static ferry_pool *respawn_pool(uint32_t spares)
{
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = 1;
  o.spares = spares;
  o.fn = pid_fn;
  o.max_msg = 16;
  o.retries = 5;
  o.breaker_deaths = 1000;
  ferry_pool *p;
  return ferry_pool_create(NULL, &o, &p) ? NULL : p;
}

static long rss_kib(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = atol(line + 6);
  if (f)
    fclose(f);
  return kib;
}

static void case_respawn(uint64_t rss_mib, int rounds)
{
  if (!wanted("ferry"))
    return;
  double us[5] = {-1, -1, -1, -1, -1};
  if (!crash) {
    void *m = mmap(NULL, sizeof *crash, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    crash = m == MAP_FAILED ? NULL : m;
  }
  /* the floor, forked while the owner is small (as the fork server is)
   * and has no pool threads */
  us[3] = exit_floor_median_us(rounds);
  /* pools made while the owner is small... */
  long at_create = rss_kib(); /* what their workers share with the owner */
  ferry_pool *spare = respawn_pool(1), *plain = respawn_pool(0);
  size_t bytes = (size_t)rss_mib << 20;
  char *big = malloc(bytes ? bytes : 1);
  if (big && spare && plain) {
    memset(big, 1, bytes); /* resident now */
    us[0] = respawn_median_us(spare, rounds);
    us[1] = respawn_median_us(plain, rounds);
    if (crash)
      us[4] = crash_median_us(spare, rounds);
  }
  ferry_pool_close(spare);
  ferry_pool_close(plain);
  if (big) {
    /* ...and one made after the growth, whose fork server is as big */
    ferry_pool *late = respawn_pool(0);
    us[2] = late ? respawn_median_us(late, rounds) : -1;
    ferry_pool_close(late);
  }
  free(big);
  static const char *const what[] = {"1 spare", "no spare",
                                     "no spare, pool created after growing",
                                     "the floor: a bare child, kill to its pidfd readable",
                                     "1 spare; the worker SIGKILLs itself mid-task"};
  static const char *const impl[] = {"ferry", "ferry-no-spare", "ferry-late-pool",
                                     "kernel-exit", "ferry-crash"};
  for (int i = 0; i < 5; i++) {
    bench_result *r = add_row(impl[i], "respawn", "us", true);
    if (!r)
      return;
    bench_param(r, "rss_mib", (double)rss_mib);
    bench_param(r, "kills", rounds);
    if (i == 0 || i == 1 || i == 4)
      bench_param(r, "owner_rss_at_create_mib", (double)at_create / 1024);
    if (i < 3 || i == 4)
      snprintf(r->note, sizeof r->note, "owner %" PRIu64 " MiB resident; %s; %s to served, median",
               rss_mib, what[i], i == 4 ? "death" : "kill");
    else
      snprintf(r->note, sizeof r->note, "%s, median", what[i]);
    if (us[i] > 0) {
      r->status = BH_OK;
      r->value = us[i];
    }
  }
}

static void case_backpressure(uint32_t workers, double seconds)
{
  if (!wanted("ferry"))
    return;
  ferry_pool *p = function_pool(workers, 0, 0, noop_fn, 0);
  bool made = p != NULL;
  uint64_t sub = 0, got = 0;
  long rss0 = -1, peak = 0;
  int64_t t0 = cli_now_ns();
  while (p && cli_now_ns() < t0 + (int64_t)(seconds * 1e9)) {
    /* an endless generator: as fast as the pool takes it */
    uint8_t buf[8];
    make_noop(sub, buf);
    int rc = ferry_pool_submit(p, buf, 8, NULL, 0, NULL);
    if (rc == 0)
      sub++;
    ferry_pool_result res;
    while (ferry_pool_next(p, &res, 0) == 0)
      got++;
    if (rc == -EAGAIN)
      ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT | FERRY_POOL_HAS_RESULT, 10 * FERRY_MSEC);
    if (rss0 < 0 && cli_now_ns() > t0 + (int64_t)(seconds * 1e8))
      rss0 = rss_kib(); /* after a tenth of the run: the pool is warm */
    if ((sub & 1023) == 0) {
      long k = rss_kib();
      if (k > peak)
        peak = k;
    }
  }
  double secs = (double)(cli_now_ns() - t0) / 1e9;
  ferry_pool_close(p);
  bench_result *r = rate_row("ferry", "backpressure", workers, got, made ? secs : -1);
  if (r) {
    bench_metric(r, "rss_growth_kib", rss0 >= 0 && peak >= rss0 ? (double)(peak - rss0) : 0);
    snprintf(r->note, sizeof r->note, "endless input; %" PRIu64 " submitted", sub);
  }
  /* ordered, first task stuck: results pile up only to the window */
  sleep_us_for_task0 = (int64_t)(seconds * 1e6 / 2);
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = workers;
  o.fn = sleep_fn;
  o.flags = FERRY_POOL_ORDERED;
  o.window = REORDER_WINDOW;
  o.queue_size = REORDER_WINDOW;
  uint32_t held = 0;
  if (ferry_pool_create(NULL, &o, &p) == 0) {
    hol_short_us = 0;
    uint8_t t[12];
    uint64_t i = 0;
    int64_t stop = cli_now_ns() + (int64_t)(seconds * 1e9 / 4);
    while (cli_now_ns() < stop) {
      make_hol(i, t);
      if (ferry_pool_submit(p, t, 12, NULL, 10 * FERRY_MSEC, NULL) == 0)
        i++;
      ferry_pool_stats s;
      ferry_pool_stats_get(p, &s);
      if (s.unread + s.running > held)
        held = s.unread + s.running;
    }
    ferry_pool_close(p);
    hol_short_us = 1000;
  }
  r = add_row("ferry", "reorder_window", "results", true);
  if (r) {
    bench_param(r, "workers", workers);
    bench_param(r, "window", REORDER_WINDOW);
    snprintf(r->note, sizeof r->note, "ordered, first task stuck; window %d", REORDER_WINDOW);
    if (held) {
      r->status = BH_OK;
      r->value = held;
    }
  }
}

/* ---- the goals ------------------------------------------------------------------------- */

/* Prints one goal on stderr: value against target ("<=" or ">="). */
static void goal(const char *name, bool known, double value, double target, bool at_most)
{
  if (!known) {
    fprintf(stderr, "goal %s: not measured\n", name);
    return;
  }
  bool met = at_most ? value <= target : value >= target;
  fprintf(stderr, "goal %s: %.2f (%s %.2f) %s\n", name, value, at_most ? "<=" : ">=", target,
          met ? "met" : "NOT met");
}

static void print_goals(uint64_t rss_mib)
{
  const bench_result *f = find("ferry", "noop_ordered"),
                     *f1 = find("ferry-prefetch1", "noop_ordered");
  if (f1 && (!f || f1->value > f->value))
    f = f1;
  const bench_result *ex = find("executor-map", "noop_ordered"),
                     *im = find("pool-imap", "noop_ordered");
  goal("noop_ordered ferry / ProcessPoolExecutor.map", f && ex, f && ex ? f->value / ex->value : 0,
       10, false);
  goal("noop_ordered ferry / Pool.imap", f && im, f && im ? f->value / im->value : 0, 3, false);
  const bench_result *fe = find("ferry-exec", "exec_lines"),
                     *gp = find("gnu-parallel", "exec_lines");
  goal("exec_lines ferry-exec / GNU parallel", fe && gp, fe && gp ? fe->value / gp->value : 0,
       100, false);
  const bench_result *h = find("ferry", "head_of_line");
  double ideal = metric_of(h, "ideal_s");
  goal("head_of_line makespan / ideal", h && ideal > 0, h && ideal > 0 ? h->value / ideal : 0,
       1.05, true);
  const bench_result *rs = find("ferry", "respawn"), *rc = find("ferry-crash", "respawn");
  char name[120];
  snprintf(name, sizeof name, "respawn ms with the owner at %" PRIu64 " MiB, the owner kills",
           rss_mib);
  goal(name, rs != NULL, rs ? rs->value / 1000 : 0, 1, true);
  snprintf(name, sizeof name, "respawn ms with the owner at %" PRIu64 " MiB, the worker crashes",
           rss_mib);
  goal(name, rc != NULL, rc ? rc->value / 1000 : 0, 1, true);
  const bench_result *kx = find("kernel-exit", "respawn");
  if (kx && kx->status == BH_OK)
    fprintf(stderr, "  (the kernel alone takes %.2f ms from SIGKILL to a bare child's exit)\n",
            kx->value / 1000);
  const bench_result *bp = find("ferry", "backpressure");
  goal("backpressure owner RSS growth (MiB)", bp != NULL,
       bp ? metric_of(bp, "rss_growth_kib") / 1024 : 0, 4, true);
  const bench_result *rw = find("ferry", "reorder_window");
  goal("reorder_window results held / window", rw != NULL, rw ? rw->value / REORDER_WINDOW : 0, 1,
       true);
}

int bench_pool(int argc, char **argv)
{
  uint64_t tasks = 20000, workers = 2, rss_mib = 1024;
  int64_t seconds_ns = 2 * FERRY_SEC;
  bool json = false;
  const char *peers_dir = NULL;
  only = NULL;
  only_cases = NULL;
  cli_opt opts[] = {
      CLI_U64("--tasks", &tasks, 10, TASKS_MAX),
      CLI_U64("--workers", &workers, 1, WORKERS_MAX),
      CLI_SECONDS("--seconds", &seconds_ns, 1e-9),
      CLI_U64("--rss-mib", &rss_mib, 0, RSS_MIB_MAX),
      CLI_STRING("--impl", &only),
      CLI_STRING("--case", &only_cases),
      CLI_JSON(&json),
      CLI_STRING("--peers-dir", &peers_dir),
  };
  const cli_spec spec = {"bench pool", bench_help_pool, opts, sizeof opts / sizeof opts[0],
                         NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  char peers[PATH_MAX];
  bench_peers_dir(peers_dir, peers, sizeof peers);
  double seconds = (double)seconds_ns / 1e9;
  uint64_t proc_tasks = tasks / 10 < 10 ? 10 : tasks / 10;
  const bench_number params[] = {{"seconds", seconds},
                                 {"workers", (double)workers},
                                 {"tasks", (double)tasks},
                                 {"rss_mib", (double)rss_mib}};
  const size_t nparams = sizeof params / sizeof params[0];
  if (json)
    bench_print_machine("pool", params, nparams);
  nrows = 0;
  if (case_wanted("noop_ordered")) {
    case_noop((uint32_t)workers, tasks);
    case_python(peers, (uint32_t)workers, tasks);
  }
  if (case_wanted("exec_lines"))
    case_exec((uint32_t)workers, tasks, proc_tasks);
  /* head of line: 2 s + 2000 x 1 ms at the default --tasks, scaled down with it */
  double scale = tasks >= 20000 ? 1.0 : (double)tasks / 20000;
  uint64_t shorts = (uint64_t)(2000 * scale) < 20 ? 20 : (uint64_t)(2000 * scale);
  if (case_wanted("head_of_line"))
    case_head_of_line(shorts, 2.0 * scale);
  if (case_wanted("respawn"))
    case_respawn(rss_mib, tasks >= 20000 ? 21 : 5);
  if (case_wanted("backpressure") || case_wanted("reorder_window"))
    case_backpressure((uint32_t)workers, seconds);
  for (size_t i = 0; json && i < nrows; i++)
    bench_print_json(&rows[i]);
  if (!json)
    bench_print_table("pool", params, nparams, rows, nrows);
  fflush(stdout);
  print_goals(rss_mib);
  for (size_t i = 0; i < nrows; i++)
    if (rows[i].status == BH_FAILED)
      return CLI_FAIL;
  return CLI_OK;
}
