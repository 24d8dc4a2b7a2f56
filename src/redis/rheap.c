/* SPDX-License-Identifier: MIT */
/*
 * rheap.c: ferry's heap on a Redis server (docs/design/redis.md
 * [redis-heap]). The records are one sorted set whose members sort in pop
 * order: every score is 0 and a member is ukey(8, big-endian) .. seq(8,
 * big-endian) .. payload, so the byte order of members is (key, then
 * insertion) order, exact for every int64 and double key, min or max. A
 * pop moves the first member, in one script, into the in-flight set under
 * a lease that the keeper renews; the handle's next pop or push (or close)
 * acknowledges it, and if its process dies first the record goes back into
 * the heap when the lease expires [heap-lease].
 *
 * A Redis heap handle is used by one thread at a time (the shared-memory
 * heap allows overlapping calls on one handle): its connection and its
 * record in flight are per handle.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "robj.h"

#define SLICE_NS (100 * FERRY_MSEC)
/* Members per ZADD while building a replacement set. */
#define BUILD_CHUNK 1000
/* A replacement set left behind by a writer that died mid-build expires. */
#define BUILD_TTL_MS 300000
#define SIGN_BIT (UINT64_C(1) << 63)
#define SEQ_BYTES 8
#define UKEY_BYTES 8

struct ferry__rh {
  struct ferry__robj o;
  uint32_t order, key_type;
  int64_t max_payload, limit, lease_ms;
  uint64_t replaces; /* this handle's replace_all calls, for unique tokens */
  /* The record in flight (under o.mu for the keeper). */
  bool holding;
  char held[SEQ_BYTES];
};

