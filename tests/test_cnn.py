"""course.cnn.SimpleConvNet: shapes, whole-net gradient check, training with the Trainer."""

import numpy as np
import pytest

from course.cnn import SimpleConvNet
from course.conv import GlobalAvgPool
from course.gradcheck import THRESHOLDS, rel_error
from course.optim import Adam
from course.train import Trainer


def _tiny(global_pool=False, input_dim=(2, 8, 8), seed=0):
    return SimpleConvNet(input_dim=input_dim, filter_num=3, filter_size=3, pad=1,
                         hidden_size=5, output_size=4, global_pool=global_pool, seed=seed)


def _batch(input_dim=(2, 8, 8), n=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *input_dim)), rng.integers(0, 4, size=n)


def test_parameter_shapes_follow_the_textbook_names():
    net = SimpleConvNet()  # (1, 28, 28), 30 filters 5x5, pool 2: 30 * 12 * 12 -> 100 -> 10
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}


def test_params_are_the_arrays_the_layers_hold():
    net = _tiny()
    assert net.params["W1"] is net.layers["Conv1"].params["W"]
    assert net.params["W2"] is net.layers["Affine1"].params["W"]


def test_predict_returns_one_score_per_class():
    x, _ = _batch()
    assert _tiny().predict(x).shape == (4, 4)


@pytest.mark.parametrize("global_pool", [False, True])
def test_backprop_matches_numerical_gradient_of_the_whole_net(global_pool):
    net = _tiny(global_pool)
    x, t = _batch()
    numeric = net.numerical_gradient(x, t)
    analytic = net.gradient(x, t)
    for name in net.params:
        assert rel_error(analytic[name], numeric[name]) < THRESHOLDS["net"], name


def test_global_pool_head_does_not_depend_on_the_input_size():
    small = SimpleConvNet(input_dim=(1, 28, 28), global_pool=True)
    large = SimpleConvNet(input_dim=(1, 36, 36), global_pool=True)
    assert small.params["W2"].shape == large.params["W2"].shape == (30, 100)
    x = np.random.default_rng(0).random((2, 1, 36, 36))
    assert isinstance(small.layers["GAP"], GlobalAvgPool)
    assert small.predict(x).shape == (2, 10)  # the 28x28 net runs on 36x36 images


def test_flatten_head_grows_with_the_input_size():
    assert SimpleConvNet(input_dim=(1, 36, 36)).params["W2"].shape == (30 * 16 * 16, 100)


def test_float32_net_keeps_float32():
    net = SimpleConvNet(input_dim=(1, 8, 8), filter_num=2, filter_size=3, hidden_size=4,
                        dtype=np.float32)
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, np.array([0, 1, 2])).values())


def test_trainer_fits_a_tiny_batch():
    x, t = _batch(n=8, seed=3)
    net = SimpleConvNet(input_dim=(2, 8, 8), filter_num=4, filter_size=3, pad=1,
                        hidden_size=16, output_size=4)
    history = Trainer(net, Adam(0.01), x, t, epochs=100, batch_size=8, progress=False).train()
    assert history["train_loss"][-1] < 0.1 * history["train_loss"][0]
    assert net.accuracy(x, t) == 1.0
