"""``report DAY [--csv PATH]``: student x notebook x points, read from nbgrader's gradebook."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Course
from autograder.execution import FLAG_TAMPER
from autograder.gradebook import STATUS_EXTRA, Status, read_status
from autograder.logfile import noise_to


class ReportError(RuntimeError):
    """No gradebook, or the assignment is not in it."""


@dataclass
class NotebookScore:
    score: float
    max_score: float
    cells: dict[str, float]  # grade_id -> points
    graded: bool  # False: the notebook could not be run as submitted (see status)
    status: str = "ok"  # ok, missing, invalid notebook, kernel died, time budget exceeded, ...
    reason: str = ""
    flags: list[str] = field(default_factory=list)  # repaired, suspected, limits hit

    @property
    def suspect(self) -> bool:
        return any(FLAG_TAMPER in flag for flag in self.flags)


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
                    grades = list(notebook.grades)
                    scored = all(
                        g.auto_score is not None or g.manual_score is not None for g in grades
                    )
                    status = statuses.get(student, {}).get(notebook.name)
                    if status is None:  # graded before statuses were recorded
                        status = Status("ok" if scored else "not graded",
                                        "" if scored else "nbgrader could not score it", [], None)
                    row[notebook.name] = NotebookScore(
                        score=float(notebook.score),
                        max_score=float(notebook.max_score),
                        cells={g.name: float(g.score) for g in grades},
                        graded=scored and status.status in ("ok", "missing"),
                        status=status.status,
                        reason=status.reason,
                        flags=status.flags,
                    )
                extra = [f"{name}: {s.reason}" for name, s in statuses.get(student, {}).items()
                         if s.status == STATUS_EXTRA]
                if extra:
                    table.extra[student] = extra
    return table


def _short(notebook: str) -> str:
    """"4_1" for "4_1_batch_normalization_layer" (the column header)."""
    match = re.match(r"^(\d+_\d+)_", notebook)
    return match.group(1) if match else notebook


def _points(value: float) -> str:
    return f"{value:g}"


def _cell(s: NotebookScore) -> str:
    points = f"{_points(s.score)}/{_points(s.max_score)}"
    if s.status != "ok":
        return f"{points} {s.status}"
    return f"{points} !" if s.suspect else points


def format_table(table: GradeTable) -> str:
    """Plain-text table: one row per student, one column per notebook, then the total; below it,
    every notebook that is not plainly ok, with its status, reason and flags.

    A notebook shows ``points/max``, followed by its status when it is not "ok" (``0/10 kernel
    died``, ``0/10 missing``) and by ``!`` when tampering is suspected; "-" when nbgrader has no
    row for it.
    """
    header = [table.day, *(_short(nb) for nb in table.notebooks), "total"]
    lines = []
    notes = []
    for student, scores in table.rows.items():
        cells, got, out_of = [student], 0.0, 0.0
        for nb in table.notebooks:
            s = scores.get(nb)
            if s is None:
                cells.append("-")
                continue
            cells.append(_cell(s))
            got, out_of = got + s.score, out_of + s.max_score
            if s.status != "ok" or s.flags:
                what = s.status + (f" ({s.reason})" if s.reason and s.reason != s.status else "")
                notes.append(f"  {student}/{nb}: {what}")
                notes += [f"      {flag}" for flag in s.flags]
        cells.append(f"{_points(got)}/{_points(out_of)}")
        lines.append(cells)
        notes += [f"  {student}: extra file {line}" for line in table.extra.get(student, [])]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    rule = "-" * len(render(header))
    text = [render(header), rule, *(render(r) for r in lines)]
    if notes:
        text += ["", "Not plainly ok (status, then flags):", *notes]
    return "\n".join(text)


CSV_COLUMNS = ["student", "assignment", "notebook", "score", "max_score", "graded", "status",
               "reason", "flags"]


def write_csv(table: GradeTable, path: Path) -> None:
    """Long format, one row per student and notebook: points, whether it was graded as
    submitted, and its status, reason and flags (a 0 is never without its reason)."""
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
                                     s.reason, "; ".join(s.flags)])
            for line in table.extra.get(student, []):
                name, _, why = line.partition(": ")
                writer.writerow([student, table.day, name, "", "", "no", STATUS_EXTRA, why, ""])
