/* SPDX-License-Identifier: MIT */
/*
 * crash_sync.c: crash scenarios for the sync objects (sync.* points). The
 * victim locks and unlocks a robust mutex, posts a semaphore and passes a
 * barrier, ten times; after it dies at any step, the survivor must not
 * hang: the mutex is free or taken over with -EOWNERDEAD, the semaphore
 * holds exactly the posts that completed (one more if the victim died
 * after its post but before noting it), and the barrier still works.
 */
#include "crash.h"
#include "ferry/sync.h"

struct sync_ctx {
  ferry_mutex m;
  ferry_sem s;
  ferry_barrier b;
  ferry_counter posted; /* posts the victim completed */
};

static void setup(void *p)
{
  struct sync_ctx *c = p;
  /* Short slices, so a lock the victim died holding is taken over well
   * inside the check's bounds. */
  ferry_sync_set_liveness_ns(100 * FERRY_MSEC);
  CHECK_OK(ferry_mutex_init(&c->m));
  CHECK_OK(ferry_sem_init(&c->s, 0));
  CHECK_OK(ferry_barrier_init(&c->b, 1));
}

static void victim(void *p)
{
  struct sync_ctx *c = p;
  for (int i = 0; i < 10; i++) {
    if (ferry_mutex_lock(&c->m, 5 * FERRY_SEC) == 0)
      ferry_mutex_unlock(&c->m);
    if (ferry_sem_post(&c->s) == 0)
      ferry_counter_add(&c->posted, 1);
    CHECK_EQ(ferry_barrier_wait(&c->b, FERRY_SEC), FERRY_BARRIER_SERIAL);
  }
}

static void check(void *p)
{
  struct sync_ctx *c = p;
  /* The mutex: free, or held by the dead victim and taken over. */
  int rc = ferry_mutex_lock(&c->m, 5 * FERRY_SEC);
  CHECK(rc == 0 || rc == -EOWNERDEAD);
  if (rc == -EOWNERDEAD)
    CHECK_OK(ferry_mutex_consistent(&c->m));
  if (rc == 0 || rc == -EOWNERDEAD)
    CHECK_OK(ferry_mutex_unlock(&c->m));
  /* Every completed post is a unit; a post the victim died inside counts
   * once or not at all, never twice and never torn. */
  int64_t posted = ferry_counter_load(&c->posted);
  int64_t units = ferry_sem_value(&c->s);
  CHECK(units == posted || units == posted + 1);
  for (int64_t i = 0; i < units; i++)
    CHECK_OK(ferry_sem_wait(&c->s, 0));
  CHECK_RC(ferry_sem_wait(&c->s, 0), -EAGAIN);
  /* The barrier goes on working for those left. */
  CHECK_EQ(ferry_barrier_wait(&c->b, FERRY_SEC), FERRY_BARRIER_SERIAL);
}

static void teardown(void *p)
{
  (void)p;
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

CRASH_SCENARIO(sync, .prefix = "sync.", .setup = setup, .victim = victim, .check = check,
               .teardown = teardown);
