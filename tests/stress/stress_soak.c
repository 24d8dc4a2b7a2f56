/* SPDX-License-Identifier: MIT */
/*
 * stress_soak.c: a queue, a bus, a heap and a dict at full rate across real
 * processes for ft_stress_seconds() (quick tier: 4 s; long tier:
 * FERRY_STRESS_SECONDS, e.g. 600 for the ten-minute soak), while the
 * parent samples every few seconds
 *
 *   - each worker's resident memory (Rss in /proc/PID/smaps_rollup), and
 *   - the shared memory committed: the allocated blocks (st_blocks) of each
 *     of the four region files, and the use of /dev/shm as a whole.
 *
 * Workers (each opens its objects by name):
 *   queue   one producer, one consumer: every message is a self-checking
 *           payload whose sequence number must arrive in order, none lost;
 *   bus     one publisher, one subscriber in lockstep: every frame's
 *           pattern is checked, sequence numbers rise by exactly one, and
 *           the subscriber receives every frame published;
 *   heap    a pusher keeps up to HEAP_HIGH records in the heap, a popper
 *           takes them; every payload is checked, and at the end the sum
 *           and count of the sequence numbers popped equal those pushed;
 *   dict    a writer inserts a new key, deletes the one DICT_LIVE keys
 *           older, and rewrites a live key (churning keys, as sessions
 *           do); a reader gets keys that must be live and checks them.
 *
 * The bounds, after a warm-up (a fifth of the run, 1 s to 30 s), against
 * the highest value seen during the warm-up:
 *   - RSS of each worker: at most RSS_SLACK more. The workers allocate
 *     nothing per operation, so their RSS is their code, stacks and the
 *     shared pages they touched, all reached in the warm-up; a leak of one
 *     small allocation per operation (hundreds of thousands a second)
 *     passes RSS_SLACK within a second.
 *   - Committed shared memory of our four files together: at most
 *     SHM_SLACK more. The queue and the bus commit everything at create;
 *     the heap and the dict commit in steps only when what they hold
 *     outgrows what is committed, and what they hold is bounded here
 *     (HEAP_HIGH records, DICT_LIVE keys), so after the warm-up at most one
 *     late step of either may come: SHM_SLACK is one such step (64 KiB)
 *     with room to spare.
 * /dev/shm as a whole is printed, not bounded: other programs use it too.
 */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ferry/bus.h"
#include "ferry/dict.h"
#include "ferry/heap.h"
#include "ferry/queue.h"
#include "fixtures.h"
#include "test.h"

#define RSS_SLACK (2u << 20)
#define SHM_SLACK (256u << 10)
#define HEAP_HIGH 1024
#define HEAP_CAP 4096
#define DICT_LIVE 2000
#define DICT_CAP 4096
#define MSG_MAX 256
#define VAL_MAX 200
#define MAX_SAMPLES 1024
#define STOP_WAIT_MS 60000

enum { W_QPROD, W_QCONS, W_BPUB, W_BSUB, W_HPUSH, W_HPOP, W_DWRITE, W_DREAD, NWORKERS };
static const char *const wnames[NWORKERS] = {"q-prod", "q-cons", "b-pub", "b-sub",
                                             "h-push", "h-pop",  "d-write", "d-read"};
enum { O_QUEUE, O_BUS, O_HEAP, O_DICT, NOBJ };
static const char *const onames[NOBJ] = {"queue", "bus", "heap", "dict"};

/* Shared with the workers (anonymous mapping). */
struct ledger {
  _Atomic uint32_t stop;                /* set by the parent at the end */
  _Atomic uint32_t bus_ready;           /* the publisher created the bus */
  _Atomic uint64_t ops[NWORKERS];       /* operations done */
  _Atomic uint64_t q_put;               /* queue: messages put (final when q_done) */
  _Atomic uint32_t q_done;
  _Atomic uint64_t b_published;         /* bus: frames published (final when b_done) */
  _Atomic uint32_t b_done;
  _Atomic uint64_t h_pushed, h_push_sum; /* heap: final when h_done */
  _Atomic uint32_t h_done;
  _Atomic uint64_t h_popped, h_pop_sum;
  _Atomic uint64_t d_inserted;          /* dict: keys 0..d_inserted-1 were inserted */
};

static struct ledger *L;
static char names[NOBJ][64];
static int64_t g_seconds;

/* A worker outlives the default child alarm of a long soak. */
static void worker_start(void)
{
  alarm(0);
  alarm((unsigned)(g_seconds + 300));
}

static bool stopping(void) { return atomic_load_explicit(&L->stop, memory_order_relaxed) != 0; }

