/* SPDX-License-Identifier: MIT */
/*
 * test_bus.c: the broadcast bus across real processes: LOCKSTEP delivers
 * every frame to every subscriber in order with intact contents; LATEST
 * skips and counts the skips and never blocks the publisher on a stalled
 * reader; a subscriber SIGKILLed while holding a frame is dropped within
 * the liveness period; a SIGKILLed publisher's subscribers drain and get
 * -EPIPE; late joiners start at the next frame; statistics; bad input with
 * nothing left in /dev/shm. Every wait is bounded; no timing assertions.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/array.h"
#include "ferry/bus.h"
#include "fixtures.h"
#include "region_layout.h"
#include "test.h"

#define LIVENESS_NS (200 * FERRY_MSEC)
#define WAIT_MS 20000

/* ---- helpers ------------------------------------------------------------------ */

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

/* Three arrays, like seed 000's but small: f32 32x32, u64 17, f32 10x20. */
static const ferry_array_spec SPECS[3] = {
    {"a", FERRY_DTYPE_F32, 2, {32, 32}},
    {"b", FERRY_DTYPE_U64, 1, {17}},
    {"c", FERRY_DTYPE_F32, 2, {10, 20}},
};

static void opts(ferry_bus_options *o, ferry_bus_mode mode, uint32_t k)
{
  ferry_bus_options_init(o);
  o->mode = mode;
  o->slots = k;
  o->region.liveness_ns = LIVENESS_NS;
}

static int publish_one(ferry_bus *b, int64_t timeout)
{
  ferry_frame *f;
  int rc = ferry_bus_loan(b, &f, timeout);
  if (rc)
    return rc;
  ft_frame_fill(f, ferry_bus_seq(b));
  return ferry_bus_publish(b, f);
}

/* A LOCKSTEP bus of 4 slots, or NULL (a failed check). */
static ferry_bus *create_lockstep(const char *name)
{
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 4);
  ferry_bus *b = NULL;
  CHECK_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  return b;
}

/* Waits (bounded) until the bus has `n` subscribers. */
static bool wait_subscribers(ferry_bus *b, uint32_t n)
{
  return ferry_bus_wait_subscribers(b, n, WAIT_MS * FERRY_MSEC) == 0;
}

static void wait_byte(int fd)
{
  char c;
  ssize_t n;
  while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
    ; /* the tests that interrupt themselves with a timer */
  CHECK_EQ(n, 1);
}

static void send_byte(int fd)
{
  CHECK_EQ(write(fd, "x", 1), 1);
}

#define WAIT_UNTIL(expr) FT_WAIT_UNTIL(expr, 500)

/* The region file of `name`, mapped read-write behind the library's back,
 * as a peer that scribbles on it would. */
struct raw_map {
  void *base; /* the whole mapping: the region header first */
  size_t size;
  uint8_t *obj; /* the object area: the bus header */
};

static bool raw_map(const char *name, struct raw_map *m)
{
  m->obj = ft_map_object(name, &m->base, &m->size);
  return m->obj != NULL;
}

static void raw_unmap(struct raw_map *m)
{
  munmap(m->base, m->size);
}

/* Bus header and slot control offsets (docs/layout/bus.md). */
#define OFF_HEAD 64
#define OFF_ACTIVE 128
#define OFF_SLOTS 256
#define SLOT_SIZE 64
#define SLOT_OFF_MASK 8

static void raw_put64(uint8_t *at, uint64_t v)
{
  memcpy(at, &v, sizeof v);
}

static void on_alarm(int sig)
{
  (void)sig;
}

/* Every 20 ms a signal interrupts whatever futex wait this process is in
 * (no SA_RESTART), as a profiler or a supervisor's SIGCHLD would. */
