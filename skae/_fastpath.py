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

from ._network import MLP
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
    nn.Sigmoid: lambda grad, output: partial(torch.ops.aten.sigmoid_backward.grad_input, grad, output, grad_input=grad),
}


# What PlainMLPGradient runs for one batch size: the operations bound to
# their buffers, and the tensors of the few operations that read the inputs
# or the target, which change with every call. inputs is the bfloat16 copy
# of the inputs, or None in float32. The encoder's forward stops before its
# linear path, which reads the inputs; the rest of the forward follows it.
_Program = namedtuple(
    "_Program",
    "inputs first_bias first_weight_t first_output encoder_forward code encoder_path_t rest_forward "
    "output error error_flat backward first_gradient_t first_weight_gradient code_gradient_t "
    "encoder_path_gradient parameter_gradients",
)


def _plain_mlp(module):
    """``([(linear, activation type or None), ...], linear path or None)``, or None if not a plain float32 MLP."""
    if type(module) is not MLP:
        return None
    supported = (None, *_IN_PLACE)
    activation, output_activation = (
        type(a) if a is not None else None for a in (module.activation, module.output_activation)
    )
    if activation not in supported or output_activation not in supported:
        return None
    linears = list(module.layers)
    layers = [(linear, activation) for linear in linears[:-1]] + [(linears[-1], output_activation)]
    parameters = list(module.parameters())
    if {(p.device, p.dtype) for p in parameters} != {(parameters[0].device, torch.float32)}:
        return None
    return layers, module.linear_path


def _new_buffers(layers, n_rows, like):
    return [like.new_empty((n_rows, linear.out_features)) for linear, _ in layers]


