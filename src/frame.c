/* SPDX-License-Identifier: MIT */
/*
 * frame.c: dtypes, array specs, and the frame schema (frame_internal.h):
 * building a descriptor table from specs, validating one read from shared
 * memory, and the frame views that every frame-holding object (the array
 * region, the bus) hands out. Nothing here knows about regions.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "ferry/error.h"
#include "frame_internal.h"

/* ---- dtypes ------------------------------------------------------------------ */

/* The typestr's byte-order mark for multi-byte types on this host. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define FERRY__BYTE_ORDER ">"
#else
#define FERRY__BYTE_ORDER "<"
#endif

struct dtype_info {
  const char *name;    /* numpy's short name */
  const char *numpy;   /* numpy's long name */
  const char *typestr; /* __array_interface__ */
  size_t size;
};

static const struct dtype_info dtypes[FERRY_DTYPE_COUNT] = {
    [FERRY_DTYPE_BOOL] = {"bool", "bool", "|b1", 1},
    [FERRY_DTYPE_I8] = {"i8", "int8", "|i1", 1},
    [FERRY_DTYPE_I16] = {"i16", "int16", FERRY__BYTE_ORDER "i2", 2},
    [FERRY_DTYPE_I32] = {"i32", "int32", FERRY__BYTE_ORDER "i4", 4},
    [FERRY_DTYPE_I64] = {"i64", "int64", FERRY__BYTE_ORDER "i8", 8},
    [FERRY_DTYPE_U8] = {"u8", "uint8", "|u1", 1},
    [FERRY_DTYPE_U16] = {"u16", "uint16", FERRY__BYTE_ORDER "u2", 2},
    [FERRY_DTYPE_U32] = {"u32", "uint32", FERRY__BYTE_ORDER "u4", 4},
    [FERRY_DTYPE_U64] = {"u64", "uint64", FERRY__BYTE_ORDER "u8", 8},
    [FERRY_DTYPE_F16] = {"f16", "float16", FERRY__BYTE_ORDER "f2", 2},
    [FERRY_DTYPE_F32] = {"f32", "float32", FERRY__BYTE_ORDER "f4", 4},
    [FERRY_DTYPE_F64] = {"f64", "float64", FERRY__BYTE_ORDER "f8", 8},
    [FERRY_DTYPE_C64] = {"c64", "complex64", FERRY__BYTE_ORDER "c8", 8},
    [FERRY_DTYPE_C128] = {"c128", "complex128", FERRY__BYTE_ORDER "c16", 16},
};

/* Takes uint32_t so that values read from shared memory are judged before
 * they are ever held in an enum. */
static const struct dtype_info *dtype_get(uint32_t t)
{
  return t < FERRY_DTYPE_COUNT ? &dtypes[t] : NULL;
}

size_t ferry_dtype_size(ferry_dtype t)
{
  const struct dtype_info *d = dtype_get((uint32_t)t);
  return d ? d->size : 0;
}

const char *ferry_dtype_name(ferry_dtype t)
{
  const struct dtype_info *d = dtype_get((uint32_t)t);
  return d ? d->name : NULL;
}

const char *ferry_dtype_typestr(ferry_dtype t)
{
  const struct dtype_info *d = dtype_get((uint32_t)t);
  return d ? d->typestr : NULL;
}

/* Does s spell d's typestr with another accepted byte-order mark? numpy
 * writes '=' for "native", and byte order means nothing for one byte. */
static bool typestr_alias(const char *s, const struct dtype_info *d)
{
  if (s[0] == '\0' || strcmp(s + 1, d->typestr + 1) != 0)
    return false;
  if (s[0] == '=')
    return true;
  return d->size == 1 && (s[0] == '<' || s[0] == '>' || s[0] == '|');
}

int ferry_dtype_parse(const char *s, ferry_dtype *out)
{
  assert(out);
  if (!s)
    return -EINVAL;
  for (uint32_t t = 0; t < FERRY_DTYPE_COUNT; t++) {
    const struct dtype_info *d = &dtypes[t];
    if (strcmp(s, d->name) == 0 || strcmp(s, d->numpy) == 0 || strcmp(s, d->typestr) == 0 ||
        typestr_alias(s, d)) {
      *out = (ferry_dtype)t;
      return 0;
    }
  }
  return -EINVAL;
}

/* ---- names and sizes --------------------------------------------------------- */

static bool name_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

