/*
 * bench.c: `ferry bench queue|pipe|bus|heap|dict`: runs ferry and its peers through
 * the same cases, one implementation at a time, and prints them side by
 * side: a table with each peer's ratio to ferry, JSON lines (--json) and a
 * hand-written SVG bar chart (--svg).
 *
 * Built-in implementations (ferry, OS pipe, Unix socket, POSIX mq, bare
 * spin) run in-process through bh_run(). The peers that need libraries
 * (ZeroMQ, Boost.Interprocess, iceoryx) are separate programs built on
 * demand by bench/build.sh into a cache next to this executable; the Python
 * peer is bench/peers/py_mp.py. They all print one result line in the same
 * format (bh_print_result), measured by the same rules [bench-rules].
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_hd.h"

/* The bus benchmark lives in tools/bench_bus.c (another owner); if it is
 * not linked in, this weak reference is NULL and `ferry bench bus` says so. */
extern int ferry_tool_bench_bus(int argc, char **argv) __attribute__((weak));

#define PYTHON "/usr/bin/python3"
#define ROUDI "iox-roudi"
#define PEER_GRACE_S 60      /* an external peer may take this long beyond its case */
#define ROUDI_START_NS (INT64_C(700) * 1000000)
#define MAX_RESULTS 512
#define CAPACITY_MIN_BYTES (1u << 20) /* every transport gets max(1 MiB, 4 messages) */
#define CAPACITY_MIN_MSGS 4

const char cli_help_bench[] =
    "usage: ferry bench queue|pipe|bus|heap|dict [options]\n"
    "\n"
    "Measures ferry against its peers, side by side, in one run:\n"
    "  queue  throughput, 1P1C and 2P2C, messages of 64 B, 4 KiB, 64 KiB, 1 MiB;\n"
    "         ferry's copy, batch (put_many/get_many) and zero-copy APIs\n"
    "  pipe   round trip of 64 B messages: p50, p99, p99.9\n"
    "  bus    the bus benchmark (tools/bench_bus.c)\n"
    "Peers: os-pipe, unix-seqpacket, posix-mq, shm-spin (pipe only), zmq-ipc,\n"
    "boost-mq, iceoryx, py-mp-queue, py-mp-pipe. Missing ones are skipped;\n"
    "scripts/install-bench-peers.sh installs them. See bench/README.md.\n"
    "\n"
    "Options:\n"
    "  --seconds S     measured length of each case (default 1)\n"
    "  --warmup S      unmeasured lead-in of each case (default 0.2)\n"
    "  --reps N        repeat each case N times and keep the median (default 1)\n"
    "  --impl a,b      only these implementations\n"
    "  --case x,y      only these cases: 1p1c, 2p2c, pingpong and/or sizes (64, 4k, 1m)\n"
    "  --json          one JSON object per line on stdout instead of the table\n"
    "  --svg FILE      also write a bar chart\n"
    "  --list          list the implementations and exit\n"
    "  --no-build      do not (re)build the external peer programs\n"
    "  --peers-dir D   where the peer programs are built (default: next to ferry)\n";

enum impl_type { T_BUILTIN, T_EXEC, T_PYTHON };

typedef struct impl_entry {
  const char *name;
  int type;
  const bh_impl *builtin; /* T_BUILTIN */
  const char *program;    /* T_EXEC: file in the peers dir; T_PYTHON: script's transport */
  bool needs_roudi;
} impl_entry;

typedef struct bench_case {
  const char *name; /* "1p1c", "2p2c", "pingpong" */
  bh_case c;
} bench_case;

typedef struct row {
  const char *impl;
  const bench_case *bc;
  bh_result r;
} row;

typedef struct bench_opts {
  const char *what; /* "queue" or "pipe" */
  double seconds, warmup;
  unsigned reps;
  const char *impls, *cases, *svg, *peers_dir;
  bool json, build, list;
} bench_opts;

/* ---- implementation tables ---- */

static size_t builtin_entries(const bh_impl *const *list, impl_entry *out, size_t n)
{
  for (; *list; list++)
    out[n++] = (impl_entry){(*list)->name, T_BUILTIN, *list, NULL, false};
  return n;
}

static size_t all_impls(bool pipe_bench, impl_entry *out)
{
  size_t n = builtin_entries(pipe_bench ? bench_builtin_pipe : bench_builtin_queue, out, 0);
  out[n++] = (impl_entry){"zmq-ipc", T_EXEC, NULL, "zmq_peer", false};
  out[n++] = (impl_entry){"boost-mq", T_EXEC, NULL, "boost_mq_peer", false};
  out[n++] = (impl_entry){"iceoryx", T_EXEC, NULL, "iceoryx_peer", true};
  out[n++] = (impl_entry){"py-mp-queue", T_PYTHON, NULL, "queue", false};
  out[n++] = (impl_entry){"py-mp-pipe", T_PYTHON, NULL, "pipe", false};
  return n;
}

