/* SPDX-License-Identifier: MIT */
/*
 * stress_list.c: long tier of the list. W appender processes append
 * records (their id, a sequence number, a variable-length body and a
 * checksum) while a mutator pops from the front, inserts and sets at random
 * positions and now and then replaces the whole list with a filtered copy;
 * a chaos loop SIGKILLs any of them at random instants and starts a new one
 * in its place. Duration: ft_stress_seconds(2.0).
 *
 * After every kill and at the end: the list validates, every item is whole
 * (its checksum holds), and each appender's records are in the order it
 * appended them with none twice. An append is whole or absent.
 */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/list.h"
#include "ferry/sync.h"
#include "test.h"

/* Every wait of these tests is bounded. */
#define T (10 * FERRY_SEC)

enum { W = 3, CAP = 4096, MAX_ITEM = 96, MUTATOR_ID = 1u << 30 };

struct rec {
  uint32_t id, seq, body, check;
  uint8_t bytes[MAX_ITEM - 16];
};

static uint32_t check_of(const struct rec *r)
{
  uint32_t c = r->id * 2654435761u ^ r->seq * 40503u ^ r->body;
  for (uint32_t i = 0; i < r->body; i++)
    c = c * 31 + r->bytes[i];
  return c;
}

static size_t make(struct rec *r, uint32_t id, uint32_t seq, uint64_t *rng)
{
  r->id = id;
  r->seq = seq;
  r->body = (uint32_t)(ft_rand(rng) % sizeof r->bytes);
  for (uint32_t i = 0; i < r->body; i++)
    r->bytes[i] = (uint8_t)(seq + i);
  r->check = check_of(r);
  return 16 + r->body;
}

static void appender(const char *name, uint32_t id)
{
  ferry_list *l;
  if (ferry_list_open(name, NULL, &l))
    _exit(2);
  uint64_t rng = id * 7919u + 1;
  for (uint32_t seq = 0;; seq++) {
    struct rec r;
    size_t n = make(&r, id, seq, &rng);
    int rc;
    while ((rc = ferry_list_append(l, &r, n, T)) == -ENOSPC)
      usleep(200);
    if (rc)
      _exit(3);
  }
}

static void mutator(const char *name, uint32_t id)
{
  ferry_list *l;
  if (ferry_list_open(name, NULL, &l))
    _exit(2);
  uint64_t rng = id * 104729u + 3;
  static uint8_t buf[CAP * (4 + MAX_ITEM)];
  static ferry_list_item items[CAP];
  for (uint32_t seq = 0;; seq++) {
    size_t len = ferry_list_len(l);
    struct rec r;
    int op = (int)(ft_rand(&rng) % 100);
    if (len > CAP / 2 || op < 40) {
      if (len && ferry_list_pop(l, 0, NULL, 0, T) < 0 && len > 1)
        _exit(4);
    } else if (op < 60 && len) {
      size_t n = make(&r, MUTATOR_ID | id, seq, &rng);
      int rc = ferry_list_insert(l, ft_rand(&rng) % (len + 1), &r, n, T);
      if (rc && rc != -ERANGE && rc != -ENOSPC)
        _exit(5);
    } else if (op < 80 && len) {
      size_t n = make(&r, MUTATOR_ID | id, seq, &rng);
      int rc = ferry_list_set(l, ft_rand(&rng) % len, &r, n, T);
      if (rc && rc != -ERANGE)
        _exit(6);
    } else if (op < 82) {
      /* keep every other mutator record, all appender records */
      uint64_t count;
      ssize_t got = ferry_list_copy(l, 0, CAP, buf, sizeof buf, &count, T);
      if (got < 0)
        _exit(7);
      size_t off = 0, k = 0;
      for (uint64_t i = 0; i < count; i++) {
        uint32_t il;
        memcpy(&il, buf + off, 4);
        /* A copy of the record's fixed fields: records lie at any
         * alignment in buf. */
        struct rec x;
        size_t fixed = offsetof(struct rec, bytes);
        memset(&x, 0, fixed);
        memcpy(&x, buf + off + 4, il < fixed ? il : fixed);
        if (!(x.id & MUTATOR_ID) || x.seq % 2) {
          items[k].data = buf + off + 4;
          items[k].len = il;
          k++;
        }
        off += 4 + il;
      }
      if (ferry_list_replace_all(l, items, k, T))
        _exit(8);
    }
  }
}

