/*
 * sync_layout.h: the in-memory layout of the sync objects (ferry/sync.h),
 * which live in shared memory, usually inside other objects' regions.
 * Never installed. The reasoning behind the states: docs/design/sync.md.
 *
 * These are embedded objects, not regions: they carry no magic or version
 * of their own. The layout version of the region that holds them covers
 * them, so any change here is a region layout change. Offsets only, no
 * pointers; integers are native-endian. Every object's all-zero state is
 * valid (except the barrier's, whose `parties` must be set by init).
 *
 * ferry_mutex (16 bytes)
 *   offset  size  field         meaning
 *        0     4  word          futex: owner tid | OWNER_DIED | WAITERS
 *        4     4  reserved      zero
 *        8     8  owner_stamp   start << 22 | tid of the owner, or 0
 *
 * ferry_cond (16 bytes)
 *        0     4  seq           futex: bumped by every signal/broadcast
 *        4     4  waiters       threads between registering and leaving
 *        8     8  reserved      zero
 *
 * ferry_event (16 bytes)
 *        0     4  word          futex: generation << 2 | WAITERS | SET
 *        4    12  reserved      zero
 *
 * ferry_sem (16 bytes)
 *        0     4  value         futex: the semaphore's value
 *        4     4  waiters       threads registered as (about to be) asleep
 *        8     8  reserved      zero
 *
 * ferry_barrier (16 bytes)
 *        0     4  word          futex: phase << 16 | arrived
 *        4     4  parties       1..65535, written by init only
 *        8     8  reserved      zero
 *
 * ferry_counter (8 bytes)
 *        0     8  value         the counter
 *
 * ---- the mutex word -----------------------------------------------------
 *
 *   bit 31  WAITERS      some locker may be asleep on the word: unlock
 *                        must FUTEX_WAKE
 *   bit 30  OWNER_DIED   the holder took the mutex over from a dead owner
 *                        and has not called consistent yet
 *   0..29   tid          the holder's kernel thread id (ferry__tid()); Linux
 *                        tids are below PID_MAX_LIMIT = 2^22
 *
 *   state           word              reached by                 left by
 *   --------------  ----------------  -------------------------  ---------------
 *   FREE            0                 init, unlock               lock CAS
 *   HELD            tid               lock CAS (never slept)     unlock, WAIT,
 *                                                                TAKE
 *   HELD+W          tid|W             a locker about to sleep    unlock (wakes
 *                                     (CAS), or lock CAS by a    one), TAKE
 *                                     locker that has slept
 *   TAKEN[+W]       tid|OD[|W]        TAKE: a locker saw the     consistent
 *                                     holder dead and CASed      (-> HELD[+W]),
 *                                     the observed word to       unlock (->
 *                                     self|OD|observed W         NOTRECOVERABLE),
 *                                                                TAKE again
 *   NOTRECOVERABLE  0x3fffffff        unlock of TAKEN (wakes     init only
 *                                     every sleeper)
 *
 *   The tid field never holds 0x3fffffff for a real thread (2^30 - 1 is far
 *   above PID_MAX_LIMIT), so NOTRECOVERABLE cannot be mistaken for a holder.
 *   Every change of the word after init is an atomic read-modify-write, so
 *   each unlock's release heads a release sequence that every later value
 *   continues [word-rmw-only]; an acquire load of the word therefore sees
 *   every store that preceded any earlier unlock.
 *
 * ---- the owner stamp [stamp-tag] ------------------------------------------
 *
 *   The owner stores start << 22 | tid right after its lock CAS succeeds and
 *   stores 0 right before its unlock exchange; start is ferry__tid_start().
 *   Because the stamp is written apart from the word, a locker that reads
 *   the word and then the stamp may see the stamp of another holding
 *   period. The tid tag lets it tell: it trusts the start time only when the
 *   stamp's tid equals the word's tid, and otherwise checks only that the
 *   tid exists. Without the tag, a stamp left by holder B could be paired
 *   with holder A's tid, call the live A dead, and break mutual exclusion.
 *   A start that does not fit in 42 bits (over 1300 years of uptime at
 *   USER_HZ = 100) is stored as 0: "unknown".
 *
 * ---- the event word ---------------------------------------------------------
 *
 *   bit 0      SET        the event is set
 *   bit 1      WAITERS    some waiter may be asleep: set must FUTEX_WAKE
 *   bits 2..31 generation bumped by every set that changes clear to set
 *
 *   state      word          reached by                    left by
 *   ---------  ------------  ----------------------------  -----------------
 *   CLEAR      g<<2          init, clear                   WAIT, set
 *   CLEAR+W    g<<2|W        a waiter about to sleep       set (wakes all)
 *   SET        (g+1)<<2|S    set (drops W: everyone woken) clear (-> CLEAR)
 *
 *   A waiter notes g when it starts and returns once it sees SET or another
 *   generation, so a set followed at once by a clear still releases it.
 *
 * ---- the barrier word ------------------------------------------------------
 *
 *   bits 0..15   arrived  parties waiting in the current phase (< parties)
 *   bits 16..31  phase    bumped (mod 2^16) by the arrival that completes
 *                         a phase, which also resets arrived to 0
 *   Arrive: CAS arrived+1. Complete: CAS to (phase+1)<<16 and wake all.
 *   Withdraw on timeout: CAS arrived-1, only while the phase is unchanged.
 *   A waiter stays counted in `arrived` while it waits, so the phase can
 *   advance at most once before it sees the change: no ABA on the phase.
 */
