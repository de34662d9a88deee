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

Each loss also knows its noise model, the density whose negative logarithm
it is: ``f(r; s) = exp(-rho(r / s)) / (s * Z)`` for a residual ``r = x -
x_hat`` and a scale ``s``, where ``rho`` is the loss of one entry
(:meth:`Loss.elementwise`) and ``Z`` the integral of ``exp(-rho)``. The
estimators fit ``s`` per feature on their training residuals and score data
by this log-likelihood (:meth:`Loss.log_likelihood`), so that models trained
with different losses compare on the same data, as ``PCA.score`` does.

A string names the same losses, as the ``skae`` command line does:
``"huber:2"`` is ``Huber(delta=2)``, ``"lp:1.5"`` is ``Lp(p=1.5)`` and
``"l1+0.5*l2"`` is ``AbsoluteError() + 0.5 * SquaredError()`` (see
:func:`get_loss`).
"""

import math
import warnings
from numbers import Real

import numpy as np
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
    "MixedLoss",
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
    has_noise_model : bool
        Whether the loss defines a noise model, so that the estimators can
        score data by its likelihood: a loss that implements
        :meth:`elementwise` does (or overrides :meth:`log_likelihood` and
        :meth:`fit_scale`, as the Bernoulli one does).
    has_scale : bool
        Whether the noise model has a scale to fit; the Bernoulli one has
        none.

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

    It has no noise model until it says how one entry's loss depends on the
    residual; then the estimators can score data by its likelihood:

    >>> class LogCoshNoise(LogCosh):
    ...     def elementwise(self, residual):
    ...         return torch.log(torch.cosh(residual))
    >>> LogCosh().has_noise_model, LogCoshNoise().has_noise_model
    (False, True)
    >>> round(LogCoshNoise().log_density(torch.zeros(1, 1), 1.0).item(), 4)  # -log(pi)
    -1.1447
    """

    output_activation = "identity"
    requires_unit_interval = False
    has_scale = True

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

    # -- noise model -------------------------------------------------------

    @property
    def has_noise_model(self):
        return type(self).elementwise is not Loss.elementwise

    def elementwise(self, residual):
        """Compute the loss of each entry from its residual, at unit scale.

        This is ``rho`` of the noise model ``f(r; s) = exp(-rho(r / s)) /
        (s * Z)``. A loss defines it to have a noise model; it must be
        non-negative and grow without bound on both sides, so that
        ``exp(-rho)`` integrates.

        Parameters
        ----------
        residual : torch.Tensor
            Residuals ``x - x_hat``, of any shape.

        Returns
        -------
        loss : torch.Tensor
            The loss of each entry, of the shape of ``residual``.
        """
        raise NotImplementedError(
            f"The loss {self!r} has no noise model: it does not say how the loss of one entry "
            "depends on its residual (implement elementwise)."
        )

    def log_density(self, residual, scale):
        """Compute the log-density of residuals under the noise model.

        ``log f(r; s) = -rho(r / s) - log(s) - log(Z)``, where ``rho`` is
        :meth:`elementwise` and ``Z`` the integral of ``exp(-rho)`` over the
        real line. The built-in losses know ``log(Z)`` in closed form; for
        any other (sums, weighted losses, subclasses) it is integrated
        numerically once per loss class and parameters, with
        ``scipy.integrate.quad`` on each half-line, after rescaling each half
        so that ``rho`` reaches 1 at 1.

        Parameters
        ----------
        residual : torch.Tensor of shape (n_samples, n_features)
            Residuals ``x - x_hat``.
        scale : float or torch.Tensor of shape (n_features,)
            The scale ``s`` of each feature, > 0.

        Returns
        -------
        log_density : torch.Tensor of shape (n_samples, n_features)
            The log-density of each residual.

        Raises
        ------
        ValueError
            If the loss has no scale (the Bernoulli one: use
            :meth:`log_likelihood`) or no noise model, or if ``exp(-rho)``
            does not integrate.
        """
        self._check_scale_family()
        scale = torch.as_tensor(scale, dtype=residual.dtype, device=residual.device)
        return -self.elementwise(residual / scale) - torch.log(scale) - self._log_normalizer()

    def log_likelihood(self, reconstruction, target, scale=None):
        """Compute the log-likelihood of each entry of ``target`` given its reconstruction.

        What the estimators' ``score_samples`` sums over features:
        :meth:`log_density` of the residual ``target - reconstruction``.

        Parameters
        ----------
        reconstruction : torch.Tensor of shape (n_samples, n_features)
            The reconstruction ``x_hat``, in the input space (after
            :meth:`reconstruct`).
        target : torch.Tensor of shape (n_samples, n_features)
            The data ``x``.
        scale : float or torch.Tensor of shape (n_features,), default=None
            The scale of each feature, as :meth:`fit_scale` returns it;
            ``None`` only for a loss without a scale.

        Returns
        -------
        log_likelihood : torch.Tensor of shape (n_samples, n_features)
            The log-density of each entry.
        """
        if scale is None:
            raise ValueError(f"The noise model of {self!r} has a scale: pass the one fit_scale returned.")
        return self.log_density(target - reconstruction, scale)

    def fit_scale(self, residual):
        """Fit the maximum-likelihood scale of each feature to residuals.

        The scale maximises the mean of :meth:`log_density` over the rows.
        The built-in losses of one power of the residual have it in closed
        form; any other is solved numerically: the derivative of the mean
        log-density in ``log(s)`` is ``mean(u * rho'(u)) - 1`` with ``u = r /
        s``, which falls as ``s`` grows for a ``rho`` that rises with
        ``|u|``; its root is bracketed and bisected in ``log(s)`` to a
        relative precision of about 1e-10, with ``u * rho'(u)`` taken by a
        central difference in ``log(u)``. Missing (NaN) residuals are left
        out.

        Parameters
        ----------
        residual : torch.Tensor of shape (n_samples, n_features)
            Residuals ``x - x_hat``, typically the training set's.

        Returns
        -------
        scale : torch.Tensor of shape (n_features,), float64
            The scale of each feature; 0 where every residual is 0.
        """
        self._check_scale_family()
        residual = residual.to(torch.float64)
        power = self._homogeneous_power()
        if power is not None:
            # rho(r / s) = rho(r) / s^p, so the root is s^p = p * mean(rho(r)).
            return (power * torch.nanmean(self.elementwise(residual), dim=0)).pow(1 / power)
        return _bisect_log_scale(self.elementwise, residual)

    def _homogeneous_power(self):
        """``p`` where ``elementwise(c * r) = c^p * elementwise(r)`` for ``c > 0``, else None."""
        return None

    def _scaled_columns(self):
        """``(loss, columns)``: the loss whose scale :meth:`fit_scale` fits, and the residual columns it reads."""
        return self, slice(None)

    def _check_scale_family(self):
        if not self.has_noise_model:
            raise ValueError(
                f"The loss {self!r} has no noise model: it does not say how the loss of one entry "
                "depends on its residual. Subclass skae.losses.Loss and implement elementwise to "
                "give it one."
            )
        if not self.has_scale:
            raise ValueError(
                f"The noise model of {self!r} has no scale and is not a density of the residual; use log_likelihood."
            )

    def _log_normalizer(self):
        """``log(Z)``, ``Z`` the integral of ``exp(-elementwise)``: numerical, cached per class and parameters."""
        key = (type(self), repr(self))
        if key not in _LOG_NORMALIZERS:
            _LOG_NORMALIZERS[key] = _integrate_log_normalizer(self.elementwise, self)
        return _LOG_NORMALIZERS[key]

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
        """Compute the mean squared error of each sample."""
        return (output - target).square().mean(dim=1)

    def elementwise(self, residual):
        """Compute ``r^2``: a Gaussian of variance ``s^2 / 2`` at scale ``s``."""
        return residual.square()

    def _homogeneous_power(self):
        return 2.0

    def _log_normalizer(self):
        return 0.5 * math.log(math.pi)


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
        """Compute the mean absolute error of each sample."""
        return (output - target).abs().mean(dim=1)

    def elementwise(self, residual):
        """Compute ``|r|``: a Laplacian of scale ``s``."""
        return residual.abs()

    def _homogeneous_power(self):
        return 1.0

    def _log_normalizer(self):
        return math.log(2.0)


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
        """Compute the mean Huber loss of each sample."""
        _check_positive(self.delta, "delta")
        return F.huber_loss(output, target, reduction="none", delta=self.delta).mean(dim=1)

    def elementwise(self, residual):
        """Compute the Huber loss of each residual."""
        _check_positive(self.delta, "delta")
        size = residual.abs()
        return torch.where(size <= self.delta, 0.5 * size.square(), self.delta * (size - 0.5 * self.delta))

    def _log_normalizer(self):
        _check_positive(self.delta, "delta")
        delta = float(self.delta)
        core = math.sqrt(2 * math.pi) * math.erf(delta / math.sqrt(2))
        return math.log(core + 2 * math.exp(-0.5 * delta**2) / delta)


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
        """Compute the mean binary cross-entropy of each sample."""
        return F.binary_cross_entropy_with_logits(output, target, reduction="none").mean(dim=1)

    has_scale = False

    @property
    def has_noise_model(self):
        return True

    def log_likelihood(self, reconstruction, target, scale=None):
        """Compute the Bernoulli log-likelihood of each entry of ``target``.

        ``x log(x_hat) + (1 - x) log(1 - x_hat)``, minus the cross-entropy:
        the log-probability of binary data. For values strictly inside
        ``(0, 1)`` it is not a normalised density, so it compares only with
        other Bernoulli models. ``x_hat`` is clipped to ``[eps, 1 - eps]``,
        ``eps`` float32's resolution, the precision of a reconstruction.

        Parameters
        ----------
        reconstruction : torch.Tensor of shape (n_samples, n_features)
            The reconstructed probabilities ``x_hat`` (after
            :meth:`reconstruct`).
        target : torch.Tensor of shape (n_samples, n_features)
            The data ``x``, in ``[0, 1]``.
        scale : None
            The Bernoulli model has no scale.

        Returns
        -------
        log_likelihood : torch.Tensor of shape (n_samples, n_features)
            The log-probability of each entry.
        """
        if scale is not None:
            raise ValueError(f"The Bernoulli noise model of {self!r} has no scale; got scale={scale!r}.")
        eps = float(np.finfo(np.float32).eps)
        probability = reconstruction.clamp(eps, 1 - eps)
        return torch.xlogy(target, probability) + torch.xlogy(1 - target, 1 - probability)


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
        """Compute the mean ``p``-th power error of each sample."""
        _check_positive(self.p, "p")
        diff = output - target
        if self.p < 1:
            _check_positive(self.epsilon, "epsilon")
            eps2 = self.epsilon**2
            smoothed = (diff.square() + eps2).pow(self.p / 2) - eps2 ** (self.p / 2)
            return smoothed.mean(dim=1)
        return diff.abs().pow(self.p).mean(dim=1)

    def elementwise(self, residual):
        """Compute ``|r|^p``: a generalised Gaussian."""
        _check_positive(self.p, "p")
        return residual.abs().pow(self.p)

    def _homogeneous_power(self):
        _check_positive(self.p, "p")
        return float(self.p)

    def _log_normalizer(self):
        _check_positive(self.p, "p")
        return math.log(2.0) + math.lgamma(1 + 1 / self.p)


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
        """Compute the sum of the two terms' losses of each sample."""
        return self.first.per_sample(output, target) + self.second.per_sample(output, target)

    @property
    def has_noise_model(self):
        terms = (self.first, self.second)
        return all(term.has_noise_model and term.has_scale for term in terms)

    def elementwise(self, residual):
        """Compute the sum of the two terms' losses of each residual."""
        return self.first.elementwise(residual) + self.second.elementwise(residual)

    def _homogeneous_power(self):
        first, second = self.first._homogeneous_power(), self.second._homogeneous_power()
        return first if first == second else None


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
        """Compute the weighted loss of each sample."""
        if not isinstance(self.weight, Real) or self.weight < 0:
            raise ValueError(f"Scaled loss weight must be a number >= 0, got {self.weight!r}.")
        return self.weight * self.loss.per_sample(output, target)

    @property
    def has_noise_model(self):
        # A zero weight leaves nothing to normalise.
        weighted = isinstance(self.weight, Real) and self.weight > 0
        return weighted and self.loss.has_noise_model and self.loss.has_scale

    def elementwise(self, residual):
        """Compute the weighted loss of each residual."""
        return self.weight * self.loss.elementwise(residual)

    def _homogeneous_power(self):
        return self.loss._homogeneous_power()


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


