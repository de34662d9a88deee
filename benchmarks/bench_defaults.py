"""What skae's defaults give: test reconstruction error as a ratio to PCA's.

For every data set and a few latent sizes ``k`` this fits each model on a
training split and measures its mean squared reconstruction error on the test
split (the mean over every entry of the test matrix), reported as a ratio to
the error of ``PCA(k)`` on the same split: below 1.00 is better than PCA. The
fit time of each model is reported too.

Every model runs at its defaults: only ``n_components`` (or the bottleneck
width) and ``random_state`` are set, so the table shows what a user who tunes
nothing gets.

- ``pca``: ``PCA(k)``, the reference (ratio 1.000 by definition); its own
  test error is printed in the ``pca_mse`` column.
- ``default``: ``AutoencoderTransformer(k)``.
- ``linear``: ``AutoencoderTransformer(k, hidden_layer_sizes=(),
  activation="identity")``, the default linear autoencoder, which should
  match PCA.
- ``mlp``: scikit-learn's ``MLPRegressor`` trained X -> X with
  ``hidden_layer_sizes=(100, k, 100)`` and ``activation="relu"``, at its own
  defaults otherwise (Adam, ``max_iter=200``, ``alpha=1e-4``). It has no
  encoder/decoder split, so the bottleneck is its middle hidden layer; the
  widths 100 mirror skae's default hidden layer on each side. Unlike skae, it
  applies the activation to that code layer too (ReLU codes are non-negative).
  The reconstruction is ``predict(X_test)``.
- ``denoising``, ``sparse``, ``contractive``, ``variational``: the variants
  ``DenoisingAutoencoder(k)``, ``SparseAutoencoder(k)``,
  ``ContractiveAutoencoder(k)`` and ``VariationalAutoencoder(k)``.

The reconstruction of every autoencoder (and of PCA) is
``inverse_transform(transform(X_test))``; for the variational autoencoder
``transform`` returns the posterior mean.

Each data set has one scaling, fitted on the training split only: digits are
divided by 16 (their range is 0..16, so this is min-max scaling), and
standardised as a second set ``digits_standard``, the ADBench
sets are min-max scaled (``MinMaxScaler``), the other scikit-learn sets (wine,
breast cancer, diabetes, iris, swiss roll, s-curve) are standardised. The
split is ``train_test_split(test_size=0.3, random_state=0)``. The latent sizes
are 2 and ``max(2, d // 4)`` (plus 10 on digits), and 1 and 2 when there are
at most 4 features.

With several ``--seeds`` the model seeds vary (the split does not); each
ratio is the mean of the per-seed ratios and each time the mean time.

At the end the script prints, per model, the worst ratio and the geometric
mean ratio over all rows, and whether these goals are met:

- the linear autoencoder's ratio is at most 1.01 on every row;
- the default autoencoder's ratio is at most 1.00 on every row;
- on digits with k=10 the default autoencoder's ratio is at most 0.5;
- each variant's ratio is within 1.5 times the default autoencoder's.

Usage::

    python benchmarks/bench_defaults.py --quick
    python benchmarks/bench_defaults.py --anomaly-dir /path/to/adbench --json defaults.json
    python benchmarks/bench_defaults.py --sets wine,iris --models pca,linear,default --threads 1

``--anomaly-dir`` names a folder of ``*.npz`` files holding arrays ``X`` and
``y`` (ADBench's format); only ``X`` is used, subsampled to ``--max-rows``
rows. Without it only the scikit-learn data sets run. Warnings (convergence
and others) are silenced.
"""

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TEST_SIZE = 0.3
SPLIT_SEED = 0
SUBSAMPLE_SEED = 0
QUICK_SETS = ("digits", "wine", "breast_cancer", "swiss_roll")
VARIANTS = ("denoising", "sparse", "contractive", "variational")
MODEL_NAMES = ("pca", "default", "linear", "mlp", *VARIANTS)


# -- data -------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """A named data set, how to load its features, and how to scale them."""

    name: str
    load: object  # () -> array of shape (n_samples, n_features)
    scaling: str  # a key of SCALINGS
    extra_ks: tuple = field(default=())


def _divide_by_16(X):
    return X / 16.0


def make_scaler(scaling):
    """A fresh, unfitted scaler for a scaling name."""
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

    scalers = {
        "standard": StandardScaler,
        "minmax": MinMaxScaler,
        "div16": lambda: FunctionTransformer(_divide_by_16),
    }
    return scalers[scaling]()


