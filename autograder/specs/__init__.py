"""Per-notebook grading specs: fixtures, typical learner bugs, the partial sample's points.

Each module in this package describes one notebook:

- ``NOTEBOOK``: e.g. ``"day4/4_1_batch_normalization_layer"`` (assignment/stem)
- ``make_fixtures() -> dict[str, np.ndarray]``: reference outputs for the visible tests, generated
  deterministically from the reference library and stored beside the notebook
- ``TYPICAL_BUGS``: realistic learner mistakes, each shown (by ``tests/test_typical_bugs.py``) to
  fail a visible test with a message that points at it, at least ``MARGIN`` times over the
  check's tolerance; the later tests a bug also breaks (``cascades``) say to fix it first
- ``PARTIAL_BUGS`` / ``PARTIAL_EXPECTED``: the bugs in the "partly correct" sample submission
  and the exact points each graded cell must give it
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

# A typical bug must fail its check by at least this factor over the tolerance (checks that have
# a scale: check_close, check_gradient; exact checks fail by an infinite factor).
MARGIN = 10.0


@dataclass(frozen=True)
class Bug:
    """A typical learner mistake: ``old`` replaced by ``new`` in solution cell ``cell``."""

    name: str
    cell: str  # grade_id of the solution cell
    old: str  # exact substring of that cell's solution code (must occur exactly once)
    new: str
    caught_by: str  # grade_id of the test cell whose visible part must fail
    message_contains: str  # substring of the AssertionError message
    # Later test cells that the bug also breaks (their code uses the buggy function): each must
    # fail with "先に <caught_by> を直してください" (autograder.checks.upstream_first) first.
    cascades: tuple[str, ...] = ()


def all_specs() -> list[ModuleType]:
    """Every spec module, sorted by notebook."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(modules, key=lambda m: m.NOTEBOOK)


def spec_for(notebook: str) -> ModuleType:
    """The spec module of ``notebook`` ("day4/4_1_batch_normalization_layer")."""
    for module in all_specs():
        if module.NOTEBOOK == notebook:
            return module
    raise KeyError(f"no grading spec for notebook {notebook!r}")


def apply_bugs(code: str, cell: str, bugs: list[Bug]) -> str:
    """``code`` of solution cell ``cell`` with every bug aimed at that cell applied."""
    for bug in bugs:
        if bug.cell != cell:
            continue
        count = code.count(bug.old)
        if count != 1:
            raise ValueError(
                f"bug {bug.name!r}: {bug.old!r} occurs {count} times in cell {cell!r}, "
                "expected once"
            )
        code = code.replace(bug.old, bug.new)
    return code
