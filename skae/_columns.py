"""Mixed-type tables: which columns are categorical, and how each is encoded for the network.

A table with categorical columns is trained on as one float matrix, the
*encoding*, whose features are grouped by column:

- numeric columns first, each one feature, standardised (centred and divided
  by its standard deviation; min-max scaled to [0, 1] when the loss needs
  data there) so that columns in thousands and in fractions weigh alike;
- then the binary columns (two levels), each one 0/1 feature: the indicator
  of its second level, whose likelihood is a Bernoulli on one logit;
- then the other categorical columns, each a one-hot block of its levels,
  whose likelihood is a categorical (softmax) over the block's logits.

The encoding is both the network's input and its target, so one matrix
serves the engine's batching, missing values and early stopping as numeric
data does. A missing entry (NaN, None, ``pd.NA``) is NaN in the encoding, a
whole block for a categorical column: the encoder sees it filled with the
column's training mean (for a one-hot block, the levels' frequencies) and
the loss leaves the column out, as for numeric data.

The encoder reads categoricals one-hot rather than through learned
embeddings: a first linear layer on a one-hot block *is* an embedding table
(one learned vector per level), and a separate low-dimensional embedding
only constrains its rank; on the benchmark tables the two reconstructed
alike (see the user guide's page on mixed tables), and rare levels, which
would make a one-hot block wide, are grouped (``max_categories``,
``min_frequency``).

The layout of a fitted table is kept as plain data (a dict of lists, arrays
and numbers), so that a fitted model pickles and saves in skae's safe format
like any other.
"""

import numbers
import warnings

import numpy as np
import pandas as pd

NUMERIC, BINARY, CATEGORICAL = "numeric", "binary", "categorical"
# Least noise scale of a numeric column, in standard deviations (see numeric_noise_scales).
NUMERIC_SCALE_FLOOR = 0.5
# Clip of probabilities in log-likelihoods: float32's resolution, the precision of a reconstruction.
PROBABILITY_EPS = float(np.finfo(np.float32).eps)


def is_categorical_dtype(dtype):
    """Whether ``from_dtype`` makes a column of ``dtype`` categorical: category, object, string or bool."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


def categorical_mask(X, categorical_features, estimator_name="The estimator"):
    """Which columns of ``X`` are categorical, as a boolean array; None if none is.

    ``categorical_features`` follows ``HistGradientBoostingClassifier``:
    ``"from_dtype"`` reads the DataFrame's dtypes (NumPy input has none, so
    none of its columns is categorical), ``None`` makes every column
    numeric, and an array-like gives the columns by name (strings, with a
    DataFrame), by index (integers) or as a boolean mask.
    """
    if categorical_features is None:
        return None
    columns = getattr(X, "columns", None)
    n_columns = X.shape[1] if len(getattr(X, "shape", ())) == 2 else None
    if isinstance(categorical_features, str):
        if categorical_features != "from_dtype":
            raise ValueError(
                f"categorical_features must be 'from_dtype', None or an array-like of column names, "
                f"indices or booleans; got {categorical_features!r}."
            )
        if columns is None or not hasattr(X, "dtypes"):
            return None
        mask = np.array([is_categorical_dtype(dtype) for dtype in X.dtypes], dtype=bool)
        return mask if mask.any() else None
    features = np.asarray(categorical_features)
    if n_columns is None:
        return None  # validation of X's shape comes later and says what is wrong
    if features.size == 0:
        return None
    if features.dtype.kind == "b":
        if features.ndim != 1 or features.shape[0] != n_columns:
            raise ValueError(
                f"categorical_features as a boolean mask must have one entry per column of X "
                f"({n_columns}); got shape {features.shape}."
            )
        mask = features.copy()
    elif features.dtype.kind in "iu":
        if features.min() < -n_columns or features.max() >= n_columns:
            raise ValueError(f"categorical_features holds indices out of range for X's {n_columns} columns.")
        mask = np.zeros(n_columns, dtype=bool)
        mask[features] = True
    elif features.dtype.kind in "OUT":
        if columns is None:
            raise ValueError(
                f"categorical_features names columns ({list(features)[:3]}...), but X has no column names: "
                "pass a DataFrame, or give the columns by index."
            )
        names = list(map(str, columns))
        unknown = [name for name in features if str(name) not in names]
        if unknown:
            raise ValueError(f"categorical_features names columns X does not have: {unknown}.")
        mask = np.isin(names, [str(name) for name in features])
    else:
        raise ValueError(
            f"{estimator_name}: categorical_features must hold column names, indices or booleans; "
            f"got {categorical_features!r}."
        )
    return mask if mask.any() else None


def _column(X, index):
    """Column ``index`` of ``X`` as a Series."""
    if hasattr(X, "iloc"):
        return X.iloc[:, index]
    return pd.Series(np.asarray(X)[:, index])


def _column_name(layout, index):
    name = layout["columns"][index]
    return repr(name) if isinstance(name, str) else f"at index {name}"


def _numeric_values(series, name):
    """A numeric column as float64, NaN where missing; a clear error for text or infinity."""
    try:
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        example = next((value for value in series if isinstance(value, str)), None)
        raise ValueError(
            f"Column {name} is numeric in the layout but holds non-numeric values"
            f"{f' such as {example!r}' if example is not None else ''}; list it in categorical_features "
            "(or give it a category, string, object or bool dtype with categorical_features='from_dtype')."
        ) from None
    if np.isinf(values).any():
        raise ValueError(f"Column {name} holds infinity; only NaN may mark a missing value.")
    return values


def _levels_in_order(series, observed):
    """The levels of a categorical column: a category dtype's categories, else its observed values sorted."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # All the dtype's categories, seen or not: chunks of one dtype then share their levels.
        return list(series.dtype.categories)
    unique = list(pd.unique(observed))
    try:
        return sorted(unique)
    except TypeError:  # levels of several types: by type, then by text
        return sorted(unique, key=lambda level: (type(level).__name__, str(level)))