# -- noise models ---------------------------------------------------------

# log(Z) of the losses integrated numerically, by (class, repr): computed once.
_LOG_NORMALIZERS = {}
# Bisection of the log-scale: at most this many widenings of the bracket (each
# by a factor e^3 on either side), then this many halvings (width 2^-40).
_MAX_BRACKET_STEPS = 20
_BISECTION_STEPS = 40
# Step in log(u) of the central difference that gives u * rho'(u).
_LOG_STEP = 1e-5


def _integrate_log_normalizer(rho, loss):
    """``log`` of the integral of ``exp(-rho(u))`` over the real line, numerically.

    Each half-line is rescaled so that ``rho`` reaches 1 at 1, which puts the
    mass where ``quad``'s transformation of the infinite interval looks.
    """
    from scipy import integrate  # only sums, weighted losses and subclasses need it

    def rho_at(u):
        return float(rho(torch.tensor([u], dtype=torch.float64))[0])

    total = 0.0
    for sign in (1.0, -1.0):
        width = _unit_crossing(lambda u, sign=sign: rho_at(sign * u), loss)
        with warnings.catch_warnings():
            warnings.simplefilter("error", integrate.IntegrationWarning)
            try:
                value, error = integrate.quad(
                    lambda v, sign=sign, width=width: math.exp(-rho_at(sign * width * v)), 0, np.inf, limit=200
                )
            except integrate.IntegrationWarning:
                value, error = np.inf, np.inf
        if not (np.isfinite(value) and error <= 1e-6 * value):
            raise ValueError(f"The noise model of {loss!r} does not integrate: exp(-loss) has no finite integral.")
        total += width * value
    return math.log(total)


