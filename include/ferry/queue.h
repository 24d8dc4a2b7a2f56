/* SPDX-License-Identifier: MIT */
/*
 * ferry/queue.h: a bounded multi-producer/multi-consumer queue of
 * variable-length byte messages in one region (FERRY_KIND_QUEUE).
 *
 * The queue holds `capacity` messages of at most `max_msg_size` bytes each.
 * Messages are copied in and out (put/get, put_many/get_many) or written
 * and read in place (reserve/commit, peek/release). Every message is seen
 * by exactly one consumer, whole or not at all. Messages of one producer
 * handle reach any one consumer in the order they were put.
 *
 * Roles. Open names a role: FERRY_ROLE_PRODUCER, FERRY_ROLE_CONSUMER, or
 * both. put/reserve need PRODUCER, get/peek need CONSUMER (else -EPERM).
 * The creator's role is options.region.role (default both).
 *
 * End of stream, without poison pills. A get on an empty queue returns
 * -EPIPE once (a) ferry_queue_shutdown() was called (puts then fail with
 * -EPIPE too), or (b) enough producers opened (the start gate below) and
 * none is registered now: every producer closed, or died and was
 * recovered. (b) is a state, not a latch: a producer that opens later
 * resumes the stream. Consumers always drain what was put first.
 *
 * The start gate. By default one producer open is enough, so a consumer
 * that starts before its producers waits for them, but a stream fed by
 * producers that come one after the other (or whose first one finishes
 * before the last one opens) could end early. Set
 * options.expected_producers to the number of producer opens to wait
 * for: the stream then cannot end by close before that many opens with
 * the producer role (the creator's own, if it has that role, included; a
 * producer that dies and is started again counts again). Shutdown ends it
 * regardless.
 *
 * Timeouts follow common.h: 0 tries once (-EAGAIN), FERRY_FOREVER waits,
 * > 0 waits at most that long (-ETIMEDOUT), < 0 is -EINVAL. A waiter first
 * spins for spin_ns (briefly with pause hints, then yielding the CPU
 * between looks), then sleeps on a futex in slices of at most half the
 * region's liveness_ns, and at the end of each slice recovers dead peers
 * [docs/design/waiting.md, wait-spin and wait-slice].
 *
 * Processes. A handle belongs to the process that opened it. In a fork
 * child every call on an inherited handle returns FERRY_EFORKED and
 * ferry_queue_close() only unmaps: the parent stays registered, keeps its
 * reservation, and its consumers see no end of stream. A child opens the
 * queue by name. Where the kernel allows, opening registers the process
 * with membarrier(2) (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED), which lets
 * put and get run without a full memory fence [docs/design/waiting.md,
 * wait-asym].
 *
 * Concurrency:
 *
 *   Progress.
 *     call                            guarantee
 *     ------------------------------  ----------------------------------------
 *     put/get/reserve/peek, timeout 0 lock-free among live processes, no
 *                                     system call; may wait for a live peer
 *                                     that claimed a cell and is writing it
 *                                     (it is never blocked by a dead one)
 *     put/get/... with a timeout      blocking: spin, then futex sleep in
 *                                     slices that recover dead peers
 *     commit, release, cancel         wait-free; one FUTEX_WAKE syscall only
 *                                     if a peer announced a sleep
 *     put_many, get_many              as put/get; at most one wake-up per
 *                                     batch (one more if put_many must sleep)
 *     depth, stats, validate          wait-free reads (stats: a table walk)
 *     stat (by name, observer)        blocking: region open and close
 *     recover                         blocking, bounded: one lock test per
 *                                     registered participant, and repairs
 *     shutdown, close                 wait-free plus one wake syscall if
 *                                     somebody sleeps (close: and the
 *                                     region's leave and unmap)
 *     create, open                    blocking system-call paths; open
 *                                     reclaims a dead slot if the table is
 *                                     full
 *
 *   Overlap. Any call may overlap any other on *different* handles, in the
 *   same or other processes. On *one* handle:
 *     calls                           may overlap
 *     ------------------------------  ----------------------------------------
 *     depth, stats_get, validate      each other, and any call but close
 *     every other pair                no: use one handle per thread
 *   A handle holds at most one reservation and at most one peeked message
 *   at a time.
 *
 *   Death of a peer in mid-call [docs/design/queue.md]:
 *     - a producer killed at any instruction never exposes a torn message:
 *       a cell it claimed but did not commit becomes a hole that consumers
 *       skip (counted in stats.holes).
 *     - a consumer killed at any instruction loses at most the one message
 *       it had claimed (counted in stats.lost), two if it was inside
 *       get_many.
 *     - nobody waits on a dead peer for longer than liveness_ns / 2 plus
 *       one recovery: the kernel drops a dead process's slot lock, and
 *       waiters recover dead participants at each slice end, without
 *       /proc. Recovery frees the dead participant's slot and folds its
 *       statistics into the totals; it is exclusive per slot and never
 *       reads the state of a process that joined the slot since.
 *       ferry_queue_recover() runs it on demand (e.g. from a supervisor
 *       when no one happens to wait), and an open that finds the table
 *       full runs it for the slot it reclaims.
 *     - a dead waiter leaves nothing to repair.
 *
 *   Shared memory is untrusted [docs/design/queue.md, queue-corrupt]: the
 *   geometry is validated once at open and kept in the handle; a cell
 *   length, lap word or index that no put or get could have written is
 *   FERRY_ECORRUPT, never a read outside the region or a call that
 *   outlives its timeout.
 */
