#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_errors.sh: every kind of bad input to the `ferry` command gets the
# right exit status (2 for a bad command line, 1 for a failed operation, 5
# for a region that does not exist),
# exactly one line on stderr of the form "ferry: <verb>: <what>: <reason>",
# nothing on stdout, and leaves nothing behind in /dev/shm.
#
# usage: bash test_errors.sh <ferry binary> <tests/cli dir>
set -u
FERRY=$1
P=$(printf 'test-cli-%07d-' $$)
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

# expect STATUS ARGS...: runs ferry ARGS and checks the status and output.
expect() {
  local want=$1
  shift
  "$FERRY" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local shown
  shown=$(printf '%q ' "$@")
  [ "$rc" -eq "$want" ] || fail "ferry $shown: exit $rc, want $want; stderr: $(cat "$tmp/err")"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "ferry $shown: stderr is not one line: $(cat "$tmp/err")"
  grep -Eq '^ferry: [^:]+: .+: [^:]+$|^ferry: .+: [^:]+$' "$tmp/err" ||
    fail "ferry $shown: stderr not 'ferry: verb: what: reason': $(cat "$tmp/err")"
  [ -s "$tmp/out" ] && fail "ferry $shown: wrote to stdout: $(cat "$tmp/out")"
  return 0
}

# --- the command line itself (status 2) -------------------------------------
expect 2
expect 2 frob
expect 2 --frob
expect 2 --help extra
expect 2 --version extra
expect 2 help frob
expect 2 help ls extra
expect 2 ls --bogus
expect 2 ls --json=yes
expect 2 ls -x
expect 2 info
expect 2 info a b
expect 2 info 'bad/name'
expect 2 info "$(printf 'new\nline')"
expect 2 info ''
expect 2 info "$(printf 'x%.0s' $(seq 201))"
expect 2 info --json --frob "${P}x"
expect 2 rm
expect 2 rm 'x y'
expect 2 rm -f
expect 2 rm --force=yes "${P}x"
expect 2 rm -x "${P}x"
expect 2 gc --frob
expect 2 gc --dry-run=1
expect 2 array
expect 2 array frob
expect 2 array create
expect 2 array create "${P}a"
expect 2 array create "${P}a" --array
expect 2 array create 'bad/name' --array x:f32:3
expect 2 array create "${P}a" "${P}b" --array x:f32:3
for spec in x x:f99:3 x:f32:3xx4 x:f32:-1 x:f32:3x x:f32:1x2x3x4x5x6x7x8x9 \
  'bad name:f32:3' :f32:3 x:f32:99999999999999999999999 'x:f32:3:4' ''; do
  expect 2 array create "${P}a" --array "$spec"
done
expect 2 array create "${P}a" --array x:f32:3 --array x:u8:2
expect 2 array create "${P}a" --array x:f32:3 --mode 999
expect 2 array create "${P}a" --array x:f32:3 --mode abc
expect 2 array create "${P}a" --array x:f32:3 --mode 1777
expect 2 array create "${P}a" --array x:f32:3 --mode=
expect 2 array create "${P}a" --array x:f32:3 --hold=yes
expect 2 demo --consumers 0
expect 2 demo --consumers 257
expect 2 demo --consumers two
expect 2 demo --batches 0
expect 2 demo --batches -3
expect 2 demo --shape 0x3
expect 2 demo --shape ''
expect 2 demo --shape 10,,20
expect 2 demo --shape 10xx
expect 2 demo --shape 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
expect 2 demo --timeout -1
expect 2 demo --timeout 0
expect 2 demo --inject frob
expect 2 demo --quiet=no
expect 2 demo extra
expect 2 demo --json=1
expect 2 demo heap --records 0
expect 2 demo heap --refresh 0
expect 2 demo heap extra
expect 2 help demo frob
expect 2 help queue frob
expect 2 help queue put extra
expect 2 help ls extra
expect 2 -V extra
expect 2 queue
expect 2 queue frob
expect 2 queue create
expect 2 queue create "${P}q" --capacity
expect 2 queue create "${P}q" --capacity=x
expect 2 queue create "${P}q" --mode 999
expect 2 queue get "${P}q" -n
expect 2 queue get "${P}q" -nx
expect 2 queue get "${P}q" --timeout -1
expect 2 queue shutdown
expect 2 heap create "${P}h" --mode 8
expect 2 heap create "${P}h" --max-payload 2000000
expect 2 heap create "${P}h" --capacity 10 --max-capacity 5
expect 2 heap push "${P}h"
expect 2 heap pop "${P}h" --count=-1
expect 2 dict create "${P}d" --mode abc
expect 2 dict create "${P}d" --max-key 0
expect 2 dict set "${P}d" k
expect 2 dict set "${P}d" k v extra
expect 2 dict get "${P}d" k extra
expect 2 dict ls "${P}d" --raw
expect 2 bench frob
expect 2 bench queue --reps 99
expect 2 bench queue --seconds 0
expect 2 bench queue --impl frob --list
expect 2 bench bus --consumers 0
expect 2 bench heap --workers 0
expect 2 bench dict --frob
# The errors quote user text on one line, control characters escaped.
"$FERRY" info "$(printf 'a\nb')" 2>"$tmp/err"
grep -qF "'a\\x0ab'" "$tmp/err" || fail "newline in a name not escaped: $(cat "$tmp/err")"
ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "usage errors left regions: $(ls /dev/shm/ferry."$P"*)"

