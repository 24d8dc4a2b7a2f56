/*
 * bench_hd.c: `ferry bench heap` and `ferry bench dict`: ferry's shared
 * heap and dict against the project's Python versions of the seed designs
 * (bench/heap_manager.py: a heapq heap served by a BaseManager, seed 003;
 * bench/dict_manager.py: Manager().dict(), seed 001), run in the same
 * invocation on /usr/bin/python3 with the same number of worker processes.
 *
 * Cases: heap_pop_push (each worker pops a record and pushes it back with a
 * new key: one pair = one op; the heap starts with --records records),
 * dict_set (64-byte values over 10,000 keys) and dict_get (the same keys,
 * set beforehand). Workers are forked processes; the clock starts once all
 * have opened the region and stops when they are told to stop; ops/s is
 * the total over all workers.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_hd.h"

#define PYTHON "/usr/bin/python3"
#define MAX_WORKERS 64
#define MAX_ROWS 8
#define DICT_KEYS 10000
#define DICT_VALUE 64

const char cli_help_bench_hd[] =
    "usage: ferry bench heap|dict [--seconds S] [--workers N] [--records N]\n"
    "                            [--impl ferry,python-manager] [--json] [--svg FILE]\n"
    "\n"
    "heap  pop+push pairs/s of N workers on a heap of --records records (default\n"
    "      300000): ferry's heap against bench/heap_manager.py (heapq behind a\n"
    "      multiprocessing BaseManager, seed 003)\n"
    "dict  set/s and get/s of N workers, 64-byte values over 10,000 keys:\n"
    "      ferry's dict against bench/dict_manager.py (Manager().dict(), seed 001)\n"
    "Options: --seconds per case (default 1), --workers (default 2), --impl to\n"
    "run only some implementations, --json for one object per line (impl, case,\n"
    "workers, ops_per_s), --svg FILE for a bar chart. Python runs on\n"
    PYTHON "; FERRY_SOURCE_DIR tells where bench/ is.\n";

struct row {
  char impl[24], kase[24];
  int workers;
  double ops_per_s;
};

struct ctl {
  _Atomic uint32_t go, stop, ready;
  _Atomic uint64_t ops;
};

enum which { W_HEAP, W_DICT };

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static void nap(int64_t ns)
{
  struct timespec ts = {(time_t)(ns / FERRY_SEC), (long)(ns % FERRY_SEC)};
  nanosleep(&ts, NULL);
}

static bool in_list(const char *list, const char *name)
{
  if (!list)
    return true;
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == len && strncmp(p, name, l) == 0)
      return true;
    p += l + (e != NULL);
  }
  return false;
}

static void key_name(char *k, size_t cap, uint64_t i) { snprintf(k, cap, "key-%" PRIu64, i % DICT_KEYS); }

/* One worker of a ferry case; returns an exit status. */
static int ferry_worker(const char *name, const char *kase, struct ctl *c, int w)
{
  ferry_heap *h = NULL;
  ferry_dict *d = NULL;
  int rc = strcmp(kase, "heap_pop_push") == 0 ? ferry_heap_open(name, NULL, &h)
                                                : ferry_dict_open(name, NULL, &d);
  if (rc)
    return 2;
  atomic_fetch_add(&c->ready, 1);
  /* acquire: pairs with the parent's release store of go */
  while (!atomic_load_explicit(&c->go, memory_order_acquire))
    ;
  uint64_t n = 0, x = (uint64_t)w * 7919 + 1;
  char key[32], val[DICT_VALUE];
  memset(val, 'v', sizeof val);
  int status = 0;
  bool set = strcmp(kase, "dict_set") == 0;
  while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
    if (h) {
      uint64_t rec[2];
      ferry_heap_key k;
      ssize_t r = ferry_heap_pop(h, &k, rec, sizeof rec, 0);
      if (r == -EAGAIN)
        continue;
      if (r < 0) {
        status = 3;
        break;
      }
      x = x * 6364136223846793005u + 1442695040888963407u;
      k.i64 = (int64_t)(1 + (x >> 33) % 100) * (int64_t)(1 + (x >> 45) % 100) *
              (int64_t)(1 + (x >> 55) % 100);
      if (ferry_heap_push(h, k, rec, (size_t)r, FERRY_FOREVER) != 0) {
        status = 4;
        break;
      }
    } else {
      key_name(key, sizeof key, x++);
      ssize_t r = set ? ferry_dict_set(d, key, strlen(key), val, sizeof val, FERRY_FOREVER)
                      : ferry_dict_get(d, key, strlen(key), val, sizeof val);
      if (r < 0) {
        status = 5;
        break;
      }
    }
    n++;
  }
  atomic_fetch_add(&c->ops, n);
  ferry_heap_close(h);
  ferry_dict_close(d);
  return status;
}