def _unit_crossing(rho, loss):
    """The ``u > 0`` where ``rho(u) = 1``, for a ``rho`` that rises on the half-line."""
    low, high = 2.0**-60, 2.0**60
    if not rho(high) >= 1:
        raise ValueError(
            f"The noise model of {loss!r} does not integrate: its loss of one entry stays below 1 "
            "however large the residual."
        )
    if rho(low) >= 1:
        return low
    for _ in range(200):  # bisection in log(u)
        middle = math.sqrt(low * high)
        if rho(middle) >= 1:
            high = middle
        else:
            low = middle
        if high / low < 1 + 1e-6:
            break
    return high


def _fit_scale_in_chunks(loss, residual_chunks, sample_weight=None):
    """:meth:`Loss.fit_scale` over residuals given as row chunks, an iterable of tensors.

    A loss of one power of the residual needs only per-feature sums, so its
    scale takes memory for one chunk; any other gathers the residuals.
    ``sample_weight``, one value per row of all the chunks, weighs the
    rows: the scale maximises the weighted mean log-density.
    """
    loss, columns = loss._scaled_columns()
    residual_chunks = (chunk[:, columns] for chunk in residual_chunks)
    power = loss._homogeneous_power()
    if power is None:
        residual = torch.cat([chunk.to(torch.float64) for chunk in residual_chunks])
        if sample_weight is None:
            return loss.fit_scale(residual)
        loss._check_scale_family()
        return _bisect_log_scale(loss.elementwise, residual, sample_weight.to(torch.float64))
    total, count, start = 0.0, 0, 0
    for chunk in residual_chunks:
        values = loss.elementwise(chunk.to(torch.float64))
        observed = ~torch.isnan(values)
        if sample_weight is None:
            total = total + torch.nansum(values, dim=0)
            count = count + observed.sum(dim=0)
        else:
            weights = sample_weight[start : start + chunk.shape[0], None].to(torch.float64)
            total = total + torch.nansum(values * weights, dim=0)
            count = count + (observed * weights).sum(dim=0)
        start += chunk.shape[0]
    return (power * total / count).pow(1 / power)


