#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_pool.sh: `ferry pool` used the way GNU parallel is: results in input
# order (--keep-order) or all of them in any order; retries after a worker
# died (persistent workers) or a command failed (--per-task); the joblog
# (header, one line per task, fields); the exit status (number of failed
# tasks, 101 above 100, 255 for a bad command line); --timeout; Ctrl-C on
# a real terminal (a pty through script(1)): the first drains, the second
# cancels; `ferry info`, `ferry ls` and `ferry top` on a running pool; and
# `ferry demo dispatch` run and verified, also stopped by Ctrl-C. After
# each run no worker is left.
#
# usage: bash test_pool.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"

# No process of ours may be left: workers carry $tmp in their command line.
no_leftovers() {
  local left
  for _ in $(seq 1 50); do
    left=$(pgrep -f "$tmp/mark" | grep -v "^$$\$" || true)
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  fail "$1: processes left: $left"
  # shellcheck disable=SC2086  # one pid a word
  kill -KILL $left 2>/dev/null
}

# A line worker that sleeps a little on every seventh task, so that
# completion order differs from input order.
WORKER="while read x; do case \$((x % 7)) in 0) sleep 0.05;; esac; echo r\$x; done # $tmp/mark"

# ---- ordering ----------------------------------------------------------------
seq 1 200 >"$tmp/in"
sed 's/^/r/' "$tmp/in" >"$tmp/want"
"$FERRY" pool -j 4 --keep-order -- sh -c "$WORKER" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "--keep-order: exit $rc: $(cat "$tmp/err")"
cmp -s "$tmp/out" "$tmp/want" || fail "--keep-order: results not in input order"
"$FERRY" pool -j 4 -- sh -c "$WORKER" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "unordered: exit $rc"
sort -V "$tmp/out" | cmp -s - "$tmp/want" || fail "unordered: not every result exactly once"
no_leftovers ordering

# ---- retries: persistent workers that die ----------------------------------------
# The worker SIGKILLs itself on task 3, once (a marker file remembers).
DIE="while read x; do if [ \"\$x\" = 3 ] && [ ! -e $tmp/died ]; then touch $tmp/died; kill -9 \$\$; fi; echo ok\$x; done # $tmp/mark"
seq 1 5 | "$FERRY" pool -j 2 -k --retries 1 -- sh -c "$DIE" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "--retries 1: exit $rc: $(cat "$tmp/err")"
printf 'ok%s\n' 1 2 3 4 5 | cmp -s - "$tmp/out" || fail "--retries 1: results: $(cat "$tmp/out")"
rm -f "$tmp/died"
seq 1 5 | "$FERRY" pool -j 2 -k --retries 0 -- sh -c "$DIE" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "--retries 0: exit $rc, want 1 (one failed task)"
grep -q 'task 3 (3): died: worker [0-9]* killed by signal 9 (SIGKILL), possibly out of memory' \
  "$tmp/err" || fail "--retries 0: no clear error line: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "--retries 0: want the 4 other results"
no_leftovers retries

# ---- per-task commands, retries after a failed exit, joblog ------------------------
FLAKY="if [ -e $tmp/f-\$0 ]; then echo done\$0; else touch $tmp/f-\$0; exit 5; fi # $tmp/mark"
seq 1 6 | "$FERRY" pool -j 3 --per-task --retries 1 --joblog "$tmp/log" -- sh -c "$FLAKY" \
  >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "--per-task --retries 1: exit $rc: $(cat "$tmp/err")"
[ "$(sort "$tmp/out" | tr '\n' ' ')" = "done1 done2 done3 done4 done5 done6 " ] ||
  fail "--per-task: results: $(cat "$tmp/out")"
printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n' >"$tmp/head"
head -1 "$tmp/log" | cmp -s - "$tmp/head" || fail "joblog: header: $(head -1 "$tmp/log")"
[ "$(wc -l <"$tmp/log")" -eq 7 ] || fail "joblog: want 6 task lines"
awk -F'\t' 'NR > 1 {
  if (NF != 9) { print "fields: " NF; bad = 1 }
  if ($2 != ":") { print "host: " $2; bad = 1 }
  if ($3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/) { print "start: " $3; bad = 1 }
  if ($4 !~ /^ *[0-9]+\.[0-9][0-9][0-9]$/) { print "runtime: " $4; bad = 1 }
  if ($7 != 0 || $8 != 0) { print "exit/signal: " $7 " " $8; bad = 1 }
  if ($9 !~ /^sh -c .* [1-6]$/) { print "command: " $9; bad = 1 }
  seqs[$1] = 1
} END { for (i = 1; i <= 6; i++) if (!(i in seqs)) { print "missing seq " i; bad = 1 }; exit bad }' \
  "$tmp/log" >"$tmp/bad" || fail "joblog lines: $(cat "$tmp/bad")"
