/* SPDX-License-Identifier: MIT */
/*
 * pool.c: the process pool (ferry/pool.h). Three parts, in this order:
 *
 *   1. the fork server and the worker processes: code that runs in
 *      children of the pool's dispatcher thread;
 *   2. the dispatcher: one thread of the owner that runs the poll loop
 *      (fork-server messages, worker pipes, pidfds, timers), hands tasks to
 *      idle workers and turns deaths into retries;
 *   3. the public calls, which meet the dispatcher under one mutex.
 *
 * The state machines of a task and of a worker, and the claims with their
 * proof sketches, are in docs/design/pool.md; tags like [pool-drain-first]
 * refer to it. The statistics region's layout is in pool_layout.h.
 *
 * This layer sits above the objects: it uses the public pipe API and, for
 * its own statistics region only, region_internal.h.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/error.h"
#include "ferry/pipe.h"
#include "ferry/pool.h"
#include "abi.h"
#include "pool_layout.h"
#include "region_internal.h"

extern char **environ;

/* ---- constants ------------------------------------------------------------- */

/* Header of a task message on a function worker's pipe (owner -> worker)
 * and of a result message (worker -> owner): 16 bytes. */
struct task_hdr {
  uint64_t id;
  uint32_t len;
  uint32_t reserved;
};
struct result_hdr {
  uint64_t id;
  int32_t status; /* 0, a negative errno from fn, or RESULT_OVERSIZE */
  uint32_t reserved;
};
#define MSG_HDR 16
_Static_assert(sizeof(struct task_hdr) == MSG_HDR && sizeof(struct result_hdr) == MSG_HDR,
               "pool message headers");
#define RESULT_OVERSIZE INT32_MIN

/* A frame's length word: bit 31 marks an error result. */
#define FRAME_ERROR_BIT UINT32_C(0x80000000)

/* Exit codes of a function worker that could not work at all. */
#define WORKER_EXIT_SETUP 125
#define WORKER_EXIT_PROTO 126
#define EXEC_EXIT_FAILED 127

/* An argument can be at most this long (the kernel's MAX_ARG_STRLEN). */
#define EACH_MAX_ARG (128u * 1024 - 1)

/* How long a worker whose output reached EOF may take to die before the
 * EOF counts as "closed its output" [pool-eof]; the wait is extended while
 * the kernel says the process is exiting. */
#define EOF_WAIT_NS (100 * FERRY_MSEC)
/* PF_EXITING in the flags of /proc/PID/stat (field 9). */
#define PROC_PF_EXITING 0x4u
/* How long a dead worker's exit status may take to arrive from the fork
 * server before its failure record is written without it. */
#define STATUS_WAIT_NS FERRY_SEC
/* How long a function worker may take to open its pipe and say so. */
#define START_WAIT_NS (10 * FERRY_SEC)
/* The longest the poll loop sleeps: a bound on everything, even with no
 * timer due (and the period of the owner-alive check of the fork server). */
#define LOOP_MAX_SLEEP_MS 1000
/* RSS checks, when max_rss is set. */
#define RSS_PERIOD_NS (100 * FERRY_MSEC)
/* Pieces of an output line. */
#define LINE_MAX_OUT 4096
/* A caller asleep in help_wait() looks again at least this often (a bound
 * on a wake-up lost to a worker that scribbled on the shared page). */
#define HELP_SLICE_NS (100 * FERRY_MSEC)
/* While callers do the loop's work, the loop still wakes this often to
 * publish the statistics (it publishes after each of its passes). */
#define HELP_PUBLISH_NS (10 * FERRY_MSEC)
/* How long the refill of a spare's slot waits after the hand-over to the
 * spare (fill_slots). */
#define SPARE_HOLD_NS (5 * FERRY_MSEC)
/* The slice the watcher thread asks for (short_slice). */
#define WATCH_SLICE_NS (100 * INT64_C(1000))
/* Life locks of a pool: one per function worker, as many as one
 * futex_waitv() can watch beside the watcher's own word [pool-life]. */
#define LIFE_MAX (FUTEX_WAITV_MAX - 1)
#define LIFE_NONE UINT32_MAX

enum { REQ_SPAWN = 1, REQ_QUIT = 2, REQ_KILL = 3 };
enum { REP_SPAWNED = 1, REP_EXITED = 2 };

struct fs_req {
  uint32_t op, slot, gen, len; /* len: task bytes that follow (EXEC_EACH) */
  uint64_t task_id;
  uint32_t life; /* a function worker's life lock, or LIFE_NONE [pool-life] */
  int32_t pid;   /* KILL: the worker whose descriptors never reached the owner */
};
struct fs_rep {
  uint32_t op, slot, gen;
  int32_t pid;
  int32_t err;    /* SPAWNED: 0 or a negative errno (exec failure: its errno) */
  int32_t status; /* EXITED: the wait status */
  uint32_t nfds;
};
#define MAX_PASSED_FDS 4

/* ---- small helpers --------------------------------------------------------- */

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

static int sys_pidfd_open(pid_t pid)
{
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_signal(int pidfd, int sig)
{
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void set_nonblock(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd);

/* Writes all of buf to a blocking fd (fork server and workers only). */
static int write_all(int fd, const void *buf, size_t len)
{
  const char *b = buf;
  while (len) {
    ssize_t n = write(fd, b, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- the registry of the pools' own descriptors ---------------------------- */
/*
 * A fork server is a fork of the owner, so it inherits every descriptor the
 * owner has, including other pools' worker pipes: a copy of a worker's
 * stdin held elsewhere would keep that worker from ever seeing EOF. Every
 * descriptor a pool opens in the owner is listed here, and every fork
 * child closes them all at once (reg_child, a pthread_atfork handler; the
 * lock is held across the fork so the child's copy of the list is
 * consistent). The fork server's own end of its socket is not listed.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static int *reg_fds;
static size_t reg_n, reg_cap;
/* Every pool's life locks [pool-life] are listed too: a fork child unmaps
 * them all but those of the pool whose fork server it is (`life_keep`, set
 * by the thread that forks it), so that only a worker itself, its owner
 * and its fork server ever map a worker's life lock. */
struct life_area {
  void *addr;
  size_t len;
};
static struct life_area reg_life[64];
static size_t reg_life_n;
static _Thread_local void *life_keep;
/* Bumped in every fork child: a pool made before the fork is foreign there
 * [pool-fork]. */
static _Atomic uint64_t fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void reg_prepare(void) { pthread_mutex_lock(&reg_lock); }
static void reg_parent(void) { pthread_mutex_unlock(&reg_lock); }

/* In a fork child (the fork server, a worker, or any fork of the owner):
 * the pools' descriptors are the parent's business. Closing our copies
 * keeps, say, a worker's stdin from being held open by a child of the
 * owner (which would hide the EOF that retires it). Only close(2) here:
 * async-signal-safe. */
static void reg_child(void)
{
  for (size_t i = 0; i < reg_n; i++)
    close(reg_fds[i]);
  reg_n = 0;
  size_t kept = 0;
  for (size_t i = 0; i < reg_life_n; i++) {
    if (reg_life[i].addr == life_keep)
      reg_life[kept++] = reg_life[i];
    else
      syscall(SYS_munmap, reg_life[i].addr, reg_life[i].len); /* a bare system call */
  }
  reg_life_n = kept;
  atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
  pthread_mutex_unlock(&reg_lock); /* taken by reg_prepare in this thread */
}

static void fork_watch(void) { pthread_atfork(reg_prepare, reg_parent, reg_child); }

static void reg_add(int fd)
{
  if (fd < 0)
    return;
  pthread_once(&fork_once, fork_watch);
  pthread_mutex_lock(&reg_lock);
  if (reg_n == reg_cap) {
    size_t cap = reg_cap ? reg_cap * 2 : 64;
    int *n = realloc(reg_fds, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&reg_lock);
      return; /* only a leak into a later fork server; not a failure */
    }
    reg_fds = n;
    reg_cap = cap;
  }
  reg_fds[reg_n++] = fd;
  pthread_mutex_unlock(&reg_lock);
}

static void reg_del(int fd)
{
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < reg_n; i++)
    if (reg_fds[i] == fd) {
      reg_fds[i] = reg_fds[--reg_n];
      break;
    }
  pthread_mutex_unlock(&reg_lock);
}

/* False if the list is full: the pool then goes without life locks. */
static bool reg_life_add(void *addr, size_t len)
{
  pthread_once(&fork_once, fork_watch);
  pthread_mutex_lock(&reg_lock);
  bool room = reg_life_n < sizeof reg_life / sizeof reg_life[0];
  if (room)
    reg_life[reg_life_n++] = (struct life_area){addr, len};
  pthread_mutex_unlock(&reg_lock);
  return room;
}

static void reg_life_del(void *addr)
{
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < reg_life_n; i++)
    if (reg_life[i].addr == addr) {
      reg_life[i] = reg_life[--reg_life_n];
      break;
    }
  pthread_mutex_unlock(&reg_lock);
}

static void close_fd(int *fd)
{
  if (*fd >= 0) {
    reg_del(*fd);
    close(*fd);
    *fd = -1;
  }
}

/* ---- data structures ---------------------------------------------------------- */

enum task_state { T_NEW, T_PENDING, T_RUNNING, T_FINISHED };

struct task {
  struct task *next;
  uint64_t id;
  void *tag;
  uint8_t state;
  uint8_t outcome;
  bool admitted;   /* counted in the window */
  bool timed_out;  /* this attempt ran past the timeout */
  uint32_t attempts;
  int error;
  pid_t pid;
  int exit_code, sig;
  int64_t start_mono, start_wall, elapsed;
  uint8_t *res;
  uint32_t res_len;
  char *msg;
  uint32_t len;
  uint8_t data[];
};

struct tq {
  struct task *head, *tail;
  uint32_t n;
};

static void tq_push(struct tq *q, struct task *t)
{
  t->next = NULL;
  if (q->tail)
    q->tail->next = t;
  else
    q->head = t;
  q->tail = t;
  q->n++;
}

static void tq_push_front(struct tq *q, struct task *t)
{
  t->next = q->head;
  q->head = t;
  if (!q->tail)
    q->tail = t;
  q->n++;
}

static struct task *tq_pop(struct tq *q)
{
  struct task *t = q->head;
  if (t) {
    q->head = t->next;
    if (!q->head)
      q->tail = NULL;
    q->n--;
    t->next = NULL;
  }
  return t;
}

/* A growable byte buffer. */
struct buf {
  uint8_t *d;
  size_t len, cap, off; /* off: bytes already consumed from the front */
};

static int buf_reserve(struct buf *b, size_t more)
{
  if (b->off && b->off == b->len)
    b->off = b->len = 0;
  if (b->len + more <= b->cap)
    return 0;
  if (b->off) {
    memmove(b->d, b->d + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + more <= b->cap)
      return 0;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more)
    cap *= 2;
  uint8_t *n = realloc(b->d, cap);
  if (!n)
    return -ENOMEM;
  b->d = n;
  b->cap = cap;
  return 0;
}

static void buf_free(struct buf *b)
{
  free(b->d);
  memset(b, 0, sizeof *b);
}

/* Worker process states (owner side). See docs/design/pool.md [pool-worker]. */
enum proc_state {
  P_SPAWNING,  /* asked the fork server; no pid yet */
  P_STARTING,  /* function worker: up, not yet attached to its pipe */
  P_IDLE,
  P_BUSY,      /* q[0] runs (and q[1] may wait behind it) */
  P_RETIRING,  /* told to exit (input closed); killed if it lingers */
  P_KILLING,   /* SIGTERM sent (timeout, cancel, protocol); SIGKILL after grace */
  P_DEAD,      /* gone; waiting for its exit status from the fork server */
};

enum kill_reason { K_NONE, K_TIMEOUT, K_CANCEL, K_PROTOCOL, K_RETIRE, K_CLOSE };

struct proc {
  struct proc *next;
  uint32_t slot, gen;
  enum proc_state state;
  enum kill_reason why;
  int kill_stage; /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
  pid_t pid;
  int pidfd, out_fd, err_fd, in_fd;
  ferry_pipe *pipe;
  bool pipe_linked;
  bool gone;        /* death processed */
  bool reaped;      /* exit status known */
  bool out_eof, err_eof;
  bool retire_after;
  bool unplanned;   /* died without being asked */
  bool oversize;    /* EXEC_EACH: the output outgrew max_msg */
  bool fin;         /* death, status and output all handled: free at the sweep */
  bool status_lost; /* no exit status will come (the fork server is gone) */
  int status;
  int64_t deadline; /* the state's timer, or INT64_MAX */
  int64_t eof_at;
  struct task *q[2];
  uint32_t nq;
  uint64_t done_tasks, dispatched, limit;
  uint32_t life;        /* its life lock [pool-life], or LIFE_NONE */
  struct task *failing; /* its last task's failure record waits for the status */
  enum kill_reason failing_why;
  struct buf ibuf, obuf, ebuf;
};

struct slot {
  struct proc *cur;
  uint32_t gen;
  uint32_t crashes; /* deaths in a row on this slot without a result */
  int64_t respawn_at;
  bool waiting; /* respawn scheduled */
  bool ever;    /* had a process once (respawn counting) */
};

/*
 * The page the owner shares with the fork server and every worker: an
 * anonymous MAP_SHARED mapping made before the fork server is forked, so
 * each of them inherits it [pool-help]. A worker bumps `results` after each
 * result it commits, wakes the callers asleep on it if `sleepers` says there
 * are any, and rings its doorbell only if `bell` says the dispatcher wants
 * it. Workers can write the page: every value the owner reads here only
 * decides whether a sleep ends early (a futex compare), never what it
 * believes about tasks, and every sleep on it is bounded.
 */
struct pool_shm {
  _Atomic uint32_t results;  /* worker: +1 per result; owner: +1 to wake callers */
  uint32_t pad0[15];
  _Atomic uint32_t sleepers; /* owner: callers asleep on `results` */
  _Atomic uint32_t bell;     /* owner: 1 while no caller helps [pool-help] */
  uint32_t pad1[14];
};

/*
 * Life locks [pool-life]: LIFE_MAX pages, mapped shared like the page above,
 * each holding one robust mutex at its start. The owner initialises one
 * before it spawns a function worker; the worker unmaps every other page,
 * locks its own and holds it for its whole life; the kernel marks it when
 * the worker dies. The owner never locks them: it reads their futex word
 * (the first 32 bits: the holder's TID, FUTEX_WAITERS, FUTEX_OWNER_DIED),
 * sets FUTEX_WAITERS and waits on it. Only the worker itself can write its
 * lock, so a word that says "died" was written by the kernel or by that
 * worker: either way, that worker goes.
 */
struct life_lock {
  union {
    pthread_mutex_t m;
    _Atomic uint32_t word; /* glibc: the mutex's futex word comes first */
  };
};
#ifdef __GLIBC__
_Static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0, "the futex word of a mutex");
#define LIFE_LOCKS 1
#else
#define LIFE_LOCKS 0 /* where the mutex's futex word lies is not known: pidfds only */
#endif

struct ferry_pool {
  ferry_pool_options o;
  char name[FERRY_NAME_MAX + 1];
  char **argv;  /* owned copies */
  char **envp;
  char *cmd0;   /* for messages */
  pid_t owner_pid;
  uint64_t fork_gen; /* fork_gen at create: another value means a fork child */

  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool thread_up;
  int wake_fd;
  bool loop_sleeping;
  bool saturated; /* no worker could take a task at the last dispatch */
  struct pool_shm *shm; /* shared with the workers [pool-help] */
  uint8_t *life;        /* LIFE_MAX pages of life locks [pool-life], or NULL */
  size_t life_pg;       /* their page size */
  uint64_t gave;        /* tasks given to workers, ever */
  uint32_t helpers;     /* callers inside a public call, helping [pool-help] */
  uint32_t sleepers;    /* callers asleep on shm->results */
  uint64_t help_moves;  /* pump() calls that moved something */
  uint64_t help_seen;   /* help_moves at the loop's last look */
  bool help_watch;      /* the loop wakes within HELP_PUBLISH_NS to publish */
  int64_t hold_until;   /* spare slots are refilled after this */
  /* the death watcher [pool-life] */
  pthread_t watcher;
  bool watch_thread; /* started: join it */
  bool watch_up;     /* running and able to watch */
  bool watch_quit;
  _Atomic uint32_t watch_seq; /* bumped (and woken) when its set changes */
  uint64_t life_used[(LIFE_MAX + 63) / 64];
  bool closing;
  bool loop_done;
  int start_rc; /* fork server start result, for create */
  bool started;

  /* fork server */
  pid_t fs_pid;
  int fs_pidfd, fs_sock;
  bool fs_up;
  uint32_t fs_failures;
  int64_t fs_restart_at;

  struct slot *slots;
  struct proc *procs;
  uint32_t nprocs;

  /* tasks */
  uint64_t next_id;
  uint64_t next_deliver; /* ordered: the id next() returns next */
  uint64_t delivered;
  struct tq newq, retryq, refq, doneq;
  struct task **ring; /* ordered: admitted tasks by id % window */
  uint32_t admitted;  /* admitted and not delivered */
  struct task *last;  /* the last result handed out; freed at the next call */
  uint8_t *rbuf;      /* scratch for reading function results */

  /* stopping */
  bool input_closed;
  uint32_t state;
  int64_t drain_deadline;
  int64_t close_deadline;
  bool close_forced;

  /* breaker */
  uint32_t breaker;
  uint32_t deaths_in_row;
  int64_t breaker_until;
  char breaker_msg[160];

  /* signals */
  _Atomic uint32_t sig_count;
  uint32_t sig_seen;
  int64_t sig_drain_ns;
  bool sig_installed;

  int64_t rss_next;
  uint64_t rng;

  ferry_pool_stats st;
  ferry_region *reg;
  struct ferry__pool_hdr *hdr;
};

static uint64_t rng_next(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * UINT64_C(2685821657736338717);
}

static long sys_futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
  return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static struct life_lock *life_at(const ferry_pool *p, uint32_t i)
{
  return (struct life_lock *)(void *)(p->life + (size_t)i * p->life_pg);
}

/* Wakes every caller waiting for the pool to change: on the condition
 * variable, or asleep on shm->results in help_wait(). Under the mutex. */
static void notify(ferry_pool *p)
{
  pthread_cond_broadcast(&p->cv);
  if (p->sleepers) {
    atomic_fetch_add_explicit(&p->shm->results, 1, memory_order_seq_cst);
    sys_futex(&p->shm->results, FUTEX_WAKE, INT_MAX, NULL);
  }
}

static void pipe_name(char *buf, size_t cap, const char *pool, uint32_t slot, uint32_t gen)
{
  int n = snprintf(buf, cap, "%.*s.w%u.%u", FERRY_POOL_NAME_MAX, pool, slot, gen);
  assert(n > 0 && (size_t)n < cap);
  (void)n;
}

/* ============================================================================
 * 1. The fork server and the workers (they run in children).
 * ========================================================================== */

static void reset_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      sigaction(s, &sa, NULL); /* fails harmlessly for the RT signals glibc keeps */
}