/* Validates the first len bytes of s as an array name. */
static bool name_valid_n(const char *s, size_t len)
{
  if (len == 0 || len > FERRY_ARRAY_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!name_char(s[i]))
      return false;
  return true;
}

/* Length of a NUL-terminated name, or FERRY_ARRAY_NAME_MAX + 1 if it is
 * longer than any valid name: never reads past that many bytes. */
static size_t name_len(const char *s)
{
  const char *nul = memchr(s, '\0', FERRY_ARRAY_NAME_MAX + 1);
  return nul ? (size_t)(nul - s) : FERRY_ARRAY_NAME_MAX + 1;
}

static bool name_valid(const char *s)
{
  return s && name_valid_n(s, name_len(s));
}

/*
 * The byte size of an array of this dtype and shape. The product runs over
 * the non-zero dimensions only and must fit even when a zero makes the array
 * empty: it is also the outermost stride (numpy counts a zero dimension as
 * 1 in strides), so bounding it bounds every stride. PTRDIFF_MAX is the
 * limit because no object can be larger, and numpy indexes with intp.
 */
static int array_bytes(size_t itemsize, uint32_t ndim, const uint64_t *shape, uint64_t *nbytes)
{
  uint64_t span = itemsize;
  bool empty = false;
  for (uint32_t d = 0; d < ndim; d++) {
    if (shape[d] == 0)
      empty = true;
    else if (ferry__mul_overflow(span, shape[d], &span))
      return -EOVERFLOW;
  }
  if (span > (uint64_t)PTRDIFF_MAX)
    return -EOVERFLOW;
  *nbytes = empty ? 0 : span;
  return 0;
}

/* Places an array of nbytes after the previous one, which ended at *end:
 * sets *offset and moves *end. */
static int place(uint64_t nbytes, uint64_t *end, uint64_t *offset)
{
  uint64_t at, next;
  if (ferry__align_up(*end, FERRY_ARRAY_ALIGN, &at) || ferry__add_overflow(at, nbytes, &next) ||
      next > (uint64_t)PTRDIFF_MAX)
    return -EOVERFLOW;
  *offset = at;
  *end = next;
  return 0;
}

static int frame_end(uint64_t end, uint64_t *frame_bytes)
{
  if (ferry__align_up(end, FERRY_ARRAY_ALIGN, frame_bytes) ||
      *frame_bytes > (uint64_t)PTRDIFF_MAX)
    return -EOVERFLOW;
  return 0;
}

/* ---- building a table ----------------------------------------------------------- */

static int check_specs(const ferry_array_spec *specs, size_t n)
{
  if (!specs || n == 0 || n > FERRY_ARRAY_MAX_COUNT)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    const ferry_array_spec *s = &specs[i];
    if (!name_valid(s->name) || !dtype_get((uint32_t)s->dtype) ||
        s->ndim > FERRY_ARRAY_MAX_DIMS)
      return -EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(specs[j].name, s->name) == 0)
        return -EINVAL;
  }
  return 0;
}

/* Lays the arrays out: offsets[i] (if not NULL), nbytes[i] and the frame's
 * size. specs passed check_specs(). */
static int layout(const ferry_array_spec *specs, size_t n, uint64_t *offsets, uint64_t *nbytes,
                  uint64_t *frame_bytes)
{
  uint64_t end = 0;
  for (size_t i = 0; i < n; i++) {
    const ferry_array_spec *s = &specs[i];
    uint64_t at;
    int rc = array_bytes(ferry_dtype_size(s->dtype), s->ndim, s->shape, &nbytes[i]);
    if (rc || (rc = place(nbytes[i], &end, &at)))
      return rc;
    if (offsets)
      offsets[i] = at;
  }
  return frame_end(end, frame_bytes);
}

static size_t table_size(size_t count)
{
  return FERRY__SCHEMA_HDR_SIZE + FERRY__SCHEMA_DESC_SIZE * count;
}

int ferry__schema_size(const ferry_array_spec *specs, size_t n, size_t *table_bytes,
                       uint64_t *frame_bytes)
{
  int rc = check_specs(specs, n);
  if (rc)
    return rc;
  uint64_t nbytes[FERRY_ARRAY_MAX_COUNT], frame;
  if ((rc = layout(specs, n, NULL, nbytes, &frame)))
    return rc;
  if (table_bytes)
    *table_bytes = table_size(n);
  if (frame_bytes)
    *frame_bytes = frame;
  return 0;
}

