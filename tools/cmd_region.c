/*
 * cmd_region.c: the verbs that look at and remove regions of any kind:
 * ls, info, rm and gc. They only ever look as observers
 * (FERRY_OPEN_OBSERVE, or ferry_region_stat/gc which do so), so running
 * them never registers a participant and never changes a region's status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmd_redis.h"

/* Room for ferry_role_format() of every role at once. */
#define ROLE_CAP 128
/* Room for cli_fmt_size(), cli_fmt_time() and numbers. */
#define FIELD_CAP 64
/* Room for "1x2x...x8" with 20-digit dimensions. */
#define SHAPE_CAP (FERRY_ARRAY_MAX_DIMS * 21 + 8)

/* ---- ls ----------------------------------------------------------------------- */

const char cli_help_ls[] =
    "usage: ferry ls [--json] [PATTERN...]\n"
    "       ferry ls [--json] redis://HOST[:PORT] | unix:///path/redis.sock\n"
    "\n"
    "List ferry regions, sorted by name. With PATTERNs (shell wildcards such\n"
    "as 'demo-*'), only the regions whose names match one of them.\n"
    "Looking never registers: ls does not change what it shows. With a Redis\n"
    "server's address: the ferry objects on that server (NAME and KIND).\n"
    "\n"
    "Columns:\n"
    "  NAME    the region's name (its file is /dev/shm/ferry.NAME)\n"
    "  KIND    raw, array, queue, pipe, bus, heap, dict; '-' if unknown\n"
    "  SIZE    bytes mapped, header included, in binary units\n"
    "  LIVE    participants attached and alive\n"
    "  DEAD    participants that died without closing\n"
    "  STATUS  active        at least one participant is alive\n"
    "          idle          nobody attached, everyone closed cleanly: a kept\n"
    "                        named object ('ferry gc --idle' removes it)\n"
    "          orphaned      nobody alive, someone died without closing: the\n"
    "                        leak a crash leaves ('ferry gc' removes it)\n"
    "          incomplete    its creator died before finishing it ('ferry gc'\n"
    "                        removes it)\n"
    "          creating      its creator is initialising it right now\n"
    "          invalid: R    not a valid ferry region, for reason R ('ferry rm'\n"
    "                        removes it)\n"
    "          unreadable: R cannot be opened, for reason R (e.g. permission)\n"
    "\n"
    "Options:\n"
    "  --json   print one JSON array with an object per region: name, kind,\n"
    "           size (bytes), live, dead, status and error (R, or null); kind,\n"
    "           live and dead are null where they are unknown\n"
    "  -h, --help\n";

struct ls_row {
  const char *name;
  const char *kind;   /* NULL if unknown */
  uint64_t size;
  bool counts;        /* live and dead are known */
  uint32_t live, dead;
  const char *status; /* "active", ..., "invalid", "unreadable" */
  const char *error;  /* the reason for invalid/unreadable, else NULL */
};

