/* SPDX-License-Identifier: MIT */
/*
 * test_sync.c: the sync primitives (ferry/sync.h): each one's semantics and
 * error paths, across threads and fork()ed processes sharing MAP_SHARED
 * memory or a ferry region, the robust mutex's owner-death paths, and
 * a seccomp-enforced proof that uncontended operations make no system call.
 *
 * Waits that a wake-up must end use long timeouts (60 s) inside children
 * that the parent gives a much shorter bound (ft_wait), so a lost wake-up
 * fails the test instead of being hidden by the final check at a timeout.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/wait.h"
#include "sync_layout.h"
#include "fixtures.h"
#include "test.h"

/* A wait that a wake-up, not the timeout, must end. */
#define LONG_WAIT (60 * FERRY_SEC)
/* How long the parent gives a child that should finish promptly. */
#define CHILD_MS 20000

/* The S bit of an object's event count: a waiter announced a sleep, and
 * nothing has woken it since. */
static bool cond_sleeper(ferry_cond *c)
{
  return atomic_load(&((struct ferry__cond *)(void *)c)->ec) & FERRY__EC_SLEEPER;
}

static bool sem_sleeper(ferry_sem *s)
{
  return atomic_load(&((struct ferry__sem *)(void *)s)->ec) & FERRY__EC_SLEEPER;
}

/* Every one of the n children is asleep in a futex wait. */
static bool all_asleep(const pid_t *pid, int n)
{
  for (int i = 0; i < n; i++)
    if (!ft_in_futex(pid[i]))
      return false;
  return true;
}

static uint32_t barrier_word(ferry_barrier *b)
{
  return atomic_load(&((struct ferry__barrier *)(void *)b)->word);
}

/* A pid that is certainly dead now: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

/* A child that only sleeps until killed. */
static pid_t sleeper(void)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    for (;;)
      pause();
  }
  return pid;
}

static void kill_reap(pid_t pid)
{
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* Makes owner-death tests fast; restored to the default afterwards. */
#define FAST_LIVENESS (40 * FERRY_MSEC)

/* ---- layout and zero state ------------------------------------------------ */

static void test_sizes(void)
{
  CHECK_EQ(sizeof(ferry_mutex), 16);
  CHECK_EQ(sizeof(ferry_cond), 16);
  CHECK_EQ(sizeof(ferry_event), 16);
  CHECK_EQ(sizeof(ferry_sem), 16);
  CHECK_EQ(sizeof(ferry_barrier), 16);
  CHECK_EQ(sizeof(ferry_counter), 8);
  CHECK_EQ(_Alignof(ferry_mutex), 8);
  CHECK_EQ(_Alignof(ferry_counter), 8);
}

static void test_zero_is_initialised(void)
{
  struct {
    ferry_mutex m;
    ferry_cond c;
    ferry_event e;
    ferry_sem s;
    ferry_barrier b;
    ferry_counter k;
  } *z = ft_shared_alloc(4096);
  REQUIRE(z);
  CHECK_OK(ferry_mutex_lock(&z->m, 0));
  CHECK_OK(ferry_cond_signal(&z->c));
  CHECK_RC(ferry_cond_wait(&z->c, &z->m, 0), -EAGAIN);
  CHECK_OK(ferry_mutex_unlock(&z->m));
  CHECK_EQ(ferry_event_is_set(&z->e), 0);
  CHECK_RC(ferry_event_wait(&z->e, 0), -EAGAIN);
  CHECK_EQ(ferry_sem_value(&z->s), 0);
  CHECK_RC(ferry_sem_wait(&z->s, 0), -EAGAIN);
  CHECK_EQ(ferry_counter_load(&z->k), 0);
  /* The one exception: a zeroed barrier has no party count. */
  CHECK_RC(ferry_barrier_wait(&z->b, 0), -EINVAL);
  CHECK_RC(ferry_barrier_wait(&z->b, FERRY_FOREVER), -EINVAL);
  /* The static initialisers and the _init functions give all-zero bytes. */
  ferry_mutex mi = FERRY_MUTEX_INIT, mz;
  memset(&mz, 0xab, sizeof mz);
  ferry_mutex_init(&mz);
  CHECK(memcmp(&mi, &mz, sizeof mi) == 0);
  ferry_cond ci = FERRY_COND_INIT, cz;
  memset(&cz, 0xab, sizeof cz);
  ferry_cond_init(&cz);
  CHECK(memcmp(&ci, &cz, sizeof ci) == 0);
  ferry_event ei = FERRY_EVENT_INIT, ez;
  memset(&ez, 0xab, sizeof ez);
  ferry_event_init(&ez);
  CHECK(memcmp(&ei, &ez, sizeof ei) == 0);
  ferry_counter ki = FERRY_COUNTER_INIT;
  CHECK_EQ(ferry_counter_load(&ki), 0);
  munmap(z, 4096);
}

static void test_liveness_setting(void)
{
  CHECK_EQ(ferry_sync_liveness_ns(), FERRY_SEC);
  ferry_sync_set_liveness_ns(10 * FERRY_MSEC);
  CHECK_EQ(ferry_sync_liveness_ns(), 10 * FERRY_MSEC);
  ferry_sync_set_liveness_ns(1); /* raised to the floor */
  CHECK_EQ(ferry_sync_liveness_ns(), 2 * FERRY_MSEC);
  ferry_sync_set_liveness_ns(FERRY_SEC);
  CHECK_EQ(ferry_sync_liveness_ns(), FERRY_SEC);
}

/* ---- mutex ------------------------------------------------------------------ */

static void test_mutex_basic(void)
{
  ferry_mutex m;
  CHECK_OK(ferry_mutex_init(&m));
  CHECK_RC(ferry_mutex_lock(&m, -1), -EINVAL);
  CHECK_RC(ferry_mutex_unlock(&m), FERRY_ENOTOWNER);
  CHECK_RC(ferry_mutex_consistent(&m), FERRY_ENOTOWNER);
  CHECK_OK(ferry_mutex_lock(&m, FERRY_FOREVER));
  CHECK_EQ(ft_mutex_word(&m), (uint32_t)ferry__tid());
  CHECK_RC(ferry_mutex_lock(&m, 0), -EDEADLK);
  CHECK_RC(ferry_mutex_lock(&m, 10 * FERRY_MSEC), -EDEADLK);
  CHECK_RC(ferry_mutex_lock(&m, FERRY_FOREVER), -EDEADLK);
  CHECK_RC(ferry_mutex_lock(&m, -5), -EINVAL);
  CHECK_RC(ferry_mutex_consistent(&m), -EINVAL); /* held, but nobody died */
  CHECK_OK(ferry_mutex_unlock(&m));
  CHECK_EQ(ft_mutex_word(&m), 0);
  CHECK_RC(ferry_mutex_unlock(&m), FERRY_ENOTOWNER);
  CHECK_OK(ferry_mutex_lock(&m, 0));
  CHECK_OK(ferry_mutex_unlock(&m));
  CHECK_OK(ferry_mutex_lock(&m, 5 * FERRY_SEC));
  CHECK_OK(ferry_mutex_unlock(&m));
}

/* A live owner in another process: try, timeout and non-owner paths. */
static void test_mutex_busy_elsewhere(void)
{
  ferry_mutex *m = ft_shared_alloc(4096);
  REQUIRE(m);
  CHECK_OK(ferry_mutex_lock(m, 0));
  pid_t pid = ft_fork();
  if (pid == 0) {
    CHECK_RC(ferry_mutex_lock(m, 0), -EAGAIN);
    /* A live owner is not taken over, even after liveness checks. */
    ferry_sync_set_liveness_ns(FAST_LIVENESS);
    CHECK_RC(ferry_mutex_lock(m, 150 * FERRY_MSEC), -ETIMEDOUT);
    CHECK_RC(ferry_mutex_unlock(m), FERRY_ENOTOWNER);
    CHECK_RC(ferry_mutex_consistent(m), FERRY_ENOTOWNER);
    ft_child_exit();
  }
  ft_wait_ok(pid, CHILD_MS);
  CHECK_EQ(ft_mutex_word(m) & FERRY__MUTEX_TID_MASK, (uint32_t)ferry__tid());
  CHECK_OK(ferry_mutex_unlock(m));
  pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(m, 0));
    CHECK_OK(ferry_mutex_unlock(m));
    ft_child_exit();
  }
  ft_wait_ok(pid, CHILD_MS);
  munmap(m, 4096);
}

