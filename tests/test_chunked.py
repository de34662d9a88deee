"""Fitting chunk by chunk: partial_fit's contract and skae.chunked.fit_chunks."""

import io
import pickle
import warnings
import weakref

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import skae
from skae import AutoencoderAnomalyDetector, AutoencoderTransformer, SparseAutoencoder
from skae._base import BaseAutoencoder
from skae.chunked import fit_chunks, fit_threshold
from skae.metrics import neg_mean_squared_reconstruction_error as neg_mse

pytestmark = pytest.mark.timeout(120)

SMALL = dict(n_components=2, hidden_layer_sizes=(16,), random_state=0)


def curved_data(n_samples, n_features=8, seed=0):
    """Points near a curved 2-D surface: the net must learn something to reconstruct it."""
    rng = np.random.RandomState(seed)
    mixing, bending = rng.randn(2, 2, n_features)
    latent = rng.uniform(-2, 2, size=(n_samples, 2))
    X = np.tanh(latent @ mixing) + 0.3 * np.sin(2 * latent) @ bending + 0.05 * rng.randn(n_samples, n_features)
    return X.astype(np.float32)


def split(X, chunk_size):
    return [X[start : start + chunk_size] for start in range(0, len(X), chunk_size)]


def weights(estimator):
    return [p.detach().clone() for p in estimator.module_.parameters()]


