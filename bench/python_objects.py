#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""python_objects.py: ferry's Python objects against multiprocessing's, side
by side in one run, in `ferry bench`'s JSON schema (bench/README.md).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_objects.py --json
    ... --seconds 0.3 --only queue,pipe      # a quick look

Cases, each with ferry's Python object ("ferry-py") and its usual
multiprocessing counterpart, measured the same way in this script or by the
lab's own Python baselines (bench/*.py):

  bench  case              ferry-py                peer                      goal
  queue  py-obj            Queue put/get of small  multiprocessing.Queue     ferry >= 10x
                           pickled tuples, 1P1C
  queue  py-bytes-64B      put_bytes/get_bytes     multiprocessing.Queue of  ferry >= 30x
                           of 64 B, 1P1C           64 B bytes
  pipe   py-pingpong-64B   Pipe send_bytes/        multiprocessing.Pipe      p50 >= 10x better
                           recv_bytes round trip
  dict   dict_set,dict_get Dict, W processes       Manager().dict()          ferry >= 100x
                                                   (dict_manager.py)
  bus    compute           Bus, LOCKSTEP, N        shared_memory + Condition ferry >= 5x
                           consumers: mean/std/max (bus_python.py)
  heap   heap_pop_push     Heap(key=volume), W     BaseManager heapq server  ferry >= 50x
                           workers pop and push    (heap_manager.py)

The bus case adds a row "numpy-only": the consumers' numpy work alone, in
N processes at once, with no producer and no hand-off. Both designs
compute with numpy, so neither can pass that ceiling.

Every ferry row carries `x_peer` (how many times better than the peer in
this run: rate over rate, or the peer's latency over ferry's) and `goal_x`.
Consumers check what they receive (sequence numbers, checksums of the
analysis) for ferry and the peers alike. Queue and pipe peers use the fork
start method; so does ferry. Run one at a time on a quiet machine: these
are throughput numbers.
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CAPACITY = 1024  # queue slots, both sides


def now():
    return time.monotonic()


# ---- queue throughput -----------------------------------------------------------


def _q_producer(q, mode, seconds, go):
    go.wait()
    end = now() + seconds
    i = 0
    if mode == "obj":
        put = q.put
        while True:
            put((i, "abc", 2.5))
            i += 1
            if i % 256 == 0 and now() >= end:
                break
        put(None)
    else:
        put = q.put_bytes if hasattr(q, "put_bytes") else q.put
        # 64 bytes: the sequence number, then zeros, built in one step. The
        # loop is the same for every queue and must cost less than the
        # queues it measures: filling a bytearray and copying it out took
        # 366 ns a message, as long as 2.7 M/s, which capped the ratio.
        pad = bytes(56)
        while True:
            put(i.to_bytes(8, "little") + pad)
            i += 1
            if i % 256 == 0 and now() >= end:
                break
        put(b"")


def _q_consumer(q, mode, out):
    n = 0
    t0 = None
    if mode == "obj":
        get = q.get
        while True:
            m = get()
            if t0 is None:
                t0 = now()
            if m is None:
                break
            if m[0] != n:
                out.put(("bad", n, m))
                return
            n += 1
    else:
        get = q.get_bytes if hasattr(q, "get_bytes") else q.get
        while True:
            m = get()
            if t0 is None:
                t0 = now()
            if not m:
                break
            if int.from_bytes(m[0:8], "little") != n or len(m) != 64:
                out.put(("bad", n, m))
                return
            n += 1
    out.put(("ok", n, now() - t0))


def queue_case(make, mode, seconds):
    q = make()
    ctx = mp.get_context("fork")
    out, go = ctx.Queue(), ctx.Event()
    c = ctx.Process(target=_q_consumer, args=(q, mode, out))
    p = ctx.Process(target=_q_producer, args=(q, mode, seconds, go))
    c.start()
    p.start()
    time.sleep(0.1)
    go.set()
    r = out.get(timeout=seconds * 20 + 60)
    p.join()
    c.join()
    if r[0] != "ok":
        return "failed", "message %d out of sequence" % r[1], None, {}
    _, n, dt = r
    return "ok", "", n / dt, {"msgs": n, "seconds": round(dt, 3)}