static void *unlock_other_thread(void *arg)
{
  return (void *)(intptr_t)ferry_mutex_unlock(arg);
}

static void test_mutex_not_owner_thread(void)
{
  ferry_mutex m = FERRY_MUTEX_INIT;
  CHECK_OK(ferry_mutex_lock(&m, 0));
  pthread_t t;
  void *ret;
  REQUIRE(pthread_create(&t, NULL, unlock_other_thread, &m) == 0);
  pthread_join(t, &ret);
  CHECK_RC((int)(intptr_t)ret, FERRY_ENOTOWNER);
  CHECK_OK(ferry_mutex_unlock(&m));
}

struct counted {
  ferry_mutex m;
  uint64_t plain; /* protected by m only */
  int64_t locks_waited;
};

#define INCS 20000

static void increment_many(struct counted *s)
{
  for (int i = 0; i < INCS; i++) {
    int r = ferry_mutex_lock(&s->m, 30 * FERRY_SEC);
    CHECK_OK(r);
    if (r != 0)
      return;
    /* A non-atomic read-modify-write: lost updates show any overlap. */
    uint64_t v = s->plain;
    if (i % 64 == 0)
      sched_yield();
    s->plain = v + 1;
    CHECK_OK(ferry_mutex_unlock(&s->m));
  }
}

static void *increment_thread(void *arg)
{
  increment_many(arg);
  return NULL;
}

static void test_mutex_exclusion_threads(void)
{
  enum { N = 4 };
  struct counted s = {.m = FERRY_MUTEX_INIT};
  pthread_t t[N];
  for (int i = 0; i < N; i++)
    REQUIRE(pthread_create(&t[i], NULL, increment_thread, &s) == 0);
  for (int i = 0; i < N; i++)
    pthread_join(t[i], NULL);
  CHECK_EQ(s.plain, (uint64_t)N * INCS);
  CHECK_EQ(ft_mutex_word(&s.m), 0);
}

static void test_mutex_exclusion_processes(void)
{
  enum { N = 4 };
  struct counted *s = ft_shared_alloc(4096);
  REQUIRE(s);
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0) {
      increment_many(s);
      ft_child_exit();
    }
  }
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], 60000);
  CHECK_EQ(s->plain, (uint64_t)N * INCS);
  CHECK_EQ(ft_mutex_word(&s->m), 0);
  munmap(s, 4096);
}

static void *lock_and_exit(void *arg)
{
  return (void *)(intptr_t)ferry_mutex_lock(arg, 0);
}

/* A thread that exits holding the mutex: the next locker repairs; unlock
 * without consistent makes the mutex not recoverable until init. */
