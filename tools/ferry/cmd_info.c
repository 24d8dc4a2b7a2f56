/* SPDX-License-Identifier: MIT */
/*
 * cmd_info.c: `ferry info NAME`: everything about one region: its header,
 * its participants, and the statistics of its kind (arrays, queue, pipe,
 * bus, heap, dict or pool). It looks as an observer only (FERRY_OPEN_OBSERVE and
 * the objects' *_stat() calls), so it never registers and never changes
 * what it shows.
 *
 * Every kind's statistics are gathered into one list of named fields,
 * printed the same way as text and as JSON, with the same names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verbs.h"

/* Room for ferry_role_format() of every role at once. */
#define ROLE_CAP 128
/* Room for cli_fmt_size(), cli_fmt_time() and numbers. */
#define FIELD_CAP 64
/* Room for "1x2x...x8" with 20-digit dimensions. */
#define SHAPE_CAP (FERRY_ARRAY_MAX_DIMS * 21 + 8)
/* The most statistics one kind has. */
#define MAX_FIELDS 24

const char cli_help_info[] =
    "usage: ferry info [--json] NAME\n"
    "       ferry info [--json] redis://HOST[:PORT]/NAME | unix:///PATH.sock/NAME\n"
    "\n"
    "Show everything about region NAME: its header (kind, layout version,\n"
    "sizes, the memory its file holds in /dev/shm, permission mode, flags,\n"
    "creator, creation time in UTC, liveness bound, opens and reaped\n"
    "slots), its participants (slot, pid, role, alive or dead, attach time)\n"
    "and the statistics of its kind:\n"
    "\n"
    "  array  every array: name, dtype (ferry's name and numpy's typestr),\n"
    "         shape, offset and size in bytes. OFFSET counts from the start\n"
    "         of the object area: the same in every process.\n"
    "  queue  depth, capacity, message size, producers (registered now, the\n"
    "         producer opens the stream waits for before it can end by close,\n"
    "         and the opens so far) and consumers, and the counters: puts,\n"
    "         gets, bytes, waits, lost, holes, recovered\n"
    "  pipe   capacity, message size, the ends held, sleepers, and per\n"
    "         direction the messages sent and not yet received\n"
    "  bus    mode, slots, frames published, the publisher's waits, and each\n"
    "         subscriber's lag and skipped frames\n"
    "  heap   size, capacity, key type and order, pushes, pops, replaces,\n"
    "         sleeping poppers, and the bytes committed (reserved as it\n"
    "         grew) versus used by the records held now\n"
    "  dict   size, capacity, key and value sizes, changes made, and the\n"
    "         bytes committed versus used\n"
    "  pool   kind of worker, state, tasks submitted, done, failed, running\n"
    "         and queued, deaths, retries, respawns, timeouts, and each\n"
    "         worker's state, pid, generation, tasks and current task\n"
    "  raw    bytes only a program knows: no statistics\n"
    "\n"
    "info opens the region as an observer: looking never registers.\n"
    "\n"
    "On a Redis name: the object's kind, server, settings and counters (a\n"
    "queue's depth, messages held under lease, delivery, lease, dead letters;\n"
    "a heap's and a dict's size; a bus's frames and subscribers).\n"
    "\n"
    "Options:\n"
    "  --json   print one JSON object (sizes in bytes, times as ISO-8601 UTC\n"
    "           strings and as nanoseconds, mode as an octal string, the\n"
    "           kind's statistics under its name with the names above)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 done, 1 the region or its statistics are unreadable (or\n"
    "the Redis server could not be reached), 2 bad command line, 5 no such\n"
    "region or object.\n";

/* One statistic: a number, a yes/no or a word. */
struct field {
  const char *key;
  enum { F_UINT, F_BOOL, F_WORD } type;
  uint64_t u;
  const char *word;
};

