"""Hyperparameter search: log-uniform sampling, grid and random search, Bayesian optimisation.

Every search minimises an ``objective(*point) -> float`` (e.g. a validation error as a function of
the learning rate and the weight-decay lambda) within a ``budget`` of evaluations and returns
``(points, values)``: points (budget, d) in the objective's own units, values (budget,) in the
order they were evaluated, so ``best_so_far(values)`` draws how fast a search found a good region.

Hyperparameters such as lr and lambda act by orders of magnitude, so the searches work on a log10
scale: random search draws log-uniformly, and the Gaussian process of the Bayesian optimisation
lives on the unit cube of log10 coordinates. Random numbers come from a ``np.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Objective = Callable[..., float]
Bounds = Sequence[tuple[float, float]]

_SQRT_2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)
_ERF_SPLIT = 2.5  # series below, continued fraction above (both ~1e-15 there)
_SERIES_TERMS = 60
_FRACTION_DEPTH = 50


# ----------------------------------------------------------------------------- sampling


def log_uniform(
    low: float, high: float, size: int | tuple[int, ...] | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray | float:
    """Log-uniform samples in [low, high]: ``10 ** u`` with ``u ~ U(log10 low, log10 high)``.

    Exactly ``10 ** rng.uniform(np.log10(low), np.log10(high), size)``: every decade gets the
    same share of samples (as many between 1e-4 and 1e-3 as between 0.1 and 1).
    """
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    rng = np.random.default_rng() if rng is None else rng
    return 10.0 ** rng.uniform(np.log10(low), np.log10(high), size)


# ----------------------------------------------------------------------------- searches


def grid_search(objective: Objective, axes: Sequence[Sequence[float]]) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Evaluate ``objective`` at every combination of the values in ``axes`` (C order).

    axes: one 1-D sequence per hyperparameter, e.g. [lrs, lams]; the first axis is the outer
    loop: (lr0, lam0), (lr0, lam1), ..., (lr1, lam0), ...
    Returns points (prod(len(a)), d) and values (prod(len(a)),).
    """
    mesh = np.meshgrid(*[np.asarray(a, dtype=float) for a in axes], indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=1)
    values = np.array([float(objective(*p)) for p in points])
    return points, values


