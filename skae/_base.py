"""The scikit-learn base class shared by every skae autoencoder."""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, RealNotInt, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from . import _columns
from ._callbacks import CallbackSupportMixin, EpochTasks, begin_fit, fit_metadata, with_callbacks
from ._engine import (
    AUTOCAST_DTYPES,
    INFERENCE_BATCH_SIZE,
    NUMPY_DTYPES,
    TrainingEngine,
    fill_missing,
    observed_per_sample,
    resolve_device,
    tensor_view,
    training_tensor,
)
from ._network import ACTIVATIONS, build_network
from .losses import MixedLoss, _fit_scale_in_chunks, get_loss

SEED_BOUND = np.iinfo(np.int32).max
# batch_size="auto": n_samples // AUTO_BATCHES_PER_EPOCH rows, clipped to the range.
AUTO_BATCHES_PER_EPOCH = 40
AUTO_BATCH_SIZE_RANGE = (32, 256)
# Rows per chunk when fitting noise_scale_ on the training residuals: memory of one chunk.
NOISE_SCALE_CHUNK_ROWS = 1024


def forget_fit(estimator):
    """Delete every fitted attribute (``name_``), leaving ``estimator`` unfitted.

    Called when a fit fails, so that no half-fitted estimator is left behind.
    """
    for name in [name for name in vars(estimator) if name.endswith("_") and not name.startswith("__")]:
        delattr(estimator, name)


def fit_or_forget(estimator, fit, X, **fit_params):
    """``fit(X, **fit_params)`` on a fresh ``estimator``; a failure leaves it with no fitted attribute."""
    forget_fit(estimator)
    try:
        return fit(X, **fit_params)
    except BaseException:
        forget_fit(estimator)
        raise


def validate_training_data(estimator, X, *, reset, dtype=(np.float32, np.float64)):
    """``validate_data`` for training: ``dtype`` (the first for other inputs), at least one sample and one feature.

    NaN marks a missing entry and passes; infinity is an error. A table
    without columns gets an error that says so (NumPy's own, from a
    DataFrame with no columns, does not).
    """
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is required "
            f"by {type(estimator).__name__}."
        )
    return validate_data(
        estimator, X, reset=reset, dtype=list(dtype), ensure_min_samples=1, ensure_all_finite="allow-nan"
    )


def check_sample_weight(X, sample_weight):
    """``sample_weight`` checked for the rows of ``X``: float64, finite, non-negative, not all zero; None stays None.

    The user's array is never modified (nor kept in a fitted attribute).
    """
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)


def drop_zero_weights(X, sample_weight):
    """``X`` and ``sample_weight`` without the rows of weight zero; weights all one become None.

    A row of weight zero then counts nowhere, as if it were not there, and
    weights of ones train exactly the model of no weights.
    """
    if sample_weight is None:
        return X, None
    kept = sample_weight > 0
    if not kept.all():
        X, sample_weight = (X.iloc[kept] if hasattr(X, "iloc") else X[kept]), sample_weight[kept]
    return X, (None if np.all(sample_weight == 1) else sample_weight)


def batch_mean(values, sample_weight=None):
    """The mean of a batch's per-row ``values``, rows weighted by ``sample_weight`` (scaled to mean 1 over the data).

    Objectives take their loss terms with it: the weighted mean over the
    training set is the mean over batches. ``None``: the plain mean.
    """
    return values.mean() if sample_weight is None else (values * sample_weight).mean()


def column_mean(values, sample_weight=None):
    """The mean of each column of ``values`` over the batch's rows, weighted by ``sample_weight``."""
    if sample_weight is None:
        return values.mean(dim=0)
    weights = sample_weight.to(values.dtype).unsqueeze(1)
    return (values * weights).sum(dim=0) / weights.sum()


