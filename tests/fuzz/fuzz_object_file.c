/* SPDX-License-Identifier: MIT */
/*
 * fuzz_object_file.c: fuzz target for the open of every object kind from a
 * file another process has rewritten, and for the calls on what it opens.
 *
 * Each input creates a sound object (a queue, pipe, heap, dict, list or
 * bus, sized by the input), rewrites bytes of its file as the input says,
 * and then, as the creator does, can write the header checksums again, so
 * that the rewrites reach the size and offset checks behind them. Then it
 * opens the object by name with a zero timeout and, if the open succeeds,
 * uses it as a producer and consumer would: every call with a zero timeout,
 * every length returned within the caller's buffer, every pointer lent
 * inside the object's mapping. Validate and the observers' stat run too.
 * Nothing may crash, touch memory outside the mapping, or wait longer than
 * the bounded waits the headers document (a per-input watchdog fails a
 * hang); a file the input did not rewrite must open.
 *
 * The region and array headers have their own targets (fuzz_region_*,
 * fuzz_array_table); this one is about what lies behind them.
 *
 * Input:
 *   byte 0   mode: bits 0-2 the kind (KIND_*; 6 and 7 wrap), bit 3 write
 *            the object's header checksum (and a bus's table checksum)
 *            again, bit 4 the region header's, bit 5 patch offsets count
 *            from the object's start instead of the file's
 *   byte 1   the capacity: 1 + b % 16 (a queue has at least 2)
 *   byte 2   the largest message, item, payload or value: 1 + b % 128
 *   then     patches, each [offset: u16 little endian][w][w % 8 + 1 bytes],
 *            written at the offset modulo the span, up to MAX_PATCHES
 *
 * Built twice (tests/fuzz/CMakeLists.txt): as a libFuzzer binary with clang,
 * and with replay_main.c as a plain program that CTest runs on the corpus.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus_layout.h"
#include "dict_layout.h"
#include "ferry/ferry.h"
#include "fuzz.h"
#include "heap_layout.h"
#include "list_layout.h"
#include "pipe_layout.h"
#include "queue_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { KIND_QUEUE, KIND_PIPE, KIND_HEAP, KIND_DICT, KIND_LIST, KIND_BUS, KINDS };

#define MODE_KIND 0x07u
#define MODE_SEAL_OBJECT 0x08u
#define MODE_SEAL_REGION 0x10u
#define MODE_FROM_OBJECT 0x20u

#define MAX_PATCHES 32
/* Short liveness slices: a try still waits out a lock word that names
 * another holder for a few slices (heap.h), and a rewrite often makes one. */
#define LIVENESS (20 * FERRY_MSEC)
/* Buffers larger than any limit the input asks for, so that a rewritten
 * limit within the file is what a call would have to get wrong. */
#define BUF 4096

static const ferry_array_spec bus_specs[2] = {
    {"a", FERRY_DTYPE_U32, 1, {16}},
    {"b", FERRY_DTYPE_F64, 2, {3, 5}},
};

/* Whether [p, p + len) lies inside the object area r mapped. */
static bool inside(const void *p, size_t len, const ferry_region *r)
{
  const uint8_t *lo = ferry_region_data(r), *b = p;
  size_t n = ferry_region_data_size(r);
  return b >= lo && b <= lo + n && len <= (size_t)(lo + n - b);
}

static ferry_open_options no_wait(void)
{
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.timeout_ns = 0;
  return o;
}

/* ---- create a sound object -------------------------------------------------------- */

/* The creator's handle, kept open for a bus (closing it ends the stream). */
static ferry_bus *creator_bus;

