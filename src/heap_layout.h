/* SPDX-License-Identifier: MIT */
/*
 * heap_layout.h: the object area of a FERRY_KIND_HEAP region. Spec with the
 * same diagram: docs/layout/heap.md; the algorithm, its proof sketch and
 * what a death at each step leaves: docs/design/heap.md. Never installed.
 *
 * Offsets are from the start of the object area (64-byte aligned). Offsets
 * only, never pointers. Fields written by different parties sit on
 * different cache lines.
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, last of the object
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__HEAP_HDR_SIZE
 *       16     4  flags              create; FERRY__HEAP_F_*
 *       20     4  max_payload        create; bytes per record, 0..MAX
 *       24     8  capacity           create; the limit with FIXED, else info
 *       32     8  max_capacity       create; slots per area
 *       40     8  slot_stride        create; bytes per slot, multiple of 8
 *       48     8  area_size          create; bytes per area, multiple of 64
 *       56     8  areas_offset       create; area 0, multiple of 64
 *   ---- line 1 (64): locks, under which everything below changes ----
 *       64    16  lock               region lock (region_lock.h): every
 *                                    access to the active area [heap-lock]
 *       80    16  replace_lock       region lock: one replace_all at a time
 *       96     4  active             0 or 1: the area poppers use
 *      100     4  max_key            create; key bytes (BYTES heaps), else 0
 *      104     8  next_seq           atomic; FIFO tie-break counter
 *      112     4  checksum           create; FNV-1a of bytes 8..63, then of
 *                                    max_key: every immutable field after
 *                                    the magic, so no scribble goes unseen
 *      116    12  reserved (zero)
 *   ---- line 2 (128): "not empty" event count ----
 *      128     4  ne_ec              event count (core/wait.h): pushes and
 *                                    replace_all signal it, poppers on an
 *                                    empty heap wait on it [heap-wake]
 *      132    60  reserved (zero)
 *   ---- lines 3, 4 (192, 256): area headers, one per area ----
 *      192    64  area[0]            struct ferry__heap_area
 *      256    64  area[1]
 *   ---- line 5 (320): statistics, written under `lock` ----
 *      320     8  pushes
 *      328     8  pops
 *      336     8  replaces
 *      344     8  repairs            rebuilds after a dead lock holder
 *      352    32  reserved (zero)
 *      384        end of header (FERRY__HEAP_HDR_SIZE)
 *
 * Area header (64 bytes):
 *
 *   offset  size  field
 *        0     4  epoch      a slot is live iff slot.state == epoch; never 0
 *        4     4  reserved
 *        8     8  n          atomic; entries in the heap (read unlocked by size)
 *       16     8  hw         slots ever used since the last clear/replace
 *       24     8  free_top   entries on the free stack
 *       32     8  gen        the generation of the set it holds [heap-gen];
 *                            never 0
 *       40     8  committed  atomic; slots whose memory is reserved: entries,
 *                            free stack and slots below it are committed
 *                            (fallocate) [heap-commit]; <= max_capacity
 *       48    16  reserved
 *
 * Invariant between operations (under `lock`): n + free_top == hw <=
 * committed <= max_capacity, n <= the limit; every entry and free-stack index < hw.
 * Every one of them is checked where it is used: a value outside is
 * FERRY_ECORRUPT, never an access outside the area [heap-untrusted].
 *
 * Area (area_size bytes, at areas_offset + i * area_size):
 *
 *   entries   max_capacity x 24 bytes: the binary heap (ukey, seq, idx)
 *   free      max_capacity x 4 bytes: stack of free slot indices below hw
 *   slots     at align64(after free), max_capacity x slot_stride
 *
 * Slot (slot_stride = align8(32 + align8(max_key) + max_payload)):
 *
 *   offset  size  field
 *        0     8  ukey      the key, transformed to an unsigned min-order;
 *                           BYTES heaps: its first 8 bytes, big-endian
 *        8     8  seq       insertion sequence: FIFO among equal keys
 *       16     4  len       payload bytes
 *       20     4  state     atomic; == area epoch: live; anything else: free
 *       24     4  klen      key bytes (BYTES heaps), else 0
 *       28     4  reserved
 *       32     K  key       K = align8(max_key) (0 unless BYTES)
 *     32+K   max  payload
 *
 * The slot states are the ground truth [heap-truth]: entries, n, free and
 * free_top are an index over them that a lock holder finding the previous
 * holder dead rebuilds from the slots [heap-rebuild].
 *
 * The slot state word (per slot):
 *
 *   value      meaning                  next (by, under `lock`)
 *   ---------  -----------------------  ---------------------------------
 *   != epoch   free (never used, popped, push: payload, key, ukey, seq,
 *              cleared, or written by   len written, then state = epoch
 *              a pusher that died)      (release): the commit point
 *   == epoch   live: in the heap        pop: payload copied out, then
 *                                       state = 0 (the commit point);
 *                                       clear: epoch + 1 frees all at once
 *
 * Event count ne_ec: the states of core/wait.h. A pusher signals it after
 * its unlock and a fence (one load when nobody sleeps); replace_all bumps
 * it. A popper that dies asleep leaves S set, which the next push clears
 * with one wake [wait-all]: nothing stays high.
 */
