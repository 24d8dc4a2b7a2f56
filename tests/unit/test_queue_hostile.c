/* SPDX-License-Identifier: MIT */
/*
 * test_queue_hostile.c: what a careless or hostile peer can do to a queue,
 * and what the queue must do about it. A peer that writes an impossible
 * cell length, rewrites the header's geometry after we opened, or moves a
 * cell's lap word ahead of the tail gets FERRY_ECORRUPT or is ignored:
 * never a read outside the region, never a call that outlives its
 * timeout. A fork child that inherits a handle cannot use it, and closing
 * it does not end the stream for its parent's consumers.
 *
 * The calls under test run in a child that opens the queue itself, so
 * that a crash or a hang is a failed test rather than a dead suite.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/queue.h"
#include "queue_layout.h"
#include "test.h"

#define BOTH (FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER)

static ferry_queue_options opts(uint32_t cap, uint32_t max_msg, uint32_t role)
{
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.role = role;
  o.region.max_participants = 4;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  o.spin_ns = 2000;
  return o;
}

/* The queue header, as any process that maps the region sees it. */
static struct ferry__queue_hdr *hdr_of(ferry_queue *q)
{
  return ferry_region_data(ferry_queue_region(q));
}

/* Cell i of a queue whose true geometry was saved before a peer wrote it. */
struct geometry {
  uint64_t cells_offset, stride, stats_offset;
  uint32_t capacity, max_participants;
};

static struct geometry geometry_of(ferry_queue *q)
{
  struct ferry__queue_hdr *h = hdr_of(q);
  return (struct geometry){h->cells_offset, h->stride, h->stats_offset, h->capacity,
                           h->max_participants};
}

static struct ferry__queue_cell *cell_of(ferry_queue *q, const struct geometry *g, uint32_t i)
{
  return (struct ferry__queue_cell *)((uint8_t *)hdr_of(q) + g->cells_offset + i * g->stride);
}

/* Runs fn(name) in a child with a deadline: a crash or a hang fails. */
static void in_child(void (*fn)(const char *), const char *name, int timeout_ms)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    fn(name);
    ft_child_exit();
  }
  int st = ft_wait(pid, timeout_ms);
  if (st != -1 && WIFSIGNALED(st))
    ft_fail(__FILE__, __LINE__, "the child died of signal %d", WTERMSIG(st));
  else if (st != -1)
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Creates a queue of 4 cells of 16 bytes named after tag, puts `first` in
 * it (if not NULL), runs fn(name) in a child as in_child(), and removes
 * the queue. */
static void in_child_on_queue(const char *tag, const char *first, void (*fn)(const char *),
                              int timeout_ms)
{
  char name[64];
  ft_name(name, sizeof name, tag);
  ferry_queue_options o = opts(4, 16, BOTH);
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, &o, &q));
  if (first)
    CHECK_OK(ferry_queue_put(q, first, strlen(first), 0));
  in_child(fn, name, timeout_ms);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* ---- a cell length beyond max_msg (issue 8, defect 2) ---------------------- */

static void cell_len_calls(const char *name)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(name, BOTH, NULL, &q));
  struct geometry g = geometry_of(q);
  struct ferry__queue_cell *c = cell_of(q, &g, 0);
  size_t cap = 4u << 20;
  char *buf = malloc(cap);
  REQUIRE(buf);
  atomic_store(&c->len, 1u << 20); /* a length no put could write */
  CHECK_RC(ferry_queue_get(q, buf, cap, 0), FERRY_ECORRUPT);
  const void *d = NULL;
  size_t len = 0;
  CHECK_RC(ferry_queue_peek(q, &d, &len, 0), FERRY_ECORRUPT);
  CHECK(d == NULL && len == 0); /* outputs untouched */
  ferry_queue_vec v = {buf, cap};
  CHECK_RC(ferry_queue_get_many(q, &v, 1, 0), FERRY_ECORRUPT);
  atomic_store(&c->len, 17u); /* one past max_msg */
  CHECK_RC(ferry_queue_get(q, buf, cap, 0), FERRY_ECORRUPT);
  /* Nothing was taken: with the length put right, the message is there. */
  atomic_store(&c->len, 5u);
  CHECK_EQ(ferry_queue_get(q, buf, cap, 0), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  free(buf);
  ferry_queue_close(q);
}

static void test_cell_len_beyond_max_msg(void)
{
  in_child_on_queue("qlen", "hello", cell_len_calls, 10000);
}

/* ---- geometry rewritten after open (issue 8, defect 3) --------------------- */

