"""The fast paths of the library (docs/performance.md) compute what the readable formulas do.

Each fast path is compared with the textbook form it replaces, written out here in float64, and
with numerical gradients where it is a backward pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from course.conv import Conv2D, MaxPool2D, col2im, im2col
from course.functions import log_softmax, softmax
from course.gradcheck import THRESHOLDS, check_layer, directional_check
from course.layers import Affine, ReLU, SoftmaxWithLoss
from course.net import MultiLayerNet
from course.normalization import BatchNormalization

RTOL, ATOL = THRESHOLDS["forward_rtol"], THRESHOLDS["forward_atol"]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bn_textbook(x, gamma, beta, dout, eps=1e-5):
    """Batch normalisation node by node (the computational graph of notebook 4_5), (N, D)."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = np.mean(xc**2, axis=0)
    std = np.sqrt(var + eps)
    xn = xc / std
    out = gamma * xn + beta
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -np.sum(dxn * xc / std**2, axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / n) * xc * dvar
    dmu = np.sum(dxc, axis=0)
    dx = dxc - dmu / n
    return out, dx, dgamma, dbeta


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_batchnorm_closed_form_backward_equals_the_node_by_node_graph(dtype, rtol):
    rng = _rng(1)
    x = (3.0 * rng.standard_normal((16, 7)) + 1.0).astype(dtype)
    gamma = (1.0 + 0.3 * rng.standard_normal(7)).astype(dtype)
    beta = rng.standard_normal(7).astype(dtype)
    dout = rng.standard_normal((16, 7)).astype(dtype)
    bn = BatchNormalization(gamma.copy(), beta.copy())
    out = bn.forward(x)
    dx = bn.backward(dout)
    ref = _bn_textbook(*(a.astype(np.float64) for a in (x, gamma, beta, dout)))
    for actual, expected in zip((out, dx, bn.grads["gamma"], bn.grads["beta"]), ref, strict=True):
        assert actual.dtype == dtype
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol)


def test_batchnorm_4d_float32_equals_the_node_by_node_graph_on_nhw_by_c():
    rng = _rng(6)
    x = (2.0 * rng.standard_normal((4, 3, 5, 2)) + 0.5).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    gamma = (1.0 + 0.3 * rng.standard_normal(3)).astype(np.float32)
    beta = rng.standard_normal(3).astype(np.float32)
    bn = BatchNormalization(gamma.copy(), beta.copy())
    out, dx = bn.forward(x), bn.backward(dout)

    def to_rows(a):  # (N, C, H, W) -> (N*H*W, C)
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1]).astype(np.float64)

    ref = _bn_textbook(to_rows(x), gamma.astype(np.float64), beta.astype(np.float64), to_rows(dout))
    actual = (to_rows(out), to_rows(dx), bn.grads["gamma"], bn.grads["beta"])
    for a, expected in zip(actual, ref, strict=True):
        np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-4)
    for a in (out, dx, bn.grads["gamma"], bn.grads["beta"], bn.xn):
        assert a.dtype == np.float32
    x_hat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / bn.std
    np.testing.assert_allclose(bn.xn, x_hat, rtol=1e-4, atol=1e-5)


def test_batchnorm_4d_closed_form_passes_the_gradient_check():
    rng = _rng(2)
    bn = BatchNormalization(1.0 + 0.1 * rng.standard_normal(3), rng.standard_normal(3))
    check_layer(bn, rng.standard_normal((4, 3, 3, 2)))


def test_batchnorm_inference_backward_is_gamma_over_running_std():
    rng = _rng(3)
    bn = BatchNormalization(rng.standard_normal(5), rng.standard_normal(5),
                            running_mean=rng.standard_normal(5), running_var=rng.random(5) + 0.5)
    x, dout = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    bn.forward(x, train=False)
    expected = dout * bn.params["gamma"] / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(bn.backward(dout), expected, rtol=1e-12)


def test_batchnorm_reuses_its_caches_but_never_writes_into_its_input():
    rng = _rng(4)
    bn = BatchNormalization(np.ones(4), np.zeros(4))
    bn.forward(rng.standard_normal((8, 4)))
    xc_array = bn.xc
    for x in (bn.xn, bn.xc):  # feeding the layer its own cache: it must stay unchanged
        x_before = x.copy()
        out = bn.forward(x)
        np.testing.assert_array_equal(x, x_before)
        np.testing.assert_allclose(bn.xn, (x_before - x_before.mean(0)) / bn.std, rtol=1e-12)
        assert not np.shares_memory(out, bn.xn) and not np.shares_memory(out, bn.xc)
    new_x = rng.standard_normal((8, 4))
    bn.forward(new_x)
    assert bn.xc is xc_array or not np.shares_memory(bn.xc, new_x)


