/*
 * bench_bus.c: `ferry bench bus`: seed 000's workload on ferry's bus, next
 * to the seed's own Python design (bench/bus_seed.py) and a plain memcpy
 * of the same bytes per batch.
 *
 * A batch is three float32 arrays, 1000x1000, 1000x1500 and 1000x2000
 * (18 MB). Every implementation writes the same bytes per batch: a copy of
 * one prepared source batch. Cases (LOCKSTEP unless said):
 *   idle     N consumers take every batch in place and release it at once;
 *   compute  N consumers compute mean, std and max of every array (ferry:
 *            stats.h's kernel, all nine numbers; Python: the seed's
 *            a1.mean(), a2.std(), a3.max(), so ferry does more work);
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
 * Options: --seconds S (per case, default 3), --consumers N (default 3),
 * --json (one object per line), --svg FILE (bar chart of batches/s),
 * --python PATH (bench/bus_seed.py; found next to the build directory by
 * default), --no-python. Uses the public API only.
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

#include "ferry/bus.h"
#include "ferry/error.h"
#include "stats.h"

int ferry_tool_bench_bus(int argc, char **argv);

#define BENCH_ARRAYS 3
#define BENCH_MAX_RESULTS 16
#define BENCH_SLOTS 4
#define BENCH_WARMUP BENCH_SLOTS
#define BENCH_MAX_CONSUMERS 64
#define BENCH_WAIT_NS (30 * FERRY_SEC)

static const ferry_array_spec bench_specs[BENCH_ARRAYS] = {
    {"a", FERRY_DTYPE_F32, 2, {1000, 1000}},
    {"b", FERRY_DTYPE_F32, 2, {1000, 1500}},
    {"c", FERRY_DTYPE_F32, 2, {1000, 2000}},
};

enum bench_case { CASE_IDLE, CASE_COMPUTE, CASE_LATEST_NONE, CASE_LATEST_STALLED };
static const char *const case_names[] = {"idle", "compute", "latest_none", "latest_stalled"};

struct bench_result {
  char impl[16];
  char kase[16];
  int consumers;
  double batches_per_s;
  double gb_per_s;
};

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

static void set_result(struct bench_result *r, const char *impl, const char *kase, int consumers,
                       uint64_t batches, double secs)
{
  memset(r, 0, sizeof *r);
  snprintf(r->impl, sizeof r->impl, "%s", impl);
  snprintf(r->kase, sizeof r->kase, "%s", kase);
  r->consumers = consumers;
  r->batches_per_s = (double)batches / secs;
  r->gb_per_s = r->batches_per_s * (double)batch_bytes() / 1e9;
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
                     struct bench_result *out)
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
    fprintf(stderr, "ferry: bench bus: creating %s: %s\n", name, ferry_strerror(rc));
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
  double t0 = 0, t1 = 0;
  while (rc == 0) {
    ferry_frame *f;
    if ((rc = ferry_bus_loan(b, &f, BENCH_WAIT_NS)) != 0)
      break;
    fill_frame(f, src);
    ferry_bus_publish(b, f);
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
    fprintf(stderr, "ferry: bench bus: ferry %s: %s\n", case_names[c], ferry_strerror(rc));
    return rc;
  }
  if (bad) {
    fprintf(stderr, "ferry: bench bus: ferry %s: %d consumer(s) failed\n", case_names[c], bad);
    return -EPROTO;
  }
  set_result(out, "ferry", case_names[c], consumers, batches - BENCH_WARMUP, t1 - t0);
  return 0;
}

/* The limit: the same bytes per batch, copied into BENCH_SLOTS rotating
 * destinations in one shared mapping, as the bus's slots are. */
static int run_memcpy(double seconds, float *const *src, struct bench_result *out)
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
  set_result(out, "memcpy", "idle", 0, batches - BENCH_WARMUP, t1 - t0);
  return 0;
}

/* Finds bench/bus_seed.py in the working directory or next to the
 * directory of the ferry binary (a build directory in the source tree). */
static const char *find_python(char *buf, size_t cap)
{
  if (access("bench/bus_seed.py", R_OK) == 0)
    return "bench/bus_seed.py";
  char exe[PATH_MAX - 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return NULL;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash)
    return NULL;
  *slash = 0;
  snprintf(buf, cap, "%s/../bench/bus_seed.py", exe);
  return access(buf, R_OK) == 0 ? buf : NULL;
}

/* Runs the Python seed design on /usr/bin/python3 for one case and parses
 * its JSON line. */
static int run_python(const char *script, double seconds, int consumers, enum bench_case c,
                      struct bench_result *out)
{
  char cmd[PATH_MAX + 128];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --seconds %g --consumers %d --case %s",
           script, seconds, consumers, case_names[c]);
  fflush(NULL);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -errno;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, p)) {
    const char *bps = strstr(line, "\"batches_per_s\":");
    if (!bps || found)
      continue;
    double v = strtod(bps + strlen("\"batches_per_s\":"), NULL);
    if (v > 0) {
      set_result(out, "python-seed", case_names[c], consumers, 1, 1);
      out->batches_per_s = v;
      out->gb_per_s = v * (double)batch_bytes() / 1e9;
      found = 1;
    }
  }
  int st = pclose(p);
  return found && st == 0 ? 0 : -EIO;
}

