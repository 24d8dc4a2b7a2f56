/* SPDX-License-Identifier: MIT */
/*
 * corrupt_bus.c: random corruption of a bus region: its region header and
 * participant table, the bus header, the shared words (head, masks, event
 * counts, ready/active sets), the schema and the frames. The operator is
 * both the publisher (it creates the bus on its first batch, so that the
 * handle is its own) and a subscriber that leaves and joins again every
 * few batches (so that opens meet the corrupted header). Every call must
 * return one of its documented results; every frame handed out must lie
 * inside the mapping, with the schema the bus was created with.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/ferry.h"

#define MAX_SUBS 4

static const ferry_array_spec SPECS[2] = {
    {"a", FERRY_DTYPE_U32, 1, {100}},
    {"b", FERRY_DTYPE_F64, 2, {3, 5}},
};

struct bus_state {
  ferry_bus *b;
  ferry_sub *s;
  ferry_bus_mode mode;
  int batches;
};

static void setup(struct corrupt_ctx *c)
{
  /* The operator creates the bus: a publisher handle is not usable in a
   * child it was inherited by. */
  ft_name(c->name, sizeof c->name, "corrupt-bus");
}

/* Every array of f lies inside region r, and the frame is the bus's. */
static void check_frame(const ferry_frame *f, ferry_region *r)
{
  const uint8_t *lo = ferry_region_data(r), *hi = lo + ferry_region_data_size(r);
  CHECK_EQ(ferry_frame_count(f), 2);
  for (size_t i = 0; i < ferry_frame_count(f) && i < 2; i++) {
    ferry_array v;
    CHECK_OK(ferry_frame_array_at(f, i, &v));
    CHECK(strcmp(v.name, SPECS[i].name) == 0);
    CHECK_EQ(v.nbytes, i == 0 ? 400 : 120);
    CHECK((const uint8_t *)v.data >= lo && (const uint8_t *)v.data + v.nbytes <= hi);
  }
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct bus_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
    ferry_bus_options o;
    ferry_bus_options_init(&o);
    st->mode = ft_rand(rng) % 2 ? FERRY_BUS_LATEST : FERRY_BUS_LOCKSTEP;
    o.mode = st->mode;
    o.slots = 3;
    o.max_subscribers = MAX_SUBS;
    o.region.liveness_ns = 20 * FERRY_MSEC;
    REQUIRE_OK(ferry_bus_create(c->name, SPECS, 2, &o, &st->b));
  }
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 0;
  /* One subscription kept for the whole round, so that its takes meet the
   * corrupted words; and now and then a join and leave of another, so
   * that opens meet the corrupted header and table. */
  if (!st->s) {
    int rc = ferry_bus_subscribe(c->name, &oo, &st->s);
    if (rc) {
      st->s = NULL; /* a clear error: corrupt header, table full, ended */
      CHECK(rc < 0);
    }
  }
  if (++st->batches % 10 == 0) {
    ferry_sub *t;
    int rc = ferry_bus_subscribe(c->name, &oo, &t);
    CHECK(rc <= 0);
    if (rc == 0)
      ferry_bus_unsubscribe(t);
  }
  ferry_region *pr = ferry_bus_region(st->b);

  ferry_frame *lf;
  int rc = ferry_bus_loan(st->b, &lf, (int64_t)(ft_rand(rng) % 2) * FERRY_MSEC);
  CHECK(rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT);
  if (rc == 0) {
    check_frame(lf, pr);
    ferry_array v;
    if (ferry_frame_array(lf, "a", &v) == 0)
      ((uint32_t *)v.data)[0] = (uint32_t)ferry_bus_seq(st->b);
    CHECK_OK(ferry_bus_publish(st->b, lf));
  }

  if (st->s) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    rc = ferry_bus_next(st->s, &f, &info, (int64_t)(ft_rand(rng) % 2) * FERRY_MSEC);
    CHECK(rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EPIPE || rc == FERRY_ECORRUPT);
    if (rc == 0) {
      check_frame(f, ferry_sub_region(st->s));
      if (st->mode == FERRY_BUS_LOCKSTEP)
        CHECK_EQ(info.skipped, 0);
      CHECK_OK(ferry_bus_release(st->s, f));
    }
    ferry_bus_sub_stats ss;
    CHECK_OK(ferry_sub_stats_get(st->s, &ss));
    CHECK(ss.slot >= 1 && ss.slot <= MAX_SUBS);
  }

  ferry_bus_stats bs;
  CHECK_OK(ferry_bus_stats_get(st->b, &bs));
  CHECK_EQ(bs.slots, 3);
  CHECK_EQ(bs.mode, st->mode);
  CHECK_EQ(bs.max_subscribers, MAX_SUBS);
  CHECK(bs.subscribers <= 64);
  rc = ferry_bus_wait_subscribers(st->b, 1, 0);
  CHECK(rc == 0 || rc == -EAGAIN);

  ferry_bus_sub_stats subs[MAX_SUBS];
  ssize_t n = ferry_bus_stat(c->name, &bs, subs, MAX_SUBS);
  CHECK(n < 0 || n <= MAX_SUBS);
  for (ssize_t i = 0; i < n && i < MAX_SUBS; i++)
    CHECK(subs[i].slot >= 1 && subs[i].slot <= MAX_SUBS);
}

static void teardown(struct corrupt_ctx *c)
{
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(bus, .kind = "bus", .setup = setup, .operate = operate, .teardown = teardown);
