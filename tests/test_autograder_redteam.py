"""Attacks found by red-teaming the grader, each graded through ``collect`` and ``grade``: the
attacked score is never above the honest one.

Locked helpers: a test cell calls helpers that a locked cell defines (``reference_disabled``,
``same_number`` in Day 4). They are notebook names, which a learner's cell can redefine
(``def same_number(a, b): return True``); the test must run the locked definition.

Self-restoring patches: learner code the test calls patches what the checks or the locked helpers
use (``autograder.checks._fail``, ``numpy.allclose``) with a stand-in that puts the original
back once it has done its work, so the comparison after the test sees nothing.

Locked results: a locked cell computes what a later test grades (Day 4's ``histories``); a
learner's cell after it rebinds the name or changes the object in place.
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
# Stand-ins that pass: the first one called puts every original back, so nothing is left for
# the comparison after the test. Through the attribute (``module.name = ...``), through the
# module's namespace (``vars(module)``) and through a function's ``__globals__`` (no module
# attribute write at all).
_SELF_RESTORING = (
    "import autograder.checks as _checks\n"
    "import numpy as _np\n"
    "_patched = {}\n"
    "def _undo():\n"
    "    for (write, name), original in list(_patched.items()):\n"
    "        write(name, original)\n"
    "    _patched.clear()\n"
    "def _patch(write, read, name):\n"
    "    current = read(name)\n"
    "    if getattr(current, 'stand_in', False):\n"
    "        return\n"
    "    _patched[(write, name)] = current\n"
    "    def stand_in(*args, **kwargs):\n"
    "        _undo()\n"
    "        return True\n"
    "    stand_in.stand_in = True\n"
    "    write(name, stand_in)\n"
)
SELF_RESTORING = {
    "attribute": "_ck = lambda n, v: setattr(_checks, n, v)\n"
                 "_ckr = lambda n: getattr(_checks, n)\n"
                 "_npw = lambda n, v: setattr(_np, n, v)\n"
                 "_npr = lambda n: getattr(_np, n)\n",
    "namespace": "_ck = lambda n, v: vars(_checks).__setitem__(n, v)\n"
                 "_ckr = lambda n: vars(_checks)[n]\n"
                 "_npw = lambda n, v: vars(_np).__setitem__(n, v)\n"
                 "_npr = lambda n: vars(_np)[n]\n",
    "globals": "_cg = getattr(_checks.check_true, '__wrapped__', _checks.check_true).__globals__\n"
               "_ng = _np.__getattr__.__globals__\n"
               "_ck, _ckr = _cg.__setitem__, _cg.__getitem__\n"
               "_npw, _npr = _ng.__setitem__, _ng.__getitem__\n",
}
PATCH_DURING_TEST = (
    "def double(x):\n"
    "    _patch(_ck, _ckr, '_fail')\n"
    "    _patch(_npw, _npr, 'allclose')\n"
    "    return 3 * _np.asarray(x, dtype=float)\n"
)
# A locked cell computes results from the learner's function; a later test grades them.
EXPERIMENT = (
    "result = double(fx[\"x\"])\n"
    "history = {\"loss\": [float(v) for v in result]}"
)
TEST_EXPERIMENT = (
    "check_close(\"result\", result, fx[\"doubled\"])\n"
    "check_true(history[\"loss\"] == [float(v) for v in fx[\"doubled\"]], "
    "\"history が参照値と一致しません\")"
)
REBIND_RESULTS = ("result = fx[\"doubled\"].copy()\n"
                  "history = {\"loss\": [float(v) for v in fx[\"doubled\"]]}")
MUTATE_RESULTS = ("result[...] = fx[\"doubled\"]\n"
                  "history[\"loss\"][:] = [float(v) for v in fx[\"doubled\"]]")
# student -> (the answer cell, a cell the learner adds after the locked experiment cell)
STUDENTS = {
    "honest": (WRONG, None), "redefine": (WRONG + REDEFINE, None), "right": (RIGHT, None),
    "right_redefine": (RIGHT + REDEFINE, None),
    **{f"restoring_{route}": (_SELF_RESTORING + code + PATCH_DURING_TEST, None)
       for route, code in SELF_RESTORING.items()},
    "rebind_results": (WRONG, REBIND_RESULTS), "mutate_results": (WRONG, MUTATE_RESULTS),
    "right_mutate_results": (RIGHT, MUTATE_RESULTS),
}


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
    after_double = next(i for i, c in enumerate(nb.cells) if c.get("id") == "double") + 1
    nb.cells.insert(after_double, new_code_cell(EXPERIMENT, metadata=_meta("experiment"),
                                                id="experiment"))
    nb.cells.append(new_code_cell(TEST_EXPERIMENT, id="test-experiment",
                                  metadata=_meta("test_experiment", grade=True, points=2)))
    nbformat.write(nb, path)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    returned = tmp / "returned"
    for student, (answer, added) in STUDENTS.items():
        mine = nbformat.from_dict(json.loads(json.dumps(released)))
        set_cell(mine, "double", answer)
        if added is not None:  # a cell of the learner's own, right after the locked experiment
            at = next(i for i, c in enumerate(mine.cells) if c.get("id") == "experiment") + 1
            mine.cells.insert(at, new_code_cell(added, id="mine"))
        (returned / student).mkdir(parents=True)
        nbformat.write(mine, returned / student / f"{GUARDED}.ipynb")
    collect(course, DAY, returned)
    results = {g.student: g for g in grade(course, DAY, workers=2)}
    table = grade_table(course, DAY)
    return {student: row[GUARDED].cells for student, row in table.rows.items()}, results


def _flags(results: dict, student: str) -> str:
    return " ".join(results[student].flags)


def test_the_honest_wrong_answer_scores_nothing_unflagged(graded):
    cells, results = graded
    assert set(cells["honest"].values()) == {0.0} and len(cells["honest"]) == 6
    assert "tamper suspected" not in _flags(results, "honest")
    assert cells["right"] == {**{k: 2.0 for k in ("test_close", "test_helper",
                                                  "test_experiment")},
                              "test_numpy": 1.0, "test_gradient": 1.0, "test_value": 1.0}
    assert "tamper suspected" not in _flags(results, "right")


@pytest.mark.parametrize("route", sorted(SELF_RESTORING))
def test_a_patch_undone_before_the_test_ends_still_scores_honestly(graded, route: str):
    """Under the plain guard (a comparison after the test) each route gave test_close,
    test_value, test_gradient and test_helper full marks."""
    cells, results = graded
    student = f"restoring_{route}"
    assert cells[student] == cells["honest"]
    assert "tamper suspected: learner code acted during the test" in _flags(results, student)


def test_a_locked_cells_result_rebound_by_a_learner_cell_is_graded_as_computed(graded):
    cells, results = graded
    for student in ("rebind_results", "mutate_results"):
        assert cells[student] == cells["honest"], student
        flags = _flags(results, student)
        assert "tamper suspected" in flags and "a locked cell's result" in flags, student
    assert "result (a locked cell's result, rebound)" in _flags(results, "rebind_results")
    assert "history (a locked cell's result, changed in place; put back)" \
        in _flags(results, "mutate_results")
    # a right answer whose locked results were overwritten (with the same numbers) keeps them
    assert cells["right_mutate_results"]["test_experiment"] == 2.0


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