uint32_t ferry__schema_checksum(const void *table)
{
  const struct ferry__schema_hdr *h = table;
  uint32_t sum = ferry__fnv1a(h, FERRY__SCHEMA_CHECKSUM_END, FERRY__FNV_SEED);
  return ferry__fnv1a(h->desc, (size_t)FERRY__SCHEMA_DESC_SIZE * h->count, sum);
}

int ferry__schema_write(void *table, size_t cap, const ferry_array_spec *specs, size_t n)
{
  assert(table && ((uintptr_t)table % _Alignof(struct ferry__schema_hdr)) == 0);
  int rc = check_specs(specs, n);
  if (rc)
    return rc;
  uint64_t offsets[FERRY_ARRAY_MAX_COUNT], nbytes[FERRY_ARRAY_MAX_COUNT], frame;
  if ((rc = layout(specs, n, offsets, nbytes, &frame)))
    return rc;
  if (cap < table_size(n))
    return -ENOBUFS;

  /* Zero first: reserved bytes, name padding and unused shape entries are
   * zero by definition, and the checksum covers them. */
  memset(table, 0, table_size(n));
  struct ferry__schema_hdr *h = table;
  h->magic = FERRY__SCHEMA_MAGIC;
  h->version_major = FERRY__SCHEMA_VERSION_MAJOR;
  h->version_minor = FERRY__SCHEMA_VERSION_MINOR;
  h->count = (uint32_t)n;
  h->frame_bytes = frame;
  for (size_t i = 0; i < n; i++) {
    struct ferry__schema_desc *d = &h->desc[i];
    memcpy(d->name, specs[i].name, strlen(specs[i].name));
    d->dtype = (uint32_t)specs[i].dtype;
    d->ndim = specs[i].ndim;
    memcpy(d->shape, specs[i].shape, sizeof d->shape[0] * d->ndim);
    d->offset = offsets[i];
    d->nbytes = nbytes[i];
  }
  h->checksum = ferry__schema_checksum(h);
  return 0;
}

/* ---- validating a table ---------------------------------------------------------- */

/* One descriptor on its own; *end is where the previous array ended. */
static bool desc_valid(const struct ferry__schema_desc *d, uint64_t frame_bytes, uint64_t *end)
{
  const struct dtype_info *t = dtype_get(d->dtype);
  if (!t || d->ndim > FERRY_ARRAY_MAX_DIMS || !name_valid_n(d->name, name_len(d->name)))
    return false;
  for (uint32_t k = d->ndim; k < FERRY_ARRAY_MAX_DIMS; k++)
    if (d->shape[k] != 0)
      return false;
  uint64_t nbytes, stop;
  if (array_bytes(t->size, d->ndim, d->shape, &nbytes) || nbytes != d->nbytes)
    return false;
  /* In declaration order and disjoint: that the writer lays them out this
   * way makes one comparison with the previous array enough. */
  if (d->offset % FERRY_ARRAY_ALIGN != 0 || d->offset < *end ||
      ferry__add_overflow(d->offset, d->nbytes, &stop) || stop > frame_bytes)
    return false;
  *end = stop;
  return true;
}

int ferry__schema_validate(const void *table, size_t avail_bytes, size_t *table_bytes,
                           uint64_t *frame_bytes)
{
  assert(table && ((uintptr_t)table % _Alignof(struct ferry__schema_hdr)) == 0);
  const struct ferry__schema_hdr *h = table;
  if (avail_bytes < FERRY__SCHEMA_HDR_SIZE || h->magic != FERRY__SCHEMA_MAGIC)
    return FERRY_ECORRUPT;
  /* Judged before the checksum: another major may checksum differently. */
  if (h->version_major != FERRY__SCHEMA_VERSION_MAJOR)
    return FERRY_EVERSION;
  if (h->count < 1 || h->count > FERRY_ARRAY_MAX_COUNT || table_size(h->count) > avail_bytes)
    return FERRY_ECORRUPT;
  if (h->checksum != ferry__schema_checksum(h))
    return FERRY_ECORRUPT;
  if (h->frame_bytes % FERRY_ARRAY_ALIGN != 0 || h->frame_bytes > (uint64_t)PTRDIFF_MAX)
    return FERRY_ECORRUPT;
  uint64_t end = 0;
  for (uint32_t i = 0; i < h->count; i++) {
    if (!desc_valid(&h->desc[i], h->frame_bytes, &end))
      return FERRY_ECORRUPT;
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(h->desc[j].name, h->desc[i].name) == 0)
        return FERRY_ECORRUPT;
  }
  if (table_bytes)
    *table_bytes = table_size(h->count);
  if (frame_bytes)
    *frame_bytes = h->frame_bytes;
  return 0;
}

