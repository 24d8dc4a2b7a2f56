/* SPDX-License-Identifier: MIT */
/*
 * ferry/pool.h: a process pool and dispatcher. N worker processes take
 * byte-message tasks, one at a time, and give back byte-message results.
 * The pool hands a task only to an idle worker, buffers the rest (bounded,
 * with backpressure), returns results in submit order or as they finish,
 * retries a task whose worker died, and stops by draining or cancelling.
 * A statistics region of its own (FERRY_KIND_POOL, under the pool's name)
 * lets other processes watch it (ferry_pool_stat, `ferry info`).
 *
 * Three kinds of worker:
 *
 *   FERRY_POOL_FUNCTION   fn(arg, task, len, out, cap) runs in a worker
 *                         process forked from a small fork server that the
 *                         pool starts at create. Workers are copies of the
 *                         process *as it was at ferry_pool_create*: fn, arg
 *                         and everything they reach must exist by then, and
 *                         a respawn costs the same whatever the owner grew
 *                         to since. Tasks and results travel through a ferry
 *                         pipe (shared memory) per worker, which the worker
 *                         opens by name.
 *   FERRY_POOL_EXEC       a persistent command (argv) that reads tasks on
 *                         its stdin and writes one result per task on its
 *                         stdout, as lines (FERRY_POOL_LINES: a task or
 *                         result is one line without its '\n') or frames
 *                         (FERRY_POOL_FRAMES: a u32 little-endian length,
 *                         then that many bytes; a result length with bit 31
 *                         set marks the task failed, the bytes being the
 *                         message). It must flush its stdout after each
 *                         result (a block-buffered result never arrives:
 *                         the task times out, if it has a timeout).
 *   FERRY_POOL_EXEC_EACH  the command runs once per task, with the task as
 *                         one more argument; its whole stdout is the result
 *                         and its exit status the verdict (GNU parallel's
 *                         model, for programs that speak no protocol).
 *
 * Every worker's stderr (and a function worker's stdout) is drained all the
 * time and handed, line by line, to on_output with the worker's slot and
 * pid; by default it is written to the owner's stderr as
 * "[<tag> <slot>:<pid>] <line>".
 *
 * Processes. The fork server is a child of the pool's dispatcher thread and
 * leads a new process group; every worker is its child and in that group.
 * The fork server and every worker set PR_SET_PDEATHSIG (SIGKILL) and check
 * getppid() after setting it, so when the owner dies, even by SIGKILL,
 * nothing of the pool outlives it. The fork server reaps the workers and
 * the dispatcher reaps the fork server: there are no zombies. The owner
 * must not reap children it did not start (waitpid(-1, ...)), nor set
 * SIGCHLD to SIG_IGN. Because the process group is not the owner's, a
 * terminal's Ctrl-C reaches the owner only: see ferry_pool_catch_signals().
 *
 * Dispatch. A task goes to an idle worker only (a worker running a task is
 * busy; with prefetch 1 it may also hold the next one). Submitted tasks
 * wait in a buffer of queue_size; submit waits for room (or -EAGAIN).
 * At most `window` tasks are in flight or finished but not yet taken by
 * ferry_pool_next(); with FERRY_POOL_ORDERED they are, moreover, the window
 * tasks that follow the oldest one not yet taken, which is what the
 * reorder buffer holds. So the owner's memory is bounded by
 * (queue_size + window) * 2 * max_msg whatever the input.
 *
 * Death. A function worker's death is seen as soon as the kernel starts
 * its exit, before it tears the worker's memory down (on Linux 5.16 and
 * later; a thread of the pool waits for it); any worker's death is also
 * seen from its pidfd (and the EOF of its pipes) on the dispatcher's poll
 * loop. A function worker whose main thread ends is killed, and counts as
 * dead, even if other threads of it run on. Results it sent before dying
 * are taken first; then the task it was running goes back to the front of the
 * buffer, to run on another worker, unless it already ran retries + 1
 * times: then it fails with a record of the pid, the exit code or signal,
 * the attempts and, for SIGKILL, "possibly out of memory". The slot is
 * respawned with backoff; `breaker_deaths` deaths in a row with no task
 * completed open a breaker: tasks then fail at once (FERRY_POOL_REFUSED,
 * with the cause) until a cool-down lets workers be tried again.
 *
 * Every task submitted successfully ends exactly once, as one result
 * record from ferry_pool_next() (docs/design/pool.md has the proofs).
 *
 * Timeouts follow common.h. The dispatcher's own waits are all bounded.
 *
 * Concurrency:
 *
 *   Progress: every call is blocking (a mutex shared with the dispatcher
 *   thread, held only for bounded work); submit, next and wait block up to
 *   their timeout; close blocks for at most grace_ns plus one second.
 *
 *   Overlap: submit, next, wait, stop and stats may be called from any
 *   threads of the owner at once. close must not overlap any other call.
 *   A pool belongs to the process that created it: in a fork child every
 *   call on an inherited pool returns FERRY_EFORKED (pgid: 0), close frees
 *   only the handle, and the child holds none of the pool's descriptors
 *   (they are closed at fork), so it cannot keep a worker's pipe open.
 *
 *   Death: a worker's death is handled as above. The owner's death kills
 *   the fork server and every worker (parent-death signal); the stats
 *   region is left orphaned for `ferry gc`.
 */
