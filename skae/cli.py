"""The ``skae`` command line: autoencoders on a CSV file, without writing code.

Three commands::

    skae detect data.csv -o scores.csv   # per-row anomaly scores, flags, top features
    skae reduce data.csv -n 2            # per-row latent codes
    skae impute data.csv -o filled.csv   # the table with its empty cells filled in

Each reads a CSV of numeric columns, where empty cells are missing values
(or, without a file, a dataset that ships with scikit-learn), scales it,
fits a model on the observed values (or loads one with ``--load``), and
writes a CSV to ``-o`` or standard output. Notes and progress go to
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

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

import skae

from . import losses
from ._base import AUTO_BATCH_SIZE_RANGE, AUTO_BATCHES_PER_EPOCH
from ._network import ACTIVATIONS
from .anomaly import DEFAULT_N_COMPONENTS, SCALERS

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
DEFAULT_MODEL = "autoencoder"
# Unlike the library (random_state=None), the command line repeats itself by default.
DEFAULT_RANDOM_STATE = 0
# What --scale auto means for reduce; detect takes the detector's default scaler.
DEFAULT_REDUCE_SCALER = "standard"

# The models compute in float32: more digits than this would be noise.
FLOAT_FORMAT = "%.7g"
# The PROTO opcode that opens every pickle of protocol 2 or later.
PICKLE_PROTOCOL_2_START = b"\x80"


class CommandLineError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


# -- parsing ---------------------------------------------------------------


def parse_loss(text):
    """A :class:`~skae.losses.Loss` from a spelling such as ``huber:2`` or ``l1+0.5*l2``."""
    try:
        return losses.get_loss(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


# The options that set a parameter every autoencoder class shares: option ->
# (parameter, help, argparse keywords). The help's fields are filled from the
# classes' defaults (and "%%" is argparse's "%").
AUTOENCODER_OPTIONS = {
    "hidden_layer_sizes": (
        "hidden_layer_sizes",
        "encoder hidden widths, comma-separated, mirrored by the decoder (default: {hidden_layer_sizes})",
        {"type": parse_layer_sizes, "metavar": "SIZES"},
    ),
    "activation": ("activation", "hidden activation (default: {activation})", {"choices": list(ACTIVATIONS)}),
    "loss": ("loss", "reconstruction loss: {loss_spellings} (default: {loss})", {"type": parse_loss}),
    "epochs": ("max_iter", "maximum training epochs (default: {max_iter})", {"type": int}),
    "batch_size": (
        "batch_size",
        "minibatch size (default: {batch_size}, rows // {batches_per_epoch} within {batch_size_range})",
        {"type": parse_batch_size},
    ),
    "learning_rate": ("learning_rate_init", "Adam step size (default: {learning_rate_init})", {"type": float}),
    "early_stopping": (
        "early_stopping",
        "hold out {validation_fraction:.0%}% of the rows and stop when their loss stops improving",
        {"action": "store_true", "default": None},
    ),
    "device": ("device", "auto, cpu, cuda, cuda:N or mps (default: {device}, a GPU when there is one)", {}),
}
# Options that describe the autoencoder itself.
DESCRIBING_OPTIONS = ["model", "n_components", *AUTOENCODER_OPTIONS, "param"]
# Options that shape the fitted model; with --load they have no effect.
MODEL_OPTIONS = DESCRIBING_OPTIONS + ["random_state", "scale", "contamination"]


def build_parser():
    """The ``argparse`` parser of the ``skae`` command."""
    parser = argparse.ArgumentParser(
        prog="skae",
        description=(
            "Autoencoders on a CSV file of numeric columns: score rows for anomalies "
            "(detect), compress them to a few columns (reduce) or fill in their empty "
            "cells (impute). Empty cells are missing values: models train on the observed "
            "ones. Without a file, runs on a dataset that ships with scikit-learn."
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
            "anomalous), is_anomaly (1 for the contamination share of highest training "
            "scores) and, for flagged rows, top_features (the features with the largest "
            "share of the row's error). Without model options the detector's default "
            "autoencoder, sized to the data, is used; any model option builds an explicit "
            "one from the options given and the defaults shown."
        ),
    )
    reduce = commands.add_parser(
        "reduce",
        help="per-row latent codes (dimensionality reduction)",
        description="Fit an autoencoder and write each row's code of n_components numbers.",
    )
    impute = commands.add_parser(
        "impute",
        help="the table with its empty cells filled in",
        description=(
            "Fit an autoencoder imputer on the observed cells and write the table with every "
            "empty cell filled by the model's reconstruction of its row; observed cells are "
            "written unchanged. Without model options the imputer's default autoencoder, sized "
            "to the data, is used; any model option builds an explicit one from the options "
            "given and the defaults shown."
        ),
    )
    for command in (detect, reduce, impute):
        _add_common_arguments(command)
    detect.add_argument(
        "-n",
        "--n-components",
        type=int,
        help=f"latent code size (default: {DEFAULT_N_COMPONENTS}, as the detector's own default)",
    )
    detect.add_argument(
        "--contamination",
        type=float,
        help="expected share of anomalies, in (0, 0.5], sets the flag threshold "
        f"(default: {skae.AutoencoderAnomalyDetector().contamination})",
    )
    detect.add_argument(
        "--top-features",
        type=int,
        default=3,
        metavar="K",
        help="how many features to name per flagged row (default: 3; 0 to leave out)",
    )
    code_size = skae.AutoencoderTransformer().n_components
    reduce.add_argument("-n", "--n-components", type=int, help=f"latent code size (default: {code_size})")
    impute.add_argument(
        "-n",
        "--n-components",
        type=int,
        help="latent code size (default: the imputer's own, about half the number of columns)",
    )
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
    model.add_argument("--model", choices=list(MODELS), help=f"which autoencoder (default: {DEFAULT_MODEL})")
    defaults = skae.AutoencoderTransformer().get_params()
    fields = {
        **defaults,
        "hidden_layer_sizes": ",".join(map(str, defaults["hidden_layer_sizes"])),
        "loss_spellings": losses._loss_spellings(),
        "batches_per_epoch": AUTO_BATCHES_PER_EPOCH,
        "batch_size_range": "{}..{}".format(*AUTO_BATCH_SIZE_RANGE),
    }
    for option, (_, help_text, keywords) in AUTOENCODER_OPTIONS.items():
        model.add_argument("--" + option.replace("_", "-"), help=help_text.format(**fields), **keywords)
    model.add_argument(
        "--scale",
        choices=["auto", *SCALERS, "none"],
        help="column scaling before the model: standard (zero mean, unit variance), minmax "
        "(to [0, 1], needed by binary cross-entropy), robust (median and quartiles) or none "
        "(default: auto, minmax for binary cross-entropy, otherwise "
        f"{skae.AutoencoderAnomalyDetector().scaler} for detect, {DEFAULT_REDUCE_SCALER} for reduce and "
        f"{skae.AutoencoderImputer().scaler} for impute)",
    )
    model.add_argument(
        "--random-state",
        type=int,
        help=f"seed; the same seed gives the same output on the same machine (default: {DEFAULT_RANDOM_STATE})",
    )
    model.add_argument(
        "--param",
        type=parse_param,
        action="append",
        metavar="NAME=VALUE",
        help="any other parameter of the model class, e.g. --param alpha=0.001; repeatable",
    )

    persistence = parser.add_argument_group("saving and loading")
    persistence.add_argument(
        "--save",
        metavar="PATH",
        help="save the fitted model (scaler included) in skae's safe format (skae.save): weights and "
        "settings as data, a file that runs no code when loaded",
    )
    persistence.add_argument(
        "--load",
        metavar="PATH",
        help="use a model saved with --save instead of fitting one; pickle (joblib) files are refused, "
        "since loading one runs code from it",
    )

    messages = parser.add_argument_group("messages")
    verbosity = messages.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the loss of every epoch (on a terminal the default, unless a progress bar is shown: "
        "scikit-learn >= 1.9 with rich installed)",
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
    check_table(data, name, categorical_allowed=args.command != "impute")
    return data


def has_text_columns(data):
    """Whether ``data`` has columns that are not numbers: the models read them as categories."""
    return any(not pd.api.types.is_numeric_dtype(data[column]) for column in data.columns)


def check_table(data, name, categorical_allowed):
    """Raise :class:`CommandLineError` unless ``data`` is a non-empty table the command can model.

    Numbers may be missing (empty cells) but not infinite. Text and yes/no
    columns are categories, which ``detect`` and ``reduce`` model with their
    own likelihood; the imputer models numbers only.
    """
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise CommandLineError(
            f"{name} has {data.shape[0]} data rows and {data.shape[1]} feature columns; "
            "skae needs at least one of each (and a header row)"
        )
    non_numeric = [str(column) for column in data.columns if not pd.api.types.is_numeric_dtype(data[column])]
    if non_numeric and not categorical_allowed:
        hint = "" if len(non_numeric) > 1 else f", or pass it as a row ID with --index-col {non_numeric[0]!r}"
        raise CommandLineError(
            f"{name} has non-numeric column(s) {_listing(non_numeric)}; impute fills numbers only: "
            f"drop or encode them{hint}"
        )
    empty_text = [str(column) for column in non_numeric if data[column].isna().all()]
    if empty_text:
        raise CommandLineError(
            f"{name} has column(s) {_listing(empty_text)} with every cell empty: nothing to learn them from; drop them"
        )
    data = data.drop(columns=non_numeric)
    values = data.to_numpy(dtype=np.float64)
    # Empty cells are missing values, which every model handles; infinity is not a measurement.
    for problem, mask in (("infinite", np.isinf(values)),):
        if mask.any():
            counts = mask.sum(axis=0)
            columns = [f"{column!r} ({count})" for column, count in zip(data.columns, counts) if count]
            first_row = int(np.flatnonzero(mask.any(axis=1))[0])
            raise CommandLineError(
                f"{name} has {int(mask.sum())} {problem} value(s), in column(s) "
                f"{', '.join(columns[:5])}{' ...' if len(columns) > 5 else ''}, the first in data row "
                f"{first_row + 1}; fill or drop them before running skae"
            )
    empty_columns = [str(column) for column, empty in zip(data.columns, np.isnan(values).all(axis=0)) if empty]
    if empty_columns:
        raise CommandLineError(
            f"{name} has column(s) {_listing(empty_columns)} with every cell empty: nothing to learn "
            "them from; drop them"
        )


def _listing(names, limit=5):
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# -- models ----------------------------------------------------------------


def make_pipeline(args, data):
    """The model the options describe, as a ``Pipeline`` that ``--save`` stores whole.

    For ``reduce``, a scaler (none for a table with text columns, whose
    numbers the model standardises itself) and the autoencoder. For ``detect``, the
    :class:`~skae.AutoencoderAnomalyDetector`, which scales by itself; it gets
    an explicit autoencoder only when an option describes one, and otherwise
    builds its own default, sized to the data.
    """
    random_state = DEFAULT_RANDOM_STATE if args.random_state is None else args.random_state
    if args.command == "reduce":
        autoencoder = make_autoencoder(args, random_state)
        scale = scaler_name(args, autoencoder, DEFAULT_REDUCE_SCALER)
        if has_text_columns(data):
            # A scaler cannot read text; the model standardises the numbers of a mixed table itself.
            scale = None
        return Pipeline([("scale", "passthrough" if scale is None else SCALERS[scale]()), ("model", autoencoder)])
    described = any(getattr(args, option) is not None for option in DESCRIBING_OPTIONS)
    autoencoder = make_autoencoder(args, random_state) if described else None
    if args.command == "impute":
        # The imputer scales inside, so that its output is in the data's units.
        imputer = skae.AutoencoderImputer(autoencoder, random_state=random_state)
        imputer.set_params(scaler=scaler_name(args, autoencoder, imputer.scaler))
        return Pipeline([("scale", "passthrough"), ("model", imputer)])
    detector = skae.AutoencoderAnomalyDetector(autoencoder, random_state=random_state)
    detector.set_params(scaler=scaler_name(args, autoencoder, detector.scaler))
    if args.contamination is not None:
        detector.set_params(contamination=args.contamination)
    return Pipeline([("scale", "passthrough"), ("model", detector)])


def make_autoencoder(args, random_state):
    """The autoencoder the options describe; what they leave out keeps the class's default."""
    params = {
        parameter: getattr(args, option)
        for option, (parameter, _, _) in AUTOENCODER_OPTIONS.items()
        if getattr(args, option) is not None
    }
    if args.n_components is not None:
        params["n_components"] = args.n_components
    elif args.command == "detect":
        # The detector's measured default, a one-unit code.
        params["n_components"] = DEFAULT_N_COMPONENTS
    model = MODELS[args.model or DEFAULT_MODEL](**params, random_state=random_state)
    return model.set_params(**dict(args.param or []))


