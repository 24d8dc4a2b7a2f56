/* SPDX-License-Identifier: MIT */
/*
 * zmq_peer.c: the ZeroMQ peer of `ferry bench`, run under the shared
 * harness (bench/harness.h [bench-rules]).
 *
 * queue: PUSH/PULL over ipc://. Each consumer binds a PULL socket; each
 * producer connects one PUSH socket to every consumer, and ZeroMQ spreads
 * its messages over them. SNDHWM and RCVHWM are half the case's capacity
 * each, so a pair buffers about as much as the other transports.
 * PUSH may skip a busy consumer, so an end marker sent per consumer can
 * land on a consumer that already left; instead consumers stop once every
 * producer has returned (its context terminated, so all it sent was
 * handed over) and 100 ms passed without a message. The harness still
 * checks received == sent.
 * pipe: one PAIR socket each side over ipc://.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"

#define QUIET_MS 100
#define RECONNECT_MS 10

struct zstate {
  char dir[64];
};

static int z_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static struct zstate z;
  snprintf(z.dir, sizeof z.dir, "/tmp/ferry-bench-zmq.XXXXXX");
  if (!mkdtemp(z.dir)) {
    snprintf(why, cap, "mkdtemp: %s", strerror(errno));
    return BH_FAILED;
  }
  int major, minor, patch;
  zmq_version(&major, &minor, &patch);
  snprintf(why, cap, "libzmq %d.%d.%d, HWM %zu+%zu messages", major, minor, patch,
           bh_capacity_msgs(c) / 2, bh_capacity_msgs(c) / 2);
  *state = &z;
  return BH_OK;
}

static void z_teardown(void *state, const bh_case *c)
{
  struct zstate *z = state;
  char path[128];
  for (int i = 0; i < c->consumers + 1; i++) {
    snprintf(path, sizeof path, "%s/c%d", z->dir, i);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/pair", z->dir);
  unlink(path);
  rmdir(z->dir);
}

static void *z_socket(bh_worker *w, void *ctx, int type)
{
  const bh_case *c = bh_worker_case(w);
  void *s = zmq_socket(ctx, type);
  if (!s)
    bh_fail(w, "zmq_socket: %s", zmq_strerror(errno));
  int hwm = (int)(bh_capacity_msgs(c) / 2), ivl = RECONNECT_MS;
  if (hwm < 1)
    hwm = 1;
  zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
  zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
  return s;
}

static void *msg_alloc(bh_worker *w)
{
  void *p = malloc(bh_worker_case(w)->msg_bytes);
  if (!p)
    bh_fail(w, "out of memory");
  memset(p, 0xa5, bh_worker_case(w)->msg_bytes);
  return p;
}

static int z_producer(void *state, bh_worker *w)
{
  struct zstate *z = state;
  const bh_case *c = bh_worker_case(w);
  void *ctx = zmq_ctx_new();
  void *s = z_socket(w, ctx, ZMQ_PUSH);
  char ep[160];
  for (int i = 0; i < c->consumers; i++) {
    snprintf(ep, sizeof ep, "ipc://%s/c%d", z->dir, i);
    if (zmq_connect(s, ep) != 0)
      bh_fail(w, "zmq_connect %s: %s", ep, zmq_strerror(errno));
  }
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    if (zmq_send(s, buf, c->msg_bytes, 0) != (int)c->msg_bytes)
      bh_fail(w, "zmq_send: %s", zmq_strerror(errno));
  }
  zmq_close(s);      /* default linger: keeps what is queued ... */
  zmq_ctx_term(ctx); /* ... and this waits until it is handed over */
  free(buf);
  return 0;
}

static int z_consumer(void *state, bh_worker *w)
{
  struct zstate *z = state;
  const bh_case *c = bh_worker_case(w);
  void *ctx = zmq_ctx_new();
  void *s = z_socket(w, ctx, ZMQ_PULL);
  int quiet = QUIET_MS, linger = 0;
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &quiet, sizeof quiet);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  char ep[160];
  snprintf(ep, sizeof ep, "ipc://%s/c%d", z->dir, bh_worker_id(w));
  if (zmq_bind(s, ep) != 0)
    bh_fail(w, "zmq_bind %s: %s", ep, zmq_strerror(errno));
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    int n = zmq_recv(s, buf, c->msg_bytes, 0);
    if (n < 0) {
      if (errno == EAGAIN && bh_producers_done(w))
        break;
      if (errno == EAGAIN || errno == EINTR)
        continue;
      bh_fail(w, "zmq_recv: %s", zmq_strerror(errno));
    }
    bh_take(w, buf, (size_t)n);
  }
  bh_end(w, false);
  zmq_close(s);
  zmq_ctx_term(ctx);
  free(buf);
  return 0;
}

static int z_pingpong(void *state, bh_worker *w, bool ping)
{
  struct zstate *z = state;
  const bh_case *c = bh_worker_case(w);
  void *ctx = zmq_ctx_new();
  void *s = z_socket(w, ctx, ZMQ_PAIR);
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  char ep[160];
  snprintf(ep, sizeof ep, "ipc://%s/pair", z->dir);
  if ((ping ? zmq_connect(s, ep) : zmq_bind(s, ep)) != 0)
    bh_fail(w, "zmq bind/connect %s: %s", ep, zmq_strerror(errno));
  char *buf = msg_alloc(w);
  bh_ready(w);
  size_t m = c->msg_bytes;
  if (ping) {
    while (bh_ping_running(w)) {
      bh_stamp(w, buf);
      uint64_t t0 = bh_now_ns();
      if (zmq_send(s, buf, m, 0) != (int)m)
        bh_fail(w, "zmq_send: %s", zmq_strerror(errno));
      int n = zmq_recv(s, buf, m, 0);
      if (n < 0)
        bh_fail(w, "zmq_recv: %s", zmq_strerror(errno));
      bh_ping_record(w, buf, (size_t)n, t0);
    }
    bh_stamp_end(w, buf);
    zmq_send(s, buf, m, 0);
    linger = -1; /* the end marker must arrive */
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  } else {
    for (;;) {
      int n = zmq_recv(s, buf, m, 0);
      if (n < 0)
        bh_fail(w, "zmq_recv: %s", zmq_strerror(errno));
      if (bh_pong_take(w, buf, (size_t)n))
        break;
      if (zmq_send(s, buf, (size_t)n, 0) != n)
        bh_fail(w, "zmq_send: %s", zmq_strerror(errno));
    }
  }
  zmq_close(s);
  zmq_ctx_term(ctx);
  free(buf);
  return 0;
}

static int z_ping(void *state, bh_worker *w) { return z_pingpong(state, w, true); }
static int z_pong(void *state, bh_worker *w) { return z_pingpong(state, w, false); }

static const bh_impl zmq_impl = {"zmq-ipc", z_setup, z_producer, z_consumer, z_ping, z_pong,
                                 z_teardown};

int main(int argc, char **argv) { return bh_peer_main(argc, argv, &zmq_impl); }
