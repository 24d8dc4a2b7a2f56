# SPDX-License-Identifier: MIT
"""ferry.Heap: order, key function, FIFO ties, blocking pop, replace_all,
workers in several processes, open by name, errors."""

import collections
import math
import os
import unittest

import ferry
from _util import METHODS, Timer, finish, sigint_after, start

Box = collections.namedtuple("Box", "l w h id")


def volume(b):
    return b.l * b.w * b.h


def _worker(heap, n, out):
    for _ in range(n):
        b = heap.pop(timeout=20)
        heap.push(b._replace(l=b.l + 1))
    out.put(os.getpid())


class HeapTests(unittest.TestCase):
    def test_order_key_and_ties(self):
        h = ferry.Heap(key=volume)
        boxes = [Box(3, 3, 3, 0), Box(1, 1, 1, 1), Box(2, 2, 2, 2), Box(1, 1, 1, 3)]
        for b in boxes:
            h.push(b)
        self.assertEqual(len(h), 4)
        self.assertEqual(h.peek(), boxes[1])
        self.assertEqual([h.pop().id for _ in range(4)], [1, 3, 2, 0])  # FIFO among equals
        self.assertRaises(ferry.Empty, h.pop, False)
        self.assertRaises(ferry.Empty, h.peek)
        with Timer() as t:
            self.assertRaises(ferry.Empty, h.pop, True, 0.1)
        self.assertGreaterEqual(t.elapsed, 0.09)
        h.close()

    def test_max_order_int_keys_and_plain_numbers(self):
        h = ferry.Heap(order="max", key_type="int")
        for x in (5, 2 ** 60 + 1, -3, 2 ** 60):
            h.push(x)
        self.assertEqual([h.pop() for _ in range(4)], [2 ** 60 + 1, 2 ** 60, 5, -3])
        self.assertEqual(h.stats()["pushes"], 4)

    def test_replace_all_and_clear(self):
        h = ferry.Heap(key=volume)
        h.push(Box(9, 9, 9, 0))
        h.replace_all(Box(i % 5 + 1, 1, 1, i) for i in range(20))
        self.assertEqual(len(h), 20)
        self.assertEqual(h.pop_with_key(), (1.0, Box(1, 1, 1, 0)))
        h.clear()
        self.assertEqual(len(h), 0)

    def test_workers_in_processes(self):
        for method in METHODS:
            h = ferry.Heap(key=volume)
            h.replace_all(Box(1 + i % 7, 2, 3, i) for i in range(200))
            out = ferry.Queue()
            ps = [start(_worker, h, 100, out, method=method) for _ in range(3)]
            for _ in ps:
                out.get(timeout=60)
            for p in ps:
                finish(self, p)
            items = [h.pop(False) for _ in range(len(h))]
            self.assertEqual(sorted(b.id for b in items), list(range(200)))  # none lost or doubled
            self.assertEqual(sum(b.l for b in items), sum(1 + i % 7 for i in range(200)) + 300)
            keys = [volume(b) for b in items]
            self.assertEqual(keys, sorted(keys))

    def test_open_by_name_gets_the_key(self):
        prefix = os.environ.get("FERRY_PY_PREFIX", "py-")
        h = ferry.Heap(key=volume, name=prefix + "boxes")
        other = ferry.Heap(name=h.name, create=False)  # key function from the region
        other.push(Box(2, 2, 2, 1))
        h.push(Box(1, 1, 1, 2))
        self.assertEqual(other.pop().id, 2)
        self.assertRaises(FileExistsError, ferry.Heap, name=h.name, create=True)

    def test_errors_and_ctrl_c(self):
        h = ferry.Heap(max_item=32)
        self.assertRaises(ValueError, h.push, math.nan)
        self.assertRaises(TypeError, h.push, "not a number")
        big = ferry.Heap(key=len, max_item=32)
        self.assertRaises(ValueError, big.push, "x" * 100)
        self.assertEqual(len(big), 0)
        self.assertRaises(ValueError, ferry.Heap, order="middle")
        self.assertRaises(ValueError, ferry.Heap, key_type="complex")
        sigint_after(0.3)
        self.assertRaises(KeyboardInterrupt, h.pop)

    def test_push_and_pop_arguments(self):
        h = ferry.Heap(key=volume, max_item=2048)
        # pop's arguments, by position and by name, and their mistakes
        self.assertRaises(ferry.Empty, h.pop, block=False)
        self.assertRaises(ferry.Empty, h.pop, timeout=0.01)
        self.assertRaises(ferry.Empty, h.pop, False, None)
        self.assertRaises(TypeError, h.pop, True, 1, 2)
        self.assertRaises(TypeError, h.pop, colour=1)
        self.assertRaises(TypeError, h.pop, False, block=False)
        self.assertRaises(TypeError, h.push)
        self.assertRaises(TypeError, h.push, 1, 2)
        # a key function that raises, or gives no number: nothing pushed
        def bad_key(b):
            raise KeyError("no key")
        self.assertRaises(AttributeError, h.push, "no volume")
        bad = ferry.Heap(key=bad_key)
        self.assertRaises(KeyError, bad.push, Box(1, 1, 1, 0))
        bad._key = lambda b: "not a number"
        self.assertRaises(TypeError, bad.push, Box(1, 1, 1, 0))
        self.assertEqual(len(bad), 0)
        bad.close()
        # items whose encoding is larger than the pop's stack buffer, and a
        # key function set after creation
        big = Box(1, 1, 1, "x" * 1500)
        h.push(big)
        h.push(Box(2, 2, 2, "small"))
        self.assertEqual(h.pop(block=True, timeout=1), big)
        self.assertEqual(h.pop(True).id, "small")
        h._key = lambda b: -b.id
        h.push(Box(9, 9, 9, 1))
        h.push(Box(1, 1, 1, 2))
        self.assertEqual(h.pop().id, 2)
        h.close()
        self.assertRaises(ValueError, h.push, Box(1, 1, 1, 3))
        self.assertRaises(ValueError, h.pop, False)

    def test_items_round_trip(self):
        # Flat tuples of scalars take the heap's own form, everything else
        # the shared encoding: each comes back equal and of its own type.
        items = [(), (1,), (5, 6, 7, 123456), (-2 ** 63, 2 ** 63 - 1, 0), (2 ** 64, 1),
                 (1.5, -0.0, float("inf")), ("", "é€😀", "x" * 700), (b"", b"\x00\xff" * 300),
                 (None, True, False, 1, 1.0), tuple(range(255)), tuple(range(256)),
                 ((1, 2), 3), ("\ud800",), Box(1, 2, 3, "b"), [1, 2], "text", 7, None]
        h = ferry.Heap(max_item=4096, key=lambda x: 0)
        for x in items:
            h.push(x)
        got = [h.pop(False) for _ in items]
        self.assertEqual(len(got), len(items))
        for want, x in zip(items, got):
            self.assertIs(type(x), type(want))
            self.assertEqual(x, want)
        self.assertEqual(math.copysign(1.0, got[5][1]), -1.0)  # -0.0 kept
        h.push((float("nan"), 1))
        x = h.pop()
        self.assertTrue(math.isnan(x[0]) and x[1] == 1)
        h.replace_all(items[:4])
        self.assertEqual(h.peek(), items[0])
        self.assertEqual(h.pop_with_key(), (0.0, items[0]))
        self.assertEqual([h.pop() for _ in range(3)], items[1:4])
        # too long for the slot: refused, nothing pushed
        self.assertRaises(ValueError, h.push, ("y" * 5000,))
        self.assertEqual(len(h), 0)
        h.close()

    def test_corrupt_payloads_are_errors(self):
        # Payload bytes are shared memory: a bad count, length, tag or tail
        # is an error, never a read outside them.
        dec = ferry.Heap._decode
        good = ferry.Heap._encode((1, "ab", b"c", 2.5, None))
        self.assertEqual(dec(good), (1, "ab", b"c", 2.5, None))
        bad = [b"T", b"T\x01", b"T\x02i" + b"\x00" * 8, b"T\x01i\x00", b"T\x01s\xff\xff\xff\x7f",
               b"T\x01s\x05\x00\x00\x00ab", b"T\x01q", good + b"\x00", good[:-1],
               b"T\x01s\x02\x00\x00\x00\xff\xfe"]
        for b in bad:
            self.assertRaises((ferry.FerryError, ValueError), dec, b)


if __name__ == "__main__":
    unittest.main()
