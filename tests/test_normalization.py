"""course.normalization: batch / layer / instance / group normalization."""

import numpy as np
import pytest

from course.gradcheck import THRESHOLDS, check_layer, numerical_gradient, rel_error
from course.normalization import (
    BatchNormalization,
    GroupNormalization,
    InstanceNormalization,
    LayerNormalization,
)

RTOL, ATOL = THRESHOLDS["forward_rtol"], THRESHOLDS["forward_atol"]


def _gamma_beta(c, seed=0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return (1 + 0.5 * r.standard_normal(c)).astype(dtype), r.standard_normal(c).astype(dtype)


def _x(shape, seed=1):
    r = np.random.default_rng(seed)
    # feature-dependent mean and scale, so that normalization has something to do
    scale = np.linspace(0.5, 3.0, shape[1]).reshape((1, -1) + (1,) * (len(shape) - 2))
    return 2.0 + scale * r.standard_normal(shape)


def _bn_with_running_stats(c):
    r = np.random.default_rng(5)
    return BatchNormalization(
        *_gamma_beta(c), running_mean=r.standard_normal(c), running_var=r.uniform(0.5, 2.0, c)
    )


def _assert_check_layer_passes(layer, x, train=True):
    errors = check_layer(layer, x, train=train)
    assert errors["dx"] < THRESHOLDS["dx"]
    assert errors["dgamma"] < THRESHOLDS["gamma_beta"]
    assert errors["dbeta"] < THRESHOLDS["gamma_beta"]


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3, 2)], ids=["2d", "4d"])
def test_batchnorm_passes_gradient_check_in_training(shape):
    _assert_check_layer_passes(BatchNormalization(*_gamma_beta(shape[1])), _x(shape))


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3, 2)], ids=["2d", "4d"])
def test_batchnorm_passes_gradient_check_in_inference(shape):
    _assert_check_layer_passes(_bn_with_running_stats(shape[1]), _x(shape), train=False)


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3, 2)], ids=["2d", "4d"])
def test_layernorm_passes_gradient_check(shape):
    _assert_check_layer_passes(LayerNormalization(*_gamma_beta(shape[1])), _x(shape))


def test_instancenorm_passes_gradient_check():
    _assert_check_layer_passes(InstanceNormalization(*_gamma_beta(3)), _x((4, 3, 3, 2)))


def test_groupnorm_passes_gradient_check():
    _assert_check_layer_passes(GroupNormalization(*_gamma_beta(6), num_groups=3), _x((4, 6, 2, 2)))


def test_batchnorm_closed_form_backward_equals_numerical_gradient():
    x = _x((8, 4))
    gamma, beta = _gamma_beta(4)
    bn = BatchNormalization(gamma, beta)
    dout = np.random.default_rng(9).standard_normal(x.shape)

    def loss():
        return float(np.sum(bn.forward(x) * dout))

    num = {"dx": numerical_gradient(loss, x), "dgamma": numerical_gradient(loss, gamma),
           "dbeta": numerical_gradient(loss, beta)}
    bn.forward(x)
    dx = bn.backward(dout)
    assert rel_error(dx, num["dx"]) < THRESHOLDS["dx"]
    assert rel_error(bn.grads["gamma"], num["dgamma"]) < THRESHOLDS["gamma_beta"]
    assert rel_error(bn.grads["beta"], num["dbeta"]) < THRESHOLDS["gamma_beta"]


def test_batchnorm_training_forward_matches_the_formula():
    x = _x((7, 3))
    gamma, beta = _gamma_beta(3)
    bn = BatchNormalization(gamma, beta)
    out = bn.forward(x)
    mu = x.sum(axis=0) / 7
    var = ((x - mu) ** 2).sum(axis=0) / 7  # biased
    expected = gamma * (x - mu) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(bn.xn, (x - mu) / np.sqrt(var + 1e-5), rtol=RTOL, atol=ATOL)
    assert bn.batch_size == 7


def test_batchnorm_inference_uses_running_stats_and_never_changes_them():
    bn = _bn_with_running_stats(4)
    mean0, var0 = bn.running_mean.copy(), bn.running_var.copy()
    x = _x((5, 4))
    out = bn.forward(x, train=False)
    gamma, beta = bn.params["gamma"], bn.params["beta"]
    np.testing.assert_allclose(out, gamma * (x - mean0) / np.sqrt(var0 + 1e-5) + beta,
                               rtol=RTOL, atol=ATOL)
    bn.backward(np.ones_like(out))
    bn.forward(_x((3, 4), seed=2), train=False)
    np.testing.assert_array_equal(bn.running_mean, mean0)
    np.testing.assert_array_equal(bn.running_var, var0)


def test_batchnorm_inference_output_does_not_depend_on_the_rest_of_the_batch():
    bn = _bn_with_running_stats(4)
    x = _x((6, 4))
    np.testing.assert_allclose(bn.forward(x, train=False)[:2], bn.forward(x[:2], train=False))


def test_batchnorm_running_stats_start_at_zero_mean_and_unit_variance():
    bn = BatchNormalization(*_gamma_beta(3), momentum=0.0)
    bn.forward(_x((4, 3)), train=False)
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))


def test_batchnorm_running_stats_after_two_training_steps_follow_momentum_formula():
    x1, x2 = _x((6, 3), seed=1), _x((6, 3), seed=2)
    bn = BatchNormalization(*_gamma_beta(3), momentum=0.9)
    bn.forward(x1)
    bn.forward(x2)
    mean, var = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        mean = 0.9 * mean + 0.1 * x.mean(axis=0)
        var = 0.9 * var + 0.1 * x.var(axis=0)  # biased batch variance (ddof=0)
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)


