"""Grading spec of day4/4_2_batch_norm_test: the learner wires BN into a net (BNNet) and answers
which weight-init scales only the BN net can train from.

Fixtures come from the reference ``course.net.MultiLayerNet``: a small net (6 -> [5, 4] -> 3) for
the wiring tests, and the notebook's quick experiment (same data, sizes, seeds, Trainer) for the
question. The quick settings below must match the notebook's ``QUICK`` branch; the notebook's
test cell checks that they do.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.data import load_mnist
from course.net import MultiLayerNet
from course.normalization import BatchNormalization
from course.optim import SGD
from course.train import Trainer

NOTEBOOK = "day4/4_2_batch_norm_test"

# The notebook's quick experiment (keep in sync with its "experiment-setup" cell).
GRID = np.logspace(0, -4, num=16)
QUICK_SCALE_INDEX = [3, 5, 8, 15]
QUICK_N_TRAIN, QUICK_EPOCHS, QUICK_BATCH_SIZE = 200, 5, 20
HIDDEN = [100, 100, 100, 100, 100]
LEARNING_RATE = 0.01
TRAIN_THRESHOLD = 0.5


def _wiring_fixtures() -> dict[str, np.ndarray]:
    """Small-net inputs and reference outputs for test_params / test_forward / test_modes."""
    fx: dict[str, np.ndarray] = {}
    ref = MultiLayerNet(6, [5, 4], 3, weight_init_std=0.3, use_batchnorm=True, seed=1)
    for i in (1, 2, 3):
        fx[f"init_W{i}"] = ref.params[f"W{i}"].copy()

    rng = np.random.default_rng(42)
    x = rng.normal(size=(8, 6)) * 1.5 + 0.5
    t = rng.integers(0, 3, size=8)
    # generic values: gamma far from 1 and beta far from 0, so swapping them or ignoring them shows
    values = {}
    for name, param in ref.params.items():
        if name.startswith("gamma"):
            values[name] = rng.uniform(0.5, 2.0, size=param.shape)
        else:
            values[name] = rng.normal(0.0, 0.6, size=param.shape)
    for name, value in values.items():
        ref.params[name][...] = value
        fx[f"fwd_{name}"] = value
    fx["x"], fx["t"] = x, t
    fx["out_train"] = ref.predict(x, train=True)
    fx["loss_train"] = np.float64(ref.loss(x, t, train=True))

    bns = [layer for layer in ref.layers.values() if isinstance(layer, BatchNormalization)]
    for k, bn in enumerate(bns, start=1):
        size = bn.params["gamma"].size
        fx[f"running_mean{k}"] = rng.normal(0.0, 1.0, size=size)
        fx[f"running_var{k}"] = rng.uniform(0.3, 3.0, size=size)
        bn.running_mean = fx[f"running_mean{k}"].copy()
        bn.running_var = fx[f"running_var{k}"].copy()
    fx["out_infer"] = ref.predict(x, train=False)
    fx["acc_infer"] = np.float64(ref.accuracy(x, t))
    ref.predict(x, train=True)  # one training-mode forward: running statistics move once
    for k, bn in enumerate(bns, start=1):
        fx[f"running_mean{k}_after"] = bn.running_mean.copy()
        fx[f"running_var{k}_after"] = bn.running_var.copy()
    return fx


def quick_experiment() -> dict[str, np.ndarray]:
    """The notebook's quick run with the reference net: train accuracy per epoch, BN vs plain."""
    (x_all, t_all), _ = load_mnist(normalize=True, flatten=True)
    x_train, t_train = x_all[:QUICK_N_TRAIN], t_all[:QUICK_N_TRAIN]
    scales = GRID[QUICK_SCALE_INDEX]
    acc = {True: [], False: []}
    for scale in scales:
        for use_bn in (True, False):
            net = MultiLayerNet(784, HIDDEN, 10, weight_init_std=float(scale),
                                use_batchnorm=use_bn, seed=0)
            trainer = Trainer(net, SGD(lr=LEARNING_RATE), x_train, t_train, epochs=QUICK_EPOCHS,
                              batch_size=QUICK_BATCH_SIZE, seed=0, progress=False)
            acc[use_bn].append(trainer.train()["train_acc"])
    acc_bn, acc_plain = np.array(acc[True]), np.array(acc[False])
    bn_only = (acc_bn[:, -1] > TRAIN_THRESHOLD) & ~(acc_plain[:, -1] > TRAIN_THRESHOLD)
    return {
        "weight_scales": scales,
        "n_train": np.int64(QUICK_N_TRAIN),
        "epochs": np.int64(QUICK_EPOCHS),
        "batch_size": np.int64(QUICK_BATCH_SIZE),
        "threshold": np.float64(TRAIN_THRESHOLD),
        "acc_bn": acc_bn,
        "acc_plain": acc_plain,
        "bn_only_scales": scales[bn_only],
    }


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    return {**_wiring_fixtures(), **quick_experiment()}


_NET = "bnnet"
_PLAIN_RULE = "BN なしの最終エポックの正解率 <= threshold"
_Q = "bn_only"
_BN_THEN_RELU = '''            if use_batchnorm:
                bn = BatchNormalization(np.ones(fan_out), np.zeros(fan_out))
                self.add(bn, gamma=f"gamma{i}", beta=f"beta{i}")
            self.add(ReLU())'''
_RELU_THEN_BN = '''            self.add(ReLU())
            if use_batchnorm:
                bn = BatchNormalization(np.ones(fan_out), np.zeros(fan_out))
                self.add(bn, gamma=f"gamma{i}", beta=f"beta{i}")'''

