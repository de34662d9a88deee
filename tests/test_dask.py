"""skae on Dask: dask-ml's Incremental, joblib's Dask backend, a real LocalCluster.

The cluster tests start ``distributed.LocalCluster`` on loopback with two
worker processes of one thread each, shared by the module and shut down at
its end.
"""

import contextlib
import warnings

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
import torch
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer
from skae.chunked import fit_chunks, fit_threshold
from skae.dask import TorchThreads, limit_torch_threads
from skae.metrics import neg_mean_squared_reconstruction_error as neg_mse

# The scheduler's HTTP server (health checks) always binds a port, 8787 when
# free; a busy port only moves it elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")

SMALL = dict(n_components=2, hidden_layer_sizes=(16,), random_state=0)


def curved_data(n_samples, n_features=8, n_latent=2, seed=0):
    rng = np.random.RandomState(seed)
    mixing, bending = rng.randn(2, n_latent, n_features)
    latent = rng.uniform(-2, 2, size=(n_samples, n_latent))
    X = np.tanh(latent @ mixing) + 0.3 * np.sin(2 * latent) @ bending + 0.05 * rng.randn(n_samples, n_features)
    return X.astype(np.float32)


def assert_same_weights(a, b):
    for p, q in zip(a.module_.parameters(), b.module_.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@contextlib.contextmanager
def torch_threads(n_threads):
    # The workers run one torch thread per task; the local reference must too,
    # as float sums may depend on how a kernel splits them over threads.
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        limit_torch_threads(client)
        yield client


# -- dask-ml's Incremental, in this process --------------------------------


@pytest.mark.timeout(120)
def test_incremental_reconstructs_as_well_as_fit():
    X = curved_data(4000)
    X_train, X_test = X[:3000], X[3000:]
    n_epochs = 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = AutoencoderTransformer(max_iter=n_epochs, batch_size=64, **SMALL).fit(X_train)

    X_dask = da.from_array(X_train, chunks=(500, 8))
    incremental = Incremental(AutoencoderTransformer(batch_size=64, **SMALL), random_state=0)
    with dask.config.set(scheduler="synchronous"):
        incremental.fit(X_dask)
        for _ in range(n_epochs - 1):
            incremental.partial_fit(X_dask)  # one more pass, blocks in a new random order
    model = incremental.estimator_
    assert model.n_iter_ == n_epochs * X_dask.numblocks[0]

    baseline = np.mean((X_test - X_train.mean(axis=0)) ** 2)
    full_mse, incremental_mse = -neg_mse(full, X_test), -neg_mse(model, X_test)
    assert full_mse < 0.25 * baseline
    assert incremental_mse < 1.2 * full_mse
    assert incremental.score(da.from_array(X_test, chunks=500), None) == pytest.approx(model.score(X_test))

    codes = incremental.transform(da.from_array(X_test, chunks=(500, 8))).compute()
    np.testing.assert_allclose(codes, model.transform(X_test), rtol=1e-5, atol=1e-6)


@pytest.mark.timeout(60)
def test_incremental_is_fit_chunks_over_the_blocks():
    X = curved_data(900)
    X_dask = da.from_array(X, chunks=(300, 8))
    with dask.config.set(scheduler="threads"):
        incremental = Incremental(AutoencoderTransformer(**SMALL), shuffle_blocks=False).fit(X_dask)
    blocks = [X[:300], X[300:600], X[600:]]
    assert_same_weights(incremental.estimator_, fit_chunks(AutoencoderTransformer(**SMALL), blocks))
    # Without dask-ml: the blocks themselves, computed one at a time.
    with dask.config.set(scheduler="synchronous"):
        from_blocks = fit_chunks(AutoencoderTransformer(**SMALL), X_dask.blocks, n_epochs=2)
    assert_same_weights(from_blocks, fit_chunks(AutoencoderTransformer(**SMALL), blocks, n_epochs=2))


@pytest.mark.timeout(60)
def test_incremental_refuses_early_stopping():
    X_dask = da.from_array(curved_data(300), chunks=(100, 8))
    incremental = Incremental(AutoencoderTransformer(early_stopping=True, **SMALL))
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="early_stopping=True"):
        incremental.fit(X_dask)


# -- on a LocalCluster -----------------------------------------------------


def _torch_threads_here():
    return torch.get_num_threads()


