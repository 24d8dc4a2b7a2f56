/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pool_stat.c: fuzz target for ferry_pool_stat(), the observers' read
 * of a process pool's statistics region (`ferry ls/info/top`), from a file
 * that another process has rewritten.
 *
 * Each input builds a sound statistics region under a name of this process,
 * through the region layer as the pool does (src/pool.c, stats_region_create
 * and stats_publish; layout in docs/layout/pool.md), with the input's kind
 * and number of worker rows, and one snapshot published under the seqlock
 * with every state in range. The creator's handle stays open, as a live
 * pool's does. Then the input's patches rewrite bytes of the file, the
 * region header's checksum can be written again, and ferry_pool_stat() reads
 * the region into a row buffer of exactly the input's cap.
 *
 * What must hold:
 *   - the call returns, without crashing, a row count or a negative error;
 *     its waits are bounded (the seqlock gives up after its tries), and the
 *     per-input watchdog (libFuzzer's -timeout, replay_main.c's alarm) fails
 *     anything else;
 *   - on success the count is 1..FERRY_POOL_MAX_WORKERS, min(cap, count)
 *     rows are written and not one more, every state, breaker and kind is
 *     within its enum, no pid is negative, and what it reports is what the
 *     file holds;
 *   - on error nothing is written to the outputs;
 *   - the result is the one docs/layout/pool.md gives for the bytes, in the
 *     order it gives the checks, when the patches left the region header
 *     alone (model_result);
 *   - a file the patches left as it was reads back exactly the snapshot and
 *     rows written.
 *
 * One rewrite is undone: a region magic patched to zero means "a creator is
 * still at work", and the read waits out its default 1 s open timeout for
 * it, a documented bounded wait that fuzz_region_file exercises with a zero
 * timeout; here it would only slow the fuzzer down, so the harness writes
 * the magic back.
 *
 * Input:
 *   byte 0   mode: bits 0-1 the pool kind (FERRY_POOL_FUNCTION, _EXEC,
 *            _EXEC_EACH; 3 wraps to FUNCTION), bit 4 write the region
 *            header's checksum again after the patches, bit 5 patch offsets
 *            count from the object's start instead of the file's (the bits
 *            of fuzz_object_file.c; this object has no checksum of its own)
 *   byte 1-2 worker rows: 1 + (u16 little endian) % FERRY_POOL_MAX_WORKERS
 *   byte 3   the cap: bits 0-1 pick 0, fewer than the rows ((b >> 2) % rows),
 *            as many, or more (rows + 1 + (b >> 2))
 *   byte 4   varies the snapshot and the rows (all values in range)
 *   then     patches, each [offset: u16 little endian][w][w % 8 + 1 bytes],
 *            written at the offset modulo the span, up to MAX_PATCHES
 *
 * Built twice (tests/fuzz/CMakeLists.txt): as a libFuzzer binary with clang,
 * and with replay_main.c as a plain program that CTest runs on the corpus.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/error.h"
#include "ferry/pool.h"
#include "fuzz.h"
#include "pool_layout.h"
#include "region_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_KIND 0x03u
#define MODE_SEAL_REGION 0x10u
#define MODE_FROM_OBJECT 0x20u

#define CAP_PICK 0x03u
enum { CAP_NONE, CAP_FEWER, CAP_EQUAL, CAP_MORE };

#define INPUT_FIXED 5 /* mode, rows (2), cap, snapshot */
#define MAX_PATCHES 32
#define OWNER_PID 4242 /* a recorded pid; nobody checks that it lives */
/* What every byte of an output buffer holds before the call, so that a
 * write to it shows. */
#define UNTOUCHED 0xa5

/* ---- the sound region, as the pool writes it ------------------------------------- */

/* What was published: the snapshot and rows an unrewritten file must read
 * back. */
struct written {
  uint32_t kind, slots;
  struct ferry__pool_snap snap;
  struct ferry__pool_row *rows;
};

