/* SPDX-License-Identifier: MIT */
/*
 * test_redis_objects.c: the Redis heap, dict and bus, quick tier, through
 * the backend's own entry points. Heap: exact order for every int64 and
 * double key, min and max, FIFO ties, sizes, capacity, blocking pops woken
 * by pushes, atomic replace_all, and the in-flight lease (a popper killed
 * holding a record gives it back within lease + 1 s; a pop followed by a
 * push gives nothing back). Dict: every call and its errors, update under
 * contention from several processes (no lost increment), the cursor.
 * Bus: LOCKSTEP order and back-pressure, LATEST skips, end of stream after
 * shutdown and after the publisher's death, the subscriber limit, and a
 * dead subscriber dropped.
 */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame_internal.h"
#include "rtest.h"

struct rs_server srv;

/* ---- heap ------------------------------------------------------------------ */

static ferry__rh *mkheap(const char *name, uint32_t order, uint32_t kt, uint64_t cap,
                         uint32_t flags, int64_t lease_ms)
{
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.order = order;
  o.key_type = kt;
  o.capacity = cap;
  o.flags = flags;
  o.max_payload = 32;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  ro.lease_ns = lease_ms * FERRY_MSEC;
  ferry__rh *h = NULL;
  int rc = ferry__rh_create(name, &o, &ro, &h);
  if (rc)
    ft_fail(__FILE__, __LINE__, "heap create: %s", ferry_strerror(rc));
  return h;
}

