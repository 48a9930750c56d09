"""Forward hooks: watch what a layer outputs without changing the layer's code.

``add_forward_hook(layer, fn)`` makes every ``layer.forward(x, ...)`` call ``fn(layer, x, out)``
after computing ``out``. It works with any object that has a ``forward`` method (the layer
protocol): the instance's ``forward`` is wrapped, the class is untouched, and removing the last
hook restores the original method. ``ActivationRecorder`` uses hooks to keep per-layer
statistics of the activations (mean, std, histogram), e.g. to compare weight initialisations.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

HookFn = Callable[[Any, Any, Any], None]

_ids = itertools.count()


class HookHandle:
    """Returned by ``add_forward_hook``; ``remove()`` unregisters the hook (safe to call twice).

    Also a context manager: ``with add_forward_hook(layer, fn): ...`` removes it on exit.
    """

    def __init__(self, layer: Any, hook_id: int):
        self.layer, self.hook_id = layer, hook_id

    def remove(self) -> None:
        hooks = self.layer.__dict__.get("_forward_hooks")
        if hooks is None or self.hook_id not in hooks:
            return
        del hooks[self.hook_id]
        if not hooks:  # last hook gone: put the original forward back
            original, had_instance_forward = self.layer.__dict__.pop("_forward_unhooked")
            del self.layer._forward_hooks
            if had_instance_forward:
                self.layer.forward = original
            else:
                del self.layer.forward  # the class's method shows through again

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def add_forward_hook(layer: Any, fn: HookFn) -> HookHandle:
    """Call ``fn(layer, x, out)`` after each ``layer.forward(x, ...)``; returns a ``HookHandle``.

    x: the first argument of forward; out: what forward returned (returned unchanged; the
    return value of ``fn`` is ignored). Several hooks on one layer run in the order added.
    Remove hooks before copying or pickling a layer: the wrapper refers to the original layer.
    """
    hooks = layer.__dict__.get("_forward_hooks")
    if hooks is None:
        hooks = {}
        original = layer.forward
        had_instance_forward = "forward" in layer.__dict__

        @functools.wraps(original)
        def forward(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            x = args[0] if args else kwargs.get("x")
            for hook in list(hooks.values()):
                hook(layer, x, out)
            return out

        layer.forward = forward
        layer._forward_hooks = hooks
        layer._forward_unhooked = (original, had_instance_forward)
    hook_id = next(_ids)
    hooks[hook_id] = fn
    return HookHandle(layer, hook_id)


class ActivationRecorder:
    """Records statistics of each layer's output on every forward pass.

    layers: name -> layer (any objects with ``forward``), or a network with a ``layers``
        mapping (then every layer of it is recorded; pass a dict to choose, e.g. only the
        activation layers).
    bins, range: passed to ``np.histogram``; fix ``range`` (e.g. (0, 1) for sigmoid) to
        compare layers on the same bins.
    ``stats[name]`` holds the most recent forward pass of that layer:
        "mean", "std": of all output elements (floats),
        "hist", "bin_edges": ``np.histogram(out, bins, range)`` (counts, edges),
        "zero_fraction": the fraction of outputs exactly 0 (dead ReLU units show up here).
    ``remove()`` detaches every hook; the recorder is also a context manager.
    """

    def __init__(self, layers: Mapping[str, Any] | Any, bins: int = 30, range=None):
        if not isinstance(layers, Mapping):
            layers = layers.layers
        self.bins, self.range = bins, range
        self.stats: dict[str, dict[str, Any]] = {}
        self._handles = [
            add_forward_hook(layer, functools.partial(self._record, name))
            for name, layer in layers.items()
        ]

    def _record(self, name: str, layer: Any, x: Any, out: Any) -> None:
        values = np.asarray(out, dtype=np.float64)
        hist, bin_edges = np.histogram(values, bins=self.bins, range=self.range)
        self.stats[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "hist": hist,
            "bin_edges": bin_edges,
            "zero_fraction": float(np.mean(values == 0.0)),
        }

    def remove(self) -> None:
        """Detach all hooks; ``stats`` keeps what was recorded."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> ActivationRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
