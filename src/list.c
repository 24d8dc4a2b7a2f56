/* SPDX-License-Identifier: MIT */
/*
 * list.c: the shared list (include/ferry/list.h). Layout:
 * src/list_layout.h; the algorithm and its proof sketch: docs/design/list.md.
 *
 * Everything happens under one robust mutex. Items live in fixed-size slots;
 * an index array of slot numbers gives their order, and a state word (the
 * length and which of two index arrays is current) commits every change
 * with one store [list-state]. A change that moves items (insert, pop in the
 * middle, replace_all) builds the other index array and flips to it, so no
 * death leaves the order half-shifted. The free-slot stack is an
 * optimisation the index can rebuild [list-rebuild].
 *
 * The immutable header fields are read once, at open, validated, and kept
 * in the handle: a peer that later scribbles over them cannot move our
 * accesses outside the region. The mutable ones (state, hw, free_top, index
 * entries, slot lengths) are checked at every use.
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ferry/list.h"
#include "ferry/sync.h"
#include "list_layout.h"
#include "region_internal.h"

struct ferry_list {
  ferry_region *r;
  struct ferry__list_hdr *h;
  uint64_t cap, nslots, stride;
  uint32_t max_item;
  _Atomic uint32_t *index[2];
  uint32_t *free;
  uint8_t *slots;
};

#define CORRUPT FERRY_ECORRUPT

static uint64_t stride_for(uint32_t max_item)
{
  return ((uint64_t)FERRY__LIST_SLOT_HDR + max_item + 7) & ~UINT64_C(7);
}

/* The offsets of the arrays for a capacity; false on overflow. */
static bool layout_for(uint64_t cap, uint64_t stride, uint64_t *free_off, uint64_t *slots_off,
                       uint64_t *total)
{
  uint64_t idx_bytes, nslots, free_bytes, slots_bytes, t;
  if (ferry__mul_overflow(cap, 8, &idx_bytes) || ferry__mul_overflow(cap, 2, &nslots) ||
      ferry__add_overflow(FERRY__LIST_HDR_SIZE, idx_bytes, free_off) ||
      ferry__mul_overflow(nslots, 4, &free_bytes) ||
      ferry__add_overflow(*free_off, free_bytes, &t) ||
      ferry__align_up(t, FERRY__CACHELINE, slots_off) ||
      ferry__mul_overflow(nslots, stride, &slots_bytes) ||
      ferry__add_overflow(*slots_off, slots_bytes, total))
    return false;
  return true;
}

static struct ferry__list_slot *slot_at(const ferry_list *l, uint64_t s)
{
  assert(s < l->nslots);
  return (struct ferry__list_slot *)(l->slots + s * l->stride);
}

/* ---- the lock and the rebuild [list-rebuild] ------------------------------ */

/* Reads the state word: cur and len, len checked against the capacity. */
static int read_state(const ferry_list *l, unsigned *cur, uint64_t *len)
{
  /* relaxed: read under the lock, which orders it after the writer's
   * stores; len() reads it unlocked as a snapshot */
  uint64_t s = atomic_load_explicit(&l->h->state, memory_order_relaxed);
  uint64_t n = s & FERRY__LIST_LEN_MASK;
  if (n > l->cap)
    return CORRUPT;
  *cur = (s & FERRY__LIST_CUR_BIT) ? 1 : 0;
  *len = n;
  return 0;
}

/* release: the commit point of a change [list-state]. Everything the change
 * wrote (slots, the other index array) is ordered before it; a later
 * locker, or one taking the lock over from us dead, reads it after. */
static void commit_state(ferry_list *l, unsigned cur, uint64_t len)
{
  atomic_store_explicit(&l->h->state, (cur ? FERRY__LIST_CUR_BIT : 0) | len,
                        memory_order_release);
  /* relaxed: a counter; stats reads it as a snapshot */
  atomic_fetch_add_explicit(&l->h->changes, 1, memory_order_relaxed);
}

/* hw checked against nslots. */
static int read_hw(const ferry_list *l, uint64_t *hw)
{
  uint64_t v = l->h->hw;
  if (v > l->nslots)
    return CORRUPT;
  *hw = v;
  return 0;
}

