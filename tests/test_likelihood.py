"""The losses' noise models and the likelihood score built on them."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.losses import AbsoluteError, BinaryCrossEntropy, Huber, Loss, Lp, SquaredError
from skae.metrics import neg_mean_squared_reconstruction_error


class LogCosh(Loss):
    """A user's loss with a noise model: ``Z`` is integrated numerically."""

    def per_sample(self, output, target):
        return self.elementwise(output - target).mean(dim=1)

    def elementwise(self, residual):
        return torch.log(torch.cosh(residual))


class Skewed(Loss):
    """An asymmetric user loss: each half-line is integrated on its own."""

    def per_sample(self, output, target):
        return self.elementwise(output - target).mean(dim=1)

    def elementwise(self, residual):
        return torch.where(residual > 0, residual.square(), 3 * residual.abs())


class Bounded(Loss):
    """A loss whose ``exp(-loss)`` does not integrate: no noise model."""

    def per_sample(self, output, target):
        return self.elementwise(output - target).mean(dim=1)

    def elementwise(self, residual):
        return 1 - torch.exp(-residual.square())


SCALE_FAMILIES = [
    SquaredError(),
    AbsoluteError(),
    Huber(delta=0.3),
    Huber(delta=2.0),
    Lp(p=0.5),
    Lp(p=1.5),
    Lp(p=3.0),
    AbsoluteError() + SquaredError(),  # numerical Z, homogeneous of no one power
    0.5 * Lp(p=1.5),  # numerical Z, homogeneous
    AbsoluteError() + 0.3 * Huber(delta=1.0),
    LogCosh(),
    Skewed(),
]


def _density(loss, scale):
    return lambda r: math.exp(loss.log_density(torch.tensor([[r]], dtype=torch.float64), scale).item())


@pytest.mark.parametrize("loss", SCALE_FAMILIES, ids=repr)
@pytest.mark.parametrize("scale", [0.2, 1.0, 7.0])
def test_noise_density_integrates_to_one(loss, scale):
    density = _density(loss, scale)
    # Split at zero (where Lp(p < 1) has its cusp) and at the scale.
    mass = sum(
        integrate.quad(density, low, high, limit=400)[0]
        for low, high in [(-np.inf, -scale), (-scale, 0), (0, scale), (scale, np.inf)]
    )
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_generalised_gaussian_density_is_the_closed_form():
    residual = torch.linspace(-3, 3, 13, dtype=torch.float64).reshape(-1, 1)
    for p in (0.5, 1.0, 1.5, 2.0):
        expected = stats.gennorm(beta=p, scale=0.7).logpdf(residual.numpy())
        np.testing.assert_allclose(Lp(p=p).log_density(residual, 0.7).numpy(), expected, rtol=1e-12)


def test_bernoulli_probabilities_sum_to_one():
    probability = torch.linspace(0.01, 0.99, 9, dtype=torch.float64).reshape(-1, 1)
    loss = BinaryCrossEntropy()
    assert not loss.has_scale and loss.has_noise_model
    total = loss.log_likelihood(probability, torch.zeros_like(probability)).exp()
    total += loss.log_likelihood(probability, torch.ones_like(probability)).exp()
    np.testing.assert_allclose(total.numpy(), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="no scale"):
        loss.log_density(probability, 1.0)
    with pytest.raises(ValueError, match="no scale"):
        loss.log_likelihood(probability, probability, scale=1.0)


@pytest.mark.parametrize("loss", SCALE_FAMILIES, ids=repr)
def test_fitted_scale_maximises_the_likelihood(loss, rng):
    # Three features of different spread and tails.
    residual = np.column_stack(
        [0.1 * rng.standard_normal(500), 3.0 * rng.laplace(size=500), rng.standard_t(3, size=500)]
    )
    residual[rng.random(residual.shape) < 0.05] = np.nan  # missing entries are left out
    scale = loss.fit_scale(torch.from_numpy(residual)).numpy()
    assert scale.shape == (3,) and scale.dtype == np.float64
    for feature in range(3):
        column = torch.from_numpy(residual[~np.isnan(residual[:, feature]), feature].reshape(-1, 1))

        def negative_log_likelihood(log_scale, column=column):
            return -loss.log_density(column, math.exp(log_scale)).mean().item()

        best = optimize.minimize_scalar(negative_log_likelihood, bracket=(-5, 5), tol=1e-12)
        assert scale[feature] == pytest.approx(math.exp(best.x), rel=1e-5)


def test_homogeneous_scales_are_in_closed_form(rng):
    residual = rng.standard_normal((400, 2))
    np.testing.assert_allclose(
        SquaredError().fit_scale(torch.from_numpy(residual)), np.sqrt(2 * np.mean(residual**2, axis=0))
    )
    np.testing.assert_allclose(AbsoluteError().fit_scale(torch.from_numpy(residual)), np.mean(np.abs(residual), axis=0))
    np.testing.assert_allclose(
        Lp(p=0.5).fit_scale(torch.from_numpy(residual)), (0.5 * np.mean(np.abs(residual) ** 0.5, axis=0)) ** 2
    )
    # A column of exact zeros has scale zero, not an error.
    assert Huber().fit_scale(torch.zeros(10, 2, dtype=torch.float64)).tolist() == [0.0, 0.0]


