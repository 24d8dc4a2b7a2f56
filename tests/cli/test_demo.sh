#!/usr/bin/env bash
# test_demo.sh: `ferry demo` verifies every result and leaves nothing in
# /dev/shm, whether it succeeds, a consumer dies, lies or hangs (--inject),
# or the demo is stopped by a signal; and every failure is loud (status 1,
# one line on stderr) and bounded in time.
#
# usage: bash test_demo.sh <ferry binary> <tests/cli dir>
set -u
FERRY=$1
failures=0
pids=()
tmp=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    rm -f "/dev/shm/ferry.demo-$pid" "/dev/shm/ferry.demo-$pid-ctl"
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# demo WANT ARGS...: runs the demo in the background (so its pid, hence its
# region names, are known), waits, and checks the status and leftovers.
demo() {
  local want=$1
  shift
  "$FERRY" demo "$@" >"$tmp/out" 2>"$tmp/err" &
  local pid=$!
  pids+=("$pid")
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
  pids+=("$pid")
  for _ in $(seq 200); do
    [ -e "/dev/shm/ferry.demo-$pid-ctl" ] && break
    sleep 0.05
  done
  sleep 0.2
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 1 ] || fail "demo stopped by SIG$sig: exit $rc; stderr: $(cat "$tmp/err")"
  grep -q "^ferry: demo: stopped by signal" "$tmp/err" || fail "SIG$sig: $(cat "$tmp/err")"
  if [ -e "/dev/shm/ferry.demo-$pid" ] || [ -e "/dev/shm/ferry.demo-$pid-ctl" ]; then
    fail "demo stopped by SIG$sig left its regions behind"
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