# --- failed operations (status 1) ---------------------------------------------
expect 5 info "${P}missing"
expect 5 rm "${P}missing"
grep -q "^ferry: rm: ${P}missing: No such file or directory$" "$tmp/err" ||
  fail "rm of a missing region: $(cat "$tmp/err")"
# -f: a missing name is no error, and nothing is said.
"$FERRY" rm -f "${P}missing" >"$tmp/out" 2>"$tmp/err" || fail "rm -f of a missing region failed"
[ -s "$tmp/err" ] && fail "rm -f wrote to stderr: $(cat "$tmp/err")"
for v in "queue get" "queue put" "queue shutdown" "heap pop" "heap peek" "heap push" \
  "dict get" "dict set" "dict del" "dict ls"; do
  # shellcheck disable=SC2086  # the verb is two words
  case $v in
  "heap push") expect 5 $v "${P}missing" 1 ;;
  "dict set") expect 5 $v "${P}missing" k v ;;
  "dict get" | "dict del") expect 5 $v "${P}missing" k ;;
  "queue put") expect 5 $v "${P}missing" m ;;
  "queue get" | "heap pop") expect 5 $v "${P}missing" --timeout 0 ;;
  *) expect 5 $v "${P}missing" ;;
  esac
done
# Too large for the address space: refused, and nothing is left.
expect 1 array create "${P}huge" --array x:f64:4294967296x4294967296
[ -e "/dev/shm/ferry.${P}huge" ] && fail "a refused create left ${P}huge behind"
# Names are O_EXCL: a second create of the same name fails.
"$FERRY" array create "${P}dup" --array x:u8:4 || fail "create ${P}dup"
expect 1 array create "${P}dup" --array x:u8:4
grep -q "File exists" "$tmp/err" || fail "second create: $(cat "$tmp/err")"
# rm reports each missing name, removes the others, exits 5.
expect 5 rm "${P}dup" "${P}missing"
[ -e "/dev/shm/ferry.${P}dup" ] && fail "rm left ${P}dup although another name was missing"
# A file that is not a ferry region: ls lists it as invalid, info fails, gc
# leaves it alone, rm removes it.
printf 'this is not a ferry region, only some bytes to fill a header...%.0s' $(seq 100) \
  >"/dev/shm/ferry.${P}junk"
expect 1 info "${P}junk"
grep -q "bad magic" "$tmp/err" || fail "info of junk: $(cat "$tmp/err")"
"$FERRY" ls "${P}*" >"$tmp/out" || fail "ls with a junk region failed"
grep -q "^${P}junk .*invalid: not a ferry region" "$tmp/out" || fail "ls of junk: $(cat "$tmp/out")"
"$FERRY" gc "${P}*" >"$tmp/out" || fail "gc with a junk region failed"
grep -q "^skipped ${P}junk (invalid: " "$tmp/out" || fail "gc of junk: $(cat "$tmp/out")"
[ -e "/dev/shm/ferry.${P}junk" ] || fail "gc removed a file that is not a ferry region"
"$FERRY" rm "${P}junk" || fail "rm of junk failed"
[ -e "/dev/shm/ferry.${P}junk" ] && fail "rm left junk behind"

ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "left behind: $(ls /dev/shm/ferry."$P"*)"
if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
