/* SPDX-License-Identifier: MIT */
/*
 * test_pipe_hostile.c: what a careless or hostile peer can do to a pipe,
 * and what the pipe must do about it. A length that changes while it is
 * read, geometry rewritten after open, and ring indices no sender or
 * receiver could have written give FERRY_ECORRUPT or are ignored: never a
 * length beyond max_msg_size, never a read outside the region. A fork
 * child's copy of an end cannot be used, and closing it leaves the end to
 * its parent.
 *
 * The calls under test that could crash run in a child that opens the
 * pipe itself, so a crash is a failed test rather than a dead suite.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/pipe.h"
#include "pipe_layout.h"
#include "test.h"

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

static struct ferry__pipe_hdr *hdr_of(ferry_pipe *p)
{
  return ferry_region_data(ferry_pipe_region(p));
}

/* Runs fn(name) in a child with a deadline: a crash or a hang fails. */
static void in_child(void (*fn)(const char *), const char *name, int timeout_ms)
{
  pid_t pid = ft_fork();
  if (pid == 0) {
    fn(name);
    ft_child_exit();
  }
  int st = ft_wait(pid, timeout_ms);
  if (st != -1 && WIFSIGNALED(st))
    ft_fail(__FILE__, __LINE__, "the child died of signal %d", WTERMSIG(st));
  else if (st != -1)
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- a length that changes while it is read (issue 8, defect 16) ----------- */

struct flipper {
  _Atomic uint32_t *len; /* the only cell of ring 0 */
  _Atomic int stop;
};

/* A peer that writes the cell's length over and over: a valid one, then
 * one no sender could write. */
static void *flip(void *arg)
{
  struct flipper *f = arg;
  while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
    atomic_store_explicit(f->len, 4, memory_order_relaxed);
    atomic_store_explicit(f->len, 0xfffffff0u, memory_order_relaxed);
  }
  return NULL;
}

static void test_peek_reads_the_length_once(void)
{
  char name[64];
  ft_name(name, sizeof name, "ppeek");
  ferry_pipe_options o = opts(1, 16);
  ferry_pipe *a, *b;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  struct ferry__pipe_hdr *h = hdr_of(a);
  struct flipper f = {.len = (_Atomic uint32_t *)((uint8_t *)h + h->ring_offset[0])};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, flip, &f) == 0);
  /* Until the peer's writes were seen often enough (or 3 s went by on a
   * busy machine). */
  int ok = 0, corrupt = 0, bad = 0;
  int64_t end = ft_ms() + 3000;
  while (!bad && (corrupt < 2000 || ok < 2000) && ft_ms() < end) {
    if (ferry_pipe_send(a, "abcd", 4, 0) != 0)
      continue; /* the message before is still there */
    while (ft_ms() < end) {
      const void *d;
      size_t len = 0;
      int rc = ferry_pipe_peek(b, &d, &len, 0);
      if (rc == 0) {
        if (len > 16)
          bad++;
        CHECK_OK(ferry_pipe_release(b));
        ok++;
        break;
      }
      CHECK_RC(rc, FERRY_ECORRUPT);
      corrupt++;
      sched_yield(); /* let the peer write the length back */
    }
  }
  atomic_store(&f.stop, 1);
  pthread_join(t, NULL);
  CHECK_EQ(bad, 0); /* a length checked was never swapped for another */
  CHECK(ok > 0);
  printf("  peeks: %d whole, %d refused as corrupt, %d beyond max_msg_size\n", ok, corrupt, bad);
  ferry_pipe_close(b);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- geometry rewritten after open (issue 8, defect 3) ----------------------- */

static void rewritten_geometry_calls(const char *name)
{
  ferry_pipe *b;
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  struct ferry__pipe_hdr *h = hdr_of(b);
  struct ferry__pipe_hdr saved;
  memcpy(&saved, h, 64); /* the immutable first line */
  h->capacity = FERRY_PIPE_MAX_CAPACITY;
  h->max_msg = FERRY_PIPE_MAX_MSG;
  h->stride = UINT64_C(1) << 32;
  h->ring_offset[0] = UINT64_C(1) << 40;
  h->ring_offset[1] = UINT64_C(1) << 41;
  char buf[64];
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, FERRY_SEC), 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_OK(ferry_pipe_send(b, "back", 4, 0));
  CHECK_RC(ferry_pipe_send(b, buf, 17, 0), -EMSGSIZE); /* still 16 */
  /* A new open reads the header afresh and refuses it. */
  ferry_pipe *c = NULL;
  CHECK_RC(ferry_pipe_open(name, NULL, &c), FERRY_ECORRUPT);
  CHECK(c == NULL);
  /* A max_msg that fits the same stride (10 and 16 both make 64-byte
   * cells) agrees with every size: only the checksum tells it. */
  memcpy(h, &saved, 64);
  h->max_msg = 10;
  CHECK_RC(ferry_pipe_open(name, NULL, &c), FERRY_ECORRUPT);
  /* Smaller rings that fit inside the region are not the creator's:
   * refused, even sealed with a fresh checksum. */
  memcpy(h, &saved, 64);
  h->capacity = saved.capacity / 2;
  h->ring_offset[1] = saved.ring_offset[0] + saved.stride * h->capacity;
  h->checksum = ferry__pipe_hdr_checksum(h);
  CHECK_RC(ferry_pipe_open(name, NULL, &c), FERRY_ECORRUPT);
  memcpy(h, &saved, 64);
  ferry_pipe_close(b);
}

