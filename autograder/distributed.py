"""``grade DAY --scheduler tcp://HOST:8786``: the grading jobs on a Dask cluster.

Grading beyond one machine uses an engine Jupyter deployments already run (dask.distributed:
dask-gateway on JupyterHub, dask-kubernetes, dask-jobqueue on SLURM or PBS). Nothing about
grading changes: ``grading.grade`` plans the same ``Job`` s and ``grading._run`` hands them to a
``concurrent.futures``-style submit function, here one that sends each job to the cluster; each
Dask worker process grades it with the same ``grading.Worker`` (sandbox, limits, guard) a local
worker process uses, and the result comes back to the one coordinating process, which records it
in the course gradebook (PostgreSQL when the cluster spans machines).

What a Dask worker needs (no shared file system):

* the course installed: this package, its dependencies, and a checkout of the course
  (``solutions/``, ``assignments/``) at ``$DLCOURSE_COURSE_ROOT`` or, by default, the checkout
  this package lives in;
* nothing else: a job carries the submitted notebook and the content hash of what grading it
  depends on (``Job.course_version``, as ``grading.versions`` computes it); the assignment's
  definition (a small SQLite template of the gradebook) is sent once per worker. A worker whose
  own course gives another hash refuses the job: the notebook gets a "grading error" saying
  "worker X has course version A, job needs B", never a grade from the wrong course.

Faults:

* A worker that dies while grading (SIGKILL, a lost node): the scheduler gives its job to another
  worker (up to ``distributed.scheduler.allowed-failures`` deaths per job, default 3, then the
  notebook is recorded as a grading error). Each job is one Dask key made from the job itself
  (``job_key``) and yields exactly one result: a notebook is recorded once.
* A task that raises (the grader could not start on that worker) is retried ``RETRIES`` times.
* A scheduler that cannot be reached fails before anything is graded (``SchedulerUnreachable``);
  one that goes away during a batch stops it (``SchedulerLost``) with what was recorded so far
  kept: the next run resumes (notebooks already graded are up to date).

Each Dask worker process grades one notebook at a time (a lock: the nbgrader session and the
kernel environment are per process); start workers with ``--nthreads 1`` and scale with
``--nworkers`` or more machines.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autograder.config import REPO_ROOT, Course
from autograder.gradebook import NotebookResult
from autograder.grading import GradingError, Job, Worker

if TYPE_CHECKING:
    from distributed import Client

SCHEDULER_ENV = "DLCOURSE_DASK_SCHEDULER"  # default of grade --scheduler
COURSE_ROOT_ENV = "DLCOURSE_COURSE_ROOT"  # the course checkout a Dask worker grades with
CONNECT_TIMEOUT = 10  # seconds to reach the scheduler before giving up
RETRIES = 1  # re-runs of a job whose task raised (not: whose worker died; see the docstring)


_CLIENTS: dict[str, Client] = {}  # scheduler address -> a connection made elsewhere


@contextmanager
def use_client(client: Client) -> Iterator[str]:
    """Within the block, ``grade --scheduler ADDRESS`` for this client's scheduler uses ``client``
    (a connection made elsewhere: dask-gateway's, with its TLS credentials; dask-kubernetes'
    port-forward) instead of connecting, and leaves it open. Yields the address."""
    address = client.scheduler.address
    _CLIENTS[address] = client
    try:
        yield address
    finally:
        _CLIENTS.pop(address, None)


class SchedulerUnreachable(GradingError):
    """The Dask scheduler could not be reached: nothing was sent to it."""


class SchedulerLost(GradingError):
    """The Dask scheduler went away during a batch: what was recorded stays, run again."""


def job_key(job: Job) -> str:
    """The Dask key of ``job``: one per (student, notebook, submitted file, course version), so a
    job re-run after a worker died is the same task and its result arrives once."""
    digest = hashlib.sha256(repr((job.day, job.student, job.notebook, job.sha256, job.version,
                                  job.course_version)).encode()).hexdigest()[:16]
    return f"dlcourse-grade-{job.day}-{job.student}-{job.notebook}-{digest}"


# -- in the Dask worker process ---------------------------------------------------------------

_LOCK = threading.Lock()  # one notebook at a time per worker process
_GRADERS: dict[str, Worker] = {}  # at most one: for the batch being graded


def worker_course(course: Course) -> Course:
    """The coordinator's ``course`` (its limits and settings) on this machine: this worker's own
    course checkout, a private scratch workspace (nbgrader's log) and no course gradebook."""
    repo = Path(os.environ.get(COURSE_ROOT_ENV) or REPO_ROOT).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="dlc-dask-"))
    return replace(course, repo=repo, workspace=scratch,
                   db_url=f"sqlite:///{scratch / 'unused.db'}")


