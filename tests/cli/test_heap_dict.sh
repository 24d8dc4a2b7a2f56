#!/usr/bin/env bash
# test_heap_dict.sh: `ferry heap create|push|pop|peek` and `ferry dict
# create|set|get|del|ls` from the shell: pop order (min, max, FIFO among
# equal keys), payloads from arguments and stdin, dict round trips and ls
# (text and --json), bad input (bad names, absent key, oversized value or
# payload: one error line, exit 1 or 2), `ferry demo heap` verifying itself,
# and a short `ferry bench heap --json` whose lines parse.
#
# usage: bash test_heap_dict.sh <ferry binary> <tests/cli dir>
set -u
FERRY=$1
P=$(printf 'test-cli-%07d-' $$)
H=${P}h
D=${P}d
failures=0
tmp=$(mktemp -d)
cleanup() {
  rm -f /dev/shm/ferry."$P"*
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

expect() {
  local want=$1 desc=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "$desc: exit $rc, want $want (stderr: $(cat "$tmp/err"))"
}

one_error_line() {
  [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^ferry: ' "$tmp/err" ||
    fail "$1: want one error line, got: $(cat "$tmp/err")"
}

# --- heap ------------------------------------------------------------------------
expect 0 "heap help" "$FERRY" heap --help
grep -q '^usage: ferry heap' "$tmp/out" || fail "heap help: $(head -1 "$tmp/out")"
expect 0 "heap create" "$FERRY" heap create "$H" --capacity 4 --max-payload 8
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
expect 0 "pop -n 0" "$FERRY" heap pop "$H" -n 0
[ "$(cat "$tmp/out")" = "$(printf '30\tthirty\n40\t')" ] || fail "pop -n 0: $(cat "$tmp/out")"
expect 4 "pop empty" "$FERRY" heap pop "$H"
[ -s "$tmp/out" ] && fail "empty pop printed: $(cat "$tmp/out")"
expect 4 "pop empty --timeout" "$FERRY" heap pop "$H" --timeout 0.1
expect 4 "peek empty" "$FERRY" heap peek "$H"
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
expect 1 "missing heap" "$FERRY" heap pop "${P}missing"
one_error_line "missing heap"
expect 2 "unknown sub" "$FERRY" heap shove "$H"
one_error_line "unknown sub"
expect 0 "max heap" "$FERRY" heap create "${P}hmax" --max --double
"$FERRY" heap push "${P}hmax" --double 1.5 a && "$FERRY" heap push "${P}hmax" --double 2.5 b ||
  fail "double push"
expect 0 "max pop" "$FERRY" heap pop "${P}hmax" --double
[ "$(cat "$tmp/out")" = "$(printf '2.5\tb')" ] || fail "max/double pop: $(cat "$tmp/out")"

# --- dict ------------------------------------------------------------------------
expect 0 "dict create" "$FERRY" dict create "$D" --max-key 8 --max-value 8
expect 0 "set a" "$FERRY" dict set "$D" a one
expect 0 "set b" "$FERRY" dict set "$D" b two
expect 0 "set a again" "$FERRY" dict set "$D" a uno
expect 1 "set --nx existing" "$FERRY" dict set "$D" a x --nx
one_error_line "set --nx existing"
expect 0 "get a" "$FERRY" dict get "$D" a
[ "$(cat "$tmp/out")" = uno ] || fail "get a: $(cat "$tmp/out")"
expect 1 "get absent" "$FERRY" dict get "$D" zz
one_error_line "get absent"
[ -s "$tmp/out" ] && fail "absent get printed: $(cat "$tmp/out")"
expect 1 "oversized value" "$FERRY" dict set "$D" c 123456789
one_error_line "oversized value"
expect 1 "oversized key" "$FERRY" dict set "$D" 123456789 v
one_error_line "oversized key"
expect 0 "ls" "$FERRY" dict ls "$D"
[ "$(sort "$tmp/out")" = "$(printf 'a\tuno\nb\ttwo')" ] || fail "ls: $(cat "$tmp/out")"
expect 0 "ls --json" "$FERRY" dict ls "$D" --json
/usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
assert sorted((e["key"], e["value"]) for e in d) == [("a", "uno"), ("b", "two")], d
' <"$tmp/out" || fail "ls --json: $(cat "$tmp/out")"
expect 0 "del a" "$FERRY" dict del "$D" a
expect 1 "del absent" "$FERRY" dict del "$D" a
one_error_line "del absent"
expect 1 "get deleted" "$FERRY" dict get "$D" a
expect 2 "dict bad name" "$FERRY" dict get 'a b' k
one_error_line "dict bad name"
expect 2 "dict missing key arg" "$FERRY" dict get "$D"
expect 1 "dict on a heap" "$FERRY" dict get "$H" a
one_error_line "dict on a heap"
grep -q 'not a dict' "$tmp/err" || fail "wrong kind: $(cat "$tmp/err")"

# --- demo heap, bench heap ----------------------------------------------------------
expect 0 "demo heap" "$FERRY" demo heap --seconds 0.5 --records 50000
grep -q 'verify: ok' "$tmp/out" || fail "demo heap: $(cat "$tmp/out")"
expect 0 "bench heap" "$FERRY" bench heap --seconds 0.2 --records 10000 --impl ferry --json
[ -s "$tmp/out" ] || fail "bench heap printed nothing"
/usr/bin/python3 -c 'import json, sys
for line in sys.stdin:
    o = json.loads(line)
    assert set(o) >= {"impl", "case", "workers", "ops_per_s"}, o
    assert o["impl"] == "ferry" and o["case"] == "heap_pop_push" and o["ops_per_s"] > 0, o
' <"$tmp/out" || fail "bench heap --json: $(cat "$tmp/out")"

expect 0 "rm" "$FERRY" rm "$H" "$D" "${P}hmax"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