static void be64_put(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static uint64_t be64_get(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* The key as an unsigned number whose order is the pop order. */
static int key_encode(const struct ferry__rh *h, ferry_heap_key k, uint64_t *out)
{
  uint64_t u;
  if (h->key_type == FERRY_HEAP_KEY_DOUBLE) {
    double d = k.f64;
    if (isnan(d))
      return -EINVAL;
    if (d == 0.0)
      d = 0.0; /* -0.0 and 0.0 are one key */
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    u = (bits & SIGN_BIT) ? ~bits : (bits | SIGN_BIT);
  } else {
    u = (uint64_t)k.i64 ^ SIGN_BIT;
  }
  *out = h->order == FERRY_HEAP_MAX ? ~u : u;
  return 0;
}

static ferry_heap_key key_decode(const struct ferry__rh *h, uint64_t u)
{
  ferry_heap_key k;
  if (h->order == FERRY_HEAP_MAX)
    u = ~u;
  if (h->key_type == FERRY_HEAP_KEY_DOUBLE) {
    uint64_t bits = (u & SIGN_BIT) ? (u & ~SIGN_BIT) : ~u;
    memcpy(&k.f64, &bits, sizeof bits);
  } else {
    k.i64 = (int64_t)(u ^ SIGN_BIT);
  }
  return k;
}

static void owner(const struct ferry__rh *h, char out[24])
{
  snprintf(out, 24, "h%lld", (long long)h->o.id);
}

/* ---- push -------------------------------------------------------------------------- */

int ferry__rh_push(ferry__rh *h, ferry_heap_key key, const void *data, size_t len,
                   int64_t timeout_ns)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  if (len > (uint64_t)h->max_payload)
    return -EMSGSIZE;
  uint64_t u;
  if ((rc = key_encode(h, key, &u)) || (rc = ferry__check_timeout(timeout_ns)))
    return rc;
  uint8_t *rec = malloc(UKEY_BYTES + len);
  if (!rec)
    return -ENOMEM;
  be64_put(rec, u);
  if (len)
    memcpy(rec + UKEY_BYTES, data, len);
  char me[24], na[4];
  owner(h, me);
  snprintf(na, sizeof na, "%d", h->holding ? 1 : 0);
  const char *args[4] = {me, na};
  size_t lens[4] = {strlen(me), strlen(na)};
  size_t n = 2;
  if (h->holding) {
    args[n] = h->held;
    lens[n++] = SEQ_BYTES;
  }
  args[n] = (const char *)rec;
  lens[n++] = UKEY_BYTES + len;
  redisReply *r = NULL;
  rc = ferry__robj_script(&h->o, &h->o.c, FERRY__S_H_PUSH, args, lens, n,
                          ferry__redis_deadline(timeout_ns), &r);
  free(rec);
  if (rc)
    return rc;
  freeReplyObject(r);
  pthread_mutex_lock(&h->o.mu);
  h->holding = false; /* acknowledged with the push */
  pthread_mutex_unlock(&h->o.mu);
  return 0;
}

/* ---- pop and peek -------------------------------------------------------------------- */

/* The pop script once. Returns the payload length, -EMSGSIZE, or 0 with
 * *empty set (and the wake-up id and wait), or an error. */
static ssize_t pop_once(struct ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap,
                        bool peek, bool *empty, char *evid, size_t evcap, int64_t *wait_ms,
                        int64_t deadline)
{
  char me[24], capbuf[24], na[4];
  owner(h, me);
  snprintf(capbuf, sizeof capbuf, "%zu", cap > (size_t)h->max_payload ? (size_t)h->max_payload : cap);
  bool ack = h->holding && !peek;
  snprintf(na, sizeof na, "%d", ack ? 1 : 0);
  const char *args[5] = {me, capbuf, peek ? "1" : "0", na, h->held};
  size_t lens[5] = {strlen(me), strlen(capbuf), 1, strlen(na), SEQ_BYTES};
  redisReply *r = NULL;
  int rc = ferry__robj_script(&h->o, &h->o.c, FERRY__S_H_POP, args, lens, ack ? 5 : 4, deadline,
                              &r);
  if (rc)
    return rc;
  if (ack) {
    pthread_mutex_lock(&h->o.mu);
    h->holding = false;
    pthread_mutex_unlock(&h->o.mu);
  }
  int64_t tag;
  ssize_t ret = FERRY_ECORRUPT;
  *empty = false;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || ferry__reply_i64(r->element[0], &tag))
    goto out;
  if (tag == 0) {
    const redisReply *ev = r->element[1];
    if (r->elements != 3 || !ferry__reply_is_str(ev) || ev->len >= evcap ||
        ferry__reply_i64(r->element[2], wait_ms))
      goto out;
    memcpy(evid, ev->str, ev->len);
    evid[ev->len] = 0;
    *empty = true;
    ret = 0;
  } else if (tag == -1) {
    ret = -EMSGSIZE;
  } else if (tag == 1) {
    const redisReply *m = r->element[1];
    if (!ferry__reply_is_str(m) || m->len < UKEY_BYTES + SEQ_BYTES)
      goto out;
    size_t plen = m->len - UKEY_BYTES - SEQ_BYTES;
    if (plen > cap || plen > (size_t)h->max_payload)
      goto out; /* the script checked the size: a reply that disagrees is corrupt */
    if (key)
      *key = key_decode(h, be64_get((const uint8_t *)m->str));
    if (plen)
      memcpy(buf, m->str + UKEY_BYTES + SEQ_BYTES, plen);
    if (!peek && h->lease_ms > 0) {
      pthread_mutex_lock(&h->o.mu);
      memcpy(h->held, m->str + UKEY_BYTES, SEQ_BYTES);
      h->holding = true;
      pthread_mutex_unlock(&h->o.mu);
    }
    ret = (ssize_t)plen;
  }
out:
  freeReplyObject(r);
  return ret;
}

