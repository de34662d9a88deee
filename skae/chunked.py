"""Fitting from a stream of chunks, for data larger than memory.

:func:`fit_chunks` feeds an estimator's ``partial_fit`` one chunk at a time,
for as many passes as asked, holding one chunk in memory at once. Chunks can
come from anything that yields arrays or DataFrames, for example
``pandas.read_csv(path, chunksize=10_000)``, a generator over HDF5 or Parquet
row groups, or a list of ``numpy.memmap`` slices::

    import pandas as pd
    from skae import AutoencoderTransformer
    from skae.chunked import fit_chunks

    ae = AutoencoderTransformer(n_components=8, random_state=0)
    fit_chunks(ae, lambda: pd.read_csv("big.csv", chunksize=10_000), n_epochs=20)

For Dask arrays, ``dask_ml.wrappers.Incremental`` does the same block by
block; see the "Scaling out" page of the user guide. :func:`fit_threshold`
sets an :class:`~skae.AutoencoderAnomalyDetector`'s threshold from a pass over
chunks, in bounded memory.
"""

from collections.abc import Callable, Iterator
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .anomaly import AutoencoderAnomalyDetector

__all__ = ["fit_chunks", "fit_threshold"]


def fit_chunks(estimator, chunks, *, n_epochs=1):
    """Fit ``estimator`` by ``partial_fit`` over chunks of data, ``n_epochs`` times.

    Each chunk goes through one ``partial_fit`` call, so only one chunk is in
    memory at a time and peak memory follows the chunk size, not the number of
    chunks. The optimiser's state carries over from chunk to chunk and from
    pass to pass, so ``n_epochs`` passes over the chunks train about as well
    as ``fit`` with ``max_iter=n_epochs`` on the whole data (the user guide
    gives measured figures).

    Samples are shuffled within a chunk (when the estimator's ``shuffle`` is
    true) but chunks are visited in the order given: if the data is sorted,
    for example by time or by class, shuffle the chunk order or the rows
    beforehand, as stochastic gradient descent expects mixed batches.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Any skae estimator, or any scikit-learn estimator with an
        unsupervised ``partial_fit(X)``. It is updated in place. An estimator
        that is already fitted continues from its state, as with
        ``partial_fit``; pass a fresh one (or a :func:`~sklearn.base.clone`)
        to start over.
    chunks : iterable or callable
        The data, as arrays or DataFrames of shape ``(n_rows, n_features)``
        with the same columns. Either an iterable of chunks, or a callable
        taking no argument and returning a fresh iterable at each call, such
        as ``lambda: pandas.read_csv(path, chunksize=10_000)``. An iterator
        (a generator, a file reader) can be read only once, so
        ``n_epochs > 1`` needs a callable or a re-iterable collection (a
        list, or ``dask_array.blocks``, whose blocks are computed one at a
        time).
    n_epochs : int, default=1
        Number of passes over the chunks.

    Returns
    -------
    estimator : object
        The same estimator, fitted.

    Raises
    ------
    ValueError
        If a pass yields no chunk, if ``n_epochs`` is not a positive integer,
        or if an iterator is asked for more than one pass. Errors of
        ``partial_fit`` itself (a chunk with NaN, other columns, or
        ``early_stopping=True``) propagate unchanged.
    TypeError
        If ``estimator`` has no ``partial_fit``, or ``chunks`` is one array
        or DataFrame, or neither iterable nor callable.

    See Also
    --------
    dask_ml.wrappers.Incremental : The same over the blocks of a Dask array.
    skae.AutoencoderTransformer.partial_fit : One pass over one chunk.

    Notes
    -----
    Every ``partial_fit`` call is one pass over its chunk, so a skae
    estimator's ``n_iter_`` and ``loss_curve_`` count chunk passes:
    ``n_epochs * n_chunks`` of them.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.chunked import fit_chunks
    >>> X = np.random.RandomState(0).rand(1000, 6)
    >>> def chunks():
    ...     for start in range(0, len(X), 250):
    ...         yield X[start : start + 250]
    >>> ae = AutoencoderTransformer(2, hidden_layer_sizes=(8,), random_state=0)
    >>> ae = fit_chunks(ae, chunks, n_epochs=3)
    >>> ae.n_iter_
    12
    """
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(f"fit_chunks needs an estimator with partial_fit; {type(estimator).__name__} has none.")
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, Integral) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
    if hasattr(chunks, "shape") and hasattr(chunks, "ndim"):
        # An array or DataFrame iterates over rows or column names, not chunks.
        raise TypeError(
            f"chunks must be an iterable of chunks, not one {type(chunks).__name__}; "
            "call fit for data that fits in memory, or pass [X] for one chunk."
        )
    if isinstance(chunks, Callable):
        make_pass = chunks
    elif _iterable(chunks):
        if n_epochs > 1 and isinstance(chunks, Iterator):
            raise ValueError(
                f"n_epochs={n_epochs} needs a fresh pass over the chunks each epoch, but "
                f"{type(chunks).__name__} can be read only once. Pass a callable that returns "
                "a new iterable, for example lambda: pandas.read_csv(path, chunksize=10_000)."
            )
        make_pass = lambda: chunks  # noqa: E731
    else:
        raise TypeError(f"chunks must be an iterable or a callable returning one, got {type(chunks).__name__}.")

    for epoch in range(n_epochs):
        n_chunks = 0
        for chunk in make_pass():
            estimator.partial_fit(chunk)
            n_chunks += 1
        if n_chunks == 0:
            raise ValueError(
                f"The chunks of pass {epoch + 1} of {n_epochs} were empty. A callable must "
                "return a fresh iterable at every call (an exhausted reader yields nothing)."
            )
    return estimator


