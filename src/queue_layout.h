/* SPDX-License-Identifier: MIT */
/*
 * queue_layout.h: the object area of a FERRY_KIND_QUEUE region. Spec with
 * the same diagram: docs/layout/queue.md; the algorithm and its proof
 * sketch: docs/design/queue.md. Never installed.
 *
 * Offsets are from the start of the object area (which is 64-byte aligned).
 * Offsets only, never pointers. Fields written by different parties sit on
 * different cache lines.
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, last of the object (see below)
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__QUEUE_HDR_SIZE
 *       16     4  capacity           create; cells, 2..FERRY_QUEUE_MAX_CAPACITY
 *       20     4  max_msg            create; bytes, 1..FERRY_QUEUE_MAX_MSG
 *       24     8  stride             create; bytes per cell, see below
 *       32     8  spin_ns            create; default spin before sleeping
 *       40     8  stats_offset       create; per-participant stats table
 *       48     8  cells_offset       create; first cell, multiple of 64
 *       56     4  max_participants   create; rows of the stats table
 *       60     4  expected_producers create; producer opens before the
 *                                    stream can end by close [queue-eos]
 *   ---- line 1 (64): control, rarely written ----
 *       64     4  shutdown           atomic; 0 open, 1 shut down (sticky)
 *       68     4  checksum           create; FNV-1a of bytes 8..63 (line 0
 *                                    after the magic), so that no scribble
 *                                    on an immutable field goes unseen
 *       72     8  lost               atomic; messages lost with dead consumers
 *       80     8  holes              atomic; cells a dead producer left empty
 *       88     8  recovered          atomic; dead participants recovered
 *       96     4  asym               atomic; 1 once a participant skips the
 *                                    waker's fence [wait-asym]
 *      100     4  reserved (zero)
 *      104     8  producers_joined   atomic; opens with the producer role
 *      112    16  reserved (zero)
 *   ---- line 2 (128): statistics of participants that left ----
 *      128    64  retired            struct ferry__queue_stats
 *   ---- line 3 (192): producers' position ----
 *      192     8  tail               atomic; next position to claim for put
 *   ---- line 4 (256): consumers' position ----
 *      256     8  head               atomic; next position to claim for get
 *   ---- line 5 (320): "not empty" event count ----
 *      320     4  ne_ec              event count (core/wait.h): getters
 *                                    sleep on it, putters signal it
 *      324    60  reserved (zero)
 *   ---- line 6 (384): "not full" event count ----
 *      384     4  nf_ec              event count: putters sleep on it,
 *                                    getters signal it
 *      388    60  reserved (zero)
 *   ---- line 7 (448): reserved (zero) ----
 *      512        end of header (FERRY__QUEUE_HDR_SIZE)
 *
 *   stats table: stats_offset = 512, max_participants rows of 64 bytes; row i
 *   belongs to whoever holds region participant slot i, and only it writes
 *   the row (so counting never bounces a shared line).
 *   cells: cells_offset = align64(512 + 64 * max_participants),
 *   capacity cells of `stride` bytes each.
 *
 * Cell (stride = 16 + max_msg rounded up to 16 bytes while max_msg <= 1024,
 * to 64 bytes above; so cells may share cache lines [queue-stride]):
 *
 *   offset  size  field
 *        0     8  seq    atomic; lap word with FERRY__QUEUE_HOLE in bit 63
 *        8     4  len    atomic (relaxed); message length
 *       12     4  reserved
 *       16   max  data
 *
 * The seq word of the cell at index i = pos mod capacity cycles through
 * (seq_free = pos) -> (seq_full = pos + 1, maybe | HOLE) -> (pos + capacity)
 * = the next lap's seq_free. Its state table:
 *
 *   seq value         meaning                       next (by)
 *   ----------------  ----------------------------  -------------------------
 *   pos               free for the put at pos       pos+1 (putter, release)
 *                                                   pos+1|HOLE (recovery of a
 *                                                   dead putter, CAS)
 *   pos+1             holds a message               pos+cap (getter, release)
 *                                                   pos+cap (recovery of a
 *                                                   dead getter, CAS)
 *   pos+1|HOLE        empty: getters skip it        pos+cap (getter / recovery)
 *
 * A claim is a CAS on tail (put) or head (get) from pos to pos+1, made only
 * after seeing the cell's seq at pos (put) or pos+1 (get). Between the claim
 * and the seq store the claimer owns the cell.
 *
 * Event counts ne_ec and nf_ec: the state table of core/wait.h (bit 0 a
 * sleeper announced itself, bits 1-31 a sequence). Putters signal ne_ec
 * after publishing, getters nf_ec after freeing; shutdown, a producer's
 * close and recovery bump both (or ne_ec) [wait-dekker]. A waiter that
 * dies leaves the sleeper bit set: the next signal clears it with one
 * extra wake, so nothing needs repair [wait-all].
 *
 * Intents: each participant's region slot obj[0] (put) and obj[1] (get) hold
 * pos + 1 of the position it is claiming or holds, or 0. See
 * docs/design/queue.md [queue-intent].
 *
 * Publication: the whole object is written before ferry__region_publish();
 * the object's own magic is checked again at open.
 */
