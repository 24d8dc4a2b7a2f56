/* SPDX-License-Identifier: MIT */
/*
 * boost_mq_peer.cpp: the Boost.Interprocess message_queue peer of `ferry
 * bench`, run under the shared harness (bench/harness.h
 * [bench-rules]). The parent creates the queue with the case's capacity
 * (capacity / msg_bytes messages of msg_bytes each); workers open it by
 * name. Ping-pong uses two queues.
 */
#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "harness.h"

namespace bi = boost::interprocess;

namespace {

struct bstate {
  std::string name[2];
};

int b_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static bstate s;
  try {
    for (int i = 0; i < 2; i++) {
      s.name[i] = "ferry-bench-boost." + std::to_string(getpid()) + "." + std::to_string(i);
      bi::message_queue::remove(s.name[i].c_str());
      bi::message_queue q(bi::create_only, s.name[i].c_str(), bh_capacity_msgs(c),
                          c->msg_bytes);
    }
  } catch (const std::exception &e) {
    std::snprintf(why, cap, "message_queue: %s", e.what());
    return BH_FAILED;
  }
  std::snprintf(why, cap, "capacity %zu messages", bh_capacity_msgs(c));
  *state = &s;
  return BH_OK;
}

void b_teardown(void *state, const bh_case *)
{
  bstate *s = static_cast<bstate *>(state);
  for (auto &n : s->name)
    bi::message_queue::remove(n.c_str());
}

std::unique_ptr<bi::message_queue> b_open(bh_worker *w, const std::string &name)
{
  try {
    return std::make_unique<bi::message_queue>(bi::open_only, name.c_str());
  } catch (const std::exception &e) {
    bh_fail(w, "open %s: %s", name.c_str(), e.what());
  }
}

int b_producer(void *state, bh_worker *w)
{
  bstate *s = static_cast<bstate *>(state);
  const bh_case *c = bh_worker_case(w);
  auto q = b_open(w, s->name[0]);
  std::vector<char> buf(c->msg_bytes, '\xa5');
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf.data());
    q->send(buf.data(), buf.size(), 0);
  }
  for (int i = 0; i < c->consumers; i++) {
    bh_stamp_end(w, buf.data());
    q->send(buf.data(), buf.size(), 0);
  }
  return 0;
}

int b_consumer(void *state, bh_worker *w)
{
  bstate *s = static_cast<bstate *>(state);
  const bh_case *c = bh_worker_case(w);
  auto q = b_open(w, s->name[0]);
  std::vector<char> buf(c->msg_bytes);
  bh_ready(w);
  for (;;) {
    bi::message_queue::size_type n;
    unsigned prio;
    q->receive(buf.data(), buf.size(), n, prio);
    if (bh_take(w, buf.data(), n))
      break;
  }
  return 0;
}

int b_ping(void *state, bh_worker *w)
{
  bstate *s = static_cast<bstate *>(state);
  const bh_case *c = bh_worker_case(w);
  auto out = b_open(w, s->name[0]), in = b_open(w, s->name[1]);
  std::vector<char> buf(c->msg_bytes, '\xa5');
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf.data());
    uint64_t t0 = bh_now_ns();
    out->send(buf.data(), buf.size(), 0);
    bi::message_queue::size_type n;
    unsigned prio;
    in->receive(buf.data(), buf.size(), n, prio);
    bh_ping_record(w, buf.data(), n, t0);
  }
  bh_stamp_end(w, buf.data());
  out->send(buf.data(), buf.size(), 0);
  return 0;
}

int b_pong(void *state, bh_worker *w)
{
  bstate *s = static_cast<bstate *>(state);
  const bh_case *c = bh_worker_case(w);
  auto in = b_open(w, s->name[0]), out = b_open(w, s->name[1]);
  std::vector<char> buf(c->msg_bytes);
  bh_ready(w);
  for (;;) {
    bi::message_queue::size_type n;
    unsigned prio;
    in->receive(buf.data(), buf.size(), n, prio);
    if (bh_pong_take(w, buf.data(), n))
      break;
    out->send(buf.data(), n, 0);
  }
  return 0;
}

const bh_impl boost_impl = {"boost-mq", b_setup, b_producer, b_consumer, b_ping, b_pong,
                            b_teardown};

} // namespace

int main(int argc, char **argv) { return bh_peer_main(argc, argv, &boost_impl); }
