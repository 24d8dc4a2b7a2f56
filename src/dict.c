/* SPDX-License-Identifier: MIT */
/*
 * dict.c: the shared hash map (ferry/dict.h). Separate chaining over a pool
 * of fixed-size slots; buckets are grouped into stripes, each with a region
 * lock (region_lock.h: its holder is judged alive by its participant slot)
 * for writers and a seqlock for readers, so reads from many processes
 * never store to shared memory [dict-seqlock]. Every change commits with one
 * store to a slot (its state, or its value word that flips between two value
 * buffers), so the slots are the ground truth and a locker that finds a
 * writer dead rebuilds the stripe's chains from them [dict-rebuild]. Every
 * index, length and count read from the mapping is checked where it is used
 * [dict-untrusted]; the geometry comes from the handle, validated once at
 * open [no-reread]. Layout: dict_layout.h; argument: docs/design/dict.md.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/crash.h"
#include "dict_layout.h"
#include "ferry/dict.h"
#include "ferry/error.h"
#include "abi.h"
#include "inspect.h"
#include "region_internal.h"
#include "region_lock.h"
#include "remote.h"

#define NSTRIPES 256
/* Optimistic read attempts before a reader queues on the stripe lock (a
 * writer preempted or dead inside its critical phase). */
#define READ_RETRIES 2000
/* Internal: a racy read saw an impossible value; retry. */
#define TORN (-EINTR)
/* Slots are committed in steps [dict-commit]: each step at least doubles
 * what is committed, and is at least this many bytes. */
#define COMMIT_MIN_BYTES (64 * 1024)

struct ferry_dict {
  ferry_region *r;
  struct ferry__dict_hdr *h;
  struct ferry__dict_stripe *stripes;
  _Atomic uint32_t *buckets;
  uint8_t *slots;
  /* The geometry, from the header copy that open validated [no-reread]. */
  uint64_t stride, max_cap, limit, bmask, capacity;
  uint32_t smask, nstripes, max_key, max_value, koff, voff, flags;
  uint64_t tag; /* our region-lock tag */
  /* The committed watermark as this process last read it (it only grows):
   * slot indices up to it need no shared load to be checked [dict-commit]. */
  _Atomic uint64_t bound;
  struct ferry__remote *remote; /* a Redis handle: calls forward [redis-dispatch] */
};

/* ---- helpers --------------------------------------------------------------- */

static inline uint64_t load64(const void *p)
{
  uint64_t w;
  memcpy(&w, p, sizeof w);
  return w;
}

static inline uint32_t load32(const void *p)
{
  uint32_t w;
  memcpy(&w, p, sizeof w);
  return w;
}

/*
 * The last n < 8 bytes of a key of `total` bytes, at s, as the word that
 * `w = 0; memcpy(&w, s, n)` makes, which defines the hash (it is stored in
 * every slot and checked by validate, so it must not change). Done with at
 * most two loads inside the key: a byte loop into a stack word, which
 * is what the compiler makes of that memcpy, costs a store-forwarding stall
 * on every get.
 */
static inline uint64_t tail_word(const uint8_t *s, size_t n, size_t total)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n == 0)
    return 0;
  if (total >= 8) /* the 8 bytes ending at the key's end, low ones dropped */
    return load64(s + n - 8) >> (64 - 8 * n);
  if (n >= 4) /* two overlapping halves: the shared bytes are equal */
    return load32(s) | (uint64_t)load32(s + n - 4) << (8 * (n - 4));
  return (uint64_t)s[0] | (uint64_t)s[n >> 1] << (8 * (n >> 1)) |
         (uint64_t)s[n - 1] << (8 * (n - 1));
#else
  (void)total;
  uint64_t w = 0;
  memcpy(&w, s, n);
  return w;
#endif
}

