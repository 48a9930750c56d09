"""nbgrader configuration, built in code: one source of truth for the CLI, the tests and Formgrader.

Layout (the course design, section 2)::

    <repo>/solutions/<day>/                  nbgrader source (CourseDirectory.source_directory)
    <repo>/assignments/<day>/                released notebooks (CourseDirectory.release_directory)
    <workspace>/submitted/<student>/<day>/   collected submissions
    <workspace>/autograded/<student>/<day>/  executed and scored by nbgrader
    <workspace>/feedback/<student>/<day>/    feedback HTML
    <workspace>/gradebook.db                 SQLite gradebook (any SQLAlchemy URL via db_url)
    <workspace>/grading.log                  nbgrader's log and warnings

The workspace defaults to ``<repo>/grading`` (git-ignored); ``--workspace`` or
``$DLCOURSE_WORKSPACE`` moves it. The source and release directories are absolute: nbgrader joins
``root`` with each step directory, and ``os.path.join`` keeps an absolute step as it is
(``tests/test_autograder_config.py`` checks ``CourseDirectory.format_path`` on them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = "solutions"
RELEASE_DIR = "assignments"
WORKSPACE_ENV = "DLCOURSE_WORKSPACE"
DB_URL_ENV = "DLCOURSE_DB_URL"
COURSE_ID = "dlcourse"

# Seconds a single cell may run under autograding before nbgrader interrupts it and scores it 0.
# Quick mode keeps every Day 4 cell far below this; it stops a learner's infinite loop.
CELL_TIMEOUT = 60

# nbgrader zeroes a test cell that wrote anything to stderr (utils.determine_grade). Every check in
# this course fails by *raising* (an error output, still scored 0), so stderr only ever carries
# warnings, progress bars and logging. Ignore all of it: a narrower pattern such as "Warning:"
# misses the second line of a warning when the kernel sends it as a separate stream chunk.
IGNORE_STDERR_PATTERN = r"[\s\S]"

# Environment of the grading kernels (setdefault: an instructor's own value wins). One BLAS
# thread per kernel: the notebooks multiply small matrices, and on a busy 2-core machine threaded
# BLAS spins against the other processes; measured here, 4_3's quick experiment took 22 s with
# the default threads and 2.7 s with one.
KERNEL_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Course:
    """Where the course lives and how it is graded: what the nbgrader config is built from."""

    repo: Path  # holds solutions/ and assignments/
    workspace: Path  # submitted/, autograded/, feedback/, gradebook.db, grading.log
    db_url: str  # SQLAlchemy URL of the gradebook
    timeout: int = CELL_TIMEOUT  # seconds per cell under autograding

    @classmethod
    def from_options(
        cls,
        workspace: str | os.PathLike[str] | None = None,
        db_url: str | None = None,
        timeout: int | None = None,
        repo: str | os.PathLike[str] | None = None,
    ) -> Course:
        """Defaults: workspace ``$DLCOURSE_WORKSPACE`` or ``<repo>/grading``; SQLite in it."""
        root = Path(repo).resolve() if repo is not None else REPO_ROOT
        chosen = workspace or os.environ.get(WORKSPACE_ENV) or root / "grading"
        space = Path(chosen).expanduser().resolve()
        url = db_url or os.environ.get(DB_URL_ENV) or f"sqlite:///{space / 'gradebook.db'}"
        return cls(root, space, url, CELL_TIMEOUT if timeout is None else int(timeout))

    @property
    def source_dir(self) -> Path:
        return self.repo / SOURCE_DIR

    @property
    def release_dir(self) -> Path:
        return self.repo / RELEASE_DIR

    @property
    def log_file(self) -> Path:
        """nbgrader's own log (its harmless warnings stay out of the terminal)."""
        return self.workspace / "grading.log"

    def nbgrader_config(
        self,
        release_dir: str | os.PathLike[str] | None = None,
        ipc_dir: str | os.PathLike[str] | None = None,
    ) -> Config:
        """The nbgrader traitlets ``Config``.

        ``release_dir`` overrides ``<repo>/assignments``; ``ipc_dir`` (a short, private, existing
        folder) switches kernels from TCP to Unix sockets.
        """
        c = Config()
        c.CourseDirectory.course_id = COURSE_ID
        c.CourseDirectory.root = str(self.workspace)
        c.CourseDirectory.source_directory = str(self.source_dir)
        released = Path(release_dir).resolve() if release_dir is not None else self.release_dir
        c.CourseDirectory.release_directory = str(released)
        c.CourseDirectory.submitted_directory = "submitted"
        c.CourseDirectory.autograded_directory = "autograded"
        c.CourseDirectory.feedback_directory = "feedback"
        c.CourseDirectory.db_url = self.db_url

        # Grading: a per-cell timeout; deleted test cells come back (and are graded); stderr is
        # no failure (IgnorePattern needs both settings: it is disabled by default).
        c.Execute.timeout = self.timeout
        c.OverwriteCells.add_missing_cells = True
        c.IgnorePattern.enabled = True
        c.IgnorePattern.pattern = IGNORE_STDERR_PATTERN
        if ipc_dir is not None:
            # Kernels talk over Unix sockets in ``ipc_dir``: no race for TCP ports when several
            # kernels start at once (parallel CI jobs, other graders on the same machine). The
            # path must be absolute: jupyter_client's default "kernel-ipc" is relative, and the
            # kernel runs in the notebook's folder, so it would listen where the client never looks.
            c.KernelManager.transport = "ipc"
            c.KernelManager.ip = str(Path(ipc_dir).resolve() / "kernel")

        # Imported here: building the config must not cost nbgrader's import for callers that
        # only need paths (nbgrader_config.py imports this module too, which is fine).
        from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
        from nbgrader.preprocessors import (
            CheckCellMetadata,
            ClearOutput,
            DeduplicateIds,
            GetGrades,
            OverwriteKernelspec,
        )

        from autograder.preprocessors import ClearHiddenTestsAndTracebacks, RestoreMissingCells

        # nbgrader's default list with OverwriteCells replaced by its fixed subclass.
        c.Autograde.sanitize_preprocessors = [
            ClearOutput,
            DeduplicateIds,
            OverwriteKernelspec,
            RestoreMissingCells,
            CheckCellMetadata,
        ]
        # Feedback HTML is rendered from the autograded notebook, which holds the hidden tests
        # (OverwriteCells restores them from the gradebook): strip them, and their tracebacks.
        c.GenerateFeedback.preprocessors = [
            GetGrades,
            ClearHiddenTestsAndTracebacks,
            CSSHTMLHeaderPreprocessor,
        ]
        return c
