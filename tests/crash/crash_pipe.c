/* SPDX-License-Identifier: MIT */
/*
 * crash_pipe.c: crash scenarios for the pipe (pipe.* points). The victim
 * takes both ends, sends and receives in both directions (copy and zero
 * copy), and closes both ends, ten times. After it dies at any step, the
 * survivor takes both ends over and must find, in each direction: every
 * message whose send returned and that the victim did not receive, in
 * order, none torn; the one the victim was receiving when it died
 * delivered again rather than lost; nothing else; and a pipe that works.
 */
#include <stdatomic.h>
#include <unistd.h>

#include "crash.h"
#include "ferry/pipe.h"

#define ROUNDS 10
#define MAX_MSG 64

struct pipe_ctx {
  char name[64];
  /* Notes of the victim, per direction d (messages from end d). */
  _Atomic uint32_t sent[2];  /* sends that returned 0: seq 0..sent-1 */
  _Atomic uint32_t recvd[2]; /* receives that returned: seq 0..recvd-1 */
};

struct msg {
  uint32_t dir, seq, sum, len;
  uint8_t fill[MAX_MSG - 16];
};

static uint32_t sum_of(const struct msg *m)
{
  uint32_t h = 2166136261u ^ m->dir ^ (m->seq * 16777619u);
  for (uint32_t i = 0; i < m->len; i++)
    h = (h ^ m->fill[i]) * 16777619u;
  return h;
}

static size_t make(struct msg *m, uint32_t dir, uint32_t seq)
{
  m->dir = dir;
  m->seq = seq;
  m->len = (seq * 5) % sizeof m->fill;
  for (uint32_t i = 0; i < m->len; i++)
    m->fill[i] = (uint8_t)(dir * 101 + seq * 3 + i);
  m->sum = sum_of(m);
  return 16 + m->len;
}

static const struct msg *check_msg(const void *buf, size_t n, uint32_t dir)
{
  const struct msg *m = buf;
  if (n < 16 || n != 16 + m->len || m->len > sizeof m->fill || m->sum != sum_of(m) ||
      m->dir != dir)
    return NULL;
  return m;
}

static void setup(void *p)
{
  struct pipe_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-pipe");
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = 4;
  o.max_msg_size = MAX_MSG;
  o.region.max_participants = 8;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(c->name, &o, &a));
  ferry_pipe_close(a); /* both ends free for the victim */
}

/* The victim's receive on end `at` of what end 1-at sent. */
static void note_recv(struct pipe_ctx *c, int at, const void *buf, ssize_t n)
{
  uint32_t dir = (uint32_t)(1 - at);
  const struct msg *m = check_msg(buf, (size_t)n, dir);
  CHECK(m != NULL);
  if (m) {
    CHECK_EQ(m->seq, atomic_load(&c->recvd[dir]));
    atomic_store(&c->recvd[dir], m->seq + 1);
  }
}

static void send_one(struct pipe_ctx *c, ferry_pipe *p, bool zero_copy)
{
  uint32_t dir = (uint32_t)ferry_pipe_end(p);
  struct msg m;
  size_t n = make(&m, dir, atomic_load(&c->sent[dir]));
  int rc;
  if (zero_copy) {
    void *d;
    if ((rc = ferry_pipe_reserve(p, MAX_MSG, &d, FERRY_SEC)) == 0) {
      memcpy(d, &m, n);
      rc = ferry_pipe_commit(p, n);
    }
  } else {
    rc = ferry_pipe_send(p, &m, n, FERRY_SEC);
  }
  CHECK_OK(rc);
  if (rc == 0)
    atomic_store(&c->sent[dir], m.seq + 1);
}

