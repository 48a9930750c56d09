"""Restricted Boltzmann machine (制限ボルツマンマシン, RBM) with binary units, trained by CD-1.

Visible units v in {0, 1}^D, hidden units h in {0, 1}^H, weights W (D, H), biases b (D,), c (H,):

    energy      E(v, h) = -v b - h c - v W h                  p(v, h) = exp(-E(v, h)) / Z
    conditionals p(h_j = 1 | v) = sigmoid(v W + c)_j,  p(v_i = 1 | h) = sigmoid(h W^T + b)_i
    free energy F(v) = -v b - sum_j softplus((v W + c)_j),    p(v) = exp(-F(v)) / Z

No connections inside a layer ("restricted"), so the units of one layer are independent given
the other layer and both conditionals are products of sigmoids. The gradient of the mean
log-likelihood is a positive phase (data) minus a negative phase (the model's own samples):
d log p(v)/dW = v^T p(h|v) - E_model[v^T h]. Contrastive divergence CD-1 replaces the model
expectation by one step of Gibbs sampling from the data:

    ph0 = p(h | v0),  h0 = [u_h < ph0],  pv1 = p(v | h0),  v1 = [u_v < pv1],  ph1 = p(h | v1)
    dW = (v0^T ph0 - v1^T ph1) / N,  db = mean_n (v0 - v1),  dc = mean_n (ph0 - ph1)

(a step *up* the log-likelihood: W += lr * dW). The hidden *probabilities* ph0, ph1 enter the
statistics (less noise than the samples h0); the sample h0 only drives the reconstruction. The
uniform draws u_h (N, H) and u_v (N, D) are arguments, so one CD-1 step is a deterministic
function that a test can compare. The positive phase is minus the gradient of the mean free
energy of the data: -d mean F(v0)/dW = v0^T ph0 / N.

A deep belief network (DBN) is a stack of RBMs trained greedily: the hidden probabilities of one
RBM are the data of the next (``train_dbn``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course.functions import sigmoid

CD1 = Callable[..., dict[str, np.ndarray]]


def binarize(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Pixels in [0, 1] -> {0., 1.} (x > threshold), same shape, float64."""
    return (np.asarray(x) > threshold).astype(np.float64)


