# SPDX-License-Identifier: MIT
"""numpy arrays in shared memory, without a copy, and the bus.

ndarray(name=None, shape=None, dtype=None, *, create=None)
    A numpy array over a ferry array region. With a shape it creates one
    (zeroed); with only a name it opens one, taking dtype and shape from the
    region. The array is a SharedNDArray: it pickles to the region's name,
    so a child process gets a view of the same memory, not a copy (a slice
    pickles as the same slice of it).

SharedArrays(name=None, arrays=None, *, create=None)
    A frame of several named arrays in one region: frame["a"] is a
    SharedNDArray.

Bus(name=None, arrays=..., slots=4, mode="lockstep") and Subscriber(name)
    The broadcast bus: the publisher fills a frame's arrays in place and
    publishes it; every subscriber gets read-only numpy views of each frame
    (mode "lockstep": every frame; "latest": the newest, skipping the rest).

        with bus.loan() as frame:         # publisher
            frame["image"][:] = ...
        for frame in ferry.Subscriber(bus.name):   # any process
            frame["image"].mean()         # read-only, no copy
"""

import weakref

import numpy as np

from . import _core, _ferry

__all__ = ["ndarray", "SharedNDArray", "SharedArrays", "Bus", "Subscriber", "Frame"]

_MODES = {"lockstep": _ferry.BUS_LOCKSTEP, "latest": _ferry.BUS_LATEST}


def _spec(name, shape, dtype):
    dt = np.dtype(dtype)
    if dt.byteorder == ">" or (dt.byteorder == "=" and not np.little_endian):
        raise ValueError("dtype %s: ferry stores this host's byte order only" % dt)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    return (name, dt.name, shape)


def _as_array(view, src):
    a = np.asarray(view).view(SharedNDArray)
    a._ferry_src = src
    return a


class SharedNDArray(np.ndarray):
    """An ndarray over ferry shared memory. It pickles by reference to the
    region when its data lies there (the array itself, a slice, a
    transpose), and by value otherwise (say, the result of arr + 1)."""

    def __array_finalize__(self, obj):
        self._ferry_src = getattr(obj, "_ferry_src", None)

    def __reduce__(self):
        src = self._ferry_src
        if src is not None:
            kind, name, index, base, nbytes = src
            addr = self.__array_interface__["data"][0]
            lo, hi = np.byte_bounds(self)
            if base <= lo and hi <= base + nbytes and kind == "arrays":
                _core.mark_shared(_records.get(name))
                return (_rebuild_view, (name, index, addr - base, self.shape, self.strides,
                                        self.dtype.str))
        return (np.array, (np.asarray(self).copy(),))


def _rebuild_view(name, index, offset, shape, strides, typestr):
    arrays = _open_arrays(name)
    view = arrays.views()[index]
    whole = np.asarray(view)
    a = np.ndarray(shape, np.dtype(typestr), buffer=whole, offset=offset, strides=strides)
    a = a.view(SharedNDArray)
    a._ferry_src = ("arrays", name, index, view.address, view.nbytes)
    a._ferry_keep = arrays
    return a


# Records of the array regions this process created, by name (the region
# is removed when its last array object here dies, unless it was shared).
_records = {}


def _open_arrays(name):
    return _ferry.Arrays.open(name)


def _track(handle, rec):
    if rec is None:
        return
    _records[handle.name] = rec

    def done(name=handle.name, rec=rec):
        _records.pop(name, None)
        _core.release(rec)

    weakref.finalize(handle, done)


class SharedArrays:
    """A frame of named shared arrays in one region.

    SharedArrays(name=None, arrays=None, *, create=None): arrays maps each
    array's name to (shape, dtype) (or is a list of (name, shape, dtype));
    without it the region is opened by name."""

    def __init__(self, name=None, arrays=None, *, create=None):
        rec = None
        if name is None:
            if arrays is None:
                raise ValueError("give the arrays to create, or a name to open")
            name, create = _core.new_name("a"), True
        else:
            name = _core.check_name(name)
        if arrays is not None and create is not False:
            items = arrays.items() if isinstance(arrays, dict) else [(n, (s, d)) for n, s, d in arrays]
            specs = [_spec(n, s, d) for n, (s, d) in items]
            try:
                self._h = _ferry.Arrays.create(name, specs)
                rec = _core.own([name])
            except FileExistsError:
                if create:
                    raise
                self._h = _ferry.Arrays.open(name)
        else:
            self._h = _ferry.Arrays.open(name)
        _track(self._h, rec)
        self._arrays = {}
        for i, v in enumerate(self._h.views()):
            self._arrays[v.name] = _as_array(v, ("arrays", name, i, v.address, v.nbytes))
        # every array keeps the handle (and so the mapping) alive
        for a in self._arrays.values():
            a._ferry_keep = self._h

    @property
    def name(self):
        return self._h.name

    def __getitem__(self, key):
        return self._arrays[key]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def keys(self):
        return self._arrays.keys()

    def items(self):
        return self._arrays.items()

    def region(self):
        """(address, size) of the region's data in this process."""
        return self._h.region()

    def __reduce__(self):
        _core.mark_shared(_records.get(self.name))
        return (SharedArrays, (self.name,), None)

    def __repr__(self):
        return "<ferry.SharedArrays %s %s>" % (
            self.name, ", ".join("%s %s%s" % (k, a.dtype, list(a.shape)) for k, a in self._arrays.items()))


