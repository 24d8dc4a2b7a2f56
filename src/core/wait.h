/* SPDX-License-Identifier: MIT */
/*
 * wait.h: the one way ferry waits. Every object that can block (queue,
 * pipe, bus, heap, dict, and the sync objects) puts an event count beside
 * the state it waits on, and waits with ferry__wait(). The claims and their
 * proof are in docs/design/waiting.md; the tags below point there.
 *
 * The event count (ec) is a 32-bit futex word in shared memory:
 *
 *   bit 0      SLEEPER  a waiter announced that it may sleep on the word
 *   bits 1-31  a sequence, stepped by FERRY__EC_STEP on every wake
 *
 *   value  meaning                       next (by)
 *   -----  ----------------------------  ----------------------------------
 *   2n     nobody announced a sleep      2n|S (a waiter: fetch_or, before
 *                                        its last look and FUTEX_WAIT(2n|S))
 *   2n|S   a waiter may sleep on 2n|S    2n+2 (ferry__ec_signal after
 *                                        progress: CAS, then FUTEX_WAKE(all);
 *                                        only the CAS winner wakes)
 *                                        2n+2|S (ferry__ec_bump: fetch_add,
 *                                        then FUTEX_WAKE(all))
 *
 * Any 32-bit value is a valid state, so a peer that scribbles on the word
 * can cause spurious wake-ups and missed ones, never a crash; a missed one
 * costs at most one sleep slice [wait-slice]. A waiter that dies leaves S
 * set: the next signal clears it with one extra FUTEX_WAKE, so nothing
 * needs repair. Every wake wakes every sleeper, so a wake can never be
 * handed to one waiter that then dies without passing it on [wait-all].
 *
 * Fences [wait-dekker]. A waker makes progress, then fences, then looks at
 * the word; a waiter sets S, then fences, then looks at the state. The
 * waker's fence is ferry__ec_fence(asym): a full fence, or, in a process
 * registered for membarrier and on an object whose waiters know it
 * (ferry__waiter.asym), a compiler barrier only; the waiter then forces the
 * barrier on the waker's CPU with membarrier() [wait-asym].
 */
#ifndef FERRY_CORE_WAIT_H
#define FERRY_CORE_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FERRY__EC_SLEEPER UINT32_C(1)
#define FERRY__EC_STEP UINT32_C(2)

/* ---- waker side --------------------------------------------------------- */

/*
 * Registers this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED once (again in
 * a fork child, whose registration is not inherited). True if the process
 * may skip the waker's fence on objects whose header says so [wait-asym].
 */
bool ferry__asym_ready(void);

/*
 * For an object whose waiters honour its asym flag (ferry__waiter.asym): if
 * this process may skip its waker fence, sets *flag and returns true; the
 * caller then passes true to ferry__ec_fence() from now on. Call once per
 * handle, before its first fence-less wake.
 */
bool ferry__asym_announce(_Atomic uint32_t *flag);

/* The waker's fence, between making progress and ferry__ec_signal(). */
static inline void ferry__ec_fence(bool asym)
{
  if (asym)
    /* Compiler barrier only: a sleeper's membarrier() runs a full barrier
     * on our CPU; pairs with the one in ferry__wait() [wait-asym]. */
    atomic_signal_fence(memory_order_seq_cst);
  else
    /* seq_cst fence: pairs with the waiter's fence in ferry__wait()
     * [wait-dekker]. */
    atomic_thread_fence(memory_order_seq_cst);
}

/* Out of line: the FUTEX_WAKE after a successful CAS. */
void ferry__ec_wake_slow(_Atomic uint32_t *ec, uint32_t seen);

/*
 * After progress: wakes every sleeper if one announced itself. The progress
 * must be a seq_cst read-modify-write, or be followed by ferry__ec_fence():
 * either makes the store-buffering pair with the waiter [wait-dekker]. Only
 * the caller whose CAS clears S makes the system call, so a burst of
 * progress while a waiter sleeps costs one wake [wait-burst].
 */