@pytest.mark.timeout(180)
def test_workers_run_one_torch_thread_per_task(client):
    # Tasks run in the workers' executor threads; that is where it counts.
    tasks = client.map(lambda _: _torch_threads_here(), range(4), pure=False)
    assert client.gather(tasks) == [1, 1, 1, 1]
    assert set(client.run(_torch_threads_here).values()) == {1}


@pytest.mark.timeout(60)
def test_torch_threads_plugin_sets_the_count_of_worker_threads():
    # A worker in this process, so the plugin's effect is not the nanny's
    # OMP_NUM_THREADS=1; torch's thread count is process-wide, so restore it.
    before = torch.get_num_threads()
    try:
        with (
            LocalCluster(
                n_workers=1,
                threads_per_worker=2,
                processes=False,
                protocol="tcp://",  # rather than inproc://, so that host applies to every server
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as in_process,
        ):
            plugin = limit_torch_threads(in_process, n_threads=3)
            assert isinstance(plugin, TorchThreads) and plugin.n_threads == 3
            tasks = in_process.map(lambda _: _torch_threads_here(), range(4), pure=False)
            assert in_process.gather(tasks) == [3, 3, 3, 3]
    finally:
        torch.set_num_threads(before)

    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_threads must be a positive integer"):
            TorchThreads(bad)


@pytest.mark.timeout(180)
def test_grid_search_on_the_cluster_matches_the_local_one(client):
    X = curved_data(600, n_latent=3)
    search = GridSearchCV(
        AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=6, batch_size=64, random_state=0),
        {"loss": ["squared_error", "absolute_error"], "n_components": [1, 3]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with torch_threads(1):
            local = search.fit(X)
            local_results, local_best = local.cv_results_, local.best_params_
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(**search.get_params(deep=False) | {"n_jobs": -1}).fit(X)

    assert remote.best_params_ == local_best
    assert remote.best_params_["n_components"] == 3  # the data is 3-D; a real choice was made
    for split in range(3):
        key = f"split{split}_test_score"
        np.testing.assert_array_equal(remote.cv_results_[key], local_results[key])
    assert remote.best_score_ == local.best_score_
    with torch_threads(1):
        assert remote.best_estimator_.score(X) == local.best_estimator_.score(X)


@pytest.mark.timeout(180)
def test_incremental_on_the_cluster_matches_fit_chunks(client):
    # Every block moves the estimator (weights, Adam state, generator) to the
    # worker holding the block, by pickle; training continues unchanged.
    X = curved_data(1200)
    X_dask = da.from_array(X, chunks=(300, 8))
    incremental = Incremental(AutoencoderTransformer(**SMALL), shuffle_blocks=False)
    incremental.fit(X_dask)  # the client is the default scheduler
    incremental.partial_fit(X_dask)
    with torch_threads(1):
        local = fit_chunks(AutoencoderTransformer(**SMALL), [X[i : i + 300] for i in range(0, 1200, 300)], n_epochs=2)
    assert_same_weights(incremental.estimator_, local)
    assert incremental.estimator_.loss_curve_ == local.loss_curve_


def mean_score_samples(estimator, X, y=None):
    # dask-ml's Incremental wants a score method or a scorer; an outlier
    # detector has no score, so it gets this one.
    return float(np.mean(estimator.score_samples(X)))


@pytest.mark.timeout(180)
def test_detector_on_the_cluster_matches_the_local_stream(client):
    X = curved_data(1200).astype(np.float64)
    X[::40] += 2.0  # a few outliers
    X_dask = da.from_array(X, chunks=(300, 8))
    detector = AutoencoderAnomalyDetector(
        AutoencoderTransformer(**SMALL), trim_fraction=0, contamination=0.05, random_state=0
    )
    incremental = Incremental(clone(detector), shuffle_blocks=False, scoring=mean_score_samples)
    incremental.fit(X_dask)
    incremental.partial_fit(X_dask)
    remote = fit_threshold(incremental.estimator_, X_dask.blocks)  # blocks computed by the cluster

    blocks = [X[i : i + 300] for i in range(0, 1200, 300)]
    with torch_threads(1):
        local = fit_threshold(fit_chunks(clone(detector), blocks, n_epochs=2), blocks)
        assert remote.offset_ == local.offset_
        np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    assert np.mean(remote.predict(X) == -1) == pytest.approx(0.05, abs=1e-3)
    for remote_member, local_member in zip(remote.estimators_, local.estimators_, strict=True):
        assert_same_weights(remote_member, local_member)
