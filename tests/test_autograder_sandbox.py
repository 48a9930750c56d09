"""The grading sandbox (autograder.sandbox) against real attacks, through the real commands.

One module fixture releases the tiny course, collects four submissions and grades them with
``--sandbox require``: a reference, a victim (another student, with a marker of its own), a
snoop (reads solutions/, the gradebook, the victim's submission and the home folders; writes
outside its folder; connects to a listener this test started on 127.0.0.1 and to the test
PostgreSQL server when there is one; leaves a background process) and a bomb (fork bomb, then
fills the disk). Every attack sits in the learner's ``cube`` cell next to a correct ``cube``:
the attackers must score exactly their correct cells (5/5), be flagged, and have no effect.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from autograder_tiny import (
    CUBE,
    DAY,
    HIDDEN_MESSAGE,
    HIDDEN_PROBE,
    POINTS,
    SQUARE,
    make_tiny_course,
    set_cell,
)

from autograder import sandbox
from autograder.cli import main
from autograder.report import format_table, grade_table
from autograder.samples import solution_code

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap needs Linux")]

VICTIM_MARKER = "victim-answer-7c1f"
SLEEPER = "987651"  # argument of the background process the snoop leaves behind
CANARY = "canary: keep me"

SNOOP = '''
import os, socket, subprocess, json, glob
found = {}
def read(path):
    try:
        with open(path, errors="replace") as handle:
            return handle.read()[:4000]
    except Exception as error:
        return type(error).__name__
def listing(path):
    try:
        return sorted(os.listdir(path))
    except Exception as error:
        return type(error).__name__
import course
top = os.path.dirname(os.path.dirname(course.__file__))
found["walk up from course"] = listing(top)
found["walk up solutions"] = listing(os.path.join(top, "solutions"))
found["solutions"] = read(TARGETS["solution"])
found["solutions glob"] = glob.glob(TARGETS["repo"] + "/**/*.ipynb", recursive=True)
found["gradebook"] = read(TARGETS["gradebook"])
found["victim"] = read(TARGETS["victim"])
found["submitted"] = listing(TARGETS["submitted"])
found["home"] = listing(TARGETS["home"])
found["root"] = listing("/root")
found["bashrc"] = read(TARGETS["home"] + "/.bashrc")
for name, path in TARGETS["writes"].items():
    try:
        with open(path, "a") as handle:
            handle.write("planted by the learner\\n")
        found["write " + name] = "written"
    except Exception as error:
        found["write " + name] = type(error).__name__
for name, port in TARGETS["ports"].items():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        found["connect " + name] = "connected"
    except Exception as error:
        found["connect " + name] = type(error).__name__
try:
    subprocess.Popen(["sleep", SLEEPER], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", SLEEPER + "1"])
    found["background"] = "started"
except Exception as error:
    found["background"] = type(error).__name__
found["env"] = sorted(os.environ)
found["uid"] = os.getuid()
print("FOUND " + json.dumps(found))

def cube(x):
    return x ** 3
'''

BOMB = '''
import os, time
children = 0
try:
    for _ in range(100000):
        pid = os.fork()
        if pid == 0:
            os.execvp("sleep", ["sleep", "987652"])
        children += 1
except OSError as error:
    print("FORK stopped after", children, type(error).__name__)

def cube(x):
    return x ** 3
'''

FILLER = '''
import os
written = {}
for name in ("big1", "big2", "big3", "/tmp/big4"):
    block = b"x" * 2**20
    total = 0
    try:
        with open(name, "wb") as handle:
            for _ in range(2048):
                handle.write(block)
                total += len(block)
            handle.flush()
    except OSError as error:
        written[name] = (total, error.strerror)
    else:
        written[name] = (total, "ok")
    if name != "big1":
        os.remove(name) if os.path.exists(name) else None
print("DISK " + repr(written))

def cube(x):
    return x ** 3
'''


def _cell_text(nb: nbformat.NotebookNode, grade_id: str) -> str:
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in cell.outputs)
    raise KeyError(grade_id)


def _processes_with(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sandbox")
    course = make_tiny_course(tmp)
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace),
              "--sandbox", "require"]
    assert main([*common, "release", DAY]) == 0
    released = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)

    home = tmp / "home"  # the grader's home folder for this test
    home.mkdir()
    (home / ".bashrc").write_text(CANARY)
    host_tmp = tmp / "host-tmp"
    host_tmp.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    ports = {"listener": listener.getsockname()[1]}
    pg_url = os.environ.get("DLCOURSE_TEST_PG_URL")
    if pg_url and urlparse(pg_url).port:
        ports["postgresql"] = urlparse(pg_url).port
    targets = {
        "repo": str(course.repo),
        "solution": str(course.source_dir / DAY / "tiny.ipynb"),
        "gradebook": str(course.workspace / "gradebook.db"),
        "victim": str(course.workspace / "submitted" / "victim" / DAY / "tiny.ipynb"),
        "submitted": str(course.workspace / "submitted"),
        "home": str(home),
        "writes": {"bashrc": str(home / ".bashrc"), "workspace": str(course.workspace / "planted"),
                   "solutions": str(course.source_dir / DAY / "planted"),
                   "host tmp": str(host_tmp / "planted"), "repo": str(course.repo / "planted")},
        "ports": ports,
    }

    def answer(cube: str, marker: str = "") -> nbformat.NotebookNode:
        nb = nbformat.from_dict(released)
        set_cell(nb, "square", solution_code(SQUARE) + (f"\n# {marker}" if marker else ""))
        set_cell(nb, "cube", cube)
        return nb

    submissions = {
        "reference": answer(solution_code(CUBE)),
        "victim": answer(solution_code(CUBE), VICTIM_MARKER),
        "snoop": answer(f"TARGETS = {json.dumps(targets)}\nSLEEPER = {SLEEPER!r}\n{SNOOP}"),
        "bomb": answer(BOMB),
        "filler": answer(FILLER),
    }
    returned = tmp / "returned"
    for student, nb in submissions.items():
        (returned / student).mkdir(parents=True)
        nbformat.write(nb, returned / student / "tiny.ipynb")
    assert main([*common, "collect", DAY, str(returned)]) == 0
    before = {path: Path(path).read_bytes() for path in (targets["solution"], targets["victim"])}
    os.environ["HOME"], saved_home = str(home), os.environ.get("HOME")
    os.environ["DLCOURSE_DB_URL"] = f"sqlite:///{targets['gradebook']}"  # a secret to keep
    try:
        status = {"grade": main([*common, "grade", DAY]),
                  "feedback": main([*common, "feedback", DAY])}
    finally:
        os.environ.pop("DLCOURSE_DB_URL")
        if saved_home is None:
            os.environ.pop("HOME")
        else:
            os.environ["HOME"] = saved_home
    try:
        listener.accept()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    table = grade_table(course, DAY)
    autograded = {s: nbformat.read(course.workspace / "autograded" / s / DAY / "tiny.ipynb",
                                   as_version=4) for s in submissions}
    return {"course": course, "status": status, "table": table, "targets": targets,
            "home": home, "host_tmp": host_tmp, "before": before, "connected": connected,
            "autograded": autograded}


def _found(run: dict) -> dict:
    text = _cell_text(run["autograded"]["snoop"], "cube")
    assert "FOUND " in text, text
    return json.loads(text.split("FOUND ", 1)[1].splitlines()[0])


def test_every_notebook_graded_in_the_sandbox_and_scored_honestly(attacked):
    assert attacked["status"]["grade"] == 0
    rows = attacked["table"].rows
    assert sorted(rows) == ["bomb", "filler", "reference", "snoop", "victim"]
    for student, scores in rows.items():
        # The bomb's children hold every process slot of its kernel until the kernel ends:
        # the test after it cannot run (its points were the learner's to lose); the one
        # before it keeps its points.
        expected = {**POINTS, "test_cube": 0.0} if student == "bomb" else POINTS
        assert scores["tiny"].cells == expected, student
        assert scores["tiny"].status == "ok", student
        assert scores["tiny"].sandboxed, student
        assert not any("not sandboxed" in f for f in scores["tiny"].flags), student
    assert rows["reference"]["tiny"].flags == []
    assert rows["victim"]["tiny"].flags == []
    for attacker in ("snoop", "bomb", "filler"):
        assert any(f.startswith("tamper suspected (code): cell cube: import os")
                   for f in rows[attacker]["tiny"].flags), rows[attacker]["tiny"].flags
    text = format_table(attacked["table"])
    assert "sandboxed: 5 of 5 notebooks run" in text and "NOT SANDBOXED" not in text


def test_the_snoop_saw_no_repository_workspace_or_home(attacked):
    found = _found(attacked)
    listing = found["walk up from course"]  # the repository root of an editable install
    assert set(listing) <= {"course", "autograder", ".venv"} and "course" in listing, listing
    assert found["walk up solutions"] == "FileNotFoundError"
    assert found["solutions"] == "FileNotFoundError"
    assert found["solutions glob"] == []
    assert found["gradebook"] == "FileNotFoundError"
    assert found["victim"] == "FileNotFoundError"
    assert found["submitted"] == "FileNotFoundError"
    assert found["home"] == "FileNotFoundError"
    assert found["bashrc"] == "FileNotFoundError"
    assert found["root"] in ("FileNotFoundError", [".pyenv"])  # pyenv's Python: only its prefix
    assert found["uid"] not in (0, os.getuid())
    assert not [k for k in found["env"] if k.startswith("DLCOURSE_") and k != "DLCOURSE_QUICK"]
    assert "HOME" in found["env"] and "DLCOURSE_DB_URL" not in found["env"]


def test_the_snoop_wrote_nothing_outside_its_folder(attacked):
    found = _found(attacked)
    for name, path in attacked["targets"]["writes"].items():
        assert found[f"write {name}"] in ("FileNotFoundError", "PermissionError", "OSError"), name
        if name != "bashrc":
            assert not Path(path).exists(), path
    assert (attacked["home"] / ".bashrc").read_text() == CANARY
    assert list(attacked["host_tmp"].iterdir()) == []
    for path, data in attacked["before"].items():
        assert Path(path).read_bytes() == data, path


def test_the_snoop_reached_no_network(attacked):
    found = _found(attacked)
    assert not attacked["connected"], "the listener on 127.0.0.1 saw a connection"
    for name in attacked["targets"]["ports"]:
        assert found[f"connect {name}"] in ("ConnectionRefusedError", "OSError", "TimeoutError"), (
            name, found[f"connect {name}"])


def test_no_background_process_survives(attacked):
    assert _found(attacked)["background"] == "started"  # they did start, inside
    assert _processes_with(f"sleep {SLEEPER}") == []


def test_fork_bomb_is_contained(attacked):
    text = _cell_text(attacked["autograded"]["bomb"], "cube")
    stopped = [line for line in text.splitlines() if line.startswith("FORK stopped after")]
    assert stopped, text
    assert int(stopped[0].split()[3]) < sandbox.NPROC
    assert _processes_with("sleep 987652") == []


def test_full_disk_is_contained(attacked):
    text = _cell_text(attacked["autograded"]["filler"], "cube")
    disk = text.split("DISK ", 1)[1].splitlines()[0]
    written = eval(disk, {})  # the learner's repr of a dict of (int, str)
    limit = sandbox.FILE_SIZE_MB * 2**20
    assert written["big1"] == (limit, "File too large")
    assert written["big2"][1] in ("File too large", "No space left on device")
    assert written["big2"][0] <= sandbox.SCRATCH_MB * 2**20 - limit
    assert written["/tmp/big4"][0] <= limit
    course = attacked["course"]
    assert not [p for p in course.workspace.rglob("big*")]


def test_feedback_holds_no_solution_hidden_test_or_other_student(attacked):
    assert attacked["status"]["feedback"] == 0
    course = attacked["course"]
    for student, shown in (("snoop", "FOUND "), ("bomb", "FORK"), ("filler", "DISK")):
        html = (course.workspace / "feedback" / student / DAY / "tiny.html").read_text()
        assert shown in html
        for secret in (HIDDEN_PROBE, HIDDEN_MESSAGE, "BEGIN SOLUTION", "BEGIN HIDDEN TESTS",
                       VICTIM_MARKER):
            assert secret not in html, (student, secret)


def test_require_refuses_and_auto_flags_where_bubblewrap_is_missing(tmp_path, monkeypatch,
                                                                     capsys):
    course = make_tiny_course(tmp_path)
    common = ["--repo", str(course.repo), "--workspace", str(course.workspace)]
    assert main([*common, "release", DAY]) == 0
    nb = nbformat.read(course.release_dir / DAY / "tiny.ipynb", as_version=4)
    set_cell(nb, "square", solution_code(SQUARE))
    set_cell(nb, "cube", solution_code(CUBE))
    (tmp_path / "returned" / "alice").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "returned" / "alice" / "tiny.ipynb")
    assert main([*common, "collect", DAY, str(tmp_path / "returned")]) == 0
    monkeypatch.setattr(sandbox, "_bwrap", lambda: None)
    sandbox.unavailable.cache_clear()
    try:
        capsys.readouterr()
        assert main([*common, "--sandbox", "require", "grade", DAY]) == 1
        assert "sandbox is required but bubblewrap (bwrap) is not installed" in \
            capsys.readouterr().err
        assert not (course.workspace / "autograded").exists()
        assert main([*common, "--sandbox", "auto", "grade", DAY]) == 0
        assert main([*common, "doctor"]) == 1
        assert "apt-get install bubblewrap" in capsys.readouterr().out
    finally:
        sandbox.unavailable.cache_clear()
    row = grade_table(course, DAY).rows["alice"]["tiny"]
    assert row.cells == POINTS and not row.sandboxed
    assert row.flags == ["not sandboxed: bubblewrap (bwrap) is not installed"]
    text = format_table(grade_table(course, DAY))
    assert "NOT SANDBOXED" in text and "not sandboxed: bubblewrap (bwrap) is not installed" in text


def test_doctor_reports_every_wall_here(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "[NO]" not in out and out.count("[ok]") == 6


@pytest.mark.parametrize(("folder", "mode"), [(".", "auto"), ("deploy/jupyterhub/instructor",
                                                               "require")])
def test_every_configuration_grades_in_the_sandbox(folder: str, mode: str, tmp_path,
                                                   monkeypatch):
    """Formgrader loads nbgrader_config.py (the repository's, or the hub's instructor one): its
    Autograde runs GuardedExecute, whose kernels are SandboxKernelManager's; the hub requires
    the sandbox."""
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.config import REPO_ROOT
    from autograder.execution import GuardedExecute

    monkeypatch.delenv("DLCOURSE_SANDBOX", raising=False)
    monkeypatch.setenv("DLCOURSE_COURSE_ROOT", str(tmp_path))
    monkeypatch.setenv("DLCOURSE_WORKSPACE", str(tmp_path / "grading"))
    config = PyFileConfigLoader("nbgrader_config.py", str(REPO_ROOT / folder)).load_config()
    assert GuardedExecute in config.Autograde.autograde_preprocessors
    execute = GuardedExecute(config=config)
    assert execute.kernel_manager_class is sandbox.SandboxKernelManager
    manager = execute.kernel_manager_class(config=config)
    assert manager.mode == mode
    assert manager.memory_limit == config.GuardedExecute.memory_limit > 0


def test_a_course_under_tmp_stays_visible_inside_the_walls(tmp_path, monkeypatch):
    """A clone in a temporary folder puts .venv, course/ and autograder/ under /tmp: they must be
    bound after /tmp's tmpfs, which would otherwise hide them (every kernel then died at start:
    bwrap could not find the venv's python)."""
    if sandbox._bwrap() is None:
        pytest.skip("bubblewrap is not installed")
    prefix = tmp_path / "clone" / ".venv"
    monkeypatch.setattr(sandbox, "_environment_binds",
                        lambda: ("--ro-bind", str(prefix), str(prefix)))
    args = sandbox.walls(tmp_path / "k", tmp_path / "cwd", sandbox.Limits())
    tmpfs = [i for i in range(len(args) - 1) if args[i] == "--tmpfs" and args[i + 1] == "/tmp"]
    binds = [i for i in range(len(args) - 2)
             if args[i] == "--ro-bind" and args[i + 2] == str(prefix)]
    assert tmpfs and binds and tmpfs[0] < binds[0], args


