/* SPDX-License-Identifier: MIT */
/*
 * rqueue.c: ferry's queue on a Redis server (docs/design/redis.md
 * [redis-queue]). With leases (the default) the queue is a stream with one
 * consumer group: a get sends, in one write, the take script (which
 * acknowledges and deletes what the handle finished, and reclaims expired
 * leases with XAUTOCLAIM) and a plain XREADGROUP of new messages; the
 * keeper thread renews the leases of what the handle holds. Without leases
 * (FERRY_REDIS_NO_LEASE) it is a list: put LPUSHes, get RPOPs, at most
 * once.
 *
 * A handle's messages go through three places, all process-local:
 *   inbox  taken from the server, not yet handed to the caller (a batch's
 *          rest, or a message too big for the caller's buffer);
 *   held   handed to the caller by get/get_many, acknowledged at the next
 *          take (or release, or close) [queue-ack];
 *   peek   lent by peek until release.
 * The keeper renews the leases of all three, so it reads them under o.mu;
 * the caller's thread is their only writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "robj.h"

/* Messages per script call, and (about) bytes: Lua's unpack and the
 * server's argument limits stay far away. */
#define BATCH_MAX 1024
#define BATCH_BYTES (32u << 20)
/* A blocking read wakes this often to reclaim expired leases and to look
 * for the end of the stream. */
#define SLICE_NS (100 * FERRY_MSEC)
/* The server refuses longer strings by default (proto-max-bulk-len). */
#define REDIS_MAX_MSG (512u << 20)
#define ID_MAX 48
#define PUT_NAP_MIN_NS FERRY_MSEC
#define PUT_NAP_MAX_NS (20 * FERRY_MSEC)

#define QUEUE_ROLES (FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER)

struct rmsg {
  char id[ID_MAX]; /* stream id; empty in list mode */
  int64_t before;  /* stream mode: deliveries before the one that brought it */
  void *data;
  size_t len;
};

struct ferry__rq {
  struct ferry__robj o; /* first: the keeper's tick gets &o */
  uint32_t role;
  bool list;            /* no leases: a list */
  int64_t capacity, max_msg, lease_ms, max_deliveries;
  uint64_t next_seq;    /* producer: the next message's sequence number */
  uint64_t uncounted;   /* messages read by plain commands, not yet counted on the server */
  /* Under o.mu for the keeper's reads; written by the caller only. */
  struct rmsg *inbox;
  size_t in_head, in_n, in_cap; /* in_n messages from in_head */
  char (*held)[ID_MAX];
  size_t nheld, held_cap;
  bool peeked;
  struct rmsg peek;
  /* A reservation: a buffer of ours. */
  bool reserved;
  void *res;
  size_t res_len;
  int64_t res_timeout;
};

/* ---- small helpers ----------------------------------------------------------------- */

static int roles_letters(uint32_t role, char out[4])
{
  size_t n = 0;
  if (role & FERRY_ROLE_PRODUCER)
    out[n++] = 'p';
  if (role & FERRY_ROLE_CONSUMER)
    out[n++] = 'c';
  out[n] = 0;
  return 0;
}

static void msg_free(struct rmsg *m)
{
  free(m->data);
  m->data = NULL;
  m->len = 0;
}

/* Appends a message (data copied) to the inbox. Caller holds o.mu. */
static int inbox_push(struct ferry__rq *q, const char *id, size_t idlen, const void *d,
                      size_t len)
{
  if (idlen >= ID_MAX)
    return FERRY_ECORRUPT;
  if (q->in_head && q->in_head + q->in_n == q->in_cap) {
    memmove(q->inbox, q->inbox + q->in_head, q->in_n * sizeof *q->inbox);
    q->in_head = 0;
  }
  if (q->in_head + q->in_n == q->in_cap) {
    size_t cap = q->in_cap ? q->in_cap * 2 : 16;
    struct rmsg *p = realloc(q->inbox, cap * sizeof *p);
    if (!p)
      return -ENOMEM;
    q->inbox = p;
    q->in_cap = cap;
  }
  struct rmsg *m = &q->inbox[q->in_head + q->in_n];
  memset(m, 0, sizeof *m);
  memcpy(m->id, id, idlen);
  m->id[idlen] = 0;
  m->data = malloc(len ? len : 1);
  if (!m->data)
    return -ENOMEM;
  if (len)
    memcpy(m->data, d, len);
  m->len = len;
  q->in_n++;
  return 0;
}

/* Hands the inbox's first message over: its id joins held. Returns it (the
 * caller frees its data). */
static struct rmsg inbox_take(struct ferry__rq *q, bool to_held)
{
  pthread_mutex_lock(&q->o.mu);
  struct rmsg m = q->inbox[q->in_head];
  q->in_head++;
  q->in_n--;
  if (!q->in_n)
    q->in_head = 0;
  if (to_held && !q->list) {
    if (q->nheld == q->held_cap) {
      size_t cap = q->held_cap ? q->held_cap * 2 : 16;
      char(*p)[ID_MAX] = realloc(q->held, cap * sizeof *p);
      if (p) {
        q->held = p;
        q->held_cap = cap;
      }
    }
    /* Without memory for the id the message is simply not acknowledged:
     * its lease expires and it is delivered again (at least once). */
    if (q->nheld < q->held_cap)
      memcpy(q->held[q->nheld++], m.id, ID_MAX);
  }
  pthread_mutex_unlock(&q->o.mu);
  return m;
}

/* Parses a stream id "MS-SEQ". Returns 0, or -1 if it is not one. */
static int id_parse(const char *s, uint64_t *ms, uint64_t *seq)
{
  char *e;
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  unsigned long long a = strtoull(s, &e, 10);
  if (errno || *e != '-' || e[1] < '0' || e[1] > '9')
    return -1;
  unsigned long long b = strtoull(e + 1, &e, 10);
  if (errno || *e)
    return -1;
  *ms = a;
  *seq = b;
  return 0;
}

