"""Imputation of missing values by an autoencoder's reconstruction."""

import numbers
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, MissingValues, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, _check_feature_names_in, check_is_fitted, validate_data

from ._base import SEED_BOUND, BaseAutoencoder, check_sample_weight, drop_zero_weights, fit_or_forget
from ._callbacks import CallbackSupportMixin, begin_fit, fit_metadata, with_callbacks
from .anomaly import SCALERS, _fit_transform_scaler
from .denoising import DenoisingAutoencoder

# The default model, chosen on benchmarks/bench_impute.py (see the user
# guide's page on missing data): a denoising autoencoder that hides a share
# of the observed entries of every batch (after standard scaling, hiding is
# filling with the mean, as for a missing entry) and learns to reconstruct
# them, which is imputation itself.
DEFAULT_NOISE_LEVEL = 0.25
DEFAULT_COMPONENTS_RATIO = 0.5
DEFAULT_HIDDEN_RATIO = 2.0
DEFAULT_MAX_ITER = 200
# Early stopping needs a validation set worth the name.
MIN_SAMPLES_FOR_EARLY_STOPPING = 50
# Small training sets get smaller batches, so that the epochs are enough steps.
MIN_BATCHES_PER_EPOCH = 10


class AutoencoderImputer(CallbackSupportMixin, TransformerMixin, BaseEstimator):
    """Impute missing values with an autoencoder trained on the observed ones.

    The data are scaled, an autoencoder is fitted to them with its loss
    taken over the observed entries only (the encoder sees each missing
    entry filled with its feature's mean), and each missing entry is
    replaced by the model's reconstruction of its row, then scaled back.
    Observed entries are returned unchanged. The conventions are those of
    :class:`~sklearn.impute.SimpleImputer`: ``missing_values``,
    ``add_indicator`` and ``keep_empty_features`` mean the same.

    Parameters
    ----------
    estimator : skae autoencoder or None, default=None
        The autoencoder to fit: any subclass of ``BaseAutoencoder``. It is
        cloned, never fitted in place, and its parameters are searchable as
        ``estimator__<name>``. ``None`` builds a default sized to the data
        (see Notes).
    missing_values : int, float, str, np.nan or None, default=np.nan
        The placeholder for missing values; all its occurrences are imputed.
        Data are numeric: a placeholder other than NaN is turned into NaN
        before scaling.
    scaler : {"standard", "minmax", "robust"}, transformer or None, \
            default="standard"
        Scaling fitted on the observed training data and applied before the
        autoencoder, so that features weigh alike in its loss. A transformer
        object is cloned; it must leave NaN in place, as scikit-learn's
        scalers do. ``None`` leaves the data as given.
    add_indicator : bool, default=False
        If True, a :class:`~sklearn.impute.MissingIndicator` is stacked onto
        the output, one column per feature that had missing values at fit.
    keep_empty_features : bool, default=False
        If True, features with no observed value at fit are kept and imputed
        with 0; else they are dropped from the output, as
        :class:`~sklearn.impute.SimpleImputer` does.
    random_state : int, RandomState instance or None, default=None
        Seeds the autoencoder (overriding the estimator's own
        ``random_state``). An int gives identical results on the same
        machine.
    verbose : bool, default=False
        Print one line per epoch of the autoencoder's training.

    Attributes
    ----------
    estimator_ : skae autoencoder
        The fitted autoencoder, on the scaled non-empty features.
    scaler_ : transformer or None
        The fitted scaler.
    indicator_ : sklearn.impute.MissingIndicator or None
        The indicator of missing values; None unless ``add_indicator``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.impute.SimpleImputer : Imputes each feature by a statistic.
    sklearn.impute.IterativeImputer : Regresses each feature on the others, in turn.
    sklearn.impute.KNNImputer : Imputes from the nearest complete neighbours.
    DenoisingAutoencoder : The default model.

    Notes
    -----
    The default model is a :class:`DenoisingAutoencoder` with
    ``noise="masking"``: during training it also hides a share of the
    observed entries (on standardised data, hiding an entry fills it with
    its mean, as for a missing one) and learns to reconstruct them, which
    is the imputation task itself. Its code has about half as many units
    as there are features and its one ``tanh`` hidden layer twice as many;
    it starts at random (a start at PCA's solution of the mean-filled data
    imputed worse) and trains for at most 200 epochs with early stopping. A training row
    with no observed entry teaches nothing and is left out of the fit; at
    :meth:`transform` it gets the reconstruction of the training means.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderImputer
    >>> rng = np.random.RandomState(0)
    >>> t = rng.uniform(-1, 1, size=(200, 1))
    >>> X = np.hstack([t, 2 * t, -t, t ** 2])
    >>> X_missing = X.copy()
    >>> X_missing[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imputer = AutoencoderImputer(random_state=0).fit(X_missing)
    >>> X_imputed = imputer.transform(X_missing)
    >>> bool(np.isnan(X_imputed).any())
    False
    >>> observed = ~np.isnan(X_missing)
    >>> bool(np.array_equal(X_imputed[observed], X_missing[observed]))
    True
    """

    _parameter_constraints: dict = {
        "estimator": [BaseAutoencoder, None],
        "missing_values": [MissingValues()],
        "scaler": [StrOptions(set(SCALERS)), HasMethods(["fit", "transform", "inverse_transform"]), None],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        missing_values=np.nan,
        scaler="standard",
        add_indicator=False,
        keep_empty_features=False,
        random_state=None,
        verbose=False,
    ):
        self.estimator = estimator
        self.missing_values = missing_values
        self.scaler = scaler
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.random_state = random_state
        self.verbose = verbose

    def _validate(self, X, reset):
        """``X`` as a float array with NaN for every missing value."""
        ensure_all_finite = "allow-nan" if _is_nan(self.missing_values) else True
        X = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, ensure_all_finite=ensure_all_finite, copy=False)
        if not _is_nan(self.missing_values):
            if not isinstance(self.missing_values, numbers.Real):
                raise ValueError(
                    f"missing_values={self.missing_values!r} cannot occur in numeric data; "
                    "AutoencoderImputer imputes numeric features."
                )
            # A copy: what the user passed is not modified.
            X = np.where(X == self.missing_values, np.nan, X)
        return X

    @_fit_context(prefer_skip_nested_validation=False)
    @with_callbacks
    def fit(self, X, y=None, sample_weight=None):
        """Fit the scaler and the autoencoder to the observed entries of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing values.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row, in the scaler's fit where it takes weights
            (``"standard"``; the others are fitted on the rows of positive
            weight) and in the autoencoder's loss. A row of weight zero is
            left out, as if it were not there. ``None`` weighs every row 1.

        Returns
        -------
        self : object
            The fitted imputer.
        """
        return fit_or_forget(self, self._fit, X, y=y, sample_weight=sample_weight)

    def _fit(self, X, y=None, sample_weight=None):
        X = self._validate(X, reset=True)
        sample_weight = check_sample_weight(X, sample_weight)
        callback_data = dict(X=X, y=y, metadata=fit_metadata(sample_weight))
        X, sample_weight = drop_zero_weights(X, sample_weight)
        # The one task of the fit is the autoencoder's, with its epochs.
        callback_context = begin_fit(self, max_subtasks=1, **callback_data)
        missing = np.isnan(X)
        self._observed_features_ = ~missing.all(axis=0)
        if not self._observed_features_.any():
            raise ValueError("Every feature of X is missing in every row: there is nothing to impute from.")
        X_kept = X[:, self._observed_features_]
        scaler = self._make_scaler()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scalers' all-NaN slices
            X_scaled = X_kept if scaler is None else _fit_transform_scaler(scaler, X_kept, sample_weight)
        # A row with no observed entry teaches nothing (the autoencoder refuses it).
        informative = ~np.isnan(X_scaled).all(axis=1)
        X_train = X_scaled[informative]
        weights_train = None if sample_weight is None else sample_weight[informative]
        estimator = self._make_estimator(X_train.shape)
        with warnings.catch_warnings():
            if self.estimator is None:
                # The default's epoch budget was chosen by measurement, with
                # early stopping keeping its best epoch.
                warnings.simplefilter("ignore", ConvergenceWarning)
            task = callback_context.subcontext(task_name="fit-estimator")
            with task.propagate_callback_context(estimator):
                task.call_on_fit_task_begin(estimator=self, X=X_train, metadata=fit_metadata(weights_train))
                if weights_train is None:
                    estimator.fit(X_train)
                else:
                    estimator.fit(X_train, sample_weight=weights_train)
                task.call_on_fit_task_end(estimator=self, X=X_train, metadata=fit_metadata(weights_train))
        self.scaler_ = scaler
        self.estimator_ = estimator
        self.indicator_ = None
        if self.add_indicator:
            self.indicator_ = MissingIndicator(missing_values=np.nan, error_on_new=False).fit(X)
        callback_context.call_on_fit_task_end(estimator=self, **callback_data, reconstruction_attributes={})
        return self

    def _make_scaler(self):
        if self.scaler is None:
            return None
        if isinstance(self.scaler, str):
            return SCALERS[self.scaler]()
        return clone(self.scaler)

    def _make_estimator(self, shape):
        n_samples, n_features = shape
        seed = int(check_random_state(self.random_state).randint(SEED_BOUND))
        if self.estimator is not None:
            estimator = clone(self.estimator)
        else:
            estimator = DenoisingAutoencoder(
                n_components=max(1, round(DEFAULT_COMPONENTS_RATIO * n_features)),
                hidden_layer_sizes=(max(1, round(DEFAULT_HIDDEN_RATIO * n_features)),),
                activation="tanh",
                init="random",
                noise="masking",
                noise_level=DEFAULT_NOISE_LEVEL,
                max_iter=DEFAULT_MAX_ITER,
                batch_size=int(np.clip(n_samples // MIN_BATCHES_PER_EPOCH, 16, 256)),
                early_stopping=n_samples >= MIN_SAMPLES_FOR_EARLY_STOPPING,
            )
        estimator.set_params(random_state=seed)
        if self.verbose:
            estimator.set_params(verbose=self.verbose)
        return estimator

    def transform(self, X):
        """Impute every missing value of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing values, in the training data's features.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features_out)
            ``X`` with its missing values imputed, its observed values
            unchanged; without the features that had no observed value at
            fit (unless ``keep_empty_features``), followed by the indicator
            columns with ``add_indicator``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        X_kept = X[:, self._observed_features_]
        missing = np.isnan(X_kept)
        imputed = X_kept.copy()
        if missing.any():
            imputed[missing] = self._reconstruct(X_kept)[missing]
        if self.keep_empty_features and not self._observed_features_.all():
            full = np.zeros_like(X)
            full[:, self._observed_features_] = imputed
            imputed = full
        if self.indicator_ is not None:
            imputed = np.hstack([imputed, self.indicator_.transform(X).astype(imputed.dtype)])
        return imputed

    def _reconstruct(self, X_kept):
        """The model's reconstruction of the rows of ``X_kept``, in the data's units."""
        scaler, estimator = self.scaler_, self.estimator_
        X_scaled = X_kept if scaler is None else np.asarray(scaler.transform(X_kept))
        # The encoder sees the missing entries filled with the training means,
        # as in training; feeding the imputed values back in and reconstructing
        # again was measured worse (a model trained on mean-filled inputs).
        reconstruction = estimator.inverse_transform(estimator.transform(X_scaled))
        return reconstruction if scaler is None else np.asarray(scaler.inverse_transform(reconstruction))

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input features; ``None`` uses ``feature_names_in_`` if defined,
            else ``x0``, ``x1``...

        Returns
        -------
        feature_names_out : ndarray of str objects
            The imputed features' names, then the indicator's
            (``missingindicator_<name>``).
        """
        check_is_fitted(self)
        input_features = _check_feature_names_in(self, input_features)
        names = input_features if self.keep_empty_features else input_features[self._observed_features_]
        if self.indicator_ is not None:
            names = np.concatenate([names, self.indicator_.get_feature_names_out(input_features)])
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = _is_nan(self.missing_values)
        return tags


def _is_nan(value):
    """Whether the placeholder ``value`` is NaN in a float array (``np.nan``, or None, which becomes NaN)."""
    return value is None or (isinstance(value, Real) and bool(np.isnan(value)))
