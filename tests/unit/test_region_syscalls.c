/* SPDX-License-Identifier: MIT */
/*
 * test_region_syscalls.c: what the region layer does with the file system
 * when things go wrong around it, seen by interposing the system calls it
 * makes. The test binary links the library statically, so its own
 * definitions of posix_fallocate() and flock() are the ones the library
 * calls; both forward to the real ones unless a test arms them.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "region_internal.h"
#include "test.h"

static void shm_path(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "/dev/shm/ferry.%s", name);
}

/* ---- interposed calls ---------------------------------------------------- */

/* posix_fallocate: when armed, first does what a gc and another creator
 * could do between our O_EXCL and the failure (remove our file, create a
 * new one under the name), then fails. */
static const char *swap_path;

int posix_fallocate(int fd, off_t off, off_t len)
{
  if (swap_path) {
    unlink(swap_path);
    int other = open(swap_path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (other >= 0)
      close(other);
    swap_path = NULL;
    return ENOSPC;
  }
  int (*real)(int, off_t, off_t) = (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, "posix_fallocate");
  return real(fd, off, len);
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

int main(void)
{
  RUN(test_failed_create_removes_only_its_file);
  RUN(test_gc_keeps_its_lock);
  return ft_done();
}
