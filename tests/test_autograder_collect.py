"""collect: returned notebooks (folder or zip) into the workspace, earlier submissions kept."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from nbgrader.utils import parse_utc

from autograder.collect import CollectError, collect
from autograder.config import Course

DAY = "day4"
NOTEBOOKS = ("4_1_bn", "4_3_dropout")


@pytest.fixture
def course(tmp_path: Path) -> Course:
    course = Course.from_options(workspace=tmp_path / "ws", repo=tmp_path / "repo")
    released = course.release_dir / DAY
    released.mkdir(parents=True)
    for stem in NOTEBOOKS:
        (released / f"{stem}.ipynb").write_text("{}")
    return course


def _returned(root: Path, layout: str, students=("alice", "bob"), text="{}") -> Path:
    for student in students:
        folder = root / student / DAY if layout == "nested" else root / student
        folder.mkdir(parents=True, exist_ok=True)
        for stem in NOTEBOOKS:
            (folder / f"{stem}.ipynb").write_text(text)
    return root


def _submitted(course: Course, student: str) -> Path:
    return course.workspace / "submitted" / student / DAY


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_collects_student_folders(course: Course, tmp_path: Path, layout: str):
    result = collect(course, DAY, _returned(tmp_path / "in", layout))
    assert sorted(result.students) == ["alice", "bob"]
    for student in ("alice", "bob"):
        names = sorted(p.name for p in _submitted(course, student).glob("*.ipynb"))
        assert names == [f"{stem}.ipynb" for stem in NOTEBOOKS]


def test_collects_a_zip(course: Course, tmp_path: Path):
    source = _returned(tmp_path / "in", "nested")
    archive = tmp_path / "returned.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in source.rglob("*.ipynb"):
            zf.write(path, path.relative_to(source).as_posix())
    result = collect(course, DAY, archive)
    assert sorted(result.students) == ["alice", "bob"]
    assert (_submitted(course, "bob") / "4_3_dropout.ipynb").exists()


def test_writes_a_timestamp_nbgrader_can_read(course: Course, tmp_path: Path):
    collect(course, DAY, _returned(tmp_path / "in", "flat"))
    stamp = (_submitted(course, "alice") / "timestamp.txt").read_text().strip()
    assert parse_utc(stamp).year >= 2024


def test_earlier_submission_is_archived_not_deleted(course: Course, tmp_path: Path):
    first = _returned(tmp_path / "first", "flat", ("alice",), text='{"v": 1}')
    second = _returned(tmp_path / "second", "flat", ("alice",), text='{"v": 2}')
    collect(course, DAY, first)
    result = collect(course, DAY, second)
    archived = result.archived["alice"]
    assert archived.is_relative_to(course.workspace / "archive" / "alice" / DAY)
    assert (archived / "4_1_bn.ipynb").read_text() == '{"v": 1}'
    assert (_submitted(course, "alice") / "4_1_bn.ipynb").read_text() == '{"v": 2}'


def test_third_submission_keeps_both_earlier_ones(course: Course, tmp_path: Path):
    for n in range(3):
        collect(course, DAY, _returned(tmp_path / f"in{n}", "flat", ("alice",), text=str(n)))
    kept = sorted((course.workspace / "archive" / "alice" / DAY).glob("*/4_1_bn.ipynb"))
    assert sorted(p.read_text() for p in kept) == ["0", "1"]


def test_unknown_notebooks_are_kept_and_reported(course: Course, tmp_path: Path):
    source = _returned(tmp_path / "in", "flat", ("alice",))
    (source / "alice" / "4_1_bn (1).ipynb").write_text("{}")
    result = collect(course, DAY, source)
    assert result.unknown == ["alice/4_1_bn (1).ipynb"]
    assert (_submitted(course, "alice") / "4_1_bn (1).ipynb").exists()


def test_manifest_records_every_file_as_received(course: Course, tmp_path: Path):
    import hashlib
    import json

    source = _returned(tmp_path / "in", "flat", ("alice",), text='{"x": 1}')
    collect(course, DAY, source)
    manifest = json.loads((_submitted(course, "alice") / "manifest.json").read_text())
    digest = hashlib.sha256(b'{"x": 1}').hexdigest()
    assert {name: entry["sha256"] for name, entry in manifest["files"].items()} == {
        f"{stem}.ipynb": digest for stem in NOTEBOOKS}
    assert manifest["deadline"] is None
    assert not any(entry["late"] for entry in manifest["files"].values())


def test_zip_members_keep_their_dates_as_time_received(course: Course, tmp_path: Path):
    import json
    from datetime import datetime

    archive = tmp_path / "returned.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for stem, day in (("4_1_bn", 1), ("4_3_dropout", 3)):
            zf.writestr(zipfile.ZipInfo(f"alice/{stem}.ipynb", (2025, 6, day, 12, 0, 0)), "{}")
    collect(course, DAY, archive, deadline="2025-06-02T12:00:00")  # local time, like zip dates
    manifest = json.loads((_submitted(course, "alice") / "manifest.json").read_text())
    received = {name: datetime.fromisoformat(entry["received"])
                for name, entry in manifest["files"].items()}
    assert received["4_1_bn.ipynb"] == datetime(2025, 6, 1, 12).astimezone()
    assert {name: entry["late"] for name, entry in manifest["files"].items()} == {
        "4_1_bn.ipynb": False, "4_3_dropout.ipynb": True}


def test_unusable_student_id_is_skipped(course: Course, tmp_path: Path):
    result = collect(course, DAY, _returned(tmp_path / "in", "flat", ("bad name",)))
    assert result.students == {}
    assert result.skipped[0].startswith("bad name: not a usable student id")


def test_source_without_notebooks_is_an_error(course: Course, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CollectError, match="no returned notebooks"):
        collect(course, DAY, tmp_path / "empty")


def test_missing_source_is_an_error(course: Course, tmp_path: Path):
    with pytest.raises(CollectError, match="neither a folder nor a zip"):
        collect(course, DAY, tmp_path / "nowhere")


def test_unreadable_files_are_skipped_and_the_rest_collected(course: Course, tmp_path: Path):
    """A folder named like a notebook and a dangling link: each reported, neither stops the
    others (before, the first OSError aborted the whole collect)."""
    returned = _returned(tmp_path / "in", "flat")
    (returned / "alice" / "4_1_bn.ipynb").unlink()
    (returned / "alice" / "4_1_bn.ipynb").mkdir()
    (returned / "bob" / "4_1_bn.ipynb").unlink()
    (returned / "bob" / "4_1_bn.ipynb").symlink_to(tmp_path / "gone.ipynb")
    result = collect(course, DAY, returned)
    for student in ("alice", "bob"):
        assert result.students[student] == ["4_3_dropout.ipynb"]
        assert any(line.startswith(f"{student}/4_1_bn.ipynb: unreadable")
                   for line in result.skipped), result.skipped
        assert [p.name for p in _submitted(course, student).glob("*.ipynb")] == [
            "4_3_dropout.ipynb"]


def test_preflight_reports_an_unreadable_file_instead_of_raising(tmp_path: Path):
    from autograder.preflight import read_notebook

    (tmp_path / "x.ipynb").mkdir()
    nb, reason, _ = read_notebook(tmp_path / "x.ipynb")
    assert nb is None and reason.startswith("unreadable file")
