#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Python peers of `ferry bench pool`: no-op tasks, results in submit
order, one task per hand-over (chunksize=1 / batch_size=1), on N worker
processes. Prints one JSON object: impl, case, workers, tasks, seconds,
tasks_per_s; or, when the peer's module is not installed (joblib), one
with "status": "skipped" and a note. Run by `ferry bench pool` on
/usr/bin/python3.

usage: pool_peers.py --impl pool-imap|executor-map|joblib-loky --workers N --tasks N
"""
import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def noop(x):
    return x


def run(impl, workers, tasks):
    if impl == "pool-imap":
        with mp.Pool(workers) as p:
            list(p.imap(noop, range(workers * 4), chunksize=1))  # warm-up
            t0 = time.perf_counter()
            n = 0
            for r in p.imap(noop, range(tasks), chunksize=1):
                assert r == n
                n += 1
            return time.perf_counter() - t0
    if impl == "executor-map":
        with ProcessPoolExecutor(workers) as ex:
            list(ex.map(noop, range(workers * 4), chunksize=1))
            t0 = time.perf_counter()
            n = 0
            for r in ex.map(noop, range(tasks), chunksize=1):
                assert r == n
                n += 1
            return time.perf_counter() - t0
    if impl == "joblib-loky":
        from joblib import Parallel, delayed  # ImportError: skipped (main)
        with Parallel(n_jobs=workers, batch_size=1, backend="loky") as par:
            par(delayed(noop)(i) for i in range(workers * 4))
            t0 = time.perf_counter()
            out = par(delayed(noop)(i) for i in range(tasks))
            assert out == list(range(tasks))
            return time.perf_counter() - t0
    raise SystemExit("unknown impl " + impl)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=10000)
    a = ap.parse_args()
    try:
        secs = run(a.impl, a.workers, a.tasks)
    except ImportError as e:
        print(json.dumps({"impl": a.impl, "case": "noop_ordered", "status": "skipped",
                          "note": "%s (Debian: python3-joblib)" % e}))
        return
    print(json.dumps({"impl": a.impl, "case": "noop_ordered", "workers": a.workers,
                      "tasks": a.tasks, "seconds": secs, "tasks_per_s": a.tasks / secs}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
