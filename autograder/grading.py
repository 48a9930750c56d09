"""``grade DAY [--workers N] [--force]`` and ``feedback DAY``: nbgrader's Autograde and
GenerateFeedback.

How one notebook of one student is graded:

1. ``preflight.prepare`` reads the student's folder (never changing it): every assignment
   notebook is found (renamed files matched by content), repaired (metadata, grade_ids) or
   reported (invalid JSON, missing); the learner-editable code is scanned for tampering.
2. A worker autogrades it with nbgrader in a sandbox: a fresh temporary folder holding a copy of
   the notebook and a throwaway SQLite gradebook with the assignment's definition. The kernel runs
   in that folder, under the limits and the guard of ``autograder.execution``. Nothing of the
   workspace is below or above it, and the workspace's location is not in the kernel's
   environment; a cell that wipes every ``*.db`` it finds around it hits the throwaway gradebook.
3. The grading process copies the result into the course gradebook (``gradebook.record``), one
   notebook at a time, checking a SQLite gradebook before each write and restoring it from an
   in-memory copy if it was damaged (``gradebook.SqliteGuard``), and writes the autograded
   notebook into the workspace; an older autograded notebook that is not replaced is moved to
   ``archive/``, never deleted.

``workers > 1`` runs the workers in that many processes (``spawn``), each with its own nbgrader
session and its own folder of kernel sockets (IPC transport, no race for TCP ports); results are
still recorded by the one grading process. ``cluster`` (``autograder.distributed``) sends the
same jobs to the workers of a Dask cluster instead: one loop consumes the results of either
executor. A job carries the version of the course it was planned with (``Job.course_version``);
a worker whose course differs refuses it with a grading error rather than grade it wrongly.

Every notebook ends with a status: ok, missing, wrong assignment, invalid notebook, kernel died,
time budget exceeded, grading error; flags say what was repaired or suspected. A bad submission
never stops the others.

Grading is idempotent and resumable: a notebook whose submitted file (name and sha256), the rest
of the student's returned files, and assignment version (``versions``: the source and released
notebook, the day's other files, the limits) are those of its last completed grading is not run
again but reported "up to date", so a batch interrupted at any point (even by SIGKILL: each
notebook is recorded in one transaction as soon as it is graded) resumes where it stopped.
``force`` re-grades everything.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.util
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import nbformat

from autograder.collect import SECRET
from autograder.config import Course
from autograder.gradebook import (
    STATUS_EXTRA,
    NotebookResult,
    SqliteGuard,
    Status,
    grader_key,
    read_sandbox,
    read_status,
    record,
    template,
    verify,
)
from autograder.logfile import noise_to
from autograder.preflight import STATUS_MISSING, STATUS_WRONG, prepare
from autograder.sandbox import (
    FLAG_NOT_SANDBOXED,
    SANDBOXED,
    Launch,
    sandbox_refused,
    take_launches,
)
from autograder.session import Session

STATUS_ERROR = "grading error"
GRADED = ("ok", STATUS_MISSING, STATUS_WRONG)  # a notebook graded as submitted
ATTEMPTS = 2  # a grading error (not the learner's: e.g. a sandbox wiped by another kernel) retries


class GradingError(RuntimeError):
    """Nothing could be graded (no submissions, assignment unknown to nbgrader)."""


@dataclass
class Graded:
    """One graded notebook of ``student`` (for feedback: ``notebook`` "*", all of them)."""

    student: str
    notebook: str
    ok: bool
    seconds: float
    error: str = ""
    status: str = "ok"
    flags: list[str] = field(default_factory=list)
    up_to_date: bool = False  # not run: unchanged since its last completed grading
    sandbox: str = ""  # "bubblewrap": its kernel ran in the sandbox (autograder.sandbox)


@dataclass
class Job:
    """One notebook to autograde in a sandbox (plain data: it crosses process boundaries)."""

    student: str
    day: str
    notebook: str
    source: str  # the (repaired) notebook as JSON
    flags: list[str]
    timestamp: str | None
    sha256: str | None
    file: str | None
    version: str | None = None
    course_version: str | None = None  # versions()[notebook] of the course it was planned with


class Cluster(Protocol):
    """Where jobs can go besides this machine's processes (``autograder.distributed``)."""

    def executor(self, course: Course, template_bytes: bytes
                 ) -> AbstractContextManager[Callable[[Job], Future]]: ...


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


