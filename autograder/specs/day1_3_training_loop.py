"""Grading spec of day1/1_3_training_loop: input standardisation (training-set statistics only),
a mini-batch SGD loop with per-epoch shuffling, and overfitting 20 images as a debugging check.

Fixtures hold the inputs of the visible tests and the reference results: standardisation of a
small matrix with a constant column, and a short training run of a small MultiLayerNet with
``course.train.Trainer`` and ``course.optim.SGD`` (the loop the learner writes must match it).
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.net import MultiLayerNet
from course.optim import SGD
from course.train import Trainer

NOTEBOOK = "day1/1_3_training_loop"

# The reference training run of test_sgd_training (the notebook passes the same numbers).
SGD_RUN = {"epochs": 3, "batch_size": 7, "lr": 0.1, "seed": 1}


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(13)
    x = rng.normal(size=(6, 4)) * np.array([1.0, 5.0, 1.0, 0.2]) + np.array([0.0, 3.0, 0.0, -1.0])
    x[:, 2] = 0.5  # a constant feature: standard deviation exactly 0
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    fx = {"std_x": x, "std_mean": mean, "std_std": std, "std_out": (x - mean) / std}

    x = rng.normal(size=(30, 8))
    t = rng.integers(0, 3, size=30)
    net = MultiLayerNet(8, [6], 3, seed=0)
    trainer = Trainer(net, SGD(lr=SGD_RUN["lr"]), x, t, epochs=SGD_RUN["epochs"],
                      batch_size=SGD_RUN["batch_size"], seed=SGD_RUN["seed"], progress=False)
    history = trainer.train()
    fx.update(sgd_x=x, sgd_t=t, sgd_train_loss=np.array(history["train_loss"]),
              sgd_train_acc=np.array(history["train_acc"]))
    for name, value in net.params.items():
        fx[f"sgd_{name}"] = value.copy()
    return fx


_STD, _SGD, _FIT = "standardize_fns", "train_sgd_fn", "overfit_small_batch"
TYPICAL_BUGS = [
    # standardisation
    Bug(name="statistics over all elements, not per feature", cell=_STD,
        old="mean = x.mean(axis=0)\n    std = x.std(axis=0)",
        new="mean = x.mean()\n    std = x.std()",
        caught_by="test_standardize", message_contains="axis=0"),
    Bug(name="zero standard deviation not replaced", cell=_STD,
        old="    std = np.where(std == 0, 1, std)\n", new="",
        caught_by="test_standardize", message_contains="標準偏差が 0",
        cascades=("test_overfit_small_batch",)),
    Bug(name="divides by the variance", cell=_STD,
        old="std = x.std(axis=0)", new="std = x.var(axis=0)",
        caught_by="test_standardize", message_contains="分散ではなく",
        cascades=("test_overfit_small_batch",)),
    Bug(name="input modified in place", cell=_STD,
        old="return (x - mean) / std", new="x -= mean\n    x /= std\n    return x",
        caught_by="test_standardize", message_contains="書き換え"),
    Bug(name="test set standardised with its own statistics", cell=_STD,
        old="x_test_std = standardize(x_test, mean_train, std_train)",
        new="x_test_std = standardize(x_test, *fit_standardizer(x_test))",
        caught_by="test_standardize", message_contains="学習データ (training set) だけ"),
    # mini-batches
    Bug(name="no shuffling", cell=_SGD,
        old="order = rng.permutation(n)", new="order = np.arange(n)",
        caught_by="test_minibatches", message_contains="シャッフル",
        cascades=("test_sgd_training",)),
    Bug(name="shuffled once, not every epoch", cell=_SGD,
        old="    for epoch in range(epochs):\n        order = rng.permutation(n)\n",
        new="    order = rng.permutation(n)\n    for epoch in range(epochs):\n",
        caught_by="test_minibatches", message_contains="エポックごとに",
        cascades=("test_sgd_training",)),
    Bug(name="a new generator every epoch", cell=_SGD,
        old="order = rng.permutation(n)", new="order = np.random.default_rng(seed).permutation(n)",
        caught_by="test_minibatches", message_contains="エポックごとに",
        cascades=("test_sgd_training",)),
    Bug(name="mini-batches drawn with replacement", cell=_SGD,
        old="batch = order[i * batch_size:(i + 1) * batch_size]",
        new="batch = rng.choice(n, batch_size)",
        caught_by="test_minibatches", message_contains="ちょうど 1 回",
        cascades=("test_sgd_training",)),
    Bug(name="mini-batch slice one too long", cell=_SGD,
        old="batch = order[i * batch_size:(i + 1) * batch_size]",
        new="batch = order[i * batch_size:(i + 1) * batch_size + 1]",
        caught_by="test_minibatches", message_contains="batch_size 個",
        cascades=("test_sgd_training",)),
    # parameter update
    Bug(name="gradient ascent (+= instead of -=)", cell=_SGD,
        old="net.params[key] -= lr * grads[key]", new="net.params[key] += lr * grads[key]",
        caught_by="test_sgd_training", message_contains="勾配と逆の向き",
        cascades=("test_overfit_small_batch",)),
    Bug(name="parameters replaced instead of updated in place", cell=_SGD,
        old="net.params[key] -= lr * grads[key]",
        new="net.params[key] = net.params[key] - lr * grads[key]",
        caught_by="test_sgd_training", message_contains="その場で (in place)",
        cascades=("test_overfit_small_batch",)),
    Bug(name="learning rate forgotten", cell=_SGD,
        old="net.params[key] -= lr * grads[key]", new="net.params[key] -= grads[key]",
        caught_by="test_sgd_training", message_contains="学習率 lr を掛け"),
    # overfitting a small batch
    Bug(name="learning rate far too small to overfit", cell=_FIT,
        old="overfit_lr = 0.1", new="overfit_lr = 1e-4",
        caught_by="test_overfit_small_batch", message_contains="小さすぎ"),
    Bug(name="learning rate so large that training diverges", cell=_FIT,
        old="overfit_lr = 0.1", new="overfit_lr = 100.0",
        caught_by="test_overfit_small_batch", message_contains="発散"),
    Bug(name="too few epochs to overfit", cell=_FIT,
        old="overfit_epochs = 50", new="overfit_epochs = 2",
        caught_by="test_overfit_small_batch", message_contains="エポック数"),
]

PARTIAL_BUGS = ["test set standardised with its own statistics", "learning rate forgotten"]
PARTIAL_EXPECTED = {
    "test_standardize": 0,
    "test_minibatches": 3,
    "test_sgd_training": 0,
    "test_overfit_small_batch": 2,
}
