"""GridSearchCV(n_jobs=2) against n_jobs=1: wall time, and torch threads per fit.

With joblib's default (loky) backend each worker process starts with
``OMP_NUM_THREADS`` (and the MKL/OpenBLAS equivalents) set to
``cpu_count() // n_jobs``, and torch sizes its intra-op pool from it, so two
workers on two cores run one torch thread each instead of fighting over the
cores with two each. This script shows it: a second scorer reports
``torch.get_num_threads()`` inside every fit, and the wall times of the two
searches are printed side by side (interleaved, medians).

Usage::

    python benchmarks/bench_gridsearch_threads.py [--repeats 3] [--quick]
"""

import argparse
import statistics
import time
import warnings

import joblib
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV

from skae import AutoencoderTransformer


def make_data(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_samples, 8), dtype=np.float32)
    mixing = rng.standard_normal((8, n_features), dtype=np.float32)
    return np.tanh(latent @ mixing) + np.float32(0.1) * rng.standard_normal((n_samples, n_features), dtype=np.float32)


def torch_threads(estimator, X, y=None):
    """A 'scorer' that reports the torch threads of the process that fitted."""
    return torch.get_num_threads()


def search(X, n_jobs, max_iter):
    grid = GridSearchCV(
        AutoencoderTransformer(hidden_layer_sizes=(64, 32), max_iter=max_iter, random_state=0, device="cpu"),
        {"n_components": [4, 8], "alpha": [1e-4, 1e-3]},
        cv=2,
        scoring={"score": lambda estimator, X, y=None: estimator.score(X), "threads": torch_threads},
        refit=False,
        n_jobs=n_jobs,
    )
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid.fit(X)
    seconds = time.perf_counter() - tic
    threads = sorted(set(grid.cv_results_["split0_test_threads"]) | set(grid.cv_results_["split1_test_threads"]))
    return seconds, threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer samples and epochs, 1 repeat")
    args = parser.parse_args()
    n_samples, max_iter = (4000, 2) if args.quick else (20000, 5)
    if args.quick:
        args.repeats = 1
    X = make_data(n_samples, 64)
    print(f"# cpu_count {joblib.cpu_count()}, torch threads in this process {torch.get_num_threads()}")
    print(f"# 8 fits (2 x 2 grid, cv=2) of {n_samples}x64, hidden (64, 32), {max_iter} epochs")
    search(X[:500], 2, 1)  # starts the worker processes once, outside the timings
    times = {1: [], 2: []}
    for _ in range(args.repeats):
        for n_jobs in times:
            seconds, threads = search(X, n_jobs, max_iter)
            times[n_jobs].append(seconds)
            print(f"n_jobs={n_jobs}: {seconds:6.2f} s, torch threads inside the fits: {[int(t) for t in threads]}")
    base = statistics.median(times[1])
    for n_jobs, values in times.items():
        median = statistics.median(values)
        print(f"median n_jobs={n_jobs}: {median:6.2f} s   ratio to n_jobs=1: {median / base:4.2f}")


if __name__ == "__main__":
    main()
