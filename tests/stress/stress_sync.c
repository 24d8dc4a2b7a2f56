/* SPDX-License-Identifier: MIT */
/*
 * stress_sync.c: the robust mutex against real process deaths.
 *
 * First the single deaths, each deterministic: a holder SIGKILLed and
 * reaped before anyone waits; a holder killed while the parent is already
 * asleep in lock (it stays a zombie meanwhile); a zombie holder that was
 * never reaped. Then the kill storm: workers increment a plain shared
 * counter under the mutex while the parent SIGKILLs random workers at
 * random moments, hundreds of times, and replaces them. Each increment
 * is bracketed by an "in critical section" marker and an undo snapshot, so
 * whoever gets -EOWNERDEAD can roll a half-done increment back; at the end
 * the counter must equal the sum of the increments each worker completed.
 *
 * Duration: ft_stress_seconds(2.0) for the storm (FERRY_STRESS_SECONDS for
 * the long tier).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "sync_layout.h"
#include "fixtures.h"
#include "test.h"

#define CHILD_MS 30000

/* ---- single deaths ---------------------------------------------------------- */

struct death {
  ferry_mutex m;
  _Atomic int held;
  uint64_t state; /* protected by m: 1 while "inconsistent" */
};

/* A child that takes the mutex, leaves the state half-done, and waits to
 * be killed. */
static pid_t holder(struct death *d)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(&d->m, 0));
    d->state = 1;
    atomic_store(&d->held, 1);
    for (;;)
      pause();
  }
  FT_WAIT_UNTIL(atomic_load(&d->held), 200);
  return pid;
}

/* After -EOWNERDEAD: repair, make consistent, and check the mutex is normal
 * again, here and in another process. */
static void repair_and_reuse(struct death *d)
{
  CHECK_EQ(d->state, 1);
  d->state = 0;
  CHECK_OK(ferry_mutex_consistent(&d->m));
  CHECK_OK(ferry_mutex_unlock(&d->m));
  CHECK_EQ(ft_mutex_word(&d->m), 0);
  for (int i = 0; i < 3; i++) {
    CHECK_OK(ferry_mutex_lock(&d->m, FERRY_SEC));
    CHECK_OK(ferry_mutex_unlock(&d->m));
  }
  pid_t pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(&d->m, 0));
    CHECK_EQ(d->state, 0);
    CHECK_OK(ferry_mutex_unlock(&d->m));
    ft_child_exit();
  }
  ft_wait_ok(pid, CHILD_MS);
}

/* Killed and reaped before we lock; default liveness period (1 s). */
static void test_holder_killed_then_lock(void)
{
  CHECK_EQ(ferry_sync_liveness_ns(), FERRY_SEC);
  struct death *d = ft_shared_alloc(4096);
  REQUIRE(d);
  pid_t pid = holder(d);
  kill(pid, SIGKILL);
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  CHECK_RC(ferry_mutex_lock(&d->m, 5 * FERRY_SEC), -EOWNERDEAD);
  repair_and_reuse(d);
  munmap(d, 4096);
}

/* We are asleep in lock when the holder dies; nobody reaps it meanwhile
 * (we are the parent, and we are busy), so it is a zombie when found. */
