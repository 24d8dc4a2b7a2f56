/* SPDX-License-Identifier: MIT */
/*
 * fuzz_region_file.c: fuzz target for the whole attach path, from a file in
 * /dev/shm to a usable handle: ferry_region_open() or ferry_array_open() on
 * a region file whose every byte comes from the fuzzer.
 *
 * The other targets call one validator on a buffer; this one goes through
 * what a real opener does (open, pread, flock, fstat, mmap, the live-header
 * comparison, the participant table, the array header and schema copy) so
 * that a check done in the wrong order, or on the wrong copy, shows up too.
 * Each input is written to /dev/shm/ferry.fuzz-<pid>, opened with a zero
 * timeout, used as a consumer would if the open succeeds, closed and
 * unlinked. Opening must never crash and never wait: a zero timeout means
 * one try (see common.h), and the per-input watchdog of libFuzzer
 * (-timeout) or replay_main.c turns a hang into a failure.
 *
 * Mode byte (input byte 0; the rest is the file):
 *   bit 0  recompute the region header checksum, as the creator does;
 *   bit 1  recompute the array header and schema checksums where the file
 *          has them in range, so mutations reach the checks behind them;
 *   bit 2  open with ferry_array_open() instead of ferry_region_open();
 *   bit 3  open with FERRY_OPEN_OBSERVE (read-only mapping, no slot).
 *
 * Built twice (tests/fuzz/CMakeLists.txt): as a libFuzzer binary with clang,
 * and with replay_main.c as a plain program that CTest runs on the corpus.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array_layout.h"
#include "ferry/array.h"
#include "ferry/error.h"
#include "frame_internal.h"
#include "fuzz.h"
#include "region_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_REPAIR_REGION 0x01u
#define MODE_REPAIR_ARRAY 0x02u
#define MODE_OPEN_ARRAY 0x04u
#define MODE_OBSERVE 0x08u


/*
 * Finds the array header and the schema table where array.c would look
 * for them and fixes their checksums. Every offset comes from the input,
 * so each one is bounds-checked here: the harness must not be the thing
 * that crashes.
 */
static void repair_array(uint8_t *file, size_t size)
{
  uint32_t region_hs;
  if (size < sizeof(struct ferry__region_hdr))
    return;
  memcpy(&region_hs, file + offsetof(struct ferry__region_hdr, header_size), sizeof region_hs);
  uint64_t obj = region_hs;
  if (obj + FERRY__ARRAY_HDR_SIZE > size)
    return;
  struct ferry__array_hdr ah;
  memcpy(&ah, file + obj, sizeof ah);

  fuzz_repair_schema_at(file, size, obj + ah.header_size);
  ah.checksum = ferry__array_hdr_checksum(&ah);
  memcpy(file + obj, &ah, sizeof ah);
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -errno;
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int rc = n < 0 ? -errno : -EIO;
      close(fd);
      return rc;
    }
    data += n;
    size -= (size_t)n;
  }
  return close(fd) == 0 ? 0 : -errno;
}

/* Reads, and unless the mapping is read-only writes, both ends of [p, p+n). */
static void touch(void *p, size_t n, bool writable)
{
  if (n == 0)
    return;
  volatile uint8_t *b = p;
  uint8_t first = b[0], last = b[n - 1];
  if (writable) {
    b[0] = (uint8_t)(first + 1);
    b[n - 1] = (uint8_t)(last + 1);
  }
}

static void use_region(ferry_region *r, bool observe, size_t file_size)
{
  uint8_t *obj = ferry_region_data(r);
  size_t n = ferry_region_data_size(r);
  touch(obj, n, !observe);
  FUZZ_CHECK(observe ? ferry_region_slot(r) == -1 : ferry_region_slot(r) >= 0);
  ferry_region_info info;
  FUZZ_CHECK(ferry_region_info_get(r, &info) == 0);
  FUZZ_CHECK(info.object_size == n);
  /* Every mapped byte is backed by the file: touching one past its end
   * would be a SIGBUS, but only once the file ends a page early, which a
   * fuzzer rarely builds. Checking the promise directly catches it always. */
  FUZZ_CHECK(info.total_size <= file_size);
  FUZZ_CHECK(observe || info.live >= 1);
  ferry_participant parts[4];
  FUZZ_CHECK(ferry_region_participants(r, parts, 4) >= 0);
}

static void use_arrays(ferry_arrays *a, bool observe, size_t file_size)
{
  ferry_region *r = ferry_array_region(a);
  const uint8_t *lo = ferry_region_data(r);
  const uint8_t *hi = lo + ferry_region_data_size(r);
  const ferry_frame *f = ferry_array_frame(a);
  size_t count = ferry_frame_count(f);
  FUZZ_CHECK(count >= 1 && count <= FERRY_ARRAY_MAX_COUNT);
  for (size_t i = 0; i < count; i++) {
    ferry_array v;
    FUZZ_CHECK(ferry_frame_array_at(f, i, &v) == 0);
    const uint8_t *p = v.data;
    /* The promise that matters: every array lies inside the object area
     * this process mapped. */
    FUZZ_CHECK(p >= lo && p <= hi && v.nbytes <= (size_t)(hi - p));
    touch(v.data, v.nbytes, !observe);
  }
  use_region(r, observe, file_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t mode;
  uint8_t *file = fuzz_input(data, &size, &mode);
  if (!file)
    return 0;
  if (mode & MODE_REPAIR_ARRAY)
    repair_array(file, size);
  if (mode & MODE_REPAIR_REGION)
    fuzz_repair_region(file, size);

  char name[64], path[96];
  snprintf(name, sizeof name, "fuzz-%ld", (long)getpid());
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  int rc = write_file(path, file, size);
  free(file);
  if (rc != 0) {
    unlink(path);
    return 0; /* /dev/shm full or missing: nothing to learn */
  }

  bool observe = (mode & MODE_OBSERVE) != 0;
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.timeout_ns = 0;
  o.flags = observe ? FERRY_OPEN_OBSERVE : 0;
  if (mode & MODE_OPEN_ARRAY) {
    ferry_arrays *a = NULL;
    rc = ferry_array_open(name, &o, &a);
    if (rc == 0) {
      use_arrays(a, observe, size);
      ferry_array_close(a);
    }
  } else {
    ferry_region *r = NULL;
    rc = ferry_region_open(name, FERRY_KIND_ANY, &o, &r);
    if (rc == 0) {
      use_region(r, observe, size);
      ferry_region_close(r);
    }
  }
  FUZZ_CHECK(rc <= 0);
  /* A region flagged unlink-on-last-close may already be gone. */
  unlink(path);
  return 0;
}