/* ---- queue -------------------------------------------------------------------------- */

static void q_prod(void)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(names[O_QUEUE], FERRY_ROLE_PRODUCER, NULL, &q));
  uint8_t buf[MSG_MAX];
  uint32_t seq = 0;
  while (!stopping()) {
    size_t len = ft_payload_make(buf, sizeof buf, 1, seq);
    int rc = ferry_queue_put(q, buf, len, 100 * FERRY_MSEC);
    if (rc == -ETIMEDOUT)
      continue;
    CHECK_OK(rc);
    if (rc)
      break;
    seq++;
    atomic_fetch_add_explicit(&L->ops[W_QPROD], 1, memory_order_relaxed);
  }
  atomic_store(&L->q_put, seq);
  atomic_store(&L->q_done, 1);
  ferry_queue_close(q);
}

static void q_cons(void)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(names[O_QUEUE], FERRY_ROLE_CONSUMER, NULL, &q));
  uint8_t buf[MSG_MAX];
  uint32_t want = 0;
  int64_t deadline = 0;
  for (;;) {
    if (atomic_load(&L->q_done)) {
      if (want == atomic_load(&L->q_put))
        break;
      if (!deadline)
        deadline = ft_ms() + STOP_WAIT_MS;
      else if (ft_ms() > deadline) {
        CHECK(!"queue: messages missing at the end");
        break;
      }
    }
    ssize_t n = ferry_queue_get(q, buf, sizeof buf, 100 * FERRY_MSEC);
    if (n == -ETIMEDOUT || n == -EPIPE)
      continue;
    CHECK(n >= 0);
    if (n < 0)
      break;
    ft_payload_hdr h;
    CHECK(ft_payload_check(buf, (size_t)n, &h));
    CHECK_EQ(h.id, 1);
    CHECK_EQ(h.seq, want); /* in order, none lost or repeated */
    if (h.seq != want)
      break;
    want++;
    atomic_fetch_add_explicit(&L->ops[W_QCONS], 1, memory_order_relaxed);
  }
  ferry_queue_close(q);
}

/* ---- bus ---------------------------------------------------------------------------- */

static const ferry_array_spec BUS_SPECS[2] = {
    {"img", FERRY_DTYPE_F32, 2, {128, 128}},
    {"aux", FERRY_DTYPE_U32, 1, {256}},
};

static void b_pub(void)
{
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = FERRY_BUS_LOCKSTEP;
  o.slots = 4;
  o.max_subscribers = 2;
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(names[O_BUS], BUS_SPECS, 2, &o, &b));
  atomic_store(&L->bus_ready, 1);
  REQUIRE_OK(ferry_bus_wait_subscribers(b, 1, 30 * FERRY_SEC));
  uint64_t published = 0;
  while (!stopping()) {
    ferry_frame *f;
    int rc = ferry_bus_loan(b, &f, 100 * FERRY_MSEC);
    if (rc == -ETIMEDOUT)
      continue;
    CHECK_OK(rc);
    if (rc)
      break;
    ft_frame_fill(f, ferry_bus_seq(b));
    CHECK_OK(ferry_bus_publish(b, f));
    published++;
    atomic_fetch_add_explicit(&L->ops[W_BPUB], 1, memory_order_relaxed);
  }
  atomic_store(&L->b_published, published);
  atomic_store(&L->b_done, 1);
  ferry_bus_close(b); /* shuts the stream down: the subscriber drains, then -EPIPE */
}

static void b_sub(void)
{
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(names[O_BUS], NULL, &s));
  uint64_t got = 0, last = 0;
  for (;;) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, 100 * FERRY_MSEC);
    if (rc == -ETIMEDOUT)
      continue;
    if (rc == -EPIPE)
      break;
    CHECK_OK(rc);
    if (rc)
      break;
    if (got)
      CHECK_EQ(info.seq, last + 1); /* lockstep: every frame, in order */
    CHECK(ft_frame_verify(f, info.seq));
    last = info.seq;
    got++;
    CHECK_OK(ferry_bus_release(s, f));
    atomic_fetch_add_explicit(&L->ops[W_BSUB], 1, memory_order_relaxed);
  }
  CHECK(atomic_load(&L->b_done));
  CHECK_EQ(got, atomic_load(&L->b_published));
  ferry_bus_unsubscribe(s);
}

/* ---- heap ----------------------------------------------------------------------------- */

