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
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ferry/error.h"
#include "ferry/queue.h"
#include "abi.h"
#include "queue_layout.h"
#include "region_internal.h"

struct ferry_queue {
  ferry_region *r;
  struct ferry__queue_hdr *h;
  uint8_t *cells;
  struct ferry__queue_stats *my; /* our row of the stats table */
  _Atomic uint64_t *put_intent;  /* our slot's obj[FERRY__QUEUE_OBJ_PUT] */
  _Atomic uint64_t *get_intent;  /* our slot's obj[FERRY__QUEUE_OBJ_GET] */
  uint64_t cap, mask, stride, max_msg;
  bool pow2;
  int64_t spin_ns, slice_ns;
  uint32_t role;
  uint64_t res_pos;  /* pos+1 of our reservation, 0 if none */
  uint64_t res_len;
  uint64_t peek_pos; /* pos+1 of our peeked message, 0 if none */
  bool pending_wake; /* put_many published without waking yet */
  bool spinning;     /* in wait_loop's spin: skip the end-of-stream walk */
  bool asym;         /* this process is registered for membarrier: the fast
                        path needs no fence [queue-asym] */
};

/* Spin this long with the CPU's pause hint before yielding between
 * attempts: a hand-off between two running cores takes well under it. */
#define PURE_SPIN_NS (2 * INT64_C(1000))
/* At most 1 << SPIN_BACKOFF_SHIFT pause hints between two looks. */
#define SPIN_BACKOFF_SHIFT 6

/* A deadline not computed yet (see wait_loop()). */
#define DEADLINE_UNSET INT64_MIN

/* A waiter that cannot issue membarrier while some participant relies on
 * it sleeps at most this long per look [queue-asym]. */
#define ASYM_FALLBACK_NS FERRY_MSEC

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

/* Unconditional wake-up (shutdown, close, recovery): the word changes, so
 * every sleeper returns; the sleeper bit stays, which costs at most one
 * extra wake syscall later. */
static void wake_all(_Atomic uint32_t *seqw)
{
  /* release: a sleeper that reads the new value (seq_cst RMW in
   * wait_loop()) also sees the progress made before it. */
  atomic_fetch_add_explicit(seqw, FERRY__QUEUE_SEQ_STEP, memory_order_release);
  ferry__futex_wake(seqw, INT_MAX);
}

/* ---- asymmetric fence [queue-asym] ------------------------------------------ */

static long membarrier_call(int cmd)
{
  return syscall(__NR_membarrier, cmd, 0, 0);
}

/* Registers this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED once; true if
 * that worked. The registration belongs to the process (mm) and is not
 * inherited by fork, so it is redone in a child (pid check). */
