"""Behaviour of the variants: denoising, sparse, contractive and variational."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

import skae
from skae import (
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae._engine import PLATEAU_STEP_DECAYS
from skae._network import ACTIVATIONS
from skae.contractive import relative_contraction, squared_jacobian_norm
from skae.metrics import neg_mean_squared_reconstruction_error as neg_mse
from skae.sparse import kl_sparsity, l1_l2_ratios, threshold_code
from skae.variational import LOG_VARIANCE_OFFSET

VARIANTS = [DenoisingAutoencoder, SparseAutoencoder, ContractiveAutoencoder, VariationalAutoencoder]
TINY = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
FIT_ONCE = dict(max_iter=1, random_state=0)


@pytest.fixture(scope="module")
def digits():
    """Digits scaled to [0, 1], split 75/25."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, random_state=0)
    return X_train, X_test, y_train, y_test


# -- denoising --------------------------------------------------------------


def test_denoising_reconstructs_clean_digits_from_noisy_ones_better(digits):
    X_train, X_test, _, _ = digits
    same_size_and_budget = dict(
        n_components=16,
        hidden_layer_sizes=(64,),
        max_iter=30,
        batch_size=64,
        learning_rate_init=3e-3,
        random_state=0,
    )
    denoising = DenoisingAutoencoder(noise="masking", noise_level=0.3, **same_size_and_budget).fit(X_train)
    plain = AutoencoderTransformer(**same_size_and_budget).fit(X_train)
    masked = np.where(np.random.default_rng(1).random(X_test.shape) < 0.3, 0.0, X_test)

    def error_against_clean(model):
        return np.mean((model.inverse_transform(model.transform(masked)) - X_test) ** 2)

    # Measured: 0.0281 (denoising) against 0.0428 (plain), a ratio of 1.52.
    assert error_against_clean(plain) > 1.3 * error_against_clean(denoising)


def _corrupt(model, X, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return model._corrupt(torch.as_tensor(X, dtype=torch.float32), generator).numpy()


def test_gaussian_noise_has_noise_level_times_each_features_spread_as_standard_deviation():
    scales = np.repeat([0.01, 1.0, 100.0], 20)  # features of very different spreads
    X = np.random.default_rng(0).normal(size=(2000, 60)) * scales
    model = DenoisingAutoencoder(noise="gaussian", noise_level=0.3)
    model._record_training_data(X)
    np.testing.assert_allclose(model.data_std_, X.std(axis=0))
    noise = _corrupt(model, X) - X
    np.testing.assert_allclose(noise.mean(axis=0) / scales, 0, atol=0.05)
    np.testing.assert_allclose(noise.std(axis=0) / scales, 0.3, rtol=0.08)


def test_the_noise_scale_pools_every_chunk_of_partial_fit():
    rng = np.random.default_rng(1)
    chunks = [rng.normal(3, 2, size=(300, 4)), rng.normal(-1, 0.5, size=(200, 4))]
    chunks[1][::7, 2] = np.nan  # missing entries are left out
    model = DenoisingAutoencoder(2, max_iter=1, random_state=0)
    for chunk in chunks:
        model.partial_fit(chunk)
    stacked = np.vstack(chunks)
    np.testing.assert_allclose(model.data_std_, np.nanstd(stacked, axis=0), rtol=1e-10)
    refit = DenoisingAutoencoder(2, max_iter=1, random_state=0).fit(chunks[1])
    np.testing.assert_allclose(refit.data_std_, np.nanstd(chunks[1], axis=0), rtol=1e-10)


def test_masking_zeroes_a_noise_level_share_of_entries():
    X = np.random.default_rng(0).random((400, 50)) + 0.5  # no zeros of its own
    corrupted = _corrupt(DenoisingAutoencoder(noise="masking", noise_level=0.25), X)
    zeroed = corrupted == 0
    assert zeroed.mean() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(corrupted[~zeroed], X[~zeroed], rtol=1e-6)


def test_salt_and_pepper_uses_the_training_extremes_of_each_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) * np.arange(1, 6) + np.arange(5)
    model = DenoisingAutoencoder(noise="salt_and_pepper", noise_level=0.2, **TINY).fit(X)
    np.testing.assert_array_equal(model.data_min_, X.min(axis=0))
    np.testing.assert_array_equal(model.data_max_, X.max(axis=0))
    corrupted = _corrupt(model, X)
    changed = ~np.isclose(corrupted, X)
    assert changed.mean() == pytest.approx(0.2, abs=0.02)
    low = np.isclose(corrupted, model.data_min_)
    high = np.isclose(corrupted, model.data_max_)
    assert np.all(low | high | ~changed)
    assert low[changed].mean() == pytest.approx(0.5, abs=0.05)


