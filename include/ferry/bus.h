/* SPDX-License-Identifier: MIT */
/*
 * ferry/bus.h: a single-publisher, multi-subscriber broadcast of frames
 * (sets of named, typed arrays: see array.h) over K slots of shared memory,
 * zero-copy on both sides.
 *
 * The publisher creates the bus with the frame's arrays (ferry_array_spec
 * list, declared once), then repeatedly loans a slot, fills the frame's
 * arrays in place and publishes it. A subscriber attaches by name, takes
 * the next frame, reads it in place and releases it. Every published frame
 * carries a sequence number, 0, 1, 2, ... in publish order.
 *
 *   publisher                               subscriber (any process)
 *   ferry_bus_create("cam", specs, 3, &o, &b);
 *                                           ferry_bus_subscribe("cam", NULL, &s);
 *   ferry_bus_loan(b, &f, FERRY_FOREVER);   ferry_bus_next(s, &f, &info, FERRY_FOREVER);
 *   ferry_frame_array(f, "a", &arr);        ferry_frame_array(f, "a", &arr);
 *   ... fill arr.data ...                   ... read arr.data ...
 *   ferry_bus_publish(b, f);                ferry_bus_release(s, f);
 *   ferry_bus_close(b);  // shuts down      ... next gives -EPIPE once drained
 *
 * Modes:
 *   FERRY_BUS_LOCKSTEP  every live subscriber sees every frame published
 *                       after it joined, in order. The publisher waits in
 *                       loan only while the slot it needs (frame seq s goes
 *                       to slot s % K) is still held by a subscriber that has
 *                       not released frame s - K. K slots let the publisher
 *                       fill frames ahead while subscribers read (seed 000).
 *   FERRY_BUS_LATEST    a subscriber gets the newest frame and the count of
 *                       frames it skipped. The publisher writes only slots
 *                       nobody holds and never the newest one, so it never
 *                       waits as long as at most K - 2 subscribers hold
 *                       distinct older frames; create enforces nothing, but
 *                       K >= max_subscribers + 2 makes loan wait-free in
 *                       every case. Otherwise loan waits (up to its timeout)
 *                       for a release: see docs/design/bus.md [latest-k].
 *
 * Joining and leaving: a subscriber may subscribe and unsubscribe (or die)
 * at any time. A late joiner starts at the next frame published after it
 * joined. A subscriber that dies is dropped by the publisher within the
 * region's liveness period (ferry_region_options.liveness_ns, 1 s by
 * default) and never waited on again, and the frame it held is freed.
 *
 * End of stream: after ferry_bus_shutdown() or ferry_bus_close() by the
 * publisher, or its death (noticed within the liveness period), subscribers
 * still get every frame already published (LOCKSTEP) or the newest one they
 * have not seen (LATEST), then -EPIPE.
 *
 * Fork: a handle belongs to the process that created or subscribed it. In
 * a forked child every call on an inherited ferry_bus or ferry_sub returns
 * FERRY_EFORKED ("open the object again"), and ferry_bus_close() /
 * ferry_bus_unsubscribe() only unmap it: the parent's bus is not shut down
 * and its subscription stays. A child subscribes by name itself.
 *
 * A frame is never visible torn: loaned frames are invisible until
 * published, and a published slot is rewritten only when no subscriber
 * holds it (docs/design/bus.md [no-torn]).
 *
 * Concurrency:
 *   Progress.
 *     call                        guarantee
 *     --------------------------  ------------------------------------------
 *     loan                        LOCKSTEP: blocking, but no system call when
 *                                 the slot is free; LATEST: lock-free,
 *                                 blocking only in the [latest-k] case.
 *                                 Looks again for about 2 us, then sleeps on
 *                                 the slot's event count in slices of half
 *                                 the liveness period, dropping dead
 *                                 subscribers at each slice end.
 *     publish                     wait-free, plus one FUTEX_WAKE only when a
 *                                 subscriber announced a sleep
 *     next                        blocking (timeout 0: lock-free); no
 *                                 system call when a frame is ready; checks
 *                                 the publisher at each slice end
 *     release                     wait-free, plus one FUTEX_WAKE only when
 *                                 it empties the slot the publisher sleeps on
 *     shutdown                    wait-free, plus one FUTEX_WAKE when a
 *                                 subscriber sleeps
 *     wait_subscribers            blocking (timeout 0: one look)
 *     create/subscribe/close/     blocking system-call paths
 *     unsubscribe/stat
 *     stats, sub_stats, seq       wait-free (stats reads the participant
 *                                 table, and no liveness)
 *   Signals never postpone a deadline or a liveness check: a wait
 *   interrupted by a signal sleeps on to the same slice end.
 *   Overlap. One publisher handle and any number of subscriber handles in
 *   any processes may run concurrently:
 *
 *                   loan  publish  shutdown  next  release  subscribe  unsub
 *     loan           -      -        -        yes   yes      yes        yes
 *     publish        -      -        -        yes   yes      yes        yes
 *     next          yes    yes      yes       yes*  yes*     yes        yes*
 *     release       yes    yes      yes       yes*  yes*     yes        yes*
 *
 *   "-": calls on the one publisher handle, which is not thread-safe: one
 *   thread at a time per ferry_bus. "*": on different ferry_sub handles (a
 *   ferry_sub, too, is one thread's at a time; two threads of one process
 *   that both read take two subscriptions). stats and stat overlap with
 *   everything. A handle must not be closed while a frame taken from it is
 *   in use. A handle inherited through fork is refused (FERRY_EFORKED).
 *   Death of a peer in mid-call (docs/design/bus.md [reap]).
 *     - subscriber, at any instruction: its subscription and its hold stay
 *       in the bus until it is found dead (its participant slot's lock is
 *       free) by the publisher, at its next wait slice or its periodic
 *       check once per liveness period, or by a subscriber joining a full
 *       table; the finder clears its bit from every slot, which wakes a
 *       publisher asleep on one of them, and frees its participant slot. A
 *       finder that dies halfway leaves the slot dead, and the next one
 *       starts over. A subscriber killed asleep leaves nothing to repair:
 *       the next publish pays one futex wake for nobody.
 *     - publisher, at any instruction: a loaned frame was never visible; a
 *       publish is all or nothing (the head word is its single commit
 *       point). Subscribers notice within one liveness period (half of it
 *       when asleep), drain and get -EPIPE. Nobody else may publish on the
 *       bus afterwards.
 *   Shared memory is not trusted: what open validated is kept in the
 *   handle, and a shared word no publisher could have written (a head
 *   more than K + 1 frames ahead of a reader, or behind it) makes next
 *   return FERRY_ECORRUPT instead of touching anything outside the region
 *   or looping.
 *   Proofs and the slot state tables: docs/design/bus.md; the layout:
 *   docs/layout/bus.md; the wait primitive: docs/design/waiting.md.
 */
