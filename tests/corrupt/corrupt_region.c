/* SPDX-License-Identifier: MIT */
/*
 * corrupt_region.c: random corruption of a raw region: its header, its
 * participant table, and sync objects in its data area. The operator
 * joins and leaves, reads its info and participants, and uses a mutex, a
 * semaphore, an event and a barrier that live in the region.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/ferry.h"

#define TABLE 8

struct sync_area {
  ferry_mutex m;
  ferry_sem s;
  ferry_event e;
  ferry_barrier b;
};

struct region_state {
  ferry_region *r;
  int batches;
};

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-region");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = TABLE;
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(c->name, 4096, &o, &r));
  struct sync_area *a = ferry_region_data(r);
  CHECK_OK(ferry_barrier_init(&a->b, 1));
  ferry_region_close(r);
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct region_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->r || ++st->batches % 20 == 0) {
    ferry_region_close(st->r);
    st->r = NULL;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    int rc = ferry_region_open(c->name, FERRY_KIND_RAW, &o, &st->r);
    if (rc) {
      st->r = NULL; /* a clear error: the header is corrupt, or the table full */
      CHECK(rc < 0);
      return;
    }
  }
  ferry_region_info info;
  CHECK_OK(ferry_region_info_get(st->r, &info));
  CHECK_EQ(info.max_participants, TABLE);
  CHECK(info.live + info.dead <= TABLE);
  ferry_participant p[TABLE];
  ssize_t n = ferry_region_participants(st->r, p, TABLE);
  CHECK(n >= 0 && n <= TABLE);
  CHECK(ferry_region_data_size(st->r) >= sizeof(struct sync_area));

  struct sync_area *a = ferry_region_data(st->r);
  /* Between our lock and our unlock the word may be scribbled on: then
   * the mutex is no longer ours (FERRY_ENOTOWNER), a clear error. */
  int rc = ferry_mutex_lock(&a->m, (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC);
  if (rc == -EOWNERDEAD) {
    rc = ferry_mutex_consistent(&a->m);
    CHECK(rc == 0 || rc == FERRY_ENOTOWNER || rc == -EINVAL);
    rc = 0;
  }
  if (rc == 0) {
    rc = ferry_mutex_unlock(&a->m);
    CHECK(rc == 0 || rc == FERRY_ENOTOWNER);
  } else {
    CHECK(rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ENOTRECOVERABLE || rc == -EDEADLK);
  }
  rc = ferry_sem_post(&a->s);
  CHECK(rc == 0 || rc == -EOVERFLOW);
  rc = ferry_sem_wait(&a->s, FERRY_MSEC);
  CHECK(rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT);
  CHECK_OK(ferry_event_set(&a->e));
  rc = ferry_event_wait(&a->e, FERRY_MSEC);
  CHECK(rc == 0 || rc == -ETIMEDOUT);
  CHECK_OK(ferry_event_clear(&a->e));
  rc = ferry_barrier_wait(&a->b, FERRY_MSEC);
  CHECK(rc == 0 || rc == FERRY_BARRIER_SERIAL || rc == -ETIMEDOUT || rc == -EINVAL);
}

static void teardown(struct corrupt_ctx *c)
{
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(region, .kind = "region", .setup = setup, .operate = operate,
                 .teardown = teardown);