def ndarray(name=None, shape=None, dtype=None, *, create=None):
    """A numpy array in shared memory (see the module's doc). dtype defaults
    to float64 when creating."""
    if shape is None:
        if name is None:
            raise ValueError("give a shape to create an array, or a name to open one")
        frame = SharedArrays(name, create=False)
        if len(frame) != 1:
            raise ValueError("%s holds %d arrays: open it with SharedArrays" % (name, len(frame)))
        return next(iter(frame._arrays.values()))
    frame = SharedArrays(name, {"array": (shape, np.float64 if dtype is None else dtype)},
                         create=create)
    a = next(iter(frame._arrays.values()))
    if name is not None and create is None:
        want = np.dtype(np.float64 if dtype is None else dtype)
        want_shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if a.dtype != want or a.shape != want_shape:
            raise ValueError("%s exists with dtype %s and shape %s" % (name, a.dtype, a.shape))
    return a


# ---- the bus -----------------------------------------------------------------------


class Frame:
    """One frame of the bus: frame[name] is a numpy array (read-only for a
    subscriber); seq is its sequence number, skipped the frames a LATEST
    subscriber missed before it. A subscriber's frame is valid until the
    next next() or release() (use it as a context manager)."""

    __slots__ = ("seq", "skipped", "lag", "_arrays", "_owner")

    def __init__(self, seq, skipped, lag, arrays, owner):
        self.seq = seq
        self.skipped = skipped
        self.lag = lag
        self._arrays = arrays
        self._owner = owner

    def __getitem__(self, key):
        return self._arrays[key]

    def keys(self):
        return self._arrays.keys()

    def items(self):
        return self._arrays.items()

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        self._owner._done(self, exc_type is None)


def _frame_arrays(views, writable):
    out = {}
    for v in views:
        a = np.asarray(v)
        if not writable:
            a.flags.writeable = False
        out[v.name] = a
    return out


class Bus:
    """The publisher of a bus.

    Bus(name=None, arrays, *, slots=4, mode="lockstep", max_subscribers=64):
    arrays maps each array's name to (shape, dtype). Only the creating
    process publishes; pickled to another process, a Bus can only
    subscribe()."""

    def __init__(self, name=None, arrays=None, *, slots=4, mode="lockstep", max_subscribers=64):
        if arrays is None:
            raise ValueError("a bus needs its frame's arrays")
        if mode not in _MODES:
            raise ValueError("mode must be 'lockstep' or 'latest'")
        name = _core.new_name("B") if name is None else _core.check_name(name)
        items = arrays.items() if isinstance(arrays, dict) else [(n, (s, d)) for n, s, d in arrays]
        specs = [_spec(n, s, d) for n, (s, d) in items]
        self._h = _ferry.Bus.create(name, specs, slots, _MODES[mode], max_subscribers)
        self._name = name
        self._rec = _core.own([name])

    @property
    def name(self):
        return self._name

    @property
    def seq(self):
        """The sequence number the next published frame gets."""
        return self._h.seq

    def loan(self, timeout=None):
        """A free slot's frame to fill (writable numpy arrays). As a context
        manager it publishes on a clean exit. TimeoutError if no slot comes
        free in time; EOFError after shutdown()."""
        views = self._h.loan(timeout)
        return Frame(self._h.seq, 0, 0, _frame_arrays(views, True), self)

    def publish(self, frame=None):
        """Publishes the loaned frame; returns its sequence number."""
        return self._h.publish()

    def _done(self, frame, clean):
        if clean:
            self.publish(frame)

    def shutdown(self):
        """Ends the stream: subscribers get what was published, then EOF."""
        self._h.shutdown()

    def stats(self):
        return self._h.stats()

    def subscribe(self):
        return Subscriber(self._name)

    def close(self):
        """Shuts the bus down and detaches (arrays of loaned frames must be
        gone: BufferError otherwise)."""
        if self._h is not None:
            self._h.close()
            _core.release(self._rec)
            self._rec = None

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_BusRef, (self._name,))

    def __repr__(self):
        return "<ferry.Bus %s seq=%d>" % (self._name, self.seq)


class _BusRef:
    """A bus seen from another process: subscribe to it."""

    def __init__(self, name):
        self.name = name

    def subscribe(self):
        return Subscriber(self.name)

    def __reduce__(self):
        return (_BusRef, (self.name,))


class Subscriber:
    """Subscriber(bus): a subscription to a bus (a Bus, or its name),
    joined when created: it sees the frames published from then on.
    next(timeout) gives the next Frame; iterating
    gives every frame until the publisher ends the stream. Pickled to
    another process, it subscribes anew there."""

    def __init__(self, bus):
        self._name = bus if isinstance(bus, str) else bus.name
        self._h = None
        self._pid = None
        self._frame = None
        self._sub()

    def _sub(self):
        import os
        if self._h is None or self._pid != os.getpid():
            self._h = _ferry.Subscriber.subscribe(self._name)
            self._pid = os.getpid()
        return self._h

    @property
    def name(self):
        return self._name

    def next(self, timeout=None):
        """The next frame (read-only arrays). TimeoutError; EOFError once the
        stream has ended and everything was read."""
        h = self._sub()
        seq, skipped, lag, views = h.next(timeout)
        self._frame = Frame(seq, skipped, lag, _frame_arrays(views, False), self)
        return self._frame

    def release(self):
        """Gives the current frame back (next() also does)."""
        if self._h is not None:
            self._h.release()
        self._frame = None

    def _done(self, frame, clean):
        if frame is self._frame:
            self.release()

    def __iter__(self):
        while True:
            try:
                f = self.next()
            except EOFError:
                return
            yield f

    def stats(self):
        return self._sub().stats()

    def close(self):
        if self._h is not None:
            self._frame = None
            self._h.close()
            self._h = None

    def __reduce__(self):
        return (Subscriber, (self._name,))

    def __repr__(self):
        return "<ferry.Subscriber %s>" % self._name
