"""Does an anomaly detector trained chunk by chunk detect as well as ``fit``?

Same data, same ``random_state``, same number of passes:
``AutoencoderAnomalyDetector`` trained by ``fit`` on the whole array, and by
:func:`skae.chunked.fit_chunks` over row chunks followed by
:func:`skae.chunked.fit_threshold`, without trimming and with the default
``trim_fraction="auto"`` (``fit`` refits without the worst-reconstructed
share of all the data; chunked training leaves out the worst share of each
chunk from the second on). Reports the ROC AUC on a held-out set with
planted outliers, and the share of the training data each flags
(``contamination=0.05``).

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_chunked_detector.py
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer
from skae.chunked import fit_chunks, fit_threshold


def make_data(n_samples, outlier_share, seed, n_features=20):
    """Inliers near a curved 3-D manifold (fixed across seeds), outliers pushed off it."""
    mixing, bending = np.random.RandomState(0).randn(2, 3, n_features)
    rng = np.random.RandomState(seed)
    latent = rng.uniform(-2, 2, size=(n_samples, 3))
    X = np.tanh(latent @ mixing) + 0.3 * np.sin(2 * latent) @ bending + 0.05 * rng.randn(n_samples, n_features)
    n_outliers = round(outlier_share * n_samples)
    X[:n_outliers] += rng.choice([-1.0, 1.0], size=(n_outliers, n_features)) * rng.uniform(
        0.05, 0.3, size=(n_outliers, n_features)
    )
    labels = np.zeros(n_samples, dtype=int)
    labels[:n_outliers] = 1
    order = rng.permutation(n_samples)
    return X[order], labels[order]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=40_000)
    parser.add_argument("--chunk-size", type=int, default=2_000)
    parser.add_argument("--n-epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    X, _ = make_data(args.n_samples, 0.05, seed=1)
    X_test, labels_test = make_data(10_000, 0.05, seed=2)
    chunks = [X[start : start + args.chunk_size] for start in range(0, len(X), args.chunk_size)]
    print(
        f"{len(X)} x {X.shape[1]} training samples (5 % outliers) in {len(chunks)} chunks, "
        f"{args.n_epochs} passes; ROC AUC on 10000 held-out samples (5 % outliers)"
    )
    print(
        f"{'trim':>4}  {'seed':>4}  {'fit AUC':>8}  {'chunked AUC':>11}  "
        f"{'fit flags':>9}  {'chunked flags':>13}  seconds"
    )
    for trim_fraction in (0, "auto"):
        aucs = []
        for seed in range(args.seeds):
            detector = AutoencoderAnomalyDetector(
                AutoencoderTransformer(3, hidden_layer_sizes=(64,), max_iter=args.n_epochs),
                trim_fraction=trim_fraction,
                contamination=0.05,
                random_state=seed,
            )
            tic = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                full = clone(detector).fit(X)
            full_seconds = time.perf_counter() - tic
            tic = time.perf_counter()
            chunked = fit_threshold(fit_chunks(clone(detector), chunks, n_epochs=args.n_epochs), chunks)
            chunked_seconds = time.perf_counter() - tic
            auc = [roc_auc_score(labels_test, -model.score_samples(X_test)) for model in (full, chunked)]
            flags = [np.mean(model.predict(X) == -1) for model in (full, chunked)]
            aucs.append(auc)
            print(
                f"{trim_fraction:>4}  {seed:>4}  {auc[0]:>8.4f}  {auc[1]:>11.4f}  {flags[0]:>9.4f}  {flags[1]:>13.4f}  "
                f"fit {full_seconds:.1f}, chunked {chunked_seconds:.1f}"
            )
        mean = np.mean(aucs, axis=0)
        print(f"trim_fraction={trim_fraction!r}: mean ROC AUC fit {mean[0]:.4f}, chunked {mean[1]:.4f}")


if __name__ == "__main__":
    main()
