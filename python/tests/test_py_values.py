# SPDX-License-Identifier: MIT
"""Value, Array, RawValue and RawArray: typecodes, the three lock cases,
slicing, and the same memory in a child under fork and spawn."""

import ctypes
import unittest

import ferry
from _util import METHODS, finish, start

CODES = [("b", -5, 7), ("B", 200, 3), ("h", -300, 301), ("H", 60000, 1), ("i", -70000, 70001),
         ("I", 4000000000, 5), ("l", -(2 ** 40), 2 ** 41), ("L", 2 ** 63, 9), ("q", -(2 ** 62), 3),
         ("Q", 2 ** 64 - 1, 0), ("f", 1.5, -2.25), ("d", 3.141592653589793, -1e300),
         ("c", b"x", b"y"), ("u", "é", "ü")]


def _set_values(values, targets):
    for v, t in zip(values, targets):
        v.value = t


def _double_array(arr):
    for i in range(len(arr)):
        arr[i] *= 2


class Values(unittest.TestCase):
    def test_typecodes_in_children(self):
        for method in METHODS:
            for raw in (False, True):
                make = ferry.RawValue if raw else ferry.Value
                values = [make(code, first) for code, first, _ in CODES]
                for v, (code, first, _) in zip(values, CODES):
                    self.assertEqual(v.value, first, code)
                p = start(_set_values, values, [second for _, _, second in CODES], method=method)
                finish(self, p)
                for v, (code, _, second) in zip(values, CODES):
                    self.assertEqual(v.value, second, code)

    def test_lock_cases(self):
        v = ferry.Value("i", 5)
        self.assertIsInstance(v.get_lock(), ferry.RLock)
        self.assertIsInstance(v.get_obj(), ctypes.c_int)
        v2 = ferry.Value("i", 5, lock=None)
        self.assertIsInstance(v2.get_lock(), ferry.RLock)
        lock = ferry.Lock()
        v3 = ferry.Value("i", 5, lock=lock)
        self.assertIs(v3.get_lock(), lock)
        v4 = ferry.Value("i", 5, lock=False)
        self.assertFalse(hasattr(v4, "get_lock"))
        self.assertRaises(AttributeError, ferry.Value, "i", 5, lock="not a lock")
        with v.get_lock():
            v.value += 1
        self.assertEqual(v.value, 6)
        self.assertEqual(ferry.RawValue(ctypes.c_double, 2.5).value, 2.5)
        self.assertRaises(TypeError, ferry.RawValue, "z", 1)  # not a typecode


class Arrays(unittest.TestCase):
    def test_array_in_children(self):
        for method in METHODS:
            for raw in (False, True):
                make = ferry.RawArray if raw else ferry.Array
                arr = make("i", range(10))
                self.assertEqual(len(arr), 10)
                self.assertEqual(arr[2:5], [2, 3, 4])
                arr[0:3] = [7, 8, 9]
                p = start(_double_array, arr, method=method)
                finish(self, p)
                self.assertEqual(list(arr), [14, 16, 18] + [2 * i for i in range(3, 10)])

    def test_sizes_strings_and_locks(self):
        a = ferry.Array("d", 4)
        self.assertEqual(list(a), [0.0] * 4)
        s = ferry.Array("c", b"hello")
        self.assertEqual(s.value, b"hello")
        s.value = b"hi"
        self.assertEqual(s.raw[:2], b"hi")
        self.assertFalse(hasattr(ferry.Array("i", 3, lock=False), "get_lock"))
        self.assertRaises(AttributeError, ferry.Array, "i", 3, lock=1)
        self.assertRaises(IndexError, a.__getitem__, 4)
        self.assertRaises(TypeError, ferry.RawArray, "d", ["x"])


if __name__ == "__main__":
    unittest.main()