/* Sets the parent-death signal and checks that the parent is still the
 * one we think: if it died before prctl, the signal will never come. */
static void die_with_parent(pid_t parent)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(0);
}

/* A function worker: attach to the pipe, then take tasks until the owner
 * closes its end. Never returns. */
static void worker_main(const ferry_pool *p, const struct fs_req *rq, int ctl, pid_t fs)
{
  char name[FERRY_NAME_MAX + 1];
  pipe_name(name, sizeof name, p->name, rq->slot, rq->gen);
  ferry_pipe *pp;
  if (ferry_pipe_open(name, NULL, &pp))
    _exit(WORKER_EXIT_SETUP);
  /* Its pages are faulted in now, not on the first task: a spare's first
   * task is the one a dead worker held, and is waited for. */
  const ferry_region *reg = ferry_pipe_region(pp);
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)ferry_region_data(reg);
  uintptr_t hi = lo + ferry_region_data_size(reg);
  lo &= ~(page - 1);
  (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
  struct pool_shm *sh = p->shm; /* and the page it bumps after each result */
  (void)madvise(sh, sizeof *sh, MADV_POPULATE_WRITE);
  if (p->life) {
    /* Only its own life lock stays mapped here, so that no stray write of
     * this process can reach another's. Held until this process dies: the
     * kernel then marks it, and wakes the owner's watcher, before it tears
     * the process down [pool-life]. Before the attach byte, so an attached
     * worker holds it. */
    size_t pg = p->life_pg, own = rq->life < LIFE_MAX ? rq->life : LIFE_MAX;
    if (own)
      munmap(p->life, own * pg);
    if (own + 1 < LIFE_MAX)
      munmap(p->life + (own + 1) * pg, (LIFE_MAX - own - 1) * pg);
    if (own < LIFE_MAX)
      (void)pthread_mutex_trylock(&life_at(p, own)->m);
  }
  if (write_all(ctl, "R", 1))
    _exit(0);
  for (;;) {
    const void *d;
    size_t n;
    /* The next task often comes within microseconds (the owner answers a
     * result with a task): look for it a while, yielding the CPU to the
     * owner or another worker on a machine with fewer CPUs than
     * processes, before the pipe's wait sleeps [pool-help]. */
    int rc = ferry_pipe_peek(pp, &d, &n, 0);
    if (rc == -EAGAIN && p->o.spin_ns) {
      int64_t until = mono_ns() + p->o.spin_ns;
      do
        sched_yield();
      while ((rc = ferry_pipe_peek(pp, &d, &n, 0)) == -EAGAIN && mono_ns() < until);
    }
    if (rc == -EAGAIN)
      rc = ferry_pipe_peek(pp, &d, &n, FERRY_SEC);
    if (rc == -ETIMEDOUT) {
      if (getppid() != fs)
        _exit(0);
      continue;
    }
    if (rc == -EPIPE)
      _exit(0);
    if (rc || n < MSG_HDR)
      _exit(WORKER_EXIT_PROTO);
    struct task_hdr th;
    memcpy(&th, d, sizeof th);
    if (th.len != n - MSG_HDR)
      _exit(WORKER_EXIT_PROTO);
    void *out;
    while ((rc = ferry_pipe_reserve(pp, MSG_HDR + (size_t)p->o.max_msg, &out, FERRY_SEC)) ==
           -ETIMEDOUT)
      if (getppid() != fs)
        _exit(0);
    if (rc)
      _exit(rc == -EPIPE ? 0 : WORKER_EXIT_PROTO);
    ssize_t r = p->o.fn(p->o.fn_arg, (const uint8_t *)d + MSG_HDR, th.len,
                        (uint8_t *)out + MSG_HDR, p->o.max_msg);
    struct result_hdr rh = {.id = th.id, .status = 0, .reserved = 0};
    size_t rlen = 0;
    if (r < 0)
      rh.status = r < INT32_MIN + 1 ? -EINVAL : (int32_t)r;
    else if ((size_t)r > p->o.max_msg)
      rh.status = RESULT_OVERSIZE;
    else
      rlen = (size_t)r;
    memcpy(out, &rh, sizeof rh);
    if (ferry_pipe_commit(pp, MSG_HDR + rlen) || ferry_pipe_release(pp))
      _exit(WORKER_EXIT_PROTO);
    /* seq_cst: the result is committed before this, and the loads below
     * come after it; pairs with the owner's stores of sleepers and bell
     * and its look at the pipe [pool-help]. */
    atomic_fetch_add_explicit(&sh->results, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&sh->sleepers, memory_order_seq_cst))
      sys_futex(&sh->results, FUTEX_WAKE, INT_MAX, NULL);
    if (atomic_load_explicit(&sh->bell, memory_order_seq_cst) && write_all(ctl, "D", 1))
      _exit(0);
  }
}

/* Sends a reply with up to MAX_PASSED_FDS descriptors. */
static void fs_reply(int sock, const struct fs_rep *rep, const int *fds, uint32_t nfds)
{
  struct iovec iov = {.iov_base = (void *)rep, .iov_len = sizeof *rep};
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds) {
    memset(&u, 0, sizeof u);
    mh.msg_control = u.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      _exit(0); /* the owner is gone */
}

static void env_slot(uint32_t slot, uint64_t task_id, bool each)
{
  char v[32];
  snprintf(v, sizeof v, "%u", slot);
  setenv("FERRY_POOL_SLOT", v, 1);
  if (each) {
    snprintf(v, sizeof v, "%llu", (unsigned long long)task_id);
    setenv("FERRY_POOL_TASK", v, 1);
  }
}

static int fs_sfd = -1; /* the fork server's signalfd */

/* close() for the fork server, which must not touch the registry lock (it
 * was forked while the dispatcher held it). */
static void fs_close(int *fd)
{
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* Starts one worker in the fork server. Replies SPAWNED either way. */
static void fs_spawn(const ferry_pool *p, int sock, const struct fs_req *rq, const uint8_t *task)
{
  struct fs_rep rep = {.op = REP_SPAWNED, .slot = rq->slot, .gen = rq->gen};
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, ee[2] = {-1, -1};
  bool func = p->o.kind == FERRY_POOL_FUNCTION, each = p->o.kind == FERRY_POOL_EXEC_EACH;
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || (!func && pipe2(ee, O_CLOEXEC)) ||
      (p->o.kind == FERRY_POOL_EXEC && pipe2(in, O_CLOEXEC))) {
    rep.err = -errno;
    goto fail;
  }
  pid_t me = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    rep.err = -errno;
    goto fail;
  }
  if (pid == 0) {
    die_with_parent(me);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close(sock);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    close(fs_sfd);
    if (func) {
      /* stdout and stderr both go to the drained pipe; out is the doorbell */
      dup2(devnull, 0);
      dup2(err[1], 1);
      dup2(err[1], 2);
      close(devnull);
      close(out[0]);
      close(err[0]);
      close(err[1]);
      worker_main(p, rq, out[1], me);
    }
    dup2(each ? devnull : in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    int efd = ee[1]; /* close-on-exec: gone once exec succeeds */
    if (!(p->o.flags & FERRY_POOL_KEEP_FDS)) {
      if (efd > 3)
        syscall(SYS_close_range, 3u, (unsigned)efd - 1, 0u);
      syscall(SYS_close_range, (unsigned)efd + 1, ~0u, 0u);
    }
    if (p->envp)
      environ = p->envp;
    env_slot(rq->slot, rq->task_id, each);
    char **argv = p->argv;
    if (each) {
      size_t n = 0;
      while (p->argv[n])
        n++;
      argv = calloc(n + 2, sizeof *argv);
      if (!argv)
        _exit(EXEC_EXIT_FAILED);
      memcpy(argv, p->argv, n * sizeof *argv);
      argv[n] = (char *)task; /* NUL-terminated by fs_main */
    }
    execvp(argv[0], argv);
    int e = errno;
    write_all(efd, &e, sizeof e);
    _exit(EXEC_EXIT_FAILED);
  }
  rep.pid = pid;
  fs_close(&out[1]);
  fs_close(&err[1]);
  fs_close(&in[0]);
  if (!func) {
    /* posix_spawn's contract: report a failed exec as an error of the
     * spawn. EOF on the close-on-exec pipe means exec succeeded. */
    fs_close(&ee[1]);
    int e = 0;
    ssize_t n;
    while ((n = read(ee[0], &e, sizeof e)) < 0 && errno == EINTR)
      ;
    fs_close(&ee[0]);
    if (n == (ssize_t)sizeof e) {
      rep.err = -(e ? e : ENOEXEC);
      rep.status = 1; /* the command cannot run: not worth retrying soon */
      waitpid(pid, NULL, 0);
      rep.pid = 0;
      goto fail;
    }
  }
  int pidfd = sys_pidfd_open(pid);
  if (pidfd < 0) {
    rep.err = -errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rep.pid = 0;
    goto fail;
  }
  int fds[MAX_PASSED_FDS] = {pidfd, out[0], err[0], in[1]};
  rep.nfds = p->o.kind == FERRY_POOL_EXEC ? 4 : 3;
  fs_reply(sock, &rep, fds, rep.nfds);
  close(pidfd);
  fs_close(&out[0]);
  fs_close(&err[0]);
  fs_close(&in[1]);
  return;
fail:
  for (int i = 0; i < 2; i++) {
    fs_close(&out[i]);
    fs_close(&err[i]);
    fs_close(&in[i]);
    fs_close(&ee[i]);
  }
  fs_reply(sock, &rep, NULL, 0);
}

/* The members of our process group other than us: SIGKILLed, then reaped
 * (we are their subreaper, so the orphans are ours). Bounded: 1 s. */
static void fs_quit(void)
{
  pid_t me = getpid();
  for (int round = 0; round < 100; round++) {
    int left = 0;
    DIR *d = opendir("/proc");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == me)
          continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
          continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
          continue;
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (!rp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3 || pgrp != me)
          continue;
        if (state != 'Z')
          kill((pid_t)pid, SIGKILL);
        left++;
      }
      closedir(d);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
      left = left ? left : 1;
    if (!left)
      break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  _exit(0);
}

/* The fork server: a small, single-threaded copy of the owner taken at
 * create (by the dispatcher thread). Forks workers on request, reaps them
 * and reports their exit. Never returns. */
static void fs_main(const ferry_pool *p, int sock, pid_t owner)
{
  die_with_parent(owner);
  setpgid(0, 0);
  /* orphans of our workers come to us, so we reap them and fs_quit() finds
   * them: nothing of the pool is left for init to collect */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  reset_signals();
  /* (the descriptors of every pool in the owner were closed by reg_child) */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0) {
      int d = open("/dev/null", O_RDWR);
      if (d >= 0 && d != fd) {
        dup2(d, fd);
        close(d);
      }
    }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_SETMASK, &chld, NULL);
  int sfd = fs_sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    _exit(1);
  size_t cap = sizeof(struct fs_req) + EACH_MAX_ARG + 1;
  uint8_t *rbuf = malloc(cap + 1);
  if (!rbuf)
    _exit(1);
  for (;;) {
    struct pollfd pf[2] = {{.fd = sock, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    int n = poll(pf, 2, LOOP_MAX_SLEEP_MS);
    if (n < 0 && errno != EINTR)
      _exit(1);
    if (getppid() != owner)
      _exit(0);
    if (pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0)
        ;
    }
    /* reap every child that ended (also after a missed signal) */
    for (;;) {
      int st;
      pid_t w = waitpid(-1, &st, WNOHANG);
      if (w <= 0)
        break;
      struct fs_rep rep = {.op = REP_EXITED, .pid = w, .status = st};
      fs_reply(sock, &rep, NULL, 0);
    }
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t len = recv(sock, rbuf, cap, 0);
      if (len < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (len < (ssize_t)sizeof(struct fs_req))
        fs_quit(); /* EOF or nonsense: the owner is done */
      struct fs_req rq;
      memcpy(&rq, rbuf, sizeof rq);
      if (rq.op == REQ_QUIT)
        fs_quit();
      if (rq.op == REQ_KILL) {
        /* Only a child of ours not reaped yet: its pid cannot have been
         * given to anyone else. */
        siginfo_t si;
        si.si_pid = 0;
        if (rq.pid > 0 && waitid(P_PID, (id_t)rq.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == 0)
          kill(rq.pid, SIGKILL);
        continue;
      }
      if (rq.op != REQ_SPAWN || rq.len != (size_t)len - sizeof rq)
        continue;
      uint8_t *task = rbuf + sizeof rq;
      task[rq.len] = '\0';
      fs_spawn(p, sock, &rq, task);
    }
  }
}

/* ============================================================================
 * 2. The dispatcher (the owner's poll loop thread). Everything below runs
 *    with p->mu held unless it says otherwise.
 * ========================================================================== */

static void emit(ferry_pool *p, uint32_t type, const struct proc *w, const struct task *t,
                 int exit_code, int sig, const char *msg)
{
  if (!p->o.on_event)
    return;
  ferry_pool_event ev = {
      .type = type,
      .slot = w ? w->slot : UINT32_MAX,
      .pid = w ? w->pid : 0,
      .exit_code = exit_code,
      .signal = sig,
      .attempts = t ? t->attempts : 0,
      .task_id = t ? t->id : UINT64_MAX,
      .time_ns = mono_ns(),
      .message = msg ? msg : "",
  };
  p->o.on_event(p->o.event_arg, &ev);
}

static void default_output(ferry_pool *p, const struct proc *w, const char *line, size_t len)
{
  char head[96];
  int n = snprintf(head, sizeof head, "[%s %u:%d] ", p->o.output_tag, w->slot, (int)w->pid);
  struct iovec iov[3] = {{head, (size_t)n}, {(void *)line, len}, {"\n", 1}};
  /* best effort: the owner's stderr is the owner's business */
  ssize_t r = writev(STDERR_FILENO, iov, 3);
  (void)r;
}

static void output_line(ferry_pool *p, const struct proc *w, const char *line, size_t len)
{
  if (p->o.on_output)
    p->o.on_output(p->o.output_arg, w->slot, w->pid, line, len);
  else
    default_output(p, w, line, len);
}

/* Hands complete stderr lines to the sink; at EOF (flush) the rest too. */
static void err_lines(ferry_pool *p, struct proc *w, bool flush)
{
  struct buf *b = &w->ebuf;
  while (b->off < b->len) {
    uint8_t *s = b->d + b->off;
    size_t avail = b->len - b->off;
    uint8_t *nl = memchr(s, '\n', avail < LINE_MAX_OUT ? avail : LINE_MAX_OUT);
    size_t take;
    if (nl)
      take = (size_t)(nl - s);
    else if (avail >= LINE_MAX_OUT || flush)
      take = avail < LINE_MAX_OUT ? avail : LINE_MAX_OUT;
    else
      break;
    output_line(p, w, (const char *)s, take);
    b->off += take + (nl ? 1 : 0);
  }
  if (b->off == b->len)
    b->off = b->len = 0;
}

/* Reads what the worker's stderr has now; never blocks. */
static void drain_err(ferry_pool *p, struct proc *w)
{
  while (w->err_fd >= 0) {
    if (buf_reserve(&w->ebuf, 65536))
      return;
    ssize_t n = read(w->err_fd, w->ebuf.d + w->ebuf.len, w->ebuf.cap - w->ebuf.len);
    if (n > 0) {
      w->ebuf.len += (size_t)n;
      err_lines(p, w, false);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    w->err_eof = true;
    err_lines(p, w, true);
    close_fd(&w->err_fd);
  }
}

/* ---- statistics ---------------------------------------------------------------- */

static uint32_t proc_pub_state(const struct proc *w)
{
  if (!w)
    return FERRY_POOL_W_EMPTY;
  switch (w->state) {
  case P_SPAWNING:
  case P_STARTING:
    return FERRY_POOL_W_STARTING;
  case P_IDLE:
    return FERRY_POOL_W_IDLE;
  case P_BUSY:
    return FERRY_POOL_W_BUSY;
  default:
    return FERRY_POOL_W_STOPPING;
  }
}

static void stats_refresh(ferry_pool *p)
{
  ferry_pool_stats *s = &p->st;
  s->queued = p->newq.n + p->retryq.n;
  s->unread = (uint32_t)(p->refq.n + p->doneq.n);
  uint32_t live = 0, idle = 0, running = 0;
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->state != P_DEAD && w->state != P_SPAWNING)
      live++;
    if (w->state == P_IDLE)
      idle++;
    if (w->nq && (w->state == P_BUSY || w->state == P_KILLING))
      running++;
  }
  if (p->o.flags & FERRY_POOL_ORDERED) {
    uint32_t fin = 0;
    for (uint32_t i = 0; i < p->o.window; i++)
      if (p->ring[i] && p->ring[i]->state == T_FINISHED)
        fin++;
    s->unread += fin;
  }
  s->live = live;
  s->idle = idle;
  s->running = running;
  s->state = p->state;
  s->breaker = p->breaker;
  s->signals = atomic_load_explicit(&p->sig_count, memory_order_relaxed);
  s->pgid = p->fs_up ? p->fs_pid : 0;
}