struct info_data {
  ferry_region_info info;
  bool header; /* false for an incomplete region: only info is known */
  ferry_participant *parts;
  size_t nparts;
  ferry_arrays *arrays; /* array regions only */
  int stats_err;        /* why the kind's statistics are unreadable, or 0 */
  struct field fields[MAX_FIELDS];
  size_t nfields;
  ferry_bus_sub_stats *subs; /* bus: nsubs of them */
  size_t nsubs;
  ferry_pool_worker_info *workers; /* pool: nworkers of them */
  size_t nworkers;
};

static void info_free(struct info_data *d)
{
  free(d->parts);
  free(d->subs);
  free(d->workers);
  ferry_array_close(d->arrays);
}

static void add(struct info_data *d, const char *key, uint64_t v)
{
  if (d->nfields < MAX_FIELDS)
    d->fields[d->nfields++] = (struct field){key, F_UINT, v, NULL};
}

static void add_bool(struct info_data *d, const char *key, bool v)
{
  if (d->nfields < MAX_FIELDS)
    d->fields[d->nfields++] = (struct field){key, F_BOOL, v, NULL};
}

static void add_word(struct info_data *d, const char *key, const char *w)
{
  if (d->nfields < MAX_FIELDS)
    d->fields[d->nfields++] = (struct field){key, F_WORD, 0, w};
}

/* ---- gathering ---------------------------------------------------------------------- */

static void gather_queue(const char *name, struct info_data *d)
{
  ferry_queue_stats q;
  if ((d->stats_err = ferry_queue_stat(name, &q)) != 0)
    return;
  add(d, "depth", q.depth);
  add(d, "capacity", q.capacity);
  add(d, "max_msg_size", q.max_msg_size);
  add(d, "producers", q.producers);
  /* 0 means the default, 1: say what the start gate waits for */
  add(d, "expected_producers", q.expected_producers ? q.expected_producers : 1);
  add(d, "producers_joined", q.producers_joined);
  add(d, "consumers", q.consumers);
  add(d, "puts", q.puts);
  add(d, "gets", q.gets);
  add(d, "bytes_put", q.bytes_put);
  add(d, "bytes_got", q.bytes_got);
  add(d, "put_waits", q.put_waits);
  add(d, "get_waits", q.get_waits);
  add(d, "lost", q.lost);
  add(d, "holes", q.holes);
  add(d, "recovered", q.recovered);
  add_bool(d, "shutdown", q.shutdown);
}

static void gather_pipe(const char *name, struct info_data *d)
{
  ferry_pipe_stats p;
  if ((d->stats_err = ferry_pipe_stat(name, &p)) != 0)
    return;
  add(d, "capacity", p.capacity);
  add(d, "max_msg_size", p.max_msg_size);
  add(d, "ends_held", p.ends_held);
  add(d, "waiters", p.waiters);
  add(d, "sent_0_to_1", p.sent[0]);
  add(d, "depth_0_to_1", p.depth[0]);
  add(d, "sent_1_to_0", p.sent[1]);
  add(d, "depth_1_to_0", p.depth[1]);
}

static void gather_bus(const char *name, struct info_data *d)
{
  size_t cap = d->info.max_participants;
  ferry_bus_stats b;
  if (!(d->subs = calloc(cap ? cap : 1, sizeof *d->subs))) {
    d->stats_err = -ENOMEM;
    return;
  }
  ssize_t k = ferry_bus_stat(name, &b, d->subs, cap);
  if (k < 0) {
    d->stats_err = (int)k;
    return;
  }
  d->nsubs = (size_t)k < cap ? (size_t)k : cap;
  add_word(d, "mode", ferry_bus_mode_name(b.mode));
  add(d, "slots", b.slots);
  add(d, "frame_bytes", b.frame_bytes);
  add(d, "published", b.published);
  add(d, "subscribers", b.subscribers);
  add(d, "max_subscribers", b.max_subscribers);
  add(d, "loan_waits", b.loan_waits);
  add(d, "wait_ns", b.wait_ns);
  add(d, "dropped", b.dropped);
  add_bool(d, "shutdown", b.shutdown);
}

