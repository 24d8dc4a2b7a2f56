/* SPDX-License-Identifier: MIT */
/*
 * remote.h: how libferry reaches a remote backend (today: Redis) without
 * linking it. The core library stays libc-only: on the first name that
 * selects a backend ("redis://..." or "unix://..."), src/remote.c loads
 * libferry-redis.so with dlopen(3) and asks it for its operations table
 * (ferry_redis_backend(), the backend's only exported symbol). Without the
 * backend, such names give -ENOTSUP and ferry_redis_status() says why.
 * docs/design/redis.md [redis-dispatch]. Never installed.
 *
 * The objects' public calls dispatch with one line each: a handle opened
 * on a remote name is allocated here, zeroed, with its `remote` field set;
 * every call on it goes to the ferry__remote_<object>_<call> function of
 * the same signature (the handle replaced by the remote pointer).
 *
 * Concurrency: loading is once per process (pthread_once). The table is
 * immutable afterwards. Calls on remote handles follow the objects'
 * headers (one thread at a time per queue/bus handle).
 */
#ifndef FERRY_REMOTE_H
#define FERRY_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/bus.h"
#include "ferry/dict.h"
#include "ferry/heap.h"
#include "ferry/queue.h"
#include "ferry/redis.h"

/* Bump when the table's layout or meaning changes. */
#define FERRY__REMOTE_ABI 1

/* Backend handles: opaque to libferry. */
typedef struct ferry__rq ferry__rq; /* queue */
typedef struct ferry__rh ferry__rh; /* heap */
typedef struct ferry__rd ferry__rd; /* dict */
typedef struct ferry__rb ferry__rb; /* bus publisher */
typedef struct ferry__rs ferry__rs; /* bus subscriber */

/* The bus's frame schema as the backend stores it: the table bytes of
 * src/frame_internal.h, untrusted when read back. */
typedef struct ferry__rschema {
  const void *table;
  size_t table_bytes;
  uint64_t frame_bytes;
} ferry__rschema;

struct ferry__remote_ops {
  uint32_t abi;  /* FERRY__REMOTE_ABI */
  uint32_t size; /* sizeof(struct ferry__remote_ops) */

  int (*is_name)(const char *name); /* 0: a valid object name, else -EINVAL */
  int (*unlink)(const char *name);
  ssize_t (*list)(const char *server, ferry_redis_entry *out, size_t cap);

  int (*queue_create)(const char *name, const ferry_queue_options *o,
                      const ferry_redis_options *ro, ferry__rq **out);
  int (*queue_open)(const char *name, uint32_t role, const ferry_open_options *o,
                    ferry__rq **out);
  void (*queue_close)(ferry__rq *q);
  int (*queue_put)(ferry__rq *q, const void *msg, size_t len, int64_t timeout_ns);
  ssize_t (*queue_get)(ferry__rq *q, void *buf, size_t cap, int64_t timeout_ns);
  ssize_t (*queue_put_many)(ferry__rq *q, const ferry_queue_vec *msgs, size_t n,
                            int64_t timeout_ns);
  ssize_t (*queue_get_many)(ferry__rq *q, ferry_queue_vec *msgs, size_t n, int64_t timeout_ns);
  int (*queue_reserve)(ferry__rq *q, size_t len, void **data, int64_t timeout_ns);
  int (*queue_commit)(ferry__rq *q, size_t len);
  int (*queue_cancel)(ferry__rq *q);
  int (*queue_peek)(ferry__rq *q, const void **data, size_t *len, int64_t timeout_ns);
  int (*queue_release)(ferry__rq *q);
  int (*queue_shutdown)(ferry__rq *q);
  size_t (*queue_depth)(ferry__rq *q);
  int (*queue_stats)(ferry__rq *q, ferry_queue_stats *out);
  int (*queue_stat)(const char *name, ferry_queue_stats *out);
  int (*queue_info)(const char *name, ferry_redis_queue_info *out);
  ssize_t (*queue_dead)(const char *name, ferry_redis_dead_letter *out, void *buf, size_t cap,
                        size_t n);
  int (*queue_recover)(ferry__rq *q);

  int (*heap_create)(const char *name, const ferry_heap_options *o,
                     const ferry_redis_options *ro, ferry__rh **out);
  int (*heap_open)(const char *name, const ferry_open_options *o, ferry__rh **out);
  void (*heap_close)(ferry__rh *h);
  int (*heap_push)(ferry__rh *h, ferry_heap_key key, const void *data, size_t len,
                   int64_t timeout_ns);
  ssize_t (*heap_pop)(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap,
                      int64_t timeout_ns);
  ssize_t (*heap_peek)(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap);
  ssize_t (*heap_size)(ferry__rh *h);
  int (*heap_clear)(ferry__rh *h, int64_t timeout_ns);
  int (*heap_replace_all)(ferry__rh *h, const ferry_heap_record *recs, size_t n,
                          int64_t timeout_ns);
  int (*heap_stats)(ferry__rh *h, ferry_heap_stats *out);

