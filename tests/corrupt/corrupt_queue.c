/* SPDX-License-Identifier: MIT */
/*
 * corrupt_queue.c: random corruption of a queue: its region header,
 * participant table, queue header, statistics rows and cells. The
 * operator opens the queue as producer and consumer and uses every call
 * (copy, batch and zero-copy puts and gets, statistics, validate,
 * recover), reopening it now and then. Every result must be a valid one
 * or an error: lengths within max_msg_size and the caller's buffer,
 * lent pointers inside the region, depths within the capacity.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/queue.h"

#define CAP 8
#define MAX_MSG 64

struct queue_state {
  ferry_queue *q;
  int batches;
  bool reserved, peeked;
};

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-queue");
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = CAP;
  o.max_msg_size = MAX_MSG;
  o.region.max_participants = 8;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  o.spin_ns = 1000;
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(c->name, &o, &q));
  ferry_queue_close(q);
}

/* An error a queue call may return when its region is scribbled on. */
static bool queue_error(int rc)
{
  return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EPIPE || rc == -EMSGSIZE ||
         rc == -EBUSY || rc == FERRY_ECORRUPT;
}

static void check_len(ssize_t n, size_t cap)
{
  if (n >= 0)
    CHECK((size_t)n <= cap && n <= MAX_MSG);
  else
    CHECK(queue_error((int)n));
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct queue_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->q || ++st->batches % 20 == 0) {
    ferry_queue_close(st->q); /* releases a reservation or a peek */
    st->q = NULL;
    st->reserved = st->peeked = false;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    int rc = ferry_queue_open(c->name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, &o, &st->q);
    if (rc) {
      st->q = NULL; /* a clear error: a corrupt header, or a full table */
      CHECK(rc < 0);
      return;
    }
  }
  ferry_queue *q = st->q;
  uint8_t buf[2 * MAX_MSG], msg[MAX_MSG];
  memset(msg, (int)(ft_rand(rng) & 0xff), sizeof msg);
  int64_t t = (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC;
  size_t len = (size_t)(ft_rand(rng) % (MAX_MSG + 1));
  int rc = ferry_queue_put(q, msg, len, t);
  CHECK(rc == 0 || queue_error(rc));
  size_t cap = (size_t)(ft_rand(rng) % sizeof buf);
  check_len(ferry_queue_get(q, buf, cap, t), cap);

  ferry_queue_vec in[3] = {{msg, 1}, {msg, MAX_MSG}, {msg, 0}};
  ssize_t n = ferry_queue_put_many(q, in, 3, t);
  CHECK((n >= 0 && n <= 3) || queue_error((int)n));
  uint8_t b2[3][MAX_MSG];
  ferry_queue_vec out[3] = {{b2[0], MAX_MSG}, {b2[1], 8}, {b2[2], MAX_MSG}};
  n = ferry_queue_get_many(q, out, 3, t);
  CHECK((n >= 0 && n <= 3) || queue_error((int)n));
  for (ssize_t i = 0; i < n && i < 3; i++)
    CHECK(out[i].len <= (i == 1 ? 8u : (size_t)MAX_MSG));

  uint8_t *base = ferry_region_data(ferry_queue_region(q));
  size_t size = ferry_region_data_size(ferry_queue_region(q));
  if (!st->reserved) {
    void *d = NULL;
    rc = ferry_queue_reserve(q, MAX_MSG, &d, t);
    if (rc == 0) {
      CHECK((uint8_t *)d >= base && (uint8_t *)d + MAX_MSG <= base + size);
      memcpy(d, msg, MAX_MSG);
      st->reserved = true;
    } else {
      CHECK(queue_error(rc));
    }
  } else {
    rc = ft_rand(rng) % 2 ? ferry_queue_commit(q, MAX_MSG / 2) : ferry_queue_cancel(q);
    CHECK_OK(rc); /* our own reservation: nothing shared decides */
    st->reserved = false;
  }
  if (!st->peeked) {
    const void *d = NULL;
    size_t dl = 0;
    rc = ferry_queue_peek(q, &d, &dl, t);
    if (rc == 0) {
      CHECK(dl <= MAX_MSG);
      CHECK((const uint8_t *)d >= base && (const uint8_t *)d + dl <= base + size);
      st->peeked = true;
    } else {
      CHECK(queue_error(rc));
    }
  } else {
    CHECK_OK(ferry_queue_release(q));
    st->peeked = false;
  }

  CHECK(ferry_queue_depth(q) <= CAP);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.capacity, CAP);
  CHECK_EQ(s.max_msg_size, MAX_MSG);
  CHECK(s.depth <= CAP);
  rc = ferry_queue_validate(q, 0);
  CHECK(rc == 0 || rc == FERRY_ECORRUPT);
  CHECK(ferry_queue_recover(q) >= 0);
  ferry_queue_stat(c->name, &s); /* an observer: any result but a crash */
}

static void teardown(struct corrupt_ctx *c)
{
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(queue, .kind = "queue", .setup = setup, .operate = operate,
                 .teardown = teardown);
