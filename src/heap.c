/* SPDX-License-Identifier: MIT */
/*
 * heap.c: the shared priority queue (ferry/heap.h). A binary min-heap of
 * (ukey, seq, slot) entries over a pool of record slots, under one robust
 * mutex. The slots' state words are the ground truth and the heap array an
 * index over them, so a locker that finds the previous holder dead simply
 * rebuilds the index [heap-rebuild]. Two areas let replace_all build the
 * new set aside and swap it in with one store under the lock [heap-swap].
 * Layout: heap_layout.h; argument: docs/design/heap.md.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry/heap.h"
#include "ferry/sync.h"
#include "abi.h"
#include "heap_layout.h"
#include "region_internal.h"

#define SIGN_BIT (UINT64_C(1) << 63)
/* Spin rounds of a popper on an empty heap before it sleeps: a push by a
 * peer is often a few hundred nanoseconds away (pop-process-push loops). */
#define POP_SPIN 200

struct ferry_heap {
  ferry_region *r;
  struct ferry__heap_hdr *h;
  uint8_t *areas;
  uint64_t area_size, stride, max_cap, limit;
  uint32_t flags, max_payload;
  int64_t slice_ns;
};

/* ---- keys ------------------------------------------------------------------
 * Keys are stored as unsigned 64-bit "ukeys" whose natural order is the
 * pop order, so the heap itself is always a min-heap on (ukey, seq).
 */

static int key_encode(const ferry_heap *hp, ferry_heap_key k, uint64_t *out)
{
  uint64_t u;
  if (hp->flags & FERRY__HEAP_F_DOUBLE) {
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
  *out = (hp->flags & FERRY__HEAP_F_MAX) ? ~u : u;
  return 0;
}

static ferry_heap_key key_decode(const ferry_heap *hp, uint64_t u)
{
  ferry_heap_key k;
  if (hp->flags & FERRY__HEAP_F_MAX)
    u = ~u;
  if (hp->flags & FERRY__HEAP_F_DOUBLE) {
    uint64_t bits = (u & SIGN_BIT) ? (u & ~SIGN_BIT) : ~u;
    memcpy(&k.f64, &bits, sizeof bits);
  } else {
    k.i64 = (int64_t)(u ^ SIGN_BIT);
  }
  return k;
}

/* ---- areas ---------------------------------------------------------------- */

static uint8_t *area_base(const ferry_heap *hp, uint32_t i)
{
  return hp->areas + (uint64_t)i * hp->area_size;
}

static struct ferry__heap_entry *entries(const ferry_heap *hp, uint32_t i)
{
  return (struct ferry__heap_entry *)area_base(hp, i);
}

static uint32_t *free_stack(const ferry_heap *hp, uint32_t i)
{
  return (uint32_t *)(area_base(hp, i) + hp->max_cap * FERRY__HEAP_ENTRY_SIZE);
}

static uint64_t slots_offset_for(uint64_t max_cap)
{
  uint64_t off = max_cap * (FERRY__HEAP_ENTRY_SIZE + sizeof(uint32_t));
  return (off + FERRY__CACHELINE - 1) & ~(uint64_t)(FERRY__CACHELINE - 1);
}

static struct ferry__heap_slot *slot_at(const ferry_heap *hp, uint32_t area, uint64_t idx)
{
  return (struct ferry__heap_slot *)(area_base(hp, area) + slots_offset_for(hp->max_cap) +
                                     idx * hp->stride);
}

static bool entry_less(const struct ferry__heap_entry *a, const struct ferry__heap_entry *b)
{
  return a->ukey < b->ukey || (a->ukey == b->ukey && a->seq < b->seq);
}

static void sift_up(struct ferry__heap_entry *e, uint64_t i)
{
  struct ferry__heap_entry x = e[i];
  while (i > 0) {
    uint64_t p = (i - 1) / 2;
    if (!entry_less(&x, &e[p]))
      break;
    e[i] = e[p];
    i = p;
  }
  e[i] = x;
}

static void sift_down(struct ferry__heap_entry *e, uint64_t n, uint64_t i)
{
  struct ferry__heap_entry x = e[i];
  for (;;) {
    uint64_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && entry_less(&e[c + 1], &e[c]))
      c++;
    if (!entry_less(&e[c], &x))
      break;
    e[i] = e[c];
    i = c;
  }
  e[i] = x;
}

