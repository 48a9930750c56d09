"""Fixture files of the visible tests: written reproducibly, and stale ones caught."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from autograder import fixture_files
from autograder.cli import main
from autograder.config import Course
from autograder.fixture_files import (
    check_fixtures,
    fixture_path,
    read_npz,
    write_fixtures,
    write_npz,
)


def _spec(arrays: dict[str, np.ndarray]) -> SimpleNamespace:
    return SimpleNamespace(NOTEBOOK="day0/tiny", make_fixtures=lambda: dict(arrays))


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return Course.from_options(workspace=tmp_path / "ws", repo=tmp_path / "repo")


ARRAYS = {"x": np.linspace(0.0, 1.0, 6).reshape(2, 3), "t": np.array([1, 0], dtype=np.int64)}


def test_fixture_lives_beside_the_source_notebook(course: Course):
    assert fixture_path(course, _spec(ARRAYS)) == course.repo / "solutions/day0/fixtures/tiny.npz"


def test_written_npz_is_byte_reproducible_and_loads(tmp_path: Path):
    write_npz(tmp_path / "a.npz", ARRAYS)
    write_npz(tmp_path / "b.npz", ARRAYS)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = read_npz(tmp_path / "a.npz")
    assert set(loaded) == set(ARRAYS)
    assert all(np.array_equal(loaded[k], ARRAYS[k]) for k in ARRAYS)


def test_fresh_fixtures_pass_the_check(course: Course):
    spec = _spec(ARRAYS)
    assert write_fixtures(course, [spec]) == [fixture_path(course, spec)]
    assert check_fixtures(course, [spec]) == {}


def test_unchanged_fixtures_are_not_rewritten(course: Course):
    spec = _spec(ARRAYS)
    write_fixtures(course, [spec])
    assert write_fixtures(course, [spec]) == []


def test_check_catches_a_stale_value(course: Course):
    write_fixtures(course, [_spec(ARRAYS)])
    changed = dict(ARRAYS, x=ARRAYS["x"] + 1e-9)  # the reference library changed slightly
    stale = check_fixtures(course, [_spec(changed)])
    assert list(stale) == [fixture_path(course, _spec(ARRAYS))]
    assert stale[fixture_path(course, _spec(ARRAYS))][0].startswith("x: values differ")


def test_check_catches_changed_dtype_and_keys(course: Course):
    write_fixtures(course, [_spec(ARRAYS)])
    changed = {"x": ARRAYS["x"].astype(np.float32), "new": np.zeros(2)}
    problems = next(iter(check_fixtures(course, [_spec(changed)]).values()))
    assert "missing array 'new'" in problems
    assert "extra array 't'" in problems
    assert any(p.startswith("x: float64(2, 3) stored, float32(2, 3) now") for p in problems)


def test_check_reports_a_missing_file(course: Course):
    assert list(check_fixtures(course, [_spec(ARRAYS)]).values()) == [
        ["file missing (run: python -m autograder fixtures)"]
    ]


def test_round_off_noise_is_not_stale(course: Course):
    write_fixtures(course, [_spec(ARRAYS)])
    noisy = dict(ARRAYS, x=ARRAYS["x"] * (1 + 1e-15))
    assert check_fixtures(course, [_spec(noisy)]) == {}


@pytest.mark.slow  # runs every spec's make_fixtures()
def test_committed_fixtures_are_up_to_date():
    assert check_fixtures(Course.from_options()) == {}, "run: make fixtures"


def test_cli_check_exits_nonzero_on_a_stale_fixture(
    course: Course, monkeypatch: pytest.MonkeyPatch, capsys
):
    write_fixtures(course, [_spec(ARRAYS)])
    changed = dict(ARRAYS, t=ARRAYS["t"][::-1])
    monkeypatch.setattr(fixture_files, "all_specs", lambda: [_spec(changed)])
    code = main(["--repo", str(course.repo), "--workspace", str(course.workspace),
                 "fixtures", "--check"])
    assert code == 1
    assert "t: values differ" in capsys.readouterr().err


def test_cli_check_exits_zero_when_up_to_date(
    course: Course, monkeypatch: pytest.MonkeyPatch
):
    write_fixtures(course, [_spec(ARRAYS)])
    monkeypatch.setattr(fixture_files, "all_specs", lambda: [_spec(ARRAYS)])
    code = main(["--repo", str(course.repo), "--workspace", str(course.workspace),
                 "fixtures", "--check"])
    assert code == 0