#ifndef FERRY_QUEUE_H
#define FERRY_QUEUE_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_queue ferry_queue;

#define FERRY_QUEUE_CAPACITY_DEFAULT 1024
/* At least two cells: with one, a full cell's lap word (p+1) would equal
 * the next lap's free word (p+capacity) [docs/design/queue.md]. */
#define FERRY_QUEUE_MIN_CAPACITY 2
#define FERRY_QUEUE_MAX_CAPACITY (UINT32_C(1) << 24)
#define FERRY_QUEUE_MSG_DEFAULT 4096
#define FERRY_QUEUE_MAX_MSG (UINT32_C(1) << 30)
#define FERRY_QUEUE_SPIN_DEFAULT_NS (20 * INT64_C(1000))
#define FERRY_QUEUE_SPIN_MAX_NS FERRY_SEC

typedef struct ferry_queue_options {
  ferry_region_options region; /* mode, flags, table size, creator's role, liveness */
  uint32_t capacity;           /* messages; 2..FERRY_QUEUE_MAX_CAPACITY, default 1024 */
  uint32_t max_msg_size;       /* bytes; 1..FERRY_QUEUE_MAX_MSG, default 4096 */
  int64_t spin_ns;             /* spin before sleeping; 0..1 s, default 20 us */
  /* The start gate of end of stream by close: the stream cannot end that
   * way before this many opens with the producer role (the creator's
   * included). 0 (default) means 1: the first producer's open. */
  uint32_t expected_producers;
  uint32_t reserved32;                         /* zero [abi-growth] */
  uint64_t reserved[FERRY_RESERVED_WORDS - 1]; /* zero: room to grow [abi-growth] */
} ferry_queue_options;

/* Fills *o with the defaults; region.role = PRODUCER|CONSUMER. */
FERRY_API void ferry_queue_options_init(ferry_queue_options *o);

/*
 * ferry_queue_create: creates queue `name` and registers this process with
 * o->region.role. o may be NULL (defaults). On success *out owns the
 * handle: release it with ferry_queue_close().
 * Errors: -EINVAL (bad name or option), -EEXIST, -EOVERFLOW (too big),
 * -ENOMEM, -EACCES, other negative errnos from the system.
 */
FERRY_API int ferry_queue_create(const char *name, const ferry_queue_options *o,
                                 ferry_queue **out);

