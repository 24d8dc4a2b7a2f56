/* SPDX-License-Identifier: MIT */
/*
 * bench_impls.c: the peers that need nothing but the kernel, built into
 * `ferry bench`: an OS pipe, a Unix SOCK_SEQPACKET socket pair, a POSIX
 * message queue, and the bare shared-memory floors: a spin ping-pong
 * (pipe) and a single-producer single-consumer ring (queue).
 * Each follows the harness rules [bench-rules] in bench_harness.h; each
 * consumer hands every message to bh_take(), alike for all.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FILL_BYTE 0xa5 /* payload filler; only the header is checked */

static void *msg_alloc(bh_worker *w)
{
  size_t m = bh_worker_case(w)->msg_bytes;
  void *p = malloc(m);
  if (!p)
    bh_fail(w, "out of memory");
  memset(p, FILL_BYTE, m);
  return p;
}

static long read_proc_long(const char *path, long dflt)
{
  FILE *f = fopen(path, "r");
  long v = dflt;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1)
      v = dflt;
    fclose(f);
  }
  return v;
}

/* ---- byte streams: write and read whole messages ---- */

static void write_full(bh_worker *w, int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      bh_fail(w, "write: %s", strerror(errno));
    c += k;
    n -= (size_t)k;
  }
}

static void read_full(bh_worker *w, int fd, void *p, size_t n)
{
  char *c = p;
  while (n > 0) {
    ssize_t k = read(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k == 0)
      bh_fail(w, "read: unexpected end of file");
    if (k < 0)
      bh_fail(w, "read: %s", strerror(errno));
    c += k;
    n -= (size_t)k;
  }
}

/* ---- OS pipe ---- */

struct fds {
  int a[2]; /* queue: the pipe / socket pair; ping-pong: ping -> pong */
  int b[2]; /* ping-pong: pong -> ping (pipes only) */
};

static int os_pipe_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  if (c->kind == BH_QUEUE && c->msg_bytes > PIPE_BUF && (c->producers > 1 || c->consumers > 1)) {
    snprintf(why, cap, "writes over PIPE_BUF (%d B) are not atomic: messages would interleave",
             PIPE_BUF);
    return BH_SKIPPED;
  }
  static struct fds f;
  if (pipe(f.a) != 0 || pipe(f.b) != 0) {
    snprintf(why, cap, "pipe: %s", strerror(errno));
    return BH_FAILED;
  }
  /* Same capacity as everyone, within pipe-max-size. */
  long max = read_proc_long("/proc/sys/fs/pipe-max-size", 1 << 20);
  long want = (long)c->capacity_bytes < max ? (long)c->capacity_bytes : max;
  int got = fcntl(f.a[1], F_SETPIPE_SZ, (int)want);
  if (got > 0)
    snprintf(why, cap, "pipe buffer %d B", got);
  *state = &f;
  return BH_OK;
}

static int os_pipe_producer(void *state, bh_worker *w)
{
  struct fds *f = state;
  close(f->a[0]);
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    write_full(w, f->a[1], buf, m);
  }
  for (int i = 0; i < bh_worker_case(w)->consumers; i++) {
    bh_stamp_end(w, buf);
    write_full(w, f->a[1], buf, m);
  }
  free(buf);
  return 0;
}

static int os_pipe_consumer(void *state, bh_worker *w)
{
  struct fds *f = state;
  close(f->a[1]);
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  do
    read_full(w, f->a[0], buf, m);
  while (!bh_take(w, buf, m));
  free(buf);
  return 0;
}

static int os_pipe_ping(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf);
    uint64_t t0 = bh_now_ns();
    write_full(w, f->a[1], buf, m);
    read_full(w, f->b[0], buf, m);
    bh_ping_record(w, buf, m, t0);
  }
  bh_stamp_end(w, buf);
  write_full(w, f->a[1], buf, m);
  free(buf);
  return 0;
}

