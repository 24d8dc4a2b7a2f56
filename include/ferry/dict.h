/* SPDX-License-Identifier: MIT */
/*
 * ferry/dict.h: a shared hash map from byte-string keys to byte-string
 * values in one region (FERRY_KIND_DICT): get (copies out), set,
 * set-if-absent, delete, compare-and-set, atomic update through a callback,
 * size, clear, and a cursor that stays valid while others write.
 *
 * Sizes. Keys are 0..max_key bytes (longer: -E2BIG); values 0..max_value
 * bytes (longer: -EMSGSIZE). A get whose buffer is too small for the value
 * returns -EMSGSIZE and changes nothing.
 *
 * Capacity. The dict holds `capacity` entries and grows as needed, while
 * others keep using it, up to `max_capacity`; past it an insert is
 * -ENOSPC. FERRY_DICT_FIXED makes `capacity` the limit. The region is sized
 * for max_capacity: docs/design/dict.md [dict-capacity].
 *
 * Concurrency:
 *
 *   Progress.
 *     call                      guarantee
 *     ------------------------  ----------------------------------------------
 *     get, next                 lock-free among live writers, no store to
 *                               shared memory, no system call: a seqlock
 *                               read with retry; after many retries against
 *                               a writer that stays inside (or died inside)
 *                               its stripe, falls back to the stripe lock,
 *                               for at most two liveness periods of the
 *                               region (-ETIMEDOUT after)
 *     set, set_nx, del, cas,    blocking on one stripe's lock (1 of
 *     update                    nstripes; a robust lock whose holder is a
 *                               participant of the region): uncontended one
 *                               CAS to lock and one to unlock, no system call
 *     size                      wait-free (nstripes loads, looked at again
 *                               if they sum past the capacity)
 *     clear, validate           blocking on every stripe lock, O(n)
 *     (after a dead writer)     the next locker of that stripe rebuilds it
 *                               from the slots: O(slots)
 *
 *   Overlap. Any call may overlap any other, on the same or different
 *   handles, in any processes, except close of a handle in use. An update
 *   callback runs under the entry's stripe lock: it must not call the dict.
 *
 *     call              get/next  set/del/cas/update  clear  size
 *     get/next            yes           yes            yes    yes
 *     set/del/cas/update  yes     yes (per stripe      yes    yes
 *                                 serialised)
 *     clear               yes           yes            yes    yes
 *     (writers of one stripe take turns; a get sees each change whole)
 *
 *   Death of a peer in mid-call [docs/design/dict.md]:
 *     - a writer killed at any instruction leaves its change done whole or
 *       not at all: each change commits with one store (a slot's state or
 *       value word). Readers never see a torn value. At worst one slot
 *       taken from the never-used pool is leaked per death.
 *     - a writer killed holding a stripe blocks nobody for longer than half
 *       the region's liveness_ns: the next locker sees by the holder's
 *       participant slot that it is gone (the kernel drops its slot lock at
 *       death or exec, in any PID namespace), takes the lock over and
 *       rebuilds the stripe's chains and free list from the slots; readers
 *       stuck on its odd seqlock fall back to that lock [rlock-takeover].
 *     - clear killed midway leaves a subset of the entries removed, each
 *       entry present whole or gone.
 *     - readers and cursors hold nothing: their death affects nobody.
 *
 *   Shared memory is untrusted: an impossible index, length or count read
 *   from the region is FERRY_ECORRUPT (or a racy read retried), never an
 *   access outside it [dict-untrusted].
 */
#ifndef FERRY_DICT_H
#define FERRY_DICT_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_dict ferry_dict;

enum {
  /* capacity is the limit: never grow (-ENOSPC when full). */
  FERRY_DICT_FIXED = 1u << 0,
};

#define FERRY_DICT_CAPACITY_DEFAULT 4096
/* With max_capacity 0: capacity times this, capped at the maximum. */
#define FERRY_DICT_GROWTH_DEFAULT 16
#define FERRY_DICT_MAX_CAPACITY (UINT64_C(1) << 26)
#define FERRY_DICT_KEY_DEFAULT 64
#define FERRY_DICT_VALUE_DEFAULT 128
#define FERRY_DICT_MAX_KEY (UINT32_C(1) << 16)
#define FERRY_DICT_MAX_VALUE (UINT32_C(1) << 24)