def test_batchnorm_accepts_integer_input():
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    out = bn.forward(np.arange(12).reshape(4, 3))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)


def test_relu_backward_is_dout_where_x_positive():
    rng = _rng(5)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    x[0, :3] = 0.0
    dout = rng.standard_normal((10, 6)).astype(np.float32)
    relu = ReLU()
    out = relu.forward(x)
    dx = relu.backward(dout)
    np.testing.assert_array_equal(out, np.where(x <= 0, 0, x))
    np.testing.assert_array_equal(dx, np.where(x <= 0, 0, dout))
    assert out.dtype == dx.dtype == np.float32
    np.testing.assert_array_equal(relu.mask, x <= 0)


def test_affine_backward_params_gives_the_parameter_gradients_of_backward():
    rng = _rng(6)
    x, dout = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 4))
    full = Affine(rng.standard_normal((6, 4)), rng.standard_normal(4))
    only = Affine(full.params["W"].copy(), full.params["b"].copy())
    full.forward(x)
    only.forward(x)
    full.backward(dout)
    assert only.backward_params(dout) is None
    for key in ("W", "b"):
        np.testing.assert_array_equal(only.grads[key], full.grads[key])


def test_net_gradient_without_input_gradient_matches_numerical_gradient():
    rng = _rng(7)
    net = MultiLayerNet(5, [4, 4], 3, use_batchnorm=True, seed=1)
    x, t = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    grads = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    for key in grads:
        np.testing.assert_allclose(grads[key], numeric[key], rtol=1e-5, atol=1e-7)


def test_net_with_a_replaced_first_layer_still_gets_its_full_backward():
    class CountingAffine(Affine):
        calls = 0

        def backward(self, dout):
            CountingAffine.calls += 1
            return super().backward(dout)

    net = MultiLayerNet(4, [3], 2, seed=0)
    first = net.layers["Affine1"]
    replacement = CountingAffine(first.params["W"], first.params["b"])
    replacement.grads = first.grads  # where net.gradient collects dW1, db1
    net.layers["Affine1"] = replacement
    net.gradient(_rng(8).standard_normal((4, 4)), np.array([0, 1, 0, 1]))
    assert CountingAffine.calls == 1


def test_net_loss_without_weight_decay_is_the_data_loss():
    rng = _rng(9)
    net = MultiLayerNet(4, [3], 2, seed=0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 2, 5)
    expected = SoftmaxWithLoss().forward(net.predict(x, train=True), t)
    assert net.loss(x, t) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_equals_log_softmax_and_softmax(one_hot):
    rng = _rng(10)
    x = 30.0 * rng.standard_normal((7, 5))
    labels = rng.integers(0, 5, 7)
    t = np.eye(5)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert loss == pytest.approx(-np.mean(log_softmax(x)[np.arange(7), labels]), rel=1e-14)
    np.testing.assert_array_equal(layer.y, softmax(x))


@pytest.mark.parametrize("stride, pad", [(1, 0), (1, 1), (2, 1), (3, 0)])
def test_conv_forward_and_backward_equal_the_im2col_matrix_form(stride, pad):
    rng = _rng(11)
    x = rng.standard_normal((3, 2, 7, 6))
    W, b = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    conv = Conv2D(W, b, stride, pad)
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    col = im2col(x, 3, 3, stride, pad)
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, 4)
    expected = (col @ W.reshape(4, -1).T + b).reshape(3, *out.shape[2:], 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.col, col, rtol=0, atol=0)
    np.testing.assert_allclose(conv.grads["W"], (col.T @ dout_rows).T.reshape(W.shape),
                               rtol=1e-12, atol=1e-12)
    expected_dx = col2im(dout_rows @ W.reshape(4, -1), x.shape, 3, 3, stride, pad)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12, atol=1e-12)


def test_maxpool_sends_the_gradient_to_the_first_maximum_like_argmax():
    rng = _rng(12)
    x = np.maximum(rng.standard_normal((2, 3, 6, 6)), 0.0)  # many ties at 0
    x[0, 0, :2, :2] = 1.0  # a window whose four elements tie
    pool = MaxPool2D(2, 2)
    out = pool.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = pool.backward(dout)
    windows = im2col(x, 2, 2, 2).reshape(-1, 4)  # rows (n, i, j, c) as im2col orders them
    first_max = np.argmax(windows, axis=1)
    np.testing.assert_array_equal(pool.arg_max, first_max)
    dwin = np.zeros_like(windows)
    dwin[np.arange(len(windows)), first_max] = dout.transpose(0, 2, 3, 1).ravel()
    np.testing.assert_array_equal(dx, col2im(dwin.reshape(-1, 3 * 4), x.shape, 2, 2, 2))
    assert dx[0, 0, 0, 0] == dout[0, 0, 0, 0] and not dx[0, 0, :2, :2].ravel()[1:].any()