/* Writes the snapshot into the stats region [pool-seqlock]. */
static void stats_publish(ferry_pool *p)
{
  stats_refresh(p);
  struct ferry__pool_hdr *h = p->hdr;
  const ferry_pool_stats *s = &p->st;
  uint32_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
  atomic_store_explicit(&h->seq, seq + 1, memory_order_relaxed);
  /* release fence: the odd seq is visible before any field changes; pairs
   * with the acquire fence in ferry_pool_stat(). */
  atomic_thread_fence(memory_order_release);
  struct ferry__pool_snap sn;
  memset(&sn, 0, sizeof sn);
  sn.state = s->state;
  sn.submitted = s->submitted;
  sn.done = s->done;
  sn.failed = s->failed;
  sn.retried = s->retried;
  sn.respawned = s->respawned;
  sn.deaths = s->deaths;
  sn.timeouts = s->timeouts;
  sn.running = s->running;
  sn.queued = s->queued;
  sn.unread = s->unread;
  sn.live = s->live;
  sn.idle = s->idle;
  sn.breaker = s->breaker;
  sn.signals = s->signals;
  sn.pgid = s->pgid;
  memcpy(&h->snap, &sn, sizeof sn);
  /* Where the rows are is ours to know: any process that can open the
   * region can write its rows_offset, and one read back from there would
   * aim these stores anywhere (docs/layout/pool.md). */
  struct ferry__pool_row *rows = (struct ferry__pool_row *)((uint8_t *)h + FERRY__POOL_HDR_SIZE);
  for (uint32_t i = 0; i < p->o.workers; i++) {
    const struct proc *w = p->slots[i].cur;
    struct ferry__pool_row r;
    memset(&r, 0, sizeof r);
    r.state = proc_pub_state(w);
    r.pid = w ? w->pid : 0;
    r.generation = p->slots[i].gen;
    r.tasks = w ? w->done_tasks : 0;
    r.task_id = w && w->nq ? w->q[0]->id : UINT64_MAX;
    r.busy_ns = w && w->nq ? w->q[0]->start_mono : 0;
    memcpy(&rows[i], &r, sizeof r);
  }
  /* release: the fields are written before the even seq; pairs with the
   * acquire load of seq in ferry_pool_stat(). */
  atomic_store_explicit(&h->seq, seq + 2, memory_order_release);
}

/* ---- tasks ---------------------------------------------------------------------- */