static void interrupt_every_20ms(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {.it_interval = {.tv_usec = 20000}, .it_value = {.tv_usec = 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- LOCKSTEP ------------------------------------------------------------------- */

#define LS_FRAMES 300
#define LS_SUBS 3

static void lockstep_child(const char *name, bool slow)
{
  ferry_sub *s;
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
  if (ft_failures)
    ft_child_exit();
  uint64_t want = 0;
  for (;;) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
    if (rc == -EPIPE)
      break;
    CHECK_OK(rc);
    if (rc)
      break;
    CHECK_EQ(info.seq, want);
    CHECK_EQ(info.skipped, 0);
    CHECK(ft_frame_verify(f, info.seq));
    if (slow && want % 50 == 0)
      usleep(2000);
    CHECK_OK(ferry_bus_release(s, f));
    want++;
  }
  CHECK_EQ(want, LS_FRAMES);
  ferry_bus_sub_stats st;
  CHECK_OK(ferry_sub_stats_get(s, &st));
  CHECK_EQ(st.received, LS_FRAMES);
  CHECK_EQ(st.skipped, 0);
  ferry_bus_unsubscribe(s);
  ft_child_exit();
}

/* A LOCKSTEP bus of 4 slots, named into name[64], and n subscriber
 * children, each running child(name, its index); returns once all have
 * joined. */
static ferry_bus *bus_with_children(char *name, pid_t *kids, int n,
                                    void (*child)(const char *, int))
{
  ft_name(name, 64, "bus");
  ferry_bus *b = create_lockstep(name);
  if (!b)
    return NULL;
  for (int i = 0; i < n; i++) {
    kids[i] = ft_fork();
    if (kids[i] == 0)
      child(name, i);
  }
  CHECK(wait_subscribers(b, (uint32_t)n));
  return b;
}

/* The first subscriber is slow now and then. */
static void lockstep_kid(const char *name, int i)
{
  lockstep_child(name, i == 0);
}

static void test_lockstep_every_frame_in_order(void)
{
  char name[64];
  pid_t kids[LS_SUBS];
  ferry_bus *b = bus_with_children(name, kids, LS_SUBS, lockstep_kid);
  REQUIRE(b);
  for (int i = 0; i < LS_FRAMES; i++)
    CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.published, LS_FRAMES);
  CHECK_EQ(st.mode, FERRY_BUS_LOCKSTEP);
  CHECK_EQ(st.slots, 4);
  CHECK_OK(ferry_bus_shutdown(b));
  CHECK_RC(publish_one(b, 0), -EPIPE);
  for (int i = 0; i < LS_SUBS; i++)
    ft_wait_ok(kids[i], WAIT_MS);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* The publisher waits only while all K slots are held: with K = 2 and a
 * subscriber that reads nothing, two frames go out and the third waits. */
static void test_lockstep_blocks_only_when_full(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  CHECK_OK(publish_one(b, 0));
  CHECK_OK(publish_one(b, 0));
  CHECK_RC(publish_one(b, 0), -EAGAIN);
  CHECK_RC(publish_one(b, 20 * FERRY_MSEC), -ETIMEDOUT);
  const ferry_frame *f;
  ferry_bus_frame_info info;
  CHECK_OK(ferry_bus_next(s, &f, &info, 0));
  CHECK_EQ(info.seq, 0);
  CHECK_EQ(info.lag, 1);
  CHECK_RC(publish_one(b, 0), -EAGAIN); /* still held */
  CHECK_OK(ferry_bus_release(s, f));
  CHECK_OK(publish_one(b, 0));
  /* Unsubscribing drops the holds at once: nothing to wait for. */
  ferry_bus_unsubscribe(s);
  CHECK_OK(publish_one(b, 0));
  CHECK_OK(publish_one(b, 0));
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.subscribers, 0);
  CHECK(st.loan_waits >= 1);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

static void test_late_joiner_starts_at_next_frame(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 3);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  for (int i = 0; i < 7; i++) /* nobody listens: never waits */
    CHECK_OK(publish_one(b, 0));
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    const ferry_frame *f;
    ferry_bus_frame_info info;
    CHECK_RC(ferry_bus_next(s, &f, &info, 0), -EAGAIN);
    send_byte(p[1]);
    CHECK_OK(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC));
    CHECK_EQ(info.seq, 7);
    CHECK(ft_frame_verify(f, 7));
    CHECK_OK(ferry_bus_release(s, f));
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  wait_byte(p[0]);
  CHECK_OK(publish_one(b, FERRY_SEC));
  ft_wait_ok(kid, WAIT_MS);
  close(p[0]);
  close(p[1]);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* ---- LATEST ------------------------------------------------------------------------ */

static void test_latest_skips_and_counts(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LATEST, 3);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  int p[2], q[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    send_byte(p[1]);
    wait_byte(q[0]); /* 10 frames are out */
    const ferry_frame *f;
    ferry_bus_frame_info info;
    CHECK_OK(ferry_bus_next(s, &f, &info, 0));
    CHECK_EQ(info.seq, 9);
    CHECK_EQ(info.skipped, 9);
    CHECK(ft_frame_verify(f, 9));
    CHECK_RC(ferry_bus_next(s, &f, &info, 0), -EBUSY);
    send_byte(p[1]);
    wait_byte(q[0]); /* 100 more went out while we held frame 9 */
    CHECK(ft_frame_verify(f, 9)); /* the held frame was never rewritten */
    CHECK_OK(ferry_bus_release(s, f));
    CHECK_OK(ferry_bus_next(s, &f, &info, 0));
    CHECK_EQ(info.seq, 109);
    CHECK_EQ(info.skipped, 99);
    CHECK(ft_frame_verify(f, 109));
    CHECK_OK(ferry_bus_release(s, f));
    CHECK_RC(ferry_bus_next(s, &f, &info, 0), -EAGAIN);
    ferry_bus_sub_stats st;
    CHECK_OK(ferry_sub_stats_get(s, &st));
    CHECK_EQ(st.received, 2);
    CHECK_EQ(st.skipped, 108);
    send_byte(p[1]);
    /* Drain after shutdown: the newest unseen frame, then -EPIPE. */
    CHECK_OK(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC));
    CHECK_EQ(info.seq, 110);
    CHECK_OK(ferry_bus_release(s, f));
    CHECK_RC(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC), -EPIPE);
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  wait_byte(p[0]);
  for (int i = 0; i < 10; i++)
    CHECK_OK(publish_one(b, 0));
  send_byte(q[1]);
  wait_byte(p[0]);
  /* A stalled reader holds a slot; the publisher never waits (timeout 0). */
  for (int i = 0; i < 100; i++)
    CHECK_OK(publish_one(b, 0));
  ferry_bus_sub_stats subs[4];
  ferry_bus_stats st;
  ssize_t n = ferry_bus_stat(name, &st, subs, 4);
  CHECK_EQ(n, 1);
  CHECK_EQ(st.mode, FERRY_BUS_LATEST);
  CHECK_EQ(st.published, 110);
  CHECK_EQ(st.loan_waits, 0);
  if (n == 1) {
    CHECK_EQ(subs[0].pid, kid);
    CHECK_EQ(subs[0].skipped, 9);
    CHECK_EQ(subs[0].lag, 100);
    CHECK_EQ(subs[0].next_seq, 10);
  }
  send_byte(q[1]);
  wait_byte(p[0]);
  CHECK_OK(publish_one(b, 0));
  CHECK_OK(ferry_bus_shutdown(b));
  ft_wait_ok(kid, WAIT_MS);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* ---- deaths --------------------------------------------------------------------------- */

static void test_subscriber_killed_holding_is_dropped(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  o.max_subscribers = 1; /* the dead one's place is needed for the next */
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    const ferry_frame *f;
    CHECK_OK(ferry_bus_next(s, &f, NULL, 10 * FERRY_SEC));
    send_byte(p[1]); /* holding frame 0 */
    for (;;)
      pause();
  }
  CHECK(wait_subscribers(b, 1));
  CHECK_OK(publish_one(b, 0));
  CHECK_OK(publish_one(b, 0));
  wait_byte(p[0]);
  CHECK_RC(publish_one(b, 0), -EAGAIN);
  /* A second subscriber cannot get in: the table is full. */
  ferry_sub *s2;
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s2), -EUSERS);
  kill(kid, SIGKILL);
  CHECK(ft_wait(kid, WAIT_MS) != -1);
  /* Within the liveness period the publisher drops it and goes on; the
   * generous timeout only bounds the test. */
  CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.dropped, 1);
  CHECK_EQ(st.subscribers, 0);
  /* Its place is free again. */
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s2));
  CHECK_OK(publish_one(b, 0));
  const ferry_frame *f;
  ferry_bus_frame_info info;
  CHECK_OK(ferry_bus_next(s2, &f, &info, 0));
  CHECK_EQ(info.seq, 4);
  CHECK(ft_frame_verify(f, 4));
  CHECK_OK(ferry_bus_release(s2, f));
  ferry_bus_unsubscribe(s2);
  close(p[0]);
  close(p[1]);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* A subscriber that dies holding nothing is dropped by the periodic scan. */