def sklearn_sets():
    from sklearn import datasets

    def bundled(loader):
        return lambda: loader().data

    def generated(generator):
        return lambda: generator(n_samples=2000, noise=0.05, random_state=0)[0]

    return [
        DataSet("digits", bundled(datasets.load_digits), "div16", extra_ks=(10,)),
        # Also standardised, as the defaults smoke run has it.
        DataSet("digits_standard", bundled(datasets.load_digits), "standard", extra_ks=(10,)),
        DataSet("wine", bundled(datasets.load_wine), "standard"),
        DataSet("breast_cancer", bundled(datasets.load_breast_cancer), "standard"),
        DataSet("diabetes", bundled(datasets.load_diabetes), "standard"),
        DataSet("iris", bundled(datasets.load_iris), "standard"),
        DataSet("swiss_roll", generated(datasets.make_swiss_roll), "standard"),
        DataSet("s_curve", generated(datasets.make_s_curve), "standard"),
    ]


def _file_order(path):
    """ADBench files start with a number: sort by it, then by name."""
    prefix = path.stem.split("_", 1)[0]
    return (int(prefix) if prefix.isdigit() else math.inf, path.stem)


def anomaly_sets(directory, max_rows):
    """One min-max scaled data set per ``*.npz`` in ``directory``, at most ``max_rows`` rows each."""

    def loader(path):
        def load():
            with np.load(path) as arrays:
                X = np.asarray(arrays["X"], dtype=np.float64)
            if X.shape[0] > max_rows:
                rows = np.random.default_rng(SUBSAMPLE_SEED).choice(X.shape[0], max_rows, replace=False)
                X = X[np.sort(rows)]
            return X

        return load

    paths = sorted(Path(directory).glob("*.npz"), key=_file_order)
    return [DataSet(path.stem, loader(path), "minmax") for path in paths]


def select_sets(available, wanted):
    """The sets named in ``wanted`` (ADBench sets also without their number prefix)."""
    if wanted is None:
        return available
    by_name = {}
    for dataset in available:
        prefix, _, rest = dataset.name.partition("_")
        by_name[dataset.name] = dataset
        if prefix.isdigit() and rest:  # "4_breastw" is also "breastw"
            by_name.setdefault(rest, dataset)
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise SystemExit(f"unknown data sets {unknown}; available: {sorted(d.name for d in available)}")
    return [by_name[name] for name in wanted]


