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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--acceptable", type=float, default=2.0)
    args = parser.parse_args(argv)
    args.notebook = args.notebook.resolve()
    cores = os.cpu_count() or 1
    print(f"{args.notebook.relative_to(REPO)} at full size, {cores} cores; per learner: wall time "
          "from process start to the notebook's end (kernel start included)\n")
    print("| BLAS threads per learner | K | learners per core | per-learner wall: median "
          "(max) | CPU, all K | x the K = 1 time | load average start → end |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for threads in args.threads:
        alone = None
        for k in args.k:
            row = run_k(args.notebook, k, threads)
            alone = alone or row["median_s"]
            print(f"| {threads} | {k} | {k / cores:.1f} | {row['median_s']:.1f} s "
                  f"({row['max_s']:.1f} s) | {row['cpu_s']:.1f} s | "
                  f"{row['median_s'] / alone:.2f} | {row['load_start']:.1f} → "
                  f"{row['load_end']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
