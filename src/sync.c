/* SPDX-License-Identifier: MIT */
/*
 * sync.c: process-shared mutex, condition variable, event, semaphore,
 * barrier and atomic counters on futexes (ferry/sync.h). The layouts and
 * futex-word state tables are in sync_layout.h; the claims and proof
 * sketches in docs/design/sync.md.
 *
 * Hot paths make no system call: an uncontended lock is one CAS and an
 * uncontended unlock one exchange; signal, post and set call the kernel only
 * when a waiter announced itself. Every wait is ferry__wait() on the
 * object's event count (src/core/wait.h), whose proof covers them all.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "core/core.h"
#include "core/crash.h"
#include "core/wait.h"
#include "ferry/sync.h"
#include "sync_layout.h"

/* Lockers and semaphore waiters look again for this long before they
 * sleep: about what a futex sleep plus wake-up costs, and longer than the
 * critical sections ferry itself keeps (index updates) [wait-spin]. */
#define SYNC_SPIN_NS (2 * INT64_C(1000))

/* Below this the liveness poll would be a busy loop of /proc reads. */
#define LIVENESS_MIN_NS (2 * FERRY_MSEC)

/* Process-wide; see ferry_sync_set_liveness_ns(). */
static _Atomic int64_t liveness_ns = FERRY_SEC;

/* The opaque public structs hold the real ones (sizes checked in
 * sync_layout.h). */
#define MUTEX(p) ((struct ferry__mutex *)(void *)(p))
#define COND(p) ((struct ferry__cond *)(void *)(p))
#define EVENT(p) ((struct ferry__event *)(void *)(p))
#define SEM(p) ((struct ferry__sem *)(void *)(p))
#define BARRIER(p) ((struct ferry__barrier *)(void *)(p))
#define COUNTER(p) ((struct ferry__counter *)(void *)(p))

/* Runs a wait of timeout_ns (>= 0) with no slice. */
static int wait_plain(_Atomic uint32_t *ec, int (*attempt)(void *, bool), void *arg,
                      int64_t spin_ns, int64_t timeout_ns)
{
  ferry__waiter w = {.ec = ec, .attempt = attempt, .arg = arg, .spin_ns = spin_ns};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&w, timeout_ns, &deadline);
}

/* ---- liveness -------------------------------------------------------------- */

void ferry_sync_set_liveness_ns(int64_t ns)
{
  assert(ns > 0);
  if (ns < LIVENESS_MIN_NS)
    ns = LIVENESS_MIN_NS;
  /* relaxed: a standalone setting; it publishes no other data */
  atomic_store_explicit(&liveness_ns, ns, memory_order_relaxed);
}

int64_t ferry_sync_liveness_ns(void)
{
  return atomic_load_explicit(&liveness_ns, memory_order_relaxed);
}

/* A sleeper looks at the owner this often: half the period, leaving the
 * other half as slack for scheduling and the /proc read itself. */
static int64_t liveness_slice(void)
{
  return ferry_sync_liveness_ns() / 2;
}

/* ---- mutex ------------------------------------------------------------------ */

static uint32_t self_tid(void)
{
  pid_t t = ferry__tid();
  assert(t > 0 && (uint32_t)t < FERRY__MUTEX_NOTRECOVERABLE);
  return (uint32_t)t;
}

/* Records the new owner's identity [stamp-tag]. relaxed: a hint for
 * lockers' liveness checks; the tid tag makes any stale or early view
 * harmless, and the release in unlock orders the clearing store. */
static void stamp_set(struct ferry__mutex *m, uint32_t tid)
{
  uint64_t start = ferry__tid_start();
  uint64_t stamp = 0;
  if ((uint64_t)tid <= FERRY__STAMP_TID_MASK) {
    if (start > FERRY__STAMP_START_MAX)
      start = 0;
    stamp = start << FERRY__STAMP_TID_BITS | tid;
  }
  atomic_store_explicit(&m->owner_stamp, stamp, memory_order_relaxed);
}