ssize_t ferry__rh_pop(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap,
                      int64_t timeout_ns)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  if ((rc = ferry__check_timeout(timeout_ns)))
    return rc;
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  char evkey[FERRY_NAME_MAX + 32];
  snprintf(evkey, sizeof evkey, "ferry:{%s}:ev", h->o.name);
  for (;;) {
    bool empty;
    char evid[64];
    int64_t wait_ms;
    ssize_t n = pop_once(h, key, buf, cap, false, &empty, evid, sizeof evid, &wait_ms, deadline);
    if (n < 0 || !empty)
      return n;
    if (timeout_ns == 0)
      return -EAGAIN;
    int64_t left = deadline - ferry__redis_now();
    if (left <= 0)
      return -ETIMEDOUT;
    int64_t slice = left < SLICE_NS ? left : SLICE_NS;
    if (wait_ms >= 0 && (wait_ms + 1) * FERRY_MSEC < slice)
      slice = (wait_ms + 1) * FERRY_MSEC; /* a lease expires then: its record comes back */
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(slice / FERRY_MSEC > 0 ? slice / FERRY_MSEC : 1));
    /* Wakes on the next push (the wake-up stream gets an entry). */
    const char *args[] = {"XREAD", "BLOCK", ms, "STREAMS", evkey, evid};
    redisReply *r = NULL;
    rc = ferry__robj_cmd(&h->o, &h->o.c, args, NULL, 6, deadline, slice, &r);
    if (rc)
      return rc;
    freeReplyObject(r);
  }
}

ssize_t ferry__rh_peek(ferry__rh *h, ferry_heap_key *key, void *buf, size_t cap)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  bool empty;
  char evid[64];
  int64_t wait_ms;
  ssize_t n = pop_once(h, key, buf, cap, true, &empty, evid, sizeof evid, &wait_ms,
                       ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS));
  return empty ? -EAGAIN : n;
}

ssize_t ferry__rh_size(ferry__rh *h)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  char key[FERRY_NAME_MAX + 32];
  snprintf(key, sizeof key, "ferry:{%s}:z", h->o.name);
  const char *args[] = {"ZCARD", key};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&h->o, &h->o.c, args, NULL, 2,
                           ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS), 0, &r)))
    return rc;
  int64_t v = 0;
  if (ferry__reply_i64(r, &v) || v < 0 || v > h->limit)
    v = FERRY_ECORRUPT; /* a count no heap of ours can hold */
  freeReplyObject(r);
  return (ssize_t)v;
}

/* ---- replace_all, clear ------------------------------------------------------------------ */

