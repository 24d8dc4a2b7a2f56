/* SPDX-License-Identifier: MIT */
/*
 * bus.c: `ferry demo` (also `ferry demo bus`): large arrays handed from one
 * producer to N analysis processes, done with ferry's broadcast bus. One
 * producer publishes batches of large float32 arrays on a LOCKSTEP bus; N
 * consumer processes subscribe by name, read every batch in place and
 * compute mean, std and max of each array; the producer checks every
 * answer.
 *
 * What it shows, against the usual Python design (shared arrays, hand-made
 * offsets, Event/Condition choreography):
 *   - no hand-computed offsets: consumers subscribe to the bus BY NAME and
 *     learn names, dtypes and shapes from its frames;
 *   - no hand-made lock step: the bus's K = 4 slots let the producer fill
 *     batch b + 1 .. b + 3 while batch b is being read, and hold it back
 *     only when a consumer is K batches behind;
 *   - every wait is bounded: a consumer that dies or hangs fails the demo
 *     within --timeout instead of deadlocking it;
 *   - nothing leaks: both regions are created unlink-on-last-close, and if
 *     the demo itself is SIGKILLed its consumers die with it
 *     (PR_SET_PDEATHSIG) and 'ferry gc' removes the orphaned regions.
 *
 * Results travel back through a small RAW region (demo-PID-ctl): one
 * mailbox per consumer with one row per bus slot, so a row is rewritten
 * only K batches later, after the producer has checked it. A consumer
 * writes row b % K, stores its batch number last (seq_cst), then releases
 * the frame; the producer checks batch b once the loan of batch b + K
 * returns (which implies every live consumer released b) or, at the end,
 * after the bus is shut down. The producer's own answer comes from the
 * data pattern itself (stats.h: exact, computed without reading the
 * arrays), so it also checks the consumers' kernel: a torn or stale read,
 * a wrong offset, a lost batch or a kernel bug shows up as a mismatch.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "stats.h"

const char cli_help_demo[] =
    "usage: ferry demo [bus] [--consumers N] [--batches N] [--shape RxC,...]\n"
    "                  [--timeout S] [--quiet | --json]\n"
    "       ferry demo heap [options]   (see 'ferry help demo heap')\n"
    "\n"
    "One producer hands batches of large float32 arrays to N analysis\n"
    "processes on ferry's broadcast bus: it writes each batch straight into a\n"
    "loaned slot of a LOCKSTEP bus (demo-PID); the consumers subscribe to the\n"
    "bus by name, read every batch in place, compute mean, std and max of\n"
    "every array and send the results back through a small region\n"
    "(demo-PID-ctl). With 4 bus slots the producer fills the next batches\n"
    "while the consumers read.\n"
    "\n"
    "Every batch is new data (a cheap pattern that changes with the batch and\n"
    "the array). The producer knows each array's statistics exactly and checks\n"
    "every consumer's every result (max exactly, mean and std to a relative\n"
    "1e-4), then prints a line per consumer and the throughput: batches/s, and\n"
    "GB/s read by the consumers (each reads every byte of every batch; 1 GB =\n"
    "1e9 bytes). On a terminal a progress bar runs on stderr. The exit status\n"
    "is 0 only if every result was verified. A consumer that dies or hangs\n"
    "fails the demo within the timeout; the others are killed. Both regions\n"
    "disappear when the demo ends; if the demo is SIGKILLed, its consumers die\n"
    "with it and 'ferry gc' removes the regions.\n"
    "\n"
    "Options:\n"
    "  --consumers N   consumer processes, 1 to 64 (default: the number of\n"
    "                  online CPUs, at least 2)\n"
    "  --batches N     batches to publish (default 200)\n"
    "  --shape LIST    the arrays' shapes, comma-separated, each with 1 to 8\n"
    "                  dimensions joined by 'x', at most 16 arrays (default\n"
    "                  1000x1000,1000x1500,1000x2000: 18 MB per batch)\n"
    "  --timeout S     seconds any one wait (for a slot, a result or a\n"
    "                  consumer) may take before the demo gives up (default 10)\n"
    "  --quiet         print nothing unless something fails\n"
    "  --json          print the outcome as one JSON object\n"
    "  --inject FAULT  testing aid: consumer 1 misbehaves in batch 2 (or 1):\n"
    "                  die (SIGKILLs itself), wrong (reports a wrong max) or\n"
    "                  hang (stops answering)\n"
    "  -h, --help\n";

#define VERB "demo"
#define DEMO_MAX_ARRAYS 16
#define DEMO_MAX_CONSUMERS FERRY_BUS_SUBSCRIBERS_MAX
#define DEMO_SLOTS FERRY_BUS_SLOTS_DEFAULT
#define DEMO_DEFAULT_BATCHES 200
#define DEMO_DEFAULT_SHAPES "1000x1000,1000x1500,1000x2000"
#define DEMO_DEFAULT_TIMEOUT_NS (10 * FERRY_SEC)
/* Every wait is sliced so failures and signals are noticed this fast. */
#define DEMO_SLICE_NS (50 * FERRY_MSEC)
/* The producer's poll period while it waits for a result row. */
#define DEMO_POLL_NS (FERRY_MSEC / 5)
/* How long consumers get to exit after the end of the stream. */
#define DEMO_EXIT_GRACE_NS (2 * FERRY_SEC)
/* Tolerance of mean and std: the kernel sums in float blocks. */
#define DEMO_REL_TOL 1e-4
#define DEMO_ABS_TOL 1e-9
/* A row or mailbox that holds no batch yet. */
#define DEMO_NO_BATCH (-1)
#define PROGRESS_WIDTH 30
#define PROGRESS_PERIOD_NS (100 * FERRY_MSEC)
#define MESSAGE_CAP 320

