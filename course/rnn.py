"""Recurrent networks: one step of a simple RNN, an LSTM and a GRU, and layers over sequences.

A recurrent layer reads a sequence x_0, ..., x_{T-1} (each (N, D)) and carries a hidden state
h_t (N, H) from one time step to the next, with the same weights at every step:

| cell | one step (s = sigmoid)                                          | gates  |
| ---- | --------------------------------------------------------------- | ------ |
| RNN  | h = tanh(x Wx + h_prev Wh + b)                                  | 1      |
| LSTM | f, g, i, o = split(x Wx + h_prev Wh + b); c = f*c_prev + g*i;   | 4:     |
|      | h = o * tanh(c)   (f, i, o sigmoid; g tanh)                     | f g i o|
| GRU  | z = s(x Wxz + h_prev Whz + bz); r = s(x Wxr + h_prev Whr + br); | 3:     |
|      | h~ = tanh(x Wxh + (r*h_prev) Whh + bh); h = (1-z)*h_prev + z*h~ | z r h~ |

Wx: (D, k H), Wh: (H, k H), b: (k H,) for k gates, blocks side by side in the order of the table
(the order of 「ゼロから作るDeep Learning 2」). So one step has k (D H + H H + H) parameters.
PyTorch keeps two bias vectors (b_ih and b_hh: k (D H + H H + 2 H)) and writes the GRU update as
h = (1-z)*h~ + z*h_prev (its z is our 1 - z).

Each step is a pair of functions ``*_step_forward`` (returns the new state and a cache) and
``*_step_backward`` (takes the gradient of the new state, returns those of x, the previous state
and the weights). Backpropagation through time (BPTT) runs the steps backwards: the gradient of
h_t is the upstream gradient at step t plus the gradient carried back from step t+1.
``RNN``, ``LSTM`` and ``GRU`` are layers over a whole sequence, x: (N, T, D) -> hs: (N, T, H),
h_0 (and c_0) zero; ``SequenceClassifier`` puts an Affine layer and a softmax on the last h.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course import init
from course.layers import Affine, Layer, SoftmaxWithLoss

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # blocks of Wx, Wh and b per cell


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) = 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2: no overflow, and one tanh is
    several times faster than course.functions.sigmoid's logaddexp (a recurrent layer calls it
    three times per time step)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def count_params(kind: str, input_size: int, hidden_size: int) -> int:
    """Parameters of one recurrent cell: gates * (D H + H H + H) for "rnn", "lstm" or "gru"."""
    if kind not in GATES:
        raise ValueError(f"kind must be one of {sorted(GATES)}, got {kind!r}")
    D, H = input_size, hidden_size
    return GATES[kind] * (D * H + H * H + H)


# ----------------------------------------------------------------------------- simple RNN


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    """h = tanh(x Wx + h_prev Wh + b).

    x: (N, D), h_prev: (N, H), Wx: (D, H), Wh: (H, H), b: (H,) -> h: (N, H), cache.
    """
    h = np.tanh(x @ Wx + h_prev @ Wh + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh, cache):
    """Gradients of one step from dh = dL/dh (N, H): (dx, dh_prev, dWx, dWh, db).

    da = dh * (1 - h^2) (tanh'); dx = da Wx^T, dh_prev = da Wh^T, dWx = x^T da,
    dWh = h_prev^T da, db = sum_n da.
    """
    x, h_prev, Wx, Wh, h = cache
    da = dh * (1 - h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, np.sum(da, axis=0)


# ----------------------------------------------------------------------------- LSTM


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step: (h, c, cache).

    a = x Wx + h_prev Wh + b, (N, 4H), split into f, g, i, o (in this order);
    f = sigmoid (forget gate), g = tanh (new candidate), i = sigmoid (input gate),
    o = sigmoid (output gate); c = f * c_prev + g * i (memory cell); h = o * tanh(c).
    x: (N, D), h_prev, c_prev: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,).
    """
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    f = sigmoid(a[:, :H])
    g = np.tanh(a[:, H:2 * H])
    i = sigmoid(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + g * i
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, Wx, Wh, f, g, i, o, tanh_c)


def lstm_step_backward(dh, dc, cache):
    """Gradients of one LSTM step from dh, dc (N, H): (dx, dh_prev, dc_prev, dWx, dWh, db).

    dc_total = dc + dh * o * (1 - tanh(c)^2); dc_prev = dc_total * f;
    df = dc_total * c_prev, dg = dc_total * i, di = dc_total * g, do = dh * tanh(c);
    through the activations: da = [df f(1-f), dg (1-g^2), di i(1-i), do o(1-o)] (N, 4H);
    dx = da Wx^T, dh_prev = da Wh^T, dWx = x^T da, dWh = h_prev^T da, db = sum_n da.
    """
    x, h_prev, c_prev, Wx, Wh, f, g, i, o, tanh_c = cache
    dc_total = dc + dh * o * (1 - tanh_c**2)
    df = dc_total * c_prev
    dg = dc_total * i
    di = dc_total * g
    do = dh * tanh_c
    da = np.hstack((df * f * (1 - f), dg * (1 - g**2), di * i * (1 - i), do * o * (1 - o)))
    return (da @ Wx.T, da @ Wh.T, dc_total * f, x.T @ da, h_prev.T @ da, np.sum(da, axis=0))


# ----------------------------------------------------------------------------- GRU


def gru_step_forward(x, h_prev, Wx, Wh, b):
    """One GRU step: (h, cache).

    Wx = [Wxz | Wxr | Wxh] (D, 3H), Wh = [Whz | Whr | Whh] (H, 3H), b = [bz | br | bh] (3H,);
    z = sigmoid(x Wxz + h_prev Whz + bz) (update gate), r = sigmoid(x Wxr + h_prev Whr + br)
    (reset gate), h~ = tanh(x Wxh + (r * h_prev) Whh + bh), h = (1 - z) * h_prev + z * h~.
    """
    H = h_prev.shape[1]
    Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:]
    Whz, Whr, Whh = Wh[:, :H], Wh[:, H:2 * H], Wh[:, 2 * H:]
    bz, br, bh = b[:H], b[H:2 * H], b[2 * H:]
    z = sigmoid(x @ Wxz + h_prev @ Whz + bz)
    r = sigmoid(x @ Wxr + h_prev @ Whr + br)
    h_hat = np.tanh(x @ Wxh + (r * h_prev) @ Whh + bh)
    h = (1 - z) * h_prev + z * h_hat
    return h, (x, h_prev, Wx, Wh, z, r, h_hat)


