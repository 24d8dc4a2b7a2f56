/* SPDX-License-Identifier: MIT */
/*
 * queue.c: the bounded MPMC message queue (ferry/queue.h). A Vyukov-style
 * ring of fixed-stride cells, each with a lap word (seq), made crash-safe
 * by per-participant intents kept in the region's participant slots. The
 * algorithm, its proof sketch and what a death at each step leaves behind
 * are in docs/design/queue.md; the layout is in queue_layout.h.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/crash.h"
#include "core/wait.h"
#include "ferry/error.h"
#include "ferry/queue.h"
#include "abi.h"
#include "queue_layout.h"
#include "region_internal.h"
#include "remote.h"

/* The queue header's immutable part, read once and validated
 * (check_header()); nothing of it is read from the mapping again
 * [no-reread in docs/design/region.md]. */
struct queue_geom {
  uint32_t capacity, max_msg, max_participants, expected_producers;
  uint64_t stride, spin_ns, stats_offset, cells_offset;
};

struct ferry_queue {
  ferry_region *r;
  struct ferry__queue_hdr *h;
  struct queue_geom g;
  uint8_t *cells;
  struct ferry__queue_stats *my; /* our row of the stats table */
  _Atomic uint64_t *put_intent;  /* our slot's obj[FERRY__QUEUE_OBJ_PUT] */
  _Atomic uint64_t *get_intent;  /* our slot's obj[FERRY__QUEUE_OBJ_GET] */
  uint64_t cap, mask, stride, max_msg;
  bool pow2;
  int64_t spin_ns, slice_ns;
  uint32_t role;
  /* Our reservation's and our peeked message's positions, when we hold
   * one (any 64-bit value: a scribbled index may be UINT64_MAX). */
  bool reserved, peeked;
  uint64_t res_pos;
  uint64_t res_len;
  uint64_t peek_pos;
  bool pending_wake; /* put_many published without waking yet */
  bool asym;         /* this process announced itself in h->asym: its
                        wakers skip the fence [wait-asym] */
  struct ferry__remote *remote; /* a Redis handle: calls forward [redis-dispatch] */
};

/* ---- small helpers ------------------------------------------------------ */

static struct ferry__queue_cell *cell_at(const ferry_queue *q, uint64_t pos)
{
  uint64_t i = q->pow2 ? (pos & q->mask) : (pos % q->cap);
  return (struct ferry__queue_cell *)(q->cells + i * q->stride);
}

/* Counters of our own row: only we write them, so load+store, no RMW. */
static void bump(_Atomic uint64_t *c, uint64_t by)
{
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                        memory_order_relaxed);
}

/* After progress (a published message or hole; a freed cell): wakes the
 * other side if a sleeper announced itself. Only the caller whose CAS
 * clears the sleeper bit makes the system call, so a burst of puts while a
 * getter sleeps costs one wake [wait-burst]. The fence is a compiler
 * barrier only in a process that announced itself in h->asym [wait-asym]:
 * the fast path then has no fence, no RMW and no system call. */
static inline void wake_side(const ferry_queue *q, _Atomic uint32_t *ec)
{
  /* Orders our seq store (the progress) before the load of the word in
   * ferry__ec_signal(); pairs with the waiter's fence [wait-dekker]. */
  ferry__ec_fence(q->asym);
  ferry__ec_signal(ec);
}

/* Called after publishing a message (or a hole). */
static void wake_getters(ferry_queue *q)
{
  q->pending_wake = false;
  wake_side(q, &q->h->ne_ec);
}

/* Called after freeing a cell. */
static void wake_putters(ferry_queue *q)
{
  wake_side(q, &q->h->nf_ec);
}

static _Atomic uint64_t *slot_obj(const ferry_queue *q, uint32_t i, int k)
{
  return &ferry__region_slots(q->r)[i].obj[k];
}

/* ---- recovery [queue-intent] ---------------------------------------------- */

/* Is any participant other than `dead` that is alive announcing intent
 * word `want` in obj[k]? Only matching slots cost a lock test. */
static bool intent_live_elsewhere(const ferry_queue *q, uint32_t dead, int k, uint64_t want)
{
  uint32_t n = q->r->hc.max_participants;
  for (uint32_t j = 0; j < n; j++) {
    if (j == dead)
      continue;
    if (atomic_load_explicit(slot_obj(q, j, k), memory_order_relaxed) != want)
      continue;
    if ((int)j == q->r->slot)
      return true;
    ferry__slot_view v;
    ferry__region_slot_read(q->r, j, &v);
    if (ferry__region_slot_check(q->r, j, &v) == FERRY__SLOT_ALIVE)
      return true;
  }
  return false;
}

/* Slot `dead` announced a put at pos. If a cell it claimed is still
 * unpublished, make it a hole. */
static void repair_put(ferry_queue *q, uint32_t dead, uint64_t pos)
{
  struct ferry__queue_cell *c = cell_at(q, pos);
  uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
  if (seq != pos)
    return; /* published, repaired, or not claimed at this lap */
  /* acquire: pairs with the claimer's CAS on tail (seq_cst), which its
   * intent store precedes; so a live claimer's intent is visible below. */
  uint64_t tail = atomic_load_explicit(&q->h->tail, memory_order_acquire);
  if ((int64_t)(tail - pos) <= 0)
    return; /* nobody claimed pos: the dead one died before its CAS */
  if (intent_live_elsewhere(q, dead, FERRY__QUEUE_OBJ_PUT, pos + 1))
    return; /* a live producer claimed it and is writing */
  uint64_t expect = pos;
  /* release: the hole is published like a message; pairs with the acquire
   * load of seq in try_get(). A concurrent repairer loses the CAS. */
  if (atomic_compare_exchange_strong_explicit(&c->seq, &expect, (pos + 1) | FERRY__QUEUE_HOLE,
                                              memory_order_release, memory_order_relaxed))
    atomic_fetch_add_explicit(&q->h->holes, 1, memory_order_relaxed);
}

