"""Imputation: ``AutoencoderImputer`` against scikit-learn's imputers.

Usage::

    python benchmarks/bench_impute.py \\
        --anomaly-dir ../shared/data/anomaly --tabular-dir ../shared/data/tabular
    python benchmarks/bench_impute.py --quick          # a smoke run: few sets, one seed, one rate

Data: scikit-learn's bundled digits, wine, breast_cancer and diabetes; every
ADBench ``.npz`` in ``--anomaly-dir``; and the tables of ``--tabular-dir``
that have missing cells (their numeric columns). Sets over ``--max-rows``
rows are subsampled once (seed 0), and sets over ``--max-features`` features
are left out (``IterativeImputer`` fits one regression per feature and
round). Constant columns are dropped.

Protocol, for each set, rate (MCAR, ``--rates``) and seed: a share of the
observed entries is hidden at random (rows left with nothing observed are
kept: every imputer must cope with them); each imputer is fitted on the
masked table and imputes it (fit + transform, timed). Reported:

- RMSE on the hidden entries, with every feature standardised by the mean
  and standard deviation of its observed (masked) values, so that features
  weigh alike;
- downstream, where labels exist: 3-fold cross-validated balanced accuracy
  of a ``LogisticRegression`` (R^2 of a ``Ridge`` for diabetes) on the
  standardised imputed table;
- fit + transform seconds.

Tables with real missing values keep them for every method (no ground
truth there); the RMSE is on the entries hidden on top. All methods run in
this one process, interleaved, so their seconds compare. The summary ranks
the methods on every (set, rate) cell, lower rank better, and averages.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skae import AutoencoderImputer

METHODS = {
    "AutoencoderImputer": lambda seed: AutoencoderImputer(random_state=seed),
    "SimpleImputer(mean)": lambda seed: SimpleImputer(strategy="mean"),
    "KNNImputer": lambda seed: KNNImputer(),
    "IterativeImputer": lambda seed: IterativeImputer(random_state=seed),
    "IterativeImputer(max_iter=25)": lambda seed: IterativeImputer(max_iter=25, random_state=seed),
}


def bundled_sets():
    """(name, X, y, task) of scikit-learn's bundled sets."""
    for name, loader, task in [
        ("digits", load_digits, "classification"),
        ("wine", load_wine, "classification"),
        ("breast_cancer", load_breast_cancer, "classification"),
        ("diabetes", load_diabetes, "regression"),
    ]:
        X, y = loader(return_X_y=True)
        yield name, X, y, task


def anomaly_sets(directory):
    for path in sorted(Path(directory).glob("*.npz"), key=lambda p: int(p.stem.split("_")[0])):
        data = np.load(path)
        yield path.stem.split("_", 1)[1], data["X"], data["y"], "classification"


def tabular_sets(directory):
    """The tables of ``directory`` with missing cells: their numeric columns, no labels."""
    for path in sorted(Path(directory).glob("*.csv")):
        frame = pd.read_csv(path).select_dtypes("number")
        if frame.isna().to_numpy().any():
            yield path.stem, frame.to_numpy(dtype=np.float64), None, None


