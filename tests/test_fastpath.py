"""The hand-written gradient gives autograd's numbers, and is used only where it is exact."""

import numpy as np
import pytest
import torch
from torch import nn

from skae import (
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae._fastpath import PlainMLPGradient
from skae._network import build_network
from skae.losses import Huber, SquaredError

TINY = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)


def autograd_gradients(network, inputs, target):
    network.zero_grad(set_to_none=True)
    loss = SquaredError().per_sample(network.decoder(network.encoder(inputs)), target).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in network.parameters()]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
@pytest.mark.parametrize("code_activation", ["identity", "sigmoid"])
def test_plain_gradient_matches_autograd(activation, code_activation, rng):
    network = build_network(
        0,
        n_features=7,
        n_components=3,
        hidden_layer_sizes=(6, 5),
        activation=activation,
        code_activation=code_activation,
    )
    # A corrupted input and a clean target, as a denoising fit has them.
    target = torch.from_numpy(rng.normal(size=(20, 7)).astype(np.float32))
    inputs = target + 0.3 * torch.from_numpy(rng.normal(size=(20, 7)).astype(np.float32))
    expected_loss, expected_gradients = autograd_gradients(network, inputs, target)

    gradient = PlainMLPGradient.for_module(network, SquaredError())
    assert gradient is not None
    network.zero_grad(set_to_none=True)
    # Twice, and a smaller batch in between: buffers are reused, grads overwritten.
    gradient(inputs, target)
    gradient(inputs[:5], target[:5])
    loss = gradient(inputs, target)

    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-7)
    for got, expected in zip((p.grad for p in network.parameters()), expected_gradients):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_unsupported_networks_and_losses_get_no_fast_path():
    params = dict(n_features=6, n_components=2, hidden_layer_sizes=(4,))
    assert PlainMLPGradient.for_module(build_network(0, activation="relu", **params), Huber()) is None
    assert PlainMLPGradient.for_module(build_network(0, activation="gelu", **params), SquaredError()) is None
    double = build_network(0, activation="relu", **params).double()
    assert PlainMLPGradient.for_module(double, SquaredError()) is None
    odd = build_network(0, activation="relu", **params)
    odd.encoder.append(nn.Dropout(0.5))
    assert PlainMLPGradient.for_module(odd, SquaredError()) is None


@pytest.fixture
def fast_path_calls(monkeypatch):
    """Counts batches trained by the hand-written gradient."""
    calls = []
    original = PlainMLPGradient.__call__

    def counting(self, inputs, target):
        calls.append(inputs.shape[0])
        return original(self, inputs, target)

    monkeypatch.setattr(PlainMLPGradient, "__call__", counting)
    return calls


@pytest.mark.parametrize(
    "estimator, uses_fast_path",
    [
        (AutoencoderTransformer(**TINY), True),
        (AutoencoderTransformer(activation="tanh", **TINY), True),
        (DenoisingAutoencoder(noise="masking", **TINY), True),
        (AutoencoderTransformer(loss="absolute_error", **TINY), False),
        (AutoencoderTransformer(activation="gelu", **TINY), False),
        (AutoencoderTransformer(precision="bfloat16", **TINY), False),
        (SparseAutoencoder(**TINY), False),
        (ContractiveAutoencoder(**TINY), False),
        (VariationalAutoencoder(**TINY), False),
    ],
    ids=lambda value: repr(value)[:60] if not isinstance(value, bool) else str(value),
)
def test_fast_path_is_chosen_only_for_the_plain_objective(estimator, uses_fast_path, fast_path_calls, small_X):
    estimator.fit(small_X)
    assert bool(fast_path_calls) == uses_fast_path
    assert np.isfinite(estimator.loss_curve_).all()


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, DenoisingAutoencoder])
def test_fit_with_the_fast_path_matches_autograd(Estimator, monkeypatch, rng):
    X = rng.normal(size=(300, 12)).astype(np.float32)
    params = dict(n_components=3, hidden_layer_sizes=(16, 8), batch_size=32, max_iter=5, random_state=0)
    fast = Estimator(**params).fit(X)
    monkeypatch.setattr(PlainMLPGradient, "for_module", classmethod(lambda cls, module, loss: None))
    slow = Estimator(**params).fit(X)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(fast.transform(X), slow.transform(X), rtol=1e-3, atol=1e-4)
