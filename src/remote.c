/* SPDX-License-Identifier: MIT */
/*
 * remote.c: libferry's side of the remote backends (see remote.h). It
 * loads libferry-redis.so on first need, allocates public handles for
 * remote names and forwards their calls, and adapts the bus: the backend
 * moves frames as bytes, and the frame views (ferry_frame_array() and
 * friends) are made here, over a schema table validated on this side
 * [schema-copy]. Uses libc only (dlopen is in glibc's libc since 2.34).
 */
#include "remote.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"
#include "ferry/error.h"
#include "frame_internal.h"

#ifndef FERRY_REDIS_SONAME
#define FERRY_REDIS_SONAME FERRY__REMOTE_SONAME
#endif
#ifndef FERRY_REDIS_INSTALL_PATH
#define FERRY_REDIS_INSTALL_PATH FERRY_REDIS_SONAME
#endif

/* ---- loading -------------------------------------------------------------------- */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const struct ferry__remote_ops *ops;
static char load_status[768] = "the Redis backend has not been needed yet";

static const struct ferry__remote_ops *try_load(const char *path, char *why, size_t cap)
{
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(why, cap, "%s", e ? e : path);
    return NULL;
  }
  ferry__remote_entry_fn entry;
  *(void **)&entry = dlsym(h, FERRY__REMOTE_ENTRY);
  const struct ferry__remote_ops *t = entry ? entry(FERRY__REMOTE_ABI) : NULL;
  if (!t || t->abi != FERRY__REMOTE_ABI || t->size < sizeof *t) {
    snprintf(why, cap, "%s: not a ferry Redis backend of this version", path);
    dlclose(h);
    return NULL;
  }
  return t; /* kept loaded for the life of the process */
}

static void load(void)
{
  char why[512] = "";
  char here[PATH_MAX + 64];
  const char *cands[4];
  size_t n = 0;
  /* An explicit path first (tests, unusual installs); secure_getenv
   * ignores it in set-uid programs. */
  const char *env = secure_getenv("FERRY_REDIS_BACKEND");
  if (env && *env)
    cands[n++] = env;
  /* Next to the object that holds libferry (the shared library, or the
   * program it is linked into). For a program, the dynamic linker knows
   * only the name it was started by (no directory when found on PATH), so
   * the kernel's link to the executable says where it is. */
  Dl_info di;
  char exe[PATH_MAX];
  const char *obj = NULL;
  if (dladdr((void *)&load, &di) && di.dli_fname && strchr(di.dli_fname, '/'))
    obj = di.dli_fname;
  if (!obj) {
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
      exe[k] = '\0';
      obj = exe;
    }
  }
  if (obj) {
    const char *slash = strrchr(obj, '/');
    int len = (int)(slash - obj);
    if (len < PATH_MAX) {
      snprintf(here, sizeof here, "%.*s/%s", len, obj, FERRY_REDIS_SONAME);
      cands[n++] = here;
    }
  }
  cands[n++] = FERRY_REDIS_INSTALL_PATH;
  cands[n++] = FERRY_REDIS_SONAME;
  for (size_t i = 0; i < n; i++) {
    const struct ferry__remote_ops *t = try_load(cands[i], why, sizeof why);
    if (t) {
      ops = t;
      snprintf(load_status, sizeof load_status, "the Redis backend is loaded from %s", cands[i]);
      return;
    }
  }
  snprintf(load_status, sizeof load_status,
           "the Redis backend is not installed (%s could not be loaded: %s)", FERRY_REDIS_SONAME,
           why);
}

int ferry_redis_load(void)
{
  pthread_once(&load_once, load);
  return ops ? 0 : -ENOTSUP;
}

const char *ferry_redis_status(void) { return load_status; }

int ferry_is_redis_name(const char *name)
{
  return name && (strncmp(name, "redis://", 8) == 0 || strncmp(name, "unix://", 7) == 0);
}

int ferry__remote_name(const char *name) { return ferry_is_redis_name(name); }

int ferry_redis_name_valid(const char *name)
{
  if (!ferry_is_redis_name(name))
    return -EINVAL;
  int rc = ferry_redis_load();
  return rc ? rc : ops->is_name(name);
}

void ferry_redis_options_init(ferry_redis_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  o->lease_ns = FERRY_REDIS_LEASE_DEFAULT_NS;
  o->max_deliveries = FERRY_REDIS_MAX_DELIVERIES_DEFAULT;
}

