"""Fitting chunk by chunk: partial_fit's contract and skae.chunked.fit_chunks."""

import io
import pickle
import warnings
import weakref

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

import skae
from skae import AutoencoderTransformer, SparseAutoencoder
from skae._base import BaseAutoencoder
from skae.chunked import fit_chunks

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
    full_mse, chunked_mse = -full.score(X_test), -chunked.score(X_test)
    assert full_mse < 0.25 * baseline
    assert chunked_mse < 1.2 * full_mse
    assert chunked.n_iter_ == n_epochs * 6 == len(chunked.loss_curve_)


def test_partial_fit_continues_the_optimiser():
    # Two chunks of whole batches, unshuffled, take exactly the steps that one
    # epoch of fit takes on their concatenation; only a carried-over Adam
    # state (moments and step count) makes the weights agree.
    X = curved_data(400)
    params = dict(batch_size=50, shuffle=False, max_iter=1, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = AutoencoderTransformer(**params).fit(X)
    chunked = AutoencoderTransformer(**params)
    chunked.partial_fit(X[:200]).partial_fit(X[200:])
    assert_same_weights(full, chunked)

    restarted = AutoencoderTransformer(**params).partial_fit(X[:200])
    restarted.engine_.optimizer.state.clear()  # what a fresh optimiser per chunk would do
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
    with pytest.raises(ValueError, match="code_activation 'relu' -> 'sigmoid'"):
        model.partial_fit(X)