int ferry__rh_replace_all(ferry__rh *h, const ferry_heap_record *recs, size_t n,
                          int64_t timeout_ns)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  if ((rc = ferry__check_timeout(timeout_ns)))
    return rc;
  uint64_t *ukeys = malloc((n ? n : 1) * sizeof *ukeys);
  if (!ukeys)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (recs[i].len > (uint64_t)h->max_payload) {
      free(ukeys);
      return -EMSGSIZE;
    }
    if ((rc = key_encode(h, recs[i].key, &ukeys[i]))) {
      free(ukeys);
      return rc;
    }
  }
  if (n > (uint64_t)h->limit) {
    free(ukeys);
    return -ENOSPC;
  }
  char suffix[80], token[64], count[24], tmpkey[FERRY_NAME_MAX + 112];
  h->replaces++;
  snprintf(token, sizeof token, "%lld-%llu-%lld", (long long)h->o.id,
           (unsigned long long)h->replaces, (long long)ferry__redis_now());
  snprintf(suffix, sizeof suffix, "tmp:%s", token);
  snprintf(count, sizeof count, "%zu", n);
  snprintf(tmpkey, sizeof tmpkey, "ferry:{%s}:%s", h->o.name, suffix);
  size_t nchunks = (n + BUILD_CHUNK - 1) / BUILD_CHUNK;
  size_t nreps = 1 + nchunks + 2;
  redisReply **reps = calloc(nreps, sizeof *reps);
  uint8_t *m = malloc(UKEY_BYTES + SEQ_BYTES + (size_t)h->max_payload);
  if (!reps || !m) {
    free(reps);
    free(m);
    free(ukeys);
    return -ENOMEM;
  }
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  struct ferry__rconn *c = &h->o.c;
  int attempts = 0;
  ferry__rconn_op(c);
  for (;;) {
    rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      /* The new set is built aside, then swapped in by one script: pops
       * see the old set or the new one [heap-replace]. */
      ferry__rc_begin(c, 2);
      ferry__rc_str(c, "DEL");
      ferry__rc_str(c, tmpkey);
      for (size_t k = 0; k < nchunks; k++) {
        size_t lo = k * BUILD_CHUNK, hi = lo + BUILD_CHUNK < n ? lo + BUILD_CHUNK : n;
        ferry__rc_begin(c, 2 + 2 * (hi - lo));
        ferry__rc_str(c, "ZADD");
        ferry__rc_str(c, tmpkey);
        for (size_t i = lo; i < hi; i++) {
          be64_put(m, ukeys[i]);
          be64_put(m + UKEY_BYTES, i + 1); /* equal keys pop in array order */
          if (recs[i].len)
            memcpy(m + UKEY_BYTES + SEQ_BYTES, recs[i].data, recs[i].len);
          ferry__rc_str(c, "0");
          ferry__rc_arg(c, m, UKEY_BYTES + SEQ_BYTES + recs[i].len);
        }
      }
      ferry__rc_begin(c, 3);
      ferry__rc_str(c, "PEXPIRE");
      ferry__rc_str(c, tmpkey);
      ferry__rc_i64(c, BUILD_TTL_MS);
      ferry__rc_script(c, FERRY__S_H_SWAP, 1, 3);
      ferry__rc_key(c, h->o.name, "meta");
      ferry__rc_str(c, suffix);
      ferry__rc_str(c, token);
      ferry__rc_str(c, count);
      rc = ferry__rconn_run(c, reps, nreps, deadline, 0);
      if (!rc) {
        for (size_t i = 0; i < nreps && !rc; i++)
          if (reps[i]->type == REDIS_REPLY_ERROR)
            rc = ferry__redis_reply_err(reps[i]);
        for (size_t i = 0; i < nreps; i++)
          freeReplyObject(reps[i]);
        if (!rc || !ferry__redis_retryable(rc))
          break;
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts)) {
      if (rc == -EINPROGRESS)
        rc = -EAGAIN;
      break;
    }
  }
  free(reps);
  free(m);
  free(ukeys);
  if (!rc) {
    pthread_mutex_lock(&h->o.mu);
    h->holding = false; /* in-flight records belonged to the old set */
    pthread_mutex_unlock(&h->o.mu);
  }
  return rc;
}

int ferry__rh_clear(ferry__rh *h, int64_t timeout_ns)
{
  return ferry__rh_replace_all(h, NULL, 0, timeout_ns);
}