typedef struct ferry_dict_options {
  ferry_region_options region; /* mode, flags, table size, role, liveness */
  uint32_t flags;              /* FERRY_DICT_FIXED */
  uint32_t max_key;            /* bytes, 1..FERRY_DICT_MAX_KEY; default 64 */
  uint32_t max_value;          /* bytes, 1..FERRY_DICT_MAX_VALUE; default 128 */
  uint32_t reserved0;          /* zero */
  uint64_t capacity;           /* entries, 1..FERRY_DICT_MAX_CAPACITY; default 4096 */
  uint64_t max_capacity;       /* capacity..MAX; 0 = capacity * 16 (capped);
                                  ignored with FERRY_DICT_FIXED */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_dict_options;

/* Fills *o with the defaults. */
FERRY_API void ferry_dict_options_init(ferry_dict_options *o);

/*
 * ferry_dict_create: creates dict `name` and registers this process. o may
 * be NULL. On success *out owns the handle: release it with
 * ferry_dict_close().
 * Errors: -EINVAL (bad name or option), -EEXIST, -EOVERFLOW, -ENOSPC /
 * -ENOMEM, -EACCES.
 */
FERRY_API int ferry_dict_create(const char *name, const ferry_dict_options *o, ferry_dict **out);

/*
 * ferry_dict_open: opens dict `name`. o may be NULL; FERRY_OPEN_OBSERVE is
 * refused (-EINVAL). Errors: those of ferry_region_open() (FERRY_EKIND for
 * another kind), FERRY_ECORRUPT.
 */
FERRY_API int ferry_dict_open(const char *name, const ferry_open_options *o, ferry_dict **out);

/* ferry_dict_close: deregisters and unmaps. Accepts NULL. */
FERRY_API void ferry_dict_close(ferry_dict *d);

/*
 * ferry_dict_get: copies key's value into buf; returns its length. A
 * reader never blocks writers; it waits for a stripe lock only when a
 * writer stays in (or died in) the middle of a write, and then for at most
 * two liveness periods of the region.
 * Errors: -ENOENT, -EMSGSIZE (value longer than cap; nothing copied that
 * counts), -E2BIG (key too long), -ETIMEDOUT,
 * FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_dict_get(ferry_dict *d, const void *key, size_t klen, void *buf,
                                 size_t cap);

/*
 * Writers (set, set_nx, del, cas, update, clear, validate) wait up to
 * timeout_ns for the stripe locks they need (0 tries once: -EAGAIN;
 * FERRY_FOREVER; a lock whose holder died is taken over and repaired).
 * Besides their own errors they return -EINVAL (negative timeout),
 * -EAGAIN, -ETIMEDOUT, FERRY_ECORRUPT and FERRY_EFORKED (a handle
 * inherited through fork; every call gives it).
 */

/* ferry_dict_set: inserts or replaces. Errors: -E2BIG, -EMSGSIZE, -ENOSPC. */
FERRY_API int ferry_dict_set(ferry_dict *d, const void *key, size_t klen, const void *val,
                             size_t vlen, int64_t timeout_ns);

/* ferry_dict_set_nx: inserts only if absent; -EEXIST otherwise. */
FERRY_API int ferry_dict_set_nx(ferry_dict *d, const void *key, size_t klen, const void *val,
                                size_t vlen, int64_t timeout_ns);

/* ferry_dict_del: removes key. -ENOENT if absent. */
FERRY_API int ferry_dict_del(ferry_dict *d, const void *key, size_t klen, int64_t timeout_ns);

/*
 * ferry_dict_cas: if key's value equals expect[0..elen), replaces it with
 * val[0..vlen) and returns 0; if it differs, returns -EAGAIN and changes
 * nothing; -ENOENT if absent. Plus the size errors of set (-EMSGSIZE also
 * for elen > max_value: no value can be that long).
 */
FERRY_API int ferry_dict_cas(ferry_dict *d, const void *key, size_t klen, const void *expect,
                             size_t elen, const void *val, size_t vlen, int64_t timeout_ns);

/* What an update callback asks for. */
enum {
  FERRY_DICT_KEEP = 0,   /* change nothing */
  FERRY_DICT_SET = 1,    /* store out[0..*out_len) as the value */
  FERRY_DICT_DELETE = 2, /* remove the entry (if present) */
};

/*
 * An update callback: old/old_len are the current value (exists = 0 and
 * old = NULL if absent), valid during the call only. To set, write up to
 * out_cap (= max_value) bytes to out, set *out_len, return FERRY_DICT_SET.
 * A negative return aborts the update with that code, changing nothing.
 */
typedef int (*ferry_dict_update_fn)(const void *old, size_t old_len, int exists, void *out,
                                    size_t out_cap, size_t *out_len, void *arg);

/*
 * ferry_dict_update: runs fn under key's stripe lock and applies its
 * verdict atomically. Returns fn's verdict (>= 0) or an error: fn's
 * negative code, -E2BIG, -EMSGSIZE (*out_len > out_cap), -ENOSPC.
 */
FERRY_API int ferry_dict_update(ferry_dict *d, const void *key, size_t klen,
                                ferry_dict_update_fn fn, void *arg, int64_t timeout_ns);

/* ferry_dict_size: entries at some instant during the call (exact when
 * nobody writes), or FERRY_ECORRUPT if a count in shared memory is
 * impossible. */
FERRY_API ssize_t ferry_dict_size(const ferry_dict *d);

/* ferry_dict_clear: removes every entry. 0 or a lock error. */
FERRY_API int ferry_dict_clear(ferry_dict *d, int64_t timeout_ns);

/*
 * ferry_dict_next: the cursor. Start with *cursor = 0; each call copies
 * the next entry into key/val, sets *klen and *vlen and returns 1, or returns
 * 0 at the end. The cursor stays valid while others write: every entry
 * present for the whole iteration is returned exactly once, whole; entries
 * added or removed meanwhile may or may not be; a key deleted and added
 * again meanwhile may be returned twice. -EMSGSIZE if kcap or vcap is too
 * small (the cursor stays put).
 */
FERRY_API int ferry_dict_next(ferry_dict *d, uint64_t *cursor, void *key, size_t kcap,
                              size_t *klen, void *val, size_t vcap, size_t *vlen);

typedef struct ferry_dict_stats {
  uint64_t size, capacity, max_capacity, max_key, max_value;
  uint64_t slots_used; /* slots ever handed out (live, free or leaked) */
  uint64_t repairs;    /* stripe rebuilds after a writer died */
  uint32_t nstripes;
  uint32_t pad;        /* zero */
  /* Changes made (sets, deletes, updates, clears per stripe), counted
   * from the stripes' seqlock words, which writers bump anyway: reads
   * leave no trace, so they are not counted. Each stripe's count wraps
   * after 2^31 changes: use it for rates over short intervals. */
  uint64_t writes;
  /* Shared memory: the bytes of the object that are committed (reserved in
   * /dev/shm: header, stripes, buckets and the slots handed out or about
   * to be, which never shrinks), and those the entries held now need (the
   * same fixed part and size slots). A dict commits slots in steps as it
   * grows. [abi-growth: took the first two reserved words] */
  uint64_t committed_bytes, used_bytes;
  uint64_t reserved[FERRY_RESERVED_WORDS - 2]; /* zero [abi-growth] */
} ferry_dict_stats;

/* The dict's statistics. Wait-free (a walk over the stripes). */
FERRY_API int ferry_dict_stats_get(ferry_dict *d, ferry_dict_stats *out);

/*
 * ferry_dict_stat: opens dict `name` as an observer (without registering),
 * fills *out as ferry_dict_stats_get() would, and closes it. For tools
 * such as `ferry info` and `ferry top`. Every field is read once and
 * checked. Errors: those of ferry_region_open(), FERRY_ECORRUPT.
 */
FERRY_API int ferry_dict_stat(const char *name, ferry_dict_stats *out);

/*
 * ferry_dict_validate: takes every stripe lock and checks the header,
 * every chain (indices, states, owners, hashes, no cycles, no duplicate
 * keys), every free list, and the counts. Returns 0, FERRY_ECORRUPT or a
 * lock error.
 */
FERRY_API int ferry_dict_validate(ferry_dict *d, int64_t timeout_ns);

/* The region under the dict. Valid as long as the handle. */
FERRY_API ferry_region *ferry_dict_region(const ferry_dict *d);

FERRY_EXTERN_C_END

#endif /* FERRY_DICT_H */
