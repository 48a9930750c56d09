"""Computational-graph nodes: each forward rule with its local backward rule beside it.

A node is called once per pass: ``out = node.forward(*inputs)`` remembers what the local
derivative needs, then ``node.backward(dout)`` returns one gradient per input, always as a
tuple (``dx, = Square().backward(dout)`` for a one-input node). Chain rule: a node multiplies
the upstream gradient ``dout`` = dL/dout by its local derivative dout/dinput; when a value
feeds two nodes, the gradients arriving from both are added.

Binary nodes (Add, Subtract, Multiply) follow numpy broadcasting. An input that was
broadcast was *copied* along some axes, so its gradient is the *sum* over those axes
(``unbroadcast``); every returned gradient has its input's shape.

Notebook 4_5 builds batch normalisation and the weight-decay term from these nodes:
``batchnorm_graph_forward/backward`` and ``weight_decay_graph_forward/backward``.

A graph can also be *data*: a list of ``(name, op, inputs)`` steps in forward order, e.g.
``("xc", "Subtract", ["x", "mu"])``, where ``op`` is a key of ``OPS`` and ``inputs`` name graph
inputs or earlier steps. ``run_graph`` evaluates such a list (forward, then backward from one
output, adding the gradients where a value feeds several steps); the notebook's group works
hand the learner such lists with blanks (``BLANK``) to complete, and draw them as figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Axis = int | tuple[int, ...] | None


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``.

    grad: the gradient w.r.t. the broadcast result; shape: the input's shape before broadcasting.
    E.g. b (D,) broadcast to (N, D): db = sum over axis 0 of the (N, D) gradient.
    """
    grad = np.asarray(grad)
    added = grad.ndim - len(shape)
    if added > 0:  # leading axes that numpy prepended
        grad = grad.sum(axis=tuple(range(added)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:  # axes of length 1 that were repeated
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


class Node:
    """A graph node: ``forward(*inputs) -> out``, ``backward(dout) -> tuple of input grads``."""

    def forward(self, *inputs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError


class Add(Node):
    """z = x + y.  dz/dx = 1, dz/dy = 1."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        return np.add(x, y)

    def backward(self, dout):
        return unbroadcast(dout, self.x_shape), unbroadcast(dout, self.y_shape)


class Subtract(Node):
    """z = x - y.  dz/dx = 1, dz/dy = -1."""

    def forward(self, x, y):
        self.x_shape, self.y_shape = np.shape(x), np.shape(y)
        return np.subtract(x, y)

    def backward(self, dout):
        return unbroadcast(dout, self.x_shape), unbroadcast(-dout, self.y_shape)


class Multiply(Node):
    """z = x * y.  dz/dx = y, dz/dy = x (each input gets the *other* one)."""

    def forward(self, x, y):
        self.x, self.y = np.asarray(x), np.asarray(y)
        return self.x * self.y

    def backward(self, dout):
        return unbroadcast(dout * self.y, self.x.shape), unbroadcast(dout * self.x, self.y.shape)


class Square(Node):
    """y = x**2.  dy/dx = 2x."""

    def forward(self, x):
        self.x = np.asarray(x)
        return self.x**2

    def backward(self, dout):
        return (2.0 * self.x * dout,)


class Sqrt(Node):
    """y = sqrt(x).  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, dout):
        return (dout / (2.0 * self.out),)


class Reciprocal(Node):
    """y = 1/x.  dy/dx = -1/x**2 = -y**2."""

    def forward(self, x):
        self.out = 1.0 / np.asarray(x)
        return self.out

    def backward(self, dout):
        return (-dout * self.out**2,)


def _restore_reduced_axes(dout: np.ndarray, axis: Axis, keepdims: bool) -> np.ndarray:
    """Put back, as length-1 axes, the axes a reduction dropped, so dout broadcasts against x."""
    dout = np.asarray(dout)
    if keepdims or axis is None:
        return dout  # already broadcastable: same ndim, or a scalar
    return np.expand_dims(dout, axis)


class Sum(Node):
    """y = sum of x over ``axis``.  dy/dx_i = 1: every summed element receives dout unchanged."""

    def __init__(self, axis: Axis = None, keepdims: bool = True):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = np.shape(x)
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, dout):
        dout = _restore_reduced_axes(dout, self.axis, self.keepdims)
        return (np.broadcast_to(dout, self.x_shape).copy(),)


class Mean(Node):
    """y = (1/n) sum of x over ``axis`` (n elements).  dy/dx_i = 1/n."""

    def __init__(self, axis: Axis = None, keepdims: bool = True):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        x = np.asarray(x)
        self.x_shape = x.shape
        out = x.mean(axis=self.axis, keepdims=self.keepdims)
        self.n = x.size // max(np.size(out), 1)
        return out

    def backward(self, dout):
        dout = _restore_reduced_axes(dout, self.axis, self.keepdims)
        return (np.broadcast_to(dout / self.n, self.x_shape).copy(),)


class Broadcast(Node):
    """y = x repeated to ``shape`` (numpy broadcasting).  Backward sums over the repeated axes."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = np.shape(x)
        return np.broadcast_to(x, self.shape).copy()

    def backward(self, dout):
        return (unbroadcast(dout, self.x_shape),)


class Scale(Node):
    """y = c * x for a constant c.  dy/dx = c."""

    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        return self.c * np.asarray(x)

    def backward(self, dout):
        return (self.c * dout,)


class MatMul(Node):
    """z = x @ W (x: (N, D), W: (D, M)).  dL/dx = dout @ W.T, dL/dW = x.T @ dout."""

    def forward(self, x, W):
        self.x, self.W = np.asarray(x), np.asarray(W)
        return self.x @ self.W

    def backward(self, dout):
        return dout @ self.W.T, self.x.T @ dout


class ReLU(Node):
    """y = max(0, x).  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        self.mask = np.asarray(x) > 0
        return np.where(self.mask, x, 0.0)

    def backward(self, dout):
        return (dout * self.mask,)


class SoftmaxWithLoss(Node):
    """L = mean cross-entropy of softmax(x) against labels t (N,).  dL/dx = (y - onehot(t)) / N.

    The labels are data, not a variable: their "gradient" is None (nothing flows back to t).
    """

    def forward(self, x, t):
        x = np.asarray(x, dtype=np.float64)
        self.t = np.asarray(t).astype(int)
        z = x - np.max(x, axis=1, keepdims=True)
        logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
        self.y = np.exp(logp)
        rows = np.arange(x.shape[0])
        return np.asarray(-np.mean(logp[rows, self.t]))

    def backward(self, dout):
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1.0
        return dout * dx / n, None


# --------------------------------------------------------------------------------------------
# Batch normalisation, node by node
# --------------------------------------------------------------------------------------------

#: The lecture's A1..A4, in the lecture's notation: X_mu = X - mu (here "xc"),
#: sigma' = sqrt(sigma^2 + eps) ("std"), X_std = X_mu * (1/sigma') ("xhat"),
#: X_gamma = gamma * X_std ("gamma_xhat"), Y = X_gamma + beta ("out"). In the order backprop
#: reaches them; ``batchnorm_graph_backward`` returns these keys next to the descriptive ones
#: ("A1" is the same array as "dxhat", and so on). Every other intermediate keeps its d-name.
BN_INTERMEDIATES = {
    "A1": "dxhat:      gamma * dL/dY, the gradient that reaches X_std, shape (N, D)",
    "A2": "dxc_direct: (1/sigma') * A1, the direct path into X_mu, shape (N, D)",
    "A3": "distd:      sum_n X_mu * A1, the gradient that reaches 1/sigma', shape (1, D)",
    "A4": "dstd:       -(sigma')^-2 * A3, the gradient that reaches sigma', shape (1, D)",
}


def batchnorm_graph_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, dict]:
    """Batch normalisation (training mode) built from primitive nodes.

    x: (N, D); gamma, beta: (D,). Statistics over the batch axis (biased variance):
        mu   = (1/N) sum_n x              (1, D)   Mean
        xc   = x - mu                     (N, D)   Subtract
        var  = (1/N) sum_n xc**2          (1, D)   Square, Mean
        std  = sqrt(var + eps)            (1, D)   Add, Sqrt
        istd = 1 / std                    (1, D)   Reciprocal
        xhat = xc * istd                  (N, D)   Multiply
        out  = gamma * xhat + beta        (N, D)   Multiply, Add
    Returns (out, cache); cache = {"nodes": name -> node, "values": name -> array}, where the
    names are those of the quantities above ("gamma_xhat" is gamma * xhat).
    """
    nodes = {
        "mu": Mean(axis=0),
        "xc": Subtract(),
        "xc2": Square(),
        "var": Mean(axis=0),
        "var_eps": Add(),
        "std": Sqrt(),
        "istd": Reciprocal(),
        "xhat": Multiply(),
        "gamma_xhat": Multiply(),
        "out": Add(),
    }
    mu = nodes["mu"].forward(x)
    xc = nodes["xc"].forward(x, mu)
    xc2 = nodes["xc2"].forward(xc)
    var = nodes["var"].forward(xc2)
    var_eps = nodes["var_eps"].forward(var, eps)
    std = nodes["std"].forward(var_eps)
    istd = nodes["istd"].forward(std)
    xhat = nodes["xhat"].forward(xc, istd)
    gamma_xhat = nodes["gamma_xhat"].forward(gamma, xhat)
    out = nodes["out"].forward(gamma_xhat, beta)
    values = {"mu": mu, "xc": xc, "var": var, "std": std, "istd": istd, "xhat": xhat, "out": out}
    return out, {"nodes": nodes, "values": values}