/* ---- the control region (RAW), shared by producer and consumers -------------- */

/* One consumer's results for one batch. The consumer writes the numbers,
 * then stores `batch` (seq_cst, a release), then releases the frame; the
 * producer loads `batch` (seq_cst, an acquire) before the numbers. */
struct demo_row {
  ferry_counter batch; /* the batch the numbers are for, or DEMO_NO_BATCH */
  int32_t narrays;
  int32_t pad;
  double mean[DEMO_MAX_ARRAYS];
  double std[DEMO_MAX_ARRAYS];
  float max[DEMO_MAX_ARRAYS];
};

/* One consumer's mailbox: written only by that consumer, so on its own
 * cache lines. */
struct demo_box {
  _Alignas(64) ferry_counter taken; /* the batch it took last */
  ferry_counter error;              /* 0, or why it gave up (set last) */
  char message[MESSAGE_CAP];        /* its account of error */
  struct demo_row row[DEMO_SLOTS];  /* row b % DEMO_SLOTS: batch b */
};

struct demo_ctl {
  uint32_t consumers;
  uint32_t slots;
  struct demo_box box[];
};

enum fault { FAULT_NONE, FAULT_DIE, FAULT_WRONG, FAULT_HANG };

struct demo_cfg {
  uint32_t consumers;
  uint64_t batches;
  int64_t timeout_ns;
  bool quiet, json;
  enum fault fault;
  size_t narrays;
  ferry_array_spec spec[DEMO_MAX_ARRAYS];
  char array_names[DEMO_MAX_ARRAYS][FERRY_ARRAY_NAME_MAX + 1];
  char name[FERRY_NAME_MAX + 1];     /* the bus */
  char ctl_name[FERRY_NAME_MAX + 1]; /* the control region */
  pid_t parent;
};

/* The batch in which --inject strikes. */
static uint64_t fault_batch(const struct demo_cfg *c) { return c->batches > 2 ? 2 : c->batches - 1; }

static bool close_enough(double got, double want, double *rel)
{
  double diff = fabs(got - want);
  double r = want != 0 ? diff / fabs(want) : diff;
  if (r > *rel)
    *rel = r;
  return diff <= DEMO_REL_TOL * fabs(want) || diff <= DEMO_ABS_TOL;
}

/* ---- consumer ---------------------------------------------------------------------- */

/* Reports a failure through the mailbox, where the producer reads it once
 * it has reaped this process. */
static void consumer_fail(struct demo_box *box, int err, const char *what)
{
  snprintf(box->message, sizeof box->message, "%s", what);
  /* seq_cst: the message before the code; pairs with the producer's load
   * of error after waitpid() (which orders everything anyway). */
  ferry_counter_store(&box->error, err ? err : -EINVAL);
}

/* Checks that a frame holds what the demo publishes: 1..16 non-empty f32
 * arrays. Everything about the arrays comes from the bus, nothing from cfg. */
static int check_frame(const ferry_frame *f, char *what, size_t cap)
{
  size_t n = ferry_frame_count(f);
  if (n == 0 || n > DEMO_MAX_ARRAYS) {
    snprintf(what, cap, "the frames hold %zu arrays, not 1 to %d", n, DEMO_MAX_ARRAYS);
    return -EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    ferry_array v;
    int rc = ferry_frame_array_at(f, i, &v);
    if (rc == 0 && (v.dtype != FERRY_DTYPE_F32 || v.count == 0))
      rc = -EINVAL;
    if (rc) {
      snprintf(what, cap, "array %zu is %s with %zu elements, not non-empty f32", i,
               ferry_dtype_name(v.dtype), v.count);
      return rc;
    }
  }
  return 0;
}

