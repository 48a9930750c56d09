"""course.conv: im2col/col2im, convolution and pooling against loop-based references."""

import numpy as np
import pytest

from course.conv import (
    AvgPool2D,
    Conv2D,
    GlobalAvgPool,
    MaxPool2D,
    col2im,
    conv_output_size,
    im2col,
)
from course.gradcheck import THRESHOLDS, check_layer

RTOL, ATOL = THRESHOLDS["forward_rtol"], THRESHOLDS["forward_atol"]


# --- loop-based references (test-only; deliberately naive) --------------------------------------


def naive_conv(x, W, b, stride, pad):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    OH = (H + 2 * pad - FH) // stride + 1
    OW = (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    patch = xp[n, :, i * stride : i * stride + FH, j * stride : j * stride + FW]
                    out[n, f, i, j] = np.sum(patch * W[f]) + b[f]
    return out


def naive_pool(x, ph, pw, stride, reduce):
    N, C, H, W = x.shape
    OH = (H - ph) // stride + 1
    OW = (W - pw) // stride + 1
    out = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


def _params(fn, c, fh, fw, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((fn, c, fh, fw)), r.standard_normal(fn)


# --- output size and im2col ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "in_size, filter_size, stride, pad, expected",
    [(28, 5, 1, 0, 24), (28, 3, 1, 1, 28), (7, 3, 2, 0, 3), (7, 3, 2, 1, 4), (4, 2, 2, 0, 2)],
)
def test_conv_output_size_is_h_plus_2pad_minus_fh_over_stride_plus_one(
    in_size, filter_size, stride, pad, expected
):
    assert conv_output_size(in_size, filter_size, stride, pad) == expected


def test_conv_output_size_rejects_a_filter_larger_than_the_input():
    with pytest.raises(ValueError):
        conv_output_size(3, 5, 1, 0)


def test_im2col_rows_are_flattened_patches():
    x = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3)
    col = im2col(x, 2, 2, stride=1, pad=0)
    assert col.shape == (2 * 2 * 2, 2 * 2 * 2)
    # row order (n, i, j): row 3 is sample 0, output position (1, 1)
    np.testing.assert_array_equal(col[3], x[0, :, 1:3, 1:3].ravel())
    np.testing.assert_array_equal(col[4], x[1, :, 0:2, 0:2].ravel())


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (1, 2)])
def test_col2im_is_the_adjoint_of_im2col(stride, pad):
    # <im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col's backward pass.
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3, 5, 4))
    c = r.standard_normal(im2col(x, 3, 2, stride, pad).shape)
    lhs = np.sum(im2col(x, 3, 2, stride, pad) * c)
    rhs = np.sum(x * col2im(c, x.shape, 3, 2, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12)


# --- Conv2D -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (1, 1), (2, 0)])
def test_conv2d_forward_equals_naive_convolution(stride, pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6))
    W, b = _params(4, 3, 3, 2)
    out = Conv2D(W, b, stride=stride, pad=pad).forward(x)
    np.testing.assert_allclose(out, naive_conv(x, W, b, stride, pad), rtol=RTOL, atol=ATOL)


def test_conv2d_output_shape_with_stride_and_padding():
    x = np.zeros((2, 3, 28, 28))
    W, b = _params(8, 3, 5, 5)
    assert Conv2D(W, b, stride=1, pad=2).forward(x).shape == (2, 8, 28, 28)
    assert Conv2D(W, b, stride=2, pad=0).forward(x).shape == (2, 8, 12, 12)


def test_conv2d_rejects_mismatched_channels():
    W, b = _params(2, 3, 3, 3)
    with pytest.raises(ValueError, match="channels"):
        Conv2D(W, b).forward(np.zeros((1, 2, 5, 5)))


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (1, 1)])
def test_conv2d_passes_gradient_check(stride, pad):
    x = np.random.default_rng(2).standard_normal((4, 2, 5, 5))
    errors = check_layer(Conv2D(*_params(3, 2, 3, 3), stride=stride, pad=pad), x)
    assert errors["dx"] < THRESHOLDS["dx"]
    assert errors["dW"] < THRESHOLDS["param"] and errors["db"] < THRESHOLDS["param"]


