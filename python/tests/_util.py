# SPDX-License-Identifier: MIT
"""Helpers shared by the Python tests: child processes with bounded waits,
a Ctrl-C from a timer, and the start methods to try."""

import multiprocessing as mp
import os
import signal
import threading
import time

METHODS = ("fork", "spawn")
ALL_METHODS = ("fork", "spawn", "forkserver")


def start(target, *args, method="fork"):
    p = mp.get_context(method).Process(target=target, args=args, daemon=True)
    p.start()
    return p


def finish(test, p, timeout=30, code=0):
    """Joins p (bounded) and checks its exit code."""
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join(5)
        test.fail("child %s still running after %ss" % (p.pid, timeout))
    test.assertEqual(p.exitcode, code, "child exit code")


def sigint_after(seconds):
    """Sends SIGINT to this process after `seconds` (as Ctrl-C would)."""
    t = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    t.daemon = True
    t.start()
    return t


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *a):
        self.elapsed = time.monotonic() - self.t0


def wait_until(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()
