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

#include "core/crash.h"
#include "core/wait.h"
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
  ferry__spin_learn learn[2]; /* waits for space [0] and for data [1] [wait-learn] */
  uint64_t tx_tail, tx_head_cache; /* tx_tail: ours alone */
  uint64_t rx_head, rx_tail_cache; /* rx_head: ours alone */
  uint64_t res_len;                /* reservation open if res */
  bool res, peek;
  bool asym; /* announced in h->asym: our wakes skip the fence [wait-asym] */
};

static struct ferry__pipe_cell *cell(const ferry_pipe *p, uint8_t *cells, uint64_t pos)
{
  uint64_t i = p->pow2 ? (pos & p->mask) : (pos % p->cap);
  return (struct ferry__pipe_cell *)(cells + i * p->stride);
}

/* After progress (a published or freed cell): wakes the peer if it
 * announced a sleep [wait-dekker], [wait-burst]. The fence is a compiler
 * barrier only once we announced ourselves in h->asym [wait-asym]. */
static inline void wake_peer(const ferry_pipe *p, _Atomic uint32_t *ec)
{
  /* Orders our index store (the progress) before the load of the word in
   * ferry__ec_signal(); pairs with the waiter's fence in ferry__wait(). */
  ferry__ec_fence(p->asym);
  ferry__ec_signal(ec);
}

/* Close and takeover: every sleeper on the pipe looks again. */
static void wake_everyone(struct ferry__pipe_hdr *h)
{
  for (int d = 0; d < 2; d++) {
    ferry__ec_bump(&h->ring[d].data_ec);
    ferry__ec_bump(&h->ring[d].space_ec);
    ferry__ec_bump(&h->end[d].ec);
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
 * died (a slot lock test)? A dead holder's end is marked closed. */
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
    uint64_t used = p->tx_tail - p->tx_head_cache;
    if (used > p->cap)
      return FERRY_ECORRUPT; /* head past our tail, or a lap behind it */
    if (used == p->cap)
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
      if (p->rx_head == p->rx_tail_cache)
        return -EPIPE;
    }
  }
  /* Private values only: more than a ring's worth, or a tail behind our
   * head, is a peer's scribble, whichever look brought it. */
  if (p->rx_tail_cache - p->rx_head > p->cap) {
    p->rx_tail_cache = p->rx_head; /* look again next time */
    return FERRY_ECORRUPT;
  }
  return 0;
}

static int attempt_send(void *arg, bool armed)
{
  (void)armed;
  return try_send(arg);
}

static int attempt_recv(void *arg, bool armed)
{
  (void)armed;
  return try_recv(arg);
}

/* At each slice end of a send: a dead receiver ends the wait. */
static int send_slice(void *arg)
{
  return peer_gone(arg, true) ? -EPIPE : -EAGAIN;
}

/* At each slice end of a receive: a dead sender's end is marked closed,
 * and the next look drains what it sent, then returns -EPIPE. */
static int recv_slice(void *arg)
{
  peer_gone(arg, true);
  return -EAGAIN;
}

/* The waiting part of wait(), out of line. */
static __attribute__((noinline)) int wait_slow(ferry_pipe *p, bool recv, int64_t timeout_ns)
{
  ferry__waiter w = {.ec = recv ? &p->rx->data_ec : &p->tx->space_ec,
                     .attempt = recv ? attempt_recv : attempt_send,
                     .slice = recv ? recv_slice : send_slice,
                     .arg = p,
                     .spin_ns = p->spin_ns,
                     .slice_ns = p->slice_ns,
                     .asym = &p->h->asym,
                     .eager = true,
                     .learn = &p->learn[recv]};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&w, timeout_ns, &deadline);
}

/*
 * One look here (inline: the fast path makes no call), then ferry__wait():
 * spin, then sleep on the event count in slices, checking the peer's
 * liveness at each slice end [wait-spin], [wait-slice].
 */
static inline int wait(ferry_pipe *p, bool recv, int64_t timeout_ns)
{
  int rc = recv ? try_recv(p) : try_send(p);
  if (__builtin_expect(rc != -EAGAIN, 1) || timeout_ns == 0)
    return rc;
  return wait_slow(p, recv, timeout_ns);
}