#ifndef FERRY_POOL_H
#define FERRY_POOL_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_pool ferry_pool;

/* Worker kinds. */
enum {
  FERRY_POOL_FUNCTION = 0,
  FERRY_POOL_EXEC = 1,
  FERRY_POOL_EXEC_EACH = 2,
};

/* Framing of FERRY_POOL_EXEC. */
enum {
  FERRY_POOL_LINES = 0,
  FERRY_POOL_FRAMES = 1,
};

/* Option flags. */
enum {
  /* Results come back in submit order (else in completion order). */
  FERRY_POOL_ORDERED = 1u << 0,
  /* Exec workers keep the owner's open file descriptors (other than the
   * pool's own); by default they get only 0, 1 and 2. */
  FERRY_POOL_KEEP_FDS = 1u << 1,
};

#define FERRY_POOL_MAX_WORKERS 1024
#define FERRY_POOL_DEFAULT_MAX_WORKERS 64 /* cap of the default (CPUs) */
#define FERRY_POOL_MAX_SPARES 16
#define FERRY_POOL_MSG_DEFAULT (64u * 1024)
#define FERRY_POOL_MAX_MSG (64u * 1024 * 1024)
#define FERRY_POOL_MAX_QUEUE (1u << 24)
#define FERRY_POOL_QUEUE_DEFAULT 256
#define FERRY_POOL_WINDOW_DEFAULT 64
#define FERRY_POOL_RETRIES_DEFAULT 2
#define FERRY_POOL_GRACE_DEFAULT_NS FERRY_SEC
#define FERRY_POOL_BACKOFF_DEFAULT_NS (10 * FERRY_MSEC)
#define FERRY_POOL_BACKOFF_MAX_DEFAULT_NS FERRY_SEC
#define FERRY_POOL_BREAKER_DEFAULT 10
#define FERRY_POOL_COOLDOWN_DEFAULT_NS (5 * FERRY_SEC)
/* jitter = max_tasks / 10 unless set. */
#define FERRY_POOL_JITTER_AUTO UINT32_MAX
/* The longest pool name: its workers' pipes are named "<name>.w<slot>.<n>". */
#define FERRY_POOL_NAME_MAX 160

/*
 * A function worker's task function. Runs in a worker process. task/len is
 * the task (valid during the call); write the result into out (cap =
 * max_msg bytes) and return its length, or return a negative errno to fail
 * the task (FERRY_POOL_FAILED, not retried). A return above cap fails it
 * as FERRY_POOL_PROTOCOL.
 */
typedef ssize_t (*ferry_pool_fn)(void *arg, const void *task, size_t len, void *out, size_t cap);

/* A line of a worker's stderr (or function worker's stdout), without its
 * '\n' (lines over 4 KiB come in pieces). Called on the dispatcher thread:
 * keep it short and do not call into the pool. */
typedef void (*ferry_pool_output_fn)(void *arg, uint32_t slot, pid_t pid, const char *line,
                                     size_t len);

/* Event types (ferry_pool_event.type). */
enum {
  FERRY_POOL_EV_SPAWNED = 1,     /* a worker is up (pid, slot) */
  FERRY_POOL_EV_EXITED = 2,      /* a worker is gone (exit_code/signal, message) */
  FERRY_POOL_EV_REQUEUED = 3,    /* task_id goes back to the buffer after a death */
  FERRY_POOL_EV_TIMEDOUT = 4,    /* task_id ran past its timeout; its worker is killed */
  FERRY_POOL_EV_BREAKER_OPEN = 5,  /* message says why */
  FERRY_POOL_EV_BREAKER_CLOSED = 6,
  FERRY_POOL_EV_SPAWN_FAILED = 7,  /* message says why */
};

