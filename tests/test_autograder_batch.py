"""A batch through the real commands: ``collect --deadline``, ``grade`` killed (SIGKILL) in the
middle and resumed, re-run (up to date, identical gradebook) and ``--force``d, ``report
--lms-csv``; submissions for the wrong assignment score 0 with their reason.

One module fixture runs the whole sequence on the tiny course; each test checks one behaviour.
Six students: alice (reference, on time), bob (partly right, late), carol (the blank release,
her timestamp.txt in nbgrader's format, on time), and three for the wrong assignment: dave (a
notebook of another day beside no tiny.ipynb), erin (tiny.ipynb holds that other day's notebook),
frank (tiny.ipynb holds a notebook with other grade_ids).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import (
    CUBE,
    DAY,
    POINTS,
    SQUARE,
    make_tiny_course,
    other_notebook,
    set_cell,
)
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.cli import main
from autograder.gradebook import read_status
from autograder.release import release
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

DEADLINE = "2025-06-01T23:59:00+09:00"
ON_TIME = datetime.fromisoformat("2025-06-01T12:00:00+09:00")
LATE = datetime.fromisoformat("2025-06-02T09:00:00+09:00")
CAROL_STAMP = "2025-06-01 01:00:00.000000 UTC"  # as nbgrader's exchange writes it
OTHER_DAY = "day9"
ZERO = {k: 0.0 for k in POINTS}
PARTIAL = {"test_square": 2.0, "test_cube": 0.0}
EXPECTED = {"alice": POINTS, "bob": PARTIAL, "carol": ZERO, "dave": ZERO, "erin": ZERO,
            "frank": ZERO}
KERNEL_RUNS = {"alice", "bob", "carol"}  # the others are decided at preflight


def _foreign_grade_ids_notebook() -> nbformat.NotebookNode:
    def meta(grade_id: str, **flags: object) -> dict:
        return {"nbgrader": {"grade": False, "solution": False, "locked": True,
                             "grade_id": grade_id, "schema_version": 3, **flags}}

    return new_notebook(cells=[
        new_markdown_cell("# Quiz", metadata=meta("quiz_intro"), id="quiz-intro"),
        new_code_cell("def answer():\n    return 42", id="ex1",
                      metadata=meta("ex1", solution=True, locked=False)),
        new_code_cell("assert answer() == 42", id="test-ex1",
                      metadata=meta("test_ex1", grade=True, points=1)),
    ])


def _returned(course, released: nbformat.NotebookNode, root: Path) -> None:
    def write(student: str, name: str, nb: nbformat.NotebookNode,
              when: datetime = ON_TIME) -> None:
        path = root / student / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        os.utime(path, (when.timestamp(), when.timestamp()))

    def solved(cube: str) -> nbformat.NotebookNode:
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        set_cell(nb, "square", solution_code(SQUARE))
        set_cell(nb, "cube", cube)
        return nb

    write("alice", "tiny.ipynb", solved(solution_code(CUBE)))
    write("bob", "tiny.ipynb", solved("def cube(x):\n    return x * x"), when=LATE)
    write("carol", "tiny.ipynb", released, when=LATE)  # the file's time loses to the stamp
    (root / "carol" / "timestamp.txt").write_text(CAROL_STAMP)
    other = nbformat.read(course.release_dir / OTHER_DAY / "other.ipynb", as_version=4)
    write("dave", "other.ipynb", other)
    write("erin", "tiny.ipynb", other)
    write("frank", "tiny.ipynb", _foreign_grade_ids_notebook())


def _cli(course, *args: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "--repo", str(course.repo),
            "--workspace", str(course.workspace), *args]


def _run(course, *args: str) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` in a new process."""
    return subprocess.run(_cli(course, *args), capture_output=True, text=True, timeout=300)


