# SPDX-License-Identifier: MIT
"""CPython's own multiprocessing tests, run against ferry's objects.

This imports Lib/test/_test_multiprocessing.py of the running interpreter
(Debian: libpython3.11-testsuite) and builds its test classes with one
change only: the object factories (Queue, Pipe, Lock, RLock, Semaphore,
BoundedSemaphore, Condition, Event, Barrier, Value, Array, RawValue,
RawArray, JoinableQueue, and Dict / List for the containers' tests) are
ferry's. Processes, connections' wait(), managers and everything else stay
multiprocessing's. The tests that call `multiprocessing.Queue()` directly
get ferry's too: the test module's `multiprocessing` name is replaced by a
view of the real module in which only those factories differ.

Python 3.11 has no shutdown tests for queues (they came with 3.13's
queue.ShutDown); FerryQueueShutdownTests below checks the same behaviours,
written for this adapter.

The start method comes from FERRY_MP_START (fork by default; spawn and
forkserver work too). Run:
    FERRY_MP_START=spawn python3 -m unittest -v test_cpython_mp
or one class:
    python3 -m unittest -v test_cpython_mp.WithFerryTestQueue
"""

import multiprocessing
import os
import sys
import threading
import types
import unittest

import ferry

try:
    import test._test_multiprocessing as T
except ImportError as e:  # pragma: no cover - a missing package is a failure
    raise ImportError(
        "CPython's test package is missing (Debian: apt-get install libpython3.11-testsuite)"
    ) from e

START = os.environ.get("FERRY_MP_START", "fork")

# The factories the tests get from ferry.
FACTORIES = {
    "Queue": ferry.Queue,
    "JoinableQueue": ferry.JoinableQueue,
    "Pipe": ferry.Pipe,
    "Lock": ferry.Lock,
    "RLock": ferry.RLock,
    "Semaphore": ferry.Semaphore,
    "BoundedSemaphore": ferry.BoundedSemaphore,
    "Condition": ferry.Condition,
    "Event": ferry.Event,
    "Barrier": ferry.Barrier,
    "Value": ferry.Value,
    "Array": ferry.Array,
    "RawValue": ferry.RawValue,
    "RawArray": ferry.RawArray,
}
if hasattr(ferry, "Dict"):
    FACTORIES["dict"] = ferry.Dict
if hasattr(ferry, "List"):
    FACTORIES["list"] = ferry.List


class _MultiprocessingView(types.ModuleType):
    """The real multiprocessing module, but for the swapped factories."""

    def __getattr__(self, name):
        return getattr(multiprocessing, name)


_view = _MultiprocessingView("multiprocessing")
for _n in ("Queue", "JoinableQueue", "Pipe", "Lock", "RLock", "Semaphore", "BoundedSemaphore",
           "Condition", "Event", "Barrier", "Value", "Array", "RawValue", "RawArray"):
    setattr(_view, _n, FACTORIES[_n])
T.multiprocessing = _view


class FerryMixin(T.ProcessesMixin):
    """multiprocessing's ProcessesMixin with ferry's factories."""


for _n, _f in FACTORIES.items():
    setattr(FerryMixin, _n, staticmethod(_f))

CLASSES = [
    "_TestQueue", "_TestConnection", "_TestPoll", "_TestLock", "_TestSemaphore",
    "_TestCondition", "_TestEvent", "_TestBarrier", "_TestValue", "_TestArray",
    "_TestContainers",
]

# Tests of those classes that are not about ferry's objects, so not run:
# each with the reason (reported, never counted as passed).
NOT_RUN = {
    "_TestContainers.test_namespace": "Namespace is a Manager object; ferry has none",
}

# Tests that fail by design: ferry differs from multiprocessing on purpose.
# They run, and are reported as expected failures (never as passes); if one
# starts to pass, unittest reports an unexpected success, which fails.
KNOWN_DIFFERENCES = {
    "_TestQueue.test_queue_feeder_donot_stop_onexc":
        "ferry pickles in put(), so putting an unpicklable object raises there "
        "(and uses no slot); multiprocessing pickles later in a feeder thread, "
        "prints the error and drops the object, and this test expects put() "
        "not to raise",
}

for _cname in CLASSES:
    _base = getattr(T, _cname)
    _name = "WithFerry" + _cname[1:]
    _attrs = {}
    for _t, _why in KNOWN_DIFFERENCES.items():
        _c, _m = _t.split(".")
        if _c == _cname:
            _attrs[_m] = unittest.expectedFailure(getattr(_base, _m))
    for _t, _why in NOT_RUN.items():
        _c, _m = _t.split(".")
        if _c == _cname:
            _attrs[_m] = None  # removed from the class: not collected
    _cls = type(_name, (_base, FerryMixin, unittest.TestCase), _attrs)
    _cls.__module__ = __name__
    _cls.__qualname__ = _name
    globals()[_name] = _cls


# ---- the shutdown behaviours of Python 3.13's queues ----------------------------


