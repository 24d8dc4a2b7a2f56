# SPDX-License-Identifier: MIT
"""Queue, SimpleQueue and JoinableQueue: multiprocessing's queues over a ferry
queue region, without a pipe, a feeder thread per put or poison pills.

A queue is two regions: ``<name>.q``, the ferry queue holding the pickled
messages, and ``<name>``, a small control region with maxsize and
JoinableQueue's count of unfinished tasks (docs/layout/python.md).
"""

import os
import sys
import threading
import traceback
import weakref
from multiprocessing import util as _mputil

from . import _core, _ferry
from ._core import Empty, Full, ShutDown  # noqa: F401  (re-exported)

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]

_ROLE = _ferry.ROLE_PRODUCER | _ferry.ROLE_CONSUMER
# A cell holds a message of up to MSGSIZE bytes (one 4 KiB page with its
# 16-byte header); larger ones travel in a region of their own.
MSGSIZE = 4096 - 16 - 1
UNBOUNDED_CAPACITY = 4096
MAX_PARTICIPANTS = 256

# control region: params at 24 = maxsize (q), flags (I), msgsize (I)
_PARAMS = "<qII"
_F_JOINABLE = 1
_F_SIMPLE = 2
_OFF_MUTEX = 64  # guards unfinished and the done event
_OFF_UNFINISHED = 80
_OFF_DONE = 96  # event: set when unfinished is 0
_OFF_ROOM = 112  # semaphore of maxsize == 1
_CTL_SIZE = 128


