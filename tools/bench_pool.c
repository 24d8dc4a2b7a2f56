/*
 * bench_pool.c: `ferry bench pool`: ferry's process pool against the
 * tools people use today, in one run, and the pool's goals as rows.
 *
 * Cases:
 *   noop_ordered  no-op tasks, results in submit order, one task per
 *                 hand-over: ferry's function workers (prefetch 0 and 1)
 *                 against multiprocessing Pool.imap(chunksize=1),
 *                 ProcessPoolExecutor.map(chunksize=1) and joblib/loky
 *                 (bench/pool_peers.py on /usr/bin/python3)
 *   exec_lines    a command per worker: ferry's exec workers speaking the
 *                 line protocol (cat) against a process per task: ferry
 *                 --per-task, GNU parallel and xargs -P (true)
 *   head_of_line  one long task and many 1 ms tasks on 4 workers, results
 *                 as they finish: makespan against the ideal
 *   respawn       SIGKILL of a worker to a task served by its replacement,
 *                 after the owner grew to --rss-mib MiB: with a spare,
 *                 without, and (for contrast) from a pool created after the
 *                 growth, whose fork server is as big
 *   backpressure  an endless task generator for --seconds: the owner's RSS
 *                 growth; ordered, with a stuck first task: the most
 *                 results held (must not exceed the window)
 *
 * With --json: one JSON object per line: rows (type "row": bench, impl,
 * case, workers, tasks, seconds, tasks_per_s, status, note, and the case's
 * own figure), then the goals (type "goal": goal, value, target, met).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#define PYTHON "/usr/bin/python3"
#define MAX_ROWS 32

const char cli_help_bench_pool[] =
    "usage: ferry bench pool [--tasks N] [--workers N] [--seconds S] [--rss-mib N]\n"
    "                        [--impl LIST] [--json]\n"
    "\n"
    "Measures ferry's process pool against multiprocessing Pool.imap and\n"
    "ProcessPoolExecutor.map (chunksize=1), joblib/loky, GNU parallel and\n"
    "xargs -P, and checks its goals: no-op ordered tasks, exec workers on the\n"
    "line protocol, head-of-line blocking, respawn cost after the owner grew,\n"
    "and flat memory under an endless input. --tasks per case (default 20000;\n"
    "a process per task gets a tenth), --workers (default 2), --seconds for the\n"
    "endless input (default 2), --rss-mib the owner's growth (default 1024;\n"
    "respawn: SIGKILL of a worker to a task served by its replacement),\n"
    "--impl to run only some implementations (comma-separated), --json for one\n"
    "object per line. Python runs on " PYTHON "; FERRY_SOURCE_DIR tells where\n"
    "bench/ is.\n";

struct row {
  char impl[32], kase[24], note[96];
  int workers;
  uint64_t tasks;
  double seconds, tasks_per_s;
  const char *status;
  const char *extra_key;
  double extra;
};

static struct row rows[MAX_ROWS];
static int nrows;
static const char *only;

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static bool wanted(const char *impl)
{
  if (!only)
    return true;
  size_t len = strlen(impl);
  for (const char *p = only; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == len && strncmp(p, impl, l) == 0)
      return true;
    p += l + (e != NULL);
  }
  return false;
}

static struct row *add_row(const char *impl, const char *kase, int workers, uint64_t tasks,
                           double secs)
{
  if (nrows >= MAX_ROWS)
    return NULL;
  struct row *r = &rows[nrows++];
  memset(r, 0, sizeof *r);
  snprintf(r->impl, sizeof r->impl, "%s", impl);
  snprintf(r->kase, sizeof r->kase, "%s", kase);
  r->workers = workers;
  r->tasks = tasks;
  r->seconds = secs;
  r->tasks_per_s = secs > 0 ? (double)tasks / secs : 0;
  r->status = secs > 0 ? "ok" : "failed";
  return r;
}

static const struct row *find(const char *impl, const char *kase)
{
  for (int i = 0; i < nrows; i++)
    if (strcmp(rows[i].impl, impl) == 0 && strcmp(rows[i].kase, kase) == 0 &&
        strcmp(rows[i].status, "ok") == 0)
      return &rows[i];
  return NULL;
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
  int64_t t0 = now_ns();
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
  return (double)(now_ns() - t0) / 1e9;
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
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL); /* let the workers start */
      secs = drive(p, tasks, make_noop, true);
      ferry_pool_close(p);
    }
    add_row(impl, "noop_ordered", (int)workers, tasks, secs);
  }
}

