/* SPDX-License-Identifier: MIT */
/*
 * bus_layout.h: the object area of a bus region (kind FERRY_KIND_BUS).
 * Spec with the same diagram: docs/layout/bus.md; the algorithm and its
 * proofs: docs/design/bus.md. Never installed.
 *
 * Offsets are from the start of the object area (a multiple of 64 in a
 * page-aligned mapping, region_layout.h), so a multiple of 64 here is a
 * 64-byte aligned address in every process. Offsets only, no pointers;
 * integers are native-endian.
 *
 *   offset        size              what
 *   ------------  ----------------  ------------------------------------------
 *              0  64                bus header, constant after create
 *             64  64                publisher line: written by the publisher only
 *            128  64                subscriber line: written by subscribers
 *            192  64                publisher wait line
 *            256  64 * K            slot control, one cache line per slot
 *   table_offset  table_bytes       frame schema (frame_internal.h)
 *    data_offset  frame_stride * K  the K frames; frame k at
 *                                   data_offset + k * frame_stride
 *   table_offset = 256 + 64 * K
 *   data_offset  = align64(table_offset + table_bytes)
 *   frame_stride = max(frame_bytes, 64)  (frame_bytes is a multiple of 64)
 *
 * Bus header (64 bytes, written once before the region is published):
 *
 *   offset  size  field            meaning
 *   ------  ----  ---------------  ------------------------------------------
 *        0     4  magic            FERRY__BUS_MAGIC ("FBUS")
 *        4     2  version_major    another major = FERRY_EVERSION
 *        6     2  version_minor
 *        8     4  mode             ferry_bus_mode
 *       12     4  slots            K, 2..FERRY_BUS_SLOTS_MAX
 *       16     4  max_subscribers  1..64; participant slot i >= 1 is
 *                                  subscriber bit i - 1
 *       20     4  table_offset
 *       24     4  table_bytes
 *       28     4  reserved
 *       32     8  data_offset
 *       40     8  frame_stride
 *       48     8  pub_owner        the publisher's participant owner word
 *       56     4  checksum         FNV-1a of bytes 0..55
 *       60     4  reserved
 *
 * Publisher line (64):
 *       64     8  head             atomic; commit point of publish:
 *                                  published << 8 | slot of the newest frame
 *       72     4  shutdown         atomic; 0 -> 1 once
 *       76     4  sub_ec           event count subscribers wait on in next:
 *                                  signalled by publish, bumped by shutdown
 *       80     8  loan_waits       stats (relaxed)
 *       88     8  wait_ns          stats (relaxed)
 *       96     8  dropped          stats (relaxed)
 *      104    24  reserved
 * Subscriber line (128):
 *      128     8  active           atomic mask of subscribed bits
 *      136     4  join_ec          event count the publisher waits on in
 *                                  ferry_bus_wait_subscribers(): signalled
 *                                  by every completed join
 *      140     4  reserved         (sub_sleepers in version 1)
 *      144     8  ready            atomic mask of subscribers whose join is
 *                                  complete (their cursor is set): a subset
 *                                  of active, counted by
 *                                  ferry_bus_wait_subscribers()
 *      152    40  reserved
 * Publisher wait line (192):
 *      192     4  pub_ec           event count the LATEST publisher waits on
 *                                  in loan: signalled by a release that
 *                                  empties a slot's mask
 *      196    60  reserved         (pub_waiting, pub_futex in version 1)
 * Slot control (64 bytes each):
 *        0     8  seq              atomic; frame in the slot, or
 *                                  FERRY__BUS_SEQ_EMPTY / _WRITING
 *        8     8  mask             atomic; LOCKSTEP: subscribers that have
 *                                  still to release the frame; LATEST:
 *                                  subscribers reading it
 *       16     4  free_ec          event count the LOCKSTEP publisher waits
 *                                  on in loan for this slot: signalled by the
 *                                  release that empties its mask
 *       20    44  reserved
 *
 * Slot states (seq word, mask word) [slot-states]:
 *
 *   state      seq       mask       reached by               left by
 *   ---------  --------  ---------  -----------------------  ----------------
 *   EMPTY      EMPTY     0          create                   loan
 *   WRITING    WRITING   0 (LOCK-   loan (after seeing       publish
 *                        STEP)      mask 0)
 *   READY      s         holders    publish (mask, then seq,  loan when mask
 *                                   then head)               is 0 again
 *   In LATEST, WRITING may briefly meet a subscriber's bit (the Dekker
 *   handshake in docs/design/bus.md [latest-claim]); the publisher then
 *   puts seq back and tries another slot.
 *
 * Event counts (sub_ec, join_ec, pub_ec, free_ec): 32-bit futex words of
 * the one wait primitive, src/core/wait.h, whose state table and proof
 * (docs/design/waiting.md) cover them all: bit 0 a waiter may sleep,
 * bits 1-31 a sequence. Any value is a valid state [wait-slice].
 *
 * Participant slot obj[] words of a subscriber (region_layout.h):
 *   obj[0] tag       the subscriber's owner word while subscribed, else 0
 *   obj[1] next_seq  the sequence number it takes next
 *   obj[2] received  frames taken
 *   obj[3] skipped   frames skipped (LATEST)
 */
