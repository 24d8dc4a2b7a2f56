/* SPDX-License-Identifier: MIT */
/*
 * array_layout.h: the object area of an array region (kind
 * FERRY_KIND_ARRAY). Spec with the same diagram: docs/layout/array.md.
 * Never installed.
 *
 * Offsets are from the start of the object area, which the region layer
 * puts at header_size, a multiple of 64 (region_layout.h), in a mapping
 * that is page aligned: so an offset that is a multiple of 64 here is a
 * 64-byte aligned address in every process.
 *
 *   offset       size          what
 *   -----------  ------------  --------------------------------------------
 *            0   64            array header (below)
 *   header_size  table_bytes   frame schema: descriptor table
 *                              (frame_internal.h)
 *   data_offset  frame_bytes   the frame: every array's data, at
 *                              data_offset + desc.offset
 *   object_size = data_offset + frame_bytes
 *   data_offset = align64(header_size + table_bytes)
 *
 * Array header (64 bytes):
 *
 *   offset  size  field          meaning
 *   ------  ----  -------------  -------------------------------------------
 *        0     4  magic          FERRY__ARRAY_MAGIC ("FARY")
 *        4     2  version_major  another major = FERRY_EVERSION
 *        6     2  version_minor  newer minors stay readable
 *        8     4  header_size    where the schema table starts; 64 now
 *       12     4  reserved       zero
 *       16     8  data_offset    where the frame starts; multiple of 64
 *       24     4  checksum       FNV-1a of bytes 0..23
 *       28    36  reserved       zero
 *
 * Every byte of the object area outside the frame is written once, by the
 * creator, before the region is published [magic-last] (region_layout.h),
 * and never changes after. An opener copies the header and the table into
 * private memory and validates the copies [schema-copy]
 * (frame_internal.h): the header's fields, then the table, then that the
 * frame lies inside the object area.
 */
#ifndef FERRY_ARRAY_LAYOUT_H
#define FERRY_ARRAY_LAYOUT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* 'F','A','R','Y' read as a little-endian uint32. */
#define FERRY__ARRAY_MAGIC UINT32_C(0x59524146)
#define FERRY__ARRAY_VERSION_MAJOR 1
#define FERRY__ARRAY_VERSION_MINOR 0

#define FERRY__ARRAY_HDR_SIZE 64
#define FERRY__ARRAY_CHECKSUM_END 24

struct ferry__array_hdr {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
  uint32_t reserved0;
  uint64_t data_offset;
  uint32_t checksum;
  uint8_t reserved1[36];
};

static_assert(offsetof(struct ferry__array_hdr, magic) == 0, "array magic");
static_assert(offsetof(struct ferry__array_hdr, version_major) == 4, "array version_major");
static_assert(offsetof(struct ferry__array_hdr, version_minor) == 6, "array version_minor");
static_assert(offsetof(struct ferry__array_hdr, header_size) == 8, "array header_size");
static_assert(offsetof(struct ferry__array_hdr, data_offset) == 16, "array data_offset");
static_assert(offsetof(struct ferry__array_hdr, checksum) == FERRY__ARRAY_CHECKSUM_END,
              "array checksum");
static_assert(sizeof(struct ferry__array_hdr) == FERRY__ARRAY_HDR_SIZE, "array header size");

static inline uint32_t ferry__array_hdr_checksum(const struct ferry__array_hdr *h)
{
  return ferry__fnv1a(h, FERRY__ARRAY_CHECKSUM_END, FERRY__FNV_SEED);
}

#endif /* FERRY_ARRAY_LAYOUT_H */
