"""Adam over one flat buffer that holds all of a module's parameters.

``torch.optim.Adam(fused=True)`` spends more time per step in Python
(grouping tensors by device and dtype, looking up per-parameter state,
incrementing one step counter per parameter) than in its kernel for networks
of the size autoencoders usually have: a step of a (64, 256, 64, 16)
network took 135 us with it against 22 us with :class:`FlatAdam` on two CPU
cores. :class:`FlatAdam` moves every parameter into one contiguous buffer,
weights first and then biases, and makes the parameters and their gradients
views of it. A step is then one fused kernel over the weights and one over
the biases, or one over everything when there is no weight decay.

The update is ``torch.optim.Adam``'s, with L2 weight decay added to the
gradient (not decoupled, as in AdamW) of the parameters with more than one
dimension only, which is scikit-learn's ``alpha`` for the MLP.
"""

import copy
import math

import torch
from torch import nn

# Devices with a fused Adam kernel; elsewhere the same update runs as a few
# elementwise operations on the flat buffers.
_FUSED_DEVICE_TYPES = ("cpu", "cuda")

# The smallest normal float32. Weight decay drives the weights of dead units
# (and their moment estimates) geometrically towards zero through the
# subnormal range, where CPU arithmetic is 10-30x slower; torch's
# ``set_flush_denormal`` reaches only the calling thread, not the OpenMP
# workers, so the buffers themselves are flushed.
SMALLEST_NORMAL = float(torch.finfo(torch.float32).tiny)
# A weight need not be subnormal itself to slow the products down: a weight
# of 1e-33 times a gradient of 1e-6 is a subnormal product. Weights and first
# moments below FLUSH_FLOOR are set to zero, so no product with a factor
# above 1e-8 can be subnormal. (Flushing only what is subnormal let a
# 20000x64 fit slow down tenfold over 25 epochs on an AVX-512 machine; with
# this floor its last epochs ran as fast as its first and its loss was the
# same to 7 digits.) A weight of 1e-30 adds nothing a float32 sum of terms
# above 1e-23 can hold; a first moment of 1e-30 moves a weight by
# learning_rate * 1e-30 / eps, 1e-25 at the defaults. The second moments
# are flushed where subnormal only: below 1e-34 their square root is lost
# beside eps.
FLUSH_FLOOR = 1e-30
FLUSH_INTERVAL = 32


