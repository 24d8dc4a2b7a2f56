/* SPDX-License-Identifier: MIT */
/*
 * pipe.c: the duplex pipe (ferry/pipe.h): two ends, two SPSC rings of
 * fixed-stride cells (pipe_layout.h). Each side keeps a private copy of the
 * index it alone writes and a cached copy of the other side's, so the
 * fast path touches the shared index line of the other side only when the
 * cache says full or empty. Ends are held by region slot owner words, so a
 * dead holder is recognised by the region's liveness check and its end
 * can be taken over (docs/layout/pipe.md has the end state table).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "ferry/pipe.h"
#include "abi.h"
#include "pipe_layout.h"
#include "region_internal.h"

struct ferry_pipe {
  ferry_region *r;
  struct ferry__pipe_hdr *h;
  int end;
  uint64_t my_word; /* our owner word in h->end[end].owner */
  struct ferry__pipe_ring *tx, *rx;
  uint8_t *tx_cells, *rx_cells;
  uint64_t cap, mask, stride, max_msg;
  bool pow2;
  int64_t spin_ns, slice_ns;
  uint64_t tx_tail, tx_head_cache; /* tx_tail: ours alone */
  uint64_t rx_head, rx_tail_cache; /* rx_head: ours alone */
  uint64_t res_len;                /* reservation open if res */
  bool res, peek;
  uint32_t peek_len;
};

static struct ferry__pipe_cell *cell(const ferry_pipe *p, uint8_t *cells, uint64_t pos)
{
  uint64_t i = p->pow2 ? (pos & p->mask) : (pos % p->cap);
  return (struct ferry__pipe_cell *)(cells + i * p->stride);
}

static void wake_all(_Atomic uint32_t *w)
{
  /* release: a sleeper that reads the new value (acquire in wait()) sees
   * what we did before; pairs with that load. */
  atomic_fetch_add_explicit(w, 1, memory_order_release);
  ferry__futex_wake(w, INT_MAX);
}

static void wake_if_waiting(_Atomic uint32_t *waiters, _Atomic uint32_t *w)
{
  /* seq_cst fence: orders our index store before the waiter-count load;
   * pairs with the fence after the waiter's increment in wait() [queue-wake
   * in docs/design/queue.md: same protocol]. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(waiters, memory_order_relaxed))
    wake_all(w);
}

static void wake_everyone(struct ferry__pipe_hdr *h)
{
  for (int d = 0; d < 2; d++) {
    wake_all(&h->ring[d].data_seq);
    wake_all(&h->ring[d].space_seq);
  }
}

/* Is the process behind owner word w alive? Scans the table for the slot
 * that carries w; a dead holder's slot is freed on the way (a pipe keeps no
 * state per participant but the end's owner word). */
static bool holder_alive(ferry_region *r, uint64_t w)
{
  for (uint32_t i = 0; i < r->hc.max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.owner != w)
      continue;
    ferry__slot_liveness l = ferry__region_slot_check(r, i, &v);
    if (l == FERRY__SLOT_ALIVE)
      return true;
    if (l == FERRY__SLOT_DEAD && ferry__region_recover_begin(r, i, &v))
      ferry__region_recover_end(r, i, &v);
    return false;
  }
  return false;
}

/* Has the peer end been closed (cheap) or, with check_alive, its holder
 * died (reads /proc)? A dead holder's end is marked closed. */
static bool peer_gone(ferry_pipe *p, bool check_alive)
{
  struct ferry__pipe_end *e = &p->h->end[1 - p->end];
  /* acquire: pairs with the release CAS in ferry_pipe_close(): everything
   * the peer sent before closing is visible once we see it closed. */
  uint64_t w = atomic_load_explicit(&e->owner, memory_order_acquire);
  if (w == 0)
    return atomic_load_explicit(&e->takes, memory_order_relaxed) > 0;
  if (!check_alive || holder_alive(p->r, w))
    return false;
  atomic_compare_exchange_strong_explicit(&e->owner, &w, 0, memory_order_relaxed,
                                          memory_order_relaxed);
  return true;
}

/* ---- attempts --------------------------------------------------------------- */

static int try_send(ferry_pipe *p)
{
  if (p->tx_tail - p->tx_head_cache >= p->cap) {
    /* acquire: pairs with the release store of head in free_rx(): the
     * reader is done with the cell we are about to overwrite. */
    p->tx_head_cache = atomic_load_explicit(&p->tx->head, memory_order_acquire);
    if (p->tx_tail - p->tx_head_cache >= p->cap)
      return peer_gone(p, false) ? -EPIPE : -EAGAIN;
  }
  return 0;
}