class Queue(_ferry.Channel):
    """multiprocessing.Queue over shared memory.

    Queue(maxsize=0, *, name=None, create=None, msgsize=None, capacity=None)

    maxsize <= 0 makes put() never block (like multiprocessing, a message
    that finds the shared ring full waits in this process and a background
    thread moves it on). name opens or creates a named queue: create=True
    insists on creating, create=False on opening, None does either.
    msgsize is the size of a ring cell (larger messages still work, through
    a region of their own); capacity the ring size of an unbounded queue.
    """

    _flags = 0

    def __init__(self, maxsize=0, *, name=None, create=None, msgsize=None, capacity=None, ctx=None):
        self._make(maxsize, name, create, msgsize, capacity)

    # -- creation and attachment ------------------------------------------------

    def _make(self, maxsize, name, create, msgsize, capacity):
        maxsize = int(maxsize)
        if name is None:
            base, create = _core.new_name("q"), True
        else:
            base = _core.check_name(name)
        if create is False:
            self._attach(base)
            return
        try:
            self._create_new(base, maxsize, msgsize, capacity)
        except FileExistsError:
            if create:
                raise
            self._attach(base)

    def _create_new(self, base, maxsize, msgsize, capacity):
        msgsize = MSGSIZE if msgsize is None else int(msgsize)
        if not 1 <= msgsize < (1 << 30):
            raise ValueError("msgsize must be between 1 and 2**30 - 1")
        if maxsize > 1:
            cap = maxsize
        elif maxsize == 1:
            cap = 2
        else:
            cap = UNBOUNDED_CAPACITY if capacity is None else int(capacity)
        if not 2 <= cap <= (1 << 24):
            raise ValueError("maxsize (or capacity) must be at most 2**24")
        _ferry.Channel.__init__(self, base + ".q", _ROLE, False, maxsize <= 0)
        # the ring first: whoever sees the control region can open it
        self._create_ring(cap, msgsize)
        try:
            ctl = _core.create_raw(
                base, _core.K_QUEUE, _CTL_SIZE, _core.struct.pack(_PARAMS, maxsize, self._flags, msgsize)
            )
        except BaseException:
            _ferry.unlink(base + ".q")
            raise
        ctl.event_set(_OFF_DONE)
        if maxsize == 1:
            ctl.sem_init(_OFF_ROOM, 1)
        self._rec = _core.own([base, base + ".q"], [base + ".q.b"])
        self._setup(base, ctl, maxsize)

    def _create_ring(self, cap, msgsize):
        _ferry.Channel._create(self, cap, msgsize + 1, MAX_PARTICIPANTS, _ROLE, True)

    def _attach(self, base):
        ctl = _core.open_raw(base, _core.K_QUEUE)
        maxsize, flags, _msgsize = _core.params(ctl, _PARAMS)
        if (flags & _F_JOINABLE) and not isinstance(self, JoinableQueue):
            pass  # a JoinableQueue opened as a Queue: put() skips counting
        _ferry.Channel.__init__(self, base + ".q", _ROLE, False, maxsize <= 0)
        self._rec = None
        self._setup(base, ctl, maxsize)

    def _setup(self, base, ctl, maxsize):
        self._base = base
        self._ctl = ctl
        self._maxsize = maxsize
        self._pid = os.getpid()
        self._feedlock = threading.Lock()
        self._feeding = False
        self._feeder = None
        self._jointhread = None
        self._joincancelled = False
        self._closing = False
        if maxsize == 1:
            self.put = self._put_one
            self.get = self._get_one
        if maxsize <= 0:
            _core.ForkAware.track(self)

    def _after_fork(self):
        # the parent's waiting messages are the parent's to send
        if self._backlog is not None:
            del self._backlog[:]
        self._feedlock = threading.Lock()
        self._feeding = False
        self._feeder = None
        self._jointhread = None

    def __reduce__(self):
        _core.mark_shared(self._rec)
        return (_rebuild, (type(self), self._base))

    @property
    def name(self):
        """The queue's name: open it elsewhere with Queue(name=...)."""
        return self._base

    @property
    def maxsize(self):
        return self._maxsize

    def __repr__(self):
        return "<%s %s maxsize=%d>" % (type(self).__name__, self._base, self._maxsize)

    # -- multiprocessing's API ---------------------------------------------------

    def qsize(self):
        """Messages in the queue now (a snapshot)."""
        self._check_open()
        return self._depth()

    def empty(self):
        return self.qsize() == 0

    def full(self):
        return self._maxsize > 0 and self.qsize() >= self._maxsize

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def _check_open(self):
        if self._closed:
            raise ValueError("Queue %s is closed" % self._base)

    def _put_one(self, obj, block=True, timeout=None):
        self._check_open()
        data = _core.dumps(obj)  # before taking the room: a bad object uses none
        if not self._ctl.sem_wait(_OFF_ROOM, block, timeout):
            raise Full
        try:
            _ferry.Channel.put_bytes(self, data, False)
        except BaseException:
            self._ctl.sem_post(_OFF_ROOM)
            raise
        # put_bytes tags it raw: mark it a pickle again
        # (see _get_one, which unpickles what it gets)

    def _get_one(self, block=True, timeout=None):
        data = _ferry.Channel.get_bytes(self, block, timeout)
        self._ctl.sem_post(_OFF_ROOM)
        return _core.pickle.loads(data)

    def close(self):
        """This process puts no more: later put() and get() raise ValueError.
        Messages still waiting in this process are sent by the background
        thread (see join_thread)."""
        if self._closed:
            return
        self._mark_closed()
        with self._feedlock:
            pending = self._feeding
            self._closing = pending
        if not pending:
            self._detach()

    def _detach(self):
        self._close()
        _core.release(self._rec)
        self._rec = None

    def join_thread(self):
        """Waits until the messages this process put have left it (only
        after close())."""
        assert self._closed, "Queue {0!r} not closed".format(self)
        t = self._feeder
        if t is not None and t is not threading.current_thread():
            t.join()

    def cancel_join_thread(self):
        """Lets this process exit without waiting for its unsent messages
        (they are dropped)."""
        self._joincancelled = True
        j = self._jointhread
        if j is not None:
            j.cancel()

    def shutdown(self, immediate=False):
        """Ends the queue for every process (Python 3.13's queue semantics):
        put() raises ShutDown from now on; get() returns what is left, then
        raises ShutDown. immediate=True also drops what is left, so get()
        raises at once and join() returns."""
        self._check_open()
        self._shutdown()
        self._shut = True
        self._drop_backlog()
        if immediate:
            n = self._discard()
            self._drained(n)

    def _drained(self, n):
        pass

    def _drop_backlog(self):
        # messages this process still held are lost with the shutdown
        if self._backlog is not None:
            with self._feedlock:
                n = len(self._backlog)
                del self._backlog[:]
            if n:
                self._drained(n)

    @property
    def is_shutdown(self):
        """True once shutdown() was called (by any process)."""
        return bool(self._stats()["shutdown"])

    def __del__(self):
        try:
            if not self._closing:
                _core.release(self._rec)
        except Exception:
            pass

    # -- the background thread of unbounded queues --------------------------------

    def _feed(self):
        with self._feedlock:
            if self._feeding:
                return
            self._feeding = True
            t = threading.Thread(target=Queue._feeder_run, args=(weakref.ref(self),), daemon=True,
                                 name="ferry-QueueFeederThread")
            self._feeder = t
            t.start()
            if not self._joincancelled:
                self._jointhread = _mputil.Finalize(t, Queue._finalize_join, [weakref.ref(t)],
                                                    exitpriority=-5)

    @staticmethod
    def _finalize_join(twr):
        t = twr()
        if t is not None:
            t.join()

    @staticmethod
    def _feeder_run(qref):
        # Takes messages from the backlog a batch at a time; while they are
        # in flight (_feeding), puts of this process queue up behind them.
        q = qref()
        if q is None:
            return
        backlog = q._backlog
        while True:
            with q._feedlock:
                if not backlog:
                    q._feeding = False
                    closing = q._closing
                    break
                batch = backlog[:256]
                del backlog[:256]
            for i, (tag, data) in enumerate(batch):
                sent = False
                while not sent:
                    try:
                        sent = q._put_raw(tag, data, 0.2)
                    except ShutDown:
                        q._shut = True
                        q._drained(len(batch) - i)
                        q._drop_backlog()
                        break
                    except Exception:
                        traceback.print_exc(file=sys.stderr)
                        q._drained(1)
                        break  # dropped, as multiprocessing's feeder does
                    if not sent and q._joincancelled and _mputil.is_exiting():
                        q._drained(len(batch) - i)
                        q._drop_backlog()
                        break
                else:
                    continue
                break
        if closing:
            q._detach()


