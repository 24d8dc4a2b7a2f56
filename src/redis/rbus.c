/* SPDX-License-Identifier: MIT */
/*
 * rbus.c: ferry's bus on a Redis server (docs/design/redis.md [redis-bus]).
 * Frames are entries of one stream trimmed to the last K (MAXLEN K); frame
 * seq s has the id 0-(s+1), so a subscriber asks for exactly the frame it
 * wants. A subscriber's take copies the frame into its handle and records
 * the next seq it wants (cur); in LOCKSTEP the publisher's loan waits until
 * every live subscriber has taken the frame the next publish will trim, so
 * every live subscriber sees every frame [bus-lockstep]. In LATEST a take
 * copies the newest frame and the publisher never waits. Presence (the
 * keeper's heartbeat) tells the subscribers that the publisher died, and
 * the publisher which subscribers died.
 *
 * The frames' arrays are libferry's business (src/remote.c makes the views
 * over the schema it validated); here a frame is frame_bytes of bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "robj.h"

#define SLICE_NS (100 * FERRY_MSEC)
#define FRAME_ALIGN 64
/* The server refuses longer strings by default (proto-max-bulk-len). */
#define REDIS_MAX_FRAME (UINT64_C(512) << 20)
#define LIVE_MIN_MS 1000

struct ferry__rb {
  struct ferry__robj o;
  uint32_t mode, slots, max_subs;
  uint64_t frame_bytes;
  void *frame;
  bool loaned, shut;
  uint64_t seq; /* frames published */
  uint64_t loan_waits, wait_ns;
  char skey[FERRY_NAME_MAX + 32], rkey[FERRY_NAME_MAX + 32];
};

struct ferry__rs {
  struct ferry__robj o;
  uint32_t mode;
  uint64_t frame_bytes;
  void *frame;
  bool held;
  uint64_t cursor; /* the next seq to take */
  uint64_t received, skipped;
  void *schema;
  size_t schema_len;
  char skey[FERRY_NAME_MAX + 32];
};

static void *frame_alloc(uint64_t bytes)
{
  size_t n = (size_t)((bytes + FRAME_ALIGN - 1) / FRAME_ALIGN * FRAME_ALIGN);
  void *p = aligned_alloc(FRAME_ALIGN, n ? n : FRAME_ALIGN);
  if (p)
    memset(p, 0, n ? n : FRAME_ALIGN);
  return p;
}

static int64_t io_deadline(void) { return ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS); }

static int presence_tick(struct ferry__robj *o, struct ferry__rconn *kc, int64_t deadline)
{
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)o->id);
  const char *args[] = {"bus", o->roles, id};
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, kc, FERRY__S_PRESENCE, args, NULL, 3, deadline, &r);
  if (!rc)
    freeReplyObject(r);
  return rc;
}

/* Waits on stream key after id for at most ms (a blocking XREAD). */
static int wait_stream(struct ferry__robj *o, const char *key, const char *id, int64_t slice,
                       int64_t deadline)
{
  char ms[24];
  snprintf(ms, sizeof ms, "%lld", (long long)(slice / FERRY_MSEC > 0 ? slice / FERRY_MSEC : 1));
  const char *args[] = {"XREAD", "BLOCK", ms, "STREAMS", key, id};
  redisReply *r = NULL;
  int rc = ferry__robj_cmd(o, &o->c, args, NULL, 6, deadline, slice, &r);
  if (!rc)
    freeReplyObject(r);
  return rc;
}

/* ---- publisher ---------------------------------------------------------------------------- */

