# SPDX-License-Identifier: MIT
"""What every ferry object shares: exceptions, names, lifetime, pickling and
the header of the raw regions the package lays out itself.

Names and lifetime (docs/design/python.md, [py-lifetime]):

* An object created without a name gets a unique one:
  ``<prefix><kind><pid>-<n>-<random>``; the prefix is ``py-`` unless the
  environment variable ``FERRY_PY_PREFIX`` says otherwise.
* The process that created an object owns its regions. When it closes the
  object (or the object is garbage-collected) the regions are removed at
  once, unless the object was sent to another process (pickled, or the
  process forked while the object was alive): then they are removed when the
  creating process exits. A child that received an object therefore can
  always open it, even if the sender closed its copy right after sending.
* A process that exits without cleaning up (SIGKILL) leaves its regions
  behind; ``ferry gc`` finds them (their participants are dead).
"""

import itertools
import os
import pickle
import queue as _stdqueue
import struct
import threading
import weakref
from multiprocessing import util as _mputil
from multiprocessing.reduction import ForkingPickler

from . import _ferry

__all__ = ["ShutDown", "Empty", "Full", "FerryError", "OwnerDiedWarning"]

Empty = _stdqueue.Empty
Full = _stdqueue.Full

_ShutDownBase = getattr(_stdqueue, "ShutDown", Exception)


class ShutDown(_ShutDownBase):
    """Raised by put() on a queue that was shut down, and by get() once such
    a queue is empty. It subclasses queue.ShutDown where Python has one
    (3.13 and later)."""


class FerryError(OSError):
    """A failure only ferry has (bad magic, wrong layout version, wrong kind
    of region, corrupted region, ...). errno holds ferry's code."""


class OwnerDiedWarning(RuntimeWarning):
    """A lock was acquired from an owner that died holding it. The lock is
    yours and usable; what it protected may be half-updated."""


def _fallback_dumps(obj, protocol):
    return ForkingPickler.dumps(obj, protocol)


PROTOCOL = pickle.HIGHEST_PROTOCOL

_ferry._configure(
    Empty=Empty,
    Full=Full,
    ShutDown=ShutDown,
    FerryError=FerryError,
    dumps=pickle.dumps,
    loads=pickle.loads,
    fallback_dumps=_fallback_dumps,
    protocol=PROTOCOL,
)


def dumps(obj):
    """Pickles as the objects do: plain pickle, else multiprocessing's
    ForkingPickler (which knows how to send connections, sockets, ...)."""
    try:
        return pickle.dumps(obj, PROTOCOL)
    except Exception:
        return ForkingPickler.dumps(obj, PROTOCOL)


# ---- names ------------------------------------------------------------------

PREFIX = os.environ.get("FERRY_PY_PREFIX", "py-")
_counter = itertools.count(1)
# Names the package derives from a base name take at most this many more
# characters (".q.b<pid>.<n>" for a queue's large messages).
_SUFFIX_ROOM = 40


def new_name(kind):
    """A fresh unique region name for an object of `kind` (a short tag)."""
    return "%s%s%x-%x-%s" % (PREFIX, kind, os.getpid(), next(_counter), os.urandom(3).hex())


def check_name(name):
    if not isinstance(name, str):
        raise TypeError("name must be a str, not %s" % type(name).__name__)
    if len(name) > _ferry.NAME_MAX - _SUFFIX_ROOM or not _ferry.name_valid(name):
        raise ValueError(
            "bad name %r: use [A-Za-z0-9._-], at most %d characters"
            % (name, _ferry.NAME_MAX - _SUFFIX_ROOM)
        )
    return name


# ---- lifetime -----------------------------------------------------------------


class Owned:
    """The regions one object created in this process, removed together.

    users: how many live handles of this process still need them (a Pipe's
    two ends share one record). shared: sent to another process, so kept
    until this process exits."""

    __slots__ = ("names", "prefixes", "shared", "users", "pid", "__weakref__")

    def __init__(self, names, prefixes=(), users=1):
        self.names = list(names)
        self.prefixes = list(prefixes)
        self.shared = False
        self.users = users
        self.pid = os.getpid()


_lock = threading.RLock()
_owned = {}  # id -> Owned, this process's
_finalizer_pid = None


def _remove(rec):
    for n in rec.names:
        try:
            _ferry.unlink(n)
        except OSError:
            pass
    for p in rec.prefixes:
        try:
            for n in _ferry.names_with_prefix(p):
                try:
                    _ferry.unlink(n)
                except OSError:
                    pass
        except OSError:
            pass


