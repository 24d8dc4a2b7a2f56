/* SPDX-License-Identifier: MIT */
/*
 * pool_layout.h: the object area of a FERRY_KIND_POOL region: a process
 * pool's statistics, written by the pool's dispatcher thread only and read
 * by anyone (ferry_pool_stat, `ferry info`). Spec with the same diagram:
 * docs/layout/pool.md; the pool itself: docs/design/pool.md. Never
 * installed.
 *
 * Offsets are from the start of the object area (64-byte aligned).
 *
 *   offset  size  field              written by
 *   ------  ----  -----------------  ------------------------------------
 *        0     8  magic              create, last of the object
 *        8     2  version_major      create
 *       10     2  version_minor      create
 *       12     4  header_size        create; == FERRY__POOL_HDR_SIZE
 *       16     4  slots              create; worker rows, 1..FERRY_POOL_MAX_WORKERS
 *       20     4  row_size           create; == FERRY__POOL_ROW_SIZE
 *       24     4  kind               create; FERRY_POOL_FUNCTION, ...
 *       28     4  owner_pid          create
 *       32     8  rows_offset        create; == FERRY__POOL_HDR_SIZE
 *       40    24  reserved (zero)
 *   ---- line 1 (64): the snapshot, under the seqlock ----
 *       64     4  seq                atomic; odd while the dispatcher writes
 *       68     4  state              FERRY_POOL_RUNNING, ...
 *       72     8  submitted
 *       80     8  done
 *       88     8  failed
 *       96     8  retried
 *      104     8  respawned
 *      112     8  deaths
 *      120     8  timeouts
 *      128     4  running
 *      132     4  queued
 *      136     4  unread
 *      140     4  live
 *      144     4  idle
 *      148     4  breaker
 *      152     4  signals
 *      156     4  pgid
 *      160    96  reserved (zero)
 *      256        end of header; rows follow
 *
 * Row i (64 bytes at rows_offset + 64 * i), under the same seqlock:
 *
 *   offset  size  field
 *        0     4  state        FERRY_POOL_W_*
 *        4     4  pid
 *        8     4  generation
 *       12     4  reserved
 *       16     8  tasks
 *       24     8  task_id      UINT64_MAX if none
 *       32     8  busy_ns
 *       40    24  reserved
 *
 * The seqlock [pool-seqlock]: the writer stores seq+1 (odd), a release
 * fence, the fields, then seq+2 with release. A reader loads seq with
 * acquire (retrying while odd), copies, issues an acquire fence and
 * reloads seq: equal means the copy is one snapshot. The fields are
 * copied bytewise; a torn copy is detected and retried, never used. Every
 * value a reader gets is still untrusted: it is checked (state ranges,
 * slots against the region size) before use.
 */
#ifndef FERRY_POOL_LAYOUT_H
#define FERRY_POOL_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* 'F','E','R','R','Y','P','L',1 read as little-endian bytes. */
#define FERRY__POOL_MAGIC UINT64_C(0x014c505952524546)
#define FERRY__POOL_VERSION_MAJOR 1
#define FERRY__POOL_VERSION_MINOR 0
#define FERRY__POOL_HDR_SIZE 256
#define FERRY__POOL_ROW_SIZE 64

/* The counters under the seqlock (bytes 68..255 of the header). */
struct ferry__pool_snap {
  uint32_t state;
  uint64_t submitted, done, failed, retried, respawned, deaths, timeouts;
  uint32_t running, queued, unread, live, idle, breaker, signals;
  int32_t pgid;
  uint8_t reserved[96];
} __attribute__((packed));

struct ferry__pool_row {
  uint32_t state;
  int32_t pid;
  uint32_t generation;
  uint32_t reserved0;
  uint64_t tasks;
  uint64_t task_id;
  int64_t busy_ns;
  uint8_t reserved[24];
};

struct ferry__pool_hdr {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t slots;
  uint32_t row_size;
  uint32_t kind;
  int32_t owner_pid;
  uint64_t rows_offset;
  uint8_t reserved0[24];
  _Atomic uint32_t seq;
  struct ferry__pool_snap snap;
};

_Static_assert(offsetof(struct ferry__pool_hdr, version_major) == 8, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, header_size) == 12, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, slots) == 16, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, kind) == 24, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, rows_offset) == 32, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, seq) == 64, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, snap) == 68, "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, snap) + offsetof(struct ferry__pool_snap, submitted) == 72,
               "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, snap) + offsetof(struct ferry__pool_snap, running) == 128,
               "pool layout");
_Static_assert(offsetof(struct ferry__pool_hdr, snap) + offsetof(struct ferry__pool_snap, pgid) == 156,
               "pool layout");
_Static_assert(sizeof(struct ferry__pool_hdr) == FERRY__POOL_HDR_SIZE, "pool layout");
_Static_assert(offsetof(struct ferry__pool_row, tasks) == 16, "pool layout");
_Static_assert(offsetof(struct ferry__pool_row, busy_ns) == 32, "pool layout");
_Static_assert(sizeof(struct ferry__pool_row) == FERRY__POOL_ROW_SIZE, "pool layout");

/* Writes a fresh region's header as create does, rows marked idle of any
 * task; the magic last, relaxed: the region magic, stored with release by
 * ferry__region_publish(), orders it [magic-last]. */
static inline void ferry__pool_hdr_init(struct ferry__pool_hdr *h, uint32_t slots, uint32_t kind,
                                        int32_t owner)
{
  h->version_major = FERRY__POOL_VERSION_MAJOR;
  h->version_minor = FERRY__POOL_VERSION_MINOR;
  h->header_size = FERRY__POOL_HDR_SIZE;
  h->slots = slots;
  h->row_size = FERRY__POOL_ROW_SIZE;
  h->kind = kind;
  h->owner_pid = owner;
  h->rows_offset = FERRY__POOL_HDR_SIZE;
  struct ferry__pool_row *rows = (struct ferry__pool_row *)((uint8_t *)h + FERRY__POOL_HDR_SIZE);
  for (uint32_t i = 0; i < slots; i++)
    rows[i].task_id = UINT64_MAX;
  atomic_store_explicit(&h->magic, FERRY__POOL_MAGIC, memory_order_relaxed);
}

#endif /* FERRY_POOL_LAYOUT_H */
