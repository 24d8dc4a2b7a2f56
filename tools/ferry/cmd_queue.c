/* SPDX-License-Identifier: MIT */
/*
 * cmd_queue.c: `ferry queue create|put|get|shutdown`, so that a shell
 * script can use a ferry queue the way it uses redis-cli with a list:
 * producers put lines (or whole files) from their arguments or stdin,
 * consumers print what they take, one message a line, and the exit status
 * tells a message from the end of the stream and from a timeout.
 *
 * Each invocation is a short-lived participant: put opens as a producer,
 * get as a consumer, shutdown as a consumer, and each closes before it
 * exits. The queue itself stays until 'ferry rm'.
 *
 * End of stream for the shell [cli-queue-eos]: the library ends a stream
 * also when every producer has closed (queue.h), but a shell producer is a
 * producer only while one `ferry queue put` runs, so between two puts there
 * is always "no producer". get therefore treats only a shutdown as the end:
 * when the library reports end of stream without one, get keeps polling
 * (every POLL_NS) until a producer comes back, a shutdown, or its timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "verbs.h"

/* Poll period while no producer is attached [cli-queue-eos]. */
#define POLL_NS (10 * FERRY_MSEC)

const char cli_help_queue[] =
    "usage: ferry queue create NAME [--capacity N] [--max-msg N] [--mode OCTAL]\n"
    "       ferry queue put NAME [--raw] [--timeout S] [--] [MSG...]\n"
    "       ferry queue get NAME [-n N] [--raw | --json] [--timeout S]\n"
    "       ferry queue shutdown NAME\n"
    "\n"
    "A bounded queue of byte messages that many processes put to and get\n"
    "from; every message goes to exactly one getter, whole.\n"
    "\n"
    "create    make queue NAME (it stays until 'ferry rm NAME'). Defaults:\n"
    "          --capacity 1024 messages (2..16777216), --max-msg 4096 bytes\n"
    "          (1..1073741824), --mode 600\n"
    "put       put each MSG as one message; with no MSG, each line of stdin\n"
    "          (without its newline; an empty line is an empty message), or\n"
    "          with --raw all of stdin as one message. MSGs are all checked\n"
    "          first: if one is too long nothing is put. Lines are put as\n"
    "          they are read, so a line that is too long stops the put after\n"
    "          the lines before it.\n"
    "get       take N messages (-n, default 1; 0 = until the end of the\n"
    "          stream) and print each on its own line, or with --raw as they\n"
    "          are, without separators, or with --json as one JSON array of\n"
    "          {\"data\": ...} objects (\"data_base64\" for bytes that are\n"
    "          not UTF-8)\n"
    "shutdown  end the stream: later puts fail; getters take what is left,\n"
    "          then see the end.\n"
    "\n"
    "--timeout S bounds each wait, for room (put) or for a message (get):\n"
    "seconds, 0 to try once, 'forever' (the default) to wait as long as it\n"
    "takes. End of stream: for get it is a shutdown only. A queue that merely\n"
    "has no producer attached (between two 'ferry queue put') is waited on.\n"
    "\n"
    "NAME may also name a queue on a Redis server, redis://HOST[:PORT]/NAME or\n"
    "unix:///PATH.sock/NAME (see 'man libferry', ferry/redis.h).\n"
    "\n"
    "Exit status: 0 done (for get -n 0: the stream ended), 1 an operation\n"
    "failed (e.g. a message too long, another kind of region), 2 bad command\n"
    "line, 3 the stream ended (get: before N messages; put: shut down),\n"
    "4 timed out (get: nothing arrived in time; put: no room in time), 5 no\n"
    "such queue.\n"
    "\n"
    "Example:\n"
    "  ferry queue create jobs\n"
    "  seq 3 | ferry queue put jobs\n"
    "  while job=$(ferry queue get jobs); do echo \"got $job\"; done &\n"
    "  ferry queue shutdown jobs\n";

/* ---- helpers ------------------------------------------------------------------ */

