"""Missing values (NaN): training on observed entries, inference on incomplete rows, the imputer."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import skae._base
from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderImputer,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae._engine import observed_per_sample
from skae._fastpath import PlainMLPGradient
from skae._network import build_network
from skae.losses import LOSSES, AbsoluteError, SquaredError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
AUTOENCODERS = [
    AutoencoderTransformer(**FAST),
    AutoencoderTransformer(loss="l1+0.5*l2", **FAST),
    DenoisingAutoencoder(noise="salt_and_pepper", noise_level=0.2, **FAST),
    SparseAutoencoder(**FAST),
    SparseAutoencoder(sparsity="kl", sparsity_weight=0.1, **FAST),
    ContractiveAutoencoder(**FAST),
    VariationalAutoencoder(**FAST),
    VariationalAutoencoder(decoder_scale="learned", **FAST),
]


def _ids(estimator):
    changed = {k: v for k, v in estimator.get_params(deep=False).items() if k not in FAST}
    defaults = type(estimator)().get_params(deep=False)
    extra = ",".join(f"{k}={v}" for k, v in changed.items() if defaults.get(k) != v)
    return f"{type(estimator).__name__}({extra})"


def low_rank(n_samples=400, n_features=8, rank=2, noise=0.05, seed=0):
    """Standardised-ish data near a ``rank``-dimensional curved manifold."""
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n_samples, rank))
    X = np.tanh(latent @ rng.normal(size=(rank, n_features))) + latent @ rng.normal(size=(rank, n_features))
    return X + noise * rng.normal(size=X.shape)


def with_holes(X, rate, seed=0):
    """A copy of ``X`` with a ``rate`` share of its entries set to NaN at random (MCAR), no row emptied."""
    rng = np.random.RandomState(seed)
    holes = rng.uniform(size=X.shape) < rate
    holes[holes.all(axis=1), 0] = False
    X_missing = X.copy()
    X_missing[holes] = np.nan
    return X_missing, holes


# -- the masked loss -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_masked_loss_is_the_mean_over_observed_entries(name):
    # Per entry, every built-in loss is its per_sample on one column; the
    # masked loss must weigh exactly the observed ones, each row by 1 / n_observed.
    loss = LOSSES[name]()
    rng = np.random.RandomState(0)
    target = torch.tensor(rng.uniform(0.05, 0.95, size=(6, 5)), dtype=torch.float32)
    output = torch.tensor(rng.normal(size=(6, 5)), dtype=torch.float32, requires_grad=True)
    missing = torch.tensor(rng.uniform(size=(6, 5)) < 0.4)
    missing[:, 0] = False
    target_missing = target.masked_fill(missing, float("nan"))

    observed_per_sample(loss, output, target_missing).sum().backward()
    gradient = output.grad.clone()
    output.grad = None
    per_entry = loss.per_sample(output.reshape(-1, 1), target.reshape(-1, 1)).reshape(6, 5)
    expected = (per_entry * ~missing).sum(dim=1) / (~missing).sum(dim=1)
    expected.sum().backward()

    torch.testing.assert_close(gradient, output.grad)
    assert torch.all(gradient[missing] == 0)
    if name != "binary_crossentropy":  # its missing entries add their entropy to the value (documented)
        torch.testing.assert_close(observed_per_sample(loss, output, target_missing), expected)


def test_masked_loss_on_complete_rows_is_the_loss_itself():
    loss = AbsoluteError() + 0.5 * SquaredError()
    rng = np.random.RandomState(1)
    output, target = (torch.tensor(rng.normal(size=(7, 4)), dtype=torch.float32) for _ in range(2))
    assert torch.equal(observed_per_sample(loss, output, target), loss.per_sample(output, target))


def test_hand_written_gradient_with_missing_targets_matches_autograd():
    rng = np.random.RandomState(0)
    network = build_network(
        0, n_features=6, n_components=2, hidden_layer_sizes=(5,), activation="tanh", linear_path=True
    )
    inputs = torch.tensor(rng.normal(size=(16, 6)), dtype=torch.float32)
    target = inputs.clone()
    target[torch.tensor(rng.uniform(size=(16, 6)) < 0.3)] = float("nan")
    target[:, 1] = inputs[:, 1]  # no empty row

    network.zero_grad()
    expected_loss = observed_per_sample(SquaredError(), network.decoder(network.encoder(inputs)), target).mean()
    expected_loss.backward()
    expected = [p.grad.clone() for p in network.parameters()]

    gradient = PlainMLPGradient.for_module(network, SquaredError())
    observed = ~torch.isnan(target)
    weights_sqrt = observed * torch.sqrt(6 / observed.sum(dim=1, keepdim=True))
    loss = gradient(inputs, torch.where(observed, target, 0.0), weights_sqrt)

    torch.testing.assert_close(loss, expected_loss.detach())
    for parameter, wanted in zip(network.parameters(), expected):
        torch.testing.assert_close(parameter.grad, wanted, atol=1e-6, rtol=1e-5)


# -- training on incomplete rows -------------------------------------------


def test_fit_on_holes_reconstructs_held_back_values_better_than_column_means():
    X = low_rank()
    X_missing, holes = with_holes(X, 0.3)
    model = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(32,), activation="tanh", random_state=0)
    model.fit(X_missing)
    reconstruction = model.inverse_transform(model.transform(X_missing))
    model_error = np.sqrt(np.mean((reconstruction[holes] - X[holes]) ** 2))
    means = np.broadcast_to(np.nanmean(X_missing, axis=0), X.shape)
    means_error = np.sqrt(np.mean((means[holes] - X[holes]) ** 2))
    # Measured about 0.3 of the means' error; the column means know nothing of the row.
    assert model_error < 0.6 * means_error


@pytest.mark.parametrize("estimator", AUTOENCODERS, ids=_ids)
def test_complete_data_gives_the_same_model_with_or_without_the_missing_value_path(estimator, monkeypatch):
    X = low_rank(n_samples=120)
    plain = clone(estimator).fit(X)
    # Declaring every entry observed but the data incomplete forces the masked path.
    monkeypatch.setattr(skae._base, "check_observed", lambda X, seen_before=None: np.zeros(X.shape, dtype=bool))
    masked = clone(estimator).fit(X)
    assert masked._training_has_missing_ and not plain._training_has_missing_
    assert masked.loss_curve_ == plain.loss_curve_
    np.testing.assert_array_equal(masked.transform(X), plain.transform(X))


@pytest.mark.parametrize("estimator", AUTOENCODERS, ids=_ids)
def test_every_autoencoder_trains_and_infers_on_incomplete_rows(estimator):
    X_missing, holes = with_holes(low_rank(n_samples=120), 0.3)
    original = X_missing.copy()
    model = clone(estimator).set_params(early_stopping=True).fit(X_missing)
    np.testing.assert_array_equal(X_missing, original)  # not modified
    assert np.all(np.isfinite(model.loss_curve_)) and np.all(np.isfinite(model.validation_scores_))
    codes = model.transform(X_missing)
    assert codes.shape == (120, model.n_components) and np.all(np.isfinite(codes))
    errors = model.reconstruction_error_per_feature(X_missing)
    np.testing.assert_array_equal(np.isnan(errors), holes)


def test_missing_entries_are_encoded_as_their_training_means():
    X_missing, holes = with_holes(low_rank(n_samples=150), 0.3)
    model = AutoencoderTransformer(**FAST).fit(X_missing)
    filled = np.where(holes, np.nanmean(X_missing, axis=0), X_missing)
    np.testing.assert_allclose(model.transform(X_missing), model.transform(filled), rtol=1e-6)
    # A row with nothing observed gets the code of the means (documented), not NaN.
    empty = np.full((1, X_missing.shape[1]), np.nan)
    np.testing.assert_allclose(model.transform(empty), model.transform(np.nanmean(X_missing, axis=0)[None]), rtol=1e-6)


@pytest.mark.parametrize(
    "estimator",
    [AutoencoderTransformer(**FAST), AutoencoderAnomalyDetector(AutoencoderTransformer(**FAST), random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_inf_is_still_an_error(estimator):
    X = low_rank(n_samples=60)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clone(estimator).fit(X)
    fitted = clone(estimator).fit(np.nan_to_num(X, posinf=0.0))
    with pytest.raises(ValueError, match="infinity"):
        (fitted.transform if hasattr(fitted, "transform") else fitted.score_samples)(X)


@pytest.mark.parametrize(
    "estimator",
    [AutoencoderTransformer(**FAST), AutoencoderAnomalyDetector(AutoencoderTransformer(**FAST), random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_rows_or_features_with_nothing_observed_are_refused_at_fit(estimator):
    X = low_rank(n_samples=60)
    X_empty_row = X.copy()
    X_empty_row[7] = np.nan
    model = clone(estimator)
    with pytest.raises(ValueError, match=r"1 row\(s\) of X have no observed value .* index 7"):
        model.fit(X_empty_row)
    assert not [name for name in vars(model) if name.endswith("_")]  # nothing half-fitted
    X_empty_feature = X.copy()
    X_empty_feature[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"feature\(s\) of X have no observed value .* column 3"):
        clone(estimator).fit(X_empty_feature)


def test_partial_fit_warm_start_and_pickle_with_missing_values():
    X_missing, holes = with_holes(low_rank(n_samples=200), 0.3)
    streamed = AutoencoderTransformer(**FAST)
    for chunk in np.array_split(X_missing, 4):
        streamed.partial_fit(chunk)
    assert streamed.n_iter_ == 4 and np.all(np.isfinite(streamed.loss_curve_))
    # The fill values are the means of all chunks seen.
    np.testing.assert_allclose(streamed._observed_means_, np.nanmean(X_missing, axis=0))
    # A chunk missing a whole feature continues: earlier chunks observed it.
    chunk = X_missing[:20].copy()
    chunk[:, 0] = np.nan
    streamed.partial_fit(chunk)
    assert np.all(np.isfinite(streamed.transform(chunk)))

    warm = AutoencoderTransformer(**{**FAST, "warm_start": True}).fit(X_missing)
    warm.fit(X_missing)
    assert warm.n_iter_ == 10

    restored = pickle.loads(pickle.dumps(warm))
    np.testing.assert_array_equal(restored.transform(X_missing), warm.transform(X_missing))
    restored.partial_fit(X_missing)
    assert restored.n_iter_ == 11


# -- the detector ----------------------------------------------------------


def _outlier_data(seed=0):
    X = low_rank(n_samples=500, n_features=8, seed=seed)
    rng = np.random.RandomState(seed)
    outliers = rng.choice(500, 20, replace=False)
    X[outliers] += rng.choice([-1, 1], size=(20, 8)) * rng.uniform(2, 3, size=(20, 8))
    labels = np.zeros(500, dtype=int)
    labels[outliers] = 1
    return X, labels


@pytest.mark.parametrize("distance", ["mahalanobis", "mean_squared"])
def test_detector_on_incomplete_data_still_ranks_outliers_first(distance):
    X, labels = _outlier_data()
    X_missing, _ = with_holes(X, 0.3, seed=1)
    detector = AutoencoderAnomalyDetector(contamination=0.05, distance=distance, random_state=0).fit(X_missing)
    scores = -detector.score_samples(X_missing)
    assert np.all(np.isfinite(scores))
    # Measured: ROC AUC 0.995 (mahalanobis) and 0.968 (mean_squared), against 1.0
    # and 0.998 without holes; 10 and 8 of the 10 top-ranked rows are outliers
    # (chance: 0.4).
    assert roc_auc_score(labels, scores) > 0.95
    assert labels[np.argsort(-scores)[:10]].mean() >= 0.7


def test_detector_neither_flags_holes_nor_excuses_them():
    X, labels = _outlier_data(seed=2)
    detector = AutoencoderAnomalyDetector(contamination=0.05, random_state=0).fit(X)
    inliers, outliers = X[labels == 0][:60], X[labels == 1]
    holes_in = np.random.RandomState(3).uniform(size=inliers.shape) < 0.4
    holes_in[:, 0] = False
    holes_out = np.random.RandomState(4).uniform(size=outliers.shape) < 0.4
    holes_out[:, 0] = False
    inliers_missing, outliers_missing = inliers.copy(), outliers.copy()
    inliers_missing[holes_in] = np.nan
    outliers_missing[holes_out] = np.nan
    # Holes do not make a normal row anomalous...
    assert (detector.predict(inliers_missing) == 1).mean() >= (detector.predict(inliers) == 1).mean() - 0.05
    # ...nor hide an anomalous one whose remaining entries are anomalous.
    assert (detector.predict(outliers_missing) == -1).mean() >= 0.8
    errors = detector.reconstruction_error_per_feature(outliers_missing)
    np.testing.assert_array_equal(np.isnan(errors), holes_out)


def test_detector_scores_a_row_with_nothing_observed_as_nan():
    X, _ = _outlier_data()
    detector = AutoencoderAnomalyDetector(AutoencoderTransformer(**FAST), random_state=0).fit(X)
    rows = X[:3].copy()
    rows[1] = np.nan
    scores = detector.score_samples(rows)
    assert np.isnan(scores[1]) and np.all(np.isfinite(scores[[0, 2]]))


def test_detector_partial_fit_and_calibrate_with_missing_values():
    X, labels = _outlier_data()
    X_missing, _ = with_holes(X, 0.2)
    detector = AutoencoderAnomalyDetector(AutoencoderTransformer(**FAST), random_state=0)
    for chunk in np.array_split(X_missing, 3):
        detector.partial_fit(chunk)
    detector.calibrate(X_missing)
    assert np.isfinite(detector.offset_)
    assert np.all(np.isfinite(detector.decision_function(X_missing)))


# -- the imputer -----------------------------------------------------------

FAST_IMPUTER = AutoencoderImputer(
    AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), max_iter=5), random_state=0
)


@parametrize_with_checks([FAST_IMPUTER])
def test_imputer_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_imputer_returns_observed_entries_unchanged_and_fills_every_hole():
    X_missing, holes = with_holes(low_rank(), 0.3)
    original = X_missing.copy()
    X_imputed = AutoencoderImputer(random_state=0).fit_transform(X_missing)
    np.testing.assert_array_equal(X_missing, original)
    np.testing.assert_array_equal(X_imputed[~holes], X_missing[~holes])  # bit for bit
    assert np.all(np.isfinite(X_imputed))


def test_imputer_at_its_defaults_beats_the_column_means():
    X = low_rank()
    X_missing, holes = with_holes(X, 0.3)
    X_imputed = AutoencoderImputer(random_state=0).fit_transform(X_missing)
    # Measured 0.39 of the column means' error.
    means = np.broadcast_to(np.nanmean(X_missing, axis=0), X.shape)
    assert np.sqrt(np.mean((X_imputed[holes] - X[holes]) ** 2)) < 0.6 * np.sqrt(np.mean((means - X)[holes] ** 2))


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_imputer_indicator_and_empty_features_follow_simple_imputer():
    from sklearn.impute import SimpleImputer

    X_missing, _ = with_holes(low_rank(n_samples=80, n_features=5), 0.2)
    X_missing[:, 2] = np.nan  # an empty feature
    X_missing[:, 4] = np.where(np.isnan(X_missing[:, 4]), 0.0, X_missing[:, 4])  # a complete one
    for keep in (False, True):
        ours = clone(FAST_IMPUTER).set_params(add_indicator=True, keep_empty_features=keep).fit(X_missing)
        theirs = SimpleImputer(add_indicator=True, keep_empty_features=keep).fit(X_missing)
        ours_out, theirs_out = ours.transform(X_missing), theirs.transform(X_missing)
        assert ours_out.shape == theirs_out.shape
        np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())
        n_indicator = theirs.indicator_.features_.size
        np.testing.assert_array_equal(ours_out[:, -n_indicator:], theirs_out[:, -n_indicator:])
        if keep:
            np.testing.assert_array_equal(ours_out[:, 2], 0.0)


def test_imputer_in_a_pipeline_with_dataframes_and_a_search():
    X = low_rank(n_samples=150, n_features=5)
    y = X @ np.arange(1, 6)
    X_missing, _ = with_holes(X, 0.2)
    frame = pd.DataFrame(X_missing, columns=list("abcde"))
    imputer = clone(FAST_IMPUTER).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("abcde")
    pipeline = make_pipeline(clone(FAST_IMPUTER), Ridge())
    search = GridSearchCV(pipeline, {"autoencoderimputer__estimator__n_components": [1, 3]}, cv=2).fit(frame, y)
    assert search.best_params_["autoencoderimputer__estimator__n_components"] in (1, 3)
    assert np.all(np.isfinite(search.predict(frame)))


def test_imputer_placeholder_and_bad_input():
    X = low_rank(n_samples=60, n_features=4)
    X_placeholder = X.copy()
    X_placeholder[::5, 1] = -999.0
    X_nan = X_placeholder.copy()
    X_nan[::5, 1] = np.nan
    with_placeholder = clone(FAST_IMPUTER).set_params(missing_values=-999.0).fit_transform(X_placeholder)
    with_nan = clone(FAST_IMPUTER).fit_transform(X_nan)
    np.testing.assert_allclose(with_placeholder, with_nan)
    imputer = clone(FAST_IMPUTER)
    with pytest.raises(ValueError, match="infinity"):
        imputer.fit(np.where(np.isnan(X_nan), np.inf, X_nan))
    assert not [name for name in vars(imputer) if name.endswith("_")]


def test_imputer_handles_rows_with_nothing_observed():
    X_missing, _ = with_holes(low_rank(n_samples=100, n_features=5), 0.2)
    X_missing[[3, 50]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        X_imputed = clone(FAST_IMPUTER).fit_transform(X_missing)
    assert np.all(np.isfinite(X_imputed))
    np.testing.assert_allclose(X_imputed[3], X_imputed[50])


# -- the command line ------------------------------------------------------

CLI_FAST = ["--hidden-layer-sizes", "8", "--epochs", "3", "--device", "cpu", "-q"]


@pytest.fixture
def csv_with_holes(tmp_path):
    X_missing, _ = with_holes(low_rank(n_samples=60, n_features=4), 0.2)
    frame = pd.DataFrame(X_missing, columns=list("abcd"))
    frame.insert(0, "id", [f"r{i}" for i in range(60)])
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.mark.parametrize("command", ["detect", "reduce"])
def test_cli_detect_and_reduce_accept_empty_cells(csv_with_holes, tmp_path, command, capsys):
    from skae.cli import main

    path, frame = csv_with_holes
    output = tmp_path / "out.csv"
    assert main([command, str(path), "--index-col", "id", "-o", str(output), *CLI_FAST]) == 0
    result = pd.read_csv(output, index_col="id")
    assert list(result.index) == list(frame["id"])
    assert np.all(np.isfinite(result.select_dtypes("number").to_numpy()))


def test_cli_impute_writes_the_completed_table(csv_with_holes, tmp_path, capsys):
    from skae.cli import main

    path, frame = csv_with_holes
    output = tmp_path / "filled.csv"
    assert main(["impute", str(path), "--index-col", "id", "-o", str(output), "--random-state", "0"]) == 0
    assert "Filled" in capsys.readouterr().err
    filled = pd.read_csv(output)
    assert list(filled.columns) == list(frame.columns)
    assert not filled.isna().to_numpy().any()
    observed = frame.notna().to_numpy()
    np.testing.assert_array_equal(filled.to_numpy()[observed], frame.to_numpy()[observed])  # as read
    # A model option builds an explicit autoencoder; --save/--load round-trips.
    model = tmp_path / "imputer.joblib"
    args = ["impute", str(path), "--index-col", "id", "-n", "2", "--save", str(model), *CLI_FAST]
    assert main([*args, "-o", str(tmp_path / "a.csv")]) == 0
    assert (
        main(["impute", str(path), "--index-col", "id", "--load", str(model), "-q", "-o", str(tmp_path / "b.csv")]) == 0
    )
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_cli_refuses_a_column_with_every_cell_empty(tmp_path, capsys):
    from skae.cli import main

    path = tmp_path / "empty_column.csv"
    path.write_text("a,b,c\n1,,3\n2,,5\n4,,1\n")
    assert main(["impute", str(path), "-q"]) == 1
    assert "column(s) 'b' with every cell empty" in capsys.readouterr().err
