# SPDX-License-Identifier: MIT
"""ferry.Queue, SimpleQueue and JoinableQueue: every call and every error,
across processes (fork and spawn), threads, Ctrl-C, and peers killed with
SIGKILL in the middle of blocking calls."""

import os
import pickle
import signal
import threading
import time
import unittest
import zlib

import ferry
import ferry._ferry as F
from _util import ALL_METHODS, METHODS, Timer, finish, sigint_after, start, wait_until


def _produce(q, first, n):
    for i in range(first, first + n):
        q.put(i)


def _consume_n(q, n, out):
    for _ in range(n):
        out.put(q.get(timeout=20))


def _child_uses_queue(q, r, expect):
    got = q.get(timeout=20)
    r.put(("echo", got))
    os._exit(0 if got == expect else 1)


def _child_open_by_name(name):
    q = ferry.Queue(name=name, create=False)
    q.put(("hello", os.getpid()))
    os._exit(0)


def _blocked_get(q, started):
    started.set()
    q.get()  # blocks until killed


def _blocked_put(q, started):
    started.set()
    q.put("x")  # the queue is full: blocks until killed


def _put_forever(q):
    i = 0
    while True:
        body = os.urandom(8 + i % 200)
        q.put((i, body, zlib.crc32(body)))
        i += 1


def _unbounded_child(q, n, cancel):
    for i in range(n):
        q.put(i)
    if cancel:
        q.cancel_join_thread()
    q.close()
    # without cancel, leaving waits until everything is in the queue


def _joinable_worker(q):
    while True:
        item = q.get(timeout=20)
        if item is None:
            q.task_done()
            return
        q.task_done()


