"""Normalization layers: batch, layer, instance and group normalization.

All four compute x_hat = (x - mu) / sqrt(var + eps) over some axes, then out = gamma x_hat + beta
with gamma, beta per feature (2-D input) or per channel (4-D input (N, C, H, W)). They differ only
in the axes of the statistics:

    BatchNormalization     (N,) for (N, D);  (N, H, W) for (N, C, H, W)   -> per feature/channel
    LayerNormalization     all non-batch axes                             -> per sample
    InstanceNormalization  (H, W)                                         -> per (sample, channel)
    GroupNormalization     (C/G, H, W) after splitting C into G groups    -> per (sample, group)

Variances are biased (divide by the count m, not m - 1). The backward pass is the same fused
closed form for all of them (see ``_normalize_backward``); BatchNormalization, the layer of every
training step, writes it with dgamma and dbeta, which it computes anyway, and works from x - mu
without storing x_hat (fewer array passes), tile by tile over the batch and in wide rows so that
numpy's passes read cache rather than memory (see the note above _TILE_BYTES and
docs/performance.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from course.layers import Layer, _ones


def _normalize(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """x_hat = (x - mean) / sqrt(var + eps) over ``axes``; returns (xc, std, x_hat), keepdims."""
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    std = np.sqrt((xc**2).mean(axis=axes, keepdims=True) + eps)
    return xc, std, xc / std


def _normalize_backward(dxhat: np.ndarray, xhat: np.ndarray, std: np.ndarray, axes):
    """Closed-form gradient through x_hat = (x - mean(x)) / std(x), statistics over ``axes``.

    With m the number of elements in each statistic and means taken over ``axes``:
        dx = (dxhat - mean(dxhat) - x_hat * mean(dxhat * x_hat)) / std
    (the three terms: the direct path, the path through the mean, the path through the variance).
    """
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return (dxhat - mean_dxhat - xhat * mean_dxhat_xhat) / std


def _param_shape(x: np.ndarray) -> tuple[int, ...]:
    """gamma/beta broadcast shape: (1, D) for (N, D); (1, C, 1, 1) for (N, C, H, W)."""
    return _param_shape_of(x.shape)


def _param_shape_of(x_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(x_shape) not in (2, 4):
        raise ValueError(f"expected x of shape (N, D) or (N, C, H, W), got {x_shape}")
    return (1, x_shape[1]) + (1,) * (len(x_shape) - 2)


def _reusable(
    buffer: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, inputs: tuple
) -> np.ndarray:
    """``buffer`` if it has this shape and dtype and overlaps none of ``inputs``, else a new array.

    Where a layer writes one of its own caches; never an output, never an input.
    """
    if (
        buffer is not None
        and buffer.shape == shape
        and buffer.dtype == dtype
        and buffer.flags.c_contiguous
        and not any(np.may_share_memory(buffer, a) for a in inputs)
    ):
        return buffer
    return np.empty(shape, dtype=dtype)


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """sum(a) over every axis but the feature/channel axis 1: (N, D) -> (D,), (N, C, H, W) -> (C,).

    The same sum as ``np.sum(a, axis=(0, 2, 3))``, written as products with vectors of ones
    (BLAS gemv): one pass at memory speed, up to twice as fast as numpy's reduction over axis 0.
    """
    ones_n = _ones(a.shape[0], a.dtype)
    if a.ndim == 2:
        return ones_n @ a
    n, c = a.shape[:2]
    ones_hw = _ones(a.size // (n * c), a.dtype)
    return ones_n @ (a.reshape(n, c, -1) @ ones_hw)  # (N, C, H*W) -> (N, C) -> (C,)


def _sum_of_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) over every axis but the feature/channel axis 1: (D,) or (C,).

    One pass over a and b with no (N, D) temporary (einsum), the same numbers as
    ``np.sum(a * b, axis=0)`` (or ``axis=(0, 2, 3)``).
    """
    subscripts = "nd,nd->d" if a.ndim == 2 else "nchw,nchw->c"
    return np.einsum(subscripts, a, b)


