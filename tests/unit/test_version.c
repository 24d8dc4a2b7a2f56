/* SPDX-License-Identifier: MIT */
/*
 * test_version.c: what the library says about itself, and [abi-growth].
 *
 * - The version macros, ferry_version() and ferry_version_string() agree
 *   with each other and with the project's version (FERRY_EXPECTED_VERSION,
 *   passed by CMake from project()).
 * - Every options struct comes out of its _init() with its reserved words
 *   zero, and every call that takes options refuses one whose reserved
 *   words are not, creating nothing.
 * - Every statistics call zeroes the reserved words of what it fills.
 * The pool's and the Redis backend's structs included (the Redis objects'
 * own statistics are checked in tests/redis/conform_objects.c).
 */
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "test.h"

#ifndef FERRY_EXPECTED_VERSION
#error "FERRY_EXPECTED_VERSION: the project version, from CMake"
#endif

static void test_version(void)
{
  CHECK_EQ(strcmp(ferry_version_string(), FERRY_EXPECTED_VERSION), 0);
  CHECK_EQ(strcmp(FERRY_VERSION_STRING, FERRY_EXPECTED_VERSION), 0);
  char s[64];
  snprintf(s, sizeof s, "%d.%d.%d", FERRY_VERSION_MAJOR, FERRY_VERSION_MINOR,
           FERRY_VERSION_PATCH);
  CHECK_EQ(strcmp(s, FERRY_EXPECTED_VERSION), 0);
  CHECK_EQ(ferry_version(), (unsigned)FERRY_VERSION_NUMBER);
  CHECK_EQ(ferry_version(), (unsigned)(FERRY_VERSION_MAJOR * 10000 + FERRY_VERSION_MINOR * 100 +
                                       FERRY_VERSION_PATCH));
}

/* Whether reserved words w[0..n) are all zero; all_zero(x.reserved) takes
 * the array's own length (FERRY_RESERVED_WORDS less the words that later
 * fields took). */
static bool all_zero_n(const uint64_t *w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (w[i])
      return false;
  return true;
}
#define all_zero(a) all_zero_n((a), sizeof(a) / sizeof((a)[0]))

static bool exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  return access(path, F_OK) == 0;
}

/* A pool's task: echoes it. */
static ssize_t echo(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  if (len > cap)
    return -EMSGSIZE;
  memcpy(out, task, len);
  return (ssize_t)len;
}

/* Each options struct, initialised, then with one reserved word set: the
 * create refuses it and leaves no region. */
