"""Delegation to the reference library is caught however its code arrives (issue 12).

The tiny ``delegate`` notebook asks for ``softmax``, which ``course.functions`` also has; its last
test checks, as Day 4's hidden tests do, that ``softmax`` is not the library's object. Each
attacker submits a near miss (normalised over the whole array, not per row: honestly 3 of 5
points) and then replaces it with the library's code arriving by another route: the object under
another name, ``importlib``, ``sys.modules``, a fresh copy run from the source file (``runpy``,
``exec``/``compile``, ``spec_from_file_location``), copied bytecode. Graded through ``collect``
and ``grade``: each scores no more than the near miss and is flagged. An honest solution that
imports the library for its data helpers scores full marks, unflagged.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from autograder_tiny import (
    DAY,
    DELEGATE,
    DELEGATE_POINTS,
    SOFTMAX,
    make_delegate_course,
    set_cell,
)

from autograder.collect import collect
from autograder.grading import grade
from autograder.release import release
from autograder.report import grade_table
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

NEAR = ("def softmax(x):\n"
        "    x = np.asarray(x, dtype=float)\n"
        "    e = np.exp(x)\n"
        "    return e / e.sum()\n")
HONEST_NEAR = {"test_shape": 1.0, "test_rows": 0.0, "test_own": 2.0}
SOURCE = "_path = __import__('course.functions').functions.__file__\n"
ROUTES = {
    "renamed_import": "from course.functions import softmax as _sm\n"
                      "def softmax(x):\n    return _sm(x)\n",
    "importlib": "import importlib as _il\n"
                 "softmax = _il.import_module('course.functions').softmax\n",
    "sys_modules": "import sys as _s\n"
                   "class _Mine:\n    pass\n"
                   "def softmax(x):\n    return _s.modules['course.functions'].softmax(x)\n",
    "subclass_free": "import course as _c\n"
                     "def softmax(x):\n    return _c.functions.softmax(x)\n",
    "runpy": "import runpy as _r\n" + SOURCE + "softmax = _r.run_path(_path)['softmax']\n",
    "exec_compile": SOURCE + "_ns = {}\n"
                    "exec(compile(open(_path).read(), _path, 'exec'), _ns)\n"
                    "softmax = _ns['softmax']\n",
    "exec_text": SOURCE + "_ns = {}\nexec(open(_path).read(), _ns)\n"
                 "def softmax(x):\n    return _ns['softmax'](x)\n",
    "spec_from_file": "import importlib.util as _u\n" + SOURCE +
                      "_spec = _u.spec_from_file_location('mine', _path)\n"
                      "_mod = _u.module_from_spec(_spec)\n_spec.loader.exec_module(_mod)\n"
                      "softmax = _mod.softmax\n",
    "bytecode": "import marshal as _m, types as _t, course.functions as _cf\n"
                "_code = _m.loads(_m.dumps(_cf.softmax.__code__))\n"
                "softmax = _t.FunctionType(_code.replace(co_filename='mine.py'), globals())\n",
}
HELPERS = solution_code(SOFTMAX) + (
    "\nimport importlib\n"
    "_data = importlib.import_module('course.data')\n"
    "from course.functions import relu, sigmoid\n"
    "_check = sigmoid(relu(softmax(np.zeros((1, 2)))))\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("delegation")
    course = make_delegate_course(tmp)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{DELEGATE}.ipynb", as_version=4)
    students = {"near": NEAR, "helpers": HELPERS, "reference": solution_code(SOFTMAX),
                **{name: NEAR + route for name, route in ROUTES.items()}}
    for student, code in students.items():
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        set_cell(nb, "softmax", code)
        (tmp / "returned" / student).mkdir(parents=True)
        nbformat.write(nb, tmp / "returned" / student / f"{DELEGATE}.ipynb")
    collect(course, DAY, tmp / "returned")
    results = {g.student: g for g in grade(course, DAY, workers=2)}
    return results, grade_table(course, DAY)


def test_the_near_miss_and_the_honest_solutions_score_as_they_should(graded):
    results, table = graded
    assert table.rows["near"][DELEGATE].cells == HONEST_NEAR
    for student in ("reference", "helpers"):
        assert table.rows[student][DELEGATE].cells == DELEGATE_POINTS, student
        assert not any("delegation" in f or "copied" in f for f in results[student].flags), \
            results[student].flags


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_delegation_scores_no_more_than_the_near_miss_and_is_flagged(graded, route: str):
    results, table = graded
    cells = table.rows[route][DELEGATE].cells
    assert all(cells[k] <= HONEST_NEAR[k] for k in DELEGATE_POINTS), cells
    assert any("delegation to the course library" in f for f in results[route].flags), \
        results[route].flags
    assert table.rows[route][DELEGATE].suspect
