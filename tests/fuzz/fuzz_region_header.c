/* SPDX-License-Identifier: MIT */
/*
 * fuzz_region_header.c: fuzz target for ferry__region_validate(), the check
 * that stands between an untrusted region header and every later use of it.
 *
 * Input: byte 0 is a mode byte, the rest is the region file. The harness
 * copies the file's first 256 bytes into a zeroed header (as probe() in
 * region.c does with pread) and validates it against the file's length. A
 * header the validator accepts is then used the way region open and its
 * accessors use it: the file is "mapped" into a heap block of exactly
 * total_size bytes, and the slot table and the object area are read and
 * written where the header says they are. ASan sees every byte outside
 * that block, so a validator that lets an inconsistent size or offset
 * through turns into a crash here instead of in a process that attached
 * to a corrupted region.
 *
 * Mode byte:
 *   bit 0      recompute the header checksum before validating, as the
 *              creator does. Without this a fuzzer almost never gets past
 *              the checksum, and the size checks behind it go untested.
 *   bits 1..3  the kind asked for: FERRY_KIND_ANY (0) .. FERRY_KIND_DICT (7).
 *
 * Built twice (tests/fuzz/CMakeLists.txt): as a libFuzzer binary with clang,
 * and with replay_main.c as a plain program that CTest runs on the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "ferry/error.h"
#include "ferry/region.h"
#include "fuzz.h"
#include "region_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Defined in region.c without a header declaration; hidden, so this target
 * links the static library (or the sources) to reach it. */
int ferry__region_validate(const struct ferry__region_hdr *h, uint64_t file_size, ferry_kind kind);

#define MODE_REPAIR_CHECKSUM 0x01u
#define MODE_KIND_SHIFT 1
#define MODE_KIND_MASK 0x07u


/* Any kind other than `kind` that validation would otherwise accept. */
static ferry_kind other_kind(uint32_t kind)
{
  return kind == FERRY_KIND_RAW ? FERRY_KIND_ARRAY : FERRY_KIND_RAW;
}

/*
 * What an opener does with a header that passed: map total_size bytes of
 * the file, compare the live header with the checked copy, then walk the
 * participant table and use the object area where region_layout.h puts
 * them. Done from the layout alone, not through a handle, so this target
 * does not depend on the handle's private fields; fuzz_region_file.c
 * drives the real accessors.
 */
static void use_as_opener(const struct ferry__region_hdr *copy, const uint8_t *file)
{
  uint64_t total = copy->total_size;
  /* Exactly total bytes: the mapping open makes is this long, and ASan
   * then flags the first byte past it. */
  uint8_t *map = malloc(total ? (size_t)total : 1);
  FUZZ_CHECK(map != NULL);
  memcpy(map, file, (size_t)total);
  const struct ferry__region_hdr *h = (const struct ferry__region_hdr *)map;
  FUZZ_CHECK(memcmp(h, copy, FERRY__CHECKSUM_END + sizeof copy->checksum) == 0);
  FUZZ_CHECK(strcmp(ferry_kind_name(h->kind), "unknown") != 0);

  /* The table ends before the object area starts, which starts on a cache
   * line: objects (arrays) rely on both. */
  uint64_t table_end = FERRY__SLOT_TABLE_OFFSET + (uint64_t)FERRY__SLOT_SIZE * h->max_participants;
  FUZZ_CHECK(table_end <= h->header_size && h->header_size % FERRY__CACHELINE == 0);
  /* volatile: these reads are the point, and nothing else uses them. */
  volatile struct ferry__slot *slots = (struct ferry__slot *)(map + FERRY__SLOT_TABLE_OFFSET);
  for (uint32_t i = 0; i < h->max_participants; i++) {
    uint64_t w = atomic_load_explicit(&slots[i].owner, memory_order_acquire);
    if ((w & FERRY__SLOT_STATE_MASK) == FERRY__SLOT_LIVE) {
      (void)slots[i].start;
      (void)slots[i].role;
    }
  }

  uint64_t n = h->object_size;
  FUZZ_CHECK(h->header_size + n == total);
  if (n > 0) {
    volatile uint8_t *obj = map + h->header_size;
    obj[0] = (uint8_t)(obj[0] + 1);
    obj[n - 1] = (uint8_t)(obj[n - 1] + 1);
  }
  free(map);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* The file as open sees it; the repaired checksum is written into it too,
   * so that the "mapping" and the checked copy agree as in a real region. */
  uint8_t mode;
  uint8_t *file = fuzz_input(data, &size, &mode);
  if (!file)
    return 0;
  struct ferry__region_hdr copy;
  memset(&copy, 0, sizeof copy);
  size_t head = size < sizeof copy ? size : sizeof copy;
  memcpy(&copy, file, head);
  if (mode & MODE_REPAIR_CHECKSUM) {
    copy.checksum = fuzz_region_checksum((const uint8_t *)&copy);
    memcpy(file, &copy, head);
  }
  ferry_kind want = (ferry_kind)((mode >> MODE_KIND_SHIFT) & MODE_KIND_MASK);

  int rc = ferry__region_validate(&copy, size, want);
  if (rc == 0) {
    /* Acceptance must not depend on the kind asked for beyond the kind
     * check itself, nor on the file being exactly as long as needed. */
    FUZZ_CHECK(ferry__region_validate(&copy, size, FERRY_KIND_ANY) == 0);
    FUZZ_CHECK(ferry__region_validate(&copy, size, (ferry_kind)copy.kind) == 0);
    FUZZ_CHECK(ferry__region_validate(&copy, size, other_kind(copy.kind)) == FERRY_EKIND);
    FUZZ_CHECK(ferry__region_validate(&copy, UINT64_MAX, want) == 0);
    FUZZ_CHECK(copy.total_size <= size);
    use_as_opener(&copy, file);
  } else {
    FUZZ_CHECK(rc == FERRY_EINCOMPLETE || rc == FERRY_EBADMAGIC || rc == FERRY_EVERSION ||
               rc == FERRY_ECORRUPT || rc == FERRY_ETRUNCATED || rc == FERRY_EKIND);
  }
  free(file);
  return 0;
}