# Failed tasks: the exit status counts them, the joblog has their status.
rm -f "$tmp"/f-*
seq 1 4 | "$FERRY" pool -j 2 --per-task --joblog "$tmp/log" -- sh -c "$FLAKY" >/dev/null 2>&1
rc=$?
[ $rc -eq 4 ] || fail "4 failed tasks: exit $rc, want 4"
[ "$(awk -F'\t' 'NR > 1 && $7 == 5' "$tmp/log" | wc -l)" -eq 4 ] ||
  fail "joblog: want Exitval 5 four times: $(cat "$tmp/log")"
seq 1 150 | "$FERRY" pool -j 4 --per-task -- sh -c "exit 1 # $tmp/mark" >/dev/null 2>&1
rc=$?
[ $rc -eq 101 ] || fail "150 failed tasks: exit $rc, want 101"
no_leftovers per-task
# A pool that cannot start (its name is taken) leaves an old joblog alone.
"$FERRY" queue create "${P}taken" >/dev/null || fail "queue create ${P}taken"
echo "an old joblog" >"$tmp/old-log"
echo x | "$FERRY" pool --name "${P}taken" --joblog "$tmp/old-log" -- cat >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 255 ] || fail "pool on a taken name: exit $rc, want 255"
grep -q "File exists" "$tmp/err" || fail "pool on a taken name: $(cat "$tmp/err")"
[ "$(cat "$tmp/old-log")" = "an old joblog" ] ||
  fail "a pool that did not start rewrote the joblog: $(cat "$tmp/old-log")"
"$FERRY" rm "${P}taken" >/dev/null 2>&1 || fail "could not remove ${P}taken"

# ---- timeout ----------------------------------------------------------------------
start=$(date +%s%N)
printf '1\n2\n' | "$FERRY" pool -j 2 -k --timeout 0.3 -- \
  sh -c "while read x; do [ \$x = 1 ] && sleep 30; echo \$x; done # $tmp/mark" \
  >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ] || fail "--timeout: exit $rc, want 1"
grep -q 'task 1 (1): timed out: timed out after 0.300 s' "$tmp/err" ||
  fail "--timeout: error line: $(cat "$tmp/err")"
[ "$(cat "$tmp/out")" = 2 ] || fail "--timeout: the other task's result: $(cat "$tmp/out")"
[ $took -lt 5000 ] || fail "--timeout: took $took ms"
no_leftovers timeout

# ---- bad command lines: 255, nothing run ---------------------------------------------
for args in "" "-j 0 -- cat" "-j x -- cat" "--retries -1 -- cat" "--timeout 0 -- cat" \
  "--frobnicate -- cat" "--name bad/name -- cat"; do
  # shellcheck disable=SC2086  # word splitting intended
  "$FERRY" pool $args </dev/null >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 255 ] || fail "ferry pool $args: exit $rc, want 255"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "ferry pool $args: want one error line"
done
echo x | "$FERRY" pool -j 1 -- /nonexistent/command >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || fail "missing command: exit $rc, want 1"
grep -q "cannot run '/nonexistent/command': No such file or directory" "$tmp/err" ||
  fail "missing command: $(cat "$tmp/err")"

# ---- ferry info, ls and top on a running pool -----------------------------------------
(seq 1 4 | "$FERRY" pool -j 2 --name "${P}pool" -- \
  sh -c "while read x; do sleep 1; echo \$x; done # $tmp/mark" >/dev/null 2>&1) &
bgp=$!
ok=0
for _ in $(seq 1 40); do
  if "$FERRY" info "${P}pool" >"$tmp/info" 2>/dev/null && grep -Eq '^  running +2$' "$tmp/info"; then
    ok=1
    break
  fi
  sleep 0.05
