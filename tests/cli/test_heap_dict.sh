#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_heap_dict.sh: `ferry heap create|push|pop|peek` and `ferry dict
# create|set|get|del|ls` from the shell: pop order (min, max, FIFO among
# equal keys), payloads from arguments and stdin, dict round trips and ls
# (text and --json), bad input (bad names, absent key, oversized value or
# payload: one error line, exit 1 or 2; a missing heap, dict or key: 5),
# JSON that keeps every byte, the memory a growing heap and dict commit
# (info: allocated, committed and used bytes), `ferry demo heap` verifying itself, and a
# short `ferry bench heap --json` whose lines parse.
#
# usage: bash test_heap_dict.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"
H=${P}h
D=${P}d

# --- heap ------------------------------------------------------------------------
expect 0 "heap help" "$FERRY" heap --help
grep -q '^usage: ferry heap' "$tmp/out" || fail "heap help: $(head -1 "$tmp/out")"
expect 0 "heap create" "$FERRY" heap create "$H" --capacity 4 --max-payload 8 --mode 640
[ "$(stat -c %a "/dev/shm/ferry.$H")" = 640 ] || fail "heap create --mode 640 not applied"
expect 1 "heap create twice" "$FERRY" heap create "$H"
one_error_line "heap create twice"
expect 0 "push 30" "$FERRY" heap push "$H" 30 thirty
expect 0 "push 10" "$FERRY" heap push "$H" 10 ten
expect 0 "push 20a" "$FERRY" heap push "$H" 20 twenty-a
printf 'twenty-b' | "$FERRY" heap push "$H" 20 --stdin 2>"$tmp/err" || fail "push --stdin: $(cat "$tmp/err")"
expect 0 "push no payload" "$FERRY" heap push "$H" 40
expect 0 "peek" "$FERRY" heap peek "$H"
[ "$(cat "$tmp/out")" = "$(printf '10\tten')" ] || fail "peek: $(cat "$tmp/out")"
expect 0 "pop -n 3" "$FERRY" heap pop "$H" -n 3
[ "$(cat "$tmp/out")" = "$(printf '10\tten\n20\ttwenty-a\n20\ttwenty-b')" ] || fail "pop order: $(cat "$tmp/out")"
expect 0 "pop -n 0" "$FERRY" heap pop "$H" -n 0 --timeout 0
[ "$(cat "$tmp/out")" = "$(printf '30\tthirty\n40\t')" ] || fail "pop -n 0: $(cat "$tmp/out")"
expect 4 "pop empty" "$FERRY" heap pop "$H" --timeout 0
[ -s "$tmp/out" ] && fail "empty pop printed: $(cat "$tmp/out")"
grep -qx "ferry: heap pop: $H: empty: No data available" "$tmp/err" || fail "empty pop said: $(cat "$tmp/err")"
expect 4 "pop empty --timeout" "$FERRY" heap pop "$H" --timeout 0.1
grep -qx "ferry: heap pop: $H: empty: timed out" "$tmp/err" || fail "pop timeout said: $(cat "$tmp/err")"
expect 4 "peek empty" "$FERRY" heap peek "$H"
one_error_line "peek empty"
expect 1 "oversized payload" "$FERRY" heap push "$H" 1 123456789
one_error_line "oversized payload"
printf '123456789' | "$FERRY" heap push "$H" 1 --stdin >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "oversized --stdin: want exit 1"
one_error_line "oversized --stdin"
expect 4 "nothing pushed by oversized" "$FERRY" heap peek "$H"
expect 2 "bad key" "$FERRY" heap push "$H" ten x
one_error_line "bad key"
expect 2 "bad name" "$FERRY" heap push 'bad/name' 1
one_error_line "bad name"
expect 5 "missing heap" "$FERRY" heap pop "${P}missing"
one_error_line "missing heap"
expect 2 "unknown sub" "$FERRY" heap shove "$H"
one_error_line "unknown sub"
# The key type and order are the heap's own: push and pop read them.
expect 0 "max heap" "$FERRY" heap create "${P}hmax" --max --double
"$FERRY" heap push "${P}hmax" 1.5 a && "$FERRY" heap push "${P}hmax" 2.5 b ||
  fail "double push"
