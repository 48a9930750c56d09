"""``collect DAY SRC``: returned notebooks into ``<workspace>/submitted/<student>/<DAY>/``.

SRC is a folder or a ``.zip`` holding ``<student>/<notebook>.ipynb`` or
``<student>/<DAY>/<notebook>.ipynb``. A file's time received is the ``timestamp.txt`` beside it in
SRC (nbgrader's exchange writes one per submission), else its modification time (for a zip: the
member's date). Each collected submission gets a ``timestamp.txt`` (the latest time received, UTC;
nbgrader reads it) and a ``manifest.json``: the time of collection, the deadline (``--deadline``,
else ``config.DEADLINES[DAY]``, else none) and, for every file as received, its sha256, time
received and whether it came after the deadline (``late``). Lateness is reported, never penalised
(the report flags it). A student's earlier submission is never deleted: it moves to
``<workspace>/archive/<student>/<DAY>/<its timestamp>/`` and the move is reported. Every notebook a
student returned is kept, also one whose name is not a notebook of DAY (``grade`` matches a
renamed notebook by its content, and reports the others). A student folder without any notebook
is reported (``empty``) and collected as an empty submission (unless the student has one
already): ``grade`` records each of its notebooks as ``missing``, so the student has a row in the
report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autograder.config import DEADLINES, Course

SECRET = "submission_secret.txt"  # written by nbgrader's submit, read by release_feedback

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
    late: dict[str, list[str]] = field(default_factory=dict)  # student -> files after deadline
    empty: list[str] = field(default_factory=list)  # students whose folder held no notebook
    deadline: datetime | None = None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without a UTC offset it is the local time of this machine."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CollectError(f"not an ISO 8601 time: {text!r} (e.g. 2025-06-01T23:59+09:00)") \
            from None
    return moment if moment.tzinfo else moment.astimezone()


def _received(notebook: Path, base: Path) -> datetime:
    """When ``notebook`` was returned: its submission's timestamp.txt, else its mtime."""
    stamp = base / "timestamp.txt"
    if stamp.is_file():
        from dateutil.parser import ParserError, parse  # nbgrader's "... UTC" format too

        try:
            moment = parse(stamp.read_text().strip())
            return moment if moment.tzinfo else moment.astimezone()
        except (ParserError, OverflowError):
            pass  # unreadable: the file's own time
    return datetime.fromtimestamp(notebook.stat().st_mtime, UTC)


def _returned_notebooks(folder: Path, day: str) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith((".", "__")):
            continue
        nested = student_dir / day
        base = nested if nested.is_dir() else student_dir
        found[student_dir.name] = sorted(base.glob("*.ipynb"))
    return found


def _timestamp_of(folder: Path) -> str:
    stamp = folder / "timestamp.txt"
    text = stamp.read_text().strip() if stamp.exists() else ""
    if not text:
        text = datetime.fromtimestamp(folder.stat().st_mtime, UTC).isoformat()
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-")


def collect(course: Course, day: str, src: Path, deadline: str | None = None) -> Collected:
    """Copy every student's returned notebooks of ``day`` from ``src`` into the workspace;
    ``deadline`` (ISO 8601, default ``config.DEADLINES[day]``) marks the late ones."""
    src = Path(src)
    deadline = deadline or DEADLINES.get(day)
    if src.is_file() and zipfile.is_zipfile(src):
        with tempfile.TemporaryDirectory(prefix="dlcourse-collect-") as scratch:
            with zipfile.ZipFile(src) as archive:
                archive.extractall(scratch)  # zipfile refuses ".." and absolute member names
                for member in archive.infolist():  # extractall does not keep the dates
                    path = Path(scratch) / member.filename
                    if path.is_file():
                        stamp = datetime(*member.date_time).timestamp()  # local time, as zip
                        os.utime(path, (stamp, stamp))
            return collect(course, day, Path(scratch), deadline)
    if not src.is_dir():
        raise CollectError(f"{src} is neither a folder nor a zip file")

    known = {p.stem for p in (course.release_dir / day).glob("*.ipynb")}
    result = Collected(deadline=parse_time(deadline) if deadline else None)
    found = _returned_notebooks(src, day)
    if not any(found.values()):
        raise CollectError(
            f"no returned notebooks in {src}: expected <student>/<notebook>.ipynb "
            f"or <student>/{day}/<notebook>.ipynb"
        )
    now = datetime.now(UTC).isoformat()
    for student, notebooks in found.items():
        if not STUDENT_ID.match(student):
            result.skipped.append(f"{student}: not a usable student id (letters, digits, _.@-)")
            continue
        readable = []
        for notebook in notebooks:  # a folder named x.ipynb, a dangling link, no permission
            try:
                with notebook.open("rb"):
                    readable.append(notebook)
            except OSError as error:
                result.skipped.append(f"{student}/{notebook.name}: unreadable "
                                      f"({error.strerror or error}), not collected")
        notebooks = readable
        result.unknown += [f"{student}/{nb.name}" for nb in notebooks
                           if known and nb.stem not in known]
        target = course.workspace / "submitted" / student / day
        if not notebooks and target.exists():  # an empty folder does not replace a submission
            result.skipped.append(f"{student}: no notebook in the folder (earlier submission kept)")
            continue
        if target.exists():
            archive = course.workspace / "archive" / student / day / _timestamp_of(target)
            archive.parent.mkdir(parents=True, exist_ok=True)
            while archive.exists():
                archive = archive.with_name(archive.name + "-again")
            shutil.move(str(target), str(archive))
            result.archived[student] = archive
        target.mkdir(parents=True)
        files = {}
        for notebook in notebooks:
            shutil.copyfile(notebook, target / notebook.name)
            received = _received(notebook, notebook.parent).astimezone(UTC)
            late = result.deadline is not None and received > result.deadline
            files[notebook.name] = {"sha256": hashlib.sha256(notebook.read_bytes()).hexdigest(),
                                    "received": received.isoformat(), "late": late}
            if late:
                result.late.setdefault(student, []).append(notebook.name)
        if not notebooks:
            result.empty.append(student)
        else:
            latest = max(entry["received"] for entry in files.values())
            (target / "timestamp.txt").write_text(latest + "\n")
        # nbgrader's exchange signs each submission with a secret; release_feedback needs it
        # beside the feedback (grade carries it into autograded/, feedback into feedback/).
        for secret in {nb.parent / SECRET for nb in notebooks if (nb.parent / SECRET).is_file()}:
            shutil.copyfile(secret, target / SECRET)
        manifest = {"collected_at": now,
                    "deadline": result.deadline.isoformat() if result.deadline else None,
                    "files": files}
        (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        result.students[student] = [nb.name for nb in notebooks]
    return result
