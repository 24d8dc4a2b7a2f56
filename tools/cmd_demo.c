/*
 * cmd_demo.c: `ferry demo`, seed 000 done with ferry. One producer fills
 * large float32 arrays batch after batch; N analysis processes read every
 * batch in place and compute mean, std and max of each array; the producer
 * waits until all of them are done before it writes the next batch.
 *
 * What it shows, against the seed's Python version:
 *   - no hand-computed offsets: consumers open the array region BY NAME and
 *     learn names, dtypes and shapes from it;
 *   - the lock-step hand-off is two kinds of ferry semaphores in a small
 *     RAW region (one "go" per consumer, one shared "done"), and every wait
 *     is bounded: a consumer that dies or hangs fails the demo within
 *     --timeout instead of deadlocking it;
 *   - nothing leaks: both regions are created unlink-on-last-close, and if
 *     the demo itself is SIGKILLed its consumers die with it
 *     (PR_SET_PDEATHSIG) and 'ferry gc' removes the orphaned regions.
 *
 * The producer computes each array's statistics while generating the data
 * (one pass, in double), independently of the consumers (two passes over
 * the shared memory), and checks every consumer's answer for every batch:
 * a torn or stale read, a wrong offset or a lost batch shows up as a
 * mismatch. This is the interim demo until the broadcast bus exists; the
 * bus will let the producer fill batch i+1 while batch i is being read.
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

const char cli_help_demo[] =
    "usage: ferry demo [--consumers N] [--batches N] [--shape RxC,...] [--timeout S]\n"
    "                  [--quiet]\n"
    "\n"
    "Share float32 arrays between processes, as in seed 000: one producer\n"
    "fills the arrays of an array region (demo-PID) with a new batch of data,\n"
    "N consumer processes open the region by name, read the batch in place\n"
    "and compute mean, std and max of every array, and the producer waits for\n"
    "all of them before it writes the next batch. The hand-off uses ferry\n"
    "semaphores in a second, small region (demo-PID-ctl).\n"
    "\n"
    "The producer checks every consumer's every result against its own (max\n"
    "exactly, mean and std to a relative 1e-4), then prints a line per\n"
    "consumer and the throughput: batches/s, and GB/s read by the consumers\n"
    "(each consumer reads every byte of every batch; 1 GB = 1e9 bytes). On a\n"
    "terminal a progress bar runs on stderr. The exit status is 0 only if\n"
    "every result was verified. A consumer that dies or hangs fails the demo\n"
    "within the timeout; the others are killed. Both regions disappear when\n"
    "the demo ends; if the demo is SIGKILLed, 'ferry gc' removes them.\n"
    "\n"
    "Options:\n"
    "  --consumers N   consumer processes, 1 to 256 (default: the number of\n"
    "                  online CPUs, at least 2)\n"
    "  --batches N     batches to produce (default 20, a few seconds at most)\n"
    "  --shape LIST    the arrays' shapes, comma-separated, each with 1 to 8\n"
    "                  dimensions joined by 'x', at most 16 arrays (default\n"
    "                  1000x1000,1000x1500,1000x2000)\n"
    "  --timeout S     seconds each batch may take before the demo gives up\n"
    "                  (default 10)\n"
    "  --quiet         print nothing unless something fails\n"
    "  --inject FAULT  testing aid: consumer 1 misbehaves in batch 2 (or 1):\n"
    "                  die (SIGKILLs itself), wrong (reports a wrong max) or\n"
    "                  hang (stops answering)\n"
    "  -h, --help\n";

#define VERB "demo"
#define DEMO_MAX_ARRAYS 16
#define DEMO_MAX_CONSUMERS 256
#define DEMO_DEFAULT_BATCHES 20
#define DEMO_DEFAULT_SHAPES "1000x1000,1000x1500,1000x2000"
#define DEMO_DEFAULT_TIMEOUT_NS (10 * FERRY_SEC)
/* Every wait is sliced so failures and signals are noticed this fast. */
#define DEMO_SLICE_NS (50 * FERRY_MSEC)
/* How long consumers get to exit after the stop order. */
#define DEMO_EXIT_GRACE_NS (2 * FERRY_SEC)
/* Tolerance of mean and std: the two sides sum in different orders. */
#define DEMO_REL_TOL 1e-4
#define DEMO_ABS_TOL 1e-9
/* ctl->batch before the first batch, and the order to stop. */
#define DEMO_NO_BATCH (-1)
#define DEMO_STOP (-2)
#define PROGRESS_WIDTH 30
#define PROGRESS_PERIOD_NS (100 * FERRY_MSEC)
#define MESSAGE_CAP 320