def _nanmean(values, sample_weight=None):
    """The mean of each column of ``values`` over its entries that are not NaN, rows weighted by ``sample_weight``."""
    if sample_weight is None:
        return torch.nanmean(values, dim=0)
    weights = torch.where(torch.isnan(values), 0.0, sample_weight[:, None])
    return torch.nansum(values * weights, dim=0) / weights.sum(dim=0)


def _bisect_log_scale(rho, residual, sample_weight=None):
    """Per column, the maximum-likelihood scale of the noise model ``rho``, by bisection in ``log(s)``.

    ``sample_weight`` weighs the rows of ``residual``.
    """
    rms = torch.sqrt(_nanmean(residual.square(), sample_weight))
    exact = ~(rms > 0)  # every residual zero (or missing): no scale to fit
    residual = torch.where(exact, torch.ones_like(residual), residual)
    stretch = math.exp(_LOG_STEP)

    def excess(log_scale):
        # d/d(log s) of the mean log-density: mean(u * rho'(u)) - 1, falling in s.
        u = residual / torch.exp(log_scale)
        slope = (rho(u * stretch) - rho(u / stretch)) / (2 * _LOG_STEP)
        return _nanmean(slope, sample_weight) - 1

    center = torch.log(torch.where(exact, torch.ones_like(rms), rms))
    low, high = center - 1, center + 1
    for _ in range(_MAX_BRACKET_STEPS):
        low_below, high_above = excess(low) > 0, excess(high) < 0
        if low_below.all() and high_above.all():
            break
        low, high = torch.where(low_below, low, low - 3), torch.where(high_above, high, high + 3)
    else:
        raise ValueError(
            "No maximum-likelihood scale: the loss of one entry does not grow fast enough with the residual."
        )
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        root_above = excess(middle) > 0
        low, high = torch.where(root_above, middle, low), torch.where(root_above, high, middle)
    return torch.where(exact, torch.zeros_like(rms), torch.exp(0.5 * (low + high)))


