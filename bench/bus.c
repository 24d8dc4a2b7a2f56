/* SPDX-License-Identifier: MIT */
/*
 * bus.c: `ferry bench bus`: one producer handing large float32 arrays to N
 * analysis consumers on ferry's bus, next to the usual Python design of
 * the same workload (bus_python.py: shared arrays and Condition
 * choreography) and a plain memcpy of the same bytes per batch.
 *
 * A batch is three float32 arrays, 1000x1000, 1000x1500 and 1000x2000
 * (18 MB). Every implementation writes the same bytes per batch: a copy of
 * one prepared source batch. Cases (LOCKSTEP unless said):
 *   idle     N consumers take every batch in place and release it at once;
 *   compute  N consumers compute mean, std and max of every array, nine
 *            numbers per batch on both sides (ferry: stats.h's one-pass
 *            kernel; Python: numpy's a.mean(), a.std(), a.max() for each
 *            of the three arrays): the same work;
 *   latest_none / latest_stalled (ferry only): a LATEST bus with no
 *            subscriber, and with one that takes a frame and never
 *            releases it: the publisher's rate should not change.
 * memcpy (case idle, 0 consumers) copies each batch into destinations
 * rotating over the same number of slots as the bus (4, in one shared
 * mapping), with no consumers and no synchronisation: the limit.
 *
 * Fairness: the first 4 batches of every run are untimed (page faults of
 * fresh shared memory), and a ferry run's clock stops only when every
 * consumer has finished the last batch, as the Python producer's does.
 *
 * Results go out through report.c, in the schema every benchmark shares.
 * Uses the public API only.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "stats.h"

const char bench_help_bus[] =
    "usage: ferry bench bus [--seconds S] [--consumers N] [--reps N] [--no-python]\n"
    "                       [--json] [--peers-dir DIR]\n"
    "\n"
    "One producer hands batches of three float32 arrays (1000x1000, 1000x1500,\n"
    "1000x2000: 18 MB) to N consumers (default 3), for --seconds per case\n"
    "(default 3). Cases: idle (consumers take every batch in place and\n"
    "release it), compute (consumers compute mean, std and max of every\n"
    "array), latest_none and latest_stalled (a LATEST bus with no subscriber\n"
    "and with one that never releases: the publisher's rate should not\n"
    "change). Against: memcpy (the same bytes copied, no consumers: the\n"
    "limit) and python-mp, the usual Python design on /usr/bin/python3\n"
    "(shared arrays and Conditions; --no-python leaves it out). The value is\n"
    "batches/s; the goals' ratios go to stderr.\n"
    "\n"
    "Options:\n"
    "  --seconds S      measured length of each case (default 3)\n"
    "  --consumers N    consumer processes, 1 to 64 (default 3)\n"
    "  --reps N         rounds of every case, 1 to 15 (default 1): the value is\n"
    "                   the median, min and max go with it; each round's ratios\n"
    "                   go to stderr\n"
    "  --no-python      do not run the Python design\n"
    "  --json           one JSON object per line instead of the table\n"
    "  --peers-dir DIR  where bus_python.py is (default: bench-peers/ next to\n"
    "                   ferry-bench)\n"
    "  -h, --help\n";

#define BENCH_ARRAYS 3
#define BENCH_MAX_RESULTS 16
#define BENCH_SLOTS 4
#define BENCH_WARMUP BENCH_SLOTS
#define BENCH_MAX_CONSUMERS 64
#define BENCH_MAX_REPS 15
#define BENCH_WAIT_NS (30 * FERRY_SEC)

static const ferry_array_spec bench_specs[BENCH_ARRAYS] = {
    {"a", FERRY_DTYPE_F32, 2, {1000, 1000}},
    {"b", FERRY_DTYPE_F32, 2, {1000, 1500}},
    {"c", FERRY_DTYPE_F32, 2, {1000, 2000}},
};

enum bench_case { CASE_IDLE, CASE_COMPUTE, CASE_LATEST_NONE, CASE_LATEST_STALLED };
static const char *const case_names[] = {"idle", "compute", "latest_none", "latest_stalled"};

static double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t array_bytes(int i)
{
  return bench_specs[i].shape[0] * bench_specs[i].shape[1] * sizeof(float);
}

static size_t batch_bytes(void)
{
  size_t n = 0;
  for (int i = 0; i < BENCH_ARRAYS; i++)
    n += array_bytes(i);
  return n;
}

static void set_result(bench_result *r, const char *impl, const char *kase, int consumers,
                       double batches_per_s)
{
  memset(r, 0, sizeof *r);
  r->bench = "bus";
  snprintf(r->impl, sizeof r->impl, "%s", impl);
  snprintf(r->kase, sizeof r->kase, "%s", kase);
  r->status = BH_OK;
  r->unit = "batches/s";
  r->value = batches_per_s;
  bench_param(r, "consumers", consumers);
  bench_param(r, "batch_bytes", (double)batch_bytes());
  bench_metric(r, "gb_per_s", batches_per_s * (double)batch_bytes() / 1e9);
}

/* A subscriber process. LOCKSTEP: takes every frame (computing or not)
 * until the end of the stream. stall: takes one frame and holds it until
 * killed. Exits 0 if it saw every frame in order. */
