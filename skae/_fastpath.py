"""A hand-written gradient for the plain MLP autoencoder with squared error.

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
only networks and losses it reproduces. Everything else, and any precision
other than float32, goes through autograd. The optimiser step is shared, so
weight decay and Adam's state behave identically on both paths.
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
    """``[(linear, activation type or None), ...]``, or None if not a plain MLP."""
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
    return [tuple(layer) for layer in layers]


class PlainMLPGradient:
    """Loss and parameter gradients of ``decoder(encoder(x))`` under squared error.

    Calling it with ``(inputs, target)`` writes every parameter's ``.grad``
    (overwriting, not accumulating) and returns the loss, ``mean((x_hat -
    target) ** 2)``, as a 0-dim tensor: the same numbers autograd gives for
    :class:`~skae.losses.SquaredError`, up to floating-point rounding.

    Build it with :meth:`for_module`, which returns None where it does not apply.
    """

    def __init__(self, layers):
        self.layers = layers
        self._capacity = 0

    @classmethod
    def for_module(cls, module, loss):
        """A :class:`PlainMLPGradient` for ``module`` and ``loss``, or None if unsupported."""
        if type(loss) is not SquaredError:
            return None
        encoder, decoder = getattr(module, "encoder", None), getattr(module, "decoder", None)
        encoder_layers, decoder_layers = _layers(encoder), _layers(decoder)
        if not encoder_layers or not decoder_layers:
            return None
        layers = encoder_layers + decoder_layers
        parameters = [p for linear, _ in layers for p in (linear.weight, linear.bias)]
        if len({(p.device, p.dtype) for p in parameters}) != 1 or parameters[0].dtype != torch.float32:
            return None
        for (linear, _), (following, _) in zip(layers[:-1], layers[1:]):
            if linear.out_features != following.in_features:
                return None
        return cls(layers)

    def _buffers_for(self, n_rows, like):
        # Allocated for the largest batch seen; smaller batches use leading rows.
        if n_rows > self._capacity:
            widths = [linear.out_features for linear, _ in self.layers]
            self._outputs = [like.new_empty((n_rows, width)) for width in widths]
            self._gradients = [like.new_empty((n_rows, width)) for width in widths]
            self._capacity = n_rows
        return [buffer[:n_rows] for buffer in self._outputs], [buffer[:n_rows] for buffer in self._gradients]

    def __call__(self, inputs, target):
        n_rows = inputs.shape[0]
        outputs, gradients = self._buffers_for(n_rows, inputs)
        with torch.no_grad():
            # Forward, keeping each layer's (activated) output.
            layer_inputs = []
            h = inputs
            for (linear, activation), out in zip(self.layers, outputs):
                layer_inputs.append(h)
                h = torch.addmm(linear.bias, h, linear.weight.t(), out=out)
                if activation is not None:
                    _IN_PLACE[activation](h)
            # d mean((h - target)^2) / dh = 2 (h - target) / h.numel()
            grad = torch.sub(h, target, out=gradients[-1])
            flat = grad.view(-1)
            loss = torch.dot(flat, flat).div_(flat.numel())
            grad.mul_(2.0 / flat.numel())
            # Backward, last layer first.
            for index in range(len(self.layers) - 1, -1, -1):
                linear, activation = self.layers[index]
                if activation is not None:
                    _BACKWARD_FROM_OUTPUT[activation](grad, outputs[index])
                weight, bias = linear.weight, linear.bias
                if weight.grad is None:
                    weight.grad = torch.empty_like(weight)
                if bias.grad is None:
                    bias.grad = torch.empty_like(bias)
                torch.mm(grad.t(), layer_inputs[index], out=weight.grad)
                torch.sum(grad, 0, out=bias.grad)
                if index > 0:
                    grad = torch.mm(grad, weight, out=gradients[index - 1])
        return loss