static void h_push(void)
{
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_open(names[O_HEAP], NULL, &h));
  uint8_t buf[MSG_MAX];
  uint64_t rng = 7, seq = 0, sum = 0;
  while (!stopping()) {
    if (ferry_heap_size(h) >= HEAP_HIGH) {
      sched_yield();
      continue;
    }
    size_t len = ft_payload_make(buf, sizeof buf, 2, (uint32_t)seq);
    ferry_heap_key k = {.i64 = (int64_t)(ft_rand(&rng) % 100000)};
    int rc = ferry_heap_push(h, k, buf, len, FT_TIMEOUT);
    CHECK_OK(rc);
    if (rc)
      break;
    sum += seq++;
    atomic_fetch_add_explicit(&L->ops[W_HPUSH], 1, memory_order_relaxed);
  }
  atomic_store(&L->h_pushed, seq);
  atomic_store(&L->h_push_sum, sum);
  atomic_store(&L->h_done, 1);
  ferry_heap_close(h);
}

static void h_pop(void)
{
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_open(names[O_HEAP], NULL, &h));
  uint8_t buf[MSG_MAX];
  uint64_t n = 0, sum = 0;
  for (;;) {
    bool done = atomic_load(&L->h_done);
    ssize_t len = ferry_heap_pop(h, NULL, buf, sizeof buf, done ? 0 : 100 * FERRY_MSEC);
    if (len == -EAGAIN || len == -ETIMEDOUT) {
      if (done)
        break; /* the pusher finished before we found the heap empty */
      continue;
    }
    CHECK(len >= 0);
    if (len < 0)
      break;
    ft_payload_hdr hd;
    CHECK(ft_payload_check(buf, (size_t)len, &hd));
    CHECK_EQ(hd.id, 2);
    sum += hd.seq;
    n++;
    atomic_fetch_add_explicit(&L->ops[W_HPOP], 1, memory_order_relaxed);
  }
  atomic_store(&L->h_popped, n);
  atomic_store(&L->h_pop_sum, sum);
  ferry_heap_close(h);
}

/* ---- dict ------------------------------------------------------------------------------ */

static size_t dkey(char *buf, size_t cap, uint64_t i)
{
  return (size_t)snprintf(buf, cap, "session-%llu", (unsigned long long)i);
}

static void d_write(void)
{
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_open(names[O_DICT], NULL, &d));
  char k[32];
  uint8_t v[VAL_MAX];
  uint64_t rng = 11;
  for (uint64_t i = 0; !stopping(); i++) {
    int rc = ferry_dict_set(d, k, dkey(k, sizeof k, i), v, ft_payload_make(v, sizeof v, (uint32_t)i, 0),
                            FT_TIMEOUT);
    CHECK_OK(rc);
    if (rc)
      break;
    /* release: key i is in before the reader may ask for it */
    atomic_store_explicit(&L->d_inserted, i + 1, memory_order_release);
    if (i >= DICT_LIVE)
      CHECK_OK(ferry_dict_del(d, k, dkey(k, sizeof k, i - DICT_LIVE), FT_TIMEOUT));
    uint64_t live_lo = i >= DICT_LIVE ? i - DICT_LIVE + 1 : 0;
    uint64_t j = live_lo + ft_rand(&rng) % (i + 1 - live_lo);
    CHECK_OK(ferry_dict_set(d, k, dkey(k, sizeof k, j), v,
                            ft_payload_make(v, sizeof v, (uint32_t)j, (uint32_t)i), FT_TIMEOUT));
    atomic_fetch_add_explicit(&L->ops[W_DWRITE], 3, memory_order_relaxed);
  }
  ferry_dict_close(d);
}

static void d_read(void)
{
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_open(names[O_DICT], NULL, &d));
  char k[32];
  uint8_t v[VAL_MAX];
  uint64_t rng = 13;
  while (!stopping()) {
    /* acquire: pairs with the writer's release; keys below c1 are in */
    uint64_t c1 = atomic_load_explicit(&L->d_inserted, memory_order_acquire);
    if (c1 == 0) {
      sched_yield();
      continue;
    }
    uint64_t lo = c1 > DICT_LIVE / 2 ? c1 - DICT_LIVE / 2 : 0;
    uint64_t j = lo + ft_rand(&rng) % (c1 - lo);
    ssize_t n = ferry_dict_get(d, k, dkey(k, sizeof k, j), v, sizeof v);
    uint64_t c2 = atomic_load_explicit(&L->d_inserted, memory_order_acquire);
    if (n == -ENOENT) {
      /* Key j is deleted only after key j + DICT_LIVE is in. */
      CHECK(c2 >= j + DICT_LIVE);
    } else {
      CHECK(n >= 0);
      ft_payload_hdr h;
      CHECK(n >= 0 && ft_payload_check(v, (size_t)n, &h) && h.id == (uint32_t)j);
    }
    atomic_fetch_add_explicit(&L->ops[W_DREAD], 1, memory_order_relaxed);
  }
  ferry_dict_close(d);
}