/* A consumer process, index k. Never returns. */
static void consumer_main(const struct demo_cfg *cfg, uint32_t k)
{
  /* Die with the producer: a SIGKILLed demo must leave only orphaned
   * regions, never a process. The getppid() check closes the race with a
   * producer that died before prctl(). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != cfg->parent)
    _exit(CLI_FAIL);
  /* Ctrl-C reaches the whole process group; the producer decides. */
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_DFL);

  /* The handles inherited from the producer are left alone: closing them
   * would deregister the producer. This process opens its own, by name. */
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.role = FERRY_ROLE_CONSUMER;
  ferry_region *r;
  int rc = ferry_region_open(cfg->ctl_name, FERRY_KIND_RAW, &o, &r);
  if (rc) {
    cli_error(VERB, rc, "consumer %u: opening %s", k + 1, cfg->ctl_name);
    _exit(CLI_FAIL);
  }
  struct demo_ctl *ctl = ferry_region_data(r);
  if (ferry_region_data_size(r) < sizeof *ctl || k >= ctl->consumers ||
      ctl->slots != DEMO_SLOTS ||
      ferry_region_data_size(r) < sizeof *ctl + (size_t)ctl->consumers * sizeof ctl->box[0]) {
    cli_error(VERB, FERRY_ECORRUPT, "consumer %u: %s", k + 1, cfg->ctl_name);
    _exit(CLI_FAIL);
  }
  struct demo_box *box = &ctl->box[k];
  char what[MESSAGE_CAP];

  ferry_sub *sub;
  o.role = FERRY_ROLE_SUBSCRIBER | FERRY_ROLE_CONSUMER;
  if ((rc = ferry_bus_subscribe(cfg->name, &o, &sub)) != 0) {
    snprintf(what, sizeof what, "subscribing to %s", cfg->name);
    consumer_fail(box, rc, what);
    _exit(CLI_FAIL);
  }

  uint64_t expect = 0;
  for (;;) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    rc = ferry_bus_next(sub, &f, &info, DEMO_SLICE_NS);
    if (rc == -ETIMEDOUT) {
      if (getppid() != cfg->parent)
        _exit(CLI_FAIL);
      continue;
    }
    if (rc == -EPIPE)
      break; /* shut down and drained: the producer has all it published */
    if (rc) {
      snprintf(what, sizeof what, "waiting for batch %" PRIu64, expect);
      consumer_fail(box, rc, what);
      _exit(CLI_FAIL);
    }
    uint64_t b = info.seq;
    ferry_counter_store(&box->taken, (int64_t)b);
    if (b != expect) {
      snprintf(what, sizeof what, "got batch %" PRIu64 " instead of %" PRIu64, b, expect);
      consumer_fail(box, -EPROTO, what);
      _exit(CLI_FAIL);
    }
    expect++;
    if (b == 0 && (rc = check_frame(f, what, sizeof what)) != 0) {
      consumer_fail(box, rc, what);
      _exit(CLI_FAIL);
    }
    bool strike = k == 0 && b == fault_batch(cfg);
    if (strike && cfg->fault == FAULT_DIE)
      raise(SIGKILL);
    if (strike && cfg->fault == FAULT_HANG)
      for (;;)
        pause();
    struct demo_row *row = &box->row[b % DEMO_SLOTS];
    size_t n = ferry_frame_count(f);
    for (size_t i = 0; i < n; i++) {
      ferry_array v;
      ferry_frame_array_at(f, i, &v);
      struct stats_f32 s;
      stats_f32(v.data, v.count, &s);
      row->mean[i] = s.mean;
      row->std[i] = s.std;
      row->max[i] = s.max;
    }
    if (strike && cfg->fault == FAULT_WRONG)
      row->max[0] += 1;
    row->narrays = (int32_t)n;
    /* seq_cst (a release): the numbers above before the batch number;
     * pairs with the load in the producer's wait_row(). */
    ferry_counter_store(&row->batch, (int64_t)b);
    ferry_bus_release(sub, f);
  }
  ferry_bus_unsubscribe(sub);
  ferry_region_close(r);
  _exit(CLI_OK);
}

/* ---- producer ---------------------------------------------------------------------- */

struct consumer {
  pid_t pid;    /* 0 once reaped */
  int status;   /* from waitpid, once reaped */
  double worst; /* largest relative error seen in mean and std */
  uint64_t verified;
};

