/* SPDX-License-Identifier: MIT */
/*
 * list_layout.h: the object area of a FERRY_KIND_LIST region. Spec with the
 * same diagram: docs/layout/list.md; the algorithm, its proof sketch and
 * what a death at each step leaves: docs/design/list.md. Never installed.
 *
 * Offsets are from the start of the object area (64-byte aligned). Offsets
 * only, never pointers.
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, last of the object
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__LIST_HDR_SIZE
 *       16     8  capacity           create; items, 1..FERRY_LIST_MAX_CAPACITY
 *       24     4  max_item           create; bytes per item, 0..MAX_ITEM
 *       28     4  reserved (zero)
 *       32     8  nslots             create; == 2 * capacity
 *       40     8  slot_stride        create; == align8(8 + max_item)
 *       48     8  index_offset       create; == FERRY__LIST_HDR_SIZE
 *       56     8  free_offset        create; after the two index arrays
 *       64     8  slots_offset       create; after the free stack, 64-aligned
 *       72     4  checksum           create; FNV-1a of bytes 8..71: every
 *                                    immutable field after the magic, so
 *                                    no scribble goes unseen
 *       76    52  reserved (zero)
 *   ---- line 2 (128): everything below changes under `lock` ----
 *      128    16  lock               ferry_mutex: every access [list-lock]
 *      144     8  state              atomic; the commit word [list-state]
 *      152     8  hw                 slots ever handed out since the last clear
 *      160     8  free_top           entries on the free stack
 *      168     8  changes            atomic; changes since creation
 *      176     8  repairs            atomic; rebuilds after a dead lock holder
 *      184    72  reserved (zero)
 *      256        end of header (FERRY__LIST_HDR_SIZE)
 *
 *   index[0]  at index_offset: capacity x u32 slot numbers
 *   index[1]  at index_offset + 4 * capacity
 *   free      at free_offset: nslots x u32, a stack of free slots below hw
 *   slots     at slots_offset: nslots x slot_stride
 *
 * The state word [list-state]: bit 63 names the current index array, bits
 * 0..62 the length. Items are index[cur][0..length) in order; nothing else
 * of either array means anything. A change becomes visible with one store
 * of the state word (append, extend, insert, pop, replace_all, clear) or of
 * one entry of the current array (set); everything it wrote before that
 * store is invisible until it.
 *
 * Slot (slot_stride bytes):
 *
 *   offset  size  field
 *        0     4  len       item bytes, <= max_item
 *        4     4  reserved
 *        8   max  data
 *
 * A slot below hw is either named by an entry of the current index (in
 * use) or on the free stack (free); the index is the ground truth and a
 * lock holder finding the previous holder dead rebuilds the free stack from
 * it [list-rebuild].
 */
#ifndef FERRY_LIST_LAYOUT_H
#define FERRY_LIST_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "ferry/sync.h"

#define FERRY__LIST_MAGIC UINT64_C(0x5453494c59525246) /* "FRRYLIST", little-endian */
/* 2.0: the checksum of the immutable fields; opens of other majors fail. */
#define FERRY__LIST_VERSION_MAJOR 2
#define FERRY__LIST_VERSION_MINOR 0
#define FERRY__LIST_HDR_SIZE 256
#define FERRY__LIST_SLOT_HDR 8
#define FERRY__LIST_CUR_BIT (UINT64_C(1) << 63)
#define FERRY__LIST_LEN_MASK (FERRY__LIST_CUR_BIT - 1)

struct ferry__list_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint64_t capacity;
  uint32_t max_item;
  uint32_t reserved0;
  uint64_t nslots;
  uint64_t slot_stride;
  uint64_t index_offset;
  uint64_t free_offset;
  uint64_t slots_offset;
  uint32_t checksum;
  uint8_t reserved1[52];
  /* line 2 */
  ferry_mutex lock;
  _Atomic uint64_t state;
  uint64_t hw;
  uint64_t free_top;
  _Atomic uint64_t changes; /* written under the lock, read by stats without it */
  _Atomic uint64_t repairs;
  uint8_t reserved2[72];
};

struct ferry__list_slot {
  uint32_t len;
  uint32_t reserved;
  uint8_t data[];
};

static_assert(offsetof(struct ferry__list_hdr, magic) == 0, "list magic");
static_assert(offsetof(struct ferry__list_hdr, version_major) == 8, "list version_major");
static_assert(offsetof(struct ferry__list_hdr, header_size) == 12, "list header_size");
static_assert(offsetof(struct ferry__list_hdr, capacity) == 16, "list capacity");
static_assert(offsetof(struct ferry__list_hdr, max_item) == 24, "list max_item");
static_assert(offsetof(struct ferry__list_hdr, nslots) == 32, "list nslots");
static_assert(offsetof(struct ferry__list_hdr, slot_stride) == 40, "list slot_stride");
static_assert(offsetof(struct ferry__list_hdr, index_offset) == 48, "list index_offset");
static_assert(offsetof(struct ferry__list_hdr, free_offset) == 56, "list free_offset");
static_assert(offsetof(struct ferry__list_hdr, slots_offset) == 64, "list slots_offset");
static_assert(offsetof(struct ferry__list_hdr, checksum) == 72, "list checksum");
static_assert(offsetof(struct ferry__list_hdr, lock) == 128, "list lock");
static_assert(offsetof(struct ferry__list_hdr, state) == 144, "list state");
static_assert(offsetof(struct ferry__list_hdr, hw) == 152, "list hw");
static_assert(offsetof(struct ferry__list_hdr, free_top) == 160, "list free_top");
static_assert(offsetof(struct ferry__list_hdr, changes) == 168, "list changes");
static_assert(offsetof(struct ferry__list_hdr, repairs) == 176, "list repairs");
static_assert(sizeof(struct ferry__list_hdr) == FERRY__LIST_HDR_SIZE, "list header size");
static_assert(offsetof(struct ferry__list_slot, data) == FERRY__LIST_SLOT_HDR, "list slot header");

/* The checksum of every immutable field after the magic (bytes 8..71). */
static inline uint32_t ferry__list_hdr_checksum(const struct ferry__list_hdr *h)
{
  return ferry__fnv1a((const uint8_t *)h + 8, offsetof(struct ferry__list_hdr, checksum) - 8,
                      FERRY__FNV_SEED);
}

#endif /* FERRY_LIST_LAYOUT_H */
