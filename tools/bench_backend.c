/* SPDX-License-Identifier: MIT */
/*
 * bench_backend.c: `ferry bench queue --backend redis|shm`. shm (the
 * default) is the shared-memory benchmark of bench.c; redis runs
 * ferry-bench-redis (bench/redis_queue.c), which is built next to this
 * program when hiredis is found, with the same arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#define REDIS_BENCH "ferry-bench-redis"

int ferry_tool_bench_backend(int *argc, char **argv)
{
  for (int i = 1; i < *argc; i++) {
    const char *v = NULL;
    int take = 0;
    if (strcmp(argv[i], "--backend") == 0) {
      if (i + 1 >= *argc)
        return cli_usage_error("bench", "--backend needs a value (shm or redis)");
      v = argv[i + 1];
      take = 2;
    } else if (strncmp(argv[i], "--backend=", 10) == 0) {
      v = argv[i] + 10;
      take = 1;
    } else {
      continue;
    }
    if (strcmp(v, "shm") == 0) {
      /* the default: drop the option and go on */
      memmove(&argv[i], &argv[i + take], (size_t)(*argc - i - take + 1) * sizeof *argv);
      *argc -= take;
      return -1;
    }
    if (strcmp(v, "redis") != 0)
      return cli_usage_error("bench", "bad --backend '%s' (shm or redis)", v);
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      cli_error("bench", -errno, "cannot find this program");
      return CLI_FAIL;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
      *slash = 0;
    snprintf(path, sizeof path, "%s/%s", self, REDIS_BENCH);
    argv[0] = path;
    execv(path, argv);
    cli_error("bench", -errno,
              "the Redis benchmark (" REDIS_BENCH ") is not built: it needs libhiredis-dev");
    return CLI_FAIL;
  }
  return -1;
}
