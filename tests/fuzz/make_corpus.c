/* SPDX-License-Identifier: MIT */
/*
 * make_corpus.c: writes, and checks, the committed seed corpus of the fuzz
 * targets (tests/fuzz/corpus/<target>/<seed>).
 *
 *   make_corpus DIR           (re)write every seed under DIR
 *   make_corpus --check DIR   check that every seed under DIR is what this
 *                             program writes, byte for byte
 *
 * Seeds are built field by field from the layout headers, with fixed values
 * (pid, times) so that regenerating gives the same bytes. Each seed also
 * carries the result the library must give for it, and both modes check
 * that result: the seeds double as a table-driven test of the validators,
 * and a layout change that silently turns every "valid" seed into a
 * rejected one (leaving the fuzzer nothing deep to mutate) fails here
 * instead. region_file seeds are checked by really opening them in
 * /dev/shm, under the name t-corpus-<pid>. object_file seeds are not files
 * but recipes (fuzz_object_file.c), and that harness checks them itself.
 *
 * Every seed starts with the target's mode byte (see each fuzz_*.c). A seed
 * whose mode asks the harness to recompute checksums already carries the
 * right ones, so its result does not depend on that repair; mutations of it
 * keep the bit, and so reach past the checksums. Files under DIR that this
 * program does not write (finds of a fuzzing session) are left alone.
 *
 * The corpus is native-endian, like regions: regenerate it on a big-endian
 * host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "array_layout.h"
#include "ferry/array.h"
#include "ferry/error.h"
#include "ferry/pool.h"
#include "frame_internal.h"
#include "pool_layout.h"
#include "region_layout.h"

/* Defined in region.c without a header declaration. */
int ferry__region_validate(const struct ferry__region_hdr *h, uint64_t file_size, ferry_kind kind);

/* Mode bits of the targets (fuzz_region_header.c, fuzz_array_table.c,
 * fuzz_region_file.c). */
#define HDR_REPAIR 0x01u
#define HDR_KIND(k) ((uint8_t)((k) << 1))
#define TABLE_REPAIR 0x01u
#define FILE_REPAIR_REGION 0x01u
#define FILE_REPAIR_ARRAY 0x02u
#define FILE_OPEN_ARRAY 0x04u
#define FILE_OBSERVE 0x08u
#define FILE_REPAIR (FILE_REPAIR_REGION | FILE_REPAIR_ARRAY)

/* Fixed creator identity: regenerated seeds are byte-identical. */
#define SEED_UID 1000u
#define SEED_PID 4242
#define SEED_START UINT64_C(987654)
#define SEED_CREATED_NS INT64_C(1700000000000000000)
/* Above any pid_max (2^22): a participant that is certainly dead. */
#define DEAD_PID 0x7ffffff0

#define BUF_BYTES (64u * 1024u)

static const char *root;
static int checking;
static int failures, seeds;

/* Seeds are built here; uint64_t for the headers' alignment. */
static uint64_t buf_words[BUF_BYTES / sizeof(uint64_t)];
static uint8_t *const buf = (uint8_t *)buf_words;

static struct ferry__region_hdr *hdr(void)
{
  return (struct ferry__region_hdr *)buf;
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "make_corpus: out of memory\n");
    exit(2);
  }
  return p;
}

