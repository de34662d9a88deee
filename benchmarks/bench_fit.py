"""Time skae's fit and inference against hand-written torch and other libraries.

Two comparisons per data shape.

**Fixed settings** (the like-for-like speed comparison). Every contender
trains the same network (hidden (256, 64), 16 components, ReLU, squared
error, Adam at 1e-3, no weight decay, batch 256, shuffled every epoch) for the
same fixed number of epochs (``--epochs``) on the same data. To get there
every contender, skae included, runs with non-default settings (skae's own
defaults are a smaller network, weight decay and a stopping rule): only then
do all of them do the same work, so their times compare. Timings are taken in
one process, interleaved (one run of every contender per round), so a busy
machine slows all of them alike; the report gives medians and each median as
a ratio to the minimal eager loop. Peak RSS is measured for each contender in
a child process of its own (``VmHWM``, reset after the imports and the data
are in place), so the numbers do not mix; both the peak and its growth during
the fit are printed.

Contenders (fit):

- ``eager``: the minimal hand-written loop (tensors converted once,
  ``randperm`` batches, ``torch.optim.Adam`` defaults). The baseline.
- ``eager_fused``: the same loop with ``Adam(fused=True)``.
- ``skae``: ``AutoencoderTransformer.fit``.
- ``skae_bfloat16``: the same with ``precision="bfloat16"`` (matrix products
  in bfloat16; fast where the hardware multiplies bfloat16 natively).
- ``matmul_limit``: only the matrix products of the forward and backward
  passes, without activations, loss, optimiser or batching: a floor no
  trainer of this network reaches.
- ``pyod``, ``skorch``, ``mlpregressor``: PyOD's ``AutoEncoder``, skorch's
  ``NeuralNetRegressor`` and sklearn's ``MLPRegressor`` fitting X -> X, when
  installed. Their architectures match up to details they impose: PyOD and
  MLPRegressor also apply the activation to the code layer.

The final loss printed for each is the mean squared reconstruction error on
the training data after training, computed outside the timed region.

**Defaults** (what a user who sets nothing gets, and what it costs):

- ``skae_defaults``: ``AutoencoderTransformer(n_components=16,
  random_state=0)`` with nothing else set: its own hidden sizes, batch size,
  ``alpha``, stopping rule and ``max_iter``, timed over its whole fit (PCA
  initialisation included). Reported: the epochs it ran (``n_iter_``), its
  time and time per epoch, its final training MSE, and how the epoch time
  drifts over the fit: the last epoch's time over the first's and over the
  median of the first three (the first may include warm-up). The per-epoch
  times come from fitting with ``verbose=True`` (stdout captured and parsed),
  the only setting changed.
- ``eager_decay``: the minimal eager loop on the network of
  ``skae_defaults`` (its hidden sizes and activation, read from
  ``AutoencoderTransformer()``; skae's extra linear paths aside), its batch
  size and learning rate, for exactly the epochs ``skae_defaults`` ran, with
  the weight decay that matches skae's ``alpha``: skae adds
  ``alpha / 2 * ||W||^2`` to the loss summed over the training rows (weights
  only, not biases), a gradient of ``alpha * W / n_samples`` on the mean
  loss, so Adam gets ``weight_decay=alpha / n_samples`` on the weights and 0
  on the biases. ``skae_defaults``' time over ``eager_decay``'s is the cost of skae
  at its defaults against the same work written by hand.

The epoch times are as the verbose lines print them (rounded there). With
``--quick`` this comparison runs once, on the first quarter of the rows.

Inference: ``transform``, ``inverse_transform`` and ``score_samples`` of the
wide data against a raw ``torch.inference_mode`` forward pass of the same
fitted modules over the same batch size.

Usage::

    python benchmarks/bench_fit.py                  # full run (slow)
    python benchmarks/bench_fit.py --quick          # small sizes, 2 repeats (defaults: 1)
    python benchmarks/bench_fit.py --device cuda    # the same on a GPU
    python benchmarks/bench_fit.py --no-defaults    # fixed settings only

Threads default to 1 (``--threads``): on a shared machine more threads make
timings noisier, and every contender gets the same number.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HIDDEN = (256, 64)
N_COMPONENTS = 16
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
SHAPES = {"wide": (20000, 784), "narrow": (100000, 64)}
QUICK_SHAPES = {"wide": (4000, 784), "narrow": (20000, 64)}
# --quick runs the defaults comparison once, on the first quarter of the rows.
QUICK_DEFAULTS_DIVISOR = 4


def make_data(n_samples, n_features, seed=0):
    """Structured float32 data: a nonlinear image of a 32-dimensional latent, plus noise."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_samples, 32), dtype=np.float32)
    mixing = rng.standard_normal((32, n_features), dtype=np.float32) / np.float32(np.sqrt(32))
    X = np.tanh(latent @ mixing)
    X += np.float32(0.1) * rng.standard_normal((n_samples, n_features), dtype=np.float32)
    return X


