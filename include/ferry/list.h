/* SPDX-License-Identifier: MIT */
/*
 * ferry/list.h: a shared list of byte-string items in one region
 * (FERRY_KIND_LIST), like Python's Manager().list() without a server:
 * append, extend, insert, get, set, pop, replace-all, clear, length, and
 * a copy of a range of items. Every change is whole or absent, even when
 * the process making it is killed at any instruction.
 *
 * Items are 0..max_item bytes (longer: -EMSGSIZE). The list holds at most
 * `capacity` items (more: -ENOSPC). Positions are 0-based; a position at or
 * past the length is -ERANGE (insert also takes position == length, which
 * appends). The region is sized for capacity items, twice (so that
 * replace_all can build the new items next to the old ones):
 * docs/layout/list.md.
 *
 * Timeouts. Every call but len and stats takes the list's lock and so a
 * timeout_ns (common.h): 0 tries the lock once (-EAGAIN if it is held),
 * FERRY_FOREVER waits for it, > 0 waits at most that long (-ETIMEDOUT).
 * A lock whose holder died is taken over within the sync liveness period
 * either way.
 *
 * Concurrency:
 *
 *   Progress.
 *     call                          guarantee
 *     ----------------------------  ------------------------------------------
 *     len, stats_get                wait-free (loads)
 *     every other call              blocking on the list's robust mutex:
 *                                   uncontended one CAS + one exchange, no
 *                                   system call. append, set, get and pop of
 *                                   the last item are O(1) (plus the item's
 *                                   bytes) under it; insert, pop elsewhere,
 *                                   replace_all are O(length); extend and
 *                                   copy O(items)
 *     (after a dead lock holder)    the next locker rebuilds the free-slot
 *                                   stack from the index: O(capacity)
 *
 *   Overlap. Any call may overlap any other, on the same or different
 *   handles, in any processes, except close of a handle in use.
 *
 *   Death of a peer in mid-call [docs/design/list.md]:
 *     - a writer killed at any instruction leaves its change done whole or
 *       not at all: every change becomes visible with one aligned store (the
 *       state word, which holds the length and which of two index arrays is
 *       current, or one index entry for set). An append killed before that
 *       store is absent; after it, present and whole.
 *     - a writer killed holding the lock blocks nobody for longer than the
 *       sync liveness period (ferry_sync_liveness_ns()): the next locker
 *       takes the lock over and rebuilds the free-slot stack from the index,
 *       which is the ground truth; slots the dead writer had taken return to
 *       the stack.
 *     - a reader holds nothing once its call returns.
 *
 *   Untrusted memory. The length, the index entries, the free stack and
 *   every item's length are checked against the header's bounds each time
 *   they are used; a bad one is FERRY_ECORRUPT, never an access outside the
 *   region.
 */
#ifndef FERRY_LIST_H
#define FERRY_LIST_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_list ferry_list;

#define FERRY_LIST_CAPACITY_DEFAULT 1024
#define FERRY_LIST_MAX_CAPACITY (UINT64_C(1) << 24)
#define FERRY_LIST_ITEM_DEFAULT 64
#define FERRY_LIST_MAX_ITEM (UINT32_C(1) << 20)

