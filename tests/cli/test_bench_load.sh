#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_bench_load.sh: `ferry bench queue|pipe --load N` runs N busy
# processes (named ferry-load) during every case of every implementation,
# and never leaves one behind: not after a normal run, and not when the
# benchmark is killed or interrupted mid-case. Bad values are refused
# with a clear message and run nothing. No timing is asserted.
# Usage: bash test_bench_load.sh FERRY CLI_DIR
. "$(dirname "$0")/lib.sh" "$@"

# ---- bad values: exit 2, a message naming --load, no result line --------
for bad in -1 x 65 1,,2 '' 2, ,2 1.5 0,1,2,3,4 99999999999999999999; do
  for b in queue pipe; do
    "$FERRY" bench "$b" --impl os-pipe --case 64 --seconds 0.01 --load "$bad" --json \
      >"$tmp/bad.out" 2>"$tmp/bad.err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "bench $b --load '$bad': exit $rc, want 2"
    grep -q -- "bad --load '$bad'" "$tmp/bad.err" ||
      fail "bench $b --load '$bad': message: $(cat "$tmp/bad.err")"
    [ -s "$tmp/bad.out" ] && fail "bench $b --load '$bad' printed: $(cat "$tmp/bad.out")"
  done
done

# load_pids PID: the pids of PID's children named ferry-load.
load_pids() { pgrep -P "$1" -x ferry-load; }

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# watch PID FILE: until PID ends, appends the pids of its load processes.
watch() {
  while kill -0 "$1" 2>/dev/null; do
    load_pids "$1" >>"$2"
    sleep 0.05
  done
}

# gone FILE WHAT: every pid in FILE has ended, within 3 s.
gone() {
  local pid i
  for pid in $(sort -u "$1"); do
    for i in $(seq 60); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && fail "$2: load process $pid survived"
  done
}

# ---- a normal run: rows carry the load, and no load process survives ----
: >"$tmp/seen"
"$FERRY" bench pipe --impl ferry,os-pipe --seconds 0.3 --warmup 0.05 --load 0,2 --json \
  >"$tmp/pipe.jsonl" 2>"$tmp/pipe.err" &
run=$!
watch "$run" "$tmp/seen"
wait "$run" || fail "bench pipe --load 0,2 exited $?: $(cat "$tmp/pipe.err")"
[ "$(sort -u "$tmp/seen" | wc -l)" -ge 2 ] ||
  fail "bench pipe --load 0,2: saw $(sort -u "$tmp/seen" | wc -l) load processes, want at least 2"
gone "$tmp/seen" "bench pipe --load 0,2"
/usr/bin/python3 - "$tmp/pipe.jsonl" <<'PY' || fail "pipe rows: $(cat "$tmp/pipe.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
got = {(r["impl"], r["case"]): r for r in rows}
assert len(rows) == 4, rows
for impl in ("ferry", "os-pipe"):
    assert got[(impl, "pingpong-64B")]["load"] == 0, got
    assert got[(impl, "pingpong-64B-load2")]["load"] == 2, got
    for r in rows:
        assert r["status"] == "ok", r
PY

# The table shows the load in the case's name.
"$FERRY" bench queue --impl os-pipe --case 1p1c,64 --seconds 0.1 --warmup 0.02 --load 1 \
  >"$tmp/table.out" 2>"$tmp/table.err" || fail "bench queue --load 1: $(cat "$tmp/table.err")"
grep -q '^1p1c-64B-load1 ' "$tmp/table.out" || fail "table: $(cat "$tmp/table.out")"

# ---- interrupted mid-case: killed, or sent SIGTERM ----------------------
for sig in KILL TERM; do
  : >"$tmp/seen"
  "$FERRY" bench pipe --impl os-pipe --seconds 1 --warmup 0 --load 2 --json \
    >/dev/null 2>&1 &
  run=$!
  bg+=("$run")
  for i in $(seq 100); do
    [ "$(load_pids "$run" | wc -l)" -ge 2 ] && break
    sleep 0.02
  done
  load_pids "$run" >"$tmp/seen"
  [ "$(wc -l <"$tmp/seen")" -ge 2 ] || fail "SIG$sig: the load never started"
  kill -"$sig" "$run"
  wait "$run" 2>/dev/null
  gone "$tmp/seen" "bench pipe --load 2, then SIG$sig"
done

finish