expect 2 "an int64 key where doubles are wanted is fine, a word is not" "$FERRY" heap push "${P}hmax" x
expect 0 "max pop" "$FERRY" heap pop "${P}hmax" --timeout 0
[ "$(cat "$tmp/out")" = "$(printf '2.5\tb')" ] || fail "max/double pop: $(cat "$tmp/out")"
expect 0 "peek --json" "$FERRY" heap peek "${P}hmax" --json
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d == [{"key": 1.5, "payload": "a"}], d
' <"$tmp/out" || fail "peek --json: $(cat "$tmp/out")"
expect 2 "peek takes no --timeout" "$FERRY" heap peek "${P}hmax" --timeout 1
expect 2 "an int64 heap refuses 1.5" "$FERRY" heap push "$H" 1.5
one_error_line "an int64 heap refuses 1.5"
printf 'x\000\377y' | "$FERRY" heap push "$H" 3 --stdin 2>"$tmp/err" || fail "push binary: $(cat "$tmp/err")"
expect 0 "pop --json of bytes that are not UTF-8" "$FERRY" heap pop "$H" --json --timeout 0
/usr/bin/python3 -c 'import base64, json, sys
d = json.load(sys.stdin)
assert len(d) == 1 and d[0]["key"] == 3, d
assert base64.b64decode(d[0]["payload_base64"]) == b"x\x00\xffy", d
' <"$tmp/out" || fail "pop --json binary: $(cat "$tmp/out")"
expect 0 "heap info" "$FERRY" info --json "${P}hmax"
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
h = d["heap"]
assert h["key_type"] == "double" and h["order"] == "max", h
assert h["size"] == 1 and h["pushes"] == 2 and h["pops"] == 1, h
' <"$tmp/out" || fail "heap info --json: $(cat "$tmp/out")"

# --- dict ------------------------------------------------------------------------
expect 0 "dict create" "$FERRY" dict create "$D" --max-key 8 --max-value 8 --mode 640
[ "$(stat -c %a "/dev/shm/ferry.$D")" = 640 ] || fail "dict create --mode 640 not applied"
expect 0 "set a" "$FERRY" dict set "$D" a one
expect 0 "set b" "$FERRY" dict set "$D" b two
expect 0 "set a again" "$FERRY" dict set "$D" a uno
expect 1 "set --nx existing" "$FERRY" dict set "$D" a x --nx
one_error_line "set --nx existing"
expect 0 "get a" "$FERRY" dict get "$D" a
[ "$(cat "$tmp/out")" = uno ] || fail "get a: $(cat "$tmp/out")"
expect 5 "get absent" "$FERRY" dict get "$D" zz
one_error_line "get absent"
[ -s "$tmp/out" ] && fail "absent get printed: $(cat "$tmp/out")"
expect 1 "oversized value" "$FERRY" dict set "$D" c 123456789
one_error_line "oversized value"
expect 1 "oversized key" "$FERRY" dict set "$D" 123456789 v
one_error_line "oversized key"
grep -qx "ferry: dict set: $D: key is 9 bytes, the maximum is 8: too long" "$tmp/err" ||
  fail "oversized key said: $(cat "$tmp/err")"
expect 0 "ls" "$FERRY" dict ls "$D"
[ "$(sort "$tmp/out")" = "$(printf 'a\tuno\nb\ttwo')" ] || fail "ls: $(cat "$tmp/out")"
expect 0 "ls --json" "$FERRY" dict ls "$D" --json
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
assert sorted((e["key"], e["value"]) for e in d) == [("a", "uno"), ("b", "two")], d
' <"$tmp/out" || fail "ls --json: $(cat "$tmp/out")"
expect 0 "get --json" "$FERRY" dict get "$D" b --json
/usr/bin/python3 -c 'import json, sys
assert json.load(sys.stdin) == {"key": "b", "value": "two"}
' <"$tmp/out" || fail "get --json: $(cat "$tmp/out")"
# A value with a NUL byte survives --json (ls used to turn it into '?').
expect 0 "set with a control byte" "$FERRY" dict set "$D" c "$(printf 'x\001y')"
expect 0 "ls --json keeps bytes" "$FERRY" dict ls "$D" --json
/usr/bin/python3 -c 'import json, sys
d = {e["key"]: e["value"] for e in json.load(sys.stdin)}
assert d["c"] == "x\x01y", d
' <"$tmp/out" || fail "ls --json bytes: $(cat "$tmp/out")"
expect 0 "dict info" "$FERRY" info --json "$D"
/usr/bin/python3 -c 'import json, sys
s = json.load(sys.stdin)["dict"]
assert s["size"] == 3 and s["max_key"] == 8 and s["max_value"] == 8, s
assert s["writes"] >= 4, s
' <"$tmp/out" || fail "dict info --json: $(cat "$tmp/out")"
# Memory: a heap and a dict commit in steps as they grow [commit]. Right
# after create the file holds little of its size; info says how much is
# committed and used, text and JSON alike, and both grow with the records.
HG=${P}hgrow
DG=${P}dgrow
expect 0 "growing heap" "$FERRY" heap create "$HG" --capacity 1000 --max-capacity 100000 --max-payload 1000
expect 0 "growing dict" "$FERRY" dict create "$DG" --capacity 1000 --max-capacity 100000 --max-value 1000
mem_json() { # NAME KIND OUTFILE: info --json, reduced to the memory figures
  "$FERRY" info --json "$1" >"$tmp/info.json" || fail "info --json $1"
  /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
s = d[sys.argv[1]]
print(d["size"], d["allocated"], s["committed_bytes"], s["used_bytes"], s["size"])
' "$2" <"$tmp/info.json" >"$3" || fail "info --json $1: $(cat "$tmp/info.json")"
}
check_mem() { # BEFORE AFTER RECORDS: the file, committed and used grow sensibly
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail "memory figures: $(cat "$1") / $(cat "$2")"
import sys
b = [int(x) for x in open(sys.argv[1]).read().split()]
a = [int(x) for x in open(sys.argv[2]).read().split()]
n = int(sys.argv[3])
size, alloc, com, used, count = b
assert count == 0 and alloc < size // 100, b        # a hole, but for the header
assert com >= used and com < size // 100, b         # little committed yet
size2, alloc2, com2, used2, count2 = a
assert size2 == size and count2 == n, a
assert used2 > used and com2 > com and com2 >= used2, a   # grew with the records
assert com2 <= 2 * used2 + 128 * 1024, a                 # in steps, not all at once
assert alloc2 >= com2 and alloc2 < size // 4, a          # the file holds what is committed
PY
}
mem_json "$HG" heap "$tmp/h0"
mem_json "$DG" dict "$tmp/d0"
head -c 900 /dev/zero | tr '\0' x >"$tmp/payload"
for i in $(seq 1 100); do
  "$FERRY" heap push "$HG" "$i" --stdin <"$tmp/payload" || { fail "push $i"; break; }
  "$FERRY" dict set "$DG" "k$i" "$(cat "$tmp/payload")" || { fail "set $i"; break; }
