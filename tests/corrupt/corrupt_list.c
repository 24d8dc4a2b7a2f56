/* SPDX-License-Identifier: MIT */
/*
 * corrupt_list.c: random corruption of a list: its header, lock and state
 * words, index, free stack and items. The operator appends, inserts, gets,
 * sets, pops, copies, replaces, clears and validates, every call with a
 * short timeout; it reopens the list now and then. Every result must be a
 * length within the caller's buffers and the list's limits, or an error
 * code.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/list.h"

#define CAP 32
#define IMAX 24

struct list_state {
  ferry_list *l;
  int batches;
};

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-list");
  ferry_list_options o;
  ferry_list_options_init(&o);
  o.capacity = CAP;
  o.max_item = IMAX;
  o.region.max_participants = 4;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(c->name, &o, &l));
  for (uint32_t i = 0; i < CAP / 2; i++)
    CHECK_OK(ferry_list_append(l, &i, sizeof i, FT_TIMEOUT));
  ferry_list_close(l);
}

static bool fair_error(ssize_t rc)
{
  return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ENOSPC || rc == -ERANGE ||
         rc == -EMSGSIZE || rc == -ENOTRECOVERABLE || rc == FERRY_ECORRUPT;
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct list_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->l || ++st->batches % 20 == 0) {
    ferry_list_close(st->l);
    st->l = NULL;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    int rc = ferry_list_open(c->name, &o, &st->l);
    if (rc) {
      st->l = NULL;
      CHECK(rc < 0);
      return;
    }
  }
  ferry_list *l = st->l;
  int64_t to = (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC;
  uint8_t item[IMAX], buf[IMAX + 8];
  memset(item, (int)(ft_rand(rng) & 0xff), sizeof item);
  for (int i = 0; i < 4; i++) {
    size_t len = (size_t)(ft_rand(rng) % (IMAX + 1));
    uint64_t pos = ft_rand(rng) % (CAP + 2);
    ssize_t n;
    switch (ft_rand(rng) % 6) {
    case 0:
      n = ferry_list_append(l, item, len, to);
      break;
    case 1:
      n = ferry_list_insert(l, pos, item, len, to);
      break;
    case 2:
      n = ferry_list_set(l, pos, item, len, to);
      break;
    case 3:
      n = ferry_list_pop(l, pos, buf, sizeof buf, to);
      CHECK(n <= IMAX);
      n = n > 0 ? 0 : n;
      break;
    default:
      n = ferry_list_get(l, pos, buf, sizeof buf, to);
      CHECK(n <= IMAX);
      n = n > 0 ? 0 : n;
    }
    CHECK(n == 0 || fair_error(n));
  }
  size_t len = ferry_list_len(l);
  CHECK(len <= CAP);
  uint8_t snap[CAP * (4 + IMAX)];
  uint64_t count = 0;
  ssize_t w = ferry_list_copy(l, 0, CAP, snap, sizeof snap, &count, to);
  CHECK((w >= 0 && (size_t)w <= sizeof snap && count <= CAP) || fair_error(w));
  for (size_t at = 0, k = 0; w > 0 && k < count; k++) {
    uint32_t il;
    REQUIRE(at + 4 <= (size_t)w);
    memcpy(&il, snap + at, 4);
    CHECK(il <= IMAX && at + 4 + il <= (size_t)w);
    at += 4 + il;
  }
  ferry_list_stats s;
  int rc = ferry_list_stats_get(l, &s);
  CHECK((rc == 0 && s.len <= CAP && s.capacity == CAP && s.max_item == IMAX) ||
        rc == FERRY_ECORRUPT);
  uint64_t r = ft_rand(rng) % 16;
  if (r == 0) {
    rc = ferry_list_clear(l, to);
  } else if (r == 1) {
    ferry_list_item items[3] = {{item, 1}, {item, IMAX}, {item, 0}};
    rc = ferry_list_replace_all(l, items, 3, to);
  } else if (r < 4) {
    rc = ferry_list_validate(l, to);
  } else {
    rc = 0;
  }
  CHECK(rc == 0 || fair_error(rc));
}

static void teardown(struct corrupt_ctx *c)
{
  struct list_state *st = c->state;
  if (st) {
    ferry_list_close(st->l);
    free(st);
    c->state = NULL;
  }
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(list, .kind = "list", .setup = setup, .operate = operate, .teardown = teardown);
