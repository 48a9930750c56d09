"""The course in a real browser: `make lab` and `make lab-instructor` driven by Chromium.

One learner server (`make lab` on a temporary copy of the released Day 4 notebook 4_1, with the
reference and the partly correct sample beside it) and one instructor server (`make
lab-instructor` on a temporary course root holding a verbatim copy of the repository's
nbgrader_config.py, whose grading workspace holds the three sample submissions of 4_1 and the
partly correct sample's 4_3, which has a written answer, graded by `python -m autograder` in one
run while the learner tests run). In Formgrader a grader scores and comments that written
answer; the gradebook, the report and the feedback page must then show both. Playwright drives
Debian's Chromium
(``executable_path``; Playwright's own browser download is never used) with a fresh profile.

Nothing here writes into the repository, except the screenshots in docs/images/ when
``DLCOURSE_SCREENSHOTS=1`` (they need a Japanese font: Debian's fonts-noto-cjk).

Pitfalls handled: the kernel must be idle before cells run; JupyterLab 4 renders off-screen cells
with ``content-visibility``, so their text is read with ``textContent``, not ``innerText``;
every selector is scoped to the visible notebook panel or to the Formgrader frame.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from chromium import chromium, missing_browser, screenshot
from local_port import free_port

from autograder.samples import build_notebook_samples, graded_points
from autograder.specs import spec_for

REPO = Path(__file__).resolve().parents[1]
DAY, STEM = "day4", "4_1_batch_normalization_layer"
NOTEBOOK = f"{DAY}/{STEM}"
# A Day 4 notebook with a written answer (4_1 has none; 4_3 grades fastest of 4_2..4_5), returned
# by one sample only: the others' 4_3 counts as missing (no kernel runs), so the grading, which
# runs beside the learner tests, adds one notebook, not three.
WRITTEN_STEM, WRITTEN_BY = "4_3_dropout", "partial"
GRADED_STEMS = (STEM, WRITTEN_STEM)
# The written answer that sample returns (the samples' own would be the model answer, rubric
# and all), what a grader gives it in Formgrader, and the grader's comment.
WRITTEN_ANSWER = ("学習時はユニットの一部しか残らないので、出力の期待値が予測時より小さくなります。"
                  "そのずれをなくすために、学習時に 1/(1-r) 倍しておきます。")
WRITTEN_POINTS = 1.5
WRITTEN_COMMENT = ("期待値がずれる理由は正確です。予測時に何もしなくてよい (推論が drop_ratio に"
                   "よらない) という利点も書けば満点です。")
STARTUP_SECONDS = 90  # a server or a kernel on a busy 2-core CI machine
RUN_SECONDS = 120  # run all cells, or Validate (a fresh kernel runs the whole notebook)


def _skip_reason() -> str | None:
    if shutil.which("make") is None:
        return "make is not installed (the tests start JupyterLab through `make lab`)"
    return missing_browser()


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
    # Under pytest-xdist (make test) all of it on one worker: one set of servers feeds every test.
    pytest.mark.xdist_group("browser"),
]


# --- servers ---------------------------------------------------------------------------------

@dataclass
class Lab:
    """A JupyterLab server started by a Makefile target."""

    base: str  # http://127.0.0.1:PORT
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path}{sep}token={self.token}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def terminate(self) -> None:
        # make and the server run in a session of their own: end exactly that process group.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _jupyter_env(home: Path) -> dict[str, str]:
    """This process's environment with every per-user Jupyter folder moved into ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "DLCOURSE_WORKSPACE", "LAB_"))}
    user_config = home / "config"
    # JupyterLab's news prompt would cover part of the screenshots; the learner view turns it
    # off itself (deploy/lab/learner), the instructor view only here.
    (user_config / "labconfig").mkdir(parents=True, exist_ok=True)
    (user_config / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}\n')
    env.update(
        JUPYTER_CONFIG_DIR=str(user_config),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        MPLCONFIGDIR=str(home / "matplotlib"),
    )
    return env


