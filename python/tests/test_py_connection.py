# SPDX-License-Identifier: MIT
"""ferry.Pipe and Connection: every call and error, select/asyncio on
fileno(), end of stream on close and on SIGKILL, large messages, and ends
pickled to children under fork and spawn."""

import array
import asyncio
import multiprocessing.connection as mpc
import os
import select
import time
import unittest

import ferry
from _util import ALL_METHODS, METHODS, Timer, finish, sigint_after, start


def _echo(conn):
    while True:
        try:
            conn.send_bytes(conn.recv_bytes())
        except EOFError:
            return


def _send_and_exit(conn, items, close):
    for x in items:
        conn.send(x)
    if close:
        conn.close()
    os._exit(0)


def _block_in_recv(conn, started):
    started.set()
    conn.recv()


def _send_later(conn, delay, obj):
    time.sleep(delay)
    conn.send(obj)


class PipeBasics(unittest.TestCase):
    def test_duplex_objects_and_bytes(self):
        a, b = ferry.Pipe()
        a.send({"x": [1, 2]})
        self.assertEqual(b.recv(), {"x": [1, 2]})
        b.send_bytes(b"abcdef", 2, 3)
        self.assertEqual(a.recv_bytes(), b"cde")
        b.send_bytes(array.array("i", [1, 2, 3]))
        buf = bytearray(20)
        self.assertEqual(a.recv_bytes_into(buf, 4), 12)
        self.assertEqual(bytes(buf[4:16]), array.array("i", [1, 2, 3]).tobytes())
        b.send_bytes(b"x" * 30)
        with self.assertRaises(ferry.BufferTooShort) as cm:
            a.recv_bytes_into(bytearray(10))
        self.assertEqual(cm.exception.args, (b"x" * 30,))
        b.send_bytes(b"y" * 10)
        self.assertRaises(OSError, a.recv_bytes, 5)  # longer than maxlength
        self.assertRaises(ValueError, a.recv_bytes, -1)
        self.assertRaises(ValueError, a.recv_bytes_into, bytearray(4), -1)
        self.assertRaises(ValueError, a.recv_bytes_into, bytearray(4), 5)
        for bad in ((-1,), (7,), (2, -1), (5, 2)):
            self.assertRaises(ValueError, a.send_bytes, b"abcdef", *bad)
        a.close()
        b.close()

    def test_one_way(self):
        r, w = ferry.Pipe(duplex=False)
        self.assertEqual((r.readable, r.writable, w.readable, w.writable), (True, False, False, True))
        w.send(1)
        self.assertEqual(r.recv(), 1)
        self.assertRaises(OSError, r.send, 2)
        self.assertRaises(OSError, w.recv)
        self.assertRaises(OSError, w.poll)
        r.close()
        w.close()

    def test_poll_does_not_consume(self):
        a, b = ferry.Pipe()
        self.assertFalse(a.poll())
        with Timer() as t:
            self.assertFalse(a.poll(0.1))
        self.assertGreaterEqual(t.elapsed, 0.09)
        b.send_bytes(b"")
        self.assertTrue(a.poll())
        self.assertTrue(a.poll(1))
        self.assertEqual(a.recv_bytes(), b"")
        self.assertFalse(a.poll(-1))  # negative: no wait
        a.close()
        b.close()

    def test_closed_and_eof(self):
        a, b = ferry.Pipe()
        b.send("last")
        b.close()
        self.assertTrue(b.closed)
        self.assertRaises(OSError, b.send, 1)
        self.assertRaises(OSError, b.recv)
        self.assertRaises(OSError, b.fileno)
        self.assertEqual(a.recv(), "last")  # what was sent is read first
        with Timer() as t:
            self.assertRaises(EOFError, a.recv)
        self.assertLess(t.elapsed, 5)
        self.assertTrue(a.poll())  # the end of the stream is readable
        a.close()
        with a:
            pass  # closing twice is fine

    def test_16mib_plus_one(self):
        a, b = ferry.Pipe()
        big = os.urandom(16 * 1024 * 1024 + 1)
        a.send_bytes(big)
        self.assertEqual(b.recv_bytes(), big)
        a.send(big)
        self.assertEqual(b.recv(), big)
        a.close()
        b.close()

    def test_fileno_select_and_wait(self):
        a, b = ferry.Pipe()
        fd = a.fileno()
        self.assertIsInstance(fd, int)
        self.assertEqual(select.select([fd], [], [], 0)[0], [])
        b.send("one")
        b.send("two")
        self.assertEqual(select.select([fd], [], [], 5)[0], [fd])
        self.assertEqual(a.recv(), "one")
        self.assertEqual(select.select([fd], [], [], 0)[0], [fd])  # still one waiting
        self.assertEqual(a.recv(), "two")
        self.assertEqual(select.select([fd], [], [], 0)[0], [])
        # a message sent before fileno() was first asked for counts too
        c, d = ferry.Pipe()
        d.send("early")
        self.assertEqual(mpc.wait([c], 5), [c])
        self.assertEqual(c.recv(), "early")
        self.assertEqual(mpc.wait([c], 0.05), [])
        for x in (a, b, c, d):
            x.close()

    def test_asyncio_waits_on_a_pipe(self):
        a, b = ferry.Pipe()
        p = start(_send_later, b, 0.2, "from the child")

        async def main():
            loop = asyncio.get_running_loop()
            got = loop.create_future()
            loop.add_reader(a.fileno(), lambda: got.done() or got.set_result(a.recv()))
            try:
                return await asyncio.wait_for(got, 20)
            finally:
                loop.remove_reader(a.fileno())

        self.assertEqual(asyncio.run(main()), "from the child")
        finish(self, p)
        a.close()
        b.close()

    def test_ctrl_c_interrupts_recv(self):
        a, b = ferry.Pipe()
        sigint_after(0.3)
        with Timer() as t:
            self.assertRaises(KeyboardInterrupt, a.recv)
        self.assertLess(t.elapsed, 5)
        b.send(1)
        self.assertEqual(a.recv(), 1)
        a.close()
        b.close()