static void fail(const char *target, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(const char *target, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "make_corpus: %s/%s: ", target, name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  failures++;
}

/* ---- region files ----------------------------------------------------------- */

static uint64_t align64(uint64_t v)
{
  return (v + FERRY__CACHELINE - 1) & ~(uint64_t)(FERRY__CACHELINE - 1);
}

static void region_seal(void)
{
  struct ferry__region_hdr *h = hdr();
  h->checksum = fuzz_region_checksum(buf);
}

/* A published region as ferry__region_create() and publish() leave it,
 * with every slot free. Returns the file's size. */
static size_t region_init(uint32_t kind, uint32_t max_participants, uint64_t object_size,
                          uint32_t flags)
{
  uint64_t header_size = align64(FERRY__SLOT_TABLE_OFFSET +
                                 (uint64_t)FERRY__SLOT_SIZE * max_participants);
  uint64_t total = header_size + object_size;
  if (total > BUF_BYTES) {
    fprintf(stderr, "make_corpus: seed of %llu bytes does not fit\n", (unsigned long long)total);
    exit(2);
  }
  memset(buf, 0, BUF_BYTES);
  struct ferry__region_hdr *h = hdr();
  h->version_major = FERRY__REGION_VERSION_MAJOR;
  h->version_minor = FERRY__REGION_VERSION_MINOR;
  h->header_size = (uint32_t)header_size;
  h->kind = kind;
  h->flags = flags;
  h->total_size = total;
  h->object_size = object_size;
  h->max_participants = max_participants;
  h->mode = 0600;
  h->liveness_ns = FERRY_LIVENESS_DEFAULT_NS;
  h->creator_uid = SEED_UID;
  h->creator_pid = SEED_PID;
  h->creator_start = SEED_START;
  h->created_ns = SEED_CREATED_NS;
  region_seal();
  atomic_store_explicit(&h->magic, FERRY__REGION_MAGIC, memory_order_relaxed);
  return (size_t)total;
}

static uint8_t *region_object(void)
{
  return buf + hdr()->header_size;
}

/* ---- array regions ------------------------------------------------------------ */

static struct ferry__array_hdr *array_hdr(void)
{
  return (struct ferry__array_hdr *)region_object();
}

static struct ferry__schema_hdr *array_table(void)
{
  return (struct ferry__schema_hdr *)(region_object() + array_hdr()->header_size);
}

/* Recomputes the array header's and the table's checksums, then the
 * region's: what the harness's repair bits do. */
static void array_seal(void)
{
  struct ferry__schema_hdr *t = array_table();
  t->checksum = ferry__schema_checksum(t);
  struct ferry__array_hdr *a = array_hdr();
  a->checksum = ferry__array_hdr_checksum(a);
  region_seal();
}

/* An array region as ferry_array_create() leaves it; data filled with a
 * pattern so that seeds show where the frame is. */
static size_t array_init(const ferry_array_spec *specs, size_t n, uint32_t max_participants)
{
  size_t tb;
  uint64_t fb;
  if (ferry__schema_size(specs, n, &tb, &fb) != 0) {
    fprintf(stderr, "make_corpus: bad array specs\n");
    exit(2);
  }
  uint64_t data_offset = align64(FERRY__ARRAY_HDR_SIZE + tb);
  size_t total = region_init(FERRY_KIND_ARRAY, max_participants, data_offset + fb,
                             FERRY__REGION_STATELESS_SLOTS);
  struct ferry__array_hdr *a = array_hdr();
  a->magic = FERRY__ARRAY_MAGIC;
  a->version_major = FERRY__ARRAY_VERSION_MAJOR;
  a->version_minor = FERRY__ARRAY_VERSION_MINOR;
  a->header_size = FERRY__ARRAY_HDR_SIZE;
  a->data_offset = data_offset;
  ferry__schema_write(array_table(), tb, specs, n);
  for (uint64_t i = 0; i < fb; i++)
    region_object()[data_offset + i] = (uint8_t)i;
  array_seal();
  return total;
}

/* ---- results: what each target's library call must return ----------------------- */

static int result_region_header(uint8_t mode, const uint8_t *file, size_t size)
{
  struct ferry__region_hdr copy;
  memset(&copy, 0, sizeof copy);
  memcpy(&copy, file, size < sizeof copy ? size : sizeof copy);
  return ferry__region_validate(&copy, size, (ferry_kind)((mode >> 1) & 7));
}

static int result_array_table(const uint8_t *file, size_t size)
{
  uint64_t *table = xmalloc(size);
  memcpy(table, file, size);
  int rc = ferry__schema_validate(table, size, NULL, NULL);
  free(table);
  return rc;
}

static int result_region_file(uint8_t mode, const uint8_t *file, size_t size)
{
  char name[64], path[96];
  snprintf(name, sizeof name, "t-corpus-%ld", (long)getpid());
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, file, size) != (ssize_t)size) {
    perror(path);
    exit(2);
  }
  close(fd);
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.timeout_ns = 0;
  o.flags = (mode & FILE_OBSERVE) ? FERRY_OPEN_OBSERVE : 0;
  int rc;
  if (mode & FILE_OPEN_ARRAY) {
    ferry_arrays *a;
    if ((rc = ferry_array_open(name, &o, &a)) == 0)
      ferry_array_close(a);
  } else {
    ferry_region *r;
    if ((rc = ferry_region_open(name, FERRY_KIND_ANY, &o, &r)) == 0)
      ferry_region_close(r);
  }
  unlink(path);
  return rc;
}

/* The invariant in the header comment: a seed that asks for repair is
 * already repaired. */
