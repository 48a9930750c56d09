"""course.gradcheck: numerical gradient, relative error, layer check, directional check."""

import numpy as np
import pytest

from course.gradcheck import (
    THRESHOLDS,
    check_layer,
    directional_check,
    numerical_gradient,
    rel_error,
)
from course.layers import Affine, Layer


def test_numerical_gradient_of_sum_of_cubes_is_three_x_squared():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    assert rel_error(grad, 3 * x**2) < 1e-9


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(0).standard_normal((2, 3))
    before = x.copy()
    numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.ones(3)

    def f():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, np.ones(3))


def test_numerical_gradient_rejects_float32():
    x = np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: float(np.sum(x)), x)


def test_rel_error_is_max_abs_difference_over_max_abs_sum():
    a = np.array([1.0, -2.0, 3.0])
    b = np.array([1.5, -2.0, 2.0])
    # max|a-b| = 1.0; max(|a|+|b|) = 5.0
    assert rel_error(a, b) == pytest.approx(1.0 / 5.0)


def test_rel_error_uses_a_1e_8_floor_for_tiny_gradients():
    assert rel_error(np.array([0.0]), np.array([1e-10])) == pytest.approx(1e-10 / 1e-8)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0


def test_rel_error_rejects_different_shapes():
    with pytest.raises(ValueError):
        rel_error(np.zeros((3, 1)), np.zeros(3))


def test_thresholds_are_the_course_design_values():
    assert THRESHOLDS == {
        "dx": 1e-7,
        "param": 1e-7,
        "gamma_beta": 1e-8,
        "dropout": 1e-9,
        "net": 1e-4,
        "forward_rtol": 1e-6,
        "forward_atol": 1e-8,
    }


def _affine(seed=0):
    r = np.random.default_rng(seed)
    return Affine(r.standard_normal((4, 3)), r.standard_normal(3))


def test_check_layer_returns_small_errors_for_a_correct_layer():
    x = np.random.default_rng(1).standard_normal((5, 4))
    errors = check_layer(_affine(), x)
    assert set(errors) == {"dx", "dW", "db"}
    assert max(errors.values()) < 1e-9


def test_check_layer_leaves_analytic_grads_of_the_unperturbed_input_in_the_layer():
    x = np.random.default_rng(1).standard_normal((5, 4))
    layer = _affine()
    check_layer(layer, x)
    assert layer.grads["W"].shape == (4, 3)
    np.testing.assert_array_equal(layer.x, x)


class _DoubledDx(Affine):
    """An Affine layer whose backward returns 2 * dx (a deliberate bug)."""

    def backward(self, dout):
        return 2 * super().backward(dout)


class _DoubledDW(Affine):
    """An Affine layer whose dW is off by a factor 2 (a deliberate bug)."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = 2 * self.grads["W"]
        return dx


def test_check_layer_names_dx_when_backward_is_off_by_factor_two():
    r = np.random.default_rng(0)
    layer = _DoubledDx(r.standard_normal((4, 3)), r.standard_normal(3))
    with pytest.raises(AssertionError, match=r"dx の相対誤差 3\.3e-01 > 閾値 1e-07") as info:
        check_layer(layer, r.standard_normal((5, 4)))
    assert "dW" not in str(info.value)


def test_check_layer_names_dW_when_the_weight_gradient_is_off_by_factor_two():
    r = np.random.default_rng(0)
    layer = _DoubledDW(r.standard_normal((4, 3)), r.standard_normal(3))
    with pytest.raises(AssertionError, match="dW の相対誤差") as info:
        check_layer(layer, r.standard_normal((5, 4)))
    assert "dx の" not in str(info.value) and "db" not in str(info.value)


class _WrongShapeDb(Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] = dout.sum(axis=0, keepdims=True)  # (1, M) instead of (M,)
        return dx


def test_check_layer_reports_a_gradient_of_the_wrong_shape():
    r = np.random.default_rng(0)
    layer = _WrongShapeDb(r.standard_normal((4, 3)), r.standard_normal(3))
    with pytest.raises(AssertionError, match=r"db の shape は \(1, 3\)"):
        check_layer(layer, r.standard_normal((5, 4)))


class _Square(Layer):
    """out = x**2 with backward given by a correct rule."""

    def forward(self, x, train=True):
        self.x = x
        return x**2

    def backward(self, dout):
        return 2 * self.x * dout


def test_check_layer_uses_a_random_upstream_gradient():
    # With dout = ones a gradient that ignores dout would pass; a random dout catches it.
    class IgnoresDout(_Square):
        def backward(self, dout):
            return 2 * self.x

    x = np.random.default_rng(0).standard_normal((4, 3))
    check_layer(_Square(), x)
    with pytest.raises(AssertionError, match="dx"):
        check_layer(IgnoresDout(), x)


def test_check_layer_rejects_a_batch_smaller_than_four():
    with pytest.raises(ValueError, match="N >= 4"):
        check_layer(_Square(), np.ones((1, 3)))


def test_check_layer_rejects_float32_input():
    with pytest.raises(TypeError, match="float64"):
        check_layer(_Square(), np.ones((4, 3), dtype=np.float32))


def test_check_layer_thresholds_can_be_overridden():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(AssertionError, match="dx"):
        check_layer(_Square(), x, thresholds={"dx": 0.0})


def _quadratic_problem():
    r = np.random.default_rng(0)
    A = r.standard_normal((4, 4))
    A = A @ A.T
    params = {"W1": r.standard_normal((4, 3)), "b1": r.standard_normal(3)}

    def loss():
        return float(0.5 * np.sum(params["W1"] * (A @ params["W1"])) + np.sum(params["b1"] ** 3))

    grads = {"W1": A @ params["W1"], "b1": 3 * params["b1"] ** 2}
    return loss, params, grads


def test_directional_check_is_small_for_a_correct_gradient():
    loss, params, grads = _quadratic_problem()
    assert directional_check(loss, params, grads) < 1e-8


def test_directional_check_is_large_for_a_wrong_gradient():
    loss, params, grads = _quadratic_problem()
    grads["W1"] = 2 * grads["W1"]
    assert directional_check(loss, params, grads) > 1e-2


def test_directional_check_restores_the_parameters():
    loss, params, grads = _quadratic_problem()
    before = {k: v.copy() for k, v in params.items()}
    directional_check(loss, params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_directional_check_rejects_mismatched_keys():
    loss, params, grads = _quadratic_problem()
    del grads["b1"]
    with pytest.raises(ValueError):
        directional_check(loss, params, grads)