static void test_subscriber_killed_idle_is_dropped(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    for (;;)
      pause();
  }
  CHECK(wait_subscribers(b, 1));
  kill(kid, SIGKILL);
  CHECK(ft_wait(kid, WAIT_MS) != -1);
  for (int i = 0; i < 20; i++)
    CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.dropped, 1);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

static void test_publisher_killed_subscribers_drain(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  int p[2], q[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_bus *b = create_lockstep(name);
    send_byte(p[1]);
    wait_byte(q[0]);
    for (int i = 0; i < 3; i++)
      CHECK_OK(publish_one(b, 0));
    ferry_frame *f; /* a loan that never gets published */
    CHECK_OK(ferry_bus_loan(b, &f, 0));
    send_byte(p[1]);
    for (;;)
      pause();
  }
  wait_byte(p[0]);
  ferry_sub *s;
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
  send_byte(q[1]);
  wait_byte(p[0]);
  kill(kid, SIGKILL);
  CHECK(ft_wait(kid, WAIT_MS) != -1);
  if (s) {
    for (uint64_t i = 0; i < 3; i++) {
      const ferry_frame *f;
      ferry_bus_frame_info info;
      CHECK_OK(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC));
      CHECK_EQ(info.seq, i);
      CHECK(ft_frame_verify(f, i));
      CHECK_OK(ferry_bus_release(s, f));
    }
    const ferry_frame *f;
    int64_t t0 = ft_ms();
    CHECK_RC(ferry_bus_next(s, &f, NULL, 30 * FERRY_SEC), -EPIPE);
    CHECK(ft_ms() - t0 < 25000); /* bounded, not a timing claim */
    CHECK_RC(ferry_bus_next(s, &f, NULL, 0), -EPIPE);
    ferry_bus_unsubscribe(s);
  }
  /* A new subscriber to a dead publisher's bus is told at once. */
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s), -EPIPE);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  CHECK_OK(ferry_unlink(name));
}

/* ---- regular streams [sub-anticipate] ------------------------------------------------- */

/* A publisher's rhythm, in phases: frames, and the period in µs between
 * them (0: random gaps of up to 2 ms). A subscriber learns a period and
 * wakes shortly before each frame is due; the rhythm changes under it:
 * slower, faster, irregular. */
static const struct {
  int frames, period_us;
} RHYTHM[] = {{150, 300}, {10, 5000}, {150, 100}, {40, 0}, {100, 1000}};
#define RS_PAUSE_MS 100 /* a pause before the last phase: longer than */
#define RS_TIMEOUT_MS 20 /* the subscribers' timeout */
#define RS_LAST 30       /* frames after the pause */
#define RS_SUBS 2

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * FERRY_SEC + ts.tv_nsec;
}

/* Sleeps until *next (absolute monotonic ns), then moves it on by gap. */
static void pace(int64_t *next, int64_t gap_ns)
{
  struct timespec ts = {.tv_sec = *next / FERRY_SEC, .tv_nsec = *next % FERRY_SEC};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
  *next += gap_ns;
}

static int rhythm_frames(void)
{
  int n = RS_LAST;
  for (size_t i = 0; i < sizeof RHYTHM / sizeof RHYTHM[0]; i++)
    n += RHYTHM[i].frames;
  return n;
}

/* A frame taken: it must be frame number *want, intact.
 * Releases it and counts it. */
static void release_in_order(ferry_sub *s, const ferry_frame *f, const ferry_bus_frame_info *info,
                             uint64_t *want)
{
  CHECK_EQ(info->seq, *want);
  CHECK(ft_frame_verify(f, info->seq));
  CHECK_OK(ferry_bus_release(s, f));
  (*want)++;
}

/* Every frame in order and intact, whatever the rhythm; a timeout still
 * ends a wait in the pause; -EPIPE at the end. */
static void rhythm_child(const char *name, int i)
{
  (void)i;
  ferry_sub *s;
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
  if (ft_failures)
    ft_child_exit();
  uint64_t want = 0;
  int timeouts = 0;
  for (;;) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, RS_TIMEOUT_MS * FERRY_MSEC);
    if (rc == -EPIPE)
      break;
    if (rc == -ETIMEDOUT) {
      CHECK(++timeouts < 1000); /* bounded: the stream does end */
      if (timeouts >= 1000)
        break;
      continue;
    }
    CHECK_OK(rc);
    if (rc)
      break;
    release_in_order(s, f, &info, &want);
  }
  CHECK_EQ(want, (uint64_t)rhythm_frames());
  CHECK(timeouts >= 1); /* the pause is five timeouts long */
  ferry_bus_unsubscribe(s);
  ft_child_exit();
}

