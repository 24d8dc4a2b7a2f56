/* SPDX-License-Identifier: MIT */
/*
 * inspect.c: statistics of heaps, dicts and pipes for observers, the
 * processes that only look (`ferry info`, `ferry top`): ferry_heap_stat(),
 * ferry_dict_stat() and ferry_pipe_stat(). The queue and the bus have their
 * own (ferry_queue_stat(), ferry_bus_stat()).
 *
 * An observer maps the region read-only and never registers, so looking
 * changes nothing and costs the objects' hot paths nothing: these calls
 * read what the objects keep anyway (counters, positions, seqlock words),
 * and add no counter of their own.
 *
 * Every byte read here may be rewritten by a live peer at any moment, or
 * be garbage: the immutable fields come from one copy of the header whose
 * checksum agrees, and every field is loaded once into a local, checked
 * against the size of the mapping and the layout's limits, and only then
 * used. A value that does not check out is FERRY_ECORRUPT, never a read
 * outside the mapping. Counters are snapshots: two of them may come from
 * different instants.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/wait.h"
#include "dict_layout.h"
#include "ferry/dict.h"
#include "ferry/error.h"
#include "ferry/heap.h"
#include "ferry/pipe.h"
#include "heap_layout.h"
#include "inspect.h"
#include "pipe_layout.h"
#include "region_internal.h"

/* Opens name as an observer of the given kind and checks its object
 * header's prefix. */
static int observe(const char *name, ferry_kind kind, uint64_t magic, uint16_t major,
                   uint32_t header_size, ferry_region **out)
{
  ferry_region *r;
  int rc = ferry__region_observe(name, kind, &r);
  if (rc)
    return rc;
  if ((rc = ferry__object_check_prefix(r, magic, major, header_size)) != 0) {
    ferry_region_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- heap ---------------------------------------------------------------------- */

int ferry_heap_stat(const char *name, ferry_heap_stats *out)
{
  assert(out);
  ferry_region *r;
  int rc = observe(name, FERRY_KIND_HEAP, FERRY__HEAP_MAGIC, FERRY__HEAP_VERSION_MAJOR,
                   FERRY__HEAP_HDR_SIZE, &r);
  if (rc)
    return rc;
  const struct ferry__heap_hdr *h = ferry__region_object(r);
  struct ferry__heap_hdr hc;
  memcpy(&hc, h, sizeof hc);
  ferry_heap_stats s;
  memset(&s, 0, sizeof s);
  uint32_t flags = hc.flags;
  s.capacity = hc.capacity;
  s.max_capacity = hc.max_capacity;
  s.max_payload = hc.max_payload;
  uint32_t active = atomic_load_explicit(&h->active, memory_order_relaxed) & 1;
  s.size = atomic_load_explicit(&h->area[active].n, memory_order_relaxed);
  s.pushes = atomic_load_explicit(&h->pushes, memory_order_relaxed);
  s.pops = atomic_load_explicit(&h->pops, memory_order_relaxed);
  s.replaces = atomic_load_explicit(&h->replaces, memory_order_relaxed);
  s.repairs = atomic_load_explicit(&h->repairs, memory_order_relaxed);
  /* The sleeper bit of the poppers' event count: 1 if one announced it
   * sleeps (ferry_heap_stats.waiters). */
  s.waiters = atomic_load_explicit(&h->ne_ec, memory_order_relaxed) & FERRY__EC_SLEEPER;
  /* Committed versus used memory [heap-commit]: each area's watermark,
   * checked against max_capacity; the unit from the slot stride, checked
   * against the object's size so the products cannot overflow. */
  uint64_t stride = hc.slot_stride, unit = FERRY__HEAP_UNIT_FIXED + stride;
  uint64_t c0 = atomic_load_explicit(&h->area[0].committed, memory_order_relaxed);
  uint64_t c1 = atomic_load_explicit(&h->area[1].committed, memory_order_relaxed);
  bool bad_commit = stride > r->hc.object_size || c0 > s.max_capacity || c1 > s.max_capacity;
  ferry_region_close(r);
  if (hc.checksum != ferry__heap_hdr_checksum(&hc) || (flags & ~FERRY__HEAP_F_ALL) ||
      ((flags & FERRY__HEAP_F_BYTES) && (flags & FERRY__HEAP_F_DOUBLE)) || s.capacity < 1 ||
      s.max_capacity < s.capacity || s.max_capacity > FERRY_HEAP_MAX_CAPACITY ||
      s.max_payload > FERRY_HEAP_MAX_PAYLOAD || s.size > s.max_capacity || bad_commit)
    return FERRY_ECORRUPT;
  /* <= 2^27 units of at most object_size bytes: no overflow */
  s.committed_bytes = FERRY__HEAP_HDR_SIZE + (c0 + c1) * unit;
  s.used_bytes = FERRY__HEAP_HDR_SIZE + s.size * unit;
  s.key_type = ferry__heap_key_type(flags);
  s.order = (flags & FERRY__HEAP_F_MAX) ? FERRY_HEAP_MAX : FERRY_HEAP_MIN;
  *out = s;
  return 0;
}

/* ---- dict ----------------------------------------------------------------------- */

uint64_t ferry__dict_writes(const struct ferry__dict_stripe *stripes, uint32_t nstripes)
{
  uint64_t n = 0;
  for (uint32_t i = 0; i < nstripes; i++)
    /* relaxed: a count, not a seqlock read; each bump of 2 is one change */
    n += atomic_load_explicit(&stripes[i].seq, memory_order_relaxed) >> 1;
  return n;
}

int ferry__dict_count(const struct ferry__dict_stripe *stripes, uint32_t nstripes,
                      uint64_t max_cap, uint64_t limit, uint64_t *out)
{
  /* The stripes are read one after another, so an entry that moves while
   * we walk (deleted in a stripe read late, inserted in one read early) can
   * be counted twice, and a full table may then sum past its limit. Such a
   * sum is looked at again; one that stays impossible is corruption, not a
   * size [dict-untrusted]. */
  for (int tries = 0; tries < FERRY__DICT_COUNT_TRIES; tries++) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < nstripes; i++) {
      /* relaxed: a count; each stripe's is its own snapshot */
      uint64_t c = atomic_load_explicit(&stripes[i].count, memory_order_relaxed);
      if (c > max_cap)
        return FERRY_ECORRUPT; /* no stripe can hold that many */
      n += c;                  /* <= nstripes * max_cap: no overflow */
    }
    if (n <= limit) {
      *out = n;
      return 0;
    }
  }
  return FERRY_ECORRUPT;
}

