"""MultiLayerNet: a fully connected network built from the course's layers.

    Affine1 -> [BatchNorm1 | LayerNorm1] -> ReLU1 -> [Dropout1] -> ... -> AffineL -> SoftmaxWithLoss

Parameters are named as in the textbooks: W1, b1, gamma1, beta1, W2, ... The arrays in `params`
are the very arrays the layers hold, so an optimiser updating `params` in place updates the net.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course import init
from course.gradcheck import numerical_gradient as _numerical_gradient
from course.layers import Affine, Dropout, Layer, ReLU, Sigmoid, SoftmaxWithLoss, Tanh
from course.normalization import BatchNormalization, LayerNormalization
from course.regularizers import L2

_ACTIVATIONS: dict[str, tuple[str, Callable[[], Layer]]] = {
    "relu": ("ReLU", ReLU),
    "sigmoid": ("Sigmoid", Sigmoid),
    "tanh": ("Tanh", Tanh),
}
_NORMALIZATIONS: dict[str, tuple[str, type[Layer]]] = {
    "batch": ("BatchNorm", BatchNormalization),
    "layer": ("LayerNorm", LayerNormalization),
}
# Dropout masks come from default_rng([_DROPOUT_STREAM, seed, i]), a stream apart from the init rng.
_DROPOUT_STREAM = 2024
_LAYER_STATE = ("running_mean", "running_var")  # non-trainable layer state (BN running stats)


class MultiLayerNet:
    """Fully connected net for classification, trained with softmax cross-entropy.

    input_size: D; hidden_size_list: e.g. [100, 100]; output_size: K classes.
    activation: "relu", "sigmoid" or "tanh".
    weight_init_std: "relu"/"he" (std sqrt(2/fan_in)), "sigmoid"/"xavier" (sqrt(1/fan_in)) or a
        float std, for every W (course.init); biases 0. Drawn from np.random.default_rng(seed).
    weight_decay_lambda: lam of the L2 penalty 0.5 * lam * sum_l sum(W_l**2) (weights only).
    normalization: None, "batch" or "layer" after every hidden Affine (gamma 1, beta 0);
        use_batchnorm=True is the same as normalization="batch".
    use_dropout / drop_ratio / dropout_inverted: a Dropout after every hidden activation,
        masks from a generator seeded by `seed` (so runs are repeatable).
    dtype: float64 (default, needed for gradient checks) or float32 (faster training);
        inputs are cast to it.

    x: (N, D) (or (N, C, H, W), flattened by Affine1); t: (N,) labels or (N, K) one-hot.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: list[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0.0,
        use_batchnorm: bool = False,
        use_dropout: bool = False,
        drop_ratio: float = 0.5,
        dropout_inverted: bool = False,
        normalization: str | None = None,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if use_batchnorm and normalization not in (None, "batch"):
            raise ValueError(f"use_batchnorm=True contradicts normalization={normalization!r}")
        if use_batchnorm:
            normalization = "batch"
        if normalization is not None and normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"normalization must be None or one of {sorted(_NORMALIZATIONS)}, "
                f"got {normalization!r}"
            )
        self.input_size = input_size
        self.hidden_size_list = list(hidden_size_list)
        self.output_size = output_size
        self.activation = activation
        self.normalization = normalization
        self.use_dropout = use_dropout
        self.weight_decay_lambda = weight_decay_lambda
        self.dtype = np.dtype(dtype)
        self.regularizer = L2(weight_decay_lambda)

        rng = np.random.default_rng(seed)
        sizes = [input_size, *self.hidden_size_list, output_size]
        self.params: dict[str, np.ndarray] = {}
        self.layers: dict[str, Layer] = {}
        # name in self.params -> (layer, key in layer.params): where each gradient comes from
        self._owners: dict[str, tuple[Layer, str]] = {}

        for i in range(1, len(sizes)):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            W = init.normal(fan_in, fan_out, weight_init_std, rng).astype(self.dtype)
            b = init.bias(fan_out).astype(self.dtype)
            self._add(f"Affine{i}", Affine(W, b), {"W": f"W{i}", "b": f"b{i}"})
            if i == len(sizes) - 1:
                break
            if normalization is not None:
                prefix, cls = _NORMALIZATIONS[normalization]
                gamma = np.ones(fan_out, dtype=self.dtype)
                beta = np.zeros(fan_out, dtype=self.dtype)
                self._add(f"{prefix}{i}", cls(gamma, beta), {"gamma": f"gamma{i}",
                                                              "beta": f"beta{i}"})
            prefix, make_activation = _ACTIVATIONS[activation]
            self._add(f"{prefix}{i}", make_activation(), {})
            if use_dropout:
                dropout_rng = np.random.default_rng([_DROPOUT_STREAM, seed, i])
                dropout = Dropout(drop_ratio, inverted=dropout_inverted, rng=dropout_rng)
                self._add(f"Dropout{i}", dropout, {})
        self.last_layer = SoftmaxWithLoss()
        self.last_loss: float | None = None  # loss of the last gradient() call (for Trainer)

    def _add(self, name: str, layer: Layer, param_names: dict[str, str]) -> None:
        self.layers[name] = layer
        for key, param_name in param_names.items():
            self.params[param_name] = layer.params[key]
            self._owners[param_name] = (layer, key)

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Scores (logits) (N, K), before softmax. train=True uses batch statistics and dropout."""
        x = np.asarray(x).astype(self.dtype, copy=False)
        for layer in self.layers.values():
            x = layer.forward(x, train)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """L = cross_entropy(softmax(predict(x)), t) + 0.5 * lam * sum_l sum(W_l**2)."""
        data_loss = float(self.last_layer.forward(self.predict(x, train), t))
        if not self.regularizer.lam:  # no weight decay: skip a pass over every weight
            return data_loss
        return data_loss + self.regularizer.penalty(self.params)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """Fraction of argmax predictions (inference mode) equal to the labels."""
        y = np.argmax(self.predict(x, train=False), axis=1)
        t = np.asarray(t)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.mean(y == t))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam for every parameter by backpropagation (train mode), dW including lam * W.

        Also sets `last_loss` to the loss of this forward pass.
        """
        self.last_loss = self.loss(x, t, train=True)
        dout = self.last_layer.backward(1.0)
        first, *rest = self.layers.values()
        for layer in reversed(rest):
            dout = layer.backward(dout)
        if type(first) is Affine:  # the input needs no gradient: dW and db only, no dout W^T
            first.backward_params(dout)
        else:  # a replaced first layer (e.g. a learner's own Affine): its full backward
            first.backward(dout)
        grads = {name: layer.grads[key] for name, (layer, key) in self._owners.items()}
        if self.weight_decay_lambda:
            for name, decay in self.regularizer.gradient(self.params).items():
                grads[name] = grads[name] + decay
        return grads

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam by central differences (course.gradcheck; float64 nets only). Slow: checks.

        Every loss evaluation replays the dropout generators from their state at this call, so
        all of them (and the next `gradient` call) use the same dropout masks. BN running
        statistics are restored afterwards: the network's state is left as it was.
        """
        dropouts = [layer for layer in self.layers.values() if isinstance(layer, Dropout)]
        rng_states = [layer.rng.bit_generator.state for layer in dropouts]
        saved_state = {
            (name, attr): getattr(layer, attr)
            for name, layer in self.layers.items()
            for attr in _LAYER_STATE
            if hasattr(layer, attr)
        }

        def replay_dropout() -> None:
            for layer, state in zip(dropouts, rng_states, strict=True):
                layer.rng.bit_generator.state = state

        def loss() -> float:
            replay_dropout()
            return self.loss(x, t, train=True)

        try:
            return {name: _numerical_gradient(loss, param) for name, param in self.params.items()}
        finally:
            replay_dropout()
            for (name, attr), value in saved_state.items():
                setattr(self.layers[name], attr, value)
