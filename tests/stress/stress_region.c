/* SPDX-License-Identifier: MIT */
/*
 * stress_region.c: the participant table across real processes.
 *
 *  - permissions: a child that drops to uid `nobody` cannot open a 0600
 *    region, and can open one whose creator granted access;
 *  - recycled pids: a dead participant's slot that now names a live pid
 *    (simulated by giving the slot a live process's pid with the dead one's
 *    start time) is reported dead;
 *  - a kill storm: participants are SIGKILLed at random points, including
 *    mid-open, hundreds of times, while new ones keep joining; the table
 *    never reports a dead process alive or a live one dead, never fills up
 *    for good, and gc removes the region once everyone is gone.
 */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region_internal.h"
#include "test.h"

static void test_other_uid(void)
{
  if (geteuid() != 0) {
    ft_skip("needs root to switch to uid nobody");
    return;
  }
  struct passwd *pw = getpwnam("nobody");
  if (!pw) {
    ft_skip("no user nobody");
    return;
  }
  char priv[64], shared[64];
  ft_name(priv, sizeof priv, "uid-priv");
  ft_name(shared, sizeof shared, "uid-shared");
  ferry_region *a, *b;
  REQUIRE_OK(ferry_region_create(priv, 64, NULL, &a));
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.mode = 0666;
  REQUIRE_OK(ferry_region_create(shared, 64, &o, &b));

  pid_t pid = ft_fork();
  if (pid == 0) {
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
      perror("drop privileges");
      _exit(3);
    }
    CHECK(getuid() == pw->pw_uid);
    ferry_region *r = (ferry_region *)0x1;
    CHECK_RC(ferry_region_open(priv, FERRY_KIND_ANY, NULL, &r), -EACCES);
    CHECK(r == (ferry_region *)0x1);
    /* Not even a look: observers need read access too. */
    ferry_region_info info;
    CHECK_RC(ferry_region_stat(priv, &info), -EACCES);
    /* Nor may it remove the region or garbage-collect it. */
    CHECK_RC(ferry_region_gc(priv, FERRY_GC_IDLE, NULL), -EACCES);
    /* Granted by the creator, but a file of another user is refused unless
     * the opener says it trusts it [owner-check]. */
    CHECK_RC(ferry_region_open(shared, FERRY_KIND_RAW, NULL, &r), FERRY_EUNTRUSTED);
    CHECK(r == (ferry_region *)0x1);
    ferry_open_options oo;
    ferry_open_options_init(&oo);
    oo.flags = FERRY_OPEN_ANY_OWNER;
    int rc = ferry_region_open(shared, FERRY_KIND_RAW, &oo, &r);
    CHECK_OK(rc);
    if (rc == 0) {
      ferry_participant p[4];
      ssize_t n = ferry_region_participants(r, p, 4);
      CHECK_EQ(n, 2);
      ferry_region_close(r);
    }
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  ferry_region_close(a);
  ferry_region_close(b);
  CHECK_OK(ferry_unlink(priv));
  CHECK_OK(ferry_unlink(shared));
}

/* Registers in `name`, tells the parent, then waits to be killed. */
static pid_t spawn_member(const char *name, int ready_fd)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *r;
    int rc = ferry_region_open(name, FERRY_KIND_RAW, NULL, &r);
    char b = rc == 0 ? 'y' : 'n';
    if (ready_fd >= 0 && write(ready_fd, &b, 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  return pid;
}

static void test_recycled_pid_real(void)
{
  char name[64];
  ft_name(name, sizeof name, "recycled");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  /* Start times count clock ticks (10 ms): start the two in different
   * ticks, as a real reuse of a pid always is (pids are handed out
   * cyclically, so one comes back only after the whole pid space). */
  pid_t victim = spawn_member(name, fds[1]);
  char b[2];
  CHECK(read(fds[0], b, 1) == 1 && b[0] == 'y');
  usleep(50000);
  pid_t bystander = spawn_member(name, fds[1]);
  CHECK(read(fds[0], b + 1, 1) == 1 && b[1] == 'y');
  kill(victim, SIGKILL);
  waitpid(victim, NULL, 0);

  /* The victim's pid is now "reused" by the bystander. */
  int vslot = -1;
  for (uint32_t i = 0; i < 64; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.state == FERRY__SLOT_LIVE && v.pid == victim)
      vslot = (int)i;
  }
  REQUIRE(vslot >= 0);
  struct ferry__slot *s = &ferry__region_slots(r)[vslot];
  uint64_t w = atomic_load(&s->owner);
  uint64_t forged = (w & 0xffffffffu) | (uint64_t)(uint32_t)bystander << 32;
  atomic_store(&s->owner, forged);

  ferry_participant p[8];
  ssize_t n = ferry_region_participants(r, p, 8);
  CHECK_EQ(n, 3);
  int bystander_alive = 0, bystander_dead = 0;
  for (ssize_t i = 0; i < n; i++) {
    if (p[i].pid != bystander)
      continue;
    if (p[i].alive)
      bystander_alive++;
    else
      bystander_dead++;
  }
  CHECK_EQ(bystander_alive, 1); /* the real one */
  CHECK_EQ(bystander_dead, 1);  /* the recycled pid in the victim's slot */
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, 2);
  CHECK_EQ(info.dead, 1);

  kill(bystander, SIGKILL);
  waitpid(bystander, NULL, 0);
  close(fds[0]);
  close(fds[1]);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

