"""nbgrader for an instructor's server on the hub: the course's own configuration and the exchange.

Read through JUPYTER_CONFIG_PATH (set by jupyterhub_config.py) by Formgrader. The course lives at
$DLCOURSE_COURSE_ROOT (solutions/, assignments/, the grading workspace): the same configuration
`python -m autograder --repo $DLCOURSE_COURSE_ROOT ...` uses in the instructor's terminal.
"""

import os

from autograder.config import Course

# On the cohort server every grading kernel must run inside the sandbox (autograder.sandbox):
# Formgrader's autograde refuses to start a kernel where bubblewrap cannot run
# (`python -m autograder doctor` says why), instead of grading unsandboxed.
course = Course.from_options(repo=os.environ.get("DLCOURSE_COURSE_ROOT") or None,
                             sandbox="require")
# nbgrader opens the SQLite gradebook in the workspace folder but does not create the folder.
course.workspace.mkdir(parents=True, exist_ok=True)

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)
c.merge(course.nbgrader_config())
c.Exchange.root = os.environ.get("DLCOURSE_EXCHANGE") or "/srv/nbgrader/exchange"