def _start_lab(target: str, variables: dict[str, str], env: dict[str, str], log: Path) -> Lab:
    """``make TARGET`` with this Python's environment; checks the URL it prints first."""
    port, token = free_port(), secrets.token_hex(16)
    port_variable = "INSTRUCTOR_PORT" if target == "lab-instructor" else "LAB_PORT"
    command = [
        "make", "-s", "--no-print-directory", "-C", str(REPO),
        "-o", ".venv/.installed-stamp",  # the test's own environment is the installed one
        target, f"BIN={Path(sys.executable).parent}", f"{port_variable}={port}",
        "LAB_FLAGS=--no-browser",
        *(f"{name}={value}" for name, value in variables.items()),
    ]
    process = subprocess.Popen(
        command, env={**env, "LAB_TOKEN": token}, stdout=subprocess.PIPE,
        stderr=log.open("w"), text=True, start_new_session=True,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, process, log)
    first_line = process.stdout.readline()
    assert f"http://127.0.0.1:{port}/lab?token={token}" in first_line, (
        f"make {target} should print the URL first; printed {first_line!r}\n{lab.tail()}")
    return lab


def _source(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / DAY / f"{stem}.ipynb", as_version=4)


def _sample_notebooks(
    stem: str = STEM,
) -> tuple[dict[str, nbformat.NotebookNode], dict[str, dict[str, float]]]:
    """reference / blank / partial versions of a released notebook (autograder.samples)."""
    released = nbformat.read(REPO / "assignments" / DAY / f"{stem}.ipynb", as_version=4)
    return build_notebook_samples(released, _source(stem), f"{DAY}/{stem}")


def _written_cells(nb: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of the written answers (markdown cells with grade and solution)."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in nb.cells if c.cell_type == "markdown"
            and c.metadata.get("nbgrader", {}).get("grade")
            and c.metadata.nbgrader.get("solution")}


def _jinja_points(value: float) -> str:
    """A score as nbgrader's feedback template prints it (``| float | round(2)``)."""
    return str(round(float(value), 2))


def _copy_notebook(nb: nbformat.NotebookNode, folder: Path, day_dir: str,
                   stem: str = STEM) -> None:
    """``nb`` as ``folder/<stem>.ipynb`` with its fixture file beside it, as a release has."""
    (folder / "fixtures").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{stem}.ipynb")
    shutil.copy(REPO / day_dir / DAY / "fixtures" / f"{stem}.npz", folder / "fixtures")


