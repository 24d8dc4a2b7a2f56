/* SPDX-License-Identifier: MIT */
/*
 * harness.c: forks the workers of one benchmark case, gives them one
 * timeline, verifies every message and turns their counters into a result.
 * The rules it enforces are in harness.h [bench-rules]. libc only:
 * this file is also compiled into the peer programs (bench/CMakeLists.txt).
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BH_SAMPLES_MAX (UINT64_C(4) << 20) /* round trips kept per ping-pong run */
#define BH_READY_TIMEOUT_NS (UINT64_C(30) * 1000000000u)
#define BH_GRACE_NS (UINT64_C(30) * 1000000000u) /* after the deadline, before killing */
#define BH_START_DELAY_NS (UINT64_C(2) * 1000000u)
#define BH_CLOCK_EVERY 16     /* small messages: read the clock once per this many */
#define BH_CLOCK_EVERY_BYTES 4096 /* messages this big read the clock every time */
#define BH_POLL_NS 200000     /* the parent's and the waiting workers' poll period */

enum { BH_ROLE_PRODUCER, BH_ROLE_CONSUMER, BH_ROLE_PING, BH_ROLE_PONG };

/* Per worker, in the shared mapping: written by that worker, read by the parent. */
struct bh_slot {
  uint64_t sent;     /* producer: data messages sent */
  uint64_t received; /* consumer: data messages received, all of them */
  uint64_t counted;  /* consumer: received from measure on */
  uint64_t last_ns;  /* consumer/pinger: time of the last message */
  char err[BH_NOTE_MAX];
};

struct bh_shared {
  atomic_int ready;          /* workers that reported ready */
  atomic_int go;             /* 1 once the timeline below is set */
  atomic_int producers_done; /* producers that returned */
  uint64_t start_ns, measure_ns, deadline_ns; /* published by the release store to go */
  uint64_t nsamples;
  struct bh_slot slot[BH_MAX_WORKERS];
  uint64_t samples[]; /* pipe: round trips in ns */
};

struct bh_worker {
  const bh_case *c;
  const char *impl;
  struct bh_shared *sh;
  struct bh_slot *slot;
  int role, id;
  uint64_t measure_ns, deadline_ns;
  uint64_t seq;       /* producer/pinger: next sequence; ponger: expected */
  uint64_t last[BH_MAX_WORKERS]; /* consumer: last sequence seen per producer, +1 (0 = none) */
  int markers;
  unsigned tick;
  bool measuring, past_deadline;
  uint64_t now_cache;
};

uint64_t bh_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bh_sleep_ns(long ns)
{
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

size_t bh_capacity_msgs(const bh_case *c)
{
  size_t n = c->capacity_bytes / c->msg_bytes;
  return n < 2 ? 2 : n;
}

const bh_case *bh_worker_case(const bh_worker *w) { return w->c; }
int bh_worker_id(const bh_worker *w) { return w->id; }

static uint64_t get_le64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (unsigned char)v;
}

static uint32_t get_le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++, v >>= 8)
    p[i] = (unsigned char)v;
}

void bh_fail(bh_worker *w, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->slot->err, sizeof w->slot->err, fmt, ap);
  va_end(ap);
  static const char *const roles[] = {"producer", "consumer", "pinger", "ponger"};
  fprintf(stderr, "ferry bench: %s: %s %d: FAILED: %s\n", w->impl, roles[w->role], w->id,
          w->slot->err);
  _exit(BH_EXIT_VERIFY);
}

void bh_ready(bh_worker *w)
{
  /* release: our setup (connections, opened objects) is done; pairs with
   * the parent's acquire load of ready in wait_ready(). */
  atomic_fetch_add_explicit(&w->sh->ready, 1, memory_order_release);
  /* acquire: pairs with the parent's release store of go, which publishes
   * the timeline. */
  while (!atomic_load_explicit(&w->sh->go, memory_order_acquire))
    bh_sleep_ns(BH_POLL_NS / 4);
  w->measure_ns = w->sh->measure_ns;
  w->deadline_ns = w->sh->deadline_ns;
  uint64_t start = w->sh->start_ns;
  while (bh_now_ns() < start)
    ;
}

