"""Weight penalties added to the loss: L1 (LASSO), L2 (Ridge, weight decay), Elastic Net.

Each penalty acts on the weight matrices only (``is_weight``):
``loss = data_loss + penalty(params)`` and ``grads[k] += gradient(params)[k]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np


def is_weight(name: str) -> bool:
    """True for the weight arrays W1, W2, ... that a penalty applies to; False for b, gamma, beta.

    Why weights only: a weight scales an input, so a large weight makes the output sensitive to
    small changes of the input, which is what a penalty is meant to discourage. A bias b only
    shifts the output; penalising it does not reduce that sensitivity, it just pulls the
    output towards zero and can make the model underfit. gamma and beta of a normalisation
    layer set the scale and shift the layer is meant to learn freely; pushing gamma to zero
    would shrink the normalised activations and fight the normalisation. (Same rule as the
    textbook's MultiLayerNet: weight decay over W1, W2, ... only.)

    Names are read by their last dotted part (``fc1.weight`` as ``weight``): weights are ``W``,
    ``w``, ``weight`` or ``weights``, optionally followed by a number or ``_suffix`` (W1, w2,
    W_out); not weights are b, bias, gamma, beta, running_mean, running_var (same suffixes). Any
    other name raises ValueError: a penalty that silently skipped a weight named otherwise
    would not regularise it, with no error.
    """
    base = name.rsplit(".", 1)[-1]
    if _WEIGHT_NAME.fullmatch(base):
        return True
    if _OTHER_NAME.fullmatch(base):
        return False
    raise ValueError(
        f"is_weight: cannot tell whether parameter {name!r} is a weight; name weights W1, W2, ... "
        "(or w1, weight), biases b1, ..., normalisation parameters gamma1, beta1, ..."
    )


_SUFFIX = r"(?:\d+|_\w+)?"
_WEIGHT_NAME = re.compile(rf"(?:[Ww]|[Ww]eights?){_SUFFIX}")
_OTHER_NAME = re.compile(rf"(?:b|bias|biases|gamma|beta|running_mean|running_var){_SUFFIX}",
                         re.IGNORECASE)


class Regularizer:
    """A penalty over the weight arrays of ``params``: ``penalty(params)``, ``gradient(params)``."""

    def __init__(self, lam: float):
        self.lam = lam

    def _penalty(self, W: np.ndarray) -> float:
        raise NotImplementedError

    def _gradient(self, W: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def penalty(self, params: Mapping[str, np.ndarray]) -> float:
        """The penalty summed over every weight array in ``params`` (a float)."""
        return float(sum(self._penalty(W) for name, W in params.items() if is_weight(name)))

    def gradient(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """d penalty / dW for every weight key of ``params`` (no entry for b, gamma, beta)."""
        return {name: self._gradient(W) for name, W in params.items() if is_weight(name)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """L1 (LASSO): penalty lam * sum|W|; gradient lam * sign(W) (0 at W = 0).

    The gradient has the same size for every non-zero weight, so small weights are pushed
    all the way to zero: L1 makes weights sparse.
    """

    def _penalty(self, W):
        return self.lam * np.sum(np.abs(W))

    def _gradient(self, W):
        return self.lam * np.sign(W)


class L2(Regularizer):
    """L2 (Ridge, weight decay): penalty 0.5 * lam * sum W**2; gradient lam * W.

    The gradient shrinks each weight in proportion to its size ("decay"); weights become
    small but rarely exactly zero.
    """

    def _penalty(self, W):
        return 0.5 * self.lam * np.sum(W**2)

    def _gradient(self, W):
        return self.lam * W


class ElasticNet(Regularizer):
    """Elastic Net: a mix of L1 and L2 (scikit-learn's parametrisation).

    penalty = lam * (l1_ratio * sum|W| + (1 - l1_ratio) * 0.5 * sum W**2)
    gradient = lam * (l1_ratio * sign(W) + (1 - l1_ratio) * W)
    l1_ratio = 1 gives L1(lam), l1_ratio = 0 gives L2(lam).
    """

    def __init__(self, lam: float, l1_ratio: float = 0.5):
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}")
        super().__init__(lam)
        self.l1_ratio = l1_ratio

    def _penalty(self, W):
        r = self.l1_ratio
        return self.lam * (r * np.sum(np.abs(W)) + (1.0 - r) * 0.5 * np.sum(W**2))

    def _gradient(self, W):
        r = self.l1_ratio
        return self.lam * (r * np.sign(W) + (1.0 - r) * W)
