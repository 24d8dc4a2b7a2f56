/* SPDX-License-Identifier: MIT */
/*
 * stress_liveness.c: the liveness model across real processes, one case per
 * way a process can live or end (docs/design/region.md, [slot-lock] and
 * [fork]): a participant whose main thread exited while another thread
 * runs, one that exec()s, one in another PID namespace, one that never
 * closes and is SIGKILLed, and handles inherited through fork. Also the
 * header geometry that a peer rewrites after open, and the owner check.
 */
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region_internal.h"
#include "test.h"

static void live_dead(ferry_region *r, uint32_t live, uint32_t dead)
{
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, live);
  CHECK_EQ(info.dead, dead);
}

/* Waits until the region shows `live` participants (a child registering). */
static void wait_live(ferry_region *r, uint32_t live)
{
  int64_t end = ft_ms() + 10000;
  ferry_region_info info;
  while (ferry_region_info_get(r, &info) == 0 && info.live != live && ft_ms() < end)
    usleep(1000);
  CHECK_EQ(info.live, live);
}

/* Waits until the region shows `dead` participants. The kernel drops a
 * dead process's locks when the last reference to its open files goes,
 * which can be a moment after waitpid() returns: a /proc reader elsewhere
 * holding its address space makes the last unmap someone else's. */
static void wait_dead(ferry_region *r, uint32_t dead)
{
  int64_t end = ft_ms() + 10000;
  ferry_region_info info;
  while (ferry_region_info_get(r, &info) == 0 && info.dead != dead && ft_ms() < end)
    usleep(1000);
  CHECK_EQ(info.dead, dead);
}

static void *sleeper_thread(void *arg)
{
  (void)arg;
  for (;;)
    pause();
  return NULL;
}

/* A participant whose main thread called pthread_exit while another
 * thread runs is alive: /proc shows its main thread as a zombie, which
 * the old model took for a dead process. */
static void test_main_thread_exited(void)
{
  char name[64];
  ft_name(name, sizeof name, "mainexit");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    if (ferry_region_open(name, FERRY_KIND_RAW, NULL, &c) != 0)
      _exit(1);
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper_thread, NULL) != 0)
      _exit(1);
    pthread_exit(NULL);
  }
  wait_live(r, 2);
  /* Wait until the main thread is a zombie, then look again. */
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int64_t end = ft_ms() + 10000;
  bool zombie = false;
  while (!zombie && ft_ms() < end) {
    FILE *f = fopen(path, "r");
    if (f) {
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      buf[n] = '\0';
      fclose(f);
      char *p = strrchr(buf, ')');
      zombie = p && p[1] == ' ' && p[2] == 'Z';
    }
    if (!zombie)
      usleep(1000);
  }
  CHECK(zombie);
  live_dead(r, 2, 0);
  ferry_participant p[4];
  CHECK_EQ(ferry_region_participants(r, p, 4), 2);
  CHECK(p[0].alive && p[1].alive);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  wait_dead(r, 1);
  live_dead(r, 1, 1);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* exec() after open: the pid and its start time live on, but the
 * participant does not; the old model called it alive forever. */
