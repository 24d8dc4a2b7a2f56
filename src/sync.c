/*
 * sync.c: process-shared mutex, condition variable, event, semaphore,
 * barrier and atomic counters on futexes (ferry/sync.h). The layouts and
 * futex-word state tables are in sync_layout.h; the claims and proof
 * sketches in docs/design/sync.md.
 *
 * Hot paths make no system call: an uncontended lock is one CAS and an
 * uncontended unlock one exchange; signal, post and set call the kernel only
 * when a waiter has registered. Futexes are shared (no FUTEX_PRIVATE_FLAG:
 * see core.h), so processes that map the memory at different addresses
 * meet on the same word.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "core/core.h"
#include "ferry/sync.h"
#include "sync_layout.h"

/*
 * Locker spin before sleeping: 100 rounds of ferry__cpu_relax(). A pause is
 * roughly 10 to 150 cycles depending on the CPU, so this is a few hundred
 * nanoseconds to a few microseconds: about what a futex sleep plus wake-up
 * costs. A critical section of the length ferry uses (index updates) is
 * usually over within it, and a long one wastes little more than one wake
 * would. We spin only while nobody is asleep on the word: if somebody is,
 * the lock is held long or hotly contended, and queueing is cheaper.
 */
#define MUTEX_SPIN 100

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

/* futex_wait results that only mean "look again". */
static bool futex_retry(int r)
{
  return r == 0 || r == -EAGAIN || r == -EINTR;
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

/*
 * A sleep slice ended without a wake-up: if the holder is dead, take the
 * mutex over. Returns -EOWNERDEAD once taken, else 0 with *w reloaded.
 * Only called after we slept, so other sleepers may exist: the taken word
 * keeps WAITERS set for our unlock to wake them (a superset of "preserve
 * the observed bit", which it would otherwise be).
 */
static int take_if_dead(struct ferry__mutex *m, uint32_t self, uint32_t *w)
{
  /* acquire: orders the stamp load after it, and by [word-rmw-only] hides
   * every stamp that was cleared before an earlier unlock */
  uint32_t cur = atomic_load_explicit(&m->word, memory_order_acquire);
  *w = cur;
  if (cur == 0 || cur == FERRY__MUTEX_NOTRECOVERABLE)
    return 0;
  uint32_t tid = cur & FERRY__MUTEX_TID_MASK;
  if (ferry__alive((pid_t)tid, holder_start(m, tid)) != FERRY__DEAD)
    return 0;
  /* The CAS from the very value we judged guarantees we replace that holder
   * and no later one (barring a tid reused within these microseconds:
   * [tid-reuse] in docs/design/sync.md). */
  uint32_t want = self | FERRY__MUTEX_OWNER_DIED | FERRY__MUTEX_WAITERS;
  /* acquire: pairs with the release exchange of the unlock that preceded
   * the dead holder's lock, via [word-rmw-only]. The dead holder's own
   * stores were made visible by its exit, which our /proc read (a system
   * call, a full barrier) observed. */
  if (!atomic_compare_exchange_strong_explicit(&m->word, &cur, want, memory_order_acquire,
                                               memory_order_relaxed)) {
    *w = cur;
    return 0;
  }
  stamp_set(m, self);
  return -EOWNERDEAD;
}

int ferry_mutex_init(ferry_mutex *pm)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  /* relaxed: init must not overlap other calls (documented) */
  atomic_store_explicit(&m->word, 0, memory_order_relaxed);
  m->reserved = 0;
  atomic_store_explicit(&m->owner_stamp, 0, memory_order_relaxed);
  return 0;
}