#ifndef FERRY_QUEUE_LAYOUT_H
#define FERRY_QUEUE_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* 'F','E','R','R','Y','Q','U',1 read as little-endian bytes. */
#define FERRY__QUEUE_MAGIC UINT64_C(0x0155515952524546)
/* 5.0: the checksum of line 0. 4.0: cells of messages up to
 * FERRY__QUEUE_PACK_MAX bytes are packed to 16 bytes instead of whole cache
 * lines. 3.0: the futex words are event counts of the one wait primitive
 * (core/wait.h), whose bump clears the sleeper bit; 2.x bumped without
 * clearing it. Opens of other majors fail. */
#define FERRY__QUEUE_VERSION_MAJOR 5
#define FERRY__QUEUE_VERSION_MINOR 0
#define FERRY__QUEUE_HDR_SIZE 512
#define FERRY__QUEUE_CELL_HDR 16
/* Cell stride: FERRY__QUEUE_CELL_HDR + max_msg rounded up to
 * FERRY__QUEUE_CELL_ALIGN bytes while max_msg <= FERRY__QUEUE_PACK_MAX,
 * to 64 bytes above. */
#define FERRY__QUEUE_CELL_ALIGN 16
#define FERRY__QUEUE_PACK_MAX 1024
#define FERRY__QUEUE_STATS_ROW 64
/* Bit 63 of a cell's seq: the cell was given up empty. */
#define FERRY__QUEUE_HOLE (UINT64_C(1) << 63)
#define FERRY__QUEUE_SEQ_MASK (~FERRY__QUEUE_HOLE)

/* Region slot obj[] words the queue uses. */
#define FERRY__QUEUE_OBJ_PUT 0 /* pos+1 of the put being claimed or held */
#define FERRY__QUEUE_OBJ_GET 1 /* pos+1 of the get being claimed or held */

/* One row of counters; all fields are written by one participant only
 * (relaxed), and read by anyone summing them. */
struct ferry__queue_stats {
  _Atomic uint64_t puts;
  _Atomic uint64_t gets;
  _Atomic uint64_t bytes_put;
  _Atomic uint64_t bytes_got;
  _Atomic uint64_t put_waits;
  _Atomic uint64_t get_waits;
  uint64_t reserved[2];
};