/* ---- sampling ---------------------------------------------------------------------------- */

/* Resident bytes of pid (private and shared pages), or 0 if unreadable.
 * /proc/PID/smaps_rollup counts the page tables exactly; VmRSS in
 * /proc/PID/status (the fallback) is a per-CPU approximation that lags
 * by up to a few hundred pages. */
static uint64_t rss_of(pid_t pid)
{
  static const char *const files[2] = {"smaps_rollup", "status"};
  static const char *const fmts[2] = {"Rss: %llu kB", "VmRSS: %llu kB"};
  for (int i = 0; i < 2; i++) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    unsigned long long kb = 0;
    bool got = false;
    while (!got && fgets(line, sizeof line, f))
      got = sscanf(line, fmts[i], &kb) == 1;
    fclose(f);
    if (got)
      return (uint64_t)kb * 1024;
  }
  return 0;
}

/* Allocated bytes of region name's file (st_blocks), or 0. */
static uint64_t allocated_of(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static uint64_t devshm_used(void)
{
  struct statvfs v;
  if (statvfs("/dev/shm", &v) != 0)
    return 0;
  return (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
}

struct sample {
  double t;
  uint64_t rss[NWORKERS], shm[NOBJ], shm_total, devshm;
};

static void take(struct sample *s, double t, const pid_t *pids)
{
  s->t = t;
  for (int w = 0; w < NWORKERS; w++)
    s->rss[w] = rss_of(pids[w]);
  s->shm_total = 0;
  for (int o = 0; o < NOBJ; o++)
    s->shm_total += s->shm[o] = allocated_of(names[o]);
  s->devshm = devshm_used();
}

static void print_sample(const struct sample *s, bool warm)
{
  printf("  %7.1f%s", s->t, warm ? "w" : " ");
  for (int w = 0; w < NWORKERS; w++)
    printf(" %7llu", (unsigned long long)(s->rss[w] >> 10));
  for (int o = 0; o < NOBJ; o++)
    printf(" %7llu", (unsigned long long)(s->shm[o] >> 10));
  printf(" %8llu\n", (unsigned long long)(s->devshm >> 10));
  fflush(stdout);
}

/* ---- the run ------------------------------------------------------------------------------- */

static void (*const bodies[NWORKERS])(void) = {q_prod, q_cons, b_pub,  b_sub,
                                               h_push, h_pop,  d_write, d_read};

static pid_t spawn(int w)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    worker_start();
    bodies[w]();
    ft_child_exit();
  }
  return pid;
}