/* The highest of ids[0..n) and extra (if not NULL), for the ack script's
 * trim [queue-flat]; "" if one cannot be read (the script then deletes
 * every id one by one). */
static const char *id_top(char (*ids)[ID_MAX], size_t n, const char *extra)
{
  const char *top = NULL;
  uint64_t tm = 0, ts = 0;
  for (size_t i = 0; i < n + (extra ? 1 : 0); i++) {
    const char *s = i < n ? ids[i] : extra;
    uint64_t m, q;
    if (id_parse(s, &m, &q))
      return "";
    if (!top || m > tm || (m == tm && q > ts)) {
      top = s;
      tm = m;
      ts = q;
    }
  }
  return top ? top : "";
}

/* ---- put ----------------------------------------------------------------------------- */

/* One round trip: msgs[0..n) as batches of the put script, the first
 * numbered `first`. Returns how many are in the queue (a prefix of msgs),
 * or an error; *unknown is set when the outcome could not be learnt. */
static ssize_t put_once(struct ferry__rq *q, const ferry_queue_vec *msgs, size_t n,
                        uint64_t first, int64_t deadline, bool *unknown)
{
  struct ferry__rconn *c = &q->o.c;
  size_t nb_max = n / BATCH_MAX + n + 1;
  size_t *sizes = malloc(nb_max * sizeof *sizes);
  redisReply **reps = malloc(nb_max * sizeof *reps);
  if (!sizes || !reps) {
    free(sizes);
    free(reps);
    return -ENOMEM;
  }
  int attempts = 0;
  ssize_t result;
  ferry__rconn_op(c);
  for (;;) {
    int rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      size_t nb = 0;
      for (size_t i = 0; i < n;) {
        size_t j = i, bytes = 0;
        while (j < n && j - i < BATCH_MAX && (j == i || bytes + msgs[j].len <= BATCH_BYTES))
          bytes += msgs[j++].len;
        ferry__rc_script(c, q->list ? FERRY__S_Q_LPUT : FERRY__S_Q_PUT, 1, 3 + (j - i));
        ferry__rc_key(c, q->o.name, "meta");
        ferry__rc_i64(c, q->o.id);
        ferry__rc_u64(c, first + i);
        ferry__rc_str(c, i ? "1" : "0");
        for (size_t k = i; k < j; k++)
          ferry__rc_arg(c, msgs[k].data, msgs[k].len);
        sizes[nb++] = j - i;
        i = j;
      }
      rc = ferry__rconn_run(c, reps, nb, deadline, 0);
      if (!rc) {
        size_t done = 0;
        int err = 0;
        bool stop = false;
        for (size_t b = 0; b < nb; b++) {
          int64_t k;
          if (stop) {
          } else if (reps[b]->type == REDIS_REPLY_ERROR) {
            err = ferry__redis_reply_err(reps[b]);
            stop = true;
          } else if (ferry__reply_i64(reps[b], &k) || k < 0 || (uint64_t)k > sizes[b]) {
            err = FERRY_ECORRUPT;
            stop = true;
          } else {
            done += (size_t)k;
            stop = (size_t)k < sizes[b];
          }
          freeReplyObject(reps[b]);
        }
        if (err != -ENOEXEC && err != -EINPROGRESS) {
          result = done ? (ssize_t)done : err;
          break;
        }
        rc = err;
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts)) {
      *unknown = rc != -ENOEXEC && rc != -EINPROGRESS;
      result = rc == -EINPROGRESS ? -EAGAIN : rc == -ENOEXEC ? -EPROTO : rc;
      break;
    }
  }
  free(sizes);
  free(reps);
  return result;
}

static int put_checks(const struct ferry__rq *q, size_t len, int64_t timeout_ns)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  if (!(q->role & FERRY_ROLE_PRODUCER))
    return -EPERM;
  if (len > (uint64_t)q->max_msg)
    return -EMSGSIZE;
  if (q->reserved)
    return -EBUSY;
  return ferry__check_timeout(timeout_ns);
}

static ssize_t put_vec(struct ferry__rq *q, const ferry_queue_vec *msgs, size_t n,
                       int64_t timeout_ns)
{
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  size_t done = 0;
  int64_t nap = PUT_NAP_MIN_NS;
  for (;;) {
    bool unknown = false;
    ssize_t k = put_once(q, msgs + done, n - done, q->next_seq + done, deadline, &unknown);
    if (k < 0) {
      /* After an unknown outcome, never reuse those numbers: the server may
       * have them, and would take new messages for retries. */
      q->next_seq += unknown ? n : done;
      return done ? (ssize_t)done : k;
    }
    done += (size_t)k;
    if (done == n || timeout_ns == 0 || ferry__redis_now() >= deadline) {
      q->next_seq += done;
      if (done)
        return (ssize_t)done;
      return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
    }
    /* Full: wait for room (consumers acknowledge and delete). */
    ferry__redis_sleep(nap, deadline);
    nap = nap * 2 > PUT_NAP_MAX_NS ? PUT_NAP_MAX_NS : nap * 2;
  }
}

int ferry__rq_put(ferry__rq *q, const void *msg, size_t len, int64_t timeout_ns)
{
  int rc = put_checks(q, len, timeout_ns);
  if (rc)
    return rc;
  ferry_queue_vec v = {.data = (void *)msg, .len = len};
  ssize_t n = put_vec(q, &v, 1, timeout_ns);
  return n == 1 ? 0 : (int)n;
}

ssize_t ferry__rq_put_many(ferry__rq *q, const ferry_queue_vec *msgs, size_t n,
                           int64_t timeout_ns)
{
  int rc = put_checks(q, 0, timeout_ns);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (msgs[i].len > (uint64_t)q->max_msg)
      return -EMSGSIZE;
  if (!n)
    return 0;
  return put_vec(q, msgs, n, timeout_ns);
}

int ferry__rq_reserve(ferry__rq *q, size_t len, void **data, int64_t timeout_ns)
{
  int rc = put_checks(q, len, timeout_ns);
  if (rc)
    return rc;
  void *p = malloc(len ? len : 1);
  if (!p)
    return -ENOMEM;
  q->res = p;
  q->res_len = len;
  q->res_timeout = timeout_ns;
  q->reserved = true;
  *data = p;
  return 0;
}

