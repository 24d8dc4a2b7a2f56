/* SPDX-License-Identifier: MIT */
/*
 * ferry/pipe.h: a duplex message channel between exactly two ends, in one
 * region (FERRY_KIND_PIPE). Each direction is a single-producer/single-
 * consumer ring of `capacity` messages of at most `max_msg_size` bytes, so
 * the fast path is a copy and one release store, with no CAS and no system
 * call.
 *
 * Ends. create takes end 0; open takes end 1, or whichever end is free. A
 * third open while both ends are held by live processes gets -EBUSY.
 * Takeover: an end whose holder closed it or died may be taken by a new
 * open. The newcomer inherits that end's rings as they are: messages sent
 * to the old holder and not yet received are delivered to the new one, and
 * a message the old holder had peeked but not released is delivered again
 * (at-least-once across a takeover). A message the old holder was half-way
 * through sending never appears.
 *
 * End of the peer. recv returns -EPIPE once its ring is drained and the
 * peer end has been closed, or its holder died (noticed within the
 * region's liveness_ns by a waiting recv or send). send returns -EPIPE at
 * once if the peer closed, and if the peer died while send waits for room.
 * A peer that was never connected is waited for. -EPIPE is not sticky: if a
 * new process takes the peer end over, traffic resumes; wait for that with
 * ferry_pipe_wait_peer().
 *
 * Timeouts follow common.h (0 = try once, -EAGAIN; FERRY_FOREVER; > 0 then
 * -ETIMEDOUT). Waiters spin for spin_ns, then sleep on an event count in
 * slices of liveness_ns / 2, checking the peer at each slice end; signals
 * move neither the deadline nor the slices [docs/design/waiting.md].
 *
 * Processes. A handle belongs to the process that opened it. In a fork
 * child every call on an inherited handle returns FERRY_EFORKED and
 * ferry_pipe_close() only unmaps: the end stays the parent's. A child
 * opens the pipe by name.
 *
 * Concurrency:
 *
 *   Progress.
 *     call                            guarantee
 *     ------------------------------  ----------------------------------------
 *     send/recv/reserve/peek,         wait-free, no system call; without a
 *     timeout 0; commit, release      fence where membarrier(2) is allowed
 *                                     [wait-asym]; one FUTEX_WAKE only if
 *                                     the peer announced a sleep
 *     the same with a timeout         blocking: spin, then sleep in slices
 *     wait_peer                       blocking; one lock test per holder
 *     create, open, close             blocking system-call paths
 *
 *   Overlap. The two ends may be used at the same time from their two
 *   processes (or threads). On one handle:
 *     calls                           may overlap
 *     ------------------------------  ----------------------------------------
 *     send/reserve/commit with        recv/peek/release (the two directions
 *     recv/peek/release               share nothing but the end words)
 *     wait_peer                       send, recv and their kin
 *     every other pair, and close     no
 *
 *   Death: a holder killed at any instruction leaves its outgoing ring with
 *   only whole messages, and its incoming ring with at most one message
 *   still unreleased (delivered again after a takeover). The peer sees
 *   -EPIPE after draining; nobody waits on the dead holder for longer than
 *   liveness_ns / 2 (the kernel drops its slot lock at death). A sleeper
 *   that dies leaves nothing to repair.
 *
 *   Shared memory is untrusted: the geometry is validated once at open and
 *   kept in the handle, a message length is read once and checked against
 *   max_msg_size, and ring indices that no sender or receiver could have
 *   written are FERRY_ECORRUPT.
 */
#ifndef FERRY_PIPE_H
#define FERRY_PIPE_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_pipe ferry_pipe;

#define FERRY_PIPE_CAPACITY_DEFAULT 256
#define FERRY_PIPE_MAX_CAPACITY (UINT32_C(1) << 24)
#define FERRY_PIPE_MSG_DEFAULT 4096
#define FERRY_PIPE_MAX_MSG (UINT32_C(1) << 30)
#define FERRY_PIPE_SPIN_DEFAULT_NS (50 * INT64_C(1000))

