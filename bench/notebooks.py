"""Executing each solution notebook top to bottom at full size, as a learner runs it (nbclient).

Wall-clock time of the whole execution, kernel start included, against the course's budget
"every notebook runs in under a minute at full size" (course-design, SPEC); and the CPU time it
took (the executing process and its kernel), which does not grow when other processes share the
machine. BLAS on one thread, as `make test` runs them.

    python -m bench.notebooks solutions/day4/4_2_batch_norm_test.ipynb   # one notebook
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.harness import CheckResult

REPO = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0
TIMEOUT_SECONDS = 600
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def solution_notebooks(root: Path = REPO / "solutions") -> list[Path]:
    return sorted(p for p in root.glob("day*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(path: Path, quick: bool = False) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to execute the notebook in a fresh kernel (cwd: its folder).

    Runs `python -m bench.notebooks PATH` in a child process, so that the CPU time of the child
    and of its kernel (reaped by the child) can be read from RUSAGE_CHILDREN.
    """
    env = {**os.environ, **ONE_THREAD}
    env.pop("DLCOURSE_QUICK", None)
    if quick:
        env["DLCOURSE_QUICK"] = "1"
    cpu0, start = _children_cpu_seconds(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.notebooks", str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS + 60)
    wall, cpu = time.perf_counter() - start, _children_cpu_seconds() - cpu0
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                           f"exit code {done.returncode}")
    return wall, cpu


def checks(size_name: str, paths: list[Path] | None = None) -> Iterator[CheckResult]:
    """One row per notebook, as each finishes; tiny size runs them in quick mode (a test)."""
    for path in paths if paths is not None else solution_notebooks():
        name = f"Notebook {path.parent.name}/{path.stem}"
        target = f"< {BUDGET_SECONDS:.0f} s"
        try:
            wall, cpu = execute(path, quick=size_name == "tiny")
        except Exception as exc:  # a failing notebook is a result too, not the end of the run
            yield CheckResult(name, "failed", target, False,
                              note=f"{type(exc).__name__}: {str(exc)[:200]}")
            continue
        yield CheckResult(name, f"{wall:.1f} s", target, wall < BUDGET_SECONDS,
                          note=f"CPU {cpu:.1f} s", extra={"seconds": wall, "cpu_seconds": cpu})


def _execute_here(path: Path) -> None:
    """Execute one notebook in this process's kernel client (the child of `execute`)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIMEOUT_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()


if __name__ == "__main__":
    _execute_here(Path(sys.argv[1]).resolve())