static void test_regular_stream_changes_rhythm(void)
{
  char name[64];
  pid_t kids[RS_SUBS];
  ferry_bus *b = bus_with_children(name, kids, RS_SUBS, rhythm_child);
  REQUIRE(b);
  uint64_t seed = (uint64_t)getpid();
  int64_t next = mono_ns();
  for (size_t i = 0; i < sizeof RHYTHM / sizeof RHYTHM[0]; i++)
    for (int k = 0; k < RHYTHM[i].frames; k++) {
      int64_t gap = RHYTHM[i].period_us ? RHYTHM[i].period_us * INT64_C(1000)
                                         : (int64_t)(ft_rand(&seed) % 2000) * INT64_C(1000);
      pace(&next, gap);
      CHECK_OK(publish_one(b, 10 * FERRY_SEC));
    }
  next += RS_PAUSE_MS * FERRY_MSEC;
  for (int k = 0; k < RS_LAST; k++) {
    pace(&next, 300 * INT64_C(1000));
    CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  }
  CHECK_OK(ferry_bus_shutdown(b));
  for (int i = 0; i < RS_SUBS; i++)
    ft_wait_ok(kids[i], WAIT_MS);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* A publisher SIGKILLed at a random point of a regular stream, while its
 * subscriber may be in its early sleep: the subscriber drains what was
 * published, in order, then gets -EPIPE. Several rounds, each with a
 * different kill point. */
static void test_regular_stream_publisher_killed(void)
{
  uint64_t seed = (uint64_t)getpid() * 7919;
  for (int round = 0; round < 5; round++) {
    char name[64];
    ft_name(name, sizeof name, "bus");
    int p[2];
    REQUIRE(pipe(p) == 0);
    /* how many publishes have returned, as the publisher saw them */
    _Atomic uint64_t *published = mmap(NULL, sizeof *published, PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(published != MAP_FAILED);
    *published = 0;
    pid_t kid = ft_fork();
    if (kid == 0) {
      ferry_bus *b = create_lockstep(name);
      send_byte(p[1]);
      if (!b || !wait_subscribers(b, 1))
        ft_child_exit();
      int64_t next = mono_ns();
      for (;;) {
        pace(&next, 200 * INT64_C(1000));
        if (publish_one(b, 10 * FERRY_SEC) != 0)
          ft_child_exit();
        atomic_fetch_add(published, 1);
      }
    }
    wait_byte(p[0]);
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    uint64_t kill_at = 50 + ft_rand(&seed) % 200, want = 0;
    int rc = 0;
    while (s) {
      const ferry_frame *f;
      ferry_bus_frame_info info;
      if (want == kill_at)
        kill(kid, SIGKILL);
      int64_t t0 = ft_ms();
      rc = ferry_bus_next(s, &f, &info, 30 * FERRY_SEC);
      CHECK(ft_ms() - t0 < 25000); /* bounded, not a timing claim */
      if (rc)
        break;
      release_in_order(s, f, &info, &want);
    }
    CHECK_RC(rc, -EPIPE);
    /* Every publish that returned was delivered; one more may have been
     * committed when the kill came between its commit and its count. */
    uint64_t n = atomic_load(published);
    CHECK(want >= n && want <= n + 1);
    CHECK(ft_wait(kid, WAIT_MS) != -1);
    munmap((void *)published, sizeof *published);
    ferry_bus_unsubscribe(s);
    close(p[0]);
    close(p[1]);
    CHECK_OK(ferry_unlink(name));
  }
}

/* ---- torn frames ---------------------------------------------------------------------- */

/* Big frames, a publisher as fast as it goes, readers checking every word:
 * in LATEST (where slots are reused under readers' noses) no reader may
 * ever see a mix of two frames. */
static void test_latest_never_torn(void)
{
  static const ferry_array_spec big[2] = {
      {"x", FERRY_DTYPE_F32, 2, {256, 1024}},
      {"y", FERRY_DTYPE_U32, 1, {50000}},
  };
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LATEST, 3);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, big, 2, &o, &b));
  enum { READERS = 2 };
  pid_t kids[READERS];
  for (int i = 0; i < READERS; i++) {
    kids[i] = ft_fork();
    if (kids[i] == 0) {
      ferry_sub *s;
      CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
      if (ft_failures)
        ft_child_exit();
      uint64_t last = 0, got = 0;
      bool first = true;
      for (;;) {
        const ferry_frame *f;
        ferry_bus_frame_info info;
        int rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
        if (rc == -EPIPE)
          break;
        CHECK_OK(rc);
        if (rc)
          break;
        CHECK(first || info.seq > last);
        CHECK(ft_frame_verify(f, info.seq));
        first = false;
        last = info.seq;
        got++;
        CHECK_OK(ferry_bus_release(s, f));
      }
      CHECK(got > 0);
      ferry_bus_unsubscribe(s);
      ft_child_exit();
    }
  }
  CHECK(wait_subscribers(b, READERS));
  int64_t end = ft_ms() + 1000;
  while (ft_ms() < end)
    CHECK_OK(publish_one(b, 10 * FERRY_SEC));
  ferry_bus_close(b);
  for (int i = 0; i < READERS; i++)
    ft_wait_ok(kids[i], WAIT_MS);
  CHECK_OK(ferry_unlink(name));
}

/* ---- bad input ------------------------------------------------------------------------- */

