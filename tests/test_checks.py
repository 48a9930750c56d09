"""Notebook checks fail with kind Japanese messages: quantity, error, threshold, hint."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import (
    CheckFailure,
    check_close,
    check_gradient,
    check_shape,
    check_true,
    check_value,
    load_fixture,
)


def test_check_close_passes_equal_arrays_and_names_the_worst_element_otherwise():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    check_close("out", x.copy(), x)
    y = x.copy()
    y[2, 1] += 1e-3
    with pytest.raises(CheckFailure) as caught:
        check_close("out", y, x, hint="平均を引きましたか?")
    message = str(caught.value)
    assert "out" in message and "(2, 1)" in message and "rtol=1e-06" in message
    assert message.splitlines()[-1] == "ヒント: 平均を引きましたか?"


def test_check_close_reports_shape_mismatch_and_nan():
    with pytest.raises(CheckFailure, match="形状"):
        check_close("out", np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(CheckFailure, match="nan"):
        check_close("out", np.array([np.nan, 1.0]), np.array([0.0, 1.0]))


def test_check_close_says_when_nothing_was_returned():
    with pytest.raises(CheckFailure, match="None"):
        check_close("dx", None, np.zeros(3))


def test_check_gradient_reports_relative_error_and_threshold():
    g = np.array([1.0, 2.0, 3.0])
    assert check_gradient("dW", g, g + 1e-12, threshold=1e-7) < 1e-7
    with pytest.raises(CheckFailure) as caught:
        check_gradient("dgamma", 2 * g, g, threshold=1e-8, hint="axis=0 で和をとります")
    first = str(caught.value).splitlines()[0]
    assert first == "勾配チェック失敗 (gradient check): dgamma の相対誤差 3.3e-01 > 閾値 1e-08"


def test_check_value_does_not_reveal_the_expected_answer():
    with pytest.raises(CheckFailure) as caught:
        check_value("BN だけが学習できたスケール", {0.1}, {0.01, 0.001})
    assert "0.01" not in str(caught.value)


def test_check_shape_and_check_true():
    check_shape("out", np.zeros((2, 3)), (2, 3))
    with pytest.raises(CheckFailure):
        check_shape("out", np.zeros((2, 3)), (3, 2))
    check_true(True, "never shown")
    with pytest.raises(CheckFailure, match="期待"):
        check_true(False, "期待した値ではありません")


def test_load_fixture_reads_npz_beside_the_notebook_and_explains_a_missing_one(tmp_path):
    (tmp_path / "fixtures").mkdir()
    np.savez(tmp_path / "fixtures" / "demo.npz", a=np.arange(3))
    assert load_fixture("demo", tmp_path)["a"].tolist() == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="fixture"):
        load_fixture("missing", tmp_path)
