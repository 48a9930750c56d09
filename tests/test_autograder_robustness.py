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

from autograder import cputime
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
# A learner cell that writes outside its folder and looks for the course's files around it and in
# its environment; ``cube`` is right only if it found the solution notebook.
OUTSIDE = """import json, os
from pathlib import Path
written, refused, found = [], [], []
for up in range(1, 6):  # up to the grader's own temporary folder
    target = Path("../" * up + "pwned.txt")
    try:
        target.write_text("pwned")
        written.append(str(target.resolve()))
    except OSError as error:
        refused.append(type(error).__name__)
places = [*Path.cwd().parents, *(Path(v) for v in os.environ.values() if v.startswith("/"))]
for place in places:
    for pattern in ("solutions/*/tiny.ipynb", "*/solutions/*/tiny.ipynb", "*/gradebook.db"):
        try:
            found += [str(p) for p in place.glob(pattern)]
        except (OSError, ValueError):
            pass
print(json.dumps({"written": written, "refused": refused, "found": found}))
def cube(x):
    return x ** 3 if any(p.endswith("tiny.ipynb") for p in found) else x ** 2
"""


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


def _moved_and_retyped(released: nbformat.NotebookNode) -> dict[str, dict[str, bytes]]:
    """Students whose cells were moved, retyped, given one id twice or joined by their own."""
    def dump(nb: nbformat.NotebookNode) -> bytes:
        return nbformat.writes(nb).encode("utf-8")

    def position(nb: nbformat.NotebookNode, grade_id: str) -> int:
        return nb.cells.index(_cells_of(nb, grade_id)[0])

    reordered = _reference(released)  # the solution dragged below its test
    square = reordered.cells.pop(position(reordered, "square"))
    reordered.cells.insert(position(reordered, "test_square") + 1, square)
    shuffled = _reference(released)
    shuffled.cells.reverse()
    retyped = _reference(released)  # the locked setup cell and a test cell no longer code
    _cells_of(retyped, "setup")[0].cell_type = "raw"
    _cells_of(retyped, "test_square")[0].cell_type = "markdown"
    for grade_id in ("setup", "test_square"):
        cell = _cells_of(retyped, grade_id)[0]
        cell.pop("outputs")
        cell.pop("execution_count")
    retyped_solution = _reference(released)
    cell = _cells_of(retyped_solution, "cube")[0]
    cell.cell_type = "markdown"
    cell.pop("outputs")
    cell.pop("execution_count")
    helper = _with(released, square="def square(x):\n    return times(x, x)")
    helper.cells.insert(position(helper, "setup") + 1,
                        nbformat.v4.new_code_cell("def times(a, b):\n    return a * b", id="mine"))
    dup_ids = _with(released, square="def square(x):\n    return times(x, x)")
    dup_ids.cells.insert(position(dup_ids, "setup") + 1,  # the learner's cell, with "square"'s id
                         nbformat.v4.new_code_cell("def times(a, b):\n    return a * b"))
    text = nbformat.writes(dup_ids)
    raw = json.loads(text)
    raw["cells"][position(dup_ids, "setup") + 1]["id"] = "square"
    return {
        "reordered": {"tiny.ipynb": dump(reordered)},
        "shuffled": {"tiny.ipynb": dump(shuffled)},
        "retyped": {"tiny.ipynb": dump(retyped)},
        "retypedsolution": {"tiny.ipynb": dump(retyped_solution)},
        "helper": {"tiny.ipynb": dump(helper)},
        "dupcellid": {"tiny.ipynb": json.dumps(raw).encode("utf-8")},
        "outside": {"tiny.ipynb": dump(_with(released, cube=OUTSIDE))},
    }


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
        **_moved_and_retyped(released),
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
    # Not 2 cells x TIMEOUT plus the next ones: the budget is CPU seconds (the notebook's
    # kernel spent at most BUDGET of them), the clock's backstop bounds the rest on any load.
    assert result.seconds < cputime.wall_backstop(BUDGET) + 2 * TIMEOUT


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


def test_solution_moved_below_its_test_is_put_back_in_the_released_order(graded):
    row = _row(graded, "reordered")
    assert (row.cells, row.status) == (POINTS, "ok")
    assert row.flags == ["repaired: reordered: square put back in the released order"]


