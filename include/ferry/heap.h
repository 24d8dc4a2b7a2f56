/* SPDX-License-Identifier: MIT */
/*
 * ferry/heap.h: a shared priority queue of records in one region
 * (FERRY_KIND_HEAP). Each record is a key plus a byte payload of up to
 * max_payload bytes. The pusher computes the key (seed 003's "comparator":
 * e.g. length * width * height), so no code runs inside the heap.
 *
 * Order is chosen at creation: FERRY_HEAP_MIN pops the smallest key first,
 * FERRY_HEAP_MAX the largest. Among equal keys, pops are FIFO: ties break
 * by a 64-bit insertion sequence. Keys are int64, double or byte strings,
 * chosen at creation. For int64 and double heaps ferry_heap_key holds
 * either (use the member the heap was created with); -0.0 and 0.0 are the
 * same key; NaN is refused (-EINVAL). Byte-string keys (up to max_key
 * bytes) sort in lexicographic order, so a composite key such as a tuple
 * is packed field by field, big-endian (see FERRY_HEAP_KEY_BYTES and the
 * _ex calls).
 *
 * Capacity. The heap holds `capacity` records and grows as needed up to
 * `max_capacity`; past it a push is -ENOSPC. FERRY_HEAP_FIXED makes
 * `capacity` the limit. The region is sized for max_capacity records,
 * twice (see replace_all): docs/design/heap.md [heap-capacity].
 *
 * replace_all swaps in a whole new set of records atomically: a pop sees
 * either the old set (with whatever pushes and pops came before the swap)
 * or the new one (with whatever came after), never a mixture. The new set
 * is built aside without blocking poppers; only the swap takes the lock.
 * Each set has a generation; a worker that pops a record and pushes it
 * back with push_ex and the generation it got is refused (-ESTALE) if the
 * set was replaced meanwhile [heap-gen].
 *
 * Timeouts follow common.h: 0 tries once (-EAGAIN), FERRY_FOREVER waits,
 * > 0 waits at most that long (-ETIMEDOUT), < 0 is -EINVAL. Every call
 * that can wait takes a timeout, or (peek, pop with timeout 0) waits for
 * the lock at most two liveness periods of the region. A popper on an
 * empty heap sleeps on an event count in slices of half the region's
 * liveness_ns; pushers make a system call only when a popper sleeps.
 *
 * Concurrency:
 *
 *   Progress.
 *     call                        guarantee
 *     --------------------------  -------------------------------------------
 *     push, pop/peek (timeout 0)  blocking on the heap lock (a robust lock
 *                                 whose holder is a participant of the
 *                                 region): uncontended one CAS to lock, one
 *                                 to unlock, no system call; O(log n) work
 *                                 under it (byte keys: comparisons that tie
 *                                 on the first 8 bytes read the slots)
 *     pop with a timeout          blocking: sleeps on an event count while
 *                                 empty
 *     size, generation            wait-free (two loads)
 *     clear                       blocking on the lock, O(1)
 *     replace_all                 blocking on the replace lock, O(n) outside
 *                                 the heap lock, O(1) under it
 *     validate                    blocking on the lock, O(n)
 *     (after a dead lock holder)  the next locker rebuilds the index: O(hw)
 *
 *   Overlap. Any call may overlap any other on *different* handles, in the
 *   same or other processes. Calls on one handle may overlap too (a handle
 *   holds no per-call state), except close. replace_all calls serialise
 *   among themselves.
 *
 *     call          push  pop/peek  clear  replace_all  size/generation
 *     push           yes    yes      yes       yes           yes
 *     pop/peek       yes    yes      yes       yes           yes
 *     clear          yes    yes      yes       yes           yes
 *     replace_all    yes    yes      yes    serialised       yes
 *     (each is atomic: a pop or push lands wholly before or after a clear
 *     or a swap)
 *
 *   Death of a peer in mid-call [docs/design/heap.md]:
 *     - a pusher killed at any instruction either pushed its record whole
 *       or not at all; a popper killed at any instruction either left its
 *       record in the heap or took it (lost with it). Nothing torn, nothing
 *       duplicated.
 *     - a process killed holding the heap lock blocks nobody for longer
 *       than half the region's liveness_ns: the next locker sees by the
 *       holder's participant slot that it is gone (the kernel drops its
 *       slot lock at death or exec, in any PID namespace), takes the lock
 *       over and rebuilds the heap index from the record slots, which are
 *       the ground truth [heap-rebuild] [rlock-takeover].
 *     - a clear killed midway leaves the old set (with a newer generation)
 *       or nothing.
 *     - a replace_all killed while building leaves the old set in place; one
 *       killed in the swap leaves the old or the new set, whole.
 *     - a popper killed while asleep leaves the event count's sleeper bit,
 *       which the next push clears with one FUTEX_WAKE; nothing stays high.
 *
 *   Shared memory is untrusted: an impossible count, index or length read
 *   from the region is FERRY_ECORRUPT, never an access outside it
 *   [heap-untrusted].
 */