int ferry__rh_stats(ferry__rh *h, ferry_heap_stats *out)
{
  int rc = ferry__robj_check(&h->o);
  if (rc)
    return rc;
  char meta[FERRY_NAME_MAX + 32], z[FERRY_NAME_MAX + 32];
  snprintf(meta, sizeof meta, "ferry:{%s}:meta", h->o.name);
  snprintf(z, sizeof z, "ferry:{%s}:z", h->o.name);
  struct ferry__rconn *c = &h->o.c;
  int64_t deadline = ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS);
  int attempts = 0;
  ferry__rconn_op(c);
  for (;;) {
    rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      ferry__rc_begin(c, 5);
      ferry__rc_str(c, "HMGET");
      ferry__rc_str(c, meta);
      ferry__rc_str(c, "pushes");
      ferry__rc_str(c, "pops");
      ferry__rc_str(c, "replaces");
      ferry__rc_begin(c, 2);
      ferry__rc_str(c, "ZCARD");
      ferry__rc_str(c, z);
      redisReply *r[2];
      rc = ferry__rconn_run(c, r, 2, deadline, 0);
      if (!rc) {
        ferry_heap_stats s;
        memset(&s, 0, sizeof s);
        int64_t v[3] = {0, 0, 0}, size = 0;
        for (size_t i = 0; i < 3 && r[0]->type == REDIS_REPLY_ARRAY && i < r[0]->elements; i++)
          if (r[0]->element[i]->type != REDIS_REPLY_NIL && ferry__reply_i64(r[0]->element[i], &v[i]))
            rc = FERRY_ECORRUPT;
        if (r[0]->type != REDIS_REPLY_ARRAY || ferry__reply_i64(r[1], &size))
          rc = FERRY_ECORRUPT;
        freeReplyObject(r[0]);
        freeReplyObject(r[1]);
        if (rc)
          return rc;
        s.size = (uint64_t)size;
        s.capacity = s.max_capacity = (uint64_t)h->limit;
        s.max_payload = (uint64_t)h->max_payload;
        s.pushes = (uint64_t)v[0];
        s.pops = (uint64_t)v[1];
        s.replaces = (uint64_t)v[2];
        *out = s;
        return 0;
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts))
      return rc == -EINPROGRESS ? -EAGAIN : rc;
  }
}

/* ---- the keeper ---------------------------------------------------------------------------- */

static int h_tick(struct ferry__robj *o, struct ferry__rconn *kc, int64_t deadline)
{
  struct ferry__rh *h = (struct ferry__rh *)o;
  char seq[SEQ_BYTES];
  pthread_mutex_lock(&o->mu);
  bool holding = h->holding;
  memcpy(seq, h->held, SEQ_BYTES);
  pthread_mutex_unlock(&o->mu);
  if (!holding)
    return 0;
  char me[24];
  owner(h, me);
  const char *args[] = {me, seq};
  size_t lens[] = {strlen(me), SEQ_BYTES};
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, kc, FERRY__S_H_RENEW, args, lens, 2, deadline, &r);
  if (rc)
    return rc;
  if (r->type == REDIS_REPLY_ARRAY && r->elements) {
    pthread_mutex_lock(&o->mu);
    o->lost += r->elements;
    pthread_mutex_unlock(&o->mu);
  }
  freeReplyObject(r);
  return 0;
}

/* ---- create, open, close ---------------------------------------------------------------------- */

static int h_open(struct ferry__rh *h, int64_t timeout_ns)
{
  int rc = ferry__robj_open(&h->o, "", timeout_ns);
  if (rc)
    return rc;
  int64_t order, kt;
  if (ferry__robj_meta_i64(&h->o, "order", FERRY_HEAP_MIN, FERRY_HEAP_MAX, &order) ||
      ferry__robj_meta_i64(&h->o, "key_type", FERRY_HEAP_KEY_INT64, FERRY_HEAP_KEY_DOUBLE, &kt) ||
      ferry__robj_meta_i64(&h->o, "max_payload", 0, FERRY_HEAP_MAX_PAYLOAD, &h->max_payload) ||
      ferry__robj_meta_i64(&h->o, "limit", 1, (int64_t)FERRY_HEAP_MAX_CAPACITY, &h->limit) ||
      ferry__robj_meta_i64(&h->o, "lease_ms", 0, FERRY_REDIS_LEASE_MAX_NS / FERRY_MSEC,
                           &h->lease_ms))
    return FERRY_ECORRUPT;
  h->order = (uint32_t)order;
  h->key_type = (uint32_t)kt;
  h->o.tick = h_tick;
  return ferry__robj_keeper_start(&h->o);
}

