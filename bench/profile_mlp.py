"""Where the time of the MLP training step goes: CPU time per layer kind, forward and backward.

    python -m bench.profile_mlp [float32|float64] [--steps 300]

Every layer's forward / backward (and the loss, the optimiser) is wrapped with a CPU-time
counter; what is left is the network's own Python (loops, dicts). One thread, as the bench.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from bench.harness import one_thread
from bench.training import LR, SIZES, _batch
from course.net import MultiLayerNet
from course.optim import SGD


def profile(dtype: type, steps: int, size_name: str = "full") -> tuple[dict[str, float], float]:
    """(seconds per step for each 'Kind.method', total seconds per step)."""
    size = SIZES[size_name]
    x, t = _batch(size, dtype)
    net = MultiLayerNet(size["input"], size["hidden"], size["classes"], use_batchnorm=True,
                        seed=0, dtype=dtype)
    optimizer = SGD(lr=LR)
    spent: dict[str, float] = defaultdict(float)

    def timed(label: str, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - start

        return wrapper

    for name, layer in net.layers.items():
        kind = "Affine1" if name == "Affine1" else re.sub(r"\d+$", "", name)
        # the net calls backward_params of its first layer only; elsewhere backward calls it
        methods = ("forward", "backward_params") if name == "Affine1" else ("forward", "backward")
        for method in methods:
            setattr(layer, method, timed(f"{kind}.{method}", getattr(layer, method)))
    net.last_layer.forward = timed("SoftmaxWithLoss.forward", net.last_layer.forward)
    net.last_layer.backward = timed("SoftmaxWithLoss.backward", net.last_layer.backward)
    optimizer.update = timed("SGD.update", optimizer.update)

    with one_thread():
        for _ in range(10):
            optimizer.update(net.params, net.gradient(x, t))
        spent.clear()
        start = time.process_time()
        for _ in range(steps):
            optimizer.update(net.params, net.gradient(x, t))
        total = time.process_time() - start
    return {k: v / steps for k, v in spent.items()}, total / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_mlp")
    parser.add_argument("dtype", nargs="?", default="float32", choices=("float32", "float64"))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    per_kind, total = profile(np.dtype(args.dtype).type, args.steps)
    print(f"MLP training step, {args.dtype}: {total * 1e6:.0f} µs CPU per step")
    print("| part | µs per step | share |\n|---|---:|---:|")
    for label, seconds in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {seconds * 1e6:.0f} | {seconds / total:.0%} |")
    rest = total - sum(per_kind.values())
    print(f"| network's own Python (loops, dicts) | {rest * 1e6:.0f} | {rest / total:.0%} |")


if __name__ == "__main__":
    main()