static void soak(void)
{
  double seconds = ft_stress_seconds(4.0);
  g_seconds = (int64_t)seconds;
  double period = seconds <= 20 ? 1.0 : 5.0;
  double warmup = seconds / 5;
  warmup = warmup < 1 ? 1 : warmup > 30 ? 30 : warmup;
  REQUIRE((L = ft_shared_alloc(sizeof *L)) != NULL);
  const char *tags[NOBJ] = {"soak-q", "soak-b", "soak-h", "soak-d"};
  for (int o = 0; o < NOBJ; o++)
    ft_name(names[o], sizeof names[o], tags[o]);

  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  qo.capacity = 1024;
  qo.max_msg_size = MSG_MAX;
  qo.region.role = FERRY_ROLE_CONSUMER; /* the parent only looks */
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(names[O_QUEUE], &qo, &q));
  ferry_heap_options ho;
  ferry_heap_options_init(&ho);
  ho.capacity = HEAP_CAP;
  ho.max_capacity = HEAP_CAP;
  ho.max_payload = MSG_MAX;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(names[O_HEAP], &ho, &h));
  ferry_dict_options dop;
  ferry_dict_options_init(&dop);
  dop.capacity = DICT_CAP;
  dop.max_capacity = DICT_CAP * 4;
  dop.max_key = 24;
  dop.max_value = VAL_MAX;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(names[O_DICT], &dop, &d));

  pid_t pids[NWORKERS];
  pids[W_BPUB] = spawn(W_BPUB);
  int64_t ready_by = ft_ms() + 10000;
  while (!atomic_load(&L->bus_ready) && ft_ms() < ready_by)
    usleep(1000);
  REQUIRE(atomic_load(&L->bus_ready));
  for (int w = 0; w < NWORKERS; w++)
    if (w != W_BPUB)
      pids[w] = spawn(w);

  printf("soak: %.0f s, a sample every %.0f s, warm-up %.0f s (w); RSS per worker and "
         "allocated bytes per region file in KiB, /dev/shm used in KiB\n",
         seconds, period, warmup);
  printf("  %8s", "t (s)");
  for (int w = 0; w < NWORKERS; w++)
    printf(" %7s", wnames[w]);
  for (int o = 0; o < NOBJ; o++)
    printf(" %7s", onames[o]);
  printf(" %8s\n", "/dev/shm");

  static struct sample samples[MAX_SAMPLES];
  struct sample base = {0};
  int ns = 0;
  int64_t t0 = ft_ms();
  for (double next = period;; next += period) {
    double now;
    while ((now = (double)(ft_ms() - t0) / 1000) < next && now < seconds)
      usleep(20000);
    if (now >= seconds + 0.001 && next > seconds)
      break;
    struct sample *s = &samples[ns < MAX_SAMPLES ? ns : MAX_SAMPLES - 1];
    take(s, now, pids);
    bool warm = ns == 0 || now < warmup + period / 2;
    print_sample(s, warm);
    if (warm) {
      for (int w = 0; w < NWORKERS; w++)
        if (s->rss[w] > base.rss[w])
          base.rss[w] = s->rss[w];
      if (s->shm_total > base.shm_total)
        base.shm_total = s->shm_total;
    } else {
      for (int w = 0; w < NWORKERS; w++)
        if (s->rss[w] > base.rss[w] + RSS_SLACK)
          ft_fail(__FILE__, __LINE__, "%s: RSS %llu KiB at %.1f s, more than %llu KiB + %u KiB",
                  wnames[w], (unsigned long long)(s->rss[w] >> 10), now,
                  (unsigned long long)(base.rss[w] >> 10), RSS_SLACK >> 10);
      if (s->shm_total > base.shm_total + SHM_SLACK)
        ft_fail(__FILE__, __LINE__,
                "committed shared memory %llu KiB at %.1f s, more than %llu KiB + %u KiB",
                (unsigned long long)(s->shm_total >> 10), now,
                (unsigned long long)(base.shm_total >> 10), SHM_SLACK >> 10);
    }
    ns++;
    if (now >= seconds)
      break;
  }
  CHECK(ns >= 2); /* a warm-up sample and one after */

  atomic_store(&L->stop, 1);
  for (int w = 0; w < NWORKERS; w++)
    ft_wait_ok(pids[w], STOP_WAIT_MS);
  printf("  operations:");
  for (int w = 0; w < NWORKERS; w++)
    printf(" %s %llu", wnames[w], (unsigned long long)atomic_load(&L->ops[w]));
  printf("\n");
  /* Every worker made progress, and the heap lost and repeated nothing. */
  for (int w = 0; w < NWORKERS; w++)
    CHECK(atomic_load(&L->ops[w]) > 0);
  CHECK_EQ(atomic_load(&L->h_popped), atomic_load(&L->h_pushed));
  CHECK_EQ(atomic_load(&L->h_pop_sum), atomic_load(&L->h_push_sum));
  CHECK_EQ(ferry_heap_size(h), 0);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  uint64_t inserted = atomic_load(&L->d_inserted);
  CHECK_EQ(ferry_dict_size(d), (ssize_t)(inserted < DICT_LIVE ? inserted : DICT_LIVE));
  ferry_heap_stats hs;
  ferry_dict_stats ds;
  CHECK_OK(ferry_heap_stats_get(h, &hs));
  CHECK_OK(ferry_dict_stats_get(d, &ds));
  ferry_region_info hi, di;
  CHECK_OK(ferry_region_info_get(ferry_heap_region(h), &hi));
  CHECK_OK(ferry_region_info_get(ferry_dict_region(d), &di));
  printf("  heap: %llu KiB committed of a %llu KiB file; dict: %llu KiB committed (%llu KiB used) "
         "of a %llu KiB file, %llu slots handed out for %llu inserts\n",
         (unsigned long long)(hs.committed_bytes >> 10), (unsigned long long)(hi.total_size >> 10),
         (unsigned long long)(ds.committed_bytes >> 10), (unsigned long long)(ds.used_bytes >> 10),
         (unsigned long long)(di.total_size >> 10), (unsigned long long)ds.slots_used,
         (unsigned long long)inserted);
  ferry_queue_close(q);
  ferry_heap_close(h);
  ferry_dict_close(d);
  for (int o = 0; o < NOBJ; o++)
    ferry_unlink(names[o]);
}

int main(void)
{
  RUN(soak);
  return ft_done();
}
