/* SPDX-License-Identifier: MIT */
/*
 * crash_queue.c: crash scenarios for the queue (queue.* points). The
 * victim puts (single, batch, zero-copy), gets (copy, batch, peek), closes
 * and reopens its handle ten times, and recovers two participants that
 * died before it (a producer holding a reservation, a consumer holding a
 * peeked message). After it dies at any step, the survivor recovers it
 * and must find: no torn message, none twice, every message whose put
 * returned delivered unless the victim died taking it (at most the two
 * of a batch), and a queue that validates and works.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash.h"
#include "ferry/queue.h"

#define ROUNDS 10
#define PER_ROUND 5   /* messages the victim puts per round */
#define SETUP_MSGS 4  /* messages the setup puts for the victim to get */
#define MAX_MSG 64
#define MAXSEQ (ROUNDS * PER_ROUND)

struct queue_ctx {
  char name[64];
  ferry_queue *q; /* the survivor's handle (consumer), opened in setup */
  /* Notes of the victim. */
  _Atomic uint32_t put_done[MAXSEQ];   /* its put of seq returned 0 */
  _Atomic uint32_t victim_got[MAXSEQ]; /* it got seq (returned to it) */
  _Atomic uint32_t setup_got[SETUP_MSGS];
};

/* A self-checking message: producer tag, sequence, filler, checksum. */
struct msg {
  uint32_t tag, seq, sum, len;
  uint8_t fill[MAX_MSG - 16];
};

#define TAG_VICTIM 0x56494354u
#define TAG_SETUP 0x53455455u

static uint32_t sum_of(const struct msg *m)
{
  uint32_t h = 2166136261u ^ m->tag ^ (m->seq * 16777619u);
  for (uint32_t i = 0; i < m->len; i++)
    h = (h ^ m->fill[i]) * 16777619u;
  return h;
}

static size_t make(struct msg *m, uint32_t tag, uint32_t seq)
{
  m->tag = tag;
  m->seq = seq;
  m->len = (seq * 7) % sizeof m->fill;
  for (uint32_t i = 0; i < m->len; i++)
    m->fill[i] = (uint8_t)(seq * 13 + i);
  m->sum = sum_of(m);
  return 16 + m->len;
}

/* A message as received: whole and well-formed, or NULL. */
static const struct msg *check_msg(const void *buf, size_t n)
{
  const struct msg *m = buf;
  if (n < 16 || n != 16 + m->len || m->len > sizeof m->fill || m->sum != sum_of(m))
    return NULL;
  if (m->tag == TAG_VICTIM ? m->seq >= MAXSEQ : m->tag != TAG_SETUP || m->seq >= SETUP_MSGS)
    return NULL;
  return m;
}

/* A participant that dies holding something: a reservation ('p') or a
 * peeked message ('c'). */
static void leave_dead(const char *name, char what)
{
  int fds[2];
  if (pipe(fds) != 0)
    return;
  pid_t pid = fork();
  if (pid == 0) {
    ferry_queue *q;
    void *d;
    const void *cd;
    size_t len;
    int ok = what == 'p'
                 ? ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &q) == 0 &&
                       ferry_queue_reserve(q, 8, &d, 0) == 0
                 : ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q) == 0 &&
                       ferry_queue_peek(q, &cd, &len, 0) == 0;
    if (write(fds[1], ok ? "y" : "n", 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  char b = 0;
  CHECK(read(fds[0], &b, 1) == 1 && b == 'y');
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
}

static void setup(void *p)
{
  struct queue_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-queue");
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 8;
  o.max_msg_size = MAX_MSG;
  o.region.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER;
  o.region.max_participants = 8;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  REQUIRE_OK(ferry_queue_create(c->name, &o, &c->q));
  struct msg m;
  for (uint32_t i = 0; i < SETUP_MSGS; i++) {
    size_t n = make(&m, TAG_SETUP, i);
    CHECK_OK(ferry_queue_put(c->q, &m, n, 0));
  }
  /* The consumer peeks setup message 0 and dies with it: lost. */
  leave_dead(c->name, 'c');
  leave_dead(c->name, 'p');
}

/* Notes a message the victim received. */
static void note_got(struct queue_ctx *c, const void *buf, ssize_t n)
{
  const struct msg *m = check_msg(buf, (size_t)n);
  CHECK(m != NULL);
  if (!m)
    return;
  if (m->tag == TAG_VICTIM)
    CHECK_EQ(atomic_fetch_add(&c->victim_got[m->seq], 1), 0);
  else
    CHECK_EQ(atomic_fetch_add(&c->setup_got[m->seq], 1), 0);
}

static void victim(void *p)
{
  struct queue_ctx *c = p;
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(c->name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, NULL, &q));
  /* Recovers the two that died: the reservation becomes a hole, the
   * peeked message is lost. */
  ferry_queue_recover(q);
  uint32_t seq = 0;
  union {
    struct msg m;
    uint8_t b[MAX_MSG];
  } u;
  for (int round = 0; round < ROUNDS; round++) {
    /* put, put_many (2), reserve + commit, and a cancelled reservation */
    size_t n = make(&u.m, TAG_VICTIM, seq);
    if (ferry_queue_put(q, &u.m, n, FERRY_SEC) == 0)
      atomic_store(&c->put_done[seq], 1);
    seq++;
    struct msg two[2];
    ferry_queue_vec v[2];
    for (int k = 0; k < 2; k++)
      v[k] = (ferry_queue_vec){&two[k], make(&two[k], TAG_VICTIM, seq + (uint32_t)k)};
    ssize_t put = ferry_queue_put_many(q, v, 2, FERRY_SEC);
    for (ssize_t k = 0; k < put; k++)
      atomic_store(&c->put_done[seq + (uint32_t)k], 1);
    seq += 2;
    void *d;
    if (ferry_queue_reserve(q, MAX_MSG, &d, FERRY_SEC) == 0) {
      n = make(&u.m, TAG_VICTIM, seq);
      memcpy(d, &u.m, n);
      if (ferry_queue_commit(q, n) == 0)
        atomic_store(&c->put_done[seq], 1);
    }
    seq++;
    if (ferry_queue_reserve(q, MAX_MSG, &d, FERRY_SEC) == 0)
      ferry_queue_cancel(q);
    seq++; /* a number never used: keeps PER_ROUND per round */
    /* get, get_many, peek + release */
    ssize_t got = ferry_queue_get(q, u.b, sizeof u.b, 0);
    if (got >= 0)
      note_got(c, u.b, got);
    uint8_t bufs[2][MAX_MSG];
    ferry_queue_vec gv[2] = {{bufs[0], MAX_MSG}, {bufs[1], MAX_MSG}};
    ssize_t many = ferry_queue_get_many(q, gv, 2, 0);
    for (ssize_t k = 0; k < many; k++)
      note_got(c, bufs[k], (ssize_t)gv[k].len);
    const void *pd;
    size_t plen;
    if (ferry_queue_peek(q, &pd, &plen, 0) == 0) {
      memcpy(u.b, pd, plen);
      if (ferry_queue_release(q) == 0)
        note_got(c, u.b, (ssize_t)plen);
    }
    /* close and open again */
    ferry_queue_close(q);
    REQUIRE_OK(ferry_queue_open(c->name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, NULL, &q));
  }
  ferry_queue_close(q);
}

