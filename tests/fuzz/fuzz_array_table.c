/* SPDX-License-Identifier: MIT */
/*
 * fuzz_array_table.c: fuzz target for ferry__schema_validate(), the check of
 * an array region's descriptor table (frame_internal.h) that an opener
 * copies out of shared memory.
 *
 * Input: byte 0 is a mode byte, the rest is the table, copied into a heap
 * block of exactly that many bytes (the avail_bytes the validator is told),
 * so that ASan flags any read past it. A table the validator accepts is
 * then used as a consumer would: a frame view over a frame of exactly
 * frame_bytes bytes, every array fetched by index and by name, and the
 * first and last byte of each array's data read and written. Properties the
 * validator promises (see frame_internal.h) are checked on the way; one
 * that fails aborts, so the fuzzer reports the input.
 *
 * Mode byte:
 *   bit 0  recompute the table checksum before validating, as the writer
 *          does, so that mutations reach the per-descriptor checks behind
 *          it. Only done when the count and length make that safe.
 *
 * Built twice (tests/fuzz/CMakeLists.txt): as a libFuzzer binary with clang,
 * and with replay_main.c as a plain program that CTest runs on the corpus.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "frame_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_REPAIR_CHECKSUM 0x01u

/* Frames up to this size are backed by real memory and touched; larger
 * ones (valid tables may describe terabytes) get views only. */
#define REAL_FRAME_MAX (1u << 20)

static size_t table_size(uint32_t count)
{
  return FERRY__SCHEMA_HDR_SIZE + (size_t)FERRY__SCHEMA_DESC_SIZE * count;
}


/* Checks one view against its descriptor and the frame, and touches its
 * data when the frame is real. */
static void use_array(const struct ferry_frame *f, uint64_t frame_bytes, size_t i, bool real)
{
  ferry_array a;
  FUZZ_CHECK(ferry_frame_array_at(f, i, &a) == 0);
  FUZZ_CHECK(a.name != NULL && strlen(a.name) >= 1 && strlen(a.name) <= FERRY_ARRAY_NAME_MAX);
  FUZZ_CHECK(a.itemsize != 0 && a.itemsize == ferry_dtype_size(a.dtype));
  FUZZ_CHECK(ferry_dtype_name(a.dtype) != NULL && ferry_dtype_typestr(a.dtype) != NULL);
  FUZZ_CHECK(a.ndim <= FERRY_ARRAY_MAX_DIMS);
  FUZZ_CHECK(a.nbytes == a.count * a.itemsize);

  /* C-order strides, a zero dimension counting as one (numpy's rule). */
  uint64_t stride = a.itemsize, elems = 1;
  for (uint32_t k = a.ndim; k-- > 0;) {
    FUZZ_CHECK(a.strides[k] == stride);
    if (a.shape[k] != 0)
      stride *= a.shape[k];
    elems *= a.shape[k];
  }
  for (uint32_t k = a.ndim; k < FERRY_ARRAY_MAX_DIMS; k++)
    FUZZ_CHECK(a.shape[k] == 0 && a.strides[k] == 0);
  FUZZ_CHECK(elems == a.count);

  uint64_t off = (uint64_t)((const uint8_t *)a.data - f->base);
  FUZZ_CHECK(off % FERRY_ARRAY_ALIGN == 0);
  FUZZ_CHECK(off <= frame_bytes && a.nbytes <= frame_bytes - off);

  /* Names are unique, so a lookup by name finds this very array. */
  ferry_array b;
  FUZZ_CHECK(ferry_frame_array(f, a.name, &b) == 0);
  FUZZ_CHECK(b.data == a.data && b.nbytes == a.nbytes);

  if (real && a.nbytes > 0) {
    volatile uint8_t *p = a.data;
    p[0] = (uint8_t)(p[0] + 1);
    p[a.nbytes - 1] = (uint8_t)(p[a.nbytes - 1] + 1);
  }
}

/*
 * The specs a valid table describes are valid specs: a creator given them
 * lays out a table that validates again, with a frame no larger (the
 * validator allows gaps between arrays; the writer packs them).
 */
static void check_round_trip(const struct ferry__schema_hdr *h, size_t tb, uint64_t fb)
{
  ferry_array_spec specs[FERRY_ARRAY_MAX_COUNT];
  memset(specs, 0, sizeof specs);
  for (uint32_t i = 0; i < h->count; i++) {
    specs[i].name = h->desc[i].name;
    specs[i].dtype = (ferry_dtype)h->desc[i].dtype;
    specs[i].ndim = h->desc[i].ndim;
    memcpy(specs[i].shape, h->desc[i].shape, sizeof specs[i].shape);
  }
  size_t tb2;
  uint64_t fb2;
  FUZZ_CHECK(ferry__schema_size(specs, h->count, &tb2, &fb2) == 0);
  FUZZ_CHECK(tb2 == tb && fb2 <= fb);
  uint64_t *again = malloc(tb2);
  FUZZ_CHECK(again != NULL);
  FUZZ_CHECK(ferry__schema_write(again, tb2, specs, h->count) == 0);
  size_t tb3;
  uint64_t fb3;
  FUZZ_CHECK(ferry__schema_validate(again, tb2, &tb3, &fb3) == 0);
  FUZZ_CHECK(tb3 == tb2 && fb3 == fb2);
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t mode;
  uint8_t *table = fuzz_input(data, &size, &mode);
  if (!table)
    return 0;
  if (mode & MODE_REPAIR_CHECKSUM)
    fuzz_repair_schema(table, size);

  size_t tb = 0;
  uint64_t fb = 0;
  int rc = ferry__schema_validate(table, size, &tb, &fb);
  if (rc != 0) {
    FUZZ_CHECK(rc == FERRY_ECORRUPT || rc == FERRY_EVERSION);
    free(table);
    return 0;
  }
  const struct ferry__schema_hdr *h = (const struct ferry__schema_hdr *)table;
  FUZZ_CHECK(tb == table_size(h->count) && tb <= size);
  FUZZ_CHECK(fb == h->frame_bytes && fb % FERRY_ARRAY_ALIGN == 0);

  /* A frame too large to allocate still gets its views built and checked,
   * over a stand-in base that is never dereferenced. */
  static _Alignas(FERRY_ARRAY_ALIGN) uint8_t stand_in[FERRY_ARRAY_ALIGN];
  bool real = fb <= REAL_FRAME_MAX;
  void *frame = NULL;
  if (real && fb > 0 && posix_memalign(&frame, FERRY_ARRAY_ALIGN, (size_t)fb) != 0)
    frame = NULL;
  if (!frame)
    real = real && fb == 0;

  struct ferry_frame f;
  ferry__frame_view_init(&f, table, frame ? frame : stand_in);
  FUZZ_CHECK(ferry_frame_count(&f) == h->count);
  FUZZ_CHECK(ferry_frame_bytes(&f) == fb);
  for (size_t i = 0; i < h->count; i++)
    use_array(&f, fb, i, real);
  ferry_array none;
  FUZZ_CHECK(ferry_frame_array_at(&f, h->count, &none) == -ENOENT);
  check_round_trip(h, tb, fb);

  free(frame);
  free(table);
  return 0;
}
