#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_truncated.sh: a region file that a peer cut short. Named shared
# memory cannot be sealed, so a process with write access can truncate a
# region (docs/design/region.md, [truncate]). `ferry info` and `ferry ls`
# must report such a file as truncated, never crash on it, and `ferry rm`
# must remove it.
#
# usage: bash test_truncated.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"

for kind in queue dict; do
  name=${P}$kind
  case $kind in
  queue) "$FERRY" queue create "$name" >/dev/null || fail "create $kind" ;;
  dict) "$FERRY" dict create "$name" >/dev/null || fail "create $kind" ;;
  esac
  for size in 1000 100 4; do
    truncate -s "$size" "/dev/shm/ferry.$name"
    out=$("$FERRY" info "$name" 2>&1)
    st=$?
    [ $st -ge 128 ] && fail "info crashed on a $kind cut to $size bytes (status $st)"
    [ $st -eq 0 ] && fail "info succeeded on a $kind cut to $size bytes"
    echo "$out" | grep -q "truncated" || fail "info on a $kind cut to $size bytes: $out"
    out=$("$FERRY" ls 2>&1)
    st=$?
    [ $st -ge 128 ] && fail "ls crashed on a $kind cut to $size bytes (status $st)"
    echo "$out" | grep "$name" | grep -q "truncated" ||
      fail "ls does not show the $kind cut to $size bytes as truncated: $(echo "$out" | grep "$name")"
  done
  "$FERRY" rm "$name" || fail "rm $kind"
  [ -e "/dev/shm/ferry.$name" ] && fail "rm left the $kind"
done

[ "$failures" -eq 0 ] && echo "truncated regions: reported, never crashed on, removed"
finish