static void check(void *p)
{
  struct queue_ctx *c = p;
  ferry_queue *q = c->q;
  /* Recover the victim once the kernel shows it dead (its locks go a
   * moment after waitpid()), and anything it left undone. */
  ferry_region *r = ferry_queue_region(q);
  int64_t end = ft_ms() + 10000;
  ferry_region_info info;
  for (;;) {
    ferry_queue_recover(q);
    REQUIRE_OK(ferry_region_info_get(r, &info));
    if (info.dead == 0 || ft_ms() > end)
      break;
    usleep(1000);
  }
  CHECK_EQ(info.dead, 0);
  CHECK_EQ(info.live, 1);
  uint8_t seen[MAXSEQ] = {0}, seen_setup[SETUP_MSGS] = {0};
  union {
    struct msg m;
    uint8_t b[MAX_MSG];
  } u;
  ssize_t n;
  while ((n = ferry_queue_get(q, u.b, sizeof u.b, 0)) >= 0) {
    const struct msg *m = check_msg(u.b, (size_t)n);
    CHECK(m != NULL); /* never torn */
    if (!m)
      continue;
    if (m->tag == TAG_SETUP) {
      CHECK_EQ(seen_setup[m->seq]++, 0);
      CHECK_EQ(atomic_load(&c->setup_got[m->seq]), 0);
    } else {
      CHECK_EQ(seen[m->seq]++, 0);
      CHECK_EQ(atomic_load(&c->victim_got[m->seq]), 0); /* never twice */
    }
  }
  CHECK(n == -EAGAIN || n == -EPIPE);
  /* Every message whose put returned arrived, except what the victim was
   * taking when it died: one, or the two of a get_many (the first taken
   * whole but not yet returned, the second claimed and lost). */
  int missing = 0;
  for (uint32_t i = 0; i < MAXSEQ; i++)
    if (atomic_load(&c->put_done[i]) && !atomic_load(&c->victim_got[i]) && !seen[i])
      missing++;
  for (uint32_t i = 1; i < SETUP_MSGS; i++) /* 0 died with the consumer */
    if (!atomic_load(&c->setup_got[i]) && !seen_setup[i])
      missing++;
  CHECK(missing <= 2);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK(s.lost >= 1 && s.lost <= 2);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  /* It goes on working. */
  struct msg m;
  size_t len = make(&m, TAG_SETUP, 0);
  CHECK_OK(ferry_queue_put(q, &m, len, 0));
  CHECK_EQ(ferry_queue_get(q, u.b, sizeof u.b, 0), (ssize_t)len);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
}

static void teardown(void *p)
{
  struct queue_ctx *c = p;
  ferry_queue_close(c->q);
  CHECK_OK(ferry_unlink(c->name));
}

CRASH_SCENARIO(queue, .prefix = "queue.", .setup = setup, .victim = victim, .check = check,
               .teardown = teardown);
