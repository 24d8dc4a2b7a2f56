# SPDX-License-Identifier: MIT
"""Dict and List: Manager().dict() and Manager().list() without a manager
process, over ferry's shared dict and list.

Keys and values are stored encoded: str, int (64-bit), bytes, float, None
and bool in a compact form, everything else pickled. Two keys are the same
key when their encodings are equal, so 1, 1.0 and True are three different
keys (a built-in dict would merge them). A ferry object stored in a Dict or
List (another Dict, a Queue, ...) is stored by name: reading it back gives
a handle on the same shared object.

Dict(...) and List(...) take what dict() and list() take; Dict.named() and
List.named() create or open one by name, with size options.
"""

from collections.abc import MutableMapping, MutableSequence

from . import _core, _ferry

__all__ = ["Dict", "List"]

# Defaults: the region is sized for max_capacity entries but its pages are
# only used as entries are.
DICT_CAPACITY = 1024
DICT_MAX_CAPACITY = 1 << 15
DICT_MAX_KEY = 256
DICT_MAX_VALUE = 512

_MISSING = object()


class Dict(_ferry.Dict, MutableMapping):
    """A shared MutableMapping. Dict(mapping_or_iterable=(), **kwargs) makes
    a new one, as dict() does.

    Besides the mapping methods: update_value(key, fn[, default]) replaces
    the value with fn(value) atomically and returns it (fn may run more than
    once when others write the same key); setdefault() and pop() are atomic
    too; copy() returns a plain dict."""

    def __init__(self, *args, **kwargs):
        self._make(None, True, DICT_CAPACITY, DICT_MAX_CAPACITY, DICT_MAX_KEY, DICT_MAX_VALUE)
        if args or kwargs:
            self.update(*args, **kwargs)

    @classmethod
    def named(cls, name=None, create=None, *, capacity=DICT_CAPACITY, max_capacity=DICT_MAX_CAPACITY,
              max_key=DICT_MAX_KEY, max_value=DICT_MAX_VALUE):
        """Creates or opens the dict `name` (create=True: must create;
        False: must open; None: either). max_key and max_value bound the
        encoded sizes of one key and one value."""
        d = cls.__new__(cls)
        d._make(name, create, capacity, max_capacity, max_key, max_value)
        return d

    def _make(self, name, create, capacity, max_capacity, max_key, max_value):
        if name is None:
            name, create = _core.new_name("d"), True
        else:
            name = _core.check_name(name)
        self._rec = None
        if create is not False:
            try:
                self._create(name, capacity, max(max_capacity, capacity), max_key, max_value)
                self._rec = _core.own([name])
                return
            except FileExistsError:
                if create:
                    raise
        self._open(name)

    @property
    def name(self):
        return self._name

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_open_dict, (type(self), self._name))

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass

    def close(self):
        """Detaches this process (the creator's close removes the dict unless
        it was sent to another process)."""
        self._close()
        _core.release(self._rec)
        self._rec = None

    def copy(self):
        """A plain dict with the same items (a snapshot)."""
        return dict(self._items())

    def items(self):
        return _ItemsView(self)

    def keys(self):
        return _KeysView(self)

    def values(self):
        return _ValuesView(self)

    def __eq__(self, other):
        if isinstance(other, Dict) and other._name == self._name:
            return True
        if isinstance(other, (Dict, dict)):
            return self.copy() == (other.copy() if isinstance(other, Dict) else other)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return "<ferry.Dict %s %r>" % (self._name, self.copy())

    def stats(self):
        """Size, capacity and limits of the shared dict."""
        return self._stats()


class _KeysView:
    __slots__ = ("_d",)

    def __init__(self, d):
        self._d = d

    def __iter__(self):
        return iter(self._d._items(True, False))

    def __len__(self):
        return len(self._d)

    def __contains__(self, k):
        return k in self._d

    def __repr__(self):
        return "dict_keys(%r)" % (self._d._items(True, False),)


