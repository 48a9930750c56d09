"""Every typical learner bug in autograder/specs fails a *visible* test with a pointed message.

For each bug: the solution notebook's code cells (hidden tests removed) run in order with the bug
applied to the named solution cell; every cell before the named test cell must still run, and the
test cell itself must raise an AssertionError whose message contains the expected words, by at
least ``MARGIN`` times the check's tolerance. A control run without bugs shows the visible tests
pass on the reference solution: the failure is the bug's.

Cascades: the run goes on past the failing cell (as the autograder does) up to the last of the
bug's ``cascades``; each of them, and any other test cell that fails after the first, must say
first which earlier test to fix ("先に test_x を直してください", ``upstream_first``).
"""

from __future__ import annotations

import pytest
from notebook_cells import code_cells, notebook_context, notebook_path, run_cell

from autograder.checks import UPSTREAM_PREFIX
from autograder.specs import MARGIN, Bug, all_specs, apply_bugs

SPECS = [s for s in all_specs() if notebook_path(s.NOTEBOOK).exists()]
BUG_CASES = [
    pytest.param(spec, bug, id=f"{spec.NOTEBOOK.split('/')[-1]}::{bug.name}")
    for spec in SPECS
    for bug in spec.TYPICAL_BUGS
]


class CellFailed(Exception):
    """A cell raised: which one, and what."""

    def __init__(self, grade_id: str | None, error: BaseException):
        super().__init__(f"cell {grade_id!r} raised {type(error).__name__}: {error}")
        self.grade_id, self.error = grade_id, error


def _run_until(notebook: str, bugs: list[Bug], stop_at: str | None) -> dict:
    """Run the cells (bugs applied) up to and including the test cell ``stop_at``; the namespace."""
    cells = code_cells(notebook)
    with notebook_context(notebook) as namespace:
        for cell in cells:
            if cell.is_solution:
                cell.source = apply_bugs(cell.source, cell.grade_id, bugs)
            try:
                run_cell(cell, namespace, notebook)
            except Exception as error:
                raise CellFailed(cell.grade_id, error) from error
            if stop_at is not None and cell.grade_id == stop_at:
                break
        if stop_at is None:  # the upstream re-checks (depends_on, upstream_first) pass as well
            for name, verify in namespace.items():
                if name.startswith("verify_") and callable(verify):
                    try:
                        verify()
                    except Exception as error:
                        raise CellFailed(name, error) from error
    return namespace


@pytest.mark.parametrize("spec", SPECS, ids=[s.NOTEBOOK.split("/")[-1] for s in SPECS])
def test_reference_solution_passes_every_visible_test(spec):
    """...and every quick re-check ``verify_*`` that later tests run to blame an earlier one."""
    namespace = _run_until(spec.NOTEBOOK, [], None)
    tests = {c.grade_id for c in code_cells(spec.NOTEBOOK) if c.is_test}
    for name in namespace:
        if name.startswith("verify_"):
            assert name.removeprefix("verify_") in {t.removeprefix("test_") for t in tests}, (
                f"{name} re-checks no test cell of this notebook")


@pytest.mark.parametrize("spec", SPECS, ids=[s.NOTEBOOK.split("/")[-1] for s in SPECS])
def test_each_exercise_lists_at_least_three_typical_bugs(spec):
    solution_cells = {c.grade_id for c in code_cells(spec.NOTEBOOK) if c.is_solution}
    per_cell: dict[str, int] = {}
    for bug in spec.TYPICAL_BUGS:
        assert bug.cell in solution_cells, f"{bug.name}: no solution cell {bug.cell!r}"
        per_cell[bug.cell] = per_cell.get(bug.cell, 0) + 1
    assert len(spec.TYPICAL_BUGS) >= 3
    assert all(n >= 3 for n in per_cell.values()), per_cell


@pytest.mark.parametrize("spec,bug", BUG_CASES)
def test_typical_bug_fails_a_visible_test_with_a_pointed_message(spec, bug):
    test_ids = {c.grade_id for c in code_cells(spec.NOTEBOOK) if c.is_test}
    assert bug.caught_by in test_ids, f"{bug.caught_by!r} is not a graded test cell"
    with pytest.raises(CellFailed) as caught:
        _run_until(spec.NOTEBOOK, [bug], bug.caught_by)
    failure = caught.value
    assert failure.grade_id == bug.caught_by, f"the bug broke another cell first: {failure}"
    assert isinstance(failure.error, AssertionError), f"not a test failure: {failure}"
    message = str(failure.error)
    assert bug.message_contains in message, message
    assert "ヒント" in message, f"the failure message gives no hint: {message}"
    ratio = getattr(failure.error, "ratio", None)
    assert ratio is None or ratio >= MARGIN, (
        f"caught only {ratio:.3g} times over the tolerance (at least {MARGIN:g}): {message}")


CASCADE_CASES = [
    pytest.param(spec, bug, id=f"{spec.NOTEBOOK.split('/')[-1]}::{bug.name}")
    for spec in SPECS
    for bug in spec.TYPICAL_BUGS
    if bug.cascades
]


def _failures_until(notebook: str, bugs: list[Bug], last: str) -> dict[str, BaseException]:
    """Run every cell (bugs applied) up to ``last``, going on past failures: grade_id -> error."""
    failures = {}
    with notebook_context(notebook) as namespace:
        for cell in code_cells(notebook):
            if cell.is_solution:
                cell.source = apply_bugs(cell.source, cell.grade_id, bugs)
            try:
                run_cell(cell, namespace, notebook)
            except Exception as error:  # noqa: BLE001 (recorded, as the autograder goes on)
                failures[cell.grade_id] = error
            if cell.grade_id == last:
                break
    return failures


@pytest.mark.parametrize("spec,bug", CASCADE_CASES)
def test_a_later_test_broken_by_the_bug_says_to_fix_the_earlier_one_first(spec, bug):
    tests = [c.grade_id for c in code_cells(spec.NOTEBOOK) if c.is_test]
    assert set(bug.cascades) <= set(tests), f"{bug.cascades} are not all graded test cells"
    last = max(bug.cascades, key=tests.index)
    failures = _failures_until(spec.NOTEBOOK, [bug], last)
    later = [t for t in tests[tests.index(bug.caught_by) + 1 : tests.index(last) + 1]]
    for test in bug.cascades:
        assert test in failures, f"{test} passes with the bug: remove it from cascades"
    for test in later:
        if test not in failures:
            continue
        message = str(failures[test])
        assert message.startswith(UPSTREAM_PREFIX.format(test=bug.caught_by)), (
            f"{test} fails without naming {bug.caught_by} first: {message[:300]}")
        assert "ヒント" in message, message
