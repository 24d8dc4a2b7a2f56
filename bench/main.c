/* SPDX-License-Identifier: MIT */
/*
 * main.c: ferry-bench, the benchmark lab that `ferry bench` runs: its
 * table of benchmarks, and the queue and pipe benchmarks, which run ferry
 * and its peers through the same cases, one implementation at a time, and
 * report them side by side (report.c: one table, one JSON schema).
 *
 * With --load N, N busy processes run during every case of every
 * implementation (bh_load_start(), [bench-load]).
 *
 * Built-in implementations (ferry, OS pipe, Unix socket, POSIX mq, bare
 * spin) run in-process through bh_run(). The peers that need libraries
 * (ZeroMQ, Boost.Interprocess, iceoryx) are separate programs that CMake
 * builds into bench-peers/ next to this executable, where the Python peer
 * is copied too (peers.c). They all print one result line in the same
 * format (bh_print_result), measured by the same rules [bench-rules].
 * Built with the sources and never installed.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_GRACE_S 60 /* an external peer may take this long beyond its case */
#define MAX_RESULTS 512
#define CAPACITY_MIN_BYTES (1u << 20) /* every transport gets max(1 MiB, 4 messages) */
#define CAPACITY_MIN_MSGS 4
#define MAX_REPS 15
#define MAX_LOADS 4 /* values in --load */

const char bench_help_main[] =
    "usage: ferry bench queue|pipe|bus|heap|dict|pool [options]\n"
    "\n"
    "Measures ferry against its peers, side by side, in one run:\n"
    "  queue  throughput, 1P1C and 2P2C, messages of 64 B, 4 KiB, 64 KiB, 1 MiB\n"
    "  pipe   round trip of 64 B messages between two processes\n"
    "  bus    large arrays from one producer to N consumers, against the\n"
    "         usual Python design and a bare memcpy\n"
    "  heap   a shared heap under N workers, against a Python heap served by\n"
    "         a manager process\n"
    "  dict   a shared dict under N workers, against Manager().dict()\n"
    "  pool   the process pool against Pool.imap, ProcessPoolExecutor, joblib,\n"
    "         GNU parallel and xargs -P\n"
    "\n"
    "'ferry help bench BENCHMARK' gives each one's options; they may come\n"
    "before or after the benchmark's name. Every benchmark prints a table, or\n"
    "with --json one JSON object per line in one schema (bench/README.md);\n"
    "bench/chart.py draws charts from it. ferry-bench is built with the\n"
    "sources and not installed; its peers are built next to it\n"
    "(bench-peers/) when their packages are installed\n"
    "(scripts/install-bench-peers.sh).\n"
    "\n"
    "Exit status: 0 done, 1 a case failed (skipped cases are not failures),\n"
    "2 bad command line.\n";

const char bench_help_qp[] =
    "usage: ferry bench queue|pipe [--seconds S] [--warmup S] [--reps N]\n"
    "                              [--impl a,b] [--case x,y] [--json] [--list]\n"
    "                              [--load N,M] [--peers-dir DIR]\n"
    "\n"
    "queue  throughput, 1P1C and 2P2C, messages of 64 B, 4 KiB, 64 KiB, 1 MiB;\n"
    "       ferry's copy, batch (put_many/get_many) and zero-copy APIs\n"
    "pipe   round trip of 64 B messages: p50 (the value), p99, p99.9\n"
    "Peers: os-pipe, unix-seqpacket, posix-mq, shm-spin (pipe only), shm-ring\n"
    "(queue 1P1C only), zmq-ipc, boost-mq, iceoryx, py-mp-queue, py-mp-pipe.\n"
    "Missing ones are skipped. shm-spin and shm-ring are the floors: no library,\n"
    "no crash safety, spinning.\n"
    "\n"
    "Options:\n"
    "  --seconds S      measured length of each case (default 1)\n"
    "  --warmup S       unmeasured lead-in of each case (default 0.2)\n"
    "  --reps N         repeat each case N times and keep the median (1..15,\n"
    "                   default 1)\n"
    "  --impl a,b       only these implementations\n"
    "  --case x,y       only these cases: 1p1c, 2p2c, pingpong and/or sizes\n"
    "                   (64, 4k, 64k, 1m); names and sizes combine with AND\n"
    "  --json           one JSON object per line instead of the table\n"
    "  --list           list the implementations and exit\n"
    "  --load N,M       run every case of every implementation with N busy\n"
    "                   processes competing for the CPUs (then again with M;\n"
    "                   0..64 each, up to 4 values; default 0). They start\n"
    "                   before each case and are stopped after it; a case\n"
    "                   with load is named with it (pingpong-64B-load2)\n"
    "  --peers-dir DIR  where the peer programs are (default: bench-peers/\n"
    "                   next to ferry-bench)\n"
    "  --backend B      queue only: shm (the default: ferry's shared-memory\n"
    "                   queue) or redis, the queue on a Redis server against\n"
    "                   the raw server ('ferry bench queue --backend redis -h')\n"
    "  -h, --help\n";

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
  int load; /* busy processes during the case [bench-load] */
} bench_case;

