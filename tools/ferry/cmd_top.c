/* SPDX-License-Identifier: MIT */
/*
 * cmd_top.c: `ferry top`, a live view of every region: per region its
 * kind, status, live and dead participants, rates (puts/s, gets/s,
 * frames/s, pushes/s, writes/s, messages/s, tasks/s), depth or fill (queue
 * depth, bus lag per subscriber, heap, dict and list size, pipe backlog, a
 * pool's buffered tasks), and waiters,
 * refreshed every interval. Orphaned regions are marked.
 *
 * It only looks: every figure comes from calls that open a region as an
 * observer (ferry_region_stat() and the objects' *_stat() calls), which
 * read what the objects keep anyway. top never registers, so it never
 * changes a status, never holds a slot, and costs the objects' hot paths
 * nothing. Rates are differences of those counters between two
 * snapshots; a region recreated under the same name (another creation
 * time) starts over.
 *
 * On a terminal it redraws one screen and reads keys; otherwise (or with
 * --json) it prints one snapshot after another.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "verbs.h"

const char cli_help_top[] =
    "usage: ferry top [-n N] [-d S] [--sort KEY] [--kind KIND] [--orphans]\n"
    "                 [--json] [PATTERN...]\n"
    "\n"
    "A live view of every region (or those whose names match a PATTERN,\n"
    "shell wildcards as for 'ferry ls'), refreshed every S seconds:\n"
    "\n"
    "  NAME     the region; '!' before it marks an orphan (nobody alive,\n"
    "           someone died without closing: 'ferry gc' removes it)\n"
    "  KIND     raw, array, queue, pipe, bus, heap, dict, list, pool\n"
    "  STATUS   active, idle, orphaned, incomplete, creating, invalid\n"
    "  LIVE     participants attached and alive\n"
    "  DEAD     participants that died without closing\n"
    "  DEPTH    queue: messages in it of its capacity; bus: the largest\n"
    "           subscriber lag in frames; heap, dict and list: records of\n"
    "           the capacity; pipe: messages not yet received, each direction;\n"
    "           pool: tasks waiting for an idle worker\n"
    "  WAIT     queue, bus: waits per second (callers that had to sleep);\n"
    "           heap, pipe: processes asleep now; pool: idle workers\n"
    "  RATES    per second since the last refresh: queue puts and gets, bus\n"
    "           frames (and each subscriber's lag), heap pushes and pops,\n"
    "           dict writes, list changes, pipe messages each way, pool\n"
    "           tasks done and failed\n"
    "\n"
    "top opens regions as an observer only: it never registers and never\n"
    "slows the objects down. On a terminal these keys work:\n"
    "  q  quit                    s  sort by the next column\n"
    "  r  reverse the order       k  show the next kind only (then all)\n"
    "  /  filter names (type a wildcard, Enter; empty: all)\n"
    "  o  orphans only, or all    space  refresh now\n"
    "\n"
    "Options:\n"
    "  -n, --count N     stop after N snapshots (default: until q or a signal)\n"
    "  -d, --interval S  seconds between snapshots (default 1; at least 0.1)\n"
    "  --sort KEY        name (default), kind, status, live, dead, depth,\n"
    "                    wait or rate\n"
    "  --kind KIND       only regions of this kind\n"
    "  --orphans         only orphaned regions\n"
    "  --json            print each snapshot as one JSON object on its own\n"
    "                    line: time, and per region name, kind, status, live,\n"
    "                    dead, error, stats (the counters), rates (per second;\n"
    "                    null in the first snapshot), depth, capacity, lag\n"
    "                    (bus: per subscriber) and waiters\n"
    "  -h, --help\n"
    "\n"
    "Without a terminal (or with --json) snapshots follow one another on\n"
    "stdout. Exit status: 0 done, 1 listing regions failed, 2 bad command\n"
    "line.\n";

#define VERB "top"
/* Counters a kind keeps for rates, at most. */
#define MAX_COUNTERS 3
/* Subscribers whose lag is shown per bus. */
#define MAX_LAGS 8
#define INTERVAL_MIN 0.1
#define FIELD_CAP 64

enum sort_key { S_NAME, S_KIND, S_STATUS, S_LIVE, S_DEAD, S_DEPTH, S_WAIT, S_RATE, S_COUNT };
static const char *const sort_names[S_COUNT] = {"name", "kind",  "status", "live",
                                                "dead", "depth", "wait",   "rate"};