static void publish(ferry_pipe *p)
{
  p->tx_tail++;
  /* release: the cell's len and payload are written before the reader can
   * see the new tail; pairs with the acquire load of tail in try_recv(). */
  atomic_store_explicit(&p->tx->tail, p->tx_tail, memory_order_release);
  FERRY__CRASH_POINT("pipe.send.published");
  wake_peer(p, &p->tx->data_ec);
}

static void free_rx(ferry_pipe *p)
{
  p->rx_head++;
  /* release: our reads of the cell are done before the writer reuses it;
   * pairs with the acquire load of head in try_send(). */
  atomic_store_explicit(&p->rx->head, p->rx_head, memory_order_release);
  FERRY__CRASH_POINT("pipe.recv.freed");
  wake_peer(p, &p->rx->space_ec);
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

/* The pipe header's immutable part, read once and validated; nothing of
 * it is read from the mapping again [no-reread in docs/design/region.md]. */
struct pipe_geom {
  uint32_t capacity, max_msg;
  uint64_t stride, spin_ns, ring_offset[2];
};

/* Reads the immutable part of the header once, into *g, and checks it
 * against itself and the region's validated object size. */
static int check_header(const ferry_region *r, struct pipe_geom *g)
{
  int rc = ferry__object_check_prefix(r, FERRY__PIPE_MAGIC, FERRY__PIPE_VERSION_MAJOR,
                                      FERRY__PIPE_HDR_SIZE);
  if (rc)
    return rc;
  /* One copy of the first line (every immutable field and the checksum);
   * only the copy is looked at from here on. */
  struct ferry__pipe_hdr c;
  memcpy(&c, ferry__region_object(r), FERRY__CACHELINE);
  uint64_t osize = r->hc.object_size, ring_bytes, end;
  if (c.checksum != ferry__pipe_hdr_checksum(&c) || c.capacity < 1 ||
      c.capacity > FERRY_PIPE_MAX_CAPACITY || c.max_msg < 1 || c.max_msg > FERRY_PIPE_MAX_MSG ||
      c.stride != stride_for(c.max_msg) || c.spin_ns > (uint64_t)FERRY_SEC ||
      ferry__mul_overflow(c.stride, c.capacity, &ring_bytes) ||
      c.ring_offset[0] != FERRY__PIPE_HDR_SIZE ||
      c.ring_offset[1] != FERRY__PIPE_HDR_SIZE + ring_bytes ||
      ferry__add_overflow(c.ring_offset[1], ring_bytes, &end) || end != osize)
    return FERRY_ECORRUPT;
  *g = (struct pipe_geom){.capacity = c.capacity,
                          .max_msg = c.max_msg,
                          .stride = c.stride,
                          .spin_ns = c.spin_ns,
                          .ring_offset = {c.ring_offset[0], c.ring_offset[1]}};
  return 0;
}

/* Retries of one end's owner CAS: each failure means another process
 * moved the word (took the end, closed it, or marked its dead holder
 * gone), so the next look decides anew. */
#define CLAIM_TRIES 3

/*
 * Takes an end: pass 0 a free one (end 0 first, so the creator gets it),
 * pass 1 one whose holder died. Returns the end, or -1 if both are held
 * by live processes.
 */
static int claim_end(ferry_region *r, struct ferry__pipe_hdr *h, uint64_t mine)
{
  for (int pass = 0; pass < 2; pass++) {
    for (int e = 0; e < 2; e++) {
      uint64_t w = atomic_load_explicit(&h->end[e].owner, memory_order_relaxed);
      for (int tries = 0; tries < CLAIM_TRIES; tries++) {
        if (w != 0 && (pass == 0 || holder_alive(r, w)))
          break;
        /* acq_rel: acquire the previous holder's (or creator's) writes to
         * the rings; release our slot's registration to peers reading
         * owner. On failure w is the word now: a dead holder's end that a
         * peer meanwhile marked closed (peer_gone()) is free, and the
         * next try takes it; before, this was a spurious -EBUSY. */
        if (atomic_compare_exchange_strong_explicit(&h->end[e].owner, &w, mine,
                                                    memory_order_acq_rel, memory_order_relaxed))
          return e;
      }
    }
  }
  return -1;
}

static int take_end(ferry_region *r, const struct pipe_geom *g, ferry_pipe **out)
{
  struct ferry__pipe_hdr *h = ferry__region_object(r);
  ferry_pipe *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  uint64_t mine = r->slot_owner;
  int end = claim_end(r, h, mine);
  if (end < 0) {
    free(p);
    return -EBUSY;
  }
  FERRY__CRASH_POINT("pipe.open.taken");
  atomic_store_explicit(&h->end[end].slot, (uint32_t)r->slot, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->end[end].takes, 1, memory_order_relaxed);
  p->r = r;
  p->h = h;
  p->end = end;
  p->my_word = mine;
  p->tx = &h->ring[end];
  p->rx = &h->ring[1 - end];
  p->tx_cells = (uint8_t *)h + g->ring_offset[end];
  p->rx_cells = (uint8_t *)h + g->ring_offset[1 - end];
  p->cap = g->capacity;
  p->pow2 = (p->cap & (p->cap - 1)) == 0;
  p->mask = p->cap - 1;
  p->stride = g->stride;
  p->max_msg = g->max_msg;
  p->spin_ns = (int64_t)g->spin_ns;
  p->slice_ns = r->hc.liveness_ns / 2 > 0 ? r->hc.liveness_ns / 2 : 1;
  /* acquire: pairs with the peer's release stores of the indices. Only we
   * write tx tail and rx head from now on. Whatever they hold is checked
   * at use (try_send(), try_recv()). */
  p->tx_tail = atomic_load_explicit(&p->tx->tail, memory_order_acquire);
  p->tx_head_cache = atomic_load_explicit(&p->tx->head, memory_order_acquire);
  p->rx_head = atomic_load_explicit(&p->rx->head, memory_order_acquire);
  p->rx_tail_cache = atomic_load_explicit(&p->rx->tail, memory_order_acquire);
  /* Before our first fence-less wake [wait-asym]. */
  p->asym = ferry__asym_announce(&h->asym);
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
  h->checksum = ferry__pipe_hdr_checksum(h);
  /* relaxed: the region magic, stored with release by publish, orders
   * this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__PIPE_MAGIC, memory_order_relaxed);
  struct pipe_geom g = {.capacity = o->capacity,
                        .max_msg = o->max_msg_size,
                        .stride = stride,
                        .spin_ns = (uint64_t)o->spin_ns,
                        .ring_offset = {FERRY__PIPE_HDR_SIZE, FERRY__PIPE_HDR_SIZE + ring_bytes}};
  ferry_pipe *p;
  if ((rc = take_end(r, &g, &p))) {
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
  struct pipe_geom g;
  if ((rc = check_header(r, &g)) || (rc = ferry__region_join(r, NULL, NULL)) ||
      (rc = take_end(r, &g, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_pipe_close(ferry_pipe *p)
{
  if (!p)
    return;
  if (ferry__region_usable(p->r)) {
    /* Our parent's handle, inherited through fork: the end is the
     * parent's. Unmap only [fork]. */
    ferry_region_close(p->r);
    free(p);
    return;
  }
  if (p->peek)
    ferry_pipe_release(p);
  uint64_t w = p->my_word;
  /* release: our sends happen-before a peer that sees the end closed;
   * pairs with the acquire load in peer_gone(). Fails only if we were
   * taken over as dead, which cannot happen to a live process. */
  atomic_compare_exchange_strong_explicit(&p->h->end[p->end].owner, &w, 0, memory_order_release,
                                          memory_order_relaxed);
  FERRY__CRASH_POINT("pipe.close.released");
  wake_everyone(p->h);
  ferry_region_close(p->r);
  free(p);
}