int ferry__rq_commit(ferry__rq *q, size_t len)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  if (!q->reserved)
    return -EINVAL;
  if (len > q->res_len)
    return -EMSGSIZE;
  ferry_queue_vec v = {.data = q->res, .len = len};
  ssize_t n = put_vec(q, &v, 1, q->res_timeout);
  if (n != 1)
    return (int)n; /* still reserved: commit again or cancel */
  free(q->res);
  q->res = NULL;
  q->reserved = false;
  return 0;
}

int ferry__rq_cancel(ferry__rq *q)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  if (!q->reserved)
    return -EINVAL;
  free(q->res);
  q->res = NULL;
  q->reserved = false;
  return 0;
}

/* ---- take -------------------------------------------------------------------------------- */

/* The field "d" of a stream entry [id, [field, value, ...]]. */
static const redisReply *entry_data(const redisReply *e)
{
  const redisReply *kv = ferry__reply_at(e, 1);
  if (!kv || kv->type != REDIS_REPLY_ARRAY)
    return NULL;
  for (size_t i = 0; i + 1 < kv->elements; i += 2)
    if (ferry__reply_is_str(kv->element[i]) && kv->element[i]->len == 1 &&
        kv->element[i]->str[0] == 'd' && ferry__reply_is_str(kv->element[i + 1]))
      return kv->element[i + 1];
  return NULL;
}

/* List mode's fast path: a plain RPOP with a count (no script). Returns
 * how many arrived, 0 if the list is empty (the script then tells whether
 * the stream ended), or an error. */
static int list_pop(struct ferry__rq *q, size_t want, int64_t deadline)
{
  char key[FERRY_NAME_MAX + 32], w[24];
  snprintf(key, sizeof key, "ferry:{%s}:l", q->o.name);
  snprintf(w, sizeof w, "%zu", want);
  const char *args[] = {"RPOP", key, w};
  redisReply *r = NULL;
  int rc = ferry__robj_cmd(&q->o, &q->o.c, args, NULL, 3, deadline, 0, &r);
  if (rc)
    return rc;
  int got = 0;
  if (r->type == REDIS_REPLY_ARRAY) {
    pthread_mutex_lock(&q->o.mu);
    for (size_t i = 0; i < r->elements && i < want && !rc; i++) {
      if (!ferry__reply_is_str(r->element[i]))
        rc = FERRY_ECORRUPT;
      else
        rc = inbox_push(q, "", 0, r->element[i]->str, r->element[i]->len);
      got += !rc;
    }
    q->uncounted += (uint64_t)got;
    pthread_mutex_unlock(&q->o.mu);
  } else if (r->type != REDIS_REPLY_NIL) {
    rc = FERRY_ECORRUPT;
  }
  freeReplyObject(r);
  return rc && !got ? rc : got;
}

/* Moves the entries of an XREADGROUP reply ([[key, [[id, [f, v, ...]], ...]]],
 * or nil) into the inbox. Returns how many, or FERRY_ECORRUPT. Caller holds
 * o.mu. */
static int read_entries(struct ferry__rq *q, const redisReply *r, size_t want)
{
  if (r->type == REDIS_REPLY_NIL)
    return 0;
  const redisReply *entries = ferry__reply_at(ferry__reply_at(r, 0), 1);
  if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements > want)
    return FERRY_ECORRUPT;
  int got = 0, rc = 0;
  for (size_t i = 0; i < entries->elements && !rc; i++) {
    const redisReply *e = entries->element[i];
    const redisReply *eid = ferry__reply_at(e, 0);
    const redisReply *d = entry_data(e);
    if (!ferry__reply_is_str(eid))
      rc = FERRY_ECORRUPT;
    else
      rc = inbox_push(q, eid->str, eid->len, d ? d->str : "", d ? d->len : 0);
    got += !rc;
  }
  q->uncounted += (uint64_t)got;
  return rc && !got ? rc : got;
}

/* The reclaimed messages of a take script's reply {n, id, deliveries, data,
 * ...} into the inbox, or its end-of-stream flag {0, eos}. Returns how many,
 * -EPIPE, or FERRY_ECORRUPT. Caller holds o.mu. */
static int take_reply(struct ferry__rq *q, const redisReply *r, size_t want)
{
  int64_t n;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || ferry__reply_i64(r->element[0], &n) ||
      n < 0 || (size_t)n > want)
    return FERRY_ECORRUPT;
  if (n == 0) {
    int64_t eos = 0;
    if (r->elements != 2 || ferry__reply_i64(r->element[1], &eos))
      return FERRY_ECORRUPT;
    return eos ? -EPIPE : 0;
  }
  if (r->elements != 1 + 3 * (size_t)n)
    return FERRY_ECORRUPT;
  for (int64_t i = 0; i < n; i++) {
    const redisReply *eid = r->element[1 + 3 * i], *d = r->element[3 + 3 * i];
    if (!ferry__reply_is_str(d) || !ferry__reply_is_str(eid))
      return FERRY_ECORRUPT;
    int64_t cnt;
    if (ferry__reply_i64(r->element[2 + 3 * i], &cnt) || cnt < 1)
      return FERRY_ECORRUPT;
    int rc = inbox_push(q, eid->str, eid->len, d->str, d->len);
    if (rc)
      return rc;
    q->inbox[q->in_head + q->in_n - 1].before = cnt - 1;
  }
  return (int)n;
}

/* The arguments of a give-back [queue-give]: `lead` slots for the caller
 * to fill, then an id and its deliveries before ours for each inbox message
 * from the from-th on. One allocation (the caller frees it), or NULL. */
