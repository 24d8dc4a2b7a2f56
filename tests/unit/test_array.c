/* SPDX-License-Identifier: MIT */
/*
 * test_array.c: dtypes, spec text, the frame schema (built, copied,
 * validated, fuzzed), and array regions: create, fill, open by name in
 * forked children that check every array against what the creator
 * declared, alignment, every bad input and overflow (with nothing left in
 * /dev/shm), corrupted descriptor tables, wrong kinds, roles.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array_layout.h"
#include "frame_internal.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------- */

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static uint64_t fnv64(const void *p, size_t n)
{
  const uint8_t *b = p;
  uint64_t h = UINT64_C(14695981039346656037);
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

/* Deterministic contents, different for every seed. */
static void fill(const ferry_array *v, uint64_t seed)
{
  uint8_t *b = v->data;
  uint64_t s = seed * 2654435761u + 1, r = 0;
  for (size_t i = 0; i < v->nbytes; i++) {
    if (i % 8 == 0)
      r = ft_rand(&s);
    b[i] = (uint8_t)(r >> (8 * (i % 8)));
  }
}

/* Strides worked out independently of the library: numpy's C order. */
static void expect_strides(size_t itemsize, uint32_t ndim, const uint64_t *shape, uint64_t *st)
{
  memset(st, 0, sizeof(uint64_t) * FERRY_ARRAY_MAX_DIMS);
  uint64_t s = itemsize;
  for (int k = (int)ndim - 1; k >= 0; k--) {
    st[k] = s;
    s *= shape[k] ? shape[k] : 1;
  }
}

static uint64_t product(uint32_t ndim, const uint64_t *shape)
{
  uint64_t p = 1;
  for (uint32_t k = 0; k < ndim; k++)
    p *= shape[k];
  return p;
}

/* Checks one view against the spec it was declared with. */
static void check_view(const ferry_array *v, const ferry_array_spec *s)
{
  CHECK(strcmp(v->name, s->name) == 0);
  CHECK_EQ(v->dtype, s->dtype);
  CHECK_EQ(v->ndim, s->ndim);
  uint64_t st[FERRY_ARRAY_MAX_DIMS];
  expect_strides(ferry_dtype_size(s->dtype), s->ndim, s->shape, st);
  for (uint32_t k = 0; k < FERRY_ARRAY_MAX_DIMS; k++) {
    CHECK_EQ(v->shape[k], k < s->ndim ? s->shape[k] : 0);
    CHECK_EQ(v->strides[k], st[k]);
  }
  CHECK_EQ(v->itemsize, ferry_dtype_size(s->dtype));
  CHECK_EQ(v->count, product(s->ndim, s->shape));
  CHECK_EQ(v->nbytes, v->count * v->itemsize);
  CHECK(v->data != NULL);
  CHECK_EQ((uintptr_t)v->data % FERRY_ARRAY_ALIGN, 0);
}

/* Creation must fail with want, leave *out alone and leave no file. */
static void check_create_fails(const char *name, const ferry_array_spec *specs, size_t n,
                               const ferry_array_options *o, int want)
{
  ferry_arrays *sentinel = (ferry_arrays *)(uintptr_t)0x5a5a, *a = sentinel;
  CHECK_RC(ferry_array_create(name, specs, n, o, &a), want);
  CHECK(a == sentinel);
  if (ferry_name_valid(name) == 0)
    CHECK(!shm_exists(name));
}

/* ---- dtypes ----------------------------------------------------------------- */

static void test_dtype_helpers(void)
{
  static const struct {
    ferry_dtype t;
    size_t size;
    const char *name, *numpy, *typestr;
  } want[] = {
      {FERRY_DTYPE_BOOL, 1, "bool", "bool", "|b1"},
      {FERRY_DTYPE_I8, 1, "i8", "int8", "|i1"},
      {FERRY_DTYPE_I16, 2, "i16", "int16", "<i2"},
      {FERRY_DTYPE_I32, 4, "i32", "int32", "<i4"},
      {FERRY_DTYPE_I64, 8, "i64", "int64", "<i8"},
      {FERRY_DTYPE_U8, 1, "u8", "uint8", "|u1"},
      {FERRY_DTYPE_U16, 2, "u16", "uint16", "<u2"},
      {FERRY_DTYPE_U32, 4, "u32", "uint32", "<u4"},
      {FERRY_DTYPE_U64, 8, "u64", "uint64", "<u8"},
      {FERRY_DTYPE_F16, 2, "f16", "float16", "<f2"},
      {FERRY_DTYPE_F32, 4, "f32", "float32", "<f4"},
      {FERRY_DTYPE_F64, 8, "f64", "float64", "<f8"},
      {FERRY_DTYPE_C64, 8, "c64", "complex64", "<c8"},
      {FERRY_DTYPE_C128, 16, "c128", "complex128", "<c16"},
  };
  CHECK_EQ(sizeof want / sizeof want[0], FERRY_DTYPE_COUNT);
  /* The stored numbers are part of the layout: pin them. */
  CHECK_EQ(FERRY_DTYPE_BOOL, 0);
  CHECK_EQ(FERRY_DTYPE_U8, 5);
  CHECK_EQ(FERRY_DTYPE_F32, 10);
  CHECK_EQ(FERRY_DTYPE_C128, 13);

  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ferry_dtype t = want[i].t, got;
    CHECK_EQ(t, i);
    CHECK_EQ(ferry_dtype_size(t), want[i].size);
    REQUIRE(ferry_dtype_name(t) && ferry_dtype_typestr(t));
    CHECK(strcmp(ferry_dtype_name(t), want[i].name) == 0);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    CHECK(strcmp(ferry_dtype_typestr(t), want[i].typestr) == 0);
#endif
    /* name -> parse -> typestr -> parse -> name */
    got = FERRY_DTYPE_COUNT;
    CHECK_OK(ferry_dtype_parse(ferry_dtype_name(t), &got));
    CHECK_EQ(got, t);
    got = FERRY_DTYPE_COUNT;
    CHECK_OK(ferry_dtype_parse(ferry_dtype_typestr(t), &got));
    CHECK_EQ(got, t);
    got = FERRY_DTYPE_COUNT;
    CHECK_OK(ferry_dtype_parse(want[i].numpy, &got));
    CHECK_EQ(got, t);
    /* '=' is numpy's "native order" */
    char eq[8];
    snprintf(eq, sizeof eq, "=%s", ferry_dtype_typestr(t) + 1);
    got = FERRY_DTYPE_COUNT;
    CHECK_OK(ferry_dtype_parse(eq, &got));
    CHECK_EQ(got, t);
    /* the typestr's number is the item size */
    CHECK_EQ(strtoul(ferry_dtype_typestr(t) + 2, NULL, 10), want[i].size);
  }

  ferry_dtype got;
  CHECK_OK(ferry_dtype_parse("<u1", &got));
  CHECK_EQ(got, FERRY_DTYPE_U8);
  CHECK_OK(ferry_dtype_parse(">i1", &got));
  CHECK_EQ(got, FERRY_DTYPE_I8);

  /* invalid values */
  CHECK_EQ(ferry_dtype_size(FERRY_DTYPE_COUNT), 0);
  CHECK_EQ(ferry_dtype_size((ferry_dtype)-1), 0);
  CHECK(ferry_dtype_name(FERRY_DTYPE_COUNT) == NULL);
  CHECK(ferry_dtype_name((ferry_dtype)99) == NULL);
  CHECK(ferry_dtype_typestr(FERRY_DTYPE_COUNT) == NULL);

  static const char *bad[] = {"",     "f31",  "F32",   "float", "f32 ", " f32", "|f4", "<f3",
                              "<b1x", "<",    "int",   "u128",  "c32",  "<c4",  "f",   "bool_",
                              "=",    "|b2",  "float8"};
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  static const char *other_order[] = {">f4", ">i2", ">c16"};
#else
  static const char *other_order[] = {"<f4", "<i2", "<c16"};
#endif
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    got = FERRY_DTYPE_C64;
    CHECK_RC(ferry_dtype_parse(bad[i], &got), -EINVAL);
    CHECK_EQ(got, FERRY_DTYPE_C64);
  }
  for (size_t i = 0; i < sizeof other_order / sizeof other_order[0]; i++) {
    got = FERRY_DTYPE_C64;
    CHECK_RC(ferry_dtype_parse(other_order[i], &got), -EINVAL);
    CHECK_EQ(got, FERRY_DTYPE_C64);
  }
  got = FERRY_DTYPE_C64;
  CHECK_RC(ferry_dtype_parse(NULL, &got), -EINVAL);
  CHECK_EQ(got, FERRY_DTYPE_C64);
}