/* Whether name is one of the comma-separated items of list (NULL: all). */
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

/* "64", "4k", "4KiB", "1m", "1MiB" -> bytes; 0 if it is not a size. */
static uint64_t parse_size(const char *s, size_t len)
{
  char buf[32];
  if (len == 0 || len >= sizeof buf)
    return 0;
  memcpy(buf, s, len);
  buf[len] = 0;
  char *end;
  unsigned long long v = strtoull(buf, &end, 10);
  if (end == buf)
    return 0;
  if (*end == 'k' || *end == 'K')
    v <<= 10, end++;
  else if (*end == 'm' || *end == 'M')
    v <<= 20, end++;
  if (*end == 'i')
    end++;
  if (*end == 'B' || *end == 'b')
    end++;
  return *end ? 0 : v;
}

/* Checks one --case item; false if it is neither a case name nor a size. */
static bool case_item_ok(const char *p, size_t l)
{
  return (l == 4 && (strncmp(p, "1p1c", 4) == 0 || strncmp(p, "2p2c", 4) == 0)) ||
         (l == 8 && strncmp(p, "pingpong", 8) == 0) || parse_size(p, l) != 0;
}

static bool case_selected(const char *list, const bench_case *bc)
{
  if (!list)
    return true;
  bool any_name = false, any_size = false, name_ok = false, size_ok = false;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    uint64_t sz = parse_size(p, l);
    if (sz) {
      any_size = true;
      size_ok |= sz == bc->c.msg_bytes;
    } else {
      any_name = true;
      name_ok |= l == strlen(bc->name) && strncmp(p, bc->name, l) == 0;
    }
    p += l + (e != NULL);
  }
  return (!any_name || name_ok) && (!any_size || size_ok);
}

static size_t make_cases(const bench_opts *o, bench_case *out)
{
  static const size_t sizes[] = {64, 4096, 65536, 1048576};
  size_t n = 0;
  bh_case base = {.seconds = o->seconds, .warmup = o->warmup};
  if (strcmp(o->what, "pipe") == 0) {
    base.kind = BH_PIPE;
    base.msg_bytes = 64;
    base.producers = base.consumers = 1;
    base.capacity_bytes = CAPACITY_MIN_BYTES;
    out[n++] = (bench_case){"pingpong", base};
    return n;
  }
  base.kind = BH_QUEUE;
  for (int t = 1; t <= 2; t++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      bh_case c = base;
      c.msg_bytes = sizes[i];
      c.producers = c.consumers = t;
      c.capacity_bytes = sizes[i] * CAPACITY_MIN_MSGS > CAPACITY_MIN_BYTES
                             ? sizes[i] * CAPACITY_MIN_MSGS : CAPACITY_MIN_BYTES;
      out[n++] = (bench_case){t == 1 ? "1p1c" : "2p2c", c};
    }
  return n;
}

/* ---- locating and building the external peers ---- */

/* The source tree: this file's path (CMake compiles it by absolute path)
 * minus "/tools/bench.c", unless FERRY_SOURCE_DIR says otherwise. */
static void source_dir(char *out, size_t cap)
{
  const char *env = getenv("FERRY_SOURCE_DIR");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return;
  }
  snprintf(out, cap, "%s", __FILE__);
  char *p = strrchr(out, '/');
  if (p)
    *p = 0;
  p = strrchr(out, '/');
  if (p)
    *p = 0;
  else
    snprintf(out, cap, ".");
}

static void default_peers_dir(char *out, size_t cap)
{
  char exe[PATH_MAX - 64];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k > 0) {
    exe[k] = 0;
    char *p = strrchr(exe, '/');
    if (p) {
      *p = 0;
      snprintf(out, cap, "%s/bench-peers", exe);
      if (access(exe, W_OK) == 0)
        return;
    }
  }
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(out, cap, "%s/ferry/bench-peers", xdg);
  else
    snprintf(out, cap, "%s/.cache/ferry/bench-peers", home ? home : "/tmp");
}

/* Runs argv with stdout to a pipe; returns its output (malloc'd, possibly
 * empty) or NULL; kills it (by pid) after timeout_s. *status gets the wait
 * status. */