bool bh_running(bh_worker *w)
{
  if (w->tick++ % BH_CLOCK_EVERY != 0 && w->c->msg_bytes < BH_CLOCK_EVERY_BYTES)
    return true;
  return bh_now_ns() < w->deadline_ns;
}

void bh_stamp(bh_worker *w, void *msg)
{
  put_le64(msg, w->seq++);
  put_le32((unsigned char *)msg + 8, (uint32_t)w->id);
  w->slot->sent = w->seq;
}

void bh_stamp_end(bh_worker *w, void *msg)
{
  put_le64(msg, BH_END_SEQ);
  put_le32((unsigned char *)msg + 8, (uint32_t)w->id);
}

bool bh_take(bh_worker *w, const void *msg, size_t len)
{
  const unsigned char *p = msg;
  if (len != w->c->msg_bytes)
    bh_fail(w, "message of %zu bytes, expected %zu", len, w->c->msg_bytes);
  uint64_t seq = get_le64(p);
  uint32_t pid = get_le32(p + 8);
  if (pid >= (uint32_t)w->c->producers)
    bh_fail(w, "producer id %u out of range (message %llu)", pid,
            (unsigned long long)w->slot->received);
  if (seq == BH_END_SEQ) {
    w->slot->last_ns = bh_now_ns();
    return ++w->markers == w->c->producers;
  }
  uint64_t last = w->last[pid];
  if (w->c->consumers == 1 ? seq != last : seq < last)
    bh_fail(w, "producer %u: sequence %llu after %lld (%s)", pid, (unsigned long long)seq,
            (long long)last - 1, w->c->consumers == 1 ? "expected the next one" : "went backwards");
  w->last[pid] = seq + 1;
  w->slot->received++;
  if (w->measuring) {
    w->slot->counted++;
  }
  if (w->past_deadline || w->c->msg_bytes >= BH_CLOCK_EVERY_BYTES ||
      w->tick++ % BH_CLOCK_EVERY == 0) {
    uint64_t now = bh_now_ns();
    w->slot->last_ns = now;
    if (!w->measuring && now >= w->measure_ns) {
      w->measuring = true;
      w->slot->counted++;
    }
    w->past_deadline = now >= w->deadline_ns;
  }
  return false;
}

bool bh_producers_done(const bh_worker *w)
{
  return atomic_load_explicit(&w->sh->producers_done, memory_order_acquire) ==
         w->c->producers;
}

void bh_end(bh_worker *w, bool stamp_now)
{
  if (stamp_now)
    w->slot->last_ns = bh_now_ns();
}

void bh_read_all(const void *msg, size_t len)
{
  const unsigned char *p = msg;
  uint64_t sum = 0, v;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    memcpy(&v, p + i, 8);
    sum += v;
  }
  for (; i < len; i++)
    sum += p[i];
  /* The sum goes nowhere; the empty asm that "uses" it keeps the reads. */
  __asm__ volatile("" : : "r"(sum));
}

bool bh_ping_running(bh_worker *w)
{
  if (w->now_cache == 0)
    w->now_cache = bh_now_ns();
  return w->now_cache < w->deadline_ns && w->sh->nsamples < BH_SAMPLES_MAX;
}

void bh_ping_record(bh_worker *w, const void *echo, size_t len, uint64_t t0_ns)
{
  uint64_t t1 = bh_now_ns();
  if (len != w->c->msg_bytes)
    bh_fail(w, "echo of %zu bytes, expected %zu", len, w->c->msg_bytes);
  uint64_t seq = get_le64(echo);
  if (seq + 1 != w->seq)
    bh_fail(w, "echo with sequence %llu, expected %llu", (unsigned long long)seq,
            (unsigned long long)(w->seq - 1));
  w->now_cache = t1;
  if (t0_ns >= w->measure_ns) {
    w->sh->samples[w->sh->nsamples++] = t1 - t0_ns;
    w->slot->last_ns = t1;
  }
}

bool bh_pong_take(bh_worker *w, const void *msg, size_t len)
{
  if (len != w->c->msg_bytes)
    bh_fail(w, "ping of %zu bytes, expected %zu", len, w->c->msg_bytes);
  uint64_t seq = get_le64(msg);
  if (seq == BH_END_SEQ)
    return true;
  if (seq != w->seq)
    bh_fail(w, "ping with sequence %llu, expected %llu", (unsigned long long)seq,
            (unsigned long long)w->seq);
  w->seq++;
  return false;
}