/* ---- the control region (RAW), shared by producer and consumers -------------- */

/* One consumer's mailbox. Written by the consumer before it posts
 * ctl->done, read by the producer after it waited for done; the
 * semaphore's post/wait order the plain fields. Own cache lines, since
 * each consumer writes only its own. */
struct demo_slot {
  _Alignas(64) ferry_sem go; /* producer posts once per batch and to stop */
  int64_t batch;             /* the batch the results below are for */
  int32_t error;             /* 0, or why the consumer gave up */
  int32_t narrays;
  double mean[DEMO_MAX_ARRAYS];
  double std[DEMO_MAX_ARRAYS];
  float max[DEMO_MAX_ARRAYS];
  char message[MESSAGE_CAP]; /* the consumer's account of error */
};

struct demo_ctl {
  ferry_counter batch; /* the batch in the array region now, or DEMO_STOP */
  ferry_sem done;      /* one post per consumer per batch */
  uint32_t consumers;
  uint32_t pad;
  struct demo_slot slot[];
};

enum fault { FAULT_NONE, FAULT_DIE, FAULT_WRONG, FAULT_HANG };

struct demo_cfg {
  uint32_t consumers;
  uint64_t batches;
  int64_t timeout_ns;
  bool quiet;
  enum fault fault;
  size_t narrays;
  ferry_array_spec spec[DEMO_MAX_ARRAYS];
  char array_names[DEMO_MAX_ARRAYS][FERRY_ARRAY_NAME_MAX + 1];
  char name[FERRY_NAME_MAX + 1];     /* the array region */
  char ctl_name[FERRY_NAME_MAX + 1]; /* the control region */
  pid_t parent;
};

/* The batch in which --inject strikes. */
static uint64_t fault_batch(const struct demo_cfg *c) { return c->batches > 2 ? 2 : c->batches - 1; }

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

/* ---- data: generated by the producer, analysed by the consumers ----------------- */

struct stats {
  double mean, std;
  float max;
};

/*
 * Fills x with batch `batch` of array `index`: xorshift noise in [0, 256)
 * plus 16 * (batch % 16), so consecutive batches differ in mean and a
 * stale read cannot pass. Every value is a multiple of 1/256 below 2^9:
 * exact in float32. Returns the statistics, computed on the way.
 */
static struct stats generate(float *x, size_t n, uint64_t batch, size_t index)
{
  uint32_t s = (uint32_t)(batch * 2654435761u) ^ (uint32_t)(index * 40503u) ^ 0x9e3779b9u;
  if (s == 0)
    s = 1; /* xorshift's one fixed point */
  const float offset = (float)(16 * (batch % 16));
  double sum = 0, sumsq = 0;
  float max = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    float v = (float)(s >> 16) * (1.0f / 256.0f) + offset;
    x[i] = v;
    sum += v;
    sumsq += (double)v * v;
    if (v > max)
      max = v;
  }
  struct stats st;
  st.mean = sum / (double)n;
  double var = sumsq / (double)n - st.mean * st.mean;
  st.std = sqrt(var > 0 ? var : 0);
  st.max = max;
  return st;
}