def gru_step_backward(dh, cache):
    """Gradients of one GRU step from dh (N, H): (dx, dh_prev, dWx, dWh, db).

    dh_hat = dh * z, dz = dh * (h~ - h_prev), dh_prev = dh * (1 - z) + ...;
    da_h = dh_hat (1 - h~^2); d(r h_prev) = da_h Whh^T, dr = d(r h_prev) * h_prev;
    da_z = dz z (1 - z), da_r = dr r (1 - r); the weights collect x^T da and h_prev^T da
    per block (Whh: (r h_prev)^T da_h).
    """
    x, h_prev, Wx, Wh, z, r, h_hat = cache
    H = h_prev.shape[1]
    Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:]
    Whz, Whr, Whh = Wh[:, :H], Wh[:, H:2 * H], Wh[:, 2 * H:]
    dh_hat = dh * z
    dz = dh * (h_hat - h_prev)
    dh_prev = dh * (1 - z)
    da_h = dh_hat * (1 - h_hat**2)
    drh = da_h @ Whh.T
    dh_prev += drh * r
    dr = drh * h_prev
    da_z = dz * z * (1 - z)
    da_r = dr * r * (1 - r)
    dh_prev += da_z @ Whz.T + da_r @ Whr.T
    dx = da_z @ Wxz.T + da_r @ Wxr.T + da_h @ Wxh.T
    dWx = np.hstack((x.T @ da_z, x.T @ da_r, x.T @ da_h))
    dWh = np.hstack((h_prev.T @ da_z, h_prev.T @ da_r, (r * h_prev).T @ da_h))
    db = np.hstack((np.sum(da_z, axis=0), np.sum(da_r, axis=0), np.sum(da_h, axis=0)))
    return dx, dh_prev, dWx, dWh, db


