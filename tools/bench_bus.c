/*
 * bench_bus.c: `ferry bench bus`: seed 000's workload on ferry's bus, next
 * to a plain memcpy of the same bytes per batch and (if asked) the project's
 * Python version of the seed's design (bench/bus_seed.py).
 *
 * A batch is three float32 arrays, 1000x1000, 1000x1500 and 1000x2000
 * (18 MB). The producer fills each batch by copying prepared data into the
 * loaned frame; N consumer processes take every batch in place (LOCKSTEP)
 * and either do nothing with it (case idle) or compute mean, std and max of
 * the arrays (case compute). The memcpy baseline copies the same 18 MB per
 * batch into a shared mapping with no consumers and no synchronisation: the
 * bus's idle rate over it shows what synchronisation costs.
 *
 * Options: --seconds S (per case, default 3), --consumers N (default 3),
 * --json (one object per line), --svg FILE (bar chart of batches/s),
 * --python PATH (also run bench/bus_seed.py with /usr/bin/python3).
 * Uses the public API only.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/bus.h"
#include "ferry/error.h"

int ferry_tool_bench_bus(int argc, char **argv);

#define BENCH_ARRAYS 3
#define BENCH_MAX_RESULTS 8

static const ferry_array_spec bench_specs[BENCH_ARRAYS] = {
    {"a", FERRY_DTYPE_F32, 2, {1000, 1000}},
    {"b", FERRY_DTYPE_F32, 2, {1000, 1500}},
    {"c", FERRY_DTYPE_F32, 2, {1000, 2000}},
};

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

static size_t batch_bytes(void)
{
  size_t n = 0;
  for (int i = 0; i < BENCH_ARRAYS; i++)
    n += bench_specs[i].shape[0] * bench_specs[i].shape[1] * sizeof(float);
  return n;
}

/* The seed's consumers compute mean(a), std(b), max(c): one statistic per
 * array; `which` picks it (0 mean, 1 std, 2 max). */
static double analyse(const float *x, size_t n, size_t which)
{
  double sum = 0, sq = 0;
  float mx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    sum += x[i];
    sq += (double)x[i] * x[i];
    if (x[i] > mx)
      mx = x[i];
  }
  double mean = sum / (double)n;
  if (which == 0)
    return mean;
  if (which == 1)
    return sqrt(sq / (double)n - mean * mean);
  return mx;
}

static void consumer(const char *name, int compute)
{
  ferry_sub *s;
  if (ferry_bus_subscribe(name, NULL, &s) != 0)
    _exit(2);
  volatile double sink = 0;
  for (;;) {
    const ferry_frame *f;
    int rc = ferry_bus_next(s, &f, NULL, 30 * FERRY_SEC);
    if (rc == -EPIPE)
      break;
    if (rc)
      _exit(3);
    if (compute) {
      for (size_t i = 0; i < BENCH_ARRAYS; i++) {
        ferry_array v;
        ferry_frame_array_at(f, i, &v);
        sink += analyse(v.data, v.count, i);
      }
    }
    ferry_bus_release(s, f);
  }
  (void)sink;
  ferry_bus_unsubscribe(s);
  _exit(0);
}

/* Fills src with the values the seed's producer generates (0..254). */
static void make_source(float **src)
{
  unsigned seed = 12345;
  for (int i = 0; i < BENCH_ARRAYS; i++) {
    size_t n = bench_specs[i].shape[0] * bench_specs[i].shape[1];
    src[i] = malloc(n * sizeof(float));
    if (!src[i])
      return;
    for (size_t k = 0; k < n; k++) {
      seed = seed * 1103515245u + 12345u;
      src[i][k] = (float)((seed >> 16) % 255);
    }
  }
}

static int run_ferry(double seconds, int consumers, int compute, float **src,
                     struct bench_result *out)
{
  char name[64];
  snprintf(name, sizeof name, "bench-bus-%d", (int)getpid());
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = FERRY_BUS_LOCKSTEP;
  o.slots = 4;
  ferry_bus *b;
  int rc = ferry_bus_create(name, bench_specs, BENCH_ARRAYS, &o, &b);
  if (rc) {
    fprintf(stderr, "ferry: bench: bus create: %s\n", ferry_strerror(rc));
    return rc;
  }
  pid_t kids[64];
  int nk = 0;
  for (; nk < consumers && nk < 64; nk++) {
    kids[nk] = fork();
    if (kids[nk] == 0)
      consumer(name, compute);
  }
  double until = bench_now() + 10;
  ferry_bus_stats st;
  do {
    ferry_bus_stats_get(b, &st);
    if ((int)st.subscribers == nk)
      break;
    usleep(1000);
  } while (bench_now() < until);
  uint64_t batches = 0;
  double t0 = bench_now(), t1 = t0;
  while (t1 - t0 < seconds) {
    ferry_frame *f;
    if ((rc = ferry_bus_loan(b, &f, 30 * FERRY_SEC)) != 0)
      break;
    for (size_t i = 0; i < BENCH_ARRAYS; i++) {
      ferry_array v;
      ferry_frame_array_at(f, i, &v);
      memcpy(v.data, src[i], v.nbytes);
    }
    ferry_bus_publish(b, f);
    batches++;
    t1 = bench_now();
  }
  ferry_bus_close(b);
  for (int i = 0; i < nk; i++)
    waitpid(kids[i], NULL, 0);
  ferry_unlink(name);
  if (rc) {
    fprintf(stderr, "ferry: bench: loan: %s\n", ferry_strerror(rc));
    return rc;
  }
  snprintf(out->impl, sizeof out->impl, "ferry");
  snprintf(out->kase, sizeof out->kase, "%s", compute ? "compute" : "idle");
  out->consumers = consumers;
  out->batches_per_s = (double)batches / (t1 - t0);
  out->gb_per_s = out->batches_per_s * (double)batch_bytes() / 1e9;
  return 0;
}

