"""The sparse autoencoder: a penalty on the code's activity."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseAutoencoder
from ._docs import fill_doc

# Keeps log(rho_hat) and log(1 - rho_hat) finite when a unit saturates.
KL_EPSILON = 1e-6
# The code's activation for each penalty: non-negative codes with exact zeros
# for L1, firing rates in (0, 1) for KL.
CODE_ACTIVATIONS = {"l1": "relu", "kl": "sigmoid"}


@fill_doc
class SparseAutoencoder(BaseAutoencoder):
    """Autoencoder whose code is kept sparse by a penalty on its activity.

    With encoder ``f``, decoder ``g`` and code ``z_i = f(x_i)``, the objective
    over a batch of ``n`` samples is

    ``mean_i loss(g(z_i), x_i) + sparsity_weight * Omega(z)``

    with ``Omega(z) = mean_i sum_j |z_ij|`` for ``sparsity="l1"`` (on ReLU
    code units) or ``Omega(z) = sum_j KL(rho || rho_hat_j)`` for
    ``sparsity="kl"``, where ``rho_hat_j = mean_i z_ij`` is the batch-mean
    activation of sigmoid code unit ``j``, ``rho`` is ``sparsity_target`` and
    ``KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r))``.

    Because only a few code units are active for each sample, the code may
    be larger than the input (overcomplete, ``n_components > n_features``)
    without learning the identity. Use it for part-based, interpretable
    features (each unit responds to one pattern), or as a feature expansion
    before a linear model.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent code; unlike the other autoencoders it may exceed
        ``n_features``.
    sparsity : {"l1", "kl"}, default="l1"
        The sparsity penalty: ``"l1"``, the mean L1 norm of the code, whose
        units are ReLUs (non-negative, exactly zero when off); or ``"kl"``,
        the KL divergence of each sigmoid code unit's mean activation from
        ``sparsity_target``, which sets how often each unit fires.
    sparsity_weight : float, default=1e-3
        Weight of the sparsity penalty (``lambda`` for ``"l1"``, ``beta`` for
        ``"kl"``). The KL penalty usually needs a larger weight (around 0.1 to
        3) than L1.
    sparsity_target : float, default=0.05
        The target mean activation ``rho`` of each code unit, in (0, 1); used
        by ``"kl"`` only.
    {{hidden_layer_sizes}}
    activation : {"relu", "tanh", "sigmoid", "identity", "leaky_relu", "elu", \
            "selu", "gelu", "silu", "softplus"}, default="relu"
        Hidden-layer activation. The code's activation is set by
        ``sparsity``.
    loss : str, Loss or callable, default="squared_error"
        The reconstruction loss, i.e. the decoder's likelihood:
        ``"squared_error"`` (Gaussian), ``"absolute_error"`` (Laplacian),
        ``"huber"``, ``"binary_crossentropy"`` (Bernoulli; data in [0, 1],
        sigmoid output), an object from :mod:`skae.losses`, or a callable
        ``(x_hat, x) -> per-sample loss tensor``.
    batch_size : int or "auto", default="auto"
        Minibatch size; ``"auto"`` is ``min(256, n_samples)``. The KL penalty
        estimates each unit's mean activation over a batch, so very small
        batches make it noisy.
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
    {{init_random}}

    Attributes
    ----------
    {{n_features_in_}}
    {{feature_names_in_}}
    {{n_iter_}}
    {{loss_curve_}}
    loss_terms_curve_ : dict of str to list of float
        Each term of the training loss per epoch: ``"reconstruction"`` and
        ``"sparsity"`` (already multiplied by ``sparsity_weight``).
    {{best_loss_}}
    {{validation_scores_}}
    {{best_validation_score_}}
    {{loss_}}
    {{engine_}}
    {{module_, encoder_, decoder_}}
    {{device_}}

    See Also
    --------
    AutoencoderTransformer : The undercomplete autoencoder without a penalty.
    sklearn.decomposition.DictionaryLearning : Sparse linear codes.
    sklearn.neural_network.BernoulliRBM : Another learner of binary-like
        overcomplete features.

    Notes
    -----
    The KL penalty is the one of Ng's "Sparse autoencoder" lecture notes
    (CS294A, 2011). :meth:`score` and :meth:`score_samples` measure squared
    reconstruction error only, without the penalty.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import SparseAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> sae = SparseAutoencoder(n_components=128, sparsity="kl",
    ...                         sparsity_weight=0.5, max_iter=5, random_state=0)
    >>> sae.fit_transform(X / 16).shape
    (1797, 128)
    """

    _allows_overcomplete = True

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "sparsity": [StrOptions(set(CODE_ACTIVATIONS))],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        sparsity="l1",
        sparsity_weight=1e-3,
        sparsity_target=0.05,
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
        init="random",
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
        )
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target

    def _network_params(self, n_features):
        params = super()._network_params(n_features)
        params["code_activation"] = CODE_ACTIVATIONS[self.sparsity]
        return params

    def _penalties(self, module, inputs, code):
        if self.sparsity == "l1":
            penalty = code.abs().sum(dim=1).mean()
        else:
            penalty = kl_sparsity(code, self.sparsity_target)
        return {"sparsity": self.sparsity_weight * penalty}


def kl_sparsity(code, target):
    """``sum_j KL(target || rho_hat_j)`` where ``rho_hat_j`` is the batch mean of ``code[:, j]``."""
    rate = code.mean(dim=0).clamp(KL_EPSILON, 1 - KL_EPSILON)
    divergence = target * torch.log(target / rate) + (1 - target) * torch.log((1 - target) / (1 - rate))
    return divergence.sum()
