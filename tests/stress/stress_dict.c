/* SPDX-License-Identifier: MIT */
/*
 * stress_dict.c: long tier of the dict. W writers set/delete/cas keys with
 * self-checking values, R readers get and iterate, and a chaos loop
 * SIGKILLs writers and readers at random instants and replaces them.
 * Duration: ft_stress_seconds(2.0). At the end the dict must validate,
 * every entry must be whole, and the size must match the iteration.
 * Prints get and set rates of a clean phase (informational, not asserted).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/dict.h"
#include "fixtures.h"
#include "test.h"

enum { NK = 4096, VMAX = 64 };

struct shared {
  _Atomic uint64_t ops[2]; /* gets, sets */
  _Atomic int bad;
};

static void writer(const char *name, struct shared *sh, uint64_t seed)
{
  ferry_dict *d;
  if (ferry_dict_open(name, NULL, &d) != 0)
    _exit(2);
  uint64_t rng = seed;
  char k[16];
  uint8_t v[VMAX];
  for (uint32_t ver = 1;; ver++) {
    uint32_t id = (uint32_t)(ft_rand(&rng) % NK);
    size_t kl = (size_t)snprintf(k, sizeof k, "k%u", id);
    int op = (int)(ft_rand(&rng) % 8);
    if (op == 0) {
      ferry_dict_del(d, k, kl, FT_TIMEOUT);
    } else if (op == 1) {
      uint8_t old[VMAX];
      ssize_t n = ferry_dict_get(d, k, kl, old, sizeof old);
      if (n >= 0)
        ferry_dict_cas(d, k, kl, old, (size_t)n, v, ft_payload_make(v, sizeof v, id, ver), FT_TIMEOUT);
    } else {
      int rc = ferry_dict_set(d, k, kl, v, ft_payload_make(v, sizeof v, id, ver), FT_TIMEOUT);
      if (rc && rc != -ENOSPC) {
        atomic_store(&sh->bad, 1);
        _exit(3);
      }
    }
    atomic_fetch_add_explicit(&sh->ops[1], 1, memory_order_relaxed);
  }
}

static void reader(const char *name, struct shared *sh, uint64_t seed)
{
  ferry_dict *d;
  if (ferry_dict_open(name, NULL, &d) != 0)
    _exit(2);
  uint64_t rng = seed;
  char k[16];
  uint8_t v[VMAX];
  for (uint64_t i = 0;; i++) {
    if (i % 100000 == 99999) { /* now and then a full cursor pass */
      uint64_t cur = 0;
      size_t kl, vl;
      char kk[17];
      int rc;
      while ((rc = ferry_dict_next(d, &cur, kk, 16, &kl, v, sizeof v, &vl)) == 1) {
        kk[kl] = 0;
        unsigned id;
        if (sscanf(kk, "k%u", &id) != 1 || !ft_payload_is(v, vl, id)) {
          atomic_store(&sh->bad, 1);
          _exit(4);
        }
      }
    }
    uint32_t id = (uint32_t)(ft_rand(&rng) % NK);
    size_t kl = (size_t)snprintf(k, sizeof k, "k%u", id);
    ssize_t n = ferry_dict_get(d, k, kl, v, sizeof v);
    if (n >= 0 && !ft_payload_is(v, (size_t)n, id)) {
      atomic_store(&sh->bad, 1);
      _exit(5);
    }
    atomic_fetch_add_explicit(&sh->ops[0], 1, memory_order_relaxed);
  }
}

enum { W = 2, R = 2 };

static void spawn(pid_t *pids, int i, const char *name, struct shared *sh, uint64_t seed)
{
  if ((pids[i] = ft_fork()) == 0) {
    if (i < W)
      writer(name, sh, seed);
    else
      reader(name, sh, seed);
  }
}

static void test_chaos(void)
{
  char name[64];
  ft_name(name, sizeof name, "ds");
  ferry_dict_options o;
  ferry_dict_options_init(&o);
  o.capacity = 1024; /* grows to NK while in use */
  o.max_capacity = NK + 512;
  o.max_key = 16;
  o.max_value = VMAX;
  o.region.max_participants = 32;
  ferry_dict *d;
  REQUIRE_OK(ferry_dict_create(name, &o, &d));
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(sh != MAP_FAILED);
  pid_t pids[W + R];
  for (int i = 0; i < W + R; i++)
    spawn(pids, i, name, sh, 10 + (uint64_t)i);
  usleep(200 * 1000);
  uint64_t g0 = atomic_load(&sh->ops[0]), s0 = atomic_load(&sh->ops[1]);
  int64_t t0 = ft_ms();
  usleep(500 * 1000);
  uint64_t g1 = atomic_load(&sh->ops[0]), s1 = atomic_load(&sh->ops[1]);
  double dt = (double)(ft_ms() - t0) / 1000.0;
  printf("  clean: %d readers %.0f gets/s, %d writers %.0f writes/s\n", R,
         (double)(g1 - g0) / dt, W, (double)(s1 - s0) / dt);

  double secs = ft_stress_seconds(2.0);
  uint64_t rng = 23;
  int kills = 0;
  int64_t end = ft_ms() + (int64_t)(secs * 1000);
  while (ft_ms() < end) {
    usleep((useconds_t)(ft_rand(&rng) % 4000));
    int i = (int)(ft_rand(&rng) % (W + R));
    kill(pids[i], SIGKILL);
    int st = ft_wait(pids[i], 10000);
    CHECK(WIFSIGNALED(st));
    kills++;
    spawn(pids, i, name, sh, 1000 + (uint64_t)kills);
  }
  uint64_t before = atomic_load(&sh->ops[1]);
  int64_t wait_end = ft_ms() + 5000;
  while (atomic_load(&sh->ops[1]) == before && ft_ms() < wait_end)
    usleep(1000);
  CHECK(atomic_load(&sh->ops[1]) > before);
  for (int i = 0; i < W + R; i++) {
    kill(pids[i], SIGKILL);
    ft_wait(pids[i], 10000);
  }
  CHECK(!atomic_load(&sh->bad));
  CHECK_OK(ferry_dict_validate(d, FT_TIMEOUT));
  uint64_t cur = 0;
  size_t kl, vl, n = 0;
  char kk[17];
  uint8_t v[VMAX];
  int rc;
  while ((rc = ferry_dict_next(d, &cur, kk, 16, &kl, v, sizeof v, &vl)) == 1) {
    kk[kl] = 0;
    unsigned id;
    CHECK(sscanf(kk, "k%u", &id) == 1 && ft_payload_is(v, vl, id));
    n++;
  }
  CHECK_RC(rc, 0);
  CHECK_EQ(n, ferry_dict_size(d));
  ferry_dict_stats s;
  CHECK_OK(ferry_dict_stats_get(d, &s));
  printf("  chaos: %.1f s, kills=%d, size=%zu, slots_used=%llu, repairs=%llu\n", secs, kills, n,
         (unsigned long long)s.slots_used, (unsigned long long)s.repairs);
  munmap(sh, sizeof *sh);
  ferry_dict_close(d);
  CHECK_OK(ferry_unlink(name));
}

int main(void)
{
  RUN(test_chaos);
  return ft_done();
}
