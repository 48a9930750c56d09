"""course.net.MultiLayerNet: parameters, backprop vs numerical gradient, weight decay, overfit."""

import numpy as np
import pytest

from course.data import load_mnist
from course.gradcheck import THRESHOLDS, rel_error
from course.layers import Dropout
from course.net import MultiLayerNet
from course.optim import SGD, Adam


def small_batch(n=8, d=5, k=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def randomize_biases(net, seed=2):
    """Non-zero biases: with b = 0 a sample whose hidden units are all 0 (ReLU, dropout) puts the
    next ReLU exactly at its kink, where central differences give half the slope."""
    rng = np.random.default_rng(seed)
    for name, value in net.params.items():
        if name.startswith("b"):
            value += rng.normal(0.0, 0.1, value.shape)


def whole_net_error(numeric, analytic):
    """rel_error over all parameters at once (the whole-net gradient as one vector)."""
    assert numeric.keys() == analytic.keys()
    keys = sorted(numeric)
    return rel_error(np.concatenate([numeric[k].ravel() for k in keys]),
                     np.concatenate([analytic[k].ravel() for k in keys]))


def test_params_named_as_in_the_textbook():
    net = MultiLayerNet(5, [6, 7], 3, use_batchnorm=True)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]
    assert net.params["W1"].shape == (5, 6) and net.params["W3"].shape == (7, 3)
    assert net.params["gamma2"].shape == (7,) and net.params["b3"].shape == (3,)
    assert np.all(net.params["gamma1"] == 1) and np.all(net.params["beta1"] == 0)


def test_layer_order():
    net = MultiLayerNet(5, [6], 3, use_batchnorm=True, use_dropout=True)
    assert list(net.layers) == ["Affine1", "BatchNorm1", "ReLU1", "Dropout1", "Affine2"]


