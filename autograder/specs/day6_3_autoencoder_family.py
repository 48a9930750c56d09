"""Grading spec of day6/6_3_autoencoder_family: sparsity penalty, reparameterisation, Gaussian KL.

The learner writes ``sparsity_penalty`` / ``sparsity_penalty_grad`` (the KL sparsity term on
the mean hidden activation and its gradient), and the VAE's two layers ``Reparameterize``
(z = mu + exp(logvar / 2) eps, forward and backward) and ``GaussianKL`` (the closed-form KL to
N(0, I), batch mean, forward and backward). The notebook plugs them into
``course.sparse_autoencoder.SparseAutoencoder`` and ``course.vae.VAE`` and trains both on MNIST.
Fixtures hold the visible tests' inputs and reference results and the numbers of the notebook's
quick experiments made with the reference library. QUICK_SPARSE and QUICK_VAE must match the
quick settings of the notebook's experiment cells (the reference solution's visible tests fail
otherwise).
"""

from __future__ import annotations

import numpy as np

from autograder.specs import Bug

NOTEBOOK = "day6/6_3_autoencoder_family"

QUICK_SPARSE = {"hidden": 64, "rho": 0.05, "beta": 0.5, "lr": 0.01, "batch_size": 50, "seed": 0,
                "n_train": 500, "epochs": 5}
QUICK_VAE = {"latent": 2, "lr": 0.003, "batch_size": 100, "seed": 0, "hidden": 64,
             "n_train": 1000, "epochs": 3}


def quick_results() -> dict[str, float]:
    """The numbers of the notebook's quick experiments, with the reference library."""
    from course.data import load_mnist
    from course.optim import Adam
    from course.sparse_autoencoder import SparseAutoencoder
    from course.train import Trainer
    from course.vae import VAE

    (x_train, _), (x_test, _) = load_mnist(dtype=np.float64)
    s = QUICK_SPARSE
    net = SparseAutoencoder(784, s["hidden"], rho=s["rho"], beta=s["beta"], seed=s["seed"])
    x_fit = x_train[:s["n_train"]]
    Trainer(net, Adam(lr=s["lr"]), x_fit, x_fit, epochs=s["epochs"], batch_size=s["batch_size"],
            seed=s["seed"], progress=False).train()
    sparse_mean = float(np.mean(np.mean(net.encode(x_test), axis=0)))

    v = QUICK_VAE
    vae = VAE(784, v["hidden"], v["latent"], seed=v["seed"], dtype=np.float32)
    x_fit = x_train[:v["n_train"]].astype(np.float32)
    Trainer(vae, Adam(lr=v["lr"]), x_fit, x_fit, epochs=v["epochs"], batch_size=v["batch_size"],
            seed=v["seed"], progress=False).train()
    return {"sparse_mean": sparse_mean, "vae_loss": float(vae.loss(x_test, train=False))}


def make_fixtures() -> dict[str, np.ndarray]:
    """Inputs and reference results of the visible tests; the quick experiments' numbers."""
    from course.sparse_autoencoder import kl_sparsity
    from course.vae import VAE, GaussianKL, Reparameterize

    rng = np.random.default_rng(63)
    fx: dict[str, np.ndarray] = {"h": rng.uniform(0.02, 0.9, (6, 5))}
    fx["penalty"] = np.array(kl_sparsity(fx["h"], 0.1))
    for key in ("mu", "logvar", "eps", "dz"):
        fx[key] = rng.normal(size=(4, 3))
    fx["z"] = Reparameterize().forward(fx["mu"], fx["logvar"], fx["eps"])
    fx["kl"] = np.array(GaussianKL().forward(fx["mu"], fx["logvar"]))

    fx["x_small"] = rng.random((5, 12))
    fx["eps_small"] = rng.standard_normal((5, 3))
    net = VAE(12, 8, 3, seed=2)
    for name, value in net.params.items():
        if name.startswith("b"):  # biases off zero: no ReLU input sits on its kink
            value += rng.normal(0.0, 0.1, value.shape)
            fx[f"vae_{name}"] = value.copy()
    fx["vae_loss_small"] = np.array(net.loss(fx["x_small"], eps=fx["eps_small"]))

    # Rounded: float32 training differs in its last bits between BLAS builds; the notebook's
    # tolerance (rtol 2 %) is far wider than 1e-4 relative.
    quick = quick_results()
    fx["quick_sparse_mean"] = np.array(round(quick["sparse_mean"], 5))
    fx["quick_vae_loss"] = np.array(round(quick["vae_loss"], 2))
    return fx


