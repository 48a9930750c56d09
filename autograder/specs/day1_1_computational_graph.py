"""Grading spec of day1/1_1_computational_graph: multiply/add nodes and the backward passes of
Affine, ReLU, Sigmoid and SoftmaxWithLoss.

Fixtures hold the inputs of the visible tests and the reference outputs for them, computed with
``course.graph`` (Multiply, Add) and ``course.layers`` (Affine, ReLU, Sigmoid, SoftmaxWithLoss).
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.graph import Add, Multiply
from course.layers import Affine, ReLU, Sigmoid, SoftmaxWithLoss

NOTEBOOK = "day1/1_1_computational_graph"


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values with |x| >= 0.1: ReLU's kink at 0 stays out of the numerical gradients."""
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(11)
    fx: dict[str, np.ndarray] = {}

    # multiply / add nodes on arrays (elementwise, same shape)
    a, b, d = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    mul = Multiply()
    fx.update(mul_x=a, mul_y=b, mul_dout=d, mul_out=mul.forward(a, b))
    fx["mul_dx"], fx["mul_dy"] = mul.backward(d)
    add = Add()
    fx["add_out"] = add.forward(a, b)
    fx["add_dx"], fx["add_dy"] = add.backward(d)

    # ReLU
    x = _away_from_zero(rng, (5, 6))
    dout = rng.normal(size=x.shape)
    relu = ReLU()
    relu.forward(x.copy())
    fx.update(relu_x=x, relu_dout=dout, relu_dx=relu.backward(dout.copy()))

    # Sigmoid
    x = rng.normal(scale=2.0, size=(5, 6))
    dout = rng.normal(size=x.shape)
    sig = Sigmoid()
    sig.forward(x.copy())
    fx.update(sigmoid_x=x, sigmoid_dout=dout, sigmoid_dx=sig.backward(dout.copy()))

    # Affine: x (5, 4) -> (5, 3); and a 4-D input (5, 2, 1, 2) flattened to D = 4
    x = rng.normal(size=(5, 4))
    W, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    dout = rng.normal(size=(5, 3))
    aff = Affine(W.copy(), bias.copy())
    aff.forward(x.copy())
    fx.update(affine_x=x, affine_W=W, affine_b=bias, affine_dout=dout,
              affine_dx=aff.backward(dout.copy()), affine_dW=aff.grads["W"],
              affine_db=aff.grads["b"])
    x4 = rng.normal(size=(5, 2, 1, 2))
    aff = Affine(W.copy(), bias.copy())
    aff.forward(x4.copy())
    fx.update(affine_x4=x4, affine_dx4=aff.backward(dout.copy()))

    # SoftmaxWithLoss: logits (4, 5), labels and one-hot
    logits = rng.normal(scale=2.0, size=(4, 5))
    t = np.array([1, 0, 4, 1])
    t_onehot = np.eye(5)[t]
    swl = SoftmaxWithLoss()
    fx.update(swl_x=logits, swl_t=t, swl_t_onehot=t_onehot,
              swl_loss=np.array(swl.forward(logits.copy(), t_onehot)),
              swl_dx=swl.backward(1.0))
    swl.forward(logits.copy(), t)
    fx["swl_dx_labels"] = swl.backward(1.0)
    swl.forward(logits.copy(), t)
    fx["swl_dx_dout2"] = swl.backward(2.0)
    return fx