def test_params_are_the_arrays_the_layers_use():
    net = MultiLayerNet(5, [6], 3)
    x, _ = small_batch()
    before = net.predict(x)
    net.params["b2"] += 1.0  # an optimiser updates params in place
    np.testing.assert_allclose(net.predict(x), before + 1.0)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (MultiLayerNet(5, [6], 3, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


@pytest.mark.parametrize(("weight_init_std", "expected"), [
    ("relu", np.sqrt(2 / 400)), ("he", np.sqrt(2 / 400)),
    ("sigmoid", np.sqrt(1 / 400)), ("xavier", np.sqrt(1 / 400)), (0.01, 0.01),
])
def test_weight_init_std(weight_init_std, expected):
    net = MultiLayerNet(400, [300], 10, weight_init_std=weight_init_std)
    assert net.params["W1"].std() == pytest.approx(expected, rel=0.02)
    assert np.all(net.params["b1"] == 0)


GRADIENT_CASES = {
    "relu": {},
    "sigmoid": {"activation": "sigmoid", "weight_init_std": "xavier"},
    "batchnorm": {"use_batchnorm": True},
    "layernorm_tanh": {"normalization": "layer", "activation": "tanh"},
    "dropout": {"use_dropout": True, "drop_ratio": 0.3},
    "inverted_dropout": {"use_dropout": True, "dropout_inverted": True},
    "weight_decay": {"weight_decay_lambda": 0.1},
    "bn_dropout_weight_decay": {"use_batchnorm": True, "use_dropout": True,
                                "drop_ratio": 0.2, "weight_decay_lambda": 0.05},
}


@pytest.mark.parametrize("kwargs", GRADIENT_CASES.values(), ids=GRADIENT_CASES.keys())
def test_backprop_gradient_equals_numerical_gradient(kwargs):
    x, t = small_batch()
    net = MultiLayerNet(5, [10, 10], 4, **kwargs)
    randomize_biases(net)
    numeric = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    assert whole_net_error(numeric, analytic) < THRESHOLDS["net"]


def test_gradient_with_one_hot_labels_matches_labels():
    x, t = small_batch()
    net = MultiLayerNet(5, [10], 4)
    by_label = net.gradient(x, t)
    by_one_hot = net.gradient(x, np.eye(4)[t])
    for k in by_label:
        np.testing.assert_allclose(by_one_hot[k], by_label[k], rtol=1e-12)


def test_numerical_gradient_leaves_dropout_and_running_stats_as_they_were():
    x, t = small_batch()
    kwargs = {"use_batchnorm": True, "use_dropout": True}
    net, twin = MultiLayerNet(5, [10], 4, **kwargs), MultiLayerNet(5, [10], 4, **kwargs)
    net.gradient(x, t)
    twin.gradient(x, t)
    net.numerical_gradient(x, t)
    assert np.array_equal(net.layers["BatchNorm1"].running_mean,
                          twin.layers["BatchNorm1"].running_mean)
    # the next training step draws the same dropout mask as a net that never ran the check
    net.gradient(x, t)
    twin.gradient(x, t)
    assert np.array_equal(net.layers["Dropout1"].mask, twin.layers["Dropout1"].mask)


def test_dropout_masks_are_seeded():
    x, t = small_batch()
    masks = []
    for _ in range(2):
        net = MultiLayerNet(5, [10], 4, use_dropout=True, seed=7)
        net.gradient(x, t)
        masks.append(net.layers["Dropout1"].mask)
    assert isinstance(net.layers["Dropout1"], Dropout)
    assert np.array_equal(masks[0], masks[1])


def test_weight_decay_term_is_half_lambda_sum_of_squared_weights_only():
    x, t = small_batch()
    lam = 0.3
    decayed = MultiLayerNet(5, [10, 10], 4, use_batchnorm=True, weight_decay_lambda=lam)
    plain = MultiLayerNet(5, [10, 10], 4, use_batchnorm=True)
    for p in (decayed, plain):  # make b, gamma, beta non-trivial so a penalty on them would show
        for name in p.params:
            if not name.startswith("W"):
                p.params[name] += 0.5
    expected = 0.5 * lam * sum(np.sum(decayed.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert decayed.loss(x, t) - plain.loss(x, t) == pytest.approx(expected, rel=1e-12)


def test_weight_decay_gradient_is_lambda_w_on_weights_only():
    x, t = small_batch()
    lam = 0.3
    decayed = MultiLayerNet(5, [10, 10], 4, use_batchnorm=True, weight_decay_lambda=lam)
    plain = MultiLayerNet(5, [10, 10], 4, use_batchnorm=True)
    g_decayed, g_plain = decayed.gradient(x, t), plain.gradient(x, t)
    for name in g_plain:
        extra = lam * decayed.params[name] if name.startswith("W") else 0.0
        np.testing.assert_allclose(g_decayed[name], g_plain[name] + extra, rtol=1e-12, atol=1e-15)


def test_gradient_records_the_loss_of_its_forward_pass():
    x, t = small_batch()
    net = MultiLayerNet(5, [10], 4, weight_decay_lambda=0.1)
    net.gradient(x, t)
    assert net.last_loss == pytest.approx(net.loss(x, t))


def test_float32_network_computes_in_float32():
    x, t = small_batch()
    net = MultiLayerNet(5, [10], 4, use_batchnorm=True, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, t).values())


def test_float32_gradient_close_to_float64_gradient():
    x, t = small_batch()
    g32 = MultiLayerNet(5, [10], 4, dtype=np.float32).gradient(x, t)
    g64 = MultiLayerNet(5, [10], 4).gradient(x, t)
    assert whole_net_error(g32, g64) < 1e-5


def test_accuracy_accepts_labels_and_one_hot():
    x, t = small_batch(n=50)
    net = MultiLayerNet(5, [10], 4)
    predicted = np.argmax(net.predict(x), axis=1)
    assert net.accuracy(x, t) == pytest.approx(np.mean(predicted == t))
    assert net.accuracy(x, np.eye(4)[t]) == net.accuracy(x, t)


def test_sgd_step_lowers_the_loss():
    x, t = small_batch(n=32)
    net = MultiLayerNet(5, [10], 4)
    before = net.loss(x, t)
    optimizer = SGD(lr=0.1)
    for _ in range(5):
        optimizer.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < before


def test_small_net_overfits_20_mnist_images(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_CACHE_DIR", str(tmp_path))
    (x_train, t_train), _ = load_mnist()
    x, t = x_train[:20], t_train[:20]
    net = MultiLayerNet(784, [50, 50], 10, dtype=np.float32)
    optimizer = Adam(lr=0.01)
    for _ in range(100):
        optimizer.update(net.params, net.gradient(x, t))
    assert net.accuracy(x, t) == 1.0
    assert net.loss(x, t) < 0.05


@pytest.mark.parametrize("kwargs", [
    {"activation": "softplus"},
    {"use_batchnorm": True, "normalization": "layer"},
    {"normalization": "group"},
])
def test_invalid_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        MultiLayerNet(5, [10], 4, **kwargs)
