"""Data augmentation (データ拡張) for image batches x: (N, C, H, W), pixel values in [0, 1].

Every random transform takes a ``np.random.Generator`` and draws its random numbers in the
order its docstring states (one call per quantity, sizes as given), so the same generator state
gives the same batch, and a learner's implementation can be compared with this one exactly.
No transform modifies its input. No Python loop runs over samples or pixels.

Transforms that keep the label of a digit: small rotations, shifts (random crop with padding),
noise, brightness / contrast changes, cutout. A horizontal flip does NOT keep it for digits
(a mirrored 2 or 7 is not a digit), but does for most photos (a mirrored cat is a cat).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _check_images(x: np.ndarray) -> tuple[int, int, int, int]:
    if np.ndim(x) != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {np.shape(x)}")
    return x.shape


def horizontal_flip(x: np.ndarray, rng: np.random.Generator, prob: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``prob``.

    Draws ``flip = rng.random(N) < prob``; out[n] = x[n, :, :, ::-1] where flip[n], else x[n].
    """
    N = _check_images(x)[0]
    flip = rng.random(N) < prob
    return np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)


def random_crop(x: np.ndarray, rng: np.random.Generator, pad: int = 2) -> np.ndarray:
    """Zero-pad by ``pad`` on every side, then crop an H x W window at a random offset.

    Draws ``oy = rng.integers(0, 2 * pad + 1, size=N)`` then ``ox`` the same way;
    out[n, c, i, j] = xpad[n, c, oy[n] + i, ox[n] + j]. This shifts each image by
    (oy - pad, ox - pad) pixels, with zeros entering at the border (offset pad: no shift).
    """
    N, C, H, W = _check_images(x)
    oy = rng.integers(0, 2 * pad + 1, size=N)
    ox = rng.integers(0, 2 * pad + 1, size=N)
    xpad = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    rows = oy[:, None] + np.arange(H)  # (N, H)
    cols = ox[:, None] + np.arange(W)  # (N, W)
    n = np.arange(N)[:, None, None]
    out = xpad[n, :, rows[:, :, None], cols[:, None, :]]  # advanced indices first: (N, H, W, C)
    return out.transpose(0, 3, 1, 2)


