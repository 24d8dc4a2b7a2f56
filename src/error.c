/* SPDX-License-Identifier: MIT */
/*
 * error.c: ferry_strerror(), generated from the table in ferry/error.h so a
 * code and its message are written down once.
 */
#include <string.h>

#include "ferry/error.h"

const char *ferry_strerror(int err)
{
  if (err == 0)
    return "success";
  switch (err) {
#define FERRY__ERR_CASE(name, num, msg)                                        \
  case FERRY_##name:                                                           \
    return msg;
    FERRY_ERROR_TABLE(FERRY__ERR_CASE)
#undef FERRY__ERR_CASE
  default:
    break;
  }
  if (err < 0 && err > -FERRY_ERR_BASE) {
    /* strerrordesc_np is thread- and signal-safe, unlike strerror. */
    const char *s = strerrordesc_np(-err);
    if (s)
      return s;
  }
  return "unknown error";
}
