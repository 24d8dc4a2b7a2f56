# SPDX-License-Identifier: MIT
"""Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier:
every call and error, across processes, Ctrl-C, and a lock whose owner was
killed holding it."""

import os
import threading
import time
import unittest
import warnings

import ferry
from _util import METHODS, Timer, finish, sigint_after, start


def _hold_lock_and_die(lock, held):
    lock.acquire()
    held.set()
    time.sleep(60)  # killed before it releases


def _kill_holder(test, lock):
    """Starts a process that takes lock and sleeps; kills it holding it."""
    held = ferry.Event()
    p = start(_hold_lock_and_die, lock, held)
    test.assertTrue(held.wait(20))
    test.assertFalse(lock.acquire(False))
    p.kill()
    p.join(10)


def _count_under_lock(lock, value, n):
    for _ in range(n):
        with lock:
            v = value.value
            time.sleep(0)
            value.value = v + 1


def _set_event_later(ev, delay):
    time.sleep(delay)
    ev.set()


def _wait_condition(cond, state, woke):
    with cond:
        ok = cond.wait_for(lambda: state.value == 1, timeout=20)
        woke.release()
    os._exit(0 if ok else 1)


def _barrier_party(barrier, out):
    out.put(barrier.wait(20))


def _append_pid(lst):
    lst.append(os.getpid())


class Locks(unittest.TestCase):
    def test_lock(self):
        lock = ferry.Lock()
        self.assertTrue(lock.acquire())
        self.assertFalse(lock.acquire(False))
        with Timer() as t:
            self.assertFalse(lock.acquire(True, 0.1))  # held by this thread
        self.assertGreaterEqual(t.elapsed, 0.09)
        self.assertRaises(RuntimeError, lock.acquire)  # would never return
        self.assertIn("owner=this thread", repr(lock))
        lock.release()
        self.assertRaises(ValueError, lock.release)
        with lock:
            other = []
            th = threading.Thread(target=lambda: other.append(lock.acquire(True, 0.05)))
            th.start()
            th.join()
            self.assertEqual(other, [False])
            # only the owner releases
            th = threading.Thread(target=lambda: other.append(self.assertRaises(ValueError, lock.release)))
            th.start()
            th.join()
        self.assertEqual(lock.recoveries, 0)

    def test_rlock(self):
        r = ferry.RLock()
        for _ in range(3):
            self.assertTrue(r.acquire())
        self.assertEqual(r._count(), 3)
        for _ in range(3):
            r.release()
        self.assertRaises(AssertionError, r.release)
        with r:
            with r:
                pass
        self.assertEqual(r._count(), 0)

    def test_lock_across_processes(self):
        for method in METHODS:
            lock = ferry.Lock()
            v = ferry.Value("i", 0, lock=False)
            ps = [start(_count_under_lock, lock, v, 200, method=method) for _ in range(3)]
            for p in ps:
                finish(self, p)
            self.assertEqual(v.value, 600)

    def test_owner_killed_holding_the_lock(self):
        for cls in (ferry.Lock, ferry.RLock):
            lock = cls()
            _kill_holder(self, lock)
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                with Timer() as t:
                    self.assertTrue(lock.acquire(True, 10))
            self.assertLess(t.elapsed, 5)  # within the liveness period (1 s)
            self.assertEqual([x.category for x in w], [ferry.OwnerDiedWarning])
            self.assertEqual(lock.recoveries, 1)
            lock.release()
            self.assertTrue(lock.acquire(False))  # an ordinary lock again
            lock.release()

    def test_sync_liveness_setting(self):
        from ferry import _ferry

        for bad in (0, -1.0, float("nan"), float("inf"), 1e10):
            with self.assertRaisesRegex(ValueError, "liveness must be"):
                _ferry.set_sync_liveness(bad)
        self.assertRaises(TypeError, _ferry.set_sync_liveness, "1")
        # The refusals left the setting usable: a valid one is taken, and
        # a lock whose owner was killed is still recovered.
        _ferry.set_sync_liveness(0.2)
        try:
            lock = ferry.Lock()
            _kill_holder(self, lock)
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                self.assertTrue(lock.acquire(True, 10))
            lock.release()
        finally:
            _ferry.set_sync_liveness(1.0)

    def test_ctrl_c_interrupts_acquire(self):
        lock = ferry.Lock()
        held = ferry.Event()
        p = start(_hold_lock_and_die, lock, held)
        self.assertTrue(held.wait(20))
        sigint_after(0.3)
        with Timer() as t:
            self.assertRaises(KeyboardInterrupt, lock.acquire)
        self.assertLess(t.elapsed, 5)
        p.kill()
        p.join(10)

    def test_named_and_wrong_kind(self):
        prefix = os.environ.get("FERRY_PY_PREFIX", "py-")
        lock = ferry.Lock(name=prefix + "named-lock")
        again = ferry.Lock(name=lock.name, create=False)
        with lock:
            self.assertFalse(again.acquire(False))
        self.assertRaises(FileExistsError, ferry.Lock, name=lock.name, create=True)
        self.assertRaises(FileNotFoundError, ferry.Event, name=lock.name + "-none", create=False)
        with self.assertRaises(ferry.FerryError) as cm:
            ferry.Semaphore(name=lock.name, create=False)
        self.assertIn("holds a lock, not a semaphore", str(cm.exception))
        self.assertRaises(ValueError, ferry.Lock, name="no spaces")


