"""The course gradebook: what grading writes into it, and how it stays out of learner code's reach.

Grading never runs a learner's kernel against the course gradebook. Each notebook is autograded by
nbgrader in a sandbox with a throwaway SQLite gradebook made from ``template`` (the assignment's
definition, copied from the course gradebook); ``record`` then copies the result into the course
gradebook, from the one grading process only (serialised writes: parallel workers never write
it, so SQLite sees no concurrent writers and any SQLAlchemy URL works, PostgreSQL included).

``record`` always overwrites every grade of the notebook: a re-run that fails (a corrupt
resubmission, a dead kernel) never leaves the old 5/5 in place. Its status, reason and flags go
to the table ``dlcourse_grading`` in the same database (``read_status``); a notebook graded 0
because it could not run always has a status there saying why. The row also holds the sha256 of
the submitted file and the version of the assignment notebook it was graded against: what
``grade`` compares to skip a notebook that is up to date (and so resume an interrupted batch).

Each ``record`` also writes, in the same transaction, a digest of what it recorded for the
notebook (every autograded score and maximum, the penalty, the status row) into
``dlcourse_digest``: an HMAC keyed with ``<workspace>/gradebook.key``, a file only the grader
writes. ``verify`` recomputes it: a row changed afterwards by anything but ``record`` (a process a
learner's kernel left behind, a hand edit) no longer matches, and ``report`` shows that notebook as
``gradebook changed after grading`` with 0 points, never the changed score. Manual grades given in
Formgrader (``manual_score``, extra credit, comments) are the instructor's and outside the digest.

``SqliteGuard`` keeps an in-memory copy of a SQLite gradebook after every write and puts it back
if the file was damaged meanwhile (a learner cell that truncates ``*.db`` files it can find).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table, Text, delete, select

from autograder.config import COURSE_ID

STATUS_TABLE = Table(
    "dlcourse_grading",
    MetaData(),
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("notebook", String(255), primary_key=True),  # a stem, or "<file>.ipynb" for extras
    Column("status", String(64), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("flags", Text, nullable=False, default="[]"),  # JSON list
    Column("score", Float),
    Column("max_score", Float),
    Column("seconds", Float),
    Column("graded_at", DateTime),
    Column("sha256", String(64)),
    Column("file", Text),
    Column("version", String(64)),  # sha256 of what it was graded against (grading.versions)
    Column("sandbox", String(64)),  # "bubblewrap": its kernel ran in the sandbox; "": it did not
)
DIGEST_TABLE = Table(
    "dlcourse_digest",
    MetaData(),
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("notebook", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),
)
KEY_FILE = "gradebook.key"
STATUS_OK = "ok"
STATUS_CHANGED = "gradebook changed after grading"
STATUS_EXTRA = "extra notebook"


@dataclass
class NotebookResult:
    """The outcome of grading one notebook of one student, as it goes into the gradebook."""

    student: str
    assignment: str
    notebook: str
    status: str = STATUS_OK
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    # grade_id -> points (missing: 0); None: a written answer that waits for a grader
    scores: dict[str, float | None] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)  # solution cell -> comment
    penalty: float = 0.0  # late submission penalty
    seconds: float = 0.0
    timestamp: str | None = None
    sha256: str | None = None
    file: str | None = None
    version: str | None = None  # of the assignment notebook and the limits it was graded with
    sandbox: str = ""  # "bubblewrap" when its kernel ran in autograder.sandbox's walls
    autograded: bytes | None = None  # the autograded notebook file, when there is one

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def template(main_url: str, day: str, path: Path) -> Path:
    """A new SQLite gradebook at ``path`` holding ``day``'s definition from the course gradebook
    (notebooks, grade/solution/task/source cells with checksums, due date): what nbgrader needs to
    autograde a submission, and nothing of any student."""
    from nbgrader.api import Gradebook

    from autograder.alembic_head import install

    install()  # the new gradebook stamped without nbgrader's `alembic heads` process
    with Gradebook(main_url, COURSE_ID) as src, Gradebook(f"sqlite:///{path}", COURSE_ID) as dst:
        assignment = src.find_assignment(day)
        dst.update_or_create_assignment(day, duedate=assignment.duedate)
        for nb in assignment.notebooks:
            dst.add_notebook(nb.name, day, kernelspec=nb.kernelspec)
            for c in nb.grade_cells:
                dst.add_grade_cell(c.name, nb.name, day, max_score=c.max_score,
                                   cell_type=c.cell_type)
            for c in nb.solution_cells:
                dst.add_solution_cell(c.name, nb.name, day)
            for c in nb.task_cells:
                dst.add_task_cell(c.name, nb.name, day, max_score=c.max_score,
                                  cell_type=c.cell_type)
            for c in nb.source_cells:
                dst.add_source_cell(c.name, nb.name, day, cell_type=c.cell_type,
                                    locked=c.locked, source=c.source, checksum=c.checksum)
    return path


def read_sandbox(url: str, result: NotebookResult) -> None:
    """Fill ``result``'s scores, comments and penalty from a sandbox gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(url, COURSE_ID) as gb:
        submitted = gb.find_submission_notebook(result.notebook, result.assignment, result.student)
        result.scores = {g.name: None if g.auto_score is None else float(g.auto_score)
                         for g in submitted.grades}
        result.comments = {c.name: c.auto_comment for c in submitted.comments}
        result.penalty = float(submitted.late_submission_penalty or 0.0)