struct demo {
  struct demo_cfg *cfg;
  ferry_bus *bus;
  ferry_region *ctl_region;
  struct demo_ctl *ctl;
  struct consumer *c;
  ferry_array view[DEMO_MAX_ARRAYS]; /* names and shapes (slot 0's frame) */
  struct stats_f32 expect[DEMO_SLOTS][DEMO_MAX_ARRAYS]; /* batch b: [b % K] */
  ferry_frame *first;   /* batch 0's frame, loaned by setup() */
  uint64_t frame_bytes; /* bytes of data in one batch, padding excluded */
  bool shut;            /* the bus is shut down: consumers may exit 0 */
  bool progress;
  int64_t drawn_ns; /* when the progress bar was last drawn */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) { interrupted = sig; }

/* Describes how a reaped consumer ended. */
static void exit_text(int status, char *buf, size_t cap)
{
  if (WIFSIGNALED(status))
    snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Reaps every consumer that ended; returns the index of one that ended
 * too early, or -1. After the shutdown, exiting 0 is ending on time. */
static int reap_any(struct demo *d)
{
  int found = -1;
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    struct consumer *c = &d->c[k];
    if (c->pid > 0 && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
      c->pid = 0;
      bool on_time = d->shut && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
      if (found < 0 && !on_time)
        found = (int)k;
    }
  }
  return found;
}

static void kill_all(struct demo *d)
{
  for (uint32_t k = 0; k < d->cfg->consumers; k++)
    if (d->c[k].pid > 0)
      kill(d->c[k].pid, SIGKILL);
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    if (d->c[k].pid > 0) {
      while (waitpid(d->c[k].pid, &d->c[k].status, 0) < 0 && errno == EINTR)
        ;
      d->c[k].pid = 0;
    }
  }
}

static void clear_progress(const struct demo *d)
{
  if (d->progress)
    fputs("\r\033[K", stderr);
}

static void progress(struct demo *d, uint64_t done)
{
  if (!d->progress)
    return;
  /* Small batches run by the ten thousand per second: redraw at 10 Hz. */
  int64_t now = cli_now_ns();
  if (done != 0 && done != d->cfg->batches && now - d->drawn_ns < PROGRESS_PERIOD_NS)
    return;
  d->drawn_ns = now;
  int fill = (int)(done * PROGRESS_WIDTH / d->cfg->batches);
  fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " batches", fill,
          "##############################", PROGRESS_WIDTH - fill, "", done, d->cfg->batches);
  if (done == d->cfg->batches)
    fputs("\r\033[K", stderr);
  fflush(stderr);
}

/*
 * What every wait checks at each slice: a signal, a consumer that ended
 * (it explains itself through its mailbox, or its exit status does), and
 * the deadline. Returns CLI_OK to keep waiting, or CLI_FAIL once it has
 * reported why not. `late` names the consumer to blame at the deadline
 * (-1: nobody in particular); `what` says what was awaited.
 */
static int wait_check(struct demo *d, int64_t deadline, int late, int64_t b, const char *what)
{
  const struct demo_cfg *cfg = d->cfg;
  if (interrupted) {
    clear_progress(d);
    cli_error(VERB, -EINTR, "stopped by signal %d (%s) in batch %" PRId64, (int)interrupted,
              strsignal(interrupted), b);
    return CLI_FAIL;
  }
  int k = reap_any(d);
  if (k >= 0) {
    struct demo_box *box = &d->ctl->box[k];
    int err = (int)ferry_counter_load(&box->error);
    clear_progress(d);
    if (err) {
      cli_error(VERB, err, "consumer %d: %.*s", k + 1, MESSAGE_CAP, box->message);
    } else {
      char how[96];
      exit_text(d->c[k].status, how, sizeof how);
      cli_error(VERB, -ESRCH, "consumer %d %s in batch %" PRId64, k + 1, how,
                ferry_counter_load(&box->taken));
    }
    return CLI_FAIL;
  }
  if (cli_now_ns() < deadline)
    return CLI_OK;
  clear_progress(d);
  if (late >= 0)
    cli_error(VERB, -ETIMEDOUT, "consumer %d (pid %ld) did not finish batch %" PRId64
              " within %.3g s", late + 1, (long)d->c[late].pid, b,
              (double)cfg->timeout_ns / FERRY_SEC);
  else
    cli_error(VERB, -ETIMEDOUT, "%s did not happen within %.3g s", what,
              (double)cfg->timeout_ns / FERRY_SEC);
  return CLI_FAIL;
}

/* The first consumer with no row for batch b yet, or -1. */
static int first_late(struct demo *d, int64_t b)
{
  for (uint32_t k = 0; k < d->cfg->consumers; k++)
    /* seq_cst (an acquire): pairs with the consumer's store of the batch
     * after its numbers. */
    if (ferry_counter_load(&d->ctl->box[k].row[b % DEMO_SLOTS].batch) != b)
      return (int)k;
  return -1;
}