# -- the worker: one notebook in a sandbox ---------------------------------------------------


class Worker:
    """Autogrades jobs one after another, each in a fresh sandbox, with one nbgrader session."""

    def __init__(self, course: Course, template_bytes: bytes):
        self.course = course
        self.template = template_bytes
        self.root = Path(tempfile.mkdtemp(prefix="dlc-grade-"))
        self.session = Session(course).__enter__()
        self.name = f"{socket.gethostname()}:{os.getpid()}"  # in a refusal message

    def close(self) -> None:
        self.session.__exit__(None, None, None)
        shutil.rmtree(self.root, ignore_errors=True)

    def grade(self, job: Job) -> NotebookResult:
        refused = self._refuse(job)
        if refused is not None:
            return refused
        for _ in range(ATTEMPTS):
            result = self._attempt(job)
            if result.status != STATUS_ERROR:
                break
        return result

    def _refuse(self, job: Job) -> NotebookResult | None:
        """A grading error when this worker cannot grade ``job`` as planned: the sandbox is
        required but cannot run on this worker, or its course is not the one ``job`` was
        planned with."""
        why = sandbox_refused(self.course.sandbox)
        if why is None and job.course_version is not None:
            have = versions(self.course, job.day, [job.notebook])[job.notebook]
            if have != job.course_version:
                why = (f"has course version {have[:12]}, job needs {job.course_version[:12]} "
                       f"(the worker's course checkout {self.course.repo} differs from the "
                       "coordinator's)")
        if why is None:
            return None
        return NotebookResult(job.student, job.day, job.notebook, STATUS_ERROR,
                              f"worker {self.name} {why}: not graded",
                              list(job.flags), timestamp=job.timestamp, sha256=job.sha256,
                              file=job.file, version=job.version)

    def _attempt(self, job: Job) -> NotebookResult:
        start = time.perf_counter()
        result = NotebookResult(job.student, job.day, job.notebook, flags=list(job.flags),
                                timestamp=job.timestamp, sha256=job.sha256, file=job.file,
                                version=job.version)
        sandbox = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
        try:
            database = sandbox / "db" / "gradebook.db"
            database.parent.mkdir()
            database.write_bytes(self.template)
            root = sandbox / "course"
            folder = root / "submitted" / job.student / job.day
            folder.mkdir(parents=True)
            (folder / f"{job.notebook}.ipynb").write_text(job.source, encoding="utf-8")
            if job.timestamp:
                (folder / "timestamp.txt").write_text(job.timestamp)
            url = f"sqlite:///{database}"
            take_launches()
            outcome = self.session.autograde(job.day, job.student, job.notebook,
                                             root=str(root), db_url=url)
            _note_sandbox(result, take_launches())
            autograded = root / "autograded" / job.student / job.day / f"{job.notebook}.ipynb"
            if autograded.exists():
                result.autograded = autograded.read_bytes()
                _read_report(result)
            if outcome.ok:
                read_sandbox(url, result)
            else:
                result.status, result.reason, result.scores = STATUS_ERROR, outcome.error, {}
        except Exception as error:  # a broken sandbox is this notebook's problem only
            result.status, result.reason, result.scores = STATUS_ERROR, repr(error), {}
        finally:
            shutil.rmtree(sandbox, ignore_errors=True)
        result.seconds = time.perf_counter() - start
        return result


def _note_sandbox(result: NotebookResult, launches: list[Launch]) -> None:
    """Whether every kernel of this notebook ran in the sandbox; a flag saying why not."""
    if launches and all(launch.sandboxed for launch in launches):
        result.sandbox = SANDBOXED
    for launch in launches:
        flag = f"{FLAG_NOT_SANDBOXED}: {launch.reason}"
        if not launch.sandboxed and flag not in result.flags:
            result.flags.append(flag)


