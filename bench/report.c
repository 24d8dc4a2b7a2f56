/* SPDX-License-Identifier: MIT */
/*
 * report.c: how every benchmark of ferry-bench reports: one JSON schema
 * (a machine line, then one result line per implementation and case) and
 * one table, so that one script (bench/chart.py) can draw any of them.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_param(bench_result *r, const char *key, double v)
{
  if (r->nparams < BENCH_MAX_NUMBERS)
    r->param[r->nparams++] = (bench_number){key, v};
}

void bench_metric(bench_result *r, const char *key, double v)
{
  if (r->nmetrics < BENCH_MAX_NUMBERS)
    r->metric[r->nmetrics++] = (bench_number){key, v};
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
  qsort(v, n, sizeof v[0], cmp_double);
}

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

/* A whole number prints as one (counts, sizes); anything else as a double. */
static void json_number(cli_json *j, double v)
{
  if (v == floor(v) && fabs(v) < 9e15)
    cli_json_int(j, (int64_t)v);
  else
    cli_json_double(j, v);
}

void bench_print_machine(const char *bench, const bench_number *params, size_t n)
{
  char cpu[256], kernel[256], when[64];
  long nproc;
  machine(cpu, sizeof cpu, &nproc, kernel, sizeof kernel);
  time_t t = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  cli_json j;
  cli_json_init_line(&j, stdout);
  cli_json_object(&j);
  cli_json_key(&j, "type");
  cli_json_str(&j, "machine");
  cli_json_key(&j, "bench");
  cli_json_str(&j, bench);
  cli_json_key(&j, "nproc");
  cli_json_int(&j, nproc);
  cli_json_key(&j, "cpu");
  cli_json_str(&j, cpu);
  cli_json_key(&j, "kernel");
  cli_json_str(&j, kernel);
  cli_json_key(&j, "time");
  cli_json_str(&j, when);
  cli_json_key(&j, "ferry_version");
  cli_json_str(&j, ferry_version_string());
  for (size_t i = 0; i < n; i++) {
    cli_json_key(&j, params[i].key);
    json_number(&j, params[i].value);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
  fflush(stdout);
}

void bench_print_json(const bench_result *r)
{
  bool ok = r->status == BH_OK;
  cli_json j;
  cli_json_init_line(&j, stdout);
  cli_json_object(&j);
  cli_json_key(&j, "type");
  cli_json_str(&j, "result");
  cli_json_key(&j, "bench");
  cli_json_str(&j, r->bench);
  cli_json_key(&j, "case");
  cli_json_str(&j, r->kase);
  cli_json_key(&j, "impl");
  cli_json_str(&j, r->impl);
  cli_json_key(&j, "status");
  cli_json_str(&j, status_name(r->status));
  cli_json_key(&j, "note");
  cli_json_str(&j, r->note);
  cli_json_key(&j, "unit");
  cli_json_str(&j, r->unit);
  cli_json_key(&j, "better");
  cli_json_str(&j, r->lower_is_better ? "lower" : "higher");
  /* A skipped or failed case has null numbers, never zero. */
  cli_json_key(&j, "value");
  if (ok)
    cli_json_double(&j, r->value);
  else
    cli_json_null(&j);
  for (size_t i = 0; i < r->nparams; i++) {
    cli_json_key(&j, r->param[i].key);
    json_number(&j, r->param[i].value);
  }
  for (size_t i = 0; i < r->nmetrics; i++) {
    cli_json_key(&j, r->metric[i].key);
    if (ok)
      cli_json_double(&j, r->metric[i].value);
    else
      cli_json_null(&j);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
  fflush(stdout);
}

const bench_result *bench_ferry_of(const bench_result *rows, size_t n, const bench_result *r)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(rows[i].kase, r->kase) == 0 && strcmp(rows[i].impl, "ferry") == 0 &&
        rows[i].status == BH_OK)
      return &rows[i];
  return NULL;
}

void bench_print_table(const char *bench, const bench_number *params, size_t nparams,
                       const bench_result *rows, size_t n)
{
  char cpu[256], kernel[256];
  long nproc;
  machine(cpu, sizeof cpu, &nproc, kernel, sizeof kernel);
  printf("ferry bench %s: %ld CPUs, %s, %s\n", bench, nproc, cpu, kernel);
  for (size_t i = 0; i < nparams; i++)
    printf("%s%s %g", i ? ", " : "  ", params[i].key, params[i].value);
  if (nparams)
    printf("\n");
  /* the IMPL column as wide as its longest name */
  int w = 16;
  for (size_t i = 0; i < n; i++)
    if ((int)strlen(rows[i].impl) > w)
      w = (int)strlen(rows[i].impl);
  printf("%-20s %-*s %18s  %8s  %s\n", "CASE", w, "IMPL", "VALUE", "FERRY x", "MORE / NOTE");
  const char *prev = "";
  for (size_t i = 0; i < n; i++) {
    const bench_result *r = &rows[i];
    const char *kase = strcmp(r->kase, prev) != 0 ? r->kase : "";
    prev = r->kase;
    if (r->status != BH_OK) {
      printf("%-20s %-*s %18s  %8s  %s\n", kase, w, r->impl,
             r->status == BH_SKIPPED ? "skipped" : "FAILED", "-", r->note);
      continue;
    }
    char value[64], num[16], ratio[16] = "-";
    if (r->lower_is_better)
      snprintf(value, sizeof value, "%.2f %s", r->value, r->unit);
    else
      snprintf(value, sizeof value, "%s %s", cli_fmt_rate(r->value, num, sizeof num), r->unit);
    /* How many times better ferry is: its rate over the peer's, or the
     * peer's latency over ferry's. */
    const bench_result *f = bench_ferry_of(rows, n, r);
    if (f && f != r && r->value > 0 && f->value > 0)
      snprintf(ratio, sizeof ratio, "%.2f",
               r->lower_is_better ? r->value / f->value : f->value / r->value);
    printf("%-20s %-*s %18s  %8s ", kase, w, r->impl, value, ratio);
    for (size_t k = 0; k < r->nmetrics; k++)
      printf(" %s=%.4g", r->metric[k].key, r->metric[k].value);
    printf("%s%s\n", r->note[0] ? "  " : "", r->note);
  }
  printf("FERRY x: how many times better ferry is in the same case (its rate over the\n"
         "peer's, or the peer's latency over ferry's)\n");
}
