"""Tampering cannot inflate a grade: each attack gives a wrong answer full marks under plain
nbgrader 0.9.6 (same course settings, nbgrader's own Execute) and its honest score under ours.

Every attacker submits the same wrong ``double`` (3x instead of 2x: every test of the tiny guarded
notebook fails honestly) plus one attack in the solution cell. One module fixture grades them all
twice: with nbgrader's Autograde as configured out of the box, and through our ``grade``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import DAY, DOUBLE, GUARDED, GUARDED_POINTS, make_guarded_course, set_cell

from autograder.collect import collect
from autograder.grading import grade
from autograder.release import release
from autograder.report import grade_table

pytestmark = pytest.mark.slow

WRONG = "def double(x):\n    return 3 * np.asarray(x, dtype=float)\n"
ALL = tuple(GUARDED_POINTS)
# attack -> (code after the wrong answer, the test cells it passes under plain nbgrader)
ATTACKS = {
    # the comparison helpers of numpy
    "numpy_helpers": ("np.allclose = lambda *a, **k: True\n"
                      "np.testing.assert_allclose = lambda *a, **k: None\n"
                      "import numpy\nnumpy.testing.assert_allclose = lambda *a, **k: None\n"
                      "import builtins\nbuiltins.abs = lambda x: 0\n", ("test_numpy",)),
    # the course's check functions: in their module, and the names the tests use
    "check_functions": ("import autograder.checks as _checks\n"
                        "_checks.check_close = check_close = lambda *a, **k: None\n"
                        "check_gradient = check_value = lambda *a, **k: None\n"
                        "np.allclose = lambda *a, **k: True\n"
                        "np.testing.assert_allclose = lambda *a, **k: None\n"
                        "abs = lambda x: 0\n", ALL),
    # the helpers' code objects, thresholds and the reference's rel_error
    "code_and_thresholds": ("_noop = (lambda *a, **k: None).__code__\n"
                            "for _f in (check_close, check_value):\n"
                            "    _f.__code__ = _noop\n"
                            'THRESHOLDS["dx"] = 1e9\n'
                            "import course.gradcheck, autograder.checks\n"
                            "autograder.checks.rel_error = lambda a, b: 0.0\n"
                            "np.allclose = lambda *a, **k: True\n"
                            "np.testing.assert_allclose = lambda *a, **k: None\n"
                            "import builtins\nbuiltins.abs = lambda x: 0\n", ALL),
    # the reference data: in memory and on disk
    "fixtures": ('fx["doubled"][...] = 3 * fx["x"]\n'
                 'np.savez("fixtures/guarded.npz", x=fx["x"], doubled=3 * fx["x"])\n'
                 "np.allclose = lambda *a, **k: True\n"
                 "np.testing.assert_allclose = lambda *a, **k: None\n"
                 "import builtins\nbuiltins.abs = lambda x: 0\n"
                 "_answer = double\n"
                 "class _Yes(float):\n"
                 "    def __eq__(self, other): return True\n"
                 "    def __ne__(self, other): return False\n"
                 "def double(x):\n"
                 "    return _Yes(9) if np.ndim(x) == 0 and x == 3 else _answer(x)\n"
                 'THRESHOLDS["dx"] = 1e9\n', ("test_close", "test_numpy", "test_gradient")),
    # sys.modules: stand-ins for the checks and for numpy, imported again under the tests' names
    "sys_modules": ("import sys, types\n"
                    "_checks = types.ModuleType('autograder.checks')\n"
                    "_checks.check_close = _checks.check_gradient = lambda *a, **k: None\n"
                    "_checks.check_value = _checks.load_fixture = lambda *a, **k: None\n"
                    "sys.modules['autograder.checks'] = _checks\n"
                    "_np = types.ModuleType('numpy')\n"
                    "_np.__dict__.update(vars(np))\n"
                    "_np.allclose = lambda *a, **k: True\n"
                    "_np.testing = types.SimpleNamespace(assert_allclose=lambda *a, **k: None)\n"
                    "sys.modules['numpy'] = sys.modules['numpy.testing'] = _np\n"
                    "from autograder.checks import check_close, check_gradient, check_value\n"
                    "import numpy as np\n", ("test_close", "test_gradient", "test_value")),
    # builtins the checks call: isinstance lets an object pass as a numpy scalar worth 6
    "builtins": ("import builtins\n"
                 "_isinstance, _all, _max = isinstance, all, max\n"
                 "class _Six:\n"
                 "    def item(self): return 6.0\n"
                 "builtins.isinstance = lambda o, c: (c is np.generic and type(o) is _Six) "
                 "or _isinstance(o, c)\n"
                 "builtins.all = lambda *a, **k: _all(*a, **k)\n"
                 "builtins.max = lambda *a, **k: _max(*a, **k)\n"
                 "_wrong = double\n"
                 "def double(x):\n"
                 "    return _Six() if np.ndim(x) == 0 and x == 3 else _wrong(x)\n",
                 ("test_value",)),
    # IPython's cell pipeline: every later cell becomes "pass"
    "input_transformer": ("get_ipython().input_transformers_cleanup.append("
                          "lambda lines: ['pass\\n'])\n", ALL),
    # an execute_result before the error counts as nbgrader's partial (here: full) credit
    "execute_result": ("_wrong = double\n"
                       "def double(x):\n"
                       "    get_ipython().displayhook('full marks')\n"
                       "    return _wrong(x)\n", ALL),
}


def _attacker(released: nbformat.NotebookNode, attack: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    set_cell(nb, "double", WRONG + attack)
    return nb


def _plain_nbgrader(course, tmp: Path) -> dict[str, dict[str, float]]:
    """nbgrader's Autograde with nbgrader's own Execute (our cell settings otherwise)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        Execute,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    plain = course.with_workspace(tmp / "plain", f"sqlite:///{tmp / 'plain' / 'gradebook.db'}")
    shutil.copytree(course.workspace / "submitted", plain.workspace / "submitted")
    config = plain.nbgrader_config()
    config.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor,
                                                LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                                CheckCellMetadata]
    config.Execute.on_notebook_start = config.Execute.on_cell_execute = None
    config.Execute.on_cell_complete = None
    release(plain, DAY)  # records the assignment in the plain gradebook
    api = NbGraderAPI(config=config)
    converter = Autograde(coursedir=api.coursedir, parent=api)
    converter.coursedir.assignment_id = DAY
    converter.force = True
    converter.start()
    with Gradebook(plain.db_url) as gb:
        return {s.student.id: {g.name: float(g.score) for g in s.notebooks[0].grades}
                for s in gb.find_assignment(DAY).submissions}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("tamper")
    course = make_guarded_course(tmp)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    returned = tmp / "returned"
    students = {"honest": _attacker(released, ""), **{n: _attacker(released, code)
                                                       for n, (code, _) in ATTACKS.items()}}
    for student, nb in students.items():
        (returned / student).mkdir(parents=True)
        nbformat.write(nb, returned / student / f"{GUARDED}.ipynb")
    collect(course, DAY, returned)
    plain = _plain_nbgrader(course, tmp)
    results = {g.student: g for g in grade(course, DAY, workers=2)}
    table = grade_table(course, DAY)
    ours = {student: row[GUARDED].cells for student, row in table.rows.items()}
    return course, plain, ours, results, table


