/* SPDX-License-Identifier: MIT */
/*
 * frame_internal.h: the frame *schema*, shared by every object that holds
 * frames (the array region holds one; the bus holds one schema and K frames
 * of data). A schema is a descriptor table: which arrays a frame has, their
 * dtypes and shapes, and where each one's bytes start relative to the
 * frame's base. It holds offsets only, never pointers, so a byte-for-byte
 * copy of it is as good as the original in any process and at any address,
 * and one table serves any number of frames laid out alike. Spec with the
 * same diagram: docs/layout/array.md. Never installed.
 *
 * Life of a schema:
 *   creator:  ferry__schema_size(specs)    validates; gives the sizes
 *             ferry__schema_write(table)   fills the table in shared memory
 *   opener:   copy the table out of shared memory into private memory, then
 *             ferry__schema_validate(copy) on the copy [schema-copy]
 *   both:     ferry__frame_view_init(&frame, table, base) per frame
 *
 * [schema-copy] A peer may scribble on shared memory at any time. An opener
 * that validated the table in place could then use fields that changed
 * after the check (an offset pointing outside the region). Validating and
 * then using a private copy closes that window: what was checked is what is
 * used. The table is small (at most FERRY__SCHEMA_MAX_BYTES), so the copy
 * is cheap and made once per open.
 *
 * Table layout (all integers native-endian):
 *
 *   offset  size  field          meaning
 *   ------  ----  -------------  ----------------------------------------
 *        0     4  magic          FERRY__SCHEMA_MAGIC ("FSCH")
 *        4     2  version_major  another major = FERRY_EVERSION
 *        6     2  version_minor  newer minors stay readable
 *        8     4  count          number of arrays, 1..FERRY_ARRAY_MAX_COUNT
 *       12     4  reserved       zero
 *       16     8  frame_bytes    bytes of one frame: every array's end,
 *                                rounded up to FERRY_ARRAY_ALIGN
 *       24     4  checksum       FNV-1a of bytes 0..23, then of every
 *                                descriptor (bytes 64..table_bytes)
 *       28    36  reserved       zero
 *       64   160 * count         descriptors, in declaration order
 *   table_bytes = 64 + 160 * count
 *
 * Descriptor (160 bytes):
 *
 *   offset  size  field    meaning
 *   ------  ----  -------  ----------------------------------------------
 *        0    64  name     NUL-terminated, zero-padded; [A-Za-z0-9_.-]
 *       64     4  dtype    ferry_dtype
 *       68     4  ndim     0..FERRY_ARRAY_MAX_DIMS
 *       72    64  shape    shape[0..ndim-1]; the rest zero
 *      136     8  offset   from the frame base; multiple of 64
 *      144     8  nbytes   itemsize * product of shape
 *      152     8  reserved zero
 *
 * Placement: array i starts at align64(end of array i-1) (0 for the first),
 * so arrays sit in declaration order without overlapping, and frame_bytes
 * is align64(end of the last). A frame's base is 64-byte aligned, so every
 * array's address is too.
 *
 * Reserved bytes are written zero and ignored on read, so that a later
 * minor version may give them a meaning that older readers can skip.
 */
#ifndef FERRY_FRAME_INTERNAL_H
#define FERRY_FRAME_INTERNAL_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/array.h"

/* 'F','S','C','H' read as a little-endian uint32. */
#define FERRY__SCHEMA_MAGIC UINT32_C(0x48435346)
#define FERRY__SCHEMA_VERSION_MAJOR 1
#define FERRY__SCHEMA_VERSION_MINOR 0

#define FERRY__SCHEMA_HDR_SIZE 64
#define FERRY__SCHEMA_DESC_SIZE 160
/* The header bytes the checksum covers: everything before the checksum. */
#define FERRY__SCHEMA_CHECKSUM_END 24
#define FERRY__SCHEMA_MAX_BYTES                                                \
  (FERRY__SCHEMA_HDR_SIZE + FERRY__SCHEMA_DESC_SIZE * FERRY_ARRAY_MAX_COUNT)

struct ferry__schema_desc {
  char name[FERRY_ARRAY_NAME_MAX + 1];
  uint32_t dtype;
  uint32_t ndim;
  uint64_t shape[FERRY_ARRAY_MAX_DIMS];
  uint64_t offset;
  uint64_t nbytes;
  uint64_t reserved;
};

struct ferry__schema_hdr {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t count;
  uint32_t reserved0;
  uint64_t frame_bytes;
  uint32_t checksum;
  uint8_t reserved1[36];
  struct ferry__schema_desc desc[]; /* count of them */
};

