"""Grading spec of day6/6_1_recurrent_networks: one RNN step, the RNN over time with BPTT, the
gradient reaching the first input, gradient clipping, MNIST read row by row.

The learner writes ``rnn_step_forward`` / ``rnn_step_backward``, the ``RNN`` layer (forward over
(N, T, D), backward through time), ``first_input_gradient_norm`` and ``clip_grad_norm``; the
notebook uses them for the vanishing/exploding experiment and to train
``course.rnn.SequenceClassifier`` on MNIST rows. Fixtures hold the visible tests' inputs and the
reference results (``course.rnn``), what typical bugs would give (so the tests can name them),
and the numbers of the notebook's quick experiments. VANISHING and QUICK_MNIST must match the
notebook's experiment cells.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug

NOTEBOOK = "day6/6_1_recurrent_networks"

VANISHING = {"gains": (0.5, 1.0, 3.0), "lengths": (1, 2, 5, 10, 20, 30, 40, 50),
             "N": 16, "D": 8, "H": 32, "seed": 0}
QUICK_MNIST = {"hidden": 64, "n_train": 1000, "epochs": 3, "lr": 0.01, "batch_size": 100,
               "max_norm": 5.0, "seed": 0}


def vanishing_norms(cfg: dict = VANISHING) -> dict[float, list[float]]:
    """The notebook's experiment with the reference RNN: {gain: [||dL/dx_0|| per length]}."""
    from course.rnn import RNN

    rng = np.random.default_rng(cfg["seed"])
    xs = rng.standard_normal((cfg["N"], max(cfg["lengths"]), cfg["D"]))
    dout = rng.standard_normal((cfg["N"], cfg["H"]))
    norms = {}
    for gain in cfg["gains"]:
        layer_rng = np.random.default_rng([cfg["seed"], int(gain * 100)])
        Wx = layer_rng.normal(0.0, 1.0 / np.sqrt(cfg["D"]), (cfg["D"], cfg["H"]))
        Wh = layer_rng.normal(0.0, gain / np.sqrt(cfg["H"]), (cfg["H"], cfg["H"]))
        layer = RNN(Wx, Wh, np.zeros(cfg["H"]))
        values = []
        for T in cfg["lengths"]:
            hs = layer.forward(xs[:, :T])
            dhs = np.zeros_like(hs)
            dhs[:, -1] = dout
            values.append(float(np.linalg.norm(layer.backward(dhs)[:, 0])))
        norms[gain] = values
    return norms


