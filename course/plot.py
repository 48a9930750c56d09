"""Figures used across the notebooks: learning curves, histograms, optimiser trajectories.

Each function returns the matplotlib Figure (made with pyplot, so a notebook shows it by itself;
write `fig = learning_curves(...)` rather than ending a cell with the bare call, which would show
it twice). matplotlib is imported here only: `import course` never imports it.

Figures are labelled in Japanese (the glossary's terms, docs/glossary-ja.md), so importing this
module sets up a Japanese font once for the whole session: IPAex Gothic, bundled with the
`matplotlib-fontja` package (no system font needed). The notebooks import it in their setup cell;
their own figures (plain `plt`) then get the same font.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import matplotlib_fontja
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from course.regularizers import is_weight

History = Mapping[str, Any]

JAPANESE_FONT = "IPAexGothic"


def use_japanese_font() -> None:
    """Make matplotlib draw Japanese text with IPAex Gothic (idempotent; done on import).

    DejaVu Sans (matplotlib's own) stays as the fallback for the few symbols IPAex lacks. Call
    it again after ``plt.rcdefaults()`` or a style that resets ``font.family``.
    """
    if JAPANESE_FONT not in {font.name for font in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(matplotlib_fontja.get_font_ttf_path())
    plt.rcParams["font.family"] = [JAPANESE_FONT, "DejaVu Sans"]


use_japanese_font()

_ACC_KEYS = (
    ("train_acc", "学習 (train)", "-"),
    ("val_acc", "検証 (validation)", "--"),
    ("test_acc", "テスト (test)", ":"),
)


def learning_curves(
    histories: History | Mapping[str, History],
    metrics: Sequence[str] = ("loss", "acc"),
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Loss and accuracy against epochs, one axis per metric ("loss", "acc").

    histories: one `Trainer` history (keys "train_loss" per iteration; "train_acc", "val_acc",
    "val_loss", optional "train_loss_epoch", "test_acc" per epoch; optional "best_epoch"), or a
    dict run name -> history, drawn in one colour per run. Train is solid, validation dashed.
    The per-iteration train loss is drawn at fractional epochs: iteration i at
    (i + 1) / iterations_per_epoch.
    """
    runs = _as_runs(histories)
    for metric in metrics:
        if metric not in ("loss", "acc"):
            raise ValueError(f"metrics are 'loss' and/or 'acc', got {metric!r}")
    fig, axes = plt.subplots(
        1, len(metrics), figsize=figsize or (5.0 * len(metrics), 3.6), squeeze=False
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for k, (name, history) in enumerate(runs.items()):
            colour = colours[k % len(colours)]
            label = f"{name}: " if name else ""
            if metric == "loss":
                _plot_loss(ax, history, colour, label)
            else:
                _plot_acc(ax, history, colour, label)
            best = history.get("best_epoch")
            if best is not None:
                ax.axvline(best, color=colour, linestyle=":", linewidth=1)
        ax.set_xlabel("エポック (epoch)")
        ax.set_ylabel("損失 (loss)" if metric == "loss" else "正解率 (accuracy)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _as_runs(histories: History | Mapping[str, History]) -> dict[str, History]:
    """A single history (it has "train_loss") becomes {"": history}."""
    if "train_loss" in histories or "train_acc" in histories:
        return {"": histories}
    return dict(histories)


def _epoch_axis(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def _plot_loss(ax, history: History, colour: str, label: str) -> None:
    iteration_loss = np.asarray(history.get("train_loss", []), dtype=float)
    n_epochs = len(history.get("train_acc", [])) or len(history.get("val_loss", [])) or 1
    if iteration_loss.size:
        per_epoch = iteration_loss.size / n_epochs
        x = (np.arange(iteration_loss.size) + 1) / per_epoch
        ax.plot(x, iteration_loss, color=colour, alpha=0.35, linewidth=0.8,
                label=f"{label}学習 (イテレーションごと)")
    for key, name, style in (("train_loss_epoch", "学習 (train)", "-"),
                             ("val_loss", "検証 (validation)", "--")):
        values = history.get(key) or []
        if len(values):
            ax.plot(_epoch_axis(len(values)), values, style, color=colour, marker="o",
                    markersize=3, label=f"{label}{name}")


def _plot_acc(ax, history: History, colour: str, label: str) -> None:
    for key, name, style in _ACC_KEYS:
        values = history.get(key) or []
        if len(values):
            ax.plot(_epoch_axis(len(values)), values, style, color=colour, marker="o",
                    markersize=3, label=f"{label}{name}")


def activation_histograms(
    stats: Any,
    bins: int = 30,
    value_range: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """One histogram per layer, left to right in the order of `stats`.

    stats: a `course.hooks.ActivationRecorder` (its `.stats` are used), or layer name -> raw
    activations (any shape; histogrammed with `bins` over `value_range`,
    default the data range), or -> a dict with precomputed "hist" (counts) and "bin_edges" (as
    from `np.histogram`, e.g. recorded by `course.hooks.ActivationRecorder`), optionally "mean"
    and "std", which are written in the axis title.
    """
    stats = getattr(stats, "stats", stats)  # an ActivationRecorder
    if not stats:
        raise ValueError("stats is empty: no layer to plot")
    fig, axes = plt.subplots(1, len(stats), figsize=(2.6 * len(stats), 2.8), squeeze=False,
                             sharey=True)
    for ax, (name, entry) in zip(axes[0], stats.items(), strict=True):
        if isinstance(entry, Mapping):
            counts = np.asarray(entry["hist"], dtype=float)
            edges = np.asarray(entry["bin_edges"], dtype=float)
            mean, std = entry.get("mean"), entry.get("std")
        else:
            values = np.asarray(entry, dtype=float).ravel()
            counts, edges = np.histogram(values, bins=bins, range=value_range)
            mean, std = values.mean(), values.std()
        total = counts.sum()
        ax.stairs(counts / total if total else counts, edges, fill=True, alpha=0.8)
        ax.set_title(name if mean is None else f"{name}\n平均 {mean:.3f}, 標準偏差 {std:.3f}",
                     fontsize="small")
        ax.set_xlabel("アクティベーション")
    axes[0, 0].set_ylabel("割合")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def weight_histograms(
    params: Mapping[str, np.ndarray],
    keys: Sequence[str] | None = None,
    bins: int = 30,
    title: str | None = None,
) -> Figure:
    """One histogram per parameter array: the weights (W1, W2, ...) unless `keys` names others."""
    names = list(keys) if keys is not None else [k for k in params if is_weight(k)]
    if not names:
        raise ValueError("no parameter to plot (no weight names such as 'W1' in params)")
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        values = np.asarray(params[name], dtype=float).ravel()
        ax.hist(values, bins=bins, alpha=0.8)
        ax.set_title(f"{name}\n標準偏差 {values.std():.3g}", fontsize="small")
        ax.set_xlabel("重みの値")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def trajectories_2d(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    paths: Mapping[str, np.ndarray],
    xlim: tuple[float, float] = (-10.0, 10.0),
    ylim: tuple[float, float] = (-5.0, 5.0),
    levels: int = 20,
    separate: bool = False,
    minimum: tuple[float, float] | None = (0.0, 0.0),
    title: str | None = None,
) -> Figure:
    """Contours of f(x, y) with each optimiser's path (T, 2) of points drawn over them.

    f is evaluated on a grid, vectorised: f(X, Y) with X, Y (H, W) -> Z (H, W).
    `separate=True` gives one axis per path (as in the textbook's 2x2 optimiser figure);
    otherwise all paths share one axis. `minimum` is marked with a cross (None: no mark).
    """
    if not paths:
        raise ValueError("paths is empty: nothing to draw")
    xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
    X, Y = np.meshgrid(xs, ys)
    Z = f(X, Y)
    n_axes = len(paths) if separate else 1
    n_cols = min(n_axes, 2 if n_axes == 4 else 3)
    n_rows = -(-n_axes // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.6 * n_cols, 3.6 * n_rows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n_axes:]:
        fig.delaxes(ax)
    for ax in flat[:n_axes]:
        ax.contour(X, Y, Z, levels=levels, colors="0.6", linewidths=0.6)
        if minimum is not None:
            ax.plot(*minimum, "+", color="black", markersize=10)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, path) in enumerate(paths.items()):
        path = np.asarray(path, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"path {name!r} must have shape (T, 2), got {path.shape}")
        ax = flat[k] if separate else flat[0]
        ax.plot(path[:, 0], path[:, 1], "o-", color=colours[k % len(colours)], markersize=2.5,
                linewidth=1, label=name)
        if separate:
            ax.set_title(name)
    if not separate:
        flat[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