#define STORM_SLOTS 16
#define STORM_MEMBERS 10

static void test_kill_storm(void)
{
  char name[64];
  ft_name(name, sizeof name, "storm");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = STORM_SLOTS;
  ferry_region *r;
  /* Stateless slots: a new member may reclaim a dead one's slot. */
  REQUIRE_OK(ferry__region_create(name, FERRY_KIND_RAW, 64, &o, FERRY__REGION_STATELESS_SLOTS, &r));
  ferry__region_publish(r);

  pid_t members[STORM_MEMBERS];
  for (int i = 0; i < STORM_MEMBERS; i++)
    members[i] = spawn_member(name, -1);
  uint64_t seed = (uint64_t)getpid() * 2654435761u;
  double seconds = ft_stress_seconds(2.0);
  int64_t end = ft_ms() + (int64_t)(seconds * 1000);
  int kills = 0, checks = 0;
  while (ft_ms() < end || kills < 300) {
    int k = (int)(ft_rand(&seed) % STORM_MEMBERS);
    /* Kill at a random point: often while the member is still opening. */
    usleep((useconds_t)(ft_rand(&seed) % 300));
    kill(members[k], SIGKILL);
    waitpid(members[k], NULL, 0);
    kills++;
    pid_t dead = members[k];
    members[k] = spawn_member(name, -1);

    if (kills % 25 == 0) {
      /* Nobody reported alive is one of the killed; the dead pid is dead. */
      ferry_participant p[STORM_SLOTS];
      ssize_t n = ferry_region_participants(r, p, STORM_SLOTS);
      CHECK(n >= 1 && n <= STORM_SLOTS);
      for (ssize_t i = 0; i < n && i < STORM_SLOTS; i++) {
        if (p[i].pid == dead)
          CHECK(!p[i].alive);
        if (p[i].alive) {
          bool known = p[i].pid == getpid();
          for (int m = 0; m < STORM_MEMBERS; m++)
            known |= p[i].pid == members[m];
          CHECK(known);
        }
      }
      checks++;
    }
  }
  /* Let the last members finish opening, then check every one got in: the
   * table never stayed full of the dead. */
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t last = spawn_member(name, fds[1]);
  char b = 0;
  CHECK(read(fds[0], &b, 1) == 1);
  CHECK_EQ(b, 'y');
  close(fds[0]);
  close(fds[1]);
  kill(last, SIGKILL);
  waitpid(last, NULL, 0);
  for (int i = 0; i < STORM_MEMBERS; i++) {
    kill(members[i], SIGKILL);
    waitpid(members[i], NULL, 0);
  }
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, 1); /* only us */
  CHECK(info.dead >= 1);
  CHECK(info.reaped > 0);
  printf("  %d kills, %d table checks, %llu opens, %llu slots reclaimed\n", kills, checks,
         (unsigned long long)info.opens, (unsigned long long)info.reaped);

  /* We close cleanly; the dead stay in the table, so the region is
   * orphaned and gc removes it. */
  ferry_region_close(r);
  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(name, 0, &st), 1);
  CHECK_EQ(st, FERRY_REGION_ORPHANED);
}

int main(void)
{
  RUN(test_other_uid);
  RUN(test_recycled_pid_real);
  RUN(test_kill_storm);
  return ft_done();
}