typedef struct ferry_pool_event {
  uint32_t type;
  uint32_t slot;     /* worker slot, or UINT32_MAX */
  pid_t pid;         /* worker pid, or 0 */
  int exit_code;     /* EXITED: exit status, or -1 */
  int signal;        /* EXITED: killing signal, or 0 */
  uint32_t attempts; /* REQUEUED: runs so far */
  uint64_t task_id;  /* REQUEUED, TIMEDOUT: the task; else UINT64_MAX */
  int64_t time_ns;   /* CLOCK_MONOTONIC when the pool acted */
  const char *message; /* valid during the call; may be "" */
} ferry_pool_event;

typedef void (*ferry_pool_event_fn)(void *arg, const ferry_pool_event *ev);

typedef struct ferry_pool_options {
  ferry_region_options region; /* the stats region (mode, liveness); also the pipes' */
  uint32_t kind;               /* FERRY_POOL_FUNCTION (default), _EXEC, _EXEC_EACH */
  uint32_t workers;            /* 1..FERRY_POOL_MAX_WORKERS; 0 = online CPUs (capped) */
  ferry_pool_fn fn;            /* FUNCTION: required */
  void *fn_arg;
  const char *const *argv;     /* EXEC*: command and arguments, NULL-terminated;
                                  searched in PATH; copied at create */
  const char *const *envp;     /* EXEC*: environment; NULL = the owner's */
  uint32_t framing;            /* EXEC: FERRY_POOL_LINES (default) or _FRAMES */
  uint32_t flags;              /* FERRY_POOL_ORDERED, FERRY_POOL_KEEP_FDS */
  uint32_t prefetch;           /* 0 (default) or 1 task queued behind the running one */
  uint32_t spares;             /* FUNCTION, EXEC: extra processes kept started and idle,
                                  0..FERRY_POOL_MAX_SPARES (default 0): a dead or retired
                                  worker is replaced by one at once, and a new spare is
                                  started behind it */
  uint32_t queue_size;         /* buffered tasks, 1..2^24; default 256 */
  uint32_t window;             /* tasks in flight or awaiting next(); >= workers *
                                  (1 + prefetch); default max(64, that) */
  uint32_t max_msg;            /* bytes per task and per result; 1..64 MiB, default 64 KiB */
  uint32_t retries;            /* re-runs after a death; default 2 */
  int64_t task_timeout_ns;     /* per attempt; 0 = none */
  int64_t grace_ns;            /* SIGTERM .. SIGKILL; default 1 s; also the wait
                                  for a retired worker to exit */
  uint32_t max_tasks;          /* per worker, then it is replaced; 0 = no limit */
  uint32_t max_tasks_jitter;   /* + random 0..jitter per worker; default max_tasks/10 */
  uint64_t max_rss;            /* bytes; a worker above it is replaced after its task; 0 = none */
  int64_t backoff_ns;          /* first respawn delay after a crash loop starts; 10 ms */
  int64_t backoff_max_ns;      /* cap of the doubling; 1 s */
  uint32_t breaker_deaths;     /* deaths in a row without a result; default 10 */
  int64_t breaker_cooldown_ns; /* open breaker waits this long; 5 s */
  int64_t spin_ns;             /* FUNCTION: a waiting worker (and a caller waiting for a
                                  busy worker's result) looks this long; 20 us */
  ferry_pool_output_fn on_output; /* NULL: to the owner's stderr, tagged */
  void *output_arg;
  const char *output_tag;      /* default "worker" */
  ferry_pool_event_fn on_event; /* NULL: none. Dispatcher thread; do not call the pool */
  void *event_arg;
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_pool_options;

FERRY_API void ferry_pool_options_init(ferry_pool_options *o);

/*
 * ferry_pool_create: starts the dispatcher thread and the fork server,
 * creates the statistics region `name` (NULL: "pool-<pid>-<n>"), and starts
 * the workers (asynchronously: submit may be called at once). *out owns the
 * pool: release it with ferry_pool_close().
 * Errors: -EINVAL (bad option, a reserved word not zero, or bad name; name longer than
 * FERRY_POOL_NAME_MAX), -EEXIST (name in use), -ENOMEM, -EAGAIN (cannot
 * create the thread or the fork server), other negative errnos.
 */
FERRY_API int ferry_pool_create(const char *name, const ferry_pool_options *o, ferry_pool **out);

/*
 * ferry_pool_submit: copies task (len <= max_msg; for LINES no '\n') into
 * the buffer, waiting up to timeout_ns for room. *id (may be NULL) gets its
 * id: 0, 1, 2, ... in submit order. tag is returned with its result.
 * Errors: -EMSGSIZE, -EINVAL (a '\n' in a LINES task, bad timeout),
 * -EAGAIN (full, timeout 0), -ETIMEDOUT, -EPIPE (the pool is stopping),
 * FERRY_EFORKED (an inherited pool; so for every call below).
 */
FERRY_API int ferry_pool_submit(ferry_pool *p, const void *task, size_t len, void *tag,
                                int64_t timeout_ns, uint64_t *id);

/* Outcomes of a task (ferry_pool_result.outcome). */
enum {
  FERRY_POOL_DONE = 0,      /* data/len is the result */
  FERRY_POOL_FAILED = 1,    /* the task said it failed: fn < 0, an error frame,
                               a non-zero exit (EXEC_EACH); data/len: its message */
  FERRY_POOL_DIED = 2,      /* its worker died on every attempt */
  FERRY_POOL_TIMEDOUT = 3,  /* the last attempt ran past task_timeout_ns */
  FERRY_POOL_PROTOCOL = 4,  /* bad output: oversized, malformed, closed, unasked */
  FERRY_POOL_CANCELLED = 5, /* the pool was cancelled before it finished */
  FERRY_POOL_REFUSED = 6,   /* no worker could be run (breaker open) */
};

/* "done", "failed", "died", "timed out", "protocol", "cancelled",
 * "refused"; "unknown" otherwise. Static string. */
FERRY_API const char *ferry_pool_outcome_name(uint32_t outcome);

typedef struct ferry_pool_result {
  uint64_t id;
  void *tag;
  uint32_t outcome;    /* FERRY_POOL_DONE, ... */
  int error;           /* 0 for DONE; FAILED: fn's code or -EIO; DIED -ECHILD;
                          TIMEDOUT -ETIMEDOUT; PROTOCOL -EPROTO or -EMSGSIZE;
                          CANCELLED -ECANCELED; REFUSED -EAGAIN */
  const void *data;    /* valid until the next ferry_pool_next() or close */
  size_t len;
  uint32_t attempts;   /* runs started (0 if it never ran) */
  pid_t pid;           /* worker of the last attempt, or 0 */
  int exit_code;       /* the last attempt's worker exit status, or -1 */
  int signal;          /* the signal that killed it, or 0 */
  int64_t start_ns;    /* CLOCK_REALTIME when the last attempt started, or 0 */
  int64_t elapsed_ns;  /* how long the last attempt ran */
  char message[200];   /* "" for DONE; else what happened, in words */
} ferry_pool_result;

/*
 * ferry_pool_next: the next result (in submit order with
 * FERRY_POOL_ORDERED, else in completion order), waiting up to timeout_ns.
 * Errors: -EAGAIN (timeout 0), -ETIMEDOUT, -EPIPE (stopped and every result
 * taken: the end), -EINVAL.
 */
FERRY_API int ferry_pool_next(ferry_pool *p, ferry_pool_result *r, int64_t timeout_ns);

/* Readiness bits of ferry_pool_wait(). */
enum {
  FERRY_POOL_CAN_SUBMIT = 1u << 0, /* submit would not wait */
  FERRY_POOL_HAS_RESULT = 1u << 1, /* next would not wait */
  FERRY_POOL_ENDED = 1u << 2,      /* next would return -EPIPE */
};

/*
 * ferry_pool_wait: waits up to timeout_ns until one of `events` holds
 * (ENDED always counts) and returns the bits that hold now; 0 if none did
 * in time (-EINVAL for a bad timeout). For a single-threaded owner that
 * both feeds and drains the pool without blocking on either.
 */
FERRY_API int ferry_pool_wait(ferry_pool *p, unsigned events, int64_t timeout_ns);

/* Stop modes. */
enum {
  FERRY_POOL_DRAIN = 0,  /* no new tasks; buffered and running ones finish */
  FERRY_POOL_CANCEL = 1, /* no new tasks; buffered ones are cancelled, running
                            ones killed (SIGTERM, grace_ns, SIGKILL) */
};

/*
 * ferry_pool_stop: begins a stop and returns at once. DRAIN turns into
 * CANCEL after timeout_ns (FERRY_FOREVER: never). A CANCEL is final; a
 * later DRAIN does not undo it. Results keep coming from ferry_pool_next()
 * until it returns -EPIPE. Errors: -EINVAL.
 */
FERRY_API int ferry_pool_stop(ferry_pool *p, unsigned mode, int64_t timeout_ns);

/*
 * ferry_pool_catch_signals: opt-in. Installs SIGINT and SIGTERM handlers:
 * the first such signal stops the pool with DRAIN (cancelling after
 * drain_timeout_ns), the second with CANCEL. The old handlers come back at
 * close. One pool per process at a time: -EBUSY otherwise.
 */
FERRY_API int ferry_pool_catch_signals(ferry_pool *p, int64_t drain_timeout_ns);

/*
 * ferry_pool_close: cancels what is left, kills and reaps every worker and
 * the fork server, removes the stats region and frees the pool. Results not
 * taken are dropped. Bounded: at most grace_ns plus about a second.
 * Accepts NULL.
 */
FERRY_API void ferry_pool_close(ferry_pool *p);

/* Pool states (stats.state). */
enum {
  FERRY_POOL_RUNNING = 0,
  FERRY_POOL_DRAINING = 1,
  FERRY_POOL_CANCELLING = 2,
  FERRY_POOL_STOPPED = 3, /* every task ended */
};

/* Breaker states (stats.breaker). */
enum {
  FERRY_POOL_BREAKER_CLOSED = 0,
  FERRY_POOL_BREAKER_OPEN = 1,
  FERRY_POOL_BREAKER_HALF_OPEN = 2,
};

typedef struct ferry_pool_stats {
  uint64_t submitted;  /* tasks accepted */
  uint64_t done;       /* ended DONE */
  uint64_t failed;     /* ended any other way */
  uint64_t retried;    /* re-runs after a death */
  uint64_t respawned;  /* workers started after the first of each slot */
  uint64_t deaths;     /* workers that died unasked */
  uint64_t timeouts;   /* attempts that ran past the timeout */
  uint32_t running;    /* tasks running now */
  uint32_t queued;     /* tasks waiting in the buffer (queue depth) */
  uint32_t unread;     /* results waiting for ferry_pool_next() */
  uint32_t workers;    /* slots */
  uint32_t live;       /* worker processes up now (spares included) */
  uint32_t idle;       /* of which idle (spares included) */
  uint32_t kind;       /* FERRY_POOL_FUNCTION, ... */
  uint32_t state;      /* FERRY_POOL_RUNNING, ... */
  uint32_t breaker;    /* FERRY_POOL_BREAKER_* */
  uint32_t signals;    /* stop signals caught (catch_signals) */
  pid_t owner_pid;
  pid_t pgid;          /* the workers' process group */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zeroed: room to grow [abi-growth] */
} ferry_pool_stats;

/* Worker states (ferry_pool_worker_info.state). */
enum {
  FERRY_POOL_W_EMPTY = 0,    /* no process (backoff, breaker, stopped) */
  FERRY_POOL_W_STARTING = 1,
  FERRY_POOL_W_IDLE = 2,
  FERRY_POOL_W_BUSY = 3,
  FERRY_POOL_W_STOPPING = 4, /* being killed or retired */
};

/* "empty", "starting", "idle", "busy", "stopping"; "unknown". */
FERRY_API const char *ferry_pool_worker_state_name(uint32_t state);

typedef struct ferry_pool_worker_info {
  uint32_t slot;
  uint32_t state;     /* FERRY_POOL_W_* */
  pid_t pid;          /* 0 if none */
  uint32_t generation; /* processes this slot has had */
  uint64_t tasks;     /* tasks this process finished */
  uint64_t task_id;   /* the running task, or UINT64_MAX */
  int64_t busy_ns;    /* CLOCK_MONOTONIC when it started the task */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zeroed: room to grow [abi-growth] */
} ferry_pool_worker_info;

/* This pool's statistics (no region read). */
FERRY_API int ferry_pool_stats_get(ferry_pool *p, ferry_pool_stats *out);

/*
 * ferry_pool_stat: reads pool `name`'s statistics region from any process
 * (as an observer). Fills *out and up to cap worker rows (w may be NULL if
 * cap is 0); returns the number of slots, which may exceed cap. Only the
 * rows it copies are read and checked, so a region with a damaged row
 * beyond cap still reads.
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * FERRY_ECORRUPT (the region does not check out: a size, kind or state out
 * of range, a negative pid), -EAGAIN (it kept changing while read; try
 * again). On error *out and w are left as they were.
 */
FERRY_API ssize_t ferry_pool_stat(const char *name, ferry_pool_stats *out,
                                  ferry_pool_worker_info *w, size_t cap);

/* The stats region's name; valid as long as the pool. */
FERRY_API const char *ferry_pool_name(const ferry_pool *p);

/* The workers' process group (the fork server's pid), or 0 if it is not up. */
FERRY_API pid_t ferry_pool_pgid(ferry_pool *p);

FERRY_EXTERN_C_END

#endif /* FERRY_POOL_H */
