"""scikit-learn's own estimator checks, on fast settings."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_output_transform_pandas,
    check_methods_subset_invariance,
    check_param_validation,
    check_sample_weight_equivalence_on_dense_data,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
ESTIMATORS = [
    AutoencoderTransformer(**FAST),
    DenoisingAutoencoder(**FAST),
    DenoisingAutoencoder(noise="salt_and_pepper", noise_level=0.2, **FAST),
    SparseAutoencoder(**FAST),
    SparseAutoencoder(sparsity="kl", sparsity_weight=0.1, **FAST),
    ContractiveAutoencoder(**FAST),
    VariationalAutoencoder(**FAST),
    AutoencoderAnomalyDetector(AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=5), random_state=0),
    AutoencoderAnomalyDetector(DenoisingAutoencoder(hidden_layer_sizes=(8,), max_iter=5), random_state=0),
    AutoencoderAnomalyDetector(random_state=0),
]
TRANSFORMERS = [estimator for estimator in ESTIMATORS if hasattr(estimator, "transform")]


# The check wants the fit on weighted rows and the fit on the rows repeated to
# agree within 1e-7: the arithmetic must then be the same up to float64's
# rounding, which float32's cannot be. As scikit-learn runs it for its own
# MLPRegressor (with solver="sgd"), it runs below on settings where it holds.
SAMPLE_WEIGHT_EQUIVALENCE = (
    "float32 cannot agree within 1e-7: Adam's first steps are about learning_rate * sign(gradient), so "
    "a parameter whose gradient is rounding noise (the linear maps, which start at PCA's optimum) moves a "
    "full step either way; merely permuting the rows changes transform by up to 2e-2 (measured, 5 epochs). "
    "test_sample_weight_equivalence runs the check in float64."
)
# Noise drawn once per row is drawn once for a weighted row and once per copy
# of a repeated one: equal in expectation only, as for scikit-learn's
# randomised estimators (bagging, forests), which fail the check likewise.
PER_ROW_NOISE = "the training noise (corruption, the VAE's sampling) is drawn once per row, not once per copy"

EXACT = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, precision="float64", batch_size=64)
EXACT_ESTIMATORS = [
    AutoencoderTransformer(**EXACT),
    SparseAutoencoder(**EXACT),
    SparseAutoencoder(sparsity="kl", sparsity_weight=0.1, **EXACT),
    ContractiveAutoencoder(**EXACT),
    AutoencoderAnomalyDetector(AutoencoderTransformer(**EXACT), random_state=0),
    AutoencoderAnomalyDetector(AutoencoderTransformer(**EXACT), distance="mean_squared", random_state=0),
    pytest.param(DenoisingAutoencoder(**EXACT), marks=pytest.mark.xfail(reason=PER_ROW_NOISE, strict=True)),
    pytest.param(VariationalAutoencoder(**EXACT), marks=pytest.mark.xfail(reason=PER_ROW_NOISE, strict=True)),
]


@pytest.mark.parametrize("estimator", EXACT_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sample_weight_equivalence(estimator):
    """scikit-learn's check, in float64 and full batches (the 15 rows and their ~30 copies are one batch each)."""
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# MKL's float32 matrix products round a row's result differently with the
# number of rows in the product (measured on an AVX-512 machine: a 10x8 layer
# gives other last bits for 1 row than for 2 or more, a 784x100 layer for
# every batch size), so a float32 network's output for a row moves by a few
# units in the last place (1.2e-7 on codes near 0.17) with the batch it is
# computed in: above the check's tolerance of 1e-7 on some machines and not
# on others. The detector divides residuals by their small median training
# error and takes their Mahalanobis distance, which lifts such a difference
# further (measured up to 2.4e-7 absolute, 8e-6 relative). The check passes
# in float64 (test_methods_subset_invariance_in_float64) and, at float32's
# tolerance, in float32 (test_methods_subset_invariance_in_float32).
FLOAT32_SUBSET_INVARIANCE = (
    "may fail: float32 matrix products round a row's result differently with the number of rows in the "
    "batch (BLAS blocking), by a few units in the last place; checked in float64 and at float32's "
    "tolerance by this module's own tests"
)


def expected_failed_checks(estimator):
    # Only the float32 tolerances of the sample-weight equivalence and the subset invariance (see above).
    return {
        "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_EQUIVALENCE,
        "check_methods_subset_invariance": FLOAT32_SUBSET_INVARIANCE,
    }


def in_float64(estimator):
    """``estimator`` (or the detector's members) with ``precision="float64"``."""
    estimator = clone(estimator)
    if isinstance(estimator, AutoencoderAnomalyDetector):
        member = AutoencoderTransformer(**FAST) if estimator.estimator is None else clone(estimator.estimator)
        return estimator.set_params(estimator=member.set_params(precision="float64"))
    return estimator.set_params(precision="float64")


@pytest.mark.parametrize("estimator", [in_float64(e) for e in ESTIMATORS], ids=lambda e: type(e).__name__)
def test_methods_subset_invariance_in_float64(estimator):
    """scikit-learn's check, strictly: in float64 a row's result does not depend on its batch."""
    check_methods_subset_invariance(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_methods_subset_invariance_in_float32(estimator):
    """Row by row and all at once agree to float32's precision (scikit-learn's check asks 1e-7)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(20, 3)) * 3
    fitted = clone(estimator).fit(X)
    methods = ("transform", "inverse_transform", "score_samples", "decision_function", "predict")
    for name in [m for m in methods if hasattr(fitted, m)]:
        method = getattr(fitted, name)
        data = fitted.transform(X) if name == "inverse_transform" else X
        whole = method(data)
        by_row = np.concatenate([np.atleast_1d(method(data[[i]])) for i in range(len(data))])
        # A log-likelihood sums terms larger than itself: its error scales with the largest value.
        assert_allclose(by_row.reshape(whole.shape), whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max(), err_msg=name)


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "extra_check",
    [check_param_validation, check_dataframe_column_names_consistency],
    ids=lambda check: check.__name__,
)
def test_extra_checks(estimator, extra_check):
    extra_check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", TRANSFORMERS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "extra_check",
    [
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
    ],
    ids=lambda check: check.__name__,
)
# The set_output checks themselves fit on a DataFrame and transform an array
# (and the reverse), which scikit-learn rightly warns about.
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.filterwarnings("ignore:X has feature names")
def test_extra_transformer_checks(estimator, extra_check):
    extra_check(type(estimator).__name__, estimator)
