"""Autoencoder (自己符号化器): a fully connected net trained to reproduce its input.

    encoder: Affine1 -> ReLU1 -> ... -> Affinek -> ReLUk        x (N, D) -> code z (N, h_k)
    decoder: Affine(k+1) -> ReLU(k+1) -> ... -> Affine(2k) -> Sigmoid(2k)   z -> y (N, D) in (0, 1)
    loss:    mean squared error  L = (1 / (N D)) sum_n sum_d (y_nd - t_nd)^2,  t = x by default

Parameters are W1, b1, ..., W2k, b2k (the arrays the layers hold, as in course.net), so the
`course.train.Trainer` trains it with ``t_train = x_train``. The denoising variant
(雑音除去自己符号化器) corrupts the input of every training step (``corruption``, e.g.
``add_noise``) and still reconstructs the clean target. The per-sample reconstruction error
is an anomaly score: inputs unlike the training data are reconstructed worse
(``anomaly_score``, evaluated with ``roc_auc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from course import init
from course.gradcheck import numerical_gradient as _numerical_gradient
from course.layers import Affine, Layer, ReLU, Sigmoid


def reconstruction_error(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-sample mean squared error e_n = (1/D) sum_d (y_nd - t_nd)^2.

    y, t: (N, D) (or (N, ...), averaged over every non-batch axis) -> (N,).
    """
    y = np.asarray(y)
    diff = y - np.asarray(t).reshape(y.shape)
    return np.mean((diff * diff).reshape(diff.shape[0], -1), axis=1)


class MeanSquaredError(Layer):
    """L = (1 / (N D)) sum_n sum_d (y_nd - t_nd)^2: the mean of ``reconstruction_error``.

    forward(y, t): y, t (N, D) -> loss (float). backward(dout=1.0) -> dy = dout * 2 (y - t) / (N D).
    """

    def __init__(self) -> None:
        super().__init__()
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, y: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        self.y, self.t = y, np.asarray(t).reshape(y.shape)
        return float(np.mean(reconstruction_error(y, self.t)))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        return dout * 2.0 * (self.y - self.t) / self.y.size