static void test_mutex_owner_thread_exits(void)
{
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  ferry_mutex m = FERRY_MUTEX_INIT;
  pthread_t t;
  void *ret;
  REQUIRE(pthread_create(&t, NULL, lock_and_exit, &m) == 0);
  pthread_join(t, &ret);
  CHECK_OK((int)(intptr_t)ret);
  CHECK(ft_mutex_word(&m) != 0);
  CHECK_RC(ferry_mutex_lock(&m, 5 * FERRY_SEC), -EOWNERDEAD);
  CHECK_EQ(ft_mutex_word(&m) & FERRY__MUTEX_TID_MASK, (uint32_t)ferry__tid());
  CHECK(ft_mutex_word(&m) & FERRY__MUTEX_OWNER_DIED);
  CHECK_RC(ferry_mutex_lock(&m, 0), -EDEADLK);
  /* Not made consistent: the unlock succeeds, the mutex is dead for good. */
  CHECK_OK(ferry_mutex_unlock(&m));
  CHECK_RC(ferry_mutex_lock(&m, 0), -ENOTRECOVERABLE);
  CHECK_RC(ferry_mutex_lock(&m, 10 * FERRY_MSEC), -ENOTRECOVERABLE);
  CHECK_RC(ferry_mutex_lock(&m, FERRY_FOREVER), -ENOTRECOVERABLE);
  CHECK_RC(ferry_mutex_unlock(&m), FERRY_ENOTOWNER);
  CHECK_RC(ferry_mutex_consistent(&m), FERRY_ENOTOWNER);
  CHECK_OK(ferry_mutex_init(&m));
  CHECK_OK(ferry_mutex_lock(&m, 0));
  CHECK_OK(ferry_mutex_unlock(&m));
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* A process that exits holding the mutex; the survivor makes it consistent
 * and it works normally afterwards, in this process and others. */
static void test_mutex_owner_process_exits(void)
{
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  ferry_mutex *m = ft_shared_alloc(4096);
  REQUIRE(m);
  pid_t pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(m, 0));
    _exit(ft_failures ? 1 : 0); /* holding it */
  }
  ft_wait_ok(pid, CHILD_MS);
  CHECK_EQ(ft_mutex_word(m) & FERRY__MUTEX_TID_MASK, (uint32_t)pid);
  CHECK_RC(ferry_mutex_lock(m, 5 * FERRY_SEC), -EOWNERDEAD);
  CHECK_OK(ferry_mutex_consistent(m));
  CHECK_RC(ferry_mutex_consistent(m), -EINVAL);
  CHECK(!(ft_mutex_word(m) & FERRY__MUTEX_OWNER_DIED));
  CHECK_OK(ferry_mutex_unlock(m));
  CHECK_EQ(ft_mutex_word(m), 0);
  CHECK_OK(ferry_mutex_lock(m, 0));
  CHECK_OK(ferry_mutex_unlock(m));
  pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(m, 0));
    CHECK_OK(ferry_mutex_unlock(m));
    ft_child_exit();
  }
  ft_wait_ok(pid, CHILD_MS);
  munmap(m, 4096);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* The owner stamp [stamp-tag], driven by writing raw states: the owner
 * died before writing its stamp; a recycled pid; a stamp of another tid;
 * a correct stamp. */
static void test_mutex_owner_stamp(void)
{
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  ferry_mutex m;
  struct ferry__mutex *raw = (struct ferry__mutex *)(void *)&m;
  pid_t live = sleeper();
  uint64_t live_start;
  char st;
  REQUIRE_OK(ferry__proc_stat(live, &live_start, &st));

  /* Died between its CAS and its stamp: existence decides. */
  ferry_mutex_init(&m);
  atomic_store(&raw->word, (uint32_t)dead_pid());
  CHECK_RC(ferry_mutex_lock(&m, 5 * FERRY_SEC), -EOWNERDEAD);
  CHECK_OK(ferry_mutex_consistent(&m));
  CHECK_OK(ferry_mutex_unlock(&m));

  /* Same tid, other start time: the tid was recycled, the owner is dead. */
  ferry_mutex_init(&m);
  atomic_store(&raw->word, (uint32_t)live);
  atomic_store(&raw->owner_stamp, (live_start + 7) << FERRY__STAMP_TID_BITS | (uint64_t)live);
  CHECK_RC(ferry_mutex_lock(&m, 5 * FERRY_SEC), -EOWNERDEAD);
  CHECK_OK(ferry_mutex_consistent(&m));
  CHECK_OK(ferry_mutex_unlock(&m));

  /* A stamp left by another holder: its start time is not trusted for this
   * tid, so the live owner is kept. */
  ferry_mutex_init(&m);
  atomic_store(&raw->word, (uint32_t)live);
  atomic_store(&raw->owner_stamp, (live_start + 7) << FERRY__STAMP_TID_BITS | (uint64_t)(live + 1));
  CHECK_RC(ferry_mutex_lock(&m, 150 * FERRY_MSEC), -ETIMEDOUT);

  /* The owner's own stamp: alive. */
  ferry_mutex_init(&m);
  atomic_store(&raw->word, (uint32_t)live);
  atomic_store(&raw->owner_stamp, live_start << FERRY__STAMP_TID_BITS | (uint64_t)live);
  CHECK_RC(ferry_mutex_lock(&m, 150 * FERRY_MSEC), -ETIMEDOUT);

  /* Our own lock writes our stamp, and unlock clears it. */
  ferry_mutex_init(&m);
  CHECK_OK(ferry_mutex_lock(&m, 0));
  CHECK_EQ(atomic_load(&raw->owner_stamp),
           ferry__tid_start() << FERRY__STAMP_TID_BITS | (uint64_t)ferry__tid());
  CHECK_OK(ferry_mutex_unlock(&m));
  CHECK_EQ(atomic_load(&raw->owner_stamp), 0);

  kill_reap(live);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* A try never checks liveness; any timeout > 0 does, at least once. */
static void test_mutex_try_and_dead_owner(void)
{
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  ferry_mutex m = FERRY_MUTEX_INIT;
  struct ferry__mutex *raw = (struct ferry__mutex *)(void *)&m;
  atomic_store(&raw->word, (uint32_t)dead_pid());
  CHECK_RC(ferry_mutex_lock(&m, 0), -EAGAIN);
  CHECK_RC(ferry_mutex_lock(&m, 1), -EOWNERDEAD);
  CHECK_OK(ferry_mutex_consistent(&m));
  CHECK_OK(ferry_mutex_unlock(&m));
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* Lockers asleep when the mutex becomes not recoverable all get
 * -ENOTRECOVERABLE. */
static void test_mutex_notrecoverable_wakes_sleepers(void)
{
  enum { N = 3 };
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  ferry_mutex *m = ft_shared_alloc(4096);
  REQUIRE(m);
  atomic_store(&((struct ferry__mutex *)(void *)m)->word, (uint32_t)dead_pid());
  CHECK_RC(ferry_mutex_lock(m, 5 * FERRY_SEC), -EOWNERDEAD);
  /* Sleepers that would otherwise wait a minute. Liveness checks see us
   * alive; only the unlock's wake-up can end their wait in time. */
  ferry_sync_set_liveness_ns(FERRY_SEC);
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0) {
      CHECK_RC(ferry_mutex_lock(m, LONG_WAIT), -ENOTRECOVERABLE);
      ft_child_exit();
    }
  }
  FT_WAIT_UNTIL(all_asleep(pid, N), 500);
  CHECK_OK(ferry_mutex_unlock(m)); /* without consistent */
  CHECK_EQ(ft_mutex_word(m), FERRY__MUTEX_NOTRECOVERABLE);
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], CHILD_MS);
  munmap(m, 4096);
}

