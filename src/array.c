/* SPDX-License-Identifier: MIT */
/*
 * array.c: array regions: a region of kind FERRY_KIND_ARRAY whose object
 * area holds a small header, a frame schema and one frame of data
 * (array_layout.h). The schema itself, and the frame views handed out, are
 * frame.c's; this file only places them in a region and finds them again.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "array_layout.h"
#include "ferry/array.h"
#include "ferry/error.h"
#include "frame_internal.h"
#include "region_internal.h"

struct ferry_arrays {
  ferry_region *region;
  struct ferry_frame frame; /* frame.table points at table below */
  /* The process-private copy of the schema [schema-copy]; uint64_t for the
   * table's alignment. */
  uint64_t table[];
};

void ferry_array_options_init(ferry_array_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_WRITER;
}

int ferry_array_create(const char *name, const ferry_array_spec *specs, size_t n,
                       const ferry_array_options *o, ferry_arrays **out)
{
  assert(out);
  ferry_array_options defaults;
  if (!o) {
    ferry_array_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  size_t table_bytes;
  uint64_t frame_bytes, data_offset, object_size;
  int rc = ferry__schema_size(specs, n, &table_bytes, &frame_bytes);
  if (rc)
    return rc;
  if (ferry__align_up(FERRY__ARRAY_HDR_SIZE + (uint64_t)table_bytes, FERRY_ARRAY_ALIGN,
                      &data_offset) ||
      ferry__add_overflow(data_offset, frame_bytes, &object_size) ||
      object_size > (uint64_t)SIZE_MAX)
    return -EOVERFLOW;

  /* Everything that can fail without touching /dev/shm goes first. */
  ferry_arrays *a = calloc(1, sizeof *a + table_bytes);
  if (!a)
    return -ENOMEM;
  if ((rc = ferry__schema_write(a->table, table_bytes, specs, n))) {
    free(a);
    return rc;
  }
  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_ARRAY, (size_t)object_size, &o->region,
                                 FERRY__REGION_STATELESS_SLOTS, &r))) {
    free(a);
    return rc;
  }
  uint8_t *obj = ferry__region_object(r);
  /* header_size is a multiple of 64 and the mapping is page aligned. */
  assert(((uintptr_t)obj % FERRY_ARRAY_ALIGN) == 0);

  /* The file is freshly allocated, so every byte not written here (data,
   * padding) is already zero. */
  struct ferry__array_hdr *h = (struct ferry__array_hdr *)obj;
  memset(h, 0, sizeof *h);
  h->magic = FERRY__ARRAY_MAGIC;
  h->version_major = FERRY__ARRAY_VERSION_MAJOR;
  h->version_minor = FERRY__ARRAY_VERSION_MINOR;
  h->header_size = FERRY__ARRAY_HDR_SIZE;
  h->data_offset = data_offset;
  h->checksum = ferry__array_hdr_checksum(h);
  memcpy(obj + FERRY__ARRAY_HDR_SIZE, a->table, table_bytes);

  a->region = r;
  ferry__frame_view_init(&a->frame, a->table, obj + data_offset);
  /* [magic-last]: the header and table above become visible to openers
   * with the region's magic. */
  ferry__region_publish(r);
  *out = a;
  return 0;
}

/*
 * Finds and validates the frame of a freshly opened region. Reads shared
 * memory only through private copies [schema-copy]; every size is judged
 * against the object area this process actually mapped.
 */
static int attach(ferry_region *r, ferry_arrays **out)
{
  uint8_t *obj = ferry__region_object(r);
  size_t size = ferry_region_data_size(r);
  if (((uintptr_t)obj % FERRY_ARRAY_ALIGN) != 0 || size < FERRY__ARRAY_HDR_SIZE)
    return FERRY_ECORRUPT;

  struct ferry__array_hdr h;
  memcpy(&h, obj, sizeof h);
  if (h.magic != FERRY__ARRAY_MAGIC)
    return FERRY_ECORRUPT;
  /* Judged before the checksum: another major may checksum differently. */
  if (h.version_major != FERRY__ARRAY_VERSION_MAJOR)
    return FERRY_EVERSION;
  if (h.checksum != ferry__array_hdr_checksum(&h))
    return FERRY_ECORRUPT;
  if (h.header_size < FERRY__ARRAY_HDR_SIZE || h.header_size % FERRY_ARRAY_ALIGN != 0 ||
      h.data_offset % FERRY_ARRAY_ALIGN != 0 || h.data_offset > size ||
      h.data_offset < (uint64_t)h.header_size + FERRY__SCHEMA_HDR_SIZE)
    return FERRY_ECORRUPT;

  /* The table lies between the header and the frame; copy no more of that
   * gap than the largest table can use. */
  size_t avail = (size_t)h.data_offset - h.header_size;
  if (avail > FERRY__SCHEMA_MAX_BYTES)
    avail = FERRY__SCHEMA_MAX_BYTES;
  ferry_arrays *a = malloc(sizeof *a + avail);
  if (!a)
    return -ENOMEM;
  memcpy(a->table, obj + h.header_size, avail);
  uint64_t frame_bytes;
  int rc = ferry__schema_validate(a->table, avail, NULL, &frame_bytes);
  if (rc == 0 && frame_bytes > size - h.data_offset)
    rc = FERRY_ECORRUPT;
  if (rc) {
    free(a);
    return rc;
  }
  a->region = r;
  ferry__frame_view_init(&a->frame, a->table, obj + h.data_offset);
  *out = a;
  return 0;
}

int ferry_array_open(const char *name, const ferry_open_options *o, ferry_arrays **out)
{
  assert(out);
  ferry_open_options opts;
  if (o)
    opts = *o;
  else
    ferry_open_options_init(&opts);
  if (opts.role == 0)
    opts.role = FERRY_ROLE_READER;
  ferry_region *r;
  int rc = ferry__region_open(name, FERRY_KIND_ARRAY, &opts, &r);
  if (rc)
    return rc;
  if ((!r->observe && (rc = ferry__region_join(r, NULL, NULL))) || (rc = attach(r, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_array_close(ferry_arrays *a)
{
  if (!a)
    return;
  ferry_region_close(a->region);
  free(a);
}

const ferry_frame *ferry_array_frame(const ferry_arrays *a)
{
  assert(a);
  return &a->frame;
}

int ferry_array_get(const ferry_arrays *a, const char *name, ferry_array *out)
{
  assert(a);
  /* In a fork child the handle is our parent's [fork]: open the arrays
   * again by name. */
  int rc = ferry__region_usable(a->region);
  if (rc)
    return rc;
  return ferry_frame_array(&a->frame, name, out);
}

ferry_region *ferry_array_region(const ferry_arrays *a)
{
  assert(a);
  return a->region;
}
