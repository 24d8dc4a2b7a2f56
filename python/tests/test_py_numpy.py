# SPDX-License-Identifier: MIT
"""numpy arrays in shared memory without a copy, and the bus with numpy
views: writes seen across processes, data inside the region, open by name,
pickled slices, read-only subscriber views, LOCKSTEP and LATEST, and a
subscriber killed mid-stream."""

import os
import pickle
import time
import unittest

import numpy as np

import ferry
from _util import METHODS, finish, start


def _write(arr, value):
    arr[...] = value


def _write_by_name(name):
    a = ferry.ndarray(name)
    a[1, :] = 9


def _check_frames(name, n, out, ready):
    sub = ferry.Subscriber(name)
    ready.release()
    bad = 0
    seen = []
    for frame in sub:
        with frame:
            img = frame["image"]
            if frame["seq"][()] != frame.seq or not np.all(img == frame.seq % 251):
                bad += 1
            if img.flags.writeable:
                bad += 1
            seen.append(frame.seq)
    out.put((seen, bad))


def _stall_subscriber(name, ready):
    sub = ferry.Subscriber(name)
    ready.release()
    f = sub.next(20)  # takes the first frame and never releases it
    ready.release()
    time.sleep(60)


class SharedNumpy(unittest.TestCase):
    def test_write_in_child_seen_here_without_copy(self):
        for method in METHODS:
            a = ferry.ndarray(shape=(100, 50), dtype=np.float32)
            self.assertIsInstance(a, ferry.SharedNDArray)
            self.assertTrue(np.all(a == 0))  # created zeroed
            p = start(_write, a, 3.5, method=method)
            finish(self, p)
            self.assertTrue(np.all(a == 3.5))
            # a slice pickles as the same memory
            p = start(_write, a[10:20, ::2], -1.0, method=method)
            finish(self, p)
            self.assertTrue(np.all(a[10:20, ::2] == -1))
            self.assertTrue(np.all(a[10:20, 1::2] == 3.5))
            self.assertTrue(np.all(a[:10] == 3.5))

    def test_buffer_address_is_inside_the_region(self):
        frame = ferry.SharedArrays(arrays={"a": ((1000, 1000), "f4"), "b": ((7,), "i8")})
        base, size = frame.region()
        for name in ("a", "b"):
            arr = frame[name]
            lo, hi = np.byte_bounds(arr)
            self.assertGreaterEqual(lo, base)
            self.assertLessEqual(hi, base + size)
            self.assertEqual(lo % 64, 0)  # every array 64-byte aligned
            self.assertIsNone(arr.base.base if False else None)
        # no copy: a write through a second view shows in the first
        again = ferry.SharedArrays(frame.name)
        again["b"][3] = 12345
        self.assertEqual(frame["b"][3], 12345)
        self.assertEqual(set(again.keys()), {"a", "b"})

    def test_open_by_name_takes_dtype_and_shape_from_the_region(self):
        a = ferry.ndarray(shape=(3, 4), dtype="int16")
        name = a._ferry_src[1]
        b = ferry.ndarray(name)
        self.assertEqual((b.dtype, b.shape), (np.dtype("int16"), (3, 4)))
        p = start(_write_by_name, name, method="spawn")
        finish(self, p)
        self.assertEqual(a[1].tolist(), [9] * 4)
        c = ferry.ndarray(name, (3, 4), "int16")  # same declaration: opens it
        self.assertEqual(c.shape, (3, 4))
        self.assertRaises(ValueError, ferry.ndarray, name, (4, 4), "int16")
        self.assertRaises(FileExistsError, ferry.ndarray, name, (3, 4), "int16", create=True)

    def test_results_of_arithmetic_pickle_by_value(self):
        a = ferry.ndarray(shape=5, dtype="f8")
        a[:] = 1
        b = a + 1  # new memory, not shared
        c = pickle.loads(pickle.dumps(b))
        self.assertEqual(c.tolist(), [2.0] * 5)
        a[:] = 7
        self.assertEqual(c.tolist(), [2.0] * 5)

    def test_errors(self):
        self.assertRaises(ValueError, ferry.ndarray)
        self.assertRaises(ValueError, ferry.ndarray, shape=(2,), dtype=">f4")  # other byte order
        self.assertRaises(ValueError, ferry.ndarray, shape=(2,), dtype=object)
        self.assertRaises(ValueError, ferry.ndarray, shape=(2,), dtype="U3")  # not stored
        self.assertRaises(ValueError, ferry.ndarray, shape=(1,) * 9)  # too many dimensions
        self.assertRaises(ValueError, ferry.ndarray, shape=(-1,))
        self.assertRaises(OverflowError, ferry.ndarray, shape=(2 ** 62, 2 ** 62))
        self.assertRaises(FileNotFoundError, ferry.ndarray, "no-such-array")
        q = ferry.Queue()
        self.assertRaises(ferry.FerryError, ferry.ndarray, q.name + ".q")  # a queue, not arrays
        q.close()


