#!/usr/bin/env python3
"""Reads the logs bench/all.sh wrote into DIR and writes DIR/summary.json: every figure of
docs/BENCHMARKS.md it can find, with its goal, whether the goal is met, and the load average
of its run. Prints the same as a Markdown table.

    bench/summary.py DIR

A figure whose benchmark did not run or whose line is missing from its log is listed with
"value": null and the reason, never left out: a missing figure shows.
"""

import json
import os
import re
import sys


def read(d, name):
    try:
        with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def number(pattern, text, group=1):
    if text is None:
        return None
    m = re.search(pattern, text, re.M)
    return float(m.group(group).replace(",", "")) if m else None


def ms(value, unit):
    return value * {"s": 1000, "ms": 1, "µs": 0.001, "us": 0.001}[unit]


def hyperfine_mean_ms(text):
    """The first `Time (mean ± σ): X unit` of a hyperfine log, in ms."""
    if text is None:
        return None
    m = re.search(r"Time \(mean ± σ\):\s+([\d.]+) (s|ms|µs)", text)
    return ms(float(m.group(1)), m.group(2)) if m else None


def wrk_p99_ms(text):
    if text is None:
        return None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return ms(float(m.group(1)), m.group(2)) if m else None


def main():
    d = sys.argv[1]
    runs = {}
    for line in (read(d, "runs.jsonl") or "").splitlines():
        if line.strip():
            r = json.loads(line)
            runs[r["name"]] = r
    figures = []

    def figure(bench, name, value, unit, goal, op, reference=None, note=None):
        """`op`: "<=" or ">=" (the goal's direction); `reference`: what it is compared with."""
        run = runs.get(bench)
        met = None
        if value is not None and goal is not None:
            met = value <= goal if op == "<=" else value >= goal
        entry = {
            "benchmark": bench,
            "figure": name,
            "value": None if value is None else round(value, 3),
            "unit": unit,
            "goal": f"{op} {goal} {unit}" if goal is not None else None,
            "met": met,
            "load_average": run and [run["load_before"], run["load_after"]],
            "exit": run and run["exit"],
        }
        if reference is not None:
            entry["reference"] = reference
        if value is None:
            entry["why_missing"] = (
                "not run" if run is None else f"no such line in {bench}.log (exit {run['exit']})"
            )
        if note:
            entry["note"] = note
        figures.append(entry)

    # The figures of issue "Performance at the limit".
    serve = None
    text = read(d, "serve_chinook.json")
    if text:
        serve = json.loads(text.strip().splitlines()[-1])
    floors = {}
    for kind, goal in (("access", 9), ("erasure", 16)):
        row = serve and next(
            (r for r in serve["results"] if r["kind"] == kind and r["read"] == "wait"), None
        )
        value = row and row["median_ms"]
        floors[kind] = row and row["floor_ms"]
        figure("serve_chinook", f"one {kind} through pledge serve, Chinook on PostgreSQL, POST to completed (median)", value, "ms", goal, "<=")
        ratio = row and row["median_ms"] / row["floor_ms"]
        figure("serve_chinook", f"the same {kind}, times the hand-written floor (pgbench, one warm connection)", ratio, "x", 2, "<=", reference=floors[kind] and f"floor {floors[kind]} ms")
        poll = serve and next(
            (r for r in serve["results"] if r["kind"] == kind and r["read"] != "wait"), None
        )
        figure("serve_chinook", f"the same {kind}, read every millisecond instead of ?wait", poll and poll["median_ms"], "ms", None, "<=")

    req = os.path.join(d, "requests")
    for kind, what, goal in (("access", "access", 30), ("erasure", "erase", 60)):
        value = None
        try:
            with open(os.path.join(req, f"postgres-{what}.json"), encoding="utf-8") as f:
                value = json.load(f)["results"][0]["median"] * 1000
        except (OSError, KeyError, ValueError, IndexError):
            pass
        figure("requests_cli", f"one {kind} as a whole CLI process, Chinook on PostgreSQL (median)", value, "ms", goal, "<=", reference="23.9 / 27.9 ms before this round")

    text = read(d, "retain.log")
    figure("retain", "retention sweep, 1M expired of 5M rows with a dependent table, batches of 1,000, times hand-written", number(r"^ratio:\s+([\d.]+)x", text), "x", 1.3, "<=",
           reference=(lambda p, h: p is not None and h is not None and f"pledge {p} s, hand-written {h} s")(number(r"^pledge retain:\s+([\d.]+) s", text), number(r"^hand-written DELETE:\s+([\d.]+) s", text)))

    text = read(d, "start.log")
    figure("start", "verify 1M consent ledger events (median of 3)", number(r"verify \d+ events: median ([\d.]+) s", text), "s", 1, "<=")
    figure("start", "start a server with 1M ledger events to ready, from the index snapshot (median)", number(r"from the snapshot: median ([\d.]+) s", text), "s", 0.5, "<=",
           reference=(lambda v: v is not None and f"without a snapshot {v} s")(number(r"start with no snapshot[^:]*: ([\d.]+) s", text)))

    text = read(d, "decisions.log")
    figure("decisions", "decision API over HTTP, throughput as a share of the trivial handler", number(r": (\d+)% of the trivial handler", text), "%", 70, ">=")
    decide_block = text and text.split("== decisions:")[-1]
    figure("decisions", "decision API over HTTP, p99 latency", wrk_p99_ms(decide_block), "ms", 2, "<")

    text = read(d, "scale.log")
    export_ratio = number(r"^\| export \(access\), median of \d+ \| [\d.]+ s \([^)]*\) \| [\d.]+ s \([^)]*\) \| ([\d.]+) \|", text)
    figure("scale", "batch export of 10,000 of 1M people, times hand-written", export_ratio, "x", 1.2, "<=")
    erase_ratio = number(r"^\| erasure, median of \d+ \| [\d.]+ s \([^)]*\) \| [\d.]+ s \([^)]*\) \| ([\d.]+) \|", text)
    figure("scale", "batch erasure of 10,000 of 1M people, times hand-written", erase_ratio, "x", 1.5, "<=")

    # The other figures of docs/BENCHMARKS.md.
    figure("check", "pledge check, 2,000 purposes (mean)", hyperfine_mean_ms(read(d, "check.log")), "ms", 100, "<=")
    figure("notice", "pledge notice --format html, 2,000 purposes (mean)", hyperfine_mean_ms(read(d, "notice.log")), "ms", 200, "<=")
    figure("serve_intake", "intake throughput, SQLite store", number(r"^Requests/sec:\s+([\d.]+)", read(d, "serve_intake.log")), "requests/s", 2000, ">=")
    figure("serve_access_demo", "one access request, pledge serve --demo (SQLite), polled every ms (median)", number(r"^median ([\d.]+) ms", read(d, "serve_access_demo.log")), "ms", 100, "<=")
    text = read(d, "console.log") or ""
    for line in text.splitlines():
        if line.startswith("{") and '"page"' in line:
            r = json.loads(line)
            figure("console", f"console {r['page']} with {r['requests']:,} requests, {r['store']} (median)", r["median_ms"], "ms", 50, "<=")
    if "console" in runs and not any(f["benchmark"] == "console" for f in figures):
        figure("console", "console pages with 100,000 requests", None, "ms", 50, "<=")

    text = read(d, "fides.log")
    if text is not None:
        m = re.findall(r"SUMMARY (\{.*\})", text)
        summary = json.loads(m[-1]) if m else {}
        for kind in ("access", "erasure"):
            fides = None
            for key in (f"{kind}_median_s", f"{kind}_median"):
                if key in summary:
                    fides = float(summary[key]) * 1000
            if fides is None and isinstance(summary.get(kind), dict):
                fides = float(summary[kind].get("median_s", summary[kind].get("median", "nan"))) * 1000
            ours = next((f["value"] for f in figures if f["figure"].startswith(f"one {kind} through pledge serve")), None)
            goal = 70 if kind == "access" else 80
            figure("fides", f"Fides 2.86 {kind} over Pledge through pledge serve, same run", fides and ours and fides / ours, "x", goal, ">=", reference=fides and f"Fides median {fides:.0f} ms")

    with open(os.path.join(d, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"runs": list(runs.values()), "figures": figures}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("| benchmark | figure | value | goal | met | load average (before, after) |")
    print("|---|---|---|---|---|---|")
    for f in figures:
        value = "-" if f["value"] is None else f"{f['value']} {f['unit']}"
        met = {True: "yes", False: "**no**", None: "-"}[f["met"]]
        load = " / ".join(f["load_average"]) if f["load_average"] else "-"
        print(f"| {f['benchmark']} | {f['figure']} | {value} | {f['goal'] or '-'} | {met} | {load} |")


if __name__ == "__main__":
    main()
