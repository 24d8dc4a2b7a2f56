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

/* Sums of the stripe counts over the limit looked at before giving up. */
#define FERRY__DICT_COUNT_TRIES 8

/* The entries of a dict, from its stripe counts, for ferry_dict_size()
 * and ferry_dict_stat(): 0 and *n, or FERRY_ECORRUPT for a count past
 * max_cap or a sum that stays past limit [dict-untrusted]. */
int ferry__dict_count(const struct ferry__dict_stripe *stripes, uint32_t nstripes,
                      uint64_t max_cap, uint64_t limit, uint64_t *n);

#endif /* FERRY_INSPECT_H */