static void test_heap_order(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "horder");
  ferry__rh *h = mkheap(name, FERRY_HEAP_MIN, FERRY_HEAP_KEY_INT64, 64, 0, 1000);
  REQUIRE(h);
  static const int64_t keys[] = {5, -3, INT64_MAX, INT64_MIN, 0, 5, -3, 9007199254740993LL, 9007199254740992LL};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    snprintf(buf, sizeof buf, "%zu", i);
    CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = keys[i]}, buf, strlen(buf), FERRY_SEC));
  }
  static const int64_t want[] = {INT64_MIN, -3, -3, 0, 5, 5, 9007199254740992LL, 9007199254740993LL, INT64_MAX};
  static const char *const want_payload[] = {"3", "1", "6", "4", "0", "5", "8", "7", "2"};
  CHECK_EQ(ferry__rh_size(h), 9);
  ferry_heap_key k;
  CHECK_EQ(ferry__rh_peek(h, &k, buf, sizeof buf), 1);
  CHECK_EQ(k.i64, INT64_MIN);
  for (size_t i = 0; i < 9; i++) {
    memset(buf, 0, sizeof buf);
    ssize_t n = ferry__rh_pop(h, &k, buf, sizeof buf, 0);
    CHECK_EQ(n, (ssize_t)strlen(want_payload[i]));
    CHECK_EQ(k.i64, want[i]);
    CHECK(!strcmp(buf, want_payload[i])); /* equal keys: FIFO */
  }
  CHECK_RC(ferry__rh_pop(h, &k, buf, sizeof buf, 0), -EAGAIN);
  CHECK_RC(ferry__rh_peek(h, &k, buf, sizeof buf), -EAGAIN);
  CHECK_RC(ferry__rh_pop(h, &k, buf, sizeof buf, -1), -EINVAL);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry__rh_pop(h, &k, buf, sizeof buf, 120 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 110);
  char big[40] = {0};
  CHECK_RC(ferry__rh_push(h, (ferry_heap_key){.i64 = 1}, big, 33, FERRY_SEC), -EMSGSIZE);
  CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 1}, big, 20, FERRY_SEC));
  CHECK_RC(ferry__rh_pop(h, &k, buf, 10, 0), -EMSGSIZE);
  CHECK_EQ(ferry__rh_size(h), 1); /* left in the heap */
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 0), 20);
  ferry_heap_stats st;
  CHECK_OK(ferry__rh_stats(h, &st));
  CHECK_EQ(st.pushes, 10);
  CHECK_EQ(st.pops, 10);
  CHECK_EQ(st.size, 0);
  ferry__rh_close(h);
  CHECK_OK(ferry__redis_unlink(name));

  /* Doubles, largest first. */
  rname(name, sizeof name, "hmax");
  h = mkheap(name, FERRY_HEAP_MAX, FERRY_HEAP_KEY_DOUBLE, 64, 0, 1000);
  REQUIRE(h);
  static const double dk[] = {1.5, -0.0, -INFINITY, 0.0, 1e300, -2.25, INFINITY, 1.5};
  for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++)
    CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.f64 = dk[i]}, &i, 1, FERRY_SEC));
  CHECK_RC(ferry__rh_push(h, (ferry_heap_key){.f64 = NAN}, "x", 1, FERRY_SEC), -EINVAL);
  static const double dw[] = {INFINITY, 1e300, 1.5, 1.5, 0.0, 0.0, -2.25, -INFINITY};
  for (size_t i = 0; i < 8; i++) {
    unsigned char b = 0xff;
    CHECK_EQ(ferry__rh_pop(h, &k, &b, 1, 0), 1);
    CHECK(k.f64 == dw[i]);
    if (i == 2)
      CHECK_EQ(b, 0); /* the first 1.5 */
    if (i == 4)
      CHECK_EQ(b, 1); /* -0.0 == 0.0, FIFO */
  }
  ferry__rh_close(h);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_heap_capacity_replace(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "hcap");
  ferry__rh *h = mkheap(name, FERRY_HEAP_MIN, FERRY_HEAP_KEY_INT64, 4, FERRY_HEAP_FIXED, 1000);
  REQUIRE(h);
  for (int i = 0; i < 4; i++)
    CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 10 + i}, "old", 3, FERRY_SEC));
  CHECK_RC(ferry__rh_push(h, (ferry_heap_key){.i64 = 1}, "x", 1, FERRY_SEC), -ENOSPC);
  ferry_heap_record recs[5];
  for (int i = 0; i < 5; i++)
    recs[i] = (ferry_heap_record){.key.i64 = 7, .data = "new", .len = 3};
  CHECK_RC(ferry__rh_replace_all(h, recs, 5, FERRY_SEC), -ENOSPC);
  recs[1].len = 33;
  CHECK_RC(ferry__rh_replace_all(h, recs, 4, FERRY_SEC), -EMSGSIZE);
  CHECK_EQ(ferry__rh_size(h), 4); /* nothing changed */
  char p[4][4] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++)
    recs[i] = (ferry_heap_record){.key.i64 = i == 3 ? 1 : 7, .data = p[i], .len = 1};
  CHECK_OK(ferry__rh_replace_all(h, recs, 4, FERRY_SEC));
  CHECK_EQ(ferry__rh_size(h), 4);
  const char *order = "dabc"; /* key 1 first, then the 7s in array order */
  ferry_heap_key k;
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 0), 1);
    CHECK(buf[0] == order[i]);
  }
  /* Pushes after a replace pop after its equal keys. */
  recs[0] = (ferry_heap_record){.key.i64 = 3, .data = "r", .len = 1};
  CHECK_OK(ferry__rh_replace_all(h, recs, 1, FERRY_SEC));
  CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 3}, "p", 1, FERRY_SEC));
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 0), 1);
  CHECK(buf[0] == 'r');
  CHECK_OK(ferry__rh_clear(h, FERRY_SEC));
  CHECK_EQ(ferry__rh_size(h), 0);
  CHECK_OK(ferry__rh_replace_all(h, NULL, 0, FERRY_SEC));
  ferry_heap_stats st;
  CHECK_OK(ferry__rh_stats(h, &st));
  CHECK_EQ(st.replaces, 4);
  ferry__rh_close(h);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_heap_wake_and_lease(void)
{
  char name[400], buf[32];
  rname(name, sizeof name, "hlease");
  const int64_t lease = 500;
  ferry__rh *h = mkheap(name, FERRY_HEAP_MIN, FERRY_HEAP_KEY_INT64, 64, 0, lease);
  REQUIRE(h);
  /* A blocked pop wakes on a push from another process. */
  pid_t pid = ft_fork();
  if (pid == 0) {
    usleep(100 * 1000);
    ferry__rh *c;
    if (ferry__rh_open(name, NULL, &c) == 0) {
      ferry__rh_push(c, (ferry_heap_key){.i64 = 42}, "hi", 2, FERRY_SEC);
      ferry__rh_close(c);
    }
    _exit(0);
  }
  int64_t t0 = ft_ms();
  ferry_heap_key k;
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 3 * FERRY_SEC), 2);
  CHECK(ft_ms() - t0 < 1000);
  CHECK_EQ(k.i64, 42);
  ft_wait_ok(pid, 5000);
  /* A popper killed with its record: it comes back within lease + 1 s. */
  CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 7}, "seven", 5, FERRY_SEC));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid = ft_fork();
  if (pid == 0) {
    ferry__rh *c;
    char b[32];
    if (ferry__rh_open(name, NULL, &c) == 0 && ferry__rh_pop(c, NULL, b, sizeof b, FERRY_SEC) == 5)
      (void)!write(fds[1], "p", 1);
    pause();
    _exit(0);
  }
  char ch;
  CHECK(read(fds[0], &ch, 1) == 1);
  CHECK_EQ(ferry__rh_size(h), 0);
  kill(pid, SIGKILL);
  t0 = ft_ms();
  ft_wait(pid, 5000);
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 5 * FERRY_SEC), 5);
  CHECK(ft_ms() - t0 <= lease + 1000);
  CHECK_EQ(k.i64, 7);
  /* pop, then push the record back with a new key (seed 003's worker), then
   * die: the push acknowledged the pop, nothing comes back. */
  CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 1}, "w", 1, FERRY_SEC));
  pid = ft_fork();
  if (pid == 0) {
    ferry__rh *c;
    char b[32];
    ferry_heap_key kk;
    if (ferry__rh_open(name, NULL, &c) == 0 && ferry__rh_pop(c, &kk, b, sizeof b, FERRY_SEC) == 1)
      ferry__rh_push(c, (ferry_heap_key){.i64 = kk.i64 + 100}, b, 1, FERRY_SEC);
    raise(SIGKILL);
  }
  ft_wait(pid, 5000);
  usleep((useconds_t)(lease + 300) * 1000);
  CHECK_EQ(ferry__rh_size(h), 1);
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 0), 1);
  CHECK_EQ(k.i64, 101);
  CHECK_RC(ferry__rh_pop(h, &k, buf, sizeof buf, 0), -EAGAIN);
  /* A long holder keeps its record: the keeper renews the lease. */
  CHECK_OK(ferry__rh_push(h, (ferry_heap_key){.i64 = 2}, "long", 4, FERRY_SEC));
  CHECK_EQ(ferry__rh_pop(h, &k, buf, sizeof buf, 0), 4);
  ferry__rh *other;
  REQUIRE_OK(ferry__rh_open(name, NULL, &other));
  CHECK_RC(ferry__rh_pop(other, &k, buf, sizeof buf, 4 * lease * FERRY_MSEC), -ETIMEDOUT);
  ferry__rh_close(other);
  close(fds[0]);
  close(fds[1]);
  ferry__rh_close(h);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- dict -------------------------------------------------------------------- */

