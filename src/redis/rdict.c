/* SPDX-License-Identifier: MIT */
/*
 * rdict.c: ferry's dict on a Redis server (docs/design/redis.md
 * [redis-dict]): one hash. get, del, size and clear are plain commands;
 * set and set_nx are a script (they enforce the capacity), and so is
 * compare-and-set. update reads the value, runs the caller's callback here,
 * and applies its verdict with compare-and-set, again until no one changed
 * the entry in between: the callback may run more than once, and its
 * verdict applies atomically to the value it saw [dict-cas]. The cursor
 * walks HSCAN batches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "backend.h"
#include "robj.h"

/* HSCAN's hint of entries per batch. */
#define SCAN_COUNT 128
/* The cursor: the HSCAN cursor above, the next index in its batch + 1
 * below (0 is the start). */
#define IDX_BITS 20
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)
#define UPDATE_NAP_NS (100 * 1000)

struct ferry__rd {
  struct ferry__robj o;
  int64_t max_key, max_value, limit;
  char hkey[FERRY_NAME_MAX + 32];
  /* The last HSCAN batch, for the cursor. */
  redisReply *batch;
  uint64_t batch_cursor;
};

static int check_key(const struct ferry__rd *d, size_t klen)
{
  int rc = ferry__robj_check(&d->o);
  if (rc)
    return rc;
  return klen > (uint64_t)d->max_key ? -E2BIG : 0;
}

static int64_t io_deadline(void) { return ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS); }

/* A caller's timeout bounds the call's round trips (retries included). */
static int checked_deadline(int64_t timeout_ns, int64_t *deadline)
{
  if (timeout_ns < 0)
    return -EINVAL;
  *deadline = ferry__redis_deadline(timeout_ns);
  return 0;
}

ssize_t ferry__rd_get(ferry__rd *d, const void *key, size_t klen, void *buf, size_t cap)
{
  int rc = check_key(d, klen);
  if (rc)
    return rc;
  const char *args[] = {"HGET", d->hkey, key};
  size_t lens[] = {4, strlen(d->hkey), klen};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, lens, 3, io_deadline(), 0, &r)))
    return rc;
  ssize_t n;
  if (r->type == REDIS_REPLY_NIL) {
    n = -ENOENT;
  } else if (r->type != REDIS_REPLY_STRING) {
    n = FERRY_ECORRUPT;
  } else if (r->len > cap) {
    n = -EMSGSIZE;
  } else {
    if (r->len)
      memcpy(buf, r->str, r->len);
    n = (ssize_t)r->len;
  }
  freeReplyObject(r);
  return n;
}

static int set_mode(ferry__rd *d, const char *mode, const void *key, size_t klen, const void *val,
                    size_t vlen, int64_t timeout_ns)
{
  int rc = check_key(d, klen);
  if (rc)
    return rc;
  if (vlen > (uint64_t)d->max_value)
    return -EMSGSIZE;
  int64_t deadline;
  if ((rc = checked_deadline(timeout_ns, &deadline)))
    return rc;
  const char *args[] = {mode, key, val ? val : ""};
  size_t lens[] = {1, klen, vlen};
  redisReply *r = NULL;
  if ((rc = ferry__robj_script(&d->o, &d->o.c, FERRY__S_D_SET, args, lens, 3, deadline, &r)))
    return rc;
  freeReplyObject(r);
  return 0;
}

int ferry__rd_set(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t timeout_ns)
{
  return set_mode(d, "s", key, klen, val, vlen, timeout_ns);
}

int ferry__rd_set_nx(ferry__rd *d, const void *key, size_t klen, const void *val, size_t vlen,
                     int64_t timeout_ns)
{
  return set_mode(d, "n", key, klen, val, vlen, timeout_ns);
}

int ferry__rd_del(ferry__rd *d, const void *key, size_t klen, int64_t timeout_ns)
{
  int rc = check_key(d, klen);
  if (rc)
    return rc;
  int64_t deadline;
  if ((rc = checked_deadline(timeout_ns, &deadline)))
    return rc;
  const char *args[] = {"HDEL", d->hkey, key};
  size_t lens[] = {4, strlen(d->hkey), klen};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, lens, 3, deadline, 0, &r)))
    return rc;
  int64_t n = 0;
  rc = ferry__reply_i64(r, &n) ? FERRY_ECORRUPT : n ? 0 : -ENOENT;
  freeReplyObject(r);
  return rc;
}

