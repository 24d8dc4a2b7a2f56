/* SPDX-License-Identifier: MIT */
/*
 * region_internal.h: the region layer's interface to the object modules
 * (array, queue, bus, ...). Objects sit one layer above regions and may use
 * this; nothing else may. Never installed.
 *
 * An object creates its region in two steps so that no process can see it
 * half-built [magic-last]:
 *
 *   ferry__region_create(name, kind, object_size, opts, &r);  // unpublished
 *   ... initialise ferry__region_object(r) ...
 *   ferry__region_publish(r);         // or ferry__region_abort(r) on failure
 *
 * and opens in two, so that it can check its own header before it joins
 * the participant table (and recover dead slots on the way in):
 *
 *   ferry__region_open(name, kind, opts, &r);   // mapped and validated
 *   ... check the object's header, build the handle ...
 *   ferry__region_join(r, recover_fn, handle);  // registered
 */
#ifndef FERRY_REGION_INTERNAL_H
#define FERRY_REGION_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "core/core.h"
#include "ferry/error.h"
#include "ferry/region.h"
#include "region_layout.h"

/*
 * The process-local handle. Geometry comes only from `hc`, the copy of the
 * header that open validated: the live header is shared memory that any
 * peer may change after open [no-reread].
 */
struct ferry_region {
  int fd;          /* -1 once a fork child dropped it */
  uint8_t *base;   /* the mapping */
  size_t map_size; /* == hc.total_size */
  struct ferry__region_hdr *hdr; /* the live header: counters only */
  struct ferry__region_hdr hc;   /* the validated header */
  uint8_t *object;     /* base + hc.header_size */
  int slot;            /* our participant slot, -1 when not registered */
  uint64_t slot_owner; /* the owner word we wrote when we joined, 0 never */
  bool observe;        /* mapped read-only, never registers */
  bool published;
  bool foreign;        /* inherited through fork: unusable [fork] */
  uint32_t role;       /* the role join registers with */
  pthread_mutex_t recover_lock; /* one recovery at a time through our fd */
  struct ferry_region *reg_prev, *reg_next; /* this process's handles */
  char name[FERRY_NAME_MAX + 1];
};

/*
 * Creates an unpublished region: the file exists under its name, sized,
 * with every header field but the magic written, and this process
 * registered in slot 0 with role o->role | FERRY_ROLE_CREATOR.
 * internal_flags: FERRY__REGION_* bits to store in the header.
 */
int ferry__region_create(const char *name, ferry_kind kind, size_t object_size,
                         const ferry_region_options *o, uint32_t internal_flags,
                         ferry_region **out);
/*
 * As ferry__region_create(), but reserves memory (fallocate) only for the
 * header and the first commit_size bytes of the object area; the rest of
 * the file is a hole until ferry__region_commit() reserves it. For objects
 * that grow (heap, dict): see docs/design/region.md [commit].
 */
int ferry__region_create_partial(const char *name, ferry_kind kind, size_t object_size,
                                 size_t commit_size, const ferry_region_options *o,
                                 uint32_t internal_flags, ferry_region **out);

/*
 * Reserves the memory of bytes [off, off + len) of the object area
 * (fallocate on the region file) [commit]. Idempotent, thread- and
 * process-safe: committing a range twice, or one another process
 * committed, costs a system call and changes nothing. Returns 0, -EINVAL
 * (an observer, a handle without a descriptor, or a range outside the
 * object area), -ENOSPC (the shared-memory file system is full: nothing
 * was reserved) or another negative errno from fallocate(2). Every page of
 * a committed range can be read and written without a fault that fails.
 */
int ferry__region_commit(ferry_region *r, uint64_t off, uint64_t len);

/* Stores the magic [magic-last]; from now on opens succeed. */
void ferry__region_publish(ferry_region *r);
/* Undoes an unpublished create: unlinks the name and closes the handle. */
void ferry__region_abort(ferry_region *r);

/*
 * Opens and validates, without registering: see ferry_region_open() for
 * the checks and errors. A participant then validates its object's own
 * header and calls ferry__region_join().
 */
int ferry__region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                       ferry_region **out);

/* The same as an observer (FERRY_OPEN_OBSERVE, default options): what the
 * objects' *_stat() calls look through. */
int ferry__region_observe(const char *name, ferry_kind kind, ferry_region **out);

struct ferry__slot_view;

/*
 * Recovery of a dead participant's object state, for slot i whose owner
 * word was v->owner. Runs with the slot held (ferry__region_recover_begin()
 * semantics); it must be idempotent, since a recoverer may itself die
 * halfway and the next one starts over.
 */
typedef void (*ferry__slot_recover_fn)(void *arg, uint32_t i, const struct ferry__slot_view *v);