def batchnorm_graph_backward(
    dout: np.ndarray, cache: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Backpropagate through the BN graph node by node, from out back to x.

    dout: (N, D). Returns (dx (N, D), dgamma (D,), dbeta (D,), grads), where grads holds every
    intermediate gradient: "dxhat", "distd", "dstd", "dvar", "dxc_direct", "dxc_var", "dxc",
    "dmu", "dx_direct", "dx_mean", and the lecture's A1..A4 (see ``BN_INTERMEDIATES``):
        A1 = dxhat      = gamma * dout                      (reaches X_std)
        A2 = dxc_direct = A1 / std                          (direct path into X_mu)
        A3 = distd      = sum_n xc * A1                     (reaches 1/sigma')
        A4 = dstd       = -A3 / std**2                      (reaches sigma')
        dvar = A4 / (2 std);  dxc = A2 + (2/N) xc * dvar;  dmu = -sum_n dxc
        dx = dxc + dmu / N     (the dvar part of dmu is 0, since sum_n xc = 0)
    """
    node = cache["nodes"]
    dgamma_xhat, dbeta = node["out"].backward(dout)
    dgamma, dxhat = node["gamma_xhat"].backward(dgamma_xhat)
    # xhat = xc * istd: one path goes straight to xc, the other through the statistics.
    dxc_direct, distd = node["xhat"].backward(dxhat)
    (dstd,) = node["istd"].backward(distd)
    (dvar_eps,) = node["std"].backward(dstd)
    dvar, _ = node["var_eps"].backward(dvar_eps)  # eps is a constant: its gradient is unused
    (dxc2,) = node["var"].backward(dvar)
    (dxc_var,) = node["xc2"].backward(dxc2)
    dxc = dxc_direct + dxc_var  # xc feeds two nodes (xhat and xc**2): gradients add
    dx_direct, dmu = node["xc"].backward(dxc)
    (dx_mean,) = node["mu"].backward(dmu)
    dx = dx_direct + dx_mean  # x feeds two nodes (xc and mu): gradients add
    grads = {
        "dxhat": dxhat,
        "distd": distd,
        "dstd": dstd,
        "dvar": dvar,
        "dxc_direct": dxc_direct,
        "dxc_var": dxc_var,
        "dxc": dxc,
        "dmu": dmu,
        "dx_direct": dx_direct,
        "dx_mean": dx_mean,
    }
    grads.update(A1=dxhat, A2=dxc_direct, A3=distd, A4=dstd)
    return dx, dgamma, dbeta, grads


# --------------------------------------------------------------------------------------------
# Weight decay, node by node
# --------------------------------------------------------------------------------------------


def weight_decay_graph_forward(weights: list[np.ndarray], lam: float) -> tuple[float, dict]:
    """Weight-decay term 0.5 * lam * sum_l sum(W_l**2), built from nodes.

    weights: the weight arrays W1, W2, ... (any shapes; not biases, gamma or beta).
    Graph: each W_l -> Square -> Sum (to a scalar); the scalars -> Add, Add, ...; -> Scale(lam/2).
    Returns (penalty, cache).
    """
    if not weights:
        raise ValueError("weight_decay_graph_forward needs at least one weight array")
    squares = [Square() for _ in weights]
    sums = [Sum(axis=None, keepdims=False) for _ in weights]
    adds = [Add() for _ in weights[1:]]
    scale = Scale(0.5 * lam)
    total = sums[0].forward(squares[0].forward(weights[0]))
    for W, square, sum_, add in zip(weights[1:], squares[1:], sums[1:], adds, strict=True):
        total = add.forward(total, sum_.forward(square.forward(W)))
    penalty = scale.forward(total)
    return float(penalty), {"squares": squares, "sums": sums, "adds": adds, "scale": scale}


def weight_decay_graph_backward(dout: float, cache: dict) -> list[np.ndarray]:
    """Backpropagate dout = dL/dpenalty (1.0 when the penalty is added to the loss).

    Returns [dW1, dW2, ...] with each dW_l = dout * lam * W_l, shaped like W_l.
    """
    (dtotal,) = cache["scale"].backward(np.asarray(dout, dtype=np.float64))
    # Walk the chain of Adds backwards: each splits its gradient into (running total, new sum).
    dsums = []
    for add in reversed(cache["adds"]):
        dtotal, dsum = add.backward(dtotal)
        dsums.append(dsum)
    dsums.append(dtotal)  # the first sum started the chain
    dsums.reverse()
    dweights = []
    for square, sum_, dsum in zip(cache["squares"], cache["sums"], dsums, strict=True):
        (dsquare,) = sum_.backward(dsum)
        (dW,) = square.backward(dsquare)
        dweights.append(dW)
    return dweights


# --------------------------------------------------------------------------------------------
# Graphs as data: a list of (name, op, inputs) steps, evaluated forward and backward
# --------------------------------------------------------------------------------------------

#: A blank in a graph given as data, for the learner to fill in (an op or an input name).
BLANK = "?"

#: The ops a graph given as data may use: op name -> a function making a fresh node.
#: "Mean" averages over the batch axis (axis 0, kept); "SumAll" sums every element to a scalar.
OPS = {
    "Add": Add,
    "Subtract": Subtract,
    "Multiply": Multiply,
    "Square": Square,
    "Sqrt": Sqrt,
    "Reciprocal": Reciprocal,
    "Mean": lambda: Mean(axis=0),
    "SumAll": lambda: Sum(axis=None, keepdims=False),
    "MatMul": MatMul,
    "ReLU": ReLU,
    "SoftmaxWithLoss": SoftmaxWithLoss,
}

Step = tuple[str, str, list[str]]


def graph_problems(steps: list[Step], inputs: list[str]) -> list[str]:
    """What keeps ``steps`` from being evaluated (blanks, unknown ops or names); [] if nothing.

    steps: [(name, op, [input names])] in forward order; inputs: the graph's input names.
    """
    problems = []
    known = set(inputs)
    for i, step in enumerate(steps):
        try:
            name, op, args = step
        except (TypeError, ValueError):
            problems.append(f"step {i}: not a (name, op, inputs) triple: {step!r}")
            continue
        if op == BLANK or BLANK in list(args):
            problems.append(f"{name}: a blank {BLANK!r} is left")
        elif op not in OPS:
            problems.append(f"{name}: unknown op {op!r} (one of {', '.join(OPS)})")
        for arg in args:
            if arg != BLANK and arg not in known:
                problems.append(f"{name}: input {arg!r} is no graph input nor earlier step")
        if name in known:
            problems.append(f"{name}: the name is used twice")
        known.add(name)
    return problems


def run_graph(
    steps: list[Step], inputs: dict[str, Any], output: str, dout: Any = 1.0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Evaluate a graph given as data: forward in the listed order, then backward from ``output``.

    steps: [(name, op, [input names])]; inputs: graph input name -> value; output: the step
    whose gradient starts as ``dout`` (1.0 for a scalar loss). Backward visits the steps in
    reverse order; every node multiplies its upstream gradient by its local derivative, and a
    value that feeds several steps receives the *sum* of their gradients.
    Returns (values, grads): name -> forward value, name -> dL/dvalue (for every graph input and
    step that the output depends on). Raises ValueError when ``graph_problems`` finds any.
    """
    problems = graph_problems(steps, list(inputs))
    if problems:
        raise ValueError("the graph cannot be evaluated: " + "; ".join(problems))
    values = dict(inputs)
    nodes = {}
    for name, op, args in steps:
        nodes[name] = OPS[op]()
        values[name] = nodes[name].forward(*(values[a] for a in args))
    grads: dict[str, np.ndarray] = {output: np.asarray(dout, dtype=np.float64)}
    for name, _, args in reversed(steps):
        if name not in grads:
            continue  # the output does not depend on this step
        for arg, grad in zip(args, nodes[name].backward(grads[name]), strict=True):
            if grad is not None:
                grads[arg] = grads[arg] + grad if arg in grads else grad
    return values, grads