/* The consumer's side, as numpy's mean(), std() and max() define them. */
static struct stats analyse(const float *x, size_t n)
{
  double sum = 0;
  float max = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    sum += x[i];
    if (x[i] > max)
      max = x[i];
  }
  double mean = sum / (double)n, acc = 0;
  for (size_t i = 0; i < n; i++) {
    double d = x[i] - mean;
    acc += d * d;
  }
  return (struct stats){mean, sqrt(acc / (double)n), max};
}

static bool close_enough(double got, double want, double *rel)
{
  double diff = fabs(got - want);
  double r = want != 0 ? diff / fabs(want) : diff;
  if (r > *rel)
    *rel = r;
  return diff <= DEMO_REL_TOL * fabs(want) || diff <= DEMO_ABS_TOL;
}

/* ---- consumer ---------------------------------------------------------------------- */

/* Reports a failure through the mailbox, where the producer reads it. */
static void consumer_fail(struct demo_ctl *ctl, struct demo_slot *slot, int64_t batch, int err,
                          const char *what)
{
  slot->batch = batch;
  slot->error = err ? err : -EINVAL;
  snprintf(slot->message, sizeof slot->message, "%s", what);
  /* release (seq_cst RMW): publishes the fields above; pairs with the
   * producer's ferry_sem_wait(&ctl->done). */
  ferry_sem_post(&ctl->done);
}

/* A consumer process, index k. Never returns. */
static void consumer_main(const struct demo_cfg *cfg, uint32_t k)
{
  /* Die with the producer: a SIGKILLed demo must leave only an orphaned
   * region, never a process. The getppid() check closes the race with a
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
      ferry_region_data_size(r) < sizeof *ctl + (size_t)ctl->consumers * sizeof ctl->slot[0]) {
    cli_error(VERB, FERRY_ECORRUPT, "consumer %u: %s", k + 1, cfg->ctl_name);
    _exit(CLI_FAIL);
  }
  struct demo_slot *slot = &ctl->slot[k];
  char what[MESSAGE_CAP];

  o.role = FERRY_ROLE_CONSUMER | FERRY_ROLE_READER;
  ferry_arrays *arr;
  if ((rc = ferry_array_open(cfg->name, &o, &arr)) != 0) {
    snprintf(what, sizeof what, "opening %s", cfg->name);
    consumer_fail(ctl, slot, DEMO_NO_BATCH, rc, what);
    _exit(CLI_FAIL);
  }
  /* Everything about the arrays comes from the region, nothing from cfg. */
  const ferry_frame *f = ferry_array_frame(arr);
  size_t n = ferry_frame_count(f);
  ferry_array view[DEMO_MAX_ARRAYS];
  if (n > DEMO_MAX_ARRAYS) {
    snprintf(what, sizeof what, "%s holds %zu arrays, more than %d", cfg->name, n,
             DEMO_MAX_ARRAYS);
    consumer_fail(ctl, slot, DEMO_NO_BATCH, -EINVAL, what);
    _exit(CLI_FAIL);
  }
  for (size_t i = 0; i < n; i++) {
    ferry_frame_array_at(f, i, &view[i]);
    if (view[i].dtype != FERRY_DTYPE_F32 || view[i].count == 0) {
      snprintf(what, sizeof what, "array %s is %s with %zu elements, not non-empty f32",
               view[i].name, ferry_dtype_name(view[i].dtype), view[i].count);
      consumer_fail(ctl, slot, DEMO_NO_BATCH, -EINVAL, what);
      _exit(CLI_FAIL);
    }
  }

  for (;;) {
    /* acquire: pairs with the producer's post after it filled the batch. */
    while ((rc = ferry_sem_wait(&slot->go, DEMO_SLICE_NS)) == -ETIMEDOUT)
      if (getppid() != cfg->parent)
        _exit(CLI_FAIL);
    int64_t b = ferry_counter_load(&ctl->batch);
    if (rc != 0) {
      consumer_fail(ctl, slot, b, rc, "waiting for a batch");
      _exit(CLI_FAIL);
    }
    if (b == DEMO_STOP)
      break;
    bool strike = k == 0 && (uint64_t)b == fault_batch(cfg);
    if (strike && cfg->fault == FAULT_DIE)
      raise(SIGKILL);
    if (strike && cfg->fault == FAULT_HANG)
      for (;;)
        pause();
    for (size_t i = 0; i < n; i++) {
      struct stats s = analyse(view[i].data, view[i].count);
      slot->mean[i] = s.mean;
      slot->std[i] = s.std;
      slot->max[i] = s.max;
    }
    if (strike && cfg->fault == FAULT_WRONG)
      slot->max[0] += 1;
    slot->narrays = (int32_t)n;
    slot->batch = b;
    /* release: publishes the results; pairs with the producer's wait. */
    ferry_sem_post(&ctl->done);
  }
  ferry_array_close(arr);
  ferry_region_close(r);
  _exit(CLI_OK);
}

