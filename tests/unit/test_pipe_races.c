/* SPDX-License-Identifier: MIT */
/*
 * test_pipe_races.c: the pipe under interleavings and conditions that need
 * a close look, seen by interposing the system calls the library makes.
 * The test binary links the library statically, so its own open(),
 * fcntl() and syscall() are the ones the library calls; each forwards to
 * the real one unless a test arms it.
 *
 *   - An open that takes over a dead holder's end while the other end
 *     marks that holder gone gets the end, not -EBUSY (issue 8, defect 15).
 *   - An open whose header is rewritten between its check and its use
 *     keeps the geometry it checked (defect 3).
 *   - A receiver that dies asleep leaves nothing that makes every later
 *     send pay a wake system call (defect 14).
 *   - A receiver under a periodic signal still notices a dead sender
 *     within the liveness bound (defect 12).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/pipe.h"
#include "pipe_layout.h"
#include "fixtures.h"
#include "test.h"

/* ---- interposed calls ------------------------------------------------------- */

static pid_t hook_pid;      /* the process whose calls are watched */
static pid_t hook_dead_pid; /* the holder being judged */
static void (*hook_fn)(void);
static int hook_fired;

static void hook_run(void)
{
  if (!hook_fn || getpid() != hook_pid)
    return;
  void (*fn)(void) = hook_fn;
  hook_fn = NULL;
  hook_fired++;
  fn();
}

/* A liveness test of the dead holder through /proc (how the library
 * judged liveness before it used slot locks): the hook runs before it. */
int open(const char *path, int flags, ...)
{
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  char want[64];
  snprintf(want, sizeof want, "/proc/%d/", (int)hook_dead_pid);
  if (hook_fn && hook_dead_pid > 0 && strncmp(path, want, strlen(want)) == 0)
    hook_run();
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
  return real(path, flags, mode);
}

/* A liveness test through a slot lock: the hook runs after a test that
 * found the lock free, i.e. once the holder was judged dead. */
int fcntl(int fd, int cmd, ...)
{
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int (*real)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
  int rc = real(fd, cmd, arg);
  if (rc == 0 && cmd == F_OFD_GETLK && ((struct flock *)arg)->l_type == F_UNLCK)
    hook_run();
  return rc;
}

/* Counts FUTEX_WAKE calls while armed. */
static bool count_wakes;
static int wakes;

long syscall(long nr, ...)
{
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++)
    a[i] = va_arg(ap, long);
  va_end(ap);
  if (count_wakes && nr == SYS_futex && (a[1] & ~FUTEX_PRIVATE_FLAG) == FUTEX_WAKE)
    wakes++;
  long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- helpers ------------------------------------------------------------------ */

static ferry_pipe_options opts(uint32_t cap, uint32_t max_msg)
{
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = cap;
  o.max_msg_size = max_msg;
  o.region.liveness_ns = 50 * FERRY_MSEC;
  o.spin_ns = 5000;
  return o;
}

/* A child that opens the pipe's free end, writes one byte to `ready`, and
 * then (mode 'p') pauses forever, or ('r') blocks in a receive forever. */
static pid_t holder(const char *name, int ready, char mode)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_pipe *b;
    if (ferry_pipe_open(name, NULL, &b) != 0 || write(ready, "x", 1) != 1)
      _exit(1);
    char buf[64];
    if (mode == 'r')
      ferry_pipe_recv(b, buf, sizeof buf, FERRY_FOREVER);
    for (;;)
      pause();
  }
  return pid;
}

/* Waits until the region shows `dead` participants: the kernel drops a
 * killed process's locks a moment after waitpid() can return. */
static void wait_dead(ferry_region *r, uint32_t dead)
{
  int64_t end = ft_ms() + 10000;
  ferry_region_info info;
  while (ferry_region_info_get(r, &info) == 0 && info.dead != dead && ft_ms() < end)
    usleep(1000);
  CHECK_EQ(info.dead, dead);
}

/* ---- defect 15: takeover racing with peer_gone ------------------------------------ */

static ferry_pipe *survivor;

/* The end's other side notices the dead holder first and marks its end
 * closed, between the opener's judgement and its takeover. */
static void meanwhile_the_survivor_marks_the_holder_gone(void)
{
  char buf[64];
  CHECK_RC(ferry_pipe_recv(survivor, buf, sizeof buf, 2 * FERRY_SEC), -EPIPE);
}

static void test_takeover_racing_with_peer_gone(void)
{
  char name[64];
  ft_name(name, sizeof name, "ptake");
  ferry_pipe_options o = opts(4, 64);
  REQUIRE_OK(ferry_pipe_create(name, &o, &survivor));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t b = holder(name, ready[1], 'p');
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  kill(b, SIGKILL);
  ft_wait(b, 5000);
  wait_dead(ferry_pipe_region(survivor), 1);

  hook_fired = 0;
  hook_dead_pid = b;
  hook_pid = getpid();
  hook_fn = meanwhile_the_survivor_marks_the_holder_gone;
  ferry_pipe *c = NULL;
  int rc = ferry_pipe_open(name, NULL, &c);
  hook_fn = NULL;
  CHECK_EQ(hook_fired, 1); /* the interleaving happened */
  CHECK_OK(rc);
  if (rc == 0) {
    CHECK_EQ(ferry_pipe_end(c), 1);
    CHECK_OK(ferry_pipe_send(survivor, "again", 5, 0));
    char buf[64];
    CHECK_EQ(ferry_pipe_recv(c, buf, sizeof buf, FERRY_SEC), 5);
    ferry_pipe_close(c);
  }
  close(ready[0]);
  close(ready[1]);
  ferry_pipe_close(survivor);
  CHECK_OK(ferry_unlink(name));
}

