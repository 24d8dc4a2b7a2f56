/* SPDX-License-Identifier: MIT */
/*
 * bench_ferry.c: ferry's own side of `ferry bench`: the queue through its
 * copy API (put/get), its batch API (put_many/get_many) and its zero-copy
 * API (reserve/commit, peek/release), and the pipe's ping-pong (copy API:
 * send/recv).
 *
 * Unlike the peers, ferry's consumers need no end markers: a get returns
 * -EPIPE once every producer closed and the queue is drained (queue.h),
 * which is how ferry is meant to be used. The batch consumer could not use
 * markers anyway: one get_many may take another consumer's marker.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/pipe.h"
#include "ferry/queue.h"

#define FILL_BYTE 0xa5
#define BATCH_MAX 32 /* messages per put_many/get_many */

struct fq {
  char name[64];
  ferry_queue *creator;
};

static int fq_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static struct fq f;
  size_t depth = bh_capacity_msgs(c);
  if (depth > FERRY_QUEUE_MAX_CAPACITY)
    depth = FERRY_QUEUE_MAX_CAPACITY;
  snprintf(f.name, sizeof f.name, "ferry.bench.%d", (int)getpid());
  ferry_unlink(f.name);
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = (uint32_t)depth;
  o.max_msg_size = (uint32_t)c->msg_bytes;
  /* The parent only holds the queue open: as a consumer, so that it never
   * counts as a producer and the stream ends when the workers' producers
   * close. */
  o.region.role = FERRY_ROLE_CONSUMER;
  int rc = ferry_queue_create(f.name, &o, &f.creator);
  if (rc != 0) {
    snprintf(why, cap, "ferry_queue_create: %s", ferry_strerror(rc));
    return BH_FAILED;
  }
  snprintf(why, cap, "capacity %zu messages", depth);
  *state = &f;
  return BH_OK;
}

static void fq_teardown(void *state, const bh_case *c)
{
  (void)c;
  struct fq *f = state;
  ferry_queue_close(f->creator);
  f->creator = NULL;
  ferry_unlink(f->name);
}

static ferry_queue *fq_open(bh_worker *w, struct fq *f, uint32_t role)
{
  ferry_queue *q = NULL;
  int rc = ferry_queue_open(f->name, role, NULL, &q);
  if (rc != 0)
    bh_fail(w, "ferry_queue_open: %s", ferry_strerror(rc));
  return q;
}

static void *msg_alloc(bh_worker *w)
{
  size_t m = bh_worker_case(w)->msg_bytes;
  void *p = malloc(m);
  if (!p)
    bh_fail(w, "out of memory");
  memset(p, FILL_BYTE, m);
  return p;
}

/* ---- copy API ---- */

static int fq_copy_producer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_PRODUCER);
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    int rc = ferry_queue_put(q, buf, m, FERRY_FOREVER);
    if (rc != 0)
      bh_fail(w, "ferry_queue_put: %s", ferry_strerror(rc));
  }
  ferry_queue_close(q);
  free(buf);
  return 0;
}

static int fq_copy_consumer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_CONSUMER);
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    ssize_t n = ferry_queue_get(q, buf, m, FERRY_FOREVER);
    if (n == -EPIPE)
      break;
    if (n < 0)
      bh_fail(w, "ferry_queue_get: %s", ferry_strerror((int)n));
    bh_take(w, buf, (size_t)n);
  }
  bh_end(w, true);
  ferry_queue_close(q);
  free(buf);
  return 0;
}

const bh_impl bench_ferry_queue_copy = {"ferry", fq_setup, fq_copy_producer, fq_copy_consumer,
                                        NULL, NULL, fq_teardown};

/* ---- batch API ---- */

static size_t batch_size(const bh_case *c)
{
  size_t b = bh_capacity_msgs(c) / 2;
  return b < 1 ? 1 : b > BATCH_MAX ? BATCH_MAX : b;
}