  int (*dict_create)(const char *name, const ferry_dict_options *o,
                     const ferry_redis_options *ro, ferry__rd **out);
  int (*dict_open)(const char *name, const ferry_open_options *o, ferry__rd **out);
  void (*dict_close)(ferry__rd *d);
  ssize_t (*dict_get)(ferry__rd *d, const void *key, size_t klen, void *buf, size_t cap);
  int (*dict_set)(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t timeout_ns);
  int (*dict_set_nx)(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                     int64_t timeout_ns);
  int (*dict_del)(ferry__rd *d, const void *key, size_t klen, int64_t timeout_ns);
  int (*dict_cas)(ferry__rd *d, const void *key, size_t klen, const void *expect, size_t elen,
                  const void *val, size_t vlen, int64_t timeout_ns);
  int (*dict_update)(ferry__rd *d, const void *key, size_t klen, ferry_dict_update_fn fn,
                     void *arg, int64_t timeout_ns);
  ssize_t (*dict_size)(ferry__rd *d);
  int (*dict_clear)(ferry__rd *d, int64_t timeout_ns);
  int (*dict_next)(ferry__rd *d, uint64_t *cursor, void *key, size_t kcap, size_t *klen,
                   void *val, size_t vcap, size_t *vlen);
  int (*dict_stats)(ferry__rd *d, ferry_dict_stats *out);

  int (*bus_create)(const char *name, const ferry__rschema *schema, const ferry_bus_options *o,
                    const ferry_redis_options *ro, ferry__rb **out);
  int (*bus_loan)(ferry__rb *b, void **frame, int64_t timeout_ns);
  int (*bus_publish)(ferry__rb *b);
  uint64_t (*bus_seq)(ferry__rb *b);
  int (*bus_shutdown)(ferry__rb *b);
  void (*bus_close)(ferry__rb *b);
  int (*bus_stats)(ferry__rb *b, ferry_bus_stats *out);
  /* *schema points into the handle and lives as long as it. */
  int (*bus_subscribe)(const char *name, const ferry_open_options *o, ferry__rs **out,
                       ferry__rschema *schema);
  int (*bus_next)(ferry__rs *s, const void **frame, ferry_bus_frame_info *info,
                  int64_t timeout_ns);
  int (*bus_release)(ferry__rs *s);
  void (*bus_unsubscribe)(ferry__rs *s);
  int (*bus_sub_stats)(ferry__rs *s, ferry_bus_sub_stats *out);
  ssize_t (*bus_stat)(const char *name, ferry_bus_stats *out, ferry_bus_sub_stats *subs,
                      size_t cap);
};

/* The backend's entry point (the one symbol libferry-redis.so exports):
 * its table if it speaks `abi`, else NULL. */
typedef const struct ferry__remote_ops *(*ferry__remote_entry_fn)(uint32_t abi);
#define FERRY__REMOTE_ENTRY "ferry_redis_backend"
#define FERRY__REMOTE_SONAME "libferry-redis.so.1" /* .1: FERRY__REMOTE_ABI */

/* ---- libferry's side (src/remote.c) -------------------------------------------- */

/* 1 if name selects a remote backend (by its scheme alone), else 0. */
int ferry__remote_name(const char *name);

struct ferry__remote;

/* Opening: allocates a zeroed public handle of `size` bytes whose
 * `struct ferry__remote *` field sits at `field`, and stores it in *out.
 * Errors: -ENOTSUP (no backend), -EINVAL (bad name), the backend's. */
int ferry__remote_queue_create(const char *name, const ferry_queue_options *o, size_t size,
                               size_t field, void **out);
int ferry__remote_queue_open(const char *name, uint32_t role, const ferry_open_options *o,
                             size_t size, size_t field, void **out);
int ferry__remote_heap_create(const char *name, const ferry_heap_options *o, size_t size,
                              size_t field, void **out);
int ferry__remote_heap_open(const char *name, const ferry_open_options *o, size_t size,
                            size_t field, void **out);
int ferry__remote_dict_create(const char *name, const ferry_dict_options *o, size_t size,
                              size_t field, void **out);
int ferry__remote_dict_open(const char *name, const ferry_open_options *o, size_t size,
                            size_t field, void **out);
int ferry__remote_bus_create(const char *name, const ferry_array_spec *specs, size_t n,
                             const ferry_bus_options *o, size_t size, size_t field, void **out);
int ferry__remote_bus_subscribe(const char *name, const ferry_open_options *o, size_t size,
                                size_t field, void **out);

/* Closing frees the public handle too. */
void ferry__remote_queue_close(void *handle, struct ferry__remote *r);
void ferry__remote_heap_close(void *handle, struct ferry__remote *r);
void ferry__remote_dict_close(void *handle, struct ferry__remote *r);
void ferry__remote_bus_close(void *handle, struct ferry__remote *r);
void ferry__remote_bus_unsubscribe(void *handle, struct ferry__remote *r);

int ferry__remote_unlink(const char *name);

