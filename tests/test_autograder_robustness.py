"""A bad submission never stops the batch, never loses work and never ends in a silent 0.

One module fixture grades a batch of tiny-course submissions, each broken in its own way, with a
short cell timeout and notebook budget and a small kernel memory limit; each test checks one
behaviour. Tests with their own grading run (re-run, wiped gradebook) follow.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import CUBE, DAY, POINTS, SQUARE, make_tiny_course, set_cell

from autograder.cli import main
from autograder.collect import collect
from autograder.grading import grade
from autograder.release import release
from autograder.report import format_table, grade_table, write_csv
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

TIMEOUT, BUDGET, MEMORY_MB = 4, 6, 2048
SQUARE_OK, CUBE_OK = solution_code(SQUARE), solution_code(CUBE)
ZERO = {k: 0.0 for k in POINTS}


def _reference(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    set_cell(nb, "square", SQUARE_OK)
    set_cell(nb, "cube", CUBE_OK)
    return nb


def _with(released, square: str = SQUARE_OK, cube: str = CUBE_OK) -> nbformat.NotebookNode:
    nb = _reference(released)
    set_cell(nb, "square", square)
    set_cell(nb, "cube", cube)
    return nb


def _cells_of(nb: nbformat.NotebookNode, grade_id: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def _submissions(released: nbformat.NotebookNode) -> dict[str, dict[str, bytes]]:
    """student -> file name -> content."""
    def dump(nb: nbformat.NotebookNode) -> bytes:
        return nbformat.writes(nb).encode("utf-8")

    duplicated = _reference(released)
    test = _cells_of(duplicated, "test_square")[0]
    duplicated.cells.append(nbformat.from_dict(json.loads(json.dumps(test)) | {"id": "copy"}))
    renamed_id = _reference(released)
    _cells_of(renamed_id, "test_cube")[0].metadata.nbgrader["grade_id"] = "test_cube_v2"
    stripped = _reference(released)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    non_utf8 = dump(_reference(released)).replace(b"# Tiny", b"# Tiny \xff\xfe")
    unrelated = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    huge = "def square(x):\n    print('x' * 50_000_000)\n    return x ** 2"
    return {
        "reference": {"tiny.ipynb": dump(_reference(released))},
        "killed": {"tiny.ipynb": dump(_with(released, cube="import os\nos._exit(1)"))},
        "oom": {"tiny.ipynb": dump(_with(
            released, cube="def cube(x):\n    return len(bytearray(8 * 2**30)) and x ** 3"))},
        "looping": {"tiny.ipynb": dump(_with(
            released, square="def square(x):\n    while True:\n        pass",
            cube="def cube(x):\n    while True:\n        pass"))},
        "hugeout": {"tiny.ipynb": dump(_with(released, square=huge))},
        "duplicated": {"tiny.ipynb": dump(duplicated)},
        "renamedid": {"tiny.ipynb": dump(renamed_id)},
        "stripped": {"tiny.ipynb": dump(stripped)},
        "nonutf8": {"tiny.ipynb": non_utf8},
        "invalid": {"tiny.ipynb": b'{"cells": [ this is not json'},
        "renamedfile": {"tiny (1).ipynb": dump(_reference(released))},
        "missing": {"notes.ipynb": dump(unrelated)},
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("robust")
    course = replace(make_tiny_course(tmp, timeout=TIMEOUT), time_budget=BUDGET,
                     memory_limit_mb=MEMORY_MB)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    returned = tmp / "returned"
    for student, files in _submissions(released).items():
        (returned / student).mkdir(parents=True)
        for name, data in files.items():
            (returned / student / name).write_bytes(data)
    collect(course, DAY, returned)
    submitted = {p: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (course.workspace / "submitted").rglob("*.ipynb")}
    results = {g.student: g for g in grade(course, DAY, workers=2) if g.notebook == "tiny"}
    table = grade_table(course, DAY)
    csv_path = tmp / "grades.csv"
    write_csv(table, csv_path)
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    return course, results, table, rows, submitted


def _row(graded, student: str):
    return graded[2].rows[student]["tiny"]


def test_reference_in_the_batch_gets_full_points(graded):
    assert _row(graded, "reference").cells == POINTS and _row(graded, "reference").status == "ok"


def test_killed_kernel_keeps_the_cells_before_it_and_says_kernel_died(graded):
    course = graded[0]
    row = _row(graded, "killed")
    assert row.cells == {"test_square": 2.0, "test_cube": 0.0}
    assert row.status == "kernel died"
    assert (course.workspace / "autograded" / "killed" / DAY / "tiny.ipynb").exists()


def test_memory_limit_ends_a_runaway_allocation_in_a_memory_error(graded):
    row = _row(graded, "oom")
    assert row.cells == {"test_square": 2.0, "test_cube": 0.0}
    assert "memory limit reached" in row.flags


def test_time_budget_bounds_a_notebook_whose_cells_all_loop(graded):
    row, result = _row(graded, "looping"), graded[1]["looping"]
    assert row.cells == ZERO
    assert row.status == "time budget exceeded"
    assert result.seconds < 2 * TIMEOUT + 4  # not 2 cells x TIMEOUT plus the next ones


def test_huge_output_is_cut_to_the_byte_limit_and_points_kept(graded):
    course = graded[0]
    row = _row(graded, "hugeout")
    assert row.cells == POINTS and "output truncated" in row.flags
    path = course.workspace / "autograded" / "hugeout" / DAY / "tiny.ipynb"
    assert path.stat().st_size < 3 * course.output_limit


def test_duplicated_grade_id_is_repaired_not_fatal(graded):
    row = _row(graded, "duplicated")
    assert row.cells == POINTS
    assert any("duplicate grade_id 'test_square'" in f for f in row.flags)


def test_renamed_grade_id_is_restored_from_the_cell_id(graded):
    row = _row(graded, "renamedid")
    assert row.cells == POINTS and any("test_cube_v2" in f for f in row.flags)


def test_stripped_nbgrader_metadata_is_restored(graded):
    row = _row(graded, "stripped")
    assert row.cells == POINTS and any("nbgrader metadata restored" in f for f in row.flags)


def test_non_utf8_bytes_are_replaced_and_graded(graded):
    row = _row(graded, "nonutf8")
    assert row.cells == POINTS and any("not UTF-8" in f for f in row.flags)


def test_invalid_json_scores_zero_with_its_reason(graded):
    row = _row(graded, "invalid")
    assert row.cells == ZERO and row.status == "invalid notebook" and "not JSON" in row.reason


def test_renamed_notebook_is_matched_by_content(graded):
    row = _row(graded, "renamedfile")
    assert row.cells == POINTS and "renamed: submitted as tiny (1).ipynb" in row.flags


def test_missing_notebook_and_extra_file_are_reported(graded):
    table = graded[2]
    assert _row(graded, "missing").status == "missing"
    assert any(line.startswith("notes.ipynb") for line in table.extra["missing"])


def test_report_and_csv_show_each_failure_next_to_its_points(graded):
    _, _, table, rows, _ = graded
    lines = format_table(table).splitlines()
    for student in ("killed", "looping", "invalid", "missing"):
        status = _row(graded, student).status
        assert any(line.startswith(student) and status in line for line in lines)
        assert rows[(student, "tiny")]["status"] == status
    assert rows[("killed", "tiny")]["status"] == "kernel died"
    assert rows[("invalid", "tiny")]["graded"] == "no"
    assert rows[("missing", "notes.ipynb")]["status"] == "extra notebook"


def test_the_batch_goes_on_past_every_broken_submission(graded):
    results = graded[1]
    assert set(results) == {"reference", "killed", "oom", "looping", "hugeout", "duplicated",
                            "renamedid", "stripped", "nonutf8", "invalid", "renamedfile",
                            "missing"}


def test_submitted_files_are_never_changed(graded):
    submitted = graded[4]
    for path, digest in submitted.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_failed_rerun_replaces_old_grades_and_keeps_the_old_files(tmp_path: Path):
    """5/5, then a corrupt resubmission: the report shows 0 and why, not the old 5/5; the old
    submission and the old autograded notebook are archived, not deleted."""
    course = make_tiny_course(tmp_path)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    first = tmp_path / "first" / "alice"
    first.mkdir(parents=True)
    nbformat.write(_reference(released), first / "tiny.ipynb")
    collect(course, DAY, first.parent)
    grade(course, DAY)
    assert grade_table(course, DAY).rows["alice"]["tiny"].cells == POINTS
    second = tmp_path / "second" / "alice"
    second.mkdir(parents=True)
    (second / "tiny.ipynb").write_text('{"cells": [')
    collect(course, DAY, second.parent)
    [result] = grade(course, DAY)
    row = grade_table(course, DAY).rows["alice"]["tiny"]
    assert (row.cells, row.status, result.ok) == (ZERO, "invalid notebook", False)
    archive = course.workspace / "archive"
    assert list(archive.glob(f"alice/{DAY}/*/tiny.ipynb"))  # the first submission
    assert list(archive.glob(f"autograded/alice/{DAY}/*/tiny.ipynb"))  # its autograded notebook


def test_learner_cell_wiping_db_files_cannot_lose_the_gradebook(tmp_path: Path):
    """A cell truncates every *.db file in the folders above it and the course gradebook itself
    (as if it had found it): the other students' grades survive."""
    course = make_tiny_course(tmp_path)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    gradebook = Path(course.db_url.removeprefix("sqlite:///"))
    wiper = (
        "from pathlib import Path\n"
        "def cube(x):\n"
        "    return x ** 3\n"
        "for folder in [Path.cwd(), *Path.cwd().parents]:\n"
        "    for db in folder.glob('*.db'):\n"
        "        db.write_bytes(b'')\n"
        f"Path({str(gradebook)!r}).write_bytes(b'')\n"
    )
    returned = tmp_path / "returned"
    for student, nb in {"alice": _reference(released), "bob": _with(released, cube=wiper),
                        "carol": _reference(released)}.items():
        (returned / student).mkdir(parents=True)
        nbformat.write(nb, returned / student / "tiny.ipynb")
    collect(course, DAY, returned)
    results = grade(course, DAY)
    table = grade_table(course, DAY)
    assert table.rows["alice"]["tiny"].cells == POINTS
    assert table.rows["carol"]["tiny"].cells == POINTS
    assert table.rows["bob"]["tiny"].cells == POINTS  # its own sandbox gradebook was the target
    assert any("gradebook was damaged" in flag for g in results for flag in g.flags)


def test_cli_report_prints_statuses(graded, capsys):
    course = graded[0]
    code = main(["--repo", str(course.repo), "--workspace", str(course.workspace),
                 "--timeout", str(TIMEOUT), "--time-budget", str(BUDGET),
                 "report", DAY])
    assert code == 0
    out = capsys.readouterr().out
    assert "kernel died" in out and "invalid notebook" in out
