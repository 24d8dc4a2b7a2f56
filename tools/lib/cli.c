/* SPDX-License-Identifier: MIT */
/*
 * cli.c: the plumbing every program and verb shares: one-line errors and
 * exit statuses, the table-driven option parser, the command dispatcher,
 * the sorted list of regions and text formatting. See cli.h for the
 * contracts.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
  /* Two of libc's words mislead here: no connection timed out, and a key
   * too long (E2BIG) is no argument list. */
  const char *reason = err == -ETIMEDOUT ? "timed out"
                       : err == -E2BIG   ? "too long"
                                         : ferry_strerror(err);
  snprintf(line + n, sizeof line - n, ": %s\n", reason);
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

int cli_status_of(int err)
{
  switch (err) {
  case -ENOENT:
    return CLI_NOTFOUND;
  case -ETIMEDOUT:
  case -EAGAIN:
    return CLI_TIMEDOUT;
  case -EPIPE:
    return CLI_ENDED;
  default:
    return CLI_FAIL;
  }
}

int cli_fail(const char *verb, int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  verror(verb, err, fmt, ap);
  va_end(ap);
  return cli_status_of(err);
}

int cli_object_error(const char *verb, int err, const char *name, const char *kind)
{
  if (err == FERRY_EKIND)
    cli_error(verb, err, "%s: not a %s", name, kind);
  else
    cli_error(verb, err, "%s", name);
  return cli_status_of(err);
}

int cli_check_capacity(const char *verb, uint64_t capacity, uint64_t max_capacity, bool fixed)
{
  if (max_capacity && !fixed && max_capacity < capacity)
    return cli_usage_error(verb, "--max-capacity %" PRIu64 " is below --capacity %" PRIu64,
                           max_capacity, capacity);
  return CLI_OK;
}

int cli_create_failed(const char *verb, int err, const char *name, const char *too_large)
{
  if (err == -EOVERFLOW)
    return cli_fail(verb, err, "%s: %s is too large", name, too_large);
  return cli_fail(verb, err, "%s", name);
}

/* ---- numbers ------------------------------------------------------------------- */

int cli_object_name_valid(const char *name)
{
  if (!ferry_is_redis_name(name))
    return ferry_name_valid(name);
  int rc = ferry_redis_name_valid(name);
  return rc == -ENOTSUP ? 0 : rc;
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

static bool parse_double(const char *s, double *out)
{
  /* Decimal only: no blanks, no leading "+", none of the "inf" or "0x1p4"
   * that strtod would also take. */
  if (!s || *s == '+' || s[strspn(s, "0123456789.eE+-")])
    return false;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !isfinite(v))
    return false;
  *out = v;
  return true;
}

bool cli_parse_seconds(const char *s, int64_t *ns)
{
  double v;
  if (!s || *s == '-' || !parse_double(s, &v) || v < 0 || v > CLI_SECONDS_MAX)
    return false;
  *ns = (int64_t)(v * (double)FERRY_SEC);
  return true;
}

bool cli_list_has(const char *list, const char *name)
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

/* ---- the option parser ---------------------------------------------------------- */

static bool parse_mode(const char *s, uint32_t *mode)
{
  if (!*s || strlen(s) > 4)
    return false;
  uint32_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '7')
      return false;
    v = v * 8 + (uint32_t)(*p - '0');
  }
  /* Permission bits only: setuid and friends mean nothing on shm. */
  if (v > 0777)
    return false;
  *mode = v;
  return true;
}