/* The slot number at index[cur][pos], checked below hw. */
static int entry(const ferry_list *l, unsigned cur, uint64_t pos, uint64_t hw, uint32_t *s)
{
  assert(pos < l->cap);
  /* relaxed: under the lock */
  uint32_t v = atomic_load_explicit(&l->index[cur][pos], memory_order_relaxed);
  if (v >= hw)
    return CORRUPT;
  *s = v;
  return 0;
}

/*
 * Rebuilds the free stack from the current index: every slot below hw that
 * the index does not name is free. Called with the lock held after
 * -EOWNERDEAD. A region corrupted beyond that (an index entry out of range
 * or named twice) gives FERRY_ECORRUPT and is left as it is.
 */
static int rebuild(ferry_list *l)
{
  unsigned cur;
  uint64_t len, hw;
  int rc;
  if ((rc = read_state(l, &cur, &len)) || (rc = read_hw(l, &hw)))
    return rc;
  uint8_t *used = calloc(hw ? hw : 1, 1);
  if (!used)
    return -ENOMEM;
  for (uint64_t i = 0; i < len; i++) {
    uint32_t s;
    if ((rc = entry(l, cur, i, hw, &s)) || used[s]) {
      free(used);
      return rc ? rc : CORRUPT;
    }
    used[s] = 1;
  }
  uint64_t ft = 0;
  for (uint64_t s = 0; s < hw; s++)
    if (!used[s])
      l->free[ft++] = (uint32_t)s;
  l->h->free_top = ft;
  free(used);
  return 0;
}

/* Takes the lock, waiting per timeout_ns; repairs after a dead holder.
 * 0, or an error with the lock not held. */
static int list_lock(ferry_list *l, int64_t timeout_ns)
{
  if (timeout_ns < 0)
    return -EINVAL;
  int rc = ferry_mutex_lock(&l->h->lock, timeout_ns);
  if (rc == -EOWNERDEAD) {
    /* The state word names a complete index [list-state]: rebuild the
     * free stack from it. */
    int rb = rebuild(l);
    atomic_fetch_add_explicit(&l->h->repairs, 1, memory_order_relaxed);
    ferry_mutex_consistent(&l->h->lock);
    if (rb) {
      ferry_mutex_unlock(&l->h->lock);
      return rb;
    }
    return 0;
  }
  return rc;
}

/* Releases the lock. Its word may have been scribbled on while we held
 * it: then the lock is no longer ours, which is a corrupt region, not a
 * crash. Returns rc, or CORRUPT if rc was 0 and the release failed. */
static int list_unlock(ferry_list *l, int rc)
{
  int u = ferry_mutex_unlock(&l->h->lock);
  return rc || u == 0 ? rc : CORRUPT;
}

/* Takes a free slot: from the stack, else the next never-used one. */
static int take_slot(ferry_list *l, uint32_t *s)
{
  uint64_t hw;
  int rc = read_hw(l, &hw);
  if (rc)
    return rc;
  uint64_t ft = l->h->free_top;
  if (ft > hw)
    return CORRUPT;
  if (ft) {
    uint32_t v = l->free[ft - 1];
    if (v >= hw)
      return CORRUPT;
    l->h->free_top = ft - 1;
    *s = v;
    return 0;
  }
  if (hw >= l->nslots)
    return CORRUPT; /* 2 * capacity slots never run out under the rules */
  l->h->hw = hw + 1;
  *s = (uint32_t)hw;
  return 0;
}

static int give_slot(ferry_list *l, uint32_t s)
{
  uint64_t ft = l->h->free_top;
  if (ft >= l->nslots)
    return CORRUPT;
  l->free[ft] = s;
  l->h->free_top = ft + 1;
  return 0;
}

static void fill_slot(ferry_list *l, uint32_t s, const void *data, size_t len)
{
  struct ferry__list_slot *sl = slot_at(l, s);
  if (len)
    memcpy(sl->data, data, len);
  sl->len = (uint32_t)len;
}

/* The slot's item length, checked. */
static int slot_len(const ferry_list *l, uint32_t s, size_t *len)
{
  uint32_t v = slot_at(l, s)->len;
  if (v > l->max_item)
    return CORRUPT;
  *len = v;
  return 0;
}

/* ---- options, create, open, close ------------------------------------------ */

