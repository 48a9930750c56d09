"""course.generative: the three approaches to classification, and course.families' figures."""

import numpy as np
import pytest

from course import generative


def test_gaussian_log_pdf_matches_the_formula_in_one_dimension():
    x = np.array([[0.3], [-1.0]])
    expected = -0.5 * np.log(2 * np.pi * 2.0) - 0.5 * (x[:, 0] - 1.0) ** 2 / 2.0
    np.testing.assert_allclose(generative.gaussian_log_pdf(x, np.array([1.0]), np.array([[2.0]])),
                               expected)


def test_gaussian_classifier_estimates_and_bayes_rule():
    x, t = generative.three_class_data(200, seed=0)
    model = generative.GaussianClassifier().fit(x, t)
    np.testing.assert_allclose(model.priors, [1 / 3] * 3)
    np.testing.assert_allclose(model.means[1], x[t == 1].mean(axis=0))
    np.testing.assert_allclose(model.covs[2], np.cov(x[t == 2].T, bias=True) + 1e-6 * np.eye(2))
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    joint = np.exp(model.log_joint(x[:3]))
    np.testing.assert_allclose(proba[:3], joint / joint.sum(axis=1, keepdims=True))


def test_gaussian_classifier_samples_look_like_the_data():
    x, t = generative.three_class_data(300, seed=1)
    model = generative.GaussianClassifier().fit(x, t)
    xs, ts = model.sample(3000, np.random.default_rng(0))
    assert xs.shape == (3000, 2) and set(np.unique(ts)) == {0, 1, 2}
    for k in range(3):
        np.testing.assert_allclose(xs[ts == k].mean(axis=0), model.means[k], atol=0.12)


@pytest.mark.parametrize("cls", [generative.GaussianClassifier, generative.LogisticRegression,
                                 generative.LeastSquaresClassifier])
def test_every_approach_classifies_held_out_data_well(cls):
    x, t = generative.three_class_data(100, seed=0)
    x_test, t_test = generative.three_class_data(300, seed=1)
    assert generative.accuracy(cls().fit(x, t).predict(x_test), t_test) > 0.85


def test_least_squares_outputs_are_not_probabilities():
    x, t = generative.three_class_data(100, seed=0)
    scores = generative.LeastSquaresClassifier().fit(x, t).decision_function(x * 3)
    assert scores.min() < 0 or scores.max() > 1


def test_family_figures_draw_every_model():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course import families

    fig = families.family_map(japanese=False)
    texts = {t.get_text() for t in fig.axes[0].texts}
    for models in families.MODEL_FAMILIES.values():
        assert {en for _, en, _ in models} <= texts
    fig2 = families.dbn_dbm_figure()
    assert len(fig2.axes) == 2
    plt.close("all")
