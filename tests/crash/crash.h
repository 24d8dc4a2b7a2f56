/* SPDX-License-Identifier: MIT */
/*
 * crash.h: the crash-point suite (tests/crash/). The library's test build
 * marks every step of a multi-step update where a death leaves shared state
 * half-done with FERRY__CRASH_POINT("module.step") (src/core/crash.h).
 * crash_main.c kills a child at each point in turn, at its first and at a
 * later pass, and then checks that the survivors' invariants hold and that
 * no call hangs.
 *
 * Each module contributes scenarios. A scenario covers the points whose
 * names start with its prefix:
 *
 *   setup(ctx)    parent: create the objects (names from ft_name)
 *   victim(ctx)   child, armed to die at one point: run operations that pass
 *                 through the module's points; return normally if it was not
 *                 killed (the point was not reached that often)
 *   check(ctx)    parent, after the victim died: survivors operate with
 *                 bounded timeouts and verify every invariant (counts,
 *                 sequence numbers, checksums, validate())
 *   teardown(ctx) parent: close and unlink everything
 *
 * ctx is CRASH_CTX_SIZE zeroed bytes of MAP_SHARED memory, so the victim
 * can leave notes (what it had done before it died) for check().
 */
#ifndef FERRY_TEST_CRASH_H
#define FERRY_TEST_CRASH_H

#include "test.h"

#define CRASH_CTX_SIZE 65536

struct crash_scenario {
  const char *prefix;
  void (*setup)(void *ctx);
  void (*victim)(void *ctx);
  void (*check)(void *ctx);
  void (*teardown)(void *ctx);
};

/* Registers a scenario (a static record in the crash_scen section). */
#define CRASH_SCENARIO(id, ...)                                                                    \
  static const struct crash_scenario crash_scen_##id = {__VA_ARGS__};                              \
  static const struct crash_scenario *const crash_scen_ptr_##id                                    \
      __attribute__((section("crash_scen"), used, aligned(sizeof(void *)))) = &crash_scen_##id

#endif /* FERRY_TEST_CRASH_H */