_FONT_PROBE = """
import logging, os, sys
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("matplotlib.font_manager").addHandler(handler)
logging.getLogger("matplotlib.font_manager").setLevel(logging.DEBUG)
import matplotlib
from matplotlib import font_manager
print(matplotlib.get_cachedir())
print(len(font_manager.fontManager.ttflist))
print("|".join(r.getMessage() for r in records))
"""


def test_kernels_read_the_graders_font_list_instead_of_building_one(tmp_path):
    """Nothing written inside the walls outlives a kernel: without the grader's font list bound
    in, every kernel's first ``import matplotlib.pyplot`` rebuilt it (fc-list and every font
    file read: about 0.5 s of each sandboxed notebook, most of the sandbox's cost)."""
    if sandbox.unavailable() is not None:
        pytest.skip(f"the sandbox cannot run here: {sandbox.unavailable()}")
    cache = sandbox._font_cache()
    assert cache is not None and cache.is_file()
    (tmp_path / "k").mkdir()
    (tmp_path / "cwd").mkdir()
    command = [*sandbox.walls(tmp_path / "k", tmp_path / "cwd", sandbox.Limits()), "--",
               sys.executable, "-I", "-c", _FONT_PROBE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=sandbox.kernel_env(dict(os.environ)))
    assert done.returncode == 0, done.stderr
    cachedir, fonts, messages = done.stdout.splitlines()
    assert cachedir == sandbox.MPL_INSIDE
    assert int(fonts) > 0
    assert "generated new fontManager" not in messages
    assert f"Using fontManager instance from {sandbox.MPL_INSIDE}/{cache.name}" in messages
