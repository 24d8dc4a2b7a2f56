/* SPDX-License-Identifier: MIT */
/*
 * bus.c: the broadcast bus (ferry/bus.h): one publisher, up to 64
 * subscribers, K slots of frames in one region of kind FERRY_KIND_BUS
 * (bus_layout.h). The frame schema and views are frame.c's; the region,
 * participant table and liveness are region.c's. The algorithm, the slot
 * states and the proofs are in docs/design/bus.md; the tags in brackets
 * below refer to its sections.
 *
 * Fast paths take no system call: loan and next wait through the one wait
 * primitive (src/core/wait.h) only when they must, and publish and release
 * call the kernel only when a waiter announced itself on the event count
 * they signal. Liveness (a lock test per participant slot) is checked only
 * when a wait slice ends, and by the publisher once per liveness period.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "bus_layout.h"
#include "core/crash.h"
#include "core/wait.h"
#include "ferry/bus.h"
#include "ferry/error.h"
#include "frame_internal.h"
#include "region_internal.h"
#include "remote.h"

/* How long loan and next look again before they sleep [wait-spin]: a
 * couple of microseconds, enough to catch a peer that is about to publish
 * or release. Kept short because subscribers often outnumber cores (the
 * producer/analysis scenario runs 3 consumers and a publisher on 2): every
 * spinning waiter then takes a core from the process it waits for. A spin
 * of 2000 pause loops (tens of microseconds) gave 3 computing subscribers
 * on 2 cores about half the batches/s of 100 loops (`ferry bench bus`,
 * case compute); a futex round trip costs a few microseconds, which frames
 * of any size worth sharing this way dwarf. */
#define BUS_SPIN_NS (2 * INT64_C(1000))
/* latest_take() gives up after K + this many overtakes in a row. */
#define LATEST_RETRIES 4
/* The shortest wait slice: below this the liveness checks (a lock test
 * per participant slot) would turn a sleep into a loop of system calls. */
#define BUS_MIN_SLICE_NS (FERRY_MSEC)
/* A subscriber anticipates frames that come at least this often and at
 * most this rarely [sub-anticipate]: below, a frame wait is a spin anyway;
 * above, one wake per frame is too small a share of the period to be
 * worth any spinning. */
#define ANTICIPATE_MIN_PERIOD_NS (40 * INT64_C(1000))
#define ANTICIPATE_MAX_PERIOD_NS (4 * FERRY_MSEC)
/* How early it wakes before a frame is due (the lead) is learned: it
 * starts at an eighth of the period, doubles when a frame comes before the
 * wake, and shrinks by a sixteenth when one comes after; never below the
 * minimum, nor above a quarter of the period or the maximum. It then looks
 * for the frame for twice the lead, so these bound the CPU time a
 * subscriber spends looking: about lead/period. */
#define ANTICIPATE_MIN_LEAD_NS (10 * INT64_C(1000))
#define ANTICIPATE_MAX_LEAD_NS (200 * INT64_C(1000))
/* After a miss, it waits plainly for 2^misses waits, at most this many. */
#define ANTICIPATE_MAX_COOLDOWN 256

/* What publisher and subscriber handles share: the mapping's pieces and the
 * process-private, validated copy of the header and schema. */
struct bus_map {
  ferry_region *region;
  struct ferry__bus_hdr *h;      /* in shared memory */
  struct ferry__bus_slot *slots; /* K of them, in shared memory */
  struct ferry__bus_hdr hc;      /* private copy of the constant part */
  uint32_t k, mode, max_subs;
  uint64_t frame_bytes; /* from the validated schema copy */
  int64_t slice_ns;
  struct ferry_frame *frames; /* K views */
  void *table;                /* private schema copy [schema-copy] */
};

struct ferry_bus {
  struct bus_map m;
  int loaned;          /* slot of the loan out, or -1 */
  uint32_t last;       /* LATEST: slot written last, where the search starts */
  uint64_t seq;        /* next sequence number */
  bool shut;
  int64_t next_scan;   /* when the periodic dead-subscriber scan is due */
  struct ferry__remote *remote; /* a Redis handle: calls forward [redis-dispatch] */
};

struct ferry_sub {
  struct bus_map m;
  uint32_t pslot;  /* participant slot, 1..max_subs */
  uint64_t bit;    /* 1 << (pslot - 1) */
  uint64_t cursor; /* next sequence number to take */
  int held;        /* slot held, or -1 */
  bool pub_gone;   /* the publisher was seen dead */
  uint64_t received, skipped;
  /* Process-private history of frame arrivals [sub-anticipate]. */
  int64_t arrived_ns; /* when the last awaited frame was taken; 0: unknown */
  int64_t period_ns;  /* running mean of the time between them; 0: none */
  int64_t lead_ns;    /* how early to wake before the next one; 0: unset */
  uint32_t misses;    /* anticipations in a row that found no frame */
  uint32_t cooldown;  /* waits left before anticipating again */
  struct ferry__remote *remote; /* a Redis handle: calls forward [redis-dispatch] */
};

void ferry_bus_options_init(ferry_bus_options *o)
{
  assert(o);
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->region.role = FERRY_ROLE_PUBLISHER;
  o->mode = FERRY_BUS_LOCKSTEP;
  o->slots = FERRY_BUS_SLOTS_DEFAULT;
  o->max_subscribers = FERRY_BUS_SUBSCRIBERS_DEFAULT;
}

const char *ferry_bus_mode_name(uint32_t mode)
{
  switch (mode) {
  case FERRY_BUS_LOCKSTEP:
    return "lockstep";
  case FERRY_BUS_LATEST:
    return "latest";
  default:
    return "unknown";
  }
}

static uint32_t min_slots(uint32_t mode)
{
  /* LATEST never rewrites the newest frame, so it needs one slot for that,
   * one to write and one for a reader to hold [latest-k]. */
  return mode == FERRY_BUS_LATEST ? 3 : 2;
}

/* ---- mapping ------------------------------------------------------------------ */

static void map_free(struct bus_map *m)
{
  free(m->frames);
  free(m->table);
  m->frames = NULL;
  m->table = NULL;
}

/*
 * Finds and validates the bus in a freshly created or opened region. Reads
 * the constant header and the schema through private copies
 * [schema-copy]; every size is judged against the object area actually
 * mapped, so a corrupted region is an error, never a crash.
 */