/* The compare-and-set script: expect_absent, or the value expect[0..elen);
 * action 's' (set val), 'd' (delete) or 'k'. cas_errors: report a mismatch
 * as -ENOENT/-EAGAIN, else as 0 (and 1 when applied). */
static int cas_script(ferry__rd *d, const void *key, size_t klen, bool expect_absent,
                      const void *expect, size_t elen, char action, const void *val, size_t vlen,
                      bool cas_errors, int64_t deadline)
{
  char act[2] = {action, 0};
  const char *args[] = {key, expect_absent ? "a" : "v", expect ? expect : "", act,
                        val ? val : "", cas_errors ? "cas" : "upd"};
  size_t lens[] = {klen, 1, expect_absent ? 0 : elen, 1, vlen, 3};
  redisReply *r = NULL;
  int rc = ferry__robj_script(&d->o, &d->o.c, FERRY__S_D_CAS, args, lens, 6, deadline, &r);
  if (rc)
    return rc;
  int64_t n = 0;
  rc = ferry__reply_i64(r, &n) || n < 0 || n > 1 ? FERRY_ECORRUPT : (int)n;
  freeReplyObject(r);
  return rc;
}

int ferry__rd_cas(ferry__rd *d, const void *key, size_t klen, const void *expect, size_t elen,
                  const void *val, size_t vlen, int64_t timeout_ns)
{
  int rc = check_key(d, klen);
  if (rc)
    return rc;
  if (vlen > (uint64_t)d->max_value)
    return -EMSGSIZE;
  int64_t deadline;
  if ((rc = checked_deadline(timeout_ns, &deadline)))
    return rc;
  rc = cas_script(d, key, klen, false, expect, elen, 's', val, vlen, true, deadline);
  return rc == 1 ? 0 : rc < 0 ? rc : FERRY_ECORRUPT;
}

int ferry__rd_update(ferry__rd *d, const void *key, size_t klen, ferry_dict_update_fn fn,
                     void *arg, int64_t timeout_ns)
{
  int rc = check_key(d, klen);
  if (rc)
    return rc;
  int64_t deadline;
  if ((rc = checked_deadline(timeout_ns, &deadline)))
    return rc;
  void *out = malloc((size_t)d->max_value ? (size_t)d->max_value : 1);
  if (!out)
    return -ENOMEM;
  for (unsigned tries = 0;; tries++) {
    const char *args[] = {"HGET", d->hkey, key};
    size_t lens[] = {4, strlen(d->hkey), klen};
    redisReply *r = NULL;
    if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, lens, 3, deadline, 0, &r)))
      break;
    if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING) {
      freeReplyObject(r);
      rc = FERRY_ECORRUPT;
      break;
    }
    bool exists = r->type == REDIS_REPLY_STRING;
    size_t out_len = 0;
    int verdict = fn(exists ? r->str : NULL, exists ? r->len : 0, exists, out,
                     (size_t)d->max_value, &out_len, arg);
    int applied;
    if (verdict < 0 || verdict == FERRY_DICT_KEEP) {
      freeReplyObject(r);
      rc = verdict;
      break;
    } else if (verdict == FERRY_DICT_SET) {
      if (out_len > (uint64_t)d->max_value) {
        freeReplyObject(r);
        rc = -EMSGSIZE;
        break;
      }
      applied = cas_script(d, key, klen, !exists, exists ? r->str : NULL, exists ? r->len : 0,
                           's', out, out_len, false, deadline);
    } else if (verdict == FERRY_DICT_DELETE) {
      applied = exists ? cas_script(d, key, klen, false, r->str, r->len, 'd', NULL, 0, false,
                                    deadline)
                       : 1;
    } else {
      freeReplyObject(r);
      rc = -EINVAL;
      break;
    }
    freeReplyObject(r);
    if (applied < 0) {
      rc = applied;
      break;
    }
    if (applied == 1) {
      rc = verdict;
      break;
    }
    /* Someone changed the entry between our read and our write: again,
     * while the timeout allows. */
    if (ferry__redis_now() >= deadline) {
      rc = timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
      break;
    }
    if (tries > 8)
      ferry__redis_sleep(UPDATE_NAP_NS, deadline);
  }
  free(out);
  return rc;
}