int ferry__rb_loan(ferry__rb *b, void **frame, int64_t timeout_ns)
{
  int rc = ferry__robj_check(&b->o);
  if (rc)
    return rc;
  if (b->loaned)
    return -EBUSY;
  if (b->shut)
    return -EPIPE;
  if ((rc = ferry__check_timeout(timeout_ns)))
    return rc;
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  int64_t t0 = ferry__redis_now();
  bool waited = false;
  while (b->mode == FERRY_BUS_LOCKSTEP && b->seq >= b->slots) {
    redisReply *r = NULL;
    if ((rc = ferry__robj_script(&b->o, &b->o.c, FERRY__S_B_STATE, NULL, NULL, 0, deadline, &r))) {
      if (rc == -EPIPE)
        b->shut = true;
      break;
    }
    int64_t ok, wait_ms = 0;
    const redisReply *rel = ferry__reply_at(r, 1);
    char relid[64] = "0-0";
    if (r->type != REDIS_REPLY_ARRAY || ferry__reply_i64(r->element[0], &ok) ||
        (!ok && (!ferry__reply_is_str(rel) || rel->len >= sizeof relid ||
                 ferry__reply_i64(ferry__reply_at(r, 2), &wait_ms)))) {
      freeReplyObject(r);
      rc = FERRY_ECORRUPT;
      break;
    }
    if (!ok) {
      memcpy(relid, rel->str, rel->len);
      relid[rel->len] = 0;
    }
    freeReplyObject(r);
    if (ok)
      break;
    if (timeout_ns == 0) {
      rc = -EAGAIN;
      break;
    }
    int64_t left = deadline - ferry__redis_now();
    if (left <= 0) {
      rc = -ETIMEDOUT;
      break;
    }
    waited = true;
    int64_t slice = left < SLICE_NS ? left : SLICE_NS;
    if ((wait_ms + 1) * FERRY_MSEC < slice)
      slice = (wait_ms + 1) * FERRY_MSEC; /* a subscriber's presence expires then */
    if ((rc = wait_stream(&b->o, b->rkey, relid, slice, deadline)))
      break;
  }
  if (waited) {
    b->loan_waits++;
    b->wait_ns += (uint64_t)(ferry__redis_now() - t0);
  }
  if (rc)
    return rc;
  b->loaned = true;
  *frame = b->frame;
  return 0;
}

int ferry__rb_publish(ferry__rb *b)
{
  int rc = ferry__robj_check(&b->o);
  if (rc)
    return rc;
  if (!b->loaned)
    return -EINVAL;
  const char *args[] = {b->frame};
  size_t lens[] = {(size_t)b->frame_bytes};
  redisReply *r = NULL;
  rc = ferry__robj_script(&b->o, &b->o.c, FERRY__S_B_PUB, args, lens, 1, io_deadline(), &r);
  if (rc) {
    if (rc == -EPIPE) {
      b->shut = true;
      b->loaned = false;
    }
    return rc;
  }
  int64_t s;
  if (ferry__reply_i64(r, &s) || s < 0)
    rc = FERRY_ECORRUPT;
  else
    b->seq = (uint64_t)s + 1;
  freeReplyObject(r);
  b->loaned = false;
  return rc;
}

uint64_t ferry__rb_seq(ferry__rb *b) { return b->seq; }

int ferry__rb_shutdown(ferry__rb *b)
{
  int rc = ferry__robj_check(&b->o);
  if (rc)
    return rc;
  const char *args[] = {"bus"};
  redisReply *r = NULL;
  rc = ferry__robj_script(&b->o, &b->o.c, FERRY__S_SHUTDOWN, args, NULL, 1, io_deadline(), &r);
  if (rc)
    return rc;
  freeReplyObject(r);
  b->shut = true;
  b->loaned = false;
  return 0;
}

