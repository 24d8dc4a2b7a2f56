/*
 * cmd_heap.c: `ferry heap create|push|pop|peek`, a shared priority queue
 * from the shell: push a record (a key and a payload), pop the first ones
 * in key order, look at the first one. Each invocation opens, does its
 * work and closes; the heap stays until 'ferry rm NAME'.
 *
 * The key type: heap.h offers no call that tells an opened heap's key type
 * or order, so push, pop and peek take --double to read and print keys of
 * a heap created with --double (without it, an int64 heap is assumed).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_hd.h"
#include "cmd_redis.h"

/* Exit status of pop and peek beyond cli.h's 0/1/2. */
enum { HEAP_EXIT_EMPTY = 4 /* empty (pop: still empty at the timeout) */ };

const char cli_help_heap[] =
    "usage: ferry heap create NAME [--capacity N] [--max-capacity N]\n"
    "                              [--max-payload N] [--max] [--double] [--fixed]\n"
    "       ferry heap push NAME [--double] KEY [PAYLOAD | --stdin]\n"
    "       ferry heap pop NAME [--double] [-n N] [--timeout S]\n"
    "       ferry heap peek NAME [--double]\n"
    "\n"
    "A shared priority queue of records (a key and a byte payload) that many\n"
    "processes push to and pop from (seed 003's min-heap, without the\n"
    "BaseManager server). Equal keys pop in push order.\n"
    "\n"
    "create  make heap NAME (it stays until 'ferry rm NAME'). Defaults:\n"
    "        --capacity 1024 records, --max-capacity 64 x capacity (the heap\n"
    "        grows up to it; --fixed: capacity is the limit), --max-payload\n"
    "        64 bytes (0..1048576). --max pops the largest key first (default:\n"
    "        the smallest); --double makes keys doubles (default: int64).\n"
    "push    push one record: KEY and PAYLOAD (default empty), or with --stdin\n"
    "        all of stdin as the payload\n"
    "pop     pop N records (-n, default 1; 0 = until the heap is empty) and\n"
    "        print each as KEY<TAB>PAYLOAD on its own line. --timeout bounds\n"
    "        the wait for each record (default 0: do not wait)\n"
    "peek    print the first record as pop would, leaving it in place\n"
    "\n"
    "--double: the heap's key type is not recorded where the tool can read\n"
    "it, so give --double to push, pop and peek of a heap created with it.\n"
    "\n"
    "Exit status: 0 done, 1 an operation failed (payload too long, heap full,\n"
    "a missing heap or another kind of region), 2 bad command line, 4 the\n"
    "heap was empty (pop: before N records, within the timeout).\n"
    "\n"
    "Example:\n"
    "  ferry heap create jobs\n"
    "  ferry heap push jobs 30 box-7\n"
    "  ferry heap pop jobs\n";

/* ---- helpers ------------------------------------------------------------------ */

static bool parse_key(const char *s, bool dbl, ferry_heap_key *k)
{
  if (!*s)
    return false;
  char *end;
  errno = 0;
  if (dbl) {
    double v = strtod(s, &end);
    if (*end || errno || isnan(v))
      return false;
    k->f64 = v;
  } else {
    long long v = strtoll(s, &end, 10);
    if (*end || errno)
      return false;
    k->i64 = (int64_t)v;
  }
  return true;
}

static void print_record(ferry_heap_key k, bool dbl, const char *buf, size_t n)
{
  if (dbl)
    printf("%.17g\t", k.f64);
  else
    printf("%" PRId64 "\t", k.i64);
  fwrite(buf, 1, n, stdout);
  putchar('\n');
}

/* Parses NAME, --double, and a verb's extras: positionals beyond NAME go
 * to extra[] (at most nextra). */
typedef struct heap_cmd {
  const char *verb, *name;
  const char *extra[2];
  int nextra;
  bool dbl, use_stdin;
  uint64_t count;
  int64_t timeout;
} heap_cmd;

