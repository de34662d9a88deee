"""The ``skae`` command line: autoencoders on a CSV file, without writing code.

Two commands::

    skae detect data.csv -o scores.csv   # per-row anomaly scores, flags, top features
    skae reduce data.csv -n 2            # per-row latent codes

Each reads a CSV of numeric columns (or, without a file, a dataset that ships
with scikit-learn), scales it, fits a model (or loads one with ``--load``),
and writes a CSV to ``-o`` or standard output. Notes and progress go to
standard error so that standard output stays a clean CSV. Run ``skae COMMAND
--help`` for every option.
"""

import argparse
import ast
import contextlib
import os
import sys
import time
import warnings

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

import skae

from . import losses
from ._network import ACTIVATIONS

# Command-line model names and the skae classes they stand for; a name is
# offered only where its class exists in this installation.
MODEL_CLASSES = {
    "autoencoder": "AutoencoderTransformer",
    "denoising": "DenoisingAutoencoder",
    "sparse": "SparseAutoencoder",
    "contractive": "ContractiveAutoencoder",
    "variational": "VariationalAutoencoder",
}
MODELS = {name: getattr(skae, cls) for name, cls in MODEL_CLASSES.items() if hasattr(skae, cls)}

# Loss terms by command-line name: (class, name of its one parameter or None).
LOSS_TERMS = {
    "squared_error": (losses.SquaredError, None),
    "l2": (losses.SquaredError, None),
    "absolute_error": (losses.AbsoluteError, None),
    "l1": (losses.AbsoluteError, None),
    "huber": (losses.Huber, "delta"),
    "lp": (losses.Lp, "p"),
    "binary_crossentropy": (losses.BinaryCrossEntropy, None),
    "bce": (losses.BinaryCrossEntropy, None),
}

DEFAULTS = {
    "model": "autoencoder",
    "hidden_layer_sizes": (100,),
    "activation": "relu",
    "loss": "squared_error",
    "epochs": 200,
    "batch_size": "auto",
    "learning_rate": 1e-3,
    "device": "auto",
    "random_state": 0,
    "scale": "auto",
    "contamination": 0.1,
}

# Options that describe the autoencoder itself.
AUTOENCODER_OPTIONS = [
    "model", "n_components", "hidden_layer_sizes", "activation", "loss", "epochs", "batch_size",
    "learning_rate", "early_stopping", "device", "param",
]  # fmt: skip
# Options that shape the fitted model; with --load they have no effect.
MODEL_OPTIONS = AUTOENCODER_OPTIONS + ["random_state", "scale", "contamination"]


# The models compute in float32: more digits than this would be noise.
FLOAT_FORMAT = "%.7g"


class CommandLineError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


# -- parsing ---------------------------------------------------------------


def parse_loss(text):
    """A loss from its command-line spelling.

    ``squared_error``, ``absolute_error``, ``huber``, ``binary_crossentropy``
    (or ``l2``, ``l1``, ``bce``); ``huber:DELTA`` and ``lp:P`` set the
    parameter; terms add with ``+`` and take a weight with ``*``, as in
    ``l1+0.5*l2``.
    """
    total = None
    for term in text.replace(" ", "").lower().split("+"):
        weight = None
        if "*" in term:
            weight_text, term = term.split("*", 1)
            weight = _number(weight_text, f"loss weight in {text!r}")
        name, _, parameter_text = term.partition(":")
        if name not in LOSS_TERMS:
            raise argparse.ArgumentTypeError(
                f"unknown loss {name!r} in {text!r}; use {', '.join(LOSS_TERMS)}, "
                "e.g. 'huber:2', 'lp:0.5' or 'l1+l2'"
            )
        loss_class, parameter = LOSS_TERMS[name]
        if parameter_text and parameter is None:
            raise argparse.ArgumentTypeError(f"the loss {name!r} takes no parameter (got {term!r})")
        loss = loss_class()
        if parameter_text:
            loss.set_params(**{parameter: _number(parameter_text, f"{name} {parameter}")})
        if weight is not None:
            loss = weight * loss
        total = loss if total is None else total + loss
    return total


def _number(text, what):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None