int ferry_dict_stat(const char *name, ferry_dict_stats *out)
{
  assert(out);
  ferry_region *r;
  int rc = observe(name, FERRY_KIND_DICT, FERRY__DICT_MAGIC, FERRY__DICT_VERSION_MAJOR,
                   FERRY__DICT_HDR_SIZE, &r);
  if (rc)
    return rc;
  const struct ferry__dict_hdr *h = ferry__region_object(r);
  struct ferry__dict_hdr hc;
  memcpy(&hc, h, sizeof hc);
  uint64_t osize = r->hc.object_size; /* the validated copy, not the live header */
  ferry_dict_stats s;
  memset(&s, 0, sizeof s);
  uint32_t nstripes = hc.nstripes;
  uint64_t stripes_offset = hc.stripes_offset;
  s.capacity = hc.capacity;
  s.max_capacity = hc.max_capacity;
  s.max_key = hc.max_key;
  s.max_value = hc.max_value;
  s.nstripes = nstripes;
  uint64_t stripes_end;
  /* The stripes must lie inside the mapping before any is read. */
  if (hc.checksum != ferry__dict_hdr_checksum(&hc) || nstripes == 0 ||
      (nstripes & (nstripes - 1)) != 0 || stripes_offset < FERRY__DICT_HDR_SIZE ||
      ferry__mul_overflow(nstripes, FERRY__DICT_STRIPE_SIZE, &stripes_end) ||
      ferry__add_overflow(stripes_end, stripes_offset, &stripes_end) || stripes_end > osize ||
      s.max_key < 1 || s.max_key > FERRY_DICT_MAX_KEY || s.max_value < 1 ||
      s.max_value > FERRY_DICT_MAX_VALUE || s.max_capacity > FERRY_DICT_MAX_CAPACITY) {
    ferry_region_close(r);
    return FERRY_ECORRUPT;
  }
  const struct ferry__dict_stripe *st =
      (const struct ferry__dict_stripe *)((const uint8_t *)h + stripes_offset);
  uint32_t flags = hc.flags;
  /* As ferry_dict_size(): a count no dict can hold is corruption. */
  bool bad = ferry__dict_count(st, nstripes, s.max_capacity,
                               (flags & FERRY__DICT_F_FIXED) ? s.capacity : s.max_capacity,
                               &s.size) != 0;
  s.writes = ferry__dict_writes(st, nstripes);
  uint64_t hw = atomic_load_explicit(&h->hw, memory_order_relaxed);
  bad |= hw > s.max_capacity; /* as ferry_dict_stats_get() */
  s.slots_used = hw;
  s.repairs = atomic_load_explicit(&h->repairs, memory_order_relaxed);
  /* Committed versus used memory [dict-commit]: the watermark, checked
   * against max_capacity and hw; the fixed part (header, stripes, buckets)
   * and the stride checked against the object's size. */
  uint64_t committed = atomic_load_explicit(&h->committed, memory_order_relaxed);
  uint64_t fixed = hc.slots_offset, stride = hc.slot_stride;
  bad |= committed > s.max_capacity || hw > committed || fixed > osize || stride > osize;
  ferry_region_close(r);
  if (bad)
    return FERRY_ECORRUPT;
  /* <= 2^26 slots of at most osize bytes: no overflow */
  s.committed_bytes = fixed + committed * stride;
  s.used_bytes = fixed + s.size * stride;
  *out = s;
  return 0;
}

