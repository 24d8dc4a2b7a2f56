/* SPDX-License-Identifier: MIT */
/*
 * ferry/sync.h: process-shared synchronisation that lives inside shared
 * memory: a robust mutex, a condition variable, a manual-reset event, a
 * counting semaphore, a barrier, and 64-bit atomic counters (what Python
 * calls Value).
 *
 * Placement. Each object is a small fixed-size struct that you place in
 * shared memory: the object area of a ferry region, or any MAP_SHARED
 * mapping. Processes may map that memory at different addresses; the objects
 * hold no pointers. The structs are opaque: touch them only through these
 * functions. Each must be 8-byte aligned, which the compiler does for you
 * when the struct is a member of a struct you lay out.
 *
 * Initialisation. All-zero bytes are a valid, initialised object for every
 * type except ferry_barrier (whose party count must be set), so zeroed
 * region memory is ready to use. The _init functions reset an object to that
 * state (or, for the semaphore, counter and barrier, to a given value). An
 * _init must not overlap any other call on the same object: it is a plain
 * reset, meant for memory nobody else is using yet.
 *
 * Timeouts follow common.h: 0 tries once and returns -EAGAIN instead of
 * waiting; FERRY_FOREVER waits without a deadline; > 0 is a relative
 * CLOCK_MONOTONIC timeout after which the call returns -ETIMEDOUT; < 0 is
 * -EINVAL. A signal never ends a wait early: EINTR is retried internally.
 * NULL object pointers are programming errors (assert), not return codes.
 * Besides the errors each call lists, a wait can only return another
 * negative errno if the futex system call itself fails in a way it does not
 * on a supported kernel (say, -ENOSYS under a seccomp policy forbidding it).
 *
 * Concurrency:
 *
 *   Progress.
 *     call                          guarantee
 *     ----------------------------  -----------------------------------------
 *     mutex_lock (timeout 0)        wait-free: no spin, no sleep, no syscall
 *     mutex_lock (timeout > 0)      blocking; uncontended: one CAS, no syscall
 *     mutex_unlock                  wait-free, plus one FUTEX_WAKE syscall
 *                                   only when a waiter may be asleep
 *     mutex_consistent              wait-free
 *     cond_wait                     blocking
 *     cond_signal, cond_broadcast   wait-free; a syscall only if a waiter is
 *                                   registered
 *     event_set                     lock-free; a syscall only if some
 *                                   waiter is asleep
 *     event_clear, event_is_set     wait-free
 *     event_wait                    blocking (timeout 0: wait-free)
 *     sem_post                      lock-free; a syscall only if a waiter is
 *                                   registered
 *     sem_wait                      blocking (timeout 0: lock-free)
 *     sem_value                     wait-free
 *     barrier_wait                  blocking
 *     counter_*                     lock-free (wait-free where the CPU has a
 *                                   native fetch-and-add/exchange)
 *     sync_liveness_ns, set_...     wait-free
 *
 *   Overlap. Any thread of any process may call any function on an object
 *   at the same time as any other call on it, except:
 *     call                  may not overlap / must be called by
 *     --------------------  ------------------------------------------------
 *     *_init                anything else on the same object
 *     mutex_unlock          only the thread that holds the mutex
 *     mutex_consistent      only the thread that holds the mutex
 *     cond_wait             only a thread holding the mutex; all concurrent
 *                           waiters of one cond use the same mutex
 *   Everything else (lock vs lock, signal vs wait, set vs clear vs wait,
 *   post vs wait, barrier_wait vs barrier_wait, counter ops vs each other)
 *   may overlap freely.
 *
 *   Death of a peer in mid-call.
 *     - mutex: the owner may die at any instruction, holding the lock or in
 *       the middle of lock or unlock. Sleeping lockers look at the owner
 *       every half liveness period (ferry_sync_liveness_ns(), default 1 s),
 *       so one of them takes the mutex over and gets -EOWNERDEAD within
 *       the liveness period; a locker that arrives later notices at its
 *       first sleep slice, or at its deadline if that comes first. Only a
 *       try (timeout 0) does not look: it returns -EAGAIN. The new owner
 *       repairs what the mutex protects and calls ferry_mutex_consistent().
 *       A locker that dies while waiting leaves nothing but, at worst, one
 *       unnecessary wake-up syscall for the next unlock.
 *     - cond, event, sem, barrier: a waiter cannot know who would have
 *       signalled, set, posted or arrived, so it relies on its timeout. The
 *       higher-level ferry objects that use these watch their region's
 *       participant table and stop waiting for a peer that died. A waiter
 *       that dies while registered leaves its registration behind, which
 *       only costs later signal/post/set calls a wake-up syscall; a party
 *       that dies after arriving at a barrier stays counted for that phase.
 *     - counter: an operation is a single atomic instruction; it happened
 *       or it did not.
 *   The details, with proofs: docs/design/sync.md.
 */
