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
#include "cmd_redis.h"

/* Exit statuses of put and get beyond cli.h's 0/1/2. */
enum {
  QUEUE_EXIT_ENDED = 3,    /* the stream ended (shut down) */
  QUEUE_EXIT_TIMEDOUT = 4, /* the timeout ran out */
};

/* How long put waits for room unless told (a full queue nobody drains
 * should not hang a script forever). */
#define PUT_TIMEOUT_DEFAULT_NS (10 * FERRY_SEC)
/* Poll period while no producer is attached [cli-queue-eos]. */
#define POLL_NS (10 * FERRY_MSEC)

const char cli_help_queue[] =
    "usage: ferry queue create NAME [--capacity N] [--max-msg N] [--mode OCTAL]\n"
    "       ferry queue put NAME [--raw] [--timeout S] [--] [MSG...]\n"
    "       ferry queue get NAME [-n N] [--raw] [--timeout S]\n"
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
    "          the lines before it. Waits for room up to --timeout (default\n"
    "          10 s; 'forever' waits forever, 0 tries once).\n"
    "get       take N messages (-n, default 1; 0 = until the end of the\n"
    "          stream) and print each on its own line, or with --raw as they\n"
    "          are, without separators. --timeout bounds the wait for each\n"
    "          message (default: forever).\n"
    "shutdown  end the stream: later puts fail; getters take what is left,\n"
    "          then see the end.\n"
    "\n"
    "End of stream: for get it is a shutdown only. A queue that merely has\n"
    "no producer attached (between two 'ferry queue put') is waited on.\n"
    "\n"
    "Exit status: 0 done (for get -n 0: the stream ended), 1 an operation\n"
    "failed (e.g. a message too long, a bad or missing queue), 2 bad command\n"
    "line, 3 the stream ended (get: before N messages; put: shut down),\n"
    "4 timed out (get: nothing arrived in time; put: no room in time).\n"
    "\n"
    "Example:\n"
    "  ferry queue create jobs\n"
    "  seq 3 | ferry queue put jobs\n"
    "  while job=$(ferry queue get jobs); do echo \"got $job\"; done &\n"
    "  ferry queue shutdown jobs\n";

/* ---- helpers ------------------------------------------------------------------ */

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
  if (v > 0777)
    return false;
  *mode = v;
  return true;
}

