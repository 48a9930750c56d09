"""nbgrader configuration for `nbgrader ...` and JupyterLab's Formgrader run from the repo root.

The configuration itself is built in code, once, by `autograder.config` (the same one the
`python -m autograder` CLI uses): solutions/ is the source directory, assignments/ the release
directory, and the workspace (submitted/, autograded/, feedback/, gradebook.db) is grading/ or
$DLCOURSE_WORKSPACE.
"""

from autograder.config import Course

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)
c.merge(Course.from_options().nbgrader_config())