def rotate(x: np.ndarray, angles: np.ndarray | float) -> np.ndarray:
    """Rotate each image counter-clockwise by ``angles[n]`` degrees about its centre (bilinear).

    With the centre (cy, cx) = ((H - 1) / 2, (W - 1) / 2), dy = i - cy, dx = j - cx and
    theta = angle in radians, output pixel (i, j) reads the input at
        ys = cy + dy cos(theta) + dx sin(theta),   xs = cx - dy sin(theta) + dx cos(theta)
    (the inverse mapping: every output pixel has exactly one source point). The value there is
    bilinear: with y0 = floor(ys), x0 = floor(xs), wy = ys - y0, wx = xs - x0,
        (1-wy)(1-wx) x[y0, x0] + (1-wy) wx x[y0, x0+1] + wy (1-wx) x[y0+1, x0] + wy wx x[y0+1, x0+1]
    where pixels outside the image count as 0. angle 90 equals np.rot90 on the (H, W) axes.
    angles: a float (all images) or (N,).
    """
    N, C, H, W = _check_images(x)
    theta = np.deg2rad(np.broadcast_to(np.asarray(angles, dtype=np.float64), (N,)))
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    cy, cx = (H - 1) / 2, (W - 1) / 2
    dy = (np.arange(H) - cy)[None, :, None]
    dx = (np.arange(W) - cx)[None, None, :]
    ys = cy + dy * cos + dx * sin  # (N, H, W)
    xs = cx - dy * sin + dx * cos
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    wy, wx = (ys - y0)[:, None], (xs - x0)[:, None]  # (N, 1, H, W)
    n = np.arange(N)[:, None, None]

    def pixel(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """x at integer (yy, xx) (N, H, W), 0 outside the image -> (N, C, H, W)."""
        inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        values = x[n, :, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]  # (N, H, W, C)
        return np.where(inside[..., None], values, 0).transpose(0, 3, 1, 2)

    out = ((1 - wy) * (1 - wx) * pixel(y0, x0) + (1 - wy) * wx * pixel(y0, x0 + 1)
           + wy * (1 - wx) * pixel(y0 + 1, x0) + wy * wx * pixel(y0 + 1, x0 + 1))
    return out.astype(x.dtype, copy=False)


def random_rotation(
    x: np.ndarray, rng: np.random.Generator, max_angle: float = 15.0
) -> np.ndarray:
    """Rotate each image by its own angle: ``angles = rng.uniform(-max_angle, max_angle, N)``."""
    N = _check_images(x)[0]
    return rotate(x, rng.uniform(-max_angle, max_angle, size=N))


def gaussian_noise(
    x: np.ndarray, rng: np.random.Generator, std: float = 0.1,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """out = clip(x + std * z, 0, 1) with z = rng.standard_normal(x.shape) (clip=None: no clip)."""
    _check_images(x)
    out = x + std * rng.standard_normal(x.shape)
    out = out if clip is None else np.clip(out, *clip)
    return out.astype(x.dtype, copy=False)


def brightness_contrast(
    x: np.ndarray, rng: np.random.Generator, brightness: float = 0.2, contrast: float = 0.3,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Per image: scale the contrast about the image's mean, then shift the brightness.

    Draws ``c = rng.uniform(1 - contrast, 1 + contrast, size=N)`` then
    ``b = rng.uniform(-brightness, brightness, size=N)``; with m[n] the mean of image n over
    (C, H, W):  out[n] = clip((x[n] - m[n]) * c[n] + m[n] + b[n], 0, 1).
    """
    N = _check_images(x)[0]
    c = rng.uniform(1 - contrast, 1 + contrast, size=N)[:, None, None, None]
    b = rng.uniform(-brightness, brightness, size=N)[:, None, None, None]
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    out = (x - m) * c + m + b
    out = out if clip is None else np.clip(out, *clip)
    return out.astype(x.dtype, copy=False)


def color_shift(
    x: np.ndarray, rng: np.random.Generator, max_shift: float = 0.1,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Shift each channel of each image by its own offset (a colour cast for RGB images).

    Draws ``s = rng.uniform(-max_shift, max_shift, size=(N, C))``;
    out[n, c] = clip(x[n, c] + s[n, c], 0, 1).
    """
    N, C = _check_images(x)[:2]
    s = rng.uniform(-max_shift, max_shift, size=(N, C))[:, :, None, None]
    out = x + s
    out = out if clip is None else np.clip(out, *clip)
    return out.astype(x.dtype, copy=False)


def cutout(
    x: np.ndarray, rng: np.random.Generator, size: int = 8, fill: float = 0.0
) -> np.ndarray:
    """Cutout (情報損失): fill a size x size square of each image with ``fill`` (all channels).

    Draws the square's centre ``cy = rng.integers(0, H, size=N)`` then ``cx = rng.integers(0, W,
    size=N)``; the square covers rows cy - size // 2 <= i < cy - size // 2 + size (same for
    columns) and is clipped at the border, so near an edge less than size * size pixels go.
    """
    N, C, H, W = _check_images(x)
    cy = rng.integers(0, H, size=N)
    cx = rng.integers(0, W, size=N)
    top, left = cy - size // 2, cx - size // 2
    rows = np.arange(H)[None, :]
    cols = np.arange(W)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # (N, W)
    mask = in_rows[:, None, :, None] & in_cols[:, None, None, :]  # (N, 1, H, W)
    return np.where(mask, np.asarray(fill, dtype=x.dtype), x)


def compose(
    *transforms: Callable[[np.ndarray, np.random.Generator], np.ndarray],
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """One transform applying ``transforms`` in order, all drawing from the same generator."""

    def composed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in transforms:
            x = transform(x, rng)
        return x

    return composed


class AugmentedNetwork:
    """Wraps a network so that every training mini-batch is augmented (for course.train.Trainer).

    ``gradient(x, t)`` = ``network.gradient(augment(x, rng), t)``; ``loss``, ``accuracy`` and
    ``predict`` see the images as given (evaluation on clean images). ``params`` and ``layers``
    are the wrapped network's own, so an optimiser updates the wrapped network.
    """

    def __init__(
        self,
        network: Any,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray],
        rng: np.random.Generator,
    ) -> None:
        self.network = network
        self.augment = augment
        self.rng = rng
        self.params = network.params
        self.layers = getattr(network, "layers", {})
        self.last_loss: float | None = None

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        grads = self.network.gradient(self.augment(x, self.rng), t)
        self.last_loss = getattr(self.network, "last_loss", None)
        return grads

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.network.predict(x, train)

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        return self.network.loss(x, t, train)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.network.accuracy(x, t)
