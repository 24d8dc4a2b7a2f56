/* SPDX-License-Identifier: MIT */
/*
 * corrupt_array.c: random corruption of an array region: its header,
 * participant table and descriptor table (the data itself is the user's:
 * any bytes are valid there). The operator reopens the region again and
 * again; an open must fail clearly or give views that lie wholly inside
 * the mapping, which it then reads and writes end to end.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/array.h"

struct array_state {
  ferry_arrays *a;
  int batches;
};

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-array");
  ferry_array_spec s[3] = {
      {.name = "frame", .dtype = FERRY_DTYPE_F32, .ndim = 2, .shape = {16, 24}},
      {.name = "seq", .dtype = FERRY_DTYPE_U64, .ndim = 0},
      {.name = "img", .dtype = FERRY_DTYPE_U8, .ndim = 3, .shape = {4, 5, 3}},
  };
  ferry_array_options o;
  ferry_array_options_init(&o);
  o.region.max_participants = 4;
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(c->name, s, 3, &o, &a));
  ferry_array_close(a);
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct array_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->a || ++st->batches % 4 == 0) {
    ferry_array_close(st->a);
    st->a = NULL;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    o.role = FERRY_ROLE_WRITER;
    int rc = ferry_array_open(c->name, &o, &st->a);
    if (rc) {
      st->a = NULL; /* a clear error: the header or the table is corrupt */
      CHECK(rc < 0);
      return;
    }
  }
  ferry_region *r = ferry_array_region(st->a);
  const uint8_t *lo = ferry_region_data(r);
  const uint8_t *hi = lo + ferry_region_data_size(r);
  const ferry_frame *f = ferry_array_frame(st->a);
  size_t n = ferry_frame_count(f);
  CHECK(n >= 1 && n <= FERRY_ARRAY_MAX_COUNT);
  for (size_t i = 0; i < n; i++) {
    ferry_array v;
    REQUIRE_OK(ferry_frame_array_at(f, i, &v));
    CHECK(v.ndim <= FERRY_ARRAY_MAX_DIMS && v.itemsize == ferry_dtype_size(v.dtype));
    CHECK(v.nbytes == v.count * v.itemsize);
    uint8_t *p = v.data;
    bool inside = p >= lo && p <= hi && v.nbytes <= (size_t)(hi - p);
    CHECK(inside);
    if (!inside)
      return;
    ferry_array same;
    CHECK_OK(ferry_array_get(st->a, v.name, &same));
    CHECK(same.data == v.data && same.nbytes == v.nbytes);
    /* Touch every byte: a view outside the mapping would fault here. */
    uint8_t x = (uint8_t)ft_rand(rng);
    for (size_t b = 0; b < v.nbytes; b++)
      p[b] ^= x;
  }
  ferry_array none;
  CHECK(ferry_array_get(st->a, "no-such-array", &none) == -ENOENT);
}

static void teardown(struct corrupt_ctx *c)
{
  struct array_state *st = c->state;
  if (st) {
    ferry_array_close(st->a);
    free(st);
    c->state = NULL;
  }
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(array, .kind = "array", .setup = setup, .operate = operate,
                 .teardown = teardown);