# ----------------------------------------------------------------------------- layers over time


class Recurrent(Layer):
    """A recurrent layer over a sequence: x (N, T, D) -> hs (N, T, H); h_0 (and c_0) are zero.

    params Wx (D, kH), Wh (H, kH), b (kH,) for the cell's k gates (see the module docstring).
    backward(dhs): dhs (N, T, H), the upstream gradient of every h_t (zeros where a step has no
    loss) -> dxs (N, T, D); fills grads Wx, Wh, b (summed over the time steps) and ``dh0``.
    BPTT: for t = T-1 .. 0, the step's dh is dhs[:, t] + the dh_prev returned by step t+1.
    ``step``: an optional (step_forward, step_backward) pair with the signatures of this
    module's functions for the cell, used instead of them (e.g. a learner's own).
    """

    kind = ""

    def __init__(self, Wx, Wh, b, step: tuple[Callable, Callable] | None = None) -> None:
        super().__init__()
        self.params = {"Wx": Wx, "Wh": Wh, "b": b}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.step = step
        self.caches: list = []
        self.dh0: np.ndarray | None = None

    @property
    def hidden_size(self) -> int:
        return self.params["Wh"].shape[0]

    def forward(self, x, train=True):
        N, T, _ = x.shape
        H = self.hidden_size
        state = self._zero_state(N, H, x.dtype)
        hs = np.empty((N, T, H), dtype=x.dtype)
        self.caches = []
        for t in range(T):
            state, cache = self._step_forward(x[:, t], state)
            self.caches.append(cache)
            hs[:, t] = state[0]
        return hs

    def backward(self, dout):
        N, T, _ = dout.shape
        grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        dxs = None
        dstate = self._zero_state(N, self.hidden_size, dout.dtype)
        for t in reversed(range(T)):
            dstate = (dout[:, t] + dstate[0], *dstate[1:])  # from the loss at t and from t+1
            dx, dstate, dWx, dWh, db = self._step_backward(dstate, self.caches[t])
            if dxs is None:
                dxs = np.empty((N, T, dx.shape[1]), dtype=dx.dtype)
            dxs[:, t] = dx
            grads["Wx"] += dWx
            grads["Wh"] += dWh
            grads["b"] += db
        self.grads = grads
        self.dh0 = dstate[0]
        return dxs

    def _zero_state(self, N, H, dtype):
        return (np.zeros((N, H), dtype=dtype),)

    def _functions(self, default):
        return self.step if self.step is not None else default

    def _step_forward(self, x, state):
        raise NotImplementedError

    def _step_backward(self, dstate, cache):
        raise NotImplementedError


class RNN(Recurrent):
    """Simple RNN over time: h_t = tanh(x_t Wx + h_{t-1} Wh + b). Wx (D, H), Wh (H, H), b (H,)."""

    kind = "rnn"

    def _step_forward(self, x, state):
        forward, _ = self._functions((rnn_step_forward, rnn_step_backward))
        h, cache = forward(x, state[0], self.params["Wx"], self.params["Wh"], self.params["b"])
        return (h,), cache

    def _step_backward(self, dstate, cache):
        _, backward = self._functions((rnn_step_forward, rnn_step_backward))
        dx, dh_prev, dWx, dWh, db = backward(dstate[0], cache)
        return dx, (dh_prev,), dWx, dWh, db