/* Waits, bounded, until every consumer has posted its row for batch b. */
static int wait_rows(struct demo *d, int64_t b)
{
  int64_t deadline = cli_now_ns() + d->cfg->timeout_ns;
  int late;
  while ((late = first_late(d, b)) >= 0) {
    if (wait_check(d, deadline, late, b, NULL) != CLI_OK)
      return CLI_FAIL;
    cli_nap(DEMO_POLL_NS);
  }
  return CLI_OK;
}

/* Checks every consumer's answer for batch b, after wait_rows(b). */
static int verify_batch(struct demo *d, int64_t b)
{
  const struct stats_f32 *expect = d->expect[b % DEMO_SLOTS];
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    const struct demo_row *s = &d->ctl->box[k].row[b % DEMO_SLOTS];
    struct consumer *c = &d->c[k];
    if (s->narrays != (int32_t)d->cfg->narrays) {
      clear_progress(d);
      cli_error(VERB, -EPROTO, "consumer %u answered batch %" PRId64 " with %d arrays, not %zu",
                k + 1, b, (int)s->narrays, d->cfg->narrays);
      return CLI_FAIL;
    }
    for (size_t i = 0; i < d->cfg->narrays; i++) {
      const struct stats_f32 *e = &expect[i];
      const char *what = NULL;
      double got = 0, want = 0;
      if (s->max[i] != e->max)
        what = "max", got = s->max[i], want = e->max;
      else if (!close_enough(s->mean[i], e->mean, &c->worst))
        what = "mean", got = s->mean[i], want = e->mean;
      else if (!close_enough(s->std[i], e->std, &c->worst))
        what = "std", got = s->std[i], want = e->std;
      if (what) {
        clear_progress(d);
        cli_error(VERB, -EBADMSG, "consumer %u, batch %" PRId64 ", array %s: %s %.9g, expected %.9g",
                  k + 1, b, d->view[i].name, what, got, want);
        return CLI_FAIL;
      }
      c->verified++;
    }
  }
  return CLI_OK;
}

/* Loans the slot for batch b, waiting in slices; a consumer that holds
 * batch b - K too long is blamed by name. */
static int loan(struct demo *d, int64_t b, ferry_frame **f)
{
  int64_t deadline = cli_now_ns() + d->cfg->timeout_ns;
  for (;;) {
    int rc = ferry_bus_loan(d->bus, f, DEMO_SLICE_NS);
    if (rc == 0)
      return CLI_OK;
    if (rc != -ETIMEDOUT) {
      clear_progress(d);
      cli_error(VERB, rc, "loaning the slot for batch %" PRId64, b);
      return CLI_FAIL;
    }
    int64_t old = b - DEMO_SLOTS;
    if (wait_check(d, deadline, first_late(d, old), old, "a free slot") != CLI_OK)
      return CLI_FAIL;
  }
}

/* Waits, bounded, until every consumer has subscribed. */
static int wait_subscribed(struct demo *d)
{
  int64_t deadline = cli_now_ns() + d->cfg->timeout_ns;
  for (;;) {
    ferry_bus_stats st;
    ferry_bus_stats_get(d->bus, &st);
    if (st.subscribers >= d->cfg->consumers)
      return CLI_OK;
    if (wait_check(d, deadline, -1, 0, "subscribing every consumer") != CLI_OK)
      return CLI_FAIL;
    cli_nap(FERRY_MSEC);
  }
}

/* Waits, bounded, for every consumer to exit 0 (after the shutdown). */
static int wait_exits(struct demo *d)
{
  int64_t deadline = cli_now_ns() + DEMO_EXIT_GRACE_NS;
  for (;;) {
    reap_any(d);
    uint32_t running = 0;
    for (uint32_t k = 0; k < d->cfg->consumers; k++)
      running += d->c[k].pid > 0;
    if (running == 0)
      break;
    if (cli_now_ns() >= deadline) {
      cli_error(VERB, -ETIMEDOUT, "%u consumer%s did not exit at the end of the stream", running,
                running == 1 ? "" : "s");
      return CLI_FAIL;
    }
    cli_nap(FERRY_MSEC);
  }
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    int st = d->c[k].status;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      int err = (int)ferry_counter_load(&d->ctl->box[k].error);
      if (err) {
        cli_error(VERB, err, "consumer %u: %.*s", k + 1, MESSAGE_CAP, d->ctl->box[k].message);
      } else {
        char how[96];
        exit_text(st, how, sizeof how);
        cli_error(VERB, -ESRCH, "consumer %u %s at the end", k + 1, how);
      }
      return CLI_FAIL;
    }
  }
  return CLI_OK;
}

