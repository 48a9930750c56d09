"""Grading spec of day1/1_2_gradient_checking: the learner's central-difference numerical gradient,
relative error, the h trade-off, checking a two-layer net and why an all-ones upstream gradient or
a batch of one hides bugs.

Fixtures hold the inputs of the visible tests and the reference numerical gradient of one test
function, computed with ``course.gradcheck.numerical_gradient``.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.gradcheck import numerical_gradient

NOTEBOOK = "day1/1_2_gradient_checking"


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(12)
    fx: dict[str, np.ndarray] = {
        "lin_x": rng.normal(size=4),
        "lin_c": rng.uniform(0.5, 3.0, size=4) * rng.choice([-1.0, 1.0], size=4),
        "cubic_x": rng.uniform(0.5, 2.0, size=(2, 3)),
    }
    x, a = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    fx.update(tanh_x=x, tanh_A=a,
              tanh_grad=numerical_gradient(lambda: float(np.sum(np.tanh(x @ a))), x))
    fx["h_x"] = rng.uniform(-2.0, 2.0, size=6)
    fx["net_x"] = rng.normal(size=(6, 5))
    fx["net_t"] = rng.integers(0, 3, size=6)
    fx["bn_x"] = rng.normal(size=(6, 3)) * np.array([1.0, 2.0, 0.5]) + np.array([0.0, 1.0, -1.0])
    fx["bn_dout"] = rng.normal(size=(6, 3))
    fx["affine_x"] = rng.normal(size=(5, 4))
    fx["affine_W"] = rng.normal(size=(4, 3))
    fx["affine_b"] = rng.normal(size=3)
    fx["affine_dout"] = rng.normal(size=(5, 3))
    return fx


_NG, _RE, _H, _NET, _HID = ("numerical_gradient_fn", "rel_error_fn", "h_answers", "net_check",
                            "hidden_bugs")
TYPICAL_BUGS = [
    # numerical_gradient
    Bug(name="x not restored after the perturbation", cell=_NG,
        old="        x[idx] = original\n", new="",
        caught_by="test_numerical_gradient", message_contains="元に戻",
        cascades=("test_h_tradeoff", "test_hidden_bugs")),
    Bug(name="perturbs a copy of x that f never reads", cell=_NG,
        old="grad = np.zeros_like(x)", new="x = x.copy()\n    grad = np.zeros_like(x)",
        caught_by="test_numerical_gradient", message_contains="コピーではなく",
        cascades=("test_h_tradeoff", "test_net_check", "test_hidden_bugs")),
    Bug(name="divides by h instead of 2h", cell=_NG,
        old="(f_plus - f_minus) / (2 * h)", new="(f_plus - f_minus) / h",
        caught_by="test_numerical_gradient", message_contains="2h で割",
        cascades=("test_h_tradeoff", "test_net_check", "test_hidden_bugs")),
    Bug(name="x - h computed from x + h (x[idx] -= h)", cell=_NG,
        old="x[idx] = original - h", new="x[idx] -= h",
        caught_by="test_numerical_gradient", message_contains="original - h",
        cascades=("test_h_tradeoff", "test_net_check", "test_hidden_bugs")),
    Bug(name="forward difference", cell=_NG,
        old=("x[idx] = original - h\n        f_minus = float(f())\n        x[idx] = original\n"
             "        grad[idx] = (f_plus - f_minus) / (2 * h)"),
        new=("x[idx] = original\n        f_zero = float(f())\n"
             "        grad[idx] = (f_plus - f_zero) / h"),
        caught_by="test_numerical_gradient", message_contains="中心差分",
        cascades=("test_h_tradeoff", "test_hidden_bugs")),
    Bug(name="h hard-coded inside instead of the argument", cell=_NG,
        old="    grad = np.zeros_like(x)\n", new="    h = 1e-4\n    grad = np.zeros_like(x)\n",
        caught_by="test_numerical_gradient", message_contains="引数の h",
        cascades=("test_h_tradeoff",)),
    # rel_error
    Bug(name="no 1e-8 floor in the denominator", cell=_RE,
        old="max(1e-8, np.max(np.abs(a) + np.abs(b)))", new="np.max(np.abs(a) + np.abs(b))",
        caught_by="test_rel_error", message_contains="1e-8"),
    Bug(name="difference without absolute value", cell=_RE,
        old="np.max(np.abs(a - b))", new="np.max(a - b)",
        caught_by="test_rel_error", message_contains="絶対値",
        cascades=("test_h_tradeoff",)),
    Bug(name="mean instead of max of the difference", cell=_RE,
        old="np.max(np.abs(a - b))", new="np.mean(np.abs(a - b))",
        caught_by="test_rel_error", message_contains="最大値"),
    Bug(name="absolute error, not relative", cell=_RE,
        old="np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a) + np.abs(b)))",
        new="np.max(np.abs(a - b))",
        caught_by="test_rel_error", message_contains="スケール"),
    # h trade-off answers
    Bug(name="argmax instead of argmin", cell=_H,
        old='best_h_float64 = hs[np.argmin(errors["float64"])]',
        new='best_h_float64 = hs[np.argmax(errors["float64"])]',
        caught_by="test_h_tradeoff", message_contains="最小"),
    Bug(name="float32 answer read from the float64 errors", cell=_H,
        old='best_h_float32 = hs[np.argmin(errors["float32"])]',
        new='best_h_float32 = hs[np.argmin(errors["float64"])]',
        caught_by="test_h_tradeoff", message_contains="float32"),
    Bug(name="slope fitted without logarithms", cell=_H,
        old='np.polyfit(np.log10(hs[large_h]), np.log10(errors["float64"][large_h]), 1)[0]',
        new='np.polyfit(hs[large_h], errors["float64"][large_h], 1)[0]',
        caught_by="test_h_tradeoff", message_contains="log10"),
    Bug(name="rounding slope fitted on the large-h side", cell=_H,
        old='np.polyfit(np.log10(hs[small_h]), np.log10(errors["float64"][small_h]), 1)[0]',
        new='np.polyfit(np.log10(hs[large_h]), np.log10(errors["float64"][large_h]), 1)[0]',
        caught_by="test_h_tradeoff", message_contains="丸め誤差"),
    # two-layer net
    Bug(name="numerical gradient of a copy of the parameter", cell=_NET,
        old="numerical_gradient(lambda: net.loss(x, t), param)",
        new="numerical_gradient(lambda: net.loss(x, t), param.copy())",
        caught_by="test_net_check", message_contains="コピーではなく"),
    Bug(name="numerical gradient of the scores, not of the loss", cell=_NET,
        old="numerical_gradient(lambda: net.loss(x, t), param)",
        new="numerical_gradient(lambda: float(np.sum(net.predict(x))), param)",
        caught_by="test_net_check", message_contains="net.loss(x, t)"),
    Bug(name="threshold comparison reversed", cell=_NET,
        old='err > THRESHOLDS["net"]', new='err < THRESHOLDS["net"]',
        caught_by="test_net_check", message_contains="err > 閾値"),
    # hidden bugs: all-ones dout, batch of one
    Bug(name="check loss ignores dout", cell=_HID,
        old="np.sum(layer.forward(x) * dout)", new="np.sum(layer.forward(x))",
        caught_by="test_hidden_bugs", message_contains="sum(out * dout)"),
    Bug(name="backward uses the caches of a perturbed x", cell=_HID,
        old="    layer.forward(x)  # the caches of the unperturbed x\n", new="",
        caught_by="test_hidden_bugs", message_contains="もう一度 forward"),
    Bug(name="check perturbs a copy of x", cell=_HID,
        old="float(np.sum(layer.forward(x) * dout)), x)",
        new="float(np.sum(layer.forward(x) * dout)), x.copy())",
        caught_by="test_hidden_bugs", message_contains="コピーではなく"),
    Bug(name="detection read as 'the buggy layer passes'", cell=_HID,
        old='err_buggy[name] >= THRESHOLDS["dx"]', new='err_buggy[name] < THRESHOLDS["dx"]',
        caught_by="test_hidden_bugs", message_contains="見分けられる"),
]

PARTIAL_BUGS = ["mean instead of max of the difference", "threshold comparison reversed"]
PARTIAL_EXPECTED = {
    "test_numerical_gradient": 2,
    "test_rel_error": 0,
    "test_h_tradeoff": 2,
    "test_net_check": 0,
    "test_hidden_bugs": 2,
}