def parse_layer_sizes(text):
    """``"64,32"`` -> ``(64, 32)``; an empty string gives no hidden layer."""
    try:
        sizes = tuple(int(size) for size in text.replace(" ", "").split(",") if size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 64,32, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def parse_param(text):
    """``NAME=VALUE`` -> ``(NAME, VALUE)``, the value read as a Python literal where it is one."""
    name, equals, value_text = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(value_text)
    except (ValueError, SyntaxError):
        value = value_text
    return name.strip(), value


def parse_batch_size(text):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def build_parser():
    """The ``argparse`` parser of the ``skae`` command."""
    parser = argparse.ArgumentParser(
        prog="skae",
        description=(
            "Autoencoders on a CSV file of numeric columns: score rows for anomalies "
            "(detect) or compress them to a few columns (reduce). Without a file, runs "
            "on a dataset that ships with scikit-learn."
        ),
        epilog="Run 'skae COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"skae {skae.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    detect = commands.add_parser(
        "detect",
        help="per-row anomaly scores, flags and the features that explain them",
        description=(
            "Fit an autoencoder anomaly detector and write one row per input row: "
            "anomaly_score (how far the row's reconstruction residual lies from the "
            "training rows' residuals, a Mahalanobis distance; higher is more "
            "anomalous), is_anomaly (1 for the "
            "contamination share of highest training scores) and, for flagged rows, "
            "top_features (the features with the largest share of the row's error). Without model options the detector's default autoencoder, "
            "sized to the data, is used; any model option builds an explicit one from "
            "the options given and the defaults shown."
        ),
    )
    reduce = commands.add_parser(
        "reduce",
        help="per-row latent codes (dimensionality reduction)",
        description="Fit an autoencoder and write each row's code of n_components numbers.",
    )
    for command in (detect, reduce):
        _add_common_arguments(command)
    detect.add_argument(
        "-n",
        "--n-components",
        type=int,
        help="latent code size (default: 1, as the detector's own default)",
    )
    detect.add_argument(
        "--contamination",
        type=float,
        help=f"expected share of anomalies, in (0, 0.5], sets the flag threshold "
        f"(default: {DEFAULTS['contamination']})",
    )
    detect.add_argument(
        "--top-features",
        type=int,
        default=3,
        metavar="K",
        help="how many features to name per flagged row (default: 3; 0 to leave out)",
    )
    reduce.add_argument("-n", "--n-components", type=int, help="latent code size (default: 2)")
    return parser


def _add_common_arguments(parser):
    data = parser.add_argument_group("data")
    data.add_argument(
        "file",
        nargs="?",
        help="CSV file with a header row and numeric columns ('-' reads standard input); "
        "without it, a scikit-learn dataset is used",
    )
    data.add_argument("-o", "--output", metavar="PATH", help="write the CSV here (default: standard output)")
    data.add_argument("--sep", default=",", help="column separator (default: ',')")
    data.add_argument(
        "--index-col",
        metavar="NAME",
        help="a column that identifies rows (an ID): kept in the output, not used as a feature",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=list(MODELS),
        help=f"which autoencoder (default: {DEFAULTS['model']})",
    )
    model.add_argument(
        "--hidden-layer-sizes",
        type=parse_layer_sizes,
        metavar="SIZES",
        help="encoder hidden widths, comma-separated, mirrored by the decoder (default: 100)",
    )
    model.add_argument("--activation", choices=list(ACTIVATIONS), help=f"hidden activation (default: {DEFAULTS['activation']})")
    model.add_argument(
        "--loss",
        type=parse_loss,
        help="reconstruction loss: squared_error (l2), absolute_error (l1), huber[:DELTA], "
        "lp:P, binary_crossentropy (bce), or a weighted sum like 'l1+0.5*l2' "
        f"(default: {DEFAULTS['loss']})",
    )
    model.add_argument("--epochs", type=int, help=f"maximum training epochs (default: {DEFAULTS['epochs']})")
    model.add_argument("--batch-size", type=parse_batch_size, help="minibatch size (default: auto, rows // 40 within 32..256)")
    model.add_argument(
        "--learning-rate", type=float, help=f"Adam step size (default: {DEFAULTS['learning_rate']})"
    )
    model.add_argument(
        "--early-stopping",
        action="store_true",
        default=None,
        help="hold out 10%% of the rows and stop when their loss stops improving",
    )
    model.add_argument(
        "--scale",
        choices=["auto", "standard", "minmax", "robust", "none"],
        help="column scaling before the model: standard (zero mean, unit variance), minmax "
        "(to [0, 1], needed by binary cross-entropy), robust (median and quartiles) or none "
        "(default: auto, minmax for detect and for binary cross-entropy, standard otherwise)",
    )
    model.add_argument(
        "--device", help="auto, cpu, cuda, cuda:N or mps (default: auto, a GPU when there is one)"
    )
    model.add_argument(
        "--random-state",
        type=int,
        help=f"seed; the same seed gives the same output on the same machine (default: {DEFAULTS['random_state']})",
    )
    model.add_argument(
        "--param",
        type=parse_param,
        action="append",
        metavar="NAME=VALUE",
        help="any other parameter of the model class, e.g. --param alpha=0.001; repeatable",
    )

    persistence = parser.add_argument_group("saving and loading")
    persistence.add_argument("--save", metavar="PATH", help="save the fitted model (scaler included) with joblib")
    persistence.add_argument(
        "--load",
        metavar="PATH",
        help="use a model saved with --save instead of fitting one (only load files you trust: "
        "loading runs pickled code)",
    )

    messages = parser.add_argument_group("messages")
    verbosity = messages.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="print the loss of every epoch (the default on a terminal)"
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


# -- data ------------------------------------------------------------------


def read_data(args, notes):
    """The numeric DataFrame to work on, with a clear error for anything else."""
    if args.file is None:
        from sklearn.datasets import load_wine

        data = load_wine(as_frame=True).data
        notes(
            f"No CSV file given: using scikit-learn's wine dataset ({data.shape[0]} rows x "
            f"{data.shape[1]} columns, sklearn.datasets.load_wine). Pass a file to use your own data."
        )
        return data
    source = sys.stdin if args.file == "-" else args.file
    name = "standard input" if args.file == "-" else repr(args.file)
    try:
        data = pd.read_csv(source, sep=args.sep)
    except FileNotFoundError:
        raise CommandLineError(f"cannot read {name}: no such file") from None
    except IsADirectoryError:
        raise CommandLineError(f"cannot read {name}: it is a directory, not a CSV file") from None
    except PermissionError:
        raise CommandLineError(f"cannot read {name}: permission denied") from None
    except UnicodeDecodeError:
        raise CommandLineError(f"cannot read {name}: it is not a text (CSV) file") from None
    except pd.errors.EmptyDataError:
        raise CommandLineError(f"cannot read {name}: it is empty") from None
    except pd.errors.ParserError as error:
        raise CommandLineError(f"cannot read {name} as CSV: {_first_line(error)}") from None
    except ValueError as error:
        raise CommandLineError(f"cannot read {name}: {_first_line(error)}") from None
    if args.index_col is not None:
        if args.index_col not in data.columns:
            raise CommandLineError(
                f"{name} has no column {args.index_col!r} for --index-col; its columns are "
                f"{_listing([str(column) for column in data.columns])}"
            )
        data = data.set_index(args.index_col)
    check_numeric(data, name)
    return data


def check_numeric(data, name):
    """Raise :class:`CommandLineError` unless ``data`` is a non-empty table of finite numbers."""
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise CommandLineError(
            f"{name} has {data.shape[0]} data rows and {data.shape[1]} feature columns; "
            "skae needs at least one of each (and a header row)"
        )
    non_numeric = [str(column) for column in data.columns if not pd.api.types.is_numeric_dtype(data[column])]
    if non_numeric:
        hint = "" if len(non_numeric) > 1 else f", or pass it as a row ID with --index-col {non_numeric[0]!r}"
        raise CommandLineError(
            f"{name} has non-numeric column(s) {_listing(non_numeric)}; skae models numbers only: "
            f"drop or encode them{hint}"
        )
    values = data.to_numpy(dtype=np.float64)
    for problem, mask in (("missing", np.isnan(values)), ("infinite", np.isinf(values))):
        if mask.any():
            counts = mask.sum(axis=0)
            columns = [f"{column!r} ({count})" for column, count in zip(data.columns, counts) if count]
            first_row = int(np.flatnonzero(mask.any(axis=1))[0])
            raise CommandLineError(
                f"{name} has {int(mask.sum())} {problem} value(s), in column(s) "
                f"{', '.join(columns[:5])}{' ...' if len(columns) > 5 else ''}, the first in data row "
                f"{first_row + 1}; fill or drop them before running skae"
            )


def _listing(names, limit=5):
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# -- models ----------------------------------------------------------------


def option(args, name):
    """The value of a model option: the user's, or the command line's default."""
    value = getattr(args, name, None)
    return DEFAULTS.get(name) if value is None else value


def make_autoencoder(args):
    """The autoencoder the options describe."""
    n_components = args.n_components
    if n_components is None:
        # detect: the detector's measured default, a one-unit code.
        n_components = 1 if args.command == "detect" else 2
    model = MODELS[option(args, "model")](
        n_components=n_components,
        hidden_layer_sizes=option(args, "hidden_layer_sizes"),
        activation=option(args, "activation"),
        loss=option(args, "loss"),
        max_iter=option(args, "epochs"),
        batch_size=option(args, "batch_size"),
        learning_rate_init=option(args, "learning_rate"),
        early_stopping=bool(args.early_stopping),
        device=option(args, "device"),
        random_state=option(args, "random_state"),
    )
    if args.param:
        model.set_params(**dict(args.param))
    return model


def scaling(args):
    """``"standard"``, ``"minmax"``, ``"robust"`` or ``None``, from ``--scale``, the command and the loss."""
    scale = option(args, "scale")
    if scale == "auto":
        # minmax: the detector's measured default, and binary cross-entropy's requirement.
        unit_interval = losses.get_loss(option(args, "loss")).requires_unit_interval
        return "minmax" if args.command == "detect" or unit_interval else "standard"
    return None if scale == "none" else scale


def make_scaler(scale):
    if scale == "standard":
        return StandardScaler()
    if scale == "minmax":
        # Clipped so that new rows beyond the training range stay in [0, 1].
        return MinMaxScaler(clip=True)
    if scale == "robust":
        return RobustScaler()
    return "passthrough"


def make_pipeline(args):
    """The model the options describe, as a ``Pipeline`` that ``--save`` stores whole.

    For ``reduce``, a scaler and the autoencoder. For ``detect``, the
    :class:`~skae.AutoencoderAnomalyDetector`, which scales by itself; it gets
    an explicit autoencoder only when an option describes one, and otherwise
    builds its own default, sized to the data.
    """
    if args.command == "reduce":
        return Pipeline([("scale", make_scaler(scaling(args))), ("model", make_autoencoder(args))])
    estimator = make_autoencoder(args) if autoencoder_options_given(args) else None
    detector = skae.AutoencoderAnomalyDetector(
        estimator,
        contamination=option(args, "contamination"),
        scaler=scaling(args),
        random_state=option(args, "random_state"),
    )
    return Pipeline([("scale", "passthrough"), ("model", detector)])


def autoencoder_options_given(args):
    return any(getattr(args, name) is not None for name in AUTOENCODER_OPTIONS)


def load_pipeline(args, notes):
    try:
        pipeline = joblib.load(args.load)
    except FileNotFoundError:
        raise CommandLineError(f"cannot load {args.load!r}: no such file") from None
    except Exception as error:  # unpickling can fail in many ways; all mean "not a model file"
        raise CommandLineError(
            f"cannot load {args.load!r}: not a model saved by 'skae --save' ({_first_line(error)})"
        ) from None
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else None
    if args.command == "detect" and not isinstance(final, skae.AutoencoderAnomalyDetector):
        raise CommandLineError(f"{args.load!r} does not hold an anomaly detector saved by 'skae detect --save'")
    if args.command == "reduce" and not hasattr(final, "transform"):
        raise CommandLineError(f"{args.load!r} does not hold an autoencoder saved by 'skae reduce --save'")
    ignored = [name for name in MODEL_OPTIONS if getattr(args, name, None) is not None]
    if ignored:
        notes(f"Ignoring {', '.join('--' + name.replace('_', '-') for name in ignored)}: the model comes from --load.")
    notes(f"Loaded {type(final).__name__} from {args.load!r}.")
    return pipeline


def fit_pipeline(pipeline, data, args, notes):
    """Fit with epoch lines on standard error, and warnings as one-line notes."""
    verbose = args.verbose or (not args.quiet and sys.stderr.isatty())
    final = pipeline[-1]
    autoencoder = final.estimator if args.command == "detect" else final
    if autoencoder is not None:
        autoencoder.set_params(verbose=verbose)
        described = f"{type(autoencoder).__name__} (n_components={autoencoder.n_components})"
        budget = f", up to {autoencoder.max_iter} epochs"
    else:
        final.set_params(verbose=verbose)
        described, budget = "the detector's default autoencoder", ""
    notes(f"Fitting {described} on {data.shape[0]} rows x {data.shape[1]} columns{budget}...")
    tic = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("always")
        pipeline.fit(data)
    for warning in _unique_messages(caught):
        notes(f"warning: {warning}")
    fitted = fitted_autoencoders(pipeline)
    epochs = "+".join(str(model.n_iter_) for model in fitted)
    notes(
        f"Done in {time.perf_counter() - tic:.1f} s: {epochs} epochs on {fitted[0].device_}, "
        f"final training loss {fitted[0].loss_curve_[-1]:.4g}."
    )
    return pipeline


def fitted_autoencoders(pipeline):
    """The fitted autoencoders inside a pipeline: the detector's members, or the final step."""
    final = pipeline[-1]
    return list(final.estimators_) if hasattr(final, "estimators_") else [final]


def _unique_messages(caught):
    seen = []
    for warning in caught:
        message = str(warning.message)
        if message not in seen:
            seen.append(message)
    return seen


# -- commands --------------------------------------------------------------


def detect(pipeline, data, args, notes):
    """Anomaly scores, flags and top features as a DataFrame indexed like ``data``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = -pipeline.score_samples(data)
        flags = pipeline.predict(data) == -1
    result = pd.DataFrame({"anomaly_score": scores, "is_anomaly": flags.astype(int)}, index=data.index)
    if args.top_features > 0:
        result["top_features"] = top_features(pipeline, data, flags, args.top_features)
    detector = pipeline[-1]
    notes(
        f"Flagged {int(flags.sum())} of {len(flags)} rows as anomalous (anomaly_score above "
        f"{-detector.offset_:.4g}, contamination={detector.contamination})."
    )
    return result


def top_features(pipeline, data, flags, k):
    """For each flagged row, its ``k`` features with the largest share of the reconstruction error."""
    errors = feature_errors(pipeline, data)
    shares = errors / np.maximum(errors.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    names = np.asarray([str(column) for column in data.columns])
    column = np.full(len(data), "", dtype=object)
    for row in np.flatnonzero(flags):
        order = np.argsort(-shares[row], kind="stable")[:k]
        column[row] = "; ".join(f"{names[j]} ({shares[row, j]:.0%})" for j in order)
    return column


def feature_errors(pipeline, data):
    """Per-feature reconstruction errors of ``data``, as the detector measures them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(pipeline[-1].reconstruction_error_per_feature(pipeline[:-1].transform(data)), dtype=np.float64)


def reduce(pipeline, data, args, notes):
    """Latent codes as a DataFrame indexed like ``data``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = pipeline.transform(data)
    columns = pipeline.get_feature_names_out()
    notes(f"Wrote {codes.shape[1]} code columns for {codes.shape[0]} rows.")
    return pd.DataFrame(codes, index=data.index, columns=columns)


def write_output(result, args):
    index_label = args.index_col or "row"
    if args.output is None:
        result.to_csv(sys.stdout, index_label=index_label, float_format=FLOAT_FORMAT)
        return
    try:
        result.to_csv(args.output, index_label=index_label, float_format=FLOAT_FORMAT)
    except OSError as error:
        raise CommandLineError(f"cannot write {args.output!r}: {error.strerror or error}") from None


def save_pipeline(pipeline, args, notes):
    try:
        joblib.dump(pipeline, args.save)
    except OSError as error:
        raise CommandLineError(f"cannot save the model to {args.save!r}: {error.strerror or error}") from None
    notes(f"Saved the fitted model to {args.save!r}; reuse it with --load {args.save}.")


def run(args):
    def notes(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    data = read_data(args, notes)
    if args.load:
        pipeline = load_pipeline(args, notes)
    else:
        pipeline = fit_pipeline(make_pipeline(args), data, args, notes)
    result = (detect if args.command == "detect" else reduce)(pipeline, data, args, notes)
    if args.save:
        save_pipeline(pipeline, args, notes)
    write_output(result, args)


def _silence_stdout():
    # Python flushes stdout at exit, which would raise again on the closed pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv=None):
    """Run the ``skae`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 for bad data, files or parameters, 2 for bad usage.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code
    try:
        run(args)
    except CommandLineError as error:
        print(f"skae: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        # The estimators' own input and parameter checks (InvalidParameterError
        # included) explain the problem in their message.
        print(f"skae: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of standard output left early (as `| head` does); not an error of ours.
        _silence_stdout()
        return 0
    return 0