struct ferry__queue_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t capacity;
  uint32_t max_msg;
  uint64_t stride;
  uint64_t spin_ns;
  uint64_t stats_offset;
  uint64_t cells_offset;
  uint32_t max_participants;
  uint32_t expected_producers;
  /* line 1 */
  _Atomic uint32_t shutdown;
  uint32_t checksum;
  _Atomic uint64_t lost;
  _Atomic uint64_t holes;
  _Atomic uint64_t recovered;
  _Atomic uint32_t asym;
  uint32_t reserved1b;
  _Atomic uint64_t producers_joined;
  uint8_t reserved1c[16];
  /* line 2 */
  struct ferry__queue_stats retired;
  /* line 3 */
  _Atomic uint64_t tail;
  uint8_t pad3[56];
  /* line 4 */
  _Atomic uint64_t head;
  uint8_t pad4[56];
  /* line 5 */
  _Atomic uint32_t ne_ec;
  uint8_t pad5[60];
  /* line 6 */
  _Atomic uint32_t nf_ec;
  uint8_t pad6[60];
  /* line 7 */
  uint8_t reserved7[64];
};

struct ferry__queue_cell {
  _Atomic uint64_t seq;
  _Atomic uint32_t len;
  uint32_t reserved;
  unsigned char data[];
};

static_assert(offsetof(struct ferry__queue_hdr, magic) == 0, "magic");
static_assert(offsetof(struct ferry__queue_hdr, version_major) == 8, "version_major");
static_assert(offsetof(struct ferry__queue_hdr, version_minor) == 10, "version_minor");
static_assert(offsetof(struct ferry__queue_hdr, header_size) == 12, "header_size");
static_assert(offsetof(struct ferry__queue_hdr, capacity) == 16, "capacity");
static_assert(offsetof(struct ferry__queue_hdr, max_msg) == 20, "max_msg");
static_assert(offsetof(struct ferry__queue_hdr, stride) == 24, "stride");
static_assert(offsetof(struct ferry__queue_hdr, spin_ns) == 32, "spin_ns");
static_assert(offsetof(struct ferry__queue_hdr, stats_offset) == 40, "stats_offset");
static_assert(offsetof(struct ferry__queue_hdr, cells_offset) == 48, "cells_offset");
static_assert(offsetof(struct ferry__queue_hdr, max_participants) == 56, "max_participants");
static_assert(offsetof(struct ferry__queue_hdr, expected_producers) == 60, "expected_producers");
static_assert(offsetof(struct ferry__queue_hdr, shutdown) == 64, "shutdown");
static_assert(offsetof(struct ferry__queue_hdr, checksum) == 68, "checksum");
static_assert(offsetof(struct ferry__queue_hdr, lost) == 72, "lost");
static_assert(offsetof(struct ferry__queue_hdr, holes) == 80, "holes");
static_assert(offsetof(struct ferry__queue_hdr, recovered) == 88, "recovered");
static_assert(offsetof(struct ferry__queue_hdr, asym) == 96, "asym");
static_assert(offsetof(struct ferry__queue_hdr, producers_joined) == 104, "producers_joined");
static_assert(offsetof(struct ferry__queue_hdr, retired) == 128, "retired");
static_assert(offsetof(struct ferry__queue_hdr, tail) == 192, "tail");
static_assert(offsetof(struct ferry__queue_hdr, head) == 256, "head");
static_assert(offsetof(struct ferry__queue_hdr, ne_ec) == 320, "ne_ec");
static_assert(offsetof(struct ferry__queue_hdr, nf_ec) == 384, "nf_ec");
static_assert(sizeof(struct ferry__queue_hdr) == FERRY__QUEUE_HDR_SIZE, "queue header size");
static_assert(sizeof(struct ferry__queue_stats) == FERRY__QUEUE_STATS_ROW, "stats row");
static_assert(offsetof(struct ferry__queue_cell, seq) == 0, "cell seq");
static_assert(offsetof(struct ferry__queue_cell, len) == 8, "cell len");
static_assert(offsetof(struct ferry__queue_cell, data) == FERRY__QUEUE_CELL_HDR, "cell data");

/* The checksum of line 0 after the magic, over a copy of that line. */
static inline uint32_t ferry__queue_hdr_checksum(const void *line0)
{
  return ferry__fnv1a((const uint8_t *)line0 + 8, FERRY__CACHELINE - 8, FERRY__FNV_SEED);
}

#endif /* FERRY_QUEUE_LAYOUT_H */
