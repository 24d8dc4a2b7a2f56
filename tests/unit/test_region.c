/* SPDX-License-Identifier: MIT */
/*
 * test_region.c: regions: names, create/open/close/unlink, header
 * validation errors, waiting for initialisation, the participant table and
 * its liveness, unlink-on-last-close and gc.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region_internal.h"
#include "test.h"

static bool shm_exists(const char *name)
{
  char path[300];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  struct stat st;
  return stat(path, &st) == 0;
}

static void shm_path(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "/dev/shm/ferry.%s", name);
}

/* Maps the region's file read-write behind the library's back, to corrupt it. */
static uint8_t *map_file(const char *name, size_t *size)
{
  char path[300];
  shm_path(path, sizeof path, name);
  int fd = open(path, O_RDWR);
  if (fd < 0)
    return NULL;
  struct stat st;
  fstat(fd, &st);
  *size = (size_t)st.st_size;
  void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

/* Writes the header's checksum again, as a creator would over what it wrote. */
static void reseal(struct ferry__region_hdr *h)
{
  const uint8_t *b = (const uint8_t *)h;
  h->checksum = ferry__fnv1a(b + FERRY__CHECKSUM_BEGIN, FERRY__CHECKSUM_END - FERRY__CHECKSUM_BEGIN,
                             FERRY__FNV_SEED);
}

static void test_names(void)
{
  char longname[FERRY_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname);
  longname[FERRY_NAME_MAX] = '\0';
  CHECK_OK(ferry_name_valid(longname));
  CHECK_OK(ferry_name_valid("A-z_0.9"));
  longname[FERRY_NAME_MAX] = 'a';
  longname[FERRY_NAME_MAX + 1] = '\0';
  const char *bad[] = {"", ".", "..", "a/b", "a b", "caf\xc3\xa9", "x\n", "a*", longname};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_RC(ferry_name_valid(bad[i]), -EINVAL);
    ferry_region *r = (ferry_region *)0x1;
    CHECK_RC(ferry_region_create(bad[i], 64, NULL, &r), -EINVAL);
    CHECK(r == (ferry_region *)0x1); /* output untouched on error */
    CHECK_RC(ferry_region_open(bad[i], FERRY_KIND_ANY, NULL, &r), -EINVAL);
    CHECK_RC(ferry_unlink(bad[i]), -EINVAL);
  }
  CHECK_RC(ferry_name_valid(NULL), -EINVAL);
}

static void test_create_open_share(void)
{
  char name[64];
  ft_name(name, sizeof name, "share");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  CHECK(shm_exists(name));
  CHECK_EQ(ferry_region_kind(r), FERRY_KIND_RAW);
  CHECK_EQ(ferry_region_data_size(r), 4096);
  CHECK(strcmp(ferry_region_name(r), name) == 0);
  CHECK_EQ((uintptr_t)ferry_region_data(r) % 64, 0);
  uint32_t *data = ferry_region_data(r);
  for (int i = 0; i < 1024; i++)
    CHECK_EQ(data[i], 0); /* zeroed */

  ferry_region *dup = (ferry_region *)0x1;
  CHECK_RC(ferry_region_create(name, 4096, NULL, &dup), -EEXIST);
  CHECK(dup == (ferry_region *)0x1);

  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    int rc = ferry_region_open(name, FERRY_KIND_RAW, NULL, &c);
    CHECK_OK(rc);
    if (rc == 0) {
      uint32_t *d = ferry_region_data(c);
      for (int i = 0; i < 1024; i++)
        d[i] = (uint32_t)i * 7u;
      ferry_region_close(c);
    }
    ft_child_exit();
  }
  ft_wait_ok(pid, 10000);
  for (int i = 0; i < 1024; i++)
    CHECK_EQ(data[i], (uint32_t)i * 7u);

  /* Unlink removes the name; the mapping keeps working. */
  CHECK_OK(ferry_unlink(name));
  CHECK(!shm_exists(name));
  data[0] = 99;
  CHECK_EQ(data[0], 99);
  ferry_region *again;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &again), -ENOENT);
  CHECK_RC(ferry_unlink(name), -ENOENT);
  ferry_region_close(r);
  ferry_region_close(NULL);
}

