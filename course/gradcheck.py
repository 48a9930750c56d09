"""Gradient checking: numerical gradients by central differences, relative error, layer checks.

All checks run in float64 with ``h = 1e-5``: in float32 the round-off of ``f(x+h) - f(x-h)``
is larger than the differences being measured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

# The single source of truth for every tolerance in the course (library, tests, notebooks).
THRESHOLDS: dict[str, float] = {
    "dx": 1e-7,  # a layer's input gradient
    "param": 1e-7,  # a layer's weight / bias gradient (W, b)
    "gamma_beta": 1e-8,  # gamma and beta of a normalization layer
    "dropout": 1e-9,  # a dropout layer with a seeded mask
    "net": 1e-4,  # a whole network (many layers, errors add up)
    "forward_rtol": 1e-6,  # forward output vs a reference: assert_allclose(rtol, atol)
    "forward_atol": 1e-8,
}

MIN_BATCH = 4  # batch-coupled layers (BN) have constant output and zero gradient at N = 1
# dout is drawn from default_rng([seed, _DOUT_STREAM]), not default_rng(seed): otherwise a test
# input made with default_rng(0) equals dout, and for BN, sum(BN(x) * x) has a gradient ~0.
_DOUT_STREAM = 1907


def _require_float64(name: str, a: np.ndarray) -> None:
    if np.asarray(a).dtype != np.float64:
        raise TypeError(
            f"gradient checks need float64, but {name} is {np.asarray(a).dtype} "
            "(cast with .astype(np.float64))"
        )


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``f`` with respect to the array ``x``.

    ``df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / 2h``.
    ``f()`` takes no argument and reads ``x`` itself (e.g. through a layer's ``params``);
    each element of ``x`` is perturbed in place and restored exactly afterwards.

    x: float64 array of any shape. Returns an array of the same shape.
    """
    _require_float64("x", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:  # one element at a time by definition of the numerical gradient
        idx = it.multi_index
        original = x[idx]
        try:
            x[idx] = original + h
            f_plus = float(f())
            x[idx] = original - h
            f_minus = float(f())
        finally:
            x[idx] = original
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a: Any, b: Any) -> float:
    """Relative error ``max|a - b| / max(1e-8, max(|a| + |b|))``.

    The ``1e-8`` floor keeps two gradients that are both (almost) zero from dividing by zero.
    ``a`` and ``b`` must have the same shape (broadcasting would hide a wrong gradient shape).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def _threshold_key(layer: Any, quantity: str) -> str:
    if quantity == "dx":
        # Dropout is linear in x once its mask is fixed, so it is held to a tighter threshold.
        return "dropout" if hasattr(layer, "drop_ratio") else "dx"
    return "gamma_beta" if quantity in ("dgamma", "dbeta") else "param"


def check_layer(
    layer: Any,
    x: np.ndarray,
    train: bool = True,
    seed: int = 0,
    forward_kwargs: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Compare a layer's backward with numerical gradients of ``L = sum(forward(x) * dout)``.

    ``dout`` is a random upstream gradient seeded by ``seed`` (from a stream distinct from
    ``default_rng(seed)``); an all-ones ``dout`` hides real bugs (BN's dx is exactly zero for
    it). Checks ``dx`` and ``d<name>`` for every entry of ``layer.params``.
    A layer with a ``np.random.Generator`` attribute ``rng`` (dropout) has that generator
    rewound before every forward pass, so all passes use the same mask.
    The check runs the layer many times: its state (caches, running statistics) changes.

    x: float64, (N, ...) with N >= 4. forward_kwargs: extra forward arguments, e.g. ``{"t": t}``.
    thresholds: overrides for entries of ``THRESHOLDS``.
    Returns ``{"dx": err, "dW": err, ...}``; raises AssertionError naming every quantity whose
    relative error is not below its threshold.
    """
    limits = {**THRESHOLDS, **(thresholds or {})}
    kwargs = dict(forward_kwargs or {})
    _require_float64("x", x)
    for name, value in layer.params.items():
        _require_float64(name, value)
    if x.ndim == 0 or x.shape[0] < MIN_BATCH:
        raise ValueError(
            f"check_layer needs a batch of N >= {MIN_BATCH} samples, got x.shape={x.shape} "
            "(with N = 1 batch normalization's output is constant and every gradient zero)"
        )
    rng = getattr(layer, "rng", None)
    rng_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None

    def forward(inp: np.ndarray) -> np.ndarray:
        if rng_state is not None:
            rng.bit_generator.state = rng_state
        return np.asarray(layer.forward(inp, train=train, **kwargs))

    x = x.copy()
    out = forward(x)
    dout = np.random.default_rng([seed, _DOUT_STREAM]).standard_normal(out.shape)

    def loss() -> float:
        return float(np.sum(forward(x) * dout))

    numeric = {"dx": numerical_gradient(loss, x)}
    for name, value in layer.params.items():
        numeric["d" + name] = numerical_gradient(loss, value)

    # Analytic gradients last, so the layer's caches and grads belong to the unperturbed x.
    forward(x)
    analytic = {"dx": np.asarray(layer.backward(np.array(dout, copy=True)))}
    for name in layer.params:
        if name not in layer.grads:
            raise AssertionError(f"layer.grads has no entry {name!r} after backward")
        analytic["d" + name] = np.asarray(layer.grads[name])

    errors: dict[str, float] = {}
    failures = []
    for quantity, num in numeric.items():
        ana = analytic[quantity]
        if ana.shape != num.shape:
            failures.append(
                f"形状 (shape) が違います: {quantity} の shape は {ana.shape}、期待値は {num.shape}"
            )
            errors[quantity] = float("inf")
            continue
        err = rel_error(ana, num)
        errors[quantity] = err
        limit = limits[_threshold_key(layer, quantity)]
        if not err < limit:  # also catches nan
            failures.append(
                f"勾配チェック失敗 (gradient check): {quantity} の相対誤差 {err:.1e} "
                f"> 閾値 {limit:.0e}"
            )
    if failures:
        raise AssertionError(
            "\n".join(failures)
            + "\nヒント: 数値勾配 (numerical gradient) と解析的勾配 (analytic gradient) が"
            "一致しません。backward の式を確認してください。"
        )
    return errors