static int checksums_stale(const char *target, uint8_t mode, const uint8_t *file, size_t size)
{
  if (strcmp(target, "region_header") == 0 && (mode & HDR_REPAIR) &&
      size >= FERRY__CHECKSUM_END + sizeof(uint32_t)) {
    uint32_t sum = fuzz_region_checksum(file);
    return memcmp(file + FERRY__CHECKSUM_END, &sum, sizeof sum) != 0;
  }
  if (strcmp(target, "array_table") == 0 && (mode & TABLE_REPAIR) &&
      size >= FERRY__SCHEMA_HDR_SIZE) {
    const struct ferry__schema_hdr *t = (const void *)file;
    if (!fuzz_schema_whole(file, size))
      return 0;
    return t->checksum != ferry__schema_checksum(t);
  }
  return 0;
}

/* ---- writing and checking -------------------------------------------------------- */

/* Writes target/name (mode byte, then the file), or checks that it holds
 * exactly that. */
static void put_seed(const char *target, const char *name, uint8_t mode, const uint8_t *file,
                     size_t size)
{
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/%s", root, target);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  uint8_t *bytes = xmalloc(size + 1);
  bytes[0] = mode;
  memcpy(bytes + 1, file, size);
  if (!checking) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      perror(dir);
      exit(2);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, size + 1, f) != size + 1 || fclose(f) != 0) {
      perror(path);
      exit(2);
    }
  } else {
    FILE *f = fopen(path, "rb");
    uint8_t *old = xmalloc(size + 2);
    size_t n = f ? fread(old, 1, size + 2, f) : 0;
    if (f)
      fclose(f);
    if (!f || n != size + 1 || memcmp(old, bytes, size + 1) != 0) {
      fprintf(stderr, "make_corpus: %s is %s: regenerate the corpus (target fuzz_corpus)\n",
              path, f ? "stale" : "missing");
      failures++;
    }
    free(old);
  }
  free(bytes);
}

static void emit_as(const char *target, const char *name, uint8_t mode, const uint8_t *file,
                    size_t size, int want, int alt)
{
  seeds++;
  int got;
  if (strcmp(target, "region_header") == 0)
    got = result_region_header(mode, file, size);
  else if (strcmp(target, "array_table") == 0)
    got = result_array_table(file, size);
  else
    got = result_region_file(mode, file, size);
  if (got != want && got != alt)
    fail(target, name, "got %d (%s), want %d (%s)", got, ferry_strerror(got), want,
         ferry_strerror(want));
  if (checksums_stale(target, mode, file, size))
    fail(target, name, "asks the harness to repair a stale checksum");
  put_seed(target, name, mode, file, size);
}

static void emit(const char *target, const char *name, uint8_t mode, size_t size, int want)
{
  emit_as(target, name, mode, buf, size, want, want);
}

/* ---- region_header seeds ------------------------------------------------------------ */