static int create(const char *name, int kind, uint32_t cap, uint32_t max)
{
  uint8_t v[128] = {0};
  int rc = -EINVAL;
  switch (kind) {
  case KIND_QUEUE: {
    ferry_queue_options o;
    ferry_queue_options_init(&o);
    o.capacity = cap < 2 ? 2 : cap; /* a queue's least */
    o.max_msg_size = max;
    o.region.max_participants = 4;
    o.region.liveness_ns = LIVENESS;
    ferry_queue *q;
    if (!(rc = ferry_queue_create(name, &o, &q))) {
      ferry_queue_put(q, v, max, 0);
      ferry_queue_close(q);
    }
    break;
  }
  case KIND_PIPE: {
    ferry_pipe_options o;
    ferry_pipe_options_init(&o);
    o.capacity = cap;
    o.max_msg_size = max;
    o.region.max_participants = 4;
    o.region.liveness_ns = LIVENESS;
    ferry_pipe *p;
    if (!(rc = ferry_pipe_create(name, &o, &p))) {
      ferry_pipe_send(p, v, max, 0);
      ferry_pipe_close(p);
    }
    break;
  }
  case KIND_HEAP: {
    ferry_heap_options o;
    ferry_heap_options_init(&o);
    o.key_type = FERRY_HEAP_KEY_BYTES;
    o.max_key = 1 + max % 32;
    o.capacity = cap;
    o.max_capacity = 4 * (uint64_t)cap;
    o.max_payload = max;
    o.region.max_participants = 4;
    o.region.liveness_ns = LIVENESS;
    ferry_heap *h;
    if (!(rc = ferry_heap_create(name, &o, &h))) {
      for (uint32_t i = 0; i < cap; i++)
        ferry_heap_push_ex(h, &i, 1, v, max, FERRY_HEAP_GEN_ANY, 0);
      ferry_heap_close(h);
    }
    break;
  }
  case KIND_DICT: {
    ferry_dict_options o;
    ferry_dict_options_init(&o);
    o.capacity = cap;
    o.max_capacity = 4 * (uint64_t)cap;
    o.max_key = 8;
    o.max_value = max;
    o.region.max_participants = 4;
    o.region.liveness_ns = LIVENESS;
    ferry_dict *d;
    if (!(rc = ferry_dict_create(name, &o, &d))) {
      for (uint32_t i = 0; i < cap; i++)
        ferry_dict_set(d, &i, sizeof i, v, max, 0);
      ferry_dict_close(d);
    }
    break;
  }
  case KIND_LIST: {
    ferry_list_options o;
    ferry_list_options_init(&o);
    o.capacity = cap;
    o.max_item = max;
    o.region.max_participants = 4;
    o.region.liveness_ns = LIVENESS;
    ferry_list *l;
    if (!(rc = ferry_list_create(name, &o, &l))) {
      for (uint32_t i = 0; i < cap; i++)
        ferry_list_append(l, v, 1 + i % max, 0);
      ferry_list_close(l);
    }
    break;
  }
  case KIND_BUS: {
    ferry_bus_options o;
    ferry_bus_options_init(&o);
    o.mode = max % 2 ? FERRY_BUS_LATEST : FERRY_BUS_LOCKSTEP;
    o.slots = 3 + cap % 4;
    o.max_subscribers = 2;
    o.region.liveness_ns = LIVENESS;
    if (!(rc = ferry_bus_create(name, bus_specs, 2, &o, &creator_bus))) {
      ferry_frame *f;
      if (ferry_bus_loan(creator_bus, &f, 0) == 0)
        ferry_bus_publish(creator_bus, f);
    }
    break;
  }
  }
  return rc;
}

/* ---- rewrite the file ---------------------------------------------------------------- */

/* Writes the object header's checksum (and a bus's table checksum) again,
 * over an aligned copy, as the creator computes it. */
