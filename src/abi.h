/* SPDX-License-Identifier: MIT */
/*
 * abi.h: the library's side of [abi-growth] (ferry/common.h): the check
 * that an options struct's reserved words are zero. Never installed.
 */
#ifndef FERRY_ABI_H
#define FERRY_ABI_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/common.h"

/* Whether the reserved words at w are all zero. */
static inline bool ferry__reserved_zero(const uint64_t *w)
{
  for (int i = 0; i < FERRY_RESERVED_WORDS; i++)
    if (w[i])
      return false;
  return true;
}

/* Whether options struct *o (with its reserved tail) may be used. */
#define FERRY__RESERVED_OK(o) ferry__reserved_zero((o)->reserved)

#endif /* FERRY_ABI_H */