static void set_msg(struct task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(struct task *t, const char *fmt, ...)
{
  char buf[sizeof(((ferry_pool_result *)0)->message)];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  free(t->msg);
  t->msg = strdup(buf);
}

/* Ends a task: exactly once [pool-once]. data/len: the result (DONE) or the
 * task's own message (FAILED); copied. */
static void task_finish(ferry_pool *p, struct task *t, uint32_t outcome, int error,
                        const void *data, size_t len)
{
  assert(t->state != T_FINISHED);
  t->state = T_FINISHED;
  t->outcome = (uint8_t)outcome;
  t->error = error;
  if (len) {
    t->res = malloc(len);
    if (t->res) {
      memcpy(t->res, data, len);
      t->res_len = (uint32_t)len;
    } else if (outcome == FERRY_POOL_DONE) {
      t->outcome = FERRY_POOL_FAILED;
      t->error = -ENOMEM;
      set_msg(t, "out of memory for the result");
    }
  }
  if (t->outcome == FERRY_POOL_DONE)
    p->st.done++;
  else
    p->st.failed++;
  if (!(p->o.flags & FERRY_POOL_ORDERED))
    tq_push(&p->doneq, t);
  else if (!t->admitted)
    tq_push(&p->refq, t);
  /* (ordered and admitted: it stays in the ring) */
  notify(p);
}

/* Back to the front of the buffer, to run on another worker. */
static void task_requeue(ferry_pool *p, struct task *t, const struct proc *w)
{
  t->state = T_PENDING;
  t->timed_out = false;
  tq_push_front(&p->retryq, t);
  if (t->attempts)
    p->st.retried++;
  emit(p, FERRY_POOL_EV_REQUEUED, w, t, -1, 0, NULL);
}

/* Takes a pending task out of the buffers and ends it (cancel, refuse). */
static void finish_pending(ferry_pool *p, uint32_t outcome, int error, const char *msg)
{
  struct task *t;
  while ((t = tq_pop(&p->retryq)) || (t = tq_pop(&p->newq))) {
    set_msg(t, "%s", msg);
    task_finish(p, t, outcome, error, NULL, 0);
  }
  notify(p);
}

/* A task starts running on w (it is w->q[0] now). */
static void task_start(struct proc *w, struct task *t)
{
  t->state = T_RUNNING;
  t->attempts++;
  t->pid = w->pid;
  t->start_mono = mono_ns();
  t->start_wall = wall_ns();
  t->timed_out = false;
}

static void describe_status(char *buf, size_t cap, pid_t pid, bool known, int status)
{
  if (!known)
    snprintf(buf, cap, "worker %d died (exit status unknown)", (int)pid);
  else if (WIFSIGNALED(status)) {
    int s = WTERMSIG(status);
    const char *ab = sigabbrev_np(s);
    snprintf(buf, cap, "worker %d killed by signal %d (SIG%s)%s", (int)pid, s, ab ? ab : "?",
             s == SIGKILL ? ", possibly out of memory" : "");
  } else
    snprintf(buf, cap, "worker %d exited with status %d", (int)pid, WEXITSTATUS(status));
}

/* The failure record of a task whose last attempt ended with w's death. */
static void fail_by_death(ferry_pool *p, struct proc *w, struct task *t, enum kill_reason why)
{
  char what[120];
  describe_status(what, sizeof what, w->pid, w->reaped, w->status);
  t->exit_code = w->reaped && WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1;
  t->sig = w->reaped && WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0;
  t->elapsed = mono_ns() - t->start_mono;
  if (why == K_CANCEL || why == K_CLOSE) {
    set_msg(t, "cancelled while running (%s)", what);
    task_finish(p, t, FERRY_POOL_CANCELLED, -ECANCELED, NULL, 0);
  } else if (t->timed_out) {
    set_msg(t, "timed out after %.3f s (%s); %u attempt%s",
            (double)p->o.task_timeout_ns / 1e9, what, t->attempts, t->attempts == 1 ? "" : "s");
    task_finish(p, t, FERRY_POOL_TIMEDOUT, -ETIMEDOUT, NULL, 0);
  } else {
    set_msg(t, "%s; %u attempt%s", what, t->attempts, t->attempts == 1 ? "" : "s");
    task_finish(p, t, FERRY_POOL_DIED, -ECHILD, NULL, 0);
  }
}

/* ---- worker processes ---------------------------------------------------------- */

static bool is_each(const ferry_pool *p)
{
  return p->o.kind == FERRY_POOL_EXEC_EACH;
}

static void proc_signal(struct proc *w, int sig)
{
  if (w->pidfd >= 0 && !w->gone)
    sys_pidfd_signal(w->pidfd, sig);
}

/* Starts the termination sequence: SIGTERM now, SIGKILL after grace. */
static void proc_kill(ferry_pool *p, struct proc *w, enum kill_reason why)
{
  if (w->state == P_DEAD || w->state == P_SPAWNING) {
    if (w->why == K_NONE || why == K_CANCEL || why == K_CLOSE)
      w->why = why;
    return;
  }
  if (w->state == P_KILLING) {
    if (why == K_CANCEL || why == K_CLOSE)
      w->why = why;
    return;
  }
  w->state = P_KILLING;
  w->why = why;
  w->kill_stage = 1;
  proc_signal(w, SIGTERM);
  w->deadline = mono_ns() + p->o.grace_ns;
}

/* Removes the name of w's pipe, if it still has one [pool-names]. */
static void unlink_pipe(struct proc *w)
{
  if (w->pipe && w->pipe_linked) {
    ferry_unlink(ferry_region_name(ferry_pipe_region(w->pipe)));
    w->pipe_linked = false;
  }
}

static void close_pipe(struct proc *w)
{
  if (w->pipe) {
    unlink_pipe(w);
    ferry_pipe_close(w->pipe);
    w->pipe = NULL;
  }
}

/* Asks an idle worker to exit: its input ends. Killed if it lingers. */
static void proc_retire(ferry_pool *p, struct proc *w)
{
  assert(w->nq == 0);
  w->state = P_RETIRING;
  w->why = K_RETIRE;
  close_pipe(w);
  close_fd(&w->in_fd);
  buf_free(&w->obuf);
  w->deadline = mono_ns() + p->o.grace_ns;
}

/* ---- life locks [pool-life] ------------------------------------------------------ */

/* Wakes the watcher, to build its set again or to see watch_quit. */
static void watch_wake(ferry_pool *p)
{
  atomic_fetch_add_explicit(&p->watch_seq, 1, memory_order_release);
  sys_futex(&p->watch_seq, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* Tells the watcher that its set changed. Under the mutex. */
static void watch_changed(ferry_pool *p)
{
  if (p->watch_up)
    watch_wake(p);
}

/* Gives function worker w a free life lock, unlocked, if one is left. */
static void life_alloc(ferry_pool *p, struct proc *w)
{
  if (!p->watch_up)
    return;
  for (uint32_t i = 0; i < LIFE_MAX; i++) {
    uint64_t bit = UINT64_C(1) << (i % 64);
    if (p->life_used[i / 64] & bit)
      continue;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    /* its last holder is dead: proc_unlink frees it only after w's death */
    pthread_mutex_init(&life_at(p, i)->m, &a);
    pthread_mutexattr_destroy(&a);
    p->life_used[i / 64] |= bit;
    w->life = i;
    return;
  }
}

static void life_free(ferry_pool *p, struct proc *w)
{
  if (w->life != LIFE_NONE)
    p->life_used[w->life / 64] &= ~(UINT64_C(1) << (w->life % 64));
  w->life = LIFE_NONE;
}

static struct proc *proc_new(ferry_pool *p, uint32_t slot)
{
  struct proc *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->slot = slot;
  w->gen = ++p->slots[slot].gen;
  w->state = P_SPAWNING;
  w->pidfd = w->out_fd = w->err_fd = w->in_fd = -1;
  w->life = LIFE_NONE;
  w->deadline = INT64_MAX;
  w->next = p->procs;
  p->procs = w;
  p->nprocs++;
  uint64_t lim = 0;
  if (p->o.max_tasks) {
    lim = p->o.max_tasks;
    if (p->o.max_tasks_jitter)
      lim += rng_next(&p->rng) % ((uint64_t)p->o.max_tasks_jitter + 1);
  }
  w->limit = lim;
  return w;
}

static void proc_unlink(ferry_pool *p, struct proc *w)
{
  for (struct proc **pp = &p->procs; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      p->nprocs--;
      break;
    }
  if (p->slots[w->slot].cur == w)
    p->slots[w->slot].cur = NULL;
  close_fd(&w->pidfd);
  close_fd(&w->out_fd);
  close_fd(&w->err_fd);
  close_fd(&w->in_fd);
  close_pipe(w);
  life_free(p, w);
  buf_free(&w->ibuf);
  buf_free(&w->obuf);
  buf_free(&w->ebuf);
  free(w);
}

static int fs_send(ferry_pool *p, const struct fs_req *rq, const void *task, size_t len)
{
  if (!p->fs_up)
    return -ECHILD;
  struct iovec iov[2] = {{(void *)rq, sizeof *rq}, {(void *)task, len}};
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
  for (;;) {
    if (sendmsg(p->fs_sock, &mh, MSG_NOSIGNAL) >= 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      /* the socket buffer is full: the fork server is behind; wait briefly */
      struct pollfd pf = {.fd = p->fs_sock, .events = POLLOUT};
      if (poll(&pf, 1, 100) > 0)
        continue;
    }
    return -errno;
  }
}

static void breaker_open(ferry_pool *p, const char *why)
{
  if (p->breaker == FERRY_POOL_BREAKER_OPEN)
    return;
  p->breaker = FERRY_POOL_BREAKER_OPEN;
  p->breaker_until = mono_ns() + p->o.breaker_cooldown_ns;
  snprintf(p->breaker_msg, sizeof p->breaker_msg, "%s", why);
  emit(p, FERRY_POOL_EV_BREAKER_OPEN, NULL, NULL, -1, 0, p->breaker_msg);
}

/* A worker of a slot ended without being asked: backoff and breaker. */
static void count_crash(ferry_pool *p, struct proc *w, const char *what)
{
  struct slot *s = &p->slots[w->slot];
  s->crashes++;
  p->st.deaths++;
  if (++p->deaths_in_row >= p->o.breaker_deaths ||
      p->breaker == FERRY_POOL_BREAKER_HALF_OPEN) {
    char why[160];
    snprintf(why, sizeof why, "workers keep dying: %u in a row without a result; last: %s",
             p->deaths_in_row, what);
    breaker_open(p, why);
  }
}

/* A task ended on this worker with a result: the worker is sound. */
static void count_success(ferry_pool *p, struct proc *w)
{
  p->slots[w->slot].crashes = 0;
  p->deaths_in_row = 0;
  if (p->breaker != FERRY_POOL_BREAKER_CLOSED) {
    p->breaker = FERRY_POOL_BREAKER_CLOSED;
    emit(p, FERRY_POOL_EV_BREAKER_CLOSED, w, NULL, -1, 0, NULL);
  }
}

static void schedule_respawn(ferry_pool *p, uint32_t slot)
{
  struct slot *s = &p->slots[slot];
  int64_t delay = 0;
  if (s->crashes > 1) {
    delay = p->o.backoff_ns;
    for (uint32_t i = 2; i < s->crashes && delay < p->o.backoff_max_ns; i++)
      delay *= 2;
    if (delay > p->o.backoff_max_ns)
      delay = p->o.backoff_max_ns;
  }
  s->waiting = true;
  s->respawn_at = mono_ns() + delay;
}

/* Starts a process for a slot (FUNCTION, EXEC) or for task t (EXEC_EACH). */
static int slot_spawn(ferry_pool *p, uint32_t slot, struct task *t)
{
  struct slot *s = &p->slots[slot];
  struct proc *w = proc_new(p, slot);
  if (!w)
    return -ENOMEM;
  s->cur = w;
  s->waiting = false;
  int rc = 0;
  if (p->o.kind == FERRY_POOL_FUNCTION) {
    char name[FERRY_NAME_MAX + 1];
    pipe_name(name, sizeof name, p->name, slot, w->gen);
    ferry_pipe_options po;
    ferry_pipe_options_init(&po);
    po.region = p->o.region;
    po.region.flags = 0;
    po.region.max_participants = 4;
    /* Tasks toward the worker: the 1 + prefetch it holds, and one more.
     * The worker releases a task only after it committed the result, so
     * the owner, reading that result, may give the next task while the
     * old one still fills its place. */
    po.capacity = 2 + p->o.prefetch;
    po.max_msg_size = MSG_HDR + p->o.max_msg;
    po.spin_ns = 0; /* the worker spins itself, yielding (worker_main) */
    rc = ferry_pipe_create(name, &po, &w->pipe);
    if (rc == -EEXIST) { /* left by an owner that died: ours to replace */
      ferry_unlink(name);
      rc = ferry_pipe_create(name, &po, &w->pipe);
    }
    if (!rc) {
      w->pipe_linked = true;
      life_alloc(p, w);
    }
  }
  struct fs_req rq = {.op = REQ_SPAWN, .slot = slot, .gen = w->gen, .life = w->life};
  if (!rc && t) {
    rq.task_id = t->id;
    rq.len = t->len;
    w->q[0] = t;
    w->nq = 1;
    t->state = T_RUNNING;
  }
  if (!rc)
    rc = fs_send(p, &rq, t ? t->data : NULL, t ? t->len : 0);
  if (rc) {
    if (t) {
      w->nq = 0;
      task_requeue(p, t, NULL);
    }
    proc_unlink(p, w);
    char why[160];
    snprintf(why, sizeof why, "cannot start a worker: %s", ferry_strerror(rc));
    emit(p, FERRY_POOL_EV_SPAWN_FAILED, NULL, NULL, -1, 0, why);
    s->crashes++;
    if (++p->deaths_in_row >= p->o.breaker_deaths)
      breaker_open(p, why);
    schedule_respawn(p, slot);
    return rc;
  }
  if (s->ever && slot < p->o.workers)
    p->st.respawned++;
  s->ever = true;
  return 0;
}

/* ---- results ---------------------------------------------------------------------- */

/* w's running task q[0] ended with a result or the task's own failure. */
static void proc_task_done(ferry_pool *p, struct proc *w, uint32_t outcome, int error,
                           const void *data, size_t len)
{
  struct task *t = w->q[0];
  t->elapsed = mono_ns() - t->start_mono;
  t->exit_code = outcome == FERRY_POOL_DONE ? 0 : t->exit_code;
  w->q[0] = w->q[1];
  w->q[1] = NULL;
  w->nq--;
  w->done_tasks++;
  task_finish(p, t, outcome, error, data, len);
  count_success(p, w);
  if (w->limit && w->done_tasks >= w->limit)
    w->retire_after = true;
  if (w->nq)
    task_start(w, w->q[0]);
  else if (w->state == P_BUSY)
    w->state = P_IDLE;
}

/* Kills a worker that broke the protocol; its running task fails. */
static void proc_protocol(ferry_pool *p, struct proc *w, int error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void proc_protocol(ferry_pool *p, struct proc *w, int error, const char *fmt, ...)
{
  char buf[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (w->nq) {
    struct task *t = w->q[0];
    set_msg(t, "%s", buf);
    t->elapsed = mono_ns() - t->start_mono;
    w->q[0] = w->q[1];
    w->q[1] = NULL;
    w->nq--;
    task_finish(p, t, FERRY_POOL_PROTOCOL, error, NULL, 0);
    if (w->nq) { /* never started: not an attempt */
      struct task *n = w->q[0];
      w->q[0] = NULL;
      w->nq = 0;
      task_requeue(p, n, w);
    }
  } else {
    output_line(p, w, buf, strlen(buf));
  }
  proc_kill(p, w, K_PROTOCOL);
}

/* Function worker: takes every result waiting in its pipe. */
static void read_pipe_results(ferry_pool *p, struct proc *w)
{
  while (w->pipe && w->nq) {
    ssize_t n = ferry_pipe_recv(w->pipe, p->rbuf, MSG_HDR + (size_t)p->o.max_msg, 0);
    if (n == -EAGAIN || n == -EPIPE)
      return;
    if (n < MSG_HDR) {
      proc_protocol(p, w, -EPROTO, "worker %d sent a malformed result (%s)", (int)w->pid,
                    n < 0 ? ferry_strerror((int)n) : "short");
      return;
    }
    struct result_hdr rh;
    memcpy(&rh, p->rbuf, sizeof rh);
    if (rh.id != w->q[0]->id) {
      proc_protocol(p, w, -EPROTO, "worker %d answered task %llu, not %llu", (int)w->pid,
                    (unsigned long long)rh.id, (unsigned long long)w->q[0]->id);
      return;
    }
    if (rh.status == RESULT_OVERSIZE) {
      struct task *t = w->q[0];
      set_msg(t, "the task function returned more than max_msg (%u bytes)", p->o.max_msg);
      t->error = -EMSGSIZE;
      proc_task_done(p, w, FERRY_POOL_PROTOCOL, -EMSGSIZE, NULL, 0);
    } else if (rh.status < 0) {
      set_msg(w->q[0], "the task function returned %d (%s)", rh.status,
              ferry_strerror(rh.status));
      proc_task_done(p, w, FERRY_POOL_FAILED, rh.status, NULL, 0);
    } else {
      proc_task_done(p, w, FERRY_POOL_DONE, 0, p->rbuf + MSG_HDR, (size_t)n - MSG_HDR);
    }
  }
}

/* Exec worker: parses the complete results in ibuf. */
static void parse_exec_results(ferry_pool *p, struct proc *w)
{
  struct buf *b = &w->ibuf;
  while (b->off < b->len && w->state != P_KILLING && w->state != P_DEAD) {
    uint8_t *s = b->d + b->off;
    size_t avail = b->len - b->off;
    if (!w->nq) {
      proc_protocol(p, w, -EPROTO, "worker %d wrote output with no task outstanding",
                    (int)w->pid);
      b->off = b->len = 0;
      return;
    }
    if (p->o.framing == FERRY_POOL_LINES) {
      uint8_t *nl = memchr(s, '\n', avail);
      if (!nl) {
        if (avail > p->o.max_msg) {
          proc_protocol(p, w, -EMSGSIZE, "worker %d wrote a line longer than max_msg (%u bytes)",
                        (int)w->pid, p->o.max_msg);
          b->off = b->len = 0;
        }
        return;
      }
      size_t len = (size_t)(nl - s);
      if (len > p->o.max_msg) {
        proc_protocol(p, w, -EMSGSIZE, "worker %d wrote a line longer than max_msg (%u bytes)",
                      (int)w->pid, p->o.max_msg);
        b->off = b->len = 0;
        return;
      }
      b->off += len + 1;
      proc_task_done(p, w, FERRY_POOL_DONE, 0, s, len);
    } else {
      if (avail < 4)
        return;
      uint32_t word = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
                      (uint32_t)s[3] << 24;
      uint32_t len = word & ~FRAME_ERROR_BIT;
      if (len > p->o.max_msg) {
        proc_protocol(p, w, -EMSGSIZE, "worker %d sent a frame of %u bytes (max_msg %u)",
                      (int)w->pid, len, p->o.max_msg);
        b->off = b->len = 0;
        return;
      }
      if (avail - 4 < len)
        return;
      b->off += 4 + (size_t)len;
      if (word & FRAME_ERROR_BIT) {
        struct task *t = w->q[0];
        set_msg(t, "%.*s", (int)(len < 190 ? len : 190), (const char *)s + 4);
        proc_task_done(p, w, FERRY_POOL_FAILED, -EIO, s + 4, len);
      } else {
        proc_task_done(p, w, FERRY_POOL_DONE, 0, s + 4, len);
      }
    }
  }
  if (b->off == b->len)
    b->off = b->len = 0;
}

/* Reads a worker's result channel: the doorbell (FUNCTION) or stdout.
 * Never blocks. Sets out_eof at EOF. */
static void read_out(ferry_pool *p, struct proc *w)
{
  bool func = p->o.kind == FERRY_POOL_FUNCTION;
  while (w->out_fd >= 0) {
    ssize_t n;
    if (func) {
      uint8_t junk[256];
      n = read(w->out_fd, junk, sizeof junk);
      if (n > 0) {
        if (w->state == P_STARTING) {
          /* attached: the name is no longer needed [pool-names] */
          unlink_pipe(w);
          w->state = P_IDLE;
          watch_changed(p); /* its life lock is held now */
        }
        if ((size_t)n < sizeof junk)
          break; /* drained: a short read took all there was */
        continue;
      }
    } else {
      if (buf_reserve(&w->ibuf, 65536)) {
        proc_protocol(p, w, -ENOMEM, "out of memory reading worker %d", (int)w->pid);
        return;
      }
      n = read(w->out_fd, w->ibuf.d + w->ibuf.len, w->ibuf.cap - w->ibuf.len);
      if (n > 0) {
        if (is_each(p)) {
          /* the whole stdout is the result; past max_msg it is only counted */
          if (w->ibuf.len + (size_t)n > p->o.max_msg) {
            w->oversize = true;
            w->ibuf.len = p->o.max_msg;
          } else
            w->ibuf.len += (size_t)n;
        } else {
          w->ibuf.len += (size_t)n;
          parse_exec_results(p, w);
        }
        continue;
      }
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    w->out_eof = true;
    w->eof_at = mono_ns();
    close_fd(&w->out_fd);
  }
  if (func)
    read_pipe_results(p, w);
}

/* Writes what is pending for an exec worker's stdin. */
static void write_in(ferry_pool *p, struct proc *w)
{
  (void)p;
  struct buf *b = &w->obuf;
  while (w->in_fd >= 0 && b->off < b->len) {
    ssize_t n = write(w->in_fd, b->d + b->off, b->len - b->off);
    if (n > 0) {
      b->off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    /* EPIPE: it closed its stdin or died; the pidfd tells which */
    b->off = b->len = 0;
    close_fd(&w->in_fd);
    return;
  }
  if (b->off == b->len)
    b->off = b->len = 0;
}

/* ---- death ---------------------------------------------------------------------- */

/* Exit status now known for a dead worker whose last task waits for it. */
static void finalize_dead(ferry_pool *p, struct proc *w)
{
  if (w->failing) {
    struct task *t = w->failing;
    w->failing = NULL;
    fail_by_death(p, w, t, w->failing_why);
  }
  if (is_each(p) && w->nq) {
    /* EXEC_EACH: the process is the task; its exit is the verdict */
    struct task *t = w->q[0];
    w->q[0] = NULL;
    w->nq = 0;
    t->elapsed = mono_ns() - t->start_mono;
    t->exit_code = w->reaped && WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1;
    t->sig = w->reaped && WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0;
    bool clean_exit = w->reaped && WIFEXITED(w->status);
    if (!clean_exit && w->why == K_NONE) {
      char what[120];
      describe_status(what, sizeof what, w->pid, w->reaped, w->status);
      count_crash(p, w, what);
    }
    if (w->why == K_CANCEL || w->why == K_CLOSE) {
      set_msg(t, "cancelled while running");
      task_finish(p, t, FERRY_POOL_CANCELLED, -ECANCELED, NULL, 0);
    } else if (clean_exit && t->exit_code == 0 && !t->timed_out) {
      if (w->oversize) {
        set_msg(t, "output longer than max_msg (%u bytes)", p->o.max_msg);
        task_finish(p, t, FERRY_POOL_PROTOCOL, -EMSGSIZE, NULL, 0);
      } else
        task_finish(p, t, FERRY_POOL_DONE, 0, w->ibuf.d, w->ibuf.len);
      count_success(p, w);
    } else if (t->attempts <= p->o.retries && p->state < FERRY_POOL_CANCELLING) {
      task_requeue(p, t, w);
    } else if (clean_exit && !t->timed_out) {
      set_msg(t, "exited with status %d; %u attempt%s", t->exit_code, t->attempts,
              t->attempts == 1 ? "" : "s");
      task_finish(p, t, FERRY_POOL_FAILED, -EIO, w->ibuf.d, w->ibuf.len);
      count_success(p, w); /* it ran and answered: no crash loop */
    } else {
      fail_by_death(p, w, t, w->why);
    }
  }
}

/* w is gone (pidfd, or exit reported). Takes what it sent, then requeues or
 * fails what it held [pool-drain-first]. Idempotent. */
static void proc_died(ferry_pool *p, struct proc *w)
{
  if (w->gone)
    return;
  w->gone = true;
  int64_t now = mono_ns();
  if (w->state != P_SPAWNING) {
    read_out(p, w); /* the results it sent before dying count */
    drain_err(p, w);
  }
  bool planned = w->why == K_RETIRE || w->why == K_CANCEL || w->why == K_CLOSE ||
                 w->why == K_PROTOCOL || w->why == K_TIMEOUT;
  w->unplanned = !planned;
  enum proc_state was = w->state;
  w->state = P_DEAD;
  w->deadline = now + STATUS_WAIT_NS;
  if (!is_each(p)) {
    for (uint32_t i = 0; i < w->nq; i++) {
      struct task *t = w->q[i];
      w->q[i] = NULL;
      if (i == 1 || t->attempts == 0) { /* never started: not an attempt */
        if (p->state >= FERRY_POOL_CANCELLING) {
          set_msg(t, "cancelled");
          task_finish(p, t, FERRY_POOL_CANCELLED, -ECANCELED, NULL, 0);
        } else
          task_requeue(p, t, w);
        continue;
      }
      bool cancel = w->why == K_CANCEL || w->why == K_CLOSE || p->state >= FERRY_POOL_CANCELLING;
      if (!cancel && t->attempts <= p->o.retries) {
        task_requeue(p, t, w);
      } else {
        /* the record wants the exit status; it comes from the fork server */
        w->failing = t;
        w->failing_why = cancel ? K_CANCEL : w->why;
      }
    }
    w->nq = 0;
  }
  /* If it died before it attached, its pipe's name goes now; the mapping
   * goes at the sweep (proc_unlink): an munmap costs more than the
   * hand-over of w's task, which comes first. */
  unlink_pipe(w);
  close_fd(&w->in_fd);
  close_fd(&w->out_fd);
  if (p->slots[w->slot].cur == w) {
    p->slots[w->slot].cur = NULL;
    if (w->unplanned && was != P_RETIRING) {
      char what[120];
      describe_status(what, sizeof what, w->pid, w->reaped, w->status);
      if (!is_each(p))
        count_crash(p, w, what);
    }
    if (!is_each(p))
      schedule_respawn(p, w->slot);
  }
  if (!w->reaped && !p->fs_up) {
    /* its reaper is gone: no status will come */
    w->status_lost = true;
    finalize_dead(p, w);
  }
  if (w->reaped) {
    finalize_dead(p, w);
    char what[120];
    describe_status(what, sizeof what, w->pid, true, w->status);
    emit(p, FERRY_POOL_EV_EXITED, w, NULL,
         WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1,
         WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0, what);
  }
}

/* The exit status of pid arrived from the fork server. */
static void proc_reaped(ferry_pool *p, pid_t pid, int status)
{
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->pid != pid || w->reaped || w->state == P_SPAWNING)
      continue;
    w->reaped = true;
    w->status = status;
    if (!w->gone) {
      proc_died(p, w);
    } else {
      finalize_dead(p, w);
      char what[120];
      describe_status(what, sizeof what, w->pid, true, status);
      emit(p, FERRY_POOL_EV_EXITED, w, NULL, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0, what);
    }
    return;
  }
}

/* ---- the fork server, from the owner's side --------------------------------------- */

static int fs_start(ferry_pool *p)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
    return -errno;
  int big = (int)(sizeof(struct fs_req) + EACH_MAX_ARG + 4096);
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  reg_add(sv[0]);
  pid_t owner = getpid();
  life_keep = p->life;
  /* the child closes every registered descriptor and unmaps every other
   * pool's life locks (reg_child) */
  pid_t pid = fork();
  if (pid == 0)
    fs_main(p, sv[1], owner); /* keeps life_keep: its workers keep the area too */
  life_keep = NULL;
  int e = errno;
  close(sv[1]);
  if (pid < 0) {
    close_fd(&sv[0]);
    return -e;
  }
  setpgid(pid, pid); /* also done by the child: whichever runs first */
  int pidfd = sys_pidfd_open(pid);
  if (pidfd < 0) {
    e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close_fd(&sv[0]);
    return -e;
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  reg_add(pidfd);
  set_nonblock(sv[0]);
  p->fs_pid = pid;
  p->fs_pidfd = pidfd;
  p->fs_sock = sv[0];
  p->fs_up = true;
  return 0;
}

/* Reaps the fork server (its pidfd is readable, or it was killed). */
static void fs_reap(ferry_pool *p, bool wait)
{
  if (p->fs_pidfd < 0)
    return;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc = (int)waitid(P_PIDFD, (id_t)p->fs_pidfd, &si, WEXITED | (wait ? 0 : WNOHANG));
  if (rc == 0 && si.si_pid == 0)
    return; /* still running */
  close_fd(&p->fs_pidfd);
  close_fd(&p->fs_sock);
  bool was = p->fs_up;
  p->fs_up = false;
  if (!was)
    return;
  /* Its workers die with it (parent-death signal), and nobody will report
   * their exits: finish what waits for a status, drop pending spawns. */
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->state == P_SPAWNING) {
      if (w->nq) {
        struct task *t = w->q[0];
        w->q[0] = NULL;
        w->nq = 0;
        task_requeue(p, t, NULL);
      }
      if (p->slots[w->slot].cur == w) {
        p->slots[w->slot].cur = NULL;
        if (!is_each(p))
          schedule_respawn(p, w->slot);
      }
      w->gone = true;
      w->state = P_DEAD;
      w->status_lost = true;
      close_pipe(w);
    } else if (w->gone && !w->reaped) {
      w->status_lost = true;
      finalize_dead(p, w);
    }
  }
  if (!p->closing) {
    p->fs_failures++;
    int64_t d = p->o.backoff_ns;
    for (uint32_t i = 1; i < p->fs_failures && d < p->o.backoff_max_ns; i++)
      d *= 2;
    p->fs_restart_at = mono_ns() + (d < p->o.backoff_max_ns ? d : p->o.backoff_max_ns);
    char why[64];
    snprintf(why, sizeof why, "the fork server died");
    emit(p, FERRY_POOL_EV_SPAWN_FAILED, NULL, NULL, -1, 0, why);
  }
}

static void on_spawned(ferry_pool *p, const struct fs_rep *rep, const int *fds, uint32_t nfds)
{
  struct proc *w = NULL;
  for (struct proc *x = p->procs; x; x = x->next)
    if (x->slot == rep->slot && x->gen == rep->gen && x->state == P_SPAWNING && !x->gone) {
      w = x;
      break;
    }
  bool ok = rep->err == 0 && nfds == (p->o.kind == FERRY_POOL_EXEC ? 4u : 3u);
  if (!w || !ok) {
    /* A worker that runs but that we cannot use: nobody wants it any more
     * (closed, cancelled), or its descriptors did not all arrive (we were
     * out of them): end it, through its pidfd or, without one, by the fork
     * server, so that it never runs a task unwatched. */
    if (rep->err == 0 && nfds >= 1)
      sys_pidfd_signal(fds[0], SIGKILL);
    else if (rep->err == 0 && rep->pid > 0) {
      struct fs_req kill_rq = {.op = REQ_KILL, .pid = rep->pid};
      fs_send(p, &kill_rq, NULL, 0);
    }
    for (uint32_t i = 0; i < nfds; i++)
      close(fds[i]);
    if (!w)
      return;
    char why[200];
    if (rep->status == 1)
      snprintf(why, sizeof why, "cannot run '%s': %s", p->cmd0, ferry_strerror(rep->err));
    else
      snprintf(why, sizeof why, "cannot start a worker: %s",
               ferry_strerror(rep->err ? rep->err : -EPROTO));
    emit(p, FERRY_POOL_EV_SPAWN_FAILED, w, NULL, -1, 0, why);
    if (w->nq) {
      struct task *t = w->q[0];
      w->q[0] = NULL;
      w->nq = 0;
      task_requeue(p, t, NULL);
    }
    p->slots[w->slot].crashes++;
    p->deaths_in_row++;
    if (rep->status == 1 || p->deaths_in_row >= p->o.breaker_deaths)
      breaker_open(p, why); /* a command that cannot run will not run later */
    if (p->slots[w->slot].cur == w) {
      p->slots[w->slot].cur = NULL;
      if (!is_each(p))
        schedule_respawn(p, w->slot);
    }
    w->gone = true;
    w->state = P_DEAD;
    w->status_lost = true;
    close_pipe(w);
    w->fin = true;
    return;
  }
  w->pid = rep->pid;
  w->pidfd = fds[0];
  w->out_fd = fds[1];
  w->err_fd = fds[2];
  if (nfds > 3)
    w->in_fd = fds[3];
  for (uint32_t i = 0; i < nfds; i++) {
    reg_add(fds[i]);
    if (i)
      set_nonblock(fds[i]);
  }
  switch (p->o.kind) {
  case FERRY_POOL_FUNCTION:
    w->state = P_STARTING;
    w->deadline = mono_ns() + START_WAIT_NS;
    break;
  case FERRY_POOL_EXEC:
    w->state = P_IDLE;
    break;
  default:
    w->state = P_BUSY;
    task_start(w, w->q[0]);
    break;
  }
  if (w->why == K_CANCEL || w->why == K_CLOSE)
    proc_kill(p, w, w->why);
  emit(p, FERRY_POOL_EV_SPAWNED, w, NULL, -1, 0, NULL);
}

/* Takes every message the fork server sent. */
static void fs_read(ferry_pool *p)
{
  while (p->fs_sock >= 0) {
    struct fs_rep rep;
    union {
      char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
      struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &rep, .iov_len = sizeof rep};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(p->fs_sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    int fds[MAX_PASSED_FDS];
    uint32_t nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && nfds < MAX_PASSED_FDS; i++)
          memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    if (n <= 0) { /* EOF: the fork server is gone; its pidfd says so too */
      for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
      close_fd(&p->fs_sock);
      if (p->fs_pidfd >= 0) {
        struct pollfd pf = {.fd = p->fs_pidfd, .events = POLLIN};
        poll(&pf, 1, 100); /* it exits right after closing */
        fs_reap(p, false);
      }
      return;
    }
    if (n != (ssize_t)sizeof rep) {
      for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
      continue;
    }
    if (rep.op == REP_SPAWNED)
      on_spawned(p, &rep, fds, nfds);
    else {
      for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
      if (rep.op == REP_EXITED)
        proc_reaped(p, rep.pid, rep.status);
    }
  }
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* The next task to run: a retry first, then a new one if the window allows. */
static struct task *next_task(ferry_pool *p)
{
  struct task *t = tq_pop(&p->retryq);
  if (t)
    return t;
  t = p->newq.head;
  if (!t)
    return NULL;
  if (p->o.flags & FERRY_POOL_ORDERED) {
    if (t->id >= p->next_deliver + p->o.window)
      return NULL;
  } else if (p->admitted >= p->o.window)
    return NULL;
  tq_pop(&p->newq);
  t->admitted = true;
  t->state = T_PENDING;
  p->admitted++;
  if (p->o.flags & FERRY_POOL_ORDERED)
    p->ring[t->id % p->o.window] = t;
  notify(p); /* room in the buffer */
  return t;
}

static void give_back(ferry_pool *p, struct task *t)
{
  t->state = T_PENDING;
  tq_push_front(&p->retryq, t);
}

/* Sends t to w (idle, or busy with room for a prefetched task). */
static bool give(ferry_pool *p, struct proc *w, struct task *t)
{
  if (p->o.kind == FERRY_POOL_FUNCTION) {
    void *d;
    int rc = ferry_pipe_reserve(w->pipe, MSG_HDR + (size_t)t->len, &d, 0);
    if (rc) {
      give_back(p, t);
      proc_protocol(p, w, -EPROTO, "worker %d: its pipe refused a task (%s)", (int)w->pid,
                    ferry_strerror(rc));
      return false;
    }
    struct task_hdr th = {.id = t->id, .len = t->len, .reserved = 0};
    memcpy(d, &th, sizeof th);
    memcpy((uint8_t *)d + MSG_HDR, t->data, t->len);
    ferry_pipe_commit(w->pipe, MSG_HDR + (size_t)t->len);
  } else {
    if (w->in_fd < 0 || buf_reserve(&w->obuf, (size_t)t->len + 4)) {
      give_back(p, t);
      return false;
    }
    struct buf *b = &w->obuf;
    if (p->o.framing == FERRY_POOL_FRAMES) {
      uint8_t h[4] = {(uint8_t)t->len, (uint8_t)(t->len >> 8), (uint8_t)(t->len >> 16),
                      (uint8_t)(t->len >> 24)};
      memcpy(b->d + b->len, h, 4);
      b->len += 4;
      memcpy(b->d + b->len, t->data, t->len);
      b->len += t->len;
    } else {
      memcpy(b->d + b->len, t->data, t->len);
      b->len += t->len;
      b->d[b->len++] = '\n';
    }
  }
  w->q[w->nq++] = t;
  w->dispatched++;
  p->gave++;
  if (w->nq == 1) {
    task_start(w, t);
    w->state = P_BUSY;
  } else
    t->state = T_RUNNING; /* queued behind q[0]: its attempt starts later */
  if (p->o.kind != FERRY_POOL_FUNCTION)
    write_in(p, w);
  return true;
}

static bool wants_task(const struct proc *w, uint32_t depth)
{
  if (!w || w->nq != depth || w->retire_after || w->why != K_NONE)
    return false;
  if (depth == 0 ? w->state != P_IDLE : w->state != P_BUSY)
    return false;
  return !w->limit || w->dispatched < w->limit;
}

static void dispatch(ferry_pool *p)
{
  p->saturated = false;
  if (p->state >= FERRY_POOL_CANCELLING)
    return;
  uint32_t n = p->o.workers;
  if (is_each(p)) {
    if (!p->fs_up || p->breaker == FERRY_POOL_BREAKER_OPEN)
      return;
    for (uint32_t i = 0; i < n; i++) {
      if (p->slots[i].cur)
        continue;
      struct task *t = next_task(p);
      if (!t)
        return;
      slot_spawn(p, i, t);
    }
    return;
  }
  p->saturated = false;
  for (uint32_t depth = 0; depth <= p->o.prefetch; depth++)
    for (uint32_t i = 0; i < n; i++) {
      struct proc *w = p->slots[i].cur;
      if (!wants_task(w, depth))
        continue;
      struct task *t = next_task(p);
      if (!t)
        return; /* a worker wants work: a submit must wake us */
      give(p, w, t);
    }
  /* Every worker has all it may hold: a new task cannot go anywhere before
   * some worker answers, which wakes the loop anyway [pool-wake]. */
  p->saturated = p->breaker == FERRY_POOL_BREAKER_CLOSED;
}

/* Would the window admit the oldest new task? */
static bool window_allows(const ferry_pool *p)
{
  const struct task *t = p->newq.head;
  if (!t)
    return false;
  if (p->o.flags & FERRY_POOL_ORDERED)
    return t->id < p->next_deliver + p->o.window;
  return p->admitted < p->o.window;
}

/* ---- timers and upkeep ------------------------------------------------------------- */

static bool work_left(const ferry_pool *p)
{
  if (p->newq.n || p->retryq.n)
    return true;
  for (const struct proc *w = p->procs; w; w = w->next)
    if (w->nq || w->failing)
      return true;
  return false;
}

static void do_cancel(ferry_pool *p)
{
  if (p->state >= FERRY_POOL_CANCELLING)
    return;
  p->input_closed = true;
  p->state = FERRY_POOL_CANCELLING;
  finish_pending(p, FERRY_POOL_CANCELLED, -ECANCELED, "cancelled before it ran");
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->gone)
      continue;
    if (w->nq || w->state == P_SPAWNING || w->state == P_STARTING)
      proc_kill(p, w, K_CANCEL);
    else if (w->state == P_IDLE) {
      if (p->slots[w->slot].cur == w)
        p->slots[w->slot].cur = NULL;
      proc_retire(p, w);
    }
  }
}

static void read_rss_all(ferry_pool *p)
{
  long page = sysconf(_SC_PAGESIZE);
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->gone || (w->state != P_IDLE && w->state != P_BUSY) || w->retire_after)
      continue;
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)w->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
      continue;
    buf[n] = '\0';
    unsigned long long size, rss;
    if (sscanf(buf, "%llu %llu", &size, &rss) == 2 && rss * (uint64_t)page > p->o.max_rss)
      w->retire_after = true;
  }
}