static void victim(void *p)
{
  struct pipe_ctx *c = p;
  for (int round = 0; round < ROUNDS; round++) {
    ferry_pipe *a, *b;
    REQUIRE_OK(ferry_pipe_open(c->name, NULL, &a));
    REQUIRE_OK(ferry_pipe_open(c->name, NULL, &b));
    int ea = ferry_pipe_end(a), eb = ferry_pipe_end(b);
    uint8_t buf[MAX_MSG];
    send_one(c, a, true);
    /* What the last round left, and the new one. */
    ssize_t n;
    while ((n = ferry_pipe_recv(b, buf, sizeof buf, 0)) >= 0)
      note_recv(c, eb, buf, n);
    CHECK_RC(n, -EAGAIN);
    send_one(c, b, false);
    const void *d;
    size_t len;
    if (ferry_pipe_peek(a, &d, &len, FERRY_SEC) == 0) {
      memcpy(buf, d, len);
      if (ferry_pipe_release(a) == 0)
        note_recv(c, ea, buf, (ssize_t)len);
    }
    /* One message from a to b stays in the ring for the next round. */
    send_one(c, a, false);
    ferry_pipe_close(b);
    ferry_pipe_close(a);
  }
}

static void check(void *p)
{
  struct pipe_ctx *c = p;
  /* Take both ends, over the dead victim if it held them. Its locks go
   * a moment after waitpid(): until then the ends look held. */
  ferry_pipe *e[2] = {NULL, NULL};
  int64_t end = ft_ms() + 10000;
  for (int k = 0; k < 2; k++) {
    ferry_pipe *h = NULL;
    int rc;
    while ((rc = ferry_pipe_open(c->name, NULL, &h)) == -EBUSY && ft_ms() < end)
      usleep(1000);
    REQUIRE_OK(rc);
    e[ferry_pipe_end(h)] = h;
  }
  REQUIRE(e[0] && e[1]);
  for (uint32_t dir = 0; dir < 2; dir++) {
    uint32_t sent = atomic_load(&c->sent[dir]), recvd = atomic_load(&c->recvd[dir]);
    /* The first one here is the next the victim did not note: or the one
     * before (it died with it copied but not freed: delivered again), or
     * the one after (freed but not noted). Sent but not noted: at most
     * the one it was sending. */
    uint32_t lo = recvd > 0 ? recvd - 1 : 0, next = UINT32_MAX;
    union {
      struct msg m;
      uint8_t b[MAX_MSG];
    } u;
    ssize_t n;
    while ((n = ferry_pipe_recv(e[1 - dir], u.b, sizeof u.b, 0)) >= 0) {
      const struct msg *m = check_msg(u.b, (size_t)n, dir);
      CHECK(m != NULL); /* never torn */
      if (!m)
        continue;
      if (next == UINT32_MAX) {
        CHECK(m->seq >= lo && m->seq <= recvd + 1); /* nothing lost before it */
      } else {
        CHECK_EQ(m->seq, next); /* in order, none skipped */
      }
      next = m->seq + 1;
    }
    CHECK_RC(n, -EAGAIN);
    uint32_t upto = next == UINT32_MAX ? recvd : next;
    /* every returned send arrived (or was received, unnoted) */
    CHECK(upto + 1 >= sent && upto <= sent + 1);
  }
  /* Both directions work. */
  uint8_t buf[8];
  CHECK_OK(ferry_pipe_send(e[0], "ping", 4, 0));
  CHECK_EQ(ferry_pipe_recv(e[1], buf, sizeof buf, 0), 4);
  CHECK_OK(ferry_pipe_send(e[1], "pong", 4, 0));
  CHECK_EQ(ferry_pipe_recv(e[0], buf, sizeof buf, 0), 4);
  ferry_pipe_close(e[0]);
  ferry_pipe_close(e[1]);
}

static void teardown(void *p)
{
  struct pipe_ctx *c = p;
  CHECK_OK(ferry_unlink(c->name));
}

CRASH_SCENARIO(pipe, .prefix = "pipe.", .setup = setup, .victim = victim, .check = check,
               .teardown = teardown);