static void consumer(const char *name, enum bench_case c)
{
  ferry_sub *s;
  if (ferry_bus_subscribe(name, NULL, &s) != 0)
    _exit(2);
  volatile double sink = 0;
  uint64_t expect = 0;
  for (;;) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, BENCH_WAIT_NS);
    if (rc == -EPIPE)
      break;
    if (rc)
      _exit(3);
    if (c == CASE_LATEST_STALLED)
      for (;;)
        pause();
    if (info.seq != expect++)
      _exit(4);
    if (c == CASE_COMPUTE) {
      for (size_t i = 0; i < BENCH_ARRAYS; i++) {
        ferry_array v;
        ferry_frame_array_at(f, i, &v);
        struct stats_f32 st;
        stats_f32(v.data, v.count, &st);
        sink += st.mean + st.std + st.max;
      }
    }
    ferry_bus_release(s, f);
  }
  (void)sink;
  ferry_bus_unsubscribe(s);
  _exit(0);
}

/* The source batch every implementation copies (values 16..271). */
static int make_source(float **src)
{
  for (int i = 0; i < BENCH_ARRAYS; i++) {
    size_t n = array_bytes(i) / sizeof(float);
    if (!(src[i] = malloc(n * sizeof(float))))
      return -ENOMEM;
    struct stats_pattern p = stats_pattern_of(1, (size_t)i);
    stats_pattern_fill(src[i], n, &p);
  }
  return 0;
}

static void fill_frame(ferry_frame *f, float *const *src)
{
  for (size_t i = 0; i < BENCH_ARRAYS; i++) {
    ferry_array v;
    ferry_frame_array_at(f, i, &v);
    memcpy(v.data, src[i], v.nbytes);
  }
}