class PipeProcesses(unittest.TestCase):
    def test_echo_child_and_close_right_after_start(self):
        for method in ALL_METHODS:
            a, b = ferry.Pipe()
            p = start(_echo, b, method=method)
            b.close()  # right after pickling: the child's copy still works
            for n in (0, 1, 64, 4000, 5000, 1 << 20):
                msg = os.urandom(n)
                a.send_bytes(msg)
                self.assertEqual(a.recv_bytes(), msg)
            a.close()  # the child's recv gets EOFError and it exits
            finish(self, p)

    def test_eof_when_every_holder_closed(self):
        for method in METHODS:
            a, b = ferry.Pipe()
            p = start(_send_and_exit, b, [1, 2, 3], True, method=method)
            b.close()
            self.assertEqual([a.recv(), a.recv(), a.recv()], [1, 2, 3])
            self.assertRaises(EOFError, a.recv)
            finish(self, p)
            a.close()

    def test_peer_killed_while_we_block_in_recv(self):
        # this process blocks in recv; the only other holder of the other
        # end is killed: recv ends with EOFError within the liveness bound
        a, b = ferry.Pipe()
        p = start(_send_and_exit, b, ["hi"], False)
        b.close()
        self.assertEqual(a.recv(), "hi")
        with Timer() as t:
            self.assertRaises(EOFError, a.recv)
        self.assertLess(t.elapsed, 10)
        finish(self, p)
        a.close()

    def test_peer_killed_while_it_blocks(self):
        a, b = ferry.Pipe()
        started = ferry.Event()
        p = start(_block_in_recv, b, started)
        self.assertTrue(started.wait(20))
        p.kill()
        p.join(10)
        # the dead reader took nothing: a new holder of its end gets it all
        a.send("for whoever reads next")
        self.assertEqual(b.recv(), "for whoever reads next")
        a.close()
        b.close()


if __name__ == "__main__":
    unittest.main()
