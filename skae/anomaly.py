"""Anomaly detection by reconstruction error."""

import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.linalg import lapack
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_is_fitted,
    validate_data,
)

from . import _columns
from ._base import (
    SEED_BOUND,
    BaseAutoencoder,
    check_observed,
    check_sample_weight,
    drop_zero_weights,
    fit_or_forget,
    forget_fit,
    validate_training_data,
)
from ._callbacks import NO_CALLBACKS, CallbackSupportMixin, begin_fit, fit_metadata, with_callbacks
from ._docs import fill_doc
from .autoencoder import AutoencoderTransformer

# Integer and other input becomes float64: the scaler and the residual
# statistics are computed in it.
TRAINING_DTYPES = (np.float64, np.float32)

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}

# The default member, chosen on ADBench (the user guide's page "How the
# detector's defaults were chosen"): a one-unit code and one tanh hidden layer
# twice as wide as the input, at most 128 units: on 21 sets the cap costs no
# ROC-AUC and cuts InternetAds' (1555 features) fit from minutes to seconds.
DEFAULT_N_COMPONENTS = 1
DEFAULT_HIDDEN_RATIO = 2.0
DEFAULT_MAX_HIDDEN = 128
DEFAULT_ACTIVATION = "tanh"
# A member started at PCA stays close to PCA's residuals, which separate
# anomalies less well (tests/test_chunked.py: ROC AUC 0.72 against 0.93).
DEFAULT_INIT = "random"
# Relative: about what the former absolute 1e-4 was on min-max scaled data's
# losses near 0.01 (seven ADBench sets: ROC-AUC 87.6 -> 88.0, AP 54.2 -> 54.7
# against 1e-4 relative).
DEFAULT_TOL = 1e-2
# Inliers are learnt first (the observation behind ODIM), so the budget is
# counted in optimiser steps: about 150 per member, in 3 to 100 epochs, at a
# step size of 3e-3. Two such members average out much of a member's
# dependence on its seed (21 ADBench sets: standard deviation of ROC-AUC over
# seeds 1.8 against 2.6 for one member of 300 steps, mean AP 38.1 against
# 36.2) in as many steps (and 30 % more time, the second member's
# calibration); at 1e-3, 150 steps blur the explanations
# (tests/test_anomaly.py).
DEFAULT_TRAINING_STEPS = 150
# The first fit only ranks the training rows for the trimmed refit, and a
# shorter one ranks them at least as well, since it has learnt the inliers
# and less of the rest (21 ADBench sets, seeds 1-3: ROC-AUC 76.0 / AP 38.4
# with half the steps, 75.8 / 38.1 with all of them, 75.7 / 38.4 with two
# thirds; the fit + score time from 3.3 to 2.7 times IsolationForest's).
DEFAULT_SCREENING_STEPS = 75
MIN_EPOCHS, MAX_EPOCHS = 3, 100
DEFAULT_LEARNING_RATE = 3e-3
# The residual covariance is shrunk halfway towards its diagonal: the full
# covariance alone is noisy for many features and few samples, the diagonal
# alone ignores how the residuals move together.
RESIDUAL_COVARIANCE_SHRINKAGE = 0.5
# Early stopping needs a validation set worth the name.
MIN_SAMPLES_FOR_EARLY_STOPPING = 50
# Small training sets get smaller batches, so that the epochs are enough steps.
MIN_BATCHES_PER_EPOCH = 10


