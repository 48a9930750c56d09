"""Grading spec of day4/4_3_dropout: the learner's Dropout class and the overfitting experiment.

Fixtures hold the inputs of the visible tests and reference outputs from ``course.layers.Dropout``
with seeded generators (the learner's layer draws its mask the same way, once per training
forward: ``rng.random(x.shape) > drop_ratio``), a toy training history for
``generalization_gap``, and the gaps of the notebook's quick overfitting run made with the
reference library. QUICK_EXPERIMENT must match the quick settings in the notebook's experiment
cell; a mismatch makes the visible test ``test_overfitting`` fail on the reference solution.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.layers import Dropout

NOTEBOOK = "day4/4_3_dropout"

DROP_RATIO = 0.3  # visible tests
GAP_LAST = 10  # generalization_gap averages the last 10 epochs
QUICK_EXPERIMENT = {
    "n_train": 300,
    "n_test": 300,
    "hidden": [100] * 6,
    "epochs": 20,
    "lr": 0.1,
    "batch_size": 100,
    "drop_ratio": 0.2,
    "seed": 0,
}


def _gap(history: dict, last: int = GAP_LAST) -> float:
    train = np.asarray(history["train_acc"], dtype=float)
    val = np.asarray(history["val_acc"], dtype=float)
    return float(np.mean(train[-last:] - val[-last:]))


def quick_overfitting_histories() -> dict[str, dict]:
    """Trainer histories of the quick experiment (no dropout / dropout), reference layers."""
    from course.data import load_mnist
    from course.net import MultiLayerNet
    from course.optim import SGD
    from course.train import Trainer

    cfg = QUICK_EXPERIMENT
    (x_train, t_train), (x_test, t_test) = load_mnist(dtype=np.float64)
    x_train, t_train = x_train[: cfg["n_train"]], t_train[: cfg["n_train"]]
    x_test, t_test = x_test[: cfg["n_test"]], t_test[: cfg["n_test"]]
    histories = {}
    for name, use_dropout in (("plain", False), ("dropout", True)):
        net = MultiLayerNet(784, cfg["hidden"], 10, use_dropout=use_dropout,
                            drop_ratio=cfg["drop_ratio"], seed=cfg["seed"],
                            dtype=np.float64)
        trainer = Trainer(net, SGD(lr=cfg["lr"]), x_train, t_train, x_test, t_test,
                          epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=cfg["seed"],
                          progress=False)
        histories[name] = trainer.train()
    return histories


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs, seeded reference outputs and the quick experiment's gaps (deterministic)."""
    rng = np.random.default_rng(43)
    x = rng.normal(size=(8, 10))
    dout = rng.normal(size=(8, 10))
    fx = {"x": x, "dout": dout}

    layer = Dropout(DROP_RATIO, rng=np.random.default_rng(0))
    fx["train_out"] = layer.forward(x.copy(), train=True)
    fx["train_mask"] = layer.mask.copy()
    fx["inference_out"] = layer.forward(x.copy(), train=False)
    layer = Dropout(DROP_RATIO, inverted=True, rng=np.random.default_rng(1))
    fx["inverted_train_out"] = layer.forward(x.copy(), train=True)
    for name, inverted in (("original", False), ("inverted", True)):
        layer = Dropout(DROP_RATIO, inverted=inverted, rng=np.random.default_rng(2))
        layer.forward(x.copy(), train=True)
        fx[f"dx_{name}"] = layer.backward(dout.copy())

    # a toy history of 15 epochs whose gap changes, so "last 10 epochs" is the only right window
    epochs = 15
    train_acc = np.minimum(1.0, 0.5 + 0.05 * np.arange(epochs) + rng.uniform(0, 0.02, epochs))
    val_acc = 0.45 + 0.025 * np.arange(epochs) + rng.uniform(0, 0.02, epochs)
    fx["toy_train_acc"] = train_acc
    fx["toy_val_acc"] = val_acc
    fx["toy_val_loss"] = 2.0 - 0.1 * np.arange(epochs) + rng.uniform(0, 0.05, epochs)
    fx["toy_gap"] = np.array(_gap({"train_acc": train_acc, "val_acc": val_acc}))

    histories = quick_overfitting_histories()
    fx["quick_gap_plain"] = np.array(_gap(histories["plain"]))
    fx["quick_gap_dropout"] = np.array(_gap(histories["dropout"]))
    fx["quick_train_acc_dropout"] = np.array(histories["dropout"]["train_acc"])
    fx["quick_val_acc_dropout"] = np.array(histories["dropout"]["val_acc"])
    return fx


