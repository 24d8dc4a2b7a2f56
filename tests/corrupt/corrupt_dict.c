/* SPDX-License-Identifier: MIT */
/*
 * corrupt_dict.c: random corruption of a dict. The operator sets, gets,
 * deletes, compares-and-sets, updates (its callback checks the length it
 * is handed), walks the cursor, asks for size and statistics, clears and
 * validates, every writer with a short timeout; it reopens the dict now
 * and then. Every result must be a length within the caller's buffers and
 * the dict's limits, or an error code.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "dict_layout.h"
#include "ferry/dict.h"

#define CAP 64
#define KMAX 16
#define VMAX 40
#define NKEYS 48

struct dict_state {
  ferry_dict *d;
  int batches;
};

static size_t make_key(char *buf, size_t cap, uint32_t id)
{
  return (size_t)snprintf(buf, cap, "k%u", id);
}

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-dict");
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.flags = FERRY_DICT_FIXED;
  o.capacity = CAP;
  o.max_key = KMAX;
  o.max_value = VMAX;
  o.region.max_participants = 4;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(c->name, &o, &d));
  /* The committed watermark [dict-commit] and the count it bounds. */
  uint64_t obj = corrupt_object_offset(ferry_dict_region(d));
  c->hot[c->nhot++] = obj + offsetof(struct ferry__dict_hdr, committed);
  c->hot[c->nhot++] = obj + offsetof(struct ferry__dict_hdr, hw);
  char k[KMAX];
  for (uint32_t id = 0; id < NKEYS / 2; id++)
    CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, id), &id, sizeof id, FT_TIMEOUT));
  ferry_dict_close(d);
}

static bool fair_error(ssize_t rc)
{
  return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ENOSPC || rc == -ENOENT || rc == -EEXIST ||
         rc == -EMSGSIZE || rc == FERRY_ECORRUPT || rc == FERRY_ETRUNCATED ||
         rc == FERRY_EVERSION;
}

/* An update callback: the length it is handed must be a possible one. */
static int bump(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                size_t *out_len, void *arg)
{
  (void)arg;
  CHECK(old_len <= VMAX && out_cap == VMAX && (exists || (!old && old_len == 0)));
  uint32_t v = 0;
  if (exists && old_len >= sizeof v)
    memcpy(&v, old, sizeof v);
  v++;
  memcpy(out, &v, sizeof v);
  *out_len = sizeof v;
  return FERRY_DICT_SET;
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct dict_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->d || ++st->batches % 20 == 0) {
    ferry_dict_close(st->d);
    st->d = NULL;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    int rc = ferry_dict_open(c->name, &o, &st->d);
    if (rc) {
      st->d = NULL;
      CHECK(rc < 0);
      return;
    }
  }
  ferry_dict *d = st->d;
  int64_t to = (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC;
  char k[KMAX];
  uint8_t v[VMAX + 8];
  for (int i = 0; i < 4; i++) {
    uint32_t id = (uint32_t)(ft_rand(rng) % NKEYS);
    size_t kl = make_key(k, sizeof k, id);
    ssize_t n = ferry_dict_get(d, k, kl, v, sizeof v);
    CHECK((n >= 0 && n <= VMAX) || fair_error(n));
    int rc;
    switch (ft_rand(rng) % 5) {
    case 0:
      rc = ferry_dict_set(d, k, kl, &id, sizeof id, to);
      break;
    case 1:
      rc = ferry_dict_del(d, k, kl, to);
      break;
    case 2:
      rc = ferry_dict_cas(d, k, kl, v, n > 0 ? (size_t)n : 0, &id, sizeof id, to);
      break;
    case 3:
      rc = ferry_dict_update(d, k, kl, bump, NULL, to);
      CHECK(rc == FERRY_DICT_SET || fair_error(rc));
      rc = 0;
      break;
    default:
      rc = ferry_dict_set_nx(d, k, kl, &id, sizeof id, to);
    }
    CHECK(rc == 0 || fair_error(rc));
  }
  uint64_t cur = 0;
  size_t kl, vl;
  char kb[KMAX + 4];
  int rc;
  for (int steps = 0; steps <= CAP; steps++) {
    rc = ferry_dict_next(d, &cur, kb, sizeof kb, &kl, v, sizeof v, &vl);
    if (rc != 1)
      break;
    CHECK(kl <= KMAX && vl <= VMAX && cur <= CAP);
  }
  CHECK(rc == 0 || rc == 1 || fair_error(rc));
  ssize_t size = ferry_dict_size(d);
  CHECK((size >= 0 && size <= CAP) || size == FERRY_ECORRUPT);
  ferry_dict_stats s;
  rc = ferry_dict_stats_get(d, &s);
  CHECK((rc == 0 && s.size <= CAP && s.slots_used <= CAP) || rc == FERRY_ECORRUPT);
  uint64_t r = ft_rand(rng) % 16;
  if (r == 0) {
    rc = ferry_dict_clear(d, to);
    CHECK(rc == 0 || fair_error(rc));
  } else if (r < 3) {
    rc = ferry_dict_validate(d, to);
    CHECK(rc == 0 || fair_error(rc));
  }
}

static void teardown(struct corrupt_ctx *c)
{
  struct dict_state *st = c->state;
  if (st) {
    ferry_dict_close(st->d);
    free(st);
    c->state = NULL;
  }
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(dict, .kind = "dict", .setup = setup, .operate = operate, .teardown = teardown);
