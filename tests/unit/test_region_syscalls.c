/* SPDX-License-Identifier: MIT */
/*
 * test_region_syscalls.c: what the region layer does with the file system
 * when things go wrong around it, seen by interposing the system calls it
 * makes. The test binary links the library statically, so its own
 * definitions of fallocate() and flock() are the ones the library calls;
 * both forward to the real ones unless a test arms them.
 *
 * The commit tests [commit]: heaps and dicts reserve their memory in steps
 * as they grow; a reservation that fails (a full /dev/shm, simulated here
 * by failing fallocate with ENOSPC) is a clear error that changes nothing,
 * and the object goes on once memory is available again.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/dict.h"
#include "ferry/heap.h"
#include "region_internal.h"
#include "test.h"

static void shm_path(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "/dev/shm/ferry.%s", name);
}

/* ---- interposed calls ---------------------------------------------------- */

/* fallocate: when swap_path is armed, first does what a gc and another
 * creator could do between our O_EXCL and the failure (remove our file,
 * create a new one under the name), then fails. When no_space is armed,
 * fails with ENOSPC, as a full /dev/shm does, and counts. */
static const char *swap_path;
static bool no_space;
static int no_space_hits;

int fallocate(int fd, int mode, off_t off, off_t len)
{
  if (swap_path) {
    unlink(swap_path);
    int other = open(swap_path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (other >= 0)
      close(other);
    swap_path = NULL;
    errno = ENOSPC;
    return -1;
  }
  if (no_space) {
    no_space_hits++;
    errno = ENOSPC;
    return -1;
  }
  int (*real)(int, int, off_t, off_t) =
      (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT, "fallocate");
  return real(fd, mode, off, len);
}

/* flock: counts LOCK_UN calls made while armed. */
static bool count_unlocks;
static int unlocks;

int flock(int fd, int op)
{
  if (count_unlocks && (op & LOCK_UN))
    unlocks++;
  int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
  return real(fd, op);
}

/* ---- tests ------------------------------------------------------------------ */

/* A create that fails after O_EXCL removes its own file only: if the name
 * meanwhile belongs to another file, that file stays. */
static void test_failed_create_removes_only_its_file(void)
{
  char name[64], path[300];
  ft_name(name, sizeof name, "swap");
  shm_path(path, sizeof path, name);
  swap_path = path;
  ferry_region *r = (ferry_region *)0x1;
  CHECK_RC(ferry_region_create(name, 4096, NULL, &r), -ENOSPC);
  CHECK(r == (ferry_region *)0x1);
  CHECK(swap_path == NULL); /* the failure was ours */
  struct stat st;
  CHECK_EQ(stat(path, &st), 0); /* the other file is still there */
  unlink(path);
}

/* gc holds its exclusive lock from the look to the removal: judging an
 * unpublished file must not drop it. */
static void test_gc_keeps_its_lock(void)
{
  char name[64], path[300];
  ft_name(name, sizeof name, "gclock");
  shm_path(path, sizeof path, name);
  /* An unpublished file, old enough that its creator is presumed gone. */
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  CHECK_EQ(ftruncate(fd, 4096), 0);
  close(fd);
  struct timespec old[2] = {{.tv_sec = 1}, {.tv_sec = 1}};
  utimensat(AT_FDCWD, path, old, 0); /* mtime; ctime cannot be set... */
  usleep(600 * 1000);                /* ...so let the file age past the grace */
  count_unlocks = true;
  unlocks = 0;
  ferry_region_status st;
  CHECK_EQ(ferry_region_gc(name, 0, &st), 1);
  count_unlocks = false;
  CHECK_EQ(st, FERRY_REGION_INCOMPLETE);
  CHECK_EQ(unlocks, 0);
  unlink(path);
}

/* ---- commit [commit] --------------------------------------------------------- */

static uint64_t allocated(ferry_region *r)
{
  ferry_region_info in;
  CHECK_OK(ferry_region_info_get(r, &in));
  return in.allocated_bytes;
}

/* The commit call checks its range and refuses observers. */
static void test_commit_range(void)
{
  char name[64];
  ft_name(name, sizeof name, "commit");
  ferry_region *r;
  REQUIRE_OK(ferry__region_create_partial(name, FERRY_KIND_RAW, 1 << 20, 0, NULL, 0, &r));
  ferry__region_publish(r);
  uint64_t before = allocated(r);
  CHECK(before < (1 << 20) / 2); /* the object area is a hole */
  CHECK_RC(ferry__region_commit(r, 0, (1 << 20) + 1), -EINVAL);
  CHECK_RC(ferry__region_commit(r, 1 << 20, 1), -EINVAL);
  CHECK_RC(ferry__region_commit(r, UINT64_MAX, 2), -EINVAL);
  CHECK_EQ(allocated(r), before);
  CHECK_OK(ferry__region_commit(r, 0, 1 << 20));
  CHECK(allocated(r) >= before + (1 << 20));
  CHECK_OK(ferry__region_commit(r, 0, 1 << 20)); /* idempotent */
  ferry_open_options o;
  ferry_open_options_init(&o);
  o.flags = FERRY_OPEN_OBSERVE;
  ferry_region *obs;
  REQUIRE_OK(ferry_region_open(name, FERRY_KIND_RAW, &o, &obs));
  CHECK_RC(ferry__region_commit(obs, 0, 4096), -EINVAL);
  ferry_region_close(obs);
  ferry_region_close(r);
  ferry_unlink(name);
}

/* A heap commits as it grows: right after create only the header; a push
 * that needs a new step when no memory is left is -ENOSPC and changes
 * nothing; pops and pushes into committed slots go on; once memory is back
 * the heap grows again; every record survives whole. */
static void test_heap_commit(void)
{
  char name[64];
  ft_name(name, sizeof name, "hcommit");
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = 1 << 14;
  o.max_capacity = 1 << 14;
  o.max_payload = 64;
  ferry_heap *h;
  REQUIRE_OK(ferry_heap_create(name, &o, &h));
  ferry_region *r = ferry_heap_region(h);
  ferry_heap_stats s;
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.committed_bytes, s.used_bytes); /* the header only */
  ferry_region_info in;
  CHECK_OK(ferry_region_info_get(r, &in));
  CHECK(in.allocated_bytes < in.total_size / 16);
  uint64_t id = 0;
  CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = 0}, &id, sizeof id, FT_TIMEOUT));
  id++;
  /* Fill the first step with memory "full": pushes succeed until the step
   * is used up, then the one that needs a new step fails. */
  no_space = true;
  no_space_hits = 0;
  int rc;
  while ((rc = ferry_heap_push(h, (ferry_heap_key){.i64 = (int64_t)id}, &id, sizeof id,
                               FT_TIMEOUT)) == 0)
    id++;
  CHECK_RC(rc, -ENOSPC);
  CHECK(no_space_hits >= 1);
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK_EQ(s.size, id);                      /* nothing changed */
  CHECK_EQ(s.used_bytes, s.committed_bytes); /* exactly at a step boundary */
  CHECK(s.size < o.max_capacity);
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_RC(ferry_heap_push(h, (ferry_heap_key){.i64 = (int64_t)id}, &id, sizeof id, FT_TIMEOUT),
           -ENOSPC); /* and again */
  /* A replace that needs more than the spare area holds fails alike and
   * leaves the set as it was. */
  uint64_t gen0, gen1, one = 7;
  CHECK_OK(ferry_heap_generation(h, &gen0));
  ferry_heap_record rec = {{.i64 = 1}, &one, sizeof one};
  CHECK_RC(ferry_heap_replace_all(h, &rec, 1, FT_TIMEOUT), -ENOSPC);
  CHECK_OK(ferry_heap_generation(h, &gen1));
  CHECK_EQ(gen1, gen0);
  CHECK_EQ(ferry_heap_size(h), (ssize_t)id);
  /* A pop frees a committed slot; a push reuses it without memory. */
  uint64_t v;
  ferry_heap_key k;
  CHECK_EQ(ferry_heap_pop(h, &k, &v, sizeof v, 0), (ssize_t)sizeof v);
  CHECK_EQ(k.i64, 0);
  CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = 0}, &v, sizeof v, FT_TIMEOUT));
  no_space = false;
  /* Memory is back: the heap grows on. */
  uint64_t grown = id + 1000;
  for (; id < grown; id++)
    CHECK_OK(ferry_heap_push(h, (ferry_heap_key){.i64 = (int64_t)id}, &id, sizeof id, FT_TIMEOUT));
  CHECK_OK(ferry_heap_validate(h, FT_TIMEOUT));
  CHECK_OK(ferry_heap_stats_get(h, &s));
  CHECK(s.committed_bytes >= s.used_bytes);
  CHECK(s.committed_bytes <= 2 * s.used_bytes + 2 * 65536); /* doubling, with a floor */
  CHECK_OK(ferry_region_info_get(r, &in));
  CHECK(in.allocated_bytes >= s.committed_bytes);
  CHECK(in.allocated_bytes < in.total_size / 2);
  for (uint64_t i = 0; i < id; i++) {
    CHECK_EQ(ferry_heap_pop(h, &k, &v, sizeof v, 0), (ssize_t)sizeof v);
    CHECK_EQ(k.i64, (int64_t)i);
    CHECK_EQ(v, i);
  }
  ferry_heap_close(h);
  ferry_unlink(name);
}

