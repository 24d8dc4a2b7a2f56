# SPDX-License-Identifier: MIT
"""Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier
with multiprocessing's names, signatures and exceptions, each in a small raw
region holding ferry's process-shared sync objects (docs/layout/python.md).

Locks have an owner (the thread that acquired them), so a lock whose owner
died holding it is not held forever: the next acquire() takes it over
within the liveness period (1 s by default) and returns True, and the
package reports it with an OwnerDiedWarning (turn it into an exception
with the warnings module if what the lock protects cannot be trusted any
more). `Lock.recoveries` counts such take-overs. A lock must be released
by the thread that acquired it.
"""

import sys
import threading
import time
import warnings

from . import _core, _ferry
from ._core import OwnerDiedWarning

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
           "OwnerDiedWarning"]

_OBJ = 64  # the sync object's offset in every one of these regions


class _Shared:
    """Base: a raw region created by this process or opened by name."""

    _kind = None
    _size = 64
    _tag = "s"

    def _init_region(self, name, create, params=b""):
        if name is None:
            name, create = _core.new_name(self._tag), True
        else:
            name = _core.check_name(name)
        self._rec = None
        if create is not False:
            try:
                self._r = _core.create_raw(name, self._kind, self._size, params)
                self._rec = _core.own([name])
                self._name = name
                return True
            except FileExistsError:
                if create:
                    raise
        self._r = _core.open_raw(name, self._kind)
        self._name = name
        return False

    @property
    def name(self):
        """The name to open this object by in another process."""
        return self._name

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_rebuild, (type(self), self._name))

    def _reopen(self, name):
        self._r = _core.open_raw(name, self._kind)
        self._name = name
        self._rec = None

    def __del__(self):
        try:
            _core.release(self._rec)
        except Exception:
            pass


def _rebuild(cls, name):
    o = cls.__new__(cls)
    o._reopen(name)
    return o


def _interruptible_sleep(seconds):
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


# ---- Lock -----------------------------------------------------------------------

_RECOVERIES = 80


class Lock(_Shared):
    """multiprocessing.Lock: a non-recursive lock owned by the thread that
    acquired it. Lock(*, name=None, create=None)."""

    _kind = _core.K_LOCK
    _tag = "l"

    def __init__(self, *, name=None, create=None, ctx=None):
        self._init_region(name, create)

    def _owner_died(self):
        self._r.mutex_consistent(_OBJ)
        self._r.counter_add(_RECOVERIES, 1)
        warnings.warn(
            "%s %s: its owner died holding it; acquired it in its place" % (type(self).__name__, self._name),
            OwnerDiedWarning, stacklevel=3)

    def acquire(self, block=True, timeout=None):
        """True once acquired; False if not within the timeout."""
        rc = self._r.mutex_lock(_OBJ, block, timeout)
        if rc == 1:
            return True
        if rc == 0:
            return False
        if rc == 2:
            self._owner_died()
            return True
        # rc == 3: this thread holds it already
        if not block:
            return False
        if timeout is None:
            raise RuntimeError("%s is already held by this thread: acquire() would never return"
                               % self._name)
        _interruptible_sleep(max(timeout, 0))
        return False

    def release(self):
        if self._r.mutex_unlock(_OBJ):
            raise ValueError("release of %s, which this thread does not hold" % self._name)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *args):
        self.release()

    def _is_mine(self):
        return self._r.mutex_state(_OBJ) == 1

    # for Condition
    def _release_save(self):
        self.release()
        return 1

    def _acquire_restore(self, count):
        self.acquire()

    @property
    def recoveries(self):
        """How many times this lock was taken over from a dead owner."""
        return self._r.counter_load(_RECOVERIES)

    def __repr__(self):
        s = self._r.mutex_state(_OBJ)
        owner = "None" if s == 0 else ("this thread" if s == 1 else "another thread")
        return "<%s(owner=%s) %s>" % (type(self).__name__, owner, self._name)


