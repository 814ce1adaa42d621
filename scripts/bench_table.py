#!/usr/bin/env python3
"""Prints the benchmark table from the results scripts/bench.sh keeps in target/bench-results.

Each caller-side figure is the median over runs of criterion's median, with the range of the
run medians; ratios are taken within each run (both sides measured minutes apart at most),
then summarised the same way.
"""

import glob
import json
import os
import platform
import statistics
import sys

COLUMNS = ["noop", "error-tracker", "tracing-error", "sentry-tracing", "fmt-to-sink"]
WORKLOADS = [
    ("1_span_3_fields", "(1) span with 3 fields", "noop", 2.0),
    ("2_info_event_in_span", "(2) info! in one span", "noop", 1.1),
    ("3_error_in_3_spans", "(3) error! in 3 spans", "sentry-tracing", 0.5),
    ("4_error_after_100_infos", "(4) (3) after 100 info!", "sentry-tracing", 0.5),
]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def median_ns(path):
    data = load(path)
    return data["median"]["point_estimate"] if data else None


def fmt_time(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def summary(values, show):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mid = show(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({show(min(values))}–{show(max(values))})"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, {mem}, {platform.system()} {platform.release()}, load {load:.1f}"


def main(out):
    runs = sorted(glob.glob(os.path.join(out, "runs", "*")), key=lambda p: int(os.path.basename(p)))
    print(f"Machine: {machine()}")
    print(f"Runs: {len(runs)}; each cell: median of the run medians (min–max)\n")

    print("| workload | " + " | ".join(COLUMNS) + " | error-tracker ratio | target |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for group, label, versus, target in WORKLOADS:
        cells = []
        for column in COLUMNS:
            times = [median_ns(os.path.join(r, group, column, "estimates.json")) for r in runs]
            cells.append(summary(times, fmt_time))
        ratios = []
        for r in runs:
            ours = median_ns(os.path.join(r, group, "error-tracker", "estimates.json"))
            base = median_ns(os.path.join(r, group, versus, "estimates.json"))
            if ours is not None and base:
                ratios.append(ours / base)
        ratio = summary(ratios, lambda x: f"{x:.2f}x")
        met = ratios and statistics.median(ratios) <= target
        verdict = "met" if met else "MISSED"
        if ratios and met and max(ratios) > target:
            verdict = "met (median; not every run)"
        print(
            f"| {label} | " + " | ".join(cells)
            + f" | {ratio} of {versus} | <= {target}x: {verdict} |"
        )

    storms = [load(os.path.join(r, "storm.json")) for r in runs]
    storms = [s for s in storms if s]
    if storms:
        rate = summary([s["occurrences_per_s"] for s in storms], lambda x: f"{x / 1e6:.2f} M/s")
        growth = max(s["peak_rss_growth"] for s in storms) / 1e6
        exact = all(s["exact"] for s in storms)
        met = statistics.median([s["occurrences_per_s"] for s in storms]) >= 1e6 and exact and growth < 64
        cpu = summary([s.get("cpu_ns_per_occurrence") for s in storms], lambda x: f"{x:.0f} ns")
        print(
            f"\n(5) storm, {storms[0]['threads']} threads x {storms[0]['seconds']} s into redb: "
            f"{rate} occurrences/s, counted {'exactly' if exact else 'NOT exactly'} in every run, "
            f"peak RSS growth at most {growth:.1f} MB "
            f"(target >= 1 M/s exact, < 64 MB: {'met' if met else 'MISSED'}); "
            f"CPU time per occurrence (callers and worker): {cpu}"
        )

    storage = os.path.join(out, "storage")
    distinct = glob.glob(os.path.join(storage, "ingest", "*distinct*", "estimates.json"))
    if distinct:
        ns = median_ns(distinct[0])
        rate = 100_000 / (ns / 1e9)
        print(
            f"(6) 100,000 distinct errors into redb: {fmt_time(ns)} per 100,000, {rate:,.0f} occurrences/s "
            f"(target >= 200,000/s: {'met' if rate >= 200_000 else 'MISSED'})"
        )
    for page in ("page 1", "page 100"):
        ns = median_ns(os.path.join(storage, "list 100k errors", page, "estimates.json"))
        if ns is not None:
            print(
                f"(7) list {page} at 100,000 errors: {fmt_time(ns)} "
                f"(target <= 1 ms: {'met' if ns <= 1e6 else 'MISSED'})"
            )
    floor = load(os.path.join(out, "redb_floor.json"))
    if floor:
        print("\nredb alone, 100,000 new errors (benches/redb_floor.rs), errors/s:\n")
        print("| layout | batch | errors/s |")
        print("|---|---|---|")
        for row in floor:
            print(f"| {row['layout']} | {row['batch']:,} | {row['errors_per_sec']:,.0f} |")
        print()

    instructions = {}
    try:
        with open(os.path.join(out, "instructions.tsv")) as f:
            for line in f:
                w, column, count = line.split("\t")
                instructions[(int(w), column)] = int(count)
    except (OSError, ValueError):
        pass
    if instructions:
        print("\nInstructions per operation (callgrind; independent of the machine's load):\n")
        print("| workload | " + " | ".join(COLUMNS) + " | error-tracker ratio |")
        print("|---" * (len(COLUMNS) + 2) + "|")
        for w, (group, label, versus, _) in enumerate(WORKLOADS[:3], start=1):
            cells = [f"{instructions[(w, c)]:,}" if (w, c) in instructions else "—" for c in COLUMNS]
            ours, base = instructions.get((w, "error-tracker")), instructions.get((w, versus))
            ratio = f"{ours / base:.2f}x of {versus}" if ours and base else "—"
            print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")

    allocations = load(os.path.join(out, "allocations.json"))
    if allocations:
        print("\nAllocations per operation on the calling thread (bytes):\n")
        print("| workload | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for group, label, _, _ in WORKLOADS:
            row = allocations.get(group)
            if not row:
                continue
            cells = [
                f"{row[c]['allocations']:.0f} ({row[c]['bytes']:.0f} B)" if c in row else "—"
                for c in COLUMNS
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")

    backtraces(out)


def backtraces(out):
    """The backtrace modes of an error! on a hot callsite, and a panic's capture."""
    base = os.path.join(out, "backtraces")
    error_rows = ["off", "new_callsites", "always", "sentry-tracing"]
    times = {r: median_ns(os.path.join(base, "5_error_backtraces", r, "estimates.json")) for r in error_rows}
    if not any(times.values()):
        return
    instructions = {}
    try:
        with open(os.path.join(out, "backtrace_instructions.tsv")) as f:
            for line in f:
                mode, count = line.split("\t")
                instructions[mode] = int(count)
    except (OSError, ValueError):
        pass
    print("\nBacktraces, (3) on one hot callsite (benches/backtraces.rs):\n")
    print("| backtraces | time | ratio to off | instructions | ratio to off | target |")
    print("|---|---|---|---|---|---|")
    for row in error_rows:
        t, off = times.get(row), times.get("off")
        ratio = f"{t / off:.2f}x" if t and off else "—"
        n, n_off = instructions.get(row), instructions.get("off")
        n_ratio = f"{n / n_off:.2f}x" if n and n_off else "—"
        target = "≤ 1.1x" if row == "new_callsites" else ""
        print(f"| {row} | {fmt_time(t)} | {ratio} | {f'{n:,}' if n else '—'} | {n_ratio} | {target} |")
    breadcrumbs(out, base)
    panic_rows = ["no_hook", "without_backtrace", "with_backtrace"]
    print("\nA panic caught with catch_unwind:\n")
    print("| hook | time | ratio to no hook |")
    print("|---|---|---|")
    floor = median_ns(os.path.join(base, "6_panic_capture", "no_hook", "estimates.json"))
    for row in panic_rows:
        t = median_ns(os.path.join(base, "6_panic_capture", row, "estimates.json"))
        ratio = f"{t / floor:.2f}x" if t and floor else "—"
        print(f"| {row} | {fmt_time(t)} | {ratio} |")


def breadcrumbs(out, base):
    """info! in one span with breadcrumbs off and on, the floor, and sentry-tracing."""
    rows = ["noop", "breadcrumbs_off", "breadcrumbs_on", "lookup_and_format_floor", "sentry-tracing"]
    times = {r: median_ns(os.path.join(base, "7_info_breadcrumbs", r, "estimates.json")) for r in rows}
    if not any(times.values()):
        return
    counts = {}
    try:
        with open(os.path.join(out, "breadcrumb_instructions.tsv")) as f:
            for line in f:
                key, count = line.split("\t")
                counts[{"0": "breadcrumbs_off", "20": "breadcrumbs_on", "floor": "lookup_and_format_floor"}[key]] = int(count)
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(out, "instructions.tsv")) as f:
            for line in f:
                w, column, count = line.split("\t")
                if w == "2" and column in ("noop", "sentry-tracing"):
                    counts[column] = int(count)
    except (OSError, ValueError):
        pass
    print("\nBreadcrumbs, (2) an info! in one span (benches/context.rs):\n")
    print("| layer | time | ratio to noop | ratio to sentry | instructions | ratio to sentry | target |")
    print("|---|---|---|---|---|---|---|")
    targets = {"breadcrumbs_off": "1.0x noop", "breadcrumbs_on": "≤ 0.2x sentry"}
    for row in rows:
        t, noop, sentry = times.get(row), times.get("noop"), times.get("sentry-tracing")
        n, n_sentry = counts.get(row), counts.get("sentry-tracing")
        print(
            f"| {row} | {fmt_time(t)} | {f'{t / noop:.2f}x' if t and noop else '—'} | "
            f"{f'{t / sentry:.2f}x' if t and sentry else '—'} | {f'{n:,}' if n else '—'} | "
            f"{f'{n / n_sentry:.2f}x' if n and n_sentry else '—'} | {targets.get(row, '')} |"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench-results")
