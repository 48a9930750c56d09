"""Grading spec of day4/4_6_normalization_family: group normalization and early stopping.

The learner writes ``group_norm_forward`` / ``group_norm_backward`` (one function covers layer
normalization at G = 1 and instance normalization at G = C) and an ``EarlyStopping`` class.
Fixtures hold the inputs of the visible tests and reference outputs computed with
``course.normalization.GroupNormalization`` and ``course.train.EarlyStopping``.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.normalization import GroupNormalization
from course.train import EarlyStopping

NOTEBOOK = "day4/4_6_normalization_family"

# Scripted validation-accuracy curves for the visible early-stopping test: (curve, patience,
# min_delta). No ties and no improvement of exactly min_delta here (those are the edge-case
# test's job), so each curve isolates one rule.
ES_CURVES: list[tuple[list[float], int, float]] = [
    # rises, then 3 epochs without improvement: stops at the 3rd (off-by-one shows here)
    ([0.62, 0.75, 0.81, 0.84, 0.86, 0.855, 0.858, 0.852, 0.849, 0.85, 0.847, 0.845], 3, 0.0),
    # improves again after 2 bad epochs: the count must restart (wait = 0)
    ([0.70, 0.78, 0.80, 0.79, 0.795, 0.83, 0.82, 0.825, 0.81, 0.84, 0.835, 0.83, 0.832], 3, 0.0),
    # small gains below min_delta do not count as improvements
    ([0.80, 0.853, 0.861, 0.866, 0.8705, 0.872, 0.8745, 0.875], 2, 0.01),
    # never stops: every bad stretch is shorter than patience
    ([0.50, 0.60, 0.65, 0.64, 0.70, 0.72, 0.71, 0.75], 2, 0.0),
    # patience 1: the first epoch without improvement stops
    ([0.90, 0.91, 0.93, 0.925, 0.94], 1, 0.0),
    # a longer, realistic curve that peaks and then slowly declines (overfitting)
    ([0.55, 0.71, 0.79, 0.83, 0.852, 0.866, 0.874, 0.879, 0.877, 0.8815, 0.88, 0.878, 0.8765,
      0.879, 0.875, 0.872, 0.87], 5, 0.001),
]


def _run(stopper: EarlyStopping, curve: list[float]) -> int:
    """The epoch (from 1) at which ``stopper.step`` says stop, 0 if it never does."""
    for epoch, value in enumerate(curve, start=1):
        if stopper.step(value):
            return epoch
    return 0


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(46)
    n, c, h, w, groups = 4, 6, 4, 5, 2  # C // G = 3 differs from G: a swapped split shows
    # channel scales 0.5 .. 3 and offsets: group statistics differ from each other
    x = rng.normal(size=(n, c, h, w)) * rng.uniform(0.5, 3.0, size=(1, c, 1, 1)) + rng.normal(
        0.0, 2.0, size=(1, c, 1, 1)
    )
    gamma = rng.uniform(0.5, 2.0, size=c)
    beta = rng.normal(size=c)
    ones, zeros = np.ones(c), np.zeros(c)
    # small variance (~1e-3 .. 2e-2) and eps = 0.1: sqrt(var + eps) and sqrt(var) + eps differ
    x_small = 0.05 * rng.normal(size=(n, c, h, w)) * rng.uniform(0.5, 3.0, size=(1, c, 1, 1))
    fx = {
        "gn_x": x,
        "gn_gamma": gamma,
        "gn_beta": beta,
        "gn_G": np.array(groups),
        "gn_out": GroupNormalization(gamma.copy(), beta.copy(), groups).forward(x.copy()),
        "gn_xhat": GroupNormalization(ones.copy(), zeros.copy(), groups).forward(x.copy()),
        "gn_x_small": x_small,
        "gn_xhat_eps": GroupNormalization(ones.copy(), zeros.copy(), groups, eps=0.1).forward(
            x_small.copy()
        ),
        "gn_dout": rng.normal(size=(n, c, h, w)),
    }

    longest = max(len(curve) for curve, _, _ in ES_CURVES)
    curves = np.full((len(ES_CURVES), longest), np.nan)
    stopped, best_epoch, best = [], [], []
    for k, (curve, patience, min_delta) in enumerate(ES_CURVES):
        curves[k, : len(curve)] = curve
        stopper = EarlyStopping(patience=patience, min_delta=min_delta, mode="max")
        stopped.append(_run(stopper, curve))
        best_epoch.append(stopper.best_epoch)
        best.append(stopper.best)
    fx.update(
        es_curves=curves,
        es_lengths=np.array([len(curve) for curve, _, _ in ES_CURVES]),
        es_patience=np.array([patience for _, patience, _ in ES_CURVES]),
        es_min_delta=np.array([min_delta for _, _, min_delta in ES_CURVES]),
        es_stopped=np.array(stopped),
        es_best_epoch=np.array(best_epoch),
        es_best=np.array(best),
    )
    return fx


_FWD, _BWD, _ES = "gn_forward", "gn_backward", "early_stopping"
TYPICAL_BUGS = [
    # group_norm_forward
    Bug(name="GN statistics include the batch axis (behaves like BN)", cell=_FWD,
        old="axes = (2, 3, 4)  # one statistic per (sample n, group g)",
        new="axes = (0, 2, 3, 4)  # one statistic per (sample n, group g)",
        caught_by="test_gn_forward", message_contains="バッチ方向",
        cascades=("test_gn_special_cases", "test_gn_backward")),
    Bug(name="channels split as (C // G, G) instead of (G, C // G)", cell=_FWD,
        old="xg = x.reshape(N, G, C // G, H, W)", new="xg = x.reshape(N, C // G, G, H, W)",
        caught_by="test_gn_forward", message_contains="グループごとの平均",
        cascades=("test_gn_special_cases", "test_gn_backward")),
    Bug(name="unbiased group variance (ddof=1)", cell=_FWD,
        old="var = xg.var(axis=axes, keepdims=True)",
        new="var = xg.var(axis=axes, keepdims=True, ddof=1)",
        caught_by="test_gn_forward", message_contains="グループごとの分散",
        cascades=("test_gn_special_cases", "test_gn_backward")),
    Bug(name="eps outside the square root", cell=_FWD,
        old="std = np.sqrt(var + eps)", new="std = np.sqrt(var) + eps",
        caught_by="test_gn_forward", message_contains="eps=0.1",
        cascades=("test_gn_special_cases", "test_gn_backward")),
    Bug(name="beta multiplied by gamma", cell=_FWD,
        old="gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)",
        new="gamma.reshape(1, C, 1, 1) * (x_hat + beta.reshape(1, C, 1, 1))",
        caught_by="test_gn_forward", message_contains="gamma, beta あり",
        cascades=("test_gn_special_cases", "test_gn_backward")),
    # group_norm_backward
    Bug(name="dgamma summed per group instead of per channel", cell=_BWD,
        old="dgamma = (dout * x_hat).sum(axis=(0, 2, 3))",
        new="dgamma = (dout * x_hat).reshape(grouped).sum(axis=(0, 2, 3, 4))",
        caught_by="test_gn_backward", message_contains="dgamma"),
    Bug(name="dbeta not summed over H, W", cell=_BWD,
        old="dbeta = dout.sum(axis=(0, 2, 3))", new="dbeta = dout.sum(axis=0)",
        caught_by="test_gn_backward", message_contains="dbeta"),
    Bug(name="dx without the path through the variance", cell=_BWD,
        old="- xh * (dxhat * xh).mean(axis=axes, keepdims=True)) / std", new=") / std",
        caught_by="test_gn_backward", message_contains="dx の相対誤差"),
    Bug(name="dx group means over the batch axis too", cell=_BWD,
        old="axes = (2, 3, 4)  # the group of each sample",
        new="axes = (0, 2, 3, 4)  # the group of each sample",
        caught_by="test_gn_backward", message_contains="dx の相対誤差"),
    Bug(name="gamma left out of dxhat", cell=_BWD,
        old="dxhat = (dout * gamma.reshape(1, C, 1, 1)).reshape(grouped)",
        new="dxhat = dout.reshape(grouped)",
        caught_by="test_gn_backward", message_contains="dx の相対誤差"),
    # EarlyStopping
    Bug(name="early stopping off by one (stops after patience + 1 bad epochs)", cell=_ES,
        old="return self.wait >= self.patience", new="return self.wait > self.patience",
        caught_by="test_early_stopping_curves", message_contains="停止エポック",
        cascades=("test_early_stopping_edge_cases",)),
    Bug(name="wait not reset on improvement", cell=_ES,
        old="self.best, self.best_epoch, self.wait = value, self.epoch, 0",
        new="self.best, self.best_epoch = value, self.epoch",
        caught_by="test_early_stopping_curves", message_contains="停止エポック"),
    Bug(name="early stopping at the first epoch without improvement", cell=_ES,
        old="return self.wait >= self.patience", new="return not improved",
        caught_by="test_early_stopping_curves",
        message_contains="最初に改善しなかったエポックで止めて"),
    Bug(name="best and best_epoch updated every epoch", cell=_ES,
        old=("        if improved:\n"
             "            self.best, self.best_epoch, self.wait = value, self.epoch, 0\n"
             "        else:\n            self.wait += 1"),
        new=("        self.best, self.best_epoch = value, self.epoch\n        if improved:\n"
             "            self.wait = 0\n        else:\n            self.wait += 1"),
        caught_by="test_early_stopping_curves", message_contains="毎エポック更新していませんか"),
    Bug(name="best_epoch counted from 0", cell=_ES,
        old="self.best, self.best_epoch, self.wait = value, self.epoch, 0",
        new="self.best, self.best_epoch, self.wait = value, self.epoch - 1, 0",
        caught_by="test_early_stopping_curves", message_contains="best_epoch",
        cascades=("test_early_stopping_edge_cases",)),
    Bug(name="improvement compared with >= (ties count as improvements)", cell=_ES,
        old="improved = value > self.best + self.min_delta",
        new="improved = value >= self.best + self.min_delta",
        caught_by="test_early_stopping_edge_cases", message_contains="同じ値が続く"),
    Bug(name="min_delta added in the wrong direction for mode='min'", cell=_ES,
        old="improved = value < self.best - self.min_delta",
        new="improved = value < self.best + self.min_delta",
        caught_by="test_early_stopping_edge_cases", message_contains="mode='min'"),
]

# The partly correct learner: GN forward right, dx of the backward incomplete; early stopping
# right on the scripted curves but counting ties as improvements.
PARTIAL_BUGS = [
    "dx without the path through the variance",
    "improvement compared with >= (ties count as improvements)",
]
PARTIAL_EXPECTED = {
    "test_gn_forward": 2,
    "test_gn_special_cases": 2,
    "test_gn_backward": 0,
    "test_early_stopping_curves": 2,
    "test_early_stopping_edge_cases": 0,
}
