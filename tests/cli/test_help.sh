#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_help.sh: golden tests of every help text of the `ferry` command
# (ferry-demo's and ferry-bench's included), checks that the three ways of
# asking (ferry help VERB [SUBVERB], ferry VERB [SUBVERB] --help, -h) agree
# for every verb and subverb, go to stdout and exit 0, and that --version
# is the project's version (FERRY_EXPECTED_VERSION, from CMake).
#
# usage: bash test_help.sh <ferry binary> <tests/cli dir>
# With FERRY_UPDATE_GOLDEN=1 the golden files are rewritten instead.
. "$(dirname "$0")/lib.sh" "$@"

# run_help NAME ARGS...: the command must print help on stdout only, exit 0.
run_help() {
  local name=$1
  shift
  "$FERRY" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 0 ] || fail "ferry $* exited $rc"
  [ -s "$tmp/err" ] && fail "ferry $* wrote to stderr: $(cat "$tmp/err")"
  golden "$name" raw
}

run_help help_main.txt --help
cp "$tmp/out" "$tmp/main"
for args in "-h" "help" "help help"; do
  # shellcheck disable=SC2086  # word splitting intended
  "$FERRY" $args >"$tmp/out" 2>/dev/null || fail "ferry $args failed"
  cmp -s "$tmp/out" "$tmp/main" || fail "ferry $args differs from ferry --help"
done

# same_help REF ARGS...: ferry ARGS prints exactly REF on stdout, exits 0.
same_help() {
  local ref=$1
  shift
  "$FERRY" "$@" >"$tmp/out2" 2>"$tmp/err2" || fail "ferry $* failed: $(cat "$tmp/err2")"
  cmp -s "$tmp/out2" "$ref" || fail "ferry $* differs from $(basename "$ref")"
}

# Every verb, and every subverb of every family, answers the three ways:
# `ferry help VERB [SUBVERB]`, `ferry VERB [SUBVERB] --help` and `-h`.
for verb in ls info top rm gc array queue heap dict demo bench; do
  run_help "help_$verb.txt" help "$verb"
  same_help "$GOLDEN/help_$verb.txt" "$verb" --help
  same_help "$GOLDEN/help_$verb.txt" "$verb" -h
done
subs_array="create"
subs_queue="create put get shutdown"
subs_heap="create push pop peek"
subs_dict="create set get del ls"
for family in array queue heap dict; do
  var=subs_$family
  for sub in ${!var}; do
    same_help "$GOLDEN/help_$family.txt" help "$family" "$sub"
    same_help "$GOLDEN/help_$family.txt" "$family" "$sub" --help
    same_help "$GOLDEN/help_$family.txt" "$family" "$sub" -h
  done
done
# ferry demo and ferry bench run ferry-demo and ferry-bench, which answer
# for their own subverbs.
run_help help_demo_heap.txt help demo heap
same_help "$GOLDEN/help_demo_heap.txt" demo heap --help
same_help "$GOLDEN/help_demo.txt" demo bus --help
same_help "$GOLDEN/help_demo.txt" help demo bus
for b in queue pipe bus heap dict; do
  case $b in
  queue | pipe) ref=help_bench_qp.txt ;;
  heap | dict) ref=help_bench_hd.txt ;;
  *) ref=help_bench_$b.txt ;;
  esac
  run_help "$ref" help bench "$b"
  same_help "$GOLDEN/$ref" bench "$b" --help
  same_help "$GOLDEN/$ref" bench "$b" -h
done
# --help wins over the other words, even bad ones: asking is never an error.
same_help "$GOLDEN/help_ls.txt" ls --help --json
same_help "$GOLDEN/help_queue.txt" queue put --frob -h
same_help "$GOLDEN/help_bench_qp.txt" bench queue --reps 99 --help

# -V and --version give the library's version, the project's version.
for v in --version -V; do
  "$FERRY" $v >"$tmp/out" 2>"$tmp/err" || fail "ferry $v failed"
  grep -Eqx 'ferry [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" || fail "ferry $v printed: $(cat "$tmp/out")"
  if [ -n "${FERRY_EXPECTED_VERSION:-}" ]; then
    [ "$(cat "$tmp/out")" = "ferry $FERRY_EXPECTED_VERSION" ] ||
      fail "ferry $v printed $(cat "$tmp/out"), the project is $FERRY_EXPECTED_VERSION"
  fi
done

# Every help text fits an 80-column terminal.
for f in "$GOLDEN"/help_*.txt; do
  awk -v f="$f" 'length($0) > 80 { print "FAIL: " f ":" NR " is longer than 80 columns"; bad = 1 }
                 END { exit bad }' "$f" >&2 || failures=$((failures + 1))
done

finish
