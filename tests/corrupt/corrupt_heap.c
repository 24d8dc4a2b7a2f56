/* SPDX-License-Identifier: MIT */
/*
 * corrupt_heap.c: random corruption of a heap, one with int64 keys and one
 * with byte-string keys. The operator pushes, pops (and pushes back with
 * the generation it got), peeks, replaces the set, clears, asks for size,
 * generation and statistics, and validates, every call with a short
 * timeout; it reopens the heap now and then, so open's header checks see
 * the damage too. Every result must be a length within the caller's
 * buffers and the heap's limits, or an error code.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/heap.h"
#include "heap_layout.h"

#define CAP 64
#define PAYLOAD 24
#define KEYMAX 12

struct heap_state {
  ferry_heap *h;
  int batches;
};

static void setup_kind(struct corrupt_ctx *c, const char *tag, uint32_t key_type)
{
  ft_name(c->name, sizeof c->name, tag);
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.key_type = key_type;
  o.max_key = KEYMAX;
  o.capacity = CAP;
  o.flags = FERRY_HEAP_FIXED;
  o.max_payload = PAYLOAD;
  o.region.max_participants = 4;
  /* Short slices: a lock word that names a dead holder is taken over
   * quickly, and a reader's bounded wait is short. */
  o.region.liveness_ns = 20 * FERRY_MSEC;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(c->name, &o, &h));
  /* The committed watermarks [heap-commit] and the used counts they bound. */
  uint64_t obj = corrupt_object_offset(ferry_heap_region(h));
  for (int i = 0; i < 2; i++) {
    c->hot[c->nhot++] = obj + offsetof(struct ferry__heap_hdr, area[i].committed);
    c->hot[c->nhot++] = obj + offsetof(struct ferry__heap_hdr, area[i].hw);
  }
  for (int i = 0; i < CAP / 2; i++) {
    uint8_t k[8] = {(uint8_t)i};
    int64_t ik = i;
    CHECK_OK(ferry_heap_push_ex(h, key_type == FERRY_HEAP_KEY_BYTES ? (void *)k : (void *)&ik,
                                key_type == FERRY_HEAP_KEY_BYTES ? 1 + (size_t)i % 8 : 8, &i,
                                sizeof i, FERRY_HEAP_GEN_ANY, FT_TIMEOUT));
  }
  ferry_heap_close(h);
}

static void setup_int(struct corrupt_ctx *c) { setup_kind(c, "corrupt-heap", FERRY_HEAP_KEY_INT64); }
static void setup_bytes(struct corrupt_ctx *c) { setup_kind(c, "corrupt-heapb", FERRY_HEAP_KEY_BYTES); }

/* An error a call may give on a damaged heap. */
static bool fair_error(ssize_t rc)
{
  return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ENOSPC || rc == -ESTALE || rc == -EMSGSIZE ||
         rc == FERRY_ECORRUPT || rc == FERRY_ETRUNCATED || rc == FERRY_EVERSION;
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct heap_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if (!st->h || ++st->batches % 20 == 0) {
    ferry_heap_close(st->h);
    st->h = NULL;
    ferry_open_options o;
    ferry_open_options_init(&o);
    o.timeout_ns = 0;
    int rc = ferry_heap_open(c->name, &o, &st->h);
    if (rc) {
      st->h = NULL; /* a clear error: the header is corrupt, or the table full */
      CHECK(rc < 0);
      return;
    }
  }
  ferry_heap *h = st->h;
  int64_t to = (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC;
  uint8_t key[KEYMAX + 8], buf[PAYLOAD + 8];
  size_t klen = 0;
  uint64_t gen = 0;
  ssize_t n = ferry_heap_pop_ex(h, key, sizeof key, &klen, buf, sizeof buf, &gen, to);
  if (n >= 0) {
    CHECK(n <= PAYLOAD && klen <= KEYMAX && klen <= sizeof key);
    int rc = ferry_heap_push_ex(h, key, klen, buf, (size_t)n, gen, to);
    CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG || fair_error(rc));
  } else {
    CHECK(fair_error(n));
  }
  uint64_t r = ft_rand(rng);
  size_t kl = 1 + (size_t)(r % KEYMAX);
  memcpy(key, &r, sizeof r);
  int rc = ferry_heap_push_ex(h, key, kl, &r, sizeof r, FERRY_HEAP_GEN_ANY, to);
  CHECK(rc == 0 || rc == -EINVAL || fair_error(rc)); /* EINVAL: kl != 8 on an int64 heap */
  n = ferry_heap_peek_ex(h, key, sizeof key, &klen, buf, sizeof buf, &gen);
  CHECK((n >= 0 && n <= PAYLOAD && klen <= KEYMAX) || fair_error(n));
  ssize_t size = ferry_heap_size(h);
  CHECK((size >= 0 && size <= CAP) || size == FERRY_ECORRUPT);
  rc = ferry_heap_generation(h, &gen);
  CHECK(rc == 0 || rc == FERRY_ECORRUPT);
  ferry_heap_stats s;
  rc = ferry_heap_stats_get(h, &s);
  CHECK((rc == 0 && s.size <= CAP && s.max_capacity == CAP) || rc == FERRY_ECORRUPT);
  switch (r % 16) {
  case 0:
    rc = ferry_heap_clear(h, to);
    CHECK(rc == 0 || fair_error(rc));
    break;
  case 1: {
    ferry_heap_record_ex recs[4];
    uint64_t k8[4];
    for (int i = 0; i < 4; i++) {
      k8[i] = ft_rand(rng);
      recs[i] = (ferry_heap_record_ex){&k8[i], 8, &k8[i], sizeof k8[i]};
    }
    rc = ferry_heap_replace_all_ex(h, recs, 4, &gen, to);
    CHECK(rc == 0 || fair_error(rc));
    break;
  }
  case 2:
  case 3:
    rc = ferry_heap_validate(h, to);
    CHECK(rc == 0 || fair_error(rc));
    break;
  }
}

static void teardown(struct corrupt_ctx *c)
{
  struct heap_state *st = c->state;
  if (st) {
    ferry_heap_close(st->h);
    free(st);
    c->state = NULL;
  }
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(heap, .kind = "heap", .setup = setup_int, .operate = operate,
                 .teardown = teardown);
CORRUPT_SCENARIO(heapb, .kind = "heapb", .setup = setup_bytes, .operate = operate,
                 .teardown = teardown);
