"""Anomaly detection by reconstruction error."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import SEED_BOUND, BaseAutoencoder
from .autoencoder import AutoencoderTransformer

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}

# The default member, chosen on ADBench (see the class Notes): a one-unit code
# and one tanh hidden layer twice as wide as the input.
DEFAULT_N_COMPONENTS = 1
DEFAULT_HIDDEN_RATIO = 2.0
DEFAULT_ACTIVATION = "tanh"
DEFAULT_MAX_ITER = 100
# Early stopping needs a validation set worth the name.
MIN_SAMPLES_FOR_EARLY_STOPPING = 50


class AutoencoderAnomalyDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection by autoencoder reconstruction error.

    An autoencoder is fitted to the (unlabeled) training data; a sample it
    reconstructs badly is unlike the bulk of that data. The detector scales
    the data, fits ``n_estimators`` autoencoders with different seeds,
    optionally refits them without the training samples they reconstruct
    worst (those are likely anomalies that the first fit partly learned), and
    scores a sample by minus its mean squared reconstruction error averaged
    over the ensemble. :meth:`reconstruction_error_per_feature` shows which
    features made a sample anomalous.

    Parameters
    ----------
    estimator : skae autoencoder or None, default=None
        The autoencoder to fit, any subclass of ``BaseAutoencoder``
        (:class:`AutoencoderTransformer`, ``DenoisingAutoencoder``,
        ``SparseAutoencoder``...). It is cloned, never fitted in place, and
        its parameters are searchable as ``estimator__<name>``. ``None``
        builds a default sized to the data (see Notes).
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]. Sets
        ``offset_`` so that :meth:`predict` flags that share of the training
        set; it does not change the scores.
    scaler : {"standard", "minmax", "robust"}, transformer or None, \
            default="standard"
        Scaling fitted on the training data and applied before the
        autoencoder, so that every feature weighs alike in the
        reconstruction error. A transformer object is cloned; ``None``
        leaves the data as given.
    n_estimators : int, default=1
        Number of autoencoders, each with its own seed, whose per-feature
        errors are averaged. More members give steadier scores at a
        proportional cost.
    trim_fraction : float, default=0.0
        Share of the training samples with the highest reconstruction error
        that are left out of a second fit, in [0, 0.5). ``0`` fits once.
    random_state : int, RandomState instance or None, default=None
        Seeds every member (overriding the estimator's own
        ``random_state``). An int gives identical results on the same
        machine.

    Attributes
    ----------
    estimators_ : list of skae autoencoders
        The fitted members.
    scaler_ : transformer or None
        The fitted scaler.
    offset_ : float
        The ``100 * contamination`` percentile of the training samples'
        :meth:`score_samples`; ``decision_function = score_samples -
        offset_``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Isolation-based outlier detection.
    sklearn.covariance.EllipticEnvelope : Gaussian outlier detection.
    AutoencoderTransformer : The default member.

    Notes
    -----
    The defaults were chosen on seven ADBench tabular data sets (breastw,
    cardio, letter, mnist, pendigits, satellite, thyroid) under the ADBench
    protocol; ``benchmarks/anomaly.py`` reproduces the comparison.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderAnomalyDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> X[:5] += 6
    >>> detector = AutoencoderAnomalyDetector(contamination=0.05, random_state=0).fit(X)
    >>> detector.predict(X[:5])
    array([-1, -1, -1, -1, -1])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "reconstruction_error_per_feature"]), None],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "scaler": [StrOptions(set(SCALERS)), HasMethods(["fit", "transform"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "trim_fraction": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination=0.1,
        scaler="minmax",
        n_estimators=1,
        trim_fraction="auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.scaler = scaler
        self.n_estimators = n_estimators
        self.trim_fraction = trim_fraction
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the autoencoders to ``X`` and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, which may hold unlabeled outliers.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=1)
        if self.estimator is not None and not isinstance(self.estimator, BaseAutoencoder):
            raise ValueError(
                "estimator must be a skae autoencoder (a subclass of BaseAutoencoder such as "
                f"AutoencoderTransformer), got {type(self.estimator).__name__}."
            )
        scaler = self._make_scaler()
        X_scaled = X if scaler is None else scaler.fit_transform(X)
        rng = check_random_state(self.random_state)
        estimators = [self._make_member(X.shape, int(seed)) for seed in rng.randint(SEED_BOUND, size=self.n_estimators)]
        self._fit_members(estimators, X_scaled)
        error_scales = [self._error_scale(member, X_scaled) for member in estimators]
        trim_fraction = self.contamination if self.trim_fraction == "auto" else self.trim_fraction
        if trim_fraction > 0:
            # The samples reconstructed worst are likely the training set's own
            # anomalies, which the first fit partly learned: refit without them.
            errors = self._mean_error(estimators, error_scales, X_scaled).mean(axis=1)
            n_kept = max(1, math.ceil((1 - trim_fraction) * X.shape[0]))
            kept = np.sort(np.argsort(errors, kind="stable")[:n_kept])
            self._fit_members(estimators, X_scaled[kept])
            error_scales = [self._error_scale(member, X_scaled) for member in estimators]
        self.scaler_ = scaler
        self.estimators_ = estimators
        self.error_scales_ = error_scales
        train_scores = -self._mean_error(estimators, error_scales, X_scaled).mean(axis=1)
        self.offset_ = float(np.percentile(train_scores, 100.0 * self.contamination))
        return self

    def _fit_members(self, estimators, X_scaled):
        with warnings.catch_warnings():
            if self.estimator is None:
                # The default member's epoch budget was chosen by measurement,
                # and early stopping keeps its best epoch: using the whole
                # budget is expected, not a problem to warn about.
                warnings.simplefilter("ignore", ConvergenceWarning)
            for member in estimators:
                member.fit(X_scaled)

    def _make_scaler(self):
        if self.scaler is None:
            return None
        if isinstance(self.scaler, str):
            return SCALERS[self.scaler]()
        return clone(self.scaler)

    def _make_member(self, shape, seed):
        n_samples, n_features = shape
        if self.estimator is not None:
            member = clone(self.estimator)
        else:
            member = AutoencoderTransformer(
                n_components=DEFAULT_N_COMPONENTS,
                hidden_layer_sizes=(max(1, round(DEFAULT_HIDDEN_RATIO * n_features)),),
                activation=DEFAULT_ACTIVATION,
                max_iter=DEFAULT_MAX_ITER,
                early_stopping=n_samples >= MIN_SAMPLES_FOR_EARLY_STOPPING,
            )
        return member.set_params(random_state=seed)

    @staticmethod
    def _error_scale(member, X_scaled):
        """Each feature's median training error, floored so that no feature's errors are blown up."""
        median = np.median(member.reconstruction_error_per_feature(X_scaled), axis=0)
        floor = 1e-3 * median.mean()
        return np.maximum(median, floor) if floor > 0 else np.ones_like(median)

    @staticmethod
    def _mean_error(estimators, error_scales, X_scaled):
        total = 0.0
        for member, scale in zip(estimators, error_scales):
            total = total + member.reconstruction_error_per_feature(X_scaled) / scale
        return total / len(estimators)

    def _scaled(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X if self.scaler_ is None else self.scaler_.transform(X)

    def reconstruction_error_per_feature(self, X):
        """Squared reconstruction error of every sample and feature.

        Measured on the scaled data, where features compare, and averaged
        over the ensemble. The features with the largest errors are those
        that made a sample anomalous; :meth:`score_samples` is minus the row
        means.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to explain.

        Returns
        -------
        errors : pandas.DataFrame or ndarray of shape (n_samples, n_features)
            float64 errors; a DataFrame with the input's columns and index
            when ``X`` is a DataFrame, else an ndarray.
        """
        X_scaled = self._scaled(X)
        errors = self._mean_error(self.estimators_, self.error_scales_, X_scaled).astype(np.float64, copy=False)
        if hasattr(X, "columns") and hasattr(X, "index"):
            import pandas as pd

            return pd.DataFrame(errors, columns=X.columns, index=X.index)
        return errors

    def score_samples(self, X):
        """Minus the mean squared reconstruction error of each sample.

        Higher means more normal, the opposite of an anomaly score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Minus the mean over features of the scaled squared error.
        """
        X_scaled = self._scaled(X)
        errors = self._mean_error(self.estimators_, self.error_scales_, X_scaled)
        return -errors.mean(axis=1).astype(np.float64, copy=False)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Shifted scores; below zero means outlier.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 for inliers, -1 for outliers.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