/* ---- load [bench-load] ---- */

/* A load process: spins until its parent is gone or it is killed. */
static __attribute__((noreturn)) void load_loop(pid_t parent)
{
  /* Dies with the thread that forked it; the check after it closes the
   * race with a parent that died before the call. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    _exit(0);
  prctl(PR_SET_NAME, "ferry-load");
  /* Default handlers: Ctrl-C (the whole process group) ends it too. */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  volatile uint64_t spin = 0;
  for (;;) {
    for (unsigned i = 0; i < (1u << 24); i++)
      spin = spin + 1; /* some milliseconds between looks at the parent */
    if (getppid() != parent)
      _exit(0);
  }
}

int bh_load_start(int n, int *pids)
{
  if (n < 0 || n > BH_LOAD_MAX)
    return -EINVAL;
  pid_t parent = getpid();
  fflush(NULL); /* no buffered output is written twice */
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      int e = errno;
      bh_load_stop(i, pids);
      return -e;
    }
    if (pid == 0)
      load_loop(parent);
    pids[i] = (int)pid;
  }
  return 0;
}

void bh_load_stop(int n, const int *pids)
{
  for (int i = 0; i < n; i++)
    kill((pid_t)pids[i], SIGKILL);
  for (int i = 0; i < n; i++)
    while (waitpid((pid_t)pids[i], NULL, 0) < 0 && errno == EINTR)
      ;
}

/* ---- the parent ---- */

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

uint64_t bh_percentile(const uint64_t *sorted, size_t n, double q)
{
  if (n == 0)
    return 0;
  size_t rank = (size_t)(q * (double)n + 0.999999999); /* ceil(q n), nearest rank */
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return sorted[rank - 1];
}

static void kill_all(const pid_t *pids, int n)
{
  for (int i = 0; i < n; i++)
    if (pids[i] > 0)
      kill(pids[i], SIGKILL);
}

/* Reaps what has exited; returns the number still running. Sets *bad to the
 * index of the first worker that failed, if any. */
static int reap(pid_t *pids, int n, int *bad)
{
  int running = 0;
  for (int i = 0; i < n; i++) {
    if (pids[i] <= 0)
      continue;
    int st;
    pid_t r = waitpid(pids[i], &st, WNOHANG);
    if (r == 0) {
      running++;
      continue;
    }
    pids[i] = 0;
    if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      if (*bad < 0)
        *bad = i;
    }
  }
  return running;
}

