# SPDX-License-Identifier: MIT
"""Pipe() and Connection: multiprocessing's pipes over two ferry queues.

A pipe ``<name>`` is:

* ``<name>.0`` and ``<name>.1``: ferry queues holding the messages for end 0
  and end 1 (only ``.0`` for a one-way pipe). Any number of processes may
  hold the same end, as with multiprocessing: every holder registers as a
  producer of the other end's queue, so when the last holder of an end
  closes (or dies), the other end reads what is left and then gets EOFError.
* ``<name>``: a control region saying, for each end, whether someone asked
  for its fileno().
* a connected pair of Unix sockets, one per end: fileno() returns the end's
  socket, a real descriptor that select(), selectors and asyncio can wait
  on. Once an end's fileno() has been asked for, senders write one byte to
  it per message and receivers keep it readable exactly while messages are
  waiting (docs/design/python.md, [py-fileno]); before that the sockets see
  no traffic at all, so send and recv make no system call.

The sockets travel with a pickled Connection as multiprocessing's own do
(duplicated for the child); everything else is opened by name.
"""

import os
import socket
import struct
from multiprocessing import BufferTooShort
from multiprocessing import reduction as _reduction

from . import _core, _ferry

__all__ = ["Pipe", "Connection", "BufferTooShort"]

MSGSIZE = 4096 - 16 - 1
CAPACITY = 256
MAX_PARTICIPANTS = 256
_OFF_ARMED = 64  # counter per end: 1 once its fileno() was asked for
_CTL_SIZE = 64
_PARAMS = "<I"  # duplex
_DONTWAIT = socket.MSG_DONTWAIT


def Pipe(duplex=True, *, name=None):
    """Returns (conn1, conn2), two Connection objects. With duplex=False,
    conn1 only receives and conn2 only sends (multiprocessing's order)."""
    base = _core.new_name("p") if name is None else _core.check_name(name)
    rings = [base + ".0"] + ([base + ".1"] if duplex else [])
    made = []
    try:
        for r in rings:
            # the creator registers as a consumer only and leaves at once:
            # an end's stream ends when its last producer leaves, and no
            # producer has come yet
            ch = _ferry.Channel(r, _ferry.ROLE_CONSUMER, True)
            ch._create(CAPACITY, MSGSIZE + 1, MAX_PARTICIPANTS, _ferry.ROLE_CONSUMER, False)
            made.append(r)
        ctl = _core.create_raw(base, _core.K_PIPE, _CTL_SIZE, struct.pack(_PARAMS, int(bool(duplex))))
        made.append(base)
    except BaseException:
        for r in made:
            _ferry.unlink(r)
        raise
    rec = _core.own(made, [r + ".b" for r in rings], users=2)
    s0, s1 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p0 = socket.socket(fileno=os.dup(s1.fileno()))
    p1 = socket.socket(fileno=os.dup(s0.fileno()))
    if duplex:
        c0 = Connection._make(base, 0, True, True, s0, p0, ctl, rec)
        c1 = Connection._make(base, 1, True, True, s1, p1, ctl, rec)
    else:
        c0 = Connection._make(base, 0, True, False, s0, p0, ctl, rec)
        c1 = Connection._make(base, 1, False, True, s1, p1, ctl, rec)
    return c0, c1