typedef struct ferry_pipe_options {
  ferry_region_options region; /* mode, flags, liveness; role is ignored */
  uint32_t capacity;           /* messages per direction; default 256 */
  uint32_t max_msg_size;       /* bytes; default 4096 */
  int64_t spin_ns;             /* spin before sleeping; 0..1 s, default 50 us */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_pipe_options;

FERRY_API void ferry_pipe_options_init(ferry_pipe_options *o);

/* Creates pipe `name` and takes end 0. Errors as ferry_queue_create(). */
FERRY_API int ferry_pipe_create(const char *name, const ferry_pipe_options *o, ferry_pipe **out);

/* Opens pipe `name` and takes a free end (see Ends). o may be NULL.
 * Errors: those of ferry_region_open(), -EBUSY (both ends held by live
 * processes), FERRY_ECORRUPT, -EINVAL (FERRY_OPEN_OBSERVE). */
FERRY_API int ferry_pipe_open(const char *name, const ferry_open_options *o, ferry_pipe **out);

/* Gives the end up (an outstanding reservation is dropped, a peeked message
 * released), wakes the peer, deregisters. Accepts NULL. */
FERRY_API void ferry_pipe_close(ferry_pipe *p);

/*
 * ferry_pipe_wait_peer: waits until the other end is held by a live
 * process. Returns 0 at once if it is; otherwise (never taken yet, closed,
 * or its holder died) waits, per timeout_ns, for an open to take it. A
 * dead holder is recognised by its slot lock at the first look, and its
 * end marked closed so that a newcomer can take it over. For the end that
 * outlives its peer: instead of polling send or recv until they stop
 * returning -EPIPE, wait for the successor, then talk.
 * Errors: -EAGAIN (timeout 0 and no live peer), -ETIMEDOUT, -EINVAL (a
 * negative timeout), FERRY_EFORKED.
 * Blocking. It writes nothing of the handle, so it may overlap a send or
 * a recv on the same handle from another thread.
 */
FERRY_API int ferry_pipe_wait_peer(ferry_pipe *p, int64_t timeout_ns);

/* This handle's end: 0 or 1. */
FERRY_API int ferry_pipe_end(const ferry_pipe *p);

/* Sends len (<= max_msg_size) bytes. Errors: -EMSGSIZE (nothing written),
 * -EAGAIN, -ETIMEDOUT, -EPIPE, -EINVAL, -EBUSY (a reservation is open),
 * FERRY_ECORRUPT (impossible ring indices), FERRY_EFORKED. */
FERRY_API int ferry_pipe_send(ferry_pipe *p, const void *msg, size_t len, int64_t timeout_ns);

/* Receives the next message into buf; returns its length. A message longer
 * than cap stays and the call returns -EMSGSIZE. Errors: -EAGAIN,
 * -ETIMEDOUT, -EPIPE, -EINVAL, -EBUSY (a peeked message is outstanding),
 * FERRY_ECORRUPT (a length beyond max_msg_size, impossible indices),
 * FERRY_EFORKED. */
FERRY_API ssize_t ferry_pipe_recv(ferry_pipe *p, void *buf, size_t cap, int64_t timeout_ns);

/* Zero-copy send: *data is valid until commit (which publishes len <= the
 * reserved length bytes) or close. */
FERRY_API int ferry_pipe_reserve(ferry_pipe *p, size_t len, void **data, int64_t timeout_ns);
FERRY_API int ferry_pipe_commit(ferry_pipe *p, size_t len);

/* Zero-copy receive: *data is valid until ferry_pipe_release or close. */
FERRY_API int ferry_pipe_peek(ferry_pipe *p, const void **data, size_t *len, int64_t timeout_ns);
FERRY_API int ferry_pipe_release(ferry_pipe *p);

FERRY_API ferry_region *ferry_pipe_region(const ferry_pipe *p);

/* What a pipe's shared state says; direction d carries messages from end
 * d to end 1 - d. */
typedef struct ferry_pipe_stats {
  uint32_t capacity;     /* messages per direction */
  uint32_t max_msg_size; /* bytes */
  uint32_t ends_held;    /* ends taken now (by live or dead processes): 0..2 */
  uint32_t waiters;      /* ends asleep now, waiting for data or room */
  int32_t end_slot[2];   /* participant slot holding each end, or -1 */
  uint64_t sent[2];      /* messages sent in direction d since creation */
  uint64_t depth[2];     /* messages in direction d not yet received */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero [abi-growth] */
} ferry_pipe_stats;

/*
 * ferry_pipe_stat: opens pipe `name` as an observer (without registering or
 * taking an end), fills *out and closes it. For tools such as `ferry
 * info` and `ferry top`. Every field is read once and checked.
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * FERRY_ECORRUPT.
 */
FERRY_API int ferry_pipe_stat(const char *name, ferry_pipe_stats *out);

FERRY_EXTERN_C_END

#endif /* FERRY_PIPE_H */