static int os_pipe_pong(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    read_full(w, f->a[0], buf, m);
    if (bh_pong_take(w, buf, m))
      break;
    write_full(w, f->b[1], buf, m);
  }
  free(buf);
  return 0;
}

static void fds_teardown(void *state, const bh_case *c)
{
  (void)c;
  struct fds *f = state;
  for (int i = 0; i < 2; i++) {
    close(f->a[i]);
    if (f->b[i] >= 0)
      close(f->b[i]);
  }
}

static const bh_impl os_pipe = {"os-pipe", os_pipe_setup, os_pipe_producer, os_pipe_consumer,
                                os_pipe_ping, os_pipe_pong, fds_teardown};

/* ---- Unix socket, SOCK_SEQPACKET: message boundaries, several readers ---- */

static int useq_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static struct fds f;
  f.b[0] = f.b[1] = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, f.a) != 0) {
    snprintf(why, cap, "socketpair: %s", strerror(errno));
    return BH_FAILED;
  }
  int sz = (int)(c->capacity_bytes > INT_MAX / 2 ? INT_MAX / 2 : c->capacity_bytes);
  for (int i = 0; i < 2; i++) {
    setsockopt(f.a[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(f.a[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  }
  /* Probe: can one message of this size go through at all? */
  char *probe = calloc(1, c->msg_bytes);
  ssize_t k = probe ? send(f.a[0], probe, c->msg_bytes, MSG_DONTWAIT) : -1;
  int e = errno;
  if (k == (ssize_t)c->msg_bytes)
    k = recv(f.a[1], probe, c->msg_bytes, 0);
  free(probe);
  if (k != (ssize_t)c->msg_bytes) {
    int got = 0;
    socklen_t len = sizeof got;
    getsockopt(f.a[0], SOL_SOCKET, SO_SNDBUF, &got, &len);
    snprintf(why, cap, "one %zu B message does not fit the socket buffer (SO_SNDBUF %d, "
                       "capped by net.core.wmem_max): %s",
             c->msg_bytes, got, strerror(e));
    close(f.a[0]);
    close(f.a[1]);
    return BH_SKIPPED;
  }
  int got = 0;
  socklen_t len = sizeof got;
  getsockopt(f.a[0], SOL_SOCKET, SO_SNDBUF, &got, &len);
  snprintf(why, cap, "SOCK_SEQPACKET, SO_SNDBUF %d B", got);
  *state = &f;
  return BH_OK;
}

static void send_msg(bh_worker *w, int fd, const void *p, size_t n)
{
  ssize_t k;
  while ((k = send(fd, p, n, 0)) < 0 && errno == EINTR)
    ;
  if (k != (ssize_t)n)
    bh_fail(w, "send: %s", k < 0 ? strerror(errno) : "short");
}

static size_t recv_msg(bh_worker *w, int fd, void *p, size_t cap)
{
  ssize_t k;
  while ((k = recv(fd, p, cap, 0)) < 0 && errno == EINTR)
    ;
  if (k <= 0)
    bh_fail(w, "recv: %s", k < 0 ? strerror(errno) : "end of file");
  return (size_t)k;
}

static int useq_producer(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    send_msg(w, f->a[0], buf, m);
  }
  for (int i = 0; i < bh_worker_case(w)->consumers; i++) {
    bh_stamp_end(w, buf);
    send_msg(w, f->a[0], buf, m);
  }
  free(buf);
  return 0;
}

static int useq_consumer(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  size_t n;
  do
    n = recv_msg(w, f->a[1], buf, m);
  while (!bh_take(w, buf, n));
  free(buf);
  return 0;
}

static int useq_ping(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf);
    uint64_t t0 = bh_now_ns();
    send_msg(w, f->a[0], buf, m);
    size_t n = recv_msg(w, f->a[0], buf, m);
    bh_ping_record(w, buf, n, t0);
  }
  bh_stamp_end(w, buf);
  send_msg(w, f->a[0], buf, m);
  free(buf);
  return 0;
}

