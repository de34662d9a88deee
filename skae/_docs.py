"""Docstring entries that every skae autoencoder shares, written once.

A class docstring names an entry by a line holding only ``{{name}}``;
:func:`fill_doc` replaces it with the entry below at import, so ``help()``,
numpydoc and Sphinx all see the whole docstring. An entry whose meaning
differs in a variant is written out in that variant instead.
"""

import re
import textwrap

SHARED_ENTRIES = {
    "n_components": """\
n_components : int, default=2
    Size of the latent code, at most ``n_features``.""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : tuple of int, default=(100,)
    Widths of the encoder's hidden layers; the decoder mirrors them.
    ``()`` makes both one linear layer.""",
    "activation": """\
activation : {"relu", "tanh", "sigmoid", "identity", "leaky_relu", "elu", \
        "selu", "gelu", "silu", "softplus"}, default="relu"
    Hidden-layer activation. The code itself is linear.""",
    "loss": """\
loss : str, Loss or callable, default="squared_error"
    The reconstruction loss, i.e. the decoder's likelihood:
    ``"squared_error"`` (Gaussian), ``"absolute_error"`` (Laplacian),
    ``"huber"``, ``"lp"``, ``"binary_crossentropy"`` (Bernoulli; data in
    [0, 1], sigmoid output), a string :func:`skae.losses.get_loss` reads
    (``"huber:2"``, ``"lp:1.5"``, ``"l1+0.5*l2"``), an object from
    :mod:`skae.losses` such as ``Huber(delta)``, ``Lp(p)`` or
    ``AbsoluteError() + SquaredError()``, or a callable
    ``(x_hat, x) -> per-sample loss tensor``.""",
    "batch_size": """\
batch_size : int or "auto", default="auto"
    Minibatch size; ``"auto"`` is ``n_samples // 40`` clipped to [32, 256]
    (and at most ``n_samples``), so that small data sets get enough Adam
    steps per epoch and large ones full-width batches.""",
    "learning_rate_init": """\
learning_rate_init : float, default=1e-3
    Adam's step size.""",
    "max_iter": """\
max_iter : int, default=200
    Maximum number of epochs.""",
    "alpha": """\
alpha : float, default=0.1
    L2 penalty ``alpha / 2 * ||W||^2`` on the weight matrices, added to
    the loss summed over the training samples (so to the mean loss
    ``alpha / (2 * n_samples) * ||W||^2``): the precision of a Gaussian
    prior on the weights. It is what ``MLPRegressor``'s ``alpha`` means
    with full-batch training, but it does not change with ``batch_size``,
    and it weighs more on small data sets, where the network could
    overfit, than on large ones. The biases and the linear maps (the
    linear paths, or the single layer of a network without hidden layers)
    are not penalised, so a large ``alpha`` pulls the model towards PCA
    (see ``init``).""",
    "shuffle": """\
shuffle : bool, default=True
    Whether to shuffle samples every epoch.""",
    "tol": """\
tol : float, default=1e-4
    Minimum improvement of the monitored loss, relative to its best value,
    that resets the patience. When the loss has not improved for
    ``n_iter_no_change`` epochs, Adam's step size is divided by 10; the
    third such plateau stops training.""",
    "early_stopping": """\
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the data, stop when its loss stops
    improving, and restore the weights of its best epoch.""",
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Share of the data held out for early stopping.""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=10
    Epochs without an improvement of ``tol`` that make a plateau (see
    ``tol``).""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the weights, the shuffling and the validation split. An int
    gives identical results on the same machine and CPU; the global random
    state of numpy and torch is left untouched.""",
    "verbose": """\
verbose : bool, default=False
    Print one line per epoch: train loss, validation loss, seconds.""",
    "warm_start": """\
warm_start : bool, default=False
    Continue from the previous fit's weights and Adam state, with the
    current ``learning_rate_init`` and ``alpha``.""",
    "device": """\
device : str, default="auto"
    ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or ``"mps"``.""",
    "precision": """\
precision : {"float32", "bfloat16", "float64"}, default="float32"
    Arithmetic of the forward pass while training and predicting.
    ``"float64"`` trains and predicts in double precision throughout
    (weights, optimiser state, data): several times slower, for when
    results must agree to more than float32's 7 digits (scikit-learn's
    sample-weight equivalence check is one case).
    ``"bfloat16"`` runs matrix products and activations in bfloat16, as
    autocast does, while weights, gradients, the optimiser state and the
    outputs stay float32. It pays where the hardware multiplies bfloat16
    natively: recent GPUs, and CPUs with AVX512-BF16 or AMX, where wide
    data trains about 1.5 times as fast (see the benchmarks); elsewhere it
    is slower. Results then differ from float32 by about bfloat16's
    precision (3 significant digits).""",
    "init": """\