static int fq_batch_producer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_PRODUCER);
  const bh_case *c = bh_worker_case(w);
  size_t nb = batch_size(c);
  ferry_queue_vec v[BATCH_MAX];
  for (size_t i = 0; i < nb; i++)
    v[i] = (ferry_queue_vec){msg_alloc(w), c->msg_bytes};
  bh_ready(w);
  while (bh_running(w)) {
    for (size_t i = 0; i < nb; i++)
      bh_stamp(w, v[i].data);
    for (size_t done = 0; done < nb;) {
      ssize_t k = ferry_queue_put_many(q, v + done, nb - done, FERRY_FOREVER);
      if (k <= 0)
        bh_fail(w, "ferry_queue_put_many: %s", ferry_strerror(k < 0 ? (int)k : -EIO));
      done += (size_t)k;
    }
  }
  ferry_queue_close(q);
  for (size_t i = 0; i < nb; i++)
    free(v[i].data);
  return 0;
}

static int fq_batch_consumer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_CONSUMER);
  const bh_case *c = bh_worker_case(w);
  size_t nb = batch_size(c);
  ferry_queue_vec v[BATCH_MAX];
  void *bufs[BATCH_MAX];
  for (size_t i = 0; i < nb; i++)
    bufs[i] = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    for (size_t i = 0; i < nb; i++)
      v[i] = (ferry_queue_vec){bufs[i], c->msg_bytes};
    ssize_t k = ferry_queue_get_many(q, v, nb, FERRY_FOREVER);
    if (k == -EPIPE)
      break;
    if (k <= 0)
      bh_fail(w, "ferry_queue_get_many: %s", ferry_strerror(k < 0 ? (int)k : -EIO));
    for (ssize_t i = 0; i < k; i++)
      bh_take(w, v[i].data, v[i].len);
  }
  bh_end(w, true);
  ferry_queue_close(q);
  for (size_t i = 0; i < nb; i++)
    free(bufs[i]);
  return 0;
}

const bh_impl bench_ferry_queue_batch = {"ferry-batch", fq_setup, fq_batch_producer,
                                         fq_batch_consumer, NULL, NULL, fq_teardown};

/* ---- zero-copy API: the producer writes the header in place; the
 * consumer reads every byte in place (bh_read_all) ---- */

static int fq_zc_producer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_PRODUCER);
  size_t m = bh_worker_case(w)->msg_bytes;
  bh_ready(w);
  while (bh_running(w)) {
    void *data;
    int rc = ferry_queue_reserve(q, m, &data, FERRY_FOREVER);
    if (rc != 0)
      bh_fail(w, "ferry_queue_reserve: %s", ferry_strerror(rc));
    bh_stamp(w, data);
    rc = ferry_queue_commit(q, m);
    if (rc != 0)
      bh_fail(w, "ferry_queue_commit: %s", ferry_strerror(rc));
  }
  ferry_queue_close(q);
  return 0;
}

static int fq_zc_consumer(void *state, bh_worker *w)
{
  ferry_queue *q = fq_open(w, state, FERRY_ROLE_CONSUMER);
  bh_ready(w);
  for (;;) {
    const void *data;
    size_t len;
    int rc = ferry_queue_peek(q, &data, &len, FERRY_FOREVER);
    if (rc == -EPIPE)
      break;
    if (rc != 0)
      bh_fail(w, "ferry_queue_peek: %s", ferry_strerror(rc));
    bh_read_all(data, len);
    bh_take(w, data, len);
    rc = ferry_queue_release(q);
    if (rc != 0)
      bh_fail(w, "ferry_queue_release: %s", ferry_strerror(rc));
  }
  bh_end(w, true);
  ferry_queue_close(q);
  return 0;
}

const bh_impl bench_ferry_queue_zc = {"ferry-zc", fq_setup, fq_zc_producer, fq_zc_consumer,
                                      NULL, NULL, fq_teardown};