class BufferedForward:
    """Inference through a plain MLP, each layer writing into a buffer it keeps.

    The tensor a call returns is a view of the last layer's buffer, which the
    next call overwrites: copy it out before calling again. Build it with
    :meth:`for_module`, which returns None where it does not apply.
    """

    def __init__(self, layers, linear_path):
        self.layers = layers
        self.linear_path = linear_path
        self._buffers = []

    @classmethod
    def for_module(cls, module):
        """A :class:`BufferedForward` for ``module``, or None if it is not a plain MLP."""
        plain = _plain_mlp(module)
        return None if plain is None else cls(*plain)

    def __call__(self, inputs):
        n_rows = inputs.shape[0]
        if not self._buffers or self._buffers[0].shape[0] < n_rows:
            self._buffers = _new_buffers(self.layers, n_rows, inputs)
        h = inputs
        last = len(self.layers) - 1
        with torch.no_grad():
            for index, ((linear, activation), buffer) in enumerate(zip(self.layers, self._buffers)):
                h = torch.addmm(linear.bias, h, linear.weight.t(), out=buffer[:n_rows])
                if index == last and self.linear_path is not None:
                    h.addmm_(inputs, self.linear_path.weight.t())
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

    Missing targets are handled by weights: called with
    ``(inputs, target, weights_sqrt)``, each squared error is weighted by
    the square of ``weights_sqrt`` (``n_features / n_observed`` of its row
    where observed, 0 where missing), the loss over observed entries only.
    The target must then be finite everywhere (missing entries filled with
    any value).

    Build it with :meth:`for_module`, which returns None where it does not apply.
    """

    def __init__(self, encoder, decoder, compute_dtype=torch.float32):
        (encoder_layers, encoder_path), (decoder_layers, decoder_path) = encoder, decoder
        self.layers = encoder_layers + decoder_layers
        self.n_encoder_layers = len(encoder_layers)
        self.compute_dtype = compute_dtype
        paths = [path for path in (encoder_path, decoder_path) if path is not None]
        # Layer weights and biases alternate, then the linear paths' weights.
        self._parameters = [p for linear, _ in self.layers for p in (linear.weight, linear.bias)]
        self._parameters += [path.weight for path in paths]
        if compute_dtype == torch.float32:
            self._compute_parameters = self._parameters
        else:
            # Refreshed from the float32 parameters at every call.
            self._compute_parameters = [torch.empty_like(p, dtype=compute_dtype) for p in self._parameters]
            self._compute_gradients = [torch.empty_like(p) for p in self._compute_parameters]
        n_layer_parameters = 2 * len(self.layers)
        path_weights = iter(self._compute_parameters[n_layer_parameters:])
        self._encoder_path = next(path_weights) if encoder_path is not None else None
        self._decoder_path = next(path_weights) if decoder_path is not None else None
        # Python-side views cost about as much as small kernels, so the
        # transposed weights and every buffer view are made once, not per batch.
        self._weights_t = [weight.t() for weight in self._compute_parameters[0:n_layer_parameters:2]]
        self._encoder_path_t = None if self._encoder_path is None else self._encoder_path.t()
        self._capacity = 0
        self._programs = {}

    @classmethod
    def for_module(cls, module, loss, compute_dtype=torch.float32):
        """A :class:`PlainMLPGradient` for ``module`` and ``loss``, or None if unsupported."""
        if type(loss) is not SquaredError:
            return None
        encoder = _plain_mlp(getattr(module, "encoder", None))
        decoder = _plain_mlp(getattr(module, "decoder", None))
        if encoder is None or decoder is None:
            return None
        layers = encoder[0] + decoder[0]
        if layers[0][0].weight.device != layers[-1][0].weight.device:
            return None
        for (linear, _), (following, _) in zip(layers[:-1], layers[1:]):
            if linear.out_features != following.in_features:
                return None
        return cls(encoder, decoder, compute_dtype)

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
        n_layers = len(self.layers)
        path_targets = iter(targets[2 * n_layers :])
        encoder_path_target = next(path_targets) if self._encoder_path is not None else None
        decoder_path_target = next(path_targets) if self._decoder_path is not None else None
        weights, biases = self._compute_parameters[0 : 2 * n_layers : 2], self._compute_parameters[1 : 2 * n_layers : 2]
        activations = [activation for _, activation in self.layers]
        code = self.n_encoder_layers - 1  # the index of the layer that outputs the code

        # Forward, keeping each layer's (activated) output; the first product
        # and the encoder's linear path, which read the inputs, are the caller's.
        encoder_forward, rest_forward = [], []
        for index, (activation, out) in enumerate(zip(activations, outputs)):
            operations = encoder_forward if index <= code else rest_forward
            if index > 0:
                operations.append(
                    partial(torch.addmm, biases[index], outputs[index - 1], self._weights_t[index], out=out)
                )
            if index == n_layers - 1 and self._decoder_path is not None:
                operations.append(partial(torch.Tensor.addmm_, out, outputs[code], self._decoder_path.t()))
            if activation is not None:
                # The code's activation follows the encoder's linear path.
                (rest_forward if index == code else operations).append(partial(_IN_PLACE[activation], out))
        # d mean((h - target)^2) / dh = 2 (h - target) / h.numel(), from the float32 error.
        backward = [partial(torch.mul, error, 2.0 / error.numel(), out=gradients[-1])]
        # Last layer first; the input of layer i is the output of i - 1. The
        # gradients that read the inputs (the first layer's weight, the
        # encoder's linear path) are the caller's.
        for index in range(n_layers - 1, -1, -1):
            if activations[index] is not None:
                backward.append(_BACKWARD_FROM_OUTPUT[activations[index]](gradients[index], outputs[index]))
            if index == n_layers - 1 and self._decoder_path is not None:
                backward.append(partial(torch.mm, gradients[index].t(), outputs[code], out=decoder_path_target))
            if index > 0:
                backward.append(partial(torch.mm, gradients[index].t(), outputs[index - 1], out=targets[2 * index]))
            backward.append(partial(torch.sum, gradients[index], 0, out=targets[2 * index + 1]))
            if index > 0:
                backward.append(partial(torch.mm, gradients[index], weights[index], out=gradients[index - 1]))
            if index - 1 == code and self._decoder_path is not None:
                # The code also reaches the output through the decoder's linear path.
                backward.append(partial(torch.Tensor.addmm_, gradients[code], gradients[-1], self._decoder_path))
        program = _Program(
            inputs=None if not low_precision else self._inputs[:n_rows],
            first_bias=biases[0], first_weight_t=self._weights_t[0], first_output=outputs[0],
            encoder_forward=encoder_forward, code=outputs[code], encoder_path_t=self._encoder_path_t,
            rest_forward=rest_forward, output=outputs[-1], error=error, error_flat=error.view(-1),
            backward=backward, first_gradient_t=gradients[0].t(), first_weight_gradient=targets[0],
            code_gradient_t=gradients[code].t(), encoder_path_gradient=encoder_path_target,
            parameter_gradients=list(parameter_gradients),
        )  # fmt: skip
        self._programs[n_rows] = program
        return program

    def _gradient_buffers(self):
        for parameter in self._parameters:
            if parameter.grad is None:
                parameter.grad = torch.empty_like(parameter)
        return [parameter.grad for parameter in self._parameters]

    def __call__(self, inputs, target, weights_sqrt=None):
        program = self._program_for(inputs.shape[0], inputs, self._gradient_buffers())
        with torch.no_grad():
            if program.inputs is not None:  # bfloat16: fresh copies of the weights and inputs
                torch._foreach_copy_(self._compute_parameters, self._parameters)
                inputs = program.inputs.copy_(inputs)
            torch.addmm(program.first_bias, inputs, program.first_weight_t, out=program.first_output)
            for operation in program.encoder_forward:
                operation()
            if program.encoder_path_t is not None:
                program.code.addmm_(inputs, program.encoder_path_t)
            for operation in program.rest_forward:
                operation()
            torch.sub(program.output, target, out=program.error)
            if weights_sqrt is not None:
                program.error.mul_(weights_sqrt)
            loss = torch.dot(program.error_flat, program.error_flat).div_(program.error_flat.numel())
            if weights_sqrt is not None:
                # The backward pass reads the error: the weighted loss's gradient is weights * error.
                program.error.mul_(weights_sqrt)
            for operation in program.backward:
                operation()
            torch.mm(program.first_gradient_t, inputs, out=program.first_weight_gradient)
            if program.encoder_path_gradient is not None:
                torch.mm(program.code_gradient_t, inputs, out=program.encoder_path_gradient)
            if program.inputs is not None:
                torch._foreach_copy_(program.parameter_gradients, self._compute_gradients)
        return loss