static int mutex_lock_slow(struct ferry__mutex *m, uint32_t self, uint32_t w, int64_t timeout_ns)
{
  if (w == FERRY__MUTEX_NOTRECOVERABLE)
    return -ENOTRECOVERABLE;
  if ((w & FERRY__MUTEX_TID_MASK) == self)
    return -EDEADLK;
  if (timeout_ns == 0)
    return -EAGAIN; /* a try: no spin, no liveness check, no syscall */

  for (int i = 0; i < MUTEX_SPIN && w != 0 && !(w & FERRY__MUTEX_WAITERS); i++) {
    ferry__cpu_relax();
    w = atomic_load_explicit(&m->word, memory_order_relaxed);
  }

  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  assert(rc == 0);
  (void)rc;
  /* Once we have slept, other sleepers may exist that our unlock must wake,
   * so we acquire with WAITERS set (the classic three-state futex mutex). */
  uint32_t slept = 0;
  for (;;) {
    if (w == 0) {
      /* acquire: pairs with the release exchange in ferry_mutex_unlock() */
      if (atomic_compare_exchange_weak_explicit(&m->word, &w, self | slept, memory_order_acquire,
                                                memory_order_relaxed)) {
        stamp_set(m, self);
        return 0;
      }
      continue;
    }
    if (w == FERRY__MUTEX_NOTRECOVERABLE)
      return -ENOTRECOVERABLE;
    if (!(w & FERRY__MUTEX_WAITERS)) {
      /* relaxed: the bit only asks the holder's unlock to call the kernel;
       * the futex call compares the word itself */
      if (!atomic_compare_exchange_weak_explicit(&m->word, &w, w | FERRY__MUTEX_WAITERS,
                                                 memory_order_relaxed, memory_order_relaxed))
        continue;
      w |= FERRY__MUTEX_WAITERS;
    }
    int r = ferry__futex_wait(&m->word, w, ferry__slice_end(deadline, liveness_slice()));
    slept = FERRY__MUTEX_WAITERS;
    if (r == -ETIMEDOUT) {
      /* A slice (or the whole wait) ended with no wake-up: is the holder
       * still alive? Checked at the deadline too, so any timeout > 0 looks
       * at least once. */
      int t = take_if_dead(m, self, &w);
      if (t != 0)
        return t;
      if (deadline != FERRY__NO_DEADLINE && ferry__now_ns() >= deadline)
        return -ETIMEDOUT;
      continue;
    }
    if (!futex_retry(r))
      return r;
    w = atomic_load_explicit(&m->word, memory_order_relaxed);
  }
}

int ferry_mutex_lock(ferry_mutex *pm, int64_t timeout_ns)
{
  assert(pm);
  struct ferry__mutex *m = MUTEX(pm);
  if (timeout_ns < 0)
    return -EINVAL;
  uint32_t self = self_tid();
  uint32_t w = 0;
  /* acquire: pairs with the release exchange in ferry_mutex_unlock(), so
   * the previous holder's critical section happens before ours */
  if (__builtin_expect(atomic_compare_exchange_strong_explicit(&m->word, &w, self,
                                                               memory_order_acquire,
                                                               memory_order_relaxed),
                       1)) {
    stamp_set(m, self);
    return 0;
  }
  return mutex_lock_slow(m, self, w, timeout_ns);
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
  /* release: publishes our critical section; pairs with the acquire CAS in
   * ferry_mutex_lock(), mutex_lock_slow() and take_if_dead() */
  uint32_t old = atomic_exchange_explicit(&m->word, next, memory_order_release);
  if (old & FERRY__MUTEX_WAITERS)
    ferry__futex_wake(&m->word, next ? INT_MAX : 1);
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
   * will. An RMW, because lockers may be setting WAITERS concurrently. */
  atomic_fetch_and_explicit(&m->word, ~FERRY__MUTEX_OWNER_DIED, memory_order_relaxed);
  return 0;
}

/* ---- condition variable ------------------------------------------------------ */

int ferry_cond_init(ferry_cond *pc)
{
  assert(pc);
  struct ferry__cond *c = COND(pc);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&c->seq, 0, memory_order_relaxed);
  atomic_store_explicit(&c->waiters, 0, memory_order_relaxed);
  c->reserved = 0;
  return 0;
}

