"""Behaviour of AutoencoderTransformer and the engine beneath it."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.losses import Lp
from skae.metrics import neg_mean_squared_reconstruction_error

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def pca_error(X_train, X_test, n_components):
    pca = PCA(n_components).fit(X_train)
    return np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)


# -- the theory: linear = PCA, nonlinear beats PCA on curved data ----------


def test_linear_autoencoder_reaches_pca_reconstruction_error(digits):
    X_train, X_test, _, _ = digits
    ae = AutoencoderTransformer(
        8,
        hidden_layer_sizes=(),
        activation="identity",
        alpha=0.0,
        learning_rate_init=1e-2,
        max_iter=200,
        tol=0.0,
        random_state=0,
    ).fit(X_train)
    ae_error = -neg_mean_squared_reconstruction_error(ae, X_test)
    assert ae_error <= 1.01 * pca_error(X_train, X_test, 8)


def test_nonlinear_autoencoder_beats_pca_on_a_curved_manifold():
    X, _ = make_swiss_roll(1500, noise=0.05, random_state=0)
    X = StandardScaler().fit_transform(X)
    X_train, X_test = train_test_split(X, random_state=0)
    ae = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(64, 64),
        activation="tanh",
        learning_rate_init=3e-3,
        max_iter=150,
        batch_size=64,
        random_state=0,
    ).fit(X_train)
    assert -neg_mean_squared_reconstruction_error(ae, X_test) < 0.5 * pca_error(X_train, X_test, 2)


# -- pipelines and searches ----------------------------------------------


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_losses_and_latent_size_in_a_pipeline(digits, n_jobs):
    X_train, _, y_train, _ = digits
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", AutoencoderTransformer(hidden_layer_sizes=(32,), max_iter=30, random_state=0)),
            ("clf", LogisticRegression(max_iter=200)),
        ]
    )
    grid = [
        {"ae__loss": ["squared_error", "huber", Lp(0.5)], "ae__n_components": [4, 8]},
        {"ae__loss": [Lp(1.0)], "ae__loss__p": [0.5, 1.5], "ae__n_components": [8]},
    ]
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=n_jobs).fit(X_train[:400], y_train[:400])
    assert len(search.cv_results_["params"]) == 8
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.5  # far above the 0.1 of chance on ten digits


def test_choose_n_components_by_a_downstream_score_not_reconstruction(digits):
    """Reconstruction always prefers more components; a classifier's score need not."""
    X_train, _, y_train, _ = digits
    X_train, y_train = X_train[:600], y_train[:600]
    ae = AutoencoderTransformer(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
    by_reconstruction = GridSearchCV(
        ae, {"n_components": [2, 8, 24]}, scoring=neg_mean_squared_reconstruction_error, cv=2
    ).fit(X_train)
    assert by_reconstruction.best_params_["n_components"] == 24
    scores = by_reconstruction.cv_results_["mean_test_score"]
    assert scores[0] < scores[1] < scores[2]

    pipe = Pipeline([("ae", ae), ("clf", LogisticRegression(max_iter=500))])
    by_task = GridSearchCV(pipe, {"ae__n_components": [2, 8, 24]}, cv=2).fit(X_train, y_train)
    # The downstream score is what a user should choose by: it is an
    # accuracy, and the search picks the size that classifies best.
    task_scores = by_task.cv_results_["mean_test_score"]
    assert by_task.best_params_["ae__n_components"] == [2, 8, 24][int(np.argmax(task_scores))]
    assert task_scores.max() > 0.6  # chance is 0.1


def test_score_does_not_depend_on_the_loss_parameter(small_X):
    ae = AutoencoderTransformer(2, **FAST).fit(small_X)
    before = ae.score(small_X)
    ae.set_params(loss="absolute_error")  # a different loss, same fitted model
    assert ae.score(small_X) == before
    assert np.isclose(before, np.mean(ae.score_samples(small_X)))
    # The mean Gaussian log-density (variance s^2 / 2) at the fitted scales.
    residual, scale = small_X - ae.inverse_transform(ae.transform(small_X)), ae.noise_scale_
    log_density = -((residual / scale) ** 2) - np.log(scale) - 0.5 * np.log(np.pi)
    assert before == pytest.approx(np.mean(log_density.sum(axis=1)), rel=1e-5)


# -- input and output types ----------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(small_X, dtype):
    X = small_X.astype(dtype)
    ae = AutoencoderTransformer(2, **FAST).fit(X)
    codes = ae.transform(X)
    assert codes.dtype == dtype and codes.shape == (60, 2)
    assert ae.inverse_transform(codes).dtype == dtype
    assert ae.score_samples(X).dtype == np.float64


def test_read_only_input_fits_without_torch_warnings(small_X):
    # torch warns (once per process) when a tensor views a read-only array, as a DataFrame's can be.
    X, weights = small_X.copy(), np.ones(len(small_X))
    X.setflags(write=False)
    weights.setflags(write=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The given NumPy array is not writable")
        model = AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=2, random_state=0)
        model.fit(X, sample_weight=weights).score_samples(X)


def test_pandas_in_pandas_out(small_X):
    df = pd.DataFrame(small_X, columns=[f"f{i}" for i in range(5)])
    ae = AutoencoderTransformer(3, **FAST).set_output(transform="pandas")
    out = ae.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["autoencodertransformer0", "autoencodertransformer1", "autoencodertransformer2"]
    assert list(ae.get_feature_names_out()) == list(out.columns)
    assert list(ae.feature_names_in_) == list(df.columns)
    assert out.index.equals(df.index)


# -- bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    "make_X, message",
    [
        # NaN is a missing entry (tests/test_missing.py), unless it empties a column.
        (lambda X: np.where(np.arange(X.shape[1]) == 1, np.nan, X), "no observed value"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.inf, X), "infinity"),
        (lambda X: X[:0], "0 sample"),
        (lambda X: X[:, 0], "Expected 2D array"),
        (lambda X: np.array([["a", "b"], ["c", "d"]]), "could not convert string"),
    ],
    ids=["nan", "inf", "empty", "1d", "strings"],
)
def test_bad_input_is_a_clear_value_error(small_X, make_X, message):
    ae = AutoencoderTransformer(1, **FAST)
    with pytest.raises(ValueError, match=message):
        ae.fit(make_X(small_X))
    assert not hasattr(ae, "n_features_in_")