static void test_holder_killed_while_we_sleep(void)
{
  ferry_sync_set_liveness_ns(100 * FERRY_MSEC);
  struct death *d = ft_shared_alloc(4096);
  REQUIRE(d);
  pid_t h = holder(d);
  pid_t killer = ft_fork();
  if (killer == 0) {
    /* Once the parent sleeps in lock. */
    FT_WAIT_UNTIL(ft_in_futex(getppid()), 200);
    CHECK(kill(h, SIGKILL) == 0);
    ft_child_exit();
  }
  CHECK_RC(ferry_mutex_lock(&d->m, 5 * FERRY_SEC), -EOWNERDEAD);
  repair_and_reuse(d);
  int st;
  CHECK_EQ(waitpid(h, &st, 0), h);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  ft_wait_ok(killer, CHILD_MS);
  munmap(d, 4096);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* Killed but not reaped: a zombie is dead, though its pid exists. */
static void test_zombie_holder(void)
{
  ferry_sync_set_liveness_ns(100 * FERRY_MSEC);
  struct death *d = ft_shared_alloc(4096);
  REQUIRE(d);
  pid_t h = holder(d);
  CHECK(kill(h, SIGKILL) == 0);
  uint64_t start;
  char state = '?';
  FT_WAIT_UNTIL(ferry__proc_stat(h, &start, &state) == 0 && state == 'Z', 200);
  CHECK_RC(ferry_mutex_lock(&d->m, 5 * FERRY_SEC), -EOWNERDEAD);
  repair_and_reuse(d);
  int st;
  CHECK_EQ(waitpid(h, &st, 0), h);
  munmap(d, 4096);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* ---- the kill storm ---------------------------------------------------------- */

#define STORM_WORKERS 4
#define STORM_MIN_KILLS 300

struct storm {
  ferry_mutex m;
  _Atomic int stop;
  _Atomic uint64_t recovered;  /* -EOWNERDEAD returns */
  _Atomic uint64_t repaired;   /* ... that found a half-done increment */
  _Atomic uint64_t violations; /* two holders at once, or a missed death */
  _Atomic uint64_t errors;     /* any other lock result */
  /* Protected by m. Written through a volatile pointer with signal fences
   * between the steps, so that a SIGKILL (asynchronous, like a signal)
   * leaves them written in program order. */
  uint64_t count;
  uint64_t in_cs;
  uint64_t snap_count, snap_slot, snap_done;
  uint64_t holder;
  uint64_t done[STORM_WORKERS]; /* increments completed per worker seat */
};

/* Rolls a half-done increment back. Idempotent: a repairer killed midway
 * leaves in_cs set and the snapshot intact for the next one. */
static void storm_repair(volatile struct storm *v)
{
  if (!v->in_cs)
    return;
  v->count = v->snap_count;
  v->done[v->snap_slot] = v->snap_done;
  atomic_signal_fence(memory_order_seq_cst);
  v->in_cs = 0;
  atomic_signal_fence(memory_order_seq_cst);
}

static void storm_worker(struct storm *s, uint32_t slot)
{
  volatile struct storm *v = s;
  uint64_t me = (uint64_t)getpid();
  uint64_t rng = me * 0x9e3779b97f4a7c15u;
  while (!atomic_load(&s->stop)) {
    int r = ferry_mutex_lock(&s->m, 30 * FERRY_SEC);
    if (r == -EOWNERDEAD) {
      atomic_fetch_add(&s->recovered, 1);
      if (v->in_cs)
        atomic_fetch_add(&s->repaired, 1);
      storm_repair(v);
      if (ferry_mutex_consistent(&s->m) != 0)
        atomic_fetch_add(&s->errors, 1);
    } else if (r != 0) {
      atomic_fetch_add(&s->errors, 1);
      break;
    }
    if (v->in_cs)
      atomic_fetch_add(&s->violations, 1); /* a death nobody reported */

    v->snap_count = v->count;
    v->snap_slot = slot;
    v->snap_done = v->done[slot];
    atomic_signal_fence(memory_order_seq_cst);
    v->in_cs = 1;
    atomic_signal_fence(memory_order_seq_cst);
    v->holder = me;
    uint64_t c = v->count;
    for (int i = (int)(ft_rand(&rng) % 64); i > 0; i--)
      ferry__cpu_relax(); /* widen the window a kill can land in */
    v->count = c + 1;
    v->done[slot] = v->done[slot] + 1;
    if (v->holder != me)
      atomic_fetch_add(&s->violations, 1); /* someone else got in */
    atomic_signal_fence(memory_order_seq_cst);
    v->in_cs = 0;
    atomic_signal_fence(memory_order_seq_cst);

    if (ferry_mutex_unlock(&s->m) != 0)
      atomic_fetch_add(&s->errors, 1);
  }
  ft_child_exit();
}

static pid_t storm_spawn(struct storm *s, uint32_t slot)
{
  pid_t pid = ft_fork();
  if (pid == 0)
    storm_worker(s, slot);
  return pid;
}

static void test_kill_storm(void)
{
  /* Survivors notice a dead holder within 20 ms, so hundreds of deaths
   * cost seconds, not minutes. Inherited by the workers. */
  ferry_sync_set_liveness_ns(20 * FERRY_MSEC);
  size_t size = sizeof(struct storm);
  struct storm *s = ft_shared_alloc(size);
  REQUIRE(s);
  double seconds = ft_stress_seconds(2.0);
  /* Worker i always sits in seat i: a replacement continues its
   * predecessor's done[i], which the lock serialises. */
  pid_t pid[STORM_WORKERS];
  unsigned spawned = 0;
  for (int i = 0; i < STORM_WORKERS; i++, spawned++)
    pid[i] = storm_spawn(s, (uint32_t)i);

  uint64_t rng = (uint64_t)getpid() ^ (uint64_t)ft_ms();
  int64_t end = ft_ms() + (int64_t)(seconds * 1000);
  int kills = 0;
  while (ft_ms() < end || kills < STORM_MIN_KILLS) {
    usleep((useconds_t)(ft_rand(&rng) % 1500));
    int i = (int)(ft_rand(&rng) % STORM_WORKERS);
    kill(pid[i], SIGKILL);
    int st = 0;
    if (waitpid(pid[i], &st, 0) != pid[i] || !WIFSIGNALED(st)) {
      /* it exited by itself: a failed CHECK or an error in it */
      ft_fail(__FILE__, __LINE__, "worker %d ended with status 0x%x", (int)pid[i], st);
    }
    kills++;
    pid[i] = storm_spawn(s, (uint32_t)i);
    spawned++;
  }
  atomic_store(&s->stop, 1);
  for (int i = 0; i < STORM_WORKERS; i++)
    ft_wait_ok(pid[i], CHILD_MS);

  int r = ferry_mutex_lock(&s->m, 5 * FERRY_SEC);
  CHECK(r == 0 || r == -EOWNERDEAD);
  if (r == -EOWNERDEAD) {
    atomic_fetch_add(&s->recovered, 1);
    storm_repair(s);
    CHECK_OK(ferry_mutex_consistent(&s->m));
  }
  uint64_t sum = 0;
  for (int i = 0; i < STORM_WORKERS; i++)
    sum += s->done[i];
  printf("        %d kills, %u workers, %llu increments, %llu owner deaths recovered "
         "(%llu mid-increment)\n",
         kills, spawned, (unsigned long long)s->count, (unsigned long long)atomic_load(&s->recovered),
         (unsigned long long)atomic_load(&s->repaired));
  CHECK_EQ(s->in_cs, 0);
  CHECK_EQ(s->count, sum);
  CHECK(s->count > 0);
  CHECK_EQ(atomic_load(&s->violations), 0);
  CHECK_EQ(atomic_load(&s->errors), 0);
  CHECK(kills >= STORM_MIN_KILLS);
  /* Hundreds of kills with the lock held most of the time: some must have
   * hit a holder. */
  CHECK(atomic_load(&s->recovered) > 0);
  if (r == 0 || r == -EOWNERDEAD)
    CHECK_OK(ferry_mutex_unlock(&s->m));
  CHECK_EQ(ft_mutex_word(&s->m), 0);
  munmap(s, size);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* ---- waits under a periodic signal and deaths of woken waiters ---------------
 * [wait-slice] and [wait-all] in docs/design/waiting.md. */

static void on_alarm(int sig) { (void)sig; }

/* Every 20 ms a signal interrupts the futex wait (no SA_RESTART): a
 * waiter with no deadline must still reach its slice ends and notice that
 * the holder died. */
static void interrupt_every_20ms(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {.it_interval = {.tv_usec = 20000}, .it_value = {.tv_usec = 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static void test_forever_wait_under_signals(void)
{
  ferry_sync_set_liveness_ns(100 * FERRY_MSEC);
  struct death *d = ft_shared_alloc(4096);
  REQUIRE(d);
  pid_t h = holder(d);
  pid_t waiter = ft_fork();
  if (waiter == 0) {
    interrupt_every_20ms();
    CHECK_RC(ferry_mutex_lock(&d->m, FERRY_FOREVER), -EOWNERDEAD);
    CHECK_EQ(d->state, 1);
    d->state = 0;
    CHECK_OK(ferry_mutex_consistent(&d->m));
    CHECK_OK(ferry_mutex_unlock(&d->m));
    ft_child_exit();
  }
  FT_WAIT_UNTIL(ft_in_futex(waiter), 200);
  kill(h, SIGKILL);
  waitpid(h, NULL, 0);
  /* A few slices; before, it never returned. */
  ft_wait_ok(waiter, 10000);
  CHECK_EQ(d->state, 0);
  munmap(d, 4096);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

struct sem_pair {
  ferry_sem s;
  _Atomic int rc[2];    /* each waiter's sem_wait result */
  _Atomic int taken[2]; /* it returned 0 */
};

/* A post wakes waiters; the one it woke is killed before it takes the
 * unit. The other must not sleep on to its timeout with the unit there.
 * Rounds, because which waiter a wake reaches and when the kill lands are
 * up to the scheduler; before, ferry_sem_post woke one waiter, and most
 * rounds left the survivor asleep until its timeout. */
static void test_woken_waiter_dies(void)
{
  enum { ROUNDS = 20 };
  struct sem_pair *p = ft_shared_alloc(4096);
  REQUIRE(p);
  int stranded = 0;
  for (int round = 0; round < ROUNDS; round++) {
    CHECK_OK(ferry_sem_init(&p->s, 0));
    pid_t w[2];
    for (int i = 0; i < 2; i++) {
      atomic_store(&p->taken[i], 0);
      w[i] = ft_fork();
      if (w[i] == 0) {
        int rc = ferry_sem_wait(&p->s, 10 * FERRY_SEC);
        atomic_store(&p->taken[i], rc == 0);
        atomic_store(&p->rc[i], rc);
        ft_child_exit();
      }
      FT_WAIT_UNTIL(ft_in_futex(w[i]), 200);
    }
    CHECK_OK(ferry_sem_post(&p->s));
    kill(w[0], SIGKILL);
    waitpid(w[0], NULL, 0);
    /* If the victim took the unit before it died, the survivor sleeps on
     * rightly: give it another, so the round does not last its timeout. */
    int64_t end = ft_ms() + CHILD_MS;
    int st;
    while (waitpid(w[1], &st, WNOHANG) == 0 && ft_ms() < end) {
      if (ferry_sem_value(&p->s) == 0 && ft_in_futex(w[1]))
        CHECK_OK(ferry_sem_post(&p->s));
      usleep(20000);
    }
    if (kill(w[1], 0) == 0 && waitpid(w[1], &st, WNOHANG) == 0) {
      ft_fail(__FILE__, __LINE__, "waiter %d never returned", (int)w[1]);
      kill(w[1], SIGKILL);
      waitpid(w[1], NULL, 0);
    }
    /* The unit went to the victim (taken, then it died) or to the
     * survivor; the survivor timing out with it still there is the bug. */
    if (atomic_load(&p->rc[1]) == -ETIMEDOUT && ferry_sem_value(&p->s) == 1)
      stranded++;
    CHECK_EQ(ferry_sem_value(&p->s) + (uint32_t)atomic_load(&p->taken[1]) <= 1, 1);
  }
  CHECK_EQ(stranded, 0);
  munmap(p, 4096);
}

int main(void)
{
  RUN(test_forever_wait_under_signals);
  RUN(test_woken_waiter_dies);
  RUN(test_holder_killed_then_lock);
  RUN(test_holder_killed_while_we_sleep);
  RUN(test_zombie_holder);
  RUN(test_kill_storm);
  return ft_done();
}