static void test_options(void)
{
  char name[64];
  ft_name(name, sizeof name, "opts");
  ferry_region_options o;
  ferry_region *r;

  ferry_region_options_init(&o);
  o.mode = 010000;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  ferry_region_options_init(&o);
  o.max_participants = 0;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  o.max_participants = FERRY_MAX_PARTICIPANTS_LIMIT + 1;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  ferry_region_options_init(&o);
  o.liveness_ns = 0;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  o.liveness_ns = FERRY_LIVENESS_MAX_NS + 1;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  ferry_region_options_init(&o);
  o.flags = 1u << 9;
  CHECK_RC(ferry_region_create(name, 64, &o, &r), -EINVAL);
  CHECK_RC(ferry_region_create(name, 0, NULL, &r), -EINVAL);
  CHECK_RC(ferry_region_create(name, SIZE_MAX - 10, NULL, &r), -EOVERFLOW);
  CHECK(!shm_exists(name));

  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = -5;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  ferry_region *r2;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &oo, &r2), -EINVAL);
  ferry_open_options_init(&oo);
  oo.flags = 1u << 7;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &oo, &r2), -EINVAL);
  CHECK_RC(ferry_region_open(name, (ferry_kind)99, NULL, &r2), -EINVAL);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));

  /* The mode asked for is the mode the file gets, umask or not. */
  ferry_region_options_init(&o);
  o.mode = 0640;
  mode_t old = umask(077);
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  umask(old);
  char path[300];
  shm_path(path, sizeof path, name);
  struct stat st;
  CHECK_OK(stat(path, &st));
  CHECK_EQ(st.st_mode & 07777, 0640);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));

  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  CHECK_OK(stat(path, &st));
  CHECK_EQ(st.st_mode & 07777, 0600); /* the default */
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

static void test_info_and_participants(void)
{
  char name[64];
  ft_name(name, sizeof name, "info");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.role = FERRY_ROLE_PRODUCER;
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 1000, &o, &r));
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK(strcmp(info.name, name) == 0);
  CHECK_EQ(info.kind, FERRY_KIND_RAW);
  CHECK_EQ(info.object_size, 1000);
  CHECK(info.total_size >= 1000 + 256);
  CHECK_EQ(info.creator_pid, getpid());
  CHECK_EQ(info.creator_uid, getuid());
  CHECK(info.creator_start > 0);
  CHECK(info.created_ns > 0);
  CHECK_EQ(info.mode, 0600);
  CHECK_EQ(info.max_participants, FERRY_MAX_PARTICIPANTS_DEFAULT);
  CHECK_EQ(info.liveness_ns, FERRY_LIVENESS_DEFAULT_NS);
  CHECK_EQ(info.live, 1);
  CHECK_EQ(info.dead, 0);
  CHECK_EQ(info.status, FERRY_REGION_ACTIVE);
  CHECK_EQ(ferry_region_slot(r), 0);

  ferry_participant p[4];
  CHECK_EQ(ferry_region_participants(r, p, 4), 1);
  CHECK_EQ(p[0].pid, getpid());
  CHECK_EQ(p[0].role, FERRY_ROLE_PRODUCER | FERRY_ROLE_CREATOR);
  CHECK(p[0].alive);
  CHECK(p[0].start_time > 0);
  char roles[64];
  CHECK(strcmp(ferry_role_format(p[0].role, roles, sizeof roles), "creator+producer") == 0);
  CHECK(strcmp(ferry_role_format(0, roles, sizeof roles), "-") == 0);
  CHECK_EQ(ferry_region_participants(r, NULL, 0), 1);

  /* A child registers, reports back, waits for a go, and closes. */
  int up[2], down[2];
  REQUIRE(pipe(up) == 0 && pipe(down) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_open_options oo;
    ferry_open_options_init(&oo);
    oo.role = FERRY_ROLE_CONSUMER;
    ferry_region *c;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, &oo, &c));
    char b = 1;
    CHECK(write(up[1], &b, 1) == 1);
    CHECK(read(down[0], &b, 1) == 1);
    ferry_region_close(c);
    ft_child_exit();
  }
  char b;
  CHECK(read(up[0], &b, 1) == 1);
  ferry_participant q[4];
  ssize_t n = ferry_region_participants(r, q, 4);
  CHECK_EQ(n, 2);
  bool found = false;
  for (ssize_t i = 0; i < n && i < 4; i++)
    if (q[i].pid == pid) {
      found = true;
      CHECK_EQ(q[i].role, FERRY_ROLE_CONSUMER);
      CHECK(q[i].alive);
    }
  CHECK(found);
  CHECK(write(down[1], &b, 1) == 1);
  ft_wait_ok(pid, 10000);
  CHECK_EQ(ferry_region_participants(r, q, 4), 1);
  close(up[0]);
  close(up[1]);
  close(down[0]);
  close(down[1]);
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.opens, 2);

  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* A participant killed without closing is reported dead, as a zombie
 * (not yet reaped by its parent) and after it is reaped. */
