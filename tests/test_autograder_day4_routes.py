"""Routes into the tests of a real Day 4 notebook (issue 12): 4_3_dropout's partial sample (a near
miss with known points, ``autograder/samples/expected.json``) plus a way to reach past its tests:
the class run as a fresh copy of the reference library's source (``runpy.run_path``), which the
hidden identity check ``issubclass(Dropout, course.layers.Dropout)`` does not see; the learner's
``forward`` rebinding the notebook's check helpers with ``global`` once the tests call it. Graded
through ``collect`` and ``grade``: each scores no more than the partial sample, cell by cell, and
is flagged.
"""

from __future__ import annotations

import nbformat
import pytest

from autograder.collect import collect
from autograder.config import Course
from autograder.grading import grade
from autograder.report import grade_table
from autograder.samples import load_expected, samples_dir

pytestmark = pytest.mark.slow

DAY, NOTEBOOK = "day4", "4_3_dropout"
ROUTES = {
    "runpy_copy": "import runpy as _runpy, course.layers as _cl\n"
                  "Dropout = _runpy.run_path(_cl.__file__)['Dropout']\n",
    "global_rebinding": "_Near = Dropout\n"
                        "class Dropout(_Near):\n"
                        "    def forward(self, x, train=True):\n"
                        "        global check_close, check_gradient, check_true, check_shape\n"
                        "        check_close = check_gradient = lambda *a, **k: None\n"
                        "        check_true = check_shape = lambda *a, **k: None\n"
                        "        return super().forward(x, train)\n",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("day4-routes")
    course = Course.from_options(workspace=tmp / "grading")
    partial = nbformat.read(samples_dir(course) / "partial" / DAY / f"{NOTEBOOK}.ipynb",
                            as_version=4)
    for student, route in ROUTES.items():
        nb = nbformat.from_dict(partial)
        cell = next(c for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") == "dropout_class")
        cell.source = cell.source.rstrip("\n") + "\n\n\n" + route
        (tmp / "returned" / student).mkdir(parents=True)
        nbformat.write(nb, tmp / "returned" / student / f"{NOTEBOOK}.ipynb")
    collect(course, DAY, tmp / "returned")
    results = {g.student: g for g in grade(course, DAY, workers=2) if g.notebook == NOTEBOOK}
    near = load_expected(course)["partial"][f"{DAY}/{NOTEBOOK}"]
    return results, grade_table(course, DAY), near


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_day4_route_scores_no_more_than_the_partial_sample_and_is_flagged(graded, route: str):
    results, table, near = graded
    row = table.rows[route][NOTEBOOK]
    assert all(row.cells[k] <= near[k] for k in near), (row.cells, near)
    assert row.suspect and any("tamper suspected" in f and "(code)" not in f
                               for f in results[route].flags), results[route].flags
