/* SPDX-License-Identifier: MIT */
/*
 * heap.c: `ferry demo heap`, a refreshed priority heap shared by worker
 * processes, done with ferry's shared heap. 300,000 box records keyed by volume (length * width * height); the
 * demo process is the writer, refreshing the whole heap with replace_all
 * every --refresh seconds from its own copy of the boxes, each refresh
 * tagged with a new generation; N worker processes pop a box, "process"
 * it (new dimensions, hence a new key) and push it back.
 *
 * No record lost or duplicated [demo-heap-gen]: a worker that pushed back
 * a box popped from the set a refresh replaced would leave the box twice.
 * So before a refresh the writer announces generation g + 1 (gen, release)
 * and waits until every worker has acknowledged it (ack[w], acquire); a
 * worker acknowledges only between two pop-process-push rounds, and from
 * then on drops any box older than the generation it acknowledged instead
 * of pushing it back (it belongs to the set about to be replaced). Only
 * then does the writer swap in the new set. At the end workers finish their
 * round (push back what they hold) and exit; the demo then validates the
 * heap and drains it: exactly one box per id, all of the last generation,
 * popping in key order.
 *
 * The shared control block (gen, acks, stop, counters) is an anonymous
 * shared mapping inherited across fork(); the heap is opened by name.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"

const char cli_help_demo_heap[] =
    "usage: ferry demo heap [--records N] [--workers N] [--seconds S] [--refresh S]\n"
    "                       [--json]\n"
    "\n"
    "A shared priority heap under load: N records (default 300000) keyed by\n"
    "volume (length*width*height); the demo refreshes the whole heap with\n"
    "replace_all every --refresh seconds (default 0.2) while --workers\n"
    "processes (default 2) pop a record, give it new dimensions and push it\n"
    "back, for --seconds (default 2). Then it checks that the heap holds\n"
    "exactly one record per id, all of the latest refresh, that validate()\n"
    "passes and that records pop in key order, and prints pop+push pairs/s\n"
    "(--json: one JSON object). Exit 0 only if all of it holds.\n";

#define VERB "demo heap"
#define MAX_WORKERS 64
#define POP_SLICE_NS (10 * FERRY_MSEC)
#define ACK_TIMEOUT_NS (10 * FERRY_SEC)

/* A record's payload. */
struct box {
  uint32_t id, gen;
  uint16_t l, w, h, pad;
};

struct ctl {
  _Alignas(64) _Atomic uint32_t gen; /* the generation workers must keep */
  _Atomic uint32_t stop;
  _Atomic uint32_t live; /* the generation the heap holds (after replace_all) */
  _Alignas(64) struct {
    _Atomic uint32_t ack; /* the generation worker w acknowledged */
    _Atomic uint32_t ok;  /* it started (1) or failed (2) */
    uint64_t pairs, dropped;
    char pad[40];
  } w[MAX_WORKERS];
};

static uint64_t mix(uint64_t x)
{
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  return x ^ (x >> 33);
}

/* Dimensions 1..100 from a seed: the deterministic generator. */
static void dims(uint64_t seed, struct box *b)
{
  uint64_t r = mix(seed);
  b->l = (uint16_t)(1 + r % 100);
  b->w = (uint16_t)(1 + (r >> 16) % 100);
  b->h = (uint16_t)(1 + (r >> 32) % 100);
}

static ferry_heap_key key_of(const struct box *b)
{
  ferry_heap_key k;
  k.i64 = (int64_t)b->l * b->w * b->h;
  return k;
}

static void worker(const char *name, struct ctl *c, int w)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  ferry_heap *h;
  if (ferry_heap_open(name, NULL, &h) != 0) {
    atomic_store(&c->w[w].ok, 2);
    _exit(2);
  }
  atomic_store(&c->w[w].ok, 1);
  uint64_t pairs = 0, dropped = 0;
  int status = 0;
  /* acquire: pairs with the writer's release store of gen */
  while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
    uint32_t g = atomic_load_explicit(&c->gen, memory_order_acquire);
    /* release: the round before is done; pairs with the writer's acquire load of ack */
    atomic_store_explicit(&c->w[w].ack, g, memory_order_release);
    /* acquire: pairs with the writer's release store of live. Waiting
     * here, rather than popping boxes about to be replaced, wastes no work. */
    while (atomic_load_explicit(&c->live, memory_order_acquire) < g &&
           !atomic_load_explicit(&c->stop, memory_order_acquire)) {
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    }
    struct box b;
    ferry_heap_key k;
    ssize_t n = ferry_heap_pop(h, &k, &b, sizeof b, POP_SLICE_NS);
    if (n == -ETIMEDOUT || n == -EAGAIN)
      continue;
    if (n != (ssize_t)sizeof b || k.i64 != key_of(&b).i64) {
      status = 3;
      break;
    }
    if (b.gen < g) {
      dropped++; /* from a set being replaced [demo-heap-gen] */
      continue;
    }
    dims(((uint64_t)b.id << 32) ^ (pairs * 2654435761u) ^ b.l ^ ((uint64_t)w << 20), &b);
    if (ferry_heap_push(h, key_of(&b), &b, sizeof b, FERRY_FOREVER) != 0) {
      status = 4;
      break;
    }
    pairs++;
  }
  c->w[w].pairs = pairs;
  c->w[w].dropped = dropped;
  ferry_heap_close(h);
  _exit(status);
}