init : {"pca", "random"}, default="pca"
    How a new model starts, and with it the network's shape. ``"pca"``:
    the encoder and the decoder each have a linear path beside their
    hidden layers, set to PCA's projection and reconstruction fitted to
    the training data, and their hidden layers' last weights start at
    zero, so training starts from PCA's solution and the nonlinear part
    learns what PCA misses. Where the decoder outputs logits
    (cross-entropy), the linear paths start at random. ``"random"``: the
    classic multilayer perceptron autoencoder, without linear paths, every
    layer started by torch's default initialisation.""",
    "categorical_features": """\
categorical_features : "from_dtype", array-like or None, default="from_dtype"
    Which columns of a table are categorical (see :ref:`mixed_types`).
    ``"from_dtype"``: a DataFrame's ``category``, ``object``, ``string``
    and ``bool`` columns; NumPy input then has none. An array-like gives
    them by name, by index or as a boolean mask; ``None``: none. With a
    categorical column, each column gets the likelihood of its type (the
    others ``loss`` on standardised values), and :meth:`inverse_transform`
    returns the table.
max_categories : int, default=None
    Most levels kept per categorical column, the group of rare levels
    included, as in :class:`~sklearn.preprocessing.OneHotEncoder`:
    the least frequent levels are grouped. ``None``: no limit.
min_frequency : int or float, default=None
    Levels seen fewer times (an int) or in a smaller share of the rows (a
    float) are grouped as rare, as in
    :class:`~sklearn.preprocessing.OneHotEncoder`. ``None``: none.
handle_unknown : {"error", "ignore"}, default="error"
    A level unseen in training: ``"error"`` raises; ``"ignore"`` reads it
    as a missing value.""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during fit.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit, when ``X`` had string column names.""",
    "n_iter_": """\
n_iter_ : int
    Epochs run, over all fits of a warm-started or partially fitted model.""",
    "loss_curve_": """\
loss_curve_ : list of float
    Training loss per epoch (all terms included).""",
    "loss_terms_curve_": """\
loss_terms_curve_ : dict of str to list of float
    Each term of the training loss per epoch (``"reconstruction"`` and
    any penalty).""",
    "best_loss_": """\
best_loss_ : float
    The lowest training loss reached.""",
    "validation_scores_": """\
validation_scores_ : list of float
    Minus the validation loss per epoch; only with ``early_stopping``.""",
    "best_validation_score_": """\
best_validation_score_ : float
    The best of ``validation_scores_``; only with ``early_stopping``.""",
    "loss_": """\
loss_ : skae.losses.Loss
    The loss object used.
noise_scale_ : ndarray of shape (`n_features_in_`,) or None
    The scale of each feature in the loss's noise model, fitted by maximum
    likelihood on the residuals of the data of the last ``fit`` (or of the
    last ``partial_fit`` call's chunk), at least float32's resolution of the
    data's largest value: what :meth:`score` and :meth:`score_samples` use. For squared
    error it is ``sqrt(2)`` times the noise's standard deviation, for
    absolute error the Laplacian's scale. ``None`` for a Bernoulli loss,
    which has no scale, and for a callable loss, which has no noise model.""",
    "engine_": """\
engine_ : skae._engine.TrainingEngine
    The training state: module, optimiser, generator, history.""",
    "module_, encoder_, decoder_": """\
module_, encoder_, decoder_ : torch.nn.Module
    The fitted network and its two halves.""",
    "device_": """\
device_ : str
    The device actually used.""",
}

_PLACEHOLDER = re.compile(r"^( *)\{\{(.+?)\}\}$", re.M)


def fill_doc(cls):
    """Class decorator: expand the ``{{name}}`` lines of ``cls.__doc__``."""

    def expand(match):
        indent, name = match.groups()
        return textwrap.indent(SHARED_ENTRIES[name], indent)

    cls.__doc__ = _PLACEHOLDER.sub(expand, cls.__doc__)
    return cls