static void test_options_reserved(void)
{
  char name[64];
  ft_name(name, sizeof name, "abi-opts");
  static const ferry_array_spec spec = {"x", FERRY_DTYPE_U8, 1, {4}};

  ferry_region_options ro;
  ferry_region_options_init(&ro);
  CHECK(all_zero(ro.reserved));
  ro.reserved[FERRY_RESERVED_WORDS - 1] = 1;
  ferry_region *r;
  CHECK_RC(ferry_region_create(name, 64, &ro, &r), -EINVAL);
  CHECK(!exists(name));

  ferry_array_options ao;
  ferry_array_options_init(&ao);
  CHECK(all_zero(ao.reserved) && all_zero(ao.region.reserved));
  ao.reserved[0] = 1;
  ferry_arrays *a;
  CHECK_RC(ferry_array_create(name, &spec, 1, &ao, &a), -EINVAL);
  ferry_array_options_init(&ao);
  ao.region.reserved[1] = 1; /* the embedded region options count too */
  CHECK_RC(ferry_array_create(name, &spec, 1, &ao, &a), -EINVAL);
  CHECK(!exists(name));

  ferry_queue_options qo;
  ferry_queue_options_init(&qo);
  CHECK(all_zero(qo.reserved));
  qo.reserved[2] = 1;
  ferry_queue *q;
  CHECK_RC(ferry_queue_create(name, &qo, &q), -EINVAL);
  CHECK(!exists(name));

  ferry_pipe_options po;
  ferry_pipe_options_init(&po);
  CHECK(all_zero(po.reserved));
  po.reserved[0] = 1;
  ferry_pipe *p;
  CHECK_RC(ferry_pipe_create(name, &po, &p), -EINVAL);
  CHECK(!exists(name));

  ferry_bus_options bo;
  ferry_bus_options_init(&bo);
  CHECK(all_zero(bo.reserved));
  bo.reserved[3] = 1;
  ferry_bus *b;
  CHECK_RC(ferry_bus_create(name, &spec, 1, &bo, &b), -EINVAL);
  CHECK(!exists(name));

  ferry_heap_options ho;
  ferry_heap_options_init(&ho);
  /* max_key and reserved0 took the place of the first reserved word */
  CHECK(ho.max_key == 0 && ho.reserved0 == 0);
  for (int i = 0; i < FERRY_RESERVED_WORDS - 1; i++)
    CHECK(ho.reserved[i] == 0);
  ho.reserved[1] = 1;
  ferry_heap *h;
  CHECK_RC(ferry_heap_create(name, &ho, &h), -EINVAL);
  ferry_heap_options_init(&ho);
  ho.reserved0 = 1;
  CHECK_RC(ferry_heap_create(name, &ho, &h), -EINVAL);
  CHECK(!exists(name));

  ferry_dict_options dopt;
  ferry_dict_options_init(&dopt);
  CHECK(all_zero(dopt.reserved));
  dopt.reserved[0] = 1;
  ferry_dict *d;
  CHECK_RC(ferry_dict_create(name, &dopt, &d), -EINVAL);
  CHECK(!exists(name));

  ferry_pool_options plo;
  ferry_pool_options_init(&plo);
  CHECK(all_zero(plo.reserved));
  plo.fn = echo;
  plo.workers = 1;
  plo.reserved[2] = 1;
  ferry_pool *pool;
  CHECK_RC(ferry_pool_create(name, &plo, &pool), -EINVAL);
  CHECK(!exists(name));
  plo.reserved[2] = 0;
  plo.region.reserved[3] = 1; /* its stats region's options count too */
  CHECK_RC(ferry_pool_create(name, &plo, &pool), -EINVAL);
  CHECK(!exists(name));

  /* The Redis options are checked before any server is contacted. */
  ferry_redis_options rdo;
  ferry_redis_options_init(&rdo);
  CHECK(all_zero(rdo.reserved));
  rdo.reserved[1] = 1;
  CHECK_RC(ferry_redis_queue_create("redis://127.0.0.1:1/t-abi", NULL, &rdo, &q), -EINVAL);
  CHECK_RC(ferry_redis_heap_create("redis://127.0.0.1:1/t-abi", NULL, &rdo, &h), -EINVAL);

  /* Open options: every open funnels through the region's. */
  REQUIRE_OK(ferry_queue_create(name, NULL, &q));
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  CHECK(all_zero(oo.reserved));
  oo.reserved[0] = 1;
  ferry_queue *q2;
  CHECK_RC(ferry_queue_open(name, FERRY_ROLE_CONSUMER, &oo, &q2), -EINVAL);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &oo, &r), -EINVAL);
  oo.reserved[0] = 0;
  REQUIRE_OK(ferry_queue_open(name, FERRY_ROLE_CONSUMER, &oo, &q2));
  ferry_queue_close(q2);
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));
}

