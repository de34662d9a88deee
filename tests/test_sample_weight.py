"""sample_weight: each row's loss weighted, integer weights as repeated rows, zero weights as dropped rows."""

import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderImputer,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae.anomaly import _weighted_quantile
from skae.losses import Huber

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)
VARIANTS = [
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
    lambda **params: SparseAutoencoder(sparsity="kl", **params),
    ContractiveAutoencoder,
    lambda **params: ContractiveAutoencoder(contraction="relative", **params),
    VariationalAutoencoder,
]


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
    weights = rng.randint(0, 4, size=60)
    return X, weights


@pytest.mark.parametrize("make", VARIANTS)
def test_weights_of_ones_give_the_unweighted_model(data, make):
    X, _ = data
    unweighted = make(n_components=2, early_stopping=True, **FAST).fit(X)
    weighted = make(n_components=2, early_stopping=True, **FAST).fit(X, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(weighted.transform(X), unweighted.transform(X))
    assert weighted.loss_curve_ == unweighted.loss_curve_


@pytest.mark.parametrize("make", VARIANTS)
def test_zero_weights_are_dropped_rows(data, make):
    X, weights = data
    kept = weights > 0
    binary = kept.astype(float)
    weighted = make(n_components=2, **FAST).fit(X, sample_weight=binary)
    dropped = make(n_components=2, **FAST).fit(X[kept])
    np.testing.assert_array_equal(weighted.transform(X), dropped.transform(X))
    np.testing.assert_array_equal(weighted.noise_scale_, dropped.noise_scale_)


@pytest.mark.parametrize("make", [AutoencoderTransformer, SparseAutoencoder, ContractiveAutoencoder])
def test_integer_weights_match_repeated_rows_in_one_batch(data, make):
    X, weights = data
    X_repeated = X.repeat(weights, axis=0)
    # One batch holds every row (weighted: the 45 or so of positive weight;
    # repeated: their ~90 copies) and the start is random, not PCA's, so both
    # fits take the same steps but for the order of float32 sums. Adam
    # divides each gradient by its own size, which damps those rounding
    # differences (~1e-7 relative) rather than amplifying them; 4 epochs
    # agree to ~1e-7 (measured 3e-8), the tolerance leaves a margin of 100.
    params = dict(n_components=2, batch_size=len(X_repeated), init="random", shuffle=False, **FAST)
    weighted = make(**params).fit(X, sample_weight=weights)
    repeated = make(**params).fit(X_repeated)
    np.testing.assert_allclose(weighted.transform(X), repeated.transform(X), atol=1e-5)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-5)
    # The noise scale is the weighted one: the repeated rows' too.
    np.testing.assert_allclose(weighted.noise_scale_, repeated.noise_scale_, rtol=1e-4)
    # And the weights mattered: ignoring them gives another model.
    unweighted = make(**params).fit(X[weights > 0])
    assert np.abs(unweighted.transform(X) - repeated.transform(X)).max() > 1e-3


def test_integer_weights_match_repeated_rows_at_the_defaults():
    # With minibatches and the PCA start the two fits take different steps
    # (and the weighted one fewer per epoch); compared is what they learn.
    # Two groups of rows lie near different lines; the rows of group A weigh
    # 4. A model of one component must favour a line: trained on the rows
    # repeated, or weighted, it reconstructs fresh rows of group A with a
    # mean squared error near 0.01, unweighted near 0.16 (measured over
    # random_state 0-3: repeated 0.0114-0.0165, weighted 0.0087-0.0120,
    # unweighted 0.153-0.169). The tolerance: the weighted fit must be
    # within a tenth of the difference the weights make (0.014), wider than
    # the seed-to-seed spread of the repeated fit itself (0.005).
    rng = np.random.RandomState(0)

    def group(direction, n):
        return np.outer(rng.normal(size=n), direction) + 0.05 * rng.normal(size=(n, 3))

    line_a, line_b = np.array([1.0, 1.0, 0.0]), np.array([0.0, -1.0, 1.0])
    X = np.vstack([group(line_a, 100), group(line_b, 100)])
    weights = np.r_[np.full(100, 4), np.ones(100)].astype(int)
    test_a = group(line_a, 200)
    params = dict(n_components=1, hidden_layer_sizes=(8,), max_iter=60, random_state=0)

    def error_on_a(model):
        return np.mean((model.inverse_transform(model.transform(test_a)) - test_a) ** 2)

    repeated = error_on_a(AutoencoderTransformer(**params).fit(X.repeat(weights, axis=0)))
    weighted = error_on_a(AutoencoderTransformer(**params).fit(X, sample_weight=weights))
    unweighted = error_on_a(AutoencoderTransformer(**params).fit(X))
    assert abs(weighted - repeated) < 0.1 * abs(unweighted - repeated)