/* The start time to trust for holder `tid`, or 0 for "unknown: check only
 * that the tid exists" [stamp-tag]. Call after an acquire load of the word
 * that showed `tid`. */
static uint64_t holder_start(struct ferry__mutex *m, uint32_t tid)
{
  /* relaxed: ordered after the caller's acquire load of the word */
  uint64_t s = atomic_load_explicit(&m->owner_stamp, memory_order_relaxed);
  return (s & FERRY__STAMP_TID_MASK) == tid ? s >> FERRY__STAMP_TID_BITS : 0;
}

/* A word no holder could have written [sync-corrupt]. */
static bool word_corrupt(uint32_t w)
{
  return w != FERRY__MUTEX_NOTRECOVERABLE &&
         ((w & ~(FERRY__MUTEX_TID_MASK | FERRY__MUTEX_OWNER_DIED)) || (w & FERRY__MUTEX_TID_MASK) == 0);
}

struct lock_arg {
  struct ferry__mutex *m;
  uint32_t self;
};

/* One try: 0 (ours), -EAGAIN (held), -ENOTRECOVERABLE. */
static int lock_attempt(void *p, bool armed)
{
  (void)armed;
  struct lock_arg *a = p;
  uint32_t w = 0;
  /* acquire: pairs with the release exchange in ferry_mutex_unlock(), so
   * the previous holder's critical section happens before ours */
  if (atomic_compare_exchange_strong_explicit(&a->m->word, &w, a->self, memory_order_acquire,
                                              memory_order_relaxed)) {
    FERRY__CRASH_POINT("sync.lock.acquired");
    stamp_set(a->m, a->self);
    return 0;
  }
  return w == FERRY__MUTEX_NOTRECOVERABLE ? -ENOTRECOVERABLE : -EAGAIN;
}

/*
 * At each slice end: if the holder is dead (or the word is corrupt), take
 * the mutex over. -EOWNERDEAD once taken, else -EAGAIN to go on waiting.
 */
static int take_if_dead(void *p)
{
  struct lock_arg *a = p;
  struct ferry__mutex *m = a->m;
  /* acquire: orders the stamp load after it, and by [word-rmw-only] hides
   * every stamp that was cleared before an earlier unlock */
  uint32_t cur = atomic_load_explicit(&m->word, memory_order_acquire);
  if (cur == 0)
    return -EAGAIN; /* free again: the next attempt takes it */
  if (cur == FERRY__MUTEX_NOTRECOVERABLE)
    return -ENOTRECOVERABLE;
  uint32_t tid = cur & FERRY__MUTEX_TID_MASK;
  if (!word_corrupt(cur) && ferry__alive((pid_t)tid, holder_start(m, tid)) != FERRY__DEAD)
    return -EAGAIN;
  /* The CAS from the very value we judged guarantees we replace that holder
   * and no later one (barring a tid reused within these microseconds:
   * [tid-reuse] in docs/design/sync.md). acquire: pairs with the release
   * exchange of the unlock that preceded the dead holder's lock, via
   * [word-rmw-only]; the dead holder's own stores were made visible by its
   * exit, which our /proc read (a system call, a full barrier) observed. */
  if (!atomic_compare_exchange_strong_explicit(&m->word, &cur, a->self | FERRY__MUTEX_OWNER_DIED,
                                               memory_order_acquire, memory_order_relaxed))
    return -EAGAIN;
  stamp_set(m, a->self);
  return -EOWNERDEAD;
}

int ferry_mutex_init(ferry_mutex *pm)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  /* relaxed: init must not overlap other calls (documented) */
  atomic_store_explicit(&m->word, 0, memory_order_relaxed);
  atomic_store_explicit(&m->ec, 0, memory_order_relaxed);
  atomic_store_explicit(&m->owner_stamp, 0, memory_order_relaxed);
  return 0;
}

