"""Whole-network gradient check: one random direction against one derivative per parameter.

course.gradcheck.directional_check compares (L(p + h d) - L(p - h d)) / 2h with sum(g . d) for
one random unit direction d over all parameters: with the backprop gradient that is three
forward passes whatever the size of the net. The full check (MultiLayerNet.numerical_gradient)
needs two forward passes per parameter element. Both in float64, as every gradient check;
times are CPU time of this process.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.harness import CheckResult
from course.gradcheck import directional_check, rel_error
from course.net import MultiLayerNet

NETS = {  # (input, hidden, classes, batch); "small" is where the full check is affordable
    "full": {"big": (784, [100] * 5, 10, 100), "small": (32, [16, 16], 5, 16)},
    "tiny": {"big": (20, [8, 8], 4, 8), "small": (6, [5], 3, 4)},
}
MAX_FORWARD_PASSES = 3
MAX_REL_ERROR = 1e-6


def _net_and_batch(shape: tuple[int, list[int], int, int]):
    n_in, hidden, classes, batch = shape
    net = MultiLayerNet(n_in, hidden, classes, use_batchnorm=True, seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    for key, value in net.params.items():  # gamma, beta, b away from their initial 1 / 0
        if not key.startswith("W"):
            value += 0.1 * rng.standard_normal(value.shape)
    x = rng.random((batch, n_in))
    t = rng.integers(0, classes, batch)
    return net, x, t


def _counting_forward_passes(net: MultiLayerNet) -> list[int]:
    """Make net.predict count its calls (every loss and gradient goes through it)."""
    counter = [0]
    predict = net.predict

    def counted(x: np.ndarray, train: bool = False) -> np.ndarray:
        counter[0] += 1
        return predict(x, train)

    net.predict = counted  # type: ignore[method-assign]
    return counter


def directional(shape) -> dict[str, Any]:
    """Directional check of a correct net, and of the same gradient with a 1 % error in one W."""
    net, x, t = _net_and_batch(shape)
    passes = _counting_forward_passes(net)
    start = time.process_time()
    grads = net.gradient(x, t)
    error = directional_check(lambda: net.loss(x, t, train=True), net.params, grads, seed=0)
    seconds = time.process_time() - start
    forward_passes = passes[0]
    wrong = dict(grads)
    wrong["W2"] = grads["W2"] * 1.01
    wrong_error = directional_check(lambda: net.loss(x, t, train=True), net.params, wrong, seed=0)
    n_params = sum(p.size for p in net.params.values())
    return {"seconds": seconds, "error": error, "passes": forward_passes,
            "wrong_error": wrong_error, "n_params": n_params}


def full_check_seconds(shape) -> tuple[float, float]:
    """(seconds of MultiLayerNet.numerical_gradient, its rel error to backprop) on a small net."""
    net, x, t = _net_and_batch(shape)
    grads = net.gradient(x, t)
    start = time.process_time()
    numeric = net.numerical_gradient(x, t)
    seconds = time.process_time() - start
    # over all parameters at once: b before BN has a zero gradient, and rel_error's 1e-8 floor
    # would make its round-off look like an error if it were compared alone
    error = rel_error(*(np.concatenate([g[k].ravel() for k in grads]) for g in (grads, numeric)))
    return seconds, error


def forward_seconds(shape, repeats: int = 5) -> float:
    net, x, t = _net_and_batch(shape)
    net.loss(x, t)
    start = time.process_time()
    for _ in range(repeats):
        net.loss(x, t, train=True)
    return (time.process_time() - start) / repeats


def checks(size_name: str) -> list[CheckResult]:
    nets = NETS[size_name]
    big, small = nets["big"], nets["small"]
    results = []
    for label, shape in (("small", small), ("big", big)):
        d = directional(shape)
        arch = f"{shape[0]}-{shape[1][0]}x{len(shape[1])}-{shape[2]}, BN, batch {shape[3]}"
        if label == "small":
            full_s, full_error = full_check_seconds(shape)
            comparison = (f"full per-parameter check {full_s:.3g} s "
                          f"({full_s / d['seconds']:.0f}x longer, rel error {full_error:.1e})")
        else:
            estimate = 2 * d["n_params"] * forward_seconds(shape)
            comparison = (f"full check would take ~{estimate:.3g} s "
                          f"(2 x {d['n_params']} forward passes, estimated)")
        met = d["passes"] <= MAX_FORWARD_PASSES and d["error"] < MAX_REL_ERROR
        results.append(CheckResult(
            name=f"Directional gradient check {arch}",
            value=(f"{d['seconds'] * 1e3:.1f} ms, {d['passes']} forward passes, "
                   f"rel error {d['error']:.1e}"),
            target=f"<= {MAX_FORWARD_PASSES} passes, rel error < {MAX_REL_ERROR:.0e}",
            met=met,
            note=f"{comparison}; a 1 % error in dW2 gives rel error {d['wrong_error']:.1e}",
            extra=d,
        ))
    return results