#ifndef FERRY_SYNC_LAYOUT_H
#define FERRY_SYNC_LAYOUT_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/sync.h"

/* ---- mutex ---- */
#define FERRY__MUTEX_WAITERS UINT32_C(0x80000000)
#define FERRY__MUTEX_OWNER_DIED UINT32_C(0x40000000)
#define FERRY__MUTEX_TID_MASK UINT32_C(0x3fffffff)
#define FERRY__MUTEX_NOTRECOVERABLE FERRY__MUTEX_TID_MASK

#define FERRY__STAMP_TID_BITS 22
#define FERRY__STAMP_TID_MASK ((UINT64_C(1) << FERRY__STAMP_TID_BITS) - 1)
#define FERRY__STAMP_START_MAX (UINT64_MAX >> FERRY__STAMP_TID_BITS)

struct ferry__mutex {
  _Atomic uint32_t word;
  uint32_t reserved;
  _Atomic uint64_t owner_stamp;
};

/* ---- cond ---- */
struct ferry__cond {
  _Atomic uint32_t seq;
  _Atomic uint32_t waiters;
  uint64_t reserved;
};

/* ---- event ---- */
#define FERRY__EVENT_SET UINT32_C(0x1)
#define FERRY__EVENT_WAITERS UINT32_C(0x2)
#define FERRY__EVENT_GEN_SHIFT 2
#define FERRY__EVENT_GEN_ONE (UINT32_C(1) << FERRY__EVENT_GEN_SHIFT)

struct ferry__event {
  _Atomic uint32_t word;
  uint32_t reserved[3];
};

/* ---- semaphore ---- */
struct ferry__sem {
  _Atomic uint32_t value;
  _Atomic uint32_t waiters;
  uint64_t reserved;
};

/* ---- barrier ---- */
#define FERRY__BARRIER_ARRIVED_MASK UINT32_C(0xffff)
#define FERRY__BARRIER_PHASE_SHIFT 16

struct ferry__barrier {
  _Atomic uint32_t word;
  _Atomic uint32_t parties;
  uint64_t reserved;
};

/* ---- counter ---- */
struct ferry__counter {
  _Atomic int64_t value;
};

/* The opaque public structs must hold the real ones exactly. */
#define FERRY__SYNC_FITS(pub, priv)                                                      \
  static_assert(sizeof(pub) == sizeof(priv), #priv " size");                             \
  static_assert(_Alignof(pub) >= _Alignof(priv), #priv " alignment")

FERRY__SYNC_FITS(ferry_mutex, struct ferry__mutex);
FERRY__SYNC_FITS(ferry_cond, struct ferry__cond);
FERRY__SYNC_FITS(ferry_event, struct ferry__event);
FERRY__SYNC_FITS(ferry_sem, struct ferry__sem);
FERRY__SYNC_FITS(ferry_barrier, struct ferry__barrier);
FERRY__SYNC_FITS(ferry_counter, struct ferry__counter);

static_assert(offsetof(struct ferry__mutex, word) == 0, "mutex word");
static_assert(offsetof(struct ferry__mutex, owner_stamp) == 8, "mutex owner_stamp");
static_assert(offsetof(struct ferry__cond, seq) == 0, "cond seq");
static_assert(offsetof(struct ferry__cond, waiters) == 4, "cond waiters");
static_assert(offsetof(struct ferry__event, word) == 0, "event word");
static_assert(offsetof(struct ferry__sem, value) == 0, "sem value");
static_assert(offsetof(struct ferry__sem, waiters) == 4, "sem waiters");
static_assert(offsetof(struct ferry__barrier, word) == 0, "barrier word");
static_assert(offsetof(struct ferry__barrier, parties) == 4, "barrier parties");
static_assert(offsetof(struct ferry__counter, value) == 0, "counter value");

/* Futex words are 32-bit and must be plain memory the kernel can compare. */
static_assert(sizeof(_Atomic uint32_t) == 4, "futex word size");
/* Cross-process atomics must be lock-free: a libatomic lock table is
 * private to each process and would protect nothing here. */
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

static_assert(FERRY_BARRIER_MAX_PARTIES == FERRY__BARRIER_ARRIVED_MASK, "barrier parties");

#endif /* FERRY_SYNC_LAYOUT_H */
