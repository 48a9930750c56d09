"""Written answers (manually graded answer cells) through the whole loop, on the tiny course.

The tiny notebook gets one written question: a markdown answer cell (``grade`` and ``solution``)
whose model answer and rubric sit in a ``BEGIN/END SOLUTION`` region. The release must drop
them; autograding must leave an answered cell pending and an untouched one at 0; the report
must keep test-cell and written points apart; a grader's score, given through nbgrader's
Gradebook API (what Formgrader does), must then reach the report, nbgrader's own CSV export
and the feedback page.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import CUBE, DAY, POINTS, SQUARE, make_tiny_course, set_cell
from nbformat.v4 import new_markdown_cell

from autograder.cli import main
from autograder.report import format_table, grade_table
from autograder.samples import graded_points, solution_code

pytestmark = pytest.mark.slow

WRITTEN = "written_why"
RUBRIC_PROBE = "rubric-probe: one point for the word square"
MODEL_ANSWER = f"### BEGIN SOLUTION\nsquare(x) is x times x.\n\n{RUBRIC_PROBE}\n### END SOLUTION"
LEARNER_ANSWER = "Because square multiplies x by itself."
COMMENT = "good: names the product"


def _with_written_question(course) -> None:
    path = course.source_dir / DAY / "tiny.ipynb"
    nb = nbformat.read(path, as_version=4)
    meta = {"nbgrader": {"grade": True, "solution": True, "locked": False, "points": 2,
                         "grade_id": WRITTEN, "schema_version": 3}}
    nb.cells.append(new_markdown_cell(MODEL_ANSWER, metadata=meta, id="written-why"))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("written")
    course = make_tiny_course(tmp)
    _with_written_question(course)
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace)]
    assert main([*common, "release", DAY]) == 0
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)

    returned = tmp / "returned"
    for student, answer in (("answered", LEARNER_ANSWER), ("silent", None)):
        nb = nbformat.from_dict(released)
        set_cell(nb, "square", solution_code(SQUARE))
        set_cell(nb, "cube", solution_code(CUBE))
        if answer is not None:
            set_cell(nb, WRITTEN, answer)
        (returned / student).mkdir(parents=True)
        nbformat.write(nb, returned / student / "tiny.ipynb")
    assert main([*common, "collect", DAY, str(returned)]) == 0
    assert main([*common, "grade", DAY]) == 0
    before = grade_table(course, DAY)
    return course, common, released, before


def test_release_drops_the_model_answer_and_rubric(loop):
    _, _, released, _ = loop
    cell = next(c for c in released.cells if c.metadata.nbgrader.get("grade_id") == WRITTEN)
    assert RUBRIC_PROBE not in cell.source and "square(x) is" not in cell.source
    assert cell.metadata.nbgrader["points"] == 2


def test_written_points_are_not_test_points(loop):
    course, _, _, before = loop
    source = nbformat.read(course.source_dir / DAY / "tiny.ipynb", as_version=4)
    assert graded_points(source) == POINTS  # what expected.json counts: the test cells only
    for student in ("answered", "silent"):
        row = before.rows[student]["tiny"]
        assert row.cells == POINTS and row.graded
        assert (row.score, row.max_score, row.written_max) == (5.0, 5.0, 2.0)


def test_autograding_leaves_an_answer_pending_and_a_blank_at_zero(loop):
    _, _, _, before = loop
    assert before.rows["answered"]["tiny"].written == {WRITTEN: None}
    assert before.rows["answered"]["tiny"].written_pending == 1
    assert before.rows["silent"]["tiny"].written == {WRITTEN: 0.0}
    text = format_table(before)
    assert "5/5 w ?/2" in text and "5/5 w 0/2" in text and "(1 pending)" in text


def test_a_grade_given_by_hand_reaches_report_export_and_feedback(loop, tmp_path: Path):
    course, common, _, _ = loop
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gradebook:  # what Formgrader does when a grader saves
        grade = gradebook.find_grade(WRITTEN, "tiny", DAY, "answered")
        assert grade.needs_manual_grade and grade.auto_score is None
        grade.manual_score = 1.5
        comment = gradebook.find_comment(WRITTEN, "tiny", DAY, "answered")
        comment.manual_comment = COMMENT
        gradebook.db.commit()

    after = grade_table(course, DAY)
    row = after.rows["answered"]["tiny"]
    assert row.written == {WRITTEN: 1.5} and row.written_pending == 0
    assert row.score == 5.0  # the test cells' points stay apart
    assert "5/5 w 1.5/2" in format_table(after)

    ours = tmp_path / "grades.csv"
    assert main([*common, "report", DAY, "--csv", str(ours)]) == 0
    with open(ours, newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert (rows["answered"]["score"], rows["answered"]["written_score"]) == ("5", "1.5")
    assert (rows["answered"]["written_max"], rows["answered"]["written_pending"]) == ("2", "0")

    from nbgrader.plugins.export import CsvExportPlugin

    exported = tmp_path / "nbgrader-export.csv"
    with Gradebook(course.db_url) as gradebook:
        CsvExportPlugin(to=str(exported)).export(gradebook)
    with open(exported, newline="") as handle:
        nbgrader_rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(nbgrader_rows["answered"]["raw_score"]) == 6.5  # nbgrader's total: 5 + 1.5
    assert float(nbgrader_rows["silent"]["raw_score"]) == 5.0

    assert main([*common, "feedback", DAY]) == 0
    page = (course.workspace / "feedback" / "answered" / DAY / "tiny.html").read_text()
    assert LEARNER_ANSWER in page and COMMENT in page
    assert "1.5" in page and "6.5" in page  # the cell's score and the notebook's total
    assert RUBRIC_PROBE not in page
