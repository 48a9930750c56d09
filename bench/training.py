"""The training step of the course's MLP against the same network in PyTorch.

784 -> 100 x 5 -> 10, batch normalisation after every hidden Affine, ReLU, softmax
cross-entropy, one SGD step, batch 100: forward, backward and update, as in every notebook's
training loop. The input is data (no gradient for it in either library).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.harness import Pair
from course.net import MultiLayerNet
from course.optim import SGD

SIZES = {
    "full": {"input": 784, "hidden": [100] * 5, "classes": 10, "batch": 100},
    "tiny": {"input": 20, "hidden": [16] * 2, "classes": 4, "batch": 8},
}
TARGETS = {np.float32: 1.5, np.float64: 1.2}  # issue 17
LR = 0.01


def _batch(size: dict[str, Any], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((size["batch"], size["input"])).astype(dtype)  # pixel-like values in [0, 1)
    t = rng.integers(0, size["classes"], size["batch"])
    return x, t


def ours_step(size: dict[str, Any], dtype: type):
    """One `optimizer.update(net.params, net.gradient(x, t))` of course.net.MultiLayerNet."""
    x, t = _batch(size, dtype)
    net = MultiLayerNet(size["input"], size["hidden"], size["classes"], use_batchnorm=True,
                        seed=0, dtype=dtype)
    optimizer = SGD(lr=LR)

    def step() -> None:
        optimizer.update(net.params, net.gradient(x, t))

    return step


def torch_step(torch: Any, size: dict[str, Any], dtype: type):
    """The same network, loss and SGD step in PyTorch (torch.nn / torch.optim defaults)."""
    nn = torch.nn
    x, t = _batch(size, dtype)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    layers: list[Any] = []
    sizes = [size["input"], *size["hidden"]]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], size["classes"]))
    model = nn.Sequential(*layers).to(tdtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(tx), tt).backward()
        optimizer.step()

    return step


def pairs(size_name: str, torch: Any | None) -> list[Pair]:
    size = SIZES[size_name]
    shape = f"{size['input']}-{size['hidden'][0]}x{len(size['hidden'])}-{size['classes']}"
    result = []
    for dtype, name in ((np.float32, "float32"), (np.float64, "float64")):
        result.append(Pair(
            name=f"MLP training step {shape}, BN, batch {size['batch']}, {name}",
            ours=ours_step(size, dtype),
            torch=torch_step(torch, size, dtype) if torch is not None else None,
            target=TARGETS[dtype],
        ))
    return result
