/* SPDX-License-Identifier: MIT */
/*
 * bench.h: the pieces of ferry-bench, the benchmark lab that `ferry bench`
 * runs (built with the sources, not installed): the benchmarks' entry
 * points, the one result record every benchmark reports in, and the
 * runner of external peer programs. The measurement rules of the queue and
 * pipe benchmarks live in harness.h [bench-rules].
 */
#ifndef FERRY_BENCH_H
#define FERRY_BENCH_H

#include "cli.h"
#include "harness.h"

/* ---- the benchmarks: argv[0] is the benchmark's name ------------------------ */

int bench_queue(int argc, char **argv); /* main.c */
int bench_pipe(int argc, char **argv);  /* main.c */
int bench_bus(int argc, char **argv);   /* bus.c */
int bench_heap(int argc, char **argv);  /* heap_dict.c */
int bench_dict(int argc, char **argv);  /* heap_dict.c */
int bench_pool(int argc, char **argv);  /* pool.c */
/* `ferry bench queue --backend redis` (redis_queue.c, built in when hiredis
 * is found; otherwise it says so and fails). */
int bench_queue_redis(int argc, char **argv);
extern const char bench_help_redis[];
extern const char bench_help_main[], bench_help_qp[], bench_help_bus[], bench_help_hd[],
    bench_help_pool[];

/* Built into ferry-bench: NULL-terminated lists (impls.c, ferry_impls.c). */
extern const bh_impl *const bench_builtin_queue[];
extern const bh_impl *const bench_builtin_pipe[];
extern const bh_impl bench_ferry_queue_copy, bench_ferry_queue_batch, bench_ferry_queue_zc;
extern const bh_impl bench_ferry_pipe;

/* ---- results: one schema for every benchmark (report.c) ------------------------ */

#define BENCH_MAX_NUMBERS 10

typedef struct bench_number {
  const char *key;
  double value;
} bench_number;

/*
 * One result: an implementation in one case. `value` is the headline
 * number in `unit`; params describe the case (message size, workers...),
 * metrics are further measurements (null in JSON unless status is BH_OK).
 * The JSON schema (one object per line) is documented in bench/README.md.
 */
typedef struct bench_result {
  const char *bench;    /* "queue", "pipe", "bus", "heap", "dict", "pool" */
  char kase[64];        /* the case, unique within the benchmark */
  char impl[32];
  int status;           /* BH_OK, BH_SKIPPED or BH_FAILED */
  char note[BH_NOTE_MAX];
  const char *unit;     /* of value: "msgs/s", "us", "batches/s", "ops/s", "tasks/s", ... */
  bool lower_is_better; /* latencies */
  double value;
  bench_number param[BENCH_MAX_NUMBERS];
  size_t nparams;
  bench_number metric[BENCH_MAX_NUMBERS];
  size_t nmetrics;
} bench_result;

void bench_param(bench_result *r, const char *key, double v);
void bench_metric(bench_result *r, const char *key, double v);

/* Sorts v[0..n) in ascending order (for medians and ranges). */
void bench_sort(double *v, size_t n);

/* The first JSON line of a run: the machine and the run's settings
 * (params: seconds, workers...). */
void bench_print_machine(const char *bench, const bench_number *params, size_t n);
/* A result as one JSON line. */
void bench_print_json(const bench_result *r);
/* Every result as a table, with each one's ratio to ferry's in its case
 * ("ferry x": above 1, ferry is better by that factor). */
void bench_print_table(const char *bench, const bench_number *params, size_t nparams,
                       const bench_result *rows, size_t n);
/* ferry's result in r's case among rows, or NULL. */
const bench_result *bench_ferry_of(const bench_result *rows, size_t n, const bench_result *r);

/* ---- external programs (peers.c) --------------------------------------------------- */

#define BENCH_PYTHON "/usr/bin/python3"

/*
 * Where the peer programs and scripts are: `override` if given, else
 * bench-peers/ next to this executable (CMake builds and copies them
 * there). Writes the directory into out.
 */
void bench_peers_dir(const char *override, char *out, size_t cap);

/*
 * Runs argv (no shell) with stdout to a pipe and stdin from /dev/null,
 * killing it after timeout_s. Returns its output (malloc'd, possibly
 * empty) or NULL; *status gets the wait status, or -2 if it was killed.
 */
char *bench_run_capture(char *const argv[], double timeout_s, int *status);

/*
 * Calls fn(object, arg) for each line of out that parses as a flat JSON
 * object (cli_jobject_parse); other lines are ignored. Returns how many
 * lines parsed.
 */
size_t bench_each_object(const char *out, void (*fn)(const cli_jobject *o, void *arg), void *arg);

/* Starts iceoryx's RouDi daemon with peers_dir/roudi.toml (once); false if
 * it would not stay up. bench_roudi_stop() stops it, if started. */
bool bench_roudi_start(const char *peers_dir);
void bench_roudi_stop(void);

#endif /* FERRY_BENCH_H */
