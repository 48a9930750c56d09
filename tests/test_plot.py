"""course.plot: every figure function returns a Figure with the expected axes (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course import plot  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history(epochs=3, iterations_per_epoch=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_loss": list(2.3 * np.exp(-0.1 * np.arange(epochs * iterations_per_epoch))),
        "train_acc": list(rng.uniform(0.5, 1.0, epochs)),
        "val_acc": list(rng.uniform(0.5, 1.0, epochs)),
        "val_loss": list(rng.uniform(0.1, 1.0, epochs)),
        "train_loss_epoch": list(rng.uniform(0.1, 1.0, epochs)),
        "stopped_epoch": None,
        "best_epoch": 2,
    }


def line_count(ax):
    return len(ax.get_lines())


def test_learning_curves_single_history_has_loss_and_accuracy_axes():
    fig = plot.learning_curves(make_history())
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "損失 (loss)" and acc_ax.get_ylabel() == "正解率 (accuracy)"
    # iteration loss, epoch train loss, val loss (+ best-epoch marker line)
    assert line_count(loss_ax) == 4
    assert line_count(acc_ax) == 3


def test_learning_curves_iteration_loss_is_drawn_at_fractional_epochs():
    fig = plot.learning_curves(make_history(epochs=3, iterations_per_epoch=4), metrics=("loss",))
    iteration_line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(iteration_line.get_xdata(), np.arange(1, 13) / 4)


def test_learning_curves_dict_of_histories_one_line_set_per_run():
    runs = {"BN": make_history(seed=1), "no BN": make_history(seed=2)}
    fig = plot.learning_curves(runs, metrics=("acc",), title="BN vs no BN")
    assert len(fig.axes) == 1
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "BN: 検証 (validation)" in labels and "no BN: 検証 (validation)" in labels


def test_learning_curves_rejects_unknown_metric():
    with pytest.raises(ValueError, match="metrics"):
        plot.learning_curves(make_history(), metrics=("f1",))


def test_activation_histograms_from_raw_activations_one_axis_per_layer():
    rng = np.random.default_rng(0)
    stats = {f"ReLU{i}": np.maximum(0, rng.standard_normal((100, 20))) for i in range(1, 5)}
    fig = plot.activation_histograms(stats, value_range=(0, 1))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_title().startswith("ReLU1")


def test_activation_histograms_from_precomputed_histograms():
    counts, edges = np.histogram(np.linspace(0, 1, 50), bins=10)
    stats = {"Sigmoid1": {"hist": counts, "bin_edges": edges, "mean": 0.5, "std": 0.29},
             "Sigmoid2": {"hist": counts, "bin_edges": edges}}
    fig = plot.activation_histograms(stats)
    assert len(fig.axes) == 2
    assert "平均 0.500" in fig.axes[0].get_title()


def test_activation_histograms_from_an_activation_recorder():
    from course.hooks import ActivationRecorder
    from course.net import MultiLayerNet

    net = MultiLayerNet(20, [10, 10, 10], 3, activation="sigmoid")
    activations = {name: layer for name, layer in net.layers.items() if name.startswith("Sigmoid")}
    with ActivationRecorder(activations, range=(0, 1)) as recorder:
        net.predict(np.random.default_rng(0).standard_normal((50, 20)))
    fig = plot.activation_histograms(recorder)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["Sigmoid1", "Sigmoid2",
                                                                   "Sigmoid3"]


def test_weight_histograms_plot_weights_only_by_default():
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((5, 4)), "b1": np.zeros(4), "gamma1": np.ones(4),
              "beta1": np.zeros(4), "W2": rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    fig = plot.weight_histograms(params)
    assert isinstance(fig, Figure)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["W1", "W2"]


def test_weight_histograms_with_explicit_keys():
    params = {"W1": np.ones((2, 2)), "gamma1": np.ones(2)}
    fig = plot.weight_histograms(params, keys=["gamma1"])
    assert len(fig.axes) == 1


def quadratic(x, y):
    return x**2 / 20.0 + y**2


def test_trajectories_2d_overlaid_on_one_axis():
    paths = {name: np.cumsum(np.full((10, 2), -0.5), axis=0) + [-7, 2]
             for name in ("SGD", "Momentum", "AdaGrad", "Adam")}
    fig = plot.trajectories_2d(quadratic, paths)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["SGD", "Momentum", "AdaGrad", "Adam"]


@pytest.mark.parametrize("n_paths", [2, 3, 4, 5])
def test_trajectories_2d_separate_axis_per_path(n_paths):
    paths = {f"opt{i}": np.zeros((5, 2)) for i in range(n_paths)}
    fig = plot.trajectories_2d(quadratic, paths, separate=True)
    assert len(fig.axes) == n_paths
    assert [ax.get_title() for ax in fig.axes] == list(paths)


def test_trajectories_2d_rejects_wrong_path_shape():
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plot.trajectories_2d(quadratic, {"SGD": np.zeros((5, 3))})


def _draw_and_collect_warnings(fig) -> list[str]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
        fig.savefig(__import__("io").BytesIO(), format="png")
    return [str(w.message) for w in caught]


def test_japanese_labels_render_with_the_bundled_font_and_no_missing_glyph():
    """The course's figures are labelled in Japanese: every glyph must exist (no empty boxes)."""
    fig = plot.learning_curves(make_history())
    ax = fig.axes[0]
    ax.set_title("学習曲線: 損失と正解率 (loss, accuracy) − 荷重減衰 λ=1e-4, ±2σ, ×, ∂L/∂W")
    ax.text(1, 1, "バッチ正規化・早期終了・ドロップアウト率 -0.5")
    assert "エポック" in ax.get_xlabel() and "損失" in ax.get_ylabel()
    font = ax.title.get_fontproperties()
    assert font.get_family()[0] == plot.JAPANESE_FONT
    messages = _draw_and_collect_warnings(fig)
    missing = [m for m in messages if "missing from" in m or "Glyph" in m]
    assert missing == [], missing
    # the title is drawn with IPAex Gothic itself (not a fallback that happens to have kana)
    from matplotlib import font_manager

    assert "ipaexg" in font_manager.findfont(font).lower()


def test_without_the_japanese_font_the_same_labels_warn(monkeypatch):
    """The check above can fail: with matplotlib's default font the kana are missing glyphs."""
    monkeypatch.setitem(plt.rcParams, "font.family", ["DejaVu Sans"])
    fig, ax = plt.subplots()
    ax.set_title("学習曲線")
    messages = _draw_and_collect_warnings(fig)
    assert any("missing from" in m for m in messages), messages
