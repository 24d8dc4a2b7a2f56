#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""heap_manager.py: the project's own Python version of the usual design for
a shared priority heap, as the baseline of `ferry bench heap`: a heapq
min-heap of (key, record) tuples kept in a multiprocessing BaseManager server process, behind a lock,
with N worker processes that each pop a record, give it a new key
(length*width*height of new dimensions) and push it back, through the
manager's proxy. Counts pop+push pairs over --seconds (the clock starts once
every worker is running).

Prints one JSON line:
{"impl":"python-manager","case":"heap_pop_push","workers":2,"ops_per_s":..}
"""
import argparse
import heapq
import json
import random
import threading
import time
from multiprocessing import Process, Value
from multiprocessing.managers import BaseManager


class SharedHeap:
    def __init__(self):
        self.lock = threading.Lock()
        self.data = []

    def sync(self, records):
        with self.lock:
            self.data = [(r[0] * r[1] * r[2], r) for r in records]
            heapq.heapify(self.data)

    def pop(self):
        with self.lock:
            return heapq.heappop(self.data)[1] if self.data else None

    def push(self, r):
        with self.lock:
            heapq.heappush(self.data, (r[0] * r[1] * r[2], r))

    def size(self):
        return len(self.data)


class HeapManager(BaseManager):
    pass


HeapManager.register("SharedHeap", SharedHeap)


def worker(heap, go, stop, ready, count):
    rng = random.Random()
    with ready.get_lock():
        ready.value += 1
    while not go.value:
        time.sleep(0.0005)
    n = 0
    while not stop.value:
        r = heap.pop()
        if r is None:
            continue
        heap.push((rng.randint(1, 100), rng.randint(1, 100), rng.randint(1, 100), r[3]))
        n += 1
    with count.get_lock():
        count.value += n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--records", type=int, default=300000)
    a = ap.parse_args()
    m = HeapManager()
    m.start()
    heap = m.SharedHeap()
    rng = random.Random(1)
    heap.sync([(rng.randint(1, 100), rng.randint(1, 100), rng.randint(1, 100), i)
               for i in range(a.records)])
    go, stop, ready, count = Value("i", 0), Value("i", 0), Value("i", 0), Value("q", 0)
    procs = [Process(target=worker, args=(heap, go, stop, ready, count))
             for _ in range(a.workers)]
    for p in procs:
        p.start()
    while ready.value < a.workers:
        time.sleep(0.001)
    t0 = time.monotonic()
    go.value = 1
    time.sleep(a.seconds)
    stop.value = 1
    for p in procs:
        p.join()
    elapsed = time.monotonic() - t0
    m.shutdown()
    print(json.dumps({"impl": "python-manager", "case": "heap_pop_push", "workers": a.workers,
                      "ops_per_s": round(count.value / elapsed, 2)}, separators=(",", ":")),
          flush=True)


if __name__ == "__main__":
    main()