/* A plausible snapshot: counters that add up, and states in range. */
static void make_snapshot(struct written *w, uint8_t v)
{
  uint32_t live = 0, idle = 0, busy = 0;
  for (uint32_t i = 0; i < w->slots; i++) {
    struct ferry__pool_row *r = &w->rows[i];
    memset(r, 0, sizeof *r);
    r->state = (v + i) % (FERRY_POOL_W_STOPPING + 1);
    r->generation = 1 + (v + i) % 3;
    r->task_id = UINT64_MAX;
    if (r->state != FERRY_POOL_W_EMPTY) {
      r->pid = (int32_t)(5000 + i);
      r->tasks = 3u * i + v;
      live++;
    }
    if (r->state == FERRY_POOL_W_IDLE)
      idle++;
    if (r->state == FERRY_POOL_W_BUSY) {
      r->task_id = 100u + i;
      r->busy_ns = INT64_C(1000000000) + i;
      busy++;
    }
  }
  struct ferry__pool_snap *s = &w->snap;
  memset(s, 0, sizeof *s);
  s->state = v % (FERRY_POOL_STOPPED + 1);
  s->breaker = (v / 4u) % (FERRY_POOL_BREAKER_HALF_OPEN + 1);
  s->submitted = 1000u + 7u * v;
  s->done = s->submitted / 2;
  s->failed = v % 5u;
  s->retried = v % 3u;
  s->respawned = s->deaths = v % 4u;
  s->timeouts = v % 2u;
  s->running = busy;
  s->queued = v % 9u;
  s->unread = v % 6u;
  s->live = live;
  s->idle = idle;
  s->signals = s->state == FERRY_POOL_RUNNING ? 0 : 1;
  s->pgid = (int32_t)(6000 + v);
}

/* One update under the seqlock, as stats_publish() makes it
 * [pool-seqlock]; rows at the layout's offset. */
static void publish_snapshot(struct ferry__pool_hdr *h, const struct written *w)
{
  uint32_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
  atomic_store_explicit(&h->seq, seq + 1, memory_order_relaxed);
  /* release fence: the odd seq before any field; pairs with the acquire
   * fence in ferry_pool_stat(). */
  atomic_thread_fence(memory_order_release);
  memcpy(&h->snap, &w->snap, sizeof w->snap);
  memcpy((uint8_t *)h + FERRY__POOL_HDR_SIZE, w->rows, (size_t)w->slots * sizeof *w->rows);
  /* release: the fields before the even seq; pairs with the acquire load
   * of seq in ferry_pool_stat(). */
  atomic_store_explicit(&h->seq, seq + 2, memory_order_release);
}

static int create(const char *name, const struct written *w, ferry_region **out)
{
  size_t size = FERRY__POOL_HDR_SIZE + (size_t)FERRY__POOL_ROW_SIZE * w->slots;
  ferry_region_options ro;
  ferry_region_options_init(&ro);
  ro.role = FERRY_ROLE_WRITER;
  ferry_region *r;
  int rc = ferry__region_create(name, FERRY_KIND_POOL, size, &ro, 0, &r);
  if (rc)
    return rc;
  struct ferry__pool_hdr *h = ferry__region_object(r);
  ferry__pool_hdr_init(h, w->slots, w->kind, OWNER_PID);
  ferry__region_publish(r);
  publish_snapshot(h, w);
  *out = r;
  return 0;
}

/* ---- rewrite the file ---------------------------------------------------------------- */

/* Applies the patches to the file mapped at file (size bytes, object area
 * at obj), then the checksum the mode asks for. */
static void rewrite(uint8_t *file, size_t size, size_t obj, uint8_t mode, const uint8_t *p,
                    size_t n)
{
  uint64_t magic;
  memcpy(&magic, file, sizeof magic);
  fuzz_patch(file, size, (mode & MODE_FROM_OBJECT) ? obj : 0, p, n, MAX_PATCHES);
  /* See the header comment: no waiting for a creator that is not there. */
  uint64_t now;
  memcpy(&now, file, sizeof now);
  if (now == 0)
    memcpy(file, &magic, sizeof magic);
  if (mode & MODE_SEAL_REGION)
    fuzz_repair_region(file, size);
}

/* ---- what the call must give -------------------------------------------------------- */

/* The result docs/layout/pool.md gives for the object area at obj (object
 * bytes long) of a region whose header checks out, read with room for cap
 * rows: the checks in the documented order. */
