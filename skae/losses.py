"""Reconstruction losses.

Each loss is a likelihood choice for the decoder ``p(x | z)``:

=============================  ===============================  ==========================
loss                           likelihood                       data it suits
=============================  ===============================  ==========================
:class:`SquaredError`          Gaussian                         real-valued, light tails
:class:`AbsoluteError`         Laplacian                        real-valued, heavy tails
:class:`Huber`                 Gaussian core, Laplacian tails   outliers in training data
:class:`Lp`                    generalised Gaussian             ``p < 1``: high dimensions
:class:`BinaryCrossEntropy`    Bernoulli (sigmoid output)       data in ``[0, 1]``
=============================  ===============================  ==========================

A loss object maps the decoder's raw output and the target to one loss value
per sample (the mean over features), so losses add up and weight like numbers:
``0.5 * AbsoluteError() + SquaredError()`` is an L1 + L2 loss. Loss objects
expose their parameters through ``get_params``/``set_params`` the way
scikit-learn estimators do, so ``GridSearchCV`` can search ``loss__p``.

A string names the same losses, as the ``skae`` command line does:
``"huber:2"`` is ``Huber(delta=2)``, ``"lp:1.5"`` is ``Lp(p=1.5)`` and
``"l1+0.5*l2"`` is ``AbsoluteError() + 0.5 * SquaredError()`` (see
:func:`get_loss`).
"""

from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator

__all__ = [
    "Loss",
    "SquaredError",
    "AbsoluteError",
    "Huber",
    "BinaryCrossEntropy",
    "Lp",
    "Sum",
    "Scaled",
    "LOSSES",
    "get_loss",
]


class Loss(BaseEstimator):
    """Base class of the reconstruction losses.

    Subclasses implement :meth:`per_sample`. ``BaseEstimator`` supplies the
    parameter protocol (``get_params``, ``set_params``, ``clone``, ``repr``),
    which is what makes a loss usable as a grid value.

    Attributes
    ----------
    output_activation : {"identity", "sigmoid"}
        How the decoder's raw output becomes a reconstruction. Losses on
        probabilities take logits for numerical stability and declare
        ``"sigmoid"``.
    requires_unit_interval : bool
        Whether the data must lie in ``[0, 1]``.

    See Also
    --------
    get_loss : Resolve a loss given by name, object or callable.

    Examples
    --------
    A new loss implements :meth:`per_sample`, and adds and weights like the
    built-in ones:

    >>> import torch
    >>> from skae.losses import Loss
    >>> class LogCosh(Loss):
    ...     def per_sample(self, output, target):
    ...         return torch.log(torch.cosh(output - target)).mean(dim=1)
    >>> 0.5 * LogCosh()
    Scaled(loss=LogCosh(), weight=0.5)
    >>> LogCosh().per_sample(torch.zeros(2, 3), torch.zeros(2, 3))
    tensor([0., 0.])
    """

    output_activation = "identity"
    requires_unit_interval = False

    def per_sample(self, output, target):
        """Compute the loss of each sample, the mean over its features.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output (logits where ``output_activation`` is
            ``"sigmoid"``).
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        raise NotImplementedError

    def __call__(self, output, target):
        return self.per_sample(output, target)

    def reconstruct(self, output):
        """Map the decoder's raw output to the input space.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.

        Returns
        -------
        reconstruction : torch.Tensor of shape (n_samples, n_features)
            The sigmoid of ``output`` where ``output_activation`` is
            ``"sigmoid"``, otherwise ``output`` itself.
        """
        if self.output_activation == "sigmoid":
            return torch.sigmoid(output)
        return output

    def __add__(self, other):
        return Sum(self, get_loss(other))

    def __radd__(self, other):
        return Sum(get_loss(other), self)

    def __mul__(self, weight):
        if not isinstance(weight, Real):
            return NotImplemented
        return Scaled(self, weight)

    __rmul__ = __mul__


class SquaredError(Loss):
    """Mean squared error over features: a Gaussian decoder.

    See Also
    --------
    AbsoluteError : Less sensitive to large errors.
    Huber : Squared for small errors, absolute for large ones.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import SquaredError
    >>> SquaredError().per_sample(torch.tensor([[1.0, 3.0]]), torch.zeros(1, 2))
    tensor([5.])
    """

    def per_sample(self, output, target):
        """Compute the mean squared error of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        return (output - target).square().mean(dim=1)


