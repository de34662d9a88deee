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
_BACKWARD_FROM_OUTPUT = {
    # relu(x) > 0 exactly where x > 0, so the output gives the mask.
    nn.ReLU: lambda grad, output: torch.ops.aten.threshold_backward.grad_input(
        grad, output, 0, grad_input=grad
    ),
    nn.Tanh: lambda grad, output: torch.ops.aten.tanh_backward.grad_input(grad, output, grad_input=grad),
    nn.Sigmoid: lambda grad, output: torch.ops.aten.sigmoid_backward.grad_input(
        grad, output, grad_input=grad
    ),
}


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
        self._views = {}

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

    def _buffers_for(self, n_rows, like):
        """Per-layer output and gradient buffers for a batch of ``n_rows``, and their views."""
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
            self._views = {}
        if n_rows not in self._views:
            outputs = [buffer[:n_rows] for buffer in self._outputs]
            gradients = [buffer[:n_rows] for buffer in self._gradients]
            inputs = None if self._inputs is None else self._inputs[:n_rows]
            self._views[n_rows] = (
                outputs, gradients, [gradient.t() for gradient in gradients], inputs, self._error[:n_rows]
            )  # fmt: skip
        return self._views[n_rows]

    def _gradient_buffers(self):
        for parameter in self._parameters:
            if parameter.grad is None:
                parameter.grad = torch.empty_like(parameter)
        return [parameter.grad for parameter in self._parameters]

    def __call__(self, inputs, target):
        outputs, gradients, gradients_t, compute_inputs, error = self._buffers_for(inputs.shape[0], inputs)
        parameter_gradients = self._gradient_buffers()
        low_precision = compute_inputs is not None
        with torch.no_grad():
            if low_precision:
                torch._foreach_copy_(self._compute_parameters, self._parameters)
                inputs = compute_inputs.copy_(inputs)
                gradient_targets = self._compute_gradients
            else:
                gradient_targets = parameter_gradients
            weights, biases = self._compute_parameters[0::2], self._compute_parameters[1::2]
            # Forward, keeping each layer's (activated) output.
            h = inputs
            for (_, activation), weight_t, bias, out in zip(self.layers, self._weights_t, biases, outputs):
                h = torch.addmm(bias, h, weight_t, out=out)
                if activation is not None:
                    _IN_PLACE[activation](h)
            # d mean((h - target)^2) / dh = 2 (h - target) / h.numel(); the error in float32.
            torch.sub(h, target, out=error)
            flat = error.view(-1)
            loss = torch.dot(flat, flat).div_(flat.numel())
            torch.mul(error, 2.0 / flat.numel(), out=gradients[-1])
            # Backward, last layer first; the input of layer i is the output of i - 1.
            for index in range(len(self.layers) - 1, -1, -1):
                activation = self.layers[index][1]
                if activation is not None:
                    _BACKWARD_FROM_OUTPUT[activation](gradients[index], outputs[index])
                layer_input = outputs[index - 1] if index > 0 else inputs
                torch.mm(gradients_t[index], layer_input, out=gradient_targets[2 * index])
                torch.sum(gradients[index], 0, out=gradient_targets[2 * index + 1])
                if index > 0:
                    torch.mm(gradients[index], weights[index], out=gradients[index - 1])
            if low_precision:
                torch._foreach_copy_(parameter_gradients, gradient_targets)
        return loss