static void seal_object(int kind, uint8_t *obj, size_t avail)
{
  static uint64_t copy[512];
  size_t n = avail < sizeof copy ? avail : sizeof copy, need, at;
  memcpy(copy, obj, n);
  uint32_t sum = 0;
#define SEAL(type, fn)                                                                             \
  need = sizeof(struct type), at = offsetof(struct type, checksum);                                \
  if (n >= need)                                                                                   \
    sum = fn((const void *)copy);                                                                  \
  break
  switch (kind) {
  case KIND_QUEUE:
    SEAL(ferry__queue_hdr, ferry__queue_hdr_checksum);
  case KIND_PIPE:
    SEAL(ferry__pipe_hdr, ferry__pipe_hdr_checksum);
  case KIND_HEAP:
    SEAL(ferry__heap_hdr, ferry__heap_hdr_checksum);
  case KIND_DICT:
    SEAL(ferry__dict_hdr, ferry__dict_hdr_checksum);
  case KIND_LIST:
    SEAL(ferry__list_hdr, ferry__list_hdr_checksum);
  default:
    if (n >= sizeof(struct ferry__bus_hdr))
      fuzz_repair_schema_at(obj, avail, ((const struct ferry__bus_hdr *)copy)->table_offset);
    SEAL(ferry__bus_hdr, ferry__bus_hdr_checksum);
  }
#undef SEAL
  if (n >= need)
    memcpy(obj + at, &sum, sizeof sum);
}

/* Applies the input's patches to the file of object `name`, then the
 * checksums the mode asks for. Returns the number of bytes patched. */
static size_t rewrite(const char *name, int kind, uint8_t mode, const uint8_t *p, size_t n)
{
  char path[128];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(struct ferry__region_hdr)) {
    if (fd >= 0)
      close(fd);
    return 0;
  }
  size_t size = (size_t)st.st_size;
  uint8_t *file = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (file == MAP_FAILED)
    return 0;
  /* The object's start as created: the header the checks stand on may be
   * among the bytes rewritten below. */
  uint32_t hs;
  memcpy(&hs, file + offsetof(struct ferry__region_hdr, header_size), sizeof hs);
  size_t obj = hs < size ? hs : 0;
  size_t done = fuzz_patch(file, size, (mode & MODE_FROM_OBJECT) ? obj : 0, p, n, MAX_PATCHES);
  if (mode & MODE_SEAL_OBJECT)
    seal_object(kind, file + obj, size - obj);
  if (mode & MODE_SEAL_REGION)
    fuzz_repair_region(file, size);
  munmap(file, size);
  return done;
}

/* ---- use what opened ------------------------------------------------------------------ */

static int use_queue(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_queue *q;
  int rc = ferry_queue_open(name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, &o, &q);
  if (rc)
    return rc;
  ferry_region *r = ferry_queue_region(q);
  ferry_queue_stats s;
  FUZZ_CHECK(ferry_queue_stats_get(q, &s) == 0);
  size_t max = s.max_msg_size < BUF ? (size_t)s.max_msg_size : BUF;
  static uint8_t msg[BUF], buf[BUF];
  ferry_queue_put(q, msg, max, 0);
  ssize_t got = ferry_queue_get(q, buf, sizeof buf, 0);
  FUZZ_CHECK(got < 0 || (size_t)got <= max);
  ferry_queue_vec in[2] = {{msg, 1}, {msg, max}}, out[2] = {{buf, 8}, {buf + 8, BUF - 8}};
  ferry_queue_put_many(q, in, 2, 0);
  got = ferry_queue_get_many(q, out, 2, 0);
  for (ssize_t i = 0; i < got && i < 2; i++)
    FUZZ_CHECK(out[i].len <= (i ? BUF - 8u : 8u));
  void *d;
  if (ferry_queue_reserve(q, max, &d, 0) == 0) {
    FUZZ_CHECK(inside(d, max, r));
    memset(d, 1, max);
    FUZZ_CHECK(ferry_queue_commit(q, max) == 0);
  }
  const void *pd;
  size_t pl;
  if (ferry_queue_peek(q, &pd, &pl, 0) == 0) {
    FUZZ_CHECK(pl <= s.max_msg_size && inside(pd, pl, r));
    FUZZ_CHECK(ferry_queue_release(q) == 0);
  }
  FUZZ_CHECK(ferry_queue_depth(q) <= s.capacity);
  ferry_queue_validate(q, 0);
  ferry_queue_recover(q);
  ferry_queue_stat(name, &s);
  ferry_queue_close(q);
  return 0;
}