/* What a kind's counters are called (as rates, "<name>/s"). */
static const struct kind_counters {
  uint32_t kind;
  const char *name[MAX_COUNTERS];
} kind_counters[] = {
    {FERRY_KIND_QUEUE, {"puts", "gets", "waits"}},
    {FERRY_KIND_BUS, {"frames", "waits", NULL}},
    {FERRY_KIND_HEAP, {"pushes", "pops", NULL}},
    {FERRY_KIND_DICT, {"writes", NULL, NULL}},
    {FERRY_KIND_LIST, {"changes", NULL, NULL}},
    {FERRY_KIND_PIPE, {"sent_0_to_1", "sent_1_to_0", NULL}},
    {FERRY_KIND_POOL, {"done", "failed", NULL}},
};

static const struct kind_counters *counters_of(uint32_t kind)
{
  for (size_t i = 0; i < sizeof kind_counters / sizeof kind_counters[0]; i++)
    if (kind_counters[i].kind == kind)
      return &kind_counters[i];
  return NULL;
}

/* One region in one snapshot. */
struct row {
  char name[FERRY_NAME_MAX + 1];
  uint32_t kind;
  bool known;        /* kind, live and dead are known */
  const char *status;
  const char *error; /* why it is invalid, unreadable or its stats are */
  int64_t created_ns;
  uint32_t live, dead;
  bool stats; /* the kind's figures below are filled */
  uint64_t counter[MAX_COUNTERS];
  double rate[MAX_COUNTERS];
  bool rates; /* rate[] is known (an earlier snapshot had the region) */
  uint64_t depth, capacity;
  uint64_t depth2; /* pipe: the other direction */
  bool has_depth, has_capacity;
  uint64_t waiters; /* heap, pipe: asleep now */
  bool has_waiters;
  size_t nlags; /* bus */
  int32_t lag_pid[MAX_LAGS];
  uint64_t lag[MAX_LAGS];
  uint64_t extra[4]; /* kind-specific figures for --json (see stats_json) */
};

struct snapshot {
  struct row *rows;
  size_t n;
  int64_t when; /* CLOCK_MONOTONIC */
  int64_t wall; /* CLOCK_REALTIME */
};

struct top {
  char **patterns;
  size_t npatterns;
  double interval;
  uint64_t count;
  bool json, orphans_only, reverse, tty;
  enum sort_key sort;
  uint32_t kind; /* FERRY_KIND_ANY: all */
  char filter[FERRY_NAME_MAX + 1]; /* typed with '/', "" for none */
  struct snapshot prev, cur;
};

/* ---- gathering ----------------------------------------------------------------- */

static void gather_stats(struct row *r)
{
  int rc = 0;
  switch (r->kind) {
  case FERRY_KIND_QUEUE: {
    ferry_queue_stats q;
    if ((rc = ferry_queue_stat(r->name, &q)) != 0)
      break;
    r->counter[0] = q.puts;
    r->counter[1] = q.gets;
    r->counter[2] = q.put_waits + q.get_waits;
    r->depth = q.depth;
    r->capacity = q.capacity;
    r->has_depth = r->has_capacity = true;
    r->extra[0] = q.producers;
    r->extra[1] = q.consumers;
    r->extra[2] = q.shutdown;
    break;
  }
  case FERRY_KIND_BUS: {
    ferry_bus_stats b;
    ferry_bus_sub_stats subs[MAX_LAGS];
    ssize_t k = ferry_bus_stat(r->name, &b, subs, MAX_LAGS);
    if (k < 0) {
      rc = (int)k;
      break;
    }
    r->counter[0] = b.published;
    r->counter[1] = b.loan_waits;
    r->nlags = (size_t)k < MAX_LAGS ? (size_t)k : MAX_LAGS;
    r->depth = 0;
    for (size_t i = 0; i < r->nlags; i++) {
      r->lag_pid[i] = subs[i].pid;
      r->lag[i] = subs[i].lag;
      if (subs[i].lag > r->depth)
        r->depth = subs[i].lag;
    }
    r->has_depth = true;
    r->extra[0] = b.subscribers;
    r->extra[1] = b.slots;
    r->extra[2] = b.dropped;
    break;
  }
  case FERRY_KIND_HEAP: {
    ferry_heap_stats h;
    if ((rc = ferry_heap_stat(r->name, &h)) != 0)
      break;
    r->counter[0] = h.pushes;
    r->counter[1] = h.pops;
    r->depth = h.size;
    r->capacity = h.max_capacity;
    r->has_depth = r->has_capacity = true;
    r->waiters = h.waiters;
    r->has_waiters = true;
    r->extra[0] = h.replaces;
    break;
  }
  case FERRY_KIND_DICT: {
    ferry_dict_stats d;
    if ((rc = ferry_dict_stat(r->name, &d)) != 0)
      break;
    r->counter[0] = d.writes;
    r->depth = d.size;
    r->capacity = d.max_capacity;
    r->has_depth = r->has_capacity = true;
    break;
  }
  case FERRY_KIND_LIST: {
    ferry_list_stats l;
    if ((rc = ferry_list_stat(r->name, &l)) != 0)
      break;
    r->counter[0] = l.changes;
    r->depth = l.len;
    r->capacity = l.capacity;
    r->has_depth = r->has_capacity = true;
    break;
  }
  case FERRY_KIND_PIPE: {
    ferry_pipe_stats p;
    if ((rc = ferry_pipe_stat(r->name, &p)) != 0)
      break;
    r->counter[0] = p.sent[0];
    r->counter[1] = p.sent[1];
    r->depth = p.depth[0];
    r->depth2 = p.depth[1];
    r->capacity = p.capacity;
    r->has_depth = r->has_capacity = true;
    r->waiters = p.waiters;
    r->has_waiters = true;
    r->extra[0] = p.ends_held;
    break;
  }
  case FERRY_KIND_POOL: {
    ferry_pool_stats p;
    ssize_t k = ferry_pool_stat(r->name, &p, NULL, 0);
    if (k < 0) {
      rc = (int)k;
      break;
    }
    r->counter[0] = p.done;
    r->counter[1] = p.failed;
    r->depth = p.queued; /* its buffer's size is the owner's business */
    r->has_depth = true;
    r->waiters = p.idle;
    r->has_waiters = true;
    r->extra[0] = p.running;
    r->extra[1] = p.workers;
    r->extra[2] = p.deaths;
    break;
  }
  default:
    return; /* raw and array regions keep no counters */
  }
  if (rc)
    r->error = ferry_strerror(rc);
  else
    r->stats = true;
}

