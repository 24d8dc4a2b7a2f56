#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A shared min-heap of records ordered by a key computed from each record,
refreshed by a writer while workers use it.

Records are boxes (length, width, height); the key is the volume. The main
process is the writer: every --refresh seconds it replaces the whole heap
with a new generation of records (replace_all: workers see the old set or
the new one, never a mixture). Workers pop the smallest box, "process" it
(it grows by one in length) and push it back, so its key changes. No
server process: the heap lives in shared memory.

At the end the main process drains the heap and checks that the last
generation is complete (every id exactly once), that its lengths grew
exactly as many times as the workers say they processed its boxes, and that
the heap popped in key order. A box a worker held while the writer replaced
the heap goes back into the new set (as in any design where workers push
back what they popped); the check allows those, each at most once. Exit
status 0 if all holds.

    python3 heap_refresh.py --workers 3 --records 300000 --seconds 3
"""

import argparse
import collections
import multiprocessing as mp
import random
import sys
import time

import ferry

Box = collections.namedtuple("Box", "length width height id gen")


def volume(b):
    return b.length * b.width * b.height


def worker(heap, stop, counts):
    done = collections.Counter()
    while not stop.is_set():
        try:
            b = heap.pop(timeout=0.1)
        except ferry.Empty:
            continue
        heap.push(b._replace(length=b.length + 1))
        done[b.gen] += 1
    counts.put(dict(done))


def generation(gen, n, rng):
    return [Box(rng.randint(1, 10), rng.randint(1, 10), rng.randint(1, 10), i, gen) for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--records", type=int, default=300000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--refresh", type=float, default=1.0)
    args = ap.parse_args()

    rng = random.Random(7)
    # room for the boxes workers hold across a refresh, too
    heap = ferry.Heap(key=volume, capacity=args.records, max_capacity=2 * args.records + 64,
                      max_item=128)
    gens = [generation(0, args.records, rng)]
    heap.replace_all(gens[0])
    stop = ferry.Event()
    counts = ferry.Queue()
    workers = [mp.Process(target=worker, args=(heap, stop, counts)) for _ in range(args.workers)]
    for w in workers:
        w.start()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(min(args.refresh, max(0.0, end - time.monotonic())))
        if time.monotonic() < end:
            gens.append(generation(len(gens), args.records, rng))
            heap.replace_all(gens[-1])  # atomic: the old set goes, the new one comes
    stop.set()
    total = collections.Counter()
    for _ in workers:
        total.update(counts.get(timeout=60))
    for w in workers:
        w.join()

    last = gens[-1]
    g = last[0].gen
    items, stale, keys = [], [], []
    while True:
        try:
            k, b = heap.pop_with_key(block=False)
        except ferry.Empty:
            break
        (items if b.gen == g else stale).append(b)
        keys.append(k)
    complete = sorted(b.id for b in items) == list(range(args.records))
    stale_ok = (len({(b.gen, b.id) for b in stale}) == len(stale)
                and len(stale) <= args.workers * len(gens))
    grown = sum(b.length - last[b.id].length for b in items)
    ordered = keys == sorted(keys)
    ok = complete and stale_ok and ordered and grown == total[g]
    print("%d workers, %d records, %d generations: %d pop+push pairs (%.0f/s); last generation "
          "complete: %s, growth matches: %s, popped in key order: %s, %d boxes carried over a "
          "refresh" % (args.workers, args.records, len(gens), sum(total.values()),
                       sum(total.values()) / args.seconds, complete, grown == total[g], ordered,
                       len(stale)))
    heap.close()
    counts.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