@dataclass
class Course:
    learner: Lab
    instructor: Lab
    grading: subprocess.Popen
    grading_log: Path
    options: list[str]  # python -m autograder's --repo and --workspace of the graded course
    workspace: Path
    expected: dict[str, dict[str, dict[str, float]]]  # student -> stem -> grade_id -> points

    def wait_for_grading(self) -> None:
        try:
            code = self.grading.wait(timeout=STARTUP_SECONDS * 2)
        except subprocess.TimeoutExpired:
            pytest.fail("grading the sample submissions took too long")
        assert code == 0, self.grading_log.read_text()[-3000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Course]:
    """Grading (in the background), the learner server and the instructor server, all at once."""
    tmp = tmp_path_factory.mktemp("browser")
    notebooks, _ = _sample_notebooks()

    # The learner's folder mirrors assignments/: day4/ holds the untouched release; the
    # reference and the partly correct sample sit in folders of their own.
    learner_root = tmp / "learner"
    _copy_notebook(notebooks["blank"], learner_root / DAY, "assignments")
    for student in ("reference", "partial"):
        _copy_notebook(notebooks[student], learner_root / student / DAY, "assignments")

    # The instructor's course root: the real nbgrader_config.py (so Formgrader lists the real
    # days), and a workspace under the root (Formgrader requires it) where the samples of 4_1
    # and the partial sample's 4_3 are collected and graded, in one run, against a source that
    # holds these two only (so the gradebook's Day 4 is worth their points: 10 + 12, 2 of them
    # a written answer).
    course_root = tmp / "course"
    course_root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course_root)
    grading_repo = tmp / "grading-repo"
    returned = tmp / "returned"
    expected: dict[str, dict[str, dict[str, float]]] = {}
    for stem in GRADED_STEMS:
        samples, points = _sample_notebooks(stem)
        _copy_notebook(_source(stem), grading_repo / "solutions" / DAY, "solutions", stem)
        _copy_notebook(samples["blank"], grading_repo / "assignments" / DAY, "assignments", stem)
        if stem == WRITTEN_STEM:  # returned by one sample, with a written answer of its own
            nb = samples[WRITTEN_BY]
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") in _written_cells(nb):
                    cell.source = WRITTEN_ANSWER
            samples = {WRITTEN_BY: nb}
        for student, student_points in points.items():
            if student not in samples:  # missing: 0 points
                expected.setdefault(student, {})[stem] = dict.fromkeys(student_points, 0.0)
                continue
            (returned / student / DAY).mkdir(parents=True, exist_ok=True)
            nbformat.write(samples[student], returned / student / DAY / f"{stem}.ipynb")
            expected.setdefault(student, {})[stem] = student_points
    workspace = course_root / "grading"
    options = ["--repo", str(grading_repo), "--workspace", str(workspace)]
    cli = [sys.executable, "-m", "autograder", *options]
    grading_log = tmp / "grading.log"
    grading = subprocess.Popen(
        ["sh", "-c", f"{shlex.join([*cli, 'collect', DAY, str(returned)])} && "
                     f"{shlex.join([*cli, 'grade', DAY])}"],
        stdout=grading_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DLCOURSE_WORKSPACE")},
    )

    learner = _start_lab("lab", {"LEARNER_ROOT": str(learner_root)},
                         _jupyter_env(tmp / "learner-home"), tmp / "learner-lab.log")
    instructor = _start_lab("lab-instructor", {"COURSE_ROOT": str(course_root)},
                            {**_jupyter_env(tmp / "instructor-home"),
                             "DLCOURSE_WORKSPACE": str(workspace)},
                            tmp / "instructor-lab.log")
    try:
        learner.wait_ready()
        instructor.wait_ready()
        yield Course(learner, instructor, grading, grading_log, options, workspace, expected)
    finally:
        for lab in (learner, instructor):  # both shut their kernels down at the same time
            lab.terminate()
        for lab in (learner, instructor):
            lab.wait_stopped()
        if grading.poll() is None:
            os.killpg(grading.pid, signal.SIGTERM)
            grading.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as browser:
        yield browser


# --- the notebook in the browser -------------------------------------------------------------

PANEL = ".jp-NotebookPanel:visible"
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
STDOUT_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']"
# The prompts ("[ ]:", "[3]:", "[*]:") of the visible notebook's code cells.
PROMPTS = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
    .find(p => !p.classList.contains('lm-mod-hidden'));
  return panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim()) : [];
}"""
# True once the visible notebook's kernel is idle, no code cell is queued or running ([*]), and
# the prompts differ from `before` (so a run that has not started yet does not count as done).
SETTLED = """(before) => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
    .find(p => !p.classList.contains('lm-mod-hidden'));
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.dataset.status !== 'idle') return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  return prompts.length > 0 && !prompts.some(p => p.includes('*'))
    && JSON.stringify(prompts) !== JSON.stringify(before);
}"""


def _new_tab(browser, lab: Lab, path: str):  # noqa: ANN001, ANN202 (playwright objects)
    """A new tab opening ``path`` in JupyterLab (not waiting for its kernel)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(STARTUP_SECONDS * 1000)
    page.goto(lab.url(f"lab/tree/{path}?reset"))
    return page


# True once a run has begun: a prompt shows [*] or the prompts differ from `before`.
STARTED = """(before) => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
    .find(p => !p.classList.contains('lm-mod-hidden'));
  const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim()) : [];
  return prompts.some(p => p.includes('*')) || JSON.stringify(prompts) !== JSON.stringify(before);
}"""
# The visible notebook's execution indicator ("idle", "busy", ...), for the failure messages.
INDICATOR = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')]
    .find(p => !p.classList.contains('lm-mod-hidden'));
  const indicator = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return indicator ? indicator.dataset.status : null;
}"""
START_SECONDS = 30  # from the Run All click to the first sign of a run


def _state(page, lab: Lab, path: str) -> str:  # noqa: ANN001
    """What the page and the server show of the notebook now: for a failure message."""
    shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlcourse-browser-{secrets.token_hex(4)}.png"
    try:
        page.screenshot(path=str(shot))
    except Exception as error:  # noqa: BLE001 (a failing screenshot must not hide the state)
        shot = Path(f"(no screenshot: {error})")
    return (f"{path}: prompts {page.evaluate(PROMPTS)}, indicator {page.evaluate(INDICATOR)!r}, "
            f"kernel {_kernel(lab, path)}, screenshot {shot}\nJupyterLab log:\n{lab.tail()}")


def _kernel(lab: Lab, path: str) -> dict | None:
    """The server's model of the kernel of the notebook at ``path`` (api/sessions), or None."""
    with urllib.request.urlopen(lab.url("api/sessions"), timeout=10) as response:
        sessions = json.load(response)
    kernels = [s["kernel"] for s in sessions if s.get("path") == path and s.get("kernel")]
    return kernels[0] if kernels else None


