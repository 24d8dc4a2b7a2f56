/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c: `ferry demo dispatch`, the dispatcher scenario end to
 * end. A producer process emits items (arrays of floats) at its own pace
 * into a ferry queue; the main process takes them as they come and hands
 * each to a deliberately slow analysis worker of a pool (one worker by
 * default), which gets an item only when it is idle while the pool buffers
 * the rest; results are printed in hand-over order with the buffer depth
 * at that moment. Ctrl-C stops it gracefully (the first drains what was
 * handed over, a second cancels); either way the order and every result
 * are verified, and the exit status is 0 only if all checked out.
 *
 * The producer is a forked process that opens the queue by name (a handle
 * belongs to the process that opened it); the pool is created before the
 * fork, and its workers are copies of this program taken at create.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"

#define VERB "demo dispatch"
#define ITEM_FLOATS 256
#define ITEMS_MAX 1000000
#define WORKERS_MAX 64
#define MS_MAX 10000

const char cli_help_demo_dispatch[] =
    "usage: ferry demo dispatch [--items N] [--workers N] [--produce-ms MS]\n"
    "                           [--work-ms MS] [--json]\n"
    "\n"
    "A producer process emits --items items (default 40), one every\n"
    "--produce-ms (default 20), into a queue. The main process hands each item\n"
    "to a pool of --workers analysis workers (default 1) that take --work-ms\n"
    "(default 50) per item: deliberately slower than the producer, so a worker\n"
    "gets an item only when it is idle and the pool buffers the rest. Results\n"
    "are printed in hand-over order, with the number of items waiting in the\n"
    "buffer at that moment. Ctrl-C stops gracefully: the first lets the items\n"
    "already handed over finish, a second cancels them. The order and every\n"
    "result are verified; exit status 0 if all checked out, 1 otherwise.\n"
    "\n"
    "Options:\n"
    "  --items N        items the producer emits, 1 to 1000000 (default 40)\n"
    "  --workers N      analysis workers, 1 to 64 (default 1)\n"
    "  --produce-ms MS  the producer's pause between items, 0 to 10000\n"
    "                   (default 20)\n"
    "  --work-ms MS     each analysis's duration, 0 to 10000 (default 50)\n"
    "  --json           print one JSON object: every result and the summary\n"
    "  -h, --help\n";

struct item {
  uint64_t seq;
  uint32_t n;
  uint32_t reserved;
  float v[ITEM_FLOATS];
};

struct analysis {
  uint64_t seq;
  double mean;
  float max;
  int32_t pid;
};

static int work_ms = 50;

static void nap_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

static void fill(struct item *it, uint64_t seq)
{
  it->seq = seq;
  it->n = ITEM_FLOATS;
  it->reserved = 0;
  uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < ITEM_FLOATS; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    it->v[i] = (float)(x % 10000) / 100.0f;
  }
}

static void analyse(const struct item *it, struct analysis *a)
{
  double sum = 0;
  float max = it->v[0];
  for (uint32_t i = 0; i < it->n; i++) {
    sum += it->v[i];
    if (it->v[i] > max)
      max = it->v[i];
  }
  a->seq = it->seq;
  a->mean = sum / it->n;
  a->max = max;
}

/* The analysis worker: slow on purpose. */
static ssize_t analysis_fn(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  struct item it;
  struct analysis a;
  if (len != sizeof it || cap < sizeof a)
    return -EINVAL;
  memcpy(&it, task, sizeof it);
  if (it.n != ITEM_FLOATS)
    return -EINVAL;
  nap_ms(work_ms);
  analyse(&it, &a);
  a.pid = (int32_t)getpid();
  memcpy(out, &a, sizeof a);
  return sizeof a;
}

/* The producer process: its own pace, its own process. */
static int producer_main(const char *qname, uint64_t items, int pace_ms)
{
  signal(SIGINT, SIG_IGN); /* the main process decides what Ctrl-C means */
  ferry_queue *q;
  if (ferry_queue_open(qname, FERRY_ROLE_PRODUCER, NULL, &q))
    return 2;
  struct item it;
  int status = 0;
  for (uint64_t s = 0; s < items; s++) {
    fill(&it, s);
    int rc = ferry_queue_put(q, &it, sizeof it, 10 * FERRY_SEC);
    if (rc == -EPIPE)
      break; /* the main process stopped taking items */
    if (rc) {
      status = 3;
      break;
    }
    nap_ms(pace_ms);
  }
  ferry_queue_close(q); /* the end of the stream */
  return status;
}

/* Ends the stream (a producer still putting gets -EPIPE and stops) and
 * waits for the producer, at most 10 s before it is killed. True if it
 * exited cleanly. */
static bool stop_producer(ferry_queue *q, pid_t prod)
{
  ferry_queue_shutdown(q);
  int st = 0;
  for (int i = 0; i < 1000; i++) {
    if (waitpid(prod, &st, WNOHANG) == prod)
      return WIFEXITED(st) && WEXITSTATUS(st) == 0;
    nap_ms(10);
  }
  kill(prod, SIGKILL);
  waitpid(prod, &st, 0);
  return false;
}

