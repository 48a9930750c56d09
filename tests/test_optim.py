"""course.optim: first update steps against closed forms, in-place updates, schedules."""

import math

import numpy as np
import pytest

from course.optim import (
    SGD,
    Adadelta,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    cosine_decay,
    exponential_decay,
    step_decay,
)

ALL_OPTIMIZERS = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adadelta, Adam]


@pytest.fixture
def W0():
    return np.random.default_rng(0).standard_normal((3, 4))


@pytest.fixture
def g1():
    return np.random.default_rng(1).standard_normal((3, 4))


@pytest.fixture
def g2():
    return np.random.default_rng(2).standard_normal((3, 4))


def step(optimizer, W, *gradients):
    """Apply one update per gradient to a copy of W; return the result."""
    params = {"W": W.copy()}
    for g in gradients:
        optimizer.update(params, {"W": g.copy()})
    return params["W"]


def test_sgd_step(W0, g1):
    np.testing.assert_allclose(step(SGD(lr=0.1), W0, g1), W0 - 0.1 * g1)


def test_momentum_first_two_steps(W0, g1, g2):
    lr, mu = 0.1, 0.9
    v1 = -lr * g1
    v2 = mu * v1 - lr * g2
    np.testing.assert_allclose(step(Momentum(lr, mu), W0, g1), W0 + v1)
    np.testing.assert_allclose(step(Momentum(lr, mu), W0, g1, g2), W0 + v1 + v2)


def test_nesterov_first_two_steps(W0, g1, g2):
    lr, mu = 0.1, 0.9
    v1 = -lr * g1
    W1 = W0 + mu * v1 - lr * g1  # = W0 - lr * (1 + mu) * g1
    v2 = mu * v1 - lr * g2
    W2 = W1 + mu * v2 - lr * g2
    np.testing.assert_allclose(W1, W0 - lr * (1 + mu) * g1)
    np.testing.assert_allclose(step(Nesterov(lr, mu), W0, g1), W1)
    np.testing.assert_allclose(step(Nesterov(lr, mu), W0, g1, g2), W2)


def test_adagrad_first_two_steps(W0, g1, g2):
    lr, eps = 0.1, 1e-7
    W1 = W0 - lr * g1 / (np.abs(g1) + eps)
    W2 = W1 - lr * g2 / (np.sqrt(g1**2 + g2**2) + eps)
    np.testing.assert_allclose(step(AdaGrad(lr, eps), W0, g1), W1)
    np.testing.assert_allclose(step(AdaGrad(lr, eps), W0, g1, g2), W2)


def test_rmsprop_first_two_steps(W0, g1, g2):
    lr, rho, eps = 0.01, 0.99, 1e-7
    h1 = (1 - rho) * g1**2
    W1 = W0 - lr * g1 / (np.sqrt(h1) + eps)
    h2 = rho * h1 + (1 - rho) * g2**2
    W2 = W1 - lr * g2 / (np.sqrt(h2) + eps)
    np.testing.assert_allclose(step(RMSprop(lr, rho, eps), W0, g1), W1)
    np.testing.assert_allclose(step(RMSprop(lr, rho, eps), W0, g1, g2), W2)


def test_adadelta_first_two_steps(W0, g1, g2):
    rho, eps = 0.95, 1e-6
    h1 = (1 - rho) * g1**2
    dx1 = np.sqrt(0.0 + eps) / np.sqrt(h1 + eps) * g1
    s1 = (1 - rho) * dx1**2
    h2 = rho * h1 + (1 - rho) * g2**2
    dx2 = np.sqrt(s1 + eps) / np.sqrt(h2 + eps) * g2
    np.testing.assert_allclose(step(Adadelta(rho=rho, eps=eps), W0, g1), W0 - dx1)
    np.testing.assert_allclose(step(Adadelta(rho=rho, eps=eps), W0, g1, g2), W0 - dx1 - dx2)


def test_adadelta_lr_scales_the_step(W0, g1):
    full = step(Adadelta(), W0, g1) - W0
    np.testing.assert_allclose(step(Adadelta(lr=0.5), W0, g1) - W0, 0.5 * full)


def test_adam_defaults():
    adam = Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-8)


def test_adam_first_step_is_lr_times_sign_of_gradient(W0, g1):
    lr = 0.001
    W1 = step(Adam(lr=lr), W0, g1)
    np.testing.assert_allclose(W1, W0 - lr * g1 / (np.abs(g1) + 1e-8), rtol=1e-12)
    # |g| >> eps here, so the step is lr * sign(g) up to a relative 1e-8 / |g|
    np.testing.assert_allclose(W0 - W1, lr * np.sign(g1), rtol=1e-6)


def test_adam_second_step_uses_bias_correction(W0, g1, g2):
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-8
    W1 = W0 - lr * g1 / (np.abs(g1) + eps)
    m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v2 = b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2
    W2 = W1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    np.testing.assert_allclose(step(Adam(), W0, g1, g2), W2, rtol=1e-12)


def test_adam_counts_one_time_step_per_update_not_per_parameter():
    adam = Adam()
    params = {"W1": np.ones(3), "b1": np.ones(2)}
    adam.update(params, {"W1": np.ones(3), "b1": np.ones(2)})
    assert adam.t == 1