typedef struct bench_opts {
  const char *what; /* "queue" or "pipe" */
  double seconds, warmup;
  uint32_t reps;
  const char *impls, *cases, *peers_dir;
  int loads[MAX_LOADS];
  size_t nloads;
  bool json, list;
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

/* Every case, once per --load value (a case's loads side by side). */
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
    for (size_t l = 0; l < o->nloads; l++)
      out[n++] = (bench_case){"pingpong", base, o->loads[l]};
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
      for (size_t l = 0; l < o->nloads; l++)
        out[n++] = (bench_case){t == 1 ? "1p1c" : "2p2c", c, o->loads[l]};
    }
  return n;
}

/* Parses --load: comma-separated counts of busy processes. */
static bool parse_loads(const char *list, bench_opts *o)
{
  o->nloads = 0;
  for (const char *p = list;;) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || *p < '0' || *p > '9' || errno || v > BH_LOAD_MAX || (*end && *end != ',') ||
        o->nloads == MAX_LOADS)
      return false;
    o->loads[o->nloads++] = (int)v;
    if (!*end)
      return true;
    p = end + 1;
  }
}

/* ---- external peers ---- */

struct peer_line {
  bh_result *r;
  bool found;
};

/* Takes the first line that carries a status: the peer's result. */
static void take_result(const cli_jobject *o, void *arg)
{
  struct peer_line *pl = arg;
  const char *status = cli_jobject_str(o, "status");
  if (pl->found || !status)
    return;
  bh_result *r = pl->r;
  pl->found = true;
  const char *note = cli_jobject_str(o, "note");
  snprintf(r->note, sizeof r->note, "%s", note ? note : "");
  r->status = strcmp(status, "ok") == 0        ? BH_OK
              : strcmp(status, "skipped") == 0 ? BH_SKIPPED
                                                : BH_FAILED;
  double msgs = cli_jobject_num(o, "msgs");
  r->msgs = isfinite(msgs) && msgs >= 0 ? (uint64_t)msgs : 0;
  r->seconds = cli_jobject_num(o, "seconds");
  r->msgs_per_s = cli_jobject_num(o, "msgs_per_s");
  r->mb_per_s = cli_jobject_num(o, "mb_per_s");
  r->p50_us = cli_jobject_num(o, "p50_us");
  r->p99_us = cli_jobject_num(o, "p99_us");
  r->p999_us = cli_jobject_num(o, "p999_us");
  /* A result without its numbers is no result. */
  if (r->status == BH_OK && !(isfinite(r->msgs_per_s) && isfinite(r->mb_per_s) &&
                              isfinite(r->p50_us) && isfinite(r->seconds))) {
    r->status = BH_FAILED;
    snprintf(r->note, sizeof r->note, "the peer's result line lacks numbers");
  }
}