int ferry_cond_wait(ferry_cond *pc, ferry_mutex *pm, int64_t timeout_ns)
{
  assert(pc && pm);
  struct ferry__cond *c = COND(pc);
  if (timeout_ns < 0)
    return -EINVAL;
  if (held_word(MUTEX(pm), self_tid()) == 0)
    return FERRY_ENOTOWNER;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  assert(rc == 0);
  (void)rc;

  /* Register, then read the sequence, both while holding the mutex. seq_cst
   * (both): a Dekker pair with ferry_cond_signal()'s seq increment and
   * waiters load [cond-dekker]: either the signaller sees us registered and
   * wakes, or we read its new sequence and do not sleep. */
  atomic_fetch_add_explicit(&c->waiters, 1, memory_order_seq_cst);
  uint32_t seq = atomic_load_explicit(&c->seq, memory_order_seq_cst);
  int r = ferry_mutex_unlock(pm);
  assert(r == 0);

  int result;
  if (timeout_ns == 0) {
    result = atomic_load_explicit(&c->seq, memory_order_relaxed) != seq ? 0 : -EAGAIN;
  } else {
    for (;;) {
      int f = ferry__futex_wait(&c->seq, seq, deadline);
      if (f == -EINTR && atomic_load_explicit(&c->seq, memory_order_relaxed) == seq)
        continue;
      if (f == -ETIMEDOUT)
        result = atomic_load_explicit(&c->seq, memory_order_relaxed) != seq ? 0 : -ETIMEDOUT;
      else
        result = 0; /* woken, sequence moved, or anything odd: a spurious
                       wake-up, which callers handle by re-checking */
      break;
    }
  }
  /* relaxed: the count only decides whether signallers call the kernel; a
   * stale nonzero value costs one useless wake */
  atomic_fetch_sub_explicit(&c->waiters, 1, memory_order_relaxed);

  /* No deadline: the mutex is robust, so this cannot hang on a dead owner,
   * and the caller must get the mutex back in every case but one. */
  r = ferry_mutex_lock(pm, FERRY_FOREVER);
  if (r != 0)
    return r; /* -EOWNERDEAD (held) or -ENOTRECOVERABLE (not held) */
  return result;
}

static int cond_wake(ferry_cond *pc, int n)
{
  assert(pc);
  struct ferry__cond *c = COND(pc);
  /* seq_cst: the other half of [cond-dekker] with ferry_cond_wait() */
  atomic_fetch_add_explicit(&c->seq, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&c->waiters, memory_order_seq_cst) != 0)
    ferry__futex_wake(&c->seq, n);
  return 0;
}

int ferry_cond_signal(ferry_cond *pc) { return cond_wake(pc, 1); }

/* Wakes everyone rather than requeueing them onto the mutex word: a
 * requeued sleeper would sit on the mutex without having set its WAITERS
 * bit and without its liveness slices; wake-all keeps both invariants. */
int ferry_cond_broadcast(ferry_cond *pc) { return cond_wake(pc, INT_MAX); }

/* ---- event ---------------------------------------------------------------------- */

int ferry_event_init(ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&e->word, 0, memory_order_relaxed);
  for (int i = 0; i < 3; i++)
    e->reserved[i] = 0;
  return 0;
}

int ferry_event_set(ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  uint32_t w = atomic_load_explicit(&e->word, memory_order_relaxed);
  for (;;) {
    if (w & FERRY__EVENT_SET)
      return 0; /* the set that made it so has woken the sleepers */
    uint32_t next = ((w & ~(FERRY__EVENT_SET | FERRY__EVENT_WAITERS)) + FERRY__EVENT_GEN_ONE) |
                    FERRY__EVENT_SET;
    /* release: publishes what the setter wrote before; pairs with the
     * acquire loads in ferry_event_wait() and ferry_event_is_set() */
    if (atomic_compare_exchange_weak_explicit(&e->word, &w, next, memory_order_release,
                                              memory_order_relaxed)) {
      if (w & FERRY__EVENT_WAITERS)
        ferry__futex_wake(&e->word, INT_MAX);
      return 0;
    }
  }
}