static void test_dead_participant(void)
{
  char name[64];
  ft_name(name, sizeof name, "dead");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &c));
    char b = 1;
    CHECK(write(fds[1], &b, 1) == 1);
    pause();
    _exit(0);
  }
  char b;
  CHECK(read(fds[0], &b, 1) == 1);
  close(fds[0]);
  close(fds[1]);
  kill(pid, SIGKILL);
  /* Wait for it to become a zombie without reaping it. */
  siginfo_t si;
  CHECK_OK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, 1);
  CHECK_EQ(info.dead, 1);
  ferry_participant p[4];
  CHECK_EQ(ferry_region_participants(r, p, 4), 2);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(p[i].alive, p[i].pid == getpid());
  waitpid(pid, NULL, 0);
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.dead, 1);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Liveness comes from the slot's lock, not from what the slot says: a slot
 * whose pid and start time look like a recycled pid (or anything else) is
 * alive while its owner holds the lock [slot-lock]. */
static void test_slot_says_anything(void)
{
  char name[64];
  ft_name(name, sizeof name, "recycle");
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  ferry_region *second;
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &second));
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, 2);
  struct ferry__slot *s = &ferry__region_slots(r)[ferry_region_slot(second)];
  s->start += 12345;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.live, 2);
  CHECK_EQ(info.dead, 0);
  ferry_participant p[4];
  CHECK_EQ(ferry_region_participants(r, p, 4), 2);
  for (int i = 0; i < 2; i++)
    CHECK_EQ(p[i].alive, 1);
  s->start -= 12345;
  ferry_region_close(second);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Every kind of bad header is its own clear error, and nothing crashes. */
