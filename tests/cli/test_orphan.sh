#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_orphan.sh: the crash contract as the command shows it. A process
# holding a region is SIGKILLed: `ferry ls` and `ferry info` show the region
# orphaned with a dead participant, `ferry gc --dry-run` would remove it,
# `ferry gc` does. The same for a SIGKILLed `ferry demo`, whose consumers
# die with it and whose two regions are then orphaned.
#
# gc is always given patterns naming this test's regions: a bare `ferry gc`
# would also remove orphans that concurrently running tests are inspecting.
#
# usage: bash test_orphan.sh <ferry binary> <tests/cli dir>
# With FERRY_UPDATE_GOLDEN=1 the golden files are rewritten instead.
. "$(dirname "$0")/lib.sh" "$@"
demo=
cli_cleanup() {
  [ -n "$demo" ] && rm -f "/dev/shm/ferry.$demo" "/dev/shm/ferry.$demo-ctl"
}

# --- a held region, SIGKILLed -------------------------------------------------
"$FERRY" array create "${P}o" --array frame:f32:100x100 --hold >/dev/null &
holder=$!
bg+=("$holder")
wait_status "${P}o" active
kill -KILL "$holder"
wait "$holder" 2>/dev/null
wait_status "${P}o" orphaned
"$FERRY" ls "${P}*" >"$tmp/out" || fail "ls failed"
golden ls_orphaned.txt
"$FERRY" info "${P}o" >"$tmp/out" || fail "info of an orphan failed"
golden info_orphaned.txt
grep -Eq "^ +0 +$holder +creator\+writer +dead " "$tmp/out" ||
  fail "info does not show pid $holder dead: $(cat "$tmp/out")"
"$FERRY" ls --json "${P}o" >"$tmp/out"
python3 -c 'import json, sys
[r] = json.load(sys.stdin)
assert r["status"] == "orphaned" and r["live"] == 0 and r["dead"] == 1, r' <"$tmp/out" ||
  fail "ls --json of the orphan: $(cat "$tmp/out")"
# The whole-machine dry run sees it too, and removes nothing.
"$FERRY" gc --dry-run >"$tmp/out" || fail "gc --dry-run failed"
grep -qx "would remove ${P}o (orphaned)" "$tmp/out" || fail "gc --dry-run: $(cat "$tmp/out")"
[ -e "/dev/shm/ferry.${P}o" ] || fail "gc --dry-run removed ${P}o"
"$FERRY" gc "${P}*" >"$tmp/out" || fail "gc failed"
golden gc_orphaned.txt
[ -e "/dev/shm/ferry.${P}o" ] && fail "gc left ${P}o behind"

# --- a SIGKILLed demo ---------------------------------------------------------------
"$FERRY" demo --consumers 2 --batches 1000000 --shape 100x100 --quiet &
demo_pid=$!
bg+=("$demo_pid")
demo="demo-$demo_pid"
# Running: the producer and both consumers are attached to both regions.
for _ in $(seq 200); do
  "$FERRY" ls --json "$demo" "$demo-ctl" >"$tmp/out"
  python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(not (len(d) == 2 and all(r["live"] == 3 for r in d)))' <"$tmp/out" && break
  sleep 0.05
done
[ "$(status_of "$demo")" = active ] || fail "demo region not active: $("$FERRY" ls "demo-*")"
kill -KILL "$demo_pid"
wait "$demo_pid" 2>/dev/null
# Its consumers die with it (PR_SET_PDEATHSIG): both regions are orphaned.
wait_status "$demo" orphaned
wait_status "$demo-ctl" orphaned
"$FERRY" gc "$demo" "$demo-ctl" >"$tmp/out" || fail "gc of the demo failed"
grep -qx "removed $demo (orphaned)" "$tmp/out" || fail "gc of the demo: $(cat "$tmp/out")"
grep -qx "removed $demo-ctl (orphaned)" "$tmp/out" || fail "gc of the demo: $(cat "$tmp/out")"
[ -e "/dev/shm/ferry.$demo" ] || [ -e "/dev/shm/ferry.$demo-ctl" ] &&
  fail "gc left the demo's regions behind"

ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "left behind: $(ls /dev/shm/ferry."$P"*)"
finish
