/* SPDX-License-Identifier: MIT */
/*
 * dict.c: counters in a shared dict. Three forked workers count words into
 * one dict at the same time; each increment is an atomic read-modify-write
 * of one entry (ferry_dict_update), so no increment is lost although the
 * workers race on the same keys. The parent then reads the totals.
 */
#include <errno.h>
#include <ferry/ferry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define ROUNDS 1000

static const char *const words[] = {"ferry", "queue", "bus", "heap", "dict"};
#define NWORDS (sizeof words / sizeof words[0])

static void check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, ferry_strerror(rc));
    exit(1);
  }
}

/* The update: reads the old count (absent: 0) and stores count + 1. It
 * runs under the entry's lock, so it must be short and must not block. */
static int increment(const void *old, size_t old_len, int exists, void *out, size_t out_cap,
                     size_t *out_len, void *arg)
{
  (void)arg;
  int64_t n = 0;
  if (exists && old_len == sizeof n)
    memcpy(&n, old, sizeof n);
  n++;
  if (out_cap < sizeof n)
    return -EMSGSIZE;
  memcpy(out, &n, sizeof n);
  *out_len = sizeof n;
  return FERRY_DICT_SET;
}

static int worker(const char *name)
{
  ferry_dict *d;
  check(ferry_dict_open(name, NULL, &d), "open");
  for (int i = 0; i < ROUNDS; i++)
    for (size_t w = 0; w < NWORDS; w++)
      check(ferry_dict_update(d, words[w], strlen(words[w]), increment, NULL, 10 * FERRY_SEC),
            "update");
  ferry_dict_close(d);
  return 0;
}

int main(void)
{
  char name[64];
  snprintf(name, sizeof name, "ex-dict-%d", (int)getpid());
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_dict *d;
  check(ferry_dict_create(name, &o, &d), "create");
  fflush(stdout);
  pid_t kids[WORKERS];
  for (int w = 0; w < WORKERS; w++)
    if ((kids[w] = fork()) == 0)
      _exit(worker(name));
  int failed = 0;
  for (int w = 0; w < WORKERS; w++) {
    int status;
    waitpid(kids[w], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  for (size_t w = 0; w < NWORDS; w++) {
    int64_t n;
    ssize_t len = ferry_dict_get(d, words[w], strlen(words[w]), &n, sizeof n);
    check((int)len, "get");
    printf("%-6s %lld\n", words[w], (long long)n);
    failed |= len != sizeof n || n != WORKERS * ROUNDS;
  }
  ferry_dict_close(d);
  return failed;
}
