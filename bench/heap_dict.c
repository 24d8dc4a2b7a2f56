/* SPDX-License-Identifier: MIT */
/*
 * heap_dict.c: `ferry bench heap` and `ferry bench dict`: ferry's shared
 * heap and dict against the project's Python versions of the usual designs
 * (heap_manager.py: a heapq heap served by a BaseManager process;
 * dict_manager.py: Manager().dict()), run in the same invocation on
 * /usr/bin/python3 with the same number of worker processes.
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

#include "bench.h"

#define MAX_WORKERS 64
#define MAX_ROWS 8
#define MAX_REPS 15
#define DICT_KEYS 10000
#define DICT_VALUE 64
#define DICT_KEY_CAP 16 /* "key-9999" and its NUL */

const char bench_help_hd[] =
    "usage: ferry bench heap|dict [--seconds S] [--workers N] [--records N]\n"
    "                             [--impl ferry,python-manager] [--reps N]\n"
    "                             [--json] [--peers-dir DIR]\n"
    "\n"
    "heap  pop+push pairs/s of N workers on a heap of --records records (default\n"
    "      300000): ferry's heap against heap_manager.py (a heapq heap behind a\n"
    "      multiprocessing BaseManager process)\n"
    "dict  set/s and get/s of N workers, 64-byte values over 10,000 keys:\n"
    "      ferry's dict against dict_manager.py (Manager().dict())\n"
    "\n"
    "Options:\n"
    "  --seconds S      measured length of each case (default 1)\n"
    "  --workers N      worker processes, 1 to 64 (default 2)\n"
    "  --records N      records in the heap (heap only; default 300000)\n"
    "  --impl a,b       only these implementations\n"
    "  --reps N         rounds, 1 to 15 (default 1), each running every\n"
    "                   implementation in turn: the value is the median of\n"
    "                   the rounds, min and max go with it, and each round's\n"
    "                   ratio goes to stderr\n"
    "  --json           one JSON object per line instead of the table\n"
    "  --peers-dir DIR  where the Python scripts are (default: bench-peers/\n"
    "                   next to ferry-bench)\n"
    "  -h, --help\n"
    "Python runs on /usr/bin/python3; the goals' ratios go to stderr.\n";

struct ctl {
  _Atomic uint32_t go, stop, ready;
  _Atomic uint64_t ops;
};

enum which { W_HEAP, W_DICT };

static void set_row(bench_result *r, const char *bench, const char *impl, const char *kase,
                    int workers, double ops_per_s)
{
  memset(r, 0, sizeof *r);
  r->bench = bench;
  snprintf(r->impl, sizeof r->impl, "%s", impl);
  snprintf(r->kase, sizeof r->kase, "%s", kase);
  r->status = BH_OK;
  r->unit = "ops/s";
  r->value = ops_per_s;
  bench_param(r, "workers", workers);
}

