"""Weight initialisation: normal with a fixed std, Xavier (sigmoid/tanh), He (ReLU).

    std = wscale               (a float, e.g. 0.01)
    std = sqrt(1 / fan_in)     "xavier" or "sigmoid"
    std = sqrt(2 / fan_in)     "he" or "relu"   (ReLU zeroes half its inputs, hence the 2)

fan_in is the number of inputs of one output unit: D_in for an Affine weight (D_in, D_out),
C * FH * FW for a convolution filter bank (FN, C, FH, FW) (see ``fan_in_of``).
"""

from __future__ import annotations

import math

import numpy as np

RngLike = np.random.Generator | int | None

_XAVIER_NAMES = ("xavier", "sigmoid")
_HE_NAMES = ("he", "relu")


def init_std(weight_init_std: float | str, fan_in: int) -> float:
    """The std for ``weight_init_std`` = a float, "xavier"/"sigmoid" or "he"/"relu".

    Returns the float itself, sqrt(1/fan_in) or sqrt(2/fan_in).
    """
    if isinstance(weight_init_std, str):
        name = weight_init_std.lower()
        if name in _XAVIER_NAMES:
            return math.sqrt(1.0 / fan_in)
        if name in _HE_NAMES:
            return math.sqrt(2.0 / fan_in)
        raise ValueError(
            f"unknown weight_init_std {weight_init_std!r}: use a float, "
            f"one of {_XAVIER_NAMES} (std sqrt(1/fan_in)) or {_HE_NAMES} (std sqrt(2/fan_in))"
        )
    return float(weight_init_std)


def weight_std(name: float | str, fan_in: int) -> float:
    """Same as ``init_std`` (the name the build spec also lists)."""
    return init_std(name, fan_in)


def fan_in_of(shape: tuple[int, ...]) -> int:
    """fan_in of a weight array: D_in for (D_in, D_out); C * FH * FW for (FN, C, FH, FW)."""
    if len(shape) == 2:
        return int(shape[0])
    if len(shape) == 4:
        return int(np.prod(shape[1:]))
    raise ValueError(f"expected a (D_in, D_out) or (FN, C, FH, FW) shape, got {shape}")


def normal(
    fan_in: int,
    fan_out: int,
    std: float | str = 0.01,
    rng: RngLike = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Weights drawn from N(0, std**2), float64.

    std: a float, or a name for ``init_std`` ("xavier"/"sigmoid", "he"/"relu").
    rng: a np.random.Generator, or a seed for one (same seed, same weights).
    shape: the array shape; default (fan_in, fan_out). For a convolution pass
        shape=(FN, C, FH, FW) with fan_in = C * FH * FW and fan_out = FN.
    """
    if shape is None:
        shape = (fan_in, fan_out)
    elif fan_in_of(shape) != fan_in:
        raise ValueError(
            f"fan_in={fan_in} does not match shape {shape} (fan_in {fan_in_of(shape)})"
        )
    sigma = init_std(std, fan_in)
    return sigma * np.random.default_rng(rng).standard_normal(shape)


def xavier(
    fan_in: int, fan_out: int, rng: RngLike = None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Xavier (Glorot) normal init for sigmoid/tanh: std = sqrt(1 / fan_in)."""
    return normal(fan_in, fan_out, "xavier", rng, shape)


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