def test_the_hand_written_gradient_weighs_rows_as_autograd_does(data):
    X, weights = data

    class Autograd(AutoencoderTransformer):
        def _plain_reconstruction_loss(self):
            return None  # forces autograd through _objective

    # A random start: at PCA's, the linear maps' gradients are rounding noise
    # that Adam turns into full steps either way (see test_estimator_checks.py).
    params = dict(n_components=2, init="random", **FAST)
    fast = AutoencoderTransformer(**params).fit(X, sample_weight=weights)
    slow = Autograd(**params).fit(X, sample_weight=weights)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(fast.transform(X), slow.transform(X), atol=1e-4)


def test_weights_travel_into_the_validation_split(data):
    X, weights = data
    model = AutoencoderTransformer(2, early_stopping=True, **FAST).fit(X, sample_weight=weights + 1.0)
    X_rows = torch.arange(len(X), dtype=torch.float32).unsqueeze(1)
    row_weights = torch.arange(len(X), dtype=torch.float64) * 10
    X_train, X_val, w_train, w_val = model._validation_split(X_rows, row_weights)
    # Each row keeps its own weight on either side of the split.
    torch.testing.assert_close(w_train, X_train[:, 0].double() * 10)
    torch.testing.assert_close(w_val, X_val[:, 0].double() * 10)
    # The validation loss is the weighted mean of the rows' losses.
    engine = model.engine_
    values = torch.as_tensor(X[:10], dtype=torch.float32)
    validation_weights = torch.arange(1.0, 11.0)
    per_row = ((model.inverse_transform(model.transform(X[:10])) - X[:10]) ** 2).mean(axis=1)
    expected = np.average(per_row, weights=validation_weights.numpy())
    weighted_mean = engine.evaluate(values, model._objective, 4, sample_weight=validation_weights / 5.5)
    assert weighted_mean == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("loss", ["squared_error", Huber()])
def test_the_noise_scale_is_weighted(data, loss):
    X, weights = data
    model = AutoencoderTransformer(2, loss=loss, **FAST).fit(X)
    model._fit_noise_scale(X.repeat(weights, axis=0))
    repeated = model.noise_scale_
    model._fit_noise_scale(X, weights.astype(float))
    np.testing.assert_allclose(model.noise_scale_, repeated, rtol=1e-8)


def test_partial_fit_takes_weights(data):
    X, weights = data
    weighted = AutoencoderTransformer(2, **FAST).partial_fit(X, sample_weight=(weights > 0).astype(float))
    dropped = AutoencoderTransformer(2, **FAST).partial_fit(X[weights > 0])
    np.testing.assert_array_equal(weighted.transform(X), dropped.transform(X))
    weighted.partial_fit(X, sample_weight=weights)
    assert weighted.n_iter_ == 2


@pytest.mark.parametrize(
    "sample_weight, message",
    [
        (np.ones(5), r"sample_weight.shape == \(5,\), expected \(60,\)"),
        (-np.ones(60), "Negative values in data passed to `sample_weight`"),
        (np.zeros(60), "Sample weights must contain at least one non-zero number"),
        (np.full(60, np.nan), "Input sample_weight contains NaN"),
    ],
)
@pytest.mark.parametrize(
    "make",
    [lambda: AutoencoderTransformer(2, **FAST), lambda: AutoencoderAnomalyDetector(random_state=0)],
)
def test_bad_weights_are_refused_clearly(data, sample_weight, message, make):
    X, _ = data
    estimator = make()
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, sample_weight=sample_weight)
    assert not hasattr(estimator, "n_features_in_")  # nothing half-fitted