static const char **give_args(const struct ferry__rq *q, size_t lead, size_t from, size_t *nargs)
{
  size_t n = q->in_n - from;
  const char **args = malloc((lead + 2 * n) * sizeof *args + n * 24);
  if (!args)
    return NULL;
  char(*nums)[24] = (char(*)[24])(args + lead + 2 * n);
  for (size_t i = 0; i < n; i++) {
    const struct rmsg *m = &q->inbox[q->in_head + from + i];
    snprintf(nums[i], sizeof nums[i], "%lld", (long long)m->before);
    args[lead + 2 * i] = m->id;
    args[lead + 2 * i + 1] = nums[i];
  }
  *nargs = lead + 2 * n;
  return args;
}

/* Gives back what a take brought beyond its first `keep` messages
 * [queue-give]. They leave the inbox first, so that the keeper no longer
 * renews them; if the server cannot be told, they return to it. Only the
 * caller's thread writes the inbox, so the entries past in_n stay intact
 * meanwhile. */
static void give_back(struct ferry__rq *q, size_t keep, int64_t deadline)
{
  size_t nargs, n = q->in_n;
  const char **args = give_args(q, 1, keep, &nargs);
  if (!args)
    return;
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)q->o.id);
  args[0] = id;
  pthread_mutex_lock(&q->o.mu);
  q->in_n = keep;
  pthread_mutex_unlock(&q->o.mu);
  redisReply *r = NULL;
  int rc = ferry__robj_script(&q->o, &q->o.c, FERRY__S_Q_GIVE, args, NULL, nargs, deadline, &r);
  free(args);
  if (rc) {
    pthread_mutex_lock(&q->o.mu);
    q->in_n = n;
    pthread_mutex_unlock(&q->o.mu);
    return;
  }
  freeReplyObject(r);
  for (size_t i = keep; i < n; i++)
    msg_free(&q->inbox[q->in_head + i]);
}

/* Stream mode's take, one round trip of two commands: the take script
 * (acknowledges held, reclaims expired leases) and a plain XREADGROUP of
 * new messages [queue-take]. Returns how many arrived (> 0), 0 if none,
 * -EPIPE at the end of the stream, or an error. */
static int take_stream(struct ferry__rq *q, size_t want, int64_t deadline)
{
  struct ferry__rconn *c = &q->o.c;
  char cons[32];
  snprintf(cons, sizeof cons, "c%lld", (long long)q->o.id);
  int attempts = 0;
  ferry__rconn_op(c);
  for (;;) {
    int rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      /* Only this thread writes held and uncounted. */
      size_t na = q->nheld;
      uint64_t uncounted = q->uncounted;
      ferry__rc_script(c, FERRY__S_Q_TAKE, 1, 5 + na);
      ferry__rc_key(c, q->o.name, "meta");
      ferry__rc_i64(c, q->o.id);
      ferry__rc_u64(c, want);
      ferry__rc_u64(c, uncounted);
      ferry__rc_str(c, id_top(q->held, na, NULL));
      ferry__rc_u64(c, na);
      for (size_t i = 0; i < na; i++)
        ferry__rc_str(c, q->held[i]);
      ferry__rc_begin(c, 9);
      ferry__rc_str(c, "XREADGROUP");
      ferry__rc_str(c, "GROUP");
      ferry__rc_str(c, "g");
      ferry__rc_str(c, cons);
      ferry__rc_str(c, "COUNT");
      ferry__rc_u64(c, want);
      ferry__rc_str(c, "STREAMS");
      ferry__rc_key(c, q->o.name, "q");
      ferry__rc_str(c, ">");
      redisReply *reps[2] = {NULL, NULL};
      rc = ferry__rconn_run(c, reps, 2, deadline, 0);
      if (!rc) {
        int got = 0, eos = 0, err = 0;
        pthread_mutex_lock(&q->o.mu);
        if (reps[0]->type == REDIS_REPLY_ERROR) {
          err = ferry__redis_reply_err(reps[0]);
        } else {
          /* The acknowledgements and counts took effect with the script. */
          q->nheld = 0;
          q->uncounted -= uncounted;
          int k = take_reply(q, reps[0], want);
          if (k == -EPIPE)
            eos = 1;
          else if (k < 0)
            err = k;
          else
            got += k;
        }
        /* Whatever the script did, what the read delivered is ours now. */
        if (reps[1]->type == REDIS_REPLY_ERROR) {
          if (!err)
            err = ferry__redis_reply_err(reps[1]);
        } else {
          int k = read_entries(q, reps[1], want);
          if (k < 0) {
            if (!err)
              err = k;
          } else {
            got += k;
          }
        }
        pthread_mutex_unlock(&q->o.mu);
        freeReplyObject(reps[0]);
        freeReplyObject(reps[1]);
        if ((size_t)got > want) {
          give_back(q, want, deadline);
          got = (int)q->in_n;
        }
        if (got)
          return got;
        if (eos && !err)
          return -EPIPE;
        if (!err)
          return 0;
        rc = err;
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts))
      return rc == -EINPROGRESS ? -EAGAIN : rc == -ENOEXEC ? -EPROTO : rc;
  }
}

/* The take once: acknowledges held, takes up to want. Returns how many
 * arrived (> 0), 0 if none, -EPIPE at the end of the stream, or an error.
 * List mode pops first and runs its script (the end of the stream, the
 * statistics) only when the list was empty. */