/* The key "<c><i>" into key[32]; returns its length. */
static size_t key_of(char *key, char c, uint64_t i)
{
  return (size_t)snprintf(key, 32, "%c%llu", c, (unsigned long long)i);
}

/* A dict named after tag, keys of up to 16 bytes. */
static int make_dict(char *name, size_t cap, const char *tag, uint64_t capacity,
                     uint64_t max_capacity, uint32_t max_value, ferry_dict **d)
{
  ft_name(name, cap, tag);
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = capacity;
  o.max_capacity = max_capacity;
  o.max_key = 16;
  o.max_value = max_value;
  return ferry_dict_create(name, &o, d);
}

/* A dict commits slots as writers take them; an insert that needs a new
 * step when no memory is left is -ENOSPC and changes nothing; updates and
 * deletes go on; once memory is back it grows again. */
static void test_dict_commit(void)
{
  char name[64], key[32];
  ferry_dict *d;
  REQUIRE_OK(make_dict(name, sizeof name, "dcommit", 1 << 14, 1 << 14, 64, &d));
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.committed_bytes, s.used_bytes); /* no slot yet */
  uint64_t id = 0;
  no_space = true;
  CHECK_RC(ferry_dict_set(d, "k0", 2, &id, sizeof id, FT_TIMEOUT), -ENOSPC);
  CHECK_EQ(ferry_dict_size(d), 0);
  CHECK_RC(ferry_dict_get(d, "k0", 2, &id, sizeof id), -ENOENT);
  no_space = false;
  int rc;
  for (; id < 10; id++) {
    size_t kl = key_of(key, 'k', id);
    CHECK_OK(ferry_dict_set(d, key, kl, &id, sizeof id, FT_TIMEOUT));
  }
  no_space = true;
  for (;; id++) {
    size_t kl = key_of(key, 'k', id);
    if ((rc = ferry_dict_set(d, key, kl, &id, sizeof id, FT_TIMEOUT)) != 0)
      break;
  }
  CHECK_RC(rc, -ENOSPC);
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.size, id); /* nothing changed */
  CHECK_EQ(s.used_bytes, s.committed_bytes);
  CHECK_RC(ferry_dict_get(d, key, strlen(key), &id, sizeof id), -ENOENT);
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  /* Updates need no new slot... */
  uint64_t v = 99;
  CHECK_OK(ferry_dict_set(d, "k3", 2, &v, sizeof v, FT_TIMEOUT));
  /* ...and a delete frees one that an insert reuses. */
  CHECK_OK(ferry_dict_del(d, "k4", 2, FT_TIMEOUT));
  CHECK_OK(ferry_dict_set(d, "new", 3, &v, sizeof v, FT_TIMEOUT));
  no_space = false;
  uint64_t grown = id + 3000;
  for (; id < grown; id++) {
    size_t kl = key_of(key, 'k', id);
    CHECK_OK(ferry_dict_set(d, key, kl, &id, sizeof id, FT_TIMEOUT));
  }
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  for (uint64_t i = 0; i < id; i++) {
    size_t kl = key_of(key, 'k', i);
    ssize_t n = ferry_dict_get(d, key, kl, &v, sizeof v);
    if (i == 4) {
      CHECK_RC(n, -ENOENT);
      continue;
    }
    CHECK_EQ(n, (ssize_t)sizeof v);
    CHECK_EQ(v, i == 3 ? 99 : i);
  }
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK(s.committed_bytes >= s.used_bytes);
  CHECK(s.committed_bytes - s.used_bytes <= s.used_bytes + 65536); /* doubling, with a floor */
  ferry_region_info in;
  CHECK_OK(ferry_region_info_get(ferry_dict_region(d), &in));
  CHECK(in.allocated_bytes >= s.committed_bytes);
  CHECK(in.allocated_bytes < in.total_size / 2);
  ferry_dict_close(d);
  ferry_unlink(name);
}