class MixedLoss(Loss):
    """Per-column likelihoods of a mixed-type table: numeric, binary and categorical columns.

    The loss the estimators train with on a table with categorical columns
    (see :ref:`mixed_types`); they build it from the table and their
    ``loss``, which becomes ``numeric_loss``. The decoder's output and the
    target are grouped by column: ``n_numeric`` numeric features, then
    ``n_binary`` binary columns (one logit each, a Bernoulli likelihood),
    then one block of logits per categorical column of ``category_counts``
    levels (a softmax, the categorical likelihood), whose target is the
    one-hot indicator of the observed level.

    A sample's loss is the mean over its columns of each column's negative
    log-likelihood: the cross-entropy in nats, ``-log p(observed level)``,
    for a categorical column, and ``numeric_loss`` of the residual divided
    by the column's noise scale ``s`` (``numeric_scales``) for a numeric
    one, which is the noise model's negative log-density but for the
    constant ``log(s) + log(Z)``. Each column counts once, however many
    levels it has: a 50-level column weighs as one numeric column, not 50
    (as it would in squared error on its one-hot indicators). Missing entries (NaN in the target; a
    whole block for a categorical column) are left out, and the mean is
    over the observed columns, so a row counts alike however many of its
    columns are missing.

    Parameters
    ----------
    numeric_loss : Loss, default=None
        The loss of the numeric columns; ``None`` is :class:`SquaredError`.
    n_numeric : int, default=0
        Number of numeric columns, the first features.
    n_binary : int, default=0
        Number of binary columns, one feature each, after the numeric ones.
    category_counts : tuple of int, default=()
        Number of levels of each further categorical column, whose blocks
        follow the binary columns.
    numeric_scales : tuple of float, default=None
        The noise scale of each numeric column, which divides its residuals;
        ``None``: 1 for every column.

    See Also
    --------
    BinaryCrossEntropy : The Bernoulli likelihood of every feature.

    Examples
    --------
    One numeric column and one categorical column of three levels; a logit
    vector of zeros gives each level probability 1/3:

    >>> import torch
    >>> from skae.losses import MixedLoss
    >>> loss = MixedLoss(n_numeric=1, category_counts=(3,))
    >>> output = torch.tensor([[0.5, 0.0, 0.0, 0.0]])
    >>> target = torch.tensor([[1.5, 0.0, 1.0, 0.0]])
    >>> loss.per_sample(output, target)  # (1 ** 2 + log(3)) / 2
    tensor([1.0493])
    >>> loss.reconstruct(output)
    tensor([[0.5000, 0.3333, 0.3333, 0.3333]])
    """

    # The numeric columns are scaled for the numeric loss by the estimator.
    requires_unit_interval = False
    # per_sample leaves missing targets out itself, column by column.
    handles_missing = True

    def __init__(self, numeric_loss=None, n_numeric=0, n_binary=0, category_counts=(), numeric_scales=None):
        self.numeric_loss = numeric_loss
        self.n_numeric = n_numeric
        self.n_binary = n_binary
        self.category_counts = category_counts
        self.numeric_scales = numeric_scales

    @property
    def output_activation(self):
        # Each block has its own: values, sigmoid or softmax. Checking the
        # numeric loss here refuses a sum of incompatible losses at fit.
        activation = self._numeric().output_activation
        if activation not in ("identity", "sigmoid"):
            raise ValueError(f"The numeric columns' loss must map its output elementwise; got {activation!r}.")
        return "mixed"

    def _numeric(self):
        return SquaredError() if self.numeric_loss is None else get_loss(self.numeric_loss)

    @property
    def n_columns(self):
        """Number of columns: each counts once in the loss."""
        return self.n_numeric + self.n_binary + len(self.category_counts)

    def _blocks(self):
        """``(start, stop)`` of each categorical block."""
        start = self.n_numeric + self.n_binary
        for count in self.category_counts:
            yield start, start + count
            start += count

    def _observed_columns(self, target):
        """Per row, the number of observed columns (1 at least)."""
        starts = list(range(self.n_numeric + self.n_binary)) + [start for start, _ in self._blocks()]
        starts = torch.as_tensor(starts, device=target.device, dtype=torch.long)
        return (~torch.isnan(target.index_select(1, starts))).sum(dim=1).clamp_min(1).to(target.dtype)

    def per_sample(self, output, target):
        """Compute the mean over observed columns of each column's negative log-likelihood."""
        a, b = self.n_numeric, self.n_numeric + self.n_binary
        total = torch.zeros(output.shape[0], dtype=output.dtype, device=output.device)
        if a:
            numeric = self._numeric()
            numeric_target = target[:, :a]
            # A missing value is replaced by its own reconstruction, where the loss is at its minimum.
            numeric_target = torch.where(
                torch.isnan(numeric_target), numeric.reconstruct(output[:, :a].detach()), numeric_target
            )
            numeric_output = output[:, :a]
            if self.numeric_scales is not None:
                # The noise model's loss of r / s: the negative log-density at scale s, but for log(s).
                scales = torch.as_tensor(self.numeric_scales, dtype=output.dtype, device=output.device)
                numeric_output, numeric_target = numeric_output / scales, numeric_target / scales
            total = total + a * numeric.per_sample(numeric_output, numeric_target)
        if b > a:
            binary_target = target[:, a:b]
            observed = ~torch.isnan(binary_target)
            entropy = F.binary_cross_entropy_with_logits(output[:, a:b], binary_target.nan_to_num(), reduction="none")
            total = total + (entropy * observed).sum(dim=1)
        for start, stop in self._blocks():
            # A missing block is NaN throughout: as zeros it adds nothing.
            indicator = target[:, start:stop].nan_to_num()
            total = total - (indicator * F.log_softmax(output[:, start:stop], dim=1)).sum(dim=1)
        return total / self._observed_columns(target)

    def reconstruct(self, output):
        """Map the output to values and probabilities: numeric values, then each column's level probabilities."""
        a, b = self.n_numeric, self.n_numeric + self.n_binary
        parts = [self._numeric().reconstruct(output[:, :a]), torch.sigmoid(output[:, a:b])]
        parts += [torch.softmax(output[:, start:stop], dim=1) for start, stop in self._blocks()]
        return torch.cat(parts, dim=1)

    # -- noise model -------------------------------------------------------

    @property
    def has_noise_model(self):
        return self.n_numeric == 0 or self._numeric().has_noise_model

    @property
    def has_scale(self):
        return self.n_numeric > 0 and self._numeric().has_scale

    def fit_scale(self, residual):
        """Fit the scale of each numeric column; the categorical likelihoods have none."""
        return self._numeric().fit_scale(residual[:, : self.n_numeric])

    def _scaled_columns(self):
        return self._numeric(), slice(0, self.n_numeric)

    def log_likelihood(self, reconstruction, target, scale=None):
        """Compute each column's log-likelihood, 0 where missing, in the order of the features.

        Numeric columns: the log-density of the numeric loss's noise model
        (of the standardised value); binary and categorical columns: the
        log-probability of the observed level.
        """
        a, b = self.n_numeric, self.n_numeric + self.n_binary
        eps = float(np.finfo(np.float32).eps)
        columns = []
        if a:
            numeric_target = target[:, :a]
            missing = torch.isnan(numeric_target)
            values = self._numeric().log_likelihood(
                reconstruction[:, :a], numeric_target.nan_to_num(), None if scale is None else scale[:a]
            )
            columns.append(torch.where(missing, torch.zeros_like(values), values))
        if b > a:
            probability = reconstruction[:, a:b].clamp(eps, 1 - eps)
            binary_target = target[:, a:b].nan_to_num()
            columns.append(torch.xlogy(binary_target, probability) + torch.xlogy(1 - binary_target, 1 - probability))
        for start, stop in self._blocks():
            probability = reconstruction[:, start:stop].clamp_min(eps)
            columns.append(torch.xlogy(target[:, start:stop].nan_to_num(), probability).sum(dim=1, keepdim=True))
        if not columns:
            return reconstruction.new_zeros((reconstruction.shape[0], 0))
        return torch.cat(columns, dim=1)