def test_the_wrong_answer_scores_zero_without_tampering(graded):
    _, plain, ours, _, _ = graded
    zero = {k: 0.0 for k in GUARDED_POINTS}
    assert plain["honest"] == zero and ours["honest"] == zero


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_inflates_plain_nbgrader(graded, attack: str):
    plain = graded[1]
    targets = ATTACKS[attack][1]
    assert {k: plain[attack][k] for k in targets} == {k: GUARDED_POINTS[k] for k in targets}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_gets_the_honest_zero_from_our_grader(graded, attack: str):
    ours = graded[2]
    assert ours[attack] == {k: 0.0 for k in GUARDED_POINTS}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_flagged_as_suspected_tampering(graded, attack: str):
    results, table = graded[3], graded[4]
    assert any("tamper suspected" in flag for flag in results[attack].flags)
    assert table.rows[attack][GUARDED].suspect


@pytest.mark.parametrize(("attack", "restored"), [
    ("sys_modules", "sys.modules['autograder.checks'], sys.modules['numpy'], "
                    "sys.modules['numpy.testing']"),
    ("builtins", "builtins.all, builtins.isinstance, builtins.max"),
])
def test_replaced_modules_and_builtins_are_put_back_before_the_tests(graded, attack: str,
                                                                    restored: str):
    results = graded[3]
    assert f"tamper suspected: restored before the tests: {restored}" in results[attack].flags


def test_honest_submission_is_not_flagged(graded):
    results = graded[3]
    assert results["honest"].flags == [] and results["honest"].status == "ok"


def test_helpers_patched_before_the_tests_are_restored_not_just_detected(graded):
    """The restore is what gives the honest score: the failure messages are the checks' own."""
    course = graded[0]
    nb = nbformat.read(course.workspace / "autograded" / "check_functions" / DAY /
                       f"{GUARDED}.ipynb", as_version=4)
    close = next(c for c in nb.cells if c.get("id") == "test-close")
    assert [o.ename for o in close.outputs if o.output_type == "error"] == ["CheckFailure"]