int ferry_event_clear(ferry_event *pe)
{
  assert(pe);
  /* relaxed: clearing publishes nothing. An RMW keeps the generation and a
   * concurrently set WAITERS bit. */
  atomic_fetch_and_explicit(&EVENT(pe)->word, ~FERRY__EVENT_SET, memory_order_relaxed);
  return 0;
}

int ferry_event_is_set(const ferry_event *pe)
{
  assert(pe);
  struct ferry__event *e = EVENT((ferry_event *)pe);
  /* acquire: pairs with the release CAS in ferry_event_set() */
  return (atomic_load_explicit(&e->word, memory_order_acquire) & FERRY__EVENT_SET) != 0;
}

int ferry_event_wait(ferry_event *pe, int64_t timeout_ns)
{
  assert(pe);
  struct ferry__event *e = EVENT(pe);
  if (timeout_ns < 0)
    return -EINVAL;
  /* acquire: pairs with the release CAS in ferry_event_set() */
  uint32_t w = atomic_load_explicit(&e->word, memory_order_acquire);
  if (w & FERRY__EVENT_SET)
    return 0;
  if (timeout_ns == 0)
    return -EAGAIN;
  /* Released by a set even if a clear follows before we run: a set always
   * moves the generation. */
  const uint32_t gen_mask = ~(FERRY__EVENT_SET | FERRY__EVENT_WAITERS);
  uint32_t gen = w & gen_mask;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  assert(rc == 0);
  (void)rc;
  for (;;) {
    if ((w & FERRY__EVENT_SET) || (w & gen_mask) != gen)
      return 0;
    if (!(w & FERRY__EVENT_WAITERS)) {
      /* relaxed: the bit only asks set to call the kernel; the futex call
       * compares the word itself */
      if (!atomic_compare_exchange_weak_explicit(&e->word, &w, w | FERRY__EVENT_WAITERS,
                                                 memory_order_relaxed, memory_order_relaxed)) {
        /* acquire: as above, in case the new value says "set" */
        w = atomic_load_explicit(&e->word, memory_order_acquire);
        continue;
      }
      w |= FERRY__EVENT_WAITERS;
    }
    int r = ferry__futex_wait(&e->word, w, deadline);
    /* acquire: pairs with the release CAS in ferry_event_set() */
    w = atomic_load_explicit(&e->word, memory_order_acquire);
    if ((w & FERRY__EVENT_SET) || (w & gen_mask) != gen)
      return 0;
    if (r == -ETIMEDOUT)
      return -ETIMEDOUT;
    if (!futex_retry(r))
      return r;
  }
}

/* ---- semaphore ------------------------------------------------------------------ */

int ferry_sem_init(ferry_sem *ps, uint32_t value)
{
  assert(ps);
  struct ferry__sem *s = SEM(ps);
  /* relaxed: init must not overlap other calls */
  atomic_store_explicit(&s->value, value, memory_order_relaxed);
  atomic_store_explicit(&s->waiters, 0, memory_order_relaxed);
  s->reserved = 0;
  return 0;
}

int ferry_sem_post(ferry_sem *ps)
{
  assert(ps);
  struct ferry__sem *s = SEM(ps);
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  do {
    if (v == FERRY_SEM_VALUE_MAX)
      return -EOVERFLOW;
    /* seq_cst: release for sem_take()'s acquire CAS, and one half of the
     * Dekker pair [sem-dekker] with ferry_sem_wait()'s registration */
  } while (!atomic_compare_exchange_weak_explicit(&s->value, &v, v + 1, memory_order_seq_cst,
                                                  memory_order_relaxed));
  /* seq_cst: [sem-dekker] */
  if (atomic_load_explicit(&s->waiters, memory_order_seq_cst) != 0)
    ferry__futex_wake(&s->value, 1);
  return 0;
}

/* Takes one if the value is positive. */
static bool sem_take(struct ferry__sem *s)
{
  /* seq_cst: after a registration this is the load half of [sem-dekker] */
  uint32_t v = atomic_load_explicit(&s->value, memory_order_seq_cst);
  while (v > 0) {
    /* acquire: pairs with the release (seq_cst) CAS in ferry_sem_post() */
    if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                              memory_order_relaxed))
      return true;
  }
  return false;
}