/* Reads the bus's state: the meta fields and the live subscribers. */
static int bus_state(struct ferry__robj *o, ferry_bus_stats *st, ferry_bus_sub_stats *subs,
                     size_t cap, size_t *nsubs)
{
  char meta[FERRY_NAME_MAX + 32], zs[FERRY_NAME_MAX + 32], cur[FERRY_NAME_MAX + 32];
  snprintf(meta, sizeof meta, "ferry:{%s}:meta", o->name);
  snprintf(zs, sizeof zs, "ferry:{%s}:subs", o->name);
  snprintf(cur, sizeof cur, "ferry:{%s}:cur", o->name);
  const char *a1[] = {"HMGET", meta, "kind", "mode", "slots", "max_subs", "frame_bytes", "seq",
                      "shutdown", "dropped"};
  redisReply *r = NULL;
  int rc = ferry__robj_cmd(o, &o->c, a1, NULL, 10, io_deadline(), 0, &r);
  if (rc)
    return rc;
  int64_t v[7] = {0};
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 8) {
    freeReplyObject(r);
    return FERRY_ECORRUPT;
  }
  if (!ferry__reply_is_str(r->element[0])) {
    freeReplyObject(r);
    return -ENOENT;
  }
  if (r->element[0]->len != 3 || memcmp(r->element[0]->str, "bus", 3)) {
    freeReplyObject(r);
    return FERRY_EKIND;
  }
  bool latest = ferry__reply_is_str(r->element[1]) && r->element[1]->len == 6 &&
                !memcmp(r->element[1]->str, "latest", 6);
  for (int i = 2; i < 8; i++)
    if (r->element[i]->type != REDIS_REPLY_NIL && ferry__reply_i64(r->element[i], &v[i - 1]))
      rc = FERRY_ECORRUPT;
  freeReplyObject(r);
  if (rc)
    return rc;
  memset(st, 0, sizeof *st);
  st->mode = latest ? FERRY_BUS_LATEST : FERRY_BUS_LOCKSTEP;
  st->slots = (uint32_t)v[1];
  st->max_subscribers = (uint32_t)v[2];
  st->frame_bytes = (uint64_t)v[3];
  st->published = (uint64_t)v[4];
  st->shutdown = v[5] != 0;
  st->dropped = (uint64_t)v[6];
  const char *a2[] = {"ZRANGE", zs, "0", "-1"};
  if ((rc = ferry__robj_cmd(o, &o->c, a2, NULL, 4, io_deadline(), 0, &r)))
    return rc;
  size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
  st->subscribers = (uint32_t)n;
  for (size_t i = 0; i < n && i < cap; i++) {
    const redisReply *m = r->element[i];
    memset(&subs[i], 0, sizeof subs[i]);
    subs[i].slot = (uint32_t)i + 1;
    if (!ferry__reply_is_str(m))
      continue;
    char member[64];
    size_t ml = m->len < sizeof member - 1 ? m->len : sizeof member - 1;
    memcpy(member, m->str, ml);
    member[ml] = 0;
    const char *a3[] = {"HGET", cur, member};
    redisReply *c;
    if (ferry__robj_cmd(o, &o->c, a3, NULL, 3, io_deadline(), 0, &c) == 0) {
      int64_t next = 0;
      if (!ferry__reply_i64(c, &next) && next >= 0) {
        subs[i].next_seq = (uint64_t)next;
        subs[i].lag = st->published > (uint64_t)next ? st->published - (uint64_t)next : 0;
      }
      freeReplyObject(c);
    }
  }
  freeReplyObject(r);
  if (nsubs)
    *nsubs = n;
  return 0;
}

int ferry__rb_stats(ferry__rb *b, ferry_bus_stats *out)
{
  int rc = ferry__robj_check(&b->o);
  if (rc)
    return rc;
  ferry_bus_stats st;
  if ((rc = bus_state(&b->o, &st, NULL, 0, NULL)))
    return rc;
  st.loan_waits = b->loan_waits;
  st.wait_ns = b->wait_ns;
  *out = st;
  return 0;
}

ssize_t ferry__rb_stat(const char *name, ferry_bus_stats *out, ferry_bus_sub_stats *subs,
                       size_t cap)
{
  struct ferry__robj o;
  int rc = ferry__robj_init(&o, name, "bus");
  if (rc)
    return rc;
  size_t n = 0;
  rc = bus_state(&o, out, subs, cap, &n);
  ferry__robj_fini(&o, false);
  return rc ? rc : (ssize_t)n;
}

