"""Checks used by the tests inside the notebooks, with kind failure messages in Japanese.

Every failure names the quantity, the measured error, the threshold and a hint, e.g.::

    勾配チェック失敗 (gradient check): dgamma の相対誤差 3.2e-02 > 閾値 1e-08
    ヒント: dgamma はバッチ方向 (axis=0) に和をとります。

Thresholds come from ``course.gradcheck.THRESHOLDS`` (one source of truth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from course.gradcheck import THRESHOLDS, rel_error

FIXTURE_DIR = "fixtures"


class CheckFailure(AssertionError):
    """A failed notebook check; the message is written for the learner."""


def _fail(headline: str, hint: str | None) -> None:
    message = headline if not hint else f"{headline}\nヒント: {hint}"
    raise CheckFailure(message)


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
            f"{name} が None です。値を return していますか?",
            "関数の最後に return を書き忘れていないか確認してください。",
        )
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        kind = type(value).__name__
        _fail(f"{name} を数値の配列 (ndarray) に変換できません: 型は {kind} です。", None)
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
            f"形状 (shape) が違います: {name} の shape は {shape}、"
            f"期待値は {tuple(expected_shape)}",
            hint,
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
        _fail(f"{name} に nan または inf が含まれています (数値が発散しています)", hint)
    excess = np.abs(a - e) - (atol + rtol * np.abs(e))
    if np.any(excess > 0):
        worst = int(np.argmax(excess))
        err = float(np.max(np.abs(a - e) / (atol + rtol * np.abs(e))))
        idx = np.unravel_index(worst, e.shape) if e.shape else ()
        _fail(
            f"参照値と一致しません (reference output): {name} の誤差は許容幅の {err:.1e} 倍 "
            f"(rtol={rtol:g}, atol={atol:g})。最も大きくずれた要素 {tuple(int(i) for i in idx)}: "
            f"値 {a.flat[worst]:.6g}、参照値 {e.flat[worst]:.6g}",
            hint,
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
            f"勾配チェック失敗 (gradient check): {name} の相対誤差 {err:.1e} "
            f"> 閾値 {threshold:.0e}",
            hint,
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
        _fail(f"{name} の型 (type) が違います: {error} ではなく数値・文字列・集合などで答えて"
              "ください。", hint)
    if answer != _plain(expected):
        _fail(f"{name} が違います: あなたの答え {actual!r}", hint)


def check_true(condition: bool, message: str, hint: str | None = None) -> None:
    """``condition`` holds; ``message`` says in Japanese what was expected."""
    if not bool(condition):
        _fail(message, hint)