#ifndef FERRY_HEAP_H
#define FERRY_HEAP_H

#include <sys/types.h>

#include "common.h"
#include "region.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_heap ferry_heap;

/* A key: the member the heap was created with (ferry_heap_options.key_type). */
typedef union ferry_heap_key {
  int64_t i64;
  double f64;
} ferry_heap_key;

enum {
  FERRY_HEAP_MIN = 0, /* smallest key pops first (the default) */
  FERRY_HEAP_MAX = 1, /* largest key pops first */
};

enum {
  FERRY_HEAP_KEY_INT64 = 0, /* the default */
  FERRY_HEAP_KEY_DOUBLE = 1,
  /* Byte strings of 0..max_key bytes, in lexicographic (memcmp) order, a
   * prefix before its extensions: pack a composite key (a tuple) field by
   * field, big-endian, and it sorts field by field. Use the _ex calls. */
  FERRY_HEAP_KEY_BYTES = 2,
};

enum {
  /* capacity is the limit: never grow (push gives -ENOSPC when full). */
  FERRY_HEAP_FIXED = 1u << 0,
};

#define FERRY_HEAP_CAPACITY_DEFAULT 1024
/* With max_capacity 0: capacity times this, capped at the maximum. */
#define FERRY_HEAP_GROWTH_DEFAULT 64
#define FERRY_HEAP_MAX_CAPACITY (UINT64_C(1) << 26)
#define FERRY_HEAP_PAYLOAD_DEFAULT 64
#define FERRY_HEAP_MAX_PAYLOAD (UINT32_C(1) << 20)
#define FERRY_HEAP_KEY_BYTES_DEFAULT 32
#define FERRY_HEAP_MAX_KEY 4096

typedef struct ferry_heap_options {
  ferry_region_options region; /* mode, flags, table size, role, liveness */
  uint32_t order;              /* FERRY_HEAP_MIN or FERRY_HEAP_MAX */
  uint32_t key_type;           /* FERRY_HEAP_KEY_INT64 or _DOUBLE */
  uint32_t flags;              /* FERRY_HEAP_FIXED */
  uint32_t max_payload;        /* bytes per record, 0..FERRY_HEAP_MAX_PAYLOAD; default 64 */
  uint64_t capacity;           /* records, 1..FERRY_HEAP_MAX_CAPACITY; default 1024 */
  uint64_t max_capacity;       /* records, capacity..MAX; 0 = capacity * 64
                                  (capped); ignored with FERRY_HEAP_FIXED */
  uint32_t max_key;            /* FERRY_HEAP_KEY_BYTES: the longest key,
                                  0..FERRY_HEAP_MAX_KEY bytes, 0 = 32;
                                  ignored for the other key types */
  uint32_t reserved0;          /* zero */
  /* zero: room to grow [abi-growth] (max_key and reserved0 took a word) */
  uint64_t reserved[FERRY_RESERVED_WORDS - 1];
} ferry_heap_options;

/* Fills *o with the defaults. */
FERRY_API void ferry_heap_options_init(ferry_heap_options *o);

/*
 * ferry_heap_create: creates heap `name` and registers this process. o may
 * be NULL (defaults). On success *out owns the handle: release it with
 * ferry_heap_close().
 * Errors: -EINVAL (bad name or option), -EEXIST, -EOVERFLOW (too big),
 * -ENOSPC / -ENOMEM (no memory for the region), -EACCES.
 */
FERRY_API int ferry_heap_create(const char *name, const ferry_heap_options *o, ferry_heap **out);

/*
 * ferry_heap_open: opens heap `name`. o may be NULL; FERRY_OPEN_OBSERVE is
 * refused (-EINVAL).
 * Errors: those of ferry_region_open() (FERRY_EKIND for another kind),
 * FERRY_ECORRUPT (the heap header does not check out).
 */
FERRY_API int ferry_heap_open(const char *name, const ferry_open_options *o, ferry_heap **out);

/* ferry_heap_close: deregisters and unmaps. Accepts NULL. */
FERRY_API void ferry_heap_close(ferry_heap *h);