def test_wrong_feature_count_at_transform_and_inverse_transform(small_X):
    ae = AutoencoderTransformer(2, **FAST).fit(small_X)
    with pytest.raises(ValueError, match="X has 4 features, but AutoencoderTransformer is expecting 5"):
        ae.transform(small_X[:, :4])
    with pytest.raises(ValueError, match="n_components=2"):
        ae.inverse_transform(np.zeros((3, 3)))


def test_too_many_components_is_named(small_X):
    with pytest.raises(ValueError, match="n_components=6 must be <= n_features=5"):
        AutoencoderTransformer(6, **FAST).fit(small_X)


@pytest.mark.parametrize("low, high", [(-0.5, 1.0), (0.0, 1.5)])
def test_binary_crossentropy_requires_unit_interval_data(low, high, rng):
    X = rng.uniform(low, high, size=(20, 3))
    with pytest.raises(ValueError, match=r"models data in \[0, 1\]"):
        AutoencoderTransformer(1, loss="binary_crossentropy", **FAST).fit(X)


def test_binary_crossentropy_reconstructs_in_unit_interval(rng):
    X = rng.uniform(0, 1, size=(50, 4))
    ae = AutoencoderTransformer(2, loss="binary_crossentropy", **FAST).fit(X)
    X_hat = ae.inverse_transform(ae.transform(X))
    assert X_hat.min() >= 0 and X_hat.max() <= 1