static int map_init(struct bus_map *m, ferry_region *r)
{
  memset(m, 0, sizeof *m);
  uint8_t *obj = ferry__region_object(r);
  size_t size = ferry_region_data_size(r);
  if (((uintptr_t)obj % FERRY__CACHELINE) != 0 || size < FERRY__BUS_HDR_SIZE)
    return FERRY_ECORRUPT;
  struct ferry__bus_hdr hc;
  memcpy(&hc, obj, FERRY__CACHELINE); /* the constant line only */
  if (hc.magic != FERRY__BUS_MAGIC)
    return FERRY_ECORRUPT;
  if (hc.version_major != FERRY__BUS_VERSION_MAJOR)
    return FERRY_EVERSION;
  if (hc.checksum != ferry__bus_hdr_checksum(&hc))
    return FERRY_ECORRUPT;
  if (hc.mode > FERRY_BUS_LATEST || hc.slots < min_slots(hc.mode) ||
      hc.slots > FERRY_BUS_SLOTS_MAX || hc.max_subscribers < 1 ||
      hc.max_subscribers > FERRY_BUS_SUBSCRIBERS_MAX ||
      r->hc.max_participants != hc.max_subscribers + 1 ||
      hc.table_offset != FERRY__BUS_HDR_SIZE + FERRY__BUS_SLOT_SIZE * hc.slots ||
      hc.table_bytes < FERRY__SCHEMA_HDR_SIZE || hc.table_bytes > FERRY__SCHEMA_MAX_BYTES ||
      hc.data_offset % FERRY_ARRAY_ALIGN != 0 ||
      hc.data_offset < (uint64_t)hc.table_offset + hc.table_bytes ||
      hc.frame_stride < FERRY_ARRAY_ALIGN || hc.frame_stride % FERRY_ARRAY_ALIGN != 0)
    return FERRY_ECORRUPT;
  uint64_t span, end;
  if (ferry__mul_overflow(hc.frame_stride, hc.slots, &span) ||
      ferry__add_overflow(hc.data_offset, span, &end) || end > size)
    return FERRY_ECORRUPT;

  m->table = malloc(hc.table_bytes);
  m->frames = calloc(hc.slots, sizeof *m->frames);
  if (!m->table || !m->frames) {
    map_free(m);
    return -ENOMEM;
  }
  memcpy(m->table, obj + hc.table_offset, hc.table_bytes);
  uint64_t frame_bytes;
  int rc = ferry__schema_validate(m->table, hc.table_bytes, NULL, &frame_bytes);
  if (rc == 0 && frame_bytes > hc.frame_stride)
    rc = FERRY_ECORRUPT;
  if (rc) {
    map_free(m);
    return rc;
  }
  m->region = r;
  m->h = (struct ferry__bus_hdr *)obj;
  m->slots = (struct ferry__bus_slot *)(obj + FERRY__BUS_HDR_SIZE);
  m->hc = hc;
  m->k = hc.slots;
  m->mode = hc.mode;
  m->max_subs = hc.max_subscribers;
  m->frame_bytes = frame_bytes;
  m->slice_ns = r->hc.liveness_ns / 2;
  if (m->slice_ns < BUS_MIN_SLICE_NS)
    m->slice_ns = BUS_MIN_SLICE_NS;
  for (uint32_t i = 0; i < m->k; i++)
    ferry__frame_view_init(&m->frames[i], m->table,
                           obj + hc.data_offset + (uint64_t)i * hc.frame_stride);
  return 0;
}

static uint64_t head_published(uint64_t head) { return head >> FERRY__BUS_HEAD_SHIFT; }
static uint32_t head_slot(uint64_t head) { return (uint32_t)(head & FERRY__BUS_HEAD_SLOT_MASK); }

/* The event count a publisher waiting for slot x sleeps on [pub-sleep]. */
static _Atomic uint32_t *slot_ec(const struct bus_map *m, uint32_t x)
{
  return m->mode == FERRY_BUS_LATEST ? &m->h->pub_ec : &m->slots[x].free_ec;
}

/*
 * Takes `bit` off slot x's mask and, if that emptied it, signals the
 * publisher's event count for it. Used by release, by joiners and leavers
 * dropping holds they must not keep, and by the recovery of a dead
 * subscriber.
 */
static void drop_bit(struct bus_map *m, uint32_t x, uint64_t bit)
{
  /* seq_cst RMW: (1) release: our reads of the frame happen before the
   * publisher's rewrite, which it starts only after an acquire load of
   * mask == 0 in lockstep_free()/latest_claim(); (2) the progress half of
   * [wait-dekker] for the signal below, with no fence of its own. */
  uint64_t old = atomic_fetch_and_explicit(&m->slots[x].mask, ~bit, memory_order_seq_cst);
  if ((old & bit) == 0 || (old & ~bit) != 0)
    return;
  FERRY__CRASH_POINT("bus.sub.drop.emptied");
  ferry__ec_signal(slot_ec(m, x));
}

/* ---- publisher ------------------------------------------------------------------ */