int ferry_mutex_lock(ferry_mutex *pm, int64_t timeout_ns)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  if (timeout_ns < 0)
    return -EINVAL;
  struct lock_arg a = {.m = m, .self = self_tid()};
  uint32_t w = 0;
  /* acquire: as in lock_attempt(); the uncontended path, inlined */
  if (__builtin_expect(atomic_compare_exchange_strong_explicit(&m->word, &w, a.self,
                                                               memory_order_acquire,
                                                               memory_order_relaxed),
                       1)) {
    FERRY__CRASH_POINT("sync.lock.acquired");
    stamp_set(m, a.self);
    return 0;
  }
  if (w == FERRY__MUTEX_NOTRECOVERABLE)
    return -ENOTRECOVERABLE;
  if ((w & FERRY__MUTEX_TID_MASK) == a.self && !word_corrupt(w))
    return -EDEADLK;
  if (timeout_ns == 0)
    return -EAGAIN; /* a try: no spin, no liveness check, no syscall */
  ferry__waiter wt = {.ec = &m->ec,
                    .attempt = lock_attempt,
                    .slice = take_if_dead,
                    .arg = &a,
                    .spin_ns = SYNC_SPIN_NS,
                    .slice_ns = liveness_slice()};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&wt, timeout_ns, &deadline);
}

/* The word if the calling thread holds m, else 0. relaxed: only this
 * thread can move the tid field away from itself. */
static uint32_t held_word(struct ferry__mutex *m, uint32_t self)
{
  uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
  if (w == FERRY__MUTEX_NOTRECOVERABLE || (w & FERRY__MUTEX_TID_MASK) != self)
    return 0;
  return w;
}

int ferry_mutex_unlock(ferry_mutex *pm)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  uint32_t w = held_word(m, self_tid());
  if (w == 0)
    return FERRY_ENOTOWNER;
  /* relaxed: ordered before the exchange below by its release [stamp-tag] */
  atomic_store_explicit(&m->owner_stamp, 0, memory_order_relaxed);
  /* Still marked OWNER_DIED: the protected state was never declared
   * repaired, so nobody may trust it again. */
  uint32_t next = (w & FERRY__MUTEX_OWNER_DIED) ? FERRY__MUTEX_NOTRECOVERABLE : 0;
  /* seq_cst (release part): publishes our critical section; pairs with the
   * acquire CAS in lock_attempt() and take_if_dead(). As a seq_cst RMW it
   * is also the progress half of [wait-dekker] for the ec load below. */
  atomic_exchange_explicit(&m->word, next, memory_order_seq_cst);
  FERRY__CRASH_POINT("sync.unlock.released");
  if (next)
    ferry__ec_bump(&m->ec); /* everyone must see NOTRECOVERABLE */
  else
    ferry__ec_signal(&m->ec);
  return 0;
}

int ferry_mutex_consistent(ferry_mutex *pm)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  uint32_t w = held_word(m, self_tid());
  if (w == 0)
    return FERRY_ENOTOWNER;
  if (!(w & FERRY__MUTEX_OWNER_DIED))
    return -EINVAL;
  /* relaxed: we hold m; the bit publishes nothing, our unlock's release
   * will. */
  atomic_fetch_and_explicit(&m->word, ~FERRY__MUTEX_OWNER_DIED, memory_order_relaxed);
  return 0;
}

/* ---- condition variable ------------------------------------------------------ */

int ferry_cond_init(ferry_cond *pc)
{
  assert(pc);
  struct ferry__cond *c = COND(pc);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&c->ec, 0, memory_order_relaxed);
  c->reserved0 = 0;
  c->reserved = 0;
  return 0;
}

struct cond_arg {
  _Atomic uint32_t *ec;
  uint32_t seq; /* the ec's sequence when we registered */
};

/* Woken once the sequence moved past the one we registered at. */
static int cond_attempt(void *p, bool armed)
{
  (void)armed;
  struct cond_arg *a = p;
  /* relaxed: the mutex we take again orders everything that matters */
  uint32_t now = atomic_load_explicit(a->ec, memory_order_relaxed) & ~FERRY__EC_SLEEPER;
  return now != a->seq ? 0 : -EAGAIN;
}