static uint64_t hash_bytes(const void *p, size_t n)
{
  const uint8_t *s = p;
  const size_t total = n;
  uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (n * UINT64_C(0xff51afd7ed558ccd));
  while (n >= 8) {
    uint64_t w = load64(s);
    h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 32;
    s += 8;
    n -= 8;
  }
  uint64_t w = tail_word(s, n, total);
  h = (h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 29;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 32;
  return h;
}

static uint64_t align8(uint64_t v) { return (v + 7) & ~UINT64_C(7); }

static struct ferry__dict_slot *slot_at(const ferry_dict *d, uint64_t i)
{
  return (struct ferry__dict_slot *)(d->slots + i * d->stride);
}

static unsigned char *key_of(const ferry_dict *d, struct ferry__dict_slot *s)
{
  return s->data + d->koff;
}

static unsigned char *val_of(const ferry_dict *d, struct ferry__dict_slot *s, uint64_t which)
{
  return s->data + d->voff + which * align8(d->max_value);
}

/* Reads the committed watermark into the handle's cache and returns it. A
 * watermark past max_cap is corrupt: it reads as 0, so that no slot index
 * checks out and a locked reader reports FERRY_ECORRUPT [dict-commit]. */
static uint64_t bound_refresh(const ferry_dict *d)
{
  /* acquire: pairs with the release CAS in dict_commit(): the reservation
   * happens-before our use of a slot below the watermark */
  uint64_t c = atomic_load_explicit(&d->h->committed, memory_order_acquire);
  if (c > d->max_cap)
    c = 0;
  /* relaxed: a process-local cache; a stale value only costs a refresh */
  atomic_store_explicit(&((ferry_dict *)d)->bound, c, memory_order_relaxed);
  return c;
}

/* Is idx1 (a slot index + 1 read from the mapping) a committed slot? */
static bool slot_ok(const ferry_dict *d, uint64_t idx1)
{
  return idx1 <= atomic_load_explicit(&d->bound, memory_order_relaxed) ||
         idx1 <= bound_refresh(d);
}

/* hw, bounded by the committed watermark: every slot below it may be
 * read [dict-commit]. */
static uint64_t hw_now(const ferry_dict *d)
{
  /* acquire: pairs with the CAS in alloc_slot(); the watermark store that
   * preceded it is then visible to bound_refresh() */
  uint64_t hw = atomic_load_explicit(&d->h->hw, memory_order_acquire);
  uint64_t c = bound_refresh(d);
  return hw > c ? c : hw;
}

/*
 * Commits slots up to at least `need` (<= max_cap): reserves [cur, target)
 * and raises the watermark to target with a CAS, so concurrent growers
 * (any stripe) only ever raise it. 0, FERRY_ECORRUPT, or -ENOSPC / another
 * negative errno from the reservation, with nothing changed but pages
 * reserved. A death between the reservation and the CAS leaves the old
 * watermark over reserved pages: the next grower reserves them again
 * (idempotent) [dict-commit].
 */
static int dict_commit(ferry_dict *d, uint64_t need)
{
  /* acquire: as in bound_refresh() */
  uint64_t cur = atomic_load_explicit(&d->h->committed, memory_order_acquire);
  if (cur > d->max_cap)
    return FERRY_ECORRUPT;
  if (cur >= need)
    return 0;
  uint64_t t = 2 * cur; /* cur <= max_cap <= 2^26: no overflow */
  if (t < COMMIT_MIN_BYTES / d->stride)
    t = COMMIT_MIN_BYTES / d->stride;
  if (t < need)
    t = need;
  if (t > d->max_cap)
    t = d->max_cap;
  uint64_t slots_off = (uint64_t)(d->slots - (uint8_t *)d->h);
  int rc = ferry__region_commit(d->r, slots_off + cur * d->stride, (t - cur) * d->stride);
  if (rc)
    return rc;
  FERRY__CRASH_POINT("dict.commit.reserved");
  /* release: our reservation happens-before any use of a slot below t;
   * pairs with the acquire in bound_refresh() and dict_commit() */
  while (cur < t && !atomic_compare_exchange_weak_explicit(&d->h->committed, &cur, t,
                                                           memory_order_release,
                                                           memory_order_acquire))
    ;
  FERRY__CRASH_POINT("dict.commit.published");
  bound_refresh(d);
  return 0;
}

/* ---- seqlock writer side [dict-seqlock] -------------------------------------- */

static void write_begin(struct ferry__dict_stripe *st)
{
  uint32_t v = atomic_load_explicit(&st->seq, memory_order_relaxed);
  atomic_store_explicit(&st->seq, v + 1, memory_order_relaxed);
  /* release fence: orders the odd store above before every store of the
   * change below; pairs with the acquire fence in readers before their
   * second load of seq. */
  atomic_thread_fence(memory_order_release);
}

static void write_end(struct ferry__dict_stripe *st)
{
  uint32_t v = atomic_load_explicit(&st->seq, memory_order_relaxed);
  /* release: the change is complete before seq is even again; pairs with
   * the readers' acquire load of seq at the start of a read. */
  atomic_store_explicit(&st->seq, v + 1, memory_order_release);
}

/* ---- rebuild [dict-rebuild] ------------------------------------------------- */

/* With stripe s locked after -EOWNERDEAD: rebuild its chains, free list and
 * count from its slots' states. */
static void rebuild_stripe(ferry_dict *d, uint32_t s)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  if (!(atomic_load_explicit(&st->seq, memory_order_relaxed) & 1))
    write_begin(st);
  for (uint64_t b = s; b <= d->bmask; b += d->nstripes)
    atomic_store_explicit(&d->buckets[b], 0, memory_order_relaxed);
  uint32_t free_head = 0;
  uint64_t count = 0, hw = hw_now(d);
  for (uint64_t i = 0; i < hw; i++) {
    struct ferry__dict_slot *sl = slot_at(d, i);
    if (atomic_load_explicit(&sl->stripe, memory_order_relaxed) != s + 1)
      continue;
    uint64_t vw = atomic_load_explicit(&sl->vword, memory_order_relaxed);
    uint64_t b = sl->hash & d->bmask;
    if (atomic_load_explicit(&sl->state, memory_order_relaxed) == FERRY__DICT_LIVE &&
        sl->klen <= d->max_key && (vw >> 1) <= d->max_value && (b & d->smask) == s) {
      atomic_store_explicit(&sl->next, atomic_load_explicit(&d->buckets[b], memory_order_relaxed),
                            memory_order_relaxed);
      atomic_store_explicit(&d->buckets[b], (uint32_t)(i + 1), memory_order_relaxed);
      count++;
    } else {
      atomic_store_explicit(&sl->state, FERRY__DICT_FREE, memory_order_relaxed);
      atomic_store_explicit(&sl->next, free_head, memory_order_relaxed);
      free_head = (uint32_t)(i + 1);
    }
  }
  st->free_head = free_head;
  atomic_store_explicit(&st->count, count, memory_order_relaxed);
  write_end(st);
}

/* How long a reader (get, next) waits for a stripe lock: two liveness
 * periods, enough for the lock's owner-death check to take over from a
 * writer that died, and no more: a reader takes no timeout of its own. */
static int64_t reader_lock_ns(const ferry_dict *d)
{
  return 2 * d->r->hc.liveness_ns;
}

/* Takes stripe s's lock; repairs the stripe after a dead holder. 0,
 * -EAGAIN (timeout 0), -ETIMEDOUT, -EINVAL. */
static int stripe_lock_until(ferry_dict *d, uint32_t s, int64_t timeout_ns, int64_t *deadline)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  int rc = ferry__rlock_lock(d->r, &st->lock, d->tag, timeout_ns, deadline);
  if (rc == -EOWNERDEAD) {
    rebuild_stripe(d, s);
    atomic_fetch_add_explicit(&d->h->repairs, 1, memory_order_relaxed);
    return 0;
  }
  return rc;
}

static int stripe_lock(ferry_dict *d, uint32_t s, int64_t timeout_ns)
{
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return stripe_lock_until(d, s, timeout_ns, &deadline);
}

static void stripe_unlock(ferry_dict *d, uint32_t s)
{
  ferry__rlock_unlock(&d->stripes[s].lock, d->tag);
}

/* ---- lookup ------------------------------------------------------------------ */

/* Are the n bytes at a and b equal? Keys of 4 to 16 bytes (the common
 * case) are compared with two overlapping loads each, without a call. */
static inline bool key_equal(const unsigned char *a, const void *b, size_t n)
{
  const unsigned char *c = b;
  if (n >= 8 && n <= 16)
    return load64(a) == load64(c) && load64(a + n - 8) == load64(c + n - 8);
  if (n >= 4 && n < 8)
    return load32(a) == load32(c) && load32(a + n - 4) == load32(c + n - 4);
  return memcmp(a, c, n) == 0;
}

/*
 * Finds key in bucket b. Racy (no lock) or locked: every index is checked
 * and the walk bounded, so a racy walk over a changing chain returns TORN
 * at worst. Returns slot index + 1 or 0; *prev gets the predecessor + 1.
 */
