"""Grading spec of day6/6_4_boltzmann_generative: RBM, CD-1, and three approaches to classification.

The learner writes the RBM's ``energy``, ``prob_h_given_v``, ``prob_v_given_h``,
``free_energy`` and one ``cd1`` step with given uniform draws (so the update is a deterministic
function a test compares), which the notebook plugs into ``course.rbm.RBM`` / ``train_dbn`` on
binarised MNIST; then a generative ``GaussianClassifier`` (class-conditional Gaussians, Bayes'
rule, sampling) and the least-squares discriminant function, compared with logistic regression
(``course.generative``). Fixtures hold the visible tests' inputs, reference results and the
quick RBM run's final reconstruction error. QUICK_RBM must match the quick settings of the
notebook's RBM experiment cell.
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug

NOTEBOOK = "day6/6_4_boltzmann_generative"

QUICK_RBM = {"lr": 0.1, "batch_size": 50, "seed": 0, "hidden": 64, "n_train": 1000, "epochs": 5}
COMPARE = {"n_train_per_class": 100, "n_test_per_class": 300, "train_seed": 0, "test_seed": 1}


def quick_rbm_error() -> float:
    """Final training reconstruction error of the notebook's quick RBM run (reference cd1)."""
    from course.data import load_mnist
    from course.rbm import RBM, binarize

    (x_train, _), _ = load_mnist(dtype=np.float64)
    cfg = QUICK_RBM
    rbm = RBM(784, cfg["hidden"], seed=cfg["seed"])
    history = rbm.train(binarize(x_train)[:cfg["n_train"]], cfg["epochs"], lr=cfg["lr"],
                        batch_size=cfg["batch_size"])
    return float(history["reconstruction_error"][-1])


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference results of the visible tests."""
    from course import generative, rbm

    rng = np.random.default_rng(64)
    fx: dict[str, np.ndarray] = {
        "v": (rng.random((5, 6)) < 0.5).astype(np.float64),
        "h": (rng.random((5, 4)) < 0.5).astype(np.float64),
        "W": rng.normal(0.0, 1.0, (6, 4)), "b": rng.normal(size=6), "c": rng.normal(size=4),
    }
    v, h, W, b, c = (fx[k] for k in ("v", "h", "W", "b", "c"))
    fx["energy"] = rbm.energy(v, h, W, b, c)
    fx["ph"] = rbm.prob_h_given_v(v, W, c)
    fx["pv"] = rbm.prob_v_given_h(h, W, b)
    fx["free_energy_big"] = rbm.free_energy(v, 1000.0 * W, b, c)
    fx["u_h"], fx["u_v"] = rng.random((5, 4)), rng.random((5, 6))
    step = rbm.cd1(v, W, b, c, fx["u_h"], fx["u_v"])
    for key in ("dW", "db", "dc", "v1"):
        fx[f"cd_{key}"] = step[key]

    counts = np.array([10, 30, 60])
    means = np.array([[0.0, 0.0], [2.0, 1.0], [0.0, 2.5]])
    x = np.concatenate([rng.normal(m, [0.8, 0.6], (n, 2))
                        for m, n in zip(means, counts, strict=True)])
    t = np.repeat(np.arange(3), counts)
    fx["gen_x"], fx["gen_t"], fx["gen_counts"] = x, t, counts.astype(np.float64)
    model = generative.GaussianClassifier().fit(x, t)
    fx["gen_priors"], fx["gen_means"], fx["gen_covs"] = model.priors, model.means, model.covs
    fx["gen_query"] = rng.normal(1.0, 1.5, (8, 2))
    fx["gen_proba"] = model.predict_proba(fx["gen_query"])
    log_lik = model.log_joint(fx["gen_query"]) - np.log(model.priors)
    fx["gen_proba_no_prior"] = np.exp(log_lik) / np.exp(log_lik).sum(axis=1, keepdims=True)
    fx["gen_sample_x"] = model.sample(5, np.random.default_rng(1))[0]
    ls = generative.LeastSquaresClassifier().fit(x, t)
    fx["ls_W"], fx["ls_pred"] = ls.W, ls.predict(fx["gen_query"])

    cfg = COMPARE
    x_fit, t_fit = generative.three_class_data(cfg["n_train_per_class"], seed=cfg["train_seed"])
    x_eval, t_eval = generative.three_class_data(cfg["n_test_per_class"], seed=cfg["test_seed"])
    for name, cls in (("generative", generative.GaussianClassifier),
                      ("least_squares", generative.LeastSquaresClassifier)):
        pred = cls().fit(x_fit, t_fit).predict(x_eval)
        fx[f"acc_{name}"] = np.array(generative.accuracy(pred, t_eval))
    # Rounded: the notebook's tolerance (rtol 2 %) is far wider than 1e-5 relative.
    fx["quick_rbm_error"] = np.array(round(quick_rbm_error(), 6))
    return fx


_ENERGY, _FREE, _CD = "rbm_energy", "free_energy", "cd1"
_GEN, _LS = "gaussian_classifier", "least_squares"
TYPICAL_BUGS = [
    # energy and conditionals
    Bug(name="energy with the wrong sign", cell=_ENERGY,
        old="return -(v @ b) - (h @ c) - np.sum((v @ W) * h, axis=1)",
        new="return (v @ b) + (h @ c) + np.sum((v @ W) * h, axis=1)",
        caught_by="test_rbm_energy", message_contains="符号が逆"),
    Bug(name="energy without the hidden bias term", cell=_ENERGY,
        old="return -(v @ b) - (h @ c) - np.sum((v @ W) * h, axis=1)",
        new="return -(v @ b) - np.sum((v @ W) * h, axis=1)",
        caught_by="test_rbm_energy", message_contains="h c"),
    Bug(name="energy v W h as an N x N matrix", cell=_ENERGY,
        old="np.sum((v @ W) * h, axis=1)", new="v @ W @ h.T",
        caught_by="test_rbm_energy", message_contains="N×N"),
    Bug(name="p(h | v) without the hidden bias", cell=_ENERGY,
        old="return sigmoid(v @ W + c)", new="return sigmoid(v @ W)",
        caught_by="test_rbm_energy", message_contains="バイアス c"),
    # free energy
    Bug(name="softplus that overflows", cell=_FREE,
        old="np.logaddexp(0, v @ W + c)", new="np.log(1 + np.exp(v @ W + c))",
        caught_by="test_free_energy", message_contains="オーバーフロー"),
    Bug(name="free energy without the visible bias", cell=_FREE,
        old="return -(v @ b) - np.sum(", new="return -np.sum(",
        caught_by="test_free_energy", message_contains="-v b"),
    Bug(name="free energy with + softplus", cell=_FREE,
        old="return -(v @ b) - np.sum(", new="return -(v @ b) + np.sum(",
        caught_by="test_free_energy", message_contains="全状態の和"),
    Bug(name="softplus averaged over the hidden units", cell=_FREE,
        old="- np.sum(np.logaddexp", new="- np.mean(np.logaddexp",
        caught_by="test_free_energy", message_contains="softplus の和"),
    # CD-1
    Bug(name="positive phase with the hidden sample instead of its probability", cell=_CD,
        old="dW = (v0.T @ ph0 - v1.T @ ph1) / N", new="dW = (v0.T @ h0 - v1.T @ ph1) / N",
        caught_by="test_cd1", message_contains="サンプル h0"),
    Bug(name="hidden sample drawn the wrong way", cell=_CD,
        old="h0 = (u_h < ph0)", new="h0 = (u_h > ph0)",
        caught_by="test_cd1", message_contains="u_h < ph0"),
    Bug(name="reconstruction from ph0 instead of the sample h0", cell=_CD,
        old="pv1 = prob_v_given_h(h0, W, b)", new="pv1 = prob_v_given_h(ph0, W, b)",
        caught_by="test_cd1", message_contains="h0 から再構成"),
    Bug(name="CD-1 update with the wrong sign", cell=_CD,
        old="dW = (v0.T @ ph0 - v1.T @ ph1) / N", new="dW = (v1.T @ ph1 - v0.T @ ph0) / N",
        caught_by="test_cd1", message_contains="符号"),
    Bug(name="CD-1 update not divided by N", cell=_CD,
        old="dW = (v0.T @ ph0 - v1.T @ ph1) / N", new="dW = v0.T @ ph0 - v1.T @ ph1",
        caught_by="test_cd1", message_contains="N = 5 倍"),
    # generative classifier
    Bug(name="unbiased covariance (divided by N_k - 1)", cell=_GEN,
        old="np.cov(x[t == k].T, bias=True)", new="np.cov(x[t == k].T)",
        caught_by="test_generative_classifier", message_contains="不偏推定"),
    Bug(name="uniform priors instead of class frequencies", cell=_GEN,
        old="self.priors = np.array([np.mean(t == k) for k in range(K)])",
        new="self.priors = np.full(K, 1.0 / K)",
        caught_by="test_generative_classifier", message_contains="N_k / N"),
    Bug(name="posterior without the prior", cell=_GEN,
        old="return log_pdf + np.log(self.priors)", new="return log_pdf",
        caught_by="test_generative_classifier", message_contains="p(C_k) が入っていません"),
    Bug(name="posterior without subtracting the maximum", cell=_GEN,
        old="e = np.exp(a - np.max(a, axis=1, keepdims=True))", new="e = np.exp(a)",
        caught_by="test_generative_classifier", message_contains="アンダーフロー"),
    Bug(name="classes sampled uniformly", cell=_GEN,
        old="rng.choice(len(self.priors), size=n, p=self.priors)",
        new="rng.choice(len(self.priors), size=n)",
        caught_by="test_generative_classifier", message_contains="クラスの割合"),
    # least squares
    Bug(name="least squares without the bias column", cell=_LS,
        old="X = np.hstack([np.ones((len(x), 1)), x])\n    return np.linalg.pinv(X)",
        new="X = x\n    return np.linalg.pinv(X)",
        caught_by="test_least_squares", message_contains="バイアス"),
    Bug(name="least squares on the labels instead of one-hot targets", cell=_LS,
        old="np.linalg.pinv(X) @ np.eye(K)[t]", new="np.linalg.pinv(X) @ t",
        caught_by="test_least_squares", message_contains="one-hot"),
    Bug(name="argmax over the samples", cell=_LS,
        old="np.argmax(X @ W, axis=1)", new="np.argmax(X @ W, axis=0)",
        caught_by="test_least_squares", message_contains="axis=1"),
]

PARTIAL_BUGS = [
    "energy without the hidden bias term",
    "uniform priors instead of class frequencies",
]
PARTIAL_EXPECTED = {
    "test_rbm_energy": 0,
    "test_free_energy": 1,
    "test_cd1": 2,
    "test_rbm_training": 1,
    "test_generative_classifier": 0,
    "test_least_squares": 1,
    "test_three_approaches": 1,
}