/* Common error reporting for an operation on queue `name`. */
static int open_queue(const char *verb, const char *name, uint32_t role, ferry_queue **q)
{
  int rc = ferry_queue_open(name, role, NULL, q);
  return rc ? cli_object_error(verb, rc, name, "queue") : CLI_OK;
}

static const char *const queue_args[] = {"queue name", "MSG"};

/* ---- create ------------------------------------------------------------------- */

static int queue_create(int argc, char **argv)
{
  const char *verb = "queue create";
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  /* The creator registers only as a consumer: a producer that came and
   * went would mean "every producer left", an ended stream for programs
   * that use the library's end of stream (queue.h). */
  o.region.role = FERRY_ROLE_CONSUMER;
  cli_opt opts[] = {
      CLI_U32("--capacity", &o.capacity, FERRY_QUEUE_MIN_CAPACITY, FERRY_QUEUE_MAX_CAPACITY),
      CLI_U32("--max-msg", &o.max_msg_size, 1, FERRY_QUEUE_MAX_MSG),
      CLI_MODE(&o.region.mode),
  };
  const cli_spec spec = {verb, cli_help_queue, opts, 3, queue_args, 1, 1, CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  ferry_queue *q;
  int rc = ferry_queue_create(name, &o, &q);
  if (rc)
    return cli_create_failed(verb, rc, name, "capacity x max message size");
  ferry_queue_close(q);
  return CLI_OK;
}

/* ---- put ------------------------------------------------------------------------ */

/* Maps a failed put to an exit status, after the error line. */
static int put_failed(int rc, const char *name, const char *what)
{
  const char *verb = "queue put";
  if (rc == -EPIPE) {
    cli_error(verb, rc, "%s: shut down%s", name, what);
    return CLI_ENDED;
  }
  if (rc == -ETIMEDOUT || rc == -EAGAIN) {
    cli_error(verb, -ETIMEDOUT, "%s: no room%s", name, what);
    return CLI_TIMEDOUT;
  }
  cli_error(verb, rc, "%s%s", name, what);
  return CLI_FAIL;
}

static int put_args(ferry_queue *q, const char *name, char **msgs, size_t n, size_t max,
                    int64_t timeout)
{
  for (size_t i = 0; i < n; i++)
    if (strlen(msgs[i]) > max) {
      cli_error("queue put", -EMSGSIZE, "%s: message %zu is %zu bytes, the maximum is %zu", name,
                i + 1, strlen(msgs[i]), max);
      return CLI_FAIL;
    }
  ferry_queue_vec *v = calloc(n, sizeof *v);
  if (!v) {
    cli_error("queue put", -ENOMEM, "%s", name);
    return CLI_FAIL;
  }
  for (size_t i = 0; i < n; i++)
    v[i] = (ferry_queue_vec){msgs[i], strlen(msgs[i])};
  size_t done = 0;
  int status = CLI_OK;
  while (done < n) {
    ssize_t k = ferry_queue_put_many(q, v + done, n - done, timeout);
    if (k < 0) {
      char what[64] = "";
      if (done)
        snprintf(what, sizeof what, " (after %zu of %zu messages)", done, n);
      status = put_failed((int)k, name, what);
      break;
    }
    done += (size_t)k;
  }
  free(v);
  return status;
}

static int put_raw(ferry_queue *q, const char *name, size_t max, int64_t timeout)
{
  /* One byte more than fits tells "too long" from "exactly the maximum". */
  size_t cap = max + 1, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    cli_error("queue put", -ENOMEM, "%s", name);
    return CLI_FAIL;
  }
  size_t k;
  while (len < cap && (k = fread(buf + len, 1, cap - len, stdin)) > 0)
    len += k;
  int status = CLI_OK;
  if (ferror(stdin)) {
    cli_error("queue put", -EIO, "%s: reading stdin", name);
    status = CLI_FAIL;
  } else if (len > max) {
    cli_error("queue put", -EMSGSIZE, "%s: stdin is more than %zu bytes, the maximum", name, max);
    status = CLI_FAIL;
  } else {
    int rc = ferry_queue_put(q, buf, len, timeout);
    if (rc)
      status = put_failed(rc, name, "");
  }
  free(buf);
  return status;
}