/* Checks everything; returns the number of items. */
static size_t verify(ferry_list *l, uint32_t nids)
{
  CHECK_OK(ferry_list_validate(l, T));
  static uint8_t buf[CAP * (4 + MAX_ITEM)];
  uint64_t count = 0;
  ssize_t got = ferry_list_copy(l, 0, CAP, buf, sizeof buf, &count, T);
  CHECK(got >= 0);
  if (got < 0)
    return 0;
  int64_t *last = calloc(nids, sizeof *last);
  for (uint32_t i = 0; i < nids; i++)
    last[i] = -1;
  size_t off = 0;
  for (uint64_t i = 0; i < count; i++) {
    uint32_t il;
    memcpy(&il, buf + off, 4);
    struct rec r;
    memset(&r, 0, sizeof r);
    memcpy(&r, buf + off + 4, il);
    CHECK(il >= 16 && il == 16 + r.body);
    CHECK_EQ(r.check, check_of(&r));
    if (!(r.id & MUTATOR_ID) && r.id < nids) {
      CHECK((int64_t)r.seq > last[r.id]); /* in order, never twice */
      last[r.id] = r.seq;
    }
    off += 4 + il;
  }
  free(last);
  return (size_t)count;
}

static void test_chaos(void)
{
  double secs = ft_stress_seconds(2.0);
  char name[64];
  ft_name(name, sizeof name, "ls");
  ferry_list_options o;
  ferry_list_options_init(&o);
  o.capacity = CAP;
  o.max_item = MAX_ITEM;
  o.region.max_participants = 16;
  ferry_list *l;
  REQUIRE_OK(ferry_list_create(name, &o, &l));
  enum { MAXIDS = 100000 };
  uint32_t next_id = 0;
  pid_t pids[W + 1];
  for (int w = 0; w <= W; w++) {
    uint32_t id = next_id++;
    if ((pids[w] = ft_fork()) == 0) {
      if (w == W)
        mutator(name, id);
      else
        appender(name, id);
    }
  }
  uint64_t rng = 1234;
  int kills = 0;
  int64_t end = ft_ms() + (int64_t)(secs * 1000);
  while (ft_ms() < end && next_id < MAXIDS) {
    usleep((useconds_t)(ft_rand(&rng) % 20000));
    int w = (int)(ft_rand(&rng) % (W + 1));
    kill(pids[w], SIGKILL);
    int st = ft_wait(pids[w], 10000);
    CHECK(st != -1 && WIFSIGNALED(st)); /* it was alive and well */
    kills++;
    verify(l, next_id);
    uint32_t id = next_id++;
    if ((pids[w] = ft_fork()) == 0) {
      if (w == W)
        mutator(name, id);
      else
        appender(name, id);
    }
  }
  for (int w = 0; w <= W; w++) {
    kill(pids[w], SIGKILL);
    ft_wait(pids[w], 10000);
  }
  size_t n = verify(l, next_id);
  ferry_list_stats st;
  CHECK_OK(ferry_list_stats_get(l, &st));
  printf("stress_list: %.1f s, %d kills, %llu changes (%.0f/s), %llu repairs, %zu items at the end\n",
         secs, kills, (unsigned long long)st.changes, (double)st.changes / secs,
         (unsigned long long)st.repairs, n);
  CHECK(kills > 0);
  CHECK(st.changes > 0);
  ferry_list_close(l);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  ferry_sync_set_liveness_ns(50 * FERRY_MSEC);
  RUN(test_chaos);
  return ft_done();
}