static bool membarrier_ready(void)
{
  static _Atomic pid_t registered; /* pid that registered, 0 none */
  static _Atomic int unsupported;
  pid_t me = getpid();
  if (atomic_load_explicit(&registered, memory_order_relaxed) == me)
    return true;
  if (atomic_load_explicit(&unsupported, memory_order_relaxed))
    return false;
  long ok = membarrier_call(MEMBARRIER_CMD_QUERY);
  if (ok < 0 || !(ok & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
      membarrier_call(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0) {
    atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
    return false;
  }
  atomic_store_explicit(&registered, me, memory_order_relaxed);
  return true;
}

/* The fast side's fence, between making progress and looking for
 * sleepers. */
static void light_fence(const ferry_queue *q)
{
  if (q->asym)
    /* Compiler barrier only: the sleeper's membarrier() makes every
     * registered process run a full barrier; pairs with
     * heavy_fence() [queue-asym]. */
    atomic_signal_fence(memory_order_seq_cst);
  else
    /* seq_cst fence: pairs with the fence in heavy_fence() [queue-wake]. */
    atomic_thread_fence(memory_order_seq_cst);
}

/* The sleeper's fence, between announcing itself and re-checking. False
 * if participants rely on membarrier and we could not issue it: then the
 * caller must not sleep long [queue-asym]. */
static bool heavy_fence(const ferry_queue *q)
{
  /* seq_cst fence: pairs with the fence in light_fence() of processes
   * that are not registered. */
  atomic_thread_fence(memory_order_seq_cst);
  if (q->asym)
    return membarrier_call(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
  return !atomic_load_explicit(&q->h->asym, memory_order_relaxed);
}

/* After progress (a published message or hole; a freed cell): wakes the
 * other side's sleepers if one announced itself. Only the one caller whose
 * CAS clears the sleeper bit makes the syscall, so a burst of puts while a
 * getter is asleep costs one wake, not one per message [queue-wake]. */
static void wake_side(const ferry_queue *q, _Atomic uint32_t *seqw)
{
  light_fence(q);
  uint32_t w = atomic_load_explicit(seqw, memory_order_relaxed);
  if (!(w & FERRY__QUEUE_SLEEPER))
    return;
  /* release: the sleepers that see the new value see our progress; a
   * failed CAS means another caller bumped the word, and woke them. */
  if (atomic_compare_exchange_strong_explicit(seqw, &w,
                                              (w + FERRY__QUEUE_SEQ_STEP) & ~FERRY__QUEUE_SLEEPER,
                                              memory_order_release, memory_order_relaxed))
    ferry__futex_wake(seqw, INT_MAX);
}

/* Called after publishing a message (or a hole). */
static void wake_getters(ferry_queue *q)
{
  q->pending_wake = false;
  wake_side(q, &q->h->ne_seq);
}

/* Called after freeing a cell. */
static void wake_putters(ferry_queue *q)
{
  wake_side(q, &q->h->nf_seq);
}

static _Atomic uint64_t *slot_obj(const ferry_queue *q, uint32_t i, int k)
{
  return &ferry__region_slots(q->r)[i].obj[k];
}

/* ---- recovery [queue-intent] ---------------------------------------------- */

/* Is any participant other than `dead` that is alive announcing intent
 * word `want` in obj[k]? Only matching slots cost a /proc read. */
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
  return (struct ferry__queue_stats *)((uint8_t *)q->h + q->h->stats_offset +
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
  if (gi)
    repair_get(q, i, gi - 1);
  fold_stats(q->h, stats_row(q, i));
  atomic_fetch_add_explicit(&q->h->recovered, 1, memory_order_relaxed);
}

int ferry_queue_recover(ferry_queue *q)
{
  assert(q);
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
    wake_all(&q->h->ne_seq);
    wake_all(&q->h->nf_seq);
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
   * the putter's seq_cst CAS on tail + load of shutdown in claim_put(). */
  bool end = atomic_load_explicit(&h->shutdown, memory_order_seq_cst) != 0;
  if (!end)
    end = atomic_load_explicit(&h->producers_ever, memory_order_relaxed) &&
          !producer_registered(q); /* acquire per slot: a closed producer's
                                      puts are visible below */
  if (!end)
    return false;
  uint64_t t = atomic_load_explicit(&h->tail, memory_order_seq_cst);
  uint64_t hd = atomic_load_explicit(&h->head, memory_order_seq_cst);
  return t == hd;
}

/* ---- claiming ------------------------------------------------------------- */

/* One attempt to claim the cell at tail. 0 and *pos, or -EAGAIN (full),
 * -EPIPE (shut down). */
static int try_put(ferry_queue *q, uint64_t *pos_out)
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
      /* seq_cst (release part): publishes the intent to recoverers that
       * acquire tail (repair_put()); the total order with shutdown is
       * [queue-eos]. */
      if (atomic_compare_exchange_weak_explicit(&h->tail, &pos, pos + 1, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        *pos_out = pos;
        return 0;
      }
    } else if (d < 0) {
      atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
      return -EAGAIN;
    } else {
      pos = atomic_load_explicit(&h->tail, memory_order_relaxed);
    }
  }
}

/* Publishes the cell at pos as a message (or a hole). */
static void publish(ferry_queue *q, uint64_t pos, bool hole)
{
  struct ferry__queue_cell *c = cell_at(q, pos);
  /* release: the payload and len are written before the cell turns full;
   * pairs with the acquire load of seq in try_get(). */
  atomic_store_explicit(&c->seq, (pos + 1) | (hole ? FERRY__QUEUE_HOLE : 0),
                        memory_order_release);
  atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
}

/* One attempt to claim the cell at head. 0 with *pos, *len, *hole; -EAGAIN
 * (nothing ready); -EMSGSIZE (the ready message exceeds cap: not taken). */
static int try_get(ferry_queue *q, size_t cap, uint64_t *pos_out, size_t *len_out, bool *hole)
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
      size_t len = is_hole ? 0 : atomic_load_explicit(&c->len, memory_order_relaxed);
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
      /* seq_cst (release part): publishes the intent to repair_get(). */
      if (atomic_compare_exchange_weak_explicit(&h->head, &pos, pos + 1, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        *pos_out = pos;
        *len_out = len;
        *hole = is_hole;
        return 0;
      }
    } else if (d < 0) {
      atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
      return -EAGAIN;
    } else {
      pos = atomic_load_explicit(&h->head, memory_order_relaxed);
    }
  }
}

