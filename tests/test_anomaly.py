"""AutoencoderAnomalyDetector: ranking, thresholding, explanation, model selection."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae.anomaly import _positive_definite_inverse

N_FEATURES = 8


def manifold_data(n_samples, random_state):
    """Points near a curved 2-D surface in 8 dimensions."""
    rng = np.random.RandomState(random_state)
    latent = rng.uniform(-1, 1, size=(n_samples, 2))
    mixing = np.random.RandomState(0).normal(size=(2, N_FEATURES))
    X = np.tanh(latent @ mixing) + 0.5 * np.sin(2 * latent[:, :1])
    return X + 0.02 * rng.normal(size=X.shape)


def with_outliers(n_inliers=300, n_outliers=15, random_state=0):
    """Inliers on the surface, outliers spread uniformly over the data's box; y is -1 for outliers."""
    rng = np.random.RandomState(random_state + 100)
    inliers = manifold_data(n_inliers, random_state)
    outliers = rng.uniform(inliers.min(axis=0), inliers.max(axis=0), size=(n_outliers, N_FEATURES))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.ones(n_inliers, dtype=int), -np.ones(n_outliers, dtype=int)]
    order = rng.permutation(len(y))
    return X[order], y[order]


def small_detector(**params):
    params.setdefault("random_state", 0)
    return AutoencoderAnomalyDetector(
        AutoencoderTransformer(n_components=2, hidden_layer_sizes=(16,), activation="tanh", batch_size=32, max_iter=40),
        **params,
    )


@pytest.fixture(scope="module")
def fitted_default():
    X, y = with_outliers()
    return AutoencoderAnomalyDetector(contamination=0.05, random_state=0).fit(X), X, y


def test_default_detector_ranks_injected_outliers_above_inliers(fitted_default):
    detector, X, y = fitted_default
    # Training set (which held the outliers) and fresh data both.
    assert roc_auc_score(y, detector.score_samples(X)) > 0.95
    X_new, y_new = with_outliers(random_state=1)
    assert roc_auc_score(y_new, detector.decision_function(X_new)) > 0.95


def test_scores_follow_the_outlier_convention(fitted_default):
    detector, X, _ = fitted_default
    scores = detector.score_samples(X)
    assert scores.dtype == np.float64 and scores.shape == (X.shape[0],)
    assert np.all(scores <= 0)
    np.testing.assert_allclose(detector.decision_function(X), scores - detector.offset_)
    labels = detector.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    np.testing.assert_array_equal(labels == -1, detector.decision_function(X) < 0)
    assert not hasattr(detector, "transform")


@pytest.mark.parametrize("contamination", [0.02, 0.1, 0.3])
def test_predict_flags_the_contamination_share_of_the_training_set(contamination):
    X, _ = with_outliers()
    labels = small_detector(contamination=contamination).fit_predict(X)
    assert abs(np.mean(labels == -1) - contamination) <= 1.5 / X.shape[0]


def test_fit_predict_matches_fit_then_predict_and_refits_identically():
    X, _ = with_outliers()
    first = small_detector(n_estimators=2)
    labels = first.fit_predict(X)
    np.testing.assert_array_equal(labels, first.predict(X))
    second = small_detector(n_estimators=2).fit(X)
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    assert len(second.estimators_) == 2
    assert second.estimators_[0].random_state != second.estimators_[1].random_state


def test_explanation_points_at_the_corrupted_feature(fitted_default):
    detector, _, _ = fitted_default
    X_clean = manifold_data(40, random_state=5)
    clean_errors = detector.reconstruction_error_per_feature(X_clean)
    hits = []
    for feature in range(N_FEATURES):
        X = X_clean.copy()
        X[:, feature] += 2.0  # about the feature's range
        errors = detector.reconstruction_error_per_feature(X)
        assert isinstance(errors, np.ndarray) and errors.shape == X.shape
        hits.append(errors.argmax(axis=1) == feature)
        assert np.median(errors[:, feature]) > 10 * np.median(clean_errors[:, feature])
    # The features are all functions of two latent variables, so a corrupted
    # one also moves the code and the others' reconstructions; the corrupted
    # feature must still stand out for nearly every sample.
    assert np.mean(hits) >= 0.9


def test_mean_squared_distance_scores_the_mean_of_the_explanation():
    X, _ = with_outliers()
    detector = small_detector(distance="mean_squared").fit(X)
    errors = detector.reconstruction_error_per_feature(X[:50])
    np.testing.assert_allclose(errors.mean(axis=1), -detector.score_samples(X[:50]))
    assert not hasattr(detector, "residual_precisions_")