TYPICAL_BUGS = [
    # BNNet.__init__: order, initial values, registration of gamma/beta
    Bug(name="BN after the activation (Affine -> ReLU -> BN)", cell=_NET,
        old=_BN_THEN_RELU, new=_RELU_THEN_BN,
        caught_by="test_forward", message_contains="Affine → BatchNormalization → ReLU",
        cascades=("test_gradient", "test_modes")),
    Bug(name="gamma initialised to zeros", cell=_NET,
        old="BatchNormalization(np.ones(fan_out), np.zeros(fan_out))",
        new="BatchNormalization(np.zeros(fan_out), np.zeros(fan_out))",
        caught_by="test_params", message_contains="γ の初期値は 1",
        cascades=("test_bn_only_scales",)),
    Bug(name="gamma and beta initial values swapped (beta = 1)", cell=_NET,
        old="BatchNormalization(np.ones(fan_out), np.zeros(fan_out))",
        new="BatchNormalization(np.zeros(fan_out), np.ones(fan_out))",
        caught_by="test_params", message_contains="γ の初期値は 1",
        cascades=("test_bn_only_scales",)),
    Bug(name="beta initialised to ones", cell=_NET,
        old="BatchNormalization(np.ones(fan_out), np.zeros(fan_out))",
        new="BatchNormalization(np.ones(fan_out), np.ones(fan_out))",
        caught_by="test_params", message_contains="β の初期値は 0"),
    Bug(name="gamma/beta not in the parameter dict (never updated)", cell=_NET,
        old='self.add(bn, gamma=f"gamma{i}", beta=f"beta{i}")', new="self.add(bn)",
        caught_by="test_params", message_contains="gamma=f",
        cascades=("test_forward", "test_gradient", "test_modes")),
    Bug(name="ReLU after the output layer too", cell=_NET,
        old="""            if i == n_affine:
                break  # output layer: no BN, no ReLU (SoftmaxWithLoss follows)
""",
        new="""            if i == n_affine:
                self.add(ReLU())
                break
""",
        caught_by="test_forward", message_contains="出力層は Affine だけ",
        cascades=("test_gradient", "test_modes")),
    Bug(name="a new rng per layer (weights differ from the reference)", cell=_NET,
        old="W = init.normal(fan_in, fan_out, weight_init_std, rng)",
        new="W = init.normal(fan_in, fan_out, weight_init_std, np.random.default_rng(seed))",
        caught_by="test_params", message_contains="同じ rng"),
    # predict / loss: the train flag
    Bug(name="train flag not passed to the layers (batch statistics at inference)", cell=_NET,
        old="x = layer.forward(x, train)", new="x = layer.forward(x)",
        caught_by="test_modes", message_contains="train=False を各レイヤー"),
    Bug(name="loss ignores train (always inference mode)", cell=_NET,
        old="return self.last_layer.forward(self.predict(x, train), t)",
        new="return self.last_layer.forward(self.predict(x), t)",
        caught_by="test_forward", message_contains="train を predict に渡していますか",
        cascades=("test_gradient", "test_bn_only_scales")),
    # gradient
    Bug(name="gradient computed from an inference-mode forward", cell=_NET,
        old="self.last_loss = self.loss(x, t, train=True)",
        new="self.last_loss = self.loss(x, t, train=False)",
        caught_by="test_gradient", message_contains="学習時 (train=True) に順伝播",
        cascades=("test_bn_only_scales",)),
    Bug(name="upstream gradient divided by N a second time", cell=_NET,
        old="dout = self.last_layer.backward(1.0)",
        new="dout = self.last_layer.backward(1.0 / len(x))",
        caught_by="test_gradient", message_contains="もう一度割りません",
        cascades=("test_bn_only_scales",)),
    Bug(name="gamma/beta gradients left out of the returned dict", cell=_NET,
        old="return {name: layer.grads[key] for name, (layer, key) in self.owners.items()}",
        new=("return {name: layer.grads[key] for name, (layer, key) in self.owners.items()"
             " if not name.startswith(('gamma', 'beta'))}"),
        caught_by="test_gradient", message_contains="gamma, beta も",
        cascades=("test_bn_only_scales",)),
    # bn_only_scales
    Bug(name="BN and plain swapped", cell=_Q,
        old="bn_trains & ~plain_trains", new="~bn_trains & plain_trains",
        caught_by="test_bn_only_scales", message_contains="取り違えていませんか"),
    Bug(name="scales where both train (intersection)", cell=_Q,
        old="bn_trains & ~plain_trains", new="bn_trains & plain_trains",
        caught_by="test_bn_only_scales", message_contains=_PLAIN_RULE),
    Bug(name="plain condition forgotten (every scale where BN trains)", cell=_Q,
        old="bn_trains & ~plain_trains", new="bn_trains",
        caught_by="test_bn_only_scales", message_contains=_PLAIN_RULE),
    Bug(name="first epoch instead of the last", cell=_Q,
        old="np.asarray(acc_bn)[:, -1]", new="np.asarray(acc_bn)[:, 0]",
        caught_by="test_bn_only_scales", message_contains="acc[:, -1]"),
]

# The partly correct learner: forgets to pass the train flag and answers with the intersection.
PARTIAL_BUGS = [
    "train flag not passed to the layers (batch statistics at inference)",
    "scales where both train (intersection)",
]
PARTIAL_EXPECTED = {
    "test_params": 2,
    "test_forward": 2,
    "test_gradient": 2,
    "test_modes": 0,
    "test_bn_only_scales": 0,
}
