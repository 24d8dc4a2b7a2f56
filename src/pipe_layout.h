/* SPDX-License-Identifier: MIT */
/*
 * pipe_layout.h: the object area of a FERRY_KIND_PIPE region: two ends and
 * two single-producer/single-consumer rings, ring d carrying messages from
 * end d to end 1-d. Spec with the same diagram: docs/layout/pipe.md.
 * Never installed.
 *
 * Offsets from the start of the object area (64-byte aligned):
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, before the region magic
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__PIPE_HDR_SIZE
 *       16     4  capacity           create; messages per direction
 *       20     4  max_msg            create; bytes
 *       24     8  stride             create; align64(16 + max_msg)
 *       32     8  spin_ns            create
 *       40     8  ring_offset[0]     create; cells of ring 0 (end 0 -> 1)
 *       48     8  ring_offset[1]     create; cells of ring 1 (end 1 -> 0)
 *       56     4  asym               atomic; 1 once an end skips the
 *                                    waker's fence [wait-asym]
 *       60     4  checksum           create; FNV-1a of bytes 8..55, so that
 *                                    no scribble on an immutable field
 *                                    goes unseen
 *   ---- line 1 (64) and line 2 (128): end[0], end[1] ----
 *       +0     8  owner      atomic; region slot owner word of the holder,
 *                            0 when nobody holds it (see table)
 *       +8     4  slot       atomic; region slot of the holder (for tools)
 *      +12     4  takes      atomic; times the end was taken
 *      +16     4  ec         event count (core/wait.h), bumped when the
 *                            end is taken or given up; the other end's
 *                            ferry_pipe_wait_peer() sleeps on it
 *      +20    44  reserved (zero)
 *   ---- ring d at 192 + 192 * d (three lines each) ----
 *       +0     8  tail       atomic; written by end d only
 *      +64     8  head       atomic; written by end 1-d only
 *     +128     4  data_ec    event count: end 1-d sleeps for data,
 *                            end d signals it after publishing
 *     +132     4  space_ec   event count: end d sleeps for room, end
 *                            1-d signals it after freeing
 *     +136    56  reserved (zero)
 *      576        end of header (FERRY__PIPE_HDR_SIZE)
 *   cells: ring_offset[d] = 576 + d * capacity * stride.
 *
 * Cell: len (4), reserved (12), data (max_msg), padded to stride. A cell is
 * published by the release store of tail past it and freed by the release
 * store of head past it; len is read and written relaxed, and read once
 * (a reader checks it against max_msg and uses only that copy).
 *
 * End owner word:
 *
 *   owner        takes  meaning                       next (by)
 *   -----------  -----  ----------------------------  -------------------------
 *   0            0      never taken                   W (open/create, CAS)
 *   W (pid,gen)  > 0    held by the slot owner W      0 (close), W' (takeover
 *                                                     by open after W died, CAS)
 *   0            > 0    closed by its holder          W' (open, CAS)
 *
 * Event counts (end ec, data_ec, space_ec): the state table of
 * core/wait.h (bit 0 a sleeper announced itself, bits 1-31 a sequence).
 * The other side signals after progress [wait-dekker]; close and
 * takeover bump every one of them. A sleeper that dies leaves its bit
 * set, which the next signal clears with one extra wake [wait-all].
 */
#ifndef FERRY_PIPE_LAYOUT_H
#define FERRY_PIPE_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* 'F','E','R','R','Y','P','I',1 as little-endian bytes. */
#define FERRY__PIPE_MAGIC UINT64_C(0x0149505952524546)
/* 3.0: the checksum of the immutable fields. 2.0: event counts of the one
 * wait primitive (core/wait.h) replace the futex words and waiter counts of
 * 1.x, which stayed high after a sleeper died; opens of other majors fail. */
#define FERRY__PIPE_VERSION_MAJOR 3
#define FERRY__PIPE_VERSION_MINOR 0
#define FERRY__PIPE_HDR_SIZE 576
#define FERRY__PIPE_CELL_HDR 16

struct ferry__pipe_end {
  _Atomic uint64_t owner;
  _Atomic uint32_t slot;
  _Atomic uint32_t takes;
  _Atomic uint32_t ec;
  uint8_t pad[44];
};

struct ferry__pipe_ring {
  _Atomic uint64_t tail;
  uint8_t pad0[56];
  _Atomic uint64_t head;
  uint8_t pad1[56];
  _Atomic uint32_t data_ec;
  _Atomic uint32_t space_ec;
  uint8_t pad2[56];
};

struct ferry__pipe_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t capacity;
  uint32_t max_msg;
  uint64_t stride;
  uint64_t spin_ns;
  uint64_t ring_offset[2];
  _Atomic uint32_t asym;
  uint32_t checksum;
  struct ferry__pipe_end end[2];
  struct ferry__pipe_ring ring[2];
};

struct ferry__pipe_cell {
  _Atomic uint32_t len; /* relaxed: published by the release store of tail */
  uint8_t reserved[12];
  unsigned char data[];
};

static_assert(offsetof(struct ferry__pipe_hdr, magic) == 0, "magic");
static_assert(offsetof(struct ferry__pipe_hdr, version_major) == 8, "version_major");
static_assert(offsetof(struct ferry__pipe_hdr, header_size) == 12, "header_size");
static_assert(offsetof(struct ferry__pipe_hdr, capacity) == 16, "capacity");
static_assert(offsetof(struct ferry__pipe_hdr, max_msg) == 20, "max_msg");
static_assert(offsetof(struct ferry__pipe_hdr, stride) == 24, "stride");
static_assert(offsetof(struct ferry__pipe_hdr, spin_ns) == 32, "spin_ns");
static_assert(offsetof(struct ferry__pipe_hdr, ring_offset) == 40, "ring_offset");
static_assert(offsetof(struct ferry__pipe_hdr, asym) == 56, "asym");
static_assert(offsetof(struct ferry__pipe_hdr, checksum) == 60, "checksum");
static_assert(offsetof(struct ferry__pipe_hdr, end) == 64, "end");
static_assert(offsetof(struct ferry__pipe_hdr, ring) == 192, "ring");
static_assert(offsetof(struct ferry__pipe_end, slot) == 8, "end slot");
static_assert(offsetof(struct ferry__pipe_end, takes) == 12, "end takes");
static_assert(offsetof(struct ferry__pipe_end, ec) == 16, "end ec");
static_assert(sizeof(struct ferry__pipe_end) == 64, "end size");
static_assert(offsetof(struct ferry__pipe_ring, head) == 64, "ring head");
static_assert(offsetof(struct ferry__pipe_ring, data_ec) == 128, "ring data_ec");
static_assert(offsetof(struct ferry__pipe_ring, space_ec) == 132, "ring space_ec");
static_assert(sizeof(struct ferry__pipe_ring) == 192, "ring size");
static_assert(sizeof(struct ferry__pipe_hdr) == FERRY__PIPE_HDR_SIZE, "pipe header size");
static_assert(offsetof(struct ferry__pipe_cell, data) == FERRY__PIPE_CELL_HDR, "cell data");

/* The checksum of the immutable fields after the magic (bytes 8..55),
 * over a copy of line 0. */
static inline uint32_t ferry__pipe_hdr_checksum(const void *line0)
{
  return ferry__fnv1a((const uint8_t *)line0 + 8, offsetof(struct ferry__pipe_hdr, asym) - 8,
                      FERRY__FNV_SEED);
}

#endif /* FERRY_PIPE_LAYOUT_H */