/* An unlock hands the mutex to a sleeping locker in another process
 * through a wake-up, not through the locker's liveness slice. */
static void test_mutex_wakes_sleeper(void)
{
  ferry_mutex *m = ft_shared_alloc(4096);
  REQUIRE(m);
  ferry_sync_set_liveness_ns(120 * FERRY_SEC); /* slices of a minute */
  CHECK_OK(ferry_mutex_lock(m, 0));
  pid_t pid = ft_fork();
  if (pid == 0) {
    CHECK_OK(ferry_mutex_lock(m, LONG_WAIT));
    CHECK_OK(ferry_mutex_unlock(m));
    ft_child_exit();
  }
  FT_WAIT_UNTIL(ft_in_futex(pid), 500);
  CHECK_OK(ferry_mutex_unlock(m));
  ft_wait_ok(pid, CHILD_MS);
  CHECK_EQ(ft_mutex_word(m), 0);
  ferry_sync_set_liveness_ns(FERRY_SEC);
  munmap(m, 4096);
}

/* ---- no system call when uncontended ------------------------------------------
 * A child installs a seccomp filter that traps every system call except
 * the exit calls. The SIGSYS handler records the call and exits with
 * EXIT_TRAPPED, so any syscall (futex, getpid, gettid, /proc reads...) in
 * the measured code fails the test.
 */
#if defined(__x86_64__)
#define FT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

enum { EXIT_TRAPPED = 77, EXIT_NO_SECCOMP = 78 };

static _Atomic int *trapped_nr; /* shared with the parent */

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
  (void)sig;
  (void)uc;
  atomic_store(trapped_nr, si->si_syscall);
  syscall(SYS_exit_group, EXIT_TRAPPED);
}

#ifdef FT_AUDIT_ARCH
/* Returns 0 once every later syscall but exit/exit_group/rt_sigreturn
 * traps. */
static int forbid_syscalls(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &sa, NULL) != 0)
    return -1;
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FT_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#else
static int forbid_syscalls(void) { return -1; }
#endif

struct nosys {
  ferry_mutex m;
  ferry_cond c;
  ferry_event e;
  ferry_sem s;
  ferry_barrier b;
  ferry_counter k;
  _Atomic uint32_t futex_word;
  _Atomic int trapped;
};

/* Runs in the filtered child: everything that must not enter the kernel.
 * Counts failures itself: CHECK's stdio would make system calls. */
static int uncontended_ops(struct nosys *z)
{
  int bad = 0;
  for (int i = 0; i < 1000; i++) {
    bad += ferry_mutex_lock(&z->m, FERRY_FOREVER) != 0;
    bad += ferry_mutex_lock(&z->m, 0) != -EDEADLK;
    bad += ferry_mutex_unlock(&z->m) != 0;
    bad += ferry_mutex_lock(&z->m, 0) != 0;
    bad += ferry_mutex_unlock(&z->m) != 0;
    bad += ferry_mutex_lock(&z->m, 5 * FERRY_SEC) != 0;
    bad += ferry_mutex_unlock(&z->m) != 0;
    bad += ferry_mutex_unlock(&z->m) != FERRY_ENOTOWNER;
    bad += ferry_cond_signal(&z->c) != 0;
    bad += ferry_cond_broadcast(&z->c) != 0;
    bad += ferry_event_set(&z->e) != 0;
    bad += ferry_event_set(&z->e) != 0;
    bad += ferry_event_is_set(&z->e) != 1;
    bad += ferry_event_wait(&z->e, FERRY_FOREVER) != 0;
    bad += ferry_event_clear(&z->e) != 0;
    bad += ferry_event_wait(&z->e, 0) != -EAGAIN;
    bad += ferry_sem_post(&z->s) != 0;
    bad += ferry_sem_wait(&z->s, FERRY_FOREVER) != 0;
    bad += ferry_sem_wait(&z->s, 0) != -EAGAIN;
    bad += ferry_barrier_wait(&z->b, FERRY_FOREVER) != FERRY_BARRIER_SERIAL;
    bad += ferry_counter_add(&z->k, 2) != 2 * (i + 1);
  }
  return bad;
}

