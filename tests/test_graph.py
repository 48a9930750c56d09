"""course.graph: nodes vs numerical gradients; BN and weight decay vs closed forms."""

import numpy as np
import pytest

from course.gradcheck import THRESHOLDS, numerical_gradient, rel_error
from course.graph import (
    BLANK,
    BN_INTERMEDIATES,
    Add,
    Broadcast,
    MatMul,
    Mean,
    Multiply,
    Reciprocal,
    ReLU,
    Scale,
    SoftmaxWithLoss,
    Sqrt,
    Square,
    Subtract,
    Sum,
    batchnorm_graph_backward,
    batchnorm_graph_forward,
    graph_problems,
    run_graph,
    unbroadcast,
    weight_decay_graph_backward,
    weight_decay_graph_forward,
)
from course.layers import SoftmaxWithLoss as LayerSoftmaxWithLoss

EPS = 1e-5


def assert_node_gradients(node, *inputs, seed=0):
    """Backward of ``node`` equals the numerical gradient of L = sum(forward(*inputs) * dout)."""
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    out = node.forward(*inputs)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out))
    analytic = node.backward(dout.copy())
    assert isinstance(analytic, tuple) and len(analytic) == len(inputs)

    def loss():
        return float(np.sum(node.forward(*inputs) * dout))

    for i, (x, grad) in enumerate(zip(inputs, analytic, strict=True)):
        assert np.shape(grad) == x.shape, f"input {i}: grad shape {np.shape(grad)} != {x.shape}"
        err = rel_error(grad, numerical_gradient(loss, x))
        assert err < THRESHOLDS["dx"], f"input {i}: relative error {err:.1e}"


def random(shape, seed=1, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, size=shape)
    return rng.standard_normal(shape)


# Pairs of input shapes, equal and broadcasting (trailing, leading, length-1 axes, scalar).
BINARY_SHAPES = [
    ((4, 3), (4, 3)),
    ((4, 3), (3,)),
    ((4, 3), (4, 1)),
    ((1, 3), (4, 3)),
    ((4, 1, 5), (3, 1)),
    ((4, 3), ()),
]


@pytest.mark.parametrize("node_cls", [Add, Subtract, Multiply])
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
def test_binary_node_gradients_match_numerical_with_broadcasting(node_cls, shapes):
    x_shape, y_shape = shapes
    assert_node_gradients(node_cls(), random(x_shape, seed=1), random(y_shape, seed=2))


@pytest.mark.parametrize(
    ("node_cls", "expected"),
    [(Add, np.add), (Subtract, np.subtract), (Multiply, np.multiply)],
)
def test_binary_node_forward_is_the_numpy_operation(node_cls, expected):
    x, y = random((4, 3), seed=1), random((3,), seed=2)
    np.testing.assert_array_equal(node_cls().forward(x, y), expected(x, y))


@pytest.mark.parametrize(
    ("node", "x", "expected"),
    [
        (Square(), random((4, 3)), lambda x: x**2),
        (Sqrt(), random((4, 3), low=0.5, high=2.0), np.sqrt),
        (Reciprocal(), random((4, 3), low=0.5, high=2.0), lambda x: 1.0 / x),
        (Scale(-2.5), random((4, 3)), lambda x: -2.5 * x),
    ],
    ids=["Square", "Sqrt", "Reciprocal", "Scale"],
)
def test_unary_node_forward_and_gradient(node, x, expected):
    np.testing.assert_allclose(node.forward(x), expected(x), rtol=1e-15)
    assert_node_gradients(node, x)


@pytest.mark.parametrize("node_cls", [Sum, Mean])
@pytest.mark.parametrize("axis", [0, 1, (0, 2), None])
@pytest.mark.parametrize("keepdims", [True, False])
def test_reduction_node_forward_and_gradient(node_cls, axis, keepdims):
    x = random((4, 3, 2))
    node = node_cls(axis=axis, keepdims=keepdims)
    reference = np.sum if node_cls is Sum else np.mean
    np.testing.assert_allclose(node.forward(x), reference(x, axis=axis, keepdims=keepdims))
    assert_node_gradients(node, x)


def test_reduction_nodes_keep_dims_by_default():
    x = random((4, 3))
    assert Sum(axis=0).forward(x).shape == (1, 3)
    assert Mean(axis=0).forward(x).shape == (1, 3)


@pytest.mark.parametrize(
    ("x_shape", "shape"),
    [((3,), (4, 3)), ((4, 1), (4, 3)), ((1, 3, 1), (4, 3, 2)), ((), (4, 3))],
    ids=str,
)
def test_broadcast_node_forward_and_gradient(x_shape, shape):
    x = random(x_shape)
    node = Broadcast(shape)
    np.testing.assert_array_equal(node.forward(x), np.broadcast_to(x, shape))
    assert_node_gradients(node, x)


