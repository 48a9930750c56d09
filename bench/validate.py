"""What a learner waits for after *Validate*: `nbgrader validate` on each finished Day 4 notebook.

    python -m bench.validate [--day day4] [--repeat 3]

For each notebook of the day, the reference sample (autograder/samples/reference/, a finished
notebook) is copied with the day's fixtures into a temporary folder, and measured three ways:

- **validate**: `nbgrader validate NOTEBOOK` as a subprocess, wall time and CPU time (the
  command, its kernel and everything they start), as the command line runs it;
- **as the button**: nbgrader's Validator called in this process, which has imported nbgrader
  and the course's configuration already, as the Validate button's server extension does;
- **floor**: Python start-up and `import nbgrader.apps` alone, and a kernel started and shut
  down with nothing run (jupyter_client, as nbgrader does);
- **cells**: the notebook executed by nbclient with ``NBGRADER_EXECUTION=validate`` (quick mode,
  as under validate), the time of each code cell; the slowest cells are named.

Wall times on a shared machine grow with the load: the load average is printed beside every row,
and CPU time next to wall time. No figure here is a unit test.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    cpu0, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, _children_cpu() - cpu0, done.returncode


def _env() -> dict[str, str]:
    env = {**os.environ, **ONE_THREAD}
    env.pop("DLCOURSE_QUICK", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def prepare(day: str, folder: Path) -> list[Path]:
    """The day's reference samples and fixtures copied into ``folder``; the notebooks."""
    source = REPO / "autograder" / "samples" / "reference" / day
    shutil.copytree(REPO / "solutions" / day / "fixtures", folder / "fixtures")
    notebooks = []
    for nb in sorted(source.glob("*.ipynb")):
        shutil.copy(nb, folder / nb.name)
        notebooks.append(folder / nb.name)
    return notebooks


def validate_in_process(path: Path) -> tuple[float, float, bool]:
    """(wall, CPU of this process and the kernel, passed) of nbgrader's Validator called here.

    As the Validate button runs it: inside the Jupyter server, where nbgrader and the course's
    configuration are imported already, so no Python start-up and no `import nbgrader`.
    """
    from nbgrader.validator import Validator

    from autograder.config import validate_config

    os.environ.update(ONE_THREAD)
    validator = Validator(config=validate_config())
    cpu0, own0, start = _children_cpu(), time.process_time(), time.perf_counter()
    cwd = Path.cwd()
    os.chdir(path.parent)
    try:
        result = validator.validate(str(path))
    finally:
        os.chdir(cwd)
    wall = time.perf_counter() - start
    cpu = time.process_time() - own0 + _children_cpu() - cpu0
    passed = not any(result.get(key) for key in ("failed", "changed", "type_changed"))
    return wall, cpu, passed


def kernel_floor() -> float:
    """Seconds to start a python3 kernel, wait until it is ready, and shut it down."""
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3")
    client.stop_channels()
    manager.shutdown_kernel(now=False)
    return time.perf_counter() - start


def cell_times(path: Path) -> list[tuple[float, str]]:
    """(seconds, first line) of each code cell, executed as under validate (quick mode)."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(ONE_THREAD)
    os.environ["NBGRADER_EXECUTION"] = "validate"
    try:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                                allow_errors=True, record_timing=True,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        os.environ.pop("NBGRADER_EXECUTION", None)
    result = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.get("execution", {})
        started = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started")
        ended = timing.get("shell.execute_reply")
        if not (started and ended):
            continue
        seconds = (datetime.fromisoformat(ended.replace("Z", "+00:00"))
                   - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        result.append((seconds, first[:60]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day", default="day4")
    parser.add_argument("--repeat", type=int, default=3, help="validate runs per notebook")
    parser.add_argument("--only", nargs="*", help="notebook stems to measure")
    args = parser.parse_args(argv)
    env = _env()
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    with tempfile.TemporaryDirectory(prefix="dlcourse-validate-") as tmp:
        folder = Path(tmp)
        shutil.copy(REPO / "nbgrader_config.py", folder / "nbgrader_config.py")
        notebooks = prepare(args.day, folder)
        if args.only:
            notebooks = [nb for nb in notebooks if nb.stem in args.only]
        startup = [_timed([sys.executable, "-c", "import nbgrader.apps"], folder, env)[0]
                   for _ in range(3)]
        kernels = [kernel_floor() for _ in range(3)]
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        print(f"floor: python + import nbgrader.apps {statistics.median(startup):.2f} s "
              f"(min {min(startup):.2f}); kernel start + ready + shutdown "
              f"{statistics.median(kernels):.2f} s (min {min(kernels):.2f})\n")
        print("| notebook | `nbgrader validate`: wall median (min–max) | its CPU | as the button"
              " (in-process): wall median (min–max) | its CPU | cells (sum of wall) "
              "| slowest cells | load |")
        print("|---|---:|---:|---:|---:|---:|---|---:|")
        for nb in notebooks:
            runs = [_timed([nbgrader, "validate", nb.name], folder, env)
                    for _ in range(args.repeat)]
            walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
            if any(r[2] != 0 for r in runs):
                print(f"| {nb.stem} | validate exited {[r[2] for r in runs]} | | | | |")
                continue
            button = [validate_in_process(nb) for _ in range(args.repeat)]
            b_walls, b_cpus = [b[0] for b in button], [b[1] for b in button]
            cells = cell_times(nb)
            slowest = sorted(cells, reverse=True)[:3]
            slow_text = "; ".join(f"{s:.2f} s `{line}`" for s, line in slowest)
            print(f"| {nb.stem} | {statistics.median(walls):.2f} s ({min(walls):.2f}–"
                  f"{max(walls):.2f}) | {statistics.median(cpus):.2f} s | "
                  f"{statistics.median(b_walls):.2f} s ({min(b_walls):.2f}–{max(b_walls):.2f})"
                  f"{'' if all(b[2] for b in button) else ' (did not pass)'} | "
                  f"{statistics.median(b_cpus):.2f} s | "
                  f"{sum(s for s, _ in cells):.2f} s | {slow_text} | {os.getloadavg()[0]:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
