"""The variational autoencoder: a probabilistic encoder and a generative decoder."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._base import SEED_BOUND, BaseAutoencoder, batch_mean, column_mean
from ._docs import fill_doc

# Bounds on the encoder's log-variance: exp stays finite and the KL gradient
# (which grows like exp(log_variance)) stays moderate in early epochs.
LOG_VARIANCE_MIN, LOG_VARIANCE_MAX = -10.0, 10.0
# The encoder outputs log s2 - LOG_VARIANCE_OFFSET: a new network, whose
# outputs are near zero, starts with a posterior standard deviation of
# exp(-2) = 0.14 rather than the prior's 1, so that the code says something
# of x from the first epoch (with PCA's start, 1 would drown the scores in
# noise). Measured at the defaults: up to 1.25x lower test error.
LOG_VARIANCE_OFFSET = -4.0


@fill_doc
class VariationalAutoencoder(BaseAutoencoder):
    """Variational autoencoder (VAE) with a Gaussian encoder and a standard normal prior.

    The encoder outputs the mean ``mu(x)`` and log-variance ``log s2(x)`` of
    a diagonal Gaussian posterior ``q(z | x)``; the prior is ``p(z) = N(0, I)``
    and the decoder ``g`` gives the likelihood ``p(x | z)`` chosen by
    ``loss``. Training minimises the negative evidence lower bound, with the
    KL term weighted by ``beta``:

    ``mean_i [ sum_f (loss(g_f(z_i) / c_f, x_if / c_f) + log c_f) + beta * KL(q(z | x_i) || p(z)) ]``,
    ``z_i = mu(x_i) + s(x_i) * eps_i``, ``eps_i ~ N(0, I)``,

    with ``KL = 1/2 sum_j (mu_j^2 + s2_j - 1 - log s2_j)`` and ``c_f`` the
    decoder's noise scale, learnt with the network: one for every feature
    (``decoder_scale="shared"``, the default) or one per feature
    (``"learned"``). The reconstruction term is then the negative
    log-likelihood, up to a constant, of a decoder whose noise has that
    scale: ``"squared_error"`` is a Gaussian decoder of variance
    ``c_f^2 / 2``, ``"absolute_error"`` a Laplacian one of scale ``c_f``;
    ``"binary_crossentropy"``, a Bernoulli decoder, has no scale.

    Use it when you want a smooth, regular latent space (nearby codes decode
    to similar samples) or a generative model: :meth:`sample` decodes draws
    from the prior. ``beta > 1`` trades reconstruction for a more
    disentangled, prior-like code (beta-VAE); ``beta < 1`` the reverse. The
    default ``beta=0.1`` keeps the reconstruction close to the
    deterministic autoencoder's while the codes still follow the prior (see
    Notes).

    Parameters
    ----------
    {{n_components}}
    beta : float, default=0.1
        Weight of the KL term; ``1`` is the evidence lower bound. At
        ``beta=1`` a code of few dimensions for data of few features is
        worth little to the bound: on the standardised swiss roll
        (``n_components=2``) the reconstruction is 10.7x worse than the
        deterministic autoencoder's, against 1.0x at ``0.1``.
    decoder_scale : {"shared", "learned", "fixed"}, default="shared"
        The decoder's noise scale ``c_f``. ``"shared"``: one scale for
        every feature, fitted with the network, so that the balance between
        reconstruction and KL does not depend on the data's units and every
        feature's error counts alike, as in the squared error.
        ``"learned"``: one fitted scale per feature, a finer density model
        that weighs each feature by the inverse of its own error, so the
        features reconstructed worst are given up on (2.7x the shared
        scale's test error on a 27-feature set at ``beta=1``).
        ``"fixed"``: ``c_f = 1``; then on data of small variance (pixels in
        [0, 1]) the KL term wins and the code ignores the input (posterior
        collapse: 14x PCA's test error on a min-max scaled set, see the user
        guide).
    {{hidden_layer_sizes}}
    {{activation}}
    {{loss}}
        Here it is the decoder's negative log-likelihood per feature: its
        per-sample mean over features is multiplied by ``n_features``; with
        a fitted ``decoder_scale`` it is taken of the output and the data
        divided by the scale.
    {{batch_size}}
    {{learning_rate_init}}
    {{max_iter}}
    {{alpha}}
    {{shuffle}}
    {{tol}}
    {{early_stopping}}
        Its loss is a one-sample estimate of the negative lower bound.
    {{validation_fraction}}
    {{n_iter_no_change}}
    {{random_state}}
        It also seeds the reparameterisation noise.
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
    loss_curve_ : list of float
        Training loss per epoch: the negative (beta-weighted) lower bound.
    loss_terms_curve_ : dict of str to list of float
        Its two terms per epoch: ``"reconstruction"`` (summed over features)
        and ``"kl"`` (already multiplied by ``beta``).
    {{best_loss_}}
    {{validation_scores_}}
    {{best_validation_score_}}
    {{loss_}}
    {{engine_}}
    module_, encoder_, decoder_ : torch.nn.Module
        The fitted network and its two halves; the encoder outputs
        ``2 * n_components`` values, the means then the log-variances
        plus 4 (so that its outputs near zero mean a small variance).
        ``module_.log_scale`` holds the log of each feature's ``c_f``
        (all equal with ``decoder_scale="shared"``).
    {{device_}}

    See Also
    --------
    AutoencoderTransformer : The deterministic autoencoder.
    sklearn.decomposition.FactorAnalysis : The linear Gaussian latent model.
    sklearn.mixture.GaussianMixture : Another density model with ``sample``.

    Notes
    -----
    Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014; Higgins et
    al., "beta-VAE", ICLR 2017.

    Check ``loss_terms_curve_["kl"]``: a KL term near zero means that the
    posterior equals the prior and the code carries no information; lower
    ``beta``. With a fitted decoder scale the reconstruction term can be
    negative: it is a log-density.

    What the KL term buys at the default ``beta=0.1``: the codes follow the
    prior. Over the data, the posterior means average about 0 and, per
    code unit, the variance of the means plus the mean posterior variance
    (the variance of the aggregate posterior) is about 1, as in
    ``N(0, I)``, so :meth:`sample` draws codes where the decoder was
    trained. A deterministic autoencoder's codes have whatever location
    and spread training gives them.

    :meth:`transform` returns the posterior mean ``mu(x)``, which is
    deterministic. :meth:`score_samples` is, like the other autoencoders',
    the log-likelihood of ``x`` under the decoder's noise model around the
    reconstruction ``g(mu(x))`` through the posterior mean, with the
    per-feature scales ``noise_scale_`` fitted on the training residuals
    of that reconstruction rather than the learnt ``c_f`` (which also
    absorb the sampling of ``z``). It is deterministic and compares with
    the other autoencoders' scores; it is neither the lower bound nor the
    marginal likelihood ``log p(x)``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VariationalAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VariationalAutoencoder(n_components=4, loss="binary_crossentropy",
    ...                              max_iter=5, random_state=0)
    >>> vae.fit_transform(X / 16).shape
    (1797, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "decoder_scale": [StrOptions({"shared", "learned", "fixed"})],
    }

    def __init__(
        self,
        n_components=2,
        *,
        beta=0.1,
        decoder_scale="shared",
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
        self.beta = beta
        self.decoder_scale = decoder_scale

    def _network_params(self, n_features):
        params = super()._network_params(n_features)
        params["encoder_outputs_per_component"] = 2
        params["output_scale"] = self.decoder_scale != "fixed"
        return params

    def _posterior(self, encoder, inputs):
        """Mean and clamped log-variance of ``q(z | x)``; ``encoder`` is a callable."""
        mean, shifted_log_variance = encoder(inputs).chunk(2, dim=1)
        return mean, (shifted_log_variance + LOG_VARIANCE_OFFSET).clamp(LOG_VARIANCE_MIN, LOG_VARIANCE_MAX)

    @torch.no_grad()
    def _start_at_pca(self, module, X, sample_weight=None):
        """PCA's start, each code unit's scores divided by their spread: codes that follow the prior at once.

        The decoder's linear path is multiplied back, so the reconstruction
        is PCA's still. Unscaled, the scores' variance (PCA's eigenvalues,
        16 on standardised digits) would be far from the prior's 1, and the
        KL term would take many epochs to bring it there.
        """
        super()._start_at_pca(module, X, sample_weight)
        encoder_weight, decoder_weight = module.encoder.linear_part(), module.decoder.linear_part()
        encoder_bias = module.encoder.layers[-1].bias
        k = self.n_components
        scores = X.to(encoder_weight.device) @ encoder_weight[:k].T + encoder_bias[:k]
        weights = None if sample_weight is None else sample_weight.to(scores.device, scores.dtype)
        # The scores are centred (PCA's start subtracts the mean): their spread is the root mean square.
        spread = column_mean(scores.square(), weights).sqrt()
        # Directions of no variance (beyond the data's rank) start at zero and stay so.
        spread = torch.where(spread > 0, spread, torch.ones_like(spread))
        encoder_weight[:k] /= spread[:, None]
        encoder_bias[:k] /= spread
        decoder_weight[:, :k] *= spread

    def _log_scale(self, module):
        """The log of the decoder's noise scale: one per feature, or their mean shared by every feature."""
        if self.decoder_scale == "shared":
            # The entries start equal and get equal gradients, so they stay
            # equal; the mean makes that so whatever they hold.
            return module.log_scale.mean().expand_as(module.log_scale)
        return module.log_scale

    def _objective(self, module, inputs, target, generator, sample_weight=None):
        mean, log_variance = self._posterior(module.encoder, inputs)
        # Reparameterisation: the noise comes from the engine's generator so
        # that random_state fixes it.
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        code = mean + torch.exp(0.5 * log_variance) * noise
        output = module.decoder(code)
        # The sum over features; a mixed table's loss is a mean over its columns.
        n_features = getattr(self.loss_, "n_columns", target.shape[1])
        if module.log_scale is not None and self.loss_.output_activation == "identity":
            # Dividing residuals by a scale c and adding log c per feature
            # turns the loss into the negative log-density of scale c.
            log_scale = self._log_scale(module)
            scale = log_scale.exp()
            if self._training_has_missing_:
                # Divided where observed only: NaN / scale would make the scale's gradient NaN.
                scaled_target = torch.where(torch.isnan(target), target, target.nan_to_num() / scale)
            else:
                scaled_target = target / scale
            per_sample = self._reconstruction_per_sample(output / scale, scaled_target)
            reconstruction = n_features * batch_mean(per_sample, sample_weight)
            # Every row's negative log-density has the log-scale term: weighted as the rows are.
            row_share = 1.0 if sample_weight is None else sample_weight.mean()
            reconstruction = reconstruction + log_scale.sum() * row_share
        else:
            reconstruction = n_features * batch_mean(self._reconstruction_per_sample(output, target), sample_weight)
        kl_per_sample = 0.5 * (mean.square() + log_variance.exp() - 1 - log_variance).sum(dim=1)
        kl = batch_mean(kl_per_sample, sample_weight)
        return {"reconstruction": reconstruction, "kl": self.beta * kl}

    def _encode(self, module, x):
        return self._posterior(module.encoder, x)[0]

    @validate_params(
        {"n_samples": [Interval(Integral, 1, None, closed="left")], "random_state": ["random_state"]},
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None):
        """Generate samples by decoding draws from the prior ``N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the latent draws through a torch generator of its own; the
            model's training generator and the global random state are left
            untouched. An int gives the same samples on any device.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_), float64, or DataFrame
            The decoded means ``g(z)`` (for a Bernoulli decoder, the
            probabilities), not noisy draws from ``p(x | z)``. For a mixed
            table, the table, as :meth:`inverse_transform` returns it: each
            categorical column holds its most likely level.
        """
        check_is_fitted(self)
        seed = int(check_random_state(random_state).randint(SEED_BOUND))
        # Drawn on the CPU so that a seed gives the same codes on any device.
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randn((n_samples, self.n_components), generator=generator).numpy()
        return self._as_table(self.engine_.predict(self._decode, codes, np.float64))
