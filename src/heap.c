/* SPDX-License-Identifier: MIT */
/*
 * heap.c: the shared priority queue (ferry/heap.h). A binary min-heap of
 * (ukey, seq, slot) entries over a pool of record slots, under one region
 * lock (region_lock.h), whose holder is judged alive by its participant
 * slot. The slots' state words are the ground truth and the heap array an
 * index over them, so a locker that finds the previous holder dead simply
 * rebuilds the index [heap-rebuild]. Two areas let replace_all build the
 * new set aside and swap it in with one store under the lock [heap-swap].
 * Every index, count and length read from the mapping is checked where it
 * is used [heap-untrusted]; the geometry comes from the handle, validated
 * once at open. Layout: heap_layout.h; argument: docs/design/heap.md.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/crash.h"
#include "core/wait.h"
#include "ferry/error.h"
#include "ferry/heap.h"
#include "heap_layout.h"
#include "region_internal.h"
#include "region_lock.h"
#include "remote.h"

#define SIGN_BIT (UINT64_C(1) << 63)
/* A popper on an empty heap looks again for this long before it sleeps: a
 * push by a peer is often a few microseconds away (pop-process-push loops)
 * [wait-spin]. */
#define POP_SPIN_NS (4 * INT64_C(1000))
/* A try (pop with timeout 0) and a peek still wait for the lock, for at
 * most this many liveness slices: long enough to take the lock over from a
 * holder that died, and no longer. */
#define TRY_LOCK_SLICES 4
/* A locker that finds the lock busy [heap-lock-wait]: looks again for
 * LOCK_SPIN_NS, at most 1 << LOCK_BACKOFF_SHIFT pause hints apart, then
 * naps LOCK_NAPS times LOCK_NAP_NS (plus the kernel's timer slack, about
 * 50 us) before it sleeps to be woken. */
#define LOCK_SPIN_NS (2 * INT64_C(1000))
#define LOCK_BACKOFF_SHIFT 6
#define LOCK_NAP_NS (50 * INT64_C(1000))
#define LOCK_NAPS 4
/* An area's memory is committed in steps [heap-commit]: each step at
 * least doubles what is committed, and is at least this many bytes. */
#define COMMIT_MIN_BYTES (64 * 1024)
/* Bytes of a key given as bytes for the int64 and double heaps. */
#define TYPED_KEY_BYTES 8

static_assert(sizeof(ferry_heap_key) == TYPED_KEY_BYTES, "typed key size");
static_assert(FERRY_HEAP_KEY_INT64 == 0 && FERRY_HEAP_KEY_DOUBLE == 1 && FERRY_HEAP_KEY_BYTES == 2,
              "ferry__heap_key_type() in heap_layout.h");

struct ferry_heap {
  ferry_region *r;
  struct ferry__heap_hdr *h;
  uint8_t *areas;
  /* The geometry, from the header copy that open validated [no-reread]. */
  uint64_t area_size, stride, max_cap, capacity, slots_off;
  uint64_t tag; /* our region-lock tag */
  uint32_t flags, max_payload, max_key, kbytes;
  int64_t slice_ns;
  struct ferry__remote *remote; /* a Redis handle: calls forward [redis-dispatch] */
};

/* ---- keys ------------------------------------------------------------------
 * Keys are stored as unsigned 64-bit "ukeys" whose natural order is the
 * pop order, so the heap itself is always a min-heap on (ukey, seq). Byte
 * keys store their first 8 bytes, big-endian, as the ukey, and break ties
 * on the whole key [heap-bytes].
 */

/* A key in the heap's terms: ukey, and (BYTES heaps) the bytes. */
struct hkey {
  uint64_t ukey;
  const uint8_t *b;
  size_t blen;
};

static bool bytes_heap(const ferry_heap *hp) { return hp->flags & FERRY__HEAP_F_BYTES; }

static uint64_t bytes_prefix(const uint8_t *k, size_t len)
{
  uint64_t u = 0;
  for (size_t i = 0; i < 8; i++)
    u = u << 8 | (i < len ? k[i] : 0);
  return u;
}

static int key_typed(const ferry_heap *hp, ferry_heap_key k, struct hkey *out)
{
  uint64_t u;
  if (bytes_heap(hp))
    return -EINVAL;
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
  out->ukey = (hp->flags & FERRY__HEAP_F_MAX) ? ~u : u;
  out->b = NULL;
  out->blen = 0;
  return 0;
}