/* ---- handles ---------------------------------------------------------------------- */

enum { R_QUEUE = 1, R_HEAP, R_DICT, R_BUS, R_SUB };

struct ferry__remote {
  int kind;
  void *h; /* the backend's handle */
  /* The bus: a validated private copy of the schema, and the frame view
   * handed out (one at a time). */
  void *table;
  uint64_t frame_bytes;
  struct ferry_frame frame;
  bool out; /* a frame is loaned (publisher) or held (subscriber) */
};

/* The Redis options the next create on this thread uses
 * (ferry_redis_queue_create() and ferry_redis_heap_create() set them
 * around the plain create, whose signature has no room for them). */
static _Thread_local const ferry_redis_options *next_ro;

static const ferry_redis_options *take_ro(ferry_redis_options *defaults)
{
  const ferry_redis_options *ro = next_ro;
  next_ro = NULL;
  if (ro)
    return ro;
  ferry_redis_options_init(defaults);
  return defaults;
}

/* The public handle (size bytes, the remote pointer at field) and its
 * remote part, backend handle not set yet. A create makes them first, so
 * that no failure after the server made the object leaves it there. */
static int wrap_new(int kind, size_t size, size_t field, struct ferry__remote **rout,
                    void **out)
{
  assert(size >= field + sizeof(struct ferry__remote *));
  struct ferry__remote *r = calloc(1, sizeof *r);
  void *pub = calloc(1, size);
  if (!r || !pub) {
    free(r);
    free(pub);
    return -ENOMEM;
  }
  r->kind = kind;
  memcpy((char *)pub + field, &r, sizeof r);
  *rout = r;
  *out = pub;
  return 0;
}

static int wrap(int kind, void *h, size_t size, size_t field, struct ferry__remote **rout,
                void **out)
{
  struct ferry__remote *r;
  int rc = wrap_new(kind, size, field, &r, out);
  if (rc)
    return rc;
  r->h = h;
  if (rout)
    *rout = r;
  return 0;
}

static void unwrap_free(void *handle, struct ferry__remote *r)
{
  free(r->table);
  free(r);
  free(handle);
}

/* [abi-growth] on this side of the table, as the shared-memory objects
 * check their options before anything is done: an options struct whose
 * reserved words (its own or its region options') are not zero is refused. */
#define OPTIONS_OK(o) (!(o) || (FERRY__RESERVED_OK(o) && FERRY__RESERVED_OK(&(o)->region)))
#define OPEN_OPTIONS_OK(o) (!(o) || FERRY__RESERVED_OK(o))

/* Statistics: the reserved words are zero whatever the backend left there. */
#define STATS_DONE(rc, out)                                                   \
  do {                                                                        \
    if ((rc) >= 0)                                                            \
      memset((out)->reserved, 0, sizeof (out)->reserved);                     \
  } while (0)

int ferry__remote_queue_create(const char *name, const ferry_queue_options *o, size_t size,
                               size_t field, void **out)
{
  ferry_redis_options rdef;
  const ferry_redis_options *ro = take_ro(&rdef);
  if (!OPTIONS_OK(o) || !FERRY__RESERVED_OK(ro))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry_queue_options def;
  if (!o) {
    ferry_queue_options_init(&def);
    o = &def;
  }
  struct ferry__remote *r;
  void *pub;
  if ((rc = wrap_new(R_QUEUE, size, field, &r, &pub)))
    return rc;
  ferry__rq *h;
  if ((rc = ops->queue_create(name, o, ro, &h))) {
    unwrap_free(pub, r);
    return rc;
  }
  r->h = h;
  *out = pub;
  return 0;
}

int ferry__remote_queue_open(const char *name, uint32_t role, const ferry_open_options *o,
                             size_t size, size_t field, void **out)
{
  if (!OPEN_OPTIONS_OK(o))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry__rq *h;
  if ((rc = ops->queue_open(name, role, o, &h)))
    return rc;
  if ((rc = wrap(R_QUEUE, h, size, field, NULL, out)))
    ops->queue_close(h);
  return rc;
}