typedef struct ferry_list_options {
  ferry_region_options region; /* mode, flags, table size, role, liveness */
  uint64_t capacity;           /* items, 1..FERRY_LIST_MAX_CAPACITY; default 1024 */
  uint32_t max_item;           /* bytes per item, 0..FERRY_LIST_MAX_ITEM; default 64 */
  uint32_t reserved0;          /* zero */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_list_options;

/* Fills *o with the defaults. */
FERRY_API void ferry_list_options_init(ferry_list_options *o);

/*
 * ferry_list_create: creates list `name`, empty, and registers this
 * process. o may be NULL (defaults). On success *out owns the handle:
 * release it with ferry_list_close().
 * Errors: -EINVAL (bad name or option, reserved fields not zero), -EEXIST,
 * -EOVERFLOW (too big),
 * -ENOSPC / -ENOMEM (no memory for the region), -EACCES.
 */
FERRY_API int ferry_list_create(const char *name, const ferry_list_options *o, ferry_list **out);

/*
 * ferry_list_open: opens list `name`. o may be NULL; FERRY_OPEN_OBSERVE is
 * refused (-EINVAL). Errors: those of ferry_region_open() (FERRY_EKIND for
 * another kind), FERRY_ECORRUPT (the list header does not check out).
 */
FERRY_API int ferry_list_open(const char *name, const ferry_open_options *o, ferry_list **out);

/* ferry_list_close: deregisters and unmaps. Accepts NULL. */
FERRY_API void ferry_list_close(ferry_list *l);

/* ferry_list_len: items in the list at some instant during the call. */
FERRY_API size_t ferry_list_len(const ferry_list *l);

/* One item for extend and replace_all: len bytes at data (read during the
 * call only). */
typedef struct ferry_list_item {
  const void *data;
  size_t len;
} ferry_list_item;

/*
 * ferry_list_append: copies len bytes in as the new last item.
 * Errors: -EMSGSIZE (len > max_item), -ENOSPC (full), -EAGAIN / -ETIMEDOUT
 * (the lock, per timeout_ns), -ENOTRECOVERABLE (the lock was left unusable:
 * see sync.h), -EINVAL (bad timeout), FERRY_ECORRUPT. Nothing changes on
 * error.
 */
FERRY_API int ferry_list_append(ferry_list *l, const void *data, size_t len, int64_t timeout_ns);

/*
 * ferry_list_extend: appends items[0..n) in order, all or none (one store
 * publishes them together). Every length is checked first.
 * Errors: those of append.
 */
FERRY_API int ferry_list_extend(ferry_list *l, const ferry_list_item *items, size_t n,
                                int64_t timeout_ns);

/*
 * ferry_list_insert: inserts an item before position `pos` (pos == length
 * appends). Errors: those of append, -ERANGE (pos > length).
 */
FERRY_API int ferry_list_insert(ferry_list *l, uint64_t pos, const void *data, size_t len,
                                int64_t timeout_ns);

/*
 * ferry_list_get: copies the item at `pos` into buf; returns its length.
 * Errors: -ERANGE (pos >= length), -EMSGSIZE (the item is longer than cap:
 * nothing copied), -ENOTRECOVERABLE, FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_list_get(ferry_list *l, uint64_t pos, void *buf, size_t cap,
                                 int64_t timeout_ns);

/*
 * ferry_list_set: replaces the item at `pos`.
 * Errors: -ERANGE, -EMSGSIZE (len > max_item), -ENOTRECOVERABLE,
 * FERRY_ECORRUPT.
 */
FERRY_API int ferry_list_set(ferry_list *l, uint64_t pos, const void *data, size_t len,
                             int64_t timeout_ns);

/*
 * ferry_list_pop: removes the item at `pos`, copying it into buf (buf may
 * be NULL with cap 0 to drop it); returns its length.
 * Errors: -ERANGE, -EMSGSIZE (longer than cap: nothing removed),
 * -ENOTRECOVERABLE, FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_list_pop(ferry_list *l, uint64_t pos, void *buf, size_t cap,
                                 int64_t timeout_ns);

/*
 * ferry_list_replace_all: makes the list items[0..n) (n may be 0),
 * atomically: others see the old list or the new one.
 * Errors: -EMSGSIZE, -ENOSPC (n > capacity), -ENOTRECOVERABLE,
 * FERRY_ECORRUPT. Nothing changes on error.
 */
FERRY_API int ferry_list_replace_all(ferry_list *l, const ferry_list_item *items, size_t n,
                                     int64_t timeout_ns);

/* ferry_list_clear: removes every item. 0, -ENOTRECOVERABLE or
 * FERRY_ECORRUPT. */
FERRY_API int ferry_list_clear(ferry_list *l, int64_t timeout_ns);

/*
 * ferry_list_copy: copies the items at positions [start, start + n) that
 * exist, as one consistent snapshot, into buf as consecutive records of a
 * 4-byte native-endian length followed by the item's bytes. Returns the
 * bytes written; *count (may be NULL) gets the number of items.
 * Errors: -ENOBUFS (cap too small: nothing meaningful written; at most
 * n * (4 + max_item) bytes are ever needed), -ENOTRECOVERABLE,
 * FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_list_copy(ferry_list *l, uint64_t start, uint64_t n, void *buf, size_t cap,
                                  uint64_t *count, int64_t timeout_ns);

typedef struct ferry_list_stats {
  uint64_t len, capacity, max_item;
  uint64_t changes; /* changes made since creation */
  uint64_t repairs; /* rebuilds after a lock holder died */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero [abi-growth] */
} ferry_list_stats;

/* Wait-free reads of the counters (no lock): a snapshot. Returns 0, or
 * FERRY_ECORRUPT if the length is impossible. */
FERRY_API int ferry_list_stats_get(const ferry_list *l, ferry_list_stats *out);

/*
 * ferry_list_stat: opens list `name` as an observer (without registering:
 * nothing about the list changes), fills *out as ferry_list_stats_get()
 * would, and closes it. For tools such as `ferry info` and `ferry top`.
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * FERRY_ECORRUPT.
 */
FERRY_API int ferry_list_stat(const char *name, ferry_list_stats *out);

/*
 * ferry_list_validate: takes the lock and checks the header, the state
 * word, every index entry (in range, no slot twice), the free stack (in
 * range, disjoint from the index, everything accounted for) and every
 * item's length. Returns 0, FERRY_ECORRUPT or a lock error.
 */
FERRY_API int ferry_list_validate(ferry_list *l, int64_t timeout_ns);

/* The region under the list. Valid as long as the handle. */
FERRY_API ferry_region *ferry_list_region(const ferry_list *l);

FERRY_EXTERN_C_END

#endif /* FERRY_LIST_H */