/* What /proc says of pid: 1 exiting or dead (a zombie, or PF_EXITING: in
 * the kernel's exit path, never to run its own code again), 0 alive and
 * not exiting, -1 unknown (no such entry, or unreadable). */
static int proc_exit_state(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  const char *rp = strrchr(buf, ')');
  char state;
  unsigned flags = 0;
  if (!rp || sscanf(rp + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
    return -1;
  return state == 'Z' || state == 'X' || (flags & PROC_PF_EXITING) ? 1 : 0;
}

/* Is pid on its way out (exiting, or a zombie not yet reaped)? */
static bool proc_exiting(pid_t pid)
{
  return proc_exit_state(pid) != 0; /* no entry: gone already */
}

/* Runs every timer that is due; returns the next deadline. */
static int64_t timers(ferry_pool *p, int64_t now)
{
  int64_t next = now + (int64_t)LOOP_MAX_SLEEP_MS * FERRY_MSEC;
#define AT(t)                                                                                  \
  do {                                                                                         \
    if ((t) < next)                                                                            \
      next = (t);                                                                              \
  } while (0)
  if (p->o.max_rss) {
    if (now >= p->rss_next) {
      read_rss_all(p);
      p->rss_next = now + RSS_PERIOD_NS;
    }
    AT(p->rss_next);
  }
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->fin)
      continue;
    if (w->out_eof && !w->gone && !is_each(p) && w->state != P_KILLING &&
        w->state != P_RETIRING) {
      if (now >= w->eof_at + EOF_WAIT_NS) {
        if (proc_exiting(w->pid))
          w->eof_at = now; /* dying, slowly: its pidfd will say so */
        else
          proc_protocol(p, w, -EPIPE, "worker %d closed its output", (int)w->pid);
      }
      if (!w->gone && w->state != P_KILLING)
        AT(w->eof_at + EOF_WAIT_NS);
    }
    switch (w->state) {
    case P_BUSY:
      if (p->o.task_timeout_ns && w->nq && !w->q[0]->timed_out) {
        int64_t due = w->q[0]->start_mono + p->o.task_timeout_ns;
        if (now >= due) {
          w->q[0]->timed_out = true;
          p->st.timeouts++;
          emit(p, FERRY_POOL_EV_TIMEDOUT, w, w->q[0], -1, 0, NULL);
          proc_kill(p, w, K_TIMEOUT);
        } else
          AT(due);
      }
      break;
    case P_STARTING:
    case P_RETIRING:
      if (now >= w->deadline) {
        if (w->state == P_STARTING)
          output_line(p, w, "worker did not start in time", 28);
        proc_kill(p, w, w->state == P_STARTING ? K_PROTOCOL : K_RETIRE);
      } else
        AT(w->deadline);
      break;
    case P_KILLING:
      if (now >= w->deadline && w->kill_stage == 1) {
        w->kill_stage = 2;
        proc_signal(w, SIGKILL);
        w->deadline = INT64_MAX;
      } else
        AT(w->deadline);
      break;
    case P_DEAD:
      if (now >= w->deadline) {
        if (!w->reaped && !w->status_lost) {
          w->status_lost = true;
          finalize_dead(p, w);
        }
        drain_err(p, w);
        if (w->err_fd >= 0) { /* a grandchild holds it open: stop reading */
          err_lines(p, w, true);
          close_fd(&w->err_fd);
        }
      } else
        AT(w->deadline);
      break;
    default:
      break;
    }
    if (w->gone && (w->reaped || w->status_lost) && w->err_fd < 0 && !w->failing && !w->nq)
      w->fin = true;
  }
  if (p->input_closed && p->state == FERRY_POOL_DRAINING) {
    if (now >= p->drain_deadline)
      do_cancel(p);
    else if (p->drain_deadline != INT64_MAX)
      AT(p->drain_deadline);
  }
  if (p->breaker == FERRY_POOL_BREAKER_OPEN) {
    if (now >= p->breaker_until) {
      p->breaker = FERRY_POOL_BREAKER_HALF_OPEN;
      for (uint32_t i = 0; i < p->o.workers + p->o.spares; i++)
        p->slots[i].respawn_at = now;
    } else
      AT(p->breaker_until);
  }
  if (!p->fs_up && !p->closing && p->fs_pidfd < 0) {
    if (now >= p->fs_restart_at) {
      if (fs_start(p) == 0)
        p->fs_failures = 0;
      else
        p->fs_restart_at = now + p->o.backoff_max_ns;
    }
    if (!p->fs_up)
      AT(p->fs_restart_at);
  }
  if (p->closing)
    AT(p->close_deadline);
  return next;
#undef AT
}

/* A closed input with nothing left to do: the pool is stopped. */
static void check_drained(ferry_pool *p)
{
  if (p->input_closed && p->state != FERRY_POOL_STOPPED && !work_left(p)) {
    p->state = FERRY_POOL_STOPPED;
    notify(p);
  }
}

/* Moves an idle spare into empty slot i (its own slot is refilled by the
 * caller's loop). Returns true if one was there. */
