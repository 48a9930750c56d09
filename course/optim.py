"""Optimisers and learning-rate schedules.

Every optimiser has ``update(params, grads)``, which changes the arrays of ``params`` in place
(the layers hold the same arrays, so the network sees the new values), and an ``lr`` attribute
that a trainer may set each epoch from a schedule. Per-parameter state (velocity, squared-
gradient averages) is created on the first update, keyed by parameter name.

One optimiser serves one set of parameters. It may be given them in several ``update()`` calls
(parameter groups, e.g. ``{"W1", "b1"}`` then ``{"W2", "b2"}``): each name keeps its own state,
and Adam counts the steps of each parameter (its bias correction uses that count, as PyTorch's
per-parameter ``step``). A name seen before must come with the same array: a second network
whose ``W1`` would silently inherit the first one's velocity raises ValueError instead (make a
new optimiser per network).

Schedules are functions ``epoch -> lr`` (epochs counted from 0, so ``schedule(0) == lr0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

Params = Mapping[str, np.ndarray]


class Optimizer:
    """Base class: ``update(params, grads)`` in place; ``lr`` is the learning rate."""

    def __init__(self, lr: float):
        self.lr = lr
        self._arrays: dict[str, np.ndarray] = {}  # the array each name's state belongs to

    def update(self, params: Params, grads: Params) -> None:
        raise NotImplementedError

    def _state(self, state: dict[str, np.ndarray], params: Params) -> dict[str, np.ndarray]:
        """Zero-initialise ``state[key]`` like ``params[key]`` for keys seen for the first time;
        a key seen before with another array raises ValueError (see the module docstring)."""
        owners = self.__dict__.setdefault("_arrays", {})
        for key, value in params.items():
            known = owners.setdefault(key, value)
            if known is not value:
                raise ValueError(
                    f"{type(self).__name__} already holds state for parameter {key!r} of another "
                    "array (another network?): its state is kept per parameter name, so use one "
                    "optimiser per network"
                )
            if key not in state:
                state[key] = np.zeros_like(value)
        return state


class SGD(Optimizer):
    """W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01):
        super().__init__(lr)

    def update(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    """v <- momentum * v - lr * dW;  W <- W + v   (v starts at 0)."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = momentum
        self.v: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        v = self._state(self.v, params)
        for key in params:
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]
            params[key] += v[key]


class Nesterov(Optimizer):
    """Nesterov accelerated gradient (NAG).

    The gradient is meant at the look-ahead point W + momentum * v; rewritten in terms of the
    current W (the form PyTorch and CS231n use):
        v <- momentum * v - lr * dW;  W <- W + momentum * v - lr * dW
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = momentum
        self.v: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        v = self._state(self.v, params)
        for key in params:
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]
            params[key] += self.momentum * v[key] - self.lr * grads[key]


class AdaGrad(Optimizer):
    """h <- h + dW * dW;  W <- W - lr * dW / (sqrt(h) + eps).

    Each parameter's step shrinks as its squared gradients accumulate (h never decreases).
    """

    def __init__(self, lr: float = 0.01, eps: float = 1e-7):
        super().__init__(lr)
        self.eps = eps
        self.h: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        h = self._state(self.h, params)
        for key in params:
            h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + self.eps)


class RMSprop(Optimizer):
    """h <- decay_rate * h + (1 - decay_rate) * dW * dW;  W <- W - lr * dW / (sqrt(h) + eps).

    Like AdaGrad, but h is a moving average, so old gradients are forgotten.
    """

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7):
        super().__init__(lr)
        self.decay_rate, self.eps = decay_rate, eps
        self.h: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        h = self._state(self.h, params)
        for key in params:
            h[key] *= self.decay_rate
            h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + self.eps)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): no learning rate to tune; the step has the units of W.

        h   <- rho * h + (1 - rho) * dW * dW
        dx  =  sqrt(s + eps) / sqrt(h + eps) * dW
        s   <- rho * s + (1 - rho) * dx * dx
        W   <- W - lr * dx
    lr = 1.0 is the original method (kept as an attribute so schedules can scale it, as in
    PyTorch).
    """

    def __init__(self, rho: float = 0.95, eps: float = 1e-6, lr: float = 1.0):
        super().__init__(lr)
        self.rho, self.eps = rho, eps
        self.h: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        h, s = self._state(self.h, params), self._state(self.s, params)
        for key in params:
            h[key] *= self.rho
            h[key] += (1 - self.rho) * grads[key] * grads[key]
            dx = np.sqrt(s[key] + self.eps) / np.sqrt(h[key] + self.eps) * grads[key]
            s[key] *= self.rho
            s[key] += (1 - self.rho) * dx * dx
            params[key] -= self.lr * dx


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; t counts each parameter's updates from 1.

        m <- beta1 * m + (1 - beta1) * dW           v <- beta2 * v + (1 - beta2) * dW * dW
        m_hat = m / (1 - beta1**t)                   v_hat = v / (1 - beta2**t)
        W <- W - lr * m_hat / (sqrt(v_hat) + eps)
    m and v start at 0, so both are biased towards 0 early on. v is biased far more (1 - beta2
    is tiny), so without the correction the first steps are too *large*: m / sqrt(v) is about
    (1 - beta1) / sqrt(1 - beta2) = 3.2 at t = 1 with the defaults. With it, the first step is
    lr * dW / (|dW| + eps) ~ lr * sign(dW).
    """

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0  # update() calls
        self.steps: dict[str, int] = {}  # updates of each parameter: its t in the correction
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def update(self, params, grads):
        m, v = self._state(self.m, params), self._state(self.v, params)
        self.t += 1
        for key in params:
            g = grads[key]
            t = self.steps[key] = self.steps.get(key, 0) + 1
            m[key] *= self.beta1
            m[key] += (1 - self.beta1) * g
            v[key] *= self.beta2
            v[key] += (1 - self.beta2) * g * g
            m_hat = m[key] / (1 - self.beta1**t)
            v_hat = v[key] / (1 - self.beta2**t)
            params[key] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


# --------------------------------------------------------------------- learning-rate schedules

Schedule = Callable[[int], float]


def step_decay(lr0: float, step_size: int, gamma: float) -> Schedule:
    """lr = lr0 * gamma ** (epoch // step_size): multiply by gamma every step_size epochs."""

    def schedule(epoch: int) -> float:
        return lr0 * gamma ** (epoch // step_size)

    return schedule


def exponential_decay(lr0: float, k: float) -> Schedule:
    """lr = lr0 * exp(-k * epoch)."""

    def schedule(epoch: int) -> float:
        return lr0 * math.exp(-k * epoch)

    return schedule


def cosine_decay(lr0: float, total_epochs: int, lr_min: float = 0.0) -> Schedule:
    """lr = lr_min + (lr0 - lr_min) * (1 + cos(pi * epoch / total_epochs)) / 2.

    Falls from lr0 at epoch 0 to lr_min at epoch total_epochs, and stays there afterwards.
    """

    def schedule(epoch: int) -> float:
        progress = min(epoch, total_epochs) / total_epochs
        return lr_min + (lr0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return schedule