/* Frees the cell at pos for the next lap. */
static void free_cell(ferry_queue *q, uint64_t pos)
{
  struct ferry__queue_cell *c = cell_at(q, pos);
  /* release: our reads of the payload are done before a putter reuses the
   * cell; pairs with the acquire load of seq in try_put(). */
  atomic_store_explicit(&c->seq, pos + q->cap, memory_order_release);
  atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
}

/* ---- waiting ------------------------------------------------------------- */

typedef int (*attempt_fn)(ferry_queue *q, void *arg);

/*
 * Runs attempt until it returns anything but -EAGAIN: once, then spinning
 * for spin_ns, then sleeping on the side's futex in slices, recovering dead
 * peers every slice_ns [queue-wake].
 */
static int wait_loop(ferry_queue *q, bool get_side, int64_t timeout_ns, int64_t *deadlinep,
                     attempt_fn attempt, void *arg)
{
  int rc = attempt(q, arg);
  if (rc != -EAGAIN || timeout_ns == 0)
    return rc;
  /* The clock is read only once a caller has to wait: the fast path makes
   * no clock call. timeout_ns was checked by the caller. */
  if (*deadlinep == DEADLINE_UNSET)
    ferry__deadline(timeout_ns, deadlinep);
  int64_t deadline = *deadlinep;
  if (q->pending_wake)
    wake_getters(q); /* never sleep on a batch nobody was told about */
  int64_t now = ferry__now_ns();
  if (q->spin_ns > 0) {
    /* Spin, then yield between attempts [queue-spin]: when more processes
     * than cores share the queue, the peer we wait for may be runnable on
     * our own core, and a pure spin would only burn its time slice. */
    int64_t spin_end = deadline - now > q->spin_ns ? now + q->spin_ns : deadline;
    int64_t pure_end = now + PURE_SPIN_NS < spin_end ? now + PURE_SPIN_NS : spin_end;
    q->spinning = true;
    for (unsigned i = 1;; i++) {
      /* Exponential backoff between looks, up to 1 << SPIN_BACKOFF_SHIFT pauses:
       * each look at the cell the other side is writing pulls its line
       * away from that side; a few looks fewer let it write several cells
       * in a row, which the next look then takes in one go. */
      for (unsigned k = 1u << (i < SPIN_BACKOFF_SHIFT ? i : SPIN_BACKOFF_SHIFT); k; k--)
        ferry__cpu_relax();
      if ((rc = attempt(q, arg)) != -EAGAIN) {
        q->spinning = false;
        return rc;
      }
      if (now >= pure_end) {
        sched_yield();
        if ((now = ferry__now_ns()) >= spin_end)
          break;
      } else if ((i & 7) == 0) {
        now = ferry__now_ns(); /* the early looks are shorter than a clock read */
      }
    }
    q->spinning = false;
  }
  struct ferry__queue_hdr *h = q->h;
  _Atomic uint32_t *seqw = get_side ? &h->ne_seq : &h->nf_seq;
  int64_t next_recover = ferry__now_ns() + q->slice_ns;
  bool counted = false;
  for (;;) {
    /* seq_cst RMW: announces a sleeper before our re-check below; pairs
     * with the load in wake_side() through heavy_fence()/light_fence():
     * either the other side sees the bit, or we see its progress
     * [queue-wake]. Acquire part: pairs with the release bump. */
    uint32_t v = atomic_fetch_or_explicit(seqw, FERRY__QUEUE_SLEEPER, memory_order_seq_cst) |
                 FERRY__QUEUE_SLEEPER;
    bool fenced = heavy_fence(q);
    rc = attempt(q, arg);
    now = ferry__now_ns();
    if (rc != -EAGAIN || now >= deadline)
      return rc != -EAGAIN ? rc : -ETIMEDOUT;
    if (!counted) {
      bump(get_side ? &q->my->get_waits : &q->my->put_waits, 1);
      counted = true;
    }
    int64_t until = deadline < next_recover ? deadline : next_recover;
    if (!fenced && until - now > ASYM_FALLBACK_NS)
      until = now + ASYM_FALLBACK_NS;
    ferry__futex_wait(seqw, v, until);
    if ((now = ferry__now_ns()) >= next_recover) {
      ferry_queue_recover(q);
      next_recover = now + q->slice_ns;
    }
  }
}

