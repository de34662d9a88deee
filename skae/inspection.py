"""Plots of fitted skae models, as scikit-learn Display objects.

Each display follows scikit-learn's convention: build it with
``from_estimator`` (which computes what to draw and calls :meth:`plot`), or
construct it from precomputed values and call ``plot(ax=...)``; after
plotting it holds the matplotlib artists it drew, the axes ``ax_`` and the
figure ``figure_``. Matplotlib is imported only when a display draws.
"""

import numbers

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["AnomalyScoreDisplay", "ExplanationDisplay", "LossCurveDisplay", "ReconstructionDisplay"]

# AnomalyScoreDisplay's xscale="auto" turns symmetric-logarithmic when the
# scores span more than this many interquartile ranges.
HEAVY_TAIL_SPREADS = 20


def _pyplot(what):
    """``matplotlib.pyplot``, imported only now; a clear error where it is not installed."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(f"{what} requires matplotlib. You can install it with `pip install matplotlib`.") from error
    return plt


def _axes(ax, what):
    """``ax``, or the axes of a new figure."""
    plt = _pyplot(what)
    if ax is None:
        # Constrained: long tick labels (feature names) are not cut off.
        _, ax = plt.subplots(layout="constrained")
    return ax


def _final_estimator(estimator):
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


class LossCurveDisplay:
    """Training loss per epoch, with the validation loss, each loss term and the best epoch.

    Build it with :meth:`from_estimator`. The training line is the objective
    each epoch minimised (``loss_curve_``); with ``early_stopping=True``,
    the validation line is the objective on the held-out rows (minus
    ``validation_scores_``) and the best epoch, whose weights the model
    kept, is marked. The variants' loss terms (sparsity, contraction,
    Kullback-Leibler divergence...) are drawn dashed when there is more than
    one.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of each epoch.
    loss_terms : dict of str to array-like of shape (n_epochs,), default=None
        Each term of the training loss, by name.
    validation_loss : array-like of shape (n_validation_epochs,), default=None
        Validation loss of the last ``n_validation_epochs`` epochs.
    best_epoch : int, default=None
        The epoch (from 1; 0 for the starting point) to mark.
    estimator_name : str, default=None
        Name used in the title.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss.
    validation_line_ : matplotlib Line2D or None
        The validation loss.
    term_lines_ : dict of str to matplotlib Line2D
        The loss terms' lines, by term; empty for a single term.
    best_epoch_line_ : matplotlib Line2D or None
        The vertical line at the best epoch.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of ``ax_``.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against training set size.
    AnomalyScoreDisplay : The detector's scores and threshold.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.inspection import LossCurveDisplay
    >>> X = np.random.RandomState(0).normal(size=(100, 5))
    >>> model = AutoencoderTransformer(max_iter=10, early_stopping=True, random_state=0).fit(X)
    >>> display = LossCurveDisplay.from_estimator(model)
    >>> len(display.line_.get_xdata()) == model.n_iter_
    True
    """

    def __init__(self, loss_curve, *, loss_terms=None, validation_loss=None, best_epoch=None, estimator_name=None):
        self.loss_curve = loss_curve
        self.loss_terms = loss_terms
        self.validation_loss = validation_loss
        self.best_epoch = best_epoch
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None):
        """Plot the loss curves of a fitted skae autoencoder.

        Parameters
        ----------
        estimator : skae autoencoder or Pipeline ending in one
            A fitted estimator with ``loss_curve_``. For the detector, pass
            one of its members, ``detector.estimators_[i]``.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        name : str, default=None
            Name for the title; the estimator's class name by default.

        Returns
        -------
        display : LossCurveDisplay
            The display, with its artists.
        """
        model = _final_estimator(estimator)
        if hasattr(model, "estimators_") and not hasattr(model, "loss_curve_"):
            raise TypeError(
                f"{type(model).__name__} has no loss curve of its own; pass one of its fitted members, "
                "such as estimator.estimators_[0]."
            )
        if not hasattr(model, "loss_curve_"):
            check_is_fitted(model)
            raise TypeError(f"{type(model).__name__} records no loss curve (loss_curve_); pass a skae autoencoder.")
        loss_curve = np.asarray(model.loss_curve_, dtype=float)
        validation_loss = None
        scores = getattr(model, "validation_scores_", None)
        if scores:
            validation_loss = -np.asarray(scores, dtype=float)
            # The weights kept are the best validation epoch's; the starting
            # point counts too (epoch 0 of a fresh fit).
            best = int(np.argmax(scores))
            first_epoch = len(loss_curve) - len(scores) + 1
            best_epoch = first_epoch + best
            if model.best_validation_score_ > scores[best]:
                best_epoch = first_epoch - 1
        else:
            best_epoch = int(np.argmin(loss_curve)) + 1
        display = cls(
            loss_curve,
            loss_terms={term: np.asarray(curve, dtype=float) for term, curve in model.loss_terms_curve_.items()},
            validation_loss=validation_loss,
            best_epoch=best_epoch,
            estimator_name=name if name is not None else type(model).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None, *, name=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        name : str, default=None
            Name for the title; ``estimator_name`` by default.

        Returns
        -------
        display : LossCurveDisplay
            This display, with its artists.
        """
        ax = _axes(ax, "LossCurveDisplay.plot")
        loss_curve = np.asarray(self.loss_curve, dtype=float)
        epochs = np.arange(1, len(loss_curve) + 1)
        (self.line_,) = ax.plot(epochs, loss_curve, label="training loss")
        self.validation_line_ = None
        if self.validation_loss is not None:
            validation_loss = np.asarray(self.validation_loss, dtype=float)
            if len(validation_loss) > len(loss_curve):
                raise ValueError(
                    f"validation_loss has {len(validation_loss)} epochs, more than loss_curve's {len(loss_curve)}."
                )
            (self.validation_line_,) = ax.plot(
                epochs[len(epochs) - len(validation_loss) :], validation_loss, label="validation loss"
            )
        self.term_lines_ = {}
        terms = self.loss_terms or {}
        if len(terms) > 1:
            for term, curve in terms.items():
                curve = np.asarray(curve, dtype=float)
                (self.term_lines_[term],) = ax.plot(
                    epochs[len(epochs) - len(curve) :], curve, linestyle="--", label=term
                )
        self.best_epoch_line_ = None
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(
                self.best_epoch, color="black", linestyle=":", label=f"best epoch ({self.best_epoch})"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        title = name if name is not None else self.estimator_name
        if title:
            ax.set_title(title)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self


class AnomalyScoreDisplay:
    """Histogram of an outlier detector's scores, with its threshold and chosen samples.

    Build it with :meth:`from_estimator`. The scores of ``X`` (typically
    the training data) are binned, one colour per label when labels are
    given, stacked; the threshold below which a sample is an outlier is a
    vertical line, and each of ``samples`` a short red mark at its score.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        The scores to bin; higher means more normal.
    threshold : float
        Scores below it are outliers.
    labels : array-like of shape (n_samples,), default=None
        A label per score; each label gets its own colour.
    sample_scores : array-like of shape (n_marked,), default=None
        Scores of samples to mark.
    score_name : str, default="score"
        The x-axis label.
    estimator_name : str, default=None
        Name used in the title.

    Attributes
    ----------
    bars_ : dict of label to list of matplotlib Rectangle
        The histogram's bars per label (the key ``None`` without labels).
    threshold_line_ : matplotlib Line2D
        The threshold.
    sample_lines_ : matplotlib LineCollection or None
        The marks of ``sample_scores``.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of ``ax_``.

    See Also
    --------
    skae.AutoencoderAnomalyDetector : The detector whose scores this shows.
    ExplanationDisplay : Which features made one sample's error.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skae import AutoencoderAnomalyDetector
    >>> from skae.inspection import AnomalyScoreDisplay
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> detector = AutoencoderAnomalyDetector(random_state=0).fit(X)
    >>> display = AnomalyScoreDisplay.from_estimator(detector, X, samples=X[:2])
    >>> float(display.threshold_line_.get_xdata()[0]) == 0.0
    True
    """

    def __init__(self, scores, threshold, *, labels=None, sample_scores=None, score_name="score", estimator_name=None):
        self.scores = scores
        self.threshold = threshold
        self.labels = labels
        self.sample_scores = sample_scores
        self.score_name = score_name
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        samples=None,
        response_method="decision_function",
        bins=30,
        xscale="auto",
        ax=None,
        name=None,
    ):
        """Plot the histogram of a fitted outlier detector's scores on ``X``.

        Parameters
        ----------
        estimator : outlier detector
            A fitted :class:`~skae.AutoencoderAnomalyDetector`, or any
            detector with ``score_samples`` and ``offset_``.
        X : array-like of shape (n_samples, n_features)
            Data whose scores are binned, such as the training data.
        y : array-like of shape (n_samples,), default=None
            Labels of ``X`` (for example 1 for inliers and -1 for known
            outliers), each drawn in its own colour.
        samples : array-like of shape (n_marked, n_features), default=None
            Samples to mark at their score, such as new data to judge.
        response_method : {"decision_function", "score_samples"}, default="decision_function"
            The score drawn: ``decision_function`` (threshold 0) or
            ``score_samples`` (threshold ``offset_``).
        bins : int or sequence, default=30
            Number of bins, evenly spaced on the axis as drawn, or their
            edges.
        xscale : {"auto", "linear", "symlog"}, default="auto"
            The score axis; see :meth:`plot`.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        name : str, default=None
            Name for the title; the estimator's class name by default.

        Returns
        -------
        display : AnomalyScoreDisplay
            The display, with its artists.
        """
        if response_method not in ("decision_function", "score_samples"):
            raise ValueError(
                f"response_method must be 'decision_function' or 'score_samples', got {response_method!r}."
            )
        check_is_fitted(estimator)
        if not hasattr(estimator, "score_samples") or not hasattr(estimator, "offset_"):
            raise TypeError(
                f"{type(estimator).__name__} is not an outlier detector with score_samples and offset_; "
                "pass an AutoencoderAnomalyDetector."
            )
        score = getattr(estimator, response_method)
        scores = np.asarray(score(X), dtype=float)
        if y is not None:
            y = np.asarray(y)
            if y.shape != scores.shape:
                raise ValueError(f"y must hold one label per sample of X: got {y.shape[0]} for {scores.shape[0]}.")
        sample_scores = None if samples is None else np.asarray(score(samples), dtype=float)
        threshold = 0.0 if response_method == "decision_function" else float(estimator.offset_)
        display = cls(
            scores,
            threshold,
            labels=y,
            sample_scores=sample_scores,
            score_name=response_method,
            estimator_name=name if name is not None else type(estimator).__name__,
        )
        return display.plot(ax=ax, bins=bins, xscale=xscale)

    def plot(self, ax=None, *, bins=30, xscale="auto", name=None):
        """Draw the histogram, the threshold and the marked samples.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        bins : int or sequence, default=30
            Number of bins, evenly spaced on the axis as drawn, or their
            edges.
        xscale : {"auto", "linear", "symlog"}, default="auto"
            The score axis. ``"symlog"`` is linear from zero to the
            scores' quartiles and logarithmic beyond, so that far outliers
            and the bulk both show; ``"auto"`` takes it when
            the scores span more than 20 interquartile ranges.
        name : str, default=None
            Name for the title; ``estimator_name`` by default.

        Returns
        -------
        display : AnomalyScoreDisplay
            This display, with its artists.
        """
        if xscale not in ("auto", "linear", "symlog"):
            raise ValueError(f"xscale must be 'auto', 'linear' or 'symlog', got {xscale!r}.")
        ax = _axes(ax, "AnomalyScoreDisplay.plot")
        scores = np.asarray(self.scores, dtype=float)
        finite = np.isfinite(scores)
        if not finite.any():
            raise ValueError("AnomalyScoreDisplay needs at least one finite score.")
        low, high = np.percentile(scores[finite], [25, 75])
        spread = high - low if high > low else max(abs(high), 1.0)
        if xscale == "auto":
            # Distances have heavy tails: a few anomalies far out would
            # squeeze the bulk into one bin on a linear axis.
            xscale = "symlog" if np.ptp(scores[finite]) > HEAVY_TAIL_SPREADS * spread else "linear"
        if xscale == "symlog":
            # Linear over the bulk of the scores (and zero), logarithmic beyond.
            ax.set_xscale("symlog", linthresh=max(abs(low), abs(high), spread))
        else:
            ax.set_xscale("linear")
        # Shared edges, so that the labels' bars stack bin by bin; evenly
        # spaced on the axis as drawn.
        if isinstance(bins, numbers.Integral):
            to_axis = ax.xaxis.get_transform()
            ends = to_axis.transform(np.array([scores[finite].min(), scores[finite].max()]))
            edges = to_axis.inverted().transform(np.linspace(ends[0], ends[1], bins + 1))
            if ends[0] == ends[1]:
                edges = np.histogram_bin_edges(scores[finite], bins=bins)
        else:
            edges = np.histogram_bin_edges(scores[finite], bins=bins)
        if self.labels is None:
            groups = {None: scores[finite]}
        else:
            labels = np.asarray(self.labels)
            groups = {label: scores[finite & (labels == label)] for label in np.unique(labels)}
        _, _, containers = ax.hist(
            list(groups.values()),
            bins=edges,
            stacked=True,
            label=[str(label) for label in groups] if self.labels is not None else None,
        )
        if len(groups) == 1:
            containers = [containers]
        self.bars_ = {label: list(container) for label, container in zip(groups, containers)}
        self.threshold_line_ = ax.axvline(self.threshold, color="black", linestyle="--", label="threshold")
        self.sample_lines_ = None
        if self.sample_scores is not None:
            # Marks spanning the lowest fifth of the axes, in data x and axes y.
            self.sample_lines_ = ax.vlines(
                np.asarray(self.sample_scores, dtype=float),
                0,
                0.2,
                transform=ax.get_xaxis_transform(),
                colors="tab:red",
                linewidth=2,
                label="samples",
            )
        ax.set_xlabel(f"{self.score_name} (lower: more anomalous)")
        ax.set_ylabel("number of samples")
        title = name if name is not None else self.estimator_name
        if title:
            ax.set_title(title)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self


