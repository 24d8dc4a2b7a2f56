#!/bin/bash
# Smoke test of `ferry bench`: runs a tiny queue and pipe benchmark on the
# built-in OS-pipe peer and ferry, and checks that every JSON line parses
# and carries the required keys. No timing is asserted: the numbers of a
# 50 ms case mean nothing. Usage: bash test_bench_smoke.sh FERRY CLI_DIR
set -u
ferry=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$ferry" help bench >/dev/null 2>&1; then
    echo "SKIP: this ferry has no 'bench' command yet (tools/main.c dispatch)"
    exit 0
fi

fail() { echo "FAIL: $*"; exit 1; }

"$ferry" bench queue --impl ferry,os-pipe --case 1p1c,2p2c,64 --seconds 0.05 --warmup 0.02 \
    --json --no-build --svg "$tmp/q.svg" >"$tmp/queue.jsonl" 2>"$tmp/queue.err" \
    || { cat "$tmp/queue.err"; fail "bench queue exited $?"; }
"$ferry" bench pipe --impl ferry,shm-spin,os-pipe --seconds 0.05 --warmup 0.02 \
    --json --no-build >"$tmp/pipe.jsonl" 2>"$tmp/pipe.err" \
    || { cat "$tmp/pipe.err"; fail "bench pipe exited $?"; }
grep -q '</svg>' "$tmp/q.svg" || fail "no SVG written"

check() { # FILE EXPECTED_RESULT_LINES LATENCY(0/1)
    if command -v python3 >/dev/null; then
        python3 - "$@" <<'PY' || exit 1
import json, sys
path, want, latency = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
keys = ["impl", "case", "msg_bytes", "producers", "consumers", "msgs_per_s", "mb_per_s"]
if latency:
    keys += ["p50_us", "p99_us", "p999_us"]
lines = open(path).read().splitlines()
objs = [json.loads(l) for l in lines]          # every line must parse
head = objs[0]
assert head.get("type") == "machine" and "nproc" in head and "cpu" in head, head
rows = [o for o in objs if o.get("type") == "result"]
assert len(rows) == want, "%d result lines, expected %d" % (len(rows), want)
for r in rows:
    missing = [k for k in keys if k not in r]
    assert not missing, "missing %s in %s" % (missing, r)
    assert r["status"] in ("ok", "skipped"), r
    if r["status"] == "ok":
        assert r["msgs_per_s"] > 0, r
print("ok: %s: %d result lines" % (path, len(rows)))
PY
    else
        n=$(grep -c '"type": *"result"' "$1")
        [ "$n" -eq "$2" ] || fail "$1: $n result lines, expected $2"
        ! grep -q '"status": *"failed"' "$1" || fail "$1: a case failed"
    fi
}
check "$tmp/queue.jsonl" 4 0   # (ferry, os-pipe) x (1p1c, 2p2c) at 64 B
check "$tmp/pipe.jsonl" 3 1    # ferry, shm-spin, os-pipe

# The pool bench, ferry's own rows only (the peers take seconds each).
"$ferry" bench pool --impl ferry,ferry-prefetch1,ferry-exec,xargs-P --tasks 200 \
    --rss-mib 8 --seconds 0.2 --json >"$tmp/pool.jsonl" 2>"$tmp/pool.err" \
    || { cat "$tmp/pool.err"; fail "bench pool exited $?"; }
/usr/bin/python3 - "$tmp/pool.jsonl" <<'PY' || fail "bench pool output"
import json, sys
rows, goals = [], []
for line in open(sys.argv[1]):
    o = json.loads(line)
    (rows if o["type"] == "row" else goals).append(o)
need = {"bench", "impl", "case", "workers", "tasks", "seconds", "tasks_per_s", "status", "note"}
for r in rows:
    assert need <= set(r), r
    assert r["status"] == "ok", r
cases = {(r["impl"], r["case"]) for r in rows}
for c in [("ferry", "noop_ordered"), ("ferry-prefetch1", "noop_ordered"),
          ("ferry-exec", "exec_lines"), ("xargs-P", "exec_lines"), ("ferry", "head_of_line"),
          ("ferry", "respawn"), ("ferry", "backpressure"), ("ferry", "reorder_window")]:
    assert c in cases, c
for r in rows:
    if r["case"] in ("noop_ordered", "exec_lines", "backpressure"):
        assert r["tasks_per_s"] > 0, r
held = [r for r in rows if r["case"] == "reorder_window"][0]["max_held"]
assert 0 < held <= 64, held
assert len(goals) == 7 and all("goal" in g and "target" in g for g in goals), goals
print("ok: pool: %d rows, %d goals" % (len(rows), len(goals)))
PY
echo "PASS"
