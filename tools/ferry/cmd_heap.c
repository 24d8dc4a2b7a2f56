/* SPDX-License-Identifier: MIT */
/*
 * cmd_heap.c: `ferry heap create|push|pop|peek`, a shared priority queue
 * from the shell: push a record (a key and a payload), pop the first ones
 * in key order, look at the first one. Each invocation opens, does its
 * work and closes; the heap stays until 'ferry rm NAME'. The key type
 * (int64 or double) and the order are the heap's own: push, pop and peek
 * read them from the heap (ferry_heap_stats).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verbs.h"

const char cli_help_heap[] =
    "usage: ferry heap create NAME [--capacity N] [--max-capacity N]\n"
    "                  [--max-payload N] [--max] [--double] [--fixed] [--mode OCTAL]\n"
    "       ferry heap push NAME KEY [PAYLOAD | --stdin]\n"
    "       ferry heap pop NAME [-n N] [--timeout S] [--json]\n"
    "       ferry heap peek NAME [--json]\n"
    "\n"
    "A shared priority queue of records (a key and a byte payload) that many\n"
    "processes push to and pop from, with no server process in between.\n"
    "Equal keys pop in push order.\n"
    "\n"
    "create  make heap NAME (it stays until 'ferry rm NAME'). Defaults:\n"
    "        --capacity 1024 records, --max-capacity 64 x capacity (the heap\n"
    "        grows up to it; --fixed: capacity is the limit), --max-payload\n"
    "        64 bytes (0..1048576), --mode 600. --max pops the largest key\n"
    "        first (default: the smallest); --double makes keys doubles\n"
    "        (default: int64). Every other verb reads both from the heap.\n"
    "push    push one record: KEY and PAYLOAD (default empty), or with --stdin\n"
    "        all of stdin as the payload\n"
    "pop     pop N records (-n, default 1; 0 = until a wait times out, which\n"
    "        counts as done) and print each as KEY<TAB>PAYLOAD on its own\n"
    "        line, or with --json as one JSON array of {\"key\", \"payload\"}\n"
    "        objects (\"payload_base64\" for bytes that are not UTF-8).\n"
    "        --timeout S bounds each wait for a record: seconds, 0 to take only\n"
    "        what is there, 'forever' (the default)\n"
    "peek    print the first record as pop would, leaving it in place\n"
    "\n"
    "NAME may also name a heap on a Redis server, redis://HOST[:PORT]/NAME or\n"
    "unix:///PATH.sock/NAME (see 'man libferry', ferry/redis.h).\n"
    "\n"
    "Exit status: 0 done, 1 an operation failed (payload too long, heap full,\n"
    "another kind of region), 2 bad command line, 4 the heap was empty (pop:\n"
    "before N records, within the timeout), 5 no such heap.\n"
    "\n"
    "Example:\n"
    "  ferry heap create jobs\n"
    "  ferry heap push jobs 30 box-7\n"
    "  ferry heap pop jobs --timeout 0\n";

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

static void print_record(cli_json *j, ferry_heap_key k, bool dbl, const char *buf, size_t n)
{
  if (j) {
    cli_json_object(j);
    cli_json_key(j, "key");
    if (dbl)
      cli_json_double(j, k.f64);
    else
      cli_json_int(j, k.i64);
    cli_json_bytes(j, "payload", buf, n);
    cli_json_end(j);
    return;
  }
  if (dbl)
    printf("%.17g\t", k.f64);
  else
    printf("%" PRId64 "\t", k.i64);
  fwrite(buf, 1, n, stdout);
  putchar('\n');
}

static const char *const heap_args[] = {"heap name", "KEY", "PAYLOAD"};

/* What push, pop and peek were given. */
struct heap_call {
  const char *verb, *name, *key, *payload;
  bool use_stdin, json, peek;
  uint64_t count;
  int64_t timeout;
};

typedef int heap_act(ferry_heap *h, const ferry_heap_stats *s, const struct heap_call *c);

/* Parses the words by spec, opens the heap they name, reads its
 * statistics (its key type and sizes), acts on it and closes it. */