static void heapify(struct ferry__heap_entry *e, uint64_t n)
{
  for (uint64_t i = n / 2; i-- > 0;)
    sift_down(e, n, i);
}

/* ---- the lock and the rebuild [heap-rebuild] ------------------------------- */

/*
 * Rebuilds area `ai`'s index (entries, n, free stack) from its slots'
 * state words. Called with the lock held, after -EOWNERDEAD: whatever the
 * dead holder changed, the slots say which records exist.
 */
static void rebuild(ferry_heap *hp, uint32_t ai)
{
  struct ferry__heap_area *a = &hp->h->area[ai];
  uint32_t epoch = atomic_load_explicit(&a->epoch, memory_order_relaxed);
  uint64_t hw = a->hw > hp->max_cap ? hp->max_cap : a->hw;
  struct ferry__heap_entry *e = entries(hp, ai);
  uint32_t *fs = free_stack(hp, ai);
  uint64_t n = 0, ft = 0;
  for (uint64_t i = 0; i < hw; i++) {
    struct ferry__heap_slot *s = slot_at(hp, ai, i);
    /* relaxed: the dead holder's stores are visible to us through the
     * lock takeover (docs/design/sync.md) */
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == epoch &&
        s->len <= hp->max_payload) {
      e[n].ukey = s->ukey;
      e[n].seq = s->seq;
      e[n].idx = (uint32_t)i;
      e[n].reserved = 0;
      n++;
    } else {
      atomic_store_explicit(&s->state, 0, memory_order_relaxed);
      fs[ft++] = (uint32_t)i;
    }
  }
  heapify(e, n);
  a->hw = hw;
  a->free_top = ft;
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
}

/* Takes the heap lock within timeout_ns; repairs after a dead holder.
 * 0, -EAGAIN (timeout 0), -ETIMEDOUT or -ENOTRECOVERABLE. */
static int heap_lock(ferry_heap *hp, int64_t timeout_ns)
{
  int rc = ferry_mutex_lock(&hp->h->lock, timeout_ns);
  if (rc == -EOWNERDEAD) {
    /* The swap is one store [heap-swap]: `active` names a complete area. */
    uint32_t ai = atomic_load_explicit(&hp->h->active, memory_order_relaxed) & 1;
    rebuild(hp, ai);
    atomic_fetch_add_explicit(&hp->h->repairs, 1, memory_order_relaxed);
    ferry_mutex_consistent(&hp->h->lock);
    return 0;
  }
  return rc;
}

static void heap_unlock(ferry_heap *hp)
{
  int rc = ferry_mutex_unlock(&hp->h->lock);
  assert(rc == 0);
  (void)rc;
}

static uint32_t active_area(const ferry_heap *hp)
{
  /* relaxed: read under the lock, or (size) as a snapshot */
  return atomic_load_explicit(&hp->h->active, memory_order_relaxed) & 1;
}

/* ---- waking ------------------------------------------------------------------ */

static void wake_poppers(ferry_heap *hp, int n)
{
  /* seq_cst fence: orders our store of the area's n (made under the lock)
   * before the load of ne_waiters; pairs with the fence after the
   * increment in pop_wait() [heap-wake]. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&hp->h->ne_waiters, memory_order_relaxed)) {
    /* release: a sleeper that reads the new value (acquire in pop_wait())
     * sees the push */
    atomic_fetch_add_explicit(&hp->h->ne_seq, 1, memory_order_release);
    ferry__futex_wake(&hp->h->ne_seq, n);
  }
}

