"""Mixed-type tables: categorical, binary and numeric columns straight from a DataFrame."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import skae
from skae import (
    AutoencoderAnomalyDetector,
    AutoencoderTransformer,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    VariationalAutoencoder,
)
from skae.losses import MixedLoss, SquaredError

CUTS = np.array(["Fair", "Good", "Ideal"])


def make_table(n_samples=240, seed=0):
    """A table whose every column follows one latent value: categories, a flag and numbers on different scales."""
    rng = np.random.RandomState(seed)
    t = rng.uniform(-1, 1, n_samples)
    return pd.DataFrame(
        {
            "price": 1000 + 800 * t + rng.normal(0, 40, n_samples),
            "cut": pd.Series(CUTS[np.digitize(t, [-1 / 3, 1 / 3])], dtype="str"),
            "carat": (t**2 + 0.05 * rng.normal(size=n_samples)).astype(np.float32),
            "color": pd.Categorical(np.where(t + 0.1 * rng.normal(size=n_samples) > 0, "red", "blue")),
            "premium": t > 0.5,
            "stones": np.round(3 + 2 * t).astype(np.int64),
            "origin": pd.Series(np.where(t > 0, "north", "south"), dtype=object),
        }
    )


def fit_model(X, **params):
    params = {"n_components": 2, "max_iter": 40, "random_state": 0, **params}
    return AutoencoderTransformer(**params).fit(X)


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture(scope="module")
def fitted(table):
    return fit_model(table)


def test_fits_transforms_and_inverse_transforms_to_the_same_columns_and_dtypes(table, fitted):
    assert isinstance(fitted.loss_, MixedLoss)
    assert fitted.n_features_in_ == table.shape[1]
    assert list(fitted.feature_names_in_) == list(table.columns)
    codes = fitted.transform(table)
    assert codes.shape == (len(table), 2) and np.isfinite(codes).all()
    reconstruction = fitted.inverse_transform(codes)
    assert isinstance(reconstruction, pd.DataFrame)
    assert list(reconstruction.columns) == list(table.columns)
    assert reconstruction.dtypes.to_dict() == table.dtypes.to_dict()
    assert reconstruction["color"].cat.categories.tolist() == ["blue", "red"]
    assert set(reconstruction["cut"]) <= set(CUTS)
    # Numeric columns come back on their own scale (prices near 1000), not standardised.
    assert abs(reconstruction["price"].mean() - table["price"].mean()) < 100


def test_pickles_and_continues_training(table, fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(table), fitted.transform(table))
    n_iter = restored.n_iter_
    restored.partial_fit(table)
    assert restored.n_iter_ == n_iter + 1
    assert len(restored.loss_curve_) == n_iter + 1
    # fitted itself is untouched by the copy's training.
    assert fitted.n_iter_ == n_iter
    warm = clone(fitted).set_params(warm_start=True, max_iter=5).fit(table)
    iterations = warm.n_iter_
    warm.fit(table)
    assert warm.n_iter_ == iterations + 5


def test_categorical_reconstruction_beats_the_mode(table, fitted):
    test = make_table(seed=1)
    reconstruction = fitted.inverse_transform(fitted.transform(test))
    for column in ("cut", "color", "premium", "origin"):
        accuracy = np.mean(reconstruction[column].to_numpy() == test[column].to_numpy())
        mode_accuracy = test[column].value_counts(normalize=True).max()
        assert accuracy > mode_accuracy + 0.1, column


def test_each_column_counts_once_in_the_loss():
    loss = MixedLoss(SquaredError(), n_numeric=1, n_binary=1, category_counts=(3,))
    output = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]])
    target = torch.tensor([[0.0, 1.0, 0.0, 0.0, 1.0]])
    expected = (1.0 + np.log(2) + np.log(3)) / 3
    np.testing.assert_allclose(loss.per_sample(output, target).item(), expected, rtol=1e-6)
    # A missing column (a whole block of NaN) is left out, and gives no gradient.
    target_missing = target.clone()
    target_missing[0, 2:] = np.nan
    output = output.clone().requires_grad_(True)
    value = loss.per_sample(output, target_missing)
    np.testing.assert_allclose(value.item(), (1.0 + np.log(2)) / 2, rtol=1e-6)
    value.sum().backward()
    assert torch.all(output.grad[0, 2:] == 0)
    assert torch.all(output.grad[0, :2] != 0)


def test_missing_categorical_entries_use_the_missing_value_path(table):
    holed = table.copy()
    holed["cut"] = holed["cut"].astype(object)
    holed.loc[:9, "cut"] = np.nan
    holed.loc[20:29, "color"] = np.nan
    holed.loc[30:39, "price"] = np.nan
    model = fit_model(holed, max_iter=10)
    errors = model.reconstruction_error_per_feature(holed)
    assert errors.shape == holed.shape
    columns = list(holed.columns)
    assert np.isnan(errors[:10, columns.index("cut")]).all()
    assert np.isnan(errors[20:30, columns.index("color")]).all()
    assert np.isnan(errors[30:40, columns.index("price")]).all()
    assert np.isfinite(errors[40:]).all()
    reconstruction = model.inverse_transform(model.transform(holed))
    assert reconstruction["cut"].notna().all()  # the missing entries are filled in
    assert np.isfinite(model.score_samples(holed)).all()


def test_unseen_category_follows_handle_unknown(table, fitted):
    unseen = table.iloc[:5].copy()
    unseen.loc[unseen.index[0], "cut"] = "Very Good"
    with pytest.raises(ValueError, match="'cut'.*Very Good"):
        fitted.transform(unseen)
    ignoring = clone(fitted).set_params(handle_unknown="ignore").fit(table)
    as_missing = unseen.copy()
    as_missing["cut"] = as_missing["cut"].astype(object)
    as_missing.loc[as_missing.index[0], "cut"] = None
    np.testing.assert_array_equal(ignoring.transform(unseen), ignoring.transform(as_missing))


def test_grid_search_over_loss_and_n_components_in_a_pipeline(table):
    pipeline = Pipeline([("autoencoder", AutoencoderTransformer(max_iter=5, random_state=0))])
    grid = GridSearchCV(
        pipeline,
        {"autoencoder__loss": ["squared_error", "absolute_error"], "autoencoder__n_components": [1, 2]},
        cv=2,
        error_score="raise",
    )
    grid.fit(table)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.transform(table).shape[1] == grid.best_params_["autoencoder__n_components"]


@pytest.mark.parametrize(
    "estimator",
    [
        DenoisingAutoencoder(noise="gaussian"),
        DenoisingAutoencoder(noise="masking", noise_level=0.2),
        DenoisingAutoencoder(noise="salt_and_pepper"),
        SparseAutoencoder(),
        ContractiveAutoencoder(),
        VariationalAutoencoder(),
    ],
    ids=lambda estimator: f"{type(estimator).__name__}-{estimator.get_params().get('noise', '')}",
)
def test_every_variant_trains_on_a_mixed_table(table, estimator):
    model = clone(estimator).set_params(n_components=2, max_iter=10, random_state=0).fit(table)
    assert np.isfinite(model.loss_curve_).all()
    reconstruction = model.inverse_transform(model.transform(table))
    assert reconstruction.dtypes.to_dict() == table.dtypes.to_dict()
    assert set(reconstruction["cut"]) <= set(CUTS)


def test_denoising_corruption_keeps_rows_valid(table):
    for noise in ("masking", "salt_and_pepper"):
        model = DenoisingAutoencoder(n_components=2, noise=noise, noise_level=0.5, max_iter=1, random_state=0)
        model.fit(table)
        encoded = torch.as_tensor(model._validate_table(table, reset=None), dtype=torch.float32)
        corrupted = model._corrupt(encoded, torch.Generator().manual_seed(0))
        n_numeric = model.loss_.n_numeric
        # Each categorical block still sums to one: a level, or the levels' frequencies where hidden.
        for start, stop in model.loss_._blocks():
            np.testing.assert_allclose(corrupted[:, start:stop].sum(dim=1).numpy(), 1.0, rtol=1e-5)
        changed = (corrupted[:, n_numeric:] != encoded[:, n_numeric:]).any(dim=1)
        assert changed.float().mean() > 0.2, noise


def test_variational_samples_are_tables(table):
    model = VariationalAutoencoder(n_components=2, max_iter=5, random_state=0).fit(table)
    samples = model.sample(4, random_state=0)
    assert samples.dtypes.to_dict() == table.dtypes.to_dict()


def test_rare_levels_are_grouped_as_one_hot_encoder_does():
    rng = np.random.RandomState(0)
    n_samples = 300
    frame = pd.DataFrame(
        {
            "value": rng.normal(size=n_samples),
            # An identifier: one level per row, which must not make the network 300 wide.
            "ident": [f"id{i}" for i in range(n_samples)],
            "kind": rng.choice(["a", "b", "c", "d"], p=[0.5, 0.3, 0.15, 0.05], size=n_samples),
        }
    )
    model = fit_model(frame, max_categories=3, max_iter=5)
    # value (1) + ident (3: two kept, one group) + kind (3)
    assert model.module_.encoder.layers[0].in_features == 7
    reconstruction = model.inverse_transform(model.transform(frame))
    assert set(reconstruction["kind"]) <= {"a", "b", "c"}  # the group decodes to its most frequent member
    by_frequency = fit_model(frame, min_frequency=0.1, max_iter=5)
    # ident: every level rare, all in one group, a block of one; kind: only d is rare, a group of one, so a to d
    assert by_frequency.module_.encoder.layers[0].in_features == 1 + 1 + 4
    # Levels the group holds are known: they encode as the group, not as unseen.
    assert np.isfinite(by_frequency.transform(frame.iloc[:5])).all()


def test_numeric_frames_and_arrays_are_unchanged():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    frame = pd.DataFrame(X, columns=list("abcd"))
    from_frame = fit_model(frame, max_iter=5)
    from_array = fit_model(X, max_iter=5)
    assert not isinstance(from_frame.loss_, MixedLoss)
    np.testing.assert_array_equal(from_frame.transform(frame), from_array.transform(X))
    assert isinstance(from_frame.inverse_transform(from_frame.transform(frame)), np.ndarray)


def test_array_with_categorical_indices():
    table = make_table(n_samples=80)
    array = table.to_numpy(dtype=object)
    categorical = [1, 3, 4, 6]
    model = fit_model(array, categorical_features=categorical, max_iter=5)
    assert isinstance(model.loss_, MixedLoss)
    reconstruction = model.inverse_transform(model.transform(array))
    assert isinstance(reconstruction, np.ndarray) and reconstruction.shape == array.shape
    assert set(reconstruction[:, 1]) <= set(CUTS)
    mask = np.isin(np.arange(array.shape[1]), categorical)
    by_mask = fit_model(array, categorical_features=mask, max_iter=5)
    np.testing.assert_array_equal(by_mask.transform(array), model.transform(array))
    # By name, on the DataFrame: the same columns.
    by_name = fit_model(table, categorical_features=["cut", "color", "premium", "origin"], max_iter=5)
    np.testing.assert_allclose(by_name.transform(table), model.transform(array), rtol=1e-6)


def test_bad_categorical_features_are_named():
    table = make_table(n_samples=30)
    with pytest.raises(ValueError, match="no column names"):
        fit_model(table.to_numpy(dtype=object), categorical_features=["cut"])
    with pytest.raises(ValueError, match="does not have"):
        fit_model(table, categorical_features=["shape"])
    with pytest.raises(ValueError, match="non-numeric values such as"):
        fit_model(table, categorical_features=["color"])  # cut left numeric
    model = AutoencoderTransformer(max_iter=2)
    with pytest.raises(ValueError):
        model.fit(table.assign(price=np.inf))
    assert not hasattr(model, "engine_")  # a failed fit leaves nothing behind


def test_bernoulli_numeric_loss_scales_numeric_columns_to_the_unit_interval(table):
    model = fit_model(table, loss="binary_crossentropy", max_iter=5)
    encoded = model._validate_table(table, reset=None)
    numeric = encoded[:, : model.loss_.n_numeric]
    assert numeric.min() == 0 and numeric.max() == 1
    assert np.isfinite(model.score_samples(table)).all()


def test_detector_scores_mixed_tables_and_names_the_column(table):
    rng = np.random.RandomState(0)
    test = make_table(n_samples=200, seed=2)
    anomalous = rng.choice(len(test), 10, replace=False)
    # A swapped cut: Fair for the dearest diamonds, Ideal for the cheapest.
    test.loc[anomalous, "cut"] = np.where(test.loc[anomalous, "price"] > 1000, "Fair", "Ideal")
    detector = AutoencoderAnomalyDetector(contamination=0.05, random_state=0).fit(table)
    scores = -detector.score_samples(test)
    labels = np.isin(np.arange(len(test)), anomalous)
    # Every planted row ranks above the normal rows but a few.
    assert np.mean(scores[labels][:, None] > scores[~labels][None, :]) > 0.9
    errors = detector.reconstruction_error_per_feature(test)
    assert list(errors.columns) == list(test.columns)
    assert (errors.iloc[anomalous].idxmax(axis=1) == "cut").mean() >= 0.7
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(restored.score_samples(test), detector.score_samples(test))


def test_weighted_rows_of_a_mixed_table_fit_the_noise_scale_as_repeated_rows(table):
    weights = np.random.RandomState(0).randint(1, 4, len(table))
    model = AutoencoderTransformer(2, max_iter=5, random_state=0).fit(table, sample_weight=weights)
    scale = model.noise_scale_.copy()
    # The same network's scale fitted on the rows repeated: the weighted fit is that one.
    repeated = table.iloc[np.repeat(np.arange(len(table)), weights)].reset_index(drop=True)
    model._fit_noise_scale(model._validate_table(repeated, reset=False))
    np.testing.assert_allclose(scale, model.noise_scale_, rtol=1e-6)
    # The detector's refit passes weights (the boundary row of its trimming in part).
    detector = AutoencoderAnomalyDetector(random_state=0).fit(table.iloc[:239])
    assert np.isfinite(detector.score_samples(table)).all()


def test_detector_continues_on_chunks_of_a_mixed_table(table):
    detector = AutoencoderAnomalyDetector(scaler="standard", random_state=0)
    detector.partial_fit(table.iloc[:120]).partial_fit(table.iloc[120:])
    assert detector.scaler_ is None  # the members scale a mixed table's numeric columns themselves
    assert np.isfinite(detector.score_samples(table)).all()


def test_safe_file_round_trips_a_mixed_model(tmp_path, table, fitted):
    path = tmp_path / "mixed.skae"
    skae.save(fitted, path)
    loaded = skae.load(path)
    np.testing.assert_array_equal(loaded.transform(table), fitted.transform(table))
    pd.testing.assert_frame_equal(
        loaded.inverse_transform(fitted.transform(table)), fitted.inverse_transform(fitted.transform(table))
    )
