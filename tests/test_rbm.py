"""course.rbm: energy, conditionals, free energy (against enumeration), CD-1, training, DBN."""

import numpy as np
import pytest

from course import rbm
from course.gradcheck import THRESHOLDS, numerical_gradient, rel_error


def small_rbm(d=6, h=4, n=5, seed=0):
    rng = np.random.default_rng(seed)
    v = (rng.random((n, d)) < 0.5).astype(float)
    return v, rng.normal(0, 1, (d, h)), rng.normal(size=d), rng.normal(size=h)


def test_conditionals_are_the_normalised_energy_ratios():
    v, W, b, c = small_rbm(n=1)
    h1, h0 = np.zeros((1, 4)), np.zeros((1, 4))
    h1[0, 2] = 1.0
    # p(h_2 = 1 | v) / p(h_2 = 0 | v) = exp(E(v, h0) - E(v, h1)) with the other units at 0
    p = rbm.prob_h_given_v(v, W, c)[0, 2]
    ratio = np.exp(rbm.energy(v, h0, W, b, c) - rbm.energy(v, h1, W, b, c))[0]
    assert p / (1 - p) == pytest.approx(ratio)
    hs = np.array([[1.0, 0.0, 1.0, 0.0]])
    q = rbm.prob_v_given_h(hs, W, b)
    np.testing.assert_allclose(q, 1 / (1 + np.exp(-(hs @ W.T + b))))


def test_free_energy_equals_the_enumerated_sum_over_hidden_states():
    v, W, b, c = small_rbm()
    np.testing.assert_allclose(rbm.free_energy(v, W, b, c), rbm.brute_force_free_energy(v, W, b, c))


def test_positive_phase_is_minus_the_free_energy_gradient():
    v, W, b, c = small_rbm(seed=1)
    rng = np.random.default_rng(2)
    step = rbm.cd1(v, W, b, c, rng.random((5, 4)), rng.random((5, 6)))
    numeric = numerical_gradient(lambda: -np.mean(rbm.free_energy(v, W, b, c)), W)
    assert rel_error(v.T @ step["ph0"] / len(v), numeric) < THRESHOLDS["param"]


def test_cd1_uses_the_given_draws_and_probabilities_in_both_phases():
    v, W, b, c = small_rbm(seed=3)
    rng = np.random.default_rng(4)
    u_h, u_v = rng.random((5, 4)), rng.random((5, 6))
    step = rbm.cd1(v, W, b, c, u_h, u_v)
    ph0 = rbm.prob_h_given_v(v, W, c)
    h0 = (u_h < ph0).astype(float)
    v1 = (u_v < rbm.prob_v_given_h(h0, W, b)).astype(float)
    ph1 = rbm.prob_h_given_v(v1, W, c)
    np.testing.assert_allclose(step["dW"], (v.T @ ph0 - v1.T @ ph1) / 5)
    np.testing.assert_allclose(step["db"], np.mean(v - v1, axis=0))
    np.testing.assert_allclose(step["dc"], np.mean(ph0 - ph1, axis=0))
    again = rbm.cd1(v, W, b, c, u_h, u_v)
    assert all(np.array_equal(step[k], again[k]) for k in step)


def test_rbm_training_lowers_reconstruction_error_and_data_free_energy():
    from course.data import load_mnist

    (x_train, _), _ = load_mnist(dtype=np.float64)
    v = rbm.binarize(x_train[:500])
    machine = rbm.RBM(784, 32, seed=0)
    noise = (np.random.default_rng(0).random(v.shape) < v.mean()).astype(float)
    history = machine.train(v, epochs=4, lr=0.1, batch_size=50)
    errors = history["reconstruction_error"]
    assert errors[-1] < errors[0] and len(errors) == 4
    # the model gives the digits a lower free energy (a higher probability) than random pixels
    assert np.mean(machine.free_energy(v)) < np.mean(machine.free_energy(noise))
    sample = machine.gibbs_sample(v[:3], 5, np.random.default_rng(1))
    assert sample.shape == (3, 784) and 0 <= sample.min() and sample.max() <= 1


def test_dbn_stacks_rbms_on_the_hidden_probabilities():
    v = (np.random.default_rng(5).random((200, 20)) < 0.3).astype(float)
    rbms = rbm.train_dbn(v, [8, 4], epochs=2, batch_size=50)
    assert [(r.W.shape) for r in rbms] == [(20, 8), (8, 4)]
    assert rbms[1].transform(rbms[0].transform(v)).shape == (200, 4)


def test_binarize_thresholds_at_one_half():
    np.testing.assert_array_equal(rbm.binarize(np.array([0.2, 0.5, 0.51])), [0.0, 0.0, 1.0])
