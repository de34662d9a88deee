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

from ._engine import AUTOCAST_DTYPES, INFERENCE_BATCH_SIZE, TrainingEngine, resolve_device, training_tensor
from ._network import ACTIVATIONS, build_network
from .losses import get_loss

SEED_BOUND = np.iinfo(np.int32).max
# batch_size="auto": n_samples // AUTO_BATCHES_PER_EPOCH rows, clipped to the range.
AUTO_BATCHES_PER_EPOCH = 40
AUTO_BATCH_SIZE_RANGE = (32, 256)


def forget_fit(estimator):
    """Delete every fitted attribute (``name_``), leaving ``estimator`` unfitted.

    Called when a fit fails, so that no half-fitted estimator is left behind.
    """
    for name in [name for name in vars(estimator) if name.endswith("_") and not name.startswith("__")]:
        delattr(estimator, name)


def validate_training_data(estimator, X, *, reset, dtype=(np.float32, np.float64)):
    """``validate_data`` for training: ``dtype`` (the first for other inputs), at least one sample and one feature.

    A table without columns gets an error that says so (NumPy's own, from a
    DataFrame with no columns, does not).
    """
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is required "
            f"by {type(estimator).__name__}."
        )
    return validate_data(estimator, X, reset=reset, dtype=list(dtype), ensure_min_samples=1)


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
            self._record_training_data(X)
            self._train(X, incremental)
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
        if loss.requires_unit_interval and X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"The loss {self.loss!r} models data in [0, 1] (a Bernoulli likelihood), but X "
                f"ranges over [{X.min():g}, {X.max():g}]; scale it, for example with MinMaxScaler."
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

    def _train(self, X, incremental):
        engine = self.engine_
        engine.set_hyperparameters(learning_rate=self.learning_rate_init, alpha=self.alpha, precision=self.precision)
        X_train = training_tensor(X, engine.device)
        X_val = None
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            X_train, X_val = self._validation_split(X_train)
        if engine.n_iter == 0 and self._starts_at_pca():
            engine.module.initialize_as_pca(X_train)
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
        )
        self.n_iter_ = engine.n_iter
        self.loss_curve_ = list(engine.loss_curve)
        self.loss_terms_curve_ = {name: list(curve) for name, curve in engine.loss_terms_curve.items()}
        self.best_loss_ = engine.best_loss
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
        terms = {"reconstruction": self.loss_.per_sample(output, target).mean()}
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

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The codes, in the input's float dtype.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return self.engine_.predict(self._encode, X, X.dtype)

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
            Data to reconstruct.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features), float64
            ``(x_hat - x) ** 2`` elementwise.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        reconstruction = self.engine_.predict(self._reconstruct, X, np.float64)
        return np.square(reconstruction - X)

    def score_samples(self, X):
        """Compute minus the mean squared reconstruction error of each sample.

        Higher means better reconstructed, the scikit-learn convention for
        outlier scores. The metric is squared error whatever the training
        ``loss``, so scores of models trained with different losses compare.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            ``-mean((x_hat - x) ** 2)`` over features, per sample.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        if X.dtype == np.float32:
            # The network's own precision: the error is taken on the device
            # batch by batch, and only the scores come back.
            return self.engine_.predict(self._negative_mean_squared_error, X, np.float64)
        scores = np.empty(X.shape[0])
        # Float64 input is scored against itself, not its float32 rounding.
        # Chunked, so no (n_samples, n_features) float64 array is ever built.
        for start in range(0, X.shape[0], INFERENCE_BATCH_SIZE):
            chunk = X[start : start + INFERENCE_BATCH_SIZE]
            reconstruction = self.engine_.predict(self._reconstruct, chunk, np.float32)
            error = np.subtract(reconstruction, chunk, dtype=np.float64)
            scores[start : start + chunk.shape[0]] = -np.einsum("ij,ij->i", error, error) / X.shape[1]
        return scores

    def _negative_mean_squared_error(self, module, x):
        # The reconstruction is a buffer of this batch or a fresh tensor (float()
        # copies only bfloat16), so it is overwritten in place.
        error = self._reconstruct(module, x).float().sub_(x).square_()
        return error.sum(dim=1).div_(-x.shape[1])

    def score(self, X, y=None):
        """Compute minus the mean squared reconstruction error over ``X``.

        The value used by ``GridSearchCV(scoring=None)``. It is the same metric
        whatever the ``loss`` parameter, so a grid over losses compares like
        with like. Note that a reconstruction score always favours a larger
        ``n_components``; to choose the latent size, score a downstream task
        in a ``Pipeline`` instead (see the user guide).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-mean((x_hat - x) ** 2)`` over samples and features.
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
        return tags