void bh_run(const bh_impl *impl, const bh_case *c, bh_result *r)
{
  memset(r, 0, sizeof *r);
  r->status = BH_FAILED;
  bool pipe_case = c->kind == BH_PIPE;
  int n = pipe_case ? 2 : c->producers + c->consumers;
  if (c->msg_bytes < BH_MIN_MSG || n > BH_MAX_WORKERS || c->producers < 1 ||
      c->consumers < 1) {
    snprintf(r->note, sizeof r->note, "bad case");
    return;
  }
  if ((pipe_case && (!impl->ping || !impl->pong)) ||
      (!pipe_case && (!impl->producer || !impl->consumer))) {
    r->status = BH_SKIPPED;
    snprintf(r->note, sizeof r->note, "not implemented for this benchmark");
    return;
  }
  size_t size = sizeof(struct bh_shared) + (pipe_case ? BH_SAMPLES_MAX * sizeof(uint64_t) : 0);
  struct bh_shared *sh =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (sh == MAP_FAILED) {
    snprintf(r->note, sizeof r->note, "mmap: %s", strerror(errno));
    return;
  }
  void *state = NULL;
  int s = impl->setup ? impl->setup(c, &state, r->note, sizeof r->note) : BH_OK;
  if (s != BH_OK) {
    r->status = s == BH_SKIPPED ? BH_SKIPPED : BH_FAILED;
    munmap(sh, size);
    return;
  }

  pid_t pids[BH_MAX_WORKERS] = {0};
  int bad = -1;
  fflush(NULL);
  for (int i = 0; i < n; i++) {
    int role, id;
    if (pipe_case) {
      role = i == 0 ? BH_ROLE_PING : BH_ROLE_PONG;
      id = 0;
    } else if (i < c->producers) {
      role = BH_ROLE_PRODUCER;
      id = i;
    } else {
      role = BH_ROLE_CONSUMER;
      id = i - c->producers;
    }
    pid_t pid = fork();
    if (pid < 0) {
      snprintf(r->note, sizeof r->note, "fork: %s", strerror(errno));
      kill_all(pids, i);
      bad = i;
      break;
    }
    if (pid == 0) {
      static bh_worker w; /* static: the per-producer table stays off the stack */
      memset(&w, 0, sizeof w);
      w.c = c;
      w.impl = impl->name;
      w.sh = sh;
      w.slot = &sh->slot[i];
      w.role = role;
      w.id = id;
      int (*fn)(void *, bh_worker *) = role == BH_ROLE_PRODUCER ? impl->producer
                                       : role == BH_ROLE_CONSUMER ? impl->consumer
                                       : role == BH_ROLE_PING     ? impl->ping
                                                                  : impl->pong;
      int rc = fn(state, &w);
      if (role == BH_ROLE_PRODUCER)
        /* release: our counters are final; pairs with bh_producers_done(). */
        atomic_fetch_add_explicit(&sh->producers_done, 1, memory_order_release);
      fflush(NULL);
      _exit(rc == 0 ? 0 : BH_EXIT_ERROR);
    }
    pids[i] = pid;
  }

  if (bad < 0) {
    uint64_t until = bh_now_ns() + BH_READY_TIMEOUT_NS;
    /* acquire: pairs with the release in bh_ready(). */
    while (atomic_load_explicit(&sh->ready, memory_order_acquire) < n) {
      if (reap(pids, n, &bad) < n || bh_now_ns() > until) {
        if (bad < 0)
          snprintf(r->note, sizeof r->note, "workers did not get ready");
        if (bad < 0)
          bad = 0;
        break;
      }
      bh_sleep_ns(BH_POLL_NS);
    }
  }
  if (bad < 0) {
    sh->start_ns = bh_now_ns() + BH_START_DELAY_NS;
    sh->measure_ns = sh->start_ns + (uint64_t)(c->warmup * 1e9);
    sh->deadline_ns = sh->measure_ns + (uint64_t)(c->seconds * 1e9);
    /* release: publishes the timeline; pairs with the acquire in bh_ready(). */
    atomic_store_explicit(&sh->go, 1, memory_order_release);
    uint64_t until = sh->deadline_ns + BH_GRACE_NS;
    while (reap(pids, n, &bad) > 0) {
      if (bad >= 0)
        break;
      if (bh_now_ns() > until) {
        snprintf(r->note, sizeof r->note, "timed out (a worker hung)");
        bad = 0;
        break;
      }
      bh_sleep_ns(BH_POLL_NS);
    }
  }
  if (bad >= 0) {
    kill_all(pids, n);
    for (int i = 0; i < n; i++)
      if (pids[i] > 0)
        waitpid(pids[i], NULL, 0);
    if (!r->note[0]) {
      for (int i = 0; i < n; i++)
        if (sh->slot[i].err[0]) {
          snprintf(r->note, sizeof r->note, "%s", sh->slot[i].err);
          break;
        }
    }
    if (!r->note[0])
      snprintf(r->note, sizeof r->note, "a worker failed (see stderr)");
  }
  if (impl->teardown)
    impl->teardown(state, c);
  if (bad >= 0) {
    munmap(sh, size);
    return;
  }

  if (pipe_case) {
    size_t ns = sh->nsamples;
    r->msgs = ns;
    r->seconds = sh->slot[0].last_ns > sh->measure_ns
                     ? (double)(sh->slot[0].last_ns - sh->measure_ns) / 1e9 : 0;
    if (ns > 0) {
      qsort(sh->samples, ns, sizeof sh->samples[0], cmp_u64);
      r->p50_us = (double)bh_percentile(sh->samples, ns, 0.50) / 1e3;
      r->p99_us = (double)bh_percentile(sh->samples, ns, 0.99) / 1e3;
      r->p999_us = (double)bh_percentile(sh->samples, ns, 0.999) / 1e3;
    }
  } else {
    uint64_t sent = 0, received = 0, last = 0;
    for (int i = 0; i < c->producers; i++)
      sent += sh->slot[i].sent;
    for (int i = c->producers; i < n; i++) {
      received += sh->slot[i].received;
      r->msgs += sh->slot[i].counted;
      if (sh->slot[i].last_ns > last)
        last = sh->slot[i].last_ns;
    }
    if (received != sent) {
      snprintf(r->note, sizeof r->note, "VERIFY: sent %llu messages, received %llu",
               (unsigned long long)sent, (unsigned long long)received);
      fprintf(stderr, "ferry bench: %s: FAILED: %s\n", impl->name, r->note);
      munmap(sh, size);
      return;
    }
    r->seconds = last > sh->measure_ns ? (double)(last - sh->measure_ns) / 1e9 : 0;
  }
  munmap(sh, size);
  if (r->msgs == 0 || r->seconds <= 0) {
    snprintf(r->note, sizeof r->note, "no message in the measured window");
    return;
  }
  r->status = BH_OK;
  r->msgs_per_s = (double)r->msgs / r->seconds;
  r->mb_per_s = r->msgs_per_s * (double)c->msg_bytes / 1e6;
}