def _plain(value):
    """A NumPy scalar as the Python value it holds (so that layouts compare and save as plain data)."""
    return value.item() if isinstance(value, np.generic) else value


def _level_array(levels):
    """Levels as an array that keeps their type: strings as an object array, numbers and booleans as their own."""
    levels = [_plain(level) for level in levels]
    if levels and all(isinstance(level, bool) for level in levels):
        return np.array(levels, dtype=bool)
    if levels and all(isinstance(level, numbers.Integral) and not isinstance(level, bool) for level in levels):
        return np.array(levels, dtype=np.int64)
    if levels and all(isinstance(level, numbers.Real) and not isinstance(level, bool) for level in levels):
        return np.array(levels, dtype=np.float64)
    array = np.empty(len(levels), dtype=object)
    array[:] = levels
    return array


def _infrequent(counts, max_categories, min_frequency, n_observed):
    """Which levels (by position in ``counts``) are grouped as infrequent, as ``OneHotEncoder`` decides.

    ``min_frequency``: an int is a count, a float a share of the observed
    rows; levels below it are infrequent. ``max_categories`` bounds the
    levels kept, the infrequent group included: the least frequent go first
    (ties: the later level). A group of one level is that level.
    """
    infrequent = np.zeros(len(counts), dtype=bool)
    if min_frequency is not None:
        threshold = min_frequency if isinstance(min_frequency, numbers.Integral) else min_frequency * n_observed
        infrequent |= counts < threshold
    if max_categories is not None and len(counts) - infrequent.sum() + infrequent.any() > max_categories:
        by_frequency = np.argsort(-counts, kind="stable")
        n_kept = max(max_categories - 1, 0)
        infrequent[by_frequency[n_kept:]] = True
    if infrequent.sum() < 2:
        return np.zeros(len(counts), dtype=bool)
    return infrequent


