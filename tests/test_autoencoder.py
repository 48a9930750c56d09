"""course.autoencoder: MSE loss, noise, AUC, and the Autoencoder's backprop, training and scores."""

import numpy as np
import pytest

from course.autoencoder import (
    Autoencoder,
    MeanSquaredError,
    add_noise,
    reconstruction_error,
    roc_auc,
)
from course.gradcheck import THRESHOLDS, numerical_gradient, rel_error
from course.optim import Adam
from course.train import Trainer


def pixels(n=6, d=5, seed=1):
    return np.random.default_rng(seed).random((n, d))


def randomize_biases(net, seed=2):
    """Non-zero biases keep ReLU inputs off their kink, where central differences are wrong."""
    rng = np.random.default_rng(seed)
    for name, value in net.params.items():
        if name.startswith("b"):
            value += rng.normal(0.0, 0.1, value.shape)


def test_reconstruction_error_is_the_per_sample_mean_of_squares():
    y, t = pixels(4, 3, 1), pixels(4, 3, 2)
    expected = np.array([np.mean((y[n] - t[n]) ** 2) for n in range(4)])
    np.testing.assert_allclose(reconstruction_error(y, t), expected)


def test_reconstruction_error_averages_every_non_batch_axis():
    y, t = pixels(4, 12, 1).reshape(4, 3, 4), pixels(4, 12, 2)
    np.testing.assert_allclose(reconstruction_error(y, t),
                               reconstruction_error(y.reshape(4, 12), t))


def test_mse_loss_is_the_mean_of_the_per_sample_errors():
    y, t = pixels(5, 4, 1), pixels(5, 4, 2)
    assert MeanSquaredError().forward(y, t) == pytest.approx(np.mean((y - t) ** 2))


def test_mse_backward_matches_the_numerical_gradient():
    y, t = pixels(5, 4, 1), pixels(5, 4, 2)
    layer = MeanSquaredError()
    numeric = numerical_gradient(lambda: layer.forward(y, t), y)
    layer.forward(y, t)
    assert rel_error(layer.backward(1.0), numeric) < THRESHOLDS["dx"]


def test_mse_backward_scales_with_dout():
    y, t = pixels(3, 2, 1), pixels(3, 2, 2)
    layer = MeanSquaredError()
    layer.forward(y, t)
    np.testing.assert_allclose(layer.backward(3.0), 3.0 * layer.backward(1.0))


def test_add_noise_stays_in_the_pixel_range_and_keeps_the_input():
    x = pixels(50, 20, 3)
    original = x.copy()
    noisy = add_noise(x, 0.5, seed=0)
    assert noisy.shape == x.shape and noisy.dtype == x.dtype
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    np.testing.assert_array_equal(x, original)


def test_add_noise_is_gaussian_with_the_given_std_before_clipping():
    x = np.full((400, 50), 0.5)
    noise = add_noise(x, 0.05, seed=1) - x  # std 0.05 around 0.5: clipping never happens
    assert abs(noise.std() - 0.05) < 0.002 and abs(noise.mean()) < 0.002
    expected = 0.5 + 0.05 * np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(add_noise(x, 0.05, seed=1), expected)


def test_add_noise_draws_new_noise_from_the_same_generator():
    rng = np.random.default_rng(4)
    x = pixels(3, 4)
    assert not np.array_equal(add_noise(x, 0.2, rng), add_noise(x, 0.2, rng))


def test_add_noise_keeps_float32():
    assert add_noise(pixels().astype(np.float32), 0.3, seed=0).dtype == np.float32


def test_roc_auc_perfect_chance_and_reversed():
    assert roc_auc([0.1, 0.2, 0.3], [0.4, 0.5]) == 1.0
    assert roc_auc([0.4, 0.5], [0.1, 0.2, 0.3]) == 0.0
    assert roc_auc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5


def test_roc_auc_is_the_pairwise_probability_with_half_ties():
    rng = np.random.default_rng(5)
    s0, s1 = rng.integers(0, 6, 40).astype(float), rng.integers(2, 8, 30).astype(float)
    diff = s1[None, :] - s0[:, None]
    expected = np.mean(diff > 0) + 0.5 * np.mean(diff == 0)
    assert roc_auc(s0, s1) == pytest.approx(expected)


def test_params_are_named_and_shaped_as_a_mirrored_net():
    net = Autoencoder(10, [6, 3])
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    shapes = [net.params[f"W{i}"].shape for i in range(1, 5)]
    assert shapes == [(10, 6), (6, 3), (3, 6), (6, 10)]
    assert list(net.layers)[-1] == "Sigmoid4"
    assert net.encoder_layers == ["Affine1", "ReLU1", "Affine2", "ReLU2"]


def test_params_are_the_arrays_the_layers_use():
    net = Autoencoder(5, [3])
    for i in (1, 2):
        assert net.params[f"W{i}"] is net.layers[f"Affine{i}"].params["W"]


def test_encode_decode_and_reconstruct_shapes_and_range():
    net = Autoencoder(8, [5, 2], seed=3)
    x = pixels(4, 8)
    z = net.encode(x)
    assert z.shape == (4, 2) and np.all(z >= 0)  # the code comes out of a ReLU
    y = net.reconstruct(x)
    assert y.shape == x.shape and np.all((y > 0) & (y < 1))
    np.testing.assert_allclose(net.decode(z), y)


def test_whole_net_backprop_matches_the_numerical_gradient():
    net = Autoencoder(6, [4, 3], seed=1)
    randomize_biases(net)
    x = pixels(5, 6)
    numeric = net.numerical_gradient(x)
    analytic = net.gradient(x)
    for name in net.params:
        assert rel_error(analytic[name], numeric[name]) < THRESHOLDS["net"], name


def test_gradient_against_an_explicit_target():
    net = Autoencoder(6, [3], seed=2)
    randomize_biases(net)
    x, t = pixels(4, 6, 1), pixels(4, 6, 2)
    numeric = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    assert max(rel_error(analytic[k], numeric[k]) for k in net.params) < THRESHOLDS["net"]


def test_gradient_corrupts_the_input_but_not_the_target():
    seen = []

    def corrupt(x):
        seen.append(x)
        return np.zeros_like(x)

    x = pixels(4, 6)
    net = Autoencoder(6, [3], corruption=corrupt, seed=0)
    net.gradient(x)
    assert len(seen) == 1
    assert net.last_loss == pytest.approx(net.loss(np.zeros_like(x), x))
    assert net.loss(x) != pytest.approx(net.last_loss)  # evaluation is not corrupted


def test_anomaly_score_is_the_per_sample_reconstruction_error():
    net = Autoencoder(6, [3], seed=0)
    x = pixels(4, 6)
    np.testing.assert_allclose(net.anomaly_score(x), reconstruction_error(net.reconstruct(x), x))
    assert net.loss(x) == pytest.approx(np.mean(net.anomaly_score(x)))


def test_trainer_reduces_the_reconstruction_loss():
    prototypes = (pixels(4, 16, 7) > 0.5).astype(np.float64)
    x = prototypes[np.arange(64) % 4]  # four patterns: an 8-unit code can hold them
    net = Autoencoder(16, [8], seed=0)
    before = net.loss(x)
    history = Trainer(net, Adam(lr=0.01), x, x, epochs=40, batch_size=16, progress=False).train()
    assert net.loss(x) < 0.5 * before
    assert history["train_acc"][-1] > 0.9  # pixels on the right side of 0.5


def test_float32_network():
    net = Autoencoder(6, [3], dtype=np.float32)
    assert net.reconstruct(pixels(2, 6)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(pixels(2, 6)).values())
