#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_errors.sh: every kind of bad input to the `ferry` command gets the
# right exit status (2 for a bad command line, 1 for a failed operation, 5
# for a region that does not exist),
# exactly one line on stderr of the form "ferry: <verb>: <what>: <reason>",
# nothing on stdout, and leaves nothing behind in /dev/shm.
#
# usage: bash test_errors.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"

# --- the command line itself (status 2) -------------------------------------
expect_error 2
expect_error 2 frob
expect_error 2 --frob
expect_error 2 --help extra
expect_error 2 --version extra
expect_error 2 help frob
expect_error 2 help ls extra
expect_error 2 ls --bogus
expect_error 2 ls --json=yes
expect_error 2 ls -x
expect_error 2 info
expect_error 2 info a b
expect_error 2 info 'bad/name'
expect_error 2 info "$(printf 'new\nline')"
expect_error 2 info ''
expect_error 2 info "$(printf 'x%.0s' $(seq 201))"
expect_error 2 info --json --frob "${P}x"
expect_error 2 rm
expect_error 2 rm 'x y'
expect_error 2 rm -f
expect_error 2 rm --force=yes "${P}x"
expect_error 2 rm -x "${P}x"
expect_error 2 gc --frob
expect_error 2 gc --dry-run=1
expect_error 2 array
expect_error 2 array frob
expect_error 2 array create
expect_error 2 array create "${P}a"
expect_error 2 array create "${P}a" --array
expect_error 2 array create 'bad/name' --array x:f32:3
expect_error 2 array create "${P}a" "${P}b" --array x:f32:3
for spec in x x:f99:3 x:f32:3xx4 x:f32:-1 x:f32:3x x:f32:1x2x3x4x5x6x7x8x9 \
  'bad name:f32:3' :f32:3 x:f32:99999999999999999999999 'x:f32:3:4' ''; do
  expect_error 2 array create "${P}a" --array "$spec"
done
expect_error 2 array create "${P}a" --array x:f32:3 --array x:u8:2
expect_error 2 array create "${P}a" --array x:f32:3 --mode 999
expect_error 2 array create "${P}a" --array x:f32:3 --mode abc
expect_error 2 array create "${P}a" --array x:f32:3 --mode 1777
expect_error 2 array create "${P}a" --array x:f32:3 --mode=
expect_error 2 array create "${P}a" --array x:f32:3 --hold=yes
expect_error 2 demo --consumers 0
expect_error 2 demo --consumers 257
expect_error 2 demo --consumers two
expect_error 2 demo --batches 0
expect_error 2 demo --batches -3
expect_error 2 demo --shape 0x3
expect_error 2 demo --shape ''
expect_error 2 demo --shape 10,,20
expect_error 2 demo --shape 10xx
expect_error 2 demo --shape 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
expect_error 2 demo --timeout -1
expect_error 2 demo --timeout 0
expect_error 2 demo --inject frob
expect_error 2 demo --quiet=no
expect_error 2 demo extra
expect_error 2 demo --json=1
expect_error 2 demo heap --records 0
expect_error 2 demo heap --refresh 0
expect_error 2 demo heap extra
expect_error 2 help demo frob
expect_error 2 help queue frob
expect_error 2 help queue put extra
expect_error 2 help ls extra
expect_error 2 -V extra
expect_error 2 queue
expect_error 2 queue frob
expect_error 2 queue create
expect_error 2 queue create "${P}q" --capacity
expect_error 2 queue create "${P}q" --capacity=x
expect_error 2 queue create "${P}q" --mode 999
expect_error 2 queue get "${P}q" -n
expect_error 2 queue get "${P}q" -nx
expect_error 2 queue get "${P}q" --timeout -1
expect_error 2 queue shutdown
expect_error 2 heap create "${P}h" --mode 8
expect_error 2 heap create "${P}h" --max-payload 2000000
expect_error 2 heap create "${P}h" --capacity 10 --max-capacity 5
expect_error 2 heap push "${P}h"
expect_error 2 heap pop "${P}h" --count=-1
expect_error 2 dict create "${P}d" --mode abc
expect_error 2 dict create "${P}d" --max-key 0
expect_error 2 dict set "${P}d" k
expect_error 2 dict set "${P}d" k v extra
expect_error 2 dict get "${P}d" k extra
expect_error 2 dict ls "${P}d" --raw
expect_error 2 bench frob
expect_error 2 bench queue --reps 99
expect_error 2 bench queue --seconds 0
# Seconds are decimal: hexadecimal and words that strtod knows are refused.
for bad in 0x10 0x1p4 1s nan -1 +1; do
  expect_error 2 heap pop "${P}h" --timeout "$bad"
  grep -q "bad --timeout '$bad'" "$tmp/err" || fail "--timeout $bad: $(cat "$tmp/err")"
done
expect_error 2 bench queue --impl frob --list
expect_error 2 bench bus --consumers 0
expect_error 2 bench heap --workers 0
expect_error 2 bench dict --frob
# The errors quote user text on one line, control characters escaped.
"$FERRY" info "$(printf 'a\nb')" 2>"$tmp/err"
grep -qF "'a\\x0ab'" "$tmp/err" || fail "newline in a name not escaped: $(cat "$tmp/err")"
ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "usage errors left regions: $(ls /dev/shm/ferry."$P"*)"

