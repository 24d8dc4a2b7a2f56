/* SPDX-License-Identifier: MIT */
/*
 * ferry/common.h: definitions every ferry header shares: the export macro,
 * the timeout convention and the common open options.
 *
 * Timeouts. Every call that can wait takes `int64_t timeout_ns`:
 *   0               try once and return -EAGAIN (or -ETIMEDOUT where the
 *                   call documents it) instead of waiting;
 *   FERRY_FOREVER   wait without a deadline;
 *   > 0             wait at most this many nanoseconds (CLOCK_MONOTONIC);
 *   < 0             -EINVAL.
 * A few calls still wait for a lock that another process holds, with 0 or
 * with no timeout of their own, for at most two liveness periods of the
 * region (long enough to take it over from a holder that died): a heap's
 * pop and peek, a dict's get and next. Their headers say so.
 * A wait that has no deadline still never blocks forever on a dead process:
 * each object watches its peers' liveness (see region.h).
 *
 * Concurrency: this header declares types and constants only, no calls.
 */
#ifndef FERRY_COMMON_H
#define FERRY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(FERRY_BUILDING)
#define FERRY_API __attribute__((visibility("default")))
#else
#define FERRY_API
#endif

#ifdef __cplusplus
#define FERRY_EXTERN_C_BEGIN extern "C" {
#define FERRY_EXTERN_C_END }
#else
#define FERRY_EXTERN_C_BEGIN
#define FERRY_EXTERN_C_END
#endif

/* Block without a deadline (see the timeout convention above). */
#define FERRY_FOREVER INT64_MAX

/* Handy constants for timeouts. */
#define FERRY_MSEC INT64_C(1000000)
#define FERRY_SEC INT64_C(1000000000)

/*
 * [abi-growth] Every options struct and every statistics struct ends with
 * `uint64_t reserved[FERRY_RESERVED_WORDS]`: room for the fields a later
 * version adds, so that they can be added without changing the struct's
 * size, hence without breaking the ABI (docs/design/abi.md).
 *   - Options: the *_options_init() functions zero it, and the calls that
 *     take options refuse (-EINVAL) a struct whose reserved words are not
 *     all zero. A field added later takes the place of a reserved word and
 *     means "as before" when zero, so an old program gets the old
 *     behaviour, and a new program on an old library gets a clear error
 *     instead of an option silently ignored.
 *   - Statistics: the library zeroes the reserved words; a counter added
 *     later takes the place of one. A program must not read them.
 * When the room runs out, the struct grows and the soname changes.
 */
#define FERRY_RESERVED_WORDS 4

/* Names of regions: [A-Za-z0-9._-], 1 to FERRY_NAME_MAX characters. */
#define FERRY_NAME_MAX 200

#endif /* FERRY_COMMON_H */
