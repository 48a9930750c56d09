"""``grade DAY --scheduler``: a real ``dask scheduler`` and two ``dask worker`` processes on
loopback (``bench.dask_cluster``), started by this module, grade a cohort (the tiny course, and
real Day 4 notebooks) into the throwaway PostgreSQL server of ``test_autograder_parallel`` and
into SQLite, with the grades of ``--workers 1``; one worker SIGKILLed while it grades, and every
notebook still recorded once; a worker whose course checkout differs refuses its jobs; a
scheduler that cannot be reached, or goes away mid-batch, fails with a message and the next run
resumes.

The workers grade the course checkout named by ``$DLCOURSE_COURSE_ROOT`` (the tiny course plus a
copy of Day 4, in a temporary folder): no file of the coordinator's workspace is shared with them.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import CUBE, DAY, SQUARE, make_tiny_course, set_cell
from local_port import free_port
from test_autograder_parallel import pg_url  # noqa: F401 (the throwaway PostgreSQL fixture)

from autograder.collect import collect
from autograder.config import REPO_ROOT, Course
from autograder.distributed import COURSE_ROOT_ENV, SCHEDULER_ENV, job_key, use_client
from autograder.gradebook import read_status
from autograder.grading import grade
from autograder.release import release
from autograder.report import grade_table
from autograder.samples import solution_code
from bench.dask_cluster import LocalDaskCluster

pytestmark = pytest.mark.slow

STUDENTS = 6  # the last one hands in broken JSON
DAY4 = "day4"
DAY4_NOTEBOOK = "4_1_batch_normalization_layer"  # one of the quickest to grade
DAY4_STUDENTS = {"r4": "reference", "p4": "partial"}  # student -> sample variant
RUN_TIMEOUT = 240  # seconds for one grade command


def _kinds(released: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode | str]:
    def variant(square: str | None, cube: str | None) -> nbformat.NotebookNode:
        nb = nbformat.from_dict(json.loads(json.dumps(released)))
        if square is not None:
            set_cell(nb, "square", square)
        if cube is not None:
            set_cell(nb, "cube", cube)
        return nb

    return {"reference": variant(solution_code(SQUARE), solution_code(CUBE)),
            "blank": variant(None, None),
            "partial": variant(solution_code(SQUARE), "def cube(x):\n    return x * x")}


@pytest.fixture(scope="module")
def course_root(tmp_path_factory) -> Path:
    """The course checkout of the coordinator and of the workers: the tiny course, released,
    and Day 4 as committed."""
    base = tmp_path_factory.mktemp("dask-course")
    course = make_tiny_course(base)
    release(course, DAY)
    for folder in ("solutions", "assignments"):
        shutil.copytree(REPO_ROOT / folder / DAY4, course.repo / folder / DAY4)
    return course.repo


@pytest.fixture(scope="module")
def returned(course_root: Path, tmp_path_factory) -> Path:
    """``STUDENTS`` submissions of the tiny course and two of Day 4, as returned files."""
    out = tmp_path_factory.mktemp("dask-returned")
    released = nbformat.read(course_root / "assignments" / DAY / "tiny.ipynb", as_version=4)
    kinds = _kinds(released)
    names = list(kinds)
    for i in range(STUDENTS):
        folder = out / DAY / f"s{i:02d}"
        folder.mkdir(parents=True)
        if i == STUDENTS - 1:
            (folder / "tiny.ipynb").write_text('{"cells": [')
        else:
            nbformat.write(kinds[names[i % len(names)]], folder / "tiny.ipynb")
    samples = REPO_ROOT / "autograder" / "samples"
    for student, variant in DAY4_STUDENTS.items():
        folder = out / DAY4 / student
        folder.mkdir(parents=True)
        shutil.copyfile(samples / variant / DAY4 / f"{DAY4_NOTEBOOK}.ipynb",
                        folder / f"{DAY4_NOTEBOOK}.ipynb")
    return out


def _course(course_root: Path, workspace: Path, db_url: str | None = None) -> Course:
    return Course.from_options(workspace=workspace, db_url=db_url, repo=course_root, timeout=60)


def _points(course: Course, day: str) -> dict[str, dict[str, dict[str, float]]]:
    table = grade_table(course, day)
    return {student: {nb: dict(row[nb].cells) for nb in row} for student, row in
            table.rows.items()}


@pytest.fixture(scope="module")
def reference(course_root: Path, returned: Path, tmp_path_factory) -> dict:
    """The tiny cohort's points as ``--workers 1`` gives them (in this process)."""
    course = _course(course_root, tmp_path_factory.mktemp("dask-reference"))
    collect(course, DAY, returned / DAY)
    grade(course, DAY, workers=1)
    return _points(course, DAY)