static ferry__rd *mkdict(const char *name, uint64_t cap, uint32_t flags)
{
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = cap;
  o.flags = flags;
  o.max_key = 16;
  o.max_value = 32;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  ferry__rd *d = NULL;
  int rc = ferry__rd_create(name, &o, &ro, &d);
  if (rc)
    ft_fail(__FILE__, __LINE__, "dict create: %s", ferry_strerror(rc));
  return d;
}

static void test_dict_calls(void)
{
  char name[400], buf[64];
  rname(name, sizeof name, "dict");
  ferry__rd *d = mkdict(name, 4, FERRY_DICT_FIXED);
  REQUIRE(d);
  CHECK_RC(ferry__rd_get(d, "a", 1, buf, sizeof buf), -ENOENT);
  CHECK_OK(ferry__rd_set(d, "a", 1, "one", 3, FERRY_SEC));
  CHECK_EQ(ferry__rd_get(d, "a", 1, buf, sizeof buf), 3);
  CHECK(!memcmp(buf, "one", 3));
  CHECK_OK(ferry__rd_set(d, "a", 1, "uno", 3, FERRY_SEC));
  CHECK_RC(ferry__rd_set_nx(d, "a", 1, "x", 1, FERRY_SEC), -EEXIST);
  CHECK_OK(ferry__rd_set_nx(d, "b", 1, "", 0, FERRY_SEC));
  CHECK_EQ(ferry__rd_get(d, "b", 1, buf, sizeof buf), 0);
  CHECK_OK(ferry__rd_set(d, "", 0, "empty key", 9, FERRY_SEC));
  CHECK_EQ(ferry__rd_get(d, "", 0, buf, sizeof buf), 9);
  char longk[17] = "0123456789abcdef";
  CHECK_RC(ferry__rd_set(d, longk, 17, "x", 1, FERRY_SEC), -E2BIG);
  CHECK_RC(ferry__rd_get(d, longk, 17, buf, sizeof buf), -E2BIG);
  char longv[33] = {0};
  CHECK_RC(ferry__rd_set(d, "c", 1, longv, 33, FERRY_SEC), -EMSGSIZE);
  CHECK_RC(ferry__rd_get(d, "a", 1, buf, 2), -EMSGSIZE);
  CHECK_OK(ferry__rd_set(d, "c", 1, "3", 1, FERRY_SEC));
  CHECK_RC(ferry__rd_set(d, "d", 1, "4", 1, FERRY_SEC), -ENOSPC); /* fixed capacity 4 is full */
  CHECK_OK(ferry__rd_set(d, "c", 1, "33", 2, FERRY_SEC));         /* replacing needs no room */
  CHECK_EQ(ferry__rd_size(d), 4);
  CHECK_RC(ferry__rd_cas(d, "z", 1, "x", 1, "y", 1, FERRY_SEC), -ENOENT);
  CHECK_RC(ferry__rd_cas(d, "a", 1, "one", 3, "y", 1, FERRY_SEC), -EAGAIN);
  CHECK_OK(ferry__rd_cas(d, "a", 1, "uno", 3, "eins", 4, FERRY_SEC));
  CHECK_EQ(ferry__rd_get(d, "a", 1, buf, sizeof buf), 4);
  CHECK_RC(ferry__rd_del(d, "z", 1, FERRY_SEC), -ENOENT);
  CHECK_OK(ferry__rd_del(d, "b", 1, FERRY_SEC));
  CHECK_EQ(ferry__rd_size(d), 3);
  ferry_dict_stats st;
  CHECK_OK(ferry__rd_stats(d, &st));
  CHECK_EQ(st.size, 3);
  CHECK_EQ(st.capacity, 4);
  CHECK_OK(ferry__rd_clear(d, FERRY_SEC));
  CHECK_EQ(ferry__rd_size(d), 0);
  ferry__rd_close(d);
  CHECK_OK(ferry__redis_unlink(name));
}