static void test_exec_after_open(void)
{
  char name[64];
  ft_name(name, sizeof name, "exec");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  int go[2];
  REQUIRE(pipe(go) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    if (ferry_region_open(name, FERRY_KIND_RAW, NULL, &c) != 0)
      _exit(1);
    char b;
    if (read(go[0], &b, 1) != 1)
      _exit(1);
    execl("/bin/sleep", "sleep", "30", (char *)NULL);
    _exit(1);
  }
  wait_live(r, 2);
  CHECK(write(go[1], "x", 1) == 1);
  /* After the exec the same pid runs sleep; its slot is dead. */
  wait_dead(r, 1);
  live_dead(r, 1, 1);
  CHECK_EQ(kill(pid, 0), 0); /* the process itself is still there */
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(go[0]);
  close(go[1]);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* A participant in another PID namespace writes a pid that means nothing
 * (or something else) here; its liveness is still right, both ways. */
static void test_other_pid_namespace(void)
{
  char name[64];
  ft_name(name, sizeof name, "pidns");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  int ready[2], initp[2];
  REQUIRE(pipe(ready) == 0 && pipe(initp) == 0);
  pid_t outer = ft_fork();
  if (outer == 0) {
    if (unshare(CLONE_NEWPID) != 0) {
      char b = 's';
      if (write(ready[1], &b, 1) != 1)
        _exit(1);
      _exit(0);
    }
    /* The first child is pid 1 of the new namespace; its own child, pid 2,
     * is the participant (pid 2 here is another process, if any). We hand
     * the init's pid (in our namespace) to the test, which kills it, and
     * with it the whole namespace. */
    pid_t init = fork();
    if (init == 0) {
      pid_t member = fork();
      if (member == 0) {
        ferry_region *c;
        char b = ferry_region_open(name, FERRY_KIND_RAW, NULL, &c) == 0 ? 'y' : 'n';
        if (write(ready[1], &b, 1) != 1)
          _exit(1);
        for (;;)
          pause();
      }
      waitpid(member, NULL, 0);
      _exit(0);
    }
    if (write(initp[1], &init, sizeof init) != (ssize_t)sizeof init)
      _exit(1);
    waitpid(init, NULL, 0);
    _exit(0);
  }
  char b = 0;
  pid_t init = 0;
  CHECK(read(ready[0], &b, 1) == 1);
  if (b != 's')
    CHECK(read(initp[0], &init, sizeof init) == (ssize_t)sizeof init);
  if (b == 's') {
    ft_wait_ok(outer, 10000);
    ft_skip("cannot create a PID namespace here");
  } else {
    CHECK_EQ(b, 'y');
    live_dead(r, 2, 0);
    ferry_participant p[4];
    CHECK_EQ(ferry_region_participants(r, p, 4), 2);
    for (int i = 0; i < 2; i++)
      CHECK(p[i].alive);
    /* Killing the namespace's init kills its whole namespace. */
    CHECK(init > 0);
    if (init > 0)
      kill(init, SIGKILL);
    ft_wait_ok(outer, 10000);
    wait_dead(r, 1);
    live_dead(r, 1, 1);
  }
  close(ready[0]);
  close(ready[1]);
  close(initp[0]);
  close(initp[1]);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* A forked child that closes an inherited handle neither deregisters the
 * parent nor unlinks a region the parent still uses; every operation on
 * the inherited handle says so; and the child's copy of the descriptor
 * does not keep the parent looking alive once the parent is gone. */
static void test_fork_inherited_handle(void)
{
  char name[64];
  ft_name(name, sizeof name, "fork");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region_info info;
    CHECK_RC(ferry_region_info_get(r, &info), FERRY_EFORKED);
    CHECK_RC(ferry_region_participants(r, NULL, 0), FERRY_EFORKED);
    ferry_region_close(r); /* unmaps only */
    /* A handle of its own works. */
    ferry_region *c;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &c));
    ferry_region_close(c);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  live_dead(r, 1, 0); /* still registered, and the name is still there */
  ferry_region *again;
  CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &again));
  ferry_region_close(again);

  /* The parent dies while its child, forked with the handle open, lives
   * on: the parent must be reported dead. */
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t parent = ft_fork();
  if (parent == 0) {
    ferry_region *c;
    if (ferry_region_open(name, FERRY_KIND_RAW, NULL, &c) != 0)
      _exit(1);
    pid_t child = fork();
    if (child == 0) {
      for (;;)
        pause(); /* holds a copy of nothing: the handler closed it */
    }
    char b = 'y';
    if (write(ready[1], &b, 1) != 1)
      _exit(1);
    char pidbuf[16];
    int n = snprintf(pidbuf, sizeof pidbuf, "%d", (int)child);
    if (write(ready[1], pidbuf, (size_t)n + 1) < 0)
      _exit(1);
    for (;;)
      pause();
  }
  char buf[32] = {0};
  CHECK(read(ready[0], buf, 1) == 1 && buf[0] == 'y');
  ssize_t got = read(ready[0], buf, sizeof buf - 1);
  CHECK(got > 0);
  pid_t grandchild = (pid_t)atoi(buf);
  live_dead(r, 2, 0);
  kill(parent, SIGKILL);
  waitpid(parent, NULL, 0);
  wait_dead(r, 1);
  live_dead(r, 1, 1);
  if (grandchild > 0)
    kill(grandchild, SIGKILL);
  close(ready[0]);
  close(ready[1]);
  ferry_region_close(r);
  /* Unlink-on-last-close: we were the last (the dead one does not count). */
  CHECK_RC(ferry_unlink(name), -ENOENT);
}

/* A peer raises max_participants (and fixes the checksum) after we opened:
 * nothing we do reads the table past what we validated. */
static void test_geometry_rewritten_after_open(void)
{
  char name[64];
  ft_name(name, sizeof name, "geometry");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = 2;
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  struct ferry__region_hdr *h = r->hdr;
  h->max_participants = FERRY_MAX_PARTICIPANTS_LIMIT;
  h->header_size = 1u << 20;
  h->total_size = UINT64_C(1) << 40;
  h->checksum = ferry__fnv1a((const uint8_t *)h + FERRY__CHECKSUM_BEGIN,
                             FERRY__CHECKSUM_END - FERRY__CHECKSUM_BEGIN, FERRY__FNV_SEED);
  ferry_region_info info;
  CHECK_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.max_participants, 2);
  CHECK_EQ(info.live, 1);
  ferry_participant p[8];
  CHECK_EQ(ferry_region_participants(r, p, 8), 1);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Another user creates a region under the name we expected, world
 * writable, with something in it: we refuse it unless told otherwise. */
