/* SPDX-License-Identifier: MIT */
/*
 * rtest.h: helpers shared by the Redis backend's tests that use the
 * backend's operations table directly (the backend is linked in).
 */
#ifndef FERRY_TEST_RTEST_H
#define FERRY_TEST_RTEST_H

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "robj.h"
#include "rserver.h"
#include "test.h"

/* The server every test of the binary uses. */
extern struct rs_server srv;

/* A fresh object name on srv: "unix://.../t-<tag>-<pid>-<n>". */
static inline const char *rname(char *buf, size_t cap, const char *tag)
{
  char n[64];
  ft_name(n, sizeof n, tag);
  return rs_url(&srv, buf, cap, n);
}

static inline long long rt_calls(const char *cmd) { return rs_calls(&srv, cmd); }

#endif /* FERRY_TEST_RTEST_H */