# --- pooling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 1), (2, 1)])
def test_maxpool_forward_equals_naive_max(pool, stride):
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 5))
    out = MaxPool2D(pool, pool, stride=stride).forward(x)
    np.testing.assert_array_equal(out, naive_pool(x, pool, pool, stride, np.max))


@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 1), (2, 1)])
def test_avgpool_forward_equals_naive_mean(pool, stride):
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 5))
    out = AvgPool2D(pool, pool, stride=stride).forward(x)
    expected = naive_pool(x, pool, pool, stride, np.mean)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_pool_stride_defaults_to_the_pool_size():
    x = np.zeros((1, 1, 6, 6))
    assert MaxPool2D(2, 2).forward(x).shape == (1, 1, 3, 3)
    assert AvgPool2D(3, 3).forward(x).shape == (1, 1, 2, 2)


def test_maxpool_backward_routes_the_gradient_to_the_maximum_of_each_window():
    x = np.array([[[[1.0, 2.0, 0.0, -1.0], [4.0, 3.0, 5.0, 2.0]]]])  # (1, 1, 2, 4)
    layer = MaxPool2D(2, 2, stride=2)
    np.testing.assert_array_equal(layer.forward(x), [[[[4.0, 5.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 20.0, 0.0]]]])


def test_avgpool_backward_spreads_the_gradient_evenly_over_each_window():
    layer = AvgPool2D(2, 2, stride=2)
    layer.forward(np.zeros((1, 1, 2, 4)))
    dx = layer.backward(np.array([[[[4.0, 8.0]]]]))
    np.testing.assert_array_equal(dx, [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]])


def test_maxpool_padding_never_wins_the_max():
    x = -1.0 - np.random.default_rng(0).random((1, 2, 4, 4))  # all negative
    out = MaxPool2D(2, 2, stride=2, pad=1).forward(x)
    assert out.shape == (1, 2, 3, 3)
    assert np.all(out < 0)
    np.testing.assert_array_equal(out[:, :, 0, 0], x[:, :, 0, 0])


def test_pool_rejects_padding_larger_than_half_the_window():
    with pytest.raises(ValueError):
        MaxPool2D(2, 2, pad=2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MaxPool2D(2, 2, stride=2),
        lambda: MaxPool2D(3, 3, stride=1, pad=1),
        lambda: AvgPool2D(2, 2, stride=2),
        lambda: AvgPool2D(3, 3, stride=2, pad=1),
        lambda: GlobalAvgPool(),
    ],
    ids=["max", "max-overlap-pad", "avg", "avg-overlap-pad", "global-avg"],
)
def test_pooling_passes_gradient_check(make):
    x = np.random.default_rng(4).standard_normal((4, 2, 5, 5))
    assert check_layer(make(), x)["dx"] < THRESHOLDS["dx"]


def test_global_avg_pool_is_the_mean_over_h_and_w():
    x = np.random.default_rng(5).standard_normal((3, 4, 5, 2))
    layer = GlobalAvgPool()
    out = layer.forward(x)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3)), rtol=RTOL, atol=ATOL)
    dx = layer.backward(np.ones((3, 4)))
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 10))


def test_pooling_stride_defaults_to_the_window_in_each_direction_as_pytorch():
    """2x3 windows over 6x9: stride (2, 3) and a 3x3 output, as torch.nn.MaxPool2d((2, 3))."""
    x = np.arange(6 * 9, dtype=float).reshape(1, 1, 6, 9)
    pool = MaxPool2D(2, 3)
    out = pool.forward(x)
    assert out.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(out[0, 0], x[0, 0].reshape(3, 2, 3, 3).max(axis=(1, 3)))
    dx = pool.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.sum() == 9
    assert AvgPool2D(2, 3).forward(x).shape == (1, 1, 3, 3)
    assert MaxPool2D(2, 3, stride=(1, 2)).forward(x).shape == (1, 1, 5, 4)
    assert MaxPool2D(2, 2).stride == 2  # square windows keep an int stride