def _expected_day4() -> dict:
    expected = json.loads((REPO_ROOT / "autograder" / "samples" / "expected.json").read_text())
    return {student: {DAY4_NOTEBOOK: expected[variant][f"{DAY4}/{DAY4_NOTEBOOK}"]}
            for student, variant in DAY4_STUDENTS.items()}


@pytest.fixture(scope="module")
def cluster(course_root: Path, tmp_path_factory):
    """A scheduler and two workers, ``w1`` and ``w2``, grading ``course_root``."""
    with LocalDaskCluster(tmp_path_factory.mktemp("dask-logs")) as local:
        env = {COURSE_ROOT_ENV: str(course_root)}
        local.add_worker("w1", env, wait=False)
        local.add_worker("w2", env, wait=False)
        local.wait_for_workers({"w1", "w2"})
        yield local


def _command(course: Course, day: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "--repo", str(course.repo), "--workspace",
            str(course.workspace), "--db-url", course.db_url, "grade", day, *args]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (SCHEDULER_ENV, "DLCOURSE_WORKSPACE", "DLCOURSE_DB_URL")}
    return {**env, **extra}


class Run:
    """A grade command in the background, its output read line by line."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        env=env or _environment())
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def results(self) -> list[str]:
        """The per-notebook lines so far ("  student/notebook  ...")."""
        return [line for line in self.lines if re.match(r"  \S+/\S+  ", line)]

    def wait_for(self, predicate, timeout: float = RUN_TIMEOUT) -> bool:  # noqa: ANN001
        """Read lines until ``predicate(self)`` holds (True) or the output ends (False)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                return False
            self.lines.append(line)
        return True

    def finish(self) -> tuple[int, str]:
        self.wait_for(lambda run: False)
        return self.process.wait(timeout=60), "\n".join(self.lines)


def _each_once(output: str, day_students: list[str], notebook: str) -> None:
    for student in day_students:
        lines = [line for line in output.splitlines()
                 if line.startswith(f"  {student}/{notebook}  ")]
        assert len(lines) == 1, f"{student}/{notebook}: {lines}\n{output}"


def _students() -> list[str]:
    return [f"s{i:02d}" for i in range(STUDENTS)]


def test_cohort_on_two_dask_workers_into_postgresql_with_one_killed_mid_notebook(
        tmp_path: Path, course_root: Path, returned: Path, reference: dict, cluster,
        pg_url: str):  # noqa: F811 (the fixture imported above)
    course = _course(course_root, tmp_path / "grading", pg_url)
    collect(course, DAY, returned / DAY)
    run = Run(_command(course, DAY, "--scheduler", cluster.address))
    broken = f"  s{STUDENTS - 1:02d}/"  # recorded before any job is sent
    assert run.wait_for(lambda r: any(not line.startswith(broken) for line in r.results())), \
        run.finish()[1]
    # The workers are warm now and graded jobs remain: kill one while its kernel runs.
    deadline = time.monotonic() + RUN_TIMEOUT
    victim = None
    while victim is None and time.monotonic() < deadline and run.process.poll() is None:
        victim = next((name for name in ("w1", "w2") if cluster.grading(name)), None)
        time.sleep(0.02)
    assert victim is not None, f"no worker was grading after the first result: {run.lines}"
    cluster.kill(victim)
    code, output = run.finish()
    try:
        assert f"Dask scheduler {cluster.address}: 2 worker(s)" in output
        assert code == 1, output  # the broken JSON: not graded as submitted
        assert f"graded {STUDENTS - 1} of {STUDENTS} notebooks" in output, output
        assert "worker failed" not in output, output
        _each_once(output, _students(), "tiny")
        statuses = read_status(pg_url, DAY)
        assert sorted(s["tiny"].status for s in statuses.values()) == sorted(
            ["ok"] * (STUDENTS - 1) + ["invalid notebook"])
        assert _points(course, DAY) == reference
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_url)
        with engine.connect() as connection:  # in the server, once each
            rows = connection.execute(text(
                "SELECT count(*), count(DISTINCT student) FROM dlcourse_grading")).one()
        engine.dispose()
        assert tuple(rows) == (STUDENTS, STUDENTS)
    finally:
        cluster.add_worker(victim, {COURSE_ROOT_ENV: str(course_root)})  # for the next tests


