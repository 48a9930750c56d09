"""Grading spec of 4_5_batch_norm_computational_graph: BN and the weight-decay term as graphs."""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course import graph
from course.net import MultiLayerNet
from course.normalization import BatchNormalization

NOTEBOOK = "day4/4_5_batch_norm_computational_graph"

WD_SHAPE = (6, [5, 4], 3)  # MultiLayerNet(input, hidden, output) of the weight-decay test
WD_LAM = 0.1
GW_SHAPE = (4, [5], 3)  # group work 2: Affine -> ReLU -> Affine -> softmax-with-loss, no BN
GW_LAM = 0.2


def make_fixtures() -> dict[str, np.ndarray]:
    """Reference values of the visible tests (course.normalization, course.graph, course.net)."""
    rng = np.random.default_rng(45)
    fx: dict[str, np.ndarray] = {}

    # Forward test: features of very different scales; the smallest (std 0.01) makes eps
    # inside vs outside the square root differ by far more than the tolerance.
    n, d = 8, 5
    scales = np.array([0.01, 0.1, 1.0, 2.0, 5.0])
    x = rng.normal(size=(n, d)) * scales + np.array([3.0, -1.0, 0.5, 10.0, -4.0])
    gamma, beta = 1.0 + 0.5 * rng.normal(size=d), rng.normal(size=d)
    mu = x.mean(axis=0, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
    std = np.sqrt(var + 1e-5)
    fx.update(fwd_x=x, fwd_gamma=gamma, fwd_beta=beta, fwd_mu=mu, fwd_var=var, fwd_std=std,
              fwd_xhat=(x - mu) / std,
              fwd_out=BatchNormalization(gamma, beta).forward(x, train=True))

    # Backward tests: moderate scales (numerical gradients stay accurate), N != D so that a
    # sum over the wrong axis changes the shape.
    x = rng.normal(size=(n, d)) * rng.uniform(0.8, 2.5, size=d) + rng.normal(size=d)
    gamma, beta = 1.0 + 0.5 * rng.normal(size=d), rng.normal(size=d)
    dout = rng.normal(size=(n, d))
    _, cache = graph.batchnorm_graph_forward(x, gamma, beta)
    _, _, _, grads = graph.batchnorm_graph_backward(dout, cache)
    layer = BatchNormalization(gamma, beta)
    layer.forward(x, train=True)
    fx.update(x=x, gamma=gamma, beta=beta, dout=dout, dx=layer.backward(dout),
              **{key: grads[key] for key in ("A1", "A2", "A3", "A4")})

    # Weight-decay graph: a small BN network with nonzero parameters of every kind.
    net = MultiLayerNet(*WD_SHAPE, use_batchnorm=True, weight_decay_lambda=WD_LAM, seed=0)
    for key, p in net.params.items():
        value = rng.normal(scale=0.5, size=p.shape)
        p[...] = 1.0 + value if key.startswith("gamma") else value
        fx["wd_" + key] = p.copy()
    wd_x = rng.normal(size=(6, WD_SHAPE[0]))
    wd_t = rng.integers(0, WD_SHAPE[2], size=6)
    fx.update(wd_x=wd_x, wd_t=wd_t, wd_lam=np.array(WD_LAM), wd_loss=np.array(net.loss(wd_x, wd_t)))

    # Group work 2: the whole plain network as a graph. Its own rng stream, so that adding it
    # left the fixtures above unchanged.
    rng = np.random.default_rng(4502)
    net = MultiLayerNet(*GW_SHAPE, weight_decay_lambda=GW_LAM, seed=0)
    for key, p in net.params.items():
        p[...] = rng.normal(scale=0.8, size=p.shape)
        fx["gw_" + key] = p.copy()
    gw_x = rng.normal(size=(6, GW_SHAPE[0]))
    gw_t = rng.integers(0, GW_SHAPE[2], size=6)
    fx.update(gw_x=gw_x, gw_t=gw_t, gw_lam=np.array(GW_LAM), gw_loss=np.array(net.loss(gw_x, gw_t)))
    return fx


_FWD, _BWD, _CLOSED, _WD = "bn_forward_graph", "bn_backward_graph", "bn_backward_closed", "wd_graph"
_GW1, _GW2 = "bn_graph_data", "net_graph_data"

TYPICAL_BUGS = [
    # Group work 1: the BN graph as data, completed
    Bug(name="graph squares x instead of xc", cell=_GW1,
        old='("xc2",        "Square",     ["xc"])', new='("xc2",        "Square",     ["x"])',
        caught_by="test_bn_graph_completed", message_contains="x ではなく xc を 2 乗"),
    Bug(name="graph takes the root of var, eps outside", cell=_GW1,
        old='("std",        "Sqrt",       ["var_eps"])',
        new='("std",        "Sqrt",       ["var"])',
        caught_by="test_bn_graph_completed", message_contains="平方根の中"),
    Bug(name="graph multiplies by std instead of 1/std", cell=_GW1,
        old='("xhat",       "Multiply",   ["xc", "istd"])',
        new='("xhat",       "Multiply",   ["xc", "std"])',
        caught_by="test_bn_graph_completed", message_contains="xhat = xc × istd"),
    Bug(name="graph with a blank left", cell=_GW1,
        old='("out",        "Add",        ["gamma_xhat", "beta"])',
        new='("out",        "?",          ["gamma_xhat", "beta"])',
        caught_by="test_bn_graph_completed", message_contains="空欄 '?' を全て"),
    # Group work 2: the whole network with weight decay as data
    Bug(name="network graph skips the ReLU", cell=_GW2,
        old='("a2",        "MatMul",          ["z1", "W2"])',
        new='("a2",        "MatMul",          ["h1", "W2"])',
        caught_by="test_network_graph", message_contains="ReLU の出力"),
    Bug(name="network graph adds only the W2 term", cell=_GW2,
        old='("L",         "Add",             ["L1", "p2"])',
        new='("L",         "Add",             ["data_loss", "p2"])',
        caught_by="test_network_graph", message_contains="1 つの重みの分しか"),
    Bug(name="network graph without half_lam on W2", cell=_GW2,
        old='("L",         "Add",             ["L1", "p2"])',
        new='("L",         "Add",             ["L1", "s2"])',
        caught_by="test_network_graph", message_contains="half_lam が掛かっていません"),
    # Exercise 1: forward from nodes
    Bug(name="eps added outside the square root", cell=_FWD,
        old='var_eps = nodes["var_eps"].forward(var, eps)\n    std = nodes["std"].forward(var_eps)',
        new='var_eps = nodes["std"].forward(var)\n    std = nodes["var_eps"].forward(var_eps, eps)',
        caught_by="test_forward_graph", message_contains="平方根の中"),
    Bug(name="variance with Sum instead of Mean", cell=_FWD,
        old='"var": Mean(axis=0)', new='"var": Sum(axis=0)',
        caught_by="test_forward_graph", message_contains="N で割る"),
    Bug(name="squaring x instead of xc", cell=_FWD,
        old='xc2 = nodes["xc2"].forward(xc)', new='xc2 = nodes["xc2"].forward(x)',
        caught_by="test_forward_graph", message_contains="xc = x - μ"),
    Bug(name="mean over the feature axis", cell=_FWD,
        old='"mu": Mean(axis=0)', new='"mu": Mean(axis=1)',
        caught_by="test_forward_graph", message_contains="axis=0"),
    # Exercise 2: backward node by node (the lecture's A1..A4, then dvar, dxc, dmu, dx)
    Bug(name="A2 multiplied by std instead of 1/std", cell=_BWD,
        old="A2 = A1 * istd", new="A2 = A1 * std",
        caught_by="test_A_quantities", message_contains="std で掛けていないか",
        cascades=("test_dx_numerical",)),
    Bug(name="A3 with xhat instead of xc", cell=_BWD,
        old="A3 = np.sum(A1 * xc, axis=0, keepdims=True)",
        new="A3 = np.sum(A1 * xhat, axis=0, keepdims=True)",
        caught_by="test_A_quantities", message_contains="xhat を掛けていませんか",
        cascades=("test_dx_numerical",)),
    Bug(name="reciprocal derivative without the minus sign", cell=_BWD,
        old="A4 = -A3 / std**2", new="A4 = A3 / std**2",
        caught_by="test_A_quantities", message_contains="符号に注意"),
    Bug(name="forgot the variance path to xc", cell=_BWD,
        old="dxc = A2 + dxc_var", new="dxc = A2",
        caught_by="test_dx_numerical", message_contains="分散の経路を忘れて"),
    Bug(name="forgot 1/N in the variance Mean node", cell=_BWD,
        old="np.broadcast_to(dvar / N, xc.shape)", new="np.broadcast_to(dvar, xc.shape)",
        caught_by="test_dx_numerical", message_contains="1/N"),
    Bug(name="dmu with the wrong sign", cell=_BWD,
        old="dmu = -np.sum(dxc, axis=0, keepdims=True)",
        new="dmu = np.sum(dxc, axis=0, keepdims=True)",
        caught_by="test_dx_numerical", message_contains="符号に注意"),
    Bug(name="forgot 1/N in the mean Mean node", cell=_BWD,
        old="np.broadcast_to(dmu / N, xc.shape)", new="np.broadcast_to(dmu, xc.shape)",
        caught_by="test_dx_numerical", message_contains="1/N"),
    Bug(name="forgot the mean path to x", cell=_BWD,
        old="dx = dx_direct + dx_mean", new="dx = dx_direct",
        caught_by="test_dx_numerical", message_contains="平均の経路"),
    Bug(name="dgamma summed over the wrong axis", cell=_BWD,
        old="dgamma = np.sum(dout * xhat, axis=0)", new="dgamma = np.sum(dout * xhat, axis=1)",
        caught_by="test_dgamma_dbeta", message_contains="axis=0"),
    Bug(name="dgamma without xhat", cell=_BWD,
        old="dgamma = np.sum(dout * xhat, axis=0)", new="dgamma = np.sum(dout, axis=0)",
        caught_by="test_dgamma_dbeta", message_contains="xhat を掛け忘れ"),
    # Exercise 3: closed form
    Bug(name="closed form without N on dout", cell=_CLOSED,
        old="(N * dout - sum_dout", new="(dout - sum_dout",
        caught_by="test_closed_form", message_contains="N * dout"),
    Bug(name="closed form with + on the xhat term", cell=_CLOSED,
        old="- xhat * sum_dout_xhat", new="+ xhat * sum_dout_xhat",
        caught_by="test_closed_form", message_contains="符号"),
    Bug(name="closed form multiplies by std", cell=_CLOSED,
        old="return gamma / (N * std)", new="return gamma * std / N",
        caught_by="test_closed_form", message_contains="gamma / std"),
    # Exercise 4: weight-decay term as a graph
    Bug(name="weight decay without the 0.5", cell=_WD,
        old="Scale(0.5 * lam)", new="Scale(lam)",
        caught_by="test_weight_decay_graph", message_contains="0.5"),
    Bug(name="weight decay on every parameter", cell=_WD,
        old="names = [name for name in network.params if is_weight(name)]",
        new="names = list(network.params)",
        caught_by="test_weight_decay_graph", message_contains="b, gamma, beta"),
    Bug(name="data-loss gradient dropped for the weights", cell=_WD,
        old="grads[name] = dloss * data_grads[name] + dW", new="grads[name] = dW",
        caught_by="test_weight_decay_graph", message_contains="足し忘れ"),
]

PARTIAL_BUGS = ["forgot the variance path to xc", "weight decay without the 0.5",
                "network graph adds only the W2 term"]
PARTIAL_EXPECTED = {
    "test_bn_graph_completed": 2,
    "test_forward_graph": 2,
    "test_A_quantities": 2,
    "test_dx_numerical": 0,
    "test_dgamma_dbeta": 1,
    "test_closed_form": 1,
    "test_weight_decay_graph": 0,
    "test_network_graph": 0,
}