int ferry__rh_create(const char *name, const ferry_heap_options *o,
                     const ferry_redis_options *ro, ferry__rh **out)
{
  if (!o || !ro)
    return -EINVAL;
  if (o->key_type == FERRY_HEAP_KEY_BYTES)
    return -ENOTSUP; /* byte-string keys are shared memory's (docs/design/redis.md) */
  if (o->order > FERRY_HEAP_MAX || o->key_type > FERRY_HEAP_KEY_DOUBLE || o->reserved0 ||
      (o->flags & ~(uint32_t)FERRY_HEAP_FIXED) || o->max_payload > FERRY_HEAP_MAX_PAYLOAD ||
      o->capacity < 1 || o->capacity > FERRY_HEAP_MAX_CAPACITY ||
      (o->max_capacity &&
       (o->max_capacity < o->capacity || o->max_capacity > FERRY_HEAP_MAX_CAPACITY)) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT ||
      ro->lease_ns < FERRY_REDIS_LEASE_MIN_NS || ro->lease_ns > FERRY_REDIS_LEASE_MAX_NS ||
      (ro->flags & ~(uint32_t)FERRY_REDIS_NO_LEASE))
    return -EINVAL;
  uint64_t limit = o->max_capacity;
  if (o->flags & FERRY_HEAP_FIXED)
    limit = o->capacity;
  else if (!limit)
    limit = o->capacity > FERRY_HEAP_MAX_CAPACITY / FERRY_HEAP_GROWTH_DEFAULT
                ? FERRY_HEAP_MAX_CAPACITY
                : o->capacity * FERRY_HEAP_GROWTH_DEFAULT;
  struct ferry__rh *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  int rc = ferry__robj_init(&h->o, name, "heap");
  if (rc) {
    free(h);
    return rc;
  }
  char order[8], kt[8], mp[24], lim[24], lease[24], live[24];
  snprintf(order, sizeof order, "%u", o->order);
  snprintf(kt, sizeof kt, "%u", o->key_type);
  snprintf(mp, sizeof mp, "%u", o->max_payload);
  snprintf(lim, sizeof lim, "%llu", (unsigned long long)limit);
  int64_t lease_ms = (ro->flags & FERRY_REDIS_NO_LEASE) ? 0 : ro->lease_ns / FERRY_MSEC;
  snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
  snprintf(live, sizeof live, "%lld", (long long)(ro->lease_ns / FERRY_MSEC));
  const char *fields[] = {"order", order, "key_type", kt,    "max_payload", mp,
                          "limit", lim,   "lease_ms", lease, "live_ms",     live};
  rc = ferry__robj_create(&h->o, fields, NULL, sizeof fields / sizeof fields[0]);
  if (!rc)
    rc = h_open(h, FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    ferry__robj_fini(&h->o, false);
    free(h);
    return rc;
  }
  *out = h;
  return 0;
}

int ferry__rh_open(const char *name, const ferry_open_options *o, ferry__rh **out)
{
  if (o && ((o->flags & FERRY_OPEN_OBSERVE) || o->timeout_ns < 0))
    return -EINVAL;
  struct ferry__rh *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  int rc = ferry__robj_init(&h->o, name, "heap");
  if (!rc)
    rc = h_open(h, o ? o->timeout_ns : FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    if (h->o.kind)
      ferry__robj_fini(&h->o, false);
    free(h);
    return rc;
  }
  *out = h;
  return 0;
}

void ferry__rh_close(ferry__rh *h)
{
  if (!h)
    return;
  if (!ferry__robj_check(&h->o)) {
    ferry__robj_keeper_stop(&h->o);
    if (h->holding) {
      /* Done with the record in flight. */
      char me[24];
      owner(h, me);
      const char *args[] = {me, h->held};
      size_t lens[] = {strlen(me), SEQ_BYTES};
      redisReply *r = NULL;
      if (ferry__robj_script(&h->o, &h->o.c, FERRY__S_H_ACK, args, lens, 2,
                             ferry__redis_deadline(FERRY__REDIS_IO_MIN_NS), &r) == 0)
        freeReplyObject(r);
    }
  }
  ferry__robj_fini(&h->o, false);
  free(h);
}