static void run_external(const impl_entry *e, const bench_case *bc, const char *peers,
                         bh_result *r)
{
  memset(r, 0, sizeof *r);
  r->status = BH_SKIPPED;
  char prog[PATH_MAX + 64];
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
    snprintf(prog, sizeof prog, "%s/py_mp.py", peers);
    if (access(BENCH_PYTHON, X_OK) != 0 || access(prog, R_OK) != 0) {
      snprintf(r->note, sizeof r->note, "not installed (%s or py_mp.py missing)", BENCH_PYTHON);
      return;
    }
    argv[n++] = BENCH_PYTHON;
    argv[n++] = prog;
    argv[n++] = "--transport";
    argv[n++] = (char *)e->program;
  } else {
    snprintf(prog, sizeof prog, "%s/%s", peers, e->program);
    if (access(prog, X_OK) != 0) {
      snprintf(r->note, sizeof r->note,
               "not built (its packages missing? see scripts/install-bench-peers.sh)");
      return;
    }
    if (e->needs_roudi && !bench_roudi_start(peers)) {
      snprintf(r->note, sizeof r->note, "could not start iox-roudi");
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
  char *out = bench_run_capture(argv, c->seconds + c->warmup + PEER_GRACE_S, &st);
  r->status = BH_FAILED;
  struct peer_line pl = {r, false};
  bench_each_object(out, take_result, &pl);
  if (!pl.found) {
    r->status = BH_FAILED;
    snprintf(r->note, sizeof r->note, "%s: no result (%s)", e->name,
             st == -2 ? "timed out" : "crashed or failed; see stderr");
  }
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

/* Runs reps repetitions and keeps the median one (by rate, or by p50).
 * The case's load runs during each repetition, and only then [bench-load]. */
static void run_one(const impl_entry *e, const bench_case *bc, const bench_opts *o,
                    const char *peers, bh_result *out)
{
  bh_result reps[16];
  unsigned n = o->reps > 16 ? 16 : o->reps, ok = 0;
  for (unsigned i = 0; i < n; i++) {
    bh_result r;
    int load[BH_LOAD_MAX], lrc = bh_load_start(bc->load, load);
    if (lrc != 0) {
      memset(out, 0, sizeof *out);
      out->status = BH_FAILED;
      snprintf(out->note, sizeof out->note, "could not start %d load processes: %s", bc->load,
               strerror(-lrc));
      return;
    }
    if (e->type == T_BUILTIN)
      bh_run(e->builtin, &bc->c, &r);
    else
      run_external(e, bc, peers, &r);
    bh_load_stop(bc->load, load);
    if (r.status != BH_OK) {
      *out = r;
      return;
    }
    reps[ok++] = r;
  }
  qsort(reps, ok, sizeof reps[0], bc->c.kind == BH_PIPE ? cmp_p50 : cmp_rate);
  *out = reps[ok / 2];
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

/* The case's name in results: "1p1c-64B", "pingpong-64B", and with load
 * "pingpong-64B-load2". */
static void case_label(const bench_case *bc, char *out, size_t cap)
{
  char sz[32], load[24] = "";
  if (bc->load > 0)
    snprintf(load, sizeof load, "-load%d", bc->load);
  snprintf(out, cap, "%s-%s%s", bc->name, fmt_bytes(bc->c.msg_bytes, sz, sizeof sz), load);
}

static void to_result(const bench_opts *o, const impl_entry *e, const bench_case *bc,
                      const bh_result *r, bench_result *out)
{
  bool pipe = bc->c.kind == BH_PIPE;
  memset(out, 0, sizeof *out);
  out->bench = o->what;
  case_label(bc, out->kase, sizeof out->kase);
  snprintf(out->impl, sizeof out->impl, "%s", e->name);
  out->status = r->status;
  snprintf(out->note, sizeof out->note, "%s", r->note);
  out->unit = pipe ? "us" : "msgs/s";
  out->lower_is_better = pipe;
  out->value = pipe ? r->p50_us : r->msgs_per_s;
  bench_param(out, "msg_bytes", (double)bc->c.msg_bytes);
  bench_param(out, "producers", bc->c.producers);
  bench_param(out, "consumers", bc->c.consumers);
  bench_param(out, "capacity_bytes", (double)bc->c.capacity_bytes);
  bench_param(out, "load", bc->load);
  if (pipe) {
    bench_metric(out, "p99_us", r->p99_us);
    bench_metric(out, "p999_us", r->p999_us);
    bench_metric(out, "round_trips_per_s", r->msgs_per_s);
  } else {
    bench_metric(out, "mb_per_s", r->mb_per_s);
  }
  bench_metric(out, "msgs", (double)r->msgs);
  bench_metric(out, "seconds", r->seconds);
}

static void progress(bool on, size_t i, size_t n, const char *what, const bench_case *bc,
                     const char *impl)
{
  if (!on)
    return;
  char label[64];
  if (bc) {
    case_label(bc, label, sizeof label);
    fprintf(stderr, "\r\033[K[%zu/%zu] %s %s: %s ...", i + 1, n, what, label, impl);
  } else {
    fprintf(stderr, "\r\033[K");
  }
  fflush(stderr);
}

/* Checks every item of a comma list with ok(); reports the first bad one. */
static int check_list(const char *list, bool (*ok)(const char *p, size_t l, void *arg), void *arg,
                      const char *what)
{
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (!ok(p, l, arg))
      return cli_usage_error("bench", "unknown %s '%.*s' (see --list and 'ferry help bench')",
                             what, (int)l, p);
    p += l + (e != NULL);
  }
  return CLI_OK;
}

struct impl_list {
  const impl_entry *e;
  size_t n;
};

static bool impl_ok(const char *p, size_t l, void *arg)
{
  const struct impl_list *il = arg;
  for (size_t i = 0; i < il->n; i++)
    if (strlen(il->e[i].name) == l && strncmp(il->e[i].name, p, l) == 0)
      return true;
  return false;
}

static bool case_ok(const char *p, size_t l, void *arg)
{
  (void)arg;
  return case_item_ok(p, l);
}

static int bench_run(const bench_opts *o)
{
  bool pipe_bench = strcmp(o->what, "pipe") == 0;
  static impl_entry impls[32];
  size_t nimpl = all_impls(pipe_bench, impls);
  struct impl_list il = {impls, nimpl};
  int rc;
  if ((rc = check_list(o->impls, impl_ok, &il, "implementation")) != CLI_OK ||
      (rc = check_list(o->cases, case_ok, NULL, "case")) != CLI_OK)
    return rc;
  if (o->list) {
    for (size_t i = 0; i < nimpl; i++)
      printf("%s\n", impls[i].name);
    return CLI_OK;
  }
  static bench_case cases[8 * MAX_LOADS];
  size_t ncase = make_cases(o, cases);
  char peers[PATH_MAX];
  bench_peers_dir(o->peers_dir, peers, sizeof peers);

  size_t total = 0;
  for (size_t c = 0; c < ncase; c++)
    for (size_t i = 0; i < nimpl; i++)
      total += case_selected(o->cases, &cases[c]) && cli_list_has(o->impls, impls[i].name);
  static bench_result rows[MAX_RESULTS];
  size_t nrows = 0;
  bool tty = isatty(2);
  const bench_number params[] = {
      {"seconds", o->seconds}, {"warmup", o->warmup}, {"reps", o->reps}};
  if (o->json)
    bench_print_machine(o->what, params, 3);
  rc = CLI_OK;
  for (size_t c = 0; c < ncase; c++) {
    if (!case_selected(o->cases, &cases[c]))
      continue;
    for (size_t i = 0; i < nimpl && nrows < MAX_RESULTS; i++) {
      if (!cli_list_has(o->impls, impls[i].name))
        continue;
      progress(tty, nrows, total, o->what, &cases[c], impls[i].name);
      bh_result r;
      run_one(&impls[i], &cases[c], o, peers, &r);
      bench_result *w = &rows[nrows++];
      to_result(o, &impls[i], &cases[c], &r, w);
      if (r.status == BH_FAILED) {
        progress(tty, 0, 0, NULL, NULL, NULL);
        cli_error("bench", -EPROTO, "%s %s: %s: %s", o->what, w->kase, w->impl, r.note);
        rc = CLI_FAIL;
      }
      if (o->json)
        bench_print_json(w);
    }
  }
  bench_roudi_stop();
  progress(tty, 0, 0, NULL, NULL, NULL);
  if (!o->json)
    bench_print_table(o->what, params, 3, rows, nrows);
  return rc;
}

static int bench_qp(int argc, char **argv, const char *what)
{
  bench_opts o = {.what = what, .seconds = 1, .warmup = 0.2, .reps = 1, .nloads = 1};
  const char *backend = NULL, *load = NULL;
  cli_opt opts[] = {
      CLI_STRING("--backend", &backend),
      CLI_DOUBLE("--seconds", &o.seconds, 0.001, 3600),
      CLI_DOUBLE("--warmup", &o.warmup, 0, 600),
      CLI_U32("--reps", &o.reps, 1, MAX_REPS),
      CLI_STRING("--impl", &o.impls),
      CLI_STRING("--case", &o.cases),
      CLI_STRING("--peers-dir", &o.peers_dir),
      CLI_STRING("--load", &load),
      CLI_JSON(&o.json),
      CLI_FLAG("--list", &o.list),
  };
  char verb[32];
  snprintf(verb, sizeof verb, "bench %s", what);
  const cli_spec spec = {verb, bench_help_qp, opts, sizeof opts / sizeof opts[0], NULL, 0, 0, 0};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  if (backend && strcmp(backend, "shm") != 0)
    return cli_usage_error(verb, "bad --backend '%s' (%s)", backend,
                           strcmp(what, "queue") == 0 ? "shm or redis" : "the pipe has shm only");
  if (load && !parse_loads(load, &o))
    return cli_usage_error(verb,
                           "bad --load '%s' (numbers of busy processes, 0..%d each, at most %d "
                           "values, comma-separated: --load 2 or --load 0,2)",
                           load, BH_LOAD_MAX, MAX_LOADS);
  return bench_run(&o);
}

/* The value of --backend among a benchmark's words, or NULL. */
static const char *backend_of(int argc, char **argv)
{
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--backend") == 0)
      return i + 1 < argc ? argv[i + 1] : NULL;
    if (strncmp(argv[i], "--backend=", strlen("--backend=")) == 0)
      return argv[i] + strlen("--backend=");
  }
  return NULL;
}

int bench_queue(int argc, char **argv)
{
  const char *backend = backend_of(argc, argv);
  if (backend && strcmp(backend, "redis") == 0)
    return bench_queue_redis(argc, argv);
  return bench_qp(argc, argv, "queue");
}

#ifndef FERRY_BENCH_REDIS
const char bench_help_redis[] =
    "usage: ferry bench queue --backend redis [options]\n"
    "\n"
    "The queue on a Redis server. This ferry-bench was built without hiredis\n"
    "(Debian: libhiredis-dev), so it cannot run it.\n";

int bench_queue_redis(int argc, char **argv)
{
  const cli_spec spec = {"bench queue", bench_help_redis, NULL, 0, NULL, 0, CLI_ANY_NUMBER, 0};
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return cli_print_help(spec.help);
  return cli_fail("bench queue", -ENOTSUP,
                  "--backend redis: this ferry-bench was built without hiredis (Debian: "
                  "libhiredis-dev)");
}
#endif

int bench_pipe(int argc, char **argv) { return bench_qp(argc, argv, "pipe"); }

static const cli_command benchmarks[] = {
    {.name = "queue", .run = bench_queue, .help = bench_help_qp},
    {.name = "pipe", .run = bench_pipe, .help = bench_help_qp},
    {.name = "bus", .run = bench_bus, .help = bench_help_bus},
    {.name = "heap", .run = bench_heap, .help = bench_help_hd},
    {.name = "dict", .run = bench_dict, .help = bench_help_hd},
    {.name = "pool", .run = bench_pool, .help = bench_help_pool},
};

int main(int argc, char **argv)
{
  static const cli_program bench = {
      .name = "ferry bench",
      .help = bench_help_main,
      .cmds = benchmarks,
      .ncmds = sizeof benchmarks / sizeof benchmarks[0],
      .options_first = true,
  };
  return cli_main(&bench, argc, argv);
}
