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
        # Python-side views cost about as much as small kernels, so the
        # transposed weights and every buffer view are made once, not per batch.
        self._weights_t = [linear.weight.t() for linear, _ in layers]
        self._capacity = 0
        self._views = {}

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
        """Per-layer output and gradient buffers for a batch of ``n_rows``, and their views."""
        if n_rows > self._capacity:
            # Allocated for the largest batch seen; smaller batches use leading rows.
            widths = [linear.out_features for linear, _ in self.layers]
            self._outputs = [like.new_empty((n_rows, width)) for width in widths]
            self._gradients = [like.new_empty((n_rows, width)) for width in widths]
            self._capacity = n_rows
            self._views = {}
        if n_rows not in self._views:
            outputs = [buffer[:n_rows] for buffer in self._outputs]
            gradients = [buffer[:n_rows] for buffer in self._gradients]
            self._views[n_rows] = (outputs, gradients, [gradient.t() for gradient in gradients])
        return self._views[n_rows]

    def _gradient_buffers(self):
        for linear, _ in self.layers:
            for parameter in (linear.weight, linear.bias):
                if parameter.grad is None:
                    parameter.grad = torch.empty_like(parameter)
        return [(linear.weight.grad, linear.bias.grad) for linear, _ in self.layers]

    def __call__(self, inputs, target):
        outputs, gradients, gradients_t = self._buffers_for(inputs.shape[0], inputs)
        parameter_gradients = self._gradient_buffers()
        with torch.no_grad():
            # Forward, keeping each layer's (activated) output.
            h = inputs
            for (linear, activation), weight_t, out in zip(self.layers, self._weights_t, outputs):
                h = torch.addmm(linear.bias, h, weight_t, out=out)
                if activation is not None:
                    _IN_PLACE[activation](h)
            # d mean((h - target)^2) / dh = 2 (h - target) / h.numel()
            grad = torch.sub(h, target, out=gradients[-1])
            flat = grad.view(-1)
            loss = torch.dot(flat, flat).div_(flat.numel())
            grad.mul_(2.0 / flat.numel())
            # Backward, last layer first; the input of layer i is the output of i - 1.
            for index in range(len(self.layers) - 1, -1, -1):
                linear, activation = self.layers[index]
                if activation is not None:
                    _BACKWARD_FROM_OUTPUT[activation](gradients[index], outputs[index])
                weight_grad, bias_grad = parameter_gradients[index]
                layer_input = outputs[index - 1] if index > 0 else inputs
                torch.mm(gradients_t[index], layer_input, out=weight_grad)
                torch.sum(gradients[index], 0, out=bias_grad)
                if index > 0:
                    torch.mm(gradients[index], linear.weight, out=gradients[index - 1])
        return loss
