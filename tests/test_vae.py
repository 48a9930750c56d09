"""course.vae and course.sparse_autoencoder: their layers, float64 gradients, training."""

import numpy as np
import pytest

from course.gradcheck import THRESHOLDS, numerical_gradient, rel_error
from course.optim import Adam
from course.sparse_autoencoder import (
    SparseAutoencoder,
    kl_sparsity,
    kl_sparsity_grad,
    mean_activation,
)
from course.train import Trainer
from course.vae import VAE, GaussianKL, Reparameterize, gaussian_kl, latent_grid


def _randomize_biases(params, seed=2):
    """Non-zero biases keep ReLU inputs off their kink, where central differences are wrong."""
    rng = np.random.default_rng(seed)
    for name, value in params.items():
        if name.startswith("b"):
            value += rng.normal(0.0, 0.1, value.shape)


def test_reparameterize_uses_the_standard_deviation_exp_half_logvar():
    mu, logvar = np.array([[1.0, -2.0]]), np.array([[np.log(4.0), 0.0]])
    eps = np.array([[0.5, 2.0]])
    np.testing.assert_allclose(Reparameterize().forward(mu, logvar, eps), [[2.0, 0.0]])


def test_reparameterize_backward_matches_the_numerical_gradient():
    rng = np.random.default_rng(0)
    mu, logvar, eps, dz = (rng.normal(size=(4, 3)) for _ in range(4))
    layer = Reparameterize()
    layer.forward(mu, logvar, eps)
    dmu, dlogvar = layer.backward(dz)
    f = lambda: float(np.sum(layer.forward(mu, logvar, eps) * dz))  # noqa: E731
    assert rel_error(dmu, numerical_gradient(f, mu)) < THRESHOLDS["dx"]
    assert rel_error(dlogvar, numerical_gradient(f, logvar)) < THRESHOLDS["dx"]


def test_gaussian_kl_is_zero_for_the_prior_and_positive_otherwise():
    assert np.allclose(gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3))), 0.0)
    rng = np.random.default_rng(1)
    assert np.all(gaussian_kl(rng.normal(size=(50, 4)), rng.normal(size=(50, 4))) > 0)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    mu, logvar = np.array([[0.7, -0.3]]), np.array([[-0.5, 0.4]])
    std = np.exp(0.5 * logvar)
    z = mu + std * np.random.default_rng(3).standard_normal((400_000, 2))
    log_q = -0.5 * np.sum(((z - mu) / std) ** 2 + logvar + np.log(2 * np.pi), axis=1)
    log_p = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1)
    assert np.mean(log_q - log_p) == pytest.approx(gaussian_kl(mu, logvar)[0], abs=0.01)


def test_gaussian_kl_layer_backward_matches_the_numerical_gradient():
    rng = np.random.default_rng(2)
    mu, logvar = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    layer = GaussianKL()
    layer.forward(mu, logvar)
    dmu, dlogvar = layer.backward(2.0)
    f = lambda: 2.0 * layer.forward(mu, logvar)  # noqa: E731
    assert rel_error(dmu, numerical_gradient(f, mu)) < THRESHOLDS["dx"]
    assert rel_error(dlogvar, numerical_gradient(f, logvar)) < THRESHOLDS["dx"]


def test_vae_gradient_with_fixed_noise_matches_the_numerical_gradient():
    rng = np.random.default_rng(4)
    x = rng.random((5, 8))
    net = VAE(8, 6, 3, seed=1)
    _randomize_biases(net.params)
    eps = rng.standard_normal((5, 3))
    grads, numeric = net.gradient(x, eps=eps), net.numerical_gradient(x, eps)
    assert set(grads) == set(net.params)
    for name in grads:
        assert rel_error(grads[name], numeric[name]) < THRESHOLDS["net"], name
    assert net.last_loss == pytest.approx(net.last_terms["reconstruction"] + net.last_terms["kl"])


def test_vae_draws_new_noise_in_training_and_none_in_evaluation():
    x = np.random.default_rng(5).random((4, 8))
    net = VAE(8, 6, 2, seed=0)
    assert net.loss(x, train=True) != net.loss(x, train=True)
    assert net.loss(x, train=False) == net.loss(x, train=False)


def test_vae_learns_mnist_and_generates_images():
    from course.data import load_mnist

    (x_train, _), _ = load_mnist(dtype=np.float32)
    x = x_train[:600]
    net = VAE(784, 64, 2, seed=0, dtype=np.float32)
    before = net.loss(x, train=False)
    Trainer(net, Adam(lr=0.003), x, x, epochs=3, batch_size=100, progress=False).train()
    assert net.loss(x, train=False) < 0.5 * before
    images = net.generate(6, np.random.default_rng(0))
    assert images.shape == (6, 784) and images.min() >= 0 and images.max() <= 1
    assert net.decode(latent_grid(4)).shape == (16, 784)


def test_latent_grid_covers_the_square_row_by_row():
    grid = latent_grid(3, 1.0)
    np.testing.assert_allclose(grid[:3], [[-1, 1], [0, 1], [1, 1]])
    np.testing.assert_allclose(grid[-1], [1, -1])


def test_kl_sparsity_is_zero_at_the_target_and_grows_away_from_it():
    h = np.full((4, 3), 0.05)
    assert kl_sparsity(h, 0.05) == pytest.approx(0.0, abs=1e-12)
    assert kl_sparsity(np.full((4, 3), 0.2), 0.05) > kl_sparsity(np.full((4, 3), 0.1), 0.05) > 0
    np.testing.assert_allclose(mean_activation(np.array([[0.1, 0.2], [0.3, 0.4]])), [0.2, 0.3])


def test_kl_sparsity_grad_matches_the_numerical_gradient():
    h = np.random.default_rng(6).uniform(0.05, 0.9, (6, 4))
    numeric = numerical_gradient(lambda: kl_sparsity(h, 0.1), h)
    assert rel_error(kl_sparsity_grad(h, 0.1), numeric) < THRESHOLDS["dx"]


def test_sparse_autoencoder_gradient_includes_the_penalty():
    x = np.random.default_rng(7).random((5, 9))
    net = SparseAutoencoder(9, 4, rho=0.1, beta=0.5, seed=1)
    grads, numeric = net.gradient(x), net.numerical_gradient(x)
    for name in grads:
        assert rel_error(grads[name], numeric[name]) < THRESHOLDS["net"], name
    plain = SparseAutoencoder(9, 4, rho=0.1, beta=0.0, seed=1).gradient(x)
    assert rel_error(plain["W1"], grads["W1"]) > 1e-3  # the penalty changes the encoder's gradient


def test_sparsity_penalty_lowers_the_mean_activation():
    from course.data import load_mnist

    (x_train, _), _ = load_mnist(dtype=np.float64)
    x = x_train[:500]
    means = {}
    for beta in (0.0, 0.5):
        net = SparseAutoencoder(784, 32, rho=0.05, beta=beta, seed=0)
        Trainer(net, Adam(lr=0.01), x, x, epochs=5, batch_size=50, progress=False).train()
        means[beta] = float(np.mean(net.encode(x)))
    assert means[0.5] < 0.5 * means[0.0]
