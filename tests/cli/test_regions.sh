#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_regions.sh: `ferry array create`, `ls`, `info`, `gc` and `rm` on real
# regions: golden output for the tables (pids, uids and times normalised),
# JSON that parses and says the same, idle vs active regions, --hold with a
# clean SIGTERM, unlink-on-last-close, and gc --idle / --dry-run.
#
# usage: bash test_regions.sh <ferry binary> <tests/cli dir>
# With FERRY_UPDATE_GOLDEN=1 the golden files are rewritten instead.
. "$(dirname "$0")/lib.sh" "$@"

# hold NAME ARGS...: creates NAME with --hold in the background.
hold() {
  local name=$1
  shift
  "$FERRY" array create "$name" "$@" --hold >"$tmp/hold.$name" &
  bg+=($!)
  wait_status "$name" active
}

# --- create: an idle region stays after the command ends ----------------------
"$FERRY" array create "${P}a" --array frame:f32:1000x1000 --array seq:u64 --mode 640 \
  >"$tmp/out" 2>&1 || fail "array create ${P}a: $(cat "$tmp/out")"
[ -s "$tmp/out" ] && fail "array create printed: $(cat "$tmp/out")"
[ "$(stat -c %a "/dev/shm/ferry.${P}a")" = 640 ] || fail "--mode 640 not applied"
hold "${P}b" --array img:u8:480x640x3 --array z:c128:0x4 --array flag:bool:2 --unlink-on-last-close
b_pid=${bg[-1]}
grep -q "^${P}b: held by pid $b_pid" "$tmp/hold.${P}b" || fail "--hold said: $(cat "$tmp/hold.${P}b")"

# --- ls ---------------------------------------------------------------------------
"$FERRY" ls "${P}*" >"$tmp/out" || fail "ls failed"
golden ls.txt
"$FERRY" ls >"$tmp/all" || fail "ls without patterns failed"
grep -q "^${P}a " "$tmp/all" || fail "plain ls does not list ${P}a"
head -1 "$tmp/all" | grep -q '^NAME  *KIND  *SIZE  *LIVE  *DEAD  *STATUS$' || fail "ls header: $(head -1 "$tmp/all")"
# Sorted by name, whatever else is in /dev/shm.
tail -n +2 "$tmp/all" | awk '{ print $1 }' >"$tmp/names"
LC_ALL=C sort -c "$tmp/names" || fail "ls is not sorted by name"
"$FERRY" ls --json "${P}*" >"$tmp/out" || fail "ls --json failed"
json_check '
assert isinstance(d, list) and [r["name"] for r in d] == [P + "a", P + "b"], d
a, b = d
assert a == {"name": P + "a", "kind": "array", "size": a["size"], "live": 0, "dead": 0,
             "status": "idle", "error": None}, a
assert a["size"] > 4000004, a
assert b["status"] == "active" and b["live"] == 1 and b["dead"] == 0, b'
"$FERRY" ls --json >"$tmp/out" || fail "ls --json (all) failed"
json_check 'assert isinstance(d, list)'
"$FERRY" ls --json "${P}nothing-matches*" >"$tmp/out" || fail "ls --json of nothing failed"
json_check 'assert d == []'

# --- info ---------------------------------------------------------------------------
"$FERRY" info "${P}a" >"$tmp/out" || fail "info ${P}a failed"
golden info_idle.txt
"$FERRY" info "${P}b" >"$tmp/out" || fail "info ${P}b failed"
golden info_active.txt
"$FERRY" info --json "${P}b" >"$tmp/out" || fail "info --json failed"
json_check '
import os
assert d["name"] == P + "b" and d["kind"] == "array" and d["status"] == "active", d
assert d["mode"] == "0600" and d["flags"] == ["unlink-on-last-close"], d
assert d["creator"]["uid"] == os.getuid(), d
assert d["live"] == 1 and d["dead"] == 0 and d["opens"] == 1, d
[p] = d["participants"]
assert p["alive"] is True and p["role"] == "creator+writer" and p["pid"] == d["creator"]["pid"], p
assert p["attached"].endswith("Z") and d["created"].endswith("Z"), d
arrays = d["array"]["arrays"]
assert [a["name"] for a in arrays] == ["img", "z", "flag"], arrays
img, z, flag = arrays
assert img["shape"] == [480, 640, 3] and img["strides"] == [1920, 3, 1], img
assert img["typestr"] == "|u1" and img["dtype"] == "u8" and img["nbytes"] == 921600, img
assert z["shape"] == [0, 4] and z["nbytes"] == 0 and z["typestr"] in ("<c16", ">c16"), z
assert flag["dtype"] == "bool" and flag["typestr"] == "|b1" and flag["count"] == 2, flag
assert all(a["offset"] % 64 == 0 for a in arrays), arrays
assert d["stats_error"] is None and d["array"]["frame_bytes"] >= 921600 + 64, d'
# Looking never registers: info and ls leave the counts as they were.
"$FERRY" info --json "${P}b" >"$tmp/out"
json_check 'assert d["opens"] == 1 and len(d["participants"]) == 1, d'

# --- --hold ends cleanly on SIGTERM; unlink-on-last-close removes the name ------
kill -TERM "$b_pid"
wait "$b_pid" || fail "--hold exited $? on SIGTERM"
[ -e "/dev/shm/ferry.${P}b" ] && fail "unlink-on-last-close left ${P}b behind"
hold "${P}c" --array v:i32:10
kill -TERM "${bg[-1]}"
wait "${bg[-1]}" || fail "--hold exited $? on SIGTERM"
wait_status "${P}c" idle

# --- gc: idle regions stay unless --idle ---------------------------------------------
"$FERRY" gc "${P}*" >"$tmp/out" || fail "gc failed"
golden gc_none.txt
"$FERRY" gc --dry-run --idle "${P}*" >"$tmp/out" || fail "gc --dry-run --idle failed"
golden gc_dry_idle.txt
[ -e "/dev/shm/ferry.${P}a" ] || fail "gc --dry-run removed ${P}a"
"$FERRY" gc --idle --json "${P}*" >"$tmp/out" || fail "gc --idle --json failed"
json_check '
assert d["dry_run"] is False and d["idle"] is True and d["kept"] == 0 and d["skipped"] == [], d
assert d["removed"] == [{"name": P + "a", "status": "idle"}, {"name": P + "c", "status": "idle"}], d'
"$FERRY" ls "${P}*" >"$tmp/out" || fail "ls failed"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "gc --idle left: $(cat "$tmp/out")"

# --- rm --------------------------------------------------------------------------------
"$FERRY" array create "${P}d" --array x:u8 || fail "create ${P}d"
"$FERRY" array create "${P}e" --array x:u8 || fail "create ${P}e"
"$FERRY" rm "${P}d" "${P}e" >"$tmp/out" 2>&1 || fail "rm failed: $(cat "$tmp/out")"
[ -s "$tmp/out" ] && fail "rm printed: $(cat "$tmp/out")"
ls /dev/shm/ferry."$P"* >/dev/null 2>&1 && fail "left behind: $(ls /dev/shm/ferry."$P"*)"

finish
