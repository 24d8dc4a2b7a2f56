/* SPDX-License-Identifier: MIT */
/*
 * fuzz_queue_ops.c: random operation sequences through several handles on
 * one queue, in one process, checked against a model of the ring. Each
 * input creates a fresh queue (capacity and message size from its first
 * bytes), then each 3-byte record is one operation: put, get, put_many,
 * get_many, reserve, commit, cancel, peek, release, shutdown, close and
 * reopen a handle. After every operation the queue must validate (strictly
 * when nothing is held) and agree with the model: same results, same
 * bytes, same order, no torn or invented message.
 *
 * Built for libFuzzer (clang -fsanitize=fuzzer), or as a replay program
 * with -DFERRY_FUZZ_REPLAY_MAIN: it runs every file named on the command
 * line, or every file in a directory named there.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/error.h"
#include "ferry/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NH 3
#define MAXCAP 8
#define MAXMSG 64

/* Model: positions [head, tail) of the ring, each full, a hole, or reserved. */
enum { M_FULL, M_HOLE, M_RES };
struct mcell {
  int state, owner;
  size_t len;
  uint8_t data[MAXMSG];
};
static struct mcell model[1024];
static unsigned mhead, mtail; /* model positions (mod 1024) */
static int shut;

static void die(const char *what, int line)
{
  fprintf(stderr, "fuzz_queue_ops: invariant broken at line %d: %s\n", line, what);
  abort();
}
#define ASSERT(c) do { if (!(c)) die(#c, __LINE__); } while (0)

static void fill(uint8_t *b, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    b[i] = (uint8_t)(seed * 131 + i * 7);
}

/* Pops holes at the model head (a getter skips them). */
static void skip_holes(void)
{
  while (mhead != mtail && model[mhead % 1024].state == M_HOLE)
    mhead++;
}

/* Free cells for puts: a peeked cell stays taken until released, and the
 * ring's tail cannot pass it (Vyukov's tail moves one cell at a time). */
