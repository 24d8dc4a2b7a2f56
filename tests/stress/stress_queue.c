/* SPDX-License-Identifier: MIT */
/*
 * stress_queue.c: forked producers and consumers on one named queue, for
 * ft_stress_seconds() (quick tier: a few seconds; long tier:
 * FERRY_STRESS_SECONDS).
 *
 *   clean: N producers x M consumers, mixing copy, batch and zero-copy
 *          calls, with self-checking messages: nothing lost, duplicated,
 *          torn, or reordered within a producer.
 *   chaos: the same traffic while a supervisor SIGKILLs random producers
 *          and consumers hundreds of times and starts new ones (which must
 *          be able to join). No survivor hangs (every wait is bounded and
 *          the children are killed on a deadline), no torn or duplicated
 *          message, messages missing <= consumers killed, and the queue
 *          validates at the end.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/queue.h"
#include "fixtures.h"
#include "test.h"

#define MAX_MSG 256
#define MAX_INC 2048      /* producer incarnations per run */
#define PER_INC 16384     /* messages per incarnation at most */

/* Shared between the supervisor and its children (anonymous mapping). */
struct ledger {
  _Atomic uint32_t stop;             /* producers finish when set */
  _Atomic uint32_t torn, bad_order;  /* consumers' findings */
  _Atomic uint32_t committed[MAX_INC]; /* puts returned 0 (a lower bound) */
  _Atomic uint32_t done[MAX_INC];      /* incarnation finished cleanly */
  _Atomic uint8_t seen[MAX_INC][PER_INC];
};

static struct ledger *L;
static char qname[64];

static void producer(uint32_t id, uint64_t seed)
{
  ferry_queue *p;
  int rc;
  while ((rc = ferry_queue_open(qname, FERRY_ROLE_PRODUCER, NULL, &p)) == -EUSERS)
    usleep(2000);
  CHECK_OK(rc);
  if (rc)
    ft_child_exit();
  uint8_t b[4][MAX_MSG];
  uint32_t seq = 0;
  while (!atomic_load(&L->stop) && seq + 4 <= PER_INC) {
    uint64_t r = ft_rand(&seed) % 4;
    if (r == 0) {
      size_t len = ft_payload_make(b[0], MAX_MSG, id, seq);
      rc = ferry_queue_put(p, b[0], len, FERRY_SEC);
      if (rc == 0)
        atomic_store(&L->committed[id], ++seq);
    } else if (r == 1) {
      void *d;
      size_t len = ft_payload_make(b[0], MAX_MSG, id, seq);
      rc = ferry_queue_reserve(p, MAX_MSG, &d, FERRY_SEC);
      if (rc == 0) {
        memcpy(d, b[0], len);
        CHECK_OK(ferry_queue_commit(p, len));
        atomic_store(&L->committed[id], ++seq);
      }
    } else {
      ferry_queue_vec v[4];
      for (uint32_t i = 0; i < 4; i++)
        v[i] = (ferry_queue_vec){b[i], ft_payload_make(b[i], MAX_MSG, id, seq + i)};
      ssize_t n = ferry_queue_put_many(p, v, 4, FERRY_SEC);
      rc = n < 0 ? (int)n : 0;
      if (n > 0) {
        seq += (uint32_t)n;
        atomic_store(&L->committed[id], seq);
      }
    }
    if (rc && rc != -ETIMEDOUT) {
      CHECK_OK(rc);
      break;
    }
  }
  atomic_store(&L->done[id], 1);
  ferry_queue_close(p);
  ft_child_exit();
}

static void note(const uint8_t *b, size_t len, int64_t *last)
{
  ft_payload_hdr m;
  if (len > MAX_MSG || !ft_payload_check(b, len, &m) || m.id >= MAX_INC || m.seq >= PER_INC) {
    atomic_fetch_add(&L->torn, 1);
    return;
  }
  if (last[m.id] >= (int64_t)m.seq)
    atomic_fetch_add(&L->bad_order, 1);
  last[m.id] = m.seq;
  atomic_fetch_add(&L->seen[m.id][m.seq], 1);
}

static void consumer(uint64_t seed)
{
  ferry_queue *c;
  int rc;
  while ((rc = ferry_queue_open(qname, FERRY_ROLE_CONSUMER, NULL, &c)) == -EUSERS)
    usleep(2000);
  CHECK_OK(rc);
  if (rc)
    ft_child_exit();
  static int64_t last[MAX_INC];
  for (int i = 0; i < MAX_INC; i++)
    last[i] = -1;
  uint8_t b[4][MAX_MSG];
  for (;;) {
    uint64_t r = ft_rand(&seed) % 3;
    if (r == 0) {
      ssize_t n = ferry_queue_get(c, b[0], MAX_MSG, FERRY_SEC);
      if (n == -EPIPE)
        break;
      if (n >= 0)
        note(b[0], (size_t)n, last);
      else if (n != -ETIMEDOUT)
        CHECK_OK((int)n);
    } else if (r == 1) {
      const void *d;
      size_t len;
      rc = ferry_queue_peek(c, &d, &len, FERRY_SEC);
      if (rc == -EPIPE)
        break;
      if (rc == 0) {
        note(d, len, last);
        CHECK_OK(ferry_queue_release(c));
      } else if (rc != -ETIMEDOUT) {
        CHECK_OK(rc);
      }
    } else {
      ferry_queue_vec v[4];
      for (int i = 0; i < 4; i++)
        v[i] = (ferry_queue_vec){b[i], MAX_MSG};
      ssize_t n = ferry_queue_get_many(c, v, 4, FERRY_SEC);
      if (n == -EPIPE)
        break;
      for (ssize_t i = 0; i < n; i++)
        note(b[i], v[i].len, last);
      if (n < 0 && n != -ETIMEDOUT)
        CHECK_OK((int)n);
    }
  }
  ferry_queue_close(c);
  ft_child_exit();
}