def test_cohort_and_day4_on_dask_into_sqlite_from_the_environment_variable(
        tmp_path: Path, course_root: Path, returned: Path, reference: dict, cluster, capsys):
    """Day 0 by the command with $DLCOURSE_DASK_SCHEDULER; Day 4 in this process, through a
    client connected beforehand (``use_client``: how dask-gateway's connection is used)."""
    from distributed import Client

    from autograder.cli import main

    course = _course(course_root, tmp_path / "grading")
    collect(course, DAY, returned / DAY)
    collect(course, DAY4, returned / DAY4)
    env = _environment(**{SCHEDULER_ENV: cluster.address})
    done = subprocess.run(_command(course, DAY), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env=env)
    output = done.stdout + done.stderr
    assert f"Dask scheduler {cluster.address}" in output
    assert f"graded {STUDENTS - 1} of {STUDENTS} notebooks" in output, output
    _each_once(output, _students(), "tiny")
    assert _points(course, DAY) == reference
    with Client(cluster.address, set_as_default=False) as client, use_client(client) as address:
        code = main(_command(course, DAY4, "--scheduler", address)[3:])
        assert client.status == "running"  # not closed by the grade command
    output = capsys.readouterr().out
    assert code == 0, output
    _each_once(output, list(DAY4_STUDENTS), DAY4_NOTEBOOK)
    day4 = len(list((course_root / "assignments" / DAY4).glob("*.ipynb")))
    total = len(DAY4_STUDENTS) * day4  # the other notebooks: graded as missing
    assert f"graded {total} of {total} notebooks" in output, output
    points = _points(course, DAY4)
    assert {s: {DAY4_NOTEBOOK: points[s][DAY4_NOTEBOOK]} for s in points} == _expected_day4()


def test_worker_of_another_course_version_refuses_and_a_lost_scheduler_stops_the_batch(
        tmp_path: Path, course_root: Path, returned: Path, reference: dict, cluster):
    """A private cluster: its one worker grades a copy of the course whose fixture differs."""
    other = tmp_path / "other-course"
    shutil.copytree(course_root / "solutions" / DAY, other / "solutions" / DAY)
    shutil.copytree(course_root / "assignments" / DAY, other / "assignments" / DAY)
    (other / "solutions" / DAY / "fixtures" / "tiny.txt").write_text("changed")
    course = _course(course_root, tmp_path / "grading")
    collect(course, DAY, returned / DAY)
    students = _students()[:2]
    only = [arg for s in students for arg in ("--student", s)]
    with LocalDaskCluster(tmp_path / "logs") as private:
        private.add_worker("stale", {COURSE_ROOT_ENV: str(other)})
        done = subprocess.run(_command(course, DAY, "--scheduler", private.address, *only),
                              capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              env=_environment())
        output = done.stdout + done.stderr
        assert done.returncode == 1, output
        assert "graded 0 of 2 notebooks" in output, output
        for student in students:
            status = read_status(course.db_url, DAY)[student]["tiny"]
            assert status.status == "grading error"
            assert re.search(r"worker tcp://127\.0\.0\.1:\d+ \(.*\) has course version "
                             r"[0-9a-f]{12}, job needs [0-9a-f]{12}", status.reason), status
            assert str(other) in status.reason
            assert all(points == 0.0 for points in _points(course, DAY)[student]["tiny"]
                       .values())

        # The scheduler goes away after the first notebook of the batch is recorded.
        private.kill("stale")
        private.add_worker("fresh", {COURSE_ROOT_ENV: str(course_root)})
        batch = _students()[:4]
        run = Run(_command(course, DAY, "--scheduler", private.address,
                           *[arg for s in batch for arg in ("--student", s)]))
        assert run.wait_for(lambda r: len(r.results()) >= 1), run.finish()[1]
        private.kill("scheduler")
        start = time.monotonic()
        code, output = run.finish()
        assert time.monotonic() - start < 45, output
    assert code == 1, output
    assert f"the Dask scheduler at {private.address} went away during the batch" in output
    recorded = {s for s, nbs in read_status(course.db_url, DAY).items()
                if nbs["tiny"].status != "grading error"}
    assert recorded and len(recorded) < len(batch), output

    # The next run (on the good cluster) resumes: what was recorded is up to date.
    done = subprocess.run(_command(course, DAY, "--scheduler", cluster.address,
                                   *[arg for s in batch for arg in ("--student", s)]),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env=_environment())
    output = done.stdout + done.stderr
    for student in recorded:
        assert f"  {student}/tiny  up to date" in output, output
    assert f"{len(recorded)} up to date" in output, output
    assert _points(course, DAY) == {s: reference[s] for s in batch}