/*
 * ferry_heap_push: copies a record (key, len bytes of data) in. Waits up
 * to timeout_ns for the heap's lock (held for microseconds by others, or
 * by a holder that died until it is taken over).
 * Errors: -EMSGSIZE (len > max_payload), -ENOSPC (full), -EINVAL (NaN
 * key, a FERRY_HEAP_KEY_BYTES heap, negative timeout), -EAGAIN (lock
 * busy, timeout 0), -ETIMEDOUT, FERRY_ECORRUPT, FERRY_EFORKED (a handle
 * inherited through fork; every call gives it). Nothing is pushed on
 * error.
 */
FERRY_API int ferry_heap_push(ferry_heap *h, ferry_heap_key key, const void *data, size_t len,
                              int64_t timeout_ns);

/*
 * ferry_heap_pop: removes the first record (per the order, FIFO among
 * equal keys), copies its payload into buf and its key into *key (key may
 * be NULL). Returns the payload length. A payload larger than cap is left
 * in the heap: -EMSGSIZE.
 * Errors: -EAGAIN (empty, timeout 0), -ETIMEDOUT, -EMSGSIZE, -EINVAL
 * (negative timeout; key != NULL on a byte-key heap), FERRY_ECORRUPT.
 */
FERRY_API ssize_t ferry_heap_pop(ferry_heap *h, ferry_heap_key *key, void *buf, size_t cap,
                                 int64_t timeout_ns);

/* ferry_heap_peek: as pop with timeout 0, but leaves the record in place.
 * -EAGAIN when empty. Like a pop with timeout 0, it waits for the heap's
 * lock for at most two liveness periods of the region (long enough to take
 * over from a holder that died), then -ETIMEDOUT. */
FERRY_API ssize_t ferry_heap_peek(ferry_heap *h, ferry_heap_key *key, void *buf, size_t cap);

/* ferry_heap_size: records in the heap at some instant during the call, or
 * FERRY_ECORRUPT if the count in shared memory is impossible. */
FERRY_API ssize_t ferry_heap_size(const ferry_heap *h);

/* ferry_heap_clear: removes every record, in O(1). Returns 0, or the lock
 * errors of push. */
FERRY_API int ferry_heap_clear(ferry_heap *h, int64_t timeout_ns);

/* One record of a replace_all. */
typedef struct ferry_heap_record {
  ferry_heap_key key;
  const void *data;
  size_t len;
} ferry_heap_record;

/*
 * ferry_heap_replace_all: atomically replaces every record with recs[0..n)
 * (n may be 0). Equal keys pop in array order. Every record is checked
 * first: -EMSGSIZE / -EINVAL (NaN) / -ENOSPC (n above the limit) change
 * nothing. Pushes that overlap the call land in the old set (and vanish
 * with it) or in the new one. Wakes every sleeping popper. timeout_ns
 * bounds the wait for the locks, as in push.
 * Errors: those above, and the lock errors of push.
 */
FERRY_API int ferry_heap_replace_all(ferry_heap *h, const ferry_heap_record *recs, size_t n,
                                     int64_t timeout_ns);

/* ---- byte-string keys and generations -------------------------------------
 *
 * Keys as bytes. The _ex calls take and give every key as bytes: for a
 * FERRY_HEAP_KEY_BYTES heap the key itself (0..max_key bytes; longer is
 * -E2BIG); for an int64 or double heap the 8 bytes of an int64_t or a
 * double in native order (klen must be 8, else -EINVAL). The calls above
 * that take a ferry_heap_key refuse a BYTES heap with -EINVAL (pop and peek
 * accept it with key == NULL).
 *
 * Generations [heap-gen]. The records in the heap form a set, and each set
 * has a generation: 1 for a new heap, and a new one (larger) after every
 * replace_all and every clear. A pop tells which generation its record came
 * from; a push that passes that generation back is refused with -ESTALE if
 * the set was replaced (or cleared) since, so a worker that pops a record,
 * works on it and pushes it back cannot leak it into a set that replaced
 * the one it came from. FERRY_HEAP_GEN_ANY pushes into whatever set is
 * there.
 */
#define FERRY_HEAP_GEN_ANY UINT64_C(0)

/*
 * ferry_heap_push_ex: as ferry_heap_push(), with the key as bytes; if gen
 * is not FERRY_HEAP_GEN_ANY, only while the heap's generation is still
 * gen. Errors: those of push, -E2BIG (key longer than max_key), -ESTALE
 * (the set was replaced or cleared after gen; nothing is pushed).
 */
