"""Weight initialisation: normal with a fixed std, Xavier (sigmoid/tanh), He (ReLU).

    std = wscale                          (a float, e.g. 0.01)
    std = sqrt(1 / fan_in)                "xavier", "lecun" or "sigmoid"
    std = sqrt(2 / (fan_in + fan_out))    "glorot"
    std = sqrt(2 / fan_in)                "he" or "relu"  (ReLU zeroes half its inputs: the 2)

Two formulas go by the name "Xavier". The textbook (ゼロから作るDeep Learning) and this course
use sqrt(1 / fan_in), which is LeCun's form (LeCun et al., 1998, "Efficient BackProp"): it keeps
the variance of the forward signal. Glorot & Bengio (2010) average the forward and backward
conditions into sqrt(2 / (fan_in + fan_out)) (PyTorch's xavier_normal_). Both are here, under
their own names; for a square weight (fan_in = fan_out) they agree.

fan_in is the number of inputs of one output unit: D_in for an Affine weight (D_in, D_out),
C * FH * FW for a convolution filter bank (FN, C, FH, FW) (see ``fan_in_of``); fan_out is
D_out, or FN * FH * FW (``fan_out_of``).
"""

from __future__ import annotations

import math

import numpy as np

RngLike = np.random.Generator | int | None

_XAVIER_NAMES = ("xavier", "lecun", "sigmoid")  # sqrt(1 / fan_in): LeCun's form
_GLOROT_NAMES = ("glorot",)  # sqrt(2 / (fan_in + fan_out))
_HE_NAMES = ("he", "relu")


def init_std(weight_init_std: float | str, fan_in: int, fan_out: int | None = None) -> float:
    """The std for ``weight_init_std`` = a float, "xavier"/"lecun"/"sigmoid", "glorot" or
    "he"/"relu".

    Returns the float itself, sqrt(1/fan_in), sqrt(2/(fan_in + fan_out)) (fan_out required) or
    sqrt(2/fan_in).
    """
    if isinstance(weight_init_std, str):
        name = weight_init_std.lower()
        if name in _XAVIER_NAMES:
            return math.sqrt(1.0 / fan_in)
        if name in _GLOROT_NAMES:
            if fan_out is None:
                raise ValueError("Glorot's std sqrt(2 / (fan_in + fan_out)) needs fan_out")
            return math.sqrt(2.0 / (fan_in + fan_out))
        if name in _HE_NAMES:
            return math.sqrt(2.0 / fan_in)
        raise ValueError(
            f"unknown weight_init_std {weight_init_std!r}: use a float, "
            f"one of {_XAVIER_NAMES} (std sqrt(1/fan_in)), {_GLOROT_NAMES} "
            f"(std sqrt(2/(fan_in + fan_out))) or {_HE_NAMES} (std sqrt(2/fan_in))"
        )
    return float(weight_init_std)


def weight_std(name: float | str, fan_in: int, fan_out: int | None = None) -> float:
    """Same as ``init_std`` (the name the build spec also lists)."""
    return init_std(name, fan_in, fan_out)


def fan_in_of(shape: tuple[int, ...]) -> int:
    """fan_in of a weight array: D_in for (D_in, D_out); C * FH * FW for (FN, C, FH, FW)."""
    if len(shape) == 2:
        return int(shape[0])
    if len(shape) == 4:
        return int(np.prod(shape[1:]))
    raise ValueError(f"expected a (D_in, D_out) or (FN, C, FH, FW) shape, got {shape}")


def fan_out_of(shape: tuple[int, ...]) -> int:
    """fan_out of a weight array: D_out for (D_in, D_out); FN * FH * FW for (FN, C, FH, FW)."""
    if len(shape) == 2:
        return int(shape[1])
    if len(shape) == 4:
        return int(shape[0] * shape[2] * shape[3])
    raise ValueError(f"expected a (D_in, D_out) or (FN, C, FH, FW) shape, got {shape}")


def normal(
    fan_in: int,
    fan_out: int,
    std: float | str = 0.01,
    rng: RngLike = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Weights drawn from N(0, std**2), float64.

    std: a float, or a name for ``init_std`` ("xavier"/"lecun"/"sigmoid", "glorot", "he"/"relu").
    rng: a np.random.Generator, or a seed for one (same seed, same weights).
    shape: the array shape; default (fan_in, fan_out). For a convolution pass
        shape=(FN, C, FH, FW) with fan_in = C * FH * FW and fan_out = FN ("glorot" then uses
        FN * FH * FW, the inputs one input unit feeds).
    """
    if shape is None:
        shape = (fan_in, fan_out)
    elif fan_in_of(shape) != fan_in:
        raise ValueError(
            f"fan_in={fan_in} does not match shape {shape} (fan_in {fan_in_of(shape)})"
        )
    sigma = init_std(std, fan_in, fan_out_of(shape))
    return sigma * np.random.default_rng(rng).standard_normal(shape)


def xavier(
    fan_in: int, fan_out: int, rng: RngLike = None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """"Xavier" init as the textbook defines it, for sigmoid/tanh: std = sqrt(1 / fan_in).

    This is LeCun's form (``lecun``); Glorot & Bengio's own formula is ``glorot``.
    """
    return normal(fan_in, fan_out, "xavier", rng, shape)


def lecun(
    fan_in: int, fan_out: int, rng: RngLike = None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """LeCun normal init: std = sqrt(1 / fan_in) (the textbook's "Xavier")."""
    return normal(fan_in, fan_out, "lecun", rng, shape)


def glorot(
    fan_in: int, fan_out: int, rng: RngLike = None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Glorot (Xavier) normal init of Glorot & Bengio (2010): std = sqrt(2 / (fan_in + fan_out)).

    PyTorch's ``nn.init.xavier_normal_``; equals ``lecun`` when fan_in = fan_out.
    """
    return normal(fan_in, fan_out, "glorot", rng, shape)


def he(
    fan_in: int, fan_out: int, rng: RngLike = None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """He (Kaiming) normal init for ReLU: std = sqrt(2 / fan_in)."""
    return normal(fan_in, fan_out, "he", rng, shape)


def bias(n: int, value: float = 0.0) -> np.ndarray:
    """Bias vector (n,) filled with ``value`` (float64).

    Zero is the usual choice. A small positive value (e.g. 0.01) is an option with ReLU: it
    makes most pre-activations start slightly positive, so units begin in the part of ReLU
    that passes a gradient, which helps against "dying ReLU" (units stuck at output 0 that
    receive zero gradient and never recover).
    """
    return np.full(n, value, dtype=np.float64)