/* ---- waiting for a peer ------------------------------------------------------------- */

struct peer_arg {
  ferry_pipe *p;
  uint64_t dead; /* an owner word already judged dead, 0 none */
};

/* 0 if the other end is held by a live process; -EAGAIN otherwise. A
 * holder is judged once per owner word (one lock test); a dead one's end
 * is marked closed, as peer_gone() does, so a newcomer can take it. */
static int attempt_peer(void *arg, bool armed)
{
  (void)armed;
  struct peer_arg *a = arg;
  struct ferry__pipe_end *e = &a->p->h->end[1 - a->p->end];
  /* acquire: pairs with the taker's acq_rel CAS in claim_end() */
  uint64_t w = atomic_load_explicit(&e->owner, memory_order_acquire);
  if (w == 0 || w == a->dead)
    return -EAGAIN;
  if (holder_alive(a->p->r, w))
    return 0;
  a->dead = w;
  atomic_compare_exchange_strong_explicit(&e->owner, &w, 0, memory_order_relaxed,
                                          memory_order_relaxed);
  return -EAGAIN;
}

int ferry_pipe_wait_peer(ferry_pipe *p, int64_t timeout_ns)
{
  assert(p);
  int rc = ferry__region_usable(p->r);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  struct peer_arg a = {.p = p};
  /* No spin: a peer takes an end in milliseconds, not nanoseconds. The
   * taker bumps the end's event count; the slices only bound the cost of
   * a missed wake [wait-slice]. */
  ferry__waiter w = {.ec = &p->h->end[1 - p->end].ec,
                     .attempt = attempt_peer,
                     .arg = &a,
                     .slice_ns = p->slice_ns};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&w, timeout_ns, &deadline);
}

