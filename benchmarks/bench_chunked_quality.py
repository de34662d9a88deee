"""Does fitting chunk by chunk reconstruct as well as fit on the same data?

Trains the same AutoencoderTransformer (same random_state, same number of
passes over the same data) three ways and reports the held-out mean squared
reconstruction error of each, next to PCA's with as many components:

- ``fit`` on the whole array (``max_iter=n_epochs``);
- :func:`skae.chunked.fit_chunks` over row chunks (``n_epochs`` passes);
- ``dask_ml.wrappers.Incremental`` over a chunked ``dask.array``
  (one ``fit`` and ``n_epochs - 1`` ``partial_fit`` calls, blocks in order).

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_chunked_quality.py
"""

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np
from dask_ml.wrappers import Incremental
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.chunked import fit_chunks
from skae.metrics import neg_mean_squared_reconstruction_error


def make_data(n_samples, n_features=20, n_latent=3, seed=0):
    """Points near a curved 3-D manifold in 20-D: a nonlinear autoencoder beats PCA."""
    rng = np.random.RandomState(seed)
    mixing, bending = rng.randn(2, n_latent, n_features)
    latent = rng.uniform(-2, 2, size=(n_samples, n_latent))
    X = np.tanh(latent @ mixing) + 0.3 * np.sin(2 * latent) @ bending
    X += 0.05 * rng.randn(n_samples, n_features)
    return X.astype(np.float32)


def held_out_mse(model, X_test):
    return float(-neg_mean_squared_reconstruction_error(model, X_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=40_000)
    parser.add_argument("--chunk-size", type=int, default=2_000)
    parser.add_argument("--n-epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    X = make_data(args.n_samples + 10_000)
    X_train, X_test = X[: args.n_samples], X[args.n_samples :]
    n_chunks = -(-args.n_samples // args.chunk_size)
    print(
        f"{args.n_samples} x {X.shape[1]} training samples in {n_chunks} chunks of {args.chunk_size}, "
        f"{args.n_epochs} passes, 10000 held-out samples; held-out mean squared reconstruction error"
    )
    pca = PCA(3).fit(X_train)
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2))
    # Warm torch up so that the first timing does not pay for its lazy initialisation.
    AutoencoderTransformer(3, hidden_layer_sizes=(64,), max_iter=1).partial_fit(X_train[:1000])
    print(f"PCA(3): {pca_mse:.5f}")
    print(f"{'seed':>4}  {'fit':>9}  {'fit_chunks':>10}  {'Incremental':>11}  {'chunks/fit':>10}  {'dask/fit':>8}")
    ratios = []
    for seed in range(args.seeds):
        params = dict(n_components=3, hidden_layer_sizes=(64,), random_state=seed)
        timings = {}
        tic = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            full = AutoencoderTransformer(max_iter=args.n_epochs, **params).fit(X_train)
        timings["fit"] = time.perf_counter() - tic

        chunks = [X_train[start : start + args.chunk_size] for start in range(0, args.n_samples, args.chunk_size)]
        tic = time.perf_counter()
        chunked = fit_chunks(AutoencoderTransformer(**params), chunks, n_epochs=args.n_epochs)
        timings["fit_chunks"] = time.perf_counter() - tic

        X_dask = da.from_array(X_train, chunks=(args.chunk_size, X.shape[1]))
        tic = time.perf_counter()
        with dask.config.set(scheduler="synchronous"):
            incremental = Incremental(AutoencoderTransformer(**params), shuffle_blocks=False)
            incremental.fit(X_dask)
            for _ in range(args.n_epochs - 1):
                incremental.partial_fit(X_dask)
        timings["Incremental"] = time.perf_counter() - tic

        mse = [held_out_mse(model, X_test) for model in (full, chunked, incremental.estimator_)]
        ratios.append((mse[1] / mse[0], mse[2] / mse[0]))
        print(
            f"{seed:>4}  {mse[0]:>9.5f}  {mse[1]:>10.5f}  {mse[2]:>11.5f}  "
            f"{mse[1] / mse[0]:>10.3f}  {mse[2] / mse[0]:>8.3f}"
            f"   (seconds: fit {timings['fit']:.1f}, fit_chunks {timings['fit_chunks']:.1f}, "
            f"Incremental {timings['Incremental']:.1f})"
        )
    ratios = np.array(ratios)
    print(f"mean ratio to fit: fit_chunks {ratios[:, 0].mean():.3f}, Incremental {ratios[:, 1].mean():.3f}")


if __name__ == "__main__":
    main()
