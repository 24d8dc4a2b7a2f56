/* SPDX-License-Identifier: MIT */
/*
 * crash_bus.c: crash scenarios for the bus (bus.* points).
 *
 * Publisher and recovery points (bus.pub.*, bus.reap.*): the victim creates
 * a LOCKSTEP bus, waits for the helper subscriber H, forks a subscriber D
 * that takes frame 0 and is then killed holding it, and publishes frames
 * (the loan that needs D's slot drops D at a slice end); it also publishes
 * on a LATEST bus, then shuts both down. After it dies at any step, H must
 * have received every frame the victim published, in order and intact, and
 * then -EPIPE, within bounded time; a new subscriber is refused with
 * -EPIPE, not hung.
 *
 * Subscriber points (bus.sub.*): a helper publisher P publishes on a
 * LOCKSTEP and a LATEST bus; the victim subscribes, takes and releases
 * frames, and leaves, several times. After it dies at any step, P's loans
 * (5 s timeout) must never fail, P must go on publishing, a fresh
 * subscriber must get frames in order and intact, and the victim must be
 * gone from the subscriber set within a few liveness periods.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crash.h"
#include "crash.h"
#include "ferry/array.h"
#include "ferry/bus.h"
#include "fixtures.h"

#define LIVENESS_NS (100 * FERRY_MSEC)
#define FRAMES 10
/* Bound for helpers and checks: far beyond a few liveness periods. */
#define BOUND_MS 15000

static const ferry_array_spec SPECS[2] = {
    {"a", FERRY_DTYPE_U32, 1, {300}},
    {"b", FERRY_DTYPE_F32, 2, {7, 9}},
};

struct bus_ctx {
  char name[64];  /* LOCKSTEP bus */
  char lname[64]; /* LATEST bus */
  pid_t helper;
  _Atomic int stop;       /* parent -> helper: finish */
  _Atomic int ready;      /* helper -> parent: set up */
  _Atomic int done;       /* helper finished its stream */
  _Atomic int errors;     /* helper saw something wrong */
  _Atomic int end_rc;     /* how the helper's stream ended */
  _Atomic int received;   /* frames the helper subscriber took */
  _Atomic int published;  /* frames published and noted (victim or P) */
  _Atomic int lpublished; /* the same on the LATEST bus */
};

static int publish_one(ferry_bus *b, int64_t timeout)
{
  ferry_frame *f;
  int rc = ferry_bus_loan(b, &f, timeout);
  if (rc)
    return rc;
  ft_frame_fill(f, ferry_bus_seq(b));
  return ferry_bus_publish(b, f);
}

static void bus_opts(ferry_bus_options *o, ferry_bus_mode mode, uint32_t k)
{
  ferry_bus_options_init(o);
  o->mode = mode;
  o->slots = k;
  o->max_subscribers = 4;
  o->region.liveness_ns = LIVENESS_NS;
}

/* Polls (bounded) until cond holds. */
#define POLL_UNTIL(cond)                                                                           \
  do {                                                                                             \
    int64_t pu_end_ = ft_ms() + BOUND_MS;                                                          \
    while (!(cond) && ft_ms() < pu_end_)                                                           \
      usleep(1000);                                                                                \
  } while (0)

static void stop_helper(struct bus_ctx *c)
{
  if (c->helper <= 0)
    return;
  atomic_store(&c->stop, 1);
  int st = ft_wait(c->helper, BOUND_MS);
  if (st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
    ft_fail(__FILE__, __LINE__, "bus helper failed (status 0x%x)", st);
  c->helper = 0;
}

static void teardown(void *p)
{
  struct bus_ctx *c = p;
  stop_helper(c);
  ferry_unlink(c->name);
  ferry_unlink(c->lname);
}

/* ---- publisher and recovery points --------------------------------------------- */

/* H: subscribes once the victim's bus exists and takes every frame until
 * the stream ends. */
static void pub_helper(struct bus_ctx *c)
{
  ferry_sub *s = NULL;
  int rc = -ENOENT;
  int64_t end = ft_ms() + BOUND_MS;
  while (!atomic_load(&c->stop) && ft_ms() < end &&
         (rc = ferry_bus_subscribe(c->name, NULL, &s)) != 0)
    usleep(1000);
  if (rc) {
    atomic_store(&c->end_rc, rc);
    atomic_store(&c->done, 1);
    ft_child_exit();
  }
  for (uint64_t want = 0;; want++) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
    if (rc)
      break;
    if (info.seq != want || !ft_frame_verify(f, info.seq))
      atomic_fetch_add(&c->errors, 1);
    atomic_fetch_add(&c->received, 1);
    if (ferry_bus_release(s, f) != 0)
      atomic_fetch_add(&c->errors, 1);
  }
  atomic_store(&c->end_rc, rc);
  ferry_bus_unsubscribe(s);
  atomic_store(&c->done, 1);
  ft_child_exit();
}

