/* SPDX-License-Identifier: MIT */
/*
 * cmd_pool.c: `ferry pool`, the process pool for the shell, in the manner
 * of GNU parallel and `xargs -P`, but with persistent workers: by default
 * CMD is started N times and each copy reads tasks (lines of ferry's
 * stdin) on its stdin and answers one line per task on its stdout
 * (ferry/pool.h, FERRY_POOL_EXEC). --per-task runs CMD once per line
 * instead, with the line as one more argument.
 *
 * One thread does everything: it reads stdin only while the pool has room
 * (backpressure all the way to the producer), takes the results, prints
 * them (in input order with --keep-order), writes the joblog and draws the
 * progress line.
 *
 * Exit status as GNU parallel's, the one exception to the statuses every
 * other verb shares (cli.h), because scripts written for parallel read it
 * so: the number of failed tasks, 101 for more than 100, 130 when a signal
 * stopped the run before the input ended, 255 for anything else (a bad
 * command line included: 2 would read as "two tasks failed").
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "verbs.h"

/* ferry pool's own exit statuses (GNU parallel's); below EXIT_MANY, the
 * number of failed tasks. */
#define EXIT_MANY 101        /* more than 100 tasks failed */
#define EXIT_INTERRUPTED 130 /* a signal stopped the run before the input ended */
#define EXIT_OTHER 255       /* a bad command line, or the pool could not run */
#define RETRIES_MAX 1000

const char cli_help_pool[] =
    "usage: ferry pool [-j N] [-k] [--retries N] [--timeout S] [--joblog FILE]\n"
    "                  [--per-task] [--name NAME] [--] CMD [ARGS...]\n"
    "\n"
    "Run tasks, one per line of standard input, on N workers. By default CMD is\n"
    "started N times and kept running: each copy reads tasks on its standard\n"
    "input, one line each, and must answer each with one line on its standard\n"
    "output (flushed: e.g. 'python3 -u', 'stdbuf -oL', 'sed -u'). A task goes\n"
    "only to an idle worker; results are printed as they come, or in input\n"
    "order with --keep-order. A worker that dies is replaced and its task is\n"
    "run again elsewhere, up to --retries times. Workers' stderr is passed on,\n"
    "each line tagged with the worker's slot and pid.\n"
    "\n"
    "Options:\n"
    "  -j, --jobs N     workers (default: the number of CPUs)\n"
    "  -k, --keep-order print results in input order\n"
    "  --retries N      runs again after a worker died (default 0; with\n"
    "                   --per-task, also after a non-zero exit)\n"
    "  --timeout S      a task running longer is killed (SIGTERM, then SIGKILL\n"
    "                   after 1 s) and counts as failed (default: forever)\n"
    "  --joblog FILE    write GNU parallel's joblog: one tab-separated line per\n"
    "                   task (Seq Host Starttime JobRuntime Send Receive Exitval\n"
    "                   Signal Command)\n"
    "  --per-task       run CMD once per task, with the task as its last\n"
    "                   argument; its whole output is the result\n"
    "  --name NAME      name of the pool's statistics region (see 'ferry info';\n"
    "                   default pool-PID-0)\n"
    "  -h, --help\n"
    "Options end at CMD: its own options follow it as they are.\n"
    "\n"
    "A progress line is drawn on stderr when it is a terminal. The first\n"
    "Ctrl-C (SIGINT or SIGTERM) stops reading input and lets the tasks already\n"
    "read (at most twice N beyond the running ones) finish; the second cancels\n"
    "them.\n"
    "\n"
    "Exit status, as GNU parallel's (unlike the other ferry commands): the\n"
    "number of failed tasks (0 if none; 101: more than 100), 130 if a signal\n"
    "stopped the run before the input ended, 255 for a bad command line or\n"
    "any other error.\n";

/* Input: bytes read from stdin, split into lines, submitted as the pool
 * has room. Reading stops while a line waits for room (backpressure). */
struct input {
  char *d;
  size_t len, cap, off;
  bool eof, stopped;
  uint64_t submitted;
  int err;
};

/* Submits the complete lines buffered (and, at EOF, the last partial
 * one). Returns false if a line must wait for room. */
static bool submit_lines(ferry_pool *p, struct input *in)
{
  while (in->off < in->len) {
    char *s = in->d + in->off;
    char *nl = memchr(s, '\n', in->len - in->off);
    if (!nl && !in->eof)
      break;
    size_t n = nl ? (size_t)(nl - s) : in->len - in->off;
    char *copy = strndup(s, n);
    if (!copy) {
      in->err = -ENOMEM;
      return false;
    }
    int rc = ferry_pool_submit(p, s, n, copy, 0, NULL);
    if (rc) {
      free(copy);
      if (rc == -EAGAIN)
        return false;
      if (rc == -EPIPE)
        in->stopped = true; /* a signal stopped the input */
      else
        in->err = rc;
      return false;
    }
    in->submitted++;
    in->off += n + (nl ? 1 : 0);
  }
  if (in->off == in->len)
    in->off = in->len = 0;
  return true;
}

