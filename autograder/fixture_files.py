"""``fixtures [--check]``: reference arrays of the visible tests, ``<day>/fixtures/<stem>.npz``.

Each spec module's ``make_fixtures()`` computes them from the reference library. Files are written
byte-reproducibly (``np.savez`` stamps zip members with the current time, so a rewrite would
always show in git) and only when the arrays changed. ``--check`` compares arrays, not bytes,
with a tolerance far below any test threshold, so that the last bits of BLAS results on another
machine do not count as a stale fixture.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np

from autograder.config import Course
from autograder.specs import all_specs

# Far below every threshold in course.gradcheck.THRESHOLDS; far above float64 round-off noise.
STALE_RTOL = 1e-12
STALE_ATOL = 1e-14
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def fixture_path(course: Course, spec: ModuleType) -> Path:
    """``solutions/<day>/fixtures/<stem>.npz`` for spec ``NOTEBOOK = "<day>/<stem>"``."""
    day, stem = spec.NOTEBOOK.split("/")
    return course.source_dir / day / "fixtures" / f"{stem}.npz"


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` format, with fixed member timestamps and order (same arrays, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def differences(expected: dict[str, np.ndarray], stored: dict[str, np.ndarray]) -> list[str]:
    """How ``stored`` differs from freshly computed ``expected`` (empty: up to date)."""
    problems = [f"missing array {k!r}" for k in sorted(set(expected) - set(stored))]
    problems += [f"extra array {k!r}" for k in sorted(set(stored) - set(expected))]
    for key in sorted(set(expected) & set(stored)):
        new, old = np.asarray(expected[key]), stored[key]
        if new.shape != old.shape or new.dtype != old.dtype:
            problems.append(f"{key}: {old.dtype}{old.shape} stored, {new.dtype}{new.shape} now")
        elif new.dtype.kind in "fc":
            if not np.allclose(old, new, rtol=STALE_RTOL, atol=STALE_ATOL, equal_nan=True):
                worst = float(np.max(np.abs(old - new))) if old.size else 0.0
                problems.append(f"{key}: values differ (max abs difference {worst:.3g})")
        elif not np.array_equal(old, new):
            problems.append(f"{key}: values differ")
    return problems


def write_fixtures(course: Course, specs: list[ModuleType] | None = None) -> list[Path]:
    """Write every spec's fixtures whose arrays changed; returns the files written."""
    written = []
    for spec in all_specs() if specs is None else specs:
        path = fixture_path(course, spec)
        arrays = spec.make_fixtures()
        if path.exists() and not differences(arrays, read_npz(path)):
            continue
        write_npz(path, arrays)
        written.append(path)
    return written


def check_fixtures(course: Course, specs: list[ModuleType] | None = None) -> dict[Path, list[str]]:
    """Stale or missing fixture files, each with what differs (empty dict: all up to date)."""
    stale = {}
    for spec in all_specs() if specs is None else specs:
        path = fixture_path(course, spec)
        if not path.exists():
            stale[path] = ["file missing (run: python -m autograder fixtures)"]
            continue
        problems = differences(spec.make_fixtures(), read_npz(path))
        if problems:
            stale[path] = problems
    return stale
