"""The plain undercomplete autoencoder."""

from ._base import BaseAutoencoder
from ._docs import fill_doc


@fill_doc
class AutoencoderTransformer(BaseAutoencoder):
    """Undercomplete autoencoder for dimensionality reduction.

    An MLP encoder maps ``x`` to a code ``z`` of ``n_components`` units and a
    mirrored MLP decoder maps ``z`` back to ``x_hat``; both are trained by
    Adam to minimise ``mean_i loss(x_hat_i, x_i)``. With
    ``activation="identity"`` and squared error the model is linear and spans
    the same subspace as :class:`~sklearn.decomposition.PCA`; nonlinear
    activations let it follow curved data that PCA cannot.

    Parameters
    ----------
    {{n_components}}
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
    {{validation_fraction}}
    {{n_iter_no_change}}
    {{random_state}}
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
    {{n_iter_}}
    {{loss_curve_}}
    {{loss_terms_curve_}}
    {{best_loss_}}
    {{validation_scores_}}
    {{best_validation_score_}}
    {{loss_}}
    {{engine_}}
    {{module_, encoder_, decoder_}}
    {{device_}}

    See Also
    --------
    sklearn.decomposition.PCA : The linear baseline this model generalises.
    DenoisingAutoencoder : Learns to undo corruption of its input.
    SparseAutoencoder : Penalises the code's activity; may be overcomplete.
    ContractiveAutoencoder : Penalises the encoder's Jacobian.
    VariationalAutoencoder : A probabilistic encoder and a generative decoder.
    AutoencoderAnomalyDetector : Outlier detection by reconstruction error.

    Notes
    -----
    :meth:`score` and :meth:`score_samples` are log-likelihoods under the
    noise model of ``loss`` with the per-feature scales ``noise_scale_``
    fitted to the training residuals, as ``PCA.score`` is, so a grid search
    over losses compares likelihoods; :mod:`skae.metrics` has the
    reconstruction errors as scorers.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, max_iter=5, random_state=0)
    >>> ae.fit_transform(X / 16).shape
    (1797, 8)
    """