static char *run_capture(char *const argv[], double timeout_s, int *status)
{
  int p[2];
  if (pipe(p) != 0)
    return NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    execvp(argv[0], argv);
    fprintf(stderr, "ferry bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  size_t len = 0, cap = 4096;
  char *out = malloc(cap);
  uint64_t until = bh_now_ns() + (uint64_t)(timeout_s * 1e9);
  bool killed = false, eof = false;
  *status = -1;
  while (out) {
    if (!eof) {
      if (len + 1024 > cap) {
        char *n = realloc(out, cap *= 2);
        if (!n)
          break;
        out = n;
      }
      ssize_t k = read(p[0], out + len, cap - len - 1);
      if (k > 0) {
        len += (size_t)k;
        continue;
      }
      if (k == 0)
        eof = true;
    }
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      break;
    if (!killed && bh_now_ns() > until) {
      kill(pid, SIGKILL);
      killed = true;
    }
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  if (!eof && out) {
    ssize_t k;
    while (len + 1 < cap && (k = read(p[0], out + len, cap - len - 1)) > 0)
      len += (size_t)k;
  }
  close(p[0]);
  if (out)
    out[len] = 0;
  if (killed)
    *status = -2;
  return out;
}

static void build_peers(const char *src, const char *dir)
{
  char script[PATH_MAX + 32];
  snprintf(script, sizeof script, "%s/bench/build.sh", src);
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "ferry bench: %s not found: external peers are skipped\n", script);
    return;
  }
  char *argv[] = {"sh", script, (char *)dir, NULL};
  int st;
  free(run_capture(argv, 600, &st));
}

/* ---- iceoryx's RouDi daemon, started and stopped by the bench ---- */

static pid_t roudi_pid = -1;

static bool roudi_start(const char *src)
{
  if (roudi_pid > 0)
    return true;
  char conf[PATH_MAX + 32];
  snprintf(conf, sizeof conf, "%s/bench/peers/roudi.toml", src);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execlp(ROUDI, ROUDI, "-c", conf, (char *)NULL);
    _exit(127);
  }
  struct timespec ts = {0, ROUDI_START_NS};
  nanosleep(&ts, NULL);
  int st;
  if (waitpid(pid, &st, WNOHANG) == pid)
    return false; /* it did not stay up (not installed, or already running) */
  roudi_pid = pid;
  return true;
}