/* ---- spec text ----------------------------------------------------------------- */

/* Parsing must fail with -EINVAL and touch neither output. */
static void check_parse_fails(const char *text)
{
  ferry_array_spec s, before;
  memset(&s, 0x77, sizeof s);
  before = s;
  char nb[FERRY_ARRAY_NAME_MAX + 1];
  memset(nb, 'q', sizeof nb);
  int rc = ferry_array_parse_spec(text, &s, nb, sizeof nb);
  if (rc != -EINVAL)
    ft_fail(__FILE__, __LINE__, "parse \"%s\": got %d, want -EINVAL", text ? text : "(null)", rc);
  CHECK(memcmp(&s, &before, sizeof s) == 0);
  CHECK(nb[0] == 'q');
}

static void test_parse_spec(void)
{
  static const struct {
    const char *text, *name;
    ferry_dtype dtype;
    uint32_t ndim;
    uint64_t shape[FERRY_ARRAY_MAX_DIMS];
  } good[] = {
      {"frame:f32:1000x1000", "frame", FERRY_DTYPE_F32, 2, {1000, 1000}},
      {"seq:u64", "seq", FERRY_DTYPE_U64, 0, {0}},
      {"img:uint8:480x640x3", "img", FERRY_DTYPE_U8, 3, {480, 640, 3}},
      {"a.b-c_D9:<f8:0x3", "a.b-c_D9", FERRY_DTYPE_F64, 2, {0, 3}},
      {"c:c128:3,4", "c", FERRY_DTYPE_C128, 2, {3, 4}},
      {"v:|b1:7", "v", FERRY_DTYPE_BOOL, 1, {7}},
      {"m:i16:1x2x3x4x5x6x7x8", "m", FERRY_DTYPE_I16, 8, {1, 2, 3, 4, 5, 6, 7, 8}},
      {"big:u8:18446744073709551615", "big", FERRY_DTYPE_U8, 1, {UINT64_MAX}},
      {"z:f16:007", "z", FERRY_DTYPE_F16, 1, {7}},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    ferry_array_spec s;
    char nb[FERRY_ARRAY_NAME_MAX + 1];
    int rc = ferry_array_parse_spec(good[i].text, &s, nb, sizeof nb);
    if (rc) {
      ft_fail(__FILE__, __LINE__, "parse \"%s\": %s", good[i].text, ferry_strerror(rc));
      continue;
    }
    CHECK(s.name == nb);
    CHECK(strcmp(s.name, good[i].name) == 0);
    CHECK_EQ(s.dtype, good[i].dtype);
    CHECK_EQ(s.ndim, good[i].ndim);
    for (uint32_t k = 0; k < FERRY_ARRAY_MAX_DIMS; k++)
      CHECK(s.shape[k] == (k < s.ndim ? good[i].shape[k] : 0));
  }

  char longname[FERRY_ARRAY_NAME_MAX + 16];
  memset(longname, 'n', FERRY_ARRAY_NAME_MAX + 1);
  strcpy(longname + FERRY_ARRAY_NAME_MAX + 1, ":f32:1");
  static const char *bad[] = {
      "", "frame", "frame:", ":f32:1", "frame:f33:1", "frame:f32:", "frame:f32:1x",
      "frame:f32:x1", "frame:f32:1xx2", "frame:f32:1x2x3x4x5x6x7x8x9", "frame:f32:-1",
      "frame:f32:+1", "frame:f32: 1", "frame:f32:1 ", "frame:f32:18446744073709551616",
      "frame:f32:99999999999999999999999", "fr ame:f32:1", "fr/ame:f32:1", "frame:f32:1:2",
      "frame::1", "frame:f32:1X2", "frame:f32:0x", "frame:verylongdtypename:1", "frame:f32:1;2",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_parse_fails(bad[i]);
  check_parse_fails(longname);
  check_parse_fails(NULL);

  /* A 63-character name is the longest; the buffer must hold it. */
  char maxname[FERRY_ARRAY_NAME_MAX + 16];
  memset(maxname, 'm', FERRY_ARRAY_NAME_MAX);
  strcpy(maxname + FERRY_ARRAY_NAME_MAX, ":i32:2");
  ferry_array_spec s;
  char nb[FERRY_ARRAY_NAME_MAX + 1];
  CHECK_OK(ferry_array_parse_spec(maxname, &s, nb, sizeof nb));
  CHECK_EQ(strlen(nb), FERRY_ARRAY_NAME_MAX);
  char small[5] = "qqqq";
  CHECK_RC(ferry_array_parse_spec("frame:f32:2", &s, small, sizeof small), -ENOBUFS);
  CHECK(small[0] == 'q');
  CHECK_OK(ferry_array_parse_spec("fram:f32:2", &s, small, sizeof small));
  CHECK(strcmp(small, "fram") == 0);
}

/* ---- one region, many processes ---------------------------------------------------- */

#define NCHILD 3

static void test_create_open_fork(void)
{
  /* Seed 000's three batches, and one of every awkward kind of array. */
  const ferry_array_spec specs[] = {
      {"batch0", FERRY_DTYPE_F32, 2, {1000, 1000}},
      {"batch1", FERRY_DTYPE_F32, 2, {1000, 1500}},
      {"batch2", FERRY_DTYPE_F32, 2, {1000, 2000}},
      {"seq", FERRY_DTYPE_U64, 0, {0}},
      {"odd", FERRY_DTYPE_U8, 1, {3}},
      {"cube", FERRY_DTYPE_C128, 3, {2, 3, 5}},
      {"empty", FERRY_DTYPE_F64, 3, {4, 0, 3}},
      {"flags", FERRY_DTYPE_BOOL, 1, {7}},
      {"half", FERRY_DTYPE_F16, 2, {5, 1}},
      {"deep", FERRY_DTYPE_I16, 8, {1, 2, 1, 3, 1, 2, 1, 3}},
      {"results", FERRY_DTYPE_I64, 1, {NCHILD}},
  };
  const size_t n = sizeof specs / sizeof specs[0];
  const size_t results = n - 1;
  char name[64];
  ft_name(name, sizeof name, "arr");

  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, specs, n, NULL, &a));
  CHECK(shm_exists(name));
  ferry_region *r = ferry_array_region(a);
  CHECK_EQ(ferry_region_kind(r), FERRY_KIND_ARRAY);
  const ferry_frame *f = ferry_array_frame(a);
  CHECK_EQ(ferry_frame_count(f), n);
  uint64_t frame_bytes = ferry_frame_bytes(f);
  CHECK_EQ(frame_bytes % FERRY_ARRAY_ALIGN, 0);

  /* Fill, and remember what every array should hold. */
  uint64_t sums[sizeof specs / sizeof specs[0]];
  uint8_t *obj = ferry_region_data(r);
  for (size_t i = 0; i < n; i++) {
    ferry_array v;
    REQUIRE_OK(ferry_frame_array_at(f, i, &v));
    check_view(&v, &specs[i]);
    CHECK((uint8_t *)v.data >= obj);
    CHECK((uint8_t *)v.data + v.nbytes <= obj + ferry_region_data_size(r));
    /* zeroed at create */
    for (size_t b = 0; b < v.nbytes; b += 4093)
      CHECK(((uint8_t *)v.data)[b] == 0);
    if (i != results)
      fill(&v, i + 1);
    sums[i] = fnv64(v.data, v.nbytes);
  }

  pid_t kids[NCHILD];
  for (int c = 0; c < NCHILD; c++) {
    kids[c] = ft_fork();
    if (kids[c] == 0) {
      ferry_arrays *b;
      int rc = ferry_array_open(name, NULL, &b);
      CHECK_OK(rc);
      if (rc)
        ft_child_exit();
      const ferry_frame *g = ferry_array_frame(b);
      CHECK_EQ(ferry_frame_count(g), n);
      CHECK_EQ(ferry_frame_bytes(g), frame_bytes);
      CHECK(ferry_region_slot(ferry_array_region(b)) >= 0);
      for (size_t i = 0; i < n; i++) {
        ferry_array v, w;
        if (ferry_frame_array_at(g, i, &v) != 0) {
          CHECK(0);
          continue;
        }
        check_view(&v, &specs[i]);
        CHECK_OK(ferry_array_get(b, specs[i].name, &w));
        CHECK(w.data == v.data && w.name == v.name);
        if (i != results)
          CHECK(fnv64(v.data, v.nbytes) == sums[i]);
      }
      ferry_array res;
      CHECK_OK(ferry_array_get(b, "results", &res));
      if (res.data)
        ((int64_t *)res.data)[c] = 1000 + c;
      ferry_array_close(b);
      ft_child_exit();
    }
  }
  for (int c = 0; c < NCHILD; c++)
    ft_wait_ok(kids[c], 30000);

  /* What the children wrote is what the creator sees. */
  ferry_array res;
  REQUIRE_OK(ferry_array_get(a, "results", &res));
  for (int c = 0; c < NCHILD; c++)
    CHECK_EQ(((int64_t *)res.data)[c], 1000 + c);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
}

