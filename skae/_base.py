"""The scikit-learn base class shared by every skae autoencoder."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._engine import (
    AUTOCAST_DTYPES,
    INFERENCE_BATCH_SIZE,
    TrainingEngine,
    fill_missing,
    observed_per_sample,
    resolve_device,
    training_tensor,
)
from ._network import ACTIVATIONS, build_network
from .losses import _fit_scale_in_chunks, get_loss

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


def fit_or_forget(estimator, fit, X):
    """``fit(X)`` on a fresh ``estimator``; a failure leaves it with no fitted attribute."""
    forget_fit(estimator)
    try:
        return fit(X)
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


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
    - ``_record_training_data(X)``: statistics of each training set (every
      ``fit`` and ``partial_fit`` call) the hooks need, kept as fitted
      attributes;
    - ``_corrupt(X, generator)``: the training input made from a clean batch;
    - ``_penalties(module, inputs, code)``: extra loss terms, by name;
    - ``_objective(module, inputs, target, generator)``: the whole objective,
      for models whose forward pass differs (the variational autoencoder);
      it takes its reconstruction term with ``_reconstruction_per_sample``,
      which leaves out missing entries (NaN in ``target``; ``inputs`` has
      them filled with the training means);
    - ``_encode(module, x)`` and ``_decode(module, code)``: inference, what
      ``transform`` and ``inverse_transform`` compute for one batch.

    ``module`` is the network (at inference, the engine's buffered view of
    it) and ``generator`` the engine's torch generator, the one source of
    randomness in training.

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
        "precision": [StrOptions(set(AUTOCAST_DTYPES))],
        "init": [StrOptions({"pca", "random"})],
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

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the autoencoder to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
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

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, incremental=True)

    def _fit(self, X, incremental):
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
            X = validate_training_data(self, X, reset=fresh)
            if not fresh:
                self._check_same_network(X.shape[1])
            missing = check_observed(X, None if fresh else self._observed_counts_)
            loss = get_loss(self.loss)
            self._check_training_data(X, loss)
        except BaseException:
            # Bad input changes nothing a continued fit would keep, and leaves
            # no attribute (feature_names_in_, say) on a fresh one.
            if fresh:
                forget_fit(self)
            raise
        try:
            if fresh:
                self._initialize(X.shape[1])
            self.loss_ = loss
            self._record_observed_means(X, missing)
            self._record_training_data(X)
            self._train(X, incremental, has_missing=missing is not None)
        except BaseException:
            # A failed fit leaves no half-fitted model behind.
            forget_fit(self)
            raise
        return self

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

    def _record_observed_means(self, X, missing):
        """Keep each feature's count and mean of observed values over the training sets since the last fresh fit.

        The means fill missing entries of what the encoder sees, in training
        and at inference.
        """
        if missing is None:
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
        if self._training_has_missing_:
            return observed_per_sample(self.loss_, output, target)
        return self.loss_.per_sample(output, target)

    def _train(self, X, incremental, has_missing=False):
        engine = self.engine_
        engine.set_hyperparameters(learning_rate=self.learning_rate_init, alpha=self.alpha, precision=self.precision)
        # Read by _reconstruction_per_sample: complete data keeps the plain loss, bit for bit.
        self._training_has_missing_ = has_missing
        fill_values = self._observed_means_ if has_missing else None
        X_train = training_tensor(X, engine.device)
        X_val = None
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            X_train, X_val = self._validation_split(X_train)
        if engine.n_iter == 0 and self._starts_at_pca():
            engine.module.initialize_as_pca(
                X_train if fill_values is None else fill_missing(X_train, torch.as_tensor(fill_values))
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
        )
        self.n_iter_ = engine.n_iter
        self.loss_curve_ = list(engine.loss_curve)
        self.loss_terms_curve_ = {name: list(curve) for name, curve in engine.loss_terms_curve.items()}
        self.best_loss_ = engine.best_loss
        self._fit_noise_scale(X)
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

    def _fit_noise_scale(self, X):
        """Fit ``noise_scale_``, each feature's scale of the loss's noise model, on the residuals of ``X``.

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
                chunk = torch.from_numpy(X[start : start + NOISE_SCALE_CHUNK_ROWS])
                largest[0] = max(largest[0], float(chunk.abs().nan_to_num().max()))
                # Missing entries are filled for the encoder, as at inference;
                # their residuals (NaN) are left out of the fit.
                reconstruction = self.engine_.predict(self._reconstruct, self._fill_missing(chunk.numpy()), np.float32)
                yield chunk.double() - torch.from_numpy(reconstruction).double()

        scale = _fit_scale_in_chunks(loss, residual_chunks()).numpy()
        resolution = max(np.finfo(np.float32).eps * largest[0], np.finfo(np.float32).tiny)
        self.noise_scale_ = np.maximum(scale, resolution)

    def _starts_at_pca(self):
        """Whether a new model starts from PCA: ``init="pca"`` and a decoder that outputs the reconstruction.

        A decoder that outputs logits (cross-entropy) starts at random.
        """
        return self.init == "pca" and self.loss_.output_activation == "identity"

    def _validation_split(self, X):
        n_samples = X.shape[0]
        n_val = max(1, round(self.validation_fraction * n_samples))
        if n_samples - n_val < 1:
            raise ValueError(f"early_stopping needs at least 2 samples to hold out a validation set; got {n_samples}.")
        generator = self.engine_.generator
        order = torch.randperm(n_samples, generator=generator, device=generator.device).to(X.device)
        return X[order[n_val:]], X[order[:n_val]]

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

    def _penalties(self, module, inputs, code):
        """Extra loss terms by name, each a scalar tensor (none here)."""
        return {}

    def _objective(self, module, inputs, target, generator):
        """Training loss terms: reconstruction of ``target`` from ``inputs``, plus penalties."""
        code = module.encoder(inputs)
        output = module.decoder(code)
        terms = {"reconstruction": self._reconstruction_per_sample(output, target).mean()}
        terms.update(self._penalties(module, inputs, code))
        return terms

    def _encode(self, module, x):
        """The code of the batch ``x``."""
        return module.encoder(x)

    def _decode(self, module, code):
        """The reconstruction decoded from the batch of codes ``code``."""
        return self.loss_.reconstruct(module.decoder(code))

    def _reconstruct(self, module, x):
        return self._decode(module, self._encode(module, x))

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
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64], ensure_all_finite="allow-nan")
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
        return self.engine_.predict(self._decode, codes, codes.dtype)

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
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64], ensure_all_finite="allow-nan")
        reconstruction = self.engine_.predict(self._reconstruct, self._fill_missing(X), np.float64)
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
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
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
            reconstruction = torch.from_numpy(self.engine_.predict(self._reconstruct, chunk, np.float64))
            log_likelihood = loss.log_likelihood(reconstruction, torch.from_numpy(chunk), scale)
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

    def score(self, X, y=None):
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

        Returns
        -------
        score : float
            The mean log-likelihood per sample (summed over features).

        Raises
        ------
        ValueError
            If the loss has no noise model (a callable).
        """
        return float(np.mean(self.score_samples(X)))

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

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # NaN marks a missing entry: trained on the observed ones, filled for the encoder.
        tags.input_tags.allow_nan = True
        return tags