#ifndef FERRY_HEAP_LAYOUT_H
#define FERRY_HEAP_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "region_lock.h"

/* 'F','E','R','R','Y','H','P',1 read as little-endian bytes. */
#define FERRY__HEAP_MAGIC UINT64_C(0x0150485952524546)
/* 2.0: region locks, an event count, generations, byte-string keys.
 * 3.0: memory committed in steps as the heap grows (area.committed); a 2.x
 * writer would write past the committed watermark. 4.0: the checksum of
 * the immutable fields. */
#define FERRY__HEAP_VERSION_MAJOR 4
#define FERRY__HEAP_VERSION_MINOR 0
#define FERRY__HEAP_HDR_SIZE 384
#define FERRY__HEAP_ENTRY_SIZE 24
#define FERRY__HEAP_SLOT_HDR 32
/* Bytes of area memory per slot: an entry, a free-stack word, the slot. */
#define FERRY__HEAP_UNIT_FIXED (FERRY__HEAP_ENTRY_SIZE + 4)

/* flags */
#define FERRY__HEAP_F_MAX (1u << 0)    /* max-heap (keys stored inverted) */
#define FERRY__HEAP_F_DOUBLE (1u << 1) /* keys are doubles */
#define FERRY__HEAP_F_FIXED (1u << 2)  /* capacity is a hard limit */
#define FERRY__HEAP_F_BYTES (1u << 3)  /* keys are byte strings */
#define FERRY__HEAP_F_ALL                                                                          \
  (FERRY__HEAP_F_MAX | FERRY__HEAP_F_DOUBLE | FERRY__HEAP_F_FIXED | FERRY__HEAP_F_BYTES)

struct ferry__heap_area {
  _Atomic uint32_t epoch;
  uint32_t reserved0;
  _Atomic uint64_t n;
  uint64_t hw;
  uint64_t free_top;
  uint64_t gen;
  _Atomic uint64_t committed;
  uint8_t reserved1[16];
};

struct ferry__heap_entry {
  uint64_t ukey;
  uint64_t seq;
  uint32_t idx;
  uint32_t reserved;
};

struct ferry__heap_slot {
  uint64_t ukey;
  uint64_t seq;
  uint32_t len;
  _Atomic uint32_t state;
  uint32_t klen;
  uint32_t reserved;
  unsigned char data[]; /* key (align8(max_key) bytes), then payload */
};

struct ferry__heap_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t flags;
  uint32_t max_payload;
  uint64_t capacity;
  uint64_t max_capacity;
  uint64_t slot_stride;
  uint64_t area_size;
  uint64_t areas_offset;
  /* line 1 */
  struct ferry__rlock lock;
  struct ferry__rlock replace_lock;
  _Atomic uint32_t active;
  uint32_t max_key;
  _Atomic uint64_t next_seq;
  uint32_t checksum;
  uint8_t reserved1b[12];
  /* line 2 */
  _Atomic uint32_t ne_ec;
  uint8_t reserved2[60];
  /* lines 3, 4 */
  struct ferry__heap_area area[2];
  /* line 5 */
  _Atomic uint64_t pushes;
  _Atomic uint64_t pops;
  _Atomic uint64_t replaces;
  _Atomic uint64_t repairs;
  uint8_t reserved5[32];
};

