#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python multiprocessing peer of `ferry bench`.

Re-implements the shared harness rules of bench/harness.h
[bench-rules] in Python: same message layout (little-endian u64 sequence,
u32 producer id), same verification, same timeline (ready, go, warm-up,
deadline), same end markers, same result line. Keep the two in step.

--transport queue: multiprocessing.Queue(maxsize = capacity / msg_bytes);
    messages are bytes objects, pickled by Queue as usual.
--transport pipe: multiprocessing.Pipe(); send_bytes/recv_bytes (no
    pickling: the fastest documented path). A Pipe has exactly two ends, so
    2P2C is skipped.
Processes are started with the 'fork' method.
"""
import argparse
import json
import math
import multiprocessing as mp
import struct
import sys
import time

END = (1 << 64) - 1
HDR = struct.Struct("<QI")
CLOCK_EVERY = 16
CLOCK_EVERY_BYTES = 4096


def now():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, like the C harness


class Timeline:
    """Shared between the parent and the workers."""

    def __init__(self, ctx):
        self.ready = ctx.Value("i", 0)
        self.go = ctx.Event()
        self.times = ctx.Array("Q", 3)  # start, measure, deadline
        self.producers_done = ctx.Value("i", 0)

    def wait_go(self):
        with self.ready.get_lock():
            self.ready.value += 1
        self.go.wait()
        start, measure, deadline = self.times[:]
        while now() < start:
            pass
        return measure, deadline


def fail(role, wid, msg, err):
    err.put("%s %d: %s" % (role, wid, msg))
    print("ferry bench: py: %s %d: FAILED: %s" % (role, wid, msg), file=sys.stderr)
    sys.exit(3)


def producer(args, tl, wid, send, res, err):
    m = args.msg_bytes
    payload = b"\xa5" * (m - HDR.size)
    buf = bytearray(b"\xa5" * m)
    measure, deadline = tl.wait_go()
    seq = 0
    tick = 0
    while True:
        if m >= CLOCK_EVERY_BYTES or tick % CLOCK_EVERY == 0:
            if now() >= deadline:
                break
        tick += 1
        if args.transport == "queue":
            send(HDR.pack(seq, wid) + payload)
        else:
            HDR.pack_into(buf, 0, seq, wid)
            send(buf)
        seq += 1
    for _ in range(args.consumers):
        if args.transport == "queue":
            send(HDR.pack(END, wid) + payload)
        else:
            HDR.pack_into(buf, 0, END, wid)
            send(buf)
    res.put(("sent", wid, seq))
    return 0


def consumer(args, tl, wid, recv, res, err):
    m, P, C = args.msg_bytes, args.producers, args.consumers
    measure, deadline = tl.wait_go()
    last = [0] * P
    markers = received = counted = 0
    last_ns = 0
    measuring = past = False
    tick = 0
    while True:
        msg = recv()
        if len(msg) != m:
            fail("consumer", wid, "message of %d bytes, expected %d" % (len(msg), m), err)
        seq, pid = HDR.unpack_from(msg, 0)
        if pid >= P:
            fail("consumer", wid, "producer id %d out of range" % pid, err)
        if seq == END:
            last_ns = now()
            markers += 1
            if markers == P:
                break
            continue
        if (seq != last[pid]) if C == 1 else (seq < last[pid]):
            fail("consumer", wid, "producer %d: sequence %d after %d" % (pid, seq, last[pid] - 1), err)
        last[pid] = seq + 1
        received += 1
        if measuring:
            counted += 1
        if past or m >= CLOCK_EVERY_BYTES or tick % CLOCK_EVERY == 0:
            t = now()
            last_ns = t
            if not measuring and t >= measure:
                measuring = True
                counted += 1
            past = t >= deadline
        tick += 1
    res.put(("recv", wid, received, counted, last_ns))
    return 0


def pinger(args, tl, send, recv, res, err):
    m = args.msg_bytes
    buf = bytearray(b"\xa5" * m)
    measure, deadline = tl.wait_go()
    samples = []
    seq = 0
    t1 = now()
    last_ns = 0
    while t1 < deadline and len(samples) < (4 << 20):
        HDR.pack_into(buf, 0, seq, 0)
        t0 = now()
        send(buf)
        echo = recv()
        t1 = now()
        if len(echo) != m:
            fail("pinger", 0, "echo of %d bytes" % len(echo), err)
        s, _ = HDR.unpack_from(echo, 0)
        if s != seq:
            fail("pinger", 0, "echo with sequence %d, expected %d" % (s, seq), err)
        seq += 1
        if t0 >= measure:
            samples.append(t1 - t0)
            last_ns = t1
    HDR.pack_into(buf, 0, END, 0)
    send(buf)
    res.put(("ping", samples, last_ns))
    return 0


def ponger(args, tl, send, recv, res, err):
    m = args.msg_bytes
    tl.wait_go()
    seq = 0
    while True:
        msg = recv()
        if len(msg) != m:
            fail("ponger", 0, "ping of %d bytes" % len(msg), err)
        s, _ = HDR.unpack_from(msg, 0)
        if s == END:
            break
        if s != seq:
            fail("ponger", 0, "ping with sequence %d, expected %d" % (s, seq), err)
        seq += 1
        send(msg)
    return 0


def result(status, note="", msgs=0, seconds=0.0, rate=0.0, mb=0.0, p=(0.0, 0.0, 0.0)):
    print(json.dumps({"status": status, "note": note, "msgs": msgs, "seconds": seconds,
                      "msgs_per_s": rate, "mb_per_s": mb, "p50_us": p[0], "p99_us": p[1],
                      "p999_us": p[2]}, separators=(",", ":")))
    return 0


def percentile(sorted_v, q):
    """Nearest rank, as bh_percentile()."""
    n = len(sorted_v)
    rank = min(max(1, math.ceil(q * n)), n)
    return sorted_v[rank - 1]


def run(args):
    ctx = mp.get_context("fork")
    pipe_case = args.mode == "pipe"
    if pipe_case:
        args.producers = args.consumers = 1
    if args.transport == "pipe" and not pipe_case and (args.producers > 1 or args.consumers > 1):
        return result("skipped", "multiprocessing.Pipe has exactly two ends")
    cap = max(2, args.capacity // args.msg_bytes)
    tl = Timeline(ctx)
    res, err = ctx.Queue(), ctx.Queue()
    procs = []
    if pipe_case:
        if args.transport == "queue":
            a, b = ctx.Queue(maxsize=cap), ctx.Queue(maxsize=cap)
            ping_io, pong_io = (a.put, b.get), (b.put, a.get)
            note = "two multiprocessing.Queue(maxsize=%d)" % cap
        else:
            x, y = ctx.Pipe()
            ping_io, pong_io = (x.send_bytes, x.recv_bytes), (y.send_bytes, y.recv_bytes)
            note = "multiprocessing.Pipe, send_bytes/recv_bytes"
        procs.append(ctx.Process(target=pinger, args=(args, tl) + ping_io + (res, err)))
        procs.append(ctx.Process(target=ponger, args=(args, tl) + pong_io + (res, err)))
    else:
        if args.transport == "queue":
            q = ctx.Queue(maxsize=cap)
            send, recv = q.put, q.get
            note = "multiprocessing.Queue(maxsize=%d)" % cap
        else:
            r, w = ctx.Pipe(duplex=False)
            send, recv = w.send_bytes, r.recv_bytes
            note = "multiprocessing.Pipe, send_bytes/recv_bytes"
        for i in range(args.producers):
            procs.append(ctx.Process(target=producer, args=(args, tl, i, send, res, err)))
        for i in range(args.consumers):
            procs.append(ctx.Process(target=consumer, args=(args, tl, i, recv, res, err)))
    for p in procs:
        p.start()
    until = time.monotonic() + 30
    while tl.ready.value < len(procs):
        if time.monotonic() > until or any(p.exitcode not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            return result("failed", "workers did not get ready")
        time.sleep(0.001)
    start = now() + 2_000_000
    measure = start + int(args.warmup * 1e9)
    deadline = measure + int(args.seconds * 1e9)
    tl.times[:] = [start, measure, deadline]
    tl.go.set()
    # Collect results while waiting (a full result queue would block a child).
    want = len(procs) if not pipe_case else 1
    got = []
    until = deadline / 1e9 + 60
    while len(got) < want:
        if not err.empty():
            msg = err.get()
            for p in procs:
                p.kill()
            return result("failed", "VERIFY: " + msg)
        if any(p.exitcode not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            return result("failed", "a worker failed (see stderr)")
        if now() / 1e9 > until:
            for p in procs:
                p.kill()
            return result("failed", "timed out")
        try:
            got.append(res.get(timeout=0.05))
        except Exception:
            pass
    for p in procs:
        p.join()
    if pipe_case:
        _, samples, last_ns = got[0]
        samples.sort()
        secs = (last_ns - measure) / 1e9 if last_ns > measure else 0
        if not samples or secs <= 0:
            return result("failed", "no round trip in the measured window")
        n = len(samples)
        return result("ok", note, n, secs, n / secs, n * args.msg_bytes / secs / 1e6,
                      tuple(percentile(samples, q) / 1e3 for q in (0.5, 0.99, 0.999)))
    sent = sum(g[2] for g in got if g[0] == "sent")
    received = sum(g[2] for g in got if g[0] == "recv")
    counted = sum(g[3] for g in got if g[0] == "recv")
    last = max(g[4] for g in got if g[0] == "recv")
    if sent != received:
        return result("failed", "VERIFY: sent %d messages, received %d" % (sent, received))
    secs = (last - measure) / 1e9 if last > measure else 0
    if counted == 0 or secs <= 0:
        return result("failed", "no message in the measured window")
    rate = counted / secs
    return result("ok", note, counted, secs, rate, rate * args.msg_bytes / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", choices=("queue", "pipe"), required=True)
    ap.add_argument("mode", choices=("queue", "pipe"))
    ap.add_argument("--msg-bytes", type=int, default=64)
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--capacity", type=int, default=1 << 20)
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
