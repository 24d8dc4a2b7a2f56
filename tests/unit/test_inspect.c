/* SPDX-License-Identifier: MIT */
/*
 * test_inspect.c: the observers' statistics of heaps, dicts and pipes
 * (ferry_heap_stat, ferry_dict_stat, ferry_pipe_stat; src/inspect.c). They
 * agree with what a participant's handle says, never register (the
 * region's opens and participants stay as they were), refuse another kind
 * or a missing region, and turn every header value that does not check
 * out into FERRY_ECORRUPT instead of a read outside the mapping.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dict_layout.h"
#include "ferry/ferry.h"
#include "heap_layout.h"
#include "pipe_layout.h"
#include "region_layout.h"
#include "fixtures.h"
#include "test.h"


static uint64_t opens_of(const char *name)
{
  ferry_region_info info;
  if (ferry_region_stat(name, &info) != 0)
    return UINT64_MAX;
  return info.opens;
}

static void test_heap_stat(void)
{
  char name[64];
  ft_name(name, sizeof name, "insp-heap");
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.order = FERRY_HEAP_MAX;
  o.key_type = FERRY_HEAP_KEY_DOUBLE;
  o.capacity = 16;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  for (int i = 0; i < 5; i++)
    CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.f64 = i * 1.5}, "x", 1, FT_TIMEOUT));
  char buf[8];
  CHECK_EQ(ferry_heap_pop(h, NULL, buf, sizeof buf, 0), 1);

  ferry_heap_stats mine, seen;
  CHECK_OK(ferry_heap_stats_get(h, &mine));
  uint64_t opens = opens_of(name);
  CHECK_OK(ferry_heap_stat(name, &seen));
  CHECK_EQ(opens_of(name), opens); /* looking never registers */
  CHECK_EQ(memcmp(&mine, &seen, sizeof mine), 0);
  CHECK_EQ(seen.size, 4);
  CHECK_EQ(seen.pushes, 5);
  CHECK_EQ(seen.pops, 1);
  CHECK_EQ(seen.key_type, FERRY_HEAP_KEY_DOUBLE);
  CHECK_EQ(seen.order, FERRY_HEAP_MAX);
  CHECK_EQ(seen.capacity, 16);

  /* A capacity that agrees with every limit but not with the checksum;
   * a flag the layout does not know, sealed with a fresh checksum; then a
   * size past the limit. */
  void *map;
  size_t size;
  struct ferry__heap_hdr *hh = ft_map_object(name, &map, &size);
  REQUIRE(hh);
  hh->capacity = 15;
  CHECK_RC(ferry_heap_stat(name, &seen), FERRY_ECORRUPT);
  hh->capacity = 16;
  uint32_t flags = hh->flags;
  hh->flags |= 1u << 30;
  hh->checksum = ferry__heap_hdr_checksum(hh);
  CHECK_RC(ferry_heap_stat(name, &seen), FERRY_ECORRUPT);
  hh->flags = flags;
  hh->checksum = ferry__heap_hdr_checksum(hh);
  uint32_t a = atomic_load(&hh->active) & 1;
  uint64_t n = atomic_load(&hh->area[a].n);
  atomic_store(&hh->area[a].n, hh->max_capacity + 1);
  CHECK_RC(ferry_heap_stat(name, &seen), FERRY_ECORRUPT);
  atomic_store(&hh->area[a].n, n);
  CHECK_OK(ferry_heap_stat(name, &seen));
  munmap(map, size);

  CHECK_RC(ferry_dict_stat(name, &(ferry_dict_stats){0}), FERRY_EKIND);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));
  CHECK_RC(ferry_heap_stat(name, &seen), -ENOENT);
}