class Semaphores(unittest.TestCase):
    def test_semaphore(self):
        s = ferry.Semaphore(2)
        self.assertEqual(s.get_value(), 2)
        self.assertTrue(s.acquire())
        self.assertTrue(s.acquire(False))
        self.assertFalse(s.acquire(False))
        with Timer() as t:
            self.assertFalse(s.acquire(True, 0.1))
        self.assertGreaterEqual(t.elapsed, 0.09)
        s.release()
        s.release()
        s.release()
        self.assertEqual(s.get_value(), 3)
        self.assertEqual(repr(s), "<Semaphore(value=3)>")
        self.assertRaises(ValueError, ferry.Semaphore, -1)

    def test_bounded(self):
        s = ferry.BoundedSemaphore(1)
        self.assertRaises(ValueError, s.release)
        with s:
            self.assertEqual(s.get_value(), 0)
        self.assertEqual(s.get_value(), 1)
        self.assertIn("maxvalue=1", repr(s))


class Events(unittest.TestCase):
    def test_event(self):
        for method in METHODS:
            e = ferry.Event()
            self.assertFalse(e.is_set())
            self.assertFalse(e.wait(0))
            self.assertRegex(repr(e), r"<Event at .* unset>")
            p = start(_set_event_later, e, 0.2, method=method)
            self.assertTrue(e.wait(20))
            self.assertTrue(e.is_set())
            self.assertRegex(repr(e), r"<Event at .* set>")
            e.clear()
            self.assertFalse(e.wait(0.05))
            finish(self, p)

    def test_ctrl_c_interrupts_wait(self):
        e = ferry.Event()
        sigint_after(0.3)
        self.assertRaises(KeyboardInterrupt, e.wait)


class Conditions(unittest.TestCase):
    def test_condition_across_processes(self):
        cond = ferry.Condition()
        state = ferry.Value("i", 0)
        woke = ferry.Semaphore(0)
        ps = [start(_wait_condition, cond, state, woke) for _ in range(3)]
        time.sleep(0.3)
        self.assertEqual(woke.get_value(), 0)
        with cond:
            state.value = 1
            cond.notify_all()
        for p in ps:
            finish(self, p)
        self.assertEqual(woke.get_value(), 3)

    def test_wait_needs_the_lock_and_times_out(self):
        cond = ferry.Condition(ferry.Lock())
        self.assertRaises(AssertionError, cond.wait, 0.01)
        self.assertRaises(AssertionError, cond.notify)
        with cond:
            with Timer() as t:
                self.assertFalse(cond.wait(0.1))
            self.assertGreaterEqual(t.elapsed, 0.09)
            self.assertFalse(cond.wait_for(lambda: False, 0.05))
            self.assertEqual(cond.wait_for(lambda: 42), 42)

    def test_interrupted_wait_takes_the_lock_back(self):
        cond = ferry.Condition()
        with cond:
            sigint_after(0.3)
            self.assertRaises(KeyboardInterrupt, cond.wait)
            self.assertTrue(cond._lock._is_mine())


class Barriers(unittest.TestCase):
    def test_barrier_action_runs_once_per_pass(self):
        for method in METHODS:
            lst = ferry.List()
            out = ferry.Queue()
            b = ferry.Barrier(3, action=_PidAppender(lst))
            ps = [start(_barrier_party, b, out, method=method) for _ in range(2)]
            out.put(b.wait(20))
            got = sorted(out.get(timeout=20) for _ in range(3))
            self.assertEqual(got, [0, 1, 2])
            for p in ps:
                finish(self, p)
            self.assertEqual(len(lst), 1)  # in the last process to arrive
            self.assertIn(lst[0], [os.getpid()] + [p.pid for p in ps])

    def test_abort_timeout_reset(self):
        b = ferry.Barrier(2, timeout=0.1)
        self.assertEqual(b.parties, 2)
        self.assertRaises(threading.BrokenBarrierError, b.wait)
        self.assertTrue(b.broken)
        b.reset()
        self.assertFalse(b.broken)
        b.abort()
        self.assertRaises(threading.BrokenBarrierError, b.wait)
        self.assertRaises(ValueError, ferry.Barrier, 0)


class _PidAppender:
    def __init__(self, lst):
        self.lst = lst

    def __call__(self):
        self.lst.append(os.getpid())


if __name__ == "__main__":
    unittest.main()