def fit_layout(X, mask, *, max_categories=None, min_frequency=None, unit_interval=False, feature_names=None):
    """The layout of the table ``X`` whose categorical columns ``mask`` gives, as plain data.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_columns)
        The training table.
    mask : ndarray of bool of shape (n_columns,)
        Which columns are categorical.
    max_categories, min_frequency : int, float or None
        Grouping of rare levels, as in ``OneHotEncoder``.
    unit_interval : bool
        Scale numeric columns to [0, 1] (for a loss on [0, 1]) instead of
        standardising them.
    feature_names : ndarray of str or None
        The column names, if ``X`` has them.

    Returns
    -------
    layout : dict
        ``columns`` (names, or positions), ``kinds``, per column its
        ``levels`` (the kept levels in block order; the infrequent group,
        if any, last, named by its most frequent member), ``infrequent``
        (the grouped levels), ``infrequent_share`` (the share of the group
        its most frequent member has), ``dtypes`` and what restores them,
        the numeric ``center`` and ``scale``, and ``order``, the columns in
        the order of the encoding.
    """
    n_columns = X.shape[1]
    columns = list(feature_names) if feature_names is not None else list(range(n_columns))
    layout = {
        "columns": columns,
        "kinds": [],
        "levels": [],
        "infrequent": [],
        "infrequent_share": [],
        "dtypes": [],
        "dtype_levels": [],
        "ordered": [],
    }
    center, scale = [], []
    for index in range(n_columns):
        series = _column(X, index)
        dtype = series.dtype
        is_category_dtype = isinstance(dtype, pd.CategoricalDtype)
        layout["dtypes"].append("category" if is_category_dtype else str(dtype))
        layout["dtype_levels"].append(_level_array(dtype.categories) if is_category_dtype else None)
        layout["ordered"].append(bool(dtype.ordered) if is_category_dtype else False)
        if not mask[index]:
            values = _numeric_values(series, repr(columns[index]) if feature_names is not None else f"{index}")
            observed = values[~np.isnan(values)]
            if observed.size == 0:
                low = high = mean = 0.0
                std = 1.0
            else:
                low, high, mean, std = observed.min(), observed.max(), observed.mean(), observed.std()
            if unit_interval:
                center.append(float(low))
                scale.append(float(high - low) if high > low else 1.0)
            else:
                center.append(float(mean))
                scale.append(float(std) if std > 0 else 1.0)
            layout["kinds"].append(NUMERIC)
            for key in ("levels", "infrequent", "infrequent_share"):
                layout[key].append(None)
            continue
        missing = series.isna().to_numpy()
        observed = series[~missing]
        levels = _levels_in_order(series, observed.to_numpy())
        counts = (
            pd.Categorical(observed, categories=levels).value_counts().reindex(levels).to_numpy()
            if levels
            else np.zeros(0)
        )
        grouped = _infrequent(counts, max_categories, min_frequency, observed.shape[0])
        kept = [level for level, rare in zip(levels, grouped) if not rare]
        infrequent = [level for level, rare in zip(levels, grouped) if rare]
        share = None
        if infrequent:
            rare_counts = counts[grouped]
            top = int(np.argmax(rare_counts))
            # The group is named by its most frequent member, which is what it decodes to.
            kept.append(infrequent.pop(top))
            infrequent.insert(0, kept[-1])
            share = float(rare_counts[top] / rare_counts.sum())
        layout["kinds"].append(BINARY if len(kept) == 2 else CATEGORICAL)
        layout["levels"].append(_level_array(kept))
        layout["infrequent"].append(_level_array(infrequent) if infrequent else None)
        layout["infrequent_share"].append(share)
    kinds = np.array(layout["kinds"])
    order = np.concatenate([np.flatnonzero(kinds == kind) for kind in (NUMERIC, BINARY, CATEGORICAL)])
    layout["order"] = order.astype(np.int64)
    layout["center"] = np.array(center, dtype=np.float64)
    layout["scale"] = np.array(scale, dtype=np.float64)
    return layout


def block_widths(layout):
    """The width of each column's block of the encoding, in the encoding's order."""
    widths = []
    for index in layout["order"]:
        kind = layout["kinds"][index]
        widths.append(1 if kind in (NUMERIC, BINARY) else len(layout["levels"][index]))
    return widths


def loss_structure(layout):
    """``(n_numeric, n_binary, category_counts)``: what :class:`~skae.losses.MixedLoss` needs of a layout."""
    kinds = layout["kinds"]
    n_numeric = sum(kind == NUMERIC for kind in kinds)
    n_binary = sum(kind == BINARY for kind in kinds)
    counts = tuple(len(layout["levels"][index]) for index in layout["order"] if kinds[index] == CATEGORICAL)
    return n_numeric, n_binary, counts