int ferry_sem_wait(ferry_sem *ps, int64_t timeout_ns)
{
  assert(ps);
  struct ferry__sem *s = SEM(ps);
  if (timeout_ns < 0)
    return -EINVAL;
  if (sem_take(s))
    return 0;
  if (timeout_ns == 0)
    return -EAGAIN;
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  assert(rc == 0);
  (void)rc;
  /* seq_cst: the store half of [sem-dekker]; with post's CAS and load,
   * either post sees us registered and wakes, or we see its value */
  atomic_fetch_add_explicit(&s->waiters, 1, memory_order_seq_cst);
  int result;
  for (;;) {
    if (sem_take(s)) {
      result = 0;
      break;
    }
    int f = ferry__futex_wait(&s->value, 0, deadline);
    if (f == -ETIMEDOUT) {
      result = sem_take(s) ? 0 : -ETIMEDOUT;
      break;
    }
    if (!futex_retry(f)) {
      result = f;
      break;
    }
  }
  /* relaxed: the count only decides whether posters call the kernel */
  atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
  return result;
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
  b->reserved = 0;
  return 0;
}

static uint32_t barrier_phase(uint32_t w) { return w >> FERRY__BARRIER_PHASE_SHIFT; }

/* Gives back our arrival in `phase`. Returns 0 if the phase completed
 * meanwhile (we passed after all), else `err`. */
static int barrier_withdraw(struct ferry__barrier *b, uint32_t phase, int err)
{
  /* acquire: as in ferry_barrier_wait(), in case the phase completed */
  uint32_t w = atomic_load_explicit(&b->word, memory_order_acquire);
  for (;;) {
    if (barrier_phase(w) != phase)
      return 0;
    assert((w & FERRY__BARRIER_ARRIVED_MASK) > 0);
    /* acquire (C11 forbids a failure order stronger than the success
     * order): on failure the new value may be the completed phase, whose
     * release CAS in ferry_barrier_wait() this pairs with. Withdrawing
     * itself publishes nothing. */
    if (atomic_compare_exchange_weak_explicit(&b->word, &w, w - 1, memory_order_acquire,
                                              memory_order_acquire))
      return err;
  }
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
  uint32_t phase;
  for (;;) {
    phase = barrier_phase(w);
    uint32_t arrived = w & FERRY__BARRIER_ARRIVED_MASK;
    if (arrived + 1 >= parties) {
      uint32_t next = ((phase + 1) & FERRY__BARRIER_ARRIVED_MASK) << FERRY__BARRIER_PHASE_SHIFT;
      /* acq_rel: acquire sees every arrival's prior writes (each arrival
       * is a release RMW, and RMWs continue release sequences); release
       * hands them, and ours, to the waiters' acquire loads below */
      if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        if (arrived > 0)
          ferry__futex_wake(&b->word, INT_MAX);
        return FERRY_BARRIER_SERIAL;
      }
      continue;
    }
    /* release: publishes our pre-barrier writes to the completing CAS */
    if (atomic_compare_exchange_weak_explicit(&b->word, &w, w + 1, memory_order_release,
                                              memory_order_relaxed)) {
      w += 1;
      break;
    }
  }

  if (timeout_ns == 0)
    return barrier_withdraw(b, phase, -EAGAIN);
  int64_t deadline;
  int rc = ferry__deadline(timeout_ns, &deadline);
  assert(rc == 0);
  (void)rc;
  for (;;) {
    int f = ferry__futex_wait(&b->word, w, deadline);
    /* acquire: pairs with the acq_rel completing CAS above */
    w = atomic_load_explicit(&b->word, memory_order_acquire);
    if (barrier_phase(w) != phase)
      return 0;
    if (f == -ETIMEDOUT)
      return barrier_withdraw(b, phase, -ETIMEDOUT);
    if (!futex_retry(f))
      return barrier_withdraw(b, phase, f);
  }
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