/* "forever" or seconds. */
static bool parse_timeout(const char *s, int64_t *ns)
{
  if (strcmp(s, "forever") == 0) {
    *ns = FERRY_FOREVER;
    return true;
  }
  return cli_parse_seconds(s, ns);
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

/* Common error reporting for an operation on queue `name`. */
static int open_queue(const char *verb, const char *name, uint32_t role, ferry_queue **q)
{
  int rc = ferry_queue_open(name, role, NULL, q);
  if (rc)
    return cli_object_error(verb, rc, name, "queue");
  return CLI_OK;
}

/* ---- create ------------------------------------------------------------------- */

static int queue_create(int argc, char **argv)
{
  const char *verb = "queue create", *name = NULL, *v;
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  /* The creator registers only as a consumer: a producer that came and
   * went would mean "every producer left", an ended stream for programs
   * that use the library's end of stream (queue.h). */
  o.region.role = FERRY_ROLE_CONSUMER;
  uint64_t n;
  int rc;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_queue);
    } else if ((rc = cli_args_value(&a, "--capacity", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(v, FERRY_QUEUE_MIN_CAPACITY, FERRY_QUEUE_MAX_CAPACITY, &n))
        return cli_usage_error(verb, "bad --capacity '%s' (want %u..%" PRIu32 ")", v,
                               (unsigned)FERRY_QUEUE_MIN_CAPACITY, FERRY_QUEUE_MAX_CAPACITY);
      o.capacity = (uint32_t)n;
    } else if ((rc = cli_args_value(&a, "--max-msg", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(v, 1, FERRY_QUEUE_MAX_MSG, &n))
        return cli_usage_error(verb, "bad --max-msg '%s' (want 1..%" PRIu32 " bytes)", v,
                               FERRY_QUEUE_MAX_MSG);
      o.max_msg_size = (uint32_t)n;
    } else if ((rc = cli_args_value(&a, "--mode", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!parse_mode(v, &o.region.mode))
        return cli_usage_error(verb, "bad --mode '%s' (want octal permission bits, e.g. 640)",
                               v);
    } else if (cli_args_positional(&a) && !name) {
      name = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (!name)
    return cli_usage_error(verb, "missing queue name (see 'ferry help queue')");
  if (cli_object_name_valid(name) != 0)
    return cli_usage_error(verb, "'%s': bad region name", name);
  ferry_queue *q;
  rc = ferry_queue_create(name, &o, &q);
  if (rc) {
    if (rc == -EOVERFLOW)
      cli_error(verb, rc, "%s: capacity x max message size is too large", name);
    else
      cli_error(verb, rc, "%s", name);
    return CLI_FAIL;
  }
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
    return QUEUE_EXIT_ENDED;
  }
  if (rc == -ETIMEDOUT || rc == -EAGAIN) {
    cli_error(verb, -ETIMEDOUT, "%s: no room%s", name, what);
    return QUEUE_EXIT_TIMEDOUT;
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
  const char *verb = "queue put", *name = NULL, *v;
  bool raw = false;
  int64_t timeout = PUT_TIMEOUT_DEFAULT_NS;
  char **msgs = calloc((size_t)argc, sizeof *msgs);
  if (!msgs) {
    cli_error(verb, -ENOMEM, "parsing arguments");
    return CLI_FAIL;
  }
  size_t nmsgs = 0;
  int rc;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      free(msgs);
      return cli_print_help(cli_help_queue);
    } else if (cli_args_flag(&a, "--raw")) {
      raw = true;
    } else if ((rc = cli_args_value(&a, "--timeout", &v)) != 0) {
      if (rc < 0 || !parse_timeout(v, &timeout)) {
        free(msgs);
        return rc < 0 ? CLI_USAGE
                      : cli_usage_error(verb, "bad --timeout '%s' (want seconds or 'forever')", v);
      }
    } else if (cli_args_positional(&a)) {
      if (!name)
        name = a.word;
      else
        msgs[nmsgs++] = (char *)a.word;
    } else {
      free(msgs);
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a)) {
    free(msgs);
    return CLI_USAGE;
  }
  if (!name) {
    free(msgs);
    return cli_usage_error(verb, "missing queue name (see 'ferry help queue')");
  }
  if (cli_object_name_valid(name) != 0) {
    free(msgs);
    return cli_usage_error(verb, "'%s': bad region name", name);
  }
  if (raw && nmsgs) {
    free(msgs);
    return cli_usage_error(verb, "--raw reads stdin: give no MSG");
  }
  ferry_queue *q;
  if ((rc = open_queue(verb, name, FERRY_ROLE_PRODUCER, &q)) != CLI_OK) {
    free(msgs);
    return rc;
  }
  ferry_queue_stats s;
  ferry_queue_stats_get(q, &s);
  size_t max = (size_t)s.max_msg_size;
  if (nmsgs)
    rc = put_args(q, name, msgs, nmsgs, max, timeout);
  else if (raw)
    rc = put_raw(q, name, max, timeout);
  else
    rc = put_lines(q, name, max, timeout);
  ferry_queue_close(q);
  free(msgs);
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
  int64_t deadline = timeout == FERRY_FOREVER ? INT64_MAX : now_ns() + timeout;
  for (;;) {
    if (n == -EPIPE) {
      ferry_queue_stats s;
      ferry_queue_stats_get(q, &s);
      if (s.shutdown)
        return -EPIPE;
      /* No producer attached: none can wake us, so look again soon. */
      int64_t left = deadline - now_ns();
      if (left <= 0)
        return -ETIMEDOUT;
      int64_t nap = left < POLL_NS ? left : POLL_NS;
      struct timespec ts = {(time_t)(nap / FERRY_SEC), (long)(nap % FERRY_SEC)};
      nanosleep(&ts, NULL);
    }
    int64_t left = deadline == INT64_MAX ? FERRY_FOREVER : deadline - now_ns();
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
  const char *verb = "queue get", *name = NULL, *v;
  bool raw = false;
  int64_t timeout = FERRY_FOREVER;
  uint64_t count = 1;
  int rc;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      return cli_print_help(cli_help_queue);
    } else if (cli_args_flag(&a, "--raw")) {
      raw = true;
    } else if ((rc = cli_args_value(&a, "--timeout", &v)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!parse_timeout(v, &timeout))
        return cli_usage_error(verb, "bad --timeout '%s' (want seconds or 'forever')", v);
    } else if (strcmp(a.word, "-n") == 0 && !a.options_done) {
      if (a.next >= a.argc)
        return cli_usage_error(verb, "-n needs a value");
      v = a.argv[a.next++];
      if (!cli_parse_u64(v, 0, UINT64_MAX, &count))
        return cli_usage_error(verb, "bad -n '%s' (want a count; 0 = until the end)", v);
    } else if (cli_args_positional(&a) && !name) {
      name = a.word;
    } else {
      return cli_args_unknown(&a);
    }
  }
  if (cli_args_failed(&a))
    return CLI_USAGE;
  if (!name)
    return cli_usage_error(verb, "missing queue name (see 'ferry help queue')");
  if (cli_object_name_valid(name) != 0)
    return cli_usage_error(verb, "'%s': bad region name", name);
  ferry_queue *q;
  if ((rc = open_queue(verb, name, FERRY_ROLE_CONSUMER, &q)) != CLI_OK)
    return rc;
  ferry_queue_stats s;
  ferry_queue_stats_get(q, &s);
  size_t cap = (size_t)s.max_msg_size;
  char *buf = malloc(cap ? cap : 1);
  if (!buf) {
    ferry_queue_close(q);
    cli_error(verb, -ENOMEM, "%s", name);
    return CLI_FAIL;
  }
  int status = CLI_OK;
  for (uint64_t got = 0; count == 0 || got < count; got++) {
    ssize_t n = get_one(q, buf, cap, timeout);
    if (n == -EPIPE) {
      /* -n 0 asked for everything up to the end: reaching it is success. */
      status = count == 0 ? CLI_OK : QUEUE_EXIT_ENDED;
      break;
    }
    if (n == -ETIMEDOUT) {
      status = QUEUE_EXIT_TIMEDOUT;
      break;
    }
    if (n < 0) {
      cli_error(verb, (int)n, "%s", name);
      status = CLI_FAIL;
      break;
    }
    fwrite(buf, 1, (size_t)n, stdout);
    if (!raw)
      putchar('\n');
    if (ferror(stdout))
      break; /* main() reports it */
  }
  free(buf);
  ferry_queue_close(q);
  return status;
}

/* ---- shutdown ---------------------------------------------------------------------- */

static int queue_shutdown(int argc, char **argv)
{
  const char *verb = "queue shutdown", *name = NULL;
  cli_args a;
  cli_args_init(&a, verb, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return cli_print_help(cli_help_queue);
    else if (cli_args_positional(&a) && !name)
      name = a.word;
    else
      return cli_args_unknown(&a);
  }
  if (!name)
    return cli_usage_error(verb, "missing queue name (see 'ferry help queue')");
  if (cli_object_name_valid(name) != 0)
    return cli_usage_error(verb, "'%s': bad region name", name);
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

int cmd_queue(int argc, char **argv)
{
  static const cli_sub subs[] = {
      {"create", queue_create},
      {"put", queue_put},
      {"get", queue_get},
      {"shutdown", queue_shutdown},
  };
  return cli_dispatch("queue", cli_help_queue, subs, sizeof subs / sizeof subs[0], argc, argv);
}
