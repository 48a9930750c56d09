"""course.regularizers: penalties and gradients over the weight arrays only."""

import numpy as np
import pytest

from course.gradcheck import THRESHOLDS, numerical_gradient, rel_error
from course.regularizers import L1, L2, ElasticNet, is_weight


@pytest.fixture
def params():
    rng = np.random.default_rng(0)

    def away_from_zero(shape):  # |w| >= 0.1 keeps sign(W) constant under the h = 1e-5 probe
        w = rng.uniform(0.1, 1.0, size=shape)
        return w * rng.choice([-1.0, 1.0], size=shape)

    return {
        "W1": away_from_zero((5, 4)),
        "b1": rng.standard_normal(4),
        "gamma1": rng.uniform(0.5, 1.5, size=4),
        "beta1": rng.standard_normal(4),
        "W2": away_from_zero((4, 3)),
        "b2": rng.standard_normal(3),
    }


REGULARIZERS = [L1(0.1), L2(0.1), ElasticNet(0.1, l1_ratio=0.3)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("W1", True),
        ("W12", True),
        ("W", True),
        ("b1", False),
        ("gamma1", False),
        ("beta1", False),
        ("beta", False),
    ],
)
def test_is_weight_selects_weights_not_biases_or_normalisation_parameters(name, expected):
    assert is_weight(name) is expected


def test_l2_penalty_is_half_lambda_sum_of_squared_weights(params):
    expected = 0.5 * 0.1 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert L2(0.1).penalty(params) == pytest.approx(expected, rel=1e-14)


def test_l2_gradient_is_lambda_times_w(params):
    grads = L2(0.1).gradient(params)
    np.testing.assert_allclose(grads["W1"], 0.1 * params["W1"])
    np.testing.assert_allclose(grads["W2"], 0.1 * params["W2"])


def test_l1_penalty_and_gradient(params):
    l1 = L1(0.2)
    expected = 0.2 * (np.sum(np.abs(params["W1"])) + np.sum(np.abs(params["W2"])))
    assert l1.penalty(params) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(l1.gradient(params)["W1"], 0.2 * np.sign(params["W1"]))


def test_l1_gradient_is_zero_at_zero_weights():
    assert np.all(L1(0.5).gradient({"W1": np.zeros((2, 2))})["W1"] == 0.0)


def test_elastic_net_mixes_l1_and_l2(params):
    lam, r = 0.1, 0.3
    mixed = ElasticNet(lam, l1_ratio=r)
    expected = r * L1(lam).penalty(params) + (1 - r) * L2(lam).penalty(params)
    assert mixed.penalty(params) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(
        mixed.gradient(params)["W1"],
        r * L1(lam).gradient(params)["W1"] + (1 - r) * L2(lam).gradient(params)["W1"],
    )


@pytest.mark.parametrize(("l1_ratio", "pure"), [(1.0, L1), (0.0, L2)])
def test_elastic_net_endpoints_are_l1_and_l2(params, l1_ratio, pure):
    assert ElasticNet(0.1, l1_ratio).penalty(params) == pytest.approx(pure(0.1).penalty(params))


def test_elastic_net_rejects_l1_ratio_outside_unit_interval():
    with pytest.raises(ValueError):
        ElasticNet(0.1, l1_ratio=1.5)


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
def test_gradient_has_weight_keys_only(params, reg):
    assert set(reg.gradient(params)) == {"W1", "W2"}


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
def test_penalty_ignores_biases_and_normalisation_parameters(params, reg):
    before = reg.penalty(params)
    for name in ("b1", "gamma1", "beta1", "b2"):
        params[name] *= 10.0
    assert reg.penalty(params) == before


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
def test_gradient_matches_numerical_gradient_of_penalty(params, reg):
    grads = reg.gradient(params)
    for name in ("W1", "W2"):
        numeric = numerical_gradient(lambda: reg.penalty(params), params[name])
        assert rel_error(grads[name], numeric) < THRESHOLDS["param"], name


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
def test_penalty_is_zero_without_weights(reg):
    assert reg.penalty({"b1": np.ones(3)}) == 0.0
    assert reg.gradient({"b1": np.ones(3)}) == {}


def test_penalty_returns_a_python_float(params):
    assert type(L2(0.1).penalty(params)) is float


@pytest.mark.parametrize("name", ["W", "W1", "W10", "w1", "weight", "fc1.weight", "W_out"])
def test_is_weight_recognises_weights_named_otherwise_than_capital_w(name):
    assert is_weight(name)


@pytest.mark.parametrize("name", ["b1", "bias", "fc1.bias", "gamma2", "beta", "running_mean"])
def test_is_weight_is_false_for_biases_and_normalisation_parameters(name):
    assert not is_weight(name)


def test_is_weight_raises_for_a_name_it_cannot_classify():
    with pytest.raises(ValueError, match="cannot tell"):
        is_weight("kernel")
    with pytest.raises(ValueError):
        L2(0.1).penalty({"kernel": np.ones(3)})