/* ---- options, create, open, close ------------------------------------------ */

void ferry_heap_options_init(ferry_heap_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER;
  o->order = FERRY_HEAP_MIN;
  o->key_type = FERRY_HEAP_KEY_INT64;
  o->max_payload = FERRY_HEAP_PAYLOAD_DEFAULT;
  o->capacity = FERRY_HEAP_CAPACITY_DEFAULT;
}

static uint64_t stride_for(uint32_t max_payload)
{
  return ((uint64_t)FERRY__HEAP_SLOT_HDR + max_payload + 7) & ~UINT64_C(7);
}

/* Bytes of one area, or 0 on overflow. */
static uint64_t area_size_for(uint64_t max_cap, uint64_t stride)
{
  uint64_t slots, total;
  if (ferry__mul_overflow(max_cap, stride, &slots) ||
      ferry__add_overflow(slots_offset_for(max_cap), slots, &total) ||
      ferry__align_up(total, FERRY__CACHELINE, &total))
    return 0;
  return total;
}

static int handle_init(ferry_region *r, ferry_heap **out)
{
  ferry_heap *hp = calloc(1, sizeof *hp);
  if (!hp)
    return -ENOMEM;
  hp->r = r;
  hp->h = ferry__region_object(r);
  hp->areas = (uint8_t *)hp->h + hp->h->areas_offset;
  hp->area_size = hp->h->area_size;
  hp->stride = hp->h->slot_stride;
  hp->max_cap = hp->h->max_capacity;
  hp->flags = hp->h->flags;
  hp->max_payload = hp->h->max_payload;
  hp->limit = (hp->flags & FERRY__HEAP_F_FIXED) ? hp->h->capacity : hp->max_cap;
  hp->slice_ns = r->hc.liveness_ns > 1 ? r->hc.liveness_ns / 2 : 1;
  *out = hp;
  return 0;
}

int ferry_heap_create(const char *name, const ferry_heap_options *o, ferry_heap **out)
{
  assert(out);
  ferry_heap_options defaults;
  if (!o) {
    ferry_heap_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  if (o->order > FERRY_HEAP_MAX || o->key_type > FERRY_HEAP_KEY_DOUBLE ||
      (o->flags & ~(uint32_t)FERRY_HEAP_FIXED) || o->max_payload > FERRY_HEAP_MAX_PAYLOAD ||
      o->capacity < 1 || o->capacity > FERRY_HEAP_MAX_CAPACITY ||
      (o->max_capacity && (o->max_capacity < o->capacity ||
                           o->max_capacity > FERRY_HEAP_MAX_CAPACITY)) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  uint64_t max_cap = o->max_capacity;
  if (o->flags & FERRY_HEAP_FIXED)
    max_cap = o->capacity;
  else if (!max_cap)
    max_cap = o->capacity > FERRY_HEAP_MAX_CAPACITY / FERRY_HEAP_GROWTH_DEFAULT
                  ? FERRY_HEAP_MAX_CAPACITY
                  : o->capacity * FERRY_HEAP_GROWTH_DEFAULT;
  uint64_t stride = stride_for(o->max_payload);
  uint64_t asz = area_size_for(max_cap, stride), size;
  if (!asz || ferry__mul_overflow(asz, 2, &size) ||
      ferry__add_overflow(size, FERRY__HEAP_HDR_SIZE, &size) || size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;

  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_HEAP, (size_t)size, &o->region,
                                 FERRY__REGION_STATELESS_SLOTS, &r)))
    return rc;
  /* The file is fresh: everything not written here is zero, which is an
   * unlocked ferry_mutex and an empty area. */
  struct ferry__heap_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__HEAP_VERSION_MAJOR;
  h->version_minor = FERRY__HEAP_VERSION_MINOR;
  h->header_size = FERRY__HEAP_HDR_SIZE;
  h->flags = (o->order == FERRY_HEAP_MAX ? FERRY__HEAP_F_MAX : 0) |
             (o->key_type == FERRY_HEAP_KEY_DOUBLE ? FERRY__HEAP_F_DOUBLE : 0) |
             ((o->flags & FERRY_HEAP_FIXED) ? FERRY__HEAP_F_FIXED : 0);
  h->max_payload = o->max_payload;
  h->capacity = o->capacity;
  h->max_capacity = max_cap;
  h->slot_stride = stride;
  h->area_size = asz;
  h->areas_offset = FERRY__HEAP_HDR_SIZE;
  atomic_store_explicit(&h->area[0].epoch, 1, memory_order_relaxed);
  atomic_store_explicit(&h->area[1].epoch, 1, memory_order_relaxed);
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__HEAP_MAGIC, memory_order_relaxed);
  ferry_heap *hp;
  if ((rc = handle_init(r, &hp))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = hp;
  return 0;
}

