"""scikit-learn's own estimator checks, on fast settings."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from skae import (
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
]


def expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "extra_check",
    [
        check_param_validation,
        check_dataframe_column_names_consistency,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
    ],
    ids=lambda check: check.__name__,
)
def test_extra_checks(estimator, extra_check):
    extra_check(type(estimator).__name__, estimator)
