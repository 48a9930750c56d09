"""``report DAY [--csv PATH] [--lms-csv PATH]``: student x notebook x points, read from nbgrader's
gradebook, with each notebook's status and flags.

Statuses: ok; missing; wrong assignment; invalid notebook; kernel died; time budget exceeded;
grading error; extra notebook (a file not graded); gradebook changed after grading (the rows no
longer match the digest the grader kept: shown with 0 points, never with the changed score).
Flags: what preflight repaired (renamed, metadata restored, duplicate grade_id, ...), what
grading hit (tamper suspected, memory limit reached, output truncated, ...), and from the
workspace at report time: "late" (received after the deadline given to ``collect``, from its
manifest.json) and "submission changed since it was graded" (grade again). Below the table: how
many notebooks were graded in the sandbox (``autograder.sandbox``); one graded without it has the
flag "not sandboxed: <why>"; the CSV's ``sandbox`` column says "sandboxed" for each notebook
graded in it.

Points come in two kinds, always shown apart: *auto* points of the test cells that autograding
scores, and *written* points of the manually graded answer cells (markdown cells with
``grade`` and ``solution`` set: the written questions). Autograding leaves a written answer
pending (nbgrader's ``needs_manual_grade``) unless it was left unchanged (0 points); a grader
scores it in Formgrader, or ``Gradebook`` directly, and the report then shows it.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Course
from autograder.execution import FLAG_TAMPER
from autograder.gradebook import (
    STATUS_CHANGED,
    STATUS_EXTRA,
    Status,
    read_key,
    read_status,
    verify,
)
from autograder.logfile import noise_to
from autograder.preflight import STATUS_MISSING, STATUS_WRONG
from autograder.sandbox import FLAG_NOT_SANDBOXED, SANDBOXED

FLAG_LATE = "late"
FLAG_CHANGED = "submission changed since it was graded (grade again)"


class ReportError(RuntimeError):
    """No gradebook, or the assignment is not in it."""


@dataclass
class NotebookScore:
    score: float  # auto points (the test cells)
    max_score: float
    cells: dict[str, float]  # grade_id -> points, test cells only
    graded: bool  # False: the notebook could not be run as submitted (see status)
    status: str = "ok"  # ok, missing, wrong assignment, invalid notebook, kernel died, ...
    reason: str = ""
    flags: list[str] = field(default_factory=list)  # repaired, suspected, limits hit
    written: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points, None:
    written_max: float = 0.0  # pending manual grading
    sandboxed: bool = False  # its kernel ran inside autograder.sandbox's walls

    @property
    def written_score(self) -> float:
        """Points of the written answers graded so far."""
        return sum(v for v in self.written.values() if v is not None)

    @property
    def written_pending(self) -> int:
        """How many written answers still wait for a grader."""
        return sum(v is None for v in self.written.values())

    @property
    def suspect(self) -> bool:
        return any(FLAG_TAMPER in flag for flag in self.flags)

    @property
    def late(self) -> bool:
        return any(flag.startswith(f"{FLAG_LATE}:") for flag in self.flags)


@dataclass
class GradeTable:
    """Scores of one assignment: ``rows[student][notebook]``; notebooks in assignment order."""

    day: str
    notebooks: list[str]
    rows: dict[str, dict[str, NotebookScore]] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)  # student -> files not graded

    def cell_points(self) -> dict[str, dict[str, dict[str, float]]]:
        """student -> "<day>/<notebook>" -> grade_id -> points (the shape of expected.json)."""
        return {
            student: {f"{self.day}/{nb}": s.cells for nb, s in scores.items()}
            for student, scores in self.rows.items()
        }


def grade_table(course: Course, day: str) -> GradeTable:
    """Every submission of ``day`` in the gradebook, with points per notebook and per cell."""
    sqlite_file = course.db_url.removeprefix("sqlite:///")
    if sqlite_file != course.db_url and not Path(sqlite_file).exists():
        raise ReportError(f"no gradebook at {sqlite_file} (grade something first)")
    with noise_to(course.log_file):
        from nbgrader.api import Gradebook, MissingEntry

        statuses = read_status(course.db_url, day)
        intact = verify(course.db_url, day, read_key(course.workspace))
        with Gradebook(course.db_url) as gradebook:
            try:
                assignment = gradebook.find_assignment(day)
            except MissingEntry:
                raise ReportError(f"{day} is not in the gradebook {course.db_url}") from None
            table = GradeTable(day, [nb.name for nb in assignment.notebooks])
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                student = submission.student.id
                row = table.rows.setdefault(student, {})
                for notebook in submission.notebooks:
                    tests = [g for g in notebook.grades if not is_written(g)]
                    written = [g for g in notebook.grades if is_written(g)]
                    scored = all(
                        g.auto_score is not None or g.manual_score is not None for g in tests
                    )
                    status = statuses.get(student, {}).get(notebook.name)
                    if status is None:  # graded before statuses were recorded
                        status = Status("ok" if scored else "not graded",
                                        "" if scored else "nbgrader could not score it", [], None)
                    manifest = _manifest(course, day, student)
                    if not intact.get((student, notebook.name), not intact):
                        row[notebook.name] = _changed(notebook, status)
                        continue
                    row[notebook.name] = NotebookScore(
                        score=float(sum(g.score for g in tests)),
                        max_score=float(sum(g.max_score for g in tests)),
                        cells={g.name: float(g.score) for g in tests},
                        written={g.name: _written_points(g) for g in written},
                        written_max=float(sum(g.max_score for g in written)),
                        graded=scored and status.status in ("ok", STATUS_MISSING, STATUS_WRONG),
                        status=status.status,
                        reason=status.reason,
                        flags=status.flags + _workspace_flags(status, manifest),
                        sandboxed=status.sandbox == SANDBOXED,
                    )
                extra = [f"{name}: {s.reason}" for name, s in statuses.get(student, {}).items()
                         if s.status == STATUS_EXTRA]
                if extra:
                    table.extra[student] = extra
    return table


def _changed(notebook, status: Status | None) -> NotebookScore:  # noqa: ANN001 (nbgrader ORM)
    """A notebook whose rows no longer match the digest the grader kept: 0 points, flagged."""
    return NotebookScore(
        score=0.0,
        max_score=float(sum(g.max_score for g in notebook.grades if not is_written(g))),
        cells={g.name: 0.0 for g in notebook.grades if not is_written(g)},
        written={g.name: 0.0 for g in notebook.grades if is_written(g)},
        written_max=float(sum(g.max_score for g in notebook.grades if is_written(g))),
        graded=False, status=STATUS_CHANGED,
        reason="its rows were changed after grading; grade again with --force",
        flags=[f"{FLAG_TAMPER}: {STATUS_CHANGED} (recorded status: "
               f"{status.status if status is not None else 'none'})"])


def is_written(grade) -> bool:
    """A grade of a written answer (a markdown answer cell), graded by hand, not a test cell."""
    return grade.cell_type == "markdown"


def _written_points(grade) -> float | None:
    """The points of a written answer, None while it waits for a grader."""
    if grade.manual_score is not None:
        return float(grade.manual_score)
    if grade.auto_score is not None:  # left unchanged: nbgrader gives it 0 automatically
        return float(grade.auto_score)
    return None


def _manifest(course: Course, day: str, student: str) -> dict:
    """The student's manifest.json of ``day`` as ``collect`` wrote it ({} if there is none)."""
    path = course.workspace / "submitted" / student / day / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _workspace_flags(status: Status, manifest: dict) -> list[str]:
    """"late" when the graded file came after the deadline; a note when it is no longer the
    file in the workspace."""
    entry = manifest.get("files", {}).get(status.file) if status.file else None
    if not isinstance(entry, dict):  # no file graded, or a manifest without per-file details
        return []
    if status.sha256 and entry.get("sha256") != status.sha256:
        return [FLAG_CHANGED]
    if entry.get("late"):
        return [f"{FLAG_LATE}: received {entry.get('received')}, "
                f"deadline {manifest.get('deadline')}"]
    return []


