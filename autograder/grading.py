"""``grade DAY`` and ``feedback DAY``: nbgrader's Autograde and GenerateFeedback, in one process.

Each submitted notebook is autograded on its own (``CourseDirectory.notebook_id``): nbgrader drops
a whole student's folder when one of the notebooks fails to convert, and one broken notebook (or
student) must not cost the others their grades. Failures are reported, the batch goes on.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.config import Course
from autograder.session import Session


class GradingError(RuntimeError):
    """Nothing could be graded (no submissions, assignment unknown to nbgrader)."""


@dataclass
class Graded:
    """One nbgrader run for ``student``'s ``notebook`` (a stem; "*" for feedback of all)."""

    student: str
    notebook: str
    ok: bool
    seconds: float
    error: str = ""


def submitted_students(course: Course, day: str) -> list[str]:
    """Students with a submission of ``day`` in the workspace."""
    return sorted(p.parent.name for p in (course.workspace / "submitted").glob(f"*/{day}"))


def _ensure_assignment(session: Session, day: str) -> None:
    """The gradebook must know ``day`` (cells, points, checksums) before anything is graded.

    A fresh workspace, or a gradebook recorded before notebooks were added to ``day``, gets it
    from the source through a release into a throwaway folder (what ``release`` records too).
    """
    source = {p.stem for p in (session.course.source_dir / day).glob("*.ipynb")}
    if not source:
        raise GradingError(f"no notebooks in {session.course.source_dir / day}")
    if session.recorded_notebooks(day) == source:
        return
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as scratch:
        outcome = session.generate_assignment(day, out=Path(scratch), record=True)
    if not outcome.ok:
        raise GradingError(f"nbgrader could not record {day} in the gradebook: {outcome.error}")


def _students(course: Course, day: str, students: list[str] | None) -> list[str]:
    chosen = submitted_students(course, day) if not students else list(students)
    if not chosen:
        raise GradingError(
            f"no submissions of {day} in {course.workspace / 'submitted'} "
            f"(collect them first: python -m autograder collect {day} SRC)"
        )
    return chosen


def grade(
    course: Course,
    day: str,
    students: list[str] | None = None,
    on_result: Callable[[Graded], None] | None = None,
) -> list[Graded]:
    """Autograde every submitted notebook of ``day`` (all students, or ``students``)."""
    chosen = _students(course, day, students)
    results: list[Graded] = []

    def emit(graded: Graded) -> None:
        results.append(graded)
        if on_result:
            on_result(graded)

    with Session(course) as session:
        _ensure_assignment(session, day)
        for student in chosen:
            folder = course.workspace / "submitted" / student / day
            notebooks = sorted(p.stem for p in folder.glob("*.ipynb"))
            if not notebooks:
                emit(Graded(student, "*", False, 0.0, f"no notebooks in {folder}"))
                continue
            # Derived data: a notebook graded earlier but not submitted now must not linger.
            shutil.rmtree(course.workspace / "autograded" / student / day, ignore_errors=True)
            for notebook in notebooks:
                outcome = session.autograde(day, student, notebook)
                emit(Graded(student, notebook, outcome.ok, outcome.seconds, outcome.error))
    return results


def feedback(
    course: Course,
    day: str,
    students: list[str] | None = None,
    on_result: Callable[[Graded], None] | None = None,
) -> list[Graded]:
    """Feedback HTML (hidden tests stripped) for every autograded student of ``day``."""
    if not students:
        # A student whose every notebook failed to grade has a folder but no notebook in it.
        graded = (course.workspace / "autograded").glob(f"*/{day}/*.ipynb")
        students = sorted({p.parent.parent.name for p in graded})
    if not students:
        raise GradingError(f"nothing autograded for {day} yet (python -m autograder grade {day})")
    results = []
    with Session(course) as session:
        for student in students:
            outcome = session.generate_feedback(day, student)
            results.append(Graded(student, "*", outcome.ok, outcome.seconds, outcome.error))
            if on_result:
                on_result(results[-1])
    return results