/* A key given as bytes: the key itself, or the 8 bytes of a typed key. */
static int key_bytes(const ferry_heap *hp, const void *key, size_t klen, struct hkey *out)
{
  if (!bytes_heap(hp)) {
    if (klen != TYPED_KEY_BYTES || !key)
      return -EINVAL;
    ferry_heap_key k;
    memcpy(&k, key, TYPED_KEY_BYTES);
    return key_typed(hp, k, out);
  }
  if (klen > hp->max_key)
    return -E2BIG;
  if (klen && !key)
    return -EINVAL;
  uint64_t u = bytes_prefix(key, klen);
  out->ukey = (hp->flags & FERRY__HEAP_F_MAX) ? ~u : u;
  out->b = key;
  out->blen = klen;
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

static uint8_t *area_base(const ferry_heap *hp, uint32_t ai)
{
  return hp->areas + (uint64_t)ai * hp->area_size;
}

static struct ferry__heap_entry *entries(const ferry_heap *hp, uint32_t ai)
{
  return (struct ferry__heap_entry *)area_base(hp, ai);
}

static uint32_t *free_stack(const ferry_heap *hp, uint32_t ai)
{
  return (uint32_t *)(area_base(hp, ai) + hp->max_cap * FERRY__HEAP_ENTRY_SIZE);
}

static uint64_t slots_offset_for(uint64_t max_cap)
{
  uint64_t off = max_cap * (FERRY__HEAP_ENTRY_SIZE + sizeof(uint32_t));
  return (off + FERRY__CACHELINE - 1) & ~(uint64_t)(FERRY__CACHELINE - 1);
}

/* Slot idx of area ai; idx < max_cap, checked by every caller. */
static struct ferry__heap_slot *slot_at(const ferry_heap *hp, uint32_t ai, uint64_t idx)
{
  assert(idx < hp->max_cap);
  return (struct ferry__heap_slot *)(area_base(hp, ai) + hp->slots_off + idx * hp->stride);
}

static unsigned char *slot_payload(const ferry_heap *hp, struct ferry__heap_slot *s)
{
  return s->data + hp->kbytes;
}

static uint32_t active_area(const ferry_heap *hp)
{
  /* relaxed: read under the lock, or (size) as a snapshot */
  return atomic_load_explicit(&hp->h->active, memory_order_relaxed) & 1;
}

/* Area ai's index words, read once and checked against each other and the
 * geometry [heap-untrusted]. */
struct aview {
  uint64_t n, hw, ft, committed;
  uint32_t epoch;
};

/* Area ai's committed watermark, checked: <= max_cap [heap-commit]. */
static int committed_read(const ferry_heap *hp, uint32_t ai, uint64_t *c)
{
  /* acquire: pairs with the release in area_commit(); with the lock it
   * is ordered anyway, this also serves observers */
  uint64_t v = atomic_load_explicit(&hp->h->area[ai].committed, memory_order_acquire);
  if (v > hp->max_cap)
    return FERRY_ECORRUPT;
  *c = v;
  return 0;
}

static int area_read(const ferry_heap *hp, uint32_t ai, struct aview *v)
{
  struct ferry__heap_area *a = &hp->h->area[ai];
  v->epoch = atomic_load_explicit(&a->epoch, memory_order_relaxed);
  v->n = atomic_load_explicit(&a->n, memory_order_relaxed);
  v->hw = a->hw;
  v->ft = a->free_top;
  if (committed_read(hp, ai, &v->committed) || v->hw > v->committed || v->n > v->hw ||
      v->ft != v->hw - v->n || v->epoch == 0)
    return FERRY_ECORRUPT;
  return 0;
}

/* The watermark a step from `cur` towards `need` goes to: at least double,
 * at least COMMIT_MIN_BYTES, at most max_cap [heap-commit]. */
static uint64_t commit_target(const ferry_heap *hp, uint64_t cur, uint64_t need)
{
  uint64_t unit = FERRY__HEAP_UNIT_FIXED + hp->stride;
  uint64_t t = 2 * cur; /* cur <= max_cap <= 2^26: no overflow */
  uint64_t floor = COMMIT_MIN_BYTES / unit;
  if (t < floor)
    t = floor;
  if (t < need)
    t = need;
  return t < hp->max_cap ? t : hp->max_cap;
}

/*
 * Commits area ai up to at least `need` slots (need <= max_cap): reserves
 * the memory of entries, free-stack words and slots [cur, target), then
 * publishes the new watermark. The caller owns the area's growth: the heap
 * lock (active area) or the replace lock (spare area). 0, or -ENOSPC /
 * another negative errno from the reservation, with nothing changed but
 * pages reserved. A death between the reservation and the store leaves
 * the old watermark over reserved pages: the next grower reserves them
 * again (idempotent) [heap-commit].
 */
static int area_commit(ferry_heap *hp, uint32_t ai, uint64_t need)
{
  uint64_t cur;
  int rc = committed_read(hp, ai, &cur);
  if (rc || cur >= need)
    return rc;
  uint64_t t = commit_target(hp, cur, need);
  uint64_t base = (uint64_t)(area_base(hp, ai) - (uint8_t *)hp->h);
  uint64_t foff = hp->max_cap * FERRY__HEAP_ENTRY_SIZE;
  if ((rc = ferry__region_commit(hp->r, base + cur * FERRY__HEAP_ENTRY_SIZE,
                                 (t - cur) * FERRY__HEAP_ENTRY_SIZE)) ||
      (rc = ferry__region_commit(hp->r, base + foff + cur * sizeof(uint32_t),
                                 (t - cur) * sizeof(uint32_t))) ||
      (rc = ferry__region_commit(hp->r, base + hp->slots_off + cur * hp->stride,
                                 (t - cur) * hp->stride)))
    return rc;
  FERRY__CRASH_POINT("heap.commit.reserved");
  /* release: the reservation happens-before any process uses a slot below
   * the new watermark; pairs with the acquire in committed_read() */
  atomic_store_explicit(&hp->h->area[ai].committed, t, memory_order_release);
  FERRY__CRASH_POINT("heap.commit.published");
  return 0;
}

/* ---- order -------------------------------------------------------------------- */

/* The key bytes of slot idx for a comparison. idx and klen are shared
 * data: out of range, they read as the empty key, which misorders a
 * corrupt heap but never reads outside it [heap-untrusted]. */
static const uint8_t *cmp_key(const ferry_heap *hp, uint32_t ai, uint32_t idx, size_t *len)
{
  if (idx >= hp->max_cap) {
    *len = 0;
    return NULL;
  }
  struct ferry__heap_slot *s = slot_at(hp, ai, idx);
  uint32_t kl = s->klen;
  *len = kl <= hp->max_key ? kl : 0;
  return s->data;
}

static int cmp_bytes(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
  size_t m = la < lb ? la : lb;
  int c = m ? memcmp(a, b, m) : 0;
  if (c)
    return c;
  return (la > lb) - (la < lb);
}

struct order {
  const ferry_heap *hp;
  uint32_t ai;
  bool bytes, max;
};

/* The order of entries: (ukey, seq); byte-key heaps look at the whole keys
 * between the two when the ukeys tie [heap-bytes]. Always inlined, so
 * that the typed heaps' loops below compile to two integer compares per
 * step, with no call and no test of the key type. */
static inline __attribute__((always_inline)) bool
entry_less(const struct order *o, const struct ferry__heap_entry *a,
           const struct ferry__heap_entry *b)
{
  if (!o->bytes) {
    /* One 128-bit compare: no branch for the processor to guess wrong on
     * the way down a heap, where each step is a coin toss. */
    unsigned __int128 ra = (unsigned __int128)a->ukey << 64 | a->seq;
    unsigned __int128 rb = (unsigned __int128)b->ukey << 64 | b->seq;
    return ra < rb;
  }
  if (a->ukey != b->ukey)
    return a->ukey < b->ukey;
  size_t la, lb;
  const uint8_t *ka = cmp_key(o->hp, o->ai, a->idx, &la);
  const uint8_t *kb = cmp_key(o->hp, o->ai, b->idx, &lb);
  int c = cmp_bytes(ka, la, kb, lb);
  if (c)
    return o->max ? c > 0 : c < 0;
  return a->seq < b->seq;
}

static struct order order_of(const ferry_heap *hp, uint32_t ai)
{
  struct order o = {hp, ai, bytes_heap(hp), (hp->flags & FERRY__HEAP_F_MAX) != 0};
  return o;
}

/* e[0..i] is a heap but for e[i]; n <= max_cap. */
static inline __attribute__((always_inline)) void
sift_up_impl(const struct order *o, struct ferry__heap_entry *e, uint64_t i)
{
  struct ferry__heap_entry x = e[i];
  while (i > 0) {
    uint64_t p = (i - 1) / 2;
    if (!entry_less(o, &x, &e[p]))
      break;
    e[i] = e[p];
    i = p;
  }
  e[i] = x;
}

static void sift_up(const struct order *o, struct ferry__heap_entry *e, uint64_t i)
{
  if (o->bytes)
    sift_up_impl(o, e, i);
  else
    sift_up_impl(&(struct order){o->hp, o->ai, false, o->max}, e, i);
}

static void sift_down(const struct order *o, struct ferry__heap_entry *e, uint64_t n, uint64_t i)
{
  struct ferry__heap_entry x = e[i];
  for (;;) {
    uint64_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && entry_less(o, &e[c + 1], &e[c]))
      c++;
    if (!entry_less(o, &e[c], &x))
      break;
    e[i] = e[c];
    i = c;
  }
  e[i] = x;
}