static inline __attribute__((always_inline)) int64_t find(const ferry_dict *d, uint64_t b,
                                                          uint64_t h, const void *key,
                                                          size_t klen, uint32_t *prev)
{
  uint32_t p = 0;
  uint32_t idx = atomic_load_explicit(&d->buckets[b], memory_order_relaxed);
  for (uint64_t steps = 0; idx; steps++) {
    if (steps > d->max_cap || !slot_ok(d, idx))
      return TORN;
    struct ferry__dict_slot *sl = slot_at(d, idx - 1);
    if (sl->hash == h && sl->klen == klen && key_equal(key_of(d, sl), key, klen)) {
      if (prev)
        *prev = p;
      return idx;
    }
    p = idx;
    idx = atomic_load_explicit(&sl->next, memory_order_relaxed);
  }
  return 0;
}

/* Copies the value of the slot found for key (racy or locked). */
static inline __attribute__((always_inline)) ssize_t lookup_copy(const ferry_dict *d, uint64_t b,
                                                                  uint64_t h, const void *key,
                                                                  size_t klen, void *buf,
                                                                  size_t cap)
{
  int64_t idx = find(d, b, h, key, klen, NULL);
  if (idx <= 0)
    return idx == 0 ? -ENOENT : TORN;
  struct ferry__dict_slot *sl = slot_at(d, (uint64_t)idx - 1);
  uint64_t vw = atomic_load_explicit(&sl->vword, memory_order_relaxed);
  size_t len = (size_t)(vw >> 1);
  if (len > d->max_value)
    return TORN;
  if (len > cap)
    return -EMSGSIZE;
  if (len)
    memcpy(buf, val_of(d, sl, vw & 1), len);
  return (ssize_t)len;
}

static int check_key(const ferry_dict *d, const void *key, size_t klen)
{
  (void)key;
  return klen > d->max_key ? -E2BIG : 0;
}

ssize_t ferry_dict_get(ferry_dict *d, const void *key, size_t klen, void *buf, size_t cap)
{
  assert(d && (key || !klen) && (buf || !cap));
  if (d->remote) return ferry__remote_dict_get(d->remote, key, klen, buf, cap);
  int rc = ferry__region_usable(d->r);
  if (rc)
    return rc;
  rc = check_key(d, key, klen);
  if (rc)
    return rc;
  uint64_t h = hash_bytes(key, klen), b = h & d->bmask;
  uint32_t s = (uint32_t)(b & d->smask);
  struct ferry__dict_stripe *st = &d->stripes[s];
  for (int tries = 0; tries < READ_RETRIES; tries++) {
    /* acquire: pairs with the release store in write_end(): the change
     * before it is visible to the reads below */
    uint32_t v1 = atomic_load_explicit(&st->seq, memory_order_acquire);
    if (!(v1 & 1)) {
      ssize_t got = lookup_copy(d, b, h, key, klen, buf, cap);
      /* acquire fence: our reads above happen before the re-check; pairs
       * with the release fence in write_begin() */
      atomic_thread_fence(memory_order_acquire);
      if (got != TORN && atomic_load_explicit(&st->seq, memory_order_relaxed) == v1)
        return got;
    }
    ferry__cpu_relax();
  }
  /* A writer stays in (or died in) its phase: queue on the lock, which
   * also repairs a dead writer's stripe, for at most READ_LOCK_SLICES
   * liveness slices: enough to wait out a dead writer. */
  if ((rc = stripe_lock(d, s, reader_lock_ns(d))))
    return rc;
  ssize_t got = lookup_copy(d, b, h, key, klen, buf, cap);
  stripe_unlock(d, s);
  return got == TORN ? FERRY_ECORRUPT : got; /* impossible under the lock */
}

/* ---- slot allocation ------------------------------------------------------------ */

static void free_push(ferry_dict *d, uint32_t s, uint64_t idx)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  atomic_store_explicit(&slot_at(d, idx)->next, st->free_head, memory_order_relaxed);
  st->free_head = (uint32_t)(idx + 1);
}

/* With stripe s locked: pops its free list into *idx. 1 (got one), 0
 * (empty) or FERRY_ECORRUPT: the head must name a free slot of this
 * stripe below hw [dict-untrusted]. */
static int free_pop(ferry_dict *d, uint32_t s, uint64_t *idx)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  uint32_t f = st->free_head;
  if (!f)
    return 0;
  if (f > hw_now(d))
    return FERRY_ECORRUPT;
  struct ferry__dict_slot *sl = slot_at(d, f - 1);
  if (atomic_load_explicit(&sl->state, memory_order_relaxed) != FERRY__DICT_FREE ||
      atomic_load_explicit(&sl->stripe, memory_order_relaxed) != s + 1)
    return FERRY_ECORRUPT;
  st->free_head = atomic_load_explicit(&sl->next, memory_order_relaxed);
  *idx = f - 1;
  return 1;
}

/* With stripe s locked: steals a free slot from another stripe's free
 * list (try-locked, so no lock order is needed). 1 (got one) or 0. */
static int steal_slot(ferry_dict *d, uint32_t s, uint64_t *idx)
{
  for (uint32_t k = 1; k < d->nstripes; k++) {
    uint32_t t = (s + k) & d->smask;
    if (!d->stripes[t].free_head || stripe_lock(d, t, 0) != 0)
      continue;
    int got = free_pop(d, t, idx);
    if (got > 0) { /* moves the free slot to stripe s (it stays FREE) */
      atomic_store_explicit(&slot_at(d, *idx)->stripe, s + 1, memory_order_relaxed);
      FERRY__CRASH_POINT("dict.alloc.stolen");
    }
    stripe_unlock(d, t);
    if (got > 0)
      return 1;
  }
  return 0;
}

/*
 * With stripe s locked: a free slot for s, from (in this order) its free
 * list, the never-used slots below the committed watermark, another
 * stripe's free list, or a newly committed step of never-used slots. So
 * memory is committed only when no slot anywhere is free: a dict whose
 * keys churn (deleted in one stripe, inserted in another) stays within
 * what it holds at most [dict-commit]. 0, -ENOSPC (full, or no memory for
 * a new step) or FERRY_ECORRUPT.
 */