static_assert(offsetof(struct ferry__schema_hdr, magic) == 0, "schema magic");
static_assert(offsetof(struct ferry__schema_hdr, version_major) == 4, "schema version_major");
static_assert(offsetof(struct ferry__schema_hdr, version_minor) == 6, "schema version_minor");
static_assert(offsetof(struct ferry__schema_hdr, count) == 8, "schema count");
static_assert(offsetof(struct ferry__schema_hdr, frame_bytes) == 16, "schema frame_bytes");
static_assert(offsetof(struct ferry__schema_hdr, checksum) == FERRY__SCHEMA_CHECKSUM_END,
              "schema checksum");
static_assert(offsetof(struct ferry__schema_hdr, desc) == FERRY__SCHEMA_HDR_SIZE, "schema desc");
static_assert(sizeof(struct ferry__schema_hdr) == FERRY__SCHEMA_HDR_SIZE, "schema header size");
static_assert(offsetof(struct ferry__schema_desc, name) == 0, "desc name");
static_assert(offsetof(struct ferry__schema_desc, dtype) == 64, "desc dtype");
static_assert(offsetof(struct ferry__schema_desc, ndim) == 68, "desc ndim");
static_assert(offsetof(struct ferry__schema_desc, shape) == 72, "desc shape");
static_assert(offsetof(struct ferry__schema_desc, offset) == 136, "desc offset");
static_assert(offsetof(struct ferry__schema_desc, nbytes) == 144, "desc nbytes");
static_assert(offsetof(struct ferry__schema_desc, reserved) == 152, "desc reserved");
static_assert(sizeof(struct ferry__schema_desc) == FERRY__SCHEMA_DESC_SIZE, "desc size");
static_assert(FERRY_ARRAY_ALIGN % 8 == 0, "tables inside frames stay 8-byte aligned");

/*
 * A frame: a validated table plus the base address of one frame's data.
 * Process-local; the bus keeps K of them over one table. The table must
 * stay put and unchanged for the frame's life [schema-copy].
 */
struct ferry_frame {
  const struct ferry__schema_hdr *table;
  uint8_t *base; /* FERRY_ARRAY_ALIGN-aligned */
};

/*
 * Checks specs (count, names, dtypes, ndims, uniqueness) and computes the
 * table's size and one frame's data size. Either output may be NULL.
 * Returns 0, -EINVAL (bad spec) or -EOVERFLOW (a size that does not fit;
 * see array.h); outputs untouched on error. Bad specs are reported before
 * sizes, so the error does not depend on the order of the specs.
 */
int ferry__schema_size(const ferry_array_spec *specs, size_t n, size_t *table_bytes,
                       uint64_t *frame_bytes);

/*
 * Writes the table for specs into table (cap bytes, 8-byte aligned),
 * checksum included. The frame's data is not touched. Returns 0, an error
 * of ferry__schema_size(), or -ENOBUFS if cap is below the table size;
 * nothing is written on error.
 */
int ferry__schema_write(void *table, size_t cap, const ferry_array_spec *specs, size_t n);

/*
 * Validates a table that may hold any bytes at all: the first avail_bytes
 * bytes at table (8-byte aligned) are all that may be read. Checks magic,
 * version, count, checksum, and for every descriptor a NUL-terminated,
 * valid and unique name, dtype, ndim, unused shape entries zero, nbytes
 * equal to the size the shape gives (overflow-checked), a 64-byte aligned
 * offset, and that arrays are in order, do not overlap and end within
 * frame_bytes, itself a multiple of 64 and at most PTRDIFF_MAX.
 * Returns 0 and the sizes (outputs may be NULL), FERRY_EVERSION for another
 * major version, or FERRY_ECORRUPT for anything else wrong. Validate a
 * private copy, never the table in shared memory [schema-copy].
 */
int ferry__schema_validate(const void *table, size_t avail_bytes, size_t *table_bytes,
                           uint64_t *frame_bytes);

/* The table's checksum as the writer computes it (for the tests and fuzz
 * targets, which repair it after corrupting a field on purpose). table must
 * hold a valid count. */
uint32_t ferry__schema_checksum(const void *table);

/* Makes f a view of the frame at base, described by table, which passed
 * ferry__schema_validate() and outlives f. */
void ferry__frame_view_init(struct ferry_frame *f, const void *table, void *base);

#endif /* FERRY_FRAME_INTERNAL_H */
