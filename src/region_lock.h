/* SPDX-License-Identifier: MIT */
/*
 * region_lock.h: the internal lock of objects that live in a region (the
 * heap's locks, the dict's stripe locks). A robust mutex whose holder is
 * named by its participant slot in the region and the generation of that
 * slot, not by a thread id, so that whether the holder lives is judged by
 * the kernel-kept slot lock (ferry__region_slot_check, [slot-lock]) and
 * holds across PID namespaces, exec and a main thread that exited. The
 * claims and their proof: docs/design/region-lock.md [rlock-*]. Never
 * installed.
 *
 * The lock (16 bytes, in shared memory; all zero is free):
 *
 *   offset  size  field
 *        0     8  word      0, or the holder's tag
 *        8     4  ec        event count (src/core/wait.h): unlocks wake it
 *       12     4  reserved  zero
 *
 * The tag of a handle: (slot + 1) << 32 | generation, where generation is
 * the 24-bit generation of the owner word its join wrote [slot-aba]. Every
 * other bit is zero; a word with any of them set, or a slot outside the
 * table, is corrupt.
 *
 *   state   word       reached by                     left by
 *   ------  ---------  -----------------------------  ------------------------
 *   FREE    0          init, unlock                   lock (CAS 0 -> tag)
 *   HELD    tag        lock, take-over                unlock (CAS tag -> 0),
 *                                                     take-over
 *   (any other value: corrupt; lockers take it over as from a dead holder)
 *
 * Take-over: a locker that has waited a slice reads the word W; if W is
 * corrupt, or names a slot whose participant is not the one that wrote W
 * (freed, rejoined with a newer generation) or is dead by its slot lock, it
 * CASes W -> its own tag and gets -EOWNERDEAD: it holds the lock, and must
 * repair the state the lock protects before it unlocks. There is no
 * "consistent" call: a taker that dies repairing is taken over in turn and
 * the next taker repairs again, so repairs must be idempotent.
 *
 * Within a process, threads share their handle's tag; the CAS still lets
 * only one of them in, and none of them ever takes the lock over from
 * another (their own slot is alive). A thread must not lock twice.
 */
#ifndef FERRY_REGION_LOCK_H
#define FERRY_REGION_LOCK_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/wait.h"
#include "region_internal.h"

struct ferry__rlock {
  _Atomic uint64_t word;
  _Atomic uint32_t ec;
  uint32_t reserved;
};

static_assert(sizeof(struct ferry__rlock) == 16, "rlock size");
static_assert(offsetof(struct ferry__rlock, ec) == 8, "rlock ec");

#define FERRY__RLOCK_SLOT_SHIFT 32
#define FERRY__RLOCK_GEN_MASK UINT64_C(0xffffff)
/* slot + 1 fits 13 bits: the table holds at most 4096 slots. */
#define FERRY__RLOCK_SLOT_MASK UINT64_C(0x1fff)

/* The tag this handle locks with. The handle is registered (r->slot >= 0). */
static inline uint64_t ferry__rlock_tag(const ferry_region *r)
{
  assert(r->slot >= 0);
  uint64_t gen = (r->slot_owner >> FERRY__SLOT_GEN_SHIFT) & FERRY__SLOT_GEN_MASK;
  return (uint64_t)(r->slot + 1) << FERRY__RLOCK_SLOT_SHIFT | gen;
}

/* Out of line: the contended path of ferry__rlock_lock(). */
int ferry__rlock_lock_slow(const ferry_region *r, struct ferry__rlock *l, uint64_t tag,
                           int64_t timeout_ns, int64_t *deadline);

/*
 * Takes l for the handle whose tag is `tag` (ferry__rlock_tag(r)).
 * timeout_ns as everywhere (0 tries once, FERRY_FOREVER, else relative,
 * >= 0); *deadline as in ferry__wait() (FERRY__DEADLINE_UNSET, or an
 * absolute deadline shared by several waits of one call). Returns 0 (held),
 * -EOWNERDEAD (held, taken over from a dead or vanished holder, or from a
 * corrupt word: repair, then unlock), -EAGAIN (busy, timeout 0) or
 * -ETIMEDOUT. A holder that is alive is never taken over, whatever its pid
 * namespace; a word that names a live participant makes lockers time out.
 */
static inline int ferry__rlock_lock(const ferry_region *r, struct ferry__rlock *l, uint64_t tag,
                                    int64_t timeout_ns, int64_t *deadline)
{
  uint64_t w = 0;
  /* acquire: pairs with the release part of the CAS in ferry__rlock_unlock(),
   * so the previous holder's critical section happens before ours. */
  if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->word, &w, tag,
                                                               memory_order_acquire,
                                                               memory_order_relaxed),
                       1))
    return 0;
  return ferry__rlock_lock_slow(r, l, tag, timeout_ns, deadline);
}

/*
 * One look for a locker that polls: takes l if it is free, and returns
 * true; else false, having only read the word. A CAS on a held word would
 * take its cache line away from the holder, who needs it back to unlock;
 * a load shares it. No take-over: a poller that gives up calls
 * ferry__rlock_lock(), which judges the holder.
 */
static inline bool ferry__rlock_try(struct ferry__rlock *l, uint64_t tag)
{
  /* relaxed: only a look; the CAS decides */
  if (atomic_load_explicit(&l->word, memory_order_relaxed) != 0)
    return false;
  uint64_t w = 0;
  /* acquire: as in ferry__rlock_lock() */
  return atomic_compare_exchange_strong_explicit(&l->word, &w, tag, memory_order_acquire,
                                                 memory_order_relaxed);
}

/*
 * Lets go of l. Returns false if the word no longer held our tag (another
 * locker took it over: only a scribbled word or a wrong verdict of death
 * gets there, and the caller may report FERRY_ECORRUPT); the word is then
 * left as it is.
 */
static inline bool ferry__rlock_unlock(struct ferry__rlock *l, uint64_t tag)
{
  uint64_t w = tag;
  /* seq_cst (release part): publishes our critical section; pairs with the
   * acquire CAS of the next locker. As a seq_cst RMW it is also the
   * progress half of [wait-dekker] for the ec load in ferry__ec_signal(). */
  bool ok = atomic_compare_exchange_strong_explicit(&l->word, &w, 0, memory_order_seq_cst,
                                                    memory_order_relaxed);
  ferry__ec_signal(&l->ec);
  return ok;
}

/*
 * For a waiter that does not want the lock itself (a popper asleep on an
 * empty heap) but must not sleep forever behind a holder that died: if l
 * is held by a dead holder (or a corrupt word), takes it over and returns
 * -EOWNERDEAD (held: repair, then unlock); else -EAGAIN. One slot check.
 */
int ferry__rlock_take_dead(const ferry_region *r, struct ferry__rlock *l, uint64_t tag);

#endif /* FERRY_REGION_LOCK_H */