static int use_pipe(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_pipe *e[2] = {NULL, NULL};
  int rc = ferry_pipe_open(name, &o, &e[0]);
  if (rc)
    return rc;
  ferry_pipe_open(name, &o, &e[1]);
  static uint8_t msg[BUF], buf[BUF];
  /* The limit as the file says, checksum checked: what open read. */
  ferry_pipe_stats s;
  size_t max = ferry_pipe_stat(name, &s) == 0 && s.max_msg_size < BUF ? s.max_msg_size : 0;
  for (int k = 0; k < 2 && e[k]; k++) {
    ferry_region *r = ferry_pipe_region(e[k]);
    ssize_t got = ferry_pipe_recv(e[k], buf, sizeof buf, 0);
    FUZZ_CHECK(got < 0 || (size_t)got <= sizeof buf);
    if (!max)
      continue;
    FUZZ_CHECK(got < 0 || (size_t)got <= max);
    ferry_pipe_send(e[k], msg, max, 0);
    void *d;
    if (ferry_pipe_reserve(e[k], max, &d, 0) == 0) {
      FUZZ_CHECK(inside(d, max, r));
      FUZZ_CHECK(ferry_pipe_commit(e[k], max) == 0);
    }
    const void *pd;
    size_t pl;
    if (ferry_pipe_peek(e[k], &pd, &pl, 0) == 0) {
      FUZZ_CHECK(pl <= max && inside(pd, pl, r));
      FUZZ_CHECK(ferry_pipe_release(e[k]) == 0);
    }
  }
  ferry_pipe_close(e[1]);
  ferry_pipe_close(e[0]);
  return 0;
}

static int use_heap(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_heap *h;
  int rc = ferry_heap_open(name, &o, &h);
  if (rc)
    return rc;
  ferry_heap_stats s;
  ferry_heap_stats_get(h, &s);
  static uint8_t key[BUF], buf[BUF];
  size_t klen = 0;
  uint64_t gen = 0;
  ssize_t got = ferry_heap_pop_ex(h, key, sizeof key, &klen, buf, sizeof buf, &gen, 0);
  FUZZ_CHECK(got < 0 || ((size_t)got <= sizeof buf && klen <= sizeof key));
  if (got >= 0)
    ferry_heap_push_ex(h, key, klen, buf, (size_t)got, gen, 0);
  ferry_heap_push_ex(h, "k", 1, buf, 8, FERRY_HEAP_GEN_ANY, 0);
  got = ferry_heap_peek_ex(h, key, sizeof key, &klen, buf, sizeof buf, &gen);
  FUZZ_CHECK(got < 0 || ((size_t)got <= sizeof buf && klen <= sizeof key));
  ferry_heap_size(h);
  ferry_heap_validate(h, 0);
  ferry_heap_record_ex recs[2] = {{"a", 1, buf, 4}, {"b", 1, buf, 0}};
  ferry_heap_replace_all_ex(h, recs, 2, &gen, 0);
  ferry_heap_clear(h, 0);
  ferry_heap_stat(name, &s);
  ferry_heap_close(h);
  return 0;
}

static int use_dict(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_dict *d;
  int rc = ferry_dict_open(name, &o, &d);
  if (rc)
    return rc;
  static uint8_t kb[BUF], vb[BUF];
  for (uint32_t i = 0; i < 4; i++) {
    ssize_t got = ferry_dict_get(d, &i, sizeof i, vb, sizeof vb);
    FUZZ_CHECK(got < 0 || (size_t)got <= sizeof vb);
    ferry_dict_set(d, &i, sizeof i, vb, 4, 0);
  }
  uint32_t gone = 1;
  ferry_dict_del(d, &gone, sizeof gone, 0);
  uint64_t cur = 0;
  size_t kl, vl;
  for (int steps = 0; steps < 256; steps++) {
    int r = ferry_dict_next(d, &cur, kb, sizeof kb, &kl, vb, sizeof vb, &vl);
    if (r != 1)
      break;
    FUZZ_CHECK(kl <= sizeof kb && vl <= sizeof vb);
  }
  ferry_dict_size(d);
  ferry_dict_stats s;
  ferry_dict_stats_get(d, &s);
  ferry_dict_validate(d, 0);
  ferry_dict_stat(name, &s);
  ferry_dict_close(d);
  return 0;
}

