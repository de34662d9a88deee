"""The contractive autoencoder: a penalty on the encoder's Jacobian."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval

from ._base import BaseAutoencoder
from ._docs import fill_doc
from ._network import ACTIVATIONS, MLP

_ELEMENTWISE_ACTIVATIONS = tuple(ACTIVATIONS.values())


@fill_doc
class ContractiveAutoencoder(BaseAutoencoder):
    """Autoencoder penalised by the sensitivity of its code to the input.

    With encoder ``f``, decoder ``g`` and ``J_f(x) = d f(x) / d x`` the
    encoder's Jacobian (``n_components`` by ``n_features``), the objective
    over a batch is

    ``mean_i [ loss(g(f(x_i)), x_i) + contractive_weight * ||J_f(x_i)||_F^2 ]``.

    The penalty makes the code locally flat in every input direction; the
    reconstruction term keeps it sensitive only along the directions the data
    actually vary in (the data manifold). Use it for codes that are robust to
    small perturbations of the input, like :class:`DenoisingAutoencoder` but
    deterministic and without choosing a noise model.

    The Jacobian norm is computed exactly for any encoder depth. For the
    common encoder with one hidden layer, ``f(x) = W2 h(W1 x + b1) + b2``, it
    uses the closed form ``||J||_F^2 = d^T ((W2^T W2) * (W1 W1^T)) d`` with
    ``d = h'(W1 x + b1)`` (``*`` elementwise), whose cost does not grow with
    ``n_components``; deeper encoders use ``torch.func.jacrev`` vectorised
    over the batch.

    Parameters
    ----------
    {{n_components}}
    contractive_weight : float, default=0.01
        Weight of the squared Frobenius norm of the encoder's Jacobian. Its
        scale relative to the reconstruction term depends on the data's
        scale: the penalty scales as ``1 / scale**2`` of the inputs and the
        squared error as ``scale**2``.
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the encoder's hidden layers; the decoder mirrors them.
        ``()`` makes both one linear layer (then the Jacobian is the constant
        weight matrix and the penalty a weight decay on it).
    activation : {"relu", "tanh", "sigmoid", "identity", "leaky_relu", "elu", \
            "selu", "gelu", "silu", "softplus"}, default="relu"
        Hidden-layer activation. The code itself is linear. Saturating
        activations (``"sigmoid"``, ``"tanh"``) let the penalty flatten the
        code by saturating units, as in the original formulation.
    loss : str, Loss or callable, default="squared_error"
        The reconstruction loss, i.e. the decoder's likelihood:
        ``"squared_error"`` (Gaussian), ``"absolute_error"`` (Laplacian),
        ``"huber"``, ``"binary_crossentropy"`` (Bernoulli; data in [0, 1],
        sigmoid output), an object from :mod:`skae.losses`, or a callable
        ``(x_hat, x) -> per-sample loss tensor``.
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
    measure squared reconstruction error only, without the penalty.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ContractiveAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> cae = ContractiveAutoencoder(n_components=8, contractive_weight=0.01,
    ...                              max_iter=5, random_state=0)
    >>> cae.fit_transform(X / 16).shape
    (1797, 8)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "contractive_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        contractive_weight=0.01,
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
        self.contractive_weight = contractive_weight

    def _penalties(self, module, inputs, code):
        if self.contractive_weight == 0:
            return {"contractive": code.new_zeros(())}
        penalty = squared_jacobian_norm(module.encoder, inputs).mean()
        return {"contractive": self.contractive_weight * penalty}


def squared_jacobian_norm(encoder, inputs):
    """``||J_f(x)||_F^2`` of the encoder ``f`` at each row ``x`` of ``inputs``.

    Exact and differentiable with respect to the encoder's parameters. Rows
    are treated independently, which holds for the MLP encoders here (no
    layer mixes samples).

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of shape (n_samples, n_features) to (n_samples, n_components).
    inputs : torch.Tensor of shape (n_samples, n_features)
        Where to take the Jacobian.

    Returns
    -------
    norms : torch.Tensor of shape (n_samples,)
    """
    if _has_one_hidden_layer(encoder):
        return _one_hidden_layer_norm(encoder, inputs)

    def encode_one(x):
        return encoder(x.unsqueeze(0)).squeeze(0)

    # Reverse mode: one vector-Jacobian product per code unit, and the code
    # is narrower than the input.
    jacobians = torch.func.vmap(torch.func.jacrev(encode_one))(inputs)
    return jacobians.square().sum(dim=(1, 2))


def _has_one_hidden_layer(encoder):
    return (
        isinstance(encoder, MLP)
        and len(encoder.layers) == 2
        and isinstance(encoder.activation, _ELEMENTWISE_ACTIVATIONS)
        and encoder.output_activation is None
    )


def _one_hidden_layer_norm(encoder, inputs):
    # J(x) = S + W2 diag(d) W1 with d = h'(a) and S the linear path, so
    # ||J||_F^2 = sum_jl d_j d_l (W2^T W2)_jl (W1 W1^T)_jl
    #             + 2 sum_j d_j sum_i W2_ij (S W1^T)_ij + ||S||_F^2.
    first, second = encoder.layers
    differentiable = torch.is_grad_enabled()
    with torch.enable_grad():  # also under no_grad, as in validation
        pre_activation = first(inputs)
        if not pre_activation.requires_grad:
            pre_activation = pre_activation.detach().requires_grad_()
        hidden = encoder.activation(pre_activation)
        # h'(a) of an elementwise activation: the gradient of sum(h(a)) in a,
        # itself differentiable so that the penalty trains the weights.
        (slope,) = torch.autograd.grad(
            hidden, pre_activation, torch.ones_like(hidden), create_graph=differentiable
        )
    gram = (second.weight.T @ second.weight) * (first.weight @ first.weight.T)
    norm = ((slope @ gram) * slope).sum(dim=1)
    if encoder.linear_path is not None:
        path = encoder.linear_path.weight
        cross = (second.weight * (path @ first.weight.T)).sum(dim=0)
        norm = norm + 2 * (slope @ cross) + path.square().sum()
    return norm