def test_calibrate_reproduces_fit_and_rethresholds_without_training():
    X, _ = with_outliers()
    detector = small_detector().fit(X)
    fitted = {name: getattr(detector, name) for name in ("error_scales_", "residual_means_", "residual_precisions_")}
    offset = detector.offset_
    codes = detector.estimators_[0].transform(X)
    assert detector.calibrate(X) is detector
    assert detector.offset_ == pytest.approx(offset, rel=1e-12)
    for name, values in fitted.items():
        for new, old in zip(getattr(detector, name), values, strict=True):
            np.testing.assert_allclose(new, old, rtol=1e-12, err_msg=name)

    detector.set_params(contamination=0.3).calibrate(X)
    assert abs(np.mean(detector.predict(X) == -1) - 0.3) <= 1.5 / X.shape[0]
    np.testing.assert_array_equal(detector.estimators_[0].transform(X), codes)  # nothing trained
    detector.set_params(distance="mean_squared").calibrate(X)
    assert not hasattr(detector, "residual_precisions_")
    errors = detector.reconstruction_error_per_feature(X)
    np.testing.assert_allclose(errors.mean(axis=1), -detector.score_samples(X))
    with pytest.raises(ValueError, match="features"):
        detector.calibrate(X[:, :3])
    unfitted = small_detector()
    for method in (unfitted.calibrate, unfitted.reconstruction_error_per_feature):
        with pytest.raises(NotFittedError):
            method(X)


def test_every_statistic_comes_from_one_reconstruction_per_member_and_fit(monkeypatch):
    X, _ = with_outliers()
    reconstructed = []
    decode = AutoencoderTransformer.inverse_transform

    def counted(self, codes):
        reconstructed.append(len(codes))
        return decode(self, codes)

    monkeypatch.setattr(AutoencoderTransformer, "inverse_transform", counted)
    small_detector(n_estimators=2).fit(X)
    # Each member reconstructs the training set after its first fit (to trim)
    # and after its refit (scales, residual distribution and threshold).
    assert reconstructed == [len(X)] * 4
    reconstructed.clear()
    small_detector(n_estimators=2, trim_fraction=0).fit(X)
    assert reconstructed == [len(X)] * 2


def correlated_residual_data(n_samples, random_state):
    """One latent trend, and two features that share a noise the trend does not explain."""
    rng = np.random.RandomState(random_state)
    trend = rng.uniform(-1, 1, n_samples)
    shared = 0.1 * rng.normal(size=n_samples)
    X = np.column_stack(
        [np.tanh(2 * trend), trend**2, np.sin(2 * trend), 0.5 * trend, 0.5 * trend + shared, 0.5 * trend + shared]
    )
    return X + 0.01 * rng.normal(size=X.shape)


def test_mahalanobis_distance_flags_residuals_that_break_their_usual_correlation():
    X_test = correlated_residual_data(100, random_state=1)
    # Same per-feature error sizes; only the signs of the last two differ.
    along, against = X_test.copy(), X_test.copy()
    along[:, 4:] += 0.2
    against[:, 4] += 0.2
    against[:, 5] -= 0.2
    X_pairs = np.vstack([along, against])
    is_along = np.r_[np.ones(100), np.zeros(100)]
    aucs, detectors = {}, {}
    for distance in ("mahalanobis", "mean_squared"):
        detector = AutoencoderAnomalyDetector(distance=distance, contamination=0.02, n_estimators=1, random_state=0)
        detectors[distance] = detector.fit(correlated_residual_data(500, random_state=0))
        aucs[distance] = roc_auc_score(is_along, detector.score_samples(X_pairs))
    assert aucs["mahalanobis"] > 0.8
    assert aucs["mean_squared"] < 0.65
    (precision,) = detectors["mahalanobis"].residual_precisions_
    assert precision.shape == (6, 6)
    # The two noisy features' residuals go together, so their precision is negative.
    assert precision[4, 5] < 0