FERRY_API int ferry_heap_push_ex(ferry_heap *h, const void *key, size_t klen, const void *data,
                                 size_t len, uint64_t gen, int64_t timeout_ns);

/*
 * ferry_heap_pop_ex: as ferry_heap_pop(): copies the first record's key
 * into key[0..kcap) (*klen gets its length; both may be NULL/0 to skip the
 * key), its payload into buf, and its set's generation into *gen (may be
 * NULL). A key longer than kcap or a payload longer than cap leaves the
 * record in place: -EMSGSIZE. Returns the payload length.
 */
FERRY_API ssize_t ferry_heap_pop_ex(ferry_heap *h, void *key, size_t kcap, size_t *klen,
                                    void *buf, size_t cap, uint64_t *gen, int64_t timeout_ns);

/* ferry_heap_peek_ex: as pop_ex with timeout 0, leaving the record in
 * place (and waiting for the lock as ferry_heap_peek() does). */
FERRY_API ssize_t ferry_heap_peek_ex(ferry_heap *h, void *key, size_t kcap, size_t *klen,
                                     void *buf, size_t cap, uint64_t *gen);

/* One record of a replace_all_ex. */
typedef struct ferry_heap_record_ex {
  const void *key;
  size_t klen;
  const void *data;
  size_t len;
} ferry_heap_record_ex;

/*
 * ferry_heap_replace_all_ex: as ferry_heap_replace_all(), with keys as
 * bytes. *gen (may be NULL) gets the generation of the new set. Errors:
 * those of replace_all, -E2BIG.
 */
FERRY_API int ferry_heap_replace_all_ex(ferry_heap *h, const ferry_heap_record_ex *recs,
                                        size_t n, uint64_t *gen, int64_t timeout_ns);

/*
 * ferry_heap_generation: the generation of the heap's set of records at
 * some instant during the call. Wait-free. 0 or FERRY_ECORRUPT (an
 * impossible value in shared memory), FERRY_EFORKED.
 */
FERRY_API int ferry_heap_generation(ferry_heap *h, uint64_t *gen);

typedef struct ferry_heap_stats {
  uint64_t size, capacity, max_capacity, max_payload;
  uint64_t pushes, pops, replaces;
  uint64_t repairs;  /* index rebuilds after a lock holder died */
  uint32_t key_type; /* FERRY_HEAP_KEY_INT64, _DOUBLE or _BYTES, as created */
  uint32_t order;    /* FERRY_HEAP_MIN or FERRY_HEAP_MAX, as created */
  uint32_t waiters;  /* 1 if a popper announced it sleeps on the empty heap
                        (one that died asleep shows until the next push),
                        else 0: poppers are not counted [heap-wake] */
  uint32_t pad;      /* zero */
  /* Shared memory: the bytes of the object that are committed (reserved in
   * /dev/shm: the header and the slots each of the two areas has grown
   * into, which never shrinks), and those the records held now need (the
   * header and size slots). A heap commits in steps as it grows, so
   * committed stays within about twice the most it ever held.
   * [abi-growth: took the first two reserved words] */
  uint64_t committed_bytes, used_bytes;
  uint64_t reserved[FERRY_RESERVED_WORDS - 2]; /* zero [abi-growth] */
} ferry_heap_stats;

/* The heap's statistics, key type and order. Wait-free. */
FERRY_API int ferry_heap_stats_get(ferry_heap *h, ferry_heap_stats *out);

/*
 * ferry_heap_stat: opens heap `name` as an observer (without registering:
 * nothing about the heap changes), fills *out as ferry_heap_stats_get()
 * would, and closes it. For tools such as `ferry info` and `ferry top`.
 * Every field is read once and checked. Errors: those of
 * ferry_region_open() (FERRY_EKIND for another kind), FERRY_ECORRUPT.
 */
FERRY_API int ferry_heap_stat(const char *name, ferry_heap_stats *out);

/*
 * ferry_heap_validate: takes the lock and checks everything: the header,
 * every index in range, every entry matching a live slot exactly once,
 * the free stack, and the heap property (parent <= child by key then
 * sequence). Returns 0, FERRY_ECORRUPT, or a lock error (see push).
 */
FERRY_API int ferry_heap_validate(ferry_heap *h, int64_t timeout_ns);

/* The region under the heap. Valid as long as the handle. */
FERRY_API ferry_region *ferry_heap_region(const ferry_heap *h);

FERRY_EXTERN_C_END

#endif /* FERRY_HEAP_H */