def _read_report(result: NotebookResult) -> None:
    """Status and flags that ``GuardedExecute`` left in the autograded notebook's metadata."""
    try:
        report = json.loads(result.autograded or b"{}").get("metadata", {}).get("dlcourse", {})
    except ValueError:
        return
    result.status = report.get("status", result.status)
    if result.status != "ok":
        result.reason = report.get("reason") or result.status
    result.flags += [f for f in report.get("flags", []) if f not in result.flags]
    for grade_id, reasons in sorted(report.get("cells", {}).items()):
        result.flags.append(f"{grade_id}: {'; '.join(reasons)}")


_WORKER: Worker | None = None


def _start_worker(course: Course, template_bytes: bytes) -> None:
    global _WORKER  # one per worker process, for its lifetime
    _WORKER = Worker(course, template_bytes)
    # A pool's worker process ends with os._exit (no atexit): multiprocessing's own finalizers
    # still run, and remove the worker's temporary folder.
    multiprocessing.util.Finalize(_WORKER, _WORKER.close, exitpriority=10)


def _grade_in_worker(job: Job) -> NotebookResult:
    assert _WORKER is not None
    return _WORKER.grade(job)


@contextmanager
def _processes(course: Course, template_bytes: bytes,
               workers: int) -> Iterator[Callable[[Job], Future]]:
    """``submit(job)`` to ``workers`` spawned processes, each with its own ``Worker``."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_start_worker,
                             initargs=(course, template_bytes)) as pool:
        yield lambda job: pool.submit(_grade_in_worker, job)


def _run(course: Course, jobs: list[Job], template_bytes: bytes, workers: int,
         cluster: Cluster | None = None) -> Iterator[NotebookResult]:
    """Results of ``jobs`` as they are ready: in this process, in ``workers`` processes, or on
    ``cluster``."""
    if not jobs:
        return
    if cluster is None and (workers <= 1 or len(jobs) <= 1):
        worker = Worker(course, template_bytes)
        try:
            for job in jobs:
                yield worker.grade(job)
        finally:
            worker.close()
        return
    executor = (cluster.executor(course, template_bytes) if cluster is not None
                else _processes(course, template_bytes, min(workers, len(jobs))))
    with executor as submit:
        pending: dict[Future, Job] = {submit(job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    yield future.result()
                except GradingError:  # the executor cannot go on (a Dask scheduler went away)
                    raise
                except Exception as error:  # the worker process itself died
                    yield NotebookResult(job.student, job.day, job.notebook, STATUS_ERROR,
                                         f"worker failed: {error!r}", list(job.flags),
                                         timestamp=job.timestamp, sha256=job.sha256,
                                         file=job.file, version=job.version)


# -- the grading process ---------------------------------------------------------------------


def versions(course: Course, day: str, notebooks: list[str]) -> dict[str, str]:
    """notebook -> sha256 of what grading it depends on besides the submission: its source and
    released notebook, every other file of the day (fixtures), the grading limits. Key "*": the
    whole day (for files that are not an assignment notebook)."""
    common = hashlib.sha256(repr((course.timeout, course.time_budget, course.memory_limit_mb,
                                  course.output_limit)).encode())
    for folder in (course.source_dir / day, course.release_dir / day):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            hidden = any(part.startswith((".", "__")) for part in path.relative_to(folder).parts)
            if not hidden and (path.suffix != ".ipynb" or path.parent != folder):
                common.update(path.relative_to(folder).as_posix().encode())
                common.update(path.read_bytes())
    found = {}
    day_wide = common.copy()
    for name in notebooks:
        digest = common.copy()
        for folder in (course.source_dir / day, course.release_dir / day):
            path = folder / f"{name}.ipynb"
            data = path.read_bytes() if path.exists() else b""
            digest.update(data)
            day_wide.update(data)
        found[name] = digest.hexdigest()
    found["*"] = day_wide.hexdigest()
    return found


def _plan(course: Course, day: str, students: list[str], released: dict,
          others: dict) -> tuple[list[Job], list[NotebookResult]]:
    """Jobs to run, and the results known without running anything (missing, invalid, extra)."""
    jobs: list[Job] = []
    known: list[NotebookResult] = []
    version = versions(course, day, list(released))
    for student in students:
        folder = course.workspace / "submitted" / student / day
        stamp = folder / "timestamp.txt"
        timestamp = stamp.read_text().strip() or None if stamp.exists() else None
        submission = prepare(folder, released, others)
        # What preflight decided for one file may depend on the others (renamed, wrong
        # assignment): a notebook is up to date only if the student's whole folder is.
        returned = hashlib.sha256()
        for path in sorted(folder.glob("*.ipynb")):
            returned.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())

        def of(name: str, files: str = returned.hexdigest()) -> str:
            return hashlib.sha256((version[name] + files).encode()).hexdigest()

        for prepared in submission.notebooks:
            data = prepared.file.read_bytes() if prepared.file else None
            digest = hashlib.sha256(data).hexdigest() if data is not None else None
            name = prepared.file.name if prepared.file else None
            if prepared.nb is None:
                known.append(NotebookResult(student, day, prepared.notebook, prepared.status,
                                            prepared.reason, prepared.flags, timestamp=timestamp,
                                            sha256=digest, file=name,
                                            version=of(prepared.notebook)))
            else:
                jobs.append(Job(student, day, prepared.notebook, nbformat.writes(prepared.nb),
                                prepared.flags, timestamp, digest, name,
                                of(prepared.notebook), version[prepared.notebook]))
        for line in submission.extra:
            file, _, why = line.partition(": ")
            digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
            known.append(NotebookResult(student, day, file, STATUS_EXTRA, why, sha256=digest,
                                        file=file, version=of("*")))
    return jobs, known


def _up_to_date(previous: Status | None, item: Job | NotebookResult) -> bool:
    """Whether ``item`` was completely graded before, from the same file against the same
    version (a grading error is never complete)."""
    return (previous is not None and previous.status != STATUS_ERROR
            and previous.version is not None and previous.version == item.version
            and (previous.sha256, previous.file) == (item.sha256, item.file))


def _archive_autograded(course: Course, student: str, day: str, keep: set[str]) -> None:
    """Move this student's autograded notebooks of ``day`` not in ``keep`` to the archive."""
    folder = course.workspace / "autograded" / student / day
    stale = [p for p in folder.glob("*.ipynb") if p.stem not in keep] if folder.is_dir() else []
    if not stale:
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = course.workspace / "archive" / "autograded" / student / day / stamp
    target.mkdir(parents=True, exist_ok=True)
    for path in stale:
        shutil.move(str(path), str(target / path.name))


