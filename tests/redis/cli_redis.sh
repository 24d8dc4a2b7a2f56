#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_redis.sh: the ferry command on Redis names, against a private
# redis-server on a Unix socket: queue create/put/get/shutdown, heap and
# dict verbs, `ferry info` and `ferry ls` on a server, rm, bad names (exit
# 2, nothing created), and a short smoke run of
# `ferry bench queue --backend redis`. Exits 77 (skipped) without
# redis-server.
#   cli_redis.sh FERRY
set -u
FERRY=$1
command -v redis-server >/dev/null || { echo "skip: redis-server is not installed"; exit 77; }
dir=$(mktemp -d /tmp/ferry-cli-redis-XXXXXX)
sock=$dir/redis.sock
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" --save '' \
  --appendonly no >"$dir/log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "FAIL: redis-server did not start"; exit 1; }
S=unix://$sock
fails=0
check() { # check DESCRIPTION WANT_STATUS GOT_STATUS
  if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, want $2"; fails=$((fails + 1)); else echo "ok      $1"; fi
}
expect() { # expect DESCRIPTION WANT GOT
  if [ "$2" != "$3" ]; then echo "FAIL: $1: got '$3', want '$2'"; fails=$((fails + 1)); else echo "ok      $1"; fi
}

"$FERRY" queue create "$S/jobs" --capacity 8; check "queue create" 0 $?
"$FERRY" queue create "$S/jobs" 2>/dev/null; check "queue create twice" 1 $?
"$FERRY" queue put "$S/jobs" one two three; check "queue put" 0 $?
expect "queue get" one "$("$FERRY" queue get "$S/jobs")"
"$FERRY" info "$S/jobs" >"$dir/info"; check "info" 0 $?
expect "info kind" "kind             queue" "$(grep '^kind' "$dir/info")"
expect "info puts" "puts             3" "$(grep '^puts' "$dir/info")"
"$FERRY" info --json "$S/jobs" | grep -q '"depth": 2'; check "info --json" 0 $?
"$FERRY" heap create "$S/tasks"; check "heap create" 0 $?
"$FERRY" heap push "$S/tasks" 7 seven; check "heap push" 0 $?
"$FERRY" dict create "$S/conf"; check "dict create" 0 $?
"$FERRY" dict set "$S/conf" k v; check "dict set" 0 $?
expect "dict get" v "$("$FERRY" dict get "$S/conf" k)"
expect "ls" "conf dict|jobs queue|tasks heap" \
  "$("$FERRY" ls "$S" | tail -n +2 | awk '{print $1, $2}' | sort | paste -sd'|')"
"$FERRY" ls --json "$S" | grep -q '"kind": "heap"'; check "ls --json" 0 $?
"$FERRY" queue shutdown "$S/jobs"; check "queue shutdown" 0 $?
"$FERRY" queue put "$S/jobs" four 2>/dev/null; check "put after shutdown (end of stream)" 3 $?
keys=$(redis-cli -s "$sock" dbsize)
for bad in "redis://bad host/q" "redis://h/a/b" "redis://h:0/q" "unix://rel/x.sock/q" "$S/{q}"; do
  "$FERRY" queue create "$bad" 2>/dev/null; check "bad name '$bad'" 2 $?
done
expect "bad names created nothing" "$keys" "$(redis-cli -s "$sock" dbsize)"
"$FERRY" queue put "redis://127.0.0.1:1/q" x 2>"$dir/err"; check "no server" 1 $?
grep -q "Connection refused" "$dir/err"; check "no server says so" 0 $?
"$FERRY" rm "$S/jobs" "$S/tasks" "$S/conf"; check "rm" 0 $?
expect "rm left no key" 0 "$(redis-cli -s "$sock" dbsize)"
"$FERRY" info "$S/jobs" 2>/dev/null; check "info after rm" 1 $?

# A smoke run of the benchmark on this server (the numbers are not checked).
"$FERRY" bench queue --backend redis --redis-url "$S" --seconds 0.2 --warmup 0.05 --json \
  --impl hiredis-loop,ferry-redis-batch,ferry-redis-nolease >"$dir/bench"
check "bench queue --backend redis" 0 $?
expect "bench results ok" 3 "$(grep -c '"type":"result".*"status":"ok"' "$dir/bench")"
expect "bench goal lines" 1 "$(grep -c '"type":"goal"' "$dir/bench")"
"$FERRY" bench queue --backend nope 2>/dev/null; check "bench bad backend" 2 $?

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
[ $fails -eq 0 ]
