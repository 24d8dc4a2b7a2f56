/* SPDX-License-Identifier: MIT */
/*
 * cmd_redis.c: the ferry command on Redis names (include/ferry/redis.h).
 * The object verbs (queue, heap, dict, rm) take them as they take region
 * names, since the library dispatches; `ferry ls redis://HOST` lists the
 * ferry objects on a server and `ferry info redis://HOST/NAME` shows one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_redis.h"
#include "ferry/ferry.h"

int cli_object_name_valid(const char *name)
{
  if (!ferry_is_redis_name(name))
    return ferry_name_valid(name);
  /* Without the backend the name is not judged here: using it then says
   * that the backend is missing. */
  int rc = ferry_redis_name_valid(name);
  return rc == -ENOTSUP ? 0 : rc;
}

static const char *kind_word(uint32_t kind)
{
  return ferry_kind_name(kind);
}

/* The server part of an object's name: everything before the last '/'. */
static int split(const char *name, char *server, size_t cap)
{
  const char *slash = strrchr(name, '/');
  if (!slash || (size_t)(slash - name) >= cap)
    return -EINVAL;
  memcpy(server, name, (size_t)(slash - name));
  server[slash - name] = 0;
  return 0;
}

static int list(const char *verb, const char *server, ferry_redis_entry **out, ssize_t *n)
{
  ssize_t k = ferry_redis_list(server, NULL, 0);
  if (k < 0) {
    cli_error(verb, (int)k, "%s%s%s", server, k == -ENOTSUP ? ": " : "",
              k == -ENOTSUP ? ferry_redis_status() : "");
    return CLI_FAIL;
  }
  ferry_redis_entry *e = calloc((size_t)k + 16, sizeof *e);
  if (!e) {
    cli_error(verb, -ENOMEM, "%s", server);
    return CLI_FAIL;
  }
  ssize_t m = ferry_redis_list(server, e, (size_t)k + 16);
  if (m < 0) {
    free(e);
    cli_error(verb, (int)m, "%s", server);
    return CLI_FAIL;
  }
  if (m > k + 16)
    m = k + 16; /* objects created meanwhile: those that fit */
  *out = e;
  *n = m;
  return CLI_OK;
}

