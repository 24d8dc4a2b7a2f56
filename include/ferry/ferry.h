/* SPDX-License-Identifier: MIT */
/*
 * ferry/ferry.h: the umbrella header. Including it gives the whole public
 * API; each module's header can also be included alone.
 */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#include "common.h"
#include <ferry/version.h> /* generated: found by the include path */
#include "error.h"
#include "region.h"
#include "sync.h"
#include "array.h"
#include "bus.h"
#include "queue.h"
#include "pipe.h"
#include "heap.h"
#include "dict.h"
#include "pool.h"
#include "redis.h"
#include "list.h"

#endif /* FERRY_FERRY_H */
