/* SPDX-License-Identifier: MIT */
/*
 * robj.c: what every Redis-backed handle shares (see robj.h): parsing its
 * name, creating and opening the object on the server, running scripts
 * with the retry policy, and the keeper thread.
 */
#include "robj.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/region.h"

int ferry__robj_init(struct ferry__robj *o, const char *name, const char *kind)
{
  memset(o, 0, sizeof *o);
  struct ferry__raddr a;
  char nm[FERRY_NAME_MAX + 1];
  int rc = ferry__redis_parse_name(name, &a, nm);
  if (rc)
    return rc;
  memcpy(o->name, nm, sizeof nm);
  o->addr = a;
  o->kind = kind;
  o->pid = getpid();
  ferry__rconn_init(&o->c, &a);
  ferry__rconn_init(&o->kc, &a);
  pthread_mutex_init(&o->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&o->cv, &ca);
  pthread_condattr_destroy(&ca);
  return 0;
}

void ferry__robj_keeper_stop(struct ferry__robj *o)
{
  if (!o->th_started)
    return;
  pthread_mutex_lock(&o->mu);
  o->stop = true;
  pthread_cond_signal(&o->cv);
  pthread_mutex_unlock(&o->mu);
  pthread_join(o->th, NULL);
  o->th_started = false;
}

void ferry__robj_fini(struct ferry__robj *o, bool leave)
{
  if (o->pid != getpid()) {
    /* A forked child: the keeper thread is not ours (it does not exist
     * here) and its mutex may have been held at the fork. Close our copies
     * of the sockets; the parent's connections are untouched. */
    ferry__rconn_forget(&o->c);
    ferry__rconn_forget(&o->kc);
  } else {
    ferry__robj_keeper_stop(o);
    if (leave && o->id > 0) {
      char id[24];
      snprintf(id, sizeof id, "%lld", (long long)o->id);
      const char *args[] = {o->roles, id};
      redisReply *r = NULL;
      /* Best effort: a handle that cannot say goodbye just expires. */
      if (ferry__robj_script(o, &o->c, FERRY__S_LEAVE, args, NULL, 2,
                             ferry__redis_deadline(FERRY__REDIS_IO_MIN_NS), &r) == 0)
        freeReplyObject(r);
    }
    ferry__rconn_free(&o->c);
    ferry__rconn_free(&o->kc);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
  }
  for (size_t i = 0; i < o->nmeta; i++)
    free(o->meta[i].val);
  free(o->meta);
  o->meta = NULL;
  o->nmeta = 0;
}

/* ---- running scripts and commands ------------------------------------------ */

static int finish(int rc)
{
  if (rc == -EINPROGRESS)
    return -EAGAIN; /* the server stayed busy (loading) past the deadline */
  if (rc == -ENOEXEC)
    return -EPROTO; /* our scripts would not load */
  return rc;
}

int ferry__robj_script(struct ferry__robj *o, struct ferry__rconn *c, enum ferry__script_id id,
                       const char *const *args, const size_t *lens, size_t nargs,
                       int64_t deadline, redisReply **rep)
{
  int attempts = 0;
  ferry__rconn_op(c);
  for (;;) {
    int rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      ferry__rc_script(c, id, 1, nargs);
      ferry__rc_key(c, o->name, "meta");
      for (size_t i = 0; i < nargs; i++)
        ferry__rc_arg(c, args[i], lens ? lens[i] : strlen(args[i]));
      redisReply *r = NULL;
      rc = ferry__rconn_run(c, &r, 1, deadline, 0);
      if (!rc) {
        if (r->type != REDIS_REPLY_ERROR) {
          *rep = r;
          return 0;
        }
        rc = ferry__redis_reply_err(r);
        freeReplyObject(r);
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts))
      return finish(rc);
  }
}

int ferry__robj_cmd(struct ferry__robj *o, struct ferry__rconn *c, const char *const *args,
                    const size_t *lens, size_t nargs, int64_t deadline, int64_t block_ns,
                    redisReply **rep)
{
  (void)o;
  int attempts = 0;
  ferry__rconn_op(c);
  for (;;) {
    int rc = ferry__rconn_ensure(c, deadline);
    if (!rc) {
      ferry__rc_begin(c, nargs);
      for (size_t i = 0; i < nargs; i++)
        ferry__rc_arg(c, args[i], lens ? lens[i] : strlen(args[i]));
      redisReply *r = NULL;
      rc = ferry__rconn_run(c, &r, 1, deadline, block_ns);
      if (!rc) {
        if (r->type != REDIS_REPLY_ERROR) {
          *rep = r;
          return 0;
        }
        rc = ferry__redis_reply_err(r);
        freeReplyObject(r);
      }
    }
    if (!ferry__rconn_again(c, rc, deadline, &attempts))
      return finish(rc);
  }
}

/* ---- create and open ---------------------------------------------------------- */

