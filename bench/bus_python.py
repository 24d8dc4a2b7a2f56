#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bus_python.py: the project's own Python version of the usual design
for handing large arrays to analysis processes, as a baseline for `ferry bench bus`: one producer fills three float32 arrays
(1000x1000, 1000x1500, 1000x2000) in one multiprocessing.shared_memory
segment, notifies N consumers through a Condition, and waits (another
Condition plus a shared counter) until all of them are done before it
writes the next batch. Consumers compute mean, std and max of every array
(case compute; the same work as ferry's consumers) or nothing (case
idle). The original scenario's sleep(0.5) and per-batch random generation
are left out so that only the data hand-off is measured: like ferry's side
of `ferry bench bus`, the producer copies one prepared 18 MB batch per
batch. The clock starts once every consumer is running (ferry's starts once
every subscriber is attached) and stops when all have finished the last
batch.

Prints one JSON object per case:
{"impl":"python-mp","case":"compute"|"idle","consumers":3,"batches_per_s":..,"gb_per_s":..}
Run with /usr/bin/python3 (needs Debian's python3-numpy).
"""
import argparse
import json
import time
from multiprocessing import Condition, Process, Value, shared_memory
from operator import mul

import numpy as np

SHAPES = [(1000, 1000), (1000, 1500), (1000, 2000)]
SIZES = [mul(*s) * 4 for s in SHAPES]
TOTAL = sum(SIZES)


def views(shm):
    out, off = [], 0
    for shape, size in zip(SHAPES, SIZES):
        out.append(np.ndarray(shape, dtype=np.float32, buffer=shm.buf[off:off + size]))
        off += size
    return out


def consumer(name, compute, cons_cond, prod_cond, consumed, iteration, running, ready):
    shm = shared_memory.SharedMemory(name=name)
    a1, a2, a3 = views(shm)
    with ready.get_lock():
        ready.value += 1
    expected = -1
    while running.value:
        expected += 1
        with cons_cond:
            cons_cond.wait_for(lambda: not running.value or iteration.value == expected)
        if iteration.value != expected:
            break
        if compute:
            # The same work as ferry's consumers (and the demo's): mean,
            # std and max of every array. The original scenario computes
            # one statistic per array, as an example of work.
            for a in (a1, a2, a3):
                a.mean()
                a.std()
                a.max()
        with prod_cond:
            consumed.value += 1
            prod_cond.notify()
    del a1, a2, a3
    shm.close()


def run(case, n, seconds):
    shm = shared_memory.SharedMemory(create=True, size=TOTAL)
    try:
        cons_cond, prod_cond = Condition(), Condition()
        consumed, iteration, running = Value('i', 0), Value('i', -1), Value('i', 1)
        ready = Value('i', 0)
        procs = [Process(target=consumer, args=(shm.name, case == "compute", cons_cond,
                                                 prod_cond, consumed, iteration, running, ready))
                 for _ in range(n)]
        for p in procs:
            p.start()
        arrs = views(shm)
        rng = np.random.default_rng(1)
        src = [rng.integers(0, 255, s).astype(np.float32) for s in SHAPES]
        deadline = time.monotonic() + 30
        while ready.value < n and time.monotonic() < deadline:
            time.sleep(0.001)
        batches, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            if batches > 0:
                with prod_cond:
                    prod_cond.wait_for(lambda: consumed.value == n)
                consumed.value = 0
            for dst, s in zip(arrs, src):
                dst[:] = s
            with cons_cond:
                iteration.value = batches
                cons_cond.notify_all()
            batches += 1
        with prod_cond:
            prod_cond.wait_for(lambda: consumed.value == n)
        elapsed = time.monotonic() - t0
        with cons_cond:
            running.value = 0
            cons_cond.notify_all()
        for p in procs:
            p.join()
        del arrs
    finally:
        shm.close()
        shm.unlink()
    bps = batches / elapsed
    print(json.dumps({"impl": "python-mp", "case": case, "consumers": n,
                      "batches_per_s": round(bps, 2),
                      "gb_per_s": round(bps * TOTAL / 1e9, 3)},
                     separators=(",", ":")), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--consumers", type=int, default=3)
    ap.add_argument("--case", choices=["compute", "idle", "both"], default="both")
    a = ap.parse_args()
    for case in (["compute", "idle"] if a.case == "both" else [a.case]):
        run(case, a.consumers, a.seconds)


if __name__ == "__main__":
    main()