class AbsoluteError(Loss):
    """Mean absolute error over features: a Laplacian decoder.

    See Also
    --------
    SquaredError : Weighs large errors more.
    Lp : The mean ``p``-th power of the absolute error.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import AbsoluteError
    >>> AbsoluteError().per_sample(torch.tensor([[1.0, -3.0]]), torch.zeros(1, 2))
    tensor([2.])
    """

    def per_sample(self, output, target):
        """Compute the mean absolute error of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        return (output - target).abs().mean(dim=1)


class Huber(Loss):
    """Huber loss: squared below ``delta``, absolute above it.

    Parameters
    ----------
    delta : float, default=1.0
        Where the loss turns from quadratic to linear, in the data's units.

    See Also
    --------
    SquaredError : The quadratic part alone.
    AbsoluteError : The linear part alone.

    Examples
    --------
    An error of 0.5 costs ``0.5**2 / 2``; one of 3 costs ``3 - 1 / 2``:

    >>> import torch
    >>> from skae.losses import Huber
    >>> Huber(delta=1.0).per_sample(torch.tensor([[0.5], [3.0]]), torch.zeros(2, 1))
    tensor([0.1250, 2.5000])
    """

    def __init__(self, delta=1.0):
        self.delta = delta

    def per_sample(self, output, target):
        """Compute the mean Huber loss of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        _check_positive(self.delta, "delta")
        return F.huber_loss(output, target, reduction="none", delta=self.delta).mean(dim=1)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy: a Bernoulli decoder for data in ``[0, 1]``.

    Computed on logits (``binary_cross_entropy_with_logits``), which is stable
    where a sigmoid followed by a log would overflow; reconstructions are the
    sigmoid of the decoder's output.

    See Also
    --------
    SquaredError : For real-valued data.

    Examples
    --------
    A logit of 0 reconstructs 0.5 and costs ``log(2)`` whatever the target:

    >>> import torch
    >>> from skae.losses import BinaryCrossEntropy
    >>> loss = BinaryCrossEntropy()
    >>> loss.reconstruct(torch.zeros(1, 2))
    tensor([[0.5000, 0.5000]])
    >>> loss.per_sample(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]))
    tensor([0.6931])
    """

    output_activation = "sigmoid"
    requires_unit_interval = True

    def per_sample(self, output, target):
        """Compute the mean binary cross-entropy of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output, as logits.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input, in ``[0, 1]``.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        return F.binary_cross_entropy_with_logits(output, target, reduction="none").mean(dim=1)