_SPARSE, _REPARAM, _KL = "sparsity_penalty", "reparameterize", "gaussian_kl"
_KL_TERMS = "rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))"
TYPICAL_BUGS = [
    # sparsity_penalty / sparsity_penalty_grad
    Bug(name="mean activation over the hidden units (axis=1)", cell=_SPARSE,
        old="rho_hat = np.mean(h, axis=0)\n    return float(",
        new="rho_hat = np.mean(h, axis=1)\n    return float(",
        caught_by="test_sparsity_penalty", message_contains="axis=1"),
    Bug(name="KL divergence the wrong way round", cell=_SPARSE,
        old=_KL_TERMS,
        new="rho_hat * np.log(rho_hat / rho) + (1 - rho_hat) * np.log((1 - rho_hat) / (1 - rho))",
        caught_by="test_sparsity_penalty", message_contains="向きが逆"),
    Bug(name="KL without the (1 - rho) term", cell=_SPARSE,
        old=" + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))", new="",
        caught_by="test_sparsity_penalty", message_contains="(1 - ρ) の項"),
    Bug(name="sparsity gradient without 1/N", cell=_SPARSE,
        old="np.tile(per_unit / N, (N, 1))", new="np.tile(per_unit, (N, 1))",
        caught_by="test_sparsity_gradient", message_contains="1/N"),
    Bug(name="sparsity gradient with the wrong sign", cell=_SPARSE,
        old="per_unit = -rho / rho_hat + (1 - rho) / (1 - rho_hat)",
        new="per_unit = rho / rho_hat - (1 - rho) / (1 - rho_hat)",
        caught_by="test_sparsity_gradient", message_contains="符号"),
    Bug(name="sparsity gradient without the (1 - rho) term", cell=_SPARSE,
        old="per_unit = -rho / rho_hat + (1 - rho) / (1 - rho_hat)",
        new="per_unit = -rho / rho_hat",
        caught_by="test_sparsity_gradient", message_contains="2 つの項"),
    # Reparameterize
    Bug(name="log-variance used as the standard deviation", cell=_REPARAM,
        old="self.std = np.exp(0.5 * logvar)", new="self.std = logvar",
        caught_by="test_reparameterize", message_contains="対数分散 (logvar) を標準偏差"),
    Bug(name="variance used as the standard deviation", cell=_REPARAM,
        old="self.std = np.exp(0.5 * logvar)", new="self.std = np.exp(logvar)",
        caught_by="test_reparameterize", message_contains="分散 σ² を標準偏差"),
    Bug(name="dlogvar without the factor 1/2", cell=_REPARAM,
        old="dz * self.eps * 0.5 * self.std", new="dz * self.eps * self.std",
        caught_by="test_reparameterize", message_contains="1/2"),
    Bug(name="dlogvar without eps", cell=_REPARAM,
        old="dz * self.eps * 0.5 * self.std", new="dz * 0.5 * self.std",
        caught_by="test_reparameterize", message_contains="dlogvar の相対誤差"),
    Bug(name="dmu scaled by the standard deviation", cell=_REPARAM,
        old="dmu = dz\n", new="dmu = dz * self.std\n",
        caught_by="test_reparameterize", message_contains="dmu の相対誤差"),
    # GaussianKL
    Bug(name="KL term with the wrong sign", cell=_KL,
        old="kl = -0.5 * np.sum(", new="kl = 0.5 * np.sum(",
        caught_by="test_gaussian_kl", message_contains="符号"),
    Bug(name="KL summed over the batch", cell=_KL,
        old="return float(np.mean(kl))", new="return float(np.sum(kl))",
        caught_by="test_gaussian_kl", message_contains="バッチについて和"),
    Bug(name="KL backward ignores dout", cell=_KL,
        old="dmu = dout * self.mu / N", new="dmu = self.mu / N",
        caught_by="test_gaussian_kl", message_contains="dout"),
    Bug(name="KL backward dlogvar without 1/2", cell=_KL,
        old="dlogvar = dout * 0.5 * (np.exp(self.logvar) - 1) / N",
        new="dlogvar = dout * (np.exp(self.logvar) - 1) / N",
        caught_by="test_gaussian_kl", message_contains="dlogvar の相対誤差"),
]

PARTIAL_BUGS = [
    "sparsity gradient with the wrong sign",
    "KL backward ignores dout",
]
PARTIAL_EXPECTED = {
    "test_sparsity_penalty": 2,
    "test_sparsity_gradient": 0,
    "test_reparameterize": 2,
    "test_gaussian_kl": 0,
    "test_vae": 2,
}