static void test_uncontended_no_syscall(void)
{
  struct nosys *z = ft_shared_alloc(4096);
  REQUIRE(z);
  trapped_nr = &z->trapped;
  CHECK_OK(ferry_barrier_init(&z->b, 1));
  pid_t pid = ft_fork();
  if (pid == 0) {
    /* Warm the identity cache: its first use reads /proc and gettid. */
    (void)ferry__tid();
    (void)ferry__tid_start();
    if (forbid_syscalls() != 0)
      syscall(SYS_exit_group, EXIT_NO_SECCOMP);
    int bad = uncontended_ops(z);
    syscall(SYS_exit_group, bad ? 1 : 0);
  }
  int st = ft_wait(pid, CHILD_MS);
  REQUIRE(st != -1);
  REQUIRE(WIFEXITED(st));
  if (WEXITSTATUS(st) == EXIT_NO_SECCOMP) {
    printf("        (skipped: seccomp filters unavailable)\n");
    munmap(z, 4096);
    return;
  }
  if (WEXITSTATUS(st) == EXIT_TRAPPED)
    ft_fail(__FILE__, __LINE__, "an uncontended operation made system call %d", atomic_load(&z->trapped));
  CHECK_EQ(WEXITSTATUS(st), 0);
  CHECK_EQ(ferry_counter_load(&z->k), 2000);
  CHECK_EQ(ft_mutex_word(&z->m), 0);
  munmap(z, 4096);
}

/* The control: the same filter does catch a futex call. */
static void test_seccomp_catches_futex(void)
{
  struct nosys *z = ft_shared_alloc(4096);
  REQUIRE(z);
  trapped_nr = &z->trapped;
  pid_t pid = ft_fork();
  if (pid == 0) {
    (void)ferry__tid();
    if (forbid_syscalls() != 0)
      syscall(SYS_exit_group, EXIT_NO_SECCOMP);
    ferry__futex_wake(&z->futex_word, 1);
    syscall(SYS_exit_group, 0);
  }
  int st = ft_wait(pid, CHILD_MS);
  REQUIRE(st != -1);
  REQUIRE(WIFEXITED(st));
  if (WEXITSTATUS(st) == EXIT_NO_SECCOMP) {
    printf("        (skipped: seccomp filters unavailable)\n");
  } else {
    CHECK_EQ(WEXITSTATUS(st), EXIT_TRAPPED);
    CHECK_EQ(atomic_load(&z->trapped), SYS_futex);
  }
  munmap(z, 4096);
}

/* ---- condition variable ------------------------------------------------------- */

static void test_cond_local(void)
{
  ferry_mutex m = FERRY_MUTEX_INIT;
  ferry_cond c;
  CHECK_OK(ferry_cond_init(&c));
  CHECK_RC(ferry_cond_wait(&c, &m, 0), FERRY_ENOTOWNER);
  CHECK_OK(ferry_mutex_lock(&m, 0));
  CHECK_RC(ferry_cond_wait(&c, &m, -1), -EINVAL);
  CHECK_RC(ferry_cond_wait(&c, &m, 0), -EAGAIN);
  CHECK_RC(ferry_cond_wait(&c, &m, 20 * FERRY_MSEC), -ETIMEDOUT);
  /* The waiters that timed out left their S bit; the next signal clears
   * it, so later signals make no system call. */
  CHECK(cond_sleeper(&c));
  CHECK_OK(ferry_cond_signal(&c));
  CHECK(!cond_sleeper(&c));
  /* The mutex is held again after each of them. */
  CHECK_RC(ferry_mutex_lock(&m, 0), -EDEADLK);
  CHECK_OK(ferry_mutex_unlock(&m));
  CHECK_RC(ferry_cond_wait(&c, &m, 10 * FERRY_MSEC), FERRY_ENOTOWNER);
  CHECK_OK(ferry_cond_signal(&c));
  CHECK_OK(ferry_cond_broadcast(&c));
}

struct cond_shared {
  ferry_mutex m;
  ferry_cond c;
  int tokens; /* protected by m */
  int go;     /* protected by m */
  int woken;  /* protected by m */
};

/* Waits for `go`, or takes a token; every wait must end by a wake-up. */
static void cond_child(struct cond_shared *s, bool take_token)
{
  CHECK_OK(ferry_mutex_lock(&s->m, LONG_WAIT));
  while (take_token ? s->tokens == 0 : !s->go) {
    int r = ferry_cond_wait(&s->c, &s->m, LONG_WAIT);
    CHECK(r == 0);
    if (r != 0 && r != -ETIMEDOUT)
      ft_child_exit(); /* mutex not held: do not touch s */
  }
  if (take_token)
    s->tokens--;
  s->woken++;
  CHECK_OK(ferry_mutex_unlock(&s->m));
  ft_child_exit();
}