/* A handle inherited through fork belongs to the parent: in the child its
 * calls say FERRY_EFORKED, and closing it leaves the parent registered;
 * the child opens the arrays by name instead. */
static void test_inherited_handle(void)
{
  const ferry_array_spec spec = {"v", FERRY_DTYPE_U32, 1, {16}};
  char name[64];
  ft_name(name, sizeof name, "arr");
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, &spec, 1, NULL, &a));
  ferry_region_info before;
  REQUIRE_OK(ferry_region_info_get(ferry_array_region(a), &before));
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_array v;
    CHECK_RC(ferry_array_get(a, "v", &v), FERRY_EFORKED);
    ferry_array_close(a);
    ferry_arrays *b;
    CHECK_OK(ferry_array_open(name, NULL, &b));
    CHECK_OK(ferry_array_get(b, "v", &v));
    if (v.data)
      ((uint32_t *)v.data)[3] = 77;
    ferry_array_close(b);
    ft_child_exit();
  }
  ft_wait_ok(kid, 30000);
  ferry_region_info after;
  CHECK_OK(ferry_region_info_get(ferry_array_region(a), &after));
  CHECK_EQ(after.live, before.live); /* the child's close left us in */
  ferry_array v;
  CHECK_OK(ferry_array_get(a, "v", &v));
  CHECK_EQ(((uint32_t *)v.data)[3], 77);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- views --------------------------------------------------------------------- */

static void test_views(void)
{
  const ferry_array_spec specs[] = {
      {"scalar", FERRY_DTYPE_F64, 0, {0}},
      {"empty", FERRY_DTYPE_F64, 3, {4, 0, 3}},
      {"m", FERRY_DTYPE_I32, 2, {3, 5}},
  };
  char name[64];
  ft_name(name, sizeof name, "view");
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, specs, 3, NULL, &a));
  ferry_array v;
  REQUIRE_OK(ferry_array_get(a, "scalar", &v));
  CHECK_EQ(v.ndim, 0);
  CHECK_EQ(v.count, 1);
  CHECK_EQ(v.nbytes, 8);
  for (int k = 0; k < FERRY_ARRAY_MAX_DIMS; k++)
    CHECK(v.shape[k] == 0 && v.strides[k] == 0);

  /* numpy: np.empty((4, 0, 3)).strides == (24, 24, 8) */
  REQUIRE_OK(ferry_array_get(a, "empty", &v));
  CHECK_EQ(v.count, 0);
  CHECK_EQ(v.nbytes, 0);
  CHECK_EQ(v.strides[0], 24);
  CHECK_EQ(v.strides[1], 24);
  CHECK_EQ(v.strides[2], 8);
  CHECK_EQ((uintptr_t)v.data % FERRY_ARRAY_ALIGN, 0);

  REQUIRE_OK(ferry_array_get(a, "m", &v));
  CHECK_EQ(v.strides[0], 20);
  CHECK_EQ(v.strides[1], 4);
  CHECK_EQ(v.count, 15);

  /* Unknown names and indices: -ENOENT, view untouched. */
  ferry_array before;
  memset(&v, 0x3c, sizeof v);
  before = v;
  CHECK_RC(ferry_array_get(a, "nope", &v), -ENOENT);
  CHECK_RC(ferry_array_get(a, "", &v), -ENOENT);
  CHECK_RC(ferry_array_get(a, "M", &v), -ENOENT);
  CHECK_RC(ferry_frame_array_at(ferry_array_frame(a), 3, &v), -ENOENT);
  CHECK_RC(ferry_frame_array_at(ferry_array_frame(a), SIZE_MAX, &v), -ENOENT);
  CHECK(memcmp(&v, &before, sizeof v) == 0);

  ferry_array_close(a);
  ferry_array_close(NULL);
  CHECK_OK(ferry_unlink(name));
}

/* ---- alignment ------------------------------------------------------------------ */

