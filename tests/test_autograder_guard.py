"""The guard's snapshot, in this process (no kernel): what counts as a change, what is put back."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

import autograder.checks
import course.gradcheck
import course.layers
from autograder import guard
from autograder.execution import GuardPlan, with_prologue
from autograder.guard import _MISSING, Snapshot, _fingerprint, _Watch


@pytest.fixture
def snapshot():
    taken = Snapshot(None)
    yield taken
    taken.restore()


@pytest.fixture(params=["version tags", "no version tags"])
def checkpoint_snapshot(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """A snapshot whose checkpoints skip the namespaces not written since they were last found
    unchanged (dictionary version tags), and one that compares every namespace each time (an
    interpreter where the tags cannot be trusted): both must see the same changes."""
    if request.param == "no version tags":
        monkeypatch.setattr(guard, "_versions_move", lambda: False)
    taken = Snapshot(None)
    assert bool(taken.version_views) == (request.param == "version tags")
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


def test_the_quick_comparison_sees_what_the_full_one_sees(checkpoint_snapshot: Snapshot):
    """The checkpoints' comparison (``changed_now``): a module attribute, a constant, a
    ``sys.modules`` entry; a value the test's own code set (granted) is not a change."""
    snapshot = checkpoint_snapshot
    watch = _Watch(snapshot)
    assert snapshot.changed_now(watch) == []
    original = autograder.checks._fail
    vars(autograder.checks)["_fail"] = stand_in = lambda *a, **k: None  # noqa: E731
    course.gradcheck.THRESHOLDS["dx"] = 1.0
    assert {"autograder.checks._fail", "course.gradcheck.THRESHOLDS"} \
        <= set(snapshot.changed_now(watch))
    watch.grant(vars(autograder.checks), "_fail", stand_in)
    assert "autograder.checks._fail" not in snapshot.changed_now(watch)
    snapshot.restore()
    assert autograder.checks._fail is original and snapshot.changed_now(watch) == []