static void roudi_stop(void)
{
  if (roudi_pid <= 0)
    return;
  kill(roudi_pid, SIGINT);
  for (int i = 0; i < 500; i++) {
    if (waitpid(roudi_pid, NULL, WNOHANG) == roudi_pid) {
      roudi_pid = -1;
      return;
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  kill(roudi_pid, SIGKILL);
  waitpid(roudi_pid, NULL, 0);
  roudi_pid = -1;
}

/* ---- running one case ---- */

/* The number after "key": in a flat JSON line, or NAN. */
static double json_num(const char *s, const char *key)
{
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(s, k);
  return p ? strtod(p + strlen(k), NULL) : NAN;
}

static void json_strval(const char *s, const char *key, char *out, size_t cap)
{
  char k[64];
  snprintf(k, sizeof k, "\"%s\":\"", key);
  const char *p = strstr(s, k);
  out[0] = 0;
  if (!p)
    return;
  p += strlen(k);
  size_t n = 0;
  for (; *p && *p != '"' && n + 1 < cap; p++) {
    if (*p == '\\' && p[1])
      p++;
    out[n++] = *p;
  }
  out[n] = 0;
}

static void run_external(const impl_entry *e, const bench_case *bc, const char *src,
                         const char *peers, bh_result *r)
{
  memset(r, 0, sizeof *r);
  r->status = BH_SKIPPED;
  char prog[PATH_MAX + 64], script[PATH_MAX + 64];
  char a_bytes[32], a_p[16], a_c[16], a_s[32], a_w[32], a_cap[32];
  const bh_case *c = &bc->c;
  snprintf(a_bytes, sizeof a_bytes, "%zu", c->msg_bytes);
  snprintf(a_p, sizeof a_p, "%d", c->producers);
  snprintf(a_c, sizeof a_c, "%d", c->consumers);
  snprintf(a_s, sizeof a_s, "%g", c->seconds);
  snprintf(a_w, sizeof a_w, "%g", c->warmup);
  snprintf(a_cap, sizeof a_cap, "%zu", c->capacity_bytes);
  char *argv[24];
  int n = 0;
  if (e->type == T_PYTHON) {
    snprintf(script, sizeof script, "%s/bench/peers/py_mp.py", src);
    if (access(PYTHON, X_OK) != 0 || access(script, R_OK) != 0) {
      snprintf(r->note, sizeof r->note, "not installed (%s or bench/peers/py_mp.py missing)",
               PYTHON);
      return;
    }
    argv[n++] = PYTHON;
    argv[n++] = script;
    argv[n++] = "--transport";
    argv[n++] = (char *)e->program;
  } else {
    snprintf(prog, sizeof prog, "%s/%s", peers, e->program);
    if (access(prog, X_OK) != 0) {
      snprintf(r->note, sizeof r->note,
               "not built (its packages missing? see scripts/install-bench-peers.sh)");
      return;
    }
    if (e->needs_roudi && !roudi_start(src)) {
      snprintf(r->note, sizeof r->note, "could not start %s", ROUDI);
      return;
    }
    argv[n++] = prog;
  }
  argv[n++] = c->kind == BH_PIPE ? "pipe" : "queue";
  argv[n++] = "--msg-bytes", argv[n++] = a_bytes;
  argv[n++] = "--producers", argv[n++] = a_p;
  argv[n++] = "--consumers", argv[n++] = a_c;
  argv[n++] = "--seconds", argv[n++] = a_s;
  argv[n++] = "--warmup", argv[n++] = a_w;
  argv[n++] = "--capacity", argv[n++] = a_cap;
  argv[n] = NULL;
  int st;
  char *out = run_capture(argv, c->seconds + c->warmup + PEER_GRACE_S, &st);
  r->status = BH_FAILED;
  const char *line = out ? strstr(out, "{\"status\"") : NULL;
  if (!line) {
    snprintf(r->note, sizeof r->note, "%s: no result (%s)", e->name,
             st == -2 ? "timed out" : "crashed or failed; see stderr");
    free(out);
    return;
  }
  char status[16];
  json_strval(line, "status", status, sizeof status);
  json_strval(line, "note", r->note, sizeof r->note);
  r->status = strcmp(status, "ok") == 0 ? BH_OK : strcmp(status, "skipped") == 0 ? BH_SKIPPED
                                                                                 : BH_FAILED;
  r->msgs = (uint64_t)json_num(line, "msgs");
  r->seconds = json_num(line, "seconds");
  r->msgs_per_s = json_num(line, "msgs_per_s");
  r->mb_per_s = json_num(line, "mb_per_s");
  r->p50_us = json_num(line, "p50_us");
  r->p99_us = json_num(line, "p99_us");
  r->p999_us = json_num(line, "p999_us");
  free(out);
}

static int cmp_rate(const void *a, const void *b)
{
  const bh_result *x = a, *y = b;
  return x->msgs_per_s < y->msgs_per_s ? -1 : x->msgs_per_s > y->msgs_per_s;
}

static int cmp_p50(const void *a, const void *b)
{
  const bh_result *x = a, *y = b;
  return x->p50_us < y->p50_us ? -1 : x->p50_us > y->p50_us;
}

/* Runs reps repetitions and keeps the median one (by rate, or by p50). */
static void run_one(const impl_entry *e, const bench_case *bc, const bench_opts *o,
                    const char *src, const char *peers, bh_result *out)
{
  bh_result reps[16];
  unsigned n = o->reps > 16 ? 16 : o->reps, ok = 0;
  for (unsigned i = 0; i < n; i++) {
    bh_result r;
    if (e->type == T_BUILTIN)
      bh_run(e->builtin, &bc->c, &r);
    else
      run_external(e, bc, src, peers, &r);
    if (r.status != BH_OK) {
      *out = r;
      return;
    }
    reps[ok++] = r;
  }
  qsort(reps, ok, sizeof reps[0], bc->c.kind == BH_PIPE ? cmp_p50 : cmp_rate);
  *out = reps[ok / 2];
}

/* ---- output ---- */

static void machine(char *cpu, size_t cap, long *nproc, char *kernel, size_t kcap)
{
  *nproc = sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(cpu, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        p += 1 + (p[1] == ' ');
        p[strcspn(p, "\n")] = 0;
        snprintf(cpu, cap, "%s", p);
      }
      break;
    }
  }
  if (f)
    fclose(f);
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(kernel, kcap, "%s %s %s", u.sysname, u.release, u.machine);
  else
    snprintf(kernel, kcap, "unknown");
}

static const char *status_name(int s)
{
  return s == BH_OK ? "ok" : s == BH_SKIPPED ? "skipped" : "failed";
}

static void json_num_or_null(cli_json *j, const char *key, bool ok, double v)
{
  cli_json_key(j, key);
  if (ok)
    cli_json_double(j, v);
  else
    cli_json_null(j);
}

