"""The grading mechanism end to end on a tiny self-made course, through the CLI.

One module fixture releases the tiny notebook, collects eight submissions, grades them (in one
process), writes feedback and the report; each test then checks one behaviour.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import (
    CUBE,
    DAY,
    HIDDEN_MESSAGE,
    HIDDEN_PROBE,
    POINTS,
    SQUARE,
    drop_cells,
    make_tiny_course,
    set_cell,
)

from autograder.cli import main
from autograder.preprocessors import HIDDEN_FAILURE
from autograder.report import grade_table
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

CORRECT_SQUARE = solution_code(SQUARE)
CORRECT_CUBE = solution_code(CUBE)
WARNING_SQUARE = (
    "def square(x):\n"
    "    warnings.warn('square: slow path', RuntimeWarning)\n"
    "    print('note: computing a square', file=sys.stderr)\n"
    "    return x ** 2"
)


def _submissions(released: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode | str]:
    def variant(square: str | None = CORRECT_SQUARE, cube: str | None = CORRECT_CUBE):
        nb = nbformat.from_dict(released)
        if square is not None:
            set_cell(nb, "square", square)
        if cube is not None:
            set_cell(nb, "cube", cube)
        return nb

    deleted = variant()
    drop_cells(deleted, "test_square", "test_cube")
    tampered = variant(cube=None)
    set_cell(tampered, "test_cube", "pass  # the learner 'fixed' the test")
    return {
        "reference": variant(),
        "warns": variant(square=WARNING_SQUARE),
        "deleted": deleted,
        "hiddenfail": variant(square="def square(x):\n    return x * abs(x)"),
        "blank": variant(square=None, cube=None),
        "tampered": tampered,
        "looping": variant(cube="def cube(x):\n    while True:\n        pass"),
        "broken": '{"cells": [ this is not json',
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("tiny")
    course = make_tiny_course(tmp, timeout=5)
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace), "--timeout", "5"]
    status = {"release": main([*common, "release", DAY])}
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)

    returned = tmp / "returned"
    for student, nb in _submissions(released).items():
        (returned / student).mkdir(parents=True)
        target = returned / student / "tiny.ipynb"
        if isinstance(nb, str):
            target.write_text(nb)
        else:
            nbformat.write(nb, target)
    # As nbgrader's exchange leaves a submission: signed with a secret beside the notebook.
    (returned / "reference" / "submission_secret.txt").write_text("s3cret-of-reference")
    status["collect"] = main([*common, "collect", DAY, str(returned)])
    status["grade"] = main([*common, "grade", DAY])
    status["feedback"] = main([*common, "feedback", DAY])
    csv_path = tmp / "grades.csv"
    status["report"] = main([*common, "report", DAY, "--csv", str(csv_path)])
    table = grade_table(course, DAY)
    return course, status, table, csv_path


def _cells(graded, student: str) -> dict[str, float]:
    return graded[2].rows[student]["tiny"].cells


def test_reference_gets_full_points(graded):
    assert _cells(graded, "reference") == POINTS


def test_blank_release_gets_zero(graded):
    assert _cells(graded, "blank") == {"test_square": 0.0, "test_cube": 0.0}


def test_stderr_warning_in_correct_code_keeps_points(graded):
    assert _cells(graded, "warns") == POINTS


def test_deleted_test_cells_are_reinserted_and_graded(graded):
    course = graded[0]
    assert _cells(graded, "deleted") == POINTS
    nb = nbformat.read(course.workspace / "autograded" / "deleted" / DAY / "tiny.ipynb", 4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    # back in place: each test cell after its prose cell, which follows the solution cell
    assert ids.index("test_square") == ids.index("test_square_md") + 1
    assert ids.index("test_cube") == ids.index("test_cube_md") + 1
    assert len({c.get("id") for c in nb.cells} - {None}) == len(nb.cells)  # valid nbformat 4.5


def test_failing_hidden_test_costs_the_cell(graded):
    assert _cells(graded, "hiddenfail") == {"test_square": 0.0, "test_cube": 3.0}


def test_edited_test_cell_is_restored_from_the_gradebook(graded):
    assert _cells(graded, "tampered")["test_cube"] == 0.0


def test_cell_timeout_stops_an_infinite_loop(graded):
    assert _cells(graded, "looping") == {"test_square": 2.0, "test_cube": 0.0}


def test_broken_submission_fails_alone_and_grade_exits_nonzero(graded):
    course, status, table, _ = graded
    assert status["grade"] == 1
    assert not table.rows["broken"]["tiny"].graded
    assert all(table.rows[s]["tiny"].graded for s in table.rows if s != "broken")


def test_hidden_tests_absent_from_feedback_html(graded):
    course = graded[0]
    pages = sorted((course.workspace / "feedback").glob(f"*/{DAY}/tiny.html"))
    assert {p.parent.parent.name for p in pages} >= {"reference", "hiddenfail", "blank"}
    for page in pages:
        html = page.read_text()
        assert HIDDEN_PROBE not in html
        assert "HIDDEN TESTS" not in html
    # the failing hidden assert reaches the learner as a generic message: neither the hidden code
    # nor its own message (which holds the reference value)
    page = course.workspace / "feedback" / "hiddenfail" / DAY / "tiny.html"
    assert HIDDEN_MESSAGE not in page.read_text()
    assert HIDDEN_FAILURE.split("{what}")[0] in page.read_text()


def test_hidden_tests_did_run_in_the_autograded_notebook(graded):
    course = graded[0]
    nb = (course.workspace / "autograded" / "hiddenfail" / DAY / "tiny.ipynb").read_text()
    assert HIDDEN_PROBE in nb


def test_report_csv_lists_every_student_and_points(graded):
    _, status, _, csv_path = graded
    assert status["report"] == 0
    with open(csv_path, newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"reference", "warns", "deleted", "hiddenfail", "blank", "tampered",
                         "looping", "broken"}
    assert (rows["reference"]["score"], rows["reference"]["max_score"]) == ("5", "5")
    assert rows["broken"]["graded"] == "no"


def test_nbgrader_noise_goes_to_the_log_file(graded):
    course = graded[0]
    log = course.log_file.read_text()
    assert "Attribute 'checksum'" in log  # the hidden-test cells, restored from the gradebook


def test_release_collect_feedback_exit_zero(graded):
    status = graded[1]
    assert (status["release"], status["collect"], status["feedback"]) == (0, 0, 0)


def test_submission_secret_goes_along_to_autograded_and_feedback(graded):
    """nbgrader's release_feedback hashes each feedback page with the submission's secret and
    fails without it (as it did in the JupyterHub test before the secret was carried along)."""
    workspace = graded[0].workspace
    for stage in ("submitted", "autograded", "feedback"):
        secret = workspace / stage / "reference" / DAY / "submission_secret.txt"
        assert secret.read_text() == "s3cret-of-reference", stage
    assert not (workspace / "autograded" / "blank" / DAY / "submission_secret.txt").exists()


def test_release_copies_fixture_files(graded):
    course = graded[0]
    assert (course.release_dir / DAY / "fixtures" / "tiny.txt").read_text() == "fixture"


def test_cli_reports_a_missing_day_with_exit_status_one(graded, capsys):
    course = graded[0]
    code = main(["--repo", str(course.repo), "--workspace", str(course.workspace),
                 "grade", "day9"])
    assert code == 1
    assert "no submissions of day9" in capsys.readouterr().err


def test_workspace_paths(graded):
    course = graded[0]
    for step in ("submitted", "autograded", "feedback"):
        assert (course.workspace / step / "reference" / DAY).is_dir()
    assert Path(course.db_url.removeprefix("sqlite:///")) == course.workspace / "gradebook.db"


def test_notebook_added_after_the_last_release_is_recorded_and_graded(tmp_path: Path):
    from autograder.grading import grade
    from autograder.release import release

    course = make_tiny_course(tmp_path)
    release(course, DAY)  # records tiny in the gradebook
    source = course.source_dir / DAY
    (source / "tiny2.ipynb").write_bytes((source / "tiny.ipynb").read_bytes())
    submitted = course.workspace / "submitted" / "alice" / DAY
    submitted.mkdir(parents=True)
    for stem in ("tiny", "tiny2"):
        (submitted / f"{stem}.ipynb").write_bytes((source / "tiny.ipynb").read_bytes())
    results = grade(course, DAY)
    assert [(g.notebook, g.ok) for g in results] == [("tiny", True), ("tiny2", True)]
    assert grade_table(course, DAY).rows["alice"]["tiny2"].cells == POINTS


def test_a_kernel_that_cannot_import_the_course_is_a_grading_error_not_tampering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A broken grading environment (here: a ``course`` package that fails to import, first on
    the unsandboxed kernel's path) is the grader's fault: a grading error naming the cause, no
    score and no tamper flag (every test cell would otherwise end without a guard verdict)."""
    broken = tmp_path / "broken" / "course"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('course is broken here')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    monkeypatch.setenv("DLCOURSE_SANDBOX", "off")  # the sandbox's python -I ignores PYTHONPATH
    from autograder.grading import grade
    from autograder.release import release

    course = make_tiny_course(tmp_path)
    release(course, DAY)
    submitted = course.workspace / "submitted" / "alice" / DAY
    submitted.mkdir(parents=True)
    (submitted / "tiny.ipynb").write_bytes((course.source_dir / DAY / "tiny.ipynb").read_bytes())
    [result] = grade(course, DAY)
    assert result.status == "grading error", (result.status, result.error)
    assert "course is broken here" in result.error, result.error
    assert not any("tamper" in flag for flag in result.flags), result.flags
