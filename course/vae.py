"""Variational autoencoder (変分自己符号化器, VAE): an encoder to a distribution, a decoder from it.

    encoder:  h = ReLU(x W1 + b1),  mu = h W2 + b2,  logvar = h W3 + b3     x (N, D) -> 2 x (N, J)
    sampling: z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)   (the reparameterisation trick)
    decoder:  g = ReLU(z W4 + b4),  a = g W5 + b5,  y = sigmoid(a)          z (N, J) -> y (N, D)
    loss:     L = (1/N) sum_n [ sum_d BCE(y_nd, x_nd) + KL(N(mu_n, diag(exp(logvar_n))) || N(0,I)) ]

The encoder outputs the log-variance, not the standard deviation: any real number is a valid
log-variance, so no constraint is needed. The reparameterisation trick moves the randomness
into an input ``eps``: with eps fixed, z is a differentiable function of (mu, logvar) and
backpropagation goes through the sampling step (``Reparameterize``). The KL term has a closed
form for two Gaussians (``GaussianKL``):

    KL_n = -1/2 sum_j (1 + logvar_nj - mu_nj^2 - exp(logvar_nj))  >= 0

The reconstruction term is the Bernoulli negative log-likelihood of the pixels, summed over the
pixels, computed from the logits a: BCE = softplus(a) - x a, with dBCE/da = sigmoid(a) - x.
Parameters are W1, b1, ..., W5, b5. ``gradient(x, eps=...)`` takes fixed noise for gradient
checks; without it, eps is drawn from the VAE's own generator (one draw per call). Evaluation
(``loss(train=False)``, ``reconstruct``) uses z = mu (eps = 0), so it is deterministic.
"""

from __future__ import annotations

import numpy as np

from course import init
from course.functions import sigmoid
from course.gradcheck import numerical_gradient as _numerical_gradient
from course.layers import Affine, Layer, ReLU