int ferry_pipe_end(const ferry_pipe *p) { return p->end; }
ferry_region *ferry_pipe_region(const ferry_pipe *p) { return p->r; }

/* ---- send, recv ----------------------------------------------------------------- */

int ferry_pipe_send(ferry_pipe *p, const void *msg, size_t len, int64_t timeout_ns)
{
  assert(p && (msg || !len));
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (len > p->max_msg)
    return -EMSGSIZE;
  if (p->res)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  int rc;
  if (peer_gone(p, false))
    return -EPIPE;
  if ((rc = wait(p, false, timeout_ns)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->tx_cells, p->tx_tail);
  if (len)
    memcpy(c->data, msg, len);
  /* relaxed: published by the release store of tail in publish() */
  atomic_store_explicit(&c->len, (uint32_t)len, memory_order_relaxed);
  FERRY__CRASH_POINT("pipe.send.filled");
  publish(p);
  return 0;
}

ssize_t ferry_pipe_recv(ferry_pipe *p, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(p && (buf || !cap));
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (p->peek)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  int rc;
  if ((rc = wait(p, true, timeout_ns)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->rx_cells, p->rx_head);
  /* Read once, checked, and only this copy used [no-reread]. */
  uint32_t len = atomic_load_explicit(&c->len, memory_order_relaxed);
  if (len > p->max_msg)
    return FERRY_ECORRUPT;
  if (len > cap)
    return -EMSGSIZE;
  if (len)
    memcpy(buf, c->data, len);
  FERRY__CRASH_POINT("pipe.recv.copied");
  free_rx(p);
  return (ssize_t)len;
}

int ferry_pipe_reserve(ferry_pipe *p, size_t len, void **data, int64_t timeout_ns)
{
  assert(p && data);
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (len > p->max_msg)
    return -EMSGSIZE;
  if (p->res)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  int rc;
  if (peer_gone(p, false))
    return -EPIPE;
  if ((rc = wait(p, false, timeout_ns)))
    return rc;
  p->res = true;
  p->res_len = len;
  *data = cell(p, p->tx_cells, p->tx_tail)->data;
  return 0;
}

int ferry_pipe_commit(ferry_pipe *p, size_t len)
{
  assert(p);
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (!p->res)
    return -EINVAL;
  if (len > p->res_len)
    return -EMSGSIZE;
  /* relaxed: published by the release store of tail in publish() */
  atomic_store_explicit(&cell(p, p->tx_cells, p->tx_tail)->len, (uint32_t)len,
                        memory_order_relaxed);
  p->res = false;
  publish(p);
  return 0;
}

int ferry_pipe_peek(ferry_pipe *p, const void **data, size_t *len, int64_t timeout_ns)
{
  assert(p && data && len);
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (p->peek)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  int rc;
  if ((rc = wait(p, true, timeout_ns)))
    return rc;
  struct ferry__pipe_cell *c = cell(p, p->rx_cells, p->rx_head);
  /* Read once: the length checked is the length returned (a second read
   * could see a peer's new value). */
  uint32_t n = atomic_load_explicit(&c->len, memory_order_relaxed);
  if (n > p->max_msg)
    return FERRY_ECORRUPT;
  p->peek = true;
  *data = c->data;
  *len = n;
  return 0;
}

int ferry_pipe_release(ferry_pipe *p)
{
  assert(p);
  int urc = ferry__region_usable(p->r);
  if (urc)
    return urc;
  if (!p->peek)
    return -EINVAL;
  p->peek = false;
  free_rx(p);
  return 0;
}
