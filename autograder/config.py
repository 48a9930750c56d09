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
from dataclasses import dataclass, replace
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
# Seconds a whole notebook may run (every cell's timeout is cut to what is left): a loop in a
# function that several tests call costs this at most, not tests x CELL_TIMEOUT.
TIME_BUDGET = 300
# Address space of a grading kernel (RLIMIT_AS, set before learner code runs): a runaway
# allocation ends in MemoryError (or a dead kernel), not in the machine swapping. A Day 4 kernel
# maps about 1.2 GB (numpy, OpenBLAS, matplotlib).
MEMORY_LIMIT_MB = 4096
# Deadline of each day (ISO 8601; without a UTC offset: this machine's local time), used by
# ``collect`` when no --deadline is given: files received after it are flagged "late" in the
# manifest and the report. No penalty is applied. Example: {"day4": "2025-06-01T23:59+09:00"}.
DEADLINES: dict[str, str] = {}
# Bytes of output kept per cell and per notebook in the autograded notebook and the feedback.
OUTPUT_LIMIT = 1_000_000
NOTEBOOK_OUTPUT_LIMIT = 5_000_000

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

# Grading kernels run inside bubblewrap's walls (autograder.sandbox). "require": refuse to grade
# where the sandbox cannot run; "auto": grade unsandboxed there, flagged "not sandboxed"; "off".
SANDBOX_MODES = ("require", "auto", "off")
SANDBOX_ENV = "DLCOURSE_SANDBOX"  # the mode when neither --sandbox nor the code says


def resolve_sandbox_mode(mode: str | None) -> str:
    """``mode``, else ``$DLCOURSE_SANDBOX``, else "auto"."""
    chosen = (mode or os.environ.get(SANDBOX_ENV) or "auto").strip().lower()
    if chosen not in SANDBOX_MODES:
        raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, not {chosen!r}")
    return chosen


