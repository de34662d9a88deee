"""scikit-learn's callback API (scikit-learn >= 1.9): epochs as the tasks of a fit."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

from skae import AutoencoderAnomalyDetector, AutoencoderImputer, AutoencoderTransformer, DenoisingAutoencoder
from skae._callbacks import NO_CALLBACKS, EpochTasks, begin_fit
from skae.metrics import neg_mean_squared_reconstruction_error

requires_callback_api = pytest.mark.skipif(
    parse_version(sklearn.__version__) < parse_version("1.9"), reason="scikit-learn's callback API is new in 1.9"
)
FAST = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)


@pytest.fixture
def X():
    return np.random.RandomState(0).rand(40, 5)


class RecordingCallback:
    """Records the path of ``(estimator, task, id)`` from the root to each task that ends.

    Auto-propagated to every nested estimator; ``stop_after`` makes it ask
    to stop a fit after that many epochs.
    """

    max_propagation_depth = None

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.ended = []
        self.fitted_estimators = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        path = []
        while context is not None:
            path.append((context.estimator_name, context.task_name, context.task_id))
            context = context.parent
        self.ended.append(tuple(reversed(path)))
        if path[0][1] == "epoch":
            self.fitted_estimators.append(fitted_estimator)
            return self.stop_after is not None and path[0][2] + 1 >= self.stop_after
        return False

    def epochs(self):
        return [path for path in self.ended if path[-1][1] == "epoch"]


@requires_callback_api
def test_grid_search_over_a_pipeline_reports_every_epoch(X):
    callback = RecordingCallback()
    pipeline = make_pipeline(StandardScaler(), AutoencoderTransformer(**FAST))
    search = GridSearchCV(pipeline, {"autoencodertransformer__n_components": [1, 2]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.set_callbacks(callback).fit(X)
    epochs = callback.epochs()
    # 2 candidates x 2 splits, and the refit: 3 epochs each, nothing stopped early.
    assert len(epochs) == 5 * FAST["max_iter"]
    for path in epochs:
        names = [(estimator, task) for estimator, task, _ in path]
        assert names[0] == ("GridSearchCV", "fit")
        assert names[-3:] == [
            ("Pipeline", "fit"),
            ("AutoencoderTransformer", "fit"),
            ("AutoencoderTransformer", "epoch"),
        ]
    # Each fit's epochs are numbered 0, 1, 2 under it.
    fits = {}
    for path in epochs:
        fits.setdefault(path[:-1], []).append(path[-1][2])
    assert len(fits) == 5
    assert all(ids == [0, 1, 2] for ids in fits.values())
    # The callbacks were handed back: the fitted estimators keep none.
    assert not hasattr(search.best_estimator_[-1], "_callback_fit_ctx")


@requires_callback_api
def test_a_callback_stops_training_early_and_leaves_a_usable_model(X):
    callback = RecordingCallback(stop_after=2)
    model = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=50, random_state=0).set_callbacks(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped on purpose: no warning
        model.fit(X)
    assert model.n_iter_ == 2
    assert len(model.loss_curve_) == 2
    assert len(callback.epochs()) == 2
    codes = model.transform(X)
    assert codes.shape == (40, 2) and np.isfinite(codes).all()
    assert np.isfinite(model.score(X))


@requires_callback_api
def test_the_fitted_estimator_of_an_epoch_is_a_snapshot(X):
    callback = RecordingCallback()
    model = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=4, random_state=0).set_callbacks(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    first, last = callback.fitted_estimators[0], callback.fitted_estimators[-1]
    assert first.n_iter_ == 1 and last.n_iter_ == 4
    # The first epoch's model kept its weights while training went on.
    assert not np.allclose(first.transform(X), model.transform(X))
    np.testing.assert_allclose(last.transform(X), model.transform(X))
    assert np.isfinite(first.score(X))


@requires_callback_api
def test_partial_fit_is_one_epoch_task(X):
    callback = RecordingCallback()
    model = AutoencoderTransformer(2, **FAST).set_callbacks(callback)
    model.partial_fit(X).partial_fit(X)
    assert [path[-1][1:] for path in callback.epochs()] == [("epoch", 0), ("epoch", 0)]


@requires_callback_api
def test_the_detector_nests_member_fits_and_their_epochs(X):
    callback = RecordingCallback()
    member = AutoencoderTransformer(1, **{**FAST, "random_state": None})
    detector = AutoencoderAnomalyDetector(member, n_estimators=2, random_state=0).set_callbacks(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        detector.fit(X)
    epochs = callback.epochs()
    # 2 members, fitted and refitted without the worst rows, 3 epochs each.
    assert len(epochs) == 2 * 2 * FAST["max_iter"]
    member_fits = sorted({path[1][2] for path in epochs})
    assert member_fits == [0, 1, 2, 3]
    for path in epochs:
        assert [task for _, task, _ in path] == ["fit", "fit", "epoch"]
        assert path[0][0] == "AutoencoderAnomalyDetector" and path[1][0] == "AutoencoderTransformer"


@requires_callback_api
def test_the_imputer_nests_its_autoencoder_epochs(X):
    callback = RecordingCallback()
    X_missing = X.copy()
    X_missing[::7, 1] = np.nan
    imputer = AutoencoderImputer(DenoisingAutoencoder(2, **FAST), random_state=0).set_callbacks(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        imputer.fit(X_missing)
    epochs = callback.epochs()
    assert len(epochs) == FAST["max_iter"]
    assert all(path[0][0] == "AutoencoderImputer" and path[1][0] == "DenoisingAutoencoder" for path in epochs)


@requires_callback_api
def test_scoring_monitor_scores_every_epoch(X):
    from sklearn.callback import ScoringMonitor

    monitor = ScoringMonitor(scoring={"mse": neg_mean_squared_reconstruction_error})
    model = AutoencoderTransformer(2, **FAST).set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # ScoringMonitor scores only when fit is given a y (ignored by the model).
        model.fit(X, np.zeros(len(X)))
    scores = [row["mse"] for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(scores) == FAST["max_iter"]
    assert all(score < 0 for score in scores)
    assert scores[-1] == pytest.approx(neg_mean_squared_reconstruction_error(model, X))


def test_without_the_api_the_epoch_hooks_do_nothing():
    # What scikit-learn < 1.9 gets: a context that calls nothing and never stops.
    assert begin_fit(object(), max_subtasks=3) is NO_CALLBACKS
    tasks = EpochTasks(NO_CALLBACKS, object(), X=None, y=None, metadata=None, fitted_state=lambda: 1 / 0)
    tasks.begin()
    assert tasks.end() is False
    with NO_CALLBACKS.propagate_callback_context(object()):
        pass