# ---- BatchNormalization's cache strategy: sample tiles and wide rows --------------------------
# numpy makes one pass over memory per operation and cannot fuse them; the layer is eleven such
# operations (two sums and three elementwise steps forward, two sums and four steps backward).
# Two things keep their cost down, without changing a formula:
# - Tiles of samples. Every chain of operations on the same rows (x - mu, then sum(xc * xc);
#   xc * a, then + beta; the four steps of dx) runs tile by tile, a tile of each array being
#   about _TILE_BYTES, so that the second and later steps read a tile that the first one has
#   just brought into cache (the 32 MB L3 here) instead of reading the whole array from memory
#   again. Sums over the batch are sums of the tiles' sums. Smaller tiles (512 KiB, for the
#   512 KiB L2) were not faster: the fixed cost of a numpy call is paid once per tile.
# - Wide rows. numpy runs `x * a` with x (N, D) and a (D,) as one inner loop per row of x, each
#   with a fixed cost: at (256, 1024) float32 a broadcast product costs twice an in-place
#   product of two same-shape arrays. The layer hands numpy rows of k samples at once: x
#   viewed as (N/k, k*D) (a view: rows are contiguous) against the vector repeated k times (a
#   (k*D,) array of 64 KiB in float32, built once per call, which stays in cache). The same
#   for (N, C, H, W), the vector expanded to one sample's (C, H, W) first.
# Arrays of one tile with k = 1 (up to _SMALL elements, e.g. the MLP's (100, 100)) skip both:
# there the loops and the repeated vectors cost more than they save. Such an (N, D) goes further:
# _forward_small / _backward_small, the same steps in the fewest numpy calls (13 % less time at
# (100, 100), docs/performance.md).
_TILE_BYTES = 1 << 21
_ROW_ELEMENTS = 1 << 14
_SMALL = 4 * _ROW_ELEMENTS  # arrays up to this size use numpy's own broadcasting (k = 1)