@dataclass(frozen=True)
class Course:
    """Where the course lives and how it is graded: what the nbgrader config is built from."""

    repo: Path  # holds solutions/ and assignments/
    workspace: Path  # submitted/, autograded/, feedback/, gradebook.db, grading.log
    db_url: str  # SQLAlchemy URL of the gradebook
    timeout: int = CELL_TIMEOUT  # seconds per cell under autograding
    time_budget: int = TIME_BUDGET  # seconds per notebook (0: none)
    memory_limit_mb: int = MEMORY_LIMIT_MB  # per grading kernel (0: none)
    output_limit: int = OUTPUT_LIMIT  # bytes of output per cell
    sandbox: str = "auto"  # require | auto | off: kernels in bubblewrap (autograder.sandbox)
    figures: bool = True  # False: grading kernels build figures but skip rendering them

    @classmethod
    def from_options(
        cls,
        workspace: str | os.PathLike[str] | None = None,
        db_url: str | None = None,
        timeout: int | None = None,
        repo: str | os.PathLike[str] | None = None,
        time_budget: int | None = None,
        memory_limit_mb: int | None = None,
        output_limit: int | None = None,
        sandbox: str | None = None,
        figures: bool = True,
    ) -> Course:
        """Defaults: workspace ``$DLCOURSE_WORKSPACE`` or ``<repo>/grading``; SQLite in it;
        sandbox ``$DLCOURSE_SANDBOX`` or "auto"."""

        root = Path(repo).resolve() if repo is not None else REPO_ROOT
        chosen = workspace or os.environ.get(WORKSPACE_ENV) or root / "grading"
        space = Path(chosen).expanduser().resolve()
        url = db_url or os.environ.get(DB_URL_ENV) or f"sqlite:///{space / 'gradebook.db'}"

        def pick(value: int | None, default: int) -> int:
            return default if value is None else int(value)

        return cls(root, space, url, pick(timeout, CELL_TIMEOUT), pick(time_budget, TIME_BUDGET),
                   pick(memory_limit_mb, MEMORY_LIMIT_MB), pick(output_limit, OUTPUT_LIMIT),
                   resolve_sandbox_mode(sandbox), figures)

    def with_workspace(self, workspace: Path, db_url: str) -> Course:
        """The same course and limits, graded in another workspace and gradebook."""
        return replace(self, workspace=workspace, db_url=db_url)

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
        # Limits and the tamper guard of the grading kernel (autograder.execution).
        memory = self.memory_limit_mb * 2**20
        c.GuardedExecute.time_budget = self.time_budget
        c.GuardedExecute.memory_limit = memory
        c.GuardedExecute.output_limit = self.output_limit
        c.GuardedExecute.notebook_output_limit = 5 * self.output_limit
        # The walls around every grading kernel (autograder.sandbox): GuardedExecute's kernel
        # manager. The kernel process's CPU seconds are capped as a backstop to the time budget.
        c.SandboxKernelManager.mode = self.sandbox
        c.SandboxKernelManager.memory_limit = memory
        c.SandboxKernelManager.cpu_limit = self.time_budget + self.timeout if self.time_budget \
            else 0
        c.SandboxKernelManager.source_directory = str(self.source_dir)
        c.SandboxKernelManager.figures = self.figures  # False: autograder.nofigures
        if ipc_dir is not None:
            # Kernels talk over Unix sockets in ``ipc_dir``: no race for TCP ports when several
            # kernels start at once (parallel CI jobs, other graders on the same machine). The
            # path must be absolute: jupyter_client's default "kernel-ipc" is relative, and the
            # kernel runs in the notebook's folder, so it would listen where the client never looks.
            c.KernelManager.transport = "ipc"
            c.KernelManager.ip = str(Path(ipc_dir).resolve() / "kernel")

        # Imported here: building the config must not cost nbgrader's import for callers that
        # only need paths (nbgrader_config.py imports this module too, which is fine).
        from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
        from nbgrader.preprocessors import (
            AssignLatePenalties,
            CheckCellMetadata,
            ClearOutput,
            DeduplicateIds,
            GetGrades,
            IgnorePattern,
            LimitOutput,
            OverwriteKernelspec,
            SaveAutoGrades,
        )

        from autograder import schema_cache
        from autograder.alembic_head import install
        from autograder.execution import GuardedExecute
        from autograder.preprocessors import ClearHiddenTestsAndTracebacks, RestoreMissingCells

        install()  # new gradebooks stamped without nbgrader's `alembic heads` process
        schema_cache.install()  # cell metadata checked without re-checking the schema per cell

        # nbgrader's default list with OverwriteCells replaced by its fixed subclass.
        c.Autograde.sanitize_preprocessors = [
            ClearOutput,
            DeduplicateIds,
            OverwriteKernelspec,
            RestoreMissingCells,
            CheckCellMetadata,
        ]
        # nbgrader's default list with Execute replaced by the guarded one.
        c.Autograde.autograde_preprocessors = [
            GuardedExecute,
            IgnorePattern,
            ClearMetadataPreprocessor,
            LimitOutput,
            SaveAutoGrades,
            AssignLatePenalties,
            CheckCellMetadata,
        ]
        c.merge(validate_config(self.memory_limit_mb))
        # Feedback HTML is rendered from the autograded notebook, which holds the hidden tests
        # (OverwriteCells restores them from the gradebook): strip them, and their tracebacks.
        c.GenerateFeedback.preprocessors = [
            GetGrades,
            ClearHiddenTestsAndTracebacks,
            CSSHTMLHeaderPreprocessor,
        ]
        return c


def validate_config(memory_limit_mb: int = MEMORY_LIMIT_MB) -> Config:
    """The tamper guard for ``nbgrader validate`` and the Validate button: they run nbgrader's own
    Execute (the Validator's preprocessors are not configurable), whose hooks add the guard's
    prologues. Part of ``Course.nbgrader_config``; the learners' configurations
    (``deploy/lab/learner``, ``deploy/jupyterhub/learner``) load it alone."""
    from autograder import schema_cache
    from autograder.execution import ValidateGuard

    schema_cache.install()  # nbgrader validate checks the cells' metadata too

    c = Config()
    validate = ValidateGuard(memory_limit_mb * 2**20)
    c.Execute.on_notebook_start = validate.notebook_start
    c.Execute.on_cell_execute = validate.cell_execute
    c.Execute.on_cell_complete = validate.cell_complete
    return c
