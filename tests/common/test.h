/* SPDX-License-Identifier: MIT */
/*
 * test.h: the small test harness every ferry test binary uses.
 *
 * A binary is a list of test functions run by ft_run(); CHECK* macros record
 * failures and go on; ft_done() prints "N passed, N failed" and gives the
 * exit code. Helpers fork children with a bounded wait, so a deadlocked
 * child fails its test instead of hanging the suite, and make region names
 * that are unique to the run ("t-<tag>-<pid>-<n>"), which the suite's last
 * test checks are all gone.
 */
#ifndef FERRY_TEST_H
#define FERRY_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "ferry/error.h"
#include "ferry/region.h"

extern int ft_failures; /* failures in the current test */

void ft_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      ft_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                         \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long ft_a_ = (long long)(a), ft_b_ = (long long)(b);                  \
    if (ft_a_ != ft_b_)                                                        \
      ft_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, ft_a_, ft_b_); \
  } while (0)

/* A ferry return code: shows both codes' messages on failure. */
#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int ft_got_ = (int)(expr), ft_want_ = (int)(want);                         \
    if (ft_got_ != ft_want_)                                                   \
      ft_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s)", #expr,       \
              ft_got_, ferry_strerror(ft_got_), ft_want_, ferry_strerror(ft_want_)); \
  } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

/* Fatal in the current test: returns from the test function. */
#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ft_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                       \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define REQUIRE_OK(expr)                                                       \
  do {                                                                         \
    int ft_got_ = (int)(expr);                                                 \
    if (ft_got_ != 0) {                                                        \
      ft_fail(__FILE__, __LINE__, "%s: %d (%s)", #expr, ft_got_, ferry_strerror(ft_got_)); \
      return;                                                                  \
    }                                                                          \
  } while (0)

/* Runs one test function and reports it. */
void ft_run(const char *name, void (*fn)(void));
#define RUN(fn) ft_run(#fn, fn)

/* Marks the current test skipped (with a reason): it counts as neither
 * passed nor failed, and a binary whose tests were all skipped or passed,
 * with at least one skipped, exits FT_SKIP_CODE (CTest shows "Skipped"). */
void ft_skip(const char *why);
#define FT_SKIP_CODE 77

/* Prints "N passed, N failed", checks that this process left no region of
 * its own behind, and returns the process exit code. */
int ft_done(void);

/* A region name unique to this process and call: "t-<tag>-<pid>-<n>". */
const char *ft_name(char *buf, size_t cap, const char *tag);

/* Fork; in the child, a failed CHECK makes ft_child_exit() exit 1. The
 * child gets an alarm so an orphaned child cannot outlive the suite. */
pid_t ft_fork(void);
/* Exits a child: status 0 if no CHECK failed in it, else 1. */
void ft_child_exit(void) __attribute__((noreturn));

/* Waits up to timeout_ms for child pid. Returns its wait status, or -1
 * after killing it if the timeout ran out (and records a failure). */
int ft_wait(pid_t pid, int timeout_ms);
/* ft_wait, and CHECK that the child exited 0. */
void ft_wait_ok(pid_t pid, int timeout_ms);

/* A timeout for calls that should return promptly: long enough for a
 * loaded machine, short enough that a deadlock fails the test. */
#define FT_TIMEOUT (10 * FERRY_SEC)

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
int64_t ft_ms(void);

/* Seconds for long-tier stress tests: FERRY_STRESS_SECONDS or def. */
double ft_stress_seconds(double def);

/* Is process pid's main thread blocked in a futex wait right now? For
 * tests that must act only once a child sleeps (reads /proc/PID/wchan). */
bool ft_in_futex(pid_t pid);

/* Small deterministic PRNG (xorshift64*). */
uint64_t ft_rand(uint64_t *state);

#endif /* FERRY_TEST_H */