/*
 * The root was taken out of a heap of n + 1 entries: puts e[n] (the last)
 * in its place, leaving a heap of n (n >= 1). Bottom-up [heap-pop]: the
 * hole at the root goes down to a leaf, each step moving up the smaller
 * child (one compare per level), then the last entry, which belongs near
 * the bottom, goes up from there (a step or two). Every step asks for
 * the lines two levels down first, so the cache misses of the lower
 * levels overlap instead of following each other.
 */
static inline __attribute__((always_inline)) void
pop_fix_impl(const struct order *o, struct ferry__heap_entry *e, uint64_t n)
{
  struct ferry__heap_entry x = e[n];
  uint64_t i = 0;
  for (;;) {
    uint64_t c = 2 * i + 1;
    if (c + 1 >= n) {
      if (c < n) { /* one child, the last entry */
        e[i] = e[c];
        i = c;
      }
      break;
    }
    /* i's great-grandchildren 8i+7 .. 8i+14 (the grandchildren of
     * whichever child wins): 192 bytes, up to four lines, two levels
     * ahead of the reads. A prefetch is a hint: it never faults, and
     * these stay below n. */
    uint64_t g = 4 * c + 3;
    if (g + 7 < n) {
      __builtin_prefetch(&e[g], 1, 3);
      __builtin_prefetch((const char *)&e[g] + 64, 1, 3);
      __builtin_prefetch((const char *)&e[g] + 128, 1, 3);
      __builtin_prefetch(&e[g + 7], 1, 3);
    }
    c += entry_less(o, &e[c + 1], &e[c]);
    e[i] = e[c];
    i = c;
  }
  e[i] = x;
  sift_up_impl(o, e, i);
}

static void pop_fix(const struct order *o, struct ferry__heap_entry *e, uint64_t n)
{
  if (o->bytes)
    pop_fix_impl(o, e, n);
  else
    pop_fix_impl(&(struct order){o->hp, o->ai, false, o->max}, e, n);
}

static void heapify(const struct order *o, struct ferry__heap_entry *e, uint64_t n)
{
  for (uint64_t i = n / 2; i-- > 0;)
    sift_down(o, e, n, i);
}

/* ---- the lock and the rebuild [heap-rebuild] ------------------------------- */

/*
 * Rebuilds area ai's index (entries, n, free stack) from its slots' state
 * words. Called with the lock taken over from a dead holder: whatever it
 * changed, the slots say which records exist. Idempotent: a rebuilder that
 * dies is taken over and the next one starts again.
 */
