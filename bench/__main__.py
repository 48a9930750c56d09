"""`python -m bench` (`make bench`): the course library against PyTorch on the CPU, one thread.

    python -m bench                      everything at full size (notebooks take minutes)
    python -m bench --skip notebooks     the kernels only
    python -m bench --only training conv --rounds 31
    python -m bench --tiny --no-torch    tiny sizes, seconds (what tests/test_bench.py runs)
    python -m bench --only grading       autograder throughput, 40 students (not in the default
                                         run: tens of minutes; python -m bench.grading --help)
    python -m bench --markdown out.md --json out.json
    python -m bench --repeat 3 --skip notebooks --skip grading
                                         three separate runs, and the spread across them

Without PyTorch installed (`pip install torch==2.13.0`) the pairs are timed on our side only
and the table says that PyTorch was skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from bench import (
    gradcheck,
    grading,
    kernels,
    limits,
    mnist,
    notebooks,
    repeat,
    report,
    training,
)
from bench.harness import (
    CheckResult,
    PairResult,
    load_average,
    machine_info,
    measure_pair,
    one_thread,
)

GROUPS = ("training", "batchnorm", "conv", "limits", "gradcheck", "mnist", "notebooks", "grading")
ON_REQUEST = ("grading",)  # run only when named with --only (tens of minutes at full size)


def _import_torch(disabled: bool) -> Any | None:
    if disabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and few rounds (a test)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per pair (default 15; 3)")
    parser.add_argument("--min-sample", type=float,
                        help="seconds per timed sample (default 0.05; tiny 0.001)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time per call: CPU time of this process (default) or wall time")
    parser.add_argument("--only", nargs="+", choices=GROUPS, help="run only these groups")
    parser.add_argument("--skip", nargs="+", choices=GROUPS, default=[], help="skip these groups")
    parser.add_argument("--no-torch", action="store_true", help="do not use PyTorch if installed")
    parser.add_argument("--json", help="write all results to this JSON file")
    parser.add_argument("--markdown", help="write the tables to this Markdown file")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run everything N times, each in a fresh process, and summarise "
                             "the spread of every ratio across the runs (bench/repeat.py)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeat > 1:
        return repeat.main(sys.argv[1:] if argv is None else argv, args.repeat, args.markdown,
                           args.json)
    size = "tiny" if args.tiny else "full"
    rounds = args.rounds or (3 if args.tiny else 15)
    min_sample = args.min_sample or (0.001 if args.tiny else 0.05)
    groups = list(args.only or [g for g in GROUPS if g not in ON_REQUEST])
    if args.tiny and not args.only:
        groups.remove("notebooks")  # minutes even in quick mode; ask for them with --only
    groups = [g for g in groups if g not in args.skip]
    torch = _import_torch(args.no_torch)

    info = machine_info(torch)
    print(report.header(info, args.clock, rounds, torch is not None, size), flush=True)
    pair_results: list[PairResult] = []
    check_results: list[CheckResult] = []
    bandwidths: dict[str, float] = {}
    with one_thread(torch):
        pair_sources = {
            "training": lambda: training.pairs(size, torch),
            "batchnorm": lambda: kernels.batchnorm_pairs(size, torch),
            "conv": lambda: kernels.conv_pairs(size, torch),
        }
        for group, make in pair_sources.items():
            if group not in groups:
                continue
            for pair in make():
                result = measure_pair(pair, rounds, min_sample, args.clock)
                pair_results.append(result)
                print(report.pair_line(result), flush=True)
        if "batchnorm" in groups:
            for shape in kernels.BN_SHAPES[size]:
                bandwidths[str(shape)] = kernels.copy_bandwidth(shape, rounds, min_sample)
        check_sources = {
            "limits": lambda size: limits.checks(size, rounds, min_sample),
            "gradcheck": gradcheck.checks,
            "mnist": mnist.checks,
            "notebooks": notebooks.checks,
            "grading": grading.checks,
        }
        for group, make_checks in check_sources.items():
            if group not in groups:
                continue
            for check in make_checks(size):
                check_results.append(check)
                print(report.check_line(check), flush=True)
    info["load_average_end"] = load_average()
    tables = report.tables(pair_results, check_results, bandwidths, info, torch is not None)
    print()
    print(tables)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(report.header(info, args.clock, rounds, torch is not None, size) + "\n\n")
            out.write(tables + "\n")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": info, "clock": args.clock, "rounds": rounds, "size": size,
                       "pairs": [asdict(r) for r in pair_results],
                       "checks": [asdict(c) for c in check_results],
                       "copy_bandwidth_gb_s": bandwidths}, out, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