def random_search(
    objective: Objective, bounds: Bounds, budget: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``objective`` at ``budget`` log-uniform points inside ``bounds``.

    bounds: [(low, high), ...] per hyperparameter. Column j of the points is
    ``log_uniform(*bounds[j], budget, rng)``, drawn for j = 0, 1, ... in that order.
    Returns points (budget, d) and values (budget,).
    """
    points = np.stack([log_uniform(lo, hi, budget, rng) for lo, hi in bounds], axis=1)
    values = np.array([float(objective(*p)) for p in points])
    return points, values


def best_so_far(values: Sequence[float]) -> np.ndarray:
    """Running minimum: entry n is the best value among the first n + 1 evaluations."""
    return np.minimum.accumulate(np.asarray(values, dtype=float))


def evaluations_to_reach(curve: Sequence[float], target: float) -> int | None:
    """The number of evaluations (1-based) after which ``curve`` is <= target; None if never."""
    reached = np.flatnonzero(np.asarray(curve, dtype=float) <= target)
    return int(reached[0]) + 1 if reached.size else None


# ----------------------------------------------------------------------------- normal distribution


def _erf_series(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)) (positive terms)."""
    x2 = x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * (2.0 * x2 / (2 * n + 1))
        total = total + term
    return 2.0 / _SQRT_PI * np.exp(-x2) * total


def _erfc_fraction(x: np.ndarray) -> np.ndarray:
    """erfc(x) for x > 0: exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))."""
    f = x.copy()
    for k in range(_FRACTION_DEPTH, 0, -1):
        f = x + (k / 2.0) / f
    return np.exp(-x * x) / _SQRT_PI / f


def erfc(x: np.ndarray | float) -> np.ndarray:
    """Complementary error function 1 - erf(x), vectorised (about 1e-15 relative for x > 2.5)."""
    x = np.asarray(x, dtype=float)
    a = np.abs(x)
    positive = np.empty_like(a)  # erfc(|x|), each branch computed only where it is used
    small = a < _ERF_SPLIT
    positive[small] = 1.0 - _erf_series(a[small])
    positive[~small] = _erfc_fraction(a[~small])
    return np.where(x >= 0, positive, 2.0 - positive)


def normal_pdf(z: np.ndarray | float) -> np.ndarray:
    """Standard normal density phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."""
    z = np.asarray(z, dtype=float)
    return np.exp(-0.5 * z * z) / (_SQRT_2 * _SQRT_PI)


def normal_cdf(z: np.ndarray | float) -> np.ndarray:
    """Standard normal distribution function Phi(z) = erfc(-z / sqrt 2) / 2 (accurate in tails)."""
    return 0.5 * erfc(-np.asarray(z, dtype=float) / _SQRT_2)


# ----------------------------------------------------------------------------- Gaussian process


def rbf_kernel(
    A: np.ndarray, B: np.ndarray, length_scale: float = 1.0, signal_var: float = 1.0,
) -> np.ndarray:
    """RBF (squared-exponential) kernel matrix K (n, m) between rows of A (n, d) and B (m, d).

    K[i, j] = signal_var * exp(-||A_i - B_j||^2 / (2 * length_scale^2)).
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    B = np.atleast_2d(np.asarray(B, dtype=float))
    sq = np.sum(A**2, axis=1)[:, None] + np.sum(B**2, axis=1)[None, :] - 2.0 * A @ B.T
    return signal_var * np.exp(-np.maximum(sq, 0.0) / (2.0 * length_scale**2))


def _solve_lower(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L^-1 b for a lower-triangular L (numpy has no triangular solver; n is small here)."""
    return np.linalg.solve(L, b)


def gp_posterior(
    X: np.ndarray, y: np.ndarray, X_star: np.ndarray, length_scale: float = 1.0,
    signal_var: float = 1.0, noise_var: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of a GP at X_star (m, d), given observations y (n,) at X (n, d).

    Prior: constant mean m0 = mean(y), RBF kernel k (rbf_kernel), observation noise noise_var:
        K = k(X, X) + noise_var * I = L L^T (Cholesky),  k_* = k(X, X_star) (n, m)
        mean = m0 + k_*^T K^-1 (y - m0) = m0 + k_*^T alpha,  alpha = L^-T L^-1 (y - m0)
        var  = k(x_*, x_*) - k_*^T K^-1 k_* = signal_var - sum(v**2, axis=0),  v = L^-1 k_*
    The variance is clipped at 0 (round-off can make it slightly negative at observed points).
    Returns mean (m,) and var (m,).
    """
    X = np.atleast_2d(np.asarray(X, dtype=float))
    y = np.asarray(y, dtype=float)
    X_star = np.atleast_2d(np.asarray(X_star, dtype=float))
    m0 = float(np.mean(y))
    K = rbf_kernel(X, X, length_scale, signal_var) + noise_var * np.eye(len(X))
    L = np.linalg.cholesky(K)
    alpha = _solve_lower(L.T, _solve_lower(L, y - m0))
    K_star = rbf_kernel(X, X_star, length_scale, signal_var)
    mean = m0 + K_star.T @ alpha
    v = _solve_lower(L, K_star)
    var = np.maximum(signal_var - np.sum(v**2, axis=0), 0.0)
    return mean, var


def expected_improvement(
    mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0,
) -> np.ndarray:
    """Expected improvement below ``best`` (minimisation) of N(mu, sigma^2) predictions.

    With I = best - mu - xi and z = I / sigma:
        EI = I * Phi(z) + sigma * phi(z)   where sigma > 0,
        EI = max(I, 0)                     where sigma = 0 (the prediction is certain).
    xi >= 0 asks for an improvement by at least xi (more exploration).
    mu, sigma: (m,) posterior mean and standard deviation. Returns (m,).
    """
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    improvement = best - mu - xi
    positive = sigma > 0
    z = improvement / np.where(positive, sigma, 1.0)
    ei = improvement * normal_cdf(z) + sigma * normal_pdf(z)
    return np.where(positive, ei, np.maximum(improvement, 0.0))


def bayesian_optimization(
    objective: Objective, bounds: Bounds, budget: int, rng: np.random.Generator,
    n_init: int = 4, n_candidates: int = 1000, length_scale: float = 0.2,
    noise_var: float = 1e-6, xi: float = 0.01,
    posterior: Callable[..., tuple[np.ndarray, np.ndarray]] = gp_posterior,
    acquisition: Callable[..., np.ndarray] = expected_improvement,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objective`` with a GP surrogate and expected improvement; ``budget`` evaluations.

    The GP works on u in [0, 1]^d: log10 x_j = log10 low_j + u_j * (log10 high_j - log10 low_j).
    1. n_init points u ~ U[0, 1]^d (``rng.random((n_init, d))``): log-uniform, as random search.
    2. Repeat until the budget is spent: standardise the values seen so far,
       y_s = (y - mean(y)) / std(y) (std 0 -> 1); draw n_candidates points u ~ U[0, 1]^d
       (``rng.random((n_candidates, d))``); posterior(U, y_s, candidates, length_scale=...,
       signal_var=1.0, noise_var=...) -> mean, var; sigma = sqrt(var);
       acquisition(mean, sigma, min(y_s), xi) -> EI; evaluate the candidate of largest EI.
    The kernel's length scale is fixed (a library would fit it by maximising the marginal
    likelihood). ``posterior`` / ``acquisition`` can be swapped for one's own implementations.
    Returns points (budget, d) in the objective's units and values (budget,).
    """
    lo = np.log10(np.asarray([b[0] for b in bounds], dtype=float))
    hi = np.log10(np.asarray([b[1] for b in bounds], dtype=float))
    n_init = min(n_init, budget)

    def to_natural(u: np.ndarray) -> np.ndarray:
        return 10.0 ** (lo + u * (hi - lo))

    U = rng.random((n_init, len(lo)))
    values = [float(objective(*to_natural(u))) for u in U]
    for _ in range(budget - n_init):
        y = np.asarray(values)
        std = float(np.std(y))
        y_s = (y - np.mean(y)) / (std if std > 0 else 1.0)
        candidates = rng.random((n_candidates, len(lo)))
        mean, var = posterior(U, y_s, candidates, length_scale=length_scale, signal_var=1.0,
                              noise_var=noise_var)
        sigma = np.sqrt(np.maximum(np.asarray(var, dtype=float), 0.0))
        ei = acquisition(mean, sigma, float(np.min(y_s)), xi)
        u_next = candidates[int(np.argmax(ei))]
        U = np.vstack([U, u_next])
        values.append(float(objective(*to_natural(u_next))))
    return to_natural(U), np.asarray(values)


# ----------------------------------------------------------------------------- tabulated objective


class TabulatedObjective:
    """A cheap objective f(x, y) read from a table measured on a log10 grid (bilinear, log scale).

    log_x (n,), log_y (m,): increasing log10 grid coordinates; table (n, m): table[i, j] is the
    value measured at x = 10**log_x[i], y = 10**log_y[j]. f(x, y) interpolates bilinearly in
    (log10 x, log10 y), clipped to the grid. Accepts scalars or broadcastable arrays.
    """

    def __init__(self, log_x: np.ndarray, log_y: np.ndarray, table: np.ndarray) -> None:
        self.log_x = np.asarray(log_x, dtype=float)
        self.log_y = np.asarray(log_y, dtype=float)
        self.table = np.asarray(table, dtype=float)
        if self.table.shape != (len(self.log_x), len(self.log_y)):
            raise ValueError(f"table shape {self.table.shape} does not match the axes "
                             f"({len(self.log_x)}, {len(self.log_y)})")

    @staticmethod
    def _locate(axis: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.clip(q, axis[0], axis[-1])
        i = np.clip(np.searchsorted(axis, q, side="right") - 1, 0, len(axis) - 2)
        return i, (q - axis[i]) / (axis[i + 1] - axis[i])

    def __call__(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | float:
        qx, qy = np.broadcast_arrays(np.log10(np.asarray(x, dtype=float)),
                                     np.log10(np.asarray(y, dtype=float)))
        i, a = self._locate(self.log_x, qx)
        j, b = self._locate(self.log_y, qy)
        T = self.table
        value = ((1 - a) * (1 - b) * T[i, j] + a * (1 - b) * T[i + 1, j]
                 + (1 - a) * b * T[i, j + 1] + a * b * T[i + 1, j + 1])
        return float(value) if value.ndim == 0 else value

    def minimum(self) -> tuple[float, float, float]:
        """(x, y, value) of the smallest table entry."""
        i, j = np.unravel_index(int(np.argmin(self.table)), self.table.shape)
        return 10.0 ** self.log_x[i], 10.0 ** self.log_y[j], float(self.table[i, j])