static void test_bad_headers(void)
{
  char name[64];
  ft_name(name, sizeof name, "bad");
  ferry_region *r, *o;
  size_t size;
  uint8_t *m;

  REQUIRE_OK(ferry_region_create(name, 4096, NULL, &r));
  ferry_region_close(r);
  REQUIRE((m = map_file(name, &size)) != NULL);
  struct ferry__region_hdr *h = (struct ferry__region_hdr *)m;

  CHECK_RC(ferry_region_open(name, FERRY_KIND_ARRAY, NULL, &o), FERRY_EKIND);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_QUEUE, NULL, &o), FERRY_EKIND);

  uint64_t magic = h->magic;
  h->magic = 0x1234;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EBADMAGIC);
  h->magic = magic;

  h->version_major = FERRY__REGION_VERSION_MAJOR + 1;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EVERSION);
  h->version_major = FERRY__REGION_VERSION_MAJOR;
  h->version_minor = 7; /* a newer minor stays readable... but is checksummed */
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_ECORRUPT);
  h->version_minor = 0;

  h->object_size ^= 1u << 20;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_ECORRUPT);
  h->object_size ^= 1u << 20;

  /* Sealed, but past a bound: the wait slices and lock budgets an opener
   * derives from the liveness would overflow. */
  int64_t live = h->liveness_ns;
  h->liveness_ns = FERRY_LIVENESS_MAX_NS + 1;
  reseal(h);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_ECORRUPT);
  h->liveness_ns = FERRY_LIVENESS_MAX_NS;
  reseal(h);
  CHECK_OK(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o));
  ferry_region_close(o);
  h->liveness_ns = live;
  reseal(h);
  CHECK_OK(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o));
  ferry_region_close(o);
  munmap(m, size);

  char path[300];
  shm_path(path, sizeof path, name);
  CHECK_OK(truncate(path, 2000)); /* header intact, object area cut */
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_ETRUNCATED);
  CHECK_OK(truncate(path, 100)); /* magic intact, header cut */
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_ETRUNCATED);
  CHECK_OK(ferry_unlink(name));

  /* Something that is not a ferry region at all. */
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "hello, world, this is not a region", 34) == 34);
  close(fd);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EBADMAGIC);
  ferry_region_info info;
  CHECK_RC(ferry_region_stat(name, &info), FERRY_EBADMAGIC);
  CHECK_EQ(ferry_region_gc(name, FERRY_GC_IDLE, NULL), FERRY_EBADMAGIC); /* left alone */
  CHECK(shm_exists(name));
  CHECK_OK(ferry_unlink(name));

  /* A FIFO or a directory under a ferry name is no region either, and
   * looking at one must not wait: open() of a FIFO for reading blocks until
   * a writer comes. The alarm turns such a hang into a failure. */
  CHECK_OK(mkfifo(path, 0600));
  alarm(10);
  ferry_open_options look;
  ferry_open_options_init(&look);
  look.flags = FERRY_OPEN_OBSERVE;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &look, &o), FERRY_EBADMAGIC);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EBADMAGIC);
  CHECK_RC(ferry_region_stat(name, &info), FERRY_EBADMAGIC);
  CHECK_EQ(ferry_region_gc(name, FERRY_GC_IDLE, NULL), FERRY_EBADMAGIC);
  alarm(0);
  CHECK(shm_exists(name));
  CHECK_OK(ferry_unlink(name));
  CHECK_OK(mkdir(path, 0700));
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &look, &o), FERRY_EBADMAGIC);
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EBADMAGIC);
  CHECK_RC(ferry_region_stat(name, &info), FERRY_EBADMAGIC);
  CHECK_EQ(ferry_region_gc(name, FERRY_GC_IDLE, NULL), FERRY_EBADMAGIC);
  CHECK_OK(rmdir(path));

  /* Each code has its own message. */
  int codes[] = {FERRY_EBADMAGIC, FERRY_EVERSION, FERRY_ETRUNCATED, FERRY_EKIND,
                 FERRY_ECORRUPT, FERRY_EINCOMPLETE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK(strcmp(ferry_strerror(codes[i]), "unknown error") != 0);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(ferry_strerror(codes[i]), ferry_strerror(codes[j])) != 0);
  }
  CHECK(strcmp(ferry_strerror(-ENOENT), "No such file or directory") == 0);
  CHECK(strcmp(ferry_strerror(-99999), "unknown error") == 0);
}

/* An empty file whose creator is gone: incomplete, and gc removes it. */
static void test_incomplete(void)
{
  char name[64], path[300];
  ft_name(name, sizeof name, "empty");
  shm_path(path, sizeof path, name);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  close(fd);
  ferry_region *o;
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 0;
  /* Young and unlocked: could be a creator between O_EXCL and flock. */
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, &oo, &o), -ETIMEDOUT);
  CHECK_EQ(ferry_region_gc(name, 0, NULL), 0);
  /* Past the grace period, the default open concludes. */
  CHECK_RC(ferry_region_open(name, FERRY_KIND_ANY, NULL, &o), FERRY_EINCOMPLETE);
  ferry_region_info info;
  CHECK_OK(ferry_region_stat(name, &info));
  CHECK_EQ(info.status, FERRY_REGION_INCOMPLETE);
  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(name, FERRY_GC_DRY_RUN, &st), 1);
  CHECK_EQ(st, FERRY_REGION_INCOMPLETE);
  CHECK(shm_exists(name));
  CHECK_EQ(ferry_region_gc(name, 0, &st), 1);
  CHECK(!shm_exists(name));
}

/* Open waits for a region still being initialised; a creator that dies
 * before publishing gives FERRY_EINCOMPLETE, not a hang. */