static void gather_heap(const char *name, struct info_data *d)
{
  ferry_heap_stats h;
  if ((d->stats_err = ferry_heap_stat(name, &h)) != 0)
    return;
  add(d, "size", h.size);
  add(d, "capacity", h.capacity);
  add(d, "max_capacity", h.max_capacity);
  add(d, "max_payload", h.max_payload);
  add_word(d, "key_type", h.key_type == FERRY_HEAP_KEY_DOUBLE  ? "double"
                         : h.key_type == FERRY_HEAP_KEY_BYTES ? "bytes"
                                                              : "int64");
  add_word(d, "order", h.order == FERRY_HEAP_MAX ? "max" : "min");
  add(d, "pushes", h.pushes);
  add(d, "pops", h.pops);
  add(d, "replaces", h.replaces);
  add(d, "repairs", h.repairs);
  add(d, "waiters", h.waiters);
  add(d, "committed_bytes", h.committed_bytes);
  add(d, "used_bytes", h.used_bytes);
}

static void gather_dict(const char *name, struct info_data *d)
{
  ferry_dict_stats s;
  if ((d->stats_err = ferry_dict_stat(name, &s)) != 0)
    return;
  add(d, "size", s.size);
  add(d, "capacity", s.capacity);
  add(d, "max_capacity", s.max_capacity);
  add(d, "max_key", s.max_key);
  add(d, "max_value", s.max_value);
  add(d, "slots_used", s.slots_used);
  add(d, "stripes", s.nstripes);
  add(d, "writes", s.writes);
  add(d, "repairs", s.repairs);
  add(d, "committed_bytes", s.committed_bytes);
  add(d, "used_bytes", s.used_bytes);
}

static void gather_list(const char *name, struct info_data *d)
{
  ferry_list_stats s;
  if ((d->stats_err = ferry_list_stat(name, &s)) != 0)
    return;
  add(d, "len", s.len);
  add(d, "capacity", s.capacity);
  add(d, "max_item", s.max_item);
  add(d, "changes", s.changes);
  add(d, "repairs", s.repairs);
}

static const char *pool_kind_name(uint32_t k)
{
  switch (k) {
  case FERRY_POOL_FUNCTION:
    return "function";
  case FERRY_POOL_EXEC:
    return "exec";
  case FERRY_POOL_EXEC_EACH:
    return "exec per task";
  default:
    return "unknown";
  }
}

static const char *pool_state_name(uint32_t st)
{
  static const char *const names[] = {
      [FERRY_POOL_RUNNING] = "running",
      [FERRY_POOL_DRAINING] = "draining",
      [FERRY_POOL_CANCELLING] = "cancelling",
      [FERRY_POOL_STOPPED] = "stopped",
  };
  return st < sizeof names / sizeof names[0] ? names[st] : "unknown";
}

static const char *pool_breaker_name(uint32_t b)
{
  static const char *const names[] = {
      [FERRY_POOL_BREAKER_CLOSED] = "closed",
      [FERRY_POOL_BREAKER_OPEN] = "open",
      [FERRY_POOL_BREAKER_HALF_OPEN] = "half-open",
  };
  return b < sizeof names / sizeof names[0] ? names[b] : "unknown";
}

static void gather_pool(const char *name, struct info_data *d)
{
  ferry_pool_stats s;
  if (!(d->workers = calloc(FERRY_POOL_MAX_WORKERS, sizeof *d->workers))) {
    d->stats_err = -ENOMEM;
    return;
  }
  ssize_t k = ferry_pool_stat(name, &s, d->workers, FERRY_POOL_MAX_WORKERS);
  if (k < 0) {
    d->stats_err = (int)k;
    return;
  }
  d->nworkers = (size_t)k < FERRY_POOL_MAX_WORKERS ? (size_t)k : FERRY_POOL_MAX_WORKERS;
  add_word(d, "worker_kind", pool_kind_name(s.kind));
  add_word(d, "state", pool_state_name(s.state));
  add_word(d, "breaker", pool_breaker_name(s.breaker));
  add(d, "owner_pid", (uint64_t)s.owner_pid);
  add(d, "pgid", (uint64_t)s.pgid);
  add(d, "slots", s.workers);
  add(d, "live", s.live);
  add(d, "idle", s.idle);
  add(d, "submitted", s.submitted);
  add(d, "done", s.done);
  add(d, "failed", s.failed);
  add(d, "running", s.running);
  add(d, "queued", s.queued);
  add(d, "unread", s.unread);
  add(d, "deaths", s.deaths);
  add(d, "retried", s.retried);
  add(d, "respawned", s.respawned);
  add(d, "timeouts", s.timeouts);
}

