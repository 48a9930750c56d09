"""Repeated runs: the same bench in N separate processes, and the spread of each figure across them.

    python -m bench --repeat 3 --skip notebooks --skip grading --rounds 15

A figure that another run cannot reproduce within its spread is not a figure. ``--repeat N``
runs the selected groups N times, one after the other, each in a fresh Python process (a fresh
heap: where numpy's and PyTorch's arrays land changes from process to process, and with it the
speed of some operations), and prints for every contender the paired ratio of each run, their
median, min and max, our time per call across runs, and the load average at the start and end
of each run. Each run also prints its own table, with the spread over its rounds.

docs/performance.md quotes the median over runs with the min–max beside it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def strip_repeat(argv: list[str]) -> list[str]:
    """argv without ``--repeat N`` / ``--repeat=N`` and without --json / --markdown (per run)."""
    result: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--repeat", "--json", "--markdown"):
            skip = True
            continue
        if arg.startswith(("--repeat=", "--json=", "--markdown=")):
            continue
        result.append(arg)
    return result


def run(argv: list[str], runs: int) -> list[dict[str, Any]]:
    """The JSON results of ``runs`` separate `python -m bench` processes with these arguments."""
    results = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as tmp:
        for i in range(runs):
            out = Path(tmp) / f"run{i}.json"
            print(f"\n=== run {i + 1} of {runs} (a fresh process) ===", flush=True)
            subprocess.run([sys.executable, "-m", "bench", *argv, "--json", str(out)], check=True)
            results.append(json.loads(out.read_text()))
    return results


def _load(load: Any) -> str:
    return "?" if not load else f"{load[0]:.1f}"


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def summary(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per contender, its ratio in every run, median, min–max; the loads."""
    names: list[str] = []
    for result in results:
        for pair in result["pairs"]:
            if pair["name"] not in names:
                names.append(pair["name"])
    loads = ", ".join(
        f"{_load(r['machine'].get('load_average'))} → {_load(r['machine'].get('load_average_end'))}"
        for r in results
    )
    lines = [
        f"{len(results)} separate runs; load average (1 min) at the start → end of each run: "
        f"{loads}.",
        "Ratio: PyTorch time / our time, the median over the rounds of each run; the summary is "
        "the median over runs (min–max over runs). Ours: our median time per call in each run.",
        "",
        "| contender | ratio per run | ratio: median (min–max) | ours: median (min–max) "
        "| target | met by the median | met by every run |",
        "|---|---|---:|---:|---:|:-:|:-:|",
    ]
    for name in names:
        pairs = [p for r in results for p in r["pairs"] if p["name"] == name]
        ours = [p["ours_s"] for p in pairs]
        ratios = [p["ratio"] for p in pairs if p["ratio"] is not None]
        target = pairs[0]["target"]
        if ratios:
            per_run = ", ".join(f"{v:.2f}" for v in ratios)
            ratio_text = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
        else:
            per_run, ratio_text = "-", "-"
        if target is None or not ratios:
            met_median = met_all = "-"
        else:
            met_median = "yes" if statistics.median(ratios) >= target else "**no**"
            met_all = "yes" if min(ratios) >= target else "**no**"
        ours_text = f"{_time(statistics.median(ours))} ({_time(min(ours))}–{_time(max(ours))})"
        target_text = "-" if target is None else f">= {target}"
        lines.append(f"| {name} | {per_run} | {ratio_text} | {ours_text} | {target_text} "
                     f"| {met_median} | {met_all} |")
    return "\n".join(lines)


def main(argv: list[str], runs: int, markdown: str | None, json_path: str | None) -> int:
    results = run(strip_repeat(argv), runs)
    table = summary(results)
    print(f"\n=== summary of {runs} runs ===\n")
    print(table)
    if markdown:
        Path(markdown).write_text(table + "\n")
    if json_path:
        Path(json_path).write_text(json.dumps({"runs": results}, indent=2, default=str))
    return 0
