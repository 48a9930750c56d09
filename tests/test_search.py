"""course.search: log-uniform sampling, grid/random search, GP posterior, EI, Bayesian opt."""

import math

import numpy as np
import pytest

from course.search import (
    TabulatedObjective,
    bayesian_optimization,
    best_so_far,
    erfc,
    evaluations_to_reach,
    expected_improvement,
    gp_posterior,
    grid_search,
    log_uniform,
    normal_cdf,
    normal_pdf,
    random_search,
    rbf_kernel,
)


def bowl(lr, lam):
    """A smooth objective with its minimum at lr = 0.1, lam = 1e-3 (log scale)."""
    return (np.log10(lr) + 1.0) ** 2 + 0.25 * (np.log10(lam) + 3.0) ** 2


BOUNDS = [(1e-4, 10.0), (1e-6, 1.0)]


def test_log_uniform_is_ten_to_a_uniform_exponent():
    got = log_uniform(1e-4, 10.0, 5, np.random.default_rng(3))
    expected = 10.0 ** np.random.default_rng(3).uniform(-4.0, 1.0, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_log_uniform_gives_each_decade_the_same_share():
    samples = log_uniform(1e-4, 1.0, 40_000, np.random.default_rng(0))
    shares = np.histogram(np.log10(samples), bins=4, range=(-4, 0))[0] / samples.size
    np.testing.assert_allclose(shares, 0.25, atol=0.01)
    assert samples.min() >= 1e-4 and samples.max() <= 1.0


def test_log_uniform_rejects_non_positive_bounds():
    with pytest.raises(ValueError):
        log_uniform(0.0, 1.0, 3, np.random.default_rng(0))


def test_grid_search_visits_every_combination_first_axis_outer():
    points, values = grid_search(lambda a, b: 10 * a + b, [[1.0, 2.0], [3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(points, [[1, 3], [1, 4], [1, 5], [2, 3], [2, 4], [2, 5]])
    np.testing.assert_array_equal(values, [13, 14, 15, 23, 24, 25])


def test_random_search_draws_each_column_log_uniformly_in_turn():
    points, values = random_search(bowl, BOUNDS, 7, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    lrs, lams = log_uniform(1e-4, 10.0, 7, rng), log_uniform(1e-6, 1.0, 7, rng)
    np.testing.assert_array_equal(points, np.column_stack([lrs, lams]))
    np.testing.assert_allclose(values, bowl(lrs, lams))


def test_best_so_far_is_the_running_minimum():
    np.testing.assert_array_equal(best_so_far([3.0, 4.0, 1.0, 2.0, 0.5]), [3, 3, 1, 1, 0.5])


def test_evaluations_to_reach_counts_from_one_and_says_never():
    assert evaluations_to_reach([0.5, 0.3, 0.2], 0.3) == 2
    assert evaluations_to_reach([0.5, 0.3, 0.2], 0.1) is None


def test_erfc_and_normal_cdf_match_math_to_round_off():
    x = np.linspace(-8, 8, 3201)
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc(x), expected, rtol=1e-11, atol=1e-15)
    z = np.linspace(-30, 10, 801)
    expected_cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    np.testing.assert_allclose(normal_cdf(z), expected_cdf, rtol=1e-11, atol=1e-300)


def test_normal_pdf_integrates_to_the_cdf():
    z = np.linspace(-6, 1.5, 75001)
    density = normal_pdf(z)
    area = float(np.sum((density[1:] + density[:-1]) * np.diff(z)) / 2)  # trapezoid rule
    assert abs(area - float(normal_cdf(1.5))) < 1e-8


def test_rbf_kernel_formula():
    A = np.array([[0.0, 0.0], [1.0, 2.0]])
    B = np.array([[0.0, 1.0]])
    K = rbf_kernel(A, B, length_scale=0.5, signal_var=2.0)
    expected = 2.0 * np.exp(-np.array([[1.0], [2.0]]) / (2 * 0.25))
    np.testing.assert_allclose(K, expected, rtol=1e-14)


def test_gp_posterior_interpolates_observations_and_reverts_to_the_prior_far_away():
    X = np.array([[0.1], [0.4], [0.8]])
    y = np.array([1.0, -0.5, 2.0])
    mean, var = gp_posterior(X, y, X, length_scale=0.2, signal_var=1.5, noise_var=1e-10)
    np.testing.assert_allclose(mean, y, atol=1e-6)
    np.testing.assert_allclose(var, 0.0, atol=1e-6)
    mean_far, var_far = gp_posterior(X, y, np.array([[50.0]]), length_scale=0.2, signal_var=1.5)
    np.testing.assert_allclose(mean_far, y.mean())
    np.testing.assert_allclose(var_far, 1.5)


def test_gp_posterior_matches_the_textbook_formula_with_an_inverse():
    rng = np.random.default_rng(2)
    X, Xs, y = rng.random((6, 2)), rng.random((9, 2)), rng.normal(size=6)
    K = rbf_kernel(X, X, 0.3, 0.7) + 1e-3 * np.eye(6)
    Ks = rbf_kernel(X, Xs, 0.3, 0.7)
    inv = np.linalg.inv(K)
    mean, var = gp_posterior(X, y, Xs, length_scale=0.3, signal_var=0.7, noise_var=1e-3)
    np.testing.assert_allclose(mean, y.mean() + Ks.T @ inv @ (y - y.mean()), rtol=1e-9)
    np.testing.assert_allclose(var, 0.7 - np.einsum("ij,ik,kj->j", Ks, inv, Ks), atol=1e-12)


def test_expected_improvement_closed_form_against_monte_carlo():
    mu, sigma, best, xi = 0.3, 0.5, 0.1, 0.05
    draws = np.random.default_rng(0).normal(mu, sigma, 2_000_000)
    monte_carlo = np.mean(np.maximum(best - xi - draws, 0.0))
    assert abs(float(expected_improvement(mu, sigma, best, xi)) - monte_carlo) < 1e-3


def test_expected_improvement_with_certain_predictions_is_the_plain_improvement():
    ei = expected_improvement(np.array([0.0, 1.0]), np.array([0.0, 0.0]), best=0.5)
    np.testing.assert_array_equal(ei, [0.5, 0.0])


def test_bayesian_optimization_beats_random_search_on_a_smooth_bowl():
    bo_best, rs_best = [], []
    for seed in range(5):
        _, v_bo = bayesian_optimization(bowl, BOUNDS, 15, np.random.default_rng(seed))
        _, v_rs = random_search(bowl, BOUNDS, 15, np.random.default_rng(seed))
        bo_best.append(v_bo.min())
        rs_best.append(v_rs.min())
    assert np.mean(bo_best) < 0.5 * np.mean(rs_best)


def test_bayesian_optimization_is_repeatable_and_stays_in_bounds():
    p1, v1 = bayesian_optimization(bowl, BOUNDS, 8, np.random.default_rng(1), n_candidates=200)
    p2, v2 = bayesian_optimization(bowl, BOUNDS, 8, np.random.default_rng(1), n_candidates=200)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(v1, v2)
    assert p1.shape == (8, 2)
    for j, (lo, hi) in enumerate(BOUNDS):
        assert np.all((p1[:, j] >= lo) & (p1[:, j] <= hi))


def test_bayesian_optimization_uses_the_given_posterior_and_acquisition():
    calls = []

    def acquisition(mu, sigma, best, xi):
        calls.append(len(mu))
        return expected_improvement(mu, sigma, best, xi)

    bayesian_optimization(bowl, BOUNDS, 6, np.random.default_rng(0), n_init=4,
                          n_candidates=50, acquisition=acquisition)
    assert calls == [50, 50]


def test_tabulated_objective_hits_the_table_and_interpolates_in_log_space():
    f = TabulatedObjective([-2.0, -1.0, 0.0], [-3.0, -1.0], [[1.0, 2.0], [3.0, 4.0], [5.0, 8.0]])
    assert f(0.1, 1e-3) == 3.0
    assert f(10 ** -0.5, 1e-2) == pytest.approx(0.25 * (3 + 4 + 5 + 8))
    assert f(1e-9, 1e9) == 2.0  # clipped to the grid
    np.testing.assert_allclose(f(np.array([0.01, 1.0]), 0.1), [2.0, 8.0])
    assert f.minimum() == (pytest.approx(0.01), pytest.approx(1e-3), 1.0)
