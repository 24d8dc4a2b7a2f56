/* SPDX-License-Identifier: MIT */
/*
 * wait.c: the event count and the wait loop of wait.h. The proof of the
 * protocol is docs/design/waiting.md.
 */
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/core.h"
#include "core/wait.h"

/* Spin this long with the CPU's pause hint before yielding between looks:
 * a hand-off between two running cores takes well under it [wait-spin]. */
#define PURE_SPIN_NS (2 * INT64_C(1000))
/* At most 1 << SPIN_BACKOFF_SHIFT pause hints between two looks. */
#define SPIN_BACKOFF_SHIFT 6
/* [wait-learn]: the floor under the budget that failed spins halve (a
 * hand-off between two running cores fits in it); a success this quick
 * means the peer is running, and restores all of spin_ns; and how often a
 * waiter whose budget is below spin_ns spins all of it, to notice that
 * spinning works again (a power of two). */
#define LEARN_MIN_NS INT64_C(1000)
#define LEARN_HANDOFF_NS INT64_C(1000)
#define LEARN_PROBE_EVERY 256u
/* A waiter that cannot force the barrier on wakers that skip theirs sleeps
 * at most this long per look [wait-asym]. */
#define ASYM_FALLBACK_NS FERRY_MSEC

/* ---- membarrier [wait-asym] ------------------------------------------------- */

static long membarrier_call(int cmd)
{
  return syscall(__NR_membarrier, cmd, 0, 0);
}

