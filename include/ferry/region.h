/* SPDX-License-Identifier: MIT */
/*
 * ferry/region.h: named shared-memory regions with a participant table.
 *
 * A region is a POSIX shared-memory object, /dev/shm/ferry.<name>. It starts
 * with a common header (docs/layout/region.md): magic, layout version, object
 * kind, sizes, the creator's identity and a participant table. Every object
 * of ferry (arrays, queues, ...) lives in the object area of one region.
 *
 * Lifecycle: create (O_EXCL, mode 0600 unless told otherwise) -> open by
 * name from any process -> close -> unlink. Open validates the header
 * before using anything and waits, up to its timeout, for a region whose
 * creator is still initialising it. Unlink removes the name; processes that
 * have it mapped keep working.
 *
 * Participants: each non-observing open registers this process in the
 * table with its pid, its start time and a role; close deregisters it. A
 * process that dies without closing stays in the table and is reported dead:
 * its pid no longer exists, is a zombie, or names a process that started at
 * another time (a recycled pid).
 *
 * A region whose participants all closed cleanly is IDLE: a kept named
 * object, like a POSIX message queue. A region with no live participant and
 * at least one that died without closing is ORPHANED: the leak a crash
 * leaves behind, which ferry_region_gc() removes.
 *
 * Concurrency:
 *   Progress: create, open, close, unlink and gc are blocking system-call
 *   paths (open may wait for initialisation up to its timeout). The
 *   accessors (name, kind, data, size, slot) are wait-free. participants()
 *   and info() read /proc for each entry: blocking, bounded.
 *
 *   Overlap: any call may run concurrently with any other from any process,
 *   on the same or different handles, except that one handle must not be
 *   closed while another thread still uses it. gc and open serialise on an
 *   advisory lock on the file, so gc never removes a region that a live
 *   process is attaching to.
 *
 *   Death: a participant killed at any instruction leaves at most its own
 *   slot behind, marked live; it is reported dead from then on. A creator
 *   killed before publishing leaves an unpublished region: opens fail with
 *   FERRY_EINCOMPLETE at once, and gc removes it. A closer killed in close
 *   leaves its slot in the table: reported dead, as above.
 */
#ifndef FERRY_REGION_H
#define FERRY_REGION_H

#include <sys/types.h>

#include "common.h"

FERRY_EXTERN_C_BEGIN

typedef struct ferry_region ferry_region;

/* What a region holds. Stored in the header; open checks it. */
typedef enum ferry_kind {
  FERRY_KIND_ANY = 0, /* for open: accept any kind */
  FERRY_KIND_RAW = 1, /* bytes whose layout the user defines */
  FERRY_KIND_ARRAY = 2,
  FERRY_KIND_QUEUE = 3,
  FERRY_KIND_PIPE = 4,
  FERRY_KIND_BUS = 5,
  FERRY_KIND_HEAP = 6,
  FERRY_KIND_DICT = 7,
  FERRY_KIND_POOL = 8, /* a process pool's statistics (pool.h) */
  FERRY_KIND_LIST = 9,
} ferry_kind;

/* "raw", "array", ...; "unknown" for anything else. Static string. */
FERRY_API const char *ferry_kind_name(uint32_t kind);

/* Roles a participant declares; objects say which they use. Bit flags. */
enum {
  FERRY_ROLE_CREATOR = 1u << 0,
  FERRY_ROLE_PRODUCER = 1u << 1,
  FERRY_ROLE_CONSUMER = 1u << 2,
  FERRY_ROLE_PUBLISHER = 1u << 3,
  FERRY_ROLE_SUBSCRIBER = 1u << 4,
  FERRY_ROLE_READER = 1u << 5,
  FERRY_ROLE_WRITER = 1u << 6,
};

/* Writes the role's names, '+'-joined ("producer+consumer", or "-" for
 * none), into buf (always NUL-terminated). Returns buf. */
FERRY_API char *ferry_role_format(uint32_t role, char *buf, size_t cap);

/* Region flags, set at create. */
enum {
  /* Unlink the name when the last participant closes. */
  FERRY_REGION_UNLINK_ON_LAST_CLOSE = 1u << 0,
};

#define FERRY_MAX_PARTICIPANTS_DEFAULT 64
#define FERRY_MAX_PARTICIPANTS_LIMIT 4096
#define FERRY_LIVENESS_DEFAULT_NS FERRY_SEC
/* The longest liveness a region takes: an hour. Waits are cut in slices of
 * half of it, so a longer one would only delay the detection of a death. */