static int useq_pong(void *state, bh_worker *w)
{
  struct fds *f = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    size_t n = recv_msg(w, f->a[1], buf, m);
    if (bh_pong_take(w, buf, n))
      break;
    send_msg(w, f->a[1], buf, n);
  }
  free(buf);
  return 0;
}

static const bh_impl unix_seqpacket = {"unix-seqpacket", useq_setup, useq_producer,
                                       useq_consumer, useq_ping, useq_pong, fds_teardown};

/* ---- POSIX message queue ---- */

struct pmq {
  char name[2][64];
  mqd_t q[2]; /* queue: q[0]; ping-pong: ping -> pong, pong -> ping */
};

static void pmq_teardown(void *state, const bh_case *c)
{
  (void)c;
  struct pmq *p = state;
  for (int i = 0; i < 2; i++)
    if (p->q[i] != (mqd_t)-1) {
      mq_close(p->q[i]);
      mq_unlink(p->name[i]);
    }
}

static int pmq_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  static struct pmq p;
  long size_max = read_proc_long("/proc/sys/fs/mqueue/msgsize_max", 8192);
  long msg_max = read_proc_long("/proc/sys/fs/mqueue/msg_max", 10);
  if ((long)c->msg_bytes > size_max) {
    snprintf(why, cap, "message larger than /proc/sys/fs/mqueue/msgsize_max (%ld B)", size_max);
    return BH_SKIPPED;
  }
  long depth = (long)bh_capacity_msgs(c);
  if (depth > msg_max)
    depth = msg_max;
  struct mq_attr a = {.mq_maxmsg = depth, .mq_msgsize = (long)c->msg_bytes};
  for (int i = 0; i < 2; i++) {
    snprintf(p.name[i], sizeof p.name[i], "/ferry-bench.%d.%d", (int)getpid(), i);
    mq_unlink(p.name[i]);
    p.q[i] = mq_open(p.name[i], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    if (p.q[i] == (mqd_t)-1) {
      snprintf(why, cap, "mq_open: %s", strerror(errno));
      pmq_teardown(&p, c);
      return BH_FAILED;
    }
  }
  snprintf(why, cap, "depth %ld messages (/proc/sys/fs/mqueue/msg_max %ld)", depth, msg_max);
  *state = &p;
  return BH_OK;
}

static void pmq_send(bh_worker *w, mqd_t q, const void *p, size_t n)
{
  int rc;
  while ((rc = mq_send(q, p, n, 0)) != 0 && errno == EINTR)
    ;
  if (rc != 0)
    bh_fail(w, "mq_send: %s", strerror(errno));
}

static size_t pmq_recv(bh_worker *w, mqd_t q, void *p, size_t cap)
{
  ssize_t k;
  while ((k = mq_receive(q, p, cap, NULL)) < 0 && errno == EINTR)
    ;
  if (k < 0)
    bh_fail(w, "mq_receive: %s", strerror(errno));
  return (size_t)k;
}

static int pmq_producer(void *state, bh_worker *w)
{
  struct pmq *p = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    pmq_send(w, p->q[0], buf, m);
  }
  for (int i = 0; i < bh_worker_case(w)->consumers; i++) {
    bh_stamp_end(w, buf);
    pmq_send(w, p->q[0], buf, m);
  }
  free(buf);
  return 0;
}

static int pmq_consumer(void *state, bh_worker *w)
{
  struct pmq *p = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  size_t n;
  do
    n = pmq_recv(w, p->q[0], buf, m);
  while (!bh_take(w, buf, n));
  free(buf);
  return 0;
}

static int pmq_ping(void *state, bh_worker *w)
{
  struct pmq *p = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf);
    uint64_t t0 = bh_now_ns();
    pmq_send(w, p->q[0], buf, m);
    size_t n = pmq_recv(w, p->q[1], buf, m);
    bh_ping_record(w, buf, n, t0);
  }
  bh_stamp_end(w, buf);
  pmq_send(w, p->q[0], buf, m);
  free(buf);
  return 0;
}