class GRU(Recurrent):
    """GRU over time (gates z, r, h~). Wx (D, 3H), Wh (H, 3H), b (3H,)."""

    kind = "gru"

    def _step_forward(self, x, state):
        forward, _ = self._functions((gru_step_forward, gru_step_backward))
        h, cache = forward(x, state[0], self.params["Wx"], self.params["Wh"], self.params["b"])
        return (h,), cache

    def _step_backward(self, dstate, cache):
        _, backward = self._functions((gru_step_forward, gru_step_backward))
        dx, dh_prev, dWx, dWh, db = backward(dstate[0], cache)
        return dx, (dh_prev,), dWx, dWh, db


class LSTM(Recurrent):
    """LSTM over time (gates f, g, i, o; memory cell c). Wx (D, 4H), Wh (H, 4H), b (4H,).

    The memory cell gets no upstream gradient of its own: only h_t is the layer's output.
    """

    kind = "lstm"

    def _zero_state(self, N, H, dtype):
        return (np.zeros((N, H), dtype=dtype), np.zeros((N, H), dtype=dtype))

    def _step_forward(self, x, state):
        forward, _ = self._functions((lstm_step_forward, lstm_step_backward))
        h, c, cache = forward(x, state[0], state[1], self.params["Wx"], self.params["Wh"],
                              self.params["b"])
        return (h, c), cache

    def _step_backward(self, dstate, cache):
        _, backward = self._functions((lstm_step_forward, lstm_step_backward))
        dx, dh_prev, dc_prev, dWx, dWh, db = backward(dstate[0], dstate[1], cache)
        return dx, (dh_prev, dc_prev), dWx, dWh, db


LAYERS: dict[str, type[Recurrent]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def init_recurrent(
    kind: str,
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator | int | None = None,
    dtype: np.dtype | type = np.float64,
) -> dict[str, np.ndarray]:
    """Initial Wx, Wh, b of a cell: Xavier normal (std sqrt(1/fan_in)) for Wx and Wh, b = 0,
    except the gates that decide how much memory is kept, which start on "keep": the LSTM's
    forget-gate bias is 1 (f = sigmoid(1) = 0.73) and the GRU's update-gate bias -1 (1 - z =
    0.73 of h_prev kept). Otherwise a fresh cell forgets half its memory at every step."""
    rng = np.random.default_rng(rng)
    k, D, H = GATES[kind], input_size, hidden_size
    params = {
        "Wx": rng.standard_normal((D, k * H)) * np.sqrt(1.0 / D),
        "Wh": rng.standard_normal((H, k * H)) * np.sqrt(1.0 / H),
        "b": np.zeros(k * H),
    }
    if kind == "lstm":
        params["b"][:H] = 1.0  # forget gate f
    elif kind == "gru":
        params["b"][:H] = -1.0  # update gate z
    return {name: value.astype(dtype) for name, value in params.items()}


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float):
    """Gradient clipping by the global norm: (clipped grads, norm before clipping).

    norm = sqrt(sum over every array of sum(g^2)); if norm > max_norm every gradient is
    multiplied by max_norm / norm (the direction is kept), otherwise they are returned as they
    are. New arrays; ``grads`` is not modified. (PyTorch's clip_grad_norm_ divides by
    norm + 1e-6 and works in place.)
    """
    norm = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {k: g * np.asarray(scale, dtype=g.dtype) for k, g in grads.items()}, norm


class GradientClipping:
    """An optimiser wrapper: ``update(params, grads)`` clips grads (``clip``, by default
    clip_grad_norm) to ``max_norm``, then lets ``optimizer`` update. Records the norms before
    clipping in ``norms``. ``lr`` reads and sets the wrapped optimiser's learning rate."""

    def __init__(self, optimizer, max_norm: float, clip: Callable | None = None) -> None:
        self.optimizer = optimizer
        self.max_norm = max_norm
        self.clip = clip if clip is not None else clip_grad_norm
        self.norms: list[float] = []

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def update(self, params, grads) -> None:
        clipped, norm = self.clip(grads, self.max_norm)
        self.norms.append(float(norm))
        self.optimizer.update(params, clipped)


