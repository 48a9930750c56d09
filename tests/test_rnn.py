"""course.rnn: step functions and layers over time against float64 numerical gradients with a
random upstream gradient; clipping; parameter counts; the classifier and the memory task."""

import numpy as np
import pytest

from course.gradcheck import THRESHOLDS, check_layer, numerical_gradient, rel_error
from course.optim import SGD, Adam
from course.rnn import (
    GRU,
    LAYERS,
    LSTM,
    RNN,
    GradientClipping,
    SequenceClassifier,
    clip_grad_norm,
    count_params,
    gru_step_backward,
    gru_step_forward,
    init_recurrent,
    lstm_step_backward,
    lstm_step_forward,
    memory_task,
    mnist_rows,
    rnn_step_backward,
    rnn_step_forward,
    sigmoid,
)
from course.train import Trainer


def weights(kind, D=3, H=4, seed=0):
    """Random weights with non-zero biases (every gate away from its symmetric point)."""
    rng = np.random.default_rng(seed)
    p = init_recurrent(kind, D, H, rng)
    p["b"] += rng.normal(0.0, 0.5, p["b"].shape)
    return p


def rand(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def test_sigmoid_is_the_logistic_function_without_overflow():
    x = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    with np.errstate(over="raise"):
        got = sigmoid(x)
    np.testing.assert_allclose(got, [0.0, 1 / (1 + np.exp(3.0)), 0.5, 1 / (1 + np.exp(-2.5)), 1.0],
                               rtol=1e-12, atol=1e-300)


def test_rnn_step_forward_is_tanh_of_the_affine_sum():
    p = weights("rnn")
    x, h = rand(5, 3), rand(5, 4, seed=2)
    out, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
    np.testing.assert_allclose(out, np.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"]))


def _step_gradients(forward, backward, inputs, names, n_out):
    """Numerical vs analytic gradients of sum(out_k * dout_k) for one step function."""
    douts = [rand(*forward(*inputs)[k].shape, seed=10 + k) for k in range(n_out)]

    def loss():
        outs = forward(*inputs)
        return float(sum(np.sum(outs[k] * douts[k]) for k in range(n_out)))

    cache = forward(*inputs)[n_out]
    analytic = backward(*douts, cache)
    errors = {}
    for name, value, grad in zip(names, inputs, analytic, strict=True):
        errors[name] = rel_error(grad, numerical_gradient(loss, value))
    return errors


def test_rnn_step_backward_matches_numerical_gradients():
    p = weights("rnn")
    errors = _step_gradients(rnn_step_forward, rnn_step_backward,
                             [rand(5, 3), rand(5, 4, seed=2), p["Wx"], p["Wh"], p["b"]],
                             ["x", "h_prev", "Wx", "Wh", "b"], 1)
    assert max(errors.values()) < THRESHOLDS["dx"], errors


def test_lstm_step_forward_follows_the_gate_equations():
    p = weights("lstm", H=4)
    x, h, c = rand(5, 3), rand(5, 4, seed=2), rand(5, 4, seed=3)
    h_new, c_new, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
    a = x @ p["Wx"] + h @ p["Wh"] + p["b"]
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    f, g, i, o = s(a[:, :4]), np.tanh(a[:, 4:8]), s(a[:, 8:12]), s(a[:, 12:])
    np.testing.assert_allclose(c_new, f * c + g * i)
    np.testing.assert_allclose(h_new, o * np.tanh(f * c + g * i))


def test_lstm_step_backward_matches_numerical_gradients():
    p = weights("lstm")
    errors = _step_gradients(
        lstm_step_forward, lstm_step_backward,
        [rand(5, 3), rand(5, 4, seed=2), rand(5, 4, seed=3), p["Wx"], p["Wh"], p["b"]],
        ["x", "h_prev", "c_prev", "Wx", "Wh", "b"], 2)
    assert max(errors.values()) < THRESHOLDS["dx"], errors


def test_gru_step_forward_follows_the_gate_equations():
    p = weights("gru", H=4)
    x, h = rand(5, 3), rand(5, 4, seed=2)
    h_new, _ = gru_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
    Wx, Wh, b = p["Wx"], p["Wh"], p["b"]
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    z = s(x @ Wx[:, :4] + h @ Wh[:, :4] + b[:4])
    r = s(x @ Wx[:, 4:8] + h @ Wh[:, 4:8] + b[4:8])
    h_hat = np.tanh(x @ Wx[:, 8:] + (r * h) @ Wh[:, 8:] + b[8:])
    np.testing.assert_allclose(h_new, (1 - z) * h + z * h_hat)


def test_gru_step_backward_matches_numerical_gradients():
    p = weights("gru")
    errors = _step_gradients(gru_step_forward, gru_step_backward,
                             [rand(5, 3), rand(5, 4, seed=2), p["Wx"], p["Wh"], p["b"]],
                             ["x", "h_prev", "Wx", "Wh", "b"], 1)
    assert max(errors.values()) < THRESHOLDS["dx"], errors


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_over_time_passes_the_gradient_check(kind):
    """BPTT with a random dout at every time step: dx, dWx, dWh, db."""
    p = weights(kind)
    layer = LAYERS[kind](p["Wx"], p["Wh"], p["b"])
    errors = check_layer(layer, rand(4, 6, 3, seed=5), seed=3)
    assert set(errors) == {"dx", "dWx", "dWh", "db"}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_over_time_is_the_step_function_unrolled(kind):
    p = weights(kind)
    x = rand(3, 5, 3)
    hs = LAYERS[kind](p["Wx"], p["Wh"], p["b"]).forward(x)
    h = c = np.zeros((3, 4))
    for t in range(5):
        if kind == "lstm":
            h, c, _ = lstm_step_forward(x[:, t], h, c, p["Wx"], p["Wh"], p["b"])
        else:
            step = rnn_step_forward if kind == "rnn" else gru_step_forward
            h, _ = step(x[:, t], h, p["Wx"], p["Wh"], p["b"])
        np.testing.assert_allclose(hs[:, t], h)


def test_bptt_carries_the_gradient_of_later_steps_back():
    """A loss on the last step only still gives the first input a non-zero gradient."""
    p = weights("rnn")
    layer = RNN(p["Wx"], p["Wh"], p["b"])
    hs = layer.forward(rand(2, 4, 3))
    dhs = np.zeros_like(hs)
    dhs[:, -1] = 1.0
    dxs = layer.backward(dhs)
    assert np.all(np.abs(dxs[:, 0]) > 0)
    assert layer.dh0.shape == (2, 4)


def test_layer_uses_given_step_functions():
    calls = []

    def forward(*args):
        calls.append("f")
        return rnn_step_forward(*args)

    p = weights("rnn")
    layer = RNN(p["Wx"], p["Wh"], p["b"], step=(forward, rnn_step_backward))
    layer.forward(rand(2, 3, 3))
    assert calls == ["f", "f", "f"]


def test_layers_keep_float32():
    p = {k: v.astype(np.float32) for k, v in weights("lstm").items()}
    layer = LSTM(p["Wx"], p["Wh"], p["b"])
    hs = layer.forward(rand(2, 3, 3).astype(np.float32))
    dxs = layer.backward(np.ones_like(hs))
    assert hs.dtype == dxs.dtype == layer.grads["Wx"].dtype == np.float32


def test_count_params_for_the_same_sizes():
    assert count_params("rnn", 10, 20) == 20 * (10 + 20 + 1)
    assert count_params("lstm", 10, 20) == 4 * count_params("rnn", 10, 20)
    assert count_params("gru", 10, 20) == 3 * count_params("rnn", 10, 20)
    for kind in LAYERS:
        p = init_recurrent(kind, 10, 20)
        assert sum(v.size for v in p.values()) == count_params(kind, 10, 20)
    with pytest.raises(ValueError):
        count_params("transformer", 1, 1)


def test_initial_biases_start_by_keeping_memory():
    assert np.all(init_recurrent("lstm", 2, 3)["b"][:3] == 1.0)
    assert np.all(init_recurrent("gru", 2, 3)["b"][:3] == -1.0)
    assert np.all(init_recurrent("rnn", 2, 3)["b"] == 0.0)


def test_clip_grad_norm_scales_to_max_norm_and_keeps_direction():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"], [[0.8]])
    assert grads["a"][0] == 3.0  # not modified in place
    same, _ = clip_grad_norm(grads, 10.0)
    np.testing.assert_array_equal(same["a"], grads["a"])


def test_gradient_clipping_wraps_an_optimizer():
    params = {"w": np.array([1.0, 1.0])}
    opt = GradientClipping(SGD(lr=1.0), max_norm=1.0)
    opt.update(params, {"w": np.array([0.0, 10.0])})
    np.testing.assert_allclose(params["w"], [1.0, 0.0])
    assert opt.norms == [pytest.approx(10.0)]
    opt.lr = 0.5
    assert opt.optimizer.lr == 0.5


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_sequence_classifier_gradient_matches_numerical(kind):
    net = SequenceClassifier(3, 4, 2, kind=kind, seed=1)
    for value in net.params.values():  # biases off their initial values
        value += np.random.default_rng(2).normal(0, 0.3, value.shape)
    x, t = rand(4, 5, 3), np.array([0, 1, 1, 0])
    grads = net.gradient(x, t)
    for name, param in net.params.items():
        numeric = numerical_gradient(lambda: net.loss(x, t), param)
        assert rel_error(grads[name], numeric) < THRESHOLDS["param"], name


def test_memory_task_puts_the_symbol_first():
    x, t = memory_task(50, 7, n_symbols=3, seed=4)
    assert x.shape == (50, 7, 4) and t.shape == (50,)
    np.testing.assert_array_equal(x[:, 0, :3], np.eye(3)[t])
    assert np.all(x[:, 0, 3] == 0) and np.all(x[:, 1:, :3] == 0)
    assert 0.8 < np.std(x[:, 1:, 3]) < 1.2


def test_mnist_rows_reshape():
    assert mnist_rows(np.zeros((2, 784))).shape == (2, 28, 28)
    assert mnist_rows(np.zeros((2, 1, 28, 28))).shape == (2, 28, 28)


def test_lstm_learns_a_short_memory_task():
    x, t = memory_task(256, 8, n_symbols=2, seed=0)
    net = SequenceClassifier(3, 8, 2, kind="lstm", seed=0)
    history = Trainer(net, GradientClipping(Adam(lr=0.02), 5.0), x, t, epochs=8, batch_size=32,
                      progress=False).train()
    assert history["train_acc"][-1] > 0.95


def test_sequence_classifier_trains_the_given_layer():
    made = []

    def layer(Wx, Wh, b):
        made.append(RNN(Wx, Wh, b))
        return made[-1]

    net = SequenceClassifier(3, 4, 2, seed=1, layer=layer)
    ref = SequenceClassifier(3, 4, 2, seed=1)
    assert net.recurrent is made[0] and net.params["Wh1"] is made[0].params["Wh"]
    x, t = rand(4, 5, 3), np.array([0, 1, 1, 0])
    grads, ref_grads = net.gradient(x, t), ref.gradient(x, t)
    for name in ref_grads:
        np.testing.assert_allclose(grads[name], ref_grads[name])


def test_gru_layer_is_registered():
    assert LAYERS["gru"] is GRU and GRU.kind == "gru"