def test_a_loss_that_turns_nan_leaves_the_estimator_unfitted(small_X):
    ae = AutoencoderTransformer(2, loss=lambda out, x: (out - x).mean(dim=1) * float("nan"), **FAST)
    with pytest.raises(ValueError, match="training loss became nan"):
        ae.fit(small_X)
    assert not [name for name in vars(ae) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        ae.transform(small_X)


@pytest.mark.parametrize(
    "X",
    [
        np.random.RandomState(0).normal(size=(10, 3)),  # fewer samples than batch_size
        np.random.RandomState(0).normal(size=(2, 3)),
        np.random.RandomState(0).normal(size=(30, 1)),
        np.ones((30, 4)),
    ],
    ids=["n<batch", "two-samples", "one-feature", "constant"],
)
def test_edge_shapes_fit(X):
    ae = AutoencoderTransformer(1, batch_size=256, **FAST).fit(X)
    assert np.isfinite(ae.transform(X)).all()


def test_invalid_device_is_named(small_X):
    with pytest.raises(ValueError, match="device='cuda:7'"):
        AutoencoderTransformer(2, device="cuda:7", **FAST).fit(small_X)


# -- reproducibility -------------------------------------------------------


def test_same_random_state_gives_identical_results_without_touching_global_rng(small_X):
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = AutoencoderTransformer(2, **FAST).fit(small_X)
    second = AutoencoderTransformer(2, **FAST).fit(small_X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])
    np.testing.assert_array_equal(first.transform(small_X), second.transform(small_X))
    assert first.loss_curve_ == second.loss_curve_
    other = AutoencoderTransformer(2, **{**FAST, "random_state": 1}).fit(small_X)
    assert not np.array_equal(first.transform(small_X), other.transform(small_X))


# -- training behaviour ----------------------------------------------------


def test_loss_curve_and_history(small_X):
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(16,), max_iter=20, tol=0.0, random_state=0).fit(small_X)
    assert ae.n_iter_ == 20 == len(ae.loss_curve_)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    assert ae.best_loss_ == min(ae.loss_curve_)
    assert ae.loss_terms_curve_ == {"reconstruction": ae.loss_curve_}
    assert not hasattr(ae, "validation_scores_")


def test_early_stopping_restores_the_best_validation_weights(digits):
    X_train = digits[0][:500]
    ae = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(32,),
        early_stopping=True,
        n_iter_no_change=3,
        max_iter=300,
        learning_rate_init=0.05,
        random_state=0,
        init="random",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopping early is converging: no warning
        ae.fit(X_train)
    assert ae.n_iter_ < 300
    assert len(ae.validation_scores_) == ae.n_iter_
    assert ae.best_validation_score_ == max(ae.validation_scores_)
    # The best epoch was not the last, so restoring it mattered.
    assert int(np.argmax(ae.validation_scores_)) < ae.n_iter_ - 1


def test_engine_restores_the_weights_of_the_best_validation_epoch(digits):
    X = torch.as_tensor(digits[0][:400], dtype=torch.float32)
    X_train, X_val = X[:300], X[300:]
    ae = AutoencoderTransformer(4, hidden_layer_sizes=(32,), learning_rate_init=0.05, random_state=0, init="random")
    ae._fit(X_train.numpy(), incremental=True)  # builds the engine and the loss
    engine = ae.engine_
    engine.run(X_train, objective=ae._objective, batch_size=32, n_epochs=40, X_val=X_val, tol=0.0, n_iter_no_change=5)
    assert engine.evaluate(X_val, ae._objective, 256) == pytest.approx(-engine.best_validation_score, rel=1e-5)
    assert engine.best_validation_score > engine.validation_scores[-1]


def test_max_iter_reached_warns(small_X):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=3, tol=0.0, random_state=0).fit(small_X)