def test_shuffled_cells_are_put_back_in_the_released_order(graded):
    row = _row(graded, "shuffled")
    assert (row.cells, row.status) == (POINTS, "ok")
    assert len(row.flags) == 1 and row.flags[0].startswith("repaired: reordered: ")


def test_locked_and_test_cells_turned_raw_or_markdown_are_code_again(graded):
    row = _row(graded, "retyped")
    assert (row.cells, row.status) == (POINTS, "ok")
    assert row.flags == ["repaired: cell type: setup raw -> code",
                         "repaired: cell type: test_square markdown -> code"]


def test_solution_turned_markdown_is_graded_as_the_code_it_holds(graded):
    """nbgrader's OverwriteCells gives every cell with a grade_id its released type back, a
    solution cell too: its code runs (and is scanned for tampering like any solution)."""
    row = _row(graded, "retypedsolution")
    assert (row.cells, row.status) == (POINTS, "ok")
    assert row.flags == ["repaired: cell type: cube markdown -> code"]


def test_a_learner_cell_defining_a_helper_is_graded_like_any_cell(graded):
    row = _row(graded, "helper")
    assert (row.cells, row.status, row.flags) == (POINTS, "ok", [])


def test_a_cell_id_used_twice_is_made_unique_and_the_notebook_graded(graded):
    """The learner's own cell carries the solution cell's id, ahead of it: the released cell
    keeps its id (and its metadata), the learner's cell gets a fresh one."""
    course = graded[0]
    row = _row(graded, "dupcellid")
    assert (row.cells, row.status) == (POINTS, "ok")
    assert row.flags == ["repaired: duplicate cell id 'square': the other cell renamed "
                         "'square-1'"]
    nb = nbformat.read(course.workspace / "autograded" / "dupcellid" / DAY / "tiny.ipynb",
                       as_version=4)
    assert [c.id for c in nb.cells if c.id.startswith("square")] == ["square-1", "square"]


def test_writes_outside_the_submission_folder_stay_in_the_throwaway_sandbox(graded):
    """A cell writes ``pwned.txt`` one to five folders up and looks for the course's solution
    notebook and gradebook in the folders above it and in its environment: it finds neither (its
    ``cube`` scores 0), every write is refused (the sandbox's file system is read-only outside
    its scratch folder, ``autograder.sandbox``), and nothing appeared in the course repo,
    workspace or returned files. The attacks on the sandbox itself: test_autograder_sandbox."""
    course = graded[0]
    row = _row(graded, "outside")
    assert row.cells == {"test_square": 2.0, "test_cube": 0.0} and row.status == "ok"
    nb = nbformat.read(course.workspace / "autograded" / "outside" / DAY / "tiny.ipynb",
                       as_version=4)
    [cube] = _cells_of(nb, "cube")
    seen = json.loads("".join(o.get("text", "") for o in cube.outputs))
    tmp = course.workspace.parent
    assert seen["written"] == [] and seen["found"] == []
    assert seen["refused"] == ["OSError"] * 5  # read-only file system (EROFS)
    assert not list(tmp.rglob("pwned.txt"))


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
                            "missing", "reordered", "shuffled", "retyped", "retypedsolution",
                            "helper", "dupcellid", "outside"}


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


@pytest.mark.parametrize("sandbox", ["require", "off"])
def test_learner_cell_wiping_db_files_cannot_lose_the_gradebook(tmp_path: Path, sandbox: str):
    """A cell truncates every *.db file in the folders above it and the course gradebook itself
    (as if it had found it): the other students' grades survive. In the sandbox it finds
    neither; without it (``--sandbox off``) it damages the gradebook, which is restored."""
    course = replace(make_tiny_course(tmp_path), sandbox=sandbox)
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
    damaged = any("gradebook was damaged" in flag for g in results for flag in g.flags)
    assert damaged == (sandbox == "off")


def test_cli_report_prints_statuses(graded, capsys):
    course = graded[0]
    code = main(["--repo", str(course.repo), "--workspace", str(course.workspace),
                 "--timeout", str(TIMEOUT), "--time-budget", str(BUDGET),
                 "report", DAY])
    assert code == 0
    out = capsys.readouterr().out
    assert "kernel died" in out and "invalid notebook" in out