def energy(v: np.ndarray, h: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """E(v, h) = -v b - h c - v W h per sample: v (N, D), h (N, H) -> (N,)."""
    return -(v @ b) - (h @ c) - np.sum((v @ W) * h, axis=1)


def prob_h_given_v(v: np.ndarray, W: np.ndarray, c: np.ndarray) -> np.ndarray:
    """p(h_j = 1 | v) = sigmoid(v W + c): (N, D) -> (N, H)."""
    return sigmoid(v @ W + c)


def prob_v_given_h(h: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """p(v_i = 1 | h) = sigmoid(h W^T + b): (N, H) -> (N, D)."""
    return sigmoid(h @ W.T + b)


def free_energy(v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """F(v) = -v b - sum_j log(1 + exp((v W + c)_j)) per sample: (N, D) -> (N,)."""
    return -(v @ b) - np.sum(np.logaddexp(0.0, v @ W + c), axis=1)


def cd1(
    v0: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray,
    u_h: np.ndarray, u_v: np.ndarray,
) -> dict[str, np.ndarray]:
    """One CD-1 step with the uniform draws u_h (N, H), u_v (N, D) given (see the module doc).

    Returns {"dW", "db", "dc"} (the ascent direction of the log-likelihood) and the chain's
    states {"ph0", "h0", "pv1", "v1", "ph1"}.
    """
    n = v0.shape[0]
    ph0 = prob_h_given_v(v0, W, c)
    h0 = (u_h < ph0).astype(v0.dtype)
    pv1 = prob_v_given_h(h0, W, b)
    v1 = (u_v < pv1).astype(v0.dtype)
    ph1 = prob_h_given_v(v1, W, c)
    return {
        "dW": (v0.T @ ph0 - v1.T @ ph1) / n,
        "db": np.mean(v0 - v1, axis=0),
        "dc": np.mean(ph0 - ph1, axis=0),
        "ph0": ph0, "h0": h0, "pv1": pv1, "v1": v1, "ph1": ph1,
    }


def brute_force_free_energy(
    v: np.ndarray, W: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """F(v) = -log sum_h exp(-E(v, h)) by enumerating all 2^H hidden states (small H only)."""
    H = W.shape[1]
    if H > 16:
        raise ValueError(f"2^{H} hidden states are too many to enumerate")
    states = ((np.arange(2**H)[:, None] >> np.arange(H)) & 1).astype(np.float64)  # (2^H, H)
    neg_e = np.stack([-energy(v, np.broadcast_to(s, (len(v), H)), W, b, c) for s in states])
    top = neg_e.max(axis=0)
    return -(top + np.log(np.sum(np.exp(neg_e - top), axis=0)))


class RBM:
    """A binary RBM trained with CD-1 and plain gradient ascent (optionally momentum).

    visible: D; hidden: H; W ~ N(0, 0.01^2), b = c = 0 (np.random.default_rng(seed)); the
    mini-batch order and the CD draws come from np.random.default_rng([seed, 1]).
    ``cd`` is the CD-1 function used by ``train`` (replace it to use your own).
    """

    def __init__(self, visible: int, hidden: int, seed: int = 0, cd: CD1 = cd1) -> None:
        rng = np.random.default_rng(seed)
        self.W = 0.01 * rng.standard_normal((visible, hidden))
        self.b = np.zeros(visible)
        self.c = np.zeros(hidden)
        self.seed = seed
        self.cd = cd

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b, "c": self.c}

    def transform(self, v: np.ndarray) -> np.ndarray:
        """Hidden probabilities p(h = 1 | v) (N, H): the features the next RBM of a DBN sees."""
        return prob_h_given_v(v, self.W, self.c)

    def reconstruct(self, v: np.ndarray) -> np.ndarray:
        """p(v = 1 | h = p(h | v)) (N, D): one deterministic up-down pass."""
        return prob_v_given_h(self.transform(v), self.W, self.b)

    def reconstruction_error(self, v: np.ndarray) -> float:
        """Mean over samples and pixels of (v - reconstruct(v))^2."""
        return float(np.mean((v - self.reconstruct(v)) ** 2))

    def free_energy(self, v: np.ndarray) -> np.ndarray:
        """F(v) (N,)."""
        return free_energy(v, self.W, self.b, self.c)

    def train(
        self, v: np.ndarray, epochs: int, lr: float = 0.1, batch_size: int = 100,
        momentum: float = 0.5,
    ) -> dict[str, Any]:
        """CD-1 on the rows of v (N, D) in {0, 1} (or probabilities, for a DBN's upper layers).

        Each mini-batch: ``step = cd(...)``; velocity = momentum * velocity + lr * step;
        param += velocity. Returns {"reconstruction_error": [one per epoch]} on all of v.
        """
        rng = np.random.default_rng([self.seed, 1])
        velocity = {k: np.zeros_like(p) for k, p in self.params.items()}
        history: dict[str, Any] = {"reconstruction_error": []}
        n = len(v)
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n - batch_size + 1, batch_size):
                batch = v[order[start:start + batch_size]]
                u_h = rng.random((len(batch), self.W.shape[1]))
                u_v = rng.random(batch.shape)
                step = self.cd(batch, self.W, self.b, self.c, u_h, u_v)
                for key, param in self.params.items():
                    velocity[key] = momentum * velocity[key] + lr * step[f"d{key}"]
                    param += velocity[key]
            history["reconstruction_error"].append(self.reconstruction_error(v))
        return history

    def gibbs_sample(self, v: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
        """Run `steps` alternating Gibbs steps from v; returns the last p(v | h) (N, D)."""
        pv = v
        for _ in range(steps):
            ph = prob_h_given_v(v, self.W, self.c)
            h = (rng.random(ph.shape) < ph).astype(np.float64)
            pv = prob_v_given_h(h, self.W, self.b)
            v = (rng.random(pv.shape) < pv).astype(np.float64)
        return pv


def train_dbn(
    v: np.ndarray, hidden_sizes: Sequence[int], epochs: int, lr: float = 0.1,
    batch_size: int = 100, seed: int = 0, cd: CD1 = cd1,
) -> list[RBM]:
    """Greedy layer-wise training of a DBN: RBM k learns the hidden probabilities of RBM k-1."""
    rbms, data = [], v
    for k, hidden in enumerate(hidden_sizes):
        rbm = RBM(data.shape[1], hidden, seed=seed + k, cd=cd)
        rbm.train(data, epochs, lr=lr, batch_size=batch_size)
        rbms.append(rbm)
        data = rbm.transform(data)
    return rbms