class QueueBasics(unittest.TestCase):
    def test_fifo_sizes_and_nowait(self):
        q = ferry.Queue(3)
        self.assertTrue(q.empty())
        self.assertFalse(q.full())
        for i in range(3):
            q.put_nowait(i)
        self.assertTrue(q.full())
        self.assertEqual(q.qsize(), 3)
        self.assertRaises(ferry.Full, q.put_nowait, 3)
        self.assertRaises(ferry.Full, q.put, 3, False)
        with Timer() as t:
            self.assertRaises(ferry.Full, q.put, 3, True, 0.1)
        self.assertGreaterEqual(t.elapsed, 0.09)
        self.assertEqual([q.get(), q.get_nowait(), q.get(True, 1)], [0, 1, 2])
        self.assertRaises(ferry.Empty, q.get_nowait)
        with Timer() as t:
            self.assertRaises(ferry.Empty, q.get, True, 0.1)
        self.assertGreaterEqual(t.elapsed, 0.09)
        self.assertRaises(ferry.Empty, q.get, False, 5)  # block=False ignores the timeout
        q.close()

    def test_objects_bytes_and_large_messages(self):
        q = ferry.Queue()
        objs = [None, 1, "text", b"\0bytes", {"a": [1, 2, (3, 4)]}, 2.5, list(range(1000))]
        for o in objs:
            q.put(o)
        self.assertEqual([q.get() for _ in objs], objs)
        q.put_bytes(b"raw")
        q.put(b"pickled")
        self.assertEqual(q.get_bytes(), b"raw")
        self.assertEqual(pickle.loads(q.get_bytes()), b"pickled")
        big = os.urandom(1 << 20) * 3  # 3 MiB: travels in a region of its own
        q.put(big)
        q.put_bytes(big)
        self.assertEqual(q.get(), big)
        self.assertEqual(q.get_bytes(), big)
        # the large-message regions are gone once read
        self.assertEqual(F.names_with_prefix(q.name + ".q.b"), [])
        # the bytes calls' arguments, by position and by name, and their
        # mistakes (nothing put)
        q.put_bytes(b"a", True, 1.0)
        q.put_bytes(data=b"b", block=False)
        q.put_bytes(bytearray(b"c"), timeout=1)
        self.assertEqual([q.get_bytes(True, 1.0), q.get_bytes(block=False), q.get_bytes(timeout=1)],
                         [b"a", b"b", b"c"])
        self.assertRaises(TypeError, q.put_bytes)
        self.assertRaises(TypeError, q.put_bytes, b"x", True, 1, 2)
        self.assertRaises(TypeError, q.put_bytes, b"x", data=b"y")
        self.assertRaises(TypeError, q.put_bytes, b"x", colour=1)
        self.assertRaises(TypeError, q.put_bytes, "not bytes")
        self.assertRaises(TypeError, q.get_bytes, True, 1, 2)
        self.assertRaises(TypeError, q.get_bytes, wait=True)
        self.assertRaises(ferry.Empty, q.get_bytes, False)
        self.assertEqual(q.qsize(), 0)
        q.close()

    def test_unpicklable_put_raises_and_uses_no_slot(self):
        class Bad:
            def __reduce__(self):
                raise TypeError("not picklable")

        for maxsize in (1, 2):
            q = ferry.Queue(maxsize)
            self.assertRaises(TypeError, q.put, Bad())
            self.assertEqual(q.qsize(), 0)
            for i in range(maxsize):
                q.put_nowait(i)  # every slot is still there
            self.assertRaises(ferry.Full, q.put_nowait, "one more")
            q.close()

    def test_maxsize_one(self):
        q = ferry.Queue(1)
        q.put("a")
        self.assertTrue(q.full())
        self.assertRaises(ferry.Full, q.put, "b", True, 0.05)
        self.assertEqual(q.get(), "a")
        q.put("b")
        self.assertEqual(q.get(), "b")
        q.close()

    def test_close_and_join_thread(self):
        q = ferry.Queue()
        self.assertRaises(AssertionError, q.join_thread)
        q.put(1)
        q.close()
        q.close()  # again: nothing
        q.join_thread()
        self.assertRaisesRegex(ValueError, "is closed", q.put, 2)
        self.assertRaisesRegex(ValueError, "is closed", q.get)
        self.assertRaisesRegex(ValueError, "is closed", q.put_bytes, b"x")
        self.assertRaisesRegex(ValueError, "is closed", q.qsize)

    def test_bad_arguments_and_names(self):
        self.assertRaises(ValueError, ferry.Queue, name="bad/name")
        self.assertRaises(ValueError, ferry.Queue, name="x" * 300)
        self.assertRaises(TypeError, ferry.Queue, name=5)
        self.assertRaises(ValueError, ferry.Queue, 1 << 25)
        self.assertRaises(ValueError, ferry.Queue, msgsize=0)
        self.assertRaises(FileNotFoundError, ferry.Queue, name=ferry.Queue().name + "nope",
                          create=False)
        q = ferry.Queue(name=os.environ.get("FERRY_PY_PREFIX", "py-") + "named-%d" % os.getpid())
        self.assertRaises(FileExistsError, ferry.Queue, name=q.name, create=True)
        same = ferry.Queue(name=q.name)  # create=None: opens it
        same.put("via the other handle")
        self.assertEqual(q.get(timeout=1), "via the other handle")
        lock = ferry.Lock()
        with self.assertRaises(ferry.FerryError) as cm:
            ferry.Queue(name=lock.name, create=False)
        self.assertIn("not a queue", str(cm.exception))
        same.close()
        q.close()

    def test_simple_queue(self):
        q = ferry.SimpleQueue()
        self.assertTrue(q.empty())
        for i in range(10000):  # unbounded: never blocks
            q.put(i)
        self.assertEqual([q.get() for _ in range(10000)], list(range(10000)))
        self.assertTrue(q.empty())
        q.close()


