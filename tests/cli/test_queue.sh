#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_queue.sh: `ferry queue create|put|get|shutdown` used the way a shell
# script would, and `ferry info` on a queue: put from arguments and from
# stdin (lines and --raw), get -n, end of stream after shutdown, the exit
# statuses of end of stream (3) and timeout (4), bad input (bad names, a
# message too long: one error line, exit 1, nothing put; the wrong kind of
# region), and --json info that parses. Golden: the queue help and the info
# text of a queue.
#
# usage: bash test_queue.sh <ferry binary> <tests/cli dir>
# With FERRY_UPDATE_GOLDEN=1 the golden files are rewritten instead.
. "$(dirname "$0")/lib.sh" "$@"
Q=${P}q

# depth NAME: the queue's depth, from info --json.
depth() {
  "$FERRY" info --json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["queue"]["depth"])'
}

# --- help ---------------------------------------------------------------------------
expect 0 "help queue" "$FERRY" help queue
golden help_queue.txt
for args in "queue --help" "queue -h" "queue put --help" "help queue get"; do
  # shellcheck disable=SC2086
  "$FERRY" $args >"$tmp/out2" 2>/dev/null || fail "ferry $args failed"
  cmp -s "$tmp/out2" "$GOLDEN/help_queue.txt" || fail "ferry $args differs from ferry help queue"
done

# --- create, put from arguments and stdin, get -n --------------------------------------
expect 0 "create" "$FERRY" queue create "$Q" --capacity 8 --max-msg 16 --mode 640
[ -s "$tmp/out" ] && fail "create printed: $(cat "$tmp/out")"
[ "$(stat -c %a "/dev/shm/ferry.$Q")" = 640 ] || fail "--mode 640 not applied"
expect 1 "create twice" "$FERRY" queue create "$Q"
one_error_line "create twice"

expect 0 "put args" "$FERRY" queue put "$Q" one "two words" -- -three
printf 'four\n\nsix' | "$FERRY" queue put "$Q" >"$tmp/out" 2>"$tmp/err" ||
  fail "put stdin: $(cat "$tmp/err")"
printf 'raw\nbytes\n' | "$FERRY" queue put "$Q" --raw 2>"$tmp/err" || fail "put --raw: $(cat "$tmp/err")"
[ "$(depth "$Q")" = 7 ] || fail "depth after 7 puts: $(depth "$Q")"

"$FERRY" info "$Q" >"$tmp/out" 2>"$tmp/err" || fail "info: $(cat "$tmp/err")"
golden info_queue.txt

expect 0 "get -n 3" "$FERRY" queue get "$Q" -n 3
printf 'one\ntwo words\n-three\n' | cmp -s - "$tmp/out" || fail "get -n 3 printed: $(cat "$tmp/out")"
expect 0 "get -n 3 (stdin lines)" "$FERRY" queue get "$Q" -n 3
printf 'four\n\nsix\n' | cmp -s - "$tmp/out" || fail "stdin lines came back as: $(cat "$tmp/out")"
expect 0 "get --raw" "$FERRY" queue get "$Q" --raw
printf 'raw\nbytes\n' | cmp -s - "$tmp/out" || fail "--raw came back as: $(cat "$tmp/out")"

# --- timeout: empty queue, exit 4, nothing printed but the error line ---------------------
expect 4 "get --timeout 0.2 on an empty queue" "$FERRY" queue get "$Q" --timeout 0.2
[ -s "$tmp/out" ] && fail "timed-out get printed: $(cat "$tmp/out")"
grep -qx "ferry: queue get: $Q: nothing arrived: timed out" "$tmp/err" ||
  fail "timed-out get said: $(cat "$tmp/err")"
expect 4 "get --timeout 0" "$FERRY" queue get "$Q" --timeout 0
# A full queue: put times out with 4 and says so on one line.
expect 0 "fill" "$FERRY" queue put "$Q" 1 2 3 4 5 6 7 8
expect 4 "put on a full queue" "$FERRY" queue put "$Q" --timeout 0.1 nine
one_error_line "put on a full queue"
expect 0 "drain" "$FERRY" queue get "$Q" -n 8
[ "$(wc -l <"$tmp/out")" -eq 8 ] || fail "drain got $(wc -l <"$tmp/out") lines"

# --- a waiting get is woken by a later put (no producer attached in between) -------------------
"$FERRY" queue get "$Q" --timeout 10 >"$tmp/late" 2>&1 &
getter=$!
bg+=("$getter")
sleep 0.3
"$FERRY" queue put "$Q" late || fail "put late"
wait "$getter"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/late")" = late ] || fail "waiting get: exit $rc, got: $(cat "$tmp/late")"

# --- bad input: one error line, exit 1 (or 2), nothing put ---------------------------------------
expect 1 "oversized argument" "$FERRY" queue put "$Q" ok 12345678901234567
one_error_line "oversized argument"
grep -q 'too long' "$tmp/err" || fail "oversized: $(cat "$tmp/err")"
[ "$(depth "$Q")" = 0 ] || fail "an oversized put left $(depth "$Q") messages"
printf '12345678901234567' | "$FERRY" queue put "$Q" --raw >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "oversized --raw: want exit 1"
one_error_line "oversized --raw"
printf '12345678901234567\n' | "$FERRY" queue put "$Q" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "oversized line: want exit 1"
one_error_line "oversized line"
[ "$(depth "$Q")" = 0 ] || fail "oversized input left $(depth "$Q") messages"