int ferry_bus_create(const char *name, const ferry_array_spec *specs, size_t n,
                     const ferry_bus_options *o, ferry_bus **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_bus_create(name, specs, n, o, sizeof(struct ferry_bus), offsetof(struct ferry_bus, remote), (void **)out);
  ferry_bus_options defaults;
  if (!o) {
    ferry_bus_options_init(&defaults);
    o = &defaults;
  }
  if (!FERRY__RESERVED_OK(o))
    return -EINVAL;
  if ((uint32_t)o->mode > FERRY_BUS_LATEST || o->slots < min_slots(o->mode) ||
      o->slots > FERRY_BUS_SLOTS_MAX || o->max_subscribers < 1 ||
      o->max_subscribers > FERRY_BUS_SUBSCRIBERS_MAX)
    return -EINVAL;
  size_t table_bytes;
  uint64_t frame_bytes;
  int rc = ferry__schema_size(specs, n, &table_bytes, &frame_bytes);
  if (rc)
    return rc;
  uint32_t table_offset = FERRY__BUS_HDR_SIZE + FERRY__BUS_SLOT_SIZE * o->slots;
  uint64_t data_offset, stride = frame_bytes < FERRY_ARRAY_ALIGN ? FERRY_ARRAY_ALIGN : frame_bytes;
  uint64_t span, object_size;
  if (ferry__align_up(table_offset + (uint64_t)table_bytes, FERRY_ARRAY_ALIGN, &data_offset) ||
      ferry__mul_overflow(stride, o->slots, &span) ||
      ferry__add_overflow(data_offset, span, &object_size) ||
      object_size > (uint64_t)PTRDIFF_MAX)
    return -EOVERFLOW;

  /* The schema is written to private memory first: everything that can
   * fail without touching /dev/shm goes before the create. */
  void *table = calloc(1, table_bytes);
  if (!table)
    return -ENOMEM;
  if ((rc = ferry__schema_write(table, table_bytes, specs, n))) {
    free(table);
    return rc;
  }
  ferry_bus *b = calloc(1, sizeof *b);
  if (!b) {
    free(table);
    return -ENOMEM;
  }
  ferry_region_options ro = o->region;
  ro.max_participants = o->max_subscribers + 1;
  if (ro.role == 0)
    ro.role = FERRY_ROLE_PUBLISHER;
  ferry_region *r;
  if ((rc = ferry__region_create(name, FERRY_KIND_BUS, (size_t)object_size, &ro, 0, &r))) {
    free(table);
    free(b);
    return rc;
  }
  uint8_t *obj = ferry__region_object(r);
  /* A fresh file is zero: masks 0, head 0, stats 0. */
  struct ferry__bus_hdr *h = (struct ferry__bus_hdr *)obj;
  h->magic = FERRY__BUS_MAGIC;
  h->version_major = FERRY__BUS_VERSION_MAJOR;
  h->version_minor = FERRY__BUS_VERSION_MINOR;
  h->mode = (uint32_t)o->mode;
  h->slots = o->slots;
  h->max_subscribers = o->max_subscribers;
  h->table_offset = table_offset;
  h->table_bytes = (uint32_t)table_bytes;
  h->data_offset = data_offset;
  h->frame_stride = stride;
  h->pub_owner = r->slot_owner;
  h->checksum = ferry__bus_hdr_checksum(h);
  struct ferry__bus_slot *slots = (struct ferry__bus_slot *)(obj + FERRY__BUS_HDR_SIZE);
  for (uint32_t i = 0; i < o->slots; i++)
    atomic_store_explicit(&slots[i].seq, FERRY__BUS_SEQ_EMPTY, memory_order_relaxed);
  memcpy(obj + table_offset, table, table_bytes);
  free(table);
  if ((rc = map_init(&b->m, r))) {
    ferry__region_abort(r);
    free(b);
    return rc;
  }
  b->loaned = -1;
  b->last = o->slots - 1;
  b->next_scan = ferry__now_ns() + r->hc.liveness_ns;
  /* [magic-last]: everything above becomes visible to openers with the
   * region's magic (release in ferry__region_publish()). */
  ferry__region_publish(r);
  *out = b;
  return 0;
}

/*
 * Drops the dead subscriber of participant slot i [reap]: if it was
 * subscribed (its tag equals its owner word), takes its bit off the active
 * set and then off every slot's mask. Runs holding the slot
 * (ferry__region_recover_begin(), or a join reclaiming it), so no two
 * recoveries of one slot overlap, and the bit cannot be handed to anyone
 * else before the slot is freed, which is last. Idempotent.
 */
static void drop_sub(void *arg, uint32_t i, const ferry__slot_view *v)
{
  struct bus_map *m = arg;
  struct ferry__slot *ps = ferry__region_slots(m->region);
  if (i == 0 || i > m->max_subs)
    return; /* the publisher's slot: nothing of a subscriber's to undo */
  uint64_t bit = UINT64_C(1) << (i - 1);
  if (atomic_load_explicit(&ps[i].obj[0], memory_order_relaxed) == v->owner) {
    /* relaxed: only counted, as in ferry_bus_unsubscribe() */
    atomic_fetch_and_explicit(&m->h->ready, ~bit, memory_order_relaxed);
    /* seq_cst: ordered before the mask clears below, so a publish that
     * snapshots active afterwards leaves the bit out. */
    atomic_fetch_and_explicit(&m->h->active, ~bit, memory_order_seq_cst);
    FERRY__CRASH_POINT("bus.reap.active");
    /* Through drop_bit(): a joiner that recovers the slot must wake a
     * publisher that sleeps on one of these masks. */
    for (uint32_t x = 0; x < m->k; x++)
      drop_bit(m, x, bit);
    FERRY__CRASH_POINT("bus.reap.masks");
    atomic_fetch_add_explicit(&m->h->dropped, 1, memory_order_relaxed);
  }
  for (int w = 0; w < 4; w++)
    atomic_store_explicit(&ps[i].obj[w], 0, memory_order_relaxed);
}

/* Drops every dead subscriber; the publisher runs it [reap]. */
static void reap_dead(ferry_bus *b)
{
  struct bus_map *m = &b->m;
  ferry_region *r = m->region;
  for (uint32_t i = 1; i <= m->max_subs; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (ferry__region_slot_check(r, i, &v) != FERRY__SLOT_DEAD ||
        !ferry__region_recover_begin(r, i, &v))
      continue;
    drop_sub(m, i, &v);
    /* recover_end's CAS is a release: the clears above are done before a
     * new subscriber can join into the slot and take its bit. */
    ferry__region_recover_end(r, i, &v);
  }
}

/*
 * Of the bits in mask, those that may belong to a reader: in the active
 * set and held by a participant slot that has a subscriber now (its tag is
 * its owner word, as a join leaves it). Any other bit is stale
 * [stale-bits]: a subscriber that left, or one a peer wrote into active or
 * into the mask, for a free slot or one beyond max_subs. Walks the table
 * only when a bit is left to judge.
 */
static uint64_t readers_of(const struct bus_map *m, uint64_t mask)
{
  /* seq_cst: ordered after a joiner's fetch_or, which follows its tag */
  mask &= atomic_load_explicit(&m->h->active, memory_order_seq_cst);
  if (mask == 0)
    return 0;
  struct ferry__slot *ps = ferry__region_slots(m->region);
  uint64_t held = 0;
  for (uint32_t i = 1; i <= m->max_subs; i++) {
    uint64_t bit = UINT64_C(1) << (i - 1);
    if (!(mask & bit))
      continue;
    ferry__slot_view v;
    ferry__region_slot_read(m->region, i, &v);
    if (v.state == FERRY__SLOT_LIVE &&
        atomic_load_explicit(&ps[i].obj[0], memory_order_relaxed) == v.owner)
      held |= bit;
  }
  return held;
}

/* LOCKSTEP: is slot x free to rewrite? Bits that belong to no reader are
 * stale and dropped here [stale-bits]. */
static bool lockstep_free(ferry_bus *b, uint32_t x, bool clean)
{
  struct bus_map *m = &b->m;
  /* acquire: pairs with the release RMW in drop_bit(): the subscribers'
   * reads of the old frame happen before our writes. */
  uint64_t mask = atomic_load_explicit(&m->slots[x].mask, memory_order_acquire);
  if (mask == 0)
    return true;
  if (!clean)
    return false;
  uint64_t stale = mask & ~readers_of(m, mask);
  if (stale == 0)
    return false;
  /* acq_rel: takes over the leavers' release like the acquire above. */
  mask = atomic_fetch_and_explicit(&m->slots[x].mask, ~stale, memory_order_acq_rel) & ~stale;
  return mask == 0;
}

