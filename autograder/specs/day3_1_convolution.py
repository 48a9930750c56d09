"""Grading spec of day3/3_1_convolution: conv_output_size, im2col and a Conv2D layer.

Fixtures hold the inputs of the visible tests and reference outputs from ``course.conv``.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.conv import Conv2D, im2col

NOTEBOOK = "day3/3_1_convolution"

# im2col cases: (name, x shape, FH, FW, stride, pad)
IM2COL_CASES = [
    ("basic", (2, 1, 4, 4), 3, 3, 1, 0),
    ("channels", (2, 3, 5, 4), 2, 3, 1, 0),
    ("pad", (2, 2, 4, 5), 3, 3, 1, 1),
    ("stride", (2, 2, 7, 6), 3, 2, 2, 1),
]


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(31)
    fx: dict[str, np.ndarray] = {}
    for name, shape, fh, fw, stride, pad in IM2COL_CASES:
        x = rng.normal(size=shape)
        fx[f"im2col_{name}_x"] = x
        fx[f"im2col_{name}_col"] = im2col(x, fh, fw, stride, pad)

    x = rng.normal(size=(4, 2, 6, 6))
    W = rng.normal(size=(3, 2, 3, 3)) * 0.5
    b = rng.normal(size=3)
    fx.update(conv_x=x, conv_W=W, conv_b=b)
    fx["conv_out_nobias"] = Conv2D(W.copy(), np.zeros(3)).forward(x.copy())
    fx["conv_out"] = Conv2D(W.copy(), b.copy()).forward(x.copy())
    fx["conv_out_s2p1"] = Conv2D(W.copy(), b.copy(), stride=2, pad=1).forward(x.copy())
    fx["dout_s1p0"] = rng.normal(size=fx["conv_out"].shape)
    fx["dout_s2p1"] = rng.normal(size=fx["conv_out_s2p1"].shape)
    return fx


_OUT, _IM, _CONV = "output_size", "im2col_fn", "conv_class"
TYPICAL_BUGS = [
    # conv_output_size
    Bug(name="padding counted on one side only", cell=_OUT,
        old="in_size + 2 * pad - filter_size", new="in_size + pad - filter_size",
        caught_by="test_output_size", message_contains="2 * pad",
        cascades=("test_im2col",)),
    Bug(name="+1 forgotten", cell=_OUT,
        old="// stride + 1", new="// stride",
        caught_by="test_output_size", message_contains="+ 1",
        cascades=("test_im2col", "test_conv_forward", "test_conv_backward_dx",
                  "test_conv_backward_params")),
    Bug(name="true division instead of floor division", cell=_OUT,
        old="// stride + 1", new="/ stride + 1",
        caught_by="test_output_size", message_contains="//",
        cascades=("test_im2col", "test_conv_forward", "test_conv_backward_dx",
                  "test_conv_backward_params")),
    Bug(name="stride ignored", cell=_OUT,
        old="(in_size + 2 * pad - filter_size) // stride + 1",
        new="(in_size + 2 * pad - filter_size) + 1",
        caught_by="test_output_size", message_contains="ストライド",
        cascades=("test_im2col", "test_conv_forward", "test_conv_backward_dx",
                  "test_conv_backward_params")),
    # im2col
    Bug(name="columns ordered (FH, FW, C)", cell=_IM,
        old="col.transpose(0, 4, 5, 1, 2, 3)", new="col.transpose(0, 4, 5, 2, 3, 1)",
        caught_by="test_im2col", message_contains="(C, FH, FW)",
        cascades=("test_conv_forward", "test_conv_backward_dx")),
    Bug(name="rows ordered (i, j, n)", cell=_IM,
        old="col.transpose(0, 4, 5, 1, 2, 3)", new="col.transpose(4, 5, 0, 1, 2, 3)",
        caught_by="test_im2col", message_contains="(n, i, j)",
        cascades=("test_conv_forward", "test_conv_backward_dx")),
    Bug(name="np.pad pads every axis", cell=_IM,
        old="np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])", new="np.pad(x, pad)",
        caught_by="test_im2col", message_contains="H と W の軸だけ",
        cascades=("test_conv_forward", "test_conv_backward_dx", "test_conv_backward_params")),
    Bug(name="stride ignored in the slices", cell=_IM,
        old="img[:, :, u:u + stride * OH:stride, v:v + stride * OW:stride]",
        new="img[:, :, u:u + stride * OH, v:v + stride * OW]",
        caught_by="test_im2col", message_contains="ストライド",
        cascades=("test_conv_forward", "test_conv_backward_dx", "test_conv_backward_params")),
    # Conv2D.forward
    Bug(name="filters flattened without transposing", cell=_CONV,
        old='self.params["W"].reshape(FN, -1).T', new='self.params["W"].reshape(-1, FN)',
        caught_by="test_conv_forward", message_contains="reshape(FN, -1).T",
        cascades=("test_conv_backward_params",)),
    Bug(name="output reshaped straight to (N, FN, OH, OW)", cell=_CONV,
        old="out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)", new="out.reshape(N, FN, OH, OW)",
        caught_by="test_conv_forward", message_contains="transpose(0, 3, 1, 2)",
        cascades=("test_conv_backward_dx", "test_conv_backward_params")),
    Bug(name="bias forgotten", cell=_CONV,
        old='self.col @ self.col_W + self.params["b"]', new="self.col @ self.col_W",
        caught_by="test_conv_forward", message_contains="バイアス",
        cascades=("test_conv_backward_params",)),
    Bug(name="stride and pad not passed to im2col", cell=_CONV,
        old="im2col(x, FH, FW, self.stride, self.pad)", new="im2col(x, FH, FW)",
        caught_by="test_conv_forward", message_contains="self.stride",
        cascades=("test_conv_backward_dx", "test_conv_backward_params")),
    # Conv2D.backward
    Bug(name="dout reshaped without moving filters last", cell=_CONV,
        old="dout.transpose(0, 2, 3, 1).reshape(-1, FN)", new="dout.reshape(-1, FN)",
        caught_by="test_conv_backward_dx", message_contains="transpose(0, 2, 3, 1)",
        cascades=("test_conv_backward_params",)),
    Bug(name="col2im without stride and pad", cell=_CONV,
        old="col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)",
        new="col2im(dcol, self.x_shape, FH, FW)",
        caught_by="test_conv_backward_dx", message_contains="col2im にも",
        cascades=("test_conv_backward_params",)),
    Bug(name="dW not transposed back before reshaping", cell=_CONV,
        old="(self.col.T @ dout).T.reshape(FN, C, FH, FW)",
        new="(self.col.T @ dout).reshape(FN, C, FH, FW)",
        caught_by="test_conv_backward_params", message_contains="dW"),
    Bug(name="db averaged instead of summed", cell=_CONV,
        old='self.grads["b"] = np.sum(dout, axis=0)', new='self.grads["b"] = np.mean(dout, axis=0)',
        caught_by="test_conv_backward_params", message_contains="平均ではなく和"),
]

PARTIAL_BUGS = ["bias forgotten", "db averaged instead of summed"]
PARTIAL_EXPECTED = {
    "test_output_size": 1,
    "test_im2col": 2,
    "test_conv_forward": 0,
    "test_conv_backward_dx": 2,
    "test_conv_backward_params": 0,
}
