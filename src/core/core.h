/* SPDX-License-Identifier: MIT */
/*
 * core.h: the lowest layer. Clocks and deadlines, futex calls, this thread's
 * identity, and the liveness of a thread by its id and start time (for the
 * mutex: participants of regions use kernel-kept locks instead, see
 * region.c). wait.h and crash.h are the rest of the layer. It depends on no
 * module; every module depends on it. Nothing here is exported.
 */
#ifndef FERRY_CORE_H
#define FERRY_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/common.h"

/* ---- clocks and deadlines ---------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline. */
int64_t ferry__now_ns(void);
/* CLOCK_REALTIME in nanoseconds: for timestamps shown to people. */
int64_t ferry__wall_ns(void);

/* No deadline. */
#define FERRY__NO_DEADLINE INT64_MAX

/*
 * Turns a caller's timeout_ns into an absolute monotonic deadline.
 * Returns -EINVAL for a negative timeout, else 0 and *deadline: now for 0,
 * FERRY__NO_DEADLINE for FERRY_FOREVER, saturating on overflow.
 */
int ferry__deadline(int64_t timeout_ns, int64_t *deadline);

/* The relative timeout left until an absolute deadline: FERRY_FOREVER for
 * FERRY__NO_DEADLINE, 0 once it passed. For a call that waits twice. */
int64_t ferry__remaining_ns(int64_t deadline);

/* min(deadline, now + slice): the next time a sleeper must look around. */
int64_t ferry__slice_end(int64_t deadline, int64_t slice_ns);

/* Sleep until the monotonic time `until` (or a signal). */
void ferry__sleep_until(int64_t until);

/* ---- futex --------------------------------------------------------------
 * Futex words in shared memory are waited on and woken without
 * FUTEX_PRIVATE_FLAG: the kernel then keys them by the backing page, which
 * is what lets two processes that map a region at different addresses meet.
 */

/*
 * Sleeps while *word == expect, until a wake, a signal or `until` (absolute
 * monotonic ns; FERRY__NO_DEADLINE for none). Returns 0 when woken (possibly
 * spuriously), -EAGAIN if *word != expect on entry, -ETIMEDOUT, -EINTR.
 * Callers always re-check their condition.
 */
int ferry__futex_wait(_Atomic uint32_t *word, uint32_t expect, int64_t until);
/* Wakes up to n sleepers on word; returns how many were woken. */
int ferry__futex_wake(_Atomic uint32_t *word, int n);

/* A hint to the CPU inside a spin loop. */
static inline void ferry__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* ---- identity -------------------------------------------------------------
 * A process (or thread) is identified by its id plus its start time in clock
 * ticks since boot (/proc/PID/stat field 22). Ids are recycled; the pair is
 * not, so a recycled pid never passes for the process that had it before.
 * Values are cached per thread and reset in a fork child.
 */
pid_t ferry__pid(void);
pid_t ferry__tid(void);
uint64_t ferry__pid_start(void); /* this process's start time */
uint64_t ferry__tid_start(void); /* this thread's start time */

/* ---- liveness ------------------------------------------------------------ */

typedef enum {
  FERRY__DEAD = 0,  /* gone, a zombie, or its id now names another process */
  FERRY__ALIVE = 1, /* running (or we cannot tell it from running) */
} ferry__liveness;

/*
 * Reads /proc/ID/stat. Returns 0 and fills *start and *state (the one-letter
 * state, 'Z' for a zombie) if the task exists, -ESRCH if not, or another
 * negative errno if /proc cannot tell (hidepid, no /proc).
 */
int ferry__proc_stat(pid_t id, uint64_t *start, char *state);

/*
 * Is the thread (or process) `id` that started at `start` still running?
 * start == 0 means "unknown": only existence is checked. A zombie is dead:
 * for a thread id that is a main thread that called pthread_exit, which is
 * what a mutex it held needs to know. Where /proc shows no entry (hidepid,
 * another PID namespace), kill(id, 0) decides: EPERM means alive.
 */
ferry__liveness ferry__alive(pid_t id, uint64_t start);

/* ---- misc ---------------------------------------------------------------- */

/* FNV-1a, for header checksums: catches corruption, not malice. */
uint32_t ferry__fnv1a(const void *data, size_t len, uint32_t seed);
#define FERRY__FNV_SEED UINT32_C(2166136261)

/* Checked arithmetic: return true on overflow. */
static inline bool ferry__mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
  return __builtin_mul_overflow(a, b, out);
}
static inline bool ferry__add_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
  return __builtin_add_overflow(a, b, out);
}
/* Round up to a power-of-two alignment, with overflow check. */
static inline bool ferry__align_up(uint64_t v, uint64_t align, uint64_t *out)
{
  uint64_t t;
  if (ferry__add_overflow(v, align - 1, &t))
    return true;
  *out = t & ~(align - 1);
  return false;
}

#define FERRY__CACHELINE 64

#endif /* FERRY_CORE_H */
