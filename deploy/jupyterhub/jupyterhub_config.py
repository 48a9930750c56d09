"""JupyterHub for one dlcourse cohort: learners and instructors, nbgrader's exchange, one venv.

    make hub-proxy                                   # configurable-http-proxy, from npm
    DLCOURSE_INSTRUCTORS=sato DLCOURSE_LEARNERS=ito,kato,mori \
        .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Settings, from the environment (default in brackets):

    DLCOURSE_COURSE_ROOT   the instructors' course checkout: solutions/, assignments/, and the
                           grading workspace grading/ (or $DLCOURSE_WORKSPACE) [this repository]
    DLCOURSE_EXCHANGE      nbgrader's exchange folder, shared by everybody [/srv/nbgrader/exchange]
    DLCOURSE_INSTRUCTORS   user names of the group "instructors", comma-separated
    DLCOURSE_LEARNERS      user names of the group "learners", comma-separated
    DLCOURSE_HUB_IP        address the hub's proxy listens on [127.0.0.1]
    DLCOURSE_HUB_PORT      its port [8000]
    DLCOURSE_CPU_LIMIT     CPU cores per learner's server [1]; the numerical libraries' threads
                           (OpenBLAS, OpenMP, MKL) are pinned to it, at least one
    DLCOURSE_MEM_LIMIT     memory per server [2G]

By default users are real UNIX accounts (PAM login, one process per user: the hub runs as root).
Every server runs the Python that runs the hub: the course environment, with `course` and
`autograder` installed. It must be readable by every user (not under a mode-700 home).

- learners: JupyterLab in their home folder, with the learner view of `make lab`
  (deploy/lab/learner: no Create Assignment, no Formgrader) and the Assignment List, which fetches
  and submits through the exchange (deploy/jupyterhub/learner/nbgrader_config.py);
- instructors: JupyterLab at the course root with Formgrader, whose configuration is the course's
  (deploy/jupyterhub/instructor/nbgrader_config.py -> autograder.config).

tests/test_jupyterhub.py runs this file with a shared password and SimpleLocalProcessSpawner
(no UNIX accounts) on loopback, and goes through release, fetch, submit, collect and grade.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COURSE_ROOT = Path(os.environ.get("DLCOURSE_COURSE_ROOT") or REPO).resolve()
EXCHANGE = os.environ.get("DLCOURSE_EXCHANGE") or "/srv/nbgrader/exchange"
LEARNER_CONFIG = [HERE / "learner", REPO / "deploy" / "lab" / "learner"]
INSTRUCTOR_CONFIG = [HERE / "instructor"]


def _names(variable: str) -> list[str]:
    return [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]


INSTRUCTORS = _names("DLCOURSE_INSTRUCTORS")
LEARNERS = _names("DLCOURSE_LEARNERS")

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)

c.JupyterHub.ip = os.environ.get("DLCOURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("DLCOURSE_HUB_PORT", "8000"))
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]

c.JupyterHub.load_groups = {
    "instructors": {"users": INSTRUCTORS},
    "learners": {"users": LEARNERS},
}
c.Authenticator.allowed_users = set(INSTRUCTORS) | set(LEARNERS)

# The course environment: the hub's own Python runs every single-user server.
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"

# Each learner's share of the machine. A spawner that enforces limits (systemdspawner,
# dockerspawner) applies cpu_limit and mem_limit; the local process spawner only passes them on
# as CPU_LIMIT / MEM_LIMIT. Either way the numerical libraries get as many threads as the learner
# has cores: OpenBLAS with more threads than its share collapses when servers contend for the
# cores (a Day 4 notebook: 9.4 s on a quiet machine, 86 s at load average 5 with two BLAS
# threads each; docs/performance.md).
CPU_LIMIT = float(os.environ.get("DLCOURSE_CPU_LIMIT", "1"))
c.Spawner.cpu_limit = CPU_LIMIT
c.Spawner.mem_limit = os.environ.get("DLCOURSE_MEM_LIMIT", "2G")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(cpu_limit: float) -> dict[str, str]:
    """OpenBLAS, OpenMP and MKL threads pinned to the learner's whole cores (at least one)."""
    threads = str(max(1, int(cpu_limit)))
    return {variable: threads for variable in THREAD_VARIABLES}


def configure_by_group(spawner) -> None:  # noqa: ANN001 (jupyterhub.spawner.Spawner)
    """Instructors get the course root and Formgrader; everybody else is a learner."""
    groups = {group.name for group in spawner.user.groups}
    env = {
        **spawner.environment,
        "DLCOURSE_EXCHANGE": EXCHANGE,
        # The course environment first: nbgrader runs its `alembic` command to create a
        # gradebook, and terminals should find the course's python and jupyter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **thread_environment(CPU_LIMIT),
    }
    if "instructors" in groups:
        spawner.notebook_dir = str(COURSE_ROOT)
        env["DLCOURSE_COURSE_ROOT"] = str(COURSE_ROOT)
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(str(p) for p in INSTRUCTOR_CONFIG)
    else:
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(str(p) for p in LEARNER_CONFIG)
    spawner.environment = env


c.Spawner.pre_spawn_hook = configure_by_group