static void test_cond_signal_processes(void)
{
  enum { N = 3 };
  struct cond_shared *s = ft_shared_alloc(4096);
  REQUIRE(s);
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0)
      cond_child(s, true);
  }
  FT_WAIT_UNTIL(all_asleep(pid, N), 500);
  /* One token per signal: each signal must release a waiter. */
  for (int round = 0; round < N; round++) {
    CHECK_OK(ferry_mutex_lock(&s->m, LONG_WAIT));
    s->tokens++;
    CHECK_OK(ferry_cond_signal(&s->c));
    CHECK_OK(ferry_mutex_unlock(&s->m));
    FT_WAIT_UNTIL(__atomic_load_n(&s->woken, __ATOMIC_ACQUIRE) == round + 1, 500);
  }
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], CHILD_MS);
  CHECK_EQ(s->tokens, 0);
  CHECK_EQ(s->woken, N);
  munmap(s, 4096);
}

static void test_cond_broadcast_processes(void)
{
  enum { N = 4 };
  struct cond_shared *s = ft_shared_alloc(4096);
  REQUIRE(s);
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0)
      cond_child(s, false);
  }
  FT_WAIT_UNTIL(all_asleep(pid, N), 500);
  CHECK_OK(ferry_mutex_lock(&s->m, LONG_WAIT));
  s->go = 1;
  CHECK_OK(ferry_cond_broadcast(&s->c));
  CHECK_OK(ferry_mutex_unlock(&s->m));
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], CHILD_MS);
  CHECK_EQ(s->woken, N);
  CHECK(!cond_sleeper(&s->c)); /* the broadcast cleared it */
  munmap(s, 4096);
}

/* The mutex owner dies while a cond waiter needs the mutex back: the
 * waiter's re-lock reports -EOWNERDEAD and the mutex is held. */
static void test_cond_relock_owner_dead(void)
{
  ferry_sync_set_liveness_ns(FAST_LIVENESS);
  struct cond_shared *s = ft_shared_alloc(4096);
  REQUIRE(s);
  pid_t waiter = ft_fork();
  if (waiter == 0) {
    CHECK_OK(ferry_mutex_lock(&s->m, LONG_WAIT));
    int r = ferry_cond_wait(&s->c, &s->m, LONG_WAIT);
    CHECK_RC(r, -EOWNERDEAD);
    CHECK_EQ(s->go, 1);
    CHECK_OK(ferry_mutex_consistent(&s->m));
    CHECK_OK(ferry_mutex_unlock(&s->m));
    ft_child_exit();
  }
  FT_WAIT_UNTIL(ft_in_futex(waiter), 500);
  pid_t killer = ft_fork();
  if (killer == 0) {
    CHECK_OK(ferry_mutex_lock(&s->m, LONG_WAIT));
    s->go = 1;
    CHECK_OK(ferry_cond_signal(&s->c));
    _exit(ft_failures ? 1 : 0); /* dies holding the mutex */
  }
  ft_wait_ok(killer, CHILD_MS);
  ft_wait_ok(waiter, CHILD_MS);
  CHECK_EQ(ft_mutex_word(&s->m), 0);
  munmap(s, 4096);
  ferry_sync_set_liveness_ns(FERRY_SEC);
}

/* ---- event ------------------------------------------------------------------------- */

static void test_event_local(void)
{
  ferry_event e;
  CHECK_OK(ferry_event_init(&e));
  CHECK_EQ(ferry_event_is_set(&e), 0);
  CHECK_RC(ferry_event_wait(&e, -1), -EINVAL);
  CHECK_RC(ferry_event_wait(&e, 0), -EAGAIN);
  CHECK_RC(ferry_event_wait(&e, 10 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_OK(ferry_event_set(&e));
  CHECK_EQ(ferry_event_is_set(&e), 1);
  CHECK_OK(ferry_event_set(&e)); /* idempotent */
  CHECK_OK(ferry_event_wait(&e, 0));
  CHECK_OK(ferry_event_wait(&e, FERRY_FOREVER));
  CHECK_OK(ferry_event_wait(&e, 10 * FERRY_MSEC));
  CHECK_RC(ferry_event_wait(&e, -1), -EINVAL);
  CHECK_OK(ferry_event_clear(&e));
  CHECK_OK(ferry_event_clear(&e));
  CHECK_EQ(ferry_event_is_set(&e), 0);
  CHECK_RC(ferry_event_wait(&e, 0), -EAGAIN);
}

/* Waiters in other processes, each on its own mapping of a region (at
 * another address), are woken by set. Then a pulse: a set with a clear
 * right after it still releases a waiter that was asleep. */
static pid_t event_child(const char *name)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *mine;
    int rc = ferry_region_open(name, FERRY_KIND_ANY, NULL, &mine);
    CHECK_OK(rc);
    if (rc == 0) {
      CHECK_OK(ferry_event_wait(ferry_region_data(mine), LONG_WAIT));
      ferry_region_close(mine);
    }
    ft_child_exit();
  }
  return pid;
}

static void test_event_processes_region(void)
{
  enum { N = 3 };
  char name[64];
  ft_name(name, sizeof name, "sync-event");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  ferry_event *e = ferry_region_data(r);

  pid_t pid[N];
  for (int i = 0; i < N; i++)
    pid[i] = event_child(name);
  /* Those not yet asleep at the set see it set: no race either way. */
  FT_WAIT_UNTIL(all_asleep(pid, N), 500);
  CHECK_OK(ferry_event_set(e));
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], CHILD_MS);
  CHECK_OK(ferry_event_clear(e));

  /* The pulse. The waiter noted the sequence before it sleeps, so once
   * it sleeps it is committed before we set and clear. */
  pid[0] = event_child(name);
  FT_WAIT_UNTIL(ft_in_futex(pid[0]), 500);
  CHECK_OK(ferry_event_set(e));
  CHECK_OK(ferry_event_clear(e));
  ft_wait_ok(pid[0], CHILD_MS);
  CHECK_EQ(ferry_event_is_set(e), 0);

  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* ---- semaphore --------------------------------------------------------------------- */