static void test_wait_for_init(void)
{
  char name[64];
  ft_name(name, sizeof name, "init");
  int up[2], down[2];
  REQUIRE(pipe(up) == 0 && pipe(down) == 0);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry__region_create(name, FERRY_KIND_RAW, 64, NULL, 0, &c));
    char b = 1;
    CHECK(write(up[1], &b, 1) == 1);
    usleep(300000);
    ((uint32_t *)ferry__region_object(c))[0] = 0xfe77;
    ferry__region_publish(c);
    CHECK(read(down[0], &b, 1) == 1);
    ferry_region_close(c);
    ft_child_exit();
  }
  char b;
  CHECK(read(up[0], &b, 1) == 1); /* the file exists, unpublished */
  ferry_region *o;
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.timeout_ns = 0;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_RAW, &oo, &o), -ETIMEDOUT);
  ferry_region_info info;
  CHECK_RC(ferry_region_stat(name, &info), -EAGAIN);
  CHECK_EQ(ferry_region_gc(name, 0, NULL), 0);
  oo.timeout_ns = 5 * FERRY_SEC;
  int rc = ferry_region_open(name, FERRY_KIND_RAW, &oo, &o);
  CHECK_OK(rc);
  if (rc == 0) {
    CHECK_EQ(((uint32_t *)ferry_region_data(o))[0], 0xfe77);
    ferry_region_close(o);
  }
  CHECK(write(down[1], &b, 1) == 1);
  ft_wait_ok(pid, 10000);
  CHECK_OK(ferry_unlink(name));

  /* The creator dies before publishing. */
  ft_name(name, sizeof name, "initdie");
  pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry__region_create(name, FERRY_KIND_RAW, 64, NULL, 0, &c));
    b = 1;
    CHECK(write(up[1], &b, 1) == 1);
    pause();
    _exit(0);
  }
  CHECK(read(up[0], &b, 1) == 1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  int64_t t0 = ft_ms();
  CHECK_RC(ferry_region_open(name, FERRY_KIND_RAW, &oo, &o), FERRY_EINCOMPLETE);
  CHECK(ft_ms() - t0 < 4000); /* decided long before the 5 s timeout */
  CHECK_OK(ferry_region_stat(name, &info));
  CHECK_EQ(info.status, FERRY_REGION_INCOMPLETE);
  CHECK_EQ(ferry_region_gc(name, 0, NULL), 1);
  CHECK(!shm_exists(name));
  close(up[0]);
  close(up[1]);
  close(down[0]);
  close(down[1]);
}

static void test_unlink_on_last_close(void)
{
  char name[64];
  ft_name(name, sizeof name, "last");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_region *r, *a;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &a));
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(a, &info));
  CHECK(info.flags & FERRY_REGION_UNLINK_ON_LAST_CLOSE);
  ferry_region_close(r);
  CHECK(shm_exists(name)); /* a is still attached */
  ferry_region_close(a);
  CHECK(!shm_exists(name));

  /* Without the flag the region is kept, idle. */
  REQUIRE_OK(ferry_region_create(name, 64, NULL, &r));
  ferry_region_close(r);
  CHECK(shm_exists(name));
  REQUIRE_OK(ferry_region_stat(name, &info));
  CHECK_EQ(info.status, FERRY_REGION_IDLE);
  CHECK_EQ(info.live + info.dead, 0);
  CHECK_OK(ferry_unlink(name));
}

static void test_table_full(void)
{
  char name[64];
  ft_name(name, sizeof name, "full");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = 2;
  ferry_region *r, *a, *b;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &a));
  b = (ferry_region *)0x1;
  CHECK_RC(ferry_region_open(name, FERRY_KIND_RAW, NULL, &b), -EUSERS);
  CHECK(b == (ferry_region *)0x1);
  /* Observers need no slot. */
  ferry_open_options oo;
  ferry_open_options_init(&oo);
  oo.flags = FERRY_OPEN_OBSERVE;
  CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, &oo, &b));
  CHECK_EQ(ferry_region_slot(b), -1);
  ferry_region_close(b);
  ferry_region_close(a);
  CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &b));
  ferry_region_close(b);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Stateless regions reclaim a dead participant's slot when full. */
static void test_reclaim_stateless(void)
{
  char name[64];
  ft_name(name, sizeof name, "reclaim");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.max_participants = 2;
  ferry_region *r, *b;
  REQUIRE_OK(ferry__region_create(name, FERRY_KIND_RAW, 64, &o, FERRY__REGION_STATELESS_SLOTS, &r));
  ferry__region_publish(r);
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &c));
    _exit(ft_failures ? 1 : 0); /* dies without closing */
  }
  ft_wait_ok(pid, 10000);
  ferry_region_info info;
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.dead, 1);
  CHECK_OK(ferry_region_open(name, FERRY_KIND_RAW, NULL, &b));
  REQUIRE_OK(ferry_region_info_get(r, &info));
  CHECK_EQ(info.dead, 0);
  CHECK_EQ(info.live, 2);
  CHECK_EQ(info.reaped, 1);
  ferry_region_close(b);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(name));
}