/* Slot `dead` announced a get at pos. If it holds that cell, free it. */
static void repair_get(ferry_queue *q, uint32_t dead, uint64_t pos)
{
  struct ferry__queue_cell *c = cell_at(q, pos);
  uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
  if ((seq & FERRY__QUEUE_SEQ_MASK) != pos + 1)
    return;
  /* acquire: pairs with the claimer's CAS on head; see repair_put(). */
  uint64_t head = atomic_load_explicit(&q->h->head, memory_order_acquire);
  if ((int64_t)(head - pos) <= 0)
    return; /* still waiting for a consumer: nothing held */
  if (intent_live_elsewhere(q, dead, FERRY__QUEUE_OBJ_GET, pos + 1))
    return;
  uint64_t expect = seq;
  /* release: frees the cell like a getter would; pairs with the acquire
   * load of seq in try_put(). */
  if (atomic_compare_exchange_strong_explicit(&c->seq, &expect, pos + q->cap,
                                              memory_order_release, memory_order_relaxed) &&
      !(seq & FERRY__QUEUE_HOLE))
    atomic_fetch_add_explicit(&q->h->lost, 1, memory_order_relaxed);
}

/* Moves a row's counts into the retired totals. exchange makes a row count
 * once even if two recoverers fold it at the same time. */
static void fold_stats(struct ferry__queue_hdr *h, struct ferry__queue_stats *row)
{
  struct ferry__queue_stats *t = &h->retired;
#define FOLD(f)                                                                \
  atomic_fetch_add_explicit(&t->f, atomic_exchange_explicit(&row->f, 0, memory_order_relaxed), \
                            memory_order_relaxed)
  FOLD(puts);
  FOLD(gets);
  FOLD(bytes_put);
  FOLD(bytes_got);
  FOLD(put_waits);
  FOLD(get_waits);
#undef FOLD
}

static struct ferry__queue_stats *stats_row(const ferry_queue *q, uint32_t i)
{
  assert(i < q->g.max_participants);
  return (struct ferry__queue_stats *)((uint8_t *)q->h + q->g.stats_offset +
                                       (uint64_t)i * FERRY__QUEUE_STATS_ROW);
}

/* Undoes what the dead participant in slot i left: its half-done put or
 * get, and its statistics row. Runs holding the slot (recover_begin, or a
 * join reclaiming it); idempotent, since every repair is a CAS from the
 * state the death left [queue-intent]. */
static void recover_slot(void *arg, uint32_t i, const ferry__slot_view *v)
{
  (void)v;
  ferry_queue *q = arg;
  uint64_t pi = atomic_load_explicit(slot_obj(q, i, FERRY__QUEUE_OBJ_PUT), memory_order_relaxed);
  uint64_t gi = atomic_load_explicit(slot_obj(q, i, FERRY__QUEUE_OBJ_GET), memory_order_relaxed);
  if (pi)
    repair_put(q, i, pi - 1);
  FERRY__CRASH_POINT("queue.recover.put_repaired");
  if (gi)
    repair_get(q, i, gi - 1);
  FERRY__CRASH_POINT("queue.recover.repaired");
  fold_stats(q->h, stats_row(q, i));
  FERRY__CRASH_POINT("queue.recover.folded");
  atomic_fetch_add_explicit(&q->h->recovered, 1, memory_order_relaxed);
}

int ferry_queue_recover(ferry_queue *q)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_recover(q->remote);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  uint32_t n = q->r->hc.max_participants;
  int reaped = 0;
  for (uint32_t i = 0; i < n; i++) {
    if ((int)i == q->r->slot)
      continue;
    ferry__slot_view v;
    ferry__region_slot_read(q->r, i, &v);
    if (ferry__region_slot_check(q->r, i, &v) != FERRY__SLOT_DEAD ||
        !ferry__region_recover_begin(q->r, i, &v))
      continue;
    recover_slot(q, i, &v);
    ferry__region_recover_end(q->r, i, &v);
    reaped++;
  }
  if (reaped) {
    /* Repairs may have made a cell readable or writable, and a reaped
     * producer may have ended the stream: everybody looks again. */
    ferry__ec_bump(&q->h->ne_ec);
    ferry__ec_bump(&q->h->nf_ec);
  }
  return reaped;
}

/* ---- end of stream ------------------------------------------------------- */

static bool producer_registered(const ferry_queue *q)
{
  uint32_t n = q->r->hc.max_participants;
  for (uint32_t i = 0; i < n; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(q->r, i, &v);
    if (v.state == FERRY__SLOT_LIVE && (v.role & FERRY_ROLE_PRODUCER))
      return true;
  }
  return false;
}

/* Empty and ended? [queue-eos] */
static bool ended(const ferry_queue *q)
{
  const struct ferry__queue_hdr *h = q->h;
  /* seq_cst: pairs with the seq_cst store in ferry_queue_shutdown() and
   * the putter's seq_cst CAS on tail + load of shutdown in attempt_put().
   * [queue-eos] */
  bool end = atomic_load_explicit(&h->shutdown, memory_order_seq_cst) != 0;
  if (!end) {
    /* The start gate: so many producer opens first (at least one). */
    uint64_t want = q->g.expected_producers ? q->g.expected_producers : 1;
    /* acquire: pairs with the increment in handle_init(), which follows
     * the producer's registration: a producer counted here is seen in the
     * walk below, registered or gone. */
    end = atomic_load_explicit(&h->producers_joined, memory_order_acquire) >= want &&
          !producer_registered(q); /* acquire per slot: a closed producer's
                                      puts are visible below */
  }
  if (!end)
    return false;
  uint64_t t = atomic_load_explicit(&h->tail, memory_order_seq_cst);
  uint64_t hd = atomic_load_explicit(&h->head, memory_order_seq_cst);
  return t == hd;
}

/* ---- claiming ------------------------------------------------------------- */

/* One attempt to claim the cell at tail. 0 with *pos and its cell *cell,
 * or -EAGAIN (full), -EPIPE (shut down). */