static void rewritten_geometry_calls(const char *name)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(name, BOTH, NULL, &q));
  struct ferry__queue_hdr *h = hdr_of(q);
  struct geometry g = geometry_of(q);
  /* A peer rewrites every size and offset once we validated them. */
  h->stats_offset = UINT64_C(1) << 40;
  h->cells_offset = UINT64_C(1) << 40;
  h->stride = UINT64_C(1) << 30;
  h->capacity = FERRY_QUEUE_MAX_CAPACITY;
  h->max_msg = FERRY_QUEUE_MAX_MSG;
  h->max_participants = FERRY_MAX_PARTICIPANTS_LIMIT;
  /* Everything goes on with the geometry we validated. */
  char buf[64];
  CHECK_OK(ferry_queue_put(q, "abc", 3, 0));
  CHECK_RC(ferry_queue_put(q, buf, 17, 0), -EMSGSIZE); /* max_msg is still 16 */
  CHECK_EQ(ferry_queue_depth(q), 2);
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(q, &s));
  CHECK_EQ(s.capacity, 4);
  CHECK_EQ(s.max_msg_size, 16);
  CHECK_EQ(s.puts, 2);
  CHECK(ferry_queue_recover(q) >= 0);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 3);
  CHECK(memcmp(buf, "hello", 3) == 0);
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 3);
  CHECK(memcmp(buf, "abc", 3) == 0);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 0), -EAGAIN);
  /* validate reads the header afresh, and says what happened to it. */
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  /* A new open refuses the header; an observer's stat too. */
  ferry_queue *q2 = NULL;
  CHECK_RC(ferry_queue_open(name, BOTH, NULL, &q2), FERRY_ECORRUPT);
  CHECK(q2 == NULL);
  CHECK_RC(ferry_queue_stat(name, &s), FERRY_ECORRUPT);
  h->stats_offset = g.stats_offset;
  h->cells_offset = g.cells_offset;
  h->stride = g.stride;
  h->capacity = g.capacity;
  h->max_msg = 16;
  h->max_participants = g.max_participants;
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  /* A max_msg that fits the same stride (10 and 16 both make 32-byte
   * cells) agrees with every size: only the checksum tells it. */
  h->max_msg = 10;
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_open(name, BOTH, NULL, &q2), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_stat(name, &s), FERRY_ECORRUPT);
  h->max_msg = 16;
  /* Below, each rewrite is sealed with a fresh checksum, so that the
   * geometry checks behind the checksum must catch it. The stride of
   * layout 3.x (whole cache lines, 64 for 16-byte messages) is not this
   * layout's (32): refused, never read with. */
  CHECK_EQ(g.stride, 32);
  h->stride = 64;
  h->checksum = ferry__queue_hdr_checksum(h);
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_open(name, BOTH, NULL, &q2), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_stat(name, &s), FERRY_ECORRUPT);
  h->stride = g.stride;
  /* A smaller capacity fits inside the region, but it is not the size the
   * creator asked for: refused too. */
  h->capacity = 2;
  h->checksum = ferry__queue_hdr_checksum(h);
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_open(name, BOTH, NULL, &q2), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_stat(name, &s), FERRY_ECORRUPT);
  h->capacity = g.capacity;
  h->checksum = ferry__queue_hdr_checksum(h);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  /* Another spin, sealed: it passes every check of a new open, but not
   * validate's comparison with this handle. */
  uint64_t spin = h->spin_ns;
  h->spin_ns = spin + 1;
  h->checksum = ferry__queue_hdr_checksum(h);
  CHECK_OK(ferry_queue_stat(name, &s));
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  h->spin_ns = spin;
  h->checksum = ferry__queue_hdr_checksum(h);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(q);
}

static void test_geometry_rewritten_after_open(void)
{
  in_child_on_queue("qgeom", "hel", rewritten_geometry_calls, 10000);
}

/* ---- a lap word ahead of the tail (issue 8, defect 4) ----------------------- */

