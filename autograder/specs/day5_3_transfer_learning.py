"""Grading spec of day5/5_3_transfer_learning: freezing layers, a new output layer, fine-tuning.

The learner writes ``layer_index`` / ``frozen_names`` (which parameters belong to the lowest
layers), ``FrozenOptimizer`` (an optimiser wrapper that leaves frozen parameters out of every
update) and ``replace_output_layer`` (a new He-initialised output layer for the target classes,
the same arrays in ``net.params`` and in the layer). ``course`` has no freezing of its own, so
the reference implementation lives here and the fixtures come from it: the visible tests'
expected values, and the accuracy table of the notebook's quick transfer experiment (pretrain
on digits 0-7, adapt to 8 and 9 with 1, 5 and 25 images per class). QUICK_EXPERIMENT must match
the quick settings of the notebook's experiment cell.
"""

from __future__ import annotations

import copy
import re

import numpy as np

from autograder.specs import Bug

NOTEBOOK = "day5/5_3_transfer_learning"

QUICK_EXPERIMENT = {
    "source_classes": 8,  # pretrain on digits 0..7, target digits 8 and 9 (labels 0 and 1)
    "hidden": [100, 50],
    "pretrain_epochs": 3,
    "pretrain_lr": 0.1,
    "pretrain_batch_size": 100,
    "finetune_epochs": 20,
    "finetune_lr": 0.1,
    "finetune_batch_size": 50,
    "per_class": [1, 5, 25],
    "repeats": 3,
    "seed": 0,
}
# regime -> number of frozen (lowest) layers of the 3-layer net; None: a new net from scratch
REGIMES = {"scratch": None, "output": 2, "top": 1, "all": 0}


# ------------------------------------------------------------------ reference implementation


def layer_index(name: str) -> int:
    """"W1" -> 1, "b12" -> 12, "gamma2" -> 2: the number at the end of a parameter name."""
    return int(re.search(r"\d+$", name).group())


def frozen_names(params: dict, n_frozen: int) -> set[str]:
    """Names of the parameters of layers 1..n_frozen."""
    return {name for name in params if layer_index(name) <= n_frozen}


class FrozenOptimizer:
    """`optimizer.update` on the parameters not in `frozen` only."""

    def __init__(self, optimizer, frozen) -> None:
        self.optimizer = optimizer
        self.frozen = set(frozen)

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def update(self, params: dict, grads: dict) -> None:
        trainable = {name: value for name, value in params.items() if name not in self.frozen}
        self.optimizer.update(trainable, {name: grads[name] for name in trainable})


def replace_output_layer(net, num_classes: int, rng: np.random.Generator) -> None:
    """He-initialised W (fan_in, num_classes), zero b, in net.params and in the last Affine."""
    from course import init

    last = len(net.hidden_size_list) + 1
    layer = net.layers[f"Affine{last}"]
    fan_in = layer.params["W"].shape[0]
    W = init.he(fan_in, num_classes, rng).astype(net.dtype)
    b = np.zeros(num_classes, dtype=net.dtype)
    layer.params["W"], layer.params["b"] = W, b
    net.params[f"W{last}"], net.params[f"b{last}"] = W, b


# ------------------------------------------------------------------ the quick experiment


def transfer_data(source_classes: int):
    """(source train, source test, target train, target test); target labels start at 0."""
    from course.data import load_mnist

    (x, t), (x_test, t_test) = load_mnist(dtype=np.float32)
    src, src_test = t < source_classes, t_test < source_classes
    return ((x[src], t[src]), (x_test[src_test], t_test[src_test]),
            (x[~src], t[~src] - source_classes),
            (x_test[~src_test], t_test[~src_test] - source_classes))


def pretrain(cfg: dict, source_train, source_test):
    """The pretrained net (digits 0..source_classes-1) and its history."""
    from course.net import MultiLayerNet
    from course.optim import SGD
    from course.train import Trainer

    net = MultiLayerNet(784, cfg["hidden"], cfg["source_classes"], seed=cfg["seed"],
                        dtype=np.float32)
    history = Trainer(net, SGD(lr=cfg["pretrain_lr"]), *source_train, *source_test,
                      epochs=cfg["pretrain_epochs"], batch_size=cfg["pretrain_batch_size"],
                      seed=cfg["seed"], progress=False).train()
    return net, history