class _ClaimsEquality:
    """A stand-in that says it equals anything: the checkpoints compare identity, not ``==``."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def test_the_quick_comparison_compares_identity_and_sees_closures_and_deletions(
        checkpoint_snapshot: Snapshot):
    """``changed_now`` first compares every namespace and closure at once, identity only, and
    looks entry by entry when anything differs: a stand-in whose ``==`` says True, a deleted
    entry and a closure cell changed in place are each seen."""
    snapshot = checkpoint_snapshot
    watch = _Watch(snapshot)
    assert snapshot.changed_now(watch) == []
    namespace = vars(autograder.checks)
    original = namespace["check_close"]
    namespace["check_close"] = _ClaimsEquality()
    assert "autograder.checks.check_close" in snapshot.changed_now(watch)
    namespace["check_close"] = original
    del namespace["check_true"]
    assert "autograder.checks.check_true" in snapshot.changed_now(watch)
    snapshot.restore()
    assert snapshot.changed_now(watch) == []
    state = next(s for s in snapshot.closures if any(v is not _MISSING for v in s.cells))
    index = next(i for i, v in enumerate(state.cells) if v is not _MISSING)
    cell = state.fn.__closure__[index]
    saved = cell.cell_contents
    cell.cell_contents = _ClaimsEquality()
    assert f"{state.fn.__module__}.{state.fn.__qualname__} (closure)" \
        in snapshot.changed_now(watch)
    cell.cell_contents = saved
    assert snapshot.changed_now(watch) == []


def test_version_tags_are_trusted_on_the_interpreters_that_keep_them():
    """CPython 3.11 and 3.12 move a dict's version tag at every write (``_versions_move`` proves
    it on the running interpreter); elsewhere the checkpoints compare every namespace."""
    kept = sys.implementation.name == "cpython" and sys.version_info[:2] in ((3, 11), (3, 12))
    assert guard._versions_move() is kept
    if kept:
        snapshot = Snapshot(None)
        assert len(snapshot.version_views) == len(snapshot.tagged) == len(snapshot.versions)
        assert sorted(snapshot.tagged + snapshot.untagged) == list(range(len(snapshot.quick)))
        for i in snapshot.untagged:  # only what has no plain dict behind it goes untagged
            assert guard._real_dict(snapshot.quick[i][0].namespace) is None


def test_a_class_without_a_plain_dict_is_compared_at_every_checkpoint(
        checkpoint_snapshot: Snapshot):
    """A ctypes class keeps its attributes in a dict subclass (no trusted tag): a patch of it
    is still seen, with version tags or without."""
    import numpy.ctypeslib  # noqa: F401 (numpy's ctypes classes, in every kernel's numpy)

    ndptr = np.ctypeslib._ctypeslib._ndptr
    snapshot = Snapshot(None) if "numpy.ctypeslib._ctypeslib._ndptr" not in {
        m.label for m, *_ in checkpoint_snapshot.quick} else checkpoint_snapshot
    label = "numpy.ctypeslib._ctypeslib._ndptr"
    index = next(i for i, (m, *_) in enumerate(snapshot.quick) if m.label == label)
    assert index not in snapshot.tagged
    watch = _Watch(snapshot)
    assert snapshot.changed_now(watch) == []
    original = vars(ndptr)["from_param"]
    ndptr.from_param = classmethod(lambda cls, obj: obj)
    try:
        assert snapshot.changed_now(watch) == [f"{label}.from_param"]
    finally:
        ndptr.from_param = original
    assert snapshot.changed_now(watch) == []


def test_a_write_after_a_clean_checkpoint_is_seen_at_the_next(checkpoint_snapshot: Snapshot):
    """A checkpoint that found a namespace unchanged remembers its version tag; every way of
    writing it afterwards (a function's ``__globals__``, ``setattr`` on a class, a name the module
    rebinds itself and then another entry of the same module) is still seen at the next one."""
    snapshot = checkpoint_snapshot
    watch = _Watch(snapshot)
    assert snapshot.changed_now(watch) == []
    namespace = autograder.checks.check_close.__wrapped__.__globals__ \
        if hasattr(autograder.checks.check_close, "__wrapped__") \
        else autograder.checks.check_close.__globals__
    original = namespace["_fail"]
    namespace["_fail"] = lambda *a, **k: None
    assert snapshot.changed_now(watch) == ["autograder.checks._fail"]
    assert snapshot.changed_now(watch) == ["autograder.checks._fail"]  # still there: still seen
    namespace["_fail"] = original
    assert snapshot.changed_now(watch) == []

    forward = course.layers.Affine.forward
    course.layers.Affine.forward = lambda self, x: x
    try:
        assert snapshot.changed_now(watch) == ["course.layers.Affine.forward"]
    finally:
        course.layers.Affine.forward = forward
    assert snapshot.changed_now(watch) == []

    # ``_verifying`` is rebound by autograder.checks itself (``global``): not a change, and the
    # module's new tag is remembered; a patch of another of its entries after that is seen.
    verifying = namespace["_verifying"]
    namespace["_verifying"] = not verifying
    assert snapshot.changed_now(watch) == []
    namespace["_verifying"] = verifying
    assert snapshot.changed_now(watch) == []
    check_true = namespace["check_true"]
    namespace["check_true"] = _ClaimsEquality()
    try:
        assert snapshot.changed_now(watch) == ["autograder.checks.check_true"]
    finally:
        namespace["check_true"] = check_true
    assert snapshot.changed_now(watch) == []


def test_locked_cells_get_the_recording_prologue():
    from nbformat.v4 import new_code_cell, new_notebook

    def cell(source: str, **flags: object):
        meta = {"grade": False, "solution": False, "locked": True, "grade_id": source[:4]}
        meta.update(flags)
        return new_code_cell(source, metadata={"nbgrader": meta})

    nb = new_notebook(cells=[cell("import numpy as np"), cell("def f(x):\n    return x",
                                                              solution=True, locked=False),
                             cell("histories = f(1)"), cell("histories = 2", locked=False),
                             cell("assert histories == 1", grade=True, points=1)])
    plan = GuardPlan(nb)
    assert plan.locked == {0, 2}
    assert plan.source(0, None, "import numpy as np").endswith("guard.cell(); import numpy as np")
    assert plan.source(2, None, "histories = f(1)").endswith(".guard.cell(); histories = f(1)")
    assert plan.source(3, None, "histories = 2") is None


@pytest.mark.parametrize(("value", "followed"), [
    ({"loss": [1.0, 2.0], "acc": (np.float64(0.5), None)}, True),
    (np.arange(6.0).reshape(2, 3), True),
    (np.array([object()], dtype=object), False),
    (course.layers.ReLU(), False),  # a learner-facing object: identity only, none of its code run
])
def test_locked_results_are_followed_by_content_only_for_plain_data(value, followed: bool):
    found = _fingerprint(value)
    assert (found is not None) is followed
    if followed:
        changed = copy.deepcopy(value)
        if isinstance(changed, dict):
            changed["loss"][0] = 3.0
        else:
            changed[0, 0] = -1.0
        assert _fingerprint(changed)[0] != found[0]
        assert _fingerprint(copy.deepcopy(value))[0] == found[0]