static void test_alignment(void)
{
  /* 64 arrays of sizes that are not multiples of 64, of every dtype. */
  ferry_array_spec specs[FERRY_ARRAY_MAX_COUNT];
  char names[FERRY_ARRAY_MAX_COUNT][16];
  for (int i = 0; i < FERRY_ARRAY_MAX_COUNT; i++) {
    snprintf(names[i], sizeof names[i], "a%d", i);
    memset(&specs[i], 0, sizeof specs[i]);
    specs[i].name = names[i];
    specs[i].dtype = (ferry_dtype)(i % FERRY_DTYPE_COUNT);
    specs[i].ndim = (uint32_t)(i % 3);
    for (uint32_t k = 0; k < specs[i].ndim; k++)
      specs[i].shape[k] = (uint64_t)(i + 1 + k);
  }
  char name[64];
  ft_name(name, sizeof name, "align");
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, specs, FERRY_ARRAY_MAX_COUNT, NULL, &a));

  ferry_arrays *b;
  REQUIRE_OK(ferry_array_open(name, NULL, &b));
  uint8_t *obj_a = ferry_region_data(ferry_array_region(a));
  uint8_t *obj_b = ferry_region_data(ferry_array_region(b));
  size_t size = ferry_region_data_size(ferry_array_region(a));
  CHECK_EQ((uintptr_t)obj_a % FERRY_ARRAY_ALIGN, 0);
  uint8_t *prev_end = obj_a;
  for (size_t i = 0; i < FERRY_ARRAY_MAX_COUNT; i++) {
    ferry_array v, w;
    REQUIRE_OK(ferry_frame_array_at(ferry_array_frame(a), i, &v));
    REQUIRE_OK(ferry_frame_array_at(ferry_array_frame(b), i, &w));
    check_view(&v, &specs[i]);
    check_view(&w, &specs[i]);
    uint8_t *p = v.data;
    CHECK_EQ((uintptr_t)p % FERRY_ARRAY_ALIGN, 0);
    CHECK(p >= prev_end); /* in order, no overlap */
    CHECK(p + v.nbytes <= obj_a + size);
    /* Same offset in both mappings. */
    CHECK_EQ(p - obj_a, (uint8_t *)w.data - obj_b);
    prev_end = p + v.nbytes;
  }
  ferry_array_close(b);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));

  /* One too many. */
  ferry_array_spec more[FERRY_ARRAY_MAX_COUNT + 1];
  memcpy(more, specs, sizeof specs);
  more[FERRY_ARRAY_MAX_COUNT] = (ferry_array_spec){"extra", FERRY_DTYPE_U8, 1, {1}};
  check_create_fails(ft_name(name, sizeof name, "align"), more, FERRY_ARRAY_MAX_COUNT + 1, NULL,
                     -EINVAL);
}

/* ---- bad input ---------------------------------------------------------------- */

static void test_bad_inputs(void)
{
  char name[64];
  const ferry_array_spec one = {"x", FERRY_DTYPE_F32, 1, {4}};
  ferry_array_spec s;

  check_create_fails(ft_name(name, sizeof name, "bad"), &one, 0, NULL, -EINVAL);
  check_create_fails(ft_name(name, sizeof name, "bad"), NULL, 1, NULL, -EINVAL);

  char n64[FERRY_ARRAY_NAME_MAX + 2];
  memset(n64, 'a', FERRY_ARRAY_NAME_MAX + 1);
  n64[FERRY_ARRAY_NAME_MAX + 1] = '\0';
  static const char *bad_names[] = {"", "a b", "a/b", "a:b", "caf\xc3\xa9", "tab\t", "x*"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0] + 2; i++) {
    s = one;
    if (i < sizeof bad_names / sizeof bad_names[0])
      s.name = bad_names[i];
    else /* then the two that a literal list cannot hold */
      s.name = i == sizeof bad_names / sizeof bad_names[0] ? n64 : NULL;
    check_create_fails(ft_name(name, sizeof name, "bad"), &s, 1, NULL, -EINVAL);
  }

  const ferry_array_spec dup[] = {{"x", FERRY_DTYPE_F32, 1, {4}},
                                  {"y", FERRY_DTYPE_F32, 1, {4}},
                                  {"x", FERRY_DTYPE_U8, 0, {0}}};
  check_create_fails(ft_name(name, sizeof name, "bad"), dup, 3, NULL, -EINVAL);

  const int bad_dtypes[] = {FERRY_DTYPE_COUNT, -1, 99, 1 << 20};
  for (size_t i = 0; i < sizeof bad_dtypes / sizeof bad_dtypes[0]; i++) {
    s = one;
    s.dtype = (ferry_dtype)bad_dtypes[i];
    check_create_fails(ft_name(name, sizeof name, "bad"), &s, 1, NULL, -EINVAL);
  }
  s = one;
  s.ndim = FERRY_ARRAY_MAX_DIMS + 1;
  check_create_fails(ft_name(name, sizeof name, "bad"), &s, 1, NULL, -EINVAL);
  s.ndim = UINT32_MAX;
  check_create_fails(ft_name(name, sizeof name, "bad"), &s, 1, NULL, -EINVAL);

  /* A bad spec is reported before a size that overflows, wherever it is. */
  const ferry_array_spec mixed[] = {{"big", FERRY_DTYPE_F64, 2, {1ull << 40, 1ull << 40}},
                                    {"bad name", FERRY_DTYPE_F32, 1, {4}}};
  check_create_fails(ft_name(name, sizeof name, "bad"), mixed, 2, NULL, -EINVAL);

  /* Bad region names and options come from the region layer. */
  check_create_fails("bad/name", &one, 1, NULL, -EINVAL);
  check_create_fails("", &one, 1, NULL, -EINVAL);
  ferry_array_options o;
  ferry_array_options_init(&o);
  o.region.max_participants = 0;
  check_create_fails(ft_name(name, sizeof name, "bad"), &one, 1, &o, -EINVAL);
  ferry_array_options_init(&o);
  o.region.liveness_ns = -1;
  check_create_fails(ft_name(name, sizeof name, "bad"), &one, 1, &o, -EINVAL);

  /* A name already taken: -EEXIST, and the first region is unharmed. */
  ferry_arrays *a;
  ft_name(name, sizeof name, "bad");
  REQUIRE_OK(ferry_array_create(name, &one, 1, NULL, &a));
  ferry_arrays *sentinel = (ferry_arrays *)(uintptr_t)0x5a5a, *b = sentinel;
  const ferry_array_spec other = {"y", FERRY_DTYPE_U8, 1, {100}};
  CHECK_RC(ferry_array_create(name, &other, 1, NULL, &b), -EEXIST);
  CHECK(b == sentinel);
  REQUIRE_OK(ferry_array_open(name, NULL, &b));
  ferry_array v;
  CHECK_OK(ferry_array_get(b, "x", &v));
  CHECK_RC(ferry_array_get(b, "y", &v), -ENOENT);
  ferry_array_close(b);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));

  /* A 63-character name is the longest allowed. */
  char n63[FERRY_ARRAY_NAME_MAX + 1];
  memset(n63, 'z', FERRY_ARRAY_NAME_MAX);
  n63[FERRY_ARRAY_NAME_MAX] = '\0';
  s = one;
  s.name = n63;
  ft_name(name, sizeof name, "bad");
  REQUIRE_OK(ferry_array_create(name, &s, 1, NULL, &a));
  CHECK_OK(ferry_array_get(a, n63, &v));
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));

  /* Opening what is not there. */
  b = sentinel;
  CHECK_RC(ferry_array_open(ft_name(name, sizeof name, "none"), NULL, &b), -ENOENT);
  CHECK_RC(ferry_array_open("bad/name", NULL, &b), -EINVAL);
  CHECK(b == sentinel);
}

