"""Training loop kept apart from the model: Trainer (epochs of shuffled mini-batches) and
EarlyStopping (patience on a validation metric).

A network for the Trainer has `params` (dict of arrays, updated in place), `gradient(x, t)`
(dict with the same keys), `loss(x, t, train=False)` and `accuracy(x, t)`; if `gradient` sets
`network.last_loss` (as MultiLayerNet does) the Trainer records it instead of a second forward.
An optimiser has `update(params, grads)` and an `lr` attribute (course.optim).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import course

_LAYER_STATE = ("running_mean", "running_var")  # restored together with params (BN)


class EarlyStopping:
    """Stop when the monitored value has not improved for `patience` epochs in a row.

    mode "max" (accuracy) improves when value > best + min_delta; "min" (loss) when
    value < best - min_delta. Epochs are counted from 1: the first `step` is epoch 1.
    monitor: the history key the Trainer passes ("val_acc" or "val_loss", ...).
    restore_best: the Trainer copies the parameters (and BN running statistics) of the best
    epoch back into the network when training ends; by default nothing is restored.
    """

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "max",
        monitor: str | None = None,
        restore_best: bool = False,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        if monitor is None:
            monitor = "val_acc" if mode == "max" else "val_loss"
        self.monitor = monitor
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.epoch = 0
        self.wait = 0  # epochs since the last improvement

    def improved(self, value: float) -> bool:
        """Whether `value` beats the best so far by more than min_delta."""
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def step(self, value: float) -> bool:
        """Record one epoch's value; True when training should stop."""
        self.epoch += 1
        if self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), self.epoch, 0
        else:
            self.wait += 1
        return self.wait >= self.patience