static int use_list(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_list *l;
  int rc = ferry_list_open(name, &o, &l);
  if (rc)
    return rc;
  static uint8_t item[BUF], buf[BUF];
  ferry_list_append(l, item, 3, 0);
  ferry_list_insert(l, 1, item, 2, 0);
  ferry_list_set(l, 0, item, 1, 0);
  ssize_t got = ferry_list_get(l, 0, buf, sizeof buf, 0);
  FUZZ_CHECK(got < 0 || (size_t)got <= sizeof buf);
  got = ferry_list_pop(l, 1, buf, sizeof buf, 0);
  FUZZ_CHECK(got < 0 || (size_t)got <= sizeof buf);
  uint64_t count = 0;
  got = ferry_list_copy(l, 0, 64, buf, sizeof buf, &count, 0);
  FUZZ_CHECK(got < 0 || (size_t)got <= sizeof buf);
  for (size_t at = 0, k = 0; got > 0 && k < count; k++) {
    uint32_t il;
    FUZZ_CHECK(at + 4 <= (size_t)got);
    memcpy(&il, buf + at, 4);
    FUZZ_CHECK(at + 4 + il <= (size_t)got);
    at += 4 + il;
  }
  ferry_list_len(l);
  ferry_list_stats s;
  ferry_list_stats_get(l, &s);
  ferry_list_validate(l, 0);
  ferry_list_stat(name, &s);
  ferry_list_clear(l, 0);
  ferry_list_close(l);
  return 0;
}

static int use_bus(const char *name)
{
  ferry_open_options o = no_wait();
  ferry_sub *s;
  int rc = ferry_bus_subscribe(name, &o, &s);
  if (rc)
    return rc;
  const ferry_frame *f;
  ferry_bus_frame_info info;
  if (ferry_bus_next(s, &f, &info, 0) == 0) {
    size_t count = ferry_frame_count(f);
    FUZZ_CHECK(count >= 1 && count <= FERRY_ARRAY_MAX_COUNT);
    for (size_t i = 0; i < count; i++) {
      ferry_array v;
      FUZZ_CHECK(ferry_frame_array_at(f, i, &v) == 0);
      FUZZ_CHECK(inside(v.data, v.nbytes, ferry_sub_region(s)));
    }
    FUZZ_CHECK(ferry_bus_release(s, f) == 0);
  }
  ferry_bus_sub_stats ss;
  ferry_sub_stats_get(s, &ss);
  ferry_bus_unsubscribe(s);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 3)
    return 0;
  uint8_t mode = data[0];
  int kind = (int)(mode & MODE_KIND) % KINDS;
  uint32_t cap = 1u + data[1] % 16u, max = 1u + data[2] % 128u;
  char name[64];
  snprintf(name, sizeof name, "fuzz-obj-%ld", (long)getpid());
  ferry_unlink(name); /* a leftover of an input that crashed */
  if (create(name, kind, cap, max) != 0) {
    ferry_unlink(name);
    return 0; /* /dev/shm full: nothing to learn */
  }
  size_t patched = rewrite(name, kind, mode, data + 3, size - 3);
  int rc;
  switch (kind) {
  case KIND_QUEUE:
    rc = use_queue(name);
    break;
  case KIND_PIPE:
    rc = use_pipe(name);
    break;
  case KIND_HEAP:
    rc = use_heap(name);
    break;
  case KIND_DICT:
    rc = use_dict(name);
    break;
  case KIND_LIST:
    rc = use_list(name);
    break;
  default:
    rc = use_bus(name);
  }
  FUZZ_CHECK(rc <= 0);
  /* The file as created opens: the checks refuse rewrites, not objects. */
  FUZZ_CHECK(patched > 0 || rc == 0);
  if (creator_bus) {
    ferry_bus_close(creator_bus);
    creator_bus = NULL;
  }
  ferry_unlink(name);
  return 0;
}