/* ---- peers in Python ------------------------------------------------------------------- */

static void script_path(const char *script, char *out, size_t cap)
{
  const char *env = getenv("FERRY_SOURCE_DIR");
  char src[PATH_MAX - 64];
  if (env && *env)
    snprintf(src, sizeof src, "%s", env);
  else {
    snprintf(src, sizeof src, "%s", __FILE__);
    for (int i = 0; i < 2; i++) {
      char *p = strrchr(src, '/');
      if (p)
        *p = 0;
      else
        snprintf(src, sizeof src, ".");
    }
  }
  snprintf(out, cap, "%s/bench/%s", src, script);
}

static void case_python(uint32_t workers, uint64_t tasks)
{
  static const char *const impls[] = {"pool-imap", "executor-map", "joblib-loky"};
  char path[PATH_MAX], cmd[PATH_MAX + 256];
  script_path("pool_peers.py", path, sizeof path);
  for (size_t i = 0; i < 3; i++) {
    if (!wanted(impls[i]))
      continue;
    struct row *r = add_row(impls[i], "noop_ordered", (int)workers, tasks, -1);
    if (!r)
      return;
    if (access(PYTHON, X_OK) || access(path, R_OK)) {
      r->status = "missing";
      snprintf(r->note, sizeof r->note, "%s or bench/pool_peers.py missing", PYTHON);
      continue;
    }
    snprintf(cmd, sizeof cmd, PYTHON " '%s' --impl %s --workers %u --tasks %llu 2>&1", path,
             impls[i], workers, (unsigned long long)tasks);
    fflush(NULL);
    FILE *f = popen(cmd, "r");
    char line[1024];
    double secs = -1;
    while (f && fgets(line, sizeof line, f)) {
      const char *s = strstr(line, "\"seconds\": ");
      if (s)
        secs = strtod(s + strlen("\"seconds\": "), NULL);
      else
        snprintf(r->note, sizeof r->note, "%.*s", (int)strcspn(line, "\n"), line);
    }
    int st = f ? pclose(f) : -1;
    if (st == 0 && secs > 0) {
      r->seconds = secs;
      r->tasks_per_s = (double)tasks / secs;
      r->status = "ok";
      r->note[0] = '\0';
    } else if (strstr(r->note, "No module named")) {
      r->status = "missing";
    }
  }
}

/* ---- exec workers and per-process tools ---------------------------------------------- */

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
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  double secs = drive(p, tasks, make_noop_line, true);
  ferry_pool_close(p);
  return secs;
}

static double shell_time(const char *cmd)
{
  fflush(NULL);
  int64_t t0 = now_ns();
  int st = system(cmd);
  double secs = (double)(now_ns() - t0) / 1e9;
  return st == 0 ? secs : -1;
}

static void case_exec(uint32_t workers, uint64_t tasks, uint64_t proc_tasks)
{
  if (wanted("ferry-exec"))
    add_row("ferry-exec", "exec_lines", (int)workers, tasks, exec_pool(workers, tasks, false));
  if (wanted("ferry-per-task"))
    add_row("ferry-per-task", "exec_lines", (int)workers, proc_tasks,
            exec_pool(workers, proc_tasks, true));
  char cmd[256];
  if (wanted("gnu-parallel")) {
    snprintf(cmd, sizeof cmd, "seq %llu | parallel -j %u true >/dev/null 2>&1",
             (unsigned long long)proc_tasks, workers);
    bool have = system("command -v parallel >/dev/null 2>&1") == 0;
    struct row *r = add_row("gnu-parallel", "exec_lines", (int)workers, proc_tasks,
                            have ? shell_time(cmd) : -1);
    if (r && !have) {
      r->status = "missing";
      snprintf(r->note, sizeof r->note, "GNU parallel not installed (Debian: parallel)");
    }
  }
  if (wanted("xargs-P")) {
    snprintf(cmd, sizeof cmd, "seq %llu | xargs -P %u -n 1 true >/dev/null 2>&1",
             (unsigned long long)proc_tasks, workers);
    add_row("xargs-P", "exec_lines", (int)workers, proc_tasks, shell_time(cmd));
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
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    secs = drive(p, shorts + 1, make_hol, false);
    ferry_pool_close(p);
  }
  double ideal = (double)shorts * hol_short_us / 1e6 / w + long_s / w;
  if (ideal < long_s)
    ideal = long_s;
  struct row *r = add_row("ferry", "head_of_line", (int)w, shorts + 1, secs);
  if (r) {
    r->extra_key = "ideal_s";
    r->extra = ideal;
    snprintf(r->note, sizeof r->note, "one %.2f s task + %llu x %u us", long_s,
             (unsigned long long)shorts, hol_short_us);
  }
}