def target_subset(t: np.ndarray, per_class: int, repeat: int, seed: int) -> np.ndarray:
    """Indices of `per_class` images of each target class, drawn by default_rng([seed, repeat])."""
    rng = np.random.default_rng([seed, repeat])
    return np.concatenate([rng.permutation(np.flatnonzero(t == c))[:per_class]
                           for c in range(int(t.max()) + 1)])


def fine_tune(cfg: dict, pretrained, regime: str, per_class: int, repeat: int, target_train,
              target_test) -> float:
    """Test accuracy on the target task after training with `regime` on a small subset."""
    from course.net import MultiLayerNet
    from course.optim import SGD
    from course.train import Trainer

    x, t = target_train
    idx = target_subset(t, per_class, repeat, cfg["seed"])
    num_classes = 10 - cfg["source_classes"]
    if REGIMES[regime] is None:
        net = MultiLayerNet(784, cfg["hidden"], num_classes, seed=1000 + repeat, dtype=np.float32)
        optimizer = SGD(lr=cfg["finetune_lr"])
    else:
        net = copy.deepcopy(pretrained)
        replace_output_layer(net, num_classes, np.random.default_rng(1000 + repeat))
        optimizer = FrozenOptimizer(SGD(lr=cfg["finetune_lr"]),
                                    frozen_names(net.params, REGIMES[regime]))
    Trainer(net, optimizer, x[idx], t[idx], epochs=cfg["finetune_epochs"],
            batch_size=cfg["finetune_batch_size"], seed=repeat, progress=False).train()
    return net.accuracy(*target_test)


def transfer_table(cfg: dict = QUICK_EXPERIMENT) -> tuple[np.ndarray, float]:
    """Mean target test accuracy (regime x per_class), and the pretrained net's source accuracy."""
    source_train, source_test, target_train, target_test = transfer_data(cfg["source_classes"])
    pretrained, history = pretrain(cfg, source_train, source_test)
    table = np.array([[np.mean([fine_tune(cfg, pretrained, regime, n, r, target_train,
                                          target_test) for r in range(cfg["repeats"])])
                       for n in cfg["per_class"]] for regime in REGIMES])
    return table, history["val_acc"][-1]


# ------------------------------------------------------------------ fixtures


def _toy_net(seed: int = 3):
    from course.net import MultiLayerNet

    return MultiLayerNet(6, [5, 4], 3, seed=seed)


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference results of the visible tests, and the quick experiment's table."""
    from course.optim import SGD

    rng = np.random.default_rng(53)
    x = rng.normal(size=(8, 6))
    t = rng.integers(0, 3, 8)
    fx: dict[str, np.ndarray] = {"x": x, "t": t}

    # one FrozenOptimizer step of SGD(lr=0.5) with layer 1 frozen
    net = _toy_net()
    grads = net.gradient(x, t)
    FrozenOptimizer(SGD(lr=0.5), frozen_names(net.params, 1)).update(net.params, grads)
    for name, value in net.params.items():
        fx[f"sgd_step_{name}"] = value.copy()

    # a new output layer for 2 classes, drawn from default_rng(7)
    net = _toy_net()
    replace_output_layer(net, 2, np.random.default_rng(7))
    fx["new_W3"], fx["new_b3"] = net.params["W3"].copy(), net.params["b3"].copy()
    fx["new_scores"] = net.predict(x)

    table, source_acc = transfer_table(QUICK_EXPERIMENT)
    fx["quick_table"] = table
    fx["quick_source_acc"] = np.array(source_acc)
    return fx


# ------------------------------------------------------------------ typical learner bugs

