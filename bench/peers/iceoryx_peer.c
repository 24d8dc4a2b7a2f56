/* SPDX-License-Identifier: MIT */
/*
 * iceoryx_peer.c: the iceoryx (C binding, v2) peer of `ferry bench`, run
 * under the shared harness (bench/harness.h [bench-rules]). The
 * bench starts RouDi (iox-roudi -c bench/peers/roudi.toml) before the
 * first iceoryx case and stops it after the last.
 *
 * queue 1P1C: one publisher, one subscriber, zero-copy both ways: the
 * producer loans a chunk and writes the header in place; the consumer
 * reads every byte in place (as ferry-zc does). Lossless: publisher policy
 * WAIT_FOR_CONSUMER, subscriber policy BLOCK_PRODUCER, subscriber queue
 * min(capacity messages, 256: iceoryx's maximum). The consumer sleeps on a
 * WaitSet. 2P2C is skipped: iceoryx is publish/subscribe, where every
 * subscriber gets every message; it has no work-sharing queue.
 * pipe: two services (ping, pong), one publisher and subscriber each side.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "iceoryx_binding_c/enums.h"
#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/types.h"
#include "iceoryx_binding_c/wait_set.h"

#define SUB_QUEUE_MAX 256
#define CONNECT_TIMEOUT_NS (UINT64_C(10) * 1000000000u)
#define NOTIFICATIONS 4

static int ice_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  (void)state;
  if (c->kind == BH_QUEUE && (c->producers > 1 || c->consumers > 1)) {
    snprintf(why, cap, "publish/subscribe: every subscriber gets every message "
                       "(no work-sharing queue)");
    return BH_SKIPPED;
  }
  size_t q = bh_capacity_msgs(c);
  snprintf(why, cap, "zero-copy; subscriber queue %zu", q > SUB_QUEUE_MAX ? SUB_QUEUE_MAX : q);
  return BH_OK;
}

struct ice {
  iox_pub_storage_t pub_storage;
  iox_sub_storage_t sub_storage;
  iox_ws_storage_t ws_storage;
  iox_pub_t pub;
  iox_sub_t sub;
  iox_ws_t ws;
};

/* This process's runtime name; iceoryx leaves /tmp/<name> and
 * /tmp/<name>.lock behind, which ice_close() removes. */
static char runtime_name[64];

static void ice_runtime(bh_worker *w, const char *role)
{
  char *name = runtime_name;
  snprintf(name, sizeof runtime_name, "ferry-bench-%s-%d", role, (int)getpid());
  iox_set_loglevel(Iceoryx_LogLevel_Error); /* not "RouDi not found - waiting" */
  iox_runtime_init(name);
  (void)w;
}

static void ice_pub(bh_worker *w, struct ice *x, const char *event)
{
  iox_pub_options_t o;
  iox_pub_options_init(&o);
  o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
  x->pub = iox_pub_init(&x->pub_storage, "ferry-bench", "peer", event, &o);
  if (!x->pub)
    bh_fail(w, "iox_pub_init failed");
}

static void ice_sub(bh_worker *w, struct ice *x, const char *event)
{
  const bh_case *c = bh_worker_case(w);
  iox_sub_options_t o;
  iox_sub_options_init(&o);
  size_t q = bh_capacity_msgs(c);
  o.queueCapacity = q > SUB_QUEUE_MAX ? SUB_QUEUE_MAX : q;
  o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
  x->sub = iox_sub_init(&x->sub_storage, "ferry-bench", "peer", event, &o);
  if (!x->sub)
    bh_fail(w, "iox_sub_init failed");
  x->ws = iox_ws_init(&x->ws_storage);
  if (iox_ws_attach_subscriber_state(x->ws, x->sub, SubscriberState_HAS_DATA, 0, NULL) !=
      WaitSetResult_SUCCESS)
    bh_fail(w, "iox_ws_attach_subscriber_state failed");
}

/* Waits until the subscriber is connected and the publisher sees one. */
static void ice_connected(bh_worker *w, struct ice *x)
{
  uint64_t until = bh_now_ns() + CONNECT_TIMEOUT_NS;
  while ((x->sub && iox_sub_get_subscription_state(x->sub) != SubscribeState_SUBSCRIBED) ||
         (x->pub && !iox_pub_has_subscribers(x->pub))) {
    if (bh_now_ns() > until)
      bh_fail(w, "publisher and subscriber did not connect (is RouDi running?)");
    usleep(1000);
  }
}