def quick_mnist(cfg: dict = QUICK_MNIST) -> dict[str, float]:
    """Test accuracy and loss of the notebook's quick MNIST run, with the reference library."""
    from course.data import load_mnist
    from course.optim import Adam
    from course.rnn import GradientClipping, SequenceClassifier, mnist_rows
    from course.train import Trainer

    (x_train, t_train), (x_test, t_test) = load_mnist(dtype=np.float32)
    n = cfg["n_train"]
    net = SequenceClassifier(28, cfg["hidden"], 10, kind="rnn", seed=cfg["seed"],
                             dtype=np.float32)
    history = Trainer(net, GradientClipping(Adam(lr=cfg["lr"]), cfg["max_norm"]),
                      mnist_rows(x_train[:n]), t_train[:n], mnist_rows(x_test), t_test,
                      epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=cfg["seed"],
                      progress=False, eval_sample=500).train()
    return {"test_acc": history["val_acc"][-1], "test_loss": history["val_loss"][-1]}


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference results of the visible tests; the quick experiments' numbers."""
    from course.rnn import RNN, clip_grad_norm, rnn_step_backward, rnn_step_forward

    rng = np.random.default_rng(61)
    N, T, D, H = 4, 6, 3, 5
    fx: dict[str, np.ndarray] = {
        "x": rng.normal(size=(N, D)), "h_prev": rng.normal(size=(N, H)) * 0.8,
        "Wx": rng.normal(size=(D, H)), "Wh": rng.normal(size=(H, H)) * 0.5,
        "b": rng.normal(size=H) * 0.5, "dh": rng.normal(size=(N, H)),
    }
    fx["h"], _ = rnn_step_forward(fx["x"], fx["h_prev"], fx["Wx"], fx["Wh"], fx["b"])

    fx["xs"], fx["dhs"] = rng.normal(size=(N, T, D)), rng.normal(size=(N, T, H))
    layer = RNN(fx["Wx"], fx["Wh"], fx["b"])
    fx["hs"] = layer.forward(fx["xs"])
    layer.backward(fx["dhs"])
    fx["dh0"] = layer.dh0
    # BPTT that forgets dh_next: each step sees only its own upstream gradient
    fx["dxs_no_carry"] = np.stack(
        [rnn_step_backward(fx["dhs"][:, t], layer.caches[t])[0] for t in range(T)], axis=1)

    fx["dout_last"] = rng.normal(size=(N, H))
    dhs = np.zeros((N, T, H))
    dhs[:, -1] = fx["dout_last"]
    dxs = layer.backward(dhs)
    fx["vg_norm"] = np.array(np.linalg.norm(dxs[:, 0]))
    fx["vg_sum"] = np.array(np.sum(dxs[:, 0]))
    fx["vg_norm_last_input"] = np.array(np.linalg.norm(dxs[:, -1]))
    all_steps = np.broadcast_to(fx["dout_last"][:, None], (N, T, H)).copy()
    fx["vg_norm_all_steps"] = np.array(np.linalg.norm(layer.backward(all_steps)[:, 0]))
    for gain, values in vanishing_norms().items():
        fx[f"vg_gain_{int(gain * 10)}"] = np.array(values)

    grads = {"Wx": rng.normal(size=(D, H)), "Wh": rng.normal(size=(H, H)) * 3.0,
             "b": rng.normal(size=H) * 0.1}
    for key, value in grads.items():
        fx[f"clip_{key}"] = value
    fx["clip_norm"] = np.array(clip_grad_norm(grads, np.inf)[1])

    # Rounded: float32 training differs in its last bits between BLAS builds; the notebook's
    # tolerances (accuracy atol 0.03, loss rtol 3 %) are far wider.
    for key, value in quick_mnist().items():
        fx[f"quick_{key}"] = np.array(round(value, 4))
    return fx


_STEP = "rnn_step"
_LAYER = "rnn_layer"
_FIRST = "first_gradient"
_CLIP = "clip_grad"
# A wrong rnn_step_forward breaks every later test that runs the RNN.
_EVERY_LATER_RNN_TEST = (
    "test_step_backward", "test_rnn_forward", "test_bptt", "test_vanishing", "test_mnist")