/* Prints one result: a row of the table, or an element of "results". */
static void print_result(cli_json *j, uint64_t id, const char *what, const struct analysis *a,
                         uint32_t buffered, bool right)
{
  if (!j) {
    if (a)
      printf("%6" PRIu64 " %10.4f %8.2f %9" PRIu32 " %8" PRId32 "%s\n", id, a->mean,
             (double)a->max, buffered, a->pid, right ? "" : "  WRONG");
    else
      printf("%6" PRIu64 " %10s %8s %9" PRIu32 " %8s\n", id, what, "-", buffered, "-");
    fflush(stdout);
    return;
  }
  cli_json_object(j);
  cli_json_key(j, "item");
  cli_json_uint(j, id);
  cli_json_key(j, "outcome");
  cli_json_str(j, a ? (right ? "verified" : "wrong") : what);
  cli_json_key(j, "mean");
  if (a)
    cli_json_double(j, a->mean);
  else
    cli_json_null(j);
  cli_json_key(j, "max");
  if (a)
    cli_json_double(j, (double)a->max);
  else
    cli_json_null(j);
  cli_json_key(j, "buffered");
  cli_json_uint(j, buffered);
  cli_json_key(j, "worker");
  if (a)
    cli_json_int(j, a->pid);
  else
    cli_json_null(j);
  cli_json_end(j);
}

