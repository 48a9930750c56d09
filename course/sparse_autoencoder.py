"""Sparse autoencoder (スパース自己符号化器): few hidden units active at a time.

    h = sigmoid(x W1 + b1)   (N, H), activations in (0, 1)
    y = sigmoid(h W2 + b2)   (N, D)
    L = MSE(y, x) + beta * P(h)

The sparsity penalty compares the mean activation of each hidden unit over the batch,
rho_hat_j = (1/N) sum_n h_nj, with a small target rho (e.g. 0.05), by the KL divergence of two
Bernoulli distributions, summed over the hidden units:

    P(h) = sum_j [ rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j)) ]
    dP/dh_nj = (1/N) ( -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j) )

P is 0 when every rho_hat_j equals rho and grows fast as rho_hat_j moves towards 0 or 1; its
gradient is the same for every sample n of a unit (it acts on the mean). The plain MSE and the
rest of the autoencoder come from ``course.autoencoder``; this module adds only the penalty and
a one-hidden-layer net that uses it (``penalty`` / ``penalty_grad`` replaceable).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course import init
from course.autoencoder import MeanSquaredError
from course.gradcheck import numerical_gradient as _numerical_gradient
from course.layers import Affine, Sigmoid


def mean_activation(h: np.ndarray) -> np.ndarray:
    """rho_hat_j = (1/N) sum_n h_nj: (N, H) -> (H,)."""
    return np.mean(h, axis=0)


def kl_sparsity(h: np.ndarray, rho: float) -> float:
    """P(h) = sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)); h (N, H) in (0, 1)."""
    rho_hat = mean_activation(h)
    return float(np.sum(rho * np.log(rho / rho_hat)
                        + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - rho_hat))))


def kl_sparsity_grad(h: np.ndarray, rho: float) -> np.ndarray:
    """dP/dh (N, H): (1/N) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) in every row."""
    rho_hat = mean_activation(h)
    per_unit = -rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat)
    return np.broadcast_to(per_unit / h.shape[0], h.shape).copy()


class SparseAutoencoder:
    """D -> H (sigmoid) -> D (sigmoid) autoencoder, loss MSE(y, x) + beta * P(h).

    rho: target mean activation; beta: weight of the penalty (0: a plain sigmoid autoencoder).
    Parameters W1, b1, W2, b2 (Xavier, biases 0, np.random.default_rng(seed)).
    ``penalty(h, rho)`` and ``penalty_grad(h, rho)`` default to kl_sparsity(_grad).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rho: float = 0.05,
        beta: float = 0.1,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
        penalty: Callable[[np.ndarray, float], float] = kl_sparsity,
        penalty_grad: Callable[[np.ndarray, float], np.ndarray] = kl_sparsity_grad,
    ) -> None:
        self.rho, self.beta = rho, beta
        self.dtype = np.dtype(dtype)
        self.penalty, self.penalty_grad = penalty, penalty_grad
        rng = np.random.default_rng(seed)
        self.enc = Affine(init.xavier(input_size, hidden_size, rng).astype(self.dtype),
                          init.bias(hidden_size).astype(self.dtype))
        self.dec = Affine(init.xavier(hidden_size, input_size, rng).astype(self.dtype),
                          init.bias(input_size).astype(self.dtype))
        self.act_enc, self.act_dec = Sigmoid(), Sigmoid()
        self.mse = MeanSquaredError()
        self.params = {"W1": self.enc.params["W"], "b1": self.enc.params["b"],
                       "W2": self.dec.params["W"], "b2": self.dec.params["b"]}
        self.last_loss: float | None = None

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Hidden activations h (N, H) in (0, 1)."""
        return self.act_enc.forward(self.enc.forward(np.asarray(x).astype(self.dtype, copy=False)))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """y (N, D)."""
        return self.act_dec.forward(self.dec.forward(self.encode(x)))

    def loss(self, x: np.ndarray, t: np.ndarray | None = None, train: bool = True) -> float:
        """MSE(reconstruct(x), x) + beta * penalty(h, rho)."""
        x = np.asarray(x).astype(self.dtype, copy=False)
        self._h = self.encode(x)
        y = self.act_dec.forward(self.dec.forward(self._h))
        value = self.mse.forward(y, x)
        if self.beta:
            value += self.beta * float(self.penalty(self._h, self.rho))
        return float(value)

    def accuracy(self, x: np.ndarray, t: np.ndarray | None = None) -> float:
        """Fraction of pixels on the right side of 0.5 (for the Trainer's report)."""
        x = np.asarray(x)
        return float(np.mean((self.reconstruct(x) > 0.5) == (x > 0.5)))

    def gradient(self, x: np.ndarray, t: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """dL/dparam by backpropagation; the penalty's gradient joins at h. Sets `last_loss`."""
        self.last_loss = self.loss(x)
        dh = self.dec.backward(self.act_dec.backward(self.mse.backward(1.0)))
        if self.beta:
            dh = dh + self.beta * self.penalty_grad(self._h, self.rho)
        self.enc.backward_params(self.act_enc.backward(dh))
        return {"W1": self.enc.grads["W"], "b1": self.enc.grads["b"],
                "W2": self.dec.grads["W"], "b2": self.dec.grads["b"]}

    def numerical_gradient(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam by central differences (float64 only; slow)."""
        return {name: _numerical_gradient(lambda: self.loss(x), p)
                for name, p in self.params.items()}
