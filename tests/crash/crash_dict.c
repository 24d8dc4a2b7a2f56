/* SPDX-License-Identifier: MIT */
/*
 * crash_dict.c: crash scenarios for the dict (dict.* points). A victim
 * replaces a value, deletes a key and inserts another (taking its slot
 * from a free list, the never-used pool, or another stripe), ten times, on
 * a small fixed-size dict; a second victim fills and clears it ten times.
 * The victims keep a model of what they finished in shared memory. After a
 * death at any step, the survivor takes the stripe over if the victim held
 * it, and then every key must hold its modelled value, whole, or (for the
 * operation in progress) the value it was being given; validate() passes,
 * size and the cursor agree with the gets.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "crash.h"
#include "ferry/dict.h"

#define NKEYS 24
#define LIVE 12
#define CAP 16
#define ITER 10
#define VMAX 48

struct dict_ctx {
  char name[64];
  ferry_dict *d;               /* the parent's handle */
  _Atomic uint32_t ver[NKEYS]; /* finished: 0 absent, else the version */
  _Atomic int pend_key;        /* the operation in progress: key, -1 none */
  _Atomic uint32_t pend_ver;   /* ... and what it sets (0: deletes) */
  _Atomic int clearing;        /* a clear in progress: any key may be gone */
};

static size_t make_key(char *buf, size_t cap, uint32_t id)
{
  return (size_t)snprintf(buf, cap, "key-%u", id);
}

/* {id, ver, sum} then filler: a torn value fails the sum. */
static size_t make_val(uint8_t *buf, uint32_t id, uint32_t ver)
{
  size_t len = 12 + (id * 7u + ver * 5u) % (VMAX - 12);
  memcpy(buf, &id, 4);
  memcpy(buf + 4, &ver, 4);
  uint32_t sum = id * 31u + ver;
  for (size_t i = 12; i < len; i++) {
    buf[i] = (uint8_t)(id + ver * 3 + i);
    sum = sum * 131u + buf[i];
  }
  memcpy(buf + 8, &sum, 4);
  return len;
}

/* The version a whole value of key id carries, or 0 if it is not whole. */
static uint32_t val_ver(const uint8_t *buf, size_t len, uint32_t id)
{
  uint8_t want[VMAX];
  uint32_t vid, ver;
  if (len < 12 || len > VMAX)
    return 0;
  memcpy(&vid, buf, 4);
  memcpy(&ver, buf + 4, 4);
  if (vid != id || ver == 0 || make_val(want, id, ver) != len || memcmp(want, buf, len) != 0)
    return 0;
  return ver;
}

static void setup(void *p)
{
  struct dict_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-dict");
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.flags = FERRY_DICT_FIXED;
  o.capacity = CAP;
  o.max_key = 16;
  o.max_value = VMAX;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  REQUIRE_OK(ferry_dict_create(c->name, &o, &c->d));
  char k[16];
  uint8_t v[VMAX];
  for (uint32_t id = 0; id < LIVE; id++) {
    CHECK_OK(ferry_dict_set(c->d, k, make_key(k, sizeof k, id), v, make_val(v, id, 1), FT_TIMEOUT));
    atomic_store(&c->ver[id], 1);
  }
  atomic_store(&c->pend_key, -1);
}

static ferry_dict *victim_open(struct dict_ctx *c)
{
  ferry_dict *d;
  if (ferry_dict_open(c->name, NULL, &d) != 0)
    ft_child_exit();
  return d;
}

/* The i-th key (from a rotating start) that is present, or absent. */
static uint32_t pick(struct dict_ctx *c, uint64_t *rng, bool present)
{
  uint32_t start = (uint32_t)(ft_rand(rng) % NKEYS);
  for (uint32_t j = 0; j < NKEYS; j++) {
    uint32_t id = (start + j) % NKEYS;
    if ((atomic_load(&c->ver[id]) != 0) == present)
      return id;
  }
  return 0;
}