/* Leaving the table early keeps the mapping; close after it is harmless,
 * and unlink-on-last-close still counts the leaver as gone. */
static void test_leave_before_close(void)
{
  char name[64];
  ft_name(name, sizeof name, "leave");
  ferry_region_options o;
  ferry_region_options_init(&o);
  o.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(name, 64, &o, &r));
  ferry__region_leave(r);
  ferry__region_leave(r);
  CHECK_EQ(ferry_region_slot(r), -1);
  CHECK_EQ(ferry_region_participants(r, NULL, 0), 0);
  ((uint8_t *)ferry_region_data(r))[0] = 1; /* still mapped */
  CHECK(shm_exists(name));
  ferry_region_close(r);
  CHECK(!shm_exists(name));
}

struct seen {
  const char *want;
  int found;
};

static int seen_fn(const char *name, void *arg)
{
  struct seen *s = arg;
  if (strcmp(name, s->want) == 0)
    s->found++;
  return 0;
}

static void test_gc_and_foreach(void)
{
  char orphan[64], idle[64], active[64];
  ft_name(orphan, sizeof orphan, "orphan");
  ft_name(idle, sizeof idle, "idle");
  ft_name(active, sizeof active, "active");

  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry_region *c;
    CHECK_OK(ferry_region_create(orphan, 64, NULL, &c));
    _exit(ft_failures ? 1 : 0); /* the creator dies without closing */
  }
  ft_wait_ok(pid, 10000);
  ferry_region *r;
  REQUIRE_OK(ferry_region_create(idle, 64, NULL, &r));
  ferry_region_close(r);
  REQUIRE_OK(ferry_region_create(active, 64, NULL, &r));

  struct seen s = {orphan, 0};
  CHECK_OK(ferry_region_foreach(seen_fn, &s));
  CHECK_EQ(s.found, 1);

  ferry_region_info info;
  REQUIRE_OK(ferry_region_stat(orphan, &info));
  CHECK_EQ(info.status, FERRY_REGION_ORPHANED);
  CHECK_EQ(info.dead, 1);
  REQUIRE_OK(ferry_region_stat(idle, &info));
  CHECK_EQ(info.status, FERRY_REGION_IDLE);
  REQUIRE_OK(ferry_region_stat(active, &info));
  CHECK_EQ(info.status, FERRY_REGION_ACTIVE);

  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(orphan, FERRY_GC_DRY_RUN, &st), 1);
  CHECK_EQ(st, FERRY_REGION_ORPHANED);
  CHECK(shm_exists(orphan));
  CHECK_EQ(ferry_region_gc(idle, 0, &st), 0);
  CHECK_EQ(st, FERRY_REGION_IDLE);
  CHECK_EQ(ferry_region_gc(active, FERRY_GC_IDLE, &st), 0);
  CHECK_EQ(st, FERRY_REGION_ACTIVE);
  CHECK_EQ(ferry_region_gc(orphan, 0, &st), 1);
  CHECK(!shm_exists(orphan));
  CHECK_EQ(ferry_region_gc(idle, FERRY_GC_IDLE, &st), 1);
  CHECK(!shm_exists(idle));
  CHECK(shm_exists(active));
  CHECK_RC(ferry_region_gc(orphan, 0, &st), -ENOENT);
  CHECK_RC(ferry_region_gc(active, 1u << 5, &st), -EINVAL);
  ferry_region_close(r);
  CHECK_OK(ferry_unlink(active));
}

int main(void)
{
  RUN(test_names);
  RUN(test_create_open_share);
  RUN(test_options);
  RUN(test_info_and_participants);
  RUN(test_dead_participant);
  RUN(test_slot_says_anything);
  RUN(test_bad_headers);
  RUN(test_incomplete);
  RUN(test_wait_for_init);
  RUN(test_unlink_on_last_close);
  RUN(test_table_full);
  RUN(test_reclaim_stateless);
  RUN(test_leave_before_close);
  RUN(test_gc_and_foreach);
  return ft_done();
}