@pytest.mark.parametrize("optimizer_cls", ALL_OPTIMIZERS)
def test_update_changes_arrays_in_place_and_leaves_grads(optimizer_cls, g1):
    W = np.ones((3, 4))
    params = {"W1": W}
    grads = {"W1": g1.copy()}
    optimizer_cls().update(params, grads)
    assert params["W1"] is W
    assert not np.array_equal(W, np.ones((3, 4)))
    np.testing.assert_array_equal(grads["W1"], g1)


@pytest.mark.parametrize("optimizer_cls", ALL_OPTIMIZERS)
def test_lr_attribute_set_between_updates_is_used(optimizer_cls, W0, g1):
    opt = optimizer_cls()
    opt.lr = 0.0
    np.testing.assert_array_equal(step(opt, W0, g1), W0)


@pytest.mark.parametrize("optimizer_cls", [Momentum, AdaGrad, RMSprop, Adadelta, Adam])
def test_state_is_kept_per_parameter_name(optimizer_cls, W0, g1, g2):
    together = optimizer_cls()
    params = {"W1": W0.copy(), "W2": W0.copy()}
    for _ in range(3):
        together.update(params, {"W1": g1, "W2": g2})
    alone = optimizer_cls()
    np.testing.assert_allclose(params["W2"], step(alone, W0, g2, g2, g2))


@pytest.mark.parametrize("optimizer_cls", ALL_OPTIMIZERS)
def test_optimizer_decreases_a_quadratic(optimizer_cls):
    # f(W) = 0.5 * sum(a * W**2), gradient a * W; 200 steps must halve f (Adadelta starts slowly)
    a = np.array([1.0, 10.0])
    params = {"W": np.array([1.0, 1.0])}
    opt = optimizer_cls(lr=1.0) if optimizer_cls is Adadelta else optimizer_cls(lr=0.05)
    f0 = 0.5 * np.sum(a * params["W"] ** 2)
    for _ in range(200):
        opt.update(params, {"W": a * params["W"]})
    assert 0.5 * np.sum(a * params["W"] ** 2) < 0.5 * f0


def test_float32_parameters_stay_float32(g1):
    params = {"W": np.ones((3, 4), dtype=np.float32)}
    Adam().update(params, {"W": g1.astype(np.float32)})
    assert params["W"].dtype == np.float32


# ---------------------------------------------------------------------------------- schedules


def test_step_decay_multiplies_by_gamma_every_step_size_epochs():
    schedule = step_decay(0.1, step_size=10, gamma=0.5)
    assert [schedule(e) for e in (0, 9, 10, 19, 20, 35)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]
    )


def test_exponential_decay_values():
    schedule = exponential_decay(0.1, k=0.2)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(5) == pytest.approx(0.1 * math.exp(-1.0))
    assert schedule(10) < schedule(5)


def test_cosine_decay_runs_from_lr0_to_lr_min():
    schedule = cosine_decay(0.1, total_epochs=10, lr_min=0.001)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(5) == pytest.approx(0.001 + 0.5 * (0.1 - 0.001))
    assert schedule(10) == pytest.approx(0.001)
    assert schedule(15) == pytest.approx(0.001)
    values = [schedule(e) for e in range(11)]
    assert all(b < a for a, b in zip(values, values[1:], strict=False))


def test_cosine_decay_defaults_to_zero_at_the_end():
    assert cosine_decay(0.5, total_epochs=4)(4) == pytest.approx(0.0, abs=1e-15)


# --- one optimiser, several update() calls ------------------------------------------------------


def test_adam_corrects_each_parameter_group_by_its_own_step_count():
    """Two update() calls per step (parameter groups) give the same steps as one call."""
    rng = np.random.default_rng(0)
    start = {k: rng.standard_normal(3) for k in ("W1", "b1", "W2", "b2")}
    grads = [{k: rng.standard_normal(3) for k in start} for _ in range(4)]
    together = {k: v.copy() for k, v in start.items()}
    split = {k: v.copy() for k, v in start.items()}
    one, groups = Adam(lr=0.1), Adam(lr=0.1)
    for g in grads:
        one.update(together, g)
        groups.update({k: split[k] for k in ("W1", "b1")}, g)
        groups.update({k: split[k] for k in ("W2", "b2")}, g)
    for key in start:
        np.testing.assert_allclose(split[key], together[key], rtol=1e-12)
    assert groups.steps == {"W1": 4, "b1": 4, "W2": 4, "b2": 4} and groups.t == 8


@pytest.mark.parametrize("make", [lambda: SGD(), lambda: Momentum(), lambda: Adam(),
                                  lambda: AdaGrad(), lambda: RMSprop(), lambda: Adadelta()])
def test_one_optimiser_for_two_networks_raises_instead_of_sharing_state(make):
    opt = make()
    first, second = {"W1": np.ones(2)}, {"W1": np.ones(2)}
    opt.update(first, {"W1": np.ones(2)})
    opt.update(first, {"W1": np.ones(2)})  # the same array again: fine
    if isinstance(opt, SGD):  # SGD keeps no state: nothing to share, nothing to refuse
        opt.update(second, {"W1": np.ones(2)})
        return
    with pytest.raises(ValueError, match="one optimiser per network"):
        opt.update(second, {"W1": np.ones(2)})
