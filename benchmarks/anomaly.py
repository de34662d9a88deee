"""Anomaly detection on ADBench tabular data: skae against the usual baselines.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/anomaly.py DATA_DIR [--seeds 1 2 3] [--methods ...]

``DATA_DIR`` holds ADBench ``.npz`` files (``X``, ``y`` with 1 = anomaly).
The protocol is ADBench's (Han et al., 2022): a data set under 1000 rows is
resampled with replacement to 1000 and one over 10000 subsampled to 10000; a
stratified 70/30 train/test split; ``MinMaxScaler`` fitted on the train part
(which keeps its unlabeled anomalies); each detector is fitted on train and
scores test; ROC-AUC and average precision, averaged over the seeds. All
methods run in this one process, so their figures and seconds compare.

The baselines, each at its library's defaults: scikit-learn's
``IsolationForest``; PCA reconstruction error; Mahalanobis distance of the
standardised data; and, when PyOD is installed, its ``KNN``, ``ECOD`` and
``AutoEncoder``. The table gives each method's ROC-AUC, average precision,
fit + score seconds, the standard deviation of ROC-AUC over the seeds, and
each method's mean rank over the data sets (1 = best).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.covariance import EmpiricalCovariance
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skae import AutoencoderAnomalyDetector


def adbench_split(X, y, seed):
    """Train and test parts of ``(X, y)`` under the ADBench protocol."""
    rng = np.random.RandomState(seed)
    if X.shape[0] < 1000:
        rows = rng.choice(X.shape[0], 1000, replace=True)
        X, y = X[rows], y[rows]
    elif X.shape[0] > 10000:
        rows = rng.choice(X.shape[0], 10000, replace=False)
        X, y = X[rows], y[rows]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


class PCAReconstruction:
    """Anomaly score: squared error of the reconstruction from the leading principal components.

    The linear counterpart of the default skae detector: the same data and
    the same code size (one component). Of the PCA variants tried on these
    data sets (1, 2, a quarter of the features, 90% of the variance, with or
    without standardising) one component scored best.
    """

    def __init__(self, n_components=1):
        self.n_components = n_components

    def fit(self, X):
        self.pca_ = PCA(n_components=self.n_components).fit(X)
        return self

    def score_samples(self, X):
        reconstruction = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.square(reconstruction - X).mean(axis=1)


class Mahalanobis:
    """Anomaly score: Mahalanobis distance of the standardised data from its mean.

    The covariance's pseudo-inverse serves constant and collinear features.
    """

    def fit(self, X):
        self.scaler_ = StandardScaler().fit(X)
        self.covariance_ = EmpiricalCovariance().fit(self.scaler_.transform(X))
        return self

    def score_samples(self, X):
        return -self.covariance_.mahalanobis(self.scaler_.transform(X))


class PyODScores:
    """A PyOD detector behind the scikit-learn convention (higher = more normal)."""

    def __init__(self, detector):
        self.detector = detector

    def fit(self, X):
        self.detector.fit(X)
        return self

    def score_samples(self, X):
        return -self.detector.decision_function(X)


def make_methods(seed):
    methods = {
        "skae": lambda: AutoencoderAnomalyDetector(random_state=seed),
        "IsolationForest": lambda: IsolationForest(random_state=seed),
        "PCA": lambda: PCAReconstruction(),
        "Mahalanobis": lambda: Mahalanobis(),
    }
    try:
        from pyod.models.ecod import ECOD
        from pyod.models.knn import KNN
    except ImportError:
        pass
    else:
        methods["KNN"] = lambda: PyODScores(KNN())
        methods["ECOD"] = lambda: PyODScores(ECOD())
    try:  # PyOD's AutoEncoder needs tqdm as well
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        pass
    else:
        methods["PyOD AutoEncoder"] = lambda: PyODScores(AutoEncoder(random_state=seed, verbose=0))
    return methods


def evaluate(make_detector, X_train, X_test, y_test):
    tic = time.perf_counter()
    detector = make_detector().fit(X_train)
    anomaly_score = -detector.score_samples(X_test)
    seconds = time.perf_counter() - tic
    return roc_auc_score(y_test, anomaly_score), average_precision_score(y_test, anomaly_score), seconds


def run(data_dir, seeds, method_names=None):
    """``{method: {dataset: (roc_auc, average_precision, seconds, roc_auc_std)}}``, over seeds."""
    paths = sorted(Path(data_dir).glob("*.npz"), key=lambda path: int(path.stem.split("_")[0]))
    if not paths:
        raise SystemExit(f"No .npz files in {data_dir}.")
    results = {}
    for path in paths:
        name = path.stem.split("_", 1)[1]
        with np.load(path) as data:
            X, y = data["X"], data["y"]
        per_seed = {}
        for seed in seeds:
            X_train, X_test, _, y_test = adbench_split(X, y, seed)
            for method, make_detector in make_methods(seed).items():
                if method_names and method not in method_names:
                    continue
                per_seed.setdefault(method, []).append(evaluate(make_detector, X_train, X_test, y_test))
        for method, values in per_seed.items():
            values = np.asarray(values)
            results.setdefault(method, {})[name] = (*values.mean(axis=0), values[:, 0].std())
        progress = ", ".join(f"{method} {results[method][name][0] * 100:.2f}" for method in per_seed)
        print(f"{name}: {progress}", flush=True)
    return results


def print_table(results):
    methods = list(results)
    datasets = list(next(iter(results.values())))
    width = max(len(m) for m in methods) + 2
    sections = (
        ("ROC-AUC (%)", 0, 100, np.mean, "mean"),
        ("average precision (%)", 1, 100, np.mean, "mean"),
        ("fit + score seconds, mean over seeds", 2, 1, np.sum, "total"),
        ("standard deviation of ROC-AUC over seeds (%)", 3, 100, np.mean, "mean"),
    )
    for title, column, scale, reduce, label in sections:
        print(f"\n{title}")
        print("dataset".ljust(18) + "".join(m.rjust(width) for m in methods))
        for dataset in datasets:
            cells = [f"{results[m][dataset][column] * scale:{width}.2f}" for m in methods]
            print(dataset.ljust(18) + "".join(cells))
        values = [reduce([results[m][d][column] for d in datasets]) * scale for m in methods]
        print(label.ljust(18) + "".join(f"{value:{width}.2f}" for value in values))
        if column < 2:
            # Rank 1 is the best method on a data set; ties share their mean rank.
            scores = np.array([[results[m][d][column] for m in methods] for d in datasets])
            ranks = np.array([rankdata(-row) for row in scores]).mean(axis=0)
            print("mean rank".ljust(18) + "".join(f"{rank:{width}.2f}" for rank in ranks))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="directory of ADBench .npz files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods to run")
    args = parser.parse_args()
    print_table(run(args.data_dir, args.seeds, args.methods))


if __name__ == "__main__":
    main()