static inline int try_put(ferry_queue *q, uint64_t *pos_out, struct ferry__queue_cell **cell)
{
  struct ferry__queue_hdr *h = q->h;
  if (atomic_load_explicit(&h->shutdown, memory_order_relaxed))
    return -EPIPE;
  uint64_t pos = atomic_load_explicit(&h->tail, memory_order_relaxed);
  for (;;) {
    struct ferry__queue_cell *c = cell_at(q, pos);
    /* acquire: pairs with the release in free_cell() (or repair_get()):
     * the last reader of this cell is done before we overwrite it. */
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    int64_t d = (int64_t)((seq & FERRY__QUEUE_SEQ_MASK) - pos);
    if (d == 0) {
      /* [queue-intent]: announce before claiming. */
      atomic_store_explicit(q->put_intent, pos + 1, memory_order_relaxed);
      FERRY__CRASH_POINT("queue.put.announced");
      /* seq_cst (release part): publishes the intent to recoverers that
       * acquire tail (repair_put()); the total order with shutdown is
       * [queue-eos]. */
      if (atomic_compare_exchange_weak_explicit(&h->tail, &pos, pos + 1, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        FERRY__CRASH_POINT("queue.put.claimed");
        *pos_out = pos;
        *cell = c;
        return 0;
      }
    } else if (d < 0) {
      atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
      return -EAGAIN;
    } else {
      /* The cell is past pos: somebody claimed pos, so tail moved on.
       * A tail that did not is a corrupt cell [queue-corrupt]. */
      uint64_t now = atomic_load_explicit(&h->tail, memory_order_relaxed);
      if (now == pos) {
        atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
        return FERRY_ECORRUPT;
      }
      pos = now;
    }
  }
}

/* Publishes cell c, at pos, as a message (or a hole). */
static inline void publish_cell(ferry_queue *q, struct ferry__queue_cell *c, uint64_t pos,
                                bool hole)
{
  /* release: the payload and len are written before the cell turns full;
   * pairs with the acquire load of seq in try_get(). */
  atomic_store_explicit(&c->seq, (pos + 1) | (hole ? FERRY__QUEUE_HOLE : 0),
                        memory_order_release);
  FERRY__CRASH_POINT("queue.put.published");
  atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
}

static void publish(ferry_queue *q, uint64_t pos, bool hole)
{
  publish_cell(q, cell_at(q, pos), pos, hole);
}

/* One attempt to claim the cell at head. 0 with *pos, its cell *cell, *len,
 * *hole; -EAGAIN (nothing ready); -EMSGSIZE (the ready message exceeds cap:
 * not taken). */
static inline int try_get(ferry_queue *q, size_t cap, uint64_t *pos_out,
                          struct ferry__queue_cell **cell, size_t *len_out, bool *hole)
{
  struct ferry__queue_hdr *h = q->h;
  uint64_t pos = atomic_load_explicit(&h->head, memory_order_relaxed);
  for (;;) {
    struct ferry__queue_cell *c = cell_at(q, pos);
    /* acquire: pairs with the release in publish() / repair_put(): the
     * payload is complete. */
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    int64_t d = (int64_t)((seq & FERRY__QUEUE_SEQ_MASK) - (pos + 1));
    if (d == 0) {
      bool is_hole = (seq & FERRY__QUEUE_HOLE) != 0;
      /* Read once: the copy and the caller get this value, checked here
       * against the validated max_msg, never the cell's again. */
      size_t len = is_hole ? 0 : atomic_load_explicit(&c->len, memory_order_relaxed);
      if (len > q->max_msg) {
        atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
        return FERRY_ECORRUPT; /* a putter never writes it [queue-corrupt] */
      }
      if (len > cap) {
        uint64_t now = atomic_load_explicit(&h->head, memory_order_relaxed);
        if (now == pos) {
          atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
          return -EMSGSIZE;
        }
        pos = now;
        continue;
      }
      atomic_store_explicit(q->get_intent, pos + 1, memory_order_relaxed);
      FERRY__CRASH_POINT("queue.get.announced");
      /* seq_cst (release part): publishes the intent to repair_get(). */
      if (atomic_compare_exchange_weak_explicit(&h->head, &pos, pos + 1, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        FERRY__CRASH_POINT("queue.get.claimed");
        *pos_out = pos;
        *cell = c;
        *len_out = len;
        *hole = is_hole;
        return 0;
      }
    } else if (d < 0) {
      atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
      return -EAGAIN;
    } else {
      /* As in try_put(): a cell past pos with head still at pos is
       * corrupt [queue-corrupt]. */
      uint64_t now = atomic_load_explicit(&h->head, memory_order_relaxed);
      if (now == pos) {
        atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
        return FERRY_ECORRUPT;
      }
      pos = now;
    }
  }
}

/* Frees cell c, at pos, for the next lap. */
static inline void free_cell_at(ferry_queue *q, struct ferry__queue_cell *c, uint64_t pos)
{
  /* release: our reads of the payload are done before a putter reuses the
   * cell; pairs with the acquire load of seq in try_put(). */
  atomic_store_explicit(&c->seq, pos + q->cap, memory_order_release);
  FERRY__CRASH_POINT("queue.get.freed");
  atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
}

static void free_cell(ferry_queue *q, uint64_t pos)
{
  free_cell_at(q, cell_at(q, pos), pos);
}

/* ---- waiting ------------------------------------------------------------- */

/* What every attempt needs first, so that recover_slice() can find q. */
struct attempt_base {
  ferry_queue *q;
  bool counted; /* this call's sleep is counted in put_waits/get_waits */
};

/* At each slice end: recover dead participants, then look again. */
static int recover_slice(void *arg)
{
  ferry_queue_recover(((struct attempt_base *)arg)->q);
  return -EAGAIN;
}

/* The waiting part of wait_for(), out of line. */
static __attribute__((noinline)) int wait_slow(ferry_queue *q, bool get_side, int64_t timeout_ns,
                                               int64_t *deadlinep, int (*attempt)(void *, bool),
                                               void *arg)
{
  ferry__waiter w = {.ec = get_side ? &q->h->ne_ec : &q->h->nf_ec,
                     .attempt = attempt,
                     .slice = recover_slice,
                     .arg = arg,
                     .spin_ns = q->spin_ns,
                     .slice_ns = q->slice_ns,
                     .asym = &q->h->asym};
  return ferry__wait(&w, timeout_ns, deadlinep);
}

/*
 * Runs attempt until it ends the wait: once, here, where the compiler
 * inlines it (the fast path makes no indirect call); then ferry__wait()
 * looks again, spins for spin_ns and sleeps on the side's event count in
 * slices, recovering dead peers at each slice end [wait-spin],
 * [wait-slice]. *deadlinep persists across the waits of one call
 * (put_many).
 */
static inline __attribute__((always_inline)) int wait_for(ferry_queue *q, bool get_side,
                                                          int64_t timeout_ns, int64_t *deadlinep,
                                                          int (*attempt)(void *, bool), void *arg)
{
  int rc = attempt(arg, false);
  if (__builtin_expect(rc != -EAGAIN, 1) || timeout_ns == 0)
    return rc;
  return wait_slow(q, get_side, timeout_ns, deadlinep, attempt, arg);
}

/* Counts a caller that is about to sleep, once per call. */
static void count_wait(struct attempt_base *b, bool get_side)
{
  if (b->counted)
    return;
  b->counted = true;
  bump(get_side ? &b->q->my->get_waits : &b->q->my->put_waits, 1);
}

struct put_arg {
  struct attempt_base b;
  uint64_t pos;
  struct ferry__queue_cell *c; /* the cell at pos */
};

/* always_inline: wait_for()'s first look then runs without a call; the
 * wait loop calls the out-of-line copy through its pointer. */
static inline __attribute__((always_inline)) int attempt_put(void *arg, bool armed)
{
  struct put_arg *a = arg;
  ferry_queue *q = a->b.q;
  int rc = try_put(q, &a->pos, &a->c);
  if (rc == -EAGAIN) {
    if (q->pending_wake)
      wake_getters(q); /* never sleep on a batch nobody was told about */
    if (armed)
      count_wait(&a->b, false);
    return rc;
  }
  if (rc)
    return rc;
  /* seq_cst: after our claim, so either shutdown sees our claim (and
   * consumers wait for it) or we see shutdown [queue-eos]. */
  if (atomic_load_explicit(&q->h->shutdown, memory_order_seq_cst)) {
    publish_cell(q, a->c, a->pos, true);
    atomic_fetch_add_explicit(&q->h->holes, 1, memory_order_relaxed);
    wake_getters(q);
    return -EPIPE;
  }
  return 0;
}

struct get_arg {
  struct attempt_base b;
  size_t cap;
  uint64_t pos;
  struct ferry__queue_cell *c; /* the cell at pos */
  size_t len;
  bool first; /* check the end of stream on this look, too (see end_first) */
};

/*
 * Whether a get's first look checks the end of stream [queue-eos]. A call
 * that may wait leaves it to the look made after announcing a sleep
 * (`armed`), which ferry__wait() always makes before it sleeps or times
 * out: so such a call still returns -EPIPE on an ended stream, after its
 * spin, and a get that catches up with the producers no longer walks the
 * table and reads the producers' tail line on every message. A call that
 * cannot wait has no later look, so it checks at once.
 */
static bool end_first(int64_t timeout_ns) { return timeout_ns == 0; }

static inline __attribute__((always_inline)) int attempt_get(void *arg, bool armed)
{
  struct get_arg *a = arg;
  ferry_queue *q = a->b.q;
  bool first = a->first;
  a->first = false;
  /* At most one lap of holes per look: a ring scribbled full of them
   * cannot keep us here; the wait loop looks again. */
  for (uint64_t skipped = 0; skipped <= q->cap; skipped++) {
    bool hole;
    int rc = try_get(q, a->cap, &a->pos, &a->c, &a->len, &hole);
    if (rc == -EAGAIN) {
      const struct ferry__queue_hdr *h = q->h;
      /* Cheap first: only an empty ring can have ended. The table walk is
       * for the first look and the look before a sleep, not the spin. */
      if ((first || armed) &&
          atomic_load_explicit(&h->tail, memory_order_relaxed) ==
              atomic_load_explicit(&h->head, memory_order_relaxed) &&
          ended(q))
        return -EPIPE;
      if (armed)
        count_wait(&a->b, true);
      return -EAGAIN;
    }
    if (rc)
      return rc;
    if (!hole)
      return 0;
    free_cell_at(q, a->c, a->pos); /* skip the hole */
    wake_putters(q);
  }
  return -EAGAIN;
}

/* ---- options, create, open, close ----------------------------------------- */

void ferry_queue_options_init(ferry_queue_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER;
  o->capacity = FERRY_QUEUE_CAPACITY_DEFAULT;
  o->max_msg_size = FERRY_QUEUE_MSG_DEFAULT;
  o->spin_ns = FERRY_QUEUE_SPIN_DEFAULT_NS;
}

#define QUEUE_ROLES (FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER)

/* Cells are packed to FERRY__QUEUE_CELL_ALIGN bytes, so a 64 B message
 * touches 80 bytes (1.25 lines), not two whole lines; from
 * FERRY__QUEUE_PACK_MAX bytes of message on, where the padding is small,
 * a cell is whole cache lines [queue-stride]. */
static uint64_t stride_for(uint32_t max_msg)
{
  uint64_t a = max_msg > FERRY__QUEUE_PACK_MAX ? FERRY__CACHELINE : FERRY__QUEUE_CELL_ALIGN;
  return ((uint64_t)FERRY__QUEUE_CELL_HDR + max_msg + a - 1) & ~(a - 1);
}

static uint64_t cells_offset_for(uint32_t max_participants)
{
  return FERRY__QUEUE_HDR_SIZE + (uint64_t)FERRY__QUEUE_STATS_ROW * max_participants;
}

/* Fills the handle's geometry from a validated copy. */
static void geom_apply(ferry_queue *q, ferry_region *r, const struct queue_geom *g)
{
  q->r = r;
  q->h = ferry__region_object(r);
  q->g = *g;
  q->cells = (uint8_t *)q->h + g->cells_offset;
  q->cap = g->capacity;
  q->pow2 = (q->cap & (q->cap - 1)) == 0;
  q->mask = q->cap - 1;
  q->stride = g->stride;
  q->max_msg = g->max_msg;
  q->spin_ns = (int64_t)g->spin_ns;
}

static int handle_init(ferry_region *r, const struct queue_geom *g, uint32_t role,
                       ferry_queue **out)
{
  ferry_queue *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  geom_apply(q, r, g);
  q->slice_ns = r->hc.liveness_ns / 2 > 0 ? r->hc.liveness_ns / 2 : 1;
  q->role = role;
  /* Join now that recovery has what it needs: a full table reclaims a dead
   * participant's slot after undoing its put or get. */
  int rc;
  if (r->slot < 0 && (rc = ferry__region_join(r, recover_slot, q)) != 0) {
    free(q);
    return rc;
  }
  /* Before our first fence-less wake: sleepers that read the flag force
   * the barrier on us with membarrier() [wait-asym]. */
  q->asym = ferry__asym_announce(&q->h->asym);
  assert(r->slot >= 0);
  q->my = stats_row(q, (uint32_t)r->slot);
  q->put_intent = slot_obj(q, (uint32_t)r->slot, FERRY__QUEUE_OBJ_PUT);
  q->get_intent = slot_obj(q, (uint32_t)r->slot, FERRY__QUEUE_OBJ_GET);
  /* A row left by a participant that closed or was recovered is zero;
   * fold anyway in case one was reaped by a region-level path. */
  fold_stats(q->h, q->my);
  if (role & FERRY_ROLE_PRODUCER)
    /* seq_cst (release part): our slot is registered (release in join)
     * before a consumer that counts us can look for our slot; pairs with
     * the acquire load in ended() [queue-eos]. */
    atomic_fetch_add_explicit(&q->h->producers_joined, 1, memory_order_seq_cst);
  *out = q;
  return 0;
}

int ferry_queue_create(const char *name, const ferry_queue_options *o, ferry_queue **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_queue_create(name, o, sizeof(struct ferry_queue), offsetof(struct ferry_queue, remote), (void **)out);
  ferry_queue_options defaults;
  if (!o) {
    ferry_queue_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o) || o->reserved32)
    return -EINVAL;
  if (o->capacity < FERRY_QUEUE_MIN_CAPACITY || o->capacity > FERRY_QUEUE_MAX_CAPACITY || o->max_msg_size < 1 ||
      o->max_msg_size > FERRY_QUEUE_MAX_MSG || o->spin_ns < 0 ||
      o->spin_ns > FERRY_QUEUE_SPIN_MAX_NS || (o->region.role & ~(QUEUE_ROLES | FERRY_ROLE_CREATOR)) ||
      o->region.max_participants < 1 || o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT)
    return -EINVAL;
  int rc = ferry_name_valid(name);
  if (rc)
    return rc;
  uint64_t stride = stride_for(o->max_msg_size);
  uint64_t cells_off = cells_offset_for(o->region.max_participants), cells_bytes, size;
  if (ferry__mul_overflow(stride, o->capacity, &cells_bytes) ||
      ferry__add_overflow(cells_off, cells_bytes, &size) || size > (uint64_t)SIZE_MAX / 2)
    return -EOVERFLOW;

  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_QUEUE, (size_t)size, &o->region, 0, &r)))
    return rc;
  /* The file is fresh, so everything not written here is zero. */
  struct ferry__queue_hdr *h = ferry__region_object(r);
  h->version_major = FERRY__QUEUE_VERSION_MAJOR;
  h->version_minor = FERRY__QUEUE_VERSION_MINOR;
  h->header_size = FERRY__QUEUE_HDR_SIZE;
  h->capacity = o->capacity;
  h->max_msg = o->max_msg_size;
  h->stride = stride;
  h->spin_ns = (uint64_t)o->spin_ns;
  h->stats_offset = FERRY__QUEUE_HDR_SIZE;
  h->cells_offset = cells_off;
  h->max_participants = o->region.max_participants;
  h->expected_producers = o->expected_producers;
  h->checksum = ferry__queue_hdr_checksum(h);
  uint8_t *cells = (uint8_t *)h + cells_off;
  for (uint64_t i = 0; i < o->capacity; i++)
    atomic_store_explicit(&((struct ferry__queue_cell *)(cells + i * stride))->seq, i,
                          memory_order_relaxed);
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__QUEUE_MAGIC, memory_order_relaxed);
  struct queue_geom g = {.capacity = o->capacity,
                         .max_msg = o->max_msg_size,
                         .max_participants = o->region.max_participants,
                         .expected_producers = o->expected_producers,
                         .stride = stride,
                         .spin_ns = (uint64_t)o->spin_ns,
                         .stats_offset = FERRY__QUEUE_HDR_SIZE,
                         .cells_offset = cells_off};
  ferry_queue *q;
  if ((rc = handle_init(r, &g, o->region.role & QUEUE_ROLES, &q))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = q;
  return 0;
}