int cli_redis_ls(const char *server, bool json)
{
  ferry_redis_entry *e;
  ssize_t n;
  int rc = list("ls", server, &e, &n);
  if (rc)
    return rc;
  if (json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_array(&j, false);
    for (ssize_t i = 0; i < n; i++) {
      cli_json_object(&j);
      cli_json_key(&j, "name");
      cli_json_str(&j, e[i].name);
      cli_json_key(&j, "kind");
      cli_json_str(&j, kind_word(e[i].kind));
      cli_json_key(&j, "server");
      cli_json_str(&j, server);
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_finish(&j);
  } else {
    printf("%-40s %s\n", "NAME", "KIND");
    for (ssize_t i = 0; i < n; i++)
      printf("%-40s %s\n", e[i].name, kind_word(e[i].kind));
  }
  free(e);
  return CLI_OK;
}

/* One "key: value" line, or a JSON member. */
struct out {
  bool json;
  cli_json j;
};

static void kv_str(struct out *o, const char *key, const char *v)
{
  if (o->json) {
    cli_json_key(&o->j, key);
    cli_json_str(&o->j, v);
  } else {
    printf("%-16s %s\n", key, v);
  }
}

static void kv_u64(struct out *o, const char *key, uint64_t v)
{
  if (o->json) {
    cli_json_key(&o->j, key);
    cli_json_uint(&o->j, v);
  } else {
    printf("%-16s %llu\n", key, (unsigned long long)v);
  }
}

static int info_queue(struct out *o, const char *name)
{
  ferry_redis_queue_info i;
  int rc = ferry_redis_queue_info_get(name, &i);
  if (rc)
    return rc;
  ferry_queue_stats st;
  if ((rc = ferry_queue_stat(name, &st)))
    return rc;
  kv_u64(o, "depth", i.depth);
  kv_u64(o, "held", i.held);
  kv_u64(o, "capacity", st.capacity);
  kv_u64(o, "max_msg_size", st.max_msg_size);
  kv_u64(o, "producers", i.producers);
  kv_u64(o, "consumers", i.consumers);
  kv_str(o, "delivery", i.flags & FERRY_REDIS_NO_LEASE ? "at most once (no leases)"
                                                       : "at least once (leases)");
  kv_u64(o, "lease_ms", (uint64_t)(i.lease_ns / FERRY_MSEC));
  kv_u64(o, "max_deliveries", i.max_deliveries);
  kv_u64(o, "puts", i.puts);
  kv_u64(o, "gets", i.gets);
  kv_u64(o, "reclaimed", i.reclaimed);
  kv_u64(o, "dead_letters", i.dead);
  kv_u64(o, "dead_total", i.dead_total);
  kv_str(o, "shutdown", i.shutdown ? "yes" : "no");
  return 0;
}

static int info_heap(struct out *o, const char *name)
{
  ferry_heap *h;
  int rc = ferry_heap_open(name, NULL, &h);
  if (rc)
    return rc;
  ferry_heap_stats st;
  rc = ferry_heap_stats_get(h, &st);
  ferry_heap_close(h);
  if (rc)
    return rc;
  kv_u64(o, "size", st.size);
  kv_u64(o, "capacity", st.max_capacity);
  kv_u64(o, "max_payload", st.max_payload);
  kv_u64(o, "pushes", st.pushes);
  kv_u64(o, "pops", st.pops);
  kv_u64(o, "replaces", st.replaces);
  return 0;
}

static int info_dict(struct out *o, const char *name)
{
  ferry_dict *d;
  int rc = ferry_dict_open(name, NULL, &d);
  if (rc)
    return rc;
  ferry_dict_stats st;
  rc = ferry_dict_stats_get(d, &st);
  ferry_dict_close(d);
  if (rc)
    return rc;
  kv_u64(o, "size", st.size);
  kv_u64(o, "capacity", st.max_capacity);
  kv_u64(o, "max_key", st.max_key);
  kv_u64(o, "max_value", st.max_value);
  return 0;
}

static int info_bus(struct out *o, const char *name)
{
  ferry_bus_stats st;
  ferry_bus_sub_stats subs[FERRY_BUS_SUBSCRIBERS_MAX];
  ssize_t n = ferry_bus_stat(name, &st, subs, FERRY_BUS_SUBSCRIBERS_MAX);
  if (n < 0)
    return (int)n;
  kv_str(o, "mode", ferry_bus_mode_name(st.mode));
  kv_u64(o, "slots", st.slots);
  kv_u64(o, "frame_bytes", st.frame_bytes);
  kv_u64(o, "published", st.published);
  kv_u64(o, "subscribers", st.subscribers);
  kv_u64(o, "dropped", st.dropped);
  kv_str(o, "shutdown", st.shutdown ? "yes" : "no");
  for (ssize_t i = 0; i < n && i < FERRY_BUS_SUBSCRIBERS_MAX; i++) {
    if (o->json)
      continue;
    printf("subscriber %-5zd next %llu, lag %llu\n", i + 1,
           (unsigned long long)subs[i].next_seq, (unsigned long long)subs[i].lag);
  }
  return 0;
}

int cli_redis_info(const char *name, bool json)
{
  char server[512];
  if (split(name, server, sizeof server))
    return cli_usage_error("info", "'%s': bad name", name);
  ferry_redis_entry *e;
  ssize_t n;
  int rc = list("info", server, &e, &n);
  if (rc)
    return rc;
  const char *obj = strrchr(name, '/') + 1;
  uint32_t kind = 0;
  for (ssize_t i = 0; i < n; i++)
    if (!strcmp(e[i].name, obj))
      kind = e[i].kind;
  free(e);
  if (!kind) {
    cli_error("info", -ENOENT, "%s", name);
    return CLI_FAIL;
  }
  struct out o = {.json = json};
  if (json) {
    cli_json_init(&o.j, stdout);
    cli_json_object(&o.j);
  }
  kv_str(&o, "name", obj);
  kv_str(&o, "kind", kind_word(kind));
  kv_str(&o, "server", server);
  switch (kind) {
  case FERRY_KIND_QUEUE:
    rc = info_queue(&o, name);
    break;
  case FERRY_KIND_HEAP:
    rc = info_heap(&o, name);
    break;
  case FERRY_KIND_DICT:
    rc = info_dict(&o, name);
    break;
  default:
    rc = info_bus(&o, name);
    break;
  }
  if (json) {
    cli_json_end(&o.j);
    cli_json_finish(&o.j);
  }
  if (rc) {
    cli_error("info", rc, "%s", name);
    return CLI_FAIL;
  }
  return CLI_OK;
}