int ferry__remote_queue_put(struct ferry__remote *r, const void *msg, size_t len,
                            int64_t timeout_ns);
ssize_t ferry__remote_queue_get(struct ferry__remote *r, void *buf, size_t cap,
                                int64_t timeout_ns);
ssize_t ferry__remote_queue_put_many(struct ferry__remote *r, const ferry_queue_vec *msgs,
                                     size_t n, int64_t timeout_ns);
ssize_t ferry__remote_queue_get_many(struct ferry__remote *r, ferry_queue_vec *msgs, size_t n,
                                     int64_t timeout_ns);
int ferry__remote_queue_reserve(struct ferry__remote *r, size_t len, void **data,
                                int64_t timeout_ns);
int ferry__remote_queue_commit(struct ferry__remote *r, size_t len);
int ferry__remote_queue_cancel(struct ferry__remote *r);
int ferry__remote_queue_peek(struct ferry__remote *r, const void **data, size_t *len,
                             int64_t timeout_ns);
int ferry__remote_queue_release(struct ferry__remote *r);
int ferry__remote_queue_shutdown(struct ferry__remote *r);
size_t ferry__remote_queue_depth(struct ferry__remote *r);
int ferry__remote_queue_stats(struct ferry__remote *r, ferry_queue_stats *out);
int ferry__remote_queue_stat(const char *name, ferry_queue_stats *out);
int ferry__remote_queue_recover(struct ferry__remote *r);
/* validate on Redis: the object is there, of its kind (the statistics
 * call succeeds). */
int ferry__remote_queue_validate(struct ferry__remote *r, unsigned flags);
int ferry__remote_heap_validate(struct ferry__remote *r, int64_t timeout_ns);
int ferry__remote_dict_validate(struct ferry__remote *r, int64_t timeout_ns);

int ferry__remote_heap_push(struct ferry__remote *r, ferry_heap_key key, const void *data,
                            size_t len, int64_t timeout_ns);
ssize_t ferry__remote_heap_pop(struct ferry__remote *r, ferry_heap_key *key, void *buf,
                               size_t cap, int64_t timeout_ns);
ssize_t ferry__remote_heap_peek(struct ferry__remote *r, ferry_heap_key *key, void *buf,
                                size_t cap);
ssize_t ferry__remote_heap_size(struct ferry__remote *r);
int ferry__remote_heap_clear(struct ferry__remote *r, int64_t timeout_ns);
int ferry__remote_heap_replace_all(struct ferry__remote *r, const ferry_heap_record *recs,
                                   size_t n, int64_t timeout_ns);
int ferry__remote_heap_stats(struct ferry__remote *r, ferry_heap_stats *out);

ssize_t ferry__remote_dict_get(struct ferry__remote *r, const void *key, size_t klen, void *buf,
                               size_t cap);
int ferry__remote_dict_set(struct ferry__remote *r, const void *key, size_t klen,
                           const void *val, size_t vlen, int64_t timeout_ns);
int ferry__remote_dict_set_nx(struct ferry__remote *r, const void *key, size_t klen,
                              const void *val, size_t vlen, int64_t timeout_ns);
int ferry__remote_dict_del(struct ferry__remote *r, const void *key, size_t klen,
                           int64_t timeout_ns);
int ferry__remote_dict_cas(struct ferry__remote *r, const void *key, size_t klen,
                           const void *expect, size_t elen, const void *val, size_t vlen,
                           int64_t timeout_ns);
int ferry__remote_dict_update(struct ferry__remote *r, const void *key, size_t klen,
                              ferry_dict_update_fn fn, void *arg, int64_t timeout_ns);
ssize_t ferry__remote_dict_size(struct ferry__remote *r);
int ferry__remote_dict_clear(struct ferry__remote *r, int64_t timeout_ns);
int ferry__remote_dict_next(struct ferry__remote *r, uint64_t *cursor, void *key, size_t kcap,
                            size_t *klen, void *val, size_t vcap, size_t *vlen);
int ferry__remote_dict_stats(struct ferry__remote *r, ferry_dict_stats *out);

int ferry__remote_bus_loan(struct ferry__remote *r, ferry_frame **f, int64_t timeout_ns);
int ferry__remote_bus_publish(struct ferry__remote *r, ferry_frame *f);
uint64_t ferry__remote_bus_seq(struct ferry__remote *r);
int ferry__remote_bus_shutdown(struct ferry__remote *r);
int ferry__remote_bus_stats(struct ferry__remote *r, ferry_bus_stats *out);
int ferry__remote_bus_next(struct ferry__remote *r, const ferry_frame **f,
                           ferry_bus_frame_info *info, int64_t timeout_ns);
int ferry__remote_bus_release(struct ferry__remote *r, const ferry_frame *f);
int ferry__remote_bus_sub_stats(struct ferry__remote *r, ferry_bus_sub_stats *out);
ssize_t ferry__remote_bus_stat(const char *name, ferry_bus_stats *out,
                               ferry_bus_sub_stats *subs, size_t cap);

#endif /* FERRY_REMOTE_H */