static void test_bad_input(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus *b = NULL;
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 4);
  CHECK_RC(ferry_bus_create("bad/name", SPECS, 3, &o, &b), -EINVAL);
  CHECK_RC(ferry_bus_create("", SPECS, 3, &o, &b), -EINVAL);
  CHECK_RC(ferry_bus_create(name, SPECS, 0, &o, &b), -EINVAL);
  CHECK_RC(ferry_bus_create(name, NULL, 1, &o, &b), -EINVAL);
  ferry_array_spec dup[2] = {SPECS[0], SPECS[0]};
  CHECK_RC(ferry_bus_create(name, dup, 2, &o, &b), -EINVAL);
  ferry_array_spec huge = {"h", FERRY_DTYPE_F64, 2, {UINT64_C(1) << 40, UINT64_C(1) << 40}};
  CHECK_RC(ferry_bus_create(name, &huge, 1, &o, &b), -EOVERFLOW);
  o.slots = 1;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  o.slots = FERRY_BUS_SLOTS_MAX + 1;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  opts(&o, FERRY_BUS_LATEST, 2); /* LATEST needs 3 */
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  opts(&o, FERRY_BUS_LOCKSTEP, 4);
  o.max_subscribers = 65;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  o.max_subscribers = 0;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  opts(&o, FERRY_BUS_LOCKSTEP, 4);
  o.mode = (ferry_bus_mode)7;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b), -EINVAL);
  CHECK(b == NULL);
  CHECK(!shm_exists(name));

  ferry_sub *s = NULL;
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s), -ENOENT);
  CHECK_RC(ferry_bus_subscribe("bad name", NULL, &s), -EINVAL);
  ferry_bus_stats st;
  CHECK_RC(ferry_bus_stat(name, &st, NULL, 0), -ENOENT);

  /* Wrong kind: an array region is not a bus. */
  ferry_arrays *a;
  REQUIRE_OK(ferry_array_create(name, SPECS, 3, NULL, &a));
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s), FERRY_EKIND);
  CHECK_RC(ferry_bus_stat(name, &st, NULL, 0), FERRY_EKIND);
  ferry_array_close(a);
  CHECK_OK(ferry_unlink(name));
  CHECK(s == NULL);

  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  ferry_bus *b2;
  CHECK_RC(ferry_bus_create(name, SPECS, 3, &o, &b2), -EEXIST);
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry_bus_subscribe(name, &oo, &s), -EINVAL);
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));

  const ferry_frame *cf;
  ferry_frame *f, *f2;
  CHECK_RC(ferry_bus_next(s, &cf, NULL, -1), -EINVAL);
  CHECK_RC(ferry_bus_next(s, &cf, NULL, 0), -EAGAIN);
  CHECK_RC(ferry_bus_next(s, &cf, NULL, 20 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_RC(ferry_bus_loan(b, &f, -5), -EINVAL);
  CHECK_RC(ferry_bus_publish(b, NULL), -EINVAL);
  ferry_array arr;
  REQUIRE_OK(ferry_bus_loan(b, &f, 0));
  CHECK_RC(ferry_bus_loan(b, &f2, 0), -EBUSY);
  CHECK_RC(ferry_bus_publish(b, (ferry_frame *)&arr), -EINVAL);
  CHECK_RC(ferry_frame_array(f, "nope", &arr), -ENOENT);
  CHECK_OK(ferry_frame_array(f, "a", &arr));
  CHECK_EQ(arr.count, 32 * 32);
  ft_frame_fill(f, 0);
  CHECK_OK(ferry_bus_publish(b, f));
  CHECK_RC(ferry_bus_publish(b, f), -EINVAL);
  CHECK_RC(ferry_bus_release(s, NULL), -EINVAL);
  REQUIRE_OK(ferry_bus_next(s, &cf, NULL, 0));
  CHECK_RC(ferry_bus_next(s, &cf, NULL, 0), -EBUSY);
  CHECK_RC(ferry_bus_release(s, (const ferry_frame *)&arr), -EINVAL);
  CHECK_OK(ferry_bus_release(s, cf));
  CHECK_RC(ferry_bus_release(s, cf), -EINVAL);

  CHECK_OK(ferry_bus_shutdown(b));
  CHECK_OK(ferry_bus_shutdown(b));
  CHECK_RC(ferry_bus_loan(b, &f, 0), -EPIPE);
  CHECK_RC(ferry_bus_next(s, &cf, NULL, FERRY_FOREVER), -EPIPE);
  ferry_sub *s2;
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s2), -EPIPE);
  ferry_bus_unsubscribe(s);
  ferry_bus_unsubscribe(NULL);
  ferry_bus_close(b);
  ferry_bus_close(NULL);
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
  CHECK(strcmp(ferry_bus_mode_name(FERRY_BUS_LATEST), "latest") == 0);
  CHECK(strcmp(ferry_bus_mode_name(9), "unknown") == 0);
}

/* A corrupted bus header is an error on attach, never a crash. */
static void test_corrupt_header(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  uint8_t *obj = ferry_region_data(ferry_bus_region(b));
  uint32_t saved;
  memcpy(&saved, obj + 12, 4); /* slots */
  uint32_t bad = 200;
  memcpy(obj + 12, &bad, 4);
  ferry_sub *s;
  CHECK_RC(ferry_bus_subscribe(name, NULL, &s), FERRY_ECORRUPT);
  memcpy(obj + 12, &saved, 4);
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}


/* ---- hostile shared memory and signals (issue 8) -------------------------------------- */

/* Defect 4: a head far ahead of the reader (2^55, as a peer could write)
 * used to make next walk to it one frame at a time, ignoring its timeout.
 * No publisher can get more than K + 1 frames ahead of a subscribed
 * reader, so it is FERRY_ECORRUPT at once. The call runs in a child, so
 * that a walk fails the test instead of hanging it. */
static void test_head_far_ahead_is_corrupt(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 4);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  int p[2], q[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    send_byte(p[1]);
    wait_byte(q[0]);
    const ferry_frame *f;
    int64_t t0 = ft_ms();
    CHECK_RC(ferry_bus_next(s, &f, NULL, 100 * FERRY_MSEC), FERRY_ECORRUPT);
    CHECK(ft_ms() - t0 < 2000);
    CHECK_RC(ferry_bus_next(s, &f, NULL, 0), FERRY_ECORRUPT);
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  wait_byte(p[0]);
  struct raw_map m;
  REQUIRE(raw_map(name, &m));
  raw_put64(m.obj + OFF_HEAD, UINT64_C(1) << 55);
  send_byte(q[1]);
  ft_wait_ok(kid, 5000);
  raw_unmap(&m);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* The LATEST take retried forever while the newest slot's seq never
 * matched head (a scribbled WRITING marker): now it gives up after a few
 * tries and the wait ends at its deadline. */
static void test_latest_stuck_slot_is_bounded(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LATEST, 3);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  int p[2], q[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0);
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    send_byte(p[1]);
    wait_byte(q[0]);
    const ferry_frame *f;
    int64_t t0 = ft_ms();
    int rc = ferry_bus_next(s, &f, NULL, 100 * FERRY_MSEC);
    CHECK(rc == -ETIMEDOUT || rc == FERRY_ECORRUPT);
    CHECK(ft_ms() - t0 < 2000);
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  wait_byte(p[0]);
  struct raw_map m;
  REQUIRE(raw_map(name, &m));
  /* Frame 4 is newest, in slot 1, which says it is being written. */
  raw_put64(m.obj + OFF_SLOTS + 1 * SLOT_SIZE, UINT64_MAX);
  raw_put64(m.obj + OFF_HEAD, UINT64_C(5) << 8 | 1);
  send_byte(q[1]);
  ft_wait_ok(kid, 5000);
  raw_unmap(&m);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* A bit a peer wrote into the active set, for a participant slot with no
 * subscriber (or beyond max_subscribers), went into every frame's mask,
 * where nobody would ever clear it: the publisher waited for it until its
 * timeout, every time it came back to that slot. Now such bits are stale
 * like a leaver's, while a real subscriber's bit still holds its frame. */
static void test_bits_of_nobody_are_dropped(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  for (int latest = 0; latest < 2; latest++) {
    ferry_bus_options o;
    uint32_t k = latest ? 3 : 2;
    opts(&o, latest ? FERRY_BUS_LATEST : FERRY_BUS_LOCKSTEP, k);
    o.max_subscribers = 4;
    ferry_bus *b;
    REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
    ferry_sub *s;
    REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s)); /* participant slot 1: bit 0 */
    struct raw_map m;
    REQUIRE(raw_map(name, &m));
    uint64_t nobody = UINT64_C(1) << 2 | UINT64_C(1) << 40; /* slot 3 is free; 41 > 4 */
    raw_put64(m.obj + OFF_ACTIVE, UINT64_C(1) | nobody);
    if (latest) /* LATEST masks are the readers' own: write them too */
      for (uint32_t x = 0; x < k; x++)
        raw_put64(m.obj + OFF_SLOTS + x * SLOT_SIZE + SLOT_OFF_MASK, nobody);
    const ferry_frame *f;
    ferry_bus_frame_info info;
    for (uint64_t i = 0; i < 6; i++) {
      CHECK_OK(publish_one(b, 0));
      CHECK_OK(ferry_bus_next(s, &f, &info, 0));
      CHECK_EQ(info.seq, i);
      CHECK_OK(ferry_bus_release(s, f));
    }
    if (!latest) {
      /* the subscriber's own bit still holds what it has not read */
      CHECK_OK(publish_one(b, 0));
      CHECK_OK(publish_one(b, 0));
      CHECK_RC(publish_one(b, 0), -EAGAIN);
      CHECK_OK(ferry_bus_next(s, &f, &info, 0));
      CHECK_EQ(info.seq, 6);
      CHECK_OK(ferry_bus_release(s, f));
      CHECK_OK(publish_one(b, 0));
    }
    raw_unmap(&m);
    ferry_bus_unsubscribe(s);
    ferry_bus_close(b);
    CHECK_OK(ferry_unlink(name));
  }
}

