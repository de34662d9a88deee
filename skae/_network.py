"""The encoder and decoder networks: multilayer perceptrons with a linear path.

Each of the encoder and the decoder is an :class:`MLP`: linear layers with an
activation between them, plus, when it has hidden layers, a linear map
straight from its input to its output. :meth:`AutoencoderNetwork.initialize_as_pca`
sets the linear paths to PCA's projection and reconstruction and the MLPs'
last weights to zero, so that training starts from PCA's solution and the
nonlinear part only has to add what PCA misses.
"""

import torch
from torch import nn

ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def _activation_module(name):
    return None if name == "identity" else ACTIVATIONS[name]()


class MLP(nn.Module):
    """``output_activation(mlp(x) + x @ linear_path.T)``.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from input to output; consecutive widths make one
        :class:`~torch.nn.Linear` layer each.
    activation : str
        Applied after every layer but the last, a key of ``ACTIVATIONS``.
    output_activation : str, default="identity"
        Applied to the output, after the linear path is added.
    linear_path : bool, default=True
        Add a linear map (without bias) from input to output. Only where
        there are hidden layers: a single layer is linear already.
    """

    def __init__(self, layer_sizes, activation, output_activation="identity", linear_path=True):
        super().__init__()
        sizes = list(layer_sizes)
        self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.activation = _activation_module(activation)
        self.output_activation = _activation_module(output_activation)
        has_path = linear_path and len(self.layers) > 1
        self.linear_path = nn.Linear(sizes[0], sizes[-1], bias=False) if has_path else None

    def forward(self, x):
        h = x
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            h = layer(h)
            if index < last and self.activation is not None:
                h = self.activation(h)
        if self.linear_path is not None:
            h = h + self.linear_path(x)
        if self.output_activation is not None:
            h = self.output_activation(h)
        return h

    def linear_part(self):
        """The weight of the linear map: the linear path, the only layer, or None (hidden layers, no path)."""
        if self.linear_path is not None:
            return self.linear_path.weight
        return self.layers[0].weight if len(self.layers) == 1 else None


class AutoencoderNetwork(nn.Module):
    """An MLP encoder and its mirrored MLP decoder.

    Parameters
    ----------
    n_features : int
        Input (and reconstruction) width.
    n_components : int
        Code width.
    hidden_layer_sizes : tuple of int
        Encoder hidden widths; the decoder uses them in reverse.
    activation : str
        Hidden activation, a key of ``ACTIVATIONS``.
    code_activation : str, default="identity"
        Activation on the code (``"sigmoid"`` for KL-sparse codes).
    encoder_outputs_per_component : int, default=1
        Encoder output width per code unit: 2 for a Gaussian encoder that
        outputs a mean and a log-variance per unit.
    linear_path : bool, default=True
        Give the encoder and the decoder a linear path beside their hidden
        layers (see :class:`MLP`).
    output_scale : bool, default=False
        Add ``log_scale``, a learnable log-scale per feature for a decoder
        likelihood whose scale is fitted (the variational autoencoder's).
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes,
        activation,
        code_activation="identity",
        encoder_outputs_per_component=1,
        linear_path=True,
        output_scale=False,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = MLP(
            [n_features, *hidden, n_components * encoder_outputs_per_component],
            activation,
            output_activation=code_activation,
            linear_path=linear_path,
        )
        self.decoder = MLP([n_components, *reversed(hidden), n_features], activation, linear_path=linear_path)
        self.log_scale = nn.Parameter(torch.zeros(n_features)) if output_scale else None

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def linear_parts(self):
        """The weights of the linear maps: each MLP's linear path, or its only layer."""
        return [part for part in (self.encoder.linear_part(), self.decoder.linear_part()) if part is not None]

    @torch.no_grad()
    def initialize_as_pca(self, X, sample_weight=None):
        """Start from PCA fitted to ``X``: the network then reconstructs as ``PCA(n_components)`` does.

        The encoder's first ``n_components`` outputs become the principal
        component scores of the centred ``X`` (further outputs, such as a
        variational encoder's log-variances, and components beyond the rank
        of ``X``, start at zero), the decoder maps scores back to the data
        space, and the last layer of every MLP with a linear path starts at
        zero weight, so the nonlinear part adds nothing until training
        moves it.

        Parameters
        ----------
        X : torch.Tensor of shape (n_samples, n_features)
            Training data in the network's dtype, on any device (large data may stay on
            the host while the network is on an accelerator).
        sample_weight : torch.Tensor of shape (n_samples,) or None
            Weights of the rows, on ``X``'s device: the weighted PCA.
        """
        encoder_weight, decoder_weight = self.encoder.linear_part(), self.decoder.linear_part()
        n_components = decoder_weight.shape[1]
        mean, components = principal_components(X, n_components, sample_weight)
        mean, components = mean.to(decoder_weight.device), components.to(decoder_weight.device)
        n_found = components.shape[0]
        encoder_weight.zero_()
        encoder_weight[:n_found] = components
        decoder_weight.zero_()
        decoder_weight[:, :n_found] = components.T
        encoder_bias, decoder_bias = self.encoder.layers[-1].bias, self.decoder.layers[-1].bias
        encoder_bias.zero_()
        encoder_bias[:n_found] = -components @ mean
        decoder_bias.copy_(mean)
        for mlp in (self.encoder, self.decoder):
            if mlp.linear_path is not None:
                mlp.layers[-1].weight.zero_()


def principal_components(X, n_components, sample_weight=None):
    """The mean of ``X`` and its top principal axes, as rows (at most its rank's worth).

    From the eigendecomposition of the covariance, accumulated in float32 on
    ``X``'s device and decomposed in float64 on the CPU: one pass over the data.
    With ``sample_weight``, the weighted mean and covariance.
    """
    n_samples, n_features = X.shape
    if sample_weight is None:
        mean = X.mean(dim=0)
        centred = X - mean
        covariance = (centred.T @ centred).to("cpu", torch.float64) / max(n_samples - 1, 1)
    else:
        weights = sample_weight.to(X.device, X.dtype)
        mean = (weights @ X) / weights.sum()
        centred = X - mean
        # Only the directions matter: the covariance's scale is left as the weights make it.
        covariance = ((centred * weights[:, None]).T @ centred).to("cpu", torch.float64)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    order = torch.argsort(eigenvalues, descending=True)
    n_found = min(n_components, n_features, n_samples)
    # Directions of (numerically) zero variance carry nothing to start from.
    significant = eigenvalues[order[:n_found]] > 1e-10 * eigenvalues.abs().max().clamp_min(1e-300)
    n_found = int(significant.sum())
    components = eigenvectors[:, order[:n_found]].T
    # A deterministic sign, as scikit-learn's svd_flip: the largest loading positive.
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    return mean, (components * signs).to(X.device, X.dtype)


def build_network(seed, dtype="float32", **network_params):
    """Build an :class:`AutoencoderNetwork` whose initial weights depend on ``seed`` only.

    torch's layer initialisers draw from the global generator, so the build
    runs inside ``fork_rng``: the user's global random state is restored
    afterwards and untouched. ``dtype`` (``"float32"`` or ``"float64"``) is
    the parameters' dtype; the weights are drawn in float32 either way, so
    a seed starts both at the same point.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderNetwork(**network_params).to(getattr(torch, dtype))