/*
 * LATEST: claims a slot nobody holds, other than the newest [latest-claim].
 * Dekker with latest_take(): we store WRITING then load mask; the reader
 * sets its bit then loads seq; both seq_cst, so at least one sees the other.
 */
static int latest_claim(ferry_bus *b, bool clean)
{
  struct bus_map *m = &b->m;
  uint64_t head = atomic_load_explicit(&m->h->head, memory_order_relaxed);
  int newest = head_published(head) ? (int)head_slot(head) : -1;
  for (uint32_t i = 1; i <= m->k; i++) {
    uint32_t x = (b->last + i) % m->k;
    if ((int)x == newest)
      continue;
    struct ferry__bus_slot *s = &m->slots[x];
    uint64_t mask = atomic_load_explicit(&s->mask, memory_order_relaxed);
    uint64_t stale = mask != 0 && clean ? mask & ~readers_of(m, mask) : 0;
    if (stale)
      atomic_fetch_and_explicit(&s->mask, ~stale, memory_order_relaxed);
    if (atomic_load_explicit(&s->mask, memory_order_relaxed) != 0)
      continue;
    uint64_t old = atomic_load_explicit(&s->seq, memory_order_relaxed);
    /* seq_cst: Dekker store; pairs with the load of seq in latest_take(). */
    atomic_store_explicit(&s->seq, FERRY__BUS_SEQ_WRITING, memory_order_seq_cst);
    FERRY__CRASH_POINT("bus.pub.latest.writing");
    /* seq_cst: Dekker load; pairs with the fetch_or in latest_take(). It is
     * also an acquire: earlier readers' releases happen before our writes. */
    if (atomic_load_explicit(&s->mask, memory_order_seq_cst) == 0) {
      FERRY__CRASH_POINT("bus.pub.loan.claimed");
      return (int)x;
    }
    /* A reader got in first: put the frame back untouched. release: pairs
     * with the reader's acquire of seq. */
    atomic_store_explicit(&s->seq, old, memory_order_release);
  }
  return -1;
}

/* Tries once to get a slot for the next frame; -1 if none is free now. */
static int try_slot(ferry_bus *b, bool clean)
{
  if (b->m.mode == FERRY_BUS_LATEST)
    return latest_claim(b, clean);
  uint32_t x = (uint32_t)(b->seq % b->m.k);
  if (!lockstep_free(b, x, clean))
    return -1;
  /* relaxed: the WRITING marker only needs to be seen before the mask
   * published later, and that store is a release [join-window]. */
  atomic_store_explicit(&b->m.slots[x].seq, FERRY__BUS_SEQ_WRITING, memory_order_relaxed);
  FERRY__CRASH_POINT("bus.pub.loan.claimed");
  return (int)x;
}

struct loan_arg {
  ferry_bus *b;
};

/* One look for a slot: its index, or -EAGAIN. The armed look, the last
 * before a sleep, also drops stale bits [stale-bits]. */
static int loan_attempt(void *p, bool armed)
{
  struct loan_arg *a = p;
  int x = try_slot(a->b, armed);
  return x >= 0 ? x : -EAGAIN;
}

/* At each slice end: drop the dead subscribers we may be waiting for
 * [reap]. Their bits go, so the next look may find the slot free. */
static int loan_slice(void *p)
{
  struct loan_arg *a = p;
  reap_dead(a->b);
  a->b->next_scan = ferry__now_ns() + a->b->m.region->hc.liveness_ns;
  return -EAGAIN;
}

/* The loan's slow path: wait on the event count of the slot we need
 * (LOCKSTEP) or of any slot (LATEST), reaping dead subscribers at each
 * slice end [pub-sleep]. Returns the slot or a negative error. */