/* ---- peer programs ---- */

static void print_json_str(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

void bh_print_result(const bh_result *r)
{
  static const char *const names[] = {"ok", "skipped", "failed"};
  printf("{\"status\":\"%s\",\"note\":", names[r->status]);
  print_json_str(r->note);
  printf(",\"msgs\":%llu,\"seconds\":%.6f,\"msgs_per_s\":%.3f,\"mb_per_s\":%.3f,"
         "\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f}\n",
         (unsigned long long)r->msgs, r->seconds, r->msgs_per_s, r->mb_per_s, r->p50_us,
         r->p99_us, r->p999_us);
  fflush(stdout);
}

/* A decimal number, the whole of s (a peer's command line is checked as
 * strictly as ferry's own). */
static bool peer_number(const char *s, double *out)
{
  if (!*s || s[strspn(s, "0123456789.")])
    return false;
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return !*end && !errno;
}

int bh_peer_main(int argc, char **argv, const bh_impl *impl)
{
  bh_case c = {.kind = BH_QUEUE, .msg_bytes = 64, .producers = 1, .consumers = 1,
               .seconds = 1, .warmup = 0.1, .capacity_bytes = 1 << 20};
  if (argc < 2 || (strcmp(argv[1], "queue") != 0 && strcmp(argv[1], "pipe") != 0)) {
    fprintf(stderr, "usage: %s queue|pipe --msg-bytes N [--producers P] [--consumers C] "
                    "[--seconds S] [--warmup W] [--capacity BYTES]\n", argv[0]);
    return 2;
  }
  c.kind = strcmp(argv[1], "pipe") == 0 ? BH_PIPE : BH_QUEUE;
  for (int i = 2; i < argc; i += 2) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    double x;
    if (!peer_number(v, &x)) {
      fprintf(stderr, "%s: %s wants a number, not '%s'\n", argv[0], k, v);
      return 2;
    }
    if (strcmp(k, "--msg-bytes") == 0 && x >= BH_MIN_MSG && x <= 1 << 30 && x == (uint64_t)x)
      c.msg_bytes = (uint64_t)x;
    else if (strcmp(k, "--producers") == 0 && x >= 1 && x <= BH_MAX_WORKERS && x == (int)x)
      c.producers = (int)x;
    else if (strcmp(k, "--consumers") == 0 && x >= 1 && x <= BH_MAX_WORKERS && x == (int)x)
      c.consumers = (int)x;
    else if (strcmp(k, "--seconds") == 0 && x > 0 && x <= 3600)
      c.seconds = x;
    else if (strcmp(k, "--warmup") == 0 && x >= 0 && x <= 3600)
      c.warmup = x;
    else if (strcmp(k, "--capacity") == 0 && x >= 1 && x <= (double)(1ull << 40) &&
             x == (uint64_t)x)
      c.capacity_bytes = (uint64_t)x;
    else {
      fprintf(stderr, "%s: bad option %s %s\n", argv[0], k, v);
      return 2;
    }
  }
  if (c.kind == BH_PIPE)
    c.producers = c.consumers = 1;
  bh_result r;
  bh_run(impl, &c, &r);
  bh_print_result(&r);
  return 0;
}