/*
 * Reads the immutable part of the queue header once, into *g, and checks
 * it against itself and the region's validated header. The live header
 * is shared memory that a peer may change at any time, so every later use
 * takes *g, never the mapping [no-reread].
 */
static int check_header(const ferry_region *r, struct queue_geom *g)
{
  int rc = ferry__object_check_prefix(r, FERRY__QUEUE_MAGIC, FERRY__QUEUE_VERSION_MAJOR,
                                      FERRY__QUEUE_HDR_SIZE);
  if (rc)
    return rc;
  /* One copy of the first line (every immutable field) and of the
   * checksum after it, then only the copy is looked at. */
  struct ferry__queue_hdr c;
  memcpy(&c, ferry__region_object(r),
         offsetof(struct ferry__queue_hdr, checksum) + sizeof c.checksum);
  uint64_t osize = r->hc.object_size, cells_bytes, end;
  if (c.checksum != ferry__queue_hdr_checksum(&c) || c.capacity < FERRY_QUEUE_MIN_CAPACITY ||
      c.capacity > FERRY_QUEUE_MAX_CAPACITY || c.max_msg < 1 || c.max_msg > FERRY_QUEUE_MAX_MSG ||
      c.stride != stride_for(c.max_msg) ||
      c.spin_ns > (uint64_t)FERRY_QUEUE_SPIN_MAX_NS || c.stats_offset != FERRY__QUEUE_HDR_SIZE ||
      c.max_participants != r->hc.max_participants ||
      c.cells_offset != cells_offset_for(c.max_participants) ||
      ferry__mul_overflow(c.stride, c.capacity, &cells_bytes) ||
      ferry__add_overflow(c.cells_offset, cells_bytes, &end) || end != osize)
    return FERRY_ECORRUPT;
  *g = (struct queue_geom){.capacity = c.capacity,
                           .max_msg = c.max_msg,
                           .max_participants = c.max_participants,
                           .expected_producers = c.expected_producers,
                           .stride = c.stride,
                           .spin_ns = c.spin_ns,
                           .stats_offset = c.stats_offset,
                           .cells_offset = c.cells_offset};
  return 0;
}