static int loan_wait(ferry_bus *b, int64_t timeout_ns)
{
  struct bus_map *m = &b->m;
  struct ferry__bus_hdr *h = m->h;
  struct loan_arg a = {.b = b};
  ferry__waiter w = {.ec = slot_ec(m, (uint32_t)(b->seq % m->k)),
                     .attempt = loan_attempt,
                     .slice = loan_slice,
                     .arg = &a,
                     .spin_ns = BUS_SPIN_NS,
                     .slice_ns = m->slice_ns};
  int64_t t0 = ferry__now_ns();
  int64_t deadline = FERRY__DEADLINE_UNSET;
  int x = ferry__wait(&w, timeout_ns, &deadline);
  int64_t waited = ferry__now_ns() - t0;
  /* relaxed: statistics, written by the publisher only */
  atomic_store_explicit(&h->loan_waits,
                        atomic_load_explicit(&h->loan_waits, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_store_explicit(&h->wait_ns,
                        atomic_load_explicit(&h->wait_ns, memory_order_relaxed) +
                            (uint64_t)waited,
                        memory_order_relaxed);
  return x;
}

int ferry_bus_loan(ferry_bus *b, ferry_frame **f, int64_t timeout_ns)
{
  assert(b && f);
  if (b->remote) return ferry__remote_bus_loan(b->remote, f, timeout_ns);
  int rc = ferry__region_usable(b->m.region);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  if (b->loaned >= 0)
    return -EBUSY;
  if (b->shut)
    return -EPIPE;
  /* The periodic scan: a clock read (vDSO, no syscall) per loan, a lock
   * test per taken participant slot once per liveness period. It drops
   * dead subscribers that hold nothing now but would be counted into the
   * next frames' masks. */
  int64_t now = ferry__now_ns();
  if (now >= b->next_scan) {
    reap_dead(b);
    b->next_scan = now + b->m.region->hc.liveness_ns;
  }
  int x = try_slot(b, false);
  if (x < 0 && timeout_ns == 0 && (x = try_slot(b, true)) < 0)
    return -EAGAIN;
  if (x < 0 && (x = loan_wait(b, timeout_ns)) < 0)
    return x;
  b->loaned = x;
  *f = &b->m.frames[x];
  return 0;
}

int ferry_bus_publish(ferry_bus *b, ferry_frame *f)
{
  assert(b);
  if (b->remote) return ferry__remote_bus_publish(b->remote, f);
  int rc = ferry__region_usable(b->m.region);
  if (rc)
    return rc;
  if (b->loaned < 0 || f != &b->m.frames[b->loaned])
    return -EINVAL;
  struct bus_map *m = &b->m;
  struct ferry__bus_hdr *h = m->h;
  uint32_t x = (uint32_t)b->loaned;
  struct ferry__bus_slot *s = &m->slots[x];
  if (m->mode == FERRY_BUS_LOCKSTEP) {
    /* seq_cst: the snapshot of the subscribers that must read this frame;
     * ordered against a joiner's fetch_or + head load [join-window]. */
    uint64_t active = atomic_load_explicit(&h->active, memory_order_seq_cst);
    /* release: pairs with the acquire load of mask in lockstep_take(). */
    atomic_store_explicit(&s->mask, active, memory_order_release);
    FERRY__CRASH_POINT("bus.pub.publish.mask");
  }
  /* release: the frame's data before its sequence number; pairs with the
   * acquire loads of seq in lockstep_take() and latest_take(). */
  atomic_store_explicit(&s->seq, b->seq, memory_order_release);
  FERRY__CRASH_POINT("bus.pub.publish.seq");
  b->seq++;
  /* seq_cst RMW: the commit point of publish; a release for the data and
   * seq (pairs with the acquire loads of head in the takes), and the
   * progress half of [wait-dekker] for the signal below, with no fence of
   * its own (an exchange is what a seq_cst store compiles to on x86
   * anyway) [sub-sleep]. */
  atomic_exchange_explicit(&h->head, b->seq << FERRY__BUS_HEAD_SHIFT | x, memory_order_seq_cst);
  FERRY__CRASH_POINT("bus.pub.publish.head");
  ferry__ec_signal(&h->sub_ec);
  b->loaned = -1;
  b->last = x;
  return 0;
}

struct subs_arg {
  ferry_bus *b;
  uint32_t n;
};

/* Subscribers whose join is complete (and that have not left). */
static uint32_t subscribed(const struct bus_map *m)
{
  /* seq_cst: pairs with the joiner's seq_cst fetch_or of ready, so the
   * frames we publish next are snapshotted after its join [wait-subs]. */
  uint64_t ready = atomic_load_explicit(&m->h->ready, memory_order_seq_cst);
  uint64_t active = atomic_load_explicit(&m->h->active, memory_order_seq_cst);
  return (uint32_t)__builtin_popcountll(ready & active);
}

/* Are n subscribed? Counted twice: the complete joins first, and when
 * they are enough, again after dropping the dead [wait-subs]. */
static int subs_attempt(void *p, bool armed)
{
  (void)armed;
  struct subs_arg *a = p;
  if (subscribed(&a->b->m) < a->n)
    return -EAGAIN;
  reap_dead(a->b);
  a->b->next_scan = ferry__now_ns() + a->b->m.region->hc.liveness_ns;
  return subscribed(&a->b->m) >= a->n ? 0 : -EAGAIN;
}

/* At each slice end: drop the dead, whose places new subscribers need. */
static int subs_slice(void *p)
{
  struct subs_arg *a = p;
  reap_dead(a->b);
  a->b->next_scan = ferry__now_ns() + a->b->m.region->hc.liveness_ns;
  return -EAGAIN;
}

int ferry_bus_wait_subscribers(ferry_bus *b, uint32_t n, int64_t timeout_ns)
{
  assert(b);
  if (b->remote) return -ENOTSUP; /* not on Redis (docs/design/redis.md) */
  int rc = ferry__region_usable(b->m.region);
  if (rc)
    return rc;
  if (timeout_ns < 0 || n > b->m.max_subs)
    return -EINVAL;
  if (b->shut)
    return -EPIPE;
  if (n == 0)
    return 0;
  struct subs_arg a = {.b = b, .n = n};
  ferry__waiter w = {.ec = &b->m.h->join_ec,
                     .attempt = subs_attempt,
                     .slice = subs_slice,
                     .arg = &a,
                     .slice_ns = b->m.slice_ns};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&w, timeout_ns, &deadline);
}

uint64_t ferry_bus_seq(const ferry_bus *b)
{
  assert(b);
  if (b->remote) return ferry__remote_bus_seq(b->remote);
  return b->seq;
}

int ferry_bus_shutdown(ferry_bus *b)
{
  assert(b);
  if (b->remote) return ferry__remote_bus_shutdown(b->remote);
  int rc = ferry__region_usable(b->m.region);
  if (rc)
    return rc;
  if (b->shut)
    return 0;
  b->shut = true;
  b->loaned = -1; /* a WRITING slot is never read: the loan just vanishes */
  struct ferry__bus_hdr *h = b->m.h;
  /* seq_cst: after every publish; a subscriber that sees it set then sees
   * every frame (acquire side in next_ended()). */
  atomic_store_explicit(&h->shutdown, 1, memory_order_seq_cst);
  FERRY__CRASH_POINT("bus.pub.shutdown.stored");
  /* Every subscriber must look: a bump wakes all sleepers, and its release
   * orders the store above before a waiter's next look [wait-dekker]. */
  ferry__ec_bump(&h->sub_ec);
  return 0;
}

void ferry_bus_close(ferry_bus *b)
{
  if (b && b->remote) { ferry__remote_bus_close(b, b->remote); return; }
  if (!b)
    return;
  /* In a fork child the handle is our parent's: close only unmaps
   * (ferry_region_close), and the bus is not shut down under it [fork]. */
  if (!ferry__region_usable(b->m.region))
    ferry_bus_shutdown(b);
  ferry_region_close(b->m.region);
  map_free(&b->m);
  free(b);
}

ferry_region *ferry_bus_region(const ferry_bus *b)
{
  assert(b);
  if (b->remote) return NULL;
  return b->m.region;
}

/* ---- subscriber ------------------------------------------------------------------- */

static struct ferry__slot *my_pslot(const ferry_sub *s)
{
  return &ferry__region_slots(s->m.region)[s->pslot];
}

static bool publisher_alive(const struct bus_map *m)
{
  ferry__slot_view v;
  ferry__region_slot_read(m->region, 0, &v);
  return v.owner == m->hc.pub_owner &&
         ferry__region_slot_check(m->region, 0, &v) == FERRY__SLOT_ALIVE;
}

/*
 * Drops every hold of ours on a frame older than `before` (all of them for
 * UINT64_MAX): frames that snapshotted our bit during a join or leave but
 * that we will never take [join-window].
 */
static void drop_old_holds(ferry_sub *s, uint64_t before)
{
  for (uint32_t x = 0; x < s->m.k; x++) {
    struct ferry__bus_slot *sl = &s->m.slots[x];
    /* acquire: pairs with the release store of mask in publish(): the seq
     * we read next is this frame's or WRITING of a later one. */
    if (!(atomic_load_explicit(&sl->mask, memory_order_acquire) & s->bit))
      continue;
    uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire);
    if (before == UINT64_MAX || seq < before)
      drop_bit(&s->m, x, s->bit);
  }
}

