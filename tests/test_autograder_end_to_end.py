"""Autograde end to end on the real notebooks of every day: the committed sample submissions get
exactly the points of ``autograder/samples/expected.json`` (reference: full marks, blank: 0,
partial: the spec's PARTIAL_EXPECTED), cell by cell; feedback pages show no hidden test.

Parametrised over every released notebook; one grading run per day (cached for the session)
feeds every test of that day.
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

REPO = Course.from_options()
EXPECTED = load_expected(REPO) if (samples_dir(REPO) / "expected.json").exists() else {}
RELEASED = sorted(EXPECTED.get("reference", {}))  # "day4/4_1_batch_normalization_layer", ...
DAYS = sorted({nb.split("/")[0] for nb in RELEASED})
CASES = [(student, nb) for student in STUDENTS for nb in RELEASED]


def test_every_released_notebook_has_samples_and_expected_points():
    released = sorted(
        f"{p.parent.name}/{p.stem}" for p in REPO.release_dir.glob("day*/*.ipynb")
    )
    assert released and RELEASED == released
    for student in STUDENTS:
        assert sorted(EXPECTED[student]) == released


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """graded(day) -> (course, results, pages, table): one grading run per day, cached."""
    runs: dict[str, tuple] = {}

    def run(day: str) -> tuple:
        if day not in runs:
            course = Course.from_options(workspace=tmp_path_factory.mktemp(f"{day}-grading"))
            collect(course, day, samples_dir(course))
            results = grade(course, day, workers=2)  # the critical path of make test
            pages = feedback(course, day)
            runs[day] = (course, results, pages, grade_table(course, day))
        return runs[day]

    return run


@pytest.mark.parametrize("day", DAYS)
def test_every_sample_notebook_is_graded_without_error(graded, day: str):
    _, results, pages, _ = graded(day)
    assert [f"{g.student}/{g.notebook}: {g.error}" for g in results if not g.ok] == []
    assert [g.student for g in pages if not g.ok] == []


@pytest.mark.parametrize(("student", "notebook"), CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_points_per_cell_match_expected(graded, student: str, notebook: str):
    day, stem = notebook.split("/")
    got = graded(day)[3].rows[student][stem].cells
    assert got == EXPECTED[student][notebook]


@pytest.mark.parametrize("notebook", RELEASED)
def test_reference_gets_every_point_of_the_source_notebook(graded, notebook: str):
    day, stem = notebook.split("/")
    source = nbformat.read(REPO.source_dir / day / f"{stem}.ipynb", as_version=4)
    assert graded(day)[3].rows["reference"][stem].cells == graded_points(source)


@pytest.mark.parametrize("notebook", RELEASED)
def test_blank_release_scores_zero(graded, notebook: str):
    day, stem = notebook.split("/")
    assert graded(day)[3].rows["blank"][stem].score == 0


def _page_text(path: Path) -> str:
    """A feedback page as the learner reads it: tags dropped, entities decoded."""
    without_tags = re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))
    return html.unescape(without_tags)


@pytest.mark.parametrize("notebook", RELEASED)
def test_feedback_pages_show_no_hidden_test(graded, notebook: str):
    day, stem = notebook.split("/")
    course = graded(day)[0]
    source = nbformat.read(REPO.source_dir / day / f"{stem}.ipynb", as_version=4)
    for student in STUDENTS:
        page = course.workspace / "feedback" / student / day / f"{stem}.html"
        text = _page_text(page)
        assert "HIDDEN TESTS" not in text
        assert leaked_lines(source, text, regions=(HIDDEN_REGION,)) == []


def test_lms_csv_of_the_day4_samples_has_their_expected_points(graded, tmp_path: Path):
    """``report day4 --lms-csv``: one row per sample student, total and per-notebook points as in
    expected.json, status ok, no flags."""
    from autograder.cli import main

    course = graded("day4")[0]
    path = tmp_path / "lms.csv"
    assert main(["--workspace", str(course.workspace), "report", "day4",
                 "--lms-csv", str(path)]) == 0
    stems = sorted(nb.split("/")[1] for nb in RELEASED if nb.startswith("day4/"))
    lines = [",".join(["student_id", "total", *stems, "status", "flags"])]
    for student in sorted(STUDENTS):
        points = [sum(EXPECTED[student][f"day4/{stem}"].values()) for stem in stems]
        lines.append(",".join([student, f"{sum(points):g}", *(f"{p:g}" for p in points),
                               "ok", ""]))
    assert path.read_text(encoding="utf-8").splitlines() == lines