class Lp(Loss):
    """Mean ``|x_hat - x|^p`` over features, for any ``p > 0``.

    ``p = 2`` is squared error and ``p = 1`` absolute error; fractional ``p``
    (below 1) weighs many small errors over a few large ones, which helps in
    high dimensions where distances concentrate. For ``p < 1`` the gradient of
    ``|d|^p`` is infinite at ``d = 0``, so the loss is smoothed there:
    ``(d^2 + epsilon^2)^(p/2) - epsilon^p``, which is zero at zero, finite in
    its gradient and equal to ``|d|^p`` up to ``O(epsilon^p)``.

    Parameters
    ----------
    p : float, default=2.0
        The exponent, > 0.
    epsilon : float, default=1e-3
        The smoothing scale used when ``p < 1``.

    See Also
    --------
    SquaredError : The case ``p = 2``.
    AbsoluteError : The case ``p = 1``.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import Lp
    >>> Lp(p=3).per_sample(torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2))
    tensor([4.])
    """

    def __init__(self, p=2.0, epsilon=1e-3):
        self.p = p
        self.epsilon = epsilon

    def per_sample(self, output, target):
        """Compute the mean ``p``-th power error of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        _check_positive(self.p, "p")
        diff = output - target
        if self.p < 1:
            _check_positive(self.epsilon, "epsilon")
            eps2 = self.epsilon**2
            smoothed = (diff.square() + eps2).pow(self.p / 2) - eps2 ** (self.p / 2)
            return smoothed.mean(dim=1)
        return diff.abs().pow(self.p).mean(dim=1)


class Sum(Loss):
    """The sum of two losses, for example ``AbsoluteError() + SquaredError()``.

    Parameters
    ----------
    first, second : Loss
        The two terms. Both must map the decoder output the same way (both
        on logits or both on raw values).

    See Also
    --------
    Scaled : A loss times a weight.
    get_loss : Reads sums such as ``"l1+l2"``.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import AbsoluteError, SquaredError
    >>> loss = AbsoluteError() + SquaredError()
    >>> loss
    Sum(first=AbsoluteError(), second=SquaredError())
    >>> loss.per_sample(torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2))
    tensor([3.])
    """

    def __init__(self, first, second):
        self.first = first
        self.second = second

    @property
    def output_activation(self):
        first, second = self.first.output_activation, self.second.output_activation
        if first != second:
            raise ValueError(
                f"Cannot add {self.first!r} (output {first!r}) and {self.second!r} "
                f"(output {second!r}): both terms must share the output activation."
            )
        return first

    @property
    def requires_unit_interval(self):
        return self.first.requires_unit_interval or self.second.requires_unit_interval

    def per_sample(self, output, target):
        """Compute the sum of the two terms' losses of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        return self.first.per_sample(output, target) + self.second.per_sample(output, target)


class Scaled(Loss):
    """A loss times a non-negative weight, for example ``0.5 * AbsoluteError()``.

    Parameters
    ----------
    loss : Loss
        The loss to weight.
    weight : float, default=1.0
        Its weight, >= 0.

    See Also
    --------
    Sum : The sum of two losses.
    get_loss : Reads weights such as ``"0.5*l1"``.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import AbsoluteError
    >>> loss = 0.5 * AbsoluteError()
    >>> loss
    Scaled(loss=AbsoluteError(), weight=0.5)
    >>> loss.per_sample(torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2))
    tensor([0.5000])
    """

    def __init__(self, loss, weight=1.0):
        self.loss = loss
        self.weight = weight

    @property
    def output_activation(self):
        return self.loss.output_activation

    @property
    def requires_unit_interval(self):
        return self.loss.requires_unit_interval

    def per_sample(self, output, target):
        """Compute the weighted loss of each sample.

        Parameters
        ----------
        output : torch.Tensor of shape (n_samples, n_features)
            The decoder's raw output.
        target : torch.Tensor of shape (n_samples, n_features)
            The clean input.

        Returns
        -------
        loss : torch.Tensor of shape (n_samples,)
            The loss of each sample.
        """
        if not isinstance(self.weight, Real) or self.weight < 0:
            raise ValueError(f"Scaled loss weight must be a number >= 0, got {self.weight!r}.")
        return self.weight * self.loss.per_sample(output, target)


class _CallableLoss(Loss):
    """Wraps a plain callable ``(x_hat, x) -> per-sample loss tensor``."""

    def __init__(self, function):
        self.function = function

    def per_sample(self, output, target):
        values = self.function(output, target)
        if not isinstance(values, torch.Tensor) or values.shape != output.shape[:1]:
            shape = getattr(values, "shape", type(values).__name__)
            raise ValueError(
                "A callable loss must return a tensor with one value per sample, of shape "
                f"({output.shape[0]},); got {shape}."
            )
        return values