/* Statistics: the reserved words come back zero whatever was there. */
static void test_stats_reserved(void)
{
  char name[64];
  ft_name(name, sizeof name, "abi-stats");
  ferry_queue *q;
  REQUIRE_OK(ferry_queue_create(name, NULL, &q));
  ferry_queue_stats qs;
  memset(&qs, 0xff, sizeof qs);
  CHECK_OK(ferry_queue_stats_get(q, &qs));
  CHECK(all_zero(qs.reserved));
  memset(&qs, 0xff, sizeof qs);
  CHECK_OK(ferry_queue_stat(name, &qs));
  CHECK(all_zero(qs.reserved));
  ferry_region_info info;
  memset(&info, 0xff, sizeof info);
  CHECK_OK(ferry_region_info_get(ferry_queue_region(q), &info));
  CHECK(all_zero(info.reserved));
  ferry_participant part;
  memset(&part, 0xff, sizeof part);
  CHECK_EQ(ferry_region_participants(ferry_queue_region(q), &part, 1), 1);
  CHECK(all_zero(part.reserved));
  ferry_queue_close(q);
  CHECK_OK(ferry_unlink(name));

  static const ferry_array_spec spec = {"x", FERRY_DTYPE_U8, 1, {4}};
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, &spec, 1, NULL, &b));
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  ferry_bus_stats bs;
  ferry_bus_sub_stats ss[2];
  memset(&bs, 0xff, sizeof bs);
  CHECK_OK(ferry_bus_stats_get(b, &bs));
  CHECK(all_zero(bs.reserved));
  memset(ss, 0xff, sizeof ss);
  CHECK_OK(ferry_sub_stats_get(s, &ss[0]));
  CHECK(all_zero(ss[0].reserved));
  memset(&bs, 0xff, sizeof bs);
  memset(ss, 0xff, sizeof ss);
  CHECK_EQ(ferry_bus_stat(name, &bs, ss, 2), 1);
  CHECK(all_zero(bs.reserved) && all_zero(ss[0].reserved));
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));

  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, NULL, &h));
  ferry_heap_stats hs;
  memset(&hs, 0xff, sizeof hs);
  CHECK_OK(ferry_heap_stats_get(h, &hs));
  CHECK(all_zero(hs.reserved) && hs.pad == 0);
  memset(&hs, 0xff, sizeof hs);
  CHECK_OK(ferry_heap_stat(name, &hs));
  CHECK(all_zero(hs.reserved) && hs.pad == 0);
  ferry_heap_close(h);
  CHECK_OK(ferry_unlink(name));

  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, NULL, &d));
  ferry_dict_stats ds;
  memset(&ds, 0xff, sizeof ds);
  CHECK_OK(ferry_dict_stats_get(d, &ds));
  CHECK(all_zero(ds.reserved) && ds.pad == 0);
  memset(&ds, 0xff, sizeof ds);
  CHECK_OK(ferry_dict_stat(name, &ds));
  CHECK(all_zero(ds.reserved) && ds.pad == 0);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));

  ferry_pool_options po;
  ferry_pool_options_init(&po);
  po.fn = echo;
  po.workers = 1;
  ferry_pool *pool;
  REQUIRE_OK(ferry_pool_create(name, &po, &pool));
  ferry_pool_stats pst;
  memset(&pst, 0xff, sizeof pst);
  CHECK_OK(ferry_pool_stats_get(pool, &pst));
  CHECK(all_zero(pst.reserved) && pst.workers == 1);
  ferry_pool_worker_info wi[2];
  memset(&pst, 0xff, sizeof pst);
  memset(wi, 0xff, sizeof wi);
  CHECK_EQ(ferry_pool_stat(name, &pst, wi, 2), 1);
  CHECK(all_zero(pst.reserved) && all_zero(wi[0].reserved) && wi[0].slot == 0);
  ferry_pool_close(pool);
  CHECK(!exists(name));

  ferry_pipe *p;
  REQUIRE_OK(ferry_pipe_create(name, NULL, &p));
  ferry_pipe_stats ps;
  memset(&ps, 0xff, sizeof ps);
  CHECK_OK(ferry_pipe_stat(name, &ps));
  CHECK(all_zero(ps.reserved));
  ferry_pipe_close(p);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_version);
  RUN(test_options_reserved);
  RUN(test_stats_reserved);
  return ft_done();
}