static int heap_run(const cli_spec *spec, int argc, char **argv, struct heap_call *c,
                    heap_act *act)
{
  size_t n;
  CLI_PARSE_OR_RETURN(spec, argc, argv, &n);
  c->name = argv[1];
  c->key = n > 1 ? argv[2] : NULL;
  c->payload = n > 2 ? argv[3] : NULL;
  if (c->use_stdin && c->payload)
    return cli_usage_error(c->verb, "--stdin reads the payload: give no PAYLOAD");
  ferry_heap *h;
  int rc = ferry_heap_open(c->name, NULL, &h);
  if (rc)
    return cli_object_error(c->verb, rc, c->name, "heap");
  ferry_heap_stats s;
  if ((rc = ferry_heap_stats_get(h, &s)) != 0)
    rc = cli_object_error(c->verb, rc, c->name, "heap");
  else if (s.key_type == FERRY_HEAP_KEY_BYTES)
    rc = cli_fail(c->verb, -EINVAL, "%s: its keys are byte strings; these verbs handle int64 "
                  "and double keys", c->name);
  else
    rc = act(h, &s, c);
  ferry_heap_close(h);
  return rc;
}

/* ---- create --------------------------------------------------------------------- */

static int heap_create(int argc, char **argv)
{
  const char *verb = "heap create";
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  bool max = false, dbl = false, fixed = false;
  cli_opt opts[] = {
      CLI_U64("--capacity", &o.capacity, 1, FERRY_HEAP_MAX_CAPACITY),
      CLI_U64("--max-capacity", &o.max_capacity, 1, FERRY_HEAP_MAX_CAPACITY),
      CLI_U32("--max-payload", &o.max_payload, 0, FERRY_HEAP_MAX_PAYLOAD),
      CLI_FLAG("--max", &max),
      CLI_FLAG("--double", &dbl),
      CLI_FLAG("--fixed", &fixed),
      CLI_MODE(&o.region.mode),
  };
  const cli_spec spec = {verb, cli_help_heap, opts, 7, heap_args, 1, 1, CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  if (max)
    o.order = FERRY_HEAP_MAX;
  if (dbl)
    o.key_type = FERRY_HEAP_KEY_DOUBLE;
  if (fixed)
    o.flags |= FERRY_HEAP_FIXED;
  int rc = cli_check_capacity(verb, o.capacity, o.max_capacity, fixed);
  if (rc != CLI_OK)
    return rc;
  ferry_heap *h;
  if ((rc = ferry_heap_create(name, &o, &h)) != 0)
    return cli_create_failed(verb, rc, name, "capacity x payload size");
  ferry_heap_close(h);
  return CLI_OK;
}

/* ---- push ------------------------------------------------------------------------- */

static int push_record(ferry_heap *h, const ferry_heap_stats *s, const struct heap_call *c)
{
  const char *verb = c->verb, *name = c->name, *payload = c->payload;
  bool use_stdin = c->use_stdin, dbl = s->key_type == FERRY_HEAP_KEY_DOUBLE;
  ferry_heap_key key;
  if (!parse_key(c->key, dbl, &key))
    return cli_usage_error(verb, "bad KEY '%s' (want %s: the key type of heap %s)", c->key,
                           dbl ? "a number" : "an integer", name);
  int rc;
  size_t max = (size_t)s->max_payload, len = 0;
  char *buf = NULL;
  int status = CLI_OK;
  if (use_stdin) {
    /* One byte more than fits tells "too long" from "exactly the maximum". */
    buf = malloc(max + 1);
    size_t k;
    while (buf && len < max + 1 && (k = fread(buf + len, 1, max + 1 - len, stdin)) > 0)
      len += k;
    if (!buf) {
      cli_error(verb, -ENOMEM, "%s", name);
      status = CLI_FAIL;
    } else if (ferror(stdin)) {
      cli_error(verb, -EIO, "%s: reading stdin", name);
      status = CLI_FAIL;
    }
  } else if (payload) {
    len = strlen(payload);
  }
  const char *data = use_stdin ? buf : payload ? payload : "";
  if (status == CLI_OK && len > max) {
    cli_error(verb, -EMSGSIZE, "%s: payload is %s%zu bytes, the maximum is %zu", name,
              use_stdin ? "more than " : "", use_stdin ? max : len, max);
    status = CLI_FAIL;
  } else if (status == CLI_OK && (rc = ferry_heap_push(h, key, data, len, FERRY_FOREVER)) != 0) {
    if (rc == -ENOSPC)
      status = cli_fail(verb, rc, "%s: full (%" PRIu64 " records)", name, s->max_capacity);
    else
      status = cli_object_error(verb, rc, name, "heap");
  }
  free(buf);
  return status;
}

static int heap_push(int argc, char **argv)
{
  struct heap_call c = {.verb = "heap push"};
  cli_opt opts[] = {CLI_FLAG("--stdin", &c.use_stdin)};
  const cli_spec spec = {c.verb, cli_help_heap, opts, 1, heap_args, 2, 3, CLI_ARG_OBJECT};
  return heap_run(&spec, argc, argv, &c, push_record);
}

/* ---- pop, peek ---------------------------------------------------------------------- */

static int take_records(ferry_heap *h, const ferry_heap_stats *s, const struct heap_call *c)
{
  const char *verb = c->verb, *name = c->name;
  bool json = c->json, peek = c->peek, dbl = s->key_type == FERRY_HEAP_KEY_DOUBLE;
  uint64_t count = c->count;
  int64_t timeout = c->timeout;
  size_t cap = (size_t)s->max_payload;
  char *buf = malloc(cap ? cap : 1);
  int status = CLI_OK;
  if (!buf)
    status = cli_fail(verb, -ENOMEM, "%s", name);
  cli_json j;
  if (json) {
    cli_json_init(&j, stdout);
    cli_json_array(&j, false);
  }
  for (uint64_t got = 0; buf && (count == 0 || got < count); got++) {
    ferry_heap_key key;
    ssize_t n;
    if (peek) {
      n = ferry_heap_peek(h, &key, buf, cap);
    } else {
      n = ferry_heap_pop(h, &key, buf, cap, 0);
      if (n == -EAGAIN && timeout > 0) {
        fflush(stdout); /* about to wait: readers get what we have */
        n = ferry_heap_pop(h, &key, buf, cap, timeout);
      }
    }
    if (n == -EAGAIN || n == -ETIMEDOUT) {
      /* -n 0 asked for everything there is: reaching empty is success. */
      if (count == 0)
        break;
      status = CLI_TIMEDOUT;
      int why = timeout > 0 && !peek ? -ETIMEDOUT : -ENODATA;
      if (got)
        cli_error(verb, why, "%s: %" PRIu64 " of %" PRIu64 " records there", name, got, count);
      else
        cli_error(verb, why, "%s: empty", name);
      break;
    }
    if (n < 0) {
      status = cli_object_error(verb, (int)n, name, "heap");
      break;
    }
    print_record(json ? &j : NULL, key, dbl, buf, (size_t)n);
    if (peek || ferror(stdout))
      break;
  }
  if (json) {
    cli_json_end(&j);
    cli_json_finish(&j);
  }
  free(buf);
  return status;
}

static int heap_take(int argc, char **argv, bool peek)
{
  struct heap_call c = {.verb = peek ? "heap peek" : "heap pop", .peek = peek, .count = 1,
                        .timeout = FERRY_FOREVER};
  cli_opt opts[] = {CLI_JSON(&c.json), CLI_COUNT(&c.count), CLI_TIMEOUT(&c.timeout)};
  /* peek takes neither -n nor --timeout: it never waits. */
  const cli_spec spec = {c.verb, cli_help_heap, opts, peek ? 1 : 3, heap_args, 1, 1,
                         CLI_ARG_OBJECT};
  return heap_run(&spec, argc, argv, &c, take_records);
}

static int heap_pop(int argc, char **argv) { return heap_take(argc, argv, false); }
static int heap_peek(int argc, char **argv) { return heap_take(argc, argv, true); }

const cli_command cmd_heap_subs[CMD_HEAP_NSUBS] = {
    {.name = "create", .run = heap_create, .help = cli_help_heap},
    {.name = "push", .run = heap_push, .help = cli_help_heap},
    {.name = "pop", .run = heap_pop, .help = cli_help_heap},
    {.name = "peek", .run = heap_peek, .help = cli_help_heap},
};