#ifndef FERRY_SYNC_H
#define FERRY_SYNC_H

#include "common.h"
#include "error.h"

FERRY_EXTERN_C_BEGIN

/* ---- opaque objects -------------------------------------------------------
 * Plain uint64_t arrays, so that the types have the right size and
 * alignment in C and C++ without exposing atomics. Their layout is private
 * (src/sync_layout.h) and may only change with the region layout version.
 */
typedef struct ferry_mutex {
  uint64_t _opaque[2];
} ferry_mutex;
typedef struct ferry_cond {
  uint64_t _opaque[2];
} ferry_cond;
typedef struct ferry_event {
  uint64_t _opaque[2];
} ferry_event;
typedef struct ferry_sem {
  uint64_t _opaque[2];
} ferry_sem;
typedef struct ferry_barrier {
  uint64_t _opaque[2];
} ferry_barrier;
typedef struct ferry_counter {
  uint64_t _opaque[1];
} ferry_counter;

/* Static initialisers, equal to what the _init functions produce. */
#define FERRY_MUTEX_INIT {{0, 0}}
#define FERRY_COND_INIT {{0, 0}}
#define FERRY_EVENT_INIT {{0, 0}}
#define FERRY_COUNTER_INIT {{0}}

/* ---- liveness ---------------------------------------------------------- */

/*
 * ferry_sync_set_liveness_ns: sets, for this whole process, how quickly a
 * dead mutex owner is detected: a locker asleep on a mutex looks at the
 * owner every ns / 2 (so a death is noticed within ns, with half of it as
 * slack for scheduling delays), and each look costs a read of
 * /proc/TID/stat. Values below 2 ms are raised to 2 ms.
 * Precondition: ns > 0. Default: FERRY_SEC.
 * Thread-safe; takes effect for waits that start a new sleep slice.
 * Inherited by fork() children as any global is.
 */
FERRY_API void ferry_sync_set_liveness_ns(int64_t ns);

/* ferry_sync_liveness_ns: the current setting. Thread-safe. */
FERRY_API int64_t ferry_sync_liveness_ns(void);

/* ---- robust mutex ---------------------------------------------------------
 * A non-recursive, error-checking mutex whose owner is a thread (of any
 * process). If the owner dies holding it, the next locker acquires it with
 * -EOWNERDEAD and must make the protected data consistent.
 */

/*
 * ferry_mutex_init: resets m to unlocked (all-zero bytes). Also the only way
 * to revive a mutex that became not recoverable.
 * Returns 0. Must not overlap any other call on m.
 */
FERRY_API int ferry_mutex_init(ferry_mutex *m);

/*
 * ferry_mutex_lock: acquires m for the calling thread, waiting up to
 * timeout_ns (see the timeout convention above).
 * Returns:
 *   0                  acquired.
 *   -EOWNERDEAD        acquired, but the previous owner died holding m (or
 *                      while releasing it). Repair the protected state, then
 *                      call ferry_mutex_consistent(). Unlocking without it
 *                      makes m permanently unusable (like POSIX robust
 *                      mutexes).
 *   -EAGAIN            timeout_ns == 0 and m is held. A try never checks
 *                      whether the owner is alive.
 *   -ETIMEDOUT         still held at the deadline (by a live owner: the
 *                      owner is checked once more before giving up).
 *   -EDEADLK           the calling thread already holds m.
 *   -ENOTRECOVERABLE   an earlier owner unlocked after -EOWNERDEAD without
 *                      calling ferry_mutex_consistent(); m stays so until
 *                      ferry_mutex_init().
 *   -EINVAL            timeout_ns < 0.
 * Uncontended, it is one CAS and makes no system call. Contended, it spins
 * briefly, then sleeps on a futex in slices of ferry_sync_liveness_ns() / 2.
 * Thread- and process-safe.
 */
