"""Run a solution notebook's code cells in-process (no kernel): fast enough to try many bugs.

Used by tests that show each typical learner bug fails a visible test with a pointed message.
Hidden-test sections are removed first, so only what the learner sees is exercised (unless a test
asks for them: ``code_cells(notebook, hidden=True)``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"

_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)


@dataclass
class Cell:
    source: str
    grade_id: str | None
    is_solution: bool
    is_test: bool


def notebook_path(notebook: str) -> Path:
    """solutions/<notebook>.ipynb for ``notebook`` = "day4/<stem>"."""
    return SOLUTIONS / f"{notebook}.ipynb"


def code_cells(notebook: str, hidden: bool = False) -> list[Cell]:
    """The code cells of a solution notebook, hidden tests removed (kept with ``hidden``)."""
    nb = json.loads(notebook_path(notebook).read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cells.append(
            Cell(
                source=source if hidden else _HIDDEN.sub("", source),
                grade_id=meta.get("grade_id"),
                is_solution=bool(meta.get("solution")),
                is_test=bool(meta.get("grade")) and not meta.get("solution"),
            )
        )
    return cells


@contextmanager
def notebook_context(notebook: str) -> Iterator[dict]:
    """A fresh namespace, cwd = the notebook's folder, quick mode, a non-interactive matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    old_cwd, old_env = Path.cwd(), os.environ.get("DLCOURSE_QUICK")
    os.chdir(notebook_path(notebook).parent)
    os.environ["DLCOURSE_QUICK"] = "1"
    try:
        yield {"__name__": "__main__"}
    finally:
        plt.close("all")
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("DLCOURSE_QUICK", None)
        else:
            os.environ["DLCOURSE_QUICK"] = old_env


def run_cell(cell: Cell, namespace: dict, label: str) -> None:
    code = compile(cell.source, f"<{label}:{cell.grade_id or 'cell'}>", "exec")
    exec(code, namespace)  # noqa: S102 - executing our own notebook's cells is the point
