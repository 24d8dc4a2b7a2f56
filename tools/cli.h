/*
 * cli.h: what the pieces of the `ferry` command share: exit codes, the
 * one-line error convention, a small argument scanner, a JSON writer, text
 * formatting helpers and the entry point and help text of every verb.
 *
 * The tool uses ferry's public API only (ferry/ferry.h), like any other
 * program would; nothing here may include a src/ header.
 *
 * Error convention: every failure prints exactly one line on stderr,
 *   ferry: <verb>: <what>: <ferry_strerror text>
 * and the verb returns CLI_FAIL (an operation failed) or CLI_USAGE (the
 * command line was wrong; nothing was done).
 */
#ifndef FERRY_TOOLS_CLI_H
#define FERRY_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/ferry.h"

/* The library exports no version string yet; keep in step with the
 * project() version in the top-level CMakeLists.txt. */
#define CLI_VERSION "0.1.0"

enum {
  CLI_OK = 0,
  CLI_FAIL = 1,  /* an operation failed */
  CLI_USAGE = 2, /* bad command line; nothing was done */
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

/* ---- argument scanning ------------------------------------------------------ */

/*
 * Scans argv one word at a time. Options are long ("--json", "--mode 600"
 * or "--mode=600") plus "-h"; "--" ends the options. The scanner never
 * prints on its own except through cli_usage_error(), so every verb
 * reports bad options the same way.
 *
 *   cli_args a;
 *   cli_args_init(&a, "ls", argc, argv);   // argv[0] is the verb itself
 *   while (cli_args_next(&a)) {
 *     if (cli_args_flag(&a, "--json")) json = true;
 *     else if ((rc = cli_args_value(&a, "--mode", &v)) != 0) { if (rc < 0) return CLI_USAGE; ... }
 *     else if (cli_args_positional(&a)) ...a.word...
 *     else return cli_args_unknown(&a);
 *   }
 */
typedef struct cli_args {
  const char *verb;
  int argc;
  char **argv;
  int next;             /* index of the next word to scan */
  const char *word;     /* the current word */
  const char *attached; /* the value after '=' in "--opt=value", or NULL */
  size_t optlen;        /* length of the option name in word */
  bool options_done;    /* "--" was seen */
  bool failed;          /* a usage error was reported already */
} cli_args;

void cli_args_init(cli_args *a, const char *verb, int argc, char **argv);
/* Advances to the next word; false at the end. */
bool cli_args_next(cli_args *a);
/* True if the current word is not an option. */
bool cli_args_positional(const cli_args *a);
/* True if the current word is the option `name` (which takes no value);
 * "--name=x" is reported as a usage error and also returns false, after
 * which cli_args_failed() is true. */
bool cli_args_flag(cli_args *a, const char *name);
/* True if the current word is "--help" or "-h". */
bool cli_args_help(const cli_args *a);
/* If the current word is option `name`, sets *value to its argument and
 * returns 1 (a missing argument is a usage error: returns -1). Returns 0
 * if the word is some other option. */
int cli_args_value(cli_args *a, const char *name, const char **value);
/* Reports the current word as an unknown option (or unexpected argument)
 * and returns CLI_USAGE. */
int cli_args_unknown(const cli_args *a);
/* True after cli_args_flag() refused "--flag=value". */
bool cli_args_failed(const cli_args *a);

/* Parses a decimal integer in [min, max]; false if it is not one. */
bool cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Parses a non-negative decimal number of seconds (e.g. "0.5"). */
bool cli_parse_seconds(const char *s, int64_t *ns);

/* Prints a help text on stdout and returns CLI_OK. */
int cli_print_help(const char *text);

/* A subcommand of a verb family (`ferry queue put ...`). */
typedef struct cli_sub {
  const char *name;
  int (*fn)(int argc, char **argv); /* gets argv from the subcommand on */
} cli_sub;

/*
 * cli_dispatch: runs the subcommand argv[1] of `verb` from subs[0..n), or
 * prints `help` for -h/--help; a missing or unknown subcommand is a usage
 * error that points at 'ferry help VERB'.
 */
int cli_dispatch(const char *verb, const char *help, const cli_sub *subs, size_t n, int argc,
                 char **argv);

/*
 * cli_object_error: reports a failed operation on object `name`, naming
 * the expected kind ("queue", ...) when the region holds another kind.
 * Returns CLI_FAIL.
 */
int cli_object_error(const char *verb, int err, const char *name, const char *kind);

/* ---- region names ------------------------------------------------------------ */

/*
 * cli_list_regions: the names of every ferry region in /dev/shm that
 * matches one of the shell patterns (fnmatch; all names if npatterns is
 * 0), sorted bytewise. On success *names is an array of *count malloc'd
 * strings: free it with cli_free_names().
 */
int cli_list_regions(char *const *patterns, size_t npatterns, char ***names, size_t *count);
void cli_free_names(char **names, size_t count);

/* ---- text formatting --------------------------------------------------------- */

/* "512B", "4.0KiB", "17.2MiB": binary units, one decimal. Returns buf. */
const char *cli_fmt_size(uint64_t bytes, char *buf, size_t cap);
/* "2024-11-23T09:30:00.123Z" from CLOCK_REALTIME nanoseconds; "-" for 0.
 * Returns buf. */
const char *cli_fmt_time(int64_t ns, char *buf, size_t cap);
/* Dimensions joined by 'x' ("1000x1000"); "scalar" for ndim 0. */
const char *cli_fmt_shape(uint32_t ndim, const uint64_t *shape, char *buf, size_t cap);

/* Whether the status of a failed ferry_region_stat() means the file is not
 * a valid ferry region ("invalid") rather than unreadable. */
bool cli_err_is_invalid(int err);

/* ---- JSON ------------------------------------------------------------------------ */

#define CLI_JSON_MAX_DEPTH 16

/*
 * A streaming JSON writer that indents by two spaces. Containers opened
 * with `inline_` true keep their elements on one line (shapes, strides).
 * Strings are escaped per RFC 8259; bytes that are not valid UTF-8 become
 * U+FFFD, so the output always parses. Non-finite doubles become null.
 */
typedef struct cli_json {
  FILE *out;
  int depth;
  bool first[CLI_JSON_MAX_DEPTH];
  bool inline_[CLI_JSON_MAX_DEPTH];
  char closer[CLI_JSON_MAX_DEPTH]; /* '}' or ']' */
  bool after_key;
} cli_json;

void cli_json_init(cli_json *j, FILE *out);
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
/* Ends the document with a newline. */
void cli_json_finish(cli_json *j);

/* ---- verbs --------------------------------------------------------------------------- */

/* Each verb gets argv with argv[0] = its own name and returns an exit code. */
int cmd_ls(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_array(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_pool(int argc, char **argv);
/* `ferry demo dispatch` (demo_dispatch.c); argv[0] is "dispatch". */
int ferry_tool_demo_dispatch(int argc, char **argv);
extern const char cli_help_demo_dispatch[];

extern const char cli_help_ls[];
extern const char cli_help_info[];
extern const char cli_help_rm[];
extern const char cli_help_gc[];
extern const char cli_help_pool[];
extern const char cli_help_array[];
extern const char cli_help_queue[];
extern const char cli_help_demo[];

#endif /* FERRY_TOOLS_CLI_H */
