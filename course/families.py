"""Figures of the families of deep models: the family map, and a DBN next to a DBM.

``MODEL_FAMILIES`` is the map as data (family -> models, each deterministic or stochastic);
``family_map`` draws it as a tree. ``dbn_dbm_figure`` draws the two deep Boltzmann-type models
layer by layer: in a deep belief network (DBN) only the top two layers are joined by undirected
edges (an RBM) and every lower layer hangs below by directed edges pointing down (generation
runs top to bottom); in a deep Boltzmann machine (DBM) every edge is undirected.

Labels are Japanese, in the course's bundled font (``course.plot`` sets up IPAex Gothic from
``matplotlib-fontja``); English only where no Japanese font can be found (``japanese_font``).
matplotlib is imported inside the functions, so ``import course.families`` costs nothing.
"""

from __future__ import annotations

# family -> [(Japanese name, English name, stochastic?)]
MODEL_FAMILIES: dict[tuple[str, str], list[tuple[str, str, bool]]] = {
    ("階層型", "hierarchical"): [
        ("全結合型 (多層パーセプトロン)", "fully connected (MLP)", False),
        ("畳み込みニューラルネットワーク (CNN)", "convolutional (CNN)", False),
    ],
    ("自己符号化器型", "autoencoder"): [
        ("自己符号化器", "autoencoder", False),
        ("雑音除去自己符号化器", "denoising AE", False),
        ("スパース自己符号化器", "sparse AE", False),
        ("変分自己符号化器 (VAE)", "variational AE (VAE)", True),
    ],
    ("ボルツマンマシン型", "Boltzmann"): [
        ("ボルツマンマシン (BM)", "Boltzmann machine (BM)", True),
        ("制限ボルツマンマシン (RBM)", "restricted BM (RBM)", True),
        ("深層信念ネットワーク (DBN)", "deep belief network (DBN)", True),
        ("深層ボルツマンマシン (DBM)", "deep Boltzmann machine (DBM)", True),
    ],
}
JAPANESE_FONTS = ("IPAexGothic", "Noto Sans CJK JP", "IPAGothic", "Hiragino Sans", "Yu Gothic",
                  "TakaoGothic", "Meiryo")
_COLOURS = {False: "#cfe2f3", True: "#f9d9c0"}  # deterministic: blue, stochastic: orange


def japanese_font() -> str | None:
    """The first installed font of JAPANESE_FONTS (None: draw English labels)."""
    from matplotlib import font_manager

    import course.plot  # noqa: F401 (registers the course's bundled Japanese font)

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in JAPANESE_FONTS if name in installed), None)


def _labels(japanese: bool | None) -> tuple[bool, dict]:
    font = japanese_font()
    use_ja = font is not None if japanese is None else japanese and font is not None
    return use_ja, ({"fontfamily": font} if use_ja else {})


def family_map(japanese: bool | None = None):
    """The map of model families as a tree, deterministic / stochastic by colour; the figure."""
    import matplotlib.pyplot as plt

    use_ja, font = _labels(japanese)
    fig, ax = plt.subplots(figsize=(12, 5.2))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 6)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.3", "linewidth": 0.8}
    root = (6.0, 5.5)
    ax.text(*root, "深層学習のモデル" if use_ja else "deep learning models", ha="center",
            va="center", fontsize=12, bbox={**box, "facecolor": "white"}, **font)
    for i, ((fam_ja, fam_en), models) in enumerate(MODEL_FAMILIES.items()):
        fx = 2.0 + 4.0 * i
        ax.annotate("", xy=(fx, 4.75), xytext=(root[0], root[1] - 0.3),
                    arrowprops={"arrowstyle": "-", "color": "grey"})
        ax.text(fx, 4.5, fam_ja if use_ja else fam_en, ha="center", va="center", fontsize=11,
                bbox={**box, "facecolor": "#eeeeee"}, **font)
        for j, (ja, en, stochastic) in enumerate(models):
            y = 3.6 - 0.85 * j
            ax.annotate("", xy=(fx, y + 0.2), xytext=(fx, 4.2 if j == 0 else y + 0.65),
                        arrowprops={"arrowstyle": "-", "color": "grey"})
            ax.text(fx, y, ja if use_ja else en, ha="center", va="center", fontsize=9.5,
                    bbox={**box, "facecolor": _COLOURS[stochastic]}, **font)
    legend = [("決定論的 (deterministic)" if use_ja else "deterministic", False),
              ("確率的 (stochastic)" if use_ja else "stochastic", True)]
    for k, (text, stochastic) in enumerate(legend):
        ax.text(0.3 + 3.2 * k, 0.2, text, fontsize=9.5, va="center",
                bbox={**box, "facecolor": _COLOURS[stochastic]}, **font)
    fig.tight_layout()
    return fig


def dbn_dbm_figure(layer_sizes: tuple[int, ...] = (5, 4, 3, 3), japanese: bool | None = None):
    """A DBN (left) and a DBM (right) with the same layers; returns the figure.

    layer_sizes: units per layer from the visible layer v up (drawn small: 3-6 units each).
    """
    import matplotlib.pyplot as plt

    use_ja, font = _labels(japanese)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    titles = (("深層信念ネットワーク (DBN)", "deep belief network (DBN)"),
              ("深層ボルツマンマシン (DBM)", "deep Boltzmann machine (DBM)"))
    notes = (("上の 2 層だけ無向 (RBM)、下は有向 (生成は上から下へ)",
              "top two layers undirected (an RBM), the rest directed downwards"),
             ("すべて無向", "every edge undirected"))
    top = len(layer_sizes) - 1
    for ax, (ja, en), (note_ja, note_en), dbn in zip(axes, titles, notes, (True, False),
                                                     strict=True):
        ax.axis("off")
        ax.set_title(ja if use_ja else en, **font)
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-0.6, top + 0.9)
        pos = [[(u - (n - 1) / 2, layer) for u in range(n)] for layer, n in enumerate(layer_sizes)]
        for layer in range(top):
            directed = dbn and layer < top - 1
            for (x0, y0) in pos[layer]:
                for (x1, y1) in pos[layer + 1]:
                    if directed:  # generation: from the upper layer down to the lower one
                        ax.annotate("", xy=(x0, y0 + 0.12), xytext=(x1, y1 - 0.12),
                                    arrowprops={"arrowstyle": "-|>", "color": "#c0504d",
                                                "linewidth": 0.7, "mutation_scale": 8})
                    else:
                        ax.plot([x0, x1], [y0, y1], color="#4f81bd", linewidth=0.7)
        for layer, units in enumerate(pos):
            face = "white" if layer == 0 else "#dddddd"
            ax.scatter(*zip(*units, strict=True), s=160, c=face, edgecolors="black", zorder=3)
            name = "v" if layer == 0 else f"h{layer}"
            ax.text(-3.2, layer, name, va="center", fontsize=11)
        ax.text(0, -0.5, note_ja if use_ja else note_en, ha="center", fontsize=9, **font)
    fig.tight_layout()
    return fig