static_assert(offsetof(struct ferry__heap_hdr, magic) == 0, "magic");
static_assert(offsetof(struct ferry__heap_hdr, version_major) == 8, "version_major");
static_assert(offsetof(struct ferry__heap_hdr, version_minor) == 10, "version_minor");
static_assert(offsetof(struct ferry__heap_hdr, header_size) == 12, "header_size");
static_assert(offsetof(struct ferry__heap_hdr, flags) == 16, "flags");
static_assert(offsetof(struct ferry__heap_hdr, max_payload) == 20, "max_payload");
static_assert(offsetof(struct ferry__heap_hdr, capacity) == 24, "capacity");
static_assert(offsetof(struct ferry__heap_hdr, max_capacity) == 32, "max_capacity");
static_assert(offsetof(struct ferry__heap_hdr, slot_stride) == 40, "slot_stride");
static_assert(offsetof(struct ferry__heap_hdr, area_size) == 48, "area_size");
static_assert(offsetof(struct ferry__heap_hdr, areas_offset) == 56, "areas_offset");
static_assert(offsetof(struct ferry__heap_hdr, lock) == 64, "lock");
static_assert(offsetof(struct ferry__heap_hdr, replace_lock) == 80, "replace_lock");
static_assert(offsetof(struct ferry__heap_hdr, active) == 96, "active");
static_assert(offsetof(struct ferry__heap_hdr, next_seq) == 104, "next_seq");
static_assert(offsetof(struct ferry__heap_hdr, max_key) == 100, "max_key");
static_assert(offsetof(struct ferry__heap_hdr, checksum) == 112, "checksum");
static_assert(offsetof(struct ferry__heap_hdr, ne_ec) == 128, "ne_ec");
static_assert(offsetof(struct ferry__heap_hdr, area) == 192, "area");
static_assert(offsetof(struct ferry__heap_hdr, pushes) == 320, "pushes");
static_assert(offsetof(struct ferry__heap_hdr, pops) == 328, "pops");
static_assert(offsetof(struct ferry__heap_hdr, replaces) == 336, "replaces");
static_assert(offsetof(struct ferry__heap_hdr, repairs) == 344, "repairs");
static_assert(sizeof(struct ferry__heap_hdr) == FERRY__HEAP_HDR_SIZE, "heap header size");
static_assert(sizeof(struct ferry__heap_area) == 64, "area header size");
static_assert(offsetof(struct ferry__heap_area, n) == 8, "area n");
static_assert(offsetof(struct ferry__heap_area, hw) == 16, "area hw");
static_assert(offsetof(struct ferry__heap_area, free_top) == 24, "area free_top");
static_assert(offsetof(struct ferry__heap_area, gen) == 32, "area gen");
static_assert(offsetof(struct ferry__heap_area, committed) == 40, "area committed");
static_assert(sizeof(struct ferry__heap_entry) == FERRY__HEAP_ENTRY_SIZE, "entry size");
static_assert(offsetof(struct ferry__heap_slot, state) == 20, "slot state");
static_assert(offsetof(struct ferry__heap_slot, klen) == 24, "slot klen");
static_assert(offsetof(struct ferry__heap_slot, data) == FERRY__HEAP_SLOT_HDR, "slot data");

/* The public key type a header's flags name (FERRY_HEAP_KEY_*). */
static inline uint32_t ferry__heap_key_type(uint32_t flags)
{
  return (flags & FERRY__HEAP_F_BYTES)    ? 2u /* FERRY_HEAP_KEY_BYTES */
         : (flags & FERRY__HEAP_F_DOUBLE) ? 1u /* FERRY_HEAP_KEY_DOUBLE */
                                          : 0u /* FERRY_HEAP_KEY_INT64 */;
}

/* The checksum of every immutable field after the magic: line 0, then
 * max_key. */
static inline uint32_t ferry__heap_hdr_checksum(const struct ferry__heap_hdr *h)
{
  uint32_t sum = ferry__fnv1a((const uint8_t *)h + 8, FERRY__CACHELINE - 8, FERRY__FNV_SEED);
  return ferry__fnv1a(&h->max_key, sizeof h->max_key, sum);
}

#endif /* FERRY_HEAP_LAYOUT_H */
