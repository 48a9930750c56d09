"""Grading spec of day2/2_1_optimizers: the learner's optimisers and optimize_path.

Fixtures: fixed parameters W0 (3, 4), b0 (4,) and three gradient steps gW, gb, with the parameters
after each step under ``course.optim`` (non-default hyperparameters, so a hard-coded default shows).
Most gradient entries are "ordinary" (0.5 to 2 in size); W's entry (0, 0) is 0 at the first step
and entry (0, 1) is ~1e-5 at every step (normal_mask False): where eps placement matters.
Also the paths of SGD(lr=0.95) and Momentum(lr=0.1) on f(x, y) = x^2/20 + y^2 from (-7, 2).
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course import optim

NOTEBOOK = "day2/2_1_optimizers"

# name in the fixture -> reference optimiser with the settings the visible tests use
_SCRIPTED = {
    "sgd": lambda: optim.SGD(lr=0.1),
    "momentum": lambda: optim.Momentum(lr=0.1, momentum=0.8),
    "adagrad": lambda: optim.AdaGrad(lr=0.1),
    "rmsprop": lambda: optim.RMSprop(lr=0.01, decay_rate=0.9),
    "adam": lambda: optim.Adam(lr=0.01, beta1=0.8, beta2=0.9),
    "adam_default": lambda: optim.Adam(),
    "adadelta": lambda: optim.Adadelta(rho=0.9, eps=1e-6),
}


def _path(optimizer, start: tuple[float, float], steps: int) -> np.ndarray:
    """Points visited on f(x, y) = x^2/20 + y^2 (gradient (x/10, 2y)), shape (steps + 1, 2)."""
    params = {"x": np.array(start[0]), "y": np.array(start[1])}
    path = [start]
    for _ in range(steps):
        optimizer.update(params, {"x": params["x"] / 10.0, "y": 2.0 * params["y"]})
        path.append((float(params["x"]), float(params["y"])))
    return np.array(path)


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(21)
    W0, b0 = rng.normal(size=(3, 4)), rng.normal(size=4)

    def ordinary(shape: tuple[int, ...]) -> np.ndarray:
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)

    gW, gb = ordinary((3, 3, 4)), ordinary((3, 4))
    gW[0, 0, 0] = 0.0  # h = 0 there after the first step: a missing eps divides 0 by 0
    gW[:, 0, 1] = [1e-5, -2e-5, 1.5e-5]  # sqrt(h) + eps differs clearly from sqrt(h + eps)
    normal_mask = np.ones((3, 4), dtype=bool)
    normal_mask[0, :2] = False
    fx = {"W0": W0, "b0": b0, "gW": gW, "gb": gb, "normal_mask": normal_mask}

    for name, make in _SCRIPTED.items():
        opt, W, b = make(), W0.copy(), b0.copy()
        Ws, bs = [], []
        for k in range(3):
            opt.update({"W": W, "b": b}, {"W": gW[k].copy(), "b": gb[k].copy()})
            Ws.append(W.copy())
            bs.append(b.copy())
        fx[f"{name}_W"], fx[f"{name}_b"] = np.array(Ws), np.array(bs)

    fx["path_sgd"] = _path(optim.SGD(lr=0.95), (-7.0, 2.0), 30)
    fx["path_momentum"] = _path(optim.Momentum(lr=0.1), (-7.0, 2.0), 30)
    return fx


TYPICAL_BUGS = [
    # SGD
    Bug(name="SGD rebinds params[key] instead of updating in place", cell="sgd_class",
        old="params[key] -= self.lr * grads[key]",
        new="params[key] = params[key] - self.lr * grads[key]",
        caught_by="test_sgd", message_contains="in place"),
    Bug(name="SGD adds the gradient (ascent)", cell="sgd_class",
        old="params[key] -= self.lr * grads[key]", new="params[key] += self.lr * grads[key]",
        caught_by="test_sgd", message_contains="勾配と同じ向き"),
    Bug(name="SGD uses a hard-coded learning rate", cell="sgd_class",
        old="params[key] -= self.lr * grads[key]", new="params[key] -= 0.01 * grads[key]",
        caught_by="test_sgd", message_contains="self.lr"),
    # Momentum
    Bug(name="Momentum recreates the velocity at every update", cell="momentum_class",
        old="if key not in self.v:\n                self.v[key] = np.zeros_like(params[key])",
        new="self.v[key] = np.zeros_like(params[key])",
        caught_by="test_momentum", message_contains="保持"),
    Bug(name="Momentum forgets the momentum factor", cell="momentum_class",
        old="self.momentum * self.v[key] - self.lr", new="self.v[key] - self.lr",
        caught_by="test_momentum", message_contains="momentum を掛けて"),
    Bug(name="Momentum moves W before updating v", cell="momentum_class",
        old=("self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]\n"
             "            params[key] += self.v[key]"),
        new=("params[key] += self.v[key]\n"
             "            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]"),
        caught_by="test_momentum", message_contains="変わっていません"),
    Bug(name="Momentum adds the gradient to the velocity", cell="momentum_class",
        old="- self.lr * grads[key]", new="+ self.lr * grads[key]",
        caught_by="test_momentum", message_contains="勾配と同じ向き"),
    Bug(name="Momentum stores the grads array itself as velocity", cell="momentum_class",
        old="self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]",
        new=("if not self.v[key].any():\n"
             "                self.v[key] = grads[key]\n"
             "                self.v[key] *= -self.lr\n"
             "            else:\n"
             "                self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]"),
        caught_by="test_momentum", message_contains="grads の配列を書き換えて"),
    # AdaGrad
    Bug(name="AdaGrad without eps divides 0 by 0", cell="adagrad_class",
        old="(np.sqrt(self.h[key]) + self.eps)", new="np.sqrt(self.h[key])",
        caught_by="test_adagrad", message_contains="0 ÷ 0"),
    Bug(name="AdaGrad puts eps inside the square root", cell="adagrad_class",
        old="np.sqrt(self.h[key]) + self.eps", new="np.sqrt(self.h[key] + self.eps)",
        caught_by="test_adagrad", message_contains="平方根の外"),
    Bug(name="AdaGrad overwrites h instead of accumulating", cell="adagrad_class",
        old="self.h[key] += grads[key] * grads[key]", new="self.h[key] = grads[key] * grads[key]",
        caught_by="test_adagrad", message_contains="累積和"),
    Bug(name="AdaGrad forgets the square root", cell="adagrad_class",
        old="(np.sqrt(self.h[key]) + self.eps)", new="(self.h[key] + self.eps)",
        caught_by="test_adagrad", message_contains="平方根を忘れて"),
    Bug(name="AdaGrad updates W before accumulating h", cell="adagrad_class",
        old=("self.h[key] += grads[key] * grads[key]\n"
             "            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)"),
        new=("params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)\n"
             "            self.h[key] += grads[key] * grads[key]"),
        caught_by="test_adagrad", message_contains="先に h ← h + grad * grad"),
    # RMSprop
    Bug(name="RMSprop swaps the weights of old h and new grad^2", cell="rmsprop_class",
        old="self.decay_rate * self.h[key] + (1 - self.decay_rate) * grads[key]",
        new="(1 - self.decay_rate) * self.h[key] + self.decay_rate * grads[key]",
        caught_by="test_rmsprop", message_contains="古い h の重み"),
    Bug(name="RMSprop forgets (1 - decay_rate)", cell="rmsprop_class",
        old="(1 - self.decay_rate) * grads[key] * grads[key]", new="grads[key] * grads[key]",
        caught_by="test_rmsprop", message_contains="h = 0.1 · grad²"),
    Bug(name="RMSprop puts eps inside the square root", cell="rmsprop_class",
        old="np.sqrt(self.h[key]) + self.eps", new="np.sqrt(self.h[key] + self.eps)",
        caught_by="test_rmsprop", message_contains="平方根の外"),
    Bug(name="RMSprop never decays h (AdaGrad-like sum)", cell="rmsprop_class",
        old="self.decay_rate * self.h[key] + (1 - self.decay_rate)",
        new="self.h[key] + (1 - self.decay_rate)",
        caught_by="test_rmsprop", message_contains="decay_rate を掛けて"),
    # Adam
    Bug(name="Adam without bias correction", cell="adam_class",
        old=("m_hat = self.m[key] / (1 - self.beta1**self.t)\n"
             "            v_hat = self.v[key] / (1 - self.beta2**self.t)"),
        new="m_hat = self.m[key]\n            v_hat = self.v[key]",
        caught_by="test_adam_first_step", message_contains="バイアス補正",
        cascades=("test_adam",)),
    Bug(name="Adam bias correction without the power t", cell="adam_class",
        old=("m_hat = self.m[key] / (1 - self.beta1**self.t)\n"
             "            v_hat = self.v[key] / (1 - self.beta2**self.t)"),
        new=("m_hat = self.m[key] / (1 - self.beta1)\n"
             "            v_hat = self.v[key] / (1 - self.beta2)"),
        caught_by="test_adam", message_contains="** self.t を忘れる"),
    Bug(name="Adam increments t once per parameter", cell="adam_class",
        old="self.t += 1\n        for key in params:",
        new="for key in params:\n            self.t += 1",
        caught_by="test_adam_first_step", message_contains="キーごとのループの中",
        cascades=("test_adam",)),
    Bug(name="Adam puts eps inside the square root", cell="adam_class",
        old="np.sqrt(v_hat) + self.eps", new="np.sqrt(v_hat + self.eps)",
        caught_by="test_adam_first_step", message_contains="平方根の外",
        cascades=("test_adam",)),
    Bug(name="Adam bias-corrects m with beta2", cell="adam_class",
        old="m_hat = self.m[key] / (1 - self.beta1**self.t)",
        new="m_hat = self.m[key] / (1 - self.beta2**self.t)",
        caught_by="test_adam_first_step", message_contains="m_hat = m / (1 − beta1**t)",
        cascades=("test_adam",)),
    Bug(name="Adam keeps t at 1", cell="adam_class",
        old="self.t += 1", new="self.t = 1",
        caught_by="test_adam", message_contains="self.t += 1"),
    Bug(name="Adam recreates m and v at every update", cell="adam_class",
        old="if key not in self.m:\n", new="if True:\n",
        caught_by="test_adam", message_contains="毎回 0 から作り直さない"),
    # Adadelta
    Bug(name="Adadelta inverts the ratio", cell="adadelta_class",
        old="np.sqrt(self.s[key] + self.eps) / np.sqrt(self.h[key] + self.eps)",
        new="np.sqrt(self.h[key] + self.eps) / np.sqrt(self.s[key] + self.eps)",
        caught_by="test_adadelta", message_contains="分子は過去の更新量"),
    Bug(name="Adadelta adds eps outside the square root", cell="adadelta_class",
        old="np.sqrt(self.s[key] + self.eps) /", new="(np.sqrt(self.s[key]) + self.eps) /",
        caught_by="test_adadelta", message_contains="平方根の中"),
    Bug(name="Adadelta accumulates g^2 into s", cell="adadelta_class",
        old="(1 - self.rho) * dx * dx", new="(1 - self.rho) * g * g",
        caught_by="test_adadelta", message_contains="g² ではありません"),
    # optimize_path
    Bug(name="path leaves out the start", cell="optimize_path",
        old='path = [(float(params["x"]), float(params["y"]))]', new="path = []",
        caught_by="test_optimize_path", message_contains="steps + 1 行"),
    Bug(name="path records the arrays, not their values", cell="optimize_path",
        old='path.append((float(params["x"]), float(params["y"])))',
        new='path.append((params["x"], params["y"]))',
        caught_by="test_optimize_path", message_contains="値を取り出して"),
    Bug(name="gradient computed once before the loop", cell="optimize_path",
        old='for _ in range(steps):\n        dx, dy = grad_fn(params["x"], params["y"])',
        new='dx, dy = grad_fn(params["x"], params["y"])\n    for _ in range(steps):',
        caught_by="test_optimize_path", message_contains="計算し直して"),
]

PARTIAL_BUGS = ["Momentum recreates the velocity at every update", "Adam without bias correction"]
PARTIAL_EXPECTED = {
    "test_sgd": 1,
    "test_momentum": 0,
    "test_adagrad": 1,
    "test_rmsprop": 1,
    "test_adam_first_step": 0,
    "test_adam": 0,
    "test_adadelta": 1,
    "test_optimize_path": 2,
}