def _wait_kernel_ready(page, lab: Lab, path: str) -> None:  # noqa: ANN001
    """The notebook's kernel is idle on the server, this page is connected to it, and the
    page's indicator says idle: only then does Run All run anything."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        kernel = _kernel(lab, path)
        if (kernel and kernel.get("execution_state") == "idle"
                and kernel.get("connections", 0) >= 1):
            _wait_settled(page, lab, path, [], max(1.0, deadline - time.monotonic()))
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel was not ready within {STARTUP_SECONDS} s: {_state(page, lab, path)}")


def _wait_settled(page, lab: Lab, path: str, before: list[str], seconds: float) -> None:  # noqa: ANN001
    """The page's notebook has finished running (see SETTLED); a failure says what it shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(PANEL).wait_for(timeout=seconds * 1000)
        # Polled every 250 ms (not on animation frames, which a background page may not get).
        page.wait_for_function(SETTLED, arg=before, timeout=seconds * 1000, polling=250)
    except PlaywrightTimeout:
        pytest.fail(f"the notebook did not settle within {seconds:g} s: {_state(page, lab, path)}")


def _start_run_all(page, lab: Lab, path: str) -> list[str]:  # noqa: ANN001
    """Run > Run All Cells (the kernel must be ready); returns the prompts from before.

    The run must visibly begin within START_SECONDS of a click (one second click is allowed,
    with a warning); otherwise the test fails, saying what the page and the server show.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = page.evaluate(PROMPTS)
    for attempt in (1, 2):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(STARTED, arg=before, timeout=START_SECONDS * 1000,
                                   polling=250)
            return before
        except PlaywrightTimeout:
            # A learner whose click did nothing clicks again; so does the test, once, and says so.
            warnings.warn(f"Run All Cells, click {attempt}, started nothing within "
                          f"{START_SECONDS} s: {_state(page, lab, path)}", stacklevel=2)
    pytest.fail(f"Run All Cells, clicked twice, did not start a run: {_state(page, lab, path)}")


def _texts(page, selector: str) -> list[str]:  # noqa: ANN001
    # textContent: off-screen cells are not rendered, so their innerText is empty.
    return page.locator(f"{PANEL} {selector}").all_text_contents()


def _hide_file_browser(page) -> None:  # noqa: ANN001
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()


def _show_end_of(page, selector: str, index: int = 0) -> None:  # noqa: ANN001
    """Scroll the notebook until the end of the ``index``-th ``selector`` is at its bottom.

    Cells scrolled into view render (content-visibility) and change height, so repeat.
    """
    target = page.locator(f"{PANEL} {selector}").nth(index)
    scroller = page.locator(f"{PANEL} .jp-WindowedPanel-outer")
    for _ in range(10):
        target.evaluate("e => e.scrollIntoView({block: 'end'})")
        page.wait_for_timeout(200)
        box, view = target.bounding_box(), scroller.bounding_box()
        if box and view and abs(box["y"] + box["height"] - view["y"] - view["height"]) < 40:
            return


LEARNER_PATHS = {
    "blank": f"{DAY}/{STEM}.ipynb",
    "reference": f"reference/{DAY}/{STEM}.ipynb",
    "partial": f"partial/{DAY}/{STEM}.ipynb",
}


@pytest.fixture(scope="module")
def learner_pages(course: Course, browser) -> Iterator[dict]:  # noqa: ANN001
    """The three notebooks, each in its own tab, run top to bottom (Run All Cells).

    They load and run side by side (three kernels at once); the tests only read the results.
    """
    pages = {name: _new_tab(browser, course.learner, path) for name, path in LEARNER_PATHS.items()}
    try:
        for name, page in pages.items():
            _wait_kernel_ready(page, course.learner, LEARNER_PATHS[name])
        screenshot(pages["blank"], "learner-notebook.png")
        before = {name: _start_run_all(page, course.learner, LEARNER_PATHS[name])
                  for name, page in pages.items()}
        for name, page in pages.items():
            _wait_settled(page, course.learner, LEARNER_PATHS[name], before[name], RUN_SECONDS)
        yield pages
    finally:
        for page in pages.values():
            page.close()


@pytest.fixture(scope="module")
def validation(learner_pages: dict) -> dict[str, tuple[str, str]]:
    """Validate pressed in the reference's, the blank's and the partial's tab: (dialog class,
    text) of each."""
    shots = {"reference": "learner-validate-success.png", "blank": "learner-validate-failed.png",
             "partial": "learner-validate-check-failure.png"}
    for name in shots:
        toolbar = learner_pages[name].locator(f"{PANEL} .jp-Toolbar")
        toolbar.get_by_role("button", name="Validate").click()
    results = {}
    for name, shot in shots.items():
        page = learner_pages[name]
        message = page.locator(".jp-Dialog #validation-message")
        message.wait_for(timeout=RUN_SECONDS * 1000)
        results[name] = (message.get_attribute("class") or "", message.text_content() or "")
        # Show the end of the message (for a failure: the error, below the failing cell).
        message.locator(":scope > *").last.evaluate("e => e.scrollIntoView({block: 'end'})")
        screenshot(page, shot)
        page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    return results


def test_blank_release_runs_until_the_first_stub_and_stops_with_not_implemented_error(
    learner_pages: dict,
) -> None:
    page = learner_pages["blank"]
    errors = _texts(page, ERROR_OUTPUT)
    assert len(errors) == 1, errors  # our setup cells ran cleanly; run-all stopped at one error
    assert "NotImplementedError" in errors[0]
    # The innermost frame is the learner's stub (# YOUR CODE HERE), not our code.
    lines = errors[0].rstrip().splitlines()
    assert lines[-1].strip() == "NotImplementedError:"
    innermost = [i for i, line in enumerate(lines) if line.startswith("--->")][-1]
    assert "raise NotImplementedError()" in lines[innermost]
    assert "# YOUR CODE HERE" in lines[innermost - 1]
    _hide_file_browser(page)
    _show_end_of(page, ERROR_OUTPUT)
    screenshot(page, "learner-not-implemented.png")


def test_reference_solution_passes_every_visible_test(learner_pages: dict) -> None:
    page = learner_pages["reference"]
    assert _texts(page, ERROR_OUTPUT) == []
    passed = [line for text in _texts(page, STDOUT_OUTPUT)
              for line in text.splitlines() if line.startswith("OK: ")]
    source = nbformat.read(REPO / "solutions" / DAY / f"{STEM}.ipynb", as_version=4)
    assert len(passed) == len(graded_points(source))  # one "OK: ..." per graded test cell
    _hide_file_browser(page)
    _show_end_of(page, STDOUT_OUTPUT, index=-1)
    screenshot(page, "learner-tests-pass.png")


def test_partly_correct_solution_shows_a_japanese_message_with_a_hint(learner_pages: dict) -> None:
    page = learner_pages["partial"]
    errors = _texts(page, ERROR_OUTPUT)
    assert len(errors) == 1, errors
    # Run-all stops at the first graded cell that one of the sample's bugs breaks, with the
    # message the spec promises for that bug, and a hint.
    spec = spec_for(NOTEBOOK)
    order = list(graded_points(nbformat.read(
        REPO / "solutions" / DAY / f"{STEM}.ipynb", as_version=4)))
    first_bug = min((b for b in spec.TYPICAL_BUGS if b.name in spec.PARTIAL_BUGS),
                    key=lambda b: order.index(b.caught_by))
    assert "CheckFailure" in errors[0]  # autograder.checks' AssertionError
    assert first_bug.message_contains in errors[0]
    assert "ヒント: " in errors[0]
    _assert_a_short_box(errors[0])
    _hide_file_browser(page)
    _show_end_of(page, ERROR_OUTPUT)
    screenshot(page, "learner-failure-message.png")


def _assert_a_short_box(text: str) -> None:
    """A failed check shows the learner's own cell line and the message, none of our frames."""
    assert "Cell In[" in text and "--->" in text, text  # the learner's line
    for machinery in ("checks.py", "_fail(", "def check_", "interactiveshell", "contextlib"):
        assert machinery not in text, f"{machinery!r} in the failure box:\n{text}"
    # its lines, the context around it, the message: about 17 lines (the checks' frames made 30+)
    assert len(text.strip().splitlines()) <= 22, text


