#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A duplex pipe between two processes: the main process sends tasks, a
worker sends back results on the same pipe.

When the main process is done it closes its end: the worker's recv() then
raises EOFError, and it stops (no end-of-tasks marker needed). The main
process checks every result. Exit status 0 if all are right.

    python3 duplex_pipe.py --tasks 1000
"""

import argparse
import multiprocessing as mp
import sys

import ferry


def worker(conn):
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the other end closed: no more tasks
            break
        conn.send((task, task * task))
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1000)
    args = ap.parse_args()

    parent, child = ferry.Pipe()
    w = mp.Process(target=worker, args=(child,))
    w.start()
    child.close()  # ours is no longer needed; the worker has its own
    wrong = 0
    for task in range(args.tasks):
        parent.send(task)
        t, result = parent.recv()
        if (t, result) != (task, task * task):
            wrong += 1
    parent.close()
    w.join(30)
    print("%d tasks through a duplex pipe, %d wrong results; worker exit code %s"
          % (args.tasks, wrong, w.exitcode))
    return 0 if wrong == 0 and w.exitcode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