static int try_recv(ferry_pipe *p)
{
  if (p->rx_head == p->rx_tail_cache) {
    /* acquire: pairs with the release store of tail in publish(). */
    p->rx_tail_cache = atomic_load_explicit(&p->rx->tail, memory_order_acquire);
    if (p->rx_head == p->rx_tail_cache) {
      if (!peer_gone(p, false))
        return -EAGAIN;
      /* acquire: the peer's last sends, ordered before its close. */
      p->rx_tail_cache = atomic_load_explicit(&p->rx->tail, memory_order_acquire);
      return p->rx_head == p->rx_tail_cache ? -EPIPE : 0;
    }
  }
  return 0;
}

/* Spin, then sleep in slices, checking the peer's liveness each slice. */
static int wait(ferry_pipe *p, bool recv, int64_t timeout_ns, int64_t deadline)
{
  int rc = recv ? try_recv(p) : try_send(p);
  if (rc != -EAGAIN || timeout_ns == 0)
    return rc;
  int64_t now = ferry__now_ns();
  if (p->spin_ns > 0) {
    int64_t spin_end = deadline - now > p->spin_ns ? now + p->spin_ns : deadline;
    for (unsigned i = 1;; i++) {
      ferry__cpu_relax();
      if ((rc = recv ? try_recv(p) : try_send(p)) != -EAGAIN)
        return rc;
      if ((i & 63) == 0 && ferry__now_ns() >= spin_end)
        break;
    }
  }
  _Atomic uint32_t *w = recv ? &p->rx->data_seq : &p->tx->space_seq;
  _Atomic uint32_t *waiters = recv ? &p->rx->data_waiters : &p->tx->space_waiters;
  int64_t next_check = ferry__now_ns() + p->slice_ns;
  for (;;) {
    atomic_fetch_add_explicit(waiters, 1, memory_order_relaxed);
    /* seq_cst fence: pairs with the fence in wake_if_waiting(). */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release increment in wake_all(). */
    uint32_t v = atomic_load_explicit(w, memory_order_acquire);
    rc = recv ? try_recv(p) : try_send(p);
    now = ferry__now_ns();
    if (rc != -EAGAIN || now >= deadline) {
      atomic_fetch_sub_explicit(waiters, 1, memory_order_relaxed);
      return rc != -EAGAIN ? rc : -ETIMEDOUT;
    }
    ferry__futex_wait(w, v, deadline < next_check ? deadline : next_check);
    atomic_fetch_sub_explicit(waiters, 1, memory_order_relaxed);
    if (ferry__now_ns() >= next_check) {
      if (peer_gone(p, true)) {
        if (!recv)
          return -EPIPE;
        rc = try_recv(p);
        if (rc != -EAGAIN)
          return rc;
      }
      next_check = ferry__now_ns() + p->slice_ns;
    }
  }
}

static void publish(ferry_pipe *p)
{
  p->tx_tail++;
  /* release: the cell's len and payload are written before the reader can
   * see the new tail; pairs with the acquire load of tail in try_recv(). */
  atomic_store_explicit(&p->tx->tail, p->tx_tail, memory_order_release);
  wake_if_waiting(&p->tx->data_waiters, &p->tx->data_seq);
}

static void free_rx(ferry_pipe *p)
{
  p->rx_head++;
  /* release: our reads of the cell are done before the writer reuses it;
   * pairs with the acquire load of head in try_send(). */
  atomic_store_explicit(&p->rx->head, p->rx_head, memory_order_release);
  wake_if_waiting(&p->rx->space_waiters, &p->rx->space_seq);
}

/* ---- create, open, close ----------------------------------------------------- */

void ferry_pipe_options_init(ferry_pipe_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER;
  o->capacity = FERRY_PIPE_CAPACITY_DEFAULT;
  o->max_msg_size = FERRY_PIPE_MSG_DEFAULT;
  o->spin_ns = FERRY_PIPE_SPIN_DEFAULT_NS;
}

static uint64_t stride_for(uint32_t max_msg)
{
  return ((uint64_t)FERRY__PIPE_CELL_HDR + max_msg + FERRY__CACHELINE - 1) &
         ~(uint64_t)(FERRY__CACHELINE - 1);
}