/* Defect 3: what open validated is never read from the mapping again. A
 * peer rewrites the bus geometry (slots, offsets, stride, the schema) and
 * the region's liveness period after open; publisher and subscriber go on
 * with the copies they validated, and the periodic scan keeps its period:
 * a subscriber that dies holding nothing is still dropped by loans that
 * never wait (timeout 0). Before, the loan re-read the liveness period
 * from the mapping, and a huge one switched the scan off. */
static void test_geometry_not_reread(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_sub *ks;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &ks));
    for (;;)
      pause();
  }
  CHECK(wait_subscribers(b, 2));
  struct raw_map m;
  REQUIRE(raw_map(name, &m));
  raw_put64((uint8_t *)m.base + offsetof(struct ferry__region_hdr, liveness_ns), INT64_MAX / 4);
  for (size_t at = 8; at < 64; at += 4) /* mode .. checksum */
    memset(m.obj + at, 0x7f, 4);
  memset(m.obj + OFF_SLOTS + 2 * SLOT_SIZE, 0xff, 256); /* the schema */

  /* Both frames go out and come in intact through the validated copies. */
  for (uint64_t i = 0; i < 2; i++) {
    CHECK_OK(publish_one(b, 0));
    const ferry_frame *f;
    ferry_bus_frame_info info;
    CHECK_OK(ferry_bus_next(s, &f, &info, 0));
    CHECK_EQ(info.seq, i);
    CHECK(ft_frame_verify(f, i));
    ferry_array a;
    CHECK_OK(ferry_frame_array(f, "c", &a));
    CHECK_EQ(a.shape[1], 20);
    CHECK_OK(ferry_bus_release(s, f));
  }
  /* A scan while the child lives: in the old code it set the next one a
   * huge period away. */
  int64_t end = ft_ms() + 2 * LIVENESS_NS / FERRY_MSEC;
  while (ft_ms() < end) {
    int rc = publish_one(b, 0);
    CHECK(rc == 0 || rc == -EAGAIN);
    usleep(5000);
  }
  kill(kid, SIGKILL);
  CHECK(ft_wait(kid, WAIT_MS) != -1);
  /* The dead child's bit holds slot 0 (frame 2); only a scan frees it. */
  end = ft_ms() + 5000;
  int rc;
  while ((rc = publish_one(b, 0)) == -EAGAIN && ft_ms() < end)
    usleep(5000);
  CHECK_OK(rc);
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.dropped, 1);
  CHECK_EQ(st.slots, 2);
  CHECK_EQ(st.mode, FERRY_BUS_LOCKSTEP);
  raw_unmap(&m);
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 12, subscriber side: a subscriber blocked forever in next while a
 * 20 ms signal keeps interrupting it must still notice that the publisher
 * died (its slices are anchored). Before, every EINTR restarted the
 * slice, and the subscriber never looked at the publisher again. */