/* ---- pipe ----
 * A pipe has exactly two ends and its creator takes end 0, so the pinger
 * creates it (before reporting ready) and the ponger opens it, retrying
 * until it exists. The parent only picks the name and unlinks it. */

#define FPIPE_OPEN_TIMEOUT_NS (INT64_C(10) * FERRY_SEC)

static int fpipe_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static struct fq f; /* only the name is used */
  snprintf(f.name, sizeof f.name, "ferry.bench.pipe.%d", (int)getpid());
  ferry_unlink(f.name);
  size_t depth = bh_capacity_msgs(c);
  if (depth > FERRY_PIPE_MAX_CAPACITY)
    depth = FERRY_PIPE_MAX_CAPACITY;
  snprintf(why, cap, "capacity %zu messages per direction", depth);
  *state = &f;
  return BH_OK;
}

static void fpipe_teardown(void *state, const bh_case *c)
{
  (void)c;
  ferry_unlink(((struct fq *)state)->name);
}

static int fpipe_ping(void *state, bh_worker *w)
{
  struct fq *f = state;
  const bh_case *c = bh_worker_case(w);
  size_t depth = bh_capacity_msgs(c);
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = (uint32_t)(depth > FERRY_PIPE_MAX_CAPACITY ? FERRY_PIPE_MAX_CAPACITY : depth);
  o.max_msg_size = (uint32_t)c->msg_bytes;
  ferry_pipe *p = NULL;
  int rc = ferry_pipe_create(f->name, &o, &p);
  if (rc != 0)
    bh_fail(w, "ferry_pipe_create: %s", ferry_strerror(rc));
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf);
    uint64_t t0 = bh_now_ns();
    rc = ferry_pipe_send(p, buf, c->msg_bytes, FERRY_FOREVER);
    if (rc != 0)
      bh_fail(w, "ferry_pipe_send: %s", ferry_strerror(rc));
    ssize_t n = ferry_pipe_recv(p, buf, c->msg_bytes, FERRY_FOREVER);
    if (n < 0)
      bh_fail(w, "ferry_pipe_recv: %s", ferry_strerror((int)n));
    bh_ping_record(w, buf, (size_t)n, t0);
  }
  bh_stamp_end(w, buf);
  rc = ferry_pipe_send(p, buf, c->msg_bytes, FERRY_FOREVER);
  if (rc != 0)
    bh_fail(w, "ferry_pipe_send: %s", ferry_strerror(rc));
  ferry_pipe_close(p);
  free(buf);
  return 0;
}

static int fpipe_pong(void *state, bh_worker *w)
{
  struct fq *f = state;
  const bh_case *c = bh_worker_case(w);
  ferry_pipe *p = NULL;
  uint64_t until = bh_now_ns() + (uint64_t)FPIPE_OPEN_TIMEOUT_NS;
  int rc;
  while ((rc = ferry_pipe_open(f->name, NULL, &p)) == -ENOENT && bh_now_ns() < until)
    usleep(1000);
  if (rc != 0)
    bh_fail(w, "ferry_pipe_open: %s", ferry_strerror(rc));
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    ssize_t n = ferry_pipe_recv(p, buf, c->msg_bytes, FERRY_FOREVER);
    if (n < 0)
      bh_fail(w, "ferry_pipe_recv: %s", ferry_strerror((int)n));
    if (bh_pong_take(w, buf, (size_t)n))
      break;
    rc = ferry_pipe_send(p, buf, (size_t)n, FERRY_FOREVER);
    if (rc != 0)
      bh_fail(w, "ferry_pipe_send: %s", ferry_strerror(rc));
  }
  ferry_pipe_close(p);
  free(buf);
  return 0;
}

const bh_impl bench_ferry_pipe = {"ferry", fpipe_setup, NULL, NULL, fpipe_ping, fpipe_pong,
                                  fpipe_teardown};