def assert_same_weights(a, b):
    for p, q in zip(weights(a), weights(b), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_fit_chunks_reconstructs_as_well_as_fit():
    X = curved_data(4000)
    X_train, X_test = X[:3000], X[3000:]
    n_epochs = 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = AutoencoderTransformer(max_iter=n_epochs, batch_size=64, **SMALL).fit(X_train)
    chunked = fit_chunks(AutoencoderTransformer(batch_size=64, **SMALL), split(X_train, 500), n_epochs=n_epochs)

    baseline = np.mean((X_test - X_train.mean(axis=0)) ** 2)  # predicting the mean
    full_mse, chunked_mse = -neg_mse(full, X_test), -neg_mse(chunked, X_test)
    assert full_mse < 0.25 * baseline
    assert chunked_mse < 1.2 * full_mse
    assert chunked.n_iter_ == n_epochs * 6 == len(chunked.loss_curve_)


def test_partial_fit_continues_the_optimiser():
    # Two chunks of whole batches, unshuffled, take exactly the steps that one
    # epoch of fit takes on their concatenation; only a carried-over Adam
    # state (moments and step count) makes the weights agree.
    X = curved_data(400)
    # A random start and no penalty: PCA's start and alpha / n_samples would
    # depend on the chunk, not only on the optimiser's state.
    params = dict(batch_size=50, shuffle=False, max_iter=1, init="random", alpha=0.0, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = AutoencoderTransformer(**params).fit(X)
    chunked = AutoencoderTransformer(**params)
    chunked.partial_fit(X[:200]).partial_fit(X[200:])
    assert_same_weights(full, chunked)

    restarted = AutoencoderTransformer(**params).partial_fit(X[:200])
    engine = restarted.engine_
    engine.optimizer = engine._make_optimizer()  # what a fresh optimiser per chunk would do
    restarted.partial_fit(X[200:])
    assert not all(torch.equal(p, q) for p, q in zip(weights(full), weights(restarted)))


def test_partial_fit_survives_pickling_between_chunks():
    # Dask moves the estimator between processes from block to block.
    X = curved_data(600)
    direct = AutoencoderTransformer(**SMALL).partial_fit(X[:300]).partial_fit(X[300:])
    moved = pickle.loads(pickle.dumps(AutoencoderTransformer(**SMALL).partial_fit(X[:300])))
    moved.partial_fit(X[300:])
    assert_same_weights(direct, moved)


def test_fit_chunks_is_repeated_partial_fit():
    X = curved_data(600)
    by_hand = AutoencoderTransformer(**SMALL)
    for _ in range(2):
        for chunk in split(X, 200):
            by_hand.partial_fit(chunk)
    chunked = fit_chunks(AutoencoderTransformer(**SMALL), lambda: iter(split(X, 200)), n_epochs=2)
    assert_same_weights(by_hand, chunked)
    assert chunked.loss_curve_ == by_hand.loss_curve_


def test_fit_chunks_from_read_csv(tmp_path):
    X = curved_data(600).astype(np.float64)
    frame = pd.DataFrame(X, columns=[f"sensor{i}" for i in range(X.shape[1])])
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)

    from_csv = fit_chunks(
        AutoencoderTransformer(**SMALL), lambda: pd.read_csv(path, chunksize=200, dtype=np.float64), n_epochs=2
    )
    from_arrays = fit_chunks(AutoencoderTransformer(**SMALL), split(X, 200), n_epochs=2)
    assert list(from_csv.feature_names_in_) == list(frame.columns)
    assert_same_weights(from_csv, from_arrays)
    assert from_csv.transform(frame).shape == (600, 2)


def test_fit_chunks_holds_one_chunk_at_a_time():
    X = curved_data(1000)
    alive = []
    most_alive = 0

    def chunks():
        nonlocal most_alive
        for start in range(0, len(X), 100):
            most_alive = max(most_alive, sum(ref() is not None for ref in alive))
            chunk = X[start : start + 100].copy()
            alive.append(weakref.ref(chunk))
            yield chunk
            del chunk

    fit_chunks(AutoencoderTransformer(**SMALL), chunks)
    # The chunk being replaced may still be bound to fit_chunks's loop variable.
    assert len(alive) == 10
    assert most_alive <= 1


def test_partial_fit_refuses_early_stopping():
    X = curved_data(300)
    model = AutoencoderTransformer(early_stopping=True, **SMALL)
    with pytest.raises(ValueError, match="partial_fit cannot use early_stopping=True"):
        model.partial_fit(X)
    assert not hasattr(model, "engine_")
    with pytest.raises(ValueError, match="early_stopping"):
        fit_chunks(model, split(X, 100))

    # A refused call leaves an existing model as it was.
    model = AutoencoderTransformer(**SMALL).partial_fit(X)
    before = weights(model)
    model.set_params(early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping"):
        model.partial_fit(X)
    assert all(torch.equal(p, q) for p, q in zip(before, weights(model)))


@pytest.mark.parametrize(
    "change, changed",
    [
        (dict(n_components=3), "n_components"),
        (dict(hidden_layer_sizes=(8, 4)), "hidden_layer_sizes"),
        (dict(activation="tanh"), "activation"),
    ],
)
def test_continuing_refuses_a_different_network(change, changed):
    X = curved_data(300)
    model = AutoencoderTransformer(**SMALL).partial_fit(X)
    model.set_params(**change)
    with pytest.raises(ValueError, match=f"Cannot continue training: .*another network.*{changed}"):
        model.partial_fit(X)
    assert model.transform(X).shape == (300, 2)  # still the fitted model

    warm = AutoencoderTransformer(max_iter=2, warm_start=True, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)
        warm.set_params(**change)
        with pytest.raises(ValueError, match=changed):
            warm.fit(X)
        # fit without warm_start builds the new network.
        warm.set_params(warm_start=False).fit(X)
    assert warm.n_iter_ == 2


def test_fit_chunks_rejects_what_it_cannot_use():
    X = curved_data(300)
    model = AutoencoderTransformer(**SMALL)
    with pytest.raises(ValueError, match="can be read only once"):
        fit_chunks(model, iter(split(X, 100)), n_epochs=2)
    with pytest.raises(ValueError, match="can be read only once"):
        fit_chunks(model, (chunk for chunk in split(X, 100)), n_epochs=2)

    with pytest.raises(ValueError, match="can be read only once"):
        fit_chunks(model, pd.read_csv(io.StringIO(pd.DataFrame(X).to_csv(index=False)), chunksize=100), n_epochs=2)

    one_reader = iter(split(X, 100))
    with pytest.raises(ValueError, match="chunks of pass 2 of 2 were empty"):
        fit_chunks(AutoencoderTransformer(**SMALL), lambda: one_reader, n_epochs=2)
    with pytest.raises(ValueError, match="chunks of pass 1 of 1 were empty"):
        fit_chunks(AutoencoderTransformer(**SMALL), [])

    with pytest.raises(TypeError, match="not one ndarray"):
        fit_chunks(model, X)
    with pytest.raises(TypeError, match="not one DataFrame"):
        fit_chunks(model, pd.DataFrame(X))
    with pytest.raises(TypeError, match="iterable or a callable"):
        fit_chunks(model, 3)
    with pytest.raises(TypeError, match="needs an estimator with partial_fit"):
        fit_chunks(object(), split(X, 100))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_epochs must be a positive integer"):
            fit_chunks(model, split(X, 100), n_epochs=bad)

    # A chunk with other columns is partial_fit's error, unchanged.
    with pytest.raises(ValueError, match="features"):
        fit_chunks(AutoencoderTransformer(**SMALL), [X[:100], X[100:200, :5]])


def test_fit_chunks_accepts_any_partial_fit_estimator():
    from sklearn.decomposition import IncrementalPCA

    X = curved_data(600).astype(np.float64)
    pca = fit_chunks(IncrementalPCA(n_components=2), split(X, 200))
    np.testing.assert_allclose(pca.mean_, X.mean(axis=0), rtol=1e-10)


TRANSFORMERS = [
    getattr(skae, name)
    for name in skae.__all__
    if isinstance(getattr(skae, name), type) and issubclass(getattr(skae, name), BaseAutoencoder)
]


@pytest.mark.parametrize("Transformer", TRANSFORMERS, ids=lambda cls: cls.__name__)
def test_every_transformer_fits_from_chunks(Transformer):
    X = curved_data(600)
    chunks = split(X, 200)
    by_hand = Transformer(**SMALL)
    for _ in range(2):
        for chunk in chunks:
            by_hand.partial_fit(chunk)
    chunked = fit_chunks(Transformer(**SMALL), chunks, n_epochs=2)
    assert chunked.n_iter_ == 6
    assert chunked.loss_curve_ == by_hand.loss_curve_
    assert chunked.transform(X).shape == (600, 2)
    with pytest.raises(ValueError, match="early_stopping=True"):
        fit_chunks(Transformer(early_stopping=True, **SMALL), chunks)


def test_a_variant_parameter_that_shapes_the_network_cannot_change_midway():
    X = curved_data(300)
    model = SparseAutoencoder(sparsity="l1", **SMALL).partial_fit(X)
    model.set_params(sparsity="kl")
    # Whatever l1's code activation is, kl's sigmoid is another network.
    with pytest.raises(ValueError, match=r"code_activation '\w+' -> 'sigmoid'"):
        model.partial_fit(X)


# -- the anomaly detector ----------------------------------------------------


def data_with_outliers(n_samples, n_outliers, seed=0):
    """Inliers near a curved surface, and outliers off it; labels 1 for outliers."""
    X = curved_data(n_samples, seed=seed).astype(np.float64)
    rng = np.random.RandomState(seed + 1)
    shape = (n_outliers, X.shape[1])
    X[:n_outliers] += rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.2, size=shape)
    labels = np.zeros(n_samples, dtype=int)
    labels[:n_outliers] = 1
    order = rng.permutation(n_samples)
    return X[order], labels[order]


def member(**params):
    # A random start, as the detector's default member has: a PCA start
    # stays close to PCA in 8 epochs, a weaker detector here (ROC AUC 0.72
    # against 0.93).
    return AutoencoderTransformer(**(SMALL | dict(batch_size=64, init="random") | params))


@pytest.mark.parametrize("trim_fraction", [0, "auto"])
def test_detector_from_chunks_detects_as_well_as_fit(trim_fraction):
    from sklearn.metrics import roc_auc_score

    X, labels = data_with_outliers(3000, 150)
    X_test, labels_test = data_with_outliers(1000, 50, seed=7)
    n_epochs = 8
    aucs = []
    # Averaged over seeds: one seed's ROC AUC varies by a few hundredths
    # either way between the two routes.
    for seed in range(5):
        # One member: the routes are compared, not the ensemble.
        detector = AutoencoderAnomalyDetector(
            member(max_iter=n_epochs),
            trim_fraction=trim_fraction,
            contamination=0.05,
            n_estimators=1,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            full = clone(detector).fit(X)
        chunked = fit_threshold(fit_chunks(clone(detector), split(X, 500), n_epochs=n_epochs), split(X, 500))
        aucs.append([roc_auc_score(labels_test, -model.score_samples(X_test)) for model in (full, chunked)])
        assert all(m.n_iter_ == n_epochs * 6 for m in chunked.estimators_)
        assert np.mean(chunked.predict(X) == -1) == pytest.approx(0.05, abs=1e-3)
    full_auc, chunked_auc = np.mean(aucs, axis=0)
    assert full_auc > 0.9
    assert chunked_auc > full_auc - 0.02


def test_detector_partial_fit_thresholds_on_the_last_chunk_and_fit_threshold_on_all():
    X, _ = data_with_outliers(1200, 60)
    chunks = split(X, 300)
    detector = AutoencoderAnomalyDetector(member(), trim_fraction=0, contamination=0.1, random_state=0)
    for chunk in chunks:
        detector.partial_fit(chunk)
    percentile = dict(q=10, method="averaged_inverted_cdf")  # the detector's threshold
    assert detector.offset_ == np.percentile(detector.score_samples(chunks[-1]), **percentile)
    assert all(m.n_iter_ == 4 for m in detector.estimators_)

    fit_threshold(detector, chunks)
    assert detector.offset_ == pytest.approx(np.percentile(detector.score_samples(X), **percentile), rel=1e-6)
    assert np.mean(detector.predict(X) == -1) == pytest.approx(0.1, abs=1e-3)


def test_fit_threshold_over_chunks_reproduces_fit():
    X, _ = data_with_outliers(900, 45)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        detector = AutoencoderAnomalyDetector(member(max_iter=3), contamination=0.05, random_state=0).fit(X)
    offset, scales = detector.offset_, detector.error_scales_
    with pytest.raises(ValueError, match="features"):
        fit_threshold(detector, [X[:100], X[100:200, :5]])  # refused as by predict
    assert detector.offset_ == offset  # and left as it was
    fit_threshold(detector, lambda: iter(split(X, 200)))
    assert detector.offset_ == pytest.approx(offset, rel=1e-6)
    for new, old in zip(detector.error_scales_, scales, strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-6)

    # A new contamination needs no retraining.
    detector.set_params(contamination=0.2)
    fit_threshold(detector, split(X, 200))
    assert np.mean(detector.predict(X) == -1) == pytest.approx(0.2, abs=2e-3)


def test_fit_threshold_holds_at_most_max_samples_rows(monkeypatch):
    X, _ = data_with_outliers(5000, 250)
    detector = AutoencoderAnomalyDetector(member(), trim_fraction=0, contamination=0.05, random_state=0)
    fit_chunks(detector, split(X, 500), n_epochs=2)
    calibrated_on = []
    calibrate = detector.calibrate
    monkeypatch.setattr(detector, "calibrate", lambda rows: calibrated_on.append(rows) or calibrate(rows))

    fit_threshold(detector, split(X, 500), max_samples=1000, random_state=0)
    assert calibrated_on[-1].shape == (1000, X.shape[1])
    # Drawn from the whole stream, not the first 1000 rows: rows of the
    # last chunk are there about as often as their share (10 %).
    from_last_chunk = np.isin(calibrated_on[-1][:, 0], X[-500:, 0]).mean()
    assert 0.05 < from_last_chunk < 0.15
    # A sample's threshold flags about the right share of the whole data.
    assert np.mean(detector.predict(X) == -1) == pytest.approx(0.05, abs=0.02)


def test_detector_partial_fit_trims_online(monkeypatch):
    # The first chunk trains whole; later ones without the trim_fraction share
    # that the model so far reconstructs worst.
    X, _ = data_with_outliers(900, 45)
    detector = AutoencoderAnomalyDetector(member(), trim_fraction=0.1, n_estimators=1, random_state=0)
    trained_on = []
    original = AutoencoderTransformer.partial_fit
    monkeypatch.setattr(
        AutoencoderTransformer, "partial_fit", lambda self, X, y=None: trained_on.append(X) or original(self, X)
    )
    for chunk in split(X, 300):
        detector.partial_fit(chunk)
    assert [len(rows) for rows in trained_on] == [300, 270, 270]
    # The rows left out are rows of the chunk, and score as less normal.
    last = detector.scaler_.transform(X[600:])
    left_out = ~np.isin(last[:, 0], trained_on[-1][:, 0])
    assert left_out.sum() == 30
    scores = detector.score_samples(X[600:])
    assert scores[left_out].mean() < scores[~left_out].mean()


def test_detector_partial_fit_refuses_what_cannot_stream():
    X, _ = data_with_outliers(300, 15)
    with pytest.raises(ValueError, match="RobustScaler has none"):
        AutoencoderAnomalyDetector(member(), trim_fraction=0, scaler="robust").partial_fit(X)
    refused = AutoencoderAnomalyDetector(member(early_stopping=True), trim_fraction=0)
    with pytest.raises(ValueError, match="early_stopping=True"):
        refused.partial_fit(X)
    assert not hasattr(refused, "offset_") and not hasattr(refused, "estimators_")

    detector = AutoencoderAnomalyDetector(member(), trim_fraction=0, n_estimators=2).partial_fit(X)
    detector.set_params(n_estimators=3)
    with pytest.raises(ValueError, match="n_estimators changed from 2 to 3"):
        detector.partial_fit(X)
    # The default member streams without early stopping.
    default = AutoencoderAnomalyDetector(random_state=0).partial_fit(X)
    assert default.estimators_[0].early_stopping is False

    with pytest.raises(TypeError, match="needs an AutoencoderAnomalyDetector"):
        fit_threshold(member(), split(X, 100))
    with pytest.raises(ValueError, match="chunks were empty"):
        fit_threshold(detector.set_params(n_estimators=2), [])
    with pytest.raises(ValueError, match="max_samples must be a positive integer"):
        fit_threshold(detector, split(X, 100), max_samples=0)
