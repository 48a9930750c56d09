"""What limits grading on a Dask cluster as workers are added (issue 13, the scaling model).

One ``grade`` process plans the batch, hands the jobs to the scheduler and records every result
in the gradebook, one after another; the workers grade in parallel. With ``N`` notebooks, ``W``
workers, ``g`` seconds of grading per notebook on a worker and ``c`` seconds of serial work per
notebook in the coordinating process and the scheduler,

    T(W) ≈ N · max(g / W, c)

so adding workers helps until ``W* = g / c``; past it the coordinator is the limit. This module
measures ``c``'s parts in isolation, on this machine:

* **Dask round trip per job** (``dask_round_trip``): jobs of the size of a Day 4 job (the
  notebook, ~60 KB) through a real scheduler and two workers (``bench.dask_cluster``) that grade
  nothing and send back a result of the size of an autograded notebook: what the scheduler, the
  client and the transfers cost per notebook.
* **Gradebook writes** (``bench.postgres.record_rate``): ``gradebook.record`` into PostgreSQL
  (loopback; fsync off and on) and SQLite.

and prints ``T(W)`` for 95,000 notebooks (5,000 learners x 19) at 10, 100 and 1,000 workers with
``g`` given (``--grade-seconds``, default 3.2 s: a Day 4 notebook on one worker, measured on the
quiet machine, docs/performance.md).

    python -m bench.scaling [--jobs 300] [--records 200] [--grade-seconds 3.2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import load_average

JOB_BYTES = 60_000  # a Day 4 job: the submitted notebook as JSON
RESULT_BYTES = 150_000  # its autograded notebook with outputs
NOTEBOOKS = 95_000  # 5,000 learners x 19 notebooks
REPO = Path(__file__).resolve().parent.parent


def echo_job(source: str, key: int) -> bytes:
    """A worker's stand-in for grading: a result of ``RESULT_BYTES`` bytes."""
    return bytes([key % 256]) * RESULT_BYTES


def dask_round_trip(jobs: int, workers: int = 2) -> tuple[float, float]:
    """(wall seconds per job, CPU seconds per job of this process and the scheduler) for
    ``jobs`` empty jobs, submitted at once and gathered as they finish (as ``grading._run``
    does), on a local cluster of ``workers`` workers."""
    from concurrent.futures import FIRST_COMPLETED, wait

    from distributed import Client

    from bench.dask_cluster import LocalDaskCluster
    from bench.postgres import tree_cpu_seconds

    with tempfile.TemporaryDirectory(prefix="dlc-bench-scaling-") as folder:
        with LocalDaskCluster(Path(folder)) as cluster:
            names = {f"w{i}" for i in range(workers)}
            for name in names:
                cluster.add_worker(name, {"PYTHONPATH": str(REPO)}, wait=False)
            cluster.wait_for_workers(names)
            with Client(cluster.address, set_as_default=False) as client:
                executor = client.get_executor()
                client.submit(echo_job, "warm", 0).result()
                source = "x" * JOB_BYTES
                assert cluster.scheduler is not None
                scheduler = tree_cpu_seconds(cluster.scheduler.pid)
                start, cpu = time.perf_counter(), time.process_time()
                pending = {executor.submit(echo_job, source + str(i), i) for i in range(jobs)}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        assert len(future.result()) == RESULT_BYTES
                seconds = time.perf_counter() - start
                cpu = (time.process_time() - cpu
                       + tree_cpu_seconds(cluster.scheduler.pid) - scheduler)
                return seconds / jobs, cpu / jobs


def model(grade_seconds: float, serial_seconds: float,
          workers: tuple[int, ...] = (10, 100, 1000)) -> list[tuple[int, float, str]]:
    """(workers, hours for ``NOTEBOOKS``, what limits) for each worker count."""
    rows = []
    for w in workers:
        per_notebook = max(grade_seconds / w, serial_seconds)
        limit = "workers" if grade_seconds / w >= serial_seconds else "coordinator"
        rows.append((w, NOTEBOOKS * per_notebook / 3600, limit))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300, help="empty jobs through Dask")
    parser.add_argument("--records", type=int, default=200, help="results to record")
    parser.add_argument("--grade-seconds", type=float, default=3.2,
                        help="seconds to grade one notebook on one worker")
    args = parser.parse_args(argv)
    from bench.postgres import record_rate, throwaway_server

    print(f"dlcourse scaling bench, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} "
          f"cores, load average {load_average()}", flush=True)
    round_trip, trip_cpu = dask_round_trip(args.jobs)
    print(f"Dask round trip per job ({JOB_BYTES // 1000} KB in, {RESULT_BYTES // 1000} KB out, "
          f"2 workers): {1000 * round_trip:.1f} ms wall, {1000 * trip_cpu:.1f} ms CPU "
          "(client and scheduler)", flush=True)
    rates = {}
    for fsync in (False, True):
        with throwaway_server("dlcourse_scaling", fsync=fsync) as url:
            rates[f"PostgreSQL, fsync {'on' if fsync else 'off'}"] = record_rate(url, args.records)
    with tempfile.TemporaryDirectory(prefix="dlc-bench-sqlite-") as folder:
        rates["SQLite"] = record_rate(f"sqlite:///{folder}/gradebook.db", args.records)
    for name, (rate, cpu) in rates.items():
        print(f"gradebook.record into {name}: {rate:.1f} records/s ({1000 / rate:.1f} ms wall "
              f"each), {1000 * cpu:.1f} ms CPU each (client and server)", flush=True)
    # CPU time, not wall time: on a shared machine the wall time is inflated by the load, and
    # g (measured on the quiet machine) is close to its CPU time.
    for name, (_, cpu) in rates.items():
        serial = trip_cpu + cpu
        print(f"\nModel with {name} (c = {1000 * serial:.0f} ms CPU, g = {args.grade_seconds} s, "
              f"W* = {args.grade_seconds / serial:.0f} workers), {NOTEBOOKS} notebooks:")
        for w, hours, limit in model(args.grade_seconds, serial):
            print(f"  {w:5d} workers: {hours:7.2f} h  (limited by the {limit})")
    print(f"\nload average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