/* ---- defect 3: geometry rewritten between the check and its use ------------------ */

static struct ferry__pipe_hdr *scribble_hdr;

/* A peer rewrites every size and offset while the opener judges the dead
 * holder: after open checked the header, before it built its handle. */
static void meanwhile_a_peer_rewrites_the_geometry(void)
{
  scribble_hdr->capacity = FERRY_PIPE_MAX_CAPACITY;
  scribble_hdr->max_msg = FERRY_PIPE_MAX_MSG;
  scribble_hdr->stride = UINT64_C(1) << 32;
  scribble_hdr->ring_offset[0] = UINT64_C(1) << 40;
  scribble_hdr->ring_offset[1] = UINT64_C(1) << 41;
}

static void test_geometry_rewritten_during_open(void)
{
  char name[64];
  ft_name(name, sizeof name, "pgeo");
  ferry_pipe_options o = opts(4, 16);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t b = holder(name, ready[1], 'p');
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  kill(b, SIGKILL);
  ft_wait(b, 5000);
  wait_dead(ferry_pipe_region(a), 1);
  CHECK_OK(ferry_pipe_send(a, "hello", 5, 0));
  struct ferry__pipe_hdr saved;
  memcpy(&saved, ferry_region_data(ferry_pipe_region(a)), 64);
  /* The opener runs in a child, so a read outside the region fails the
   * test instead of killing the suite. */
  pid_t c = ft_fork();
  if (c == 0) {
    ferry_region *mine;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_PIPE, NULL, &mine)); /* a view to scribble on */
    scribble_hdr = ferry_region_data(mine);
    hook_fired = 0;
    hook_dead_pid = b;
    hook_pid = getpid();
    hook_fn = meanwhile_a_peer_rewrites_the_geometry;
    ferry_pipe *p = NULL;
    int rc = ferry_pipe_open(name, NULL, &p);
    hook_fn = NULL;
    CHECK_EQ(hook_fired, 1);
    CHECK_OK(rc);
    if (rc == 0) {
      char buf[64];
      CHECK_EQ(ferry_pipe_recv(p, buf, sizeof buf, 0), 5);
      CHECK(memcmp(buf, "hello", 5) == 0);
      CHECK_RC(ferry_pipe_send(p, buf, 17, 0), -EMSGSIZE); /* 16 as validated */
      for (int i = 0; i < 4; i++)
        CHECK_OK(ferry_pipe_send(p, "back", 4, 0));
      CHECK_RC(ferry_pipe_send(p, "back", 4, 0), -EAGAIN); /* 4 cells as validated */
      ferry_pipe_close(p);
    }
    ferry_region_close(mine);
    ft_child_exit();
  }
  int st = ft_wait(c, 10000);
  if (st != -1 && WIFSIGNALED(st))
    ft_fail(__FILE__, __LINE__, "the opener died of signal %d", WTERMSIG(st));
  else if (st != -1)
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  memcpy(ferry_region_data(ferry_pipe_region(a)), &saved, 64);
  char buf[16];
  CHECK_EQ(ferry_pipe_recv(a, buf, sizeof buf, 0), 4);
  close(ready[0]);
  close(ready[1]);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- defect 14: a sleeper that dies ------------------------------------------------ */

static void test_dead_sleeper_costs_at_most_one_wake(void)
{
  char name[64];
  ft_name(name, sizeof name, "pwake");
  ferry_pipe_options o = opts(128, 16);
  o.spin_ns = 0; /* the receiver goes to sleep at once */
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t b = holder(name, ready[1], 'r');
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  FT_WAIT_UNTIL(ft_in_futex(b), 500); /* asleep in its receive */
  kill(b, SIGKILL);
  ft_wait(b, 5000);
  wait_dead(ferry_pipe_region(a), 1);
  /* Nobody sleeps now: a hundred sends may pay for the dead sleeper's
   * announcement once, no more. */
  wakes = 0;
  count_wakes = true;
  for (int i = 0; i < 100; i++)
    CHECK_OK(ferry_pipe_send(a, "m", 1, 0));
  count_wakes = false;
  CHECK(wakes <= 1);
  printf("  futex wakes in 100 sends after the sleeper died: %d\n", wakes);
  close(ready[0]);
  close(ready[1]);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- defect 12: a periodic signal --------------------------------------------------- */

static void on_alarm(int sig) { (void)sig; }

static void test_dead_sender_noticed_under_a_periodic_signal(void)
{
  char name[64];
  ft_name(name, sizeof name, "psig");
  ferry_pipe_options o = opts(4, 16);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t b = holder(name, ready[1], 'p');
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  /* A 20 ms SIGALRM without SA_RESTART: every sleep is interrupted. */
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, &old);
  struct itimerval it = {{0, 20000}, {0, 20000}}, off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &it, NULL);
  pid_t killer = ft_fork();
  if (killer == 0) {
    usleep(200 * 1000); /* once the receive sleeps */
    kill(b, SIGKILL);
    ft_child_exit();
  }
  int64_t t0 = ft_ms();
  char buf[16];
  CHECK_RC(ferry_pipe_recv(a, buf, sizeof buf, FERRY_FOREVER), -EPIPE);
  int64_t took = ft_ms() - t0;
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  CHECK(took < 3000); /* the death at 200 ms, noticed within a few slices */
  ft_wait_ok(killer, 5000);
  ft_wait(b, 5000);
  close(ready[0]);
  close(ready[1]);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_takeover_racing_with_peer_gone);
  RUN(test_geometry_rewritten_during_open);
  RUN(test_dead_sleeper_costs_at_most_one_wake);
  RUN(test_dead_sender_noticed_under_a_periodic_signal);
  return ft_done();
}