/* Reads what stdin has, waiting up to ms for it. */
static void read_input(struct input *in, int ms)
{
  struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
  if (poll(&pf, 1, ms) <= 0)
    return;
  if (in->off) {
    memmove(in->d, in->d + in->off, in->len - in->off);
    in->len -= in->off;
    in->off = 0;
  }
  if (in->cap - in->len < 65536) {
    size_t cap = in->cap ? in->cap * 2 : 1 << 17;
    char *d = realloc(in->d, cap);
    if (!d) {
      in->err = -ENOMEM;
      return;
    }
    in->d = d;
    in->cap = cap;
  }
  ssize_t n = read(STDIN_FILENO, in->d + in->len, in->cap - in->len);
  if (n > 0)
    in->len += (size_t)n;
  else if (n == 0)
    in->eof = true;
  else if (errno != EINTR && errno != EAGAIN)
    in->err = -errno;
}

static void write_shell_word(FILE *f, const char *s)
{
  bool plain = *s != '\0';
  for (const char *c = s; *c && plain; c++)
    plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+%@",
                   *c) != NULL;
  if (plain) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (const char *c = s; *c; c++) {
    if (*c == '\'')
      fputs("'\\''", f);
    else if (*c == '\n' || *c == '\t')
      fputc(' ', f);
    else
      fputc(*c, f);
  }
  fputc('\'', f);
}

static void joblog_line(FILE *f, const ferry_pool_result *r, char **cmd, const char *task,
                        bool per_task)
{
  int exitval = r->outcome == FERRY_POOL_DONE ? 0 : r->exit_code >= 0 ? r->exit_code : -1;
  if (r->outcome == FERRY_POOL_FAILED && exitval == 0)
    exitval = 1;
  int64_t start = r->start_ns ? r->start_ns : 0;
  fprintf(f, "%llu\t:\t%lld.%03lld\t%10.3f\t%zu\t%zu\t%d\t%d\t", (unsigned long long)r->id + 1,
          (long long)(start / FERRY_SEC), (long long)(start % FERRY_SEC / FERRY_MSEC),
          (double)r->elapsed_ns / 1e9, per_task ? 0 : strlen(task) + 1,
          r->len + (!per_task && r->outcome == FERRY_POOL_DONE ? 1 : 0), exitval, r->signal);
  for (size_t i = 0; cmd[i]; i++) {
    write_shell_word(f, cmd[i]);
    fputc(' ', f);
  }
  write_shell_word(f, task);
  fputc('\n', f);
}

struct progress {
  bool on;
  int64_t last;
  bool drawn;
};

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress_draw(struct progress *pg, ferry_pool *p, uint64_t read, bool input_done,
                          bool force)
{
  if (!pg->on)
    return;
  int64_t now = mono_ms();
  if (!force && now - pg->last < 100)
    return;
  pg->last = now;
  ferry_pool_stats s;
  ferry_pool_stats_get(p, &s);
  uint64_t ended = s.done + s.failed;
  char bar[32] = "";
  if (input_done && read) {
    int w = 20, fill = (int)(ended * (uint64_t)w / read);
    for (int i = 0; i < w; i++)
      bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[w] = '\0';
  }
  fprintf(stderr, "\r\033[K%s%s%s %llu/%llu%s done, %llu failed, %u running, %u queued",
          input_done ? "[" : "", bar, input_done ? "]" : "", (unsigned long long)ended,
          (unsigned long long)read, input_done ? "" : "+", (unsigned long long)s.failed,
          s.running, s.queued);
  pg->drawn = true;
}

static void progress_clear(struct progress *pg)
{
  if (pg->on && pg->drawn) {
    fprintf(stderr, "\r\033[K");
    pg->drawn = false;
  }
}

