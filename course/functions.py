"""Activation and loss functions (numpy, vectorised, in the dtype of their input)."""

from __future__ import annotations

import numpy as np

LOG_EPS = 1e-7  # added inside log() so that log(0) never happens (the textbooks' delta)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    # exp(-log(1 + exp(-x))) with a stable log(1 + exp(-x)) = logaddexp(0, -x)
    return np.exp(-np.logaddexp(0.0, -np.asarray(x)))


def relu(x: np.ndarray) -> np.ndarray:
    """relu(x) = max(0, x), elementwise."""
    return np.maximum(x, 0)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis: y_k = exp(x_k - max x) / sum_j exp(x_j - max x).

    Subtracting the maximum does not change the result and keeps exp() from overflowing.
    x: (..., K) -> (..., K), each row summing to 1.
    """
    z = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def as_batch(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Promote a single sample y (K,) to a batch (1, K), and its label t likewise."""
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        if t.size == y.size:
            t = t.reshape(1, -1)
        elif t.size == 1:
            t = t.reshape(1)
    return y, t


def _is_one_hot(y: np.ndarray, t: np.ndarray) -> bool:
    return t.shape == y.shape


def check_targets(scores: np.ndarray, t: np.ndarray, where: str) -> None:
    """Raise ValueError unless ``t`` is labels (N,) or one-hot (N, K) for ``scores`` (N, K).

    Anything else would broadcast silently: labels of shape (N, 1) index (N, N) entries and give
    a wrong loss with no error (PyTorch's cross_entropy raises here too).
    """
    n = scores.shape[0]
    if t.shape == scores.shape or t.shape == (n,):
        return
    advice = " (labels of shape (N, 1): pass t.ravel())" if t.shape == (n, 1) else ""
    raise ValueError(
        f"{where}: targets t of shape {t.shape} are neither labels ({n},) nor one-hot "
        f"{scores.shape} for scores of shape {scores.shape}{advice}"
    )


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy E = -(1/N) sum_n sum_k t_nk log(y_nk + 1e-7).

    y: (N, K) probabilities (or (K,) for one sample).
    t: (N,) integer labels or (N, K) one-hot (or soft) targets; both give the same loss.
    Any other shape of t (e.g. labels (N, 1)) raises ValueError.
    """
    y, t = as_batch(y, t)
    check_targets(y, t, "cross_entropy_error")
    n = y.shape[0]
    if _is_one_hot(y, t):
        return float(-np.sum(t * np.log(y + LOG_EPS)) / n)
    return float(-np.sum(np.log(y[np.arange(n), t.astype(int)] + LOG_EPS)) / n)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: x_k - max x - log sum_j exp(x_j - max x)."""
    z = x - np.max(x, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, t: np.ndarray) -> float:
    """Cross-entropy of softmax(logits), computed stably from the logits (no 1e-7 needed).

    E = -(1/N) sum_n sum_k t_nk log_softmax(x)_nk; finite even for logits of size 1e4.
    logits: (N, K) (or (K,)). t: (N,) labels or (N, K) one-hot; any other shape raises ValueError.
    """
    x, t = as_batch(logits, t)
    check_targets(x, t, "softmax_cross_entropy")
    n = x.shape[0]
    logp = log_softmax(x)
    if _is_one_hot(x, t):
        return float(-np.sum(t * logp) / n)
    return float(-np.sum(logp[np.arange(n), t.astype(int)]) / n)


def binary_cross_entropy(p: np.ndarray, t: np.ndarray) -> float:
    """Mean binary cross-entropy -mean(t log(p + 1e-7) + (1 - t) log(1 - p + 1e-7)).

    p: predicted probabilities of class 1, any shape (e.g. (N,) or (N, 1));
    t: 0/1 targets of the same shape. The mean is over all elements.
    """
    p = np.asarray(p)
    t = np.asarray(t)
    if p.shape != t.shape:
        raise ValueError(f"binary_cross_entropy: p {p.shape} and t {t.shape} differ in shape")
    return float(-np.mean(t * np.log(p + LOG_EPS) + (1 - t) * np.log(1 - p + LOG_EPS)))