/* One JSON object on one line (the writer indents; we want lines). */
static void print_json_row(const row *w)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m)
    return;
  cli_json j;
  cli_json_init(&j, m);
  cli_json_object(&j);
  bool ok = w->r.status == BH_OK;
  bool pipe_case = w->bc->c.kind == BH_PIPE;
  cli_json_key(&j, "type");
  cli_json_str(&j, "result");
  cli_json_key(&j, "bench");
  cli_json_str(&j, pipe_case ? "pipe" : "queue");
  cli_json_key(&j, "impl");
  cli_json_str(&j, w->impl);
  cli_json_key(&j, "case");
  cli_json_str(&j, w->bc->name);
  cli_json_key(&j, "msg_bytes");
  cli_json_uint(&j, w->bc->c.msg_bytes);
  cli_json_key(&j, "producers");
  cli_json_int(&j, w->bc->c.producers);
  cli_json_key(&j, "consumers");
  cli_json_int(&j, w->bc->c.consumers);
  json_num_or_null(&j, "msgs_per_s", ok, w->r.msgs_per_s);
  json_num_or_null(&j, "mb_per_s", ok, w->r.mb_per_s);
  if (pipe_case) {
    json_num_or_null(&j, "p50_us", ok, w->r.p50_us);
    json_num_or_null(&j, "p99_us", ok, w->r.p99_us);
    json_num_or_null(&j, "p999_us", ok, w->r.p999_us);
  }
  cli_json_key(&j, "status");
  cli_json_str(&j, status_name(w->r.status));
  cli_json_key(&j, "note");
  cli_json_str(&j, w->r.note);
  cli_json_key(&j, "msgs");
  cli_json_uint(&j, w->r.msgs);
  cli_json_key(&j, "seconds");
  cli_json_double(&j, w->r.seconds);
  cli_json_key(&j, "capacity_bytes");
  cli_json_uint(&j, w->bc->c.capacity_bytes);
  cli_json_end(&j);
  fclose(m);
  /* Fold the writer's lines into one. */
  for (char *p = buf; *p; p++) {
    if (*p == '\n')
      continue;
    if (*p == ' ' && (p == buf || p[-1] == '\n'))
      continue;
    putchar(*p);
  }
  putchar('\n');
  fflush(stdout);
  free(buf);
}

static void print_json_header(const bench_opts *o)
{
  char cpu[256], kernel[256], when[64];
  long nproc;
  machine(cpu, sizeof cpu, &nproc, kernel, sizeof kernel);
  time_t t = time(NULL);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  cli_json j;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m)
    return;
  cli_json_init(&j, m);
  cli_json_object(&j);
  cli_json_key(&j, "type");
  cli_json_str(&j, "machine");
  cli_json_key(&j, "bench");
  cli_json_str(&j, o->what);
  cli_json_key(&j, "nproc");
  cli_json_int(&j, nproc);
  cli_json_key(&j, "cpu");
  cli_json_str(&j, cpu);
  cli_json_key(&j, "kernel");
  cli_json_str(&j, kernel);
  cli_json_key(&j, "time");
  cli_json_str(&j, when);
  cli_json_key(&j, "seconds");
  cli_json_double(&j, o->seconds);
  cli_json_key(&j, "warmup");
  cli_json_double(&j, o->warmup);
  cli_json_key(&j, "reps");
  cli_json_uint(&j, o->reps);
  cli_json_key(&j, "ferry_version");
  cli_json_str(&j, CLI_VERSION);
  cli_json_end(&j);
  fclose(m);
  for (char *p = buf; *p; p++)
    if (*p != '\n' && !(*p == ' ' && (p == buf || p[-1] == '\n')))
      putchar(*p);
  putchar('\n');
  free(buf);
}

static const char *fmt_rate(double v, char *buf, size_t cap)
{
  if (v >= 1e9)
    snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, cap, "%.1fk", v / 1e3);
  else
    snprintf(buf, cap, "%.0f", v);
  return buf;
}

static const char *fmt_bytes(size_t b, char *buf, size_t cap)
{
  if (b >= (1u << 20) && b % (1u << 20) == 0)
    snprintf(buf, cap, "%zuMiB", b >> 20);
  else if (b >= 1024 && b % 1024 == 0)
    snprintf(buf, cap, "%zuKiB", b >> 10);
  else
    snprintf(buf, cap, "%zuB", b);
  return buf;
}

/* ferry's row of the same case: the reference of the ratios. */
static const row *ferry_row(const row *rows, size_t n, const bench_case *bc)
{
  for (size_t i = 0; i < n; i++)
    if (rows[i].bc == bc && strcmp(rows[i].impl, "ferry") == 0 && rows[i].r.status == BH_OK)
      return &rows[i];
  return NULL;
}

