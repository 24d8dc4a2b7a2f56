#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_demo.sh: `ferry demo` verifies every result and leaves nothing in
# /dev/shm, whether it succeeds, a consumer dies, lies or hangs (--inject),
# or the demo is stopped by a signal; and every failure is loud (status 1,
# one line on stderr) and bounded in time.
#
# usage: bash test_demo.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"
# The demo's regions are named after its pid, not P.
cli_cleanup() {
  for pid in "${bg[@]}"; do
    rm -f "/dev/shm/ferry.demo-$pid" "/dev/shm/ferry.demo-$pid-ctl"
  done
}

# demo WANT ARGS...: runs the demo in the background (so its pid, hence its
# region names, are known), waits, and checks the status and leftovers.
demo() {
  local want=$1
  shift
  "$FERRY" demo "$@" >"$tmp/out" 2>"$tmp/err" &
  local pid=$!
  bg+=("$pid")
  wait "$pid"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "ferry demo $*: exit $rc, want $want; stderr: $(cat "$tmp/err")"
  if [ -e "/dev/shm/ferry.demo-$pid" ] || [ -e "/dev/shm/ferry.demo-$pid-ctl" ]; then
    fail "ferry demo $* left its regions behind"
  fi
  last_pid=$pid
}

# --- success --------------------------------------------------------------------
demo 0 --consumers 2 --batches 5
grep -q "^demo: demo-$last_pid: 3 float32 arrays (1000x1000, 1000x1500, 1000x2000)" "$tmp/out" ||
  fail "demo banner: $(cat "$tmp/out")"
[ "$(grep -c '^consumer [12]: 5 batches, 15 results verified' "$tmp/out")" -eq 2 ] ||
  fail "demo consumer lines: $(cat "$tmp/out")"
grep -Eq '^demo: 5 batches in [0-9.]+ s: [0-9.]+ batches/s, [0-9.]+ GB/s read by 2 consumers; all results verified$' \
  "$tmp/out" || fail "demo summary: $(cat "$tmp/out")"
# Not a terminal: no progress bar.
[ -s "$tmp/err" ] && fail "demo wrote to stderr: $(cat "$tmp/err")"

demo 0 --consumers 3 --batches 4 --shape 7,3x3x3,2x2x2x2,1 --quiet
[ -s "$tmp/out" ] && fail "--quiet printed: $(cat "$tmp/out")"

demo 0 --consumers 2 --batches 3 --json
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["verified"] is True and d["batches"] == 3 and d["arrays"] == 3, d
assert [c["verified"] for c in d["consumers"]] == [9, 9], d
assert d["batches_per_s"] > 0 and d["batch_bytes"] == 18000000, d
' <"$tmp/out" || fail "demo --json: $(cat "$tmp/out")"

# The defaults (consumers = CPUs, 200 batches of 18 MB) run to the end; a
# hang fails by CTest's timeout, not by a clock check here.
demo 0 --quiet

# --- failures are loud, bounded and leave nothing ------------------------------
demo 1 --consumers 2 --batches 5 --inject die --quiet
grep -q "^ferry: demo: consumer 1 was killed by signal 9 .* in batch 2: " "$tmp/err" ||
  fail "inject die: $(cat "$tmp/err")"
demo 1 --consumers 2 --batches 5 --inject wrong --quiet
grep -q "^ferry: demo: consumer 1, batch 2, array data0: max .*, expected .*: " "$tmp/err" ||
  fail "inject wrong: $(cat "$tmp/err")"
start=$(date +%s)
demo 1 --consumers 2 --batches 5 --inject hang --timeout 0.5 --quiet
grep -q "^ferry: demo: consumer 1 (pid [0-9]*) did not finish batch 2 within 0.5 s: " "$tmp/err" ||
  fail "inject hang: $(cat "$tmp/err")"
[ $(($(date +%s) - start)) -le 10 ] || fail "a hung consumer held the demo for more than 10 s"
# One batch only: the fault strikes in batch 0.
demo 1 --consumers 1 --batches 1 --inject wrong --quiet
for f in die wrong; do
  demo 1 --consumers 2 --batches 5 --inject "$f"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "inject $f: stderr is not one line: $(cat "$tmp/err")"
done

# --- a signal stops the demo cleanly ------------------------------------------------
for sig in TERM INT; do
  "$FERRY" demo --consumers 2 --batches 1000000 --shape 100x100 --quiet >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  bg+=("$pid")
  for _ in $(seq 200); do
    [ -e "/dev/shm/ferry.demo-$pid-ctl" ] && break
    sleep 0.05
  done
  sleep 0.2
  if [ "$sig" = TERM ]; then
    # info on a live bus: its statistics and each subscriber's, as an observer.
    "$FERRY" info --json "demo-$pid" >"$tmp/info" 2>&1 || fail "info of a running demo: $(cat "$tmp/info")"
    /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
b = d["bus"]
assert d["kind"] == "bus" and b["mode"] == "lockstep" and b["slots"] == 4, b
assert b["subscribers"] == 2 and len(b["subscriber_list"]) == 2, b
assert b["published"] > 0 and b["frame_bytes"] >= 40000, b
' <"$tmp/info" || fail "info --json of the demo bus: $(cat "$tmp/info")"
  fi
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 1 ] || fail "demo stopped by SIG$sig: exit $rc; stderr: $(cat "$tmp/err")"
  grep -q "^ferry: demo: stopped by signal" "$tmp/err" || fail "SIG$sig: $(cat "$tmp/err")"
  if [ -e "/dev/shm/ferry.demo-$pid" ] || [ -e "/dev/shm/ferry.demo-$pid-ctl" ]; then
    fail "demo stopped by SIG$sig left its regions behind"
  fi
done

finish