def test_directional_check_of_the_fast_net_is_below_1e6_in_three_forward_passes():
    rng = _rng(13)
    net = MultiLayerNet(12, [8, 8], 4, use_batchnorm=True, seed=2)
    x, t = rng.random((10, 12)), rng.integers(0, 4, 10)
    grads = net.gradient(x, t)
    error = directional_check(lambda: net.loss(x, t, train=True), net.params, grads)
    assert error < 1e-6


# Batch normalisation's cache strategy (course/normalization.py: sample tiles, wide rows) on
# shapes where it splits the work: several tiles, a short last tile, k samples per wide row
# (k > 1) or numpy's own broadcasting (k = 1, a prime batch), C = 1, N = 2. _TILE_BYTES is made
# small so that arrays of test size span several tiles.
TILED_SHAPES = [  # (shape, tile bytes, expected k, expected number of tiles)
    ((80, 1024), 40 * 1024 * 8, 16, 3),  # tiles of 32 samples: 32, 32, 16
    ((77, 1031), 25 * 1031 * 8, 11, 4),  # odd sizes: k = 11, tiles of 22: 22, 22, 22, 11
    ((67, 1031), 25 * 1031 * 8, 1, 3),  # a prime batch: k = 1, tiles of 25: 25, 25, 17
    ((12, 3, 45, 45), 4 * 6075 * 8, 2, 3),  # (N, C, H, W): k = 2, tiles of 4
    ((40, 1, 41, 41), 17 * 1681 * 8, 8, 3),  # C = 1: k = 8, tiles of 16: 16, 16, 8
    ((2, 40000), 40000 * 8, 1, 2),  # N = 2: one sample per tile
]


@pytest.mark.parametrize("shape, tile_bytes, k, n_tiles", TILED_SHAPES)
def test_batchnorm_tiles_and_wide_rows_equal_the_node_by_node_graph(
    monkeypatch, shape, tile_bytes, k, n_tiles
):
    import course.normalization as normalization

    monkeypatch.setattr(normalization, "_TILE_BYTES", tile_bytes)
    rng = _rng(7)
    x = 2.0 * rng.standard_normal(shape) + 0.5
    dout = rng.standard_normal(shape)
    c = shape[1]
    gamma, beta = 1.0 + 0.3 * rng.standard_normal(c), rng.standard_normal(c)
    assert normalization._tiles(x)[0] == k and len(normalization._tiles(x)[1]) == n_tiles
    bn = BatchNormalization(gamma.copy(), beta.copy())
    out, dx = bn.forward(x), bn.backward(dout)

    def to_rows(a):  # (N, C, ...) -> (N * ..., C)
        return np.moveaxis(a, 1, -1).reshape(-1, c)

    ref = _bn_textbook(to_rows(x), gamma, beta, to_rows(dout))
    actual = (to_rows(out), to_rows(dx), bn.grads["gamma"], bn.grads["beta"])
    for a, expected in zip(actual, ref, strict=True):
        np.testing.assert_allclose(a, expected, rtol=1e-10, atol=1e-10)
    running_mean, running_var = bn.running_mean.copy(), bn.running_var.copy()
    out_inference = bn.forward(x, train=False)
    expected = (to_rows(x) - running_mean) / np.sqrt(running_var + bn.eps) * gamma + beta
    np.testing.assert_allclose(to_rows(out_inference), expected, rtol=1e-10, atol=1e-10)


def test_batchnorm_tiled_float32_stays_float32_and_close_to_float64(monkeypatch):
    import course.normalization as normalization

    monkeypatch.setattr(normalization, "_TILE_BYTES", 40 * 1024 * 4)
    rng = _rng(8)
    x = (3.0 * rng.standard_normal((80, 1024)) + 1.0).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    gamma = (1.0 + 0.3 * rng.standard_normal(1024)).astype(np.float32)
    beta = rng.standard_normal(1024).astype(np.float32)
    assert len(normalization._tiles(x)[1]) == 3  # 32, 32, 16 samples
    bn = BatchNormalization(gamma.copy(), beta.copy())
    out, dx = bn.forward(x), bn.backward(dout)
    ref = _bn_textbook(*(a.astype(np.float64) for a in (x, gamma, beta, dout)))
    for actual, expected in zip((out, dx, bn.grads["gamma"], bn.grads["beta"]), ref, strict=True):
        assert actual.dtype == np.float32
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_dtype, param_dtype", [
    (np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)])