def _close_graders() -> None:
    while _GRADERS:
        _, grader = _GRADERS.popitem()
        grader.close()
        shutil.rmtree(grader.course.workspace, ignore_errors=True)


atexit.register(_close_graders)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"{get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def grade_on_worker(job: Job, course: Course, template_bytes: bytes) -> NotebookResult:
    """The Dask task: grade ``job`` with this process's ``Worker`` for the batch (made on first
    use from the coordinator's ``course`` settings and the gradebook template)."""
    key = hashlib.sha256(repr(course).encode() + template_bytes).hexdigest()
    with _LOCK:
        grader = _GRADERS.get(key)
        if grader is None:
            _close_graders()
            grader = Worker(worker_course(course), template_bytes)
            grader.name = _worker_name()
            _GRADERS[key] = grader
        return grader.grade(job)


# -- in the coordinating process --------------------------------------------------------------


def _probe(address: str) -> None:
    """Fail at once, saying so, when nothing listens at a tcp:// address (Dask's client would
    retry until its timeout)."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "") or parts.hostname is None or parts.port is None:
        return  # tls://, ws://, inproc://: left to the client
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: {error.strerror or error} "
            "(is `dask scheduler` running there, and the address and port right?); "
            "nothing was graded") from error


@dataclass
class DaskCluster:
    """A connection to a Dask scheduler, for ``grading.grade(..., cluster=...)``."""

    address: str
    client: Client

    @classmethod
    @contextmanager
    def connect(cls, address: str) -> Iterator[DaskCluster]:
        """Connect to the scheduler at ``address`` (``SchedulerUnreachable`` within
        ``CONNECT_TIMEOUT`` seconds if it cannot be reached); closed on exit. A client given to
        ``use_client`` is used as it is."""
        if address in _CLIENTS:
            yield cls(address, _CLIENTS[address])
            return
        _probe(address)
        from distributed import Client

        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {address}: {error}; nothing was graded"
            ) from error
        try:
            yield cls(address, client)
        finally:
            client.close(timeout=CONNECT_TIMEOUT)

    def describe(self) -> str:
        """One line: the scheduler, its workers and threads, and the dashboard when it has one."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        line = (f"Dask scheduler {self.address}: {len(workers)} worker(s), {threads} thread(s)")
        if "dashboard" in info.get("services", {}):
            line += f"; dashboard {self.client.dashboard_link}"
        return line

    @contextmanager
    def executor(self, course: Course,
                 template_bytes: bytes) -> Iterator[Callable[[Job], Future]]:
        """``submit(job)``: a ``concurrent.futures.Future`` of the job's ``NotebookResult``,
        graded on the cluster. On exit every job not finished is cancelled."""
        template = self.client.scatter(template_bytes, hash=True)
        # The workers get the settings, not where the gradebook is (its URL may hold a password).
        settings = replace(course, db_url="sqlite://")
        submitted: list = []

        def submit(job: Job) -> Future:
            result: Future = Future()
            task = self.client.submit(grade_on_worker, job, settings, template,
                                      key=job_key(job), retries=RETRIES)
            submitted.append(task)
            task.add_done_callback(lambda done: _settle(done, result, self.address))
            return result

        try:
            yield submit
        finally:
            if self.client.status == "running":
                self.client.cancel([*submitted, template], force=True)


def _settle(task, result: Future, address: str) -> None:  # noqa: ANN001 (a dask Future)
    """Copy a finished Dask task into ``result`` (called in the client's callback thread)."""
    if result.done():
        return
    try:
        value = task.result()
    except BaseException as error:  # noqa: BLE001 (whatever the task raised is this job's)
        if getattr(error, "reason", None) == "scheduler-connection-lost":
            error = SchedulerLost(
                f"the Dask scheduler at {address} went away during the batch; the notebooks "
                "recorded so far are kept: run the same command again to grade the rest")
        elif not isinstance(error, Exception):
            error = RuntimeError(repr(error))
        result.set_exception(error)
    else:
        result.set_result(value)