static ssize_t model_result(const uint8_t *obj, size_t object, size_t cap)
{
  struct ferry__pool_hdr h;
  memcpy(&h, obj, sizeof h);
  if (atomic_load_explicit(&h.magic, memory_order_relaxed) != FERRY__POOL_MAGIC)
    return FERRY_ECORRUPT;
  if (h.version_major != FERRY__POOL_VERSION_MAJOR)
    return FERRY_EVERSION;
  if (h.header_size != FERRY__POOL_HDR_SIZE)
    return FERRY_ECORRUPT;
  if (h.slots < 1 || h.slots > FERRY_POOL_MAX_WORKERS || h.row_size != FERRY__POOL_ROW_SIZE ||
      h.rows_offset != FERRY__POOL_HDR_SIZE || h.kind > FERRY_POOL_EXEC_EACH ||
      FERRY__POOL_HDR_SIZE + (size_t)h.slots * FERRY__POOL_ROW_SIZE > object)
    return FERRY_ECORRUPT;
  if (atomic_load_explicit(&h.seq, memory_order_relaxed) & 1)
    return -EAGAIN; /* odd for good: no writer will finish */
  if (h.snap.state > FERRY_POOL_STOPPED || h.snap.breaker > FERRY_POOL_BREAKER_HALF_OPEN ||
      h.owner_pid < 0 || h.snap.pgid < 0)
    return FERRY_ECORRUPT;
  size_t nrows = cap < h.slots ? cap : h.slots;
  for (size_t i = 0; i < nrows; i++) {
    struct ferry__pool_row row;
    memcpy(&row, obj + FERRY__POOL_HDR_SIZE + i * sizeof row, sizeof row);
    if (row.state > FERRY_POOL_W_STOPPING || row.pid < 0)
      return FERRY_ECORRUPT;
  }
  return h.slots;
}

static bool untouched(const void *p, size_t n)
{
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != UNTOUCHED)
      return false;
  return true;
}

static bool all_zero(const void *p, size_t n)
{
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return false;
  return true;
}

/* On success: out and w report the snapshot and rows `snap`/`rows` of a
 * region of `kind` with `slots` rows and owner `owner`, and nothing else. */
static void check_report(const ferry_pool_stats *out, const ferry_pool_worker_info *w,
                         size_t nrows, uint32_t slots, uint32_t kind, int32_t owner,
                         const struct ferry__pool_snap *snap, const struct ferry__pool_row *rows)
{
  FUZZ_CHECK(out->workers == slots && out->kind == kind && out->owner_pid == owner);
  FUZZ_CHECK(out->state == snap->state && out->breaker == snap->breaker);
  FUZZ_CHECK(out->submitted == snap->submitted && out->done == snap->done &&
             out->failed == snap->failed && out->retried == snap->retried &&
             out->respawned == snap->respawned && out->deaths == snap->deaths &&
             out->timeouts == snap->timeouts);
  FUZZ_CHECK(out->running == snap->running && out->queued == snap->queued &&
             out->unread == snap->unread && out->live == snap->live && out->idle == snap->idle &&
             out->signals == snap->signals && out->pgid == snap->pgid);
  FUZZ_CHECK(all_zero(out->reserved, sizeof out->reserved));
  for (size_t i = 0; i < nrows; i++) {
    const ferry_pool_worker_info *x = &w[i];
    FUZZ_CHECK(x->slot == i && x->state == rows[i].state && x->pid == rows[i].pid &&
               x->generation == rows[i].generation && x->tasks == rows[i].tasks &&
               x->task_id == rows[i].task_id && x->busy_ns == rows[i].busy_ns);
    FUZZ_CHECK(all_zero(x->reserved, sizeof x->reserved));
  }
}

