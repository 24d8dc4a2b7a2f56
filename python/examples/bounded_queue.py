#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Many producers, many consumers, one bounded queue, and no poison pills.

Producers put work items into a queue of at most --maxsize items (put waits
while it is full); consumers take them as they come. When every producer is
done, the main process calls queue.shutdown(): consumers finish what is
left and then get ferry.ShutDown, instead of each needing a None of its own
re-queued by hand.

Each consumer reports what it processed; the main process checks that every
item was processed exactly once. Exit status 0 if so.

    python3 bounded_queue.py --producers 3 --consumers 4 --items 500
"""

import argparse
import multiprocessing as mp
import sys

import ferry


def producer(q, pid, n):
    for i in range(n):
        q.put(("producer-%d" % pid, i, i * i))  # waits while the queue is full


def consumer(q, done):
    seen = []
    while True:
        try:
            who, i, sq = q.get()
        except ferry.ShutDown:  # shut down and drained: the end
            break
        if sq != i * i:
            raise SystemExit("corrupted item %r" % ((who, i, sq),))
        seen.append((who, i))
    done.put(seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--consumers", type=int, default=4)
    ap.add_argument("--items", type=int, default=500, help="per producer")
    ap.add_argument("--maxsize", type=int, default=5)
    args = ap.parse_args()

    q = ferry.Queue(maxsize=args.maxsize)
    done = ferry.Queue()
    producers = [mp.Process(target=producer, args=(q, p, args.items)) for p in range(args.producers)]
    consumers = [mp.Process(target=consumer, args=(q, done)) for _ in range(args.consumers)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()
    q.shutdown()  # no more puts; consumers drain, then stop
    seen = []
    for _ in consumers:
        seen += done.get(timeout=120)
    for c in consumers:
        c.join()

    want = {("producer-%d" % p, i) for p in range(args.producers) for i in range(args.items)}
    ok = len(seen) == len(want) and set(seen) == want
    print("%d producers, %d consumers, queue of %d: %d items processed, %s"
          % (args.producers, args.consumers, args.maxsize, len(seen),
             "each exactly once" if ok else "WRONG"))
    q.close()
    done.close()
    return 0 if ok and not any(p.exitcode for p in producers + consumers) else 1


if __name__ == "__main__":
    sys.exit(main())