static int check_header(const ferry_region *r)
{
  const struct ferry__pipe_hdr *h = ferry__region_object(r);
  uint64_t osize = r->hc.object_size, ring_bytes, end;
  int rc = ferry__object_check_prefix(r, FERRY__PIPE_MAGIC, FERRY__PIPE_VERSION_MAJOR,
                                      FERRY__PIPE_HDR_SIZE);
  if (rc)
    return rc;
  if (h->capacity < 1 ||
      h->capacity > FERRY_PIPE_MAX_CAPACITY || h->max_msg < 1 || h->max_msg > FERRY_PIPE_MAX_MSG ||
      h->stride != stride_for(h->max_msg) || h->spin_ns > (uint64_t)FERRY_SEC ||
      ferry__mul_overflow(h->stride, h->capacity, &ring_bytes) ||
      h->ring_offset[0] != FERRY__PIPE_HDR_SIZE ||
      h->ring_offset[1] != FERRY__PIPE_HDR_SIZE + ring_bytes ||
      ferry__add_overflow(h->ring_offset[1], ring_bytes, &end) || end > osize)
    return FERRY_ECORRUPT;
  return 0;
}

static int take_end(ferry_region *r, ferry_pipe **out)
{
  struct ferry__pipe_hdr *h = ferry__region_object(r);
  uint64_t mine = r->slot_owner;
  int end = -1;
  for (int pass = 0; pass < 2 && end < 0; pass++) {
    for (int e = 0; e < 2 && end < 0; e++) {
      uint64_t w = atomic_load_explicit(&h->end[e].owner, memory_order_relaxed);
      if (pass == 0 ? w != 0 : (w == 0 || holder_alive(r, w)))
        continue;
      /* acq_rel: acquire the previous holder's (or creator's) writes to the
       * rings; release our slot's registration to peers reading owner. */
      if (atomic_compare_exchange_strong_explicit(&h->end[e].owner, &w, mine,
                                                  memory_order_acq_rel, memory_order_relaxed))
        end = e;
    }
  }
  if (end < 0)
    return -EBUSY;
  ferry_pipe *p = calloc(1, sizeof *p);
  if (!p) {
    atomic_store_explicit(&h->end[end].owner, 0, memory_order_release);
    return -ENOMEM;
  }
  atomic_store_explicit(&h->end[end].slot, (uint32_t)r->slot, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->end[end].takes, 1, memory_order_relaxed);
  p->r = r;
  p->h = h;
  p->end = end;
  p->my_word = mine;
  p->tx = &h->ring[end];
  p->rx = &h->ring[1 - end];
  p->tx_cells = (uint8_t *)h + h->ring_offset[end];
  p->rx_cells = (uint8_t *)h + h->ring_offset[1 - end];
  p->cap = h->capacity;
  p->pow2 = (p->cap & (p->cap - 1)) == 0;
  p->mask = p->cap - 1;
  p->stride = h->stride;
  p->max_msg = h->max_msg;
  p->spin_ns = (int64_t)h->spin_ns;
  p->slice_ns = r->hc.liveness_ns / 2 > 0 ? r->hc.liveness_ns / 2 : 1;
  /* acquire: pairs with the peer's release stores of the indices. Only we
   * write tx tail and rx head from now on. */
  p->tx_tail = atomic_load_explicit(&p->tx->tail, memory_order_acquire);
  p->tx_head_cache = atomic_load_explicit(&p->tx->head, memory_order_acquire);
  p->rx_head = atomic_load_explicit(&p->rx->head, memory_order_acquire);
  p->rx_tail_cache = atomic_load_explicit(&p->rx->tail, memory_order_acquire);
  wake_everyone(h); /* a takeover resumes a peer that saw -EPIPE */
  *out = p;
  return 0;
}