static void seq_ahead_calls(const char *name)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(name, BOTH, NULL, &q));
  struct geometry g = geometry_of(q);
  struct ferry__queue_cell *c = cell_of(q, &g, 0);
  uint64_t was = atomic_load(&c->seq);
  atomic_store(&c->seq, was + 1000); /* a lap no claim could have reached */
  char buf[16];
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_queue_put(q, "x", 1, 100 * FERRY_MSEC), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_put(q, "x", 1, 0), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, 100 * FERRY_MSEC), FERRY_ECORRUPT);
  CHECK_RC(ferry_queue_get(q, buf, sizeof buf, FERRY_FOREVER), FERRY_ECORRUPT);
  CHECK(ft_ms() - t0 < 1000);
  CHECK_RC(ferry_queue_validate(q, 0), FERRY_ECORRUPT);
  atomic_store(&c->seq, was);
  CHECK_OK(ferry_queue_put(q, "x", 1, 0));
  CHECK_EQ(ferry_queue_get(q, buf, sizeof buf, 0), 1);
  CHECK_OK(ferry_queue_validate(q, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(q);
}

static void test_seq_ahead_of_tail(void)
{
  in_child_on_queue("qseq", NULL, seq_ahead_calls, 5000);
}

/* ---- positions at the top of the 64-bit range ----------------------------- */

/* A scribbled head of UINT64_MAX, with a tail one ahead (wrapped to 0) and
 * the cell's lap word and length to match, gives a peek at that position:
 * its release must still find it (found by corrupt_regions). */
static void top_positions_calls(const char *name)
{
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_open(name, BOTH, NULL, &q));
  struct geometry g = geometry_of(q);
  struct ferry__queue_hdr *h = hdr_of(q);
  struct ferry__queue_cell *c = cell_of(q, &g, (uint32_t)(UINT64_MAX % g.capacity));
  atomic_store(&h->head, UINT64_MAX);
  atomic_store(&h->tail, 0);
  c->len = 1;
  c->data[0] = 'x';
  atomic_store(&c->seq, 0); /* full at UINT64_MAX: seq = pos + 1 */
  const void *p;
  size_t len;
  int rc = ferry_queue_peek(q, &p, &len, 0);
  CHECK_OK(rc);
  if (rc == 0) {
    CHECK_EQ(len, 1);
    CHECK_OK(ferry_queue_release(q));
  }
  ferry_queue_close(q);
}

static void test_top_positions(void)
{
  in_child_on_queue("qtop", NULL, top_positions_calls, 5000);
}

/* ---- a fork child closes an inherited handle (issue 8, defect 10) ---------- */

static void test_fork_child_closes_inherited_handle(void)
{
  char name[64];
  ft_name(name, sizeof name, "qfork");
  ferry_queue_options o = opts(8, 16, FERRY_ROLE_CONSUMER);
  ferry_queue *cons;
  REQUIRE_OK(ferry_queue_create(name, &o, &cons));
  ferry_queue *prod;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_PRODUCER, NULL, &prod));
  CHECK_OK(ferry_queue_put(prod, "one", 3, 0));
  void *d;
  REQUIRE_OK(ferry_queue_reserve(prod, 3, &d, 0));
  memcpy(d, "two", 3);
  pid_t pid = ft_fork();
  if (pid == 0) {
    /* The handles are the parent's: every call refuses, and close (here,
     * and again at exit) leaves the parent registered and its reservation
     * alone. */
    char b[16];
    CHECK_RC(ferry_queue_put(prod, "bad", 3, 0), FERRY_EFORKED);
    CHECK_RC(ferry_queue_commit(prod, 3), FERRY_EFORKED);
    CHECK_RC(ferry_queue_cancel(prod), FERRY_EFORKED);
    CHECK_RC(ferry_queue_get(cons, b, sizeof b, 0), FERRY_EFORKED);
    CHECK_RC(ferry_queue_shutdown(prod), FERRY_EFORKED);
    CHECK_RC(ferry_queue_recover(prod), FERRY_EFORKED);
    ferry_queue_stats s;
    CHECK_RC(ferry_queue_stats_get(prod, &s), FERRY_EFORKED);
    ferry_queue_close(prod);
    ferry_queue_close(cons);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  /* The producer is alive and still holds its reservation: the stream has
   * not ended, and nothing was turned into a hole. */
  char b[16];
  CHECK_EQ(ferry_queue_get(cons, b, sizeof b, 0), 3);
  CHECK(memcmp(b, "one", 3) == 0);
  CHECK_RC(ferry_queue_get(cons, b, sizeof b, 100 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_OK(ferry_queue_commit(prod, 3));
  CHECK_EQ(ferry_queue_get(cons, b, sizeof b, 0), 3);
  CHECK(memcmp(b, "two", 3) == 0);
  CHECK_OK(ferry_queue_put(prod, "three", 5, 0));
  ferry_queue_stats s;
  CHECK_OK(ferry_queue_stats_get(cons, &s));
  CHECK_EQ(s.producers, 1);
  CHECK_EQ(s.holes, 0);
  CHECK_EQ(s.puts, 3);
  ferry_queue_close(prod); /* now the stream ends, after a drain */
  CHECK_EQ(ferry_queue_get(cons, b, sizeof b, 0), 5);
  CHECK_RC(ferry_queue_get(cons, b, sizeof b, FERRY_FOREVER), -EPIPE);
  CHECK_OK(ferry_queue_validate(cons, FERRY_QUEUE_VALIDATE_QUIESCENT));
  ferry_queue_close(cons);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_cell_len_beyond_max_msg);
  RUN(test_geometry_rewritten_after_open);
  RUN(test_seq_ahead_of_tail);
  RUN(test_top_positions);
  RUN(test_fork_child_closes_inherited_handle);
  return ft_done();
}
