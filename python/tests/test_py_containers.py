# SPDX-License-Identifier: MIT
"""ferry.Dict and ferry.List: every call and error, atomic updates from
several processes, iteration rules, nesting, and a writer killed while
appending."""

import os
import time
import unittest

import ferry
from _util import METHODS, finish, start, wait_until


def _increment(d, key, n):
    for _ in range(n):
        d.update_value(key, lambda v: v + 1, 0)


def _append_forever(lst):
    i = 0
    while True:
        lst.append(("item", i, "x" * (i % 50)))
        i += 1


class DictTests(unittest.TestCase):
    def test_mapping(self):
        d = ferry.Dict({"a": 1}, b=2)
        d["c"] = [1, 2]
        d[(1, "t")] = None
        d[3] = 3.5
        d[b"k"] = b"v"
        self.assertEqual(len(d), 6)
        self.assertEqual(d.copy(), {"a": 1, "b": 2, "c": [1, 2], (1, "t"): None, 3: 3.5, b"k": b"v"})
        self.assertEqual(d, {"a": 1, "b": 2, "c": [1, 2], (1, "t"): None, 3: 3.5, b"k": b"v"})
        self.assertIn("a", d)
        self.assertNotIn("z", d)
        self.assertEqual(d.get("z", 9), 9)
        self.assertRaises(KeyError, d.__getitem__, "z")
        del d["a"]
        self.assertRaises(KeyError, d.__delitem__, "a")
        self.assertEqual(d.pop("b"), 2)
        self.assertEqual(d.pop("b", "gone"), "gone")
        self.assertRaises(KeyError, d.pop, "b")
        self.assertEqual(d.setdefault("n", 10), 10)
        self.assertEqual(d.setdefault("n", 11), 10)
        d.update({"u": 1}, v=2)
        self.assertEqual(sorted(k for k in d.keys() if isinstance(k, str)), ["c", "n", "u", "v"])
        self.assertEqual(d.update_value("u", lambda v: v * 10), 10)
        self.assertRaises(KeyError, d.update_value, "missing", lambda v: v)
        self.assertEqual(d.update_value("new", lambda v: v + 1, 0), 1)
        d.clear()
        self.assertEqual(len(d), 0)
        # 1, 1.0 and True are three keys: their encodings differ
        d[1], d[1.0], d[True] = "int", "float", "bool"
        self.assertEqual(len(d), 3)

    def test_iteration_rules(self):
        d = ferry.Dict((i, chr(i)) for i in range(65, 70))
        it = iter(d)
        self.assertEqual(list(it), list(range(65, 70)))
        self.assertEqual(list(it), [])
        it = iter(d)
        d[99] = "new"
        self.assertRaises(RuntimeError, next, it)

    def test_limits(self):
        d = ferry.Dict.named(max_key=16, max_value=16, capacity=4, max_capacity=4)
        self.assertRaises(ValueError, d.__setitem__, "k" * 40, 1)
        self.assertRaises(ValueError, d.__setitem__, "k", "v" * 40)
        for i in range(4):
            d[i] = i
        self.assertRaises(MemoryError, d.__setitem__, 99, 99)
        self.assertEqual(len(d), 4)
        self.assertRaises(ValueError, ferry.Dict.named, name="bad name")

    def test_update_value_is_atomic_across_processes(self):
        for method in METHODS:
            d = ferry.Dict()
            ps = [start(_increment, d, "n", 300, method=method) for _ in range(3)]
            for p in ps:
                finish(self, p, timeout=60)
            self.assertEqual(d["n"], 900)

    def test_nested_objects_by_name(self):
        inner = ferry.Dict(x=1)
        q = ferry.Queue()
        outer = ferry.Dict(inner=inner, q=q)
        outer["inner"]["y"] = 2
        self.assertEqual(inner.copy(), {"x": 1, "y": 2})
        outer["q"].put("through the dict")
        self.assertEqual(q.get(timeout=1), "through the dict")
        q.close()


class ListTests(unittest.TestCase):
    def test_sequence(self):
        a = ferry.List(range(5))
        self.assertEqual(a[:], [0, 1, 2, 3, 4])
        self.assertEqual((a[0], a[-1], a[1:3], a[::-2]), (0, 4, [1, 2], [4, 2, 0]))
        a.append("x")
        a.insert(0, "first")
        a.insert(-1, "before last")
        a.insert(100, "end")
        self.assertEqual(a[:], ["first", 0, 1, 2, 3, 4, "before last", "x", "end"])
        self.assertEqual(a.pop(), "end")
        self.assertEqual(a.pop(0), "first")
        a[1] = "one"
        del a[0]
        self.assertEqual(a[:], ["one", 2, 3, 4, "before last", "x"])
        a[1:3] = ["a", "b", "c"]
        del a[-2:]
        self.assertEqual(a[:], ["one", "a", "b", "c", 4])
        a.extend([5, 6])
        a += [7]
        self.assertEqual(a.index("b"), 2)
        self.assertEqual(a.count(4), 1)
        self.assertIn(7, a)
        self.assertEqual(a + [8], ["one", "a", "b", "c", 4, 5, 6, 7, 8])
        nums = ferry.List([3, 1, 2])
        nums.sort()
        self.assertEqual(nums, [1, 2, 3])
        nums.sort(reverse=True)
        nums.reverse()
        self.assertEqual(nums.copy(), [1, 2, 3])
        nums *= 2
        self.assertEqual(nums[:], [1, 2, 3, 1, 2, 3])
        nums.remove(2)
        self.assertEqual(nums[:], [1, 3, 1, 2, 3])
        nums.clear()
        self.assertEqual(len(nums), 0)

    def test_errors(self):
        a = ferry.List.named(capacity=3, max_item=32)
        self.assertRaises(IndexError, a.__getitem__, 0)
        self.assertRaises(IndexError, a.pop)
        self.assertRaises(IndexError, a.__setitem__, 5, 1)
        self.assertRaises(ValueError, a.append, "y" * 100)
        a.extend([1, 2, 3])
        self.assertRaises(MemoryError, a.append, 4)
        self.assertRaises(MemoryError, a.extend, [4, 5])  # all or nothing
        self.assertEqual(a[:], [1, 2, 3])
        self.assertRaises(ValueError, a.remove, 99)

    def test_lazy_iteration_sees_changes(self):
        a = ferry.List(range(3))
        it = iter(a)
        a[0] = 100
        self.assertEqual(next(it), 100)

    def test_writer_killed_while_appending(self):
        a = ferry.List.named(capacity=1 << 16, max_item=128)
        for _ in range(3):
            before = len(a)
            p = start(_append_forever, a)
            # a writer killed holding the lock is taken over within the
            # liveness period (1 s): wait until this one appends
            self.assertTrue(wait_until(lambda: len(a) > before + 20, 20))
            p.kill()
            p.join(10)
        items = a[:]
        self.assertGreater(len(items), 0)
        # each writer's items are whole and in order; every write is whole
        runs = 0
        for k, (tag, i, pad) in enumerate(items):
            self.assertEqual(tag, "item")
            self.assertEqual(pad, "x" * (i % 50))
            if i == 0:
                runs += 1
            else:
                self.assertEqual(items[k - 1][1], i - 1)
        self.assertEqual(runs, 3)
        a.append("still works")
        self.assertEqual(a[-1], "still works")


if __name__ == "__main__":
    unittest.main()