static void test_next_notices_dead_publisher_under_signals(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pub = ft_fork();
  if (pub == 0) {
    ferry_bus_options o;
    opts(&o, FERRY_BUS_LOCKSTEP, 2);
    ferry_bus *b;
    CHECK_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
    send_byte(p[1]);
    for (;;)
      pause();
  }
  wait_byte(p[0]);
  pid_t sub = ft_fork();
  if (sub == 0) {
    interrupt_every_20ms();
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    const ferry_frame *f;
    CHECK_RC(ferry_bus_next(s, &f, NULL, FERRY_FOREVER), -EPIPE);
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  WAIT_UNTIL(ft_in_futex(sub));
  kill(pub, SIGKILL);
  CHECK(ft_wait(pub, WAIT_MS) != -1);
  /* A few slices of 100 ms; before, it never returned. */
  ft_wait_ok(sub, 5000);
  close(p[0]);
  close(p[1]);
  CHECK_OK(ferry_unlink(name));
}

/* Defect 12, publisher side: a loan blocked forever on a subscriber's hold,
 * under the same signal, must drop the subscriber once it is killed. */
static void test_loan_notices_dead_subscriber_under_signals(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  int p[2], q[2], h[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0 && pipe(h) == 0);
  pid_t pub = ft_fork();
  if (pub == 0) {
    interrupt_every_20ms();
    ferry_bus_options o;
    opts(&o, FERRY_BUS_LOCKSTEP, 2);
    ferry_bus *b;
    CHECK_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
    send_byte(p[1]);
    wait_byte(q[0]); /* the holder subscribed */
    CHECK_OK(publish_one(b, 0));
    CHECK_OK(publish_one(b, 0));
    CHECK_OK(publish_one(b, FERRY_FOREVER)); /* slot 0 frees when the holder is dropped */
    ferry_bus_stats st;
    CHECK_OK(ferry_bus_stats_get(b, &st));
    CHECK_EQ(st.dropped, 1);
    ferry_bus_close(b);
    ft_child_exit();
  }
  wait_byte(p[0]);
  pid_t holder = ft_fork();
  if (holder == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    send_byte(q[1]);
    const ferry_frame *f;
    CHECK_OK(ferry_bus_next(s, &f, NULL, 10 * FERRY_SEC));
    send_byte(h[1]); /* holding frame 0 */
    for (;;)
      pause();
  }
  wait_byte(h[0]);
  WAIT_UNTIL(ft_in_futex(pub));
  kill(holder, SIGKILL);
  CHECK(ft_wait(holder, WAIT_MS) != -1);
  ft_wait_ok(pub, 5000);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  close(h[0]);
  close(h[1]);
  CHECK_OK(ferry_unlink(name));
}

/* Handles inherited through fork belong to the parent: every call in the
 * child is FERRY_EFORKED, and the child's close and unsubscribe only unmap:
 * the parent's bus is not shut down and its subscription stays. */
static void test_inherited_handles(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  ferry_sub *s;
  REQUIRE_OK(ferry_bus_subscribe(name, NULL, &s));
  CHECK_OK(publish_one(b, 0));
  const ferry_frame *held;
  REQUIRE_OK(ferry_bus_next(s, &held, NULL, 0));
  pid_t kid = ft_fork();
  if (kid == 0) {
    ferry_frame *f;
    const ferry_frame *cf;
    ferry_bus_stats st;
    ferry_bus_sub_stats ss;
    CHECK_RC(ferry_bus_loan(b, &f, 0), FERRY_EFORKED);
    CHECK_RC(ferry_bus_publish(b, NULL), FERRY_EFORKED);
    CHECK_RC(ferry_bus_stats_get(b, &st), FERRY_EFORKED);
    CHECK_RC(ferry_bus_wait_subscribers(b, 1, 0), FERRY_EFORKED);
    CHECK_RC(ferry_bus_shutdown(b), FERRY_EFORKED);
    CHECK_RC(ferry_bus_next(s, &cf, NULL, 0), FERRY_EFORKED);
    CHECK_RC(ferry_bus_release(s, held), FERRY_EFORKED);
    CHECK_RC(ferry_sub_stats_get(s, &ss), FERRY_EFORKED);
    ferry_bus_unsubscribe(s);
    ferry_bus_close(b);
    /* By name, the child is a subscriber of its own. */
    ferry_sub *mine;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &mine));
    ferry_bus_unsubscribe(mine);
    ft_child_exit();
  }
  ft_wait_ok(kid, WAIT_MS);
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.subscribers, 1);
  CHECK_EQ(st.shutdown, 0);
  CHECK_OK(ferry_bus_release(s, held));
  CHECK_OK(publish_one(b, 0));
  const ferry_frame *f;
  ferry_bus_frame_info info;
  CHECK_OK(ferry_bus_next(s, &f, &info, 0));
  CHECK_EQ(info.seq, 1);
  CHECK(ft_frame_verify(f, 1));
  CHECK_OK(ferry_bus_release(s, f));
  ferry_bus_unsubscribe(s);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* A subscriber joining a full table takes a dead subscriber's place, and
 * dropping the dead one's hold wakes the publisher asleep on it at once
 * (its own slice, half of a 60 s liveness period, is far away). */
static void test_join_reclaims_dead_and_wakes_publisher(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  int p[2], q[2], h[2];
  REQUIRE(pipe(p) == 0 && pipe(q) == 0 && pipe(h) == 0);
  pid_t pub = ft_fork();
  if (pub == 0) {
    ferry_bus_options o;
    opts(&o, FERRY_BUS_LOCKSTEP, 2);
    o.max_subscribers = 1;
    o.region.liveness_ns = 60 * FERRY_SEC;
    ferry_bus *b;
    CHECK_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
    send_byte(p[1]);
    CHECK_OK(ferry_bus_wait_subscribers(b, 1, 10 * FERRY_SEC));
    CHECK_OK(publish_one(b, 0));
    CHECK_OK(publish_one(b, 0));
    int64_t t0 = ft_ms();
    ferry_frame *f;
    CHECK_OK(ferry_bus_loan(b, &f, 20 * FERRY_SEC)); /* waits for the dead hold */
    CHECK(ft_ms() - t0 < 15000);
    /* The joiner freed the slot before its own join completed: wait for
     * that too, or frame 2 may go out before it is in. */
    CHECK_OK(ferry_bus_wait_subscribers(b, 1, 10 * FERRY_SEC));
    ft_frame_fill(f, 2);
    CHECK_OK(ferry_bus_publish(b, f));
    wait_byte(q[0]);
    ferry_bus_close(b);
    ft_child_exit();
  }
  wait_byte(p[0]);
  pid_t holder = ft_fork();
  if (holder == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    const ferry_frame *f;
    CHECK_OK(ferry_bus_next(s, &f, NULL, 10 * FERRY_SEC));
    send_byte(h[1]);
    for (;;)
      pause();
  }
  wait_byte(h[0]);
  kill(holder, SIGKILL);
  CHECK(ft_wait(holder, WAIT_MS) != -1);
  WAIT_UNTIL(ft_in_futex(pub));
  ferry_sub *s;
  CHECK_OK(ferry_bus_subscribe(name, NULL, &s)); /* the table was full */
  if (s) {
    const ferry_frame *f;
    ferry_bus_frame_info info;
    int rc = ferry_bus_next(s, &f, &info, 10 * FERRY_SEC);
    CHECK_OK(rc);
    if (rc == 0) {
      CHECK_EQ(info.seq, 2);
      CHECK(ft_frame_verify(f, 2));
      CHECK_OK(ferry_bus_release(s, f));
    }
    send_byte(q[1]);
    CHECK_RC(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC), -EPIPE);
    ferry_bus_unsubscribe(s);
  }
  ft_wait_ok(pub, WAIT_MS);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  close(h[0]);
  close(h[1]);
  CHECK_OK(ferry_unlink(name));
}

