/* SPDX-License-Identifier: MIT */
/*
 * ferry/redis.h: the same queue, heap, dict and bus on a Redis server, for
 * programs that outgrow one machine. A name selects the backend:
 *
 *   redis://HOST[:PORT]/NAME          e.g. "redis://10.0.0.5:6379/jobs"
 *   unix:///path/to/redis.sock/NAME   e.g. "unix:///run/redis/redis.sock/jobs"
 *
 * HOST is a DNS name, a dotted IPv4 address or [an IPv6 address]; PORT
 * defaults to 6379; NAME follows the region rules ([A-Za-z0-9._-], 1 to
 * FERRY_NAME_MAX characters). Anything else is -EINVAL, with nothing
 * changed. ferry_queue_open("redis://10.0.0.5/jobs", ...) then works as
 * ferry_queue_open("jobs", ...) does, with the same calls and error codes;
 * docs/design/redis.md lists every difference. In short:
 *
 *   - Delivery is at least once. A message (or heap record) taken by a
 *     consumer is held under a lease that the handle renews in the
 *     background while its process lives, however long the work takes. It
 *     is acknowledged (and deleted) by the handle's next get/get_many/peek
 *     (heap: next pop or push), by release, or by close. If the process
 *     dies first, the lease expires and the message is delivered again;
 *     after max_deliveries deliveries it goes to the dead-letter stream
 *     with its reason instead.
 *   - Zero-copy calls work with a copy: reserve gives a buffer of the
 *     handle's, commit sends it; peek lends a copy held by the handle until
 *     release (which acknowledges it); bus loan/next lend a frame buffer of
 *     the handle's.
 *   - Network errors are negative errnos: -ECONNREFUSED (no server),
 *     -ETIMEDOUT, -ECONNRESET (the connection broke and the outcome is
 *     unknown after retrying until the deadline), -EHOSTUNREACH, ... Each
 *     handle has one connection (its lease keeper thread has its own) and
 *     reconnects with backoff; a call waits no longer than its timeout,
 *     except that every round trip is allowed at least 250 ms (so a call
 *     with timeout 0 makes one attempt of up to 250 ms; a transfer that
 *     needs longer needs a timeout that long), and at most 5 s before the
 *     connection counts as broken and is made again.
 *   - Calls about the region (ferry_*_region()) return NULL.
 *
 * The backend is a separate library, libferry-redis.so (it links hiredis);
 * libferry loads it on the first such name. Without it those names give
 * -ENOTSUP, and ferry_redis_status() says why.
 *
 * Concurrency: the functions here are thread-safe. Handles follow their
 * object's header.
 */
#ifndef FERRY_REDIS_H
#define FERRY_REDIS_H

#include <stdint.h>
#include <sys/types.h>

#include "common.h"

FERRY_EXTERN_C_BEGIN

struct ferry_queue_options;
struct ferry_heap_options;
struct ferry_queue;
struct ferry_heap;

enum {
  /* No leases: a get removes the message for good (at most once), from a
   * Redis list; the fastest path. Queue and heap. */
  FERRY_REDIS_NO_LEASE = 1u << 0,
};

#define FERRY_REDIS_LEASE_DEFAULT_NS (5 * FERRY_SEC)
#define FERRY_REDIS_LEASE_MIN_NS (20 * FERRY_MSEC)
#define FERRY_REDIS_LEASE_MAX_NS (24 * 3600 * FERRY_SEC)
#define FERRY_REDIS_MAX_DELIVERIES_DEFAULT 5

