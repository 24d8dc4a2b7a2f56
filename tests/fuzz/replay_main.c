/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c: a main() for the fuzz targets when libFuzzer is not there
 * (gcc builds, or clang without the runtime). It runs
 * LLVMFuzzerTestOneInput() once on every file named on the command line, or
 * found in a directory named there, so that the committed corpus is a
 * regression test in every build, sanitized or not (zstd does the same).
 *
 *   replay_<target> DIR_OR_FILE...
 *
 * Quick tier: the corpus once; fails if it finds no input at all, so that a
 * corpus lost to a bad path does not pass silently.
 *
 * Long tier: with FERRY_STRESS_SECONDS set, it then keeps mutating corpus
 * inputs at random (no coverage feedback: a poor man's fuzzer for machines
 * without clang) for that many seconds. FERRY_FUZZ_SEED fixes the seed; the
 * seed used is printed either way.
 *
 * Each input gets a watchdog (FERRY_FUZZ_INPUT_TIMEOUT seconds, default 10),
 * so a target that hangs fails instead of stalling CTest until its timeout.
 * When an input kills the process, its name is printed, and a mutated one
 * is saved to ./replay-crash-<pid> so that it can be replayed alone and
 * added to the corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Present only when a sanitizer runtime is linked in. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

#define DEFAULT_INPUT_TIMEOUT_S 10
/* Mutated inputs stay below this; the targets' interesting inputs are a
 * few kilobytes at most. */
#define MUTATE_MAX_LEN (64u * 1024u)
#define MUTATIONS_MAX 4

struct input {
  char *name;
  uint8_t *data;
  size_t size;
};

static struct input *inputs;
static size_t n_inputs, cap_inputs;

/* What is running now, for the death handlers. */
static const char *volatile cur_name;
static const uint8_t *volatile cur_data;
static volatile size_t cur_size;
static volatile int cur_mutated;
static char crash_path[64];

static void die(const char *what, const char *path)
{
  fprintf(stderr, "replay: %s %s: %s\n", what, path, strerror(errno));
  exit(2);
}

/* ---- loading the corpus ------------------------------------------------- */

static void add_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    die("cannot open", path);
  struct stat st;
  if (fstat(fileno(f), &st) != 0)
    die("cannot stat", path);
  size_t size = (size_t)st.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (!data || fread(data, 1, size, f) != size)
    die("cannot read", path);
  fclose(f);
  if (n_inputs == cap_inputs) {
    cap_inputs = cap_inputs ? 2 * cap_inputs : 64;
    inputs = realloc(inputs, cap_inputs * sizeof *inputs);
    if (!inputs)
      die("out of memory at", path);
  }
  inputs[n_inputs].name = strdup(path);
  if (!inputs[n_inputs].name)
    die("out of memory at", path);
  inputs[n_inputs].data = data;
  inputs[n_inputs].size = size;
  n_inputs++;
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order, so runs are reproducible. */
static void add_dir(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    die("cannot list", dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      names = realloc(names, cap * sizeof *names);
      if (!names)
        die("out of memory in", dir);
    }
    if (!(names[n++] = strdup(e->d_name)))
      die("out of memory in", dir);
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(len);
    if (!path)
      die("out of memory in", dir);
    snprintf(path, len, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
      add_file(path);
    free(path);
    free(names[i]);
  }
  free(names);
}

/* ---- reporting a death ---------------------------------------------------- */

/* Async-signal-safe: called from signal handlers. */
static void say(const char *s)
{
  ssize_t rc = write(STDERR_FILENO, s, strlen(s));
  (void)rc;
}

static void save_current(void)
{
  say(cur_mutated ? "replay: died on a mutation of input " : "replay: died on input ");
  say(cur_name ? cur_name : "(none)");
  say("\n");
  if (!cur_mutated || !cur_data)
    return;
  int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  size_t left = cur_size;
  const uint8_t *p = cur_data;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n <= 0)
      break;
    p += n;
    left -= (size_t)n;
  }
  close(fd);
  say("replay: saved it as ");
  say(crash_path);
  say("\n");
}

static void on_signal(int sig)
{
  if (sig == SIGALRM)
    say("replay: input timed out (watchdog)\n");
  save_current();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void install_death_handlers(void)
{
  snprintf(crash_path, sizeof crash_path, "replay-crash-%ld", (long)getpid());
  /* Under a sanitizer its own handlers report memory errors, and ours
   * would hide them; it calls us back before exiting instead. */
  int sanitized = __sanitizer_set_death_callback != NULL;
  if (sanitized)
    __sanitizer_set_death_callback(save_current);
  const int always[] = {SIGABRT, SIGALRM};
  const int unsanitized[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
    signal(always[i], on_signal);
  for (size_t i = 0; !sanitized && i < sizeof unsanitized / sizeof unsanitized[0]; i++)
    signal(unsanitized[i], on_signal);
}

static unsigned input_timeout;

static void run_one(const char *name, const uint8_t *data, size_t size, int mutated)
{
  /* A private copy of exactly size bytes: the target must not read past
   * it, and must not be able to change the corpus. */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy)
    die("out of memory for", name);
  memcpy(copy, data, size);
  cur_name = name;
  cur_data = copy;
  cur_size = size;
  cur_mutated = mutated;
  alarm(input_timeout);
  LLVMFuzzerTestOneInput(copy, size);
  alarm(0);
  cur_data = NULL;
  free(copy);
}

/* ---- mutating (long tier) -------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
  /* xorshift64*: plenty for picking offsets and values. */
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * UINT64_C(0x2545f4914f6cdd1d);
}