int cmd_pool(int argc, char **argv)
{
  uint32_t jobs = 0, retries = 0;
  int64_t timeout = FERRY_FOREVER;
  bool keep = false, per_task = false;
  const char *joblog = NULL, *name = NULL;
  cli_opt opts[] = {
      {.name = "--jobs", .letter = 'j', .type = CLI_OPT_U32, .out = &jobs, .min = 1,
       .max = FERRY_POOL_MAX_WORKERS},
      {.name = "--keep-order", .letter = 'k', .type = CLI_OPT_FLAG, .out = &keep},
      CLI_U32("--retries", &retries, 0, RETRIES_MAX),
      /* a limit per attempt: above 0, or forever (none) */
      {.name = "--timeout", .type = CLI_OPT_TIMEOUT, .out = &timeout, .dmin = 1e-9},
      CLI_STRING("--joblog", &joblog),
      CLI_FLAG("--per-task", &per_task),
      CLI_STRING("--name", &name),
  };
  static const char *const args[] = {"CMD, the command to run"};
  const cli_spec spec = {"pool", cli_help_pool, opts, sizeof opts / sizeof opts[0],
                         args, 1, CLI_ANY_NUMBER, CLI_ARG_COMMAND};
  size_t nargs;
  int rc = cli_parse(&spec, argc, argv, &nargs);
  if (rc == CLI_HELP_SHOWN)
    return CLI_OK;
  if (rc != CLI_OK)
    return EXIT_OTHER; /* not CLI_USAGE: 2 would read as "two tasks failed" */
  argv[1 + nargs] = NULL; /* the command's argv ends here */
  if (timeout == FERRY_FOREVER)
    timeout = 0; /* the pool's "no limit" */
  char **cmd = argv + 1;
  if (name && ferry_name_valid(name)) {
    cli_usage_error("pool", "'%s': bad region name", name);
    return EXIT_OTHER;
  }
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.kind = per_task ? FERRY_POOL_EXEC_EACH : FERRY_POOL_EXEC;
  o.argv = (const char *const *)cmd;
  o.workers = (uint32_t)jobs;
  o.retries = (uint32_t)retries;
  o.task_timeout_ns = timeout;
  o.flags = keep ? FERRY_POOL_ORDERED : 0;
  o.output_tag = "pool";
  o.max_msg = 1u << 20;
  /* read ahead only a little: a Ctrl-C drain then finishes soon */
  uint32_t j = o.workers ? o.workers : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
  o.queue_size = j < 2 ? 4 : 2 * j;
  ferry_pool *p;
  if ((rc = ferry_pool_create(name, &o, &p))) {
    cli_error("pool", rc, "starting the pool%s%s", name ? " " : "", name ? name : "");
    return EXIT_OTHER;
  }
  /* Only once the pool runs: a pool that cannot start leaves an old
   * joblog as it was. */
  FILE *log = NULL;
  if (joblog) {
    log = fopen(joblog, "we");
    if (!log) {
      cli_error("pool", -errno, "opening the joblog '%s'", joblog);
      ferry_pool_close(p);
      return EXIT_OTHER;
    }
    fprintf(log, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n");
    fflush(log);
  }
  ferry_pool_catch_signals(p, FERRY_FOREVER);
  struct input in = {0};
  struct progress pg = {.on = isatty(STDERR_FILENO) == 1};
  uint64_t failed = 0;
  int other = 0;
  bool input_done = false;
  for (;;) {
    ferry_pool_result r;
    rc = ferry_pool_next(p, &r, 0);
    if (rc == -EPIPE)
      break;
    if (rc == 0) {
      char *task = r.tag;
      progress_clear(&pg);
      if (r.outcome == FERRY_POOL_DONE || (per_task && r.outcome == FERRY_POOL_FAILED)) {
        if (r.len) /* an empty result may come without a buffer */
          fwrite(r.data, 1, r.len, stdout);
        if (!per_task)
          fputc('\n', stdout);
        fflush(stdout);
      }
      if (r.outcome != FERRY_POOL_DONE) {
        failed++;
        fprintf(stderr, "ferry: pool: task %llu (%.60s%s): %s: %s\n",
                (unsigned long long)r.id + 1, task ? task : "",
                task && strlen(task) > 60 ? "..." : "", ferry_pool_outcome_name(r.outcome),
                r.message);
      }
      if (log) {
        joblog_line(log, &r, cmd, task ? task : "", per_task);
        fflush(log);
      }
      free(task);
      progress_draw(&pg, p, in.submitted, input_done, false);
      continue;
    }
    if (rc != -EAGAIN) {
      other = rc;
      break;
    }
    if (!input_done) {
      if (submit_lines(p, &in))
        read_input(&in, 10);
      else if (!in.stopped && !in.err)
        ferry_pool_wait(p, FERRY_POOL_CAN_SUBMIT | FERRY_POOL_HAS_RESULT, 10 * FERRY_MSEC);
      if (in.eof && !in.err && !in.stopped)
        submit_lines(p, &in);
      if ((in.eof && in.off == in.len) || in.stopped || in.err) {
        input_done = true;
        ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
      }
    } else {
      ferry_pool_wait(p, FERRY_POOL_HAS_RESULT, 100 * FERRY_MSEC);
    }
    progress_draw(&pg, p, in.submitted, input_done, false);
  }
  progress_clear(&pg);
  ferry_pool_stats s;
  ferry_pool_stats_get(p, &s);
  bool interrupted = s.signals > 0 && !in.eof;
  if (in.err)
    cli_error("pool", in.err, "reading the input");
  if (other)
    cli_error("pool", other, "taking results");
  ferry_pool_close(p);
  free(in.d);
  if (log && fclose(log)) {
    cli_error("pool", -errno, "writing the joblog '%s'", joblog);
    other = -EIO;
  }
  if (other || in.err)
    return EXIT_OTHER;
  if (interrupted)
    return EXIT_INTERRUPTED;
  return failed > 100 ? EXIT_MANY : (int)failed;
}