static void summary(const struct demo *d, double secs)
{
  const struct demo_cfg *cfg = d->cfg;
  double bytes = (double)d->frame_bytes * (double)cfg->batches * cfg->consumers;
  if (cfg->json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j);
    cli_json_key(&j, "bus");
    cli_json_str(&j, cfg->name);
    cli_json_key(&j, "arrays");
    cli_json_uint(&j, cfg->narrays);
    cli_json_key(&j, "batch_bytes");
    cli_json_uint(&j, d->frame_bytes);
    cli_json_key(&j, "batches");
    cli_json_uint(&j, cfg->batches);
    cli_json_key(&j, "seconds");
    cli_json_double(&j, secs);
    cli_json_key(&j, "batches_per_s");
    cli_json_double(&j, (double)cfg->batches / secs);
    cli_json_key(&j, "gb_per_s");
    cli_json_double(&j, bytes / secs / 1e9);
    cli_json_key(&j, "consumers");
    cli_json_array(&j, false);
    for (uint32_t k = 0; k < cfg->consumers; k++) {
      cli_json_object(&j);
      cli_json_key(&j, "consumer");
      cli_json_uint(&j, k + 1);
      cli_json_key(&j, "verified");
      cli_json_uint(&j, d->c[k].verified);
      cli_json_key(&j, "largest_relative_error");
      cli_json_double(&j, d->c[k].worst);
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_key(&j, "verified");
    cli_json_bool(&j, true);
    cli_json_end(&j);
    cli_json_finish(&j);
    return;
  }
  for (uint32_t k = 0; k < cfg->consumers; k++)
    printf("consumer %u: %" PRIu64 " batches, %" PRIu64
           " results verified (largest relative error %.2g)\n",
           k + 1, cfg->batches, d->c[k].verified, d->c[k].worst);
  printf("demo: %" PRIu64 " batches in %.3f s: %.1f batches/s, %.2f GB/s read by %u consumers;"
         " all results verified\n",
         cfg->batches, secs, (double)cfg->batches / secs, bytes / secs / 1e9, cfg->consumers);
}

/* Creates the bus and the control region. */
static int setup(struct demo *d)
{
  struct demo_cfg *cfg = d->cfg;
  ferry_bus_options bo;
  ferry_bus_options_init(&bo);
  bo.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  bo.region.role = FERRY_ROLE_PUBLISHER | FERRY_ROLE_PRODUCER;
  bo.mode = FERRY_BUS_LOCKSTEP;
  bo.slots = DEMO_SLOTS;
  bo.max_subscribers = cfg->consumers;
  int rc = ferry_bus_create(cfg->name, cfg->spec, cfg->narrays, &bo, &d->bus);
  if (rc) {
    cli_error(VERB, rc, "creating %s", cfg->name);
    return CLI_FAIL;
  }
  ferry_region_options ro = bo.region;
  ro.role = FERRY_ROLE_PRODUCER;
  ro.max_participants = cfg->consumers + 1;
  if (ro.max_participants < FERRY_MAX_PARTICIPANTS_DEFAULT)
    ro.max_participants = FERRY_MAX_PARTICIPANTS_DEFAULT;
  size_t size = sizeof(struct demo_ctl) + cfg->consumers * sizeof(struct demo_box);
  if ((rc = ferry_region_create(cfg->ctl_name, size, &ro, &d->ctl_region)) != 0) {
    cli_error(VERB, rc, "creating %s", cfg->ctl_name);
    return CLI_FAIL;
  }
  d->ctl = ferry_region_data(d->ctl_region);
  if ((uintptr_t)d->ctl % _Alignof(struct demo_ctl) != 0) {
    cli_error(VERB, -EFAULT, "%s is not aligned for the mailboxes", cfg->ctl_name);
    return CLI_FAIL;
  }
  /* The region is zeroed; consumers are forked only after this. */
  d->ctl->consumers = cfg->consumers;
  d->ctl->slots = DEMO_SLOTS;
  for (uint32_t k = 0; k < cfg->consumers; k++) {
    ferry_counter_store(&d->ctl->box[k].taken, DEMO_NO_BATCH);
    for (int j = 0; j < DEMO_SLOTS; j++)
      ferry_counter_store(&d->ctl->box[k].row[j].batch, DEMO_NO_BATCH);
  }
  /* The names and shapes, from batch 0's frame, loaned now and published
   * once every consumer has subscribed. */
  if ((rc = ferry_bus_loan(d->bus, &d->first, 0)) != 0) {
    cli_error(VERB, rc, "loaning from %s", cfg->name);
    return CLI_FAIL;
  }
  for (size_t i = 0; i < cfg->narrays; i++) {
    ferry_frame_array_at(d->first, i, &d->view[i]);
    d->frame_bytes += d->view[i].nbytes;
  }
  return CLI_OK;
}

