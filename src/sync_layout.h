/* SPDX-License-Identifier: MIT */
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
 * Every object that can be waited on pairs its state word with an event
 * count (`ec`, src/core/wait.h): waiters sleep on the ec, never on the
 * state, and every wake goes through it [wait-all]. Version 2 of the
 * layout; version 1 kept waiter counts and WAITERS bits instead.
 *
 * ferry_mutex (16 bytes)
 *   offset  size  field         meaning
 *        0     4  word          owner tid | OWNER_DIED, or 0, or NOTRECOVERABLE
 *        4     4  ec            event count: stepped by contended unlocks
 *        8     8  owner_stamp   start << 22 | tid of the owner, or 0
 *
 * ferry_cond (16 bytes)
 *        0     4  ec            event count: stepped by every signal/broadcast
 *        4    12  reserved      zero
 *
 * ferry_event (16 bytes)
 *        0     4  word          SET (bit 0)
 *        4     4  ec            event count: stepped by every set
 *        8     8  reserved      zero
 *
 * ferry_sem (16 bytes)
 *        0     4  value         the semaphore's value
 *        4     4  ec            event count: stepped by posts that find a
 *                               sleeper
 *        8     8  reserved      zero
 *
 * ferry_barrier (16 bytes)
 *        0     4  word          phase << 16 | arrived
 *        4     4  parties       1..65535, written by init only
 *        8     4  ec            event count: stepped by each completed phase
 *       12     4  reserved      zero
 *
 * ferry_counter (8 bytes)
 *        0     8  value         the counter
 *
 * ---- the mutex word -----------------------------------------------------
 *
 *   bit 31  reserved     zero (WAITERS in version 1)
 *   bit 30  OWNER_DIED   the holder took the mutex over from a dead owner
 *                        and has not called consistent yet
 *   0..29   tid          the holder's kernel thread id (ferry__tid()); Linux
 *                        tids are below PID_MAX_LIMIT = 2^22
 *
 *   state           word              reached by                 left by
 *   --------------  ----------------  -------------------------  ---------------
 *   FREE            0                 init, unlock               lock CAS
 *   HELD            tid               lock CAS                   unlock, TAKE
 *   TAKEN           tid|OD            TAKE: a locker saw the     consistent
 *                                     holder dead and CASed      (-> HELD),
 *                                     the observed word to       unlock (->
 *                                     self|OD                    NOTRECOVERABLE),
 *                                                                TAKE again
 *   NOTRECOVERABLE  0x3fffffff        unlock of TAKEN            init only
 *
 *   Unlock steps the ec and wakes every sleeper when one announced itself
 *   (its S bit); the woken lockers race for the word, and the losers sleep
 *   again. Any other value of the word (bit 31 set, a tid of 0) is corrupt:
 *   lockers treat it as held by a holder that is not alive, and take it
 *   over with -EOWNERDEAD [sync-corrupt].
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
 * ---- the event ---------------------------------------------------------------
 *
 *   word bit 0 SET. A waiter notes the ec's sequence when it starts and
 *   returns once it sees SET or another sequence: set steps the ec after
 *   setting the bit, so a set followed at once by a clear still releases
 *   every waiter that started before the set.
 *
 * ---- the barrier word ------------------------------------------------------
 *
 *   bits 0..15   arrived  parties waiting in the current phase (< parties)
 *   bits 16..31  phase    bumped (mod 2^16) by the arrival that completes
 *                         a phase, which also resets arrived to 0
 *   Arrive: CAS arrived+1. Complete: CAS to (phase+1)<<16, then step the
 *   ec, which wakes every sleeper.
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
#define FERRY__MUTEX_OWNER_DIED UINT32_C(0x40000000)
#define FERRY__MUTEX_TID_MASK UINT32_C(0x3fffffff)
#define FERRY__MUTEX_NOTRECOVERABLE FERRY__MUTEX_TID_MASK

#define FERRY__STAMP_TID_BITS 22
#define FERRY__STAMP_TID_MASK ((UINT64_C(1) << FERRY__STAMP_TID_BITS) - 1)
#define FERRY__STAMP_START_MAX (UINT64_MAX >> FERRY__STAMP_TID_BITS)

struct ferry__mutex {
  _Atomic uint32_t word;
  _Atomic uint32_t ec;
  _Atomic uint64_t owner_stamp;
};

/* ---- cond ---- */
struct ferry__cond {
  _Atomic uint32_t ec;
  uint32_t reserved0;
  uint64_t reserved;
};

/* ---- event ---- */
#define FERRY__EVENT_SET UINT32_C(0x1)

struct ferry__event {
  _Atomic uint32_t word;
  _Atomic uint32_t ec;
  uint64_t reserved;
};

/* ---- semaphore ---- */
struct ferry__sem {
  _Atomic uint32_t value;
  _Atomic uint32_t ec;
  uint64_t reserved;
};

/* ---- barrier ---- */
#define FERRY__BARRIER_ARRIVED_MASK UINT32_C(0xffff)
#define FERRY__BARRIER_PHASE_SHIFT 16

struct ferry__barrier {
  _Atomic uint32_t word;
  _Atomic uint32_t parties;
  _Atomic uint32_t ec;
  uint32_t reserved;
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
static_assert(offsetof(struct ferry__mutex, ec) == 4, "mutex ec");
static_assert(offsetof(struct ferry__mutex, owner_stamp) == 8, "mutex owner_stamp");
static_assert(offsetof(struct ferry__cond, ec) == 0, "cond ec");
static_assert(offsetof(struct ferry__event, word) == 0, "event word");
static_assert(offsetof(struct ferry__event, ec) == 4, "event ec");
static_assert(offsetof(struct ferry__sem, value) == 0, "sem value");
static_assert(offsetof(struct ferry__sem, ec) == 4, "sem ec");
static_assert(offsetof(struct ferry__barrier, word) == 0, "barrier word");
static_assert(offsetof(struct ferry__barrier, parties) == 4, "barrier parties");
static_assert(offsetof(struct ferry__barrier, ec) == 8, "barrier ec");
static_assert(offsetof(struct ferry__counter, value) == 0, "counter value");

/* Futex words are 32-bit and must be plain memory the kernel can compare. */
static_assert(sizeof(_Atomic uint32_t) == 4, "futex word size");
/* Cross-process atomics must be lock-free: a libatomic lock table is
 * private to each process and would protect nothing here. */
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

static_assert(FERRY_BARRIER_MAX_PARTIES == FERRY__BARRIER_ARRIVED_MASK, "barrier parties");

#endif /* FERRY_SYNC_LAYOUT_H */
