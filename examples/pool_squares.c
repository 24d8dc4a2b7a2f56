/* SPDX-License-Identifier: MIT */
/*
 * pool_squares.c: the README's process-pool example. Four worker processes
 * square numbers; results come back in submit order; a worker's death
 * would be retried. Exits 0 only if every result is right.
 */
#include <ferry/ferry.h>
#include <stdio.h>
#include <string.h>

static ssize_t square(void *arg, const void *task, size_t len, void *out, size_t cap)
{
  (void)arg;
  (void)cap;
  int64_t x;
  if (len != sizeof x)
    return -22; /* -EINVAL: this task fails, the others go on */
  memcpy(&x, task, sizeof x);
  x *= x;
  memcpy(out, &x, sizeof x);
  return sizeof x;
}

int main(void)
{
  ferry_pool_options o;
  ferry_pool_options_init(&o);
  o.fn = square; /* must exist before create: workers are copies */
  o.workers = 4;
  o.flags = FERRY_POOL_ORDERED; /* results in submit order */
  ferry_pool *p;
  int rc = ferry_pool_create(NULL, &o, &p);
  if (rc) {
    fprintf(stderr, "pool: %s\n", ferry_strerror(rc));
    return 1;
  }
  for (int64_t i = 0; i < 100; i++)
    ferry_pool_submit(p, &i, sizeof i, NULL, FERRY_FOREVER, NULL);
  ferry_pool_stop(p, FERRY_POOL_DRAIN, FERRY_FOREVER);
  ferry_pool_result r;
  int64_t want = 0, bad = 0;
  while (ferry_pool_next(p, &r, 10 * FERRY_SEC) == 0) {
    int64_t got = -1;
    if (r.outcome == FERRY_POOL_DONE && r.len == sizeof got)
      memcpy(&got, r.data, sizeof got);
    else
      fprintf(stderr, "task %llu: %s\n", (unsigned long long)r.id, r.message);
    bad += (int64_t)r.id != want || got != want * want;
    want++;
  }
  ferry_pool_close(p);
  printf("%lld squares in order, %lld wrong\n", (long long)want, (long long)bad);
  return want == 100 && bad == 0 ? 0 : 1;
}
