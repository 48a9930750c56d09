"""The nbgrader configuration built by autograder.config (and loaded by nbgrader_config.py)."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, IgnorePattern, OverwriteCells
from traitlets.config import Config

from autograder.config import CELL_TIMEOUT, REPO_ROOT, Course


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Course:
    monkeypatch.delenv("DLCOURSE_WORKSPACE", raising=False)
    monkeypatch.delenv("DLCOURSE_DB_URL", raising=False)
    return Course.from_options(workspace=tmp_path / "ws")


def _coursedir(config: Config) -> CourseDirectory:
    return CourseDirectory(config=config)


def test_source_and_release_directories_are_the_repo_folders(course: Course):
    cd = _coursedir(course.nbgrader_config())
    assert cd.source_directory == str(REPO_ROOT / "solutions")
    assert cd.release_directory == str(REPO_ROOT / "assignments")
    # nbgrader joins root (the workspace) with the step; an absolute step wins
    source = Path(cd.format_path(cd.source_directory, ".", "day4"))
    release = Path(cd.format_path(cd.release_directory, ".", "day4"))
    assert source.resolve() == REPO_ROOT / "solutions" / "day4"
    assert release.resolve() == REPO_ROOT / "assignments" / "day4"


def test_absolute_steps_survive_nbgraders_escaped_path_regex(course: Course):
    cd = _coursedir(course.nbgrader_config())
    pattern = cd.format_path(cd.source_directory, "(?P<student_id>.*)", "(?P<assignment_id>.*)",
                             escape=True)
    match = re.match(pattern, os.path.join(REPO_ROOT, "solutions", ".", "day4"))
    assert match and match.group("assignment_id") == "day4"


def test_submissions_grades_and_feedback_live_in_the_workspace(course: Course):
    cd = _coursedir(course.nbgrader_config())
    for step in (cd.submitted_directory, cd.autograded_directory, cd.feedback_directory):
        path = Path(cd.format_path(step, "alice", "day4"))
        assert path.parent.parent.parent == course.workspace
    assert cd.db_url == f"sqlite:///{course.workspace / 'gradebook.db'}"


def test_default_workspace_is_grading_in_the_repo(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DLCOURSE_WORKSPACE", raising=False)
    assert Course.from_options().workspace == REPO_ROOT / "grading"


def test_workspace_and_db_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLCOURSE_WORKSPACE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("DLCOURSE_DB_URL", "postgresql://grader@db/dlcourse")
    course = Course.from_options()
    assert course.workspace == tmp_path / "elsewhere"
    assert _coursedir(course.nbgrader_config()).db_url == "postgresql://grader@db/dlcourse"


def test_option_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLCOURSE_WORKSPACE", str(tmp_path / "env"))
    assert Course.from_options(workspace=tmp_path / "opt").workspace == tmp_path / "opt"


def test_cell_timeout_default_and_option(course: Course, tmp_path: Path):
    assert course.nbgrader_config().Execute.timeout == CELL_TIMEOUT == 60
    assert Course.from_options(workspace=tmp_path, timeout=7).nbgrader_config().Execute.timeout == 7


def test_deleted_test_cells_are_added_back(course: Course):
    config = course.nbgrader_config()
    assert config.OverwriteCells.add_missing_cells is True
    steps = config.Autograde.sanitize_preprocessors
    assert len([p for p in steps if issubclass(p, OverwriteCells)]) == 1


def test_ignore_pattern_is_enabled_with_a_pattern(course: Course):
    config = course.nbgrader_config()
    assert config.IgnorePattern.enabled is True
    assert config.IgnorePattern.pattern


def test_ignore_pattern_drops_stderr_but_keeps_errors(course: Course):
    """nbgrader zeroes a test cell with stderr output; with our pattern only errors remain."""
    cell = new_code_cell("square(3)")
    cell.outputs = [
        new_output("stream", name="stderr", text="<ipython>:2: RuntimeWarning: slow path\n"),
        new_output("stream", name="stderr", text="  warnings.warn('slow path')\n"),  # 2nd chunk
        new_output("stream", name="stdout", text="9\n"),
        new_output("error", ename="AssertionError", evalue="wrong", traceback=[]),
    ]
    ignore = IgnorePattern(config=course.nbgrader_config())
    cell, _ = ignore.preprocess_cell(cell, {}, 0)
    assert [o.output_type for o in cell.outputs] == ["stream", "error"]
    assert cell.outputs[0].name == "stdout"


def test_feedback_strips_hidden_tests_after_reading_grades(course: Course):
    steps = list(course.nbgrader_config().GenerateFeedback.preprocessors)
    clear = [i for i, p in enumerate(steps) if issubclass(p, ClearHiddenTests)]
    assert len(clear) == 1 and steps.index(GetGrades) < clear[0]


def test_kernels_use_an_absolute_ipc_path_when_asked(course: Course, tmp_path: Path):
    config = course.nbgrader_config(ipc_dir=tmp_path)
    assert config.KernelManager.transport == "ipc"
    assert Path(config.KernelManager.ip).is_absolute()


def test_root_nbgrader_config_loads_the_same_configuration(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DLCOURSE_WORKSPACE", raising=False)
    monkeypatch.delenv("DLCOURSE_DB_URL", raising=False)
    loaded = Config()
    runpy.run_path(str(REPO_ROOT / "nbgrader_config.py"), {"get_config": lambda: loaded})
    expected = Course.from_options().nbgrader_config()
    assert loaded.CourseDirectory == expected.CourseDirectory
    assert loaded.IgnorePattern == expected.IgnorePattern
    assert loaded.OverwriteCells == expected.OverwriteCells
    assert loaded.GenerateFeedback == expected.GenerateFeedback


def test_grading_kernels_get_one_blas_thread_unless_set(tmp_path: Path, monkeypatch):
    from autograder.session import Session

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with Session(Course.from_options(workspace=tmp_path)):
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["OMP_NUM_THREADS"] == "3"  # the instructor's own value wins
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_the_grading_executor_recognises_every_option_and_runs_no_validate_hook(
    course: Course, caplog: pytest.LogCaptureFixture
):
    """The Validate guard is configured on nbgrader's Execute, whose section GuardedExecute
    inherits: the options must be recognised (no "not recognized" warning per notebook) and
    the hooks cleared for grading."""
    import logging

    from autograder.execution import GuardedExecute

    config = course.nbgrader_config()
    assert config.Execute.on_cell_execute is not None  # the Validate guard is configured
    log = logging.getLogger("test-guarded-execute")
    with caplog.at_level(logging.WARNING, logger=log.name):
        executor = GuardedExecute(config=config, log=log)
    assert not [r for r in caplog.records if "not recognized" in r.getMessage()], caplog.text
    for hook in GuardedExecute.VALIDATE_HOOKS:
        assert getattr(executor, hook) is None


def test_hub_pins_blas_threads_to_the_learners_cpu_share_and_sets_limits(monkeypatch):
    from types import SimpleNamespace

    from traitlets.config import Config

    monkeypatch.setenv("DLCOURSE_CPU_LIMIT", "2")
    monkeypatch.setenv("DLCOURSE_MEM_LIMIT", "3G")
    loaded = Config()
    namespace = runpy.run_path(str(REPO_ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"),
                               {"get_config": lambda: loaded})
    assert loaded.Spawner.cpu_limit == 2.0 and loaded.Spawner.mem_limit == "3G"
    assert namespace["thread_environment"](0.5) == {
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    learner = SimpleNamespace(user=SimpleNamespace(groups=[]), environment={"X": "1"})
    loaded.Spawner.pre_spawn_hook(learner)
    assert learner.environment["X"] == "1"
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        assert learner.environment[variable] == "2"


def test_new_gradebooks_are_stamped_with_nbgraders_alembic_head_without_a_process(
        course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """nbgrader runs the ``alembic heads`` command for every new gradebook (about a second each);
    once the course's configuration is built, the revision is read in-process, and it is the
    one the command prints."""
    import sqlite3
    import subprocess
    import sys

    import nbgrader.api
    from nbgrader.dbutil import _temp_alembic_ini

    from autograder import alembic_head

    course.nbgrader_config()  # what every nbgrader app of the course loads
    assert nbgrader.api.get_alembic_version is alembic_head.alembic_head
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with _temp_alembic_ini(f"sqlite:///{tmp_path / 'unused.db'}") as ini:
        printed = subprocess.run(["alembic", "-c", ini, "heads"], env=env, check=True,
                                 capture_output=True, text=True).stdout
    assert alembic_head.alembic_head() == printed.split("\n")[0].split(" ")[0]

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(nbgrader.api.sp, "check_output", no_process)
    with nbgrader.api.Gradebook(f"sqlite:///{tmp_path / 'new.db'}"):
        pass
    with sqlite3.connect(tmp_path / "new.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (alembic_head.alembic_head(),)]
