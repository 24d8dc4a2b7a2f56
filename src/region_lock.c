/* SPDX-License-Identifier: MIT */
/*
 * region_lock.c: the contended path of the region lock (region_lock.h):
 * waiting through the one wait primitive, and taking the lock over from a
 * holder whose participant slot says it is gone. The proof is
 * docs/design/region-lock.md.
 */
#include <errno.h>

#include "core/core.h"
#include "core/wait.h"
#include "region_lock.h"

/* Look again for this long before sleeping: longer than the critical
 * sections of the heap and the dict, about a futex round trip
 * [wait-spin]. */
#define RLOCK_SPIN_NS (2 * INT64_C(1000))

struct rlock_arg {
  const ferry_region *r;
  struct ferry__rlock *l;
  uint64_t tag;
};

static int attempt(void *p, bool armed)
{
  (void)armed;
  struct rlock_arg *a = p;
  /* A look before the CAS: spinning leaves the holder's line alone */
  return ferry__rlock_try(a->l, a->tag) ? 0 : -EAGAIN;
}

/* Does word w name a holder that can still unlock? [rlock-verdict] */
static bool holder_alive(const ferry_region *r, uint64_t w)
{
  uint64_t slot1 = w >> FERRY__RLOCK_SLOT_SHIFT;
  uint64_t gen = w & FERRY__RLOCK_GEN_MASK;
  if ((w & ~(FERRY__RLOCK_SLOT_MASK << FERRY__RLOCK_SLOT_SHIFT | FERRY__RLOCK_GEN_MASK)) ||
      slot1 == 0 || slot1 > r->hc.max_participants)
    return false; /* corrupt: no holder wrote this [rlock-corrupt] */
  ferry__slot_view v;
  ferry__region_slot_read(r, (uint32_t)(slot1 - 1), &v);
  if (v.state != FERRY__SLOT_LIVE ||
      ((v.owner >> FERRY__SLOT_GEN_SHIFT) & FERRY__SLOT_GEN_MASK) != gen)
    return false; /* the participant that wrote w left the slot: it died */
  return ferry__region_slot_check(r, (uint32_t)(slot1 - 1), &v) == FERRY__SLOT_ALIVE;
}

int ferry__rlock_take_dead(const ferry_region *r, struct ferry__rlock *l, uint64_t tag)
{
  /* acquire: if the holder unlocked normally since, we see its section */
  uint64_t cur = atomic_load_explicit(&l->word, memory_order_acquire);
  if (cur == 0 || holder_alive(r, cur))
    return -EAGAIN;
  /* The CAS from the very word we judged replaces that holder and no later
   * one: a dead participant's tag never comes back [rlock-takeover].
   * acquire: the dead holder's stores were visible to the slot check, a
   * system call and so a full barrier, which the kernel ordered after the
   * holder's end; the acquire orders our repair after the CAS. */
  if (!atomic_compare_exchange_strong_explicit(&l->word, &cur, tag, memory_order_acquire,
                                               memory_order_relaxed))
    return -EAGAIN;
  return -EOWNERDEAD;
}

static int slice(void *p)
{
  struct rlock_arg *a = p;
  return ferry__rlock_take_dead(a->r, a->l, a->tag);
}

int ferry__rlock_lock_slow(const ferry_region *r, struct ferry__rlock *l, uint64_t tag,
                           int64_t timeout_ns, int64_t *deadline)
{
  if (timeout_ns < 0)
    return -EINVAL;
  struct rlock_arg a = {.r = r, .l = l, .tag = tag};
  int64_t slice_ns = r->hc.liveness_ns / 2;
  ferry__waiter w = {.ec = &l->ec,
                     .attempt = attempt,
                     .slice = slice,
                     .arg = &a,
                     .spin_ns = RLOCK_SPIN_NS,
                     .slice_ns = slice_ns > 0 ? slice_ns : 1};
  return ferry__wait(&w, timeout_ns, deadline);
}
