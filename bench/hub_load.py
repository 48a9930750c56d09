"""Many learners on one machine: the same Day 4 notebook at full size in K kernels at once.

    python -m bench.hub_load [--notebook solutions/day4/4_6_normalization_family.ipynb]
                             [--k 1 2 4 8] [--threads 1 2]

For every K and every BLAS thread setting, K learner kernels (each started by its own nbclient
process, kernel and client talking over loopback, as a single-user server's kernels do) execute
the notebook at full size at the same moment; reported: each learner's wall time (median and
max over the K), the CPU time they used together, and the load average. ``--threads 1`` is the
hub's pinning with a CPU share of one core (deploy/jupyterhub/jupyterhub_config.py:
OPENBLAS/OMP/MKL_NUM_THREADS = the learner's whole cores); ``--threads N`` with N > 1 is a server
left to OpenBLAS's default on an N-core machine (one thread per core).

From the table: learners per core = the largest K / cores whose median wait stays within the
acceptable factor of the K = 1 time (``--acceptable``, default 2: a notebook that takes 10 s alone
may take 20 s at a busy hour). Not a unit test: minutes at full size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.notebooks import REPO, TIMEOUT_SECONDS, _children_cpu_seconds

DEFAULT_NOTEBOOK = REPO / "solutions" / "day4" / "4_6_normalization_family.ipynb"


def run_k(notebook: Path, k: int, threads: int) -> dict[str, float]:
    """K executions of the notebook at once, each in its own process and kernel."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    env.pop("DLCOURSE_QUICK", None)
    env.pop("NBGRADER_EXECUTION", None)
    load = os.getloadavg()[0]
    cpu0 = _children_cpu_seconds()
    starts, procs = [], []
    for _ in range(k):
        starts.append(time.perf_counter())
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.notebooks", str(notebook)],
                                      cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    walls = []
    for start, proc in zip(starts, procs, strict=True):
        proc.wait(timeout=TIMEOUT_SECONDS * k)
        walls.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"a learner's notebook failed: {proc.stderr.read()[-300:]!r}")
    return {"k": k, "threads": threads, "median_s": statistics.median(walls), "max_s": max(walls),
            "cpu_s": _children_cpu_seconds() - cpu0, "load_start": load,
            "load_end": os.getloadavg()[0]}


def learners_per_core(rows: list[dict[str, float]], cores: int, acceptable: float) -> float:
    """The largest K / cores whose median wait stays within ``acceptable`` x the K = 1 time."""
    alone = next(row["median_s"] for row in rows if row["k"] == 1)
    fits = [row["k"] for row in rows if row["median_s"] <= acceptable * alone]
    return max(fits) / cores


def summary(runs: list[list[dict[str, float]]], cores: int, acceptable: float) -> list[str]:
    """One row per (threads, K) over the separate runs: median and min-max of each run's median."""
    lines = ["| BLAS threads per learner | K | per-learner wall: median of the runs (min–max) | "
             "x the K = 1 time: median (min–max) | load average (1 min) over the runs |",
             "|---:|---:|---:|---:|---|"]
    keys = [(row["threads"], row["k"]) for row in runs[0]]
    for threads, k in keys:
        mine = [next(r for r in run if (r["threads"], r["k"]) == (threads, k)) for run in runs]
        alone = [next(r for r in run if (r["threads"], r["k"]) == (threads, 1))["median_s"]
                 for run in runs]
        walls = [r["median_s"] for r in mine]
        factors = [r["median_s"] / a for r, a in zip(mine, alone, strict=True)]
        loads = [v for r in mine for v in (r["load_start"], r["load_end"])]
        lines.append(f"| {threads} | {k} | {statistics.median(walls):.1f} s ({min(walls):.1f}–"
                     f"{max(walls):.1f}) | {statistics.median(factors):.2f} ({min(factors):.2f}–"
                     f"{max(factors):.2f}) | {min(loads):.1f} to {max(loads):.1f} |")
    lines.append("")
    for threads in dict.fromkeys(t for t, _ in keys):
        per_run = [learners_per_core([r for r in run if r["threads"] == threads], cores,
                                     acceptable) for run in runs]
        lines.append(f"{threads} BLAS thread(s) per learner: learners per core within "
                     f"{acceptable:g}x the K = 1 time, per run: "
                     f"{', '.join(f'{v:g}' for v in per_run)} (median "
                     f"{statistics.median(per_run):g})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--acceptable", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="separate runs of the whole table, then a summary over them")
    args = parser.parse_args(argv)
    if 1 not in args.k:
        parser.error("--k must include 1: every factor is against one learner alone")
    args.notebook = args.notebook.resolve()
    cores = os.cpu_count() or 1
    print(f"{args.notebook.relative_to(REPO)} at full size, {cores} cores; per learner: wall time "
          "from process start to the notebook's end (kernel start included)\n")
    runs = []
    for run in range(args.repeat):
        print(f"run {run + 1} of {args.repeat}\n")
        print("| BLAS threads per learner | K | learners per core | per-learner wall: median "
              "(max) | CPU, all K | x the K = 1 time | load average start → end |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        rows = []
        for threads in args.threads:
            alone = None
            for k in sorted(args.k):
                row = run_k(args.notebook, k, threads)
                rows.append(row)
                alone = alone or row["median_s"]
                print(f"| {threads} | {k} | {k / cores:.1f} | {row['median_s']:.1f} s "
                      f"({row['max_s']:.1f} s) | {row['cpu_s']:.1f} s | "
                      f"{row['median_s'] / alone:.2f} | {row['load_start']:.1f} → "
                      f"{row['load_end']:.1f} |", flush=True)
        runs.append(rows)
        print()
    print(f"summary of {len(runs)} run(s)\n")
    print("\n".join(summary(runs, cores, args.acceptable)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