class RLock(Lock):
    """multiprocessing.RLock: a recursive lock owned by one thread."""

    _kind = _core.K_RLOCK
    _tag = "r"
    _COUNT = 88  # after the mutex (64..79) and the recoveries counter (80)

    def acquire(self, block=True, timeout=None):
        rc = self._r.mutex_lock(_OBJ, block, timeout)
        if rc == 3:
            self._r.counter_add(self._COUNT, 1)
            return True
        if rc == 0:
            return False
        if rc == 2:
            self._owner_died()
        self._r.counter_store(self._COUNT, 1)
        return True

    def release(self):
        if self._r.mutex_state(_OBJ) != 1:
            raise AssertionError("attempt to release recursive lock not owned by thread")
        if self._r.counter_add(self._COUNT, -1) <= 0:
            self._r.counter_store(self._COUNT, 0)
            self._r.mutex_unlock(_OBJ)

    def _count(self):
        return self._r.counter_load(self._COUNT) if self._is_mine() else 0

    def _release_save(self):
        if self._r.mutex_state(_OBJ) != 1:
            raise AssertionError("attempt to release recursive lock not owned by thread")
        n = self._r.counter_exchange(self._COUNT, 0)
        self._r.mutex_unlock(_OBJ)
        return n

    def _acquire_restore(self, count):
        Lock.acquire(self)  # rc 2 handled there; the count is ours to set
        self._r.counter_store(self._COUNT, count)


# ---- Semaphore ----------------------------------------------------------------------

_SEM_PARAMS = "<qq"  # initial value, maximum (-1: none)


class Semaphore(_Shared):
    """multiprocessing.Semaphore(value=1)."""

    _kind = _core.K_SEM
    _tag = "m"
    _bounded = False

    def __init__(self, value=1, *, name=None, create=None, ctx=None):
        value = int(value)
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        maxv = value if self._bounded else -1
        if self._init_region(name, create, _core.struct.pack(_SEM_PARAMS, value, maxv)):
            self._r.sem_init(_OBJ, value)
        self._maxvalue = _core.params(self._r, _SEM_PARAMS)[1]

    def _reopen(self, name):
        _Shared._reopen(self, name)
        self._maxvalue = _core.params(self._r, _SEM_PARAMS)[1]

    def acquire(self, block=True, timeout=None):
        return self._r.sem_wait(_OBJ, block, timeout)

    def release(self):
        if self._maxvalue >= 0 and self._r.sem_value(_OBJ) >= self._maxvalue:
            raise ValueError("semaphore or lock released too many times")
        self._r.sem_post(_OBJ)

    def get_value(self):
        return self._r.sem_value(_OBJ)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *args):
        self.release()

    def __repr__(self):
        if self._maxvalue >= 0:
            return "<%s(value=%s, maxvalue=%s)>" % (type(self).__name__, self.get_value(), self._maxvalue)
        return "<%s(value=%s)>" % (type(self).__name__, self.get_value())


class BoundedSemaphore(Semaphore):
    """multiprocessing.BoundedSemaphore: release() above the initial value
    raises ValueError."""

    _bounded = True


# ---- Event -----------------------------------------------------------------------


class Event(_Shared):
    """multiprocessing.Event."""

    _kind = _core.K_EVENT
    _tag = "e"

    def __init__(self, *, name=None, create=None, ctx=None):
        self._init_region(name, create)

    def is_set(self):
        return self._r.event_is_set(_OBJ)

    def set(self):
        self._r.event_set(_OBJ)

    def clear(self):
        self._r.event_clear(_OBJ)

    def wait(self, timeout=None):
        """True if the flag is set (on return), False after the timeout."""
        if self._r.event_wait(_OBJ, timeout):
            return True
        return self._r.event_is_set(_OBJ)

    def __repr__(self):
        return "<%s at %#x %s>" % (type(self).__qualname__, id(self), "set" if self.is_set() else "unset")


# ---- Condition ------------------------------------------------------------------------

# three semaphores, as multiprocessing's Condition has: sleepers registered,
# sleepers that woke, and the one sleepers wait on
_SLEEPING, _WOKEN, _WAIT = 64, 80, 96
# How long notify() waits for each woken sleeper to say so: a sleeper killed
# in between cannot hold it up for longer.
_NOTIFY_BOUND = 2.0


class _SemView:
    """One of a Condition's semaphores (what multiprocessing's tests look at)."""

    def __init__(self, cond, off):
        self._c = cond
        self._off = off

    def acquire(self, block=True, timeout=None):
        return self._c._r.sem_wait(self._off, block, timeout)

    def release(self):
        self._c._r.sem_post(self._off)

    def get_value(self):
        return self._c._r.sem_value(self._off)


