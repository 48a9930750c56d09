"""JupyterHub smoke test: deploy/jupyterhub/ on loopback, one instructor and one learner.

The hub runs the deployment's own jupyterhub_config.py with two test-only changes: a shared
password instead of PAM, and SimpleLocalProcessSpawner (every user a folder, no UNIX account)
instead of real users. Its proxy is configurable-http-proxy from the npm registry, installed into
deploy/jupyterhub/node_modules by `make hub-proxy`. Everything else goes over HTTP, as the
browser would: the instructor releases Day 4 to the exchange from Formgrader; the learner logs
in, fetches it through the Assignment List, saves a solution (the reference sample) and submits;
the instructor collects with Formgrader, grades with `python -m autograder grade` and `feedback`
(the course's commands, as typed in the instructor's terminal), Formgrader shows the score, the
instructor releases the feedback and the learner fetches it.

The course here is a temporary copy holding Day 4's notebook 4_1 only: the point is the hub's
plumbing; the cost of grading every notebook is measured elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from chromium import chromium, missing_browser, screenshot
from local_port import free_port

from autograder.config import COURSE_ID
from autograder.samples import build_notebook_samples, graded_points

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "jupyterhub"
DAY, STEM = "day4", "4_1_batch_normalization_layer"
INSTRUCTOR, LEARNER = "sato", "ito"
TIMEOUT = 120  # seconds for a server to start or an nbgrader step to finish on a busy machine


def _skip_reason() -> str | None:
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed (pip install -e '.[dev]')"
    missing = [tool for tool in ("node", "npm", "make") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (configurable-http-proxy comes from npm)"
    if os.name != "posix":
        return "JupyterHub's local spawners and nbgrader's exchange need a POSIX system"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
    # Under pytest-xdist (make test) all of it on one worker: one hub feeds every test.
    pytest.mark.xdist_group("jupyterhub"),
]


def _copy_notebook(day_dir: Path, source: Path) -> None:
    """``source`` (a notebook of Day 4) and its fixture file into ``day_dir``."""
    (day_dir / "fixtures").mkdir(parents=True, exist_ok=True)
    shutil.copy(source, day_dir)
    shutil.copy(source.parent / "fixtures" / f"{source.stem}.npz", day_dir / "fixtures")


class HubUser:
    """One person at the hub: logs in with the form, then talks to the hub and their server."""

    def __init__(self, hub: str, name: str, password: str):
        import requests

        self.hub, self.name, self.password = hub, name, password
        self.session = requests.Session()
        self.token = ""

    def log_in(self) -> None:
        self.session.get(f"{self.hub}/hub/login", timeout=30).raise_for_status()
        xsrf = self.session.cookies.get("_xsrf", path="/hub/")
        response = self.session.post(
            f"{self.hub}/hub/login",
            data={"username": self.name, "password": self.password, "_xsrf": xsrf},
            allow_redirects=False, timeout=30,
        )
        assert response.status_code == 302, f"login of {self.name}: {response.status_code}"
        # Logged in (hub cookie): ask for an API token, as the hub's token page does. The
        # login set a new XSRF cookie, bound to the session.
        xsrf = self.session.cookies.get("_xsrf", path="/hub/")
        response = self.session.post(
            f"{self.hub}/hub/api/users/{self.name}/tokens", json={"note": "smoke test"},
            headers={"X-XSRFToken": xsrf}, timeout=30,
        )
        response.raise_for_status()
        self.token = response.json()["token"]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start_server(self) -> None:
        url = f"{self.hub}/hub/api/users/{self.name}/server"
        response = self.session.post(url, headers=self._headers(), timeout=TIMEOUT)
        assert response.status_code in (201, 202), response.text

    def wait_for_server(self) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            user = self.session.get(f"{self.hub}/hub/api/users/{self.name}",
                                    headers=self._headers(), timeout=30).json()
            if user.get("servers", {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        pytest.fail(f"the server of {self.name} did not start within {TIMEOUT} s")

    def request(self, method: str, path: str, **kwargs):  # noqa: ANN003, ANN201
        """``method`` on ``/user/<name>/<path>`` of this user's server; the response."""
        response = self.session.request(
            method, f"{self.hub}/user/{self.name}/{path}", headers=self._headers(),
            timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
        return response


@dataclass
class Hub:
    url: str
    course_root: Path
    exchange: Path
    home: Path  # <home>/<user>: each user's home (SimpleLocalProcessSpawner)
    password: str


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("jupyterhub")
    proxy = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO), "hub-proxy"],
                           capture_output=True, text=True)
    assert proxy.returncode == 0, f"make hub-proxy failed:\n{proxy.stdout}\n{proxy.stderr}"

    course_root = tmp / "course"
    for folder in ("solutions", "assignments"):
        _copy_notebook(course_root / folder / DAY, REPO / folder / DAY / f"{STEM}.ipynb")
    exchange = tmp / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # nbgrader's exchange: everybody writes, nobody removes others' files
    password = secrets.token_urlsafe(12)
    hub_port, api_port, proxy_port = free_port(), free_port(), free_port()
    config = tmp / "jupyterhub_config.py"
    config.write_text(f"""
c = get_config()
load_subconfig({str(DEPLOY / "jupyterhub_config.py")!r})
# Test only: one shared password, and users without UNIX accounts (all servers run as this user).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / "home")!r} + "/{{username}}"
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
c.Spawner.http_timeout = {TIMEOUT}
c.Spawner.start_timeout = {TIMEOUT}
c.JupyterHub.hub_port = {api_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.pid_file = {str(tmp / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{tmp / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(tmp / "cookie_secret")!r}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLCOURSE_", "JUPYTER"))}
    env.update(DLCOURSE_COURSE_ROOT=str(course_root), DLCOURSE_EXCHANGE=str(exchange),
               DLCOURSE_INSTRUCTORS=INSTRUCTOR, DLCOURSE_LEARNERS=LEARNER,
               DLCOURSE_HUB_IP="127.0.0.1", DLCOURSE_HUB_PORT=str(hub_port))
    log = tmp / "jupyterhub.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp, env=env,
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{hub_port}"
    try:
        import requests

        deadline = time.monotonic() + TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterHub exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/hub/api", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterHub did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Hub(url, course_root, exchange, tmp / "home", password)
    finally:
        # The hub stops the single-user servers it started, and its proxy, on SIGTERM.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _ok(response) -> dict:  # noqa: ANN001 (requests.Response)
    """nbgrader's API answers 200 with {"success": false, ...} when a step failed."""
    result = response.json()
    if isinstance(result, dict) and "success" in result:
        assert result["success"], result.get("error") or result.get("log") or result
    return result


@dataclass
class Submitted:
    instructor: HubUser
    learner: HubUser
    course: dict[str, str]  # the Assignment List's form: course_id, assignment_id
    points: float  # what the learner's solution is worth: all of 4_1's points


@pytest.fixture(scope="module")
def submitted(hub: Hub) -> Submitted:
    """Both log in; Day 4 released to the exchange, fetched, solved and submitted by the learner."""
    instructor = HubUser(hub.url, INSTRUCTOR, hub.password)
    learner = HubUser(hub.url, LEARNER, hub.password)
    for user in (instructor, learner):
        user.log_in()
        user.start_server()
    for user in (instructor, learner):
        user.wait_for_server()

    # Instructor: Formgrader -> Release (the released notebooks go to the exchange).
    _ok(instructor.request("POST", f"formgrader/api/assignment/{DAY}/release"))
    assert (hub.exchange / COURSE_ID / "outbound" / DAY / f"{STEM}.ipynb").exists()

    # Learner: Assignment List -> Fetch; work on the notebook (saved from JupyterLab); Submit.
    course = {"course_id": COURSE_ID, "assignment_id": DAY}
    listed = _ok(learner.request("POST", "assignments/fetch", data=course))["value"]
    assert any(a["assignment_id"] == DAY and a["status"] == "fetched" for a in listed), listed
    path = f"api/contents/{DAY}/{STEM}.ipynb"
    fetched = learner.request("GET", path).json()["content"]
    source = nbformat.read(REPO / "solutions" / DAY / f"{STEM}.ipynb", as_version=4)
    samples, expected = build_notebook_samples(nbformat.from_dict(fetched), source, f"{DAY}/{STEM}")
    learner.request("PUT", path, data=json.dumps(
        {"type": "notebook", "format": "json", "content": samples["reference"]}))
    _ok(learner.request("POST", "assignments/submit", data=course))
    points = sum(expected["reference"].values())
    assert points == sum(graded_points(source).values())
    return Submitted(instructor, learner, course, points)


def test_submission_is_recorded_under_the_hub_user_name(hub: Hub, submitted: Submitted) -> None:
    inbound = list((hub.exchange / COURSE_ID / "inbound").glob(f"*+{DAY}+*"))
    assert [p.name.split("+")[0] for p in inbound] == [LEARNER]  # not the UNIX account's name


def test_instructor_collects_grades_and_returns_feedback_through_the_exchange(
    hub: Hub, submitted: Submitted,
) -> None:
    instructor, learner, points = submitted.instructor, submitted.learner, submitted.points
    # Formgrader -> Collect; grade and write feedback in the terminal (python -m autograder
    # grade / feedback); Formgrader shows the score.
    _ok(instructor.request("POST", f"formgrader/api/assignment/{DAY}/collect"))
    workspace = hub.course_root / "grading"
    assert (workspace / "submitted" / LEARNER / DAY / f"{STEM}.ipynb").exists()
    cli = ["--repo", str(hub.course_root)]
    graded = subprocess.run(
        [sys.executable, "-c", "import sys; from autograder.cli import main; "
         f"sys.exit(main({[*cli, 'grade', DAY]!r}) or main({[*cli, 'feedback', DAY]!r}))"],
        capture_output=True, text=True, timeout=TIMEOUT * 2,
        env={k: v for k, v in os.environ.items() if not k.startswith("DLCOURSE_")},
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    submissions = instructor.request("GET", f"formgrader/api/submissions/{DAY}").json()
    mine = [s for s in submissions if s["student"] == LEARNER]
    assert len(mine) == 1 and mine[0]["score"] == points and mine[0]["max_score"] == points

    # Formgrader -> Release Feedback; the learner: Assignment List -> Fetch Feedback.
    _ok(instructor.request("POST", f"formgrader/api/assignment/{DAY}/release_feedback"))
    _ok(learner.request("POST", "assignments/fetch_feedback", data=submitted.course))
    pages = list((hub.home / LEARNER / DAY / "feedback").glob(f"*/{STEM}.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert f"{STEM} (Score: {points:.1f} / {points:.1f})" in page
    assert "HIDDEN TESTS" not in page


@pytest.mark.browser
@pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")
def test_learner_logs_in_with_the_browser_and_sees_day4_submitted(
    hub: Hub, submitted: Submitted,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT * 1000)
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", LEARNER)
        page.fill("#password_input", hub.password)
        page.click("#login_submit")
        page.wait_for_url(f"**/user/{LEARNER}/lab**")  # the learner's own JupyterLab
        page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
        page.get_by_role("menuitem", name="Assignment List", exact=True).click()
        done = page.locator("#submitted_assignments_list")
        done.get_by_text(DAY, exact=True).first.wait_for()
        # The fetched folder in the learner's home, in the file browser.
        page.locator(".jp-DirListing-item", has_text=DAY).first.wait_for()
        screenshot(page, "learner-assignment-list.png")
