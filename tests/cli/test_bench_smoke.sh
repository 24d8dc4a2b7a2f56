#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_bench_smoke.sh: `ferry bench` (ferry-bench, found next to ferry)
# runs tiny cases of every benchmark and every result line follows the one
# schema (bench/README.md): a machine line, then result lines with bench,
# case, impl, status, unit, better and a value that is a positive number
# when the status is ok and null otherwise. Then bench/chart.py draws a
# chart from that JSON. No timing is asserted: the numbers of a 50 ms case
# mean nothing. Usage: bash test_bench_smoke.sh FERRY CLI_DIR
. "$(dirname "$0")/lib.sh" "$@"

run() { # NAME ARGS...: ferry bench ARGS --json > NAME.jsonl
  local name=$1
  shift
  "$FERRY" bench "$@" --json >"$tmp/$name.jsonl" 2>"$tmp/$name.err" ||
    fail "ferry bench $* exited $?: $(cat "$tmp/$name.err")"
}
run queue queue --impl ferry,os-pipe,shm-ring --case 1p1c,2p2c,64 --seconds 0.05 --warmup 0.02
run pipe pipe --impl ferry,shm-spin,os-pipe --seconds 0.05 --warmup 0.02
run bus bus --seconds 0.2 --consumers 1 --no-python
run dict dict --seconds 0.1 --impl ferry
# Options before the benchmark's name are the benchmark's too.
run before --seconds 0.05 --warmup 0.02 --impl ferry --case 64 pipe
# The pool: ferry's own rows and xargs -P (the Python peers take seconds).
run pool pool --impl ferry,ferry-prefetch1,ferry-exec,xargs-P --tasks 200 --rss-mib 8 \
  --seconds 0.2

check() { # FILE BENCH RESULT_LINES
  /usr/bin/python3 - "$@" <<'PY' || fail "$1: schema check"
import json, math, sys
path, bench, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
objs = [json.loads(l) for l in open(path).read().splitlines()]  # every line parses
head = objs[0]
assert head["type"] == "machine" and head["bench"] == bench, head
for k in ("nproc", "cpu", "kernel", "time", "ferry_version", "seconds"):
    assert k in head, (k, head)
rows = objs[1:]
assert len(rows) == want, "%d result lines, expected %d" % (len(rows), want)
for r in rows:
    for k in ("type", "bench", "case", "impl", "status", "note", "unit", "better", "value"):
        assert k in r, (k, r)
    assert r["type"] == "result" and r["bench"] == bench, r
    assert r["better"] in ("higher", "lower"), r
    assert r["status"] in ("ok", "skipped"), r
    if r["status"] == "ok":
        assert isinstance(r["value"], (int, float)) and r["value"] > 0, r
    else:
        assert r["value"] is None, r
print("ok: %s: %d result lines" % (path, len(rows)))
PY
}
check "$tmp/queue.jsonl" queue 6 # (ferry, os-pipe, shm-ring) x (1p1c, 2p2c) at 64 B
# The bare ring runs 1P1C and says why it skips 2P2C.
/usr/bin/python3 - "$tmp/queue.jsonl" <<'PY' || fail "bench queue: shm-ring rows"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[1:]]
ring = {r["case"]: r for r in rows if r["impl"] == "shm-ring"}
assert ring["1p1c-64B"]["status"] == "ok", ring
assert ring["2p2c-64B"]["status"] == "skipped", ring
assert "one producer and one consumer" in ring["2p2c-64B"]["note"], ring
PY
check "$tmp/pipe.jsonl" pipe 3   # ferry, shm-spin, os-pipe
check "$tmp/bus.jsonl" bus 5     # memcpy; ferry idle, compute, latest_none, latest_stalled
check "$tmp/dict.jsonl" dict 2   # ferry dict_set, dict_get
check "$tmp/before.jsonl" pipe 1
# noop_ordered x2, exec_lines x2, head_of_line, respawn x5 (spare, none, late
# pool, the kernel's floor, a crash), backpressure, reorder_window
check "$tmp/pool.jsonl" pool 12
/usr/bin/python3 - "$tmp/pool.jsonl" <<'PY' || fail "bench pool: $(cat "$tmp/pool.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
got = {(r["impl"], r["case"]): r for r in rows}
for c in [("ferry", "noop_ordered"), ("ferry-prefetch1", "noop_ordered"),
          ("ferry-exec", "exec_lines"), ("xargs-P", "exec_lines"), ("ferry", "head_of_line"),
          ("ferry", "respawn"), ("ferry-no-spare", "respawn"), ("kernel-exit", "respawn"),
          ("ferry-crash", "respawn"),
          ("ferry", "backpressure"),
          ("ferry", "reorder_window")]:
    assert c in got and got[c]["status"] == "ok", (c, got.get(c))
assert got[("ferry", "noop_ordered")]["unit"] == "tasks/s" and got[("ferry", "noop_ordered")]["tasks"] == 200
assert got[("ferry", "respawn")]["unit"] == "us" and got[("ferry", "respawn")]["better"] == "lower"
assert got[("ferry", "head_of_line")]["ideal_s"] > 0
assert 0 < got[("ferry", "reorder_window")]["value"] <= 64, got[("ferry", "reorder_window")]
assert got[("ferry", "backpressure")]["rss_growth_kib"] >= 0
PY
[ "$(grep -c '^goal ' "$tmp/pool.err")" -eq 8 ] || fail "bench pool: want 8 goal lines on stderr: $(cat "$tmp/pool.err")"
grep -q '"case":"1p1c-64B"' "$tmp/queue.jsonl" || fail "queue case names: $(cat "$tmp/queue.jsonl")"
grep -q '"unit":"us"' "$tmp/pipe.jsonl" || fail "pipe unit: $(cat "$tmp/pipe.jsonl")"

# One script draws any of them, from the JSON alone.
peers=$(dirname "$FERRY")/bench-peers
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  /usr/bin/python3 "$peers/chart.py" -o "$tmp/chart.svg" "$tmp"/queue.jsonl "$tmp"/pipe.jsonl \
    "$tmp"/bus.jsonl "$tmp"/dict.jsonl "$tmp"/pool.jsonl >"$tmp/chart.out" 2>&1 ||
    fail "chart.py: $(cat "$tmp/chart.out")"
  grep -q '28 results in 15 panels' "$tmp/chart.out" || fail "chart.py said: $(cat "$tmp/chart.out")"
  grep -q '</svg>' "$tmp/chart.svg" || fail "chart.py wrote no SVG"
  grep -q 'latest_stalled' "$tmp/chart.svg" || fail "the chart lacks the bus cases"
  echo '{"type":"result"}' >"$tmp/bad.jsonl"
  /usr/bin/python3 "$peers/chart.py" -o "$tmp/bad.svg" "$tmp/bad.jsonl" 2>/dev/null &&
    fail "chart.py accepted a result without its fields"
else
  fail "python3-matplotlib is missing (scripts/install-deps.sh test installs it)"
fi

# The C peers check their command line as strictly as ferry does.
for peer in "$peers"/*_peer; do
  [ -x "$peer" ] || continue
  for bad in "--msg-bytes 0x40" "--msg-bytes 8" "--producers 99" "--seconds" "--frob 1"; do
    # shellcheck disable=SC2086
    "$peer" queue $bad >"$tmp/out" 2>"$tmp/err" && fail "$peer accepted $bad"
    [ -s "$tmp/out" ] && fail "$peer $bad ran: $(cat "$tmp/out")"
    grep -q "$(basename "$peer")" "$tmp/err" || fail "$peer $bad said: $(cat "$tmp/err")"
  done
done

finish