static void write_svg(const char *path, const struct bench_result *r, int n)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "ferry: bench bus: %s: %s\n", path, strerror(errno));
    return;
  }
  double max = 1;
  for (int i = 0; i < n; i++)
    if (r[i].batches_per_s > max)
      max = r[i].batches_per_s;
  int bar_h = 28, gap = 12, left = 260, width = 420;
  int height = 50 + n * (bar_h + gap);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "font-family=\"sans-serif\" font-size=\"13\">\n",
          left + width + 160, height);
  fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"15\">seed 000: batches/s (18 MB per batch; "
             "longer is better)</text>\n");
  for (int i = 0; i < n; i++) {
    int y = 40 + i * (bar_h + gap);
    int w = (int)(r[i].batches_per_s / max * width);
    const char *colour = strcmp(r[i].impl, "ferry") == 0    ? "#2b7bb9"
                         : strcmp(r[i].impl, "memcpy") == 0 ? "#888888"
                                                            : "#d9822b";
    fprintf(f, "<text x=\"10\" y=\"%d\">%s %s (%d)</text>\n", y + 19, r[i].impl, r[i].kase,
            r[i].consumers);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", left, y,
            w < 1 ? 1 : w, bar_h, colour);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.1f/s, %.2f GB/s</text>\n", left + w + 6, y + 19,
            r[i].batches_per_s, r[i].gb_per_s);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

static const struct bench_result *find(const struct bench_result *r, int n, const char *impl,
                                       const char *kase)
{
  for (int i = 0; i < n; i++)
    if (strcmp(r[i].impl, impl) == 0 && strcmp(r[i].kase, kase) == 0)
      return &r[i];
  return NULL;
}

/* The goals, as ratios of this run's results (stderr, so --json stays
 * clean). */
static void print_ratios(const struct bench_result *r, int n)
{
  const struct bench_result *a, *b;
  if ((a = find(r, n, "ferry", "idle")) && (b = find(r, n, "memcpy", "idle")))
    fprintf(stderr, "ratio idle ferry/memcpy: %.3f (goal >= 0.95)\n",
            a->batches_per_s / b->batches_per_s);
  if ((a = find(r, n, "ferry", "compute")) && (b = find(r, n, "python-seed", "compute")))
    fprintf(stderr, "ratio compute ferry/python-seed: %.2f (goal >= 5)\n",
            a->batches_per_s / b->batches_per_s);
  if ((a = find(r, n, "ferry", "idle")) && (b = find(r, n, "python-seed", "idle")))
    fprintf(stderr, "ratio idle ferry/python-seed: %.2f\n", a->batches_per_s / b->batches_per_s);
  if ((a = find(r, n, "ferry", "latest_stalled")) && (b = find(r, n, "ferry", "latest_none")))
    fprintf(stderr, "ratio latest stalled/none: %.3f (goal >= 0.90)\n",
            a->batches_per_s / b->batches_per_s);
}

int ferry_tool_bench_bus(int argc, char **argv)
{
  double seconds = 3;
  int consumers = 3, json = 0, no_python = 0;
  const char *svg = NULL, *python = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else if (strcmp(argv[i], "--no-python") == 0)
      no_python = 1;
    else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = strtod(argv[++i], NULL);
    else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
      consumers = atoi(argv[++i]);
    else if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc)
      svg = argv[++i];
    else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc)
      python = argv[++i];
    else {
      fprintf(stderr, "ferry: bench bus: unknown option '%s'\n"
                      "usage: ferry bench bus [--seconds S] [--consumers N] [--json] "
                      "[--svg FILE] [--python bench/bus_seed.py | --no-python]\n",
              argv[i]);
      return 2;
    }
  }
  if (!(seconds > 0) || consumers < 1 || consumers > BENCH_MAX_CONSUMERS) {
    fprintf(stderr, "ferry: bench bus: bad --seconds or --consumers\n");
    return 2;
  }
  char pybuf[PATH_MAX];
  if (!python && !no_python && !(python = find_python(pybuf, sizeof pybuf)))
    fprintf(stderr, "ferry: bench bus: bench/bus_seed.py not found: no python-seed results "
                    "(--python PATH)\n");
  float *src[BENCH_ARRAYS] = {0};
  if (make_source(src) != 0) {
    fprintf(stderr, "ferry: bench bus: out of memory\n");
    for (int i = 0; i < BENCH_ARRAYS; i++)
      free(src[i]);
    return 1;
  }
  struct bench_result res[BENCH_MAX_RESULTS];
  int n = 0, failed = 0;
  failed |= run_memcpy(seconds, src, &res[n]) == 0 ? (n++, 0) : 1;
  for (enum bench_case c = CASE_IDLE; c <= CASE_LATEST_STALLED; c++)
    failed |= run_ferry(seconds, consumers, c, src, &res[n]) == 0 ? (n++, 0) : 1;
  if (python && !no_python) {
    for (enum bench_case c = CASE_IDLE; c <= CASE_COMPUTE; c++) {
      if (run_python(python, seconds, consumers, c, &res[n]) == 0) {
        n++;
      } else {
        fprintf(stderr, "ferry: bench bus: /usr/bin/python3 %s --case %s failed\n", python,
                case_names[c]);
        failed = 1;
      }
    }
  }
  for (int i = 0; i < n; i++) {
    if (json)
      printf("{\"impl\":\"%s\",\"case\":\"%s\",\"consumers\":%d,\"batches_per_s\":%.2f,"
             "\"gb_per_s\":%.3f}\n",
             res[i].impl, res[i].kase, res[i].consumers, res[i].batches_per_s, res[i].gb_per_s);
    else
      printf("%-12s %-15s consumers=%-3d %10.2f batches/s %8.3f GB/s\n", res[i].impl,
             res[i].kase, res[i].consumers, res[i].batches_per_s, res[i].gb_per_s);
  }
  fflush(stdout);
  print_ratios(res, n);
  if (svg)
    write_svg(svg, res, n);
  for (int i = 0; i < BENCH_ARRAYS; i++)
    free(src[i]);
  return failed ? 1 : 0;
}