# Redis names: judged by the backend before anything is contacted.
expect_error 2 ls 'redis://127.0.0.1:1' "${P}*"
expect_error 2 gc 'redis://127.0.0.1:1'
if [ "${FERRY_REDIS_BUILT:-1}" = 1 ]; then
  for bad in 'redis://bad host/q' 'redis://h/a/b' 'redis://h:0/q' 'unix://rel/x.sock/q'; do
    expect_error 2 queue create "$bad"
    expect_error 2 info "$bad"
    expect_error 2 rm "$bad"
  done
fi

# --- failed operations (status 1) ---------------------------------------------
expect_error 5 info "${P}missing"
expect_error 5 rm "${P}missing"
grep -q "^ferry: rm: ${P}missing: No such file or directory$" "$tmp/err" ||
  fail "rm of a missing region: $(cat "$tmp/err")"
# -f: a missing name is no error, and nothing is said.
"$FERRY" rm -f "${P}missing" >"$tmp/out" 2>"$tmp/err" || fail "rm -f of a missing region failed"
[ -s "$tmp/err" ] && fail "rm -f wrote to stderr: $(cat "$tmp/err")"
for v in "queue get" "queue put" "queue shutdown" "heap pop" "heap peek" "heap push" \
  "dict get" "dict set" "dict del" "dict ls"; do
  # shellcheck disable=SC2086  # the verb is two words
  case $v in
  "heap push") expect_error 5 $v "${P}missing" 1 ;;
  "dict set") expect_error 5 $v "${P}missing" k v ;;
  "dict get" | "dict del") expect_error 5 $v "${P}missing" k ;;
  "queue put") expect_error 5 $v "${P}missing" m ;;
  "queue get" | "heap pop") expect_error 5 $v "${P}missing" --timeout 0 ;;
  *) expect_error 5 $v "${P}missing" ;;
  esac
done
# Too large for the address space: refused, and nothing is left.
expect_error 1 array create "${P}huge" --array x:f64:4294967296x4294967296
[ -e "/dev/shm/ferry.${P}huge" ] && fail "a refused create left ${P}huge behind"
# Names are O_EXCL: a second create of the same name fails.
"$FERRY" array create "${P}dup" --array x:u8:4 || fail "create ${P}dup"
expect_error 1 array create "${P}dup" --array x:u8:4
grep -q "File exists" "$tmp/err" || fail "second create: $(cat "$tmp/err")"
# rm reports each missing name, removes the others, exits 5.
expect_error 5 rm "${P}dup" "${P}missing"
[ -e "/dev/shm/ferry.${P}dup" ] && fail "rm left ${P}dup although another name was missing"
# A file that is not a ferry region: ls lists it as invalid, info fails, gc
# leaves it alone, rm removes it.
printf 'this is not a ferry region, only some bytes to fill a header...%.0s' $(seq 100) \
  >"/dev/shm/ferry.${P}junk"
expect_error 1 info "${P}junk"
grep -q "bad magic" "$tmp/err" || fail "info of junk: $(cat "$tmp/err")"
"$FERRY" ls "${P}*" >"$tmp/out" || fail "ls with a junk region failed"
grep -q "^${P}junk .*invalid: not a ferry region" "$tmp/out" || fail "ls of junk: $(cat "$tmp/out")"
"$FERRY" gc "${P}*" >"$tmp/out" || fail "gc with a junk region failed"
grep -q "^skipped ${P}junk (invalid: " "$tmp/out" || fail "gc of junk: $(cat "$tmp/out")"
[ -e "/dev/shm/ferry.${P}junk" ] || fail "gc removed a file that is not a ferry region"
"$FERRY" rm "${P}junk" || fail "rm of junk failed"
[ -e "/dev/shm/ferry.${P}junk" ] && fail "rm left junk behind"

# A FIFO under a ferry name: nothing waits for a writer to come (timeout
# turns a hang into a failure), and it is reported like the junk file.
mkfifo "/dev/shm/ferry.${P}fifo" || fail "mkfifo"
timeout 10 "$FERRY" info "${P}fifo" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "bad magic" "$tmp/err" || fail "info of a FIFO: $(cat "$tmp/err")"
timeout 10 "$FERRY" ls "${P}*" >"$tmp/out" || fail "ls with a FIFO failed or hung"
grep -q "^${P}fifo .*invalid: not a ferry region" "$tmp/out" || fail "ls of a FIFO: $(cat "$tmp/out")"
timeout 10 "$FERRY" gc "${P}*" >"$tmp/out" || fail "gc with a FIFO failed or hung"
grep -q "^skipped ${P}fifo (invalid: " "$tmp/out" || fail "gc of a FIFO: $(cat "$tmp/out")"
rm -f "/dev/shm/ferry.${P}fifo"
ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "left behind: $(ls /dev/shm/ferry."$P"*)"
finish