/* Stores value through o; `as` is the option as the user spelled it. */
static int store(const cli_spec *s, cli_opt *o, const char *as, const char *value)
{
  const char *verb = s->verb;
  double hi = o->dmax != 0 ? o->dmax : CLI_SECONDS_MAX;
  switch (o->type) {
  case CLI_OPT_FLAG:
    *(bool *)o->out = true;
    return CLI_OK;
  case CLI_OPT_U64:
  case CLI_OPT_U32: {
    uint64_t v;
    if (!cli_parse_u64(value, o->min, o->max, &v)) {
      if (o->max == UINT64_MAX)
        return cli_usage_error(verb, "bad %s '%s' (want a whole number of at least %" PRIu64 ")",
                               as, value, o->min);
      return cli_usage_error(verb, "bad %s '%s' (want %" PRIu64 "..%" PRIu64 ")", as, value,
                             o->min, o->max);
    }
    if (o->type == CLI_OPT_U64)
      *(uint64_t *)o->out = v;
    else
      *(uint32_t *)o->out = (uint32_t)v;
    return CLI_OK;
  }
  case CLI_OPT_TIMEOUT:
    if (strcmp(value, "forever") == 0) {
      *(int64_t *)o->out = FERRY_FOREVER;
      return CLI_OK;
    }
    /* fall through */
  case CLI_OPT_SECONDS: {
    int64_t ns;
    if (!cli_parse_seconds(value, &ns) || (double)ns < o->dmin * (double)FERRY_SEC ||
        (double)ns > hi * (double)FERRY_SEC || (o->dmin > 0 && ns == 0))
      return cli_usage_error(verb, "bad %s '%s' (want %sseconds%s)", as, value,
                             o->dmin > 0 ? "a positive number of " : "",
                             o->type == CLI_OPT_TIMEOUT ? " or 'forever'" : "");
    *(int64_t *)o->out = ns;
    return CLI_OK;
  }
  case CLI_OPT_DOUBLE: {
    double v;
    if (!parse_double(value, &v) || v < o->dmin || v > hi)
      return cli_usage_error(verb, "bad %s '%s' (want a number from %g to %g)", as, value,
                             o->dmin, hi);
    *(double *)o->out = v;
    return CLI_OK;
  }
  case CLI_OPT_STRING:
    *(const char **)o->out = value;
    return CLI_OK;
  case CLI_OPT_MODE:
    if (!parse_mode(value, (uint32_t *)o->out))
      return cli_usage_error(verb, "bad %s '%s' (want octal permission bits, e.g. 640)", as,
                             value);
    return CLI_OK;
  case CLI_OPT_CALL:
    return o->call(o->ctx, value);
  }
  return cli_usage_error(verb, "option %s: unknown type", as);
}

static cli_opt *find_long(const cli_spec *s, const char *word, size_t len)
{
  for (size_t i = 0; i < s->nopts; i++)
    if (strlen(s->opts[i].name) == len && strncmp(s->opts[i].name, word, len) == 0)
      return &s->opts[i];
  return NULL;
}

static cli_opt *find_letter(const cli_spec *s, char c)
{
  for (size_t i = 0; i < s->nopts; i++)
    if (s->opts[i].letter && s->opts[i].letter == c)
      return &s->opts[i];
  return NULL;
}

/* The verb's family for "see 'ferry help ...'": the whole verb. */
static int unknown_option(const cli_spec *s, const char *word, size_t len)
{
  return cli_usage_error(s->verb, "unknown option '%.*s' (see 'ferry help %s')", (int)len, word,
                         s->verb);
}

/* Whether word w is an option's value rather than an option or a
 * positional: the word after an option that takes one ("-n 3"). */
static bool takes_value(const cli_spec *s, const char *w)
{
  if (w[0] != '-' || w[1] == '\0' || strcmp(w, "--") == 0)
    return false;
  const cli_opt *o = NULL;
  if (w[1] == '-') {
    const char *eq = strchr(w, '=');
    if (eq)
      return false;
    for (size_t i = 0; i < s->nopts && !o; i++)
      if (strcmp(s->opts[i].name, w) == 0)
        o = &s->opts[i];
  } else if (w[2] == '\0') {
    for (size_t i = 0; i < s->nopts && !o; i++)
      if (s->opts[i].letter == w[1])
        o = &s->opts[i];
  }
  return o && o->type != CLI_OPT_FLAG;
}

