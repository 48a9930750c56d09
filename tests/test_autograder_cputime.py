"""Cell timeouts in CPU seconds (autograder.cputime): a grade does not depend on machine load.

The grading test runs six CPU hogs (``yes > /dev/null``) on this machine while it grades: a cell
that needs about 2.5 CPU seconds under a 4-second timeout takes far longer than 4 s by the clock,
and must still pass; an endless loop must still be stopped, as a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from autograder_tiny import DAY, SQUARE, make_tiny_course, set_cell

from autograder import cputime
from autograder.cli import main
from autograder.report import grade_table
from autograder.samples import solution_code

pytestmark = pytest.mark.skipif(not cputime.available(), reason="needs /proc (Linux)")

BUSY_CUBE = (
    "import time as _t\n"
    "def cube(x):\n"
    "    start = _t.process_time()\n"
    "    while _t.process_time() - start < 2.5:  # 2.5 CPU seconds, whatever the clock says\n"
    "        pass\n"
    "    return x ** 3\n"
)
LOOPING_CUBE = "def cube(x):\n    while True:\n        pass"


def test_cpu_seconds_count_a_busy_child_and_not_a_sleeping_one():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(1.5)
        assert cputime.cpu_seconds(busy.pid) > 0.2
        assert cputime.cpu_seconds(idle.pid) < 0.05
        assert cputime.kernel_group(busy.pid) is None  # not a group leader: nothing to signal
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()


def test_a_tree_counts_its_descendants_and_a_gone_process_counts_nothing():
    """``tree`` follows children of every thread, parents first; a process that has gone (a
    kernel that exited between two readings) is no error and adds no time."""
    parent = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(cputime.tree(parent.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = cputime.tree(parent.pid)
        assert found[0] == parent.pid and len(found) == 3
    finally:
        for pid in cputime.tree(parent.pid)[1:]:
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()
    assert cputime.tree(parent.pid) == [parent.pid]
    assert cputime.cpu_seconds(parent.pid) == 0.0


def test_the_clock_is_only_a_backstop():
    assert cputime.wall_backstop(None) is None
    assert cputime.wall_backstop(60) == 60 * cputime.WALL_FACTOR + cputime.WALL_SLACK


@pytest.mark.slow
def test_a_loaded_machine_does_not_change_the_grade(tmp_path):
    course = make_tiny_course(tmp_path, timeout=4)
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace), "--timeout", "4"]
    assert main([*common, "release", DAY]) == 0
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    for student, cube in (("busy", BUSY_CUBE), ("looping", LOOPING_CUBE)):
        nb = nbformat.from_dict(released)
        set_cell(nb, "square", solution_code(SQUARE))
        set_cell(nb, "cube", cube)
        (tmp_path / "returned" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "returned" / student / "tiny.ipynb")
    assert main([*common, "collect", DAY, str(tmp_path / "returned")]) == 0
    hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(6)]
    try:
        start = time.perf_counter()
        main([*common, "grade", DAY])
        seconds = time.perf_counter() - start
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    rows = grade_table(course, DAY).rows
    assert rows["busy"]["tiny"].cells == {"test_square": 2.0, "test_cube": 3.0}, seconds
    assert rows["looping"]["tiny"].cells == {"test_square": 2.0, "test_cube": 0.0}
    assert any(flag.startswith("timeout (cell") for flag in rows["looping"]["tiny"].flags)
    out = nbformat.read(course.workspace / "autograded" / "looping" / DAY / "tiny.ipynb",
                        as_version=4)
    errors = [o for c in out.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("CPU time limit exceeded" in o.evalue for o in errors)
