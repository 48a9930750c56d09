"""A throwaway PostgreSQL server on loopback, and how fast ``gradebook.record`` writes into it.

``throwaway_server()`` runs Debian's ``initdb``/``pg_ctl`` (``/usr/lib/postgresql/*/bin``) in a
temporary folder, as the ``postgres`` user when we are root (they refuse to run as root), with
``fsync=off``: for tests and benchmarks only. ``tests/test_autograder_parallel.py`` uses it.

``record_rate(url, count)`` measures the gradebook's side of grading in isolation (issue 13's
scaling model): ``count`` results of a six-cell notebook, as the coordinating process records
them one after another (one transaction each), into a fresh gradebook at ``url``.

    python -m bench.postgres --count 300          records/s into PostgreSQL and into SQLite
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import load_average

GRADE_CELLS = {f"test_{i}": 2.0 for i in range(6)}  # like a Day 4 notebook
_DATA: dict[str, Path] = {}  # URL of a running throwaway server -> its data folder


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``, its children that ended
    (``cutime``, ``cstime``) and those alive."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid:
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def server_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the throwaway server at ``url`` (0 for any other URL)."""
    data = _DATA.get(url)
    if data is None or not (data / "postmaster.pid").exists():
        return 0.0
    return tree_cpu_seconds(int((data / "postmaster.pid").read_text().split()[0]))


def server_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_server(database: str = "dlcourse_test", fsync: bool = False) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database ``database`` on a new server (``fsync``: as a
    production server, durable commits), stopped and removed on exit. Raises
    ``FileNotFoundError`` when no server binaries are installed."""
    bindir = server_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server: /usr/lib/postgresql/*/bin/pg_ctl")
    # Not under pytest's temporary folder: root's is closed to the postgres user.
    base = Path(tempfile.mkdtemp(prefix="dlc-pg-"))
    data = base / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
        base.chmod(0o755)
        shutil.chown(base, user="postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 60}
    try:
        subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "postgres", "--no-sync"], **run)
        durable = "on" if fsync else "off"
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync={durable}"
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-w", "-l", str(data / "server.log"), "start"], **run)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {database}"))
        engine.dispose()
        url = url.rsplit("/", 1)[0] + f"/{database}"
        _DATA[url] = data
        yield url
        _DATA.pop(url, None)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def record_rate(url: str, count: int, day: str = "day9") -> tuple[float, float]:
    """(results recorded per second of wall time, CPU seconds per result) by ``gradebook.record``
    into the gradebook at ``url``: ``count`` students' results of one notebook with six grade
    cells (assignment ``day``, defined first). The CPU time is this process's and, for a
    throwaway server, the server's: what load on a shared machine does not inflate."""
    from nbgrader.api import Gradebook

    from autograder.config import COURSE_ID
    from autograder.gradebook import NotebookResult, read_status, record
    from autograder.session import _alembic_on_path

    _alembic_on_path()  # nbgrader makes a new SQLite gradebook with the alembic command
    with Gradebook(url, COURSE_ID) as gb:
        gb.update_or_create_assignment(day)
        gb.add_notebook("nb", day)
        for name, points in GRADE_CELLS.items():
            gb.add_grade_cell(name, "nb", day, max_score=points, cell_type="code")
    results = [NotebookResult(f"student{i:05d}", day, "nb", scores=dict(GRADE_CELLS),
                              seconds=3.0, sha256="0" * 64, file="nb.ipynb", version="1" * 64)
               for i in range(count)]
    record(url, results[0])  # the status table is created once, outside the clock
    start, cpu, server = time.perf_counter(), time.process_time(), server_cpu_seconds(url)
    for result in results[1:]:
        record(url, result)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu + server_cpu_seconds(url) - server
    assert len(read_status(url, day)) == count, "not every result was recorded"
    return (count - 1) / seconds, cpu / (count - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="results to record")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}", flush=True)
    for fsync in (False, True):
        with throwaway_server("dlcourse_bench", fsync=fsync) as url:
            rate, cpu = record_rate(url, args.count)
            print(f"PostgreSQL (loopback, fsync {'on' if fsync else 'off'}): {rate:.1f} "
                  f"records/s, {1000 * cpu:.1f} ms CPU each", flush=True)
    with tempfile.TemporaryDirectory(prefix="dlc-bench-sqlite-") as folder:
        rate, cpu = record_rate(f"sqlite:///{folder}/gradebook.db", args.count)
        print(f"SQLite (local disk): {rate:.1f} records/s, {1000 * cpu:.1f} ms CPU each",
              flush=True)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
