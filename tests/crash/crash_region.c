/* SPDX-License-Identifier: MIT */
/*
 * crash_region.c: crash scenarios for the participant table (region.*
 * points). The victim joins and leaves a small table, reclaims the slots
 * of members that were killed, and recovers a dead slot by hand; after it
 * dies at any step, the survivor must find the table consistent: the
 * victim reported dead or gone, every slot reusable, nothing jammed.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash.h"
#include "region_internal.h"

#define TABLE 4

struct region_ctx {
  char name[64];
  char fresh[64];  /* the region the victim creates and never publishes */
  ferry_region *r; /* the parent's handle, slot 0 */
};

/* A member that joins and is killed, leaving a dead slot behind. */
static void leave_dead_member(const char *name)
{
  int fds[2];
  if (pipe(fds) != 0)
    return;
  pid_t pid = fork();
  if (pid == 0) {
    ferry_region *r;
    char ok = ferry_region_open(name, FERRY_KIND_RAW, NULL, &r) == 0 ? 'y' : 'n';
    if (write(fds[1], &ok, 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  char b = 0;
  CHECK(read(fds[0], &b, 1) == 1 && b == 'y');
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
}

static void setup(void *p)
{
  struct region_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-region");
  ft_name(c->fresh, sizeof c->fresh, "crash-fresh");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = TABLE;
  REQUIRE_OK(ferry_region_create(c->name, 64, &o, &c->r));
  /* Two dead members: the victim's joins reclaim them once it fills the
   * rest of the table. */
  leave_dead_member(c->name);
  leave_dead_member(c->name);
}

static void victim(void *p)
{
  struct region_ctx *c = p;
  ferry_region *h[TABLE];
  /* Join and leave: the join and leave points, pass after pass. */
  for (int i = 0; i < 10; i++) {
    if (ferry_region_open(c->name, FERRY_KIND_RAW, NULL, &h[0]) == 0)
      ferry_region_close(h[0]);
  }
  /* Recover a dead slot by hand, as an object's waiter does. */
  ferry_region *me;
  if (ferry_region_open(c->name, FERRY_KIND_RAW, NULL, &me) == 0) {
    for (uint32_t i = 0; i < TABLE; i++) {
      ferry__slot_view v;
      ferry__region_slot_read(me, i, &v);
      if (ferry__region_slot_check(me, i, &v) == FERRY__SLOT_DEAD &&
          ferry__region_recover_begin(me, i, &v))
        ferry__region_recover_end(me, i, &v);
    }
    ferry_region_close(me);
  }
  leave_dead_member(c->name);
  leave_dead_member(c->name);
  /* Fill the table: the last joins reclaim the dead members' slots. */
  int n = 0;
  while (n < TABLE && ferry_region_open(c->name, FERRY_KIND_RAW, NULL, &h[n]) == 0)
    n++;
  for (int i = 0; i < n; i++)
    ferry_region_close(h[i]);
  /* A creator that gives up before publishing (or dies doing so). */
  ferry_region *nr;
  if (ferry__region_create(c->fresh, FERRY_KIND_RAW, 64, NULL, 0, &nr) == 0)
    ferry__region_abort(nr);
}

static void check(void *p)
{
  struct region_ctx *c = p;
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(c->r, &info));
  CHECK_EQ(info.live, 1); /* only us: the victim is dead, whatever it held */
  /* The whole table can be taken again: nothing stays jammed by a slot
   * the victim held, claimed or was recovering. */
  ferry_region *h[TABLE - 1];
  int n = 0;
  while (n < TABLE - 1 && ferry_region_open(c->name, FERRY_KIND_RAW, NULL, &h[n]) == 0)
    n++;
  CHECK_EQ(n, TABLE - 1);
  REQUIRE_OK(ferry_region_info_get(c->r, &info));
  CHECK_EQ(info.live, (uint32_t)(n + 1));
  CHECK_EQ(info.dead, 0);
  for (int i = 0; i < n; i++)
    ferry_region_close(h[i]);
  /* The region the victim was creating is never half-seen: opens fail
   * clearly, and gc collects it; or it is gone. */
  ferry_region *o;
  int rc = ferry_region_open(c->fresh, FERRY_KIND_ANY, NULL, &o);
  CHECK(rc == FERRY_EINCOMPLETE || rc == -ENOENT);
  if (rc == FERRY_EINCOMPLETE) {
    ferry_region_status st;
    CHECK_EQ(ferry_region_gc(c->fresh, 0, &st), 1);
    CHECK_EQ(st, FERRY_REGION_INCOMPLETE);
  }
}

static void teardown(void *p)
{
  struct region_ctx *c = p;
  ferry_region_close(c->r);
  CHECK_OK(ferry_unlink(c->name));
}

CRASH_SCENARIO(region, .prefix = "region.", .setup = setup, .victim = victim, .check = check,
               .teardown = teardown);