static int run_ferry(const char *kase, int workers, int64_t seconds, uint64_t records,
                     struct row *out)
{
  char name[FERRY_NAME_MAX + 1];
  snprintf(name, sizeof name, "bench-hd-%ld", (long)getpid());
  struct ctl *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (c == MAP_FAILED)
    return -errno;
  memset(c, 0, sizeof *c);
  ferry_heap *h = NULL;
  ferry_dict *d = NULL;
  int rc;
  if (strcmp(kase, "heap_pop_push") == 0) {
    ferry_heap_options o;
    ferry_heap_options_init(&o);
    o.capacity = records;
    o.flags = FERRY_HEAP_FIXED;
    o.max_payload = 16;
    o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
    rc = ferry_heap_create(name, &o, &h);
    for (uint64_t i = 0; rc == 0 && i < records; i++) {
      uint64_t rec[2] = {i, 0}, x = i * 2654435761u;
      ferry_heap_key k = {.i64 = (int64_t)(1 + x % 100) * (int64_t)(1 + (x >> 8) % 100) *
                                 (int64_t)(1 + (x >> 16) % 100)};
      rc = ferry_heap_push(h, k, rec, sizeof rec, FERRY_FOREVER);
    }
  } else {
    ferry_dict_options o;
    ferry_dict_options_init(&o);
    o.capacity = DICT_KEYS * 2;
    o.max_value = DICT_VALUE;
    o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
    rc = ferry_dict_create(name, &o, &d);
    char key[32], val[DICT_VALUE];
    memset(val, 'v', sizeof val);
    for (uint64_t i = 0; rc == 0 && i < DICT_KEYS; i++) {
      key_name(key, sizeof key, i);
      rc = ferry_dict_set(d, key, strlen(key), val, sizeof val, FERRY_FOREVER);
    }
  }
  pid_t kids[MAX_WORKERS];
  int started = 0;
  fflush(NULL);
  for (; rc == 0 && started < workers; started++) {
    if ((kids[started] = fork()) < 0) {
      rc = -errno;
      break;
    }
    if (kids[started] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      _exit(ferry_worker(name, kase, c, started));
    }
  }
  int64_t until = now_ns() + 10 * FERRY_SEC;
  while (rc == 0 && atomic_load(&c->ready) < (uint32_t)started && now_ns() < until)
    nap(FERRY_MSEC / 2);
  int64_t t0 = now_ns();
  /* release: pairs with the workers' acquire load of go */
  atomic_store_explicit(&c->go, 1, memory_order_release);
  if (rc == 0)
    nap(seconds);
  atomic_store(&c->stop, 1);
  atomic_store(&c->go, 1);
  int bad = 0;
  for (int w = 0; w < started; w++) {
    int st;
    while (waitpid(kids[w], &st, 0) < 0 && errno == EINTR)
      ;
    bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  ferry_heap_close(h);
  ferry_dict_close(d);
  ferry_unlink(name);
  if (rc == 0 && bad)
    rc = -EPROTO;
  if (rc == 0) {
    snprintf(out->impl, sizeof out->impl, "ferry");
    snprintf(out->kase, sizeof out->kase, "%s", kase);
    out->workers = workers;
    out->ops_per_s = (double)atomic_load(&c->ops) / secs;
  } else {
    cli_error("bench", rc, "ferry %s", kase);
  }
  munmap(c, sizeof *c);
  return rc;
}

/* bench/<script> in the source tree: FERRY_SOURCE_DIR, else this file's
 * directory's parent (CMake compiles by absolute path). */
static void script_path(const char *script, char *out, size_t cap)
{
  const char *env = getenv("FERRY_SOURCE_DIR");
  char src[PATH_MAX - 64];
  if (env && *env) {
    snprintf(src, sizeof src, "%s", env);
  } else {
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

/* Runs a Python script; adds a row per JSON line it prints. */
static int run_python(const char *script, const char *args, struct row *rows, int *n)
{
  char path[PATH_MAX], cmd[PATH_MAX + 256];
  script_path(script, path, sizeof path);
  if (access(PYTHON, X_OK) != 0 || access(path, R_OK) != 0) {
    cli_error("bench", -ENOENT, "%s or %s missing: no python-manager results", PYTHON, path);
    return -ENOENT;
  }
  snprintf(cmd, sizeof cmd, PYTHON " '%s' %s", path, args);
  fflush(NULL);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -errno;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, p)) {
    const char *o = strstr(line, "\"ops_per_s\":"), *k = strstr(line, "\"case\":\"");
    if (!o || !k || *n >= MAX_ROWS)
      continue;
    struct row *r = &rows[(*n)++];
    snprintf(r->impl, sizeof r->impl, "python-manager");
    k += strlen("\"case\":\"");
    size_t l = strcspn(k, "\"");
    snprintf(r->kase, sizeof r->kase, "%.*s", (int)l, k);
    const char *w = strstr(line, "\"workers\":");
    r->workers = w ? atoi(w + strlen("\"workers\":")) : 0;
    r->ops_per_s = strtod(o + strlen("\"ops_per_s\":"), NULL);
    found++;
  }
  int st = pclose(p);
  if (!found || st != 0) {
    cli_error("bench", -EIO, "%s %s failed", PYTHON, path);
    return -EIO;
  }
  return 0;
}

static void write_svg(const char *path, const struct row *r, int n, const char *what)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    cli_error("bench", -errno, "%s", path);
    return;
  }
  double max = 1;
  for (int i = 0; i < n; i++)
    if (r[i].ops_per_s > max)
      max = r[i].ops_per_s;
  int bar_h = 26, gap = 10, left = 250, width = 420;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "font-family=\"sans-serif\" font-size=\"13\">\n",
          left + width + 170, 50 + n * (bar_h + gap));
  fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"15\">ferry bench %s: ops/s (longer is "
             "better)</text>\n", what);
  for (int i = 0; i < n; i++) {
    int y = 40 + i * (bar_h + gap), w = (int)(r[i].ops_per_s / max * width);
    fprintf(f, "<text x=\"10\" y=\"%d\">%s %s (%d)</text>\n", y + 18, r[i].impl, r[i].kase,
            r[i].workers);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", left, y,
            w < 1 ? 1 : w, bar_h, strcmp(r[i].impl, "ferry") == 0 ? "#2b7bb9" : "#d9822b");
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.0f/s</text>\n", left + w + 6, y + 18, r[i].ops_per_s);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