@lru_cache(maxsize=256)
def _samples_per_row(n: int, sample_size: int) -> int:
    """k: the largest divisor of n with k * sample_size <= _ROW_ELEMENTS; 1 for small arrays."""
    if n * sample_size <= _SMALL:
        return 1
    return max(k for k in range(1, max(1, _ROW_ELEMENTS // sample_size) + 1) if n % k == 0)


def _tiles(x: np.ndarray) -> tuple[int, tuple[slice, ...]]:
    """(k, tiles): samples per wide row, and slices of about _TILE_BYTES of whole wide rows."""
    return _tiles_of(x.shape[0], x.size // max(1, x.shape[0]), x.itemsize, _TILE_BYTES)


@lru_cache(maxsize=256)
def _tiles_of(
    n: int, sample_size: int, itemsize: int, tile_bytes: int
) -> tuple[int, tuple[slice, ...]]:
    k = _samples_per_row(n, sample_size)
    per_tile = max(k, tile_bytes // max(1, sample_size * itemsize) // k * k)
    return k, tuple(slice(start, start + per_tile) for start in range(0, n, per_tile))


def _rows(a: np.ndarray, k: int) -> np.ndarray:
    """a (N, ...) as (N / k, k * one sample's size), a view; a itself when k == 1."""
    return a if k == 1 else a.reshape(a.shape[0] // k, -1)


def _per_feature(v: np.ndarray, x_shape: tuple[int, ...], k: int) -> np.ndarray:
    """v (D,) or (C,) ready to broadcast against ``_rows(array of x_shape, k)``.

    k == 1: v in the parameter shape (1, D) or (1, C, 1, 1). Otherwise v expanded to one sample
    (D,) or (C, H, W) and repeated for k samples, flat: (k * one sample's size,).
    """
    shape = _param_shape_of(x_shape)
    if k == 1:
        return v.reshape(shape)
    repeated = np.empty((k, *x_shape[1:]), dtype=v.dtype)
    np.copyto(repeated, v.reshape(shape))
    return repeated.reshape(-1)


class _AffineNormalization(Layer):
    """Shared part: out = gamma * x_hat + beta, dgamma = sum(dout * x_hat), dbeta = sum(dout)."""

    xn: np.ndarray | None = None  # x_hat (set by forward)

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float) -> None:
        super().__init__()
        self.params = {"gamma": gamma, "beta": beta}
        self.eps = eps
        self.xc: np.ndarray | None = None  # x - mean
        self.std: np.ndarray | None = None  # sqrt(var + eps), keepdims shape

    def _check_param_size(self, x: np.ndarray) -> None:
        """gamma must have one value per feature/channel of x."""
        features = _param_shape(x)[1]
        if self.params["gamma"].size != features:
            raise ValueError(
                f"gamma has shape {self.params['gamma'].shape}, expected ({features},) "
                f"for input of shape {x.shape}"
            )

    def _scale_shift(self, xn: np.ndarray) -> np.ndarray:
        shape = _param_shape(xn)
        self._check_param_size(xn)
        out = xn * self.params["gamma"].reshape(shape)
        out += self.params["beta"].reshape(shape)  # in place: out is our own new array
        return out

    def _param_grads(self, dout: np.ndarray) -> np.ndarray:
        """Fill dgamma, dbeta; return dxhat = dout * gamma."""
        gamma = self.params["gamma"]
        self.grads["gamma"] = _sum_of_products(dout, self.xn).reshape(gamma.shape)
        self.grads["beta"] = _channel_sum(dout).reshape(gamma.shape)
        return dout * gamma.reshape(_param_shape(dout))


class BatchNormalization(_AffineNormalization):
    """Batch normalization (Ioffe & Szegedy 2015).

    x: (N, D) with gamma, beta (D,), or (N, C, H, W) with gamma, beta (C,) and statistics per
    channel over (N, H, W). out has the shape of x.

    train:     mu, var = mean and biased variance over the batch axes
               x_hat = (x - mu) / sqrt(var + eps);  out = gamma * x_hat + beta
               running_mean = momentum * running_mean + (1 - momentum) * mu   (same for var)
    inference: x_hat = (x - running_mean) / sqrt(running_var + eps); running stats unchanged.

    ``momentum`` is the weight of the *old* running value (0.9 here, as in the textbooks).
    PyTorch's ``momentum=0.1`` is the weight of the batch statistic, i.e. the other weight:
    PyTorch momentum = 1 - our momentum. (PyTorch also stores the unbiased variance.)
    ``running_mean`` / ``running_var`` start as zeros / ones (shape (D,) or (C,), the input
    dtype) at the first forward unless given. Caches of the last forward: ``xc`` (x - mu),
    ``std`` (keepdims shape), ``batch_size``; ``xn`` (x_hat = xc / std) is computed from them
    when read: the passes need only xc.

    backward (train), with m values per statistic (m = N, or N*H*W) and sums over the batch axes:
        dbeta = sum(dout),  dgamma = sum(dout * x_hat)
        dx = gamma / std * (dout - dbeta / m - x_hat * dgamma / m)
    the closed form of notebook 4_5: dout - mean(dout) is the path through the mean,
    x_hat * mean(dout * x_hat) the path through the variance (dxhat = dout * gamma, so the
    means of dxhat and dxhat * x_hat are gamma * dbeta / m and gamma * dgamma / m).
    backward (inference): the statistics are constants, dx = dout * gamma / sqrt(running_var + eps).
    """

    def __init__(
        self,
        gamma: np.ndarray,
        beta: np.ndarray,
        momentum: float = 0.9,
        eps: float = 1e-5,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
    ) -> None:
        super().__init__(gamma, beta, eps)
        self.momentum = momentum
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size: int | None = None
        self.train_mode = True  # mode of the last forward, used by backward

    @property
    def xn(self) -> np.ndarray | None:
        """x_hat = xc / std of the last forward (a new array)."""
        return None if self.xc is None else self.xc * (1 / self.std)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if train and x.size == x.shape[1]:  # one value per feature: no batch statistics
            raise ValueError(
                f"BatchNormalization: expected more than 1 value per feature in training, got "
                f"input of shape {x.shape} (one sample's variance is 0 and the output would be "
                "beta whatever x is, as PyTorch refuses too); use a batch, or train=False"
            )
        shape = _param_shape(x)
        self._check_param_size(x)
        if self.running_mean is None:
            self.running_mean = np.zeros(shape[1], dtype=x.dtype)
        if self.running_var is None:
            self.running_var = np.ones(shape[1], dtype=x.dtype)
        self.train_mode = train
        if x.ndim == 2 and x.size <= _SMALL:
            return self._forward_small(x, train)
        count = x.size // shape[1]  # values per statistic: N, or N*H*W
        k, tiles = _tiles(x)  # the cache strategy: see the note above _TILE_BYTES
        mu = _channel_sum(x) / count if train else self.running_mean  # (D,) or (C,)
        # xc goes into the array of the previous call when the shape allows (_reusable):
        # a new large array every step costs page faults (docs/performance.md)
        xc = _reusable(self.xc, x.shape, np.result_type(x, mu), (x,))
        if k == 1 and len(tiles) == 1:  # small: one pass each, numpy's own broadcasting
            np.subtract(x, mu.reshape(shape), out=xc)
            sum_sq = _sum_of_products(xc, xc) if train else None
        else:
            mu_rows, sums = _per_feature(mu, x.shape, k), []
            for t in tiles:  # xc = x - mu, and sum(xc * xc) while the tile of xc is in cache
                np.subtract(_rows(x[t], k), mu_rows, out=_rows(xc[t], k))
                if train:
                    sums.append(_sum_of_products(xc[t], xc[t]))
            sum_sq = np.sum(sums, axis=0) if train else None
        self.xc = xc
        if train:
            var = sum_sq / count  # biased: / count, not count - 1
            self._update_running(mu, var, x.shape[0])
        else:
            var = self.running_var
        self.std = np.sqrt(var + self.eps).reshape(shape)
        # out = gamma * x_hat + beta = xc * (gamma / std) + beta: x_hat itself is not needed
        a = self.params["gamma"].reshape(-1) / self.std.reshape(-1)
        out = np.empty(x.shape, dtype=np.result_type(xc, a))
        if k == 1 and len(tiles) == 1:
            np.multiply(xc, a.reshape(shape), out=out)
            out += self.params["beta"].reshape(shape)  # in place: out is our own new array
            return out
        a_rows = _per_feature(a, x.shape, k)
        beta_rows = _per_feature(self.params["beta"], x.shape, k)
        for t in tiles:  # xc * a, then + beta while the tile of out is in cache
            out_tile = _rows(out[t], k)
            np.multiply(_rows(xc[t], k), a_rows, out=out_tile)
            out_tile += beta_rows
        return out

    def _update_running(self, mu: np.ndarray, var: np.ndarray, batch_size: int) -> None:
        self.batch_size = batch_size
        m = self.momentum  # the running statistics keep the shape they were given, e.g. (1, D)
        self.running_mean = m * self.running_mean + (1 - m) * mu.reshape(self.running_mean.shape)
        self.running_var = m * self.running_var + (1 - m) * var.reshape(self.running_var.shape)

    def _forward_small(self, x: np.ndarray, train: bool) -> np.ndarray:
        """forward for a small (N, D), such as the MLP's (100, 100): the steps of ``forward`` in
        as few numpy calls as they take. At this size each call's fixed cost, not arithmetic, is
        the time, and the tiles, wide rows and parameter-shape views of the general path are
        calls that save nothing here."""
        n = x.shape[0]  # the vectors below as (D,), whatever shape of D values they were given
        mu = _channel_sum(x) / n if train else self.running_mean.reshape(-1)
        xc = _reusable(self.xc, x.shape, np.result_type(x, mu), (x,))
        np.subtract(x, mu, out=xc)
        if train:
            var = _channel_sum(xc * xc) / n  # biased: / N, not N - 1
            self._update_running(mu, var, n)
        else:
            var = self.running_var.reshape(-1)
        std = np.sqrt(var + self.eps)
        self.xc, self.std = xc, std.reshape(1, -1)
        out = xc * (self.params["gamma"].reshape(-1) / std)  # gamma * x_hat, x_hat = xc / std
        out += self.params["beta"].reshape(-1)  # in place: out is our own new array
        return out

    def _backward_small(self, dout: np.ndarray) -> np.ndarray:
        """backward (train) for a small (N, D): the closed form of ``backward``, fewest calls."""
        n = dout.shape[0]
        gamma = self.params["gamma"]
        inv_std = 1 / self.std.reshape(-1)
        dbeta = _channel_sum(dout)
        dgamma = _channel_sum(dout * self.xc) * inv_std  # sum(dout * x_hat)
        self.grads["gamma"] = dgamma.reshape(gamma.shape)
        self.grads["beta"] = dbeta.reshape(gamma.shape)
        # dx = gamma/std * (dout - dbeta/n - x_hat * dgamma/n), with x_hat = xc / std:
        dx = self.xc * ((-dgamma / n) * inv_std)
        dx += dout
        dx -= dbeta / n
        dx *= gamma.reshape(-1) * inv_std
        return dx

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.train_mode and dout.ndim == 2 and dout.size <= _SMALL:
            return self._backward_small(dout)
        shape = _param_shape(dout)
        gamma = self.params["gamma"]
        inv_std = 1 / self.std  # x_hat = xc * inv_std
        if not self.train_mode:
            self.grads["gamma"] = (_sum_of_products(dout, self.xc)
                                   * inv_std.reshape(-1)).reshape(gamma.shape)
            self.grads["beta"] = _channel_sum(dout).reshape(gamma.shape)
            return dout * (gamma.reshape(shape) * inv_std)
        k, tiles = _tiles(dout)
        if len(tiles) == 1:
            dbeta = _channel_sum(dout)
            dgamma_xc = _sum_of_products(dout, self.xc)
        else:  # sum(dout), then sum(dout * xc) while the tile of dout is in cache
            sums = [(_channel_sum(dout[t]), _sum_of_products(dout[t], self.xc[t])) for t in tiles]
            dbeta, dgamma_xc = np.sum(sums, axis=0)
        dgamma = dgamma_xc * inv_std.reshape(-1)  # sum(dout * x_hat)
        self.grads["gamma"] = dgamma.reshape(gamma.shape)
        self.grads["beta"] = dbeta.reshape(gamma.shape)
        m = dout.size // shape[1]  # values per statistic
        # dx = gamma/std * (dout - dbeta/m - x_hat * dgamma/m), with x_hat = xc / std:
        xc_scale = (-dgamma / m) * inv_std.reshape(-1)
        mean_dout = dbeta / m
        scale = gamma.reshape(-1) * inv_std.reshape(-1)
        dx = np.empty(dout.shape, dtype=np.result_type(self.xc, xc_scale))
        if k == 1 and len(tiles) == 1:
            np.multiply(self.xc, xc_scale.reshape(shape), out=dx)  # - x_hat * dgamma/m
            dx += dout  # + dout
            dx -= mean_dout.reshape(shape)  # - mean(dout)
            dx *= scale.reshape(shape)  # * gamma / std
            return dx
        xc_scale_rows = _per_feature(xc_scale, dout.shape, k)
        mean_dout_rows = _per_feature(mean_dout, dout.shape, k)
        scale_rows = _per_feature(scale, dout.shape, k)
        for t in tiles:  # the same four steps tile by tile, the later three in cache
            dx_tile = _rows(dx[t], k)
            np.multiply(_rows(self.xc[t], k), xc_scale_rows, out=dx_tile)
            dx_tile += _rows(dout[t], k)
            dx_tile -= mean_dout_rows
            dx_tile *= scale_rows
        return dx


class _FixedAxesNormalization(_AffineNormalization):
    """Normalization whose statistics do not involve the batch: same in train and inference."""

    def _stat_axes(self, x: np.ndarray) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.xc, self.std, self.xn = _normalize(x, self._stat_axes(x), self.eps)
        return self._scale_shift(self.xn)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dxhat = self._param_grads(dout)
        return _normalize_backward(dxhat, self.xn, self.std, self._stat_axes(dout))


class LayerNormalization(_FixedAxesNormalization):
    """Layer normalization (Ba et al. 2016): statistics per sample over all non-batch axes.

    x: (N, D) with gamma, beta (D,), or (N, C, H, W) with gamma, beta (C,) (per channel).
    x_hat = (x - mean_n) / sqrt(var_n + eps);  out = gamma * x_hat + beta. Same in train
    and inference. backward: dx = (dxhat - mean(dxhat) - x_hat * mean(dxhat * x_hat)) / std,
    means per sample.
    """

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> None:
        super().__init__(gamma, beta, eps)

    def _stat_axes(self, x: np.ndarray) -> tuple[int, ...]:
        return tuple(range(1, x.ndim))


class InstanceNormalization(_FixedAxesNormalization):
    """Instance normalization (Ulyanov et al. 2016): statistics per (sample, channel) over (H, W).

    x: (N, C, H, W); gamma, beta: (C,). Same in train and inference.
    """

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> None:
        super().__init__(gamma, beta, eps)

    def _stat_axes(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim != 4:
            raise ValueError(f"InstanceNormalization expects (N, C, H, W), got {x.shape}")
        return (2, 3)


class GroupNormalization(_AffineNormalization):
    """Group normalization (Wu & He 2018): channels split into ``num_groups`` groups G.

    x: (N, C, H, W) with C divisible by G; gamma, beta: (C,). Statistics per (sample, group)
    over (C/G, H, W): x is viewed as (N, G, C/G, H, W). G = 1 is layer normalization,
    G = C is instance normalization. Same in train and inference.
    """

    def __init__(
        self, gamma: np.ndarray, beta: np.ndarray, num_groups: int, eps: float = 1e-5
    ) -> None:
        super().__init__(gamma, beta, eps)
        self.num_groups = num_groups

    def _grouped_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim != 4 or x.shape[1] % self.num_groups != 0:
            raise ValueError(
                f"GroupNormalization expects (N, C, H, W) with C divisible by "
                f"num_groups={self.num_groups}, got {x.shape}"
            )
        n, c, h, w = x.shape
        return (n, self.num_groups, c // self.num_groups, h, w)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        xg = x.reshape(self._grouped_shape(x))
        xc, std, xn = _normalize(xg, (2, 3, 4), self.eps)
        self.xc, self.std, self.xn = xc.reshape(x.shape), std, xn.reshape(x.shape)
        return self._scale_shift(self.xn)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        grouped = self._grouped_shape(dout)
        dxhat = self._param_grads(dout).reshape(grouped)
        xn = self.xn.reshape(grouped)
        return _normalize_backward(dxhat, xn, self.std, (2, 3, 4)).reshape(dout.shape)
