/* SPDX-License-Identifier: MIT */
/*
 * test_wait.c: the learned spin of the one wait primitive [wait-learn]
 * (src/core/wait.c, docs/design/waiting.md).
 *
 * - A spin that fails halves the waiter's budget, down to a 1 us floor;
 *   one that succeeds at the first look (a running peer) restores all of
 *   spin_ns.
 * - A spin that the deadline cut teaches nothing.
 * - Whatever the history holds (it is private memory, but a bug or a
 *   scribble could put anything there), a wait stays within spin_ns of
 *   spinning and returns by its deadline; the history is back in range.
 * No speed is asserted: only results, the history's values, and that a
 * wait with a short timeout did not run for seconds.
 */
#include <errno.h>
#include <stdint.h>

#include "core/core.h"
#include "core/wait.h"
#include "ferry/ferry.h"
#include "test.h"

#define SPIN_NS (50 * INT64_C(1000))

struct probe {
  int calls;      /* attempts so far */
  int succeed_at; /* the attempt that returns 0; 0 for never */
};

static int attempt(void *arg, bool armed)
{
  (void)armed;
  struct probe *p = arg;
  p->calls++;
  return p->succeed_at && p->calls >= p->succeed_at ? 0 : -EAGAIN;
}

static int run_wait(ferry__spin_learn *l, int64_t spin_ns, int64_t timeout_ns, struct probe *p)
{
  static _Atomic uint32_t ec;
  ferry__waiter w = {.ec = &ec,
                     .attempt = attempt,
                     .arg = p,
                     .spin_ns = spin_ns,
                     .slice_ns = 0,
                     .eager = true,
                     .learn = l};
  int64_t deadline = FERRY__DEADLINE_UNSET;
  return ferry__wait(&w, timeout_ns, &deadline);
}

static int64_t budget(ferry__spin_learn *l)
{
  return atomic_load_explicit(&l->budget_ns, memory_order_relaxed);
}

/* A failed spin halves the budget; a success at the first look of the spin
 * (the initial look failed, the next one found the reply) restores it. */
static void test_learn_cut_and_restore(void)
{
  ferry__spin_learn l = {0};
  struct probe never = {0, 0};
  CHECK_RC(run_wait(&l, SPIN_NS, 5 * FERRY_MSEC, &never), -ETIMEDOUT);
  CHECK(never.calls >= 3); /* the first look, the spin's, the armed one */
  CHECK_EQ(budget(&l), SPIN_NS / 2); /* halved */
  int64_t cut = budget(&l);
  /* Failing again halves it again, down to its floor (1 us), not below. */
  for (int i = 0; i < 10; i++) {
    never.calls = 0;
    CHECK_RC(run_wait(&l, SPIN_NS, 5 * FERRY_MSEC, &never), -ETIMEDOUT);
    CHECK(budget(&l) >= INT64_C(1000) && budget(&l) <= cut);
    CHECK(budget(&l) == cut / 2 || budget(&l) == INT64_C(1000));
    cut = budget(&l);
  }
  CHECK_EQ(budget(&l), INT64_C(1000));
  struct probe second = {0, 2};
  CHECK_OK(run_wait(&l, SPIN_NS, FERRY_SEC, &second));
  CHECK_EQ(second.calls, 2);
  CHECK_EQ(budget(&l), SPIN_NS);
}

/* A waiter with no history spins all of spin_ns; so does a wait that
 * succeeds without spinning, and it changes nothing. */
static void test_learn_untouched(void)
{
  ferry__spin_learn l = {0};
  struct probe first = {0, 1};
  CHECK_OK(run_wait(&l, SPIN_NS, FERRY_SEC, &first));
  CHECK_EQ(first.calls, 1);
  CHECK_EQ(budget(&l), 0);
  struct probe never = {0, 0};
  CHECK_RC(run_wait(&l, SPIN_NS, 0, &never), -EAGAIN); /* timeout 0: one look */
  CHECK_EQ(never.calls, 1);
  CHECK_EQ(budget(&l), 0);
}

/* A deadline inside the spin: the wait ends by it, and the cut spin
 * teaches nothing. */
static void test_learn_deadline_cut(void)
{
  ferry__spin_learn l = {0};
  struct probe never = {0, 0};
  int64_t t0 = ft_ms();
  CHECK_RC(run_wait(&l, FERRY_SEC, 2 * FERRY_MSEC, &never), -ETIMEDOUT);
  CHECK(ft_ms() - t0 < 500); /* not the whole 1 s spin */
  CHECK_EQ(budget(&l), 0);
}

/* Any value in the history: the wait still spins at most spin_ns, ends by
 * its deadline, and leaves the history in range. */
static void test_learn_any_value(void)
{
  static const int64_t values[] = {INT64_MIN, -1, 1, 999, SPIN_NS - 1, SPIN_NS,
                                   SPIN_NS + 1, INT64_MAX / 2, INT64_MAX};
  static const uint32_t counts[] = {0, 1, 255, 256, UINT32_MAX};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
      ferry__spin_learn l;
      atomic_init(&l.budget_ns, values[i]);
      atomic_init(&l.waits, counts[k]);
      struct probe never = {0, 0};
      int64_t t0 = ft_ms();
      CHECK_RC(run_wait(&l, SPIN_NS, 3 * FERRY_MSEC, &never), -ETIMEDOUT);
      CHECK(ft_ms() - t0 < 1000);
      CHECK(budget(&l) > 0 && budget(&l) <= SPIN_NS);
      struct probe second = {0, 2};
      CHECK_OK(run_wait(&l, SPIN_NS, FERRY_SEC, &second));
      CHECK(budget(&l) > 0 && budget(&l) <= SPIN_NS);
    }
  /* spin_ns below the floor: the budget never exceeds spin_ns. */
  ferry__spin_learn l = {0};
  struct probe never = {0, 0};
  CHECK_RC(run_wait(&l, 100, FERRY_MSEC, &never), -ETIMEDOUT);
  CHECK(budget(&l) > 0 && budget(&l) <= 100);
}

int main(void)
{
  RUN(test_learn_cut_and_restore);
  RUN(test_learn_untouched);
  RUN(test_learn_deadline_cut);
  RUN(test_learn_any_value);
  return ft_done();
}
