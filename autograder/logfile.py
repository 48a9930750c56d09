"""Keep nbgrader's harmless noise out of the terminal and in a log file.

Every autograde prints SQLAlchemy ``SAWarning ... not in session``, a kernel TCP warning and
``Attribute 'checksum' for cell ... has changed!`` for every hidden-test cell (nbgrader compares the
released checksum with the source one: that is how hidden tests come back). None of it is news for
the instructor, all of it is useful when something does go wrong, so it goes to the log file:

- nbgrader's own log (the ``log`` handed to ``NbGraderAPI``, inherited by every converter and
  preprocessor through ``parent``),
- Python warnings (``logging.captureWarnings``),
- file descriptor 2 itself, so kernels (child processes inheriting stderr) write there too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

LOGGER_NAME = "autograder.nbgrader"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def nbgrader_logger() -> logging.Logger:
    """The logger handed to nbgrader (``NbGraderAPI(log=...)``); handlers come from ``noise_to``."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


@contextlib.contextmanager
def noise_to(log_file: Path) -> Iterator[Path]:
    """Within the block nbgrader's log, warnings and everything written to fd 2 go to the file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    loggers = [nbgrader_logger(), logging.getLogger("py.warnings"), logging.getLogger("traitlets")]
    saved_propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False

    sys.stdout.flush()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with open(log_file, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            logging.captureWarnings(True)
            try:
                yield log_file
            finally:
                logging.captureWarnings(False)
    finally:
        sys.stderr.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        for logger, propagate in zip(loggers, saved_propagate, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate
        handler.close()