def _short(notebook: str) -> str:
    """"4_1" for "4_1_batch_normalization_layer" (the column header)."""
    match = re.match(r"^(\d+_\d+)_", notebook)
    return match.group(1) if match else notebook


def _points(value: float) -> str:
    return f"{value:g}"


def _written(score: float, out_of: float, pending: int) -> str:
    """``w 3/4``; ``w 1+?/4`` while answers wait for a grader (``w ?/4`` when none is graded)."""
    if not pending:
        return f"w {_points(score)}/{_points(out_of)}"
    return f"w {_points(score) + '+' if score else ''}?/{_points(out_of)}"


def _cell(s: NotebookScore) -> str:
    points = f"{_points(s.score)}/{_points(s.max_score)}"
    if s.written:
        points = f"{points} {_written(s.written_score, s.written_max, s.written_pending)}"
    if s.status != "ok":
        points = f"{points} {s.status}"
    marks = ("!" if s.suspect else "") + ("L" if s.late else "")
    return f"{points} {marks}" if marks else points


def format_table(table: GradeTable) -> str:
    """Plain-text table: one row per student, one column per notebook, then the total of the
    test cells and, when the day has written questions, the written total ("written"); below
    it, every notebook that is not plainly ok, with its status, reason and flags.

    A notebook shows ``points/max`` of its test cells (auto), then ``w points/max`` of its written
    answers (``?`` for the ones not graded by hand yet), followed by its status when it is not
    "ok" (``0/10 kernel died``, ``0/10 missing``), by ``!`` when tampering is suspected and ``L``
    when it was late; "-" when nbgrader has no row for it.
    """
    has_written = any(s.written for scores in table.rows.values() for s in scores.values())
    header = [table.day, *(_short(nb) for nb in table.notebooks), "total"]
    if has_written:
        header.append("written")
    lines = []
    notes = []
    for student, scores in table.rows.items():
        cells, got, out_of = [student], 0.0, 0.0
        w_got, w_out_of, w_pending = 0.0, 0.0, 0
        for nb in table.notebooks:
            s = scores.get(nb)
            if s is None:
                cells.append("-")
                continue
            cells.append(_cell(s))
            got, out_of = got + s.score, out_of + s.max_score
            w_got, w_out_of = w_got + s.written_score, w_out_of + s.written_max
            w_pending += s.written_pending
            if s.status != "ok" or s.flags:
                what = s.status + (f" ({s.reason})" if s.reason and s.reason != s.status else "")
                notes.append(f"  {student}/{nb}: {what}")
                notes += [f"      {flag}" for flag in s.flags]
        cells.append(f"{_points(got)}/{_points(out_of)}")
        if has_written:
            cells.append(_written(w_got, w_out_of, w_pending)
                         + (f" ({w_pending} pending)" if w_pending else ""))
        lines.append(cells)
        notes += [f"  {student}: extra file {line}" for line in table.extra.get(student, [])]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    rule = "-" * len(render(header))
    text = [render(header), rule, *(render(r) for r in lines)]
    if has_written:
        text += ["", "points/max: test cells, graded by running the notebook (total); w: written "
                     "answers, graded by hand in Formgrader (written; ?: not graded yet)"]
    text += ["", sandbox_line(table)]
    if notes:
        text += ["", "Not plainly ok (status, then flags):", *notes]
    return "\n".join(text)