static void rebuild(ferry_heap *hp, uint32_t ai)
{
  struct ferry__heap_area *a = &hp->h->area[ai];
  uint32_t epoch = atomic_load_explicit(&a->epoch, memory_order_relaxed);
  if (epoch == 0) { /* corrupt: 0 would make every freed slot live */
    epoch = 1;
    atomic_store_explicit(&a->epoch, epoch, memory_order_relaxed);
  }
  /* Only slots below the watermark are ever touched [heap-commit]; a
   * watermark past max_cap is corrupt and clamped. */
  uint64_t c = atomic_load_explicit(&a->committed, memory_order_relaxed);
  if (c > hp->max_cap) {
    c = hp->max_cap;
    atomic_store_explicit(&a->committed, c, memory_order_relaxed);
  }
  uint64_t hw = a->hw; /* read once: a second read could be past c */
  if (hw > c)
    hw = c;
  struct ferry__heap_entry *e = entries(hp, ai);
  uint32_t *fs = free_stack(hp, ai);
  uint64_t n = 0, ft = 0;
  for (uint64_t i = 0; i < hw; i++) {
    struct ferry__heap_slot *s = slot_at(hp, ai, i);
    /* relaxed: the dead holder's stores are visible to us through the
     * take-over [rlock-takeover] */
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == epoch &&
        s->len <= hp->max_payload && s->klen <= hp->max_key) {
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
  struct order o = order_of(hp, ai);
  heapify(&o, e, n);
  a->hw = hw;
  a->free_top = ft;
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
  if (a->gen == 0)
    a->gen = 1;
}

static void repair(ferry_heap *hp)
{
  /* The swap is one store [heap-swap]: `active` names a complete area. */
  rebuild(hp, active_area(hp));
  atomic_fetch_add_explicit(&hp->h->repairs, 1, memory_order_relaxed);
}

/*
 * The heap lock is busy: look again for LOCK_SPIN_NS (a holder that is
 * running lets go within a pop or a push), then nap LOCK_NAPS times,
 * looking after each, and only then wait the region lock's way (spin,
 * then sleep to be woken by the unlock, taking over a dead holder)
 * [heap-lock-wait]. A busy lock is nearly always a peer in a pop-push
 * loop that takes it again a few tens of nanoseconds after letting go:
 * a sleeper would cost that peer a FUTEX_WAKE at its next unlock, and
 * each time the lock changes hands its lines and the top of the heap
 * move between caches (microseconds). Napping costs the holder nothing,
 * and a look every nap takes the lock from a holder that is done.
 */
static int heap_lock_contended(ferry_heap *hp, int64_t timeout_ns, int64_t *deadline)
{
  if (*deadline == FERRY__DEADLINE_UNSET && ferry__deadline(timeout_ns, deadline))
    return -EINVAL;
  struct ferry__rlock *l = &hp->h->lock;
  int64_t now = ferry__now_ns(), end = now + LOCK_SPIN_NS;
  for (unsigned i = 1;; i++) {
    for (unsigned k = 1u << (i < LOCK_BACKOFF_SHIFT ? i : LOCK_BACKOFF_SHIFT); k; k--)
      ferry__cpu_relax();
    if (ferry__rlock_try(l, hp->tag))
      return 0;
    if ((i & 3) == 0 && (now = ferry__now_ns()) >= end)
      break;
  }
  for (int j = 0; j < LOCK_NAPS && now + LOCK_NAP_NS < *deadline; j++) {
    ferry__sleep_until(now + LOCK_NAP_NS);
    if (ferry__rlock_try(l, hp->tag))
      return 0;
    now = ferry__now_ns();
  }
  return ferry__rlock_lock(hp->r, l, hp->tag, timeout_ns, deadline);
}

/* Takes the heap lock; repairs after a dead holder. 0, -EAGAIN (timeout
 * 0), -ETIMEDOUT, -EINVAL. */
static int heap_lock(ferry_heap *hp, int64_t timeout_ns, int64_t *deadline)
{
  /* One CAS when the lock is free (no look first: a load then a CAS of a
   * line the last holder wrote would move it twice) */
  int rc = ferry__rlock_lock(hp->r, &hp->h->lock, hp->tag, 0, deadline);
  if (rc == -EAGAIN && timeout_ns != 0)
    rc = heap_lock_contended(hp, timeout_ns, deadline);
  if (rc == -EOWNERDEAD) {
    repair(hp);
    rc = 0;
  }
  return rc;
}

static void heap_unlock(ferry_heap *hp)
{
  ferry__rlock_unlock(&hp->h->lock, hp->tag);
}

/* After a push or a replace made records poppable: wakes sleeping poppers
 * [heap-wake]. */
static void wake_poppers(ferry_heap *hp)
{
  /* The records were stored under the lock before our unlock; the fence
   * orders them before the load of the event count: the waker's half of
   * [wait-dekker], paired with the fence in ferry__wait(). */
  ferry__ec_fence(false);
  ferry__ec_signal(&hp->h->ne_ec);
}

static void count(_Atomic uint64_t *c, uint64_t by)
{
  /* relaxed load and store: statistics, written under the lock */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                        memory_order_relaxed);
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

static uint64_t align8(uint64_t v) { return (v + 7) & ~UINT64_C(7); }

static uint64_t stride_for(uint32_t max_payload, uint32_t max_key)
{
  return align8((uint64_t)FERRY__HEAP_SLOT_HDR + align8(max_key) + max_payload);
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

/* Builds the handle from a validated copy of the header [no-reread]. The
 * region is registered. */
static int handle_init(ferry_region *r, const struct ferry__heap_hdr *hc, ferry_heap **out)
{
  ferry_heap *hp = calloc(1, sizeof *hp);
  if (!hp)
    return -ENOMEM;
  hp->r = r;
  hp->h = ferry__region_object(r);
  hp->areas = (uint8_t *)hp->h + hc->areas_offset;
  hp->area_size = hc->area_size;
  hp->stride = hc->slot_stride;
  hp->max_cap = hc->max_capacity;
  hp->capacity = hc->capacity;
  hp->slots_off = slots_offset_for(hc->max_capacity);
  hp->flags = hc->flags;
  hp->max_payload = hc->max_payload;
  hp->max_key = hc->max_key;
  hp->kbytes = (uint32_t)align8(hc->max_key);
  hp->tag = ferry__rlock_tag(r);
  hp->slice_ns = r->hc.liveness_ns > 1 ? r->hc.liveness_ns / 2 : 1;
  *out = hp;
  return 0;
}

int ferry_heap_create(const char *name, const ferry_heap_options *o, ferry_heap **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_heap_create(name, o, sizeof(struct ferry_heap), offsetof(struct ferry_heap, remote), (void **)out);
  ferry_heap_options defaults;
  if (!o) {
    ferry_heap_options_init(&defaults);
    o = &defaults;
  }
  /* [abi-growth]: max_key and reserved0 took the first reserved word. */
  for (int i = 0; i < FERRY_RESERVED_WORDS - 1; i++)
    if (o->reserved[i])
      return -EINVAL;
  bool bytes = o->key_type == FERRY_HEAP_KEY_BYTES;
  uint32_t max_key = bytes ? (o->max_key ? o->max_key : FERRY_HEAP_KEY_BYTES_DEFAULT) : 0;
  if (o->order > FERRY_HEAP_MAX || o->key_type > FERRY_HEAP_KEY_BYTES || o->reserved0 ||
      max_key > FERRY_HEAP_MAX_KEY || (o->flags & ~(uint32_t)FERRY_HEAP_FIXED) ||
      o->max_payload > FERRY_HEAP_MAX_PAYLOAD || o->capacity < 1 ||
      o->capacity > FERRY_HEAP_MAX_CAPACITY ||
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
  uint64_t stride = stride_for(o->max_payload, max_key);
  uint64_t asz = area_size_for(max_cap, stride), size;
  if (!asz || ferry__mul_overflow(asz, 2, &size) ||
      ferry__add_overflow(size, FERRY__HEAP_HDR_SIZE, &size) || size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;

  ferry_region *r;
  /* Only the header is committed now; each area commits its slots in
   * steps as it fills [heap-commit]. */
  if ((rc = ferry__region_create_partial(name, FERRY_KIND_HEAP, (size_t)size,
                                         FERRY__HEAP_HDR_SIZE, &o->region,
                                         FERRY__REGION_STATELESS_SLOTS, &r)))
    return rc;
  /* The file is fresh: everything not written here is zero, which is a
   * free lock and an empty area. */
  struct ferry__heap_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__HEAP_VERSION_MAJOR;
  h->version_minor = FERRY__HEAP_VERSION_MINOR;
  h->header_size = FERRY__HEAP_HDR_SIZE;
  h->flags = (o->order == FERRY_HEAP_MAX ? FERRY__HEAP_F_MAX : 0) |
             (o->key_type == FERRY_HEAP_KEY_DOUBLE ? FERRY__HEAP_F_DOUBLE : 0) |
             (bytes ? FERRY__HEAP_F_BYTES : 0) |
             ((o->flags & FERRY_HEAP_FIXED) ? FERRY__HEAP_F_FIXED : 0);
  h->max_payload = o->max_payload;
  h->max_key = max_key;
  h->capacity = o->capacity;
  h->max_capacity = max_cap;
  h->slot_stride = stride;
  h->area_size = asz;
  h->areas_offset = FERRY__HEAP_HDR_SIZE;
  h->checksum = ferry__heap_hdr_checksum(h);
  for (int i = 0; i < 2; i++) {
    atomic_store_explicit(&h->area[i].epoch, 1, memory_order_relaxed);
    h->area[i].gen = 1;
  }
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__HEAP_MAGIC, memory_order_relaxed);
  struct ferry__heap_hdr hc;
  memcpy(&hc, h, sizeof hc);
  ferry_heap *hp;
  if ((rc = handle_init(r, &hc, &hp))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = hp;
  return 0;
}

/*
 * Copies the heap header out of the mapping into *hc and checks the copy:
 * every size and offset against each other and against the region. The
 * handle is built from the copy only: a peer may change the mapping at any
 * time after [no-reread].
 */
static int read_header(const ferry_region *r, struct ferry__heap_hdr *hc)
{
  int rc = ferry__object_check_prefix(r, FERRY__HEAP_MAGIC, FERRY__HEAP_VERSION_MAJOR,
                                      FERRY__HEAP_HDR_SIZE);
  if (rc)
    return rc;
  memcpy(hc, ferry__region_object(r), sizeof *hc);
  uint64_t osize = r->hc.object_size;
  bool bytes = hc->flags & FERRY__HEAP_F_BYTES;
  if (hc->checksum != ferry__heap_hdr_checksum(hc) || hc->header_size != FERRY__HEAP_HDR_SIZE ||
      (hc->flags & ~FERRY__HEAP_F_ALL) || (bytes && (hc->flags & FERRY__HEAP_F_DOUBLE)) ||
      (!bytes && hc->max_key != 0) || hc->max_key > FERRY_HEAP_MAX_KEY ||
      hc->max_payload > FERRY_HEAP_MAX_PAYLOAD ||
      hc->capacity < 1 || hc->max_capacity < hc->capacity ||
      hc->max_capacity > FERRY_HEAP_MAX_CAPACITY ||
      hc->slot_stride != stride_for(hc->max_payload, hc->max_key) ||
      hc->areas_offset != FERRY__HEAP_HDR_SIZE ||
      hc->area_size != area_size_for(hc->max_capacity, hc->slot_stride) ||
      ((hc->flags & FERRY__HEAP_F_FIXED) && hc->capacity != hc->max_capacity))
    return FERRY_ECORRUPT;
  /* area_size_for() bounds area_size well below 2^62 for max_capacity <=
   * 2^26, so this sum cannot overflow. */
  uint64_t need = hc->areas_offset + 2 * hc->area_size;
  if (need != osize) /* exact at create: less is another heap's geometry */
    return need > osize ? FERRY_ETRUNCATED : FERRY_ECORRUPT;
  return 0;
}

int ferry_heap_open(const char *name, const ferry_open_options *o, ferry_heap **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_heap_open(name, o, sizeof(struct ferry_heap), offsetof(struct ferry_heap, remote), (void **)out);
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, &oo);
  if (rc)
    return rc;
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_HEAP, &oo, &r);
  if (rc)
    return rc;
  /* No recovery callback: a dead participant leaves nothing in its slot;
   * a lock it held is taken over by the next locker [rlock-lazy]. */
  struct ferry__heap_hdr hc;
  if ((rc = read_header(r, &hc)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = handle_init(r, &hc, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_heap_close(ferry_heap *hp)
{
  if (hp && hp->remote) { ferry__remote_heap_close(hp, hp->remote); return; }
  if (!hp)
    return;
  ferry_region_close(hp->r);
  free(hp);
}

ferry_region *ferry_heap_region(const ferry_heap *hp) { return hp->remote ? NULL : hp->r; }

/* ---- push --------------------------------------------------------------------- */

/* With the lock held: pushes a record whose key and payload were checked
 * against the handle's limits. */
static int push_locked(ferry_heap *hp, const struct hkey *k, const void *data, size_t len,
                       uint64_t gen)
{
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  if (gen != FERRY_HEAP_GEN_ANY && a->gen != gen)
    return -ESTALE;
  struct aview v;
  int rc = area_read(hp, ai, &v);
  if (rc)
    return rc;
  if (v.n >= hp->max_cap)
    return -ENOSPC;
  /* n < max_cap, so with an empty free stack hw = n < max_cap too. A new
   * slot must be committed before it is touched [heap-commit]; a full
   * /dev/shm is -ENOSPC here, with nothing changed. */
  if (!v.ft && v.hw >= v.committed && (rc = area_commit(hp, ai, v.hw + 1)))
    return rc;
  uint64_t idx = v.ft ? free_stack(hp, ai)[v.ft - 1] : v.hw;
  if (idx >= v.hw && v.ft)
    return FERRY_ECORRUPT; /* a free-stack entry outside the used slots */
  struct ferry__heap_slot *s = slot_at(hp, ai, idx);
  if (atomic_load_explicit(&s->state, memory_order_relaxed) == v.epoch)
    return FERRY_ECORRUPT; /* a "free" index naming a live record */
  if (v.ft)
    a->free_top = v.ft - 1;
  else
    a->hw = v.hw + 1;
  FERRY__CRASH_POINT("heap.push.claimed");
  uint64_t seq = atomic_fetch_add_explicit(&hp->h->next_seq, 1, memory_order_relaxed);
  s->ukey = k->ukey;
  s->seq = seq;
  s->len = (uint32_t)len;
  s->klen = (uint32_t)k->blen;
  if (k->blen)
    memcpy(s->data, k->b, k->blen);
  if (len)
    memcpy(slot_payload(hp, s), data, len);
  FERRY__CRASH_POINT("heap.push.written");
  /* release: the commit point of the push [heap-truth]; the record is
   * whole before its slot turns live. Pairs with the take-over of a
   * rebuild (the dead pusher's stores precede it). */
  atomic_store_explicit(&s->state, v.epoch, memory_order_release);
  FERRY__CRASH_POINT("heap.push.committed");
  struct ferry__heap_entry *e = entries(hp, ai);
  e[v.n].ukey = k->ukey;
  e[v.n].seq = seq;
  e[v.n].idx = (uint32_t)idx;
  e[v.n].reserved = 0;
  struct order o = order_of(hp, ai);
  sift_up(&o, e, v.n);
  atomic_store_explicit(&a->n, v.n + 1, memory_order_relaxed);
  count(&hp->h->pushes, 1);
  return 0;
}

static int push_common(ferry_heap *hp, const struct hkey *k, const void *data, size_t len,
                       uint64_t gen, int64_t timeout_ns)
{
  if (len > hp->max_payload)
    return -EMSGSIZE;
  if (timeout_ns < 0)
    return -EINVAL;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  int rc = heap_lock(hp, timeout_ns, &deadline);
  if (rc)
    return rc;
  rc = push_locked(hp, k, data, len, gen);
  heap_unlock(hp);
  if (rc == 0)
    wake_poppers(hp);
  return rc;
}

int ferry_heap_push(ferry_heap *hp, ferry_heap_key key, const void *data, size_t len,
                    int64_t timeout_ns)
{
  assert(hp && (data || !len));
  if (hp->remote) return ferry__remote_heap_push(hp->remote, key, data, len, timeout_ns);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct hkey k;
  if ((rc = key_typed(hp, key, &k)))
    return rc;
  return push_common(hp, &k, data, len, FERRY_HEAP_GEN_ANY, timeout_ns);
}

int ferry_heap_push_ex(ferry_heap *hp, const void *key, size_t klen, const void *data, size_t len,
                       uint64_t gen, int64_t timeout_ns)
{
  assert(hp && (data || !len));
  if (hp->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct hkey k;
  if ((rc = key_bytes(hp, key, klen, &k)))
    return rc;
  return push_common(hp, &k, data, len, gen, timeout_ns);
}

/* ---- pop, peek ---------------------------------------------------------------- */

/* Where a pop or peek puts what it found. Either tkey (a typed key) or
 * bkey/kcap/klen (the key as bytes) is used. */
struct hout {
  ferry_heap_key *tkey;
  void *bkey;
  size_t kcap;
  size_t *klen;
  void *buf;
  size_t cap;
  uint64_t *gen;
};

/* With the lock held: copies the top record out; removes it if `take`.
 * Nothing is copied out unless everything fits. */
static ssize_t top_locked(ferry_heap *hp, const struct hout *o, bool take)
{
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  struct aview v;
  int rc = area_read(hp, ai, &v);
  if (rc)
    return rc;
  if (v.n == 0)
    return -EAGAIN;
  struct ferry__heap_entry *e = entries(hp, ai);
  struct ferry__heap_entry top = e[0];
  if (top.idx >= v.hw)
    return FERRY_ECORRUPT;
  struct ferry__heap_slot *s = slot_at(hp, ai, top.idx);
  size_t len = s->len, kl = s->klen;
  if (atomic_load_explicit(&s->state, memory_order_relaxed) != v.epoch || s->ukey != top.ukey ||
      s->seq != top.seq || len > hp->max_payload || kl > hp->max_key)
    return FERRY_ECORRUPT;
  size_t kout = bytes_heap(hp) ? kl : TYPED_KEY_BYTES;
  if (len > o->cap || (o->bkey && kout > o->kcap))
    return -EMSGSIZE;
  if (len)
    memcpy(o->buf, slot_payload(hp, s), len);
  if (bytes_heap(hp)) {
    if (o->bkey && kl)
      memcpy(o->bkey, s->data, kl);
  } else {
    ferry_heap_key k = key_decode(hp, top.ukey);
    if (o->tkey)
      *o->tkey = k;
    if (o->bkey)
      memcpy(o->bkey, &k, TYPED_KEY_BYTES);
  }
  if (o->klen)
    *o->klen = kout;
  if (o->gen)
    *o->gen = a->gen;
  if (!take)
    return (ssize_t)len;
  /* release: the commit point of the pop [heap-truth]: from here the
   * record is gone even if we die before fixing the index. */
  atomic_store_explicit(&s->state, 0, memory_order_release);
  FERRY__CRASH_POINT("heap.pop.committed");
  /* ft = hw - n < hw <= max_cap: room on the stack */
  free_stack(hp, ai)[v.ft] = top.idx;
  a->free_top = v.ft + 1;
  FERRY__CRASH_POINT("heap.pop.freed");
  uint64_t n = v.n - 1;
  if (n > 0) {
    struct order ord = order_of(hp, ai);
    pop_fix(&ord, e, n);
    /* The next pop copies the new top's slot: ask for its line now,
     * while the caller works outside the lock. A hint only: the next pop
     * checks the index and the slot as ever [heap-untrusted]. */
    if (e[0].idx < v.hw)
      __builtin_prefetch(slot_at(hp, ai, e[0].idx), 0, 3);
  }
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
  count(&hp->h->pops, 1);
  return (ssize_t)len;
}

static ssize_t try_top(ferry_heap *hp, const struct hout *o, bool take, int64_t timeout_ns,
                       int64_t *deadline)
{
  int rc = heap_lock(hp, timeout_ns, deadline);
  if (rc)
    return rc;
  ssize_t got = top_locked(hp, o, take);
  heap_unlock(hp);
  return got;
}

static uint64_t size_now(const ferry_heap *hp)
{
  return atomic_load_explicit(&hp->h->area[active_area(hp)].n, memory_order_relaxed);
}

struct pop_arg {
  ferry_heap *hp;
  const struct hout *o;
  int64_t timeout_ns;
  int64_t *deadline;
  ssize_t got;
};

static int pop_attempt(void *p, bool armed)
{
  (void)armed;
  struct pop_arg *a = p;
  /* A corrupt count reads as non-empty: the locked look reports it. */
  if (size_now(a->hp) == 0)
    return -EAGAIN;
  ssize_t got = try_top(a->hp, a->o, true, a->timeout_ns, a->deadline);
  if (got < 0)
    return (int)got; /* -EAGAIN: another popper was first */
  a->got = got;
  return 0;
}

/* At each slice end: a pusher that died holding the lock may have left a
 * record that n does not show yet; take the lock over and rebuild. */
static int pop_slice(void *p)
{
  struct pop_arg *a = p;
  if (ferry__rlock_take_dead(a->hp->r, &a->hp->h->lock, a->hp->tag) == -EOWNERDEAD) {
    repair(a->hp);
    heap_unlock(a->hp);
  }
  return -EAGAIN;
}

static ssize_t pop_common(ferry_heap *hp, const struct hout *o, int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  if (timeout_ns == 0) {
    /* A try still waits out a lock holder, briefly: see peek. */
    return try_top(hp, o, true, TRY_LOCK_SLICES * hp->slice_ns, &deadline);
  }
  ssize_t got = try_top(hp, o, true, timeout_ns, &deadline);
  if (got != -EAGAIN)
    return got;
  struct pop_arg a = {.hp = hp, .o = o, .timeout_ns = timeout_ns, .deadline = &deadline};
  ferry__waiter w = {.ec = &hp->h->ne_ec,
                     .attempt = pop_attempt,
                     .slice = pop_slice,
                     .arg = &a,
                     .spin_ns = POP_SPIN_NS,
                     .slice_ns = hp->slice_ns};
  int rc = ferry__wait(&w, timeout_ns, &deadline);
  return rc == 0 ? a.got : rc;
}

ssize_t ferry_heap_pop(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap,
                       int64_t timeout_ns)
{
  assert(hp && (buf || !cap));
  if (hp->remote) return ferry__remote_heap_pop(hp->remote, key, buf, cap, timeout_ns);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  if (key && bytes_heap(hp))
    return -EINVAL;
  struct hout o = {.tkey = key, .buf = buf, .cap = cap};
  return pop_common(hp, &o, timeout_ns);
}

ssize_t ferry_heap_pop_ex(ferry_heap *hp, void *key, size_t kcap, size_t *klen, void *buf,
                          size_t cap, uint64_t *gen, int64_t timeout_ns)
{
  assert(hp && (buf || !cap) && (key || !kcap));
  if (hp->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct hout o = {.bkey = key, .kcap = kcap, .klen = klen, .buf = buf, .cap = cap, .gen = gen};
  return pop_common(hp, &o, timeout_ns);
}

static ssize_t peek_common(ferry_heap *hp, const struct hout *o)
{
  /* The lock is held for microseconds; waiting out a dead holder takes up
   * to a liveness slice, and a peek waits at most a few of those. */
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return try_top(hp, o, false, TRY_LOCK_SLICES * hp->slice_ns, &deadline);
}

ssize_t ferry_heap_peek(ferry_heap *hp, ferry_heap_key *key, void *buf, size_t cap)
{
  assert(hp && (buf || !cap));
  if (hp->remote) return ferry__remote_heap_peek(hp->remote, key, buf, cap);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  if (key && bytes_heap(hp))
    return -EINVAL;
  struct hout o = {.tkey = key, .buf = buf, .cap = cap};
  return peek_common(hp, &o);
}

ssize_t ferry_heap_peek_ex(ferry_heap *hp, void *key, size_t kcap, size_t *klen, void *buf,
                           size_t cap, uint64_t *gen)
{
  assert(hp && (buf || !cap) && (key || !kcap));
  if (hp->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct hout o = {.bkey = key, .kcap = kcap, .klen = klen, .buf = buf, .cap = cap, .gen = gen};
  return peek_common(hp, &o);
}

ssize_t ferry_heap_size(const ferry_heap *hp)
{
  assert(hp);
  if (hp->remote) return ferry__remote_heap_size(hp->remote);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  uint64_t n = size_now(hp);
  /* A count no heap of ours can hold is corruption, not a size. */
  return n > hp->max_cap ? FERRY_ECORRUPT : (ssize_t)n;
}

int ferry_heap_generation(ferry_heap *hp, uint64_t *gen)
{
  assert(hp && gen);
  if (hp->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  uint64_t g = hp->h->area[active_area(hp)].gen;
  if (g == 0)
    return FERRY_ECORRUPT;
  *gen = g;
  return 0;
}

/* The generation after g: never 0, which means "any". */
static uint64_t gen_next(uint64_t g)
{
  return g + 1 ? g + 1 : 1;
}

int ferry_heap_clear(ferry_heap *hp, int64_t timeout_ns)
{
  assert(hp);
  if (hp->remote) return ferry__remote_heap_clear(hp->remote, timeout_ns);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  if ((rc = heap_lock(hp, timeout_ns, &deadline)))
    return rc;
  struct ferry__heap_area *a = &hp->h->area[active_area(hp)];
  /* A new set: the generation first, so a death before the epoch store
   * refuses stale pushes into a set that was not cleared after all, and
   * never lets one into a set that was [heap-gen]. */
  a->gen = gen_next(a->gen);
  FERRY__CRASH_POINT("heap.clear.gen");
  uint32_t ep = atomic_load_explicit(&a->epoch, memory_order_relaxed) + 1;
  if (ep == 0)
    ep = 1;
  /* relaxed: under the lock. The commit point of clear: from here every
   * slot is free [heap-truth]; the index fields below follow. */
  atomic_store_explicit(&a->epoch, ep, memory_order_relaxed);
  FERRY__CRASH_POINT("heap.clear.epoch");
  atomic_store_explicit(&a->n, 0, memory_order_relaxed);
  a->hw = 0;
  a->free_top = 0;
  heap_unlock(hp);
  return 0;
}

/* ---- replace_all [heap-swap] ----------------------------------------------- */

/* The records of a replace_all, typed or as bytes. */
struct recs {
  const ferry_heap_record *t;
  const ferry_heap_record_ex *x;
};

static int rec_get(const ferry_heap *hp, const struct recs *rs, size_t i, struct hkey *k,
                   const void **data, size_t *len)
{
  if (rs->t) {
    *data = rs->t[i].data;
    *len = rs->t[i].len;
    return key_typed(hp, rs->t[i].key, k);
  }
  *data = rs->x[i].data;
  *len = rs->x[i].len;
  return key_bytes(hp, rs->x[i].key, rs->x[i].klen, k);
}

static int replace_common(ferry_heap *hp, const struct recs *rs, size_t n, uint64_t *gen_out,
                          int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  if (n > hp->max_cap)
    return -ENOSPC;
  for (size_t i = 0; i < n; i++) {
    struct hkey k;
    const void *data;
    size_t len;
    int rc = rec_get(hp, rs, i, &k, &data, &len);
    if (rc)
      return rc;
    if (len > hp->max_payload)
      return -EMSGSIZE;
    if (!data && len)
      return -EINVAL;
  }
  struct ferry__heap_hdr *h = hp->h;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  int rc = ferry__rlock_lock(hp->r, &h->replace_lock, hp->tag, timeout_ns, &deadline);
  if (rc == -EOWNERDEAD)
    rc = 0; /* a replacer died building: the spare is rebuilt from scratch below */
  if (rc)
    return rc;
  /* Only replacers change `active`, and we are the only one: the other
   * area is ours until we swap it in. */
  uint32_t spare = active_area(hp) ^ 1;
  struct ferry__heap_area *a = &h->area[spare];
  /* The spare area must hold n slots before we write them [heap-commit].
   * On failure the spare is untouched and the active set unchanged. */
  if ((rc = area_commit(hp, spare, n))) {
    ferry__rlock_unlock(&h->replace_lock, hp->tag);
    return rc;
  }
  uint32_t ep = atomic_load_explicit(&a->epoch, memory_order_relaxed) + 1;
  if (ep == 0)
    ep = 1;
  atomic_store_explicit(&a->epoch, ep, memory_order_relaxed);
  uint64_t seq0 = atomic_fetch_add_explicit(&h->next_seq, n, memory_order_relaxed);
  struct ferry__heap_entry *e = entries(hp, spare);
  for (size_t i = 0; i < n; i++) {
    struct hkey k = {0};
    const void *data;
    size_t len;
    rec_get(hp, rs, i, &k, &data, &len);
    struct ferry__heap_slot *s = slot_at(hp, spare, i);
    s->ukey = k.ukey;
    s->seq = seq0 + i;
    s->len = (uint32_t)len;
    s->klen = (uint32_t)k.blen;
    if (k.blen)
      memcpy(s->data, k.b, k.blen);
    if (len)
      memcpy(slot_payload(hp, s), data, len);
    atomic_store_explicit(&s->state, ep, memory_order_relaxed);
    e[i].ukey = k.ukey;
    e[i].seq = seq0 + i;
    e[i].idx = (uint32_t)i;
    e[i].reserved = 0;
    if (i == 0)
      FERRY__CRASH_POINT("heap.replace.building");
  }
  struct order o = order_of(hp, spare);
  heapify(&o, e, n);
  a->hw = n;
  a->free_top = 0;
  atomic_store_explicit(&a->n, n, memory_order_relaxed);
  FERRY__CRASH_POINT("heap.replace.built");
  if ((rc = heap_lock(hp, timeout_ns, &deadline))) {
    ferry__rlock_unlock(&h->replace_lock, hp->tag);
    return rc;
  }
  /* Under the lock: a clear may have moved the active set's generation
   * since we started, and the new set's must be beyond it [heap-gen]. */
  uint64_t gen = gen_next(h->area[spare ^ 1].gen);
  a->gen = gen;
  FERRY__CRASH_POINT("heap.replace.gen");
  /* relaxed: under the lock, whose release in heap_unlock() publishes the
   * spare area's contents to the next locker. The one store that swaps the
   * sets [heap-swap]. */
  atomic_store_explicit(&h->active, spare, memory_order_relaxed);
  FERRY__CRASH_POINT("heap.replace.swapped");
  count(&h->replaces, 1);
  heap_unlock(hp);
  ferry__rlock_unlock(&h->replace_lock, hp->tag);
  /* Every popper must look at the new set. No fence needed [wait-dekker]. */
  ferry__ec_bump(&h->ne_ec);
  if (gen_out)
    *gen_out = gen;
  return 0;
}

int ferry_heap_replace_all(ferry_heap *hp, const ferry_heap_record *recs, size_t n,
                           int64_t timeout_ns)
{
  assert(hp && (recs || !n));
  if (hp->remote) return ferry__remote_heap_replace_all(hp->remote, recs, n, timeout_ns);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct recs rs = {.t = recs};
  return replace_common(hp, &rs, n, NULL, timeout_ns);
}

int ferry_heap_replace_all_ex(ferry_heap *hp, const ferry_heap_record_ex *recs, size_t n,
                              uint64_t *gen, int64_t timeout_ns)
{
  assert(hp && (recs || !n));
  if (hp->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  struct recs rs = {.x = recs};
  return replace_common(hp, &rs, n, gen, timeout_ns);
}

/* ---- stats, validate ---------------------------------------------------------- */

int ferry_heap_stats_get(ferry_heap *hp, ferry_heap_stats *out)
{
  assert(hp && out);
  if (hp->remote) return ferry__remote_heap_stats(hp->remote, out);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  const struct ferry__heap_hdr *h = hp->h;
  ssize_t size = ferry_heap_size(hp);
  if (size < 0)
    return (int)size;
  memset(out, 0, sizeof *out);
  out->size = (uint64_t)size;
  out->capacity = hp->capacity;
  out->max_capacity = hp->max_cap;
  out->max_payload = hp->max_payload;
  out->pushes = atomic_load_explicit(&h->pushes, memory_order_relaxed);
  out->pops = atomic_load_explicit(&h->pops, memory_order_relaxed);
  out->replaces = atomic_load_explicit(&h->replaces, memory_order_relaxed);
  out->repairs = atomic_load_explicit(&h->repairs, memory_order_relaxed);
  out->key_type = ferry__heap_key_type(hp->flags);
  out->order = (hp->flags & FERRY__HEAP_F_MAX) ? FERRY_HEAP_MAX : FERRY_HEAP_MIN;
  /* relaxed: a snapshot. The event count does not count its sleepers:
   * its sleeper bit says whether one announced itself [heap-wake]. */
  out->waiters = atomic_load_explicit(&h->ne_ec, memory_order_relaxed) & FERRY__EC_SLEEPER;
  uint64_t unit = FERRY__HEAP_UNIT_FIXED + hp->stride, c[2];
  for (uint32_t ai = 0; ai < 2; ai++)
    if ((rc = committed_read(hp, ai, &c[ai])))
      return rc;
  out->committed_bytes = FERRY__HEAP_HDR_SIZE + (c[0] + c[1]) * unit;
  out->used_bytes = FERRY__HEAP_HDR_SIZE + out->size * unit;
  return 0;
}

static int validate_locked(ferry_heap *hp)
{
  uint32_t ai = active_area(hp);
  struct ferry__heap_area *a = &hp->h->area[ai];
  struct aview v;
  int rc = area_read(hp, ai, &v);
  if (rc)
    return rc;
  if (a->gen == 0)
    return FERRY_ECORRUPT;
  uint8_t *seen = calloc(v.hw ? v.hw : 1, 1);
  if (!seen)
    return -ENOMEM;
  struct ferry__heap_entry *e = entries(hp, ai);
  struct order o = order_of(hp, ai);
  for (uint64_t i = 0; i < v.n && !rc; i++) {
    uint32_t idx = e[i].idx;
    if (idx >= v.hw || seen[idx]) {
      rc = FERRY_ECORRUPT;
      break;
    }
    seen[idx] = 1;
    struct ferry__heap_slot *s = slot_at(hp, ai, idx);
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != v.epoch || s->ukey != e[i].ukey ||
        s->seq != e[i].seq || s->len > hp->max_payload || s->klen > hp->max_key)
      rc = FERRY_ECORRUPT;
    else if (bytes_heap(hp)) {
      uint64_t u = bytes_prefix(s->data, s->klen);
      if (s->ukey != ((hp->flags & FERRY__HEAP_F_MAX) ? ~u : u))
        rc = FERRY_ECORRUPT;
    }
    if (i > 0 && entry_less(&o, &e[i], &e[(i - 1) / 2]))
      rc = FERRY_ECORRUPT; /* the heap property */
  }
  uint32_t *fs = free_stack(hp, ai);
  for (uint64_t i = 0; i < v.ft && !rc; i++) {
    uint32_t idx = fs[i];
    if (idx >= v.hw || seen[idx] ||
        atomic_load_explicit(&slot_at(hp, ai, idx)->state, memory_order_relaxed) == v.epoch)
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
  if (hp->remote) return ferry__remote_heap_validate(hp->remote, timeout_ns);
  int rc = ferry__region_usable(hp->r);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  /* The header must still be the one the handle was built from. */
  struct ferry__heap_hdr hc;
  if ((rc = read_header(hp->r, &hc)))
    return rc;
  if (hc.flags != hp->flags || hc.max_payload != hp->max_payload || hc.max_key != hp->max_key ||
      hc.capacity != hp->capacity || hc.max_capacity != hp->max_cap ||
      hc.slot_stride != hp->stride || hc.area_size != hp->area_size)
    return FERRY_ECORRUPT;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  if ((rc = heap_lock(hp, timeout_ns, &deadline)))
    return rc;
  rc = validate_locked(hp);
  heap_unlock(hp);
  return rc;
}
