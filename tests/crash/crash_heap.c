/* SPDX-License-Identifier: MIT */
/*
 * crash_heap.c: crash scenarios for the heap (heap.* points). Three
 * victims, one per kind of update:
 *
 *   heap.push, heap.pop   a worker pops a record and pushes it back with a
 *                         new key (seed 003's loop), ten times; after its
 *                         death every record is in the heap exactly once,
 *                         whole, except at most the one it held
 *   heap.clear            pushes a batch and clears, ten times; after its
 *                         death the heap holds the last batch or nothing,
 *                         and its generation moved past every cleared set
 *   heap.replace          replaces the whole set, ten times; after its
 *                         death the heap holds one whole set, the last one
 *                         finished or the one in progress, never a mixture
 *
 * In each, the survivor's calls take the heap's lock over from the dead
 * victim when it died holding it, and validate() must then pass.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "crash.h"
#include "ferry/heap.h"

#define NREC 32
#define ITER 10

struct rec {
  uint32_t id, set, check;
};

static uint32_t rec_check(const struct rec *r) { return (r->id * 2654435761u) ^ (r->set * 40503u) ^ 0x5a5a; }

static struct rec mk(uint32_t id, uint32_t set)
{
  struct rec r = {id, set, 0};
  r.check = rec_check(&r);
  return r;
}

struct heap_ctx {
  char name[64];
  ferry_heap *h;               /* the parent's handle */
  _Atomic int phase;           /* pop/push: 0 idle, 1 popping, 2 pushing */
  _Atomic int held;            /* pop/push: the id it pushes (phase 2) */
  _Atomic uint32_t batches;    /* clear: batches pushed */
  _Atomic uint32_t clears;     /* clear: clears completed */
  _Atomic uint64_t gen_before; /* clear: generation before the last clear */
  _Atomic uint32_t replaced;   /* replace: sets completed */
};

static ferry_heap_key ik(int64_t v)
{
  ferry_heap_key k;
  k.i64 = v;
  return k;
}

static void setup(void *p)
{
  struct heap_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-heap");
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = 2 * NREC;
  o.max_payload = sizeof(struct rec);
  o.region.liveness_ns = 100 * FERRY_MSEC;
  REQUIRE_OK(ferry_heap_create(c->name, &o, &c->h));
  for (uint32_t i = 0; i < NREC; i++) {
    struct rec r = mk(i, 0);
    CHECK_OK(ferry_heap_push(c->h, ik(i), &r, sizeof r, FT_TIMEOUT));
  }
  atomic_store(&c->held, -1);
}

static ferry_heap *victim_open(struct heap_ctx *c)
{
  ferry_heap *h;
  if (ferry_heap_open(c->name, NULL, &h) != 0)
    ft_child_exit();
  return h;
}

/* ---- pop and push back ----------------------------------------------------- */

static void worker_victim(void *p)
{
  struct heap_ctx *c = p;
  ferry_heap *h = victim_open(c);
  for (int i = 0; i < ITER; i++) {
    struct rec r;
    ferry_heap_key k;
    uint64_t gen;
    /* A death in phase 1 may lose the popped record (any one), in phase
     * 2 at most the one held. */
    atomic_store(&c->phase, 1);
    ssize_t n = ferry_heap_pop_ex(h, &k, sizeof k, NULL, &r, sizeof r, &gen, FT_TIMEOUT);
    CHECK_EQ(n, sizeof r);
    if (n != sizeof r)
      break;
    atomic_store(&c->held, (int)r.id);
    atomic_store(&c->phase, 2);
    CHECK_OK(ferry_heap_push_ex(h, &(int64_t){k.i64 + NREC}, 8, &r, sizeof r, gen, FT_TIMEOUT));
    atomic_store(&c->phase, 0);
  }
  ferry_heap_close(h);
}

#define MISS_NONE (-1)
#define MISS_ANY (-2)

/* Pops everything: whole records, none twice, all of one set in
 * [set_lo, set_hi], and all nrec ids but may_miss (an id, MISS_NONE or
 * MISS_ANY: one, any). */