_NAMES = "frozen_names"
_OPT = "frozen_optimizer"
_OUT = "replace_output"
TYPICAL_BUGS = [
    # layer_index / frozen_names
    Bug(name="layer number from the last character only", cell=_NAMES,
        old='int(re.search(r"\\d+$", name).group())', new="int(name[-1])",
        caught_by="test_frozen_names", message_contains="2 桁"),
    Bug(name="off by one: layer n_frozen itself left trainable", cell=_NAMES,
        old="layer_index(name) <= n_frozen", new="layer_index(name) < n_frozen",
        caught_by="test_frozen_names", message_contains="n_frozen 番目",
        cascades=("test_transfer_experiment",)),
    Bug(name="the upper layers frozen instead of the lower ones", cell=_NAMES,
        old="layer_index(name) <= n_frozen", new="layer_index(name) > n_frozen",
        caught_by="test_frozen_names", message_contains="入力に近い",
        cascades=("test_transfer_experiment",)),
    Bug(name="weights frozen but not the biases", cell=_NAMES,
        old="for name in params if", new='for name in params if name.startswith("W") and',
        caught_by="test_frozen_names", message_contains="バイアス"),
    # FrozenOptimizer
    Bug(name="trainable parameters copied (the update never reaches the net)", cell=_OPT,
        old="{name: value for name, value in params.items()",
        new="{name: value.copy() for name, value in params.items()",
        caught_by="test_frozen_optimizer", message_contains="コピー",
        cascades=("test_transfer_experiment",)),
    Bug(name="the frozen parameters updated instead of the others", cell=_OPT,
        old="if name not in self.frozen}", new="if name in self.frozen}",
        caught_by="test_frozen_optimizer", message_contains="凍結した",
        cascades=("test_transfer_experiment",)),
    Bug(name="frozen gradients zeroed instead of leaving the parameters out", cell=_OPT,
        old="self.optimizer.update(trainable, {name: grads[name] for name in trainable})",
        new="self.optimizer.update(params, {name: (np.zeros_like(g) if name in self.frozen "
            "else g) for name, g in grads.items()})",
        caught_by="test_frozen_optimizer", message_contains="Momentum"),
    Bug(name="lr kept on the wrapper, not forwarded to the optimizer", cell=_OPT,
        old="self.optimizer.lr = value", new="self._lr = value",
        caught_by="test_frozen_optimizer", message_contains="lr"),
    # replace_output_layer
    Bug(name="new arrays put into net.params only (the layer keeps the old ones)", cell=_OUT,
        old='    layer.params["W"], layer.params["b"] = W, b\n', new="",
        caught_by="test_replace_output", message_contains="同じ配列",
        cascades=("test_transfer_experiment",)),
    Bug(name="new arrays put into the layer only (the optimiser updates the old ones)", cell=_OUT,
        old='    net.params[f"W{last}"], net.params[f"b{last}"] = W, b\n', new="",
        caught_by="test_replace_output", message_contains="同じ配列",
        cascades=("test_transfer_experiment",)),
    Bug(name="the first layer replaced instead of the last", cell=_OUT,
        old="last = len(net.hidden_size_list) + 1", new="last = 1",
        caught_by="test_replace_output", message_contains="最後の",
        cascades=("test_transfer_experiment",)),
    Bug(name="small fixed std instead of He", cell=_OUT,
        old="W = init.he(fan_in, num_classes, rng)",
        new="W = 0.01 * rng.standard_normal((fan_in, num_classes))",
        caught_by="test_replace_output", message_contains="He",
        cascades=("test_transfer_experiment",)),
    Bug(name="old bias kept", cell=_OUT,
        old="b = np.zeros(num_classes, dtype=net.dtype)", new='b = layer.params["b"]',
        caught_by="test_replace_output", message_contains="バイアス b も",
        cascades=("test_transfer_experiment",)),
]

PARTIAL_BUGS = [
    "off by one: layer n_frozen itself left trainable",
    "frozen gradients zeroed instead of leaving the parameters out",
]
PARTIAL_EXPECTED = {
    "test_frozen_names": 0,
    "test_frozen_optimizer": 0,
    "test_replace_output": 2,
    "test_transfer_experiment": 0,
}