static int alloc_slot(ferry_dict *d, uint32_t s, uint64_t *idx)
{
  int rc = free_pop(d, s, idx);
  if (rc)
    return rc < 0 ? rc : 0;
  uint64_t hw = atomic_load_explicit(&d->h->hw, memory_order_relaxed);
  int full = -ENOSPC;
  bool stole = false;
  /* Each failed CAS means another writer took a slot: at most limit of
   * them can [dict-untrusted]. */
  for (uint64_t tries = 0; hw < d->limit && tries <= d->limit; tries++) {
    /* Slot hw must be committed before anyone can be handed it. Past the
     * watermark, a free slot elsewhere first; then a new step, whose
     * failure (a full /dev/shm: -ENOSPC) changes nothing [dict-commit]. */
    if (hw >= atomic_load_explicit(&d->bound, memory_order_relaxed) && hw >= bound_refresh(d)) {
      if (!stole) {
        stole = true;
        if (steal_slot(d, s, idx))
          return 0;
      }
      if ((full = dict_commit(d, hw + 1)) != 0)
        return full;
    }
    /* acq_rel: hands out slot hw exactly once; pairs with other CASes and
     * the acquire load in hw_now() (the slot's owner field is written
     * under our stripe lock before the slot is linked) */
    if (atomic_compare_exchange_weak_explicit(&d->h->hw, &hw, hw + 1, memory_order_acq_rel,
                                              memory_order_relaxed)) {
      FERRY__CRASH_POINT("dict.alloc.taken");
      struct ferry__dict_slot *sl = slot_at(d, hw);
      atomic_store_explicit(&sl->state, FERRY__DICT_FREE, memory_order_relaxed);
      atomic_store_explicit(&sl->stripe, s + 1, memory_order_relaxed);
      *idx = hw;
      return 0;
    }
  }
  if (!stole && steal_slot(d, s, idx))
    return 0;
  return full;
}

/* ---- writes --------------------------------------------------------------------- */

/* With stripe s locked: makes slot idx (filled, FREE) a live entry of b. */
static void link_new(ferry_dict *d, uint32_t s, uint64_t b, uint64_t idx)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  struct ferry__dict_slot *sl = slot_at(d, idx);
  write_begin(st);
  /* release: the commit point of an insert [dict-rebuild]; the key and
   * value are whole before the slot turns live */
  atomic_store_explicit(&sl->state, FERRY__DICT_LIVE, memory_order_release);
  FERRY__CRASH_POINT("dict.insert.committed");
  atomic_store_explicit(&sl->next, atomic_load_explicit(&d->buckets[b], memory_order_relaxed),
                        memory_order_relaxed);
  atomic_store_explicit(&d->buckets[b], (uint32_t)(idx + 1), memory_order_relaxed);
  FERRY__CRASH_POINT("dict.insert.linked");
  atomic_store_explicit(&st->count, atomic_load_explicit(&st->count, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  write_end(st);
}

/* Fills a free slot (unreachable to readers) with key and value. */
static void fill_new(ferry_dict *d, uint64_t idx, uint64_t h, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
  struct ferry__dict_slot *sl = slot_at(d, idx);
  sl->hash = h;
  sl->klen = (uint32_t)klen;
  if (klen)
    memcpy(key_of(d, sl), key, klen);
  if (vlen && val)
    memcpy(val_of(d, sl, 0), val, vlen);
  atomic_store_explicit(&sl->vword, (uint64_t)vlen << 1, memory_order_relaxed);
  FERRY__CRASH_POINT("dict.insert.filled");
}

/* With stripe s locked: flips slot idx to the value already written in its
 * spare buffer. */
static void commit_value(ferry_dict *d, uint32_t s, struct ferry__dict_slot *sl, uint64_t which,
                         size_t vlen)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  FERRY__CRASH_POINT("dict.value.written");
  write_begin(st);
  /* release: the commit point of a value change [dict-rebuild] */
  atomic_store_explicit(&sl->vword, (uint64_t)vlen << 1 | which, memory_order_release);
  FERRY__CRASH_POINT("dict.value.committed");
  write_end(st);
}

/* With stripe s locked: removes live slot idx (predecessor prev + 1). */
static void unlink_slot(ferry_dict *d, uint32_t s, uint64_t b, uint64_t idx, uint32_t prev)
{
  struct ferry__dict_stripe *st = &d->stripes[s];
  struct ferry__dict_slot *sl = slot_at(d, idx);
  uint32_t nx = atomic_load_explicit(&sl->next, memory_order_relaxed);
  write_begin(st);
  if (prev)
    atomic_store_explicit(&slot_at(d, prev - 1)->next, nx, memory_order_relaxed);
  else
    atomic_store_explicit(&d->buckets[b], nx, memory_order_relaxed);
  FERRY__CRASH_POINT("dict.delete.unlinked");
  /* release: the commit point of a delete [dict-rebuild] */
  atomic_store_explicit(&sl->state, FERRY__DICT_FREE, memory_order_release);
  FERRY__CRASH_POINT("dict.delete.committed");
  atomic_store_explicit(&st->count, atomic_load_explicit(&st->count, memory_order_relaxed) - 1,
                        memory_order_relaxed);
  write_end(st);
  free_push(d, s, idx);
}

enum { MODE_SET, MODE_NX, MODE_CAS };

static int do_set(ferry_dict *d, const void *key, size_t klen, const void *val, size_t vlen,
                  int mode, const void *expect, size_t elen, int64_t timeout_ns)
{
  int rc = check_key(d, key, klen);
  if (rc)
    return rc;
  /* An expected value longer than any value can never match; refuse it
   * before it reaches a memcmp [dict-untrusted]. */
  if (vlen > d->max_value || elen > d->max_value)
    return -EMSGSIZE;
  uint64_t h = hash_bytes(key, klen), b = h & d->bmask;
  uint32_t s = (uint32_t)(b & d->smask);
  if ((rc = stripe_lock(d, s, timeout_ns)))
    return rc;
  int64_t found = find(d, b, h, key, klen, NULL);
  if (found < 0) {
    rc = FERRY_ECORRUPT; /* a chain no writer made, under the lock */
  } else if (found > 0) {
    struct ferry__dict_slot *sl = slot_at(d, (uint64_t)found - 1);
    uint64_t vw = atomic_load_explicit(&sl->vword, memory_order_relaxed);
    if ((vw >> 1) > d->max_value) {
      rc = FERRY_ECORRUPT;
    } else if (mode == MODE_NX) {
      rc = -EEXIST;
    } else if (mode == MODE_CAS &&
               ((vw >> 1) != elen || (elen && memcmp(val_of(d, sl, vw & 1), expect, elen)))) {
      rc = -EAGAIN;
    } else {
      uint64_t which = (vw & 1) ^ 1; /* the spare buffer: no reader reads it */
      if (vlen)
        memcpy(val_of(d, sl, which), val, vlen);
      commit_value(d, s, sl, which, vlen);
    }
  } else if (mode == MODE_CAS) {
    rc = -ENOENT;
  } else {
    uint64_t idx;
    if ((rc = alloc_slot(d, s, &idx)) == 0) {
      fill_new(d, idx, h, key, klen, val, vlen);
      link_new(d, s, b, idx);
    }
  }
  stripe_unlock(d, s);
  return rc;
}