def split_and_scale(dataset):
    """Train and test splits of ``dataset``, scaled by a scaler fitted on the training split."""
    from sklearn.model_selection import train_test_split

    X = np.asarray(dataset.load(), dtype=np.float64)
    X_train, X_test = train_test_split(X, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    scaler = make_scaler(dataset.scaling).fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def latent_sizes(n_features, extra=()):
    """The ``k`` to try: 1 and 2 for at most 4 features, else 2, ``d // 4`` and the extras."""
    if n_features <= 4:
        sizes = {1, 2}
    else:
        sizes = {2, max(2, n_features // 4), *extra}
    return sorted(k for k in sizes if k < n_features)


# -- models -----------------------------------------------------------------


def make_model(name, k, seed):
    """The model ``name`` at its defaults, with ``k`` components and seed ``seed``."""
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPRegressor

    import skae

    factories = {
        "pca": lambda: PCA(k, random_state=seed),
        "default": lambda: skae.AutoencoderTransformer(k, random_state=seed),
        "linear": lambda: skae.AutoencoderTransformer(
            k, hidden_layer_sizes=(), activation="identity", random_state=seed
        ),
        "mlp": lambda: MLPRegressor(hidden_layer_sizes=(100, k, 100), activation="relu", random_state=seed),
        "denoising": lambda: skae.DenoisingAutoencoder(k, random_state=seed),
        "sparse": lambda: skae.SparseAutoencoder(k, random_state=seed),
        "contractive": lambda: skae.ContractiveAutoencoder(k, random_state=seed),
        "variational": lambda: skae.VariationalAutoencoder(k, random_state=seed),
    }
    return factories[name]()


def fit_and_reconstruct(model, X_train, X_test):
    """Fit ``model`` on ``X_train``; return the fit time and its reconstruction of ``X_test``."""
    from sklearn.neural_network import MLPRegressor

    supervised = isinstance(model, MLPRegressor)
    tic = time.perf_counter()
    if supervised:
        model.fit(X_train, X_train)
    else:
        model.fit(X_train)
    seconds = time.perf_counter() - tic
    if supervised:
        return seconds, model.predict(X_test)
    return seconds, model.inverse_transform(model.transform(X_test))


def mean_squared_error(X, reconstruction):
    """Mean over every entry of the squared reconstruction error."""
    return float(np.mean((np.asarray(reconstruction, dtype=np.float64) - X) ** 2))


def ratio_to_pca(errors, name):
    """Mean over seeds of ``name``'s test error divided by PCA's (NaN where PCA's error is 0)."""
    ours, reference = np.asarray(errors[name]), np.asarray(errors["pca"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(reference > 0, ours / reference, np.nan)
    return float(np.mean(ratios))


# -- measurement ------------------------------------------------------------


def measure_row(dataset, X_train, X_test, k, models, seeds):
    """Fit every model with every seed at latent size ``k``: one row of the table."""
    errors = {name: [] for name in models}
    seconds = {name: [] for name in models}
    for seed in seeds:
        for name in models:
            try:
                elapsed, reconstruction = fit_and_reconstruct(make_model(name, k, seed), X_train, X_test)
                error = mean_squared_error(X_test, reconstruction)
            except Exception as exc:  # a broken default is a result, not a reason to stop
                print(f"# {name} failed on {dataset.name} k={k} seed={seed}: {exc!r}", file=sys.stderr)
                elapsed, error = math.nan, math.nan
            errors[name].append(error)
            seconds[name].append(elapsed)
    return {
        "set": dataset.name,
        "scaling": dataset.scaling,
        "d": X_train.shape[1],
        "n_train": X_train.shape[0],
        "k": k,
        "pca_mse": float(np.mean(errors["pca"])),
        "ratio": {name: ratio_to_pca(errors, name) for name in models},
        "seconds": {name: float(np.mean(seconds[name])) for name in models},
        "errors": errors,
    }


def row_label(row):
    return f"{row['set']}/{row['scaling']}/k={row['k']}"


# -- report -----------------------------------------------------------------


def format_table(rows, models):
    headers = ["set", "scaling", "d", "n_train", "k", "pca_mse"]
    for name in models:
        headers += [name, "s"]
    lines = []
    for row in rows:
        cells = [row["set"], row["scaling"], str(row["d"]), str(row["n_train"]), str(row["k"]), f"{row['pca_mse']:.4g}"]
        for name in models:
            cells += [f"{row['ratio'][name]:.3f}", f"{row['seconds'][name]:.2f}"]
        lines.append(cells)
    widths = [max(len(line[i]) for line in [headers, *lines]) for i in range(len(headers))]

    def join(cells):
        # Text columns (set, scaling) left-aligned, numbers right-aligned.
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([join(headers), *(join(line) for line in lines)])


def _worst(pairs):
    """The (value, row) with the largest value; NaN (a failed fit) counts as the worst."""
    return max(pairs, key=lambda pair: math.inf if math.isnan(pair[0]) else pair[0])


def summarise(rows, models):
    """Per model (PCA aside): worst ratio, the row it was on, and the geometric mean ratio."""
    summary = {}
    for name in models:
        if name == "pca":
            continue
        pairs = [(row["ratio"][name], row) for row in rows]
        worst, worst_row = _worst(pairs)
        finite = [value for value, _ in pairs if value > 0 and math.isfinite(value)]
        geometric_mean = math.exp(sum(map(math.log, finite)) / len(finite)) if finite else math.nan
        summary[name] = {"worst": worst, "worst_on": row_label(worst_row), "geometric_mean": geometric_mean}
    return summary


def goal_specs():
    """(description, needed models, value of a row or None where the goal does not apply, bound)."""

    def ratio_of(name):
        return lambda row: row["ratio"][name]

    specs = [
        ("linear ratio <= 1.01 on every row", ("linear",), ratio_of("linear"), 1.01),
        ("default ratio <= 1.00 on every row", ("default",), ratio_of("default"), 1.00),
        (
            "default ratio <= 0.5 on digits k=10",
            ("default",),
            lambda row: row["ratio"]["default"] if row["set"].startswith("digits") and row["k"] == 10 else None,
            0.5,
        ),
    ]
    for variant in VARIANTS:
        specs.append(
            (
                f"{variant} ratio / default ratio <= 1.5 on every row",
                (variant, "default"),
                lambda row, variant=variant: row["ratio"][variant] / row["ratio"]["default"],
                1.5,
            )
        )
    return specs


def check_goals(rows, models):
    """One result per goal: met, missed or not measured, with the worst row and the violations."""
    results = []
    for description, needed, value_of, bound in goal_specs():
        pairs = []
        if all(name in models for name in needed):
            pairs = [(value, row) for row in rows if (value := value_of(row)) is not None]
        if not pairs:
            results.append({"goal": description, "status": "not measured"})
            continue
        worst, worst_row = _worst(pairs)
        violations = [
            {"row": row_label(row), "value": value} for value, row in pairs if math.isnan(value) or value > bound
        ]
        results.append(
            {
                "goal": description,
                "status": "missed" if violations else "met",
                "worst": worst,
                "worst_on": row_label(worst_row),
                "violations": violations,
            }
        )
    return results


def print_report(rows, models, summary, goals):
    print(format_table(rows, models))
    print("\nper model over all rows: worst ratio (row), geometric mean ratio")
    for name, figures in summary.items():
        print(
            f"  {name:>12}: worst {figures['worst']:.3f} ({figures['worst_on']}), "
            f"geomean {figures['geometric_mean']:.3f}"
        )
    print("\ngoals:")
    for goal in goals:
        if goal["status"] == "not measured":
            print(f"  goal {goal['goal']}: not measured")
            continue
        print(f"  goal {goal['goal']}: {goal['status']} (worst {goal['worst']:.3f} on {goal['worst_on']})")
        for violation in goal["violations"]:
            print(f"      violated on {violation['row']}: {violation['value']:.3f}")


# -- main -------------------------------------------------------------------


def comma_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anomaly-dir", help="folder of ADBench-style *.npz files (arrays X and y)")
    parser.add_argument("--max-rows", type=int, default=5000, help="subsample larger anomaly sets to this many rows")
    parser.add_argument("--sets", type=comma_list, help="comma list of data sets (default: all)")
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in comma_list(text)], default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and BLAS threads)")
    parser.add_argument(
        "--models", type=comma_list, default=list(MODEL_NAMES), help=f"comma list of {', '.join(MODEL_NAMES)}"
    )
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_SETS)}; no anomaly sets")
    parser.add_argument("--json", help="also write the rows, summary and goals to this JSON file")
    args = parser.parse_args()
    unknown = [name for name in args.models if name not in MODEL_NAMES]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODEL_NAMES)}")
    # PCA is the reference of every ratio, so it always runs, and first.
    args.models = ["pca", *(name for name in MODEL_NAMES if name in args.models and name != "pca")]
    return args