int ferry__remote_heap_create(const char *name, const ferry_heap_options *o, size_t size,
                              size_t field, void **out)
{
  ferry_redis_options rdef;
  const ferry_redis_options *ro = take_ro(&rdef);
  if (!OPTIONS_OK(o) || !FERRY__RESERVED_OK(ro))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry_heap_options def;
  if (!o) {
    ferry_heap_options_init(&def);
    o = &def;
  }
  struct ferry__remote *r;
  void *pub;
  if ((rc = wrap_new(R_HEAP, size, field, &r, &pub)))
    return rc;
  ferry__rh *h;
  if ((rc = ops->heap_create(name, o, ro, &h))) {
    unwrap_free(pub, r);
    return rc;
  }
  r->h = h;
  *out = pub;
  return 0;
}

int ferry__remote_heap_open(const char *name, const ferry_open_options *o, size_t size,
                            size_t field, void **out)
{
  if (!OPEN_OPTIONS_OK(o))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry__rh *h;
  if ((rc = ops->heap_open(name, o, &h)))
    return rc;
  if ((rc = wrap(R_HEAP, h, size, field, NULL, out)))
    ops->heap_close(h);
  return rc;
}

int ferry__remote_dict_create(const char *name, const ferry_dict_options *o, size_t size,
                              size_t field, void **out)
{
  ferry_redis_options rdef;
  const ferry_redis_options *ro = take_ro(&rdef);
  if (!OPTIONS_OK(o) || !FERRY__RESERVED_OK(ro))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry_dict_options def;
  if (!o) {
    ferry_dict_options_init(&def);
    o = &def;
  }
  struct ferry__remote *r;
  void *pub;
  if ((rc = wrap_new(R_DICT, size, field, &r, &pub)))
    return rc;
  ferry__rd *h;
  if ((rc = ops->dict_create(name, o, ro, &h))) {
    unwrap_free(pub, r);
    return rc;
  }
  r->h = h;
  *out = pub;
  return 0;
}

int ferry__remote_dict_open(const char *name, const ferry_open_options *o, size_t size,
                            size_t field, void **out)
{
  if (!OPEN_OPTIONS_OK(o))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry__rd *h;
  if ((rc = ops->dict_open(name, o, &h)))
    return rc;
  if ((rc = wrap(R_DICT, h, size, field, NULL, out)))
    ops->dict_close(h);
  return rc;
}

/* A private, aligned, validated copy of a schema table. */
static int schema_copy(const ferry__rschema *s, void **table, uint64_t *frame_bytes)
{
  if (!s->table || s->table_bytes < FERRY__SCHEMA_HDR_SIZE ||
      s->table_bytes > FERRY__SCHEMA_MAX_BYTES)
    return FERRY_ECORRUPT;
  void *t = aligned_alloc(FERRY_ARRAY_ALIGN, (s->table_bytes + FERRY_ARRAY_ALIGN - 1) /
                                                 FERRY_ARRAY_ALIGN * FERRY_ARRAY_ALIGN);
  if (!t)
    return -ENOMEM;
  memcpy(t, s->table, s->table_bytes);
  size_t tb;
  uint64_t fb;
  int rc = ferry__schema_validate(t, s->table_bytes, &tb, &fb);
  if (!rc && (tb != s->table_bytes || fb != s->frame_bytes))
    rc = FERRY_ECORRUPT;
  if (rc) {
    free(t);
    return rc;
  }
  *table = t;
  *frame_bytes = fb;
  return 0;
}

int ferry__remote_bus_create(const char *name, const ferry_array_spec *specs, size_t n,
                             const ferry_bus_options *o, size_t size, size_t field, void **out)
{
  ferry_redis_options rdef;
  const ferry_redis_options *ro = take_ro(&rdef);
  if (!OPTIONS_OK(o) || !FERRY__RESERVED_OK(ro))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry_bus_options def;
  if (!o) {
    ferry_bus_options_init(&def);
    o = &def;
  }
  size_t tb;
  uint64_t fb;
  if ((rc = ferry__schema_size(specs, n, &tb, &fb)))
    return rc;
  void *t = aligned_alloc(FERRY_ARRAY_ALIGN,
                          (tb + FERRY_ARRAY_ALIGN - 1) / FERRY_ARRAY_ALIGN * FERRY_ARRAY_ALIGN);
  if (!t)
    return -ENOMEM;
  if ((rc = ferry__schema_write(t, tb, specs, n))) {
    free(t);
    return rc;
  }
  ferry__rschema s = {.table = t, .table_bytes = tb, .frame_bytes = fb};
  struct ferry__remote *r;
  void *pub;
  if ((rc = wrap_new(R_BUS, size, field, &r, &pub))) {
    free(t);
    return rc;
  }
  ferry__rb *h;
  if ((rc = ops->bus_create(name, &s, o, ro, &h))) {
    unwrap_free(pub, r);
    free(t);
    return rc;
  }
  r->h = h;
  r->table = t;
  *out = pub;
  r->frame_bytes = fb;
  return 0;
}