static inline void ferry__ec_signal(_Atomic uint32_t *ec)
{
  /* seq_cst: after a seq_cst RMW it is the load half of [wait-dekker] with
   * no fence of its own (a plain load on x86); after ferry__ec_fence() the
   * fence orders it. */
  uint32_t w = atomic_load_explicit(ec, memory_order_seq_cst);
  if (__builtin_expect(w & FERRY__EC_SLEEPER, 0))
    ferry__ec_wake_slow(ec, w);
}

/*
 * Unconditional step: advances the sequence, clears S and wakes every
 * sleeper if S was set. For events every waiter must look at: shutdown,
 * close, recovery, a set event, a signalled condition. Needs no fence: it
 * is a release read-modify-write of the word the waiter's announcement
 * also modifies [wait-dekker].
 */
void ferry__ec_bump(_Atomic uint32_t *ec);

/* ---- waiter side -------------------------------------------------------- */

/* A deadline not computed yet: ferry__wait() computes it on first need, so
 * a call that succeeds at once makes no clock call. */
#define FERRY__DEADLINE_UNSET INT64_MIN

/*
 * A waiter's memory of its recent spins [wait-learn]: the spin budget it
 * learned, and a count of waits for its probes. Private to the process
 * (keep it in the handle, zeroed: zero means "not learned yet"), never in
 * shared memory, so no peer can write it; every read is clamped to
 * [0, ferry__waiter.spin_ns] anyway. Relaxed atomics: a handle used by
 * several threads at once only blurs the history.
 */
typedef struct ferry__spin_learn {
  _Atomic int64_t budget_ns; /* 0: none learned yet, spin spin_ns */
  _Atomic uint32_t waits;    /* waits that spun, for the probe schedule */
} ferry__spin_learn;

/*
 * What one wait needs.
 *
 * attempt(arg, armed) tries the operation: -EAGAIN to keep waiting,
 * anything else ends the wait with that result. `armed` is true for the
 * look made after announcing a sleep, the last one before sleeping: checks
 * too costly for every spin (end of stream, a table walk) belong there.
 *
 * slice(arg) runs after every slice_ns of sleeping: the liveness checks
 * and the recovery of dead peers. -EAGAIN to go on, anything else ends the
 * wait. It may be NULL.
 */
typedef struct ferry__waiter {
  _Atomic uint32_t *ec;
  int (*attempt)(void *arg, bool armed);
  int (*slice)(void *arg);
  void *arg;
  int64_t spin_ns;  /* look again without sleeping for this long first */
  int64_t slice_ns; /* > 0: sleep at most this long between slice() calls */
  /* NULL, or the object's "some process skips its waker fence" flag:
   * then issue membarrier() before sleeping, or sleep only briefly if we
   * cannot [wait-asym]. */
  const _Atomic uint32_t *asym;
  /* Latency over throughput [wait-spin]: look after every pause hint, and
   * never yield while spinning. For round trips, where each wait is for
   * one reply that a running peer is about to write. */
  bool eager;
  /* NULL (spin spin_ns every time), or this waiter's history: then spin
   * only as long as recent spins suggest, at most spin_ns [wait-learn]. */
  ferry__spin_learn *learn;
} ferry__waiter;

/*
 * Runs w->attempt until it ends the wait. timeout_ns follows the library's
 * convention (0 tries once and returns attempt's -EAGAIN; FERRY_FOREVER;
 * else relative, already checked to be >= 0). *deadline is the absolute
 * monotonic deadline, or FERRY__DEADLINE_UNSET to have it computed from
 * timeout_ns when first needed; callers that wait several times in one
 * call keep it between waits. Returns attempt's or slice's result, or
 * -ETIMEDOUT. Signals (EINTR) move neither the deadline nor the slice
 * boundaries [wait-slice].
 */
int ferry__wait(const ferry__waiter *w, int64_t timeout_ns, int64_t *deadline);

#endif /* FERRY_CORE_WAIT_H */