def test_batchnorm_small_path_equals_the_general_path(monkeypatch, x_dtype, param_dtype):
    """A small (N, D) (the MLP's (100, 100)) takes ``_forward_small`` / ``_backward_small``: the
    same outputs, gradients, running statistics and dtypes as the general path, train and
    inference, over several steps."""
    import course.normalization as normalization

    rng = _rng(9)
    xs = [(2.0 * rng.standard_normal((100, 100)) + 0.5).astype(x_dtype) for _ in range(3)]
    douts = [rng.standard_normal((100, 100)).astype(x_dtype) for _ in range(3)]
    gamma = (1.0 + 0.3 * rng.standard_normal(100)).astype(param_dtype)
    beta = rng.standard_normal(100).astype(param_dtype)

    def run(small: bool):
        monkeypatch.setattr(normalization, "_SMALL", 4 * normalization._ROW_ELEMENTS if small
                            else 0)
        bn = BatchNormalization(gamma.copy(), beta.copy())
        seen = []
        for x, dout in zip(xs, douts, strict=True):
            seen += [bn.forward(x), bn.backward(dout), bn.grads["gamma"], bn.grads["beta"],
                     bn.running_mean, bn.running_var, bn.xn]
        seen += [bn.forward(xs[0], train=False), bn.backward(douts[0]), bn.grads["gamma"]]
        return seen

    calls = []
    original = BatchNormalization._forward_small
    monkeypatch.setattr(BatchNormalization, "_forward_small",
                        lambda self, x, train: (calls.append(x.shape), original(self, x, train))[1])
    small = run(True)
    assert calls == [(100, 100)] * 4  # three training steps and the inference
    general = run(False)
    assert len(calls) == 4  # the general path did not call it
    tol = 1e-12 if x_dtype == np.float64 else 1e-5
    for a, b in zip(small, general, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_bias_gradient_by_gemv_equals_the_sum_over_the_batch(dtype):
    from course.layers import Affine, _ones, _sum_over_batch

    rng = _rng(10)
    dout = rng.standard_normal((100, 10)).astype(dtype)
    got = _sum_over_batch(dout)
    assert got.dtype == dtype and got.shape == (10,)
    np.testing.assert_allclose(got, dout.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-5)
    ints = np.arange(12).reshape(4, 3)  # not float: numpy's own sum, its dtype
    assert _sum_over_batch(ints).tolist() == [18, 22, 26]
    half = np.full((3000, 2), 0.1, dtype=np.float16)  # numpy's float16 sum, not a float16 gemv
    assert _sum_over_batch(half).dtype == np.float16
    np.testing.assert_array_equal(_sum_over_batch(half), half.sum(axis=0))
    assert not _ones(100, np.dtype(dtype)).flags.writeable
    layer = Affine(rng.standard_normal((7, 10)).astype(dtype), np.zeros(10, dtype))
    layer.forward(rng.standard_normal((100, 7)).astype(dtype))
    layer.backward(dout)
    np.testing.assert_allclose(layer.grads["b"], dout.sum(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("small", [True, False])
def test_batchnorm_takes_parameters_and_statistics_of_any_shape_of_d_values(monkeypatch, small):
    """gamma, beta and the running statistics given as (1, D) or (D, 1) (D values either way)
    give what the same layer gives with (D,), on the small path and on the general one; the
    running statistics keep their shape."""
    import course.normalization as normalization

    if not small:
        monkeypatch.setattr(normalization, "_SMALL", 0)
    rng = _rng(11)
    x, dout = rng.standard_normal((16, 5)) + 1.0, rng.standard_normal((16, 5))
    gamma, beta = 1.0 + 0.2 * rng.standard_normal(5), rng.standard_normal(5)
    mean, var = rng.standard_normal(5), 1.0 + rng.random(5)
    reference = BatchNormalization(gamma.copy(), beta.copy(), running_mean=mean.copy(),
                                   running_var=var.copy())
    expected = [reference.forward(x), reference.backward(dout),
                reference.forward(x, train=False), reference.backward(dout)]
    for shape in ((1, 5), (5, 1)):
        bn = BatchNormalization(gamma.reshape(shape).copy(), beta.reshape(shape).copy(),
                                running_mean=mean.reshape(shape).copy(),
                                running_var=var.reshape(shape).copy())
        got = [bn.forward(x), bn.backward(dout), bn.forward(x, train=False), bn.backward(dout)]
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape == x.shape
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert bn.grads["gamma"].shape == shape
        assert bn.running_mean.shape == bn.running_var.shape == shape