def prepare(X, y, max_rows):
    """``X`` as float64 without constant columns, at most ``max_rows`` rows (seed 0)."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] > max_rows:
        rows = np.random.RandomState(0).choice(X.shape[0], max_rows, replace=False)
        X, y = X[rows], (None if y is None else y[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        varying = np.nan_to_num(np.nanstd(X, axis=0)) > 0
    return X[:, varying], y


def hide(X, rate, seed):
    """A copy of ``X`` with a ``rate`` share of its observed entries set to NaN, and the mask of those."""
    rng = np.random.RandomState(seed)
    hidden = (rng.uniform(size=X.shape) < rate) & ~np.isnan(X)
    X_masked = X.copy()
    X_masked[hidden] = np.nan
    return X_masked, hidden


def standardised_rmse(X_imputed, X_true, X_masked, hidden):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(X_masked, axis=0), np.nanstd(X_masked, axis=0)
    mean, std = np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, std, 1.0)
    error = (X_imputed - X_true) / std
    return float(np.sqrt(np.mean(error[hidden] ** 2)))


def downstream(X_imputed, y, task):
    if task == "classification":
        model, scoring = LogisticRegression(max_iter=500), "balanced_accuracy"
    else:
        model, scoring = Ridge(), "r2"
    return float(cross_val_score(make_pipeline(StandardScaler(), model), X_imputed, y, cv=3, scoring=scoring).mean())


def run_cell(name, X, y, task, rate, seeds, methods, rows):
    for seed in seeds:
        X_masked, hidden = hide(X, rate, seed)
        for method in methods:
            imputer = METHODS[method](seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tic = time.perf_counter()
                X_imputed = imputer.fit_transform(X_masked)
                seconds = time.perf_counter() - tic
            if X_imputed.shape != X.shape:
                raise RuntimeError(f"{method} returned shape {X_imputed.shape} on {name}, expected {X.shape}")
            row = {
                "set": name,
                "rate": rate,
                "seed": seed,
                "method": method,
                "rmse": standardised_rmse(X_imputed, X, X_masked, hidden),
                "downstream": np.nan if y is None else downstream(X_imputed, y, task),
                "seconds": seconds,
            }
            rows.append(row)
            print(
                f"{name:>18} {rate:.0%} seed {seed} {method:>30}: RMSE {row['rmse']:.4f}  "
                f"downstream {row['downstream']:.4f}  {seconds:.2f} s",
                flush=True,
            )


def markdown(frame, floatfmt):
    """``frame`` as a Markdown table (pandas' own ``to_markdown`` needs ``tabulate``)."""
    index_names = [str(name) for name in frame.index.names]
    header = [*index_names, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, values in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        cells = [f"{k:.0%}" if isinstance(k, float) else str(k) for k in key]
        cells += ["" if pd.isna(v) else format(v, floatfmt) for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarise(results):
    cells = results.groupby(["set", "rate", "method"], sort=False)[["rmse", "downstream", "seconds"]].mean()
    table = cells["rmse"].unstack("method")
    print("\nRMSE on the hidden entries (standardised), mean over seeds; lower is better\n")
    print(markdown(table, ".4f"))
    seconds = cells["seconds"].unstack("method")
    print("\nFit + transform seconds, mean over seeds\n")
    print(markdown(seconds, ".2f"))
    score = cells["downstream"].unstack("method").dropna()
    if len(score):
        print("\nDownstream (balanced accuracy, R^2 for diabetes), mean over seeds; higher is better\n")
        print(markdown(score, ".4f"))
    summary = pd.DataFrame(
        {
            "mean rank RMSE": table.rank(axis=1).mean(),
            "mean RMSE": table.mean(),
            "mean rank downstream": score.rank(axis=1, ascending=False).mean() if len(score) else np.nan,
            "mean rank time": seconds.rank(axis=1).mean(),
            "total seconds": seconds.sum(),
        }
    ).sort_values("mean rank RMSE")
    print(f"\nSummary over {len(table)} (set, rate) cells\n")
    print(markdown(summary, ".3f"))
    largest = results.loc[results["set"] == results.attrs["largest"]]
    if len(largest):
        by_method = largest.groupby("method")["seconds"].mean()
        print(f"\nLargest set ({results.attrs['largest']}): seconds per fit + transform")
        print(by_method.to_string(float_format="%.2f"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anomaly-dir", default="../shared/data/anomaly")
    parser.add_argument("--tabular-dir", default="../shared/data/tabular")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--max-features", type=int, default=200)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--sets", nargs="+", help="only these sets (by name)")
    parser.add_argument("--threads", type=int, default=1, help="threads of every method, torch and BLAS (default: 1)")
    parser.add_argument("--output", help="also write every measurement to this CSV")
    parser.add_argument("--quick", action="store_true", help="four small sets, one seed, 30%% holes: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.seeds, args.max_rows = [0.3], [0], 1000
        args.sets = args.sets or ["wine", "diabetes", "breastw", "airquality"]

    # One thread count for all: on a busy machine more threads than free
    # cores make torch's and BLAS's workers wait on each other.
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    sets = list(bundled_sets())
    for directory, reader in ((args.anomaly_dir, anomaly_sets), (args.tabular_dir, tabular_sets)):
        if directory and Path(directory).is_dir():
            sets += list(reader(directory))
        else:
            print(f"No directory {directory!r}: its sets are left out.")
    rows, largest = [], (None, 0)
    for name, X, y, task in sets:
        if args.sets and name not in args.sets:
            continue
        X, y = prepare(X, y, args.max_rows)
        if X.shape[1] > args.max_features:
            print(f"{name}: {X.shape[1]} features > --max-features {args.max_features}, left out.")
            continue
        if X.size > largest[1]:
            largest = (name, X.size)
        print(f"\n{name}: {X.shape[0]} rows x {X.shape[1]} features", flush=True)
        for rate in args.rates:
            run_cell(name, X, y, task, rate, args.seeds, args.methods, rows)
    results = pd.DataFrame(rows)
    results.attrs["largest"] = largest[0]
    if args.output:
        results.to_csv(args.output, index=False)
    summarise(results)


if __name__ == "__main__":
    main()