FERRY_API int ferry_mutex_lock(ferry_mutex *m, int64_t timeout_ns);

/*
 * ferry_mutex_unlock: releases m, which the calling thread holds, and wakes
 * one sleeping locker if there is one. If m is held after -EOWNERDEAD and
 * ferry_mutex_consistent() was not called, m becomes not recoverable: every
 * waiting and later lock returns -ENOTRECOVERABLE.
 * Returns 0, or FERRY_ENOTOWNER if the calling thread does not hold m
 * (nothing changes then).
 * Uncontended, it is one atomic exchange and makes no system call.
 */
FERRY_API int ferry_mutex_unlock(ferry_mutex *m);

/*
 * ferry_mutex_consistent: declares that the state m protects was repaired
 * after -EOWNERDEAD; m then behaves as a normal mutex again.
 * Returns 0; FERRY_ENOTOWNER if the calling thread does not hold m; -EINVAL
 * if it holds m but m is not marked as left by a dead owner.
 */
FERRY_API int ferry_mutex_consistent(ferry_mutex *m);

/* ---- condition variable ---------------------------------------------------
 * POSIX-style, used with one ferry_mutex. Waits may wake spuriously: always
 * wait in a loop on your predicate. Signal while holding the mutex for the
 * strict guarantee that a thread already waiting is woken; signalled
 * outside the mutex, a thread that starts waiting concurrently may take the
 * wake-up instead.
 */

/* ferry_cond_init: resets c to no waiters (all-zero bytes). Returns 0. */
FERRY_API int ferry_cond_init(ferry_cond *c);

/*
 * ferry_cond_wait: atomically releases m (which the calling thread must
 * hold) and waits for a signal or broadcast on c, then re-acquires m
 * (without a deadline, as pthread_cond_timedwait does: the mutex is robust,
 * so this cannot hang on a dead owner; a live one that never unlocks, or a
 * mutex word another process wrote to name a live thread, keeps it waiting
 * past timeout_ns: docs/design/sync.md [stamp-tag]).
 * Returns:
 *   0                  woken (possibly spuriously). m is held.
 *   -EAGAIN            timeout_ns == 0 and no signal came while m was
 *                      released for that instant. m is held.
 *   -ETIMEDOUT         the timeout ran out. m is held.
 *   -EOWNERDEAD        re-acquiring m found its owner dead: m is held and
 *                      must be repaired, as after ferry_mutex_lock().
 *   -ENOTRECOVERABLE   m became not recoverable meanwhile (or was held
 *                      after -EOWNERDEAD without ferry_mutex_consistent(),
 *                      which the release inside this call makes so); m is
 *                      NOT held.
 *   FERRY_ENOTOWNER    the calling thread does not hold m; nothing done.
 *   -EINVAL            timeout_ns < 0; nothing done.
 * Thread- and process-safe.
 */
FERRY_API int ferry_cond_wait(ferry_cond *c, ferry_mutex *m, int64_t timeout_ns);

/*
 * ferry_cond_signal: wakes at least one waiter of c if there is one. With no
 * registered waiter it is one atomic increment and one load: no system call.
 * Returns 0.
 */
FERRY_API int ferry_cond_signal(ferry_cond *c);

/* ferry_cond_broadcast: wakes every waiter of c. Same costs. Returns 0. */
FERRY_API int ferry_cond_broadcast(ferry_cond *c);

/* ---- event (manual reset) -------------------------------------------------
 * A flag that waiters wait for. Once set it stays set, releasing every
 * waiter, until cleared. A waiter asleep when it was set is released even if
 * it is cleared again before that waiter runs (like Python's Event).
 */

/* ferry_event_init: resets e to clear (all-zero bytes). Returns 0. */
FERRY_API int ferry_event_init(ferry_event *e);

/* ferry_event_set: sets e and wakes all its sleepers; a system call only
 * if there are sleepers. Returns 0. */
FERRY_API int ferry_event_set(ferry_event *e);

/* ferry_event_clear: clears e. Returns 0. */
FERRY_API int ferry_event_clear(ferry_event *e);

/* ferry_event_is_set: 1 if e is set, else 0. */
FERRY_API int ferry_event_is_set(const ferry_event *e);

