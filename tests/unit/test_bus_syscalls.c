/* SPDX-License-Identifier: MIT */
/*
 * test_bus_syscalls.c: the system calls the bus makes on its fast paths,
 * counted by interposing syscall(): the test binary links the library
 * statically, so its own definition is the one the library's futex calls
 * go through; it forwards every call to the real one.
 *
 * A publish, a take and a release with nobody asleep make no futex call; a
 * subscriber killed while asleep costs later publishes at most one wake in
 * all (its announcement is cleared by the first), not one each.
 */
#include <dlfcn.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ferry/array.h"
#include "ferry/bus.h"
#include "fixtures.h"
#include "test.h"

#define WAIT_MS 20000

/* ---- interposed syscall() ----------------------------------------------------- */

static _Atomic long futex_waits, futex_wakes;

long syscall(long nr, ...)
{
  /* Every caller in the library passes at most six integer or pointer
   * arguments; reading six is what the C library's own wrapper does. */
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  if (nr == SYS_futex) {
    int op = (int)a[1] & FUTEX_CMD_MASK;
    if (op == FUTEX_WAKE)
      atomic_fetch_add(&futex_wakes, 1);
    else if (op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET)
      atomic_fetch_add(&futex_waits, 1);
  }
  static long (*real)(long, ...);
  if (!real)
    real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- helpers -------------------------------------------------------------------- */

static const ferry_array_spec SPEC = {"v", FERRY_DTYPE_U32, 1, {64}};

static int publish_one(ferry_bus *b)
{
  ferry_frame *f;
  int rc = ferry_bus_loan(b, &f, 0);
  if (rc)
    return rc;
  ferry_array v;
  if (ferry_frame_array(f, "v", &v) == 0)
    ((uint32_t *)v.data)[0] = (uint32_t)ferry_bus_seq(b);
  return ferry_bus_publish(b, f);
}

static ferry_bus *make_bus(const char *name, ferry_bus_mode mode)
{
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = mode;
  o.slots = 3;
  o.region.liveness_ns = 200 * FERRY_MSEC;
  ferry_bus *b = NULL;
  CHECK_OK(ferry_bus_create(name, &SPEC, 1, &o, &b));
  return b;
}

/* ---- tests ------------------------------------------------------------------------ */

/* The idle fast path: loan, publish, next, release with nobody asleep. */
static void test_fast_paths_make_no_futex_call(void)
{
  for (int mode = FERRY_BUS_LOCKSTEP; mode <= FERRY_BUS_LATEST; mode++) {
    char name[64];
    ft_name(name, sizeof name, "bus-sys");
    ferry_bus *b = make_bus(name, (ferry_bus_mode)mode);
    REQUIRE(b);
    ferry_sub *s;
    REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
    long wakes = atomic_load(&futex_wakes), waits = atomic_load(&futex_waits);
    for (uint64_t i = 0; i < 200; i++) {
      CHECK_OK(publish_one(b));
      const ferry_frame *f;
      ferry_bus_frame_info info;
      CHECK_OK(ferry_bus_next(s, &f, &info, FT_TIMEOUT));
      CHECK_EQ(info.seq, i);
      CHECK_OK(ferry_bus_release(s, f));
    }
    CHECK_EQ(atomic_load(&futex_wakes) - wakes, 0);
    CHECK_EQ(atomic_load(&futex_waits) - waits, 0);
    ferry_bus_unsubscribe(s);
    ferry_bus_close(b);
    CHECK_OK(ferry_unlink(name));
  }
}

/* Defect 14: a subscriber killed while asleep in next. Before, it left the
 * bus's sleeper count one too high for good, and every later publish made
 * a futex wake for nobody. */
static void test_dead_sleeper_costs_one_wake(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus-sys");
  ferry_bus *b = make_bus(name, FERRY_BUS_LATEST);
  REQUIRE(b);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    const ferry_frame *f;
    ferry_bus_next(s, &f, NULL, FERRY_FOREVER);
    ft_child_exit();
  }
  FT_WAIT_UNTIL(ft_in_futex(kid), 500);
  kill(kid, SIGKILL);
  CHECK(ft_wait(kid, WAIT_MS) != -1);
  long wakes = atomic_load(&futex_wakes);
  for (int i = 0; i < 100; i++)
    CHECK_OK(publish_one(b));
  long made = atomic_load(&futex_wakes) - wakes;
  CHECK(made <= 1);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_fast_paths_make_no_futex_call);
  RUN(test_dead_sleeper_costs_one_wake);
  return ft_done();
}
