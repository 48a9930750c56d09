"""The grading CLI: ``python -m autograder COMMAND`` (console script ``dlcourse-grade``).

    release DAY|all [--out DIR] [--check]  solutions/DAY -> assignments/DAY (GenerateAssignment)
    fixtures [--check]                  solutions/<day>/fixtures/<stem>.npz from the spec modules
    samples [--check]                   autograder/samples/<student>/ and expected.json
    collect DAY SRC [--deadline TIME]   returned notebooks (folder or .zip) -> workspace submitted/
    grade DAY [--student S ...] [--workers N | --scheduler ADDRESS] [--force]
                                        nbgrader Autograde, in sandboxes, N worker processes
                                        or the workers of a Dask cluster; notebooks unchanged
                                        since their last grading are skipped
    feedback DAY [--student S ...]      feedback HTML, hidden tests stripped
    report DAY [--csv PATH] [--lms-csv PATH]
                                        student x notebook x points, from the gradebook
    demo                                all of it on the sample submissions of Day 4
    doctor                              what the grading sandbox can and cannot do here

Exit status: 0 done; 1 a check failed, or something could not be graded (message on stderr);
2 wrong usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.config import (
    CELL_TIMEOUT,
    DB_URL_ENV,
    MEMORY_LIMIT_MB,
    OUTPUT_LIMIT,
    SANDBOX_ENV,
    SANDBOX_MODES,
    TIME_BUDGET,
    WORKSPACE_ENV,
    Course,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, collect, autograde and report dlcourse assignments with nbgrader.",
    )
    parser.add_argument("--workspace", help=f"grading workspace (default ${WORKSPACE_ENV} "
                        "or <repo>/grading)")
    parser.add_argument("--db-url", help=f"gradebook SQLAlchemy URL (default ${DB_URL_ENV} or "
                        "sqlite:///<workspace>/gradebook.db)")
    parser.add_argument("--repo", type=Path, help="course repository holding solutions/ and "
                        "assignments/ (default: the checkout this package lives in)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                        help=f"seconds per cell under autograding (default {CELL_TIMEOUT})")
    parser.add_argument("--time-budget", type=int, default=TIME_BUDGET,
                        help=f"seconds per notebook under autograding, 0: none "
                        f"(default {TIME_BUDGET})")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT_MB,
                        help=f"MB of address space per grading kernel, 0: none "
                        f"(default {MEMORY_LIMIT_MB})")
    parser.add_argument("--output-limit", type=int, default=OUTPUT_LIMIT,
                        help=f"bytes of output kept per cell, five times that per notebook "
                        f"(default {OUTPUT_LIMIT})")
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default=None,
                        help=f"grading kernels in bubblewrap: require (refuse to grade without "
                        f"it), auto (grade unsandboxed where it cannot run, flagged 'not "
                        f"sandboxed'), off (default ${SANDBOX_ENV} or auto)")
    parser.add_argument("--no-figures", action="store_false", dest="figures",
                        help="grading kernels build every figure but do not render it (faster; "
                        "the autograded notebooks and the feedback then hold no figures)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("release", help="generate assignments/DAY from solutions/DAY")
    p.add_argument("day", help='e.g. day4; "all": every day in solutions/')
    p.add_argument("--out", type=Path, help="write to OUT/DAY instead (gradebook untouched)")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder; fail if assignments/DAY differs")

    p = commands.add_parser("fixtures", help="write the visible tests' fixture files")
    p.add_argument("--check", action="store_true", help="fail if a committed fixture is stale")

    p = commands.add_parser("samples", help="build the sample submissions and expected.json")
    p.add_argument("--check", action="store_true", help="fail if the committed samples are stale")

    p = commands.add_parser("collect", help="copy returned notebooks into the workspace")
    p.add_argument("day")
    p.add_argument("src", type=Path, help="folder or .zip of <student>/[DAY/]<notebook>.ipynb")
    p.add_argument("--deadline", metavar="TIME",
                   help="ISO 8601 deadline (e.g. 2025-06-01T23:59+09:00; no offset: local time; "
                   "default autograder.config.DEADLINES[DAY]): files received after it are "
                   "recorded as late in manifest.json and flagged in the report; no penalty is "
                   "applied")

    p = commands.add_parser("grade", help="autograde the submissions of DAY")
    p.add_argument("day")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--workers", "--jobs", type=int, default=1, dest="workers", metavar="N",
                   help="grade in N worker processes (default 1: in this process); "
                   "--jobs is an alias")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on the workers of the Dask cluster whose scheduler is at ADDRESS "
                   "(e.g. tcp://HOST:8786; default $DLCOURSE_DASK_SCHEDULER); results are "
                   "recorded by this process")
    p.add_argument("--force", action="store_true",
                   help="re-grade every notebook, also those whose submission and assignment "
                   "are unchanged since their last completed grading (skipped as up to date)")

    p = commands.add_parser("feedback", help="feedback HTML for the autograded submissions")
    p.add_argument("day")
    p.add_argument("--student", action="append", help="only this student (repeatable)")

    p = commands.add_parser("report", help="grade table (terminal and CSV)")
    p.add_argument("day")
    p.add_argument("--csv", type=Path, help="also write the table to this CSV file (one row "
                   "per student and notebook, nbgrader's columns plus status, reason, flags)")
    p.add_argument("--lms-csv", type=Path, metavar="PATH",
                   help="also write an LMS-friendly CSV: one row per student with the total, "
                   "the points of each notebook, its status and flags")

    commands.add_parser("demo", help="release Day 4, grade the samples, print the table")
    commands.add_parser("doctor", help="what the grading sandbox can and cannot do here")
    return parser


class Failed(Exception):
    """A command ran but its outcome is a failure (exit status 1)."""


def _release(course: Course, args: argparse.Namespace) -> None:
    from autograder.release import check_release, release, source_days

    days = source_days(course) if args.day == "all" else [args.day]
    if args.check:
        problems = [f"{day}: {p}" for day in days for p in check_release(course, day)]
        if problems:
            raise Failed("assignments/ is out of sync with solutions/ (run: make release):\n  "
                         + "\n  ".join(problems))
        print(f"assignments/ is in sync with solutions/ ({', '.join(days)})")
        return
    for day in days:
        folder = release(course, day, out=args.out)
        print(f"released {len(list(folder.glob('*.ipynb')))} notebooks to {folder}")


def _fixtures(course: Course, args: argparse.Namespace) -> None:
    from autograder.fixture_files import check_fixtures, write_fixtures

    if args.check:
        stale = check_fixtures(course)
        if stale:
            lines = [f"{path}: {'; '.join(problems)}" for path, problems in stale.items()]
            raise Failed("stale fixtures (run: make fixtures):\n  " + "\n  ".join(lines))
        print("every fixture is up to date")
        return
    written = write_fixtures(course)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} fixture file(s) written, the others were up to date")


def _samples(course: Course, args: argparse.Namespace) -> None:
    from autograder.samples import build_samples, check_samples

    if args.check:
        problems = check_samples(course)
        if problems:
            raise Failed("stale sample submissions (run: python -m autograder samples):\n  "
                         + "\n  ".join(problems))
        print("the sample submissions are up to date")
        return
    print(f"wrote the sample submissions and expected.json to {build_samples(course)}")


def _collect(course: Course, args: argparse.Namespace) -> None:
    from autograder.collect import collect

    result = collect(course, args.day, args.src, args.deadline)
    for student, notebooks in result.students.items():
        print(f"collected {student}: {len(notebooks)} notebook(s)")
        if student in result.archived:
            print(f"  earlier submission kept in {result.archived[student]}")
    for student, files in result.late.items():
        print(f"late {student}: {', '.join(files)} (received after {result.deadline})")
    for student in result.empty:
        print(f"empty {student}: no notebook of {args.day} in the folder (graded as missing)")
    for line in result.skipped:
        print(f"skipped {line}")
    for line in result.unknown:
        print(f"kept {line}: not a notebook of {args.day} by name (grade matches it by content)")
    submitted = course.workspace / "submitted"
    print(f"{len(result.students)} submission(s) of {args.day} in {submitted}")


def _print_graded(graded) -> None:  # noqa: ANN001 (autograder.grading.Graded)
    if graded.up_to_date:
        print(f"  {graded.student}/{graded.notebook}  up to date ({graded.status})", flush=True)
        return
    if graded.ok:
        status = graded.status
    else:
        status = f"FAILED: {graded.status}" + (
            f" ({graded.error})" if graded.error and graded.error != graded.status else "")
    print(f"  {graded.student}/{graded.notebook}  {graded.seconds:.1f} s  {status}", flush=True)
    for flag in graded.flags:
        print(f"      {flag}", flush=True)


class _Progress:
    """The live line per notebook (stdout) and a bar with ETA over the batch (stderr, a
    terminal only)."""

    def __init__(self, disable: bool | None = None, file=None):  # noqa: ANN001 (a text stream)
        self.disable, self.file, self.bar = disable, file, None

    def start(self, total: int) -> None:
        from tqdm import tqdm

        if total:
            self.bar = tqdm(total=total, unit="notebook", desc="grading", file=self.file,
                            disable=self.disable, dynamic_ncols=True)

    def result(self, graded) -> None:  # noqa: ANN001 (autograder.grading.Graded)
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stdout):
            _print_graded(graded)
        if self.bar is not None and not graded.up_to_date:
            self.bar.update()
            self.bar.refresh()  # each notebook takes seconds: redraw on every one

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _grade(course: Course, args: argparse.Namespace) -> None:
    from contextlib import nullcontext

    from autograder.distributed import SCHEDULER_ENV, DaskCluster
    from autograder.grading import grade
    from autograder.sandbox import FLAG_NOT_SANDBOXED

    scheduler = args.scheduler or os.environ.get(SCHEDULER_ENV)
    if scheduler and args.workers != 1:
        raise Failed("--workers and --scheduler exclude each other: the cluster's workers grade")
    connection = DaskCluster.connect(scheduler) if scheduler else nullcontext()
    progress = _Progress(file=sys.stderr)
    with connection as cluster:
        if cluster is not None:
            print(cluster.describe(), flush=True)
        try:
            results = grade(course, args.day, args.student, on_result=progress.result,
                            workers=args.workers, force=args.force, cluster=cluster,
                            on_start=progress.start)
        finally:
            progress.close()
    failed = [g for g in results if not g.ok]
    current = [g for g in results if g.up_to_date]
    run = len(results) - len(current)
    print(f"graded {run - len([g for g in failed if not g.up_to_date])} of {run} notebooks"
          + (f", {len(current)} up to date (--force re-grades them)" if current else "")
          + f" (gradebook {course.db_url})")
    ran = [g for g in results if not g.up_to_date
           and (g.sandbox or any(f.startswith(FLAG_NOT_SANDBOXED) for f in g.flags))]
    outside = [g for g in ran if not g.sandbox]
    if ran:
        print(f"sandboxed: {len(ran) - len(outside)} of {len(ran)} notebooks run"
              + (f"; NOT SANDBOXED: {len(outside)} (python -m autograder doctor)"
                 if outside else ""))
    if failed:
        raise Failed(f"{len(failed)} notebook(s) could not be graded as submitted "
                     f"(status in the report); see {course.log_file}")


def _feedback(course: Course, args: argparse.Namespace) -> None:
    from autograder.grading import feedback

    results = feedback(course, args.day, args.student, on_result=_print_graded)
    print(f"feedback HTML in {course.workspace / 'feedback'}")
    if any(not g.ok for g in results):
        raise Failed(f"feedback failed for some notebooks (listed above; the others were "
                     f"written); see {course.log_file}")


def _report(course: Course, args: argparse.Namespace) -> None:
    from autograder.report import format_table, grade_table, write_csv, write_lms_csv

    table = grade_table(course, args.day)
    print(format_table(table))
    if args.csv:
        write_csv(table, args.csv)
        print(f"wrote {args.csv}")
    if args.lms_csv:
        write_lms_csv(table, args.lms_csv)
        print(f"wrote {args.lms_csv}")


def _demo(course: Course, args: argparse.Namespace) -> None:
    from autograder.demo import run_demo

    run_demo(course, say=lambda line: print(line, flush=True))


def _doctor(course: Course, args: argparse.Namespace) -> None:
    from autograder.sandbox import doctor

    print(f"sandbox mode: {course.sandbox}")
    if not doctor(course.repo, course.workspace):
        raise Failed("the grading sandbox is incomplete on this machine (fixes above); "
                     + ("grading refuses to run (--sandbox require)" if course.sandbox == "require"
                        else "grading runs and flags every notebook 'not sandboxed'"
                        if course.sandbox == "auto" else "the sandbox is off"))


COMMANDS = {
    "release": _release,
    "fixtures": _fixtures,
    "samples": _samples,
    "collect": _collect,
    "grade": _grade,
    "feedback": _feedback,
    "report": _report,
    "demo": _demo,
    "doctor": _doctor,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    from autograder.collect import CollectError
    from autograder.demo import DemoError
    from autograder.grading import GradingError
    from autograder.release import ReleaseError
    from autograder.report import ReportError
    from autograder.samples import SampleError

    # Failures we can explain in one message; anything else is a bug and keeps its traceback.
    explained = (Failed, CollectError, DemoError, GradingError, ReleaseError, ReportError,
                 SampleError, FileNotFoundError)
    args = _parser().parse_args(argv)
    course = Course.from_options(args.workspace, args.db_url, args.timeout, args.repo,
                                 args.time_budget, args.memory_limit, args.output_limit,
                                 args.sandbox, args.figures)
    try:
        COMMANDS[args.command](course, args)
    except explained as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
