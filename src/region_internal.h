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
 */
#ifndef FERRY_REGION_INTERNAL_H
#define FERRY_REGION_INTERNAL_H

#include <errno.h>
#include <stdbool.h>

#include "core/core.h"
#include "ferry/region.h"
#include "region_layout.h"

/* The process-local handle. */
struct ferry_region {
  int fd;
  uint8_t *base;   /* the mapping */
  size_t map_size; /* == hdr->total_size */
  struct ferry__region_hdr *hdr;
  uint8_t *object;     /* base + header_size, as validated at open */
  int slot;            /* our participant slot, -1 when observing */
  uint64_t slot_owner; /* the owner word we wrote when we claimed it */
  bool observe;        /* mapped read-only, not registered */
  bool published;
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
/* Stores the magic [magic-last]; from now on opens succeed. */
void ferry__region_publish(ferry_region *r);
/* Undoes an unpublished create: unlinks the name and closes the handle. */
void ferry__region_abort(ferry_region *r);

/* Opens and validates; see ferry_region_open(). */
int ferry__region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                       ferry_region **out);

/*
 * Deregisters this process (frees its slot) but keeps the mapping, so an
 * object's close can announce its departure, e.g. wake sleepers that must
 * see it gone, before ferry_region_close() unmaps. Idempotent.
 */
void ferry__region_leave(ferry_region *r);

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
  uint64_t owner; /* the word as read; pass back to ferry__region_reap_slot */
  uint32_t state; /* FERRY__SLOT_* */
  pid_t pid;
  uint64_t start;
  uint32_t role;
  uint32_t uid;
  int64_t attach_ns;
} ferry__slot_view;

/* Reads slot i (acquire on the owner word; pairs with the release in
 * claim_slot()). */
void ferry__region_slot_read(const ferry_region *r, uint32_t i, ferry__slot_view *v);

/* Liveness of a slot as read: FREE slots are reported DEAD. */
ferry__liveness ferry__region_slot_alive(const ferry__slot_view *v);

/*
 * Frees slot i if its owner word still equals v->owner (the participant
 * died and nobody reclaimed the slot since) [slot-aba]. The caller must
 * have finished the object's recovery for that participant first. Returns
 * true if this call freed it.
 */
bool ferry__region_reap_slot(ferry_region *r, uint32_t i, const ferry__slot_view *v);

#endif /* FERRY_REGION_INTERNAL_H */
