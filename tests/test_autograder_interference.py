"""No wrong answer gains a point by reaching into a test while it runs (issue 12).

Every attacker submits the same near-miss ``double`` of the tiny guarded notebook (right for a
scalar, 3x for an array: honestly 1 of 5 points, ``test_value``) plus one route into the tests:
check helpers rebound with ``global`` from the function the test calls, from a background thread,
from a signal handler on an interval timer; a kernel broken by a patched builtin or by recursion
without end; a forked process that rewrites the gradebook after grading. Each is graded through
``collect`` and ``grade`` (two workers) and read back through ``report``: the attacked run scores
no more than the honest near miss and carries a flag. Honest solutions that use a joined thread,
a signal handler outside the tests, ``importlib`` or a tqdm progress bar score full marks with no
run-time flag. Under plain nbgrader (``test_autograder_tamper``'s harness) the routes inflate.
"""

from __future__ import annotations

import json
import sqlite3
import time

import nbformat
import pytest
from autograder_tiny import DAY, DOUBLE, GUARDED, GUARDED_POINTS, make_guarded_course, set_cell
from test_autograder_tamper import _plain_nbgrader

from autograder.cli import main
from autograder.collect import collect
from autograder.gradebook import STATUS_CHANGED
from autograder.grading import grade
from autograder.release import release
from autograder.report import format_table, grade_table
from autograder.samples import solution_code

pytestmark = pytest.mark.slow

NEAR = ("def double(x):\n"
        "    x = np.asarray(x, dtype=float)\n"
        "    return 2 * x if x.ndim == 0 else 3 * x\n")
HONEST_NEAR = {k: (GUARDED_POINTS[k] if k == "test_value" else 0.0) for k in GUARDED_POINTS}
RIGHT = solution_code(DOUBLE) + "\n"
FULL = dict(GUARDED_POINTS)
NULL = "lambda *a, **k: None"
# the attacker's forked process finds the gradebook here (the test fills it in: without the
# sandbox, nothing stops a process from looking for it)
GRADEBOOK = "@GRADEBOOK@"
DONE = "@DONE@"

# attack -> (code after the near miss, the test cells it passes under plain nbgrader)
ATTACKS = {
    # the function the tests call rebinds the helpers they use next
    "global_rebinding": (
        "_near = double\n"
        "def double(x):\n"
        "    global check_close, check_gradient, check_value\n"
        f"    check_close = check_gradient = check_value = {NULL}\n"
        "    return _near(x)\n", ("test_gradient",)),
    # a background thread keeps rebinding them
    "thread_rebinding": (
        "import threading as _th, time as _time\n"
        "def _keep():\n"
        "    while True:\n"
        "        _g = globals()\n"
        f"        _g['check_close'] = _g['check_gradient'] = _g['check_value'] = {NULL}\n"
        "        _time.sleep(0.001)\n"
        "_th.Thread(target=_keep, daemon=True).start()\n"
        "_time.sleep(0.05)\n", ("test_close", "test_gradient")),
    # a signal handler on an interval timer does it
    "signal_timer": (
        "import signal as _signal\n"
        "def _rebind(*_):\n"
        "    _g = globals()\n"
        f"    _g['check_close'] = _g['check_gradient'] = _g['check_value'] = {NULL}\n"
        "_signal.signal(_signal.SIGALRM, _rebind)\n"
        "_signal.setitimer(_signal.ITIMER_REAL, 0.005, 0.005)\n", ("test_close", "test_gradient")),
    # frames: the function the test calls reaches the test's own namespace
    "frame_walk": (
        "import sys as _sys\n"
        "_near = double\n"
        "def double(x):\n"
        "    _f = _sys._getframe(1)\n"
        f"    _f.f_globals.update(check_close={NULL}, check_gradient={NULL}, check_value={NULL})\n"
        "    return _near(x)\n", ("test_gradient",)),
}
# routes that end the kernel: the learner's result ("kernel died"), not the grader's fault
BROKEN = {
    "builtins_max": "import builtins as _b\n_b.max = lambda *a, **k: 0\n",
    "recursion": "import sys as _sys\n_sys.setrecursionlimit(10 ** 6)\n"
                 "def _f(n):\n    return _f(n + 1)\n_f(0)\n",
}
HONEST = {
    "honest_near": NEAR,
    "honest_thread": RIGHT + (
        "import threading\n_box = {}\n"
        "def _work():\n    _box['two'] = float(double(1.0))\n"
        "_t = threading.Thread(target=_work)\n_t.start()\n_t.join()\n"
        "assert _box['two'] == 2.0\n"),
    "honest_signal": RIGHT + (
        "import signal\n"
        "def _too_slow(*_):\n    raise TimeoutError('too slow')\n"
        "signal.signal(signal.SIGALRM, _too_slow)\n"
        "signal.alarm(30)\n_ = double(np.ones(3))\nsignal.alarm(0)\n"),
    "honest_importlib": (
        "import importlib\n_np = importlib.import_module('numpy')\n"
        "_data = importlib.import_module('course.data')\n"
        "def double(x):\n    return _np.multiply(2.0, _np.asarray(x, dtype=float))\n"),
    "honest_tqdm": RIGHT + (
        "from tqdm import tqdm\n"
        "_total = sum(float(double(i)) for i in tqdm(range(50), mininterval=0))\n"),
}
# A forked process that outlives its kernel, waits for the grader to record this notebook,
# then rewrites the student's rows: full points, flags erased.
FORK = """import os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    _sql = __import__("sql" + "ite3")
    _student = "fork_rewrite"
    def _recorded():
        try:
            _c = _sql.connect(@GRADEBOOK@, timeout=30)
            return _c.execute("SELECT count(*) FROM dlcourse_grading WHERE student = ?",
                              (_student,)).fetchone()[0]
        except Exception:
            return 0
    _end = _time.time() + 120
    while not _recorded() and _time.time() < _end:
        _time.sleep(0.2)
    _time.sleep(1.0)
    _c = _sql.connect(@GRADEBOOK@, timeout=30)
    _c.execute("UPDATE grade SET auto_score = (SELECT max_score FROM grade_cells "
               "WHERE grade_cells.id = grade.cell_id) WHERE notebook_id IN (SELECT "
               "submitted_notebook.id FROM submitted_notebook JOIN submitted_assignment ON "
               "submitted_notebook.assignment_id = submitted_assignment.id "
               "WHERE submitted_assignment.student_id = ?)", (_student,))
    _c.execute("UPDATE dlcourse_grading SET flags = '[]', status = 'ok', score = max_score "
               "WHERE student = ?", (_student,))
    _c.commit()
    open(@DONE@, "w").write("rewritten")
    _os._exit(0)
"""


