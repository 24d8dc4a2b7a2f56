/* SPDX-License-Identifier: MIT */
/*
 * sync.c: a robust mutex and a barrier in shared memory. A raw region holds
 * a mutex, a barrier and a total. Three forked workers meet at the barrier,
 * add to the total under the mutex, and meet at the barrier again. The
 * first worker then dies while holding the mutex, on purpose: the next process to lock it gets
 * -EOWNERDEAD (within the liveness bound, 1 s by default) instead of
 * hanging, makes the protected state consistent again, and carries on.
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define ADDS 1000

/* What the region holds: the objects hold no pointers, so every process
 * may map it at its own address. */
struct shared {
  ferry_mutex lock;
  ferry_barrier start;
  int64_t total; /* protected by lock */
};

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

static int worker(const char *name, int w)
{
  ferry_region *r;
  check(ferry_region_open(name, FERRY_KIND_RAW, NULL, &r), "open");
  struct shared *s = ferry_region_data(r);
  int rc = ferry_barrier_wait(&s->start, 10 * FERRY_SEC); /* everyone starts together */
  check(rc < 0 ? rc : 0, "barrier");
  for (int i = 0; i < ADDS; i++) {
    check(ferry_mutex_lock(&s->lock, 10 * FERRY_SEC), "lock");
    s->total++;
    check(ferry_mutex_unlock(&s->lock), "unlock");
  }
  rc = ferry_barrier_wait(&s->start, 10 * FERRY_SEC); /* everyone is done adding */
  check(rc < 0 ? rc : 0, "barrier");
  if (w == 0) {
    check(ferry_mutex_lock(&s->lock, 10 * FERRY_SEC), "lock");
    _exit(0); /* dies holding the lock */
  }
  ferry_region_close(r);
  return 0;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-sync-%d", (int)getpid());
  ferry_region_options o;
  ferry_region_options_init(&o);
  ferry_region *r;
  check(ferry_region_create(name, sizeof(struct shared), &o, &r), "create");
  struct shared *s = ferry_region_data(r); /* zeroed: the mutex is ready */
  check(ferry_barrier_init(&s->start, WORKERS), "barrier init");
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

  /* Worker 0 died holding the lock: we get it, with -EOWNERDEAD. */
  int rc = ferry_mutex_lock(&s->lock, 10 * FERRY_SEC);
  if (rc == -EOWNERDEAD) {
    printf("the lock's owner died: repairing the state it protects\n");
    check(ferry_mutex_consistent(&s->lock), "consistent");
  } else {
    check(rc, "lock");
    fprintf(stderr, "expected -EOWNERDEAD\n");
    failed = 1;
  }
  printf("total: %lld (want %d)\n", (long long)s->total, WORKERS * ADDS);
  failed |= s->total != WORKERS * ADDS;
  check(ferry_mutex_unlock(&s->lock), "unlock");
  ferry_region_close(r);
  ferry_unlink(name);
  return failed;
}