expect 2 "bad name (put)" "$FERRY" queue put 'bad/name' x
one_error_line "bad name (put)"
expect 2 "bad name (create)" "$FERRY" queue create 'a b'
expect 2 "bad name (get)" "$FERRY" queue get ''
expect 5 "missing queue" "$FERRY" queue get "${P}missing" --timeout 0
one_error_line "missing queue"
expect 2 "bad --capacity" "$FERRY" queue create "${P}c" --capacity 1
expect 2 "bad --max-msg" "$FERRY" queue create "${P}c" --max-msg 0
expect 2 "bad -n" "$FERRY" queue get "$Q" -n -1
expect 2 "bad --timeout" "$FERRY" queue get "$Q" --timeout soon
expect 2 "--raw with MSG" "$FERRY" queue put "$Q" --raw x
expect 2 "unknown subcommand" "$FERRY" queue pop "$Q"
one_error_line "unknown subcommand"
[ -e "/dev/shm/ferry.${P}c" ] && fail "a refused create left a region"

"$FERRY" array create "${P}arr" --array x:u8:4 >/dev/null 2>&1 || fail "array create"
expect 1 "put to an array region" "$FERRY" queue put "${P}arr" x
one_error_line "put to an array region"
grep -q 'not a queue' "$tmp/err" || fail "wrong kind: $(cat "$tmp/err")"

# --- get --json: every byte, valid UTF-8 or not ---------------------------------------------------
printf 'h\303\251' | "$FERRY" queue put "$Q" --raw || fail "put UTF-8"
printf 'x\377' | "$FERRY" queue put "$Q" --raw || fail "put non-UTF-8"
expect 0 "get --json" "$FERRY" queue get "$Q" -n 2 --json
/usr/bin/python3 -c 'import base64, json, sys
d = json.load(sys.stdin)
assert d[0] == {"data": "h\u00e9"}, d
assert base64.b64decode(d[1]["data_base64"]) == b"x\xff", d
' <"$tmp/out" || fail "get --json: $(cat "$tmp/out")"
expect 2 "--raw and --json" "$FERRY" queue get "$Q" --raw --json
expect 4 "get --json on an empty queue" "$FERRY" queue get "$Q" --json --timeout 0
[ "$(tr -d ' \n' <"$tmp/out")" = "[]" ] || fail "empty get --json: $(cat "$tmp/out")"

# --- end of stream: shutdown, drain, then exit 3 (or 0 with -n 0) ---------------------------------
expect 0 "put before shutdown" "$FERRY" queue put "$Q" x y
"$FERRY" queue get "$Q" -n 0 >"$tmp/all" 2>&1 &
getter=$!
bg+=("$getter")
sleep 0.2
expect 0 "shutdown" "$FERRY" queue shutdown "$Q"
wait "$getter"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/all")" = "$(printf 'x\ny')" ] ||
  fail "get -n 0 until shutdown: exit $rc, got: $(cat "$tmp/all")"
expect 3 "get after shutdown" "$FERRY" queue get "$Q" --timeout 5
[ -s "$tmp/out" ] && fail "ended get printed: $(cat "$tmp/out")"
expect 3 "put after shutdown" "$FERRY" queue put "$Q" z
one_error_line "put after shutdown"
# A shell loop ends on its own.
n=0
while "$FERRY" queue get "$Q" >/dev/null 2>&1; do n=$((n + 1)); done
[ "$n" -eq 0 ] || fail "loop over an ended queue ran $n times"

# --- info --json: parses, says the same, and info never registers ------------------------------------
"$FERRY" info --json "$Q" >"$tmp/out" 2>"$tmp/err" || fail "info --json: $(cat "$tmp/err")"
python3 -c 'import json, sys; json.load(sys.stdin)' <"$tmp/out" || fail "info --json does not parse"
python3 -c "import json, sys
d = json.load(sys.stdin)
q = d['queue']
assert d['kind'] == 'queue', d['kind']
assert d['stats_error'] is None
assert q['capacity'] == 8 and q['max_msg_size'] == 16, q
assert q['depth'] == 0 and q['shutdown'] is True, q
assert q['puts'] == q['gets'] == 20, q
assert q['producers'] == 0 and q['consumers'] == 0, q
assert q['expected_producers'] == 1 and q['producers_joined'] >= 3, q
for k in ('bytes_put', 'bytes_got', 'put_waits', 'get_waits', 'lost', 'holes', 'recovered'):
    assert isinstance(q[k], int), k
assert d['live'] == 0 and d['participants'] == [], d['participants']
" <"$tmp/out" || fail "info --json content: $(cat "$tmp/out")"
"$FERRY" ls "$Q" | grep -q ' idle$' || fail "queue not idle after info: $("$FERRY" ls "$Q")"

expect 0 "rm" "$FERRY" rm "$Q" "${P}arr"

finish
