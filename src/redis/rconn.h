/* SPDX-License-Identifier: MIT */
/*
 * rconn.h: the Redis backend's transport. One connection to one server,
 * with every wait bounded by a deadline, errors mapped to negative errnos,
 * and reconnection with backoff. hiredis supplies the protocol reader; the
 * socket, the timeouts and the commands' encoding are ours, so that a
 * round trip never outlives its deadline and a dead server is a clear
 * errno (docs/design/redis.md [redis-transport]). Never installed.
 *
 * Names (docs/design/redis.md [redis-names]):
 *   redis://HOST[:PORT]/NAME          HOST: a DNS name, a dotted IPv4
 *                                     address, or [IPv6]; PORT 1..65535,
 *                                     default 6379
 *   unix:///abs/path/redis.sock/NAME  the socket path is everything before
 *                                     the last '/'
 * NAME follows the region rules: [A-Za-z0-9._-], 1..FERRY_NAME_MAX, not
 * "." or "..". Anything else is -EINVAL. A server address alone (for
 * listing) is the same without "/NAME".
 *
 * Concurrency: an rconn is used by one thread at a time. Distinct rconns
 * share nothing but the script table, which is immutable after the first
 * connection loads it (pthread_once).
 */
#ifndef FERRY_REDIS_RCONN_H
#define FERRY_REDIS_RCONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/common.h"

#define FERRY__RADDR_HOST_MAX 255
#define FERRY__RADDR_PATH_MAX 107 /* sun_path holds 108 bytes with the NUL */
#define FERRY__REDIS_PORT_DEFAULT 6379

/* The most any single round trip may take (then the connection counts as
 * broken and is made again, within the caller's deadline). */
#define FERRY__REDIS_IO_DEFAULT_NS (5 * FERRY_SEC)
/* The least a round trip is given, however short the caller's timeout. */
#define FERRY__REDIS_IO_MIN_NS (250 * FERRY_MSEC)
/* Reconnection backoff: doubles from the first to the last. */
#define FERRY__REDIS_BACKOFF_MIN_NS (5 * FERRY_MSEC)
#define FERRY__REDIS_BACKOFF_MAX_NS FERRY_SEC

enum { FERRY__RADDR_TCP = 1, FERRY__RADDR_UNIX = 2 };

struct ferry__raddr {
  int kind;                             /* FERRY__RADDR_TCP or _UNIX */
  char host[FERRY__RADDR_HOST_MAX + 1]; /* TCP: without the brackets */
  int port;                             /* TCP */
  char path[FERRY__RADDR_PATH_MAX + 1]; /* UNIX */
};

/*
 * Parses an object name: *a gets the server, name_out (FERRY_NAME_MAX + 1
 * bytes) the object's name. Returns 0, or -EINVAL with the outputs
 * untouched.
 */
int ferry__redis_parse_name(const char *url, struct ferry__raddr *a, char *name_out);

/* Parses a server address alone (an optional trailing '/' is accepted). */
int ferry__redis_parse_server(const char *url, struct ferry__raddr *a);

/* 1 when url starts with a scheme this backend serves, else 0. */
int ferry__redis_is_url(const char *url);

/* The monotonic clock in ns. */
int64_t ferry__redis_now(void);

/* A deadline for a caller's timeout: now + timeout, or INT64_MAX. */
int64_t ferry__redis_deadline(int64_t timeout_ns);

/* The scripts (scripts.c). Each has its source and, once loaded, its SHA1. */
enum ferry__script_id {
  FERRY__S_CREATE,
  FERRY__S_OPEN,
  FERRY__S_UNLINK,
  FERRY__S_PRESENCE,
  FERRY__S_LEAVE,
  FERRY__S_SHUTDOWN,
  FERRY__S_Q_PUT,
  FERRY__S_Q_TAKE,
  FERRY__S_Q_ACK,
  FERRY__S_Q_GIVE,
  FERRY__S_Q_RENEW,
  FERRY__S_Q_STATE,
  FERRY__S_Q_LPUT,
  FERRY__S_Q_LTAKE,
  FERRY__S_H_PUSH,
  FERRY__S_H_POP,
  FERRY__S_H_ACK,
  FERRY__S_H_RENEW,
  FERRY__S_H_SWAP,
  FERRY__S_D_SET,
  FERRY__S_D_CAS,
  FERRY__S_B_PUB,
  FERRY__S_B_TAKE,
  FERRY__S_B_STATE,
  FERRY__S_COUNT
};
extern const char *const ferry__script_src[FERRY__S_COUNT];

/* One connection. All fields are private to rconn.c except as noted. */
struct ferry__rconn {
  struct ferry__raddr addr;
  int fd;            /* -1 while down */
  redisReader *rd;   /* replies being parsed */
  char *obuf;        /* commands not yet sent */
  size_t olen, ocap;
  size_t queued;     /* commands in obuf */
  bool fresh;        /* connected during the current operation */
  int64_t io_ns;     /* a round trip's budget (FERRY__REDIS_IO_DEFAULT_NS) */
  int64_t next_try;  /* no connection attempt before this (backoff) */
  int64_t backoff;   /* the wait after the next failed attempt */
  int last_err;      /* the last connection error */
  uint64_t connects; /* successful connections (read by stats) */
};