int ferry_pipe_create(const char *name, const ferry_pipe_options *o, ferry_pipe **out)
{
  assert(out);
  ferry_pipe_options defaults;
  if (!o) {
    ferry_pipe_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  if (o->capacity < 1 || o->capacity > FERRY_PIPE_MAX_CAPACITY || o->max_msg_size < 1 ||
      o->max_msg_size > FERRY_PIPE_MAX_MSG || o->spin_ns < 0 || o->spin_ns > FERRY_SEC)
    return -EINVAL;
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  uint64_t stride = stride_for(o->max_msg_size), ring_bytes, size;
  if (ferry__mul_overflow(stride, o->capacity, &ring_bytes) ||
      ferry__mul_overflow(ring_bytes, 2, &size) ||
      ferry__add_overflow(size, FERRY__PIPE_HDR_SIZE, &size) || size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;
  ferry_region_options ro = o->region;
  ro.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER;
  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_PIPE, (size_t)size, &ro,
                                 FERRY__REGION_STATELESS_SLOTS, &r)))
    return rc;
  struct ferry__pipe_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__PIPE_VERSION_MAJOR;
  h->version_minor = FERRY__PIPE_VERSION_MINOR;
  h->header_size = FERRY__PIPE_HDR_SIZE;
  h->capacity = o->capacity;
  h->max_msg = o->max_msg_size;
  h->stride = stride;
  h->spin_ns = (uint64_t)o->spin_ns;
  h->ring_offset[0] = FERRY__PIPE_HDR_SIZE;
  h->ring_offset[1] = FERRY__PIPE_HDR_SIZE + ring_bytes;
  /* relaxed: the region magic, stored with release by publish, orders
   * this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__PIPE_MAGIC, memory_order_relaxed);
  ferry_pipe *p;
  if ((rc = take_end(r, &p))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = p;
  return 0;
}

int ferry_pipe_open(const char *name, const ferry_open_options *o, ferry_pipe **out)
{
  assert(out);
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, 0, &oo);
  if (rc)
    return rc;
  oo.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER; /* an end does both */
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_PIPE, &oo, &r);
  if (rc)
    return rc;
  if ((rc = check_header(r)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = take_end(r, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_pipe_close(ferry_pipe *p)
{
  if (!p)
    return;
  if (p->peek)
    ferry_pipe_release(p);
  uint64_t w = p->my_word;
  /* release: our sends happen-before a peer that sees the end closed;
   * pairs with the acquire load in peer_gone(). Fails only if we were
   * taken over as dead, which cannot happen to a live process. */
  atomic_compare_exchange_strong_explicit(&p->h->end[p->end].owner, &w, 0, memory_order_release,
                                          memory_order_relaxed);
  wake_everyone(p->h);
  ferry_region_close(p->r);
  free(p);
}

int ferry_pipe_end(const ferry_pipe *p) { return p->end; }
ferry_region *ferry_pipe_region(const ferry_pipe *p) { return p->r; }

/* ---- send, recv ----------------------------------------------------------------- */

int ferry_pipe_send(ferry_pipe *p, const void *msg, size_t len, int64_t timeout_ns)
{
  assert(p && (msg || !len));
  if (len > p->max_msg)
    return -EMSGSIZE;
  if (p->res)
    return -EBUSY;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  if (peer_gone(p, false))
    return -EPIPE;
  if ((rc = wait(p, false, timeout_ns, deadline)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->tx_cells, p->tx_tail);
  if (len)
    memcpy(c->data, msg, len);
  c->len = (uint32_t)len;
  publish(p);
  return 0;
}

ssize_t ferry_pipe_recv(ferry_pipe *p, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(p && (buf || !cap));
  if (p->peek)
    return -EBUSY;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  if ((rc = wait(p, true, timeout_ns, deadline)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->rx_cells, p->rx_head);
  uint32_t len = c->len;
  if (len > p->max_msg)
    return FERRY_ECORRUPT;
  if (len > cap)
    return -EMSGSIZE;
  if (len)
    memcpy(buf, c->data, len);
  free_rx(p);
  return (ssize_t)len;
}

int ferry_pipe_reserve(ferry_pipe *p, size_t len, void **data, int64_t timeout_ns)
{
  assert(p && data);
  if (len > p->max_msg)
    return -EMSGSIZE;
  if (p->res)
    return -EBUSY;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  if (peer_gone(p, false))
    return -EPIPE;
  if ((rc = wait(p, false, timeout_ns, deadline)))
    return rc;
  p->res = true;
  p->res_len = len;
  *data = cell(p, p->tx_cells, p->tx_tail)->data;
  return 0;
}

int ferry_pipe_commit(ferry_pipe *p, size_t len)
{
  assert(p);
  if (!p->res)
    return -EINVAL;
  if (len > p->res_len)
    return -EMSGSIZE;
  cell(p, p->tx_cells, p->tx_tail)->len = (uint32_t)len;
  p->res = false;
  publish(p);
  return 0;
}

int ferry_pipe_peek(ferry_pipe *p, const void **data, size_t *len, int64_t timeout_ns)
{
  assert(p && data && len);
  if (p->peek)
    return -EBUSY;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  if ((rc = wait(p, true, timeout_ns, deadline)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->rx_cells, p->rx_head);
  if (c->len > p->max_msg)
    return FERRY_ECORRUPT;
  p->peek = true;
  *data = c->data;
  *len = c->len;
  return 0;
}

int ferry_pipe_release(ferry_pipe *p)
{
  assert(p);
  if (!p->peek)
    return -EINVAL;
  p->peek = false;
  free_rx(p);
  return 0;
}