int ferry_cond_wait(ferry_cond *pc, ferry_mutex *pm, int64_t timeout_ns)
{
  assert(pc && pm);
  struct ferry__cond *c = COND(pc);
  if (timeout_ns < 0)
    return -EINVAL;
  if (held_word(MUTEX(pm), self_tid()) == 0)
    return FERRY_ENOTOWNER;

  /* Register while holding the mutex: seq_cst RMW, one side of
   * [cond-dekker]. A signal after it (even one not under the mutex) steps
   * the sequence, and its own RMW on the word either comes after ours, and
   * sees S, or before, and then we registered at its sequence. */
  struct cond_arg a = {.ec = &c->ec};
  a.seq = atomic_fetch_or_explicit(&c->ec, FERRY__EC_SLEEPER, memory_order_seq_cst) &
          ~FERRY__EC_SLEEPER;
  int r = ferry_mutex_unlock(pm);
  assert(r == 0);
  (void)r;

  int result = wait_plain(&c->ec, cond_attempt, &a, 0, timeout_ns);

  /* No deadline: the mutex is robust, so this cannot hang on a dead owner,
   * and the caller must get the mutex back in every case but one. A signal
   * does not interrupt it either (EINTR is retried inside). */
  r = ferry_mutex_lock(pm, FERRY_FOREVER);
  if (r != 0)
    return r; /* -EOWNERDEAD (held) or -ENOTRECOVERABLE (not held) */
  return result;
}

/* Steps the sequence and wakes every waiter (a condition variable may
 * wake more than asked: callers re-check their predicate). Waking one
 * could hand the wake to a waiter that dies before it returns [wait-all]. */
static int cond_wake(ferry_cond *pc)
{
  assert(pc);
  ferry__ec_bump(&COND(pc)->ec);
  return 0;
}

int ferry_cond_signal(ferry_cond *pc) { return cond_wake(pc); }

int ferry_cond_broadcast(ferry_cond *pc) { return cond_wake(pc); }

/* ---- event ---------------------------------------------------------------------- */

int ferry_event_init(ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&e->word, 0, memory_order_relaxed);
  atomic_store_explicit(&e->ec, 0, memory_order_relaxed);
  e->reserved = 0;
  return 0;
}

int ferry_event_set(ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  /* release: publishes what the setter wrote before; pairs with the
   * acquire loads in event_attempt() and ferry_event_is_set() */
  uint32_t old = atomic_fetch_or_explicit(&e->word, FERRY__EVENT_SET, memory_order_release);
  if (!(old & FERRY__EVENT_SET))
    ferry__ec_bump(&e->ec); /* a new set: a new sequence, and wake all */
  return 0;
}

int ferry_event_clear(ferry_event *pe)
{
  assert(pe);
  /* relaxed: clearing publishes nothing. */
  atomic_fetch_and_explicit(&EVENT(pe)->word, ~FERRY__EVENT_SET, memory_order_relaxed);
  return 0;
}

int ferry_event_is_set(const ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT((ferry_event *)pe);
  /* acquire: pairs with the release in ferry_event_set() */
  return (atomic_load_explicit(&e->word, memory_order_acquire) & FERRY__EVENT_SET) != 0;
}

struct event_arg {
  struct ferry__event *e;
  uint32_t seq; /* the ec's sequence when the wait began */
};

static int event_attempt(void *p, bool armed)
{
  (void)armed;
  struct event_arg *a = p;
  /* acquire: pairs with the release in ferry_event_set() */
  if (atomic_load_explicit(&a->e->word, memory_order_acquire) & FERRY__EVENT_SET)
    return 0;
  /* acquire: the ec's release bump in ferry_event_set() follows its set;
   * a moved sequence means a set happened, even if a clear followed. */
  uint32_t seq = atomic_load_explicit(&a->e->ec, memory_order_acquire) & ~FERRY__EC_SLEEPER;
  return seq != a->seq ? 0 : -EAGAIN;
}