static int run_ferry(double seconds, int consumers, enum bench_case c, float *const *src,
                     bench_result *out)
{
  bool latest = c == CASE_LATEST_NONE || c == CASE_LATEST_STALLED;
  if (c == CASE_LATEST_NONE)
    consumers = 0;
  if (c == CASE_LATEST_STALLED)
    consumers = 1;
  char name[64];
  snprintf(name, sizeof name, "bench-bus-%d", (int)getpid());
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = latest ? FERRY_BUS_LATEST : FERRY_BUS_LOCKSTEP;
  o.slots = BENCH_SLOTS;
  o.max_subscribers = consumers > 0 ? (uint32_t)consumers : 1;
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_bus *b;
  int rc = ferry_bus_create(name, bench_specs, BENCH_ARRAYS, &o, &b);
  if (rc) {
    cli_error("bench bus", rc, "creating %s", name);
    return rc;
  }
  pid_t kids[BENCH_MAX_CONSUMERS];
  int nk = 0;
  fflush(NULL);
  for (; nk < consumers; nk++) {
    if ((kids[nk] = fork()) < 0) {
      rc = -errno;
      break;
    }
    if (kids[nk] == 0)
      consumer(name, c);
  }
  double until = bench_now() + 10;
  ferry_bus_stats st;
  do {
    ferry_bus_stats_get(b, &st);
    if ((int)st.subscribers == nk)
      break;
    usleep(1000);
  } while (bench_now() < until);
  if ((int)st.subscribers != nk && rc == 0)
    rc = -ETIMEDOUT;
  uint64_t batches = 0;
  double t0 = 0, t1 = 0, publish_s = 0;
  while (rc == 0) {
    ferry_frame *f;
    if ((rc = ferry_bus_loan(b, &f, BENCH_WAIT_NS)) != 0)
      break;
    fill_frame(f, src);
    double p0 = bench_now();
    ferry_bus_publish(b, f);
    if (batches >= BENCH_WARMUP)
      publish_s += bench_now() - p0;
    if (++batches == BENCH_WARMUP)
      t0 = bench_now();
    if (batches > BENCH_WARMUP && bench_now() - t0 >= seconds)
      break;
  }
  ferry_bus_shutdown(b);
  int bad = 0;
  for (int i = 0; i < nk; i++) {
    if (c == CASE_LATEST_STALLED) {
      t1 = bench_now(); /* nobody to wait for: the stalled reader never ends */
      kill(kids[i], SIGKILL);
    }
    int status;
    while (waitpid(kids[i], &status, 0) < 0 && errno == EINTR)
      ;
    if (c != CASE_LATEST_STALLED && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
      bad++;
  }
  if (c != CASE_LATEST_STALLED)
    t1 = bench_now(); /* every consumer has finished the last batch */
  ferry_bus_close(b);
  if (rc) {
    cli_error("bench bus", rc, "ferry %s", case_names[c]);
    return rc;
  }
  if (bad) {
    cli_error("bench bus", -EPROTO, "ferry %s: %d consumer(s) failed", case_names[c], bad);
    return -EPROTO;
  }
  set_result(out, "ferry", case_names[c], consumers, (double)(batches - BENCH_WARMUP) / (t1 - t0));
  /* where the idle case's gap to memcpy was: the wake-up of subscribers */
  bench_metric(out, "publish_us", publish_s * 1e6 / (double)(batches - BENCH_WARMUP));
  return 0;
}

/* The limit: the same bytes per batch, copied into BENCH_SLOTS rotating
 * destinations in one shared mapping, as the bus's slots are. */
static int run_memcpy(double seconds, float *const *src, bench_result *out)
{
  size_t total = batch_bytes();
  uint8_t *dst = mmap(NULL, total * BENCH_SLOTS, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED)
    return -errno;
  uint64_t batches = 0;
  double t0 = 0, t1;
  for (;;) {
    uint8_t *d = dst + (batches % BENCH_SLOTS) * total;
    for (int i = 0; i < BENCH_ARRAYS; i++) {
      memcpy(d, src[i], array_bytes(i));
      d += array_bytes(i);
    }
    __asm__ __volatile__("" ::: "memory");
    if (++batches == BENCH_WARMUP)
      t0 = bench_now();
    if (batches > BENCH_WARMUP && (t1 = bench_now()) - t0 >= seconds)
      break;
  }
  munmap(dst, total * BENCH_SLOTS);
  set_result(out, "memcpy", "idle", 0, (double)(batches - BENCH_WARMUP) / (t1 - t0));
  return 0;
}

struct py_line {
  bench_result *out;
  int consumers;
  bool found;
};

static void take_python(const cli_jobject *o, void *arg)
{
  struct py_line *pl = arg;
  double bps = cli_jobject_num(o, "batches_per_s");
  const char *kase = cli_jobject_str(o, "case");
  if (pl->found || !kase || !(bps > 0))
    return;
  set_result(pl->out, "python-mp", kase, pl->consumers, bps);
  pl->found = true;
}

/* Runs the Python design for one case and reads its result line. */
static int run_python(const char *peers, double seconds, int consumers, enum bench_case c,
                      bench_result *out)
{
  char script[PATH_MAX + 32], a_s[32], a_c[16];
  snprintf(script, sizeof script, "%s/bus_python.py", peers);
  snprintf(a_s, sizeof a_s, "%g", seconds);
  snprintf(a_c, sizeof a_c, "%d", consumers);
  if (access(BENCH_PYTHON, X_OK) != 0 || access(script, R_OK) != 0) {
    cli_error("bench bus", -ENOENT, "%s or %s missing: no python-mp results", BENCH_PYTHON,
              script);
    return -ENOENT;
  }
  char *argv[] = {BENCH_PYTHON, script, "--seconds", a_s, "--consumers", a_c, "--case",
                  (char *)case_names[c], NULL};
  int st;
  char *text = bench_run_capture(argv, 10 * seconds + 120, &st);
  struct py_line pl = {out, consumers, false};
  bench_each_object(text, take_python, &pl);
  free(text);
  return pl.found && st == 0 ? 0 : -EIO;
}

static const bench_result *find(const bench_result *r, int n, const char *impl, const char *kase)
{
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].impl, impl) == 0 && strcmp(r[i].kase, kase) == 0)
      return &r[i];
  return NULL;
}

/* A ferry result's mean time in ferry_bus_publish(), or -1. */
static double publish_us(const bench_result *r)
{
  for (size_t i = 0; i < r->nmetrics; i++)
    if (strcmp(r->metric[i].key, "publish_us") == 0)
      return r->metric[i].value;
  return -1;
}

/* The median of v[0..k), k >= 1. Sorts v. */
static double median(double *v, int k)
{
  bench_sort(v, (size_t)k);
  return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* The goals, as ratios of this run's results (stderr, so --json stays
 * clean). */
