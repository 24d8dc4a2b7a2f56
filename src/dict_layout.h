/* SPDX-License-Identifier: MIT */
/*
 * dict_layout.h: the object area of a FERRY_KIND_DICT region. Spec with the
 * same diagram: docs/layout/dict.md; the algorithm, its proof sketch and
 * what a death at each step leaves: docs/design/dict.md. Never installed.
 *
 * Offsets are from the start of the object area (64-byte aligned). Offsets
 * only, never pointers; slot links are index + 1 (0 = none).
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, last of the object
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__DICT_HDR_SIZE
 *       16     4  flags              create; FERRY__DICT_F_*
 *       20     4  nstripes           create; power of two
 *       24     4  max_key            create; bytes
 *       28     4  max_value          create; bytes
 *       32     8  capacity           create; the limit with FIXED, else info
 *       40     8  max_capacity       create; slots
 *       48     8  nbuckets           create; power of two >= nstripes
 *       56     8  slot_stride        create; multiple of 8
 *   ---- line 1 (64) ----
 *       64     8  stripes_offset     create; == FERRY__DICT_HDR_SIZE
 *       72     8  buckets_offset     create
 *       80     8  slots_offset       create; multiple of 64
 *       88     8  committed          atomic; slots whose memory is reserved
 *                                    (fallocate); only raised, by writers
 *                                    before they hand out a slot at or past
 *                                    it; <= max_capacity [dict-commit]
 *       96     4  checksum           create; FNV-1a of bytes 8..87: every
 *                                    immutable field after the magic, so
 *                                    no scribble goes unseen
 *      100    28  reserved (zero)
 *   ---- line 2 (128): written by inserting writers ----
 *      128     8  hw                 atomic; slots ever handed out (CAS)
 *      136     8  repairs            atomic; stripe rebuilds after a death
 *      144    48  reserved (zero)
 *      192        end of header (FERRY__DICT_HDR_SIZE)
 *
 *   stripes   nstripes x 64 bytes (one cache line each):
 *        0    16  lock        region lock (region_lock.h): every change to
 *                         the stripe [dict-lock]
 *       16     4  seq         atomic seqlock word [dict-seqlock]
 *       20     4  free_head   slot index + 1 of the stripe's free list
 *       24     8  count       atomic; live entries of the stripe
 *       32    32  reserved
 *   buckets   nbuckets x 4 bytes: atomic head of each chain (index + 1);
 *             bucket b belongs to stripe b & (nstripes - 1)
 *   slots     max_capacity x slot_stride at slots_offset; the memory of
 *             slots at or past `committed` is not reserved, and nothing
 *             reads or writes it [dict-commit]
 *
 * Slot (slot_stride = 48 + align8(max_key) + 2 * align8(max_value)):
 *
 *   offset  size  field
 *        0     4  state     atomic; FREE 0 / LIVE 1: the ground truth
 *        4     4  stripe    atomic; owning stripe + 1, 0 = never owned
 *        8     8  hash      of the key
 *       16     4  klen
 *       20     4  next      atomic; chain (live) or free list (free) link
 *       24     8  vword     atomic; value length << 1 | current buffer
 *       32    16  reserved
 *       48     K  key
 *     48+K     V  value buffer 0
 *   48+K+V     V  value buffer 1
 *
 * Slot state word (changed only under the owning stripe's lock):
 *
 *   value  meaning                    next (by)
 *   -----  -------------------------  ------------------------------------
 *   FREE   on the stripe's free list  LIVE: insert, after key, value and
 *          (or being filled)          vword are written (release): commit
 *   LIVE   an entry; in its bucket's  FREE: delete, after unlinking:
 *          chain (or about to be)     commit; clear
 *
 * vword: a value change writes the other buffer, then stores
 * (len << 1 | other) with release: the commit point of set/cas/update.
 *
 * Seqlock word `seq` per stripe [dict-seqlock]:
 *
 *   value  meaning                          changed by
 *   -----  -------------------------------  --------------------------------
 *   even   no writer inside a critical      +1 by the lock holder before it
 *          phase: readers' copies are good  changes links, states or vwords
 *   odd    a writer is changing the stripe  +1 by the same holder after; a
 *          (or died doing so)               repairing holder makes it even
 *
 * Untrusted [dict-untrusted]: every slot index (bucket heads, chain and
 * free-list links, free_head, hw), key length and value word read from the
 * mapping is checked where it is used, against the geometry the handle
 * validated at open; an impossible value is FERRY_ECORRUPT (under a lock)
 * or a torn read to retry (without one), never an access outside the
 * region. Walks are bounded by max_capacity steps.
 */
#ifndef FERRY_DICT_LAYOUT_H
#define FERRY_DICT_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "region_lock.h"

/* 'F','E','R','R','Y','D','C',1 read as little-endian bytes. */
#define FERRY__DICT_MAGIC UINT64_C(0x0143445952524546)
/* 2.0: stripe locks are region locks, judged by participant slots.
 * 3.0: slots committed in steps as the dict grows (`committed`); a 2.x
 * writer would hand out slots past the committed watermark. 4.0: the
 * checksum of the immutable fields. */