static int take_once(struct ferry__rq *q, size_t want, int64_t deadline)
{
  if (!q->list)
    return take_stream(q, want, deadline);
  int got = list_pop(q, want, deadline);
  if (got != 0)
    return got;
  char w[24], extra[24];
  snprintf(w, sizeof w, "%zu", want);
  /* Only this thread writes uncounted. */
  uint64_t uncounted = q->uncounted;
  snprintf(extra, sizeof extra, "%llu", (unsigned long long)uncounted);
  const char *args[] = {w, extra};
  redisReply *r = NULL;
  int rc = ferry__robj_script(&q->o, &q->o.c, FERRY__S_Q_LTAKE, args, NULL, 2, deadline, &r);
  if (rc)
    return rc;
  pthread_mutex_lock(&q->o.mu);
  q->uncounted -= uncounted;
  int64_t n;
  rc = 0;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || ferry__reply_i64(r->element[0], &n) ||
      n < 0 || (size_t)n > want) {
    rc = FERRY_ECORRUPT;
  } else if (n == 0) {
    int64_t eos = 0;
    if (r->elements != 2 || ferry__reply_i64(r->element[1], &eos))
      rc = FERRY_ECORRUPT;
    else
      rc = eos ? -EPIPE : 0;
  } else if (r->elements != 1 + (size_t)n) {
    rc = FERRY_ECORRUPT;
  } else {
    for (int64_t i = 0; i < n && !rc; i++) {
      const redisReply *d = r->element[1 + i];
      if (!ferry__reply_is_str(d))
        rc = FERRY_ECORRUPT;
      else
        rc = inbox_push(q, "", 0, d->str, d->len);
    }
    if (!rc)
      rc = (int)n;
  }
  pthread_mutex_unlock(&q->o.mu);
  freeReplyObject(r);
  return rc;
}

/* A blocking read of at most `ms`. Returns how many arrived, or an error. */
static int block_once(struct ferry__rq *q, size_t want, int64_t ms, int64_t deadline)
{
  char key[FERRY_NAME_MAX + 32], cons[32], wbuf[24], msbuf[32];
  snprintf(wbuf, sizeof wbuf, "%zu", want);
  redisReply *r = NULL;
  int rc;
  if (q->list) {
    snprintf(key, sizeof key, "ferry:{%s}:l", q->o.name);
    snprintf(msbuf, sizeof msbuf, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    const char *args[] = {"BLMPOP", msbuf, "1", key, "RIGHT", "COUNT", wbuf};
    rc = ferry__robj_cmd(&q->o, &q->o.c, args, NULL, 7, deadline, ms * FERRY_MSEC, &r);
  } else {
    snprintf(key, sizeof key, "ferry:{%s}:q", q->o.name);
    snprintf(cons, sizeof cons, "c%lld", (long long)q->o.id);
    snprintf(msbuf, sizeof msbuf, "%lld", (long long)ms);
    const char *args[] = {"XREADGROUP", "GROUP", "g", cons, "BLOCK", msbuf, "COUNT", wbuf,
                          "STREAMS",    key,     ">"};
    rc = ferry__robj_cmd(&q->o, &q->o.c, args, NULL, 11, deadline, ms * FERRY_MSEC, &r);
  }
  if (rc)
    return rc;
  if (r->type == REDIS_REPLY_NIL) {
    freeReplyObject(r);
    return 0;
  }
  pthread_mutex_lock(&q->o.mu);
  int got = 0;
  rc = 0;
  if (q->list) {
    const redisReply *els = ferry__reply_at(r, 1);
    if (!els || els->type != REDIS_REPLY_ARRAY || els->elements > want) {
      rc = FERRY_ECORRUPT;
    } else {
      for (size_t i = 0; i < els->elements && !rc; i++) {
        if (!ferry__reply_is_str(els->element[i]))
          rc = FERRY_ECORRUPT;
        else
          rc = inbox_push(q, "", 0, els->element[i]->str, els->element[i]->len);
        got += !rc;
      }
      q->uncounted += (uint64_t)got;
    }
  } else {
    got = read_entries(q, r, want);
    if (got < 0) {
      rc = got;
      got = 0;
    }
  }
  pthread_mutex_unlock(&q->o.mu);
  freeReplyObject(r);
  if (got)
    ferry__robj_keeper_poke(&q->o);
  return rc && !got ? rc : got;
}

/* Makes sure the inbox holds a message, taking up to want, waiting per the
 * timeout [queue-take]. */
static int fill(struct ferry__rq *q, size_t want, int64_t timeout_ns)
{
  if (q->in_n)
    return 0;
  int64_t deadline = ferry__redis_deadline(timeout_ns);
  if (want > BATCH_MAX)
    want = BATCH_MAX;
  for (;;) {
    int rc = take_once(q, want, deadline);
    if (rc > 0)
      return 0;
    if (rc < 0)
      return rc;
    if (timeout_ns == 0)
      return -EAGAIN;
    int64_t left = deadline - ferry__redis_now();
    if (left <= 0)
      return -ETIMEDOUT;
    int64_t slice = left < SLICE_NS ? left : SLICE_NS;
    int64_t ms = slice / FERRY_MSEC;
    if (ms < 1)
      ms = 1;
    rc = block_once(q, want, ms, deadline);
    if (rc > 0)
      return 0;
    if (rc < 0)
      return rc;
  }
}

static int get_checks(const struct ferry__rq *q, int64_t timeout_ns)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  if (!(q->role & FERRY_ROLE_CONSUMER))
    return -EPERM;
  if (q->peeked)
    return -EBUSY;
  return ferry__check_timeout(timeout_ns);
}

ssize_t ferry__rq_get(ferry__rq *q, void *buf, size_t cap, int64_t timeout_ns)
{
  int rc = get_checks(q, timeout_ns);
  if (rc)
    return rc;
  if ((rc = fill(q, 1, timeout_ns)))
    return rc;
  const struct rmsg *m = &q->inbox[q->in_head];
  if (m->len > cap)
    return -EMSGSIZE;
  struct rmsg t = inbox_take(q, true);
  size_t len = t.len;
  if (len)
    memcpy(buf, t.data, len);
  msg_free(&t);
  return (ssize_t)len;
}

ssize_t ferry__rq_get_many(ferry__rq *q, ferry_queue_vec *msgs, size_t n, int64_t timeout_ns)
{
  int rc = get_checks(q, timeout_ns);
  if (rc)
    return rc;
  if (!n)
    return 0;
  if ((rc = fill(q, n, timeout_ns)))
    return rc;
  size_t done = 0;
  while (done < n && q->in_n) {
    const struct rmsg *m = &q->inbox[q->in_head];
    if (m->len > msgs[done].len)
      break;
    struct rmsg t = inbox_take(q, true);
    if (t.len)
      memcpy(msgs[done].data, t.data, t.len);
    msgs[done].len = t.len;
    msg_free(&t);
    done++;
  }
  return done ? (ssize_t)done : -EMSGSIZE;
}

