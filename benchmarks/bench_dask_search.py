"""GridSearchCV over loss and n_components: local, then on a Dask LocalCluster.

Runs the same search (same ``random_state``) in this process with
``n_jobs=1`` and under ``joblib.parallel_backend("dask")`` on a loopback
``LocalCluster`` of ``--workers`` processes with one thread each and one
torch thread per task (:func:`skae.dask.limit_torch_threads`). Reports the
wall time of each, their ratio, and whether the best parameters and every
fold's score are identical. The cluster search is run twice: the first run
includes each worker's one-off import of torch and skae.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_dask_search.py --workers 2
"""

import argparse
import time
import warnings

import joblib
import numpy as np
import torch
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer
from skae.dask import limit_torch_threads


def make_data(n_samples, n_features=20, seed=0):
    rng = np.random.RandomState(seed)
    mixing, bending = rng.randn(2, 3, n_features)
    latent = rng.uniform(-2, 2, size=(n_samples, 3))
    X = np.tanh(latent @ mixing) + 0.3 * np.sin(2 * latent) @ bending + 0.05 * rng.randn(n_samples, n_features)
    return X.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-samples", type=int, default=3000)
    parser.add_argument("--max-iter", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    torch.set_num_threads(1)  # the workers' setting, so that results compare bit for bit

    X = make_data(args.n_samples)
    grid = {"loss": ["squared_error", "absolute_error", "huber"], "n_components": [1, 2, 3, 5]}
    estimator = AutoencoderTransformer(hidden_layer_sizes=(32,), max_iter=args.max_iter, random_state=0)
    print(
        f"GridSearchCV: {len(grid['loss']) * len(grid['n_components'])} candidates x 3 folds, "
        f"{args.n_samples} x {X.shape[1]} samples, max_iter={args.max_iter}"
    )

    tic = time.perf_counter()
    local = GridSearchCV(estimator, grid, cv=3).fit(X)
    local_seconds = time.perf_counter() - tic
    print(f"local, n_jobs=1: {local_seconds:.1f} s; best {local.best_params_}, score {local.best_score_:.5f}")

    tic = time.perf_counter()
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        limit_torch_threads(client)
        print(f"cluster of {args.workers} workers started in {time.perf_counter() - tic:.1f} s")
        for attempt in ("first (workers import torch)", "second"):
            tic = time.perf_counter()
            with joblib.parallel_backend("dask"):
                remote = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X)
            seconds = time.perf_counter() - tic
            identical = remote.best_params_ == local.best_params_ and all(
                np.array_equal(remote.cv_results_[f"split{k}_test_score"], local.cv_results_[f"split{k}_test_score"])
                for k in range(3)
            )
            print(
                f"dask, {attempt}: {seconds:.1f} s, local/dask time ratio {local_seconds / seconds:.2f}; "
                f"best {remote.best_params_}; identical to local: {identical}"
            )


if __name__ == "__main__":
    main()
