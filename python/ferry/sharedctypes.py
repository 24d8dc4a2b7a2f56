# SPDX-License-Identifier: MIT
"""Value, Array, RawValue and RawArray: ctypes objects living in a ferry
region, with multiprocessing's typecodes and its three `lock` cases.

The ctypes object is built over the region's memory (no copy); it pickles
to the region's name and is rebuilt over the same memory in the child.
Value and Array wrap it with multiprocessing's own Synchronized classes, so
get_lock(), get_obj(), .value and slicing behave exactly as there.
"""

import ctypes
from multiprocessing import sharedctypes as _mpsc
from multiprocessing.reduction import ForkingPickler

from . import _core
from .synchronize import RLock

__all__ = ["RawValue", "RawArray", "Value", "Array"]

typecode_to_type = _mpsc.typecode_to_type
_PARAMS = "<8sQ"  # ctypes type's _type_ code (or ""), element count (0: a scalar)


class _Buffer:
    """A region holding one ctypes object (what ctypes objects keep as
    _wrapper, like multiprocessing's heap.BufferWrapper)."""

    def __init__(self, size, code=b"", count=0):
        name = _core.new_name("v")
        self._r = _core.create_raw(name, _core.K_VALUE, max(size, 1),
                                   _core.struct.pack(_PARAMS, code, count))
        self._rec = _core.own([name])
        self._name = name
        self._size = size

    @classmethod
    def _open(cls, name, size):
        b = cls.__new__(cls)
        b._r = _core.open_raw(name, _core.K_VALUE)
        if b._r.size - _core.HEADER < size:
            b._r.close()
            raise _core.FerryError(4005, "%s is too small for its value" % name)
        b._rec = None
        b._name = name
        b._size = size
        return b

    def create_memoryview(self):
        return memoryview(self._r)[_core.HEADER:_core.HEADER + self._size]

    @property
    def name(self):
        return self._name

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_Buffer._open, (self._name, self._size))

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass


def _rebuild(type_, wrapper, length):
    if length is not None:
        type_ = type_ * length
    ForkingPickler.register(type_, _reduce)
    obj = type_.from_buffer(wrapper.create_memoryview())
    obj._wrapper = wrapper
    return obj


def _reduce(obj):
    w = getattr(obj, "_wrapper", None)
    if not isinstance(w, _Buffer):
        return _mpsc.reduce_ctype(obj)  # one of multiprocessing's own
    if isinstance(obj, ctypes.Array):
        return _rebuild, (obj._type_, w, obj._length_)
    return _rebuild, (type(obj), w, None)


def _new(type_):
    code = getattr(type_, "_type_", "")
    code = code.encode() if isinstance(code, str) else b""
    w = _Buffer(ctypes.sizeof(type_), code[:8], getattr(type_, "_length_", 0))
    return _rebuild(type_, w, None)


def RawValue(typecode_or_type, *args):
    """A ctypes object in shared memory (no lock)."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    obj = _new(type_)
    ctypes.memset(ctypes.addressof(obj), 0, ctypes.sizeof(obj))
    obj.__init__(*args)
    return obj


def RawArray(typecode_or_type, size_or_initializer):
    """A ctypes array in shared memory (no lock)."""
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    if isinstance(size_or_initializer, int):
        type_ = type_ * size_or_initializer
        obj = _new(type_)
        ctypes.memset(ctypes.addressof(obj), 0, ctypes.sizeof(obj))
        return obj
    type_ = type_ * len(size_or_initializer)
    result = _new(type_)
    result.__init__(*size_or_initializer)
    return result


def _lock_for(lock):
    if lock is True or lock is None:
        return RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError("%r has no method 'acquire'" % lock)
    return lock


def Value(typecode_or_type, *args, lock=True, ctx=None):
    """A synchronized shared value. lock=True or None: a new RLock; False: the
    raw ctypes object; else the lock to use (anything with acquire)."""
    obj = RawValue(typecode_or_type, *args)
    if lock is False:
        return obj
    return _mpsc.synchronized(obj, _lock_for(lock))


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
    """A synchronized shared array (lock as for Value)."""
    obj = RawArray(typecode_or_type, size_or_initializer)
    if lock is False:
        return obj
    return _mpsc.synchronized(obj, _lock_for(lock))