int ferry__rq_peek(ferry__rq *q, const void **data, size_t *len, int64_t timeout_ns)
{
  int rc = get_checks(q, timeout_ns);
  if (rc)
    return rc;
  if ((rc = fill(q, 1, timeout_ns)))
    return rc;
  struct rmsg t = inbox_take(q, false);
  pthread_mutex_lock(&q->o.mu);
  q->peek = t;
  q->peeked = true;
  pthread_mutex_unlock(&q->o.mu);
  *data = q->peek.data;
  *len = q->peek.len;
  return 0;
}

/* Acknowledges held and the peeked message now (one round trip). */
static int ack_now(struct ferry__rq *q, int64_t deadline)
{
  if (q->list)
    return 0;
  size_t n = q->nheld + (q->peeked ? 1 : 0);
  uint64_t uncounted = q->uncounted;
  if (!n && !uncounted)
    return 0;
  const char **args = malloc((n + 2) * sizeof *args);
  if (!args)
    return -ENOMEM;
  char ucount[24];
  snprintf(ucount, sizeof ucount, "%llu", (unsigned long long)uncounted);
  size_t k = 0;
  args[k++] = ucount;
  args[k++] = id_top(q->held, q->nheld, q->peeked ? q->peek.id : NULL);
  for (size_t i = 0; i < q->nheld; i++)
    args[k++] = q->held[i];
  if (q->peeked)
    args[k++] = q->peek.id;
  redisReply *r = NULL;
  int rc = ferry__robj_script(&q->o, &q->o.c, FERRY__S_Q_ACK, args, NULL, k, deadline, &r);
  free(args);
  if (rc)
    return rc;
  freeReplyObject(r);
  pthread_mutex_lock(&q->o.mu);
  q->nheld = 0;
  q->uncounted -= uncounted;
  pthread_mutex_unlock(&q->o.mu);
  return 0;
}

int ferry__rq_release(ferry__rq *q)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  if (!q->peeked)
    return -EINVAL;
  if ((rc = ack_now(q, ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS))))
    return rc;
  pthread_mutex_lock(&q->o.mu);
  q->peeked = false;
  pthread_mutex_unlock(&q->o.mu);
  msg_free(&q->peek);
  return 0;
}

/* ---- shutdown, state ------------------------------------------------------------------ */

int ferry__rq_shutdown(ferry__rq *q)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  const char *args[] = {"queue"};
  redisReply *r = NULL;
  rc = ferry__robj_script(&q->o, &q->o.c, FERRY__S_SHUTDOWN, args, NULL, 1,
                          ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS), &r);
  if (!rc)
    freeReplyObject(r);
  return rc;
}

enum {
  ST_DEPTH,
  ST_HELD,
  ST_PRODUCERS,
  ST_CONSUMERS,
  ST_DEADLEN,
  ST_PUTS,
  ST_GETS,
  ST_DEAD,
  ST_RECLAIMED,
  ST_SHUTDOWN,
  ST_CAPACITY,
  ST_MAX_MSG,
  ST_LEASE,
  ST_MAXDELIV,
  ST_LIST,
  ST_COUNT
};

static int state(struct ferry__robj *o, int64_t v[ST_COUNT])
{
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, &o->c, FERRY__S_Q_STATE, NULL, NULL, 0,
                              ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS), &r);
  if (rc)
    return rc;
  rc = 0;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != ST_COUNT)
    rc = FERRY_ECORRUPT;
  for (size_t i = 0; !rc && i < ST_COUNT; i++)
    if (ferry__reply_i64(r->element[i], &v[i]) || v[i] < 0)
      rc = FERRY_ECORRUPT;
  freeReplyObject(r);
  return rc;
}

static void fill_stats(const int64_t v[ST_COUNT], ferry_queue_stats *out)
{
  ferry_queue_stats s;
  memset(&s, 0, sizeof s);
  s.capacity = (uint64_t)v[ST_CAPACITY];
  s.max_msg_size = (uint64_t)v[ST_MAX_MSG];
  s.depth = (uint64_t)v[ST_DEPTH];
  s.puts = (uint64_t)v[ST_PUTS];
  s.gets = (uint64_t)v[ST_GETS];
  s.recovered = (uint64_t)v[ST_RECLAIMED];
  s.lost = (uint64_t)v[ST_DEAD];
  s.producers = (uint32_t)v[ST_PRODUCERS];
  s.consumers = (uint32_t)v[ST_CONSUMERS];
  s.shutdown = v[ST_SHUTDOWN] != 0;
  *out = s;
}

size_t ferry__rq_depth(ferry__rq *q)
{
  int64_t v[ST_COUNT];
  if (ferry__robj_check(&q->o) || state(&q->o, v))
    return 0;
  return (size_t)v[ST_DEPTH];
}

int ferry__rq_stats(ferry__rq *q, ferry_queue_stats *out)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  int64_t v[ST_COUNT];
  if ((rc = state(&q->o, v)))
    return rc;
  fill_stats(v, out);
  return 0;
}

int ferry__rq_stat(const char *name, ferry_queue_stats *out)
{
  struct ferry__robj o;
  int rc = ferry__robj_init(&o, name, "queue");
  if (rc)
    return rc;
  int64_t v[ST_COUNT];
  if (!(rc = state(&o, v)))
    fill_stats(v, out);
  ferry__robj_fini(&o, false);
  return rc;
}

