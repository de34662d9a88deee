"""Mixed-type tables: skae's per-column likelihoods against the one-hot pipeline.

Usage::

    python benchmarks/bench_mixed.py ../shared/data/tabular
    python benchmarks/bench_mixed.py ../shared/data/tabular --tables mpg Star --seeds 1   # a quick run

Data: every table of the directory given (CSV files, see its MANIFEST) that
has a non-numeric column. Integer columns holding only 0 and 1 become
booleans (binary columns, as the MANIFEST says they are), other integer
columns floats (so that no method's reconstruction is rounded). Tables over
``--max-rows`` rows are subsampled once (seed 0). Each seed splits the rows
70/30 into training and test sets; a test level unseen in training is set
missing for every method (none can reconstruct it).

Reconstruction, for each code size ``k`` of ``--components`` below the
one-hot width:

- ``PCA``: ``ColumnTransformer`` of ``OneHotEncoder`` on the categorical
  columns (most-frequent imputed) and ``StandardScaler`` on the numeric ones
  (mean imputed), then ``PCA(k)``; a reconstruction's categorical value is
  the level of its largest one-hot entry;
- ``skae-onehot``: the same one-hot matrix, ``AutoencoderTransformer(k)``
  with its default squared error instead of ``PCA``;
- ``skae``: ``AutoencoderTransformer(k)`` at its defaults on the DataFrame
  itself: per-column likelihoods (:class:`skae.losses.MixedLoss`).

Reported on the test set: categorical accuracy (the share of observed
categorical entries reconstructed to their level, averaged over columns)
beside that of predicting each column's training mode, and the numeric
error: the mean squared error of observed numeric entries divided by the
column's training variance, averaged over columns (1 is predicting the
mean).

Detection: in 5 % of the test rows one categorical column is swapped to
another training level and one numeric column shifted by 2 training
standard deviations (either way). ROC-AUC of ``AutoencoderAnomalyDetector``
at its defaults on the DataFrame (``skae``) and on the one-hot matrix
(``skae-onehot``), against ``IsolationForest`` on the one-hot matrix.

Quality benchmark: seconds are not reported (they would be indicative only
on a shared machine).
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer

ANOMALY_SHARE = 0.05
SHIFT_IN_STANDARD_DEVIATIONS = 2.0


def load_table(path, max_rows):
    """The table with 0/1 integer columns as booleans and other integers as floats; None if all numeric."""
    frame = pd.read_csv(path)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_integer_dtype(values.dtype):
            frame[column] = values.astype(bool) if set(values.unique()) <= {0, 1} else values.astype(np.float64)
    categorical = [column for column in frame.columns if not pd.api.types.is_float_dtype(frame[column].dtype)]
    if not any(pd.api.types.is_string_dtype(frame[c].dtype) or frame[c].dtype == object for c in categorical):
        return None
    if len(frame) > max_rows:
        frame = frame.sample(max_rows, random_state=0).reset_index(drop=True)
    # Columns without two observed values carry nothing to reconstruct.
    frame = frame[[column for column in frame.columns if frame[column].nunique() > 1]]
    return frame


def split_columns(frame):
    categorical = [c for c in frame.columns if not pd.api.types.is_float_dtype(frame[c].dtype)]
    numeric = [c for c in frame.columns if c not in categorical]
    return categorical, numeric


def unseen_as_missing(train, test, categorical):
    test = test.copy()
    for column in categorical:
        unseen = test[column].notna() & ~test[column].isin(set(train[column].dropna()))
        if unseen.any():
            test[column] = test[column].astype(object).where(~unseen, None)
    return test


class OneHotPipeline:
    """The usual preprocessing, with the way back: one-hot blocks to levels, scaled numbers to the data's units."""

    def __init__(self, categorical, numeric):
        self.categorical, self.numeric = categorical, numeric

    def fit(self, frame):
        transformers = []
        if self.numeric:
            transformers.append(
                ("numeric", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), self.numeric)
            )
        transformers.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                self.categorical,
            )
        )
        self.transformer = ColumnTransformer(transformers).fit(self._as_objects(frame))
        return self

    def _as_objects(self, frame):
        # Booleans and strings alike as objects, so that the imputer and the encoder see one kind of value.
        frame = frame.copy()
        for column in self.categorical:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), np.nan)
        return frame

    def transform(self, frame):
        return self.transformer.transform(self._as_objects(frame))

    def decode(self, matrix):
        columns = {}
        n_numeric = len(self.numeric)
        if n_numeric:
            scaler = self.transformer.named_transformers_["numeric"][-1]
            values = scaler.inverse_transform(matrix[:, :n_numeric])
            for index, column in enumerate(self.numeric):
                columns[column] = values[:, index]
        encoder = self.transformer.named_transformers_["categorical"][-1]
        start = n_numeric
        for column, levels in zip(self.categorical, encoder.categories_):
            block = matrix[:, start : start + len(levels)]
            columns[column] = levels[np.argmax(block, axis=1)]
            start += len(levels)
        return pd.DataFrame(columns)