/*
 * ferry_event_wait: waits until e is set.
 * Returns 0 (e was set, or was set and cleared while we slept), -EAGAIN
 * (timeout_ns == 0 and e is clear), -ETIMEDOUT, or -EINVAL (timeout_ns < 0).
 */
FERRY_API int ferry_event_wait(ferry_event *e, int64_t timeout_ns);

/* ---- counting semaphore -------------------------------------------------- */

/* The largest value a semaphore can hold. */
#define FERRY_SEM_VALUE_MAX UINT32_MAX

/* ferry_sem_init: sets s's value (all-zero bytes = value 0). Returns 0. */
FERRY_API int ferry_sem_init(ferry_sem *s, uint32_t value);

/*
 * ferry_sem_post: adds one to s's value and wakes one waiter if there is
 * one (a system call only then).
 * Returns 0, or -EOVERFLOW if the value is already FERRY_SEM_VALUE_MAX
 * (nothing changes).
 */
FERRY_API int ferry_sem_post(ferry_sem *s);

/*
 * ferry_sem_wait: waits until s's value is positive and takes one from it.
 * Returns 0, -EAGAIN (timeout_ns == 0 and the value is 0), -ETIMEDOUT, or
 * -EINVAL (timeout_ns < 0).
 */
FERRY_API int ferry_sem_wait(ferry_sem *s, int64_t timeout_ns);

/* ferry_sem_value: the value at some instant during the call. */
FERRY_API uint32_t ferry_sem_value(const ferry_sem *s);

/* ---- barrier -------------------------------------------------------------- */

#define FERRY_BARRIER_SERIAL 1
#define FERRY_BARRIER_MAX_PARTIES 65535

/*
 * ferry_barrier_init: makes b a barrier for `parties` waiters per phase.
 * Returns 0, or -EINVAL if parties is 0 or above FERRY_BARRIER_MAX_PARTIES
 * (b unchanged). All-zero bytes are NOT a usable barrier: wait on one
 * returns -EINVAL.
 */
FERRY_API int ferry_barrier_init(ferry_barrier *b, uint32_t parties);

/*
 * ferry_barrier_wait: arrives at b and waits until `parties` waiters have
 * arrived in this phase; the last one to arrive opens the next phase.
 * Returns:
 *   FERRY_BARRIER_SERIAL  to exactly one waiter per phase (the last to
 *                         arrive);
 *   0                     to the others;
 *   -EAGAIN / -ETIMEDOUT  timeout_ns == 0 / the timeout ran out before the
 *                         phase completed: this waiter's arrival was
 *                         withdrawn, so the phase still needs `parties`
 *                         arrivals;
 *   -EINVAL               timeout_ns < 0, or b was never initialised.
 * Thread- and process-safe.
 */
FERRY_API int ferry_barrier_wait(ferry_barrier *b, int64_t timeout_ns);

/* ---- atomic counters ------------------------------------------------------
 * 64-bit signed integers with sequentially consistent atomic operations,
 * lock-free across processes (the build fails where 64-bit atomics are not
 * lock-free). Arithmetic wraps around (two's complement).
 */

/* ferry_counter_init: sets c to v (all-zero bytes = 0). Like a store. */
FERRY_API void ferry_counter_init(ferry_counter *c, int64_t v);
/* ferry_counter_load: c's value. */
FERRY_API int64_t ferry_counter_load(const ferry_counter *c);
/* ferry_counter_store: sets c to v. */
FERRY_API void ferry_counter_store(ferry_counter *c, int64_t v);
/* ferry_counter_add: adds delta (which may be negative); returns the new
 * value. */
FERRY_API int64_t ferry_counter_add(ferry_counter *c, int64_t delta);
/* ferry_counter_exchange: sets c to v; returns the previous value. */
FERRY_API int64_t ferry_counter_exchange(ferry_counter *c, int64_t v);
/*
 * ferry_counter_cas: if c equals *expected, sets it to desired and returns
 * 1; otherwise stores c's value in *expected and returns 0. Never fails
 * spuriously.
 */
FERRY_API int ferry_counter_cas(ferry_counter *c, int64_t *expected, int64_t desired);

FERRY_EXTERN_C_END

#endif /* FERRY_SYNC_H */
