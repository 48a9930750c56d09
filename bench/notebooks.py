"""Executing each solution notebook top to bottom at full size, as a learner runs it (nbclient).

Wall-clock time of the whole execution, kernel start included; the budget is the course's
"every notebook runs in under a minute at full size" (course-design, SPEC). BLAS on one thread,
as `make test` runs them, so that the figures do not depend on what else the machine runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.harness import CheckResult

REPO = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0
TIMEOUT_SECONDS = 600
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def solution_notebooks(root: Path = REPO / "solutions") -> list[Path]:
    return sorted(p for p in root.glob("day*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(path: Path, quick: bool = False) -> float:
    """Seconds to execute the notebook at ``path`` in a fresh python3 kernel (cwd: its folder)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    saved = {key: os.environ.get(key) for key in [*ONE_THREAD, "DLCOURSE_QUICK"]}
    os.environ.update(ONE_THREAD)
    if quick:
        os.environ["DLCOURSE_QUICK"] = "1"
    else:
        os.environ.pop("DLCOURSE_QUICK", None)
    try:
        client = NotebookClient(notebook, timeout=TIMEOUT_SECONDS, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def checks(size_name: str, paths: list[Path] | None = None) -> list[CheckResult]:
    """One row per notebook; tiny size runs them in quick mode (only to test this code)."""
    results = []
    for path in paths if paths is not None else solution_notebooks():
        name = f"Notebook {path.parent.name}/{path.stem}"
        try:
            seconds = execute(path, quick=size_name == "tiny")
        except Exception as exc:  # a failing notebook is a result too, not the end of the run
            results.append(CheckResult(name, "failed", f"< {BUDGET_SECONDS:.0f} s", False,
                                       note=f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        results.append(CheckResult(name, f"{seconds:.1f} s", f"< {BUDGET_SECONDS:.0f} s",
                                   seconds < BUDGET_SECONDS, extra={"seconds": seconds}))
    return results
