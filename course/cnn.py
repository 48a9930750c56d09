"""SimpleConvNet: the textbooks' small CNN, in the layer protocol.

    Conv1 -> ReLU1 -> Pool1 (max 2x2) -> Affine1 -> ReLU2 -> Affine2 -> SoftmaxWithLoss
    (global_pool=True:  Conv1 -> ReLU1 -> Pool1 -> GAP -> Affine1 -> ReLU2 -> Affine2 -> ...)

Parameters W1, b1 (filters), W2, b2, W3, b3 as in the textbooks. The arrays in `params` are the
very arrays the layers hold, so an optimiser updating `params` in place updates the net, and
`course.train.Trainer` can train it. `layers` is an ordered dict: a layer without parameters
(e.g. "Pool1") may be replaced by another implementation of the same layer.
"""

from __future__ import annotations

import numpy as np

from course import init
from course.conv import Conv2D, GlobalAvgPool, MaxPool2D, conv_output_size
from course.gradcheck import numerical_gradient as _numerical_gradient
from course.layers import Affine, Layer, ReLU, SoftmaxWithLoss


class SimpleConvNet:
    """A one-convolution-layer CNN for classification, trained with softmax cross-entropy.

    input_dim: (C, H, W) of one image, e.g. (1, 28, 28).
    filter_num FN, filter_size F, stride, pad: the convolution (W1: (FN, C, F, F), b1: (FN,)),
        output (N, FN, OH, OW) with OH = (H + 2 * pad - F) // stride + 1.
    pool_size P: max pooling P x P with stride P, output (N, FN, OH // P, OW // P) (for OH
        divisible by P; in general conv_output_size(OH, P, P)).
    hidden_size: units of the hidden Affine layer; output_size: K classes.
    global_pool: False -> the hidden Affine sees the flattened pooled map, so
        W2: (FN * PH * PW, hidden_size) depends on the input size;
        True -> a GlobalAvgPool first, W2: (FN, hidden_size) whatever the input size.
    weight_init_std: "relu"/"he", "sigmoid"/"xavier" or a float std (course.init; for W1 the
        fan-in is C * F * F); biases 0. Drawn from np.random.default_rng(seed).
    dtype: float64 (default, for gradient checks) or float32 (faster training).

    x: (N, C, H, W); t: (N,) labels or (N, K) one-hot.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        filter_num: int = 30,
        filter_size: int = 5,
        stride: int = 1,
        pad: int = 0,
        pool_size: int = 2,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: str | float = "relu",
        global_pool: bool = False,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        C, H, W = input_dim
        self.input_dim = tuple(input_dim)
        self.global_pool = global_pool
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)

        OH = conv_output_size(H, filter_size, stride, pad)
        OW = conv_output_size(W, filter_size, stride, pad)
        PH = conv_output_size(OH, pool_size, pool_size)
        PW = conv_output_size(OW, pool_size, pool_size)
        head_in = filter_num if global_pool else filter_num * PH * PW
        self.feature_shape = (filter_num, PH, PW)  # after Pool1, for one image

        def weight(shape: tuple[int, ...]) -> np.ndarray:
            fan_in, fan_out = init.fan_in_of(shape), shape[0] if len(shape) == 4 else shape[1]
            return init.normal(fan_in, fan_out, weight_init_std, rng, shape=shape).astype(
                self.dtype
            )

        self.params: dict[str, np.ndarray] = {
            "W1": weight((filter_num, C, filter_size, filter_size)),
            "b1": np.zeros(filter_num, dtype=self.dtype),
            "W2": weight((head_in, hidden_size)),
            "b2": np.zeros(hidden_size, dtype=self.dtype),
            "W3": weight((hidden_size, output_size)),
            "b3": np.zeros(output_size, dtype=self.dtype),
        }
        self.layers: dict[str, Layer] = {
            "Conv1": Conv2D(self.params["W1"], self.params["b1"], stride, pad),
            "ReLU1": ReLU(),
            "Pool1": MaxPool2D(pool_size, pool_size, stride=pool_size),
        }
        if global_pool:
            self.layers["GAP"] = GlobalAvgPool()
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["ReLU2"] = ReLU()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()
        self.last_loss: float | None = None  # loss of the last gradient() call (for Trainer)
        # name in self.params -> (layer name, key in layer.params)
        self._owners = {"W1": ("Conv1", "W"), "b1": ("Conv1", "b"), "W2": ("Affine1", "W"),
                        "b2": ("Affine1", "b"), "W3": ("Affine2", "W"), "b3": ("Affine2", "b")}

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Scores (logits) (N, K) before softmax. x: (N, C, H, W)."""
        x = np.asarray(x).astype(self.dtype, copy=False)
        for layer in self.layers.values():
            x = layer.forward(x, train)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """L = cross_entropy(softmax(predict(x)), t) (mean over the batch)."""
        return float(self.last_layer.forward(self.predict(x, train), t))

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 500) -> float:
        """Fraction of argmax predictions equal to the labels (in chunks of batch_size)."""
        t = np.asarray(t)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        correct = 0
        for start in range(0, len(x), batch_size):
            y = np.argmax(self.predict(x[start:start + batch_size]), axis=1)
            correct += int(np.sum(y == t[start:start + batch_size]))
        return correct / len(x)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam for every parameter by backpropagation; sets `last_loss`."""
        self.last_loss = self.loss(x, t, train=True)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return {name: self.layers[layer].grads[key] for name, (layer, key) in self._owners.items()}

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam by central differences (float64 nets only). Slow: for checks on tiny nets."""

        def loss() -> float:
            return self.loss(x, t, train=True)

        return {name: _numerical_gradient(loss, param) for name, param in self.params.items()}