static size_t below(size_t n)
{
  return n ? (size_t)(rng() % n) : 0;
}

/* Values that sit on the boundaries validators check. */
static uint64_t interesting(void)
{
  static const uint64_t v[] = {
      0,          1,          2,          63,         64,
      65,         255,        256,        4095,       4096,
      4097,       0x7f,       0x80,       0xff,       0x7fff,
      0xffff,     0x7fffffff, 0x80000000, 0xffffffff, UINT64_C(0x7fffffffffffffff),
      UINT64_C(0x8000000000000000), UINT64_MAX, UINT64_MAX - 63,
  };
  return v[below(sizeof v / sizeof v[0])];
}

static void mutate(uint8_t *buf, size_t *len)
{
  size_t n = *len;
  switch (below(8)) {
  case 0: /* flip a bit */
    if (n)
      buf[below(n)] ^= (uint8_t)(1u << below(8));
    break;
  case 1: /* a random byte */
    if (n)
      buf[below(n)] = (uint8_t)rng();
    break;
  case 2: { /* a boundary value, 1, 2, 4 or 8 bytes wide */
    size_t w = (size_t)1 << below(4);
    if (n >= w) {
      uint64_t v = interesting();
      memcpy(buf + below(n - w + 1), &v, w);
    }
    break;
  }
  case 3: { /* nudge a 4- or 8-byte word */
    size_t w = below(2) ? 8 : 4;
    if (n >= w) {
      size_t at = below(n - w + 1);
      uint64_t v = 0;
      memcpy(&v, buf + at, w);
      v += (uint64_t)(int64_t)((int)below(33) - 16);
      memcpy(buf + at, &v, w);
    }
    break;
  }
  case 4: { /* insert random bytes */
    size_t k = 1 + below(16);
    if (n + k <= MUTATE_MAX_LEN) {
      size_t at = below(n + 1);
      memmove(buf + at + k, buf + at, n - at);
      for (size_t i = 0; i < k; i++)
        buf[at + i] = (uint8_t)rng();
      *len = n + k;
    }
    break;
  }
  case 5: { /* erase bytes */
    if (n) {
      size_t at = below(n), k = 1 + below(n - at < 64 ? n - at : 64);
      memmove(buf + at, buf + at + k, n - at - k);
      *len = n - k;
    }
    break;
  }
  case 6: /* truncate */
    *len = below(n + 1);
    break;
  default: { /* splice in a piece of another input, at the same offset */
    const struct input *o = &inputs[below(n_inputs)];
    if (o->size && n) {
      size_t at = below(o->size < n ? o->size : n);
      size_t k = 1 + below(o->size - at);
      if (at + k > n)
        k = n - at;
      memcpy(buf + at, o->data + at, k);
    }
    break;
  }
  }
}

static double env_seconds(const char *name)
{
  const char *s = getenv(name);
  double v = s && *s ? atof(s) : 0;
  return v > 0 ? v : 0;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mutate_for(double seconds)
{
  const char *s = getenv("FERRY_FUZZ_SEED");
  uint64_t seed = s && *s ? strtoull(s, NULL, 0)
                          : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  rng_state = seed ? seed : 1;
  printf("replay: mutating for %.0f s, FERRY_FUZZ_SEED=%llu\n", seconds,
         (unsigned long long)seed);
  fflush(stdout);
  uint8_t *buf = malloc(MUTATE_MAX_LEN);
  if (!buf)
    die("out of memory", "for mutation");
  double end = now_s() + seconds;
  unsigned long long runs = 0;
  while (now_s() < end) {
    /* Check the clock only every so often; inputs take microseconds. */
    for (int i = 0; i < 256; i++, runs++) {
      const struct input *in = &inputs[below(n_inputs)];
      size_t len = in->size < MUTATE_MAX_LEN ? in->size : MUTATE_MAX_LEN;
      memcpy(buf, in->data, len);
      size_t k = 1 + below(MUTATIONS_MAX);
      for (size_t j = 0; j < k; j++)
        mutate(buf, &len);
      run_one(in->name, buf, len, 1);
    }
  }
  free(buf);
  printf("replay: %llu mutated inputs\n", runs);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0)
      die("cannot stat", argv[i]);
    if (S_ISDIR(st.st_mode))
      add_dir(argv[i]);
    else
      add_file(argv[i]);
  }
  if (n_inputs == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  double t = env_seconds("FERRY_FUZZ_INPUT_TIMEOUT");
  input_timeout = t >= 1 ? (unsigned)t : DEFAULT_INPUT_TIMEOUT_S;
  install_death_handlers();

  for (size_t i = 0; i < n_inputs; i++)
    run_one(inputs[i].name, inputs[i].data, inputs[i].size, 0);
  printf("replay: %zu corpus inputs ok\n", n_inputs);
  fflush(stdout);

  double seconds = env_seconds("FERRY_STRESS_SECONDS");
  if (seconds > 0)
    mutate_for(seconds);

  for (size_t i = 0; i < n_inputs; i++) {
    free(inputs[i].name);
    free(inputs[i].data);
  }
  free(inputs);
  return 0;
}