static int run_memcpy(double seconds, float **src, struct bench_result *out)
{
  size_t total = batch_bytes();
  uint8_t *dst = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED)
    return -errno;
  uint64_t batches = 0;
  double t0 = bench_now(), t1 = t0;
  while (t1 - t0 < seconds) {
    size_t off = 0;
    for (int i = 0; i < BENCH_ARRAYS; i++) {
      size_t n = bench_specs[i].shape[0] * bench_specs[i].shape[1] * sizeof(float);
      memcpy(dst + off, src[i], n);
      off += n;
    }
    __asm__ __volatile__("" ::: "memory");
    batches++;
    t1 = bench_now();
  }
  munmap(dst, total);
  snprintf(out->impl, sizeof out->impl, "memcpy");
  snprintf(out->kase, sizeof out->kase, "idle");
  out->consumers = 0;
  out->batches_per_s = (double)batches / (t1 - t0);
  out->gb_per_s = out->batches_per_s * (double)total / 1e9;
  return 0;
}

/* Runs the Python seed design and parses its JSON lines. */
static int run_python(const char *script, double seconds, int consumers,
                      struct bench_result *res, int *n)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --seconds %g --consumers %d", script,
           seconds, consumers);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -errno;
  char line[512];
  while (fgets(line, sizeof line, p) && *n < BENCH_MAX_RESULTS) {
    struct bench_result r;
    memset(&r, 0, sizeof r);
    const char *c = strstr(line, "\"case\":");
    const char *bps = strstr(line, "\"batches_per_s\":");
    const char *gbs = strstr(line, "\"gb_per_s\":");
    if (!c || !bps || !gbs)
      continue;
    snprintf(r.impl, sizeof r.impl, "python-seed");
    snprintf(r.kase, sizeof r.kase, "%s", strncmp(c + 8, "compute", 7) == 0 ? "compute" : "idle");
    r.consumers = consumers;
    r.batches_per_s = strtod(bps + 16, NULL);
    r.gb_per_s = strtod(gbs + 11, NULL);
    res[(*n)++] = r;
  }
  return pclose(p) == 0 ? 0 : -EIO;
}

static void write_svg(const char *path, const struct bench_result *r, int n)
{
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "ferry: bench: %s: %s\n", path, strerror(errno));
    return;
  }
  double max = 1;
  for (int i = 0; i < n; i++)
    if (r[i].batches_per_s > max)
      max = r[i].batches_per_s;
  int bar_h = 28, gap = 12, left = 200, width = 420;
  int height = 50 + n * (bar_h + gap);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "font-family=\"sans-serif\" font-size=\"13\">\n",
          left + width + 120, height);
  fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"15\">seed 000: batches/s (18 MB per batch)</text>\n");
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
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.1f</text>\n", left + w + 6, y + 19,
            r[i].batches_per_s);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

int ferry_tool_bench_bus(int argc, char **argv)
{
  double seconds = 3;
  int consumers = 3, json = 0;
  const char *svg = NULL, *python = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = 1;
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
                      "[--svg FILE] [--python bench/bus_seed.py]\n",
              argv[i]);
      return 2;
    }
  }
  if (!(seconds > 0) || consumers < 1 || consumers > FERRY_BUS_SUBSCRIBERS_MAX) {
    fprintf(stderr, "ferry: bench bus: bad --seconds or --consumers\n");
    return 2;
  }
  float *src[BENCH_ARRAYS] = {0};
  make_source(src);
  for (int i = 0; i < BENCH_ARRAYS; i++)
    if (!src[i]) {
      fprintf(stderr, "ferry: bench bus: out of memory\n");
      return 1;
    }
  struct bench_result res[BENCH_MAX_RESULTS];
  int n = 0, rc = 0;
  if (run_memcpy(seconds, src, &res[n]) == 0)
    n++;
  if ((rc = run_ferry(seconds, consumers, 0, src, &res[n])) == 0)
    n++;
  if ((rc = run_ferry(seconds, consumers, 1, src, &res[n])) == 0)
    n++;
  if (python && run_python(python, seconds, consumers, res, &n) != 0)
    fprintf(stderr, "ferry: bench bus: %s failed\n", python);
  for (int i = 0; i < n; i++) {
    if (json)
      printf("{\"impl\":\"%s\",\"case\":\"%s\",\"consumers\":%d,\"batches_per_s\":%.2f,"
             "\"gb_per_s\":%.3f}\n",
             res[i].impl, res[i].kase, res[i].consumers, res[i].batches_per_s, res[i].gb_per_s);
    else
      printf("%-12s %-8s consumers=%-3d %10.2f batches/s %8.3f GB/s\n", res[i].impl,
             res[i].kase, res[i].consumers, res[i].batches_per_s, res[i].gb_per_s);
  }
  if (svg)
    write_svg(svg, res, n);
  for (int i = 0; i < BENCH_ARRAYS; i++)
    free(src[i]);
  return rc ? 1 : 0;
}