# -- the contenders -------------------------------------------------------


def torch_network(n_features, hidden=HIDDEN, activation=None):
    """Encoder and decoder as one ``Sequential``; ``activation`` builds a module (default ReLU)."""
    from torch import nn

    activation = activation or nn.ReLU
    sizes = [n_features, *hidden, N_COMPONENTS, *reversed(hidden), n_features]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        # Activations between layers, none on the code or the output.
        if i not in (len(hidden), len(sizes) - 2):
            layers.append(activation())
    return nn.Sequential(*layers)


def mse_of(predict, X):
    import torch

    with torch.inference_mode():
        return float(np.mean((np.asarray(predict(X), dtype=np.float64) - X) ** 2))


def fit_eager(
    X,
    epochs,
    device,
    fused=False,
    hidden=HIDDEN,
    activation=None,
    batch_size=BATCH_SIZE,
    lr=LEARNING_RATE,
    weight_decay=0.0,
    epoch_seconds=None,
):
    """The minimal loop, by default on the fixed network and settings.

    With ``weight_decay``, Adam decays the weights only (a parameter group of
    their own), not the biases. Each epoch's time is appended to the list
    ``epoch_seconds`` if one is given.
    """
    import torch

    torch.manual_seed(0)
    model = torch_network(X.shape[1], hidden, activation).to(device)
    if weight_decay:
        parameters = [
            {"params": [p for name, p in model.named_parameters() if name.endswith("weight")]},
            {"params": [p for name, p in model.named_parameters() if not name.endswith("weight")], "weight_decay": 0.0},
        ]
    else:
        parameters = model.parameters()
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=fused or None)
    data = torch.from_numpy(X).to(device)
    n_samples = data.shape[0]
    for _ in range(epochs):
        tic = time.perf_counter()
        order = torch.randperm(n_samples, device=device)
        for start in range(0, n_samples, batch_size):
            batch = data[order[start : start + batch_size]]
            loss = ((model(batch) - batch) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch_seconds is not None:
            _synchronize(device)
            epoch_seconds.append(time.perf_counter() - tic)
    _synchronize(device)
    return lambda X: model(torch.from_numpy(X).to(device)).cpu().numpy()


def fit_matmul_limit(X, epochs, device):
    """The forward and backward matrix products alone: a floor for any trainer."""
    import torch

    torch.manual_seed(0)
    weights = [layer.weight.detach().to(device) for layer in torch_network(X.shape[1]) if hasattr(layer, "weight")]
    data = torch.from_numpy(X).to(device)
    for _ in range(epochs):
        for start in range(0, data.shape[0], BATCH_SIZE):
            h = data[start : start + BATCH_SIZE]
            inputs = []
            for weight in weights:
                inputs.append(h)
                h = h @ weight.t()
            grad = h
            for index in range(len(weights) - 1, -1, -1):
                grad.t() @ inputs[index]  # weight gradient
                if index:
                    grad = grad @ weights[index]
    _synchronize(device)
    return None


def fit_skae(X, epochs, device, precision="float32"):
    from skae import AutoencoderTransformer

    model = AutoencoderTransformer(
        N_COMPONENTS,
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        loss="squared_error",
        batch_size=BATCH_SIZE,
        learning_rate_init=LEARNING_RATE,
        max_iter=epochs,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=epochs,
        random_state=0,
        device=device,
        precision=precision,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return lambda X: model.inverse_transform(model.transform(X))


def fit_pyod(X, epochs, device):
    import torch
    from pyod.models.auto_encoder import AutoEncoder

    detector = AutoEncoder(
        hidden_neuron_list=[*HIDDEN, N_COMPONENTS],
        epoch_num=epochs,
        batch_size=BATCH_SIZE,
        lr=LEARNING_RATE,
        optimizer_params={"weight_decay": 0.0},
        batch_norm=False,
        dropout_rate=0.0,
        preprocessing=False,
        verbose=0,
        device=device,
    )
    detector.fit(X)
    detector.model.eval()
    return lambda X: detector.model(torch.from_numpy(X).to(device)).cpu().numpy()


def fit_skorch(X, epochs, device):
    import torch
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)
    net = NeuralNetRegressor(
        torch_network(X.shape[1]),
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.Adam,
        lr=LEARNING_RATE,
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
        device=device,
    )
    net.fit(X, X)
    return net.predict


def fit_mlpregressor(X, epochs, device):
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=(*HIDDEN, N_COMPONENTS, *reversed(HIDDEN)),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=BATCH_SIZE,
        learning_rate_init=LEARNING_RATE,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, X)
    return model.predict


