"""FlatAdam: torch.optim.Adam's update over one flat buffer."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from skae import AutoencoderTransformer
from skae._optim import FlatAdam, independent_cpu_copy


def network(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3), nn.Tanh(), nn.Linear(3, 5))


def train(module, step, zero_grad, n_steps=25):
    data = torch.randn(40, 5, generator=torch.Generator().manual_seed(1))
    for batch in data.split(8) * (n_steps // 5):
        zero_grad()
        ((module(batch) - batch) ** 2).mean().backward()
        step()
    return [p.detach().clone() for p in module.parameters()]


def torch_adam(module, learning_rate, weight_decay):
    weights = [p for p in module.parameters() if p.ndim > 1]
    biases = [p for p in module.parameters() if p.ndim == 1]
    groups = [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}]
    return torch.optim.Adam(groups, lr=learning_rate)


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
@pytest.mark.parametrize("fused", [True, False])
def test_same_update_as_torch_adam(weight_decay, fused):
    reference = network()
    adam = torch_adam(reference, 0.01, weight_decay)
    expected = train(reference, adam.step, adam.zero_grad)

    module = network()
    flat = FlatAdam(module, learning_rate=0.01, weight_decay=weight_decay)
    flat._fused = fused
    got = train(module, flat.step, flat.zero_grad)
    assert flat.n_steps == 25
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def test_parameters_and_gradients_stay_views_of_the_flat_buffers():
    module = network()
    parameters = list(module.parameters())
    before = [p.detach().clone() for p in parameters]
    flat = FlatAdam(module, learning_rate=0.01, weight_decay=0.0)
    assert list(module.parameters()) == parameters  # same Parameter objects, same values
    assert all(torch.equal(p, b) for p, b in zip(parameters, before))
    train(module, flat.step, flat.zero_grad, n_steps=5)
    # Autograd accumulated into the views, and the step moved the buffer the module reads.
    assert flat.gradients.abs().sum() > 0
    offsets = {p.grad.data_ptr() - flat.gradients.data_ptr() for p in parameters}
    assert len(offsets) == len(parameters) and min(offsets) >= 0
    assert all(p.data_ptr() >= flat.values.data_ptr() for p in parameters)
    # Weights come first, so weight decay touches one leading slice.
    assert flat.n_weight_values == sum(p.numel() for p in parameters if p.ndim > 1)

    module.zero_grad(set_to_none=True)
    replaced = parameters[1]
    replaced.data = replaced.data.clone() + 1  # what module.to or load_state_dict(assign=True) do
    flat.attach()
    assert all(p.grad is not None for p in parameters)
    assert {p.grad.data_ptr() - flat.gradients.data_ptr() for p in parameters} == offsets
    # The new value was adopted into the buffer the optimiser steps.
    assert replaced.detach().abs().min() > 0
    flat.values.zero_()
    assert torch.count_nonzero(replaced) == 0


def test_a_pickled_model_writes_each_parameter_once():
    X = np.random.default_rng(0).normal(size=(64, 300))
    ae = AutoencoderTransformer(4, hidden_layer_sizes=(64,), max_iter=1, random_state=0).fit(X)
    n_values = sum(p.numel() for p in ae.module_.parameters())
    # Parameters plus Adam's two moments, float32; views of one buffer would
    # each write all of it (about 10 times as much here).
    assert len(pickle.dumps(ae)) < 4 * 3 * n_values * 1.2
    copy = independent_cpu_copy(ae.module_)
    storages = {p.untyped_storage().data_ptr() for p in copy.parameters()}
    assert len(storages) == len(list(copy.parameters()))


def test_pickling_the_optimiser_alone_is_refused():
    flat = FlatAdam(network(), learning_rate=0.01, weight_decay=0.0)
    with pytest.raises(TypeError, match="TrainingEngine"):
        pickle.dumps(flat)


def test_mixed_devices_or_dtypes_are_refused():
    module = network()
    module[0].double()
    with pytest.raises(ValueError, match="one device and of one dtype"):
        FlatAdam(module, learning_rate=0.01, weight_decay=0.0)


def test_a_device_without_the_fused_kernel_falls_back_to_the_same_update(monkeypatch):
    reference = network()
    adam = torch_adam(reference, 0.01, 0.1)
    expected = train(reference, adam.step, adam.zero_grad)

    def no_kernel(*args, **kwargs):
        raise NotImplementedError("no fused Adam for this device")  # what torch raises

    monkeypatch.setattr(torch, "_fused_adam_", no_kernel)
    module = network()
    flat = FlatAdam(module, learning_rate=0.01, weight_decay=0.1)
    got = train(module, flat.step, flat.zero_grad)
    assert not flat._fused
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
