/* SPDX-License-Identifier: MIT */
/*
 * harness.h: the one measurement harness every benchmarked
 * implementation runs under, so that ferry and its peers are timed,
 * verified and reported alike.
 *
 * It is compiled into ferry-bench (the built-in implementations)
 * and into every C/C++ peer program under bench/peers/ (CMake targets),
 * which is why it depends on libc only and has C++ guards. The Python peer
 * (bench/peers/py_mp.py) re-implements the same rules; keep them in step.
 *
 * The rules [bench-rules]:
 *  - Every message is msg_bytes long. Bytes 0..7 hold the producer's
 *    sequence number (little-endian, from 0), bytes 8..11 the producer id.
 *    Sequence BH_END_SEQ is an end marker: each producer sends one per
 *    consumer after its last data message.
 *  - Consumers verify every message: length, producer id, and sequence
 *    (exactly last+1 with one consumer; strictly increasing per producer
 *    with several). A consumer stops after P end markers. A failure kills
 *    the case loudly (the worker exits with BH_EXIT_VERIFY and a message).
 *  - Workers are fork()ed children. They set up, report ready, and wait for
 *    "go"; the parent then fixes one absolute timeline for all of them:
 *    start, measure (= start + warmup) and deadline (= measure + seconds).
 *    Producers send until the deadline. A consumer counts the messages it
 *    receives from measure on, and stamps the time of its last message.
 *    Throughput = counted messages / (last consumer's last message -
 *    measure). After the run, received == sent is checked (no loss).
 *  - Ping-pong: the pinger stamps a message, sends it, waits for the echo,
 *    checks its sequence, and records the round trip (CLOCK_MONOTONIC) when
 *    it started after measure. Percentiles are nearest-rank.
 */
#ifndef FERRY_BENCH_HARNESS_H
#define FERRY_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BH_HDR_BYTES 12        /* sequence (8) + producer id (4) */
#define BH_MIN_MSG 16          /* smallest message the harness accepts */
#define BH_END_SEQ UINT64_MAX  /* the end marker's sequence */
#define BH_MAX_WORKERS 16      /* producers + consumers */
#define BH_EXIT_VERIFY 3       /* a worker's exit status on a verification failure */
#define BH_EXIT_ERROR 4        /* a worker's exit status on any other failure */
#define BH_NOTE_MAX 200

enum bh_kind { BH_QUEUE = 0, BH_PIPE = 1 };
enum bh_status { BH_OK = 0, BH_SKIPPED = 1, BH_FAILED = 2 };

typedef struct bh_case {
  int kind;               /* BH_QUEUE or BH_PIPE */
  size_t msg_bytes;
  int producers;          /* pipe: 1 (the pinger) */
  int consumers;          /* pipe: 1 (the ponger) */
  double seconds;         /* measured length */
  double warmup;          /* seconds before measuring */
  size_t capacity_bytes;  /* buffer capacity to give the transport, where it has one */
} bh_case;

/* Capacity in messages for a case: capacity_bytes / msg_bytes, at least 2. */
size_t bh_capacity_msgs(const bh_case *c);

typedef struct bh_result {
  int status;              /* BH_OK, BH_SKIPPED or BH_FAILED */
  char note[BH_NOTE_MAX];  /* why skipped or failed; or a remark (capacity used) */
  uint64_t msgs;           /* counted messages (round trips for pipe) */
  double seconds;          /* measured window */
  double msgs_per_s, mb_per_s;
  double p50_us, p99_us, p999_us; /* pipe only */
} bh_result;

typedef struct bh_worker bh_worker;

/*
 * One implementation. setup() runs in the parent before the workers fork
 * (create the transport there; its state is inherited); it returns 0, or
 * BH_SKIPPED with a reason in why, or BH_FAILED. Workers return 0 or exit.
 * teardown() runs in the parent after all workers ended.
 */