static bool take_spare(ferry_pool *p, uint32_t i)
{
  for (uint32_t k = p->o.workers; k < p->o.workers + p->o.spares; k++) {
    struct proc *w = p->slots[k].cur;
    if (!w || w->state != P_IDLE || w->nq || w->why != K_NONE || w->retire_after)
      continue;
    p->slots[k].cur = NULL;
    p->slots[k].waiting = false;
    w->slot = i;
    struct slot *s = &p->slots[i];
    s->cur = w;
    s->waiting = false;
    s->gen++;
    if (s->ever)
      p->st.respawned++;
    s->ever = true;
    /* the refill of the spare's own slot waits SPARE_HOLD_NS, past the
     * hand-over (fill_slots) */
    p->hold_until = mono_ns() + SPARE_HOLD_NS;
    return true;
  }
  return false;
}

/* Keeps the slots filled, retires what should go, applies stop and breaker. */
static int64_t upkeep(ferry_pool *p, int64_t now, int64_t next)
{
  uint32_t sigs = atomic_load_explicit(&p->sig_count, memory_order_relaxed);
  if (sigs != p->sig_seen) {
    p->sig_seen = sigs;
    if (sigs >= 2)
      do_cancel(p);
    else if (!p->input_closed) {
      p->input_closed = true;
      p->drain_deadline =
          p->sig_drain_ns == FERRY_FOREVER ? INT64_MAX : now + p->sig_drain_ns;
      if (p->state == FERRY_POOL_RUNNING)
        p->state = FERRY_POOL_DRAINING;
      notify(p);
    }
  }
  if (p->closing)
    do_cancel(p);
  check_drained(p);
  /* idle workers that must go: limits, or nothing more to do */
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->gone || w->state != P_IDLE || w->nq)
      continue;
    bool done = p->state == FERRY_POOL_STOPPED || p->state == FERRY_POOL_CANCELLING;
    bool limit = w->retire_after || (w->limit && w->dispatched >= w->limit);
    if (!done && !limit)
      continue;
    if (p->slots[w->slot].cur == w) {
      p->slots[w->slot].cur = NULL;
      p->slots[w->slot].waiting = true;
      p->slots[w->slot].respawn_at = now; /* a planned replacement: at once */
    }
    proc_retire(p, w);
  }
  /* breaker open and nobody to run anything: refuse, do not hang */
  if (p->breaker == FERRY_POOL_BREAKER_OPEN && (p->newq.n || p->retryq.n)) {
    bool able = false;
    for (struct proc *w = p->procs; w && !able; w = w->next)
      able = !w->gone && (w->state == P_IDLE || w->state == P_BUSY || w->state == P_STARTING ||
                          w->state == P_SPAWNING) && w->why == K_NONE;
    if (!able)
      finish_pending(p, FERRY_POOL_REFUSED, -EAGAIN, p->breaker_msg);
  }
  return next;
}

/* May the pool start processes now? */
static bool spawn_allowed(const ferry_pool *p)
{
  return !is_each(p) && p->fs_up && !p->closing && p->breaker != FERRY_POOL_BREAKER_OPEN &&
         (p->state == FERRY_POOL_RUNNING || (p->state == FERRY_POOL_DRAINING && work_left(p)));
}

/* Moves idle spares into the empty worker slots. */
static void fill_from_spares(ferry_pool *p)
{
  if (!p->o.spares || !spawn_allowed(p))
    return;
  for (uint32_t i = 0; i < p->o.workers; i++)
    if (!p->slots[i].cur)
      take_spare(p, i);
}

/* Fills the empty slots: a spare moves in, or the fork server is asked for
 * a new process. Runs after dispatch() in the loop pass, so a task that
 * waits for a worker (the one a dead worker held, say) goes to the spare
 * first, and the fork that replaces the spare does not compete with that
 * hand-over for the CPU. */
static int64_t fill_slots(ferry_pool *p, int64_t now, int64_t next)
{
  /* Just after a spare moved into a worker's slot, the fork that refills
   * the spare's slot would compete for the CPUs with the task handed to it
   * and with the caller waiting for its result: it waits SPARE_HOLD_NS
   * [pool-respawn]. */
  if (p->hold_until && now >= p->hold_until)
    p->hold_until = 0;
  if (spawn_allowed(p))
    for (uint32_t i = 0; i < p->o.workers + p->o.spares; i++) {
      struct slot *s = &p->slots[i];
      if (s->cur)
        continue;
      if (i < p->o.workers && take_spare(p, i))
        continue;
      if (i >= p->o.workers && p->hold_until) {
        if (p->hold_until < next)
          next = p->hold_until;
        continue;
      }
      if (!s->waiting) {
        s->waiting = true;
        s->respawn_at = now;
      }
      if (now >= s->respawn_at)
        slot_spawn(p, i, NULL);
      else if (s->respawn_at < next)
        next = s->respawn_at;
    }
  return next;
}

static void sweep(ferry_pool *p)
{
  struct proc **pp = &p->procs;
  while (*pp) {
    struct proc *w = *pp;
    if (w->fin) {
      *pp = w->next;
      p->nprocs--;
      w->next = NULL;
      if (p->slots[w->slot].cur == w)
        p->slots[w->slot].cur = NULL;
      close_fd(&w->pidfd);
      close_fd(&w->out_fd);
      close_fd(&w->err_fd);
      close_fd(&w->in_fd);
      close_pipe(w);
      buf_free(&w->ibuf);
      buf_free(&w->obuf);
      buf_free(&w->ebuf);
      free(w);
    } else
      pp = &w->next;
  }
}

/* ---- the loop ---------------------------------------------------------------------- */

enum { FD_WAKE, FD_FS_SOCK, FD_FS_PID, FD_PID, FD_OUT, FD_ERR, FD_IN };

struct pollmap {
  struct proc *w;
  int what;
};

static void *loop_main(void *arg)
{
  ferry_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  p->start_rc = fs_start(p);
  p->started = true;
  notify(p);
  if (p->start_rc) {
    pthread_mutex_unlock(&p->mu);
    return NULL;
  }
  size_t cap = 0;
  struct pollfd *pf = NULL;
  struct pollmap *pm = NULL;
  bool quit_sent = false;
  for (;;) {
    int64_t now = mono_ns();
    int64_t next = timers(p, now);
    next = upkeep(p, now, next);
    fill_from_spares(p); /* a spare takes an emptied slot before dispatch... */
    dispatch(p);
    /* ...and the forks for what is still empty come after it */
    next = fill_slots(p, now, next);
    sweep(p);
    stats_publish(p);
    if (p->closing) {
      if (p->nprocs == 0 && p->fs_up && !quit_sent) {
        struct fs_req rq = {.op = REQ_QUIT};
        fs_send(p, &rq, NULL, 0);
        quit_sent = true;
      }
      if (now >= p->close_deadline && !p->close_forced) {
        /* workers that outlived their grace: SIGKILL, and let the fork
         * server reap them */
        for (struct proc *w = p->procs; w; w = w->next)
          proc_signal(w, SIGKILL);
        p->close_forced = true;
        p->close_deadline = now + 2 * FERRY_SEC;
      } else if (now >= p->close_deadline) {
        /* last resort: the whole group, while the fork server's pid is
         * still ours (unreaped), so the group id cannot have been reused */
        if (p->fs_pidfd >= 0)
          kill(-p->fs_pid, SIGKILL);
        for (struct proc *w = p->procs; w; w = w->next)
          proc_signal(w, SIGKILL);
        fs_reap(p, true);
        break;
      }
      if (p->nprocs == 0 && p->fs_pidfd < 0)
        break;
    }
    if (p->help_watch) { /* callers are helping: publish what they did */
      if (p->help_moves != p->help_seen) {
        p->help_seen = p->help_moves;
        if (now + HELP_PUBLISH_NS < next)
          next = now + HELP_PUBLISH_NS;
      } else
        p->help_watch = false;
    }
    /* the poll set */
    size_t need = 3 + 4 * (size_t)p->nprocs;
    if (need > cap) {
      size_t nc = need * 2;
      struct pollfd *npf = realloc(pf, nc * sizeof *npf);
      if (npf)
        pf = npf;
      struct pollmap *npm = realloc(pm, nc * sizeof *npm);
      if (npm)
        pm = npm;
      if (npf && npm)
        cap = nc;
    }
    size_t n = 0;
#define ADD(fd_, ev_, w_, what_)                                                               \
  do {                                                                                         \
    if ((fd_) >= 0 && n < cap) {                                                               \
      pf[n].fd = (fd_);                                                                        \
      pf[n].events = (ev_);                                                                    \
      pf[n].revents = 0;                                                                       \
      pm[n].w = (w_);                                                                          \
      pm[n].what = (what_);                                                                    \
      n++;                                                                                     \
    }                                                                                          \
  } while (0)
    ADD(p->wake_fd, POLLIN, NULL, FD_WAKE);
    ADD(p->fs_sock, POLLIN, NULL, FD_FS_SOCK);
    ADD(p->fs_pidfd, POLLIN, NULL, FD_FS_PID);
    for (struct proc *w = p->procs; w; w = w->next) {
      if (!w->gone)
        ADD(w->pidfd, POLLIN, w, FD_PID);
      ADD(w->out_fd, POLLIN, w, FD_OUT);
      ADD(w->err_fd, POLLIN, w, FD_ERR);
      if (w->obuf.off < w->obuf.len)
        ADD(w->in_fd, POLLOUT, w, FD_IN);
    }
#undef ADD
    int64_t wait_ns = next - mono_ns();
    int ms = wait_ns <= 0 ? 0 : (int)((wait_ns + FERRY_MSEC - 1) / FERRY_MSEC);
    if (ms > LOOP_MAX_SLEEP_MS)
      ms = LOOP_MAX_SLEEP_MS;
    p->loop_sleeping = true;
    pthread_mutex_unlock(&p->mu);
    int r = poll(pf, (nfds_t)n, ms);
    pthread_mutex_lock(&p->mu);
    p->loop_sleeping = false;
    if (r <= 0)
      continue;
    for (size_t i = 0; i < n; i++) {
      if (!pf[i].revents)
        continue;
      struct proc *w = pm[i].w;
      switch (pm[i].what) {
      case FD_WAKE: {
        uint64_t v;
        while (read(p->wake_fd, &v, sizeof v) > 0)
          ;
        break;
      }
      case FD_FS_SOCK:
        fs_read(p);
        break;
      case FD_FS_PID:
        fs_read(p); /* its last words (exits) first */
        fs_reap(p, false);
        break;
      case FD_ERR:
        if (!w->fin)
          drain_err(p, w);
        break;
      case FD_OUT:
        if (!w->fin && !w->gone) {
          read_out(p, w);
          /* A function worker's doorbell reaches EOF as the kernel closes
           * its files on exit, before its pidfd says so: if /proc already
           * shows it in the exit path, it will never run its task again,
           * so its death is handled now [pool-eof]. */
          if (w->out_eof && !w->gone && p->o.kind == FERRY_POOL_FUNCTION &&
              proc_exit_state(w->pid) == 1)
            proc_died(p, w);
        }
        break;
      case FD_IN:
        if (!w->fin && !w->gone)
          write_in(p, w);
        break;
      case FD_PID:
        if (!w->fin)
          proc_died(p, w);
        break;
      }
    }
  }
  p->loop_done = true;
  notify(p);
  pthread_mutex_unlock(&p->mu);
  free(pf);
  free(pm);
  return NULL;
}

/* ---- the death watcher [pool-life] ------------------------------------------------ */

/*
 * A worker seen dead by its life lock is still tearing its memory down, on
 * the CPU it died on, for up to a millisecond; the spare given its task and
 * the caller waiting for the result may be queued behind it there
 * [pool-respawn]. So the watcher moves it to SCHED_IDLE on the watcher's
 * own CPU, which the watcher is about to leave: the teardown then takes only
 * time nobody else wants. The pid is still the worker's while its pidfd is
 * not readable (it has not exited, so it cannot have been reaped and the pid
 * reused). Both calls may fail (another user, a cpuset): nothing depends on
 * them.
 */
static void demote_dying(const struct proc *w)
{
  struct pollfd pf = {.fd = w->pidfd, .events = POLLIN};
  if (poll(&pf, 1, 0) != 0)
    return;
  struct sched_param sp = {.sched_priority = 0};
  (void)sched_setscheduler(w->pid, SCHED_IDLE, &sp);
  int cpu = sched_getcpu();
  if (cpu >= 0 && cpu < CPU_SETSIZE) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(w->pid, sizeof set, &set);
  }
}

/* w's life lock says it died: the kernel marked it as w's thread that held
 * it exited or exec'd, or w wrote garbage on it. w goes either way: killed
 * (nothing of it may outlive its task's retry: other threads of it could
 * still run), and handled as dead at once [pool-life]. */
static void life_ended(ferry_pool *p, struct proc *w)
{
  sys_pidfd_signal(w->pidfd, SIGKILL);
  demote_dying(w);
  proc_died(p, w);
}

/* sched_attr, as sched_setattr(2) reads it (its first version), for the
 * fair class's slice: glibc 2.36 declares neither. */
struct slice_attr {
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};

/* Asks the scheduler for a short slice for the calling thread (Linux 6.12
 * and later; ignored before): woken, it then runs at once even on a CPU
 * busy with a process that has just been woken itself, such as a worker
 * tearing itself down [pool-respawn]. Its share of the CPU is unchanged. */
static void short_slice(void)
{
  struct slice_attr a;
  if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0 || a.policy != SCHED_OTHER)
    return;
  a.size = sizeof a;
  a.flags = 0;
  a.runtime = WATCH_SLICE_NS;
  (void)syscall(SYS_sched_setattr, 0, &a, 0);
}

/* Builds the watcher's set: its own word, then the life lock of every
 * attached function worker, each with FUTEX_WAITERS set so that the kernel
 * wakes it at the holder's death. Handles deaths already marked. Returns
 * the number of entries, or 0 if deaths were handled (build again). */
