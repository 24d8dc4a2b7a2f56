/*
 * demo_dispatch.c: `ferry demo dispatch`, the dispatcher scenario end to
 * end. A producer process emits items (arrays of floats) at its own pace
 * into a ferry queue; the main process takes them as they come and hands
 * each to a deliberately slow analysis worker of a pool (one worker by
 * default), which gets an item only when it is idle while the pool buffers
 * the rest; results are printed in hand-over order with the buffer depth
 * at that moment. Ctrl-C stops it gracefully (the first drains what was
 * handed over, a second cancels); either way the order and every result
 * are verified, and the exit status is 0 only if all checked out.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define ITEM_FLOATS 256

const char cli_help_demo_dispatch[] =
    "usage: ferry demo dispatch [--items N] [--workers N] [--produce-ms MS]\n"
    "                           [--work-ms MS]\n"
    "\n"
    "A producer process emits --items items (default 40), one every\n"
    "--produce-ms (default 20), into a queue. The main process hands each item\n"
    "to a pool of --workers analysis workers (default 1) that take --work-ms\n"
    "(default 50) per item: deliberately slower than the producer, so a worker\n"
    "gets an item only when it is idle and the pool buffers the rest. Results\n"
    "are printed in hand-over order, with the number of items waiting in the\n"
    "buffer at that moment. Ctrl-C stops gracefully: the first lets the items\n"
    "already handed over finish, a second cancels them. The order and every\n"
    "result are verified; exit status 0 if all checked out.\n";

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

int ferry_tool_demo_dispatch(int argc, char **argv)
{
  cli_args a;
  cli_args_init(&a, "demo", argc, argv);
  uint64_t items = 40, workers = 1, pace = 20, work = 50;
  const char *v;
  int rc;
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return cli_print_help(cli_help_demo_dispatch);
    uint64_t *dst = NULL, max = 0;
    if ((rc = cli_args_value(&a, "--items", &v)))
      dst = &items, max = 1000000;
    else if ((rc = cli_args_value(&a, "--workers", &v)))
      dst = &workers, max = 64;
    else if ((rc = cli_args_value(&a, "--produce-ms", &v)))
      dst = &pace, max = 10000;
    else if ((rc = cli_args_value(&a, "--work-ms", &v)))
      dst = &work, max = 10000;
    else
      return cli_args_unknown(&a);
    if (rc < 0)
      return CLI_USAGE;
    if (!cli_parse_u64(v, dst == &workers || dst == &items ? 1 : 0, max, dst))
      return cli_usage_error("demo", "bad value '%s' for %.*s", v, (int)a.optlen, a.word);
  }
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
    cli_error("demo", rc, "creating queue %s", qname);
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
    cli_error("demo", rc, "starting the pool");
    ferry_queue_close(q);
    ferry_unlink(qname);
    return CLI_FAIL;
  }
  ferry_pool_catch_signals(p, FERRY_FOREVER);
  fflush(stdout);
  pid_t prod = fork();
  if (prod == 0)
    _exit(producer_main(qname, items, (int)pace));
  if (prod < 0) {
    cli_error("demo", -errno, "starting the producer");
    ferry_pool_close(p);
    ferry_queue_close(q);
    ferry_unlink(qname);
    return CLI_FAIL;
  }
  printf("dispatch: a producer process emits %llu items (one per %llu ms) into queue %s;\n"
         "the pool %s hands each to one of %llu analysis worker%s (%llu ms per item)\n"
         "only when it is idle, and buffers the rest. Results in hand-over order:\n\n",
         (unsigned long long)items, (unsigned long long)pace, qname, pname,
         (unsigned long long)workers, workers == 1 ? "" : "s", (unsigned long long)work);
  printf("%6s %10s %8s %9s %8s\n", "item", "mean", "max", "buffered", "worker");
  uint64_t handed = 0, next_seq = 0, ok = 0, bad = 0, cancelled = 0, failed = 0;
  uint32_t peak = 0;
  bool input_done = false, held = false, stopped_by_signal = false;
  struct item it;
  int64_t t0 = 0;
  {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
  }
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
          cli_error("demo", n < 0 ? (int)n : FERRY_ECORRUPT, "taking an item from the producer");
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
          cli_error("demo", rc, "handing an item over");
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
      printf("%6llu %10s %8s %9u %8s\n", (unsigned long long)r.id, "cancelled", "-", st.queued, "-");
      continue;
    }
    if (r.outcome != FERRY_POOL_DONE || r.len != sizeof(struct analysis)) {
      failed++;
      printf("%6llu failed: %s\n", (unsigned long long)r.id, r.message);
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
    printf("%6llu %10.4f %8.2f %9u %8d%s\n", (unsigned long long)r.id, got.mean, (double)got.max,
           st.queued, got.pid, right ? "" : "  WRONG");
    fflush(stdout);
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double secs = (double)((int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec - t0) / 1e9;
  ferry_queue_shutdown(q);
  int pst = 0;
  for (int i = 0; i < 1000; i++) { /* bounded: 10 s */
    if (waitpid(prod, &pst, WNOHANG) == prod)
      break;
    if (i == 999) {
      kill(prod, SIGKILL);
      waitpid(prod, &pst, 0);
    }
    nap_ms(10);
  }
  ferry_pool_close(p);
  ferry_queue_close(q);
  ferry_unlink(qname);
  bool prod_ok = WIFEXITED(pst) && WEXITSTATUS(pst) == 0;
  printf("\n%s: %llu items handed over, %llu analysed and verified in hand-over order; "
         "buffer peaked at %u; %.2f s\n",
         stopped_by_signal ? "stopped by a signal" : "done", (unsigned long long)handed,
         (unsigned long long)ok, peak, secs);
  if (cancelled)
    printf("(%llu cancelled before their analysis finished)\n", (unsigned long long)cancelled);
  if (bad || failed || !prod_ok || ok + cancelled != handed) {
    cli_error("demo", FERRY_ECORRUPT,
              "dispatch check failed: %llu wrong, %llu failed, producer %s, %llu of %llu accounted for",
              (unsigned long long)bad, (unsigned long long)failed, prod_ok ? "ok" : "failed",
              (unsigned long long)(ok + cancelled), (unsigned long long)handed);
    return CLI_FAIL;
  }
  return CLI_OK;
}
