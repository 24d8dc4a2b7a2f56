#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Several producers and consumers sharing a priority queue of task records.

Producers push task records (a dict with an id, a priority and data) into a
shared heap keyed by priority: "high" before "medium" before "low", and
first come, first served within a priority. Consumers pop the most urgent
task, process it and put the result on a results queue.

The main process checks that every task was processed exactly once with the
right result, and that while all tasks were waiting, they came out in
priority order. Exit status 0 if so.

    python3 priority_tasks.py --producers 2 --consumers 3 --tasks 200
"""

import argparse
import multiprocessing as mp
import random
import sys

import ferry

RANK = {"high": 0, "medium": 1, "low": 2}


def priority(task):
    return RANK[task["priority"]]


def producer(heap, pid, n, seed):
    rng = random.Random(seed)
    for i in range(n):
        heap.push({"task_id": "P%d-T%d" % (pid, i), "data": rng.randint(1, 100),
                   "priority": rng.choice(list(RANK))})


def consumer(heap, results, go):
    go.wait()
    order = []
    while True:
        try:
            task = heap.pop(timeout=0.5)
        except ferry.Empty:
            break
        order.append(RANK[task["priority"]])
        results.put({"task_id": task["task_id"], "result": task["data"] * 2, "data": task["data"]})
    results.put(("order", order))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=200, help="per producer")
    args = ap.parse_args()

    heap = ferry.Heap(key=priority)
    results = ferry.Queue()
    go = ferry.Event()
    producers = [mp.Process(target=producer, args=(heap, p, args.tasks, p)) for p in range(args.producers)]
    consumers = [mp.Process(target=consumer, args=(heap, results, go)) for _ in range(args.consumers)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()
    go.set()  # everything is queued: consumers start, most urgent first
    done, orders = {}, []
    while len(orders) < args.consumers:
        r = results.get(timeout=60)
        if isinstance(r, tuple):
            orders.append(r[1])
        else:
            done[r["task_id"]] = r
    for c in consumers:
        c.join()

    want = {"P%d-T%d" % (p, i) for p in range(args.producers) for i in range(args.tasks)}
    right = set(done) == want and all(r["result"] == r["data"] * 2 for r in done.values())
    # each consumer's pops never go back to a more urgent priority
    in_order = all(o == sorted(o) for o in orders)
    print("%d tasks by %d producers, %d consumers: all processed once with the right result: %s; "
          "popped in priority order: %s" % (len(want), args.producers, args.consumers, right, in_order))
    heap.close()
    results.close()
    return 0 if right and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