def directional_check(
    loss_fn: Callable[[], float],
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    seed: int = 0,
    h: float = 1e-5,
) -> float:
    """Relative error of the gradient along one random direction (cheap check for whole nets).

    With a random unit direction ``d`` over all parameters together,
    ``(L(p + h d) - L(p - h d)) / 2h`` should equal ``sum_k grads[k] . d[k]``.
    Two forward passes instead of one per parameter element.

    loss_fn(): the loss at the current ``params`` (float64 arrays, perturbed in place and
    restored). grads: analytic gradients, same keys and shapes as ``params``.
    Returns ``|numeric - analytic| / max(1e-8, |numeric| + |analytic|)``.
    """
    if set(params) != set(grads):
        raise ValueError(f"params and grads differ in keys: {sorted(params)} vs {sorted(grads)}")
    rng = np.random.default_rng(seed)
    direction = {}
    for name, value in params.items():
        _require_float64(name, value)
        if np.shape(grads[name]) != value.shape:
            raise ValueError(
                f"grads[{name!r}] has shape {np.shape(grads[name])}, expected {value.shape}"
            )
        direction[name] = rng.standard_normal(value.shape)
    norm = np.sqrt(sum(float(np.sum(d * d)) for d in direction.values()))
    direction = {name: d / norm for name, d in direction.items()}

    saved = {name: value.copy() for name, value in params.items()}
    try:
        for name, value in params.items():
            value += h * direction[name]
        loss_plus = float(loss_fn())
        for name, value in params.items():
            value[...] = saved[name] - h * direction[name]
        loss_minus = float(loss_fn())
    finally:
        for name, value in params.items():
            value[...] = saved[name]

    numeric = (loss_plus - loss_minus) / (2 * h)
    analytic = sum(float(np.sum(np.asarray(grads[k]) * direction[k])) for k in params)
    return rel_error(numeric, analytic)