static void print_table(const bench_opts *o, const row *rows, size_t n)
{
  char cpu[256], kernel[256];
  long nproc;
  machine(cpu, sizeof cpu, &nproc, kernel, sizeof kernel);
  bool pipe_bench = strcmp(o->what, "pipe") == 0;
  printf("ferry bench %s: %ld CPUs, %s, %s; %.3g s per case after %.3g s warm-up, median of %u\n",
         o->what, nproc, cpu, kernel, o->seconds, o->warmup, o->reps);
  if (pipe_bench)
    printf("%-9s %-6s %-15s %10s %10s %10s %10s %8s  %s\n", "case", "size", "impl", "p50 us",
           "p99 us", "p99.9 us", "rt/s", "x ferry", "note");
  else
    printf("%-9s %-6s %-15s %10s %10s %8s  %s\n", "case", "size", "impl", "msgs/s", "MB/s",
           "x ferry", "note");
  const bench_case *prev = NULL;
  for (size_t i = 0; i < n; i++) {
    const row *w = &rows[i];
    char sz[32], rate[16], ratio[16] = "-";
    const char *cname = w->bc != prev ? w->bc->name : "";
    fmt_bytes(w->bc->c.msg_bytes, sz, sizeof sz);
    if (w->bc == prev)
      sz[0] = 0;
    prev = w->bc;
    const row *f = ferry_row(rows, n, w->bc);
    if (w->r.status != BH_OK) {
      printf("%-9s %-6s %-15s %10s %*s%s: %s\n", cname, sz, w->impl,
             w->r.status == BH_SKIPPED ? "skipped" : "FAILED", pipe_bench ? 41 : 20, "",
             status_name(w->r.status), w->r.note);
      continue;
    }
    /* "x ferry": how the peer compares with ferry: its rate / ferry's (or
     * its p50 / ferry's for round trips). */
    if (f && f->r.msgs_per_s > 0 && f->r.p50_us >= 0)
      snprintf(ratio, sizeof ratio, "%.2f",
               pipe_bench ? (f->r.p50_us > 0 ? w->r.p50_us / f->r.p50_us : 0)
                          : w->r.msgs_per_s / f->r.msgs_per_s);
    if (pipe_bench)
      printf("%-9s %-6s %-15s %10.2f %10.2f %10.2f %10s %8s  %s\n", cname, sz, w->impl,
             w->r.p50_us, w->r.p99_us, w->r.p999_us, fmt_rate(w->r.msgs_per_s, rate, sizeof rate),
             ratio, w->r.note);
    else
      printf("%-9s %-6s %-15s %10s %10.1f %8s  %s\n", cname, sz, w->impl,
             fmt_rate(w->r.msgs_per_s, rate, sizeof rate), w->r.mb_per_s, ratio, w->r.note);
  }
  if (pipe_bench)
    printf("x ferry = the peer's p50 / ferry's p50 (above 1: ferry is faster)\n");
  else
    printf("x ferry = the peer's msgs/s / ferry's (copy API); below 1: ferry is faster\n");
}

/* ---- SVG: one group of horizontal bars per case ---- */

#define SVG_W 900
#define SVG_LABEL_W 260
#define SVG_BAR_H 16
#define SVG_GAP 26

static void svg_escape(FILE *f, const char *s)
{
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else
      fputc(*s, f);
  }
}