class FerryQueueShutdownTests(unittest.TestCase):
    """Queue.shutdown() as Python 3.13 defines it, on ferry.JoinableQueue."""

    def q(self, maxsize=0):
        q = ferry.JoinableQueue(maxsize)
        self.addCleanup(q.close)
        return q

    def threads(self, *targets):
        ts = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
        for t in ts:
            t.start()
        return ts

    def join_all(self, ts):
        for t in ts:
            t.join(30)
            self.assertFalse(t.is_alive(), "a thread is still blocked")

    def test_exception_class(self):
        import queue
        self.assertTrue(issubclass(ferry.ShutDown, Exception))
        if hasattr(queue, "ShutDown"):
            self.assertTrue(issubclass(ferry.ShutDown, queue.ShutDown))

    def test_empty_queue(self):
        q = self.q()
        q.shutdown()
        self.assertRaises(ferry.ShutDown, q.put, 1)
        self.assertRaises(ferry.ShutDown, q.get)
        self.assertRaises(ferry.ShutDown, q.get_nowait)

    def test_drains_then_raises(self):
        q = self.q()
        q.put("a")
        q.put("b")
        q.shutdown()
        self.assertRaises(ferry.ShutDown, q.put, "c")
        self.assertEqual([q.get(), q.get()], ["a", "b"])
        self.assertRaises(ferry.ShutDown, q.get)
        self.assertRaises(ferry.ShutDown, q.get, True, 1.0)

    def test_immediate_drops_everything(self):
        q = self.q()
        q.put("a")
        q.shutdown(immediate=True)
        self.assertRaises(ferry.ShutDown, q.get)
        self.assertTrue(q.empty())
        self.assertRaises(ValueError, q.task_done)
        q.join()  # nothing left to wait for

    def test_is_shutdown_and_repeat(self):
        q = self.q()
        self.assertFalse(q.is_shutdown)
        q.shutdown()
        self.assertTrue(q.is_shutdown)
        q.shutdown(immediate=True)
        q.shutdown()
        self.assertTrue(q.is_shutdown)

    def test_task_done_and_join_after_shutdown(self):
        q = self.q(2)
        q.put("x")
        q.put_nowait("y")
        q.shutdown()
        self.assertRaises(ferry.ShutDown, q.put_nowait, "z")
        got = {q.get(), q.get()}
        self.assertEqual(got, {"x", "y"})
        q.task_done()
        q.task_done()
        q.join()
        self.assertRaises(ferry.ShutDown, q.get_nowait)

    def test_blocked_getters_wake(self):
        q = self.q()
        results = []

        def getter():
            try:
                results.append(q.get())
            except ferry.ShutDown as e:
                results.append(e)

        ts = self.threads((getter, ()), (getter, ()))
        threading.Event().wait(0.2)
        q.shutdown()
        self.join_all(ts)
        self.assertEqual(len(results), 2)
        self.assertTrue(all(isinstance(r, ferry.ShutDown) for r in results))

    def test_blocked_putters_wake(self):
        q = self.q(2)
        q.put(1)
        q.put(2)
        results = []

        def putter(v):
            try:
                q.put(v)
                results.append("put")
            except ferry.ShutDown:
                results.append("shutdown")

        ts = self.threads((putter, (3,)), (putter, (4,)))
        threading.Event().wait(0.2)
        q.shutdown()
        self.join_all(ts)
        self.assertEqual(results, ["shutdown", "shutdown"])

    def test_getters_share_what_is_left(self):
        for immediate in (False, True):
            q = self.q(2)
            q.put("a")
            q.put("b")
            q.shutdown(immediate)
            results = []

            def getter():
                try:
                    results.append(q.get())
                except ferry.ShutDown:
                    results.append(None)

            self.join_all(self.threads((getter, ()), (getter, ()), (getter, ())))
            if immediate:
                self.assertEqual(results, [None, None, None])
            else:
                self.assertEqual(sorted(r for r in results if r), ["a", "b"])
                self.assertEqual(results.count(None), 1)

    def test_join_released_by_immediate(self):
        q = self.q()
        q.put("y")
        self.assertEqual(q.unfinished_tasks, 1)
        done = []
        ts = self.threads((lambda: done.append(q.join()), ()), (lambda: done.append(q.join()), ()))
        threading.Event().wait(0.1)
        self.assertEqual(done, [])
        q.shutdown(immediate=True)
        self.join_all(ts)
        self.assertEqual(done, [None, None])
        self.assertEqual(q.unfinished_tasks, 0)

    def test_join_released_by_task_done(self):
        q = self.q()
        q.put("y")
        done = []
        ts = self.threads((lambda: done.append(q.join()), ()))
        q.shutdown()
        self.assertEqual(q.get(), "y")
        q.task_done()
        self.join_all(ts)
        self.assertEqual(done, [None])

    def test_many_producers_and_consumers(self):
        for immediate in (False, True):
            q = self.q()
            stop = threading.Event()
            put_ends, get_ends = [], []

            def producer():
                i = 0
                while True:
                    try:
                        q.put(i)
                    except ferry.ShutDown:
                        put_ends.append(True)
                        return
                    i += 1

            def consumer():
                while True:
                    try:
                        q.get(timeout=0.05)
                        q.task_done()
                    except ferry.ShutDown:
                        get_ends.append(True)
                        return
                    except ferry.Empty:
                        pass

            ts = self.threads(*([(producer, ())] * 3 + [(consumer, ())] * 4))
            threading.Event().wait(0.3)
            q.shutdown(immediate)
            self.join_all(ts)
            self.assertEqual(len(put_ends), 3)
            self.assertEqual(len(get_ends), 4)
            self.assertTrue(q.empty())
            q.join()

    def test_shutdown_seen_by_another_process(self):
        q = self.q()
        ctx = multiprocessing.get_context(START)
        p = ctx.Process(target=_child_waits_for_shutdown, args=(q,))
        p.start()
        threading.Event().wait(0.3)
        q.shutdown()
        p.join(30)
        self.assertEqual(p.exitcode, 0)


def _child_waits_for_shutdown(q):
    try:
        q.get(timeout=20)
    except ferry.ShutDown:
        sys.exit(0)
    sys.exit(1)


def setUpModule():
    multiprocessing.set_start_method(START, force=True)


if __name__ == "__main__":
    unittest.main()