static int pmq_pong(void *state, bh_worker *w)
{
  struct pmq *p = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  char *buf = msg_alloc(w);
  bh_ready(w);
  for (;;) {
    size_t n = pmq_recv(w, p->q[0], buf, m);
    if (bh_pong_take(w, buf, n))
      break;
    pmq_send(w, p->q[1], buf, n);
  }
  free(buf);
  return 0;
}

static const bh_impl posix_mq = {"posix-mq", pmq_setup, pmq_producer, pmq_consumer,
                                 pmq_ping, pmq_pong, pmq_teardown};

/* ---- bare shared-memory spin ping-pong: the floor, no library ---- */

#define CACHE_LINE 64
#define SPIN_MSG_MAX 256

/* One direction: a flag word on its own cache line, then the message. */
struct spin_box {
  _Alignas(CACHE_LINE) atomic_uint_fast64_t flag; /* count of messages put here */
  _Alignas(CACHE_LINE) unsigned char msg[SPIN_MSG_MAX];
};

struct spin {
  struct spin_box to_pong, to_ping;
};

static int spin_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  if (c->msg_bytes > SPIN_MSG_MAX) {
    snprintf(why, cap, "messages over %d B", SPIN_MSG_MAX);
    return BH_SKIPPED;
  }
  struct spin *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    snprintf(why, cap, "mmap: %s", strerror(errno));
    return BH_FAILED;
  }
  snprintf(why, cap, "two processes spinning on shared cache lines");
  *state = s;
  return BH_OK;
}

static void spin_put(struct spin_box *b, const void *msg, size_t n, uint_fast64_t *count)
{
  memcpy(b->msg, msg, n);
  /* release: publishes msg; pairs with the acquire in spin_get(). */
  atomic_store_explicit(&b->flag, ++*count, memory_order_release);
}

static void spin_get(struct spin_box *b, void *msg, size_t n, uint_fast64_t *count)
{
  /* acquire: pairs with the release in spin_put(). */
  while (atomic_load_explicit(&b->flag, memory_order_acquire) == *count)
    ;
  ++*count;
  memcpy(msg, b->msg, n);
}

static int spin_ping(void *state, bh_worker *w)
{
  struct spin *s = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  unsigned char buf[SPIN_MSG_MAX];
  uint_fast64_t sent = 0, got = 0;
  memset(buf, FILL_BYTE, sizeof buf);
  bh_ready(w);
  while (bh_ping_running(w)) {
    bh_stamp(w, buf);
    uint64_t t0 = bh_now_ns();
    spin_put(&s->to_pong, buf, m, &sent);
    spin_get(&s->to_ping, buf, m, &got);
    bh_ping_record(w, buf, m, t0);
  }
  bh_stamp_end(w, buf);
  spin_put(&s->to_pong, buf, m, &sent);
  return 0;
}

static int spin_pong(void *state, bh_worker *w)
{
  struct spin *s = state;
  size_t m = bh_worker_case(w)->msg_bytes;
  unsigned char buf[SPIN_MSG_MAX];
  uint_fast64_t sent = 0, got = 0;
  bh_ready(w);
  for (;;) {
    spin_get(&s->to_pong, buf, m, &got);
    if (bh_pong_take(w, buf, m))
      break;
    spin_put(&s->to_ping, buf, m, &sent);
  }
  return 0;
}

static void spin_teardown(void *state, const bh_case *c)
{
  (void)c;
  munmap(state, sizeof(struct spin));
}

static const bh_impl shm_spin = {"shm-spin", spin_setup, NULL, NULL, spin_ping, spin_pong,
                                 spin_teardown};

/* ---- bare single-producer single-consumer ring: the queue's floor ---- */

/* A ring of capacity slots of exactly msg_bytes, as in Erik Rigtorp's
 * SPSCQueue: the producer alone stores tail, the consumer alone stores
 * head, each after its copy, and each keeps a private copy of the other's
 * index, reloaded only when that copy says full or empty. No length, no
 * lap word, no crash safety, no sleeping: what a 1P1C queue costs when it
 * does nothing else. */