static void op_set(struct dict_ctx *c, ferry_dict *d, uint32_t id, uint32_t ver)
{
  char k[16];
  uint8_t v[VMAX];
  atomic_store(&c->pend_ver, ver);
  atomic_store(&c->pend_key, (int)id);
  CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, id), v, make_val(v, id, ver), FT_TIMEOUT));
  atomic_store(&c->ver[id], ver);
  atomic_store(&c->pend_key, -1);
}

static void op_del(struct dict_ctx *c, ferry_dict *d, uint32_t id)
{
  char k[16];
  atomic_store(&c->pend_ver, 0);
  atomic_store(&c->pend_key, (int)id);
  CHECK_OK(ferry_dict_del(d, k, make_key(k, sizeof k, id), FT_TIMEOUT));
  atomic_store(&c->ver[id], 0);
  atomic_store(&c->pend_key, -1);
}

static void victim(void *p)
{
  struct dict_ctx *c = p;
  ferry_dict *d = victim_open(c);
  uint64_t rng = 12345;
  for (uint32_t i = 0; i < ITER; i++) {
    uint32_t a = pick(c, &rng, true);
    op_set(c, d, a, atomic_load(&c->ver[a]) + 1); /* a new value */
    op_del(c, d, pick(c, &rng, true));
    uint32_t n = pick(c, &rng, false);
    op_set(c, d, n, 100 + i); /* an insert */
  }
  ferry_dict_close(d);
}

static void check(void *p)
{
  struct dict_ctx *c = p;
  CHECK_OK(ferry_dict_validate(c->d, FT_TIMEOUT));
  int pk = atomic_load(&c->pend_key);
  uint32_t pv = atomic_load(&c->pend_ver);
  bool clearing = atomic_load(&c->clearing);
  char k[16];
  uint8_t v[VMAX];
  ssize_t present = 0;
  for (uint32_t id = 0; id < NKEYS; id++) {
    ssize_t n = ferry_dict_get(c->d, k, make_key(k, sizeof k, id), v, sizeof v);
    CHECK(n >= 0 || n == -ENOENT);
    uint32_t got = n >= 0 ? val_ver(v, (size_t)n, id) : 0;
    if (n >= 0) {
      CHECK(got != 0); /* whole */
      present++;
    }
    uint32_t want = atomic_load(&c->ver[id]);
    if (got != want && !((int)id == pk && got == pv) && !(clearing && got == 0))
      ft_fail(__FILE__, __LINE__, "key %u: version %u, want %u (in progress: key %d to %u)", id,
              got, want, pk, pv);
  }
  CHECK_EQ(ferry_dict_size(c->d), present);
  uint64_t cur = 0;
  size_t kl, vl;
  char kb[16];
  ssize_t walked = 0;
  int rc;
  while ((rc = ferry_dict_next(c->d, &cur, kb, sizeof kb, &kl, v, sizeof v, &vl)) == 1)
    walked++;
  CHECK_EQ(rc, 0);
  CHECK_EQ(walked, present);
  /* and it goes on working, including inserts into a full table */
  CHECK_OK(ferry_dict_set(c->d, "x", 1, "y", 1, FT_TIMEOUT));
  CHECK_OK(ferry_dict_del(c->d, "x", 1, FT_TIMEOUT));
}

static void teardown(void *p)
{
  struct dict_ctx *c = p;
  ferry_dict_close(c->d);
  c->d = NULL;
  ferry_unlink(c->name);
}

CRASH_SCENARIO(dict, .prefix = "dict.", .setup = setup, .victim = victim, .check = check,
               .teardown = teardown);

/* ---- clear --------------------------------------------------------------------- */

static void clear_victim(void *p)
{
  struct dict_ctx *c = p;
  ferry_dict *d = victim_open(c);
  for (uint32_t i = 0; i < ITER; i++) {
    atomic_store(&c->clearing, 1);
    CHECK_OK(ferry_dict_clear(d, FT_TIMEOUT));
    for (uint32_t id = 0; id < NKEYS; id++)
      atomic_store(&c->ver[id], 0);
    atomic_store(&c->clearing, 0);
    for (uint32_t id = 0; id < LIVE; id++)
      op_set(c, d, id, i + 2);
  }
  ferry_dict_close(d);
}