typedef struct ferry_redis_options {
  /* Queue and heap: how long a taken message stays reserved for its
   * consumer without a renewal. The handle renews it every quarter lease
   * while its process lives; a dead consumer's messages are delivered again
   * after at most one lease. Also the presence period: a producer silent
   * for a lease counts as gone. 20 ms..24 h, default 5 s. */
  int64_t lease_ns;
  /* Queue: deliveries before a message goes to the dead-letter stream
   * instead; 0 for no limit. Default 5. */
  uint32_t max_deliveries;
  uint32_t flags; /* FERRY_REDIS_NO_LEASE */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_redis_options;

/* Fills *o with the defaults. */
FERRY_API void ferry_redis_options_init(ferry_redis_options *o);

/*
 * ferry_redis_queue_create / ferry_redis_heap_create: ferry_queue_create()
 * and ferry_heap_create() with the Redis options (ro may be NULL for the
 * defaults, as the plain calls use). name must be a Redis name, and ro's
 * reserved words zero (-EINVAL otherwise, nothing created).
 */
FERRY_API int ferry_redis_queue_create(const char *name, const struct ferry_queue_options *o,
                                       const ferry_redis_options *ro, struct ferry_queue **out);
FERRY_API int ferry_redis_heap_create(const char *name, const struct ferry_heap_options *o,
                                      const ferry_redis_options *ro, struct ferry_heap **out);

/* 1 if name selects the Redis backend (by its scheme: "redis://" or
 * "unix://"), 0 otherwise. Does not load anything. */
FERRY_API int ferry_is_redis_name(const char *name);

/* 0 if name is a valid Redis object name, -EINVAL if not, -ENOTSUP if
 * the backend, which checks it, is not installed. */
FERRY_API int ferry_redis_name_valid(const char *name);

/* Loads the backend if it is not yet: 0, or -ENOTSUP if it is not
 * installed. */
FERRY_API int ferry_redis_load(void);

/* A sentence about the backend: where it was loaded from, why it could not
 * be, or that it was not needed yet. Static storage. */
FERRY_API const char *ferry_redis_status(void);

/* What ferry_redis_queue_info_get() tells beyond ferry_queue_stats. */
typedef struct ferry_redis_queue_info {
  uint64_t depth;          /* messages in the queue: waiting plus held */
  uint64_t held;           /* delivered, not yet acknowledged */
  uint64_t dead;           /* messages in the dead-letter stream */
  uint64_t dead_total;     /* messages ever dead-lettered */
  uint64_t reclaimed;      /* deliveries after an expired lease */
  uint64_t puts, gets;     /* messages put; deliveries */
  uint32_t producers;      /* producer handles present */
  uint32_t consumers;      /* consumer handles present */
  int64_t lease_ns;
  uint32_t max_deliveries; /* 0: no limit */
  uint32_t flags;          /* FERRY_REDIS_NO_LEASE */
  int shutdown;
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zeroed: room to grow [abi-growth] */
} ferry_redis_queue_info;

/* ferry_redis_queue_info_get: the state of queue `name` on its server. */
FERRY_API int ferry_redis_queue_info_get(const char *name, ferry_redis_queue_info *out);

/* One message of the dead-letter stream. */
typedef struct ferry_redis_dead_letter {
  const void *data; /* the message (in the caller's buffer) */
  size_t len;
  uint64_t deliveries;
  char reason[160]; /* why it was dead-lettered */
} ferry_redis_dead_letter;

/*
 * ferry_redis_queue_dead: reads (without removing) up to n of the oldest
 * dead letters of queue `name`: out[i].data points into buf (cap bytes in
 * all). Returns how many; a letter that does not fit in what is left of
 * buf stops the list there (-EMSGSIZE if it is the first).
 */
FERRY_API ssize_t ferry_redis_queue_dead(const char *name, ferry_redis_dead_letter *out,
                                         void *buf, size_t cap, size_t n);

/* An object on a server, for listings. */
typedef struct ferry_redis_entry {
  char name[FERRY_NAME_MAX + 1];
  uint32_t kind; /* ferry_kind */
} ferry_redis_entry;

/*
 * ferry_redis_list: the ferry objects on server `server` ("redis://HOST[:PORT]"
 * or "unix:///path/redis.sock"): fills up to cap entries and returns how
 * many there are (may exceed cap).
 */
FERRY_API ssize_t ferry_redis_list(const char *server, ferry_redis_entry *out, size_t cap);

FERRY_EXTERN_C_END

#endif /* FERRY_REDIS_H */