/*
 * ferry_queue_open: opens queue `name` with `role` (FERRY_ROLE_PRODUCER
 * and/or FERRY_ROLE_CONSUMER, nothing else). o may be NULL; o->role is
 * ignored, and FERRY_OPEN_OBSERVE is refused (-EINVAL).
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * -EINVAL (bad role), FERRY_ECORRUPT (the queue header does not check out).
 */
FERRY_API int ferry_queue_open(const char *name, uint32_t role, const ferry_open_options *o,
                               ferry_queue **out);

/*
 * ferry_queue_close: releases an outstanding reservation (as a hole) or
 * peeked message (as consumed), folds this handle's statistics into the
 * totals, deregisters and unmaps. Consumers blocked on an empty queue are
 * woken so they can see the end of the stream. Accepts NULL.
 */
FERRY_API void ferry_queue_close(ferry_queue *q);

/*
 * ferry_queue_put: copies len bytes (0..max_msg_size) in as one message.
 * Errors: -EMSGSIZE (len too big; nothing written), -EAGAIN (full,
 * timeout 0), -ETIMEDOUT, -EPIPE (shut down), -EPERM (no producer role),
 * -EINVAL (bad timeout), -EBUSY (a reservation is outstanding),
 * FERRY_ECORRUPT (a cell no put or get could have left), FERRY_EFORKED.
 * Every call on a handle from another process (fork) is FERRY_EFORKED.
 */
FERRY_API int ferry_queue_put(ferry_queue *q, const void *msg, size_t len, int64_t timeout_ns);

/*
 * ferry_queue_get: takes the oldest message and copies it into buf.
 * Returns its length. A message larger than cap is left in the queue and
 * the call returns -EMSGSIZE.
 * Errors: -EAGAIN (empty, timeout 0), -ETIMEDOUT, -EPIPE (empty and ended:
 * see above), -EMSGSIZE, -EPERM (no consumer role), -EINVAL, -EBUSY (a
 * peeked message is outstanding), FERRY_ECORRUPT (a length beyond
 * max_msg_size or a lap word no put could have written: nothing taken),
 * FERRY_EFORKED.
 */
FERRY_API ssize_t ferry_queue_get(ferry_queue *q, void *buf, size_t cap, int64_t timeout_ns);

/* One message of a batch: for put, data/len; for get, data/len is the
 * buffer and its capacity in, and len is set to the message length. */
typedef struct ferry_queue_vec {
  void *data;
  size_t len;
} ferry_queue_vec;

/*
 * ferry_queue_put_many: puts msgs[0..n) in order, waiting for room as
 * needed until the timeout. Returns how many were put (n, or fewer if the
 * timeout ran out or the queue was shut down after some were put). With
 * none put, returns the error put() would have. Consumers are woken at most
 * once for the batch (plus once before each sleep for room).
 * Every length is checked first: -EMSGSIZE puts nothing.
 */
FERRY_API ssize_t ferry_queue_put_many(ferry_queue *q, const ferry_queue_vec *msgs, size_t n,
                                       int64_t timeout_ns);

/*
 * ferry_queue_get_many: waits (per the timeout) for one message, then takes
 * up to n that are ready without waiting more. Returns how many. A message
 * that does not fit its vec stops the batch there (and is -EMSGSIZE if it
 * is the first).
 */
FERRY_API ssize_t ferry_queue_get_many(ferry_queue *q, ferry_queue_vec *msgs, size_t n,
                                       int64_t timeout_ns);

/*
 * Zero-copy put: ferry_queue_reserve claims a cell for up to len bytes and
 * sets *data to its payload (valid, and only this handle's, until commit or
 * cancel). ferry_queue_commit publishes the first `len` bytes (len <= the
 * reserved length, else -EMSGSIZE and still reserved); cancel gives the cell
 * up as a hole. Consumers of later messages wait until the reservation is
 * committed, so keep it short. Errors of reserve: those of put, and
 * -EBUSY (one is outstanding). commit/cancel without one: -EINVAL.
 */
