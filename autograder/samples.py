"""``samples [--check]``: three sample submissions per notebook and the points each must get.

``autograder/samples/<student>/<day>/<notebook>.ipynb`` for the students

- ``reference``: the released notebook with each solution cell's source replaced by the solution
  code (the source cell without its ``BEGIN/END SOLUTION`` marker lines): full marks;
- ``blank``: the untouched release: 0 points;
- ``partial``: the reference with the spec's ``PARTIAL_BUGS`` applied (``apply_bugs``): exactly
  the spec's ``PARTIAL_EXPECTED`` per graded cell;

and ``autograder/samples/expected.json``:
``{student: {"<day>/<notebook>": {grade_id: points}}}``, read by the end-to-end tests and the demo.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from autograder.config import Course
from autograder.release import normalise_notebook
from autograder.specs import apply_bugs, spec_for

STUDENTS = ("reference", "blank", "partial")
EXPECTED_FILE = "expected.json"
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")  # nbgrader's delimiters (ClearSolutions)


class SampleError(ValueError):
    """A spec and its notebook do not fit together (unknown cell, bug or grade id)."""


def samples_dir(course: Course) -> Path:
    return course.repo / "autograder" / "samples"


def _meta(cell: nbformat.NotebookNode) -> dict[str, Any]:
    return cell.metadata.get("nbgrader", {})


def solution_code(source: str) -> str:
    """Source of a solution cell without its marker lines (what a perfect learner writes)."""
    return "\n".join(
        line for line in source.split("\n") if not any(m in line for m in SOLUTION_MARKERS)
    )


def graded_points(nb: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {
        _meta(c)["grade_id"]: float(_meta(c)["points"])
        for c in nb.cells
        if _meta(c).get("grade") and not _meta(c).get("solution")
    }


def _with_solutions(
    released: nbformat.NotebookNode, source: nbformat.NotebookNode, bugs: list
) -> nbformat.NotebookNode:
    solutions = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    unknown = {bug.cell for bug in bugs} - set(solutions)
    if unknown:
        raise SampleError(f"bugs aimed at cells that are no solution cells: {sorted(unknown)}")
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if _meta(cell).get("solution") and grade_id in solutions:
            try:
                cell.source = apply_bugs(solution_code(solutions[grade_id]), grade_id, bugs)
            except ValueError as error:
                raise SampleError(str(error)) from None
    return nb


def build_notebook_samples(
    released: nbformat.NotebookNode, source: nbformat.NotebookNode, notebook: str
) -> tuple[dict[str, nbformat.NotebookNode], dict[str, dict[str, float]]]:
    """The three samples of ``notebook`` ("day4/4_1_...") and their expected points per cell."""
    try:
        spec = spec_for(notebook)
    except KeyError:
        raise SampleError(f"no spec module in autograder/specs/ for {notebook!r}") from None
    by_name = {bug.name: bug for bug in spec.TYPICAL_BUGS}
    missing = [name for name in spec.PARTIAL_BUGS if name not in by_name]
    if missing:
        raise SampleError(f"{notebook}: PARTIAL_BUGS not in TYPICAL_BUGS: {missing}")
    points = graded_points(source)
    partial = {k: float(v) for k, v in spec.PARTIAL_EXPECTED.items()}
    if set(partial) != set(points):
        raise SampleError(
            f"{notebook}: PARTIAL_EXPECTED must name every graded cell {sorted(points)}; "
            f"got {sorted(partial)}"
        )
    over = {k: v for k, v in partial.items() if not 0 <= v <= points[k]}
    if over:
        raise SampleError(f"{notebook}: PARTIAL_EXPECTED outside 0..points: {over}")
    notebooks = {
        "reference": _with_solutions(released, source, []),
        "blank": nbformat.from_dict(json.loads(json.dumps(released))),
        "partial": _with_solutions(released, source, [by_name[n] for n in spec.PARTIAL_BUGS]),
    }
    expected = {
        "reference": points,
        "blank": {k: 0.0 for k in points},
        "partial": {k: partial[k] for k in points},
    }
    return notebooks, expected


def build_samples(course: Course, out: Path | None = None) -> Path:
    """Write every released notebook's samples and ``expected.json`` under ``out``; returns it."""
    out = samples_dir(course) if out is None else out
    expected: dict[str, dict[str, dict[str, float]]] = {s: {} for s in STUDENTS}
    for student in STUDENTS:  # generated folders: nothing of a removed notebook may linger
        shutil.rmtree(out / student, ignore_errors=True)
    for released_path in sorted(course.release_dir.glob("*/*.ipynb")):
        day, stem = released_path.parent.name, released_path.stem
        source_path = course.source_dir / day / released_path.name
        notebooks, points = build_notebook_samples(
            nbformat.read(released_path, as_version=4),
            nbformat.read(source_path, as_version=4),
            f"{day}/{stem}",
        )
        for student in STUDENTS:
            target = out / student / day / released_path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(normalise_notebook(notebooks[student]), target)
            expected[student][f"{day}/{stem}"] = points[student]
    (out / EXPECTED_FILE).write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return out


def load_expected(course: Course) -> dict[str, dict[str, dict[str, float]]]:
    """``expected.json``: student -> "<day>/<notebook>" -> grade_id -> points."""
    return json.loads((samples_dir(course) / EXPECTED_FILE).read_text())


def check_samples(course: Course) -> list[str]:
    """How the committed samples differ from freshly built ones (empty: in sync)."""
    from autograder.release import compare_releases

    with tempfile.TemporaryDirectory(prefix="dlcourse-samples-") as scratch:
        fresh = build_samples(course, Path(scratch))
        committed = samples_dir(course)
        problems = []
        for student in STUDENTS:
            problems += [
                f"{student}: {p}" for p in compare_releases(committed / student, fresh / student)
            ]
        old = committed / EXPECTED_FILE
        if not old.exists() or json.loads(old.read_text()) != json.loads(
            (fresh / EXPECTED_FILE).read_text()
        ):
            problems.append(f"{EXPECTED_FILE} differs from a fresh build")
        return problems
