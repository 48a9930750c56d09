"""``release DAY``: nbgrader GenerateAssignment, then volatile metadata normalised away.

The release in ``assignments/<day>/`` is committed; CI regenerates it into a temporary folder and
compares (``check_release``). For that to mean anything a re-release must equal the committed
one, so everything that changes with who last ran a notebook and where is dropped: the kernel's
``language_info.version``, widget state, execution timings, scroll/collapse state.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from autograder.config import Course
from autograder.session import Session

# Notebook-level metadata kept in a release (everything else is editor or kernel state).
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
VOLATILE_LANGUAGE_INFO = ("version",)
# Cell-level metadata that records a run or a view, not the content.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "trusted")


class ReleaseError(RuntimeError):
    """nbgrader could not generate the release."""


def normalise_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without volatile metadata (in place; also returned)."""
    meta = {key: nb.metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in nb.metadata}
    if "language_info" in meta:
        meta["language_info"] = {
            k: v for k, v in meta["language_info"].items() if k not in VOLATILE_LANGUAGE_INFO
        }
    nb.metadata = nbformat.from_dict(meta)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    return nb


def normalise_release(folder: Path) -> None:
    """Rewrite every notebook under ``folder`` normalised (nbformat's stable JSON layout)."""
    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(normalise_notebook(nb), path)


def source_days(course: Course) -> list[str]:
    """Days that have source notebooks (``solutions/<day>/*.ipynb``)."""
    return sorted(p.name for p in course.source_dir.iterdir() if any(p.glob("*.ipynb")))


def release(course: Course, day: str, out: Path | None = None) -> Path:
    """Generate the learner version of ``day``; returns its folder.

    Into ``assignments/<day>`` (and the gradebook, which autograding needs), or with ``out`` into
    ``out/<day>`` without touching the gradebook. Fixtures and any other files are copied.
    """
    if not (course.source_dir / day).is_dir():
        raise ReleaseError(f"no source folder {course.source_dir / day}")
    with Session(course) as session:
        outcome = session.generate_assignment(day, out=out, record=out is None)
    if not outcome.ok:
        raise ReleaseError(f"nbgrader could not release {day}: {outcome.error} "
                           f"(details in {course.log_file})")
    folder = (out if out is not None else course.release_dir) / day
    normalise_release(folder)
    return folder


def _notebook_json(path: Path) -> Any:
    return json.loads(json.dumps(normalise_notebook(nbformat.read(path, as_version=4))))


def _same_arrays(a: Path, b: Path) -> bool:
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        if sorted(x.files) != sorted(y.files):
            return False
        return all(_same_array(x[k], y[k]) for k in x.files)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and values; NaN equals NaN (fixtures may hold NaN on purpose)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def compare_releases(committed: Path, fresh: Path) -> list[str]:
    """Differences between two release folders of one day (empty when in sync).

    Notebooks compare as normalised JSON, ``.npz`` fixtures by their arrays (zip members carry
    timestamps), every other file byte for byte.
    """
    def files(root: Path) -> set[str]:
        if not root.is_dir():
            return set()
        skip = (".ipynb_checkpoints", "__pycache__")
        return {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not any(part in skip for part in p.parts)
        }

    old, new = files(committed), files(fresh)
    problems = [f"committed but no longer generated: {name}" for name in sorted(old - new)]
    problems += [f"generated but not committed: {name}" for name in sorted(new - old)]
    for name in sorted(old & new):
        a, b = committed / name, fresh / name
        if name.endswith(".ipynb"):
            same = _notebook_json(a) == _notebook_json(b)
        elif name.endswith(".npz"):
            same = _same_arrays(a, b)
        else:
            same = a.read_bytes() == b.read_bytes()
        if not same:
            problems.append(f"out of date: {name}")
    return problems


def check_release(course: Course, day: str) -> list[str]:
    """Regenerate ``day`` into a temporary folder and compare with ``assignments/<day>``."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as scratch:
        fresh = release(course, day, out=Path(scratch))
        return compare_releases(course.release_dir / day, fresh)


SOLUTION_REGION = ("BEGIN SOLUTION", "END SOLUTION")  # nbgrader's delimiters
HIDDEN_REGION = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SECRET_REGIONS = (SOLUTION_REGION, HIDDEN_REGION)
Regions = tuple[tuple[str, str], ...]
STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}
MIN_LEAK_LENGTH = 8  # shorter lines (")", "return x") prove nothing when found in a page


def secret_lines(source: nbformat.NotebookNode, regions: Regions = SECRET_REGIONS) -> set[str]:
    """Lines (stripped) that occur in the source notebook only inside ``regions``.

    Solution and hidden-test lines must never reach a learner's release; hidden-test lines must
    never reach a feedback page either (solution lines may: the learner wrote them too).
    """
    inside: set[str] = set()
    outside: set[str] = set()
    delimiters = [d for pair in SECRET_REGIONS for d in pair]
    for cell in source.cells:
        closing = None  # the delimiter that ends the region we are in
        for line in cell.source.split("\n"):
            text = line.strip()
            region = next((r for r in regions if r[0] in text), None)
            if closing is None and region is not None:
                closing = region[1]
            elif closing is not None and closing in text:
                closing = None
            elif text and not any(d in text for d in delimiters):
                (inside if closing is not None else outside).add(text)
    return {line for line in inside - outside - STUB_LINES if len(line) >= MIN_LEAK_LENGTH}


def leaked_lines(
    source: nbformat.NotebookNode, text: str, regions: Regions = SECRET_REGIONS
) -> list[str]:
    """Lines of ``text`` (a released notebook's code, a feedback page as text) that are
    ``secret_lines(source, regions)``, compared line by line after stripping."""
    return sorted(secret_lines(source, regions) & {line.strip() for line in text.splitlines()})
