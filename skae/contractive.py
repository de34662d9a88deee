"""The contractive autoencoder: a penalty on the encoder's Jacobian."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseAutoencoder, batch_mean, column_mean
from ._docs import fill_doc
from ._network import ACTIVATIONS, MLP

_ELEMENTWISE_ACTIVATIONS = tuple(ACTIVATIONS.values())
CONTRACTIONS = ("relative", "absolute")
# A code unit's batch variance is floored at this share of the units' mean
# variance, so that a constant unit (a rank-deficient start, a batch of
# identical rows) cannot divide by zero.
CODE_VARIANCE_FLOOR = 1e-6


@fill_doc
class ContractiveAutoencoder(BaseAutoencoder):
    """Autoencoder penalised by the sensitivity of its code to the input.

    With encoder ``f``, decoder ``g``, ``J_f(x) = d f(x) / d x`` the
    encoder's Jacobian (``n_components`` by ``n_features``) and ``f_j`` the
    ``j``-th code unit, the objective over a batch is

    ``mean_i loss(g(f(x_i)), x_i) + contractive_weight * Omega``

    where, by default (``contraction="relative"``),

    ``Omega = v * mean_j [ mean_i ||grad f_j(x_i)||^2 * v / Var_i f_j(x_i) ]``

    with ``v`` the mean variance of the features over the batch and
    ``Var_i f_j`` the variance of unit ``j`` over the batch; with
    ``contraction="absolute"`` it is Rifai et al.'s
    ``Omega = mean_i ||J_f(x_i)||_F^2``.

    The penalty makes the code locally flat in every input direction; the
    reconstruction term keeps it sensitive only along the directions the data
    actually vary in (the data manifold). Use it for codes that are robust to
    small perturbations of the input, like :class:`DenoisingAutoencoder` but
    deterministic and without choosing a noise model.

    The absolute penalty is not invariant to the scale of the code: halving
    the encoder's output and doubling the decoder's input weights reconstructs
    the same, with a quarter of the penalty, so much of what it buys is a
    smaller code rather than a flatter one. The relative penalty measures
    each unit's squared slope against the unit's own spread over the data
    (``v / Var f_j`` makes it a ratio of like units): it does not change when
    a unit or the data are rescaled, and it is small only for a code that
    varies across the data more than it varies locally. For a linear unit
    ``w . x`` the bracket is ``v ||w||^2 / (w^T Sigma w)``: 1 for a direction
    of average variance, ``v / lambda`` for a principal component of variance
    ``lambda``. The leading ``v`` puts ``Omega`` in the units of the squared
    error, so one ``contractive_weight`` means the same on data of any scale.

    The Jacobian is computed exactly for any encoder depth. For the common
    encoder with one hidden layer, ``f(x) = W2 h(W1 x + b1) + b2`` (plus the
    linear path ``S x`` of ``init="pca"``), it uses the closed form
    ``||J||_F^2 = d^T ((W2^T W2) * (W1 W1^T)) d`` with ``d = h'(W1 x + b1)``
    (``*`` elementwise, the rows of ``W2`` weighted for the relative
    penalty), whose cost does not grow with ``n_components``; deeper
    encoders use ``torch.func.jacrev`` vectorised over the batch.

    Parameters
    ----------
    {{n_components}}
    contractive_weight : float, default=0.01
        Weight of the penalty. With the relative penalty, 0.01 kept the
        test reconstruction error within 1.16 times the plain
        :class:`AutoencoderTransformer`'s on the benchmark sets
        (``benchmarks/bench_defaults.py``; the most on a swiss roll with 2
        components, which the code has to unroll) while it lowered the mean
        relative squared slope on held-out data on every row: by 1.4 to 19
        times on 8 of 21 rows (digits, swiss roll, and the larger codes of
        breast cancer, fault and satellite), by under 1.1 times on 9 (small
        sets, where the weight prior keeps the plain model near PCA already,
        and most 2-unit codes). 0.03 cost up to 1.5 times on that swiss
        roll. With ``contraction="absolute"`` (whose former default, 0.01,
        cost up to 2.0 times the plain model's error) the penalty's scale
        relative to the reconstruction term depends on the data's scale: it
        scales as ``1 / scale**2`` of the inputs and the squared error as
        ``scale**2``.
    contraction : {"relative", "absolute"}, default="relative"
        Which Jacobian penalty (see above): ``"relative"``, each code unit's
        squared slope relative to its variance over the batch, invariant to
        the scale of the data and of each unit; or ``"absolute"``, the
        squared Frobenius norm of the Jacobian of Rifai et al., which the
        model can also lower by shrinking its code. The relative penalty
        needs batches of at least 2 rows; a batch of one row contributes no
        penalty.
    {{hidden_layer_sizes}}
        With ``()`` the Jacobian is the constant weight matrix and the
        penalty a weight decay on it.
    {{activation}}
        Saturating activations (``"sigmoid"``, ``"tanh"``) let the penalty
        flatten the code by saturating units, as in the original formulation.
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
    loss_terms_curve_ : dict of str to list of float
        Each term of the training loss per epoch: ``"reconstruction"`` and
        ``"contractive"`` (already multiplied by ``contractive_weight``).
    {{best_loss_}}
    {{validation_scores_}}
    {{best_validation_score_}}
    {{loss_}}
    {{engine_}}
    {{module_, encoder_, decoder_}}
    {{device_}}

    See Also
    --------
    AutoencoderTransformer : The same model without the penalty.
    DenoisingAutoencoder : Robustness by training on corrupted inputs.
    SparseAutoencoder : Penalises the code's values instead of its slope.

    Notes
    -----
    Rifai et al., "Contractive auto-encoders: explicit invariance during
    feature extraction", ICML 2011. :meth:`score` and :meth:`score_samples`
    are the reconstruction's log-likelihood only, without the penalty.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ContractiveAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> cae = ContractiveAutoencoder(n_components=8, max_iter=5, random_state=0)
    >>> cae.fit_transform(X / 16).shape
    (1797, 8)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "contractive_weight": [Interval(Real, 0, None, closed="left")],
        "contraction": [StrOptions(set(CONTRACTIONS))],
    }

    def __init__(
        self,
        n_components=2,
        *,
        contractive_weight=0.01,
        contraction="relative",
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
        self.contractive_weight = contractive_weight
        self.contraction = contraction

    def _penalties(self, module, inputs, code, sample_weight=None):
        if self.contractive_weight == 0:
            return {"contractive": inputs.new_zeros(())}
        if self.contraction == "absolute":
            penalty = batch_mean(squared_jacobian_norm(module.encoder, inputs), sample_weight)
        else:
            if code is None:
                code = module.encoder(inputs)
            penalty = relative_contraction(module.encoder, inputs, code, sample_weight)
        return {"contractive": self.contractive_weight * penalty}


def relative_contraction(encoder, inputs, code, sample_weight=None):
    """The relative contractive penalty of a batch, a scalar tensor.

    ``v * mean_j [ mean_i ||grad f_j(x_i)||^2 * v / Var_i f_j(x_i) ]``, with
    ``v`` the mean variance of the features of ``inputs`` and ``Var_i f_j``
    the variance of code unit ``j`` over the batch (both without Bessel's
    correction). Differentiable in the encoder's parameters, through the
    variances too, which is what makes it invariant to the scale of each
    unit. A batch of one row has no variance and gives 0.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of shape (n_samples, n_features) to (n_samples, n_components).
    inputs : torch.Tensor of shape (n_samples, n_features)
        The batch.
    code : torch.Tensor of shape (n_samples, n_components)
        ``encoder(inputs)``.
    sample_weight : torch.Tensor of shape (n_samples,) or None
        Row weights, scaled to mean 1 over the data; the variances and the
        mean of the norms are then weighted.
    """
    if inputs.shape[0] < 2:
        return inputs.new_zeros(())
    # Statistics in float32 at least (bfloat16 codes under autocast).
    dtype = torch.promote_types(code.dtype, torch.float32)
    if sample_weight is None:
        feature_variance = inputs.to(dtype).var(dim=0, unbiased=False).mean()
        code_variance = code.to(dtype).var(dim=0, unbiased=False)
    else:
        feature_variance = _weighted_variance(inputs.to(dtype), sample_weight).mean()
        code_variance = _weighted_variance(code.to(dtype), sample_weight)
    floor = CODE_VARIANCE_FLOOR * code_variance.detach().mean() + torch.finfo(dtype).tiny
    unit_weights = feature_variance / torch.maximum(code_variance, floor)
    norms = squared_jacobian_norm(encoder, inputs, unit_weights=unit_weights)
    return feature_variance * batch_mean(norms, sample_weight) / code.shape[1]


def _weighted_variance(values, sample_weight):
    """Each column's variance over the rows, weighted by ``sample_weight`` (without Bessel's correction)."""
    mean = column_mean(values, sample_weight)
    return column_mean((values - mean).square(), sample_weight)


def squared_jacobian_norm(encoder, inputs, unit_weights=None):
    """``||J_f(x)||_F^2`` of the encoder ``f`` at each row ``x`` of ``inputs``.

    Exact and differentiable with respect to the encoder's parameters. Rows
    are treated independently, which holds for the MLP encoders here (no
    layer mixes samples). With ``unit_weights`` ``c``, the weighted norm
    ``sum_j c_j ||grad f_j(x)||^2`` (the rows of ``J`` weighted).

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of shape (n_samples, n_features) to (n_samples, n_components).
    inputs : torch.Tensor of shape (n_samples, n_features)
        Where to take the Jacobian.
    unit_weights : torch.Tensor of shape (n_components,), default=None
        A weight for each code unit's squared gradient; None weighs each by 1.

    Returns
    -------
    norms : torch.Tensor of shape (n_samples,)
    """
    if _has_one_hidden_layer(encoder):
        return _one_hidden_layer_norm(encoder, inputs, unit_weights)

    def encode_one(x):
        return encoder(x.unsqueeze(0)).squeeze(0)

    # Reverse mode: one vector-Jacobian product per code unit, and the code
    # is narrower than the input.
    jacobians = torch.func.vmap(torch.func.jacrev(encode_one))(inputs)
    if unit_weights is None:
        return jacobians.square().sum(dim=(1, 2))
    return jacobians.square().sum(dim=2) @ unit_weights.to(jacobians.dtype)


def _has_one_hidden_layer(encoder):
    return (
        isinstance(encoder, MLP)
        and len(encoder.layers) == 2
        and isinstance(encoder.activation, _ELEMENTWISE_ACTIVATIONS)
        and encoder.output_activation is None
    )


def _one_hidden_layer_norm(encoder, inputs, unit_weights=None):
    # J(x) = S + W2 diag(d) W1 with d = h'(a) and S the linear path, so
    # ||J||_F^2 = sum_jl d_j d_l (W2^T W2)_jl (W1 W1^T)_jl
    #             + 2 sum_j d_j sum_i W2_ij (S W1^T)_ij + ||S||_F^2;
    # unit weights c scale row i of J, so they weigh W2_i. and S_i. by c_i.
    first, second = encoder.layers
    weighted_second = second.weight if unit_weights is None else unit_weights[:, None] * second.weight
    differentiable = torch.is_grad_enabled()
    with torch.enable_grad():  # also under no_grad, as in validation
        pre_activation = first(inputs)
        if not pre_activation.requires_grad:
            pre_activation = pre_activation.detach().requires_grad_()
        hidden = encoder.activation(pre_activation)
        # h'(a) of an elementwise activation: the gradient of sum(h(a)) in a,
        # itself differentiable so that the penalty trains the weights.
        (slope,) = torch.autograd.grad(hidden, pre_activation, torch.ones_like(hidden), create_graph=differentiable)
    gram = (weighted_second.T @ second.weight) * (first.weight @ first.weight.T)
    norm = ((slope @ gram) * slope).sum(dim=1)
    if encoder.linear_path is not None:
        path = encoder.linear_path.weight
        cross = (weighted_second * (path @ first.weight.T)).sum(dim=0)
        weighted_path = path if unit_weights is None else unit_weights[:, None] * path
        norm = norm + 2 * (slope @ cross) + (weighted_path * path).sum()
    return norm
