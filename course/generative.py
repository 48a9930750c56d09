"""Three approaches to classification (Bishop, PRML 1.5.4), on the same data.

| approach | models | here | new x? |
| --- | --- | --- | --- |
| generative model (生成モデル) | p(x | C_k), p(C_k); Bayes' rule | ``GaussianClassifier`` | yes |
| discriminative model (識別モデル) | p(C_k | x) directly | ``LogisticRegression`` | no |
| discriminant function (識別関数) | x -> k, no probabilities | ``LeastSquaresClassifier`` | no |

Only the generative model can sample new data: k ~ p(C_k), then x ~ p(x | C_k).

The generative classifier fits one Gaussian per class (its own mean and full covariance, the
maximum-likelihood estimates plus ``reg * I``) and the class priors (class frequencies), and
classifies by Bayes' rule: log p(C_k | x) = log p(x | C_k) + log p(C_k) - log p(x), with
log p(x) = logsumexp_k [log p(x | C_k) + log p(C_k)]. Logistic regression (softmax regression)
is trained by full-batch gradient descent on the cross-entropy. The least-squares discriminant
regresses one-hot targets on [1, x] (W = pinv(X~) T) and takes the arg max: no probabilities.
``three_class_data`` makes the small 2-D data set that the notebook compares them on.
"""

from __future__ import annotations

import numpy as np

from course.functions import softmax


def three_class_data(n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (3n, 2), t (3n,)): three Gaussian classes with different shapes, shuffled."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [2.5, 2.0], [-0.5, 3.0]])
    covs = np.array([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.3], [-0.3, 1.2]],
                     [[1.5, 0.0], [0.0, 0.3]]])
    xs = [rng.multivariate_normal(m, c, n_per_class) for m, c in zip(means, covs, strict=True)]
    x = np.concatenate(xs)
    t = np.repeat(np.arange(3), n_per_class)
    order = rng.permutation(len(t))
    return x[order], t[order]


def accuracy(pred: np.ndarray, t: np.ndarray) -> float:
    """Fraction of pred == t."""
    return float(np.mean(np.asarray(pred) == np.asarray(t)))


def gaussian_log_pdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x | mean, cov) per row: x (N, D), mean (D,), cov (D, D) -> (N,)."""
    d = x.shape[1]
    diff = x - mean
    _, logdet = np.linalg.slogdet(cov)
    maha = np.sum(diff @ np.linalg.inv(cov) * diff, axis=1)
    return -0.5 * (d * np.log(2 * np.pi) + logdet + maha)


class GaussianClassifier:
    """Generative classifier: class-conditional Gaussians p(x | C_k) and priors p(C_k).

    fit(x, t) sets priors (K,), means (K, D), covs (K, D, D) (ML estimates, divided by N_k,
    plus reg * I). predict_proba(x) -> p(C_k | x) (N, K) by Bayes' rule; sample(n, rng) ->
    (x (n, D), t (n,)): classes from the priors, then x from that class's Gaussian.
    """

    def __init__(self, reg: float = 1e-6) -> None:
        self.reg = reg

    def fit(self, x: np.ndarray, t: np.ndarray) -> GaussianClassifier:
        k = int(np.max(t)) + 1
        d = x.shape[1]
        self.priors = np.array([np.mean(t == j) for j in range(k)])
        self.means = np.array([x[t == j].mean(axis=0) for j in range(k)])
        self.covs = np.array([
            (x[t == j] - self.means[j]).T @ (x[t == j] - self.means[j]) / np.sum(t == j)
            + self.reg * np.eye(d)
            for j in range(k)
        ])
        return self

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """log p(x, C_k) = log p(x | C_k) + log p(C_k): (N, D) -> (N, K)."""
        return np.stack([gaussian_log_pdf(x, m, c) for m, c in zip(self.means, self.covs,
                                                                   strict=True)], axis=1) \
            + np.log(self.priors)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """p(C_k | x) = p(x, C_k) / sum_j p(x, C_j), computed in logs: (N, K)."""
        return softmax(self.log_joint(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.log_joint(x), axis=1)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n new points: t ~ p(C_k) (rng.choice), then x ~ N(means[t], covs[t]) (one draw each)."""
        t = rng.choice(len(self.priors), size=n, p=self.priors)
        x = np.array([rng.multivariate_normal(self.means[k], self.covs[k]) for k in t])
        return x.reshape(n, -1), t


class LogisticRegression:
    """Discriminative model: p(C_k | x) = softmax(x W + b), full-batch gradient descent.

    Loss: mean cross-entropy; W, b start at 0, so training is deterministic.
    """

    def __init__(self, lr: float = 0.1, epochs: int = 500) -> None:
        self.lr, self.epochs = lr, epochs

    def fit(self, x: np.ndarray, t: np.ndarray) -> LogisticRegression:
        n, d = x.shape
        k = int(np.max(t)) + 1
        onehot = np.eye(k)[t]
        self.W, self.b = np.zeros((d, k)), np.zeros(k)
        for _ in range(self.epochs):
            dy = (softmax(x @ self.W + self.b) - onehot) / n
            self.W -= self.lr * (x.T @ dy)
            self.b -= self.lr * dy.sum(axis=0)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(x @ self.W + self.b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(x @ self.W + self.b, axis=1)


class LeastSquaresClassifier:
    """Discriminant function: W = pinv([1, x]) T (one-hot T), class = argmax_k [1, x] W.

    The outputs are not probabilities (they can be negative or above 1, PRML 4.1.3).
    """

    def fit(self, x: np.ndarray, t: np.ndarray) -> LeastSquaresClassifier:
        k = int(np.max(t)) + 1
        design = np.hstack([np.ones((len(x), 1)), x])
        self.W = np.linalg.pinv(design) @ np.eye(k)[t]
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """[1, x] W: (N, K)."""
        return np.hstack([np.ones((len(x), 1)), x]) @ self.W

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.decision_function(x), axis=1)