ssize_t ferry__rd_size(ferry__rd *d)
{
  int rc = ferry__robj_check(&d->o);
  if (rc)
    return rc;
  const char *args[] = {"HLEN", d->hkey};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, NULL, 2, io_deadline(), 0, &r)))
    return rc;
  int64_t n = 0;
  if (ferry__reply_i64(r, &n) || n < 0 || n > d->limit)
    n = FERRY_ECORRUPT; /* a count no dict of ours can hold */
  freeReplyObject(r);
  return (ssize_t)n;
}

int ferry__rd_clear(ferry__rd *d, int64_t timeout_ns)
{
  int rc = ferry__robj_check(&d->o);
  if (rc)
    return rc;
  int64_t deadline;
  if ((rc = checked_deadline(timeout_ns, &deadline)))
    return rc;
  const char *args[] = {"DEL", d->hkey};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, NULL, 2, deadline, 0, &r)))
    return rc;
  freeReplyObject(r);
  return 0;
}

/* The HSCAN batch for scan cursor sc (cached). */
static int batch_for(ferry__rd *d, uint64_t sc, const redisReply **entries, uint64_t *next)
{
  if (!d->batch || d->batch_cursor != sc) {
    if (d->batch)
      freeReplyObject(d->batch);
    d->batch = NULL;
    char cur[24], count[24];
    snprintf(cur, sizeof cur, "%llu", (unsigned long long)sc);
    snprintf(count, sizeof count, "%d", SCAN_COUNT);
    const char *args[] = {"HSCAN", d->hkey, cur, "COUNT", count};
    redisReply *r = NULL;
    int rc = ferry__robj_cmd(&d->o, &d->o.c, args, NULL, 5, io_deadline(), 0, &r);
    if (rc)
      return rc;
    const redisReply *c = ferry__reply_at(r, 0), *e = ferry__reply_at(r, 1);
    if (!ferry__reply_is_str(c) || !e || e->type != REDIS_REPLY_ARRAY || e->elements % 2 ||
        e->elements / 2 >= IDX_MASK) {
      freeReplyObject(r);
      return FERRY_ECORRUPT;
    }
    d->batch = r;
    d->batch_cursor = sc;
  }
  const redisReply *c = d->batch->element[0];
  char tmp[32];
  if (c->len >= sizeof tmp)
    return FERRY_ECORRUPT;
  memcpy(tmp, c->str, c->len);
  tmp[c->len] = 0;
  char *end;
  unsigned long long v = strtoull(tmp, &end, 10);
  if (*end || v >> (64 - IDX_BITS))
    return -EOVERFLOW; /* a hash too large for the cursor's encoding */
  *next = v;
  *entries = d->batch->element[1];
  return 0;
}

int ferry__rd_next(ferry__rd *d, uint64_t *cursor, void *key, size_t kcap, size_t *klen,
                   void *val, size_t vcap, size_t *vlen)
{
  int rc = ferry__robj_check(&d->o);
  if (rc)
    return rc;
  uint64_t sc = *cursor >> IDX_BITS, idx = *cursor ? (*cursor & IDX_MASK) - 1 : 0;
  if (*cursor && !(*cursor & IDX_MASK))
    return -EINVAL;
  for (;;) {
    const redisReply *e;
    uint64_t next;
    if ((rc = batch_for(d, sc, &e, &next)))
      return rc;
    if (idx < e->elements / 2) {
      const redisReply *k = e->element[2 * idx], *v = e->element[2 * idx + 1];
      if (!ferry__reply_is_str(k) || !ferry__reply_is_str(v))
        return FERRY_ECORRUPT;
      if (k->len > kcap || v->len > vcap)
        return -EMSGSIZE;
      if (k->len)
        memcpy(key, k->str, k->len);
      if (v->len)
        memcpy(val, v->str, v->len);
      *klen = k->len;
      *vlen = v->len;
      *cursor = sc << IDX_BITS | (idx + 2);
      return 1;
    }
    if (next == 0) {
      *cursor = 0;
      return 0;
    }
    sc = next;
    idx = 0;
  }
}