static void gather_row(const char *name, struct row *r)
{
  memset(r, 0, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  ferry_region_info info;
  int rc = ferry_region_stat(name, &info);
  if (rc == -EAGAIN) {
    r->status = "creating";
    return;
  }
  if (rc) {
    r->status = cli_err_is_invalid(rc) ? "invalid" : "unreadable";
    r->error = ferry_strerror(rc);
    return;
  }
  r->status = ferry_region_status_name(info.status);
  r->created_ns = info.created_ns;
  if (info.status == FERRY_REGION_INCOMPLETE)
    return; /* its header was never published: kind and table mean nothing */
  r->known = true;
  r->kind = info.kind;
  r->live = info.live;
  r->dead = info.dead;
  gather_stats(r);
}

static const struct row *find_prev(const struct snapshot *s, const struct row *r)
{
  size_t lo = 0, hi = s->n;
  while (lo < hi) { /* rows are gathered in name order */
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->rows[mid].name, r->name);
    if (c == 0)
      return &s->rows[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void compute_rates(const struct snapshot *prev, struct snapshot *cur)
{
  double secs = (double)(cur->when - prev->when) / (double)FERRY_SEC;
  for (size_t i = 0; i < cur->n && secs > 0; i++) {
    struct row *r = &cur->rows[i];
    const struct row *p = find_prev(prev, r);
    /* The same region: same kind and creation time, both with figures. */
    if (!r->stats || !p || !p->stats || p->kind != r->kind || p->created_ns != r->created_ns)
      continue;
    r->rates = true;
    for (int k = 0; k < MAX_COUNTERS; k++)
      /* A counter that went back (a wrapped dict stripe) gives no rate. */
      r->rate[k] = r->counter[k] >= p->counter[k]
                       ? (double)(r->counter[k] - p->counter[k]) / secs
                       : 0;
  }
}

static int take_snapshot(struct top *t)
{
  char **names;
  size_t n;
  int rc = cli_list_regions(t->patterns, t->npatterns, &names, &n);
  if (rc)
    return rc;
  struct row *rows = calloc(n ? n : 1, sizeof *rows);
  if (!rows) {
    cli_free_names(names, n);
    return -ENOMEM;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  free(t->prev.rows);
  t->prev = t->cur;
  t->cur.rows = rows;
  t->cur.n = 0;
  t->cur.when = cli_now_ns();
  t->cur.wall = (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
  for (size_t i = 0; i < n; i++)
    gather_row(names[i], &rows[t->cur.n++]);
  cli_free_names(names, n);
  if (t->prev.rows)
    compute_rates(&t->prev, &t->cur);
  return 0;
}

/* ---- selecting and sorting ---------------------------------------------------------- */

static double rate_sum(const struct row *r)
{
  double s = 0;
  for (int k = 0; k < MAX_COUNTERS; k++)
    s += r->rates ? r->rate[k] : 0;
  return s;
}

/* WAIT: sleepers now, or waits per second (the last counter of queue and
 * bus). */
static double wait_of(const struct row *r)
{
  if (r->has_waiters)
    return (double)r->waiters;
  if (r->rates && (r->kind == FERRY_KIND_QUEUE || r->kind == FERRY_KIND_BUS))
    return r->rate[r->kind == FERRY_KIND_QUEUE ? 2 : 1];
  return 0;
}

static const struct top *sorting; /* qsort has no context argument */

static int cmp_rows(const void *a, const void *b)
{
  const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
  double dx = 0, dy = 0;
  int c = 0;
  switch (sorting->sort) {
  case S_NAME:
    break;
  case S_KIND:
    c = strcmp(x->known ? ferry_kind_name(x->kind) : "", y->known ? ferry_kind_name(y->kind) : "");
    break;
  case S_STATUS:
    c = strcmp(x->status, y->status);
    break;
  case S_LIVE:
    dx = x->live, dy = y->live;
    break;
  case S_DEAD:
    dx = x->dead, dy = y->dead;
    break;
  case S_DEPTH:
    dx = (double)(x->depth + x->depth2), dy = (double)(y->depth + y->depth2);
    break;
  case S_WAIT:
    dx = wait_of(x), dy = wait_of(y);
    break;
  case S_RATE:
  case S_COUNT:
    dx = rate_sum(x), dy = rate_sum(y);
    break;
  }
  /* Numbers sort largest first, words A to Z; ties by name. */
  if (c == 0 && dx != dy)
    c = dx > dy ? -1 : 1;
  if (c == 0)
    c = strcmp(x->name, y->name);
  return sorting->reverse ? -c : c;
}

static bool selected(const struct top *t, const struct row *r)
{
  if (t->kind != FERRY_KIND_ANY && (!r->known || r->kind != t->kind))
    return false;
  if (t->orphans_only && strcmp(r->status, "orphaned") != 0)
    return false;
  return !t->filter[0] || fnmatch(t->filter, r->name, 0) == 0;
}

/* The rows to show, in order; returns how many (free *out). */
static size_t select_rows(const struct top *t, const struct row ***out)
{
  const struct row **v = calloc(t->cur.n ? t->cur.n : 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; v && i < t->cur.n; i++)
    if (selected(t, &t->cur.rows[i]))
      v[n++] = &t->cur.rows[i];
  sorting = t;
  if (n)
    qsort(v, n, sizeof *v, cmp_rows);
  *out = v;
  return v ? n : 0;
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void stats_json(cli_json *j, const struct row *r)
{
  const struct kind_counters *kc = counters_of(r->kind);
  cli_json_key(j, "stats");
  if (!r->stats || !kc) {
    cli_json_null(j);
  } else {
    cli_json_object(j);
    for (int k = 0; k < MAX_COUNTERS && kc->name[k]; k++) {
      cli_json_key(j, kc->name[k]);
      cli_json_uint(j, r->counter[k]);
    }
    static const struct {
      uint32_t kind;
      const char *name[3];
    } extras[] = {
        {FERRY_KIND_QUEUE, {"producers", "consumers", "shutdown"}},
        {FERRY_KIND_BUS, {"subscribers", "slots", "dropped"}},
        {FERRY_KIND_HEAP, {"replaces", NULL, NULL}},
        {FERRY_KIND_PIPE, {"ends_held", NULL, NULL}},
        {FERRY_KIND_POOL, {"running", "slots", "deaths"}},
    };
    for (size_t e = 0; e < sizeof extras / sizeof extras[0]; e++)
      for (int k = 0; extras[e].kind == r->kind && k < 3 && extras[e].name[k]; k++) {
        cli_json_key(j, extras[e].name[k]);
        cli_json_uint(j, r->extra[k]);
      }
    cli_json_end(j);
  }
  cli_json_key(j, "rates");
  if (!r->stats || !kc) {
    cli_json_null(j);
  } else {
    cli_json_object(j);
    for (int k = 0; k < MAX_COUNTERS && kc->name[k]; k++) {
      char key[FIELD_CAP];
      snprintf(key, sizeof key, "%s_per_s", kc->name[k]);
      cli_json_key(j, key);
      if (r->rates)
        cli_json_double(j, r->rate[k]);
      else
        cli_json_null(j);
    }
    cli_json_end(j);
  }
}

static void snapshot_json(const struct top *t)
{
  const struct row **v;
  size_t n = select_rows(t, &v);
  char when[FIELD_CAP];
  cli_json j;
  cli_json_init_line(&j, stdout);
  cli_json_object(&j);
  cli_json_key(&j, "time");
  cli_json_str(&j, cli_fmt_time(t->cur.wall, when, sizeof when));
  cli_json_key(&j, "time_ns");
  cli_json_int(&j, t->cur.wall);
  cli_json_key(&j, "regions");
  cli_json_array(&j, false);
  for (size_t i = 0; i < n; i++) {
    const struct row *r = v[i];
    cli_json_object(&j);
    cli_json_key(&j, "name");
    cli_json_str(&j, r->name);
    cli_json_key(&j, "kind");
    cli_json_str(&j, r->known ? ferry_kind_name(r->kind) : NULL);
    cli_json_key(&j, "status");
    cli_json_str(&j, r->status);
    cli_json_key(&j, "live");
    if (r->known)
      cli_json_uint(&j, r->live);
    else
      cli_json_null(&j);
    cli_json_key(&j, "dead");
    if (r->known)
      cli_json_uint(&j, r->dead);
    else
      cli_json_null(&j);
    cli_json_key(&j, "error");
    cli_json_str(&j, r->error);
    stats_json(&j, r);
    cli_json_key(&j, "depth");
    if (r->has_depth && r->kind == FERRY_KIND_PIPE) {
      cli_json_array(&j, true);
      cli_json_uint(&j, r->depth);
      cli_json_uint(&j, r->depth2);
      cli_json_end(&j);
    } else if (r->has_depth) {
      cli_json_uint(&j, r->depth);
    } else {
      cli_json_null(&j);
    }
    cli_json_key(&j, "capacity");
    if (r->has_capacity)
      cli_json_uint(&j, r->capacity);
    else
      cli_json_null(&j);
    cli_json_key(&j, "waiters");
    if (r->has_waiters)
      cli_json_uint(&j, r->waiters);
    else
      cli_json_null(&j);
    if (r->kind == FERRY_KIND_BUS && r->stats) {
      cli_json_key(&j, "lag");
      cli_json_array(&j, false);
      for (size_t k = 0; k < r->nlags; k++) {
        cli_json_object(&j);
        cli_json_key(&j, "pid");
        cli_json_int(&j, r->lag_pid[k]);
        cli_json_key(&j, "lag");
        cli_json_uint(&j, r->lag[k]);
        cli_json_end(&j);
      }
      cli_json_end(&j);
    }
    cli_json_end(&j);
  }
  cli_json_end(&j);
  cli_json_end(&j);
  cli_json_finish(&j);
  free(v);
}

/* ---- text ----------------------------------------------------------------------------------- */

enum { C_NAME, C_KIND, C_STATUS, C_LIVE, C_DEAD, C_DEPTH, C_WAIT, C_RATES, NCOLS };
static const char *const col_head[NCOLS] = {"NAME", "KIND", "STATUS", "LIVE",
                                            "DEAD", "DEPTH", "WAIT", "RATES"};
static const bool col_right[NCOLS] = {false, false, false, true, true, true, true, false};
#define CELL_CAP (FERRY_NAME_MAX + 2 * FIELD_CAP)

static void cells_of(const struct row *r, char c[NCOLS][CELL_CAP])
{
  char a[FIELD_CAP], b[FIELD_CAP];
  snprintf(c[C_NAME], CELL_CAP, "%s%s", strcmp(r->status, "orphaned") == 0 ? "!" : " ", r->name);
  snprintf(c[C_KIND], CELL_CAP, "%s", r->known ? ferry_kind_name(r->kind) : "-");
  snprintf(c[C_STATUS], CELL_CAP, "%s", r->status);
  snprintf(c[C_LIVE], CELL_CAP, "%s", "-");
  snprintf(c[C_DEAD], CELL_CAP, "%s", "-");
  if (r->known) {
    snprintf(c[C_LIVE], CELL_CAP, "%" PRIu32, r->live);
    snprintf(c[C_DEAD], CELL_CAP, "%" PRIu32, r->dead);
  }
  snprintf(c[C_DEPTH], CELL_CAP, "-");
  if (r->has_depth && r->kind == FERRY_KIND_PIPE)
    snprintf(c[C_DEPTH], CELL_CAP, "%" PRIu64 "|%" PRIu64, r->depth, r->depth2);
  else if (r->has_depth && r->kind == FERRY_KIND_BUS)
    snprintf(c[C_DEPTH], CELL_CAP, "lag %" PRIu64, r->depth);
  else if (r->has_depth && !r->has_capacity)
    snprintf(c[C_DEPTH], CELL_CAP, "%" PRIu64, r->depth);
  else if (r->has_depth)
    snprintf(c[C_DEPTH], CELL_CAP, "%" PRIu64 "/%s", r->depth,
             cli_fmt_rate((double)r->capacity, a, sizeof a));
  snprintf(c[C_WAIT], CELL_CAP, "-");
  if (r->has_waiters)
    snprintf(c[C_WAIT], CELL_CAP, "%" PRIu64, r->waiters);
  else if (r->rates && (r->kind == FERRY_KIND_QUEUE || r->kind == FERRY_KIND_BUS))
    snprintf(c[C_WAIT], CELL_CAP, "%s/s", cli_fmt_rate(wait_of(r), a, sizeof a));
  c[C_RATES][0] = '\0';
  const struct kind_counters *kc = r->stats ? counters_of(r->kind) : NULL;
  size_t len = 0;
  if (r->error && !r->stats)
    len += (size_t)snprintf(c[C_RATES], CELL_CAP, "%s", r->error);
  /* The waits are in WAIT already. */
  int shown = r->kind == FERRY_KIND_QUEUE ? 2 : r->kind == FERRY_KIND_BUS ? 1 : MAX_COUNTERS;
  for (int k = 0; kc && k < shown && kc->name[k] && len < CELL_CAP; k++)
    len += (size_t)snprintf(c[C_RATES] + len, CELL_CAP - len, "%s%s %s/s", k ? "  " : "",
                            kc->name[k], r->rates ? cli_fmt_rate(r->rate[k], b, sizeof b) : "-");
  for (size_t k = 0; r->kind == FERRY_KIND_BUS && k < r->nlags && len < CELL_CAP; k++)
    len += (size_t)snprintf(c[C_RATES] + len, CELL_CAP - len, "%s%" PRId32 ":%" PRIu64,
                            k ? " " : "  lag ", r->lag_pid[k], r->lag[k]);
}

static const char *const kind_cycle[] = {NULL,   "queue", "pipe", "bus", "heap",
                                         "dict", "list",  "pool", "array", "raw"};

static uint32_t kind_by_name(const char *s)
{
  for (uint32_t k = FERRY_KIND_RAW; k <= FERRY_KIND_LIST; k++)
    if (strcmp(ferry_kind_name(k), s) == 0)
      return k;
  return FERRY_KIND_ANY;
}

/* Prints the snapshot as text: at most `height` lines (0: all) of at most
 * `width` columns (0: any); `color` highlights orphans and the dead. */
static void snapshot_text(const struct top *t, int height, int width, bool color,
                          const char *prompt)
{
  const struct row **v;
  size_t n = select_rows(t, &v);
  size_t orphans = 0, active = 0;
  for (size_t i = 0; i < t->cur.n; i++) {
    orphans += strcmp(t->cur.rows[i].status, "orphaned") == 0;
    active += strcmp(t->cur.rows[i].status, "active") == 0;
  }
  char when[FIELD_CAP], line[4 * CELL_CAP];
  int lines = 0;
#define EMIT(...)                                                              \
  do {                                                                         \
    snprintf(line, sizeof line, __VA_ARGS__);                                  \
    if (width > 0 && (int)strlen(line) > width)                                \
      line[width] = '\0';                                                      \
    printf("%s%s", line, color ? "\033[K\n" : "\n");                           \
    lines++;                                                                   \
  } while (0)
  EMIT("ferry top  %s  %zu regions: %zu active, %zu orphaned  every %.1f s",
       cli_fmt_time(t->cur.wall, when, sizeof when), t->cur.n, active, orphans, t->interval);
  EMIT("sort: %s%s  kind: %s  filter: %s%s  keys: q s r k / o", sort_names[t->sort],
       t->reverse ? " (reversed)" : "", t->kind == FERRY_KIND_ANY ? "all" : ferry_kind_name(t->kind),
       t->filter[0] ? t->filter : "-", t->orphans_only ? "  orphans only" : "");
  char cells[NCOLS][CELL_CAP];
  int w[NCOLS];
  for (int c = 0; c < NCOLS; c++)
    w[c] = (int)strlen(col_head[c]);
  for (size_t i = 0; i < n; i++) {
    cells_of(v[i], cells);
    for (int c = 0; c < NCOLS; c++)
      if ((int)strlen(cells[c]) > w[c])
        w[c] = (int)strlen(cells[c]);
  }
  for (size_t i = 0; i <= n; i++) {
    if (height > 0 && lines >= height - (prompt ? 1 : 0))
      break;
    if (i == 0) {
      for (int c = 0; c < NCOLS; c++)
        snprintf(cells[c], CELL_CAP, "%s%s", c == C_NAME ? " " : "", col_head[c]);
    } else {
      cells_of(v[i - 1], cells);
    }
    size_t len = 0;
    for (int c = 0; c < NCOLS && len < sizeof line; c++)
      len += (size_t)snprintf(line + len, sizeof line - len, col_right[c] ? "%*s  " : "%-*s  ",
                              c == NCOLS - 1 ? 0 : w[c], cells[c]);
    while (len > 0 && line[len - 1] == ' ')
      line[--len] = '\0';
    if (width > 0 && (int)len > width)
      line[width] = '\0';
    const struct row *r = i ? v[i - 1] : NULL;
    const char *on = !color || !r                           ? ""
                     : strcmp(r->status, "orphaned") == 0 ? "\033[1;7;31m" /* bold reverse red */
                     : r->dead                            ? "\033[33m"      /* yellow */
                     : r->error                           ? "\033[31m"
                                                          : "";
    printf("%s%s%s%s\n", on, line, *on ? "\033[0m" : "", color ? "\033[K" : "");
    lines++;
  }
  if (n == 0 && (height == 0 || lines < height))
    EMIT("  (no region%s)", t->cur.n ? " matches" : "");
  if (prompt)
    printf("%s\033[K", prompt);
#undef EMIT
  free(v);
}

/* ---- the terminal ----------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal, resized;
static struct termios saved_tio;

static void on_stop(int sig) { stop_signal = sig; }
static void on_winch(int sig)
{
  (void)sig;
  resized = 1;
}

static void terminal_size(int *rows, int *cols)
{
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
    *rows = ws.ws_row;
    *cols = ws.ws_col;
  } else {
    *rows = 24;
    *cols = 80;
  }
}

static int terminal_enter(void)
{
  if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
    return -errno;
  struct termios raw = saved_tio;
  raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0)
    return -errno;
  /* The alternate screen, cursor hidden: the shell's screen comes back. */
  printf("\033[?1049h\033[?25l");
  fflush(stdout);
  return 0;
}

static void terminal_leave(void)
{
  printf("\033[?25h\033[?1049l");
  fflush(stdout);
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* Handles one key; returns false to quit. *editing: the '/' prompt is
 * open; *redraw: draw now. */
static bool on_key(struct top *t, int ch, bool *editing, char *edit, size_t *elen, bool *redraw)
{
  *redraw = true;
  if (*editing) {
    if (ch == '\n' || ch == '\r') {
      snprintf(t->filter, sizeof t->filter, "%s", edit);
      *editing = false;
    } else if (ch == 27) { /* Esc: keep the old filter */
      *editing = false;
    } else if ((ch == 127 || ch == 8) && *elen > 0) {
      edit[--*elen] = '\0';
    } else if (ch >= 0x20 && ch < 0x7f && *elen + 1 < FERRY_NAME_MAX + 1) {
      edit[(*elen)++] = (char)ch;
      edit[*elen] = '\0';
    }
    return true;
  }
  switch (ch) {
  case 'q':
  case 'Q':
    return false;
  case 's':
    t->sort = (enum sort_key)((t->sort + 1) % S_COUNT);
    break;
  case 'r':
    t->reverse = !t->reverse;
    break;
  case 'k': {
    size_t i = 0, n = sizeof kind_cycle / sizeof kind_cycle[0];
    while (i < n && !(kind_cycle[i] ? kind_by_name(kind_cycle[i]) == t->kind
                                    : t->kind == FERRY_KIND_ANY))
      i++;
    const char *next = kind_cycle[(i + 1) % n];
    t->kind = next ? kind_by_name(next) : FERRY_KIND_ANY;
    break;
  }
  case 'o':
    t->orphans_only = !t->orphans_only;
    break;
  case '/':
    *editing = true;
    *elen = 0;
    edit[0] = '\0';
    break;
  case ' ':
    *redraw = false; /* a refresh, below */
    break;
  default:
    *redraw = false;
    break;
  }
  return true;
}

static int run_terminal(struct top *t)
{
  int rc = terminal_enter();
  if (rc)
    return cli_fail(VERB, rc, "setting up the terminal");
  char edit[FERRY_NAME_MAX + 1] = "";
  size_t elen = 0;
  bool editing = false, quit = false, keys_gone = false;
  for (uint64_t shot = 0; !quit && !stop_signal && (t->count == 0 || shot < t->count); shot++) {
    if ((rc = take_snapshot(t)) != 0)
      break;
    int64_t next = t->cur.when + (int64_t)(t->interval * (double)FERRY_SEC);
    bool redraw = true;
    for (;;) {
      if (redraw || resized) {
        int rows, cols;
        terminal_size(&rows, &cols);
        resized = 0;
        char prompt[FERRY_NAME_MAX + 32];
        snprintf(prompt, sizeof prompt, "filter names: %s", edit);
        printf("\033[H");
        snapshot_text(t, rows, cols, true, editing ? prompt : NULL);
        printf("\033[J");
        fflush(stdout);
        redraw = false;
      }
      if (stop_signal || (t->count && shot + 1 >= t->count))
        break;
      int64_t left = next - cli_now_ns();
      if (left <= 0)
        break;
      if (keys_gone) { /* stdin was closed: only the clock is left */
        cli_nap(left);
        continue;
      }
      struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
      int k = poll(&pfd, 1, (int)(left / FERRY_MSEC) + 1);
      if (k <= 0)
        continue; /* a signal, or the time is up */
      char ch;
      ssize_t got = read(STDIN_FILENO, &ch, 1);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
        keys_gone = true;
      if (got != 1)
        continue;
      if (!on_key(t, (unsigned char)ch, &editing, edit, &elen, &redraw)) {
        quit = true;
        break;
      }
      if (!redraw && !editing && ch == ' ')
        break; /* refresh now */
    }
  }
  terminal_leave();
  if (rc)
    return cli_fail(VERB, rc, "listing /dev/shm");
  return CLI_OK;
}

static int run_stream(struct top *t)
{
  for (uint64_t shot = 0; !stop_signal && (t->count == 0 || shot < t->count); shot++) {
    if (shot > 0) {
      int64_t next = t->cur.when + (int64_t)(t->interval * (double)FERRY_SEC);
      for (int64_t left; !stop_signal && (left = next - cli_now_ns()) > 0;)
        cli_nap(left);
      if (stop_signal)
        break;
    }
    int rc = take_snapshot(t);
    if (rc)
      return cli_fail(VERB, rc, "listing /dev/shm");
    if (t->json) {
      snapshot_json(t);
    } else {
      if (shot > 0)
        printf("\n");
      snapshot_text(t, 0, 0, false, NULL);
    }
    fflush(stdout);
    if (ferror(stdout))
      break; /* cli_main() reports it */
  }
  return CLI_OK;
}

/* ---- the verb ------------------------------------------------------------------------------- */

static int parse_sort(void *ctx, const char *v)
{
  struct top *t = ctx;
  for (int i = 0; i < S_COUNT; i++)
    if (strcmp(v, sort_names[i]) == 0) {
      t->sort = (enum sort_key)i;
      return CLI_OK;
    }
  return cli_usage_error(VERB, "bad --sort '%s' (want name, kind, status, live, dead, depth, "
                               "wait or rate)", v);
}

static int parse_kind(void *ctx, const char *v)
{
  struct top *t = ctx;
  if ((t->kind = kind_by_name(v)) == FERRY_KIND_ANY)
    return cli_usage_error(VERB, "bad --kind '%s' (want raw, array, queue, pipe, bus, heap, "
                                 "dict, list or pool)", v);
  return CLI_OK;
}

int cmd_top(int argc, char **argv)
{
  struct top t;
  memset(&t, 0, sizeof t);
  t.interval = 1;
  t.kind = FERRY_KIND_ANY;
  cli_opt opts[] = {
      CLI_COUNT(&t.count),
      {.name = "--interval", .letter = 'd', .type = CLI_OPT_DOUBLE, .out = &t.interval,
       .dmin = INTERVAL_MIN, .dmax = 3600},
      CLI_CALL("--sort", parse_sort, &t),
      CLI_CALL("--kind", parse_kind, &t),
      CLI_FLAG("--orphans", &t.orphans_only),
      CLI_JSON(&t.json),
  };
  static const char *const args[] = {"PATTERN"};
  const cli_spec spec = {VERB, cli_help_top, opts, 6, args, 0, CLI_ANY_NUMBER, 0};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  t.patterns = argv + 1;
  t.npatterns = n;
  t.tty = !t.json && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);

  /* No SA_RESTART: a signal ends the wait at once. */
  struct sigaction sa, old[4];
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++)
    sigaction(sigs[i], &sa, &old[i]);
  sa.sa_handler = on_winch;
  sigaction(SIGWINCH, &sa, &old[3]);
  stop_signal = 0;

  int rc = t.tty ? run_terminal(&t) : run_stream(&t);

  for (int i = 0; i < 3; i++)
    sigaction(sigs[i], &old[i], NULL);
  sigaction(SIGWINCH, &old[3], NULL);
  free(t.prev.rows);
  free(t.cur.rows);
  return rc;
}
