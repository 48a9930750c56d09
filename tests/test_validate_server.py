"""The learner's Validate server extension (autograder.validate_server): nbgrader's answers, a
kernel per validation, the next one warmed in advance.

In process: ``WarmValidation`` on small nbgrader notebooks with the learner view's configuration
(deploy/lab/learner, the guard's hooks). Through HTTP: ``make lab`` on Day 4's 4_1 samples, the
routes the Validate button calls, compared with nbgrader's own Validator.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.validate_server import WarmValidation, setup_imports

REPO = Path(__file__).resolve().parents[1]
LEARNER_CONFIG = REPO / "deploy" / "lab" / "learner"
# A learner's answer that counts how often it ran in its kernel: a kernel used twice says 2.
COUNTER = "try:\n    COUNT += 1\nexcept NameError:\n    COUNT = 1"
# The warm-up binds no name in the notebook, and the test sees the answer of this kernel only.
TEST = ("assert COUNT == 1, f'COUNT = {COUNT}: this kernel ran the answer before'\n"
        "assert not {'MODULES', 'importlib', 'guard', 'nofigures'} & set(globals())\n"
        "assert json.dumps(1) == '1' and np.ones(2).sum() == 2")


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _keep(self, message: str, *args: object) -> None:
        self.lines.append(message % args if args else message)

    info = warning = error = debug = _keep


def _cell(grade_id: str, source: str, **flags: object) -> nbformat.NotebookNode:
    meta = {"grade": False, "solution": False, "locked": True, "grade_id": grade_id,
            "schema_version": 3, **flags}
    return new_code_cell(source, metadata={"nbgrader": meta}, id=grade_id.replace("_", "-"))


def _notebook(path: Path, setup: str = "import json\nimport numpy as np",
              answer: str = COUNTER) -> Path:
    nb = new_notebook(cells=[
        _cell("setup", setup),
        _cell("answer", answer, solution=True, locked=False),
        _cell("test_answer", TEST, grade=True, points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def learner_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server's surroundings in the learner view: its folder, the learner configuration."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(LEARNER_CONFIG))
    for name in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "DLCOURSE_QUICK"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(") ")[1][0] != "Z"


def _wait_dead(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _kernel_pids(service: WarmValidation) -> list[int]:
    return [km.provisioner.pid for km in service._warm.values()]


def test_setup_imports_are_the_locked_setup_cells_modules_only():
    nb = nbformat.read(REPO / "solutions" / "day4" / "4_2_batch_norm_test.ipynb", as_version=4)
    modules = setup_imports(nb)
    assert modules[:4] == ("matplotlib.pyplot", "numpy", "threadpoolctl", "tqdm.auto")
    assert {"course", "autograder.checks", "course.normalization"} <= set(modules)
    learner = _cell("answer", "import scipy\nfrom . import x", solution=True, locked=False)
    setup = _cell("setup", "from __future__ import annotations\nimport os.path as p\n"
                           "from course import init")
    assert setup_imports(new_notebook(cells=[setup, learner])) == ("os.path", "course")


def test_a_second_validation_takes_the_warm_kernel_and_no_state_crosses(learner_view: Path):
    notebook = _notebook(learner_view / "day9" / "counter.ipynb")
    service = WarmValidation(_Log())
    try:
        first = service.submit(notebook).result(timeout=120)
        service._worker.submit(lambda: None).result(timeout=120)  # the warm kernel is ready
        [warm_pid] = _kernel_pids(service)
        second = service.submit(notebook).result(timeout=120)
        service._worker.submit(lambda: None).result(timeout=120)
        assert first == second == {"success": True, "value": {}}, (first, second)
        assert service.counts == {"cold": 1, "warm": 1}
        # the warm kernel ran the second validation, then went; a new one waits for the third
        assert _wait_dead([warm_pid]) == []
        [next_pid] = _kernel_pids(service)
        assert next_pid != warm_pid
    finally:
        service.close()
    assert _wait_dead([next_pid]) == []  # close() kills the waiting kernel


def test_a_failing_answer_fails_alike_on_a_warm_and_a_cold_kernel(learner_view: Path):
    notebook = _notebook(learner_view / "wrong.ipynb", answer="COUNT = 2")
    service = WarmValidation(_Log())
    try:
        cold = service.submit(notebook).result(timeout=120)
        warm = service.submit(notebook).result(timeout=120)
    finally:
        service.close()
    assert service.counts == {"cold": 1, "warm": 1}
    assert cold["success"] and warm["success"]  # the validation ran; the notebook failed
    for result in (cold, warm):
        [failed] = result["value"]["failed"]
        assert "COUNT = 2: this kernel ran the answer before" in failed["error"]


def test_changed_setup_imports_or_no_warm_kernels_mean_a_cold_kernel(learner_view: Path):
    notebook = _notebook(learner_view / "counter.ipynb")
    service = WarmValidation(_Log())
    try:
        service.submit(notebook).result(timeout=120)
        _notebook(notebook, setup="import json\nimport numpy as np\nimport fractions")
        changed = service.submit(notebook).result(timeout=120)
    finally:
        service.close()
    assert changed == {"success": True, "value": {}}
    assert service.counts == {"cold": 2, "warm": 0}

    off = WarmValidation(_Log(), limit=0)
    try:
        for _ in range(2):
            assert off.submit(notebook).result(timeout=120)["success"]
        off._worker.submit(lambda: None).result(timeout=120)
        assert off.counts == {"cold": 2, "warm": 0} and off.waiting() == []
    finally:
        off.close()


def test_at_most_the_limit_of_warm_kernels_wait(learner_view: Path):
    service = WarmValidation(_Log(), limit=1)
    try:
        first, second = (_notebook(learner_view / f"{name}.ipynb") for name in ("a", "b"))
        service.submit(first).result(timeout=120)
        service._worker.submit(lambda: None).result(timeout=120)
        [first_pid] = _kernel_pids(service)
        service.submit(second).result(timeout=120)
        service._worker.submit(lambda: None).result(timeout=120)
        assert [r.notebook for r in service.waiting()] == [str(second)]
        assert _wait_dead([first_pid]) == []  # the older one was killed
    finally:
        service.close()


def test_an_unreadable_notebook_is_an_answer_not_a_crash(learner_view: Path):
    broken = learner_view / "broken.ipynb"
    broken.write_text("{ not json")
    service = WarmValidation(_Log())
    try:
        result = service.submit(broken).result(timeout=60)
    finally:
        service.close()
    assert result["success"] is False and "Traceback" in result["value"]


# --- through HTTP: make lab, the learner view --------------------------------------------------

def _request(base: str, token: str, path: str, data: bytes | None = None,
             method: str | None = None) -> dict:
    request = urllib.request.Request(f"{base}/{path}", data=data, method=method,
                                     headers={"Authorization": f"token {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=180) as response:
        return json.load(response)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_validate_from_this_extension_with_nbgraders_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from local_port import free_port
    from nbgrader import __version__ as nbgrader_version
    from nbgrader.validator import Validator

    from autograder.config import validate_config

    stem = "4_1_batch_normalization_layer"
    root = tmp_path / "learner"
    shutil.copytree(REPO / "solutions" / "day4" / "fixtures", root / "fixtures")
    for student in ("reference", "partial"):
        shutil.copy(REPO / "autograder" / "samples" / student / "day4" / f"{stem}.ipynb",
                    root / f"{student}.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(LAB_TOKEN=token, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    env.pop("DLCOURSE_QUICK", None)
    log = tmp_path / "lab.log"
    process = subprocess.Popen(
        ["make", "-s", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed-stamp",
         "lab", f"BIN={Path(sys.executable).parent}", f"LAB_PORT={port}",
         "LAB_FLAGS=--no-browser", f"LEARNER_ROOT={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _request(base, token, "api/status")
                break
            except OSError:
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        assert _request(base, token, f"nbgrader_version?version={nbgrader_version}") == \
            {"success": True}
        assert _request(base, token, "nbgrader_version?version=0.0.1")["success"] is False
        # the learner opens the reference, as JupyterLab does it: a session under a unique
        # name, then given the notebook's path; a kernel for its first Validate is warmed then
        session = json.dumps({"path": secrets.token_hex(8), "type": "notebook",
                              "kernel": {"name": "python3"}}).encode()
        created = _request(base, token, "api/sessions", data=session)
        _request(base, token, f"api/sessions/{created['id']}", method="PATCH",
                 data=json.dumps({"path": "reference.ipynb"}).encode())
        ready = f"Validate: warm kernel ready for {root / 'reference.ipynb'}"
        while ready not in log.read_text():
            assert time.monotonic() < deadline + 90, log.read_text()[-3000:]
            time.sleep(0.3)
        answers = {name: [_request(base, token, f"assignments/validate?path={name}.ipynb",
                                   data=b"") for _ in range(2)]
                   for name in ("reference", "partial")}
        with pytest.raises(urllib.error.HTTPError) as outside:
            _request(base, token, "assignments/validate?path=../lab.log", data=b"")
        assert outside.value.code == 403
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
    text = log.read_text()
    assert "dlcourse: Validate with warm kernels" in text
    # the reference's two clicks (opened before) and the partial's second click
    assert text.count("Validate: warm kernel for") == 3, text[-3000:]
    assert text.count("Validate: cold kernel for") == 1, text[-3000:]
    # nbgrader's own Validator, in this process, on the same notebooks: the same answers
    monkeypatch.chdir(root)
    for name, (first, second) in answers.items():
        expected = Validator(config=validate_config()).validate(str(root / f"{name}.ipynb"))
        assert first == second == {"success": True, "value": expected}, name
    assert answers["reference"][0]["value"] == {}
    assert answers["partial"][0]["value"]["failed"]


def test_the_guard_is_entered_in_the_warm_kernel_before_the_learners_code(learner_view: Path):
    """The warm-up takes the guard's snapshot: a helper patched by the answer is put back before
    the test cell (the test then computes with numpy's own ``ones``), on the warm kernel as on a
    cold one; without the guard the test would see the patch."""
    patched = COUNTER + "\nimport numpy\nnumpy.ones = lambda n: [7] * n"
    notebook = _notebook(learner_view / "patched.ipynb", answer=patched)
    service = WarmValidation(_Log())
    try:
        results = [service.submit(notebook).result(timeout=120) for _ in range(2)]
        service._worker.submit(lambda: None).result(timeout=120)
        [recipe] = service.waiting()
    finally:
        service.close()
    assert service.counts == {"cold": 1, "warm": 1}
    assert recipe.enter.startswith('__import__("autograder.guard").guard.enter(None')
    for result in results:
        assert result["success"]
        failed = result["value"].get("failed", [])
        # the guard answers the patch: put back (the test passes) or refused (the test fails
        # with the guard's tamper message); never the patched value reaching the test
        assert not failed or "tamper" in failed[0]["error"], failed
    assert results[0] == results[1]


def test_changed_fixture_files_mean_a_cold_kernel(learner_view: Path):
    notebook = _notebook(learner_view / "counter.ipynb")
    (learner_view / "fixtures").mkdir()
    fixture = learner_view / "fixtures" / "data.txt"
    fixture.write_text("one")
    service = WarmValidation(_Log())
    try:
        service.submit(notebook).result(timeout=120)
        service._worker.submit(lambda: None).result(timeout=120)
        [stale_pid] = _kernel_pids(service)
        fixture.write_text("two, longer")  # the warm kernel's snapshot holds "one"
        assert service.submit(notebook).result(timeout=120)["success"]
        service._worker.submit(lambda: None).result(timeout=120)
        assert _wait_dead([stale_pid]) == []  # made for the old fixtures: killed, not kept
        [waiting] = service.waiting()  # one kernel, for the fixtures as they are now
        assert waiting.fixtures[0][1] == len("two, longer")
    finally:
        service.close()
    assert service.counts == {"cold": 2, "warm": 0}


def test_opening_a_course_notebook_warms_its_first_validate_and_others_warm_nothing(
    learner_view: Path,
):
    course_notebook = _notebook(learner_view / "counter.ipynb")
    scratch = learner_view / "scratch.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), scratch)
    service = WarmValidation(_Log())
    try:
        service.prepare_for(scratch).result(timeout=120)
        assert service.waiting() == []  # no test cells: not a course notebook
        service.prepare_for(course_notebook).result(timeout=120)
        assert [r.notebook for r in service.waiting()] == [str(course_notebook)]
        assert service.submit(course_notebook).result(timeout=120) == \
            {"success": True, "value": {}}
    finally:
        service.close()
    assert service.counts == {"cold": 0, "warm": 1}