def _main(course, *args: str) -> subprocess.CompletedProcess:
    """The same command in this process (no second start of Python and nbgrader)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--repo", str(course.repo), "--workspace", str(course.workspace), *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _graded_lines(out: str) -> dict[str, str]:
    """student -> what the grade command printed for its tiny notebook."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"^  (\w+)/tiny  (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _dump(course) -> list[str]:
    """Every row of the SQLite gradebook, as SQL."""
    connection = sqlite3.connect(course.db_url.removeprefix("sqlite:///"))
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _points(course) -> dict[str, dict[str, float]]:
    from autograder.report import grade_table

    return {s: row["tiny"].cells for s, row in grade_table(course, DAY).rows.items()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("batch")
    course = make_tiny_course(tmp)
    release(course, DAY)
    (course.release_dir / OTHER_DAY).mkdir()
    nbformat.write(other_notebook("d9", OTHER_DAY), course.release_dir / OTHER_DAY / "other.ipynb")
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    _returned(course, released, tmp / "returned")
    cli = ["--repo", str(course.repo), "--workspace", str(course.workspace)]
    assert main([*cli, "collect", DAY, str(tmp / "returned"), "--deadline", DEADLINE]) == 0
    runs: dict = {"course": course}

    # 1. grade, killed with SIGKILL (with its kernels) once the first kernel-run notebook is in
    killed = subprocess.Popen(_cli(course, "grade", DAY), stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    printed = []
    for line in killed.stdout:
        printed.append(line)
        if re.match(r"^  (alice|bob|carol)/tiny ", line):
            os.killpg(killed.pid, signal.SIGKILL)
            break
    killed.wait(timeout=60)
    killed.stdout.close()
    runs["killed"] = ("".join(printed), killed.returncode)
    runs["after_kill"] = set(read_status(course.db_url, DAY))
    runs["points_after_kill"] = _points(course)
    # 2. the same command again: resumes; 3. once more: nothing to do; 4. --force
    runs["resumed"] = _run(course, "grade", DAY)
    runs["points_resumed"] = _points(course)
    runs["dump_resumed"] = _dump(course)
    runs["again"] = _main(course, "grade", DAY)
    runs["dump_again"] = _dump(course)
    runs["forced"] = _main(course, "grade", DAY, "--force")
    runs["points_forced"] = _points(course)
    lms = tmp / "lms.csv"
    runs["report"] = _main(course, "report", DAY, "--lms-csv", str(lms), "--csv",
                           str(tmp / "long.csv"))
    runs["lms"] = lms.read_text(encoding="utf-8")
    with open(tmp / "long.csv", newline="", encoding="utf-8") as handle:
        runs["long"] = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    return runs


def _manifest(batch: dict, student: str) -> dict:
    folder = batch["course"].workspace / "submitted" / student / DAY
    return json.loads((folder / "manifest.json").read_text())


# -- collect --deadline ------------------------------------------------------------------------


def test_manifest_records_time_received_and_late_for_each_file(batch):
    alice, bob, carol = (_manifest(batch, s) for s in ("alice", "bob", "carol"))
    assert alice["deadline"] == bob["deadline"] == DEADLINE
    assert alice["files"]["tiny.ipynb"]["received"] == "2025-06-01T03:00:00+00:00"
    assert alice["files"]["tiny.ipynb"]["late"] is False
    assert bob["files"]["tiny.ipynb"]["received"] == "2025-06-02T00:00:00+00:00"
    assert bob["files"]["tiny.ipynb"]["late"] is True
    assert carol["files"]["tiny.ipynb"] | {"sha256": ""} == {
        "sha256": "", "received": "2025-06-01T01:00:00+00:00", "late": False}


def test_late_submission_is_flagged_in_the_report_without_penalty(batch):
    out = batch["report"].stdout
    flag = "late: received 2025-06-02T00:00:00+00:00, deadline 2025-06-01T23:59:00+09:00"
    assert re.search(r"^bob\s+2/5 L\s+2/5$", out, re.M), out
    assert f"      {flag}" in out
    assert batch["long"][("bob", "tiny")]["flags"] == flag
    assert batch["long"][("alice", "tiny")]["flags"] == ""


def test_deadline_that_is_not_iso8601_is_refused(batch, tmp_path: Path, capsys):
    course = batch["course"]
    code = main(["--repo", str(course.repo), "--workspace", str(tmp_path / "ws"),
                 "collect", DAY, str(tmp_path), "--deadline", "next friday"])
    assert code == 1 and "not an ISO 8601 time" in capsys.readouterr().err


# -- resume and idempotent re-grading ---------------------------------------------------------


def test_killed_grader_left_some_students_ungraded(batch):
    out, code = batch["killed"]
    assert code == -signal.SIGKILL
    ungraded = KERNEL_RUNS - batch["after_kill"]
    assert ungraded and len(ungraded) < len(KERNEL_RUNS), out
    assert {"dave", "erin", "frank"} <= batch["after_kill"]  # decided first, no kernel needed


def test_resumed_run_grades_only_what_the_killed_one_had_not(batch):
    lines = _graded_lines(batch["resumed"].stdout)
    rerun = {s for s, line in lines.items() if not line.startswith("up to date")}
    assert rerun == set(EXPECTED) - batch["after_kill"], batch["resumed"].stdout
    for student in batch["after_kill"]:
        assert lines[student].startswith("up to date ("), lines


def test_grades_after_resume_are_exact(batch):
    assert batch["points_resumed"] == EXPECTED
    for student in batch["after_kill"]:  # what the killed run recorded was already right
        assert batch["points_after_kill"][student] == EXPECTED[student]


def test_second_rerun_changes_no_gradebook_row(batch):
    again = batch["again"]
    assert set(_graded_lines(again.stdout).values()) <= {
        "up to date (ok)", "up to date (wrong assignment)"}
    assert "graded 0 of 0 notebooks, 7 up to date" in again.stdout, again.stdout
    assert batch["dump_again"] == batch["dump_resumed"]


def test_force_regrades_everything_to_the_same_points(batch):
    forced = batch["forced"]
    lines = _graded_lines(forced.stdout)
    assert set(lines) == set(EXPECTED)
    assert not any(line.startswith("up to date") for line in lines.values())
    # 7: dave's other.ipynb is listed too, as an extra file not graded
    assert "graded 6 of 7 notebooks" in forced.stdout, forced.stdout
    assert batch["points_forced"] == EXPECTED


def test_changed_submission_is_regraded_not_up_to_date(batch, tmp_path: Path):
    """A resubmission (collect again) of one student: only that notebook is run again."""
    course = batch["course"]
    returned = tmp_path / "returned" / "carol"
    returned.mkdir(parents=True)
    nb = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    set_cell(nb, "square", solution_code(SQUARE))
    nbformat.write(nb, returned / "tiny.ipynb")
    cli = ["--repo", str(course.repo), "--workspace", str(course.workspace)]
    assert main([*cli, "collect", DAY, str(returned.parent)]) == 0
    done = _main(course, "grade", DAY)
    lines = _graded_lines(done.stdout)
    assert [s for s, line in lines.items() if not line.startswith("up to date")] == ["carol"]
    assert _points(course)["carol"] == PARTIAL


# -- wrong assignment ------------------------------------------------------------------------


def test_wrong_assignment_scores_zero_with_its_reason(batch):
    long = batch["long"]
    reasons = {s: (long[(s, "tiny")]["status"], long[(s, "tiny")]["reason"], long[(s, "tiny")]
               ["score"]) for s in ("dave", "erin", "frank")}
    assert reasons == {
        "dave": ("wrong assignment", "no tiny.ipynb; other.ipynb is day9/other", "0"),
        "erin": ("wrong assignment", "tiny.ipynb: it is day9/other, not tiny", "0"),
        "frank": ("wrong assignment",
                  "tiny.ipynb: none of its grade_ids (ex1, quiz_intro, test_ex1) is one of tiny",
                  "0"),
    }
    assert long[("dave", "other.ipynb")]["reason"] == \
        "not graded (wrong assignment: it is day9/other)"


def test_wrong_assignment_leaves_other_students_alone(batch):
    points = batch["points_forced"]
    assert {s: points[s] for s in KERNEL_RUNS} == {s: EXPECTED[s] for s in KERNEL_RUNS}


# -- report --lms-csv ------------------------------------------------------------------------


def test_lms_csv_has_one_row_per_student_with_total_points_status_and_flags(batch):
    late = "tiny: late: received 2025-06-02T00:00:00+00:00, deadline 2025-06-01T23:59:00+09:00"
    assert batch["lms"].splitlines() == [
        "student_id,total,tiny,status,flags",
        "alice,5,5,ok,",
        f'bob,2,2,ok,"{late}"',
        "carol,0,0,ok,",
        "dave,0,0,tiny: wrong assignment,"
        "extra file other.ipynb: not graded (wrong assignment: it is day9/other)",
        "erin,0,0,tiny: wrong assignment,",
        "frank,0,0,tiny: wrong assignment,",
    ]
