"""course.hooks: forward hooks on any object with forward, and the activation recorder."""

import numpy as np
import pytest

from course.hooks import ActivationRecorder, add_forward_hook


class Double:
    """A minimal layer (no base class): out = 2x."""

    def forward(self, x, train=True):
        return 2.0 * x


class ReLU:
    def forward(self, x, train=True):
        return np.maximum(x, 0.0)


class TinyNet:
    """Something with a ``layers`` mapping, like course.net.MultiLayerNet."""

    def __init__(self):
        self.layers = {"Double1": Double(), "ReLU1": ReLU()}

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x, False)
        return x


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((6, 4))


def test_hook_is_called_with_layer_input_and_output(x):
    layer = Double()
    calls = []
    add_forward_hook(layer, lambda lay, inp, out: calls.append((lay, inp, out)))
    out = layer.forward(x, train=False)
    assert len(calls) == 1
    lay, inp, recorded = calls[0]
    assert lay is layer and inp is x and recorded is out


def test_hooked_forward_returns_the_unchanged_output(x):
    layer = Double()
    add_forward_hook(layer, lambda *args: "ignored")
    np.testing.assert_array_equal(layer.forward(x), 2.0 * x)


def test_hook_sees_input_passed_by_keyword(x):
    layer = Double()
    seen = []
    add_forward_hook(layer, lambda lay, inp, out: seen.append(inp))
    layer.forward(x=x)
    assert seen[0] is x


def test_removing_the_handle_restores_the_class_forward(x):
    layer = Double()
    calls = []
    handle = add_forward_hook(layer, lambda *args: calls.append(1))
    handle.remove()
    layer.forward(x)
    assert calls == []
    assert "forward" not in vars(layer) and "_forward_hooks" not in vars(layer)
    handle.remove()  # a second remove is harmless


def test_hook_applies_to_one_instance_not_the_class(x):
    hooked, other = Double(), Double()
    calls = []
    add_forward_hook(hooked, lambda *args: calls.append(1))
    other.forward(x)
    assert calls == []


def test_several_hooks_run_in_order_and_are_removed_independently(x):
    layer = Double()
    calls = []
    first = add_forward_hook(layer, lambda *args: calls.append("first"))
    add_forward_hook(layer, lambda *args: calls.append("second"))
    layer.forward(x)
    first.remove()
    layer.forward(x)
    assert calls == ["first", "second", "second"]


def test_handle_as_context_manager_removes_the_hook(x):
    layer = Double()
    calls = []
    with add_forward_hook(layer, lambda *args: calls.append(1)):
        layer.forward(x)
    layer.forward(x)
    assert calls == [1]


def test_recorder_stats_match_numpy_on_each_layer_output(x):
    layers = {"Double1": Double(), "ReLU1": ReLU()}
    recorder = ActivationRecorder(layers, bins=10)
    h = layers["Double1"].forward(x)
    out = layers["ReLU1"].forward(h)
    assert list(recorder.stats) == ["Double1", "ReLU1"]
    for name, value in [("Double1", h), ("ReLU1", out)]:
        entry = recorder.stats[name]
        counts, edges = np.histogram(value, bins=10)
        assert entry["mean"] == pytest.approx(value.mean())
        assert entry["std"] == pytest.approx(value.std())
        np.testing.assert_array_equal(entry["hist"], counts)
        np.testing.assert_array_equal(entry["bin_edges"], edges)
    assert recorder.stats["ReLU1"]["zero_fraction"] == pytest.approx(np.mean(out == 0))


def test_recorder_uses_the_given_histogram_range(x):
    layer = ReLU()
    recorder = ActivationRecorder({"relu": layer}, bins=4, range=(0.0, 2.0))
    layer.forward(x)
    np.testing.assert_allclose(recorder.stats["relu"]["bin_edges"], [0.0, 0.5, 1.0, 1.5, 2.0])
    assert recorder.stats["relu"]["hist"].sum() == np.sum(np.maximum(x, 0) <= 2.0)


def test_recorder_keeps_the_latest_forward_pass(x):
    layer = Double()
    recorder = ActivationRecorder({"d": layer})
    layer.forward(x)
    layer.forward(x + 10.0)
    assert recorder.stats["d"]["mean"] == pytest.approx(2.0 * (x + 10.0).mean())


def test_recorder_accepts_a_network_with_a_layers_mapping(x):
    net = TinyNet()
    recorder = ActivationRecorder(net)
    net.predict(x)
    assert set(recorder.stats) == {"Double1", "ReLU1"}


def test_recorder_remove_stops_recording_and_restores_layers(x):
    net = TinyNet()
    recorder = ActivationRecorder(net)
    recorder.remove()
    net.predict(x)
    assert recorder.stats == {}
    assert all("forward" not in vars(layer) for layer in net.layers.values())


def test_recorder_and_user_hook_coexist_on_one_layer(x):
    layer = Double()
    calls = []
    handle = add_forward_hook(layer, lambda *args: calls.append(1))
    with ActivationRecorder({"d": layer}) as recorder:
        layer.forward(x)
    layer.forward(x)
    assert calls == [1, 1] and "d" in recorder.stats
    handle.remove()
    assert "forward" not in vars(layer)