static int put_lines(ferry_queue *q, const char *name, size_t max, int64_t timeout)
{
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int status = CLI_OK;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    lineno++;
    if (len > 0 && line[len - 1] == '\n')
      len--;
    if ((size_t)len > max) {
      cli_error("queue put", -EMSGSIZE,
                "%s: line %zu is %zd bytes, the maximum is %zu (%zu line%s put before it)", name,
                lineno, len, max, lineno - 1, lineno == 2 ? "" : "s");
      status = CLI_FAIL;
      break;
    }
    int rc = ferry_queue_put(q, line, (size_t)len, timeout);
    if (rc) {
      char what[64];
      snprintf(what, sizeof what, " (line %zu)", lineno);
      status = put_failed(rc, name, what);
      break;
    }
  }
  if (status == CLI_OK && ferror(stdin)) {
    cli_error("queue put", -EIO, "%s: reading stdin", name);
    status = CLI_FAIL;
  }
  free(line);
  return status;
}

static int queue_put(int argc, char **argv)
{
  const char *verb = "queue put";
  bool raw = false;
  int64_t timeout = FERRY_FOREVER;
  cli_opt opts[] = {CLI_FLAG("--raw", &raw), CLI_TIMEOUT(&timeout)};
  const cli_spec spec = {verb, cli_help_queue, opts, 2, queue_args, 1, CLI_ANY_NUMBER,
                         CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  char **msgs = argv + 2;
  size_t nmsgs = n - 1;
  if (raw && nmsgs)
    return cli_usage_error(verb, "--raw reads stdin: give no MSG");
  ferry_queue *q;
  int rc = open_queue(verb, name, FERRY_ROLE_PRODUCER, &q);
  if (rc != CLI_OK)
    return rc;
  ferry_queue_stats s;
  if ((rc = ferry_queue_stats_get(q, &s)) != 0) {
    ferry_queue_close(q);
    return cli_object_error(verb, rc, name, "queue");
  }
  size_t max = (size_t)s.max_msg_size;
  if (nmsgs)
    rc = put_args(q, name, msgs, nmsgs, max, timeout);
  else if (raw)
    rc = put_raw(q, name, max, timeout);
  else
    rc = put_lines(q, name, max, timeout);
  ferry_queue_close(q);
  return rc;
}

/* ---- get ------------------------------------------------------------------------ */

/*
 * Takes one message into buf within timeout (per message), sleeping in
 * polls while the library reports an end that is not a shutdown
 * [cli-queue-eos]. Returns its length, -EPIPE (shut down and drained),
 * -ETIMEDOUT, or another error.
 */
static ssize_t get_one(ferry_queue *q, char *buf, size_t cap, int64_t timeout)
{
  ssize_t n = ferry_queue_get(q, buf, cap, 0);
  if (n != -EAGAIN && n != -EPIPE)
    return n;
  /* About to wait: whoever reads our output gets what we have so far. */
  fflush(stdout);
  int64_t deadline = timeout == FERRY_FOREVER ? INT64_MAX : cli_now_ns() + timeout;
  for (;;) {
    if (n == -EPIPE) {
      ferry_queue_stats s;
      int rc = ferry_queue_stats_get(q, &s);
      if (rc)
        return rc;
      if (s.shutdown)
        return -EPIPE;
      /* No producer attached: none can wake us, so look again soon. */
      int64_t left = deadline - cli_now_ns();
      if (left <= 0)
        return -ETIMEDOUT;
      int64_t nap = left < POLL_NS ? left : POLL_NS;
      struct timespec ts = {(time_t)(nap / FERRY_SEC), (long)(nap % FERRY_SEC)};
      nanosleep(&ts, NULL);
    }
    int64_t left = deadline == INT64_MAX ? FERRY_FOREVER : deadline - cli_now_ns();
    if (left != FERRY_FOREVER && left <= 0)
      return -ETIMEDOUT;
    n = ferry_queue_get(q, buf, cap, left);
    if (n == -EAGAIN)
      return -ETIMEDOUT;
    if (n != -EPIPE)
      return n;
  }
}

static int queue_get(int argc, char **argv)
{
  const char *verb = "queue get";
  bool raw = false, json = false;
  int64_t timeout = FERRY_FOREVER;
  uint64_t count = 1;
  cli_opt opts[] = {CLI_FLAG("--raw", &raw), CLI_JSON(&json), CLI_TIMEOUT(&timeout),
                    CLI_COUNT(&count)};
  const cli_spec spec = {verb, cli_help_queue, opts, 4, queue_args, 1, 1, CLI_ARG_OBJECT};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  const char *name = argv[1];
  if (raw && json)
    return cli_usage_error(verb, "--raw and --json exclude each other");
  int rc;
  ferry_queue *q;
  if ((rc = open_queue(verb, name, FERRY_ROLE_CONSUMER, &q)) != CLI_OK)
    return rc;
  ferry_queue_stats s;
  if ((rc = ferry_queue_stats_get(q, &s)) != 0) {
    ferry_queue_close(q);
    return cli_object_error(verb, rc, name, "queue");
  }
  size_t cap = (size_t)s.max_msg_size;
  char *buf = malloc(cap ? cap : 1);
  if (!buf) {
    ferry_queue_close(q);
    cli_error(verb, -ENOMEM, "%s", name);
    return CLI_FAIL;
  }
  int status = CLI_OK;
  cli_json j;
  if (json) {
    cli_json_init(&j, stdout);
    cli_json_array(&j, false);
  }
  for (uint64_t got = 0; count == 0 || got < count; got++) {
    ssize_t n = get_one(q, buf, cap, timeout);
    if (n == -EPIPE) {
      /* -n 0 asked for everything up to the end: reaching it is success. */
      status = count == 0 ? CLI_OK : CLI_ENDED;
      break;
    }
    if (n == -ETIMEDOUT) {
      if (got == 0)
        cli_error(verb, -ETIMEDOUT, "%s: nothing arrived", name);
      else if (count == 0)
        cli_error(verb, -ETIMEDOUT, "%s: no end of stream after %" PRIu64 " messages", name, got);
      else
        cli_error(verb, -ETIMEDOUT, "%s: %" PRIu64 " of %" PRIu64 " messages arrived", name, got, count);
      status = CLI_TIMEDOUT;
      break;
    }
    if (n < 0) {
      status = cli_object_error(verb, (int)n, name, "queue");
      break;
    }
    if (json) {
      cli_json_object(&j);
      cli_json_bytes(&j, "data", buf, (size_t)n);
      cli_json_end(&j);
    } else {
      fwrite(buf, 1, (size_t)n, stdout);
      if (!raw)
        putchar('\n');
    }
    if (ferror(stdout))
      break; /* cli_main() reports it */
  }
  if (json) {
    cli_json_end(&j);
    cli_json_finish(&j);
  }
  free(buf);
  ferry_queue_close(q);
  return status;
}

/* ---- shutdown ---------------------------------------------------------------------- */

static int queue_shutdown(int argc, char **argv)
{
  const char *verb = "queue shutdown";
  const cli_spec spec = {verb, cli_help_queue, NULL, 0, queue_args, 1, 1, CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  ferry_queue *q;
  int rc = open_queue(verb, name, FERRY_ROLE_CONSUMER, &q);
  if (rc != CLI_OK)
    return rc;
  rc = ferry_queue_shutdown(q);
  ferry_queue_close(q);
  if (rc)
    return cli_object_error(verb, rc, name, "queue");
  return CLI_OK;
}

const cli_command cmd_queue_subs[CMD_QUEUE_NSUBS] = {
    {.name = "create", .run = queue_create, .help = cli_help_queue},
    {.name = "put", .run = queue_put, .help = cli_help_queue},
    {.name = "get", .run = queue_get, .help = cli_help_queue},
    {.name = "shutdown", .run = queue_shutdown, .help = cli_help_queue},
};