static size_t pick_cap(uint8_t b, uint32_t slots)
{
  switch (b & CAP_PICK) {
  case CAP_NONE:
    return 0;
  case CAP_FEWER:
    return (size_t)(b >> 2) % slots;
  case CAP_EQUAL:
    return slots;
  default:
    return (size_t)slots + 1 + (b >> 2);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < INPUT_FIXED)
    return 0;
  uint8_t mode = data[0];
  struct written wr;
  wr.kind = (mode & MODE_KIND) % (FERRY_POOL_EXEC_EACH + 1);
  wr.slots = 1 + (uint32_t)(data[1] | data[2] << 8) % FERRY_POOL_MAX_WORKERS;
  size_t cap = pick_cap(data[3], wr.slots);
  wr.rows = malloc((size_t)wr.slots * sizeof *wr.rows);
  if (!wr.rows)
    return 0;
  make_snapshot(&wr, data[4]);

  char name[64];
  snprintf(name, sizeof name, "fuzz-pool-%ld", (long)getpid());
  ferry_unlink(name); /* a leftover of an input that crashed */
  ferry_region *r;
  if (create(name, &wr, &r) != 0) {
    free(wr.rows);
    return 0; /* /dev/shm full: nothing to learn */
  }

  /* Rewrite through the creator's shared mapping: the same bytes any other
   * process with the file would change. */
  uint8_t *file = r->base;
  size_t fsize = r->map_size, obj = r->hc.header_size;
  uint8_t *before = malloc(fsize);
  if (!before) {
    ferry_region_close(r);
    ferry_unlink(name);
    free(wr.rows);
    return 0;
  }
  memcpy(before, file, fsize);
  rewrite(file, fsize, obj, mode, data + INPUT_FIXED, size - INPUT_FIXED);
  bool same = memcmp(before, file, fsize) == 0;
  bool region_same = memcmp(before, file, FERRY__SLOT_TABLE_OFFSET) == 0;

  /* Outputs of exactly their sizes (ASan sees a row past cap), filled so
   * that any write shows. */
  ferry_pool_stats out;
  ferry_pool_worker_info *w = cap ? malloc(cap * sizeof *w) : NULL;
  if (cap && !w) {
    free(before);
    ferry_region_close(r);
    ferry_unlink(name);
    free(wr.rows);
    return 0;
  }
  memset(&out, UNTOUCHED, sizeof out);
  if (w)
    memset(w, UNTOUCHED, cap * sizeof *w);

  ssize_t got = ferry_pool_stat(name, &out, w, cap);

  FUZZ_CHECK(got != 0);
  if (region_same)
    FUZZ_CHECK(got == model_result(file + obj, fsize - obj, cap));
  if (same)
    FUZZ_CHECK(got == (ssize_t)wr.slots);
  if (got < 0) {
    /* On error, outputs are left untouched. */
    FUZZ_CHECK(untouched(&out, sizeof out));
    FUZZ_CHECK(!w || untouched(w, cap * sizeof *w));
  } else {
    FUZZ_CHECK(got >= 1 && got <= FERRY_POOL_MAX_WORKERS);
    size_t nrows = cap < (size_t)got ? cap : (size_t)got;
    FUZZ_CHECK(!w || untouched(w + nrows, (cap - nrows) * sizeof *w));
    FUZZ_CHECK(out.kind <= FERRY_POOL_EXEC_EACH && out.state <= FERRY_POOL_STOPPED &&
               out.breaker <= FERRY_POOL_BREAKER_HALF_OPEN);
    FUZZ_CHECK(out.owner_pid >= 0 && out.pgid >= 0);
    for (size_t i = 0; i < nrows; i++)
      FUZZ_CHECK(w[i].state <= FERRY_POOL_W_STOPPING && w[i].pid >= 0);
    /* What was reported is what the file holds now (nothing else writes
     * it meanwhile), wherever the validated region header put the object;
     * the file holds every row reported. */
    uint32_t hs;
    memcpy(&hs, file + offsetof(struct ferry__region_hdr, header_size), sizeof hs);
    FUZZ_CHECK(hs <= fsize &&
               FERRY__POOL_HDR_SIZE + (size_t)got * FERRY__POOL_ROW_SIZE <= fsize - hs);
    struct ferry__pool_hdr h;
    memcpy(&h, file + hs, sizeof h);
    struct ferry__pool_row *rows = malloc(nrows ? nrows * sizeof *rows : 1);
    FUZZ_CHECK(rows);
    memcpy(rows, file + hs + FERRY__POOL_HDR_SIZE, nrows * sizeof *rows);
    FUZZ_CHECK(h.slots == (uint32_t)got && h.kind == out.kind);
    check_report(&out, w, nrows, h.slots, h.kind, h.owner_pid, &h.snap, rows);
    free(rows);
    if (same)
      check_report(&out, w, nrows, wr.slots, wr.kind, OWNER_PID, &wr.snap, wr.rows);
  }

  free(w);
  free(before);
  ferry_region_close(r);
  ferry_unlink(name);
  free(wr.rows);
  return 0;
}
