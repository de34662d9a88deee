"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9), where it exists.

Every skae estimator inherits :class:`CallbackSupportMixin`, so that
``set_callbacks`` and the callbacks of a meta-estimator (``Pipeline``,
``GridSearchCV``) reach its fit. The tasks of a fit are its epochs; the
detector's are the fits of its members, each with its epochs nested under
it. On older scikit-learn the mixin is empty and every context here is
:data:`NO_CALLBACKS`, which does nothing: estimators work as without the API.

The training engine knows nothing of this module: an estimator hands it
the two functions of :class:`EpochTasks` as its ``on_epoch_begin`` and
``on_epoch_end`` hooks.
"""

import contextlib

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn < 1.9: no callback API

    class CallbackSupportMixin:
        """Stands in for scikit-learn's mixin where it has none: no ``set_callbacks``."""

    def with_callbacks(method):
        """Stands in for scikit-learn's decorator: ``method`` itself."""
        return method


class _NoCallbacks:
    """A callback context that calls nothing, for scikit-learn without the callback API."""

    def subcontext(self, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return self

    def call_on_fit_task_end(self, **kwargs):
        return False

    def propagate_callback_context(self, sub_estimator):
        return contextlib.nullcontext()


NO_CALLBACKS = _NoCallbacks()


def begin_fit(estimator, *, max_subtasks, X=None, y=None, metadata=None):
    """The root callback context of ``estimator``'s fit, its begin hooks called.

    ``max_subtasks`` bounds the tasks of the fit (its epochs, or the
    detector's member fits). :data:`NO_CALLBACKS` without the API.
    """
    if not hasattr(estimator, "_init_callback_context"):
        return NO_CALLBACKS
    context = estimator._init_callback_context(max_subtasks=max_subtasks)
    return context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)


def fit_metadata(sample_weight):
    """The metadata callbacks receive: the sample weights, if any (as scikit-learn's estimators pass them)."""
    return None if sample_weight is None else {"sample_weight": sample_weight}


class EpochTasks:
    """The epochs of one fit as callback tasks: ``begin`` and ``end`` are the engine's epoch hooks.

    Parameters
    ----------
    context : CallbackContext or NO_CALLBACKS
        The fit's root context, from :func:`begin_fit`.
    estimator : estimator
        The estimator being fitted.
    X, y, metadata
        What the callbacks receive with each epoch: the training data, the
        target given to fit and the sample weights.
    fitted_state : callable
        Returns the fitted attributes of the model as it stands, for the
        ``fitted_estimator`` that callbacks may ask for; called only then.
    """

    def __init__(self, context, estimator, *, X, y, metadata, fitted_state):
        self.context = context
        self.estimator = estimator
        self.X, self.y, self.metadata = X, y, metadata
        self.fitted_state = fitted_state
        self._epoch = None

    def begin(self):
        self._epoch = self.context.subcontext(task_name="epoch").call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )

    def end(self):
        """Call the epoch's end hooks; whether a callback asks to stop."""
        return self._epoch.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=self.fitted_state,
        )