/* ---- overflow ------------------------------------------------------------------ */

static void test_overflow(void)
{
  const uint64_t big = UINT64_C(1) << 62;
  const ferry_array_spec cases[][2] = {
      /* 2^80 elements */
      {{"a", FERRY_DTYPE_F64, 2, {1ull << 40, 1ull << 40}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* 2^62 elements of 8 bytes: 2^65 bytes */
      {{"a", FERRY_DTYPE_F64, 1, {big}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* 2^63 bytes: fits in 64 bits, not in ptrdiff_t */
      {{"a", FERRY_DTYPE_F64, 1, {1ull << 60}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      {{"a", FERRY_DTYPE_U8, 1, {UINT64_MAX}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* empty, but its strides would overflow */
      {{"a", FERRY_DTYPE_U8, 3, {0, big, big}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* empty, with an outer stride of 2^63: above PTRDIFF_MAX */
      {{"a", FERRY_DTYPE_U8, 2, {0, 1ull << 63}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* 2^64 elements over 8 dimensions */
      {{"a", FERRY_DTYPE_U8, 8, {256, 256, 256, 256, 256, 256, 256, 256}},
       {"b", FERRY_DTYPE_U8, 1, {1}}},
      /* each fits, together they do not: 2^62 + 2^62 bytes */
      {{"a", FERRY_DTYPE_F64, 1, {1ull << 59}}, {"b", FERRY_DTYPE_F64, 1, {1ull << 59}}},
      /* both fit; the frame's final padding to 64 bytes does not */
      {{"a", FERRY_DTYPE_U8, 1, {(uint64_t)PTRDIFF_MAX - 64}}, {"b", FERRY_DTYPE_U8, 1, {1}}},
  };
  char name[64];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t tb = 12345;
    uint64_t fb = 12345;
    CHECK_RC(ferry__schema_size(cases[i], 2, &tb, &fb), -EOVERFLOW);
    CHECK(tb == 12345 && fb == 12345);
    check_create_fails(ft_name(name, sizeof name, "ovf"), cases[i], 2, NULL, -EOVERFLOW);
  }

  /* The limits themselves. */
  size_t tb;
  uint64_t fb;
  ferry_array_spec s = {"a", FERRY_DTYPE_F64, 1, {1ull << 59}};
  CHECK_OK(ferry__schema_size(&s, 1, &tb, &fb));
  CHECK(fb == big);
  CHECK_EQ(tb, FERRY__SCHEMA_HDR_SIZE + FERRY__SCHEMA_DESC_SIZE);
  s = (ferry_array_spec){"a", FERRY_DTYPE_U8, 1, {(uint64_t)PTRDIFF_MAX - 63}};
  CHECK_OK(ferry__schema_size(&s, 1, &tb, &fb));
  CHECK(fb == (uint64_t)PTRDIFF_MAX - 63);
  s.shape[0]++;
  CHECK_RC(ferry__schema_size(&s, 1, &tb, &fb), -EOVERFLOW);
  /* numpy allows a zero next to a huge dimension if the product fits */
  s = (ferry_array_spec){"a", FERRY_DTYPE_U8, 3, {0, 1ull << 31, 1ull << 31}};
  CHECK_OK(ferry__schema_size(&s, 1, &tb, &fb));
  CHECK(fb == 0);
}

/* ---- the schema on its own (as the bus will use it) ------------------------------ */

static void test_schema_private_copy(void)
{
  const ferry_array_spec specs[] = {
      {"img", FERRY_DTYPE_U8, 3, {48, 64, 3}},
      {"ts", FERRY_DTYPE_I64, 0, {0}},
      {"xyz", FERRY_DTYPE_F32, 2, {100, 3}},
  };
  size_t tb;
  uint64_t fb;
  REQUIRE_OK(ferry__schema_size(specs, 3, &tb, &fb));
  CHECK_EQ(tb, FERRY__SCHEMA_HDR_SIZE + 3 * FERRY__SCHEMA_DESC_SIZE);
  /* 9216 -> 9216, +8 -> 9280 (next 64), +1200 -> 10480 -> 10496 */
  CHECK_EQ(fb, 10496);

  uint64_t *table = calloc(1, tb);
  REQUIRE(table);
  memset(table, 0xee, tb);
  CHECK_RC(ferry__schema_write(table, tb - 1, specs, 3), -ENOBUFS);
  CHECK(((uint8_t *)table)[0] == 0xee);
  CHECK_RC(ferry__schema_write(table, tb, specs, 0), -EINVAL);
  REQUIRE_OK(ferry__schema_write(table, tb, specs, 3));
  size_t tb2;
  uint64_t fb2;
  CHECK_OK(ferry__schema_validate(table, tb, &tb2, &fb2));
  CHECK_EQ(tb2, tb);
  CHECK_EQ(fb2, fb);
  CHECK_RC(ferry__schema_validate(table, tb - 1, NULL, NULL), FERRY_ECORRUPT);
  CHECK_RC(ferry__schema_validate(table, 63, NULL, NULL), FERRY_ECORRUPT);
  CHECK_RC(ferry__schema_validate(table, 0, NULL, NULL), FERRY_ECORRUPT);

  /* A copy at another address is as good as the original: two frames of
   * data over one copied table, as the bus lays them out. */
  uint64_t *copy = malloc(tb);
  REQUIRE(copy);
  memcpy(copy, table, tb);
  memset(table, 0, tb);
  REQUIRE_OK(ferry__schema_validate(copy, tb, NULL, NULL));
  uint8_t *data = aligned_alloc(FERRY_ARRAY_ALIGN, 2 * fb);
  REQUIRE(data);
  struct ferry_frame fr[2];
  for (int k = 0; k < 2; k++)
    ferry__frame_view_init(&fr[k], copy, data + k * fb);
  for (size_t i = 0; i < 3; i++) {
    ferry_array v0, v1;
    REQUIRE_OK(ferry_frame_array_at(&fr[0], i, &v0));
    REQUIRE_OK(ferry_frame_array_at(&fr[1], i, &v1));
    check_view(&v0, &specs[i]);
    check_view(&v1, &specs[i]);
    CHECK_EQ((uint8_t *)v1.data - (uint8_t *)v0.data, fb);
    CHECK((uint8_t *)v0.data + v0.nbytes <= data + fb);
  }
  CHECK_EQ(ferry_frame_count(&fr[1]), 3);
  CHECK_EQ(ferry_frame_bytes(&fr[1]), fb);
  free(data);
  free(copy);
  free(table);
}

/*
 * Random corruption of a valid table, with the checksum usually repaired
 * so that the field checks are what is tested. Every table validate()
 * accepts must give in-bounds views; nothing may crash (ASan watches).
 */
static void test_schema_fuzz(void)
{
  static uint64_t good[FERRY__SCHEMA_MAX_BYTES / 8], t[FERRY__SCHEMA_MAX_BYTES / 8];
  const ferry_array_spec specs[] = {
      {"a", FERRY_DTYPE_F32, 2, {10, 20}}, {"b", FERRY_DTYPE_U8, 1, {3}},
      {"c", FERRY_DTYPE_C128, 0, {0}},     {"d", FERRY_DTYPE_I16, 3, {2, 0, 5}},
      {"e", FERRY_DTYPE_F64, 1, {7}},
  };
  const size_t n = sizeof specs / sizeof specs[0];
  REQUIRE_OK(ferry__schema_write(good, sizeof good, specs, n));
  struct ferry__schema_hdr *h = (struct ferry__schema_hdr *)t;
  uint64_t rng = 42;
  int accepted = 0, rejected = 0;
  const uint64_t nasty[] = {0, 1, 63, 64, 65, 4096, UINT32_MAX, (uint64_t)PTRDIFF_MAX,
                            (uint64_t)PTRDIFF_MAX + 1, UINT64_MAX - 63, UINT64_MAX};
  for (int it = 0; it < 50000; it++) {
    memcpy(t, good, sizeof t);
    int muts = 1 + (int)(ft_rand(&rng) % 4);
    for (int m = 0; m < muts; m++) {
      uint64_t r = ft_rand(&rng);
      struct ferry__schema_desc *d = &h->desc[r % n];
      uint64_t val = nasty[(r >> 8) % (sizeof nasty / sizeof nasty[0])];
      switch ((r >> 16) % 9) {
      case 0: /* a random byte anywhere in the used table */
        ((uint8_t *)t)[(r >> 24) % (FERRY__SCHEMA_HDR_SIZE + n * FERRY__SCHEMA_DESC_SIZE)] =
            (uint8_t)(r >> 40);
        break;
      case 1:
        d->dtype = (uint32_t)((r >> 24) % 20);
        break;
      case 2:
        d->ndim = (uint32_t)((r >> 24) % 12);
        break;
      case 3:
        d->shape[(r >> 24) % FERRY_ARRAY_MAX_DIMS] = (r >> 32) % 2 ? val : (r >> 40) % 64;
        break;
      case 4:
        d->offset = (r >> 32) % 2 ? val : d->offset + ((r >> 40) % 256) - 128;
        break;
      case 5:
        d->nbytes = (r >> 32) % 2 ? val : d->nbytes + ((r >> 40) % 16) - 8;
        break;
      case 6:
        h->frame_bytes = (r >> 32) % 2 ? val : h->frame_bytes + ((r >> 40) % 256) - 128;
        break;
      case 7:
        h->count = (uint32_t)((r >> 24) % 70);
        break;
      case 8: /* names: another array's name, or no terminator */
        if ((r >> 24) % 2)
          memcpy(d->name, h->desc[(r >> 32) % n].name, sizeof d->name);
        else
          memset(d->name, 'q', sizeof d->name);
        break;
      }
    }
    if (ft_rand(&rng) % 4 != 0 && h->count >= 1 && h->count <= FERRY_ARRAY_MAX_COUNT)
      h->checksum = ferry__schema_checksum(h);
    uint64_t fb = 0;
    int rc = ferry__schema_validate(t, sizeof t, NULL, &fb);
    if (rc != 0) {
      if (rc != FERRY_ECORRUPT && rc != FERRY_EVERSION) {
        ft_fail(__FILE__, __LINE__, "iteration %d: rc %d", it, rc);
        break;
      }
      rejected++;
      continue;
    }
    accepted++;
    /* Accepted: every view lies inside the frame, in order. */
    static uint8_t base[64] __attribute__((aligned(64)));
    struct ferry_frame fr;
    ferry__frame_view_init(&fr, t, base);
    uint64_t end = 0;
    bool ok = fb % FERRY_ARRAY_ALIGN == 0;
    for (size_t i = 0; ok && i < ferry_frame_count(&fr); i++) {
      ferry_array v;
      if (ferry_frame_array_at(&fr, i, &v) != 0) {
        ok = false;
        break;
      }
      uint64_t off = (uint64_t)((uint8_t *)v.data - base);
      ok = ok && off % FERRY_ARRAY_ALIGN == 0 && off >= end && off + v.nbytes <= fb &&
           v.nbytes == v.count * v.itemsize && v.itemsize == ferry_dtype_size(v.dtype) &&
           v.ndim <= FERRY_ARRAY_MAX_DIMS && strlen(v.name) <= FERRY_ARRAY_NAME_MAX;
      end = off + v.nbytes;
    }
    if (!ok) {
      ft_fail(__FILE__, __LINE__, "iteration %d: accepted a bad table", it);
      break;
    }
  }
  CHECK(rejected > 1000);
  CHECK(accepted > 0); /* some mutations are harmless (e.g. a shape made consistent) */

  /* Pure garbage, with and without a plausible header in front. */
  for (int it = 0; it < 2000; it++) {
    for (size_t i = 0; i < sizeof t / 8; i++)
      t[i] = ft_rand(&rng);
    if (it % 2) {
      h->magic = FERRY__SCHEMA_MAGIC;
      h->version_major = FERRY__SCHEMA_VERSION_MAJOR;
      h->count = 1 + (uint32_t)(ft_rand(&rng) % FERRY_ARRAY_MAX_COUNT);
      h->checksum = ferry__schema_checksum(h);
    }
    int rc = ferry__schema_validate(t, sizeof t, NULL, NULL);
    if (rc != FERRY_ECORRUPT) {
      ft_fail(__FILE__, __LINE__, "garbage %d accepted: %d", it, rc);
      break;
    }
  }
}

/* ---- corrupted regions ------------------------------------------------------------ */

/* The object area's parts, seen through a writable mapping. */
static struct ferry__array_hdr *ahdr(uint8_t *obj)
{
  return (struct ferry__array_hdr *)obj;
}
static struct ferry__schema_hdr *shdr(uint8_t *obj)
{
  return (struct ferry__schema_hdr *)(obj + FERRY__ARRAY_HDR_SIZE);
}
static void fix_a(uint8_t *obj)
{
  ahdr(obj)->checksum = ferry__array_hdr_checksum(ahdr(obj));
}
static void fix_s(uint8_t *obj)
{
  shdr(obj)->checksum = ferry__schema_checksum(shdr(obj));
}

static void m_amagic(uint8_t *o) { ahdr(o)->magic ^= 0x10; }
static void m_aversion(uint8_t *o) { ahdr(o)->version_major = 2, fix_a(o); }
/* Bytes only the checksums guard: reserved, ignored by every other check. */
static void m_achecksum(uint8_t *o) { ahdr(o)->reserved0 = 1; }
static void m_adata_far(uint8_t *o) { ahdr(o)->data_offset = UINT64_C(1) << 40, fix_a(o); }
static void m_adata_huge(uint8_t *o) { ahdr(o)->data_offset = UINT64_MAX - 63, fix_a(o); }
static void m_adata_unaligned(uint8_t *o) { ahdr(o)->data_offset += 8, fix_a(o); }
static void m_adata_low(uint8_t *o) { ahdr(o)->data_offset = 64, fix_a(o); }
static void m_adata_short(uint8_t *o) { ahdr(o)->data_offset -= 64, fix_a(o); }
static void m_ahdr_zero(uint8_t *o) { ahdr(o)->header_size = 0, fix_a(o); }
static void m_ahdr_big(uint8_t *o) { ahdr(o)->header_size = UINT32_MAX - 63, fix_a(o); }
/* Self-consistent except for the alignment rule: the table moved along. */
static void m_ahdr_unaligned(uint8_t *o)
{
  size_t tb = FERRY__SCHEMA_HDR_SIZE + FERRY__SCHEMA_DESC_SIZE * shdr(o)->count;
  memmove(o + FERRY__ARRAY_HDR_SIZE + 8, o + FERRY__ARRAY_HDR_SIZE, tb);
  ahdr(o)->header_size = FERRY__ARRAY_HDR_SIZE + 8;
  fix_a(o);
}
static void m_smagic(uint8_t *o) { shdr(o)->magic = 0, fix_s(o); }
static void m_sversion(uint8_t *o) { shdr(o)->version_major = 7, fix_s(o); }
static void m_schecksum(uint8_t *o) { shdr(o)->desc[1].reserved = 1; }
static void m_schecksum_name(uint8_t *o) { shdr(o)->desc[1].name[0] = 'z'; }
static void m_count0(uint8_t *o) { shdr(o)->count = 0, fix_s(o); }
static void m_count65(uint8_t *o) { shdr(o)->count = FERRY_ARRAY_MAX_COUNT + 1; }
static void m_count_huge(uint8_t *o) { shdr(o)->count = UINT32_MAX; }
static void m_count_more(uint8_t *o) { shdr(o)->count = 4, fix_s(o); }
static void m_name_nonul(uint8_t *o)
{
  memset(shdr(o)->desc[0].name, 'a', sizeof shdr(o)->desc[0].name);
  fix_s(o);
}
static void m_name_empty(uint8_t *o) { shdr(o)->desc[2].name[0] = 0, fix_s(o); }
static void m_name_char(uint8_t *o) { shdr(o)->desc[0].name[0] = ' ', fix_s(o); }
static void m_name_dup(uint8_t *o)
{
  memcpy(shdr(o)->desc[2].name, shdr(o)->desc[0].name, sizeof shdr(o)->desc[0].name);
  fix_s(o);
}
static void m_dtype(uint8_t *o) { shdr(o)->desc[0].dtype = FERRY_DTYPE_COUNT, fix_s(o); }
static void m_dtype_size(uint8_t *o) { shdr(o)->desc[0].dtype = FERRY_DTYPE_F64, fix_s(o); }
static void m_ndim(uint8_t *o) { shdr(o)->desc[0].ndim = 9, fix_s(o); }
static void m_ndim_less(uint8_t *o) { shdr(o)->desc[0].ndim = 1, fix_s(o); }
static void m_shape(uint8_t *o) { shdr(o)->desc[0].shape[1] = 21, fix_s(o); }
static void m_shape_unused(uint8_t *o) { shdr(o)->desc[1].shape[5] = 1, fix_s(o); }
static void m_shape_ovf(uint8_t *o)
{
  shdr(o)->desc[0].shape[0] = UINT64_C(1) << 40;
  shdr(o)->desc[0].shape[1] = UINT64_C(1) << 40;
  fix_s(o);
}
static void m_nbytes(uint8_t *o) { shdr(o)->desc[1].nbytes = 0, fix_s(o); }
static void m_off_unaligned(uint8_t *o) { shdr(o)->desc[1].offset += 4, fix_s(o); }
static void m_off_overlap(uint8_t *o) { shdr(o)->desc[1].offset = 0, fix_s(o); }
static void m_off_past(uint8_t *o) { shdr(o)->desc[2].offset = shdr(o)->frame_bytes, fix_s(o); }
static void m_off_wrap(uint8_t *o) { shdr(o)->desc[2].offset = UINT64_MAX - 63, fix_s(o); }
static void m_frame_short(uint8_t *o) { shdr(o)->frame_bytes -= 64, fix_s(o); }
static void m_frame_unaligned(uint8_t *o) { shdr(o)->frame_bytes += 1, fix_s(o); }
static void m_frame_big(uint8_t *o) { shdr(o)->frame_bytes += 1 << 20, fix_s(o); }
static void m_frame_huge(uint8_t *o) { shdr(o)->frame_bytes = UINT64_MAX - 63, fix_s(o); }

static void test_corrupt_region(void)
{
  const ferry_array_spec specs[] = {
      {"a", FERRY_DTYPE_F32, 2, {10, 20}},
      {"b", FERRY_DTYPE_U8, 1, {3}},
      {"c", FERRY_DTYPE_I64, 0, {0}},
  };
  static const struct {
    const char *what;
    void (*mutate)(uint8_t *obj);
    int want;
  } cases[] = {
      {"array magic", m_amagic, FERRY_ECORRUPT},
      {"array version", m_aversion, FERRY_EVERSION},
      {"array checksum", m_achecksum, FERRY_ECORRUPT},
      {"data_offset far", m_adata_far, FERRY_ECORRUPT},
      {"data_offset huge", m_adata_huge, FERRY_ECORRUPT},
      {"data_offset unaligned", m_adata_unaligned, FERRY_ECORRUPT},
      {"data_offset below table", m_adata_low, FERRY_ECORRUPT},
      {"data_offset cuts table", m_adata_short, FERRY_ECORRUPT},
      {"header_size 0", m_ahdr_zero, FERRY_ECORRUPT},
      {"header_size huge", m_ahdr_big, FERRY_ECORRUPT},
      {"header_size unaligned", m_ahdr_unaligned, FERRY_ECORRUPT},
      {"schema magic", m_smagic, FERRY_ECORRUPT},
      {"schema version", m_sversion, FERRY_EVERSION},
      {"schema checksum", m_schecksum, FERRY_ECORRUPT},
      {"schema checksum (name)", m_schecksum_name, FERRY_ECORRUPT},
      {"count 0", m_count0, FERRY_ECORRUPT},
      {"count 65", m_count65, FERRY_ECORRUPT},
      {"count huge", m_count_huge, FERRY_ECORRUPT},
      {"count beyond table", m_count_more, FERRY_ECORRUPT},
      {"name without NUL", m_name_nonul, FERRY_ECORRUPT},
      {"name empty", m_name_empty, FERRY_ECORRUPT},
      {"name bad char", m_name_char, FERRY_ECORRUPT},
      {"name duplicate", m_name_dup, FERRY_ECORRUPT},
      {"dtype", m_dtype, FERRY_ECORRUPT},
      {"dtype of another size", m_dtype_size, FERRY_ECORRUPT},
      {"ndim 9", m_ndim, FERRY_ECORRUPT},
      {"ndim smaller", m_ndim_less, FERRY_ECORRUPT},
      {"shape", m_shape, FERRY_ECORRUPT},
      {"unused shape entry", m_shape_unused, FERRY_ECORRUPT},
      {"shape overflow", m_shape_ovf, FERRY_ECORRUPT},
      {"nbytes", m_nbytes, FERRY_ECORRUPT},
      {"offset unaligned", m_off_unaligned, FERRY_ECORRUPT},
      {"offset overlap", m_off_overlap, FERRY_ECORRUPT},
      {"offset past frame", m_off_past, FERRY_ECORRUPT},
      {"offset wraps", m_off_wrap, FERRY_ECORRUPT},
      {"frame_bytes short", m_frame_short, FERRY_ECORRUPT},
      {"frame_bytes unaligned", m_frame_unaligned, FERRY_ECORRUPT},
      {"frame_bytes beyond region", m_frame_big, FERRY_ECORRUPT},
      {"frame_bytes huge", m_frame_huge, FERRY_ECORRUPT},
  };
  char name[64];
  ft_name(name, sizeof name, "corrupt");
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, specs, 3, NULL, &a));
  ferry_array va;
  REQUIRE_OK(ferry_array_get(a, "a", &va));
  for (size_t i = 0; i < va.count; i++)
    ((float *)va.data)[i] = (float)i;

  /* A second, RAW-kind view of the same bytes: how a scribbling peer sees
   * them. */
  ferry_region *raw;
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_ANY, NULL, &raw));
  uint8_t *obj = ferry_region_data(raw);
  size_t keep = (size_t)ahdr(obj)->data_offset;
  uint8_t *saved = malloc(keep);
  REQUIRE(saved);
  memcpy(saved, obj, keep);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cases[i].mutate(obj);
    ferry_arrays *sentinel = (ferry_arrays *)(uintptr_t)0x5a5a, *b = sentinel;
    int rc = ferry_array_open(name, NULL, &b);
    if (rc != cases[i].want)
      ft_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d", cases[i].what, rc,
              ferry_strerror(rc), cases[i].want);
    if (rc == 0)
      ferry_array_close(b);
    else
      CHECK(b == sentinel);
    memcpy(obj, saved, keep);
  }

  /* Whole-table garbage. */
  uint64_t rng = 7;
  for (int it = 0; it < 64; it++) {
    for (size_t i = 0; i < keep; i++)
      obj[i] = (uint8_t)ft_rand(&rng);
    if (it % 2) { /* a header that passes, over a garbage table */
      memcpy(obj, saved, FERRY__ARRAY_HDR_SIZE);
      if (it % 4 == 3) {
        shdr(obj)->magic = FERRY__SCHEMA_MAGIC;
        shdr(obj)->version_major = FERRY__SCHEMA_VERSION_MAJOR;
        shdr(obj)->count = 3;
        fix_s(obj);
      }
    }
    ferry_arrays *b;
    int rc = ferry_array_open(name, NULL, &b);
    if (rc != FERRY_ECORRUPT && rc != FERRY_EVERSION) {
      ft_fail(__FILE__, __LINE__, "garbage %d: got %d (%s)", it, rc, ferry_strerror(rc));
      if (rc == 0)
        ferry_array_close(b);
    }
  }
  memcpy(obj, saved, keep);

  /* A consistent change is not corruption: the opener believes the table,
   * and sees the new shape, not the creator's. */
  shdr(obj)->desc[0].shape[0] = 20;
  shdr(obj)->desc[0].shape[1] = 10;
  fix_s(obj);
  ferry_arrays *b;
  REQUIRE_OK(ferry_array_open(name, NULL, &b));
  ferry_array vb;
  REQUIRE_OK(ferry_array_get(b, "a", &vb));
  CHECK_EQ(vb.shape[0], 20);
  CHECK_EQ(vb.shape[1], 10);
  CHECK_EQ(((float *)vb.data)[199], 199.0f);
  ferry_array_close(b);

  /* The failed opens registered nobody: only the creator and raw remain. */
  CHECK_EQ(ferry_region_participants(raw, NULL, 0), 2);

  free(saved);
  ferry_region_close(raw);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- kinds and roles ------------------------------------------------------------ */

static void test_wrong_kind(void)
{
  char name[64];
  ft_name(name, sizeof name, "kind");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  ferry_arrays *sentinel = (ferry_arrays *)(uintptr_t)0x5a5a, *a = sentinel;
  CHECK_RC(ferry_array_open(name, NULL, &a), FERRY_EKIND);
  CHECK(a == sentinel);
  CHECK_EQ(ferry_region_participants(r, NULL, 0), 1);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

static uint32_t role_of_slot(const ferry_region *r, int slot)
{
  ferry_participant p[8];
  ssize_t n = ferry_region_participants(r, p, 8);
  for (ssize_t i = 0; i < n && i < 8; i++)
    if ((int)p[i].slot == slot)
      return p[i].role;
  return 0;
}

static void test_roles_and_options(void)
{
  const ferry_array_spec one = {"x", FERRY_DTYPE_I32, 1, {16}};
  char name[64];
  ft_name(name, sizeof name, "role");
  ferry_arrays *a, *b, *c, *d;
  REQUIRE_OK(ferry_array_create(name, &one, 1, NULL, &a));
  ferry_region *r = ferry_array_region(a);
  CHECK_EQ(role_of_slot(r, ferry_region_slot(r)), FERRY_ROLE_CREATOR | FERRY_ROLE_WRITER);

  REQUIRE_OK(ferry_array_open(name, NULL, &b));
  CHECK_EQ(role_of_slot(r, ferry_region_slot(ferry_array_region(b))), FERRY_ROLE_READER);

  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.role = FERRY_ROLE_WRITER;
  REQUIRE_OK(ferry_array_open(name, &oo, &c));
  CHECK_EQ(role_of_slot(r, ferry_region_slot(ferry_array_region(c))), FERRY_ROLE_WRITER);

  /* An observer maps read-only and registers nothing, but reads it all. */
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  REQUIRE_OK(ferry_array_open(name, &oo, &d));
  CHECK_EQ(ferry_region_slot(ferry_array_region(d)), -1);
  ferry_array v, w;
  CHECK_OK(ferry_array_get(a, "x", &v));
  ((int32_t *)v.data)[15] = 77;
  CHECK_OK(ferry_array_get(d, "x", &w));
  CHECK_EQ(((int32_t *)w.data)[15], 77);
  CHECK_EQ(ferry_region_participants(r, NULL, 0), 3);
  ferry_array_close(d);
  ferry_array_close(c);
  ferry_array_close(b);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));

  /* Region options pass through: unlink on last close. */
  ferry_array_options o;
  ferry_array_options_init(&o);
  CHECK_EQ(o.region.role, FERRY_ROLE_WRITER);
  CHECK_EQ(o.region.mode, 0600);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  o.region.max_participants = 2;
  ft_name(name, sizeof name, "role");
  REQUIRE_OK(ferry_array_create(name, &one, 1, &o, &a));
  ferry_region_info info;
  CHECK_OK(ferry_region_info_get(ferry_array_region(a), &info));
  CHECK_EQ(info.max_participants, 2);
  CHECK_EQ(info.kind, FERRY_KIND_ARRAY);
  REQUIRE_OK(ferry_array_open(name, NULL, &b));
  ferry_array_close(a);
  CHECK(shm_exists(name));
  ferry_array_close(b);
  CHECK(!shm_exists(name));
}

int main(void)
{
  RUN(test_dtype_helpers);
  RUN(test_parse_spec);
  RUN(test_create_open_fork);
  RUN(test_inherited_handle);
  RUN(test_views);
  RUN(test_alignment);
  RUN(test_bad_inputs);
  RUN(test_overflow);
  RUN(test_schema_private_copy);
  RUN(test_schema_fuzz);
  RUN(test_corrupt_region);
  RUN(test_wrong_kind);
  RUN(test_roles_and_options);
  return ft_done();
}