/* The writer's refresh: every box from its own copy, tagged gen. */
static int refresh(ferry_heap *h, struct ctl *c, int nworkers, struct box *boxes,
                   ferry_heap_record *recs, size_t n, uint32_t gen)
{
  /* release: publishes the new generation; pairs with the workers' acquire loads */
  atomic_store_explicit(&c->gen, gen, memory_order_release);
  int64_t until = cli_now_ns() + ACK_TIMEOUT_NS;
  for (int w = 0; w < nworkers; w++)
    /* acquire: pairs with the worker's release store of ack */
    while (atomic_load_explicit(&c->w[w].ack, memory_order_acquire) < gen) {
      if (cli_now_ns() > until)
        return -ETIMEDOUT;
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  for (size_t i = 0; i < n; i++) {
    boxes[i].gen = gen;
    recs[i] = (ferry_heap_record){key_of(&boxes[i]), &boxes[i], sizeof boxes[i]};
  }
  int rc = ferry_heap_replace_all(h, recs, n, FERRY_FOREVER);
  /* release: the new set is in; pairs with the workers' acquire load of live */
  if (rc == 0)
    atomic_store_explicit(&c->live, gen, memory_order_release);
  return rc;
}

/* Drains the heap and checks it: one box per id, all of generation gen, in
 * key order. Returns the number of problems. */
static uint64_t verify(ferry_heap *h, size_t n, uint32_t gen)
{
  uint8_t *seen = calloc(n, 1);
  if (!seen)
    return 1;
  uint64_t bad = 0, got = 0;
  int64_t last = INT64_MIN;
  struct box b;
  ferry_heap_key k;
  ssize_t r;
  while ((r = ferry_heap_pop(h, &k, &b, sizeof b, 0)) >= 0) {
    got++;
    if (r != (ssize_t)sizeof b || b.id >= n || b.gen != gen || seen[b.id]++ ||
        k.i64 != key_of(&b).i64 || k.i64 < last) {
      if (bad++ < 5)
        fprintf(stderr, "ferry: demo heap: bad record: id %" PRIu32 " gen %" PRIu32
                        " (want %" PRIu32 ") key %" PRId64 "\n",
                b.id, b.gen, gen, k.i64);
    }
    last = k.i64;
  }
  if (got != n) {
    fprintf(stderr, "ferry: demo heap: %" PRIu64 " records at the end, want %zu\n", got, n);
    bad++;
  }
  free(seen);
  return bad;
}

int demo_heap(int argc, char **argv)
{
  uint64_t records = 300000, nworkers = 2;
  int64_t seconds = 2 * FERRY_SEC, every = 200 * FERRY_MSEC;
  bool json = false;
  int rc;
  cli_opt opts[] = {
      CLI_U64("--records", &records, 1, 10000000),
      CLI_U64("--workers", &nworkers, 1, MAX_WORKERS),
      CLI_SECONDS("--seconds", &seconds, 0),
      CLI_SECONDS("--refresh", &every, 1e-9),
      CLI_JSON(&json),
  };
  const cli_spec spec = {VERB, cli_help_demo_heap, opts, 5, NULL, 0, 0, 0};
  size_t nargs;
  CLI_PARSE_OR_RETURN(&spec, argc, argv, &nargs);
  size_t n = (size_t)records;
  int nw = (int)nworkers;
  char name[FERRY_NAME_MAX + 1];
  snprintf(name, sizeof name, "demo-heap-%ld", (long)getpid());
  struct ctl *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  struct box *boxes = malloc(n * sizeof *boxes);
  ferry_heap_record *recs = malloc(n * sizeof *recs);
  if (c == MAP_FAILED || !boxes || !recs) {
    cli_error(VERB, -ENOMEM, "setting up");
    return CLI_FAIL;
  }
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < n; i++) {
    boxes[i] = (struct box){.id = (uint32_t)i};
    dims(i, &boxes[i]);
  }
  ferry_heap_options o;
  ferry_heap_options_init(&o);
  o.capacity = records;
  o.flags = FERRY_HEAP_FIXED;
  o.max_payload = sizeof(struct box);
  o.region.flags = FERRY_REGION_UNLINK_ON_LAST_CLOSE;
  ferry_heap *h;
  if ((rc = ferry_heap_create(name, &o, &h)) != 0) {
    cli_error(VERB, rc, "%s", name);
    return CLI_FAIL;
  }
  uint32_t gen = 1;
  atomic_store(&c->gen, gen);
  rc = refresh(h, c, 0, boxes, recs, n, gen);
  pid_t kids[MAX_WORKERS];
  int started = 0;
  fflush(NULL);
  for (; rc == 0 && started < nw; started++) {
    atomic_store(&c->w[started].ack, gen);
    if ((kids[started] = fork()) < 0) {
      rc = -errno;
      break;
    }
    if (kids[started] == 0)
      worker(name, c, started);
  }
  int64_t t0 = cli_now_ns(), next = t0 + every, end = t0 + seconds;
  uint64_t refreshes = 0;
  while (rc == 0 && cli_now_ns() < end) {
    int64_t t = cli_now_ns(), wake = next < end ? next : end;
    if (t < wake) {
      struct timespec ts = {(time_t)((wake - t) / FERRY_SEC), (long)((wake - t) % FERRY_SEC)};
      nanosleep(&ts, NULL);
      continue;
    }
    if ((rc = refresh(h, c, started, boxes, recs, n, ++gen)) == 0)
      refreshes++;
    next += every;
  }
  /* release: pairs with the workers' acquire load of stop */
  atomic_store_explicit(&c->stop, 1, memory_order_release);
  int failed = 0;
  for (int w = 0; w < started; w++) {
    int st;
    while (waitpid(kids[w], &st, 0) < 0 && errno == EINTR)
      ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "ferry: demo heap: worker %d failed (status %d)\n", w, st);
      failed++;
    }
  }
  double secs = (double)(cli_now_ns() - t0) / 1e9;
  uint64_t pairs = 0, dropped = 0;
  for (int w = 0; w < started; w++)
    pairs += c->w[w].pairs, dropped += c->w[w].dropped;
  int vrc = ferry_heap_validate(h, FERRY_FOREVER);
  uint64_t bad = rc == 0 ? verify(h, n, gen) : 1;
  if (rc)
    cli_error(VERB, rc, "%s", name);
  else if (vrc)
    cli_error(VERB, vrc, "%s: validate", name);
  bool ok = rc == 0 && vrc == 0 && bad == 0 && failed == 0;
  if (json) {
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_object(&j);
    cli_json_key(&j, "records");
    cli_json_uint(&j, n);
    cli_json_key(&j, "workers");
    cli_json_int(&j, started);
    cli_json_key(&j, "seconds");
    cli_json_double(&j, secs);
    cli_json_key(&j, "refreshes");
    cli_json_uint(&j, refreshes);
    cli_json_key(&j, "pairs");
    cli_json_uint(&j, pairs);
    cli_json_key(&j, "pairs_per_s");
    cli_json_double(&j, (double)pairs / secs);
    cli_json_key(&j, "stale_dropped");
    cli_json_uint(&j, dropped);
    cli_json_key(&j, "generation");
    cli_json_uint(&j, gen);
    cli_json_key(&j, "verified");
    cli_json_bool(&j, ok);
    cli_json_end(&j);
    cli_json_finish(&j);
  } else {
    printf("demo heap: %zu records, %d workers, %.2f s, %" PRIu64 " refreshes\n", n, started,
           secs, refreshes);
    printf("  %" PRIu64 " pop+push pairs: %.0f pairs/s (%" PRIu64 " stale pops dropped)\n", pairs,
           (double)pairs / secs, dropped);
    printf("  verify: %s (one record per id, generation %" PRIu32 ", key order, validate %s)\n",
           ok ? "ok" : "FAILED", gen, vrc == 0 ? "ok" : "FAILED");
  }
  ferry_heap_close(h);
  ferry_unlink(name); /* already gone (unlink on last close) unless a worker lingers */
  munmap(c, sizeof *c);
  free(boxes);
  free(recs);
  return ok ? CLI_OK : CLI_FAIL;
}