int ferry__remote_bus_subscribe(const char *name, const ferry_open_options *o, size_t size,
                                size_t field, void **out)
{
  if (!OPEN_OPTIONS_OK(o))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ferry__rs *h;
  ferry__rschema s;
  if ((rc = ops->bus_subscribe(name, o, &h, &s)))
    return rc;
  void *t;
  uint64_t fb;
  if ((rc = schema_copy(&s, &t, &fb))) {
    ops->bus_unsubscribe(h);
    return rc;
  }
  struct ferry__remote *r;
  if ((rc = wrap(R_SUB, h, size, field, &r, out))) {
    ops->bus_unsubscribe(h);
    free(t);
    return rc;
  }
  r->table = t;
  r->frame_bytes = fb;
  return 0;
}

void ferry__remote_queue_close(void *handle, struct ferry__remote *r)
{
  ops->queue_close(r->h);
  unwrap_free(handle, r);
}

void ferry__remote_heap_close(void *handle, struct ferry__remote *r)
{
  ops->heap_close(r->h);
  unwrap_free(handle, r);
}

void ferry__remote_dict_close(void *handle, struct ferry__remote *r)
{
  ops->dict_close(r->h);
  unwrap_free(handle, r);
}

void ferry__remote_bus_close(void *handle, struct ferry__remote *r)
{
  ops->bus_close(r->h);
  unwrap_free(handle, r);
}

void ferry__remote_bus_unsubscribe(void *handle, struct ferry__remote *r)
{
  ops->bus_unsubscribe(r->h);
  unwrap_free(handle, r);
}

int ferry__remote_unlink(const char *name)
{
  int rc = ferry_redis_load();
  return rc ? rc : ops->unlink(name);
}

/* ---- forwarding ------------------------------------------------------------------------ */

int ferry__remote_queue_put(struct ferry__remote *r, const void *msg, size_t len,
                            int64_t timeout_ns)
{
  return ops->queue_put(r->h, msg, len, timeout_ns);
}

ssize_t ferry__remote_queue_get(struct ferry__remote *r, void *buf, size_t cap,
                                int64_t timeout_ns)
{
  return ops->queue_get(r->h, buf, cap, timeout_ns);
}

ssize_t ferry__remote_queue_put_many(struct ferry__remote *r, const ferry_queue_vec *msgs,
                                     size_t n, int64_t timeout_ns)
{
  return ops->queue_put_many(r->h, msgs, n, timeout_ns);
}

ssize_t ferry__remote_queue_get_many(struct ferry__remote *r, ferry_queue_vec *msgs, size_t n,
                                     int64_t timeout_ns)
{
  return ops->queue_get_many(r->h, msgs, n, timeout_ns);
}

int ferry__remote_queue_reserve(struct ferry__remote *r, size_t len, void **data,
                                int64_t timeout_ns)
{
  return ops->queue_reserve(r->h, len, data, timeout_ns);
}

int ferry__remote_queue_commit(struct ferry__remote *r, size_t len)
{
  return ops->queue_commit(r->h, len);
}

int ferry__remote_queue_cancel(struct ferry__remote *r) { return ops->queue_cancel(r->h); }

int ferry__remote_queue_peek(struct ferry__remote *r, const void **data, size_t *len,
                             int64_t timeout_ns)
{
  return ops->queue_peek(r->h, data, len, timeout_ns);
}

int ferry__remote_queue_release(struct ferry__remote *r) { return ops->queue_release(r->h); }

int ferry__remote_queue_shutdown(struct ferry__remote *r) { return ops->queue_shutdown(r->h); }

size_t ferry__remote_queue_depth(struct ferry__remote *r) { return ops->queue_depth(r->h); }

int ferry__remote_queue_stats(struct ferry__remote *r, ferry_queue_stats *out)
{
  int rc = ops->queue_stats(r->h, out);
  STATS_DONE(rc, out);
  return rc;
}

int ferry__remote_queue_stat(const char *name, ferry_queue_stats *out)
{
  int rc = ferry_redis_load();
  if (!rc)
    rc = ops->queue_stat(name, out);
  STATS_DONE(rc, out);
  return rc;
}

