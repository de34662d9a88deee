"""The denoising autoencoder: reconstructs clean inputs from corrupted ones."""

import warnings
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from . import _columns
from ._base import BaseAutoencoder
from ._docs import fill_doc

NOISES = ("gaussian", "masking", "salt_and_pepper")
# Noises whose noise_level is a probability.
PROBABILITY_NOISES = ("masking", "salt_and_pepper")


@fill_doc
class DenoisingAutoencoder(BaseAutoencoder):
    """Autoencoder trained to reconstruct clean inputs from corrupted copies.

    Every training batch ``x`` is corrupted afresh to ``x_tilde ~ C(x)`` and
    the network learns to undo the corruption:

    ``min  mean_i loss(g(f(x_tilde_i)), x_i)``

    where ``f`` is the encoder and ``g`` the decoder. Because the identity map
    no longer solves the task, the code has to capture the structure of the
    data (which pixels go together) rather than copy inputs; the learnt codes
    tend to be more robust features, and :meth:`inverse_transform` of
    :meth:`transform` cleans inputs that carry the same kind of noise.
    Corruption happens only while training: :meth:`transform`,
    :meth:`inverse_transform` and :meth:`score_samples` see the input as given.

    Use it instead of :class:`AutoencoderTransformer` to denoise data, or when
    codes should be stable under small perturbations of the input.

    Parameters
    ----------
    {{n_components}}
    noise : {"gaussian", "masking", "salt_and_pepper"} or callable, \
            default="gaussian"
        The corruption applied to each training batch:

        - ``"gaussian"``: add Gaussian noise of standard deviation
          ``noise_level`` times each feature's standard deviation over the
          training data (``data_std_``), so that the corruption is the same
          for every feature whatever its scale;
        - ``"masking"``: set each entry to 0 with probability ``noise_level``;
        - ``"salt_and_pepper"``: set each entry, with probability
          ``noise_level``, to its feature's minimum or maximum over the
          training data (each with probability 1/2);
        - a callable ``(x, generator) -> x_tilde`` taking a float32
          ``torch.Tensor`` batch and a ``torch.Generator``, and returning a
          tensor of the same shape. Draw random numbers from ``generator``
          only (``torch.rand(..., generator=generator, device=x.device)``) so
          that ``random_state`` makes the fit reproducible.

        On a table with categorical columns (see :ref:`mixed_types`) the
        built-in noises act column by column, so that every corrupted row
        is still a row of the table: ``"gaussian"`` perturbs the numeric
        columns only (standardised, so ``noise_level`` is in standard
        deviations), ``"masking"`` hides whole columns as missing values
        are hidden (filled with the training mean, for a categorical column
        its levels' frequencies), and ``"salt_and_pepper"`` gives a hit
        categorical column a level drawn at random.
    noise_level : float, default=0.1
        The standard deviation of ``"gaussian"`` noise in units of each
        feature's standard deviation, or the corruption
        probability of ``"masking"`` and ``"salt_and_pepper"`` (then at most
        1). Ignored by a callable ``noise``.
    {{hidden_layer_sizes}}
    {{activation}}
    {{loss}}
    {{batch_size}}
    {{learning_rate_init}}
    {{max_iter}}
    {{alpha}}
    {{shuffle}}
    {{tol}}
    {{early_stopping}}
        The validation loss is taken on clean inputs.
    {{validation_fraction}}
    {{n_iter_no_change}}
    {{random_state}}
        It also seeds the corruption.
    {{verbose}}
    {{warm_start}}
    {{device}}
    {{precision}}
    {{init}}
    {{categorical_features}}

    Attributes
    ----------
    {{n_features_in_}}
    {{feature_names_in_}}
    data_min_ : ndarray of shape (n_features_in_,)
        Per-feature minimum of the training data (over every chunk since the
        last fresh fit); the "pepper" value of ``"salt_and_pepper"`` noise.
    data_max_ : ndarray of shape (n_features_in_,)
        Per-feature maximum of the training data; the "salt" value.
    data_std_ : ndarray of shape (n_features_in_,)
        Per-feature standard deviation of the training data's observed
        entries (over every chunk since the last fresh fit, unweighted);
        the unit of ``"gaussian"`` noise.
    {{n_iter_}}
    loss_curve_ : list of float
        Training loss per epoch, on corrupted inputs.
    loss_terms_curve_ : dict of str to list of float
        Each term of the training loss per epoch (``"reconstruction"``).
    {{best_loss_}}
    {{validation_scores_}}
    {{best_validation_score_}}
    {{loss_}}
    {{engine_}}
    {{module_, encoder_, decoder_}}
    {{device_}}

    See Also
    --------
    AutoencoderTransformer : The same model trained on clean inputs.
    ContractiveAutoencoder : Penalises the encoder's sensitivity analytically
        instead of by sampling noise.
    SparseAutoencoder : Penalises the code's activity; may be overcomplete.

    Notes
    -----
    Vincent et al., "Extracting and composing robust features with denoising
    autoencoders", ICML 2008. With small Gaussian noise and squared error,
    denoising approximates a contractive penalty on the whole
    reconstruction map (Alain & Bengio, 2014).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> dae = DenoisingAutoencoder(n_components=8, noise="masking",
    ...                            noise_level=0.3, max_iter=5, random_state=0)
    >>> dae.fit_transform(X / 16).shape
    (1797, 8)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "noise": [StrOptions(set(NOISES)), callable],
        "noise_level": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.1,
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
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            loss=loss,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            max_iter=max_iter,
            alpha=alpha,
            shuffle=shuffle,
            tol=tol,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            device=device,
            precision=precision,
            init=init,
            categorical_features=categorical_features,
            max_categories=max_categories,
            min_frequency=min_frequency,
            handle_unknown=handle_unknown,
        )
        self.noise = noise
        self.noise_level = noise_level

    def _check_training_data(self, X, loss):
        super()._check_training_data(X, loss)
        # Checked here, before any state changes, so that a bad value never
        # discards a model that partial_fit or warm_start would continue.
        if self.noise in PROBABILITY_NOISES and self.noise_level > 1:
            raise InvalidParameterError(
                f"noise_level is a probability for noise={self.noise!r} and must be in "
                f"[0, 1]; got {self.noise_level!r}."
            )

    def _record_training_data(self, X):
        # Salt-and-pepper values: the extremes of all training data seen since
        # the last fresh fit (a fresh fit forgets the previous ones).
        # Missing entries (NaN) are left out: fmin and fmax skip a feature
        # missing from a whole chunk, which an earlier one has seen.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of a chunk
            data_min, data_max = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        if hasattr(self, "data_min_"):
            data_min = np.fmin(self.data_min_, data_min)
            data_max = np.fmax(self.data_max_, data_max)
        self.data_min_, self.data_max_ = data_min, data_max
        # Gaussian noise in units of each feature's spread: 0.1 in the data's
        # units drowned the features of small spread of min-max scaled data
        # (34_smtp's test error went to 15.7 times the plain model's).
        moments = _column_moments(X)
        if hasattr(self, "_data_moments_"):
            moments = _pooled_moments(self._data_moments_, moments)
        self._data_moments_ = moments
        count, _, squares = moments
        self.data_std_ = np.sqrt(np.divide(squares, count, out=np.zeros_like(squares), where=count > 0))

    def _corrupt(self, X, generator):
        """A freshly corrupted copy of the clean batch ``X``, drawn from ``generator``."""
        if callable(self.noise):
            corrupted = self.noise(X, generator)
            if not isinstance(corrupted, torch.Tensor) or corrupted.shape != X.shape:
                shape = getattr(corrupted, "shape", type(corrupted).__name__)
                raise ValueError(
                    f"A callable noise must return a tensor of the batch's shape {tuple(X.shape)}; got {shape}."
                )
            return corrupted
        level = self.noise_level
        if getattr(self, "_column_layout_", None) is not None:
            return self._corrupt_table(X, generator)
        if self.noise == "gaussian":
            noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
            return X + noise * torch.as_tensor(level * self.data_std_, dtype=X.dtype, device=X.device)
        hit = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype) < level
        if self.noise == "masking":
            return X.masked_fill(hit, 0.0)
        # salt_and_pepper: a second draw picks the minimum or the maximum.
        salt = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype) < 0.5
        low = torch.as_tensor(self.data_min_, dtype=X.dtype, device=X.device)
        high = torch.as_tensor(self.data_max_, dtype=X.dtype, device=X.device)
        return torch.where(hit, torch.where(salt, high, low), X)

    def _corrupt_table(self, X, generator):
        """Column-wise corruption of a batch of a mixed table's encoding (see ``noise``)."""
        level, n_numeric = self.noise_level, self.loss_.n_numeric
        if self.noise == "gaussian":
            noise = torch.randn((X.shape[0], n_numeric), generator=generator, device=X.device, dtype=X.dtype)
            return torch.cat([X[:, :n_numeric] + level * noise, X[:, n_numeric:]], dim=1)
        column_of_feature = torch.as_tensor(_columns.feature_columns(self._column_layout_), device=X.device)
        n_columns = len(self._column_layout_["order"])
        hit = torch.rand((X.shape[0], n_columns), generator=generator, device=X.device, dtype=X.dtype) < level
        hit = hit[:, column_of_feature]
        if self.noise == "masking":
            means = torch.as_tensor(self._observed_means_, dtype=X.dtype, device=X.device)
            return torch.where(hit, means, X)
        # salt_and_pepper: numeric features as on numeric data; a categorical column gets a random level.
        salt = torch.rand((X.shape[0], n_numeric), generator=generator, device=X.device, dtype=X.dtype) < 0.5
        low = torch.as_tensor(self.data_min_[:n_numeric], dtype=X.dtype, device=X.device)
        high = torch.as_tensor(self.data_max_[:n_numeric], dtype=X.dtype, device=X.device)
        replacement = [torch.where(salt, high, low)]
        widths = _columns.block_widths(self._column_layout_)[n_numeric:]
        for width in widths:
            n_levels = 2 if width == 1 else width
            levels = torch.randint(n_levels, (X.shape[0],), generator=generator, device=X.device)
            block = levels[:, None].to(X.dtype) if width == 1 else F.one_hot(levels, width).to(X.dtype)
            replacement.append(block)
        return torch.where(hit, torch.cat(replacement, dim=1), X)


def _column_moments(X):
    """``[count, mean, sum of squared deviations]`` of each column's observed (non-NaN) entries, stacked."""
    observed = ~np.isnan(X)
    count = observed.sum(axis=0).astype(np.float64)
    total = np.where(observed, X, 0.0).sum(axis=0, dtype=np.float64)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    squares = (np.where(observed, X - mean, 0.0) ** 2).sum(axis=0, dtype=np.float64)
    return np.stack([count, mean, squares])


def _pooled_moments(first, second):
    """The moments of two sets of rows together, from each set's (Chan et al.'s pairwise update)."""
    (count_a, mean_a, squares_a), (count_b, mean_b, squares_b) = first, second
    count = count_a + count_b
    share_b = np.divide(count_b, count, out=np.zeros_like(count), where=count > 0)
    delta = mean_b - mean_a
    mean = mean_a + delta * share_b
    squares = squares_a + squares_b + delta**2 * count_a * share_b
    return np.stack([count, mean, squares])
