/*
 * bench.h: the pieces of `ferry bench` (tools/bench*.c) and its entry point.
 * The measurement rules live in bench_harness.h [bench-rules].
 */
#ifndef FERRY_TOOLS_BENCH_H
#define FERRY_TOOLS_BENCH_H

#include "bench_harness.h"

/* `ferry bench queue|pipe|bus [options]`; argv[0] is "bench". */
int ferry_tool_bench(int argc, char **argv);
extern const char cli_help_bench[];

/* `--backend redis` runs ferry-bench-redis (bench/redis_queue.c) in this
 * process's place; `--backend shm` is removed from argv. Returns -1 to go
 * on with the shared-memory benchmarks, or an exit status. */
int ferry_tool_bench_backend(int *argc, char **argv);

/* Built into the ferry command: NULL-terminated lists. */
extern const bh_impl *const bench_builtin_queue[];
extern const bh_impl *const bench_builtin_pipe[];

/* ferry's own implementations (tools/bench_ferry.c). */
extern const bh_impl bench_ferry_queue_copy, bench_ferry_queue_batch, bench_ferry_queue_zc;
extern const bh_impl bench_ferry_pipe;

#endif /* FERRY_TOOLS_BENCH_H */