class SimpleQueue(Queue):
    """multiprocessing.SimpleQueue: an unbounded queue (put never blocks)."""

    _flags = _F_SIMPLE

    def __init__(self, *, name=None, create=None, msgsize=None, ctx=None):
        self._make(0, name, create, msgsize, None)


class JoinableQueue(Queue):
    """multiprocessing.JoinableQueue: a Queue with task_done() and join()."""

    _flags = _F_JOINABLE

    def put(self, obj, block=True, timeout=None):
        self._check_open()
        self._count(+1)
        try:
            Queue.put(self, obj, block, timeout)
        except BaseException:
            self._count(-1)
            raise

    def _put_one(self, obj, block=True, timeout=None):
        self._check_open()
        self._count(+1)
        try:
            Queue._put_one(self, obj, block, timeout)
        except BaseException:
            self._count(-1)
            raise

    def _setup(self, base, ctl, maxsize):
        Queue._setup(self, base, ctl, maxsize)
        if maxsize == 1:
            self.put = self._put_one

    def _lock(self):
        if self._ctl.mutex_lock(_OFF_MUTEX) == 2:
            # its holder died: the count is one word, consistent either way
            self._ctl.mutex_consistent(_OFF_MUTEX)

    def _count(self, delta, check=False):
        c = self._ctl
        self._lock()
        try:
            n = c.counter_load(_OFF_UNFINISHED)
            if check and n + delta < 0:
                raise ValueError("task_done() called too many times")
            n = c.counter_add(_OFF_UNFINISHED, delta)
            if n <= 0:
                c.event_set(_OFF_DONE)
            else:
                c.event_clear(_OFF_DONE)
        finally:
            c.mutex_unlock(_OFF_MUTEX)

    @property
    def unfinished_tasks(self):
        """Messages put and not yet marked task_done()."""
        return self._ctl.counter_load(_OFF_UNFINISHED)

    def task_done(self):
        """Marks one message taken by get() as processed."""
        self._count(-1, check=True)

    def _drained(self, n):
        c = self._ctl
        self._lock()
        try:
            left = c.counter_load(_OFF_UNFINISHED)
            c.counter_add(_OFF_UNFINISHED, -min(n, max(left, 0)))
            if c.counter_load(_OFF_UNFINISHED) <= 0:
                c.event_set(_OFF_DONE)
        finally:
            c.mutex_unlock(_OFF_MUTEX)

    def join(self):
        """Blocks until every message put has been marked task_done()."""
        c = self._ctl
        while True:
            self._lock()
            try:
                n = c.counter_load(_OFF_UNFINISHED)
            finally:
                c.mutex_unlock(_OFF_MUTEX)
            if n <= 0:
                return
            c.event_wait(_OFF_DONE, None)


def _rebuild(cls, base):
    q = cls.__new__(cls)
    q._attach(base)
    return q