#ifndef FERRY_BUS_H
#define FERRY_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "array.h"
#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

/* The publisher's handle (process-local, opaque). */
typedef struct ferry_bus ferry_bus;
/* A subscriber's handle (process-local, opaque). */
typedef struct ferry_sub ferry_sub;

typedef enum ferry_bus_mode {
  FERRY_BUS_LOCKSTEP = 0,
  FERRY_BUS_LATEST = 1,
} ferry_bus_mode;

#define FERRY_BUS_SLOTS_DEFAULT 4
#define FERRY_BUS_SLOTS_MAX 64
#define FERRY_BUS_SUBSCRIBERS_DEFAULT 64
#define FERRY_BUS_SUBSCRIBERS_MAX 64

typedef struct ferry_bus_options {
  /* mode, flags, liveness of the region; max_participants is set by the
   * bus (max_subscribers + 1) and ignored here. */
  ferry_region_options region;
  ferry_bus_mode mode;      /* default LOCKSTEP */
  uint32_t slots;           /* K: 2..FERRY_BUS_SLOTS_MAX (LATEST: 3..); default 4 */
  uint32_t max_subscribers; /* 1..FERRY_BUS_SUBSCRIBERS_MAX; default 64 */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_bus_options;

/* Fills *o with the defaults (creator role FERRY_ROLE_PUBLISHER). Always
 * call it before setting fields. */
FERRY_API void ferry_bus_options_init(ferry_bus_options *o);

/* "lockstep", "latest", or "unknown". Static string. */
FERRY_API const char *ferry_bus_mode_name(uint32_t mode);

/*
 * ferry_bus_create: creates bus region `name` (kind FERRY_KIND_BUS) with K
 * slots of frames made of the n arrays of specs (see ferry_array_create()
 * for the rules), zeroed, and makes this process its publisher. o may be
 * NULL for the defaults. specs are read during the call only.
 * On success *out owns the handle: release it with ferry_bus_close().
 * Errors: -EINVAL (bad name, specs or option), -EOVERFLOW (the frames do
 * not fit in the address space), -EEXIST, -ENOMEM, -ENOSPC, -EACCES, or
 * another negative errno. On error nothing is left behind.
 */
FERRY_API int ferry_bus_create(const char *name, const ferry_array_spec *specs, size_t n,
                               const ferry_bus_options *o, ferry_bus **out);

/*
 * ferry_bus_loan: gives the publisher a free slot's frame to fill. *f is
 * borrowed until ferry_bus_publish(); its contents are whatever an older
 * frame left there (not zeroed). Only one loan at a time.
 * Returns 0, -EBUSY (a loan is already out), -EPIPE (after shutdown),
 * -EAGAIN (timeout 0 and no slot free), -ETIMEDOUT, -EINVAL (bad timeout),
 * FERRY_EFORKED (a handle inherited through fork; so for every call below).
 * Only the publisher that created the bus may loan.
 */
FERRY_API int ferry_bus_loan(ferry_bus *b, ferry_frame **f, int64_t timeout_ns);

/*
 * ferry_bus_publish: makes the loaned frame f visible to subscribers with
 * the next sequence number (ferry_bus_seq() before the call). f is no
 * longer the publisher's to touch. Returns 0, or -EINVAL if f is not the
 * frame of the current loan.
 */
FERRY_API int ferry_bus_publish(ferry_bus *b, ferry_frame *f);

/*
 * ferry_bus_wait_subscribers: waits until at least n subscribers have
 * joined (ferry_bus_subscribe() returned in their process, or is about to)
 * and not left, so that a publisher can start once all its readers are in:
 * every frame published after this returns 0 reaches each of them (in
 * LOCKSTEP; in LATEST, each sees the newest). Subscribers found dead are
 * dropped and not counted. n == 0 returns 0 at once. A join wakes the
 * waiter; dead subscribers are looked for when the count is reached and
 * once per half liveness period.
 * Returns 0, -EAGAIN (timeout 0 and fewer than n), -ETIMEDOUT, -EINVAL (bad
 * timeout, or n above the bus's max_subscribers), -EPIPE (after shutdown),
 * FERRY_EFORKED.
 */
FERRY_API int ferry_bus_wait_subscribers(ferry_bus *b, uint32_t n, int64_t timeout_ns);

/* The sequence number the next published frame gets (= frames published so
 * far). Wait-free. */
FERRY_API uint64_t ferry_bus_seq(const ferry_bus *b);

/*
 * ferry_bus_shutdown: ends the stream: no more loans (-EPIPE); subscribers
 * drain what is published, then get -EPIPE. A loan still out is dropped.
 * Idempotent. Returns 0.
 */
FERRY_API int ferry_bus_shutdown(ferry_bus *b);

/* ferry_bus_close: shuts the bus down (if not yet) and detaches. The name
 * stays (unless FERRY_REGION_UNLINK_ON_LAST_CLOSE was set): remove it with
 * ferry_unlink(). Accepts NULL. */
FERRY_API void ferry_bus_close(ferry_bus *b);

/* The underlying region (info, participants). Borrowed; do not close. */
FERRY_API ferry_region *ferry_bus_region(const ferry_bus *b);

/* ---- subscribers ---------------------------------------------------------- */

/*
 * ferry_bus_subscribe: opens bus `name` and joins it as a subscriber; the
 * first frame it gets is the next one published after this call. A full
 * participant table first gives a dead subscriber's place to the joiner
 * (after dropping its subscription). o may be
 * NULL (role FERRY_ROLE_SUBSCRIBER; FERRY_OPEN_OBSERVE is refused with
 * -EINVAL). On success *out owns the handle: ferry_bus_unsubscribe().
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind,
 * -EUSERS when max_subscribers live subscribers are attached),
 * FERRY_ECORRUPT, -EPIPE (the publisher has shut down or gone), -ENOMEM.
 */
FERRY_API int ferry_bus_subscribe(const char *name, const ferry_open_options *o, ferry_sub **out);

/* What ferry_bus_next() tells about the frame it hands out. */
typedef struct ferry_bus_frame_info {
  uint64_t seq;     /* the frame's sequence number */
  uint64_t skipped; /* frames published since the last one this subscriber
                       took (or since it joined) that it will never see:
                       always 0 in LOCKSTEP */
  uint64_t lag;     /* frames published after this one, at the time of the
                       call */
} ferry_bus_frame_info;

/*
 * ferry_bus_next: takes the next frame: LOCKSTEP, the one after the last
 * taken; LATEST, the newest one not yet seen. *f is borrowed, read-only,
 * until ferry_bus_release(); info (may be NULL) gets its sequence number
 * and skip count. One frame at a time per handle.
 * When frames come at a steady rhythm (one every 40 us to 4 ms), a
 * subscriber that waits for them wakes shortly before each is due and
 * looks for it, so that the publisher need not wake it: the publisher
 * saves a wake-up per frame (tens of microseconds on a virtual machine),
 * and the subscriber spends up to a quarter of a CPU looking (about a
 * fifth at one frame per millisecond), yielding it to any other runnable
 * work.
 * If the rhythm breaks, it goes back to sleeping until woken.
 * Returns 0, -EAGAIN (timeout 0, no new frame), -ETIMEDOUT, -EPIPE (the
 * publisher shut down or died and everything is drained), -EBUSY (a frame
 * is still held), -EINVAL (bad timeout), FERRY_ECORRUPT (the bus's shared
 * state says what no publisher could have done: a peer scribbled on it).
 */
FERRY_API int ferry_bus_next(ferry_sub *s, const ferry_frame **f, ferry_bus_frame_info *info,
                             int64_t timeout_ns);

/* ferry_bus_release: gives back the frame from ferry_bus_next(); f must not
 * be used afterwards. Returns 0, or -EINVAL if f is not the held frame. */
FERRY_API int ferry_bus_release(ferry_sub *s, const ferry_frame *f);

/* ferry_bus_unsubscribe: releases any held frame, leaves the bus and
 * detaches. Accepts NULL. */
FERRY_API void ferry_bus_unsubscribe(ferry_sub *s);

/* The subscriber's region (info, participants). Borrowed; do not close. */
FERRY_API ferry_region *ferry_sub_region(const ferry_sub *s);

/* ---- statistics ------------------------------------------------------------ */

typedef struct ferry_bus_stats {
  uint32_t mode;            /* ferry_bus_mode */
  uint32_t slots;           /* K */
  uint32_t max_subscribers;
  uint32_t subscribers;     /* subscribed now (dead ones until dropped) */
  uint64_t frame_bytes;     /* bytes of one frame */
  uint64_t published;       /* frames published */
  uint64_t loan_waits;      /* loans that had to wait for a slot */
  uint64_t wait_ns;         /* total time the publisher spent waiting in loan */
  uint64_t dropped;         /* dead subscribers dropped */
  int shutdown;             /* 1 once shut down */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero [abi-growth] */
} ferry_bus_stats;

typedef struct ferry_bus_sub_stats {
  uint32_t slot;     /* participant slot */
  int32_t pid;
  uint64_t next_seq; /* the sequence number it waits for next */
  uint64_t lag;      /* published - next_seq */
  uint64_t received; /* frames taken */
  uint64_t skipped;  /* frames skipped (LATEST) */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero [abi-growth] */
} ferry_bus_sub_stats;

/* The bus as the publisher sees it. Wait-free. */
FERRY_API int ferry_bus_stats_get(const ferry_bus *b, ferry_bus_stats *out);

/* This subscriber's statistics. Wait-free. */
FERRY_API int ferry_sub_stats_get(const ferry_sub *s, ferry_bus_sub_stats *out);

/*
 * ferry_bus_stat: opens bus `name` as an observer (without registering),
 * fills *out and up to cap entries of subs (may be NULL if cap is 0), one
 * per subscriber, and returns how many subscribers there are (may exceed
 * cap). For tools such as `ferry info`.
 * Errors: those of ferry_region_open(), FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_bus_stat(const char *name, ferry_bus_stats *out, ferry_bus_sub_stats *subs,
                                 size_t cap);

FERRY_EXTERN_C_END

#endif /* FERRY_BUS_H */