done
mem_json "$HG" heap "$tmp/h1"
mem_json "$DG" dict "$tmp/d1"
check_mem "$tmp/h0" "$tmp/h1" 100
check_mem "$tmp/d0" "$tmp/d1" 100
expect 0 "info text shows memory" "$FERRY" info "$HG"
grep -q '^memory: .* allocated in /dev/shm' "$tmp/out" || fail "info text: no memory line"
grep -Eq '^  committed_bytes +[0-9]+$' "$tmp/out" || fail "info text: no committed_bytes"
grep -Eq '^  used_bytes +[0-9]+$' "$tmp/out" || fail "info text: no used_bytes"
expect 0 "del a" "$FERRY" dict del "$D" a
expect 5 "del absent" "$FERRY" dict del "$D" a
one_error_line "del absent"
expect 5 "get deleted" "$FERRY" dict get "$D" a
expect 5 "missing dict" "$FERRY" dict get "${P}missing" a
expect 2 "dict bad name" "$FERRY" dict get 'a b' k
one_error_line "dict bad name"
expect 2 "dict missing key arg" "$FERRY" dict get "$D"
expect 1 "dict on a heap" "$FERRY" dict get "$H" a
one_error_line "dict on a heap"
grep -q 'not a dict' "$tmp/err" || fail "wrong kind: $(cat "$tmp/err")"

# --- demo heap, bench heap ----------------------------------------------------------
expect 0 "demo heap" "$FERRY" demo heap --seconds 0.5 --records 50000
grep -q 'verify: ok' "$tmp/out" || fail "demo heap: $(cat "$tmp/out")"
expect 0 "demo heap --json" "$FERRY" demo heap --seconds 0.3 --records 20000 --json
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["verified"] is True and d["records"] == 20000 and d["pairs"] > 0, d
' <"$tmp/out" || fail "demo heap --json: $(cat "$tmp/out")"
expect 0 "bench heap" "$FERRY" bench heap --seconds 0.2 --records 10000 --impl ferry --json
[ -s "$tmp/out" ] || fail "bench heap printed nothing"
/usr/bin/python3 -c 'import json, sys
lines = [json.loads(l) for l in sys.stdin]
assert lines[0]["type"] == "machine" and lines[0]["bench"] == "heap", lines[0]
rows = lines[1:]
assert len(rows) == 1, rows
o = rows[0]
assert o["type"] == "result" and o["bench"] == "heap" and o["impl"] == "ferry", o
assert o["case"] == "heap_pop_push" and o["unit"] == "ops/s" and o["value"] > 0, o
assert o["workers"] == 2 and o["better"] == "higher" and o["status"] == "ok", o
' <"$tmp/out" || fail "bench heap --json: $(cat "$tmp/out")"

expect 0 "rm" "$FERRY" rm "$H" "$D" "${P}hmax"

finish
