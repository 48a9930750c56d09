"""``demo``: release Day 4, grade the three sample submissions, print the table, write feedback.

The demo runs in a workspace of its own, ``<workspace>/demo``, recreated on every run: sample
students never end up in a real cohort's gradebook, and a second run starts from the same state.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from autograder.collect import collect
from autograder.config import Course
from autograder.grading import Graded, feedback, grade
from autograder.release import release
from autograder.report import GradeTable, format_table, grade_table, write_csv
from autograder.samples import STUDENTS, load_expected, samples_dir

DAY = "day4"
MARKER = ".dlcourse-demo"  # only a folder carrying it is ever wiped


class DemoError(RuntimeError):
    """The demo could not run, or its grades differ from expected.json."""


def _where(path: Path) -> str:
    """``path`` relative to the current folder when inside it (shorter to read), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def demo_course(course: Course) -> Course:
    """``course`` with its workspace moved to ``<workspace>/demo`` (and its own SQLite file)."""
    space = course.workspace / "demo"
    url = f"sqlite:///{space / 'gradebook.db'}"
    return course.with_workspace(space, url)


def _fresh_workspace(space: Path) -> None:
    if space.exists():
        if not (space / MARKER).exists():
            raise DemoError(f"{space} exists and was not made by the demo: not touching it")
        shutil.rmtree(space)
    space.mkdir(parents=True)
    (space / MARKER).write_text("made by `python -m autograder demo`; wiped by the next run\n")


def mismatches(expected: dict, got: dict, day: str = DAY) -> list[str]:
    """How the graded cells of ``day`` differ from expected.json ("student/notebook/cell: ...")."""
    graded = {nb for notebooks in got.values() for nb in notebooks}
    problems = [f"{nb}: not in expected.json (stale samples: python -m autograder samples)"
                for nb in sorted(graded - set(expected.get("reference", {})))]
    for student in STUDENTS:
        for notebook, cells in expected.get(student, {}).items():
            if not notebook.startswith(f"{day}/"):
                continue
            actual = got.get(student, {}).get(notebook, {})
            for grade_id, points in cells.items():
                if actual.get(grade_id) != points:
                    problems.append(
                        f"{student}/{notebook}/{grade_id}: {actual.get(grade_id)} "
                        f"(expected {points:g})"
                    )
    return problems


def written_summary(table: GradeTable) -> str:
    """One line on the written answers: auto and manual points are never mixed."""
    scores = [s for row in table.rows.values() for s in row.values()]
    questions = sum(len(s.written) for s in scores)
    if not questions:
        return "no written answers in this assignment"
    pending = sum(s.written_pending for s in scores)
    return (f"written answers: {questions} in all, {pending} waiting for manual grading in "
            "Formgrader (w ?/max in the table; their points are not in the total)")


def run_demo(course: Course, say: Callable[[str], None] = print) -> Course:
    """The whole loop; returns the demo's course (its workspace holds everything it wrote)."""
    start = time.perf_counter()
    demo = demo_course(course)
    _fresh_workspace(demo.workspace)
    say(f"dlcourse demo: {DAY} release, autograde of the sample submissions, feedback")
    say(f"(nbgrader's own log and warnings go to {_where(demo.log_file)})")

    t = time.perf_counter()
    folder = release(demo, DAY)
    count = len(list(folder.glob("*.ipynb")))
    say(f"[1/5] released {count} notebooks to {_where(folder)}  ({time.perf_counter() - t:.1f} s)")

    collected = collect(demo, DAY, samples_dir(demo))
    say(f"[2/5] collected the samples {', '.join(collected.students)} into "
        f"{_where(demo.workspace / 'submitted')}")

    total = sum(len(nbs) for nbs in collected.students.values())
    done = 0

    def progress(g: Graded) -> None:
        nonlocal done
        done += 1
        status = "ok" if g.ok else f"FAILED: {g.error}"
        name = f"{g.student}/{g.notebook}"
        say(f"      {done:2d}/{total}  {name:<48} {g.seconds:4.1f} s  {status}")

    say(f"[3/5] autograding {total} notebooks (each in a fresh kernel)")
    t = time.perf_counter()
    results = grade(demo, DAY, on_result=progress)
    seconds = time.perf_counter() - t
    say(f"      {seconds:.1f} s, {seconds / max(1, len(results)):.1f} s per notebook")

    table = grade_table(demo, DAY)
    csv_path = demo.workspace / f"{DAY}_grades.csv"
    write_csv(table, csv_path)
    say("[4/5] grade table (points / maximum)")
    say("")
    say(format_table(table))
    say("")
    problems = mismatches(load_expected(demo), table.cell_points())
    if problems:
        say("      points differ from autograder/samples/expected.json:")
        for line in problems:
            say(f"        {line}")
    else:
        say("      every cell got exactly the points of autograder/samples/expected.json")
    say(f"      {written_summary(table)}")

    t = time.perf_counter()
    feedback_results = feedback(demo, DAY)
    say(f"[5/5] feedback HTML written ({time.perf_counter() - t:.1f} s)")

    say("")
    say("Where everything went:")
    rows = [
        ("released notebooks", course.release_dir / DAY),
        ("submissions", demo.workspace / "submitted"),
        ("autograded notebooks", demo.workspace / "autograded"),
        ("feedback HTML", demo.workspace / "feedback" / "<student>" / DAY),
        ("gradebook (SQLite)", demo.workspace / "gradebook.db"),
        ("grade table (CSV)", csv_path),
        ("nbgrader log", demo.log_file),
    ]
    for label, path in rows:
        say(f"  {label:<22} {_where(path)}")
    say(f"Done in {time.perf_counter() - start:.0f} s.")

    failed = [g for g in [*results, *feedback_results] if not g.ok]
    if failed or problems:
        raise DemoError(
            f"{len(failed)} nbgrader step(s) failed, {len(problems)} cell(s) off their expected "
            f"points; details in {_where(demo.log_file)}"
        )
    return demo