def _write_autograded(course: Course, result: NotebookResult) -> None:
    folder = course.workspace / "autograded" / result.student / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.notebook}.ipynb"
    if path.exists():
        path.chmod(0o644)  # nbgrader leaves its outputs read-only
    path.write_bytes(result.autograded or b"")
    if result.timestamp:
        (folder / "timestamp.txt").write_text(result.timestamp)
    # As nbgrader's autograde does: the submission's secret goes along (feedback copies it on,
    # and nbgrader's release_feedback refuses a feedback folder without it).
    secret = course.workspace / "submitted" / result.student / result.assignment / SECRET
    if secret.is_file():
        shutil.copyfile(secret, folder / SECRET)


def grade(
    course: Course,
    day: str,
    students: list[str] | None = None,
    on_result: Callable[[Graded], None] | None = None,
    workers: int = 1,
    force: bool = False,
    cluster: Cluster | None = None,
    on_start: Callable[[int], None] | None = None,
) -> list[Graded]:
    """Autograde every submitted notebook of ``day`` (all students, or ``students``) in
    ``workers`` processes, or on ``cluster``; one unchanged since its last completed grading is
    reported up to date and not run again, unless ``force``. ``on_start``: called with the number
    of notebooks to grade (not up to date), before the first is."""
    chosen = _students(course, day, students)
    # On a cluster the workers run the kernels, and each refuses when it cannot sandbox them
    # (``Worker._refuse``); here, this process does.
    refused = sandbox_refused(course.sandbox) if cluster is None else None
    if refused:
        raise GradingError(refused)
    with Session(course) as session:
        _ensure_assignment(session, day)
        recorded = session.recorded_notebooks(day) or set()
    released = _assignment_notebooks(course, day, recorded)
    results: list[Graded] = []
    written: dict[str, set[str]] = {student: set() for student in chosen}
    guard = SqliteGuard(course.db_url)
    guard.save()
    key = grader_key(course.workspace)

    def emit(result: NotebookResult) -> None:
        if guard.check():
            result.flags.append("the gradebook was damaged while grading and has been restored")
        if result.autograded:
            _write_autograded(course, result)
            written.setdefault(result.student, set()).add(result.notebook)
        record(course.db_url, result, key)
        guard.save()
        graded = Graded(result.student, result.notebook, result.status in GRADED,
                        result.seconds, result.reason, result.status, result.flags,
                        sandbox=result.sandbox)
        results.append(graded)
        if on_result:
            on_result(graded)

    planned, known = _plan(course, day, chosen, released, _other_notebooks(course, day))
    if not force:
        previous = read_status(course.db_url, day)
        intact = verify(course.db_url, day, key)  # a row changed after grading is graded again

        def current(item: Job | NotebookResult) -> bool:
            status = previous.get(item.student, {}).get(item.notebook)
            if not _up_to_date(status, item) or not intact.get((item.student, item.notebook),
                                                               not intact):
                return False
            written.setdefault(item.student, set()).add(item.notebook)
            graded = Graded(item.student, item.notebook, status.status in GRADED,
                            0.0, status.reason, status.status, status.flags, up_to_date=True,
                            sandbox=status.sandbox)
            results.append(graded)
            if on_result:
                on_result(graded)
            return True

        known = [result for result in known if not current(result)]
        planned = [job for job in planned if not current(job)]
    if on_start:
        on_start(len(known) + len(planned))
    with noise_to(course.log_file):  # nbgrader's warnings, as in the session
        for result in known:
            emit(result)
        with tempfile.TemporaryDirectory(prefix="dlc-template-") as scratch:
            database = template(course.db_url, day, Path(scratch) / "gradebook.db")
            template_bytes = database.read_bytes()
        for result in _run(course, planned, template_bytes, workers, cluster):
            emit(result)
    for student in chosen:
        _archive_autograded(course, student, day, keep=written.get(student, set()))
    return sorted(results, key=lambda g: (g.student, g.notebook))