/* ---- producer ---------------------------------------------------------------------- */

struct consumer {
  pid_t pid;     /* 0 once reaped */
  int status;    /* from waitpid, once reaped */
  double worst;  /* largest relative error seen in mean and std */
  uint64_t verified;
};

struct demo {
  struct demo_cfg *cfg;
  ferry_arrays *arr;
  ferry_region *ctl_region;
  struct demo_ctl *ctl;
  struct consumer *c;
  ferry_array view[DEMO_MAX_ARRAYS];
  struct stats expect[DEMO_MAX_ARRAYS];
  uint64_t frame_bytes; /* bytes of data in one batch, padding excluded */
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

/* Reaps any consumer that ended; returns the index of one that did, or -1. */
static int reap_any(struct demo *d)
{
  int found = -1;
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    if (d->c[k].pid > 0 && waitpid(d->c[k].pid, &d->c[k].status, WNOHANG) == d->c[k].pid) {
      d->c[k].pid = 0;
      if (found < 0)
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

static void progress(struct demo *d, uint64_t done)
{
  if (!d->progress)
    return;
  /* Small batches run by the ten thousand per second: redraw at 10 Hz. */
  int64_t now = now_ns();
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

/* Waits for every consumer to finish batch b. Bounded by the timeout. */
static int wait_batch(struct demo *d, int64_t b)
{
  const struct demo_cfg *cfg = d->cfg;
  int64_t deadline = now_ns() + cfg->timeout_ns;
  for (uint32_t got = 0; got < cfg->consumers;) {
    /* acquire: pairs with each consumer's post after writing its slot. */
    int rc = ferry_sem_wait(&d->ctl->done, DEMO_SLICE_NS);
    if (rc == 0) {
      got++;
      continue;
    }
    if (rc != -ETIMEDOUT) {
      cli_error(VERB, rc, "waiting for batch %" PRId64, b);
      return CLI_FAIL;
    }
    if (interrupted) {
      cli_error(VERB, -EINTR, "stopped by signal %d (%s) in batch %" PRId64, (int)interrupted,
                strsignal(interrupted), b);
      return CLI_FAIL;
    }
    int k = reap_any(d);
    if (k >= 0) {
      const struct demo_slot *s = &d->ctl->slot[k];
      if (s->error) {
        /* It explained itself before it went. */
        cli_error(VERB, s->error, "consumer %d: %.*s", k + 1, MESSAGE_CAP, s->message);
      } else {
        char how[96];
        exit_text(d->c[k].status, how, sizeof how);
        cli_error(VERB, -ESRCH, "consumer %d %s in batch %" PRId64, k + 1, how, b);
      }
      return CLI_FAIL;
    }
    if (now_ns() >= deadline) {
      for (uint32_t i = 0; i < cfg->consumers; i++)
        if (d->ctl->slot[i].batch != b) {
          cli_error(VERB, -ETIMEDOUT, "consumer %u (pid %ld) did not finish batch %" PRId64
                    " within %.3g s", i + 1, (long)d->c[i].pid, b,
                    (double)cfg->timeout_ns / FERRY_SEC);
          return CLI_FAIL;
        }
      cli_error(VERB, -ETIMEDOUT, "batch %" PRId64 " did not finish within %.3g s", b,
                (double)cfg->timeout_ns / FERRY_SEC);
      return CLI_FAIL;
    }
  }
  return CLI_OK;
}

/* Checks every consumer's answer for batch b. */
static int verify_batch(struct demo *d, int64_t b)
{
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    struct demo_slot *s = &d->ctl->slot[k];
    struct consumer *c = &d->c[k];
    if (s->error) {
      cli_error(VERB, s->error, "consumer %u: %.*s", k + 1, MESSAGE_CAP, s->message);
      return CLI_FAIL;
    }
    if (s->batch != b || s->narrays != (int32_t)d->cfg->narrays) {
      cli_error(VERB, -EPROTO, "consumer %u answered for batch %" PRId64 " with %d arrays, "
                "not batch %" PRId64 " with %zu", k + 1, s->batch, (int)s->narrays, b,
                d->cfg->narrays);
      return CLI_FAIL;
    }
    for (size_t i = 0; i < d->cfg->narrays; i++) {
      const struct stats *e = &d->expect[i];
      const char *what = NULL;
      double got = 0, want = 0;
      if (s->max[i] != e->max)
        what = "max", got = s->max[i], want = e->max;
      else if (!close_enough(s->mean[i], e->mean, &c->worst))
        what = "mean", got = s->mean[i], want = e->mean;
      else if (!close_enough(s->std[i], e->std, &c->worst))
        what = "std", got = s->std[i], want = e->std;
      if (what) {
        cli_error(VERB, -EBADMSG, "consumer %u, batch %" PRId64 ", array %s: %s %.9g, expected %.9g",
                  k + 1, b, d->view[i].name, what, got, want);
        return CLI_FAIL;
      }
      c->verified++;
    }
  }
  return CLI_OK;
}

/* Tells the consumers to stop and waits, bounded, for all to exit 0. */
static int stop_consumers(struct demo *d)
{
  ferry_counter_store(&d->ctl->batch, DEMO_STOP);
  for (uint32_t k = 0; k < d->cfg->consumers; k++)
    ferry_sem_post(&d->ctl->slot[k].go);
  int64_t deadline = now_ns() + DEMO_EXIT_GRACE_NS;
  for (;;) {
    reap_any(d);
    uint32_t running = 0;
    for (uint32_t k = 0; k < d->cfg->consumers; k++)
      running += d->c[k].pid > 0;
    if (running == 0)
      break;
    if (now_ns() >= deadline) {
      cli_error(VERB, -ETIMEDOUT, "%u consumer%s did not exit when told to", running,
                running == 1 ? "" : "s");
      return CLI_FAIL;
    }
    struct timespec nap = {0, 5 * FERRY_MSEC};
    nanosleep(&nap, NULL);
  }
  for (uint32_t k = 0; k < d->cfg->consumers; k++) {
    int st = d->c[k].status;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      char how[96];
      exit_text(st, how, sizeof how);
      cli_error(VERB, -ESRCH, "consumer %u %s at the end", k + 1, how);
      return CLI_FAIL;
    }
  }
  return CLI_OK;
}

static void summary(const struct demo *d, double secs)
{
  const struct demo_cfg *cfg = d->cfg;
  for (uint32_t k = 0; k < cfg->consumers; k++)
    printf("consumer %u: %" PRIu64 " batches, %" PRIu64
           " results verified (largest relative error %.2g)\n",
           k + 1, cfg->batches, d->c[k].verified, d->c[k].worst);
  double bytes = (double)d->frame_bytes * (double)cfg->batches * cfg->consumers;
  printf("demo: %" PRIu64 " batches in %.3f s: %.1f batches/s, %.2f GB/s read by %u consumers;"
         " all results verified\n",
         cfg->batches, secs, (double)cfg->batches / secs, bytes / secs / 1e9, cfg->consumers);
}

/* Creates both regions. */
static int setup(struct demo *d)
{
  struct demo_cfg *cfg = d->cfg;
  uint32_t slots = cfg->consumers + 1;
  if (slots < FERRY_MAX_PARTICIPANTS_DEFAULT)
    slots = FERRY_MAX_PARTICIPANTS_DEFAULT;
  ferry_array_options ao;
  ferry_array_options_init(&ao);
  ao.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ao.region.max_participants = slots;
  ao.region.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_WRITER;
  int rc = ferry_array_create(cfg->name, cfg->spec, cfg->narrays, &ao, &d->arr);
  if (rc) {
    cli_error(VERB, rc, "creating %s", cfg->name);
    return CLI_FAIL;
  }
  ferry_region_options ro = ao.region;
  ro.role = FERRY_ROLE_PRODUCER;
  size_t size = sizeof(struct demo_ctl) + cfg->consumers * sizeof(struct demo_slot);
  if ((rc = ferry_region_create(cfg->ctl_name, size, &ro, &d->ctl_region)) != 0) {
    cli_error(VERB, rc, "creating %s", cfg->ctl_name);
    return CLI_FAIL;
  }
  d->ctl = ferry_region_data(d->ctl_region);
  if ((uintptr_t)d->ctl % _Alignof(struct demo_ctl) != 0) {
    cli_error(VERB, -EFAULT, "%s is not aligned for the mailboxes", cfg->ctl_name);
    return CLI_FAIL;
  }
  /* The region is zeroed: every semaphore starts at 0, every slot empty. */
  d->ctl->consumers = cfg->consumers;
  ferry_counter_store(&d->ctl->batch, DEMO_NO_BATCH);
  for (uint32_t k = 0; k < cfg->consumers; k++)
    d->ctl->slot[k].batch = DEMO_NO_BATCH;
  for (size_t i = 0; i < cfg->narrays; i++) {
    ferry_frame_array_at(ferry_array_frame(d->arr), i, &d->view[i]);
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

static int run(struct demo *d)
{
  int rc;
  if ((rc = setup(d)) != CLI_OK || (rc = spawn(d)) != CLI_OK)
    return rc;
  const struct demo_cfg *cfg = d->cfg;
  if (!cfg->quiet) {
    printf("demo: %s: %zu float32 arrays (", cfg->name, cfg->narrays);
    for (size_t i = 0; i < cfg->narrays; i++) {
      char shape[FERRY_ARRAY_MAX_DIMS * 21 + 8];
      printf("%s%s", i ? ", " : "", cli_fmt_shape(d->view[i].ndim, d->view[i].shape, shape,
                                                  sizeof shape));
    }
    char size[64];
    printf("), %s per batch; %u consumers, %" PRIu64 " batches\n",
           cli_fmt_size(d->frame_bytes, size, sizeof size), cfg->consumers, cfg->batches);
    fflush(stdout);
  }
  int64_t start = now_ns();
  progress(d, 0);
  for (uint64_t b = 0; b < cfg->batches; b++) {
    if (interrupted) {
      /* Checked here too: with small arrays no wait ever runs out. */
      if (d->progress)
        fputs("\r\033[K", stderr);
      cli_error(VERB, -EINTR, "stopped by signal %d (%s) before batch %" PRIu64,
                (int)interrupted, strsignal(interrupted), b);
      return CLI_FAIL;
    }
    /* Nobody reads the arrays now: every consumer answered the last batch
     * and waits on its own "go". */
    for (size_t i = 0; i < cfg->narrays; i++)
      d->expect[i] = generate(d->view[i].data, d->view[i].count, b, i);
    ferry_counter_store(&d->ctl->batch, (int64_t)b);
    for (uint32_t k = 0; k < cfg->consumers; k++)
      /* release: publishes the batch; pairs with the consumer's wait. */
      ferry_sem_post(&d->ctl->slot[k].go);
    if ((rc = wait_batch(d, (int64_t)b)) != CLI_OK ||
        (rc = verify_batch(d, (int64_t)b)) != CLI_OK) {
      if (d->progress)
        fputs("\r\033[K", stderr);
      return rc;
    }
    progress(d, b + 1);
  }
  double secs = (double)(now_ns() - start) / FERRY_SEC;
  if ((rc = stop_consumers(d)) != CLI_OK)
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

static int parse(struct demo_cfg *cfg, int argc, char **argv)
{
  const char *value, *shapes = DEMO_DEFAULT_SHAPES;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->consumers = cpus < 2 ? 2 : cpus > DEMO_MAX_CONSUMERS ? DEMO_MAX_CONSUMERS : (uint32_t)cpus;
  cfg->batches = DEMO_DEFAULT_BATCHES;
  cfg->timeout_ns = DEMO_DEFAULT_TIMEOUT_NS;
  int rc;
  uint64_t v;
  cli_args a;
  cli_args_init(&a, VERB, argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      cli_print_help(cli_help_demo);
      return -1;
    } else if ((rc = cli_args_value(&a, "--consumers", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(value, 1, DEMO_MAX_CONSUMERS, &v))
        return cli_usage_error(VERB, "bad --consumers '%s' (want 1 to %d)", value,
                               DEMO_MAX_CONSUMERS);
      cfg->consumers = (uint32_t)v;
    } else if ((rc = cli_args_value(&a, "--batches", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_u64(value, 1, (uint64_t)INT64_MAX, &cfg->batches))
        return cli_usage_error(VERB, "bad --batches '%s' (want a positive number)", value);
    } else if ((rc = cli_args_value(&a, "--shape", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      shapes = value;
    } else if ((rc = cli_args_value(&a, "--timeout", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (!cli_parse_seconds(value, &cfg->timeout_ns) || cfg->timeout_ns == 0)
        return cli_usage_error(VERB, "bad --timeout '%s' (want seconds, e.g. 2.5)", value);
    } else if ((rc = cli_args_value(&a, "--inject", &value)) != 0) {
      if (rc < 0)
        return CLI_USAGE;
      if (strcmp(value, "die") == 0)
        cfg->fault = FAULT_DIE;
      else if (strcmp(value, "wrong") == 0)
        cfg->fault = FAULT_WRONG;
      else if (strcmp(value, "hang") == 0)
        cfg->fault = FAULT_HANG;
      else
        return cli_usage_error(VERB, "bad --inject '%s' (want die, wrong or hang)", value);
    } else if (cli_args_flag(&a, "--quiet")) {
      cfg->quiet = true;
    } else {
      return cli_args_unknown(&a);
    }
  }
  return parse_shapes(cfg, shapes);
}

int cmd_demo(int argc, char **argv)
{
  struct demo_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  int rc = parse(&cfg, argc, argv);
  if (rc < 0)
    return CLI_OK; /* --help */
  if (rc)
    return rc;
  cfg.parent = getpid();
  snprintf(cfg.name, sizeof cfg.name, "demo-%ld", (long)cfg.parent);
  snprintf(cfg.ctl_name, sizeof cfg.ctl_name, "demo-%ld-ctl", (long)cfg.parent);

  struct demo d;
  memset(&d, 0, sizeof d);
  d.cfg = &cfg;
  d.progress = !cfg.quiet && isatty(STDERR_FILENO);
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
   * producer's closes are the last and remove both names. */
  kill_all(&d);
  ferry_array_close(d.arr);
  ferry_region_close(d.ctl_region);
  for (int i = 0; i < 3; i++)
    sigaction(sigs[i], &old[i], NULL);
  free(d.c);
  return rc;
}
