/* SPDX-License-Identifier: MIT */
/*
 * abi.h: the library's side of [abi-growth] (ferry/common.h): the check
 * that an options struct's reserved words are zero. Never installed.
 */
#ifndef FERRY_ABI_H
#define FERRY_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/common.h"

/* Whether the n reserved words at w are all zero. */
static inline bool ferry__reserved_zero(const uint64_t *w, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (w[i])
      return false;
  return true;
}

/* Whether options struct *o (with its reserved tail) may be used. The
 * tail is FERRY_RESERVED_WORDS long, less the words later fields took. */
#define FERRY__RESERVED_OK(o)                                                                  \
  ferry__reserved_zero((o)->reserved, sizeof((o)->reserved) / sizeof((o)->reserved[0]))

#endif /* FERRY_ABI_H */
