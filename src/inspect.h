/* SPDX-License-Identifier: MIT */
/*
 * inspect.h: what src/inspect.c lends the objects it inspects, so that a
 * handle's statistics and an observer's agree. Never installed.
 */
#ifndef FERRY_INSPECT_H
#define FERRY_INSPECT_H

#include <stdint.h>

struct ferry__dict_stripe;

/* The changes made to a dict: half of each stripe's seqlock word, summed
 * (see ferry_dict_stats.writes). Reads each word once, relaxed. */
uint64_t ferry__dict_writes(const struct ferry__dict_stripe *stripes, uint32_t nstripes);

#endif /* FERRY_INSPECT_H */