def _submitted_notebook(gb, submission, name: str):  # noqa: ANN001, ANN202 (nbgrader ORM)
    """The student's row for notebook ``name``, created when the notebook is newer than the
    submission (nbgrader creates them only with the submission)."""
    from nbgrader.api import Comment, Grade, MissingEntry, SubmittedNotebook

    try:
        return gb.find_submission_notebook(name, submission.assignment.name,
                                           submission.student.id)
    except MissingEntry:
        notebook = gb.find_notebook(name, submission.assignment.name)
        row = SubmittedNotebook(notebook=notebook, assignment=submission)
        for cell in notebook.grade_cells:
            Grade(cell_id=cell.id, notebook=row)
        for cell in [*notebook.solution_cells, *notebook.task_cells]:
            Comment(cell_id=cell.id, notebook=row)
        for cell in notebook.task_cells:
            Grade(cell_id=cell.id, notebook=row)
        gb.db.add(row)
        gb.db.commit()
        return row


def grader_key(workspace: Path) -> bytes:
    """The key of the gradebook's digests (created on first use, readable by its owner only)."""
    path = Path(workspace) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _digest(key: bytes, grades: list[tuple], penalty: float | None, status: dict) -> str:
    """HMAC of one notebook's recorded rows (grades: name, auto score, max score)."""
    canonical = json.dumps({"grades": sorted(grades), "penalty": penalty, "status": status},
                           sort_keys=True, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _status_fields(values: dict) -> dict:
    keep = ("status", "reason", "flags", "score", "max_score", "sha256", "file", "version")
    found = {k: values.get(k) for k in keep}
    for k in ("score", "max_score"):
        found[k] = None if found[k] is None else round(float(found[k]), 6)
    return found


def _grade_rows(row) -> list[tuple]:  # noqa: ANN001 (a SubmittedNotebook)
    return [(g.name, None if g.auto_score is None else round(float(g.auto_score), 6),
             round(float(g.max_score), 6)) for g in row.grades]


def record(url: str, result: NotebookResult, key: bytes | None = None) -> None:
    """Write ``result`` into the course gradebook: every grade of the notebook, its status, and
    (with ``key``) the digest of both, in one transaction."""
    from nbgrader.api import Gradebook

    with Gradebook(url, COURSE_ID) as gb:
        _create_status_table(gb.engine)
        DIGEST_TABLE.create(gb.engine, checkfirst=True)
        grades: list[tuple] = []
        penalty = None
        if result.status != STATUS_EXTRA:
            gb.update_or_create_student(result.student)
            kwargs = {"timestamp": result.timestamp} if result.timestamp else {}
            submission = gb.update_or_create_submission(result.assignment, result.student,
                                                        **kwargs)
            row = _submitted_notebook(gb, submission, result.notebook)
            score = max_score = 0.0
            for grade in row.grades:
                value = result.scores.get(grade.name, 0.0)
                if value is None:  # an answered written question: left to a grader (Formgrader)
                    grade.auto_score = None
                    grade.needs_manual_grade = grade.manual_score is None
                else:
                    grade.auto_score = float(value)
                    grade.needs_manual_grade = grade.manual_score is not None
                score += grade.score
                max_score += grade.max_score
            for comment in row.comments:
                comment.auto_comment = result.comments.get(comment.name)
            row.late_submission_penalty = result.penalty or None
            gb.db.flush()
            grades = _grade_rows(row)
            recorded = {name: auto for name, auto, _ in grades}
            if any(recorded.get(k) != (None if v is None else round(float(v), 6))
                   for k, v in result.scores.items()):  # None: a written answer left to a grader
                raise RuntimeError(f"the gradebook did not take the scores of {result.student}/"
                                   f"{result.notebook} as reported: {recorded} != {result.scores}")
            penalty = row.late_submission_penalty
        else:
            score = max_score = None
        where = (STATUS_TABLE.c.assignment == result.assignment,
                 STATUS_TABLE.c.student == result.student,
                 STATUS_TABLE.c.notebook == result.notebook)
        values = dict(
            assignment=result.assignment, student=result.student, notebook=result.notebook,
            status=result.status, reason=result.reason, flags=json.dumps(result.flags),
            score=score, max_score=max_score, seconds=result.seconds,
            graded_at=datetime.now(UTC).replace(tzinfo=None), sha256=result.sha256,
            file=result.file, version=result.version, sandbox=result.sandbox)
        gb.db.execute(delete(STATUS_TABLE).where(*where))
        gb.db.execute(STATUS_TABLE.insert().values(**values))
        gb.db.execute(delete(DIGEST_TABLE).where(
            DIGEST_TABLE.c.assignment == result.assignment,
            DIGEST_TABLE.c.student == result.student, DIGEST_TABLE.c.notebook == result.notebook))
        if key is not None:
            gb.db.execute(DIGEST_TABLE.insert().values(
                assignment=result.assignment, student=result.student, notebook=result.notebook,
                digest=_digest(key, grades, penalty, _status_fields(values))))
        gb.db.commit()


def verify(url: str, day: str, key: bytes | None) -> dict[tuple[str, str], bool]:
    """(student, notebook) -> whether its recorded rows still match the digest ``record`` kept;
    empty when no digest was ever kept for ``day`` (a gradebook of an earlier version)."""
    from nbgrader.api import Gradebook
    from sqlalchemy import inspect

    found: dict[tuple[str, str], bool] = {}
    with Gradebook(url, COURSE_ID) as gb:
        if DIGEST_TABLE.name not in inspect(gb.engine).get_table_names():
            return found
        digests = {(r.student, r.notebook): r.digest for r in gb.db.execute(
            select(DIGEST_TABLE).where(DIGEST_TABLE.c.assignment == day)).all()}
        if not digests:
            return found
        statuses = {(r.student, r.notebook): dict(r._mapping) for r in gb.db.execute(
            select(STATUS_TABLE).where(STATUS_TABLE.c.assignment == day)).all()}
        graded: dict[tuple[str, str], Any] = {}
        try:
            assignment = gb.find_assignment(day)
        except Exception:  # noqa: BLE001 (not in the gradebook: nothing graded to check)
            assignment = None
        for submission in assignment.submissions if assignment is not None else []:
            for notebook in submission.notebooks:
                graded[(submission.student.id, notebook.name)] = notebook
        for pair in set(digests) | set(statuses) | set(graded):
            status = statuses.get(pair)
            if pair not in digests and status is None:
                # a row nbgrader created with the submission, never recorded: no score in it
                found[pair] = all(g.auto_score is None for g in graded[pair].grades)
                continue
            if key is None or pair not in digests or status is None:
                found[pair] = False
                continue
            notebook = graded.get(pair)
            grades = _grade_rows(notebook) if notebook is not None and \
                status["status"] != STATUS_EXTRA else []
            penalty = notebook.late_submission_penalty if grades else None
            expected = _digest(key, grades, penalty, _status_fields(status))
            found[pair] = hmac.compare_digest(expected, digests[pair])
    return found


def read_key(workspace: Path) -> bytes | None:
    path = Path(workspace) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _create_status_table(engine) -> None:  # noqa: ANN001 (an SQLAlchemy Engine)
    """The status table, with every column (a table of an earlier version gets the new ones)."""
    from sqlalchemy import inspect, text

    STATUS_TABLE.create(engine, checkfirst=True)
    present = {c["name"] for c in inspect(engine).get_columns(STATUS_TABLE.name)}
    with engine.begin() as connection:
        for column in STATUS_TABLE.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=engine.dialect)
                connection.execute(text(
                    f"ALTER TABLE {STATUS_TABLE.name} ADD COLUMN {column.name} {kind}"))