class FlatAdam:
    """Adam whose state, like the parameters and gradients, is one flat tensor each.

    Building it rebinds ``module``'s parameters: each keeps its identity but
    its data becomes a view of :attr:`values`, and its ``.grad`` a view of
    :attr:`gradients`. Move the module to its device first; ``module.to``
    afterwards would undo the sharing.

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters must share one device and dtype.
    learning_rate : float
        Adam's step size.
    weight_decay : float
        L2 penalty on the weights (parameters with ``ndim > 1``), added to
        their gradient before the moments are updated.
    undecayed : iterable of torch.nn.Parameter, default=()
        Weights exempt from the penalty, like the biases.
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    """

    def __init__(self, module, *, learning_rate, weight_decay, undecayed=(), betas=(0.9, 0.999), eps=1e-8):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.betas = betas
        self.eps = eps
        parameters = list(module.parameters())
        if not parameters:
            raise ValueError("The module has no parameters to optimise.")
        if len({(p.device, p.dtype) for p in parameters}) != 1:
            raise ValueError("FlatAdam needs all parameters on one device and of one dtype.")
        exempt = {id(p) for p in undecayed}
        decayed = [p.ndim > 1 and id(p) not in exempt for p in parameters]
        self.parameters = [p for p, d in zip(parameters, decayed) if d] + [
            p for p, d in zip(parameters, decayed) if not d
        ]
        self.n_weight_values = sum(p.numel() for p, d in zip(parameters, decayed) if d)
        first = parameters[0]
        self.values = first.new_empty(sum(p.numel() for p in self.parameters))
        self.gradients = torch.zeros_like(self.values)
        self.exp_avg = torch.zeros_like(self.values)
        self.exp_avg_sq = torch.zeros_like(self.values)
        # A float tensor, as the fused kernels take it.
        self.step_count = torch.zeros((), dtype=torch.float32, device=first.device)
        self._steps_since_flush = 0
        self.attach()
        self._fused = hasattr(torch, "_fused_adam_") and first.device.type in _FUSED_DEVICE_TYPES
        # (values, gradients, exp_avg, exp_avg_sq) of everything, of the
        # weights and of the biases: views made once, as slicing per step
        # costs as much as the update of a small network.
        buffers = (self.values, self.gradients, self.exp_avg, self.exp_avg_sq)
        split = self.n_weight_values
        self._all = buffers
        self._weights = tuple(buffer[:split] for buffer in buffers)
        self._biases = tuple(buffer[split:] for buffer in buffers)

    @property
    def n_steps(self):
        return int(self.step_count.item())

    def attach(self):
        """Make every parameter a view of :attr:`values` again, and its ``.grad`` of :attr:`gradients`.

        Whatever replaced a parameter's data or gradient (``module.to``,
        ``load_state_dict(assign=True)``, ``module.zero_grad()``) would
        otherwise leave the optimiser stepping buffers the module no longer
        reads; current values are copied back in. The engine calls this
        before training.
        """
        offset = 0
        with torch.no_grad():
            for parameter in self.parameters:
                part = slice(offset, offset + parameter.numel())
                value, gradient = self.values[part].view_as(parameter), self.gradients[part].view_as(parameter)
                if parameter.data_ptr() != value.data_ptr() or parameter.device != value.device:
                    value.copy_(parameter)
                    parameter.data = value
                if parameter.grad is None or parameter.grad.data_ptr() != gradient.data_ptr():
                    parameter.grad = gradient
                offset += parameter.numel()

    def zero_grad(self):
        """Zero every gradient in one operation (autograd then accumulates in place)."""
        self.gradients.zero_()

    def _parts(self):
        """The buffers to update and their weight decay: one part, or the weights and the biases."""
        if not self.weight_decay or not self._biases[0].numel():
            return [(self._all, self.weight_decay)]
        return [(self._weights, self.weight_decay), (self._biases, 0.0)]

    def step(self):
        """One Adam update of every parameter from its current ``.grad``."""
        # No torch.no_grad() needed: the flat buffers are plain tensors, not
        # the parameters autograd tracks.
        self.step_count.add_(1)
        beta1, beta2 = self.betas
        for (values, gradients, exp_avg, exp_avg_sq), weight_decay in self._parts():
            if self._fused:
                try:
                    torch._fused_adam_(
                        [values], [gradients], [exp_avg], [exp_avg_sq], [], [self.step_count],
                        amsgrad=False, lr=self.learning_rate, beta1=beta1, beta2=beta2,
                        weight_decay=weight_decay, eps=self.eps, maximize=False,
                        grad_scale=None, found_inf=None,
                    )  # fmt: skip
                    continue
                except RuntimeError:
                    # No kernel for this device in this torch (CPU before 2.4):
                    # it fails before writing anything.
                    self._fused = False
            self._unfused_step(values, gradients, exp_avg, exp_avg_sq, weight_decay)
        self._steps_since_flush += 1
        if self._steps_since_flush >= FLUSH_INTERVAL:
            self.flush_subnormals()

    def flush_subnormals(self):
        """Set every weight and first moment below ``FLUSH_FLOOR``, and every subnormal second moment, to zero.

        Zero is what weight decay was taking them to; only their slow
        arithmetic is skipped. One ``hardshrink`` kernel per buffer.
        """
        self._steps_since_flush = 0
        floors = ((self.values, FLUSH_FLOOR), (self.exp_avg, FLUSH_FLOOR), (self.exp_avg_sq, SMALLEST_NORMAL))
        for buffer, floor in floors:
            torch.ops.aten.hardshrink.out(buffer, floor, out=buffer)

    def _unfused_step(self, values, gradients, exp_avg, exp_avg_sq, weight_decay):
        beta1, beta2 = self.betas
        step = self.step_count.item()
        if weight_decay:
            gradients = gradients.add(values, alpha=weight_decay)
        exp_avg.lerp_(gradients, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(gradients, gradients, value=1 - beta2)
        denominator = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(self.eps)
        values.addcdiv_(exp_avg, denominator, value=-self.learning_rate / (1 - beta1**step))

    # -- persistence ---------------------------------------------------------

    def state_dict(self):
        """The moments, the step count and the hyperparameters, on the CPU."""
        return {
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "betas": self.betas,
            "eps": self.eps,
            "exp_avg": self.exp_avg.to("cpu", copy=True),
            "exp_avg_sq": self.exp_avg_sq.to("cpu", copy=True),
            "step_count": self.step_count.to("cpu", copy=True),
        }

    def load_state_dict(self, state):
        self.learning_rate, self.weight_decay = state["learning_rate"], state["weight_decay"]
        self.betas, self.eps = state["betas"], state["eps"]
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step_count.copy_(state["step_count"])

    def __getstate__(self):
        raise TypeError("Pickle the TrainingEngine that owns a FlatAdam, not the FlatAdam itself.")


def independent_cpu_copy(module):
    """A deep copy of ``module`` on the CPU whose parameters share no storage.

    Pickling a tensor writes its whole storage, so parameters that are views
    of one flat buffer would each write all of it, and load as copies.
    """
    memo = {
        id(parameter): nn.Parameter(parameter.detach().to("cpu", copy=True), parameter.requires_grad)
        for parameter in module.parameters()
    }
    return copy.deepcopy(module, memo).to("cpu")
