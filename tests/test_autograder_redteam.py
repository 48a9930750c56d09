"""Attacks found by red-teaming the grader, each graded through ``collect`` and ``grade``: the
attacked score is never above the honest one.

Locked helpers: a test cell calls helpers that a locked cell defines (``reference_disabled``,
``same_number`` in Day 4). They are notebook names, which a learner's cell can redefine
(``def same_number(a, b): return True``); the test must run the locked definition.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from autograder_tiny import DAY, GUARDED, make_guarded_course, make_tiny_course, set_cell
from nbformat.v4 import new_code_cell

from autograder.collect import collect
from autograder.grading import grade
from autograder.release import release
from autograder.report import grade_table

pytestmark = pytest.mark.slow

HELPERS = (
    "from contextlib import contextmanager\n\n\n"
    "@contextmanager\n"
    "def reference_disabled():\n"
    "    yield\n\n\n"
    "def agrees(a, b):\n"
    "    return bool(np.allclose(a, b))"
)
TEST_HELPER = (
    "with reference_disabled():\n"
    "    got = double(fx[\"x\"])\n"
    "check_true(agrees(got, fx[\"doubled\"]), \"double(x) が参照値と一致しません\")"
)
WRONG = "def double(x):\n    return 3 * np.asarray(x, dtype=float)\n"
RIGHT = "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n"
REDEFINE = "\n\ndef agrees(a, b):\n    return True\n"


def _meta(grade_id: str, **flags: object) -> dict:
    nbgrader = {"grade": False, "solution": False, "locked": True, "grade_id": grade_id,
                "schema_version": 3}
    nbgrader.update(flags)
    return {"nbgrader": nbgrader}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("redteam")
    course = make_guarded_course(tmp)
    path = course.source_dir / DAY / f"{GUARDED}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\nfrom autograder.checks import check_true"
    nb.cells.insert(2, new_code_cell(HELPERS, metadata=_meta("helpers"), id="helpers"))
    nb.cells.append(new_code_cell(TEST_HELPER, metadata=_meta("test_helper", grade=True, points=2),
                                  id="test-helper"))
    nbformat.write(nb, path)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    returned = tmp / "returned"
    for student, answer in {"honest": WRONG, "redefine": WRONG + REDEFINE, "right": RIGHT,
                            "right_redefine": RIGHT + REDEFINE}.items():
        mine = nbformat.from_dict(json.loads(json.dumps(released)))
        set_cell(mine, "double", answer)
        (returned / student).mkdir(parents=True)
        nbformat.write(mine, returned / student / f"{GUARDED}.ipynb")
    collect(course, DAY, returned)
    results = {g.student: g for g in grade(course, DAY, workers=2)}
    table = grade_table(course, DAY)
    return {student: row[GUARDED].cells for student, row in table.rows.items()}, results


def test_the_locked_helpers_run_for_a_right_answer(graded):
    cells, results = graded
    assert cells["right"]["test_helper"] == 2.0
    assert cells["right_redefine"]["test_helper"] == 2.0


def test_a_redefined_locked_helper_does_not_pass_a_wrong_answer(graded):
    cells, results = graded
    assert cells["honest"]["test_helper"] == 0.0
    assert cells["redefine"]["test_helper"] == 0.0
    flags = " ".join(results["redefine"].flags)
    assert "redefines the locked helper agrees" in flags
    assert not any("locked helper" in f for f in results["right"].flags)


# -- notebook-level attacks on the tiny course: metadata edits, deep JSON ---------------------

SQUARE_OK = "def square(x):\n    return x ** 2\n"
CUBE_OK = "def cube(x):\n    return x ** 3\n"


def _edit_meta(nb: nbformat.NotebookNode, grade_id: str, **changes: object) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.metadata.nbgrader.update(changes)


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("redteam-nb")
    course = make_tiny_course(tmp)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    right = nbformat.from_dict(json.loads(json.dumps(released)))
    set_cell(right, "square", SQUARE_OK)
    set_cell(right, "cube", CUBE_OK)
    edited = nbformat.from_dict(json.loads(json.dumps(right)))
    _edit_meta(edited, "test_cube", grade=False)  # a test cell no longer graded
    _edit_meta(edited, "test_square", points=50)  # more points
    wrong_promoted = nbformat.from_dict(json.loads(json.dumps(released)))
    set_cell(wrong_promoted, "square", "def square(x):\n    return 0\n")
    set_cell(wrong_promoted, "cube", CUBE_OK)
    _edit_meta(wrong_promoted, "test_square", solution=True, locked=False)  # test as answer
    set_cell(wrong_promoted, "test_square", "pass")
    deep = json.dumps(right).replace('"metadata": {', '"metadata": {"x": ' + "[" * 50000
                                     + "]" * 50000 + ", ", 1)
    files = {"edited": nbformat.writes(edited), "promoted": nbformat.writes(wrong_promoted),
             "deep": deep, "right": nbformat.writes(right)}
    returned = tmp / "returned"
    for student, text in files.items():
        (returned / student).mkdir(parents=True)
        (returned / student / "tiny.ipynb").write_text(text, encoding="utf-8")
    collect(course, DAY, returned)
    results = {g.student: g for g in grade(course, DAY, workers=2) if g.notebook == "tiny"}
    table = grade_table(course, DAY)
    return {s: row["tiny"] for s, row in table.rows.items()}, results


def test_edited_nbgrader_flags_are_restored_not_fatal(notebooks):
    rows, results = notebooks
    assert rows["right"].cells == {"test_square": 2.0, "test_cube": 3.0}
    assert rows["edited"].status == "ok"
    assert rows["edited"].cells == {"test_square": 2.0, "test_cube": 3.0}
    assert any("nbgrader metadata edited" in f for f in results["edited"].flags)


def test_a_test_cell_turned_solution_still_runs_the_released_test(notebooks):
    rows, _ = notebooks
    assert rows["promoted"].status == "ok"
    assert rows["promoted"].cells == {"test_square": 0.0, "test_cube": 3.0}


def test_deeply_nested_json_is_an_invalid_notebook_not_a_crash(notebooks):
    rows, _ = notebooks
    assert rows["deep"].status == "invalid notebook" and "nested" in rows["deep"].reason
    assert rows["deep"].cells == {"test_square": 0.0, "test_cube": 0.0}