class Condition(_Shared):
    """multiprocessing.Condition(lock=None): lock defaults to a new RLock."""

    _kind = _core.K_COND
    _tag = "c"
    _size = 64

    def __init__(self, lock=None, *, name=None, create=None, ctx=None):
        self._init_region(name, create)
        self._setup(lock if lock is not None else RLock())

    def _setup(self, lock):
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        self._sleeping_count = _SemView(self, _SLEEPING)
        self._woken_count = _SemView(self, _WOKEN)
        self._wait_semaphore = _SemView(self, _WAIT)

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_rebuild_cond, (type(self), self._name, self._lock))

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __repr__(self):
        try:
            n = self._sleeping_count.get_value() - self._woken_count.get_value()
        except Exception:
            n = "unknown"
        return "<%s(%s, %s)>" % (type(self).__name__, self._lock, n)

    def wait(self, timeout=None):
        """Releases the lock, waits for a notify (or the timeout), takes the
        lock back, also when interrupted. True if notified."""
        assert self._lock._is_mine(), "must acquire() condition before using wait()"
        self._sleeping_count.release()
        count = self._lock._release_save()
        try:
            return self._wait_semaphore.acquire(True, timeout)
        finally:
            self._woken_count.release()
            self._lock._acquire_restore(count)

    def notify(self, n=1):
        """Wakes up to n waiters (the caller holds the lock)."""
        assert self._lock._is_mine(), "lock is not owned"
        # leftovers of waiters that timed out since the last notify
        while self._wait_semaphore.acquire(False):
            pass
        while self._woken_count.acquire(False):
            self._sleeping_count.acquire(False)
        woken = 0
        while woken < n and self._sleeping_count.acquire(False):
            self._wait_semaphore.release()
            woken += 1
        if woken:
            for _ in range(woken):
                self._woken_count.acquire(True, _NOTIFY_BOUND)
            # a waiter that timed out meanwhile left its post unused
            while self._wait_semaphore.acquire(False):
                pass

    def notify_all(self):
        self.notify(n=sys.maxsize)

    def wait_for(self, predicate, timeout=None):
        """Waits until predicate() is true (or the timeout); returns its last
        value."""
        result = predicate()
        if result:
            return result
        end = None if timeout is None else time.monotonic() + timeout
        while not result:
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.wait(left)
            else:
                self.wait(None)
            result = predicate()
        return result


def _rebuild_cond(cls, name, lock):
    c = cls.__new__(cls)
    c._reopen(name)
    c._setup(lock)
    return c


# ---- Barrier -----------------------------------------------------------------------------

_B_STATE, _B_COUNT = 64, 72


class Barrier(threading.Barrier):
    """multiprocessing.Barrier(parties, action=None, timeout=None): the
    action (picklable) runs once per pass, in the process that arrives
    last."""

    def __init__(self, parties, action=None, timeout=None, *, name=None, ctx=None):
        if parties < 1:
            raise ValueError("parties must be >= 1")
        holder = _Shared()
        holder._kind = _core.K_BARRIER
        holder._size = 16
        holder._tag = "b"
        holder._init_region(name, True if name is None else None, _core.struct.pack("<q", parties))
        self._setup(parties, action, timeout, Condition(Lock()), holder)

    def _setup(self, parties, action, timeout, cond, holder):
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._cond = cond
        self._holder = holder
        self._r = holder._r

    def __reduce__(self):
        _core.mark_shared(self._holder._rec)
        return (_rebuild_barrier, (self._holder._name, self._parties, self._action, self._timeout,
                                   self._cond))

    @property
    def name(self):
        return self._holder._name

    @property
    def _state(self):
        return self._r.counter_load(_B_STATE)

    @_state.setter
    def _state(self, value):
        self._r.counter_store(_B_STATE, value)

    @property
    def _count(self):
        return self._r.counter_load(_B_COUNT)

    @_count.setter
    def _count(self, value):
        self._r.counter_store(_B_COUNT, value)


def _rebuild_barrier(name, parties, action, timeout, cond):
    holder = _Shared()
    holder._kind = _core.K_BARRIER
    holder._reopen(name)
    b = Barrier.__new__(Barrier)
    b._setup(parties, action, timeout, cond, holder)
    return b