CRASH_SCENARIO(dict_clear, .prefix = "dict.clear.", .setup = setup, .victim = clear_victim,
               .check = check, .teardown = teardown);

/* ---- commit: growing into uncommitted slots --------------------------------------
 * An empty dict whose slots are committed in steps; the victim inserts new
 * keys one after another, so it commits a step at the first insert and at
 * every boundary after. A death after the reservation but before the
 * watermark leaves reserved pages under an old watermark: the survivor's
 * inserts must commit them again and go on. */

#define GROW_KEYS 3000
#define GROW_CAP 4096

struct grow_ctx {
  char name[64];
  ferry_dict *d;
  _Atomic uint32_t done; /* keys 0..done-1 are set; key done may be */
};

static uint64_t grow_val(uint32_t id) { return (uint64_t)id * 0x9e3779b97f4a7c15u ^ 0x5a5a; }

static void grow_setup(void *p)
{
  struct grow_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-dgrow");
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = GROW_CAP;
  o.max_capacity = GROW_CAP;
  o.max_key = 16;
  o.max_value = 16;
  o.region.liveness_ns = 100 * FERRY_MSEC;
  REQUIRE_OK(ferry_dict_create(c->name, &o, &c->d));
}

static void grow_set(ferry_dict *d, uint32_t id)
{
  char k[16];
  uint64_t v = grow_val(id);
  CHECK_OK(ferry_dict_set(d, k, make_key(k, sizeof k, id), &v, sizeof v, FT_TIMEOUT));
}

static void grow_victim(void *p)
{
  struct grow_ctx *c = p;
  ferry_dict *d;
  if (ferry_dict_open(c->name, NULL, &d) != 0)
    ft_child_exit();
  for (uint32_t id = 0; id < GROW_KEYS; id++) {
    grow_set(d, id);
    atomic_store(&c->done, id + 1);
  }
  ferry_dict_close(d);
}

static void grow_check(void *p)
{
  struct grow_ctx *c = p;
  CHECK_OK(ferry_dict_validate(c->d, FT_TIMEOUT));
  uint32_t done = atomic_load(&c->done);
  char k[16];
  uint64_t v;
  for (uint32_t id = 0; id < GROW_KEYS; id++) {
    ssize_t n = ferry_dict_get(c->d, k, make_key(k, sizeof k, id), &v, sizeof v);
    if (id < done) {
      CHECK_EQ(n, (ssize_t)sizeof v);
      CHECK(n != (ssize_t)sizeof v || v == grow_val(id));
    } else if (id > done) {
      CHECK_RC(n, -ENOENT);
    } else {
      CHECK(n == -ENOENT || (n == (ssize_t)sizeof v && v == grow_val(id)));
    }
  }
  ssize_t size = ferry_dict_size(c->d);
  CHECK(size == (ssize_t)done || size == (ssize_t)done + 1);
  /* The survivor grows on past the victim's last step, to the end. */
  for (uint32_t id = done; id < GROW_CAP; id++)
    grow_set(c->d, id);
  CHECK_OK(ferry_dict_validate(c->d, FT_TIMEOUT));
  CHECK_EQ(ferry_dict_size(c->d), GROW_CAP);
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(c->d, &s));
  CHECK_EQ(s.committed_bytes, s.used_bytes); /* full: every slot committed and used */
}

static void grow_teardown(void *p)
{
  struct grow_ctx *c = p;
  ferry_dict_close(c->d);
  c->d = NULL;
  ferry_unlink(c->name);
}

CRASH_SCENARIO(dict_commit, .prefix = "dict.commit.", .setup = grow_setup, .victim = grow_victim,
               .check = grow_check, .teardown = grow_teardown);
