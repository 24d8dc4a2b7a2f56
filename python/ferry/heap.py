# SPDX-License-Identifier: MIT
"""Heap: a shared priority queue with a key function, over ferry's heap.

    heap = ferry.Heap(key=lambda r: r.length * r.width * r.height)
    heap.push(record)          # any process
    record = heap.pop()        # smallest key first; FIFO among equal keys

The key is computed by the process that pushes, so the heap itself runs no
Python. Records are stored encoded in slots of at most `max_item` bytes:
a str, int, bytes, float, None or bool, or a plain tuple of them, in a form
of its own; anything else pickled.

A heap is two regions: ``<name>``, the ferry heap, and ``<name>.k``, a
small one recording the key type and order (and, if it pickles, the key
function) for processes that open the heap by name.
"""

import pickle

from . import _core, _ferry
from ._core import Empty

__all__ = ["Heap", "Empty"]

CAPACITY = 1024
MAX_CAPACITY = 1 << 20
MAX_ITEM = 256
_PARAMS = "<III"  # is_double, is_max, length of the pickled key function
_KEYROOM = 4096


class Heap(_ferry.Heap):
    """Heap(key=None, *, name=None, create=None, order="min", key_type="float",
    capacity=1024, max_capacity=2**20, max_item=256)

    key(item) gives the item's priority (a number); without key the items
    are numbers and are their own keys. order="max" pops the largest first.
    key_type="int" stores keys as 64-bit ints (exact beyond 2**53)."""

    def __init__(self, key=None, *, name=None, create=None, order="min", key_type="float",
                 capacity=CAPACITY, max_capacity=MAX_CAPACITY, max_item=MAX_ITEM):
        if order not in ("min", "max"):
            raise ValueError("order must be 'min' or 'max'")
        if key_type not in ("float", "int"):
            raise ValueError("key_type must be 'float' or 'int'")
        self._key = key
        if name is None:
            name, create = _core.new_name("h"), True
        else:
            name = _core.check_name(name)
        self._rec = None
        if create is not False:
            try:
                self._make(name, key, order == "max", key_type == "float", capacity,
                           max(capacity, max_capacity), max_item)
                return
            except FileExistsError:
                if create:
                    raise
        self._attach(name, key)

    def _make(self, name, key, is_max, is_double, capacity, max_capacity, max_item):
        try:
            kp = pickle.dumps(key, _core.PROTOCOL) if key is not None else b""
        except Exception:
            kp = b""  # a lambda: openers by name must pass key= themselves
        if len(kp) > _KEYROOM:
            kp = b""
        self._create(name, capacity, max_capacity, max_item, is_double, is_max)
        try:
            ctl = _core.create_raw(name + ".k", _core.K_HEAP, _KEYROOM,
                                   _core.struct.pack(_PARAMS, is_double, is_max, len(kp)))
        except BaseException:
            _ferry.unlink(name)
            raise
        with memoryview(ctl) as m:
            m[_core.HEADER:_core.HEADER + len(kp)] = kp
        ctl.close()
        self._is_double = is_double
        self._rec = _core.own([name, name + ".k"])

    def _attach(self, name, key):
        ctl = _core.open_raw(name + ".k", _core.K_HEAP)
        try:
            is_double, _is_max, klen = _core.params(ctl, _PARAMS)
            if key is None and 0 < klen <= _KEYROOM:
                with memoryview(ctl) as m:
                    key = pickle.loads(m[_core.HEADER:_core.HEADER + klen])
        finally:
            ctl.close()
        self._key = key
        self._is_double = bool(is_double)
        self._open(name, self._is_double)

    @property
    def name(self):
        return self._name

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_rebuild, (type(self), self._name, self._key, self._is_double))

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass

    def close(self):
        self._close()
        _core.release(self._rec)
        self._rec = None

    def _k(self, item):
        return self._key(item) if self._key is not None else item

    # push(item), pop(block=True, timeout=None) and pop_with_key() are
    # _ferry.Heap's: the key function, the encoding and the heap call in
    # one C call each.

    def peek(self):
        """The item pop() would return, left in place. Raises Empty."""
        _k, data = self._peek()
        return self._decode(data)

    def replace_all(self, iterable):
        """Replaces every item with those of iterable, atomically: a pop sees
        the old set or the new one, never a mixture."""
        self._replace_all([(self._k(x), self._encode(x)) for x in iterable])

    def stats(self):
        return self._stats()

    def __repr__(self):
        return "<ferry.Heap %s len=%d>" % (self._name, len(self))


def _rebuild(cls, name, key, is_double):
    h = cls.__new__(cls)
    h._rec = None
    h._key = key
    h._is_double = is_double
    h._open(name, is_double)
    return h
