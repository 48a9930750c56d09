"""The guard's snapshot, in this process (no kernel): what counts as a change, what is put back."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import autograder.checks
import course.gradcheck
import course.layers
from autograder.execution import with_prologue
from autograder.guard import Snapshot


@pytest.fixture
def snapshot():
    taken = Snapshot(None)
    yield taken
    taken.restore()


def test_unchanged_modules_show_no_change(snapshot: Snapshot):
    assert snapshot.diff() == ([], [])


def test_deepcopy_caching_slotnames_on_a_class_is_not_a_change():
    """copyreg puts ``__slotnames__`` on a class the first time one of its objects is copied
    (it broke 5_3's reference grade: its tests deep-copy networks)."""
    fresh = type("Fresh", (course.layers.ReLU,), {"__module__": "course.layers"})
    course.layers.Fresh = fresh
    try:
        snapshot = Snapshot(None)
        copy.deepcopy(fresh())
        assert "__slotnames__" in vars(fresh)
        assert snapshot.diff() == ([], [])
    finally:
        del course.layers.Fresh


def test_replaced_numpy_function_is_reported_and_put_back(snapshot: Snapshot):
    original = np.allclose
    np.allclose = lambda *a, **k: True
    assert "numpy.allclose" in snapshot.diff()[0]
    snapshot.restore()
    assert np.allclose is original


def test_swapped_code_object_is_reported_and_put_back(snapshot: Snapshot):
    code = autograder.checks.check_close.__code__
    autograder.checks.check_close.__code__ = (lambda *a, **k: None).__code__
    assert any("check_close (code)" in name for name in snapshot.diff()[0])
    snapshot.restore()
    assert autograder.checks.check_close.__code__ is code


def test_mutated_threshold_is_put_back_in_place(snapshot: Snapshot):
    thresholds = course.gradcheck.THRESHOLDS
    before = dict(thresholds)
    thresholds["dx"] = 1e9
    assert "course.gradcheck.THRESHOLDS" in snapshot.diff()[0]
    snapshot.restore()
    assert course.gradcheck.THRESHOLDS is thresholds and thresholds == before


def test_method_added_to_a_reference_class_is_reported_and_removed(snapshot: Snapshot):
    course.layers.Affine.__eq__ = lambda self, other: True
    assert any(name.endswith("Affine.__eq__") for name in snapshot.diff()[0])
    snapshot.restore()
    assert "__eq__" not in vars(course.layers.Affine)


@pytest.mark.parametrize(("source", "expected"), [
    ("x = 1\ny = 2", "P; x = 1\ny = 2"),
    ("# note\nx = 1", "P;  # note\nx = 1"),
    ("\nx = 1", "P\nx = 1"),
    ("for i in range(2):\n    pass", "P\nfor i in range(2):\n    pass"),
    ("%time x = 1", "P\n%time x = 1"),
])
def test_prologue_keeps_line_numbers_when_it_can(source: str, expected: str):
    assert with_prologue(source, "P") == expected