static void test_sem_local(void)
{
  ferry_sem s;
  CHECK_OK(ferry_sem_init(&s, 2));
  CHECK_EQ(ferry_sem_value(&s), 2);
  CHECK_RC(ferry_sem_wait(&s, -1), -EINVAL);
  CHECK_OK(ferry_sem_wait(&s, 0));
  CHECK_OK(ferry_sem_wait(&s, FERRY_FOREVER));
  CHECK_RC(ferry_sem_wait(&s, 0), -EAGAIN);
  CHECK_RC(ferry_sem_wait(&s, 10 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(sem_sleeper(&s)); /* left by the timed-out wait; the post clears it */
  CHECK_OK(ferry_sem_post(&s));
  CHECK(!sem_sleeper(&s));
  CHECK_EQ(ferry_sem_value(&s), 1);
  CHECK_OK(ferry_sem_wait(&s, 10 * FERRY_MSEC));
  CHECK_EQ(ferry_sem_value(&s), 0);
  CHECK_OK(ferry_sem_init(&s, FERRY_SEM_VALUE_MAX - 1));
  CHECK_OK(ferry_sem_post(&s));
  CHECK_RC(ferry_sem_post(&s), -EOVERFLOW);
  CHECK_EQ(ferry_sem_value(&s), FERRY_SEM_VALUE_MAX);
  CHECK_OK(ferry_sem_wait(&s, 0));
  CHECK_EQ(ferry_sem_value(&s), FERRY_SEM_VALUE_MAX - 1);
}

struct sem_shared {
  ferry_sem items;
  ferry_counter taken;
};

/* One producer, several consumers that each take a fixed share: every post
 * is taken exactly once, and every consumer's wait ends by a post. */
static void test_sem_processes(void)
{
  enum { CONSUMERS = 3, EACH = 5000 };
  struct sem_shared *s = ft_shared_alloc(4096);
  REQUIRE(s);
  pid_t pid[CONSUMERS + 1];
  for (int i = 0; i < CONSUMERS; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0) {
      for (int k = 0; k < EACH; k++) {
        int r = ferry_sem_wait(&s->items, LONG_WAIT);
        CHECK_OK(r);
        if (r != 0)
          break;
        ferry_counter_add(&s->taken, 1);
      }
      ft_child_exit();
    }
  }
  pid[CONSUMERS] = ft_fork();
  if (pid[CONSUMERS] == 0) {
    for (int k = 0; k < CONSUMERS * EACH; k++) {
      CHECK_OK(ferry_sem_post(&s->items));
      if (k % 100 == 0)
        usleep(100); /* let consumers fall asleep now and then */
    }
    ft_child_exit();
  }
  for (int i = 0; i <= CONSUMERS; i++)
    ft_wait_ok(pid[i], 60000);
  CHECK_EQ(ferry_counter_load(&s->taken), CONSUMERS * EACH);
  CHECK_EQ(ferry_sem_value(&s->items), 0);
  munmap(s, 4096);
}

/* ---- barrier ----------------------------------------------------------------------- */

static void test_barrier_local(void)
{
  ferry_barrier b;
  memset(&b, 0x5a, sizeof b);
  CHECK_RC(ferry_barrier_init(&b, 0), -EINVAL);
  CHECK_RC(ferry_barrier_init(&b, FERRY_BARRIER_MAX_PARTIES + 1), -EINVAL);
  CHECK_OK(ferry_barrier_init(&b, FERRY_BARRIER_MAX_PARTIES));
  CHECK_OK(ferry_barrier_init(&b, 1));
  CHECK_RC(ferry_barrier_wait(&b, -1), -EINVAL);
  for (int i = 0; i < 10; i++) {
    CHECK_RC(ferry_barrier_wait(&b, 0), FERRY_BARRIER_SERIAL);
    CHECK_RC(ferry_barrier_wait(&b, FERRY_FOREVER), FERRY_BARRIER_SERIAL);
  }
  CHECK_EQ(barrier_word(&b) >> FERRY__BARRIER_PHASE_SHIFT, 20);
}

/* A timed-out waiter withdraws, so the count stays right. */
static void test_barrier_timeout_withdraws(void)
{
  ferry_barrier *b = ft_shared_alloc(4096);
  REQUIRE(b);
  CHECK_OK(ferry_barrier_init(b, 2));
  CHECK_RC(ferry_barrier_wait(b, 0), -EAGAIN);
  CHECK_EQ(barrier_word(b), 0);
  CHECK_RC(ferry_barrier_wait(b, 20 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_EQ(barrier_word(b), 0);
  /* Had either arrival stuck, this one would complete the phase alone. */
  CHECK_RC(ferry_barrier_wait(b, 10 * FERRY_MSEC), -ETIMEDOUT);

  /* Two real parties still meet, and exactly one is serial. */
  pid_t pid = ft_fork();
  if (pid == 0) {
    int r = ferry_barrier_wait(b, LONG_WAIT);
    CHECK(r == 0 || r == FERRY_BARRIER_SERIAL);
    _exit(ft_failures ? 1 : r == FERRY_BARRIER_SERIAL ? 2 : 0);
  }
  int mine = ferry_barrier_wait(b, LONG_WAIT);
  CHECK(mine == 0 || mine == FERRY_BARRIER_SERIAL);
  int st = ft_wait(pid, CHILD_MS);
  REQUIRE(st != -1 && WIFEXITED(st));
  CHECK(WEXITSTATUS(st) != 1);
  CHECK_EQ((WEXITSTATUS(st) == 2) + (mine == FERRY_BARRIER_SERIAL), 1);
  CHECK_EQ(barrier_word(b), 1u << FERRY__BARRIER_PHASE_SHIFT);
  munmap(b, 4096);
}

#define PHASES 300

struct barrier_shared {
  ferry_barrier b;
  ferry_counter arrived[PHASES];
  ferry_counter serial[PHASES];
};

/* N processes through many phases: one serial waiter per phase, and nobody
 * leaves a phase before everyone arrived. */
static void test_barrier_processes(void)
{
  enum { N = 5 };
  size_t size = sizeof(struct barrier_shared);
  struct barrier_shared *s = ft_shared_alloc(size);
  REQUIRE(s);
  CHECK_OK(ferry_barrier_init(&s->b, N));
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0) {
      for (int p = 0; p < PHASES; p++) {
        ferry_counter_add(&s->arrived[p], 1);
        int r = ferry_barrier_wait(&s->b, LONG_WAIT);
        CHECK(r == 0 || r == FERRY_BARRIER_SERIAL);
        if (r != 0 && r != FERRY_BARRIER_SERIAL)
          break;
        if (r == FERRY_BARRIER_SERIAL)
          ferry_counter_add(&s->serial[p], 1);
        CHECK_EQ(ferry_counter_load(&s->arrived[p]), N);
      }
      ft_child_exit();
    }
  }
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], 60000);
  int bad = 0;
  for (int p = 0; p < PHASES; p++)
    bad += ferry_counter_load(&s->serial[p]) != 1 || ferry_counter_load(&s->arrived[p]) != N;
  CHECK_EQ(bad, 0);
  CHECK_EQ(barrier_word(&s->b), (uint32_t)PHASES << FERRY__BARRIER_PHASE_SHIFT);
  munmap(s, size);
}

