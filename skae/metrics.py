"""Reconstruction scorers for ``GridSearchCV(scoring=...)`` and ``cross_val_score``.

Every skae transformer's own ``score`` is the mean log-likelihood of the
data under the noise model of its loss, as ``PCA.score`` is (see
:mod:`skae.losses`). The scorers here measure the reconstruction itself, the
same yardstick whatever the loss: ``neg_mean_squared_reconstruction_error``
is what ``score`` was before, minus the mean squared error. Each is a
callable ``scorer(estimator, X, y=None) -> float`` where higher is better,
which is what scikit-learn's model selection expects::

    GridSearchCV(AutoencoderTransformer(), grid,
                 scoring=skae.metrics.neg_mean_absolute_reconstruction_error)

A dictionary of them works as multi-metric ``scoring``; see ``SCORERS``.
Remember that every reconstruction score favours a larger latent size.
"""

import numpy as np
from sklearn.metrics import explained_variance_score, mean_absolute_error, mean_squared_error, r2_score

__all__ = [
    "reconstruction_scorer",
    "neg_mean_squared_reconstruction_error",
    "neg_root_mean_squared_reconstruction_error",
    "neg_mean_absolute_reconstruction_error",
    "reconstruction_r2",
    "reconstruction_explained_variance",
    "SCORERS",
]


def reconstruct(estimator, X):
    """``estimator``'s reconstruction of ``X``: ``inverse_transform(transform(X))``."""
    return estimator.inverse_transform(estimator.transform(X))


class reconstruction_scorer:
    """Make a scorer from a metric ``metric(X, X_hat) -> float``.

    Parameters
    ----------
    metric : callable
        A regression metric of scikit-learn's signature ``(y_true, y_pred)``,
        applied to the data and its reconstruction.
    greater_is_better : bool, default=True
        Whether higher metric values are better; if not the scorer returns
        minus the metric, so higher is always better.

    See Also
    --------
    sklearn.metrics.make_scorer : The same for metrics of predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics import mean_absolute_error
    >>> from skae import AutoencoderTransformer
    >>> from skae.metrics import reconstruction_scorer
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> scorer = reconstruction_scorer(mean_absolute_error, greater_is_better=False)
    >>> model = AutoencoderTransformer(2, max_iter=5, random_state=0).fit(X)
    >>> scorer(model, X) < 0
    True
    """

    def __init__(self, metric, greater_is_better=True):
        self.metric = metric
        self.greater_is_better = greater_is_better

    def __call__(self, estimator, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        value = float(self.metric(X, reconstruct(estimator, X)))
        return value if self.greater_is_better else -value

    def __repr__(self):
        sign = "" if self.greater_is_better else ", greater_is_better=False"
        return f"reconstruction_scorer({self.metric.__name__}{sign})"


def _root_mean_squared_error(X, X_hat):
    return np.sqrt(mean_squared_error(X, X_hat))


neg_mean_squared_reconstruction_error = reconstruction_scorer(mean_squared_error, greater_is_better=False)
neg_root_mean_squared_reconstruction_error = reconstruction_scorer(_root_mean_squared_error, greater_is_better=False)
neg_mean_absolute_reconstruction_error = reconstruction_scorer(mean_absolute_error, greater_is_better=False)
reconstruction_r2 = reconstruction_scorer(r2_score)
reconstruction_explained_variance = reconstruction_scorer(explained_variance_score)

SCORERS = {
    "neg_mean_squared_reconstruction_error": neg_mean_squared_reconstruction_error,
    "neg_root_mean_squared_reconstruction_error": neg_root_mean_squared_reconstruction_error,
    "neg_mean_absolute_reconstruction_error": neg_mean_absolute_reconstruction_error,
    "reconstruction_r2": reconstruction_r2,
    "reconstruction_explained_variance": reconstruction_explained_variance,
}