bool ferry__asym_ready(void)
{
  static _Atomic pid_t registered; /* the pid that registered, 0 none */
  static _Atomic int unsupported;
  /* relaxed: process-local settings that publish nothing else */
  pid_t me = ferry__pid();
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

/* The waiter's fence, between announcing itself and its last look. False
 * if a waker may have skipped its fence and we could not force one: then
 * the caller must not sleep long [wait-asym]. */
static bool waiter_fence(const ferry__waiter *w)
{
  /* seq_cst fence: pairs with the waker's ferry__ec_fence() [wait-dekker] */
  atomic_thread_fence(memory_order_seq_cst);
  /* relaxed: ordered by the fence above and the fence that follows the
   * flag's store in ferry__asym_announce(); a 0 read here means the
   * announcer's later loads of the word see our S [wait-asym]. */
  if (!w->asym || !atomic_load_explicit(w->asym, memory_order_relaxed))
    return true;
  return ferry__asym_ready() && membarrier_call(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

/* ---- waker side ------------------------------------------------------------- */

bool ferry__asym_announce(_Atomic uint32_t *flag)
{
  if (!ferry__asym_ready())
    return false;
  /* relaxed store, then seq_cst fence: the fence orders the store before
   * every fence-less wake of ours, for waiters that fence and then load
   * the flag in waiter_fence() [wait-asym]. */
  atomic_store_explicit(flag, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  return true;
}

void ferry__ec_wake_slow(_Atomic uint32_t *ec, uint32_t seen)
{
  /* release: a sleeper that reads the new value sees our progress. A failed
   * CAS means the word changed since our load, which with S set only a
   * waker's CAS or a bump does, and either woke everybody [wait-dekker]. */
  if (atomic_compare_exchange_strong_explicit(ec, &seen,
                                              (seen + FERRY__EC_STEP) & ~FERRY__EC_SLEEPER,
                                              memory_order_release, memory_order_relaxed))
    ferry__futex_wake(ec, INT_MAX);
}

void ferry__ec_bump(_Atomic uint32_t *ec)
{
  uint32_t old = atomic_load_explicit(ec, memory_order_relaxed);
  /* release: pairs with the acquire part of the waiter's fetch_or. Both are
   * read-modify-writes of the word, so one precedes the other in its
   * modification order: either the waiter's announcement came first and we
   * see S, or the waiter reads our step and sees what preceded it. Clearing
   * S is safe because we wake everybody. */
  while (!atomic_compare_exchange_weak_explicit(ec, &old,
                                                (old + FERRY__EC_STEP) & ~FERRY__EC_SLEEPER,
                                                memory_order_release, memory_order_relaxed))
    ;
  if (old & FERRY__EC_SLEEPER)
    ferry__futex_wake(ec, INT_MAX);
}

/* ---- waiter side ------------------------------------------------------------ */

/* Looks again without sleeping until spin_end [wait-spin]. On success,
 * *seen is the last clock reading, at most 8 looks before it. */
static int spin(const ferry__waiter *w, int64_t now, int64_t spin_end, int64_t *seen)
{
  int64_t pure_end =
      w->eager ? spin_end : (now + PURE_SPIN_NS < spin_end ? now + PURE_SPIN_NS : spin_end);
  unsigned max_shift = w->eager ? 0 : SPIN_BACKOFF_SHIFT;
  for (unsigned i = 1;; i++) {
    /* Backoff: each look at a line the other side is writing pulls it
     * away from that side; fewer looks let it write several in a row. */
    for (unsigned k = 1u << (i < max_shift ? i : max_shift); k; k--)
      ferry__cpu_relax();
    int rc = w->attempt(w->arg, false);
    if (rc != -EAGAIN) {
      *seen = now;
      return rc;
    }
    if (now >= pure_end) {
      if (now >= spin_end)
        return -EAGAIN;
      /* A peer runnable on our own core gets it now; on an idle core the
       * yield returns at once. */
      sched_yield();
      now = ferry__now_ns();
    } else if ((i & 7) == 0) {
      now = ferry__now_ns(); /* the early looks are shorter than a clock read */
    }
  }
}

static int64_t add_sat(int64_t a, int64_t b)
{
  return b > FERRY__NO_DEADLINE - a ? FERRY__NO_DEADLINE : a + b;
}

/* ---- learning how long to spin [wait-learn] ----------------------------------- */

static int64_t clamp_ns(int64_t v, int64_t lo, int64_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* How long this wait spins: the learned budget, or all of max_ns on a
 * probe. Always within [0, max_ns]. */
static __attribute__((noinline)) int64_t learn_budget(ferry__spin_learn *l, int64_t max_ns)
{
  /* relaxed: private history; any value is clamped */
  int64_t b = atomic_load_explicit(&l->budget_ns, memory_order_relaxed);
  if (b <= 0 || b >= max_ns)
    return max_ns;
  /* relaxed load and store, not an RMW: two threads of one handle may
   * count one wait once, which only moves a probe */
  uint32_t n = atomic_load_explicit(&l->waits, memory_order_relaxed);
  atomic_store_explicit(&l->waits, n + 1, memory_order_relaxed);
  return (n & (LEARN_PROBE_EVERY - 1)) == 0 ? max_ns : clamp_ns(b, 0, max_ns);
}

/* After a spin that no deadline cut, which succeeded after about `took` ns
 * (>= 0), or failed: a failure halves the budget, down to LEARN_MIN_NS; a
 * success within a hand-off restores max_ns; a later one doubles the
 * budget and makes it cover twice what it took. Out of line, like learn_budget(): waiters
 * without a history keep the loop they had. */
static __attribute__((noinline)) void learn_update(ferry__spin_learn *l, int64_t max_ns, bool ok,
                                                   int64_t took)
{
  int64_t lo = LEARN_MIN_NS < max_ns ? LEARN_MIN_NS : max_ns;
  /* relaxed: private history; any value is clamped */
  int64_t b = atomic_load_explicit(&l->budget_ns, memory_order_relaxed);
  b = b <= 0 ? max_ns : clamp_ns(b, lo, max_ns);
  if (ok && took <= LEARN_HANDOFF_NS) {
    b = max_ns;
  } else if (ok) {
    int64_t cover = took < max_ns / 2 ? 2 * took + lo : max_ns;
    b = clamp_ns(b < max_ns / 2 ? 2 * b : max_ns, cover, max_ns);
  } else {
    b = b / 2 > lo ? b / 2 : lo;
  }
  atomic_store_explicit(&l->budget_ns, b, memory_order_relaxed);
}

int ferry__wait(const ferry__waiter *w, int64_t timeout_ns, int64_t *deadlinep)
{
  int rc = w->attempt(w->arg, false);
  if (rc != -EAGAIN || timeout_ns == 0)
    return rc;
  if (*deadlinep == FERRY__DEADLINE_UNSET && ferry__deadline(timeout_ns, deadlinep) != 0)
    return -EINVAL;
  int64_t deadline = *deadlinep;
  int64_t now = ferry__now_ns();
  if (w->spin_ns > 0 && now < deadline) {
    int64_t budget = w->learn ? learn_budget(w->learn, w->spin_ns) : w->spin_ns;
    int64_t spin_end = add_sat(now, budget), seen = now;
    bool whole = spin_end <= deadline; /* else the deadline cuts the spin */
    rc = spin(w, now, whole ? spin_end : deadline, &seen);
    if (w->learn && (whole || rc != -EAGAIN))
      learn_update(w->learn, w->spin_ns, rc != -EAGAIN, seen - now);
    if (rc != -EAGAIN)
      return rc;
    now = ferry__now_ns();
  }
  int64_t slice_ns = w->slice_ns > 0 ? w->slice_ns : FERRY__NO_DEADLINE;
  int64_t next_slice = add_sat(now, slice_ns);
  bool sliced = false;
  for (;;) {
    /* seq_cst RMW: announces us before our last look below; the store
     * half of [wait-dekker]. Its acquire part pairs with the release of
     * ferry__ec_wake_slow() and ferry__ec_bump(). */
    uint32_t v = atomic_fetch_or_explicit(w->ec, FERRY__EC_SLEEPER, memory_order_seq_cst) |
                 FERRY__EC_SLEEPER;
    bool fenced = waiter_fence(w);
    if ((rc = w->attempt(w->arg, true)) != -EAGAIN)
      return rc;
    now = ferry__now_ns();
    if (now >= next_slice || (now >= deadline && !sliced && w->slice)) {
      /* Also once at the deadline, so every wait that may sleep checks its
       * peers at least once before it times out [wait-slice]. */
      sliced = true;
      if (w->slice && (rc = w->slice(w->arg)) != -EAGAIN)
        return rc;
      next_slice = add_sat(ferry__now_ns(), slice_ns);
      continue; /* recovery may have made progress: look again */
    }
    if (now >= deadline)
      return -ETIMEDOUT;
    int64_t until = deadline < next_slice ? deadline : next_slice;
    if (!fenced && until - now > ASYM_FALLBACK_NS)
      until = now + ASYM_FALLBACK_NS;
    /* Returns on a wake, a change of the word, a signal or `until`; each
     * case looks again, and none moves deadline or next_slice. Look before
     * announcing again: a waiter that was woken to succeed should not leave
     * S behind for the next waker to pay a system call for. */
    ferry__futex_wait(w->ec, v, until);
    if ((rc = w->attempt(w->arg, false)) != -EAGAIN)
      return rc;
  }
}
