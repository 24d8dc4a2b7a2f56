/*
 * util.c: the plumbing every verb of the `ferry` command shares: one-line
 * errors, the argument scanner, number parsing, the sorted list of regions
 * and text formatting (sizes, times, shapes). See cli.h for the contracts.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---- errors ------------------------------------------------------------------ */

/* Longest <what> kept whole; longer ones are cut (still one line). */
#define ERROR_WHAT_CAP 1024

static void verror(const char *verb, int err, const char *fmt, va_list ap)
{
  char what[ERROR_WHAT_CAP];
  vsnprintf(what, sizeof what, fmt, ap);
  /* Escape into a buffer first so the line reaches stderr in one write
   * and never interleaves with a child's output. */
  char line[4 * ERROR_WHAT_CAP + 256];
  size_t n = verb ? (size_t)snprintf(line, sizeof line, "ferry: %s: ", verb)
                  : (size_t)snprintf(line, sizeof line, "ferry: ");
  for (const unsigned char *p = (const unsigned char *)what; *p && n + 8 < sizeof line; p++) {
    if (*p < 0x20 || *p >= 0x7f)
      n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", *p);
    else
      line[n++] = (char)*p;
  }
  snprintf(line + n, sizeof line - n, ": %s\n", ferry_strerror(err));
  fflush(stdout);
  fputs(line, stderr);
}

void cli_error(const char *verb, int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  verror(verb, err, fmt, ap);
  va_end(ap);
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  verror(verb, -EINVAL, fmt, ap);
  va_end(ap);
  return CLI_USAGE;
}

/* ---- argument scanning ------------------------------------------------------- */

void cli_args_init(cli_args *a, const char *verb, int argc, char **argv)
{
  memset(a, 0, sizeof *a);
  a->verb = verb;
  a->argc = argc;
  a->argv = argv;
  a->next = 1; /* argv[0] is the verb */
}

bool cli_args_next(cli_args *a)
{
  for (;;) {
    if (a->next >= a->argc)
      return false;
    a->word = a->argv[a->next++];
    a->attached = NULL;
    a->optlen = 0;
    if (!a->options_done && strcmp(a->word, "--") == 0) {
      a->options_done = true;
      continue;
    }
    if (!cli_args_positional(a)) {
      const char *eq = strchr(a->word, '=');
      a->optlen = eq ? (size_t)(eq - a->word) : strlen(a->word);
      a->attached = eq ? eq + 1 : NULL;
    }
    return true;
  }
}

bool cli_args_positional(const cli_args *a)
{
  /* A lone "-" is an argument by Unix habit, not an option. */
  return a->options_done || a->word[0] != '-' || a->word[1] == '\0';
}

static bool is_option(const cli_args *a, const char *name)
{
  return !cli_args_positional(a) && strlen(name) == a->optlen &&
         strncmp(a->word, name, a->optlen) == 0;
}

bool cli_args_flag(cli_args *a, const char *name)
{
  if (!is_option(a, name))
    return false;
  if (a->attached) {
    cli_usage_error(a->verb, "option %s takes no value", name);
    a->failed = true;
    return false;
  }
  return true;
}

bool cli_args_failed(const cli_args *a)
{
  return a->failed;
}

bool cli_args_help(const cli_args *a)
{
  return !cli_args_positional(a) && a->attached == NULL &&
         (strcmp(a->word, "--help") == 0 || strcmp(a->word, "-h") == 0);
}

int cli_args_value(cli_args *a, const char *name, const char **value)
{
  if (!is_option(a, name))
    return 0;
  if (a->attached) {
    *value = a->attached;
    return 1;
  }
  if (a->next >= a->argc) {
    cli_usage_error(a->verb, "option %s needs a value", name);
    a->failed = true;
    return -1;
  }
  *value = a->argv[a->next++];
  return 1;
}

int cli_args_unknown(const cli_args *a)
{
  if (a->failed)
    return CLI_USAGE; /* already reported */
  if (cli_args_positional(a))
    return cli_usage_error(a->verb, "unexpected argument '%s'", a->word);
  return cli_usage_error(a->verb, "unknown option '%.*s' (see 'ferry help %s')", (int)a->optlen,
                         a->word, a->verb);
}

bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
  if (!s || *s < '0' || *s > '9')
    return false; /* strtoull would accept " 5", "+5" and "-5" */
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool cli_parse_seconds(const char *s, int64_t *ns)
{
  if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
    return false;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  /* A bound keeps the conversion to int64 nanoseconds defined. */
  if (errno || *end || !isfinite(v) || v < 0 || v > 1e9)
    return false;
  *ns = (int64_t)(v * (double)FERRY_SEC);
  return true;
}

int cli_print_help(const char *text)
{
  fputs(text, stdout);
  return CLI_OK;
}

int cli_dispatch(const char *verb, const char *help, const cli_sub *subs, size_t n, int argc,
                 char **argv)
{
  if (argc < 2)
    return cli_usage_error(verb, "missing subcommand (see 'ferry help %s')", verb);
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
    return cli_print_help(help);
  for (size_t i = 0; i < n; i++)
    if (strcmp(sub, subs[i].name) == 0)
      return subs[i].fn(argc - 1, argv + 1);
  return cli_usage_error(verb, "unknown subcommand '%s' (see 'ferry help %s')", sub, verb);
}

int cli_object_error(const char *verb, int err, const char *name, const char *kind)
{
  if (err == FERRY_EKIND)
    cli_error(verb, err, "%s: not a %s", name, kind);
  else
    cli_error(verb, err, "%s", name);
  return CLI_FAIL;
}

/* ---- region names --------------------------------------------------------------- */

struct name_list {
  char *const *patterns;
  size_t npatterns;
  char **names;
  size_t count, cap;
  int err;
};

static int collect(const char *name, void *arg)
{
  struct name_list *l = arg;
  if (l->npatterns) {
    size_t i = 0;
    while (i < l->npatterns && fnmatch(l->patterns[i], name, 0) != 0)
      i++;
    if (i == l->npatterns)
      return 0;
  }
  if (l->count == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    char **n = realloc(l->names, cap * sizeof *n);
    if (!n)
      return l->err = -ENOMEM;
    l->names = n;
    l->cap = cap;
  }
  if (!(l->names[l->count] = strdup(name)))
    return l->err = -ENOMEM;
  l->count++;
  return 0;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_list_regions(char *const *patterns, size_t npatterns, char ***names, size_t *count)
{
  struct name_list l = {.patterns = patterns, .npatterns = npatterns};
  int rc = ferry_region_foreach(collect, &l);
  if (rc) {
    cli_free_names(l.names, l.count);
    return l.err ? l.err : rc;
  }
  if (l.count)
    qsort(l.names, l.count, sizeof *l.names, cmp_names);
  *names = l.names;
  *count = l.count;
  return 0;
}

void cli_free_names(char **names, size_t count)
{
  for (size_t i = 0; i < count; i++)
    free(names[i]);
  free(names);
}

/* ---- text formatting ---------------------------------------------------------------- */

const char *cli_fmt_size(uint64_t bytes, char *buf, size_t cap)
{
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    snprintf(buf, cap, "%" PRIu64 "B", bytes);
    return buf;
  }
  double v = (double)bytes / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  snprintf(buf, cap, "%.1f%s", v, units[u]);
  return buf;
}

const char *cli_fmt_time(int64_t ns, char *buf, size_t cap)
{
  if (ns <= 0) {
    snprintf(buf, cap, "-");
    return buf;
  }
  time_t secs = (time_t)(ns / FERRY_SEC);
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) {
    snprintf(buf, cap, "-");
    return buf;
  }
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns % FERRY_SEC / FERRY_MSEC));
  return buf;
}

const char *cli_fmt_shape(uint32_t ndim, const uint64_t *shape, char *buf, size_t cap)
{
  if (ndim == 0) {
    snprintf(buf, cap, "scalar");
    return buf;
  }
  size_t n = 0;
  buf[0] = '\0';
  for (uint32_t k = 0; k < ndim && n < cap; k++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%" PRIu64, k ? "x" : "", shape[k]);
  return buf;
}

bool cli_err_is_invalid(int err)
{
  /* ferry's own codes (bad magic, version, truncated, ...) describe the
   * file; errnos (EACCES, ...) describe our access to it. */
  return err <= -FERRY_ERR_BASE;
}