/* Initialises c for server a; no I/O yet. */
void ferry__rconn_init(struct ferry__rconn *c, const struct ferry__raddr *a);
/* Marks the start of an operation: a connection made before it may be
 * stale (see ferry__rconn_again). */
static inline void ferry__rconn_op(struct ferry__rconn *c) { c->fresh = false; }
/* Drops the connection (the server sees it close). */
void ferry__rconn_drop(struct ferry__rconn *c);
/* Drops and frees everything; c may be reused after _init. */
void ferry__rconn_free(struct ferry__rconn *c);
/* Frees without talking to the server or touching the fd's peer state:
 * for a forked child that inherited c. Closes only the fd. */
void ferry__rconn_forget(struct ferry__rconn *c);

/*
 * Makes sure c is connected (and the scripts loaded), waiting for the
 * backoff and connecting before deadline (at least one attempt is made when
 * the backoff allows it). Returns 0 or a negative errno: -ECONNREFUSED
 * (nobody listens, or the socket file is missing), -ETIMEDOUT,
 * -EHOSTUNREACH, -ENETUNREACH, -EACCES, ...
 */
int ferry__rconn_ensure(struct ferry__rconn *c, int64_t deadline);

/* ---- commands: encoded straight into the output buffer ------------------ */

/* Starts a command of argc arguments; then exactly argc _arg calls. */
void ferry__rc_begin(struct ferry__rconn *c, size_t argc);
void ferry__rc_arg(struct ferry__rconn *c, const void *p, size_t len);
void ferry__rc_str(struct ferry__rconn *c, const char *s);
void ferry__rc_i64(struct ferry__rconn *c, int64_t v);
void ferry__rc_u64(struct ferry__rconn *c, uint64_t v);
/* EVALSHA sha nkeys: the caller then adds nkeys keys and the arguments;
 * argc counts everything after the script's name. */
void ferry__rc_script(struct ferry__rconn *c, enum ferry__script_id id, size_t nkeys,
                      size_t nargs);
/* A key of object `name`: "ferry:{name}:suffix". */
void ferry__rc_key(struct ferry__rconn *c, const char *name, const char *suffix);

/*
 * Sends the queued commands and reads one reply per command into out[]
 * (the caller frees each with freeReplyObject). block_ns: how long the
 * server may hold the last reply back by itself (a blocking command's
 * timeout). The round trip must end by
 *   now + block_ns + min(io budget, max(deadline - now, FERRY__REDIS_IO_MIN_NS)).
 * On an I/O error or timeout the connection is dropped (its state is
 * unknown), out[] is all NULL, and the error is returned: -ECONNRESET (the
 * server closed or reset the connection), -ETIMEDOUT, -EPROTO (an
 * unreadable reply), -ENOMEM. Error *replies* are returned as replies.
 */
int ferry__rconn_run(struct ferry__rconn *c, redisReply **out, size_t n, int64_t deadline,
                     int64_t block_ns);

/* Discards queued commands that were not sent. */
void ferry__rconn_discard(struct ferry__rconn *c);

/*
 * Maps an error reply to a negative errno. Replies from ferry's scripts
 * ("FERRY ENOENT ...") map to their errno; the server's own: LOADING,
 * BUSY, MASTERDOWN, TRYAGAIN -> -EINPROGRESS (retryable; callers see
 * -EAGAIN if it lasts past their deadline); NOSCRIPT -> -ENOEXEC
 * (retryable: the scripts are loaded again); OOM -> -ENOMEM; READONLY ->
 * -EROFS; NOAUTH/WRONGPASS/NOPERM -> -EACCES; WRONGTYPE -> FERRY_EKIND;
 * NOGROUP -> -ENOENT; anything else -> -EPROTO.
 */
int ferry__redis_reply_err(const redisReply *r);

/*
 * Whether an operation that failed with rc may be tried again on a new
 * connection: connection errors and the retryable replies above.
 */
bool ferry__redis_retryable(int rc);

/*
 * The retry policy of one operation: returns true if the caller should try
 * again after rc (sleeping for the backoff first when needed), false if rc
 * is final. A failure on a connection made before this operation began is
 * tried again once at once, whatever the deadline: the server may simply
 * have restarted since (docs/design/redis.md [redis-retry]).
 */
bool ferry__rconn_again(struct ferry__rconn *c, int rc, int64_t deadline, int *attempts);

/* Sleeps until deadline or for ns, whichever comes first. */
void ferry__redis_sleep(int64_t ns, int64_t deadline);

/* ---- replies --------------------------------------------------------------- */

/* Integer value of an integer reply, or of a string reply holding one.
 * Returns 0 and *v, or FERRY_ECORRUPT. */
int ferry__reply_i64(const redisReply *r, int64_t *v);
/* The element i of an array reply, or NULL. */
const redisReply *ferry__reply_at(const redisReply *r, size_t i);
bool ferry__reply_is_str(const redisReply *r);

#endif /* FERRY_REDIS_RCONN_H */
