#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_top.sh: `ferry top` in a real terminal (tmux: send-keys and
# capture-pane) while a queue is under load: it shows a non-zero rate, the
# queue's depth, and a dead participant in an orphaned region, marked;
# its keys sort, filter by kind and by name, and quit. Then its JSON
# snapshots say the same, and looking never registered anywhere.
#
# usage: bash test_top.sh <ferry binary> <tests/cli dir>
. "$(dirname "$0")/lib.sh" "$@"
Q=${P}q
O=${P}orphan
sock=ferry-test-top-$$
cli_cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null
  touch "$tmp/stop"
}

if ! command -v tmux >/dev/null; then
  echo "FAIL: tmux is missing (scripts/install-deps.sh test installs it)" >&2
  exit 1
fi

# --- the scene: a queue under load and an orphan ---------------------------------
"$FERRY" queue create "$Q" --capacity 64 || fail "queue create"
"$FERRY" array create "$O" --array x:u8:4 --hold >/dev/null &
holder=$!
bg+=("$holder")
for _ in $(seq 100); do [ -e "/dev/shm/ferry.$O" ] && break; sleep 0.05; done
sleep 0.2
kill -KILL "$holder"
wait "$holder" 2>/dev/null
opens_before=$("$FERRY" info --json "$O" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["opens"])')

# One producer as fast as it can; consumers of 100 messages at a time,
# slower: the queue stays full and both rates stay above zero.
yes | "$FERRY" queue put "$Q" --timeout 60 &
bg+=("$!")
(while [ ! -e "$tmp/stop" ]; do "$FERRY" queue get "$Q" -n 100 --timeout 5 >/dev/null || break; done) &
bg+=("$!")

# --- the terminal view --------------------------------------------------------------
tmux -L "$sock" -f /dev/null new-session -d -s top -x 160 -y 30 \
  "$FERRY top -d 0.5 '$P*'; echo top-exited; sleep 30" || fail "tmux new-session"

screen() { tmux -L "$sock" capture-pane -p -t top; }
# wait_screen DESC PYTHON: polls the screen (10 s at most) until the
# Python check (on `s`, the screen's text) holds.
wait_screen() {
  local desc=$1 check=$2
  for _ in $(seq 40); do
    screen >"$tmp/screen"
    if /usr/bin/python3 -c "import re, sys
s = open(sys.argv[1]).read()
Q, O = sys.argv[2], sys.argv[3]
def row(name):
    return [l for l in s.splitlines() if re.match(r'^[ !]' + re.escape(name) + r' ', l)]
$check" "$tmp/screen" "$Q" "$O" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  fail "$desc; the screen was:"
  cat "$tmp/screen" >&2
}

wait_screen "the queue's rate and depth, the orphan's dead participant" '
[q] = row(Q)
[o] = row(O)
cols = q.split()
assert cols[1:3] == ["queue", "active"], cols
assert re.match(r"^[1-9][0-9]*/64$", cols[5]), cols  # the depth
assert re.search(r"puts [1-9][0-9.]*[kM]?/s", q), q   # a rate
assert re.search(r"gets [1-9][0-9.]*[kM]?/s", q), q
oc = o.split()
assert o.startswith("!") and oc[1:5] == ["array", "orphaned", "0", "1"], oc  # dead, marked
assert "2 regions: 1 active, 1 orphaned" in s, s'