/* Size of a file we could not open as a region: what the user can free. */
static uint64_t file_size(const char *name)
{
  char path[sizeof "/dev/shm/ferry." + FERRY_NAME_MAX];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Fills *row for `name`; false if the region vanished meanwhile. */
static bool ls_stat(const char *name, struct ls_row *row)
{
  ferry_region_info info;
  int rc = ferry_region_stat(name, &info);
  memset(row, 0, sizeof *row);
  row->name = name;
  if (rc == -ENOENT)
    return false;
  if (rc == 0) {
    row->status = ferry_region_status_name(info.status);
    row->size = info.total_size;
    /* An incomplete region's header was never published: its kind and
     * table mean nothing. */
    if (info.status != FERRY_REGION_INCOMPLETE) {
      row->kind = ferry_kind_name(info.kind);
      row->counts = true;
      row->live = info.live;
      row->dead = info.dead;
    }
  } else if (rc == -EAGAIN) {
    row->status = "creating";
    row->size = file_size(name);
  } else {
    row->status = cli_err_is_invalid(rc) ? "invalid" : "unreadable";
    row->error = ferry_strerror(rc);
    row->size = file_size(name);
  }
  return true;
}

static void ls_json(const struct ls_row *rows, size_t n)
{
  cli_json j;
  cli_json_init(&j, stdout);
  cli_json_array(&j, false);
  for (size_t i = 0; i < n; i++) {
    const struct ls_row *r = &rows[i];
    cli_json_object(&j);
    cli_json_key(&j, "name");
    cli_json_str(&j, r->name);
    cli_json_key(&j, "kind");
    cli_json_str(&j, r->kind);
    cli_json_key(&j, "size");
    cli_json_uint(&j, r->size);
    cli_json_key(&j, "live");
    if (r->counts)
      cli_json_uint(&j, r->live);
    else
      cli_json_null(&j);
    cli_json_key(&j, "dead");
    if (r->counts)
      cli_json_uint(&j, r->dead);
    else
      cli_json_null(&j);
    cli_json_key(&j, "status");
    cli_json_str(&j, r->status);
    cli_json_key(&j, "error");
    cli_json_str(&j, r->error);
    cli_json_end(&j);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
}

enum { COL_NAME, COL_KIND, COL_SIZE, COL_LIVE, COL_DEAD, COL_STATUS, NCOLS };

static void ls_cells(const struct ls_row *r, char cells[NCOLS][FIELD_CAP + FERRY_NAME_MAX])
{
  snprintf(cells[COL_NAME], sizeof cells[0], "%s", r->name);
  snprintf(cells[COL_KIND], sizeof cells[0], "%s", r->kind ? r->kind : "-");
  cli_fmt_size(r->size, cells[COL_SIZE], sizeof cells[0]);
  if (r->counts) {
    snprintf(cells[COL_LIVE], sizeof cells[0], "%" PRIu32, r->live);
    snprintf(cells[COL_DEAD], sizeof cells[0], "%" PRIu32, r->dead);
  } else {
    snprintf(cells[COL_LIVE], sizeof cells[0], "-");
    snprintf(cells[COL_DEAD], sizeof cells[0], "-");
  }
  if (r->error)
    snprintf(cells[COL_STATUS], sizeof cells[0], "%s: %s", r->status, r->error);
  else
    snprintf(cells[COL_STATUS], sizeof cells[0], "%s", r->status);
}

static void ls_table(const struct ls_row *rows, size_t n)
{
  static const char *const head[NCOLS] = {"NAME", "KIND", "SIZE", "LIVE", "DEAD", "STATUS"};
  /* Numbers read best right-aligned. */
  static const bool right[NCOLS] = {false, false, true, true, true, false};
  char cells[NCOLS][FIELD_CAP + FERRY_NAME_MAX];
  int width[NCOLS];
  for (int c = 0; c < NCOLS; c++)
    width[c] = (int)strlen(head[c]);
  for (size_t i = 0; i < n; i++) {
    ls_cells(&rows[i], cells);
    for (int c = 0; c < NCOLS; c++)
      if ((int)strlen(cells[c]) > width[c])
        width[c] = (int)strlen(cells[c]);
  }
  for (size_t i = 0; i <= n; i++) {
    if (i == 0) {
      for (int c = 0; c < NCOLS; c++)
        snprintf(cells[c], sizeof cells[c], "%s", head[c]);
    } else {
      ls_cells(&rows[i - 1], cells);
    }
    for (int c = 0; c < NCOLS; c++) {
      if (c == NCOLS - 1)
        printf("%s\n", cells[c]); /* no trailing blanks */
      else
        printf(right[c] ? "%*s  " : "%-*s  ", width[c], cells[c]);
    }
  }
}

int cmd_ls(int argc, char **argv)
{
  bool json = false;
  cli_args a;
  cli_args_init(&a, "ls", argc, argv);
  char **patterns = calloc((size_t)argc, sizeof *patterns);
  if (!patterns) {
    cli_error("ls", -ENOMEM, "listing regions");
    return CLI_FAIL;
  }
  size_t npatterns = 0;
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      free(patterns);
      return cli_print_help(cli_help_ls);
    } else if (cli_args_flag(&a, "--json")) {
      json = true;
    } else if (cli_args_positional(&a) && ferry_is_redis_name(a.word)) {
      free(patterns);
      return cli_redis_ls(a.word, json); /* the objects on a Redis server */
    } else if (cli_args_positional(&a)) {
      patterns[npatterns++] = (char *)a.word;
    } else {
      free(patterns);
      return cli_args_unknown(&a);
    }
  }
  char **names;
  size_t n;
  int rc = cli_list_regions(patterns, npatterns, &names, &n);
  free(patterns);
  if (rc) {
    cli_error("ls", rc, "listing /dev/shm");
    return CLI_FAIL;
  }
  struct ls_row *rows = calloc(n ? n : 1, sizeof *rows);
  if (!rows) {
    cli_free_names(names, n);
    cli_error("ls", -ENOMEM, "listing regions");
    return CLI_FAIL;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (ls_stat(names[i], &rows[m]))
      m++;
  if (json)
    ls_json(rows, m);
  else
    ls_table(rows, m);
  free(rows);
  cli_free_names(names, n);
  return CLI_OK;
}

/* ---- info ------------------------------------------------------------------------ */

const char cli_help_info[] =
    "usage: ferry info [--json] NAME\n"
    "\n"
    "NAME may be a Redis name (redis://HOST[:PORT]/NAME or\n"
    "unix:///path/redis.sock/NAME): then its kind, settings and counters.\n"
    "\n"
    "Show everything about region NAME: its header (kind, layout version,\n"
    "sizes, permission mode, flags, creator, creation time in UTC, liveness\n"
    "bound, opens and reaped slots), its participants (slot, pid, role,\n"
    "alive or dead, attach time) and, for an array region, every array: name,\n"
    "dtype (ferry's name and numpy's typestr), shape, offset and size in\n"
    "bytes. OFFSET is where the array's data starts, counted from the start\n"
    "of the region's object area: the same in every process, whatever\n"
    "address it maps the region at.\n"
    "\n"
    "For a queue: depth, capacity, maximum message size, producers and\n"
    "consumers attached, and the counters (puts, gets, bytes, waits, lost,\n"
    "holes, recovered). For a bus: mode, slots, frames published, the\n"
    "publisher's waits, and each subscriber's lag and skipped frames. A pipe\n"
    "has no statistics: only its participants (its two ends) are shown.\n"
    "\n"
    "info opens the region as an observer: looking never registers.\n"
    "\n"
    "Options:\n"
    "  --json   print one JSON object (sizes in bytes, times as ISO-8601 UTC\n"
    "           strings and as nanoseconds, mode as an octal string)\n"
    "  -h, --help\n";

struct info_data {
  ferry_region_info info;
  bool header; /* false for an incomplete region: only info is known */
  ferry_participant *parts;
  size_t nparts;
  ferry_arrays *arrays; /* array regions only */
  int array_err;        /* why arrays is NULL for an array region */
  ferry_queue_stats queue; /* queue regions only, if queue_err is 0 */
  int queue_err;
  ferry_bus_stats bus;       /* bus regions only, if bus_err is 0 */
  ferry_bus_sub_stats *subs; /* nsubs of them */
  size_t nsubs;
  int bus_err;
};

static void info_free(struct info_data *d)
{
  free(d->parts);
  free(d->subs);
  ferry_array_close(d->arrays);
}

static const char *flags_text(uint32_t flags)
{
  return (flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE) ? "unlink-on-last-close" : "-";
}

/* Offset of an array's data from the start of the object area. */
static uint64_t array_offset(const ferry_arrays *as, const ferry_array *v)
{
  const char *base = ferry_region_data(ferry_array_region(as));
  return (uint64_t)((const char *)v->data - base);
}

static void queue_json(cli_json *j, const struct info_data *d)
{
  const ferry_queue_stats *q = &d->queue;
  cli_json_key(j, "queue_error");
  cli_json_str(j, d->queue_err ? ferry_strerror(d->queue_err) : NULL);
  cli_json_key(j, "queue");
  if (d->queue_err) {
    cli_json_null(j);
    return;
  }
  cli_json_object(j);
#define QFIELD(f)        \
  cli_json_key(j, #f); \
  cli_json_uint(j, q->f)
  QFIELD(depth);
  QFIELD(capacity);
  QFIELD(max_msg_size);
  QFIELD(producers);
  QFIELD(consumers);
  QFIELD(puts);
  QFIELD(gets);
  QFIELD(bytes_put);
  QFIELD(bytes_got);
  QFIELD(put_waits);
  QFIELD(get_waits);
  QFIELD(lost);
  QFIELD(holes);
  QFIELD(recovered);
#undef QFIELD
  cli_json_key(j, "shutdown");
  cli_json_bool(j, q->shutdown);
  cli_json_end(j);
}

static void bus_json(cli_json *j, const struct info_data *d)
{
  const ferry_bus_stats *b = &d->bus;
  cli_json_key(j, "bus_error");
  cli_json_str(j, d->bus_err ? ferry_strerror(d->bus_err) : NULL);
  cli_json_key(j, "bus");
  if (d->bus_err) {
    cli_json_null(j);
    return;
  }
  cli_json_object(j);
  cli_json_key(j, "mode");
  cli_json_str(j, ferry_bus_mode_name(b->mode));
#define BFIELD(f)        \
  cli_json_key(j, #f); \
  cli_json_uint(j, b->f)
  BFIELD(slots);
  BFIELD(frame_bytes);
  BFIELD(published);
  BFIELD(max_subscribers);
  BFIELD(loan_waits);
  BFIELD(wait_ns);
  BFIELD(dropped);
#undef BFIELD
  cli_json_key(j, "shutdown");
  cli_json_bool(j, b->shutdown);
  cli_json_key(j, "subscribers");
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
    cli_json_array(&j, false);
    for (size_t i = 0; i < d->nparts; i++) {
      const ferry_participant *p = &d->parts[i];
      char role[ROLE_CAP];
      cli_json_object(&j);
      cli_json_key(&j, "slot");
      cli_json_uint(&j, p->slot);
      cli_json_key(&j, "pid");
      cli_json_int(&j, p->pid);
      cli_json_key(&j, "start");
      cli_json_uint(&j, p->start_time);
      cli_json_key(&j, "uid");
      cli_json_uint(&j, p->uid);
      cli_json_key(&j, "role");
      cli_json_str(&j, ferry_role_format(p->role, role, sizeof role));
      cli_json_key(&j, "alive");
      cli_json_bool(&j, p->alive);
      cli_json_key(&j, "attached");
      cli_json_str(&j, p->attach_ns > 0 ? cli_fmt_time(p->attach_ns, buf, sizeof buf) : NULL);
      cli_json_key(&j, "attach_ns");
      cli_json_int(&j, p->attach_ns);
      cli_json_end(&j);
    }
    cli_json_end(&j);
  }
  if (d->header && in->kind == FERRY_KIND_ARRAY) {
    cli_json_key(&j, "array_error");
    cli_json_str(&j, d->arrays ? NULL : ferry_strerror(d->array_err));
    cli_json_key(&j, "arrays");
    if (!d->arrays) {
      cli_json_null(&j);
    } else {
      const ferry_frame *f = ferry_array_frame(d->arrays);
      cli_json_array(&j, false);
      for (size_t i = 0; i < ferry_frame_count(f); i++) {
        ferry_array v;
        if (ferry_frame_array_at(f, i, &v) != 0)
          break;
        cli_json_object(&j);
        cli_json_key(&j, "name");
        cli_json_str(&j, v.name);
        cli_json_key(&j, "dtype");
        cli_json_str(&j, ferry_dtype_name(v.dtype));
        cli_json_key(&j, "typestr");
        cli_json_str(&j, ferry_dtype_typestr(v.dtype));
        cli_json_key(&j, "shape");
        cli_json_array(&j, true);
        for (uint32_t k = 0; k < v.ndim; k++)
          cli_json_uint(&j, v.shape[k]);
        cli_json_end(&j);
        cli_json_key(&j, "strides");
        cli_json_array(&j, true);
        for (uint32_t k = 0; k < v.ndim; k++)
          cli_json_uint(&j, v.strides[k]);
        cli_json_end(&j);
        cli_json_key(&j, "itemsize");
        cli_json_uint(&j, v.itemsize);
        cli_json_key(&j, "count");
        cli_json_uint(&j, v.count);
        cli_json_key(&j, "offset");
        cli_json_uint(&j, array_offset(d->arrays, &v));
        cli_json_key(&j, "nbytes");
        cli_json_uint(&j, v.nbytes);
        cli_json_end(&j);
      }
      cli_json_end(&j);
      cli_json_key(&j, "frame_bytes");
      cli_json_uint(&j, ferry_frame_bytes(f));
    }
  }
  if (d->header && in->kind == FERRY_KIND_QUEUE)
    queue_json(&j, d);
  if (d->header && in->kind == FERRY_KIND_BUS)
    bus_json(&j, d);
  if (d->header && in->kind == FERRY_KIND_PIPE) {
    /* pipe.h has no statistics call: the participants above are all. */
    cli_json_key(&j, "pipe");
    cli_json_null(&j);
  }
  cli_json_end(&j);
  cli_json_finish(&j);
}

static void info_participants_text(const struct info_data *d)
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

static void info_arrays_text(const struct info_data *d)
{
  if (!d->arrays) {
    printf("\narrays: unreadable: %s\n", ferry_strerror(d->array_err));
    return;
  }
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

static void info_queue_text(const struct info_data *d)
{
  if (d->queue_err) {
    printf("\nqueue: unreadable: %s\n", ferry_strerror(d->queue_err));
    return;
  }
  const ferry_queue_stats *q = &d->queue;
  char a[FIELD_CAP], b[FIELD_CAP];
  printf("\nqueue:\n");
  printf("  depth:      %" PRIu64 " of %" PRIu64 " messages%s\n", q->depth, q->capacity,
         q->shutdown ? " (shut down)" : "");
  printf("  max msg:    %s (%" PRIu64 " bytes)\n", cli_fmt_size(q->max_msg_size, a, sizeof a),
         q->max_msg_size);
  printf("  producers:  %" PRIu32 "\n", q->producers);
  printf("  consumers:  %" PRIu32 "\n", q->consumers);
  printf("  puts:       %" PRIu64 " (%s)\n", q->puts, cli_fmt_size(q->bytes_put, a, sizeof a));
  printf("  gets:       %" PRIu64 " (%s)\n", q->gets, cli_fmt_size(q->bytes_got, b, sizeof b));
  printf("  waits:      %" PRIu64 " put, %" PRIu64 " get\n", q->put_waits, q->get_waits);
  printf("  lost:       %" PRIu64 "\n", q->lost);
  printf("  holes:      %" PRIu64 "\n", q->holes);
  printf("  recovered:  %" PRIu64 "\n", q->recovered);
}

static void info_bus_text(const struct info_data *d)
{
  if (d->bus_err) {
    printf("\nbus: unreadable: %s\n", ferry_strerror(d->bus_err));
    return;
  }
  const ferry_bus_stats *b = &d->bus;
  char a[FIELD_CAP];
  printf("\nbus:\n");
  printf("  mode:       %s%s\n", ferry_bus_mode_name(b->mode), b->shutdown ? " (shut down)" : "");
  printf("  slots:      %" PRIu32 " of %s each\n", b->slots,
         cli_fmt_size(b->frame_bytes, a, sizeof a));
  printf("  published:  %" PRIu64 "\n", b->published);
  printf("  waits:      %" PRIu64 " loans, %.6f s in total\n", b->loan_waits,
         (double)b->wait_ns / (double)FERRY_SEC);
  printf("  dropped:    %" PRIu64 " dead subscribers\n", b->dropped);
  printf("  subscribers: %zu of %" PRIu32 "\n", d->nsubs, b->max_subscribers);
  if (d->nsubs == 0)
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
    printf("size:       %s (%" PRIu64 " bytes; object area %" PRIu64 " bytes)\n",
           cli_fmt_size(in->total_size, a, sizeof a), in->total_size, in->object_size);
  else
    printf("size:       %s (%" PRIu64 " bytes)\n", cli_fmt_size(in->total_size, a, sizeof a),
           in->total_size);
  printf("mode:       %04o\n", (unsigned)in->mode);
  if (d->header) {
    printf("flags:      %s\n", flags_text(in->flags));
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
  info_participants_text(d);
  if (in->kind == FERRY_KIND_ARRAY)
    info_arrays_text(d);
  else if (in->kind == FERRY_KIND_QUEUE)
    info_queue_text(d);
  else if (in->kind == FERRY_KIND_BUS)
    info_bus_text(d);
  else if (in->kind == FERRY_KIND_PIPE)
    printf("\npipe: no statistics (the pipe API has none); the participants\n"
           "above are its two ends\n");
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
  if (n < 0) {
    ferry_region_close(r);
    return (int)n;
  }
  d->nparts = (size_t)n < cap ? (size_t)n : cap;
  ferry_region_close(r);
  if (d->info.kind == FERRY_KIND_ARRAY)
    d->array_err = ferry_array_open(name, &o, &d->arrays);
  if (d->info.kind == FERRY_KIND_QUEUE)
    d->queue_err = ferry_queue_stat(name, &d->queue);
  if (d->info.kind == FERRY_KIND_BUS) {
    d->subs = calloc(cap ? cap : 1, sizeof *d->subs);
    if (!d->subs)
      return -ENOMEM;
    ssize_t k = ferry_bus_stat(name, &d->bus, d->subs, cap);
    if (k < 0)
      d->bus_err = (int)k;
    else
      d->nsubs = (size_t)k < cap ? (size_t)k : cap;
  }
  return 0;
}

int cmd_info(int argc, char **argv)
{
  bool json = false;
  const char *name = NULL;
  cli_args a;
  cli_args_init(&a, "info", argc, argv);
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return cli_print_help(cli_help_info);
    else if (cli_args_flag(&a, "--json"))
      json = true;
    else if (cli_args_positional(&a) && !name)
      name = a.word;
    else
      return cli_args_unknown(&a);
  }
  if (!name)
    return cli_usage_error("info", "missing region name (see 'ferry help info')");
  if (ferry_is_redis_name(name))
    return cli_redis_info(name, json);
  if (ferry_name_valid(name) != 0)
    return cli_usage_error("info", "'%s': bad region name", name);
  struct info_data d;
  int rc = info_gather(name, &d);
  if (rc) {
    info_free(&d);
    cli_error("info", rc, "%s", name);
    return CLI_FAIL;
  }
  if (json)
    info_json(&d);
  else
    info_text(&d);
  rc = CLI_OK;
  if (d.header && d.info.kind == FERRY_KIND_ARRAY && !d.arrays) {
    cli_error("info", d.array_err, "%s: reading its arrays", name);
    rc = CLI_FAIL;
  }
  if (d.header && d.info.kind == FERRY_KIND_QUEUE && d.queue_err) {
    cli_error("info", d.queue_err, "%s: reading the queue", name);
    rc = CLI_FAIL;
  }
  if (d.header && d.info.kind == FERRY_KIND_BUS && d.bus_err) {
    cli_error("info", d.bus_err, "%s: reading the bus", name);
    rc = CLI_FAIL;
  }
  info_free(&d);
  return rc;
}

/* ---- rm ---------------------------------------------------------------------------- */

const char cli_help_rm[] =
    "usage: ferry rm NAME...\n"
    "\n"
    "Remove each named region, whatever its kind and status, also one that is\n"
    "not a valid ferry region. Processes that have it open keep working on\n"
    "their mapping; new opens fail. Every name is checked first: if one is not\n"
    "a valid region name, nothing is removed (exit status 2). A region that\n"
    "does not exist gets an error line; the others are still removed, and the\n"
    "exit status is 1.\n"
    "\n"
    "Options:\n"
    "  -h, --help\n";

int cmd_rm(int argc, char **argv)
{
  cli_args a;
  cli_args_init(&a, "rm", argc, argv);
  size_t n = 0;
  while (cli_args_next(&a)) {
    if (cli_args_help(&a))
      return cli_print_help(cli_help_rm);
    if (!cli_args_positional(&a))
      return cli_args_unknown(&a);
    if (cli_object_name_valid(a.word) != 0)
      return cli_usage_error("rm", "'%s': bad region name", a.word);
    n++;
  }
  if (n == 0)
    return cli_usage_error("rm", "missing region name (see 'ferry help rm')");
  int rc = CLI_OK;
  cli_args_init(&a, "rm", argc, argv);
  while (cli_args_next(&a)) {
    int err = ferry_unlink(a.word);
    if (err) {
      cli_error("rm", err, "%s", a.word);
      rc = CLI_FAIL;
    }
  }
  return rc;
}

/* ---- gc ------------------------------------------------------------------------------- */

const char cli_help_gc[] =
    "usage: ferry gc [--dry-run] [--idle] [--json] [PATTERN...]\n"
    "\n"
    "Remove every region that is orphaned (nobody alive, someone died without\n"
    "closing) or incomplete (its creator died before finishing it). With\n"
    "PATTERNs (shell wildcards), only the regions whose names match one.\n"
    "Each check and removal happens under a lock every attaching process\n"
    "takes, so a region somebody is opening is never removed. Files that are\n"
    "not valid ferry regions are left alone and listed: 'ferry rm' removes\n"
    "them. Prints a line per removed region and a summary; exits 0.\n"
    "\n"
    "Options:\n"
    "  --dry-run  remove nothing; print what would be removed\n"
    "  --idle     also remove idle regions (kept objects nobody has open)\n"
    "  --json     print one JSON object: dry_run, idle, removed (name and\n"
    "             status of each), kept (a count), skipped (name and error)\n"
    "  -h, --help\n";

struct gc_entry {
  const char *name;
  ferry_region_status status;
  int err; /* for skipped entries */
};

int cmd_gc(int argc, char **argv)
{
  bool json = false;
  unsigned flags = 0;
  cli_args a;
  cli_args_init(&a, "gc", argc, argv);
  char **patterns = calloc((size_t)argc, sizeof *patterns);
  if (!patterns) {
    cli_error("gc", -ENOMEM, "listing regions");
    return CLI_FAIL;
  }
  size_t npatterns = 0;
  while (cli_args_next(&a)) {
    if (cli_args_help(&a)) {
      free(patterns);
      return cli_print_help(cli_help_gc);
    } else if (cli_args_flag(&a, "--json")) {
      json = true;
    } else if (cli_args_flag(&a, "--dry-run")) {
      flags |= FERRY_GC_DRY_RUN;
    } else if (cli_args_flag(&a, "--idle")) {
      flags |= FERRY_GC_IDLE;
    } else if (cli_args_positional(&a) && ferry_is_redis_name(a.word)) {
      free(patterns);
      return cli_redis_ls(a.word, json); /* the objects on a Redis server */
    } else if (cli_args_positional(&a)) {
      patterns[npatterns++] = (char *)a.word;
    } else {
      free(patterns);
      return cli_args_unknown(&a);
    }
  }
  char **names;
  size_t n;
  int rc = cli_list_regions(patterns, npatterns, &names, &n);
  free(patterns);
  if (rc) {
    cli_error("gc", rc, "listing /dev/shm");
    return CLI_FAIL;
  }
  struct gc_entry *removed = calloc(n ? n : 1, sizeof *removed);
  struct gc_entry *skipped = calloc(n ? n : 1, sizeof *skipped);
  if (!removed || !skipped) {
    free(removed);
    free(skipped);
    cli_free_names(names, n);
    cli_error("gc", -ENOMEM, "listing regions");
    return CLI_FAIL;
  }
  size_t nremoved = 0, nskipped = 0, kept = 0;
  for (size_t i = 0; i < n; i++) {
    ferry_region_status st = FERRY_REGION_ACTIVE;
    rc = ferry_region_gc(names[i], flags, &st);
    if (rc == 1)
      removed[nremoved++] = (struct gc_entry){names[i], st, 0};
    else if (rc == 0)
      kept++;
    else if (rc != -ENOENT) /* -ENOENT: somebody removed it meanwhile */
      skipped[nskipped++] = (struct gc_entry){names[i], st, rc};
  }
  bool dry = flags & FERRY_GC_DRY_RUN;
  if (json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j);
    cli_json_key(&j, "dry_run");
    cli_json_bool(&j, dry);
    cli_json_key(&j, "idle");
    cli_json_bool(&j, flags & FERRY_GC_IDLE);
    cli_json_key(&j, "removed");
    cli_json_array(&j, false);
    for (size_t i = 0; i < nremoved; i++) {
      cli_json_object(&j);
      cli_json_key(&j, "name");
      cli_json_str(&j, removed[i].name);
      cli_json_key(&j, "status");
      cli_json_str(&j, ferry_region_status_name(removed[i].status));
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_key(&j, "kept");
    cli_json_uint(&j, kept);
    cli_json_key(&j, "skipped");
    cli_json_array(&j, false);
    for (size_t i = 0; i < nskipped; i++) {
      cli_json_object(&j);
      cli_json_key(&j, "name");
      cli_json_str(&j, skipped[i].name);
      cli_json_key(&j, "error");
      cli_json_str(&j, ferry_strerror(skipped[i].err));
      cli_json_end(&j);
    }
    cli_json_end(&j);
    cli_json_end(&j);
    cli_json_finish(&j);
  } else {
    for (size_t i = 0; i < nremoved; i++)
      printf("%s %s (%s)\n", dry ? "would remove" : "removed", removed[i].name,
             ferry_region_status_name(removed[i].status));
    for (size_t i = 0; i < nskipped; i++)
      printf("skipped %s (%s: %s)\n", skipped[i].name,
             cli_err_is_invalid(skipped[i].err) ? "invalid" : "unreadable",
             ferry_strerror(skipped[i].err));
    printf("gc: %s %zu region%s, %s %zu", dry ? "would remove" : "removed", nremoved,
           nremoved == 1 ? "" : "s", dry ? "keep" : "kept", kept);
    if (nskipped)
      printf(", skipped %zu", nskipped);
    printf("%s\n", dry ? " (dry run)" : "");
  }
  free(removed);
  free(skipped);
  cli_free_names(names, n);
  return CLI_OK;
}
