"""Preflight tells a renamed notebook from a submission for the wrong assignment (no kernel runs
here; ``test_autograder_batch`` grades such submissions through the command).

The assignment has two notebooks, ``tiny`` and ``twin`` (the tiny one with its own cell ids,
grade_ids and sources).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from autograder_tiny import other_notebook, source_notebook
from nbformat.v4 import new_code_cell, new_notebook

from autograder.preflight import STATUS_MISSING, STATUS_OK, STATUS_WRONG, prepare

RELEASED = {"tiny": source_notebook(), "twin": other_notebook("twin", "twin")}


def _prepare(tmp_path: Path, files: dict[str, nbformat.NotebookNode], others=None) -> dict:
    for name, nb in files.items():
        nbformat.write(nb, tmp_path / name)
    submission = prepare(tmp_path, RELEASED, others)
    found = {p.notebook: (p.status, p.file.name if p.file else None, p.reason)
             for p in submission.notebooks}
    return found | {"extra": submission.extra}


def test_own_names_are_graded_as_they_are(tmp_path: Path):
    found = _prepare(tmp_path, {"tiny.ipynb": RELEASED["tiny"], "twin.ipynb": RELEASED["twin"]})
    assert found["tiny"] == (STATUS_OK, "tiny.ipynb", "")
    assert found["twin"] == (STATUS_OK, "twin.ipynb", "")


def test_swapped_names_are_both_renamed(tmp_path: Path):
    found = _prepare(tmp_path, {"tiny.ipynb": RELEASED["twin"], "twin.ipynb": RELEASED["tiny"]})
    assert found["tiny"][:2] == (STATUS_OK, "twin.ipynb")
    assert found["twin"][:2] == (STATUS_OK, "tiny.ipynb")


def test_a_notebook_under_the_name_of_another_is_the_wrong_one(tmp_path: Path):
    found = _prepare(tmp_path, {"tiny.ipynb": RELEASED["twin"], "twin.ipynb": RELEASED["twin"]})
    assert found["tiny"] == (STATUS_WRONG, "tiny.ipynb", "tiny.ipynb: it is twin, not tiny")
    assert found["twin"] == (STATUS_OK, "twin.ipynb", "")


def test_a_notebook_under_the_name_of_another_not_submitted_is_graded_as_itself(tmp_path: Path):
    found = _prepare(tmp_path, {"tiny.ipynb": RELEASED["twin"]})
    assert found["twin"][:2] == (STATUS_OK, "tiny.ipynb")
    assert found["tiny"] == (STATUS_MISSING, None, "no tiny.ipynb in the submission")


def test_copy_into_a_new_notebook_is_recognised_by_its_locked_cells(tmp_path: Path):
    """New cell ids, no nbgrader metadata: the locked cells' sources still say it is tiny."""
    copy = json.loads(json.dumps(RELEASED["tiny"]))
    nb = new_notebook(cells=[new_code_cell(c["source"]) for c in copy["cells"]])
    found = _prepare(tmp_path, {"tiny (copy).ipynb": nb})
    assert found["tiny"][:2] == (STATUS_OK, "tiny (copy).ipynb")


def test_an_unrecognisable_notebook_under_its_own_name_is_still_graded(tmp_path: Path):
    nb = new_notebook(cells=[new_code_cell("def square(x):\n    return x * x")])
    assert _prepare(tmp_path, {"tiny.ipynb": nb})["tiny"] == (STATUS_OK, "tiny.ipynb", "")


@pytest.mark.parametrize("name", ["tiny.ipynb", "lecture.ipynb"])
def test_notebook_of_another_day_is_the_wrong_assignment(tmp_path: Path, name: str):
    other = source_notebook()
    for cell in other.cells:
        cell.id, cell.source = f"x-{cell.id}", f"# day9\n{cell.source}"
        cell.metadata = {}
    found = _prepare(tmp_path, {name: other}, others={"day9/lecture": other})
    assert found["tiny"][0] == STATUS_WRONG
    assert "day9/lecture" in found["tiny"][2]
    assert found["twin"][0] == (STATUS_WRONG if name == "lecture.ipynb" else STATUS_MISSING)