# ---- pipe round trip --------------------------------------------------------------


def _echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pipe_case(make, seconds):
    a, b = make()
    # a first pass counts how many round trips fit, the echo child needs it
    n = 2000
    lat = []
    deadline = now() + seconds
    ctx = mp.get_context("fork")
    total = 0
    while True:
        p = ctx.Process(target=_echo, args=(b, n))
        p.start()
        msg = b"x" * 64
        for i in range(n):
            t = time.perf_counter_ns()
            a.send_bytes(msg)
            if a.recv_bytes() != msg:
                p.kill()
                return "failed", "echo differs", None, {}
            lat.append(time.perf_counter_ns() - t)
        p.join()
        total += n
        if now() >= deadline:
            break
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(len(lat) * f))] / 1000.0
    return "ok", "", q(0.5), {"p99_us": round(q(0.99), 2), "p999_us": round(q(0.999), 2),
                             "msgs": total}


# ---- dict, bus, heap --------------------------------------------------------------


def run_workers(target, args_of, n, seconds):
    """Forks n processes running target(*args_of(w), go, out), starts them
    together, and returns what each put on `out` (once) and the seconds
    from the start to the last of them."""
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=target, args=tuple(args_of(w)) + (go, out)) for w in range(n)]
    for p in ps:
        p.start()
    time.sleep(0.2)
    t0 = now()
    go.set()
    res = [out.get(timeout=seconds * 20 + 60) for _ in ps]
    dt = now() - t0
    for p in ps:
        p.join()
    return res, dt


def _d_worker(d, case, w, seconds, go, out):
    keys = ["key-%d" % i for i in range(10000)]
    value = "v" * 64
    go.wait()
    end = now() + seconds
    n, i = 0, w * 7919
    while True:
        k = keys[i % 10000]
        if case == "dict_set":
            d[k] = value
        elif d[k] != value:
            out.put(-1)
            return
        i += 1
        n += 1
        if n % 512 == 0 and now() >= end:
            break
    out.put(n)


def dict_case(case, seconds, workers):
    import ferry
    d = ferry.Dict(("key-%d" % i, "v" * 64) for i in range(10000))
    counts, dt = run_workers(_d_worker, lambda w: (d, case, w, seconds), workers, seconds)
    if min(counts) < 0:
        return "failed", "a get read a wrong value", None, {}
    return "ok", "", sum(counts) / dt, {"workers": workers}


def _b_consumer(name, out, ready):
    import ferry
    sub = ferry.Subscriber(name)
    ready.release()
    n = 0
    check = 0.0
    for frame in sub:
        with frame:
            for k in ("a", "b", "c"):
                arr = frame[k]
                check += float(arr.mean()) + float(arr.std()) + float(arr.max())
            n += 1
    out.put((n, check))


def bus_case(seconds, consumers):
    import numpy as np

    import ferry
    shapes = {"a": (1000, 1000), "b": (1000, 1500), "c": (1000, 2000)}
    bus = ferry.Bus(arrays={k: (s, "float32") for k, s in shapes.items()}, slots=4)
    rng = np.random.default_rng(1)
    batch = {k: rng.integers(0, 255, size=s).astype(np.float32) for k, s in shapes.items()}
    ctx = mp.get_context("fork")
    out, ready = ferry.Queue(), ferry.Semaphore(0)
    ps = [ctx.Process(target=_b_consumer, args=(bus, out, ready)) for _ in range(consumers)]
    for p in ps:
        p.start()
    for _ in ps:
        ready.acquire(timeout=60)
    t0 = now()
    end = t0 + seconds
    n = 0
    while now() < end:
        with bus.loan() as frame:
            for k in shapes:
                frame[k][...] = batch[k]  # one copy in, as the peer's producer does
        n += 1
    bus.shutdown()
    want = sum(float(a.mean()) + float(a.std()) + float(a.max()) for a in batch.values())
    res = [out.get(timeout=120) for _ in ps]
    dt = now() - t0
    for p in ps:
        p.join()
    if any(r[0] != n or abs(r[1] - n * want) > 1e-3 * abs(n * want) for r in res):
        return "failed", "a consumer saw other batches", None, {}
    return "ok", "", n / dt, {"consumers": consumers, "gb_per_s": round(n * 18e6 / dt / 1e9, 3)}