def reconstruction_scores(train, test, reconstruction, categorical, numeric):
    accuracies = []
    for column in categorical:
        observed = test[column].notna().to_numpy()
        if not observed.any():  # every test level unseen in training (an identifier)
            continue
        predicted = np.asarray(reconstruction[column].to_numpy(dtype=object))[observed]
        truth = test[column].to_numpy(dtype=object)[observed]
        accuracies.append(np.mean([p == t for p, t in zip(predicted, truth)]))
    errors = []
    for column in numeric:
        observed = test[column].notna().to_numpy()
        residual = reconstruction[column].to_numpy(dtype=np.float64)[observed] - test[column].to_numpy()[observed]
        errors.append(np.mean(residual**2) / np.nanvar(train[column].to_numpy()))
    return float(np.mean(accuracies)), float(np.mean(errors)) if errors else float("nan")


def mode_accuracy(train, test, categorical):
    accuracies = []
    for column in categorical:
        observed = test[column].dropna().to_numpy(dtype=object)
        if not observed.size:
            continue
        mode = train[column].mode().iloc[0]
        accuracies.append(np.mean([value == mode for value in observed]))
    return float(np.mean(accuracies))


def plant_anomalies(train, test, categorical, numeric, rng):
    """``test`` with one category swapped and one number shifted in 5 % of its rows; and the labels."""
    test = test.copy()
    for column in categorical:
        test[column] = test[column].astype(object)
    n_anomalies = max(1, round(ANOMALY_SHARE * len(test)))
    rows = rng.choice(len(test), n_anomalies, replace=False)
    for row in rows:
        column = categorical[rng.randint(len(categorical))]
        levels = [level for level in train[column].dropna().unique() if level != test[column].iloc[row]]
        test.iloc[row, test.columns.get_loc(column)] = levels[rng.randint(len(levels))]
        if numeric:
            column = numeric[rng.randint(len(numeric))]
            shift = SHIFT_IN_STANDARD_DEVIATIONS * np.nanstd(train[column].to_numpy()) * rng.choice([-1, 1])
            test.iloc[row, test.columns.get_loc(column)] += shift
    for column in categorical:  # back to the training dtypes, as a user's data would come
        if pd.api.types.is_bool_dtype(train[column].dtype) and test[column].notna().all():
            test[column] = test[column].astype(bool)
    labels = np.zeros(len(test), dtype=bool)
    labels[rows] = True
    return test, labels