void ferry_list_options_init(ferry_list_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_READER | FERRY_ROLE_WRITER;
  o->capacity = FERRY_LIST_CAPACITY_DEFAULT;
  o->max_item = FERRY_LIST_ITEM_DEFAULT;
}

/* Builds the handle from c, a checked copy of the header [no-reread]. */
static int handle_init(ferry_region *r, const struct ferry__list_hdr *c, ferry_list **out)
{
  ferry_list *l = calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  l->r = r;
  l->h = ferry__region_object(r);
  l->cap = c->capacity;
  l->nslots = c->nslots;
  l->stride = c->slot_stride;
  l->max_item = c->max_item;
  uint8_t *base = (uint8_t *)l->h;
  l->index[0] = (_Atomic uint32_t *)(base + c->index_offset);
  l->index[1] = l->index[0] + l->cap;
  l->free = (uint32_t *)(base + c->free_offset);
  l->slots = base + c->slots_offset;
  *out = l;
  return 0;
}

int ferry_list_create(const char *name, const ferry_list_options *o, ferry_list **out)
{
  assert(out);
  ferry_list_options defaults;
  if (!o) {
    ferry_list_options_init(&defaults);
    o = &defaults;
  }
  if (o->capacity < 1 || o->capacity > FERRY_LIST_MAX_CAPACITY ||
      o->max_item > FERRY_LIST_MAX_ITEM || o->reserved0 || !FERRY__RESERVED_OK(o) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  uint64_t stride = stride_for(o->max_item), free_off, slots_off, size;
  if (!layout_for(o->capacity, stride, &free_off, &slots_off, &size) ||
      size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;

  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_LIST, (size_t)size, &o->region,
                                 FERRY__REGION_STATELESS_SLOTS, &r)))
    return rc;
  /* The file is fresh: everything not written here is zero, which is an
   * unlocked mutex, an empty list on index 0 and no slot handed out. */
  struct ferry__list_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__LIST_VERSION_MAJOR;
  h->version_minor = FERRY__LIST_VERSION_MINOR;
  h->header_size = FERRY__LIST_HDR_SIZE;
  h->capacity = o->capacity;
  h->max_item = o->max_item;
  h->nslots = 2 * o->capacity;
  h->slot_stride = stride;
  h->index_offset = FERRY__LIST_HDR_SIZE;
  h->free_offset = free_off;
  h->slots_offset = slots_off;
  h->checksum = ferry__list_hdr_checksum(h);
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__LIST_MAGIC, memory_order_relaxed);
  ferry_list *l;
  if ((rc = handle_init(r, h, &l))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = l;
  return 0;
}

/* Copies the immutable part of the header (and its checksum) into *h and
 * checks the copy against itself and the region. */
static int check_header(const ferry_region *r, struct ferry__list_hdr *h)
{
  int rc = ferry__object_check_prefix(r, FERRY__LIST_MAGIC, FERRY__LIST_VERSION_MAJOR,
                                      FERRY__LIST_HDR_SIZE);
  if (rc)
    return rc;
  memcpy(h, ferry__region_object(r), offsetof(struct ferry__list_hdr, lock));
  uint64_t free_off, slots_off, size;
  if (h->checksum != ferry__list_hdr_checksum(h) || h->capacity < 1 ||
      h->capacity > FERRY_LIST_MAX_CAPACITY || h->max_item > FERRY_LIST_MAX_ITEM ||
      h->nslots != 2 * h->capacity ||
      h->slot_stride != stride_for(h->max_item) || h->index_offset != FERRY__LIST_HDR_SIZE ||
      !layout_for(h->capacity, h->slot_stride, &free_off, &slots_off, &size) ||
      h->free_offset != free_off || h->slots_offset != slots_off)
    return FERRY_ECORRUPT;
  if (size != r->hc.object_size) /* exact at create: less is another list's geometry */
    return size > r->hc.object_size ? FERRY_ETRUNCATED : FERRY_ECORRUPT;
  return 0;
}