int ferry_dict_set(ferry_dict *d, const void *key, size_t klen, const void *val, size_t vlen,
                   int64_t timeout_ns)
{
  assert(d && (key || !klen) && (val || !vlen));
  if (d->remote) return ferry__remote_dict_set(d->remote, key, klen, val, vlen, timeout_ns);
  int rc = ferry__region_usable(d->r);
  return rc ? rc : do_set(d, key, klen, val, vlen, MODE_SET, NULL, 0, timeout_ns);
}

int ferry_dict_set_nx(ferry_dict *d, const void *key, size_t klen, const void *val, size_t vlen,
                      int64_t timeout_ns)
{
  assert(d && (key || !klen) && (val || !vlen));
  if (d->remote) return ferry__remote_dict_set_nx(d->remote, key, klen, val, vlen, timeout_ns);
  int rc = ferry__region_usable(d->r);
  return rc ? rc : do_set(d, key, klen, val, vlen, MODE_NX, NULL, 0, timeout_ns);
}

int ferry_dict_cas(ferry_dict *d, const void *key, size_t klen, const void *expect, size_t elen,
                   const void *val, size_t vlen, int64_t timeout_ns)
{
  assert(d && (key || !klen) && (val || !vlen) && (expect || !elen));
  if (d->remote) return ferry__remote_dict_cas(d->remote, key, klen, expect, elen, val, vlen, timeout_ns);
  int rc = ferry__region_usable(d->r);
  return rc ? rc : do_set(d, key, klen, val, vlen, MODE_CAS, expect, elen, timeout_ns);
}

int ferry_dict_del(ferry_dict *d, const void *key, size_t klen, int64_t timeout_ns)
{
  assert(d && (key || !klen));
  if (d->remote) return ferry__remote_dict_del(d->remote, key, klen, timeout_ns);
  int rc = ferry__region_usable(d->r);
  if (rc || (rc = check_key(d, key, klen)))
    return rc;
  uint64_t h = hash_bytes(key, klen), b = h & d->bmask;
  uint32_t s = (uint32_t)(b & d->smask);
  if ((rc = stripe_lock(d, s, timeout_ns)))
    return rc;
  uint32_t prev = 0;
  int64_t found = find(d, b, h, key, klen, &prev);
  if (found > 0)
    unlink_slot(d, s, b, (uint64_t)found - 1, prev);
  else
    rc = found < 0 ? FERRY_ECORRUPT : -ENOENT;
  stripe_unlock(d, s);
  return rc;
}

int ferry_dict_update(ferry_dict *d, const void *key, size_t klen, ferry_dict_update_fn fn,
                      void *arg, int64_t timeout_ns)
{
  assert(d && (key || !klen) && fn);
  if (d->remote) return ferry__remote_dict_update(d->remote, key, klen, fn, arg, timeout_ns);
  int rc = ferry__region_usable(d->r);
  if (rc || (rc = check_key(d, key, klen)))
    return rc;
  uint64_t h = hash_bytes(key, klen), b = h & d->bmask;
  uint32_t s = (uint32_t)(b & d->smask);
  if ((rc = stripe_lock(d, s, timeout_ns)))
    return rc;
  uint32_t prev = 0;
  int64_t found = find(d, b, h, key, klen, &prev);
  size_t out_len = 0;
  uint64_t vw = 0;
  if (found > 0)
    vw = atomic_load_explicit(&slot_at(d, (uint64_t)found - 1)->vword, memory_order_relaxed);
  if (found < 0 || (vw >> 1) > d->max_value) {
    /* a chain or a length no writer made: never hand it to fn */
    rc = FERRY_ECORRUPT;
  } else if (found > 0) {
    uint64_t idx = (uint64_t)found - 1;
    struct ferry__dict_slot *sl = slot_at(d, idx);
    uint64_t which = (vw & 1) ^ 1;
    /* fn writes the spare buffer, which no reader reads */
    rc = fn(val_of(d, sl, vw & 1), (size_t)(vw >> 1), 1, val_of(d, sl, which), d->max_value,
            &out_len, arg);
    if (rc == FERRY_DICT_SET) {
      if (out_len > d->max_value)
        rc = -EMSGSIZE;
      else
        commit_value(d, s, sl, which, out_len);
    } else if (rc == FERRY_DICT_DELETE) {
      unlink_slot(d, s, b, idx, prev);
    } else if (rc > FERRY_DICT_DELETE) {
      rc = -EINVAL;
    }
  } else {
    uint64_t idx;
    if ((rc = alloc_slot(d, s, &idx)) == 0) {
      struct ferry__dict_slot *sl = slot_at(d, idx);
      rc = fn(NULL, 0, 0, val_of(d, sl, 0), d->max_value, &out_len, arg);
      if (rc == FERRY_DICT_SET) {
        if (out_len > d->max_value) {
          rc = -EMSGSIZE;
          free_push(d, s, idx);
        } else {
          fill_new(d, idx, h, key, klen, NULL, out_len);
          link_new(d, s, b, idx);
        }
      } else {
        free_push(d, s, idx); /* still FREE: back to our list */
        if (rc > FERRY_DICT_DELETE)
          rc = -EINVAL;
      }
    }
  }
  stripe_unlock(d, s);
  return rc;
}

ssize_t ferry_dict_size(const ferry_dict *d)
{
  assert(d);
  if (d->remote) return ferry__remote_dict_size(d->remote);
  int rc = ferry__region_usable(d->r);
  if (rc)
    return rc;
  uint64_t n;
  rc = ferry__dict_count(d->stripes, d->nstripes, d->max_cap, d->limit, &n);
  return rc ? rc : (ssize_t)n;
}

/* ---- whole-table operations ----------------------------------------------------- */