def test_unbroadcast_sums_over_added_and_stretched_axes():
    grad = random((2, 4, 3))
    np.testing.assert_allclose(unbroadcast(grad, (3,)), grad.sum(axis=(0, 1)))
    np.testing.assert_allclose(unbroadcast(grad, (4, 1)), grad.sum(axis=(0, 2))[:, None])
    np.testing.assert_allclose(unbroadcast(grad, (2, 4, 3)), grad)
    assert unbroadcast(grad, ()).shape == ()


@pytest.mark.parametrize(
    ("node", "inputs"),
    [
        (Add(), (random((4, 3)), random((3,)))),
        (Multiply(), (random((4, 3)), random((4, 1)))),
        (Sqrt(), (random((4, 3), low=0.5, high=2.0),)),
        (Mean(axis=0), (random((4, 3)),)),
    ],
    ids=["Add", "Multiply", "Sqrt", "Mean"],
)
def test_nodes_do_not_modify_inputs_or_dout(node, inputs):
    saved = [a.copy() for a in inputs]
    out = node.forward(*inputs)
    dout = random(np.shape(out), seed=5)
    dout_saved = dout.copy()
    node.backward(dout)
    for a, b in zip(inputs, saved, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dout, dout_saved)


# ----------------------------------------------------------------- batch normalisation by graph


def closed_form_bn_forward(x, gamma, beta, eps=EPS):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta


def closed_form_bn_backward(dout, x, gamma, eps=EPS):
    N = x.shape[0]
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0)) / (N * std)
    return dx, np.sum(dout * xhat, axis=0), dout.sum(axis=0)


@pytest.fixture
def bn_inputs():
    rng = np.random.default_rng(0)
    N, D = 8, 5
    x = rng.normal(loc=1.5, scale=2.0, size=(N, D))
    gamma = rng.uniform(0.5, 1.5, size=D)
    beta = rng.standard_normal(D)
    dout = rng.standard_normal((N, D))
    return x, gamma, beta, dout


def test_bn_graph_forward_equals_closed_form(bn_inputs):
    x, gamma, beta, _ = bn_inputs
    out, _ = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    np.testing.assert_allclose(
        out,
        closed_form_bn_forward(x, gamma, beta),
        rtol=THRESHOLDS["forward_rtol"],
        atol=THRESHOLDS["forward_atol"],
    )