class Connection:
    """One end of a Pipe: send/recv objects (pickled), send_bytes/recv_bytes,
    poll, fileno, close, as multiprocessing.connection.Connection."""

    __slots__ = ("_base", "_end", "_in", "_out", "_sock", "_peer", "_ctl", "_rec",
                 "_readable", "_writable", "_closed", "__weakref__")

    @classmethod
    def _make(cls, base, end, readable, writable, sock, peer, ctl, rec):
        c = cls.__new__(cls)
        c._base = base
        c._end = end
        c._readable = readable
        c._writable = writable
        c._in = _ferry.Channel("%s.%d" % (base, end), _ferry.ROLE_CONSUMER, True) if readable else None
        c._out = (_ferry.Channel("%s.%d" % (base, 1 - end), _ferry.ROLE_PRODUCER, True)
                  if writable else None)
        c._sock = sock
        c._peer = peer
        c._ctl = ctl
        c._rec = rec
        c._closed = False
        # readiness for select() is kept by the channels themselves [py-fileno]
        if c._in is not None:
            c._in._set_notify(ctl, -1, _OFF_ARMED + 8 * end, -1, sock.fileno(), peer.fileno())
        if c._out is not None:
            c._out._set_notify(ctl, _OFF_ARMED + 8 * (1 - end), -1, sock.fileno(), -1, -1)
        return c

    # -- state -----------------------------------------------------------------

    @property
    def closed(self):
        """True if the connection is closed."""
        return self._closed

    @property
    def readable(self):
        return self._readable

    @property
    def writable(self):
        return self._writable

    @property
    def name(self):
        """The pipe's name."""
        return self._base

    def _check_closed(self):
        if self._closed:
            raise OSError("handle is closed")

    def _check_readable(self):
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self):
        if not self._writable:
            raise OSError("connection is read-only")

    def __repr__(self):
        return "<ferry.Connection %s end %d%s>" % (self._base, self._end, " closed" if self._closed else "")

    # -- readiness for select() ([py-fileno]) ---------------------------------------

    def _armed(self, end):
        return self._ctl.counter_load(_OFF_ARMED + 8 * end) != 0

    def _ring(self, sock):
        try:
            sock.send(b"\0", _DONTWAIT)
        except OSError:
            pass  # full: readable already; or nothing waits on it any more

    def fileno(self):
        """A descriptor (this end's Unix socket) that is readable while
        messages wait: for select(), selectors, asyncio and
        multiprocessing.connection.wait()."""
        self._check_closed()
        if self._readable and not self._armed(self._end):
            self._ctl.counter_store(_OFF_ARMED + 8 * self._end, 1)
            if self._in._depth() > 0:
                self._ring(self._peer)
        return self._sock.fileno()

    # -- sending ------------------------------------------------------------------

    def send(self, obj):
        """Sends a picklable object (pickled as multiprocessing does)."""
        if self._closed or not self._writable:
            self._check_closed()
            self._check_writable()
        self._out.put(obj)

    def send_bytes(self, buf, offset=0, size=None):
        """Sends bytes from a bytes-like object, optionally a slice of it."""
        if self._closed or not self._writable:
            self._check_closed()
            self._check_writable()
        if offset == 0 and size is None:
            self._out.put_bytes(buf)
            return
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        n = m.nbytes
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        self._out.put_bytes(m[offset:offset + size])

    # -- receiving -----------------------------------------------------------------

    def recv(self):
        """Receives an object; EOFError once the other end is closed (or its
        every holder died) and nothing is left."""
        if self._closed or not self._readable:
            self._check_closed()
            self._check_readable()
        return self._in.get()

    def recv_bytes(self, maxlength=None):
        """Receives one message as bytes. OSError if it is longer than
        maxlength (the message is dropped)."""
        if self._closed or not self._readable:
            self._check_closed()
            self._check_readable()
        if maxlength is None:
            return self._in.get_bytes()
        if maxlength < 0:
            raise ValueError("negative maxlength")
        b = self._in.get_bytes()
        if len(b) > maxlength:
            raise OSError("bad message length")
        return b

    def recv_bytes_into(self, buf, offset=0):
        """Receives one message into a writable buffer at byte offset;
        returns its length. BufferTooShort (carrying the message) if it does
        not fit."""
        self._check_closed()
        self._check_readable()
        with memoryview(buf) as m:
            itemsize = m.itemsize
            bytesize = itemsize * len(m)
            if offset < 0:
                raise ValueError("negative offset")
            elif offset > bytesize:
                raise ValueError("offset too large")
            b = self._in.get_bytes()
            size = len(b)
            if bytesize < offset + size:
                raise BufferTooShort(b)
            m.cast("B")[offset:offset + size] = b
            return size

    def poll(self, timeout=0.0):
        """True if a message (or the end of the stream) is there, waiting up
        to timeout seconds (None: forever). Consumes nothing: the message is
        the next recv()'s."""
        self._check_closed()
        self._check_readable()
        if timeout is not None and timeout < 0:
            timeout = 0.0
        return self._in._poll(timeout)

    # -- closing ---------------------------------------------------------------------

    def close(self):
        """Closes this end in this process. When every holder of an end has
        closed it, the other end gets EOFError after reading what is left."""
        if self._closed:
            return
        self._closed = True
        for ch in (self._in, self._out):
            if ch is not None:
                ch._close()
        if self._writable:
            try:
                if self._armed(1 - self._end):
                    self._ring(self._sock)  # wake a select() to see the EOF
            except Exception:
                pass
        self._sock.close()
        self._peer.close()
        _core.release(self._rec)
        self._rec = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __reduce__(self):
        self._check_closed()
        _core.mark_shared(self._rec)
        return (
            _rebuild,
            (self._base, self._end, self._readable, self._writable,
             _reduction.DupFd(self._sock.fileno()), _reduction.DupFd(self._peer.fileno())),
        )


def _rebuild(base, end, readable, writable, dsock, dpeer):
    sock = socket.socket(fileno=dsock.detach())
    peer = socket.socket(fileno=dpeer.detach())
    ctl = _core.open_raw(base, _core.K_PIPE)
    return Connection._make(base, end, readable, writable, sock, peer, ctl, None)