int ferry__remote_queue_recover(struct ferry__remote *r) { return ops->queue_recover(r->h); }

int ferry__remote_queue_validate(struct ferry__remote *r, unsigned flags)
{
  if (flags & ~(unsigned)FERRY_QUEUE_VALIDATE_QUIESCENT)
    return -EINVAL;
  ferry_queue_stats st;
  return ops->queue_stats(r->h, &st);
}

int ferry__remote_heap_validate(struct ferry__remote *r, int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  ferry_heap_stats st;
  return ops->heap_stats(r->h, &st);
}

int ferry__remote_dict_validate(struct ferry__remote *r, int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  ferry_dict_stats st;
  return ops->dict_stats(r->h, &st);
}

int ferry__remote_heap_push(struct ferry__remote *r, ferry_heap_key key, const void *data,
                            size_t len, int64_t timeout_ns)
{
  return ops->heap_push(r->h, key, data, len, timeout_ns);
}

ssize_t ferry__remote_heap_pop(struct ferry__remote *r, ferry_heap_key *key, void *buf,
                               size_t cap, int64_t timeout_ns)
{
  return ops->heap_pop(r->h, key, buf, cap, timeout_ns);
}

ssize_t ferry__remote_heap_peek(struct ferry__remote *r, ferry_heap_key *key, void *buf,
                                size_t cap)
{
  return ops->heap_peek(r->h, key, buf, cap);
}

ssize_t ferry__remote_heap_size(struct ferry__remote *r) { return ops->heap_size(r->h); }

int ferry__remote_heap_clear(struct ferry__remote *r, int64_t timeout_ns)
{
  return ops->heap_clear(r->h, timeout_ns);
}

int ferry__remote_heap_replace_all(struct ferry__remote *r, const ferry_heap_record *recs,
                                   size_t n, int64_t timeout_ns)
{
  return ops->heap_replace_all(r->h, recs, n, timeout_ns);
}

int ferry__remote_heap_stats(struct ferry__remote *r, ferry_heap_stats *out)
{
  int rc = ops->heap_stats(r->h, out);
  STATS_DONE(rc, out);
  return rc;
}

ssize_t ferry__remote_dict_get(struct ferry__remote *r, const void *key, size_t klen, void *buf,
                               size_t cap)
{
  return ops->dict_get(r->h, key, klen, buf, cap);
}

int ferry__remote_dict_set(struct ferry__remote *r, const void *key, size_t klen,
                           const void *val, size_t vlen, int64_t timeout_ns)
{
  return ops->dict_set(r->h, key, klen, val, vlen, timeout_ns);
}

int ferry__remote_dict_set_nx(struct ferry__remote *r, const void *key, size_t klen,
                              const void *val, size_t vlen, int64_t timeout_ns)
{
  return ops->dict_set_nx(r->h, key, klen, val, vlen, timeout_ns);
}

int ferry__remote_dict_del(struct ferry__remote *r, const void *key, size_t klen,
                           int64_t timeout_ns)
{
  return ops->dict_del(r->h, key, klen, timeout_ns);
}

int ferry__remote_dict_cas(struct ferry__remote *r, const void *key, size_t klen,
                           const void *expect, size_t elen, const void *val, size_t vlen,
                           int64_t timeout_ns)
{
  return ops->dict_cas(r->h, key, klen, expect, elen, val, vlen, timeout_ns);
}

int ferry__remote_dict_update(struct ferry__remote *r, const void *key, size_t klen,
                              ferry_dict_update_fn fn, void *arg, int64_t timeout_ns)
{
  return ops->dict_update(r->h, key, klen, fn, arg, timeout_ns);
}

ssize_t ferry__remote_dict_size(struct ferry__remote *r) { return ops->dict_size(r->h); }

int ferry__remote_dict_clear(struct ferry__remote *r, int64_t timeout_ns)
{
  return ops->dict_clear(r->h, timeout_ns);
}

int ferry__remote_dict_next(struct ferry__remote *r, uint64_t *cursor, void *key, size_t kcap,
                            size_t *klen, void *val, size_t vcap, size_t *vlen)
{
  return ops->dict_next(r->h, cursor, key, kcap, klen, val, vcap, vlen);
}

int ferry__remote_dict_stats(struct ferry__remote *r, ferry_dict_stats *out)
{
  int rc = ops->dict_stats(r->h, out);
  STATS_DONE(rc, out);
  return rc;
}

