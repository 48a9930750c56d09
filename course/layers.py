"""Layers with forward and backward side by side (the vocabulary of the textbooks).

Every layer has ``params`` (trainable arrays, updated in place by optimisers) and ``grads``
(same keys, filled by ``backward``). ``forward(x, train=True)`` returns the output,
``backward(dout)`` returns ``dx``. Layers never modify their inputs nor ``dout``, and work in
the dtype of their input (float32 for training, float64 for gradient checks).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from course.functions import as_batch, check_targets, sigmoid


@lru_cache(maxsize=64)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of n ones, made once per (n, dtype)."""
    vector = np.ones(n, dtype=dtype)
    vector.flags.writeable = False
    return vector


def _sum_over_batch(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)``, for a 2-D float32 or float64 array written as ones @ a (BLAS gemv): the
    same sum, one pass, about three times quicker than numpy's reduction at (100, 100). Other
    arrays (float16, integers, ...) get numpy's own sum."""
    if a.ndim != 2 or a.dtype not in (np.float32, np.float64):
        return np.sum(a, axis=0)
    return _ones(a.shape[0], a.dtype) @ a


class Layer:
    """Base class: no parameters; subclasses fill ``params`` and ``grads``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Affine(Layer):
    """out = x W + b.

    W: (D, M), b: (M,). x: (N, D) or (N, d1, d2, ...) flattened to (N, D); out: (N, M).
    backward: dx = dout W^T (in the original shape of x), dW = x^T dout, db = sum_n dout.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.x: np.ndarray | None = None  # (N, D), flattened input
        self.x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        out = self.x @ self.params["W"]
        out += self.params["b"]  # in place: out is our own new array
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.backward_params(dout)
        return (dout @ self.params["W"].T).reshape(self.x_shape)

    def backward_params(self, dout: np.ndarray) -> None:
        """dW = x^T dout, db = sum_n dout: backward without dx, for a layer fed by the data.

        A network's first layer needs no dx (nobody trains the input), and dout W^T is as
        costly as dW: MultiLayerNet.gradient calls this instead of backward for it.
        """
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = _sum_over_batch(dout)


class ReLU(Layer):
    """out = max(0, x); backward: dx = dout where x > 0, else 0. Any shape."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: np.ndarray | None = None  # True where x <= 0

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.mask = x <= 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # dout * (x > 0): a product with the 0/1 mask, not np.where, whose branch on a random
        # mask costs ten times more
        return dout * ~self.mask


class Sigmoid(Layer):
    """out = 1 / (1 + exp(-x)); backward: dx = dout * out * (1 - out). Any shape."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1 - self.out)


class Tanh(Layer):
    """out = tanh(x); backward: dx = dout * (1 - out^2). Any shape."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.out**2)


class SoftmaxWithLoss(Layer):
    """Softmax followed by the mean cross-entropy loss.

    forward(x, t): x (N, K) logits, t (N,) labels or (N, K) one-hot -> loss (scalar); one sample
    x (K,) with a label t (scalar or (1,)) or one-hot (K,) is a batch of one. Any other shape of t
    (e.g. labels (N, 1), which would broadcast to (N, N)) raises ValueError, as in PyTorch.
    The loss is computed from the logits (log-softmax), stable for large logits.
    backward(dout=1.0): dx = dout * (y - t_onehot) / N, with y = softmax(x); the shape of x.
    """

    def __init__(self) -> None:
        super().__init__()
        self.y: np.ndarray | None = None  # (N, K) softmax probabilities
        self.t: np.ndarray | None = None
        self.loss: float | None = None
        self.x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        x = np.asarray(x)
        self.x_shape = x.shape
        x, t = as_batch(x, t)
        check_targets(x, t, "SoftmaxWithLoss")
        n = x.shape[0]
        # softmax and log-softmax share z = x - max x and sum_j exp(z_j) (one exp, not two)
        z = x - np.max(x, axis=-1, keepdims=True)
        e = np.exp(z)
        sum_e = np.sum(e, axis=-1, keepdims=True)
        self.y = e / sum_e
        self.t = t
        if self.t.shape == x.shape:  # one-hot
            logp = z - np.log(sum_e)
            self.loss = float(-np.sum(self.t * logp) / n)
        else:  # log-softmax at the labels only
            rows = np.arange(n)
            logp_t = z[rows, self.t.astype(int)] - np.log(sum_e[:, 0])
            self.loss = float(-np.sum(logp_t) / n)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        n = self.y.shape[0]
        if self.t.shape == self.y.shape:
            dx = self.y - self.t
        else:
            dx = self.y.copy()
            dx[np.arange(n), self.t.astype(int)] -= 1
        return (dx * (dout / n)).reshape(self.x_shape)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); backward reshapes dout back to the input shape."""

    def __init__(self) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self.x_shape)


class Dropout(Layer):
    """Dropout: during training each unit is dropped (set to 0) with probability ``drop_ratio``.

    Original form (``inverted=False``, the textbooks'):
        train:     mask = rng.random(x.shape) > drop_ratio;  out = x * mask
        inference: out = x * (1 - drop_ratio)
    Inverted form (``inverted=True``, what PyTorch / Keras do):
        train:     out = x * mask / (1 - drop_ratio)
        inference: out = x
    Both give the same expected activation in training and inference, because
    E[mask] = 1 - drop_ratio. backward reuses the mask of the last training forward:
    dx = dout * mask (/ (1 - drop_ratio) when inverted); after an inference forward
    dx = dout * (1 - drop_ratio) (original) or dout (inverted).

    Masks come from ``rng`` (a ``np.random.Generator``) or, if not given, from
    ``np.random.default_rng(seed)``, so a seeded layer is repeatable. x: any shape.
    """

    def __init__(
        self,
        drop_ratio: float = 0.5,
        inverted: bool = False,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_ratio < 1.0:
            raise ValueError(f"drop_ratio must be in [0, 1), got {drop_ratio}")
        if rng is not None and seed is not None:
            raise ValueError("give either rng or seed, not both")
        self.drop_ratio = drop_ratio
        self.inverted = inverted
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.mask: np.ndarray | None = None  # (same shape as x) True = kept; None after inference

    @property
    def keep_ratio(self) -> float:
        """1 - drop_ratio, the probability that a unit is kept."""
        return 1.0 - self.drop_ratio

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if train:
            self.mask = self.rng.random(x.shape) > self.drop_ratio
            out = x * self.mask
            return out / self.keep_ratio if self.inverted else out
        self.mask = None
        return x.copy() if self.inverted else x * self.keep_ratio

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:  # the last forward was in inference mode: a constant scale
            return dout.copy() if self.inverted else dout * self.keep_ratio
        dx = dout * self.mask
        return dx / self.keep_ratio if self.inverted else dx