static void pub_setup(void *p)
{
  struct bus_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-bus");
  ft_name(c->lname, sizeof c->lname, "crash-busl");
  /* ctx is shared: only the parent writes the pid. */
  pid_t pid = ft_fork();
  if (pid == 0)
    pub_helper(c);
  c->helper = pid;
}

/* D: takes frame 0 and holds it until the victim kills it (or dies). */
static void doomed_subscriber(const char *name, int fd, pid_t victim)
{
  ferry__crash_arm(NULL, 0); /* the victim's arming is not ours */
  ferry_sub *s;
  const ferry_frame *f;
  char ok = 'n';
  if (ferry_bus_subscribe(name, NULL, &s) == 0) {
    ok = 's';
    if (write(fd, &ok, 1) != 1)
      _exit(2);
    ok = ferry_bus_next(s, &f, NULL, 5 * FERRY_SEC) == 0 ? 'y' : 'n';
  }
  if (write(fd, &ok, 1) != 1)
    _exit(2);
  while (ok == 'y' && getppid() == victim)
    usleep(1000);
  _exit(0);
}

static void pub_victim(void *p)
{
  struct bus_ctx *c = p;
  ferry_bus_options o;
  bus_opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(c->name, SPECS, 2, &o, &b));
  REQUIRE_OK(ferry_bus_wait_subscribers(b, 1, BOUND_MS * FERRY_MSEC));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t me = getpid();
  pid_t d = fork();
  if (d == 0)
    doomed_subscriber(c->name, fds[1], me);
  char s = 0, held = 0;
  CHECK(read(fds[0], &s, 1) == 1 && s == 's');
  for (int i = 0; i < FRAMES; i++) {
    CHECK_OK(publish_one(b, BOUND_MS * FERRY_MSEC));
    atomic_fetch_add(&c->published, 1);
    if (i == 0) {
      /* D holds frame 0; killed, it must be dropped for frame 2. */
      CHECK(read(fds[0], &held, 1) == 1 && held == 'y');
      kill(d, SIGKILL);
      waitpid(d, NULL, 0);
    }
  }
  close(fds[0]);
  close(fds[1]);
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.dropped, 1);

  bus_opts(&o, FERRY_BUS_LATEST, 3);
  ferry_bus *l;
  REQUIRE_OK(ferry_bus_create(c->lname, SPECS, 2, &o, &l));
  for (int i = 0; i < FRAMES; i++) {
    CHECK_OK(publish_one(l, 0));
    atomic_fetch_add(&c->lpublished, 1);
  }
  ferry_bus_close(l);
  ferry_bus_close(b);
}

static void pub_check(void *p)
{
  struct bus_ctx *c = p;
  /* H gets the end of the stream: a shutdown, or the victim seen dead
   * within a liveness period. */
  POLL_UNTIL(atomic_load(&c->done));
  CHECK(atomic_load(&c->done));
  CHECK_RC(atomic_load(&c->end_rc), -EPIPE);
  CHECK_EQ(atomic_load(&c->errors), 0);
  /* Every frame published reached H, in order and intact; one more if the
   * victim died after its commit but before noting it. */
  int pub = atomic_load(&c->published), got = atomic_load(&c->received);
  if (!(got == pub || got == pub + 1))
    fprintf(stderr, "published %d, received %d\n", pub, got);
  CHECK(got == pub || got == pub + 1);
  /* An ended bus refuses new subscribers at once. */
  ferry_sub *s;
  CHECK_RC(ferry_bus_subscribe(c->name, NULL, &s), -EPIPE);
  int rc = ferry_bus_subscribe(c->lname, NULL, &s);
  CHECK(rc == -EPIPE || rc == -ENOENT);
  ferry_bus_stats st;
  rc = (int)ferry_bus_stat(c->lname, &st, NULL, 0);
  CHECK(rc == 0 || rc == -ENOENT);
  if (rc == 0) {
    int lp = atomic_load(&c->lpublished);
    CHECK(st.published == (uint64_t)lp || st.published == (uint64_t)lp + 1);
  }
}

CRASH_SCENARIO(bus_pub, .prefix = "bus.pub.", .setup = pub_setup, .victim = pub_victim,
               .check = pub_check, .teardown = teardown);
