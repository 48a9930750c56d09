"""Grading spec of day2/2_3_initialization: initialisers, forward hooks, activation statistics.

The experiments of the notebook are small and seeded (inputs x (1000, 100) from default_rng(0),
five hidden layers of 100 units, weights drawn W1..W5 from default_rng(0)), so the fixtures hold
their per-layer statistics computed with ``course.init`` and a plain forward pass; the statistics
(saturated fraction, dead-unit fraction) are defined here as the notebook defines them.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course import init, optim
from course.layers import Affine
from course.net import MultiLayerNet

NOTEBOOK = "day2/2_3_initialization"

N_LAYERS, WIDTH = 5, 100
SIGMOID_INITS = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": "xavier"}
RELU_INITS = {"std=0.01": 0.01, "Xavier": "xavier", "He": "he", "std=1": 1.0}
BIG_STEP_LR, BIG_STEP_BATCH = 3.0, 100
SATURATION_TOL = 0.01


def experiment_inputs() -> tuple[np.ndarray, np.ndarray]:
    """x (1000, 100) standard normal from default_rng(0); labels t (1000,) from default_rng(1)."""
    x = np.random.default_rng(0).standard_normal((1000, WIDTH))
    t = np.random.default_rng(1).integers(0, 10, size=1000)
    return x, t


def make_net(activation: str, std: float | str, bias_value: float = 0.0) -> MultiLayerNet:
    """100 -> [100] * 5 -> 10; W1..W5 = course.init.normal(100, 100, std, rng) in order from one
    rng = default_rng(0); hidden biases = bias_value (the notebook's make_net)."""
    net = MultiLayerNet(WIDTH, [WIDTH] * N_LAYERS, 10, activation=activation, seed=0)
    rng = np.random.default_rng(0)
    for i in range(1, N_LAYERS + 1):
        net.params[f"W{i}"][...] = init.normal(WIDTH, WIDTH, std, rng)
        net.params[f"b{i}"][...] = bias_value
    return net


def hidden_activations(net: MultiLayerNet, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of the 5 hidden activation layers (inference mode), in order."""
    acts, h = [], x
    for name, layer in net.layers.items():
        h = layer.forward(h, train=False)
        if not name.startswith("Affine"):
            acts.append(h)
    return acts


def input_gradient_norms(net: MultiLayerNet, x: np.ndarray, seed: int = 0) -> np.ndarray:
    """RMS of dL/d(input of Affine_l), l = 1..5, for a random upstream gradient at the output."""
    out = net.predict(x, train=True)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    norms = {}
    for name, layer in reversed(list(net.layers.items())):
        dout = layer.backward(dout)
        if isinstance(layer, Affine):
            norms[name] = np.sqrt(np.mean(dout**2))
    return np.array([norms[f"Affine{i}"] for i in range(1, N_LAYERS + 1)])


def saturated_fraction(a: np.ndarray, tol: float = SATURATION_TOL) -> float:
    return float(np.mean((a < tol) | (a > 1 - tol)))


def dead_fraction(a: np.ndarray) -> float:
    return float(np.mean(np.all(a == 0, axis=0)))


def make_fixtures() -> dict[str, np.ndarray]:
    """Initialiser outputs, crafted arrays for the statistics, and the experiments' statistics."""
    fx: dict[str, np.ndarray] = {
        "normal_W": init.normal(20, 60, 0.05, np.random.default_rng(0)),
        "xavier_W": init.xavier(20, 60, np.random.default_rng(0)),
        "he_W": init.he(20, 60, np.random.default_rng(0)),
    }
    rng = np.random.default_rng(24)
    fx["rec_x"] = rng.normal(size=(8, 6))
    fx["rec_x2"] = rng.normal(size=(8, 6))
    # sigmoid-like values: a few within 0.01 of 0, a few within 0.01 of 1, the rest in between
    sat = rng.uniform(0.02, 0.98, size=(20, 10))
    sat.flat[rng.choice(200, 30, replace=False)] = rng.uniform(0.0, 0.0099, size=30)
    low = np.flatnonzero(sat < 0.01)
    high_candidates = np.setdiff1d(np.arange(200), low)
    sat.flat[rng.choice(high_candidates, 20, replace=False)] = rng.uniform(0.9901, 1.0, size=20)
    fx["sat_a"], fx["sat_expected"] = sat, np.float64(saturated_fraction(sat))
    # ReLU-like outputs: 3 of 8 units zero for every sample, many other zeros, no all-zero row
    relu = np.maximum(rng.normal(size=(6, 8)), 0.0)
    relu[:, [1, 4, 6]] = 0.0
    relu[:, 0] = rng.uniform(0.5, 1.0, size=6)
    fx["dead_a"], fx["dead_expected"] = relu, np.float64(dead_fraction(relu))
    assert not np.any(np.all(relu == 0, axis=1))

    x, t = experiment_inputs()
    for name, std in SIGMOID_INITS.items():
        acts = hidden_activations(make_net("sigmoid", std), x)
        fx[f"sigmoid_std_{name}"] = np.array([a.std() for a in acts])
        fx[f"sigmoid_sat_{name}"] = np.array([saturated_fraction(a) for a in acts])
    for name, std in RELU_INITS.items():
        net = make_net("relu", std)
        fx[f"relu_std_{name}"] = np.array([a.std() for a in hidden_activations(net, x)])
        fx[f"relu_grad_{name}"] = input_gradient_norms(net, x)

    net = make_net("relu", "he")
    fx["dead_before"] = np.array([dead_fraction(a) for a in hidden_activations(net, x)])
    optim.SGD(BIG_STEP_LR).update(net.params, net.gradient(x[:BIG_STEP_BATCH], t[:BIG_STEP_BATCH]))
    fx["dead_after"] = np.array([dead_fraction(a) for a in hidden_activations(net, x)])
    return fx


TYPICAL_BUGS = [
    # initialisers
    Bug(name="normal_init scales by the variance", cell="initializers",
        old="return std * rng.standard_normal((fan_in, fan_out))",
        new="return std**2 * rng.standard_normal((fan_in, fan_out))",
        caught_by="test_normal_init", message_contains="分散ではありません",
        cascades=("test_xavier_init", "test_he_init", "test_sigmoid_reading", "test_relu_reading",
                  "test_dying_relu")),
    Bug(name="normal_init draws from the global np.random", cell="initializers",
        old="return std * rng.standard_normal((fan_in, fan_out))",
        new="return std * np.random.randn(fan_in, fan_out)",
        caught_by="test_normal_init", message_contains="np.random.randn ではなく",
        cascades=("test_xavier_init", "test_he_init", "test_sigmoid_reading", "test_relu_reading",
                  "test_dying_relu")),
    Bug(name="normal_init returns (fan_out, fan_in)", cell="initializers",
        old="return std * rng.standard_normal((fan_in, fan_out))",
        new="return std * rng.standard_normal((fan_out, fan_in))",
        caught_by="test_normal_init", message_contains="(fan_in, fan_out)",
        cascades=("test_xavier_init", "test_he_init")),
    Bug(name="Xavier with fan_out", cell="initializers",
        old="np.sqrt(1.0 / fan_in)", new="np.sqrt(1.0 / fan_out)",
        caught_by="test_xavier_init", message_contains="fan_in (入力の数)"),
    Bug(name="Xavier with the Glorot average of fan_in and fan_out", cell="initializers",
        old="np.sqrt(1.0 / fan_in)", new="np.sqrt(2.0 / (fan_in + fan_out))",
        caught_by="test_xavier_init", message_contains="fan_in (入力の数)"),
    Bug(name="He without the factor 2", cell="initializers",
        old="np.sqrt(2.0 / fan_in)", new="np.sqrt(1.0 / fan_in)",
        caught_by="test_he_init", message_contains="2 倍",
        cascades=("test_relu_reading", "test_dying_relu")),
    Bug(name="He as sqrt(2) / fan_in", cell="initializers",
        old="np.sqrt(2.0 / fan_in)", new="np.sqrt(2.0) / fan_in",
        caught_by="test_he_init", message_contains="sqrt(2 / fan_in)",
        cascades=("test_relu_reading", "test_dying_relu")),
    # statistics
    Bug(name="saturation counted on one side only", cell="activation_statistics",
        old="np.mean((a < tol) | (a > 1 - tol))", new="np.mean(a < tol)",
        caught_by="test_activation_statistics", message_contains="両側",
        cascades=("test_sigmoid_reading",)),
    Bug(name="saturation as an absolute count", cell="activation_statistics",
        old="np.mean((a < tol) | (a > 1 - tol))", new="np.sum((a < tol) | (a > 1 - tol))",
        caught_by="test_activation_statistics", message_contains="割合",
        cascades=("test_sigmoid_reading",)),
    Bug(name="dead fraction over elements", cell="activation_statistics",
        old="np.mean(np.all(a == 0, axis=0))", new="np.mean(a == 0)",
        caught_by="test_activation_statistics", message_contains="要素の割合ではなく",
        cascades=("test_dying_relu",)),
    Bug(name="dead fraction over samples", cell="activation_statistics",
        old="np.all(a == 0, axis=0)", new="np.all(a == 0, axis=1)",
        caught_by="test_activation_statistics", message_contains="axis=0",
        cascades=("test_dying_relu",)),
    # record_activations
    Bug(name="hook closes over the loop variable", cell="record_activations",
        old="def hook(layer, inputs, out, name=name):", new="def hook(layer, inputs, out):",
        caught_by="test_record_activations", message_contains="name=name",
        cascades=("test_sigmoid_reading", "test_relu_reading", "test_dying_relu")),
    Bug(name="hook records the input", cell="record_activations",
        old="acts[name] = out", new="acts[name] = inputs",
        caught_by="test_record_activations", message_contains="出力 out",
        cascades=("test_sigmoid_reading", "test_relu_reading", "test_dying_relu")),
    Bug(name="hooks never removed", cell="record_activations",
        old="handle.remove()", new="pass",
        caught_by="test_record_activations", message_contains="remove()"),
]

PARTIAL_BUGS = ["He without the factor 2", "hooks never removed"]
PARTIAL_EXPECTED = {
    "test_normal_init": 1,
    "test_xavier_init": 1,
    "test_he_init": 0,
    "test_activation_statistics": 2,
    "test_record_activations": 0,
    "test_sigmoid_reading": 1,
    "test_relu_reading": 0,
    "test_dying_relu": 0,
}
