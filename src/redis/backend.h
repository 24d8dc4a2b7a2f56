/* SPDX-License-Identifier: MIT */
/*
 * backend.h: the Redis backend's implementation of the operations table
 * of src/remote.h, one function per entry, named ferry__r<object>_<call>.
 * backend.c assembles the table; the tests reach the backend through it.
 * Never installed.
 */
#ifndef FERRY_REDIS_BACKEND_H
#define FERRY_REDIS_BACKEND_H

#include "remote.h"

/* The backend's entry point (exported from libferry-redis.so). */
__attribute__((visibility("default"))) const struct ferry__remote_ops *
ferry_redis_backend(uint32_t abi);

int ferry__rq_create(const char *name, const ferry_queue_options *o,
                     const ferry_redis_options *ro, ferry__rq **out);
int ferry__rq_open(const char *name, uint32_t role, const ferry_open_options *o,
                   ferry__rq **out);
void ferry__rq_close(ferry__rq *q);
int ferry__rq_put(ferry__rq *q, const void *msg, size_t len, int64_t timeout_ns);
ssize_t ferry__rq_get(ferry__rq *q, void *buf, size_t cap, int64_t timeout_ns);
ssize_t ferry__rq_put_many(ferry__rq *q, const ferry_queue_vec *msgs, size_t n,
                           int64_t timeout_ns);
ssize_t ferry__rq_get_many(ferry__rq *q, ferry_queue_vec *msgs, size_t n, int64_t timeout_ns);
int ferry__rq_reserve(ferry__rq *q, size_t len, void **data, int64_t timeout_ns);
int ferry__rq_commit(ferry__rq *q, size_t len);
int ferry__rq_cancel(ferry__rq *q);
int ferry__rq_peek(ferry__rq *q, const void **data, size_t *len, int64_t timeout_ns);
int ferry__rq_release(ferry__rq *q);
int ferry__rq_shutdown(ferry__rq *q);
size_t ferry__rq_depth(ferry__rq *q);
int ferry__rq_stats(ferry__rq *q, ferry_queue_stats *out);
int ferry__rq_stat(const char *name, ferry_queue_stats *out);
int ferry__rq_info(const char *name, ferry_redis_queue_info *out);
ssize_t ferry__rq_dead(const char *name, ferry_redis_dead_letter *out, void *buf, size_t cap,
                       size_t n);
int ferry__rq_recover(ferry__rq *q);
/* The handle's id on the server (its consumer is "c<id>"): for tests. */
int64_t ferry__rq_id(const ferry__rq *q);

int ferry__rh_create(const char *name, const ferry_heap_options *o,
                     const ferry_redis_options *ro, ferry__rh **out);
int ferry__rh_open(const char *name, const ferry_open_options *o, ferry__rh **out);
void ferry__rh_close(ferry__rh *h);
int ferry__rh_push(ferry__rh *h, ferry_heap_key key, const void *data, size_t len,
                   int64_t timeout_ns);
ssize_t ferry__rh_pop(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap,
                      int64_t timeout_ns);
ssize_t ferry__rh_peek(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap);
ssize_t ferry__rh_size(ferry__rh *h);
int ferry__rh_clear(ferry__rh *h, int64_t timeout_ns);
int ferry__rh_replace_all(ferry__rh *h, const ferry_heap_record *recs, size_t n,
                          int64_t timeout_ns);
int ferry__rh_stats(ferry__rh *h, ferry_heap_stats *out);

int ferry__rd_create(const char *name, const ferry_dict_options *o,
                     const ferry_redis_options *ro, ferry__rd **out);
int ferry__rd_open(const char *name, const ferry_open_options *o, ferry__rd **out);
void ferry__rd_close(ferry__rd *d);
ssize_t ferry__rd_get(ferry__rd *d, const void *key, size_t klen, void *buf, size_t cap);
int ferry__rd_set(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t timeout_ns);
int ferry__rd_set_nx(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                     int64_t timeout_ns);
int ferry__rd_del(ferry__rd *d, const void *key, size_t klen, int64_t timeout_ns);
int ferry__rd_cas(ferry__rd *d, const void *key, size_t klen, const void *expect, size_t elen,
                  const void *val, size_t vlen, int64_t timeout_ns);
int ferry__rd_update(ferry__rd *d, const void *key, size_t klen, ferry_dict_update_fn fn,
                     void *arg, int64_t timeout_ns);
ssize_t ferry__rd_size(ferry__rd *d);
int ferry__rd_clear(ferry__rd *d, int64_t timeout_ns);
int ferry__rd_next(ferry__rd *d, uint64_t *cursor, void *key, size_t kcap, size_t *klen,
                   void *val, size_t vcap, size_t *vlen);
int ferry__rd_stats(ferry__rd *d, ferry_dict_stats *out);

int ferry__rb_create(const char *name, const ferry__rschema *schema, const ferry_bus_options *o,
                     const ferry_redis_options *ro, ferry__rb **out);
int ferry__rb_loan(ferry__rb *b, void **frame, int64_t timeout_ns);
int ferry__rb_publish(ferry__rb *b);
uint64_t ferry__rb_seq(ferry__rb *b);
int ferry__rb_shutdown(ferry__rb *b);
void ferry__rb_close(ferry__rb *b);
int ferry__rb_stats(ferry__rb *b, ferry_bus_stats *out);
int ferry__rs_subscribe(const char *name, const ferry_open_options *o, ferry__rs **out,
                        ferry__rschema *schema);
int ferry__rs_next(ferry__rs *s, const void **frame, ferry_bus_frame_info *info,
                   int64_t timeout_ns);
int ferry__rs_release(ferry__rs *s);
void ferry__rs_unsubscribe(ferry__rs *s);
int ferry__rs_stats(ferry__rs *s, ferry_bus_sub_stats *out);
ssize_t ferry__rb_stat(const char *name, ferry_bus_stats *out, ferry_bus_sub_stats *subs,
                       size_t cap);

int ferry__redis_unlink(const char *name);
ssize_t ferry__redis_list(const char *server, ferry_redis_entry *out, size_t cap);

#endif /* FERRY_REDIS_BACKEND_H */
