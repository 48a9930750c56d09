"""Normalization layers: batch, layer, instance and group normalization.

All four compute x_hat = (x - mu) / sqrt(var + eps) over some axes, then out = gamma x_hat + beta
with gamma, beta per feature (2-D input) or per channel (4-D input (N, C, H, W)). They differ only
in the axes of the statistics:

    BatchNormalization     (N,) for (N, D);  (N, H, W) for (N, C, H, W)   -> per feature/channel
    LayerNormalization     all non-batch axes                             -> per sample
    InstanceNormalization  (H, W)                                         -> per (sample, channel)
    GroupNormalization     (C/G, H, W) after splitting C into G groups    -> per (sample, group)

Variances are biased (divide by the count m, not m - 1). The backward pass is the same fused
closed form for all of them (see ``_normalize_backward``).
"""

from __future__ import annotations

import numpy as np

from course.layers import Layer


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
    if x.ndim not in (2, 4):
        raise ValueError(f"expected x of shape (N, D) or (N, C, H, W), got {x.shape}")
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _param_axes(x: np.ndarray) -> tuple[int, ...]:
    """Axes to sum over for dgamma / dbeta: every axis except the feature/channel axis 1."""
    return (0,) + tuple(range(2, x.ndim))


class _AffineNormalization(Layer):
    """Shared part: out = gamma * x_hat + beta, dgamma = sum(dout * x_hat), dbeta = sum(dout)."""

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, eps: float) -> None:
        super().__init__()
        self.params = {"gamma": gamma, "beta": beta}
        self.eps = eps
        self.xc: np.ndarray | None = None  # x - mean
        self.std: np.ndarray | None = None  # sqrt(var + eps), keepdims shape
        self.xn: np.ndarray | None = None  # x_hat

    def _scale_shift(self, xn: np.ndarray) -> np.ndarray:
        shape = _param_shape(xn)
        if self.params["gamma"].size != shape[1]:
            raise ValueError(
                f"gamma has shape {self.params['gamma'].shape}, expected ({shape[1]},) "
                f"for input of shape {xn.shape}"
            )
        return self.params["gamma"].reshape(shape) * xn + self.params["beta"].reshape(shape)

    def _param_grads(self, dout: np.ndarray) -> np.ndarray:
        """Fill dgamma, dbeta; return dxhat = dout * gamma."""
        axes = _param_axes(dout)
        gamma = self.params["gamma"]
        self.grads["gamma"] = np.sum(dout * self.xn, axis=axes).reshape(gamma.shape)
        self.grads["beta"] = np.sum(dout, axis=axes).reshape(gamma.shape)
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
    dtype) at the first forward unless given. Training caches: ``xc``, ``std``, ``xn``
    (x_hat), ``batch_size``.

    backward (train), with dxhat = dout * gamma and means over the batch axes:
        dx = (dxhat - mean(dxhat) - x_hat * mean(dxhat * x_hat)) / std
        dgamma = sum(dout * x_hat),  dbeta = sum(dout)
    backward (inference): the statistics are constants, dx = dxhat / sqrt(running_var + eps).
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

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        shape = _param_shape(x)
        axes = _param_axes(x)  # statistics over the batch (and spatial) axes
        if self.running_mean is None:
            self.running_mean = np.zeros(shape[1], dtype=x.dtype)
        if self.running_var is None:
            self.running_var = np.ones(shape[1], dtype=x.dtype)
        self.train_mode = train
        if train:
            mu = x.mean(axis=axes)  # (D,) or (C,)
            self.xc = x - mu.reshape(shape)
            var = (self.xc**2).mean(axis=axes)  # biased: divide by the count
            self.std = np.sqrt(var + self.eps).reshape(shape)
            self.xn = self.xc / self.std
            self.batch_size = x.shape[0]
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu
            self.running_var = m * self.running_var + (1 - m) * var
        else:
            self.xc = x - self.running_mean.reshape(shape)
            self.std = np.sqrt(self.running_var.reshape(shape) + self.eps)
            self.xn = self.xc / self.std
        return self._scale_shift(self.xn)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dxhat = self._param_grads(dout)
        if not self.train_mode:
            return dxhat / self.std
        return _normalize_backward(dxhat, self.xn, self.std, _param_axes(dout))


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
