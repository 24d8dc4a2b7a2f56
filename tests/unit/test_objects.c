/* SPDX-License-Identifier: MIT */
/*
 * test_objects.c: what every object shares above the region layer. A queue,
 * a pipe, a heap and a dict whose own header (behind a valid region header)
 * is corrupted, of another major version, or cut short must refuse to open
 * with a clear error, and open again once the bytes are restored.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "region_internal.h"
#include "fixtures.h"
#include "test.h"

/* The object's header inside region `name`, mapped behind the library's
 * back; *map and *size describe the whole mapping for munmap. */
static struct ferry__object_prefix *object_prefix(const char *name, void **map, size_t *size)
{
  return ft_map_object(name, map, size);
}

enum { QUEUE, PIPE, HEAP, DICT, KINDS };
static const char *const kind_tag[KINDS] = {"obj-queue", "obj-pipe", "obj-heap", "obj-dict"};

static int create(int kind, const char *name)
{
  int rc = -EINVAL;
  switch (kind) {
  case QUEUE: {
    ferry_queue *q;
    if ((rc = ferry_queue_create(name, NULL, &q)) == 0)
      ferry_queue_close(q);
    break;
  }
  case PIPE: {
    ferry_pipe *p;
    if ((rc = ferry_pipe_create(name, NULL, &p)) == 0)
      ferry_pipe_close(p);
    break;
  }
  case HEAP: {
    ferry_heap *h;
    if ((rc = ferry_heap_create(name, NULL, &h)) == 0)
      ferry_heap_close(h);
    break;
  }
  case DICT: {
    ferry_dict *d;
    if ((rc = ferry_dict_create(name, NULL, &d)) == 0)
      ferry_dict_close(d);
    break;
  }
  }
  return rc;
}

/* Opens and closes; returns what open said. */
static int try_open(int kind, const char *name)
{
  int rc = -EINVAL;
  switch (kind) {
  case QUEUE: {
    ferry_queue *q;
    if ((rc = ferry_queue_open(name, FERRY_ROLE_CONSUMER, NULL, &q)) == 0)
      ferry_queue_close(q);
    break;
  }
  case PIPE: {
    ferry_pipe *p;
    if ((rc = ferry_pipe_open(name, NULL, &p)) == 0)
      ferry_pipe_close(p);
    break;
  }
  case HEAP: {
    ferry_heap *h;
    if ((rc = ferry_heap_open(name, NULL, &h)) == 0)
      ferry_heap_close(h);
    break;
  }
  case DICT: {
    ferry_dict *d;
    if ((rc = ferry_dict_open(name, NULL, &d)) == 0)
      ferry_dict_close(d);
    break;
  }
  }
  return rc;
}

static void test_corrupt_object_headers(void)
{
  for (int k = 0; k < KINDS; k++) {
    char name[64];
    ft_name(name, sizeof name, kind_tag[k]);
    REQUIRE_OK(create(k, name));
    void *map;
    size_t size;
    struct ferry__object_prefix *p = object_prefix(name, &map, &size);
    REQUIRE(p != NULL);

    uint64_t magic = atomic_load(&p->magic);
    atomic_store(&p->magic, magic ^ 1);
    CHECK_RC(try_open(k, name), FERRY_ECORRUPT);
    atomic_store(&p->magic, magic);

    p->version_major++;
    CHECK_RC(try_open(k, name), FERRY_EVERSION);
    p->version_major--;

    p->header_size += 64;
    CHECK_RC(try_open(k, name), FERRY_ECORRUPT);
    p->header_size -= 64;

    CHECK_OK(try_open(k, name)); /* restored: usable again */
    munmap(map, size);
    CHECK_OK(ferry_unlink(name));
  }
}

int main(void)
{
  RUN(test_corrupt_object_headers);
  return ft_done();
}
