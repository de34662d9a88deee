"""Peak memory of chunked fitting: it follows the chunk size, not the data size.

Each configuration runs in a fresh Python process, which reports its peak
resident set size (``ru_maxrss``) above a baseline taken after importing torch
and skae and training once on a tiny chunk (so torch's own start-up memory is
not counted). Configurations:

- ``fit_chunks`` over chunks of ``chunk_size`` rows, for several numbers of
  chunks: the peak should stay flat as the number of chunks grows and rise
  with the chunk size;
- plain ``fit`` on the same rows held in one array, the reference whose peak
  grows with the data;
- with ``--csv``, ``fit_chunks`` over ``pandas.read_csv(chunksize=...)`` of a
  CSV file written once beforehand.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_chunked_memory.py [--csv]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

N_FEATURES = 20


def chunk_of(index, n_rows):
    """Chunk ``index`` of a synthetic stream: noisy points near a 3-D subspace."""
    rng = np.random.RandomState(index)
    mixing = np.random.RandomState(12345).randn(3, N_FEATURES)
    return (np.tanh(rng.randn(n_rows, 3) @ mixing) + 0.05 * rng.randn(n_rows, N_FEATURES)).astype(np.float32)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(config):
    import pandas as pd

    from skae import AutoencoderTransformer
    from skae.chunked import fit_chunks

    def model():
        return AutoencoderTransformer(n_components=3, hidden_layer_sizes=(64,), max_iter=1, random_state=0)

    model().partial_fit(chunk_of(0, 256))  # torch's lazy start-up counts as baseline
    baseline = peak_rss_mib()
    chunk_size, n_chunks = config["chunk_size"], config["n_chunks"]
    tic = time.perf_counter()
    if config["mode"] == "fit_chunks":
        fit_chunks(model(), (chunk_of(i, chunk_size) for i in range(n_chunks)))
    elif config["mode"] == "read_csv":
        reader = pd.read_csv(config["csv"], chunksize=chunk_size, nrows=chunk_size * n_chunks, dtype=np.float32)
        fit_chunks(model(), reader)
    elif config["mode"] == "fit":
        X = np.concatenate([chunk_of(i, chunk_size) for i in range(n_chunks)])
        model().fit(X)
    seconds = time.perf_counter() - tic
    print(json.dumps({"baseline": baseline, "peak": peak_rss_mib(), "seconds": seconds}))


def run(config):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    output = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--n-chunks", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--csv", action="store_true", help="also stream from a CSV file with pandas")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    print(f"{N_FEATURES} float32 features, AutoencoderTransformer(3, hidden_layer_sizes=(64,)), one pass")
    print("peak RSS above the baseline (torch and skae imported, one tiny fit done), MiB")
    print(
        f"{'mode':>10}  {'chunk rows':>10}  {'chunks':>6}  {'total rows':>10}  {'data MiB':>8}  "
        f"{'peak - base':>11}  {'seconds':>7}"
    )
    csv_path = None
    if args.csv:
        n_rows = max(args.chunk_sizes) * max(args.n_chunks)
        csv_path = os.path.join(tempfile.mkdtemp(), "stream.csv")
        with open(csv_path, "w") as handle:
            handle.write(",".join(f"x{j}" for j in range(N_FEATURES)) + "\n")
            for i in range(0, n_rows, 10_000):
                np.savetxt(handle, chunk_of(i, min(10_000, n_rows - i)), fmt="%.6g", delimiter=",")
        print(f"(CSV of {n_rows} rows: {os.path.getsize(csv_path) / 2**20:.0f} MiB on disk)")
    modes = ["fit_chunks", "fit"] + (["read_csv"] if args.csv else [])
    for chunk_size in args.chunk_sizes:
        for mode in modes:
            for n_chunks in args.n_chunks:
                config = {"mode": mode, "chunk_size": chunk_size, "n_chunks": n_chunks, "csv": csv_path}
                result = run(config)
                data_mib = chunk_size * n_chunks * N_FEATURES * 4 / 2**20
                print(
                    f"{mode:>10}  {chunk_size:>10}  {n_chunks:>6}  {chunk_size * n_chunks:>10}  {data_mib:>8.1f}  "
                    f"{result['peak'] - result['baseline']:>11.1f}  {result['seconds']:>7.1f}",
                    flush=True,
                )
    if csv_path:
        os.remove(csv_path)


if __name__ == "__main__":
    main()
