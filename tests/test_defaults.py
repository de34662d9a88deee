"""What a user who sets only n_components gets: PCA's error or better, no subnormal slowdown."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae._engine import _improves
from skae._network import build_network
from skae._optim import FLUSH_FLOOR, FLUSH_INTERVAL, SMALLEST_NORMAL, FlatAdam


def standardised_split(loader):
    X_train, X_test = train_test_split(loader().data, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def test_error_ratio_to_pca(model, X_train, X_test, k):
    pca = PCA(k).fit(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train)
    error = np.mean(np.square(model.inverse_transform(model.transform(X_test)) - X_test))
    return error / np.mean(np.square(pca.inverse_transform(pca.transform(X_test)) - X_test))


test_error_ratio_to_pca.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("loader, k", [(load_wine, 3), (load_breast_cancer, 5)])
def test_default_linear_model_is_pca(loader, k):
    X_train, X_test = standardised_split(loader)
    linear = AutoencoderTransformer(k, hidden_layer_sizes=(), activation="identity", random_state=0)
    assert test_error_ratio_to_pca(linear, X_train, X_test, k) <= 1.01


@pytest.mark.parametrize("loader, k", [(load_wine, 2), (load_wine, 3), (load_diabetes, 2)])
def test_default_model_is_at_least_as_good_as_pca(loader, k):
    X_train, X_test = standardised_split(loader)
    assert test_error_ratio_to_pca(AutoencoderTransformer(k, random_state=0), X_train, X_test, k) <= 1.0


@pytest.mark.parametrize("hidden", [(16,), (16, 8), ()])
def test_pca_start_reconstructs_as_pca(hidden):
    X = np.random.default_rng(0).normal(size=(200, 7)) @ np.random.default_rng(1).normal(size=(7, 7))
    network = build_network(0, n_features=7, n_components=3, hidden_layer_sizes=hidden, activation="relu")
    network.initialize_as_pca(torch.as_tensor(X, dtype=torch.float32))
    with torch.no_grad():
        reconstruction = network(torch.as_tensor(X, dtype=torch.float32)).numpy()
    pca = PCA(3).fit(X)
    np.testing.assert_allclose(reconstruction, pca.inverse_transform(pca.transform(X)), atol=1e-4)


def test_alpha_is_a_prior_on_the_summed_loss_whatever_the_batch_size():
    X = np.random.default_rng(0).normal(size=(120, 5))
    for batch_size in (8, 120):
        model = AutoencoderTransformer(2, alpha=0.6, batch_size=batch_size, max_iter=1, random_state=0).fit(X)
        assert model.engine_.optimizer.weight_decay == pytest.approx(0.6 / 120)


def test_linear_paths_are_not_decayed():
    X = np.random.default_rng(0).normal(size=(64, 5))
    model = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X)
    optimizer = model.engine_.optimizer
    # Weight decay applies to the first n_weight_values entries of the flat buffer.
    starts = np.cumsum([0] + [p.numel() for p in optimizer.parameters])
    start = {id(p): offset for p, offset in zip(optimizer.parameters, starts)}
    assert len(model.module_.linear_parts()) == 2
    assert all(start[id(path)] >= optimizer.n_weight_values for path in model.module_.linear_parts())
    assert all(start[id(layer.weight)] < optimizer.n_weight_values for layer in model.module_.encoder.layers)


@pytest.mark.parametrize("planted_value", [SMALLEST_NORMAL / 1000, 1e-33])
def test_planted_subnormal_weights_and_moments_are_flushed(planted_value):
    # Subnormal, or normal but small enough that its products with gradients are subnormal.
    network = build_network(0, n_features=6, n_components=2, hidden_layer_sizes=(8,), activation="relu")
    optimizer = FlatAdam(network, learning_rate=1e-3, weight_decay=1e-3)
    planted = torch.zeros_like(optimizer.values, dtype=torch.bool)
    planted[::3] = True
    for buffer in (optimizer.values, optimizer.exp_avg, optimizer.exp_avg_sq):
        buffer[planted] = planted_value
    assert network.encoder.layers[0].weight.abs().min() <= planted_value  # the parameters see it
    optimizer.zero_grad()
    for _ in range(FLUSH_INTERVAL):
        optimizer.step()
    for buffer, floor in ((optimizer.values, FLUSH_FLOOR), (optimizer.exp_avg, FLUSH_FLOOR)):
        assert not ((buffer != 0) & (buffer.abs() < floor)).any()
    assert not ((optimizer.exp_avg_sq != 0) & (optimizer.exp_avg_sq < SMALLEST_NORMAL)).any()
    # Values above the floor are left alone by the flush itself.
    values = optimizer.values.clone()
    optimizer.flush_subnormals()
    torch.testing.assert_close(optimizer.values, values, rtol=0, atol=0)


def test_a_fitted_model_holds_no_weight_below_the_flush_floor():
    # Dead ReLU units under weight decay: their weights shrink geometrically towards zero
    # (flushing only subnormals left 5763 weights below 1e-30 here).
    X = np.random.default_rng(0).uniform(size=(20000, 32)).astype(np.float32)
    model = AutoencoderTransformer(4, hidden_layer_sizes=(128, 32), max_iter=20, tol=0, random_state=0).fit(X)
    for parameter in model.module_.parameters():
        magnitudes = parameter.detach().abs()
        assert not ((magnitudes > 0) & (magnitudes < FLUSH_FLOOR)).any()


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_stopping_rule_is_relative_to_the_loss(scale):
    assert _improves(0.9 * scale, 1.0 * scale, tol=1e-4)
    assert not _improves((1 - 1e-5) * scale, 1.0 * scale, tol=1e-4)
    assert _improves(5.0, float("inf"), tol=1e-4)


def test_plateaus_divide_the_step_and_the_next_call_starts_afresh():
    X = np.random.default_rng(0).normal(size=(100, 4))
    model = AutoencoderTransformer(2, hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=1, random_state=0)
    # The first epoch improves on nothing yet; then it never improves by 10
    # times its loss: three plateaus of n_iter_no_change + 1 = 2 epochs.
    model.fit(X)
    assert model.n_iter_ == 1 + 3 * 2
    assert model.engine_.optimizer.learning_rate == pytest.approx(1e-3 * 0.1**2)
    model.partial_fit(X)
    assert model.engine_.optimizer.learning_rate == model.learning_rate_init