@fill_doc
class AutoencoderAnomalyDetector(CallbackSupportMixin, OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection by autoencoder reconstruction error.

    An autoencoder is fitted to the unlabeled training data; a sample it
    reconstructs badly is unlike the bulk of that data. The detector scales
    the data, fits ``n_estimators`` autoencoders with different seeds, refits
    them without the training samples they reconstruct worst (likely the
    training set's own anomalies, which the first fit partly learned), and
    scores a sample by its residual (reconstruction minus input), each
    feature divided by its typical training error: by default the squared
    Mahalanobis distance of that residual from the training residuals, which
    also flags residuals that break the features' usual co-variation, or
    the mean of its squares (``distance="mean_squared"``); averaged over
    members. :meth:`reconstruction_error_per_feature` returns the squared
    normalised residuals per feature, which show what made a sample
    anomalous. Missing entries (NaN) are allowed: members train on the
    observed entries, and a sample is scored on its observed entries only
    (see :ref:`missing_values`).

    Parameters
    ----------
    estimator : skae autoencoder or None, default=None
        The autoencoder to fit: any subclass of ``BaseAutoencoder``
        (:class:`AutoencoderTransformer`, :class:`DenoisingAutoencoder`,
        :class:`SparseAutoencoder`...). It is cloned, never fitted in place,
        and its parameters are searchable as ``estimator__<name>``. ``None``
        builds a default sized to the data (see Notes).
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]. Sets
        ``offset_`` so that :meth:`predict` flags that share of the training
        set, and, with ``trim_fraction="auto"``, the share left out of the
        refit.
    scaler : {"minmax", "standard", "robust"}, transformer or None, \
            default="minmax"
        Scaling fitted on the training data and applied before the
        autoencoder, so that features weigh alike. A transformer object is
        cloned; ``None`` leaves the data as given (for example when the
        detector follows a scaler in a ``Pipeline``).
    n_estimators : int, default=2
        Number of autoencoders, each with its own seed, whose normalised
        errors are averaged. Steadier scores at a proportional cost; the
        default members train about half as long as one member would (see
        Notes), so two cost little more than one did.
    trim_fraction : "auto" or float, default="auto"
        Share of the training samples, those with the highest error, left
        out of a second fit; in [0, 0.5). ``"auto"`` uses ``contamination``;
        ``0`` fits once. The share is one of the rows' total weight: where
        it falls inside a row, that row is refitted with the part of its
        weight still wanted. Trimming more than the true share of outliers drops
        inliers the model found hard, which it then fits worse still.
    distance : {"mahalanobis", "mean_squared"}, default="mahalanobis"
        How a sample's normalised residual ``r`` becomes its anomaly score
        (``-score_samples``), divided by the number of features:

        - ``"mahalanobis"``: ``(r - m)' P (r - m)``, with ``m`` and ``P`` the
          mean and the inverse covariance of the training residuals (without
          the worst-reconstructed ``contamination`` share), the covariance
          shrunk halfway towards its diagonal. Residuals of correlated
          features move together on normal data; a sample whose residuals
          do not is flagged even when each is of ordinary size;
        - ``"mean_squared"``: ``sum(r ** 2)``, so that the score is exactly
          the row mean of :meth:`reconstruction_error_per_feature`. Costs
          no ``n_features``-square matrix, for very wide data.
    random_state : int, RandomState instance or None, default=None
        Seeds every member (overriding the estimator's own
        ``random_state``). An int gives identical results on the same
        machine, without touching the global random state.
    verbose : bool, default=False
        Print one line per epoch of every member's training (train loss,
        validation loss, seconds); ``False`` leaves an ``estimator``'s own
        ``verbose`` as it is.

    Attributes
    ----------
    estimators_ : list of skae autoencoders
        The fitted members.
    error_scales_ : list of ndarray of shape (n_features_in_,)
        Per member, each feature's median squared error on the training set
        (floored at 1e-3 of their mean), which divides that feature's errors.
    residual_means_ : list of ndarray of shape (n_features_in_,)
        Per member, the mean normalised residual of the training samples
        used for the covariance; only with ``distance="mahalanobis"``.
    residual_precisions_ : list of ndarray of shape (n_features_in_, n_features_in_)
        Per member, the inverse of their shrunk covariance; only with
        ``distance="mahalanobis"``.
    scaler_ : transformer or None
        The fitted scaler.
    offset_ : float
        The ``100 * contamination`` percentile of the training samples'
        :meth:`score_samples` (the averaged inverted CDF, which integer
        ``sample_weight`` weighs as repeated samples);
        ``decision_function = score_samples - offset_``. :meth:`calibrate`
        sets it (and the error scales and residual statistics) from other
        data.
    {{n_features_in_}}
    {{feature_names_in_}}

    See Also
    --------
    sklearn.ensemble.IsolationForest : Isolation-based outlier detection.
    sklearn.covariance.EllipticEnvelope : Outliers of a Gaussian fit.
    AutoencoderTransformer : The default member.
    DenoisingAutoencoder : A member that learns to undo corruption.

    Notes
    -----
    The default member is an :class:`AutoencoderTransformer` with a one-unit
    code, because a narrow code cannot follow the rare samples and so lets
    them stand out, and one ``tanh`` hidden layer twice as wide as the
    input (at most 128 units); it starts at random and trains for about 150
    optimiser steps (3 to 100 epochs) at a step size of 3e-3, with early
    stopping, and the detector averages two of them. The first fit, which
    only ranks the training rows for the trimmed refit, takes about 75
    steps. On the 21 ADBench
    tabular data sets these defaults were chosen on (mean over the sets of
    ROC-AUC and average precision, %, seeds 1-3, one run):

    ================  =======  ====  ===============
    detector          ROC-AUC  AP    fit + score (s)
    ================  =======  ====  ===============
    this detector     76.0     38.4  9.4
    IsolationForest   75.7     35.1  3.6
    ECOD (PyOD)       72.9     37.7  1.7
    Mahalanobis       74.9     35.2  3.2
    ================  =======  ====  ===============

    :ref:`anomaly_defaults` gives every measurement. No detector wins on
    every set; for images or other data of many degrees of freedom, pass an
    ``estimator`` with a larger code.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skae import AutoencoderAnomalyDetector
    >>> rng = np.random.RandomState(0)
    >>> load = rng.uniform(0, 1, size=300)
    >>> X = pd.DataFrame({"load": load, "power": load ** 2, "temperature": 20 + 10 * load})
    >>> X += 0.01 * rng.normal(size=X.shape)
    >>> X.loc[0, "temperature"] += 3  # a faulty sensor reading
    >>> # A one-unit code: a shift in one of three linked features moves the code, and with
    >>> # some seeds the largest residual lands on a neighbour; read the errors, not argmax alone.
    >>> detector = AutoencoderAnomalyDetector(contamination=0.01, random_state=1).fit(X)
    >>> detector.predict(X.iloc[:3])
    array([-1,  1,  1])
    >>> errors = detector.reconstruction_error_per_feature(X.iloc[:3])
    >>> errors.idxmax(axis=1).iloc[0]
    'temperature'
    """

    _parameter_constraints: dict = {
        "estimator": [BaseAutoencoder, None],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "scaler": [StrOptions(set(SCALERS)), HasMethods(["fit", "transform"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "trim_fraction": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="left")],
        "distance": [StrOptions({"mahalanobis", "mean_squared"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination=0.1,
        scaler="minmax",
        n_estimators=2,
        trim_fraction="auto",
        distance="mahalanobis",
        random_state=None,
        verbose=False,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.scaler = scaler
        self.n_estimators = n_estimators
        self.trim_fraction = trim_fraction
        self.distance = distance
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    @with_callbacks
    def fit(self, X, y=None, sample_weight=None):
        """Fit the autoencoders to ``X`` and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, which may hold unlabeled outliers.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample: in the scaler's fit where it takes
            weights (``"standard"``; the others are fitted on the samples of
            positive weight), in the members' losses, in the share trimmed
            and in the error scales, the residual distribution and the
            ``contamination`` percentile. A sample of weight zero is left
            out. ``None`` weighs every sample 1.

        Returns
        -------
        self : object
            The fitted detector.
        """
        return fit_or_forget(self, self._fit, X, y=y, sample_weight=sample_weight)

    def _fit(self, X, y=None, sample_weight=None):
        X = self._validate_training(X, reset=True)
        sample_weight = check_sample_weight(X, sample_weight)
        callback_data = dict(X=X, y=y, metadata=fit_metadata(sample_weight))
        X, sample_weight = drop_zero_weights(X, sample_weight)
        if not self._mixed_table_:  # a mixed table's members check their own rows
            check_observed(X)
        trim_fraction = self._trim_fraction()
        # The tasks of the fit are the members' fits (and refits), each with its epochs.
        n_fits = self.n_estimators * (2 if trim_fraction > 0 else 1)
        callback_context = begin_fit(self, max_subtasks=n_fits, **callback_data)
        scaler = self._make_scaler()
        X_scaled = X if scaler is None else _fit_transform_scaler(scaler, X, sample_weight)
        seeds = check_random_state(self.random_state).randint(SEED_BOUND, size=self.n_estimators)
        estimators = self._make_members(X.shape, seeds, incremental=False)
        if trim_fraction > 0:
            # The samples reconstructed worst are likely the training set's own
            # anomalies, which the first fit partly learned: refit without them.
            # The default members screen with a shorter fit (a user's estimator
            # is fitted twice as given).
            screening = (
                estimators
                if self.estimator is not None
                else self._make_members(X.shape, seeds, incremental=False, training_steps=DEFAULT_SCREENING_STEPS)
            )
            self._fit_members(screening, X_scaled, sample_weight, callback_context)
            residuals = list(_residuals(screening, X_scaled))
            error_scales = [_error_scale(member_residuals, sample_weight) for member_residuals in residuals]
            kept, kept_weight = _best_reconstructed(residuals, error_scales, trim_fraction, sample_weight)
            if self._mixed_table_:
                # Weight zero rather than dropped: the members' column layouts (levels,
                # scaling) are then the whole training set's, which they are scored on.
                all_weights = np.zeros(len(X_scaled))
                all_weights[kept] = 1.0 if kept_weight is None else kept_weight
                self._fit_members(estimators, X_scaled, all_weights, callback_context)
            else:
                self._fit_members(estimators, _take_rows(X_scaled, kept), kept_weight, callback_context)
        else:
            self._fit_members(estimators, X_scaled, sample_weight, callback_context)
        self.scaler_ = scaler
        self.estimators_ = estimators
        self._calibrate_scaled(X_scaled, sample_weight)
        callback_context.call_on_fit_task_end(estimator=self, **callback_data, reconstruction_attributes={})
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    @with_callbacks
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train every member for one pass over the chunk ``X``.

        For data streamed in chunks (see :func:`skae.chunked.fit_chunks` and
        ``dask_ml.wrappers.Incremental``). The first call builds the scaler
        and the members from the parameters; later calls update the scaler's
        statistics and continue the members' training, optimiser state
        included. Trimming works online: from the second chunk on, each
        member trains on the chunk without its ``trim_fraction`` share of
        samples that the model so far reconstructs worst (``fit`` instead
        refits without the worst of the whole data). After each call the
        error scales, the residual covariance (``distance="mahalanobis"``)
        and ``offset_`` come from the chunk just seen; :meth:`calibrate`
        sets them from other data, and :func:`skae.chunked.fit_threshold`
        from a pass over all the chunks.

        What cannot work chunk by chunk is refused with a ``ValueError``: a
        scaler without ``partial_fit`` (``"robust"``: its quantiles need all
        the data), a member with ``early_stopping=True``, and a change of
        ``n_estimators`` between calls. The default member trains without
        early stopping here, and takes its batch size from the first chunk's
        size as ``fit`` takes it from the training set's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample of the chunk, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated detector.
        """
        first = not hasattr(self, "estimators_")
        if not first and len(self.estimators_) != self.n_estimators:
            raise ValueError(
                f"n_estimators changed from {len(self.estimators_)} to {self.n_estimators} since "
                "partial_fit started; call fit to start afresh, or restore it."
            )
        try:
            X = self._validate_training(X, reset=first)
            sample_weight = check_sample_weight(X, sample_weight)
            callback_data = dict(X=X, y=y, metadata=fit_metadata(sample_weight))
            X, sample_weight = drop_zero_weights(X, sample_weight)
            if not self._mixed_table_:
                # After the first chunk the members know which features they have seen.
                check_observed(X, None if first else 1)
        except BaseException:
            if first:  # no feature_names_in_ left behind
                forget_fit(self)
            raise
        callback_context = begin_fit(self, max_subtasks=self.n_estimators, **callback_data)
        try:
            if first:
                scaler = self._make_scaler()
                if scaler is not None and not hasattr(scaler, "partial_fit"):
                    raise ValueError(
                        f"partial_fit needs a scaler with partial_fit; {type(scaler).__name__} has "
                        "none. Use scaler='standard', 'minmax' or None."
                    )
                seeds = check_random_state(self.random_state).randint(SEED_BOUND, size=self.n_estimators)
                estimators = self._make_members(X.shape, seeds, incremental=True)
            else:
                scaler, estimators = self.scaler_, self.estimators_
            if scaler is not None:
                _fit_scaler(scaler, X, sample_weight, method="partial_fit")
            X_scaled = X if scaler is None else np.asarray(scaler.transform(X))
            X_train, weights_train = X_scaled, sample_weight
            trim_fraction = self._trim_fraction()
            if trim_fraction > 0 and not first:
                residuals = list(_residuals(estimators, X_scaled))
                kept, weights_train = _best_reconstructed(residuals, self.error_scales_, trim_fraction, sample_weight)
                X_train = _take_rows(X_scaled, kept)
            self._fit_members(estimators, X_train, weights_train, callback_context, method="partial_fit")
            self.scaler_ = scaler
            self.estimators_ = estimators
            self._calibrate_scaled(X_scaled, sample_weight)
        except BaseException:
            # A member that failed forgot its fit: leave no half-fitted detector.
            forget_fit(self)
            raise
        callback_context.call_on_fit_task_end(estimator=self, **callback_data, reconstruction_attributes={})
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def calibrate(self, X):
        """Set the error scales, the residual distribution and ``offset_`` from ``X``.

        The fitted members are kept as they are; only what ``fit`` computes
        after training is computed again, on ``X``: each feature's median
        squared error (``error_scales_``), the mean and shrunk precision of
        the normalised residuals (with ``distance="mahalanobis"``), and the
        threshold ``offset_`` at the ``100 * contamination`` percentile of
        the scores. On the training set it reproduces ``fit``'s calibration.
        Use it to re-threshold after a change of ``contamination`` or
        ``distance``, or on data other than the training data;
        :func:`skae.chunked.fit_threshold` does it over chunks, in bounded
        memory.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the training data's features, before scaling.

        Returns
        -------
        self : object
            The recalibrated detector.
        """
        self._calibrate_scaled(self._scaled(X))
        return self

    def _calibrate_scaled(self, X_scaled, sample_weight=None):
        """Calibrate from already scaled data, with one reconstruction per member; ``sample_weight`` weighs the rows."""
        residuals = list(_residuals(self.estimators_, X_scaled))
        self.error_scales_ = [_error_scale(member_residuals, sample_weight) for member_residuals in residuals]
        if self.distance == "mahalanobis":
            distributions = [
                _residual_distribution(member_residuals / np.sqrt(scale), self.contamination, sample_weight)
                for member_residuals, scale in zip(residuals, self.error_scales_)
            ]
            self.residual_means_ = [mean for mean, _ in distributions]
            self.residual_precisions_ = [precision for _, precision in distributions]
        else:
            # What a former distance="mahalanobis" left would no longer match.
            for name in ("residual_means_", "residual_precisions_"):
                self.__dict__.pop(name, None)
        train_scores = -self._anomaly_scores(residuals)
        # The averaged inverted CDF, with or without weights, so that integer
        # weights give the threshold of the rows repeated. A row with no
        # observed entry (in calibrate's data) has no score and is left out.
        weights = np.ones(len(train_scores)) if sample_weight is None else sample_weight
        self.offset_ = float(_weighted_quantile(train_scores, weights, self.contamination))

    def _fit_members(self, estimators, X_scaled, sample_weight=None, callback_context=NO_CALLBACKS, method="fit"):
        """``fit`` (or ``partial_fit``) each member on ``X_scaled``, each fit a task of ``callback_context``."""
        metadata = fit_metadata(sample_weight)
        with warnings.catch_warnings():
            if self.estimator is None:
                # The default member's epoch budget was chosen by measurement,
                # and early stopping keeps its best epoch: using the whole
                # budget is expected, not a problem to warn about.
                warnings.simplefilter("ignore", ConvergenceWarning)
            for member in estimators:
                # As a Pipeline passes its callbacks to a step: the member's epochs nest under this task.
                task = callback_context.subcontext(task_name=f"{method}-member")
                with task.propagate_callback_context(member):
                    task.call_on_fit_task_begin(estimator=self, X=X_scaled, metadata=metadata)
                    fit = getattr(member, method)
                    fit(X_scaled) if sample_weight is None else fit(X_scaled, sample_weight=sample_weight)
                    task.call_on_fit_task_end(estimator=self, X=X_scaled, metadata=metadata)

    def _make_scaler(self):
        if self.scaler is None or self._mixed_table_:
            # A mixed table's members scale their numeric columns themselves.
            return None
        if isinstance(self.scaler, str):
            return SCALERS[self.scaler]()
        return clone(self.scaler)

    def _make_members(self, shape, seeds, incremental, training_steps=DEFAULT_TRAINING_STEPS):
        """Unfitted members, one per seed; a default member trains about ``training_steps`` optimiser steps."""
        n_samples, n_features = shape
        members = []
        for seed in seeds:
            if self.estimator is not None:
                member = clone(self.estimator)
            else:
                batch_size = int(np.clip(n_samples // MIN_BATCHES_PER_EPOCH, 16, 256))
                epochs = math.ceil(training_steps / math.ceil(n_samples / batch_size))
                member = AutoencoderTransformer(
                    n_components=DEFAULT_N_COMPONENTS,
                    hidden_layer_sizes=(int(np.clip(round(DEFAULT_HIDDEN_RATIO * n_features), 1, DEFAULT_MAX_HIDDEN)),),
                    activation=DEFAULT_ACTIVATION,
                    init=DEFAULT_INIT,
                    max_iter=int(np.clip(epochs, MIN_EPOCHS, MAX_EPOCHS)),
                    learning_rate_init=DEFAULT_LEARNING_RATE,
                    batch_size=batch_size,
                    early_stopping=not incremental and n_samples >= MIN_SAMPLES_FOR_EARLY_STOPPING,
                    tol=DEFAULT_TOL,
                )
            member.set_params(random_state=int(seed))
            if self.verbose:
                member.set_params(verbose=self.verbose)
            members.append(member)
        return members

    def _trim_fraction(self):
        return self.contamination if self.trim_fraction == "auto" else self.trim_fraction

    def _anomaly_scores(self, residuals):
        """Anomaly score of each sample, higher for more anomalous, from the members' residuals."""
        if self.distance == "mean_squared":
            return _row_mean(_mean_normalised_error(residuals, self.error_scales_))
        total = 0.0
        members = zip(residuals, self.error_scales_, self.residual_means_, self.residual_precisions_)
        for member_residuals, scale, mean, precision in members:
            centred = member_residuals / np.sqrt(scale) - mean
            missing = np.isnan(centred)
            if not missing.any():
                total = total + _squared_norms(centred, precision) / centred.shape[1]
            else:
                total = total + _observed_mahalanobis(centred, missing, precision)
        return total / len(self.estimators_)

    def _validate_training(self, X, reset):
        """Training data validated: numeric, or a table with categorical columns, which the members encode."""
        if reset:
            features = "from_dtype" if self.estimator is None else self.estimator.categorical_features
            self._mixed_table_ = _columns.categorical_mask(X, features, type(self).__name__) is not None
        if not self._mixed_table_:
            return validate_training_data(self, X, reset=reset, dtype=TRAINING_DTYPES)
        return self._checked_table(X, reset=reset)

    def _checked_table(self, X, reset):
        """A table with categorical columns, as given, once its columns match (names and number)."""
        if not hasattr(X, "iloc"):
            X = check_array(X, dtype=None, ensure_all_finite=False)
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        return X

    def _scaled(self, X):
        check_is_fitted(self)
        if getattr(self, "_mixed_table_", False):
            return self._checked_table(X, reset=False)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        return X if self.scaler_ is None else np.asarray(self.scaler_.transform(X))

    def reconstruction_error_per_feature(self, X):
        """Normalised squared reconstruction error of every sample and feature.

        The squared error on the scaled data divided by the feature's median
        error on the training set (``error_scales_``), averaged over the
        members: how many times worse than usual each feature is
        reconstructed. The features with the largest values are those that
        made a sample anomalous. With ``distance="mean_squared"``,
        :meth:`score_samples` is minus the row means; with the default
        ``"mahalanobis"`` it also weighs how the residuals go together, so a
        sample can be flagged for errors of ordinary size in the wrong
        combination: then read the features whose usual co-variation it
        breaks among the largest values here.

        A corrupted feature also moves the code, and with it the
        reconstruction of the features correlated with it, so those share
        some of the error: read the few largest values, not only the first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to explain.

        Returns
        -------
        errors : pandas.DataFrame or ndarray of shape (n_samples, n_features)
            Float64 errors, NaN where ``X`` is missing; a DataFrame with the
            input's columns and index when ``X`` is a DataFrame, else an
            ndarray.
        """
        X_scaled = self._scaled(X)
        errors = _mean_normalised_error(_residuals(self.estimators_, X_scaled), self.error_scales_)
        if hasattr(X, "columns") and hasattr(X, "index"):
            import pandas as pd  # only when the input is a DataFrame already

            return pd.DataFrame(errors, columns=X.columns, index=X.index)
        return errors

    def score_samples(self, X):
        """Score each sample by minus the distance of its normalised residual (see ``distance``).

        Higher means more normal, the opposite of an anomaly score. A sample
        with missing entries (NaN) is scored on its observed ones: the
        Mahalanobis distance under the marginal of the observed features,
        or the mean over them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score; may hold NaN.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Minus the squared distance of the normalised residual, divided
            by the number of (observed) features; NaN for a sample with no
            observed entry, which :meth:`predict` then labels +1.
        """
        X_scaled = self._scaled(X)
        # The residuals are made one member at a time, as the scores sum them.
        return -self._anomaly_scores(_residuals(self.estimators_, X_scaled))

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN marks a missing entry: members train on the observed ones, scores use them only.
        tags.input_tags.allow_nan = True
        return tags


# The detector's statistics all follow from one array per member and data
# set, its residuals: reconstruction minus input.


def _residuals(members, X_scaled):
    """Each member's reconstruction of ``X_scaled`` minus ``X_scaled``, float64; one member at a time."""
    for member in members:
        if getattr(member, "_column_layout_", None) is not None:
            # A mixed table: one residual per column, the root of a categorical column's NLL.
            yield member._column_residuals(X_scaled)
            continue
        reconstruction = member.inverse_transform(member.transform(X_scaled))
        yield np.subtract(reconstruction, X_scaled, dtype=np.float64)


def _take_rows(X, rows):
    """The rows ``rows`` of an array or a DataFrame."""
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _row_mean(errors):
    """Each row's mean over its observed (not NaN) entries; NaN for a row with none."""
    if not np.isnan(errors).any():
        return errors.mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no observed entry
        return np.nanmean(errors, axis=1)


def _squared_norms(centred, precision):
    """``c' P c`` for each row ``c`` of ``centred``.

    One matrix product: ``np.einsum`` of the three operands loops without
    BLAS, 20x slower on a thousand features.
    """
    return np.sum((centred @ precision) * centred, axis=1)


def _observed_mahalanobis(centred, missing, precision):
    """Squared Mahalanobis distance of each row's observed entries, divided by their number.

    The distance of the observed entries under the marginal of the shrunk
    Gaussian, whose precision is the inverse of the covariance's observed
    block: a row is judged on what was measured, neither flagged for its
    holes nor excused by them. One inverse per missingness pattern.
    """
    covariance = _positive_definite_inverse(precision)
    distances = np.full(centred.shape[0], np.nan)
    patterns, pattern_of_row = np.unique(missing, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        rows = np.flatnonzero(pattern_of_row.ravel() == index)
        observed = ~pattern
        n_observed = observed.sum()
        if n_observed == 0:
            continue
        block = (
            precision
            if n_observed == len(pattern)
            else _positive_definite_inverse(covariance[np.ix_(observed, observed)])
        )
        values = centred[np.ix_(rows, observed)]
        distances[rows] = _squared_norms(values, block) / n_observed
    return distances


def _error_scale(residuals, sample_weight=None):
    """Each feature's median squared error, floored so that no feature's errors are blown up.

    Missing entries (NaN) are left out; a feature with none observed gets the floor.
    ``sample_weight`` makes it the weighted median.
    """
    if sample_weight is not None:
        median = _weighted_quantile(np.square(residuals), sample_weight, 0.5)
        floor = 1e-3 * np.nanmean(median) if not np.isnan(median).all() else 0.0
        median = np.where(np.isnan(median), floor, median)
    elif np.isnan(residuals).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN features
            median = np.nanmedian(np.square(residuals), axis=0)
        floor = 1e-3 * np.nanmean(median) if not np.isnan(median).all() else 0.0
        median = np.where(np.isnan(median), floor, median)
    else:
        median = np.median(np.square(residuals), axis=0)
    floor = 1e-3 * median.mean()
    return np.maximum(median, floor) if floor > 0 else np.ones_like(median)


def _mean_normalised_error(residuals, error_scales):
    """Squared residuals divided by their feature's error scale, averaged over the members."""
    total = 0.0
    for member_residuals, scale in zip(residuals, error_scales):
        total = total + np.square(member_residuals) / scale
    return total / len(error_scales)


def _best_rows(row_errors, fraction, sample_weight=None):
    """``(rows, weights)``: the rows left after dropping the ``fraction`` of the weight with the largest ``row_errors``.

    Rows are kept in order of error until they weigh ``1 - fraction`` of
    the total (``sample_weight``, or one per row), the last one with only
    the weight still missing: dropping a share of the weight is then
    dropping that share of the rows repeated as integer weights say.
    ``rows`` are sorted indices; ``weights`` are theirs, or None where
    ``sample_weight`` is None and every row kept is whole.
    """
    order = np.argsort(row_errors, kind="stable")
    weights = np.ones(len(order)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[order]
    cumulative = np.cumsum(weights)
    target = (1 - fraction) * cumulative[-1]
    # Sums within rounding of the target reach it: no sliver of a row is kept or cut.
    tolerance = 1e-9 * cumulative[-1]
    n_kept = int(np.searchsorted(cumulative, target - tolerance, side="left")) + 1
    weights = weights[:n_kept]
    excess = cumulative[n_kept - 1] - target
    if excess > tolerance:
        weights[-1] -= excess
    rows = order[:n_kept]
    position = np.argsort(rows)
    rows, weights = rows[position], weights[position]
    if sample_weight is None and np.all(weights == 1.0):
        return rows, None
    return rows, weights


def _best_reconstructed(residuals, error_scales, fraction, sample_weight=None):
    """``(rows, weights)`` left after dropping the ``fraction`` (of the weight) that the members reconstruct worst."""
    return _best_rows(_row_mean(_mean_normalised_error(residuals, error_scales)), fraction, sample_weight)


def _residual_distribution(normalised_residuals, contamination, sample_weight=None):
    """Mean and precision of one member's normalised residuals on the samples it reconstructs best.

    The worst-reconstructed ``contamination`` share is left out, as from
    the refit; the covariance is shrunk halfway towards its diagonal.
    ``sample_weight`` weighs the samples.
    """
    rows, kept_weight = _best_rows(_row_mean(np.square(normalised_residuals)), contamination, sample_weight)
    kept = normalised_residuals[rows]
    n_features = kept.shape[1]
    missing = np.isnan(kept)
    if missing.any():
        mean, covariance = _pairwise_moments(kept, missing, kept_weight)
    else:
        mean = np.average(kept, axis=0, weights=kept_weight)
        centred = kept - mean
        # What np.cov(bias=True, aweights=...) computes, in one matrix product.
        weighted = centred if kept_weight is None else centred * kept_weight[:, np.newaxis]
        covariance = (weighted.T @ centred) / (len(kept) if kept_weight is None else kept_weight.sum())
    variances = np.diag(covariance)
    floor = 1e-3 * variances.mean()
    if not floor > 0:
        # Residuals all alike (or a single sample): plain squared distance.
        return mean, np.eye(n_features)
    shrinkage = RESIDUAL_COVARIANCE_SHRINKAGE
    covariance = (1 - shrinkage) * covariance
    covariance[np.diag_indices(n_features)] += shrinkage * variances
    # The shrunk matrix is at least ``shrinkage`` times the diagonal, so a
    # floor on the variances keeps it invertible.
    covariance[np.diag_indices(n_features)] += shrinkage * np.maximum(floor - variances, 0)
    if missing.any():
        # Pairwise moments need not make a positive definite matrix: clip its spectrum.
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        eigenvalues = np.maximum(eigenvalues, shrinkage * floor)
        covariance = (eigenvectors * eigenvalues) @ eigenvectors.T
    return mean, _positive_definite_inverse(covariance)


def _positive_definite_inverse(matrix):
    """The inverse of a symmetric positive definite ``matrix``, through its Cholesky factor.

    Half the arithmetic of ``np.linalg.inv``'s LU route (a third less time
    on InternetAds' 1555 features); a matrix LAPACK finds not positive
    definite in floating point goes that route instead.
    """
    factor, info = lapack.dpotrf(matrix, lower=False)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False)
    if info != 0:
        return np.linalg.inv(matrix)
    # dpotri fills the upper triangle only.
    upper = np.triu(inverse)
    return upper + np.triu(upper, 1).T


def _pairwise_moments(residuals, missing, sample_weight=None):
    """Mean and covariance of residuals with missing entries, each from the rows observing it (or the pair).

    Pairwise-complete estimates, unbiased under entries missing at random;
    a pair never observed together gets covariance zero. ``sample_weight``
    weighs the rows.
    """
    observed = (~missing).astype(np.float64)
    row_weights = np.ones(residuals.shape[0]) if sample_weight is None else sample_weight
    weighted = observed * row_weights[:, np.newaxis]
    counts = weighted.sum(axis=0)
    filled = np.where(missing, 0.0, residuals)
    mean = np.divide((filled * weighted).sum(axis=0), counts, out=np.zeros(residuals.shape[1]), where=counts > 0)
    centred = np.where(missing, 0.0, residuals - mean)
    if sample_weight is not None:
        centred = centred * np.sqrt(row_weights)[:, np.newaxis]
    pair_counts = weighted.T @ observed
    covariance = np.divide(centred.T @ centred, pair_counts, out=np.zeros_like(pair_counts), where=pair_counts > 0)
    return mean, covariance


def _fit_scaler(scaler, X, sample_weight, method="fit"):
    """``scaler.fit`` (or ``partial_fit``) on ``X``, with ``sample_weight`` where the scaler takes it.

    A scaler that takes no weights is fitted on the rows as given: those of
    weight zero are already left out, so a minimum and maximum are exact,
    and quantiles (``RobustScaler``) are unweighted.
    """
    fit = getattr(scaler, method)
    if sample_weight is not None and "sample_weight" in inspect.signature(fit).parameters:
        return fit(X, sample_weight=sample_weight)
    return fit(X)


def _fit_transform_scaler(scaler, X, sample_weight):
    """``X`` scaled by ``scaler``, fitted on it with ``sample_weight`` (see :func:`_fit_scaler`)."""
    if sample_weight is None:
        return np.asarray(scaler.fit_transform(X))
    return np.asarray(_fit_scaler(scaler, X, sample_weight).transform(X))


def _weighted_quantile(values, sample_weight, quantile):
    """The ``quantile`` of each column of ``values`` (or of a 1-D array), rows weighted by ``sample_weight``.

    NaN entries are left out. Where the quantile falls on the boundary
    between two values it is their mean (the averaged inverted CDF), so
    that with equal weights the median is NumPy's.
    """
    values = np.asarray(values, dtype=np.float64)
    one_dimensional = values.ndim == 1
    values = values.reshape(values.shape[0], -1)
    weights = np.where(np.isnan(values), 0.0, sample_weight[:, np.newaxis])
    order = np.argsort(values, axis=0, kind="stable")  # NaN last
    sorted_values = np.take_along_axis(values, order, axis=0)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=0), axis=0)
    target = quantile * cumulative[-1]
    result = np.full(values.shape[1], np.nan)
    for column in range(values.shape[1]):
        n_observed = int((~np.isnan(values[:, column])).sum())
        if n_observed == 0:
            continue
        below = np.searchsorted(cumulative[:n_observed, column], target[column], side="left")
        above = np.searchsorted(cumulative[:n_observed, column], target[column], side="right")
        low, high = (min(index, n_observed - 1) for index in (below, above))
        result[column] = 0.5 * (sorted_values[low, column] + sorted_values[high, column])
    return result[0] if one_dimensional else result
