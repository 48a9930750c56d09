"""course.augment: each transform against a direct (loop or closed-form) reference."""

import numpy as np
import pytest

from course import augment


def _images(n=5, c=2, h=7, w=6, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w))


def rng(seed=1):
    return np.random.default_rng(seed)


def test_horizontal_flip_mirrors_exactly_the_drawn_images():
    x = _images()
    out = augment.horizontal_flip(x, rng(), prob=0.5)
    flip = rng().random(len(x)) < 0.5
    assert 0 < flip.sum() < len(x)
    for n in range(len(x)):
        assert np.array_equal(out[n], x[n, :, :, ::-1] if flip[n] else x[n])


def test_random_crop_shifts_each_image_by_its_offset():
    x = _images()
    out = augment.random_crop(x, rng(), pad=2)
    r = rng()
    oy, ox = r.integers(0, 5, size=len(x)), r.integers(0, 5, size=len(x))
    xpad = np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)])
    for n in range(len(x)):
        assert np.array_equal(out[n], xpad[n, :, oy[n]:oy[n] + 7, ox[n]:ox[n] + 6])


def test_random_crop_with_zero_pad_is_the_identity():
    x = _images()
    assert np.array_equal(augment.random_crop(x, rng(), pad=0), x)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_by_multiples_of_90_degrees_equals_rot90(k):
    x = _images(h=6, w=6)
    assert np.allclose(augment.rotate(x, 90.0 * k), np.rot90(x, k, axes=(2, 3)), atol=1e-12)


def test_rotation_by_zero_is_the_identity():
    x = _images()
    assert np.allclose(augment.rotate(x, 0.0), x, atol=1e-15)


def test_rotation_interpolates_bilinearly():
    x = _images(n=1, c=1, h=5, w=5)
    theta = np.deg2rad(10.0)
    out = augment.rotate(x, 10.0)
    i, j, c = 1, 3, 2.0  # one pixel by hand
    ys = c + (i - c) * np.cos(theta) + (j - c) * np.sin(theta)
    xs = c - (i - c) * np.sin(theta) + (j - c) * np.cos(theta)
    y0, x0 = int(np.floor(ys)), int(np.floor(xs))
    wy, wx = ys - y0, xs - x0
    img = x[0, 0]
    expected = ((1 - wy) * (1 - wx) * img[y0, x0] + (1 - wy) * wx * img[y0, x0 + 1]
                + wy * (1 - wx) * img[y0 + 1, x0] + wy * wx * img[y0 + 1, x0 + 1])
    assert np.isclose(out[0, 0, i, j], expected)


def test_random_rotation_uses_one_uniform_angle_per_image():
    x = _images()
    angles = rng().uniform(-15, 15, size=len(x))
    assert np.allclose(augment.random_rotation(x, rng(), 15.0), augment.rotate(x, angles))


def test_rotation_keeps_float32():
    x = _images().astype(np.float32)
    assert augment.rotate(x, 12.0).dtype == np.float32


def test_gaussian_noise_adds_scaled_standard_normal_and_clips():
    x = _images()
    out = augment.gaussian_noise(x, rng(), std=0.3)
    assert np.array_equal(out, np.clip(x + 0.3 * rng().standard_normal(x.shape), 0, 1))


def test_brightness_contrast_scales_about_the_image_mean():
    x = _images()
    out = augment.brightness_contrast(x, rng(), brightness=0.2, contrast=0.3, clip=None)
    r = rng()
    c, b = r.uniform(0.7, 1.3, size=len(x)), r.uniform(-0.2, 0.2, size=len(x))
    for n in range(len(x)):
        m = x[n].mean()
        assert np.allclose(out[n], (x[n] - m) * c[n] + m + b[n])


def test_color_shift_offsets_each_channel():
    x = _images()
    out = augment.color_shift(x, rng(), max_shift=0.1, clip=None)
    s = rng().uniform(-0.1, 0.1, size=(5, 2))
    assert np.allclose(out - x, s[:, :, None, None] * np.ones_like(x))


def test_cutout_zeroes_the_clipped_square_around_the_drawn_centre():
    x = _images(h=9, w=9) + 1.0  # no zero pixels before cutout
    out = augment.cutout(x, rng(), size=4)
    r = rng()
    cy, cx = r.integers(0, 9, size=len(x)), r.integers(0, 9, size=len(x))
    for n in range(len(x)):
        expected = x[n].copy()
        expected[:, max(cy[n] - 2, 0):cy[n] + 2, max(cx[n] - 2, 0):cx[n] + 2] = 0.0
        assert np.array_equal(out[n], expected)


def test_transforms_do_not_modify_their_input():
    x = _images()
    before = x.copy()
    for fn in (augment.horizontal_flip, augment.random_crop, augment.random_rotation,
               augment.gaussian_noise, augment.brightness_contrast, augment.color_shift,
               augment.cutout):
        fn(x, rng())
    assert np.array_equal(x, before)


def test_compose_applies_in_order_with_one_generator():
    x = _images()
    both = augment.compose(augment.random_crop, augment.cutout)(x, rng())
    r = rng()
    assert np.array_equal(both, augment.cutout(augment.random_crop(x, r), r))


def test_augmented_network_augments_training_batches_only():
    seen = []

    class Recorder:
        params = {}
        last_loss = 0.5

        def gradient(self, x, t):
            seen.append(x)
            return {}

        def accuracy(self, x, t):
            seen.append(x)
            return 1.0

    x = _images()
    wrapped = augment.AugmentedNetwork(Recorder(), augment.cutout, rng())
    wrapped.gradient(x, None)
    wrapped.accuracy(x, None)
    assert not np.array_equal(seen[0], x) and seen[1] is x
    assert wrapped.last_loss == 0.5