def test_verbose_prints_one_line_per_epoch(small_X, capsys):
    AutoencoderTransformer(2, verbose=True, early_stopping=True, **FAST).fit(small_X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1: train loss") and "validation loss" in lines[0] and lines[0].endswith(" s")


def test_partial_fit_is_one_pass_with_the_same_optimiser(small_X):
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(8,), batch_size=60, random_state=0)
    ae.partial_fit(small_X)
    optimizer = ae.engine_.optimizer
    assert ae.n_iter_ == 1
    ae.partial_fit(small_X)
    assert ae.engine_.optimizer is optimizer and ae.n_iter_ == 2
    assert optimizer.n_steps == 2  # one batch of 60 per pass, two passes

    # Same as two epochs of fit without shuffling across the same batches.
    fitted = AutoencoderTransformer(2, hidden_layer_sizes=(8,), batch_size=60, max_iter=2, tol=0, random_state=0).fit(
        small_X
    )
    assert fitted.loss_curve_[0] == ae.loss_curve_[0]


def test_partial_fit_rejects_a_different_feature_count_and_keeps_the_model(small_X):
    ae = AutoencoderTransformer(2, **FAST).partial_fit(small_X)
    with pytest.raises(ValueError, match="X has 4 features"):
        ae.partial_fit(small_X[:, :4])
    assert ae.n_iter_ == 1


def test_warm_start_continues_training(small_X):
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=5, tol=0, warm_start=True, random_state=0)
    ae.fit(small_X)
    module = ae.module_
    ae.fit(small_X)
    assert ae.module_ is module and ae.n_iter_ == 10 and len(ae.loss_curve_) == 10
    cold = clone(ae).set_params(warm_start=False).fit(small_X).fit(small_X)
    assert cold.n_iter_ == 5


def test_continued_training_uses_the_current_learning_rate_and_alpha(small_X):
    ae = AutoencoderTransformer(2, **FAST).partial_fit(small_X)
    optimizer = ae.engine_.optimizer
    ae.set_params(learning_rate_init=0.05, alpha=0.5).partial_fit(small_X)
    assert ae.engine_.optimizer is optimizer  # Adam's moments are kept
    # alpha is a penalty on the summed loss: Adam's decay is alpha / n_samples.
    assert (optimizer.learning_rate, optimizer.weight_decay) == (0.05, 0.5 / len(small_X))


# -- persistence -----------------------------------------------------------


@pytest.mark.parametrize(
    "dump, load",
    [
        (pickle.dumps, pickle.loads),
        (
            lambda obj: (joblib.dump(obj, buffer := io.BytesIO()), buffer.getvalue())[1],
            lambda data: joblib.load(io.BytesIO(data)),
        ),
    ],
    ids=["pickle", "joblib"],
)
def test_pickle_round_trip_predicts_the_same_and_keeps_training(small_X, dump, load):
    ae = AutoencoderTransformer(2, **FAST).fit(small_X)
    restored = load(dump(ae))
    np.testing.assert_array_equal(ae.transform(small_X), restored.transform(small_X))
    # Optimiser and generator state travel too: continuing gives the same model.
    ae.partial_fit(small_X)
    restored.partial_fit(small_X)
    np.testing.assert_array_equal(ae.transform(small_X), restored.transform(small_X))


def test_a_model_fitted_on_a_gpu_loads_on_a_machine_without_one(small_X, monkeypatch):
    ae = AutoencoderTransformer(2, **FAST).fit(small_X)
    expected = ae.transform(small_X)
    # Fake the fit's device: the pickle records it, and this machine lacks it.
    ae.engine_.device = torch.device("cuda:0")
    data = pickle.dumps(ae)
    assert b"cuda" in data  # the pickle remembers where it was fitted
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0, which is not available here"):
        restored = pickle.loads(data)
    assert restored.device_ == "cpu"
    assert all(p.device.type == "cpu" for p in restored.module_.parameters())
    np.testing.assert_array_equal(restored.transform(small_X), expected)
    restored.partial_fit(small_X)  # and keeps training on the CPU


def test_engine_pickles_tensors_on_the_cpu(small_X):
    ae = AutoencoderTransformer(2, **FAST).fit(small_X)
    state = ae.engine_.__getstate__()
    tensors = [v for v in state["optimizer"].values() if torch.is_tensor(v)] + list(state["module"].parameters())
    assert len(tensors) > 3 and all(t.device.type == "cpu" for t in tensors)