/* Takes every stripe lock within timeout_ns in all. */
static int lock_all(ferry_dict *d, int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  int64_t deadline = FERRY__DEADLINE_UNSET;
  for (uint32_t s = 0; s < d->nstripes; s++) {
    int rc = stripe_lock_until(d, s, timeout_ns, &deadline);
    if (rc) {
      while (s-- > 0)
        stripe_unlock(d, s);
      return rc;
    }
  }
  return 0;
}

static void unlock_all(ferry_dict *d)
{
  for (uint32_t s = d->nstripes; s-- > 0;)
    stripe_unlock(d, s);
}

int ferry_dict_clear(ferry_dict *d, int64_t timeout_ns)
{
  assert(d);
  if (d->remote) return ferry__remote_dict_clear(d->remote, timeout_ns);
  int rc = ferry__region_usable(d->r);
  if (rc || (rc = lock_all(d, timeout_ns)))
    return rc;
  for (uint32_t s = 0; s < d->nstripes; s++)
    write_begin(&d->stripes[s]);
  uint64_t hw = hw_now(d);
  for (uint64_t i = 0; i < hw; i++) {
    struct ferry__dict_slot *sl = slot_at(d, i);
    uint32_t own = atomic_load_explicit(&sl->stripe, memory_order_relaxed);
    if (own && own <= d->nstripes &&
        atomic_load_explicit(&sl->state, memory_order_relaxed) == FERRY__DICT_LIVE) {
      /* release: each entry's removal commits alone [dict-rebuild] */
      atomic_store_explicit(&sl->state, FERRY__DICT_FREE, memory_order_release);
      FERRY__CRASH_POINT("dict.clear.freed");
      free_push(d, own - 1, i);
    }
  }
  for (uint64_t b = 0; b <= d->bmask; b++)
    atomic_store_explicit(&d->buckets[b], 0, memory_order_relaxed);
  for (uint32_t s = 0; s < d->nstripes; s++) {
    atomic_store_explicit(&d->stripes[s].count, 0, memory_order_relaxed);
    write_end(&d->stripes[s]);
  }
  unlock_all(d);
  return 0;
}

int ferry_dict_next(ferry_dict *d, uint64_t *cursor, void *key, size_t kcap, size_t *klen,
                    void *val, size_t vcap, size_t *vlen)
{
  assert(d && cursor && klen && vlen && (key || !kcap) && (val || !vcap));
  if (d->remote) return ferry__remote_dict_next(d->remote, cursor, key, kcap, klen, val, vcap, vlen);
  int rc = ferry__region_usable(d->r);
  if (rc)
    return rc;
  uint64_t hw = hw_now(d);
  for (uint64_t i = *cursor; i < hw; i++) {
    struct ferry__dict_slot *sl = slot_at(d, i);
    uint32_t own = atomic_load_explicit(&sl->stripe, memory_order_relaxed);
    if (!own || own > d->nstripes)
      continue;
    struct ferry__dict_stripe *st = &d->stripes[own - 1];
    int verdict = TORN;
    size_t kl = 0, vl = 0;
    bool locked = false;
    for (int tries = 0; verdict == TORN; tries++) {
      if (tries == READ_RETRIES) {
        rc = stripe_lock(d, own - 1, reader_lock_ns(d));
        if (rc)
          return rc;
        locked = true;
      }
      /* acquire: pairs with the release in write_end() */
      uint32_t v1 = atomic_load_explicit(&st->seq, memory_order_acquire);
      if ((v1 & 1) && !locked) {
        ferry__cpu_relax();
        continue;
      }
      verdict = 0;
      if (atomic_load_explicit(&sl->state, memory_order_relaxed) == FERRY__DICT_LIVE &&
          atomic_load_explicit(&sl->stripe, memory_order_relaxed) == own) {
        uint64_t vw = atomic_load_explicit(&sl->vword, memory_order_relaxed);
        kl = sl->klen;
        vl = (size_t)(vw >> 1);
        if (kl > d->max_key || vl > d->max_value) {
          verdict = TORN;
        } else if (kl > kcap || vl > vcap) {
          verdict = -EMSGSIZE;
        } else {
          if (kl)
            memcpy(key, key_of(d, sl), kl);
          if (vl)
            memcpy(val, val_of(d, sl, vw & 1), vl);
          verdict = 1;
        }
      }
      /* acquire fence: pairs with the release fence in write_begin() */
      atomic_thread_fence(memory_order_acquire);
      if (!locked && atomic_load_explicit(&st->seq, memory_order_relaxed) != v1)
        verdict = TORN;
      if (locked) {
        stripe_unlock(d, own - 1);
        locked = false;
        if (verdict == TORN)
          return FERRY_ECORRUPT; /* impossible under the lock */
      }
    }
    if (verdict == 0)
      continue;
    if (verdict < 0)
      return verdict;
    *klen = kl;
    *vlen = vl;
    *cursor = i + 1;
    return 1;
  }
  *cursor = hw;
  return 0;
}

/* ---- options, create, open, close ------------------------------------------------- */

void ferry_dict_options_init(ferry_dict_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_READER | FERRY_ROLE_WRITER;
  o->max_key = FERRY_DICT_KEY_DEFAULT;
  o->max_value = FERRY_DICT_VALUE_DEFAULT;
  o->capacity = FERRY_DICT_CAPACITY_DEFAULT;
}

static uint64_t stride_for(uint32_t max_key, uint32_t max_value)
{
  return FERRY__DICT_SLOT_HDR + align8(max_key) + 2 * align8(max_value);
}

static uint64_t pow2_at_least(uint64_t v)
{
  uint64_t p = 1;
  while (p < v)
    p <<= 1;
  return p;
}

struct geometry {
  uint64_t nbuckets, buckets_off, slots_off, size;
  uint32_t nstripes;
};

/* Sizes for max_cap slots; false on overflow. */
static bool geometry_for(uint64_t max_cap, uint64_t stride, struct geometry *g)
{
  g->nbuckets = pow2_at_least(max_cap < NSTRIPES ? NSTRIPES : max_cap);
  g->nstripes = NSTRIPES;
  g->buckets_off = FERRY__DICT_HDR_SIZE + (uint64_t)NSTRIPES * FERRY__DICT_STRIPE_SIZE;
  uint64_t slots_bytes;
  if (ferry__align_up(g->buckets_off + 4 * g->nbuckets, FERRY__CACHELINE, &g->slots_off) ||
      ferry__mul_overflow(max_cap, stride, &slots_bytes) ||
      ferry__add_overflow(g->slots_off, slots_bytes, &g->size))
    return false;
  return true;
}

