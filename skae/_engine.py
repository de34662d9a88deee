"""The training engine every skae estimator shares.

:class:`TrainingEngine` owns what training needs besides the model's
objective: the device, the optimiser, the random generator, batching, the
epoch loop, early stopping and the training history. An estimator hands it
two training hooks, ``objective(module, x_in, x, generator) -> {term name:
scalar}`` and ``corrupt(x, generator) -> x_in``, and for inference a function
``function(module, x)``; variants differ only in those hooks. Every hook
receives what it uses (the module, the engine's generator) as arguments, so
none reaches back into the engine.

Training data may have missing entries (NaN) when the estimator passes
``fill_values``: the hooks then receive inputs with every missing entry
filled, and the target with its NaN kept, so that the objective takes its
loss over the observed entries only (see :func:`observed_per_sample`).
"""

import contextlib
import math
import time
import warnings

import numpy as np
import torch

from ._fastpath import BufferedForward, PlainMLPGradient
from ._optim import FlatAdam, independent_cpu_copy

INFERENCE_BATCH_SIZE = 4096

# Share of the accelerator's free memory the training data may take to be
# copied there whole; larger data stays on the host and streams per batch.
DEVICE_DATA_FRACTION = 0.5

# Each ``precision``'s autocast dtype for matrix products (None: the
# parameters' own dtype, which the network is built in; see build_network).
AUTOCAST_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float64": None}


NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def resolve_device(device):
    """The ``torch.device`` for a ``device`` parameter value.

    ``"auto"`` takes CUDA, then MPS, then the CPU. An explicit accelerator
    that is not present is an error rather than a silent fallback.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = torch.device(device)
    if not device_available(resolved):
        raise ValueError(f"device={device!r} was requested, but it is not available on this machine.")
    return resolved


def device_available(device):
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return _mps_available()
    return device.type == "cpu"


def _mps_available():
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def as_network_tensor(X, device, dtype=torch.float32):
    """``X`` as a tensor of the network's ``dtype`` on ``device``; a C-contiguous array of that dtype is not copied.

    Other inputs are converted straight to ``dtype`` (a float64 array is
    never copied as float64 for a float32 network).
    """
    return tensor_view(np.ascontiguousarray(X, dtype=NUMPY_DTYPES[dtype])).to(device)


def tensor_view(array):
    """``torch.from_numpy(array)``, without torch's warning where ``array`` is read-only.

    Read-only inputs (memmaps, a DataFrame's values) are fine: skae never
    writes into the data it is given.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def training_tensor(X, device, dtype=torch.float32):
    """``X`` as ``dtype`` where training reads it: on ``device`` if it fits, else on the host.

    On an accelerator, data taking at most ``DEVICE_DATA_FRACTION`` of its
    free memory is copied there once and batches are sliced on the device;
    larger data stays in host memory and :class:`TrainingEngine` streams each
    batch through pinned memory.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(device)
        if np.asarray(X).size * dtype.itemsize > DEVICE_DATA_FRACTION * free_bytes:
            return as_network_tensor(X, "cpu", dtype)
    return as_network_tensor(X, device, dtype)


def fill_missing(X, fill_values):
    """``X`` with each NaN replaced by its feature's entry of ``fill_values``; ``X`` itself if it has none."""
    missing = torch.isnan(X)
    return torch.where(missing, fill_values.to(X.device, X.dtype), X)


def observed_per_sample(loss, output, target):
    """``loss.per_sample`` over the observed entries of ``target`` (NaN marks a missing one).

    Each missing target is replaced by the model's own reconstruction of
    it, detached, where every loss in :mod:`skae.losses` is at its minimum:
    the entry adds nothing to the gradient. Rescaling by ``n_features /
    n_observed`` turns the mean over all features into the mean over the
    observed ones, so a row counts alike however many of its entries are
    missing. On complete rows the value is ``loss.per_sample`` exactly.
    The loss value of a missing entry is zero except for the binary
    cross-entropy, where it is the entropy of the reconstruction (a
    constant to the gradient). Every row needs an observed entry.
    """
    missing = torch.isnan(target)
    filled = torch.where(missing, loss.reconstruct(output.detach()), target)
    n_observed = (~missing).sum(dim=1).to(output.dtype)
    return loss.per_sample(output, filled) * (target.shape[1] / n_observed)


def _observed_weights_sqrt(batch):
    """Square roots of each entry's loss weight: ``n_features / n_observed`` of its row where observed, else 0."""
    observed = ~torch.isnan(batch)
    # n_features / n_observed in one division: exactly 1 for a complete row.
    row_weights = torch.div(batch.shape[1], observed.sum(dim=1, keepdim=True).to(batch.dtype)).sqrt_()
    return observed.to(batch.dtype).mul_(row_weights)


def _to_device(batch, device):
    """A host batch copied to ``device``: pinned, so the copy overlaps compute."""
    if batch.device == device:
        return batch
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def _scaled_weights(sample_weight, device, dtype):
    """Row weights as a ``dtype`` tensor on ``device``, scaled to mean 1; None stays None."""
    if sample_weight is None:
        return None
    weights = torch.as_tensor(sample_weight).to(torch.float64)
    return (weights * (weights.shape[0] / weights.sum())).to(device, dtype)


def _call_objective(objective, module, inputs, target, generator, sample_weight):
    """``objective``'s terms for one batch; ``sample_weight`` is passed only when rows are weighted."""
    if sample_weight is None:
        return objective(module, inputs, target, generator)
    return objective(module, inputs, target, generator, sample_weight=sample_weight)


def _snapshot(module):
    """A copy of ``module``'s state, each tensor cloned (deepcopy's walk costs more on small networks)."""
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def _improves(loss, best_loss, tol):
    """Whether ``loss`` is below ``best_loss`` by more than ``tol`` times its size.

    Relative, so that one ``tol`` means the same for a loss of 0.01 (pixels
    in [0, 1]) and of 1 (standardised data).
    """
    if not math.isfinite(best_loss):
        return loss < best_loss
    return loss < best_loss - tol * abs(best_loss)


# On a plateau the step size is multiplied by PLATEAU_STEP_FACTOR; the plateau
# after PLATEAU_STEP_DECAYS such decays stops training.
PLATEAU_STEP_FACTOR = 0.1
PLATEAU_STEP_DECAYS = 2


class InferenceNetwork:
    """A network as one :meth:`TrainingEngine.predict` call sees it.

    Its ``encoder`` and ``decoder`` write every layer's output into a buffer
    of their own where they are plain float32 MLPs (see
    :class:`~skae._fastpath.BufferedForward`), rather than a fresh allocation
    per batch; an output is valid until the next batch. Any other attribute
    is the network's own.
    """

    def __init__(self, module):
        self._module = module
        for name in ("encoder", "decoder"):
            submodule = getattr(module, name)
            setattr(self, name, BufferedForward.for_module(submodule) or submodule)

    def __getattr__(self, name):
        return getattr(self._module, name)


class TrainingEngine:
    """Trains one torch module by minibatch Adam, and keeps its history.

    Parameters
    ----------
    module : torch.nn.Module
        The network; moved to ``device``. Its parameters' dtype (float32,
        or float64) is the one data and weights are trained in.
    device : torch.device
        Where parameters, batches and random draws live.
    learning_rate : float
        Adam's step size.
    alpha : float
        L2 penalty ``alpha / 2 * ||W||^2`` on the weight matrices, added to
        the loss summed over the training rows, so Adam's weight decay is
        ``alpha / n_samples`` whatever the batch size. The biases and the
        linear maps (linear paths, or a layer from input to output) are not
        penalised.
    seed : int
        Seeds the engine's own generator, used for shuffling and for every
        random draw of the hooks (corruption, sampling).
    precision : {"float32", "bfloat16", "float64"}, default="float32"
        ``"bfloat16"`` runs matrix products in bfloat16 (under autocast, or
        in the hand-written gradient's own bfloat16 pass); weights, gradients
        and optimiser state stay float32. ``"float64"`` expects a float64
        ``module``.
    """

    def __init__(self, module, *, device, learning_rate, alpha, seed, precision="float32"):
        self.device = torch.device(device)
        self.module = module.to(self.device)
        self.dtype = next(module.parameters()).dtype
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.seed = seed
        self.precision = precision
        self.optimizer = self._make_optimizer()
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.n_iter = 0
        self.loss_curve = []
        self.loss_terms_curve = {}
        self.validation_scores = []
        self.best_loss = math.inf
        self.best_validation_score = -math.inf

    def _make_optimizer(self):
        # The linear maps (PCA's solution at the start) are not decayed:
        # alpha regularises the nonlinear part, pulling the model towards PCA.
        # Decayed under Adam, a weight with no data gradient would also move
        # by a full step each time, whatever the decay's size.
        undecayed = getattr(self.module, "linear_parts", list)()
        return FlatAdam(self.module, learning_rate=self.learning_rate, weight_decay=0.0, undecayed=undecayed)

    def set_hyperparameters(self, *, learning_rate, alpha, precision):
        """Apply the estimator's current settings; Adam's moment estimates are kept.

        A warm-started or partial fit continues the same optimiser, but with
        the step size, weight decay and precision the estimator has now.
        """
        self.learning_rate, self.alpha, self.precision = learning_rate, alpha, precision
        self.optimizer.learning_rate = learning_rate

    def _autocast(self):
        dtype = AUTOCAST_DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # -- training ----------------------------------------------------------

    def run(
        self,
        X,
        *,
        objective,
        corrupt=None,
        batch_size,
        n_epochs,
        shuffle=True,
        X_val=None,
        tol=0.0,
        n_iter_no_change=math.inf,
        verbose=False,
        plain_loss=None,
        fill_values=None,
        sample_weight=None,
        sample_weight_val=None,
        on_epoch_begin=None,
        on_epoch_end=None,
    ):
        """Train for up to ``n_epochs`` passes over ``X``.

        Stops early when the monitored loss (the validation loss if ``X_val``
        is given, else the training loss) has not improved by ``tol`` times
        its best value for more than ``n_iter_no_change`` epochs; with
        ``X_val`` the weights of the best validation epoch are restored, the
        starting weights of a new model included. Returns whether it stopped
        early.

        ``X`` may live on the host while the engine runs on an accelerator
        (see :func:`training_tensor`); batches are then copied as needed.
        ``plain_loss``, given when ``objective`` is exactly that loss of
        ``decoder(encoder(inputs))`` with one term ``"reconstruction"``, lets
        the engine compute gradients by hand where
        :class:`~skae._fastpath.PlainMLPGradient` supports the network.

        ``fill_values``, one value per feature, says that ``X`` (and
        ``X_val``) may hold NaN for missing entries: each batch's inputs
        have them replaced by these values (before ``corrupt``), and the
        target keeps them, for ``objective`` to leave out of its loss. The
        hand-written gradient then weighs each observed entry by
        ``n_features / n_observed`` of its row and each missing one by zero.
        Every row needs an observed entry. ``None``: the data is complete.

        ``sample_weight`` (and ``sample_weight_val`` for ``X_val``), one
        positive weight per row, weighs each row's loss: the objective
        receives the batch's weights as ``sample_weight=``, scaled to mean 1
        over the training set, so that the mean over a batch estimates the
        weighted mean over the set, and the reported losses are weighted
        means. The penalty ``alpha`` is divided by the weights' sum, the
        number of rows that integer weights stand for. ``None``: every row
        weighs 1, and the objective receives no ``sample_weight``.

        ``on_epoch_begin()`` and ``on_epoch_end()``, if given, are called
        around each epoch, the end after its losses are recorded; an
        ``on_epoch_end`` that returns true stops training there (it counts
        as stopping early).
        """
        self.optimizer.attach()
        weight_sum = X.shape[0] if sample_weight is None else float(torch.as_tensor(sample_weight).double().sum())
        self.optimizer.weight_decay = self.alpha / weight_sum
        sample_weight = _scaled_weights(sample_weight, X.device, self.dtype)
        sample_weight_val = _scaled_weights(sample_weight_val, X.device, self.dtype)
        gradient = None
        if plain_loss is not None:
            compute_dtype = AUTOCAST_DTYPES[self.precision] or torch.float32
            gradient = PlainMLPGradient.for_module(self.module, plain_loss, compute_dtype)
        if fill_values is not None:
            fill_values = torch.as_tensor(fill_values, dtype=self.dtype, device=self.device)
        no_improvement = 0
        n_plateaus = 0  # each divides the step size; each fit call starts afresh
        self.optimizer.learning_rate = self.learning_rate
        best_state = None
        stopped_early = False
        if X_val is not None and self.n_iter == 0:
            # The starting point (PCA's solution, say) is a candidate too.
            self.best_validation_score = -self.evaluate(X_val, objective, batch_size, fill_values, sample_weight_val)
            best_state = _snapshot(self.module)
        for _ in range(n_epochs):
            if on_epoch_begin is not None:
                on_epoch_begin()
            tic = time.perf_counter()
            terms = self._epoch(X, objective, corrupt, batch_size, shuffle, gradient, fill_values, sample_weight)
            loss = sum(terms.values())
            self._check_finite(loss, "training")
            self.n_iter += 1
            self.loss_curve.append(loss)
            for name, value in terms.items():
                self.loss_terms_curve.setdefault(name, []).append(value)
            message = f"Epoch {self.n_iter}: train loss {loss:.6g}"
            if X_val is not None:
                validation_loss = self.evaluate(X_val, objective, batch_size, fill_values, sample_weight_val)
                self._check_finite(validation_loss, "validation")
                score = -validation_loss
                self.validation_scores.append(score)
                improved = _improves(validation_loss, -self.best_validation_score, tol)
                no_improvement = 0 if improved else no_improvement + 1
                if score > self.best_validation_score:
                    self.best_validation_score = score
                    best_state = _snapshot(self.module)
                message += f", validation loss {validation_loss:.6g}"
            else:
                no_improvement = 0 if _improves(loss, self.best_loss, tol) else no_improvement + 1
            self.best_loss = min(self.best_loss, loss)
            if verbose:
                print(f"{message}, {time.perf_counter() - tic:.3f} s", flush=True)
            if on_epoch_end is not None and on_epoch_end():
                stopped_early = True
                break
            if no_improvement > n_iter_no_change:
                if n_plateaus == PLATEAU_STEP_DECAYS:
                    stopped_early = True
                    break
                # Adam's steps keep the weights jittering around the optimum;
                # smaller steps settle them before training stops.
                n_plateaus += 1
                self.optimizer.learning_rate = self.learning_rate * PLATEAU_STEP_FACTOR**n_plateaus
                no_improvement = 0
        if best_state is not None:
            self.module.load_state_dict(best_state)
        # Inference then meets no weight that makes its products subnormal.
        self.optimizer.flush_subnormals()
        return stopped_early

    def _epoch(self, X, objective, corrupt, batch_size, shuffle, gradient=None, fill_values=None, sample_weight=None):
        """One pass over ``X``; returns the mean of each term over the rows (weighted by ``sample_weight``)."""
        self.module.train()
        n_samples = X.shape[0]
        order = None
        if shuffle:
            order = torch.randperm(n_samples, generator=self.generator, device=self.device).to(X.device)
        # On the CPU, shuffled batches are gathered into one reused buffer
        # rather than a fresh allocation per batch.
        gather_buffer = X.new_empty((batch_size, X.shape[1])) if X.device.type == "cpu" else None
        totals = None
        for start in range(0, n_samples, batch_size):
            if order is None:
                batch = X[start : start + batch_size]
            elif gather_buffer is not None:
                indices = order[start : start + batch_size]
                batch = torch.index_select(X, 0, indices, out=gather_buffer[: indices.shape[0]])
            else:
                batch = X.index_select(0, order[start : start + batch_size])
            batch = _to_device(batch, self.device)
            weights = None
            if sample_weight is not None:
                rows = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
                weights = _to_device(sample_weight[rows], self.device)
            terms = self._step(batch, objective, corrupt, gradient, fill_values, weights)
            # Summed on the device; one synchronisation per epoch, not per batch.
            if totals is None:
                totals = [torch.zeros((), dtype=self.dtype, device=self.device) for _ in terms]
            for total, value in zip(totals, terms.values()):
                total.add_(value.detach(), alpha=batch.shape[0])
        return {name: total.item() / n_samples for name, total in zip(terms, totals)}

    def _step(self, batch, objective, corrupt, gradient=None, fill_values=None, sample_weight=None):
        filled = batch if fill_values is None else fill_missing(batch, fill_values)
        inputs = filled if corrupt is None else corrupt(filled, self.generator)
        if gradient is not None:
            weights_sqrt = None if fill_values is None else _observed_weights_sqrt(batch)
            if sample_weight is not None:
                # A row's squared errors all carry its weight.
                row_weights_sqrt = sample_weight.sqrt().unsqueeze(1)
                weights_sqrt = row_weights_sqrt if weights_sqrt is None else weights_sqrt.mul_(row_weights_sqrt)
            if weights_sqrt is None:
                terms = {"reconstruction": gradient(inputs, batch)}
            else:
                terms = {"reconstruction": gradient(inputs, filled, weights_sqrt)}
        else:
            with self._autocast():
                terms = _call_objective(objective, self.module, inputs, batch, self.generator, sample_weight)
                loss = sum(terms.values())
            self.optimizer.zero_grad()
            loss.backward()
        self.optimizer.step()
        return terms

    def evaluate(self, X, objective, batch_size, fill_values=None, sample_weight=None):
        """Mean objective over ``X``, uncorrupted, without updating the weights.

        ``fill_values`` fills the inputs' missing entries, as in :meth:`run`;
        ``sample_weight``, scaled to mean 1, weighs the rows.
        """
        self.module.eval()
        total = 0.0
        with torch.no_grad(), self._autocast():
            for start in range(0, X.shape[0], batch_size):
                batch = _to_device(X[start : start + batch_size], self.device)
                inputs = batch if fill_values is None else fill_missing(batch, fill_values)
                weights = None
                if sample_weight is not None:
                    weights = _to_device(sample_weight[start : start + batch_size], self.device)
                terms = _call_objective(objective, self.module, inputs, batch, self.generator, weights)
                total += sum(terms.values()).item() * batch.shape[0]
        return total / X.shape[0]

    def _check_finite(self, value, which):
        if not math.isfinite(value):
            raise ValueError(
                f"The {which} loss became {value} at epoch {self.n_iter + 1}. Try a smaller "
                "learning_rate_init, scale the data, or check the loss; the estimator was "
                "left unfitted."
            )

    # -- inference ---------------------------------------------------------

    def predict(self, function, X, dtype):
        """``function(module, batch)`` over ``X`` in batches, without autograd; numpy out in ``dtype``.

        Each batch's result is written into one preallocated array, so peak
        memory is the output plus one batch. ``function`` receives the
        network as this call sees it (see :class:`InferenceNetwork`): its
        plain MLPs reuse their buffers from batch to batch, and the buffers
        belong to this call, so threads predicting with one model at the same
        time do not share them.
        """
        self.module.eval()
        network = self.module if AUTOCAST_DTYPES[self.precision] is not None else InferenceNetwork(self.module)
        result = None
        with torch.inference_mode(), self._autocast():
            for start in range(0, X.shape[0], INFERENCE_BATCH_SIZE):
                batch = as_network_tensor(X[start : start + INFERENCE_BATCH_SIZE], self.device, self.dtype)
                output = function(network, batch)
                if output.dtype in (torch.bfloat16, torch.float16):
                    output = output.float()  # autocast; numpy has no bfloat16
                output = output.to("cpu").numpy()
                if result is None:
                    result = np.empty((X.shape[0], *output.shape[1:]), dtype=dtype)
                result[start : start + output.shape[0]] = output
        return result

    # -- pickling ----------------------------------------------------------

    def __getstate__(self):
        # Stored on the CPU so that a model trained on a GPU loads anywhere,
        # with parameters of their own rather than views of the optimiser's buffer.
        state = self.__dict__.copy()
        state["module"] = independent_cpu_copy(self.module)
        state["optimizer"] = self.optimizer.state_dict()
        state["generator"] = (self.generator.device.type, self.generator.get_state())
        state["device"] = str(self.device)
        del state["dtype"]  # the module's own, read back from it
        return state

    def __setstate__(self, state):
        optimizer_state = state.pop("optimizer")
        generator_device_type, generator_state = state.pop("generator")
        self.__dict__.update(state)
        device = torch.device(state["device"])
        if not device_available(device):
            warnings.warn(
                f"This model was fitted on {device}, which is not available here; it is loaded on the CPU.",
                UserWarning,
                stacklevel=2,
            )
            device = torch.device("cpu")
        self.device = device
        self.module = self.module.to(device)
        self.dtype = next(self.module.parameters()).dtype
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(optimizer_state)
        self.generator = torch.Generator(device=device)
        if generator_device_type == device.type:
            self.generator.set_state(generator_state)
        else:
            self.generator.manual_seed(self.seed + self.n_iter)

    # -- state as data (skae.save) -----------------------------------------

    def state_dict(self):
        """The engine's state as plain data and CPU tensors, for :func:`skae.save`.

        A dictionary of the network's weights (``"weights"``, the module's
        own ``state_dict``), the optimiser's and the random generator's
        state, the device, the hyperparameters and the training history:
        what pickling keeps, with the network's weights in place of the
        module, whose structure the owner rebuilds.

        Returns
        -------
        state : dict
            Strings, numbers, lists, tuples, dicts and tensors only. The
            tensors are copies; the history's lists are the engine's own.
        """
        state = self.__getstate__()
        state["weights"] = dict(state.pop("module").state_dict())
        return state

    def load_state_dict(self, state):
        """Take the state :meth:`state_dict` returned, on an engine around a network of the same shape.

        As after unpickling, a model fitted on a device that is not
        available here is moved to the CPU, with a ``UserWarning``.

        Parameters
        ----------
        state : dict
            What :meth:`state_dict` returned; it is not modified.

        Raises
        ------
        ValueError
            If the weights do not fit this engine's network.
        """
        state = dict(state)
        try:
            self.module.load_state_dict(state.pop("weights"), strict=True)
        except RuntimeError as error:
            raise ValueError(f"The saved weights do not fit the network: {error}") from None
        # The rest is what unpickling restores, with the device check.
        self.__setstate__({**state, "module": self.module})