class BusWithNumpy(unittest.TestCase):
    def _publish(self, bus, n):
        for i in range(n):
            with bus.loan(20) as frame:
                frame["image"][...] = i % 251
                frame["seq"][()] = i

    def test_lockstep_every_subscriber_every_frame(self):
        bus = ferry.Bus(arrays={"image": ((200, 300), "uint8"), "seq": ((), "int64")}, slots=3)
        out = ferry.Queue()
        ready = ferry.Semaphore(0)
        subs = [start(_check_frames, bus, 40, out, ready, method=m)
                for m in METHODS]
        for _ in subs:
            self.assertTrue(ready.acquire(True, 30))
        self._publish(bus, 40)
        bus.shutdown()
        for _ in subs:
            seen, bad = out.get(timeout=30)
            self.assertEqual(seen, list(range(40)))
            self.assertEqual(bad, 0)
        for p in subs:
            finish(self, p)
        bus.close()
        out.close()

    def test_latest_skips_and_read_only(self):
        bus = ferry.Bus(arrays={"image": ((4, 4), "f8"), "seq": ((), "i8")}, slots=4, mode="latest")
        sub = bus.subscribe()
        self._publish(bus, 10)
        f = sub.next(5)
        self.assertEqual(f.seq, 9)
        self.assertEqual(f.skipped, 9)
        self.assertFalse(f["image"].flags.writeable)
        with self.assertRaises(ValueError):
            f["image"][0, 0] = 1
        sub.release()
        self.assertRaises(TimeoutError, sub.next, 0.05)
        bus.shutdown()
        self.assertRaises(EOFError, sub.next, 5)
        del f
        sub.close()
        bus.close()

    def test_stalled_subscriber_killed_frees_the_publisher(self):
        bus = ferry.Bus(arrays={"image": ((8,), "u1"), "seq": ((), "i8")}, slots=2)
        ready = ferry.Semaphore(0)
        p = start(_stall_subscriber, bus, ready)
        self.assertTrue(ready.acquire(True, 30))  # subscribed
        with bus.loan(5) as frame:
            frame["seq"][()] = 0
        self.assertTrue(ready.acquire(True, 30))  # holds frame 0
        with bus.loan(5) as frame:  # slot 1 is free
            frame["seq"][()] = 1
        self.assertRaises(TimeoutError, bus.loan, 0.2)  # slot 0 is held
        p.kill()
        p.join(10)
        t0 = time.monotonic()
        with bus.loan(10) as frame:  # the dead subscriber is dropped
            frame["seq"][()] = 2
        self.assertLess(time.monotonic() - t0, 5)
        self.assertGreaterEqual(bus.stats()["dropped"], 1)
        image = frame["image"]
        bus.close()  # shuts down now; unmaps when the last array dies
        self.assertRaises(ValueError, bus.loan, 1)
        self.assertEqual(image.shape, (8,))  # still mapped: no crash
        del frame, image

    def test_bus_errors(self):
        self.assertRaises(ValueError, ferry.Bus, arrays=None)
        self.assertRaises(ValueError, ferry.Bus, arrays={"a": ((2,), "f4")}, mode="sometimes")
        self.assertRaises(ValueError, ferry.Bus, arrays={"a": ((2,), "f4")}, slots=1)
        self.assertRaises(FileNotFoundError, ferry.Subscriber, "no-such-bus")


if __name__ == "__main__":
    unittest.main()