/* Builds the handle from a validated copy of the header [no-reread]. The
 * region is registered. */
static int handle_init(ferry_region *r, const struct ferry__dict_hdr *hc, ferry_dict **out)
{
  ferry_dict *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  struct ferry__dict_hdr *h = ferry__region_object(r);
  d->r = r;
  d->h = h;
  d->stripes = (struct ferry__dict_stripe *)((uint8_t *)h + hc->stripes_offset);
  d->buckets = (_Atomic uint32_t *)((uint8_t *)h + hc->buckets_offset);
  d->slots = (uint8_t *)h + hc->slots_offset;
  d->stride = hc->slot_stride;
  d->max_cap = hc->max_capacity;
  d->capacity = hc->capacity;
  d->flags = hc->flags;
  d->limit = (hc->flags & FERRY__DICT_F_FIXED) ? hc->capacity : hc->max_capacity;
  d->bmask = hc->nbuckets - 1;
  d->nstripes = hc->nstripes;
  d->smask = hc->nstripes - 1;
  d->max_key = hc->max_key;
  d->max_value = hc->max_value;
  d->koff = 0;
  d->voff = (uint32_t)align8(hc->max_key);
  d->tag = ferry__rlock_tag(r);
  *out = d;
  return 0;
}

int ferry_dict_create(const char *name, const ferry_dict_options *o, ferry_dict **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_dict_create(name, o, sizeof(struct ferry_dict), offsetof(struct ferry_dict, remote), (void **)out);
  ferry_dict_options defaults;
  if (!o) {
    ferry_dict_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  if ((o->flags & ~(uint32_t)FERRY_DICT_FIXED) || o->reserved0 || o->max_key < 1 ||
      o->max_key > FERRY_DICT_MAX_KEY || o->max_value < 1 || o->max_value > FERRY_DICT_MAX_VALUE ||
      o->capacity < 1 || o->capacity > FERRY_DICT_MAX_CAPACITY ||
      (o->max_capacity &&
       (o->max_capacity < o->capacity || o->max_capacity > FERRY_DICT_MAX_CAPACITY)) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  uint64_t max_cap = o->max_capacity;
  if (o->flags & FERRY_DICT_FIXED)
    max_cap = o->capacity;
  else if (!max_cap)
    max_cap = o->capacity > FERRY_DICT_MAX_CAPACITY / FERRY_DICT_GROWTH_DEFAULT
                  ? FERRY_DICT_MAX_CAPACITY
                  : o->capacity * FERRY_DICT_GROWTH_DEFAULT;
  uint64_t stride = stride_for(o->max_key, o->max_value);
  struct geometry g;
  if (!geometry_for(max_cap, stride, &g) || g.size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;
  ferry_region *r;
  /* Header, stripes and buckets are committed now; the slots in steps
   * as writers take them [dict-commit]. */
  if ((rc = ferry__region_create_partial(name, FERRY_KIND_DICT, (size_t)g.size,
                                         (size_t)g.slots_off, &o->region,
                                         FERRY__REGION_STATELESS_SLOTS, &r)))
    return rc;
  /* Fresh file: zero is unlocked stripes, even seqlocks, empty buckets. */
  struct ferry__dict_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__DICT_VERSION_MAJOR;
  h->version_minor = FERRY__DICT_VERSION_MINOR;
  h->header_size = FERRY__DICT_HDR_SIZE;
  h->flags = (o->flags & FERRY_DICT_FIXED) ? FERRY__DICT_F_FIXED : 0;
  h->nstripes = g.nstripes;
  h->max_key = o->max_key;
  h->max_value = o->max_value;
  h->capacity = o->capacity;
  h->max_capacity = max_cap;
  h->nbuckets = g.nbuckets;
  h->slot_stride = stride;
  h->stripes_offset = FERRY__DICT_HDR_SIZE;
  h->buckets_offset = g.buckets_off;
  h->slots_offset = g.slots_off;
  h->checksum = ferry__dict_hdr_checksum(h);
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__DICT_MAGIC, memory_order_relaxed);
  struct ferry__dict_hdr hc;
  memcpy(&hc, h, sizeof hc);
  ferry_dict *d;
  if ((rc = handle_init(r, &hc, &d))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = d;
  return 0;
}

/*
 * Copies the dict header out of the mapping into *h and checks the copy:
 * every size and offset recomputed and compared, and the whole against the
 * region. The handle is built from the copy only [no-reread].
 */
static int read_header(const ferry_region *r, struct ferry__dict_hdr *h)
{
  uint64_t osize = r->hc.object_size;
  int rc = ferry__object_check_prefix(r, FERRY__DICT_MAGIC, FERRY__DICT_VERSION_MAJOR,
                                      FERRY__DICT_HDR_SIZE);
  if (rc)
    return rc;
  memcpy(h, ferry__region_object(r), sizeof *h);
  struct geometry g;
  if (h->checksum != ferry__dict_hdr_checksum(h) || h->header_size != FERRY__DICT_HDR_SIZE ||
      (h->flags & ~FERRY__DICT_F_FIXED) || h->max_key < 1 || h->max_key > FERRY_DICT_MAX_KEY ||
      h->max_value < 1 || h->max_value > FERRY_DICT_MAX_VALUE || h->capacity < 1 ||
      h->max_capacity < h->capacity || h->max_capacity > FERRY_DICT_MAX_CAPACITY ||
      h->slot_stride != stride_for(h->max_key, h->max_value) ||
      !geometry_for(h->max_capacity, h->slot_stride, &g) || h->nstripes != g.nstripes ||
      h->nbuckets != g.nbuckets || h->stripes_offset != FERRY__DICT_HDR_SIZE ||
      h->buckets_offset != g.buckets_off || h->slots_offset != g.slots_off)
    return FERRY_ECORRUPT;
  if (g.size != osize) /* exact at create: less is another dict's geometry */
    return g.size > osize ? FERRY_ETRUNCATED : FERRY_ECORRUPT;
  return 0;
}

int ferry_dict_open(const char *name, const ferry_open_options *o, ferry_dict **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_dict_open(name, o, sizeof(struct ferry_dict), offsetof(struct ferry_dict, remote), (void **)out);
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, FERRY_ROLE_READER | FERRY_ROLE_WRITER, &oo);
  if (rc)
    return rc;
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_DICT, &oo, &r);
  if (rc)
    return rc;
  /* No recovery callback: a dead participant leaves nothing in its slot;
   * a stripe lock it held is taken over by the next locker [rlock-lazy]. */
  struct ferry__dict_hdr hc;
  if ((rc = read_header(r, &hc)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = handle_init(r, &hc, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_dict_close(ferry_dict *d)
{
  if (d && d->remote) { ferry__remote_dict_close(d, d->remote); return; }
  if (!d)
    return;
  ferry_region_close(d->r);
  free(d);
}

ferry_region *ferry_dict_region(const ferry_dict *d) { return d->remote ? NULL : d->r; }

int ferry_dict_stats_get(ferry_dict *d, ferry_dict_stats *out)
{
  assert(d && out);
  if (d->remote) return ferry__remote_dict_stats(d->remote, out);
  ssize_t size = ferry_dict_size(d); /* FERRY_EFORKED, FERRY_ECORRUPT */
  if (size < 0)
    return (int)size;
  uint64_t hw = atomic_load_explicit(&d->h->hw, memory_order_relaxed);
  if (hw > d->max_cap)
    return FERRY_ECORRUPT;
  memset(out, 0, sizeof *out);
  out->size = (uint64_t)size;
  out->capacity = d->capacity;
  out->max_capacity = d->max_cap;
  out->max_key = d->max_key;
  out->max_value = d->max_value;
  out->slots_used = hw;
  out->repairs = atomic_load_explicit(&d->h->repairs, memory_order_relaxed);
  out->nstripes = d->nstripes;
  out->writes = ferry__dict_writes(d->stripes, d->nstripes);
  uint64_t c = atomic_load_explicit(&d->h->committed, memory_order_relaxed);
  if (c > d->max_cap)
    return FERRY_ECORRUPT;
  uint64_t fixed = (uint64_t)(d->slots - (uint8_t *)d->h);
  out->committed_bytes = fixed + c * d->stride;
  out->used_bytes = fixed + out->size * d->stride;
  return 0;
}

/* ---- validate ------------------------------------------------------------------- */

/* seen: a byte per slot; chain: room for a bucket's chain, as many slots.
 * Every index and length is read from the slots once and checked before
 * use: a peer may rewrite them while we look (the duplicate check walks
 * the chain we recorded, not the links again). */
static int validate_locked(ferry_dict *d, uint8_t *seen, uint32_t *chain)
{
  uint64_t c = atomic_load_explicit(&d->h->committed, memory_order_relaxed);
  if (c > d->max_cap || atomic_load_explicit(&d->h->hw, memory_order_relaxed) > c)
    return FERRY_ECORRUPT;
  uint64_t hw = hw_now(d);
  for (uint32_t s = 0; s < d->nstripes; s++) {
    struct ferry__dict_stripe *st = &d->stripes[s];
    if (atomic_load_explicit(&st->seq, memory_order_relaxed) & 1)
      return FERRY_ECORRUPT;
    uint64_t count = 0;
    for (uint64_t b = s; b <= d->bmask; b += d->nstripes) {
      uint32_t idx = atomic_load_explicit(&d->buckets[b], memory_order_relaxed);
      uint64_t clen = 0;
      while (idx) {
        if (idx > hw || seen[idx - 1])
          return FERRY_ECORRUPT; /* out of range, or a cycle / shared node */
        seen[idx - 1] = 1;
        struct ferry__dict_slot *sl = slot_at(d, idx - 1);
        uint32_t klen = sl->klen;
        uint64_t hash = sl->hash;
        if (atomic_load_explicit(&sl->state, memory_order_relaxed) != FERRY__DICT_LIVE ||
            atomic_load_explicit(&sl->stripe, memory_order_relaxed) != s + 1 ||
            (hash & d->bmask) != b || klen > d->max_key ||
            (atomic_load_explicit(&sl->vword, memory_order_relaxed) >> 1) > d->max_value ||
            hash != hash_bytes(key_of(d, sl), klen))
          return FERRY_ECORRUPT;
        /* no duplicate key earlier in this chain: clen < hw, as seen[]
         * admits each slot once */
        for (uint64_t k = 0; k < clen; k++) {
          struct ferry__dict_slot *o = slot_at(d, chain[k] - 1);
          if (o->klen == klen && !memcmp(key_of(d, o), key_of(d, sl), klen))
            return FERRY_ECORRUPT;
        }
        chain[clen++] = idx;
        count++;
        idx = atomic_load_explicit(&sl->next, memory_order_relaxed);
      }
    }
    if (count != atomic_load_explicit(&st->count, memory_order_relaxed))
      return FERRY_ECORRUPT;
    for (uint32_t idx = st->free_head; idx;) {
      if (idx > hw || seen[idx - 1])
        return FERRY_ECORRUPT;
      seen[idx - 1] = 1;
      struct ferry__dict_slot *sl = slot_at(d, idx - 1);
      if (atomic_load_explicit(&sl->state, memory_order_relaxed) != FERRY__DICT_FREE ||
          atomic_load_explicit(&sl->stripe, memory_order_relaxed) != s + 1)
        return FERRY_ECORRUPT;
      idx = atomic_load_explicit(&sl->next, memory_order_relaxed);
    }
  }
  /* every owned slot is in exactly one chain or free list */
  for (uint64_t i = 0; i < hw; i++)
    if (!seen[i] && atomic_load_explicit(&slot_at(d, i)->stripe, memory_order_relaxed) != 0)
      return FERRY_ECORRUPT;
  return 0;
}

int ferry_dict_validate(ferry_dict *d, int64_t timeout_ns)
{
  assert(d);
  if (d->remote) return ferry__remote_dict_validate(d->remote, timeout_ns);
  int rc = ferry__region_usable(d->r);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  /* The header must still be the one the handle was built from. */
  struct ferry__dict_hdr hc;
  if ((rc = read_header(d->r, &hc)))
    return rc;
  if (hc.max_capacity != d->max_cap || hc.capacity != d->capacity ||
      hc.max_key != d->max_key || hc.max_value != d->max_value || hc.flags != d->flags)
    return FERRY_ECORRUPT;
  size_t n = d->max_cap ? d->max_cap : 1;
  uint8_t *seen = calloc(n, 1);
  uint32_t *chain = malloc(n * sizeof *chain);
  if (!seen || !chain)
    rc = -ENOMEM;
  else if ((rc = lock_all(d, timeout_ns)) == 0) {
    rc = validate_locked(d, seen, chain);
    unlock_all(d);
  }
  free(seen);
  free(chain);
  return rc;
}