int ferry__rq_info(const char *name, ferry_redis_queue_info *out)
{
  struct ferry__robj o;
  int rc = ferry__robj_init(&o, name, "queue");
  if (rc)
    return rc;
  int64_t v[ST_COUNT];
  if (!(rc = state(&o, v))) {
    ferry_redis_queue_info i;
    memset(&i, 0, sizeof i);
    i.depth = (uint64_t)v[ST_DEPTH];
    i.held = (uint64_t)v[ST_HELD];
    i.dead = (uint64_t)v[ST_DEADLEN];
    i.dead_total = (uint64_t)v[ST_DEAD];
    i.reclaimed = (uint64_t)v[ST_RECLAIMED];
    i.puts = (uint64_t)v[ST_PUTS];
    i.gets = (uint64_t)v[ST_GETS];
    i.producers = (uint32_t)v[ST_PRODUCERS];
    i.consumers = (uint32_t)v[ST_CONSUMERS];
    i.lease_ns = v[ST_LEASE] * FERRY_MSEC;
    i.max_deliveries = (uint32_t)v[ST_MAXDELIV];
    i.flags = v[ST_LIST] ? FERRY_REDIS_NO_LEASE : 0;
    i.shutdown = v[ST_SHUTDOWN] != 0;
    *out = i;
  }
  ferry__robj_fini(&o, false);
  return rc;
}

ssize_t ferry__rq_dead(const char *name, ferry_redis_dead_letter *out, void *buf, size_t cap,
                       size_t n)
{
  struct ferry__robj o;
  int rc = ferry__robj_init(&o, name, "queue");
  if (rc)
    return rc;
  char key[FERRY_NAME_MAX + 32], count[24];
  snprintf(key, sizeof key, "ferry:{%s}:dead", o.name);
  snprintf(count, sizeof count, "%zu", n ? n : 1);
  const char *args[] = {"XRANGE", key, "-", "+", "COUNT", count};
  redisReply *r = NULL;
  rc = ferry__robj_cmd(&o, &o.c, args, NULL, 6,
                       ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS), 0, &r);
  ssize_t got = 0;
  if (!rc && n) {
    size_t used = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
      got = FERRY_ECORRUPT;
    } else {
      for (size_t i = 0; i < r->elements && (size_t)got < n; i++) {
        const redisReply *kv = ferry__reply_at(r->element[i], 1);
        if (!kv || kv->type != REDIS_REPLY_ARRAY)
          continue;
        ferry_redis_dead_letter l;
        memset(&l, 0, sizeof l);
        const redisReply *d = NULL;
        for (size_t j = 0; j + 1 < kv->elements; j += 2) {
          const redisReply *f = kv->element[j], *v = kv->element[j + 1];
          if (!ferry__reply_is_str(f) || !ferry__reply_is_str(v))
            continue;
          if (f->len == 1 && f->str[0] == 'd') {
            d = v;
          } else if (f->len == 6 && memcmp(f->str, "reason", 6) == 0) {
            size_t k = v->len < sizeof l.reason - 1 ? v->len : sizeof l.reason - 1;
            memcpy(l.reason, v->str, k);
          } else if (f->len == 10 && memcmp(f->str, "deliveries", 10) == 0) {
            int64_t x;
            if (!ferry__reply_i64(v, &x) && x >= 0)
              l.deliveries = (uint64_t)x;
          }
        }
        if (!d)
          continue;
        if (d->len > cap - used) {
          if (!got)
            got = -EMSGSIZE;
          break;
        }
        memcpy((char *)buf + used, d->str, d->len);
        l.data = (char *)buf + used;
        l.len = d->len;
        used += d->len;
        out[got++] = l;
      }
    }
  }
  if (!rc)
    freeReplyObject(r);
  ferry__robj_fini(&o, false);
  return rc ? rc : got;
}

int ferry__rq_recover(ferry__rq *q)
{
  int rc = ferry__robj_check(&q->o);
  if (rc)
    return rc;
  /* Lifts the sweep's pacing: the next take reclaims every expired lease
   * it finds. Reclaiming itself happens in takes. */
  char key[FERRY_NAME_MAX + 32];
  snprintf(key, sizeof key, "ferry:{%s}:rc", q->o.name);
  const char *args[] = {"DEL", key};
  redisReply *r = NULL;
  rc = ferry__robj_cmd(&q->o, &q->o.c, args, NULL, 2,
                       ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS), 0, &r);
  if (!rc)
    freeReplyObject(r);
  return rc;
}

int64_t ferry__rq_id(const ferry__rq *q) { return q->o.id; }

/* ---- the keeper's tick ------------------------------------------------------------------ */

static int q_tick(struct ferry__robj *o, struct ferry__rconn *kc, int64_t deadline)
{
  struct ferry__rq *q = (struct ferry__rq *)o;
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)o->id);
  if (q->list) {
    const char *args[] = {"queue", o->roles, id};
    redisReply *r = NULL;
    int rc = ferry__robj_script(o, kc, FERRY__S_PRESENCE, args, NULL, 3, deadline, &r);
    if (!rc)
      freeReplyObject(r);
    return rc;
  }
  pthread_mutex_lock(&o->mu);
  size_t n = q->in_n + q->nheld + (q->peeked ? 1 : 0);
  char(*ids)[ID_MAX] = malloc((n ? n : 1) * sizeof *ids);
  if (!ids) {
    pthread_mutex_unlock(&o->mu);
    return -ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < q->in_n; i++)
    memcpy(ids[k++], q->inbox[q->in_head + i].id, ID_MAX);
  for (size_t i = 0; i < q->nheld; i++)
    memcpy(ids[k++], q->held[i], ID_MAX);
  if (q->peeked)
    memcpy(ids[k++], q->peek.id, ID_MAX);
  pthread_mutex_unlock(&o->mu);
  const char **args = malloc((2 + n) * sizeof *args);
  if (!args) {
    free(ids);
    return -ENOMEM;
  }
  args[0] = o->roles;
  args[1] = id;
  for (size_t i = 0; i < n; i++)
    args[2 + i] = ids[i];
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, kc, FERRY__S_Q_RENEW, args, NULL, 2 + n, deadline, &r);
  free(args);
  free(ids);
  if (rc)
    return rc;
  if (r->type == REDIS_REPLY_ARRAY && r->elements) {
    pthread_mutex_lock(&o->mu);
    o->lost += r->elements;
    pthread_mutex_unlock(&o->mu);
  }
  freeReplyObject(r);
  return 0;
}

/* ---- create, open, close ------------------------------------------------------------------ */

