"""Grading spec of day2/2_2_learning_rate: schedules, the learning-rate range test, its reading.

The schedules are checked against ``course.optim``. ``course`` has no range test, so its reference
(Smith's learning-rate range test, the bias-corrected EMA and the region rule the notebook teaches)
lives here: ``lr_range_test``, ``smooth_losses``, ``best_lr_region``; the hidden tests import them.
The notebook's data (a 3-class spiral) and mini-batch indices are stored in the fixture, so the
notebook and this module share one source.
"""

from __future__ import annotations

import math

import numpy as np

from autograder.specs import Bug
from course import optim
from course.net import MultiLayerNet

NOTEBOOK = "day2/2_2_learning_rate"

# The notebook's range-test experiment (cell "range-experiment"): keep in sync.
RANGE_HIDDEN, RANGE_SEED = [50], 0
RANGE_LR_START, RANGE_LR_END, RANGE_ITERS, RANGE_BATCH, RANGE_BETA = 1e-4, 10.0, 300, 32, 0.95
# The visible test of lr_range_test.
TEST_HIDDEN, TEST_SEED, TEST_LR_START, TEST_LR_END = [20], 5, 1e-3, 100.0
TEST_ITERS, TEST_BATCH = 60, 16


def make_spiral(n_per_class: int, n_classes: int = 3, noise: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on n_classes interleaved spiral arms: x (N, 2) float64, t (N,) int64 labels."""
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    k = np.repeat(np.arange(n_classes), n_per_class)
    theta = k * 2 * np.pi / n_classes + r * 4.0 + rng.normal(0.0, noise, size=r.size)
    return np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1), k.astype(np.int64)


def lr_range_test(network, optimizer, batches, lr_start: float, lr_end: float,
                  diverge_factor: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Reference: lr_i = lr_start * (lr_end / lr_start) ** (i / (n - 1)) for batch i of n; the loss
    of each mini-batch before its update; stop after recording a loss that is not finite or above
    diverge_factor times the smallest loss so far."""
    lrs, losses = [], []
    n = len(batches)
    for i, (x, t) in enumerate(batches):
        lr = lr_start * (lr_end / lr_start) ** (i / (n - 1))
        optimizer.lr = lr
        loss = network.loss(x, t)
        lrs.append(lr)
        losses.append(loss)
        if not np.isfinite(loss) or loss > diverge_factor * min(losses):
            break
        optimizer.update(network.params, network.gradient(x, t))
    return np.array(lrs), np.array(losses)


def smooth_losses(losses, beta: float = 0.95) -> np.ndarray:
    """Bias-corrected exponential moving average: s_i = beta s_{i-1} + (1 - beta) L_i (s_{-1} = 0),
    smoothed_i = s_i / (1 - beta ** (i + 1))."""
    s, out = 0.0, np.empty(len(losses))
    for i, loss in enumerate(losses):
        s = beta * s + (1 - beta) * loss
        out[i] = s / (1 - beta ** (i + 1))
    return out


def best_lr_region(lrs, losses, beta: float = 0.95) -> tuple[float, float]:
    """(lr_max / 10, lr_max), lr_max = the lr at the minimum of the smoothed loss."""
    lr_max = float(np.asarray(lrs)[int(np.argmin(smooth_losses(losses, beta)))])
    return lr_max / 10, lr_max


def spiral_batches(x: np.ndarray, t: np.ndarray, index: np.ndarray) -> list:
    """[(x[idx], t[idx]) for each row idx of index]."""
    return [(x[idx], t[idx]) for idx in np.asarray(index, dtype=np.int64)]


def make_fixtures() -> dict[str, np.ndarray]:
    """Data, schedule values and range-test results (deterministic, float64)."""
    x, t = make_spiral(200, seed=0)
    x_val, t_val = make_spiral(200, seed=1)
    rng = np.random.default_rng(22)
    range_batches = np.stack([rng.choice(len(x), RANGE_BATCH, replace=False)
                              for _ in range(RANGE_ITERS)]).astype(np.int16)
    test_batches = np.stack([rng.choice(len(x), TEST_BATCH, replace=False)
                             for _ in range(TEST_ITERS)]).astype(np.int16)
    fx: dict[str, np.ndarray] = {
        "spiral_x": x, "spiral_t": t, "spiral_x_val": x_val, "spiral_t_val": t_val,
        "range_batches": range_batches, "test_batches": test_batches,
    }
    step = optim.step_decay(0.1, 3, 0.5)
    fx["step_decay"] = np.array([step(e) for e in range(12)])
    expo = optim.exponential_decay(0.1, 0.2)
    fx["exponential_decay"] = np.array([expo(e) for e in range(12)])
    cosine = optim.cosine_decay(0.1, 10, lr_min=0.001)
    fx["cosine_decay"] = np.array([cosine(e) for e in range(16)])

    net = MultiLayerNet(2, TEST_HIDDEN, 3, seed=TEST_SEED)
    lrs, losses = lr_range_test(net, optim.Momentum(lr=0.01, momentum=0.9),
                                spiral_batches(x, t, test_batches), TEST_LR_START, TEST_LR_END)
    fx["rt_lrs"], fx["rt_losses"] = lrs, losses

    # a made-up range-test curve: plateau, descent, blow-up, noise, and one lucky mini-batch
    curve_rng = np.random.default_rng(23)
    curve_lrs = np.geomspace(1e-4, 10.0, 200)
    u = np.log10(curve_lrs)
    curve = 2.3 - 2.0 / (1.0 + np.exp(-2.5 * (u + 1.5))) + 3.0 * np.maximum(u - 0.2, 0.0) ** 2
    curve_losses = curve + curve_rng.normal(0.0, 0.08, size=u.size)
    curve_losses[40] = 0.05  # a lucky mini-batch near lr = 1e-3
    fx["curve_lrs"], fx["curve_losses"] = curve_lrs, curve_losses
    fx["curve_smoothed"] = smooth_losses(curve_losses, 0.9)
    fx["curve_region"] = np.array(best_lr_region(curve_lrs, curve_losses, 0.9))

    net = MultiLayerNet(2, RANGE_HIDDEN, 3, seed=RANGE_SEED)
    lrs, losses = lr_range_test(net, optim.SGD(), spiral_batches(x, t, range_batches),
                                RANGE_LR_START, RANGE_LR_END)
    fx["answer_region"] = np.array(best_lr_region(lrs, losses, RANGE_BETA))
    assert math.isclose(fx["answer_region"][1], lrs[np.argmin(smooth_losses(losses, RANGE_BETA))])
    return fx


TYPICAL_BUGS = [
    # step_decay
    Bug(name="step decay with float division", cell="step_decay",
        old="epoch // step_size", new="epoch / step_size",
        caught_by="test_step_decay", message_contains="整数の割り算"),
    Bug(name="step decay one step too early", cell="step_decay",
        old="gamma ** (epoch // step_size)", new="gamma ** (epoch // step_size + 1)",
        caught_by="test_step_decay", message_contains="epoch=0"),
    Bug(name="step decay at every epoch", cell="step_decay",
        old="gamma ** (epoch // step_size)", new="gamma ** epoch",
        caught_by="test_step_decay", message_contains="毎エポックではありません"),
    # exponential_decay
    Bug(name="exponential decay without the minus sign", cell="exponential_decay",
        old="math.exp(-k * epoch)", new="math.exp(k * epoch)",
        caught_by="test_exponential_decay", message_contains="マイナス"),
    Bug(name="exponential decay starts one epoch late", cell="exponential_decay",
        old="math.exp(-k * epoch)", new="math.exp(-k * (epoch + 1))",
        caught_by="test_exponential_decay", message_contains="exp(0) = 1"),
    Bug(name="exponential decay as k ** epoch", cell="exponential_decay",
        old="math.exp(-k * epoch)", new="k**epoch",
        caught_by="test_exponential_decay", message_contains="k ** epoch ではありません"),
    # cosine_decay
    Bug(name="cosine decay without the factor 1/2", cell="cosine_decay",
        old="0.5 * (1.0 + math.cos", new="(1.0 + math.cos",
        caught_by="test_cosine_decay", message_contains="1/2"),
    Bug(name="cosine decay ignores lr_min", cell="cosine_decay",
        old="return lr_min + (lr0 - lr_min) * 0.5", new="return lr0 * 0.5",
        caught_by="test_cosine_decay", message_contains="lr_min + (lr0 − lr_min)"),
    Bug(name="cosine decay rises again after total_epochs", cell="cosine_decay",
        old="min(epoch, total_epochs) / total_epochs", new="epoch / total_epochs",
        caught_by="test_cosine_decay", message_contains="min(epoch, total_epochs)"),
    # lr_range_test
    Bug(name="range test with linearly spaced learning rates", cell="lr_range_test",
        old="lr = lr_start * (lr_end / lr_start) ** (i / (n - 1))",
        new="lr = lr_start + (lr_end - lr_start) * i / (n - 1)",
        caught_by="test_lr_range_test", message_contains="等比数列",
        cascades=("test_lr_region_answer",)),
    Bug(name="range test never sets optimizer.lr", cell="lr_range_test",
        old="optimizer.lr = lr\n", new="pass\n",
        caught_by="test_lr_range_test", message_contains="optimizer.lr = lr",
        cascades=("test_lr_region_answer",)),
    Bug(name="range test records the loss after the update", cell="lr_range_test",
        old=("loss = network.loss(x_batch, t_batch)\n"
             "        lrs.append(lr)\n"
             "        losses.append(loss)\n"
             "        if not np.isfinite(loss) or loss > diverge_factor * min(losses):\n"
             "            break\n"
             "        optimizer.update(network.params, network.gradient(x_batch, t_batch))"),
        new=("optimizer.update(network.params, network.gradient(x_batch, t_batch))\n"
             "        loss = network.loss(x_batch, t_batch)\n"
             "        lrs.append(lr)\n"
             "        losses.append(loss)\n"
             "        if not np.isfinite(loss) or loss > diverge_factor * min(losses):\n"
             "            break"),
        caught_by="test_lr_range_test", message_contains="update の前",
        cascades=("test_lr_region_answer",)),
    Bug(name="range test never stops at divergence", cell="lr_range_test",
        old="if not np.isfinite(loss) or loss > diverge_factor * min(losses):\n            break",
        new="pass",
        caught_by="test_lr_range_test", message_contains="diverge_factor 倍"),
    Bug(name="range test compares with the first loss", cell="lr_range_test",
        old="diverge_factor * min(losses)", new="diverge_factor * losses[0]",
        caught_by="test_lr_range_test", message_contains="最小値"),
    # smooth_losses / best_lr_region
    Bug(name="EMA without bias correction", cell="lr_analysis",
        old="smoothed[i] = s / (1 - beta ** (i + 1))", new="smoothed[i] = s",
        caught_by="test_best_lr_region", message_contains="バイアス補正",
        cascades=("test_lr_region_answer",)),
    Bug(name="EMA with swapped weights", cell="lr_analysis",
        old="s = beta * s + (1 - beta) * loss", new="s = (1 - beta) * s + beta * loss",
        caught_by="test_best_lr_region", message_contains="古い値の重み",
        cascades=("test_lr_region_answer",)),
    Bug(name="region from the raw losses", cell="lr_analysis",
        old="np.argmin(smoothed)", new="np.argmin(losses)",
        caught_by="test_best_lr_region", message_contains="平滑化した損失",
        cascades=("test_lr_region_answer",)),
    Bug(name="region without the factor 1/10", cell="lr_analysis",
        old="return lr_max / 10, lr_max", new="return lrs[0], lr_max",
        caught_by="test_best_lr_region", message_contains="1/10",
        cascades=("test_lr_region_answer",)),
]

PARTIAL_BUGS = ["step decay with float division", "range test never stops at divergence"]
PARTIAL_EXPECTED = {
    "test_step_decay": 0,
    "test_exponential_decay": 1,
    "test_cosine_decay": 1,
    "test_lr_range_test": 0,
    "test_best_lr_region": 2,
    "test_lr_region_answer": 2,  # the region does not depend on where the test stops
}