def add_noise(
    x: np.ndarray,
    noise_std: float,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Gaussian corruption for a denoising autoencoder: clip(x + noise_std * eps, 0, 1).

    eps = rng.standard_normal(x.shape) (one draw per call; rng, else default_rng(seed)).
    x: pixels in [0, 1], any shape -> same shape and dtype; x itself is not modified.
    """
    if rng is not None and seed is not None:
        raise ValueError("give either rng or seed, not both")
    rng = rng if rng is not None else np.random.default_rng(seed)
    noisy = x + noise_std * rng.standard_normal(x.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.asarray(x).dtype, copy=False)


def roc_auc(normal_scores: np.ndarray, anomaly_scores: np.ndarray) -> float:
    """Area under the ROC curve of an anomaly score (higher score = more anomalous).

    AUC = P(s_anomaly > s_normal) + 0.5 P(s_anomaly = s_normal), over all pairs of one normal
    and one anomalous sample (the Mann-Whitney statistic): 1.0 separates them perfectly,
    0.5 is chance. normal_scores: (N0,), anomaly_scores: (N1,).
    """
    s0 = np.asarray(normal_scores, dtype=np.float64).ravel()
    s1 = np.asarray(anomaly_scores, dtype=np.float64).ravel()
    if s0.size == 0 or s1.size == 0:
        raise ValueError("roc_auc needs at least one normal and one anomalous score")
    # ranks of the pooled scores, ties sharing their mean rank (sorting: no N0 x N1 matrix)
    pooled = np.concatenate([s0, s1])
    order = np.argsort(pooled, kind="mergesort")
    sorted_scores = pooled[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0  # 1-based mean rank of each distinct value
    ranks = np.empty_like(pooled)
    ranks[order] = np.repeat(mean_rank, counts)
    rank_sum = np.sum(ranks[s0.size:])
    return float((rank_sum - s1.size * (s1.size + 1) / 2.0) / (s0.size * s1.size))


class Autoencoder:
    """Fully connected autoencoder with a mirrored decoder and a sigmoid output.

    input_size: D; hidden_size_list: encoder widths, e.g. [128, 32] (the last one is the code);
    the decoder mirrors them: 784 -> 128 -> 32 -> 128 -> 784 for [128, 32].
    weight_init_std: as in course.net ("relu"/"he", "sigmoid"/"xavier" or a float), every W;
        biases 0; drawn from np.random.default_rng(seed).
    corruption: None (plain autoencoder) or a function x -> corrupted x (e.g.
        ``lambda x: add_noise(x, 0.3, rng)``), applied to the input of `gradient` only (training);
        the target stays the clean x. Evaluation (`loss`, `reconstruct`, ...) never corrupts.
    dtype: float64 (default, for gradient checks) or float32; inputs are cast to it.

    x: (N, D) pixels in [0, 1]; t: (N, D) targets, default x.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        weight_init_std: str | float = "relu",
        corruption: Callable[[np.ndarray], np.ndarray] | None = None,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        if not hidden_size_list:
            raise ValueError("an autoencoder needs at least one hidden layer (the code)")
        self.input_size = input_size
        self.hidden_size_list = list(hidden_size_list)
        self.corruption = corruption
        self.dtype = np.dtype(dtype)
        self.n_encoder_layers = len(self.hidden_size_list)

        rng = np.random.default_rng(seed)
        sizes = [input_size, *self.hidden_size_list, *self.hidden_size_list[-2::-1], input_size]
        self.params: dict[str, np.ndarray] = {}
        self.layers: dict[str, Layer] = {}
        self._owners: dict[str, tuple[Layer, str]] = {}
        last = len(sizes) - 1
        for i in range(1, last + 1):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            W = init.normal(fan_in, fan_out, weight_init_std, rng).astype(self.dtype)
            b = init.bias(fan_out).astype(self.dtype)
            affine = Affine(W, b)
            self.layers[f"Affine{i}"] = affine
            for key in ("W", "b"):
                self.params[f"{key}{i}"] = affine.params[key]
                self._owners[f"{key}{i}"] = (affine, key)
            if i < last:
                self.layers[f"ReLU{i}"] = ReLU()
            else:
                self.layers[f"Sigmoid{i}"] = Sigmoid()
        self.loss_layer: Layer = MeanSquaredError()
        self.last_loss: float | None = None  # loss of the last gradient() call (for Trainer)

    def _run(self, x: np.ndarray, names: list[str], train: bool) -> np.ndarray:
        x = np.asarray(x).astype(self.dtype, copy=False)
        for name in names:
            x = self.layers[name].forward(x, train)
        return x

    @property
    def encoder_layers(self) -> list[str]:
        """Names of the encoder's layers (Affine1, ReLU1, ..., Affinek, ReLUk)."""
        return list(self.layers)[: 2 * self.n_encoder_layers]

    @property
    def decoder_layers(self) -> list[str]:
        """Names of the decoder's layers (the rest, ending with the Sigmoid)."""
        return list(self.layers)[2 * self.n_encoder_layers:]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Code z (N, h_k) of x (N, D): the encoder's output."""
        return self._run(x, self.encoder_layers, train=False)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Reconstruction y (N, D) in (0, 1) of a code z (N, h_k)."""
        return self._run(z, self.decoder_layers, train=False)

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Reconstruction y (N, D) of x: decoder(encoder(x)), no corruption."""
        return self._run(x, list(self.layers), train)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Reconstruction y (N, D) of x (N, D), same as predict(x)."""
        return self.predict(x)

    def loss(self, x: np.ndarray, t: np.ndarray | None = None, train: bool = True) -> float:
        """L = mean squared error between predict(x) and t (default x)."""
        y = self.predict(x, train)
        target = x if t is None else t
        return float(self.loss_layer.forward(y, np.asarray(target).astype(self.dtype, copy=False)))

    def anomaly_score(self, x: np.ndarray) -> np.ndarray:
        """Per-sample reconstruction error (N,): mean_d (y_nd - x_nd)^2 with y = reconstruct(x)."""
        return reconstruction_error(self.reconstruct(x), np.asarray(x).astype(self.dtype))

    def accuracy(self, x: np.ndarray, t: np.ndarray | None = None) -> float:
        """Fraction of pixels on the right side of 0.5: mean((y > 0.5) == (t > 0.5)).

        Not a classification accuracy: it is there so the Trainer has something to report.
        """
        y = self.predict(x)
        target = np.asarray(x if t is None else t).reshape(y.shape)
        return float(np.mean((y > 0.5) == (target > 0.5)))

    def gradient(self, x: np.ndarray, t: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """dL/dparam by backpropagation; input corruption(x) if set, target t (default clean x).

        Also sets `last_loss` to the loss of this forward pass.
        """
        target = x if t is None else t
        inputs = self.corruption(x) if self.corruption is not None else x
        self.last_loss = self.loss(inputs, target, train=True)
        dout = self.loss_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return {name: layer.grads[key] for name, (layer, key) in self._owners.items()}

    def numerical_gradient(
        self, x: np.ndarray, t: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """dL/dparam by central differences for the uncorrupted input x (float64 only; slow)."""

        def loss() -> float:
            return self.loss(x, t, train=True)

        return {name: _numerical_gradient(loss, param) for name, param in self.params.items()}
