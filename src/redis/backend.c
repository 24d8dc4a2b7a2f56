/* SPDX-License-Identifier: MIT */
/*
 * backend.c: the Redis backend's operations table (src/remote.h), the one
 * thing libferry-redis.so exports, and the listing of a server's objects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "robj.h"

/* 0 if name is a valid object name, -EINVAL otherwise. */
static int is_name(const char *name)
{
  struct ferry__raddr a;
  char nm[FERRY_NAME_MAX + 1];
  return ferry__redis_parse_name(name, &a, nm);
}

static const struct ferry__remote_ops ops = {
    .abi = FERRY__REMOTE_ABI,
    .size = sizeof(struct ferry__remote_ops),
    .is_name = is_name,
    .unlink = ferry__redis_unlink,
    .list = ferry__redis_list,
    .queue_create = ferry__rq_create,
    .queue_open = ferry__rq_open,
    .queue_close = ferry__rq_close,
    .queue_put = ferry__rq_put,
    .queue_get = ferry__rq_get,
    .queue_put_many = ferry__rq_put_many,
    .queue_get_many = ferry__rq_get_many,
    .queue_reserve = ferry__rq_reserve,
    .queue_commit = ferry__rq_commit,
    .queue_cancel = ferry__rq_cancel,
    .queue_peek = ferry__rq_peek,
    .queue_release = ferry__rq_release,
    .queue_shutdown = ferry__rq_shutdown,
    .queue_depth = ferry__rq_depth,
    .queue_stats = ferry__rq_stats,
    .queue_stat = ferry__rq_stat,
    .queue_info = ferry__rq_info,
    .queue_dead = ferry__rq_dead,
    .queue_recover = ferry__rq_recover,
    .heap_create = ferry__rh_create,
    .heap_open = ferry__rh_open,
    .heap_close = ferry__rh_close,
    .heap_push = ferry__rh_push,
    .heap_pop = ferry__rh_pop,
    .heap_peek = ferry__rh_peek,
    .heap_size = ferry__rh_size,
    .heap_clear = ferry__rh_clear,
    .heap_replace_all = ferry__rh_replace_all,
    .heap_stats = ferry__rh_stats,
    .dict_create = ferry__rd_create,
    .dict_open = ferry__rd_open,
    .dict_close = ferry__rd_close,
    .dict_get = ferry__rd_get,
    .dict_set = ferry__rd_set,
    .dict_set_nx = ferry__rd_set_nx,
    .dict_del = ferry__rd_del,
    .dict_cas = ferry__rd_cas,
    .dict_update = ferry__rd_update,
    .dict_size = ferry__rd_size,
    .dict_clear = ferry__rd_clear,
    .dict_next = ferry__rd_next,
    .dict_stats = ferry__rd_stats,
    .bus_create = ferry__rb_create,
    .bus_loan = ferry__rb_loan,
    .bus_publish = ferry__rb_publish,
    .bus_seq = ferry__rb_seq,
    .bus_shutdown = ferry__rb_shutdown,
    .bus_close = ferry__rb_close,
    .bus_stats = ferry__rb_stats,
    .bus_subscribe = ferry__rs_subscribe,
    .bus_next = ferry__rs_next,
    .bus_release = ferry__rs_release,
    .bus_unsubscribe = ferry__rs_unsubscribe,
    .bus_sub_stats = ferry__rs_stats,
    .bus_stat = ferry__rb_stat,
};

const struct ferry__remote_ops *ferry_redis_backend(uint32_t abi)
{
  return abi == FERRY__REMOTE_ABI ? &ops : NULL;
}

/* The kinds as ferry_kind numbers (region.h). */
static uint32_t kind_number(const char *s, size_t n)
{
  static const struct {
    const char *name;
    uint32_t kind;
  } kinds[] = {{"queue", FERRY_KIND_QUEUE}, {"bus", FERRY_KIND_BUS},
               {"heap", FERRY_KIND_HEAP},   {"dict", FERRY_KIND_DICT}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strlen(kinds[i].name) == n && memcmp(kinds[i].name, s, n) == 0)
      return kinds[i].kind;
  return 0;
}

ssize_t ferry__redis_list(const char *server, ferry_redis_entry *out, size_t cap)
{
  struct ferry__raddr a;
  int rc = ferry__redis_parse_server(server, &a);
  if (rc)
    return rc;
  struct ferry__robj o;
  memset(&o, 0, sizeof o);
  o.addr = a;
  o.pid = getpid();
  ferry__rconn_init(&o.c, &a);
  int64_t deadline = ferry__redis_deadline(FERRY__REDIS_IO_DEFAULT_NS);
  char cursor[32] = "0";
  ssize_t total = 0;
  do {
    const char *args[] = {"SCAN", cursor, "MATCH", "ferry:{*}:meta", "COUNT", "1000"};
    redisReply *r = NULL;
    rc = ferry__robj_cmd(&o, &o.c, args, NULL, 6, deadline, 0, &r);
    if (rc)
      break;
    const redisReply *cur = ferry__reply_at(r, 0), *keys = ferry__reply_at(r, 1);
    if (!ferry__reply_is_str(cur) || cur->len >= sizeof cursor || !keys ||
        keys->type != REDIS_REPLY_ARRAY) {
      freeReplyObject(r);
      rc = FERRY_ECORRUPT;
      break;
    }
    memcpy(cursor, cur->str, cur->len);
    cursor[cur->len] = 0;
    for (size_t i = 0; i < keys->elements && !rc; i++) {
      const redisReply *k = keys->element[i];
      /* "ferry:{" NAME "}:meta" */
      if (!ferry__reply_is_str(k) || k->len < 14 || k->len - 13 > FERRY_NAME_MAX ||
          memcmp(k->str, "ferry:{", 7) != 0 || memcmp(k->str + k->len - 6, "}:meta", 6) != 0)
        continue;
      size_t nlen = k->len - 13;
      bool ok = true;
      for (size_t j = 0; j < nlen && ok; j++) {
        char ch = k->str[7 + j];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
      }
      if (!ok)
        continue;
      char key[FERRY_NAME_MAX + 16];
      memcpy(key, k->str, k->len);
      key[k->len] = 0;
      const char *kargs[] = {"HGET", key, "kind"};
      redisReply *kr;
      rc = ferry__robj_cmd(&o, &o.c, kargs, NULL, 3, deadline, 0, &kr);
      if (rc)
        break;
      uint32_t kind = ferry__reply_is_str(kr) ? kind_number(kr->str, kr->len) : 0;
      freeReplyObject(kr);
      if (!kind)
        continue;
      if ((size_t)total < cap) {
        memset(&out[total], 0, sizeof out[total]);
        memcpy(out[total].name, k->str + 7, nlen);
        out[total].kind = kind;
      }
      total++;
    }
    freeReplyObject(r);
  } while (!rc && strcmp(cursor, "0") != 0);
  ferry__rconn_free(&o.c);
  return rc ? rc : total;
}
