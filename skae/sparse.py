"""The sparse autoencoder: a penalty on the code's activity."""

import math
from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseAutoencoder, batch_mean, column_mean
from ._docs import fill_doc

# Keeps log(rho_hat) and log(1 - rho_hat) finite when a unit saturates.
KL_EPSILON = 1e-6
# The network's code activation for each penalty: none for L1, whose code is
# thresholded from two encoder outputs per unit (see threshold_code); firing
# rates in (0, 1) for KL.
CODE_ACTIVATIONS = {"l1": "identity", "kl": "sigmoid"}


@fill_doc
class SparseAutoencoder(BaseAutoencoder):
    """Autoencoder whose code is kept sparse by a penalty on its activity.

    With encoder ``f``, decoder ``g`` and code ``z_i = f(x_i)``, the objective
    over a batch of ``n`` samples is

    ``R + sparsity_weight * Omega(z)``, ``R = mean_i loss(g(z_i), x_i)``.

    ``sparsity="l1"`` (the default): the encoder outputs two numbers per code
    unit, a value ``u`` and a threshold ``t``, and the code is ``u``
    soft-thresholded, ``z = max(u - t, 0) - max(-u - t, 0)``: exactly zero
    where ``|u| <= t``, ``u`` shrunk towards zero by ``t`` elsewhere (for
    ``t < 0`` it is continuous and has no zeros). The penalty is

    ``R' * sum_j [ mean_i |z_ij| / sqrt(mean_i z_ij^2) ] / sqrt(n_components)``

    with ``R'`` the batch's reconstruction loss held constant in the
    gradient. The bracket, each unit's L1 norm over the batch relative to
    its L2 norm, is ``sqrt(p)`` for a unit that is active on a share ``p`` of
    the samples with one magnitude and 0 for a silent unit; it does not change
    when a unit is rescaled, so the model cannot lower it by shrinking its
    code and growing its decoder, as it can a plain L1 norm. Multiplying by
    ``R'`` gives the gradient of ``log R + sparsity_weight * Omega`` (times
    ``R``): ``sparsity_weight`` is the relative rise of the reconstruction
    error accepted per unit fall of ``Omega``, the same on data of any scale
    and however well the model reconstructs. The sum over units is divided
    by ``sqrt(n_components)``, between a mean, whose weight per unit falls as
    ``1 / n_components`` (a mean weight of 1 silenced one unit of a 2-unit
    digits code, at 1.9 times the plain model's error, and one of 0.5 left
    16-unit codes 2 % zero), and a sum, which weighs on large codes as on
    small ones (a summed weight of 0.2 made 51 % of a 16-unit code zero, at
    2.1 times the error).

    ``sparsity="kl"``: the code units are sigmoids and
    ``Omega(z) = sum_j KL(rho || rho_hat_j)``, where ``rho_hat_j = mean_i
    z_ij`` is the batch-mean activation of unit ``j``, ``rho`` is
    ``sparsity_target`` and ``KL(rho || r) = rho log(rho / r) + (1 - rho)
    log((1 - rho) / (1 - r))``.

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
        The sparsity penalty: ``"l1"``, the scale-free L1 penalty above on a
        soft-thresholded code (signed, exactly zero where it is off); or
        ``"kl"``, the KL divergence of each sigmoid code unit's mean
        activation from ``sparsity_target``, which sets how often each unit
        fires.
    sparsity_weight : float, default=0.3
        Weight of the sparsity penalty. For ``"l1"``, 0.3 kept the test
        reconstruction error within 1.2 times the plain
        :class:`AutoencoderTransformer`'s on the benchmark sets
        (``benchmarks/bench_defaults.py``, undercomplete codes of 1 to 16
        units), with 2 to 16 % of the code entries exactly zero there (none
        of the plain model's); 0.4 cost up to 1.21 times, and 0.8 cost 2.1
        times on 16-unit digits codes. Overcomplete codes get sparser for
        the same weight.
        For ``"kl"`` it is ``beta``, usually 0.1 to 3.
    sparsity_target : float, default=0.05
        The target mean activation ``rho`` of each code unit, in (0, 1); used
        by ``"kl"`` only.
    {{hidden_layer_sizes}}
    activation : {"relu", "tanh", "sigmoid", "identity", "leaky_relu", "elu", \
            "selu", "gelu", "silu", "softplus"}, default="relu"
        Hidden-layer activation. The code's activation is set by
        ``sparsity``.
    {{loss}}
    {{batch_size}}
        The KL penalty estimates each unit's mean activation over a batch,
        so very small batches make it noisy.
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
    init : {"pca", "random"}, default="pca"
        How a new model starts; see :class:`AutoencoderTransformer`. With
        ``"pca"`` and ``sparsity="l1"`` the values ``u`` start as PCA's scores
        and the thresholds at 0, so training starts exactly from PCA's
        solution and the penalty then opens the thresholds. (A ReLU code
        cannot start there: it clips half of every score. ReLU codes cost
        1.1 to 1.4 times the plain model's test error even without a penalty
        on the benchmark sets where the plain model gains most over PCA, and
        the former default, ReLU codes started at random, up to 5.6 times.)
        An overcomplete code (``n_components > n_features``) starts at
        random: PCA has no direction to give its extra units, which would
        start silent and without a gradient. With ``"kl"`` the code starts as
        the sigmoid of PCA's scores; that too beat a random start (2.8
        against 4.6 times the plain model's test error on digits with 16
        units, ``sparsity_weight=0.3``, both holding the mean activation at
        0.05), though holding every unit near ``sparsity_target`` costs far
        more than the L1 penalty on undercomplete codes.
    {{categorical_features}}

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
        With ``sparsity="l1"`` the encoder outputs ``2 * n_components``
        columns, the values ``u`` then the thresholds ``t``; :meth:`transform`
        returns the thresholded code.
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
    (CS294A, 2011); the soft threshold is the proximal operator of the L1
    norm, the shrinkage step of ISTA. :meth:`score` and :meth:`score_samples`
    are the reconstruction's log-likelihood only, without the penalty.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import SparseAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> sae = SparseAutoencoder(n_components=128, max_iter=5, random_state=0)
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
        sparsity_weight=0.3,
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
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target

    def _network_params(self, n_features):
        params = super()._network_params(n_features)
        params["code_activation"] = CODE_ACTIVATIONS[self.sparsity]
        if self.sparsity == "l1":
            params["encoder_outputs_per_component"] = 2
        return params

    def _starts_at_pca(self):
        # PCA has at most n_features directions: an overcomplete code starts
        # at random rather than with units that carry nothing and get no gradient.
        return super()._starts_at_pca() and self.n_components <= self.n_features_in_

    def _objective(self, module, inputs, target, generator, sample_weight=None):
        if self.sparsity != "l1":
            return super()._objective(module, inputs, target, generator, sample_weight)
        code = threshold_code(module.encoder(inputs))
        reconstruction = batch_mean(self._reconstruction_per_sample(module.decoder(code), target), sample_weight)
        if self.sparsity_weight == 0:
            return {"reconstruction": reconstruction, "sparsity": reconstruction.new_zeros(())}
        penalty = reconstruction.detach() * l1_l2_ratios(code, sample_weight).sum() / math.sqrt(code.shape[1])
        return {"reconstruction": reconstruction, "sparsity": self.sparsity_weight * penalty}

    def _penalties(self, module, inputs, code, sample_weight=None):
        # The KL penalty; the L1 one needs the reconstruction loss (see _objective).
        return {"sparsity": self.sparsity_weight * kl_sparsity(code, self.sparsity_target, sample_weight)}

    def _encode(self, module, x):
        output = super()._encode(module, x)
        return threshold_code(output) if self.sparsity == "l1" else output


def threshold_code(output):
    """The code from the encoder's output ``[u, t]``: ``max(u - t, 0) - max(-u - t, 0)``.

    For ``t >= 0``, ``u`` soft-thresholded at ``t`` (zero where ``|u| <= t``);
    for ``t < 0``, continuous and without zeros. ``clamp_min`` rather than
    ``relu`` passes the gradient at exactly 0, so a unit whose ``u`` and
    ``t`` both start at 0 (beyond the rank of PCA's start) still trains.

    Parameters
    ----------
    output : torch.Tensor of shape (n_samples, 2 * n_components)
        The values ``u``, then the thresholds ``t``.
    """
    values, thresholds = output.chunk(2, dim=1)
    return (values - thresholds).clamp_min(0) - (-values - thresholds).clamp_min(0)


def l1_l2_ratios(code, sample_weight=None):
    """``mean_i |z_ij| / sqrt(mean_i z_ij^2)`` of each unit ``j`` over a batch of codes ``z``.

    A scale-free measure of how often each unit is active: ``sqrt(p)`` for a
    unit active on a share ``p`` of the rows with one magnitude, 0 for a
    silent unit (no division by zero), 1 for a unit of constant magnitude.
    ``sample_weight`` weighs the rows in the means.
    """
    code = code.float() if code.dtype in (torch.float16, torch.bfloat16) else code
    mean_magnitude = column_mean(code.abs(), sample_weight)
    # Clamped before the square root, whose gradient at 0 is infinite.
    root_mean_square = column_mean(code.square(), sample_weight).clamp_min(torch.finfo(code.dtype).tiny).sqrt()
    return mean_magnitude / root_mean_square


def kl_sparsity(code, target, sample_weight=None):
    """``sum_j KL(target || rho_hat_j)``, ``rho_hat_j`` the batch mean of ``code[:, j]``.

    ``sample_weight`` weighs the rows in the means.
    """
    rate = column_mean(code, sample_weight).clamp(KL_EPSILON, 1 - KL_EPSILON)
    divergence = target * torch.log(target / rate) + (1 - target) * torch.log((1 - target) / (1 - rate))
    return divergence.sum()
