/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the one command-line layer of ferry's programs: `ferry` (the
 * installed tool, tools/ferry/), `ferry-bench` (bench/) and `ferry-demo`
 * (demo/). What every verb of every program shares lives here, so that
 * they all behave alike: exit statuses, the one-line error convention, a
 * table-driven option parser, the command dispatcher (with `help VERB
 * SUBVERB` and `-V`), a JSON writer, a reader for the flat JSON lines
 * benchmark peers print, and text formatting.
 *
 * The programs use ferry's public API only (ferry/ferry.h), like any other
 * program would; nothing here may include a src/ header.
 *
 * Error convention: every failure prints exactly one line on stderr,
 *   ferry: <verb>: <what>: <ferry_strerror text>
 * and the verb returns one of the exit statuses below.
 */
#ifndef FERRY_TOOLS_CLI_H
#define FERRY_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/ferry.h"

/* Exit statuses: the same for every verb of every program. */
enum {
  CLI_OK = 0,       /* done */
  CLI_FAIL = 1,     /* an operation failed */
  CLI_USAGE = 2,    /* bad command line; nothing was done */
  CLI_ENDED = 3,    /* the stream ended (the queue was shut down) */
  CLI_TIMEDOUT = 4, /* timed out, or empty: nothing to take */
  CLI_NOTFOUND = 5, /* the region or key named does not exist */
};

/* ---- errors ---------------------------------------------------------------- */

/*
 * cli_error: prints "ferry: <verb>: <what>: <ferry_strerror(err)>" on
 * stderr, where <what> is formatted from fmt ("ferry: <what>: ..." when
 * verb is NULL: an error before any verb was found). Control characters and
 * non-ASCII bytes in <what> are escaped as \xNN, so user text (a name with
 * a newline in it) can never break the one-line promise.
 */