# The losses a string can name.
LOSSES = {
    "squared_error": SquaredError,
    "absolute_error": AbsoluteError,
    "huber": Huber,
    "lp": Lp,
    "binary_crossentropy": BinaryCrossEntropy,
}
# Short names, as on the command line.
_ALIASES = {"l2": "squared_error", "l1": "absolute_error", "bce": "binary_crossentropy"}
# The one parameter that a spelling such as "huber:2" sets; the other losses take none.
_PARAMETERS = {"huber": "delta", "lp": "p"}


def get_loss(loss):
    """Resolve a loss given by name, object or callable to a :class:`Loss`.

    Parameters
    ----------
    loss : str, Loss or callable
        A :class:`Loss` is returned as it is, and a callable ``(x_hat, x) ->
        per-sample loss tensor`` is wrapped in one. A string names a loss of
        :data:`LOSSES` (``"squared_error"``, ``"absolute_error"``,
        ``"huber"``, ``"lp"``, ``"binary_crossentropy"``, or the short
        ``"l2"``, ``"l1"``, ``"bce"``); ``"huber:2"`` and ``"lp:1.5"`` set
        the loss's one parameter (``delta``, ``p``); terms add with ``+`` and
        take a weight with ``*``, as in ``"l1+0.5*l2"``. Case and spaces do
        not matter.

    Returns
    -------
    loss : Loss
        The loss, a new object unless ``loss`` was one.

    Raises
    ------
    ValueError
        For a string that is not such a spelling; the message names the
        part it could not read and lists the names.
    TypeError
        For anything that is neither a string, a :class:`Loss` nor callable.

    Examples
    --------
    >>> from skae.losses import get_loss
    >>> get_loss("l1+0.5*huber:2")
    Sum(first=AbsoluteError(), second=Scaled(loss=Huber(delta=2.0), weight=0.5))
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        terms = [_parse_term(term, loss) for term in loss.replace(" ", "").lower().split("+")]
        return sum(terms[1:], start=terms[0])
    if callable(loss):
        return _CallableLoss(loss)
    raise TypeError(f"loss must be a string, a skae.losses.Loss or a callable, got {loss!r}.")


def _parse_term(term, text):
    """One term of a loss string: ``[WEIGHT*]NAME[:PARAMETER]``."""
    weight_text, star, term = term.rpartition("*")
    name, colon, parameter_text = term.partition(":")
    name = _ALIASES.get(name, name)
    if name not in LOSSES:
        raise _spelling_error(text, f"unknown loss {name!r}; the losses are {_loss_spellings()}")
    loss = LOSSES[name]()
    if colon:
        if name not in _PARAMETERS:
            raise _spelling_error(text, f"{name} takes no parameter")
        parameter = _PARAMETERS[name]
        loss.set_params(**{parameter: _parse_number(parameter_text, text, f"the {parameter} of {name}")})
    return _parse_number(weight_text, text, "a weight") * loss if star else loss


def _parse_number(number_text, text, what):
    try:
        return float(number_text)
    except ValueError:
        raise _spelling_error(text, f"{what} must be a number, got {number_text!r}") from None


def _spelling_error(text, problem):
    return ValueError(f"Cannot read the loss {text!r}: {problem}.")


def _loss_spellings():
    """The names a loss string may use, as one line for messages and help texts."""
    aliases = {name: alias for alias, name in _ALIASES.items()}
    spellings = []
    for name in LOSSES:
        if name in _PARAMETERS:
            spellings.append(f"{name}[:{_PARAMETERS[name].upper()}]")
        else:
            spellings.append(f"{name} ({aliases[name]})" if name in aliases else name)
    return ", ".join(spellings) + " or a weighted sum such as 'l1+0.5*l2'"


def _check_positive(value, name):
    if not isinstance(value, Real) or not value > 0:
        raise ValueError(f"Loss parameter {name} must be a number > 0, got {value!r}.")
