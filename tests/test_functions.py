"""course.functions: activations and losses, including numerical stability."""

import warnings

import numpy as np
import pytest

from course.functions import (
    binary_cross_entropy,
    cross_entropy_error,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
)


def test_sigmoid_matches_its_formula():
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        y = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_relu_zeroes_negative_inputs_only():
    np.testing.assert_array_equal(relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])


def test_softmax_rows_are_probabilities():
    y = softmax(np.random.default_rng(0).standard_normal((4, 5)))
    assert np.all(y > 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_is_stable_for_large_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]]))
    np.testing.assert_allclose(y[0], softmax(np.array([0.0, 1.0, 2.0])), rtol=1e-12)
    np.testing.assert_allclose(y[1], softmax(np.array([0.0, -1.0, -2.0])), rtol=1e-12)


def test_softmax_works_on_the_last_axis_of_a_single_sample():
    y = softmax(np.array([1.0, 2.0, 3.0]))
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y, e / e.sum(), rtol=1e-12)


def test_cross_entropy_matches_hand_computed_value():
    y = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]])
    t = np.array([1, 0])
    expected = -(np.log(0.7 + 1e-7) + np.log(0.5 + 1e-7)) / 2
    assert cross_entropy_error(y, t) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_labels_and_one_hot_give_the_same_loss():
    y = softmax(np.random.default_rng(0).standard_normal((6, 4)))
    t = np.array([0, 3, 2, 1, 1, 0])
    assert cross_entropy_error(y, t) == pytest.approx(cross_entropy_error(y, np.eye(4)[t]))


def test_cross_entropy_is_the_mean_over_the_batch():
    y = softmax(np.random.default_rng(0).standard_normal((3, 4)))
    t = np.array([0, 3, 2])
    doubled = cross_entropy_error(np.concatenate([y, y]), np.concatenate([t, t]))
    assert doubled == pytest.approx(cross_entropy_error(y, t), rel=1e-12)


def test_cross_entropy_of_a_zero_probability_is_finite():
    assert np.isfinite(cross_entropy_error(np.array([[1.0, 0.0]]), np.array([1])))


def test_cross_entropy_accepts_a_single_sample():
    y = np.array([0.2, 0.8])
    assert cross_entropy_error(y, np.array(1)) == pytest.approx(-np.log(0.8 + 1e-7))
    assert cross_entropy_error(y, np.array([0.0, 1.0])) == pytest.approx(-np.log(0.8 + 1e-7))


def test_softmax_cross_entropy_equals_cross_entropy_of_softmax():
    x = np.random.default_rng(0).standard_normal((5, 4))
    t = np.array([0, 3, 2, 1, 1])
    # differ only by the 1e-7 inside the log of cross_entropy_error
    expected = cross_entropy_error(softmax(x), t)
    assert softmax_cross_entropy(x, t) == pytest.approx(expected, abs=1e-6)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    t = np.array([2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = softmax_cross_entropy(x, t)
    # sample 0: log-softmax of the label is -2e4; sample 1: log(1/2)
    assert loss == pytest.approx((2e4 + np.log(2)) / 2, rel=1e-12)


def test_softmax_cross_entropy_labels_and_one_hot_give_the_same_loss():
    x = np.random.default_rng(1).standard_normal((6, 4)) * 50
    t = np.array([0, 3, 2, 1, 1, 0])
    assert softmax_cross_entropy(x, t) == pytest.approx(softmax_cross_entropy(x, np.eye(4)[t]))


def test_binary_cross_entropy_matches_hand_computed_value():
    p = np.array([0.9, 0.2, 0.6])
    t = np.array([1.0, 0.0, 0.0])
    expected = -(np.log(0.9 + 1e-7) + np.log(0.8 + 1e-7) + np.log(0.4 + 1e-7)) / 3
    assert binary_cross_entropy(p, t) == pytest.approx(expected, rel=1e-12)


def test_binary_cross_entropy_rejects_shapes_that_would_broadcast():
    with pytest.raises(ValueError):
        binary_cross_entropy(np.full((4, 1), 0.5), np.zeros(4))


@pytest.mark.parametrize("fn", [sigmoid, relu, softmax])
def test_activations_keep_float32(fn):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    assert fn(x).dtype == np.float32


# --- no silent traps: targets that fit neither labels (N,) nor one-hot (N, K) raise ---------


@pytest.mark.parametrize("loss", [cross_entropy_error, softmax_cross_entropy])
def test_labels_of_shape_n_by_1_raise_instead_of_broadcasting(loss):
    rng = np.random.default_rng(0)
    scores = softmax(rng.standard_normal((4, 3)))
    t = np.array([0, 2, 1, 1])
    with pytest.raises(ValueError, match=r"t\.ravel\(\)"):
        loss(scores, t.reshape(-1, 1))
    with pytest.raises(ValueError, match="neither labels"):
        loss(scores, t[:3])
    assert loss(scores, t) == pytest.approx(loss(scores, np.eye(3)[t]))
