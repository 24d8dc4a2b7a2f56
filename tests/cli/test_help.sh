#!/usr/bin/env bash
# test_help.sh: golden tests of every help text of the `ferry` command, and
# checks that the three ways of asking (ferry help VERB, ferry VERB --help,
# ferry VERB -h) agree, go to stdout and exit 0.
#
# usage: bash test_help.sh <ferry binary> <tests/cli dir>
# With FERRY_UPDATE_GOLDEN=1 the golden files are rewritten instead.
set -u
FERRY=$1
GOLDEN=$2/golden
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# golden NAME: compares $tmp/out with golden/NAME.
golden() {
  if [ "${FERRY_UPDATE_GOLDEN:-}" = 1 ]; then
    cp "$tmp/out" "$GOLDEN/$1"
  elif ! diff -u "$GOLDEN/$1" "$tmp/out" >&2; then
    fail "output differs from golden/$1"
  fi
}

# run_help NAME ARGS...: the command must print help on stdout only, exit 0.
run_help() {
  local name=$1
  shift
  "$FERRY" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 0 ] || fail "ferry $* exited $rc"
  [ -s "$tmp/err" ] && fail "ferry $* wrote to stderr: $(cat "$tmp/err")"
  golden "$name"
}

run_help help_main.txt --help
cp "$tmp/out" "$tmp/main"
for args in "-h" "help" "help help"; do
  # shellcheck disable=SC2086  # word splitting intended
  "$FERRY" $args >"$tmp/out" 2>/dev/null || fail "ferry $args failed"
  cmp -s "$tmp/out" "$tmp/main" || fail "ferry $args differs from ferry --help"
done

for verb in ls info rm gc array queue heap dict demo pool; do
  run_help "help_$verb.txt" help "$verb"
  cp "$tmp/out" "$tmp/ref"
  for args in "$verb --help" "$verb -h"; do
    # shellcheck disable=SC2086
    "$FERRY" $args >"$tmp/out" 2>/dev/null || fail "ferry $args failed"
    cmp -s "$tmp/out" "$tmp/ref" || fail "ferry $args differs from ferry help $verb"
  done
done
for args in "array create --help" "help array create"; do
  # shellcheck disable=SC2086
  "$FERRY" $args >"$tmp/out" 2>/dev/null || fail "ferry $args failed"
  cmp -s "$tmp/out" "$GOLDEN/help_array.txt" || fail "ferry $args differs from ferry help array"
done
# --help wins over the other words, even bad ones: asking is never an error.
"$FERRY" ls --help --json >"$tmp/out" 2>/dev/null || fail "ferry ls --help --json failed"
cmp -s "$tmp/out" "$GOLDEN/help_ls.txt" || fail "ferry ls --help --json is not the help"

"$FERRY" --version >"$tmp/out" 2>"$tmp/err" || fail "ferry --version failed"
grep -Eqx 'ferry [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" || fail "ferry --version printed: $(cat "$tmp/out")"

# Every help text fits an 80-column terminal.
for f in "$GOLDEN"/help_*.txt; do
  awk -v f="$f" 'length($0) > 80 { print "FAIL: " f ":" NR " is longer than 80 columns"; bad = 1 }
                 END { exit bad }' "$f" >&2 || failures=$((failures + 1))
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "ok"