int ferry__rb_create(const char *name, const ferry__rschema *schema, const ferry_bus_options *o,
                     const ferry_redis_options *ro, ferry__rb **out)
{
  if (!o || !ro || !schema)
    return -EINVAL;
  if ((o->mode != FERRY_BUS_LOCKSTEP && o->mode != FERRY_BUS_LATEST) || o->slots < 2 ||
      o->slots > FERRY_BUS_SLOTS_MAX || (o->mode == FERRY_BUS_LATEST && o->slots < 3) ||
      o->max_subscribers < 1 || o->max_subscribers > FERRY_BUS_SUBSCRIBERS_MAX ||
      o->region.liveness_ns <= 0)
    return -EINVAL;
  if (schema->frame_bytes > REDIS_MAX_FRAME)
    return -EOVERFLOW;
  struct ferry__rb *b = calloc(1, sizeof *b);
  if (!b)
    return -ENOMEM;
  int rc = ferry__robj_init(&b->o, name, "bus");
  if (rc) {
    free(b);
    return rc;
  }
  char slots[8], ms[8], fb[24], live[24];
  snprintf(slots, sizeof slots, "%u", o->slots);
  snprintf(ms, sizeof ms, "%u", o->max_subscribers);
  snprintf(fb, sizeof fb, "%llu", (unsigned long long)schema->frame_bytes);
  int64_t live_ms = o->region.liveness_ns / FERRY_MSEC;
  snprintf(live, sizeof live, "%lld", (long long)(live_ms < LIVE_MIN_MS ? LIVE_MIN_MS : live_ms));
  const char *mode = o->mode == FERRY_BUS_LATEST ? "latest" : "lockstep";
  const char *fields[] = {"mode",        mode, "slots",  slots, "max_subs", ms,
                          "frame_bytes", fb,   "live_ms", live, "schema",   schema->table};
  size_t lens[] = {4, strlen(mode), 5, strlen(slots), 8, strlen(ms), 11, strlen(fb), 7,
                   strlen(live), 6, schema->table_bytes};
  rc = ferry__robj_create(&b->o, fields, lens, sizeof fields / sizeof fields[0]);
  if (!rc)
    rc = ferry__robj_open(&b->o, "P", FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (!rc && !(b->frame = frame_alloc(schema->frame_bytes)))
    rc = -ENOMEM;
  if (!rc) {
    b->mode = o->mode;
    b->slots = o->slots;
    b->max_subs = o->max_subscribers;
    b->frame_bytes = schema->frame_bytes;
    snprintf(b->skey, sizeof b->skey, "ferry:{%s}:s", b->o.name);
    snprintf(b->rkey, sizeof b->rkey, "ferry:{%s}:rel", b->o.name);
    b->o.tick = presence_tick;
    rc = ferry__robj_keeper_start(&b->o);
  }
  if (rc) {
    ferry__robj_fini(&b->o, b->o.id > 0);
    free(b->frame);
    free(b);
    return rc;
  }
  *out = b;
  return 0;
}

void ferry__rb_close(ferry__rb *b)
{
  if (!b)
    return;
  /* LEAVE as the publisher ends the stream (after the keeper stopped, so
   * that it cannot renew the presence). */
  ferry__robj_fini(&b->o, true);
  free(b->frame);
  free(b);
}

/* ---- subscribers ------------------------------------------------------------------------- */

int ferry__rs_subscribe(const char *name, const ferry_open_options *o, ferry__rs **out,
                        ferry__rschema *schema)
{
  if (o && ((o->flags & FERRY_OPEN_OBSERVE) || o->timeout_ns < 0))
    return -EINVAL;
  struct ferry__rs *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  int rc = ferry__robj_init(&s->o, name, "bus");
  if (rc) {
    free(s);
    return rc;
  }
  rc = ferry__robj_open(&s->o, "s", o ? o->timeout_ns : FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  int64_t fb, seq;
  size_t mlen = 0, slen = 0;
  const char *mode = NULL, *sch = NULL;
  if (!rc) {
    mode = ferry__robj_meta(&s->o, "mode", &mlen);
    sch = ferry__robj_meta(&s->o, "schema", &slen);
    if (!mode || (strcmp(mode, "lockstep") && strcmp(mode, "latest")) || !sch ||
        ferry__robj_meta_i64(&s->o, "frame_bytes", 0, (int64_t)REDIS_MAX_FRAME, &fb) ||
        ferry__robj_meta_i64(&s->o, "seq", 0, INT64_MAX, &seq))
      rc = FERRY_ECORRUPT;
  }
  if (!rc && !(s->frame = frame_alloc((uint64_t)fb)))
    rc = -ENOMEM;
  if (!rc) {
    s->mode = strcmp(mode, "latest") ? FERRY_BUS_LOCKSTEP : FERRY_BUS_LATEST;
    s->frame_bytes = (uint64_t)fb;
    s->cursor = (uint64_t)seq;
    snprintf(s->skey, sizeof s->skey, "ferry:{%s}:s", s->o.name);
    s->o.tick = presence_tick;
    rc = ferry__robj_keeper_start(&s->o);
  }
  if (rc) {
    ferry__robj_fini(&s->o, s->o.id > 0);
    free(s->frame);
    free(s);
    return rc;
  }
  schema->table = sch;
  schema->table_bytes = slen;
  schema->frame_bytes = (uint64_t)fb;
  *out = s;
  return 0;
}

int ferry__rs_next(ferry__rs *s, const void **frame, ferry_bus_frame_info *info,
                   int64_t timeout_ns)
{
  int rc = ferry__robj_check(&s->o);
  if (rc)
    return rc;
  if (s->held)
    return -EBUSY;
  if ((rc = ferry__check_timeout(timeout_ns)))
    return rc;
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  char id[24], cur[24];
  snprintf(id, sizeof id, "%lld", (long long)s->o.id);
  for (;;) {
    snprintf(cur, sizeof cur, "%llu", (unsigned long long)s->cursor);
    const char *args[] = {id, cur};
    redisReply *r = NULL;
    if ((rc = ferry__robj_script(&s->o, &s->o.c, FERRY__S_B_TAKE, args, NULL, 2, deadline, &r)))
      return rc;
    int64_t got, a, b;
    char last[64];
    rc = FERRY_ECORRUPT;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || ferry__reply_i64(r->element[0], &got) ||
        ferry__reply_i64(r->element[1], &a)) {
    } else if (got == 1) {
      const redisReply *f = ferry__reply_at(r, 3);
      if (r->elements == 4 && !ferry__reply_i64(r->element[2], &b) && a >= 0 &&
          (uint64_t)a >= s->cursor && b > a && ferry__reply_is_str(f) && f->len == s->frame_bytes) {
        if (f->len)
          memcpy(s->frame, f->str, f->len);
        ferry_bus_frame_info fi = {.seq = (uint64_t)a,
                                   .skipped = (uint64_t)a - s->cursor,
                                   .lag = (uint64_t)(b - a - 1)};
        s->skipped += fi.skipped;
        s->received++;
        s->cursor = (uint64_t)a + 1;
        s->held = true;
        if (info)
          *info = fi;
        *frame = s->frame;
        rc = 0;
      }
    } else if (got == 0 && ferry__reply_is_str(r->element[2]) &&
               r->element[2]->len < sizeof last) {
      memcpy(last, r->element[2]->str, r->element[2]->len);
      last[r->element[2]->len] = 0;
      rc = a ? -EPIPE : -EAGAIN;
    }
    freeReplyObject(r);
    if (rc != -EAGAIN)
      return rc;
    if (timeout_ns == 0)
      return -EAGAIN;
    int64_t left = deadline - ferry__redis_now();
    if (left <= 0)
      return -ETIMEDOUT;
    /* Wakes on the next publish; wakes anyway each slice to notice a
     * publisher that died. */
    if ((rc = wait_stream(&s->o, s->skey, last, left < SLICE_NS ? left : SLICE_NS, deadline)))
      return rc;
  }
}

int ferry__rs_release(ferry__rs *s)
{
  int rc = ferry__robj_check(&s->o);
  if (rc)
    return rc;
  if (!s->held)
    return -EINVAL;
  s->held = false; /* the frame is our copy: the publisher never waited on it */
  return 0;
}

void ferry__rs_unsubscribe(ferry__rs *s)
{
  if (!s)
    return;
  ferry__robj_fini(&s->o, true);
  free(s->frame);
  free(s);
}

int ferry__rs_stats(ferry__rs *s, ferry_bus_sub_stats *out)
{
  int rc = ferry__robj_check(&s->o);
  if (rc)
    return rc;
  char meta[FERRY_NAME_MAX + 32];
  snprintf(meta, sizeof meta, "ferry:{%s}:meta", s->o.name);
  const char *args[] = {"HGET", meta, "seq"};
  redisReply *r = NULL;
  if ((rc = ferry__robj_cmd(&s->o, &s->o.c, args, NULL, 3, io_deadline(), 0, &r)))
    return rc;
  int64_t seq = 0;
  if (ferry__reply_i64(r, &seq) || seq < 0)
    rc = FERRY_ECORRUPT;
  freeReplyObject(r);
  if (rc)
    return rc;
  ferry_bus_sub_stats st;
  memset(&st, 0, sizeof st);
  st.pid = (int32_t)getpid();
  st.next_seq = s->cursor;
  st.lag = (uint64_t)seq > s->cursor ? (uint64_t)seq - s->cursor : 0;
  st.received = s->received;
  st.skipped = s->skipped;
  *out = st;
  return 0;
}