static void print_ratios(const bench_result *r, int n)
{
  const bench_result *a, *b;
  if ((a = find(r, n, "ferry", "idle")) && (b = find(r, n, "memcpy", "idle"))) {
    fprintf(stderr, "ratio idle ferry/memcpy: %.3f (goal >= 0.95)", a->value / b->value);
    if (publish_us(a) >= 0)
      fprintf(stderr, "; a publish took %.1f us", publish_us(a));
    fputc('\n', stderr);
  }
  if ((a = find(r, n, "ferry", "compute")) && (b = find(r, n, "python-mp", "compute")))
    fprintf(stderr, "ratio compute ferry/python-mp: %.2f (goal >= 5)\n", a->value / b->value);
  if ((a = find(r, n, "ferry", "idle")) && (b = find(r, n, "python-mp", "idle")))
    fprintf(stderr, "ratio idle ferry/python-mp: %.2f\n", a->value / b->value);
  if ((a = find(r, n, "ferry", "latest_stalled")) && (b = find(r, n, "ferry", "latest_none")))
    fprintf(stderr, "ratio latest stalled/none: %.3f (goal >= 0.90)\n", a->value / b->value);
}

/* Folds the rounds into out: per implementation and case of round 0, the
 * median of the rounds' values (min and max as metrics). Returns how many. */
static int fold_rounds(bench_result (*rounds)[BENCH_MAX_RESULTS], const int *nr, int reps,
                       bench_result *out)
{
  int n = 0;
  for (int i = 0; i < nr[0]; i++) {
    const bench_result *first = &rounds[0][i];
    double v[BENCH_MAX_REPS], pub[BENCH_MAX_REPS];
    int k = 0, kp = 0;
    for (int r = 0; r < reps; r++) {
      const bench_result *x = find(rounds[r], nr[r], first->impl, first->kase);
      if (x)
        v[k++] = x->value;
      if (x && publish_us(x) >= 0)
        pub[kp++] = publish_us(x);
    }
    bench_result *o = &out[n++];
    set_result(o, first->impl, first->kase, (int)first->param[0].value, median(v, k));
    bench_param(o, "reps", k);
    if (k > 1) {
      bench_metric(o, "min", v[0]);
      bench_metric(o, "max", v[k - 1]);
    }
    if (kp)
      bench_metric(o, "publish_us", median(pub, kp));
  }
  return n;
}

int bench_bus(int argc, char **argv)
{
  double seconds = 3;
  uint32_t consumers = 3;
  uint32_t reps = 1;
  bool json = false, no_python = false;
  const char *peers_dir = NULL;
  cli_opt opts[] = {
      CLI_DOUBLE("--seconds", &seconds, 0.001, 3600),
      CLI_U32("--consumers", &consumers, 1, BENCH_MAX_CONSUMERS),
      CLI_U32("--reps", &reps, 1, BENCH_MAX_REPS),
      CLI_FLAG("--no-python", &no_python),
      CLI_JSON(&json),
      CLI_STRING("--peers-dir", &peers_dir),
  };
  const cli_spec spec = {"bench bus", bench_help_bus, opts, 6, NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  char peers[PATH_MAX];
  bench_peers_dir(peers_dir, peers, sizeof peers);
  float *src[BENCH_ARRAYS] = {0};
  if (make_source(src) != 0) {
    for (int i = 0; i < BENCH_ARRAYS; i++)
      free(src[i]);
    return cli_fail("bench bus", -ENOMEM, "preparing the source batch");
  }
  const bench_number params[] = {
      {"seconds", seconds}, {"consumers", consumers}, {"reps", reps}};
  if (json)
    bench_print_machine("bus", params, 3);
  /* Rounds, each with every implementation and case in turn, so that each
   * round's results are side by side in time; then the median of each. */
  static bench_result rounds[BENCH_MAX_REPS][BENCH_MAX_RESULTS];
  int nr[BENCH_MAX_REPS] = {0};
  int failed = 0;
  for (uint32_t r = 0; r < reps; r++) {
    bench_result *res = rounds[r];
    int n = 0;
    /* Counts a result that came in. */
#define TAKE(ok)   \
  do {             \
    if (ok)        \
      n++;         \
    else           \
      failed = 1;  \
  } while (0)
    TAKE(run_memcpy(seconds, src, &res[n]) == 0);
    for (enum bench_case c = CASE_IDLE; c <= CASE_LATEST_STALLED; c++)
      TAKE(run_ferry(seconds, (int)consumers, c, src, &res[n]) == 0);
    for (enum bench_case c = CASE_IDLE; !no_python && c <= CASE_COMPUTE; c++)
      TAKE(run_python(peers, seconds, (int)consumers, c, &res[n]) == 0);
#undef TAKE
    nr[r] = n;
    if (reps > 1)
      print_ratios(res, n); /* each round's ratios, to see the spread */
  }
  bench_result res[BENCH_MAX_RESULTS];
  int n = fold_rounds(rounds, nr, (int)reps, res);
  for (int i = 0; json && i < n; i++)
    bench_print_json(&res[i]);
  if (!json)
    bench_print_table("bus", params, 3, res, (size_t)n);
  fflush(stdout);
  print_ratios(res, n);
  for (int i = 0; i < BENCH_ARRAYS; i++)
    free(src[i]);
  return failed ? CLI_FAIL : CLI_OK;
}
