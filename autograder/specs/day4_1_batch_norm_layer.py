"""Grading spec of day4/4_1_batch_normalization_layer: the learner's BatchNormalization class.

Fixtures hold the inputs of the visible tests and the reference outputs for them, computed with
``course.normalization.BatchNormalization`` (momentum 0.9, eps 1e-5, biased variance).
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.normalization import BatchNormalization

NOTEBOOK = "day4/4_1_batch_normalization_layer"


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(41)
    n, d = 6, 5
    # Feature scales from 0.02 to 10: with var ~ 4e-4 in the first column, eps = 1e-5 inside or
    # outside the square root makes a clear difference.
    scales = np.array([0.02, 0.5, 1.0, 3.0, 10.0])
    x = rng.normal(size=(n, d)) * scales + rng.normal(0.0, 3.0, size=d)
    gamma = rng.uniform(0.5, 2.0, size=d)
    beta = rng.normal(size=d)

    bn = BatchNormalization(gamma.copy(), beta.copy())
    train_out = bn.forward(x.copy(), train=True)
    fx = {
        "x": x,
        "gamma": gamma,
        "beta": beta,
        "train_std": np.ravel(bn.std),
        "train_xn": bn.xn,
        "train_out": train_out,
    }

    # running statistics after 1 and after 3 training batches (from zeros / ones)
    rs_batches = rng.normal(2.0, 1.5, size=(3, n, d))
    bn = BatchNormalization(gamma.copy(), beta.copy(), momentum=0.9)
    bn.forward(rs_batches[0].copy(), train=True)
    fx["rs_batches"] = rs_batches
    fx["rs_mean_1"] = bn.running_mean.copy()
    fx["rs_var_1"] = bn.running_var.copy()
    for xb in rs_batches[1:]:
        bn.forward(xb.copy(), train=True)
    fx["rs_mean_3"] = bn.running_mean.copy()
    fx["rs_var_3"] = bn.running_var.copy()

    # inference with given running statistics (one small variance: eps placement matters)
    inf_mean = rng.normal(0.0, 2.0, size=d)
    inf_var = rng.uniform(0.5, 4.0, size=d)
    inf_var[0] = 4e-4
    bn = BatchNormalization(gamma.copy(), beta.copy(), running_mean=inf_mean.copy(),
                            running_var=inf_var.copy())
    fx["inf_running_mean"] = inf_mean
    fx["inf_running_var"] = inf_var
    fx["inf_out"] = bn.forward(x.copy(), train=False)

    # gradient checks: moderate scales, so central differences are accurate to ~1e-10
    fx["x_grad"] = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    fx["dout"] = rng.normal(size=(n, d))

    # (N, C, H, W): statistics per channel over (N, H, W)
    x4 = rng.normal(size=(4, 3, 2, 5)) * np.array([0.5, 1.0, 2.0])[None, :, None, None] + 1.0
    gamma4 = rng.uniform(0.5, 2.0, size=3)
    beta4 = rng.normal(size=3)
    bn = BatchNormalization(gamma4.copy(), beta4.copy())
    fx.update(x4=x4, gamma4=gamma4, beta4=beta4, nchw_out=bn.forward(x4.copy(), train=True),
              dout4=rng.normal(size=x4.shape))
    return fx


_CLS = "bn_class"
TYPICAL_BUGS = [
    # _forward_train
    Bug(name="variance over the wrong axis (all elements)", cell=_CLS,
        old="var = np.mean(xc**2, axis=0)", new="var = np.mean(xc**2)",
        caught_by="test_forward_train", message_contains="axis=0",
        cascades=("test_running_stats", "test_backward_dx", "test_nchw")),
    Bug(name="unbiased variance (ddof=1)", cell=_CLS,
        old="var = np.mean(xc**2, axis=0)", new="var = np.sum(xc**2, axis=0) / (x.shape[0] - 1)",
        caught_by="test_forward_train", message_contains="ddof=0",
        cascades=("test_running_stats", "test_backward_dx", "test_nchw")),
    Bug(name="eps outside the square root", cell=_CLS,
        old="std = np.sqrt(var + self.eps)", new="std = np.sqrt(var) + self.eps",
        caught_by="test_forward_train", message_contains="平方根の中",
        cascades=("test_backward_dx", "test_nchw")),
    Bug(name="gamma and beta swapped", cell=_CLS,
        old='out = self.params["gamma"] * xn + self.params["beta"]',
        new='out = self.params["beta"] * xn + self.params["gamma"]',
        caught_by="test_forward_train", message_contains="gamma * x_hat + beta",
        cascades=("test_backward_dx", "test_backward_params", "test_nchw")),
    Bug(name="input modified in place", cell=_CLS,
        old="xc = x - mu", new="xc = x\n        xc -= mu",
        # no cascade: the later tests give the layer copies of x (a test never reads an input
        # after the learner's code had it), so only the "input modified" check sees this bug
        caught_by="test_forward_train", message_contains="書き換え"),
    # running statistics (inside _forward_train)
    Bug(name="momentum weights swapped", cell=_CLS,
        old="self.momentum * self.running_mean + (1 - self.momentum) * mu",
        new="(1 - self.momentum) * self.running_mean + self.momentum * mu",
        caught_by="test_running_stats", message_contains="古い値の重み"),
    Bug(name="running mean replaced, not averaged", cell=_CLS,
        old="self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu",
        new="self.running_mean = mu",
        caught_by="test_running_stats", message_contains="加重平均"),
    Bug(name="running variance updated with std", cell=_CLS,
        old="self.momentum * self.running_var + (1 - self.momentum) * var",
        new="self.momentum * self.running_var + (1 - self.momentum) * std",
        caught_by="test_running_stats", message_contains="標準偏差 std ではなく"),
    Bug(name="running variance stores var + eps", cell=_CLS,
        old="self.momentum * self.running_var + (1 - self.momentum) * var",
        new="self.momentum * self.running_var + (1 - self.momentum) * (var + self.eps)",
        caught_by="test_running_stats", message_contains="ε は running_var に入れません"),
    # _forward_inference
    Bug(name="batch statistics used at inference", cell=_CLS,
        old="xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)",
        new="xn = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + self.eps)",
        caught_by="test_inference", message_contains="running_mean と running_var を使います"),
    Bug(name="running statistics changed in inference mode", cell=_CLS,
        old='return self.params["gamma"] * xn + self.params["beta"]',
        new=('self.running_mean = self.momentum * self.running_mean'
             ' + (1 - self.momentum) * x.mean(axis=0)\n'
             '        return self.params["gamma"] * xn + self.params["beta"]'),
        caught_by="test_inference", message_contains="更新しません"),
    Bug(name="eps outside the square root at inference", cell=_CLS,
        old="np.sqrt(self.running_var + self.eps)", new="(np.sqrt(self.running_var) + self.eps)",
        caught_by="test_inference", message_contains="np.sqrt(running_var + eps)"),
    # _backward
    Bug(name="dbeta not summed over the batch", cell=_CLS,
        old='self.grads["beta"] = np.sum(dout, axis=0)', new='self.grads["beta"] = dout',
        caught_by="test_backward_params", message_contains="dbeta"),
    Bug(name="dgamma without x_hat", cell=_CLS,
        old="np.sum(dout * self.xn, axis=0)", new="np.sum(dout, axis=0)",
        caught_by="test_backward_params", message_contains="x_hat を掛け忘れて"),
    Bug(name="dx ignores the path through the mean", cell=_CLS,
        old="(dxn - dxn.mean(axis=0) - ", new="(dxn - ",
        caught_by="test_backward_dx", message_contains="第 2 項",
        cascades=("test_nchw",)),
    Bug(name="dx ignores the path through the variance", cell=_CLS,
        old=" - self.xn * np.mean(dxn * self.xn, axis=0)", new="",
        caught_by="test_backward_dx", message_contains="第 3 項",
        cascades=("test_nchw",)),
    Bug(name="dx forgets gamma", cell=_CLS,
        old='dxn = dout * self.params["gamma"]', new="dxn = dout",
        caught_by="test_backward_dx", message_contains="dxn = gamma * dout",
        cascades=("test_nchw",)),
    # to_2d / from_2d
    Bug(name="NCHW reshaped without moving channels last", cell=_CLS,
        old="x.transpose(0, 2, 3, 1).reshape(-1, C)", new="x.reshape(-1, C)",
        caught_by="test_nchw", message_contains="transpose(0, 2, 3, 1)"),
    Bug(name="from_2d reshapes without transposing back", cell=_CLS,
        old="y.reshape(N, H, W, C).transpose(0, 3, 1, 2)", new="y.reshape(N, C, H, W)",
        caught_by="test_nchw", message_contains="逆変換"),
    Bug(name="from_2d transposes the wrong way", cell=_CLS,
        old="y.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        new="y.reshape(N, H, W, C).transpose(0, 2, 3, 1)",
        caught_by="test_nchw", message_contains="逆変換"),
]

PARTIAL_BUGS = ["momentum weights swapped", "dbeta not summed over the batch"]
PARTIAL_EXPECTED = {
    "test_forward_train": 2,
    "test_running_stats": 0,
    "test_inference": 2,
    "test_backward_dx": 2,
    "test_backward_params": 0,
    "test_nchw": 1,
}