/* Writes key i ("key-<i mod DICT_KEYS>") into k; returns its length. */
static size_t key_name(char *k, size_t cap, uint64_t i)
{
  int n = snprintf(k, cap, "key-%" PRIu64, i % DICT_KEYS);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

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
  char val[DICT_VALUE];
  memset(val, 'v', sizeof val);
  int status = 0;
  bool set = strcmp(kase, "dict_set") == 0;
  /* The keys are made before the clock starts, as dict_manager.py makes
   * its list of keys: the loop measures the dict, not snprintf. */
  static char keys[DICT_KEYS][DICT_KEY_CAP];
  static size_t klens[DICT_KEYS];
  if (d)
    for (uint64_t i = 0; i < DICT_KEYS; i++)
      klens[i] = key_name(keys[i], sizeof keys[i], i);
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
      uint64_t k = x++ % DICT_KEYS;
      ssize_t r = set ? ferry_dict_set(d, keys[k], klens[k], val, sizeof val, FERRY_FOREVER)
                      : ferry_dict_get(d, keys[k], klens[k], val, sizeof val);
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

static int run_ferry(const char *bench, const char *kase, int workers, int64_t seconds,
                     uint64_t records, bench_result *out)
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
    char key[DICT_KEY_CAP], val[DICT_VALUE];
    memset(val, 'v', sizeof val);
    for (uint64_t i = 0; rc == 0 && i < DICT_KEYS; i++) {
      size_t kl = key_name(key, sizeof key, i);
      rc = ferry_dict_set(d, key, kl, val, sizeof val, FERRY_FOREVER);
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
  int64_t until = cli_now_ns() + 10 * FERRY_SEC;
  while (rc == 0 && atomic_load(&c->ready) < (uint32_t)started && cli_now_ns() < until)
    cli_nap(FERRY_MSEC / 2);
  int64_t t0 = cli_now_ns();
  /* release: pairs with the workers' acquire load of go */
  atomic_store_explicit(&c->go, 1, memory_order_release);
  if (rc == 0)
    cli_nap(seconds);
  atomic_store(&c->stop, 1);
  atomic_store(&c->go, 1);
  int bad = 0;
  for (int w = 0; w < started; w++) {
    int st;
    while (waitpid(kids[w], &st, 0) < 0 && errno == EINTR)
      ;
    bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  double secs = (double)(cli_now_ns() - t0) / 1e9;
  ferry_heap_close(h);
  ferry_dict_close(d);
  ferry_unlink(name);
  if (rc == 0 && bad)
    rc = -EPROTO;
  if (rc == 0)
    set_row(out, bench, "ferry", kase, workers, (double)atomic_load(&c->ops) / secs);
  else
    cli_error("bench", rc, "ferry %s", kase);
  munmap(c, sizeof *c);
  return rc;
}

struct py_rows {
  const char *bench;
  bench_result *rows;
  int *n;
  int found;
};

static void take_python(const cli_jobject *o, void *arg)
{
  struct py_rows *p = arg;
  const char *kase = cli_jobject_str(o, "case");
  double ops = cli_jobject_num(o, "ops_per_s"), workers = cli_jobject_num(o, "workers");
  if (!kase || !(ops > 0) || !(workers >= 1) || *p->n >= MAX_ROWS)
    return;
  set_row(&p->rows[(*p->n)++], p->bench, "python-manager", kase, (int)workers, ops);
  p->found++;
}

/* Runs a Python script; adds a row per result line it prints. Out of
 * line: inlined, GCC 12's -Warray-bounds (at -O3) loses sight of the NULL
 * that ends `args` and rejects the copy below. */
static __attribute__((noinline)) int run_python(const char *bench, const char *peers, const char *script, char **args,
                      double timeout_s, bench_result *rows, int *n)
{
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", peers, script);
  if (access(BENCH_PYTHON, X_OK) != 0 || access(path, R_OK) != 0) {
    cli_error("bench", -ENOENT, "%s or %s missing: no python-manager results", BENCH_PYTHON,
              path);
    return -ENOENT;
  }
  char *argv[16] = {BENCH_PYTHON, path};
  int k = 2;
  for (; args[k - 2] && k < 15; k++)
    argv[k] = args[k - 2];
  argv[k] = NULL;
  int st;
  char *out = bench_run_capture(argv, timeout_s, &st);
  struct py_rows p = {bench, rows, n, 0};
  bench_each_object(out, take_python, &p);
  free(out);
  if (!p.found || st != 0) {
    cli_error("bench", -EIO, "%s %s failed", BENCH_PYTHON, path);
    return -EIO;
  }
  return 0;
}

static const bench_result *find_row(const bench_result *r, int n, const char *impl,
                                    const char *kase)
{
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].impl, impl) == 0 && strcmp(r[i].kase, kase) == 0)
      return &r[i];
  return NULL;
}

/* The goals' ratios, to stderr so --json stays clean; `round` names a
 * single round's ratios (NULL: the medians'). */
static void print_ratios(const bench_result *rows, int n, const char *round)
{
  static const struct {
    const char *kase;
    double goal;
  } goals[] = {{"heap_pop_push", 100}, {"dict_set", 100}, {"dict_get", 500}};
  for (size_t i = 0; i < sizeof goals / sizeof goals[0]; i++) {
    const bench_result *f = find_row(rows, n, "ferry", goals[i].kase),
                       *p = find_row(rows, n, "python-manager", goals[i].kase);
    if (f && p && p->value > 0)
      fprintf(stderr, "%sratio %s ferry/python-manager: %.1f (goal >= %.0f)\n",
              round ? "round " : "", goals[i].kase, f->value / p->value, goals[i].goal);
  }
}

/* Folds the rounds into out: per implementation and case of round 0, the
 * median of the rounds' values (min and max as metrics). Returns how many. */