int cli_parse(const cli_spec *s, int argc, char **argv, size_t *nargs)
{
  bool command = (s->flags & CLI_ARG_COMMAND) != 0;
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      cli_print_help(s->help);
      return CLI_HELP_SHOWN;
    }
    /* A command's own words are its own: `-h` there is not ours. */
    if (command && (argv[i][0] != '-' || argv[i][1] == '\0'))
      break;
    if (command && takes_value(s, argv[i]))
      i++;
  }
  size_t n = 0;
  bool done = false;
  for (int i = 1; i < argc; i++) {
    char *w = argv[i];
    if (!done && strcmp(w, "--") == 0) {
      done = true;
      continue;
    }
    /* A lone "-" is an argument by Unix habit, not an option. */
    if (done || w[0] != '-' || w[1] == '\0') {
      argv[1 + n++] = w; /* 1 + n <= i: never a word not yet read */
      done = done || command;
      continue;
    }
    cli_opt *o;
    const char *value = NULL;
    char as[3] = {'-', w[1], 0};
    const char *shown = as;
    if (w[1] == '-') {
      const char *eq = strchr(w, '=');
      size_t len = eq ? (size_t)(eq - w) : strlen(w);
      if (!(o = find_long(s, w, len)))
        return unknown_option(s, w, len);
      shown = o->name;
      if (eq) {
        value = eq + 1;
        if (o->type == CLI_OPT_FLAG)
          return cli_usage_error(s->verb, "option %s takes no value", o->name);
      }
    } else {
      if (!(o = find_letter(s, w[1])))
        return unknown_option(s, w, strlen(w));
      if (w[2]) {
        if (o->type == CLI_OPT_FLAG)
          return unknown_option(s, w, strlen(w));
        value = w + 2; /* "-n3" */
      }
    }
    if (!value && o->type != CLI_OPT_FLAG) {
      if (i + 1 >= argc)
        return cli_usage_error(s->verb, "option %s needs a value", shown);
      value = argv[++i];
    }
    int rc = store(s, o, shown, value);
    if (rc != CLI_OK)
      return rc;
    o->seen = true;
  }
  if (n > s->max_args)
    return cli_usage_error(s->verb, "unexpected argument '%s'", argv[1 + s->max_args]);
  if (n < s->min_args)
    return cli_usage_error(s->verb, "missing %s (see 'ferry help %s')", s->args[n], s->verb);
  for (size_t k = 0; k < n; k++) {
    if (!((s->flags & CLI_ARG_ALL_REGIONS) || (k == 0 && (s->flags & CLI_ARG_REGION))))
      break;
    const char *name = argv[1 + k];
    if ((s->flags & CLI_ARG_REDIS) && ferry_is_redis_name(name)) {
      if (cli_object_name_valid(name) != 0)
        return cli_usage_error(s->verb, "'%s': bad Redis name (want redis://HOST[:PORT]/NAME "
                                        "or unix:///PATH.sock/NAME)", name);
    } else if (ferry_name_valid(name) != 0) {
      return cli_usage_error(s->verb, "'%s': bad region name", name);
    }
  }
  *nargs = n;
  return CLI_OK;
}

int cli_print_help(const char *text)
{
  fputs(text, stdout);
  return CLI_OK;
}

/* ---- commands and programs -------------------------------------------------------- */

static const cli_command *find_command(const cli_command *cmds, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(cmds[i].name, name) == 0)
      return &cmds[i];
  return NULL;
}

/*
 * Runs `program` from the directory of this executable with argv (argv[0]
 * is replaced by the program's name; argv ends with NULL). Returns only on
 * failure.
 */
static int run_sibling(const char *verb, const char *program, char **argv)
{
  char exe[PATH_MAX];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k <= 0)
    return cli_fail(verb, k < 0 ? -errno : -ENOENT, "finding this program's directory");
  exe[k] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = '\0';
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", exe, program);
  if (access(path, X_OK) != 0) {
    cli_error(verb, -errno,
              "%s is not in %s: it is built with the sources and not installed "
              "(see README.md)",
              program, exe);
    return CLI_FAIL;
  }
  argv[0] = (char *)program;
  fflush(NULL);
  execv(path, argv);
  cli_error(verb, -errno, "running %s", path);
  return CLI_FAIL;
}

/* Runs command c with argv[0] its own name. */
static int run_command(const cli_command *c, int argc, char **argv)
{
  if (c->program)
    return run_sibling(c->name, c->program, argv);
  if (c->run)
    return c->run(argc, argv);
  if (argc < 2)
    return cli_usage_error(c->name, "missing subcommand (see 'ferry help %s')", c->name);
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
    return cli_print_help(c->help);
  const cli_command *s = find_command(c->subs, c->nsubs, sub);
  if (!s)
    return cli_usage_error(c->name, "unknown subcommand '%s' (see 'ferry help %s')", sub, c->name);
  return run_command(s, argc - 1, argv + 1);
}