@dataclass
class Status:
    status: str
    reason: str
    flags: list[str]
    seconds: float | None
    sha256: str | None = None  # of the submitted file graded
    file: str | None = None  # its name
    version: str | None = None  # of the assignment notebook graded against
    sandbox: str = ""  # "bubblewrap": graded in the sandbox


def read_status(url: str, day: str) -> dict[str, dict[str, Status]]:
    """student -> notebook (or extra file) -> its grading status, for ``day``."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        if STATUS_TABLE.name not in inspect(engine).get_table_names():
            return {}
        present = {c["name"] for c in inspect(engine).get_columns(STATUS_TABLE.name)}
        columns = [c for c in STATUS_TABLE.columns if c.name in present]
        with engine.connect() as connection:
            rows = connection.execute(
                select(*columns).where(STATUS_TABLE.c.assignment == day)).all()
    finally:
        engine.dispose()
    found: dict[str, dict[str, Status]] = {}
    for row in rows:
        values = row._mapping
        found.setdefault(row.student, {})[row.notebook] = Status(
            row.status, row.reason, json.loads(row.flags or "[]"), row.seconds,
            values.get("sha256"), values.get("file"), values.get("version"),
            values.get("sandbox") or "")
    return found


class SqliteGuard:
    """An in-memory copy of a SQLite gradebook, put back when the file was damaged.

    ``check()`` before each write: the file must exist, open, pass ``PRAGMA quick_check`` and hold
    at least the grades of the copy; otherwise the copy is written back (and ``True`` returned).
    ``save()`` after each write. For a non-SQLite URL both do nothing.
    """

    def __init__(self, url: str):
        self.path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        self.copy: sqlite3.Connection | None = None
        self.grades = 0

    def save(self) -> None:
        if self.path is None or not self.path.exists():
            return
        source = sqlite3.connect(self.path)
        try:
            memory = sqlite3.connect(":memory:")
            source.backup(memory)
            self.copy = memory
            self.grades = _count_grades(memory)
        finally:
            source.close()

    def check(self) -> bool:
        """True when the file had to be restored."""
        if self.path is None or self.copy is None or self._healthy():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        target = sqlite3.connect(self.path)
        try:
            self.copy.backup(target)
        finally:
            target.close()
        return True

    def _healthy(self) -> bool:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        try:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                ok = connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                return ok and _count_grades(connection) >= self.grades
            finally:
                connection.close()
        except sqlite3.DatabaseError:
            return False


def _count_grades(connection: sqlite3.Connection) -> int:
    try:
        return int(connection.execute("SELECT count(*) FROM grade").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