void cli_error(const char *verb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cli_usage_error: cli_error() with -EINVAL; returns CLI_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit status that a failed operation's error stands for: -ENOENT is
 * CLI_NOTFOUND, -ETIMEDOUT and -EAGAIN CLI_TIMEDOUT, -EPIPE CLI_ENDED,
 * anything else CLI_FAIL. */
int cli_status_of(int err);

/* cli_fail: cli_error(), then returns cli_status_of(err). */
int cli_fail(const char *verb, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * cli_object_error: reports a failed operation on object `name`, naming
 * the expected kind ("queue", ...) when the region holds another kind, and
 * "no such region" when there is none. Returns cli_status_of(err).
 */
int cli_object_error(const char *verb, int err, const char *name, const char *kind);

/*
 * What every `create` verb shares: cli_check_capacity() refuses (usage
 * error) a --max-capacity below --capacity for an object that may grow;
 * cli_create_failed() reports a failed create of `name` (-EOVERFLOW as
 * "<too_large> is too large") and returns the exit status.
 */
int cli_check_capacity(const char *verb, uint64_t capacity, uint64_t max_capacity, bool fixed);
int cli_create_failed(const char *verb, int err, const char *name, const char *too_large);

/* ---- options: one table-driven parser --------------------------------------- */

typedef enum cli_opt_type {
  CLI_OPT_FLAG,    /* no value: *(bool *)out = true */
  CLI_OPT_U64,     /* *(uint64_t *)out, a decimal integer in [min, max] */
  CLI_OPT_U32,     /* *(uint32_t *)out, a decimal integer in [min, max] */
  CLI_OPT_SECONDS, /* *(int64_t *)out nanoseconds, from seconds in [dmin, dmax] */
  CLI_OPT_TIMEOUT, /* as SECONDS, or "forever" (FERRY_FOREVER) */
  CLI_OPT_DOUBLE,  /* *(double *)out in [dmin, dmax] */
  CLI_OPT_STRING,  /* *(const char **)out: the word itself */
  CLI_OPT_MODE,    /* *(uint32_t *)out: octal permission bits, at most 777 */
  CLI_OPT_CALL,    /* call(ctx, value), for repeated or structured values */
} cli_opt_type;

/* The largest number of seconds an option takes (keeps nanoseconds in
 * int64_t). */
#define CLI_SECONDS_MAX 1e9

typedef struct cli_opt {
  const char *name; /* "--capacity" */
  char letter;      /* 'n' for "-n", or 0 */
  cli_opt_type type;
  void *out;
  uint64_t min, max; /* U64, U32 */
  double dmin, dmax; /* SECONDS, TIMEOUT, DOUBLE; dmax 0 means CLI_SECONDS_MAX */
  /* CALL: returns CLI_OK, or CLI_USAGE after printing its own error. */
  int (*call)(void *ctx, const char *value);
  void *ctx;
  bool seen; /* set by cli_parse() when the option was given */
} cli_opt;

#define CLI_FLAG(n, p) {.name = (n), .type = CLI_OPT_FLAG, .out = (p)}
#define CLI_U64(n, p, lo, hi) {.name = (n), .type = CLI_OPT_U64, .out = (p), .min = (lo), .max = (hi)}
#define CLI_U32(n, p, lo, hi) {.name = (n), .type = CLI_OPT_U32, .out = (p), .min = (lo), .max = (hi)}
#define CLI_SECONDS(n, p, lo) {.name = (n), .type = CLI_OPT_SECONDS, .out = (p), .dmin = (lo)}
#define CLI_DOUBLE(n, p, lo, hi) {.name = (n), .type = CLI_OPT_DOUBLE, .out = (p), .dmin = (lo), .dmax = (hi)}
#define CLI_STRING(n, p) {.name = (n), .type = CLI_OPT_STRING, .out = (p)}
#define CLI_CALL(n, fn, c) {.name = (n), .type = CLI_OPT_CALL, .call = (fn), .ctx = (c)}
/* The options every verb spells the same way. */
#define CLI_JSON(p) CLI_FLAG("--json", p)
#define CLI_MODE(p) {.name = "--mode", .type = CLI_OPT_MODE, .out = (p)}
#define CLI_TIMEOUT(p) {.name = "--timeout", .type = CLI_OPT_TIMEOUT, .out = (p)}
#define CLI_COUNT(p) {.name = "--count", .letter = 'n', .type = CLI_OPT_U64, .out = (p), .max = UINT64_MAX}

/* Flags of a cli_spec. */
enum {
  CLI_ARG_REGION = 1u << 0,      /* the first positional is a region name */
  CLI_ARG_ALL_REGIONS = 1u << 1, /* every positional is a region name */
};

#define CLI_ANY_NUMBER SIZE_MAX

/* What one verb accepts. */
typedef struct cli_spec {
  const char *verb; /* "queue put": the verb in error lines */
  const char *help; /* printed for -h and --help */
  cli_opt *opts;
  size_t nopts;
  const char *const *args; /* names of the positionals, for "missing NAME" */
  size_t min_args;         /* positionals required */
  size_t max_args;         /* positionals allowed; CLI_ANY_NUMBER for any */
  unsigned flags;          /* CLI_ARG_* */
} cli_spec;

/* cli_parse() printed the help: the verb is done and exits 0. */
#define CLI_HELP_SHOWN (-1)

/*
 * cli_parse: parses argv[1..argc) (argv[0] is the verb's own name) by the
 * table s. Options are long ("--json", "--mode 600", "--mode=600"), or a
 * letter ("-n 3"); "--" ends them, and a lone "-" is a positional. "-h" or
 * "--help" anywhere before "--" prints s->help and returns
 * CLI_HELP_SHOWN, whatever else is there: asking is never an error.
 * Otherwise every option is stored through its table entry and the
 * positionals are moved, in order, to argv[1..*nargs]. Returns CLI_OK or
 * CLI_USAGE after one error line (nothing but the outputs touched).
 */
int cli_parse(const cli_spec *s, int argc, char **argv, size_t *nargs);

/* Returns from the calling verb unless cli_parse() says CLI_OK. */
#define CLI_PARSE_OR_RETURN(spec, argc, argv, nargs)            \
  do {                                                          \
    int cli_rc_ = cli_parse((spec), (argc), (argv), (nargs));   \
    if (cli_rc_ != CLI_OK)                                      \
      return cli_rc_ == CLI_HELP_SHOWN ? CLI_OK : cli_rc_;      \
  } while (0)

/* Parses a decimal integer in [min, max]; false if it is not one. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Parses a non-negative decimal number of seconds (e.g. "0.5"). */
bool cli_parse_seconds(const char *s, int64_t *ns);
/* Whether name is one of the comma-separated items of list (NULL: all). */
bool cli_list_has(const char *list, const char *name);

/* ---- commands and programs ---------------------------------------------------- */

typedef struct cli_command {
  const char *name;
  /* Runs the verb: argv[0] is its name. NULL for a family (subs) or an
   * external program. */
  int (*run)(int argc, char **argv);
  const char *help;                /* for `help NAME` and NAME --help */
  const struct cli_command *subs;  /* a family: `ferry queue put ...` */
  size_t nsubs;
  const char *program;             /* an external program ("ferry-bench") */
} cli_command;

typedef struct cli_program {
  const char *name;         /* "ferry", "ferry bench": how help and errors name it */
  const char *help;         /* the program's own help */
  const cli_command *cmds;
  size_t ncmds;
  /* Run when the first word is not a command (ferry-demo: the bus demo);
   * NULL: a command is required. */
  const char *default_cmd;
  /* Options may come before the command's name (ferry-bench). */
  bool options_first;
} cli_program;

/*
 * cli_main: a program's main(): answers -h/--help, -V/--version (ferry's
 * library version) and `help [VERB [SUBVERB]]`, runs the verb (a family's
 * subverb; an external program found next to this executable), and turns
 * a failed write of stdout into a failure. Returns the exit status.
 */
int cli_main(const cli_program *p, int argc, char **argv);

/* Prints a help text on stdout and returns CLI_OK. */
int cli_print_help(const char *text);

/* ---- region names --------------------------------------------------------------- */

/*
 * cli_list_regions: the names of every ferry region in /dev/shm that
 * matches one of the shell patterns (fnmatch; all names if npatterns is
 * 0), sorted bytewise. On success *names is an array of *count malloc'd
 * strings: free it with cli_free_names().
 */
int cli_list_regions(char *const *patterns, size_t npatterns, char ***names, size_t *count);
void cli_free_names(char **names, size_t count);

/* ---- text formatting and time ------------------------------------------------------ */

/* "512B", "4.0KiB", "17.2MiB": binary units, one decimal. Returns buf. */
const char *cli_fmt_size(uint64_t bytes, char *buf, size_t cap);
/* "2024-11-23T09:30:00.123Z" from CLOCK_REALTIME nanoseconds; "-" for 0.
 * Returns buf. */
const char *cli_fmt_time(int64_t ns, char *buf, size_t cap);
/* Dimensions joined by 'x' ("1000x1000"); "scalar" for ndim 0. */
const char *cli_fmt_shape(uint32_t ndim, const uint64_t *shape, char *buf, size_t cap);
/* "950", "12.5k", "3.20M", "1.05G": a rate or count in few characters. */
const char *cli_fmt_rate(double v, char *buf, size_t cap);

/* Whether the status of a failed ferry_region_stat() means the file is not
 * a valid ferry region ("invalid") rather than unreadable. */
bool cli_err_is_invalid(int err);

/* CLOCK_MONOTONIC in nanoseconds; sleeping for ns nanoseconds. */
int64_t cli_now_ns(void);
void cli_nap(int64_t ns);

/* ---- JSON output ------------------------------------------------------------------ */

#define CLI_JSON_MAX_DEPTH 16

/*
 * A streaming JSON writer. Containers opened with `inline_` true keep their
 * elements on one line (shapes, strides); with `compact` the whole
 * document is one line (JSON Lines output). Strings are escaped per RFC
 * 8259; bytes that are not valid UTF-8 become U+FFFD, so the output always
 * parses. Non-finite doubles become null.
 */
typedef struct cli_json {
  FILE *out;
  int depth;
  bool compact;
  bool first[CLI_JSON_MAX_DEPTH];
  bool inline_[CLI_JSON_MAX_DEPTH];
  char closer[CLI_JSON_MAX_DEPTH]; /* '}' or ']' */
  bool after_key;
} cli_json;

void cli_json_init(cli_json *j, FILE *out);
/* As cli_json_init(), for a document on one line. */
void cli_json_init_line(cli_json *j, FILE *out);
void cli_json_object(cli_json *j);
void cli_json_array(cli_json *j, bool inline_);
void cli_json_end(cli_json *j); /* closes the innermost container */
void cli_json_key(cli_json *j, const char *key);
void cli_json_str(cli_json *j, const char *s);
void cli_json_int(cli_json *j, int64_t v);
void cli_json_uint(cli_json *j, uint64_t v);
void cli_json_double(cli_json *j, double v);
void cli_json_bool(cli_json *j, bool v);
void cli_json_null(cli_json *j);
/*
 * cli_json_bytes: the member `key` holding n bytes exactly: as a string
 * when they are valid UTF-8 (a NUL byte is \u0000), else as the member
 * "<key>_base64" holding their base64 (RFC 4648), since a JSON string
 * cannot carry other bytes.
 */
void cli_json_bytes(cli_json *j, const char *key, const void *p, size_t n);
/* Ends the document with a newline. */
void cli_json_finish(cli_json *j);

/* ---- JSON input: the flat objects benchmark peers print -------------------------- */

typedef enum cli_jtype { CLI_J_STRING, CLI_J_NUMBER, CLI_J_BOOL, CLI_J_NULL } cli_jtype;

typedef struct cli_jmember {
  char *key;
  cli_jtype type;
  char *str;  /* CLI_J_STRING: the decoded string */
  double num; /* CLI_J_NUMBER; CLI_J_BOOL: 1 or 0 */
} cli_jmember;

/* A parsed flat JSON object (members are strings, numbers, booleans or
 * null; no nested object or array). */
typedef struct cli_jobject {
  cli_jmember *m;
  size_t n;
} cli_jobject;

/* Parses text (surrounding white space allowed) as one flat JSON object.
 * Returns 0, -EINVAL if it is not one, or -ENOMEM. Free with
 * cli_jobject_free(). */
int cli_jobject_parse(const char *text, cli_jobject *out);
void cli_jobject_free(cli_jobject *o);
/* The member `key` of o, or NULL. */
const cli_jmember *cli_jobject_get(const cli_jobject *o, const char *key);
/* The number `key`, or NAN when absent or not a number. */
double cli_jobject_num(const cli_jobject *o, const char *key);
/* The string `key`, or NULL when absent or not a string. */
const char *cli_jobject_str(const cli_jobject *o, const char *key);

#endif /* FERRY_TOOLS_CLI_H */