def _submission(released: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    set_cell(nb, "double", code)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("interference")
    course = make_guarded_course(tmp)
    release(course, DAY)
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    done = tmp / "fork-done.txt"
    gradebook = course.db_url.removeprefix("sqlite:///")
    fork = FORK.replace(GRADEBOOK, repr(gradebook)).replace(DONE, repr(str(done)))
    students = {**{n: NEAR + code for n, (code, _) in ATTACKS.items()},
                **{n: NEAR + code for n, code in BROKEN.items()},
                **HONEST, "fork_rewrite": NEAR + fork}
    returned = tmp / "returned"
    for student, code in students.items():
        (returned / student).mkdir(parents=True)
        nbformat.write(_submission(released, code), returned / student / f"{GUARDED}.ipynb")
    (returned / "empty_folder").mkdir()
    collected = collect(course, DAY, returned)
    started = time.monotonic()
    results = {g.student: g for g in grade(course, DAY, workers=2)}
    seconds = time.monotonic() - started
    # Unsandboxed, the forked process outlives its kernel: give it time to rewrite the rows. In
    # the sandbox it ended with the kernel's PID namespace; a few seconds show it stays gone.
    alive_for = 5 if results["fork_rewrite"].sandbox == "bubblewrap" else 60
    deadline = time.monotonic() + alive_for
    while not done.exists() and time.monotonic() < deadline:  # the forked process, if alive
        time.sleep(0.5)
    table = grade_table(course, DAY)
    return course, collected, results, table, seconds, done.exists()


def _cells(table, student: str) -> dict[str, float]:
    return table.rows[student][GUARDED].cells


def test_the_near_miss_scores_its_honest_points(graded):
    table = graded[3]
    assert _cells(table, "honest_near") == HONEST_NEAR


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_no_more_than_the_honest_near_miss_and_is_flagged(graded, attack: str):
    results, table = graded[2], graded[3]
    cells = _cells(table, attack)
    assert all(cells[k] <= HONEST_NEAR[k] for k in GUARDED_POINTS), cells
    assert table.rows[attack][GUARDED].suspect, table.rows[attack][GUARDED].flags
    assert any("tamper suspected" in flag and "(code)" not in flag
               for flag in results[attack].flags), results[attack].flags


@pytest.fixture(scope="module")
def plain(graded, tmp_path_factory: pytest.TempPathFactory):
    """The same attacks under plain nbgrader: each one inflates the near miss there."""
    course = graded[0]
    tmp = tmp_path_factory.mktemp("interference-plain")
    sub = course.with_workspace(tmp / "ws", f"sqlite:///{tmp / 'ws' / 'gradebook.db'}")
    released = nbformat.read(course.release_dir / DAY / f"{GUARDED}.ipynb", as_version=4)
    returned = tmp / "returned"
    for student in [*ATTACKS, "honest_near"]:
        code = NEAR + ATTACKS[student][0] if student in ATTACKS else NEAR
        (returned / student).mkdir(parents=True)
        nbformat.write(_submission(released, code), returned / student / f"{GUARDED}.ipynb")
    collect(sub, DAY, returned)
    return _plain_nbgrader(sub, tmp)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_inflates_the_near_miss_under_plain_nbgrader(plain, attack: str):
    targets = ATTACKS[attack][1]
    assert plain["honest_near"] == HONEST_NEAR
    assert {k: plain[attack][k] for k in targets} == {k: GUARDED_POINTS[k] for k in targets}


def test_a_thread_is_stopped_before_the_tests_and_named(graded):
    results = graded[2]
    assert any("thread" in flag and "running learner code" in flag
               for flag in results["thread_rebinding"].flags), results["thread_rebinding"].flags


def test_an_armed_timer_is_disarmed_before_the_tests_and_named(graded):
    results = graded[2]
    assert any("ITIMER_REAL (interval timer armed)" in flag
               for flag in results["signal_timer"].flags), results["signal_timer"].flags


def test_the_rebinding_during_a_test_is_named(graded):
    results = graded[2]
    flags = results["global_rebinding"].flags
    assert any("check_close (rebound while the test ran)" in flag for flag in flags), flags
    flags = results["frame_walk"].flags
    assert any("sys._getframe (refused)" in flag for flag in flags), flags


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_solutions_score_their_points_without_a_run_time_flag(graded, student: str):
    results, table = graded[2], graded[3]
    expected = HONEST_NEAR if student == "honest_near" else FULL
    assert _cells(table, student) == expected
    run_time = [f for f in results[student].flags if "tamper suspected" in f and "(code)" not in f]
    assert run_time == [] and results[student].status == "ok", results[student].flags


@pytest.mark.parametrize("student", sorted(BROKEN))
def test_a_broken_kernel_is_the_learners_result(graded, student: str):
    results, table = graded[2], graded[3]
    row = table.rows[student][GUARDED]
    # The broken event loop ends the sandboxed kernel's process at once (autograder.sandbox);
    # unsandboxed, the probe after the backstop finds it silent. The recursion goes on
    # computing (IPython formats a million frames) through the interrupt: the watchdog kills it.
    why = {"builtins_max": ("the kernel process ended" if results[student].sandbox
                            else "stopped answering"),
           "recursion": "still computing"}[student]
    assert row.status == "kernel died" and why in row.reason, row.reason
    assert all(row.cells[k] <= HONEST_NEAR[k] for k in GUARDED_POINTS)
    assert results[student].status == "kernel died"


def test_a_broken_kernel_is_complete_and_not_graded_again(graded):
    course = graded[0]
    again = {g.student: g for g in grade(course, DAY, students=sorted(BROKEN))}
    assert all(g.up_to_date and g.status == "kernel died" for g in again.values()), again


def test_a_gradebook_rewritten_after_grading_is_flagged_not_graded(graded):
    """The forked process outlived its kernel (no sandbox) and rewrote its rows after ``grade``
    recorded them: ``report`` shows 0 points and the flag, never the rewritten 5/5. (With the
    sandbox's --die-with-parent the process is gone: the rows stay as graded.)"""
    table, rewritten = graded[3], graded[5]
    row = table.rows["fork_rewrite"][GUARDED]
    assert all(row.cells[k] <= HONEST_NEAR[k] for k in GUARDED_POINTS), row.cells
    if rewritten:
        assert row.status == STATUS_CHANGED and row.suspect and row.score == 0.0
    else:
        assert row.status == "ok" and row.cells == HONEST_NEAR


def test_a_row_changed_with_sqlite_after_grading_is_a_flag_not_a_grade(graded, capsys):
    course = graded[0]
    path = course.db_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "UPDATE grade SET auto_score = 2.0 WHERE cell_id IN (SELECT id FROM base_cell "
            "WHERE name = 'test_close') AND notebook_id IN (SELECT n.id FROM submitted_notebook n "
            "JOIN submitted_assignment a ON n.assignment_id = a.id WHERE a.student_id = ?)",
            ("honest_near",))
        connection.commit()
    finally:
        connection.close()
    table = grade_table(course, DAY)
    row = table.rows["honest_near"][GUARDED]
    assert row.status == STATUS_CHANGED and row.score == 0.0 and row.suspect
    assert table.rows["honest_thread"][GUARDED].status == "ok"  # the others still verify
    assert "gradebook changed after grading" in format_table(table)
    assert main(["--workspace", str(course.workspace), "--repo", str(course.repo),
                 "report", DAY]) == 0
    assert "honest_near" in capsys.readouterr().out
    # graded again (the row no longer matches its digest): the honest points are back
    again = {g.student: g for g in grade(course, DAY, students=["honest_near"])}
    assert not again["honest_near"].up_to_date
    assert grade_table(course, DAY).rows["honest_near"][GUARDED].cells == HONEST_NEAR


def test_an_empty_student_folder_is_reported_and_listed_missing(graded):
    collected, table = graded[1], graded[3]
    assert collected.empty == ["empty_folder"]
    row = table.rows["empty_folder"]
    assert set(row) == {GUARDED} and row[GUARDED].status == "missing"
    assert row[GUARDED].score == 0.0