FERRY_API int ferry_queue_reserve(ferry_queue *q, size_t len, void **data, int64_t timeout_ns);
FERRY_API int ferry_queue_commit(ferry_queue *q, size_t len);
FERRY_API int ferry_queue_cancel(ferry_queue *q);

/*
 * Zero-copy get: ferry_queue_peek takes the oldest message and lends it
 * in place: *data (valid until ferry_queue_release on this handle) and *len.
 * Errors: those of get (except -EMSGSIZE), and -EBUSY (one is outstanding).
 * release without an outstanding peek: -EINVAL.
 */
FERRY_API int ferry_queue_peek(ferry_queue *q, const void **data, size_t *len,
                               int64_t timeout_ns);
FERRY_API int ferry_queue_release(ferry_queue *q);

/*
 * ferry_queue_shutdown: ends the stream for everyone. Later puts fail with
 * -EPIPE; a put racing with it either lands (and is drained) or fails;
 * consumers drain, then get -EPIPE. Wakes all sleepers. Idempotent.
 */
FERRY_API int ferry_queue_shutdown(ferry_queue *q);

/* Cells between head and tail now: messages, holes not yet skipped, and
 * cells being written (reserved); not messages being read (peeked). A
 * snapshot under concurrency. */
FERRY_API size_t ferry_queue_depth(const ferry_queue *q);

typedef struct ferry_queue_stats {
  uint64_t capacity, max_msg_size;
  uint64_t depth;
  uint64_t puts, gets;           /* messages */
  uint64_t bytes_put, bytes_got; /* payload bytes */
  uint64_t put_waits, get_waits; /* times a caller had to sleep */
  uint64_t lost;                 /* messages lost with dead consumers */
  uint64_t holes;                /* cells given up by dead producers or cancel */
  uint64_t recovered;            /* dead participants recovered */
  uint32_t producers;            /* producers registered now (dead ones until recovered) */
  uint32_t consumers;
  int shutdown;
  uint32_t expected_producers;   /* as created (see the options) */
  uint64_t producers_joined;     /* opens with the producer role so far */
  uint64_t reserved[FERRY_RESERVED_WORDS - 1]; /* zero [abi-growth] */
} ferry_queue_stats;

/* Sums every participant's counters and the totals of those that left. */
FERRY_API int ferry_queue_stats_get(const ferry_queue *q, ferry_queue_stats *out);

/*
 * ferry_queue_stat: opens queue `name` as an observer (without registering:
 * the queue, its end of stream and its participants are left as they were),
 * fills *out as ferry_queue_stats_get() would, and closes it. For tools
 * such as `ferry info`. Wait-free reads plus the open and close.
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * FERRY_ECORRUPT and the other header checks of ferry_queue_open().
 */
FERRY_API int ferry_queue_stat(const char *name, ferry_queue_stats *out);

/*
 * ferry_queue_recover: finds participants that died, repairs the cells
 * they held (holes, lost messages), folds their statistics and frees their
 * slots. Returns how many this call recovered (a participant that another
 * process is recovering is left to it), or FERRY_EFORKED. Waiters do this
 * by themselves, and an open that finds the table full does it for the
 * slot it takes; call it from a supervisor to repair at once.
 */
FERRY_API int ferry_queue_recover(ferry_queue *q);

/* Flags for ferry_queue_validate. */
enum {
  /* Nobody is inside a call: also check every cell's state exactly. */
  FERRY_QUEUE_VALIDATE_QUIESCENT = 1u << 0,
};

/*
 * ferry_queue_validate: checks the queue's invariants (header, positions,
 * every cell's lap word). Safe under concurrency without the QUIESCENT
 * flag. Returns 0, or FERRY_ECORRUPT (also when the header changed since
 * open), -EINVAL (unknown flags), FERRY_EFORKED.
 */
FERRY_API int ferry_queue_validate(const ferry_queue *q, unsigned flags);

/* The region under the queue (for names, info, participants). Valid as long
 * as the handle. */
FERRY_API ferry_region *ferry_queue_region(const ferry_queue *q);

FERRY_EXTERN_C_END

#endif /* FERRY_QUEUE_H */
