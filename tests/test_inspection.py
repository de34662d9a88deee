"""The Display objects of skae.inspection, drawn on the Agg backend."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer, SparseAutoencoder
from skae.inspection import AnomalyScoreDisplay, ExplanationDisplay, LossCurveDisplay, ReconstructionDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    latent = rng.normal(size=(200, 2))
    return latent @ rng.normal(size=(2, 5)) + 0.05 * rng.normal(size=(200, 5))


@pytest.fixture(scope="module")
def detector(X):
    return AutoencoderAnomalyDetector(random_state=0).fit(X)


def test_importing_skae_does_not_import_matplotlib():
    code = "import sys, skae, skae.inspection; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- LossCurveDisplay ----------------------------------------------------------


def test_loss_curve_with_early_stopping(X):
    model = AutoencoderTransformer(n_components=2, max_iter=15, early_stopping=True, random_state=0).fit(X)
    display = LossCurveDisplay.from_estimator(model)
    assert_array_equal(display.line_.get_xdata(), np.arange(1, model.n_iter_ + 1))
    assert_allclose(display.line_.get_ydata(), model.loss_curve_)
    assert_allclose(display.validation_line_.get_ydata(), -np.asarray(model.validation_scores_))
    scores = model.validation_scores_
    best = int(np.argmax(scores)) + 1 if max(scores) >= model.best_validation_score_ else 0
    assert display.best_epoch_line_.get_xdata()[0] == best
    # A single term is the training loss itself: not drawn twice.
    assert display.term_lines_ == {}
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["training loss", "validation loss", f"best epoch ({best})"]
    assert display.ax_.get_xlabel() == "epoch" and display.ax_.get_title() == "AutoencoderTransformer"
    assert display.figure_ is display.ax_.figure


def test_loss_curve_draws_each_term_of_a_variant(X):
    model = SparseAutoencoder(n_components=3, max_iter=5, random_state=0).fit(X)
    assert len(model.loss_terms_curve_) > 1
    _, ax = plt.subplots()
    display = LossCurveDisplay.from_estimator(make_pipeline(MinMaxScaler(), model).fit(X), ax=ax, name="sparse")
    assert display.ax_ is ax and ax.get_title() == "sparse"
    assert set(display.term_lines_) == set(model.loss_terms_curve_)
    for term, line in display.term_lines_.items():
        assert_allclose(line.get_ydata(), model.loss_terms_curve_[term])
        assert line.get_linestyle() == "--"
    assert display.validation_line_ is None
    # Without validation the best epoch is the lowest training loss.
    assert display.best_epoch_line_.get_xdata()[0] == np.argmin(model.loss_curve_) + 1


def test_loss_curve_refuses_what_has_none(X, detector):
    with pytest.raises(TypeError, match=r"estimators_\[0\]"):
        LossCurveDisplay.from_estimator(detector)
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(AutoencoderTransformer())
    with pytest.raises(TypeError, match="records no loss curve"):
        LossCurveDisplay.from_estimator(PCA(2).fit(X))
    with pytest.raises(ValueError, match="more than loss_curve"):
        LossCurveDisplay([1.0, 0.5], validation_loss=[1.0, 0.9, 0.8]).plot()


# -- AnomalyScoreDisplay -------------------------------------------------------


def test_anomaly_scores_with_labels_and_samples(X, detector):
    labels = np.where(np.arange(len(X)) < 20, -1, 1)
    samples = X[:3] + 5
    display = AnomalyScoreDisplay.from_estimator(detector, X, labels, samples=samples, bins=12)
    assert set(display.bars_) == {-1, 1}
    # Stacked: the heights of each label's own bars count its samples.
    first = sum(bar.get_height() for bar in display.bars_[-1])
    assert first == 20
    assert all(len(bars) == 12 for bars in display.bars_.values())
    assert display.bars_[-1][0].get_facecolor() != display.bars_[1][0].get_facecolor()
    assert display.threshold_line_.get_xdata()[0] == 0.0
    marks = [segment[0, 0] for segment in display.sample_lines_.get_segments()]
    assert_allclose(marks, detector.decision_function(samples))
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert sorted(legend) == ["-1", "1", "samples", "threshold"]


def test_anomaly_scores_on_score_samples(X, detector):
    display = AnomalyScoreDisplay.from_estimator(detector, X, response_method="score_samples")
    assert list(display.bars_) == [None]
    assert sum(bar.get_height() for bar in display.bars_[None]) == len(X)
    assert display.threshold_line_.get_xdata()[0] == detector.offset_
    assert display.sample_lines_ is None
    assert display.ax_.get_xlabel().startswith("score_samples")


def test_anomaly_scores_axis_follows_the_tails():
    rng = np.random.RandomState(0)
    bulk = rng.normal(size=200)
    heavy = AnomalyScoreDisplay(np.r_[bulk, -500.0], 0.0).plot(bins=10)
    assert heavy.ax_.get_xscale() == "symlog"
    # Bins evenly spaced on the axis as drawn: the outlier does not squeeze
    # the bulk into one bin.
    assert sum(bar.get_height() > 0 for bar in heavy.bars_[None]) > 3
    light = AnomalyScoreDisplay(bulk, 0.0).plot(bins=10)
    assert light.ax_.get_xscale() == "linear"
    widths = [bar.get_width() for bar in light.bars_[None]]
    assert_allclose(widths, widths[0])
    forced = AnomalyScoreDisplay(np.r_[bulk, -500.0], 0.0).plot(xscale="linear")
    assert forced.ax_.get_xscale() == "linear"
    with pytest.raises(ValueError, match="xscale"):
        AnomalyScoreDisplay(bulk, 0.0).plot(xscale="log")


def test_anomaly_scores_bad_input(X, detector):
    with pytest.raises(ValueError, match="response_method"):
        AnomalyScoreDisplay.from_estimator(detector, X, response_method="predict")
    with pytest.raises(ValueError, match="one label per sample"):
        AnomalyScoreDisplay.from_estimator(detector, X, np.ones(3))
    with pytest.raises(TypeError, match="not an outlier detector"):
        AnomalyScoreDisplay.from_estimator(PCA(2).fit(X), X)


# -- ExplanationDisplay --------------------------------------------------------


def test_explanation_bars_name_the_features(X, detector):
    import pandas as pd

    columns = [f"sensor {i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    named = AutoencoderAnomalyDetector(random_state=0).fit(frame)
    sample = frame.iloc[[0]].copy()
    sample.iloc[0, 3] += 4  # one faulty sensor
    display = ExplanationDisplay.from_estimator(named, sample, max_features=3)
    errors = np.asarray(named.reconstruction_error_per_feature(sample))[0]
    assert_allclose(display.shares_, errors / errors.sum())
    ticks = sorted(zip(display.ax_.get_yticks(), [label.get_text() for label in display.ax_.get_yticklabels()]))
    labels = [label for _, label in ticks]
    assert labels[-1] == "sensor 3"  # the largest share, drawn at the top
    assert labels[0] == "2 other features"
    assert len(display.bars_) == 4
    widths = [bar.get_width() for bar in display.bars_]
    assert_allclose(sum(widths), 1.0)
    assert widths[0] == max(widths)


def test_explanation_of_an_autoencoder_without_names(X):
    model = AutoencoderTransformer(n_components=2, max_iter=3, random_state=0).fit(X)
    display = ExplanationDisplay.from_estimator(model, X[0])
    labels = {label.get_text() for label in display.ax_.get_yticklabels()}
    assert labels == {f"x{i}" for i in range(X.shape[1])}


def test_explanation_bad_input(X, detector):
    with pytest.raises(ValueError, match="explains one sample"):
        ExplanationDisplay.from_estimator(detector, X[:2])
    with pytest.raises(TypeError, match="reconstruction_error_per_feature"):
        ExplanationDisplay.from_estimator(PCA(2).fit(X), X[:1])
    with pytest.raises(ValueError, match="max_features"):
        ExplanationDisplay.from_estimator(detector, X[:1], max_features=0)
    with pytest.raises(ValueError, match="one name each"):
        ExplanationDisplay([1.0, 2.0], ["a"]).plot()


# -- ReconstructionDisplay -----------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300]


def test_reconstruction_rows(digits):
    pipeline = make_pipeline(MinMaxScaler(), AutoencoderTransformer(n_components=8, max_iter=5, random_state=0))
    pipeline.fit(digits)
    samples = digits[:4]
    display = ReconstructionDisplay.from_estimator(pipeline, samples, image_shape=(8, 8))
    reconstruction = pipeline.inverse_transform(pipeline.transform(samples))
    assert display.images_.shape == display.ax_.shape == (3, 4)
    for column in range(4):
        assert_array_equal(display.images_[0, column].get_array(), samples[column].reshape(8, 8))
        assert_allclose(display.images_[1, column].get_array(), reconstruction[column].reshape(8, 8))
        assert_allclose(
            display.images_[2, column].get_array(), ((reconstruction[column] - samples[column]) ** 2).reshape(8, 8)
        )
    # Input and reconstruction on one colour scale; the errors on their own.
    assert display.images_[0, 0].get_clim() == display.images_[1, 3].get_clim()
    assert display.images_[2, 0].get_clim() == display.images_[2, 3].get_clim()
    assert display.images_[2, 0].get_cmap().name == "Reds"
    assert [display.ax_[row, 0].get_ylabel() for row in range(3)] == ["input", "reconstruction", "squared error"]


def test_reconstruction_on_given_axes_and_bad_input(digits):
    model = AutoencoderTransformer(n_components=4, max_iter=2, random_state=0).fit(digits / 16)
    figure, axes = plt.subplots(3, 2)
    display = ReconstructionDisplay.from_estimator(model, digits[:2] / 16, image_shape=(8, 8), ax=axes)
    assert display.figure_ is figure and display.ax_[1, 1] is axes[1, 1]
    with pytest.raises(ValueError, match=r"image_shape=\(8, 7\) holds 56 pixels, but each sample has 64"):
        ReconstructionDisplay.from_estimator(model, digits[:2] / 16, image_shape=(8, 7))
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        ReconstructionDisplay.from_estimator(model, digits[:3] / 16, image_shape=(8, 8), ax=axes)
    with pytest.raises(TypeError, match="no transform and inverse_transform"):
        ReconstructionDisplay.from_estimator(AutoencoderAnomalyDetector(), digits[:2], image_shape=(8, 8))
