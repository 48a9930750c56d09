"""Convolution and pooling layers on (N, C, H, W) inputs, built on im2col / col2im.

im2col lays every filter-sized patch of the input out as one row, so a convolution becomes a
single matrix product (the textbooks' implementation). Loops run over the FH * FW filter
positions only, never over pixels.
"""

from __future__ import annotations

import numpy as np

from course.layers import Layer


def conv_output_size(in_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """OH = (H + 2 * pad - FH) // stride + 1 (the same for widths)."""
    out = (in_size + 2 * pad - filter_size) // stride + 1
    if out <= 0:
        raise ValueError(
            f"filter {filter_size} with pad {pad} does not fit an input of size {in_size}"
        )
    return out


def im2col(
    x: np.ndarray, FH: int, FW: int, stride: int = 1, pad: int = 0, pad_value: float = 0.0
) -> np.ndarray:
    """Patches of x as rows: (N, C, H, W) -> (N * OH * OW, C * FH * FW).

    Row ``(n, i, j)`` (in that order) holds the patch whose top-left corner is at
    ``(i * stride, j * stride)`` of the padded input, flattened in (C, FH, FW) order.
    ``pad_value`` fills the border (0 for convolution, -inf for max pooling).
    """
    N, C, H, W = x.shape
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=pad_value)
    col = np.empty((N, C, FH, FW, OH, OW), dtype=x.dtype)
    for fy in range(FH):
        y_max = fy + stride * OH
        for fx in range(FW):
            x_max = fx + stride * OW
            col[:, :, fy, fx, :, :] = img[:, :, fy:y_max:stride, fx:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, -1)


def col2im(
    col: np.ndarray, input_shape: tuple[int, ...], FH: int, FW: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """The adjoint of im2col: (N * OH * OW, C * FH * FW) -> (N, C, H, W).

    Each patch row is added back at its position; where patches overlap, values are summed
    (which is exactly what the backward pass of im2col needs).
    """
    N, C, H, W = input_shape
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    col = col.reshape(N, OH, OW, C, FH, FW).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for fy in range(FH):
        y_max = fy + stride * OH
        for fx in range(FW):
            x_max = fx + stride * OW
            img[:, :, fy:y_max:stride, fx:x_max:stride] += col[:, :, fy, fx, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    W: (FN, C, FH, FW) filters, b: (FN,). x: (N, C, H, W) -> out: (N, FN, OH, OW) with
    out[n, f, i, j] = sum_{c, u, v} W[f, c, u, v] * xpad[n, c, i*stride + u, j*stride + v] + b[f].
    As matrices: out = col @ W_col + b with col = im2col(x) and W_col = W.reshape(FN, -1).T.
    backward: dW_col = col^T dout, db = sum dout, dx = col2im(dout @ W_col^T).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.stride = stride
        self.pad = pad
        self.x_shape: tuple[int, ...] | None = None
        self.col: np.ndarray | None = None  # (N*OH*OW, C*FH*FW)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        W, b = self.params["W"], self.params["b"]
        FN, C, FH, FW = W.shape
        N, xc, H, Wd = x.shape
        if xc != C:
            raise ValueError(f"input has {xc} channels, filters expect {C}")
        OH = conv_output_size(H, FH, self.stride, self.pad)
        OW = conv_output_size(Wd, FW, self.stride, self.pad)
        self.x_shape = x.shape
        self.col = im2col(x, FH, FW, self.stride, self.pad)
        out = self.col @ W.reshape(FN, -1).T + b  # (N*OH*OW, FN)
        return out.reshape(N, OH, OW, FN).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*OH*OW, FN)
        self.grads["b"] = dout.sum(axis=0)
        self.grads["W"] = (self.col.T @ dout).T.reshape(W.shape)
        dcol = dout @ W.reshape(FN, -1)
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)


class _Pool2D(Layer):
    """Shared part of max and average pooling: windows via im2col, one row per window."""

    pad_value = 0.0

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__()
        if 2 * pad > min(pool_h, pool_w):
            raise ValueError(f"pad={pad} must be at most half the pool size ({pool_h}, {pool_w})")
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = pool_h if stride is None else stride
        self.pad = pad
        self.x_shape: tuple[int, ...] | None = None

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> (N*OH*OW*C, pool_h*pool_w), one pooling window per row."""
        self.x_shape = x.shape
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad, self.pad_value)
        return col.reshape(-1, self.pool_h * self.pool_w)

    def _to_image(self, pooled: np.ndarray) -> np.ndarray:
        """(N*OH*OW*C,) -> (N, C, OH, OW)."""
        N, C, H, W = self.x_shape
        OH = conv_output_size(H, self.pool_h, self.stride, self.pad)
        OW = conv_output_size(W, self.pool_w, self.stride, self.pad)
        return pooled.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)

    def _from_windows(self, dwin: np.ndarray) -> np.ndarray:
        """Gradient per window element (N*OH*OW*C, pool_h*pool_w) -> dx (N, C, H, W)."""
        N, C = self.x_shape[:2]
        dcol = dwin.reshape(-1, C * self.pool_h * self.pool_w)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)


class MaxPool2D(_Pool2D):
    """Max pooling: out[n, c, i, j] = max of the (pool_h, pool_w) window at (i*stride, j*stride).

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` defaults to ``pool_h``. Padding uses -inf
    (as PyTorch), so a padded border never wins the max.
    backward: each window's gradient goes to its maximum element (``arg_max``).
    """

    pad_value = -np.inf

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        win = self._windows(x)
        self.arg_max = np.argmax(win, axis=1)
        return self._to_image(win[np.arange(win.shape[0]), self.arg_max])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        flat = dout.transpose(0, 2, 3, 1).reshape(-1)  # same (n, i, j, c) order as the windows
        dwin = np.zeros((flat.size, self.pool_h * self.pool_w), dtype=dout.dtype)
        dwin[np.arange(flat.size), self.arg_max] = flat
        return self._from_windows(dwin)


class AvgPool2D(_Pool2D):
    """Average pooling: the mean of each (pool_h, pool_w) window (zero padding counted).

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` defaults to ``pool_h``.
    backward: each window element receives dout / (pool_h * pool_w).
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        return self._to_image(self._windows(x).mean(axis=1))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        flat = dout.transpose(0, 2, 3, 1).reshape(-1, 1)
        size = self.pool_h * self.pool_w
        dwin = np.broadcast_to(flat / size, (flat.shape[0], size))
        return self._from_windows(dwin)


class GlobalAvgPool(Layer):
    """Global average pooling: (N, C, H, W) -> (N, C), the mean over H and W.

    backward: dx[n, c, :, :] = dout[n, c] / (H * W).
    """

    def __init__(self) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        H, W = self.x_shape[2:]
        return np.broadcast_to((dout / (H * W))[:, :, None, None], self.x_shape).copy()
