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


def other_notebook(id_tag: str, heading: str) -> nbformat.NotebookNode:
    """Another released notebook: the tiny one with ids, grade_ids and sources of its own
    (cell id ``<id_tag>-<id>``, grade_id ``<id_tag>_<grade_id>``, ``# <heading>`` atop each
    cell)."""
    nb = source_notebook()
    for cell in nb.cells:
        cell.id = f"{id_tag}-{cell.id}"
        cell.source = f"# {heading}\n{cell.source}"
        cell.metadata.nbgrader["grade_id"] = f"{id_tag}_{cell.metadata.nbgrader['grade_id']}"
    return nb


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


# -- a notebook whose tests use the comparison helpers (the tamper tests) --------------------

GUARDED = "guarded"
DOUBLE = (
    "def double(x):\n"
    "    ### BEGIN SOLUTION\n"
    "    return 2 * np.asarray(x, dtype=float)\n"
    "    ### END SOLUTION"
)
GUARDED_TESTS = {
    "test_close": ('check_close("double(x)", double(fx["x"]), fx["doubled"])', 2),
    "test_numpy": ("assert np.allclose(double([1.0, 2.0]), [2.0, 4.0])\n"
                   "np.testing.assert_allclose(double([3.0]), [6.0])\n"
                   "assert abs(float(double(0.5)) - 1.0) < 1e-12", 1),
    # "_ =": a cell ending in an expression shows its value, which nbgrader takes as the score
    "test_gradient": ('_ = check_gradient("slope", double(np.ones(3)) / 2, np.ones(3), '
                      'threshold=THRESHOLDS["dx"])', 1),
    "test_value": ('check_value("double(3)", double(3), 6.0)', 1),
}
GUARDED_POINTS = {grade_id: float(points) for grade_id, (_, points) in GUARDED_TESTS.items()}
GUARDED_SETUP = (
    "import numpy as np\n"
    "from autograder.checks import check_close, check_gradient, check_value, load_fixture\n"
    "from course.gradcheck import THRESHOLDS\n"
    f'fx = load_fixture("{GUARDED}")'
)


def guarded_notebook() -> nbformat.NotebookNode:
    """Setup (locked), the solution cell ``double``, four graded tests using the helpers."""
    cells = [
        new_markdown_cell("# Guarded", metadata=_meta("intro"), id="intro"),
        new_code_cell(GUARDED_SETUP, metadata=_meta("setup"), id="setup"),
        new_code_cell(DOUBLE, metadata=_meta("double", solution=True, locked=False), id="double"),
    ]
    for grade_id, (source, points) in GUARDED_TESTS.items():
        cells.append(new_code_cell(source, metadata=_meta(grade_id, grade=True, points=points),
                                   id=grade_id.replace("_", "-")))
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def make_guarded_course(tmp: Path, **limits: int) -> Course:
    """A course repo with ``solutions/day0/guarded.ipynb`` (and its fixture) under ``tmp``."""
    import numpy as np

    source = tmp / "repo" / "solutions" / DAY
    (source / "fixtures").mkdir(parents=True)
    x = np.linspace(-1.0, 1.0, 5)
    np.savez(source / "fixtures" / f"{GUARDED}.npz", x=x, doubled=2 * x)
    nbformat.write(guarded_notebook(), source / f"{GUARDED}.ipynb")
    (tmp / "repo" / "assignments").mkdir()
    return Course.from_options(workspace=tmp / "grading", repo=tmp / "repo", timeout=20, **limits)


# -- a notebook whose exercise is also in the reference library (the delegation tests) --------

DELEGATE = "delegate"
SOFTMAX = (
    "def softmax(x):\n"
    "    ### BEGIN SOLUTION\n"
    "    x = np.asarray(x, dtype=float)\n"
    "    e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
    "    return e / e.sum(axis=-1, keepdims=True)\n"
    "    ### END SOLUTION"
)
DELEGATE_TESTS = {
    "test_shape": ('check_shape("softmax(x)", softmax(np.zeros((2, 3))), (2, 3))', 1),
    "test_rows": ("x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])\n"
                  'check_close("softmax(x)", softmax(x), '
                  "np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))", 2),
    # as Day 4's hidden tests do: the learner's own function, not the library's
    "test_own": ("import course.functions\n"
                 "assert softmax is not course.functions.softmax, "
                 "'course.functions.softmax ではなく自分の実装を'\n"
                 "_x = np.array([[0.5, -1.0]])\n"
                 'check_close("softmax(x)", softmax(_x), np.exp(_x) / np.exp(_x).sum())', 2),
}
DELEGATE_POINTS = {grade_id: float(points) for grade_id, (_, points) in DELEGATE_TESTS.items()}
DELEGATE_SETUP = "import numpy as np\nfrom autograder.checks import check_close, check_shape"


def delegate_notebook() -> nbformat.NotebookNode:
    """Setup (locked), the solution cell ``softmax``, three graded tests."""
    cells = [
        new_markdown_cell("# Delegate", metadata=_meta("intro"), id="intro"),
        new_code_cell(DELEGATE_SETUP, metadata=_meta("setup"), id="setup"),
        new_code_cell(SOFTMAX, metadata=_meta("softmax", solution=True, locked=False),
                      id="softmax"),
    ]
    for grade_id, (source, points) in DELEGATE_TESTS.items():
        cells.append(new_code_cell(source, metadata=_meta(grade_id, grade=True, points=points),
                                   id=grade_id.replace("_", "-")))
    return new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def make_delegate_course(tmp: Path) -> Course:
    """A course repo with ``solutions/day0/delegate.ipynb`` under ``tmp``."""
    source = tmp / "repo" / "solutions" / DAY
    source.mkdir(parents=True)
    nbformat.write(delegate_notebook(), source / f"{DELEGATE}.ipynb")
    (tmp / "repo" / "assignments").mkdir()
    return Course.from_options(workspace=tmp / "grading", repo=tmp / "repo", timeout=20)