def test_validate_reports_success_for_the_reference_solution(validation: dict) -> None:
    kind, text = validation["reference"]
    assert "validation-success" in kind, text
    assert "Success! Your notebook passes all the tests." in text


def test_validate_shows_a_failed_check_as_the_short_box(validation: dict) -> None:
    kind, text = validation["partial"]
    assert "validation-failed" in kind, text
    assert "CheckFailure" in text and "ヒント: " in text
    for machinery in ("checks.py", "_fail(", "def check_", "interactiveshell"):
        assert machinery not in text, f"{machinery!r} in Validate's dialog:\n{text}"


def test_validate_reports_failure_for_the_blank_release(validation: dict) -> None:
    kind, text = validation["blank"]
    assert "validation-failed" in kind, text
    assert "The following cell failed:" in text and "NotImplementedError" in text


def _nbgrader_menu(page) -> list[str]:  # noqa: ANN001
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    items = page.locator(".lm-Menu:visible .lm-Menu-itemLabel").all_text_contents()
    page.keyboard.press("Escape")
    return [item for item in items if item.strip()]  # separators have empty labels


@pytest.fixture(scope="module")
def instructor_page(course: Course, browser):  # noqa: ANN001, ANN201
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(STARTUP_SECONDS * 1000)
    page.goto(course.instructor.url("lab?reset"))
    page.get_by_role("menuitem", name="Nbgrader", exact=True).wait_for()
    yield page
    page.close()