class _ValuesView(_KeysView):
    __slots__ = ()

    def __iter__(self):
        return iter(self._d._items(False, True))

    def __contains__(self, v):
        return v in self._d._items(False, True)

    def __repr__(self):
        return "dict_values(%r)" % (self._d._items(False, True),)


class _ItemsView(_KeysView):
    __slots__ = ()

    def __iter__(self):
        return iter(self._d._items(True, True))

    def __contains__(self, item):
        k, v = item
        return self._d.get(k, _MISSING) == v

    def __repr__(self):
        return "dict_items(%r)" % (self._d._items(True, True),)


def _open_dict(cls, name):
    d = cls.__new__(cls)
    d._rec = None
    d._open(name)
    return d


LIST_CAPACITY = 1 << 15
LIST_MAX_ITEM = 512


class List(_ferry.List, MutableSequence):
    """A shared MutableSequence. List(iterable=()) makes a new one, as list()
    does. Every call is atomic; slicing, sorting and the like work on a
    snapshot and write back with one atomic replace (a change made by
    another process in between is overwritten, as with Manager().list())."""

    def __init__(self, iterable=()):
        self._make(None, True, LIST_CAPACITY, LIST_MAX_ITEM)
        if iterable:
            self._extend(list(iterable))

    @classmethod
    def named(cls, name=None, create=None, *, capacity=LIST_CAPACITY, max_item=LIST_MAX_ITEM):
        """Creates or opens the list `name` (create as for Dict.named).
        max_item bounds the encoded size of one item."""
        lst = cls.__new__(cls)
        lst._make(name, create, capacity, max_item)
        return lst

    def _make(self, name, create, capacity, max_item):
        if name is None:
            name, create = _core.new_name("L"), True
        else:
            name = _core.check_name(name)
        self._rec = None
        if create is not False:
            try:
                self._create(name, capacity, max_item)
                self._rec = _core.own([name])
                return
            except FileExistsError:
                if create:
                    raise
        self._open(name)

    @property
    def name(self):
        return self._name

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_open_list, (type(self), self._name))

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass

    def close(self):
        """Detaches this process (as Dict.close)."""
        self._close()
        _core.release(self._rec)
        self._rec = None

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._snapshot()[i]
        return _ferry.List.__getitem__(self, i)

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            items = self._snapshot()
            items[i] = v
            self._replace(items)
        else:
            _ferry.List.__setitem__(self, i, v)

    def __delitem__(self, i):
        if isinstance(i, slice):
            items = self._snapshot()
            del items[i]
            self._replace(items)
        else:
            _ferry.List.__delitem__(self, i)

    def extend(self, iterable):
        """Appends every item, all at once (one atomic change)."""
        self._extend(list(iterable))

    def __iadd__(self, iterable):
        self.extend(iterable)
        return self

    def __imul__(self, n):
        self._replace(self._snapshot() * n)
        return self

    def __add__(self, other):
        return self._snapshot() + list(other)

    def __radd__(self, other):
        return list(other) + self._snapshot()

    def __mul__(self, n):
        return self._snapshot() * n

    __rmul__ = __mul__

    def reverse(self):
        self._replace(self._snapshot()[::-1])

    def sort(self, *, key=None, reverse=False):
        items = self._snapshot()
        items.sort(key=key, reverse=reverse)
        self._replace(items)

    def copy(self):
        """A plain list with the same items (a snapshot)."""
        return self._snapshot()

    def __eq__(self, other):
        if isinstance(other, List):
            return other._name == self._name or self._snapshot() == other._snapshot()
        if isinstance(other, list):
            return self._snapshot() == other
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return "<ferry.List %s %r>" % (self._name, self._snapshot())

    def stats(self):
        return self._stats()


def _open_list(cls, name):
    lst = cls.__new__(cls)
    lst._rec = None
    lst._open(name)
    return lst