def test_unreachable_scheduler_fails_fast_and_records_nothing(
        tmp_path: Path, course_root: Path, returned: Path, capsys, monkeypatch):
    from autograder.cli import main

    course = _course(course_root, tmp_path / "grading")
    collect(course, DAY, returned / DAY)
    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv(SCHEDULER_ENV, address)
    start = time.monotonic()
    code = main(_command(course, DAY)[3:])
    seconds = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"error: cannot reach the Dask scheduler at {address}" in err, err
    assert "nothing was graded" in err
    assert seconds < 15, seconds
    assert read_status(course.db_url, DAY) == {}


def test_workers_and_scheduler_exclude_each_other(tmp_path: Path, course_root: Path, capsys):
    from autograder.cli import main

    course = _course(course_root, tmp_path / "grading")
    code = main(_command(course, DAY, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")[3:])
    assert code == 1
    assert "--workers and --scheduler exclude each other" in capsys.readouterr().err


def test_job_key_names_the_job_and_changes_with_what_it_grades():
    from autograder.grading import Job

    job = Job("s01", DAY, "tiny", "{}", [], None, "a" * 64, "tiny.ipynb", "v" * 64, "c" * 64)
    same = Job("s01", DAY, "tiny", "{}", ["repaired"], None, "a" * 64, "tiny.ipynb", "v" * 64,
               "c" * 64)
    assert job_key(job) == job_key(same)
    assert job_key(job).startswith(f"dlcourse-grade-{DAY}-s01-tiny-")
    for change in ({"sha256": "b" * 64}, {"course_version": "d" * 64}, {"student": "s02"}):
        other = Job(**{**job.__dict__, **change})
        assert job_key(other) != job_key(job), change


def test_progress_bar_counts_the_batch_with_an_eta_and_keeps_the_lines(capsys):
    import io

    from autograder.cli import _Progress
    from autograder.grading import Graded

    stream = io.StringIO()
    progress = _Progress(disable=False, file=stream)
    progress.start(3)
    progress.result(Graded("s00", "tiny", True, 0.0, up_to_date=True))  # not in the batch
    for student in ("s01", "s02"):
        progress.result(Graded(student, "tiny", True, 1.5))
    bar = stream.getvalue()
    assert re.search(r"grading:\s+67%.*2/3 \[\d\d:\d\d<\d\d:\d\d", bar), bar  # elapsed<ETA
    progress.close()
    out = capsys.readouterr().out
    assert "  s01/tiny  1.5 s  ok" in out and "  s00/tiny  up to date (ok)" in out


def test_workers_get_the_settings_but_not_the_gradebook_url(tmp_path: Path):
    """What goes to the cluster with each job: the course settings without the gradebook URL
    (it may hold a password), the template once (scattered), the job's own Dask key."""
    from autograder.distributed import DaskCluster
    from autograder.grading import Job

    class FakeTask:
        def add_done_callback(self, callback):  # noqa: ANN001, ANN202
            pass

    class FakeClient:
        status = "running"
        calls: list = []

        def scatter(self, data, hash):  # noqa: ANN001, ANN202, A002
            return ("scattered", data)

        def submit(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.calls.append((args, kwargs))
            return FakeTask()

        def cancel(self, futures, force):  # noqa: ANN001, ANN202
            pass

    course = Course.from_options(workspace=tmp_path, repo=tmp_path,
                                 db_url="postgresql+psycopg2://grader:secret@db/dlcourse")
    job = Job("s01", DAY, "tiny", "{}", [], None, "a" * 64, "tiny.ipynb", "v" * 64, "c" * 64)
    client = FakeClient()
    with DaskCluster("tcp://x:8786", client).executor(course, b"template") as submit:
        submit(job)
    (function, sent_job, settings, template), kwargs = client.calls[0]
    assert sent_job is job and template == ("scattered", b"template")
    assert "secret" not in repr(settings) and settings.db_url == "sqlite://"
    assert settings.timeout == course.timeout and settings.memory_limit_mb == course.memory_limit_mb
    assert kwargs["key"] == job_key(job) and kwargs["retries"] >= 1


def test_a_worker_refuses_a_job_planned_for_another_course_version(tmp_path: Path):
    """In this process, no cluster: the check every worker (local or Dask) makes first."""
    from autograder.gradebook import template
    from autograder.grading import STATUS_ERROR, Job, Worker, versions

    course = make_tiny_course(tmp_path)
    release(course, DAY)
    template_bytes = template(course.db_url, DAY, tmp_path / "template.db").read_bytes()
    worker = Worker(course, template_bytes)
    try:
        have = versions(course, DAY, ["tiny"])["tiny"]
        job = Job("s01", DAY, "tiny", "{}", ["repaired: x"], None, "a" * 64, "tiny.ipynb",
                  "v" * 64, "b" * 64)
        refused = worker.grade(job)
        assert refused.status == STATUS_ERROR and refused.scores == {}
        assert f"has course version {have[:12]}, job needs {'b' * 12}" in refused.reason
        assert str(course.repo) in refused.reason and refused.flags == ["repaired: x"]
        assert (refused.sha256, refused.version) == (job.sha256, job.version)
        assert worker._refuse(Job(**{**job.__dict__, "course_version": have})) is None
        # The fixture is part of the version: a worker whose fixture differs refuses.
        (course.source_dir / DAY / "fixtures" / "tiny.txt").write_text("changed")
        assert worker._refuse(Job(**{**job.__dict__, "course_version": have})) is not None
    finally:
        worker.close()


def test_a_worker_that_cannot_sandbox_refuses_jobs_when_the_sandbox_is_required(
        tmp_path: Path, monkeypatch):
    """Local or Dask, a worker without bubblewrap grades nothing under ``--sandbox require``:
    each job is a grading error that names the worker and the reason, never an unsandboxed
    grade."""
    from dataclasses import replace

    from autograder import sandbox
    from autograder.gradebook import template
    from autograder.grading import STATUS_ERROR, Job, Worker, versions

    course = replace(make_tiny_course(tmp_path), sandbox="require")
    release(course, DAY)
    template_bytes = template(course.db_url, DAY, tmp_path / "template.db").read_bytes()
    monkeypatch.setattr(sandbox, "unavailable", lambda: "bwrap is not installed")
    worker = Worker(course, template_bytes)
    try:
        have = versions(course, DAY, ["tiny"])["tiny"]
        job = Job("s01", DAY, "tiny", "{}", [], None, "a" * 64, "tiny.ipynb", "v" * 64, have)
        refused = worker.grade(job)
        assert refused.status == STATUS_ERROR and refused.scores == {}
        assert refused.reason.startswith(f"worker {worker.name} the grading sandbox is required")
        assert "bwrap is not installed" in refused.reason
        monkeypatch.setattr(sandbox, "unavailable", lambda: None)
        assert worker._refuse(job) is None
    finally:
        worker.close()