/* Gathers everything before printing, so that --json output is whole. */
static int info_gather(const char *name, struct info_data *d)
{
  memset(d, 0, sizeof *d);
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.flags = FERRY_OPEN_OBSERVE;
  ferry_region *r;
  int rc = ferry_region_open(name, FERRY_KIND_ANY, &o, &r);
  if (rc == FERRY_EINCOMPLETE) {
    /* stat reports what an unpublished region can tell. */
    if ((rc = ferry_region_stat(name, &d->info)) != 0)
      return rc;
    return d->info.status == FERRY_REGION_INCOMPLETE ? 0 : -EAGAIN;
  }
  if (rc)
    return rc;
  d->header = true;
  if ((rc = ferry_region_info_get(r, &d->info)) != 0) {
    ferry_region_close(r);
    return rc;
  }
  size_t cap = d->info.max_participants;
  d->parts = calloc(cap ? cap : 1, sizeof *d->parts);
  if (!d->parts) {
    ferry_region_close(r);
    return -ENOMEM;
  }
  ssize_t n = ferry_region_participants(r, d->parts, cap);
  ferry_region_close(r);
  if (n < 0)
    return (int)n;
  d->nparts = (size_t)n < cap ? (size_t)n : cap;
  switch (d->info.kind) {
  case FERRY_KIND_ARRAY:
    d->stats_err = ferry_array_open(name, &o, &d->arrays);
    break;
  case FERRY_KIND_QUEUE:
    gather_queue(name, d);
    break;
  case FERRY_KIND_PIPE:
    gather_pipe(name, d);
    break;
  case FERRY_KIND_BUS:
    gather_bus(name, d);
    break;
  case FERRY_KIND_HEAP:
    gather_heap(name, d);
    break;
  case FERRY_KIND_DICT:
    gather_dict(name, d);
    break;
  case FERRY_KIND_LIST:
    gather_list(name, d);
    break;
  case FERRY_KIND_POOL:
    gather_pool(name, d);
    break;
  default:
    break;
  }
  return 0;
}

/* ---- JSON ----------------------------------------------------------------------------- */

/* Offset of an array's data from the start of the object area. */
static uint64_t array_offset(const ferry_arrays *as, const ferry_array *v)
{
  const char *base = ferry_region_data(ferry_array_region(as));
  return (uint64_t)((const char *)v->data - base);
}

static void arrays_json(cli_json *j, const struct info_data *d)
{
  const ferry_frame *f = ferry_array_frame(d->arrays);
  cli_json_object(j);
  cli_json_key(j, "frame_bytes");
  cli_json_uint(j, ferry_frame_bytes(f));
  cli_json_key(j, "arrays");
  cli_json_array(j, false);
  for (size_t i = 0; i < ferry_frame_count(f); i++) {
    ferry_array v;
    if (ferry_frame_array_at(f, i, &v) != 0)
      break;
    cli_json_object(j);
    cli_json_key(j, "name");
    cli_json_str(j, v.name);
    cli_json_key(j, "dtype");
    cli_json_str(j, ferry_dtype_name(v.dtype));
    cli_json_key(j, "typestr");
    cli_json_str(j, ferry_dtype_typestr(v.dtype));
    cli_json_key(j, "shape");
    cli_json_array(j, true);
    for (uint32_t k = 0; k < v.ndim; k++)
      cli_json_uint(j, v.shape[k]);
    cli_json_end(j);
    cli_json_key(j, "strides");
    cli_json_array(j, true);
    for (uint32_t k = 0; k < v.ndim; k++)
      cli_json_uint(j, v.strides[k]);
    cli_json_end(j);
    cli_json_key(j, "itemsize");
    cli_json_uint(j, v.itemsize);
    cli_json_key(j, "count");
    cli_json_uint(j, v.count);
    cli_json_key(j, "offset");
    cli_json_uint(j, array_offset(d->arrays, &v));
    cli_json_key(j, "nbytes");
    cli_json_uint(j, v.nbytes);
    cli_json_end(j);
  }
  cli_json_end(j);
  cli_json_end(j);
}