def test_a_patch_during_the_test_scores_the_cell_zero(tmp_path: Path):
    """Learner code called by a test patches a helper while the test runs: a function's code swap
    (audit hook) and a module attribute write (the module refuses it) are refused as they happen,
    even when the learner code catches the refusal; a write through a function's ``__globals__``
    is seen at the test's next checkpoint."""
    course = make_guarded_course(tmp_path)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    sneaky = ("def double(x):\n"
              "    import autograder.checks as c\n"
              "    try:\n"
              "        c.check_value.__code__ = (lambda *a, **k: None).__code__\n"
              "    except RuntimeError:\n"
              "        pass\n"
              "    try:\n"
              "        c.rel_error = lambda a, b: 0.0\n"
              "    except RuntimeError:\n"
              "        pass\n"
              "    f = getattr(c.check_gradient, '__wrapped__', c.check_gradient)\n"
              "    f.__globals__['rel_error'] = lambda a, b: 0.0\n"
              "    return 3 * np.asarray(x, dtype=float)\n")
    folder = tmp_path / "returned" / "sneaky"
    folder.mkdir(parents=True)
    nb = _attacker(released, "")
    set_cell(nb, "double", sneaky)
    nbformat.write(nb, folder / f"{GUARDED}.ipynb")
    collect(course, DAY, tmp_path / "returned")
    [result] = grade(course, DAY)
    assert set(grade_table(course, DAY).rows["sneaky"][GUARDED].cells.values()) == {0.0}
    flags = " ".join(result.flags)
    assert "object.__setattr__ (refused)" in flags, result.flags
    assert "autograder.checks.rel_error (module written) (refused)" in flags, result.flags
    assert "autograder.checks.rel_error (changed while the test ran, seen at check_gradient)" \
        in flags, result.flags


def test_check_value_is_not_fooled_by_an_object_equal_to_everything():
    from autograder.checks import CheckFailure, check_value

    class Yes(float):
        def __eq__(self, other: object) -> bool:
            return True

        def __ne__(self, other: object) -> bool:
            return False

    assert Yes(9) == 6.0  # what a plain ``actual != expected`` would believe
    with pytest.raises(CheckFailure):
        check_value("double(3)", Yes(9), 6.0)
    check_value("double(3)", Yes(6), 6.0)  # a float subclass holding the right value is right


def test_validate_fails_a_notebook_that_passes_only_by_patching(graded, tmp_path: Path):
    """nbgrader's Validator (``nbgrader validate``, the Validate button) with our configuration
    reports the failures; with nbgrader's defaults it says success."""
    from nbgrader.validator import Validator

    course = graded[0]
    folder = tmp_path / "learner"
    shutil.copytree(course.release_dir / DAY, folder)
    path = folder / f"{GUARDED}.ipynb"
    shutil.copy(course.workspace / "submitted" / "check_functions" / DAY / path.name, path)
    config = course.nbgrader_config()
    assert Validator(config=config).validate(str(path)).get("failed")
    config.Execute.on_notebook_start = config.Execute.on_cell_execute = None
    config.Execute.on_cell_complete = None
    assert not Validator(config=config).validate(str(path)).get("failed")


LEARNER_CONFIGS = ["deploy/lab/learner", "deploy/jupyterhub/learner"]


@pytest.mark.parametrize("folder", LEARNER_CONFIGS)
def test_learner_validate_button_uses_the_guard(graded, folder: str, tmp_path: Path):
    """The learners' Validate button loads nbgrader_config.py from the Jupyter config path (as
    nbgrader's validate_assignment handler does): a notebook that passes only by patching the
    helpers fails; the reference solution passes."""
    from nbgrader.apps import NbGrader
    from nbgrader.validator import Validator

    from autograder.config import REPO_ROOT
    from autograder.samples import solution_code

    app = NbGrader()
    app.config_file_paths.append([str(REPO_ROOT / folder)])
    app.load_config_file()
    course = graded[0]
    learner = tmp_path / "learner"
    shutil.copytree(course.release_dir / DAY, learner)
    patched = learner / f"{GUARDED}.ipynb"
    shutil.copy(course.workspace / "submitted" / "check_functions" / DAY / patched.name, patched)
    assert Validator(config=app.config).validate(str(patched)).get("failed")
    solved = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    set_cell(solved, "double", solution_code(DOUBLE))
    nbformat.write(solved, learner / "solved.ipynb")
    result = Validator(config=app.config).validate(str(learner / "solved.ipynb"))
    assert result == {}, result  # nbgrader's "Success! Your notebook passes all the tests."