static unsigned room(unsigned cap, const int *peek_of)
{
  unsigned low = mhead;
  for (int i = 0; i < NH; i++)
    if (peek_of[i] >= 0 && (unsigned)peek_of[i] < low)
      low = (unsigned)peek_of[i];
  return cap - (mtail - low);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  char name[64];
  snprintf(name, sizeof name, "fz-queue-%d", (int)getpid());
  ferry_unlink(name);
  ferry_queue_options o;
  ferry_queue_options_init(&o);
  o.capacity = 2 + data[0] % (MAXCAP - 1);
  o.max_msg_size = 1 + data[1] % MAXMSG;
  o.spin_ns = 0;
  ferry_queue *h[NH] = {0};
  if (ferry_queue_create(name, &o, &h[0]))
    return 0;
  for (int i = 1; i < NH; i++)
    if (ferry_queue_open(name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, NULL, &h[i]))
      abort();
  unsigned cap = o.capacity, maxmsg = o.max_msg_size;
  mhead = mtail = 0;
  shut = 0;
  int res_of[NH], peek_of[NH]; /* model position held, or -1 */
  for (int i = 0; i < NH; i++)
    res_of[i] = peek_of[i] = -1;
  uint8_t buf[MAXMSG * 2];
  unsigned seed = 0;

  for (size_t k = 2; k + 3 <= size; k += 3) {
    int op = data[k] % 11, hi = data[k + 1] % NH;
    size_t len = data[k + 2] % (maxmsg + 2); /* sometimes too big */
    ferry_queue *q = h[hi];
    seed++;
    switch (op) {
    case 0: { /* put */
      fill(buf, len, seed);
      int rc = ferry_queue_put(q, buf, len, 0);
      if (len > maxmsg) { ASSERT(rc == -EMSGSIZE); break; }
      if (res_of[hi] >= 0) { ASSERT(rc == -EBUSY); break; }
      if (shut) { ASSERT(rc == -EPIPE); break; }
      if (room(cap, peek_of) == 0) { ASSERT(rc == -EAGAIN); break; }
      ASSERT(rc == 0);
      struct mcell *c = &model[mtail++ % 1024];
      c->state = M_FULL; c->len = len; memcpy(c->data, buf, len);
      break;
    }
    case 1: case 2: { /* get, get_many */
      if (peek_of[hi] < 0)
        skip_holes();
      ssize_t n;
      size_t capb = op == 1 ? len : sizeof buf;
      if (op == 1) {
        n = ferry_queue_get(q, buf, capb, 0);
      } else {
        ferry_queue_vec v = {buf, capb};
        n = ferry_queue_get_many(q, &v, 1, 0);
        if (n == 1) n = (ssize_t)v.len;
      }
      if (peek_of[hi] >= 0) { ASSERT(n == -EBUSY); break; }
      if (mhead == mtail) { ASSERT(n == (shut ? -EPIPE : -EAGAIN)); break; }
      struct mcell *c = &model[mhead % 1024];
      if (c->state == M_RES) { ASSERT(n == -EAGAIN); break; }
      if (c->len > capb) { ASSERT(n == -EMSGSIZE); break; }
      ASSERT(n == (ssize_t)c->len && memcmp(buf, c->data, c->len) == 0);
      mhead++;
      break;
    }
    case 3: { /* put_many of two */
      uint8_t b2[MAXMSG * 2];
      fill(buf, len, seed);
      fill(b2, len / 2, seed + 1000);
      ferry_queue_vec v[2] = {{buf, len}, {b2, len / 2}};
      ssize_t n = ferry_queue_put_many(q, v, 2, 0);
      if (res_of[hi] >= 0) { ASSERT(n == -EBUSY); break; }
      if (len > maxmsg) { ASSERT(n == -EMSGSIZE); break; }
      if (shut) { ASSERT(n == -EPIPE); break; }
      unsigned r = room(cap, peek_of);
      if (r == 0) { ASSERT(n == -EAGAIN); break; }
      ASSERT(n == (ssize_t)(r >= 2 ? 2 : 1));
      for (ssize_t i = 0; i < n; i++) {
        struct mcell *c = &model[mtail++ % 1024];
        c->state = M_FULL; c->len = v[i].len; memcpy(c->data, v[i].data, v[i].len);
      }
      break;
    }
    case 4: { /* reserve */
      void *d;
      int rc = ferry_queue_reserve(q, len, &d, 0);
      if (len > maxmsg) { ASSERT(rc == -EMSGSIZE); break; }
      if (res_of[hi] >= 0) { ASSERT(rc == -EBUSY); break; }
      if (shut) { ASSERT(rc == -EPIPE); break; }
      if (room(cap, peek_of) == 0) { ASSERT(rc == -EAGAIN); break; }
      ASSERT(rc == 0);
      fill(d, len, seed);
      struct mcell *c = &model[mtail % 1024];
      c->state = M_RES; c->owner = hi; c->len = len; fill(c->data, len, seed);
      res_of[hi] = (int)mtail++;
      break;
    }
    case 5: case 6: { /* commit (shorter), cancel */
      int rc = op == 5 ? ferry_queue_commit(q, len / 2) : ferry_queue_cancel(q);
      if (res_of[hi] < 0) { ASSERT(rc == -EINVAL); break; }
      struct mcell *c = &model[(unsigned)res_of[hi] % 1024];
      if (op == 5 && len / 2 > c->len) { ASSERT(rc == -EMSGSIZE); break; }
      ASSERT(rc == 0);
      if (op == 5) { c->state = M_FULL; c->len = len / 2; } else { c->state = M_HOLE; }
      res_of[hi] = -1;
      break;
    }
    case 7: { /* peek */
      if (peek_of[hi] < 0)
        skip_holes();
      const void *d;
      size_t l;
      int rc = ferry_queue_peek(q, &d, &l, 0);
      if (peek_of[hi] >= 0) { ASSERT(rc == -EBUSY); break; }
      if (mhead == mtail) { ASSERT(rc == (shut ? -EPIPE : -EAGAIN)); break; }
      struct mcell *c = &model[mhead % 1024];
      if (c->state == M_RES) { ASSERT(rc == -EAGAIN); break; }
      ASSERT(rc == 0 && l == c->len && memcmp(d, c->data, l) == 0);
      peek_of[hi] = (int)mhead++;
      break;
    }
    case 8: { /* release */
      int rc = ferry_queue_release(q);
      ASSERT(rc == (peek_of[hi] >= 0 ? 0 : -EINVAL));
      peek_of[hi] = -1;
      break;
    }
    case 9: /* shutdown, rarely */
      if (len == 0) {
        ASSERT(ferry_queue_shutdown(q) == 0);
        shut = 1;
      }
      break;
    case 10: /* close and reopen the handle (its holdings are given back) */
      if (res_of[hi] >= 0)
        model[(unsigned)res_of[hi] % 1024].state = M_HOLE;
      ferry_queue_close(q);
      res_of[hi] = peek_of[hi] = -1;
      if (ferry_queue_open(name, FERRY_ROLE_PRODUCER | FERRY_ROLE_CONSUMER, NULL, &h[hi]))
        abort();
      break;
    }
    /* Reserved cells count in the depth (tail passed them); peeked ones
     * do not (head passed them). Holes count until a getter skips them. */
    int held = 0;
    for (int i = 0; i < NH; i++)
      held |= res_of[i] >= 0 || peek_of[i] >= 0;
    ASSERT(ferry_queue_validate(h[0], held ? 0 : FERRY_QUEUE_VALIDATE_QUIESCENT) == 0);
    ASSERT(ferry_queue_depth(h[0]) == mtail - mhead);
  }
  for (int i = 0; i < NH; i++)
    ferry_queue_close(h[i]);
  ferry_unlink(name);
  return 0;
}

#ifdef FERRY_FUZZ_REPLAY_MAIN
static void run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  static uint8_t b[1 << 16];
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  LLVMFuzzerTestOneInput(b, n);
}

int main(int argc, char **argv)
{
  int files = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      run_file(argv[i]);
      files++;
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
      run_file(p);
      files++;
    }
    closedir(d);
  }
  printf("fuzz_queue_ops: %d inputs replayed\n", files);
  return 0;
}
#endif
