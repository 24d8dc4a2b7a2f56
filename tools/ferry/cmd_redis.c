/* SPDX-License-Identifier: MIT */
/*
 * cmd_redis.c: the ferry command on Redis names (ferry/redis.h). The object
 * verbs (queue, heap, dict, rm) take them as they take region names, since
 * the library dispatches them (CLI_ARG_REDIS lets their names through);
 * `ferry ls redis://HOST` lists the ferry objects on a server and `ferry
 * info redis://HOST/NAME` shows one: its kind, settings and counters, laid
 * out as info lays out a region's statistics.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verbs.h"

/* Objects created while we list them: room for this many more. */
#define LIST_SLACK 16
/* The most statistics one kind shows. */
#define MAX_FIELDS 20

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

/* The ferry objects on `server`: *out (free it) holds *n of them. */
static int list(const char *verb, const char *server, ferry_redis_entry **out, size_t *n)
{
  ssize_t k = ferry_redis_list(server, NULL, 0);
  if (k < 0) {
    if (k == -ENOTSUP)
      return cli_fail(verb, (int)k, "%s: %s", server, ferry_redis_status());
    return cli_fail(verb, (int)k, "%s", server);
  }
  size_t cap = (size_t)k + LIST_SLACK;
  ferry_redis_entry *e = calloc(cap, sizeof *e);
  if (!e)
    return cli_fail(verb, -ENOMEM, "%s", server);
  ssize_t m = ferry_redis_list(server, e, cap);
  if (m < 0) {
    free(e);
    return cli_fail(verb, (int)m, "%s", server);
  }
  *out = e;
  *n = (size_t)m < cap ? (size_t)m : cap; /* objects created meanwhile: those that fit */
  return CLI_OK;
}

int cmd_ls_redis(const char *server, bool json)
{
  ferry_redis_entry *e;
  size_t n;
  int rc = list("ls", server, &e, &n);
  if (rc)
    return rc;
  if (json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_array(&j, false);
    for (size_t i = 0; i < n; i++) {
      cli_json_object(&j);
      cli_json_key(&j, "name");
      cli_json_str(&j, e[i].name);
      cli_json_key(&j, "kind");
      cli_json_str(&j, ferry_kind_name(e[i].kind));
      cli_json_key(&j, "server");
      cli_json_str(&j, server);
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_finish(&j);
  } else {
    int w = (int)strlen("NAME");
    for (size_t i = 0; i < n; i++)
      if ((int)strlen(e[i].name) > w)
        w = (int)strlen(e[i].name);
    printf("%-*s  %s\n", w, "NAME", "KIND");
    for (size_t i = 0; i < n; i++)
      printf("%-*s  %s\n", w, e[i].name, ferry_kind_name(e[i].kind));
  }
  free(e);
  return CLI_OK;
}

/* ---- info ------------------------------------------------------------------------------ */

/* One statistic: a number or a word. */
struct field {
  const char *key;
  bool is_word;
  uint64_t u;
  const char *word;
};

struct rinfo {
  struct field f[MAX_FIELDS];
  size_t n;
  ferry_bus_sub_stats subs[FERRY_BUS_SUBSCRIBERS_MAX];
  size_t nsubs;
};

static void add(struct rinfo *d, const char *key, uint64_t v)
{
  if (d->n < MAX_FIELDS)
    d->f[d->n++] = (struct field){key, false, v, NULL};
}

static void add_word(struct rinfo *d, const char *key, const char *w)
{
  if (d->n < MAX_FIELDS)
    d->f[d->n++] = (struct field){key, true, 0, w};
}

static int gather_queue(const char *name, struct rinfo *d)
{
  ferry_redis_queue_info i;
  int rc = ferry_redis_queue_info_get(name, &i);
  if (rc)
    return rc;
  ferry_queue_stats st;
  if ((rc = ferry_queue_stat(name, &st)))
    return rc;
  add(d, "depth", i.depth);
  add(d, "held", i.held);
  add(d, "capacity", st.capacity);
  add(d, "max_msg_size", st.max_msg_size);
  add(d, "producers", i.producers);
  add(d, "consumers", i.consumers);
  add_word(d, "delivery", i.flags & FERRY_REDIS_NO_LEASE ? "at most once (no leases)"
                                                          : "at least once (leases)");
  add(d, "lease_ms", (uint64_t)(i.lease_ns / FERRY_MSEC));
  add(d, "max_deliveries", i.max_deliveries);
  add(d, "puts", i.puts);
  add(d, "gets", i.gets);
  add(d, "reclaimed", i.reclaimed);
  add(d, "dead_letters", i.dead);
  add(d, "dead_total", i.dead_total);
  add_word(d, "shutdown", i.shutdown ? "yes" : "no");
  return 0;
}

static int gather_heap(const char *name, struct rinfo *d)
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
  add(d, "size", st.size);
  add(d, "capacity", st.max_capacity);
  add(d, "max_payload", st.max_payload);
  add(d, "pushes", st.pushes);
  add(d, "pops", st.pops);
  add(d, "replaces", st.replaces);
  return 0;
}

