"""course.train: EarlyStopping and Trainer (history, shuffling, schedules, evaluation)."""

import numpy as np
import pytest

from course.data import load_digits
from course.net import MultiLayerNet
from course.optim import SGD, Adam, step_decay
from course.train import EarlyStopping, Trainer


class ScriptedNet:
    """A stand-in network: records its mini-batches, returns a scripted validation accuracy.

    Training inputs are >= 0, validation inputs are -1, so the net can tell them apart.
    gradient() is -1 for W: SGD(lr=1) adds 1 to W per iteration, so W counts iterations.
    """

    def __init__(self, val_curve=None):
        self.params = {"W": np.zeros(1)}
        self.val_curve = list(val_curve or [])
        self.val_calls = 0
        self.batches = []
        self.eval_sizes = []

    def gradient(self, x, t):
        self.batches.append(x[:, 0].astype(int).tolist())
        return {"W": -np.ones(1)}

    def loss(self, x, t, train=False):
        return 1.0 / (1.0 + self.params["W"][0])

    def accuracy(self, x, t):
        if x[0, 0] < 0:
            value = self.val_curve[self.val_calls]
            self.val_calls += 1
            return value
        self.eval_sizes.append(len(x))
        return 0.5


def scripted_data(n=250):
    x_train = np.arange(n, dtype=float).reshape(n, 1)
    t_train = np.zeros(n, dtype=int)
    x_val, t_val = -np.ones((10, 1)), np.zeros(10, dtype=int)
    return x_train, t_train, x_val, t_val


# ----------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stopper = EarlyStopping(patience=2)
    decisions = [stopper.step(v) for v in [0.5, 0.6, 0.6, 0.55]]
    assert decisions == [False, False, False, True]
    assert stopper.best == 0.6 and stopper.best_epoch == 2


def test_early_stopping_improvement_resets_the_wait():
    stopper = EarlyStopping(patience=2)
    decisions = [stopper.step(v) for v in [0.5, 0.4, 0.7, 0.6, 0.65]]
    assert decisions == [False, False, False, False, True]
    assert stopper.best_epoch == 3


def test_early_stopping_min_mode_for_losses():
    stopper = EarlyStopping(patience=1, mode="min")
    assert [stopper.step(v) for v in [1.0, 0.8, 0.9]] == [False, False, True]
    assert stopper.best == 0.8 and stopper.monitor == "val_loss"


def test_early_stopping_min_delta_counts_small_gains_as_no_improvement():
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    assert [stopper.step(v) for v in [0.5, 0.505, 0.509]] == [False, False, True]
    assert stopper.best_epoch == 1


def test_early_stopping_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="maximum")


# ----------------------------------------------------------------------------- Trainer


def test_trainer_stops_at_the_right_epoch_on_a_scripted_validation_curve():
    curve = [0.1, 0.3, 0.5, 0.4, 0.5, 0.45, 0.9, 0.95]  # best 0.5 at epoch 3, patience 3
    net = ScriptedNet(curve)
    x, t, xv, tv = scripted_data()
    history = Trainer(net, SGD(lr=1.0), x, t, xv, tv, epochs=8, batch_size=100,
                      early_stopping=EarlyStopping(patience=3), progress=False).train()
    assert history["stopped_epoch"] == 6
    assert history["best_epoch"] == 3
    assert history["val_acc"] == curve[:6]


def test_early_stopping_restores_nothing_by_default():
    net = ScriptedNet([0.5, 0.9, 0.1, 0.1])
    x, t, xv, tv = scripted_data()  # 2 iterations per epoch
    Trainer(net, SGD(lr=1.0), x, t, xv, tv, epochs=4,
            early_stopping=EarlyStopping(patience=2), progress=False).train()
    assert net.params["W"][0] == 8  # the weights of the last epoch trained