int ferry_bus_subscribe(const char *name, const ferry_open_options *o, ferry_sub **out)
{
  assert(out);
  if (ferry__remote_name(name)) return ferry__remote_bus_subscribe(name, o, sizeof(struct ferry_sub), offsetof(struct ferry_sub, remote), (void **)out);
  ferry_open_options opts;
  if (o)
    opts = *o;
  else
    ferry_open_options_init(&opts);
  if (opts.flags & FERRY_OPEN_OBSERVE)
    return -EINVAL;
  if (opts.role == 0)
    opts.role = FERRY_ROLE_SUBSCRIBER;
  ferry_sub *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  ferry_region *r;
  int rc = ferry__region_open(name, FERRY_KIND_BUS, &opts, &r);
  if (rc) {
    free(s);
    return rc;
  }
  if ((rc = map_init(&s->m, r)) || (rc = ferry__region_join(r, drop_sub, &s->m))) {
    map_free(&s->m);
    ferry_region_close(r);
    free(s);
    return rc;
  }
  int slot = ferry_region_slot(r);
  struct ferry__bus_hdr *h = s->m.h;
  if (slot < 0 || (uint32_t)slot > s->m.max_subs)
    rc = FERRY_ECORRUPT;
  /* Slot 0 is the publisher's: free only once it closed, after shutdown. */
  else if (slot == 0 || atomic_load_explicit(&h->shutdown, memory_order_acquire) ||
           !publisher_alive(&s->m))
    rc = -EPIPE;
  if (rc) {
    ferry_region_close(r);
    map_free(&s->m);
    free(s);
    return rc;
  }
  s->pslot = (uint32_t)slot;
  s->bit = UINT64_C(1) << (slot - 1);
  s->held = -1;
  struct ferry__slot *ps = my_pslot(s);
  /* relaxed: the reaper reads the tag only after it saw us dead, and the
   * publisher (readers_of) after its seq_cst load of active saw our bit. */
  atomic_store_explicit(&ps->obj[0], r->slot_owner, memory_order_relaxed);
  FERRY__CRASH_POINT("bus.sub.join.tag");
  /* seq_cst: join; pairs with publish()'s load of active [join-window]. */
  atomic_fetch_or_explicit(&h->active, s->bit, memory_order_seq_cst);
  FERRY__CRASH_POINT("bus.sub.join.active");
  /* seq_cst: ordered after the join above, see [join-window]. */
  s->cursor = head_published(atomic_load_explicit(&h->head, memory_order_seq_cst));
  FERRY__CRASH_POINT("bus.sub.join.cursor");
  if (s->m.mode == FERRY_BUS_LOCKSTEP)
    drop_old_holds(s, s->cursor);
  atomic_store_explicit(&ps->obj[1], s->cursor, memory_order_relaxed);
  /* seq_cst: the join is complete: every frame the publisher starts after
   * seeing this bit carries ours and is at or past our cursor. As a
   * seq_cst RMW, also the progress half of [wait-dekker] for the signal
   * to a publisher waiting for subscribers [wait-subs]. */
  atomic_fetch_or_explicit(&h->ready, s->bit, memory_order_seq_cst);
  FERRY__CRASH_POINT("bus.sub.join.ready");
  ferry__ec_signal(&h->join_ec);
  *out = s;
  return 0;
}

/* LOCKSTEP: takes frame `cursor` if it is ours, skipping frames published
 * during our join that were not addressed to us. -EAGAIN if none;
 * FERRY_ECORRUPT if head says what no publisher could have done
 * [lockstep-lead]. */
static int lockstep_take(ferry_sub *s, ferry_bus_frame_info *info)
{
  struct bus_map *m = &s->m;
  /* acquire: pairs with the seq_cst (release) exchange of head in
   * publish(). */
  uint64_t pub = head_published(atomic_load_explicit(&m->h->head, memory_order_acquire));
  /* [lockstep-lead]: head never moves back, and never more than K + 1
   * frames past a subscribed reader's cursor. So the loop below runs at
   * most K + 1 times, whatever a peer wrote into head. */
  if (pub < s->cursor || pub - s->cursor > (uint64_t)m->k + 1)
    return FERRY_ECORRUPT;
  while (s->cursor < pub) {
    uint64_t c = s->cursor;
    uint32_t x = (uint32_t)(c % m->k);
    struct ferry__bus_slot *sl = &m->slots[x];
    /* acquire (all three): pair with publish()'s release stores of mask
     * and seq; re-reading seq proves the mask bit was this frame's and not
     * a later one's [join-window]. */
    if (atomic_load_explicit(&sl->seq, memory_order_acquire) == c &&
        (atomic_load_explicit(&sl->mask, memory_order_acquire) & s->bit) &&
        atomic_load_explicit(&sl->seq, memory_order_acquire) == c) {
      s->held = (int)x;
      s->cursor = c + 1;
      if (info) {
        info->seq = c;
        info->skipped = 0;
        info->lag = pub - c - 1;
      }
      return 0;
    }
    s->cursor = c + 1; /* published before we joined */
  }
  return -EAGAIN;
}

/* LATEST: takes the newest frame if it is newer than the last one taken.
 * Dekker with latest_claim() [latest-claim]. */
static int latest_take(ferry_sub *s, ferry_bus_frame_info *info)
{
  struct bus_map *m = &s->m;
  /* Each retry below means the publisher has overtaken us with a newer
   * frame since we read head; a bounded number of them, then -EAGAIN: the
   * wait goes on (and ends at its deadline) instead of spinning forever
   * on a head and seq that a peer scribbled into a state that never
   * settles. */
  for (uint32_t tries = 0; tries < m->k + LATEST_RETRIES; tries++) {
    /* seq_cst (an acquire): pairs with publish()'s exchange of head. */
    uint64_t head = atomic_load_explicit(&m->h->head, memory_order_seq_cst);
    uint64_t pub = head_published(head);
    if (pub < s->cursor)
      return FERRY_ECORRUPT; /* head moved back */
    if (pub == s->cursor)
      return -EAGAIN;
    uint64_t want = pub - 1;
    uint32_t x = head_slot(head);
    if (x >= m->k)
      return FERRY_ECORRUPT;
    struct ferry__bus_slot *sl = &m->slots[x];
    /* seq_cst: Dekker RMW; pairs with latest_claim()'s load of mask. */
    atomic_fetch_or_explicit(&sl->mask, s->bit, memory_order_seq_cst);
    FERRY__CRASH_POINT("bus.sub.take.latest");
    /* seq_cst: Dekker load; pairs with latest_claim()'s store of WRITING;
     * an acquire of the data published with this seq. */
    uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_seq_cst);
    if (seq == want) {
      uint64_t skipped = want - s->cursor;
      s->skipped += skipped;
      s->held = (int)x;
      s->cursor = want + 1;
      if (info) {
        info->seq = want;
        info->skipped = skipped;
        info->lag = 0;
      }
      return 0;
    }
    drop_bit(m, x, s->bit);
    /* The slot held `want` when head named it; since then only WRITING or
     * a newer frame (or the same one put back) can have replaced it. */
    if (seq < want)
      return FERRY_ECORRUPT;
    /* overtaken: look again */
  }
  return -EAGAIN;
}