done
[ $ok -eq 1 ] || fail "ferry info on a pool: $(cat "$tmp/info")"
grep -q '^kind:       pool' "$tmp/info" || fail "ferry info: kind"
grep -Eq '^  worker_kind +exec$' "$tmp/info" || fail "ferry info: worker kind: $(cat "$tmp/info")"
[ "$(grep -c ' busy ' "$tmp/info")" -eq 2 ] || fail "ferry info: want two busy workers"
"$FERRY" info --json "${P}pool" >"$tmp/out" || fail "ferry info --json on a pool"
json_check '
p = d["pool"]
assert d["kind"] == "pool" and d["stats_error"] is None, d
assert p["slots"] == 2 and p["submitted"] >= 2 and p["running"] == 2, p
assert p["worker_kind"] == "exec" and p["state"] in ("running", "draining"), p
rows = p["worker_list"]
assert len(rows) == 2 and all(r["state"] == "busy" and r["pid"] > 0 for r in rows), rows'
[ "$("$FERRY" ls "${P}pool" | awk -v n="${P}pool" '$1 == n { print $2 }')" = pool ] ||
  fail "ferry ls: kind of a pool: $("$FERRY" ls "${P}pool")"
"$FERRY" top -n 1 --kind pool "${P}pool" >"$tmp/out" 2>"$tmp/err" || fail "ferry top --kind pool: $(cat "$tmp/err")"
grep -Eq "^ ${P}pool +pool +active .* done [0-9.k]+/s|^ ${P}pool +pool +active .* done -/s" "$tmp/out" ||
  fail "ferry top on a pool: $(cat "$tmp/out")"
"$FERRY" top -n 2 -d 0.2 --json "${P}pool" >"$tmp/out" 2>"$tmp/err" || fail "ferry top --json: $(cat "$tmp/err")"
/usr/bin/python3 -c '
import json, sys
snaps = [json.loads(l) for l in open(sys.argv[1])]
assert len(snaps) == 2, snaps
r = snaps[1]["regions"][0]
assert r["kind"] == "pool" and r["stats"]["slots"] == 2 and r["waiters"] is not None, r
assert "done_per_s" in r["rates"] and r["depth"] is not None, r' "$tmp/out" ||
  fail "ferry top --json on a pool: $(cat "$tmp/out")"
wait $bgp
[ ! -e "/dev/shm/ferry.${P}pool" ] || fail "the pool's region outlived it"
no_leftovers info

# ---- Ctrl-C on a terminal ---------------------------------------------------------------
# script(1) runs the pipeline on a pty; \003 written to it is a real Ctrl-C:
# the terminal sends SIGINT to the foreground group (seq and ferry).
SLOW="while read x; do sleep 0.3; echo r\$x; done # $tmp/mark"
cat >"$tmp/run.sh" <<EOF
seq 1 1000 | "$FERRY" pool -j 2 -k -- sh -c '$SLOW' >"$tmp/out" 2>"$tmp/err"
echo \$? >"$tmp/status"
EOF
start=$(date +%s%N)
{ sleep 1; printf '\003'; sleep 3; } | script -qfc "bash $tmp/run.sh" /dev/null >/dev/null 2>&1
took=$((($(date +%s%N) - start) / 1000000))
[ "$(cat "$tmp/status" 2>/dev/null)" = 130 ] || fail "Ctrl-C: exit $(cat "$tmp/status" 2>/dev/null), want 130"
n=$(wc -l <"$tmp/out")
[ "$n" -ge 2 ] && [ "$n" -lt 1000 ] || fail "Ctrl-C: drained $n results"
seq 1 "$n" | sed 's/^/r/' | cmp -s - "$tmp/out" || fail "Ctrl-C: drained results out of order"
grep -q 'failed\|cancelled' "$tmp/err" && fail "Ctrl-C once: a task failed: $(cat "$tmp/err")"
no_leftovers ctrl-c-once
# Twice: the second cancels the running tasks at once.
cat >"$tmp/run.sh" <<EOF
seq 1 1000 | "$FERRY" pool -j 2 -- sh -c 'while read x; do sleep 30; echo \$x; done # $tmp/mark' >"$tmp/out" 2>"$tmp/err"
echo \$? >"$tmp/status"
EOF
start=$(date +%s%N)
{ sleep 1; printf '\003'; sleep 0.3; printf '\003'; sleep 3; } |
  script -qfc "bash $tmp/run.sh" /dev/null >/dev/null 2>&1
[ "$(cat "$tmp/status" 2>/dev/null)" = 130 ] || fail "Ctrl-C twice: exit $(cat "$tmp/status" 2>/dev/null)"
[ "$(grep -c 'cancelled: cancelled while running' "$tmp/err")" -eq 2 ] ||
  fail "Ctrl-C twice: want the 2 running tasks cancelled: $(cat "$tmp/err")"