def test_bn_graph_backward_equals_closed_form(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    dx, dgamma, dbeta, _ = batchnorm_graph_backward(dout, cache)
    dx_ref, dgamma_ref, dbeta_ref = closed_form_bn_backward(dout, x, gamma)
    assert rel_error(dx, dx_ref) < THRESHOLDS["dx"]
    assert rel_error(dgamma, dgamma_ref) < THRESHOLDS["gamma_beta"]
    assert rel_error(dbeta, dbeta_ref) < THRESHOLDS["gamma_beta"]


def test_bn_graph_backward_matches_numerical_gradients(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    dx, dgamma, dbeta, _ = batchnorm_graph_backward(dout, cache)

    def loss():
        return float(np.sum(batchnorm_graph_forward(x, gamma, beta, eps=EPS)[0] * dout))

    assert rel_error(dx, numerical_gradient(loss, x)) < THRESHOLDS["dx"]
    assert rel_error(dgamma, numerical_gradient(loss, gamma)) < THRESHOLDS["gamma_beta"]
    assert rel_error(dbeta, numerical_gradient(loss, beta)) < THRESHOLDS["gamma_beta"]


def test_bn_graph_intermediate_gradients_equal_their_formulas(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    N = x.shape[0]
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    *_, grads = batchnorm_graph_backward(dout, cache)
    xc = x - x.mean(axis=0)
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + EPS)
    dxhat = dout * gamma
    dvar = -0.5 * np.sum(dxhat * xc, axis=0) * (var + EPS) ** -1.5
    dxc = dxhat / std + 2.0 * xc * dvar / N
    dmu = -dxc.sum(axis=0)
    expected = {"dxhat": dxhat, "dvar": dvar[None], "dxc": dxc, "dmu": dmu[None]}
    for key, value in expected.items():
        assert grads[key].shape == value.shape, key
        assert rel_error(grads[key], value) < 1e-12, key


def test_bn_graph_slide_names_alias_the_documented_gradients(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    *_, grads = batchnorm_graph_backward(dout, cache)
    assert set(BN_INTERMEDIATES) == {"A1", "A2", "A3", "A4"}
    pairs = [("A1", "dxhat"), ("A2", "dxc_direct"), ("A3", "distd"), ("A4", "dstd")]
    for slide_name, descriptive in pairs:
        assert grads[slide_name] is grads[descriptive]
        assert BN_INTERMEDIATES[slide_name].startswith(descriptive + ":")


def test_bn_graph_a1_to_a4_are_the_lectures(bn_inputs):
    # The lecture: X_mu = X - mu, sigma' = sqrt(sigma^2 + eps), X_std = X_mu (1/sigma'),
    # A1 = gamma dL/dY, A2 = (1/sigma') A1, A3 = sum_n X_mu A1, A4 = -(sigma')^-2 A3.
    x, gamma, beta, dout = bn_inputs
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    *_, grads = batchnorm_graph_backward(dout, cache)
    x_mu = x - x.mean(axis=0)
    sigma = np.sqrt(x.var(axis=0) + EPS)
    a1 = gamma * dout
    a2 = a1 / sigma
    a3 = np.sum(x_mu * a1, axis=0, keepdims=True)
    a4 = -a3 / sigma**2
    for key, value in {"A1": a1, "A2": a2, "A3": a3, "A4": a4}.items():
        assert grads[key].shape == value.shape, key
        assert rel_error(grads[key], value) < 1e-12, key


def test_bn_graph_variance_path_adds_nothing_to_dmu(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    _, cache = batchnorm_graph_forward(x, gamma, beta, eps=EPS)
    *_, grads = batchnorm_graph_backward(dout, cache)
    # sum_n xc = 0, so the gradient reaching xc through var sums to zero over the batch
    np.testing.assert_allclose(grads["dxc_var"].sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(grads["dmu"], -grads["dxc_direct"].sum(axis=0, keepdims=True))
    np.testing.assert_allclose(grads["dxc"], grads["dxc_direct"] + grads["dxc_var"])


# ----------------------------------------------------------------------- weight decay by graph


@pytest.fixture
def weights():
    rng = np.random.default_rng(3)
    return [rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal((3, 2))]


def test_weight_decay_graph_penalty_is_half_lambda_sum_of_squares(weights):
    lam = 0.1
    penalty, _ = weight_decay_graph_forward(weights, lam)
    assert penalty == pytest.approx(0.5 * lam * sum(np.sum(W**2) for W in weights), rel=1e-14)


def test_weight_decay_graph_gradient_is_lambda_times_w(weights):
    lam = 0.1
    _, cache = weight_decay_graph_forward(weights, lam)
    dweights = weight_decay_graph_backward(1.0, cache)
    assert len(dweights) == len(weights)
    for W, dW in zip(weights, dweights, strict=True):
        assert dW.shape == W.shape
        assert rel_error(dW, lam * W) < 1e-14


def test_weight_decay_graph_gradient_scales_with_dout(weights):
    _, cache = weight_decay_graph_forward(weights, 0.1)
    for W, dW in zip(weights, weight_decay_graph_backward(3.0, cache), strict=True):
        np.testing.assert_allclose(dW, 3.0 * 0.1 * W)


def test_weight_decay_graph_gradient_matches_numerical(weights):
    lam = 0.3
    _, cache = weight_decay_graph_forward(weights, lam)
    dweights = weight_decay_graph_backward(1.0, cache)
    for W, dW in zip(weights, dweights, strict=True):
        numeric = numerical_gradient(lambda: weight_decay_graph_forward(weights, lam)[0], W)
        assert rel_error(dW, numeric) < THRESHOLDS["param"]


def test_weight_decay_graph_with_a_single_weight():
    W = np.arange(6.0).reshape(2, 3)
    penalty, cache = weight_decay_graph_forward([W], 2.0)
    assert penalty == pytest.approx(np.sum(W**2))
    np.testing.assert_allclose(weight_decay_graph_backward(1.0, cache)[0], 2.0 * W)


def test_weight_decay_graph_rejects_an_empty_weight_list():
    with pytest.raises(ValueError):
        weight_decay_graph_forward([], 0.1)


# ------------------------------------------------------------- network nodes, graphs as data


@pytest.mark.parametrize(
    "node, inputs",
    [
        (MatMul(), [random((4, 3), seed=5), random((3, 2), seed=6)]),
        (ReLU(), [random((4, 3), seed=7)]),
    ],
    ids=["MatMul", "ReLU"],
)
def test_network_node_gradients_match_numerical(node, inputs):
    assert_node_gradients(node, *inputs)


def test_softmax_with_loss_node_equals_the_layer_and_its_gradient():
    logits, t = random((5, 4), seed=8), np.array([0, 3, 1, 1, 2])
    node = SoftmaxWithLoss()
    loss = node.forward(logits, t)
    layer = LayerSoftmaxWithLoss()
    assert loss == pytest.approx(layer.forward(logits, t), rel=1e-12)
    dlogits, dt = node.backward(np.asarray(1.0))
    assert dt is None
    numeric = numerical_gradient(lambda: float(SoftmaxWithLoss().forward(logits, t)), logits)
    assert rel_error(dlogits, numeric) < THRESHOLDS["dx"]


BN_STEPS = [
    ("mu", "Mean", ["x"]),
    ("xc", "Subtract", ["x", "mu"]),
    ("xc2", "Square", ["xc"]),
    ("var", "Mean", ["xc2"]),
    ("var_eps", "Add", ["var", "eps"]),
    ("std", "Sqrt", ["var_eps"]),
    ("istd", "Reciprocal", ["std"]),
    ("xhat", "Multiply", ["xc", "istd"]),
    ("gamma_xhat", "Multiply", ["gamma", "xhat"]),
    ("out", "Add", ["gamma_xhat", "beta"]),
]


def test_run_graph_evaluates_bn_given_as_data(bn_inputs):
    x, gamma, beta, dout = bn_inputs
    inputs = {"x": x, "gamma": gamma, "beta": beta, "eps": EPS}
    values, grads = run_graph(BN_STEPS, inputs, "out", dout)
    np.testing.assert_allclose(values["out"], closed_form_bn_forward(x, gamma, beta), atol=1e-12)
    dx, dgamma, dbeta = closed_form_bn_backward(dout, x, gamma)
    assert rel_error(grads["x"], dx) < THRESHOLDS["dx"]  # x feeds two steps: the sum of both
    assert rel_error(grads["gamma"], dgamma) < THRESHOLDS["gamma_beta"]
    assert rel_error(grads["beta"], dbeta) < THRESHOLDS["gamma_beta"]


def test_run_graph_without_the_branch_sum_would_be_wrong(bn_inputs):
    # Dropping the mean path (x -> mu) changes dx: the branch sum is what makes it right.
    x, gamma, beta, dout = bn_inputs
    cut = [("mu", "Mean", ["x0"]), *BN_STEPS[1:]]
    inputs = {"x": x, "x0": x.copy(), "gamma": gamma, "beta": beta, "eps": EPS}
    _, grads = run_graph(cut, inputs, "out", dout)
    dx, _, _ = closed_form_bn_backward(dout, x, gamma)
    assert rel_error(grads["x"], dx) > 1e-3
    assert rel_error(grads["x"] + grads["x0"], dx) < THRESHOLDS["dx"]


def test_run_graph_network_with_weight_decay_equals_multilayernet():
    from course.net import MultiLayerNet

    lam = 0.1
    net = MultiLayerNet(5, [4], 3, weight_decay_lambda=lam, seed=0)
    rng = np.random.default_rng(9)
    for p in net.params.values():
        p[...] = rng.normal(size=p.shape)
    x, t = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    steps = [
        ("a1", "MatMul", ["x", "W1"]), ("h1", "Add", ["a1", "b1"]), ("z1", "ReLU", ["h1"]),
        ("a2", "MatMul", ["z1", "W2"]), ("h2", "Add", ["a2", "b2"]),
        ("data_loss", "SoftmaxWithLoss", ["h2", "t"]),
        ("sq1", "Square", ["W1"]), ("s1", "SumAll", ["sq1"]),
        ("p1", "Multiply", ["half_lam", "s1"]),
        ("sq2", "Square", ["W2"]), ("s2", "SumAll", ["sq2"]),
        ("p2", "Multiply", ["half_lam", "s2"]),
        ("L1", "Add", ["data_loss", "p1"]), ("L", "Add", ["L1", "p2"]),
    ]
    values, grads = run_graph(steps, {**net.params, "x": x, "t": t, "half_lam": 0.5 * lam}, "L")
    assert float(values["L"]) == pytest.approx(net.loss(x, t), rel=1e-12)
    for key, grad in net.gradient(x, t).items():
        assert rel_error(grads[key], grad) < 1e-10, key
    assert "t" not in grads  # labels are data: nothing flows back to them


def test_graph_problems_name_blanks_unknown_ops_and_names():
    steps = [("mu", "Mean", ["x"]), ("xc", BLANK, ["x", "mu"]), ("xc2", "Square", [BLANK]),
             ("var", "Average", ["xc2"]), ("out", "Add", ["var", "nowhere"]), ("mu", "Mean", ["x"])]
    problems = graph_problems(steps, ["x"])
    assert any(p.startswith("xc:") and "blank" in p for p in problems)
    assert any(p.startswith("xc2:") and "blank" in p for p in problems)
    assert any(p.startswith("var:") and "unknown op" in p for p in problems)
    assert any(p.startswith("out:") and "'nowhere'" in p for p in problems)
    assert any(p.startswith("mu:") and "twice" in p for p in problems)
    assert graph_problems(BN_STEPS, ["x", "gamma", "beta", "eps"]) == []
    with pytest.raises(ValueError, match="blank"):
        run_graph(steps, {"x": np.ones((2, 2))}, "out")