static ssize_t pid_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)task;
  (void)len;
  (void)cap;
  int32_t pid = (int32_t)getpid();
  memcpy(out, &pid, sizeof pid);
  return sizeof pid;
}

static int cmp_dbl(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static pid_t ask_pid(ferry_pool *p)
{
  ferry_pool_result r;
  int32_t pid = 0;
  if (ferry_pool_submit(p, "p", 1, NULL, FERRY_SEC, NULL) || ferry_pool_next(p, &r, 10 * FERRY_SEC) ||
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
    struct timespec ts = {0, 30 * 1000 * 1000}; /* a spare, if any, is up again */
    nanosleep(&ts, NULL);
    int64_t t0 = now_ns();
    kill(a, SIGKILL);
    pid_t b = ask_pid(p);
    if (b <= 0 || b == a)
      return -1;
    lat[n++] = (double)(now_ns() - t0) / 1e3;
  }
  qsort(lat, (size_t)n, sizeof lat[0], cmp_dbl);
  return n ? lat[n / 2] : -1;
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

static void case_respawn(uint64_t rss_mib, int rounds)
{
  if (!wanted("ferry"))
    return;
  /* pools made while the owner is small... */
  ferry_pool *spare = respawn_pool(1), *plain = respawn_pool(0);
  size_t bytes = (size_t)rss_mib << 20;
  char *big = malloc(bytes ? bytes : 1);
  if (!big || !spare || !plain) {
    free(big);
    ferry_pool_close(spare);
    ferry_pool_close(plain);
    add_row("ferry", "respawn", 1, 0, -1);
    return;
  }
  memset(big, 1, bytes); /* resident now */
  double us_spare = respawn_median_us(spare, rounds), us_plain = respawn_median_us(plain, rounds);
  ferry_pool_close(spare);
  ferry_pool_close(plain);
  /* ...and one made after the growth, whose fork server is as big */
  ferry_pool *late = respawn_pool(0);
  double us_late = late ? respawn_median_us(late, rounds) : -1;
  ferry_pool_close(late);
  free(big);
  static const char *const what[] = {"1 spare", "no spare", "no spare, pool created after growing"};
  const double us[] = {us_spare, us_plain, us_late};
  const char *impl[] = {"ferry", "ferry-no-spare", "ferry-late-pool"};
  for (int i = 0; i < 3; i++) {
    struct row *r = add_row(impl[i], "respawn", 1, (uint64_t)rounds, us[i] < 0 ? -1 : 1);
    if (!r)
      return;
    r->seconds = 0;
    r->tasks_per_s = 0;
    r->extra_key = "respawn_us";
    r->extra = us[i];
    snprintf(r->note, sizeof r->note, "owner %llu MiB resident; %s; kill to served, median",
             (unsigned long long)rss_mib, what[i]);
  }
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

static void case_backpressure(uint32_t workers, double seconds)
{
  if (!wanted("ferry"))
    return;
  ferry_pool *p = function_pool(workers, 0, 0, noop_fn, 0);
  if (!p) {
    add_row("ferry", "backpressure", (int)workers, 0, -1);
    return;
  }
  uint8_t buf[8];
  uint64_t sub = 0, got = 0;
  long rss0 = -1, peak = 0;
  int64_t t0 = now_ns(), end = t0 + (int64_t)(seconds * 1e9), warm = t0 + (int64_t)(seconds * 1e8);
  while (now_ns() < end) { /* an endless generator: as fast as the pool takes it */
    make_noop(sub, buf);
    int rc = ferry_pool_submit(p, buf, 8, NULL, 0, NULL);
    if (rc == 0)
      sub++;
    ferry_pool_result r;
    while (ferry_pool_next(p, &r, 0) == 0)
      got++;
    if (rc == -EAGAIN)
      ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT | FERRY_POOL_HAS_RESULT, 10 * FERRY_MSEC);
    if (rss0 < 0 && now_ns() > warm)
      rss0 = rss_kib();
    if ((sub & 1023) == 0) {
      long k = rss_kib();
      if (k > peak)
        peak = k;
    }
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  ferry_pool_close(p);
  struct row *r = add_row("ferry", "backpressure", (int)workers, got, secs);
  if (r) {
    r->extra_key = "rss_growth_kib";
    r->extra = rss0 >= 0 && peak >= rss0 ? (double)(peak - rss0) : 0;
    snprintf(r->note, sizeof r->note, "endless input; %llu submitted", (unsigned long long)sub);
  }
  /* ordered, first task stuck: results pile up only to the window */
  sleep_us_for_task0 = (int64_t)(seconds * 1e6 / 2);
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.workers = workers;
  o.fn = sleep_fn;
  o.flags = FERRY_POOL_ORDERED;
  o.window = 64;
  o.queue_size = 64;
  uint32_t held = 0;
  if (ferry_pool_create(NULL, &o, &p) == 0) {
    hol_short_us = 0;
    uint8_t t[12];
    uint64_t i = 0;
    int64_t stop = now_ns() + (int64_t)(seconds * 1e9 / 4);
    while (now_ns() < stop) {
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
  r = add_row("ferry", "reorder_window", (int)workers, 0, held ? 1 : -1);
  if (r) {
    r->seconds = 0;
    r->tasks_per_s = 0;
    r->extra_key = "max_held";
    r->extra = held;
    snprintf(r->note, sizeof r->note, "ordered, first task stuck; window %u", o.window);
  }
}

/* ---- output ------------------------------------------------------------------------------ */

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

struct goal {
  const char *name;
  double value, target;
  bool at_most; /* value <= target, else value >= target */
  bool known;
};

static int make_goals(struct goal *g, uint64_t rss_mib)
{
  int n = 0;
  const struct row *f = find("ferry", "noop_ordered"), *f1 = find("ferry-prefetch1", "noop_ordered");
  if (f1 && (!f || f1->tasks_per_s > f->tasks_per_s))
    f = f1;
  const struct row *ex = find("executor-map", "noop_ordered"), *im = find("pool-imap", "noop_ordered");
  g[n++] = (struct goal){"noop_ordered ferry / ProcessPoolExecutor.map", f && ex ? f->tasks_per_s / ex->tasks_per_s : 0, 10, false, f && ex};
  g[n++] = (struct goal){"noop_ordered ferry / Pool.imap", f && im ? f->tasks_per_s / im->tasks_per_s : 0, 3, false, f && im};
  const struct row *fe = find("ferry-exec", "exec_lines"), *gp = find("gnu-parallel", "exec_lines");
  g[n++] = (struct goal){"exec_lines ferry-exec / GNU parallel", fe && gp ? fe->tasks_per_s / gp->tasks_per_s : 0, 100, false, fe && gp};
  const struct row *h = find("ferry", "head_of_line");
  g[n++] = (struct goal){"head_of_line makespan / ideal", h ? h->seconds / h->extra : 0, 1.05, true, h != NULL};
  const struct row *rs = find("ferry", "respawn");
  static char rname[64];
  snprintf(rname, sizeof rname, "respawn_ms with the owner at %llu MiB", (unsigned long long)rss_mib);
  g[n++] = (struct goal){rname, rs ? rs->extra / 1000 : 0, 1, true, rs && rs->extra >= 0};
  const struct row *bp = find("ferry", "backpressure");
  g[n++] = (struct goal){"backpressure owner RSS growth (MiB)", bp ? bp->extra / 1024 : 0, 4, true, bp != NULL};
  const struct row *rw = find("ferry", "reorder_window");
  g[n++] = (struct goal){"reorder_window results held / window", rw ? rw->extra / 64 : 0, 1, true, rw != NULL};
  return n;
}

int ferry_tool_bench_pool(int argc, char **argv)
{
  cli_args a;
  cli_args_init(&a, "bench", argc, argv);
  uint64_t tasks = 20000, workers = 2, rss_mib = 1024;
  int64_t seconds_ns = 2 * FERRY_SEC;
  bool json = false;
  const char *v;
  int rc;
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return cli_print_help(cli_help_bench_pool);
    if (cli_args_flag(&a, "--json"))
      json = true;
    else if ((rc = cli_args_value(&a, "--tasks", &v))) {
      if (rc < 0 || !cli_parse_u64(v, 10, 100000000, &tasks))
        return rc < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --tasks '%s'", v);
    } else if ((rc = cli_args_value(&a, "--workers", &v))) {
      if (rc < 0 || !cli_parse_u64(v, 1, 256, &workers))
        return rc < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --workers '%s'", v);
    } else if ((rc = cli_args_value(&a, "--rss-mib", &v))) {
      if (rc < 0 || !cli_parse_u64(v, 0, 1 << 20, &rss_mib))
        return rc < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --rss-mib '%s'", v);
    } else if ((rc = cli_args_value(&a, "--seconds", &v))) {
      if (rc < 0 || !cli_parse_seconds(v, &seconds_ns) || seconds_ns == 0)
        return rc < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --seconds '%s'", v);
    } else if ((rc = cli_args_value(&a, "--impl", &v))) {
      if (rc < 0)
        return CLI_USAGE;
      only = v;
    } else
      return cli_args_unknown(&a);
  }
  double seconds = (double)seconds_ns / 1e9;
  uint64_t proc_tasks = tasks / 10 < 10 ? 10 : tasks / 10;
  nrows = 0;
  case_noop((uint32_t)workers, tasks);
  case_python((uint32_t)workers, tasks);
  case_exec((uint32_t)workers, tasks, proc_tasks);
  /* head of line: 2 s + 2000 x 1 ms at the default --tasks, scaled down with it */
  double scale = tasks >= 20000 ? 1.0 : (double)tasks / 20000;
  case_head_of_line((uint64_t)(2000 * scale) < 20 ? 20 : (uint64_t)(2000 * scale), 2.0 * scale);
  case_respawn(rss_mib, tasks >= 20000 ? 21 : 5);
  case_backpressure((uint32_t)workers, seconds);
  struct goal goals[8];
  int ng = make_goals(goals, rss_mib);
  if (json) {
    for (int i = 0; i < nrows; i++) {
      const struct row *r = &rows[i];
      printf("{\"type\":\"row\",\"bench\":\"pool\",\"impl\":");
      json_str(r->impl);
      printf(",\"case\":");
      json_str(r->kase);
      printf(",\"workers\":%d,\"tasks\":%llu,\"seconds\":%.6f,\"tasks_per_s\":%.2f,\"status\":",
             r->workers, (unsigned long long)r->tasks, r->seconds > 0 ? r->seconds : 0,
             r->tasks_per_s);
      json_str(r->status);
      printf(",\"note\":");
      json_str(r->note);
      if (r->extra_key)
        printf(",\"%s\":%.3f", r->extra_key, r->extra);
      printf("}\n");
    }
    for (int i = 0; i < ng; i++) {
      printf("{\"type\":\"goal\",\"bench\":\"pool\",\"goal\":");
      json_str(goals[i].name);
      if (goals[i].known)
        printf(",\"value\":%.3f,\"target\":%s%.2f,\"met\":%s}\n", goals[i].value,
               "", goals[i].target,
               (goals[i].at_most ? goals[i].value <= goals[i].target
                                 : goals[i].value >= goals[i].target)
                   ? "true"
                   : "false");
      else
        printf(",\"value\":null,\"target\":%.2f,\"met\":null}\n", goals[i].target);
    }
  } else {
    printf("%-16s %-14s %7s %9s %9s %13s  %s\n", "IMPL", "CASE", "WORKERS", "TASKS", "SECONDS",
           "TASKS/S", "NOTE");
    for (int i = 0; i < nrows; i++) {
      const struct row *r = &rows[i];
      char extra[48] = "";
      if (r->extra_key)
        snprintf(extra, sizeof extra, "%s=%.2f ", r->extra_key, r->extra);
      printf("%-16s %-14s %7d %9llu %9.3f %13.0f  %s%s%s%s\n", r->impl, r->kase, r->workers,
             (unsigned long long)r->tasks, r->seconds, r->tasks_per_s, extra,
             strcmp(r->status, "ok") ? r->status : "", strcmp(r->status, "ok") ? ": " : "",
             r->note);
    }
    printf("\ngoals:\n");
    for (int i = 0; i < ng; i++) {
      if (!goals[i].known)
        printf("  %-48s   n/a (a row is missing)\n", goals[i].name);
      else
        printf("  %-48s %8.2f (%s %.2f) %s\n", goals[i].name, goals[i].value,
               goals[i].at_most ? "<=" : ">=", goals[i].target,
               (goals[i].at_most ? goals[i].value <= goals[i].target
                                 : goals[i].value >= goals[i].target)
                   ? "met"
                   : "NOT met");
    }
  }
  for (int i = 0; i < nrows; i++)
    if (strcmp(rows[i].status, "failed") == 0)
      return CLI_FAIL;
  return CLI_OK;
}