class QueueProcesses(unittest.TestCase):
    def test_pickled_to_child_fork_spawn_forkserver_closed_right_after(self):
        for method in ALL_METHODS:
            q = ferry.Queue()
            r = ferry.Queue()
            q.put("ping")
            p = start(_child_uses_queue, q, r, "ping", method=method)
            # the sender closes its copy at once: the child still gets it
            q.close()
            del q
            self.assertEqual(r.get(timeout=30), ("echo", "ping"))
            finish(self, p)
            r.close()

    def test_open_by_name_in_child(self):
        q = ferry.Queue()
        p = start(_child_open_by_name, q.name, method="spawn")
        tag, pid = q.get(timeout=30)
        self.assertEqual((tag, pid), ("hello", p.pid))
        finish(self, p)
        q.close()

    def test_many_producers_and_consumers(self):
        q = ferry.Queue(64)
        out = ferry.Queue()
        prods = [start(_produce, q, k * 1000, 1000) for k in range(3)]
        cons = [start(_consume_n, q, 1500, out) for _ in range(2)]
        got = [out.get(timeout=30) for _ in range(3000)]
        self.assertEqual(sorted(got), list(range(3000)))
        for p in prods + cons:
            finish(self, p)
        q.close()
        out.close()

    def test_unbounded_backlog_is_delivered_then_child_exits(self):
        q = ferry.Queue(capacity=16)  # the ring holds 16; put never blocks
        p = start(_unbounded_child, q, 2000, False)
        self.assertEqual([q.get(timeout=30) for _ in range(2000)], list(range(2000)))
        finish(self, p)
        q.close()

    def test_cancel_join_thread_lets_child_exit(self):
        q = ferry.Queue(capacity=4)
        with Timer() as t:
            p = start(_unbounded_child, q, 500, True)
            finish(self, p, timeout=20)
        self.assertLess(t.elapsed, 15)
        self.assertLessEqual(q.qsize(), 4)
        q.close()

    def test_joinable_queue(self):
        q = ferry.JoinableQueue()
        workers = [start(_joinable_worker, q) for _ in range(3)]
        for i in range(50):
            q.put(i)
        with Timer() as t:
            q.join()
        self.assertEqual(q.unfinished_tasks, 0)
        for _ in workers:
            q.put(None)
        q.join()
        for p in workers:
            finish(self, p)
        self.assertRaises(ValueError, q.task_done)
        self.assertLess(t.elapsed, 30)
        q.close()

    def test_100_threads_share_a_queue(self):
        q = ferry.Queue(16)
        sums = []
        errors = []

        def producer(k):
            for i in range(100):
                q.put((k, i))

        def consumer():
            s = 0
            try:
                for _ in range(100):
                    k, i = q.get(timeout=30)
                    s += k * 1000 + i
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            sums.append(s)

        ts = [threading.Thread(target=producer, args=(k,)) for k in range(50)]
        ts += [threading.Thread(target=consumer) for _ in range(50)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
            self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        self.assertEqual(sum(sums), sum(k * 1000 + i for k in range(50) for i in range(100)))
        q.close()


class QueueInterruptsAndDeaths(unittest.TestCase):
    def test_ctrl_c_interrupts_a_blocked_get_and_put(self):
        q = ferry.Queue(1)
        sigint_after(0.3)
        with Timer() as t:
            self.assertRaises(KeyboardInterrupt, q.get)
        self.assertLess(t.elapsed, 5)
        q.put(1)
        sigint_after(0.3)
        self.assertRaises(KeyboardInterrupt, q.put, 2)
        self.assertEqual(q.get(timeout=1), 1)  # still usable
        q.close()

    def test_peers_killed_while_blocked(self):
        q = ferry.Queue(2)
        started = ferry.Event()
        getter = start(_blocked_get, q, started)
        self.assertTrue(started.wait(20))
        time.sleep(0.2)
        getter.kill()
        getter.join(10)
        # the survivors: the message goes to this process, not to the dead
        q.put("after")
        self.assertEqual(q.get(timeout=5), "after")
        q.put(1)
        q.put(2)
        started.clear()
        putter = start(_blocked_put, q, started)
        self.assertTrue(started.wait(20))
        time.sleep(0.2)
        putter.kill()
        putter.join(10)
        self.assertEqual([q.get(timeout=5), q.get(timeout=5)], [1, 2])
        self.assertRaises(ferry.Empty, q.get, True, 0.3)  # the dead put never lands
        q.close()

    def test_producer_killed_mid_stream_leaves_whole_messages(self):
        q = ferry.Queue(256)
        p = start(_put_forever, q)
        for _ in range(300):
            q.get(timeout=20)
        p.kill()
        p.join(10)
        n = 0
        last = -1
        while True:
            try:
                i, body, crc = q.get(timeout=1.5)
            except ferry.Empty:
                break
            self.assertEqual(zlib.crc32(body), crc)
            self.assertGreater(i, last)
            last = i
            n += 1
        self.assertLessEqual(n, 256)
        q.put("still works")
        self.assertEqual(q.get(timeout=1), "still works")
        q.close()


if __name__ == "__main__":
    unittest.main()