def test_early_stopping_restore_best_copies_best_params_back_in_place():
    net = ScriptedNet([0.5, 0.9, 0.1, 0.1])
    w = net.params["W"]
    x, t, xv, tv = scripted_data()
    history = Trainer(net, SGD(lr=1.0), x, t, xv, tv, epochs=4,
                      early_stopping=EarlyStopping(patience=2, restore_best=True),
                      progress=False).train()
    assert history["best_epoch"] == 2
    assert net.params["W"] is w and w[0] == 4  # 2 epochs x 2 iterations


def test_restore_best_also_restores_batchnorm_running_stats():
    (x, t), (xv, tv) = [(np.random.default_rng(s).standard_normal((40, 4)),
                         np.random.default_rng(s).integers(0, 3, 40)) for s in (0, 1)]
    net = MultiLayerNet(4, [8], 3, use_batchnorm=True)
    stopper = EarlyStopping(patience=1, mode="min", monitor="train_loss_epoch", restore_best=True)
    stopper.improved = lambda value: stopper.epoch == 1  # only epoch 1 counts as an improvement
    trainer = Trainer(net, SGD(lr=0.1), x, t, xv, tv, epochs=3, batch_size=10,
                      early_stopping=stopper, progress=False)
    snapshots = []
    original_evaluate = trainer._evaluate

    def evaluate_and_snapshot(history):
        original_evaluate(history)
        bn = net.layers["BatchNorm1"]
        snapshots.append((net.params["W1"].copy(), bn.running_mean.copy()))

    trainer._evaluate = evaluate_and_snapshot
    history = trainer.train()
    assert history["stopped_epoch"] == 2 and history["best_epoch"] == 1
    np.testing.assert_array_equal(net.params["W1"], snapshots[0][0])
    np.testing.assert_array_equal(net.layers["BatchNorm1"].running_mean, snapshots[0][1])
    assert not np.array_equal(snapshots[0][1], snapshots[1][1])


def test_history_keys_and_lengths():
    net = ScriptedNet([0.5] * 3)
    x, t, xv, tv = scripted_data(n=250)
    history = Trainer(net, SGD(lr=1.0), x, t, xv, tv, epochs=3, batch_size=100,
                      progress=False).train()
    assert {"train_loss", "train_acc", "val_acc", "val_loss", "stopped_epoch"} <= history.keys()
    assert len(history["train_loss"]) == 3 * 2  # floor(250 / 100) iterations per epoch
    for key in ("train_acc", "val_acc", "val_loss", "train_loss_epoch", "lr"):
        assert len(history[key]) == 3, key
    assert history["stopped_epoch"] is None and history["best_epoch"] is None


def test_without_validation_set_val_lists_stay_empty():
    net = ScriptedNet()
    x, t, _, _ = scripted_data()
    history = Trainer(net, SGD(lr=1.0), x, t, epochs=2, progress=False).train()
    assert history["val_acc"] == [] and history["val_loss"] == []
    assert len(history["train_acc"]) == 2


def test_early_stopping_without_validation_set_is_refused():
    x, t, _, _ = scripted_data()
    with pytest.raises(ValueError, match="x_val"):
        Trainer(ScriptedNet(), SGD(), x, t, early_stopping=EarlyStopping())


def test_each_epoch_is_a_permutation_of_the_training_set():
    net = ScriptedNet()
    x, t, _, _ = scripted_data(n=200)
    Trainer(net, SGD(lr=1.0), x, t, epochs=2, batch_size=50, progress=False).train()
    epoch1 = sum(net.batches[:4], [])
    epoch2 = sum(net.batches[4:], [])
    assert sorted(epoch1) == list(range(200)) and sorted(epoch2) == list(range(200))
    assert epoch1 != epoch2 and epoch1 != list(range(200))