def feature_columns(layout):
    """For each feature of the encoding, the position (in the encoding's order) of its column."""
    return np.repeat(np.arange(len(layout["order"])), block_widths(layout))


def encode(layout, X, handle_unknown="error"):
    """The encoding of the table ``X``: float64, NaN where an entry is missing.

    An unseen level raises a ``ValueError`` naming the column with
    ``handle_unknown="error"``; with ``"ignore"`` it is read as missing.
    """
    n_samples = X.shape[0]
    n_columns = len(layout["columns"])
    if X.shape[1] != n_columns:
        raise ValueError(f"X has {X.shape[1]} columns, but the model was fitted on {n_columns}.")
    blocks = []
    numeric_position = 0
    for index in layout["order"]:
        series = _column(X, index)
        kind = layout["kinds"][index]
        if kind == NUMERIC:
            values = _numeric_values(series, _column_name(layout, index))
            center, scale = layout["center"][numeric_position], layout["scale"][numeric_position]
            numeric_position += 1
            blocks.append(((values - center) / scale)[:, None])
            continue
        levels = list(layout["levels"][index])
        infrequent = layout["infrequent"][index]
        known = levels + ([] if infrequent is None else list(infrequent[1:]))
        missing = series.isna().to_numpy()
        codes = pd.Index(known, dtype=object).get_indexer(series.to_numpy(dtype=object)).astype(np.int64)
        unknown = (codes < 0) & ~missing
        if unknown.any():
            if handle_unknown == "error":
                examples = pd.unique(series[unknown].to_numpy(dtype=object))[:3]
                raise ValueError(
                    f"Column {_column_name(layout, index)} holds level(s) unseen in training, such as "
                    f"{list(examples)}. Set handle_unknown='ignore' to read them as missing values."
                )
            missing = missing | unknown
        codes = np.minimum(codes, len(levels) - 1)  # members of the infrequent group: the group's code
        if kind == BINARY:
            block = (codes == 1).astype(np.float64)[:, None]
        else:
            block = np.zeros((n_samples, len(levels)))
            block[np.arange(n_samples), np.maximum(codes, 0)] = 1.0
        block[missing] = np.nan
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((n_samples, 0))


def _split(layout, encoded):
    """The encoding's blocks, as ``{column position: block}``."""
    bounds = np.cumsum([0, *block_widths(layout)])
    return {index: encoded[:, start:stop] for index, start, stop in zip(layout["order"], bounds[:-1], bounds[1:])}


def _probabilities(layout, index, block):
    """A categorical block's level probabilities, each row summing to 1 (a binary one's 1 - p, p)."""
    if layout["kinds"][index] == BINARY:
        return np.hstack([1 - block, block])
    return block


def decode(layout, reconstruction, as_frame):
    """The table a reconstruction stands for: numeric columns scaled back, categoricals their most likely level.

    ``reconstruction`` is in the encoding's space after the loss's
    ``reconstruct`` (probabilities for categorical blocks). Columns come
    back in the training order with the training dtypes: integer columns
    rounded, categorical ones holding the level of highest probability; a
    level of the infrequent group has the group's probability times its
    share of the group, so the group decodes to its most frequent member
    when that beats the kept levels.
    """
    blocks = _split(layout, np.asarray(reconstruction, dtype=np.float64))
    numeric_positions = {index: position for position, index in enumerate(layout["order"][: len(layout["center"])])}
    columns = {}
    for index, name in enumerate(layout["columns"]):
        block = blocks[index]
        dtype = layout["dtypes"][index]
        if layout["kinds"][index] == NUMERIC:
            position = numeric_positions[index]
            values = block[:, 0] * layout["scale"][position] + layout["center"][position]
            columns[name] = _numeric_as(values, dtype)
            continue
        probabilities = _probabilities(layout, index, block).copy()
        share = layout["infrequent_share"][index]
        if share is not None:
            probabilities[:, -1] *= share
        labels = layout["levels"][index][np.argmax(probabilities, axis=1)]
        columns[name] = _labels_as(labels, dtype, layout["dtype_levels"][index], layout["ordered"][index])
    frame = pd.DataFrame(columns)
    return frame if as_frame else frame.to_numpy()