def _cleanup_at_exit():
    with _lock:
        recs = [r for r in _owned.values() if r.pid == os.getpid()]
        _owned.clear()
    for r in recs:
        _remove(r)


def own(names, prefixes=(), users=1):
    """Records regions this process just created; returns the record."""
    global _finalizer_pid
    rec = Owned(names, prefixes, users)
    with _lock:
        if _finalizer_pid != os.getpid():
            # multiprocessing runs these at the exit of its children (which
            # leave through os._exit) after joining their own children;
            # atexit covers the main process and plain scripts.
            _mputil.Finalize(None, _cleanup_at_exit, exitpriority=-100)
            _finalizer_pid = os.getpid()
        _owned[id(rec)] = rec
    return rec


def mark_shared(rec):
    if rec is not None:
        rec.shared = True


def release(rec):
    """One user of rec is done; the last one removes the regions, unless they
    were shared with another process (then the exit of this process does)."""
    if rec is None or rec.pid != os.getpid():
        return
    with _lock:
        rec.users -= 1
        if rec.users > 0 or rec.shared:
            return
        if _owned.pop(id(rec), None) is None:
            return
    _remove(rec)


def _before_fork():
    with _lock:
        for r in _owned.values():
            r.shared = True


def _after_fork_child():
    global _lock
    _lock = threading.RLock()
    _owned.clear()


# No atexit handler of our own: multiprocessing's (which importing
# multiprocessing.util installed) runs the Finalize above after it has
# joined the children, which may still be opening what we created.
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_child)


# ---- raw regions laid out by the package (docs/layout/python.md) -------------

MAGIC = 0x3159504F59525246  # bytes "FRRYOPY1"
VERSION = 1
HEADER = 64
# kind, for the header
K_QUEUE, K_PIPE, K_LOCK, K_RLOCK, K_SEM, K_COND, K_EVENT, K_BARRIER, K_VALUE, K_HEAP = range(1, 11)
_HDR = struct.Struct("<QIII")  # magic, version, kind, header size
KIND_NAMES = {
    K_QUEUE: "queue",
    K_PIPE: "pipe",
    K_LOCK: "lock",
    K_RLOCK: "rlock",
    K_SEM: "semaphore",
    K_COND: "condition",
    K_EVENT: "event",
    K_BARRIER: "barrier",
    K_VALUE: "value",
    K_HEAP: "heap key",
}


def create_raw(name, kind, size, params=b""):
    """Creates a raw region with the package's header; returns the Region.
    The header is written last but the magic, which goes in last of all."""
    r = _ferry.Region.create(name, HEADER + size)
    with memoryview(r) as m:
        m[24 : 24 + len(params)] = params
        m[8:16] = struct.pack("<II", VERSION, kind)
        m[16:20] = struct.pack("<I", HEADER)
        m[0:8] = struct.pack("<Q", MAGIC)
    return r


def open_raw(name, kind):
    """Opens a raw region and checks the package's header (the region is
    written by other processes: nothing is trusted)."""
    r = _ferry.Region.open(name)
    try:
        if r.size < HEADER:
            raise FerryError(4003, "%s: region too small for a ferry Python object" % name)
        with memoryview(r) as m:
            magic, version, k, hsize = _HDR.unpack_from(m, 0)
        if magic != MAGIC:
            raise FerryError(4001, "%s: not a ferry Python object" % name)
        if version != VERSION:
            raise FerryError(4002, "%s: layout version %d, expected %d" % (name, version, VERSION))
        if k != kind:
            raise FerryError(
                4004,
                "%s holds a %s, not a %s"
                % (name, KIND_NAMES.get(k, "kind %d" % k), KIND_NAMES.get(kind, kind)),
            )
        if hsize != HEADER:
            raise FerryError(4005, "%s: bad header size" % name)
    except BaseException:
        r.close()
        raise
    return r


def params(r, fmt):
    """Unpacks the kind-specific parameters (offset 24) of a raw region."""
    with memoryview(r) as m:
        return struct.unpack_from(fmt, m, 24)


def finalize_pid_check(obj):
    """True in the process that created obj (vs. a fork child's copy)."""
    return getattr(obj, "_pid", None) == os.getpid()


class ForkAware:
    """Calls cls._after_fork(obj) in a fork child for every live instance
    registered with track()."""

    _objs = weakref.WeakSet()

    @classmethod
    def track(cls, obj):
        cls._objs.add(obj)

    @classmethod
    def _run(cls):
        for o in list(cls._objs):
            try:
                o._after_fork()
            except Exception:
                pass


os.register_at_fork(after_in_child=ForkAware._run)