_MA, _RELU, _SIG, _AFF, _SWL = (
    "mul_add_layers", "relu_class", "sigmoid_class", "affine_class", "softmax_with_loss_class"
)
TYPICAL_BUGS = [
    # MulLayer / AddLayer
    Bug(name="multiply node does not swap its inputs", cell=_MA,
        old="dx = dout * self.y", new="dx = dout * self.x",
        caught_by="test_mul_add", message_contains="入れ替えて"),
    Bug(name="multiply node forgets the upstream gradient", cell=_MA,
        old="dy = dout * self.x", new="dy = self.x",
        caught_by="test_mul_add", message_contains="連鎖律"),
    Bug(name="add node splits the gradient in half", cell=_MA,
        old="dx = dout * 1\n        dy = dout * 1", new="dx = dout / 2\n        dy = dout / 2",
        caught_by="test_mul_add", message_contains="2 で割りません"),
    Bug(name="add node returns only its local derivative", cell=_MA,
        old="dx = dout * 1\n        dy = dout * 1", new="dx = 1\n        dy = 1",
        caught_by="test_mul_add", message_contains="dout をそのまま"),
    # ReLU
    Bug(name="ReLU backward modifies dout in place", cell=_RELU,
        old="dx = dout.copy()", new="dx = dout",
        caught_by="test_relu", message_contains="書き換え"),
    Bug(name="ReLU mask inverted", cell=_RELU,
        old="dx[self.mask] = 0", new="dx[~self.mask] = 0",
        caught_by="test_relu", message_contains="x <= 0"),
    Bug(name="ReLU backward passes 1 instead of dout", cell=_RELU,
        old="dx = dout.copy()", new="dx = np.ones_like(dout)",
        caught_by="test_relu", message_contains="dout をそのまま"),
    # Sigmoid
    Bug(name="sigmoid derivative without y", cell=_SIG,
        old="dout * self.out * (1.0 - self.out)", new="dout * (1.0 - self.out)",
        caught_by="test_sigmoid", message_contains="y(1 - y)"),
    Bug(name="sigmoid uses the tanh derivative", cell=_SIG,
        old="dout * self.out * (1.0 - self.out)", new="dout * (1.0 - self.out**2)",
        caught_by="test_sigmoid", message_contains="tanh"),
    Bug(name="sigmoid applied again to its output", cell=_SIG,
        old="return dout * self.out * (1.0 - self.out)",
        new="s = 1.0 / (1.0 + np.exp(-self.out))\n        return dout * s * (1.0 - s)",
        caught_by="test_sigmoid", message_contains="もう一度"),
    Bug(name="sigmoid backward forgets dout", cell=_SIG,
        old="dout * self.out * (1.0 - self.out)", new="self.out * (1.0 - self.out)",
        caught_by="test_sigmoid", message_contains="dout を掛け"),
    # Affine
    Bug(name="db averaged over the batch, not summed", cell=_AFF,
        old='self.grads["b"] = np.sum(dout, axis=0)', new='self.grads["b"] = np.mean(dout, axis=0)',
        caught_by="test_affine", message_contains="平均ではなく和"),
    Bug(name="db not summed over the batch", cell=_AFF,
        old='self.grads["b"] = np.sum(dout, axis=0)', new='self.grads["b"] = dout',
        caught_by="test_affine", message_contains="バッチ方向 (axis=0)"),
    Bug(name="dW transposed", cell=_AFF,
        old='self.grads["W"] = self.x.T @ dout', new='self.grads["W"] = dout.T @ self.x',
        caught_by="test_affine", message_contains="x^T dout"),
    Bug(name="dx not reshaped to the input shape", cell=_AFF,
        old="return dx.reshape(self.x_shape)", new="return dx",
        caught_by="test_affine", message_contains="self.x_shape"),
    # SoftmaxWithLoss
    Bug(name="softmax-with-loss gradient not divided by N", cell=_SWL,
        old="return dout * (self.y - t_onehot) / n", new="return dout * (self.y - t_onehot)",
        caught_by="test_softmax_with_loss", message_contains="N で割"),
    Bug(name="softmax-with-loss gradient with the wrong sign", cell=_SWL,
        old="return dout * (self.y - t_onehot) / n", new="return dout * (t_onehot - self.y) / n",
        caught_by="test_softmax_with_loss", message_contains="符号"),
    Bug(name="labels turned into a wrong one-hot", cell=_SWL,
        old="t_onehot[np.arange(n), self.t] = 1", new="t_onehot[:, self.t] = 1",
        caught_by="test_softmax_with_loss", message_contains="np.arange(N)"),
    Bug(name="softmax-with-loss backward ignores dout", cell=_SWL,
        old="return dout * (self.y - t_onehot) / n", new="return (self.y - t_onehot) / n",
        caught_by="test_softmax_with_loss", message_contains="dout を掛け"),
]

PARTIAL_BUGS = ["add node splits the gradient in half", "db averaged over the batch, not summed"]
PARTIAL_EXPECTED = {
    "test_mul_add": 0,
    "test_relu": 1,
    "test_sigmoid": 2,
    "test_affine": 0,
    "test_softmax_with_loss": 2,
}