FIT_CONTENDERS = {
    "eager": fit_eager,
    "eager_fused": lambda X, epochs, device: fit_eager(X, epochs, device, fused=True),
    "skae": fit_skae,
    "skae_bfloat16": lambda X, epochs, device: fit_skae(X, epochs, device, precision="bfloat16"),
    "matmul_limit": fit_matmul_limit,
    "pyod": fit_pyod,
    "skorch": fit_skorch,
    "mlpregressor": fit_mlpregressor,
}
OPTIONAL = {"pyod": "pyod", "skorch": "skorch", "mlpregressor": "sklearn"}
CPU_ONLY = {"mlpregressor"}


def available_contenders(device, only=None):
    import importlib.util

    names = []
    for name in FIT_CONTENDERS:
        if only and name not in only:
            continue
        if name in OPTIONAL and importlib.util.find_spec(OPTIONAL[name]) is None:
            print(f"# {name}: not installed, skipped")
            continue
        if name in CPU_ONLY and not device.startswith("cpu"):
            continue
        names.append(name)
    return names


def _synchronize(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# -- skae at its defaults ---------------------------------------------------


def fit_skae_defaults(X):
    """``AutoencoderTransformer`` with nothing set but the components and the seed.

    ``verbose=True`` (the one other setting) prints a line per epoch; they are
    captured and returned with the fitted model.
    """
    import contextlib
    import io

    from skae import AutoencoderTransformer

    model = AutoencoderTransformer(n_components=N_COMPONENTS, random_state=0, verbose=True)
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        model.fit(X)
    return model, printed.getvalue()


def epoch_seconds(printed):
    """Per-epoch times from skae's verbose lines ``Epoch N: train loss X, ... 0.12 s``."""
    seconds = []
    for line in printed.splitlines():
        line = line.strip()
        if line.startswith("Epoch ") and line.endswith(" s"):
            # The time is the last number on the line, before " s".
            seconds.append(float(line[: -len(" s")].split()[-1]))
    return seconds


def epoch_drift(seconds):
    """First, median and last epoch time; the last over the first and over the median of the first three."""
    if not seconds:
        return {key: math.nan for key in ("first", "median", "last", "last/first", "last/first3")}

    def over(numerator, denominator):  # printed times are rounded and may read 0.00
        return numerator / denominator if denominator > 0 else math.nan

    return {
        "first": seconds[0],
        "median": statistics.median(seconds),
        "last": seconds[-1],
        "last/first": over(seconds[-1], seconds[0]),
        "last/first3": over(seconds[-1], statistics.median(seconds[:3])),
    }


def default_settings(n_samples):
    """What ``eager_decay`` needs to do ``skae_defaults``' work: network, batch, learning rate, decay."""
    from skae import AutoencoderTransformer
    from skae._network import ACTIVATIONS

    defaults = AutoencoderTransformer()
    hidden = defaults.hidden_layer_sizes
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    # The rule behind batch_size="auto" lives in this private method.
    batch_size = defaults._batch_size(n_samples)
    return {
        "hidden": hidden,
        "activation": ACTIVATIONS[defaults.activation],
        "batch_size": batch_size,
        "lr": defaults.learning_rate_init,
        # skae's L2 term alpha / 2 * ||W||^2 on the summed loss has gradient
        # alpha * W / n_samples on the mean: Adam's weight_decay adds weight_decay * W.
        "weight_decay": defaults.alpha / n_samples,
    }


def compare_defaults(shape_name, X, repeats, args):
    """Time ``skae_defaults`` against ``eager_decay`` (same network, epochs and decay), interleaved."""
    from skae import AutoencoderTransformer

    settings = default_settings(X.shape[0])
    # Warm-up: first-call initialisation of both, on a slice and one epoch.
    warm_up = X[: 2 * settings["batch_size"]]
    fit_eager(warm_up, 1, args.device, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AutoencoderTransformer(N_COMPONENTS, max_iter=1, random_state=0).fit(warm_up)
    times = {"skae_defaults": [], "eager_decay": []}
    epochs, device, drifts, eager_drifts, losses = None, args.device, [], [], {}
    for _ in range(repeats):
        seconds, (model, printed) = timed(lambda: fit_skae_defaults(X), device)
        times["skae_defaults"].append(seconds)
        per_epoch = epoch_seconds(printed)
        if len(per_epoch) != model.n_iter_:
            print(f"# parsed {len(per_epoch)} epoch lines from the verbose output, expected {model.n_iter_}")
        drifts.append(epoch_drift(per_epoch))
        if epochs is None:
            epochs = model.n_iter_
            # skae picks its device itself (device="auto"); the loop follows it.
            device = str(next(model.encoder_.parameters()).device)
            if device != args.device:
                print(f"# skae_defaults ran on {device}, not --device {args.device}; eager_decay follows it")
            losses["skae_defaults"] = mse_of(lambda X: model.inverse_transform(model.transform(X)), X)
        elif model.n_iter_ != epochs:
            print(f"# skae_defaults ran {model.n_iter_} epochs this round, {epochs} in the first")
        eager_epochs = []
        seconds, predict = timed(lambda: fit_eager(X, epochs, device, epoch_seconds=eager_epochs, **settings), device)
        times["eager_decay"].append(seconds)
        eager_drifts.append(epoch_drift(eager_epochs))
        losses.setdefault("eager_decay", mse_of(predict, X))

    n_samples, n_features = X.shape
    report(f"defaults {shape_name} {n_samples}x{n_features}", times, "eager_decay")
    skae_median = statistics.median(times["skae_defaults"])
    print(
        f"skae_defaults: {epochs} epochs (max_iter {model.max_iter}), hidden {settings['hidden']}, "
        f"batch {settings['batch_size']}, eager_decay weight_decay {settings['weight_decay']:.3g}"
    )
    print(
        f"time per epoch (median fit / epochs): skae_defaults {skae_median / epochs:.4f} s, "
        f"eager_decay {statistics.median(times['eager_decay']) / epochs:.4f} s"
    )
    drift = {key: statistics.median(run[key] for run in drifts) for key in drifts[0]}
    print(
        f"skae_defaults epoch times as printed by verbose=True, medians over runs: first {drift['first']:.3f} s, "
        f"median {drift['median']:.3f} s, last {drift['last']:.3f} s"
    )
    print(f"last epoch / first epoch {drift['last/first']:.2f}, last / median of first 3 {drift['last/first3']:.2f}")
    # The control: torch's own loop shares none of skae's code, so a drift it
    # shows too comes from the machine (sustained load), not from skae.
    eager_drift = {key: statistics.median(run[key] for run in eager_drifts) for key in eager_drifts[0]}
    print(
        f"control, eager_decay in the same runs: last epoch / first epoch {eager_drift['last/first']:.2f}, "
        f"last / median of first 3 {eager_drift['last/first3']:.2f}"
    )
    print("final training MSE: " + ", ".join(f"{name} {loss:.5f}" for name, loss in losses.items()))
    print(
        "skae at its defaults over the eager loop with matching weight decay, same epochs and network: "
        f"{skae_median / statistics.median(times['eager_decay']):.2f}"
    )


# -- inference ------------------------------------------------------------


def inference_pairs(X, device):
    """(name, skae call, raw torch call) for each inference method, on one fitted model."""
    import torch

    from skae import AutoencoderTransformer
    from skae._engine import INFERENCE_BATCH_SIZE

    model = AutoencoderTransformer(
        N_COMPONENTS, hidden_layer_sizes=HIDDEN, batch_size=BATCH_SIZE, max_iter=1, random_state=0, device=device
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    encoder, decoder = model.encoder_, model.decoder_
    codes = model.transform(X)

    def raw(function, data):
        def run():
            with torch.inference_mode():
                outputs = [
                    function(torch.from_numpy(data[start : start + INFERENCE_BATCH_SIZE]).to(device))
                    for start in range(0, data.shape[0], INFERENCE_BATCH_SIZE)
                ]
                return torch.cat(outputs).cpu().numpy()

        return run

    def raw_score_samples():
        with torch.inference_mode():
            scores = []
            for start in range(0, X.shape[0], INFERENCE_BATCH_SIZE):
                batch = torch.from_numpy(X[start : start + INFERENCE_BATCH_SIZE]).to(device)
                scores.append(-(decoder(encoder(batch)) - batch).square().mean(dim=1))
            return torch.cat(scores).cpu().numpy()

    return [
        ("transform", lambda: model.transform(X), raw(encoder, X)),
        ("inverse_transform", lambda: model.inverse_transform(codes), raw(decoder, codes)),
        ("score_samples", lambda: model.score_samples(X), raw_score_samples),
    ]


# -- measurement ----------------------------------------------------------


def timed(function, device):
    tic = time.perf_counter()
    result = function()
    _synchronize(device)
    return time.perf_counter() - tic, result


def peak_rss_mib(name, n_samples, n_features, args):
    """Peak RSS of one fit, in a fresh child process."""
    command = [
        sys.executable,
        __file__,
        "--rss-child",
        name,
        "--rss-shape",
        f"{n_samples}x{n_features}",
        "--epochs",
        str(args.epochs),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return json.loads(output.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"# RSS child for {name} failed:\n{output.stderr[-2000:]}")
        return {"baseline": float("nan"), "peak": float("nan"), "reset": False}


def _status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak_rss():
    """Make the peak RSS start again from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


LIBRARIES = {
    "skae": "skae",
    "skae_bfloat16": "skae",
    "pyod": "pyod.models.auto_encoder",
    "skorch": "skorch",
    "mlpregressor": "sklearn.neural_network",
}


def rss_child(name, shape, args):
    """Peak RSS of one fit: imports and data first, then the peak is reset and the fit runs.

    Linux's ``ru_maxrss`` survives ``exec`` and cannot be reset, so this reads
    ``VmHWM`` from ``/proc/self/status``, reset through ``/proc/self/clear_refs``.
    """
    import importlib

    importlib.import_module(LIBRARIES.get(name, "torch"))
    if name.endswith("+sklearn"):
        importlib.import_module("sklearn.base")
        name = name.removesuffix("+sklearn")
    n_samples, n_features = (int(v) for v in shape.split("x"))
    X = make_data(n_samples, n_features)
    reset = _reset_peak_rss()
    baseline = _status_mib("VmRSS")
    FIT_CONTENDERS[name](X, args.epochs, args.device)
    peak = _status_mib("VmHWM")
    print(json.dumps({"baseline": baseline, "peak": peak, "reset": reset}))


def _print_peak_rss(names, n_samples, n_features, args):
    print("peak RSS of one fit, each in a child process, MiB; in brackets the RSS before")
    print("the fit (imports and data) and the growth during the fit:")
    # The eager loop again in a process that has imported scikit-learn, as
    # every scikit-learn estimator's process has.
    extra = ["eager+sklearn"] if "eager" in names else []
    for name in names + extra:
        rss = peak_rss_mib(name, n_samples, n_features, args)
        print(f"{name:>22}: {rss['peak']:8.1f}   ({rss['baseline']:.1f}, +{rss['peak'] - rss['baseline']:.1f})")


def report(title, times, baseline):
    """Medians and minima, each with its ratio to the baseline's.

    On a shared machine noise only adds time, so the minimum of interleaved
    runs is the steadier estimate of what each contender costs.
    """
    print(f"\n## {title} ({len(next(iter(times.values())))} interleaved runs, seconds)")
    print(f"{'':>22}  {'median':>8} {'ratio':>6}   {'min':>8} {'ratio':>6}")
    median_reference, min_reference = statistics.median(times[baseline]), min(times[baseline])
    for name, values in times.items():
        median, fastest = statistics.median(values), min(values)
        print(
            f"{name:>22}: {median:8.3f} {median / median_reference:6.2f}   "
            f"{fastest:8.3f} {fastest / min_reference:6.2f}"
        )


def compare_fixed(shape_name, X, names, args):
    """Time the fixed-setting contenders ``names`` on ``X``, interleaved."""
    for name in names:  # warm-up: imports, first-call initialisation
        FIT_CONTENDERS[name](X[: 2 * BATCH_SIZE], 1, args.device)
    times = {name: [] for name in names}
    losses = {}
    for _ in range(args.repeats):
        for name in names:
            seconds, predict = timed(lambda: FIT_CONTENDERS[name](X, args.epochs, args.device), args.device)
            times[name].append(seconds)
            if predict is not None and name not in losses:
                losses[name] = mse_of(predict, X)
    n_samples, n_features = X.shape
    baseline = "eager" if "eager" in times else names[0]
    report(f"fit {shape_name} {n_samples}x{n_features}", times, baseline)
    print("final training MSE: " + ", ".join(f"{name} {loss:.5f}" for name, loss in losses.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for every contender")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--quick", action="store_true", help="small shapes, 2 repeats, 2 epochs; defaults: 1 run on 1/4 of the rows"
    )
    parser.add_argument("--shapes", nargs="*", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument(
        "--only",
        nargs="*",
        help="fit contenders to run (default: all available); skae_defaults for the defaults comparison",
    )
    parser.add_argument("--no-defaults", action="store_true", help="skip skae_defaults against eager_decay")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak RSS children")
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS children, no timings")
    parser.add_argument("--no-inference", action="store_true")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--rss-shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.epochs = min(args.repeats, 2), min(args.epochs, 2)

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)

    if args.rss_child:
        rss_child(args.rss_child, args.rss_shape, args)
        return

    shapes = QUICK_SHAPES if args.quick else SHAPES
    names = available_contenders(args.device, args.only)
    run_defaults = not args.no_defaults and (not args.only or "skae_defaults" in args.only)
    import skae

    print(
        f"# torch {torch.__version__}, device {args.device}, threads {args.threads}, "
        f"epochs {args.epochs}, batch {BATCH_SIZE}, repeats {args.repeats}"
    )
    # The script's folder, not the checkout, is on sys.path: an installed
    # copy of skae is what runs, so say which.
    print(f"# skae {skae.__version__} from {os.path.dirname(skae.__file__)}")
    for shape_name in args.shapes:
        n_samples, n_features = shapes[shape_name]
        if args.rss_only:
            print(f"\n## fit {shape_name} {n_samples}x{n_features}")
            _print_peak_rss(names, n_samples, n_features, args)
            continue
        X = make_data(n_samples, n_features)
        if names:
            compare_fixed(shape_name, X, names, args)
            if not args.no_rss:
                _print_peak_rss(names, n_samples, n_features, args)
        if run_defaults:
            if args.quick:  # 200 epochs or so at the defaults: fewer rows, one run
                compare_defaults(shape_name, X[: n_samples // QUICK_DEFAULTS_DIVISOR], 1, args)
            else:
                compare_defaults(shape_name, X, args.repeats, args)

    if not args.no_inference and not args.rss_only:
        n_samples, n_features = shapes["wide"]
        X = make_data(n_samples, n_features)
        pairs = inference_pairs(X, args.device)
        for method, ours, raw in pairs:
            ours(), raw()  # warm-up
            times = {f"skae {method}": [], "raw torch forward": []}
            for _ in range(max(args.repeats, 3)):
                times[f"skae {method}"].append(timed(ours, args.device)[0])
                times["raw torch forward"].append(timed(raw, args.device)[0])
            report(f"inference {method} {n_samples}x{n_features}", times, "raw torch forward")


if __name__ == "__main__":
    main()