static int incr(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                size_t *out_len, void *arg)
{
  (void)arg;
  long v = 0;
  if (exists) {
    char tmp[32];
    memcpy(tmp, old, old_len < 31 ? old_len : 31);
    tmp[old_len < 31 ? old_len : 31] = 0;
    v = strtol(tmp, NULL, 10);
  }
  int n = snprintf(out, out_cap, "%ld", v + 1);
  *out_len = (size_t)n;
  return FERRY_DICT_SET;
}

static int del_if_big(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                      size_t *out_len, void *arg)
{
  (void)old;
  (void)out;
  (void)out_cap;
  (void)out_len;
  (void)arg;
  if (!exists)
    return -ESRCH;
  return old_len > 2 ? FERRY_DICT_DELETE : FERRY_DICT_KEEP;
}

static void test_dict_update_contention(void)
{
  char name[400], buf[64];
  rname(name, sizeof name, "dupd");
  ferry__rd *d = mkdict(name, 64, 0);
  REQUIRE(d);
  enum { PROCS = 4, EACH = 150 };
  pid_t pids[PROCS];
  for (int i = 0; i < PROCS; i++) {
    pids[i] = ft_fork();
    if (pids[i] == 0) {
      ferry__rd *c;
      if (ferry__rd_open(name, NULL, &c) == 0) {
        for (int j = 0; j < EACH; j++)
          CHECK_EQ(ferry__rd_update(c, "n", 1, incr, NULL, FERRY_SEC), FERRY_DICT_SET);
        ferry__rd_close(c);
      }
      ft_child_exit();
    }
  }
  for (int i = 0; i < PROCS; i++)
    ft_wait_ok(pids[i], 60000);
  ssize_t n = ferry__rd_get(d, "n", 1, buf, sizeof buf - 1);
  REQUIRE(n > 0);
  buf[n] = 0;
  CHECK_EQ(strtol(buf, NULL, 10), PROCS * EACH); /* no increment lost */
  CHECK_EQ(ferry__rd_update(d, "n", 1, del_if_big, NULL, FERRY_SEC), FERRY_DICT_DELETE);
  CHECK_RC(ferry__rd_update(d, "n", 1, del_if_big, NULL, FERRY_SEC), -ESRCH);
  ferry__rd_close(d);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_dict_cursor(void)
{
  char name[400];
  rname(name, sizeof name, "dcur");
  ferry__rd *d = mkdict(name, 4096, 0);
  REQUIRE(d);
  enum { N = 1000 };
  for (int i = 0; i < N; i++) {
    char k[16], v[16];
    int kl = snprintf(k, sizeof k, "k%d", i), vl = snprintf(v, sizeof v, "v%d", i);
    CHECK_OK(ferry__rd_set(d, k, (size_t)kl, v, (size_t)vl, FERRY_SEC));
  }
  static unsigned char seen[N];
  memset(seen, 0, sizeof seen);
  uint64_t cur = 0;
  char k[16], v[32];
  size_t kl, vl;
  int got = 0, rc;
  /* A buffer too small keeps the cursor where it was. */
  CHECK_RC(ferry__rd_next(d, &cur, k, 1, &kl, v, sizeof v, &vl), -EMSGSIZE);
  CHECK_EQ(cur, 0);
  while ((rc = ferry__rd_next(d, &cur, k, sizeof k - 1, &kl, v, sizeof v - 1, &vl)) == 1) {
    k[kl] = 0;
    v[vl] = 0;
    int i = atoi(k + 1);
    REQUIRE(i >= 0 && i < N);
    CHECK(!strcmp(v + 1, k + 1));
    seen[i]++;
    got++;
  }
  CHECK_EQ(rc, 0);
  CHECK_EQ(got, N);
  for (int i = 0; i < N; i++)
    if (seen[i] != 1)
      ft_fail(__FILE__, __LINE__, "entry %d seen %d times", i, seen[i]);
  ferry__rd_close(d);
  CHECK_OK(ferry__redis_unlink(name));
}

/* ---- bus -------------------------------------------------------------------------- */

/* A schema of one u32 array of 4 elements. */
static void *schema(ferry__rschema *s)
{
  ferry_array_spec spec = {.name = "v", .dtype = FERRY_DTYPE_U32, .ndim = 1, .shape = {4}};
  size_t tb;
  uint64_t fb;
  if (ferry__schema_size(&spec, 1, &tb, &fb))
    return NULL;
  void *t = aligned_alloc(64, (tb + 63) / 64 * 64);
  if (!t || ferry__schema_write(t, tb, &spec, 1)) {
    free(t);
    return NULL;
  }
  *s = (ferry__rschema){.table = t, .table_bytes = tb, .frame_bytes = fb};
  return t;
}

static ferry__rb *mkbus(const char *name, uint32_t mode, uint32_t slots, uint32_t max_subs,
                        int64_t live_ms)
{
  ferry__rschema s;
  void *t = schema(&s);
  if (!t)
    return NULL;
  ferry_bus_options o;
  ferry_bus_options_init(&o);
  o.mode = mode;
  o.slots = slots;
  o.max_subscribers = max_subs;
  o.region.liveness_ns = live_ms * FERRY_MSEC;
  ferry_redis_options ro;
  ferry_redis_options_init(&ro);
  ferry__rb *b = NULL;
  int rc = ferry__rb_create(name, &s, &o, &ro, &b);
  free(t);
  if (rc)
    ft_fail(__FILE__, __LINE__, "bus create: %s", ferry_strerror(rc));
  return b;
}

static int publish(ferry__rb *b, uint32_t value, int64_t timeout)
{
  void *f;
  int rc = ferry__rb_loan(b, &f, timeout);
  if (rc)
    return rc;
  uint32_t *v = f;
  for (int i = 0; i < 4; i++)
    v[i] = value + (uint32_t)i;
  return ferry__rb_publish(b);
}

static void test_bus_lockstep(void)
{
  char name[400];
  rname(name, sizeof name, "blk");
  ferry__rb *b = mkbus(name, FERRY_BUS_LOCKSTEP, 3, 4, 1000);
  REQUIRE(b);
  ferry__rs *s;
  ferry__rschema sc;
  REQUIRE_OK(ferry__rs_subscribe(name, NULL, &s, &sc));
  CHECK(sc.table_bytes > 0 && sc.frame_bytes == 64);
  CHECK_OK(ferry__schema_validate(sc.table, sc.table_bytes, NULL, NULL));
  const void *f;
  ferry_bus_frame_info fi;
  CHECK_RC(ferry__rs_next(s, &f, &fi, 0), -EAGAIN);
  CHECK_RC(ferry__rs_release(s), -EINVAL);
  for (uint32_t i = 0; i < 3; i++)
    CHECK_OK(publish(b, i * 10, 0));
  /* K = 3 frames out, none taken: the next loan must wait. */
  CHECK_RC(publish(b, 30, 0), -EAGAIN);
  void *lf;
  CHECK_RC(ferry__rb_loan(b, &lf, 100 * FERRY_MSEC), -ETIMEDOUT);
  CHECK_EQ(ferry__rb_seq(b), 3);
  for (uint32_t i = 0; i < 3; i++) {
    REQUIRE_OK(ferry__rs_next(s, &f, &fi, 0));
    CHECK_RC(ferry__rs_next(s, &f, &fi, 0), -EBUSY);
    CHECK_EQ(fi.seq, i);
    CHECK_EQ(fi.skipped, 0);
    CHECK_EQ(fi.lag, i == 0 ? 2 : 3 - i); /* frame 3 is published after frame 0's take */
    CHECK_EQ(((const uint32_t *)f)[3], i * 10 + 3);
    CHECK_OK(ferry__rs_release(s));
    if (i == 0)
      CHECK_OK(publish(b, 30, 0)); /* frame 0 taken: room for frame 3 */
  }
  REQUIRE_OK(ferry__rs_next(s, &f, &fi, 0));
  CHECK_EQ(fi.seq, 3);
  CHECK_OK(ferry__rs_release(s));
  for (uint32_t i = 4; i < 7; i++)
    CHECK_OK(publish(b, i * 10, 0));
  /* A handle inherited through fork is refused. */
  pid_t pid = ft_fork();
  if (pid == 0) {
    const void *ff;
    CHECK_RC(ferry__rs_next(s, &ff, NULL, 0), FERRY__REDIS_EFORKED);
    ft_child_exit();
  }
  ft_wait_ok(pid, 5000);
  int64_t t0 = ft_ms();
  CHECK_RC(publish(b, 70, 300 * FERRY_MSEC), -ETIMEDOUT);
  CHECK(ft_ms() - t0 >= 290);
  ferry_bus_stats st;
  CHECK_OK(ferry__rb_stats(b, &st));
  CHECK_EQ(st.published, 7);
  CHECK_EQ(st.subscribers, 1);
  CHECK(st.loan_waits >= 1);
  /* End of stream: drain, then EPIPE. */
  CHECK_OK(ferry__rb_shutdown(b));
  CHECK_RC(publish(b, 0, 0), -EPIPE);
  for (uint32_t i = 4; i < 7; i++) {
    REQUIRE_OK(ferry__rs_next(s, &f, &fi, 0));
    CHECK_EQ(fi.seq, i);
    CHECK_OK(ferry__rs_release(s));
  }
  CHECK_RC(ferry__rs_next(s, &f, &fi, FERRY_SEC), -EPIPE);
  ferry_bus_sub_stats ss;
  CHECK_OK(ferry__rs_stats(s, &ss));
  CHECK_EQ(ss.received, 7);
  CHECK_EQ(ss.next_seq, 7);
  ferry__rs_unsubscribe(s);
  ferry__rb_close(b);
  ferry__rs *late;
  CHECK_RC(ferry__rs_subscribe(name, NULL, &late, &sc), -EPIPE);
  CHECK_OK(ferry__redis_unlink(name));
}

/* A publisher blocked in loan wakes when a subscriber in another process
 * takes the frame it waits for. */
static void test_bus_wake(void)
{
  char name[400];
  rname(name, sizeof name, "bwake");
  ferry__rb *b = mkbus(name, FERRY_BUS_LOCKSTEP, 2, 4, 1000);
  REQUIRE(b);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rs *s;
    ferry__rschema sc;
    const void *f;
    if (ferry__rs_subscribe(name, NULL, &s, &sc) == 0) {
      (void)!write(fds[1], "r", 1);
      usleep(250 * 1000);
      if (ferry__rs_next(s, &f, NULL, FERRY_SEC) == 0)
        ferry__rs_release(s);
    }
    pause();
    _exit(0);
  }
  char ch;
  REQUIRE(read(fds[0], &ch, 1) == 1);
  int64_t t0 = ft_ms();
  CHECK_OK(publish(b, 0, 0));
  CHECK_OK(publish(b, 1, 0));
  CHECK_OK(publish(b, 2, 3 * FERRY_SEC));
  int64_t dt = ft_ms() - t0;
  CHECK(dt >= 200 && dt < 1500);
  kill(pid, SIGKILL);
  ft_wait(pid, 5000);
  close(fds[0]);
  close(fds[1]);
  ferry__rb_close(b);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_bus_latest(void)
{
  char name[400];
  rname(name, sizeof name, "blt");
  ferry__rb *b = mkbus(name, FERRY_BUS_LATEST, 3, 1, 1000);
  REQUIRE(b);
  ferry__rs *s, *s2;
  ferry__rschema sc;
  REQUIRE_OK(ferry__rs_subscribe(name, NULL, &s, &sc));
  CHECK_RC(ferry__rs_subscribe(name, NULL, &s2, &sc), -EUSERS);
  for (uint32_t i = 0; i < 10; i++)
    CHECK_OK(publish(b, i, 0)); /* never waits */
  const void *f;
  ferry_bus_frame_info fi;
  REQUIRE_OK(ferry__rs_next(s, &f, &fi, 0));
  CHECK_EQ(fi.seq, 9);
  CHECK_EQ(fi.skipped, 9);
  CHECK_EQ(((const uint32_t *)f)[0], 9);
  CHECK_OK(ferry__rs_release(s));
  CHECK_RC(ferry__rs_next(s, &f, &fi, 0), -EAGAIN);
  CHECK_OK(publish(b, 10, 0));
  REQUIRE_OK(ferry__rs_next(s, &f, &fi, 0));
  CHECK_EQ(fi.seq, 10);
  CHECK_EQ(fi.skipped, 0);
  CHECK_OK(ferry__rs_release(s));
  ferry__rs_unsubscribe(s);
  ferry__rb_close(b);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_bus_deaths(void)
{
  char name[400];
  rname(name, sizeof name, "bdie");
  /* A publisher that dies: subscribers get EPIPE within about a liveness
   * period. */
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__rb *b = mkbus(name, FERRY_BUS_LOCKSTEP, 2, 4, 1000);
    if (b && publish(b, 1, 0) == 0)
      (void)!write(fds[1], "b", 1);
    pause();
    _exit(0);
  }
  char ch;
  REQUIRE(read(fds[0], &ch, 1) == 1);
  ferry__rs *s;
  ferry__rschema sc;
  REQUIRE_OK(ferry__rs_subscribe(name, NULL, &s, &sc));
  const void *f;
  CHECK_RC(ferry__rs_next(s, &f, NULL, 0), -EAGAIN);
  kill(pid, SIGKILL);
  int64_t t0 = ft_ms();
  ft_wait(pid, 5000);
  CHECK_RC(ferry__rs_next(s, &f, NULL, 5 * FERRY_SEC), -EPIPE);
  CHECK(ft_ms() - t0 < 1000 + 1000);
  ferry__rs_unsubscribe(s);
  CHECK_OK(ferry__redis_unlink(name));

  /* A subscriber that dies is dropped: the LOCKSTEP publisher goes on. */
  rname(name, sizeof name, "bdie2");
  ferry__rb *b = mkbus(name, FERRY_BUS_LOCKSTEP, 2, 4, 1000);
  REQUIRE(b);
  pid = ft_fork();
  if (pid == 0) {
    ferry__rs *cs;
    ferry__rschema csc;
    if (ferry__rs_subscribe(name, NULL, &cs, &csc) == 0)
      (void)!write(fds[1], "s", 1);
    pause();
    _exit(0);
  }
  REQUIRE(read(fds[0], &ch, 1) == 1);
  CHECK_OK(publish(b, 0, 0));
  CHECK_OK(publish(b, 1, 0));
  CHECK_RC(publish(b, 2, 0), -EAGAIN); /* the subscriber took nothing */
  kill(pid, SIGKILL);
  t0 = ft_ms();
  ft_wait(pid, 5000);
  CHECK_OK(publish(b, 2, 5 * FERRY_SEC));
  CHECK(ft_ms() - t0 < 1000 + 1000);
  ferry_bus_stats st;
  CHECK_OK(ferry__rb_stats(b, &st));
  CHECK_EQ(st.dropped, 1);
  CHECK_EQ(st.subscribers, 0);
  ferry__rb_close(b);
  close(fds[0]);
  close(fds[1]);
  CHECK_OK(ferry__redis_unlink(name));
}

static void test_nothing_left(void) { CHECK_EQ(rs_dbsize(&srv), 0); }

int main(void)
{
  rs_require(&srv, false);
  RUN(test_heap_order);
  RUN(test_heap_capacity_replace);
  RUN(test_heap_wake_and_lease);
  RUN(test_dict_calls);
  RUN(test_dict_update_contention);
  RUN(test_dict_cursor);
  RUN(test_bus_lockstep);
  RUN(test_bus_wake);
  RUN(test_bus_latest);
  RUN(test_bus_deaths);
  RUN(test_nothing_left);
  return ft_done();
}
