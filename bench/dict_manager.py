#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dict_manager.py: the project's own Python version of the usual shared
dict, as the baseline of `ferry bench dict`: a multiprocessing
Manager().dict() and N worker processes that each, for --seconds, either
set (case dict_set: d[key] = value, 64-byte values over 10,000 keys) or get
(case dict_get: d[key] of keys set beforehand) through the proxy.

Prints one JSON line per case:
{"impl":"python-manager","case":"dict_set"|"dict_get","workers":2,"ops_per_s":..}
"""
import argparse
import json
import time
from multiprocessing import Manager, Process, Value

KEYS = 10000
VALUE = "v" * 64


def worker(d, case, w, go, stop, ready, count):
    keys = ["key-%d" % i for i in range(KEYS)]
    with ready.get_lock():
        ready.value += 1
    while not go.value:
        time.sleep(0.0005)
    n, i = 0, w * 7919
    while not stop.value:
        k = keys[i % KEYS]
        if case == "dict_set":
            d[k] = VALUE
        else:
            d[k]
        i += 1
        n += 1
    with count.get_lock():
        count.value += n


def run(m, case, workers, seconds):
    d = m.dict()
    d.update({"key-%d" % i: VALUE for i in range(KEYS)})
    go, stop, ready, count = Value("i", 0), Value("i", 0), Value("i", 0), Value("q", 0)
    procs = [Process(target=worker, args=(d, case, w, go, stop, ready, count))
             for w in range(workers)]
    for p in procs:
        p.start()
    while ready.value < workers:
        time.sleep(0.001)
    t0 = time.monotonic()
    go.value = 1
    time.sleep(seconds)
    stop.value = 1
    for p in procs:
        p.join()
    elapsed = time.monotonic() - t0
    print(json.dumps({"impl": "python-manager", "case": case, "workers": workers,
                      "ops_per_s": round(count.value / elapsed, 2)}, separators=(",", ":")),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--case", choices=["dict_set", "dict_get", "both"], default="both")
    a = ap.parse_args()
    with Manager() as m:
        for case in (["dict_set", "dict_get"] if a.case == "both" else [a.case]):
            run(m, case, a.workers, a.seconds)


if __name__ == "__main__":
    main()