struct ring {
  uint64_t n, msg; /* slots and their size, set before the fork */
  _Alignas(CACHE_LINE) atomic_uint_fast64_t tail; /* next slot to fill */
  _Alignas(CACHE_LINE) atomic_uint_fast64_t head; /* next slot to read */
  _Alignas(CACHE_LINE) unsigned char slot[];
};

/* One side's private state: its own position, the slot it is at, and
 * its copy of the other side's position. */
struct ring_side {
  uint_fast64_t pos, at, other;
};

static size_t ring_bytes(const bh_case *c)
{
  return sizeof(struct ring) + bh_capacity_msgs(c) * c->msg_bytes;
}

static int ring_setup(const bh_case *c, void **state, char *why, size_t cap)
{
  if (c->producers != 1 || c->consumers != 1) {
    snprintf(why, cap, "one producer and one consumer only");
    return BH_SKIPPED;
  }
  struct ring *r =
      mmap(NULL, ring_bytes(c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) {
    snprintf(why, cap, "mmap: %s", strerror(errno));
    return BH_FAILED;
  }
  r->n = bh_capacity_msgs(c);
  r->msg = c->msg_bytes;
  snprintf(why, cap, "capacity %zu messages; no crash safety, spins", bh_capacity_msgs(c));
  *state = r;
  return BH_OK;
}

/* Moves a side to its next slot, wrapping without a division. */
static void ring_step(const struct ring *r, struct ring_side *s)
{
  s->pos++;
  if (++s->at == r->n)
    s->at = 0;
}

static void ring_put(struct ring *r, const void *msg, struct ring_side *s)
{
  /* acquire: the consumer is done with the slot before we overwrite it;
   * pairs with the release in ring_get(). */
  while (s->pos - s->other == r->n)
    s->other = atomic_load_explicit(&r->head, memory_order_acquire);
  memcpy(r->slot + s->at * r->msg, msg, r->msg);
  ring_step(r, s);
  /* release: publishes the slot; pairs with the acquire in ring_get(). */
  atomic_store_explicit(&r->tail, s->pos, memory_order_release);
}

static void ring_get(struct ring *r, void *msg, struct ring_side *s)
{
  while (s->pos == s->other)
    s->other = atomic_load_explicit(&r->tail, memory_order_acquire);
  memcpy(msg, r->slot + s->at * r->msg, r->msg);
  ring_step(r, s);
  atomic_store_explicit(&r->head, s->pos, memory_order_release);
}

static int ring_producer(void *state, bh_worker *w)
{
  char *buf = msg_alloc(w);
  struct ring_side s = {0};
  bh_ready(w);
  while (bh_running(w)) {
    bh_stamp(w, buf);
    ring_put(state, buf, &s);
  }
  bh_stamp_end(w, buf);
  ring_put(state, buf, &s);
  free(buf);
  return 0;
}

static int ring_consumer(void *state, bh_worker *w)
{
  const struct ring *r = state;
  char *buf = msg_alloc(w);
  struct ring_side s = {0};
  bh_ready(w);
  do
    ring_get(state, buf, &s);
  while (!bh_take(w, buf, r->msg));
  free(buf);
  return 0;
}

static void ring_teardown(void *state, const bh_case *c) { munmap(state, ring_bytes(c)); }

static const bh_impl shm_ring = {"shm-ring",    ring_setup, ring_producer, ring_consumer,
                                 NULL,          NULL,       ring_teardown};

const bh_impl *const bench_builtin_queue[] = {
    &bench_ferry_queue_copy, &bench_ferry_queue_batch, &bench_ferry_queue_zc,
    &shm_ring, &os_pipe, &unix_seqpacket, &posix_mq, NULL};

const bh_impl *const bench_builtin_pipe[] = {
    &bench_ferry_pipe, &shm_spin, &os_pipe, &unix_seqpacket, &posix_mq, NULL};