static int try_take(ferry_sub *s, ferry_bus_frame_info *info)
{
  int rc = s->m.mode == FERRY_BUS_LATEST ? latest_take(s, info) : lockstep_take(s, info);
  if (rc == 0) {
    struct ferry__slot *ps = my_pslot(s);
    s->received++;
    /* relaxed: statistics for readers of the table. */
    atomic_store_explicit(&ps->obj[1], s->cursor, memory_order_relaxed);
    atomic_store_explicit(&ps->obj[2], s->received, memory_order_relaxed);
    atomic_store_explicit(&ps->obj[3], s->skipped, memory_order_relaxed);
  }
  return rc;
}

/* Has the stream ended? Read before a take: a shutdown seen here comes
 * after every publish, so a take that then finds nothing has drained it. */
static bool ended(ferry_sub *s)
{
  /* acquire: pairs with the seq_cst store in ferry_bus_shutdown(). */
  return s->pub_gone || atomic_load_explicit(&s->m.h->shutdown, memory_order_acquire);
}

struct next_arg {
  ferry_sub *s;
  ferry_bus_frame_info *info;
};

/* One look for a frame: 0 (taken), -EAGAIN, -EPIPE (ended and drained),
 * or FERRY_ECORRUPT. */
static int next_attempt(void *p, bool armed)
{
  (void)armed;
  struct next_arg *a = p;
  /* Before the take: a shutdown seen here comes after every publish, so a
   * take that then finds nothing has drained the stream. */
  bool end = ended(a->s);
  int rc = try_take(a->s, a->info);
  return rc == -EAGAIN && end ? -EPIPE : rc;
}

/* At each slice end: is the publisher still there? Once it is seen dead
 * the stream has ended: the looks that follow drain it, then -EPIPE. */
static int next_slice(void *p)
{
  struct next_arg *a = p;
  if (!publisher_alive(&a->s->m))
    a->s->pub_gone = true;
  return -EAGAIN;
}

static int64_t clamp_lead(int64_t lead, int64_t period)
{
  int64_t max = period / 4 < ANTICIPATE_MAX_LEAD_NS ? period / 4 : ANTICIPATE_MAX_LEAD_NS;
  return lead > max ? max : lead < ANTICIPATE_MIN_LEAD_NS ? ANTICIPATE_MIN_LEAD_NS : lead;
}

/* Before a wait in ferry_bus_next(): if frames come regularly, sleeps until
 * shortly before the next is due [sub-anticipate]. Returns how long to
 * spin then (BUS_SPIN_NS if it does not anticipate), and in *rc -EAGAIN,
 * or the result of a frame that came during that sleep. */
static int64_t anticipate(ferry_sub *s, const ferry__waiter *w, int64_t deadline, int *rc)
{
  *rc = -EAGAIN;
  int64_t p = s->period_ns;
  if (s->cooldown > 0) {
    s->cooldown--;
    return BUS_SPIN_NS;
  }
  if (p < ANTICIPATE_MIN_PERIOD_NS || p > ANTICIPATE_MAX_PERIOD_NS || s->arrived_ns == 0)
    return BUS_SPIN_NS;
  int64_t lead = s->lead_ns = clamp_lead(s->lead_ns ? s->lead_ns : p / 8, p);
  int64_t wake = s->arrived_ns + p - lead;
  if (wake > deadline)
    return BUS_SPIN_NS;
  if (wake > ferry__now_ns()) {
    /* Asleep as usual, so that a frame coming early wakes us; but only
     * until `wake`, and with no liveness look: the wait that follows makes
     * it. */
    ferry__waiter early = *w;
    early.slice = NULL;
    early.spin_ns = 0;
    *rc = ferry__wait(&early, ferry__remaining_ns(wake), &wake);
    if (*rc != -ETIMEDOUT && *rc != -EAGAIN) {
      s->lead_ns = clamp_lead(2 * lead, p); /* the frame came first: too late */
      return BUS_SPIN_NS;
    }
    *rc = -EAGAIN;
  }
  return 2 * lead + ANTICIPATE_MIN_LEAD_NS;
}

/* A frame waited for was taken at `now`: one more interval for the
 * period. */
static void arrived(ferry_sub *s, int64_t now)
{
  int64_t d = now - s->arrived_ns;
  if (s->arrived_ns != 0)
    s->period_ns = s->period_ns ? s->period_ns + (d - s->period_ns) / 4 : d;
  s->arrived_ns = now;
}

/* After an anticipated wait: learns from a frame that came within its spin
 * (a hit) or did not (a miss: then it waits plainly for a while)
 * [sub-anticipate]. */
static void anticipated(ferry_sub *s, bool miss)
{
  if (!miss) {
    s->misses = 0;
    s->lead_ns = clamp_lead(s->lead_ns - s->lead_ns / 16, s->period_ns);
    return;
  }
  s->misses++;
  s->cooldown = s->misses >= 8 ? ANTICIPATE_MAX_COOLDOWN : UINT32_C(1) << s->misses;
}

int ferry_bus_next(ferry_sub *s, const ferry_frame **f, ferry_bus_frame_info *info,
                   int64_t timeout_ns)
{
  assert(s && f);
  if (s->remote) return ferry__remote_bus_next(s->remote, f, info, timeout_ns);
  int rc = ferry__region_usable(s->m.region);
  if (rc)
    return rc;
  if (timeout_ns < 0)
    return -EINVAL;
  if (s->held >= 0)
    return -EBUSY;
  struct next_arg a = {.s = s, .info = info};
  ferry__waiter w = {.ec = &s->m.h->sub_ec,
                     .attempt = next_attempt,
                     .slice = next_slice,
                     .arg = &a,
                     .spin_ns = BUS_SPIN_NS,
                     .slice_ns = s->m.slice_ns};
  if ((rc = next_attempt(&a, false)) != -EAGAIN || timeout_ns == 0) {
    /* Nothing waited for: a frame that was there came at a time unknown
     * (we are behind), and a poll learns nothing. */
    s->arrived_ns = 0;
  } else {
    int64_t deadline;
    ferry__deadline(timeout_ns, &deadline);
    w.spin_ns = anticipate(s, &w, deadline, &rc);
    int64_t now = ferry__now_ns();
    if (rc == -EAGAIN) {
      int64_t spin_end = now + w.spin_ns;
      rc = ferry__wait(&w, timeout_ns, &deadline);
      now = ferry__now_ns();
      if (w.spin_ns > BUS_SPIN_NS) /* anticipated: did the frame come in the spin? */
        anticipated(s, rc == -ETIMEDOUT || (rc == 0 && now > spin_end));
    }
    if (rc == 0)
      arrived(s, now);
  }
  if (rc == 0)
    *f = &s->m.frames[s->held];
  return rc;
}