static uint32_t watch_set(ferry_pool *p, struct futex_waitv *wv)
{
  uint32_t n = 0;
  bool died = false;
  wv[n++] = (struct futex_waitv){
      .val = atomic_load_explicit(&p->watch_seq, memory_order_acquire),
      .uaddr = (uintptr_t)&p->watch_seq,
      .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
  for (struct proc *w = p->procs; w; w = w->next) {
    if (w->life == LIFE_NONE || w->gone || w->pid <= 0 || w->pidfd < 0)
      continue;
    _Atomic uint32_t *word = &life_at(p, w->life)->word;
    uint32_t v = atomic_load_explicit(word, memory_order_relaxed);
    for (int tries = 0; tries < 2 && (v & FUTEX_TID_MASK) == (uint32_t)w->pid &&
                        !(v & (FUTEX_WAITERS | FUTEX_OWNER_DIED));
         tries++)
      if (atomic_compare_exchange_strong(word, &v, v | FUTEX_WAITERS))
        v |= FUTEX_WAITERS;
    if (v & FUTEX_OWNER_DIED) { /* the kernel cleared the TID as it did so */
      life_ended(p, w);
      died = true;
      continue;
    }
    if ((v & FUTEX_TID_MASK) != (uint32_t)w->pid)
      continue; /* not held yet (or not by w): the pidfd watches it */
    if (v & FUTEX_WAITERS)
      wv[n++] = (struct futex_waitv){.val = v, .uaddr = (uintptr_t)word, .flags = FUTEX_32};
  }
  return died ? 0 : n;
}

/*
 * The watcher thread [pool-life]. A worker's pidfd turns readable only once
 * the kernel has torn its memory down, which takes longer the more the
 * worker had mapped. The kernel releases a dying thread's robust mutexes
 * before that teardown: it marks each FUTEX_OWNER_DIED and wakes a waiter.
 * So the watcher sleeps in futex_waitv() on every worker's life lock and,
 * woken by a death, hands the task on while the kernel is still tearing
 * down. Everything it decides it decides under the pool mutex, with the
 * loop's own functions. Without futex_waitv (before Linux 5.16) it ends,
 * and the pidfds alone tell.
 */
static void *watch_main(void *arg)
{
  ferry_pool *p = arg;
  struct futex_waitv wv[FUTEX_WAITV_MAX];
  /* This thread's allocator is set up now, not at the first death it
   * hands on (glibc maps a thread's arena at its first malloc: a tenth of
   * a millisecond on a slow machine). volatile: kept by the compiler. */
  void *volatile warm = malloc(1);
  free(warm);
  short_slice();
  pthread_mutex_lock(&p->mu);
  while (!p->watch_quit) {
    uint32_t n = watch_set(p, wv);
    if (!n) {
      /* what the loop's pass does first, for the tasks of the dead: the
       * rest (forks, statistics, the sweep) is the loop's */
      fill_from_spares(p);
      dispatch(p);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1; /* bounded: the quit flag is looked at every second */
    pthread_mutex_unlock(&p->mu);
    long r = syscall(SYS_futex_waitv, wv, n, 0, &ts, CLOCK_MONOTONIC);
    int e = errno;
    pthread_mutex_lock(&p->mu);
    if (r < 0 && e != EAGAIN && e != ETIMEDOUT && e != EINTR)
      break; /* no futex_waitv here */
  }
  p->watch_up = false;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void watch_stop(ferry_pool *p)
{
  if (!p || !p->watch_thread)
    return;
  pthread_mutex_lock(&p->mu);
  p->watch_quit = true;
  watch_wake(p);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->watcher, NULL);
  p->watch_thread = false;
}

/* ============================================================================
 * 3. The public calls.
 * ========================================================================== */

const char *ferry_pool_outcome_name(uint32_t outcome)
{
  static const char *const names[] = {"done",     "failed",    "died",   "timed out",
                                      "protocol", "cancelled", "refused"};
  return outcome < sizeof names / sizeof names[0] ? names[outcome] : "unknown";
}

const char *ferry_pool_worker_state_name(uint32_t state)
{
  static const char *const names[] = {"empty", "starting", "idle", "busy", "stopping"};
  return state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

void ferry_pool_options_init(ferry_pool_options *o)
{
  memset(o, 0, sizeof *o);
  ferry_region_options_init(&o->region);
  o->kind = FERRY_POOL_FUNCTION;
  o->framing = FERRY_POOL_LINES;
  o->queue_size = FERRY_POOL_QUEUE_DEFAULT;
  o->max_msg = FERRY_POOL_MSG_DEFAULT;
  o->retries = FERRY_POOL_RETRIES_DEFAULT;
  o->grace_ns = FERRY_POOL_GRACE_DEFAULT_NS;
  o->max_tasks_jitter = FERRY_POOL_JITTER_AUTO;
  o->backoff_ns = FERRY_POOL_BACKOFF_DEFAULT_NS;
  o->backoff_max_ns = FERRY_POOL_BACKOFF_MAX_DEFAULT_NS;
  o->breaker_deaths = FERRY_POOL_BREAKER_DEFAULT;
  o->breaker_cooldown_ns = FERRY_POOL_COOLDOWN_DEFAULT_NS;
  o->spin_ns = 20 * INT64_C(1000);
}

/* Checks the options and fills the automatic ones into *c. */
static int check_options(const ferry_pool_options *o, ferry_pool_options *c)
{
  *c = *o;
  if (!FERRY__RESERVED_OK(c))
    return -EINVAL;
  if (c->kind > FERRY_POOL_EXEC_EACH || c->framing > FERRY_POOL_FRAMES ||
      (c->flags & ~(uint32_t)(FERRY_POOL_ORDERED | FERRY_POOL_KEEP_FDS)) || c->prefetch > 1)
    return -EINVAL;
  if (c->kind == FERRY_POOL_FUNCTION ? !c->fn : (!c->argv || !c->argv[0] || !c->argv[0][0]))
    return -EINVAL;
  if (c->kind == FERRY_POOL_EXEC_EACH && (c->prefetch || c->spares))
    return -EINVAL; /* a process per task has nothing to queue behind, nor spares */
  if (c->spares > FERRY_POOL_MAX_SPARES)
    return -EINVAL;
  if (c->workers == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = n < 1 ? 1 : n > FERRY_POOL_DEFAULT_MAX_WORKERS ? FERRY_POOL_DEFAULT_MAX_WORKERS
                                                              : (uint32_t)n;
  }
  if (c->workers > FERRY_POOL_MAX_WORKERS)
    return -EINVAL;
  if (c->queue_size < 1 || c->queue_size > FERRY_POOL_MAX_QUEUE)
    return -EINVAL;
  if (c->max_msg < 1 || c->max_msg > FERRY_POOL_MAX_MSG)
    return -EINVAL;
  uint32_t need = c->workers * (1 + c->prefetch);
  if (c->window == 0)
    c->window = need > FERRY_POOL_WINDOW_DEFAULT ? need : FERRY_POOL_WINDOW_DEFAULT;
  if (c->window < need || c->window > FERRY_POOL_MAX_QUEUE)
    return -EINVAL;
  if (c->task_timeout_ns < 0 || c->grace_ns < 0 || c->backoff_ns < 0 ||
      c->backoff_max_ns < c->backoff_ns || c->breaker_cooldown_ns < 0 || c->spin_ns < 0 ||
      c->spin_ns > FERRY_SEC || c->breaker_deaths < 1)
    return -EINVAL;
  if (c->task_timeout_ns == FERRY_FOREVER)
    c->task_timeout_ns = 0;
  if (c->grace_ns > 3600 * FERRY_SEC || c->backoff_max_ns > 3600 * FERRY_SEC ||
      c->breaker_cooldown_ns > 24 * 3600 * FERRY_SEC || c->task_timeout_ns > 365 * 24 * 3600 * FERRY_SEC)
    return -EINVAL;
  if (c->max_tasks_jitter == FERRY_POOL_JITTER_AUTO)
    c->max_tasks_jitter = c->max_tasks / 10;
  if (!c->max_tasks)
    c->max_tasks_jitter = 0;
  if (!c->output_tag)
    c->output_tag = "worker";
  return 0;
}

static char **copy_strv(const char *const *v)
{
  size_t n = 0;
  while (v[n])
    n++;
  char **c = calloc(n + 1, sizeof *c);
  if (!c)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!(c[i] = strdup(v[i]))) {
      while (i--)
        free(c[i]);
      free(c);
      return NULL;
    }
  return c;
}

static void free_strv(char **v)
{
  if (!v)
    return;
  for (size_t i = 0; v[i]; i++)
    free(v[i]);
  free(v);
}

static void free_task(struct task *t)
{
  if (!t)
    return;
  free(t->res);
  free(t->msg);
  free(t);
}

static void free_queue(struct tq *q)
{
  struct task *t;
  while ((t = tq_pop(q)))
    free_task(t);
}

static void pool_free(ferry_pool *p)
{
  if (!p)
    return;
  while (p->procs) {
    struct proc *w = p->procs;
    for (uint32_t i = 0; i < w->nq; i++)
      if (!w->q[i]->admitted || !(p->o.flags & FERRY_POOL_ORDERED))
        free_task(w->q[i]);
    if (w->failing && (!w->failing->admitted || !(p->o.flags & FERRY_POOL_ORDERED)))
      free_task(w->failing);
    w->nq = 0;
    w->fin = true;
    sweep(p);
  }
  free_queue(&p->newq);
  free_queue(&p->refq);
  free_queue(&p->doneq);
  /* retry-queue tasks are admitted: in the ring when ordered */
  if (p->o.flags & FERRY_POOL_ORDERED) {
    p->retryq.head = p->retryq.tail = NULL;
    if (p->ring)
      for (uint32_t i = 0; i < p->o.window; i++)
        free_task(p->ring[i]);
  } else
    free_queue(&p->retryq);
  free(p->ring);
  free_task(p->last);
  free(p->rbuf);
  free(p->slots);
  free_strv(p->argv);
  free_strv(p->envp);
  free(p->cmd0);
  close_fd(&p->wake_fd);
  close_fd(&p->fs_sock);
  close_fd(&p->fs_pidfd);
  if (p->reg) {
    ferry_unlink(p->name);
    ferry_region_close(p->reg);
  }
  if (p->shm)
    munmap(p->shm, sizeof *p->shm);
  if (p->life) {
    reg_life_del(p->life);
    munmap(p->life, LIFE_MAX * p->life_pg);
  }
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static int stats_region_create(ferry_pool *p)
{
  size_t size = FERRY__POOL_HDR_SIZE + (size_t)FERRY__POOL_ROW_SIZE * p->o.workers;
  ferry_region_options ro = p->o.region;
  ro.role = FERRY_ROLE_WRITER;
  ferry_region *r;
  int rc = ferry__region_create(p->name, FERRY_KIND_POOL, size, &ro, 0, &r);
  if (rc)
    return rc;
  struct ferry__pool_hdr *h = ferry__region_object(r);
  ferry__pool_hdr_init(h, p->o.workers, p->o.kind, (int32_t)p->owner_pid);
  ferry__region_publish(r);
  p->reg = r;
  p->hdr = h;
  return 0;
}

static _Atomic uint32_t pool_counter;

int ferry_pool_create(const char *name, const ferry_pool_options *o, ferry_pool **out)
{
  assert(out);
  ferry_pool_options defaults;
  if (!o) {
    ferry_pool_options_init(&defaults);
    o = &defaults;
  }
  ferry_pool_options c;
  int rc = check_options(o, &c);
  if (rc)
    return rc;
  char auto_name[64];
  if (!name) {
    snprintf(auto_name, sizeof auto_name, "pool-%d-%u", (int)getpid(),
             atomic_fetch_add_explicit(&pool_counter, 1, memory_order_relaxed));
    name = auto_name;
  }
  if ((rc = ferry_name_valid(name)))
    return rc;
  if (strlen(name) > FERRY_POOL_NAME_MAX)
    return -EINVAL;
  ferry_pool *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->o = c;
  /* The caller's pointers: the pool keeps copies of its own (below), and
   * the failure path frees what is in p->o. */
  p->o.argv = p->o.envp = NULL;
  p->o.output_tag = NULL;
  snprintf(p->name, sizeof p->name, "%s", name);
  p->owner_pid = getpid();
  pthread_once(&fork_once, fork_watch);
  p->fork_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
  p->wake_fd = p->fs_pidfd = p->fs_sock = -1;
  p->rng = (uint64_t)mono_ns() ^ ((uint64_t)p->owner_pid << 32) ^ (uintptr_t)p;
  if (!p->rng)
    p->rng = 1;
  p->drain_deadline = INT64_MAX;
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  rc = -ENOMEM;
  if (c.kind != FERRY_POOL_FUNCTION) {
    if (!(p->argv = copy_strv(c.argv)) || !(p->cmd0 = strdup(c.argv[0])))
      goto fail;
    if (c.envp && !(p->envp = copy_strv(c.envp)))
      goto fail;
  }
  if (!(p->slots = calloc((size_t)c.workers + c.spares, sizeof *p->slots)))
    goto fail;
  if ((c.flags & FERRY_POOL_ORDERED) && !(p->ring = calloc(c.window, sizeof *p->ring)))
    goto fail;
  if (c.kind == FERRY_POOL_FUNCTION && !(p->rbuf = malloc(MSG_HDR + (size_t)c.max_msg)))
    goto fail;
  if (!(p->o.output_tag = strdup(c.output_tag)))
    goto fail;
  if ((p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
    rc = -errno;
    goto fail;
  }
  reg_add(p->wake_fd);
  if ((rc = stats_region_create(p)))
    goto fail;
  p->shm = mmap(NULL, sizeof *p->shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p->shm == MAP_FAILED) {
    p->shm = NULL;
    rc = -errno;
    goto fail;
  }
  atomic_store_explicit(&p->shm->bell, 1, memory_order_relaxed); /* before the fork server */
  if (LIFE_LOCKS && p->o.kind == FERRY_POOL_FUNCTION) {
    p->life_pg = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, LIFE_MAX * p->life_pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (m != MAP_FAILED && !reg_life_add(m, LIFE_MAX * p->life_pg)) {
      munmap(m, LIFE_MAX * p->life_pg);
      m = MAP_FAILED;
    }
    p->life = m == MAP_FAILED ? NULL : m; /* without them, the pidfds tell */
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the threads start with all blocked */
  if (p->life) {
    /* before the loop spawns anyone, so every worker gets a life lock; a
     * pool without the watcher still works, from the pidfds alone */
    p->watch_up = true;
    p->watch_thread = pthread_create(&p->watcher, NULL, watch_main, p) == 0;
    if (!p->watch_thread)
      p->watch_up = false;
  }
  rc = -pthread_create(&p->thread, NULL, loop_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    rc = -EAGAIN;
    goto fail;
  }
  p->thread_up = true;
  pthread_mutex_lock(&p->mu);
  while (!p->started)
    pthread_cond_wait(&p->cv, &p->mu);
  rc = p->start_rc;
  pthread_mutex_unlock(&p->mu);
  if (rc) {
    pthread_join(p->thread, NULL);
    goto fail;
  }
  *out = p;
  return 0;
fail:
  watch_stop(p);
  free((char *)p->o.output_tag);
  pool_free(p);
  return rc;
}

/* A pool inherited through fork: no dispatcher thread runs here, and its
 * descriptors are closed [pool-fork]. */
static bool foreign(const ferry_pool *p)
{
  return atomic_load_explicit(&fork_gen, memory_order_relaxed) != p->fork_gen;
}

/* Wakes the dispatcher if it sleeps in poll. */
static void wake_loop(ferry_pool *p)
{
  if (p->loop_sleeping) {
    p->loop_sleeping = false;
    uint64_t one = 1;
    ssize_t r = write(p->wake_fd, &one, sizeof one);
    (void)r;
  }
}

static int abs_deadline(int64_t timeout_ns, int64_t *deadline)
{
  if (timeout_ns < 0)
    return -EINVAL;
  if (timeout_ns == FERRY_FOREVER)
    *deadline = INT64_MAX;
  else {
    int64_t now = mono_ns();
    *deadline = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
  }
  return 0;
}

/* Waits on the pool's condition until deadline; false when it passed. */
static bool cv_wait(ferry_pool *p, int64_t deadline)
{
  if (deadline == INT64_MAX) {
    pthread_cond_wait(&p->cv, &p->mu);
    return true;
  }
  if (mono_ns() >= deadline)
    return false;
  struct timespec ts = {.tv_sec = deadline / FERRY_SEC, .tv_nsec = deadline % FERRY_SEC};
  pthread_cond_timedwait(&p->cv, &p->mu, &ts);
  return true;
}

/* ---- the caller's share of the loop [pool-help] ------------------------------------ */

/* May a caller collect function workers' results and dispatch, instead of
 * waking the dispatcher for it? Only while the pool runs or drains: every
 * other state is the dispatcher's business. */
static bool can_help(const ferry_pool *p)
{
  return p->o.kind == FERRY_POOL_FUNCTION && !p->closing &&
         (p->state == FERRY_POOL_RUNNING || p->state == FERRY_POOL_DRAINING);
}

/*
 * What the dispatcher would do after a doorbell, done by the caller that
 * holds the mutex anyway: takes the results waiting in the pipes of busy
 * function workers, then gives pending tasks to idle workers. Whatever
 * else needs the loop (a worker to retire, a task timer to arm, a drain
 * that may have ended) wakes it. Returns true if it moved anything.
 */
static bool pump(ferry_pool *p)
{
  if (!can_help(p))
    return false;
  uint64_t before = p->st.done + p->st.failed + p->gave;
  bool loop = false;
  for (uint32_t i = 0; i < p->o.workers; i++) {
    struct proc *w = p->slots[i].cur;
    if (!w || w->gone || w->state != P_BUSY || !w->pipe)
      continue;
    read_pipe_results(p, w);
  }
  dispatch(p);
  for (uint32_t i = 0; i < p->o.workers; i++) {
    struct proc *w = p->slots[i].cur;
    if (w && (w->retire_after || w->why != K_NONE || (w->limit && w->dispatched >= w->limit)))
      loop = true; /* to retire or kill: the loop's business */
  }
  bool moved = p->st.done + p->st.failed + p->gave != before;
  loop = loop && moved;
  if (moved && p->input_closed) {
    check_drained(p); /* as upkeep() would, before the caller looks */
    loop = true;      /* the loop retires the workers of a stopped pool */
  }
  if (moved && p->o.task_timeout_ns)
    loop = true; /* a task timer to arm */
  if (moved) {
    /* the loop publishes the statistics; it looks again within
     * HELP_PUBLISH_NS while callers keep helping */
    p->help_moves++;
    if (!p->help_watch) {
      p->help_watch = true;
      loop = true;
    }
  }
  if (loop)
    wake_loop(p);
  return moved;
}

/*
 * A caller inside a public call helps: while any does, the workers leave
 * the dispatcher's doorbell alone (shm->bell is 0), because the caller
 * takes their results itself (pump). The last one to leave asks for the
 * doorbell again and then looks at the pipes once more, so no result is
 * left unseen: either its worker saw bell set and rang, or this look sees
 * it (seq_cst on both sides) [pool-help]. help_enter() returns whether it
 * entered; pass that to help_leave().
 */
static void help_join(ferry_pool *p)
{
  if (p->helpers++ == 0)
    atomic_store_explicit(&p->shm->bell, 0, memory_order_relaxed);
}

static bool help_enter(ferry_pool *p)
{
  if (!can_help(p))
    return false;
  help_join(p);
  return true;
}

static bool help_leave(ferry_pool *p, bool entered)
{
  if (!entered || --p->helpers)
    return false;
  atomic_store_explicit(&p->shm->bell, 1, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst); /* the store before the look */
  return pump(p);
}

/*
 * Waits (under the mutex) for the pool to change, until deadline; false
 * when it passed. `helping`: the caller entered with help_enter(). A
 * helper first does the loop's work itself (pump); if nothing moved and a
 * worker is busy, it sleeps on shm->results, which every worker bumps after
 * each result (and wakes it, seeing shm->sleepers) and notify() bumps for
 * everything else. Otherwise it waits on the condition variable, and for
 * that while it leaves the helpers, so the doorbell rings for the loop.
 */
static bool help_wait(ferry_pool *p, int64_t deadline, bool helping)
{
  if (!helping)
    return cv_wait(p, deadline);
  struct pool_shm *sh = p->shm;
  /* read before the look at the pipes: a result committed after it
   * changes the word, so the futex wait below returns at once */
  uint32_t seen = atomic_load_explicit(&sh->results, memory_order_seq_cst);
  if (pump(p))
    return true;
  bool busy = false;
  for (uint32_t i = 0; i < p->o.workers && !busy && can_help(p); i++)
    busy = p->slots[i].cur && p->slots[i].cur->state == P_BUSY;
  if (!busy) {
    /* nothing will come from a worker's pipe (or the pool is past
     * helping): the loop's turn, and the doorbell's */
    bool moved = help_leave(p, true);
    bool in_time = moved || cv_wait(p, deadline);
    help_join(p);
    return in_time;
  }
  int64_t now = mono_ns();
  if (now >= deadline)
    return false;
  int64_t slice = deadline - now < HELP_SLICE_NS ? deadline - now : HELP_SLICE_NS;
  struct timespec ts = {.tv_sec = slice / FERRY_SEC, .tv_nsec = slice % FERRY_SEC};
  p->sleepers++; /* notify() bumps results from now on */
  pthread_mutex_unlock(&p->mu);
  /* A busy worker answers within microseconds when its task is short:
   * look for a while, yielding the CPU to whoever else wants it (a worker,
   * on a machine with fewer CPUs than processes), before sleeping. */
  int64_t spin_until = now + p->o.spin_ns;
  while (atomic_load_explicit(&sh->results, memory_order_acquire) == seen &&
         mono_ns() < spin_until)
    sched_yield();
  if (atomic_load_explicit(&sh->results, memory_order_acquire) == seen) {
    /* seq_cst: before the futex's compare; pairs with the worker's
     * increment of results and load of sleepers */
    atomic_fetch_add_explicit(&sh->sleepers, 1, memory_order_seq_cst);
    sys_futex(&sh->results, FUTEX_WAIT, seen, &ts);
    atomic_fetch_sub_explicit(&sh->sleepers, 1, memory_order_relaxed);
  }
  pthread_mutex_lock(&p->mu);
  p->sleepers--;
  pump(p);
  return true;
}

int ferry_pool_submit(ferry_pool *p, const void *task, size_t len, void *tag, int64_t timeout_ns,
                      uint64_t *id)
{
  assert(p && (task || !len));
  if (foreign(p))
    return FERRY_EFORKED;
  if (len > p->o.max_msg)
    return -EMSGSIZE;
  if (p->o.kind == FERRY_POOL_EXEC && p->o.framing == FERRY_POOL_LINES && len &&
      memchr(task, '\n', len))
    return -EINVAL;
  if (p->o.kind == FERRY_POOL_EXEC_EACH && ((len && memchr(task, '\0', len)) || len > EACH_MAX_ARG))
    return len > EACH_MAX_ARG ? -EMSGSIZE : -EINVAL;
  int64_t deadline;
  int rc = abs_deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  struct task *t = malloc(sizeof *t + len);
  if (!t)
    return -ENOMEM;
  memset(t, 0, sizeof *t);
  t->tag = tag;
  t->len = (uint32_t)len;
  t->exit_code = -1;
  if (len)
    memcpy(t->data, task, len);
  pthread_mutex_lock(&p->mu);
  bool helping = help_enter(p);
  for (;;) {
    if (p->input_closed) {
      rc = -EPIPE;
      break;
    }
    if (p->newq.n + p->refq.n < p->o.queue_size)
      break;
    if (timeout_ns == 0) {
      rc = -EAGAIN;
      break;
    }
    if (!help_wait(p, deadline, helping)) {
      rc = -ETIMEDOUT;
      break;
    }
  }
  if (rc) {
    help_leave(p, helping);
    pthread_mutex_unlock(&p->mu);
    free(t);
    return rc;
  }
  t->id = p->next_id++;
  t->state = T_NEW;
  tq_push(&p->newq, t);
  p->st.submitted++;
  if (id)
    *id = t->id;
  if (helping)
    pump(p); /* gives it to an idle worker itself [pool-help] */
  else if (!p->saturated)
    wake_loop(p);
  help_leave(p, helping);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* The next result that may be handed out, taken off its queue; or NULL. */
static struct task *take_result(ferry_pool *p, bool peek)
{
  struct task *t = NULL;
  if (p->o.flags & FERRY_POOL_ORDERED) {
    uint64_t want = p->next_deliver;
    struct task *r = p->ring[want % p->o.window];
    if (r && r->id == want && r->state == T_FINISHED) {
      t = r;
      if (!peek)
        p->ring[want % p->o.window] = NULL;
    } else if (p->refq.head && p->refq.head->id == want) {
      t = peek ? p->refq.head : tq_pop(&p->refq);
    }
    if (t && !peek)
      p->next_deliver++;
  } else {
    t = peek ? p->doneq.head : tq_pop(&p->doneq);
  }
  if (t && !peek) {
    if (t->admitted)
      p->admitted--;
    p->delivered++;
  }
  return t;
}

static bool ended(const ferry_pool *p)
{
  return p->input_closed && p->delivered == p->next_id;
}

int ferry_pool_next(ferry_pool *p, ferry_pool_result *r, int64_t timeout_ns)
{
  assert(p && r);
  if (foreign(p))
    return FERRY_EFORKED;
  int64_t deadline;
  int rc = abs_deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  pthread_mutex_lock(&p->mu);
  bool helping = help_enter(p);
  free_task(p->last);
  p->last = NULL;
  struct task *t;
  bool was_blocked = false, pumped = false;
  for (;;) {
    was_blocked = p->newq.n && !window_allows(p);
    if ((t = take_result(p, false)))
      break;
    if (helping && !pumped) {
      pumped = true; /* results waiting in the pipes [pool-help] */
      if (pump(p))
        continue;
    }
    if (ended(p) || p->loop_done) {
      rc = -EPIPE;
      break;
    }
    if (timeout_ns == 0) {
      rc = -EAGAIN;
      break;
    }
    if (!help_wait(p, deadline, helping)) {
      rc = -ETIMEDOUT;
      break;
    }
  }
  if (t) {
    memset(r, 0, sizeof *r);
    r->id = t->id;
    r->tag = t->tag;
    r->outcome = t->outcome;
    r->error = t->error;
    r->data = t->res;
    r->len = t->res_len;
    r->attempts = t->attempts;
    r->pid = t->attempts ? t->pid : 0;
    r->exit_code = t->exit_code;
    r->signal = t->sig;
    r->start_ns = t->attempts ? t->start_wall : 0;
    r->elapsed_ns = t->elapsed;
    if (t->msg)
      snprintf(r->message, sizeof r->message, "%s", t->msg);
    p->last = t;
    if (was_blocked && window_allows(p) && !pump(p))
      wake_loop(p); /* the window has room again [pool-wake] */
    notify(p);
  }
  help_leave(p, helping);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static unsigned readiness(ferry_pool *p)
{
  unsigned m = 0;
  if (!p->input_closed && p->newq.n + p->refq.n < p->o.queue_size)
    m |= FERRY_POOL_CAN_SUBMIT;
  if (take_result(p, true))
    m |= FERRY_POOL_HAS_RESULT;
  if (ended(p) || p->loop_done)
    m |= FERRY_POOL_ENDED;
  return m;
}

int ferry_pool_wait(ferry_pool *p, unsigned events, int64_t timeout_ns)
{
  assert(p);
  if (foreign(p))
    return FERRY_EFORKED;
  int64_t deadline;
  int rc = abs_deadline(timeout_ns, &deadline);
  if (rc)
    return rc;
  events |= FERRY_POOL_ENDED;
  pthread_mutex_lock(&p->mu);
  bool helping = help_enter(p);
  pump(p);
  unsigned m;
  for (;;) {
    m = readiness(p);
    if ((m & events) || timeout_ns == 0 || !help_wait(p, deadline, helping))
      break;
  }
  help_leave(p, helping);
  pthread_mutex_unlock(&p->mu);
  return (int)(m & events);
}

int ferry_pool_stop(ferry_pool *p, unsigned mode, int64_t timeout_ns)
{
  assert(p);
  if (foreign(p))
    return FERRY_EFORKED;
  if (mode > FERRY_POOL_CANCEL || timeout_ns < 0)
    return -EINVAL;
  pthread_mutex_lock(&p->mu);
  if (mode == FERRY_POOL_CANCEL) {
    p->input_closed = true;
    p->drain_deadline = 0; /* the loop cancels at once */
    if (p->state == FERRY_POOL_RUNNING)
      p->state = FERRY_POOL_DRAINING;
  } else if (!p->input_closed) {
    p->input_closed = true;
    int64_t now = mono_ns();
    p->drain_deadline = timeout_ns == FERRY_FOREVER || timeout_ns > INT64_MAX - now
                            ? INT64_MAX
                            : now + timeout_ns;
    if (p->state == FERRY_POOL_RUNNING)
      p->state = FERRY_POOL_DRAINING;
  } else if (p->state == FERRY_POOL_DRAINING && timeout_ns != FERRY_FOREVER) {
    int64_t d = mono_ns() + timeout_ns;
    if (d < p->drain_deadline)
      p->drain_deadline = d;
  }
  notify(p);
  wake_loop(p);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* ---- signals (opt-in) ------------------------------------------------------------------ */

static ferry_pool *_Atomic sig_pool;
static struct sigaction sig_old_int, sig_old_term;

static void on_stop_signal(int sig)
{
  (void)sig;
  int e = errno;
  ferry_pool *p = atomic_load(&sig_pool);
  if (p) {
    atomic_fetch_add(&p->sig_count, 1);
    uint64_t one = 1;
    ssize_t r = write(p->wake_fd, &one, sizeof one);
    (void)r;
  }
  errno = e;
}

int ferry_pool_catch_signals(ferry_pool *p, int64_t drain_timeout_ns)
{
  assert(p);
  if (foreign(p))
    return FERRY_EFORKED;
  if (drain_timeout_ns < 0)
    return -EINVAL;
  ferry_pool *none = NULL;
  pthread_mutex_lock(&p->mu);
  p->sig_drain_ns = drain_timeout_ns;
  pthread_mutex_unlock(&p->mu);
  if (!atomic_compare_exchange_strong(&sig_pool, &none, p))
    return none == p ? 0 : -EBUSY;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &sig_old_int);
  sigaction(SIGTERM, &sa, &sig_old_term);
  p->sig_installed = true;
  return 0;
}

void ferry_pool_close(ferry_pool *p)
{
  if (!p)
    return;
  if (foreign(p)) {
    /* The parent's pool: its descriptors are closed (and their numbers may
     * be reused here), its locks and lists may be copies taken in the middle
     * of a change, its workers and region are the parent's. So only the
     * handle goes; the copies of its buffers stay until this process ends
     * (or execs). */
    ferry_region_close(p->reg); /* an inherited handle: unmaps only */
    free(p);
    return;
  }
  watch_stop(p); /* from here on, deaths are seen through the pidfds */
  if (p->sig_installed) {
    sigaction(SIGINT, &sig_old_int, NULL);
    sigaction(SIGTERM, &sig_old_term, NULL);
    atomic_store(&sig_pool, NULL);
  }
  if (p->thread_up) {
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    p->input_closed = true;
    p->close_deadline = mono_ns() + p->o.grace_ns + FERRY_SEC;
    p->loop_sleeping = true; /* force the wake-up write */
    wake_loop(p);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
  }
  free((char *)p->o.output_tag);
  pool_free(p);
}

/* ---- statistics ---------------------------------------------------------------------- */

int ferry_pool_stats_get(ferry_pool *p, ferry_pool_stats *out)
{
  assert(p && out);
  if (foreign(p))
    return FERRY_EFORKED;
  pthread_mutex_lock(&p->mu);
  stats_refresh(p);
  *out = p->st;
  out->workers = p->o.workers;
  out->kind = p->o.kind;
  out->owner_pid = p->owner_pid;
  pthread_mutex_unlock(&p->mu);
  memset(out->reserved, 0, sizeof out->reserved);
  return 0;
}

const char *ferry_pool_name(const ferry_pool *p)
{
  return p->name;
}

pid_t ferry_pool_pgid(ferry_pool *p)
{
  if (foreign(p))
    return 0;
  pthread_mutex_lock(&p->mu);
  pid_t g = p->fs_up ? p->fs_pid : 0;
  pthread_mutex_unlock(&p->mu);
  return g;
}

ssize_t ferry_pool_stat(const char *name, ferry_pool_stats *out, ferry_pool_worker_info *w,
                        size_t cap)
{
  assert(out && (w || !cap));
  ferry_region *r;
  int rc = ferry__region_observe(name, FERRY_KIND_POOL, &r);
  if (rc)
    return rc;
  rc = ferry__object_check_prefix(r, FERRY__POOL_MAGIC, FERRY__POOL_VERSION_MAJOR,
                                  FERRY__POOL_HDR_SIZE);
  const struct ferry__pool_hdr *h = ferry__region_object(r);
  size_t size = ferry_region_data_size(r);
  uint32_t slots = 0, kind = 0;
  if (!rc) {
    /* read once: the owner (or a scribbler) may change them meanwhile */
    slots = h->slots;
    kind = h->kind;
    if (slots < 1 || slots > FERRY_POOL_MAX_WORKERS || h->row_size != FERRY__POOL_ROW_SIZE ||
        h->rows_offset != FERRY__POOL_HDR_SIZE || kind > FERRY_POOL_EXEC_EACH ||
        FERRY__POOL_HDR_SIZE + (size_t)slots * FERRY__POOL_ROW_SIZE > size)
      rc = FERRY_ECORRUPT;
  }
  size_t nrows = cap < slots ? cap : slots;
  struct ferry__pool_snap sn;
  memset(&sn, 0, sizeof sn);
  struct ferry__pool_row *rows = NULL;
  if (!rc && nrows && !(rows = malloc(nrows * sizeof *rows)))
    rc = -ENOMEM;
  if (!rc) {
    rc = -EAGAIN;
    const struct ferry__pool_row *src =
        (const struct ferry__pool_row *)((const uint8_t *)h + FERRY__POOL_HDR_SIZE);
    for (int tries = 0; tries < 10000; tries++) {
      /* acquire: pairs with the release store of the even seq in
       * stats_publish() [pool-seqlock] */
      uint32_t s1 = atomic_load_explicit(&((struct ferry__pool_hdr *)h)->seq,
                                         memory_order_acquire);
      if (s1 & 1) {
        sched_yield();
        continue;
      }
      memcpy(&sn, (const void *)&h->snap, sizeof sn);
      if (nrows)
        memcpy(rows, src, nrows * sizeof *rows);
      /* acquire fence: the copies are done before the re-read; pairs with
       * the release fence in stats_publish() */
      atomic_thread_fence(memory_order_acquire);
      uint32_t s2 = atomic_load_explicit(&((struct ferry__pool_hdr *)h)->seq,
                                         memory_order_relaxed);
      if (s1 == s2) {
        rc = 0;
        break;
      }
    }
  }
  /* read once; the header is known to be whole only without an error */
  int32_t owner = rc ? 0 : h->owner_pid;
  if (!rc && (sn.state > FERRY_POOL_STOPPED || sn.breaker > FERRY_POOL_BREAKER_HALF_OPEN ||
              owner < 0 || sn.pgid < 0))
    rc = FERRY_ECORRUPT;
  for (size_t i = 0; !rc && i < nrows; i++)
    if (rows[i].state > FERRY_POOL_W_STOPPING || rows[i].pid < 0)
      rc = FERRY_ECORRUPT;
  if (!rc) {
    memset(out, 0, sizeof *out);
    out->submitted = sn.submitted;
    out->done = sn.done;
    out->failed = sn.failed;
    out->retried = sn.retried;
    out->respawned = sn.respawned;
    out->deaths = sn.deaths;
    out->timeouts = sn.timeouts;
    out->running = sn.running;
    out->queued = sn.queued;
    out->unread = sn.unread;
    out->workers = slots;
    out->live = sn.live;
    out->idle = sn.idle;
    out->kind = kind;
    out->state = sn.state;
    out->breaker = sn.breaker;
    out->signals = sn.signals;
    out->owner_pid = owner;
    out->pgid = sn.pgid;
    for (size_t i = 0; i < nrows; i++) {
      memset(&w[i], 0, sizeof w[i]);
      w[i].slot = (uint32_t)i;
      w[i].state = rows[i].state;
      w[i].pid = rows[i].pid;
      w[i].generation = rows[i].generation;
      w[i].tasks = rows[i].tasks;
      w[i].task_id = rows[i].task_id;
      w[i].busy_ns = rows[i].busy_ns;
    }
  }
  free(rows);
  ferry_region_close(r);
  return rc ? rc : (ssize_t)slots;
}
