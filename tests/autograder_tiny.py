"""A tiny nbgrader course for the autograder's mechanism tests (fast, independent of Day 4).

``make_tiny_course(tmp)`` writes ``tmp/repo/solutions/day0/tiny.ipynb`` (two exercises, two graded
test cells, one with hidden tests, each test cell after a locked prose cell) and a fixture file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.config import Course

DAY = "day0"
HIDDEN_PROBE = "hidden_probe_value"  # appears only in the hidden tests
HIDDEN_MESSAGE = "square(-2) は 4 です"

SQUARE = "def square(x):\n    ### BEGIN SOLUTION\n    return x ** 2\n    ### END SOLUTION"
CUBE = "def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION"
TEST_SQUARE = (
    "assert square(3) == 9, 'square(3) は 9 です'\n"
    "### BEGIN HIDDEN TESTS\n"
    f"{HIDDEN_PROBE} = square(-2)\n"
    f"assert {HIDDEN_PROBE} == 4, '{HIDDEN_MESSAGE}'\n"
    "### END HIDDEN TESTS"
)
TEST_CUBE = (
    "assert os.environ.get('NBGRADER_EXECUTION'), 'graded under nbgrader'\n"
    "assert open('fixtures/tiny.txt').read() == 'fixture', 'fixture beside the notebook'\n"
    "assert cube(2) == 8, 'cube(2) は 8 です'"
)
POINTS = {"test_square": 2.0, "test_cube": 3.0}


def _meta(grade_id: str, **flags: object) -> dict:
    nbgrader = {"grade": False, "solution": False, "locked": True, "grade_id": grade_id,
                "schema_version": 3}
    nbgrader.update(flags)
    return {"nbgrader": nbgrader}


def source_notebook() -> nbformat.NotebookNode:
    def code(grade_id: str, source: str, **flags: object) -> nbformat.NotebookNode:
        cell_id = grade_id.replace("_", "-")
        return new_code_cell(source, metadata=_meta(grade_id, **flags), id=cell_id)

    def prose(grade_id: str, text: str) -> nbformat.NotebookNode:
        return new_markdown_cell(text, metadata=_meta(grade_id), id=grade_id.replace("_", "-"))

    cells = [
        prose("intro", "# Tiny"),
        code("setup", "import os\nimport sys\nimport warnings"),
        code("square", SQUARE, solution=True, locked=False),
        prose("test_square_md", "### Test: square (2 点)"),
        code("test_square", TEST_SQUARE, grade=True, points=2),
        code("cube", CUBE, solution=True, locked=False),
        prose("test_cube_md", "### Test: cube (3 点)"),
        code("test_cube", TEST_CUBE, grade=True, points=3),
    ]
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "version": "3.11.7"},  # volatile: dropped
        },
    )


def make_tiny_course(tmp: Path, timeout: int = 60) -> Course:
    """A course repo with ``solutions/day0/tiny.ipynb`` and its workspace, under ``tmp``."""
    source = tmp / "repo" / "solutions" / DAY
    (source / "fixtures").mkdir(parents=True)
    (source / "fixtures" / "tiny.txt").write_text("fixture")
    nbformat.write(source_notebook(), source / "tiny.ipynb")
    (tmp / "repo" / "assignments").mkdir()
    return Course.from_options(workspace=tmp / "grading", timeout=timeout, repo=tmp / "repo")


def set_cell(nb: nbformat.NotebookNode, grade_id: str, source: str) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return
    raise KeyError(grade_id)


def drop_cells(nb: nbformat.NotebookNode, *grade_ids: str) -> None:
    nb.cells = [
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids
    ]