def test_batchnorm_nchw_equals_2d_version_on_data_reshaped_to_nhw_by_c():
    r = np.random.default_rng(3)
    n, c, h, w = 4, 3, 5, 2
    x = _x((n, c, h, w))
    dout = r.standard_normal(x.shape)
    gamma, beta = _gamma_beta(c)
    bn4, bn2 = BatchNormalization(gamma, beta), BatchNormalization(gamma, beta)

    def to_2d(a):
        return a.transpose(0, 2, 3, 1).reshape(n * h * w, c)

    out4 = bn4.forward(x)
    out2 = bn2.forward(to_2d(x))
    np.testing.assert_allclose(to_2d(out4), out2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_2d(bn4.backward(dout)), bn2.backward(to_2d(dout)),
                               rtol=1e-10, atol=1e-12)
    for key in ("gamma", "beta"):
        np.testing.assert_allclose(bn4.grads[key], bn2.grads[key], rtol=1e-10)
    np.testing.assert_allclose(bn4.running_mean, bn2.running_mean, rtol=1e-12)
    np.testing.assert_allclose(bn4.running_var, bn2.running_var, rtol=1e-12)


def test_batchnorm_training_output_has_zero_mean_and_unit_variance_per_channel():
    x = _x((4, 3, 5, 5))
    out = BatchNormalization(np.ones(3), np.zeros(3)).forward(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_batchnorm_keeps_float32_running_stats_for_float32_input():
    gamma, beta = _gamma_beta(3, dtype=np.float32)
    bn = BatchNormalization(gamma, beta)
    bn.forward(_x((4, 3)).astype(np.float32))
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32


def test_batchnorm_rejects_gamma_of_the_wrong_size():
    with pytest.raises(ValueError, match="gamma"):
        BatchNormalization(*_gamma_beta(4)).forward(_x((5, 3)))


def test_layernorm_2d_equals_batchnorm_of_the_transposed_input():
    x = _x((5, 7))
    ln = LayerNormalization(np.ones(7), np.zeros(7)).forward(x)
    bn = BatchNormalization(np.ones(5), np.zeros(5)).forward(x.T).T
    np.testing.assert_allclose(ln, bn, rtol=1e-10, atol=1e-12)


def test_layernorm_normalizes_each_sample_and_scales_per_channel():
    x = _x((3, 4, 2, 2))
    gamma, beta = _gamma_beta(4)
    out = LayerNormalization(gamma, beta).forward(x)
    mu = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    expected = gamma.reshape(1, 4, 1, 1) * (x - mu) / np.sqrt(var + 1e-5) + beta.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_instancenorm_normalizes_each_sample_and_channel_over_h_w():
    x = _x((3, 4, 3, 3))
    out = InstanceNormalization(np.ones(4), np.zeros(4)).forward(x)
    np.testing.assert_allclose(out.mean(axis=(2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(out.var(axis=(2, 3)), 1, rtol=1e-3)


def test_groupnorm_with_c_groups_equals_instancenorm_and_with_one_group_equals_layernorm():
    x = _x((3, 4, 3, 2))
    gamma, beta = _gamma_beta(4)
    dout = np.random.default_rng(4).standard_normal(x.shape)
    for gn, other in [
        (GroupNormalization(gamma, beta, num_groups=4), InstanceNormalization(gamma, beta)),
        (GroupNormalization(gamma, beta, num_groups=1), LayerNormalization(gamma, beta)),
    ]:
        np.testing.assert_allclose(gn.forward(x), other.forward(x), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gn.backward(dout), other.backward(dout), rtol=1e-8, atol=1e-12)


def test_groupnorm_normalizes_each_group_of_channels():
    x = _x((2, 6, 2, 2))
    out = GroupNormalization(np.ones(6), np.zeros(6), num_groups=2).forward(x)
    grouped = out.reshape(2, 2, 3, 2, 2)
    np.testing.assert_allclose(grouped.mean(axis=(2, 3, 4)), 0, atol=1e-10)
    np.testing.assert_allclose(grouped.var(axis=(2, 3, 4)), 1, rtol=1e-3)


def test_groupnorm_rejects_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match="divisible"):
        GroupNormalization(np.ones(6), np.zeros(6), num_groups=4).forward(_x((2, 6, 2, 2)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LayerNormalization(*_gamma_beta(4)),
        lambda: InstanceNormalization(*_gamma_beta(4)),
        lambda: GroupNormalization(*_gamma_beta(4), num_groups=2),
    ],
    ids=["layer", "instance", "group"],
)
def test_layer_instance_group_norm_are_the_same_in_train_and_inference(make):
    x = _x((3, 4, 2, 2))
    layer = make()
    np.testing.assert_array_equal(layer.forward(x, train=True), layer.forward(x, train=False))


@pytest.mark.parametrize("shape", [(1, 4), (1, 3, 1, 1)])
def test_batch_norm_refuses_one_value_per_feature_in_training(shape):
    """PyTorch raises too: one sample's variance is 0 and the output would be beta."""
    c = shape[1]
    bn = BatchNormalization(*_gamma_beta(c))
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.raises(ValueError, match="more than 1 value per feature"):
        bn.forward(x, train=True)
    assert bn.forward(x, train=False).shape == shape  # inference uses the running statistics
    assert BatchNormalization(*_gamma_beta(3)).forward(np.ones((1, 3, 2, 2))).shape == (1, 3, 2, 2)