static void ice_send(bh_worker *w, struct ice *x, const void *hdr_from, bool end)
{
  size_t m = bh_worker_case(w)->msg_bytes;
  void *chunk;
  enum iox_AllocationResult r;
  while ((r = iox_pub_loan_chunk(x->pub, &chunk, (uint32_t)m)) != AllocationResult_SUCCESS) {
    if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS)
      bh_fail(w, "iox_pub_loan_chunk: %d", (int)r);
    usleep(10);
  }
  if (hdr_from)
    memcpy(chunk, hdr_from, BH_HDR_BYTES);
  else if (end)
    bh_stamp_end(w, chunk);
  else
    bh_stamp(w, chunk);
  iox_pub_publish_chunk(x->pub, chunk);
}

/* Takes one chunk, sleeping on the WaitSet while there is none. */
static const void *ice_take(bh_worker *w, struct ice *x)
{
  const void *chunk;
  for (;;) {
    enum iox_ChunkReceiveResult r = iox_sub_take_chunk(x->sub, &chunk);
    if (r == ChunkReceiveResult_SUCCESS)
      return chunk;
    if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
      bh_fail(w, "iox_sub_take_chunk: %d", (int)r);
    iox_notification_info_t info[NOTIFICATIONS];
    uint64_t missed;
    iox_ws_wait(x->ws, info, NOTIFICATIONS, &missed);
  }
}

static void ice_close(struct ice *x)
{
  if (x->ws)
    iox_ws_deinit(x->ws);
  if (x->sub)
    iox_sub_deinit(x->sub);
  if (x->pub)
    iox_pub_deinit(x->pub);
  iox_runtime_shutdown();
  char path[128];
  snprintf(path, sizeof path, "/tmp/%s", runtime_name);
  unlink(path);
  snprintf(path, sizeof path, "/tmp/%s.lock", runtime_name);
  unlink(path);
}

static int ice_producer(void *state, bh_worker *w)
{
  (void)state;
  static struct ice x;
  ice_runtime(w, "producer");
  ice_pub(w, &x, "queue");
  ice_connected(w, &x);
  bh_ready(w);
  while (bh_running(w))
    ice_send(w, &x, NULL, false);
  ice_send(w, &x, NULL, true);
  /* Stay until the consumer took everything: a publisher that leaves
   * takes its undelivered chunks with it. */
  while (iox_pub_has_subscribers(x.pub))
    usleep(1000);
  ice_close(&x);
  return 0;
}

static int ice_consumer(void *state, bh_worker *w)
{
  (void)state;
  static struct ice x;
  size_t m = bh_worker_case(w)->msg_bytes;
  ice_runtime(w, "consumer");
  ice_sub(w, &x, "queue");
  ice_connected(w, &x);
  bh_ready(w);
  for (;;) {
    const void *chunk = ice_take(w, &x);
    bh_read_all(chunk, m);
    bool done = bh_take(w, chunk, m);
    iox_sub_release_chunk(x.sub, chunk);
    if (done)
      break;
  }
  ice_close(&x);
  return 0;
}

static int ice_ping(void *state, bh_worker *w)
{
  (void)state;
  static struct ice x;
  size_t m = bh_worker_case(w)->msg_bytes;
  ice_runtime(w, "ping");
  ice_pub(w, &x, "ping");
  ice_sub(w, &x, "pong");
  ice_connected(w, &x);
  bh_ready(w);
  unsigned char hdr[BH_HDR_BYTES];
  while (bh_ping_running(w)) {
    bh_stamp(w, hdr);
    uint64_t t0 = bh_now_ns();
    ice_send(w, &x, hdr, false);
    const void *echo = ice_take(w, &x);
    bh_ping_record(w, echo, m, t0);
    iox_sub_release_chunk(x.sub, echo);
  }
  ice_send(w, &x, NULL, true);
  usleep(100000); /* let the end marker reach the ponger before we leave */
  ice_close(&x);
  return 0;
}

static int ice_pong(void *state, bh_worker *w)
{
  (void)state;
  static struct ice x;
  size_t m = bh_worker_case(w)->msg_bytes;
  ice_runtime(w, "pong");
  ice_pub(w, &x, "pong");
  ice_sub(w, &x, "ping");
  ice_connected(w, &x);
  bh_ready(w);
  for (;;) {
    const void *msg = ice_take(w, &x);
    if (bh_pong_take(w, msg, m)) {
      iox_sub_release_chunk(x.sub, msg);
      break;
    }
    ice_send(w, &x, msg, false);
    iox_sub_release_chunk(x.sub, msg);
  }
  ice_close(&x);
  return 0;
}

static const bh_impl ice_impl = {"iceoryx", ice_setup, ice_producer, ice_consumer, ice_ping,
                                 ice_pong, NULL};

int main(int argc, char **argv) { return bh_peer_main(argc, argv, &ice_impl); }