static int write_svg(const bench_opts *o, const row *rows, size_t n)
{
  FILE *f = fopen(o->svg, "w");
  if (!f)
    return -errno;
  bool pipe_bench = strcmp(o->what, "pipe") == 0;
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    groups += i == 0 || rows[i].bc != rows[i - 1].bc;
  int height = 60 + (int)groups * SVG_GAP + (int)n * (SVG_BAR_H + 4) + 30;
  char cpu[256], kernel[256];
  long nproc;
  machine(cpu, sizeof cpu, &nproc, kernel, sizeof kernel);
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n", SVG_W, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"16\">ferry bench %s: %s</text>\n", o->what,
          pipe_bench ? "round trip of 64 B, p50 (log scale; shorter is better)"
                     : "throughput, MB/s (per case, relative to the fastest; longer is better)");
  fprintf(f, "<text x=\"10\" y=\"40\" fill=\"#555\">%ld CPUs, ", nproc);
  svg_escape(f, cpu);
  fprintf(f, "; %.3g s per case</text>\n", o->seconds);
  int y = 60;
  double bar_w = SVG_W - SVG_LABEL_W - 120;
  for (size_t i = 0; i < n;) {
    const bench_case *bc = rows[i].bc;
    size_t end = i;
    double max = 0, min = INFINITY;
    for (; end < n && rows[end].bc == bc; end++) {
      if (rows[end].r.status != BH_OK)
        continue;
      double v = pipe_bench ? rows[end].r.p50_us : rows[end].r.mb_per_s;
      max = v > max ? v : max;
      min = v < min ? v : min;
    }
    char sz[32];
    y += 16;
    fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s %s</text>\n", y, bc->name,
            fmt_bytes(bc->c.msg_bytes, sz, sizeof sz));
    y += 6;
    /* Log scale for latencies: from a decade under the fastest to the slowest. */
    double lo = pipe_bench && min > 0 ? log10(min) - 1 : 0;
    double hi = pipe_bench && max > 0 ? log10(max) : 0;
    for (; i < end; i++) {
      const row *w = &rows[i];
      bool ok = w->r.status == BH_OK;
      double v = pipe_bench ? w->r.p50_us : w->r.mb_per_s;
      double frac = !ok || max <= 0 ? 0
                    : pipe_bench    ? (hi > lo ? (log10(v) - lo) / (hi - lo) : 1)
                                    : v / max;
      bool is_ferry = strncmp(w->impl, "ferry", 5) == 0;
      fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", SVG_LABEL_W - 8,
              y + SVG_BAR_H - 4);
      svg_escape(f, w->impl);
      fprintf(f, "</text>\n");
      if (ok) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
                SVG_LABEL_W, y, frac * bar_w + 1, SVG_BAR_H, is_ferry ? "#d9480f" : "#4c6ef5");
        if (pipe_bench)
          fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.2f us (p99 %.2f)</text>\n",
                  SVG_LABEL_W + frac * bar_w + 6, y + SVG_BAR_H - 4, v, w->r.p99_us);
        else
          fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.1f MB/s</text>\n",
                  SVG_LABEL_W + frac * bar_w + 6, y + SVG_BAR_H - 4, v);
      } else {
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">%s</text>\n", SVG_LABEL_W + 4,
                y + SVG_BAR_H - 4, status_name(w->r.status));
      }
      y += SVG_BAR_H + 4;
    }
  }
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : -errno;
}

/* ---- the verb ---- */

static void progress(bool on, size_t i, size_t n, const char *what, const bench_case *bc,
                     const char *impl)
{
  if (!on)
    return;
  char sz[32];
  if (bc)
    fprintf(stderr, "\r\033[K[%zu/%zu] %s %s %s: %s ...", i + 1, n, what, bc->name,
            fmt_bytes(bc->c.msg_bytes, sz, sizeof sz), impl);
  else
    fprintf(stderr, "\r\033[K");
  fflush(stderr);
}

static int bench_run(const bench_opts *o)
{
  bool pipe_bench = strcmp(o->what, "pipe") == 0;
  static impl_entry impls[32];
  size_t nimpl = all_impls(pipe_bench, impls);
  if (o->list) {
    for (size_t i = 0; i < nimpl; i++)
      printf("%s\n", impls[i].name);
    return CLI_OK;
  }
  if (o->impls) {
    for (const char *p = o->impls; *p;) {
      const char *e = strchr(p, ',');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      bool found = false;
      for (size_t i = 0; i < nimpl; i++)
        found |= strlen(impls[i].name) == l && strncmp(impls[i].name, p, l) == 0;
      if (!found)
        return cli_usage_error("bench", "unknown implementation '%.*s' (see --list)", (int)l, p);
      p += l + (e != NULL);
    }
  }
  if (o->cases) {
    for (const char *p = o->cases; *p;) {
      const char *e = strchr(p, ',');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      if (!case_item_ok(p, l))
        return cli_usage_error("bench", "unknown case '%.*s'", (int)l, p);
      p += l + (e != NULL);
    }
  }
  static bench_case cases[16];
  size_t ncase = make_cases(o, cases);

  char src[PATH_MAX], peers[PATH_MAX];
  source_dir(src, sizeof src);
  if (o->peers_dir)
    snprintf(peers, sizeof peers, "%s", o->peers_dir);
  else
    default_peers_dir(peers, sizeof peers);
  bool want_exec = false;
  for (size_t i = 0; i < nimpl; i++)
    want_exec |= impls[i].type == T_EXEC && in_list(o->impls, impls[i].name);
  if (want_exec && o->build)
    build_peers(src, peers);

  size_t total = 0;
  for (size_t c = 0; c < ncase; c++)
    for (size_t i = 0; i < nimpl; i++)
      total += case_selected(o->cases, &cases[c]) && in_list(o->impls, impls[i].name);
  static row rows[MAX_RESULTS];
  size_t nrows = 0;
  bool tty = isatty(2);
  if (o->json)
    print_json_header(o);
  int rc = CLI_OK;
  for (size_t c = 0; c < ncase; c++) {
    if (!case_selected(o->cases, &cases[c]))
      continue;
    for (size_t i = 0; i < nimpl && nrows < MAX_RESULTS; i++) {
      if (!in_list(o->impls, impls[i].name))
        continue;
      progress(tty, nrows, total, o->what, &cases[c], impls[i].name);
      row *w = &rows[nrows++];
      w->impl = impls[i].name;
      w->bc = &cases[c];
      run_one(&impls[i], &cases[c], o, src, peers, &w->r);
      if (w->r.status == BH_FAILED) {
        progress(tty, 0, 0, NULL, NULL, NULL);
        fprintf(stderr, "ferry bench: %s %s %zu B: %s: FAILED: %s\n", o->what, cases[c].name,
                cases[c].c.msg_bytes, w->impl, w->r.note);
        rc = CLI_FAIL;
      }
      if (o->json)
        print_json_row(w);
    }
  }
  roudi_stop();
  progress(tty, 0, 0, NULL, NULL, NULL);
  if (!o->json)
    print_table(o, rows, nrows);
  if (o->svg) {
    int e = write_svg(o, rows, nrows);
    if (e != 0) {
      cli_error("bench", e, "writing %s", o->svg);
      rc = CLI_FAIL;
    }
  }
  return rc;
}