class SequenceClassifier:
    """A recurrent layer, then an Affine layer on the last hidden state and softmax loss.

    x: (N, T, D) sequences, t: (N,) labels -> logits (N, K) = h_{T-1} W2 + b2.
    params: Wx1, Wh1, b1 (the cell, see ``init_recurrent``), W2 (H, K) Xavier, b2 (K,) zero.
    kind: "rnn", "lstm" or "gru": the cell and its initial weights. layer: a function
    (Wx, Wh, b) -> recurrent layer used instead of this module's class for the kind (e.g. a
    learner's own RNN class, or ``lambda Wx, Wh, b: LSTM(Wx, Wh, b, step=(my_forward,
    my_backward))``); it must keep the arrays it is given as params "Wx", "Wh", "b".
    Implements the Trainer's interface (params, gradient, loss, accuracy, last_loss).
    dtype: float64 (gradient checks) or float32.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        kind: str = "rnn",
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
        layer: Callable[..., Layer] | None = None,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.kind = kind
        self.dtype = np.dtype(dtype)
        p = init_recurrent(kind, input_size, hidden_size, rng, self.dtype)
        self.recurrent = (layer or LAYERS[kind])(p["Wx"], p["Wh"], p["b"])
        W2 = init.normal(hidden_size, output_size, "xavier", rng).astype(self.dtype)
        self.affine = Affine(W2, np.zeros(output_size, dtype=self.dtype))
        self.loss_layer = SoftmaxWithLoss()
        self.params = {"Wx1": p["Wx"], "Wh1": p["Wh"], "b1": p["b"], "W2": W2,
                       "b2": self.affine.params["b"]}
        self.last_loss: float | None = None
        self.hs: np.ndarray | None = None

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Logits (N, K) from the last hidden state."""
        self.hs = self.recurrent.forward(np.asarray(x).astype(self.dtype, copy=False), train)
        return self.affine.forward(self.hs[:, -1], train)

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        return float(self.loss_layer.forward(self.predict(x, train), t))

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.predict(x), axis=1) == np.asarray(t)))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam by backpropagation through time; sets last_loss."""
        self.last_loss = self.loss(x, t, train=True)
        dlast = self.affine.backward(self.loss_layer.backward(1.0))
        dhs = np.zeros_like(self.hs)
        dhs[:, -1] = dlast
        self.recurrent.backward(dhs)
        g = self.recurrent.grads
        return {"Wx1": g["Wx"], "Wh1": g["Wh"], "b1": g["b"], "W2": self.affine.grads["W"],
                "b2": self.affine.grads["b"]}


def memory_task(
    n: int, length: int, n_symbols: int = 2, noise_std: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A long-lag memory task: remember the symbol shown at the first step.

    x: (n, length, n_symbols + 1): step 0 holds the one-hot symbol in the first n_symbols
    channels; steps 1 .. length-1 hold distractor noise N(0, noise_std^2) in the last channel
    (the symbol channels are 0 there); t: (n,) the symbol, to be given after the last step.
    The lag between the evidence and the answer is length - 1 steps.
    """
    rng = np.random.default_rng(seed)
    t = rng.integers(0, n_symbols, n)
    x = np.zeros((n, length, n_symbols + 1))
    x[:, 0, :n_symbols] = np.eye(n_symbols)[t]
    x[:, 1:, n_symbols] = rng.standard_normal((n, length - 1)) * noise_std
    return x, t


def mnist_rows(x: np.ndarray) -> np.ndarray:
    """MNIST images as sequences of their rows: (N, 784) or (N, 1, 28, 28) -> (N, 28, 28)."""
    return np.asarray(x).reshape(len(x), 28, 28)