static void drain_check(ferry_heap *h, uint32_t nrec, int may_miss, uint32_t set_lo,
                        uint32_t set_hi)
{
  uint8_t seen[NREC] = {0};
  uint32_t got = 0, set = UINT32_MAX;
  struct rec r;
  ssize_t n;
  while ((n = ferry_heap_pop(h, NULL, &r, sizeof r, 0)) == sizeof r) {
    CHECK(r.id < NREC && r.check == rec_check(&r));
    if (r.id >= NREC)
      continue;
    CHECK(!seen[r.id]); /* never duplicated */
    seen[r.id] = 1;
    if (set == UINT32_MAX)
      set = r.set;
    CHECK_EQ(r.set, set); /* one set, never a mixture */
    got++;
  }
  CHECK_RC(n, -EAGAIN);
  if (got)
    CHECK(set >= set_lo && set <= set_hi);
  uint32_t missing = 0;
  for (uint32_t i = 0; i < nrec; i++)
    if (!seen[i]) {
      missing++;
      CHECK(may_miss == MISS_ANY || (int)i == may_miss);
    }
  CHECK(missing <= 1);
}

static void worker_check(void *p)
{
  struct heap_ctx *c = p;
  CHECK_OK(ferry_heap_validate(c->h, FT_TIMEOUT));
  int phase = atomic_load(&c->phase);
  int miss = phase == 0 ? MISS_NONE : phase == 1 ? MISS_ANY : atomic_load(&c->held);
  drain_check(c->h, NREC, miss, 0, 0);
  /* and the heap goes on working */
  struct rec r = mk(1, 0);
  CHECK_OK(ferry_heap_push(c->h, ik(1), &r, sizeof r, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_pop(c->h, NULL, &r, sizeof r, 0), sizeof r);
}

static void teardown(void *p)
{
  struct heap_ctx *c = p;
  ferry_heap_close(c->h);
  c->h = NULL;
  ferry_unlink(c->name);
}

CRASH_SCENARIO(heap_push, .prefix = "heap.push.", .setup = setup, .victim = worker_victim,
               .check = worker_check, .teardown = teardown);
CRASH_SCENARIO(heap_pop, .prefix = "heap.pop.", .setup = setup, .victim = worker_victim,
               .check = worker_check, .teardown = teardown);

/* ---- clear ------------------------------------------------------------------- */

static void clear_victim(void *p)
{
  struct heap_ctx *c = p;
  ferry_heap *h = victim_open(c);
  CHECK_OK(ferry_heap_clear(h, FT_TIMEOUT)); /* the setup's records */
  atomic_store(&c->clears, 1);
  for (uint32_t i = 0; i < ITER; i++) {
    for (uint32_t id = 0; id < NREC; id++) {
      struct rec r = mk(id, i + 1);
      CHECK_OK(ferry_heap_push(h, ik(id), &r, sizeof r, FT_TIMEOUT));
    }
    atomic_store(&c->batches, i + 1);
    uint64_t g;
    CHECK_OK(ferry_heap_generation(h, &g));
    atomic_store(&c->gen_before, g);
    CHECK_OK(ferry_heap_clear(h, FT_TIMEOUT));
    atomic_store(&c->clears, i + 2);
  }
  ferry_heap_close(h);
}

static void clear_check(void *p)
{
  struct heap_ctx *c = p;
  CHECK_OK(ferry_heap_validate(c->h, FT_TIMEOUT));
  uint32_t b = atomic_load(&c->batches), cl = atomic_load(&c->clears);
  ssize_t size = ferry_heap_size(c->h);
  uint64_t g;
  CHECK_OK(ferry_heap_generation(c->h, &g));
  if (cl == b + 1) {
    CHECK_EQ(size, 0); /* the last clear finished */
  } else {
    /* died inside a clear: the batch whole, or nothing; and never the old
     * generation once the batch is gone */
    CHECK(size == 0 || size == NREC);
    if (b > 0 && size == 0)
      CHECK(g > atomic_load(&c->gen_before));
    if (size)
      drain_check(c->h, NREC, MISS_NONE, b, b);
  }
}

CRASH_SCENARIO(heap_clear, .prefix = "heap.clear.", .setup = setup, .victim = clear_victim,
               .check = clear_check, .teardown = teardown);

/* ---- replace_all --------------------------------------------------------------- */

static void replace_victim(void *p)
{
  struct heap_ctx *c = p;
  ferry_heap *h = victim_open(c);
  struct rec rs[NREC];
  ferry_heap_record recs[NREC];
  for (uint32_t i = 0; i < ITER; i++) {
    for (uint32_t id = 0; id < NREC; id++) {
      rs[id] = mk(id, i + 1);
      recs[id] = (ferry_heap_record){ik((int64_t)(NREC - id)), &rs[id], sizeof rs[id]};
    }
    CHECK_OK(ferry_heap_replace_all(h, recs, NREC, FT_TIMEOUT));
    atomic_store(&c->replaced, i + 1);
  }
  ferry_heap_close(h);
}

static void replace_check(void *p)
{
  struct heap_ctx *c = p;
  CHECK_OK(ferry_heap_validate(c->h, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(c->h), NREC);
  uint32_t done = atomic_load(&c->replaced);
  drain_check(c->h, NREC, MISS_NONE, done, done + 1);
  /* a later replace works: the replace lock is free or taken over */
  struct rec r = mk(0, 99);
  ferry_heap_record one = {ik(0), &r, sizeof r};
  CHECK_OK(ferry_heap_replace_all(c->h, &one, 1, FT_TIMEOUT));
  CHECK_EQ(ferry_heap_size(c->h), 1);
}

CRASH_SCENARIO(heap_replace, .prefix = "heap.replace.", .setup = setup, .victim = replace_victim,
               .check = replace_check, .teardown = teardown);

/* ---- commit: growing into uncommitted slots ------------------------------------
 * An empty heap whose areas commit in steps; the victim pushes records one
 * after another, committing a step at the first push and at every boundary
 * after. A death after the reservation but before the watermark leaves
 * reserved pages under an old watermark: the survivor's pushes commit them
 * again and go on. */

#define GROW_RECS 3000
#define GROW_CAP 4096

struct grow_ctx {
  char name[64];
  ferry_heap *h;
  _Atomic uint32_t done; /* records 0..done-1 pushed; record done may be */
};

static uint64_t grow_val(uint64_t id) { return id * 0x9e3779b97f4a7c15u ^ 0x5a5a; }

static void grow_setup(void *p)
{
  struct grow_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-hgrow");
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = GROW_CAP;
  o.max_capacity = GROW_CAP;
  o.max_payload = 8;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  REQUIRE_OK(ferry_heap_create(c->name, &o, &c->h));
}

static void grow_push(ferry_heap *h, uint64_t id)
{
  uint64_t v = grow_val(id);
  CHECK_OK(ferry_heap_push(h, ik((int64_t)id), &v, sizeof v, FT_TIMEOUT));
}

static void grow_victim(void *p)
{
  struct grow_ctx *c = p;
  ferry_heap *h = NULL;
  if (ferry_heap_open(c->name, NULL, &h) != 0)
    ft_child_exit();
  for (uint32_t id = 0; id < GROW_RECS; id++) {
    grow_push(h, id);
    atomic_store(&c->done, id + 1);
  }
  ferry_heap_close(h);
}

static void grow_check(void *p)
{
  struct grow_ctx *c = p;
  CHECK_OK(ferry_heap_validate(c->h, FT_TIMEOUT));
  uint32_t done = atomic_load(&c->done);
  ssize_t size = ferry_heap_size(c->h);
  CHECK(size == (ssize_t)done || size == (ssize_t)done + 1);
  /* The survivor grows on to the end, past the victim's last step. */
  for (uint64_t id = (uint64_t)size; id < GROW_CAP; id++)
    grow_push(c->h, id);
  CHECK_OK(ferry_heap_validate(c->h, FT_TIMEOUT));
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(c->h, &s));
  CHECK_EQ(s.size, GROW_CAP);
  CHECK(s.committed_bytes >= s.used_bytes);
  /* Every record whole, in key order. */
  for (uint64_t id = 0; id < GROW_CAP; id++) {
    ferry_heap_key k;
    uint64_t v = 0;
    CHECK_EQ(ferry_heap_pop(c->h, &k, &v, sizeof v, 0), (ssize_t)sizeof v);
    CHECK_EQ(k.i64, (int64_t)id);
    CHECK_EQ(v, grow_val(id));
  }
}

static void grow_teardown(void *p)
{
  struct grow_ctx *c = p;
  ferry_heap_close(c->h);
  c->h = NULL;
  ferry_unlink(c->name);
}

CRASH_SCENARIO(heap_commit, .prefix = "heap.commit.", .setup = grow_setup, .victim = grow_victim,
               .check = grow_check, .teardown = grow_teardown);
