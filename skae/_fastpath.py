"""Hand-written passes through plain MLPs: the squared-error gradient, and inference.

Most fits are the plain case: an encoder and a decoder made of linear layers
and elementwise activations, trained on squared reconstruction error with no
penalty. For that case autograd's per-batch bookkeeping (recording the graph,
allocating every activation and gradient afresh) costs about as much as the
arithmetic on narrow data. :class:`PlainMLPGradient` computes the same loss
and the same parameter gradients directly: every product is an ``addmm`` or
``mm`` written into buffers allocated once, activations are applied in place,
and their derivatives are taken from their outputs.

The engine uses it only when it is exactly the model's objective: the
estimator declares that its objective is the plain reconstruction loss (no
penalty, no custom forward), and :meth:`PlainMLPGradient.for_module` accepts
only networks and losses it reproduces; with ``precision="bfloat16"`` it
runs its products in bfloat16, as autocast would. Everything else goes
through autograd. The optimiser step is shared, so weight decay and Adam's
state behave identically on both paths.

Inference has the same waste in another form: a module's forward allocates
every layer's output afresh, and on the CPU an allocation of a few MiB is a
fresh mapping whose pages fault in on first write. :class:`BufferedForward`
writes each layer's output into a buffer kept from one batch to the next.
"""

import operator
from collections import namedtuple
from functools import partial

import torch
from torch import nn

from .losses import SquaredError

# How each supported activation is applied in place, and how its derivative
# is applied to a gradient given the activation's *output*.
_IN_PLACE = {
    nn.ReLU: torch.Tensor.relu_,
    nn.Tanh: torch.Tensor.tanh_,
    nn.Sigmoid: torch.Tensor.sigmoid_,
}
# For each, the operation bound to (grad, output) that overwrites grad with
# the gradient before the activation.
_BACKWARD_FROM_OUTPUT = {
    # relu(x) > 0 exactly where x > 0, so the output gives the mask.
    nn.ReLU: lambda grad, output: partial(
        torch.ops.aten.threshold_backward.grad_input, grad, output, 0, grad_input=grad
    ),
    nn.Tanh: lambda grad, output: partial(torch.ops.aten.tanh_backward.grad_input, grad, output, grad_input=grad),
    nn.Sigmoid: lambda grad, output: partial(
        torch.ops.aten.sigmoid_backward.grad_input, grad, output, grad_input=grad
    ),
}


# What PlainMLPGradient runs for one batch size: the operations bound to
# their buffers (forward, backward), and the tensors of the few operations
# that read the inputs or the target, which change with every call. inputs
# is the bfloat16 copy of the inputs, or None in float32.
_Program = namedtuple(
    "_Program",
    "inputs first_bias first_weight_t first_output forward output error error_flat backward "
    "first_gradient_t first_weight_gradient parameter_gradients",
)


def _layers(sequential):
    """``[(linear, activation type or None), ...]``, or None if not a plain float32 MLP."""
    if type(sequential) is not nn.Sequential:
        return None
    layers = []
    for child in sequential:
        if type(child) is nn.Linear and child.bias is not None:
            layers.append([child, None])
        elif type(child) in _IN_PLACE and layers and layers[-1][1] is None:
            layers[-1][1] = type(child)
        else:
            return None
    parameters = [p for linear, _ in layers for p in (linear.weight, linear.bias)]
    if not parameters or {(p.device, p.dtype) for p in parameters} != {(parameters[0].device, torch.float32)}:
        return None
    return [tuple(layer) for layer in layers]


def _new_buffers(layers, n_rows, like):
    return [like.new_empty((n_rows, linear.out_features)) for linear, _ in layers]


class BufferedForward:
    """Inference through a plain MLP, each layer writing into a buffer it keeps.

    The tensor a call returns is a view of the last layer's buffer, which the
    next call overwrites: copy it out before calling again. Build it with
    :meth:`for_sequential`, which returns None where it does not apply.
    """

    def __init__(self, layers):
        self.layers = layers
        self._buffers = []

    @classmethod
    def for_sequential(cls, sequential):
        """A :class:`BufferedForward` for ``sequential``, or None if it is not a plain MLP."""
        layers = _layers(sequential)
        return None if layers is None else cls(layers)

    def __call__(self, inputs):
        n_rows = inputs.shape[0]
        if not self._buffers or self._buffers[0].shape[0] < n_rows:
            self._buffers = _new_buffers(self.layers, n_rows, inputs)
        h = inputs
        with torch.no_grad():
            for (linear, activation), buffer in zip(self.layers, self._buffers):
                h = torch.addmm(linear.bias, h, linear.weight.t(), out=buffer[:n_rows])
                if activation is not None:
                    _IN_PLACE[activation](h)
        return h