/* `help [VERB [SUBVERB]]`: argv[0] is "help". */
static int help(const cli_program *p, int argc, char **argv)
{
  if (argc == 1 || (argc == 2 && strcmp(argv[1], "help") == 0))
    return cli_print_help(p->help);
  const cli_command *c = find_command(p->cmds, p->ncmds, argv[1]);
  if (!c)
    return cli_usage_error("help", "unknown command '%s' (see '%s --help')", argv[1], p->name);
  if (c->program) {
    /* The program answers for itself: `ferry-bench help queue`. */
    char *args[5] = {NULL, "help", argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL, NULL};
    if (argc > 4)
      return cli_usage_error("help", "unexpected argument '%s'", argv[4]);
    return run_sibling("help", c->program, args);
  }
  if (argc == 2)
    return cli_print_help(c->help);
  const cli_command *s = c->nsubs ? find_command(c->subs, c->nsubs, argv[2]) : NULL;
  if (!s)
    return c->nsubs ? cli_usage_error("help", "unknown subcommand '%s %s' (see 'ferry help %s')",
                                      argv[1], argv[2], argv[1])
                    : cli_usage_error("help", "unexpected argument '%s'", argv[2]);
  if (argc > 3)
    return cli_usage_error("help", "unexpected argument '%s'", argv[3]);
  return cli_print_help(s->help ? s->help : c->help);
}

static bool is_help(const char *w) { return strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0; }
static bool is_version(const char *w) { return strcmp(w, "--version") == 0 || strcmp(w, "-V") == 0; }

static int dispatch(const cli_program *p, int argc, char **argv)
{
  if (p->options_first && argc > 2 && argv[1][0] == '-' && !is_help(argv[1]) &&
      !is_version(argv[1])) {
    /* Bring the first word that names a command to the front. */
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
      if (!find_command(p->cmds, p->ncmds, argv[i]))
        continue;
      char *w = argv[i];
      memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof *argv);
      argv[1] = w;
      break;
    }
  }
  if (argc < 2 && !p->default_cmd)
    return cli_usage_error(NULL, "missing command (see '%s --help')", p->name);
  const char *w = argc < 2 ? "" : argv[1];
  if (is_help(w))
    return argc == 2 ? cli_print_help(p->help)
                     : cli_usage_error(NULL, "unexpected argument '%s'", argv[2]);
  if (is_version(w)) {
    if (argc > 2)
      return cli_usage_error(NULL, "unexpected argument '%s'", argv[2]);
    printf("ferry %s\n", ferry_version_string());
    return CLI_OK;
  }
  if (strcmp(w, "help") == 0)
    return help(p, argc - 1, argv + 1);
  const cli_command *c = argc < 2 ? NULL : find_command(p->cmds, p->ncmds, w);
  if (!c && p->default_cmd) {
    /* No command named: the default one gets every word (argv[0] is
     * replaced by its name). */
    c = find_command(p->cmds, p->ncmds, p->default_cmd);
    argv[0] = (char *)c->name;
    return run_command(c, argc, argv);
  }
  if (!c && w[0] == '-')
    return cli_usage_error(NULL, "unknown option '%s' (see '%s --help')", w, p->name);
  if (!c)
    return cli_usage_error(w, "unknown command (see '%s --help')", p->name);
  return run_command(c, argc - 1, argv + 1);
}

int cli_main(const cli_program *p, int argc, char **argv)
{
  int rc = dispatch(p, argc, argv);
  /* A full disk or a closed pipe on stdout is a failure, not a success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (rc == CLI_OK) {
      cli_error(NULL, -EIO, "writing the output");
      rc = CLI_FAIL;
    }
  }
  return rc;
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

/* ---- text formatting and time -------------------------------------------------------- */

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

const char *cli_fmt_rate(double v, char *buf, size_t cap)
{
  if (v >= 1e9)
    snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e4)
    snprintf(buf, cap, "%.1fk", v / 1e3);
  else
    snprintf(buf, cap, "%.0f", v);
  return buf;
}

bool cli_err_is_invalid(int err)
{
  /* ferry's own codes (bad magic, version, truncated, ...) describe the
   * file; errnos (EACCES, ...) describe our access to it. */
  return err <= -FERRY_ERR_BASE;
}

int64_t cli_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

void cli_nap(int64_t ns)
{
  struct timespec ts = {(time_t)(ns / FERRY_SEC), (long)(ns % FERRY_SEC)};
  nanosleep(&ts, NULL);
}