class ExplanationDisplay:
    """One sample's reconstruction error, feature by feature, as shares of its total.

    Build it with :meth:`from_estimator`. The features that took most of
    the error are those the model found unusual in this sample; the bars
    show the largest ``max_features`` shares, the rest summed in one bar.

    Parameters
    ----------
    errors : array-like of shape (n_features,)
        The sample's error per feature (NaN for a missing entry, left out).
    feature_names : array-like of str of shape (n_features,)
        The names on the bars.
    max_features : int, default=10
        Number of features drawn; the others are summed in one bar.
    estimator_name : str, default=None
        Name used in the title.

    Attributes
    ----------
    shares_ : ndarray of shape (n_features,)
        Each feature's share of the error (0 for a missing entry).
    bars_ : list of matplotlib Rectangle
        The bars, largest share first.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of ``ax_``.

    See Also
    --------
    skae.AutoencoderAnomalyDetector.reconstruction_error_per_feature : The errors drawn.
    AnomalyScoreDisplay : Where a sample's score falls.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skae import AutoencoderAnomalyDetector
    >>> from skae.inspection import ExplanationDisplay
    >>> X = np.random.RandomState(0).normal(size=(100, 4))
    >>> detector = AutoencoderAnomalyDetector(random_state=0).fit(X)
    >>> display = ExplanationDisplay.from_estimator(detector, X[:1])
    >>> len(display.bars_)
    4
    """

    def __init__(self, errors, feature_names, *, max_features=10, estimator_name=None):
        self.errors = errors
        self.feature_names = feature_names
        self.max_features = max_features
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X, *, feature_names=None, max_features=10, ax=None, name=None):
        """Plot the per-feature shares of one sample's reconstruction error.

        Parameters
        ----------
        estimator : estimator
            A fitted skae autoencoder or detector: anything with
            ``reconstruction_error_per_feature``.
        X : array-like of shape (1, n_features) or (n_features,)
            The one sample to explain (a one-row DataFrame keeps its
            column names).
        feature_names : array-like of str, default=None
            Names for the bars; by default ``feature_names_in_`` if the
            estimator has it, else ``"x0"``, ``"x1"``...
        max_features : int, default=10
            Number of features drawn; the others are summed in one bar.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        name : str, default=None
            Name for the title; the estimator's class name by default.

        Returns
        -------
        display : ExplanationDisplay
            The display, with its artists.
        """
        if not hasattr(estimator, "reconstruction_error_per_feature"):
            raise TypeError(
                f"{type(estimator).__name__} has no reconstruction_error_per_feature; pass a fitted skae "
                "autoencoder or AutoencoderAnomalyDetector."
            )
        if not hasattr(X, "iloc"):
            X = np.asarray(X)
            if X.ndim == 1:
                X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[0] != 1:
            raise ValueError(
                f"ExplanationDisplay explains one sample, but X has shape {X.shape}; pass one row, such as X[[i]]."
            )
        errors = np.asarray(estimator.reconstruction_error_per_feature(X), dtype=float)[0]
        if feature_names is None:
            feature_names = getattr(estimator, "feature_names_in_", None)
        if feature_names is None:
            feature_names = [f"x{i}" for i in range(errors.shape[0])]
        display = cls(
            errors,
            feature_names,
            max_features=max_features,
            estimator_name=name if name is not None else type(estimator).__name__,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None, *, name=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure's by default.
        name : str, default=None
            Name for the title; ``estimator_name`` by default.

        Returns
        -------
        display : ExplanationDisplay
            This display, with its artists.
        """
        errors = np.asarray(self.errors, dtype=float)
        names = [str(feature) for feature in self.feature_names]
        if errors.ndim != 1 or len(names) != errors.shape[0]:
            raise ValueError(
                f"errors must be one value per feature, and feature_names one name each: got errors of shape "
                f"{errors.shape} and {len(names)} names."
            )
        if not isinstance(self.max_features, numbers.Integral) or self.max_features < 1:
            raise ValueError(f"max_features must be a positive integer, got {self.max_features!r}.")
        ax = _axes(ax, "ExplanationDisplay.plot")
        errors = np.where(np.isnan(errors), 0.0, errors)
        total = errors.sum()
        self.shares_ = errors / total if total > 0 else np.zeros_like(errors)
        order = np.argsort(-self.shares_, kind="stable")
        shown = order[: self.max_features]
        values = list(self.shares_[shown])
        labels = [names[i] for i in shown]
        n_rest = len(order) - len(shown)
        if n_rest:
            values.append(self.shares_[order[self.max_features :]].sum())
            labels.append(f"{n_rest} other features")
        # Largest at the top.
        container = ax.barh(np.arange(len(values))[::-1], values, tick_label=labels)
        self.bars_ = list(container)
        ax.set_xlabel("share of the sample's reconstruction error")
        ax.set_xlim(0, max(1e-12, max(values)) * 1.05)
        title = name if name is not None else self.estimator_name
        if title:
            ax.set_title(title)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class ReconstructionDisplay:
    """Images, their reconstructions and error maps, one sample per column.

    Build it with :meth:`from_estimator`. The first row shows the inputs,
    the second their reconstructions on the same colour scale, the third
    the squared error of each pixel, on one scale for all samples so that
    they compare.

    Parameters
    ----------
    images : array-like of shape (n_samples, n_features)
        The inputs, one flattened image per row.
    reconstructions : array-like of shape (n_samples, n_features)
        Their reconstructions.
    image_shape : tuple of int
        The shape of one image, such as ``(8, 8)``; its product is
        ``n_features``.
    cmap : str, default="gray_r"
        Colour map of the inputs and reconstructions.
    error_cmap : str, default="Reds"
        Colour map of the error maps.

    Attributes
    ----------
    images_ : ndarray of matplotlib AxesImage of shape (3, n_samples)
        The images drawn: inputs, reconstructions, errors.
    ax_ : ndarray of matplotlib Axes of shape (3, n_samples)
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    skae.DenoisingAutoencoder : An autoencoder for images.
    ExplanationDisplay : The error of one sample as bars per feature.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> from skae.inspection import ReconstructionDisplay
    >>> X = load_digits().data / 16
    >>> model = AutoencoderTransformer(n_components=8, max_iter=5, random_state=0).fit(X)
    >>> display = ReconstructionDisplay.from_estimator(model, X[:4], image_shape=(8, 8))
    >>> display.images_.shape
    (3, 4)
    """

    def __init__(self, images, reconstructions, image_shape, *, cmap="gray_r", error_cmap="Reds"):
        self.images = images
        self.reconstructions = reconstructions
        self.image_shape = image_shape
        self.cmap = cmap
        self.error_cmap = error_cmap

    @classmethod
    def from_estimator(cls, estimator, X, *, image_shape, cmap="gray_r", error_cmap="Reds", ax=None):
        """Plot the images of ``X`` above their reconstructions and error maps.

        Parameters
        ----------
        estimator : estimator
            A fitted skae autoencoder, or a Pipeline whose steps all have
            ``inverse_transform`` (a scaler and an autoencoder, say): the
            reconstruction is ``inverse_transform(transform(X))``.
        X : array-like of shape (n_samples, n_features)
            The images, one flattened per row; one column each.
        image_shape : tuple of int
            The shape of one image, such as ``(8, 8)``.
        cmap : str, default="gray_r"
            Colour map of the inputs and reconstructions.
        error_cmap : str, default="Reds"
            Colour map of the error maps.
        ax : array-like of matplotlib Axes of shape (3, n_samples), default=None
            Axes to draw on; a new figure's by default.

        Returns
        -------
        display : ReconstructionDisplay
            The display, with its artists.
        """
        if not (hasattr(estimator, "transform") and hasattr(estimator, "inverse_transform")):
            raise TypeError(
                f"{type(estimator).__name__} has no transform and inverse_transform to reconstruct with; pass a "
                "skae autoencoder (for the detector, one of its estimators_ on scaled data)."
            )
        X = np.asarray(X, dtype=float)
        reconstructions = np.asarray(estimator.inverse_transform(estimator.transform(X)), dtype=float)
        display = cls(X, reconstructions, image_shape, cmap=cmap, error_cmap=error_cmap)
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the three rows of images.

        Parameters
        ----------
        ax : array-like of matplotlib Axes of shape (3, n_samples), default=None
            Axes to draw on; a new figure's by default.

        Returns
        -------
        display : ReconstructionDisplay
            This display, with its artists.
        """
        images = np.asarray(self.images, dtype=float)
        reconstructions = np.asarray(self.reconstructions, dtype=float)
        if images.ndim != 2 or images.shape != reconstructions.shape:
            raise ValueError(
                f"images and reconstructions must be 2-D arrays of one shape, got {images.shape} and "
                f"{reconstructions.shape}."
            )
        shape = tuple(self.image_shape)
        if int(np.prod(shape)) != images.shape[1]:
            raise ValueError(
                f"image_shape={shape} holds {int(np.prod(shape))} pixels, but each sample has {images.shape[1]} "
                "features."
            )
        n_samples = images.shape[0]
        if ax is None:
            plt = _pyplot("ReconstructionDisplay.plot")
            _, ax = plt.subplots(3, n_samples, figsize=(1.2 * n_samples + 1, 4), squeeze=False, layout="constrained")
        ax = np.asarray(ax, dtype=object)
        if ax.shape != (3, n_samples):
            raise ValueError(f"ax must be an array of axes of shape (3, {n_samples}), got shape {ax.shape}.")
        errors = np.square(reconstructions - images)
        low, high = np.nanmin([images.min(), reconstructions.min()]), np.nanmax([images.max(), reconstructions.max()])
        rows = [
            ("input", images, self.cmap, (low, high)),
            ("reconstruction", reconstructions, self.cmap, (low, high)),
            ("squared error", errors, self.error_cmap, (0.0, max(errors.max(), np.finfo(float).tiny))),
        ]
        self.images_ = np.empty((3, n_samples), dtype=object)
        for row, (label, values, cmap, (vmin, vmax)) in enumerate(rows):
            for column in range(n_samples):
                axes = ax[row, column]
                self.images_[row, column] = axes.imshow(
                    values[column].reshape(shape), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
                )
                axes.set_xticks([])
                axes.set_yticks([])
            ax[row, 0].set_ylabel(label)
        self.ax_, self.figure_ = ax, ax[0, 0].figure
        return self