static void region_header_seeds(void)
{
  const char *t = "region_header";
  const uint8_t any = HDR_REPAIR | HDR_KIND(FERRY_KIND_ANY);
  size_t n;

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  emit(t, "valid-raw", any, n, 0);
  emit(t, "valid-raw-as-raw", HDR_REPAIR | HDR_KIND(FERRY_KIND_RAW), n, 0);
  emit(t, "wrong-kind", HDR_REPAIR | HDR_KIND(FERRY_KIND_QUEUE), n, FERRY_EKIND);
  emit(t, "truncated", any, n - 1, FERRY_ETRUNCATED);
  emit(t, "short-header", any, 100, FERRY_ETRUNCATED);
  emit(t, "valid-longer-file", any, n + 100, 0);

  n = region_init(FERRY_KIND_ARRAY, 64, 256, FERRY__REGION_STATELESS_SLOTS);
  emit(t, "valid-array-64-slots", HDR_REPAIR | HDR_KIND(FERRY_KIND_ARRAY), n, 0);

  n = region_init(FERRY_KIND_RAW, 2, 0, FERRY_REGION_UNLINK_ON_LAST_CLOSE);
  emit(t, "valid-empty-object", any, n, 0);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->version_minor = 7;
  region_seal();
  emit(t, "valid-newer-minor", any, n, 0);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  atomic_store(&hdr()->magic, FERRY__REGION_MAGIC ^ 0xff);
  emit(t, "bad-magic", any, n, FERRY_EBADMAGIC);
  atomic_store(&hdr()->magic, 0);
  emit(t, "unpublished", any, n, FERRY_EINCOMPLETE);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->version_major = FERRY__REGION_VERSION_MAJOR + 1;
  region_seal();
  emit(t, "other-major", any, n, FERRY_EVERSION);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->created_ns ^= 1;
  emit(t, "bad-checksum", HDR_KIND(FERRY_KIND_ANY), n, FERRY_ECORRUPT);

  /* The rest would be caught by the checksum; sealed so that they test
   * the checks behind it. */
  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->object_size = UINT64_MAX - 63;
  region_seal();
  emit(t, "object-size-wraps", any, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->object_size = UINT64_C(1) << 60;
  hdr()->total_size = hdr()->header_size + hdr()->object_size;
  region_seal();
  emit(t, "huge-object", any, n, FERRY_ETRUNCATED);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->total_size += 64;
  region_seal();
  emit(t, "total-mismatch", any, n + 64, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->kind = 99;
  region_seal();
  emit(t, "unknown-kind", any, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->max_participants = 0;
  region_seal();
  emit(t, "no-participants", any, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->max_participants = FERRY_MAX_PARTICIPANTS_LIMIT + 1;
  region_seal();
  emit(t, "too-many-participants", any, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 4, 64, 0);
  hdr()->header_size = FERRY__SLOT_TABLE_OFFSET;
  hdr()->total_size = hdr()->header_size + hdr()->object_size;
  region_seal();
  emit(t, "header-size-mismatch", any, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  hdr()->liveness_ns = 0;
  region_seal();
  emit(t, "zero-liveness", any, n, FERRY_ECORRUPT);
}

/* ---- array_table seeds --------------------------------------------------------------- */

static size_t table_init(const ferry_array_spec *specs, size_t n)
{
  size_t tb;
  memset(buf, 0, BUF_BYTES);
  if (ferry__schema_size(specs, n, &tb, NULL) != 0 || tb > BUF_BYTES ||
      ferry__schema_write(buf, BUF_BYTES, specs, n) != 0) {
    fprintf(stderr, "make_corpus: bad table specs\n");
    exit(2);
  }
  return tb;
}

static struct ferry__schema_hdr *table(void)
{
  return (struct ferry__schema_hdr *)buf;
}

static void table_seal(void)
{
  table()->checksum = ferry__schema_checksum(table());
}

static const ferry_array_spec mixed[] = {
    {"seq", FERRY_DTYPE_U64, 0, {0}},
    {"img", FERRY_DTYPE_U8, 3, {4, 5, 3}},
    {"iq", FERRY_DTYPE_C128, 1, {3}},
    {"empty", FERRY_DTYPE_I16, 2, {0, 7}},
    {"frame", FERRY_DTYPE_F32, 2, {4, 4}},
};
#define MIXED_COUNT (sizeof mixed / sizeof mixed[0])

/* Corruptions of the mixed table, one per field check of
 * ferry__schema_validate(). Returns the seed's name. */
enum { SPOIL_COUNT = 11 };
static const char *spoil_table(int k, struct ferry__schema_hdr *h)
{
  struct ferry__schema_desc *d = h->desc;
  switch (k) {
  case 0:
    d[1].offset = d[0].offset;
    return "overlap";
  case 1:
    d[1].offset += 8;
    return "misaligned-offset";
  case 2:
    d[1].nbytes += 1;
    return "nbytes-mismatch";
  case 3:
    d[1].shape[0] = d[1].shape[1] = UINT64_C(1) << 62;
    return "shape-overflow";
  case 4:
    memcpy(d[1].name, d[0].name, sizeof d[1].name);
    return "duplicate-name";
  case 5:
    d[1].dtype = FERRY_DTYPE_COUNT;
    return "bad-dtype";
  case 6:
    memset(d[1].name, 'a', sizeof d[1].name);
    return "unterminated-name";
  case 7:
    d[1].name[1] = ' ';
    return "bad-name-char";
  case 8:
    d[2].shape[1] = 1;
    return "stray-shape";
  case 9:
    h->frame_bytes = FERRY_ARRAY_ALIGN;
    return "frame-too-small";
  default:
    h->frame_bytes += 1;
    return "frame-unaligned";
  }
}

static void array_table_seeds(void)
{
  const char *t = "array_table";
  const ferry_array_spec one[] = {{"frame", FERRY_DTYPE_F32, 2, {4, 4}}};
  const ferry_array_spec dims[] = {{"cube", FERRY_DTYPE_BOOL, 8, {2, 2, 2, 2, 2, 2, 2, 2}}};
  const ferry_array_spec none[] = {{"nothing", FERRY_DTYPE_F64, 1, {0}}};
  const ferry_array_spec huge[] = {{"big", FERRY_DTYPE_F64, 2, {1u << 20, 1u << 20}}};
  ferry_array_spec many[FERRY_ARRAY_MAX_COUNT];
  char names[FERRY_ARRAY_MAX_COUNT][8];
  for (size_t i = 0; i < FERRY_ARRAY_MAX_COUNT; i++) {
    snprintf(names[i], sizeof names[i], "a%zu", i);
    many[i] = (ferry_array_spec){names[i], (ferry_dtype)(i % FERRY_DTYPE_COUNT), (uint32_t)(i % 3),
                                 {i % 5, 3, 0}};
  }
  size_t n;

  n = table_init(one, 1);
  emit(t, "valid-one", TABLE_REPAIR, n, 0);
  emit(t, "truncated", TABLE_REPAIR, n - 1, FERRY_ECORRUPT);
  emit(t, "valid-slack", TABLE_REPAIR, n + 100, 0);
  table()->magic ^= 1;
  table_seal();
  emit(t, "bad-magic", TABLE_REPAIR, n, FERRY_ECORRUPT);
  n = table_init(one, 1);
  table()->version_major = FERRY__SCHEMA_VERSION_MAJOR + 1;
  table_seal();
  emit(t, "other-major", TABLE_REPAIR, n, FERRY_EVERSION);
  n = table_init(one, 1);
  table()->desc[0].shape[0] = 5;
  emit(t, "bad-checksum", 0, n, FERRY_ECORRUPT);
  n = table_init(one, 1);
  table()->count = 0;
  emit(t, "count-zero", TABLE_REPAIR, n, FERRY_ECORRUPT);
  table()->count = FERRY_ARRAY_MAX_COUNT + 1;
  emit(t, "count-too-big", TABLE_REPAIR, n, FERRY_ECORRUPT);

  n = table_init(mixed, MIXED_COUNT);
  emit(t, "valid-mixed", TABLE_REPAIR, n, 0);
  n = table_init(dims, 1);
  emit(t, "valid-max-dims", TABLE_REPAIR, n, 0);
  n = table_init(none, 1);
  emit(t, "valid-no-data", TABLE_REPAIR, n, 0);
  n = table_init(huge, 1);
  emit(t, "valid-huge-frame", TABLE_REPAIR, n, 0);
  n = table_init(many, FERRY_ARRAY_MAX_COUNT);
  emit(t, "valid-64-arrays", TABLE_REPAIR, n, 0);

  /* Gaps between arrays are allowed; the writer just never makes them. */
  n = table_init(mixed, MIXED_COUNT);
  for (uint32_t i = 1; i < MIXED_COUNT; i++)
    table()->desc[i].offset += FERRY_ARRAY_ALIGN;
  table()->frame_bytes += FERRY_ARRAY_ALIGN;
  table_seal();
  emit(t, "valid-gaps", TABLE_REPAIR, n, 0);

  /* Each of these is sealed: only the field checks can catch them. */
  for (int k = 0; k < SPOIL_COUNT; k++) {
    n = table_init(mixed, MIXED_COUNT);
    const char *name = spoil_table(k, table());
    table_seal();
    emit(t, name, TABLE_REPAIR, n, FERRY_ECORRUPT);
  }
}

/* ---- region_file seeds ----------------------------------------------------------------- */

static void claim_slot_for_dead(uint32_t i)
{
  struct ferry__slot *s = (struct ferry__slot *)(buf + FERRY__SLOT_TABLE_OFFSET) + i;
  uint64_t gen = 1;
  atomic_store(&s->owner, (uint64_t)DEAD_PID << FERRY__SLOT_PID_SHIFT |
                              gen << FERRY__SLOT_GEN_SHIFT | FERRY__SLOT_LIVE);
  s->start = SEED_START;
  s->role = FERRY_ROLE_READER;
  s->uid = SEED_UID;
  s->attach_ns = SEED_CREATED_NS;
}

static void region_file_seeds(void)
{
  const char *t = "region_file";
  /* Raw seeds ask for the region repair only: the array repair would
   * rewrite bytes of their data, and the seed would no longer be the file
   * its result was checked on. */
  const uint8_t rep = FILE_REPAIR_REGION, arr = FILE_REPAIR | FILE_OPEN_ARRAY;
  /* A file written a moment ago with no magic looks like a creator at
   * work, so a zero timeout gives -ETIMEDOUT; a slow machine may already
   * see it as abandoned. */
  const int young = -ETIMEDOUT, old = FERRY_EINCOMPLETE;
  size_t n;

  n = region_init(FERRY_KIND_RAW, 4, 256, 0);
  for (int i = 0; i < 256; i++)
    region_object()[i] = (uint8_t)i;
  region_seal();
  emit(t, "raw", rep, n, 0);
  emit(t, "raw-observe", rep | FILE_OBSERVE, n, 0);
  emit(t, "raw-as-array", arr, n, FERRY_EKIND);
  emit(t, "raw-truncated", rep, n - 1, FERRY_ETRUNCATED);
  hdr()->liveness_ns = -1;
  emit(t, "raw-bad-checksum", 0, n, FERRY_ECORRUPT);

  n = region_init(FERRY_KIND_RAW, 4, 256, 0);
  atomic_store(&hdr()->magic, UINT64_C(0x0123456789abcdef));
  emit(t, "bad-magic", rep, n, FERRY_EBADMAGIC);
  atomic_store(&hdr()->magic, 0);
  emit_as(t, "unpublished", rep, buf, n, young, old);
  /* Shorter than the magic: creators size the file in one step from 0, so
   * this is a file cut short, not one being made. */
  emit(t, "tiny", rep, 4, FERRY_ETRUNCATED);

  /* The only slot names a participant whose lock nobody holds: it died,
   * and a join reclaims its slot. */
  n = region_init(FERRY_KIND_RAW, 1, 64, 0);
  claim_slot_for_dead(0);
  emit(t, "raw-table-full", rep, n, 0);

  n = region_init(FERRY_KIND_RAW, 2, 64, FERRY_REGION_UNLINK_ON_LAST_CLOSE);
  emit(t, "raw-unlink-on-close", rep, n, 0);

  n = array_init(mixed, MIXED_COUNT, 4);
  emit(t, "array", arr, n, 0);
  emit(t, "array-observe", arr | FILE_OBSERVE, n, 0);
  emit(t, "array-as-region", FILE_REPAIR, n, 0);
  emit(t, "array-truncated", arr, n - 1, FERRY_ETRUNCATED);

  /* Arrays keep no per-participant state, so open reclaims a dead slot. */
  n = array_init(mixed, MIXED_COUNT, 1);
  claim_slot_for_dead(0);
  emit(t, "array-dead-slot", arr, n, 0);

  n = array_init(mixed, MIXED_COUNT, 4);
  array_table()->checksum ^= 1;
  emit(t, "array-bad-table-checksum", FILE_REPAIR_REGION | FILE_OPEN_ARRAY, n, FERRY_ECORRUPT);

  n = array_init(mixed, MIXED_COUNT, 4);
  array_hdr()->magic ^= 1;
  array_seal();
  emit(t, "array-bad-magic", arr, n, FERRY_ECORRUPT);

  n = array_init(mixed, MIXED_COUNT, 4);
  array_hdr()->version_major = FERRY__ARRAY_VERSION_MAJOR + 1;
  array_seal();
  emit(t, "array-other-major", arr, n, FERRY_EVERSION);

  /* The frame would end past the object area. */
  n = array_init(mixed, MIXED_COUNT, 4);
  array_hdr()->data_offset += FERRY_ARRAY_ALIGN;
  array_seal();
  emit(t, "array-frame-past-end", arr, n, FERRY_ECORRUPT);

  /* The table would run into the frame. */
  n = array_init(mixed, MIXED_COUNT, 4);
  array_hdr()->data_offset = FERRY__ARRAY_HDR_SIZE + FERRY__SCHEMA_HDR_SIZE;
  array_seal();
  emit(t, "array-table-cut", arr, n, FERRY_ECORRUPT);
}

/* ---- object_file seeds -------------------------------------------------------------- */

/* Inputs of fuzz_object_file.c: a kind and its sizes, then patches of the
 * file the harness creates from them. The harness itself checks what a
 * seed must give (an unpatched file opens), so there is no result here. */
#define OBJ_SEAL_OBJECT 0x08u
#define OBJ_SEAL_REGION 0x10u
#define OBJ_FROM_OBJECT 0x20u

static void object_file_seeds(void)
{
  static const char *const kinds[] = {"queue", "pipe", "heap", "dict", "list", "bus"};
  const uint8_t seal = OBJ_SEAL_OBJECT | OBJ_SEAL_REGION | OBJ_FROM_OBJECT;
  for (uint8_t k = 0; k < 6; k++) {
    char name[64];
    /* as created, sealed again: the same bytes */
    const uint8_t sound[] = {3, 31};
    snprintf(name, sizeof name, "%s", kinds[k]);
    put_seed("object_file", name, k | seal, sound, sizeof sound);
    seeds++;
    /* one 4-byte field of the object header, at 16 and at 24, rewritten
     * and sealed; then the same without the seal */
    const uint8_t fields[] = {7, 64, 16, 0, 3, 9, 0, 0, 0, 24, 0, 3, 0xff, 0xff, 0, 0};
    snprintf(name, sizeof name, "%s-fields-sealed", kinds[k]);
    put_seed("object_file", name, k | seal, fields, sizeof fields);
    snprintf(name, sizeof name, "%s-fields", kinds[k]);
    put_seed("object_file", name, k | OBJ_FROM_OBJECT, fields, sizeof fields);
    /* the region header's liveness (at 48) past its bound, sealed: every
     * wait slice and lock budget an opener derives from it would overflow */
    const uint8_t live[] = {3, 31, 48, 0, 7, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
    snprintf(name, sizeof name, "%s-liveness-huge", kinds[k]);
    put_seed("object_file", name, k | OBJ_SEAL_REGION, live, sizeof live);
    seeds += 3;
  }
}

/* ---- pool_stat seeds ------------------------------------------------------------------ */

/* Recipes of fuzz_pool_stat.c: a kind, the worker rows, the cap and a
 * snapshot, then patches of the statistics region the harness builds from
 * them. As for object_file, the harness checks the result itself (from the
 * bytes, as docs/layout/pool.md orders the checks), so none is recorded. */
#define POOL_SEAL_REGION 0x10u
#define POOL_FROM_OBJECT 0x20u
#define POOL_CAP_NONE 0x00u
#define POOL_CAP_FEWER(k) ((uint8_t)((k) << 2 | 0x01u))
#define POOL_CAP_EQUAL 0x02u
#define POOL_CAP_MORE(k) ((uint8_t)((k) << 2 | 0x03u))
/* A patch of one little-endian 4-byte value at offset (below 256). */
#define POOL_PATCH32(off, v) (off), 0, 3, (uint8_t)(v), (uint8_t)((v) >> 8), 0, 0

static void pool_seed(const char *name, uint8_t mode, uint16_t rows, uint8_t cap, uint8_t snap,
                      const uint8_t *patches, size_t n)
{
  uint8_t in[64];
  /* the harness reads 1 + code % FERRY_POOL_MAX_WORKERS rows */
  const uint16_t code = (uint16_t)(rows - 1);
  in[0] = (uint8_t)code;
  in[1] = (uint8_t)(code >> 8);
  in[2] = cap;
  in[3] = snap;
  if (n > sizeof in - 4) {
    fprintf(stderr, "make_corpus: pool_stat/%s: too many patch bytes\n", name);
    exit(2);
  }
  if (n)
    memcpy(in + 4, patches, n);
  put_seed("pool_stat", name, mode, in, 4 + n);
  seeds++;
}

static void pool_stat_seeds(void)
{
  const uint8_t obj = POOL_SEAL_REGION | POOL_FROM_OBJECT;
  const uint8_t fn = FERRY_POOL_FUNCTION, ex = FERRY_POOL_EXEC, each = FERRY_POOL_EXEC_EACH;
  /* as built: every kind, one row, several, and the most */
  pool_seed("function-1-row", obj | fn, 1, POOL_CAP_EQUAL, 0, NULL, 0);
  pool_seed("exec-4-rows", obj | ex, 4, POOL_CAP_EQUAL, 7, NULL, 0);
  pool_seed("exec-each-16-rows", obj | each, 16, POOL_CAP_EQUAL, 11, NULL, 0);
  pool_seed("function-1024-rows", obj | fn, FERRY_POOL_MAX_WORKERS, POOL_CAP_EQUAL, 3, NULL, 0);
  /* caps: none, fewer rows than there are (1 of 4), more (4 + 1 + 2) */
  pool_seed("cap-none", obj | ex, 4, POOL_CAP_NONE, 5, NULL, 0);
  pool_seed("cap-fewer", obj | ex, 4, POOL_CAP_FEWER(1), 5, NULL, 0);
  pool_seed("cap-more", obj | each, 4, POOL_CAP_MORE(2), 5, NULL, 0);

  /* One field of the pool header or snapshot each: all refused. */
  /* rows_offset one row further on (8 bytes, little endian) */
  const uint16_t moved = FERRY__POOL_HDR_SIZE + FERRY__POOL_ROW_SIZE;
  const uint8_t rows_offset[] = {offsetof(struct ferry__pool_hdr, rows_offset), 0, 7,
                                 (uint8_t)moved, (uint8_t)(moved >> 8), 0, 0, 0, 0, 0, 0};
  pool_seed("rows-offset", obj | ex, 4, POOL_CAP_EQUAL, 7, rows_offset, sizeof rows_offset);
  const uint8_t slots_zero[] = {POOL_PATCH32(offsetof(struct ferry__pool_hdr, slots), 0)};
  pool_seed("slots-zero", obj | ex, 4, POOL_CAP_EQUAL, 7, slots_zero, sizeof slots_zero);
  const uint8_t slots_past[] = {POOL_PATCH32(offsetof(struct ferry__pool_hdr, slots), 5)};
  pool_seed("slots-past-end", obj | ex, 4, POOL_CAP_EQUAL, 7, slots_past, sizeof slots_past);
  const uint8_t slots_max[] = {
      POOL_PATCH32(offsetof(struct ferry__pool_hdr, slots), FERRY_POOL_MAX_WORKERS + 1)};
  pool_seed("slots-over-max", obj | fn, FERRY_POOL_MAX_WORKERS, POOL_CAP_EQUAL, 3, slots_max,
            sizeof slots_max);
  const uint8_t kind[] = {POOL_PATCH32(offsetof(struct ferry__pool_hdr, kind), 3)};
  pool_seed("kind-bad", obj | fn, 4, POOL_CAP_EQUAL, 7, kind, sizeof kind);
  const uint8_t major[] = {offsetof(struct ferry__pool_hdr, version_major), 0, 1,
                           FERRY__POOL_VERSION_MAJOR + 1, 0};
  pool_seed("other-major", obj | fn, 4, POOL_CAP_EQUAL, 7, major, sizeof major);
  /* A writer that died mid-update: seq odd for good, the reader gives up. */
  const uint8_t seq[] = {POOL_PATCH32(offsetof(struct ferry__pool_hdr, seq), 3)};
  pool_seed("seq-odd", obj | fn, 4, POOL_CAP_EQUAL, 7, seq, sizeof seq);
  const uint8_t state[] = {POOL_PATCH32(
      offsetof(struct ferry__pool_hdr, snap) + offsetof(struct ferry__pool_snap, state),
      FERRY_POOL_STOPPED + 1)};
  pool_seed("state-bad", obj | fn, 4, POOL_CAP_EQUAL, 7, state, sizeof state);
  const uint8_t breaker[] = {POOL_PATCH32(
      offsetof(struct ferry__pool_hdr, snap) + offsetof(struct ferry__pool_snap, breaker),
      FERRY_POOL_BREAKER_HALF_OPEN + 1)};
  pool_seed("breaker-bad", obj | fn, 4, POOL_CAP_EQUAL, 7, breaker, sizeof breaker);
  /* A negative pid: the owner's, or row 0's. */
  const uint8_t owner[] = {offsetof(struct ferry__pool_hdr, owner_pid), 0, 3, 0xff, 0xff, 0xff,
                           0xff};
  pool_seed("owner-pid-negative", obj | fn, 4, POOL_CAP_EQUAL, 7, owner, sizeof owner);
  const uint16_t row_pid = FERRY__POOL_HDR_SIZE + offsetof(struct ferry__pool_row, pid);
  const uint8_t rpid[] = {(uint8_t)row_pid, (uint8_t)(row_pid >> 8), 3, 0xff, 0xff, 0xff, 0xff};
  pool_seed("row-pid-negative", obj | ex, 4, POOL_CAP_EQUAL, 7, rpid, sizeof rpid);
  /* Row 0's state out of range: refused when the row is read, not when
   * the cap leaves it unread. */
  const uint8_t row[] = {FERRY__POOL_HDR_SIZE & 0xff, FERRY__POOL_HDR_SIZE >> 8, 3,
                         FERRY_POOL_W_STOPPING + 1, 0, 0, 0};
  pool_seed("row-state-bad", obj | ex, 4, POOL_CAP_EQUAL, 7, row, sizeof row);
  pool_seed("row-state-bad-unread", obj | ex, 4, POOL_CAP_NONE, 7, row, sizeof row);

  /* The region header's kind, sealed (another kind) and not (a checksum
   * that no longer matches); offsets from the file's start. */
  const uint8_t rkind[] = {POOL_PATCH32(offsetof(struct ferry__region_hdr, kind),
                                        FERRY_KIND_QUEUE)};
  pool_seed("region-kind-sealed", POOL_SEAL_REGION | fn, 4, POOL_CAP_EQUAL, 7, rkind,
            sizeof rkind);
  pool_seed("region-kind", fn, 4, POOL_CAP_EQUAL, 7, rkind, sizeof rkind);
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--check") == 0) {
    checking = 1;
    root = argv[2];
  } else if (argc == 2 && argv[1][0] != '-') {
    root = argv[1];
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
      perror(root);
      return 2;
    }
  } else {
    fprintf(stderr, "usage: %s [--check] CORPUS_DIR\n", argv[0]);
    return 2;
  }
  region_header_seeds();
  array_table_seeds();
  region_file_seeds();
  object_file_seeds();
  pool_stat_seeds();
  printf("make_corpus: %d seeds %s, %d problems\n", seeds, checking ? "checked" : "written",
         failures);
  return failures ? 1 : 0;
}