def _assignment_notebooks(course: Course, day: str, names: set[str]) -> dict:
    """The notebooks of ``day`` in the gradebook, read from the release (the learner's copy),
    or from the source for one not released yet: what submissions are matched against."""
    found = {}
    for name in sorted(names):
        for folder in (course.release_dir / day, course.source_dir / day):
            if (folder / f"{name}.ipynb").exists():
                found[name] = nbformat.read(folder / f"{name}.ipynb", as_version=4)
                break
    return found


def _other_notebooks(course: Course, day: str) -> dict:
    """The released notebooks of every other day, as "<day>/<name>": what a submission for the
    wrong assignment is recognised by."""
    return {f"{p.parent.name}/{p.stem}": nbformat.read(p, as_version=4)
            for p in sorted(course.release_dir.glob("*/*.ipynb")) if p.parent.name != day}


def feedback(
    course: Course,
    day: str,
    students: list[str] | None = None,
    on_result: Callable[[Graded], None] | None = None,
) -> list[Graded]:
    """Feedback HTML (hidden tests stripped) for every autograded student of ``day``, one
    notebook at a time: a notebook whose feedback cannot be written (a corrupt autograded file,
    anything nbgrader trips on) is reported with its reason, and the student's other notebooks
    are still written. A notebook of the day with no autograded file is reported "missing"."""
    if not students:
        # A student whose every notebook failed to grade has a folder but no notebook in it.
        graded = (course.workspace / "autograded").glob(f"*/{day}/*.ipynb")
        students = sorted({p.parent.parent.name for p in graded})
    if not students:
        raise GradingError(f"nothing autograded for {day} yet (python -m autograder grade {day})")
    results = []
    with Session(course) as session:
        expected = session.recorded_notebooks(day) or set()
        for student in students:
            folder = course.workspace / "autograded" / student / day
            present = sorted(p.stem for p in folder.glob("*.ipynb"))
            for notebook in sorted(set(present) | expected):
                if notebook in present:
                    outcome = session.generate_feedback(day, student, notebook)
                    result = Graded(student, notebook, outcome.ok, outcome.seconds,
                                    outcome.error, "ok" if outcome.ok else "feedback failed")
                else:
                    result = Graded(student, notebook, True, 0.0,
                                    "no autograded notebook: no feedback", STATUS_MISSING)
                results.append(result)
                if on_result:
                    on_result(result)
    return results
