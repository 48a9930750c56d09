"""Figures under Validate: built (so plotting mistakes still fail) but never rendered.

Run through nbgrader's own ``Execute`` with the learners' Validate configuration
(``autograder.config.validate_config``, whose guard prologue selects the backend), as the Validate
button runs a notebook.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.config import validate_config
from autograder.nofigures import BACKEND, FIGURES_ENV

CELLS = [
    "import matplotlib\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
    "ax.plot([0, 1], [1, 0])\nax.set_title('x')",
    "print(matplotlib.get_backend(), len(plt.get_fignums()))\nplt.plot([1, 2])\nplt.show()\n"
    "print(len(plt.get_fignums()))",
    "fig.savefig('saved.png')\nplt.plot([1, 2, 3], [1, 2])",  # a plotting mistake
]


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, execution: str,
         figures: str | None = None) -> nbformat.NotebookNode:
    from nbgrader.preprocessors import Execute

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBGRADER_EXECUTION", execution)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    if figures is None:
        monkeypatch.delenv(FIGURES_ENV, raising=False)
    else:
        monkeypatch.setenv(FIGURES_ENV, figures)
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    executed, _ = Execute(config=validate_config(), allow_errors=True).preprocess(nb, {})
    return executed


def _pngs(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in nb.cells
               for output in cell.outputs)


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [output.ename for cell in nb.cells for output in cell.outputs
            if output.output_type == "error"]


def test_validate_builds_figures_without_rendering_them(tmp_path, monkeypatch):
    nb = _run(tmp_path, monkeypatch, "validate")
    assert _pngs(nb) == 0
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    # the first cell's figure was closed when the cell ended; plt.show() closed the next one
    assert printed == f"{BACKEND} 0\n0\n"
    assert (tmp_path / "saved.png").stat().st_size > 0  # savefig still draws when asked
    assert _errors(nb) == ["ValueError"]  # x and y of different sizes: the mistake still fails
    assert not [o for cell in nb.cells for o in cell.outputs if o.get("name") == "stderr"]


def test_grading_renders_figures_unless_told_not_to(tmp_path, monkeypatch):
    rendered = _run(tmp_path, monkeypatch, "autograde")
    assert _pngs(rendered) == 3  # the inline backend renders each cell's figure
    assert "matplotlib_inline" in "".join(o.get("text", "") for o in rendered.cells[1].outputs)
    skipped = _run(tmp_path, monkeypatch, "autograde", figures="off")
    assert _pngs(skipped) == 0 and _errors(skipped) == ["ValueError"]
    assert os.environ.get("MPLBACKEND") is None  # the grader's own process is not touched


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_no_figures_reaches_the_grading_kernel(mode: str, tmp_path):
    """``python -m autograder --no-figures grade``: the course's configuration tells the kernel
    manager, which tells the kernel (inside the sandbox's clean environment too)."""
    import asyncio

    from autograder.cli import _parser
    from autograder.config import Course
    from autograder.sandbox import SandboxKernelManager

    args = _parser().parse_args(["--no-figures", "grade", "day4"])
    course = Course.from_options(tmp_path, sandbox=mode, figures=args.figures)
    config = course.nbgrader_config()
    assert config.SandboxKernelManager.figures is False
    assert Course.from_options(tmp_path).nbgrader_config().SandboxKernelManager.figures is True

    async def kernel_sees() -> str:
        manager = SandboxKernelManager(config=config)
        await manager.start_kernel(cwd=str(tmp_path))
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            reply = await client.execute_interactive(
                f"import os; print(os.environ.get({FIGURES_ENV!r}))", timeout=60,
                output_hook=lambda msg: seen.append(msg["content"].get("text", "")))
            assert reply["content"]["status"] == "ok"
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)
        return "".join(seen)

    seen: list[str] = []
    assert asyncio.run(kernel_sees()) == "off\n"
