"""Checks used by the tests inside the notebooks, with kind failure messages in Japanese.

Every failure names the quantity, the measured error, the threshold and a hint, e.g.::

    勾配チェック失敗 (gradient check): dgamma の相対誤差 3.2e-02 > 閾値 1e-08
    ヒント: dgamma はバッチ方向 (axis=0) に和をとります。

Thresholds come from ``course.gradcheck.THRESHOLDS`` (one source of truth).

A failure is a short box, not a traceback through this module: ``CheckFailure`` implements
IPython's ``_render_traceback_`` protocol, so a notebook (JupyterLab, nbgrader's Validate, the
error outputs nbgrader stores in the autograded notebook and hence the feedback HTML) shows the
learner's own frames (the test cell's line, and any function of theirs in between) and the
message with its hint; the frames of this module and of IPython's machinery are left out. Plain
Python (pytest, the typical-bug tests) keeps the full traceback.

A test that builds on an earlier function of the learner says so first: inside
``with upstream_first(test_forward=lambda: ...):`` a failure re-runs the quick verifications of
the named earlier tests, and if one of them fails the message starts with
``先に test_forward を直してください`` and gives that test's own message and hint instead of a
hint about this cell (which would point at the wrong function).

Each failure records ``ratio``: how many times its tolerance the measured error is (``inf`` for
an exact answer that differs, ``None`` where a condition has no scale), so that the typical-bug
tests can require a margin.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from course.gradcheck import THRESHOLDS, rel_error

FIXTURE_DIR = "fixtures"


# Frames from these files are the checking machinery, not the learner's code.
_MACHINERY = tuple(str(Path(f).resolve()) for f in (__file__, contextlib.__file__))


class CheckFailure(AssertionError):
    """A failed notebook check; the message is written for the learner.

    ``ratio``: the measured error over its tolerance (``inf`` for a wrong exact answer, ``None``
    when the check has no scale).
    """

    ratio: float | None = None
    upstream: str | None = None  # the earlier test blamed first (``upstream_first``)

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: the learner's frames and the message, none of the checking machinery."""
        return render_failure(self)


