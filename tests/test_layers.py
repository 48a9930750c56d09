"""course.layers: gradients, the no-side-effect contract for every layer, and dropout."""

import inspect

import numpy as np
import pytest

from course.conv import AvgPool2D, Conv2D, GlobalAvgPool, MaxPool2D
from course.gradcheck import THRESHOLDS, check_layer
from course.layers import (
    Affine,
    Dropout,
    Flatten,
    Layer,
    ReLU,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from course.normalization import (
    BatchNormalization,
    GroupNormalization,
    InstanceNormalization,
    LayerNormalization,
)


def _rng():
    return np.random.default_rng(1234)


# Every layer of the library: name -> (factory(dtype) -> layer, input shape).
def _affine(dtype):
    r = _rng()
    return Affine(r.standard_normal((12, 5)).astype(dtype), r.standard_normal(5).astype(dtype))


def _norm(cls, c, **kw):
    def make(dtype):
        r = _rng()
        return cls(r.standard_normal(c).astype(dtype), r.standard_normal(c).astype(dtype), **kw)

    return make


def _conv(dtype):
    r = _rng()
    w = r.standard_normal((4, 3, 3, 3)).astype(dtype)
    return Conv2D(w, r.standard_normal(4).astype(dtype), stride=1, pad=1)


ALL_LAYERS = {
    "Affine": (_affine, (6, 3, 4)),
    "ReLU": (lambda dtype: ReLU(), (6, 7)),
    "Sigmoid": (lambda dtype: Sigmoid(), (6, 7)),
    "Tanh": (lambda dtype: Tanh(), (6, 7)),
    "Flatten": (lambda dtype: Flatten(), (6, 2, 3, 2)),
    "Dropout": (lambda dtype: Dropout(0.4, seed=0), (6, 7)),
    "Dropout-inverted": (lambda dtype: Dropout(0.4, inverted=True, seed=0), (6, 7)),
    "BatchNormalization": (_norm(BatchNormalization, 7), (6, 7)),
    "BatchNormalization-4d": (_norm(BatchNormalization, 3), (6, 3, 4, 4)),
    "LayerNormalization": (_norm(LayerNormalization, 7), (6, 7)),
    "InstanceNormalization": (_norm(InstanceNormalization, 3), (6, 3, 4, 4)),
    "GroupNormalization": (_norm(GroupNormalization, 4, num_groups=2), (6, 4, 3, 3)),
    "Conv2D": (_conv, (6, 3, 5, 5)),
    "MaxPool2D": (lambda dtype: MaxPool2D(2, 2, stride=2), (6, 3, 4, 4)),
    "AvgPool2D": (lambda dtype: AvgPool2D(2, 2, stride=2), (6, 3, 4, 4)),
    "GlobalAvgPool": (lambda dtype: GlobalAvgPool(), (6, 3, 4, 4)),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("name", sorted(ALL_LAYERS))
def test_layer_does_not_modify_its_input_nor_dout(name, train):
    factory, shape = ALL_LAYERS[name]
    layer = factory(np.float64)
    r = _rng()
    x = r.standard_normal(shape)
    x_before = x.copy()
    out = layer.forward(x, train=train)
    dout = r.standard_normal(out.shape)
    dout_before = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


@pytest.mark.parametrize("name", sorted(ALL_LAYERS))
def test_layer_works_in_the_dtype_of_its_input(name):
    factory, shape = ALL_LAYERS[name]
    layer = factory(np.float32)
    x = _rng().standard_normal(shape).astype(np.float32)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == np.float32
    assert dx.dtype == np.float32
    assert dx.shape == x.shape
    assert all(g.dtype == np.float32 for g in layer.grads.values())


def test_softmax_with_loss_does_not_modify_logits_nor_labels():
    r = _rng()
    x = r.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    x0, t0 = x.copy(), t.copy()
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    layer.backward()
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


GRADCHECK_CASES = {
    "Affine-2d": (_affine, (5, 12)),
    "Affine-4d-input": (_affine, (5, 3, 2, 2)),
    "ReLU": (lambda dtype: ReLU(), (5, 7)),
    "Sigmoid": (lambda dtype: Sigmoid(), (5, 7)),
    "Tanh": (lambda dtype: Tanh(), (5, 7)),
    "Flatten": (lambda dtype: Flatten(), (5, 2, 3, 2)),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_layer_passes_gradient_check(name):
    factory, shape = GRADCHECK_CASES[name]
    x = np.random.default_rng(7).standard_normal(shape)
    errors = check_layer(factory(np.float64), x)
    assert errors["dx"] < THRESHOLDS["dx"]


@pytest.mark.parametrize("targets", ["labels", "one_hot"])
def test_softmax_with_loss_passes_gradient_check(targets):
    r = np.random.default_rng(7)
    x = r.standard_normal((6, 4)) * 3
    t = np.array([0, 1, 2, 3, 3, 1])
    if targets == "one_hot":
        t = np.eye(4)[t]
    errors = check_layer(SoftmaxWithLoss(), x, forward_kwargs={"t": t})
    assert errors["dx"] < THRESHOLDS["dx"]


@pytest.mark.parametrize("train", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("inverted", [False, True], ids=["original", "inverted"])
def test_dropout_passes_seeded_gradient_check(inverted, train):
    x = np.random.default_rng(7).standard_normal((8, 10))
    errors = check_layer(Dropout(0.3, inverted=inverted, seed=5), x, train=train)
    assert errors["dx"] < THRESHOLDS["dropout"]


def test_affine_forward_flattens_input_and_backward_restores_its_shape():
    r = _rng()
    W, b = r.standard_normal((12, 5)), r.standard_normal(5)
    x = r.standard_normal((4, 3, 2, 2))
    layer = Affine(W, b)
    out = layer.forward(x)
    np.testing.assert_allclose(out, x.reshape(4, 12) @ W + b)
    dout = r.standard_normal((4, 5))
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    np.testing.assert_allclose(layer.grads["W"], x.reshape(4, 12).T @ dout)
    np.testing.assert_allclose(layer.grads["b"], dout.sum(axis=0))


def test_affine_params_are_the_arrays_passed_in():
    # Optimisers update params in place; the network's arrays must be the layer's arrays.
    W, b = np.zeros((3, 2)), np.zeros(2)
    layer = Affine(W, b)
    assert layer.params["W"] is W and layer.params["b"] is b


def test_base_layer_has_empty_params_and_grads():
    layer = Layer()
    assert layer.params == {} and layer.grads == {}


def test_softmax_with_loss_backward_is_probabilities_minus_targets_over_batch():
    r = _rng()
    x = r.standard_normal((5, 3))
    t = np.array([2, 0, 1, 1, 0])
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(layer.backward(), (y - np.eye(3)[t]) / 5)
    np.testing.assert_allclose(layer.backward(2.0), 2 * (y - np.eye(3)[t]) / 5)


def test_softmax_with_loss_labels_and_one_hot_give_same_loss_and_gradient():
    r = _rng()
    x = r.standard_normal((5, 3))
    t = np.array([2, 0, 1, 1, 0])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(x, t) == pytest.approx(b.forward(x, np.eye(3)[t]), rel=1e-12)
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-12)


# --- Dropout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("inverted", [False, True], ids=["original", "inverted"])
def test_dropout_zeroes_a_fraction_close_to_drop_ratio(inverted):
    x = np.ones((1000, 100))
    out = Dropout(0.3, inverted=inverted, seed=0).forward(x)
    # 1e5 Bernoulli(0.3) draws: standard deviation of the fraction ~ 0.0015
    assert np.mean(out == 0) == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("inverted", [False, True], ids=["original", "inverted"])
def test_dropout_mean_training_activation_equals_inference_activation(inverted):
    # Both forms: E[train output] = inference output, since E[mask] = 1 - drop_ratio.
    x = np.random.default_rng(0).uniform(0.5, 2.0, size=(4, 5))
    layer = Dropout(0.4, inverted=inverted, seed=1)
    samples = 20000
    mean_train = np.mean([layer.forward(x, train=True) for _ in range(samples)], axis=0)
    inference = layer.forward(x, train=False)
    # per element: std of one sample <= x * 0.5 / 0.6 <= 1.7, of the mean <= 0.012
    np.testing.assert_allclose(mean_train, inference, atol=0.06)


def test_dropout_forms_differ_only_by_the_keep_ratio_in_both_modes():
    # Analytically: with the same mask, inverted = original / (1 - drop_ratio) at train time,
    # and at inference x = x * (1 - drop_ratio) / (1 - drop_ratio): the same expected activation
    # up to the constant factor the next layer's weights absorb.
    x = np.random.default_rng(0).standard_normal((6, 8))
    original, inverted = Dropout(0.25, seed=3), Dropout(0.25, inverted=True, seed=3)
    np.testing.assert_allclose(inverted.forward(x), original.forward(x) / 0.75)
    np.testing.assert_allclose(
        inverted.forward(x, train=False), original.forward(x, train=False) / 0.75
    )


@pytest.mark.parametrize("inverted", [False, True], ids=["original", "inverted"])
def test_dropout_backward_reuses_the_forward_mask(inverted):
    x = np.random.default_rng(0).standard_normal((20, 30))
    layer = Dropout(0.5, inverted=inverted, seed=0)
    out = layer.forward(x)
    mask = layer.mask.copy()
    state = layer.rng.bit_generator.state
    dx = layer.backward(np.ones_like(x))
    scale = 1 / 0.5 if inverted else 1.0
    np.testing.assert_array_equal(dx, mask * scale)
    np.testing.assert_array_equal(dx == 0, out == 0)
    assert layer.rng.bit_generator.state == state  # backward draws no new random numbers


def test_dropout_inference_is_deterministic_and_draws_no_random_numbers():
    x = np.random.default_rng(0).standard_normal((5, 6))
    layer = Dropout(0.5, seed=0)
    state = layer.rng.bit_generator.state
    a = layer.forward(x, train=False)
    b = layer.forward(x, train=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, x * 0.5)
    assert layer.rng.bit_generator.state == state


def test_dropout_inverted_inference_is_identity():
    x = np.random.default_rng(0).standard_normal((5, 6))
    np.testing.assert_array_equal(Dropout(0.5, inverted=True, seed=0).forward(x, train=False), x)


def test_dropout_seeded_masks_are_repeatable():
    x = np.ones((10, 10))
    a, b = Dropout(0.5, seed=42), Dropout(0.5, seed=42)
    c = Dropout(0.5, rng=np.random.default_rng(42))
    for _ in range(3):
        ma, mb, mc = a.forward(x), b.forward(x), c.forward(x)
        np.testing.assert_array_equal(ma, mb)
        np.testing.assert_array_equal(ma, mc)
    assert not np.array_equal(a.forward(x), a.forward(x))  # a new mask on every training pass


def test_dropout_rejects_both_rng_and_seed():
    with pytest.raises(ValueError):
        Dropout(0.5, rng=np.random.default_rng(0), seed=0)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_dropout_rejects_drop_ratio_outside_0_1(ratio):
    with pytest.raises(ValueError):
        Dropout(ratio)


def test_dropout_parameter_is_named_drop_ratio_not_p():
    names = inspect.signature(Dropout).parameters
    assert "drop_ratio" in names and "p" not in names


# --- SoftmaxWithLoss: no silent traps ----------------------------------------------------------


def test_softmax_with_loss_raises_on_labels_of_shape_n_by_1():
    x = np.random.default_rng(0).standard_normal((4, 3))
    t = np.array([0, 2, 1, 1])
    with pytest.raises(ValueError, match=r"\(N, 1\): pass t\.ravel\(\)"):
        SoftmaxWithLoss().forward(x, t.reshape(-1, 1))


def test_softmax_with_loss_takes_one_1d_sample_as_a_batch_of_one():
    x = np.array([0.3, -1.2, 2.0])
    batch, single = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert single.forward(x, 2) == pytest.approx(batch.forward(x[None], np.array([2])))
    dx = single.backward()
    assert dx.shape == (3,)
    np.testing.assert_allclose(dx, batch.backward()[0])
    assert SoftmaxWithLoss().forward(x, np.eye(3)[2]) == pytest.approx(single.loss)