def _c_only(batch, seconds, go, out):
    go.wait()
    t0 = now()
    n = 0
    check = 0.0
    while now() - t0 < seconds:
        for arr in batch.values():
            check += float(arr.mean()) + float(arr.std()) + float(arr.max())
        n += 1
    out.put((n, now() - t0, check))


def compute_ceiling(seconds, consumers):
    """The consumers' numpy work alone: N processes computing mean, std and
    max of a private copy of the batch, as fast as they can, all at once,
    with no producer and no hand-off. Every consumer must compute every
    batch, so no design can deliver more batches per second than the
    slowest of them manages here."""
    import numpy as np
    shapes = {"a": (1000, 1000), "b": (1000, 1500), "c": (1000, 2000)}
    rng = np.random.default_rng(1)
    batch = {k: rng.integers(0, 255, size=s).astype(np.float32) for k, s in shapes.items()}
    res, _ = run_workers(_c_only, lambda w: (batch, seconds), consumers, seconds)
    want = sum(float(a.mean()) + float(a.std()) + float(a.max()) for a in batch.values())
    if any(abs(c - n * want) > 1e-3 * abs(n * want) for n, _, c in res):
        return "failed", "a consumer computed something else", None, {}
    return "ok", "", min(n / dt for n, dt, _ in res), {"consumers": consumers}


def _volume(r):
    return r[0] * r[1] * r[2]


def _h_worker(heap, seconds, go, out):
    import random
    rng = random.Random()
    go.wait()
    end = now() + seconds
    n = 0
    while True:
        r = heap.pop()
        heap.push((rng.randint(1, 100), rng.randint(1, 100), rng.randint(1, 100), r[3]))
        n += 1
        if n % 256 == 0 and now() >= end:
            break
    out.put(n)


def heap_case(seconds, workers, records):
    import random

    import ferry
    rng = random.Random(1)
    heap = ferry.Heap(key=_volume, capacity=records, max_capacity=2 * records, max_item=64)
    heap.replace_all((rng.randint(1, 100), rng.randint(1, 100), rng.randint(1, 100), i)
                     for i in range(records))
    counts, dt = run_workers(_h_worker, lambda w: (heap, seconds), workers, seconds)
    if len(heap) != records:
        return "failed", "records lost or doubled", None, {}
    return "ok", "", sum(counts) / dt, {"workers": workers}