def _numeric_as(values, dtype):
    """Reconstructed values of a numeric column in the column's dtype: integers rounded, booleans thresholded."""
    try:
        target = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return values
    if pd.api.types.is_bool_dtype(target):
        return pd.Series(values >= 0.5).astype(target)
    if pd.api.types.is_integer_dtype(target):
        info = np.iinfo(target.numpy_dtype if hasattr(target, "numpy_dtype") else target)
        return pd.Series(np.clip(np.round(values), info.min, info.max)).astype(target)
    if pd.api.types.is_numeric_dtype(target):
        return pd.Series(values).astype(target)
    return values


def _labels_as(labels, dtype, dtype_levels, ordered):
    """Decoded levels in the column's training dtype (a category dtype keeps its categories and order)."""
    if dtype == "category":
        return pd.Categorical(labels, categories=dtype_levels, ordered=ordered)
    series = pd.Series(labels)
    try:
        return series.astype(pd.api.types.pandas_dtype(dtype))
    except (TypeError, ValueError):
        return series


def column_errors(layout, reconstruction, encoded):
    """Each column's error, one column per table column in the training order; NaN where missing.

    Numeric columns: the squared error of the scaled values (standardised
    units, as the network is trained on them). Categorical columns: the
    negative log-likelihood (cross-entropy, in nats) of the observed level.
    """
    return _per_column(layout, reconstruction, encoded, signed=False)


def column_residuals(layout, reconstruction, encoded):
    """Residuals whose squares are :func:`column_errors`: reconstruction minus value, or the root of the NLL."""
    return _per_column(layout, reconstruction, encoded, signed=True)


def _per_column(layout, reconstruction, encoded, signed):
    reconstruction_blocks = _split(layout, np.asarray(reconstruction, dtype=np.float64))
    target_blocks = _split(layout, np.asarray(encoded, dtype=np.float64))
    result = np.empty((encoded.shape[0], len(layout["columns"])))
    for index in range(len(layout["columns"])):
        predicted, target = reconstruction_blocks[index], target_blocks[index]
        if layout["kinds"][index] == NUMERIC:
            residual = predicted[:, 0] - target[:, 0]
            result[:, index] = residual if signed else np.square(residual)
            continue
        probabilities = np.clip(_probabilities(layout, index, predicted), PROBABILITY_EPS, 1.0)
        indicator = _probabilities(layout, index, target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            nll = 0.0 - np.sum(indicator * np.log(probabilities), axis=1)  # NaN where the block is missing
        result[:, index] = np.sqrt(nll) if signed else nll
    return result


def numeric_noise_scales(encoded, n_components, numeric_loss, n_numeric):
    """Each numeric column's noise scale at PCA's reconstruction of the encoding, at least ``NUMERIC_SCALE_FLOOR``.

    The maximum-likelihood scale of ``numeric_loss``'s noise model on the
    residuals of ``PCA(n_components)`` of the encoding (missing entries
    filled with the means, their residuals left out): how well the start of
    training (PCA's solution, with ``init="pca"``) already predicts each
    column. Dividing a column's residuals by it makes its loss a negative
    log-likelihood, in nats as the categorical columns' cross-entropies, so
    that a numeric column PCA predicts well is not traded away for the
    categories; the floor, half a standard deviation, keeps a column
    predicted almost exactly from outweighing all the others.
    """
    import torch  # the noise models are torch's

    missing = np.isnan(encoded)
    filled = np.where(missing, np.nanmean(encoded, axis=0), encoded)
    centred = filled - filled.mean(axis=0)
    covariance = centred.T @ centred / max(len(centred) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    axes = eigenvectors[:, np.argsort(eigenvalues)[::-1][: max(min(n_components, encoded.shape[1]), 0)]]
    residual = (centred - centred @ axes @ axes.T)[:, :n_numeric]
    residual[missing[:, :n_numeric]] = np.nan
    scale = numeric_loss.fit_scale(torch.as_tensor(residual)).numpy()
    return tuple(float(value) for value in np.maximum(np.nan_to_num(scale, nan=1.0), NUMERIC_SCALE_FLOOR))