static void test_geometry_rewritten_after_open(void)
{
  char name[64];
  ft_name(name, sizeof name, "pgeom");
  ferry_pipe_options o = opts(4, 16);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  CHECK_OK(ferry_pipe_send(a, "hello", 5, 0));
  in_child(rewritten_geometry_calls, name, 10000);
  char buf[16];
  CHECK_EQ(ferry_pipe_recv(a, buf, sizeof buf, 0), 4);
  CHECK(memcmp(buf, "back", 4) == 0);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- indices no sender or receiver could write ----------------------------------- */

static void bad_index_calls(const char *name)
{
  ferry_pipe *b;
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  struct ferry__pipe_hdr *h = hdr_of(b);
  char buf[64];
  /* Ring 0 carries end 0's messages to us: a tail far past our head. */
  uint64_t tail0 = atomic_load(&h->ring[0].tail);
  atomic_store(&h->ring[0].tail, tail0 + 1000);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, 100 * FERRY_MSEC), FERRY_ECORRUPT);
  atomic_store(&h->ring[0].tail, tail0);
  /* Ring 1 carries ours: a head past our tail (a reader that read what
   * was never sent), then one a whole lap behind it. */
  for (int i = 0; i < 4; i++)
    CHECK_OK(ferry_pipe_send(b, "x", 1, 0)); /* full: the next send looks at head */
  uint64_t head1 = atomic_load(&h->ring[1].head);
  atomic_store(&h->ring[1].head, head1 + 100);
  CHECK_RC(ferry_pipe_send(b, "x", 1, 100 * FERRY_MSEC), FERRY_ECORRUPT);
  atomic_store(&h->ring[1].head, head1 - 1);
  CHECK_RC(ferry_pipe_send(b, "x", 1, 100 * FERRY_MSEC), FERRY_ECORRUPT);
  atomic_store(&h->ring[1].head, head1);
  CHECK(ft_ms() - t0 < 2000);
  CHECK_RC(ferry_pipe_send(b, "x", 1, 0), -EAGAIN); /* sane again: full */
  ferry_pipe_close(b);
}

static void test_impossible_indices(void)
{
  char name[64];
  ft_name(name, sizeof name, "pidx");
  ferry_pipe_options o = opts(4, 16);
  ferry_pipe *a;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  in_child(bad_index_calls, name, 10000);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

/* ---- an end inherited through fork ------------------------------------------------- */

static void test_fork_child_closes_inherited_end(void)
{
  char name[64];
  ft_name(name, sizeof name, "pfork");
  ferry_pipe_options o = opts(4, 16);
  ferry_pipe *a, *b;
  REQUIRE_OK(ferry_pipe_create(name, &o, &a));
  REQUIRE_OK(ferry_pipe_open(name, NULL, &b));
  pid_t pid = ft_fork();
  if (pid == 0) {
    char buf[16];
    CHECK_RC(ferry_pipe_send(a, "bad", 3, 0), FERRY_EFORKED);
    CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, 0), FERRY_EFORKED);
    const void *d;
    size_t len;
    CHECK_RC(ferry_pipe_peek(b, &d, &len, 0), FERRY_EFORKED);
    CHECK_RC(ferry_pipe_release(b), FERRY_EFORKED);
    ferry_pipe_close(a); /* unmaps only: the ends stay the parent's */
    ferry_pipe_close(b);
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  char buf[16];
  CHECK_OK(ferry_pipe_send(a, "still", 5, 0));
  CHECK_EQ(ferry_pipe_recv(b, buf, sizeof buf, 0), 5);
  CHECK_RC(ferry_pipe_recv(b, buf, sizeof buf, 100 * FERRY_MSEC), -ETIMEDOUT); /* not -EPIPE */
  ferry_pipe *c = NULL;
  CHECK_RC(ferry_pipe_open(name, NULL, &c), -EBUSY); /* both ends still held */
  ferry_pipe_close(b);
  ferry_pipe_close(a);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_peek_reads_the_length_once);
  RUN(test_geometry_rewritten_after_open);
  RUN(test_impossible_indices);
  RUN(test_fork_child_closes_inherited_end);
  return ft_done();
}
