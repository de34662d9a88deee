"""What each part of skae's training fast path is worth, step by step.

One training step (gradient and Adam update) of a plain network, timed
three ways on the same network and batch, interleaved, medians of rounds:

- ``program``: skae's :class:`~skae._fastpath.PlainMLPGradient`, whose
  operations are bound to their buffers once per batch size;
- ``loop``: the same hand-written gradient and buffers, its operations
  called in a plain Python loop every step (what the pre-bound program saves);
- ``autograd``: the forward pass and ``loss.backward()``, what every
  non-plain model uses.

Shapes: small tables at skae's defaults (hidden (100,), batch 32, as
``batch_size="auto"`` gives a few hundred rows), and the network and batch
of ``bench_fit.py``'s narrow and wide shapes at the defaults (batch 256).
Run alone: another torch process on the machine ruins the timings.

    python benchmarks/bench_fastpath.py [--threads 1]
"""

import argparse
import statistics
import time

import torch

from skae._fastpath import _IN_PLACE, PlainMLPGradient, _new_buffers
from skae._network import build_network
from skae._optim import FlatAdam
from skae.losses import SquaredError

_BACKWARD = {
    torch.nn.ReLU: lambda grad, output: torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad),
    torch.nn.Tanh: lambda grad, output: torch.ops.aten.tanh_backward.grad_input(grad, output, grad_input=grad),
    torch.nn.Sigmoid: lambda grad, output: torch.ops.aten.sigmoid_backward.grad_input(grad, output, grad_input=grad),
}

SHAPES = [
    # (name, n_features, hidden, n_components, batch)
    ("small table, wine-like", 13, (100,), 3, 32),
    ("small table, breast-cancer-like", 30, (100,), 7, 32),
    ("narrow 64 features", 64, (100,), 16, 256),
    ("wide 784 features", 784, (100,), 16, 256),
]


class LoopGradient(PlainMLPGradient):
    """The same gradient, buffers and float32 arithmetic, called as a plain loop each step."""

    def _views(self, n_rows, like):
        views = self._programs.get(n_rows)
        if views is None:
            if n_rows > self._capacity:
                self._outputs = _new_buffers(self.layers, n_rows, like)
                self._gradients = _new_buffers(self.layers, n_rows, like)
                self._capacity, self._programs = n_rows, {}
            views = ([b[:n_rows] for b in self._outputs], [b[:n_rows] for b in self._gradients])
            self._programs[n_rows] = views
        return views

    def __call__(self, inputs, target):
        outputs, gradients = self._views(inputs.shape[0], inputs)
        targets = self._gradient_buffers()
        n_layers = len(self.layers)
        code, last, n_layer_parameters = self.n_encoder_layers - 1, n_layers - 1, 2 * n_layers
        encoder_path, decoder_path = self._encoder_path, self._decoder_path
        parameters = self._compute_parameters
        with torch.no_grad():
            h = inputs
            for index, ((_, activation), out) in enumerate(zip(self.layers, outputs)):
                torch.addmm(parameters[2 * index + 1], h, self._weights_t[index], out=out)
                if index == code and encoder_path is not None:
                    out.addmm_(inputs, self._encoder_path_t)
                if index == last and decoder_path is not None:
                    out.addmm_(outputs[code], decoder_path.t())
                if activation is not None:
                    _IN_PLACE[activation](out)
                h = out
            error = gradients[-1]
            torch.sub(outputs[-1], target, out=error)
            flat = error.view(-1)
            loss = torch.dot(flat, flat).div_(flat.numel())
            error.mul_(2.0 / flat.numel())
            for index in range(last, -1, -1):
                activation = self.layers[index][1]
                if activation is not None:
                    _BACKWARD[activation](gradients[index], outputs[index])
                if index == last and decoder_path is not None:
                    path_index = n_layer_parameters + (encoder_path is not None)
                    torch.mm(gradients[index].t(), outputs[code], out=targets[path_index])
                layer_input = inputs if index == 0 else outputs[index - 1]
                torch.mm(gradients[index].t(), layer_input, out=targets[2 * index])
                torch.sum(gradients[index], 0, out=targets[2 * index + 1])
                if index == code and encoder_path is not None:
                    torch.mm(gradients[code].t(), inputs, out=targets[n_layer_parameters])
                if index > 0:
                    torch.mm(gradients[index], parameters[2 * index], out=gradients[index - 1])
                    if index - 1 == code and decoder_path is not None:
                        gradients[code].addmm_(gradients[-1], decoder_path)
        return loss


def step_times(n_features, hidden, n_components, batch, n_steps, rounds):
    network = build_network(
        0,
        n_features=n_features,
        n_components=n_components,
        hidden_layer_sizes=hidden,
        activation="relu",
        linear_path=True,
    )
    for parameter in network.parameters():  # away from the zero start, so no product is trivial
        torch.nn.init.normal_(parameter, std=0.1)
    x = torch.randn(batch, n_features)
    optimizer = FlatAdam(network, learning_rate=1e-5, weight_decay=1e-6)
    optimizer.attach()
    program = PlainMLPGradient.for_module(network, SquaredError())
    loop = LoopGradient.for_module(network, SquaredError())
    torch.testing.assert_close(program(x, x), loop(x, x))

    def autograd_gradient(inputs, target):
        loss = (network.decoder(network.encoder(inputs)) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        return loss

    steps = {"program": program, "loop": loop, "autograd": autograd_gradient}
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, gradient in steps.items():
            for _ in range(10):
                gradient(x, x)
                optimizer.step()
            tic = time.perf_counter()
            for _ in range(n_steps):
                gradient(x, x)
                optimizer.step()
            times[name].append((time.perf_counter() - tic) / n_steps * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, threads {args.threads}; microseconds per step (gradient + Adam), medians")
    print(f"{'shape':<34} {'program':>8} {'loop':>8} {'autograd':>9} {'loop/program':>13} {'autograd/program':>17}")
    for name, n_features, hidden, n_components, batch in SHAPES:
        n_steps = max(50, 100_000 // (n_features * batch // 8 + 1))
        t = step_times(n_features, hidden, n_components, batch, min(n_steps, 400), args.rounds)
        print(
            f"{name:<34} {t['program']:>8.0f} {t['loop']:>8.0f} {t['autograd']:>9.0f} "
            f"{t['loop'] / t['program']:>13.2f} {t['autograd'] / t['program']:>17.2f}"
        )


if __name__ == "__main__":
    main()
