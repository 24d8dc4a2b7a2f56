/* SPDX-License-Identifier: MIT */
/*
 * heap.c: a shared priority heap whose order comes from a key the pusher
 * computes. Each record is a box (length, width, height) and pops in
 * order of volume, largest first: the key is the volume, computed by
 * whoever pushes, so any order a program can compute works. Two forked
 * workers open the heap by name and push 500 boxes each; the parent then
 * pops all of them and checks that the volumes never grow.
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 2
#define BOXES 500

struct box {
  uint32_t id;
  uint16_t length, width, height;
};

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

/* The custom key: the box's volume. */
static ferry_heap_key volume(const struct box *b)
{
  return (ferry_heap_key){.i64 = (int64_t)b->length * b->width * b->height};
}

static int worker(const char *name, int w)
{
  ferry_heap *h;
  check(ferry_heap_open(name, NULL, &h), "open");
  uint32_t x = 2654435761u * (uint32_t)(w + 1);
  for (int i = 0; i < BOXES; i++) {
    x = x * 1103515245u + 12345u; /* any dimensions from 1 to 100 */
    struct box b = {(uint32_t)(w * BOXES + i), (uint16_t)(1 + (x >> 8) % 100),
                    (uint16_t)(1 + (x >> 15) % 100), (uint16_t)(1 + (x >> 22) % 100)};
    check(ferry_heap_push(h, volume(&b), &b, sizeof b, 10 * FERRY_SEC), "push");
  }
  ferry_heap_close(h);
  return 0;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-heap-%d", (int)getpid());
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.order = FERRY_HEAP_MAX; /* the largest volume pops first */
  o.max_payload = sizeof(struct box);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_heap *h;
  check(ferry_heap_create(name, &o, &h), "create");
  fflush(stdout);
  pid_t kids[WORKERS];
  for (int w = 0; w < WORKERS; w++)
    if ((kids[w] = fork()) == 0)
      _exit(worker(name, w));
  int failed = 0;
  for (int w = 0; w < WORKERS; w++) {
    int status;
    waitpid(kids[w], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }

  int64_t last = INT64_MAX;
  int popped = 0;
  struct box b;
  ferry_heap_key k;
  ssize_t n;
  while ((n = ferry_heap_pop(h, &k, &b, sizeof b, 0)) == (ssize_t)sizeof b) {
    if (k.i64 > last || k.i64 != volume(&b).i64) {
      fprintf(stderr, "box %u out of order\n", b.id);
      return 1;
    }
    if (popped == 0)
      printf("largest: box %u, %ux%ux%u = %lld\n", b.id, b.length, b.width, b.height,
             (long long)k.i64);
    last = k.i64;
    popped++;
  }
  check(n == -EAGAIN ? 0 : (int)n, "pop"); /* -EAGAIN: empty */
  printf("popped %d boxes, largest volume first\n", popped);
  ferry_heap_close(h);
  return failed || popped != WORKERS * BOXES;
}