def check_observed(X, seen_before=None):
    """The mask of ``X``'s missing (NaN) entries, or None if it has none; an error for a row with none observed.

    ``seen_before``, how many values of each feature earlier training sets
    had, lets a continued fit train on a feature missing from its chunk; a
    feature never observed is an error, as it leaves nothing to learn or to
    fill it with.
    """
    # A sum is NaN if any entry is (or, harmlessly, if it overflows both
    # ways): complete data costs no mask of X's size.
    if not np.isnan(X.sum()):
        return None
    missing = np.isnan(X)
    if not missing.any():
        return None
    empty_rows = np.flatnonzero(missing.all(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"{empty_rows.size} row(s) of X have no observed value (all NaN), the first at index "
            f"{empty_rows[0]}: nothing to train on. Drop them before fitting."
        )
    n_observed = (~missing).sum(axis=0)
    if seen_before is not None:
        n_observed = n_observed + seen_before
    empty_features = np.flatnonzero(n_observed == 0)
    if empty_features.size:
        raise ValueError(
            f"{empty_features.size} feature(s) of X have no observed value (all NaN), the first at "
            f"column {empty_features[0]}: nothing to learn them from. Drop those columns (or impute them) "
            "before fitting."
        )
    return missing


class BaseAutoencoder(CallbackSupportMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the skae autoencoders.

    Holds what every variant shares: parameter validation, the thin ``fit``
    and ``partial_fit`` over one ``_fit``, ``transform``,
    ``inverse_transform``, ``score_samples`` and ``score``. Training itself is
    delegated to :class:`~skae._engine.TrainingEngine`. A variant adds its
    parameters and overrides only the hooks that make it different. Each hook
    receives what it uses; none reaches into the engine:

    - ``_allows_overcomplete`` (a class attribute): whether ``n_components``
      may exceed ``n_features``;
    - ``_check_training_data(X, loss)``: refuse data or parameter values this
      variant cannot train on, before any state changes;
    - ``_network_params(n_features)``: the network's shape, a dict for
      :func:`~skae._network.build_network`;
    - ``_starts_at_pca()``: whether a new network starts from PCA's solution;
    - ``_start_at_pca(module, X, sample_weight)``: set ``module`` to PCA's
      solution on the training data ``X`` (a variant may then rescale it);
    - ``_record_training_data(X)``: statistics of each training set (every
      ``fit`` and ``partial_fit`` call) the hooks need, kept as fitted
      attributes;
    - ``_corrupt(X, generator)``: the training input made from a clean batch;
    - ``_penalties(module, inputs, code, sample_weight)``: extra loss terms,
      by name;
    - ``_objective(module, inputs, target, generator, sample_weight)``: the
      whole objective, for models whose forward pass differs (the
      variational autoencoder); it takes its reconstruction term with
      ``_reconstruction_per_sample``, which leaves out missing entries (NaN
      in ``target``; ``inputs`` has them filled with the training means);
    - ``_encode(module, x)`` and ``_decode(module, code)``: inference, what
      ``transform`` and ``inverse_transform`` compute for one batch.

    ``module`` is the network (at inference, the engine's buffered view of
    it) and ``generator`` the engine's torch generator, the one source of
    randomness in training. ``sample_weight`` is None, or the batch's row
    weights scaled to mean 1 over the training set: a term that is a mean
    over rows takes it with :func:`batch_mean`, a statistic of the batch's
    columns with :func:`column_mean`, so that every row's loss is weighted.

    Warning: This class should not be used directly. Use derived classes
    instead.
    """

    # Whether n_components may exceed the number of features.
    _allows_overcomplete = False

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        # Strings are read by get_loss at fit, which names what it cannot read.
        "loss": [str, callable],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "device": [str, torch.device],
        "precision": [StrOptions(set(AUTOCAST_DTYPES))],  # float32, bfloat16 or float64
        "init": [StrOptions({"pca", "random"})],
        # Mixed-type tables (skae/_columns.py); the names are OneHotEncoder's.
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "max_categories": [Interval(Integral, 1, None, closed="left"), None],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "handle_unknown": [StrOptions({"error", "ignore"})],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        loss="squared_error",
        batch_size="auto",
        learning_rate_init=1e-3,
        max_iter=200,
        alpha=0.1,
        shuffle=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=None,
        verbose=False,
        warm_start=False,
        device="auto",
        precision="float32",
        init="pca",
        categorical_features="from_dtype",
        max_categories=None,
        min_frequency=None,
        handle_unknown="error",
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.alpha = alpha
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.precision = precision
        self.init = init
        self.categorical_features = categorical_features
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.handle_unknown = handle_unknown

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    @with_callbacks
    def fit(self, X, y=None, sample_weight=None):
        """Fit the autoencoder to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row's loss, in training, in the early-stopping
            validation loss and in the fit of ``noise_scale_``: an integer
            weight counts a row as that many copies of it, and a row of
            weight zero is left out. ``None`` weighs every row 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False, y=y, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    @with_callbacks
    def partial_fit(self, X, y=None, sample_weight=None):
        """One pass over ``X``, continuing the same optimiser.

        The first call initialises the model; later calls keep the weights,
        Adam's moment estimates and the random generator. ``max_iter`` does
        not apply (one call is one pass) and every call adds one entry to
        ``loss_curve_``. Early stopping cannot work chunk by chunk, so
        ``early_stopping=True`` raises a ``ValueError``; so does changing a
        parameter that shapes the network between calls. To stream data
        larger than memory, see :func:`skae.chunked.fit_chunks`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row of the chunk, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, incremental=True, y=y, sample_weight=sample_weight)

    def _fit(self, X, incremental, y=None, sample_weight=None):
        if incremental and self.early_stopping:
            raise ValueError(
                "partial_fit cannot use early_stopping=True: a validation set held out of one "
                "chunk says nothing about when to stop over a stream of chunks. Set "
                "early_stopping=False and choose the number of passes, or use fit."
            )
        fresh = not ((incremental or self.warm_start) and hasattr(self, "engine_"))
        if fresh:
            forget_fit(self)
        try:
            X = self._validate_table(X, reset=fresh)
            sample_weight = check_sample_weight(X, sample_weight)
            # The callbacks see the data as given; training leaves out rows of weight zero.
            callback_data = dict(X=X, y=y, metadata=fit_metadata(sample_weight))
            X, sample_weight = drop_zero_weights(X, sample_weight)
            if not fresh:
                self._check_same_network(X.shape[1])
            missing = check_observed(X, None if fresh else self._observed_counts_)
            loss = self._table_loss(get_loss(self.loss))
            self._check_training_data(X, loss)
        except BaseException:
            # Bad input changes nothing a continued fit would keep, and leaves
            # no attribute (feature_names_in_, say) on a fresh one.
            if fresh:
                forget_fit(self)
            raise
        # The tasks of a fit are its epochs.
        callback_context = begin_fit(self, max_subtasks=1 if incremental else self.max_iter, **callback_data)
        try:
            if fresh:
                self._initialize(X.shape[1])
            self.loss_ = loss
            self._record_observed_means(X, missing, sample_weight)
            self._record_training_data(X)
            epoch_tasks = EpochTasks(
                callback_context, self, **callback_data, fitted_state=lambda: self._fitted_state(X, sample_weight)
            )
            self._train(
                X, incremental, has_missing=missing is not None, sample_weight=sample_weight, epoch_tasks=epoch_tasks
            )
        except BaseException:
            # A failed fit leaves no half-fitted model behind.
            forget_fit(self)
            raise
        callback_context.call_on_fit_task_end(estimator=self, **callback_data, reconstruction_attributes={})
        return self

    def _fitted_state(self, X, sample_weight):
        """The fitted attributes of the model as it stands mid-fit, independent of the training that goes on.

        What a callback's ``fitted_estimator`` is made of: a copy of the
        network, and the noise scale fitted on the training data ``X``.
        """
        snapshot = copy.copy(self)
        snapshot.engine_ = copy.deepcopy(self.engine_)
        snapshot._fit_noise_scale(X, sample_weight)
        return {
            "engine_": snapshot.engine_,
            "noise_scale_": snapshot.noise_scale_,
            "n_iter_": self.engine_.n_iter,
            "loss_curve_": list(self.engine_.loss_curve),
        }

    def _check_training_data(self, X, loss):
        n_features = X.shape[1]
        if self.n_components > n_features and not self._allows_overcomplete:
            raise ValueError(
                f"n_components={self.n_components} must be <= n_features={n_features}: "
                f"{type(self).__name__} is undercomplete (SparseAutoencoder may be overcomplete)."
            )
        _ = loss.output_activation  # raises for a sum of incompatible losses
        if loss.requires_unit_interval and X.size:
            # nanmin: missing entries (NaN) are left out; every row has an observed one.
            low, high = np.nanmin(X), np.nanmax(X)
            if low < 0 or high > 1:
                raise ValueError(
                    f"The loss {self.loss!r} models data in [0, 1] (a Bernoulli likelihood), but X "
                    f"ranges over [{low:g}, {high:g}]; scale it, for example with MinMaxScaler."
                )

    def _check_same_network(self, n_features):
        # Continuing (partial_fit, warm_start) trains the existing network; a
        # parameter change that would build a different one cannot apply.
        wanted, fitted = self._network_params(n_features), self._fitted_network_params_
        if wanted != fitted:
            changes = ", ".join(
                f"{key} {fitted.get(key)!r} -> {wanted[key]!r}" for key in wanted if wanted[key] != fitted.get(key)
            )
            raise ValueError(
                f"Cannot continue training: the parameters now build another network than the "
                f"fitted one ({changes}). Call fit without warm_start to start afresh, or restore "
                "the parameters."
            )

    def _initialize(self, n_features):
        rng = check_random_state(self.random_state)
        init_seed, train_seed = (int(seed) for seed in rng.randint(SEED_BOUND, size=2))
        self._fitted_network_params_ = self._network_params(n_features)
        network = build_network(init_seed, **self._fitted_network_params_)
        self.engine_ = TrainingEngine(
            network,
            device=resolve_device(self.device),
            learning_rate=self.learning_rate_init,
            alpha=self.alpha,
            seed=train_seed,
            precision=self.precision,
        )

    def _record_observed_means(self, X, missing, sample_weight=None):
        """Keep each feature's count and mean of observed values over the training sets since the last fresh fit.

        The means fill missing entries of what the encoder sees, in training
        and at inference. With ``sample_weight``, the counts are sums of
        weights and the means weighted.
        """
        if sample_weight is not None:
            observed = np.ones(X.shape, dtype=bool) if missing is None else ~missing
            weights = observed * sample_weight[:, np.newaxis]
            counts = weights.sum(axis=0)
            sums = (np.where(observed, X, 0.0) * weights).sum(axis=0, dtype=np.float64)
            means = np.divide(sums, counts, out=np.zeros(X.shape[1]), where=counts > 0)
        elif missing is None:
            counts, means = np.full(X.shape[1], X.shape[0]), X.mean(axis=0, dtype=np.float64)
        else:
            counts = (~missing).sum(axis=0)
            sums = np.where(missing, 0.0, X).sum(axis=0, dtype=np.float64)
            means = np.divide(sums, counts, out=np.zeros(X.shape[1]), where=counts > 0)
        if hasattr(self, "_observed_counts_"):
            total = self._observed_counts_ + counts
            means = self._observed_means_ + (means - self._observed_means_) * (counts / total)
            counts = total
        self._observed_counts_, self._observed_means_ = counts, means

    def _fill_missing(self, X):
        """``X`` with each missing entry replaced by its feature's training mean; ``X`` itself if complete."""
        if not np.isnan(X.sum()):  # no mask of X's size for complete data
            return X
        missing = np.isnan(X)
        if not missing.any():
            return X
        return np.where(missing, self._observed_means_.astype(X.dtype), X)

    def _reconstruction_per_sample(self, output, target):
        """``loss_.per_sample(output, target)``, over the observed entries of ``target`` if training data has NaN.

        Variants compute their reconstruction term with it, so that one rule
        for missing entries serves every objective.
        """
        # A mixed table's loss leaves out missing columns itself.
        if self._training_has_missing_ and not getattr(self.loss_, "handles_missing", False):
            return observed_per_sample(self.loss_, output, target)
        return self.loss_.per_sample(output, target)

    def _train(self, X, incremental, has_missing=False, sample_weight=None, epoch_tasks=None):
        engine = self.engine_
        engine.set_hyperparameters(learning_rate=self.learning_rate_init, alpha=self.alpha, precision=self.precision)
        # Read by _reconstruction_per_sample: complete data keeps the plain loss, bit for bit.
        self._training_has_missing_ = has_missing
        fill_values = self._observed_means_ if has_missing else None
        X_train = training_tensor(X, engine.device, engine.dtype)
        X_val = weights_train = weights_val = None
        if sample_weight is not None:
            weights_train = torch.tensor(sample_weight, device=X_train.device)  # a copy: it may be read-only
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            X_train, X_val, weights_train, weights_val = self._validation_split(X_train, weights_train)
        if engine.n_iter == 0 and self._starts_at_pca():
            self._start_at_pca(
                engine.module,
                X_train if fill_values is None else fill_missing(X_train, torch.as_tensor(fill_values)),
                weights_train,
            )
        stopped_early = engine.run(
            X_train,
            objective=self._objective,
            corrupt=self._corrupt,
            batch_size=self._batch_size(X_train.shape[0]),
            n_epochs=1 if incremental else self.max_iter,
            shuffle=self.shuffle,
            X_val=X_val,
            tol=self.tol,
            n_iter_no_change=math.inf if incremental else self.n_iter_no_change,
            verbose=self.verbose,
            plain_loss=self._plain_reconstruction_loss(),
            fill_values=fill_values,
            sample_weight=weights_train,
            sample_weight_val=weights_val,
            on_epoch_begin=None if epoch_tasks is None else epoch_tasks.begin,
            on_epoch_end=None if epoch_tasks is None else epoch_tasks.end,
        )
        self.n_iter_ = engine.n_iter
        self.loss_curve_ = list(engine.loss_curve)
        self.loss_terms_curve_ = {name: list(curve) for name, curve in engine.loss_terms_curve.items()}
        self.best_loss_ = engine.best_loss
        self._fit_noise_scale(X, sample_weight)
        if early_stopping:
            self.validation_scores_ = list(engine.validation_scores)
            self.best_validation_score_ = engine.best_validation_score
        if not incremental and not stopped_early:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} epochs before the loss "
                "stopped improving; the model may not have converged.",
                ConvergenceWarning,
                stacklevel=2,
            )

    def _fit_noise_scale(self, X, sample_weight=None):
        """Fit ``noise_scale_``, each feature's scale of the loss's noise model, on the residuals of ``X``.

        ``sample_weight`` weighs each row's residuals.

        ``None`` where the noise model has no scale (Bernoulli) or the loss
        has none (a callable). The residuals are made in chunks of rows; for
        squared, absolute and ``Lp`` errors only their per-feature sums are
        kept, Huber and sums gather them (``n_samples * n_features`` float64
        values). Scales are kept above float32's resolution of the data's
        largest value, so that a feature reconstructed exactly does not give
        an infinite likelihood.
        """
        loss = self.loss_
        if not (loss.has_noise_model and loss.has_scale):
            self.noise_scale_ = None
            return

        largest = [0.0]  # the largest magnitude in X, seen chunk by chunk

        def residual_chunks():
            for start in range(0, X.shape[0], NOISE_SCALE_CHUNK_ROWS):
                chunk = tensor_view(X[start : start + NOISE_SCALE_CHUNK_ROWS])
                largest[0] = max(largest[0], float(chunk.abs().nan_to_num().max()))
                # Missing entries are filled for the encoder, as at inference;
                # their residuals (NaN) are left out of the fit.
                filled = self._fill_missing(chunk.numpy())
                reconstruction = self.engine_.predict(self._reconstruct, filled, NUMPY_DTYPES[self.engine_.dtype])
                yield chunk.double() - torch.from_numpy(reconstruction).double()

        weights = None if sample_weight is None else torch.tensor(sample_weight)
        scale = _fit_scale_in_chunks(loss, residual_chunks(), sample_weight=weights).numpy()
        resolution = max(np.finfo(np.float32).eps * largest[0], np.finfo(np.float32).tiny)
        self.noise_scale_ = np.maximum(scale, resolution)

    def _starts_at_pca(self):
        """Whether a new model starts from PCA: ``init="pca"`` and a decoder that outputs the reconstruction.

        A decoder that outputs logits (cross-entropy) starts at random; a
        mixed table's starts with PCA's reconstruction of its indicators as
        logits.
        """
        return self.init == "pca" and self.loss_.output_activation in ("identity", "mixed")

    def _start_at_pca(self, module, X, sample_weight=None):
        """Set the new network ``module`` to PCA's solution on the training tensor ``X``."""
        module.initialize_as_pca(X, sample_weight=sample_weight)

    def _validation_split(self, X, sample_weight=None):
        """``X_train, X_val, sample_weight_train, sample_weight_val``: a random ``validation_fraction`` held out."""
        n_samples = X.shape[0]
        n_val = max(1, round(self.validation_fraction * n_samples))
        if n_samples - n_val < 1:
            raise ValueError(f"early_stopping needs at least 2 samples to hold out a validation set; got {n_samples}.")
        generator = self.engine_.generator
        order = torch.randperm(n_samples, generator=generator, device=generator.device).to(X.device)
        if sample_weight is None:
            return X[order[n_val:]], X[order[:n_val]], None, None
        sample_weight = sample_weight.to(X.device)
        return X[order[n_val:]], X[order[:n_val]], sample_weight[order[n_val:]], sample_weight[order[:n_val]]

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            # Enough steps per epoch on small data, full-width batches on large data.
            batch_size = int(np.clip(n_samples // AUTO_BATCHES_PER_EPOCH, *AUTO_BATCH_SIZE_RANGE))
        else:
            batch_size = self.batch_size
        return min(batch_size, n_samples)

    # -- hooks for variants ------------------------------------------------

    def _network_params(self, n_features):
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, Integral) else tuple(hidden)
        if any(not isinstance(size, Integral) or size < 1 for size in hidden):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes!r}.")
        return {
            "n_features": n_features,
            "n_components": self.n_components,
            "hidden_layer_sizes": hidden,
            "activation": self.activation,
            "linear_path": self.init == "pca",
            # The weights' dtype; bfloat16 trains float32 weights under autocast.
            "dtype": "float64" if self.precision == "float64" else "float32",
        }

    def _plain_reconstruction_loss(self):
        """``loss_`` if the objective is exactly it (no penalty, default forward), else None.

        The engine then computes the gradient by hand; a variant that overrides
        ``_objective`` or ``_penalties`` keeps autograd.
        """
        cls = type(self)
        if cls._objective is BaseAutoencoder._objective and cls._penalties is BaseAutoencoder._penalties:
            return self.loss_
        return None

    def _record_training_data(self, X):
        """Keep what the hooks need to know of the training set ``X`` (nothing here)."""

    def _corrupt(self, X, generator):
        """The training input for the clean batch ``X`` (no corruption here)."""
        return X

    def _penalties(self, module, inputs, code, sample_weight=None):
        """Extra loss terms by name, each a scalar tensor (none here)."""
        return {}

    def _objective(self, module, inputs, target, generator, sample_weight=None):
        """Training loss terms: reconstruction of ``target`` from ``inputs``, plus penalties."""
        code = module.encoder(inputs)
        output = module.decoder(code)
        terms = {"reconstruction": batch_mean(self._reconstruction_per_sample(output, target), sample_weight)}
        terms.update(self._penalties(module, inputs, code, sample_weight))
        return terms

    def _encode(self, module, x):
        """The code of the batch ``x``."""
        return module.encoder(x)

    def _decode(self, module, code):
        """The reconstruction decoded from the batch of codes ``code``."""
        return self.loss_.reconstruct(module.decoder(code))

    def _reconstruct(self, module, x):
        return self._decode(module, self._encode(module, x))

    # -- mixed-type tables (skae/_columns.py) --------------------------------

    def _validate_table(self, X, *, reset, allow_nan=True):
        """``X`` as the float matrix the network reads.

        A table with categorical columns (``categorical_features``) becomes
        its encoding: the layout is fitted when ``reset`` (a fresh fit) and
        kept otherwise. Other data is validated as numeric, as it always
        was. ``reset=None``: inference (``allow_nan`` says whether numeric
        data may hold NaN; an encoding may, its loss leaves it out).
        """
        layout = None if reset else getattr(self, "_column_layout_", None)
        if reset:
            mask = _columns.categorical_mask(X, self.categorical_features, type(self).__name__)
            if mask is None:
                self._column_layout_ = None
                return validate_training_data(self, X, reset=True)
        elif layout is None:
            if reset is None:
                all_finite = "allow-nan" if allow_nan else True
                return validate_data(self, X, reset=False, dtype=[np.float32, np.float64], ensure_all_finite=all_finite)
            return validate_training_data(self, X, reset=False)
        if not hasattr(X, "iloc"):
            # An array of objects (strings beside numbers), kept as it is.
            X = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=1 if reset is not None else 0)
        elif X.shape[0] < 1 and reset is not None:
            raise ValueError(f"Found a table with 0 rows while a minimum of 1 is required by {type(self).__name__}.")
        _check_feature_names(self, X, reset=bool(reset))
        _check_n_features(self, X, reset=bool(reset))
        if not reset:
            return _columns.encode(self._column_layout_, X, self.handle_unknown)
        numeric_loss = get_loss(self.loss)
        layout = _columns.fit_layout(
            X,
            mask,
            max_categories=self.max_categories,
            min_frequency=self.min_frequency,
            unit_interval=numeric_loss.requires_unit_interval,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        encoded = _columns.encode(layout, X, self.handle_unknown)
        n_numeric = _columns.loss_structure(layout)[0]
        layout["numeric_scales"] = None
        if n_numeric and numeric_loss.has_noise_model and numeric_loss.has_scale:
            scales = _columns.numeric_noise_scales(encoded, self.n_components, numeric_loss, n_numeric)
            layout["numeric_scales"] = scales
        self._column_layout_ = layout
        return encoded

    def _table_loss(self, loss):
        """``loss``, or for a mixed table the per-column likelihoods with ``loss`` on its numeric columns."""
        if getattr(self, "_column_layout_", None) is None:
            return loss
        n_numeric, n_binary, category_counts = _columns.loss_structure(self._column_layout_)
        return MixedLoss(
            loss,
            n_numeric=n_numeric,
            n_binary=n_binary,
            category_counts=category_counts,
            numeric_scales=self._column_layout_["numeric_scales"],
        )

    def _as_table(self, reconstruction):
        """A mixed table's reconstruction as the table (a DataFrame if fitted on one); other data as it is."""
        if getattr(self, "_column_layout_", None) is None:
            return reconstruction
        return _columns.decode(self._column_layout_, reconstruction, as_frame=hasattr(self, "feature_names_in_"))

    def _column_residuals(self, X):
        """Per column, residuals whose squares are :meth:`reconstruction_error_per_feature`; float64.

        Reconstruction minus ``X`` for numeric data; for a mixed table, one
        column per table column (the root of a categorical column's
        negative log-likelihood). What the anomaly detector's statistics
        are made of.
        """
        X = self._validate_table(X, reset=None)
        reconstruction = self.engine_.predict(self._reconstruct, self._fill_missing(X), np.float64)
        if getattr(self, "_column_layout_", None) is not None:
            return _columns.column_residuals(self._column_layout_, reconstruction, X)
        return np.subtract(reconstruction, X, dtype=np.float64)

    # -- inference ---------------------------------------------------------

    def transform(self, X):
        """Encode ``X`` to its latent code.

        Missing entries (NaN) are filled with their feature's mean on the
        training data, as in training; a row with no observed entry gets
        the code of the training means.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode; may hold NaN.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The codes, in the input's float dtype.
        """
        check_is_fitted(self)
        X = self._validate_table(X, reset=None)
        return self.engine_.predict(self._encode, self._fill_missing(X), X.dtype)

    def inverse_transform(self, X):
        """Decode latent codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
            The reconstructions, in the codes' float dtype.
        """
        check_is_fitted(self)
        codes = check_array(X, dtype=[np.float32, np.float64])
        if codes.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform expects codes with n_components={self.n_components} columns, got {codes.shape[1]}."
            )
        return self._as_table(self.engine_.predict(self._decode, codes, codes.dtype))

    def reconstruction_error_per_feature(self, X):
        """Squared reconstruction error of every sample and feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct; may hold NaN (see :meth:`transform`).

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features), float64
            ``(x_hat - x) ** 2`` elementwise; NaN where ``x`` is missing.
        """
        check_is_fitted(self)
        X = self._validate_table(X, reset=None)
        reconstruction = self.engine_.predict(self._reconstruct, self._fill_missing(X), np.float64)
        if getattr(self, "_column_layout_", None) is not None:
            return _columns.column_errors(self._column_layout_, reconstruction, X)
        return np.square(reconstruction - X)

    def score_samples(self, X):
        """Compute the log-likelihood of each sample under the model.

        The model is the one the training ``loss`` stands for: each feature
        is its reconstruction plus independent noise of the loss's noise
        model, with the scale ``noise_scale_`` fitted on the training
        residuals (a Gaussian for squared error, a Laplacian for absolute
        error; see :mod:`skae.losses`). As ``PCA.score_samples``, higher
        means more likely, and the log-densities of models trained with
        different losses compare on the same data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            ``sum_f log f(x_f - x_hat_f; s_f)`` over features, per sample.

        Raises
        ------
        ValueError
            If the loss has no noise model (a callable): score with a scorer
            of :mod:`skae.metrics` instead.
        """
        check_is_fitted(self)
        X = self._validate_table(X, reset=None, allow_nan=False)
        loss = self._scoring_loss()
        if X.dtype == np.float32:
            # The network's own precision: the log-likelihood is taken on the
            # device batch by batch, and only the scores come back.
            scale = self._noise_scale_tensor(torch.float32, self.engine_.device)

            def log_likelihood(module, x):
                return loss.log_likelihood(self._reconstruct(module, x).float(), x, scale).sum(dim=1)

            return self.engine_.predict(log_likelihood, X, np.float64)
        scale = self._noise_scale_tensor(torch.float64, "cpu")
        scores = np.empty(X.shape[0])
        # Float64 input is scored against itself, not its float32 rounding.
        # Chunked, so no (n_samples, n_features) float64 array is ever built.
        for start in range(0, X.shape[0], INFERENCE_BATCH_SIZE):
            chunk = X[start : start + INFERENCE_BATCH_SIZE]
            # Filled: a mixed table may have missing entries, which its loss leaves out.
            filled = self._fill_missing(chunk)
            reconstruction = torch.from_numpy(self.engine_.predict(self._reconstruct, filled, np.float64))
            log_likelihood = loss.log_likelihood(reconstruction, tensor_view(chunk), scale)
            scores[start : start + chunk.shape[0]] = log_likelihood.sum(dim=1).numpy()
        return scores

    def _scoring_loss(self):
        if not self.loss_.has_noise_model:
            raise ValueError(
                f"score and score_samples are log-likelihoods under the loss's noise model, and the "
                f"loss {self.loss!r} has none (a callable says nothing of its noise). Pass a scorer of "
                "skae.metrics as scoring=, such as neg_mean_squared_reconstruction_error, or subclass "
                "skae.losses.Loss and implement elementwise."
            )
        return self.loss_

    def _noise_scale_tensor(self, dtype, device):
        if self.noise_scale_ is None:
            return None
        return torch.as_tensor(self.noise_scale_, dtype=dtype, device=device)

    def score(self, X, y=None, sample_weight=None):
        """Compute the mean log-likelihood of the samples of ``X``.

        The value used by ``GridSearchCV(scoring=None)``, as ``PCA.score`` is:
        the mean of :meth:`score_samples`, the log-density of each sample
        under the noise model of the training ``loss`` with per-feature
        scales fitted on the training residuals. Held-out log-likelihoods of
        models trained with different losses compare, so a grid over
        ``loss`` picks the loss whose noise model fits the data (the user
        guide's "Searching the loss"). They do not choose ``n_components``:
        a wider code passes part of each row's own noise through and always
        scores higher; score a downstream task in a ``Pipeline`` instead.
        Minus the mean squared error, the score before, is
        ``skae.metrics.neg_mean_squared_reconstruction_error``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            The mean log-likelihood per sample (summed over features).

        Raises
        ------
        ValueError
            If the loss has no noise model (a callable).
        """
        scores = self.score_samples(X)
        return float(np.average(scores, weights=check_sample_weight(scores, sample_weight)))

    # -- properties --------------------------------------------------------

    @property
    def module_(self):
        """The fitted ``torch.nn.Module`` (an encoder and a decoder)."""
        check_is_fitted(self)
        return self.engine_.module

    @property
    def encoder_(self):
        """The fitted encoder module."""
        return self.module_.encoder

    @property
    def decoder_(self):
        """The fitted decoder module."""
        return self.module_.decoder

    @property
    def device_(self):
        """The device the model lives on, as a string (``"cpu"``, ``"cuda:0"``...)."""
        check_is_fitted(self)
        return str(self.engine_.device)

    # -- state as data (skae.save and skae.load) ---------------------------

    def _get_fitted_state(self):
        """Every attribute but the parameters, as data: what :func:`skae.save` writes besides ``get_params``.

        The fitted attributes (and settings such as ``set_output``'s), with
        the training engine as its
        :meth:`~skae._engine.TrainingEngine.state_dict`: plain values, NumPy
        arrays, tensors and losses, no code but the callbacks of
        ``set_callbacks``, if any, which :func:`skae.save` leaves out.
        Variants need not override it.

        Returns
        -------
        state : dict
            Attribute name to value. A new dictionary, but, as torch's
            ``state_dict``, the values are the estimator's own (arrays,
            lists): read them, or copy them before changing them.
        """
        parameters = self.get_params(deep=False)
        state = {name: value for name, value in vars(self).items() if name not in parameters}
        if "engine_" in state:
            state["engine_"] = state["engine_"].state_dict()
        return state

    def _set_fitted_state(self, state):
        """Restore what :meth:`_get_fitted_state` returned, on an estimator built with the saved parameters.

        The network is rebuilt from its recorded shape and given the saved
        weights, so no module object is ever read from a file.

        Parameters
        ----------
        state : dict
            What :meth:`_get_fitted_state` returned; the dictionary is not
            modified, and its values become the estimator's own (pass a
            deep copy to restore another estimator's state in memory).

        Returns
        -------
        self : object
            The estimator, fitted as the saved one was.
        """
        state = dict(state)
        engine_state = state.pop("engine_", None)
        vars(self).update(state)
        if engine_state is not None:
            network = build_network(0, **self._fitted_network_params_)
            engine = TrainingEngine(
                network, device="cpu", learning_rate=self.learning_rate_init, alpha=self.alpha, seed=0
            )
            engine.load_state_dict(engine_state)  # the saved device, hyperparameters and history
            self.engine_ = engine
        return self

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # NaN marks a missing entry: trained on the observed ones, filled for the encoder.
        tags.input_tags.allow_nan = True
        return tags
