# SPDX-License-Identifier: MIT
"""Smoke test of bench/python_objects.py: a short run of the cheap cases
must print a machine line and one well-formed result line per
implementation and case, in ferry bench's schema, none failed."""

import json
import subprocess
import sys

KEYS = {"type", "bench", "case", "impl", "status", "note", "unit", "better", "value"}


def main(script):
    out = subprocess.run([sys.executable, script, "--json", "--seconds", "0.1", "--records", "2000",
                          "--only", "queue,pipe,dict,heap"], capture_output=True, text=True,
                         timeout=280)
    print(out.stdout)
    print(out.stderr, file=sys.stderr)
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    assert lines and lines[0]["type"] == "machine", "no machine line"
    results = lines[1:]
    want = {("queue", "py-obj"), ("queue", "py-bytes-64B"), ("pipe", "py-pingpong-64B"),
            ("dict", "dict_set"), ("dict", "dict_get"), ("heap", "heap_pop_push")}
    got = {(r["bench"], r["case"]) for r in results}
    assert got == want, "cases: %s" % sorted(got)
    for r in results:
        assert KEYS <= set(r), "missing keys in %s" % r
        assert r["status"] == "ok", "failed: %s" % r
        assert r["value"] and r["value"] > 0, "no value: %s" % r
        if r["impl"] == "ferry-py":
            assert "x_peer" in r and "goal_x" in r, "no ratio: %s" % r
    assert out.returncode == 0
    print("bench smoke: %d results, all ok" % len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