def test_salt_and_pepper_extremes_accumulate_over_partial_fit():
    model = DenoisingAutoencoder(noise="salt_and_pepper", **TINY)
    model.partial_fit(np.array([[0.0, 1.0], [2.0, 3.0]]))
    model.partial_fit(np.array([[-1.0, 2.0]]))
    np.testing.assert_array_equal(model.data_min_, [-1.0, 1.0])
    np.testing.assert_array_equal(model.data_max_, [2.0, 3.0])
    model.fit(np.array([[5.0, 5.0], [6.0, 6.0]]))  # a fresh fit forgets
    np.testing.assert_array_equal(model.data_min_, [5.0, 5.0])


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_corruption_comes_from_the_given_generator_only(noise):
    X = np.random.default_rng(0).random((50, 6))
    model = DenoisingAutoencoder(noise=noise, noise_level=0.3, **TINY).fit(X)
    global_state = torch.random.get_rng_state()
    first, again, other = _corrupt(model, X, seed=1), _corrupt(model, X, seed=1), _corrupt(model, X, seed=2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert torch.equal(torch.random.get_rng_state(), global_state)


def test_callable_noise_corrupts_training_batches_only():
    calls = []

    def flip_sign(x, generator):
        calls.append(generator)
        return -x

    X = np.random.default_rng(0).random((40, 6))
    model = DenoisingAutoencoder(noise=flip_sign, batch_size=20, **TINY).fit(X)
    assert len(calls) == 3 * 2  # epochs times batches
    assert all(generator is model.engine_.generator for generator in calls)
    n_calls = len(calls)
    codes = model.transform(X)
    model.inverse_transform(codes)
    model.score_samples(X)
    assert len(calls) == n_calls
    with torch.no_grad():
        expected = model.encoder_(torch.as_tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)


def test_callable_noise_must_keep_the_batch_shape():
    model = DenoisingAutoencoder(noise=lambda x, generator: x[:, :2], **TINY)
    with pytest.raises(ValueError, match="callable noise must return a tensor of the batch's shape"):
        model.fit(np.random.default_rng(0).random((20, 4)))
    assert not hasattr(model, "engine_")


@pytest.mark.parametrize("noise", ["masking", "salt_and_pepper"])
def test_probability_noise_level_above_one_is_rejected_without_losing_the_model(noise):
    X = np.random.default_rng(0).random((20, 4))
    model = DenoisingAutoencoder(noise=noise, noise_level=0.5, **TINY).partial_fit(X)
    model.set_params(noise_level=1.5)
    with pytest.raises(InvalidParameterError, match="noise_level is a probability"):
        model.partial_fit(X)
    assert model.n_iter_ == 1
    DenoisingAutoencoder(noise="gaussian", noise_level=1.5, **TINY).fit(X)  # a std may exceed 1


# -- sparse -----------------------------------------------------------------


def test_kl_sparsity_holds_mean_activation_at_target(digits):
    X = digits[0][:1000]
    settings = dict(
        n_components=128,  # overcomplete: 64 pixels
        hidden_layer_sizes=(64,),
        max_iter=60,
        batch_size=100,
        learning_rate_init=1e-2,
        random_state=0,
        init="random",  # the former default, with which the figures below were measured
    )
    sparse = SparseAutoencoder(sparsity="kl", sparsity_weight=0.01, sparsity_target=0.05, **settings).fit(X)
    unit_means = sparse.transform(X).mean(axis=0)
    # Measured: mean activation 0.0548, 90% of units' means in [0.049, 0.061]
    # (the highest 0.106), squared error 0.027 against 0.073 for predicting
    # the mean image.
    assert abs(unit_means.mean() - 0.05) < 0.01
    assert np.mean(np.abs(unit_means - 0.05) < 0.02) > 0.9
    assert np.all(unit_means < 0.2)
    assert -neg_mse(sparse, X) < 0.5 * X.var(axis=0).mean()
    unpenalised = SparseAutoencoder(sparsity="kl", sparsity_weight=0.0, **settings).fit(X)
    assert unpenalised.transform(X).mean() > 0.1


def test_l1_sparsity_zeroes_most_code_entries(digits):
    X = digits[0][:1000]
    settings = dict(
        n_components=96,
        hidden_layer_sizes=(),
        max_iter=40,
        batch_size=100,
        learning_rate_init=3e-3,
        random_state=0,
    )

    def near_zero_share(model):
        return np.mean(np.abs(model.transform(X)) < 1e-3)

    sparse = SparseAutoencoder(sparsity="l1", sparsity_weight=0.1, **settings).fit(X)
    unpenalised = SparseAutoencoder(sparsity="l1", sparsity_weight=0.0, **settings).fit(X)
    # An overcomplete code starts at random. Measured: 61% of entries near
    # zero against 18%, at a squared reconstruction error of 0.0030 (0.0003
    # without the penalty); at the default weight, 0.3, 81% at 0.0098.
    assert near_zero_share(sparse) > near_zero_share(unpenalised) + 0.3
    assert -neg_mse(sparse, X) < 0.01


def test_l1_default_code_is_sparser_than_the_plain_one_at_a_bounded_cost(digits):
    X_train, X_test, _, _ = digits
    budget = dict(n_components=8, hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    sparse = SparseAutoencoder(**budget).fit(X_train)
    plain = AutoencoderTransformer(**budget).fit(X_train)
    sparse_zeros = np.mean(sparse.transform(X_test) == 0)
    plain_zeros = np.mean(plain.transform(X_test) == 0)
    error_ratio = neg_mse(sparse, X_test) / neg_mse(plain, X_test)
    # Measured: 10% of the held-out code entries exactly zero (none for the
    # plain model's), at 1.02 times the plain model's held-out squared error.
    assert plain_zeros == 0
    assert sparse_zeros > 0.03
    assert error_ratio < 1.5


def test_l1_starts_exactly_at_pca(digits):
    X = digits[0]
    # One step of a negligible size: the model is still at its start.
    sparse = SparseAutoencoder(n_components=5, max_iter=1, learning_rate_init=1e-12, random_state=0).fit(X)
    pca = PCA(5).fit(X)
    np.testing.assert_allclose(
        sparse.inverse_transform(sparse.transform(X)), pca.inverse_transform(pca.transform(X)), atol=1e-4
    )
    np.testing.assert_allclose(np.abs(sparse.transform(X)), np.abs(pca.transform(X)), atol=1e-4)


def test_threshold_code_zeroes_small_values_and_is_continuous():
    values = torch.tensor([[-3.0, -0.5, 0.0, 0.5, 3.0]])
    thresholds = torch.full_like(values, 1.0)
    code = threshold_code(torch.cat([values, thresholds], dim=1))
    torch.testing.assert_close(code, torch.tensor([[-2.0, 0.0, 0.0, 0.0, 2.0]]))
    # A negative threshold: no zeros, and no jump at 0.
    grid = torch.linspace(-1, 1, 2001)[:, None]
    code = threshold_code(torch.cat([grid, torch.full_like(grid, -0.5)], dim=1)).squeeze(1)
    assert torch.all(code[grid.squeeze(1) != 0] != 0)
    assert code.diff().abs().max() < 0.01
    # A unit whose value and threshold are both exactly 0 still gets a gradient.
    start = torch.zeros(1, 2, requires_grad=True)
    threshold_code(start).sum().backward()
    assert start.grad[0, 0] != 0


def test_l1_l2_ratio_is_scale_free_and_measures_activity():
    on_share = 0.25
    code = torch.zeros(400, 3)
    code[:100, 0] = 2.0  # active on a quarter of the rows, one magnitude
    code[:, 1] = torch.linspace(-1, 1, 400)
    torch.testing.assert_close(l1_l2_ratios(code)[0], torch.tensor(on_share**0.5))
    assert l1_l2_ratios(code)[2] == 0  # silent: no division by zero
    torch.testing.assert_close(l1_l2_ratios(code * 7.0), l1_l2_ratios(code))


def test_sparse_penalty_values():
    code = torch.tensor([[0.1, 0.5, 0.0], [0.3, 0.1, 0.2]])
    rate = code.mean(dim=0).numpy()
    rho = 0.05
    expected = np.sum(rho * np.log(rho / rate) + (1 - rho) * np.log((1 - rho) / (1 - rate)))
    assert kl_sparsity(code, rho).item() == pytest.approx(expected, rel=1e-5)
    assert kl_sparsity(torch.full((4, 3), 0.2), 0.2).item() == pytest.approx(0.0, abs=1e-6)
    kl = SparseAutoencoder(sparsity="kl", sparsity_weight=0.5, sparsity_target=rho)
    assert kl._penalties(None, None, code)["sparsity"].item() == pytest.approx(0.5 * expected, rel=1e-5)

    # L1: the reconstruction loss times the summed L1/L2 ratios over sqrt(n_components).
    X = np.random.default_rng(0).random((30, 4))
    l1 = SparseAutoencoder(n_components=3, sparsity_weight=0.5, **TINY).fit(X)
    inputs = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        terms = l1._objective(l1.module_, inputs, inputs, l1.engine_.generator)
        code = threshold_code(l1.encoder_(inputs))
        reconstruction = ((l1.decoder_(code) - inputs) ** 2).mean()
    ratios = code.abs().mean(dim=0) / code.square().mean(dim=0).sqrt()
    assert terms["reconstruction"].item() == pytest.approx(reconstruction.item(), rel=1e-5)
    expected_l1 = 0.5 * reconstruction.item() * ratios.sum().item() / np.sqrt(3)
    assert terms["sparsity"].item() == pytest.approx(expected_l1, rel=1e-5)
    np.testing.assert_allclose(l1.transform(X), code.numpy(), rtol=1e-5, atol=1e-6)


def test_only_the_sparse_autoencoder_may_be_overcomplete():
    X = np.random.default_rng(0).random((30, 4))
    assert SparseAutoencoder(n_components=10, **TINY).fit_transform(X).shape == (30, 10)
    for cls in [DenoisingAutoencoder, ContractiveAutoencoder, VariationalAutoencoder]:
        with pytest.raises(ValueError, match="n_components=10 must be <= n_features=4"):
            cls(n_components=10, **TINY).fit(X)


# -- contractive -------------------------------------------------------------


def test_contractive_encoder_is_flatter_on_held_out_data(digits):
    X_train, X_test, _, _ = digits
    same_size_and_budget = dict(
        n_components=8,
        hidden_layer_sizes=(64,),
        max_iter=30,
        batch_size=64,
        learning_rate_init=3e-3,
        random_state=0,
    )
    # Rifai et al.'s penalty, the default before the relative one.
    contractive = ContractiveAutoencoder(contractive_weight=0.01, contraction="absolute", **same_size_and_budget).fit(
        X_train
    )
    plain = AutoencoderTransformer(**same_size_and_budget).fit(X_train)
    held_out = torch.as_tensor(X_test, dtype=torch.float32)
    with torch.no_grad():
        contractive_norm = squared_jacobian_norm(contractive.encoder_, held_out).mean().item()
        plain_norm = squared_jacobian_norm(plain.encoder_, held_out).mean().item()
    # Measured: 0.245 against 11.1 (45 times flatter), at a held-out squared
    # error of 0.028 against 0.019.
    assert contractive_norm < plain_norm / 10
    assert -neg_mse(contractive, X_test) < 0.05


def relative_slope(model, X):
    """``mean_j [ mean_i ||grad f_j(x_i)||^2 * v / Var_i f_j(x_i) ]`` on ``X``, exact."""
    encoder = model.encoder_
    inputs = torch.as_tensor(X, dtype=torch.float32)
    jacobians = torch.func.vmap(torch.func.jacrev(lambda x: encoder(x.unsqueeze(0)).squeeze(0)))(inputs)
    slopes = jacobians.detach().square().sum(dim=2).mean(dim=0).numpy()
    return float(np.mean(slopes * X.var(axis=0).mean() / model.transform(X).var(axis=0)))


def test_relative_contraction_flattens_the_code_relative_to_its_spread(digits):
    X_train, X_test, _, _ = digits
    budget = dict(n_components=8, hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    # A weight above the default (0.01), whose effect on this short budget
    # is small: 0.244 against 0.275.
    contractive = ContractiveAutoencoder(contractive_weight=0.3, **budget).fit(X_train)
    plain = AutoencoderTransformer(**budget).fit(X_train)
    # Measured: 0.144 against 0.275 (1.9 times flatter relative to the
    # code's spread), at 1.07 times the plain model's held-out squared error.
    assert relative_slope(contractive, X_test) < relative_slope(plain, X_test) / 1.5
    assert neg_mse(contractive, X_test) / neg_mse(plain, X_test) < 1.2


def test_relative_contraction_ignores_the_scale_of_a_unit():
    X = np.random.default_rng(0).normal(size=(50, 6))
    model = ContractiveAutoencoder(n_components=3, hidden_layer_sizes=(5,), activation="tanh", **FIT_ONCE).fit(X)
    inputs = torch.as_tensor(X, dtype=torch.float32)
    encoder = model.encoder_
    with torch.no_grad():
        before = relative_contraction(encoder, inputs, encoder(inputs))
        absolute_before = squared_jacobian_norm(encoder, inputs).mean()
        for weight in (encoder.layers[-1].weight, encoder.layers[-1].bias, encoder.linear_path.weight):
            weight[1] *= 10.0
        after = relative_contraction(encoder, inputs, encoder(inputs))
        absolute_after = squared_jacobian_norm(encoder, inputs).mean()
        assert relative_contraction(encoder, inputs[:1], encoder(inputs[:1])).item() == 0
    assert after.item() == pytest.approx(before.item(), rel=1e-4)
    assert absolute_after > 10 * absolute_before


def _finite_difference_squared_unit_norms(encoder, inputs, step=1e-5):
    """``||grad f_j(x)||^2`` by central differences: shape (n_samples, n_components)."""
    norms = []
    for x in inputs:
        columns = []
        for i in range(x.shape[0]):
            shift = torch.zeros_like(x)
            shift[i] = step
            columns.append((encoder(x + shift) - encoder(x - shift)) / (2 * step))
        norms.append(torch.stack(columns).square().sum(dim=0))
    return torch.stack(norms)


def _finite_difference_squared_norms(encoder, inputs, step=1e-5):
    return _finite_difference_squared_unit_norms(encoder, inputs, step).sum(dim=1)


@pytest.mark.parametrize(
    "hidden, activation",
    [((7,), "tanh"), ((7,), "softplus"), ((7,), "relu"), ((6, 5), "sigmoid"), ((), "relu"), ((7,), "identity")],
)
def test_contractive_penalty_matches_finite_differences(hidden, activation):
    model = ContractiveAutoencoder(
        n_components=3,
        contractive_weight=0.5,
        contraction="absolute",
        hidden_layer_sizes=hidden,
        activation=activation,
        max_iter=1,
        random_state=0,
    )
    X = np.random.default_rng(0).normal(size=(5, 4))
    model.fit(X)
    encoder = model.encoder_.double()
    inputs = torch.as_tensor(X, dtype=torch.float64)
    with torch.no_grad():
        expected = _finite_difference_squared_norms(encoder, inputs)
        exact = squared_jacobian_norm(encoder, inputs)
        penalty = model._penalties(model.module_, inputs, None)["contractive"]
    torch.testing.assert_close(exact, expected, rtol=1e-6, atol=1e-8)
    assert penalty.item() == pytest.approx(0.5 * expected.mean().item(), rel=1e-6)

    # The relative penalty: each unit's squared slope weighted by v / its variance.
    with torch.no_grad():
        code = encoder(inputs)
        unit_norms = _finite_difference_squared_unit_norms(encoder, inputs)
        feature_variance = inputs.var(dim=0, unbiased=False).mean()
        weights = feature_variance / code.var(dim=0, unbiased=False)
        relative = model.set_params(contraction="relative")._penalties(model.module_, inputs, code)["contractive"]
        torch.testing.assert_close(squared_jacobian_norm(encoder, inputs, weights), unit_norms @ weights)
    expected_relative = 0.5 * feature_variance * (unit_norms.mean(dim=0) * weights).mean()
    assert relative.item() == pytest.approx(expected_relative.item(), rel=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_closed_form_gradient_matches_jacobian_gradient(activation):
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(5, 7), ACTIVATIONS[activation](), nn.Linear(7, 3)).double()
    inputs = torch.randn(6, 5, dtype=torch.float64)
    closed = squared_jacobian_norm(encoder, inputs).mean()
    closed_grads = torch.autograd.grad(closed, list(encoder.parameters()), allow_unused=True)

    def encode_one(x):
        return encoder(x.unsqueeze(0)).squeeze(0)

    general = torch.func.vmap(torch.func.jacrev(encode_one))(inputs).square().sum(dim=(1, 2)).mean()
    general_grads = torch.autograd.grad(general, list(encoder.parameters()), allow_unused=True)
    torch.testing.assert_close(closed, general)
    for closed_grad, general_grad in zip(closed_grads, general_grads):
        if general_grad is None:  # the last bias does not move the Jacobian
            assert closed_grad is None or torch.all(closed_grad == 0)
        else:
            torch.testing.assert_close(closed_grad, general_grad)


# -- variational ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_vae():
    X, _ = load_digits(return_X_y=True)
    scaler = StandardScaler().fit(X)
    vae = VariationalAutoencoder(max_iter=20, random_state=0).fit(scaler.transform(X))
    return vae, scaler, X


def test_vae_logs_both_terms_and_the_kl_term_is_alive(fitted_vae):
    vae, _, _ = fitted_vae
    terms = vae.loss_terms_curve_
    assert set(terms) == {"reconstruction", "kl"}
    assert len(terms["kl"]) == len(terms["reconstruction"]) == len(vae.loss_curve_) == 20
    np.testing.assert_allclose(vae.loss_curve_, np.add(terms["reconstruction"], terms["kl"]), rtol=1e-6)
    # The curve holds beta * KL. Measured at the defaults: the KL rises from
    # 4.5 to 8.5 nats; a collapsed posterior would take it to 0.
    assert min(terms["kl"][-5:]) / vae.beta > 4.0
    # Measured 0.74.
    assert terms["reconstruction"][-1] < 0.8 * terms["reconstruction"][0]


def test_vae_codes_follow_the_prior(fitted_vae):
    # What the KL term buys over a deterministic autoencoder: over the data,
    # the posterior means average about 0 and each unit's aggregate
    # posterior variance (variance of the means plus mean posterior
    # variance) is of the prior's order. Measured at the defaults: means
    # -0.03 and -0.2, variances 4.4 and 5.0 (1.5 and 1.7 at beta=1); the
    # plain autoencoder's codes: means -0.26 and -1.0, variances 16 and 19.
    vae, scaler, X = fitted_vae
    Xs = scaler.transform(X)
    with torch.no_grad():
        mean, log_variance = vae._posterior(vae.encoder_, torch.as_tensor(Xs, dtype=torch.float32))
    aggregate_variance = mean.var(dim=0) + log_variance.exp().mean(dim=0)
    assert torch.all(mean.mean(dim=0).abs() < 0.5)
    assert torch.all((aggregate_variance > 0.5) & (aggregate_variance < 8.0))
    plain_codes = AutoencoderTransformer(max_iter=20, random_state=0).fit_transform(Xs)
    assert np.all(plain_codes.var(axis=0) > 2 * aggregate_variance.numpy())


def test_vae_samples_look_like_the_data(fitted_vae):
    vae, scaler, X = fitted_vae
    samples = vae.sample(500, random_state=0)
    assert samples.shape == (500, 64) and samples.dtype == np.float64
    pixels = scaler.inverse_transform(samples)
    # Plausible pixel intensities (the data lie in [0, 16]), with the digits'
    # average layout: mostly dark borders, bright centre.
    assert np.mean((pixels > -2) & (pixels < 18)) > 0.99
    assert np.corrcoef(pixels.mean(axis=0), X.mean(axis=0))[0, 1] > 0.9


def test_vae_sampling_and_transform_are_deterministic(fitted_vae):
    vae, scaler, X = fitted_vae
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    training_generator_state = vae.engine_.generator.get_state()
    first = vae.sample(5, random_state=3)
    np.testing.assert_array_equal(first, vae.sample(5, random_state=3))
    assert not np.array_equal(first, vae.sample(5, random_state=4))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(vae.engine_.generator.get_state(), training_generator_state)

    Xs = scaler.transform(X[:50])
    codes = vae.transform(Xs)
    np.testing.assert_array_equal(codes, vae.transform(Xs))
    with torch.no_grad():
        means = vae.encoder_(torch.as_tensor(Xs, dtype=torch.float32))[:, : vae.n_components].numpy()
    np.testing.assert_allclose(codes, means, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vae.score_samples(Xs), vae.score_samples(Xs))


def test_vae_terms_follow_the_formula():
    X = np.random.default_rng(0).random((16, 5))
    vae = VariationalAutoencoder(n_components=2, loss="binary_crossentropy", beta=0.5, **TINY).fit(X)
    inputs = torch.as_tensor(X, dtype=torch.float32)
    seed = 7
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        terms = vae._objective(vae.module_, inputs, inputs, generator)
        mean, shifted_log_variance = vae.encoder_(inputs).chunk(2, dim=1)
        log_variance = shifted_log_variance + LOG_VARIANCE_OFFSET
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed))
        logits = vae.decoder_(mean + torch.exp(0.5 * log_variance) * noise)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, inputs, reduction="none")
    kl = 0.5 * (mean**2 + log_variance.exp() - 1 - log_variance).sum(dim=1)
    assert terms["reconstruction"].item() == pytest.approx(bce.sum(dim=1).mean().item(), rel=1e-5)
    assert terms["kl"].item() == pytest.approx(0.5 * kl.mean().item(), rel=1e-5)
    unweighted = VariationalAutoencoder(n_components=2, beta=0.0, **TINY).fit(X)
    assert all(value == 0 for value in unweighted.loss_terms_curve_["kl"])


