"""The matplotlib backend of ``autograder.nofigures``: Agg's canvas, and ``show`` closes.

Imported by matplotlib when pyplot loads it (``MPLBACKEND=module://autograder.nofigures_backend``),
not before: a notebook that draws nothing does not pay for the import.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from autograder.nofigures import close_figures

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    """``plt.show()``: close the figures instead of rendering them."""
    close_figures()