static pid_t spawn(bool is_producer, uint32_t id, uint64_t seed)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    if (is_producer)
      producer(id, seed);
    consumer(seed);
  }
  return pid;
}

#define NPROD 3
#define NCONS 3

static void run(bool chaos)
{
  ft_name(qname, sizeof qname, chaos ? "qchaos" : "qclean");
  L = mmap(NULL, sizeof *L, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
           -1, 0);
  REQUIRE(L != MAP_FAILED);
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 64;
  o.max_msg_size = MAX_MSG;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  /* The supervisor counts as a producer, so the stream stays open while
   * every producer child happens to be dead. */
  o.region.role = FERRY_ROLE_PRODUCER;
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(qname, &o, &q));

  pid_t prod[NPROD], cons[NCONS];
  uint32_t next_id = 0;
  uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
  for (int i = 0; i < NPROD; i++)
    prod[i] = spawn(true, next_id++, ft_rand(&seed));
  for (int i = 0; i < NCONS; i++)
    cons[i] = spawn(false, 0, ft_rand(&seed));

  double secs = ft_stress_seconds(chaos ? 4 : 2);
  int64_t end = ft_ms() + (int64_t)(secs * 1000);
  int kills_p = 0, kills_c = 0;
  while (ft_ms() < end) {
    usleep(chaos ? 3000 + (useconds_t)(ft_rand(&seed) % 6000) : 20000);
    if (!chaos)
      continue;
    bool kp = ft_rand(&seed) % 2;
    if (kp && next_id >= MAX_INC)
      kp = false;
    int i = (int)(ft_rand(&seed) % (kp ? NPROD : NCONS));
    pid_t *who = kp ? &prod[i] : &cons[i];
    kill(*who, SIGKILL);
    ft_wait(*who, 10000);
    if (kp)
      kills_p++;
    else
      kills_c++;
    *who = spawn(kp, kp ? next_id++ : 0, ft_rand(&seed));
    ferry_queue_recover(q); /* reclaim slots even if nobody waits */
  }
  atomic_store(&L->stop, 1);
  for (int i = 0; i < NPROD; i++)
    ft_wait_ok(prod[i], 30000);
  /* End the stream: consumers drain, then see -EPIPE. */
  ferry_queue *check;
  REQUIRE_OK(ferry_queue_open(qname, FERRY_ROLE_CONSUMER, NULL, &check));
  ferry_queue_close(q);
  for (int i = 0; i < NCONS; i++)
    ft_wait_ok(cons[i], 30000);
  ferry_queue_recover(check);

  uint64_t committed = 0, missing = 0, dup = 0, extra = 0;
  for (uint32_t id = 0; id < next_id; id++) {
    uint32_t c = atomic_load(&L->committed[id]);
    committed += c;
    for (uint32_t s = 0; s < PER_INC; s++) {
      uint8_t n = atomic_load(&L->seen[id][s]);
      if (n > 1)
        dup++;
      if (s < c && n == 0)
        missing++;
      /* in flight when killed: may have landed (or put_many's tail) */
      if (s >= c && n && atomic_load(&L->done[id]))
        extra++;
    }
  }
  ferry_queue_stats st;
  CHECK_OK(ferry_queue_stats_get(check, &st));
  printf("  %s: %.1fs, %u producers, kills %d producers %d consumers, committed %llu, "
         "missing %llu, lost %llu, holes %llu, recovered %llu\n",
         chaos ? "chaos" : "clean", secs, next_id, kills_p, kills_c,
         (unsigned long long)committed, (unsigned long long)missing,
         (unsigned long long)st.lost, (unsigned long long)st.holes,
         (unsigned long long)st.recovered);
  CHECK_EQ(atomic_load(&L->torn), 0);
  CHECK_EQ(atomic_load(&L->bad_order), 0);
  CHECK_EQ(dup, 0);
  CHECK_EQ(extra, 0);
  CHECK(missing <= (uint64_t)kills_c);
  CHECK(st.lost <= (uint64_t)kills_c);
  CHECK(committed > 0);
  if (!chaos) {
    CHECK_EQ(missing, 0);
    CHECK_EQ(st.puts, committed);
    CHECK_EQ(st.gets, committed);
  }
  CHECK_EQ(ferry_queue_depth(check), 0);
  CHECK_OK(ferry_queue_validate(check, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(check);
  CHECK_OK(ferry_unlink(qname));
  munmap(L, sizeof *L);
}

static void test_clean(void) { run(false); }
static void test_chaos(void) { run(true); }

int main(void)
{
  RUN(test_clean);
  RUN(test_chaos);
  return ft_done();
}
