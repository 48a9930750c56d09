"""Grading spec of day6/6_2_lstm_gru: LSTM and GRU steps (forward and backward), parameter counts,
and the long-lag memory task where the simple RNN fails and LSTM and GRU learn.

The learner writes ``lstm_step_forward`` / ``lstm_step_backward``, ``gru_step_forward`` /
``gru_step_backward`` and ``count_params``; the notebook runs its LSTM and GRU steps inside
``course.rnn.LSTM`` / ``GRU`` (the ``step=`` argument) on ``course.rnn.memory_task``. Fixtures
hold the visible tests' inputs, the reference results (``course.rnn``), what typical bugs would
give (so the tests can name them) and the validation accuracies of the quick experiment.
MEMORY_TASK must match the notebook's experiment cell.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug

NOTEBOOK = "day6/6_2_lstm_gru"

MEMORY_TASK = {"n_symbols": 2, "noise_std": 1.0, "n_train": 512, "n_val": 200, "hidden": 16,
               "batch_size": 32, "lr": 0.01, "max_norm": 5.0, "seed": 1, "length": 30, "epochs": 6}


def memory_accuracies(cfg: dict = MEMORY_TASK) -> dict[str, float]:
    """Final validation accuracy of RNN, LSTM and GRU on the memory task (reference library)."""
    from course.optim import Adam
    from course.rnn import GradientClipping, SequenceClassifier, memory_task
    from course.train import Trainer

    K = cfg["n_symbols"]
    x_train, t_train = memory_task(cfg["n_train"], cfg["length"], K, cfg["noise_std"], seed=0)
    x_val, t_val = memory_task(cfg["n_val"], cfg["length"], K, cfg["noise_std"], seed=1)
    results = {}
    for name in ("RNN", "LSTM", "GRU"):
        net = SequenceClassifier(K + 1, cfg["hidden"], K, kind=name.lower(), seed=cfg["seed"])
        history = Trainer(net, GradientClipping(Adam(lr=cfg["lr"]), cfg["max_norm"]), x_train,
                          t_train, x_val, t_val, epochs=cfg["epochs"],
                          batch_size=cfg["batch_size"], seed=0, progress=False,
                          eval_sample=100).train()
        results[name] = history["val_acc"][-1]
    return results


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference results of the visible tests; the quick experiment's accuracies."""
    from course.rnn import gru_step_forward, lstm_step_forward, sigmoid

    rng = np.random.default_rng(62)
    N, D, H = 4, 3, 5
    fx: dict[str, np.ndarray] = {
        "x": rng.normal(size=(N, D)), "h_prev": rng.normal(size=(N, H)) * 0.8,
        "c_prev": rng.normal(size=(N, H)), "dh": rng.normal(size=(N, H)),
        "dc": rng.normal(size=(N, H)),
        "lstm_Wx": rng.normal(size=(D, 4 * H)), "lstm_Wh": rng.normal(size=(H, 4 * H)) * 0.5,
        "lstm_b": rng.normal(size=4 * H) * 0.5,
        "gru_Wx": rng.normal(size=(D, 3 * H)), "gru_Wh": rng.normal(size=(H, 3 * H)) * 0.5,
        "gru_b": rng.normal(size=3 * H) * 0.5,
    }
    x, h_prev, c_prev = fx["x"], fx["h_prev"], fx["c_prev"]
    fx["lstm_h"], fx["lstm_c"], _ = lstm_step_forward(x, h_prev, c_prev, fx["lstm_Wx"],
                                                      fx["lstm_Wh"], fx["lstm_b"])
    a = x @ fx["lstm_Wx"] + h_prev @ fx["lstm_Wh"] + fx["lstm_b"]
    f, g, i = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    fx["lstm_c_forget_on_candidate"] = i * c_prev + f * g
    fx["lstm_h_no_tanh"] = o * fx["lstm_c"]

    Wx, Wh, b = fx["gru_Wx"], fx["gru_Wh"], fx["gru_b"]
    fx["gru_h"], _ = gru_step_forward(x, h_prev, Wx, Wh, b)
    z = sigmoid(x @ Wx[:, :H] + h_prev @ Wh[:, :H] + b[:H])
    r = sigmoid(x @ Wx[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + b[H:2 * H])
    h_hat = np.tanh(x @ Wx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + b[2 * H:])
    fx["gru_h_torch_update"] = z * h_prev + (1 - z) * h_hat
    h_hat_after = np.tanh(x @ Wx[:, 2 * H:] + r * (h_prev @ Wh[:, 2 * H:]) + b[2 * H:])
    fx["gru_h_reset_after"] = (1 - z) * h_prev + z * h_hat_after

    # Validation accuracies are multiples of 1/200; float64 training is repeatable to far
    # better than the notebook's atol 0.05.
    for name, value in memory_accuracies().items():
        fx[f"memory_{name}"] = np.array(round(value, 4))
    return fx


_LSTM = "lstm_step"
_GRU = "gru_step"
_COUNT = "param_count"
TYPICAL_BUGS = [
    # LSTM forward
    Bug(name="LSTM forget gate applied to the new candidate", cell=_LSTM,
        old="    c = f * c_prev + g * i\n", new="    c = i * c_prev + f * g\n",
        caught_by="test_lstm_forward", message_contains="忘却ゲート f を新しい候補 g に",
        cascades=("test_lstm_backward",)),
    Bug(name="LSTM h without tanh of the cell", cell=_LSTM,
        old="tanh_c = np.tanh(c)\n    h = o * tanh_c", new="tanh_c = np.tanh(c)\n    h = o * c",
        caught_by="test_lstm_forward", message_contains="o * np.tanh(c)",
        cascades=("test_lstm_backward",)),
    Bug(name="LSTM candidate through a sigmoid", cell=_LSTM,
        old="g = np.tanh(a[:, H:2 * H])", new="g = sigmoid(a[:, H:2 * H])",
        caught_by="test_lstm_forward", message_contains="g は tanh",
        cascades=("test_lstm_backward", "test_memory_task")),
    Bug(name="LSTM gates in PyTorch's order i, f, g, o", cell=_LSTM,
        old="f = sigmoid(a[:, :H])\n    g = np.tanh(a[:, H:2 * H])\n"
            "    i = sigmoid(a[:, 2 * H:3 * H])",
        new="i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])\n"
            "    g = np.tanh(a[:, 2 * H:3 * H])",
        caught_by="test_lstm_forward", message_contains="f, g, i, o の順",
        cascades=("test_lstm_backward", "test_memory_task")),
    # LSTM backward
    Bug(name="LSTM backward forgets the cell gradient from the next step", cell=_LSTM,
        old="dc_total = dc + dh * o * (1 - tanh_c ** 2)",
        new="dc_total = dh * o * (1 - tanh_c ** 2)",
        caught_by="test_lstm_backward", message_contains="次の時刻からの dc",
        cascades=("test_memory_task",)),
    Bug(name="LSTM dc_prev without the forget gate", cell=_LSTM,
        old="dc_prev = dc_total * f", new="dc_prev = dc_total",
        caught_by="test_lstm_backward", message_contains="忘却ゲート f を掛けて"),
    Bug(name="LSTM sigmoid derivative left out of the forget gate", cell=_LSTM,
        old="df * f * (1 - f)", new="df",
        caught_by="test_lstm_backward", message_contains="s(1-s)"),
    Bug(name="LSTM output gate gradient without tanh(c)", cell=_LSTM,
        old="do = dh * tanh_c", new="do = dh",
        caught_by="test_lstm_backward", message_contains="do = dh * tanh(c)",
        cascades=("test_memory_task",)),
    # GRU forward
    Bug(name="GRU update in PyTorch's convention", cell=_GRU,
        old="    h = (1 - z) * h_prev + z * h_hat\n", new="    h = z * h_prev + (1 - z) * h_hat\n",
        caught_by="test_gru_forward", message_contains="PyTorch",
        cascades=("test_gru_backward", "test_memory_task")),
    Bug(name="GRU reset gate applied after Whh", cell=_GRU,
        old="h_hat = np.tanh(x @ Wxh + (r * h_prev) @ Whh + bh)",
        new="h_hat = np.tanh(x @ Wxh + r * (h_prev @ Whh) + bh)",
        caught_by="test_gru_forward", message_contains="(r * h_prev) @ Whh",
        cascades=("test_gru_backward",)),
    Bug(name="GRU without the reset gate", cell=_GRU,
        old="h_hat = np.tanh(x @ Wxh + (r * h_prev) @ Whh + bh)",
        new="h_hat = np.tanh(x @ Wxh + h_prev @ Whh + bh)",
        caught_by="test_gru_forward", message_contains="z, r, h の順",
        cascades=("test_gru_backward",)),
    # GRU backward
    Bug(name="GRU backward without the direct path to h_prev", cell=_GRU,
        old="dh_prev = dh * (1 - z)", new="dh_prev = np.zeros_like(dh)",
        caught_by="test_gru_backward", message_contains="dh * (1 - z)",
        cascades=("test_memory_task",)),
    Bug(name="GRU dz with the wrong sign", cell=_GRU,
        old="dz = dh * (h_hat - h_prev)", new="dz = dh * (h_prev - h_hat)",
        caught_by="test_gru_backward", message_contains="符号"),
    Bug(name="GRU dWhh from h_prev instead of r * h_prev", cell=_GRU,
        old="(r * h_prev).T @ da_h", new="h_prev.T @ da_h",
        caught_by="test_gru_backward", message_contains="r * h_prev"),
    # count_params
    Bug(name="parameter count without the biases", cell=_COUNT,
        old="gates * (D * H + H * H + H)", new="gates * (D * H + H * H)",
        caught_by="test_param_count", message_contains="バイアス"),
    Bug(name="GRU counted with four gates", cell=_COUNT,
        old='"gru": 3}', new='"gru": 4}',
        caught_by="test_param_count", message_contains="GRU"),
    Bug(name="recurrent weights counted as D x H", cell=_COUNT,
        old="gates * (D * H + H * H + H)", new="gates * (2 * D * H + H)",
        caught_by="test_param_count", message_contains="Wh の H*H"),
]

PARTIAL_BUGS = [
    "LSTM backward forgets the cell gradient from the next step",
    "parameter count without the biases",
]
PARTIAL_EXPECTED = {
    "test_lstm_forward": 2,
    "test_lstm_backward": 0,
    "test_gru_forward": 1,
    "test_gru_backward": 2,
    "test_param_count": 0,
    "test_memory_task": 0,
}