def test_explanation_is_a_dataframe_with_the_input_columns():
    X, _ = with_outliers()
    columns = [f"sensor_{i}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(X, columns=columns, index=np.arange(len(X)) + 1000)
    detector = small_detector().fit(frame)
    np.testing.assert_array_equal(detector.feature_names_in_, columns)
    assert detector.n_features_in_ == N_FEATURES
    errors = detector.reconstruction_error_per_feature(frame.iloc[:5])
    assert isinstance(errors, pd.DataFrame)
    assert list(errors.columns) == columns and list(errors.index) == list(frame.index[:5])
    with pytest.warns(UserWarning, match="feature names"):
        plain = detector.reconstruction_error_per_feature(X[:5])
    np.testing.assert_allclose(errors.to_numpy(), plain)


def test_in_a_pipeline_with_a_scaler():
    X, y = with_outliers()
    pipeline = make_pipeline(StandardScaler(), small_detector(scaler=None, contamination=0.05)).fit(X)
    assert roc_auc_score(y, pipeline.decision_function(X)) > 0.9
    assert np.mean(pipeline.predict(X) == -1) == pytest.approx(0.05, abs=1.5 / len(X))


def test_grid_search_over_the_autoencoder_parameters_with_roc_auc():
    X, y = with_outliers(n_inliers=240, n_outliers=24)
    search = GridSearchCV(
        small_detector(),
        {"estimator__n_components": [1, 2], "estimator__hidden_layer_sizes": [(8,), (16,)]},
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert set(search.best_params_) == {"estimator__n_components", "estimator__hidden_layer_sizes"}
    # +1 inliers are roc_auc's positive class, and decision_function is high for inliers.
    assert search.best_score_ > 0.9
    best_member = search.best_estimator_.estimators_[0]
    assert best_member.n_components == search.best_params_["estimator__n_components"]


@pytest.mark.parametrize(
    "variant", [DenoisingAutoencoder, SparseAutoencoder, ContractiveAutoencoder, VariationalAutoencoder]
)
def test_every_autoencoder_variant_detects(variant):
    X, y = with_outliers(n_inliers=200, n_outliers=10)
    autoencoder = variant(n_components=2, hidden_layer_sizes=(16,), activation="tanh", batch_size=32, max_iter=40)
    # The variational model's KL term wins over squared error on data of
    # small variance (minmax), so it gets standardised data, as its docs advise.
    scaler = "standard" if variant is VariationalAutoencoder else "minmax"
    detector = AutoencoderAnomalyDetector(autoencoder, scaler=scaler, contamination=0.05, random_state=0)
    detector.fit(X)
    assert type(detector.estimators_[0]) is variant
    assert roc_auc_score(y, detector.score_samples(X)) > 0.9
    assert detector.get_params()["estimator__n_components"] == 2


def test_the_estimator_is_cloned_not_fitted():
    autoencoder = AutoencoderTransformer(n_components=1, hidden_layer_sizes=(4,), max_iter=5)
    X, _ = with_outliers()
    detector = AutoencoderAnomalyDetector(autoencoder, random_state=0).fit(X)
    assert not hasattr(autoencoder, "n_features_in_")
    assert detector.estimators_[0] is not autoencoder


@pytest.mark.parametrize("scaler", ["minmax", "standard", "robust", None, StandardScaler()])
def test_scalers(scaler):
    X, y = with_outliers(n_inliers=150, n_outliers=8)
    if scaler is not None:  # a scaler undoes this; no scaler needs data of unit size
        X = X * 50 + 7
    detector = small_detector(scaler=scaler).fit(X)
    assert roc_auc_score(y, detector.score_samples(X)) > 0.9


def test_pickles(fitted_default):
    detector, X, _ = fitted_default
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(restored.score_samples(X), detector.score_samples(X))


def test_bad_parameters_and_inputs():
    X, _ = with_outliers(n_inliers=40, n_outliers=2)
    with pytest.raises(InvalidParameterError, match="contamination"):
        AutoencoderAnomalyDetector(contamination=0.6).fit(X)
    with pytest.raises(InvalidParameterError, match="trim_fraction"):
        AutoencoderAnomalyDetector(trim_fraction=0.5).fit(X)
    with pytest.raises(InvalidParameterError, match="estimator"):
        AutoencoderAnomalyDetector(StandardScaler()).fit(X)
    with pytest.raises(InvalidParameterError, match="distance"):
        AutoencoderAnomalyDetector(distance="euclidean").fit(X)
    detector = small_detector().fit(X)
    with pytest.raises(ValueError, match="features"):
        detector.score_samples(X[:, :3])
    # NaN is a missing entry (tests/test_missing.py); infinity is an error.
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        small_detector().fit(X_inf)


def test_a_failed_fit_leaves_nothing_half_fitted():
    X, _ = with_outliers(n_inliers=40, n_outliers=2)
    detector = small_detector().fit(X)
    diverging = AutoencoderTransformer(n_components=1, hidden_layer_sizes=(4,), learning_rate_init=1e30, max_iter=5)
    detector.set_params(estimator=diverging)
    with pytest.raises(ValueError, match="loss became"):
        detector.fit(X[:, :5])
    assert not any(name.endswith("_") for name in vars(detector))


def test_verbose_detector_reports_every_epoch_of_its_members(capsys):
    X = np.random.RandomState(0).normal(size=(80, 4))
    detector = AutoencoderAnomalyDetector(random_state=0, verbose=True).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(line.startswith("Epoch ") for line in lines)
    # Two fits (the second without the trimmed share), one line per epoch each;
    # the member keeps the history of the second.
    assert len(lines) > detector.estimators_[0].n_iter_ > 0
    AutoencoderAnomalyDetector(random_state=0).fit(X)
    assert capsys.readouterr().out == ""


def test_positive_definite_inverse_matches_lu_and_falls_back():
    rng = np.random.RandomState(0)
    factor = rng.normal(size=(40, 30))
    covariance = factor.T @ factor / 40 + 0.1 * np.eye(30)
    inverse = _positive_definite_inverse(covariance)
    np.testing.assert_allclose(inverse, np.linalg.inv(covariance), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(inverse, inverse.T)
    # Symmetric but indefinite: Cholesky fails, the LU inverse is returned.
    indefinite = np.diag([2.0, -1.0, 0.5])
    np.testing.assert_allclose(_positive_definite_inverse(indefinite), np.diag([0.5, -1.0, 2.0]))
