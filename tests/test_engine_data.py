"""How training data reaches the engine: no needless copies, precision, GPU placement."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
    _engine,
)
from skae._engine import as_network_tensor, training_tensor

TINY = dict(n_components=2, hidden_layer_sizes=(8,), max_iter=1, random_state=0)
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_float32_c_contiguous_input_is_not_copied(rng):
    X = rng.normal(size=(50, 4)).astype(np.float32)
    for tensor in (as_network_tensor(X, "cpu"), training_tensor(X, "cpu")):
        assert tensor.dtype == torch.float32
        assert np.shares_memory(tensor.numpy(), X)
    # Anything else is converted (not shared), straight to float32.
    for other in (X.astype(np.float64), np.asfortranarray(X)):
        tensor = as_network_tensor(other, "cpu")
        assert tensor.dtype == torch.float32 and tensor.is_contiguous()
        assert not np.shares_memory(tensor.numpy(), other)


def _peak_traced_bytes_of_fit(X):
    model = AutoencoderTransformer(**TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A first fit does one-off work (lazy imports, torch's first-call
        # set-up) that would dwarf the data in the trace.
        model.fit(X[:10])
        tracemalloc.start()
        try:
            model.fit(X)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_fit_makes_no_float64_copy_of_the_data(rng):
    # numpy's buffers are traced by tracemalloc; torch's own are not, and the
    # network here is tiny, so the peak is what fit copies of X.
    X = rng.normal(size=(20000, 40))
    assert _peak_traced_bytes_of_fit(X) < 0.75 * X.nbytes  # one float32 copy, no float64 one
    X32 = X.astype(np.float32)
    assert _peak_traced_bytes_of_fit(X32) < 0.25 * X32.nbytes  # no copy at all


def test_inference_outputs_keep_the_input_dtype_and_need_no_autograd(rng):
    X = rng.normal(size=(5000, 6))  # more rows than one inference batch
    model = AutoencoderTransformer(**TINY).fit(X)
    module = model.module_
    for p in module.parameters():
        p.grad = None
    codes = model.transform(X)
    assert codes.dtype == np.float64 and codes.shape == (5000, 2)
    assert model.inverse_transform(codes).shape == X.shape
    scores = model.score_samples(X)
    scale = model.noise_scale_  # the Gaussian log-density of each sample, variance scale^2 / 2
    log_density = -model.reconstruction_error_per_feature(X) / scale**2 - np.log(scale) - 0.5 * np.log(np.pi)
    np.testing.assert_allclose(scores, log_density.sum(axis=1), rtol=1e-12)
    assert all(p.grad is None for p in module.parameters())
    # Batched inference equals one forward pass over everything.
    with torch.no_grad():
        expected = module.encoder(torch.from_numpy(X.astype(np.float32))).numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_precision_trains_and_predicts_float32(rng):
    X = rng.normal(size=(200, 6)).astype(np.float32)
    exact = AutoencoderTransformer(**{**TINY, "max_iter": 5}).fit(X)
    model = AutoencoderTransformer(precision="bfloat16", **{**TINY, "max_iter": 5}).fit(X)
    assert np.isfinite(model.loss_curve_).all()
    codes = model.transform(X)
    assert codes.dtype == np.float32
    # Same seeds, so the two differ only by bfloat16 rounding.
    np.testing.assert_allclose(model.loss_curve_, exact.loss_curve_, rtol=0.05)


def test_float64_precision_trains_and_predicts_in_float64(rng, tmp_path):
    X = rng.normal(size=(200, 6))
    exact = AutoencoderTransformer(**{**TINY, "max_iter": 5}).fit(X)
    model = AutoencoderTransformer(precision="float64", **{**TINY, "max_iter": 5}).fit(X)
    assert {p.dtype for p in model.engine_.module.parameters()} == {torch.float64}
    codes = model.transform(X)
    assert codes.dtype == np.float64
    # The same seeds and start, so the two differ by float32's rounding only.
    np.testing.assert_allclose(model.loss_curve_, exact.loss_curve_, rtol=1e-3)
    # Computed in float64: the codes are the float64 network's, not their float32 rounding.
    module = model.engine_.module
    with torch.no_grad():
        expected = module.encoder(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(codes, expected, rtol=1e-12, atol=1e-12)
    # Training continues in float64, after pickling too.
    restored = pickle.loads(pickle.dumps(model))
    restored.partial_fit(X)
    assert {p.dtype for p in restored.engine_.module.parameters()} == {torch.float64}
    assert restored.n_iter_ == 6


@pytest.mark.parametrize(
    "estimator",
    [
        DenoisingAutoencoder(precision="float64", **TINY),
        VariationalAutoencoder(precision="float64", **TINY),
        SparseAutoencoder(precision="float64", **TINY),
        ContractiveAutoencoder(precision="float64", **TINY),
        AutoencoderAnomalyDetector(AutoencoderTransformer(precision="float64", **TINY), random_state=0),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
def test_every_estimator_trains_in_float64(estimator, rng):
    X = rng.uniform(size=(120, 5))
    estimator.fit(X)
    members = getattr(estimator, "estimators_", [estimator])
    assert all({p.dtype for p in member.engine_.module.parameters()} == {torch.float64} for member in members)
    assert np.isfinite(estimator.score_samples(X)).all()


def test_warm_start_refuses_a_change_of_the_weights_dtype(rng):
    X = rng.normal(size=(100, 6))
    model = AutoencoderTransformer(warm_start=True, **TINY).fit(X)
    model.set_params(precision="bfloat16").fit(X)  # float32 weights either way
    with pytest.raises(ValueError, match="dtype 'float32' -> 'float64'"):
        model.set_params(precision="float64").fit(X)
    assert model.n_iter_ == 2


# -- GPU ------------------------------------------------------------------


@pytest.mark.cuda
@requires_cuda
def test_cuda_fit_matches_cpu(rng):
    X = rng.normal(size=(300, 10)).astype(np.float32)
    cpu = AutoencoderTransformer(device="cpu", **{**TINY, "max_iter": 3}).fit(X)
    gpu = AutoencoderTransformer(device="cuda", **{**TINY, "max_iter": 3}).fit(X)
    assert gpu.device_.startswith("cuda")
    # Shuffling draws from a CUDA generator there, so only the scale is compared.
    np.testing.assert_allclose(gpu.loss_curve_[0], cpu.loss_curve_[0], rtol=0.2)
    assert gpu.transform(X).dtype == np.float32


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, DenoisingAutoencoder])
def test_cuda_streaming_from_host_matches_data_on_the_device(Estimator, rng, monkeypatch):
    X = rng.normal(size=(600, 10)).astype(np.float32)
    params = dict(device="cuda", early_stopping=True, **{**TINY, "max_iter": 3})
    resident = Estimator(**params).fit(X)
    monkeypatch.setattr(_engine, "DEVICE_DATA_FRACTION", 0.0)
    assert training_tensor(X, "cuda").device.type == "cpu"
    streamed = Estimator(**params).fit(X)
    np.testing.assert_allclose(streamed.loss_curve_, resident.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(streamed.transform(X), resident.transform(X), rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@requires_cuda
def test_cuda_bfloat16_precision(rng):
    X = rng.normal(size=(300, 10)).astype(np.float32)
    model = AutoencoderTransformer(device="cuda", precision="bfloat16", **TINY).fit(X)
    assert np.isfinite(model.loss_curve_).all()
    assert model.transform(X).dtype == np.float32


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VariationalAutoencoder])
def test_cuda_model_pickles_and_keeps_training(Estimator, rng):
    # The flat Adam's buffers and the parameters' views of them survive the
    # round trip through the CPU on the hand-written and the autograd path.
    X = rng.normal(size=(300, 10)).astype(np.float32)
    model = Estimator(device="cuda", **TINY).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    assert restored.device_.startswith("cuda")
    np.testing.assert_allclose(restored.transform(X), model.transform(X), rtol=1e-6)
    model.partial_fit(X)
    restored.partial_fit(X)
    np.testing.assert_allclose(restored.transform(X), model.transform(X), rtol=1e-4, atol=1e-6)