static void fields_json(cli_json *j, const struct info_data *d)
{
  cli_json_object(j);
  for (size_t i = 0; i < d->nfields; i++) {
    const struct field *f = &d->fields[i];
    cli_json_key(j, f->key);
    if (f->type == F_UINT)
      cli_json_uint(j, f->u);
    else if (f->type == F_BOOL)
      cli_json_bool(j, f->u != 0);
    else
      cli_json_str(j, f->word);
  }
  if (d->info.kind == FERRY_KIND_BUS) {
    cli_json_key(j, "subscriber_list");
    cli_json_array(j, false);
    for (size_t i = 0; i < d->nsubs; i++) {
      const ferry_bus_sub_stats *s = &d->subs[i];
      cli_json_object(j);
      cli_json_key(j, "slot");
      cli_json_uint(j, s->slot);
      cli_json_key(j, "pid");
      cli_json_int(j, s->pid);
      cli_json_key(j, "next_seq");
      cli_json_uint(j, s->next_seq);
      cli_json_key(j, "lag");
      cli_json_uint(j, s->lag);
      cli_json_key(j, "received");
      cli_json_uint(j, s->received);
      cli_json_key(j, "skipped");
      cli_json_uint(j, s->skipped);
      cli_json_end(j);
    }
    cli_json_end(j);
  }
  if (d->info.kind == FERRY_KIND_POOL) {
    cli_json_key(j, "worker_list");
    cli_json_array(j, false);
    for (size_t i = 0; i < d->nworkers; i++) {
      const ferry_pool_worker_info *w = &d->workers[i];
      cli_json_object(j);
      cli_json_key(j, "slot");
      cli_json_uint(j, w->slot);
      cli_json_key(j, "state");
      cli_json_str(j, ferry_pool_worker_state_name(w->state));
      cli_json_key(j, "pid");
      cli_json_int(j, w->pid);
      cli_json_key(j, "generation");
      cli_json_uint(j, w->generation);
      cli_json_key(j, "tasks");
      cli_json_uint(j, w->tasks);
      cli_json_key(j, "task");
      if (w->task_id == UINT64_MAX)
        cli_json_null(j);
      else
        cli_json_uint(j, w->task_id);
      cli_json_end(j);
    }
    cli_json_end(j);
  }
  cli_json_end(j);
}

static void participants_json(cli_json *j, const struct info_data *d)
{
  char buf[FIELD_CAP], role[ROLE_CAP];
  cli_json_array(j, false);
  for (size_t i = 0; i < d->nparts; i++) {
    const ferry_participant *p = &d->parts[i];
    cli_json_object(j);
    cli_json_key(j, "slot");
    cli_json_uint(j, p->slot);
    cli_json_key(j, "pid");
    cli_json_int(j, p->pid);
    cli_json_key(j, "start");
    cli_json_uint(j, p->start_time);
    cli_json_key(j, "uid");
    cli_json_uint(j, p->uid);
    cli_json_key(j, "role");
    cli_json_str(j, ferry_role_format(p->role, role, sizeof role));
    cli_json_key(j, "alive");
    cli_json_bool(j, p->alive);
    cli_json_key(j, "attached");
    cli_json_str(j, p->attach_ns > 0 ? cli_fmt_time(p->attach_ns, buf, sizeof buf) : NULL);
    cli_json_key(j, "attach_ns");
    cli_json_int(j, p->attach_ns);
    cli_json_end(j);
  }
  cli_json_end(j);
}

