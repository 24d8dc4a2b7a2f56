/* SPDX-License-Identifier: MIT */
/*
 * corrupt.h: the random-corruption suite (tests/corrupt/). Shared memory is
 * input from other processes: whatever a peer writes into a region, an
 * opener must get valid data or an error back from every call, and never
 * crash, never touch memory outside the region, and never hang.
 *
 * For each scenario, corrupt_main.c runs rounds: setup() creates the
 * object; an operator child opens it by name and calls operate() in a loop;
 * meanwhile the parent writes random values at random offsets of the
 * region's file (through a mapping of its own) and watches the operator's
 * progress. A round fails if the operator dies of anything but the final
 * SIGKILL (a crash, an ASan report), fails a CHECK (invalid data), or makes
 * no progress for a while (a hang).
 *
 *   setup(ctx)          parent: create the object, name in ctx->name
 *   operate(ctx, rng)   operator child: one batch of calls, each with a
 *                       short timeout; CHECK that every result is valid
 *                       (lengths within bounds and buffers, values as
 *                       written or an error code). Keep handles in *ctx
 *                       (the child's own copy of the struct). Return to be
 *                       called again.
 *   teardown(ctx)       parent: remove the object
 *
 * ctx->progress is shared: the driver counts batches there.
 */
#ifndef FERRY_TEST_CORRUPT_H
#define FERRY_TEST_CORRUPT_H

#include <stdatomic.h>

#include "ferry/region.h"
#include "test.h"

/* File offsets a scenario wants hit more often than chance would: small
 * fields (watermarks, counts) that a uniform pick over a large file rarely
 * lands on. */
#define CORRUPT_HOT_MAX 8

struct corrupt_ctx {
  char name[64];
  _Atomic uint64_t *progress; /* shared: batches done by the operator */
  void *state;                /* the scenario's own, per process */
  uint64_t hot[CORRUPT_HOT_MAX]; /* setup may fill: 8-byte fields, file offsets */
  int nhot;
};

/* The file offset of a region's object area, for corrupt_ctx.hot. */
uint64_t corrupt_object_offset(ferry_region *r);

struct corrupt_scenario {
  const char *kind;
  void (*setup)(struct corrupt_ctx *c);
  void (*operate)(struct corrupt_ctx *c, uint64_t *rng);
  void (*teardown)(struct corrupt_ctx *c);
};

#define CORRUPT_SCENARIO(id, ...)                                                                  \
  static const struct corrupt_scenario corrupt_scen_##id = {__VA_ARGS__};                          \
  static const struct corrupt_scenario *const corrupt_scen_ptr_##id                                \
      __attribute__((section("corrupt_scen"), used, aligned(sizeof(void *)))) = &corrupt_scen_##id

/* A value worth writing: random bytes, or one of the values that break
 * unchecked arithmetic (0, 1, all ones, powers of two, a byte off). */
uint64_t corrupt_value(uint64_t *rng);

#endif /* FERRY_TEST_CORRUPT_H */
