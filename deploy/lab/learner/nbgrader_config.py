"""nbgrader for the learner view (`make lab`): Validate runs with the course's tamper guard.

Read by the Validate button's server extension, which loads nbgrader_config.py from the Jupyter
config path (this folder comes first on JUPYTER_CONFIG_PATH) and from the server's working folder.
"""

from autograder.config import validate_config

c = get_config()  # noqa: F821 (injected by traitlets when it loads this file)
c.merge(validate_config())
