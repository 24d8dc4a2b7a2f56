/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h: what the fuzz targets and the corpus generator (make_corpus.c)
 * share: the check that aborts on a broken promise, the entry preamble
 * (a mode byte, then the input in a buffer of its own), and the header
 * builders that recompute checksums the way the library checks them, so
 * that inputs reach past the checksums. Header-only: each target is built
 * both as a libFuzzer binary and as a replay program.
 */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "ferry/array.h"
#include "frame_internal.h"
#include "region_layout.h"

/* A broken promise of the code under test: abort, so that both libFuzzer
 * and the replay program report the input. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/*
 * The entry preamble: the first byte of the input is the mode, the rest is
 * copied into a malloc'd buffer (never empty, so it can be passed on) of
 * *size bytes. Returns NULL when there is no mode byte or no memory:
 * nothing to test.
 */
static inline uint8_t *fuzz_input(const uint8_t *data, size_t *size, uint8_t *mode)
{
  if (*size < 1)
    return NULL;
  *mode = data[0];
  *size -= 1;
  /* malloc's alignment satisfies every header's 8 bytes. */
  uint8_t *copy = malloc(*size ? *size : 1);
  if (copy)
    memcpy(copy, data + 1, *size);
  return copy;
}

/*
 * The patch list of the file targets (object_file, pool_stat): up to max
 * patches from p (n bytes), each [offset: u16 little endian][w][w % 8 + 1
 * bytes], written into file (size bytes) at from + offset modulo
 * (size - from), cut short by the end of the input or of the file.
 * Returns the number of bytes written.
 */
static inline size_t fuzz_patch(uint8_t *file, size_t size, size_t from, const uint8_t *p,
                                size_t n, int max)
{
  size_t span = size - from, done = 0;
  for (int k = 0; k < max && n >= 3; k++) {
    size_t off = from + (size_t)(p[0] | (uint32_t)p[1] << 8) % span;
    size_t w = (size_t)(p[2] % 8) + 1;
    p += 3, n -= 3;
    if (w > n)
      w = n;
    if (off + w > size)
      w = size - off;
    memcpy(file + off, p, w);
    p += w, n -= w, done += w;
  }
  return done;
}

/* The region header's checksum over its first bytes (region_layout.h). */
static inline uint32_t fuzz_region_checksum(const uint8_t *hdr)
{
  return ferry__fnv1a(hdr + FERRY__CHECKSUM_BEGIN, FERRY__CHECKSUM_END - FERRY__CHECKSUM_BEGIN,
                      FERRY__FNV_SEED);
}

/* Writes the right checksum into the region header at the start of file,
 * if the file holds that much. */
static inline void fuzz_repair_region(uint8_t *file, size_t size)
{
  if (size < FERRY__CHECKSUM_END + sizeof(uint32_t))
    return;
  uint32_t sum = fuzz_region_checksum(file);
  memcpy(file + FERRY__CHECKSUM_END, &sum, sizeof sum);
}

/* Whether an array table of avail bytes at table holds as many
 * descriptors as its count says (the checksum reads all of them). */
static inline int fuzz_schema_whole(const uint8_t *table, size_t avail)
{
  if (avail < FERRY__SCHEMA_HDR_SIZE)
    return 0;
  uint32_t count;
  memcpy(&count, table + offsetof(struct ferry__schema_hdr, count), sizeof count);
  return count >= 1 && count <= FERRY_ARRAY_MAX_COUNT &&
         FERRY__SCHEMA_HDR_SIZE + (size_t)FERRY__SCHEMA_DESC_SIZE * count <= avail;
}

/* Writes the right checksum into an 8-byte aligned array table, if it is
 * whole; only what is all there is repaired. */
static inline void fuzz_repair_schema(uint8_t *table, size_t avail)
{
  if (!fuzz_schema_whole(table, avail))
    return;
  struct ferry__schema_hdr *h = (struct ferry__schema_hdr *)(void *)table;
  h->checksum = ferry__schema_checksum(h);
}

/* Repairs the array table at offset t of a file of size bytes, through an
 * aligned private copy (the checksum reads the table as structs): only the
 * table's checksum is written, and only if the table is whole there. */
static inline void fuzz_repair_schema_at(uint8_t *file, size_t size, uint64_t t)
{
  static uint64_t table[FERRY__SCHEMA_MAX_BYTES / sizeof(uint64_t) + 1];
  if (t >= size)
    return;
  size_t avail = size - t < sizeof table ? size - t : sizeof table;
  memcpy(table, file + t, avail);
  if (!fuzz_schema_whole((const uint8_t *)table, avail))
    return;
  fuzz_repair_schema((uint8_t *)table, avail);
  memcpy(file + t + offsetof(struct ferry__schema_hdr, checksum),
         (const uint8_t *)table + offsetof(struct ferry__schema_hdr, checksum), sizeof(uint32_t));
}

#endif /* FERRY_FUZZ_H */
