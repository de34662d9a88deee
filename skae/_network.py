"""The encoder and decoder networks: multilayer perceptrons built from sizes."""

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


def mlp(layer_sizes, activation, output_activation="identity"):
    """A stack of linear layers with ``activation`` between them.

    ``layer_sizes`` lists the widths from input to output; the last layer is
    followed by ``output_activation`` only (``"identity"`` adds nothing).
    """
    layers = []
    n_layers = len(layer_sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        name = activation if i < n_layers - 1 else output_activation
        if name != "identity":
            layers.append(ACTIVATIONS[name]())
    return nn.Sequential(*layers)


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
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes,
        activation,
        code_activation="identity",
        encoder_outputs_per_component=1,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = mlp(
            [n_features, *hidden, n_components * encoder_outputs_per_component],
            activation,
            output_activation=code_activation,
        )
        self.decoder = mlp([n_components, *reversed(hidden), n_features], activation)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def build_network(seed, **network_params):
    """Build an :class:`AutoencoderNetwork` whose initial weights depend on ``seed`` only.

    torch's layer initialisers draw from the global generator, so the build
    runs inside ``fork_rng``: the user's global random state is restored
    afterwards and untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderNetwork(**network_params)