def test_losses_without_a_noise_model_say_so():
    assert not (0 * SquaredError()).has_noise_model
    assert not (BinaryCrossEntropy() + BinaryCrossEntropy()).has_noise_model
    residual = torch.ones(2, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="no noise model"):
        (0 * SquaredError()).log_density(residual, 1.0)
    with pytest.raises(ValueError, match="does not integrate"):
        Bounded().log_density(residual, 1.0)


# -- the estimators -------------------------------------------------------------


def _low_rank_data(rng, noise, n_samples=600, n_features=12):
    latent = rng.standard_normal((n_samples, 2))
    signal = np.tanh(latent @ rng.standard_normal((2, n_features)))
    return signal + noise(size=(n_samples, n_features))


FAST = dict(n_components=2, hidden_layer_sizes=(16,), max_iter=30, random_state=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_score_is_the_log_likelihood_at_the_fitted_scales(rng):
    X = _low_rank_data(rng, lambda size: 0.2 * rng.laplace(size=size))
    model = AutoencoderTransformer(loss=Huber(delta=0.5), **FAST).fit(X)
    residual = X - model.inverse_transform(model.transform(X))
    np.testing.assert_allclose(
        model.noise_scale_, Huber(delta=0.5).fit_scale(torch.from_numpy(residual)).numpy(), rtol=1e-5
    )
    X_new = _low_rank_data(rng, lambda size: 0.2 * rng.laplace(size=size), n_samples=50)
    residual = torch.from_numpy(X_new - model.inverse_transform(model.transform(X_new)))
    expected = model.loss_.log_density(residual, torch.from_numpy(model.noise_scale_)).sum(dim=1).numpy()
    np.testing.assert_allclose(model.score_samples(X_new), expected, rtol=1e-5)
    assert model.score(X_new) == pytest.approx(expected.mean(), rel=1e-5)
    # float32 data is scored on the device, in float32, to the same values.
    np.testing.assert_allclose(model.score_samples(X_new.astype(np.float32)), expected, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_refits_the_scales_on_its_chunk(rng):
    X = _low_rank_data(rng, lambda size: 0.1 * rng.standard_normal(size))
    model = AutoencoderTransformer(**FAST).partial_fit(X[:300])
    first = model.noise_scale_.copy()
    model.partial_fit(5 * X[300:])  # much noisier residuals
    residual = 5 * X[300:] - model.inverse_transform(model.transform(5 * X[300:]))
    np.testing.assert_allclose(model.noise_scale_, np.sqrt(2 * np.mean(residual**2, axis=0)), rtol=1e-5)
    assert np.all(model.noise_scale_ > first)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bernoulli_score_is_minus_the_cross_entropy(rng):
    X = (_low_rank_data(rng, lambda size: 0.3 * rng.standard_normal(size), n_samples=200) > 0).astype(float)
    model = AutoencoderTransformer(loss="binary_crossentropy", **FAST).fit(X)
    assert model.noise_scale_ is None
    probability = np.clip(model.inverse_transform(model.transform(X)), 1e-6, 1 - 1e-6)
    cross_entropy = -(X * np.log(probability) + (1 - X) * np.log(1 - probability)).sum(axis=1)
    np.testing.assert_allclose(model.score_samples(X), -cross_entropy, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_callable_loss_fits_and_asks_for_a_scorer(rng):
    X = _low_rank_data(rng, lambda size: 0.1 * rng.standard_normal(size), n_samples=200)
    model = AutoencoderTransformer(loss=lambda x_hat, x: (x_hat - x).square().mean(dim=1), **FAST).fit(X)
    assert model.noise_scale_ is None
    with pytest.raises(ValueError, match="scoring=.*neg_mean_squared_reconstruction_error"):
        model.score(X)
    assert neg_mean_squared_reconstruction_error(model, X) < 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("p", [0.7, 1.0])
def test_the_matching_loss_has_the_higher_held_out_likelihood(p, rng):
    noise = stats.gennorm(beta=p, scale=0.15)
    X = _low_rank_data(rng, lambda size: noise.rvs(size=size, random_state=rng), n_samples=1200)
    X_train, X_test = X[:600], X[600:]
    params = dict(FAST, hidden_layer_sizes=(32,), max_iter=60)
    matching = AutoencoderTransformer(loss=Lp(p=p), **params).fit(X_train)
    squared = AutoencoderTransformer(**params).fit(X_train)
    assert matching.score(X_test) > squared.score(X_test)
    # The squared-error yardstick, the score before, prefers the squared-error model.
    assert neg_mean_squared_reconstruction_error(squared, X_test) > neg_mean_squared_reconstruction_error(
        matching, X_test
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_search_with_a_scorer_ranks_by_that_scorer(rng):
    X = _low_rank_data(rng, lambda size: 0.1 * rng.standard_normal(size), n_samples=200, n_features=8)
    pipeline = make_pipeline(
        StandardScaler(), AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    )
    grid = {
        "autoencodertransformer__loss": ["squared_error", Lp(p=1.5)],
        "autoencodertransformer__n_components": [2, 4],
    }
    folds = KFold(2)
    search = GridSearchCV(pipeline, grid, scoring=neg_mean_squared_reconstruction_error, cv=folds).fit(X)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        errors = []
        for train, test in folds.split(X):
            # The scorer reconstructs through the whole pipeline, in the data's units.
            fitted = pipeline.set_params(**params).fit(X[train])
            errors.append(np.mean((fitted.inverse_transform(fitted.transform(X[test])) - X[test]) ** 2))
        assert score == pytest.approx(-np.mean(errors), rel=1e-6)
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])