def scaler_name(args, autoencoder, default):
    """A key of ``SCALERS`` or None, from ``--scale``: ``auto`` is ``default``, or min-max where the loss needs it."""
    if args.scale not in (None, "auto"):
        return None if args.scale == "none" else args.scale
    if autoencoder is not None and losses.get_loss(autoencoder.loss).requires_unit_interval:
        return "minmax"
    return default


def load_pipeline(args, notes):
    """The model saved by ``--save``, read with :func:`skae.load`, which runs no code from the file."""
    if _is_pickle(args.load):
        # Never unpickled: a pickle can run any code when loaded.
        raise CommandLineError(
            f"cannot load {args.load!r}: it is a pickle (joblib) file, such as --save wrote before skae's safe "
            "format; loading a pickle runs code from the file, so the command line reads only the safe format "
            "that --save writes now (skae.save). If you trust the file, convert it once in Python: "
            f"skae.save(joblib.load({args.load!r}), 'model.skae')"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipeline = skae.load(args.load)
    except FileNotFoundError:
        raise CommandLineError(f"cannot load {args.load!r}: no such file") from None
    except ValueError as error:  # not a model file, damaged, or from another skae release: skae.load says which
        raise CommandLineError(f"cannot load {args.load!r} as a model saved by 'skae --save': {error}") from None
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        notes(f"warning: {message}")
    final = pipeline[-1] if isinstance(pipeline, Pipeline) else None
    if args.command == "detect" and not isinstance(final, skae.AutoencoderAnomalyDetector):
        raise CommandLineError(f"{args.load!r} does not hold an anomaly detector saved by 'skae detect --save'")
    if args.command == "reduce" and not hasattr(final, "transform"):
        raise CommandLineError(f"{args.load!r} does not hold an autoencoder saved by 'skae reduce --save'")
    if args.command == "impute" and not isinstance(final, skae.AutoencoderImputer):
        raise CommandLineError(f"{args.load!r} does not hold an imputer saved by 'skae impute --save'")
    ignored = [name for name in MODEL_OPTIONS if getattr(args, name, None) is not None]
    if ignored:
        notes(f"Ignoring {', '.join('--' + name.replace('_', '-') for name in ignored)}: the model comes from --load.")
    notes(f"Loaded {type(final).__name__} from {args.load!r}.")
    return pipeline


def _is_pickle(path):
    """Whether the file at ``path`` starts as a pickle of protocol 2 or later (what joblib and pickle write)."""
    try:
        with open(path, "rb") as file:
            return file.read(1) == PICKLE_PROTOCOL_2_START
    except OSError:
        return False  # skae.load reports it


def progress_bar(args, stream):
    """scikit-learn's ``ProgressBar`` for a fit shown on ``stream``, or None.

    Only on a terminal, and without ``-v`` (its epoch lines) or ``-q``; only
    where scikit-learn has the callback API (>= 1.9) and ``rich``, which the
    bar draws with, is installed: skae does not depend on either.
    """
    if args.quiet or args.verbose or not stream.isatty():
        return None
    try:
        from sklearn.callback import ProgressBar

        # None: down to the epochs, under the detector's member fits too.
        return ProgressBar(max_propagation_depth=None)
    except ImportError:  # scikit-learn < 1.9, or no rich
        return None


def fit_pipeline(pipeline, data, args, notes):
    """Fit with a progress bar or epoch lines on standard error, and warnings as one-line notes.

    On a terminal, the bar of :func:`progress_bar` where there is one, else
    the loss of every epoch; elsewhere, epoch lines only with ``-v``.
    """
    final = pipeline[-1]
    bar = progress_bar(args, sys.stderr)
    verbose = args.verbose or (bar is None and not args.quiet and sys.stderr.isatty())
    autoencoder = final.estimator if args.command in ("detect", "impute") else final
    if autoencoder is not None:
        autoencoder.set_params(verbose=verbose)
        described = f"{type(autoencoder).__name__} (n_components={autoencoder.n_components})"
        budget = f", up to {autoencoder.max_iter} epochs"
    else:
        final.set_params(verbose=verbose)
        described, budget = "the detector's default autoencoder", ""
    notes(f"Fitting {described} on {data.shape[0]} rows x {data.shape[1]} columns{budget}...")
    tic = time.perf_counter()
    if bar is not None:
        # On the outermost estimator, as scikit-learn requires of a callback
        # that propagates: a bar for the pipeline's steps, one for the epochs.
        pipeline.set_callbacks(bar)
    # Standard output is the CSV's: whatever the fit prints (epoch lines, the
    # bar) goes to standard error.
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("always")
        try:
            pipeline.fit(data)
        finally:
            if bar is not None:
                pipeline.set_callbacks()  # the bar watched this fit; the model does not keep it
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        notes(f"warning: {message}")
    # The detector's members, the imputer's model, or the final step.
    fitted = getattr(pipeline[-1], "estimators_", [getattr(pipeline[-1], "estimator_", pipeline[-1])])
    epochs = "+".join(str(model.n_iter_) for model in fitted)
    notes(
        f"Done in {time.perf_counter() - tic:.1f} s: {epochs} epochs on {fitted[0].device_}, "
        f"final training loss {fitted[0].loss_curve_[-1]:.4g}."
    )
    return pipeline


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
    detector, scaling = pipeline[-1], pipeline[:-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = np.asarray(detector.reconstruction_error_per_feature(scaling.transform(data)), dtype=np.float64)
    # Missing cells have no error (NaN): they are never named.
    shares = errors / np.maximum(np.nansum(errors, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    names = np.asarray([str(column) for column in data.columns])
    column = np.full(len(data), "", dtype=object)
    for row in np.flatnonzero(flags):
        observed = np.flatnonzero(~np.isnan(shares[row]))
        order = observed[np.argsort(-shares[row, observed], kind="stable")][:k]
        column[row] = "; ".join(f"{names[j]} ({shares[row, j]:.0%})" for j in order)
    return column


def reduce(pipeline, data, args, notes):
    """Latent codes as a DataFrame indexed like ``data``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = pipeline.transform(data)
    columns = pipeline.get_feature_names_out()
    notes(f"Wrote {codes.shape[1]} code columns for {codes.shape[0]} rows.")
    return pd.DataFrame(codes, index=data.index, columns=columns)


def impute(pipeline, data, args, notes):
    """``data`` with its missing cells filled, observed cells as read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = np.asarray(pipeline.transform(data), dtype=np.float64)
    missing = data.isna().to_numpy()
    result = data.copy()
    for column in np.flatnonzero(missing.any(axis=0)):
        rows = missing[:, column]
        # Imputed cells get the models' float32 precision in digits; observed ones stay as read.
        result.iloc[rows, column] = [float(FLOAT_FORMAT % value) for value in filled[rows, column]]
    notes(f"Filled {int(missing.sum())} empty cells in {int(missing.any(axis=0).sum())} column(s) of {len(data)} rows.")
    return result


def write_output(result, args):
    if args.command == "impute":
        # The completed table, shaped as it was read: an index only if --index-col made one.
        options = {"index": args.index_col is not None}
    else:
        options = {"index_label": args.index_col or "row", "float_format": FLOAT_FORMAT}
    if args.output is None:
        return result.to_csv(sys.stdout, **options)
    try:
        result.to_csv(args.output, **options)
    except OSError as error:
        raise CommandLineError(f"cannot write {args.output!r}: {error.strerror or error}") from None


def save_pipeline(pipeline, args, notes):
    try:
        skae.save(pipeline, args.save)
    except OSError as error:
        raise CommandLineError(f"cannot save the model to {args.save!r}: {error.strerror or error}") from None
    except TypeError as error:  # a --param value the safe format cannot hold
        raise CommandLineError(f"cannot save the model to {args.save!r}: {error}") from None
    notes(f"Saved the fitted model to {args.save!r}; reuse it with --load {args.save}.")


def run(args):
    def notes(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    data = read_data(args, notes)
    if args.load:
        pipeline = load_pipeline(args, notes)
    else:
        pipeline = fit_pipeline(make_pipeline(args, data), data, args, notes)
    command = {"detect": detect, "reduce": reduce, "impute": impute}[args.command]
    result = command(pipeline, data, args, notes)
    if args.save:
        save_pipeline(pipeline, args, notes)
    write_output(result, args)


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
    except (CommandLineError, ValueError) as error:
        # ValueError: the estimators' own input and parameter checks
        # (InvalidParameterError included) explain the problem in their message.
        print(f"skae: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of standard output left early (as `| head` does); not an error of
        # ours. Python flushes stdout at exit, which would raise again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