class PlainMLPGradient:
    """Loss and parameter gradients of ``decoder(encoder(x))`` under squared error.

    Calling it with ``(inputs, target)`` writes every parameter's ``.grad``
    (overwriting, not accumulating) and returns the loss, ``mean((x_hat -
    target) ** 2)``, as a 0-dim tensor: the same numbers autograd gives for
    :class:`~skae.losses.SquaredError`, up to floating-point rounding.

    With ``compute_dtype=torch.bfloat16`` the matrix products and activations
    run in bfloat16 on copies of the weights, as under autocast, while the
    error, the loss and the gradients handed to the optimiser are float32.

    Build it with :meth:`for_module`, which returns None where it does not apply.
    """

    def __init__(self, layers, compute_dtype=torch.float32):
        self.layers = layers
        self.compute_dtype = compute_dtype
        self._parameters = [p for linear, _ in layers for p in (linear.weight, linear.bias)]
        if compute_dtype == torch.float32:
            self._compute_parameters = self._parameters
        else:
            # Refreshed from the float32 parameters at every call.
            self._compute_parameters = [torch.empty_like(p, dtype=compute_dtype) for p in self._parameters]
            self._compute_gradients = [torch.empty_like(p) for p in self._compute_parameters]
        # Python-side views cost about as much as small kernels, so the
        # transposed weights and every buffer view are made once, not per batch.
        self._weights_t = [weight.t() for weight in self._compute_parameters[0::2]]
        self._capacity = 0
        self._programs = {}

    @classmethod
    def for_module(cls, module, loss, compute_dtype=torch.float32):
        """A :class:`PlainMLPGradient` for ``module`` and ``loss``, or None if unsupported."""
        if type(loss) is not SquaredError:
            return None
        encoder, decoder = getattr(module, "encoder", None), getattr(module, "decoder", None)
        encoder_layers, decoder_layers = _layers(encoder), _layers(decoder)
        if not encoder_layers or not decoder_layers:
            return None
        layers = encoder_layers + decoder_layers
        if encoder_layers[0][0].weight.device != decoder_layers[0][0].weight.device:
            return None
        for (linear, _), (following, _) in zip(layers[:-1], layers[1:]):
            if linear.out_features != following.in_features:
                return None
        return cls(layers, compute_dtype)

    def _program_for(self, n_rows, like, parameter_gradients):
        """The operations of one call for a batch of ``n_rows``, bound to their buffers.

        Everything but the inputs and the target is known in advance, so each
        operation is bound once (a ``functools.partial`` over fixed tensors).
        That halves the Python work of a call, about a tenth of a small
        network's step.
        """
        program = self._programs.get(n_rows)
        if program is not None and all(map(operator.is_, program.parameter_gradients, parameter_gradients)):
            return program
        if n_rows > self._capacity:
            # Allocated for the largest batch seen; smaller batches use leading rows.
            compute_like = like.new_empty(0, dtype=self.compute_dtype)
            self._outputs = _new_buffers(self.layers, n_rows, compute_like)
            self._gradients = _new_buffers(self.layers, n_rows, compute_like)
            if self.compute_dtype == torch.float32:
                self._inputs, self._error = None, self._gradients[-1]
            else:
                self._inputs = compute_like.new_empty((n_rows, self.layers[0][0].in_features))
                self._error = like.new_empty((n_rows, self.layers[-1][0].out_features))
            self._capacity = n_rows
            self._programs = {}
        outputs = [buffer[:n_rows] for buffer in self._outputs]
        gradients = [buffer[:n_rows] for buffer in self._gradients]
        error = self._error[:n_rows]
        low_precision = self._inputs is not None
        targets = self._compute_gradients if low_precision else parameter_gradients
        weights, biases = self._compute_parameters[0::2], self._compute_parameters[1::2]
        activations = [activation for _, activation in self.layers]

        # Forward, keeping each layer's (activated) output; the first product,
        # which reads the inputs, is made by the caller.
        forward = []
        for index, (activation, out) in enumerate(zip(activations, outputs)):
            if index > 0:
                forward.append(partial(torch.addmm, biases[index], outputs[index - 1], self._weights_t[index], out=out))
            if activation is not None:
                forward.append(partial(_IN_PLACE[activation], out))
        # d mean((h - target)^2) / dh = 2 (h - target) / h.numel(), from the float32 error.
        backward = [partial(torch.mul, error, 2.0 / error.numel(), out=gradients[-1])]
        # Last layer first; the input of layer i is the output of i - 1. The
        # first layer's weight gradient, which reads the inputs, is the caller's.
        for index in range(len(self.layers) - 1, -1, -1):
            if activations[index] is not None:
                backward.append(_BACKWARD_FROM_OUTPUT[activations[index]](gradients[index], outputs[index]))
            if index > 0:
                backward.append(partial(torch.mm, gradients[index].t(), outputs[index - 1], out=targets[2 * index]))
            backward.append(partial(torch.sum, gradients[index], 0, out=targets[2 * index + 1]))
            if index > 0:
                backward.append(partial(torch.mm, gradients[index], weights[index], out=gradients[index - 1]))
        program = _Program(
            inputs=None if not low_precision else self._inputs[:n_rows],
            first_bias=biases[0], first_weight_t=self._weights_t[0], first_output=outputs[0], forward=forward,
            output=outputs[-1], error=error, error_flat=error.view(-1), backward=backward,
            first_gradient_t=gradients[0].t(), first_weight_gradient=targets[0],
            parameter_gradients=list(parameter_gradients),
        )  # fmt: skip
        self._programs[n_rows] = program
        return program

    def _gradient_buffers(self):
        for parameter in self._parameters:
            if parameter.grad is None:
                parameter.grad = torch.empty_like(parameter)
        return [parameter.grad for parameter in self._parameters]

    def __call__(self, inputs, target):
        program = self._program_for(inputs.shape[0], inputs, self._gradient_buffers())
        with torch.no_grad():
            if program.inputs is not None:  # bfloat16: fresh copies of the weights and inputs
                torch._foreach_copy_(self._compute_parameters, self._parameters)
                inputs = program.inputs.copy_(inputs)
            torch.addmm(program.first_bias, inputs, program.first_weight_t, out=program.first_output)
            for operation in program.forward:
                operation()
            torch.sub(program.output, target, out=program.error)
            loss = torch.dot(program.error_flat, program.error_flat).div_(program.error_flat.numel())
            for operation in program.backward:
                operation()
            torch.mm(program.first_gradient_t, inputs, out=program.first_weight_gradient)
            if program.inputs is not None:
                torch._foreach_copy_(program.parameter_gradients, self._compute_gradients)
        return loss
