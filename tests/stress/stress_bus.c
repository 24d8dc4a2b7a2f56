/* SPDX-License-Identifier: MIT */
/*
 * stress_bus.c: the bus under churn, across real processes. A publisher
 * publishes frames of a few hundred KB as fast as it can while subscriber
 * children join, read a random number of frames, leave, and join again,
 * and the parent SIGKILLs a random child every so often (often while it
 * holds a frame) and forks a replacement. Every child checks every word of
 * every frame against a pattern derived from the sequence number (a torn
 * frame fails), that sequence numbers rise (LOCKSTEP: by exactly one within
 * a subscription), and that the stream ends with -EPIPE. The publisher's
 * loans must always succeed: no dead subscriber may hold it up beyond the
 * liveness period. Both modes. Duration: FERRY_STRESS_SECONDS (default 2 s
 * per mode).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/array.h"
#include "ferry/bus.h"
#include "fixtures.h"
#include "test.h"

#define CHILDREN 5
#define WAIT_MS 30000

static const ferry_array_spec SPECS[3] = {
    {"a", FERRY_DTYPE_F32, 2, {100, 300}},
    {"b", FERRY_DTYPE_F32, 2, {100, 450}},
    {"c", FERRY_DTYPE_F32, 2, {100, 600}},
};

static void child(const char *name, ferry_bus_mode mode, uint64_t seed)
{
  uint64_t rng = seed * 7919 + 1;
  for (;;) {
    ferry_sub *s;
    int rc = ferry_bus_subscribe(name, NULL, &s);
    if (rc == -EUSERS) { /* a killed sibling's place is not freed yet */
      usleep(1000);
      continue;
    }
    if (rc == -EPIPE)
      break;
    CHECK_OK(rc);
    if (rc)
      break;
    int n = 1 + (int)(ft_rand(&rng) % 40);
    bool first = true, end = false;
    uint64_t last = 0;
    for (int i = 0; i < n; i++) {
      const ferry_frame *f;
      ferry_bus_frame_info info;
      rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
      if (rc == -EPIPE) {
        end = true;
        break;
      }
      CHECK_OK(rc);
      if (rc) {
        end = true;
        break;
      }
      if (!first) {
        if (mode == FERRY_BUS_LOCKSTEP)
          CHECK_EQ(info.seq, last + 1);
        else
          CHECK(info.seq > last);
      }
      CHECK(ft_frame_verify(f, info.seq));
      first = false;
      last = info.seq;
      if (ft_rand(&rng) % 8 == 0)
        usleep(200);
      CHECK_OK(ferry_bus_release(s, f));
    }
    ferry_bus_unsubscribe(s);
    if (end || ft_failures)
      break;
  }
  ft_child_exit();
}

static void run(ferry_bus_mode mode)
{
  char name[64];
  ft_name(name, sizeof name, "sbus");
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = mode;
  o.slots = mode == FERRY_BUS_LATEST ? 4 : 3;
  o.max_subscribers = 8;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  pid_t kids[CHILDREN];
  for (int i = 0; i < CHILDREN; i++) {
    kids[i] = ft_fork();
    if (kids[i] == 0)
      child(name, mode, (uint64_t)i + 1);
  }
  uint64_t rng = 42, kills = 0;
  int64_t end = ft_ms() + (int64_t)(ft_stress_seconds(2.0) * 1000);
  int64_t next_kill = ft_ms() + 50;
  while (ft_ms() < end) {
    ferry_frame *f;
    int rc = ferry_bus_loan(b, &f, 10 * FERRY_SEC);
    CHECK_OK(rc);
    if (rc)
      break;
    ft_frame_fill(f, ferry_bus_seq(b));
    CHECK_OK(ferry_bus_publish(b, f));
    if (ft_ms() >= next_kill) {
      int i = (int)(ft_rand(&rng) % CHILDREN);
      kill(kids[i], SIGKILL);
      ft_wait(kids[i], WAIT_MS);
      kills++;
      kids[i] = ft_fork();
      if (kids[i] == 0)
        child(name, mode, 1000 + kills);
      next_kill = ft_ms() + 30 + (int64_t)(ft_rand(&rng) % 70);
    }
  }
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  printf("  %s: %llu frames, %llu kills, %llu dropped, %llu loan waits, %.1f ms waited\n",
         ferry_bus_mode_name(mode), (unsigned long long)st.published,
         (unsigned long long)kills, (unsigned long long)st.dropped,
         (unsigned long long)st.loan_waits, (double)st.wait_ns / 1e6);
  ferry_bus_close(b);
  for (int i = 0; i < CHILDREN; i++)
    ft_wait_ok(kids[i], WAIT_MS);
  CHECK_OK(ferry_unlink(name));
}

static void stress_lockstep(void) { run(FERRY_BUS_LOCKSTEP); }
static void stress_latest(void) { run(FERRY_BUS_LATEST); }

int main(void)
{
  RUN(stress_lockstep);
  RUN(stress_latest);
  return ft_done();
}