TYPICAL_BUGS = [
    # rnn_step_forward / rnn_step_backward
    Bug(name="step without tanh", cell=_STEP,
        old="h = np.tanh(x @ Wx + h_prev @ Wh + b)", new="h = x @ Wx + h_prev @ Wh + b",
        caught_by="test_step_forward", message_contains="tanh",
        cascades=_EVERY_LATER_RNN_TEST),
    Bug(name="step with a sigmoid", cell=_STEP,
        old="h = np.tanh(x @ Wx + h_prev @ Wh + b)",
        new="h = 1 / (1 + np.exp(-(x @ Wx + h_prev @ Wh + b)))",
        caught_by="test_step_forward", message_contains="シグモイド",
        cascades=_EVERY_LATER_RNN_TEST),
    Bug(name="Wx and Wh swapped", cell=_STEP,
        old="h = np.tanh(x @ Wx + h_prev @ Wh + b)",
        new="h = np.tanh(x @ Wh[:x.shape[1]] + h_prev @ Wh + b)",
        caught_by="test_step_forward", message_contains="Wx",
        cascades=_EVERY_LATER_RNN_TEST),
    Bug(name="tanh derivative 1 - h", cell=_STEP,
        old="da = dh * (1 - h ** 2)", new="da = dh * (1 - h)",
        caught_by="test_step_backward", message_contains="1 - h^2",
        cascades=("test_bptt", "test_vanishing", "test_mnist")),
    Bug(name="dWh from the new h", cell=_STEP,
        old="dWh = h_prev.T @ da", new="dWh = h.T @ da",
        caught_by="test_step_backward", message_contains="h_prev",
        cascades=("test_bptt", "test_mnist")),
    Bug(name="db averaged over the batch", cell=_STEP,
        old="db = np.sum(da, axis=0)", new="db = np.mean(da, axis=0)",
        caught_by="test_step_backward", message_contains="和",
        cascades=("test_bptt",)),
    # RNN over time
    Bug(name="BPTT forgets the gradient from the next time step", cell=_LAYER,
        old="dh = dhs[:, t, :] + dh_next", new="dh = dhs[:, t, :]",
        caught_by="test_bptt", message_contains="dh_next",
        cascades=("test_vanishing", "test_mnist")),
    Bug(name="weight gradients of the last step only", cell=_LAYER,
        old='grads["Wh"] += dWh', new='grads["Wh"] = dWh',
        caught_by="test_bptt", message_contains="全時刻の勾配の和",
        cascades=("test_mnist",)),
    Bug(name="dh0 not stored", cell=_LAYER,
        old="self.dh0 = dh_next", new="self.dh0 = dhs[:, 0, :]",
        caught_by="test_bptt", message_contains="dh0"),
    Bug(name="hidden state not carried forward", cell=_LAYER,
        old="h, cache = rnn_step_forward(xs[:, t, :], h, ",
        new="h, cache = rnn_step_forward(xs[:, t, :], np.zeros_like(h), ",
        caught_by="test_rnn_forward", message_contains="前の時刻の隠れ状態",
        cascades=("test_bptt", "test_vanishing", "test_mnist")),
    Bug(name="caches not reset in forward", cell=_LAYER,
        old="        self.caches = []\n        for t in range(T):",
        new="        for t in range(T):",
        caught_by="test_rnn_forward", message_contains="self.caches",
        cascades=("test_bptt", "test_mnist")),
    # first_input_gradient_norm
    Bug(name="dout at every time step", cell=_FIRST,
        old="dhs[:, -1, :] = dout", new="dhs[:, :, :] = dout[:, None, :]",
        caught_by="test_vanishing", message_contains="最後の時刻だけ"),
    Bug(name="gradient of the last input", cell=_FIRST,
        old="np.linalg.norm(dxs[:, 0, :])", new="np.linalg.norm(dxs[:, -1, :])",
        caught_by="test_vanishing", message_contains="x_0"),
    Bug(name="sum instead of norm", cell=_FIRST,
        old="np.linalg.norm(dxs[:, 0, :])", new="np.sum(dxs[:, 0, :])",
        caught_by="test_vanishing", message_contains="ノルム"),
    # clip_grad_norm
    Bug(name="always rescaled to max_norm", cell=_CLIP,
        old="scale = max_norm / norm if norm > max_norm else 1.0", new="scale = max_norm / norm",
        caught_by="test_clipping", message_contains="そのまま",
        cascades=("test_mnist",)),
    Bug(name="per-array norms", cell=_CLIP,
        old="clipped = {key: g * scale for key, g in grads.items()}",
        new="clipped = {key: g * min(1.0, max_norm / np.linalg.norm(g))"
            " for key, g in grads.items()}",
        caught_by="test_clipping", message_contains="配列ごと"),
    Bug(name="grads clipped in place", cell=_CLIP,
        old="clipped = {key: g * scale for key, g in grads.items()}",
        new="clipped = grads\n    for g in grads.values():\n        g *= scale",
        caught_by="test_clipping", message_contains="書き換え"),
    Bug(name="norm without the square root", cell=_CLIP,
        old="norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))",
        new="norm = float(sum(np.sum(g ** 2) for g in grads.values()))",
        caught_by="test_clipping", message_contains="平方根",
        cascades=("test_mnist",)),
]

PARTIAL_BUGS = [
    "BPTT forgets the gradient from the next time step",
    "always rescaled to max_norm",
]
PARTIAL_EXPECTED = {
    "test_step_forward": 1,
    "test_step_backward": 2,
    "test_rnn_forward": 1,
    "test_bptt": 0,
    "test_vanishing": 0,
    "test_clipping": 0,
    "test_mnist": 0,
}
