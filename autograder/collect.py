"""``collect DAY SRC``: returned notebooks into ``<workspace>/submitted/<student>/<DAY>/``.

SRC is a folder or a ``.zip`` holding ``<student>/<notebook>.ipynb`` or
``<student>/<DAY>/<notebook>.ipynb``. Each collected submission gets a ``timestamp.txt`` (the time
of collection, UTC; nbgrader reads it) and a ``manifest.json`` (that time and the sha256 of every
file as received). A student's earlier submission is never deleted: it moves to
``<workspace>/archive/<student>/<DAY>/<its timestamp>/`` and the move is reported. Every notebook a
student returned is kept, also one whose name is not a notebook of DAY (``grade`` matches a
renamed notebook by its content, and reports the others).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autograder.config import Course

# nbgrader puts student ids into paths and regular expressions: keep them plain.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class CollectError(ValueError):
    """SRC is not a folder or zip of returned notebooks."""


@dataclass
class Collected:
    """What ``collect`` did."""

    students: dict[str, list[str]] = field(default_factory=dict)  # student -> notebook names
    archived: dict[str, Path] = field(default_factory=dict)  # student -> earlier submission
    skipped: list[str] = field(default_factory=list)  # what was not collected, and why
    unknown: list[str] = field(default_factory=list)  # kept, but not named as a notebook of DAY


def _returned_notebooks(folder: Path, day: str) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith((".", "__")):
            continue
        nested = student_dir / day
        base = nested if nested.is_dir() else student_dir
        notebooks = sorted(base.glob("*.ipynb"))
        if notebooks:
            found[student_dir.name] = notebooks
    return found


def _timestamp_of(folder: Path) -> str:
    stamp = folder / "timestamp.txt"
    text = stamp.read_text().strip() if stamp.exists() else ""
    if not text:
        text = datetime.fromtimestamp(folder.stat().st_mtime, UTC).isoformat()
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-")


def collect(course: Course, day: str, src: Path) -> Collected:
    """Copy every student's returned notebooks of ``day`` from ``src`` into the workspace."""
    src = Path(src)
    if src.is_file() and zipfile.is_zipfile(src):
        with tempfile.TemporaryDirectory(prefix="dlcourse-collect-") as scratch:
            with zipfile.ZipFile(src) as archive:
                archive.extractall(scratch)  # zipfile refuses ".." and absolute member names
            return collect(course, day, Path(scratch))
    if not src.is_dir():
        raise CollectError(f"{src} is neither a folder nor a zip file")

    known = {p.stem for p in (course.release_dir / day).glob("*.ipynb")}
    result = Collected()
    found = _returned_notebooks(src, day)
    if not found:
        raise CollectError(
            f"no returned notebooks in {src}: expected <student>/<notebook>.ipynb "
            f"or <student>/{day}/<notebook>.ipynb"
        )
    now = datetime.now(UTC).isoformat()
    for student, notebooks in found.items():
        if not STUDENT_ID.match(student):
            result.skipped.append(f"{student}: not a usable student id (letters, digits, _.@-)")
            continue
        result.unknown += [f"{student}/{nb.name}" for nb in notebooks
                           if known and nb.stem not in known]
        target = course.workspace / "submitted" / student / day
        if target.exists():
            archive = course.workspace / "archive" / student / day / _timestamp_of(target)
            archive.parent.mkdir(parents=True, exist_ok=True)
            while archive.exists():
                archive = archive.with_name(archive.name + "-again")
            shutil.move(str(target), str(archive))
            result.archived[student] = archive
        target.mkdir(parents=True)
        for notebook in notebooks:
            shutil.copyfile(notebook, target / notebook.name)
        (target / "timestamp.txt").write_text(now + "\n")
        manifest = {"collected_at": now, "files": {
            nb.name: hashlib.sha256(nb.read_bytes()).hexdigest() for nb in notebooks}}
        (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        result.students[student] = [nb.name for nb in notebooks]
    return result
