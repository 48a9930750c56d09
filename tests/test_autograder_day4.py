"""Autograde end to end on the real Day 4 notebooks: the committed sample submissions get exactly
the points of ``autograder/samples/expected.json`` (reference: full marks, blank: 0, partial: the
spec's PARTIAL_EXPECTED), cell by cell; feedback pages show no hidden test.

Parametrised over whatever Day 4 notebooks are released; one grading run (module fixture) feeds
every test.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest

from autograder.collect import collect
from autograder.config import Course
from autograder.grading import feedback, grade
from autograder.release import HIDDEN_REGION, leaked_lines
from autograder.report import grade_table
from autograder.samples import STUDENTS, graded_points, load_expected, samples_dir

pytestmark = pytest.mark.slow

DAY = "day4"
REPO = Course.from_options()
EXPECTED = load_expected(REPO) if (samples_dir(REPO) / "expected.json").exists() else {}
NOTEBOOKS = sorted(nb.split("/")[1] for nb in EXPECTED.get("reference", {}) if nb.startswith(DAY))
CASES = [(student, nb) for student in STUDENTS for nb in NOTEBOOKS]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    course = Course.from_options(workspace=tmp_path_factory.mktemp("day4-grading"))
    collect(course, DAY, samples_dir(course))
    results = grade(course, DAY)
    pages = feedback(course, DAY)
    return course, results, pages, grade_table(course, DAY)


def test_every_sample_notebook_is_graded_without_error(graded):
    _, results, pages, _ = graded
    assert [f"{g.student}/{g.notebook}: {g.error}" for g in results if not g.ok] == []
    assert [g.student for g in pages if not g.ok] == []


@pytest.mark.parametrize(("student", "notebook"), CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_points_per_cell_match_expected(graded, student: str, notebook: str):
    table = graded[3]
    got = table.rows[student][notebook].cells
    assert got == EXPECTED[student][f"{DAY}/{notebook}"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_reference_gets_every_point_of_the_source_notebook(graded, notebook: str):
    source = nbformat.read(REPO.source_dir / DAY / f"{notebook}.ipynb", as_version=4)
    assert graded[3].rows["reference"][notebook].cells == graded_points(source)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_blank_release_scores_zero(graded, notebook: str):
    assert graded[3].rows["blank"][notebook].score == 0


def _page_text(path: Path) -> str:
    """A feedback page as the learner reads it: tags dropped, entities decoded."""
    without_tags = re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))
    return html.unescape(without_tags)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_feedback_pages_show_no_hidden_test(graded, notebook: str):
    course = graded[0]
    source = nbformat.read(REPO.source_dir / DAY / f"{notebook}.ipynb", as_version=4)
    for student in STUDENTS:
        page = course.workspace / "feedback" / student / DAY / f"{notebook}.html"
        text = _page_text(page)
        assert "HIDDEN TESTS" not in text
        assert leaked_lines(source, text, regions=(HIDDEN_REGION,)) == []
