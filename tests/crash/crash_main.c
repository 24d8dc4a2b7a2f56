/* SPDX-License-Identifier: MIT */
/*
 * crash_main.c: the crash-point driver (see crash.h). For every point the
 * library's test build contains, at the first pass and at a later one, it
 * forks a victim armed to die there, waits for it, and runs the
 * scenario's check. It fails if any point has no scenario, if a point was
 * never reached, or if a check fails; it prints how many points exist and
 * how many it killed at.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crash.h"
#include "crash.h"

extern const struct crash_scenario *const __start_crash_scen[], *const __stop_crash_scen[];

/* Passes to die at: the first, and one well inside a loop of operations. */
static const uint64_t hits[] = {1, 7};

static const struct crash_scenario *scenario_for(const char *point)
{
  const struct crash_scenario *best = NULL;
  for (const struct crash_scenario *const *s = __start_crash_scen; s < __stop_crash_scen; s++) {
    size_t n = strlen((*s)->prefix);
    if (strncmp(point, (*s)->prefix, n) == 0 && (!best || n > strlen(best->prefix)))
      best = *s;
  }
  return best;
}

/* One run: returns 1 if the victim died at the point, 0 if it finished
 * without reaching it, -1 on a failure. */
static int run_once(const struct crash_scenario *sc, const char *point, uint64_t hit, void *ctx)
{
  int before = ft_failures;
  memset(ctx, 0, CRASH_CTX_SIZE);
  sc->setup(ctx);
  if (ft_failures > before)
    return -1;
  pid_t pid = ft_fork();
  if (pid == 0) {
    ferry__crash_arm(point, hit);
    sc->victim(ctx);
    ferry__crash_arm(NULL, 0);
    ft_child_exit();
  }
  int st = ft_wait(pid, 60000);
  int died = st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
  if (st != -1 && !died && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
    ft_fail(__FILE__, __LINE__, "%s@%llu: victim failed (status 0x%x)", point,
            (unsigned long long)hit, st);
  sc->check(ctx);
  sc->teardown(ctx);
  if (ft_failures > before) {
    fprintf(stderr, "  ... after a death at %s (pass %llu)\n", point, (unsigned long long)hit);
    return -1;
  }
  return died;
}

static void test_every_point(void)
{
  size_t n;
  struct ferry__crash_point *pts = ferry__crash_points(&n);
  void *ctx = mmap(NULL, CRASH_CTX_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(ctx != MAP_FAILED);
  size_t points = 0, killed_at = 0, kills = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = pts[i].name;
    if (!name[0])
      continue;
    /* A point compiled into more than one place appears more than once:
     * arming by name covers them all, so count each name once. */
    bool seen = false;
    for (size_t j = 0; j < i; j++)
      seen |= strcmp(pts[j].name, name) == 0;
    if (seen)
      continue;
    points++;
    const struct crash_scenario *sc = scenario_for(name);
    if (!sc) {
      ft_fail(__FILE__, __LINE__, "crash point %s has no scenario", name);
      continue;
    }
    bool any = false, failed = false;
    for (size_t h = 0; h < sizeof hits / sizeof hits[0] && !failed; h++) {
      int r = run_once(sc, name, hits[h], ctx);
      failed = r < 0;
      kills += r > 0;
      any |= r > 0;
    }
    if (any)
      killed_at++;
    else if (!failed)
      ft_fail(__FILE__, __LINE__, "crash point %s was never reached by its scenario", name);
  }
  printf("crash points: %zu in the library, killed at %zu of them (%zu kills)\n", points,
         killed_at, kills);
  munmap(ctx, CRASH_CTX_SIZE);
}

int main(void)
{
  RUN(test_every_point);
  return ft_done();
}
