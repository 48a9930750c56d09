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
from autograder_tiny import DAY, GUARDED, make_guarded_course, set_cell
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
