/* SPDX-License-Identifier: MIT */
/*
 * crash.h: named crash points, for tests that kill a process at an exact
 * step of a multi-step update (in the manner of SQLite's crash tests).
 *
 *   FERRY__CRASH_POINT("queue.put.claimed");
 *
 * marks a place where a death leaves shared state half-updated. In a
 * normal build the macro is nothing. In the test build of the library
 * (FERRY_CRASH_POINTS defined) each point is a static record in the
 * `ferry_crash` section, so a test can list every point compiled in, and
 * passing a point checks whether this process was told to die there.
 * tests/stress/crash_points.c drives them: see docs/design/testing.md.
 */
#ifndef FERRY_CORE_CRASH_H
#define FERRY_CORE_CRASH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ferry__crash_point {
  const char *name;
  _Atomic uint64_t hits; /* passes in this process since the last arm */
};

#ifdef FERRY_CRASH_POINTS

void ferry__crash_hit(struct ferry__crash_point *p);

#define FERRY__CRASH_CAT2(a, b) a##b
#define FERRY__CRASH_CAT(a, b) FERRY__CRASH_CAT2(a, b)
#define FERRY__CRASH_POINT(pname)                                                              \
  do {                                                                                         \
    static struct ferry__crash_point FERRY__CRASH_CAT(ferry__cp_, __LINE__)                    \
        __attribute__((section("ferry_crash"), used, aligned(8))) = {.name = (pname)};         \
    ferry__crash_hit(&FERRY__CRASH_CAT(ferry__cp_, __LINE__));                                 \
  } while (0)

/* For tests: every point compiled in, from the section. */
struct ferry__crash_point *ferry__crash_points(size_t *count);

/*
 * For tests: SIGKILL this process at the `hit`-th pass (1-based) of the
 * point whose name starts with `prefix` (NULL: any point); with hit 0,
 * never. Resets every point's hit count.
 */
void ferry__crash_arm(const char *prefix, uint64_t hit);

/* For tests: SIGKILL at any point, each pass with probability 1 / one_in,
 * from a deterministic generator seeded with `seed`. 0 disarms. */
void ferry__crash_arm_random(uint64_t seed, uint64_t one_in);

#else

#define FERRY__CRASH_POINT(pname) ((void)0)

#endif

#endif /* FERRY_CORE_CRASH_H */
