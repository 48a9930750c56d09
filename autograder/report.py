"""``report DAY [--csv PATH]``: student x notebook x points, read from nbgrader's gradebook."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import Course
from autograder.logfile import noise_to


class ReportError(RuntimeError):
    """No gradebook, or the assignment is not in it."""


@dataclass
class NotebookScore:
    score: float
    max_score: float
    cells: dict[str, float]  # grade_id -> points
    graded: bool  # False: nbgrader recorded the submission but could not score it


@dataclass
class GradeTable:
    """Scores of one assignment: ``rows[student][notebook]``; notebooks in assignment order."""

    day: str
    notebooks: list[str]
    rows: dict[str, dict[str, NotebookScore]] = field(default_factory=dict)

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

        with Gradebook(course.db_url) as gradebook:
            try:
                assignment = gradebook.find_assignment(day)
            except MissingEntry:
                raise ReportError(f"{day} is not in the gradebook {course.db_url}") from None
            table = GradeTable(day, [nb.name for nb in assignment.notebooks])
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                row = table.rows.setdefault(submission.student.id, {})
                for notebook in submission.notebooks:
                    grades = list(notebook.grades)
                    row[notebook.name] = NotebookScore(
                        score=float(notebook.score),
                        max_score=float(notebook.max_score),
                        cells={g.name: float(g.score) for g in grades},
                        graded=all(
                            g.auto_score is not None or g.manual_score is not None for g in grades
                        ),
                    )
    return table


def _short(notebook: str) -> str:
    """"4_1" for "4_1_batch_normalization_layer" (the column header)."""
    match = re.match(r"^(\d+_\d+)_", notebook)
    return match.group(1) if match else notebook


def _points(value: float) -> str:
    return f"{value:g}"


def format_table(table: GradeTable) -> str:
    """Plain-text table: one row per student, one column per notebook, then the total.

    A notebook nbgrader could not score shows as ``error`` (see the log), one not submitted as 0.
    """
    header = [table.day, *(_short(nb) for nb in table.notebooks), "total"]
    lines = []
    for student, scores in table.rows.items():
        cells, got, out_of = [student], 0.0, 0.0
        for nb in table.notebooks:
            s = scores.get(nb)
            if s is None:
                cells.append("-")
                continue
            cells.append(f"{_points(s.score)}/{_points(s.max_score)}" if s.graded else "error")
            got, out_of = got + s.score, out_of + s.max_score
        cells.append(f"{_points(got)}/{_points(out_of)}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    rule = "-" * len(render(header))
    return "\n".join([render(header), rule, *(render(r) for r in lines)])


def write_csv(table: GradeTable, path: Path) -> None:
    """Long format: student, assignment, notebook, score, max_score, graded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "notebook", "score", "max_score", "graded"])
        for student, scores in table.rows.items():
            for nb in table.notebooks:
                if nb in scores:
                    s = scores[nb]
                    writer.writerow([student, table.day, nb, _points(s.score),
                                     _points(s.max_score), "yes" if s.graded else "no"])