int ferry__rd_stats(ferry__rd *d, ferry_dict_stats *out)
{
  int rc = ferry__robj_check(&d->o);
  if (rc)
    return rc;
  const char *args[] = {"HLEN", d->hkey};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&d->o, &d->o.c, args, NULL, 2, io_deadline(), 0, &r)))
    return rc;
  int64_t n = 0;
  rc = ferry__reply_i64(r, &n) || n < 0 ? FERRY_ECORRUPT : 0;
  freeReplyObject(r);
  if (rc)
    return rc;
  ferry_dict_stats s;
  memset(&s, 0, sizeof s);
  s.size = s.slots_used = (uint64_t)n;
  s.capacity = s.max_capacity = (uint64_t)d->limit;
  s.max_key = (uint64_t)d->max_key;
  s.max_value = (uint64_t)d->max_value;
  *out = s;
  return 0;
}

/* ---- create, open, close ------------------------------------------------------------ */

static int d_open(struct ferry__rd *d, int64_t timeout_ns)
{
  int rc = ferry__robj_open(&d->o, "", timeout_ns);
  if (rc)
    return rc;
  if (ferry__robj_meta_i64(&d->o, "max_key", 1, FERRY_DICT_MAX_KEY, &d->max_key) ||
      ferry__robj_meta_i64(&d->o, "max_value", 1, FERRY_DICT_MAX_VALUE, &d->max_value) ||
      ferry__robj_meta_i64(&d->o, "limit", 1, (int64_t)FERRY_DICT_MAX_CAPACITY, &d->limit))
    return FERRY_ECORRUPT;
  snprintf(d->hkey, sizeof d->hkey, "ferry:{%s}:h", d->o.name);
  return 0; /* no keeper: a dict holds no lease and needs no presence */
}

int ferry__rd_create(const char *name, const ferry_dict_options *o,
                     const ferry_redis_options *ro, ferry__rd **out)
{
  if (!o || !ro)
    return -EINVAL;
  if ((o->flags & ~(uint32_t)FERRY_DICT_FIXED) || o->reserved0 || !FERRY__RESERVED_OK(o) ||
      o->max_key < 1 || o->max_key > FERRY_DICT_MAX_KEY || o->max_value < 1 ||
      o->max_value > FERRY_DICT_MAX_VALUE ||
      o->capacity < 1 || o->capacity > FERRY_DICT_MAX_CAPACITY ||
      (o->max_capacity &&
       (o->max_capacity < o->capacity || o->max_capacity > FERRY_DICT_MAX_CAPACITY)) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  uint64_t limit = o->max_capacity;
  if (o->flags & FERRY_DICT_FIXED)
    limit = o->capacity;
  else if (!limit)
    limit = o->capacity > FERRY_DICT_MAX_CAPACITY / FERRY_DICT_GROWTH_DEFAULT
                ? FERRY_DICT_MAX_CAPACITY
                : o->capacity * FERRY_DICT_GROWTH_DEFAULT;
  struct ferry__rd *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  int rc = ferry__robj_init(&d->o, name, "dict");
  if (rc) {
    free(d);
    return rc;
  }
  char mk[24], mv[24], lim[24];
  snprintf(mk, sizeof mk, "%u", o->max_key);
  snprintf(mv, sizeof mv, "%u", o->max_value);
  snprintf(lim, sizeof lim, "%llu", (unsigned long long)limit);
  const char *fields[] = {"max_key", mk, "max_value", mv, "limit", lim, "live_ms", "1000"};
  rc = ferry__robj_create(&d->o, fields, NULL, sizeof fields / sizeof fields[0]);
  if (!rc)
    rc = d_open(d, FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    ferry__robj_fini(&d->o, false);
    free(d);
    return rc;
  }
  *out = d;
  return 0;
}

int ferry__rd_open(const char *name, const ferry_open_options *o, ferry__rd **out)
{
  if (o && ((o->flags & FERRY_OPEN_OBSERVE) || o->timeout_ns < 0))
    return -EINVAL;
  struct ferry__rd *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  int rc = ferry__robj_init(&d->o, name, "dict");
  if (!rc)
    rc = d_open(d, o ? o->timeout_ns : FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    if (d->o.kind)
      ferry__robj_fini(&d->o, false);
    free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void ferry__rd_close(ferry__rd *d)
{
  if (!d)
    return;
  if (d->batch)
    freeReplyObject(d->batch);
  ferry__robj_fini(&d->o, false);
  free(d);
}