typedef struct bh_impl {
  const char *name;
  int (*setup)(const bh_case *c, void **state, char *why, size_t why_cap);
  int (*producer)(void *state, bh_worker *w); /* queue */
  int (*consumer)(void *state, bh_worker *w); /* queue */
  int (*ping)(void *state, bh_worker *w);     /* pipe */
  int (*pong)(void *state, bh_worker *w);     /* pipe */
  void (*teardown)(void *state, const bh_case *c);
} bh_impl;

/* Runs one case of impl to the end and fills *r. Never exits. */
void bh_run(const bh_impl *impl, const bh_case *c, bh_result *r);

/* ---- inside a worker ---- */

const bh_case *bh_worker_case(const bh_worker *w);
int bh_worker_id(const bh_worker *w); /* producer or consumer index */
/* Reports ready and waits for the parent's go. */
void bh_ready(bh_worker *w);
/* Producer: false once the deadline passed (reads the clock every few calls). */
bool bh_running(bh_worker *w);
/* Producer: writes the next sequence number and the id into msg. */
void bh_stamp(bh_worker *w, void *msg);
/* Producer: writes an end marker into msg. */
void bh_stamp_end(bh_worker *w, void *msg);
/* Consumer: verifies one received message; returns true when the consumer
 * has all its end markers and must stop. Exits loudly on a mismatch. */
bool bh_take(bh_worker *w, const void *msg, size_t len);
/* Consumer: true once every producer has returned (for transports whose
 * end markers may go astray: see the zmq peer). */
bool bh_producers_done(const bh_worker *w);
/* Consumer that ends by the transport's own end-of-stream instead of end
 * markers (ferry's -EPIPE; the zmq peer): marks the consumer finished, and
 * with stamp_now the current time as its last message's. */
void bh_end(bh_worker *w, bool stamp_now);
/* Reads every byte of a message (zero-copy consumers; defeats laziness). */
void bh_read_all(const void *msg, size_t len);
/* Pinger: true while the ping-pong should go on. */
bool bh_ping_running(bh_worker *w);
/* Pinger: checks the echo of the message stamped at t0_ns and records the
 * round trip. */
void bh_ping_record(bh_worker *w, const void *echo, size_t len, uint64_t t0_ns);
/* Ponger: verifies a ping; true if it is the end marker (stop). */
bool bh_pong_take(bh_worker *w, const void *msg, size_t len);
/* Ends the worker with a failure message (loud, on stderr too). */
void bh_fail(bh_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bh_now_ns(void);

/* ---- helpers for the runner and the peer programs ---- */

/*
 * Load [bench-load]: n busy processes (each a tight loop in its own
 * process, not pinned) that compete for the CPUs while a case runs, for
 * every implementation alike. bh_load_start() forks them into pids[0..n)
 * and returns 0, or -errno with none left running. Each one dies with
 * the process that started it (PR_SET_PDEATHSIG, and it checks its parent
 * as it spins), so an interrupted benchmark leaves none behind.
 * bh_load_stop() kills and reaps them. BH_LOAD_MAX bounds n.
 */
#define BH_LOAD_MAX 64
int bh_load_start(int n, int *pids);
void bh_load_stop(int n, const int *pids);

/* Nearest-rank percentile q (0..1) of n sorted values. */
uint64_t bh_percentile(const uint64_t *sorted, size_t n, double q);
/* Prints r as one JSON object line (the peer programs' output). */
void bh_print_result(const bh_result *r);
/*
 * The main() of a peer program: parses
 *   queue|pipe --msg-bytes N [--producers P] [--consumers C] [--seconds S]
 *              [--warmup W] [--capacity BYTES]
 * runs the case with impl and prints the result line. Returns the exit status.
 */
int bh_peer_main(int argc, char **argv, const bh_impl *impl);

#ifdef __cplusplus
}
#endif

#endif /* FERRY_BENCH_HARNESS_H */