int ferry__remote_bus_loan(struct ferry__remote *r, ferry_frame **f, int64_t timeout_ns)
{
  if (r->out)
    return -EBUSY;
  void *buf;
  int rc = ops->bus_loan(r->h, &buf, timeout_ns);
  if (rc)
    return rc;
  ferry__frame_view_init(&r->frame, r->table, buf);
  r->out = true;
  *f = &r->frame;
  return 0;
}

int ferry__remote_bus_publish(struct ferry__remote *r, ferry_frame *f)
{
  if (!r->out || f != &r->frame)
    return -EINVAL;
  int rc = ops->bus_publish(r->h);
  if (!rc || rc == -EPIPE)
    r->out = false; /* published, or dropped by a shutdown */
  return rc;
}

uint64_t ferry__remote_bus_seq(struct ferry__remote *r) { return ops->bus_seq(r->h); }

int ferry__remote_bus_shutdown(struct ferry__remote *r)
{
  r->out = false;
  return ops->bus_shutdown(r->h);
}

int ferry__remote_bus_stats(struct ferry__remote *r, ferry_bus_stats *out)
{
  int rc = ops->bus_stats(r->h, out);
  STATS_DONE(rc, out);
  return rc;
}

int ferry__remote_bus_next(struct ferry__remote *r, const ferry_frame **f,
                           ferry_bus_frame_info *info, int64_t timeout_ns)
{
  if (r->out)
    return -EBUSY;
  const void *buf;
  int rc = ops->bus_next(r->h, &buf, info, timeout_ns);
  if (rc)
    return rc;
  ferry__frame_view_init(&r->frame, r->table, (void *)buf);
  r->out = true;
  *f = &r->frame;
  return 0;
}

int ferry__remote_bus_release(struct ferry__remote *r, const ferry_frame *f)
{
  if (!r->out || f != &r->frame)
    return -EINVAL;
  int rc = ops->bus_release(r->h);
  if (!rc)
    r->out = false;
  return rc;
}

int ferry__remote_bus_sub_stats(struct ferry__remote *r, ferry_bus_sub_stats *out)
{
  int rc = ops->bus_sub_stats(r->h, out);
  STATS_DONE(rc, out);
  return rc;
}

ssize_t ferry__remote_bus_stat(const char *name, ferry_bus_stats *out,
                               ferry_bus_sub_stats *subs, size_t cap)
{
  int rc = ferry_redis_load();
  if (rc)
    return rc;
  ssize_t n = ops->bus_stat(name, out, subs, cap);
  STATS_DONE(n, out);
  for (size_t i = 0; n > 0 && i < (size_t)n && i < cap; i++)
    STATS_DONE(n, &subs[i]);
  return n;
}

/* ---- the public calls of redis.h ------------------------------------------------------- */

int ferry_redis_queue_create(const char *name, const struct ferry_queue_options *o,
                             const ferry_redis_options *ro, struct ferry_queue **out)
{
  if (!ferry_is_redis_name(name))
    return -EINVAL;
  next_ro = ro;
  int rc = ferry_queue_create(name, o, out);
  next_ro = NULL;
  return rc;
}

int ferry_redis_heap_create(const char *name, const struct ferry_heap_options *o,
                            const ferry_redis_options *ro, struct ferry_heap **out)
{
  if (!ferry_is_redis_name(name))
    return -EINVAL;
  next_ro = ro;
  int rc = ferry_heap_create(name, o, out);
  next_ro = NULL;
  return rc;
}

int ferry_redis_queue_info_get(const char *name, ferry_redis_queue_info *out)
{
  if (!ferry_is_redis_name(name))
    return -EINVAL;
  int rc = ferry_redis_load();
  if (!rc)
    rc = ops->queue_info(name, out);
  STATS_DONE(rc, out);
  return rc;
}

ssize_t ferry_redis_queue_dead(const char *name, ferry_redis_dead_letter *out, void *buf,
                               size_t cap, size_t n)
{
  if (!ferry_is_redis_name(name))
    return -EINVAL;
  int rc = ferry_redis_load();
  return rc ? rc : ops->queue_dead(name, out, buf, cap, n);
}

ssize_t ferry_redis_list(const char *server, ferry_redis_entry *out, size_t cap)
{
  if (!ferry_is_redis_name(server))
    return -EINVAL;
  int rc = ferry_redis_load();
  return rc ? rc : ops->list(server, out, cap);
}