tmux -L "$sock" send-keys -t top s
wait_screen "s: sort by kind" '
assert "sort: kind" in s
lines = s.splitlines()
names = [l.split()[0].lstrip("!") for l in lines if l[:1] in " !" and l[1:].startswith(Q[:-1])]
assert names == [O, Q], names   # array before queue'
tmux -L "$sock" send-keys -t top r
wait_screen "r: reversed" '
assert "sort: kind (reversed)" in s
names = [l.split()[0].lstrip("!") for l in s.splitlines() if l[:1] in " !" and l[1:].startswith(Q[:-1])]
assert names == [Q, O], names'
tmux -L "$sock" send-keys -t top k
wait_screen "k: queues only" '
assert "kind: queue" in s
assert row(Q) and not row(O), s'
# queue, pipe, bus, heap, dict, pool, array, raw, then all again
tmux -L "$sock" send-keys -t top k k k k k k k k k
wait_screen "k nine times more: all kinds again" '
assert "kind: all" in s and row(Q) and row(O), s'
tmux -L "$sock" send-keys -t top / "*orph*" Enter
wait_screen "/: a name filter" '
assert "filter: *orph*" in s
assert row(O) and not row(Q), s'
tmux -L "$sock" send-keys -t top / Enter o
wait_screen "o: orphans only, the name filter cleared" '
assert "filter: -" in s and "orphans only" in s
assert row(O) and not row(Q), s'
tmux -L "$sock" send-keys -t top q
wait_screen "q quits" '
assert "top-exited" in s'

# --- JSON snapshots ------------------------------------------------------------------------
"$FERRY" top --json -n 3 -d 0.4 "$P*" >"$tmp/json" 2>"$tmp/err" || fail "top --json: $(cat "$tmp/err")"
/usr/bin/python3 - "$tmp/json" "$Q" "$O" <<'PY' || fail "top --json: $(cat "$tmp/json")"
import json, sys
path, Q, O = sys.argv[1:]
snaps = [json.loads(l) for l in open(path)]
assert len(snaps) == 3, len(snaps)
first = {r["name"]: r for r in snaps[0]["regions"]}
assert first[Q]["rates"] == {"puts_per_s": None, "gets_per_s": None, "waits_per_s": None}, first[Q]
last = {r["name"]: r for r in snaps[-1]["regions"]}
assert set(last) == {Q, O}, last
q, o = last[Q], last[O]
assert q["kind"] == "queue" and q["status"] == "active" and q["error"] is None, q
assert q["rates"]["puts_per_s"] > 0 and q["rates"]["gets_per_s"] > 0, q
assert q["depth"] > 0 and q["capacity"] == 64, q
assert q["stats"]["producers"] == 1 and q["stats"]["puts"] >= q["stats"]["gets"], q
assert o["status"] == "orphaned" and o["dead"] == 1 and o["live"] == 0, o
assert o["stats"] is None and o["rates"] is None, o
assert snaps[0]["time_ns"] < snaps[1]["time_ns"] < snaps[2]["time_ns"]
print("ok: %d snapshots" % len(snaps))
PY
"$FERRY" top --json -n 1 --kind queue "$P*" >"$tmp/json" || fail "top --kind"
grep -q "\"$O\"" "$tmp/json" && fail "--kind queue showed the array"
"$FERRY" top --json -n 1 --orphans "$P*" >"$tmp/json" || fail "top --orphans"
grep -q "\"$Q\"" "$tmp/json" && fail "--orphans showed the queue"
# Without a terminal, text snapshots follow one another.
"$FERRY" top -n 2 -d 0.2 "$P*" >"$tmp/text" || fail "top -n 2"
[ "$(grep -c '^ferry top ' "$tmp/text")" -eq 2 ] || fail "top -n 2 printed: $(cat "$tmp/text")"

# --- bad input ------------------------------------------------------------------------------
for args in "-n x" "-d 0.01" "--sort size" "--kind frob" "--frob" "-d"; do
  # shellcheck disable=SC2086
  "$FERRY" top $args >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] || fail "top $args: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "top $args: stderr $(cat "$tmp/err")"
done

# Looking never registered: the orphan's opens are as they were, and it
# is still orphaned (a registration would have made it active or idle).
opens_after=$("$FERRY" info --json "$O" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["opens"])')
[ "$opens_before" = "$opens_after" ] || fail "top registered: opens $opens_before -> $opens_after"
"$FERRY" ls "$O" | grep -q ' orphaned$' || fail "the orphan changed: $("$FERRY" ls "$O")"

finish