static void test_file_of_another_user(void)
{
  if (geteuid() != 0) {
    ft_skip("needs root to act as another user");
    return;
  }
  struct passwd *pw = getpwnam("nobody");
  if (!pw) {
    ft_skip("no user nobody");
    return;
  }
  char name[64];
  ft_name(name, sizeof name, "planted");
  pid_t pid = ft_fork();
  if (pid == 0) {
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
      _exit(3);
    ferry_region_options o;
    ferry_region_options_init(&o);
    o.mode = 0666;
    ferry_region *r;
    CHECK_OK(ferry_region_create(name, 64, &o, &r));
    memcpy(ferry_region_data(r), "injected", 9);
    _exit(ft_failures ? 1 : 0); /* leaves it behind */
  }
  ft_wait_ok(pid, 10000);
  ferry_region *r = (ferry_region *)0x1;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_RAW, NULL, &r), FERRY_EUNTRUSTED);
  CHECK(r == (ferry_region *)0x1);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_ANY_OWNER;
  CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, &oo, &r));
  CHECK_EQ(memcmp(ferry_region_data(r), "injected", 9), 0);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* /proc mounted hidepid=invisible: a live participant of another user has
 * no /proc entry for us. The old model read that as death and recovered a
 * live participant's slot. The participant runs as `nobody`; the checker
 * as `daemon`, in a mount namespace of its own with such a /proc. */
static void test_hidepid(void)
{
  if (geteuid() != 0) {
    ft_skip("needs root to mount /proc and switch users");
    return;
  }
  struct passwd *member = getpwnam("nobody");
  struct passwd *checker = getpwnam("daemon");
  if (!member || !checker) {
    ft_skip("needs users nobody and daemon");
    return;
  }
  char name[64];
  ft_name(name, sizeof name, "hidepid");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.mode = 0666; /* two users share it */
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t m = ft_fork();
  if (m == 0) {
    if (setgid(member->pw_gid) != 0 || setuid(member->pw_uid) != 0)
      _exit(3);
    ferry_open_options oo;
    ferry_open_options_init(&oo);
    oo.flags = FERRY_OPEN_ANY_OWNER;
    ferry_region *c;
    char b = ferry_region_open(name, FERRY_KIND_RAW, &oo, &c) == 0 ? 'y' : 'n';
    if (write(ready[1], &b, 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  char b = 0;
  CHECK(read(ready[0], &b, 1) == 1 && b == 'y');
  pid_t c = ft_fork();
  if (c == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", 0, "hidepid=invisible") != 0) {
      _exit(77); /* no such /proc here: skip */
    }
    if (setgid(checker->pw_gid) != 0 || setuid(checker->pw_uid) != 0)
      _exit(3);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)m);
    if (access(path, F_OK) == 0)
      _exit(77); /* hidepid did not hide it: the case does not arise */
    ferry_open_options oo;
    ferry_open_options_init(&oo);
    oo.flags = FERRY_OPEN_ANY_OWNER;
    ferry_region *h;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, &oo, &h));
    ferry_region_info info;
    CHECK_OK(ferry_region_info_get(h, &info));
    CHECK_EQ(info.live, 3); /* the creator, the member and us */
    CHECK_EQ(info.dead, 0);
    ferry_region_close(h);
    ft_child_exit();
  }
  int st = ft_wait(c, 10000);
  if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
    ft_skip("cannot mount /proc with hidepid=invisible here");
  else if (st != -1)
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  kill(m, SIGKILL);
  waitpid(m, NULL, 0);
  close(ready[0]);
  close(ready[1]);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* A participant that died while joining left nothing that looks alive.
 * The old table had a CLAIMING state judged by pid alone, so a claim by a
 * dead process whose pid came back (here: a pid that is certainly alive)
 * kept the region "active" for good, and gc never collected it. */
static void test_died_while_joining(void)
{
  char name[64];
  ft_name(name, sizeof name, "claiming");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &c));
    _exit(ft_failures ? 1 : 0); /* dies without closing */
  }
  ft_wait_ok(pid, 10000);
  /* Turn the dead one's slot into what a half-done claim looked like, with
   * a live pid in it (ours). */
  for (uint32_t i = 0; i < r->hc.max_participants; i++) {
    ferry__slot_view v;
    ferry__region_slot_read(r, i, &v);
    if (v.state == FERRY__SLOT_LIVE && v.pid == pid)
      atomic_store(&ferry__region_slots(r)[i].owner,
                   (uint64_t)(uint32_t)getpid() << FERRY__SLOT_PID_SHIFT | 1u /* CLAIMING in 1.x */);
  }
  ferry_region_close(r);
  /* Nobody is left: gc removes it (the creator closed, so it is idle). */
  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(name, FERRY_GC_IDLE, &st), 1);
  CHECK_EQ(st, FERRY_REGION_IDLE);
}

int main(void)
{
  RUN(test_hidepid);
  RUN(test_died_while_joining);
  RUN(test_main_thread_exited);
  RUN(test_exec_after_open);
  RUN(test_other_pid_namespace);
  RUN(test_fork_inherited_handle);
  RUN(test_geometry_rewritten_after_open);
  RUN(test_file_of_another_user);
  return ft_done();
}