#define FERRY_LIVENESS_MAX_NS (3600 * FERRY_SEC)
#define FERRY_OPEN_TIMEOUT_DEFAULT_NS FERRY_SEC

typedef struct ferry_region_options {
  uint32_t mode;             /* permission bits; default 0600 */
  uint32_t flags;            /* FERRY_REGION_* */
  uint32_t max_participants; /* table size, 1..4096; default 64 */
  uint32_t role;             /* the creator's role; FERRY_ROLE_CREATOR is added */
  int64_t liveness_ns;       /* bound on death detection; default 1 s, at most 1 h */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_region_options;

/* Fills *o with the defaults. Always call it before setting fields. */
FERRY_API void ferry_region_options_init(ferry_region_options *o);

/* Open flags. */
enum {
  /* Attach read-only without registering: for tools that only look. */
  FERRY_OPEN_OBSERVE = 1u << 0,
  /* Accept a region file that another user owns. Without it, such a file
   * is refused (FERRY_EUNTRUSTED): whoever owns it can put anything in it,
   * including a name you expected to create yourself. */
  FERRY_OPEN_ANY_OWNER = 1u << 1,
};

/* Options every object's _open takes; NULL means the defaults. */
typedef struct ferry_open_options {
  int64_t timeout_ns; /* wait for a region still being created; default 1 s */
  uint32_t role;      /* the role to register with; objects may set it */
  uint32_t flags;     /* FERRY_OPEN_* */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero: room to grow [abi-growth] */
} ferry_open_options;

FERRY_API void ferry_open_options_init(ferry_open_options *o);

/*
 * ferry_name_valid: 0 if name is a valid region name ([A-Za-z0-9._-], 1 to
 * FERRY_NAME_MAX characters, not "." or ".."), else -EINVAL.
 */
FERRY_API int ferry_name_valid(const char *name);

/*
 * ferry_region_create: creates region `name` of kind FERRY_KIND_RAW with
 * `size` zeroed bytes of user data, and registers this process in it.
 * o may be NULL for the defaults. On success *out owns the handle: release
 * it with ferry_region_close().
 * Errors: -EINVAL (bad name, size 0, bad option), -EEXIST, -EOVERFLOW,
 * -ENOMEM, -EACCES, or another negative errno from the system.
 */
FERRY_API int ferry_region_create(const char *name, size_t size, const ferry_region_options *o,
                                  ferry_region **out);

/*
 * ferry_region_open: opens an existing region, validates its header and, unless
 * o->flags has FERRY_OPEN_OBSERVE, registers this process. `kind` is the
 * expected kind, or FERRY_KIND_ANY. o may be NULL.
 * Errors: -EINVAL (bad name), -ENOENT, -EACCES (mode forbids it),
 * FERRY_EBADMAGIC, FERRY_EVERSION, FERRY_ETRUNCATED, FERRY_EKIND,
 * FERRY_ECORRUPT, FERRY_EINCOMPLETE (creator died while initialising),
 * -ETIMEDOUT (still being initialised after the timeout), -EUSERS (the
 * participant table is full of live processes).
 */
FERRY_API int ferry_region_open(const char *name, ferry_kind kind, const ferry_open_options *o,
                                ferry_region **out);

/*
 * ferry_region_close: deregisters this process and unmaps the region. With
 * FERRY_REGION_UNLINK_ON_LAST_CLOSE, the last participant to close also
 * removes the name. Accepts NULL. Pointers into the region die with it.
 */
FERRY_API void ferry_region_close(ferry_region *r);

/*
 * ferry_unlink: removes region `name`, of any kind. Processes that have it
 * open keep working; new opens get -ENOENT.
 * Errors: -EINVAL (bad name), -ENOENT, -EACCES.
 */
FERRY_API int ferry_unlink(const char *name);

/* Accessors; wait-free. Strings and pointers live as long as the handle. */
FERRY_API const char *ferry_region_name(const ferry_region *r);
FERRY_API ferry_kind ferry_region_kind(const ferry_region *r);
/* The user data of a RAW region (the object area of any region). */
FERRY_API void *ferry_region_data(const ferry_region *r);
FERRY_API size_t ferry_region_data_size(const ferry_region *r);
/* This handle's participant slot, or -1 for an observer. */
FERRY_API int ferry_region_slot(const ferry_region *r);

/* What the participant table says about a region as a whole. */
typedef enum ferry_region_status {
  FERRY_REGION_ACTIVE = 0,     /* at least one participant is alive */
  FERRY_REGION_IDLE = 1,       /* no participant: all closed cleanly */
  FERRY_REGION_ORPHANED = 2,   /* none alive, at least one died without closing */
  FERRY_REGION_INCOMPLETE = 3, /* never published: its creator died first */
} ferry_region_status;

/* "active", "idle", "orphaned", "incomplete". Static string. */
FERRY_API const char *ferry_region_status_name(ferry_region_status s);

typedef struct ferry_region_info {
  char name[FERRY_NAME_MAX + 1];
  uint32_t kind;
  uint16_t version_major, version_minor;
  uint64_t total_size;  /* bytes mapped, header included */
  uint64_t object_size; /* bytes of the object area */
  uint32_t mode;        /* permission bits of the file */
  uint32_t flags;       /* FERRY_REGION_* */
  uint32_t creator_uid;
  int32_t creator_pid;
  uint64_t creator_start; /* creator's start time, clock ticks since boot */
  int64_t created_ns;     /* CLOCK_REALTIME at creation */
  int64_t liveness_ns;
  uint32_t max_participants;
  uint32_t live;  /* participants alive now */
  uint32_t dead;  /* participants that died without closing, not yet reaped */
  uint64_t opens; /* registrations since creation */
  uint64_t reaped; /* dead participants whose slots were reclaimed */
  ferry_region_status status;
  /* Bytes of shared memory the file holds now (its allocated blocks,
   * whole pages): about total_size for most kinds, less while a heap or
   * dict has not grown into its whole size (docs/design/region.md
   * [commit]) [abi-growth: took the first reserved word]. */
  uint64_t allocated_bytes;
  uint64_t reserved[FERRY_RESERVED_WORDS - 1]; /* zero [abi-growth] */
} ferry_region_info;

/* Fills *out from the handle's header and the table's liveness now. */
FERRY_API int ferry_region_info_get(const ferry_region *r, ferry_region_info *out);

typedef struct ferry_participant {
  uint32_t slot;
  int32_t pid;
  uint64_t start_time; /* clock ticks since boot (/proc/PID/stat field 22) */
  uint32_t role;       /* FERRY_ROLE_* */
  uint32_t uid;
  int64_t attach_ns;   /* CLOCK_REALTIME when it registered */
  int alive;           /* 1 alive, 0 died without closing */
  uint64_t reserved[FERRY_RESERVED_WORDS]; /* zero [abi-growth] */
} ferry_participant;

/*
 * ferry_region_participants: the registered participants, with liveness
 * checked now. Fills up to cap entries of out (out may be NULL if cap is 0)
 * and returns how many there are in all, which may exceed cap.
 */
FERRY_API ssize_t ferry_region_participants(const ferry_region *r, ferry_participant *out,
                                            size_t cap);

/*
 * ferry_region_foreach: calls fn(name, arg) for each ferry region in
 * /dev/shm, in no order; name is valid during the call. Stops early and
 * returns fn's value when fn returns non-zero; else 0 or a negative errno.
 */
FERRY_API int ferry_region_foreach(int (*fn)(const char *name, void *arg), void *arg);

/*
 * ferry_region_stat: opens `name` as an observer, fills *out and closes it.
 * For a region that was never published, fills what it can (name, sizes,
 * status INCOMPLETE) and returns 0 if its creator is gone; a region whose
 * creator is still initialising it gives -EAGAIN.
 * Errors: those of ferry_region_open().
 */
FERRY_API int ferry_region_stat(const char *name, ferry_region_info *out);

/* gc flags */
enum {
  FERRY_GC_IDLE = 1u << 0,    /* remove idle regions too */
  FERRY_GC_DRY_RUN = 1u << 1, /* decide, but remove nothing */
};

/*
 * ferry_region_gc: removes `name` if it is orphaned or incomplete (and, with
 * FERRY_GC_IDLE, idle). The check and the removal happen under an exclusive
 * lock that every attaching process contends for, so a region being opened
 * is never removed. A region that is not a valid ferry region at all (bad
 * magic, truncated, ...) is left alone: `ferry rm` removes it.
 * Returns 1 if removed (or, with FERRY_GC_DRY_RUN, if it would be), 0 if
 * kept, or a negative errno. *status (if not NULL) gets what was decided.
 */
FERRY_API int ferry_region_gc(const char *name, unsigned flags, ferry_region_status *status);

FERRY_EXTERN_C_END

#endif /* FERRY_REGION_H */