static int spawn(struct demo *d)
{
  /* Buffered output would otherwise be written once per child too. */
  fflush(NULL);
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    pid_t pid = fork();
    if (pid < 0) {
      cli_error(VERB, -errno, "starting consumer %u", k + 1);
      return CLI_FAIL;
    }
    if (pid == 0)
      consumer_main(d->cfg, k);
    d->c[k].pid = pid;
  }
  return CLI_OK;
}

/* Fills the loaned frame with batch b and notes its statistics. */
static void produce(struct demo *d, ferry_frame *f, uint64_t b)
{
  for (size_t i = 0; i < d->cfg->narrays; i++) {
    ferry_array v;
    ferry_frame_array_at(f, i, &v);
    struct stats_pattern p = stats_pattern_of(b, i);
    stats_pattern_fill(v.data, v.count, &p);
    d->expect[b % DEMO_SLOTS][i] = stats_pattern_expect(v.count, &p);
  }
}

static int run(struct demo *d)
{
  int rc;
  if ((rc = setup(d)) != CLI_OK || (rc = spawn(d)) != CLI_OK)
    return rc;
  const struct demo_cfg *cfg = d->cfg;
  if (!cfg->quiet && !cfg->json) {
    printf("demo: %s: %zu float32 arrays (", cfg->name, cfg->narrays);
    for (size_t i = 0; i < cfg->narrays; i++) {
      char shape[FERRY_ARRAY_MAX_DIMS * 21 + 8];
      printf("%s%s", i ? ", " : "", cli_fmt_shape(d->view[i].ndim, d->view[i].shape, shape,
                                                  sizeof shape));
    }
    char size[64];
    printf("), %s per batch; %u consumers, %" PRIu64 " batches, %d bus slots\n",
           cli_fmt_size(d->frame_bytes, size, sizeof size), cfg->consumers, cfg->batches,
           DEMO_SLOTS);
    fflush(stdout);
  }
  /* Nothing is published until every consumer is subscribed, so each
   * sees batch 0 onwards. */
  ferry_frame *f = d->first;
  if ((rc = wait_subscribed(d)) != CLI_OK)
    return rc;
  int64_t start = cli_now_ns();
  progress(d, 0);
  uint64_t checked = 0; /* batches verified so far */
  for (uint64_t b = 0; b < cfg->batches; b++) {
    if (interrupted) {
      /* Checked here too: with small arrays no wait ever runs out. */
      clear_progress(d);
      cli_error(VERB, -EINTR, "stopped by signal %d (%s) before batch %" PRIu64,
                (int)interrupted, strsignal(interrupted), b);
      return CLI_FAIL;
    }
    if (b > 0 && (rc = loan(d, (int64_t)b, &f)) != CLI_OK)
      return rc;
    /* The loan returned: every live consumer released batch b - K, after
     * it posted its row. Check it before its expectations are overwritten. */
    if (b >= DEMO_SLOTS) {
      if ((rc = wait_rows(d, (int64_t)checked)) != CLI_OK ||
          (rc = verify_batch(d, (int64_t)checked)) != CLI_OK)
        return rc;
      checked++;
    }
    /* A dead consumer is noticed here even if the bus dropped it first. */
    if ((rc = wait_check(d, INT64_MAX, -1, (int64_t)b, NULL)) != CLI_OK)
      return rc;
    produce(d, f, b);
    if ((rc = ferry_bus_publish(d->bus, f)) != 0) {
      clear_progress(d);
      cli_error(VERB, rc, "publishing batch %" PRIu64, b);
      return CLI_FAIL;
    }
    progress(d, checked);
  }
  /* End of stream: the consumers drain the last batches, then see -EPIPE. */
  ferry_bus_shutdown(d->bus);
  d->shut = true;
  for (; checked < cfg->batches; checked++) {
    if ((rc = wait_rows(d, (int64_t)checked)) != CLI_OK ||
        (rc = verify_batch(d, (int64_t)checked)) != CLI_OK)
      return rc;
    progress(d, checked + 1);
  }
  double secs = (double)(cli_now_ns() - start) / FERRY_SEC;
  if ((rc = wait_exits(d)) != CLI_OK)
    return rc;
  if (!cfg->quiet)
    summary(d, secs);
  return CLI_OK;
}

/* ---- options ------------------------------------------------------------------------ */