#define FERRY__DICT_VERSION_MAJOR 4
#define FERRY__DICT_VERSION_MINOR 0
#define FERRY__DICT_HDR_SIZE 192
#define FERRY__DICT_STRIPE_SIZE 64
#define FERRY__DICT_SLOT_HDR 48

#define FERRY__DICT_F_FIXED (1u << 0)

enum {
  FERRY__DICT_FREE = 0,
  FERRY__DICT_LIVE = 1,
};

struct ferry__dict_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t flags;
  uint32_t nstripes;
  uint32_t max_key;
  uint32_t max_value;
  uint64_t capacity;
  uint64_t max_capacity;
  uint64_t nbuckets;
  uint64_t slot_stride;
  /* line 1 */
  uint64_t stripes_offset;
  uint64_t buckets_offset;
  uint64_t slots_offset;
  _Atomic uint64_t committed;
  uint32_t checksum;
  uint8_t reserved1[28];
  /* line 2 */
  _Atomic uint64_t hw;
  _Atomic uint64_t repairs;
  uint8_t reserved2[48];
};

struct ferry__dict_stripe {
  struct ferry__rlock lock;
  _Atomic uint32_t seq;
  uint32_t free_head;
  _Atomic uint64_t count;
  uint8_t reserved[32];
};

struct ferry__dict_slot {
  _Atomic uint32_t state;
  _Atomic uint32_t stripe;
  uint64_t hash;
  uint32_t klen;
  _Atomic uint32_t next;
  _Atomic uint64_t vword;
  uint64_t reserved[2];
  unsigned char data[]; /* key, value 0, value 1 */
};

static_assert(offsetof(struct ferry__dict_hdr, magic) == 0, "magic");
static_assert(offsetof(struct ferry__dict_hdr, version_major) == 8, "version_major");
static_assert(offsetof(struct ferry__dict_hdr, header_size) == 12, "header_size");
static_assert(offsetof(struct ferry__dict_hdr, flags) == 16, "flags");
static_assert(offsetof(struct ferry__dict_hdr, nstripes) == 20, "nstripes");
static_assert(offsetof(struct ferry__dict_hdr, max_key) == 24, "max_key");
static_assert(offsetof(struct ferry__dict_hdr, max_value) == 28, "max_value");
static_assert(offsetof(struct ferry__dict_hdr, capacity) == 32, "capacity");
static_assert(offsetof(struct ferry__dict_hdr, max_capacity) == 40, "max_capacity");
static_assert(offsetof(struct ferry__dict_hdr, nbuckets) == 48, "nbuckets");
static_assert(offsetof(struct ferry__dict_hdr, slot_stride) == 56, "slot_stride");
static_assert(offsetof(struct ferry__dict_hdr, stripes_offset) == 64, "stripes_offset");
static_assert(offsetof(struct ferry__dict_hdr, buckets_offset) == 72, "buckets_offset");
static_assert(offsetof(struct ferry__dict_hdr, slots_offset) == 80, "slots_offset");
static_assert(offsetof(struct ferry__dict_hdr, committed) == 88, "committed");
static_assert(offsetof(struct ferry__dict_hdr, checksum) == 96, "checksum");
static_assert(offsetof(struct ferry__dict_hdr, hw) == 128, "hw");
static_assert(offsetof(struct ferry__dict_hdr, repairs) == 136, "repairs");
static_assert(sizeof(struct ferry__dict_hdr) == FERRY__DICT_HDR_SIZE, "dict header size");
static_assert(offsetof(struct ferry__dict_stripe, seq) == 16, "stripe seq");
static_assert(offsetof(struct ferry__dict_stripe, free_head) == 20, "stripe free_head");
static_assert(offsetof(struct ferry__dict_stripe, count) == 24, "stripe count");
static_assert(sizeof(struct ferry__dict_stripe) == FERRY__DICT_STRIPE_SIZE, "stripe size");
static_assert(offsetof(struct ferry__dict_slot, stripe) == 4, "slot stripe");
static_assert(offsetof(struct ferry__dict_slot, hash) == 8, "slot hash");
static_assert(offsetof(struct ferry__dict_slot, klen) == 16, "slot klen");
static_assert(offsetof(struct ferry__dict_slot, next) == 20, "slot next");
static_assert(offsetof(struct ferry__dict_slot, vword) == 24, "slot vword");
static_assert(offsetof(struct ferry__dict_slot, data) == FERRY__DICT_SLOT_HDR, "slot data");

/* The checksum of every immutable field after the magic (bytes 8..87). */
static inline uint32_t ferry__dict_hdr_checksum(const struct ferry__dict_hdr *h)
{
  return ferry__fnv1a((const uint8_t *)h + 8, offsetof(struct ferry__dict_hdr, committed) - 8,
                      FERRY__FNV_SEED);
}

#endif /* FERRY_DICT_LAYOUT_H */