/* Checks the immutable part of the heap header against the region. */
static int check_header(const ferry_region *r)
{
  const struct ferry__heap_hdr *h = ferry__region_object(r);
  uint64_t osize = r->hc.object_size;
  int rc = ferry__object_check_prefix(r, FERRY__HEAP_MAGIC, FERRY__HEAP_VERSION_MAJOR,
                                      FERRY__HEAP_HDR_SIZE);
  if (rc)
    return rc;
  if ((h->flags & ~FERRY__HEAP_F_ALL) ||
      h->max_payload > FERRY_HEAP_MAX_PAYLOAD || h->capacity < 1 ||
      h->max_capacity < h->capacity || h->max_capacity > FERRY_HEAP_MAX_CAPACITY ||
      h->slot_stride != stride_for(h->max_payload) || h->areas_offset != FERRY__HEAP_HDR_SIZE ||
      h->area_size != area_size_for(h->max_capacity, h->slot_stride) ||
      ((h->flags & FERRY__HEAP_F_FIXED) && h->capacity != h->max_capacity))
    return FERRY_ECORRUPT;
  if (h->areas_offset + 2 * h->area_size > osize)
    return FERRY_ETRUNCATED;
  return 0;
}

int ferry_heap_open(const char *name, const ferry_open_options *o, ferry_heap **out)
{
  assert(out);
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, &oo);
  if (rc)
    return rc;
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_HEAP, &oo, &r);
  if (rc)
    return rc;
  if ((rc = check_header(r)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = handle_init(r, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_heap_close(ferry_heap *hp)
{
  if (!hp)
    return;
  ferry_region_close(hp->r);
  free(hp);
}

ferry_region *ferry_heap_region(const ferry_heap *hp) { return hp->r; }

/* ---- push, pop, peek --------------------------------------------------------- */

int ferry_heap_push(ferry_heap *hp, ferry_heap_key key, const void *data, size_t len,
                    int64_t timeout_ns)
{
  assert(hp && (data || !len));
  if (len > hp->max_payload)
    return -EMSGSIZE;
  uint64_t ukey;
  int rc = key_encode(hp, key, &ukey);
  if (rc)
    return rc;
  if ((rc = heap_lock(hp, timeout_ns)))
    return rc;
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  uint64_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
  if (n >= hp->limit || (a->free_top == 0 && a->hw >= hp->max_cap)) {
    heap_unlock(hp);
    return -ENOSPC;
  }
  uint64_t idx = a->free_top ? free_stack(hp, ai)[--a->free_top] : a->hw++;
  struct ferry__heap_slot *s = slot_at(hp, ai, idx);
  uint64_t seq = atomic_fetch_add_explicit(&hp->h->next_seq, 1, memory_order_relaxed);
  s->ukey = ukey;
  s->seq = seq;
  s->len = (uint32_t)len;
  if (len)
    memcpy(s->payload, data, len);
  /* release: the commit point of the push [heap-truth]; the record is
   * whole before its slot turns live. Pairs with the lock takeover of a
   * rebuild (the dead pusher's stores precede it). */
  atomic_store_explicit(&s->state, atomic_load_explicit(&a->epoch, memory_order_relaxed),
                        memory_order_release);
  struct ferry__heap_entry *e = entries(hp, ai);
  e[n].ukey = ukey;
  e[n].seq = seq;
  e[n].idx = (uint32_t)idx;
  e[n].reserved = 0;
  sift_up(e, n);
  atomic_store_explicit(&a->n, n + 1, memory_order_relaxed);
  atomic_store_explicit(&hp->h->pushes, atomic_load_explicit(&hp->h->pushes, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  heap_unlock(hp);
  wake_poppers(hp, 1);
  return 0;
}

/* With the lock held: copies the top record out; removes it if `take`. */
static ssize_t top_locked(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap, bool take)
{
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  uint64_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
  if (n == 0)
    return -EAGAIN;
  struct ferry__heap_entry *e = entries(hp, ai);
  uint32_t idx = e[0].idx;
  struct ferry__heap_slot *s = slot_at(hp, ai, idx);
  size_t len = s->len;
  if (len > cap)
    return -EMSGSIZE;
  if (len)
    memcpy(buf, s->payload, len);
  if (key)
    *key = key_decode(hp, e[0].ukey);
  if (!take)
    return (ssize_t)len;
  /* release: the commit point of the pop [heap-truth]: from here the
   * record is gone even if we die before fixing the index. */
  atomic_store_explicit(&s->state, 0, memory_order_release);
  free_stack(hp, ai)[a->free_top++] = idx;
  n--;
  if (n > 0) {
    e[0] = e[n];
    sift_down(e, n, 0);
  }
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
  atomic_store_explicit(&hp->h->pops, atomic_load_explicit(&hp->h->pops, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  return (ssize_t)len;
}

static ssize_t try_top(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap, bool take,
                       int64_t timeout_ns)
{
  int rc = heap_lock(hp, timeout_ns);
  if (rc)
    return rc;
  ssize_t got = top_locked(hp, key, buf, cap, take);
  heap_unlock(hp);
  return got;
}

static uint64_t size_now(const ferry_heap *hp)
{
  return atomic_load_explicit(&hp->h->area[active_area(hp)].n, memory_order_relaxed);
}

ssize_t ferry_heap_pop(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap,
                       int64_t timeout_ns)
{
  assert(hp && (buf || !cap));
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  /* A try (timeout 0) still waits out a lock holder, briefly: see peek. */
  ssize_t got = try_top(hp, key, buf, cap, true, timeout_ns ? timeout_ns : 4 * hp->slice_ns);
  if (got != -EAGAIN || timeout_ns == 0)
    return got;
  for (int i = 0; i < POP_SPIN; i++) {
    ferry__cpu_relax();
    if (size_now(hp) && (got = try_top(hp, key, buf, cap, true, ferry__remaining_ns(deadline))) != -EAGAIN)
      return got;
  }
  struct ferry__heap_hdr *h = hp->h;
  for (;;) {
    atomic_fetch_add_explicit(&h->ne_waiters, 1, memory_order_relaxed);
    /* seq_cst fence: our registration is ordered before our re-check of
     * n; pairs with the fence in wake_poppers(): either the pusher sees
     * us, or we see its record [heap-wake]. */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release increment in wake_poppers() */
    uint32_t v = atomic_load_explicit(&h->ne_seq, memory_order_acquire);
    int64_t now = ferry__now_ns();
    if (size_now(hp) == 0 && now < deadline)
      ferry__futex_wait(&h->ne_seq, v, ferry__slice_end(deadline, hp->slice_ns));
    atomic_fetch_sub_explicit(&h->ne_waiters, 1, memory_order_relaxed);
    got = try_top(hp, key, buf, cap, true, ferry__remaining_ns(deadline));
    if (got != -EAGAIN)
      return got;
    if (ferry__now_ns() >= deadline)
      return -ETIMEDOUT;
  }
}

ssize_t ferry_heap_peek(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap)
{
  assert(hp && (buf || !cap));
  /* The lock is held for microseconds; waiting out a dead holder takes up
   * to a liveness slice, and a peek waits at most two of those. */
  return try_top(hp, key, buf, cap, false, 4 * hp->slice_ns);
}

ssize_t ferry_heap_size(const ferry_heap *hp)
{
  assert(hp);
  uint64_t n = size_now(hp);
  /* A count no heap of ours can hold is corruption, not a size. */
  return n > hp->max_cap ? FERRY_ECORRUPT : (ssize_t)n;
}

int ferry_heap_clear(ferry_heap *hp, int64_t timeout_ns)
{
  assert(hp);
  if (timeout_ns < 0)
    return -EINVAL;
  int rc = heap_lock(hp, timeout_ns);
  if (rc)
    return rc;
  struct ferry__heap_area *a = &hp->h->area[active_area(hp)];
  uint32_t ep = atomic_load_explicit(&a->epoch, memory_order_relaxed) + 1;
  if (ep == 0)
    ep = 1;
  /* relaxed: under the lock. The commit point of clear: from here every
   * slot is free [heap-truth]; the index fields below follow. */
  atomic_store_explicit(&a->epoch, ep, memory_order_relaxed);
  atomic_store_explicit(&a->n, 0, memory_order_relaxed);
  a->hw = 0;
  a->free_top = 0;
  heap_unlock(hp);
  return 0;
}

/* ---- replace_all [heap-swap] ----------------------------------------------- */

int ferry_heap_replace_all(ferry_heap *hp, const ferry_heap_record *recs, size_t n,
                           int64_t timeout_ns)
{
  assert(hp && (recs || !n));
  if (n > hp->limit)
    return -ENOSPC;
  for (size_t i = 0; i < n; i++) {
    uint64_t u;
    if (recs[i].len > hp->max_payload)
      return -EMSGSIZE;
    if (!recs[i].data && recs[i].len)
      return -EINVAL;
    if (key_encode(hp, recs[i].key, &u))
      return -EINVAL;
  }
  struct ferry__heap_hdr *h = hp->h;
  int64_t deadline;
  if (ferry__deadline(timeout_ns, &deadline))
    return -EINVAL;
  int rc = ferry_mutex_lock(&h->replace_lock, timeout_ns);
  if (rc == -EOWNERDEAD) /* a replacer died building: the spare area is
                            rebuilt from scratch below anyway */
    rc = ferry_mutex_consistent(&h->replace_lock);
  if (rc)
    return rc;
  /* Only replacers change `active`, and we are the only one: the other
   * area is ours until we swap it in. */
  uint32_t spare = active_area(hp) ^ 1;
  struct ferry__heap_area *a = &h->area[spare];
  uint32_t ep = atomic_load_explicit(&a->epoch, memory_order_relaxed) + 1;
  if (ep == 0)
    ep = 1;
  atomic_store_explicit(&a->epoch, ep, memory_order_relaxed);
  uint64_t seq0 = atomic_fetch_add_explicit(&h->next_seq, n, memory_order_relaxed);
  struct ferry__heap_entry *e = entries(hp, spare);
  for (size_t i = 0; i < n; i++) {
    struct ferry__heap_slot *s = slot_at(hp, spare, i);
    key_encode(hp, recs[i].key, &s->ukey);
    s->seq = seq0 + i;
    s->len = (uint32_t)recs[i].len;
    if (recs[i].len)
      memcpy(s->payload, recs[i].data, recs[i].len);
    atomic_store_explicit(&s->state, ep, memory_order_relaxed);
    e[i].ukey = s->ukey;
    e[i].seq = s->seq;
    e[i].idx = (uint32_t)i;
    e[i].reserved = 0;
  }
  heapify(e, n);
  a->hw = n;
  a->free_top = 0;
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
  if ((rc = heap_lock(hp, ferry__remaining_ns(deadline)))) {
    ferry_mutex_unlock(&h->replace_lock);
    return rc;
  }
  /* relaxed: under the lock, whose release in heap_unlock() publishes the
   * spare area's contents to the next locker. The one store that swaps the
   * sets [heap-swap]. */
  atomic_store_explicit(&h->active, spare, memory_order_relaxed);
  atomic_store_explicit(&h->replaces, atomic_load_explicit(&h->replaces, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  heap_unlock(hp);
  ferry_mutex_unlock(&h->replace_lock);
  wake_poppers(hp, INT_MAX);
  return 0;
}

/* ---- stats, validate ---------------------------------------------------------- */

int ferry_heap_stats_get(ferry_heap *hp, ferry_heap_stats *out)
{
  assert(hp && out);
  const struct ferry__heap_hdr *h = hp->h;
  memset(out, 0, sizeof *out);
  out->size = size_now(hp);
  out->capacity = h->capacity;
  out->max_capacity = h->max_capacity;
  out->max_payload = h->max_payload;
  out->pushes = atomic_load_explicit(&h->pushes, memory_order_relaxed);
  out->pops = atomic_load_explicit(&h->pops, memory_order_relaxed);
  out->replaces = atomic_load_explicit(&h->replaces, memory_order_relaxed);
  out->repairs = atomic_load_explicit(&h->repairs, memory_order_relaxed);
  out->key_type = (hp->flags & FERRY__HEAP_F_DOUBLE) ? FERRY_HEAP_KEY_DOUBLE : FERRY_HEAP_KEY_INT64;
  out->order = (hp->flags & FERRY__HEAP_F_MAX) ? FERRY_HEAP_MAX : FERRY_HEAP_MIN;
  out->waiters = atomic_load_explicit(&h->ne_waiters, memory_order_relaxed);
  return 0;
}

static int validate_locked(ferry_heap *hp)
{
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  uint32_t epoch = atomic_load_explicit(&a->epoch, memory_order_relaxed);
  uint64_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
  if (epoch == 0 || a->hw > hp->max_cap || n > a->hw || n > hp->limit ||
      n + a->free_top != a->hw)
    return FERRY_ECORRUPT;
  uint8_t *seen = calloc(a->hw ? a->hw : 1, 1);
  if (!seen)
    return -ENOMEM;
  int rc = 0;
  struct ferry__heap_entry *e = entries(hp, ai);
  for (uint64_t i = 0; i < n && !rc; i++) {
    uint32_t idx = e[i].idx;
    if (idx >= a->hw || seen[idx]) {
      rc = FERRY_ECORRUPT;
      break;
    }
    seen[idx] = 1;
    struct ferry__heap_slot *s = slot_at(hp, ai, idx);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != epoch || s->ukey != e[i].ukey ||
        s->seq != e[i].seq || s->len > hp->max_payload)
      rc = FERRY_ECORRUPT;
    if (i > 0 && entry_less(&e[i], &e[(i - 1) / 2]))
      rc = FERRY_ECORRUPT; /* the heap property */
  }
  uint32_t *fs = free_stack(hp, ai);
  for (uint64_t i = 0; i < a->free_top && !rc; i++) {
    uint32_t idx = fs[i];
    if (idx >= a->hw || seen[idx] ||
        atomic_load_explicit(&slot_at(hp, ai, idx)->state, memory_order_relaxed) == epoch)
      rc = FERRY_ECORRUPT;
    else
      seen[idx] = 1;
  }
  free(seen);
  return rc;
}

int ferry_heap_validate(ferry_heap *hp, int64_t timeout_ns)
{
  assert(hp);
  int rc = check_header(hp->r);
  if (rc)
    return rc;
  if ((rc = heap_lock(hp, timeout_ns)))
    return rc;
  rc = validate_locked(hp);
  heap_unlock(hp);
  return rc;
}