def fit_threshold(detector, chunks, *, max_samples=100_000, random_state=None):
    """Set a fitted detector's error scales and threshold from a pass over chunks.

    An :class:`~skae.AutoencoderAnomalyDetector` trained chunk by chunk
    (:func:`fit_chunks`, ``partial_fit``, ``dask_ml.wrappers.Incremental``)
    takes its per-feature error scales, its residual covariance and its
    ``offset_`` from the last chunk it saw. This function recomputes them
    from the whole stream with the final model, as ``fit`` computes them
    from the whole training set: the per-feature medians of the members'
    reconstruction errors, the mean and shrunk covariance of the normalised
    residuals (with ``distance="mahalanobis"``), then the
    ``100 * contamination`` percentile of the scores, by the detector's
    :meth:`~skae.AutoencoderAnomalyDetector.calibrate` on the rows read.
    Only the members' weights are kept; nothing is trained. It also
    re-thresholds a detector after a change of ``contamination``, or on data
    other than its training data.

    Memory is bounded by ``max_samples`` rows: up to that many rows the
    result is exact (equal to what ``fit`` computes on the same rows); beyond
    it, the statistics come from a uniform random sample of ``max_samples``
    rows of the stream (reservoir sampling), whose percentile rank is off by
    about ``sqrt(contamination * (1 - contamination) / max_samples)``, 0.001
    for the defaults.

    Parameters
    ----------
    detector : AutoencoderAnomalyDetector
        A fitted detector; updated in place.
    chunks : iterable or callable
        The data, as arrays or DataFrames with the training columns, or a
        callable taking no argument and returning such an iterable. Read
        once.
    max_samples : int, default=100_000
        Most rows held at once.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample drawn when the stream is longer than
        ``max_samples``.

    Returns
    -------
    detector : AutoencoderAnomalyDetector
        The same detector, with new ``error_scales_``, residual statistics
        and ``offset_``.

    Raises
    ------
    ValueError
        If the chunks hold no row or ``max_samples`` is not a positive
        integer; chunks with other columns are refused as by ``predict``.
    TypeError
        If ``detector`` is not an :class:`~skae.AutoencoderAnomalyDetector`.

    See Also
    --------
    fit_chunks : Train from chunks.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderAnomalyDetector, AutoencoderTransformer
    >>> from skae.chunked import fit_chunks, fit_threshold
    >>> X = np.random.RandomState(0).normal(size=(1000, 4))
    >>> chunks = [X[i : i + 250] for i in range(0, 1000, 250)]
    >>> detector = AutoencoderAnomalyDetector(
    ...     AutoencoderTransformer(1, hidden_layer_sizes=(8,)), contamination=0.05, random_state=0)
    >>> detector = fit_threshold(fit_chunks(detector, chunks, n_epochs=5), chunks)
    >>> float((detector.predict(X) == -1).mean())
    0.05
    """
    if not isinstance(detector, AutoencoderAnomalyDetector):
        raise TypeError(f"fit_threshold needs an AutoencoderAnomalyDetector, got {type(detector).__name__}.")
    check_is_fitted(detector)
    if isinstance(max_samples, bool) or not isinstance(max_samples, Integral) or max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer, got {max_samples!r}.")
    if callable(chunks):
        chunks = chunks()
    rng = check_random_state(random_state)
    sample = None
    n_seen = 0
    for chunk in chunks:
        # Checked as predict checks its input, so that a chunk with other
        # columns is refused before the detector changes.
        rows = validate_data(detector, chunk, reset=False, dtype=[np.float64, np.float32])
        if sample is None:
            sample = np.empty((max_samples, rows.shape[1]), dtype=rows.dtype)
        # Reservoir sampling (Vitter's algorithm R), a chunk at a time: row t
        # of the stream (from 0) replaces a uniformly drawn slot with
        # probability max_samples / (t + 1), once the reservoir is full.
        n_fill = min(max(max_samples - n_seen, 0), len(rows))
        sample[n_seen : n_seen + n_fill] = rows[:n_fill]
        rest = rows[n_fill:]
        if len(rest):
            positions = n_seen + n_fill + np.arange(len(rest))
            slots = rng.randint(0, positions + 1)
            kept = slots < max_samples
            sample[slots[kept]] = rest[kept]
        n_seen += len(rows)
    if n_seen == 0:
        raise ValueError("fit_threshold got no data: the chunks were empty.")
    sample = sample[: min(n_seen, max_samples)]
    if hasattr(detector, "feature_names_in_"):
        # The rows passed the name check chunk by chunk; named again, they
        # pass calibrate's without a warning.
        sample = pd.DataFrame(sample, columns=detector.feature_names_in_, copy=False)
    detector.calibrate(sample)
    return detector


def _iterable(obj):
    # iter() rather than isinstance(obj, Iterable): it also accepts objects
    # iterated through __getitem__, such as a Dask array's ``blocks``.
    try:
        iter(obj)
    except TypeError:
        return False
    return True
