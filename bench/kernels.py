"""Single layers, forward + backward, against PyTorch: batch normalisation, Conv2D, max pooling.

Both libraries compute the same things: the output, dx (the input requires a gradient: our
backward always returns dx), and the parameter gradients. Batch normalisation also gets an
effective bandwidth: the bytes a fused kernel must move at least (forward reads x and writes
out, backward reads dout and x and writes dx: five arrays) over the time, next to what a plain
numpy copy of the same array reaches (it reads one array and writes one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.harness import Pair, time_one
from course.conv import Conv2D, MaxPool2D
from course.normalization import BatchNormalization

BN_SHAPES = {"full": [(256, 1024), (4096, 1024)], "tiny": [(16, 32)]}
BN_ARRAYS_MOVED = 5  # x, out (forward); dout, x, dx (backward)
CONV = {  # batch 32 of 3x32x32 images, 16 3x3 filters, pad 1 (the shape of a first CIFAR layer)
    "full": {"N": 32, "C": 3, "H": 32, "FN": 16, "F": 3, "pad": 1},
    "tiny": {"N": 4, "C": 2, "H": 8, "FN": 3, "F": 3, "pad": 1},
}
TARGETS = {"bn": 1.2, "conv": 0.7, "pool": 0.7}  # bn: issue 17


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _torch_fb(torch: Any, module: Any, x: np.ndarray, dout: np.ndarray):
    """PyTorch forward + backward of module with x requiring a gradient; grads cleared each call."""
    tx = torch.from_numpy(x).requires_grad_(True)
    tdout = torch.from_numpy(dout)
    params = list(module.parameters())

    def step() -> None:
        module(tx).backward(tdout)
        tx.grad = None
        for p in params:
            p.grad = None

    return step


def _ours_fb(layer: Any, x: np.ndarray, dout: np.ndarray):
    def step() -> None:
        layer.forward(x, train=True)
        layer.backward(dout)

    return step


def batchnorm_pairs(size_name: str, torch: Any | None) -> list[Pair]:
    result = []
    for n, d in BN_SHAPES[size_name]:
        rng = _rng()
        x = rng.standard_normal((n, d)).astype(np.float32)
        dout = rng.standard_normal((n, d)).astype(np.float32)
        layer = BatchNormalization(np.ones(d, np.float32), np.zeros(d, np.float32))
        theirs = None
        if torch is not None:
            theirs = _torch_fb(torch, torch.nn.BatchNorm1d(d), x, dout)
        result.append(Pair(
            name=f"BatchNorm fwd+bwd ({n}, {d}) float32",
            ours=_ours_fb(layer, x, dout),
            torch=theirs,
            target=TARGETS["bn"],
        ))
    return result


def bandwidth(result_s: float, shape: tuple[int, int], arrays: int = BN_ARRAYS_MOVED) -> float:
    """GB/s if ``arrays`` float32 arrays of ``shape`` were moved once in ``result_s`` seconds."""
    return arrays * shape[0] * shape[1] * 4 / result_s / 1e9


def copy_bandwidth(shape: tuple[int, int], rounds: int, min_sample: float) -> float:
    """GB/s of np.copyto(out, x) on float32 arrays of ``shape`` (one read, one write)."""
    x = _rng().standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    seconds = time_one(lambda: np.copyto(out, x), rounds, min_sample)
    return bandwidth(seconds, shape, arrays=2)


def conv_pairs(size_name: str, torch: Any | None) -> list[Pair]:
    s = CONV[size_name]
    rng = _rng()
    x = rng.standard_normal((s["N"], s["C"], s["H"], s["H"])).astype(np.float32)
    W = (0.1 * rng.standard_normal((s["FN"], s["C"], s["F"], s["F"]))).astype(np.float32)
    b = np.zeros(s["FN"], np.float32)
    conv = Conv2D(W, b, stride=1, pad=s["pad"])
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    # max pooling 2x2 on what such a layer gives after ReLU (many ties at 0, as in a real net)
    pooled_input = np.maximum(rng.standard_normal(out.shape), 0).astype(np.float32)
    pool = MaxPool2D(2, 2)
    dpool = rng.standard_normal(pool.forward(pooled_input).shape).astype(np.float32)
    theirs_conv = theirs_pool = None
    if torch is not None:
        tconv = torch.nn.Conv2d(s["C"], s["FN"], s["F"], padding=s["pad"])
        with torch.no_grad():
            tconv.weight.copy_(torch.from_numpy(W))
        theirs_conv = _torch_fb(torch, tconv, x, dout)
        theirs_pool = _torch_fb(torch, torch.nn.MaxPool2d(2), pooled_input, dpool)
    conv_name = (f"Conv2D fwd+bwd, batch {s['N']}, {s['C']}x{s['H']}x{s['H']}, "
                 f"{s['FN']} {s['F']}x{s['F']} filters, pad {s['pad']}")
    return [
        Pair(conv_name, _ours_fb(conv, x, dout), theirs_conv, TARGETS["conv"]),
        Pair(f"MaxPool2D 2x2 fwd+bwd on {tuple(out.shape)}", _ours_fb(pool, pooled_input, dpool),
             theirs_pool, TARGETS["pool"]),
    ]