/* ---- frame views ---------------------------------------------------------------- */

void ferry__frame_view_init(struct ferry_frame *f, const void *table, void *base)
{
  assert(f && table && base);
  assert(((uintptr_t)base % FERRY_ARRAY_ALIGN) == 0);
  f->table = table;
  f->base = base;
}

size_t ferry_frame_count(const ferry_frame *f)
{
  assert(f);
  return f->table->count;
}

uint64_t ferry_frame_bytes(const ferry_frame *f)
{
  assert(f);
  return f->table->frame_bytes;
}

/* Strides follow numpy's rule for C order: each is the next one times the
 * next dimension, with a zero dimension counted as 1. Validation bounded
 * the product (array_bytes), so nothing here can overflow. */
static void view(const struct ferry_frame *f, const struct ferry__schema_desc *d,
                 ferry_array *out)
{
  ferry_array v;
  memset(&v, 0, sizeof v);
  v.name = d->name;
  v.dtype = (ferry_dtype)d->dtype;
  v.ndim = d->ndim;
  v.itemsize = dtypes[d->dtype].size;
  uint64_t stride = v.itemsize;
  for (uint32_t k = d->ndim; k-- > 0;) {
    v.shape[k] = d->shape[k];
    v.strides[k] = stride;
    if (d->shape[k] != 0)
      stride *= d->shape[k];
  }
  v.nbytes = (size_t)d->nbytes;
  v.count = v.nbytes / v.itemsize;
  v.data = f->base + d->offset;
  *out = v;
}

int ferry_frame_array(const ferry_frame *f, const char *name, ferry_array *out)
{
  assert(f && name && out);
  const struct ferry__schema_hdr *h = f->table;
  for (uint32_t i = 0; i < h->count; i++) {
    if (strcmp(h->desc[i].name, name) == 0) {
      view(f, &h->desc[i], out);
      return 0;
    }
  }
  return -ENOENT;
}

int ferry_frame_array_at(const ferry_frame *f, size_t index, ferry_array *out)
{
  assert(f && out);
  if (index >= f->table->count)
    return -ENOENT;
  view(f, &f->table->desc[index], out);
  return 0;
}

/* ---- spec text ------------------------------------------------------------------ */

/* Reads "D[xD...]" (or ',' between dims) into shape; the whole string. */
static int parse_shape(const char *s, uint64_t *shape, uint32_t *ndim)
{
  uint32_t n = 0;
  for (;;) {
    if (*s < '0' || *s > '9' || n == FERRY_ARRAY_MAX_DIMS)
      return -EINVAL;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
      if (ferry__mul_overflow(v, 10, &v) || ferry__add_overflow(v, (uint64_t)(*s - '0'), &v))
        return -EINVAL;
      s++;
    }
    shape[n++] = v;
    if (*s == '\0')
      break;
    if (*s != 'x' && *s != ',')
      return -EINVAL;
    s++;
  }
  *ndim = n;
  return 0;
}

int ferry_array_parse_spec(const char *text, ferry_array_spec *out, char *namebuf,
                           size_t namecap)
{
  assert(out && namebuf);
  if (!text)
    return -EINVAL;
  const char *colon = strchr(text, ':');
  if (!colon || !name_valid_n(text, (size_t)(colon - text)))
    return -EINVAL;
  size_t nlen = (size_t)(colon - text);

  /* The dtype runs to the next ':' or the end; copied out to be parsed. */
  const char *dt = colon + 1;
  const char *colon2 = strchr(dt, ':');
  size_t dlen = colon2 ? (size_t)(colon2 - dt) : strlen(dt);
  char dbuf[16];
  if (dlen == 0 || dlen >= sizeof dbuf)
    return -EINVAL;
  memcpy(dbuf, dt, dlen);
  dbuf[dlen] = '\0';

  ferry_array_spec spec;
  memset(&spec, 0, sizeof spec);
  int rc = ferry_dtype_parse(dbuf, &spec.dtype);
  if (rc)
    return rc;
  if (colon2 && (rc = parse_shape(colon2 + 1, spec.shape, &spec.ndim)))
    return rc;
  if (namecap < nlen + 1)
    return -ENOBUFS;
  memcpy(namebuf, text, nlen);
  namebuf[nlen] = '\0';
  spec.name = namebuf;
  *out = spec;
  return 0;
}