int ferry_event_wait(ferry_event *pe, int64_t timeout_ns)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  if (timeout_ns < 0)
    return -EINVAL;
  struct event_arg a = {.e = e};
  /* relaxed, then the acquire load of the word in event_attempt(): a set
   * whose bump we missed here has its bit seen there. */
  a.seq = atomic_load_explicit(&e->ec, memory_order_relaxed) & ~FERRY__EC_SLEEPER;
  return wait_plain(&e->ec, event_attempt, &a, 0, timeout_ns);
}

/* ---- semaphore ------------------------------------------------------------------ */

int ferry_sem_init(ferry_sem *ps, uint32_t value)
{
  assert(ps);
  struct ferry__sem *s = SEM(ps);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&s->value, value, memory_order_relaxed);
  atomic_store_explicit(&s->ec, 0, memory_order_relaxed);
  s->reserved = 0;
  return 0;
}

int ferry_sem_post(ferry_sem *ps)
{
  assert(ps);
  struct ferry__sem *s = SEM(ps);
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  do {
    if (v >= FERRY_SEM_VALUE_MAX)
      return -EOVERFLOW;
    /* seq_cst: release for sem_attempt()'s acquire CAS, and as a seq_cst
     * RMW the progress half of [wait-dekker] for the ec load below */
  } while (!atomic_compare_exchange_weak_explicit(&s->value, &v, v + 1, memory_order_seq_cst,
                                                  memory_order_relaxed));
  FERRY__CRASH_POINT("sync.post.posted");
  ferry__ec_signal(&s->ec);
  return 0;
}

/* Takes one if the value is positive. */
static int sem_attempt(void *p, bool armed)
{
  (void)armed;
  struct ferry__sem *s = p;
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  while (v > 0) {
    /* acquire: pairs with the release (seq_cst) CAS in ferry_sem_post() */
    if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                              memory_order_relaxed))
      return 0;
  }
  return -EAGAIN;
}

int ferry_sem_wait(ferry_sem *ps, int64_t timeout_ns)
{
  assert(ps);
  if (timeout_ns < 0)
    return -EINVAL;
  struct ferry__sem *s = SEM(ps);
  return wait_plain(&s->ec, sem_attempt, s, SYNC_SPIN_NS, timeout_ns);
}

uint32_t ferry_sem_value(const ferry_sem *ps)
{
  assert(ps);
  /* relaxed: a snapshot; it orders nothing */
  return atomic_load_explicit(&SEM((ferry_sem *)ps)->value, memory_order_relaxed);
}

/* ---- barrier ------------------------------------------------------------------- */

int ferry_barrier_init(ferry_barrier *pb, uint32_t parties)
{
  assert(pb);
  if (parties == 0 || parties > FERRY_BARRIER_MAX_PARTIES)
    return -EINVAL;
  struct ferry__barrier *b = BARRIER(pb);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&b->word, 0, memory_order_relaxed);
  atomic_store_explicit(&b->parties, parties, memory_order_relaxed);
  atomic_store_explicit(&b->ec, 0, memory_order_relaxed);
  b->reserved = 0;
  return 0;
}

static uint32_t barrier_phase(uint32_t w) { return w >> FERRY__BARRIER_PHASE_SHIFT; }

/* Gives back our arrival in `phase`. Returns 0 if the phase completed
 * meanwhile (we passed after all), else `err`. */
static int barrier_withdraw(struct ferry__barrier *b, uint32_t phase, int err)
{
  /* acquire: as in barrier_attempt(), in case the phase completed */
  uint32_t w = atomic_load_explicit(&b->word, memory_order_acquire);
  for (;;) {
    if (barrier_phase(w) != phase)
      return 0;
    if ((w & FERRY__BARRIER_ARRIVED_MASK) == 0)
      return err; /* corrupt: nothing of ours to give back [sync-corrupt] */
    /* acquire (C11 forbids a failure order stronger than the success
     * order): on failure the new value may be the completed phase, whose
     * release CAS in ferry_barrier_wait() this pairs with. Withdrawing
     * itself publishes nothing. */
    if (atomic_compare_exchange_weak_explicit(&b->word, &w, w - 1, memory_order_acquire,
                                              memory_order_acquire))
      return err;
  }
}

