"""Grading spec of day3/3_2_pooling: MaxPool2D, AvgPool2D, GlobalAvgPool and the CNN head size.

Fixtures hold the inputs of the visible tests and reference outputs from ``course.conv``.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug
from course.conv import AvgPool2D, GlobalAvgPool, MaxPool2D

NOTEBOOK = "day3/3_2_pooling"


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference outputs for the visible tests (deterministic, float64)."""
    rng = np.random.default_rng(32)
    fx: dict[str, np.ndarray] = {}

    x = rng.normal(size=(2, 3, 4, 6))
    fx["max_x"] = x
    fx["max_out"] = MaxPool2D(2, 2).forward(x.copy())
    fx["max_dout"] = rng.normal(size=fx["max_out"].shape)
    # 3x3 windows, stride 2, pad 1 (overlapping, as in ResNet); all values negative, so a zero
    # border would win the max
    xp = rng.normal(size=(2, 2, 5, 5)) - 4.0
    fx["maxpad_x"] = xp
    fx["maxpad_out"] = MaxPool2D(3, 3, stride=2, pad=1).forward(xp.copy())
    fx["maxpad_dout"] = rng.normal(size=fx["maxpad_out"].shape)

    fx["avg_x"] = x
    fx["avg_out"] = AvgPool2D(2, 2).forward(x.copy())
    fx["avg_out_overlap"] = AvgPool2D(3, 3, stride=1).forward(x.copy())
    fx["avg_dout_overlap"] = rng.normal(size=fx["avg_out_overlap"].shape)

    xg = rng.normal(size=(3, 4, 5, 6))
    fx["gap_x"] = xg
    fx["gap_out"] = GlobalAvgPool().forward(xg.copy())
    fx["gap_dout"] = rng.normal(size=(3, 4))
    return fx


_MAX, _AVG, _GAP, _HEAD = "maxpool_class", "avgpool_class", "gap_class", "head_size"
TYPICAL_BUGS = [
    # MaxPool2D.forward
    Bug(name="max pooling pads with zeros", cell=_MAX,
        old="pad_value=-np.inf", new="pad_value=0.0",
        caught_by="test_maxpool_forward", message_contains="-inf"),
    Bug(name="max pooled output reshaped straight to (N, C, OH, OW)", cell=_MAX,
        old="out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)", new="out.reshape(N, C, OH, OW)",
        caught_by="test_maxpool_forward", message_contains="transpose(0, 3, 1, 2)",
        cascades=("test_maxpool_backward",)),
    Bug(name="max over all channels of a position", cell=_MAX,
        old="col = col.reshape(-1, self.pool_h * self.pool_w)\n", new="pass\n",
        caught_by="test_maxpool_forward", message_contains="チャネルごと",
        cascades=("test_maxpool_backward",)),
    # MaxPool2D.backward
    Bug(name="max pooling gradient sent to every window element", cell=_MAX,
        old="dmax[np.arange(dout.size), self.arg_max] = dout", new="dmax[:] = dout[:, None]",
        caught_by="test_maxpool_backward", message_contains="最大値の位置"),
    Bug(name="max pooling dout not reordered like the windows", cell=_MAX,
        old="dout.transpose(0, 2, 3, 1).reshape(-1)", new="dout.reshape(-1)",
        caught_by="test_maxpool_backward", message_contains="transpose(0, 2, 3, 1)"),
    Bug(name="max pooling col2im without stride and pad", cell=_MAX,
        old="col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)",
        new="col2im(dcol, self.x_shape, self.pool_h, self.pool_w)",
        caught_by="test_maxpool_backward", message_contains="self.stride"),
    # AvgPool2D
    Bug(name="average pooling sums instead of averaging", cell=_AVG,
        old="np.mean(col, axis=1)", new="np.sum(col, axis=1)",
        caught_by="test_avgpool", message_contains="平均"),
    Bug(name="average pooled output reshaped straight to (N, C, OH, OW)", cell=_AVG,
        old="out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)", new="out.reshape(N, C, OH, OW)",
        caught_by="test_avgpool", message_contains="transpose(0, 3, 1, 2)"),
    Bug(name="average pooling gradient not divided by the window size", cell=_AVG,
        old="dout / pool_size", new="dout",
        caught_by="test_avgpool", message_contains="pool_h * pool_w"),
    Bug(name="average pooling dout not reordered like the windows", cell=_AVG,
        old="dout.transpose(0, 2, 3, 1).reshape(-1, 1)", new="dout.reshape(-1, 1)",
        caught_by="test_avgpool", message_contains="transpose(0, 2, 3, 1)"),
    # GlobalAvgPool
    Bug(name="global average over the wrong axes", cell=_GAP,
        old="x.mean(axis=(2, 3))", new="x.mean(axis=(1, 2))",
        caught_by="test_gap", message_contains="axis=(2, 3)"),
    Bug(name="global pooling keeps the spatial axes", cell=_GAP,
        old="x.mean(axis=(2, 3))", new="x.mean(axis=(2, 3), keepdims=True)",
        caught_by="test_gap", message_contains="(N, C)"),
    Bug(name="global pooling sums instead of averaging", cell=_GAP,
        old="x.mean(axis=(2, 3))", new="x.sum(axis=(2, 3))",
        caught_by="test_gap", message_contains="平均"),
    Bug(name="global pooling gradient not divided by H * W", cell=_GAP,
        old="dout[:, :, None, None] / (H * W)", new="dout[:, :, None, None]",
        caught_by="test_gap", message_contains="H * W"),
    # head_input_size
    Bug(name="head size ignores the pooling", cell=_HEAD,
        old="pooled = conv_output_size(conv, pool_size, pool_size)", new="pooled = conv",
        caught_by="test_head_size", message_contains="プーリング"),
    Bug(name="head size forgets the filters (channels)", cell=_HEAD,
        old="return filter_num * pooled * pooled", new="return pooled * pooled",
        caught_by="test_head_size", message_contains="フィルタ数"),
    Bug(name="head size ignores the convolution", cell=_HEAD,
        old="conv = conv_output_size(input_size, filter_size)", new="conv = input_size",
        caught_by="test_head_size", message_contains="畳み込み"),
    Bug(name="GAP head size depends on the input", cell=_HEAD,
        old="    if global_pool:\n        return filter_num\n", new="",
        caught_by="test_head_size", message_contains="入力の大きさによらず"),
]

PARTIAL_BUGS = ["max pooling gradient sent to every window element",
                "global pooling gradient not divided by H * W"]
PARTIAL_EXPECTED = {
    "test_maxpool_forward": 2,
    "test_maxpool_backward": 0,
    "test_avgpool": 2,
    "test_gap": 0,
    "test_head_size": 2,
}
