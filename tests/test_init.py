"""course.init: the std of each initialisation, seeding, shapes."""

import math

import numpy as np
import pytest

from course.init import (
    bias,
    fan_in_of,
    fan_out_of,
    glorot,
    he,
    init_std,
    lecun,
    normal,
    weight_std,
    xavier,
)

# 200 x 400 = 80k samples: the sample std is within about 0.25% of the true one (1 sigma).
FAN_IN, FAN_OUT = 200, 400
STD_RTOL = 0.02


@pytest.mark.parametrize(
    ("weight_init_std", "expected"),
    [
        (0.01, 0.01),
        (1, 1.0),
        ("xavier", math.sqrt(1 / 50)),
        ("sigmoid", math.sqrt(1 / 50)),
        ("lecun", math.sqrt(1 / 50)),
        ("he", math.sqrt(2 / 50)),
        ("relu", math.sqrt(2 / 50)),
        ("He", math.sqrt(2 / 50)),
    ],
)
def test_init_std_values(weight_init_std, expected):
    assert init_std(weight_init_std, 50) == pytest.approx(expected, rel=1e-15)
    assert isinstance(init_std(weight_init_std, 50), float)


def test_weight_std_is_init_std():
    assert weight_std("he", 30) == init_std("he", 30)


def test_init_std_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown weight_init_std"):
        init_std("glorot_uniform", 10)


@pytest.mark.parametrize(
    ("make", "expected_std"),
    [
        (lambda rng: normal(FAN_IN, FAN_OUT, 0.01, rng), 0.01),
        (lambda rng: normal(FAN_IN, FAN_OUT, "he", rng), math.sqrt(2 / FAN_IN)),
        (lambda rng: xavier(FAN_IN, FAN_OUT, rng), math.sqrt(1 / FAN_IN)),
        (lambda rng: he(FAN_IN, FAN_OUT, rng), math.sqrt(2 / FAN_IN)),
        (lambda rng: lecun(FAN_IN, FAN_OUT, rng), math.sqrt(1 / FAN_IN)),
        (lambda rng: glorot(FAN_IN, FAN_OUT, rng), math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ],
    ids=["normal_0.01", "normal_he", "xavier", "he", "lecun", "glorot"],
)
def test_initialised_weights_have_the_expected_std_and_zero_mean(make, expected_std):
    W = make(np.random.default_rng(0))
    assert W.shape == (FAN_IN, FAN_OUT) and W.dtype == np.float64
    assert W.std() == pytest.approx(expected_std, rel=STD_RTOL)
    assert abs(W.mean()) < 5 * expected_std / math.sqrt(W.size)  # 5 sigma of the sample mean


def test_same_seed_gives_same_weights_and_different_seeds_differ():
    np.testing.assert_array_equal(he(10, 5, rng=3), he(10, 5, rng=3))
    np.testing.assert_array_equal(
        he(10, 5, rng=np.random.default_rng(3)), he(10, 5, rng=np.random.default_rng(3))
    )
    assert not np.array_equal(he(10, 5, rng=3), he(10, 5, rng=4))


def test_a_shared_generator_advances_between_calls():
    rng = np.random.default_rng(0)
    assert not np.array_equal(xavier(10, 5, rng), xavier(10, 5, rng))


def test_conv_shape_uses_channels_times_filter_size_as_fan_in():
    FN, C, FH, FW = 64, 16, 5, 5
    assert fan_in_of((FN, C, FH, FW)) == C * FH * FW
    W = he(C * FH * FW, FN, rng=0, shape=(FN, C, FH, FW))
    assert W.shape == (FN, C, FH, FW)
    assert W.std() == pytest.approx(math.sqrt(2 / (C * FH * FW)), rel=STD_RTOL)


def test_fan_in_of_affine_shape_is_first_axis():
    assert fan_in_of((784, 100)) == 784


def test_shape_inconsistent_with_fan_in_is_rejected():
    with pytest.raises(ValueError, match="fan_in"):
        he(3, 8, rng=0, shape=(8, 3, 3, 3))


def test_bias_is_filled_with_value():
    np.testing.assert_array_equal(bias(4), np.zeros(4))
    b = bias(3, value=0.01)
    assert b.shape == (3,) and b.dtype == np.float64
    np.testing.assert_array_equal(b, [0.01, 0.01, 0.01])


def test_glorot_is_not_the_textbook_xavier_unless_fan_in_equals_fan_out():
    # The textbook's "Xavier" is LeCun's sqrt(1/fan_in); Glorot's averages fan_in and fan_out.
    assert init_std("glorot", 100, 300) == pytest.approx(math.sqrt(2 / 400), rel=1e-15)
    assert init_std("glorot", 100, 300) != pytest.approx(init_std("xavier", 100))
    assert init_std("glorot", 64, 64) == pytest.approx(init_std("lecun", 64), rel=1e-15)
    np.testing.assert_array_equal(xavier(7, 3, rng=1), lecun(7, 3, rng=1))


def test_glorot_needs_fan_out():
    with pytest.raises(ValueError, match="needs fan_out"):
        init_std("glorot", 10)


def test_glorot_of_a_conv_filter_bank_uses_fn_times_filter_size():
    shape = (16, 3, 5, 5)
    assert fan_out_of(shape) == 16 * 5 * 5
    W = glorot(3 * 5 * 5, 16, rng=0, shape=shape)
    assert W.std() == pytest.approx(math.sqrt(2 / (75 + 400)), rel=0.05)
