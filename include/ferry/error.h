/* SPDX-License-Identifier: MIT */
/*
 * ferry/error.h: the error convention.
 *
 * Every fallible call returns int: 0 on success, or a negative errno on
 * failure (calls that count return ssize_t, negative on failure). Where a
 * standard errno fits it is used: -EAGAIN, -ETIMEDOUT, -EPIPE, -EMSGSIZE,
 * -EOWNERDEAD, -ENOENT, -EEXIST, -EINVAL, -EOVERFLOW, -EUSERS, -EACCES.
 * Failures only ferry can have get codes in a reserved range that no errno
 * reaches: FERRY_ERR_BASE and up, negated like errnos. One X-macro table
 * below defines them and their messages.
 *
 * On failure a call leaves its outputs untouched and changes nothing.
 *
 * Concurrency: ferry_strerror() is wait-free and may be called from any
 * thread or signal handler; it returns static strings.
 */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include "common.h"

FERRY_EXTERN_C_BEGIN

/* No errno reaches this (Linux stops below 200). */
#define FERRY_ERR_BASE 4000

/* X(name, number, message): the ferry-only error codes. */
#define FERRY_ERROR_TABLE(X)                                                  \
  X(EBADMAGIC, 1, "not a ferry region (bad magic number)")                    \
  X(EVERSION, 2, "region has an incompatible layout version")                 \
  X(ETRUNCATED, 3, "region is truncated or smaller than its header says")     \
  X(EKIND, 4, "region holds a different kind of object")                      \
  X(ECORRUPT, 5, "region is corrupted (an impossible value in it)")          \
  X(EINCOMPLETE, 6, "region was never initialised: its creator died")         \
  X(ENOTOWNER, 7, "this process does not own the lock")                      \
  X(EFORKED, 8, "handle belongs to the process that opened it (inherited "   \
                "through fork): open the object again in this process")       \
  X(EUNTRUSTED, 9, "region file is owned by another user (open it with "      \
                   "FERRY_OPEN_ANY_OWNER to accept that)")

enum ferry_error {
#define FERRY__ERR_ENUM(name, num, msg) FERRY_##name = -(FERRY_ERR_BASE + (num)),
  FERRY_ERROR_TABLE(FERRY__ERR_ENUM)
#undef FERRY__ERR_ENUM
  FERRY_OK = 0
};

/*
 * ferry_strerror: a message for any return code of the library: a negative
 * errno, a FERRY_E* code, or 0. Never NULL; unknown codes give
 * "unknown error". The string is static: do not free it.
 */
FERRY_API const char *ferry_strerror(int err);

FERRY_EXTERN_C_END

#endif /* FERRY_ERROR_H */