static int gather_dict(const char *name, struct rinfo *d)
{
  ferry_dict *dc;
  int rc = ferry_dict_open(name, NULL, &dc);
  if (rc)
    return rc;
  ferry_dict_stats st;
  rc = ferry_dict_stats_get(dc, &st);
  ferry_dict_close(dc);
  if (rc)
    return rc;
  add(d, "size", st.size);
  add(d, "capacity", st.max_capacity);
  add(d, "max_key", st.max_key);
  add(d, "max_value", st.max_value);
  return 0;
}

static int gather_bus(const char *name, struct rinfo *d)
{
  ferry_bus_stats st;
  ssize_t n = ferry_bus_stat(name, &st, d->subs, FERRY_BUS_SUBSCRIBERS_MAX);
  if (n < 0)
    return (int)n;
  d->nsubs = (size_t)n < FERRY_BUS_SUBSCRIBERS_MAX ? (size_t)n : FERRY_BUS_SUBSCRIBERS_MAX;
  add_word(d, "mode", ferry_bus_mode_name(st.mode));
  add(d, "slots", st.slots);
  add(d, "frame_bytes", st.frame_bytes);
  add(d, "published", st.published);
  add(d, "subscribers", st.subscribers);
  add(d, "dropped", st.dropped);
  add_word(d, "shutdown", st.shutdown ? "yes" : "no");
  return 0;
}

static void info_json(const char *obj, const char *kind, const char *server,
                      const struct rinfo *d, int err)
{
  cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object(&j);
  cli_json_key(&j, "name");
  cli_json_str(&j, obj);
  cli_json_key(&j, "kind");
  cli_json_str(&j, kind);
  cli_json_key(&j, "server");
  cli_json_str(&j, server);
  cli_json_key(&j, "stats_error");
  cli_json_str(&j, err ? ferry_strerror(err) : NULL);
  cli_json_key(&j, kind);
  if (err) {
    cli_json_null(&j);
  } else {
    cli_json_object(&j);
    for (size_t i = 0; i < d->n; i++) {
      cli_json_key(&j, d->f[i].key);
      if (d->f[i].is_word)
        cli_json_str(&j, d->f[i].word);
      else
        cli_json_uint(&j, d->f[i].u);
    }
    if (strcmp(kind, "bus") == 0) {
      cli_json_key(&j, "subscriber_list");
      cli_json_array(&j, false);
      for (size_t i = 0; i < d->nsubs; i++) {
        cli_json_object(&j);
        cli_json_key(&j, "next_seq");
        cli_json_uint(&j, d->subs[i].next_seq);
        cli_json_key(&j, "lag");
        cli_json_uint(&j, d->subs[i].lag);
        cli_json_end(&j);
      }
      cli_json_end(&j);
    }
    cli_json_end(&j);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
}

static void info_text(const char *obj, const char *kind, const char *server,
                      const struct rinfo *d, int err)
{
  printf("name:       %s\n", obj);
  printf("kind:       %s\n", kind);
  printf("server:     %s\n", server);
  if (err) {
    printf("\n%s: unreadable: %s\n", kind, ferry_strerror(err));
    return;
  }
  printf("\n%s:\n", kind);
  int w = 0;
  for (size_t i = 0; i < d->n; i++)
    if ((int)strlen(d->f[i].key) > w)
      w = (int)strlen(d->f[i].key);
  for (size_t i = 0; i < d->n; i++) {
    if (d->f[i].is_word)
      printf("  %-*s  %s\n", w, d->f[i].key, d->f[i].word);
    else
      printf("  %-*s  %" PRIu64 "\n", w, d->f[i].key, d->f[i].u);
  }
  if (d->nsubs) {
    printf("  %10s  %12s  %8s\n", "SUBSCRIBER", "NEXT", "LAG");
    for (size_t i = 0; i < d->nsubs; i++)
      printf("  %10zu  %12" PRIu64 "  %8" PRIu64 "\n", i + 1, d->subs[i].next_seq,
             d->subs[i].lag);
  }
}

int cmd_info_redis(const char *name, bool json)
{
  char server[FERRY_NAME_MAX + 512];
  if (split(name, server, sizeof server))
    return cli_usage_error("info", "'%s': bad Redis name", name);
  ferry_redis_entry *e;
  size_t n;
  int rc = list("info", server, &e, &n);
  if (rc)
    return rc;
  const char *obj = strrchr(name, '/') + 1;
  uint32_t kind = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, obj) == 0)
      kind = e[i].kind;
  free(e);
  if (!kind)
    return cli_fail("info", -ENOENT, "%s", name);
  struct rinfo *d = calloc(1, sizeof *d);
  if (!d)
    return cli_fail("info", -ENOMEM, "%s", name);
  switch (kind) {
  case FERRY_KIND_QUEUE:
    rc = gather_queue(name, d);
    break;
  case FERRY_KIND_HEAP:
    rc = gather_heap(name, d);
    break;
  case FERRY_KIND_DICT:
    rc = gather_dict(name, d);
    break;
  case FERRY_KIND_BUS:
    rc = gather_bus(name, d);
    break;
  default:
    rc = FERRY_EKIND;
    break;
  }
  const char *kname = ferry_kind_name(kind);
  if (json)
    info_json(obj, kname, server, d, rc);
  else
    info_text(obj, kname, server, d, rc);
  free(d);
  if (rc) {
    cli_error("info", rc, "%s: reading its %s statistics", name, kname);
    return CLI_FAIL;
  }
  return CLI_OK;
}
