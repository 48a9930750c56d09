"""``grade DAY --workers 2`` at scale: 20 synthetic students (reference, blank, partly correct and
broken copies of the tiny course) graded by the command in two worker processes, into SQLite and
into a real PostgreSQL server, with no error, no lost row and exactly the expected points.

The PostgreSQL server is a throwaway one this module starts on loopback in a temporary folder
(``bench.postgres.throwaway_server``: Debian's ``initdb``/``pg_ctl`` under
/usr/lib/postgresql/*/bin, run as the ``postgres`` user when we are root: they refuse to run as
root), or the server of ``$DLCOURSE_TEST_PG_URL``. The test
is skipped, saying why, when neither is there or the driver (psycopg2) is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import CUBE, DAY, POINTS, SQUARE, make_tiny_course, set_cell

from autograder.collect import collect
from autograder.gradebook import read_status
from autograder.release import release
from autograder.report import grade_table
from autograder.samples import solution_code
from bench.postgres import server_bin, throwaway_server

pytestmark = pytest.mark.slow

STUDENTS = 20  # a cohort: every kind several times, two of them broken JSON
PG_URL_ENV = "DLCOURSE_TEST_PG_URL"
KINDS = {  # kind -> (square, cube, expected points); None: the released stub
    "reference": (solution_code(SQUARE), solution_code(CUBE), POINTS),
    "blank": (None, None, {"test_square": 0.0, "test_cube": 0.0}),
    "partial": (solution_code(SQUARE), "def cube(x):\n    return x * x",
                {"test_square": 2.0, "test_cube": 0.0}),
}


def _cohort(course, tmp: Path) -> dict[str, dict[str, float]]:
    """Write ``STUDENTS`` submissions (one in ten is broken JSON); the points each must get."""
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    returned = tmp / "returned"
    expected = {}
    kinds = list(KINDS)
    for i in range(STUDENTS):
        student = f"s{i:03d}"
        folder = returned / student
        folder.mkdir(parents=True)
        if i % 10 == 9:
            (folder / "tiny.ipynb").write_text('{"cells": [')
            expected[student] = {"test_square": 0.0, "test_cube": 0.0}
            continue
        square, cube, points = KINDS[kinds[i % len(kinds)]]
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        if square is not None:
            set_cell(nb, "square", square)
        if cube is not None:
            set_cell(nb, "cube", cube)
        nbformat.write(nb, folder / "tiny.ipynb")
        expected[student] = points
    return expected


def _grade_cohort(tmp: Path, db_url: str | None = None) -> tuple[float, dict, dict, dict]:
    """Release, ``STUDENTS`` submissions, then ``python -m autograder grade day0 --workers 2``
    (the command itself: its worker processes re-import ``autograder.__main__``)."""
    course = make_tiny_course(tmp)
    if db_url is not None:
        course = course.with_workspace(course.workspace, db_url)
    release(course, DAY)
    expected = _cohort(course, tmp)
    collect(course, DAY, tmp / "returned")
    command = [sys.executable, "-m", "autograder", "--repo", str(course.repo),
               "--workspace", str(course.workspace), "--db-url", course.db_url,
               "grade", DAY, "--workers", "2"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    statuses = read_status(course.db_url, DAY)
    table = grade_table(course, DAY)
    got = {student: row["tiny"].cells for student, row in table.rows.items()}
    run = {"code": done.returncode, "out": done.stdout + done.stderr}
    return seconds, run, statuses, {"got": got, "expected": expected}


def _check(run: dict, statuses: dict, points: dict) -> None:
    broken = STUDENTS // 10
    assert run["code"] == 1, run["out"]  # the broken JSON ones: not graded as submitted
    assert f"graded {STUDENTS - broken} of {STUDENTS} notebooks" in run["out"], run["out"]
    assert len(statuses) == STUDENTS
    kinds = sorted(s["tiny"].status for s in statuses.values())
    assert kinds == sorted(["invalid notebook"] * broken + ["ok"] * (STUDENTS - broken))
    assert points["got"] == points["expected"], run["out"]


def test_a_cohort_with_two_workers_into_sqlite(tmp_path: Path):
    seconds, run, statuses, points = _grade_cohort(tmp_path)
    _check(run, statuses, points)
    print(f"\n{STUDENTS} notebooks, --workers 2, SQLite: {seconds:.1f} s "
          f"({STUDENTS / seconds:.2f} notebooks/s)")


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url():
    """An empty PostgreSQL database (a throwaway server, or $DLCOURSE_TEST_PG_URL)."""
    try:
        import psycopg2  # noqa: F401 (the driver SQLAlchemy's postgresql:// uses)
    except ImportError:
        pytest.skip("no PostgreSQL driver: psycopg2 is not installed (pip install psycopg2-binary)")
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    if server_bin() is None:
        pytest.skip("no PostgreSQL server: /usr/lib/postgresql/*/bin/pg_ctl not found "
                    f"(apt-get install postgresql) and ${PG_URL_ENV} not set")
    with throwaway_server() as url:
        yield url


def test_a_cohort_with_two_workers_into_postgresql(tmp_path: Path, pg_url: str):
    seconds, run, statuses, points = _grade_cohort(tmp_path, pg_url)
    _check(run, statuses, points)
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.connect() as connection:  # the rows are really in the server
        rows = connection.execute(text("SELECT count(*) FROM dlcourse_grading")).scalar()
        grades = connection.execute(text("SELECT count(*) FROM grade")).scalar()
    engine.dispose()
    assert (rows, grades) == (STUDENTS, STUDENTS * len(POINTS))
    print(f"\n{STUDENTS} notebooks, --workers 2, PostgreSQL: {seconds:.1f} s")