static void test_dict_stat(void)
{
  char name[64];
  ft_name(name, sizeof name, "insp-dict");
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, NULL, &d));
  CHECK_OK(ferry_dict_set(d, "a", 1, "1", 1, FT_TIMEOUT));
  CHECK_OK(ferry_dict_set(d, "b", 1, "2", 1, FT_TIMEOUT));
  CHECK_OK(ferry_dict_set(d, "a", 1, "3", 1, FT_TIMEOUT));
  CHECK_OK(ferry_dict_del(d, "b", 1, FT_TIMEOUT));
  char buf[8];
  CHECK_EQ(ferry_dict_get(d, "a", 1, buf, sizeof buf), 1);

  ferry_dict_stats mine, seen;
  CHECK_OK(ferry_dict_stats_get(d, &mine));
  uint64_t opens = opens_of(name);
  CHECK_OK(ferry_dict_stat(name, &seen));
  CHECK_EQ(opens_of(name), opens);
  CHECK_EQ(memcmp(&mine, &seen, sizeof mine), 0);
  CHECK_EQ(seen.size, 1);
  /* Four changes; the get left no trace. */
  CHECK_EQ(seen.writes, 4);

  /* A capacity that agrees with every limit but not with the checksum;
   * then, sealed with a fresh checksum each, stripes said to lie past the
   * end of the mapping. */
  void *map;
  size_t size;
  struct ferry__dict_hdr *dh = ft_map_object(name, &map, &size);
  REQUIRE(dh);
  uint64_t cap = dh->capacity;
  dh->capacity = cap - 1;
  CHECK_RC(ferry_dict_stat(name, &seen), FERRY_ECORRUPT);
  dh->capacity = cap;
  uint64_t off = dh->stripes_offset;
  dh->stripes_offset = size;
  dh->checksum = ferry__dict_hdr_checksum(dh);
  CHECK_RC(ferry_dict_stat(name, &seen), FERRY_ECORRUPT);
  dh->stripes_offset = off;
  uint32_t ns = dh->nstripes;
  dh->nstripes = 3; /* not a power of two */
  dh->checksum = ferry__dict_hdr_checksum(dh);
  CHECK_RC(ferry_dict_stat(name, &seen), FERRY_ECORRUPT);
  dh->nstripes = UINT32_MAX / 2 + 1; /* a power of two past the mapping */
  dh->checksum = ferry__dict_hdr_checksum(dh);
  CHECK_RC(ferry_dict_stat(name, &seen), FERRY_ECORRUPT);
  dh->nstripes = ns;
  dh->checksum = ferry__dict_hdr_checksum(dh);
  CHECK_OK(ferry_dict_stat(name, &seen));
  munmap(map, size);

  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

static void test_pipe_stat(void)
{
  char name[64];
  ft_name(name, sizeof name, "insp-pipe");
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = 8;
  o.max_msg_size = 32;
  ferry_pipe *a, *b;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  for (int i = 0; i < 3; i++)
    CHECK_OK(ferry_pipe_send(a, "ping", 4, 0));
  CHECK_OK(ferry_pipe_send(b, "pong", 4, 0));
  char buf[32];
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, 0), 4);

  ferry_pipe_stats s;
  uint64_t opens = opens_of(name);
  CHECK_OK(ferry_pipe_stat(name, &s));
  CHECK_EQ(opens_of(name), opens);
  CHECK_EQ(s.capacity, 8);
  CHECK_EQ(s.max_msg_size, 32);
  CHECK_EQ(s.ends_held, 2);
  CHECK_EQ(s.waiters, 0);
  int ea = ferry_pipe_end(a), eb = ferry_pipe_end(b);
  CHECK_EQ(s.end_slot[ea], ferry_region_slot(ferry_pipe_region(a)));
  CHECK_EQ(s.end_slot[eb], ferry_region_slot(ferry_pipe_region(b)));
  CHECK_EQ(s.sent[ea], 3);
  CHECK_EQ(s.depth[ea], 2);
  CHECK_EQ(s.sent[eb], 1);
  CHECK_EQ(s.depth[eb], 1);

  ferry_pipe_close(b);
  CHECK_OK(ferry_pipe_stat(name, &s));
  CHECK_EQ(s.ends_held, 1);
  CHECK_EQ(s.end_slot[eb], -1);

  /* A ring whose tail runs more than a capacity ahead of its head. */
  void *map;
  size_t size;
  struct ferry__pipe_hdr *ph = ft_map_object(name, &map, &size);
  REQUIRE(ph);
  uint64_t tail = atomic_load(&ph->ring[ea].tail);
  atomic_store(&ph->ring[ea].tail, atomic_load(&ph->ring[ea].head) + 9);
  CHECK_RC(ferry_pipe_stat(name, &s), FERRY_ECORRUPT);
  atomic_store(&ph->ring[ea].tail, tail);
  uint32_t cap = ph->capacity;
  ph->capacity = cap - 1; /* within every limit: only the checksum sees it */
  CHECK_RC(ferry_pipe_stat(name, &s), FERRY_ECORRUPT);
  ph->capacity = 0; /* sealed: the limit sees it */
  ph->checksum = ferry__pipe_hdr_checksum(ph);
  CHECK_RC(ferry_pipe_stat(name, &s), FERRY_ECORRUPT);
  ph->capacity = cap;
  ph->checksum = ferry__pipe_hdr_checksum(ph);
  CHECK_OK(ferry_pipe_stat(name, &s));
  munmap(map, size);

  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_heap_stat);
  RUN(test_dict_stat);
  RUN(test_pipe_stat);
  return ft_done();
}
