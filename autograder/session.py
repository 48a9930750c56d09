"""One in-process nbgrader session: ``NbGraderAPI`` and its converters, quiet, with a log file.

``nbgrader autograde --student X`` costs about 5 s per call (a new Python, nbgrader's imports, the
app singletons); the API in one process costs the kernel start plus the notebook's own run.
``NbGraderAPI`` is a plain ``LoggingConfigurable`` (no ``Application`` singleton): the session
hands it one logger whose single handler is added and removed by ``logfile.noise_to``, so calling
it over and over neither stacks handlers nor leaks output.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.config import DB_URL_ENV, KERNEL_ENV, WORKSPACE_ENV, Course
from autograder.logfile import nbgrader_logger, noise_to

HIDDEN_ENV = (WORKSPACE_ENV, DB_URL_ENV)

if TYPE_CHECKING:
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config


@dataclass
class Outcome:
    """What one nbgrader step did: ``ok``, its error (last traceback line) and wall time."""

    ok: bool
    error: str = ""
    seconds: float = 0.0


def _last_line(text: str) -> str:
    """The error worth reporting: the last exception line that is not nbgrader's own summary
    ("NbGraderException: Please see the above traceback"), else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    causes = [line for line in lines
              if re.match(r"[\w.]*(Error|Exception): ", line) and "NbGraderException" not in line]
    return causes[-1] if causes else (lines[-1] if lines else "unknown error")


def _alembic_on_path() -> None:
    """nbgrader creates a new gradebook by running the ``alembic`` command it installs beside the
    interpreter; ``.venv/bin/python -m autograder`` does not put ``.venv/bin`` on PATH."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """``KERNEL_ENV`` in ``os.environ`` (which kernels inherit) for the session, then restored;
    where the workspace and the gradebook are is not passed on to learner code."""
    saved = {key: os.environ.get(key) for key in [*KERNEL_ENV, *HIDDEN_ENV]}
    for key, value in KERNEL_ENV.items():
        os.environ.setdefault(key, value)
    for key in HIDDEN_ENV:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Session:
    """nbgrader's API for ``course``; use as a context manager (``with Session(course) as s``)."""

    def __init__(self, course: Course):
        self.course = course
        self._stack = ExitStack()

    def __enter__(self) -> Session:
        self.course.workspace.mkdir(parents=True, exist_ok=True)
        _alembic_on_path()
        self._stack.enter_context(noise_to(self.course.log_file))
        self._stack.enter_context(_kernel_environment())
        # Short private folder for the kernels' Unix sockets (the path length limit is ~100
        # bytes); Windows has no Unix sockets for ZeroMQ, kernels stay on TCP there.
        ipc_dir = None
        if os.name != "nt":
            ipc_dir = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="dlc-"))
        config = self.course.nbgrader_config(ipc_dir=ipc_dir)
        config.Exchange.root = str(self.course.workspace / "exchange")  # unused, but must exist

        from nbgrader.apps import NbGraderAPI  # ~0.8 s: only when a session starts

        (self.course.workspace / "exchange").mkdir(exist_ok=True)
        self.api = NbGraderAPI(config=config, log=nbgrader_logger())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def coursedir(self) -> CourseDirectory:
        return self.api.coursedir

    def _run(
        self, converter_class: type, config: Config | None = None, **coursedir_values: str
    ) -> Outcome:
        """Run one nbgrader converter with ``coursedir_values`` set for the call only."""
        from nbgrader.utils import capture_log, temp_attrs

        log = nbgrader_logger()
        start = time.perf_counter()
        with temp_attrs(self.coursedir, **coursedir_values):
            converter = converter_class(coursedir=self.coursedir, parent=self.api)
            if config is not None:
                converter.update_config(config)
            converter.force = True
            result = capture_log(converter)
        seconds = time.perf_counter() - start
        if result["success"]:
            return Outcome(True, seconds=seconds)
        log.error("%s %s failed:\n%s", converter_class.__name__, coursedir_values, result["error"])
        # nbgrader logs the converter's own error and raises a summary: the cause is in the log
        detail = f"{result.get('log', '')}\n{result.get('error', '')}"
        return Outcome(False, _last_line(detail), seconds)

    def generate_assignment(
        self, day: str, out: Path | None = None, record: bool = True
    ) -> Outcome:
        """nbgrader GenerateAssignment: ``solutions/<day>`` to ``assignments/<day>`` (or ``out``).

        ``record``: also store the notebooks, grade cells and checksums in the gradebook (what
        autograding compares submissions with); ``False`` leaves the gradebook alone.
        """
        from nbgrader.converters import GenerateAssignment
        from traitlets.config import Config

        config = Config()
        config.GenerateAssignment.no_database = not record
        config.SaveCells.enabled = record
        release_dir = str(out.resolve()) if out is not None else self.coursedir.release_directory
        return self._run(
            GenerateAssignment, config, assignment_id=day, release_directory=release_dir
        )

    def autograde(self, day: str, student: str, notebook: str = "*", **where: str) -> Outcome:
        """nbgrader Autograde of one student's notebook (``*``: all of them) into the gradebook;
        ``where``: other ``CourseDirectory`` values for this call (``root``, ``db_url``)."""
        from nbgrader.converters import Autograde

        return self._run(Autograde, assignment_id=day, student_id=student, notebook_id=notebook,
                         **where)

    def generate_feedback(self, day: str, student: str, notebook: str = "*") -> Outcome:
        """nbgrader GenerateFeedback: feedback HTML for one student's autograded notebook
        (``*``: all of them; one failure then fails them all)."""
        from nbgrader.converters import GenerateFeedback
        from traitlets.config import Config

        config = Config()
        config.HTMLExporter.template_name = "feedback"
        self.api.update_config(config)
        return self._run(GenerateFeedback, assignment_id=day, student_id=student,
                         notebook_id=notebook)

    def recorded_notebooks(self, day: str) -> set[str] | None:
        """Notebooks of ``day`` in the gradebook (None: ``day`` was never recorded there)."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.course.db_url, self.coursedir.course_id) as gradebook:
            try:
                return {nb.name for nb in gradebook.find_assignment(day).notebooks}
            except MissingEntry:
                return None
