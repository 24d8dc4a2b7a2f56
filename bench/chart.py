#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""chart.py: draws the charts of `ferry bench` from its JSON output.

Every benchmark (queue, pipe, bus, heap, dict) prints the same schema with
--json: a "machine" line, then one "result" line per implementation and
case, each with its headline "value" in "unit" and whether "better" is
"higher" or "lower" (bench/README.md). This script reads any number of
such files (or stdin) and draws one panel per benchmark and case: a bar
per implementation, ferry's bars highlighted, skipped and failed results
named, latencies on a log scale.

usage: /usr/bin/python3 chart.py [-o OUT.svg|OUT.png] [FILE.jsonl ...]
Needs Debian's python3-matplotlib.
"""
import argparse
import json
import sys


def read(files):
    machines, results = [], []
    for f in files:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit("chart.py: %s:%d: not JSON: %s" % (f.name, n, e))
            kind = obj.get("type")
            if kind == "machine":
                machines.append(obj)
            elif kind == "result":
                for key in ("bench", "case", "impl", "status", "unit", "better"):
                    if key not in obj:
                        sys.exit("chart.py: %s:%d: a result without %r" % (f.name, n, key))
                results.append(obj)
    return machines, results


def panels(results):
    """(bench, case) -> results, in the order they came."""
    out = {}
    for r in results:
        out.setdefault((r["bench"], r["case"]), []).append(r)
    return out


def draw(machines, results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = panels(results)
    if not groups:
        sys.exit("chart.py: no results to draw")
    rows = len(groups)
    heights = [0.5 + 0.35 * len(rs) for rs in groups.values()]
    fig, axes = plt.subplots(rows, 1, figsize=(9, 1.0 + sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, ((bench, case), rs) in zip(axes[:, 0], groups.items()):
        names = [r["impl"] for r in rs]
        ok = [r["status"] == "ok" and r.get("value") is not None for r in rs]
        values = [r["value"] if good else 0 for r, good in zip(rs, ok)]
        colours = ["#d9480f" if n.startswith("ferry") else "#4c6ef5" for n in names]
        y = range(len(rs))
        ax.barh(list(y), values, color=colours)
        ax.set_yticks(list(y))
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        lower = rs[0]["better"] == "lower"
        if lower and any(v > 0 for v in values):
            ax.set_xscale("log")
        ax.set_title("%s %s: %s (%s is better)" % (bench, case, rs[0]["unit"],
                                                   "lower" if lower else "higher"),
                     fontsize=10, loc="left")
        top = max(values) if any(values) else 1
        for i, (r, good, v) in enumerate(zip(rs, ok, values)):
            text = ("%.3g %s" % (v, r["unit"])) if good else r["status"]
            ax.text(v if good else top * 0.01, i, " " + text, va="center", fontsize=8)
    if machines:
        m = machines[0]
        fig.suptitle("ferry bench: %s CPUs, %s" % (m.get("nproc", "?"), m.get("cpu", "?")),
                     fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def main():
    ap = argparse.ArgumentParser(description="Draws ferry bench --json output.")
    ap.add_argument("-o", "--output", default="bench.svg",
                    help="the chart to write (.svg, .png or .pdf); default bench.svg")
    ap.add_argument("files", nargs="*", type=argparse.FileType("r"),
                    help="JSON lines from ferry bench --json (default: stdin)")
    a = ap.parse_args()
    machines, results = read(a.files or [sys.stdin])
    draw(machines, results, a.output)
    print("chart.py: %d results in %d panels -> %s" % (len(results), len(panels(results)),
                                                        a.output))


if __name__ == "__main__":
    main()
