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
from skae._fastpath import BufferedForward, PlainMLPGradient
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
    # Twice, and a smaller batch in between: buffers are reused, grads
    # overwritten; gradients set to None in between are made again.
    gradient(inputs, target)
    gradient(inputs[:5], target[:5])
    network.zero_grad(set_to_none=True)
    loss = gradient(inputs, target)

    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-7)
    for got, expected in zip((p.grad for p in network.parameters()), expected_gradients):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_gradient_matches_autograd_under_autocast(rng):
    network = build_network(0, n_features=40, n_components=4, hidden_layer_sizes=(32,), activation="relu")
    target = torch.from_numpy(rng.normal(size=(64, 40)).astype(np.float32))
    inputs = target + 0.3 * torch.from_numpy(rng.normal(size=(64, 40)).astype(np.float32))
    network.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = network.decoder(network.encoder(inputs))
    expected_loss = SquaredError().per_sample(output.float(), target).mean()
    expected_loss.backward()
    expected = [p.grad.clone() for p in network.parameters()]
    weights = [p.detach().clone() for p in network.parameters()]

    gradient = PlainMLPGradient.for_module(network, SquaredError(), torch.bfloat16)
    loss = gradient(inputs, target)
    # float32 where the optimiser reads them, bfloat16 arithmetic inside.
    assert all(p.grad.dtype == torch.float32 for p in network.parameters())
    assert all(torch.equal(p, w) for p, w in zip(network.parameters(), weights))
    torch.testing.assert_close(loss, expected_loss.detach(), rtol=1e-2, atol=0)
    for got, want in zip((p.grad for p in network.parameters()), expected):
        # bfloat16 keeps 8 bits: compare at the scale of each gradient.
        assert (got - want).abs().max() <= 0.03 * want.abs().max()


def test_unsupported_networks_and_losses_get_no_fast_path():
    params = dict(n_features=6, n_components=2, hidden_layer_sizes=(4,))
    assert PlainMLPGradient.for_module(build_network(0, activation="relu", **params), Huber()) is None
    assert PlainMLPGradient.for_module(build_network(0, activation="gelu", **params), SquaredError()) is None
    double = build_network(0, activation="relu", **params).double()
    assert PlainMLPGradient.for_module(double, SquaredError()) is None
    odd = build_network(0, activation="relu", **params)
    odd.encoder = nn.Sequential(nn.Linear(6, 2), nn.Dropout(0.5))
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
        (AutoencoderTransformer(precision="bfloat16", **TINY), True),
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
    monkeypatch.setattr(PlainMLPGradient, "for_module", classmethod(lambda cls, module, loss, compute_dtype=None: None))
    slow = Estimator(**params).fit(X)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(fast.transform(X), slow.transform(X), rtol=1e-3, atol=1e-4)


# -- inference through reused buffers ----------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        AutoencoderTransformer(activation="tanh", loss="binary_crossentropy", max_iter=2, random_state=0),
        SparseAutoencoder(sparsity="kl", hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        VariationalAutoencoder(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
    ],
    ids=lambda estimator: type(estimator).__name__ + "-" + str(estimator.loss),
)
def test_buffered_inference_matches_the_modules(estimator, monkeypatch, rng):
    # More rows than one inference batch, so the buffers are reused, and a
    # last batch smaller than the first.
    X = rng.uniform(size=(5000, 6)).astype(np.float32)
    estimator.set_params(n_components=2).fit(X[:500])
    buffered_calls = []
    original = BufferedForward.__call__
    monkeypatch.setattr(BufferedForward, "__call__", lambda self, x: buffered_calls.append(len(x)) or original(self, x))
    codes, reconstruction, scores = (
        estimator.transform(X), estimator.inverse_transform(estimator.transform(X)), estimator.score_samples(X)
    )  # fmt: skip
    assert buffered_calls[:2] == [4096, 904]

    module = estimator.module_
    with torch.no_grad():
        x = torch.from_numpy(X)
        expected_codes = module.encoder(x)[:, :2]  # the VAE's encoder gives (mean, log-variance)
        expected_reconstruction = estimator.loss_.reconstruct(module.decoder(torch.from_numpy(codes)))
    np.testing.assert_allclose(codes, expected_codes.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reconstruction, expected_reconstruction.numpy(), rtol=1e-5, atol=1e-6)
    # The float32 scores, taken on the device, agree with the float64 ones. They
    # are sums of log-densities of either sign, so some are near zero: an
    # absolute tolerance of float32's precision of those terms too.
    np.testing.assert_allclose(scores, estimator.score_samples(X.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert scores.dtype == np.float64


def test_buffered_forward_is_only_for_plain_float32_mlps():
    params = dict(n_features=6, n_components=2, hidden_layer_sizes=(4,))
    assert BufferedForward.for_module(build_network(0, activation="relu", **params).encoder) is not None
    assert BufferedForward.for_module(build_network(0, activation="gelu", **params).encoder) is None
    assert BufferedForward.for_module(build_network(0, activation="relu", **params).double().encoder) is None


def test_hooks_given_the_module_return_fresh_tensors(small_X):
    # The buffers live only in a predict call's view of the network: the same
    # hooks given the module itself give independent results.
    model = AutoencoderTransformer(2, **TINY).fit(small_X)
    x = torch.from_numpy(small_X[:10].astype(np.float32))
    with torch.no_grad():
        first, second = model._encode(model.module_, x), model._encode(model.module_, 2 * x)
    assert not torch.equal(first, second)


def test_threads_predicting_with_one_model_do_not_share_buffers(rng):
    from concurrent.futures import ThreadPoolExecutor

    model = AutoencoderTransformer(2, **TINY).fit(rng.normal(size=(200, 6)))
    inputs = [rng.normal(size=(5000, 6)).astype(np.float32) * scale for scale in (1, 2, 3, 4)]
    expected = [model.inverse_transform(model.transform(X)) for X in inputs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            results = list(pool.map(lambda X: model.inverse_transform(model.transform(X)), inputs))
            for got, want in zip(results, expected):
                np.testing.assert_array_equal(got, want)
