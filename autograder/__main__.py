"""``python -m autograder``: see ``autograder.cli``."""

import sys

from autograder.cli import main

if __name__ == "__main__":  # not when a --jobs worker process (spawn) imports this module
    sys.exit(main())