static const struct row *find_row(const struct row *r, int n, const char *impl, const char *kase)
{
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].impl, impl) == 0 && strcmp(r[i].kase, kase) == 0)
      return &r[i];
  return NULL;
}

static int bench_hd(int argc, char **argv, enum which which)
{
  const char *verb = which == W_HEAP ? "bench heap" : "bench dict";
  int64_t seconds = FERRY_SEC;
  uint64_t workers = 2, records = 300000;
  const char *impls = NULL, *svg = NULL, *v;
  bool json = false;
  int rc;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_bench_hd);
    } else if (cli_args_flag(&a, "--json")) {
      json = true;
    } else if ((rc = cli_args_value(&a, "--seconds", &v)) != 0) {
      if (rc < 0 || !cli_parse_seconds(v, &seconds) || seconds == 0)
        return rc < 0 ? CLI_USAGE : cli_usage_error(verb, "bad --seconds '%s'", v);
    } else if ((rc = cli_args_value(&a, "--workers", &v)) != 0) {
      if (rc < 0 || !cli_parse_u64(v, 1, MAX_WORKERS, &workers))
        return rc < 0 ? CLI_USAGE : cli_usage_error(verb, "bad --workers '%s' (1..64)", v);
    } else if ((rc = cli_args_value(&a, "--records", &v)) != 0) {
      if (rc < 0 || !cli_parse_u64(v, 1, 10000000, &records))
        return rc < 0 ? CLI_USAGE : cli_usage_error(verb, "bad --records '%s'", v);
    } else if ((rc = cli_args_value(&a, "--impl", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      impls = v;
    } else if ((rc = cli_args_value(&a, "--svg", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      svg = v;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  static const char *const heap_cases[] = {"heap_pop_push", NULL};
  static const char *const dict_cases[] = {"dict_set", "dict_get", NULL};
  const char *const *cases = which == W_HEAP ? heap_cases : dict_cases;
  struct row rows[MAX_ROWS];
  memset(rows, 0, sizeof rows);
  int n = 0, failed = 0;
  if (in_list(impls, "ferry"))
    for (const char *const *k = cases; *k; k++)
      failed |= run_ferry(*k, (int)workers, seconds, records, &rows[n]) == 0 ? (n++, 0) : 1;
  if (in_list(impls, "python-manager")) {
    char args[128];
    if (which == W_HEAP)
      snprintf(args, sizeof args, "--seconds %g --workers %d --records %" PRIu64,
               (double)seconds / 1e9, (int)workers, records);
    else
      snprintf(args, sizeof args, "--seconds %g --workers %d", (double)seconds / 1e9,
               (int)workers);
    failed |= run_python(which == W_HEAP ? "heap_manager.py" : "dict_manager.py", args, rows,
                         &n) != 0;
  }
  if (!json)
    printf("%-16s %-14s %7s %14s %12s\n", "IMPL", "CASE", "WORKERS", "OPS/S", "FERRY/PY");
  for (int i = 0; i < n; i++) {
    if (json) {
      printf("{\"impl\":\"%s\",\"case\":\"%s\",\"workers\":%d,\"ops_per_s\":%.2f}\n",
             rows[i].impl, rows[i].kase, rows[i].workers, rows[i].ops_per_s);
      continue;
    }
    const struct row *f = find_row(rows, n, "ferry", rows[i].kase),
                     *p = find_row(rows, n, "python-manager", rows[i].kase);
    char ratio[32] = "-";
    if (f && p && p->ops_per_s > 0 && &rows[i] == f)
      snprintf(ratio, sizeof ratio, "%.1fx", f->ops_per_s / p->ops_per_s);
    printf("%-16s %-14s %7d %14.0f %12s\n", rows[i].impl, rows[i].kase, rows[i].workers,
           rows[i].ops_per_s, ratio);
  }
  fflush(stdout);
  /* The goals, on stderr so --json stays clean. */
  static const struct {
    const char *kase;
    double goal;
  } goals[] = {{"heap_pop_push", 100}, {"dict_set", 100}, {"dict_get", 500}};
  for (size_t i = 0; i < sizeof goals / sizeof goals[0]; i++) {
    const struct row *f = find_row(rows, n, "ferry", goals[i].kase),
                     *p = find_row(rows, n, "python-manager", goals[i].kase);
    if (f && p && p->ops_per_s > 0)
      fprintf(stderr, "ratio %s ferry/python-manager: %.1f (goal >= %.0f)\n", goals[i].kase,
              f->ops_per_s / p->ops_per_s, goals[i].goal);
  }
  if (svg)
    write_svg(svg, rows, n, which == W_HEAP ? "heap" : "dict");
  return failed ? CLI_FAIL : CLI_OK;
}

int ferry_tool_bench_heap(int argc, char **argv) { return bench_hd(argc, argv, W_HEAP); }

int ferry_tool_bench_dict(int argc, char **argv) { return bench_hd(argc, argv, W_DICT); }
