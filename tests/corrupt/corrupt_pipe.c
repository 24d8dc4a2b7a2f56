/* SPDX-License-Identifier: MIT */
/*
 * corrupt_pipe.c: random corruption of a pipe: its region header,
 * participant table, pipe header, end words, ring indices and cells. The
 * operator holds both ends and sends, receives, peeks and reserves in
 * both directions, reopening the ends now and then. Every result must be
 * a valid one or an error: lengths within max_msg_size and the caller's
 * buffer, lent pointers inside the region.
 */
#include <stdlib.h>

#include "corrupt.h"
#include "ferry/pipe.h"

#define MAX_MSG 64

struct pipe_state {
  ferry_pipe *e[2];
  int batches;
  bool peeked[2], reserved[2];
};

static void setup(struct corrupt_ctx *c)
{
  ft_name(c->name, sizeof c->name, "corrupt-pipe");
  ferry_pipe_options o;
  ferry_pipe_options_init(&o);
  o.capacity = 4;
  o.max_msg_size = MAX_MSG;
  o.region.max_participants = 4;
  o.region.liveness_ns = 20 * FERRY_MSEC;
  o.spin_ns = 1000;
  ferry_pipe *p;
  REQUIRE_OK(ferry_pipe_create(c->name, &o, &p));
  ferry_pipe_close(p);
}

/* An error a pipe call may return when its region is scribbled on. */
static bool pipe_error(int rc)
{
  return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EPIPE || rc == -EMSGSIZE ||
         rc == -EBUSY || rc == FERRY_ECORRUPT;
}

static void reopen(struct corrupt_ctx *c, struct pipe_state *st)
{
  for (int k = 0; k < 2; k++) {
    ferry_pipe_close(st->e[k]);
    st->e[k] = NULL;
    st->peeked[k] = st->reserved[k] = false;
  }
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.timeout_ns = 0;
  for (int k = 0; k < 2; k++) {
    int rc = ferry_pipe_open(c->name, &o, &st->e[k]);
    if (rc) {
      st->e[k] = NULL; /* a clear error: corrupt, both ends held, a full table */
      CHECK(rc < 0);
    }
  }
}

static void operate(struct corrupt_ctx *c, uint64_t *rng)
{
  struct pipe_state *st = c->state;
  if (!st) {
    st = c->state = calloc(1, sizeof *st);
    REQUIRE(st);
  }
  if ((!st->e[0] && !st->e[1]) || ++st->batches % 20 == 0)
    reopen(c, st);
  for (int k = 0; k < 2; k++) {
    ferry_pipe *p = st->e[k];
    if (!p)
      continue;
    uint8_t *base = ferry_region_data(ferry_pipe_region(p));
    size_t size = ferry_region_data_size(ferry_pipe_region(p));
    uint8_t msg[MAX_MSG], buf[2 * MAX_MSG];
    memset(msg, (int)(ft_rand(rng) & 0xff), sizeof msg);
    int64_t t = (int64_t)(ft_rand(rng) % 3) * FERRY_MSEC;
    if (!st->reserved[k]) {
      int rc = ferry_pipe_send(p, msg, (size_t)(ft_rand(rng) % (MAX_MSG + 1)), t);
      CHECK(rc == 0 || pipe_error(rc));
      void *d = NULL;
      rc = ferry_pipe_reserve(p, MAX_MSG, &d, t);
      if (rc == 0) {
        CHECK((uint8_t *)d >= base && (uint8_t *)d + MAX_MSG <= base + size);
        memcpy(d, msg, MAX_MSG);
        st->reserved[k] = true;
      } else {
        CHECK(pipe_error(rc));
      }
    } else {
      CHECK_OK(ferry_pipe_commit(p, (size_t)(ft_rand(rng) % (MAX_MSG + 1))));
      st->reserved[k] = false;
    }
    size_t cap = (size_t)(ft_rand(rng) % sizeof buf);
    if (!st->peeked[k]) {
      ssize_t n = ferry_pipe_recv(p, buf, cap, t);
      if (n >= 0)
        CHECK((size_t)n <= cap && n <= MAX_MSG);
      else
        CHECK(pipe_error((int)n));
      const void *d = NULL;
      size_t len = 0;
      int rc = ferry_pipe_peek(p, &d, &len, t);
      if (rc == 0) {
        CHECK(len <= MAX_MSG);
        CHECK((const uint8_t *)d >= base && (const uint8_t *)d + len <= base + size);
        st->peeked[k] = true;
      } else {
        CHECK(pipe_error(rc));
      }
    } else {
      CHECK_OK(ferry_pipe_release(p));
      st->peeked[k] = false;
    }
  }
}

static void teardown(struct corrupt_ctx *c)
{
  ferry_unlink(c->name);
}

CORRUPT_SCENARIO(pipe, .kind = "pipe", .setup = setup, .operate = operate, .teardown = teardown);