int ferry__robj_create(struct ferry__robj *o, const char *const *fields, const size_t *lens,
                       size_t n)
{
  const char *args[64];
  size_t alens[64];
  if (n + 1 > sizeof args / sizeof args[0])
    return -EINVAL;
  args[0] = o->kind;
  alens[0] = strlen(o->kind);
  for (size_t i = 0; i < n; i++) {
    args[i + 1] = fields[i];
    alens[i + 1] = lens ? lens[i] : strlen(fields[i]);
  }
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, &o->c, FERRY__S_CREATE, args, alens, n + 1,
                              ferry__redis_deadline(FERRY_OPEN_TIMEOUT_DEFAULT_NS), &r);
  if (!rc)
    freeReplyObject(r);
  return rc;
}

int ferry__robj_open(struct ferry__robj *o, const char *roles, int64_t timeout_ns)
{
  if (strlen(roles) >= sizeof o->roles)
    return -EINVAL;
  const char *args[] = {o->kind, roles};
  redisReply *r = NULL;
  int rc = ferry__robj_script(o, &o->c, FERRY__S_OPEN, args, NULL, 2,
                              ferry__redis_deadline(timeout_ns), &r);
  if (rc)
    return rc;
  int64_t id;
  rc = FERRY_ECORRUPT;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->elements % 2 != 1 ||
      ferry__reply_i64(r->element[0], &id) || id < 1)
    goto out;
  size_t n = (r->elements - 1) / 2;
  struct ferry__rmeta *m = calloc(n ? n : 1, sizeof *m);
  if (!m) {
    rc = -ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const redisReply *f = r->element[1 + 2 * i], *v = r->element[2 + 2 * i];
    if (!ferry__reply_is_str(f) || !ferry__reply_is_str(v))
      continue;
    if (f->len >= sizeof m[k].key)
      continue; /* not one of ours */
    memcpy(m[k].key, f->str, f->len);
    m[k].key[f->len] = 0;
    m[k].val = malloc(v->len + 1);
    if (!m[k].val) {
      for (size_t j = 0; j < k; j++)
        free(m[j].val);
      free(m);
      rc = -ENOMEM;
      goto out;
    }
    memcpy(m[k].val, v->str, v->len);
    m[k].val[v->len] = 0;
    m[k].len = v->len;
    k++;
  }
  o->meta = m;
  o->nmeta = k;
  o->id = id;
  memcpy(o->roles, roles, strlen(roles) + 1);
  rc = ferry__robj_meta_i64(o, "live_ms", 1, INT64_C(86400000) * 2, &o->live_ms);
out:
  freeReplyObject(r);
  return rc;
}

const char *ferry__robj_meta(const struct ferry__robj *o, const char *key, size_t *len)
{
  for (size_t i = 0; i < o->nmeta; i++) {
    if (strcmp(o->meta[i].key, key) == 0) {
      if (len)
        *len = o->meta[i].len;
      return o->meta[i].val;
    }
  }
  return NULL;
}

int ferry__robj_meta_i64(const struct ferry__robj *o, const char *key, int64_t lo, int64_t hi,
                         int64_t *v)
{
  size_t len;
  const char *s = ferry__robj_meta(o, key, &len);
  if (!s || len == 0 || len > 20)
    return FERRY_ECORRUPT;
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (errno || *end || x < lo || x > hi)
    return FERRY_ECORRUPT;
  *v = x;
  return 0;
}

/* ---- the keeper ---------------------------------------------------------------- */

static void *keeper_main(void *arg)
{
  struct ferry__robj *o = arg;
  int64_t period = o->live_ms * FERRY_MSEC / 4;
  if (period < FERRY_MSEC)
    period = FERRY_MSEC;
  pthread_mutex_lock(&o->mu);
  int64_t next = ferry__redis_now() + period;
  while (!o->stop) {
    int64_t now = ferry__redis_now();
    if (now < next && !o->poked) {
      struct timespec ts = {.tv_sec = next / FERRY_SEC, .tv_nsec = next % FERRY_SEC};
      pthread_cond_timedwait(&o->cv, &o->mu, &ts);
      continue;
    }
    next = now + period;
    o->poked = false;
    pthread_mutex_unlock(&o->mu);
    /* A tick may take at most a period: the next one is due then. */
    int rc = o->tick(o, &o->kc, now + period);
    pthread_mutex_lock(&o->mu);
    o->ticks++;
    if (rc)
      o->tick_errors++;
  }
  pthread_mutex_unlock(&o->mu);
  return NULL;
}

int ferry__robj_keeper_start(struct ferry__robj *o)
{
  if (!o->tick || o->th_started)
    return 0;
  /* The keeper takes no signals: they stay with the caller's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&o->th, NULL, keeper_main, o);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc)
    return -rc;
  o->th_started = true;
  return 0;
}

void ferry__robj_keeper_poke(struct ferry__robj *o)
{
  pthread_mutex_lock(&o->mu);
  o->poked = true;
  pthread_cond_signal(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

/* ---- unlink ---------------------------------------------------------------------- */

int ferry__redis_unlink(const char *name)
{
  struct ferry__robj o;
  int rc = ferry__robj_init(&o, name, "any");
  if (rc)
    return rc;
  redisReply *r = NULL;
  rc = ferry__robj_script(&o, &o.c, FERRY__S_UNLINK, NULL, NULL, 0,
                          ferry__redis_deadline(FERRY_OPEN_TIMEOUT_DEFAULT_NS), &r);
  if (!rc)
    freeReplyObject(r);
  ferry__robj_fini(&o, false);
  return rc;
}
