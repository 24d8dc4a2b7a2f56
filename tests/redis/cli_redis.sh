#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_redis.sh: the ferry command on Redis names, against a private
# redis-server on a Unix socket: queue create/put/get/shutdown, heap and
# dict verbs, `ferry info` and `ferry ls` on a server, rm, bad names (exit
# 2, nothing created), the exit statuses every verb shares (5 for what does
# not exist), and a short smoke run of `ferry bench queue --backend redis`
# in the one JSON schema. Exits 77 (skipped) without redis-server.
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
expect "info kind" "kind:       queue" "$(grep '^kind' "$dir/info")"
expect "info server" "server:     $S" "$(grep '^server' "$dir/info")"
expect "info puts" "3" "$(awk '$1 == "puts" { print $2 }' "$dir/info")"
expect "info depth" "2" "$(awk '$1 == "depth" { print $2 }' "$dir/info")"
"$FERRY" info --json "$S/jobs" >"$dir/info.json"; check "info --json" 0 $?
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "jobs" and d["kind"] == "queue" and d["stats_error"] is None, d
q = d["queue"]
assert q["depth"] == 2 and q["puts"] == 3 and q["held"] == 0 and q["capacity"] == 8, q' \
  "$dir/info.json"; check "info --json fields" 0 $?
"$FERRY" heap create "$S/tasks"; check "heap create" 0 $?
"$FERRY" heap push "$S/tasks" 7 seven; check "heap push" 0 $?
"$FERRY" dict create "$S/conf"; check "dict create" 0 $?
"$FERRY" dict set "$S/conf" k v; check "dict set" 0 $?
expect "dict get" v "$("$FERRY" dict get "$S/conf" k)"
expect "ls" "conf dict|jobs queue|tasks heap" \
  "$("$FERRY" ls "$S" | tail -n +2 | awk '{print $1, $2}' | sort | paste -sd'|')"
"$FERRY" ls --json "$S" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted((o["name"], o["kind"]) for o in d) == [("conf", "dict"), ("jobs", "queue"), ("tasks", "heap")], d
assert all(o["server"] == sys.argv[1] for o in d), d' "$S"; check "ls --json" 0 $?
"$FERRY" ls "$S" 'demo-*' 2>/dev/null; check "ls: a server goes alone" 2 $?
"$FERRY" gc "$S" 2>/dev/null; check "gc refuses a server" 2 $?
"$FERRY" info "$S/nothing" 2>/dev/null; check "info on a missing object" 5 $?
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
"$FERRY" info "$S/jobs" 2>/dev/null; check "info after rm" 5 $?
"$FERRY" rm "$S/jobs" 2>/dev/null; check "rm of a missing object" 5 $?
"$FERRY" rm -f "$S/jobs"; check "rm -f of a missing object" 0 $?

# A smoke run of the benchmark on this server (the numbers are not checked).
"$FERRY" bench queue --backend redis --redis-url "$S" --seconds 0.2 --warmup 0.05 --json \
  --impl hiredis-loop,ferry-redis-batch,ferry-redis-nolease >"$dir/bench" 2>"$dir/bench.err"
check "bench queue --backend redis" 0 $?
/usr/bin/python3 -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert objs[0]["type"] == "machine" and objs[0]["bench"] == "queue", objs[0]
rows = objs[1:]
assert [r["impl"] for r in rows] == ["hiredis-loop", "ferry-redis-batch", "ferry-redis-nolease"], rows
for r in rows:
    assert r["type"] == "result" and r["bench"] == "queue" and r["case"] == "redis-1p1c-64B", r
    assert r["status"] == "ok" and r["value"] > 0 and r["unit"] == "msgs/s", r
    assert r["better"] == "higher" and r["batch"] == 64 and r["msgs"] > 0, r' "$dir/bench"
check "bench results in the one schema" 0 $?
expect "bench goal lines on stderr" 1 \
  "$(grep -c '^goal ferry-redis-nolease >= 1.0x hiredis-loop: [0-9.]*x' "$dir/bench.err")"
"$FERRY" bench queue --backend nope 2>/dev/null; check "bench bad backend" 2 $?
"$FERRY" bench queue --backend redis --size 4 2>/dev/null; check "bench redis bad size" 2 $?
"$FERRY" bench queue --backend redis --redis-url 'http://x' 2>/dev/null
check "bench redis bad url" 2 $?
"$FERRY" bench pipe --backend redis 2>/dev/null; check "bench pipe has no redis backend" 2 $?

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
[ $fails -eq 0 ]