static int q_open_as(struct ferry__rq *q, uint32_t role, int64_t timeout_ns)
{
  char letters[4];
  roles_letters(role, letters);
  int rc = ferry__robj_open(&q->o, letters, timeout_ns);
  if (rc)
    return rc;
  size_t mlen;
  const char *mode = ferry__robj_meta(&q->o, "mode", &mlen);
  if (!mode || (strcmp(mode, "stream") && strcmp(mode, "list")) ||
      ferry__robj_meta_i64(&q->o, "capacity", FERRY_QUEUE_MIN_CAPACITY, FERRY_QUEUE_MAX_CAPACITY,
                           &q->capacity) ||
      ferry__robj_meta_i64(&q->o, "max_msg", 1, REDIS_MAX_MSG, &q->max_msg) ||
      ferry__robj_meta_i64(&q->o, "lease_ms", 0, FERRY_REDIS_LEASE_MAX_NS / FERRY_MSEC,
                           &q->lease_ms) ||
      ferry__robj_meta_i64(&q->o, "max_deliveries", 0, UINT32_MAX, &q->max_deliveries))
    return FERRY_ECORRUPT;
  q->list = strcmp(mode, "list") == 0;
  q->role = role;
  q->next_seq = 1;
  q->o.tick = q_tick;
  return ferry__robj_keeper_start(&q->o);
}

static void q_free(struct ferry__rq *q)
{
  for (size_t i = 0; i < q->in_n; i++)
    msg_free(&q->inbox[q->in_head + i]);
  free(q->inbox);
  free(q->held);
  if (q->peeked)
    msg_free(&q->peek);
  free(q->res);
  free(q);
}

int ferry__rq_create(const char *name, const ferry_queue_options *o,
                     const ferry_redis_options *ro, ferry__rq **out)
{
  /* libferry passes both filled in (the defaults for NULL). */
  if (!o || !ro)
    return -EINVAL;
  if (o->capacity < FERRY_QUEUE_MIN_CAPACITY || o->capacity > FERRY_QUEUE_MAX_CAPACITY ||
      o->max_msg_size < 1 || o->max_msg_size > FERRY_QUEUE_MAX_MSG ||
      o->max_msg_size > REDIS_MAX_MSG || o->spin_ns < 0 || o->spin_ns > FERRY_QUEUE_SPIN_MAX_NS ||
      (o->region.role & ~(QUEUE_ROLES | FERRY_ROLE_CREATOR)) ||
      o->region.max_participants < 1 ||
      o->region.max_participants > FERRY_MAX_PARTICIPANTS_LIMIT ||
      ro->lease_ns < FERRY_REDIS_LEASE_MIN_NS || ro->lease_ns > FERRY_REDIS_LEASE_MAX_NS ||
      (ro->flags & ~(uint32_t)FERRY_REDIS_NO_LEASE) || o->reserved32)
    return -EINVAL;
  /* The stream may end by close after the first producer's open only
   * [queue-eos]: a start gate of more producers is shared memory's. */
  if (o->expected_producers > 1)
    return -ENOTSUP;
  struct ferry__rq *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  int rc = ferry__robj_init(&q->o, name, "queue");
  if (rc) {
    free(q);
    return rc;
  }
  char cap[24], msg[24], lease[24], maxd[24];
  snprintf(cap, sizeof cap, "%u", o->capacity);
  snprintf(msg, sizeof msg, "%u", o->max_msg_size);
  snprintf(lease, sizeof lease, "%lld", (long long)(ro->lease_ns / FERRY_MSEC));
  snprintf(maxd, sizeof maxd, "%u", ro->max_deliveries);
  const char *fields[] = {"capacity", cap,   "max_msg",        msg,
                          "lease_ms", lease, "live_ms",        lease,
                          "mode",     (ro->flags & FERRY_REDIS_NO_LEASE) ? "list" : "stream",
                          "max_deliveries", maxd};
  rc = ferry__robj_create(&q->o, fields, NULL, sizeof fields / sizeof fields[0]);
  if (!rc)
    rc = q_open_as(q, o->region.role & QUEUE_ROLES, FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    ferry__robj_fini(&q->o, true);
    q_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

int ferry__rq_open(const char *name, uint32_t role, const ferry_open_options *o, ferry__rq **out)
{
  if (!role || (role & ~QUEUE_ROLES) || (o && (o->flags & FERRY_OPEN_OBSERVE)) ||
      (o && o->timeout_ns < 0))
    return -EINVAL;
  struct ferry__rq *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  int rc = ferry__robj_init(&q->o, name, "queue");
  if (!rc)
    rc = q_open_as(q, role, o ? o->timeout_ns : FERRY_OPEN_TIMEOUT_DEFAULT_NS);
  if (rc) {
    if (q->o.kind)
      ferry__robj_fini(&q->o, true);
    q_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

void ferry__rq_close(ferry__rq *q)
{
  if (!q)
    return;
  if (ferry__robj_check(&q->o)) {
    ferry__robj_fini(&q->o, false);
    q_free(q);
    return;
  }
  /* The keeper first, so that it cannot renew a presence we remove. */
  ferry__robj_keeper_stop(&q->o);
  /* What the caller had is done: acknowledge it; what it never saw goes
   * back, claimable at once [queue-close]. */
  int64_t deadline = ferry__redis_deadline(FERRY__REDIS_IO_MIN_NS);
  ack_now(q, deadline);
  if (!q->list && q->o.id > 0) {
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)q->o.id);
    size_t nargs;
    const char **args = give_args(q, 2, 0, &nargs);
    if (args) {
      args[0] = q->o.roles;
      args[1] = id;
      redisReply *r = NULL;
      if (ferry__robj_script(&q->o, &q->o.c, FERRY__S_LEAVE, args, NULL, nargs, deadline, &r) ==
          0)
        freeReplyObject(r);
      free(args);
    }
    ferry__robj_fini(&q->o, false);
  } else {
    ferry__robj_fini(&q->o, true);
  }
  q_free(q);
}
