"""``feedback DAY`` one notebook at a time: no learner text and no broken notebook stops the
feedback of a student's other notebooks, and no output shows a hidden test.

A tiny course with two notebooks (``tiny``, and ``twin``: the same exercises under other ids);
students graded through the CLI: ``marker`` (learner text with nbgrader's hidden-test
marker, unclosed, in a solution cell; an output that prints the executed test cells and the
marker), ``corrupt`` (its autograded ``tiny`` is damaged before feedback), ``partial`` (returned
``twin`` only), ``hiddenfail`` (a square right for the visible test, wrong for the hidden one:
its feedback must not show the hidden check's message, which holds the reference value) and
``visiblefail`` (wrong for the visible test: its message is shown in full).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from autograder_tiny import (
    CUBE,
    DAY,
    HIDDEN_MESSAGE,
    HIDDEN_PROBE,
    SQUARE,
    make_tiny_course,
    other_notebook,
    set_cell,
)

from autograder.cli import main
from autograder.grading import feedback
from autograder.preprocessors import HIDDEN_FAILURE, OUTPUT_NOTE
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

MARKED_CUBE = (
    "def cube(x):\n"
    "    # ### BEGIN HIDDEN TESTS  (the learner's own comment, never closed)\n"
    "    return x ** 3\n"
    "print('### BEGIN HIDDEN TESTS')\n"
    "print('\\n'.join(In))  # the cells run so far, the test of square with its hidden part\n"
)

# right for 3 (the visible test), not for -2 (the hidden one)
SQUARE_HIDDEN_WRONG = "def square(x):\n    return x * abs(x)\n"
SQUARE_VISIBLE_WRONG = "def square(x):\n    return x ** 2 + 1\n"


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("feedback")
    course = make_tiny_course(tmp)
    nbformat.write(other_notebook("twin", "twin"), course.source_dir / DAY / "twin.ipynb")
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace)]
    assert main([*common, "release", DAY]) == 0

    def answered(name: str, cube: str, square: str = solution_code(SQUARE)
                 ) -> nbformat.NotebookNode:
        nb = nbformat.read(course.release_dir / DAY / f"{name}.ipynb", as_version=4)
        prefix = "twin_" if name == "twin" else ""
        heading = "# twin\n" if name == "twin" else ""
        set_cell(nb, f"{prefix}square", heading + square)
        set_cell(nb, f"{prefix}cube", heading + cube)
        return nb

    returned = tmp / "returned"
    files = {
        "marker": {"tiny": answered("tiny", MARKED_CUBE),
                   "twin": answered("twin", solution_code(CUBE))},
        "corrupt": {"tiny": answered("tiny", solution_code(CUBE)),
                    "twin": answered("twin", solution_code(CUBE))},
        "partial": {"twin": answered("twin", solution_code(CUBE))},
        "hiddenfail": {"tiny": answered("tiny", solution_code(CUBE), square=SQUARE_HIDDEN_WRONG)},
        "visiblefail": {"tiny": answered("tiny", solution_code(CUBE), square=SQUARE_VISIBLE_WRONG)},
    }
    for student, notebooks in files.items():
        (returned / student).mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, returned / student / f"{name}.ipynb")
    assert main([*common, "collect", DAY, str(returned)]) == 0
    assert main([*common, "grade", DAY]) == 0
    damaged = course.workspace / "autograded" / "corrupt" / DAY / "tiny.ipynb"
    damaged.chmod(0o644)
    damaged.write_text('{"cells": [ not json')
    status = main([*common, "feedback", DAY])
    results = {(g.student, g.notebook): g for g in feedback(course, DAY)}
    return course, status, results


def _html(course, student: str, notebook: str) -> Path:
    return course.workspace / "feedback" / student / DAY / f"{notebook}.html"


def test_a_broken_notebook_fails_alone(fed):
    course, status, results = fed
    assert status == 1  # one notebook's feedback could not be written
    assert not results[("corrupt", "tiny")].ok
    assert results[("corrupt", "tiny")].status == "feedback failed"
    assert results[("corrupt", "tiny")].error  # its reason
    assert not _html(course, "corrupt", "tiny").exists()
    assert results[("corrupt", "twin")].ok and _html(course, "corrupt", "twin").is_file()


def test_a_missing_notebook_is_reported_and_the_others_written(fed):
    course, _, results = fed
    assert results[("partial", "tiny")].status == "missing"
    assert results[("partial", "tiny")].ok
    assert not _html(course, "partial", "tiny").exists()
    assert results[("partial", "twin")].ok and _html(course, "partial", "twin").is_file()


def test_marker_text_in_learner_cells_and_outputs_breaks_nothing_and_shows_nothing(fed):
    course, _, results = fed
    assert results[("marker", "tiny")].ok and results[("marker", "twin")].ok
    html = _html(course, "marker", "tiny").read_text()
    assert HIDDEN_PROBE not in html  # printed through In[], but the output was replaced
    assert "BEGIN HIDDEN TESTS" not in html
    assert OUTPUT_NOTE.strip() in html
    assert "return x ** 3" not in html  # the rest of the learner's cell after its own marker
    assert _html(course, "marker", "twin").is_file()


def test_a_failed_hidden_test_shows_a_generic_message_not_its_reference_value(fed):
    course, _, results = fed
    assert results[("hiddenfail", "tiny")].ok and results[("visiblefail", "tiny")].ok
    hidden = _html(course, "hiddenfail", "tiny").read_text()
    assert HIDDEN_MESSAGE not in hidden  # "square(-2) は 4 です": the hidden reference value
    assert HIDDEN_FAILURE.format(what="").split("。")[0] in hidden  # a hidden test failed
    assert "AssertionError" in hidden
    visible = _html(course, "visiblefail", "tiny").read_text()
    assert "square(3) は 9 です" in visible  # a visible test's message is shown in full
    assert HIDDEN_FAILURE.format(what="").split("。")[0] not in visible