def run_table(name, frame, seed, components):
    categorical, numeric = split_columns(frame)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(frame))
    n_train = int(0.7 * len(frame))
    train = frame.iloc[order[:n_train]].reset_index(drop=True)
    test = unseen_as_missing(train, frame.iloc[order[n_train:]].reset_index(drop=True), categorical)
    one_hot = OneHotPipeline(categorical, numeric).fit(train)
    Z_train, Z_test = one_hot.transform(train), one_hot.transform(test)
    rows = []
    mode = mode_accuracy(train, test, categorical)
    for k in components:
        if k >= Z_train.shape[1]:
            continue
        row = {"table": name, "k": k, "mode acc": mode}
        pca = PCA(k, random_state=seed).fit(Z_train)
        reconstructions = {"PCA": one_hot.decode(pca.inverse_transform(pca.transform(Z_test)))}
        ae = AutoencoderTransformer(n_components=k, random_state=seed).fit(Z_train)
        reconstructions["skae-onehot"] = one_hot.decode(ae.inverse_transform(ae.transform(Z_test)))
        mixed = AutoencoderTransformer(n_components=k, random_state=seed).fit(train)
        reconstructions["skae"] = mixed.inverse_transform(mixed.transform(test))
        for method, reconstruction in reconstructions.items():
            accuracy, error = reconstruction_scores(train, test, reconstruction, categorical, numeric)
            row[f"{method} acc"], row[f"{method} err"] = accuracy, error
        rows.append(row)
    planted, labels = plant_anomalies(train, test, categorical, numeric, rng)
    Z_planted = one_hot.transform(planted)
    detection = {"table": name}
    forest = IsolationForest(random_state=seed).fit(Z_train)
    detection["IsolationForest"] = roc_auc_score(labels, -forest.score_samples(Z_planted))
    detector = AutoencoderAnomalyDetector(random_state=seed).fit(Z_train)
    detection["skae-onehot"] = roc_auc_score(labels, -detector.score_samples(Z_planted))
    detector = AutoencoderAnomalyDetector(random_state=seed).fit(train)
    detection["skae"] = roc_auc_score(labels, -detector.score_samples(planted))
    return rows, detection


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="the directory of the tables (../shared/data/tabular)")
    parser.add_argument("--tables", nargs="*", help="file stems to run (default: every mixed table)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--components", type=int, nargs="*", default=[2, 4, 8])
    parser.add_argument("--max-rows", type=int, default=5000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    paths = sorted(args.directory.glob("*.csv"))
    if args.tables:
        paths = [path for path in paths if path.stem in args.tables]
    reconstruction_rows, detection_rows = [], []
    for path in paths:
        frame = load_table(path, args.max_rows)
        if frame is None:
            continue
        for seed in range(args.seeds):
            tic = time.perf_counter()
            rows, detection = run_table(path.stem, frame, seed, args.components)
            reconstruction_rows += rows
            detection_rows.append(detection)
            print(f"# {path.stem} seed {seed}: {time.perf_counter() - tic:.0f} s", flush=True)
    reconstruction = pd.DataFrame(reconstruction_rows).groupby(["table", "k"], sort=False).mean()
    detection = pd.DataFrame(detection_rows).groupby("table", sort=False).mean()
    pd.set_option("display.width", 200)
    print(f"\nReconstruction on the test sets, mean over {args.seeds} seed(s): categorical accuracy (acc, higher")
    print("is better) and numeric squared error / training variance (err, lower is better)")
    columns = ["mode acc", "PCA acc", "skae-onehot acc", "skae acc", "PCA err", "skae-onehot err", "skae err"]
    print(reconstruction[columns].round(3).to_string())
    wins = reconstruction["skae acc"] > reconstruction["PCA acc"]
    not_worse = reconstruction["skae err"] <= reconstruction["PCA err"]
    print(f"skae acc > PCA acc: {wins.sum()}/{len(wins)}; skae err <= PCA err: {not_worse.sum()}/{len(not_worse)}")
    print(f"\nDetection ROC-AUC (5 % planted: a swapped category and a {SHIFT_IN_STANDARD_DEVIATIONS:g}-sd shift)")
    detection.loc["mean"] = detection.mean()
    print(detection.round(3).to_string())


if __name__ == "__main__":
    main()
