"""Saving and loading fitted models in a file that runs no code when loaded.

A pickle (``joblib.dump``) can hold any object, so loading one runs whatever
code the file names. :func:`save` writes a zip archive that holds only data:

- ``skae.json``: the format version, the library versions, and the model as a
  tree of classes (named, and read back only from an allow-list of skae and
  scikit-learn classes), parameters and fitted attributes;
- ``arrays/<n>.npy``: every NumPy array, written and read with
  ``allow_pickle=False``;
- ``tensors.pt``: the network weights, the optimiser's moment estimates and
  the random generator's state, a dictionary of tensors written by
  :func:`torch.save` and read with ``torch.load(weights_only=True)``, which
  accepts tensors and plain containers only.

:func:`load` rebuilds each object from its allow-listed class and its
parameters, then restores its fitted attributes: no object of a class the
file names is created unless the allow-list holds it, and nothing is
unpickled but tensors.

An estimator's state is what it gives, not what this module reads from its
insides: skae's autoencoders give it through ``_get_fitted_state()`` and
take it back through ``_set_fitted_state(state)``, where the training engine
is its ``state_dict()`` (weights, optimiser and generator state, history)
and the network is rebuilt from its recorded shape; scikit-learn's classes
and skae's meta-estimators, which hold only data and other estimators, give
their pickled state (``__getstate__``) and take it back with
``__setstate__``.
"""

import io
import json
import math
import numbers
import platform
import warnings
import zipfile

import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator
from sklearn.impute import MissingIndicator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from . import losses
from .anomaly import AutoencoderAnomalyDetector
from .autoencoder import AutoencoderTransformer
from .contractive import ContractiveAutoencoder
from .denoising import DenoisingAutoencoder
from .sparse import SparseAutoencoder
from .variational import VariationalAutoencoder

__all__ = ["load", "save"]

# Bumped whenever the layout of the archive changes; a file of another format
# version is refused rather than half-read. 2: each estimator's state as its
# _get_fitted_state gives it, the engine's as its state_dict.
FORMAT_VERSION = 2
FORMAT_NAME = "skae-model"
MANIFEST = "skae.json"
# Attributes that are not the model: the callbacks of set_callbacks (scikit-learn
# >= 1.9) watch a fit and are code; a loaded model has none, ready for new ones.
NOT_SAVED = frozenset({"_skl_callbacks"})
TENSORS = "tensors.pt"


def _allowed_classes():
    """The classes a file may name, by ``module.QualifiedName``; nothing else is ever built."""
    classes = [
        AutoencoderTransformer,
        DenoisingAutoencoder,
        SparseAutoencoder,
        ContractiveAutoencoder,
        VariationalAutoencoder,
        AutoencoderAnomalyDetector,
        Pipeline,
        StandardScaler,
        MinMaxScaler,
        RobustScaler,
        MaxAbsScaler,
        MissingIndicator,
    ]
    classes += [
        getattr(losses, name)
        for name in losses.__all__
        if isinstance(getattr(losses, name), type) and getattr(losses, name) is not losses.Loss
    ]
    try:  # written at the same time as this module; saved where it exists
        from .impute import AutoencoderImputer
    except ImportError:  # pragma: no cover
        pass
    else:
        classes.append(AutoencoderImputer)
    return {f"{cls.__module__}.{cls.__qualname__}": cls for cls in classes}


def _skae_version():
    from . import __version__  # at call time: the package is initialised by then

    return __version__