def _own_frames(tb: TracebackType | None) -> TracebackType | None:
    """A copy of ``tb`` without the frames of IPython (the cell runner) or of this module."""
    kept = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        ipython = str(Path("IPython", "core")) in filename  # the cell runner (run_code)
        machinery = ipython or str(Path(filename).resolve()) in _MACHINERY
        if not machinery:
            kept.append(tb)
        tb = tb.tb_next
    trimmed = None
    for frame in reversed(kept):
        trimmed = TracebackType(trimmed, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return trimmed


def render_failure(error: BaseException) -> list[str]:
    """The lines IPython shows for ``error``: its learner-side frames, then the message."""
    tb = _own_frames(error.__traceback__)
    shell = None
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is not None and tb is not None:
        try:
            return shell.InteractiveTB.structured_traceback(type(error), error, tb, tb_offset=0)
        except Exception:  # noqa: BLE001 (a failing formatter must not hide the message)
            pass
    import traceback

    lines = traceback.format_list(traceback.extract_tb(tb)) if tb is not None else []
    return [*(line.rstrip("\n") for line in lines), f"{type(error).__name__}: {error}"]


def _fail(headline: str, hint: str | None, ratio: float | None = None) -> None:
    message = headline if not hint else f"{headline}\nヒント: {hint}"
    failure = CheckFailure(message)
    failure.ratio = ratio
    declared = _declared_upstream()
    if declared:
        failure = _blame_upstream(failure, declared) or failure
    raise failure from None  # no "during handling of ..." chain through the checks


UPSTREAM_PREFIX = "先に {test} を直してください"


def _the(name: str, particle: str) -> str:
    """``name`` followed by a particle: a space after code or Latin text ("dx の"), none after
    Japanese ("重みの名前が"), as Japanese is written."""
    ascii_end = name[-1:].isascii() if name else True
    return f"{name} {particle}" if ascii_end else f"{name}{particle}"


# What each check's message says the failed quantity is (the formats of the _fail calls below):
# the feedback of a failed hidden test names it without the message's numbers.
_QUANTITY = [re.compile(p) for p in (
    r"\(reference output\): (.+?) ?の誤差は",
    r"\(gradient check\): (.+?) ?の相対誤差",
    r"形状 \(shape\) が違います: (.+?) ?の shape は",
    r"^(.+?) ?に nan または inf が含まれています",
    r"^(.+?) ?の型 \(type\) が違います",
    r"^(.+?) ?が違います: あなたの答え",
)]


def failed_quantity(message: str) -> str | None:
    """The quantity a check's failure ``message`` names ("dx (非公開)"), or None (a free-text
    check_true message, another error)."""
    headline = message.strip().partition("\n")[0]
    for pattern in _QUANTITY:
        found = pattern.search(headline)
        if found:
            return found.group(1)
    return None


def _headline_and_hint(error: BaseException) -> tuple[str, str | None]:
    """The first line of ``error``'s message (with its type unless it is ours), and its hint."""
    text = str(error).strip()
    headline, _, rest = text.partition("\n")
    if not isinstance(error, CheckFailure):
        headline = f"{type(error).__name__}: {headline}".rstrip(": ")
    hint = rest.partition("ヒント: ")[2].strip() or None
    return headline, hint


def _blame_upstream(
    error: BaseException, verifications: dict[str, Callable[[], Any]]
) -> CheckFailure | None:
    """The first failing verification turned into "先に test_x を直してください", or None."""
    global _verifying
    if _verifying:  # a verification's own failure is reported as it is
        return None
    _verifying = True
    try:
        for test, verify in verifications.items():
            try:
                verify()
            except Exception as upstream:  # noqa: BLE001 (NotImplementedError, shapes, ...)
                headline, hint = _headline_and_hint(upstream)
                own, _ = _headline_and_hint(error)
                hint = hint or f"{test} のセルを実行し、そのメッセージに従って直してください。"
                failure = CheckFailure(
                    f"{UPSTREAM_PREFIX.format(test=test)}: このセルは {test} で確かめる関数を"
                    f"使うので、その誤りがここにも現れます。\n{test} の確認結果: {headline}\n"
                    f"ヒント: {hint}"
                    f"\n(このセルのテストの結果: {own})"
                )
                failure.ratio = getattr(error, "ratio", None)
                failure.upstream = test
                return failure
        return None
    finally:
        _verifying = False


_verifying = False
# Test cells that declared their earlier tests (``depends_on``), by the file name of their code.
_DEPENDS: dict[str, dict[str, Callable[[], Any]]] = {}


@contextmanager
def upstream_first(**verifications: Callable[[], Any]) -> Iterator[None]:
    """Blame an earlier test first: ``with upstream_first(test_x=verify_x, ...): <checks>``.

    Each keyword names an earlier test cell and gives a quick verification of the function that
    test checks (a ``check_*`` call on the learner's current code, or any callable that raises
    when it is wrong). Only when the block fails are they run, in order; the first that fails
    turns the failure into ``先に test_x を直してください`` with that verification's own message
    and hint. When they all pass the block's own failure goes out unchanged.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 (a crash can also come from an upstream bug)
        blamed = getattr(error, "upstream", None)
        failure = None if blamed else _blame_upstream(error, verifications)
        if failure is not None:
            raise failure from None
        raise


def depends_on(**verifications: Callable[[], Any]) -> None:
    """``upstream_first`` as one line at the top of a test cell, without indenting the cell.

    The verifications are registered for the calling cell (by its code's file name: each
    notebook cell has its own); a check that fails later in that cell runs them first, as
    ``upstream_first`` does. Only failing checks are blamed on an earlier test (a crash of the
    learner's code is reported as it is).
    """
    _DEPENDS[sys._getframe(1).f_code.co_filename] = verifications


def _declared_upstream() -> dict[str, Callable[[], Any]] | None:
    frame = sys._getframe(2)
    while frame is not None:
        found = _DEPENDS.get(frame.f_code.co_filename)
        if found is not None:
            return found
        frame = frame.f_back
    return None


def load_fixture(stem: str, folder: str | Path | None = None) -> dict[str, np.ndarray]:
    """Reference arrays for notebook ``stem``, from ``fixtures/<stem>.npz`` beside the notebook."""
    base = Path(folder) if folder is not None else Path.cwd()
    path = base / FIXTURE_DIR / f"{stem}.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"参照データ (fixture) {path} が見つかりません。ノートブックと同じフォルダの "
            f"{FIXTURE_DIR}/ を消していませんか? 課題を配布し直してもらってください。"
        )
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _as_array(name: str, value: Any) -> np.ndarray:
    if value is None:
        _fail(
            f"{_the(name, 'が')} None です。値を return していますか?",
            "関数の最後に return を書き忘れていないか確認してください。",
            ratio=float("inf"),
        )
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        kind = type(value).__name__
        _fail(f"{_the(name, 'を')}数値の配列 (ndarray) に変換できません: 型は {kind} です。", None,
              ratio=float("inf"))
    raise AssertionError("unreachable")  # pragma: no cover


def check_shape(
    name: str, actual: Any, expected_shape: tuple[int, ...], hint: str | None = None
) -> None:
    """``actual`` has ``expected_shape``."""
    try:  # the shape of the data, not what an object's own ``shape`` or __array_function__ says
        shape = np.asarray(actual).shape
    except (TypeError, ValueError):
        shape = "(不定 (undefined))"
    if tuple(shape) != tuple(expected_shape):
        _fail(
            f"形状 (shape) が違います: {_the(name, 'の')} shape は {shape}、"
            f"期待値は {tuple(expected_shape)}",
            hint,
            ratio=float("inf"),
        )


def check_close(
    name: str,
    actual: Any,
    expected: Any,
    hint: str | None = None,
    rtol: float = THRESHOLDS["forward_rtol"],
    atol: float = THRESHOLDS["forward_atol"],
) -> None:
    """``actual`` equals the reference ``expected`` elementwise within ``rtol``/``atol``."""
    a = _as_array(name, actual)
    e = np.asarray(expected, dtype=np.float64)
    check_shape(name, a, e.shape, hint)
    if not np.all(np.isfinite(a)):
        _fail(f"{_the(name, 'に')} nan または inf が含まれています (数値が発散しています)", hint,
              ratio=float("inf"))
    excess = np.abs(a - e) - (atol + rtol * np.abs(e))
    if np.any(excess > 0):
        worst = int(np.argmax(excess))
        err = float(np.max(np.abs(a - e) / (atol + rtol * np.abs(e))))
        if e.shape:  # an array: which element is worst
            idx = tuple(int(i) for i in np.unravel_index(worst, e.shape))
            where = f"最も大きくずれた要素 {idx}: "
        else:  # a scalar has no index to show
            where = ""
        _fail(
            f"参照値と一致しません (reference output): {_the(name, 'の')}誤差は"
            f"許容幅の {err:.1e} 倍 (rtol={rtol:g}, atol={atol:g})。{where}"
            f"値 {a.flat[worst]:.6g}、参照値 {e.flat[worst]:.6g}",
            hint,
            ratio=err,
        )


def check_gradient(
    name: str,
    analytic: Any,
    numeric: Any,
    threshold: float = THRESHOLDS["dx"],
    hint: str | None = None,
) -> float:
    """The analytic gradient ``analytic`` matches the numerical gradient: rel_error < threshold."""
    a = _as_array(name, analytic)
    n = np.asarray(numeric, dtype=np.float64)
    check_shape(name, a, n.shape, hint)
    err = rel_error(a, n)
    if not np.isfinite(err) or err >= threshold:
        _fail(
            f"勾配チェック失敗 (gradient check): {_the(name, 'の')}相対誤差 {err:.1e} "
            f"> 閾値 {threshold:.0e}",
            hint,
            ratio=err / threshold if np.isfinite(err) else float("inf"),
        )
    return err


_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def _plain(value: Any) -> Any:
    """``value`` as built-in data (numpy scalars and 0-d arrays unwrapped, containers rebuilt), so
    that comparing it runs no ``__eq__`` of the learner's own types."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    if type(value) in _PLAIN_SCALARS:
        return value
    for base in _PLAIN_SCALARS[:-1]:
        if isinstance(value, base):
            return base(value)
    for kind in (tuple, list, set, frozenset):
        if isinstance(value, kind):
            return kind(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def check_value(name: str, actual: Any, expected: Any, hint: str | None = None) -> None:
    """``actual == expected`` for exact answers (sets, integers, strings, booleans), compared as
    built-in data: an object whose ``__eq__`` says yes to everything is no answer."""
    try:
        answer = _plain(actual)
    except TypeError as error:
        _fail(f"{_the(name, 'の')}型 (type) が違います: {error} ではなく数値・文字列・集合などで"
              "答えてください。", hint)
    if answer != _plain(expected):
        _fail(f"{_the(name, 'が')}違います: あなたの答え {actual!r}", hint, ratio=float("inf"))


def check_true(condition: bool, message: str, hint: str | None = None) -> None:
    """``condition`` holds; ``message`` says in Japanese what was expected."""
    if not bool(condition):
        _fail(message, hint)