def main():
    args = parse_args()
    warnings.simplefilter("ignore")

    import torch
    from threadpoolctl import threadpool_limits

    import skae

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)

    available = sklearn_sets()
    if args.anomaly_dir and not args.quick:
        available += anomaly_sets(args.anomaly_dir, args.max_rows)
    wanted = args.sets if args.sets is not None else (list(QUICK_SETS) if args.quick else None)
    datasets = select_sets(available, wanted)

    print(
        f"# skae {skae.__version__} from {Path(skae.__file__).parent}, torch {torch.__version__}, "
        f"threads {args.threads}, seeds {args.seeds}"
    )
    print(f"# test MSE as a ratio to PCA's (lower is better), fit times in seconds; test_size={TEST_SIZE}")
    rows = []
    for dataset in datasets:
        X_train, X_test = split_and_scale(dataset)
        for k in latent_sizes(X_train.shape[1], dataset.extra_ks):
            tic = time.perf_counter()
            rows.append(measure_row(dataset, X_train, X_test, k, args.models, args.seeds))
            print(f"# {row_label(rows[-1])}: {time.perf_counter() - tic:.1f} s", file=sys.stderr, flush=True)

    summary = summarise(rows, args.models)
    goals = check_goals(rows, args.models)
    print_report(rows, args.models, summary, goals)
    if args.json:
        settings = {key: value for key, value in vars(args).items() if key != "json"}
        with open(args.json, "w") as file:
            json.dump({"settings": settings, "rows": rows, "summary": summary, "goals": goals}, file, indent=1)
        print(f"\n# written to {args.json}")


if __name__ == "__main__":
    main()