/* Keys that churn (each insert a new key, each delete an old one, in
 * whatever stripes they hash to) reuse freed slots: the dict commits no
 * more than the first step although it hands out many times its size. */
static void test_dict_churn(void)
{
  char name[64], key[32];
  ferry_dict *d;
  REQUIRE_OK(make_dict(name, sizeof name, "dchurn", 1 << 12, 1 << 16, 8, &d));
  enum { LIVE = 200, ROUNDS = 20000 };
  ferry_dict_stats s;
  uint64_t first = 0;
  for (uint64_t i = 0; i < ROUNDS; i++) {
    size_t kl = key_of(key, 's', i);
    CHECK_OK(ferry_dict_set(d, key, kl, &i, sizeof i, FT_TIMEOUT));
    if (i >= LIVE) {
      kl = key_of(key, 's', i - LIVE);
      CHECK_OK(ferry_dict_del(d, key, kl, FT_TIMEOUT));
    }
    if (i == LIVE) {
      CHECK_OK(ferry_dict_stats_get(d, &s));
      first = s.committed_bytes;
    }
  }
  CHECK_OK(ferry_dict_stats_get(d, &s));
  CHECK_EQ(s.size, LIVE);
  CHECK_EQ(s.committed_bytes, first);
  CHECK(s.slots_used < ROUNDS / 4); /* the watermark held hw back */
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  ferry_dict_close(d);
  ferry_unlink(name);
}

/* A create that cannot reserve even its header fails and leaves no file. */
static void test_create_no_space(void)
{
  char name[64], path[300];
  ft_name(name, sizeof name, "nospace");
  shm_path(path, sizeof path, name);
  no_space = true;
  ferry_heap *h = NULL;
  ferry_dict *d = NULL;
  CHECK_RC(ferry_heap_create(name, NULL, &h), -ENOSPC);
  CHECK_RC(ferry_dict_create(name, NULL, &d), -ENOSPC);
  no_space = false;
  CHECK(h == NULL && d == NULL);
  struct stat st;
  CHECK_RC(stat(path, &st) == 0 ? 0 : -errno, -ENOENT);
}

int main(void)
{
  RUN(test_failed_create_removes_only_its_file);
  RUN(test_gc_keeps_its_lock);
  RUN(test_commit_range);
  RUN(test_heap_commit);
  RUN(test_dict_commit);
  RUN(test_dict_churn);
  RUN(test_create_no_space);
  return ft_done();
}
