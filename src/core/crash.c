/* SPDX-License-Identifier: MIT */
/*
 * crash.c: the test build's crash points (crash.h). Compiled into every
 * build, empty unless FERRY_CRASH_POINTS is defined.
 */
#include "core/crash.h"

#ifdef FERRY_CRASH_POINTS

#include <signal.h>
#include <string.h>
#include <unistd.h>

extern struct ferry__crash_point __start_ferry_crash[], __stop_ferry_crash[];

/* Defines the section even in a binary that links no other point; the
 * list skips it by its empty name. */
static struct ferry__crash_point anchor __attribute__((section("ferry_crash"), used, aligned(8))) = {
    .name = ""};

/* Process-local arming, set by a test before it operates. relaxed
 * throughout: the arming thread is the one that then calls in. */
enum { DISARMED, BY_NAME, RANDOM };
static struct {
  _Atomic int mode;
  char prefix[128];
  uint64_t hit;
  uint64_t rng;
  uint64_t one_in;
} arm;

static void die(void)
{
  /* SIGKILL: no handler, no atexit, no flush; as abrupt as the OOM killer. */
  kill(getpid(), SIGKILL);
  for (;;)
    pause();
}

void ferry__crash_hit(struct ferry__crash_point *p)
{
  uint64_t n = atomic_fetch_add_explicit(&p->hits, 1, memory_order_relaxed) + 1;
  switch (atomic_load_explicit(&arm.mode, memory_order_relaxed)) {
  case BY_NAME:
    if (n == arm.hit && strncmp(p->name, arm.prefix, strlen(arm.prefix)) == 0)
      die();
    break;
  case RANDOM: {
    /* xorshift64*: deterministic for a seed, so a failing run repeats */
    uint64_t x = arm.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    arm.rng = x;
    if ((x * UINT64_C(0x2545f4914f6cdd1d)) % arm.one_in == 0)
      die();
    break;
  }
  default:
    break;
  }
}

struct ferry__crash_point *ferry__crash_points(size_t *count)
{
  *count = (size_t)(__stop_ferry_crash - __start_ferry_crash);
  return __start_ferry_crash;
}

static void reset_hits(void)
{
  for (struct ferry__crash_point *p = __start_ferry_crash; p < __stop_ferry_crash; p++)
    atomic_store_explicit(&p->hits, 0, memory_order_relaxed);
}

void ferry__crash_arm(const char *prefix, uint64_t hit)
{
  reset_hits();
  strncpy(arm.prefix, prefix ? prefix : "", sizeof arm.prefix - 1);
  arm.hit = hit;
  atomic_store_explicit(&arm.mode, hit ? BY_NAME : DISARMED, memory_order_relaxed);
}

void ferry__crash_arm_random(uint64_t seed, uint64_t one_in)
{
  reset_hits();
  arm.rng = seed ? seed : 1;
  arm.one_in = one_in;
  atomic_store_explicit(&arm.mode, one_in ? RANDOM : DISARMED, memory_order_relaxed);
}

#endif
