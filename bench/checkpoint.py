"""What one checkpoint of the grading guard costs, with dictionary version tags and without.

    python -m bench.checkpoint [--runs 3] [--calls 2000]

A grading or Validate kernel runs a checkpoint (``autograder.guard.Snapshot.changed_now``) before
every step of every test: 500 to 1,200 of them in a Day 4 notebook, most inside the loss functions
of numerical gradients. Each run here is a fresh Python process (``--runs`` separate ones) that
imports what a Day 4 setup cell imports (numpy, matplotlib.pyplot, ``course``, the guard's
preload and ``autograder.checks``), takes two snapshots of that state as the guard's first call
does, one that trusts the interpreter's dictionary version tags (the default) and one that
compares every namespace at every checkpoint (as on an interpreter whose tags cannot be trusted),
and times ``changed_now`` on both in alternating blocks of 100 calls (CPU time of the process).
Both must find nothing changed. Printed: per run, the median µs per call of each over the blocks
and their ratio; then the median over runs with min–max, and the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from bench.harness import load_average

BLOCK = 100


def _one(calls: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import numpy  # noqa: F401

    import course.gradcheck
    import course.layers
    import course.net
    import course.normalization  # noqa: F401
    from autograder import guard

    guard._preload()
    tagged = guard.Snapshot(None)
    if not tagged.version_views:
        raise SystemExit("version tags are not trusted on this interpreter: nothing to compare")
    full = guard.Snapshot(None)  # the same, made to compare every namespace at every checkpoint
    full._tag(trusted=False)
    times: dict[str, list[float]] = {"tags": [], "full": []}
    for block in range(max(1, calls // BLOCK)):
        order = ("tags", "full") if block % 2 == 0 else ("full", "tags")
        for mode in order:
            snapshot = tagged if mode == "tags" else full
            watch = guard._Watch(snapshot)
            start = time.process_time()
            for _ in range(BLOCK):
                found = snapshot.changed_now(watch)
            times[mode].append((time.process_time() - start) / BLOCK * 1e6)
            if found:
                raise SystemExit(f"a checkpoint found changes in an untouched process: {found}")
    return {"tags_us": statistics.median(times["tags"]),
            "full_us": statistics.median(times["full"]),
            "namespaces": len(tagged.quick),
            "entries": sum(len(entries) for _, entries, *_ in tagged.quick)}


def _load() -> float:
    """The 1-minute load average (nan where the system has none)."""
    return (load_average() or (float("nan"),))[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="separate processes (default 3)")
    parser.add_argument("--calls", type=int, default=2000, help="checkpoints per mode and run")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.calls < BLOCK:
        parser.error(f"--runs must be at least 1 and --calls at least {BLOCK}")
    if args.one:
        print(json.dumps(_one(args.calls)))
        return 0
    results = []
    for run in range(1, args.runs + 1):
        before = _load()
        done = subprocess.run([sys.executable, "-m", "bench.checkpoint", "--one",
                               "--calls", str(args.calls)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
            return done.returncode
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["load"] = (before, _load())
        results.append(result)
        print(f"run {run}: {result['tags_us']:.1f} µs per checkpoint with version tags, "
              f"{result['full_us']:.1f} µs comparing every namespace "
              f"({result['namespaces']} namespaces, {result['entries']} entries): "
              f"{result['full_us'] / result['tags_us']:.1f}x; load {before:.1f} → "
              f"{result['load'][1]:.1f}", flush=True)
    tags = [r["tags_us"] for r in results]
    full = [r["full_us"] for r in results]
    ratios = [f / t for f, t in zip(full, tags, strict=True)]
    print(f"\n{len(results)} separate runs: with version tags {statistics.median(tags):.1f} µs "
          f"({min(tags):.1f}–{max(tags):.1f}), every namespace {statistics.median(full):.1f} µs "
          f"({min(full):.1f}–{max(full):.1f}), ratio {statistics.median(ratios):.1f} "
          f"({min(ratios):.1f}–{max(ratios):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