CRASH_SCENARIO(bus_reap, .prefix = "bus.reap.", .setup = pub_setup, .victim = pub_victim,
               .check = pub_check, .teardown = teardown);

/* ---- subscriber points ------------------------------------------------------------- */

/* P: publishes on both buses until told to stop. A loan that fails within
 * 5 s means a dead subscriber was never dropped. */
static void sub_helper(struct bus_ctx *c)
{
  ferry_bus_options o;
  bus_opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b, *l;
  if (ferry_bus_create(c->name, SPECS, 2, &o, &b) != 0)
    ft_child_exit();
  bus_opts(&o, FERRY_BUS_LATEST, 3);
  if (ferry_bus_create(c->lname, SPECS, 2, &o, &l) != 0)
    ft_child_exit();
  atomic_store(&c->ready, 1);
  while (!atomic_load(&c->stop)) {
    if (publish_one(b, 5 * FERRY_SEC) == 0)
      atomic_fetch_add(&c->published, 1);
    else
      atomic_fetch_add(&c->errors, 1);
    if (publish_one(l, 5 * FERRY_SEC) == 0)
      atomic_fetch_add(&c->lpublished, 1);
    else
      atomic_fetch_add(&c->errors, 1);
    usleep(300);
  }
  ferry_bus_close(l);
  ferry_bus_close(b);
  ft_child_exit();
}

static void sub_setup(void *p)
{
  struct bus_ctx *c = p;
  ft_name(c->name, sizeof c->name, "crash-bus");
  ft_name(c->lname, sizeof c->lname, "crash-busl");
  /* ctx is shared: only the parent writes the pid. */
  pid_t pid = ft_fork();
  if (pid == 0)
    sub_helper(c);
  c->helper = pid;
  POLL_UNTIL(atomic_load(&c->ready));
  CHECK(atomic_load(&c->ready));
}

/* Takes n frames in order (LOCKSTEP) or newer and newer (LATEST). */
static void take_frames(ferry_sub *s, int n, bool lockstep)
{
  uint64_t last = 0;
  for (int i = 0; i < n; i++) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
    CHECK_OK(rc);
    if (rc)
      return;
    if (i > 0)
      CHECK(lockstep ? info.seq == last + 1 : info.seq > last);
    CHECK(ft_frame_verify(f, info.seq));
    last = info.seq;
    CHECK_OK(ferry_bus_release(s, f));
  }
}

static void sub_victim(void *p)
{
  struct bus_ctx *c = p;
  ferry_sub *s;
  for (int round = 0; round < 2; round++) {
    REQUIRE_OK(ferry_bus_subscribe(c->name, NULL, &s));
    take_frames(s, FRAMES, true);
    ferry_bus_unsubscribe(s);
  }
  REQUIRE_OK(ferry_bus_subscribe(c->lname, NULL, &s));
  take_frames(s, FRAMES, false);
  ferry_bus_unsubscribe(s);
}

static void sub_check(void *p)
{
  struct bus_ctx *c = p;
  /* The publisher goes on: whatever the victim held or left is dropped. */
  int from = atomic_load(&c->published);
  POLL_UNTIL(atomic_load(&c->published) >= from + 20);
  CHECK(atomic_load(&c->published) >= from + 20);
  CHECK_EQ(atomic_load(&c->errors), 0);
  /* A fresh subscriber gets frames in order and intact. */
  ferry_sub *s;
  int rc = ferry_bus_subscribe(c->name, NULL, &s);
  CHECK_OK(rc);
  if (rc == 0) {
    take_frames(s, 5, true);
    ferry_bus_unsubscribe(s);
  }
  rc = ferry_bus_subscribe(c->lname, NULL, &s);
  CHECK_OK(rc);
  if (rc == 0) {
    take_frames(s, 3, false);
    ferry_bus_unsubscribe(s);
  }
  /* The victim is out of both subscriber sets, and out of the participant
   * table, within a few liveness periods (the publisher's periodic scan). */
  ferry_bus_stats st, lst;
  POLL_UNTIL(ferry_bus_stat(c->name, &st, NULL, 0) == 0 && st.subscribers == 0 &&
             ferry_bus_stat(c->lname, &lst, NULL, 0) == 0 && lst.subscribers == 0);
  CHECK(ferry_bus_stat(c->name, &st, NULL, 0) == 0 && st.subscribers == 0);
  CHECK(ferry_bus_stat(c->lname, &lst, NULL, 0) == 0 && lst.subscribers == 0);
}

CRASH_SCENARIO(bus_sub, .prefix = "bus.sub.", .setup = sub_setup, .victim = sub_victim,
               .check = sub_check, .teardown = teardown);
