#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""One producer, N analysis processes, large float32 arrays shared without a
copy.

The producer fills three arrays (1000x1000, 1000x1500, 1000x2000 by
default) of each batch in place in a slot of the bus and publishes it; every
analysis process reads every batch in place (read-only numpy views),
computes mean, std and max of each array and sends them back on a queue. The
bus runs in lockstep over several slots, so the producer fills batch i+1
while batch i is still being read, and waits only when every slot is still
in use. A dead analysis process is dropped; it never blocks the producer.

The producer checks every result against its own. Exit status 0 if all of
them match.

    python3 bus_analysis.py --consumers 3 --batches 20
"""

import argparse
import sys
import time

import numpy as np

import ferry

SHAPES = {"a": (1000, 1000), "b": (1000, 1500), "c": (1000, 2000)}


def analyse(bus, results, ready):
    sub = ferry.Subscriber(bus)  # joins now: every batch published from here on
    ready.release()
    for frame in sub:
        with frame:
            stats = {k: (float(frame[k].mean()), float(frame[k].std()), float(frame[k].max()))
                     for k in SHAPES}
            results.put((frame.seq, stats))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--consumers", type=int, default=3)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0, help="scale the array shapes")
    ap.add_argument("--slots", type=int, default=4)
    args = ap.parse_args()
    shapes = {k: (max(1, int(r * args.scale)), max(1, int(c * args.scale))) for k, (r, c) in SHAPES.items()}

    import multiprocessing as mp
    bus = ferry.Bus(arrays={k: (s, "float32") for k, s in shapes.items()}, slots=args.slots)
    results = ferry.Queue()
    ready = ferry.Semaphore(0)
    workers = [mp.Process(target=analyse, args=(bus, results, ready)) for _ in range(args.consumers)]
    for w in workers:
        w.start()
    for _ in workers:
        if not ready.acquire(timeout=60):
            sys.exit("an analysis process did not start")

    rng = np.random.default_rng(1)
    expected = {}
    t0 = time.monotonic()
    for i in range(args.batches):
        with bus.loan() as frame:  # a free slot; filled in place
            for k in shapes:
                frame[k][...] = rng.integers(0, 255, size=shapes[k]).astype(np.float32)
            expected[frame.seq] = {k: (float(frame[k].mean()), float(frame[k].std()),
                                       float(frame[k].max())) for k in shapes}
    bus.shutdown()  # the analysis processes read what is left, then stop

    bad = 0
    for _ in range(args.batches * args.consumers):
        seq, stats = results.get(timeout=120)
        for k, got in stats.items():
            want = expected[seq][k]
            if not np.allclose(got, want, rtol=1e-5):
                bad += 1
                print("batch %d array %s: got %s, want %s" % (seq, k, got, want))
    elapsed = time.monotonic() - t0
    for w in workers:
        w.join(60)
    mb = sum(r * c for r, c in shapes.values()) * 4 / 1e6
    print("%d batches of %.1f MB to %d analysis processes in %.2f s; %d results, %d wrong"
          % (args.batches, mb, args.consumers, elapsed, args.batches * args.consumers * len(shapes), bad))
    results.close()
    bus.close()
    return 1 if bad or any(w.exitcode for w in workers) else 0


if __name__ == "__main__":
    sys.exit(main())