def lab_peer(script, args, case):
    """Runs one of the lab's Python baselines and returns its value."""
    try:
        res = subprocess.run([sys.executable, os.path.join(HERE, script)] + args,
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "failed", "timed out", None, {}
    for line in res.stdout.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o.get("case") == case:
            v = o.get("ops_per_s", o.get("batches_per_s"))
            return "ok", "", v, {}
    return "failed", "no result from %s: %s" % (script, res.stderr.strip()[-200:]), None, {}


# ---- the run ------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="ferry's Python objects against multiprocessing's")
    ap.add_argument("--seconds", type=float, default=1.0, help="measured length of each case")
    ap.add_argument("--workers", type=int, default=2, help="dict and heap worker processes")
    ap.add_argument("--consumers", type=int, default=3, help="bus consumers")
    ap.add_argument("--records", type=int, default=300000, help="heap records")
    ap.add_argument("--only", default="queue,pipe,dict,bus,heap", help="benchmarks to run")
    ap.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    a = ap.parse_args()
    only = set(a.only.split(","))

    import ferry
    rows = []

    def row(bench, case, impl, unit, better, res, goal=None, peer=None):
        status, note, value, extra = res
        r = {"type": "result", "bench": bench, "case": case, "impl": impl, "status": status,
             "note": note, "unit": unit, "better": better,
             "value": round(value, 2) if value is not None else None}
        r.update(extra)
        if goal is not None and peer is not None and status == "ok" and peer[0] == "ok" and peer[2]:
            x = value / peer[2] if better == "higher" else peer[2] / value
            r["x_peer"] = round(x, 2)
            r["goal_x"] = goal
        rows.append(r)
        return res

    machine = {"type": "machine", "bench": "python", "nproc": os.cpu_count(),
               "cpu": platform.processor() or platform.machine(), "kernel": " ".join(platform.uname()[0:3]),
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "ferry_version": ferry.__version__, "seconds": a.seconds, "python": platform.python_version()}

    if "queue" in only:
        peer = queue_case(lambda: mp.get_context("fork").Queue(CAPACITY), "obj", a.seconds)
        mine = queue_case(lambda: ferry.Queue(CAPACITY), "obj", a.seconds)
        row("queue", "py-obj", "py-mp-queue", "msgs/s", "higher", peer)
        row("queue", "py-obj", "ferry-py", "msgs/s", "higher", mine, 10, peer)
        peer = queue_case(lambda: mp.get_context("fork").Queue(CAPACITY), "bytes", a.seconds)
        mine = queue_case(lambda: ferry.Queue(CAPACITY), "bytes", a.seconds)
        row("queue", "py-bytes-64B", "py-mp-queue", "msgs/s", "higher", peer)
        row("queue", "py-bytes-64B", "ferry-py", "msgs/s", "higher", mine, 30, peer)
    if "pipe" in only:
        peer = pipe_case(lambda: mp.get_context("fork").Pipe(), a.seconds)
        mine = pipe_case(ferry.Pipe, a.seconds)
        row("pipe", "py-pingpong-64B", "py-mp-pipe", "us", "lower", peer)
        row("pipe", "py-pingpong-64B", "ferry-py", "us", "lower", mine, 10, peer)
    if "dict" in only:
        for case in ("dict_set", "dict_get"):
            peer = lab_peer("dict_manager.py", ["--seconds", str(a.seconds), "--workers",
                                                str(a.workers), "--case", case], case)
            mine = dict_case(case, a.seconds, a.workers)
            row("dict", case, "python-manager", "ops/s", "higher", peer)
            row("dict", case, "ferry-py", "ops/s", "higher", mine, 100, peer)
    if "bus" in only:
        peer = lab_peer("bus_python.py", ["--seconds", str(a.seconds), "--consumers",
                                          str(a.consumers), "--case", "compute"], "compute")
        mine = bus_case(a.seconds, a.consumers)
        row("bus", "compute", "python-mp", "batches/s", "higher", peer)
        row("bus", "compute", "ferry-py", "batches/s", "higher", mine, 5, peer)
        # the ceiling: the same numpy work with nothing handed over
        row("bus", "compute", "numpy-only", "batches/s", "higher",
            compute_ceiling(a.seconds, a.consumers))
    if "heap" in only:
        peer = lab_peer("heap_manager.py", ["--seconds", str(a.seconds), "--workers",
                                            str(a.workers), "--records", str(a.records)],
                        "heap_pop_push")
        mine = heap_case(a.seconds, a.workers, a.records)
        row("heap", "heap_pop_push", "python-manager", "ops/s", "higher", peer)
        row("heap", "heap_pop_push", "ferry-py", "ops/s", "higher", mine, 50, peer)

    if a.json:
        for r in [machine] + rows:
            print(json.dumps(r, separators=(",", ":")))
    else:
        print("ferry's Python objects against multiprocessing's: %s CPUs, Python %s, %.1f s per case"
              % (machine["nproc"], machine["python"], a.seconds))
        print("%-6s %-16s %-15s %16s %9s %7s  %s" % ("BENCH", "CASE", "IMPL", "VALUE", "x PEER",
                                                     "GOAL", "NOTE"))
        for r in rows:
            v = "-" if r["value"] is None else "%.4g %s" % (r["value"], r["unit"])
            x = r.get("x_peer")
            goal = r.get("goal_x")
            met = "" if x is None else (" met" if x >= goal else " NOT met")
            print("%-6s %-16s %-15s %16s %9s %7s  %s%s" % (
                r["bench"], r["case"], r["impl"], v, "-" if x is None else "%.1fx" % x,
                "-" if goal is None else ">=%dx" % goal, r["status"] if r["status"] != "ok" else "",
                met))
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