struct barrier_arg {
  struct ferry__barrier *b;
  uint32_t phase;
};

static int barrier_attempt(void *p, bool armed)
{
  (void)armed;
  struct barrier_arg *a = p;
  /* acquire: pairs with the acq_rel completing CAS in ferry_barrier_wait() */
  uint32_t w = atomic_load_explicit(&a->b->word, memory_order_acquire);
  return barrier_phase(w) != a->phase ? 0 : -EAGAIN;
}

int ferry_barrier_wait(ferry_barrier *pb, int64_t timeout_ns)
{
  assert(pb);
  struct ferry__barrier *b = BARRIER(pb);
  /* relaxed: written once by init, before the barrier is shared */
  uint32_t parties = atomic_load_explicit(&b->parties, memory_order_relaxed);
  if (parties == 0 || parties > FERRY_BARRIER_MAX_PARTIES || timeout_ns < 0)
    return -EINVAL;

  uint32_t w = atomic_load_explicit(&b->word, memory_order_relaxed);
  struct barrier_arg a = {.b = b};
  for (;;) {
    a.phase = barrier_phase(w);
    uint32_t arrived = w & FERRY__BARRIER_ARRIVED_MASK;
    if (arrived + 1 >= parties) {
      uint32_t next = ((a.phase + 1) & FERRY__BARRIER_ARRIVED_MASK) << FERRY__BARRIER_PHASE_SHIFT;
      /* acq_rel: acquire sees every arrival's prior writes (each arrival
       * is a release RMW, and RMWs continue release sequences); release
       * hands them, and ours, to the waiters' acquire loads */
      if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        FERRY__CRASH_POINT("sync.barrier.completed");
        ferry__ec_bump(&b->ec);
        return FERRY_BARRIER_SERIAL;
      }
      continue;
    }
    /* release: publishes our pre-barrier writes to the completing CAS */
    if (atomic_compare_exchange_weak_explicit(&b->word, &w, w + 1, memory_order_release,
                                              memory_order_relaxed))
      break;
  }
  int rc = wait_plain(&b->ec, barrier_attempt, &a, 0, timeout_ns);
  if (rc == 0)
    return 0;
  return barrier_withdraw(b, a.phase, rc);
}

/* ---- counters ------------------------------------------------------------------ */
/* seq_cst throughout: counters double as flags between processes, and the
 * single total order is what users of Python's Value expect. Each operation
 * pairs with every other operation on the same counter. */

void ferry_counter_init(ferry_counter *pc, int64_t v)
{
  assert(pc);
  atomic_store_explicit(&COUNTER(pc)->value, v, memory_order_seq_cst);
}

int64_t ferry_counter_load(const ferry_counter *pc)
{
  assert(pc);
  return atomic_load_explicit(&COUNTER((ferry_counter *)pc)->value, memory_order_seq_cst);
}

void ferry_counter_store(ferry_counter *pc, int64_t v)
{
  assert(pc);
  atomic_store_explicit(&COUNTER(pc)->value, v, memory_order_seq_cst);
}

int64_t ferry_counter_add(ferry_counter *pc, int64_t delta)
{
  assert(pc);
  int64_t old = atomic_fetch_add_explicit(&COUNTER(pc)->value, delta, memory_order_seq_cst);
  /* Wrap like the atomic did, without signed-overflow UB. */
  return (int64_t)((uint64_t)old + (uint64_t)delta);
}

int64_t ferry_counter_exchange(ferry_counter *pc, int64_t v)
{
  assert(pc);
  return atomic_exchange_explicit(&COUNTER(pc)->value, v, memory_order_seq_cst);
}

int ferry_counter_cas(ferry_counter *pc, int64_t *expected, int64_t desired)
{
  assert(pc && expected);
  return atomic_compare_exchange_strong_explicit(&COUNTER(pc)->value, expected, desired,
                                                 memory_order_seq_cst, memory_order_seq_cst);
}