def test_the_users_weights_are_not_modified(data):
    X, weights = data
    for sample_weight in (weights.astype(np.float64), weights.astype(np.float32), weights):
        before = sample_weight.copy()
        AutoencoderTransformer(2, early_stopping=True, **FAST).fit(X, sample_weight=sample_weight)
        AutoencoderAnomalyDetector(AutoencoderTransformer(1, **FAST), random_state=0).fit(
            X, sample_weight=sample_weight
        )
        np.testing.assert_array_equal(sample_weight, before)


def test_metadata_routing_in_a_pipeline_and_a_search(data):
    X, weights = data
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=True),
            AutoencoderTransformer(2, **FAST).set_fit_request(sample_weight=True).set_score_request(sample_weight=True),
        )
        pipeline.fit(X, sample_weight=weights)
        scaler = StandardScaler().fit(X, sample_weight=weights)
        direct = AutoencoderTransformer(2, **FAST).fit(scaler.transform(X), sample_weight=weights)
        np.testing.assert_array_equal(pipeline.transform(X), direct.transform(scaler.transform(X)))

        search = GridSearchCV(pipeline, {"autoencodertransformer__alpha": [0.1, 1.0]}, cv=2)
        search.fit(X, sample_weight=weights)  # weighted fits, weighted held-out scores
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
        assert search.best_estimator_[-1].n_iter_ == FAST["max_iter"]


def test_the_detector_weighs_samples(data):
    X, weights = data
    member = AutoencoderTransformer(2, **FAST)
    kept = weights > 0
    weighted = AutoencoderAnomalyDetector(member, random_state=0).fit(X, sample_weight=kept.astype(float))
    dropped = AutoencoderAnomalyDetector(member, random_state=0).fit(X[kept])
    np.testing.assert_array_equal(weighted.decision_function(X), dropped.decision_function(X))
    # Integer weights: the threshold flags about `contamination` of the weight.
    detector = AutoencoderAnomalyDetector(member, contamination=0.2, random_state=0).fit(X, sample_weight=weights)
    flagged = detector.predict(X) == -1
    assert weights[flagged].sum() / weights.sum() == pytest.approx(0.2, abs=0.08)
    # partial_fit takes them too, with a scaler that takes weights.
    streaming = AutoencoderAnomalyDetector(member, scaler="standard", random_state=0)
    streaming.partial_fit(X, sample_weight=weights).partial_fit(X, sample_weight=weights)
    assert np.isfinite(streaming.offset_)


def test_weighted_quantile_is_numpys_median_for_equal_weights():
    values = np.random.RandomState(0).normal(size=(9, 3))
    for n_rows in (8, 9):
        np.testing.assert_allclose(
            _weighted_quantile(values[:n_rows], np.ones(n_rows), 0.5), np.median(values[:n_rows], axis=0)
        )
    # Integer weights are repeated rows; NaN entries are left out.
    weights = np.array([3, 1, 2, 1, 1, 2, 1, 1, 1])
    np.testing.assert_allclose(
        _weighted_quantile(values, weights, 0.5), np.median(values.repeat(weights, axis=0), axis=0)
    )
    values[0, 0] = np.nan
    assert _weighted_quantile(values[:, 0], np.ones(9), 0.5) == np.median(values[1:, 0])


def test_the_imputer_weighs_rows(data):
    X, weights = data
    X = X.copy()
    X[::5, 0] = np.nan
    kept = weights > 0
    estimator = DenoisingAutoencoder(2, **FAST)
    weighted = AutoencoderImputer(estimator, random_state=0).fit(X, sample_weight=kept.astype(float))
    dropped = AutoencoderImputer(estimator, random_state=0).fit(X[kept])
    np.testing.assert_array_equal(weighted.transform(X), dropped.transform(X))
    imputed = AutoencoderImputer(estimator, scaler="minmax", random_state=0).fit(X, sample_weight=weights).transform(X)
    assert not np.isnan(imputed).any()


def test_chunked_fitting_passes_no_weights(data):
    # fit_chunks streams X only; weights go through partial_fit directly.
    from skae.chunked import fit_chunks

    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = fit_chunks(AutoencoderTransformer(2, **FAST), [X[:30], X[30:]])
    assert model.n_iter_ == 2