static int fold_rounds(const char *bench, bench_result (*rounds)[MAX_ROWS], const int *nr,
                       int reps, bench_result *out)
{
  int n = 0;
  for (int i = 0; i < nr[0]; i++) {
    const bench_result *first = &rounds[0][i];
    double v[MAX_REPS];
    int k = 0;
    for (int r = 0; r < reps; r++) {
      const bench_result *x = find_row(rounds[r], nr[r], first->impl, first->kase);
      if (x)
        v[k++] = x->value;
    }
    bench_sort(v, (size_t)k);
    double med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    bench_result *o = &out[n++];
    set_row(o, bench, first->impl, first->kase, (int)first->param[0].value, med);
    bench_param(o, "reps", k);
    if (k > 1) {
      bench_metric(o, "min", v[0]);
      bench_metric(o, "max", v[k - 1]);
    }
  }
  return n;
}

static int bench_hd(int argc, char **argv, enum which which)
{
  const char *bench = which == W_HEAP ? "heap" : "dict";
  const char *verb = which == W_HEAP ? "bench heap" : "bench dict";
  int64_t seconds = FERRY_SEC;
  uint64_t workers = 2, records = 300000;
  uint32_t reps = 1;
  const char *impls = NULL, *peers_dir = NULL;
  bool json = false;
  cli_opt opts[] = {
      CLI_SECONDS("--seconds", &seconds, 1e-9),
      CLI_U64("--workers", &workers, 1, MAX_WORKERS),
      CLI_U64("--records", &records, 1, 10000000),
      CLI_STRING("--impl", &impls),
      CLI_U32("--reps", &reps, 1, MAX_REPS),
      CLI_JSON(&json),
      CLI_STRING("--peers-dir", &peers_dir),
  };
  const cli_spec spec = {verb, bench_help_hd, opts, 7, NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  char peers[PATH_MAX];
  bench_peers_dir(peers_dir, peers, sizeof peers);
  static const char *const heap_cases[] = {"heap_pop_push", NULL};
  static const char *const dict_cases[] = {"dict_set", "dict_get", NULL};
  const char *const *cases = which == W_HEAP ? heap_cases : dict_cases;
  double secs = (double)seconds / 1e9;
  const bench_number params[] = {
      {"seconds", secs}, {"workers", (double)workers}, {"reps", (double)reps}};
  if (json)
    bench_print_machine(bench, params, 3);
  /* Rounds, each with every implementation in turn, so that each round's
   * results are side by side in time; then the median of each. */
  static bench_result rounds[MAX_REPS][MAX_ROWS];
  int nr[MAX_REPS] = {0}, failed = 0;
  for (uint32_t r = 0; r < reps; r++) {
    bench_result *rows = rounds[r];
    memset(rows, 0, sizeof rounds[r]);
    int n = 0;
    if (cli_list_has(impls, "ferry"))
      for (const char *const *k = cases; *k; k++)
        failed |= run_ferry(bench, *k, (int)workers, seconds, records, &rows[n]) == 0 ? (n++, 0)
                                                                                       : 1;
    if (cli_list_has(impls, "python-manager")) {
      char a_s[32], a_w[16], a_r[32];
      snprintf(a_s, sizeof a_s, "%g", secs);
      snprintf(a_w, sizeof a_w, "%d", (int)workers);
      snprintf(a_r, sizeof a_r, "%" PRIu64, records);
      char *heap_args[] = {"--seconds", a_s, "--workers", a_w, "--records", a_r, NULL};
      char *dict_args[] = {"--seconds", a_s, "--workers", a_w, NULL};
      failed |= run_python(bench, peers, which == W_HEAP ? "heap_manager.py" : "dict_manager.py",
                           which == W_HEAP ? heap_args : dict_args, 20 * secs + 300, rows,
                           &n) != 0;
    }
    nr[r] = n;
    if (reps > 1)
      print_ratios(rows, n, "round"); /* each round's ratios, to see the spread */
  }
  bench_result rows[MAX_ROWS];
  int n = fold_rounds(bench, rounds, nr, (int)reps, rows);
  for (int i = 0; json && i < n; i++)
    bench_print_json(&rows[i]);
  if (!json)
    bench_print_table(bench, params, 3, rows, (size_t)n);
  fflush(stdout);
  print_ratios(rows, n, NULL);
  return failed ? CLI_FAIL : CLI_OK;
}

int bench_heap(int argc, char **argv) { return bench_hd(argc, argv, W_HEAP); }

int bench_dict(int argc, char **argv) { return bench_hd(argc, argv, W_DICT); }