int ferry_bus_release(ferry_sub *s, const ferry_frame *f)
{
  assert(s);
  if (s->remote) return ferry__remote_bus_release(s->remote, f);
  int rc = ferry__region_usable(s->m.region);
  if (rc)
    return rc;
  if (s->held < 0 || f != &s->m.frames[s->held])
    return -EINVAL;
  drop_bit(&s->m, (uint32_t)s->held, s->bit);
  s->held = -1;
  return 0;
}

void ferry_bus_unsubscribe(ferry_sub *s)
{
  if (s && s->remote) { ferry__remote_bus_unsubscribe(s, s->remote); return; }
  if (!s)
    return;
  if (ferry__region_usable(s->m.region)) {
    /* Our parent's handle, inherited through fork: leave its subscription
     * alone; close only unmaps [fork]. */
    ferry_region_close(s->m.region);
    map_free(&s->m);
    free(s);
    return;
  }
  struct ferry__bus_hdr *h = s->m.h;
  /* relaxed: only counted by ferry_bus_wait_subscribers(), which needs no
   * order with anything else. */
  atomic_fetch_and_explicit(&h->ready, ~s->bit, memory_order_relaxed);
  /* seq_cst: leave before dropping holds, so publishes from now on leave
   * our bit out; one that snapshotted it already is cleaned up by the
   * publisher as a stale bit [stale-bits]. */
  atomic_fetch_and_explicit(&h->active, ~s->bit, memory_order_seq_cst);
  FERRY__CRASH_POINT("bus.sub.leave.active");
  drop_old_holds(s, UINT64_MAX);
  FERRY__CRASH_POINT("bus.sub.leave.holds");
  s->held = -1;
  struct ferry__slot *ps = my_pslot(s);
  for (int w = 0; w < 4; w++)
    atomic_store_explicit(&ps->obj[w], 0, memory_order_relaxed);
  ferry_region_close(s->m.region);
  map_free(&s->m);
  free(s);
}

ferry_region *ferry_sub_region(const ferry_sub *s)
{
  assert(s);
  if (s->remote) return NULL;
  return s->m.region;
}

/* ---- statistics -------------------------------------------------------------------- */

static void fill_stats(const struct bus_map *m, ferry_bus_stats *out)
{
  const struct ferry__bus_hdr *h = m->h;
  ferry_bus_stats st;
  memset(&st, 0, sizeof st);
  st.mode = m->mode;
  st.slots = m->k;
  st.max_subscribers = m->max_subs;
  st.subscribers = (uint32_t)__builtin_popcountll(
      atomic_load_explicit((_Atomic uint64_t *)&h->active, memory_order_relaxed));
  st.frame_bytes = m->frame_bytes;
  st.published = head_published(atomic_load_explicit((_Atomic uint64_t *)&h->head,
                                                     memory_order_relaxed));
  st.loan_waits = atomic_load_explicit((_Atomic uint64_t *)&h->loan_waits, memory_order_relaxed);
  st.wait_ns = atomic_load_explicit((_Atomic uint64_t *)&h->wait_ns, memory_order_relaxed);
  st.dropped = atomic_load_explicit((_Atomic uint64_t *)&h->dropped, memory_order_relaxed);
  st.shutdown = atomic_load_explicit((_Atomic uint32_t *)&h->shutdown, memory_order_relaxed) != 0;
  *out = st;
}

/* One entry per subscribed participant slot. */
static size_t fill_subs(const struct bus_map *m, ferry_bus_sub_stats *subs, size_t cap)
{
  struct ferry__slot *ps = ferry__region_slots(m->region);
  uint64_t pub = head_published(
      atomic_load_explicit((_Atomic uint64_t *)&m->h->head, memory_order_relaxed));
  size_t n = 0;
  for (uint32_t i = 1; i <= m->max_subs; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(m->region, i, &v);
    if (v.state != FERRY__SLOT_LIVE ||
        atomic_load_explicit(&ps[i].obj[0], memory_order_relaxed) != v.owner)
      continue;
    if (n < cap) {
      ferry_bus_sub_stats e;
      memset(&e, 0, sizeof e);
      e.slot = i;
      e.pid = v.pid;
      e.next_seq = atomic_load_explicit(&ps[i].obj[1], memory_order_relaxed);
      e.lag = pub > e.next_seq ? pub - e.next_seq : 0;
      e.received = atomic_load_explicit(&ps[i].obj[2], memory_order_relaxed);
      e.skipped = atomic_load_explicit(&ps[i].obj[3], memory_order_relaxed);
      subs[n] = e;
    }
    n++;
  }
  return n;
}

int ferry_bus_stats_get(const ferry_bus *b, ferry_bus_stats *out)
{
  assert(b && out);
  if (b->remote) return ferry__remote_bus_stats(b->remote, out);
  int rc = ferry__region_usable(b->m.region);
  if (rc)
    return rc;
  fill_stats(&b->m, out);
  return 0;
}

int ferry_sub_stats_get(const ferry_sub *s, ferry_bus_sub_stats *out)
{
  assert(s && out);
  if (s->remote) return ferry__remote_bus_sub_stats(s->remote, out);
  int rc = ferry__region_usable(s->m.region);
  if (rc)
    return rc;
  ferry_bus_sub_stats e;
  memset(&e, 0, sizeof e);
  uint64_t pub = head_published(atomic_load_explicit(&s->m.h->head, memory_order_relaxed));
  e.slot = s->pslot;
  e.pid = ferry__pid();
  e.next_seq = s->cursor;
  e.lag = pub > s->cursor ? pub - s->cursor : 0;
  e.received = s->received;
  e.skipped = s->skipped;
  *out = e;
  return 0;
}

ssize_t ferry_bus_stat(const char *name, ferry_bus_stats *out, ferry_bus_sub_stats *subs,
                       size_t cap)
{
  assert(out && (subs || cap == 0));
  if (ferry__remote_name(name)) return ferry__remote_bus_stat(name, out, subs, cap);
  ferry_region *r;
  int rc = ferry__region_observe(name, FERRY_KIND_BUS, &r);
  if (rc)
    return rc;
  struct bus_map m;
  if ((rc = map_init(&m, r))) {
    ferry_region_close(r);
    return rc;
  }
  fill_stats(&m, out);
  size_t n = fill_subs(&m, subs, cap);
  map_free(&m);
  ferry_region_close(r);
  return (ssize_t)n;
}