/*
 * Registers this process in a free slot with role r->role. When every slot
 * is taken, reclaims the slot of a participant that died without closing,
 * after recover(arg, i, v) has undone what it left (NULL: objects whose
 * participants leave nothing to undo). Returns 0, -EUSERS (the table is
 * full of live participants), or -ENOSYS (the kernel lacks OFD locks:
 * Linux 3.15).
 */
int ferry__region_join(ferry_region *r, ferry__slot_recover_fn recover, void *arg);

/*
 * Deregisters this process (frees its slot) but keeps the mapping, so an
 * object's close can announce its departure, e.g. wake sleepers that must
 * see it gone, before ferry_region_close() unmaps. Idempotent.
 */
void ferry__region_leave(ferry_region *r);

/* 0, or FERRY_EFORKED for a handle inherited through fork [fork]. Every
 * object operation starts with it. */
static inline int ferry__region_usable(const ferry_region *r)
{
  return __builtin_expect(r->foreign, 0) ? FERRY_EFORKED : 0;
}

/* Validates an untrusted copy of a published header against the size of
 * its file, for an expected kind (FERRY_KIND_ANY for any). Returns 0 or the
 * error open would give; see docs/layout/region.md for the order. */
int ferry__region_validate(const struct ferry__region_hdr *h, uint64_t file_size, ferry_kind kind);

/*
 * The open options an object passes down: a copy of *o (the defaults when
 * o is NULL), with default_role when it names none. Objects whose handles
 * keep per-participant state refuse observers: -EINVAL, *oo untouched.
 */
static inline int ferry__object_open_options(const ferry_open_options *o, uint32_t default_role,
                                             ferry_open_options *oo)
{
  ferry_open_options t;
  if (o)
    t = *o;
  else
    ferry_open_options_init(&t);
  if (t.flags & FERRY_OPEN_OBSERVE)
    return -EINVAL;
  if (!t.role)
    t.role = default_role;
  *oo = t;
  return 0;
}

/*
 * The first 16 bytes of the queue, pipe, heap and dict headers: their own
 * magic, layout version and header size, so one check serves them all.
 */
struct ferry__object_prefix {
  _Atomic uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t header_size;
};

/*
 * Checks an object header's prefix before the object reads any field: the
 * area holds the header, and magic, major version and size are the
 * object's. The region's own magic and kind were valid, so a wrong object
 * magic is corruption (FERRY_ECORRUPT), not a foreign file.
 */
int ferry__object_check_prefix(const ferry_region *r, uint64_t magic, uint16_t version_major,
                               uint32_t header_size);

static inline void *ferry__region_object(const ferry_region *r)
{
  return r->object;
}

static inline struct ferry__slot *ferry__region_slots(const ferry_region *r)
{
  return (struct ferry__slot *)(r->base + FERRY__SLOT_TABLE_OFFSET);
}

/* A consistent reading of one slot. */
typedef struct ferry__slot_view {
  uint64_t owner; /* the word as read; pass it back to the calls below */
  uint32_t state; /* FERRY__SLOT_FREE or FERRY__SLOT_LIVE (anything else
                     in the word reads as FREE) */
  pid_t pid;
  uint64_t start;
  uint32_t role;
  uint32_t uid;
  int64_t attach_ns;
} ferry__slot_view;

/* Reads slot i, i < r->hc.max_participants (acquire on the owner word;
 * pairs with the release in join()). */
void ferry__region_slot_read(const ferry_region *r, uint32_t i, ferry__slot_view *v);

/* What became of the participant a slot reading names. */
typedef enum ferry__slot_liveness {
  FERRY__SLOT_GONE = 0,  /* free, or no longer the slot that was read */
  FERRY__SLOT_DEAD = 1,  /* died without closing: its lock is free and
                            its word unchanged; recovery is due */
  FERRY__SLOT_ALIVE = 2, /* its lock is held (by it, or by a recoverer) */
} ferry__slot_liveness;

/* Tests slot i's lock [slot-lock]; one system call, no /proc. */
ferry__slot_liveness ferry__region_slot_check(const ferry_region *r, uint32_t i,
                                              const ferry__slot_view *v);

/*
 * Takes over slot i for recovery if the participant *v names is dead: holds
 * the slot's lock (which no live participant can then take) and this
 * handle's recovery mutex, and checks that the word still equals v->owner.
 * Returns true if the caller now owns the recovery; then it undoes what the
 * dead participant left, reading the slot's obj[] words freely, and calls
 * ferry__region_recover_end(). False: alive, or somebody else is on it.
 */
bool ferry__region_recover_begin(ferry_region *r, uint32_t i, const ferry__slot_view *v);

/* Frees slot i (its word still v->owner) and lets go of it. */
void ferry__region_recover_end(ferry_region *r, uint32_t i, const ferry__slot_view *v);

#endif /* FERRY_REGION_INTERNAL_H */