/* ---- pipe ----------------------------------------------------------------------- */

/* Attempts at a reading of a ring's head and tail that no end moved. */
#define PIPE_READ_TRIES 16

int ferry_pipe_stat(const char *name, ferry_pipe_stats *out)
{
  assert(out);
  ferry_region *r;
  int rc = observe(name, FERRY_KIND_PIPE, FERRY__PIPE_MAGIC, FERRY__PIPE_VERSION_MAJOR,
                   FERRY__PIPE_HDR_SIZE, &r);
  if (rc)
    return rc;
  const struct ferry__pipe_hdr *h = ferry__region_object(r);
  uint32_t max_slots = r->hc.max_participants;
  struct ferry__pipe_hdr c; /* the immutable first line */
  memcpy(&c, h, FERRY__CACHELINE);
  ferry_pipe_stats s;
  memset(&s, 0, sizeof s);
  s.capacity = c.capacity;
  s.max_msg_size = c.max_msg;
  bool bad = c.checksum != ferry__pipe_hdr_checksum(&c) || s.capacity < 1 ||
             s.capacity > FERRY_PIPE_MAX_CAPACITY || s.max_msg_size < 1 ||
             s.max_msg_size > FERRY_PIPE_MAX_MSG;
  for (int d = 0; d < 2; d++) {
    uint64_t owner = atomic_load_explicit(&h->end[d].owner, memory_order_relaxed);
    uint32_t slot = atomic_load_explicit(&h->end[d].slot, memory_order_relaxed);
    s.end_slot[d] = owner != 0 && slot < max_slots ? (int32_t)slot : -1;
    s.ends_held += owner != 0;
    const struct ferry__pipe_ring *g = &h->ring[d];
    /* A consistent pair: head, tail, head again unchanged. Then the tail
     * is at most capacity ahead, unless the ring is corrupt. Both ends may
     * move meanwhile; a pair that never settles is clamped, not an error. */
    uint64_t head = 0, tail = 0;
    bool settled = false;
    for (int tries = 0; tries < PIPE_READ_TRIES && !settled; tries++) {
      /* acquire: pair with the releases that publish and free cells */
      head = atomic_load_explicit(&g->head, memory_order_acquire);
      tail = atomic_load_explicit(&g->tail, memory_order_acquire);
      settled = atomic_load_explicit(&g->head, memory_order_acquire) == head;
    }
    if (settled)
      bad |= tail < head || tail - head > s.capacity;
    s.sent[d] = tail;
    s.depth[d] = tail < head ? 0 : tail - head > s.capacity ? s.capacity : tail - head;
    /* An event count's sleeper bit: somebody announced a sleep on it (a
     * sleeper that died leaves it until the next signal clears it). */
    s.waiters += (atomic_load_explicit(&g->data_ec, memory_order_relaxed) & FERRY__EC_SLEEPER) != 0;
    s.waiters += (atomic_load_explicit(&g->space_ec, memory_order_relaxed) & FERRY__EC_SLEEPER) != 0;
  }
  ferry_region_close(r);
  if (bad)
    return FERRY_ECORRUPT;
  *out = s;
  return 0;
}