static int parse_shapes(struct demo_cfg *cfg, const char *list)
{
  char text[64 + FERRY_ARRAY_MAX_DIMS * 21];
  size_t n = 0;
  for (const char *p = list;; n++) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (n == DEMO_MAX_ARRAYS)
      return cli_usage_error(VERB, "--shape: more than %d arrays", DEMO_MAX_ARRAYS);
    /* ferry_array_parse_spec reads the dimensions; the names are ours. */
    int w = snprintf(text, sizeof text, "data%zu:f32:%.*s", n, (int)len, p);
    int rc = len == 0 || (size_t)w >= sizeof text
                 ? -EINVAL
                 : ferry_array_parse_spec(text, &cfg->spec[n], cfg->array_names[n],
                                          sizeof cfg->array_names[n]);
    if (rc == 0 && cfg->spec[n].ndim == 0)
      rc = -EINVAL; /* "data0:f32:" is not a shape */
    if (rc) {
      cli_error(VERB, rc, "bad --shape '%.*s' (want dimensions like 1000x1000)", (int)len, p);
      return CLI_USAGE;
    }
    for (uint32_t k = 0; k < cfg->spec[n].ndim; k++)
      if (cfg->spec[n].shape[k] == 0)
        return cli_usage_error(VERB, "bad --shape '%.*s': every array needs an element",
                               (int)len, p);
    if (!end)
      break;
    p = end + 1;
  }
  cfg->narrays = n + 1;
  return CLI_OK;
}

static int parse_fault(void *ctx, const char *value)
{
  struct demo_cfg *cfg = ctx;
  if (strcmp(value, "die") == 0)
    cfg->fault = FAULT_DIE;
  else if (strcmp(value, "wrong") == 0)
    cfg->fault = FAULT_WRONG;
  else if (strcmp(value, "hang") == 0)
    cfg->fault = FAULT_HANG;
  else
    return cli_usage_error(VERB, "bad --inject '%s' (want die, wrong or hang)", value);
  return CLI_OK;
}

static int parse(struct demo_cfg *cfg, int argc, char **argv)
{
  const char *shapes = DEMO_DEFAULT_SHAPES;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->consumers = cpus < 2 ? 2 : cpus > DEMO_MAX_CONSUMERS ? DEMO_MAX_CONSUMERS : (uint32_t)cpus;
  cfg->batches = DEMO_DEFAULT_BATCHES;
  cfg->timeout_ns = DEMO_DEFAULT_TIMEOUT_NS;
  cli_opt opts[] = {
      CLI_U32("--consumers", &cfg->consumers, 1, DEMO_MAX_CONSUMERS),
      CLI_U64("--batches", &cfg->batches, 1, (uint64_t)INT64_MAX),
      CLI_STRING("--shape", &shapes),
      CLI_SECONDS("--timeout", &cfg->timeout_ns, 1e-9),
      CLI_CALL("--inject", parse_fault, cfg),
      CLI_FLAG("--quiet", &cfg->quiet),
      CLI_JSON(&cfg->json),
  };
  const cli_spec spec = {VERB, cli_help_demo, opts, 7, NULL, 0, 0, 0};
  size_t nargs;
  int rc = cli_parse(&spec, argc, argv, &nargs);
  if (rc != CLI_OK)
    return rc;
  return parse_shapes(cfg, shapes);
}

int demo_bus(int argc, char **argv)
{
  struct demo_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  int rc = parse(&cfg, argc, argv);
  if (rc != CLI_OK)
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
  cfg.parent = getpid();
  snprintf(cfg.name, sizeof cfg.name, "demo-%ld", (long)cfg.parent);
  snprintf(cfg.ctl_name, sizeof cfg.ctl_name, "demo-%ld-ctl", (long)cfg.parent);

  struct demo d;
  memset(&d, 0, sizeof d);
  d.cfg = &cfg;
  d.progress = !cfg.quiet && !cfg.json && isatty(STDERR_FILENO);
  if (!(d.c = calloc(cfg.consumers, sizeof *d.c))) {
    cli_error(VERB, -ENOMEM, "starting");
    return CLI_FAIL;
  }
  /* No SA_RESTART needed: every wait here is sliced and looks at the flag. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old[3];
  const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++)
    sigaction(sigs[i], &sa, &old[i]);

  rc = run(&d);
  /* On failure the consumers are killed; either way none is left, so the
   * producer's closes are the last and remove both names (a loan still
   * out is dropped by the close). */
  kill_all(&d);
  ferry_bus_close(d.bus);
  ferry_region_close(d.ctl_region);
  for (int i = 0; i < 3; i++)
    sigaction(sigs[i], &old[i], NULL);
  free(d.c);
  return rc;
}
