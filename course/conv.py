"""Convolution and pooling layers on (N, C, H, W) inputs, built on im2col / col2im.

im2col lays every filter-sized patch of the input out as one row, so a convolution becomes a
single matrix product (the textbooks' implementation). Loops run over the FH * FW filter
positions only, never over pixels.

The layers keep the patches in the order im2col fills them, (N, C*FH*FW, OH*OW), and multiply
image by image (a batched matrix product): the output then comes out as (N, FN, OH, OW) with no
transpose, and no (N*OH*OW, C*FH*FW) copy is made. Pooling works on the FH*FW strided views
"element (u, v) of every window" of the input (``_window_elements``), without any patch matrix.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def _window_elements(
    img: np.ndarray, FH: int, FW: int, stride: int | tuple[int, int], OH: int, OW: int
) -> list[np.ndarray]:
    """The FH*FW views img[:, :, i*sy + u, j*sx + v] over (i, j), for (u, v) row-major.

    img: (N, C, H, W) (already padded). ``stride`` is one int for both directions or (sy, sx).
    Each view is (N, C, OH, OW): element (u, v) of every window. Writing into a view writes into
    img.
    """
    sy, sx = (stride, stride) if isinstance(stride, int | np.integer) else stride
    return [
        img[:, :, fy : fy + sy * OH : sy, fx : fx + sx * OW : sx]
        for fy in range(FH)
        for fx in range(FW)
    ]


def _pad(x: np.ndarray, pad: int, value: float = 0.0) -> np.ndarray:
    """x with ``pad`` rows/columns of ``value`` around H and W (x itself when pad = 0)."""
    if pad == 0:
        return x
    return np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=value)


def _patches(
    x: np.ndarray, FH: int, FW: int, stride: int = 1, pad: int = 0, pad_value: float = 0.0
) -> np.ndarray:
    """(N, C, H, W) -> (N, C*FH*FW, OH*OW), the numbers of im2col laid out per image.

    patches[n, (c, u, v), (i, j)] = xpad[n, c, i*stride + u, j*stride + v]; im2col is its
    transpose, flattened over (n, i, j).
    """
    N, C, H, W = x.shape
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    patches = np.empty((N, C, FH * FW, OH, OW), dtype=x.dtype)
    for k, element in enumerate(_window_elements(_pad(x, pad, pad_value), FH, FW, stride, OH, OW)):
        patches[:, :, k] = element
    return patches.reshape(N, C * FH * FW, OH * OW)


def _add_patches(
    dpatches: np.ndarray, input_shape: tuple[int, ...], FH: int, FW: int, stride: int, pad: int
) -> np.ndarray:
    """The adjoint of _patches: (N, C*FH*FW, OH*OW) -> (N, C, H, W), overlaps summed."""
    N, C, H, W = input_shape
    OH = conv_output_size(H, FH, stride, pad)
    OW = conv_output_size(W, FW, stride, pad)
    dpatches = dpatches.reshape(N, C, FH * FW, OH, OW)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=dpatches.dtype)
    for k, element in enumerate(_window_elements(img, FH, FW, stride, OH, OW)):
        element += dpatches[:, :, k]
    return img[:, :, pad : H + pad, pad : W + pad]


def im2col(
    x: np.ndarray, FH: int, FW: int, stride: int = 1, pad: int = 0, pad_value: float = 0.0
) -> np.ndarray:
    """Patches of x as rows: (N, C, H, W) -> (N * OH * OW, C * FH * FW).

    Row ``(n, i, j)`` (in that order) holds the patch whose top-left corner is at
    ``(i * stride, j * stride)`` of the padded input, flattened in (C, FH, FW) order.
    ``pad_value`` fills the border (0 for convolution, -inf for max pooling).
    """
    patches = _patches(x, FH, FW, stride, pad, pad_value)  # (N, C*FH*FW, OH*OW)
    return patches.transpose(0, 2, 1).reshape(-1, patches.shape[1])


def col2im(
    col: np.ndarray, input_shape: tuple[int, ...], FH: int, FW: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """The adjoint of im2col: (N * OH * OW, C * FH * FW) -> (N, C, H, W).

    Each patch row is added back at its position; where patches overlap, values are summed
    (which is exactly what the backward pass of im2col needs).
    """
    N = input_shape[0]
    dpatches = col.reshape(N, -1, col.shape[1]).transpose(0, 2, 1)  # (N, C*FH*FW, OH*OW)
    return _add_patches(dpatches, input_shape, FH, FW, stride, pad)


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    W: (FN, C, FH, FW) filters, b: (FN,). x: (N, C, H, W) -> out: (N, FN, OH, OW) with
    out[n, f, i, j] = sum_{c, u, v} W[f, c, u, v] * xpad[n, c, i*stride + u, j*stride + v] + b[f].
    As matrices: out = col @ W_col + b with col = im2col(x) and W_col = W.reshape(FN, -1).T.
    backward: dW_col = col^T dout, db = sum dout, dx = col2im(dout @ W_col^T).

    The products are computed image by image on ``patches`` (N, C*FH*FW, OH*OW), the same
    numbers as col: out[n] = W.reshape(FN, -1) @ patches[n] is already (FN, OH*OW), so the
    output needs no transpose. ``col`` (im2col of the last input) is built from it on demand.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.stride = stride
        self.pad = pad
        self.x_shape: tuple[int, ...] | None = None
        self.patches: np.ndarray | None = None  # (N, C*FH*FW, OH*OW)

    @property
    def col(self) -> np.ndarray | None:
        """im2col of the last input, (N*OH*OW, C*FH*FW) (a copy made from ``patches``)."""
        if self.patches is None:
            return None
        return self.patches.transpose(0, 2, 1).reshape(-1, self.patches.shape[1])

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        W, b = self.params["W"], self.params["b"]
        FN, C, FH, FW = W.shape
        N, xc, H, Wd = x.shape
        if xc != C:
            raise ValueError(f"input has {xc} channels, filters expect {C}")
        OH = conv_output_size(H, FH, self.stride, self.pad)
        OW = conv_output_size(Wd, FW, self.stride, self.pad)
        self.x_shape = x.shape
        self.patches = _patches(x, FH, FW, self.stride, self.pad)
        out = W.reshape(FN, -1) @ self.patches  # (N, FN, OH*OW): one product per image
        out += b.reshape(FN, 1)
        return out.reshape(N, FN, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        dout = dout.reshape(dout.shape[0], FN, -1)  # (N, FN, OH*OW)
        self.grads["b"] = dout.sum(axis=(0, 2))
        # dW_col^T = sum_n dout[n] patches[n]^T: per image, then summed over the batch
        self.grads["W"] = (dout @ self.patches.transpose(0, 2, 1)).sum(axis=0).reshape(W.shape)
        dpatches = W.reshape(FN, -1).T @ dout  # (N, C*FH*FW, OH*OW)
        return _add_patches(dpatches, self.x_shape, FH, FW, self.stride, self.pad)


class _Pool2D(Layer):
    """Shared part of max and average pooling: the window elements as FH*FW strided views."""

    pad_value = 0.0

    def __init__(
        self, pool_h: int, pool_w: int, stride: int | tuple[int, int] | None = None, pad: int = 0
    ) -> None:
        super().__init__()
        if 2 * pad > min(pool_h, pool_w):
            raise ValueError(f"pad={pad} must be at most half the pool size ({pool_h}, {pool_w})")
        self.pool_h = pool_h
        self.pool_w = pool_w
        # As PyTorch: the stride defaults to the window, per direction (2x3 windows, stride (2, 3)).
        if stride is None:
            stride = pool_h if pool_h == pool_w else (pool_h, pool_w)
        self.stride = stride
        self.stride_h, self.stride_w = (
            (stride, stride) if isinstance(stride, int | np.integer) else tuple(stride))
        self.pad = pad
        self.x_shape: tuple[int, ...] | None = None

    def _out_size(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        H, W = x_shape[2:]
        OH = conv_output_size(H, self.pool_h, self.stride_h, self.pad)
        OW = conv_output_size(W, self.pool_w, self.stride_w, self.pad)
        return OH, OW

    def _elements(self, x: np.ndarray) -> list[np.ndarray]:
        """(N, C, H, W) -> pool_h*pool_w contiguous (N, C, OH, OW): element (u, v) of each window.

        Copied once from the strided views: every later operation on them is then a fast
        contiguous one.
        """
        self.x_shape = x.shape
        img = _pad(x, self.pad, self.pad_value)
        OH, OW = self._out_size(x.shape)
        views = _window_elements(img, self.pool_h, self.pool_w, self.stride, OH, OW)
        return [np.ascontiguousarray(view) for view in views]

    def _image_gradient(self, delements: Iterable[np.ndarray], dtype: np.dtype) -> np.ndarray:
        """Gradients of the window elements (one (N, C, OH, OW) per (u, v)) -> dx (N, C, H, W)."""
        N, C, H, W = self.x_shape
        p, sy, sx = self.pad, self.stride_h, self.stride_w
        OH, OW = self._out_size(self.x_shape)
        dimg = np.zeros((N, C, H + 2 * p + sy - 1, W + 2 * p + sx - 1), dtype=dtype)
        views = _window_elements(dimg, self.pool_h, self.pool_w, (sy, sx), OH, OW)
        for view, delement in zip(views, delements, strict=True):
            view += delement  # overlapping windows (stride < pool size) add up
        return dimg[:, :, p : H + p, p : W + p]


class MaxPool2D(_Pool2D):
    """Max pooling: out[n, c, i, j] = max of the (pool_h, pool_w) window at (i*stride, j*stride).

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` (an int, or (sy, sx)) defaults to the window
    (pool_h, pool_w), as in PyTorch. Padding uses -inf
    (as PyTorch), so a padded border never wins the max.
    backward: each window's gradient goes to its maximum element. ``max_index`` (N, C, OH, OW)
    is the index u * pool_w + v of the first maximum in each window (the one np.argmax picks);
    ``arg_max`` is the same in im2col's window order, (N*OH*OW*C,).
    """

    pad_value = -np.inf

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        elements = self._elements(x)
        out = elements[0].copy()
        for element in elements[1:]:
            np.maximum(out, element, out=out)
        # the first element equal to the maximum: going from the last index down to 0, set the
        # index to k where element k is a maximum (arithmetic, not a masked copy: a mask like
        # ReLU's zeros makes branches ten times slower)
        count = len(elements)
        self.max_index = np.full(out.shape, count - 1, dtype=np.min_scalar_type(count))
        for k in range(count - 2, -1, -1):
            self.max_index -= (elements[k] == out) * (self.max_index - k)
        return out

    @property
    def arg_max(self) -> np.ndarray:
        """Index of each window's maximum in im2col's window order: (N*OH*OW*C,)."""
        return self.max_index.transpose(0, 2, 3, 1).reshape(-1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        count = self.pool_h * self.pool_w
        delements = (dout * (self.max_index == k) for k in range(count))
        return self._image_gradient(delements, dout.dtype)


class AvgPool2D(_Pool2D):
    """Average pooling: the mean of each (pool_h, pool_w) window (zero padding counted).

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` (an int, or (sy, sx)) defaults to the window
    (pool_h, pool_w), as in PyTorch.
    backward: each window element receives dout / (pool_h * pool_w).
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        elements = self._elements(x)
        total = elements[0].copy()
        for element in elements[1:]:
            total += element
        return total / len(elements)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        count = self.pool_h * self.pool_w
        share = dout / count
        return self._image_gradient((share for _ in range(count)), dout.dtype)


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
