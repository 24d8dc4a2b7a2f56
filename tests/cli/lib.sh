# SPDX-License-Identifier: MIT
# lib.sh: what every test of the `ferry` command shares; each test_*.sh
# sources it as
#
#   . "$(dirname "$0")/lib.sh" "$@"      # args: <ferry binary> <tests/cli dir>
#
# It sets FERRY (the binary), GOLDEN (the golden files), P (a prefix for
# this test's region names: test-cli-<pid>-, fixed width so that tables
# do not depend on the pid's digits), tmp (a scratch directory), bg (pids
# of background processes) and failures; on exit it kills what is in bg,
# removes every region named P*, runs the test's own cli_cleanup if it
# defines one, and removes tmp. With FERRY_UPDATE_GOLDEN=1, golden()
# rewrites the golden files instead of comparing.
set -u
FERRY=$1
GOLDEN=${2:-$(dirname "${BASH_SOURCE[0]}")}/golden
P=$(printf 'test-cli-%07d-' $$)
failures=0
bg=()
tmp=$(mktemp -d)

cli_exit() {
  # The verdict is out: what follows may only make noise (the shell reports
  # the jobs it kills).
  exec 2>/dev/null
  for pid in "${bg[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  if declare -F cli_cleanup >/dev/null; then cli_cleanup; fi
  wait 2>/dev/null
  rm -f /dev/shm/ferry."$P"*
  rm -rf "$tmp"
}
trap cli_exit EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# finish: the test's verdict and exit status.
finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
  fi
  echo "ok"
  exit 0
}

# normalise: replaces on stdin what changes from run to run (the prefix,
# uids, pids, process start times, timestamps).
normalise() {
  sed -E -e "s/$P/test-cli-NNNNNNN-/g" \
    -e 's/uid [0-9]+, pid [0-9]+, start [0-9]+/uid UID, pid PID, start START/' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z/TIME/g' \
    -e 's/^( +[0-9]+) +[0-9]+  /\1  PID  /'
}

# golden NAME [raw]: compares $tmp/out, normalised (as is with "raw"), with
# golden/NAME.
golden() {
  if [ "${2:-}" = raw ]; then cp "$tmp/out" "$tmp/norm"; else normalise <"$tmp/out" >"$tmp/norm"; fi
  if [ "${FERRY_UPDATE_GOLDEN:-}" = 1 ]; then
    cp "$tmp/norm" "$GOLDEN/$1"
  elif ! diff -u "$GOLDEN/$1" "$tmp/norm" >&2; then
    fail "output differs from golden/$1"
  fi
}

# expect RC DESC CMD...: runs CMD (stdout to $tmp/out, stderr to $tmp/err)
# and checks its exit status.
expect() {
  local want=$1 desc=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "$desc: exit $rc, want $want (stderr: $(cat "$tmp/err"))"
}

# one_error_line DESC: stderr is exactly one line starting "ferry: ".
one_error_line() {
  [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^ferry: ' "$tmp/err" ||
    fail "$1: want one error line, got: $(cat "$tmp/err")"
}

# expect_error STATUS ARGS...: ferry ARGS exits STATUS with exactly one
# line on stderr, "ferry: <verb>: <what>: <reason>", and nothing on stdout.
expect_error() {
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

# json_check PYTHON: parses $tmp/out as JSON into `d` (with P the prefix)
# and runs the asserts.
json_check() {
  /usr/bin/python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
P = sys.argv[2]
$1" "$tmp/out" "$P" || fail "JSON check failed on: $(cat "$tmp/out")"
}

# status_of NAME: the STATUS column of NAME in `ferry ls`, or nothing.
status_of() {
  "$FERRY" ls "$1" | awk -v n="$1" '$1 == n { print $NF }'
}

# wait_status NAME STATUS: polls until NAME has STATUS (10 s at most).
wait_status() {
  for _ in $(seq 200); do
    [ "$(status_of "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  fail "$1 never became $2: $("$FERRY" ls "$1")"
  return 1
}