grep -q 'cancelled: cancelled before it ran' "$tmp/err" ||
  fail "Ctrl-C twice: want the buffered tasks cancelled: $(cat "$tmp/err")"
no_leftovers ctrl-c-twice

# The progress line, on a terminal only: stderr is the pty here.
cat >"$tmp/run.sh" <<EOF
seq 1 12 | "$FERRY" pool -j 2 -- sh -c 'while read x; do sleep 0.1; echo \$x; done # $tmp/mark' >"$tmp/out"
EOF
script -qfc "bash $tmp/run.sh" "$tmp/typescript" </dev/null >/dev/null 2>&1
grep -aq '\] [0-9]*/12 done, 0 failed' "$tmp/typescript" ||
  fail "no progress line on a terminal: $(tr '\r' '\n' <"$tmp/typescript" | tail -3)"
[ "$(wc -l <"$tmp/out")" -eq 12 ] || fail "progress run: want 12 results"
seq 1 3 | "$FERRY" pool -j 1 -- cat 2>"$tmp/err" >/dev/null
[ -s "$tmp/err" ] && fail "a progress line on a stderr that is not a terminal"

# ---- ferry demo dispatch ---------------------------------------------------------------------
"$FERRY" demo dispatch --items 30 --produce-ms 5 --work-ms 10 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] || fail "demo dispatch: exit $rc: $(cat "$tmp/err")"
awk '$1 ~ /^[0-9]+$/ { if ($1 != n + 0) { print "row " $1 " at " n + 0; bad = 1 }; n++ }
     END { if (n != 30) { print "rows " n; bad = 1 }; exit bad }' "$tmp/out" >"$tmp/bad" ||
  fail "demo dispatch: rows not 0..29 in order: $(cat "$tmp/bad")"
grep -q '^done: 30 items handed over, 30 analysed and verified in hand-over order' "$tmp/out" ||
  fail "demo dispatch: summary: $(tail -2 "$tmp/out")"
max=$(awk '$1 ~ /^[0-9]+$/ && $4 > m { m = $4 } END { print m + 0 }' "$tmp/out")
[ "$max" -ge 2 ] || fail "demo dispatch: the buffer never filled (max $max)"
"$FERRY" demo dispatch --items 40 --workers 3 --produce-ms 2 --work-ms 10 >"$tmp/out" 2>&1 ||
  fail "demo dispatch --workers 3: $(tail -3 "$tmp/out")"
[ "$(awk '$1 ~ /^[0-9]+$/ { print $5 }' "$tmp/out" | sort -u | wc -l)" -ge 2 ] ||
  fail "demo dispatch --workers 3: one worker did everything"
cat >"$tmp/run.sh" <<EOF
"$FERRY" demo dispatch --items 1000 --produce-ms 10 --work-ms 30 >"$tmp/out" 2>"$tmp/err"
echo \$? >"$tmp/status"
EOF
{ sleep 1; printf '\003'; sleep 4; } | script -qfc "bash $tmp/run.sh" /dev/null >/dev/null 2>&1
[ "$(cat "$tmp/status" 2>/dev/null)" = 0 ] ||
  fail "demo dispatch Ctrl-C: exit $(cat "$tmp/status" 2>/dev/null): $(cat "$tmp/err")"
grep -q '^stopped by a signal: [0-9]* items handed over' "$tmp/out" ||
  fail "demo dispatch Ctrl-C: summary: $(tail -2 "$tmp/out")"
ls /dev/shm | grep -q "ferry.demo-dispatch-" && fail "demo dispatch left regions"
"$FERRY" demo dispatch --items 5 --produce-ms 1 --work-ms 1 --json >"$tmp/out" 2>"$tmp/err" ||
  fail "demo dispatch --json: $(cat "$tmp/err")"
json_check '
assert d["verified"] is True and d["handed"] == 5 and d["verified_results"] == 5, d
assert [r["item"] for r in d["results"]] == list(range(5)), d["results"]
assert all(r["outcome"] == "verified" and r["worker"] > 0 for r in d["results"]), d["results"]'
for args in "--items 0" "--workers 65" "--work-ms x" "--produce-ms 10001" "extra"; do
  # shellcheck disable=SC2086  # word splitting intended
  expect_error 2 demo dispatch $args
done

finish
