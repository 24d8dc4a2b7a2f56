/* SPDX-License-Identifier: MIT */
/*
 * robj.h: what every Redis-backed handle shares: its name and server, its
 * connection, its id on the server, the object's settings read at open,
 * and the keeper, a thread with its own connection that renews the
 * handle's leases and presence while the process lives
 * (docs/design/redis.md [redis-keeper]). Never installed.
 *
 * Concurrency: the caller's connection `c` belongs to the thread calling
 * the handle (one at a time, as the objects' headers say). The keeper only
 * touches `kc`, and the handle state its tick reads under `mu`.
 */
#ifndef FERRY_REDIS_ROBJ_H
#define FERRY_REDIS_ROBJ_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "ferry/error.h"
#include "rconn.h"

/* The handle belongs to the process that opened it; in a forked child
 * every call returns this. */
#define FERRY__REDIS_EFORKED FERRY_EFORKED

/* One field of the meta hash, as read at open. */
struct ferry__rmeta {
  char key[24];
  char *val;
  size_t len;
};

struct ferry__robj {
  char name[FERRY_NAME_MAX + 1];
  struct ferry__raddr addr;
  struct ferry__rconn c; /* the caller's connection */
  int64_t id;            /* this handle's id on the server */
  char roles[8];         /* presence roles: p, c, P, s (see scripts.c) */
  const char *kind;      /* "queue", "heap", "dict", "bus" */
  int64_t live_ms;       /* presence lasts this long without a renewal */
  pid_t pid;             /* the process that opened the handle */
  struct ferry__rmeta *meta;
  size_t nmeta;

  /* The keeper. tick() runs on the keeper's thread, every live_ms / 4,
   * with mu not held; it reads what it needs under mu. */
  int (*tick)(struct ferry__robj *o, struct ferry__rconn *kc, int64_t deadline);
  pthread_t th;
  bool th_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  bool poked; /* a tick is wanted now */
  struct ferry__rconn kc;
  uint64_t ticks, tick_errors, lost; /* under mu */
};

/* Parses name into o (-EINVAL if it is not a Redis name) and sets up the
 * connection; no I/O. */
int ferry__robj_init(struct ferry__robj *o, const char *name, const char *kind);

/* Frees what _init and _open allocated (stops the keeper first). With
 * `leave`, tells the server the handle is gone (script LEAVE) first. */
void ferry__robj_fini(struct ferry__robj *o, bool leave);

/*
 * Creates the object on the server: CREATE with the meta pairs fields[0..n)
 * (field, value, field, value...), of lengths lens (NULL: strlen). -EEXIST
 * if it exists.
 */
int ferry__robj_create(struct ferry__robj *o, const char *const *fields, const size_t *lens,
                       size_t n);

/* Opens it: OPEN with roles; sets o->id, o->live_ms and the meta copy.
 * timeout bounds the whole call (connection included). */
int ferry__robj_open(struct ferry__robj *o, const char *roles, int64_t timeout_ns);

/* A meta field as an integer within [lo, hi], or FERRY_ECORRUPT (missing
 * or out of range: the server's data is untrusted input). */
int ferry__robj_meta_i64(const struct ferry__robj *o, const char *key, int64_t lo, int64_t hi,
                         int64_t *v);
/* A meta field's bytes, or NULL. */
const char *ferry__robj_meta(const struct ferry__robj *o, const char *key, size_t *len);

/* Starts the keeper (after open). 0 or -errno (pthread_create). */
int ferry__robj_keeper_start(struct ferry__robj *o);
/* Stops the keeper (joins it); idempotent. */
void ferry__robj_keeper_stop(struct ferry__robj *o);
/* Asks the keeper for a tick now (e.g. after taking new messages). */
void ferry__robj_keeper_poke(struct ferry__robj *o);

/* FERRY__REDIS_EFORKED in a child that inherited the handle, else 0. */
static inline int ferry__robj_check(const struct ferry__robj *o)
{
  return o->pid == getpid() ? 0 : FERRY__REDIS_EFORKED;
}

/*
 * Runs a script once on the caller's connection with retries per
 * ferry__rconn_again(): args[0..nargs) with lens (keys: the meta key is
 * added first). Returns 0 and *rep (free it), or a negative errno (error
 * replies mapped).
 */
int ferry__robj_script(struct ferry__robj *o, struct ferry__rconn *c, enum ferry__script_id id,
                       const char *const *args, const size_t *lens, size_t nargs,
                       int64_t deadline, redisReply **rep);

/* One plain command, with the same retries. */
int ferry__robj_cmd(struct ferry__robj *o, struct ferry__rconn *c, const char *const *args,
                    const size_t *lens, size_t nargs, int64_t deadline, int64_t block_ns,
                    redisReply **rep);

/* Checks a caller's timeout: -EINVAL if negative. */
static inline int ferry__check_timeout(int64_t timeout_ns) { return timeout_ns < 0 ? -EINVAL : 0; }

/* Deletes every key of object `name` on its server. */
int ferry__redis_unlink(const char *name);

#endif /* FERRY_REDIS_ROBJ_H */