static int parse_cmd(heap_cmd *c, int argc, char **argv, int max_extra, bool pop_opts,
                     bool stdin_opt)
{
  const char *v;
  int rc;
  cli_args a;
  cli_args_init(&a, c->verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return -1;
    } else if (cli_args_flag(&a, "--double")) {
      c->dbl = true;
    } else if (stdin_opt && cli_args_flag(&a, "--stdin")) {
      c->use_stdin = true;
    } else if (pop_opts && (rc = cli_args_value(&a, "--timeout", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_seconds(v, &c->timeout))
        return cli_usage_error(c->verb, "bad --timeout '%s' (want seconds)", v);
    } else if (pop_opts && strcmp(a.word, "-n") == 0 && !a.options_done) {
      if (a.next >= a.argc)
        return cli_usage_error(c->verb, "-n needs a value");
      v = a.argv[a.next++];
      if (!cli_parse_u64(v, 0, UINT64_MAX, &c->count))
        return cli_usage_error(c->verb, "bad -n '%s' (want a count; 0 = until empty)", v);
    } else if (cli_args_positional(&a) && !c->name) {
      c->name = a.word;
    } else if (cli_args_positional(&a) && c->nextra < max_extra) {
      c->extra[c->nextra++] = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (!c->name)
    return cli_usage_error(c->verb, "missing heap name (see 'ferry help heap')");
  if (cli_object_name_valid(c->name) != 0)
    return cli_usage_error(c->verb, "'%s': bad region name", c->name);
  return CLI_OK;
}

/* ---- create --------------------------------------------------------------------- */

static int heap_create(int argc, char **argv)
{
  const char *verb = "heap create", *name = NULL, *v;
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  uint64_t n;
  int rc;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_heap);
    } else if ((rc = cli_args_value(&a, "--capacity", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(v, 1, FERRY_HEAP_MAX_CAPACITY, &n))
        return cli_usage_error(verb, "bad --capacity '%s' (want 1..%" PRIu64 ")", v,
                               FERRY_HEAP_MAX_CAPACITY);
      o.capacity = n;
    } else if ((rc = cli_args_value(&a, "--max-capacity", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(v, 1, FERRY_HEAP_MAX_CAPACITY, &n))
        return cli_usage_error(verb, "bad --max-capacity '%s' (want 1..%" PRIu64 ")", v,
                               FERRY_HEAP_MAX_CAPACITY);
      o.max_capacity = n;
    } else if ((rc = cli_args_value(&a, "--max-payload", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(v, 0, FERRY_HEAP_MAX_PAYLOAD, &n))
        return cli_usage_error(verb, "bad --max-payload '%s' (want 0..%" PRIu32 " bytes)", v,
                               FERRY_HEAP_MAX_PAYLOAD);
      o.max_payload = (uint32_t)n;
    } else if (cli_args_flag(&a, "--max")) {
      o.order = FERRY_HEAP_MAX;
    } else if (cli_args_flag(&a, "--double")) {
      o.key_type = FERRY_HEAP_KEY_DOUBLE;
    } else if (cli_args_flag(&a, "--fixed")) {
      o.flags |= FERRY_HEAP_FIXED;
    } else if (cli_args_positional(&a) && !name) {
      name = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (!name)
    return cli_usage_error(verb, "missing heap name (see 'ferry help heap')");
  if (cli_object_name_valid(name) != 0)
    return cli_usage_error(verb, "'%s': bad region name", name);
  if (o.max_capacity && !(o.flags & FERRY_HEAP_FIXED) && o.max_capacity < o.capacity)
    return cli_usage_error(verb, "--max-capacity %" PRIu64 " is below --capacity %" PRIu64,
                           o.max_capacity, o.capacity);
  ferry_heap *h;
  rc = ferry_heap_create(name, &o, &h);
  if (rc) {
    if (rc == -EOVERFLOW)
      cli_error(verb, rc, "%s: capacity x payload size is too large", name);
    else
      cli_error(verb, rc, "%s", name);
    return CLI_FAIL;
  }
  ferry_heap_close(h);
  return CLI_OK;
}

/* ---- push ------------------------------------------------------------------------- */

static int heap_push(int argc, char **argv)
{
  heap_cmd c = {.verb = "heap push"};
  int rc = parse_cmd(&c, argc, argv, 2, false, true);
  if (rc < 0)
    return cli_print_help(cli_help_heap);
  if (rc)
    return rc;
  if (c.nextra < 1)
    return cli_usage_error(c.verb, "missing KEY (see 'ferry help heap')");
  if (c.use_stdin && c.nextra > 1)
    return cli_usage_error(c.verb, "--stdin reads the payload: give no PAYLOAD");
  ferry_heap_key key;
  if (!parse_key(c.extra[0], c.dbl, &key))
    return cli_usage_error(c.verb, "bad KEY '%s' (want %s)", c.extra[0],
                           c.dbl ? "a number" : "an integer; --double for a double heap");
  ferry_heap *h;
  if ((rc = ferry_heap_open(c.name, NULL, &h)) != 0)
    return cli_object_error(c.verb, rc, c.name, "heap");
  ferry_heap_stats s;
  ferry_heap_stats_get(h, &s);
  size_t max = (size_t)s.max_payload, len = 0;
  char *buf = NULL;
  int status = CLI_OK;
  if (c.use_stdin) {
    /* One byte more than fits tells "too long" from "exactly the maximum". */
    buf = malloc(max + 1);
    size_t k;
    while (buf && len < max + 1 && (k = fread(buf + len, 1, max + 1 - len, stdin)) > 0)
      len += k;
    if (!buf) {
      cli_error(c.verb, -ENOMEM, "%s", c.name);
      status = CLI_FAIL;
    } else if (ferror(stdin)) {
      cli_error(c.verb, -EIO, "%s: reading stdin", c.name);
      status = CLI_FAIL;
    }
  } else if (c.nextra > 1) {
    len = strlen(c.extra[1]);
  }
  const char *data = c.use_stdin ? buf : c.nextra > 1 ? c.extra[1] : "";
  if (status == CLI_OK && len > max) {
    cli_error(c.verb, -EMSGSIZE, "%s: payload is %s%zu bytes, the maximum is %zu", c.name,
              c.use_stdin ? "more than " : "", c.use_stdin ? max : len, max);
    status = CLI_FAIL;
  } else if (status == CLI_OK && (rc = ferry_heap_push(h, key, data, len, FERRY_FOREVER)) != 0) {
    if (rc == -ENOSPC)
      cli_error(c.verb, rc, "%s: full (%" PRIu64 " records)", c.name, s.max_capacity);
    else
      cli_object_error(c.verb, rc, c.name, "heap");
    status = CLI_FAIL;
  }
  free(buf);
  ferry_heap_close(h);
  return status;
}

/* ---- pop, peek ---------------------------------------------------------------------- */

static int heap_take(int argc, char **argv, bool peek)
{
  heap_cmd c = {.verb = peek ? "heap peek" : "heap pop", .count = 1};
  int rc = parse_cmd(&c, argc, argv, 0, !peek, false);
  if (rc < 0)
    return cli_print_help(cli_help_heap);
  if (rc)
    return rc;
  ferry_heap *h;
  if ((rc = ferry_heap_open(c.name, NULL, &h)) != 0)
    return cli_object_error(c.verb, rc, c.name, "heap");
  ferry_heap_stats s;
  ferry_heap_stats_get(h, &s);
  size_t cap = (size_t)s.max_payload;
  char *buf = malloc(cap ? cap : 1);
  int status = CLI_OK;
  if (!buf) {
    cli_error(c.verb, -ENOMEM, "%s", c.name);
    status = CLI_FAIL;
  }
  for (uint64_t got = 0; buf && (c.count == 0 || got < c.count); got++) {
    ferry_heap_key key;
    ssize_t n;
    if (peek) {
      n = ferry_heap_peek(h, &key, buf, cap);
    } else {
      n = ferry_heap_pop(h, &key, buf, cap, 0);
      if (n == -EAGAIN && c.timeout > 0) {
        fflush(stdout); /* about to wait: readers get what we have */
        n = ferry_heap_pop(h, &key, buf, cap, c.timeout);
      }
    }
    if (n == -EAGAIN || n == -ETIMEDOUT) {
      /* -n 0 asked for everything there is: reaching empty is success. */
      status = c.count == 0 ? CLI_OK : HEAP_EXIT_EMPTY;
      break;
    }
    if (n < 0) {
      status = cli_object_error(c.verb, (int)n, c.name, "heap");
      break;
    }
    print_record(key, c.dbl, buf, (size_t)n);
    if (peek || ferror(stdout))
      break;
  }
  free(buf);
  ferry_heap_close(h);
  return status;
}

static int heap_pop(int argc, char **argv) { return heap_take(argc, argv, false); }
static int heap_peek(int argc, char **argv) { return heap_take(argc, argv, true); }

int cmd_heap(int argc, char **argv)
{
  static const cli_sub subs[] = {
      {"create", heap_create},
      {"push", heap_push},
      {"pop", heap_pop},
      {"peek", heap_peek},
  };
  return cli_dispatch("heap", cli_help_heap, subs, sizeof subs / sizeof subs[0], argc, argv);
}
