"""The demo's own logic (`make demo` runs it all; test_autograder_day4 covers its grading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.config import Course
from autograder.demo import DemoError, _fresh_workspace, demo_course, mismatches

EXPECTED = {
    "reference": {"day4/a": {"t1": 2.0, "t2": 1.0}, "day1/z": {"t": 1.0}},
    "blank": {"day4/a": {"t1": 0.0, "t2": 0.0}},
    "partial": {"day4/a": {"t1": 2.0, "t2": 0.0}},
}


def test_no_mismatch_when_every_cell_matches():
    got = {s: {"day4/a": dict(cells["day4/a"])} for s, cells in EXPECTED.items()}
    assert mismatches(EXPECTED, got) == []


def test_mismatch_names_student_notebook_cell_and_points():
    got = {s: {"day4/a": dict(cells["day4/a"])} for s, cells in EXPECTED.items()}
    got["partial"]["day4/a"]["t2"] = 1.0
    assert mismatches(EXPECTED, got) == ["partial/day4/a/t2: 1.0 (expected 0)"]


def test_graded_notebook_missing_from_expected_is_reported():
    got = {s: {"day4/a": dict(cells["day4/a"])} for s, cells in EXPECTED.items()}
    got["reference"]["day4/new"] = {"t": 1.0}
    assert mismatches(EXPECTED, got) == [
        "day4/new: not in expected.json (stale samples: python -m autograder samples)"
    ]


def test_demo_runs_in_its_own_workspace(tmp_path: Path):
    course = Course.from_options(workspace=tmp_path / "ws", db_url="postgresql://x/y")
    demo = demo_course(course)
    assert demo.workspace == tmp_path / "ws" / "demo"
    assert demo.db_url == f"sqlite:///{tmp_path / 'ws' / 'demo' / 'gradebook.db'}"


def test_demo_workspace_is_wiped_only_if_the_demo_made_it(tmp_path: Path):
    space = tmp_path / "demo"
    _fresh_workspace(space)
    (space / "old.txt").write_text("from the last run")
    _fresh_workspace(space)
    assert not (space / "old.txt").exists()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "gradebook.db").write_text("a real cohort")
    with pytest.raises(DemoError, match="not made by the demo"):
        _fresh_workspace(foreign)
    assert (foreign / "gradebook.db").exists()
