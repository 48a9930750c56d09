"""nbgrader for a learner's server on the hub: the course's exchange, the hub user as student id.

Read through JUPYTER_CONFIG_PATH (set by jupyterhub_config.py) by the Assignment List and
Validate. nbgrader would otherwise take the student id from the UNIX account, which is wrong
when several hub users share one (SimpleLocalProcessSpawner, containers). Validate runs with the
course's tamper guard (``autograder.config.validate_config``).
"""

import os

from autograder.config import COURSE_ID, validate_config

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)
c.CourseDirectory.course_id = COURSE_ID
c.merge(validate_config())
c.Exchange.root = os.environ.get("DLCOURSE_EXCHANGE") or "/srv/nbgrader/exchange"
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