def _versions():
    return {
        "skae": _skae_version(),
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _release(version):
    """``(major, minor)`` of a version string: what must match for the fitted state to mean the same."""
    parts = version.split("+")[0].split(".")
    return tuple(int("".join(ch for ch in part if ch.isdigit()) or 0) for part in parts[:2])


class _UnsafeToSave(TypeError):
    """A value the format cannot hold as data."""


# -- writing -----------------------------------------------------------------


class _Writer:
    """Encodes a model as JSON-safe data, collecting its arrays and tensors on the side."""

    def __init__(self):
        self.arrays = {}
        self.tensors = {}

    def array(self, value):
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays[name] = value
        return name

    def tensor(self, value):
        key = str(len(self.tensors))
        # A copy of its own, on the CPU: views of one flat buffer (the
        # optimiser's) would otherwise each bring the whole buffer along.
        self.tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return key

    def encode(self, value, where):
        """``value`` as JSON-safe data; ``where`` names it in an error."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"kind": "float", "value": repr(value)}
        if isinstance(value, np.generic):
            if value.dtype == object:
                raise _UnsafeToSave(f"{where} is a NumPy object scalar")
            return {"kind": "numpy_scalar", "array": self.array(np.asarray(value))}
        if isinstance(value, np.ndarray):
            return self._encode_array(value, where)
        if isinstance(value, list):
            return [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return {"kind": "tuple", "items": [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]}
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise _UnsafeToSave(f"{where} is a dict with keys that are not strings")
            return {
                "kind": "dict",
                "items": {key: self.encode(item, f"{where}[{key!r}]") for key, item in value.items()},
            }
        if isinstance(value, torch.Tensor):
            return {"kind": "tensor", "key": self.tensor(value)}
        if isinstance(value, torch.device):
            return {"kind": "torch_device", "value": str(value)}
        if isinstance(value, np.random.RandomState):
            return {"kind": "random_state", "state": self.encode(value.get_state(), f"{where}.get_state()")}
        if isinstance(value, BaseEstimator):
            return self._encode_estimator(value, where)
        if callable(value):
            raise _UnsafeToSave(
                f"{where} is the callable {value!r}: code cannot be saved as data. Use a loss of skae.losses "
                "(or a subclass added to it) instead, or pickle the model and load it only from a trusted source"
            )
        raise _UnsafeToSave(f"{where} is of type {type(value).__name__}, which the safe format cannot hold")

    def _encode_array(self, value, where):
        if value.dtype == object:
            items = value.ravel().tolist()
            if not all(isinstance(item, str) for item in items):
                raise _UnsafeToSave(f"{where} is a NumPy array of Python objects other than strings")
            return {"kind": "string_array", "shape": list(value.shape), "items": items}
        return {"kind": "array", "array": self.array(value)}

    def _encode_estimator(self, estimator, where):
        cls = type(estimator)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if _allowed_classes().get(name) is not cls:
            if isinstance(estimator, losses.Loss):
                raise _UnsafeToSave(
                    f"{where} is the loss {estimator!r}, which is not one of skae.losses' classes (a callable "
                    "loss is code, and code cannot be saved as data). Use a loss of skae.losses, or pickle the "
                    "model and load it only from a trusted source"
                )
            raise _UnsafeToSave(f"{where} is a {name}, which is not among the classes the safe format can hold")
        params = estimator.get_params(deep=False)
        return {
            "kind": "estimator",
            "class": name,
            "params": {key: self.encode(value, f"{where}.{key}") for key, value in params.items()},
            "state": {
                attribute: self.encode(value, f"{where}.{attribute}")
                for attribute, value in _get_state(estimator, params).items()
                if attribute not in NOT_SAVED
            },
        }


def _get_state(estimator, params):
    """What ``estimator`` holds beyond ``params``: its own hook where it has one, else what it pickles."""
    if hasattr(estimator, "_get_fitted_state"):  # skae's autoencoders: the engine as weights and data
        return estimator._get_fitted_state()
    # scikit-learn's classes and skae's meta-estimators hold only data and
    # other estimators; their pickled state is their attributes.
    return {name: value for name, value in estimator.__getstate__().items() if name not in params}


def save(estimator, path):
    """Save a skae model to ``path`` in a format whose loading runs no code.

    The file is a zip archive of JSON (classes, parameters, scalars, library
    versions), NumPy arrays (``allow_pickle=False``) and the torch tensors
    (loaded with ``weights_only=True``). It holds every skae estimator and
    detector, fitted or not, and a :class:`~sklearn.pipeline.Pipeline` of
    them with scikit-learn's scalers. The optimiser's state and the random
    generator's are saved too, so that ``partial_fit`` or a ``warm_start``
    fit continue where they stopped.

    Parameters
    ----------
    estimator : estimator
        A skae estimator, detector or imputer, or a ``Pipeline`` of them
        and scikit-learn scalers.
    path : str or path-like or file-like
        Where to write. An existing file is replaced.

    Raises
    ------
    TypeError
        If the model holds something that cannot be saved as data: a
        callable ``loss``, an estimator of another class, or an attribute
        of another type. Pickle such a model (and load it only from a
        trusted source).

    See Also
    --------
    load : Read a model saved by this function.
    joblib.dump : Pickle a model, whatever it holds; loading runs code.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skae
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> model = skae.AutoencoderTransformer(n_components=2, max_iter=5, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skae")
    >>> skae.save(model, path)
    >>> loaded = skae.load(path)
    >>> bool(np.array_equal(loaded.transform(X), model.transform(X)))
    True
    """
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"save expects a skae estimator or a Pipeline of them, got {type(estimator).__name__}.")
    writer = _Writer()
    try:
        tree = writer.encode(estimator, "the model")
    except _UnsafeToSave as error:
        raise TypeError(f"Cannot save {type(estimator).__name__} in the safe format: {error}.") from None
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "versions": _versions(), "model": tree}
    tensors = io.BytesIO()
    torch.save(writer.tensors, tensors)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, allow_nan=False))
        archive.writestr(TENSORS, tensors.getvalue())
        for name, array in writer.arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(name, buffer.getvalue())


# -- reading -----------------------------------------------------------------


class _Damaged(ValueError):
    """The file's content does not follow the format."""


class _Reader:
    def __init__(self, archive, tensors):
        self.archive = archive
        self.tensors = tensors
        self.allowed = _allowed_classes()

    def array(self, name):
        if not isinstance(name, str) or not name.startswith("arrays/"):
            raise _Damaged(f"bad array reference {name!r}")
        try:
            with self.archive.open(name) as file:
                return np.load(io.BytesIO(file.read()), allow_pickle=False)
        except KeyError:
            raise _Damaged(f"the array {name!r} is missing") from None

    def tensor(self, key):
        if key not in self.tensors:
            raise _Damaged(f"the tensor {key!r} is missing")
        return self.tensors[key]

    def decode(self, data):
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        if isinstance(data, list):
            return [self.decode(item) for item in data]
        if not isinstance(data, dict) or "kind" not in data:
            raise _Damaged(f"unexpected value {data!r}")
        kind = data["kind"]
        if kind == "float":
            if data["value"] not in ("inf", "-inf", "nan"):
                raise _Damaged(f"bad float {data['value']!r}")
            return float(data["value"])
        if kind == "numpy_scalar":
            return self.array(data["array"])[()]
        if kind == "array":
            return self.array(data["array"])
        if kind == "string_array":
            items = data["items"]
            if not all(isinstance(item, str) for item in items):
                raise _Damaged("a string array holds something other than strings")
            return np.array(items, dtype=object).reshape(data["shape"])
        if kind == "tuple":
            return tuple(self.decode(item) for item in data["items"])
        if kind == "dict":
            return {str(key): self.decode(item) for key, item in data["items"].items()}
        if kind == "tensor":
            return self.tensor(data["key"])
        if kind == "torch_device":
            return torch.device(data["value"])
        if kind == "random_state":
            random_state = np.random.RandomState()
            random_state.set_state(self.decode(data["state"]))
            return random_state
        if kind == "estimator":
            return self._decode_estimator(data)
        raise _Damaged(f"unknown kind of value {kind!r}")

    def _decode_estimator(self, data):
        name = data["class"]
        cls = self.allowed.get(name)
        if cls is None:
            raise _Damaged(f"the class {name!r} is not one the format may build")
        estimator = cls(**{key: self.decode(value) for key, value in data["params"].items()})
        state = {}
        for attribute, value in data["state"].items():
            if not attribute.isidentifier() or attribute.startswith("__"):
                # Fitted attributes are plain names; "__dict__" or "__class__"
                # would replace the object's own machinery.
                raise _Damaged(f"{attribute!r} is not an attribute name a fitted estimator has")
            state[attribute] = self.decode(value)
        if hasattr(estimator, "_set_fitted_state"):
            estimator._set_fitted_state(state)
        else:
            estimator.__setstate__(state)
        return estimator


def load(path):
    """Load a model saved by :func:`save`, without running code from the file.

    Only classes of an allow-list (skae's estimators and losses,
    scikit-learn's ``Pipeline`` and scalers) are built, from their
    parameters; fitted attributes are restored from JSON and NumPy arrays,
    and tensors are read with ``torch.load(weights_only=True)``. A model
    fitted on a GPU loads on a machine without one, on the CPU, with a
    ``UserWarning``.

    Parameters
    ----------
    path : str or path-like or file-like
        A file written by :func:`save`.

    Returns
    -------
    estimator : estimator
        The model, as it was saved: it predicts identically, and continues
        training where it stopped.

    Raises
    ------
    ValueError
        If the file is not a skae model file (a pickle, say), is damaged or
        tampered with, or was written by an incompatible version of skae.

    See Also
    --------
    save : Write a model in this format.
    joblib.load : Load a pickle; it runs code from the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skae
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> detector = skae.AutoencoderAnomalyDetector(random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "detector.skae")
    >>> skae.save(detector, path)
    >>> bool(np.array_equal(skae.load(path).decision_function(X), detector.decision_function(X)))
    True
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(
            f"{path!s} is not a skae model file (not a zip archive: {error}). skae.load reads only files "
            "written by skae.save; a pickle (joblib.dump) can run code when loaded: load it with joblib only "
            "if you trust its source."
        ) from None
    with archive:
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except KeyError:
            raise ValueError(f"{path!s} is a zip archive but not a skae model file (it has no {MANIFEST}).") from None
        except (ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path!s} is damaged: its {MANIFEST} cannot be read ({error}).") from None
        _check_compatible(manifest, path)
        try:
            tensors = torch.load(io.BytesIO(archive.read(TENSORS)), weights_only=True, map_location="cpu")
        except KeyError:
            raise ValueError(f"{path!s} is damaged: it has no {TENSORS}.") from None
        except Exception as error:  # the restricted unpickler refuses anything but tensors
            raise ValueError(
                f"{path!s} was tampered with or is damaged: its {TENSORS} holds more than tensors and was "
                f"refused unread ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})."
            ) from None
        if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
            raise ValueError(f"{path!s} is damaged: {TENSORS} is not a dictionary of tensors.")
        reader = _Reader(archive, tensors)
        try:
            return reader.decode(manifest["model"])
        except Exception as error:  # whatever a tampered file trips over, it is refused the same way
            raise ValueError(
                f"{path!s} is damaged or was tampered with, and was not loaded: {type(error).__name__}: {error}."
            ) from None


def _check_compatible(manifest, path):
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!s} is not a skae model file (its {MANIFEST} does not name the format).")
    versions = manifest.get("versions", {})
    saved_by = versions.get("skae", "unknown")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!s} was written by skae {saved_by} in format version {manifest.get('format_version')!r}; "
            f"this skae ({_skae_version()}) reads format version {FORMAT_VERSION} only. Load it with "
            f"skae {saved_by}, or refit the model."
        )
    here = _versions()
    try:
        same_release = _release(saved_by) == _release(here["skae"])
    except ValueError:
        same_release = False
    if not same_release:
        raise ValueError(
            f"{path!s} was saved by skae {saved_by}, and this is skae {here['skae']}: a model's fitted state "
            f"is read only by the release (major.minor) that wrote it. Load it with skae {saved_by}, or refit."
        )
    for library in ("scikit-learn", "torch"):
        saved = versions.get(library, "unknown")
        try:
            differs = _release(saved) != _release(here[library])
        except ValueError:
            differs = True
        if differs:
            warnings.warn(
                f"{path!s} was saved with {library} {saved} and is loaded with {library} {here[library]}; "
                "the model may behave differently. Refit it to be sure.",
                UserWarning,
                stacklevel=3,
            )