static void info_json(const struct info_data *d)
{
  const ferry_region_info *in = &d->info;
  char buf[FIELD_CAP];
  cli_json j;
  cli_json_init(&j, stdout);
  cli_json_object(&j);
  cli_json_key(&j, "name");
  cli_json_str(&j, in->name);
  cli_json_key(&j, "kind");
  cli_json_str(&j, d->header ? ferry_kind_name(in->kind) : NULL);
  cli_json_key(&j, "status");
  cli_json_str(&j, ferry_region_status_name(in->status));
  cli_json_key(&j, "size");
  cli_json_uint(&j, in->total_size);
  if (d->header) {
    cli_json_key(&j, "allocated");
    cli_json_uint(&j, in->allocated_bytes);
  }
  snprintf(buf, sizeof buf, "%04o", (unsigned)in->mode);
  cli_json_key(&j, "mode");
  cli_json_str(&j, buf);
  cli_json_key(&j, "created");
  cli_json_str(&j, in->created_ns > 0 ? cli_fmt_time(in->created_ns, buf, sizeof buf) : NULL);
  cli_json_key(&j, "created_ns");
  cli_json_int(&j, in->created_ns);
  if (d->header) {
    snprintf(buf, sizeof buf, "%u.%u", (unsigned)in->version_major, (unsigned)in->version_minor);
    cli_json_key(&j, "version");
    cli_json_str(&j, buf);
    cli_json_key(&j, "object_size");
    cli_json_uint(&j, in->object_size);
    cli_json_key(&j, "flags");
    cli_json_array(&j, true);
    if (in->flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE)
      cli_json_str(&j, "unlink-on-last-close");
    cli_json_end(&j);
    cli_json_key(&j, "creator");
    cli_json_object(&j);
    cli_json_key(&j, "uid");
    cli_json_uint(&j, in->creator_uid);
    cli_json_key(&j, "pid");
    cli_json_int(&j, in->creator_pid);
    cli_json_key(&j, "start");
    cli_json_uint(&j, in->creator_start);
    cli_json_end(&j);
    cli_json_key(&j, "liveness_ns");
    cli_json_int(&j, in->liveness_ns);
    cli_json_key(&j, "max_participants");
    cli_json_uint(&j, in->max_participants);
    cli_json_key(&j, "live");
    cli_json_uint(&j, in->live);
    cli_json_key(&j, "dead");
    cli_json_uint(&j, in->dead);
    cli_json_key(&j, "opens");
    cli_json_uint(&j, in->opens);
    cli_json_key(&j, "reaped");
    cli_json_uint(&j, in->reaped);
    cli_json_key(&j, "participants");
    participants_json(&j, d);
    /* The kind's statistics, under the kind's name; null (with the
     * reason in stats_error) when unreadable, or for a raw region. */
    cli_json_key(&j, "stats_error");
    cli_json_str(&j, d->stats_err ? ferry_strerror(d->stats_err) : NULL);
    cli_json_key(&j, ferry_kind_name(in->kind));
    if (d->stats_err || in->kind == FERRY_KIND_RAW)
      cli_json_null(&j);
    else if (in->kind == FERRY_KIND_ARRAY)
      arrays_json(&j, d);
    else
      fields_json(&j, d);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
}

/* ---- text ------------------------------------------------------------------------------- */

static void participants_text(const struct info_data *d)
{
  if (d->nparts == 0) {
    printf("\nparticipants: none\n");
    return;
  }
  printf("\nparticipants:\n");
  char role[ROLE_CAP], when[FIELD_CAP];
  int wrole = (int)strlen("ROLE");
  for (size_t i = 0; i < d->nparts; i++) {
    int w = (int)strlen(ferry_role_format(d->parts[i].role, role, sizeof role));
    if (w > wrole)
      wrole = w;
  }
  printf("  %4s  %7s  %-*s  %-5s  %s\n", "SLOT", "PID", wrole, "ROLE", "STATE", "ATTACHED");
  for (size_t i = 0; i < d->nparts; i++) {
    const ferry_participant *p = &d->parts[i];
    printf("  %4" PRIu32 "  %7" PRId32 "  %-*s  %-5s  %s\n", p->slot, p->pid, wrole,
           ferry_role_format(p->role, role, sizeof role), p->alive ? "alive" : "dead",
           cli_fmt_time(p->attach_ns, when, sizeof when));
  }
}

static void arrays_text(const struct info_data *d)
{
  const ferry_frame *f = ferry_array_frame(d->arrays);
  size_t n = ferry_frame_count(f);
  char size[FIELD_CAP];
  printf("\narrays: %zu, %s of data (%" PRIu64 " bytes)\n", n,
         cli_fmt_size(ferry_frame_bytes(f), size, sizeof size), ferry_frame_bytes(f));
  int wname = (int)strlen("NAME"), wshape = (int)strlen("SHAPE");
  char shape[SHAPE_CAP];
  for (size_t i = 0; i < n; i++) {
    ferry_array v;
    if (ferry_frame_array_at(f, i, &v) != 0)
      break;
    if ((int)strlen(v.name) > wname)
      wname = (int)strlen(v.name);
    int w = (int)strlen(cli_fmt_shape(v.ndim, v.shape, shape, sizeof shape));
    if (w > wshape)
      wshape = w;
  }
  printf("  %-*s  %-5s  %-4s  %-*s  %12s  %12s\n", wname, "NAME", "DTYPE", "NP", wshape, "SHAPE",
         "OFFSET", "NBYTES");
  for (size_t i = 0; i < n; i++) {
    ferry_array v;
    if (ferry_frame_array_at(f, i, &v) != 0)
      break;
    printf("  %-*s  %-5s  %-4s  %-*s  %12" PRIu64 "  %12zu\n", wname, v.name,
           ferry_dtype_name(v.dtype), ferry_dtype_typestr(v.dtype), wshape,
           cli_fmt_shape(v.ndim, v.shape, shape, sizeof shape), array_offset(d->arrays, &v),
           v.nbytes);
  }
}

static void fields_text(const struct info_data *d)
{
  printf("\n%s:\n", ferry_kind_name(d->info.kind));
  int w = 0;
  for (size_t i = 0; i < d->nfields; i++)
    if ((int)strlen(d->fields[i].key) > w)
      w = (int)strlen(d->fields[i].key);
  for (size_t i = 0; i < d->nfields; i++) {
    const struct field *f = &d->fields[i];
    if (f->type == F_UINT)
      printf("  %-*s  %" PRIu64 "\n", w, f->key, f->u);
    else if (f->type == F_BOOL)
      printf("  %-*s  %s\n", w, f->key, f->u ? "yes" : "no");
    else
      printf("  %-*s  %s\n", w, f->key, f->word);
  }
  if (d->info.kind == FERRY_KIND_POOL && d->nworkers) {
    printf("  %4s  %-8s  %7s  %5s  %10s  %s\n", "SLOT", "STATE", "PID", "GEN", "TASKS", "TASK");
    for (size_t i = 0; i < d->nworkers; i++) {
      const ferry_pool_worker_info *wk = &d->workers[i];
      char task[24] = "-";
      if (wk->task_id != UINT64_MAX)
        snprintf(task, sizeof task, "%" PRIu64, wk->task_id);
      printf("  %4" PRIu32 "  %-8s  %7" PRId32 "  %5" PRIu32 "  %10" PRIu64 "  %s\n", wk->slot,
             ferry_pool_worker_state_name(wk->state), (int32_t)wk->pid, wk->generation,
             wk->tasks, task);
    }
  }
  if (d->info.kind != FERRY_KIND_BUS || d->nsubs == 0)
    return;
  printf("  %4s  %7s  %12s  %8s  %12s  %8s\n", "SLOT", "PID", "NEXT", "LAG", "RECEIVED",
         "SKIPPED");
  for (size_t i = 0; i < d->nsubs; i++) {
    const ferry_bus_sub_stats *s = &d->subs[i];
    printf("  %4" PRIu32 "  %7" PRId32 "  %12" PRIu64 "  %8" PRIu64 "  %12" PRIu64 "  %8" PRIu64
           "\n",
           s->slot, s->pid, s->next_seq, s->lag, s->received, s->skipped);
  }
}

static void info_text(const struct info_data *d)
{
  const ferry_region_info *in = &d->info;
  char a[FIELD_CAP], b[FIELD_CAP];
  printf("name:       %s\n", in->name);
  if (d->header) {
    printf("kind:       %s\n", ferry_kind_name(in->kind));
    printf("version:    %u.%u\n", (unsigned)in->version_major, (unsigned)in->version_minor);
  } else {
    printf("kind:       -\n");
  }
  printf("status:     %s\n", ferry_region_status_name(in->status));
  if (d->header)
  {
    printf("size:       %s (%" PRIu64 " bytes; object area %" PRIu64 " bytes)\n",
           cli_fmt_size(in->total_size, a, sizeof a), in->total_size, in->object_size);
    printf("memory:     %s allocated in /dev/shm (%" PRIu64 " bytes)\n",
           cli_fmt_size(in->allocated_bytes, a, sizeof a), in->allocated_bytes);
  } else
    printf("size:       %s (%" PRIu64 " bytes)\n", cli_fmt_size(in->total_size, a, sizeof a),
           in->total_size);
  printf("mode:       %04o\n", (unsigned)in->mode);
  if (d->header) {
    printf("flags:      %s\n",
           (in->flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE) ? "unlink-on-last-close" : "-");
    printf("creator:    uid %" PRIu32 ", pid %" PRId32 ", start %" PRIu64 "\n", in->creator_uid,
           in->creator_pid, in->creator_start);
  }
  printf("created:    %s\n", cli_fmt_time(in->created_ns, b, sizeof b));
  if (!d->header) {
    printf("\nThe creator died before it finished the region; 'ferry gc' removes it.\n");
    return;
  }
  printf("liveness:   %.3f s\n", (double)in->liveness_ns / (double)FERRY_SEC);
  printf("slots:      %" PRIu32 " live, %" PRIu32 " dead, %" PRIu32 " max\n", in->live, in->dead,
         in->max_participants);
  printf("opens:      %" PRIu64 " (%" PRIu64 " dead slots reaped)\n", in->opens, in->reaped);
  participants_text(d);
  if (d->stats_err)
    printf("\n%s: unreadable: %s\n", ferry_kind_name(in->kind), ferry_strerror(d->stats_err));
  else if (in->kind == FERRY_KIND_ARRAY)
    arrays_text(d);
  else if (in->kind == FERRY_KIND_RAW)
    printf("\nraw: bytes only its programs know; no statistics\n");
  else
    fields_text(d);
}

int cmd_info(int argc, char **argv)
{
  bool json = false;
  cli_opt opts[] = {CLI_JSON(&json)};
  static const char *const args[] = {"region name"};
  const cli_spec spec = {"info", cli_help_info, opts, 1, args, 1, 1, CLI_ARG_OBJECT};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  const char *name = argv[1];
  if (ferry_is_redis_name(name))
    return cmd_info_redis(name, json);
  struct info_data d;
  int rc = info_gather(name, &d);
  if (rc) {
    info_free(&d);
    return cli_fail("info", rc, "%s", name);
  }
  if (json)
    info_json(&d);
  else
    info_text(&d);
  rc = CLI_OK;
  if (d.header && d.stats_err) {
    cli_error("info", d.stats_err, "%s: reading its %s statistics", name,
              ferry_kind_name(d.info.kind));
    rc = CLI_FAIL;
  }
  info_free(&d);
  return rc;
}