int demo_dispatch(int argc, char **argv)
{
  uint64_t items = 40, workers = 1, pace = 20, work = 50;
  bool json = false;
  cli_opt opts[] = {
      CLI_U64("--items", &items, 1, ITEMS_MAX),
      CLI_U64("--workers", &workers, 1, WORKERS_MAX),
      CLI_U64("--produce-ms", &pace, 0, MS_MAX),
      CLI_U64("--work-ms", &work, 0, MS_MAX),
      CLI_JSON(&json),
  };
  const cli_spec spec = {VERB, cli_help_demo_dispatch, opts, sizeof opts / sizeof opts[0],
                         NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  int rc;
  work_ms = (int)work; /* before the pool exists: its workers are copies */
  char qname[64];
  snprintf(qname, sizeof qname, "demo-dispatch-%d", (int)getpid());
  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.capacity = 1024;
  qo.max_msg_size = sizeof(struct item);
  qo.region.role = FERRY_ROLE_CONSUMER;
  ferry_queue *q;
  if ((rc = ferry_queue_create(qname, &qo, &q))) {
    cli_error(VERB, rc, "creating queue %s", qname);
    return CLI_FAIL;
  }
  /* The producer is forked before the pool exists: a child forked while
   * another thread (the pool's dispatcher) holds a lock, malloc's for one,
   * would inherit it held. */
  fflush(stdout);
  pid_t prod = fork();
  if (prod == 0)
    _exit(producer_main(qname, items, (int)pace));
  if (prod < 0) {
    cli_error(VERB, -errno, "starting the producer");
    ferry_queue_close(q);
    ferry_unlink(qname);
    return CLI_FAIL;
  }
  ferry_pool_options po;
  ferry_pool_options_init(&po);
  po.workers = (uint32_t)workers;
  po.fn = analysis_fn;
  po.flags = FERRY_POOL_ORDERED;
  po.queue_size = 4096;
  po.grace_ns = 500 * FERRY_MSEC;
  ferry_pool *p;
  char pname[64];
  snprintf(pname, sizeof pname, "demo-dispatch-%d.pool", (int)getpid());
  if ((rc = ferry_pool_create(pname, &po, &p))) {
    cli_error(VERB, rc, "starting the pool");
    stop_producer(q, prod);
    ferry_queue_close(q);
    ferry_unlink(qname);
    return CLI_FAIL;
  }
  ferry_pool_catch_signals(p, FERRY_FOREVER);
  cli_json jw, *j = NULL;
  if (json) {
    j = &jw;
    cli_json_init(j, stdout);
    cli_json_object(j);
    cli_json_key(j, "queue");
    cli_json_str(j, qname);
    cli_json_key(j, "pool");
    cli_json_str(j, pname);
    cli_json_key(j, "items");
    cli_json_uint(j, items);
    cli_json_key(j, "workers");
    cli_json_uint(j, workers);
    cli_json_key(j, "produce_ms");
    cli_json_uint(j, pace);
    cli_json_key(j, "work_ms");
    cli_json_uint(j, work);
    cli_json_key(j, "results");
    cli_json_array(j, false);
  } else {
    printf("dispatch: a producer process emits %" PRIu64 " items (one per %" PRIu64
           " ms) into queue %s;\n"
           "the pool %s hands each to one of %" PRIu64 " analysis worker%s (%" PRIu64
           " ms per item)\n"
           "only when it is idle, and buffers the rest. Results in hand-over order:\n\n",
           items, pace, qname, pname, workers, workers == 1 ? "" : "s", work);
    printf("%6s %10s %8s %9s %8s\n", "item", "mean", "max", "buffered", "worker");
  }
  uint64_t handed = 0, next_seq = 0, ok = 0, bad = 0, cancelled = 0, failed = 0;
  uint32_t peak = 0;
  bool input_done = false, held = false, stopped_by_signal = false;
  struct item it;
  int64_t t0 = cli_now_ns();
  for (;;) {
    /* take what the producer sent, as it comes */
    if (!input_done) {
      if (!held) {
        ssize_t n = ferry_queue_get(q, &it, sizeof it, 5 * FERRY_MSEC);
        if (n == -EPIPE) {
          input_done = true;
          ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
        } else if (n == (ssize_t)sizeof it)
          held = true;
        else if (n >= 0 || (n != -ETIMEDOUT && n != -EAGAIN)) {
          cli_error(VERB, n < 0 ? (int)n : FERRY_ECORRUPT, "taking an item from the producer");
          input_done = true;
          ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
        }
      }
      if (held) {
        rc = ferry_pool_submit(p, &it, sizeof it, NULL, 0, NULL);
        if (rc == 0) {
          held = false;
          handed++;
        } else if (rc == -EPIPE) { /* Ctrl-C: stop taking items */
          input_done = true;
          stopped_by_signal = true;
          ferry_queue_shutdown(q);
        } else if (rc != -EAGAIN) {
          cli_error(VERB, rc, "handing an item over");
          input_done = true;
          ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
        }
      }
    }
    ferry_pool_stats st;
    ferry_pool_stats_get(p, &st);
    if (st.queued > peak)
      peak = st.queued;
    if (st.signals && !input_done) {
      input_done = true;
      stopped_by_signal = true;
      ferry_queue_shutdown(q);
    }
    ferry_pool_result r;
    rc = ferry_pool_next(p, &r, input_done ? 100 * FERRY_MSEC : 0);
    if (rc == -EPIPE)
      break;
    if (rc)
      continue;
    bool in_order = r.id == next_seq;
    next_seq = r.id + 1;
    if (r.outcome == FERRY_POOL_CANCELLED) {
      cancelled++;
      bad += !in_order;
      print_result(j, r.id, "cancelled", NULL, st.queued, false);
      continue;
    }
    if (r.outcome != FERRY_POOL_DONE || r.len != sizeof(struct analysis)) {
      failed++;
      if (j)
        print_result(j, r.id, "failed", NULL, st.queued, false);
      else
        printf("%6" PRIu64 " failed: %s\n", r.id, r.message);
      continue;
    }
    struct analysis got, want;
    memcpy(&got, r.data, sizeof got);
    fill(&it, r.id);
    analyse(&it, &want);
    bool right = in_order && got.seq == r.id && fabs(got.mean - want.mean) < 1e-9 &&
                 got.max == want.max;
    ok += right;
    bad += !right;
    print_result(j, r.id, NULL, &got, st.queued, right);
  }
  double secs = (double)(cli_now_ns() - t0) / 1e9;
  bool prod_ok = stop_producer(q, prod);
  ferry_pool_close(p);
  ferry_queue_close(q);
  ferry_unlink(qname);
  bool verified = !bad && !failed && prod_ok && ok + cancelled == handed;
  if (j) {
    cli_json_end(j); /* results */
    static const char *const keys[] = {"handed", "verified_results", "cancelled", "failed",
                                       "wrong"};
    const uint64_t vals[] = {handed, ok, cancelled, failed, bad};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      cli_json_key(j, keys[i]);
      cli_json_uint(j, vals[i]);
    }
    cli_json_key(j, "peak_buffered");
    cli_json_uint(j, peak);
    cli_json_key(j, "seconds");
    cli_json_double(j, secs);
    cli_json_key(j, "stopped_by_signal");
    cli_json_bool(j, stopped_by_signal);
    cli_json_key(j, "verified");
    cli_json_bool(j, verified);
    cli_json_end(j);
    cli_json_finish(j);
  } else {
    printf("\n%s: %" PRIu64 " items handed over, %" PRIu64
           " analysed and verified in hand-over order; buffer peaked at %" PRIu32 "; %.2f s\n",
           stopped_by_signal ? "stopped by a signal" : "done", handed, ok, peak, secs);
    if (cancelled)
      printf("(%" PRIu64 " cancelled before their analysis finished)\n", cancelled);
  }
  if (!verified) {
    cli_error(VERB, FERRY_ECORRUPT,
              "dispatch check failed: %" PRIu64 " wrong, %" PRIu64 " failed, producer %s, %" PRIu64
              " of %" PRIu64 " accounted for",
              bad, failed, prod_ok ? "ok" : "failed", ok + cancelled, handed);
    return CLI_FAIL;
  }
  return CLI_OK;
}