int ferry_list_open(const char *name, const ferry_open_options *o, ferry_list **out)
{
  assert(out);
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, FERRY_ROLE_READER | FERRY_ROLE_WRITER, &oo);
  if (rc)
    return rc;
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_LIST, &oo, &r);
  if (rc)
    return rc;
  struct ferry__list_hdr hc;
  if ((rc = check_header(r, &hc)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = handle_init(r, &hc, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_list_close(ferry_list *l)
{
  if (!l)
    return;
  ferry_region_close(l->r);
  free(l);
}

ferry_region *ferry_list_region(const ferry_list *l) { return l->r; }

size_t ferry_list_len(const ferry_list *l)
{
  assert(l);
  unsigned cur;
  uint64_t len;
  if (read_state(l, &cur, &len))
    return 0;
  return (size_t)len;
}

/* ---- changes ------------------------------------------------------------------ */

int ferry_list_append(ferry_list *l, const void *data, size_t len, int64_t timeout_ns)
{
  ferry_list_item it = {data, len};
  return ferry_list_extend(l, &it, 1, timeout_ns);
}

int ferry_list_extend(ferry_list *l, const ferry_list_item *items, size_t n, int64_t timeout_ns)
{
  assert(l && (items || !n));
  for (size_t i = 0; i < n; i++) {
    assert(items[i].data || !items[i].len);
    if (items[i].len > l->max_item)
      return -EMSGSIZE;
  }
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t len;
  if ((rc = read_state(l, &cur, &len)))
    goto out;
  if (n > l->cap - len) {
    rc = -ENOSPC;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t s;
    if ((rc = take_slot(l, &s))) {
      /* only on a corrupted region: give back what was taken */
      while (i-- > 0)
        give_slot(l, atomic_load_explicit(&l->index[cur][len + i], memory_order_relaxed));
      goto out;
    }
    fill_slot(l, s, items[i].data, items[i].len);
    /* relaxed: past the length, invisible until commit_state */
    atomic_store_explicit(&l->index[cur][len + i], s, memory_order_relaxed);
  }
  if (n)
    commit_state(l, cur, len + n);
out:
  return list_unlock(l, rc);
}

/* Copies the current index into the other array, leaving out position
 * `skip` (>= len: none) and making room at `gap` (>= len + 1: none) for
 * slot `s`. Returns the new length or an error. */
static int rebuild_other(ferry_list *l, unsigned cur, uint64_t len, uint64_t skip, uint64_t gap,
                         uint32_t s, uint64_t *newlen)
{
  uint64_t hw;
  int rc = read_hw(l, &hw);
  if (rc)
    return rc;
  _Atomic uint32_t *dst = l->index[cur ^ 1];
  uint64_t j = 0;
  for (uint64_t i = 0; i <= len; i++) {
    if (i == gap)
      atomic_store_explicit(&dst[j++], s, memory_order_relaxed);
    if (i == len)
      break;
    if (i == skip)
      continue;
    uint32_t v;
    if ((rc = entry(l, cur, i, hw, &v)))
      return rc;
    /* relaxed: the other array is invisible until commit_state */
    atomic_store_explicit(&dst[j++], v, memory_order_relaxed);
  }
  *newlen = j;
  return 0;
}

int ferry_list_insert(ferry_list *l, uint64_t pos, const void *data, size_t len,
                      int64_t timeout_ns)
{
  assert(l && (data || !len));
  if (len > l->max_item)
    return -EMSGSIZE;
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t n, newlen;
  uint32_t s;
  if ((rc = read_state(l, &cur, &n)))
    goto out;
  if (pos > n) {
    rc = -ERANGE;
    goto out;
  }
  if (n == l->cap) {
    rc = -ENOSPC;
    goto out;
  }
  if ((rc = take_slot(l, &s)))
    goto out;
  fill_slot(l, s, data, len);
  if (pos == n) {
    atomic_store_explicit(&l->index[cur][n], s, memory_order_relaxed);
    commit_state(l, cur, n + 1);
  } else {
    if ((rc = rebuild_other(l, cur, n, UINT64_MAX, pos, s, &newlen))) {
      give_slot(l, s);
      goto out;
    }
    commit_state(l, cur ^ 1, newlen);
  }
out:
  return list_unlock(l, rc);
}

ssize_t ferry_list_get(ferry_list *l, uint64_t pos, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(l && (buf || !cap));
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t n, hw;
  uint32_t s;
  size_t len = 0;
  if ((rc = read_state(l, &cur, &n)) || (rc = read_hw(l, &hw)))
    goto out;
  if (pos >= n) {
    rc = -ERANGE;
    goto out;
  }
  if ((rc = entry(l, cur, pos, hw, &s)) || (rc = slot_len(l, s, &len)))
    goto out;
  if (len > cap) {
    rc = -EMSGSIZE;
    goto out;
  }
  if (len)
    memcpy(buf, slot_at(l, s)->data, len);
out:
  rc = list_unlock(l, rc);
  return rc ? rc : (ssize_t)len;
}

int ferry_list_set(ferry_list *l, uint64_t pos, const void *data, size_t len, int64_t timeout_ns)
{
  assert(l && (data || !len));
  if (len > l->max_item)
    return -EMSGSIZE;
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t n, hw;
  uint32_t s, old;
  if ((rc = read_state(l, &cur, &n)))
    goto out;
  if (pos >= n) {
    rc = -ERANGE;
    goto out;
  }
  if ((rc = read_hw(l, &hw)) || (rc = entry(l, cur, pos, hw, &old)) || (rc = take_slot(l, &s)))
    goto out;
  fill_slot(l, s, data, len);
  /* release: the commit point of a set [list-state]; the new slot is
   * whole before the entry names it */
  atomic_store_explicit(&l->index[cur][pos], s, memory_order_release);
  atomic_fetch_add_explicit(&l->h->changes, 1, memory_order_relaxed);
  rc = give_slot(l, old);
out:
  return list_unlock(l, rc);
}

ssize_t ferry_list_pop(ferry_list *l, uint64_t pos, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(l && (buf || !cap));
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t n, hw, newlen;
  uint32_t s;
  size_t len = 0;
  if ((rc = read_state(l, &cur, &n)) || (rc = read_hw(l, &hw)))
    goto out;
  if (pos >= n) {
    rc = -ERANGE;
    goto out;
  }
  if ((rc = entry(l, cur, pos, hw, &s)) || (rc = slot_len(l, s, &len)))
    goto out;
  if (buf && len > cap) {
    rc = -EMSGSIZE;
    goto out;
  }
  if (buf && len)
    memcpy(buf, slot_at(l, s)->data, len);
  if (pos == n - 1) {
    commit_state(l, cur, n - 1);
  } else {
    if ((rc = rebuild_other(l, cur, n, pos, UINT64_MAX, 0, &newlen)))
      goto out;
    commit_state(l, cur ^ 1, newlen);
  }
  rc = give_slot(l, s);
out:
  rc = list_unlock(l, rc);
  return rc ? rc : (ssize_t)len;
}

int ferry_list_replace_all(ferry_list *l, const ferry_list_item *items, size_t n,
                           int64_t timeout_ns)
{
  assert(l && (items || !n));
  if (n > l->cap)
    return -ENOSPC;
  for (size_t i = 0; i < n; i++) {
    assert(items[i].data || !items[i].len);
    if (items[i].len > l->max_item)
      return -EMSGSIZE;
  }
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t len, hw;
  if ((rc = read_state(l, &cur, &len)))
    goto out;
  _Atomic uint32_t *dst = l->index[cur ^ 1];
  /* At most `capacity` slots are in use, so `capacity` more are free. */
  for (size_t i = 0; i < n; i++) {
    uint32_t s;
    if ((rc = take_slot(l, &s))) {
      while (i-- > 0)
        give_slot(l, atomic_load_explicit(&dst[i], memory_order_relaxed));
      goto out;
    }
    fill_slot(l, s, items[i].data, items[i].len);
    /* relaxed: the other array is invisible until commit_state */
    atomic_store_explicit(&dst[i], s, memory_order_relaxed);
  }
  if ((rc = read_hw(l, &hw)))
    goto out;
  commit_state(l, cur ^ 1, n);
  /* the old items' slots go back (a death from here on leaks them until
   * the next rebuild, which returns them) */
  for (uint64_t i = 0; i < len; i++) {
    uint32_t s;
    if ((rc = entry(l, cur, i, hw, &s)) || (rc = give_slot(l, s)))
      goto out;
  }
out:
  return list_unlock(l, rc);
}

int ferry_list_clear(ferry_list *l, int64_t timeout_ns)
{
  assert(l);
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t len;
  if (!(rc = read_state(l, &cur, &len))) {
    commit_state(l, cur, 0);
    /* nothing is in use: every slot is free again */
    l->h->free_top = 0;
    l->h->hw = 0;
  }
  return list_unlock(l, rc);
}

ssize_t ferry_list_copy(ferry_list *l, uint64_t start, uint64_t n, void *buf, size_t cap,
                        uint64_t *count, int64_t timeout_ns)
{
  assert(l && (buf || !cap));
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t len, hw, k = 0;
  size_t off = 0;
  if ((rc = read_state(l, &cur, &len)) || (rc = read_hw(l, &hw)))
    goto out;
  for (uint64_t pos = start; pos < len && k < n; pos++, k++) {
    uint32_t s;
    size_t il;
    if ((rc = entry(l, cur, pos, hw, &s)) || (rc = slot_len(l, s, &il)))
      goto out;
    if (cap - off < 4 || cap - off - 4 < il) {
      rc = -ENOBUFS;
      goto out;
    }
    uint32_t l32 = (uint32_t)il;
    memcpy((uint8_t *)buf + off, &l32, 4);
    if (il)
      memcpy((uint8_t *)buf + off + 4, slot_at(l, s)->data, il);
    off += 4 + il;
  }
out:
  rc = list_unlock(l, rc);
  if (rc)
    return rc;
  if (count)
    *count = k;
  return (ssize_t)off;
}

/* ---- statistics and validation -------------------------------------------------- */

int ferry_list_stats_get(const ferry_list *l, ferry_list_stats *out)
{
  assert(l && out);
  unsigned cur;
  uint64_t len;
  int rc = read_state(l, &cur, &len);
  if (rc)
    return rc;
  memset(out, 0, sizeof *out);
  out->len = len;
  out->capacity = l->cap;
  out->max_item = l->max_item;
  /* relaxed: counters, read as a snapshot */
  out->changes = atomic_load_explicit(&l->h->changes, memory_order_relaxed);
  out->repairs = atomic_load_explicit(&l->h->repairs, memory_order_relaxed);
  return 0;
}

int ferry_list_stat(const char *name, ferry_list_stats *out)
{
  assert(out);
  ferry_region *r;
  int rc = ferry__region_observe(name, FERRY_KIND_LIST, &r);
  if (rc)
    return rc;
  /* The header checks out, so capacity bounds the length read from the
   * (read-only) mapping; nothing else is dereferenced. */
  struct ferry__list_hdr hc;
  if ((rc = check_header(r, &hc)) == 0) {
    ferry_list l = {.r = r, .h = ferry__region_object(r), .cap = hc.capacity,
                    .max_item = hc.max_item};
    rc = ferry_list_stats_get(&l, out);
  }
  ferry_region_close(r);
  return rc;
}

int ferry_list_validate(ferry_list *l, int64_t timeout_ns)
{
  assert(l);
  /* The header checked out at open; a change since is corruption. Every
   * other immutable field is derived from these two and checked. */
  struct ferry__list_hdr hc;
  if (check_header(l->r, &hc) != 0 || hc.capacity != l->cap || hc.max_item != l->max_item)
    return CORRUPT;
  int rc = list_lock(l, timeout_ns);
  if (rc)
    return rc;
  unsigned cur;
  uint64_t len, hw, ft;
  uint8_t *seen = NULL;
  if ((rc = read_state(l, &cur, &len)) || (rc = read_hw(l, &hw)))
    goto out;
  ft = l->h->free_top;
  if (ft > hw || len + ft != hw) {
    rc = CORRUPT;
    goto out;
  }
  if (!(seen = calloc(hw ? hw : 1, 1))) {
    rc = -ENOMEM;
    goto out;
  }
  for (uint64_t i = 0; i < len; i++) {
    uint32_t s;
    size_t il;
    if ((rc = entry(l, cur, i, hw, &s)) || (rc = slot_len(l, s, &il)))
      goto out;
    if (seen[s]) {
      rc = CORRUPT;
      goto out;
    }
    seen[s] = 1;
  }
  for (uint64_t i = 0; i < ft; i++) {
    uint32_t s = l->free[i];
    if (s >= hw || seen[s]) {
      rc = CORRUPT;
      goto out;
    }
    seen[s] = 1;
  }
out:
  free(seen);
  return list_unlock(l, rc);
}