static int attempt_put(ferry_queue *q, void *arg)
{
  uint64_t *pos = arg;
  int rc = try_put(q, pos);
  if (rc)
    return rc;
  /* seq_cst: after our claim, so either shutdown sees our claim (and
   * consumers wait for it) or we see shutdown [queue-eos]. */
  if (atomic_load_explicit(&q->h->shutdown, memory_order_seq_cst)) {
    publish(q, *pos, true);
    atomic_fetch_add_explicit(&q->h->holes, 1, memory_order_relaxed);
    wake_getters(q);
    return -EPIPE;
  }
  return 0;
}

struct get_arg {
  size_t cap;
  uint64_t pos;
  size_t len;
};

static int attempt_get(ferry_queue *q, void *arg)
{
  struct get_arg *a = arg;
  for (;;) {
    bool hole;
    int rc = try_get(q, a->cap, &a->pos, &a->len, &hole);
    if (rc == -EAGAIN) {
      const struct ferry__queue_hdr *h = q->h;
      /* Cheap first: only an empty ring can have ended. The table walk
       * waits for the end of the spin (the sleep phase re-checks). */
      if (!q->spinning &&
          atomic_load_explicit(&h->tail, memory_order_relaxed) ==
              atomic_load_explicit(&h->head, memory_order_relaxed) &&
          ended(q))
        return -EPIPE;
      return -EAGAIN;
    }
    if (rc)
      return rc;
    if (!hole)
      return 0;
    free_cell(q, a->pos); /* skip the hole */
    wake_putters(q);
  }
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

static uint64_t stride_for(uint32_t max_msg)
{
  return ((uint64_t)FERRY__QUEUE_CELL_HDR + max_msg + FERRY__CACHELINE - 1) &
         ~(uint64_t)(FERRY__CACHELINE - 1);
}

static uint64_t cells_offset_for(uint32_t max_participants)
{
  return FERRY__QUEUE_HDR_SIZE + (uint64_t)FERRY__QUEUE_STATS_ROW * max_participants;
}

static int handle_init(ferry_region *r, uint32_t role, ferry_queue **out)
{
  ferry_queue *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  q->r = r;
  q->h = ferry__region_object(r);
  q->cells = (uint8_t *)q->h + q->h->cells_offset;
  q->cap = q->h->capacity;
  q->pow2 = (q->cap & (q->cap - 1)) == 0;
  q->mask = q->cap - 1;
  q->stride = q->h->stride;
  q->max_msg = q->h->max_msg;
  q->spin_ns = (int64_t)q->h->spin_ns;
  q->slice_ns = r->hc.liveness_ns / 2 > 0 ? r->hc.liveness_ns / 2 : 1;
  q->role = role;
  /* Join now that recovery has what it needs: a full table reclaims a dead
   * participant's slot after undoing its put or get. */
  int rc;
  if (r->slot < 0 && (rc = ferry__region_join(r, recover_slot, q)) != 0) {
    free(q);
    return rc;
  }
  q->asym = membarrier_ready();
  if (q->asym)
    /* seq_cst: before our first fence-less put or get, so a sleeper that
     * cannot issue membarrier sees that it must not sleep long
     * [queue-asym]. */
    atomic_store_explicit(&q->h->asym, 1, memory_order_seq_cst);
  assert(r->slot >= 0);
  q->my = stats_row(q, (uint32_t)r->slot);
  q->put_intent = slot_obj(q, (uint32_t)r->slot, FERRY__QUEUE_OBJ_PUT);
  q->get_intent = slot_obj(q, (uint32_t)r->slot, FERRY__QUEUE_OBJ_GET);
  /* A row left by a participant that closed or was recovered is zero;
   * fold anyway in case one was reaped by a region-level path. */
  fold_stats(q->h, q->my);
  if (role & FERRY_ROLE_PRODUCER)
    /* seq_cst: our slot is registered (release in claim_slot()) before
     * any consumer can count us as having existed [queue-eos]. */
    atomic_store_explicit(&q->h->producers_ever, 1, memory_order_seq_cst);
  *out = q;
  return 0;
}

int ferry_queue_create(const char *name, const ferry_queue_options *o, ferry_queue **out)
{
  assert(out);
  ferry_queue_options defaults;
  if (!o) {
    ferry_queue_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
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
  uint8_t *cells = (uint8_t *)h + cells_off;
  for (uint64_t i = 0; i < o->capacity; i++)
    atomic_store_explicit(&((struct ferry__queue_cell *)(cells + i * stride))->seq, i,
                          memory_order_relaxed);
  /* relaxed: ferry__region_publish() stores the region magic with release
   * after this [magic-last]. */
  atomic_store_explicit(&h->magic, FERRY__QUEUE_MAGIC, memory_order_relaxed);
  ferry_queue *q;
  if ((rc = handle_init(r, o->region.role & QUEUE_ROLES, &q))) {
    ferry__region_abort(r);
    return rc;
  }
  ferry__region_publish(r);
  *out = q;
  return 0;
}

/* Checks the immutable part of the queue header against the region. */
static int check_header(const ferry_region *r)
{
  const struct ferry__queue_hdr *h = ferry__region_object(r);
  uint64_t osize = r->hc.object_size;
  int rc = ferry__object_check_prefix(r, FERRY__QUEUE_MAGIC, FERRY__QUEUE_VERSION_MAJOR,
                                      FERRY__QUEUE_HDR_SIZE);
  if (rc)
    return rc;
  uint64_t cells_bytes, end;
  if (h->capacity < FERRY_QUEUE_MIN_CAPACITY ||
      h->capacity > FERRY_QUEUE_MAX_CAPACITY || h->max_msg < 1 || h->max_msg > FERRY_QUEUE_MAX_MSG ||
      h->stride != stride_for(h->max_msg) || h->spin_ns > (uint64_t)FERRY_QUEUE_SPIN_MAX_NS ||
      h->stats_offset != FERRY__QUEUE_HDR_SIZE ||
      h->max_participants != r->hc.max_participants ||
      h->cells_offset != cells_offset_for(h->max_participants) ||
      ferry__mul_overflow(h->stride, h->capacity, &cells_bytes) ||
      ferry__add_overflow(h->cells_offset, cells_bytes, &end) || end > osize)
    return FERRY_ECORRUPT;
  return 0;
}

int ferry_queue_open(const char *name, uint32_t role, const ferry_open_options *o,
                     ferry_queue **out)
{
  assert(out);
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
  if ((rc = check_header(r)) || (rc = handle_init(r, role, out))) {
    ferry_region_close(r);
    return rc;
  }
  return 0;
}

void ferry_queue_close(ferry_queue *q)
{
  if (!q)
    return;
  if (q->res_pos)
    ferry_queue_cancel(q);
  if (q->peek_pos)
    ferry_queue_release(q);
  if (q->pending_wake)
    wake_getters(q);
  fold_stats(q->h, q->my);
  atomic_store_explicit(q->put_intent, 0, memory_order_relaxed);
  atomic_store_explicit(q->get_intent, 0, memory_order_relaxed);
  /* A producer leaving may end the stream: consumers asleep must look
   * again, after our slot is gone. Keep the futex's page mapped past the
   * region close to wake them [queue-eos]. */
  void *page = MAP_FAILED;
  size_t psz = (size_t)sysconf(_SC_PAGESIZE);
  uint64_t off = (uint64_t)((uint8_t *)&q->h->ne_seq - q->r->base);
  if (q->role & FERRY_ROLE_PRODUCER)
    page = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_SHARED, q->r->fd,
                (off_t)(off & ~(uint64_t)(psz - 1)));
  ferry_region_close(q->r);
  if (page != MAP_FAILED) {
    wake_all((_Atomic uint32_t *)((uint8_t *)page + (off & (psz - 1))));
    munmap(page, psz);
  }
  free(q);
}

ferry_region *ferry_queue_region(const ferry_queue *q) { return q->r; }

/* ---- put ------------------------------------------------------------------ */

static int put_checks(const ferry_queue *q, size_t len, int64_t timeout_ns, int64_t *deadline)
{
  if (!(q->role & FERRY_ROLE_PRODUCER))
    return -EPERM;
  if (len > q->max_msg)
    return -EMSGSIZE;
  if (q->res_pos)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  *deadline = DEADLINE_UNSET; /* computed if we have to wait */
  return 0;
}

static void fill(ferry_queue *q, uint64_t pos, const void *msg, size_t len)
{
  struct ferry__queue_cell *c = cell_at(q, pos);
  if (len)
    memcpy(c->data, msg, len);
  atomic_store_explicit(&c->len, (uint32_t)len, memory_order_relaxed);
}

int ferry_queue_put(ferry_queue *q, const void *msg, size_t len, int64_t timeout_ns)
{
  assert(q && (msg || !len));
  int64_t deadline;
  int rc = put_checks(q, len, timeout_ns, &deadline);
  if (rc)
    return rc;
  uint64_t pos;
  if ((rc = wait_loop(q, false, timeout_ns, &deadline, attempt_put, &pos)))
    return rc;
  fill(q, pos, msg, len);
  publish(q, pos, false);
  bump(&q->my->puts, 1);
  bump(&q->my->bytes_put, len);
  wake_getters(q);
  return 0;
}

ssize_t ferry_queue_put_many(ferry_queue *q, const ferry_queue_vec *msgs, size_t n,
                             int64_t timeout_ns)
{
  assert(q && (msgs || !n));
  int64_t deadline;
  int rc = put_checks(q, 0, timeout_ns, &deadline);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (msgs[i].len > q->max_msg)
      return -EMSGSIZE;
  size_t done = 0;
  uint64_t bytes = 0;
  for (; done < n; done++) {
    uint64_t pos;
    if ((rc = wait_loop(q, false, timeout_ns, &deadline, attempt_put, &pos)))
      break;
    fill(q, pos, msgs[done].data, msgs[done].len);
    publish(q, pos, false);
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
  int64_t deadline;
  int rc = put_checks(q, len, timeout_ns, &deadline);
  if (rc)
    return rc;
  uint64_t pos;
  if ((rc = wait_loop(q, false, timeout_ns, &deadline, attempt_put, &pos)))
    return rc;
  q->res_pos = pos + 1;
  q->res_len = len;
  *data = cell_at(q, pos)->data;
  return 0;
}

int ferry_queue_commit(ferry_queue *q, size_t len)
{
  assert(q);
  if (!q->res_pos)
    return -EINVAL;
  if (len > q->res_len)
    return -EMSGSIZE;
  uint64_t pos = q->res_pos - 1;
  atomic_store_explicit(&cell_at(q, pos)->len, (uint32_t)len, memory_order_relaxed);
  publish(q, pos, false);
  q->res_pos = 0;
  bump(&q->my->puts, 1);
  bump(&q->my->bytes_put, len);
  wake_getters(q);
  return 0;
}

int ferry_queue_cancel(ferry_queue *q)
{
  assert(q);
  if (!q->res_pos)
    return -EINVAL;
  publish(q, q->res_pos - 1, true);
  q->res_pos = 0;
  atomic_fetch_add_explicit(&q->h->holes, 1, memory_order_relaxed);
  wake_getters(q);
  return 0;
}

/* ---- get ------------------------------------------------------------------ */

static int get_checks(const ferry_queue *q, int64_t timeout_ns, int64_t *deadline)
{
  if (!(q->role & FERRY_ROLE_CONSUMER))
    return -EPERM;
  if (q->peek_pos)
    return -EBUSY;
  if (timeout_ns < 0)
    return -EINVAL;
  *deadline = DEADLINE_UNSET; /* computed if we have to wait */
  return 0;
}

ssize_t ferry_queue_get(ferry_queue *q, void *buf, size_t cap, int64_t timeout_ns)
{
  assert(q && (buf || !cap));
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct get_arg a = {.cap = cap};
  if ((rc = wait_loop(q, true, timeout_ns, &deadline, attempt_get, &a)))
    return rc;
  if (a.len)
    memcpy(buf, cell_at(q, a.pos)->data, a.len);
  free_cell(q, a.pos);
  bump(&q->my->gets, 1);
  bump(&q->my->bytes_got, a.len);
  wake_putters(q);
  return (ssize_t)a.len;
}

ssize_t ferry_queue_get_many(ferry_queue *q, ferry_queue_vec *msgs, size_t n, int64_t timeout_ns)
{
  assert(q && (msgs || !n));
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  if (!n)
    return 0;
  size_t done = 0;
  uint64_t bytes = 0;
  for (; done < n; done++) {
    struct get_arg a = {.cap = msgs[done].len};
    rc = done ? attempt_get(q, &a) : wait_loop(q, true, timeout_ns, &deadline, attempt_get, &a);
    if (rc)
      break;
    if (a.len)
      memcpy(msgs[done].data, cell_at(q, a.pos)->data, a.len);
    free_cell(q, a.pos);
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
  int64_t deadline;
  int rc = get_checks(q, timeout_ns, &deadline);
  if (rc)
    return rc;
  struct get_arg a = {.cap = SIZE_MAX};
  if ((rc = wait_loop(q, true, timeout_ns, &deadline, attempt_get, &a)))
    return rc;
  q->peek_pos = a.pos + 1;
  *data = cell_at(q, a.pos)->data;
  *len = a.len;
  bump(&q->my->gets, 1);
  bump(&q->my->bytes_got, a.len);
  return 0;
}

int ferry_queue_release(ferry_queue *q)
{
  assert(q);
  if (!q->peek_pos)
    return -EINVAL;
  free_cell(q, q->peek_pos - 1);
  q->peek_pos = 0;
  wake_putters(q);
  return 0;
}

/* ---- shutdown, depth, stats, validate ---------------------------------------- */

int ferry_queue_shutdown(ferry_queue *q)
{
  assert(q);
  /* seq_cst: pairs with the seq_cst load in attempt_put() and ended()
   * [queue-eos]. */
  atomic_store_explicit(&q->h->shutdown, 1, memory_order_seq_cst);
  wake_all(&q->h->ne_seq);
  wake_all(&q->h->nf_seq);
  return 0;
}

size_t ferry_queue_depth(const ferry_queue *q)
{
  assert(q);
  uint64_t hd = atomic_load_explicit(&q->h->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&q->h->tail, memory_order_relaxed);
  int64_t d = (int64_t)(t - hd);
  return d < 0 ? 0 : d > (int64_t)q->cap ? (size_t)q->cap : (size_t)d;
}

int ferry_queue_stats_get(const ferry_queue *q, ferry_queue_stats *out)
{
  assert(q && out);
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
  *out = s;
  return 0;
}


int ferry_queue_stat(const char *name, ferry_queue_stats *out)
{
  assert(out);
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.flags |= FERRY_OPEN_OBSERVE;
  ferry_region *r;
  int rc = ferry__region_open(name, FERRY_KIND_QUEUE, &o, &r);
  if (rc)
    return rc;
  if ((rc = check_header(r)) == 0) {
    /* A handle without a slot: enough for the read-only walk of
     * ferry_queue_stats_get(), which never touches q->my or the intents. */
    ferry_queue q;
    memset(&q, 0, sizeof q);
    q.r = r;
    q.h = ferry__region_object(r);
    q.cells = (uint8_t *)q.h + q.h->cells_offset;
    q.cap = q.h->capacity;
    q.max_msg = q.h->max_msg;
    rc = ferry_queue_stats_get(&q, out);
  }
  ferry_region_close(r);
  return rc;
}

int ferry_queue_validate(const ferry_queue *q, unsigned flags)
{
  assert(q);
  if (flags & ~(unsigned)FERRY_QUEUE_VALIDATE_QUIESCENT)
    return -EINVAL;
  int rc = check_header(q->r);
  if (rc)
    return rc;
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
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
    uint64_t lap = seq & FERRY__QUEUE_SEQ_MASK;
    uint64_t idx = q->pow2 ? (lap & q->mask) : lap % q->cap;
    /* A cell's lap word is its next free position (== i mod cap) or a
     * full position (== i + 1 mod cap). */
    if (idx != i && idx != (i + 1) % q->cap)
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