int ferry_queue_open(const char *name, uint32_t role, const ferry_open_options *o,
                     ferry_queue **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_queue_open(name, role, o, sizeof(struct ferry_queue), offsetof(struct ferry_queue, remote), (void **)out);
  if (!role || (role & ~QUEUE_ROLES))
    return -EINVAL;
  ferry_open_options oo;
  int rc = ferry__object_open_options(o, role, &oo);
  if (rc)
    return rc;
  oo.role = role; /* the role argument wins over o->role */
  ferry_region *r;
  rc = ferry__region_open(name, FERRY_KIND_QUEUE, &oo, &r);
  if (rc)
    return rc;
  struct queue_geom g;
  if ((rc = check_header(r, &g)) || (rc = handle_init(r, &g, role, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_queue_close(ferry_queue *q)
{
  if (q && q->remote) { ferry__remote_queue_close(q, q->remote); return; }
  if (!q)
    return;
  if (ferry__region_usable(q->r)) {
    /* Our parent's handle, inherited through fork: its reservation, peek,
     * intents, statistics and slot are the parent's. Unmap only [fork]. */
    ferry_region_close(q->r);
    free(q);
    return;
  }
  if (q->reserved)
    ferry_queue_cancel(q);
  if (q->peeked)
    ferry_queue_release(q);
  if (q->pending_wake)
    wake_getters(q);
  fold_stats(q->h, q->my);
  atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
  atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
  /* A producer leaving may end the stream: consumers asleep must look
   * again once our slot is free [queue-eos]. Leave first, keeping the
   * mapping, then wake them. */
  bool producer = (q->role & FERRY_ROLE_PRODUCER) != 0;
  FERRY__CRASH_POINT("queue.close.folded");
  ferry__region_leave(q->r);
  FERRY__CRASH_POINT("queue.close.left");
  if (producer)
    ferry__ec_bump(&q->h->ne_ec);
  ferry_region_close(q->r);
  free(q);
}

ferry_region *ferry_queue_region(const ferry_queue *q) { return q->remote ? NULL : q->r; }

/* ---- put ------------------------------------------------------------------ */

static int put_checks(const ferry_queue *q, size_t len, int64_t timeout_ns, int64_t *deadline)
{
  int rc = ferry__region_usable(q->r);
  if (rc)
    return rc;
  if (!(q->role & FERRY_ROLE_PRODUCER))
    return -EPERM;
  if (len > q->max_msg)
    return -EMSGSIZE;
  if (q->reserved)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  *deadline = FERRY__DEADLINE_UNSET; /* computed if we have to wait */
  return 0;
}

static inline void fill(struct ferry__queue_cell *c, const void *msg, size_t len)
{
  if (len)
    memcpy(c->data, msg, len);
  atomic_store_explicit(&c->len, (uint32_t)len, memory_order_relaxed);
  FERRY__CRASH_POINT("queue.put.filled");
}

int ferry_queue_put(ferry_queue *q, const void *msg, size_t len, int64_t timeout_ns)
{
  assert(q && (msg || !len));
  if (q->remote) return ferry__remote_queue_put(q->remote, msg, len, timeout_ns);
  int64_t deadline;
  int rc = put_checks(q, len, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct put_arg a = {.b.q = q};
  if ((rc = wait_for(q, false, timeout_ns, &deadline, attempt_put, &a)))
    return rc;
  fill(a.c, msg, len);
  publish_cell(q, a.c, a.pos, false);
  bump(&q->my->puts, 1);
  bump(&q->my->bytes_put, len);
  wake_getters(q);
  return 0;
}

ssize_t ferry_queue_put_many(ferry_queue *q, const ferry_queue_vec *msgs, size_t n,
                             int64_t timeout_ns)
{
  assert(q && (msgs || !n));
  if (q->remote) return ferry__remote_queue_put_many(q->remote, msgs, n, timeout_ns);
  int64_t deadline;
  int rc = put_checks(q, 0, timeout_ns, &deadline);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (msgs[i].len > q->max_msg)
      return -EMSGSIZE;
  size_t done = 0;
  uint64_t bytes = 0;
  struct put_arg a = {.b.q = q};
  for (; done < n; done++) {
    if ((rc = wait_for(q, false, timeout_ns, &deadline, attempt_put, &a)))
      break;
    fill(a.c, msgs[done].data, msgs[done].len);
    publish_cell(q, a.c, a.pos, false);
    bytes += msgs[done].len;
    q->pending_wake = true;
  }
  bump(&q->my->puts, done);
  bump(&q->my->bytes_put, bytes);
  if (q->pending_wake)
    wake_getters(q);
  return done ? (ssize_t)done : rc;
}

int ferry_queue_reserve(ferry_queue *q, size_t len, void **data, int64_t timeout_ns)
{
  assert(q && data);
  if (q->remote) return ferry__remote_queue_reserve(q->remote, len, data, timeout_ns);
  int64_t deadline;
  int rc = put_checks(q, len, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct put_arg a = {.b.q = q};
  if ((rc = wait_for(q, false, timeout_ns, &deadline, attempt_put, &a)))
    return rc;
  q->res_pos = a.pos;
  q->reserved = true;
  q->res_len = len;
  *data = a.c->data;
  return 0;
}

int ferry_queue_commit(ferry_queue *q, size_t len)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_commit(q->remote, len);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  if (!q->reserved)
    return -EINVAL;
  if (len > q->res_len)
    return -EMSGSIZE;
  uint64_t pos = q->res_pos;
  atomic_store_explicit(&cell_at(q, pos)->len, (uint32_t)len, memory_order_relaxed);
  publish(q, pos, false);
  q->reserved = false;
  bump(&q->my->puts, 1);
  bump(&q->my->bytes_put, len);
  wake_getters(q);
  return 0;
}

int ferry_queue_cancel(ferry_queue *q)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_cancel(q->remote);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  if (!q->reserved)
    return -EINVAL;
  publish(q, q->res_pos, true);
  q->reserved = false;
  atomic_fetch_add_explicit(&q->h->holes, 1, memory_order_relaxed);
  wake_getters(q);
  return 0;
}

/* ---- get ------------------------------------------------------------------ */

static int get_checks(const ferry_queue *q, int64_t timeout_ns, int64_t *deadline)
{
  int rc = ferry__region_usable(q->r);
  if (rc)
    return rc;
  if (!(q->role & FERRY_ROLE_CONSUMER))
    return -EPERM;
  if (q->peeked)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  *deadline = FERRY__DEADLINE_UNSET; /* computed if we have to wait */
  return 0;
}

ssize_t ferry_queue_get(ferry_queue *q, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(q && (buf || !cap));
  if (q->remote) return ferry__remote_queue_get(q->remote, buf, cap, timeout_ns);
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct get_arg a = {.b.q = q, .cap = cap, .first = end_first(timeout_ns)};
  if ((rc = wait_for(q, true, timeout_ns, &deadline, attempt_get, &a)))
    return rc;
  if (a.len)
    memcpy(buf, a.c->data, a.len);
  FERRY__CRASH_POINT("queue.get.copied");
  free_cell_at(q, a.c, a.pos);
  bump(&q->my->gets, 1);
  bump(&q->my->bytes_got, a.len);
  wake_putters(q);
  return (ssize_t)a.len;
}

ssize_t ferry_queue_get_many(ferry_queue *q, ferry_queue_vec *msgs, size_t n, int64_t timeout_ns)
{
  assert(q && (msgs || !n));
  if (q->remote) return ferry__remote_queue_get_many(q->remote, msgs, n, timeout_ns);
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  if (!n)
    return 0;
  size_t done = 0;
  uint64_t bytes = 0;
  for (; done < n; done++) {
    /* After the first, take only what is ready: no wait, no end check. */
    struct get_arg a = {.b.q = q, .cap = msgs[done].len, .first = !done && end_first(timeout_ns)};
    rc = done ? attempt_get(&a, false) : wait_for(q, true, timeout_ns, &deadline, attempt_get, &a);
    if (rc)
      break;
    if (a.len)
      memcpy(msgs[done].data, a.c->data, a.len);
    FERRY__CRASH_POINT("queue.get.copied");
    free_cell_at(q, a.c, a.pos);
    msgs[done].len = a.len;
    bytes += a.len;
  }
  if (done) {
    bump(&q->my->gets, done);
    bump(&q->my->bytes_got, bytes);
    wake_putters(q);
    return (ssize_t)done;
  }
  return rc;
}

int ferry_queue_peek(ferry_queue *q, const void **data, size_t *len, int64_t timeout_ns)
{
  assert(q && data && len);
  if (q->remote) return ferry__remote_queue_peek(q->remote, data, len, timeout_ns);
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct get_arg a = {.b.q = q, .cap = SIZE_MAX, .first = end_first(timeout_ns)};
  if ((rc = wait_for(q, true, timeout_ns, &deadline, attempt_get, &a)))
    return rc;
  q->peek_pos = a.pos;
  q->peeked = true;
  *data = a.c->data;
  *len = a.len;
  bump(&q->my->gets, 1);
  bump(&q->my->bytes_got, a.len);
  return 0;
}

int ferry_queue_release(ferry_queue *q)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_release(q->remote);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  if (!q->peeked)
    return -EINVAL;
  free_cell(q, q->peek_pos);
  q->peeked = false;
  wake_putters(q);
  return 0;
}

/* ---- shutdown, depth, stats, validate ---------------------------------------- */

int ferry_queue_shutdown(ferry_queue *q)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_shutdown(q->remote);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  /* seq_cst: pairs with the seq_cst load in attempt_put() and ended()
   * [queue-eos]. */
  atomic_store_explicit(&q->h->shutdown, 1, memory_order_seq_cst);
  ferry__ec_bump(&q->h->ne_ec);
  ferry__ec_bump(&q->h->nf_ec);
  return 0;
}

size_t ferry_queue_depth(const ferry_queue *q)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_depth(q->remote);
  uint64_t hd = atomic_load_explicit(&q->h->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&q->h->tail, memory_order_relaxed);
  int64_t d = (int64_t)(t - hd);
  return d < 0 ? 0 : d > (int64_t)q->cap ? (size_t)q->cap : (size_t)d;
}

int ferry_queue_stats_get(const ferry_queue *q, ferry_queue_stats *out)
{
  assert(q && out);
  if (q->remote) return ferry__remote_queue_stats(q->remote, out);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  const struct ferry__queue_hdr *h = q->h;
  ferry_queue_stats s;
  memset(&s, 0, sizeof s);
  s.capacity = q->cap;
  s.max_msg_size = q->max_msg;
  s.depth = ferry_queue_depth(q);
  const struct ferry__queue_stats *rows[2] = {&h->retired, NULL};
  uint32_t n = q->r->hc.max_participants;
  for (uint32_t i = 0; i <= n; i++) {
    const struct ferry__queue_stats *row = i == n ? rows[0] : stats_row(q, i);
    s.puts += atomic_load_explicit(&row->puts, memory_order_relaxed);
    s.gets += atomic_load_explicit(&row->gets, memory_order_relaxed);
    s.bytes_put += atomic_load_explicit(&row->bytes_put, memory_order_relaxed);
    s.bytes_got += atomic_load_explicit(&row->bytes_got, memory_order_relaxed);
    s.put_waits += atomic_load_explicit(&row->put_waits, memory_order_relaxed);
    s.get_waits += atomic_load_explicit(&row->get_waits, memory_order_relaxed);
    if (i < n) {
      ferry__slot_view v;
      ferry__region_slot_read(q->r, i, &v);
      if (v.state == FERRY__SLOT_LIVE) {
        s.producers += (v.role & FERRY_ROLE_PRODUCER) != 0;
        s.consumers += (v.role & FERRY_ROLE_CONSUMER) != 0;
      }
    }
  }
  s.lost = atomic_load_explicit(&h->lost, memory_order_relaxed);
  s.holes = atomic_load_explicit(&h->holes, memory_order_relaxed);
  s.recovered = atomic_load_explicit(&h->recovered, memory_order_relaxed);
  s.shutdown = atomic_load_explicit(&h->shutdown, memory_order_relaxed) != 0;
  s.expected_producers = q->g.expected_producers;
  s.producers_joined = atomic_load_explicit(&h->producers_joined, memory_order_relaxed);
  *out = s;
  return 0;
}


int ferry_queue_stat(const char *name, ferry_queue_stats *out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_queue_stat(name, out);
  ferry_region *r;
  int rc = ferry__region_observe(name, FERRY_KIND_QUEUE, &r);
  if (rc)
    return rc;
  struct queue_geom g;
  if ((rc = check_header(r, &g)) == 0) {
    /* A handle without a slot: enough for the read-only walk of
     * ferry_queue_stats_get(), which never touches q->my or the intents. */
    ferry_queue q;
    memset(&q, 0, sizeof q);
    geom_apply(&q, r, &g);
    rc = ferry_queue_stats_get(&q, out);
  }
  ferry_region_close(r);
  return rc;
}

int ferry_queue_validate(const ferry_queue *q, unsigned flags)
{
  assert(q);
  if (q->remote) return ferry__remote_queue_validate(q->remote, flags);
  int urc = ferry__region_usable(q->r);
  if (urc)
    return urc;
  if (flags & ~(unsigned)FERRY_QUEUE_VALIDATE_QUIESCENT)
    return -EINVAL;
  /* The header checked out at open: whatever fails now (magic, version,
   * sizes) was written since, which is corruption. */
  struct queue_geom g;
  if (check_header(q->r, &g) != 0)
    return FERRY_ECORRUPT;
  if (g.capacity != q->g.capacity || g.max_msg != q->g.max_msg ||
      g.max_participants != q->g.max_participants ||
      g.expected_producers != q->g.expected_producers || g.stride != q->g.stride ||
      g.spin_ns != q->g.spin_ns || g.stats_offset != q->g.stats_offset ||
      g.cells_offset != q->g.cells_offset)
    return FERRY_ECORRUPT; /* the header changed under us */
  const struct ferry__queue_hdr *h = q->h;
  /* Snapshot order [queue-validate]: tail, head, tail. At every instant
   * head <= tail <= head + cap, and both only grow. */
  uint64_t t1 = atomic_load_explicit(&h->tail, memory_order_acquire);
  uint64_t hd = atomic_load_explicit(&h->head, memory_order_acquire);
  uint64_t t2 = atomic_load_explicit(&h->tail, memory_order_acquire);
  if ((int64_t)(t2 - hd) < 0 || (int64_t)(t1 - hd) > (int64_t)q->cap ||
      (hd | t2) & FERRY__QUEUE_HOLE)
    return FERRY_ECORRUPT;
  for (uint64_t i = 0; i < q->cap; i++) {
    const struct ferry__queue_cell *c =
        (const struct ferry__queue_cell *)(q->cells + i * q->stride);
    /* acquire: pairs with the release stores of seq in publish(),
     * free_cell() and recovery, so the tail read below is at least the
     * one that let the writer write it. */
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    uint64_t lap = seq & FERRY__QUEUE_SEQ_MASK;
    uint64_t idx = q->pow2 ? (lap & q->mask) : lap % q->cap;
    /* A cell's lap word is its next free position (== i mod cap) or a
     * full position (== i + 1 mod cap). */
    if (idx != i && idx != (i + 1) % q->cap)
      return FERRY_ECORRUPT;
    /* And never more than a lap ahead of the tail: a free position is
     * below head + cap <= tail + cap, a full one below tail, a freed one
     * below head + cap; tail only grows, so a look at it after reading
     * the cell bounds them all. */
    uint64_t t3 = atomic_load_explicit(&h->tail, memory_order_acquire);
    if ((int64_t)(lap - (t3 + q->cap)) > 0)
      return FERRY_ECORRUPT;
    if (!(flags & FERRY_QUEUE_VALIDATE_QUIESCENT))
      continue;
    /* Quiescent: the cell's next position p in [hd, hd + cap) decides. */
    uint64_t p = hd + ((i + q->cap - (q->pow2 ? (hd & q->mask) : hd % q->cap)) % q->cap);
    if (atomic_load_explicit(&c->len, memory_order_relaxed) > q->max_msg)
      return FERRY_ECORRUPT;
    if (p < t2) {
      if (lap != p + 1)
        return FERRY_ECORRUPT; /* between head and tail: full or hole */
    } else if (seq != p) {
      return FERRY_ECORRUPT; /* beyond tail: free for its next put */
    }
  }
  return 0;
}