/* ---- counters ----------------------------------------------------------------------- */

static void test_counter_local(void)
{
  ferry_counter c;
  ferry_counter_init(&c, 5);
  CHECK_EQ(ferry_counter_load(&c), 5);
  CHECK_EQ(ferry_counter_add(&c, 3), 8);
  CHECK_EQ(ferry_counter_add(&c, -10), -2);
  ferry_counter_store(&c, 100);
  CHECK_EQ(ferry_counter_load(&c), 100);
  int64_t exp = 99;
  CHECK_EQ(ferry_counter_cas(&c, &exp, 7), 0);
  CHECK_EQ(exp, 100); /* updated on failure */
  CHECK_EQ(ferry_counter_cas(&c, &exp, 7), 1);
  CHECK_EQ(exp, 100); /* untouched on success */
  CHECK_EQ(ferry_counter_load(&c), 7);
  CHECK_EQ(ferry_counter_exchange(&c, 9), 7);
  CHECK_EQ(ferry_counter_load(&c), 9);
  /* Wrap-around, both ways. */
  ferry_counter_store(&c, INT64_MAX);
  CHECK(ferry_counter_add(&c, 1) == INT64_MIN);
  CHECK(ferry_counter_add(&c, -1) == INT64_MAX);
}

static void test_counter_processes(void)
{
  enum { N = 4, ADDS = 100000, CASES = 20000 };
  ferry_counter *c = ft_shared_alloc(4096);
  REQUIRE(c);
  ferry_counter_init(&c[0], -7);
  pid_t pid[N];
  for (int i = 0; i < N; i++) {
    pid[i] = ft_fork();
    if (pid[i] == 0) {
      for (int k = 0; k < ADDS; k++)
        ferry_counter_add(&c[0], (i % 2) ? 3 : -1);
      for (int k = 0; k < CASES; k++) {
        int64_t v = ferry_counter_load(&c[1]);
        while (!ferry_counter_cas(&c[1], &v, v + 1))
          ;
      }
      ft_child_exit();
    }
  }
  for (int i = 0; i < N; i++)
    ft_wait_ok(pid[i], 60000);
  CHECK_EQ(ferry_counter_load(&c[0]), -7 + (int64_t)ADDS * (N / 2) * 3 - (int64_t)ADDS * (N / 2));
  CHECK_EQ(ferry_counter_load(&c[1]), (int64_t)N * CASES);
  munmap(c, 4096);
}

int main(void)
{
  RUN(test_sizes);
  RUN(test_zero_is_initialised);
  RUN(test_liveness_setting);
  RUN(test_mutex_basic);
  RUN(test_mutex_busy_elsewhere);
  RUN(test_mutex_not_owner_thread);
  RUN(test_mutex_exclusion_threads);
  RUN(test_mutex_exclusion_processes);
  RUN(test_mutex_owner_thread_exits);
  RUN(test_mutex_owner_process_exits);
  RUN(test_mutex_owner_stamp);
  RUN(test_mutex_try_and_dead_owner);
  RUN(test_mutex_notrecoverable_wakes_sleepers);
  RUN(test_mutex_wakes_sleeper);
  RUN(test_uncontended_no_syscall);
  RUN(test_seccomp_catches_futex);
  RUN(test_cond_local);
  RUN(test_cond_signal_processes);
  RUN(test_cond_broadcast_processes);
  RUN(test_cond_relock_owner_dead);
  RUN(test_event_local);
  RUN(test_event_processes_region);
  RUN(test_sem_local);
  RUN(test_sem_processes);
  RUN(test_barrier_local);
  RUN(test_barrier_timeout_withdraws);
  RUN(test_barrier_processes);
  RUN(test_counter_local);
  RUN(test_counter_processes);
  return ft_done();
}