def test_vae_shared_decoder_scale_is_one_scale_for_every_feature():
    X = np.random.default_rng(0).normal(size=(40, 5))
    vae = VariationalAutoencoder(n_components=2, **TINY).fit(X)
    log_scale = vae.module_.log_scale.detach()
    # Trained away from its start, yet one value for every feature.
    assert log_scale[0].item() != 0 and torch.all(log_scale == log_scale[0])
    inputs = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        terms = vae._objective(vae.module_, inputs, inputs, torch.Generator().manual_seed(7))
        mean, shifted_log_variance = vae.encoder_(inputs).chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(7))
        output = vae.decoder_(mean + torch.exp(0.5 * (shifted_log_variance + LOG_VARIANCE_OFFSET)) * noise)
    scale = log_scale[0].exp()
    expected = (((output - inputs) / scale) ** 2).sum(dim=1).mean() + 5 * log_scale[0]
    assert terms["reconstruction"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_vae_sample_validates_its_arguments(fitted_vae):
    vae = fitted_vae[0]
    with pytest.raises(InvalidParameterError):
        vae.sample(0)
    with pytest.raises(InvalidParameterError):
        vae.sample(3, random_state="seed")


# -- every variant -------------------------------------------------------------

OWN_GRIDS = {
    DenoisingAutoencoder: {"noise": ["gaussian", "masking"], "noise_level": [0.1, 0.3]},
    SparseAutoencoder: {"sparsity": ["l1", "kl"], "sparsity_weight": [1e-3, 1e-1]},
    ContractiveAutoencoder: {"contractive_weight": [1e-3, 1e-1]},
    VariationalAutoencoder: {"beta": [0.5, 2.0]},
}


@pytest.mark.parametrize("cls", VARIANTS, ids=lambda cls: cls.__name__)
def test_variant_in_pipeline_and_grid_search(cls, digits):
    X_train, X_test, y_train, y_test = digits
    X_train, y_train = X_train[:300], y_train[:300]
    pipeline = make_pipeline(MinMaxScaler(), cls(n_components=8, **TINY), LogisticRegression(max_iter=200))
    pipeline.fit(X_train, y_train)
    assert pipeline.predict(X_test).shape == y_test.shape
    search = GridSearchCV(cls(n_components=4, **TINY), OWN_GRIDS[cls], cv=2).fit(X_train)
    assert len(search.cv_results_["params"]) == np.prod([len(v) for v in OWN_GRIDS[cls].values()])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert set(OWN_GRIDS[cls]) <= set(search.best_params_)


BAD_VALUES = [
    (DenoisingAutoencoder, "noise", "speckle"),
    (DenoisingAutoencoder, "noise_level", -0.1),
    (SparseAutoencoder, "sparsity", "l2"),
    (SparseAutoencoder, "sparsity_weight", -1.0),
    (SparseAutoencoder, "sparsity_target", 0.0),
    (SparseAutoencoder, "sparsity_target", 1.0),
    (ContractiveAutoencoder, "contractive_weight", -0.5),
    (ContractiveAutoencoder, "contraction", "frobenius"),
    (VariationalAutoencoder, "beta", -1.0),
    (VariationalAutoencoder, "beta", "high"),
]


@pytest.mark.parametrize("cls, name, value", BAD_VALUES)
def test_bad_own_parameter_values_raise_invalid_parameter_error(cls, name, value):
    model = cls(**TINY).set_params(**{name: value})
    with pytest.raises(InvalidParameterError, match=name):
        model.fit(np.random.default_rng(0).random((10, 3)))


@pytest.mark.parametrize("cls", VARIANTS, ids=lambda cls: cls.__name__)
def test_variant_is_exported_and_lists_the_shared_parameters(cls):
    assert getattr(skae, cls.__name__) is cls and cls.__name__ in skae.__all__
    shared = set(AutoencoderTransformer().get_params())
    own = set(cls().get_params())
    assert shared < own
    assert set(cls._parameter_constraints) == own
    assert clone(cls(**TINY)).get_params() == cls(**TINY).get_params()


@pytest.mark.parametrize("cls", VARIANTS, ids=lambda cls: cls.__name__)
def test_variant_is_reproducible_early_stops_and_pickles(cls):
    X = np.random.default_rng(0).random((60, 6))
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    first = cls(n_components=3, **TINY).fit(X)
    second = cls(n_components=3, **TINY).fit(X)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    np.testing.assert_array_equal(first.loss_curve_, second.loss_curve_)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)

    # The validation loss runs every hook without gradients.
    stopped = cls(n_components=3, early_stopping=True, n_iter_no_change=1, tol=10.0, **TINY)
    stopped.set_params(max_iter=10).fit(X)
    # Each plateau is n_iter_no_change + 1 epochs; the last one stops.
    assert len(stopped.validation_scores_) == stopped.n_iter_ == 2 * (PLATEAU_STEP_DECAYS + 1)
    assert np.all(np.isfinite(stopped.validation_scores_))

    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.transform(X), first.transform(X))
    restored.partial_fit(X)
    first.partial_fit(X)
    np.testing.assert_array_equal(restored.transform(X), first.transform(X))


def test_vae_fitted_decoder_scale_avoids_collapse_on_unit_interval_data(digits):
    # Pixels in [0, 1], at beta=1: with a unit decoder variance the KL term
    # wins and the code carries almost nothing; a fitted scale weighs
    # reconstruction by the data's own noise level.
    X = digits[0][:800]  # already in [0, 1]
    fits = {
        scale: VariationalAutoencoder(4, beta=1.0, decoder_scale=scale, max_iter=30, random_state=0).fit(X)
        for scale in ("shared", "learned", "fixed")
    }
    errors = {scale: np.mean(np.square(m.inverse_transform(m.transform(X)) - X)) for scale, m in fits.items()}
    for scale in ("shared", "learned"):
        assert errors[scale] < 0.6 * errors["fixed"]
        assert fits[scale].loss_terms_curve_["kl"][-1] > 1.0 > fits["fixed"].loss_terms_curve_["kl"][-1]
    assert fits["fixed"].module_.log_scale is None