/* ---- waiting for subscribers (issue 12) --------------------------------------------- */

/* A LOCKSTEP publisher that waits for its N readers before the first frame:
 * readers join at staggered times, and every one of them gets frame 0. */
static void test_wait_subscribers_then_publish(void)
{
  enum { READERS = 3 };
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  o.max_subscribers = 4;
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  CHECK_RC(ferry_bus_wait_subscribers(b, 5, 0), -EINVAL); /* above max_subscribers */
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, -1), -EINVAL);
  CHECK_OK(ferry_bus_wait_subscribers(b, 0, 0));
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, 0), -EAGAIN);
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, 30 * FERRY_MSEC), -ETIMEDOUT);
  pid_t kids[READERS];
  for (int i = 0; i < READERS; i++) {
    kids[i] = ft_fork();
    if (kids[i] == 0) {
      usleep((useconds_t)(30000 * (i + 1)));
      ferry_sub *s;
      CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
      const ferry_frame *f;
      ferry_bus_frame_info info;
      CHECK_OK(ferry_bus_next(s, &f, &info, 10 * FERRY_SEC));
      CHECK_EQ(info.seq, 0);
      CHECK(ft_frame_verify(f, 0));
      CHECK_OK(ferry_bus_release(s, f));
      CHECK_RC(ferry_bus_next(s, &f, NULL, 10 * FERRY_SEC), -EPIPE);
      ferry_bus_unsubscribe(s);
      ft_child_exit();
    }
  }
  CHECK_OK(ferry_bus_wait_subscribers(b, READERS, 10 * FERRY_SEC));
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.subscribers, READERS);
  CHECK_OK(publish_one(b, 0));
  CHECK_OK(ferry_bus_shutdown(b));
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, 0), -EPIPE);
  for (int i = 0; i < READERS; i++)
    ft_wait_ok(kids[i], WAIT_MS);
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

/* A publisher asleep in the wait is woken by a join (no polling), and a
 * subscriber that died after joining is not counted. */
static void test_wait_subscribers_wakes_and_skips_dead(void)
{
  char name[64];
  ft_name(name, sizeof name, "bus");
  ferry_bus_options o;
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  ferry_bus *b;
  REQUIRE_OK(ferry_bus_create(name, SPECS, 3, &o, &b));
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t dead = ft_fork();
  if (dead == 0) {
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(name, NULL, &s));
    send_byte(p[1]);
    for (;;)
      pause();
  }
  wait_byte(p[0]);
  kill(dead, SIGKILL);
  CHECK(ft_wait(dead, WAIT_MS) != -1);
  /* Its bit is still in the set, but it is dead: not a subscriber. */
  CHECK_RC(ferry_bus_wait_subscribers(b, 1, 0), -EAGAIN);
  ferry_bus_stats st;
  CHECK_OK(ferry_bus_stats_get(b, &st));
  CHECK_EQ(st.dropped, 1);
  CHECK_EQ(st.subscribers, 0);

  /* The waiter sleeps with no slice ending before the join comes (the
   * liveness period is long), so only the join's wake can end it early. */
  ferry_bus *lb;
  char lname[64];
  ft_name(lname, sizeof lname, "bus");
  opts(&o, FERRY_BUS_LOCKSTEP, 2);
  o.region.liveness_ns = 60 * FERRY_SEC;
  REQUIRE_OK(ferry_bus_create(lname, SPECS, 3, &o, &lb));
  int q[2];
  REQUIRE(pipe(q) == 0);
  pid_t me = getpid();
  pid_t joiner = ft_fork();
  if (joiner == 0) {
    FT_WAIT_UNTIL(ft_in_futex(me), 500);
    ferry_sub *s;
    CHECK_OK(ferry_bus_subscribe(lname, NULL, &s));
    send_byte(p[1]);
    wait_byte(q[0]); /* stay subscribed until the publisher saw us */
    ferry_bus_unsubscribe(s);
    ft_child_exit();
  }
  int64_t t0 = ft_ms();
  CHECK_OK(ferry_bus_wait_subscribers(lb, 1, 20 * FERRY_SEC));
  CHECK(ft_ms() - t0 < 15000); /* woken by the join, not the slice */
  wait_byte(p[0]);
  send_byte(q[1]);
  ft_wait_ok(joiner, WAIT_MS);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  ferry_bus_close(lb);
  CHECK_OK(ferry_unlink(lname));
  ferry_bus_close(b);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_bad_input);
  RUN(test_corrupt_header);
  RUN(test_lockstep_blocks_only_when_full);
  RUN(test_lockstep_every_frame_in_order);
  RUN(test_late_joiner_starts_at_next_frame);
  RUN(test_latest_skips_and_counts);
  RUN(test_subscriber_killed_holding_is_dropped);
  RUN(test_subscriber_killed_idle_is_dropped);
  RUN(test_publisher_killed_subscribers_drain);
  RUN(test_regular_stream_changes_rhythm);
  RUN(test_regular_stream_publisher_killed);
  RUN(test_latest_never_torn);
  RUN(test_inherited_handles);
  RUN(test_join_reclaims_dead_and_wakes_publisher);
  RUN(test_wait_subscribers_then_publish);
  RUN(test_wait_subscribers_wakes_and_skips_dead);
  RUN(test_head_far_ahead_is_corrupt);
  RUN(test_latest_stuck_slot_is_bounded);
  RUN(test_bits_of_nobody_are_dropped);
  RUN(test_geometry_not_reread);
  RUN(test_next_notices_dead_publisher_under_signals);
  RUN(test_loan_notices_dead_subscriber_under_signals);
  return ft_done();
}