class Trainer:
    """Mini-batch training for `epochs` epochs; `train()` returns the history.

    Each epoch: a permutation of the training set from np.random.default_rng(seed) (same seed,
    same batches), floor(N / batch_size) mini-batches (the remainder is left out of that epoch;
    batch_size is capped at N), one `optimizer.update(network.params, network.gradient(x, t))`
    per batch. lr_schedule(e) sets optimizer.lr before epoch e = 0, 1, ...

    After each epoch the network is evaluated in inference mode on the training set (or a fixed
    random subsample of `eval_sample` images) and on the validation set, in chunks of
    `eval_batch_size`. history:
        "train_loss"       per iteration, the loss of each mini-batch (train mode)
        "train_loss_epoch", "train_acc", "val_loss", "val_acc", "lr"   per epoch
        "stopped_epoch"    the epoch early stopping stopped at (from 1), None if it did not
        "best_epoch"       early stopping's best epoch, None without early stopping
    Losses are `network.loss`, so they include any weight-decay penalty.
    progress: a tqdm bar (tqdm.auto); default on, except in course.quick_mode().
    """

    def __init__(
        self,
        network: Any,
        optimizer: Any,
        x_train: np.ndarray,
        t_train: np.ndarray,
        x_val: np.ndarray | None = None,
        t_val: np.ndarray | None = None,
        epochs: int = 10,
        batch_size: int = 100,
        seed: int = 0,
        early_stopping: EarlyStopping | None = None,
        progress: bool | None = None,
        eval_sample: int | None = None,
        lr_schedule: Callable[[int], float] | None = None,
        eval_batch_size: int = 1000,
    ) -> None:
        if (x_val is None) != (t_val is None):
            raise ValueError("give both x_val and t_val, or neither")
        if early_stopping is not None and x_val is None:
            raise ValueError("early stopping monitors the validation set: give x_val and t_val")
        if len(x_train) != len(t_train):
            raise ValueError(f"x_train has {len(x_train)} samples but t_train {len(t_train)}")
        self.network = network
        self.optimizer = optimizer
        self.x_train, self.t_train = x_train, t_train
        self.x_val, self.t_val = x_val, t_val
        self.epochs = epochs
        self.batch_size = min(batch_size, len(x_train))
        self.seed = seed
        self.early_stopping = early_stopping
        self.progress = (not course.quick_mode()) if progress is None else progress
        self.lr_schedule = lr_schedule
        self.eval_batch_size = eval_batch_size
        self.rng = np.random.default_rng(seed)
        if eval_sample is not None and eval_sample < len(x_train):
            # a separate stream, so eval_sample does not change the mini-batches
            idx = np.sort(np.random.default_rng([seed, 1]).choice(len(x_train), eval_sample,
                                                                   replace=False))
            self.x_eval, self.t_eval = x_train[idx], t_train[idx]
        else:
            self.x_eval, self.t_eval = x_train, t_train
        self.iterations_per_epoch = len(x_train) // self.batch_size
        self.history: dict[str, Any] = {}

    def train(self) -> dict[str, Any]:
        """Run the epochs (or until early stopping); return the history dict."""
        history: dict[str, Any] = {
            "train_loss": [], "train_loss_epoch": [], "train_acc": [], "val_loss": [],
            "val_acc": [], "lr": [], "stopped_epoch": None, "best_epoch": None,
        }
        self.history = history
        stopper = self.early_stopping
        best_state = None
        bar = self._progress_bar()
        try:
            for epoch in range(self.epochs):
                if self.lr_schedule is not None:
                    self.optimizer.lr = self.lr_schedule(epoch)
                history["lr"].append(getattr(self.optimizer, "lr", None))
                history["train_loss"].extend(self._train_one_epoch(bar))
                self._evaluate(history)
                if bar is not None:
                    bar.set_postfix(self._postfix(history), refresh=False)
                if stopper is None:
                    continue
                stop = stopper.step(history[stopper.monitor][-1])
                if stopper.restore_best and stopper.best_epoch == epoch + 1:
                    best_state = _snapshot(self.network)
                if stop:
                    history["stopped_epoch"] = epoch + 1
                    break
        finally:
            if bar is not None:
                bar.close()
        if stopper is not None:
            history["best_epoch"] = stopper.best_epoch
            if best_state is not None:
                _restore(self.network, best_state)
        return history

    def _train_one_epoch(self, bar) -> list[float]:
        order = self.rng.permutation(len(self.x_train))
        losses = []
        for i in range(self.iterations_per_epoch):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x, t = self.x_train[idx], self.t_train[idx]
            if hasattr(self.network, "last_loss"):
                self.network.last_loss = None
            grads = self.network.gradient(x, t)
            self.optimizer.update(self.network.params, grads)
            loss = getattr(self.network, "last_loss", None)
            losses.append(float(loss) if loss is not None else self.network.loss(x, t, train=True))
            if bar is not None:
                bar.update(1)
        return losses

    def _evaluate(self, history: dict[str, Any]) -> None:
        loss, acc = self.evaluate(self.x_eval, self.t_eval)
        history["train_loss_epoch"].append(loss)
        history["train_acc"].append(acc)
        if self.x_val is not None:
            loss, acc = self.evaluate(self.x_val, self.t_val)
            history["val_loss"].append(loss)
            history["val_acc"].append(acc)

    def evaluate(self, x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
        """(loss, accuracy) in inference mode, computed in chunks and weighted by chunk size."""
        total_loss = total_correct = 0.0
        for start in range(0, len(x), self.eval_batch_size):
            xb, tb = x[start:start + self.eval_batch_size], t[start:start + self.eval_batch_size]
            total_loss += self.network.loss(xb, tb, train=False) * len(xb)
            total_correct += self.network.accuracy(xb, tb) * len(xb)
        return total_loss / len(x), total_correct / len(x)

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm.auto import tqdm  # only when asked for: `import course.train` stays numpy-only

        return tqdm(total=self.epochs * self.iterations_per_epoch, unit="batch")

    @staticmethod
    def _postfix(history: dict[str, Any]) -> dict[str, str]:
        postfix = {"loss": f"{history['train_loss'][-1]:.3f}",
                   "train_acc": f"{history['train_acc'][-1]:.3f}"}
        if history["val_acc"]:
            postfix["val_acc"] = f"{history['val_acc'][-1]:.3f}"
        return postfix


def _snapshot(network: Any) -> dict[str, Any]:
    """Copies of the parameters and of layer state such as BN running statistics."""
    layers = getattr(network, "layers", {})
    return {
        "params": {name: value.copy() for name, value in network.params.items()},
        "state": {
            (name, attr): np.copy(getattr(layer, attr))
            for name, layer in layers.items()
            for attr in _LAYER_STATE
            if getattr(layer, attr, None) is not None
        },
    }


def _restore(network: Any, snapshot: dict[str, Any]) -> None:
    """Copy a snapshot back in place (the layers keep sharing the arrays of `params`)."""
    for name, value in snapshot["params"].items():
        network.params[name][...] = value
    for (name, attr), value in snapshot["state"].items():
        setattr(network.layers[name], attr, value)