static int parse_double(const char *v, double min, double max, double *out)
{
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !(d >= min && d <= max))
    return -1;
  *out = d;
  return 0;
}

int ferry_tool_bench(int argc, char **argv)
{
  int backend_rc = ferry_tool_bench_backend(&argc, argv);
  if (backend_rc >= 0)
    return backend_rc;
  bench_opts o = {.seconds = 1, .warmup = 0.2, .reps = 1, .build = true};
  cli_args a;
  cli_args_init(&a, "bench", argc, argv);
  while (cli_args_next(&a)) {
    const char *v;
    int r;
    if (cli_args_help(&a))
      return cli_print_help(cli_help_bench);
    if (cli_args_flag(&a, "--json"))
      o.json = true;
    else if (cli_args_flag(&a, "--list"))
      o.list = true;
    else if (cli_args_flag(&a, "--no-build"))
      o.build = false;
    else if (cli_args_failed(&a))
      return CLI_USAGE;
    else if ((r = cli_args_value(&a, "--seconds", &v)) != 0) {
      if (r < 0 || parse_double(v, 0.001, 3600, &o.seconds) != 0)
        return r < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --seconds '%s'", v);
    } else if ((r = cli_args_value(&a, "--warmup", &v)) != 0) {
      if (r < 0 || parse_double(v, 0, 600, &o.warmup) != 0)
        return r < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --warmup '%s'", v);
    } else if ((r = cli_args_value(&a, "--reps", &v)) != 0) {
      uint64_t n;
      if (r < 0 || !cli_parse_u64(v, 1, 15, &n))
        return r < 0 ? CLI_USAGE : cli_usage_error("bench", "bad --reps '%s' (1..15)", v);
      o.reps = (unsigned)n;
    } else if ((r = cli_args_value(&a, "--impl", &v)) != 0) {
      if (r < 0)
        return CLI_USAGE;
      o.impls = v;
    } else if ((r = cli_args_value(&a, "--case", &v)) != 0) {
      if (r < 0)
        return CLI_USAGE;
      o.cases = v;
    } else if ((r = cli_args_value(&a, "--svg", &v)) != 0) {
      if (r < 0)
        return CLI_USAGE;
      o.svg = v;
    } else if ((r = cli_args_value(&a, "--peers-dir", &v)) != 0) {
      if (r < 0)
        return CLI_USAGE;
      o.peers_dir = v;
    } else if (cli_args_positional(&a) && !o.what) {
      if (strcmp(a.word, "bus") == 0) {
        if (!ferry_tool_bench_bus) {
          cli_error("bench", -ENOSYS, "the bus benchmark is not built");
          return CLI_FAIL;
        }
        return ferry_tool_bench_bus(argc - (a.next - 1), argv + (a.next - 1));
      }
      if (strcmp(a.word, "heap") == 0)
        return ferry_tool_bench_heap(argc - (a.next - 1), argv + (a.next - 1));
      if (strcmp(a.word, "dict") == 0)
        return ferry_tool_bench_dict(argc - (a.next - 1), argv + (a.next - 1));
      if (strcmp(a.word, "queue") != 0 && strcmp(a.word, "pipe") != 0)
        return cli_usage_error("bench", "unknown benchmark '%s' (queue, pipe, bus, heap or dict)", a.word);
      o.what = a.word;
    } else
      return cli_args_unknown(&a);
  }
  if (!o.what)
    return cli_usage_error("bench", "missing benchmark: queue, pipe, bus, heap or dict");
  return bench_run(&o);
}