class Reparameterize(Layer):
    """z = mu + exp(logvar / 2) * eps, with the noise eps given (so z is differentiable).

    forward(mu, logvar, eps): each (N, J) -> z (N, J).
    backward(dz) -> (dmu, dlogvar) = (dz, dz * eps * exp(logvar / 2) / 2).
    """

    def __init__(self) -> None:
        super().__init__()
        self.std: np.ndarray | None = None
        self.eps: np.ndarray | None = None

    def forward(self, mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
        self.std = np.exp(0.5 * logvar)
        self.eps = eps
        return mu + self.std * eps

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dz, dz * self.eps * self.std * 0.5


class GaussianKL(Layer):
    """Mean over the batch of KL(N(mu, diag(exp(logvar))) || N(0, I)), in closed form.

    forward(mu, logvar): each (N, J) -> (1/N) sum_n -1/2 sum_j (1 + logvar - mu^2 - exp(logvar)).
    backward(dout=1.0) -> (dmu, dlogvar) = dout * (mu / N, (exp(logvar) - 1) / (2 N)).
    """

    def __init__(self) -> None:
        super().__init__()
        self.mu: np.ndarray | None = None
        self.logvar: np.ndarray | None = None

    def forward(self, mu: np.ndarray, logvar: np.ndarray) -> float:
        self.mu, self.logvar = mu, logvar
        return float(np.mean(gaussian_kl(mu, logvar)))

    def backward(self, dout: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        n = self.mu.shape[0]
        return dout * self.mu / n, dout * 0.5 * (np.exp(self.logvar) - 1.0) / n


def gaussian_kl(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Per-sample KL_n = -1/2 sum_j (1 + logvar_nj - mu_nj^2 - exp(logvar_nj)); (N, J) -> (N,)."""
    return -0.5 * np.sum(1.0 + logvar - mu**2 - np.exp(logvar), axis=1)


def bernoulli_nll(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-sample sum_d BCE(sigmoid(a_nd), x_nd) = sum_d softplus(a_nd) - x_nd a_nd; -> (N,)."""
    return np.sum(np.logaddexp(0.0, logits) - x * logits, axis=1)


class VAE:
    """A VAE with one hidden layer in the encoder and one in the decoder (see the module doc).

    input_size: D; hidden_size: width of both hidden layers; latent_size: J (2 for a latent map).
    Weights He-initialised (ReLU) except the heads mu, logvar and the output (Xavier), biases 0,
    from np.random.default_rng(seed); the noise eps from np.random.default_rng([seed, 1]).
    ``reparam`` and ``kl`` are the two layers of the idea; replace them to use your own.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        latent_size: int,
        seed: int = 0,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        self.input_size, self.hidden_size, self.latent_size = input_size, hidden_size, latent_size
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.rng = np.random.default_rng([seed, 1])
        shapes = {  # name -> (fan_in, fan_out, init)
            "1": (input_size, hidden_size, "he"), "2": (hidden_size, latent_size, "xavier"),
            "3": (hidden_size, latent_size, "xavier"), "4": (latent_size, hidden_size, "he"),
            "5": (hidden_size, input_size, "xavier"),
        }
        self.params: dict[str, np.ndarray] = {}
        self.affines: dict[str, Affine] = {}
        for key, (fan_in, fan_out, how) in shapes.items():
            W = init.normal(fan_in, fan_out, how, rng).astype(self.dtype)
            b = init.bias(fan_out).astype(self.dtype)
            self.affines[key] = Affine(W, b)
            self.params[f"W{key}"], self.params[f"b{key}"] = W, b
        self.relu_enc, self.relu_dec = ReLU(), ReLU()
        self.reparam: Layer = Reparameterize()
        self.kl: Layer = GaussianKL()
        self.last_loss: float | None = None
        self.last_terms: dict[str, float] = {}  # "reconstruction", "kl" of the last loss

    def _cast(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).astype(self.dtype, copy=False)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar), each (N, J), of x (N, D)."""
        h = self.relu_enc.forward(self.affines["1"].forward(self._cast(x)))
        return self.affines["2"].forward(h), self.affines["3"].forward(h)

    def decode_logits(self, z: np.ndarray) -> np.ndarray:
        """Logits a (N, D) of the decoder for codes z (N, J)."""
        g = self.relu_dec.forward(self.affines["4"].forward(self._cast(z)))
        return self.affines["5"].forward(g)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Pixel probabilities y = sigmoid(a) (N, D) for codes z (N, J)."""
        return sigmoid(self.decode_logits(z))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """decode(mu(x)): the reconstruction at the mean code, no noise."""
        return self.decode(self.encode(x)[0])

    def generate(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """n new images (n, D): decode(z) with z ~ N(0, I) drawn from rng (default: own)."""
        rng = self.rng if rng is None else rng
        return self.decode(rng.standard_normal((n, self.latent_size)))

    def loss(
        self, x: np.ndarray, t: np.ndarray | None = None, train: bool = True,
        eps: np.ndarray | None = None,
    ) -> float:
        """L = mean_n [ reconstruction_n + KL_n ]; eps: given, else drawn (train) or 0 (not)."""
        x = self._cast(x)
        mu, logvar = self.encode(x)
        if eps is None:
            eps = (self.rng.standard_normal(mu.shape) if train else np.zeros_like(mu))
        z = self.reparam.forward(mu, logvar, self._cast(eps))
        self._logits = self.decode_logits(z)
        self._x = x
        rec = float(np.mean(bernoulli_nll(self._logits, x)))
        kl = float(self.kl.forward(mu, logvar))
        self.last_terms = {"reconstruction": rec, "kl": kl}
        return rec + kl

    def accuracy(self, x: np.ndarray, t: np.ndarray | None = None) -> float:
        """Fraction of pixels on the right side of 0.5 in reconstruct(x) (for the Trainer)."""
        x = self._cast(x)
        return float(np.mean((self.reconstruct(x) > 0.5) == (x > 0.5)))

    def gradient(
        self, x: np.ndarray, t: np.ndarray | None = None, eps: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """dL/dparam by backpropagation through the sampling step; sets `last_loss`."""
        self.last_loss = self.loss(x, t, train=True, eps=eps)
        n = self._x.shape[0]
        da = (sigmoid(self._logits) - self._x) / n
        dz = self.affines["4"].backward(self.relu_dec.backward(self.affines["5"].backward(da)))
        dmu, dlogvar = self.reparam.backward(dz)
        dmu_kl, dlogvar_kl = self.kl.backward(1.0)
        dh = self.affines["2"].backward(dmu + dmu_kl) + self.affines["3"].backward(
            dlogvar + dlogvar_kl)
        self.affines["1"].backward_params(self.relu_enc.backward(dh))
        return {f"{k}{key}": self.affines[key].grads[k] for key in self.affines for k in "Wb"}

    def numerical_gradient(self, x: np.ndarray, eps: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam by central differences with the noise eps fixed (float64 only; slow)."""
        return {
            name: _numerical_gradient(lambda: self.loss(x, eps=eps), param)
            for name, param in self.params.items()
        }


def latent_grid(n: int = 15, extent: float = 2.5) -> np.ndarray:
    """(n * n, 2) codes on a regular grid over [-extent, extent]^2, row by row (top: largest z2)."""
    values = np.linspace(-extent, extent, n)
    z1, z2 = np.meshgrid(values, values[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1)