_CLS = "dropout_class"
_GAP = "gap_answer"
TYPICAL_BUGS = [
    # Dropout.forward / backward
    Bug(name="mask kept where x is dropped (inverted comparison)", cell=_CLS,
        old="self.rng.random(x.shape) > self.drop_ratio",
        new="self.rng.random(x.shape) < self.drop_ratio",
        caught_by="test_forward_train", message_contains="不等号の向き",
        cascades=("test_inverted", "test_overfitting")),
    Bug(name="input modified in place", cell=_CLS,
        old="out = x * self.mask", new="out = x\n            out *= self.mask",
        caught_by="test_forward_train", message_contains="書き換え"),
    Bug(name="scaled at train time in the original form", cell=_CLS,
        old="out = x * self.mask", new="out = x * self.mask / (1 - self.drop_ratio)",
        caught_by="test_forward_train", message_contains="スケーリングはしません",
        cascades=("test_inverted", "test_backward", "test_overfitting")),
    Bug(name="not scaling at inference in the original form", cell=_CLS,
        old="return x * (1 - self.drop_ratio)", new="return x.copy()",
        caught_by="test_inference_original", message_contains="(1 - drop_ratio) を掛けます",
        cascades=("test_overfitting",)),
    Bug(name="units dropped at inference", cell=_CLS,
        old="return x * (1 - self.drop_ratio)",
        new="return x * (self.rng.random(x.shape) > self.drop_ratio)",
        caught_by="test_inference_original", message_contains="予測時はユニットを消しません",
        cascades=("test_overfitting",)),
    Bug(name="scaling in both modes (inverted scaling plus inference scaling)", cell=_CLS,
        old="        if self.inverted:\n            return x.copy()\n", new="",
        caught_by="test_inverted", message_contains="二重"),
    Bug(name="inverted form not scaled at train time", cell=_CLS,
        old="out = out / (1 - self.drop_ratio)", new="out = out",
        caught_by="test_inverted", message_contains="1 / (1 - drop_ratio)",
        cascades=("test_backward",)),
    Bug(name="new mask drawn in backward", cell=_CLS,
        old="dx = dout * self.mask",
        new="dx = dout * (self.rng.random(dout.shape) > self.drop_ratio)",
        caught_by="test_backward", message_contains="self.mask をそのまま",
        cascades=("test_overfitting",)),
    Bug(name="backward forgets the inverted scaling", cell=_CLS,
        old="dx = dx / (1 - self.drop_ratio)", new="dx = dx",
        caught_by="test_backward", message_contains="inverted=True"),
    Bug(name="backward ignores the mask", cell=_CLS,
        old="dx = dout * self.mask", new="dx = dout.copy()",
        caught_by="test_backward", message_contains="dx = dout * mask",
        cascades=("test_overfitting",)),
    # generalization_gap
    Bug(name="gap with the wrong sign", cell=_GAP,
        old="train[-last:] - val[-last:]", new="val[-last:] - train[-last:]",
        caught_by="test_overfitting", message_contains="train_acc - val_acc"),
    Bug(name="gap of the last epoch only", cell=_GAP,
        old="train[-last:] - val[-last:]", new="train[-1:] - val[-1:]",
        caught_by="test_overfitting", message_contains="最後の last エポック"),
    Bug(name="gap over the first epochs", cell=_GAP,
        old="train[-last:] - val[-last:]", new="train[:last] - val[:last]",
        caught_by="test_overfitting", message_contains="最後の last エポック"),
    Bug(name="gap from the loss instead of the accuracy", cell=_GAP,
        old='history["val_acc"]', new='history["val_loss"]',
        caught_by="test_overfitting", message_contains="正解率"),
]

PARTIAL_BUGS = [
    "scaling in both modes (inverted scaling plus inference scaling)",
    "new mask drawn in backward",
]
PARTIAL_EXPECTED = {
    "test_forward_train": 2,
    "test_inference_original": 2,
    "test_inverted": 0,
    "test_backward": 0,
    "test_overfitting": 0,
}