def sandbox_line(table: GradeTable) -> str:
    """How many of the notebooks that were run had their kernel in the sandbox."""
    run = [s for scores in table.rows.values() for s in scores.values()
           if s.sandboxed or any(f.startswith(FLAG_NOT_SANDBOXED) for f in s.flags)]
    inside = sum(s.sandboxed for s in run)
    line = f"sandboxed: {inside} of {len(run)} notebooks run (bubblewrap, autograder.sandbox)"
    if inside < len(run):
        line += (f"; NOT SANDBOXED: {len(run) - inside} (their flags say why; "
                 "python -m autograder doctor)")
    return line


CSV_COLUMNS = ["student", "assignment", "notebook", "score", "max_score", "graded", "status",
               "reason", "flags", "written_score", "written_max", "written_pending", "sandbox"]


def write_csv(table: GradeTable, path: Path) -> None:
    """Long format, one row per student and notebook: auto points, whether it was graded as
    submitted, and its status, reason and flags (a 0 is never without its reason); then the
    written answers' points so far, their maximum and how many wait for a grader."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for student, scores in table.rows.items():
            for nb in table.notebooks:
                if nb in scores:
                    s = scores[nb]
                    writer.writerow([student, table.day, nb, _points(s.score),
                                     _points(s.max_score), "yes" if s.graded else "no", s.status,
                                     s.reason, "; ".join(s.flags), _points(s.written_score),
                                     _points(s.written_max), s.written_pending,
                                     "sandboxed" if s.sandboxed else ""])
            for line in table.extra.get(student, []):
                name, _, why = line.partition(": ")
                writer.writerow([student, table.day, name, "", "", "no", STATUS_EXTRA, why, "",
                                 "", "", "", ""])


def write_lms_csv(table: GradeTable, path: Path) -> None:
    """One row per student, for a learning management system: ``student_id``, ``total`` (points),
    one column per notebook (its points, test cells plus the written answers graded so far; empty
    when the gradebook has no row for it), then
    ``status`` ("ok", or every notebook that is not: "<notebook>: <status>") and ``flags``
    (every flag as "<notebook>: <flag>", and the files not graded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "total", *table.notebooks, "status", "flags"])
        for student, scores in table.rows.items():
            present = [scores[nb] for nb in table.notebooks if nb in scores]
            total = sum(s.score + s.written_score for s in present)
            points = [_points(scores[nb].score + scores[nb].written_score) if nb in scores else ""
                      for nb in table.notebooks]
            not_ok = [f"{nb}: {scores[nb].status}" for nb in table.notebooks
                      if nb in scores and scores[nb].status != "ok"]
            flags = [f"{nb}: {flag}" for nb in table.notebooks if nb in scores
                     for flag in scores[nb].flags]
            flags += [f"extra file {line}" for line in table.extra.get(student, [])]
            writer.writerow([student, _points(total), *points, "; ".join(not_ok) or "ok",
                             "; ".join(flags)])
