"""Sample submissions: reference, blank and partial notebooks, and their expected points."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from autograder_tiny import DAY, SQUARE, make_tiny_course, source_notebook

from autograder import samples
from autograder.config import Course
from autograder.release import release
from autograder.samples import (
    SampleError,
    build_notebook_samples,
    check_samples,
    load_expected,
    solution_code,
)
from autograder.specs import Bug

BUG = Bug(name="cube is a square", cell="cube", old="x ** 3", new="x ** 2",
          caught_by="test_cube", message_contains="cube")


def _spec(partial_expected: dict, partial_bugs=("cube is a square",)) -> SimpleNamespace:
    return SimpleNamespace(NOTEBOOK=f"{DAY}/tiny", TYPICAL_BUGS=[BUG],
                           PARTIAL_BUGS=list(partial_bugs), PARTIAL_EXPECTED=partial_expected)


@pytest.fixture(scope="module")
def released_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny notebook as nbgrader releases it (stubs instead of solutions): one release for
    the module (nbgrader's release is most of these tests' time)."""
    course = make_tiny_course(tmp_path_factory.mktemp("samples"))
    return release(course, DAY) / "tiny.ipynb"


@pytest.fixture
def released(released_path: Path) -> nbformat.NotebookNode:
    """A copy of the released tiny notebook for one test."""
    return nbformat.read(released_path, as_version=4)


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> str:
    return next(c.source for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == grade_id)


def test_solution_code_drops_only_the_marker_lines():
    assert solution_code(SQUARE) == "def square(x):\n    return x ** 2"


@pytest.mark.slow
def test_three_samples_and_their_expected_points(released, monkeypatch: pytest.MonkeyPatch):
    spec = _spec({"test_square": 2, "test_cube": 0})
    monkeypatch.setattr(samples, "spec_for", lambda notebook: spec)
    notebooks, expected = build_notebook_samples(released, source_notebook(), f"{DAY}/tiny")
    assert _cell(notebooks["reference"], "square") == "def square(x):\n    return x ** 2"
    assert _cell(notebooks["partial"], "cube") == "def cube(x):\n    return x ** 2"
    assert _cell(notebooks["partial"], "square") == "def square(x):\n    return x ** 2"
    assert notebooks["blank"] == released
    assert "NotImplementedError" in _cell(notebooks["blank"], "square")
    assert expected == {
        "reference": {"test_square": 2.0, "test_cube": 3.0},
        "blank": {"test_square": 0.0, "test_cube": 0.0},
        "partial": {"test_square": 2.0, "test_cube": 0.0},
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec({"test_square": 2}), "must name every graded cell"),
        (_spec({"test_square": 2, "test_cube": 4}), "outside 0..points"),
        (_spec({"test_square": 2, "test_cube": 0}, ["no such bug"]), "not in TYPICAL_BUGS"),
    ],
)
def test_inconsistent_spec_is_refused(released, monkeypatch, spec, message):
    monkeypatch.setattr(samples, "spec_for", lambda notebook: spec)
    with pytest.raises(SampleError, match=message):
        build_notebook_samples(released, source_notebook(), f"{DAY}/tiny")


@pytest.mark.slow
def test_bug_that_does_not_apply_is_refused(released, monkeypatch: pytest.MonkeyPatch):
    spec = _spec({"test_square": 2, "test_cube": 0})
    spec.TYPICAL_BUGS = [Bug(name="cube is a square", cell="cube", old="x ** 4", new="x",
                             caught_by="test_cube", message_contains="")]
    monkeypatch.setattr(samples, "spec_for", lambda notebook: spec)
    with pytest.raises(SampleError, match="occurs 0 times"):
        build_notebook_samples(released, source_notebook(), f"{DAY}/tiny")


def test_committed_samples_are_up_to_date():
    assert check_samples(Course.from_options()) == [], "run: python -m autograder samples"


def test_expected_points_cover_every_released_notebook():
    course = Course.from_options()
    released = {f"{p.parent.name}/{p.stem}" for p in course.release_dir.glob("*/*.ipynb")}
    expected = load_expected(course)
    assert {student: set(nbs) for student, nbs in expected.items()} == {
        s: released for s in ("reference", "blank", "partial")
    }