def test_shuffling_is_repeatable_with_a_seed():
    x, t, _, _ = scripted_data()
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        net = ScriptedNet()
        Trainer(net, SGD(lr=1.0), x, t, epochs=2, batch_size=50, seed=seed, progress=False).train()
        runs[name] = net.batches
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_batch_size_larger_than_the_data_is_one_full_batch():
    net = ScriptedNet()
    x, t, _, _ = scripted_data(n=20)
    history = Trainer(net, SGD(lr=1.0), x, t, epochs=2, batch_size=100, progress=False).train()
    assert len(history["train_loss"]) == 2 and len(net.batches[0]) == 20


def test_recorded_iteration_loss_falls_back_to_network_loss():
    net = ScriptedNet()  # no last_loss attribute: the Trainer calls loss() after the update
    x, t, _, _ = scripted_data(n=100)
    history = Trainer(net, SGD(lr=1.0), x, t, epochs=1, batch_size=50, progress=False).train()
    assert history["train_loss"] == [1 / 2, 1 / 3]


def test_lr_schedule_sets_optimizer_lr_each_epoch():
    net = ScriptedNet()
    x, t, _, _ = scripted_data()
    schedule = step_decay(0.1, 2, 0.5)
    optimizer = SGD(lr=123.0)
    history = Trainer(net, optimizer, x, t, epochs=5, lr_schedule=schedule, progress=False).train()
    assert history["lr"] == [schedule(e) for e in range(5)]
    assert optimizer.lr == schedule(4)


def test_eval_sample_evaluates_a_fixed_subsample_of_the_training_set():
    net = ScriptedNet()
    x, t, _, _ = scripted_data(n=250)
    trainer = Trainer(net, SGD(lr=1.0), x, t, epochs=2, eval_sample=30, progress=False,
                      eval_batch_size=1000)
    trainer.train()
    assert net.eval_sizes == [30, 30]
    assert len(np.unique(trainer.x_eval[:, 0])) == 30


def test_eval_sample_does_not_change_the_mini_batches():
    x, t, _, _ = scripted_data()
    nets = [ScriptedNet(), ScriptedNet()]
    Trainer(nets[0], SGD(lr=1.0), x, t, epochs=1, batch_size=50, progress=False).train()
    Trainer(nets[1], SGD(lr=1.0), x, t, epochs=1, batch_size=50, eval_sample=20,
            progress=False).train()
    assert nets[0].batches == nets[1].batches


def test_evaluation_in_chunks_equals_one_pass():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((250, 4)), rng.integers(0, 3, 250)
    net = MultiLayerNet(4, [8], 3, use_batchnorm=True)
    trainer = Trainer(net, SGD(), x, t, eval_batch_size=64, progress=False)
    loss, acc = trainer.evaluate(x, t)
    assert loss == pytest.approx(net.loss(x, t, train=False), rel=1e-12)
    assert acc == pytest.approx(net.accuracy(x, t))


def test_progress_bar_off_by_default_in_quick_mode(monkeypatch):
    x, t, _, _ = scripted_data()
    monkeypatch.setenv("DLCOURSE_QUICK", "1")
    assert Trainer(ScriptedNet(), SGD(), x, t).progress is False
    monkeypatch.delenv("DLCOURSE_QUICK")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert Trainer(ScriptedNet(), SGD(), x, t).progress is True


def test_progress_bar_runs(capsys):
    x, t, xv, tv = scripted_data()
    history = Trainer(ScriptedNet([0.5, 0.6]), SGD(lr=1.0), x, t, xv, tv, epochs=2,
                      progress=True).train()
    assert len(history["val_acc"]) == 2
    assert "val_acc=0.600" in capsys.readouterr().err


def test_training_reduces_the_loss_on_digits():
    (x, t), (x_val, t_val), _ = load_digits(validation=300)
    net = MultiLayerNet(64, [50], 10, dtype=np.float32)
    history = Trainer(net, Adam(lr=0.01), x, t, x_val, t_val, epochs=5, batch_size=50,
                      progress=False).train()
    first, last = np.mean(history["train_loss"][:5]), np.mean(history["train_loss"][-5:])
    assert last < 0.5 * first
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_acc"][-1] > 0.85