def test_learner_view_hides_the_instructor_tools(
    course: Course, learner_pages: dict, instructor_page,  # noqa: ANN001
) -> None:
    learner = learner_pages["blank"]
    assert _nbgrader_menu(learner) == ["Assignment List"]
    assert {"Formgrader", "Create assignment"} <= set(_nbgrader_menu(instructor_page))
    # The Create Assignment cell toolbar sits in the right sidebar, for instructors only.
    assert instructor_page.get_by_title("Create Assignment").count() == 1
    assert learner.get_by_title("Create Assignment").count() == 0
    # And the learner's server has no Formgrader behind the menu either.
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(course.learner.url("formgrader"), timeout=10)
    assert missing.value.code == 404


def _menu_entry(page, menu: str, entry: str):  # noqa: ANN001, ANN202 (playwright objects)
    """``entry`` of the menu bar's ``menu``, shown.

    On a loaded machine a click on the menu bar has been seen to leave the menu closed (the
    menu an earlier test opened and closed with Escape): then the test clicks once more, and
    says so.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    item = page.get_by_role("menuitem", name=entry, exact=True)
    if not item.is_visible():
        page.get_by_role("menuitem", name=menu, exact=True).click()
    try:
        item.wait_for(timeout=START_SECONDS * 1000)
    except PlaywrightTimeout:
        warnings.warn(f"{menu} > {entry}: not shown {START_SECONDS} s after a click on {menu}; "
                      "clicking again", stacklevel=2)
        if not item.is_visible():
            page.get_by_role("menuitem", name=menu, exact=True).click()
    return item


def _formgrader(page):  # noqa: ANN001, ANN202 (playwright objects)
    """Nbgrader > Formgrader (unless it is open already); its frame."""
    frame_selector = ".jp-MainAreaWidget:visible iframe"
    if page.locator(frame_selector).count() == 0:
        _menu_entry(page, "Nbgrader", "Formgrader").click()
        _hide_file_browser(page)
    return page.frame_locator(frame_selector)


def _frame(frame_locator):  # noqa: ANN001, ANN202 (playwright objects)
    """The ``Frame`` (it can wait for a condition in its page) behind a frame locator."""
    return frame_locator.owner.element_handle().content_frame()


# Manual Grading's list of a notebook's submissions (gradebook_notebook_submissions.js) has
# loaded its rows.
SUBMISSIONS_LOADED = """() => document.getElementById('toggle_names') !== null
  && typeof models !== 'undefined' && models.loaded === true"""
# Formgrader's submission page (formgrade.js) has loaded the grades and comments its fields
# save to. MathJax (from a CDN: absent on a closed network) focuses the first field once it
# has typeset the page, which would take the focus from a field being typed into.
FORMGRADE_READY = """() => typeof formgrader !== 'undefined'
  && formgrader.grades && formgrader.grades.loaded
  && formgrader.comments && formgrader.comments.loaded
  && (typeof MathJax === 'undefined' || MathJax.loaded === true)"""
SAVE_SECONDS = 20  # from leaving a Formgrader field to the server's answer


def test_formgrader_shows_day4_and_the_graded_sample_submissions(
    course: Course, instructor_page,  # noqa: ANN001
) -> None:
    course.wait_for_grading()
    page = instructor_page
    frame = _formgrader(page)
    frame.get_by_role("link", name="Manage Assignments", exact=True).click()
    day4 = frame.locator("tr", has=frame.get_by_role("link", name=DAY, exact=True))
    assert day4.locator("td.num-submissions").text_content().strip() == "3"
    screenshot(page, "instructor-formgrader-assignments.png")

    day4.locator("td.num-submissions a").click()
    frame.get_by_role("heading", name="Manage Submissions").wait_for()
    rows = frame.locator("tbody tr")
    rows.nth(len(course.expected) - 1).wait_for()
    # Columns: Student Name, Student ID, Timestamp, Status, Score, ...
    cells = [rows.nth(i).locator("td").all_text_contents() for i in range(rows.count())]
    scores = {row[1].strip(): row[4].strip() for row in cells}
    # The test cells' points; a written answer adds nothing yet (pending, or unanswered: 0) but
    # counts in the maximum.
    maximum = sum(sum(graded_points(_source(stem)).values())
                  + sum(_written_cells(_source(stem)).values()) for stem in GRADED_STEMS)
    assert scores == {
        student: f"{sum(sum(p.values()) for p in points.values()):g} / {maximum:g}"
        for student, points in course.expected.items()
    }
    screenshot(page, "instructor-formgrader-submissions.png")


def test_a_written_answer_graded_in_formgrader_reaches_gradebook_report_and_feedback(
    course: Course, instructor_page, tmp_path: Path,  # noqa: ANN001
) -> None:
    """Manual Grading > day4 > 4_3 > the partial sample: a score and a comment typed into the
    written answer's fields, saved by Formgrader (on change); then, outside the browser, the
    gradebook, ``report --csv`` and ``feedback`` must show both. Runs last: it changes the
    gradebook the other Formgrader test reads."""
    from nbgrader.api import Gradebook

    from autograder.cli import main
    from autograder.config import Course as GradedCourse

    course.wait_for_grading()
    (grade_id, points), = _written_cells(_source(WRITTEN_STEM)).items()
    auto_points = sum(course.expected[WRITTEN_BY][WRITTEN_STEM].values())
    auto_max = sum(graded_points(_source(WRITTEN_STEM)).values())
    db_url = GradedCourse.from_options(workspace=course.workspace).db_url
    with Gradebook(db_url) as gradebook:  # autograding left the answer to a grader
        grade = gradebook.find_grade(grade_id, WRITTEN_STEM, DAY, WRITTEN_BY)
        pending = (grade.needs_manual_grade, grade.auto_score, grade.manual_score)
        assert pending == (True, None, None)

    page = instructor_page
    frame = _formgrader(page)
    frame.get_by_role("link", name="Manual Grading", exact=True).click()
    frame.get_by_role("link", name=DAY, exact=True).click()
    frame.get_by_role("link", name=WRITTEN_STEM, exact=True).click()
    # The notebook's submissions, anonymous ("Submission #1") until the names are shown: the
    # button shows the names of the rows loaded when it is pressed.
    _frame(frame).wait_for_function(SUBMISSIONS_LOADED, polling=250)
    frame.get_by_role("button", name="Show All Names").click()
    row = frame.locator("tbody tr", has=frame.get_by_role("link", name=WRITTEN_BY, exact=True))
    assert row.locator("td.written-score").text_content() == f"0 / {points:g}"
    assert row.locator("td.needs-manual-grade .glyphicon-ok").count() == 1
    row.get_by_role("link", name=WRITTEN_BY, exact=True).click()

    # The submission. Its fields save only once Formgrader has loaded the grades and the
    # comments (each loads on its own), and MathJax, if it loaded, focuses the first field
    # when it has typeset the page: type after all of that.
    submission = _frame(frame)
    submission.wait_for_function(FORMGRADE_READY, polling=250)
    # The written answer's score field is marked as awaiting a manual grade.
    assert frame.locator(f"input.score.needs_manual_grade#{grade_id}").count() == 1
    score = frame.locator(f"input.score#{grade_id}")
    comment = frame.locator(f"textarea.comment#{grade_id}-comment")
    cell = frame.locator(".nbgrader_cell", has=score)
    assert "Student's answer" in cell.locator(".nbgrader-label").text_content()
    assert WRITTEN_ANSWER in cell.text_content()

    def saved(kind: str):  # noqa: ANN202
        return page.expect_response(lambda r: r.request.method == "PUT"
                                    and f"/formgrader/api/{kind}/" in r.url,
                                    timeout=SAVE_SECONDS * 1000)

    with saved("grade") as grade_saved:
        score.fill(f"{WRITTEN_POINTS:g}")
        score.blur()  # Formgrader saves a field on its change event
    with saved("comment") as comment_saved:
        comment.fill(WRITTEN_COMMENT)
        comment.blur()
    assert grade_saved.value.ok and comment_saved.value.ok
    # Formgrader's answer: graded, no longer marked as awaiting a grade.
    frame.locator(f"input.score:not(.needs_manual_grade)#{grade_id}").wait_for()
    cell.evaluate("e => e.scrollIntoView({block: 'center'})")
    screenshot(page, "instructor-formgrader-manual-grading.png")

    with Gradebook(db_url) as gradebook:
        grade = gradebook.find_grade(grade_id, WRITTEN_STEM, DAY, WRITTEN_BY)
        assert (grade.manual_score, grade.needs_manual_grade) == (WRITTEN_POINTS, False)
        comment_row = gradebook.find_comment(grade_id, WRITTEN_STEM, DAY, WRITTEN_BY)
        assert comment_row.manual_comment == WRITTEN_COMMENT

    # The report keeps the written points apart from the test cells' points.
    report = tmp_path / "grades.csv"
    assert main([*course.options, "report", DAY, "--csv", str(report)]) == 0
    with open(report, newline="", encoding="utf-8") as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    graded = rows[(WRITTEN_BY, WRITTEN_STEM)]
    assert {k: graded[k] for k in ("score", "max_score", "written_score", "written_max",
                                   "written_pending")} == {
        "score": f"{auto_points:g}", "max_score": f"{auto_max:g}",
        "written_score": f"{WRITTEN_POINTS:g}", "written_max": f"{points:g}",
        "written_pending": "0"}

    # The learner's feedback page: the answer's score and the grader's comment, and the
    # notebook's total of both kinds of points.
    assert main([*course.options, "feedback", DAY, "--student", WRITTEN_BY]) == 0
    html = (course.workspace / "feedback" / WRITTEN_BY / DAY / f"{WRITTEN_STEM}.html").read_text()
    assert (f"Written response</a> (Score: {_jinja_points(WRITTEN_POINTS)} / "
            f"{_jinja_points(points)})") in html
    assert f"<b>Comments:</b> <p>{WRITTEN_COMMENT}</p>" in html
    assert (f"{WRITTEN_STEM} (Score: {_jinja_points(auto_points + WRITTEN_POINTS)} / "
            f"{_jinja_points(auto_max + points)})") in html