#ifndef FERRY_BUS_LAYOUT_H
#define FERRY_BUS_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* 'F','B','U','S' read as a little-endian uint32. */
#define FERRY__BUS_MAGIC UINT32_C(0x53554246)
#define FERRY__BUS_VERSION_MAJOR 2
#define FERRY__BUS_VERSION_MINOR 0

#define FERRY__BUS_HDR_SIZE 256
#define FERRY__BUS_SLOT_SIZE 64
#define FERRY__BUS_CHECKSUM_END 56

#define FERRY__BUS_SEQ_EMPTY (UINT64_MAX - 1)
#define FERRY__BUS_SEQ_WRITING UINT64_MAX

/* head = published << HEAD_SHIFT | newest slot. */
#define FERRY__BUS_HEAD_SHIFT 8
#define FERRY__BUS_HEAD_SLOT_MASK UINT64_C(0xff)

struct ferry__bus_hdr {
  /* constant */
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t mode;
  uint32_t slots;
  uint32_t max_subscribers;
  uint32_t table_offset;
  uint32_t table_bytes;
  uint32_t reserved0;
  uint64_t data_offset;
  uint64_t frame_stride;
  uint64_t pub_owner;
  uint32_t checksum;
  uint32_t reserved1;
  /* publisher line */
  _Atomic uint64_t head;
  _Atomic uint32_t shutdown;
  _Atomic uint32_t sub_ec;
  _Atomic uint64_t loan_waits;
  _Atomic uint64_t wait_ns;
  _Atomic uint64_t dropped;
  uint8_t reserved2[24];
  /* subscriber line */
  _Atomic uint64_t active;
  _Atomic uint32_t join_ec;
  uint32_t reserved3;
  _Atomic uint64_t ready;
  uint8_t reserved3b[40];
  /* publisher wait line */
  _Atomic uint32_t pub_ec;
  uint8_t reserved4[60];
};

struct ferry__bus_slot {
  _Atomic uint64_t seq;
  _Atomic uint64_t mask;
  _Atomic uint32_t free_ec;
  uint8_t reserved[44];
};

static_assert(offsetof(struct ferry__bus_hdr, magic) == 0, "bus magic");
static_assert(offsetof(struct ferry__bus_hdr, version_major) == 4, "bus version_major");
static_assert(offsetof(struct ferry__bus_hdr, version_minor) == 6, "bus version_minor");
static_assert(offsetof(struct ferry__bus_hdr, mode) == 8, "bus mode");
static_assert(offsetof(struct ferry__bus_hdr, slots) == 12, "bus slots");
static_assert(offsetof(struct ferry__bus_hdr, max_subscribers) == 16, "bus max_subscribers");
static_assert(offsetof(struct ferry__bus_hdr, table_offset) == 20, "bus table_offset");
static_assert(offsetof(struct ferry__bus_hdr, table_bytes) == 24, "bus table_bytes");
static_assert(offsetof(struct ferry__bus_hdr, data_offset) == 32, "bus data_offset");
static_assert(offsetof(struct ferry__bus_hdr, frame_stride) == 40, "bus frame_stride");
static_assert(offsetof(struct ferry__bus_hdr, pub_owner) == 48, "bus pub_owner");
static_assert(offsetof(struct ferry__bus_hdr, checksum) == FERRY__BUS_CHECKSUM_END,
              "bus checksum");
static_assert(offsetof(struct ferry__bus_hdr, head) == 64, "bus head");
static_assert(offsetof(struct ferry__bus_hdr, shutdown) == 72, "bus shutdown");
static_assert(offsetof(struct ferry__bus_hdr, sub_ec) == 76, "bus sub_ec");
static_assert(offsetof(struct ferry__bus_hdr, loan_waits) == 80, "bus loan_waits");
static_assert(offsetof(struct ferry__bus_hdr, wait_ns) == 88, "bus wait_ns");
static_assert(offsetof(struct ferry__bus_hdr, dropped) == 96, "bus dropped");
static_assert(offsetof(struct ferry__bus_hdr, active) == 128, "bus active");
static_assert(offsetof(struct ferry__bus_hdr, join_ec) == 136, "bus join_ec");
static_assert(offsetof(struct ferry__bus_hdr, ready) == 144, "bus ready");
static_assert(offsetof(struct ferry__bus_hdr, pub_ec) == 192, "bus pub_ec");
static_assert(sizeof(struct ferry__bus_hdr) == FERRY__BUS_HDR_SIZE, "bus header size");
static_assert(offsetof(struct ferry__bus_slot, seq) == 0, "bus slot seq");
static_assert(offsetof(struct ferry__bus_slot, mask) == 8, "bus slot mask");
static_assert(offsetof(struct ferry__bus_slot, free_ec) == 16, "bus slot free_ec");
static_assert(sizeof(struct ferry__bus_slot) == FERRY__BUS_SLOT_SIZE, "bus slot size");

static inline uint32_t ferry__bus_hdr_checksum(const struct ferry__bus_hdr *h)
{
  return ferry__fnv1a(h, FERRY__BUS_CHECKSUM_END, FERRY__FNV_SEED);
}

#endif /* FERRY_BUS_LAYOUT_H */
