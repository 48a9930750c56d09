"""Figures built but never rendered, for kernels whose figures nobody looks at.

Under *Validate* only the verdict reaches the learner, yet the inline backend renders every
figure to a PNG at the end of its cell (7 figures: 1.7 to 2.4 s of 4_5's 3 to 4 s of cells).
With ``autograder.nofigures_backend`` every plotting call still runs, on the Agg canvas, and
can fail as it would for the learner; only the rendering is left out. As with the inline
backend, ``plt.show()`` and the end of each cell close the figures, so none pile up.
``guard.enter`` selects that backend (``select``) before any learner code runs, when the kernel
validates (``NBGRADER_EXECUTION=validate``) or when the grader is told to skip figures
(``FIGURES_ENV`` = "off"). ``fig.savefig`` still works, as with Agg.
"""

from __future__ import annotations

import os
import sys
from typing import Any

FIGURES_ENV = "DLCOURSE_FIGURES"  # "off": the grader's kernels skip figures as Validate does
BACKEND = "module://autograder.nofigures_backend"


def wanted(environ: Any = os.environ) -> bool:
    """Whether this kernel's figures are to be skipped: it validates, or the grader said so."""
    return environ.get("NBGRADER_EXECUTION") == "validate" or environ.get(FIGURES_ENV) == "off"


def select(shell: Any) -> None:
    """Make this backend pyplot's (before matplotlib is imported: ipykernel has set the inline
    one in ``MPLBACKEND``) and close the figures at the end of every cell."""
    os.environ["MPLBACKEND"] = BACKEND
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # imported already (not by a notebook: before its first cell)
        pyplot.switch_backend(BACKEND)
    if shell is not None and close_figures not in shell.events.callbacks["post_execute"]:
        shell.events.register("post_execute", close_figures)


def close_figures(*args: Any, **kwargs: Any) -> None:
    """End of a cell: its figures are done with (the inline backend closes them too)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
