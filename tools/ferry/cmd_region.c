/* SPDX-License-Identifier: MIT */
/*
 * cmd_region.c: the verbs that list and remove regions of any kind: ls,
 * rm and gc (info is cmd_info.c). They only ever look as observers
 * (ferry_region_stat/gc open as such), so running them never registers a
 * participant and never changes a region's status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "verbs.h"

/* Room for cli_fmt_size() and numbers. */
#define FIELD_CAP 64

/* ---- ls ----------------------------------------------------------------------- */

const char cli_help_ls[] =
    "usage: ferry ls [--json] [PATTERN...]\n"
    "\n"
    "List ferry regions, sorted by name. With PATTERNs (shell wildcards such\n"
    "as 'demo-*'), only the regions whose names match one of them.\n"
    "Looking never registers: ls does not change what it shows.\n"
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
  cli_opt opts[] = {CLI_JSON(&json)};
  static const char *const args[] = {"PATTERN"};
  const cli_spec spec = {"ls", cli_help_ls, opts, 1, args, 0, CLI_ANY_NUMBER, 0};
  size_t npatterns;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &npatterns);
  char **patterns = argv + 1;
  char **names;
  size_t n;
  int rc = cli_list_regions(patterns, npatterns, &names, &n);
  if (rc)
    return cli_fail("ls", rc, "listing /dev/shm");
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

/* ---- rm ---------------------------------------------------------------------------- */

const char cli_help_rm[] =
    "usage: ferry rm [-f] NAME...\n"
    "\n"
    "Remove each named region, whatever its kind and status, also one that is\n"
    "not a valid ferry region. Processes that have it open keep working on\n"
    "their mapping; new opens fail. Every name is checked first: if one is not\n"
    "a valid region name, nothing is removed (exit status 2). A region that\n"
    "does not exist gets an error line and exit status 5 (unless -f); the\n"
    "others are still removed.\n"
    "\n"
    "Options:\n"
    "  -f, --force  say nothing about names that do not exist\n"
    "  -h, --help\n";

int cmd_rm(int argc, char **argv)
{
  bool force = false;
  cli_opt opts[] = {{.name = "--force", .letter = 'f', .type = CLI_OPT_FLAG, .out = &force}};
  static const char *const args[] = {"region name"};
  const cli_spec spec = {"rm", cli_help_rm, opts, 1, args, 1, CLI_ANY_NUMBER, CLI_ARG_ALL_REGIONS};
  size_t n;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &n);
  int rc = CLI_OK;
  for (size_t i = 1; i <= n; i++) {
    int err = ferry_unlink(argv[i]);
    if (err == 0 || (err == -ENOENT && force))
      continue;
    cli_error("rm", err, "%s", argv[i]);
    /* Any other failure outweighs a name that was not there. */
    if (rc != CLI_FAIL)
      rc = cli_status_of(err);
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
  bool json = false, dry = false, idle = false;
  cli_opt opts[] = {CLI_JSON(&json), CLI_FLAG("--dry-run", &dry), CLI_FLAG("--idle", &idle)};
  static const char *const args[] = {"PATTERN"};
  const cli_spec spec = {"gc", cli_help_gc, opts, 3, args, 0, CLI_ANY_NUMBER, 0};
  size_t npatterns;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &npatterns);
  char **patterns = argv + 1;
  unsigned flags = (dry ? FERRY_GC_DRY_RUN : 0) | (idle ? FERRY_GC_IDLE : 0);
  char **names;
  size_t n;
  int rc = cli_list_regions(patterns, npatterns, &names, &n);
  if (rc)
    return cli_fail("gc", rc, "listing /dev/shm");
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
